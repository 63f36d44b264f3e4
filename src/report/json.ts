/**
 * @module
 * `--json`: one event per line on stdout.
 */
import type { EngineEvent } from "../core/events.ts";

/** JSON-lines reporter. */
export class JsonReporter {
  constructor(private readonly write: (line: string) => void) {}

  /** Handle one event. */
  on = (e: EngineEvent): void => {
    this.write(JSON.stringify({ ...e, ts: new Date().toISOString() }));
  };
}
