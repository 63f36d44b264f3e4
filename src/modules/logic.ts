/**
 * @module
 * Modules that run on the control node only: `debug`, `set_fact`, `assert`,
 * `fail`, `meta`. The engine interprets their `data`.
 */
import { z } from "zod";
import { defineModule } from "../core/module.ts";
import { bool, list, str } from "../core/args.ts";

/** Print a message or a variable. */
export const debug = defineModule({
  name: "debug",
  doc: "Print a message (msg) or a variable (var).",
  args: z.object({
    msg: z.unknown().optional(),
    var: str().optional(),
    verbosity: z.number().int().optional(),
  }).strict(),
  run(ctx, a) {
    if (a.var !== undefined) {
      const value = ctx.templar.evaluate(a.var, ctx.vars);
      return Promise.resolve({ changed: false, data: { [a.var]: value } });
    }
    const msg = a.msg ?? "Hello world!";
    return Promise.resolve({
      changed: false,
      // A list or mapping stays one: registered and printed as data, as in Ansible.
      msg: typeof msg === "string" ? msg : undefined,
      data: { msg },
    });
  },
});

/** Set host variables for the rest of the run (above play vars, below extra vars). */
export const setFact = defineModule({
  name: "set_fact",
  doc: "Set variables on the host for the rest of the run.",
  args: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.unknown()),
  run(_ctx, a) {
    const { cacheable: _c, ...facts } = a as Record<string, unknown>;
    return Promise.resolve({ changed: false, data: { ansible_facts: facts } });
  },
});

/** Fail unless every condition holds. */
export const assertModule = defineModule({
  name: "assert",
  doc: "Fail with fail_msg unless every expression in 'that' is true.",
  args: z.object({
    that: list(z.union([str(), z.boolean()])),
    fail_msg: str().optional(),
    msg: str().optional(),
    success_msg: str().optional(),
    quiet: bool().optional(),
  }).strict(),
  run(ctx, a) {
    for (const cond of a.that) {
      if (!ctx.templar.isTrue(cond, ctx.vars)) {
        return Promise.resolve({
          changed: false,
          failed: true,
          msg: a.fail_msg ?? a.msg ?? `Assertion failed: ${cond}`,
          data: { assertion: cond, evaluated_to: false },
        });
      }
    }
    return Promise.resolve({ changed: false, msg: a.success_msg ?? "All assertions passed" });
  },
});

/** Fail with a message. */
export const fail = defineModule({
  name: "fail",
  doc: "Fail the host with a message.",
  args: z.object({ msg: str().default("Failed as requested from task") }).strict(),
  run(_ctx, a) {
    return Promise.resolve({ changed: false, failed: true, msg: a.msg });
  },
});

/** `meta: flush_handlers` and friends. */
export const meta = defineModule({
  name: "meta",
  doc: "Engine actions: flush_handlers, end_play, end_host, noop.",
  freeForm: "action",
  args: z.object({
    action: z.enum([
      "flush_handlers",
      "end_play",
      "end_host",
      "noop",
      "clear_facts",
      "refresh_inventory",
    ]),
  }).strict(),
  run(_ctx, a) {
    return Promise.resolve({ changed: false, data: { _meta: a.action } });
  },
});
