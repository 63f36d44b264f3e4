/**
 * @module
 * Loads a playbook (YAML) and its roles (TypeScript `roles/NAME/mod.ts`, or
 * Ansible's YAML layout) into {@linkcode Playbook} values, validating every
 * key, module and argument before anything runs.
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { existsSync } from "node:fs";
import { didYouMean, DroverError, type SourcePos } from "../core/errors.ts";
import {
  entries,
  isMap,
  isScalar,
  isSeq,
  items,
  type Node,
  posOf,
  readYaml,
  toJS,
  type YamlFile,
} from "../core/yaml.ts";
import type { Block, Include, Item, Play, Playbook, RoleUse, Task } from "../core/types.ts";
import { BLOCK_KEYS, FQCN_PREFIXES, PLAY_KEYS, ROLE_KEYS, TASK_KEYS } from "./keywords.ts";
import { findModule, moduleNames } from "../modules/registry.ts";
import { validateArgs } from "./validate.ts";
import { isTemplate } from "../template/text.ts";
import { type LoadedRole, loadRole } from "./roles.ts";
import { Inventory, matchPattern } from "../inventory/mod.ts";
import type { z } from "zod";

/** Options of {@linkcode loadPlaybook}. */
export interface LoadOptions {
  /** Extra directories searched for roles. */
  readonly rolesPath?: readonly string[];
}

/** A loaded playbook with the roles it uses. */
export interface LoadedPlaybook extends Playbook {
  readonly roles: ReadonlyMap<string, LoadedRole>;
}

/** Load and validate a playbook file. Throws {@linkcode DroverError}. */
export async function loadPlaybook(
  file: string,
  options: LoadOptions = {},
): Promise<LoadedPlaybook> {
  const roles = new Map<string, LoadedRole>();
  const plays: Play[] = [];
  await loadInto(file, plays, roles, options, undefined, new Set());
  return { file, plays, roles };
}

async function loadInto(
  file: string,
  plays: Play[],
  roles: Map<string, LoadedRole>,
  options: LoadOptions,
  from: SourcePos | undefined,
  seen: Set<string>,
): Promise<void> {
  const abs = resolve(file);
  if (seen.has(abs)) throw new DroverError(`${file} imports itself`, { pos: from });
  seen.add(abs);
  const y = readYaml(file, from);
  const root = y.doc.contents as Node | null;
  if (root === null) {
    throw new DroverError("the playbook is empty", {
      pos: { file, line: 1, col: 1 },
      expected: "a list of plays",
    });
  }
  const baseDir = dirname(abs);
  for (const node of items(y, root, "a playbook")) {
    if (
      isMap(node) && node.items.some((p) => isScalar(p.key) && p.key.value === "import_playbook")
    ) {
      const e = entries(y, node, "import_playbook").find((x) => x.key === "import_playbook")!;
      const target = str(y, e.node, "import_playbook", e.pos);
      await loadInto(
        isAbsolute(target) ? target : join(baseDir, target),
        plays,
        roles,
        options,
        e.pos,
        seen,
      );
      continue;
    }
    const play = parsePlay(y, node, baseDir);
    for (const r of play.roles) {
      await loadRoleTree(r.name, searchDirs(baseDir, options), r.pos, roles, []);
      checkRoleParams(roles.get(r.name)!, r);
    }
    checkNotify(play, roles);
    plays.push(play);
  }
  // Only a cycle is an error: two plays may import the same file.
  seen.delete(abs);
}

/** Load a role and, recursively, the roles its meta dependencies name. */
async function loadRoleTree(
  name: string,
  dirs: readonly string[],
  pos: SourcePos,
  roles: Map<string, LoadedRole>,
  chain: readonly string[],
): Promise<void> {
  if (chain.includes(name)) {
    throw new DroverError(`role '${name}' depends on itself: ${[...chain, name].join(" → ")}`, {
      pos,
      hint: "remove one of these meta dependencies",
    });
  }
  if (roles.has(name)) return;
  let role: LoadedRole;
  try {
    role = await loadRole(name, dirs, pos, loadTaskFile);
  } catch (e) {
    if (!(e instanceof DroverError) || chain.length === 0) throw e;
    throw new DroverError(`${e.message} (a dependency of role '${chain.at(-1)}')`, {
      pos: e.pos,
      expected: e.expected,
      hint: e.hint,
      exitCode: e.exitCode,
    });
  }
  roles.set(name, role);
  for (const dep of role.dependencies) await loadRoleTree(dep, dirs, pos, roles, [...chain, name]);
}

