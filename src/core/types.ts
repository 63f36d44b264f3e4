/**
 * @module
 * The shapes the loader produces and the engine runs: plays, blocks, tasks.
 * YAML playbooks and TypeScript roles produce the same values.
 */
import type { SourcePos } from "./errors.ts";

/** Task keywords shared by tasks and blocks. */
export interface Keywords {
  readonly name?: string;
  readonly when?: unknown;
  readonly tags: readonly string[];
  readonly become?: boolean;
  readonly becomeUser?: string;
  readonly vars?: Readonly<Record<string, unknown>>;
  readonly environment?: unknown;
  readonly ignoreErrors?: boolean;
  readonly checkMode?: boolean;
  readonly noLog?: boolean;
  readonly anyErrorsFatal?: boolean;
  readonly pos: SourcePos;
  /** The role a task comes from, shown as `role : task`. */
  readonly role?: string;
}

/** One module call. */
export interface Task extends Keywords {
  readonly kind: "task";
  readonly module: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly loop?: unknown;
  readonly loopVar?: string;
  readonly loopLabel?: string;
  /** `loop_control.index_var`: the variable holding the item's position (0-based). */
  readonly loopIndexVar?: string;
  readonly register?: string;
  readonly notify: readonly string[];
  readonly listen: readonly string[];
  readonly changedWhen?: unknown;
  readonly failedWhen?: unknown;
  readonly delegateTo?: string;
  readonly runOnce?: boolean;
  readonly retries?: number;
  readonly until?: unknown;
  readonly delay?: number;
  /** Positions of each argument, for errors found while running. */
  readonly argPos?: Readonly<Record<string, SourcePos>>;
}

/** `block` / `rescue` / `always`. */
export interface Block extends Keywords {
  readonly kind: "block";
  readonly block: readonly Item[];
  readonly rescue: readonly Item[];
  readonly always: readonly Item[];
}

/** `include_tasks` (resolved while running). `import_tasks` is resolved at load time into a block. */
export interface Include extends Keywords {
  readonly kind: "include";
  readonly file: string;
  readonly baseDir: string;
  readonly loop?: unknown;
  readonly loopVar?: string;
}

/** Anything that can stand in a task list. */
export type Item = Task | Block | Include;

/** A role applied in a play, with its validated tasks. */
export interface RoleUse {
  readonly name: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly tags: readonly string[];
  readonly when?: unknown;
  readonly pos: SourcePos;
}

/** One play. */
export interface Play {
  readonly name: string;
  readonly hosts: string;
  readonly become?: boolean;
  readonly becomeUser?: string;
  readonly vars: Readonly<Record<string, unknown>>;
  readonly varsFiles: readonly { path: string; pos: SourcePos }[];
  readonly gatherFacts: boolean;
  readonly roles: readonly RoleUse[];
  readonly preTasks: readonly Item[];
  readonly tasks: readonly Item[];
  readonly postTasks: readonly Item[];
  readonly handlers: readonly Task[];
  readonly serial?: number | string;
  readonly anyErrorsFatal: boolean;
  readonly tags: readonly string[];
  readonly checkMode?: boolean;
  readonly noLog?: boolean;
  readonly environment?: unknown;
  readonly pos: SourcePos;
  /** Directory of the playbook file, for relative paths. */
  readonly baseDir: string;
}

/** A whole playbook. */
export interface Playbook {
  readonly file: string;
  readonly plays: readonly Play[];
}
