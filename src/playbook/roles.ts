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
import { entries, type Node, readYaml, toJS } from "../core/yaml.ts";
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
  const deps = Array.isArray(meta.dependencies)
    ? meta.dependencies.map((
      d,
    ) => (typeof d === "string"
      ? d
      : String((d as Record<string, unknown>).role ?? (d as Record<string, unknown>).name))
    )
    : [];
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
    handlers: handlersFile ? (loadTasks(handlersFile, pos, name) as Task[]) : [],
    dependencies: deps,
  };
}