/** Where each task's `notify:` was written. */
const notifyPositions = new WeakMap<Task, SourcePos>();

/** Every handler a task notifies must exist in its play (Ansible stops on this too). */
function checkNotify(play: Play, roles: ReadonlyMap<string, LoadedRole>): void {
  const used = new Set<string>();
  const addTree = (name: string) => {
    if (used.has(name)) return;
    used.add(name);
    roles.get(name)?.dependencies.forEach(addTree);
  };
  play.roles.forEach((r) => addTree(r.name));
  const playRoles = [...used].map((n) => roles.get(n)).filter((r) => r !== undefined);
  const handlers = [...play.handlers, ...playRoles.flatMap((r) => r.handlers)];
  const names = new Set<string>();
  for (const h of handlers) {
    for (const n of [h.name ?? "", ...h.listen]) {
      if (isTemplate(n)) return; // cannot know the names before running
      names.add(n);
      if (h.role) names.add(`${h.role} : ${n}`);
    }
  }
  const walk = (list: readonly Item[]) => {
    for (const item of list) {
      if (item.kind === "block") {
        walk(item.block);
        walk(item.rescue);
        walk(item.always);
      }
      if (item.kind !== "task") continue;
      for (const n of item.notify) {
        if (isTemplate(n) || names.has(n)) continue;
        const guess = didYouMean(n, [...names]);
        throw new DroverError(`no handler named '${n}' in this play`, {
          pos: notifyPositions.get(item) ?? item.pos,
          expected: names.size
            ? `one of: ${[...names].map((x) => `'${x}'`).join(", ")}`
            : "a handler under 'handlers:' with this name (or 'listen:')",
          hint: guess ? `did you mean '${guess}'?` : "check the handler's name and its 'listen:'",
        });
      }
    }
  };
  walk(play.preTasks);
  walk(play.tasks);
  walk(play.postTasks);
  walk(play.handlers);
  playRoles.forEach((r) => walk(r.tasks));
}

function searchDirs(baseDir: string, options: LoadOptions): string[] {
  const env = Deno.env.get("DROVER_ROLES_PATH")?.split(":").filter(Boolean) ?? [];
  return [
    join(baseDir, "roles"),
    join(baseDir, "..", "roles"),
    join(Deno.cwd(), "roles"),
    ...(options.rolesPath ?? []),
    ...env,
  ];
}

function unknownKey(
  key: string,
  known: readonly string[],
  where: string,
  pos: SourcePos,
  extra?: string,
): DroverError {
  const guess = didYouMean(key, known);
  return new DroverError(`unknown key '${key}' in ${where}`, {
    pos,
    expected: extra ?? `one of: ${known.slice(0, 12).join(", ")}…`,
    hint: guess ? `did you mean '${guess}'?` : `see the list of ${where} keywords in the README`,
  });
}

function str(y: YamlFile, node: Node | null, what: string, at: SourcePos): string {
  const v = toJS(y, node);
  if (typeof v === "string" || typeof v === "number") return String(v);
  throw new DroverError(
    `${what} must be a string, got ${
      v === null
        ? "nothing"
        : Array.isArray(v)
        ? "a list"
        : typeof v === "object"
        ? "a mapping"
        : typeof v
    }`,
    {
      pos: node ? posOf(y, node) : at,
      expected: `${what} as text`,
    },
  );
}

function boolish(y: YamlFile, node: Node | null, what: string, at: SourcePos): boolean | undefined {
  const v = toJS(y, node);
  if (typeof v === "boolean") return v;
  if (typeof v === "string" && isTemplate(v)) return undefined;
  throw new DroverError(`${what} must be true or false, got ${JSON.stringify(v)}`, {
    pos: node ? posOf(y, node) : at,
    expected: "true/false (or yes/no)",
  });
}

function tagsOf(y: YamlFile, node: Node | null, at: SourcePos): string[] {
  const v = toJS(y, node);
  if (v === null) return [];
  if (typeof v === "string") return v.split(",").map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(v) && v.every((t) => typeof t === "string" || typeof t === "number")) {
    return v.map(String);
  }
  throw new DroverError("tags must be a string or a list of strings", {
    pos: node ? posOf(y, node) : at,
    expected: "tags: [install, config]",
  });
}

