/**
 * @module
 * `--json`: one event per line on stdout, in the format of
 * {@linkcode jsonLineSchema} (documented in `docs/json-events.md`).
 */
import type { EngineEvent } from "../core/events.ts";
import { EVENT_SCHEMA_VERSION } from "./schema.ts";

/** JSON-lines reporter. */
export class JsonReporter {
  constructor(private readonly write: (line: string) => void) {}

  /** Handle one event. */
  on = (e: EngineEvent): void => {
    const ts = new Date().toISOString();
    this.write(JSON.stringify(
      e.type === "run_start" ? { ...e, schema: EVENT_SCHEMA_VERSION, ts } : { ...e, ts },
    ));
  };
}
