/**
 * @module
 * drover's zod settings, applied before any schema is built (import this
 * module first). `jitless`: zod would otherwise compile a fast parser with
 * `new Function` for every object schema on its first parse; drover parses
 * each schema only a few times per run, so compiling costs more than it
 * saves (about 8 ms of a `--syntax-check` of playbooks/migrate.yml). The
 * results are the same either way.
 */
import { z } from "zod";

z.config({ jitless: true });