function varsMap(
  y: YamlFile,
  node: Node | null,
  what: string,
  at: SourcePos,
): Record<string, unknown> {
  if (node === null) return {};
  for (const e of entries(y, node, what, at)) checkVarName(e.key, e.keyPos);
  return toJS(y, node) as Record<string, unknown>;
}

/**
 * `environment:` is a mapping of variable names to values, or a template that
 * renders to one. The names become `export NAME=...` lines, so a name that is
 * not an identifier is refused here, before anything runs.
 */
function environmentOf(
  y: YamlFile,
  e: { node: Node | null; pos: SourcePos; keyPos: SourcePos } | undefined,
): unknown {
  if (!e || e.node === null) return undefined;
  const v = toJS(y, e.node);
  if (typeof v === "string" && isTemplate(v)) return v;
  for (const x of entries(y, e.node, "environment", e.keyPos)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(x.key)) {
      throw new DroverError(`invalid environment variable name '${x.key}'`, {
        pos: x.keyPos,
        expected: "letters, digits and '_', not starting with a digit",
      });
    }
    const value = toJS(y, x.node);
    if (value !== null && typeof value === "object") {
      throw new DroverError(
        `environment variable '${x.key}' must be text, got a ${
          Array.isArray(value) ? "list" : "mapping"
        }`,
        { pos: x.pos, expected: `${x.key}: some text` },
      );
    }
  }
  return v;
}

/** Variable names must be identifiers, as in Ansible. */
export function checkVarName(name: string, pos?: SourcePos): void {
  // `__proto__` would set an object's prototype when variables are merged.
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || name === "__proto__") {
    throw new DroverError(`invalid variable name '${name}'`, {
      pos,
      expected: "letters, digits and '_', not starting with a digit",
      hint: "rename it, e.g. with underscores instead of dashes",
    });
  }
}

