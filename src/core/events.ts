/**
 * @module
 * Events the engine emits; reporters (console, JSON) consume them. The
 * engine never prints.
 */
import type { Diff } from "./module.ts";

/** Per-host counters of the PLAY RECAP. */
export interface HostStats {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
  skipped: number;
  rescued: number;
  ignored: number;
}

/** How one task ended on one host. */
export type Status = "ok" | "changed" | "failed" | "skipped" | "unreachable";

/** Everything the engine tells the world. */
export type EngineEvent =
  | {
    type: "run_start";
    version: string;
    playbook: string;
    check: boolean;
    diff: boolean;
    args: readonly string[];
  }
  | { type: "play_start"; name: string; hosts: readonly string[]; warning?: string }
  | { type: "task_start"; name: string; handler: boolean; pos: string; hosts: readonly string[] }
  | {
    type: "host_result";
    host: string;
    task: string;
    /** The module that ran (absent for facts and engine errors). */
    module?: string;
    status: Status;
    item?: string;
    changed: boolean;
    msg?: string;
    diff?: readonly Diff[];
    result?: Readonly<Record<string, unknown>>;
    ignored?: boolean;
    durationMs: number;
    warnings?: readonly string[];
    hint?: string;
  }
  | { type: "warning"; host?: string; msg: string }
  | { type: "recap"; hosts: Readonly<Record<string, HostStats>> }
  | { type: "run_end"; exitCode: number; durationMs: number; interrupted: boolean };

/** Something that receives events. */
export type Emit = (event: EngineEvent) => void;

/** A zeroed {@linkcode HostStats}. */
export function emptyStats(): HostStats {
  return { ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0, rescued: 0, ignored: 0 };
}
