/**
 * @module
 * drover's entry point: `deno task run PLAYBOOK [options]`.
 */
import { main } from "./src/cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
