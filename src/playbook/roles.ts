/**
 * @module
 * Finds and loads roles: TypeScript roles (`roles/NAME/mod.ts`, exporting
 * `role`) and Ansible's YAML layout (`tasks/main.yml`, `handlers/main.yml`,
 * `defaults/main.yml`, `vars/main.yml`, `meta/main.yml`).
 */
import { basename, join, toFileUrl } from "../core/path.ts";
import { existsSync } from "node:fs";
import { z } from "zod";
import { DroverError, type SourcePos } from "../core/errors.ts";
import type { Item, Task } from "../core/types.ts";
import {
  describe,
  entries,
  isMap,
  isScalar,
  items,
  type Node,
  posOf,
  readYaml,
  toJS,
} from "../core/yaml.ts";
import type { RoleDefinition } from "../role.ts";
import { checkVarName } from "./load.ts";

/** A role ready for the engine. */
export interface LoadedRole {
  readonly name: string;
  readonly dir: string;
  readonly kind: "ts" | "yaml";
  readonly description: string;
  /** Variables schema (TypeScript roles). Its defaults are the role defaults. */
  readonly schema?: z.ZodObject;
  /** Role defaults (lowest precedence). */
  readonly defaults: Readonly<Record<string, unknown>>;
  /** Role vars (`vars/main.yml`, high precedence). */
  readonly vars: Readonly<Record<string, unknown>>;
  readonly tasks: readonly Item[];
  readonly handlers: readonly Task[];
  readonly dependencies: readonly string[];
  /** Parameters meta/main.yml gives a dependency (`- role: common` + `x: 1` or `vars:`). */
  readonly dependencyParams?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

type TaskFileLoader = (file: string, from: SourcePos | undefined, role?: string) => Item[];

/** Locate role `name` in `dirs` and load it. */
export async function loadRole(
  name: string,
  dirs: readonly string[],
  pos: SourcePos,
  loadTasks: TaskFileLoader,
): Promise<LoadedRole> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new DroverError(`invalid role name '${name}'`, {
      pos,
      expected: "a role directory name",
    });
  }
  for (const d of dirs) {
    const dir = join(d, name);
    if (existsSync(join(dir, "mod.ts"))) return await loadTsRole(name, dir, pos);
    if (existsSync(join(dir, "tasks"))) return loadYamlRole(name, dir, pos, loadTasks);
  }
  throw new DroverError(`role '${name}' not found`, {
    pos,
    expected: `roles/${name}/mod.ts or roles/${name}/tasks/main.yml`,
    hint: `searched ${dirs.join(", ")}`,
  });
}

async function loadTsRole(name: string, dir: string, pos: SourcePos): Promise<LoadedRole> {
  let mod: { role?: RoleDefinition };
  try {
    mod = await import(toFileUrl(join(dir, "mod.ts")).href);
  } catch (e) {
    // A mistake found by task()/validateArgs already points into the role's mod.ts.
    if (e instanceof DroverError) throw e.at(pos);
    throw new DroverError(`role '${name}' failed to load: ${(e as Error).message.split("\n")[0]}`, {
      pos,
    });
  }
  const def = mod.role;
  if (!def) {
    throw new DroverError(`role '${name}' (${dir}/mod.ts) does not export 'role'`, {
      pos,
      hint: "export const role = defineRole({...})",
    });
  }
  const defaults = defaultsOf(def.vars);
  return {
    name,
    dir,
    kind: "ts",
    description: def.description,
    schema: def.vars,
    defaults,
    vars: {},
    tasks: def.tasks.map((t) => withRole(t, name)),
    handlers: (def.handlers ?? []).map((t) => withRole(t, name) as Task),
    dependencies: def.dependencies ?? [],
  };
}

function withRole(item: Item, role: string): Item {
  if (item.kind === "block") {
    return {
      ...item,
      role,
      block: item.block.map((i) => withRole(i, role)),
      rescue: item.rescue.map((i) => withRole(i, role)),
      always: item.always.map((i) => withRole(i, role)),
    };
  }
  return { ...item, role };
}