function parsePlay(y: YamlFile, node: Node, baseDir: string): Play {
  const pos = posOf(y, node);
  const es = entries(y, node, "a play", pos);
  const get = (k: string) => es.find((e) => e.key === k);
  for (const e of es) {
    if (!(PLAY_KEYS as readonly string[]).includes(e.key)) {
      if (findModule(stripFqcn(e.key)) || (TASK_KEYS as readonly string[]).includes(e.key)) {
        throw new DroverError(`'${e.key}' is not a play keyword; it looks like a task`, {
          pos: e.keyPos,
          expected: "a play with hosts: and tasks:",
          hint: "put tasks under 'tasks:' (indented) in a play that has 'hosts:'",
        });
      }
      throw unknownKey(e.key, PLAY_KEYS, "a play", e.keyPos);
    }
  }
  const hosts = get("hosts");
  if (!hosts) {
    throw new DroverError("a play needs 'hosts:'", {
      pos,
      expected: "hosts: all (or a group or host pattern)",
    });
  }
  const hostsV = toJS(y, hosts.node);
  const hostPattern = Array.isArray(hostsV)
    ? items(y, hosts.node, "hosts").map((n) => str(y, n, "a host pattern", posOf(y, n))).join(":")
    : str(y, hosts.node, "hosts", hosts.pos);
  // The pattern's syntax is checked now, so a bad one in a later play stops the run before it starts.
  if (!isTemplate(hostPattern)) matchPattern(new Inventory(y.file), hostPattern, hosts.pos);
  const b = (k: string) => (get(k) ? boolish(y, get(k)!.node, k, get(k)!.keyPos) : undefined);
  const list = (
    k: string,
  ): Item[] => (get(k) && get(k)!.node !== null
    ? parseItems(y, get(k)!.node!, baseDir, `'${k}'`)
    : []);
  const roles: RoleUse[] = get("roles") && get("roles")!.node !== null
    ? items(y, get("roles")!.node, "roles").map((n) => parseRoleUse(y, n))
    : [];
  const handlers = list("handlers").map((h) => {
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
  const varsFiles = get("vars_files") && get("vars_files")!.node !== null
    ? items(y, get("vars_files")!.node, "vars_files").map((n) => ({
      path: str(y, n, "a vars_files entry", posOf(y, n)),
      pos: posOf(y, n),
    }))
    : [];
  // Files named without a template are read now: a missing or broken one stops the run before it starts.
  for (const vf of varsFiles) {
    if (isTemplate(vf.path)) continue;
    const vy = readYaml(isAbsolute(vf.path) ? vf.path : join(baseDir, vf.path), vf.pos);
    const root = vy.doc.contents as Node | null;
    if (root !== null) varsMap(vy, root, `variables in ${vf.path}`, vf.pos);
  }
  const serial = get("serial") ? toJS(y, get("serial")!.node) : undefined;
  if (
    serial !== undefined &&
    !(typeof serial === "number" || (typeof serial === "string" && /^\d+%?$/.test(serial)))
  ) {
    throw new DroverError("serial must be a number or a percentage", {
      pos: get("serial")!.pos,
      expected: "serial: 2 or serial: '50%'",
    });
  }
  const strategy = get("strategy");
  if (strategy && toJS(y, strategy.node) !== "linear") {
    throw new DroverError(`strategy '${toJS(y, strategy.node)}' is not supported`, {
      pos: strategy.pos,
      expected: "strategy: linear (the default)",
    });
  }
  return {
    name: get("name") ? str(y, get("name")!.node, "name", get("name")!.pos) : hostPattern,
    hosts: hostPattern,
    become: b("become"),
    becomeUser: get("become_user")
      ? str(y, get("become_user")!.node, "become_user", get("become_user")!.pos)
      : undefined,
    vars: get("vars") ? varsMap(y, get("vars")!.node, "play vars", get("vars")!.pos) : {},
    varsFiles,
    gatherFacts: b("gather_facts") ?? true,
    roles,
    preTasks: list("pre_tasks"),
    tasks: list("tasks"),
    postTasks: list("post_tasks"),
    handlers: handlers as Task[],
    serial: serial as number | string | undefined,
    anyErrorsFatal: b("any_errors_fatal") ?? false,
    tags: get("tags") ? tagsOf(y, get("tags")!.node, get("tags")!.pos) : [],
    checkMode: b("check_mode"),
    noLog: b("no_log"),
    environment: environmentOf(y, get("environment")),
    pos,
    baseDir,
  };
}

/** Where each parameter of a role entry was written, for errors found once the role is loaded. */
const paramPositions = new WeakMap<RoleUse, Record<string, SourcePos>>();

/** Parameters given to a TypeScript role must be its variables, of the declared type. */
function checkRoleParams(role: LoadedRole, use: RoleUse): void {
  if (!role.schema) return;
  const shape = role.schema.shape as Record<string, z.ZodType>;
  const known = Object.keys(shape);
  for (const [k, v] of Object.entries(use.params)) {
    const pos = paramPositions.get(use)?.[k] ?? use.pos;
    if (!Object.hasOwn(shape, k)) {
      const guess = didYouMean(k, known);
      throw new DroverError(`role '${role.name}' has no variable '${k}'`, {
        pos,
        expected: `one of: ${known.join(", ")}`,
        hint: guess ? `did you mean '${guess}'?` : `see 'vars' in ${role.dir}`,
      });
    }
    if (containsTemplate(v)) continue;
    const r = shape[k].safeParse(v);
    if (!r.success) {
      const issue = r.error.issues[0];
      const desc = shape[k].description;
      throw new DroverError(
        `role '${role.name}' variable '${k}'${
          issue.path.length ? `.${issue.path.join(".")}` : ""
        } is invalid: ${issue.message.replace(/^Invalid input: /, "")}`,
        { pos, hint: `got ${JSON.stringify(v)?.slice(0, 60)}${desc ? ` (${k}: ${desc})` : ""}` },
      );
    }
  }
}

function containsTemplate(v: unknown): boolean {
  if (typeof v === "string") return isTemplate(v);
  if (Array.isArray(v)) return v.some(containsTemplate);
  if (v && typeof v === "object") return Object.values(v).some(containsTemplate);
  return false;
}

function parseRoleUse(y: YamlFile, node: Node): RoleUse {
  const pos = posOf(y, node);
  if (isScalar(node) || node === null) {
    return { name: str(y, node, "a role entry", pos), params: {}, tags: [], pos };
  }
  const es = entries(y, node, "a role entry", pos);
  const nameE = es.find((e) => e.key === "role" || e.key === "name");
  if (!nameE) {
    throw new DroverError("a role entry needs 'role: NAME'", {
      pos,
      expected: "- role: configure",
    });
  }
  const params: Record<string, unknown> = {};
  const paramPos: Record<string, SourcePos> = {};
  let tags: string[] = [];
  let when: unknown;
  for (const e of es) {
    if (e.key === "role" || e.key === "name") continue;
    if (e.key === "tags") tags = tagsOf(y, e.node, e.pos);
    else if (e.key === "when") when = toJS(y, e.node);
    else if (e.key === "vars") {
      Object.assign(params, varsMap(y, e.node, "role vars", e.pos));
      if (isMap(e.node)) {
        for (const v of entries(y, e.node, "role vars")) paramPos[v.key] = v.keyPos;
      }
    } else if ((ROLE_KEYS as readonly string[]).includes(e.key)) continue;
    else {
      checkVarName(e.key, e.keyPos);
      params[e.key] = toJS(y, e.node);
      paramPos[e.key] = e.keyPos;
    }
  }
  const use: RoleUse = { name: str(y, nameE.node, "role", nameE.pos), params, tags, when, pos };
  paramPositions.set(use, paramPos);
  return use;
}

/** Parse a list of tasks/blocks. Exported for task files and roles. */
export function parseItems(
  y: YamlFile,
  node: Node,
  baseDir: string,
  what: string,
  role?: string,
): Item[] {
  return items(y, node, what).map((n) => parseItem(y, n, baseDir, role));
}

/** Load a task file (for `import_tasks` and YAML roles). */
export function loadTaskFile(file: string, from: SourcePos | undefined, role?: string): Item[] {
  const y = readYaml(file, from);
  const root = y.doc.contents as Node | null;
  if (root === null) return [];
  return parseItems(y, root, dirname(resolve(file)), "a task file", role);
}

function parseItem(y: YamlFile, node: Node, baseDir: string, role?: string): Item {
  const pos = posOf(y, node);
  const es = entries(y, node, "a task", pos);
  const keys = es.map((e) => e.key);
  const get = (k: string) => es.find((e) => e.key === k);
  const common = commonKeywords(y, es, pos, role);
  if (keys.includes("block")) {
    for (const e of es) {
      if (!(BLOCK_KEYS as readonly string[]).includes(e.key)) {
        throw unknownKey(e.key, BLOCK_KEYS, "a block", e.keyPos);
      }
    }
    const sub = (
      k: string,
    ) => (get(k) && get(k)!.node !== null
      ? parseItems(y, get(k)!.node!, baseDir, `'${k}'`, role)
      : []);
    const block: Block = {
      ...common,
      kind: "block",
      block: sub("block"),
      rescue: sub("rescue"),
      always: sub("always"),
    };
    return block;
  }
  for (const k of ["rescue", "always"]) {
    if (keys.includes(k)) {
      throw new DroverError(`'${k}' is only allowed next to 'block'`, {
        pos: get(k)!.keyPos,
        hint: "add a 'block:' with the tasks that may fail",
      });
    }
  }
  const include = es.find((e) =>
    [
      "include_tasks",
      "import_tasks",
      "ansible.builtin.include_tasks",
      "ansible.builtin.import_tasks",
    ].includes(e.key)
  );
  if (include) {
    const fileE = isMap(include.node)
      ? entries(y, include.node, include.key, include.pos).find((e) => e.key === "file")
      : include;
    if (!fileE) {
      throw new DroverError(`${include.key} needs a file`, {
        pos: include.pos,
        expected: `${include.key}: tasks/other.yml (or file: tasks/other.yml)`,
      });
    }
    const file = str(y, fileE.node, include.key, fileE.pos);
    const loop = get("loop") ?? get("with_items");
    if (include.key.endsWith("import_tasks")) {
      if (isTemplate(file)) {
        throw new DroverError("import_tasks needs a static file name", {
          pos: include.pos,
          hint: "use include_tasks for a templated file name",
        });
      }
      const path = isAbsolute(file) ? file : join(baseDir, file);
      const block: Block = {
        ...common,
        kind: "block",
        block: loadTaskFile(path, include.pos, role),
        rescue: [],
        always: [],
      };
      return block;
    }
    const inc: Include = {
      ...common,
      kind: "include",
      file,
      baseDir,
      loop: loop ? toJS(y, loop.node) : undefined,
      loopVar: loopVarOf(y, get("loop_control")),
    };
    return inc;
  }
  const moduleKeys = es.filter((e) => !(TASK_KEYS as readonly string[]).includes(e.key));
  if (moduleKeys.length === 0) {
    throw new DroverError(
      `this task has no module (${
        get("name") ? `task '${toJS(y, get("name")!.node)}'` : "no name"
      })`,
      {
        pos,
        expected: "one module, e.g. 'command: echo hi' or 'copy: {dest: /tmp/x, content: hi}'",
      },
    );
  }
  for (const mk of moduleKeys) {
    if (!findModule(stripFqcn(mk.key))) {
      const kwGuess = didYouMean(mk.key, TASK_KEYS);
      const modGuess = didYouMean(stripFqcn(mk.key), moduleNames());
      if (moduleKeys.length > 1 || kwGuess) {
        if (kwGuess || !modGuess) {
          throw unknownKey(
            mk.key,
            TASK_KEYS,
            "a task",
            mk.keyPos,
            "a task keyword or a module name",
          );
        }
      }
      throw new DroverError(`unknown module '${mk.key}'`, {
        pos: mk.keyPos,
        expected: `one of drover's modules (${moduleNames().slice(0, 8).join(", ")}, …)`,
        hint: modGuess
          ? `did you mean '${modGuess}'?`
          : "run 'deno task run --list-modules' for the list",
      });
    }
  }
  if (moduleKeys.length > 1) {
    throw new DroverError(
      `a task can call only one module, found ${moduleKeys.map((m) => `'${m.key}'`).join(" and ")}`,
      {
        pos: moduleKeys[1].keyPos,
        hint: "split it into two tasks",
      },
    );
  }
  const mk = moduleKeys[0];
  const mod = findModule(stripFqcn(mk.key))!;
  const { args, argPos } = moduleArgs(y, mk, get("args"), mod.freeForm);
  validateArgs(mod, args, { pos: mk.keyPos, argPos });
  const loopE = get("loop") ?? get("with_items") ?? get("with_list");
  const lc = get("loop_control");
  let loopLabel: string | undefined;
  if (lc && lc.node !== null) {
    for (const e of entries(y, lc.node, "loop_control", lc.pos)) {
      if (!["label", "loop_var", "index_var", "pause"].includes(e.key)) {
        throw unknownKey(
          e.key,
          ["label", "loop_var", "index_var", "pause"],
          "loop_control",
          e.keyPos,
        );
      }
      if (e.key === "label") loopLabel = String(toJS(y, e.node));
    }
  }
  const register = get("register")
    ? str(y, get("register")!.node, "register", get("register")!.pos)
    : undefined;
  if (register) checkVarName(register, get("register")!.pos);
  const listOf = (k: string): string[] => {
    const e = get(k);
    if (!e) return [];
    const v = toJS(y, e.node);
    if (typeof v === "string") return [v];
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
    throw new DroverError(`${k} must be a handler name or a list of them`, {
      pos: e.pos,
      expected: `${k}: restart alloy`,
    });
  };
  const num = (k: string): number | undefined => {
    const e = get(k);
    if (!e) return undefined;
    const v = toJS(y, e.node);
    if (typeof v === "number") return v;
    throw new DroverError(`${k} must be a number`, { pos: e.pos });
  };
  const task: Task = {
    ...common,
    kind: "task",
    module: mod.name,
    args,
    argPos,
    loop: loopE ? toJS(y, loopE.node) : undefined,
    loopVar: loopVarOf(y, lc),
    loopLabel,
    loopIndexVar: loopVarOf(y, lc, "index_var"),
    register,
    notify: listOf("notify"),
    listen: listOf("listen"),
    changedWhen: get("changed_when") ? toJS(y, get("changed_when")!.node) : undefined,
    failedWhen: get("failed_when") ? toJS(y, get("failed_when")!.node) : undefined,
    delegateTo: get("delegate_to")
      ? str(y, get("delegate_to")!.node, "delegate_to", get("delegate_to")!.pos)
      : undefined,
    runOnce: get("run_once")
      ? boolish(y, get("run_once")!.node, "run_once", get("run_once")!.pos)
      : undefined,
    retries: num("retries"),
    delay: num("delay"),
    until: get("until") ? toJS(y, get("until")!.node) : undefined,
  };
  if (get("notify")) notifyPositions.set(task, get("notify")!.pos);
  return task;
}

function loopVarOf(
  y: YamlFile,
  lc: { node: Node | null } | undefined,
  key = "loop_var",
): string | undefined {
  if (!lc || lc.node === null || !isMap(lc.node)) return undefined;
  const v = (toJS(y, lc.node) as Record<string, unknown>)[key];
  return typeof v === "string" ? v : undefined;
}

function commonKeywords(
  y: YamlFile,
  es: ReturnType<typeof entries>,
  pos: SourcePos,
  role?: string,
) {
  const get = (k: string) => es.find((e) => e.key === k);
  const b = (k: string) => (get(k) ? boolish(y, get(k)!.node, k, get(k)!.keyPos) : undefined);
  const name = get("name") ? str(y, get("name")!.node, "name", get("name")!.pos) : undefined;
  return {
    name,
    when: get("when") ? toJS(y, get("when")!.node) : undefined,
    tags: get("tags") ? tagsOf(y, get("tags")!.node, get("tags")!.pos) : [],
    become: b("become"),
    becomeUser: get("become_user")
      ? str(y, get("become_user")!.node, "become_user", get("become_user")!.pos)
      : undefined,
    vars: get("vars") ? varsMap(y, get("vars")!.node, "task vars", get("vars")!.pos) : undefined,
    environment: environmentOf(y, get("environment")),
    ignoreErrors: b("ignore_errors"),
    checkMode: b("check_mode"),
    noLog: b("no_log"),
    anyErrorsFatal: b("any_errors_fatal"),
    pos,
    role,
  };
}

/** Strip Ansible collection prefixes (`ansible.builtin.copy` → `copy`). */
export function stripFqcn(name: string): string {
  for (const p of FQCN_PREFIXES) if (name.startsWith(p)) return name.slice(p.length);
  return name;
}

function moduleArgs(
  y: YamlFile,
  mk: { key: string; node: Node | null; pos: SourcePos },
  argsE: { node: Node | null; pos: SourcePos } | undefined,
  freeForm: string | undefined,
): { args: Record<string, unknown>; argPos: Record<string, SourcePos> } {
  const args: Record<string, unknown> = {};
  const argPos: Record<string, SourcePos> = {};
  const node = mk.node;
  if (node !== null && isScalar(node)) {
    const text = String(node.value ?? "");
    if (freeForm) {
      // `command: ls -l creates=/x` style: trailing k=v of known options are Ansible-compatible.
      const { rest, kv } = splitKv(text, ["creates", "removes", "chdir", "executable"]);
      args[freeForm] = rest;
      Object.assign(args, kv);
    } else {
      Object.assign(args, splitKv(text, null).kv);
      if (splitKv(text, null).rest.trim()) {
        throw new DroverError(
          `module '${mk.key}' takes key=value arguments or a mapping, got ${JSON.stringify(text)}`,
          {
            pos: mk.pos,
            expected: `${mk.key}: {name: value, ...}`,
          },
        );
      }
    }
    for (const k of Object.keys(args)) argPos[k] = mk.pos;
  } else if (node !== null) {
    if (isSeq(node)) {
      throw new DroverError(`arguments of '${mk.key}' must be a mapping, got a list`, {
        pos: mk.pos,
        expected: `${mk.key}: {name: value, ...}`,
      });
    }
    for (const e of entries(y, node, `arguments of '${mk.key}'`, mk.pos)) {
      args[e.key] = toJS(y, e.node);
      argPos[e.key] = e.keyPos;
    }
  }
  if (argsE && argsE.node !== null) {
    for (const e of entries(y, argsE.node, "args", argsE.pos)) {
      args[e.key] = toJS(y, e.node);
      argPos[e.key] = e.keyPos;
    }
  }
  return { args, argPos };
}

/** Split `a=1 b='x y' rest` into key/values; `only` limits which keys count. */
export function splitKv(
  text: string,
  only: string[] | null,
): { rest: string; kv: Record<string, string> } {
  const kv: Record<string, string> = {};
  const rest: string[] = [];
  let remaining = "";
  let last = 0;
  // A word may hold quoted parts and whole `{{ ... }}` / `{% ... %}` with spaces inside.
  const word = String.raw`"(?:[^"\\]|\\.)*"|'[^']*'|(?:\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}|\S)+`;
  const re = new RegExp(String.raw`\s*(?:([A-Za-z_][A-Za-z0-9_]*)=(${word})|(${word}))`, "g");
  for (const m of text.matchAll(re)) {
    if (m[1] && (only === null || only.includes(m[1]))) {
      kv[m[1]] = m[2].replace(/^(['"])(.*)\1$/s, "$2");
      remaining += text.slice(last, m.index);
      last = m.index + m[0].length;
    } else rest.push(m[0].trim());
  }
  remaining += text.slice(last);
  return { rest: only === null ? rest.join(" ") : remaining.trim(), kv };
}

export { existsSync };
