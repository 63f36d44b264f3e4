/**
 * @module
 * The schema of `--json` output: each line is one engine event (see
 * `src/core/events.ts`) plus `ts`, the time drover emitted it; `run_start`
 * also carries `schema`, the version of this format. Documented in
 * `docs/json-events.md`.
 *
 * @example
 * ```ts
 * import { jsonLineSchema } from "./schema.ts";
 * const line = '{"type":"warning","msg":"hi","ts":"2025-01-01T00:00:00.000Z"}';
 * jsonLineSchema.parse(JSON.parse(line)); // throws if the line does not match
 * ```
 */
import { z } from "zod";
import {
  commandSchema,
  connectionSchema,
  errorSchema,
  EVENT_SCHEMA_VERSION,
  hostResultSchema,
  playStartSchema,
  recapSchema,
  runEndSchema,
  runStartSchema,
  taskStartSchema,
  warningSchema,
} from "../core/events.ts";

export { EVENT_SCHEMA_VERSION };

const ts = { ts: z.iso.datetime() };

/** One line of `--json` output. */
export const jsonLineSchema = z.discriminatedUnion("type", [
  runStartSchema.extend({ ...ts, schema: z.literal(EVENT_SCHEMA_VERSION) }),
  playStartSchema.extend(ts),
  taskStartSchema.extend(ts),
  hostResultSchema.extend(ts),
  commandSchema.extend(ts),
  connectionSchema.extend(ts),
  warningSchema.extend(ts),
  recapSchema.extend(ts),
  errorSchema.extend(ts),
  runEndSchema.extend(ts),
]);

/** One line of `--json` output, parsed. */
export type JsonLine = z.infer<typeof jsonLineSchema>;