/** The defaults a zod object schema declares. */
export function defaultsOf(schema: z.ZodObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(schema.shape)) {
    const r = (s as z.ZodType).safeParse(undefined);
    if (r.success && r.data !== undefined) out[k] = r.data;
  }
  return out;
}

/** Handlers are tasks with a name (or `listen`), as in a play's `handlers:`. */
function handlerTasks(items: readonly Item[]): Task[] {
  return items.map((h) => {
    if (h.kind !== "task") {
      throw new DroverError("handlers must be tasks, not blocks or includes", { pos: h.pos });
    }
    if (!h.name && h.listen.length === 0) {
      throw new DroverError("a handler needs a 'name' (or 'listen') so tasks can notify it", {
        pos: h.pos,
        hint: "add name: restart alloy",
      });
    }
    return h;
  });
}

/** Role names under `dependencies:` in meta/main.yml: `- common` or `- role: common`. */
function dependenciesOf(f: string | undefined, role: string, pos: SourcePos): string[] {
  if (!f) return [];
  const y = readYaml(f, pos);
  const root = y.doc.contents as Node | null;
  if (root === null) return [];
  const e = entries(y, root, `meta/${basename(f)} of role '${role}'`)
    .find((x) => x.key === "dependencies");
  if (!e || e.node === null) return [];
  const nameOf = (n: Node | null, at: SourcePos): string => {
    if (isScalar(n) && typeof n.value === "string") return n.value;
    throw new DroverError(
      `a dependency of role '${role}' must be a role name, got ${describe(y, n)}`,
      {
        pos: n ? posOf(y, n) : at,
        expected: "- common or - role: common",
      },
    );
  };
  return items(y, e.node, `dependencies of role '${role}'`, e.pos).map((n) => {
    if (!isMap(n)) return nameOf(n, e.pos);
    const r = entries(y, n, "a dependency").find((x) => x.key === "role" || x.key === "name");
    if (!r) {
      throw new DroverError(`a dependency of role '${role}' needs 'role: NAME'`, {
        pos: posOf(y, n),
        expected: "- role: common",
      });
    }
    return nameOf(r.node, r.pos);
  });
}

function loadYamlRole(
  name: string,
  dir: string,
  pos: SourcePos,
  loadTasks: TaskFileLoader,
): LoadedRole {
  const file = (sub: string) =>
    ["main.yml", "main.yaml"].map((f) => join(dir, sub, f)).find(existsSync);
  const map = (sub: string): Record<string, unknown> => {
    const f = file(sub);
    if (!f) return {};
    const y = readYaml(f, pos);
    const root = y.doc.contents as Node | null;
    if (root === null) return {};
    for (const e of entries(y, root, `${sub}/${basename(f)} of role '${name}'`)) {
      if (sub !== "meta") checkVarName(e.key, e.keyPos);
    }
    return toJS(y, root) as Record<string, unknown>;
  };
  const tasksFile = file("tasks");
  const handlersFile = file("handlers");
  const meta = map("meta");
  const deps = dependenciesOf(file("meta"), name, pos);
  return {
    name,
    dir,
    kind: "yaml",
    description: String(
      (meta.galaxy_info as Record<string, unknown> | undefined)?.description ?? "",
    ),
    defaults: map("defaults"),
    vars: map("vars"),
    tasks: tasksFile ? loadTasks(tasksFile, pos, name) : [],
    handlers: handlersFile ? handlerTasks(loadTasks(handlersFile, pos, name)) : [],
    dependencies: deps,
    dependencyParams: dependencyParamsOf(meta.dependencies),
  };
}

/** The parameters of each dependency written as a mapping. Pure. */
function dependencyParamsOf(deps: unknown): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const d of Array.isArray(deps) ? deps : []) {
    if (!d || typeof d !== "object") continue;
    const { role, name, vars, when: _w, tags: _t, ...params } = d as Record<string, unknown>;
    const key = String(role ?? name);
    out[key] = { ...params, ...(vars && typeof vars === "object" ? vars : {}) };
  }
  return out;
}
