/**
 * @module
 * The module contract: a zod argument schema and `run` (gather → pure plan →
 * apply unless check mode), returning changed/diff/msg like Ansible modules.
 */
import type { z } from "zod";
import type { Become, Connection } from "./connection.ts";
import type { Templar, Vars } from "../template/mod.ts";
import type { Facts } from "../facts/mod.ts";

/** A before/after pair shown by `--diff`. */
export interface Diff {
  /** What changed: a path, a unit, a rule. */
  readonly target: string;
  readonly before: string;
  readonly after: string;
}

/** What a module reports. */
export interface ModuleResult {
  readonly changed: boolean;
  readonly failed?: boolean;
  readonly skipped?: boolean;
  readonly msg?: string;
  readonly diff?: readonly Diff[];
  /** Extra fields registered with `register` (rc, stdout, stat, ...). */
  readonly data?: Readonly<Record<string, unknown>>;
  /** A warning shown to the user. */
  readonly warnings?: readonly string[];
}

/**
 * Per-host, per-run record of what earlier tasks did or (in check mode)
 * would have done, so later planners can predict instead of failing.
 */
export class HostModel {
  readonly #files = new Map<string, string | null>();
  readonly #flags = new Map<string, unknown>();

  /** Content a file has (or would have) after an earlier task; undefined if unknown. */
  file(path: string): string | null | undefined {
    return this.#files.get(path);
  }

  /** Record a file's (predicted) content; null means absent. */
  setFile(path: string, content: string | null): void {
    this.#files.set(path, content);
  }

  /** A named fact about predicted state (e.g. `apt:sources-changed`). */
  flag<T>(name: string): T | undefined {
    return this.#flags.get(name) as T | undefined;
  }

  /** Set a named fact about predicted state. */
  setFlag(name: string, value: unknown): void {
    this.#flags.set(name, value);
  }
}

/** What a module sees while it runs. */
export interface ModuleContext {
  readonly host: string;
  readonly conn: Connection;
  readonly check: boolean;
  readonly diff: boolean;
  readonly become?: Become;
  readonly env?: Readonly<Record<string, string>>;
  readonly facts: Facts;
  readonly model: HostModel;
  readonly vars: Vars;
  readonly templar: Templar;
  /** Directories searched for `src:` files and templates (role first, then playbook). */
  readonly searchPaths: readonly string[];
  /** Mark a value as secret: it is redacted everywhere from now on. */
  secret(value: string): void;
  /**
   * Run a script on the host with this task's become and environment. The
   * engine assumes it may change the host: reads prefetched before it are
   * dropped. `more`: another command of this task follows at once, so no
   * reads of the tasks ahead are run after this one.
   */
  sh(script: string, options?: { timeoutMs?: number; more?: boolean }): Promise<ShResult>;
  /**
   * Run a script that only reads the host's state. Its result may come from a
   * batch the engine ran earlier in this run for many tasks at once (one
   * round trip), as long as nothing has been changed on the host since; the
   * scripts a module lists in {@linkcode Module.reads} are the ones worth
   * batching. `fresh` runs it now and leaves the batch alone (polling).
   */
  read?(script: string, options?: { timeoutMs?: number; fresh?: boolean }): Promise<ShResult>;
  /**
   * The task says it changes nothing (`changed_when: false` and
   * `check_mode: false`): command/shell may then treat the command as a read.
   */
  readonly readOnly?: boolean;
  /** The result of a read batched earlier and still valid, if any; never a round trip. */
  peek?(script: string): ShResult | undefined;
}

/**
 * Read the host's state through {@linkcode ModuleContext.read} (or `sh` for
 * contexts without it, e.g. unit tests' fakes).
 */
export function readHost(
  ctx: ModuleContext,
  script: string,
  options?: { timeoutMs?: number; fresh?: boolean },
): Promise<ShResult> {
  return ctx.read
    ? ctx.read(script, options)
    : ctx.sh(script, options?.timeoutMs ? { timeoutMs: options.timeoutMs } : undefined);
}

/** What {@linkcode Module.reads} may look at (no host, no network). */
export interface ReadPlanContext {
  readonly facts: Facts;
  readonly check: boolean;
  readonly model: HostModel;
  readonly readOnly: boolean;
}

/** A read a module will ask for with {@linkcode ModuleContext.read}. */
export interface ReadRequest {
  readonly script: string;
  readonly timeoutMs?: number;
  /**
   * Slow on the host (`compose config` starts Compose: up to half a second).
   * Fetched ahead of its task only while the host looks converged: once a
   * change has thrown reads away, it waits for its own task.
   */
  readonly costly?: boolean;
  /**
   * Its task will change the host when this read prints nothing (a record
   * not made yet). The reads of later tasks fetched in the same round trip
   * then do not run: that change would throw their results away.
   */
  readonly changesWhenEmpty?: boolean;
}

/** Result of {@linkcode ModuleContext.sh}. */
export interface ShResult {
  readonly rc: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A module. `A` is the parsed argument type. */
export interface Module<A = unknown> {
  readonly name: string;
  /** Other names it answers to (`ansible.builtin.copy`, `systemd`...). */
  readonly aliases?: readonly string[];
  readonly args: z.ZodType<A>;
  /** The argument that free-form text (`command: ls -l`) maps to. */
  readonly freeForm?: string;
  /** One-line description for docs and errors. */
  readonly doc: string;
  run(ctx: ModuleContext, args: A): Promise<ModuleResult>;
  /**
   * The reads `run` will make for these arguments, computed without the
   * host, so the engine can prefetch the reads of many upcoming tasks in one
   * round trip. Arguments that could not be rendered yet are missing. A read
   * listed here that `run` does not make costs host time, never correctness.
   */
  reads?(args: Partial<A>, ctx: ReadPlanContext): readonly ReadRequest[];
}

/** Helper to declare a module with its argument type inferred from the schema. */
export function defineModule<S extends z.ZodType>(
  m: Module<z.infer<S>> & { args: S },
): Module<z.infer<S>> {
  return m;
}

/** A failure inside a module that is the host's state, not drover's bug. */
export class ModuleFailure extends Error {
  constructor(message: string, readonly data: Record<string, unknown> = {}) {
    super(message);
    this.name = "ModuleFailure";
  }
}
