/**
 * @module
 * Events the engine emits; reporters (console, JSON, HTML) consume them. The
 * engine never prints. The zod schema here is the one definition of every
 * event: the TypeScript types are derived from it, `--json` prints exactly
 * these objects (plus `ts`), and tests validate every emitted event against
 * it. `docs/json-events.md` documents it; bump {@linkcode EVENT_SCHEMA_VERSION}
 * when a field is removed or changes meaning.
 */
import { z } from "zod";

/** Version of the event schema, printed in `run_start` as `schema`. */
export const EVENT_SCHEMA_VERSION = 1;

/** Per-host counters of the PLAY RECAP. */
export const hostStatsSchema = z.strictObject({
  ok: z.number().int().nonnegative(),
  changed: z.number().int().nonnegative(),
  unreachable: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  skipped: z.number().int().nonnegative(),
  rescued: z.number().int().nonnegative(),
  ignored: z.number().int().nonnegative(),
});
/** Per-host counters of the PLAY RECAP. */
export type HostStats = z.infer<typeof hostStatsSchema>;

/** How one task ended on one host. */
export const statusSchema = z.enum(["ok", "changed", "failed", "skipped", "unreachable"]);
/** How one task ended on one host. */
export type Status = z.infer<typeof statusSchema>;

const strings = () => z.array(z.string()).readonly();
const ms = () => z.number().nonnegative();

/** A before/after pair shown by `--diff` (same shape as the module contract's `Diff`). */
export const diffSchema = z.strictObject({
  target: z.string(),
  before: z.string(),
  after: z.string(),
});

/** The run begins: drover's version and the (redacted) command-line arguments. */
export const runStartSchema = z.strictObject({
  type: z.literal("run_start"),
  version: z.string(),
  playbook: z.string(),
  check: z.boolean(),
  diff: z.boolean(),
  args: strings(),
});

/** A play begins; `hosts` are the hosts it matched (a warning when none). */
export const playStartSchema = z.strictObject({
  type: z.literal("play_start"),
  name: z.string(),
  hosts: strings(),
  warning: z.string().optional(),
});

/** A task (or, with `handler: true`, a notified handler) begins on `hosts`. */
export const taskStartSchema = z.strictObject({
  type: z.literal("task_start"),
  name: z.string(),
  handler: z.boolean(),
  /** `file:line:col` of the task ("" for Gathering Facts). */
  pos: z.string(),
  hosts: strings(),
  /** The module the task calls (absent for Gathering Facts). */
  module: z.string().optional(),
});

/** How a task (or one loop item of it) ended on one host. */
export const hostResultSchema = z.strictObject({
  type: z.literal("host_result"),
  host: z.string(),
  task: z.string(),
  /** The module that ran (absent for facts, skips and engine errors). */
  module: z.string().optional(),
  status: statusSchema,
  item: z.string().optional(),
  changed: z.boolean(),
  msg: z.string().optional(),
  diff: z.array(diffSchema).readonly().optional(),
  result: z.record(z.string(), z.unknown()).readonly().optional(),
  ignored: z.boolean().optional(),
  durationMs: ms(),
  warnings: strings().optional(),
  hint: z.string().optional(),
});

/** A command drover sends to a host (emitted with -vv; heredoc data hidden, secrets redacted). */
export const commandSchema = z.strictObject({
  type: z.literal("command"),
  host: z.string(),
  script: z.string(),
  /** The user sudo runs it as. */
  become: z.string().optional(),
  /** Names of the environment variables set for it (values are not shown). */
  env: strings().optional(),
});

/** How drover reaches a host (emitted with -vvv, when the connection is first used). */
export const connectionSchema = z.strictObject({
  type: z.literal("connection"),
  host: z.string(),
  kind: z.enum(["local", "ssh"]),
  address: z.string().optional(),
  port: z.number().int().optional(),
  user: z.string().optional(),
  /** Other settings: key file, extra ssh arguments, timeout. */
  options: z.record(z.string(), z.string()).readonly().optional(),
});

/** A warning not tied to a task result. */
export const warningSchema = z.strictObject({
  type: z.literal("warning"),
  host: z.string().optional(),
  msg: z.string(),
});

/** The PLAY RECAP: counters per host. */
export const recapSchema = z.strictObject({
  type: z.literal("recap"),
  hosts: z.record(z.string(), hostStatsSchema).readonly(),
});

/** An error that stopped drover (bad option, playbook or inventory error); `run_end` follows. */
export const errorSchema = z.strictObject({
  type: z.literal("error"),
  msg: z.string(),
  exitCode: z.number().int(),
});

/** The run is over; `exitCode` is drover's exit code. */
export const runEndSchema = z.strictObject({
  type: z.literal("run_end"),
  exitCode: z.number().int(),
  durationMs: ms(),
  interrupted: z.boolean(),
});

/** Every event, discriminated by `type`. */
export const engineEventSchema = z.discriminatedUnion("type", [
  runStartSchema,
  playStartSchema,
  taskStartSchema,
  hostResultSchema,
  commandSchema,
  connectionSchema,
  warningSchema,
  recapSchema,
  errorSchema,
  runEndSchema,
]);

/** Everything the engine tells the world. */
export type EngineEvent = z.infer<typeof engineEventSchema>;

/** One event of a given type. */
export type EventOf<T extends EngineEvent["type"]> = Extract<EngineEvent, { type: T }>;

/** Something that receives events. */
export type Emit = (event: EngineEvent) => void;

/** A zeroed {@linkcode HostStats}. */
export function emptyStats(): HostStats {
  return { ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0, rescued: 0, ignored: 0 };
}
