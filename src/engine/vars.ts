/**
 * @module
 * Variable precedence, lowest first: role defaults < inventory (group, then
 * host) < facts < play vars < vars_files < role vars and params < block vars
 * < task vars < set_fact/register < extra vars.
 */
import type { Vars } from "../template/mod.ts";

/** The layers a task's variables are merged from. */
export interface VarLayers {
  readonly roleDefaults: Vars;
  readonly inventory: Vars;
  readonly facts: Vars;
  readonly magic: Vars;
  readonly play: Vars;
  readonly varsFiles: Vars;
  readonly role: Vars;
  readonly blocks: readonly Vars[];
  readonly task: Vars;
  readonly host: Vars;
  readonly extra: Vars;
}

/** Merge layers (a later layer replaces a whole key, as Ansible's default hash_behaviour). */
export function mergeVars(l: VarLayers): Vars {
  return Object.assign(
    {},
    l.roleDefaults,
    l.inventory,
    l.facts,
    l.magic,
    l.play,
    l.varsFiles,
    l.role,
    ...l.blocks,
    l.task,
    l.host,
    l.extra,
  );
}

/** Names that look like secrets: their values are redacted everywhere. */
export const SECRET_NAME = /(token|passw(or)?d|passwd|secret|api_?key|private_?key|credential)/i;
