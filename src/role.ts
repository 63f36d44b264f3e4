/**
 * @module
 * What a TypeScript role is made of: a zod schema of its variables (with
 * defaults and descriptions) and the same Task values a YAML play produces.
 *
 * @example
 * ```ts
 * import { defineRole, task, z } from "../../src/role.ts";
 * export const role = defineRole({
 *   name: "hello",
 *   description: "Writes a greeting.",
 *   vars: z.object({ greeting: z.string().default("hi").describe("What to write") }),
 *   tasks: [task("write it", "copy", { dest: "/tmp/hello", content: "{{ greeting }}\n" })],
 * });
 * ```
 */
import { z } from "zod";
import type { SourcePos } from "./core/errors.ts";
import type { Block, Item, Task } from "./core/types.ts";
import { findModule } from "./modules/registry.ts";
import { validateArgs } from "./playbook/validate.ts";
import { DroverError } from "./core/errors.ts";
import { relative } from "./core/path.ts";
import { fileURLToPath } from "node:url";

export { z };

/** A role's definition, as exported by `roles/NAME/mod.ts` under the name `role`. */
export interface RoleDefinition<S extends z.ZodObject = z.ZodObject> {
  readonly name: string;
  readonly description: string;
  /** Variables: names, types, defaults and `.describe()` texts. */
  readonly vars: S;
  readonly tasks: readonly Item[];
  readonly handlers?: readonly Task[];
  /** Roles that must run before this one. */
  readonly dependencies?: readonly string[];
}

/** Declare a role (keeps the schema's type). */
export function defineRole<S extends z.ZodObject>(def: RoleDefinition<S>): RoleDefinition<S> {
  return def;
}

/** Task keywords accepted by {@linkcode task}. */
export interface TaskOptions {
  readonly when?: string | readonly string[];
  readonly loop?: unknown;
  readonly loopLabel?: string;
  readonly loopVar?: string;
  readonly register?: string;
  readonly notify?: string | readonly string[];
  readonly listen?: string | readonly string[];
  readonly tags?: readonly string[];
  readonly become?: boolean;
  readonly becomeUser?: string;
  readonly noLog?: boolean;
  readonly changedWhen?: unknown;
  readonly failedWhen?: unknown;
  readonly ignoreErrors?: boolean;
  readonly checkMode?: boolean;
  readonly environment?: Record<string, string>;
  readonly vars?: Record<string, unknown>;
  readonly retries?: number;
  readonly delay?: number;
  readonly until?: unknown;
}

/** Where in the role's source the caller stands (for error messages). */
function callerPos(): SourcePos {
  const stack = new Error().stack?.split("\n") ?? [];
  for (const line of stack.slice(2)) {
    const m = /(file:\/\/[^\s)]+):(\d+):(\d+)/.exec(line);
    if (!m || m[1].includes("/src/role.ts")) continue;
    let file = m[1];
    try {
      file = relative(Deno.cwd(), fileURLToPath(m[1]));
    } catch { /* keep the URL */ }
    return { file, line: Number(m[2]), col: Number(m[3]) };
  }
  return { file: "<role>", line: 1, col: 1 };
}

/**
 * One task: `task(name, module, args, options)`. Arguments are checked
 * against the module's schema when the role is loaded.
 */
export function task(
  name: string,
  module: string,
  args: Record<string, unknown> = {},
  options: TaskOptions = {},
): Task {
  const pos = callerPos();
  const mod = findModule(module);
  if (!mod) throw new DroverError(`unknown module '${module}' in task '${name}'`, { pos });
  validateArgs(mod, args, { pos });
  const asList = (
    v: string | readonly string[] | undefined,
  ) => (v === undefined ? [] : typeof v === "string" ? [v] : [...v]);
  return {
    kind: "task",
    name,
    module: mod.name,
    args,
    pos,
    when: options.when,
    loop: options.loop,
    loopLabel: options.loopLabel,
    loopVar: options.loopVar,
    register: options.register,
    notify: asList(options.notify),
    listen: asList(options.listen),
    tags: options.tags ?? [],
    become: options.become,
    becomeUser: options.becomeUser,
    noLog: options.noLog,
    changedWhen: options.changedWhen,
    failedWhen: options.failedWhen,
    ignoreErrors: options.ignoreErrors,
    checkMode: options.checkMode,
    environment: options.environment,
    vars: options.vars,
    retries: options.retries,
    delay: options.delay,
    until: options.until,
  };
}

/** A handler: a task notified by name. */
export function handler(
  name: string,
  module: string,
  args: Record<string, unknown> = {},
  options: TaskOptions = {},
): Task {
  return task(name, module, args, options);
}

/** A block with optional rescue/always. */
export function block(
  name: string,
  body: readonly Item[],
  options: {
    rescue?: readonly Item[];
    always?: readonly Item[];
    when?: string | readonly string[];
    tags?: readonly string[];
    become?: boolean;
    vars?: Record<string, unknown>;
  } = {},
): Block {
  return {
    kind: "block",
    name,
    block: body,
    rescue: options.rescue ?? [],
    always: options.always ?? [],
    when: options.when,
    tags: options.tags ?? [],
    become: options.become,
    vars: options.vars,
    pos: callerPos(),
  };
}
