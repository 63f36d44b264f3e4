/**
 * @module
 * Validates module arguments against the module's zod schema, turning zod's
 * issues into one-paragraph errors at the argument's position.
 */
import { z } from "zod";
import { didYouMean, DroverError, type SourcePos } from "../core/errors.ts";
import type { Module } from "../core/module.ts";
import { isTemplate } from "../template/text.ts";

/** Argument names a module accepts. */
export function argNames(mod: Module): string[] {
  let s = mod.args as unknown;
  // `z.object(...).transform(...)` and `z.preprocess(..., z.object(...))` are pipes around the object.
  for (let i = 0; i < 8 && s instanceof z.ZodPipe; i++) {
    s = s.in instanceof z.ZodTransform ? s.out : s.in;
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function unknownArg(mod: Module, k: string, names: string[], pos: SourcePos): DroverError {
  const guess = didYouMean(k, names);
  return new DroverError(`module '${mod.name}' has no argument '${k}'`, {
    pos,
    expected: names.length ? `one of: ${names.join(", ")}` : undefined,
    hint: guess ? `did you mean '${guess}'?` : `see '${mod.name}' in the module reference`,
  });
}

function hasTemplate(v: unknown): boolean {
  if (typeof v === "string") return isTemplate(v);
  if (Array.isArray(v)) return v.some(hasTemplate);
  if (v && typeof v === "object") return Object.values(v).some(hasTemplate);
  return false;
}

/**
 * Check arguments at load time: unknown names always; types and required
 * arguments when no value is templated (else {@linkcode parseArgs} checks them
 * after rendering).
 */
export function validateArgs(
  mod: Module,
  args: Record<string, unknown>,
  at: { pos: SourcePos; argPos?: Readonly<Record<string, SourcePos>> },
): void {
  const names = argNames(mod);
  for (const k of Object.keys(args)) {
    if (names.length && !names.includes(k)) {
      throw unknownArg(mod, k, names, at.argPos?.[k] ?? at.pos);
    }
  }
  if (!hasTemplate(args)) parseArgs(mod, args, at);
}

/** Parse (and coerce) arguments; a mismatch is a {@linkcode DroverError}. */
export function parseArgs<A>(
  mod: Module<A>,
  args: Record<string, unknown>,
  at: { pos: SourcePos; argPos?: Readonly<Record<string, SourcePos>> },
): A {
  const r = mod.args.safeParse(args);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const key = issue.path.length ? String(issue.path[0]) : undefined;
  const path = issue.path.join(".");
  let message: string;
  if (issue.code === "invalid_type" && args[key ?? ""] === undefined && key) {
    message = `module '${mod.name}' needs argument '${key}'`;
  } else if (issue.code === "unrecognized_keys") {
    const k = (issue as { keys: string[] }).keys[0];
    throw unknownArg(mod, k, argNames(mod), at.argPos?.[k] ?? at.pos);
  } else if (issue.code === "invalid_key" && key) {
    // set_fact's names are variable names.
    throw new DroverError(`module '${mod.name}': invalid variable name '${key}'`, {
      pos: at.argPos?.[key] ?? at.pos,
      expected: "letters, digits and '_', not starting with a digit",
      hint: "rename it, e.g. with underscores instead of dashes",
    });
  } else if (issue.code === "invalid_value" && key) {
    const values = (issue as { values: unknown[] }).values.map(String);
    const guess = typeof args[key] === "string" ? didYouMean(args[key], values) : undefined;
    throw new DroverError(`argument '${path}' of module '${mod.name}' has an invalid value`, {
      pos: at.argPos?.[key] || at.pos,
      expected: describeExpected(issue),
      hint: `got ${JSON.stringify(args[key])}${guess ? `; did you mean '${guess}'?` : ""}`,
    });
  } else if (!key) {
    message = `module '${mod.name}': ${issueMessage(issue)}`;
  } else {
    message = `argument '${path || "(arguments)"}' of module '${mod.name}': ${issueMessage(issue)}`;
  }
  throw new DroverError(message, {
    pos: (key && at.argPos?.[key]) || at.pos,
    expected: describeExpected(issue),
    hint: key && args[key] !== undefined ? `got ${JSON.stringify(args[key])}` : undefined,
  });
}

/**
 * zod's message for an issue; for a union ("a mode like '0644'" or a symbolic
 * mode), the messages its branches were written with instead of "Invalid input".
 */
function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_union") {
    const branches = (issue as { errors?: z.core.$ZodIssue[][] }).errors ?? [];
    const own = [
      ...new Set(
        branches.map((b) => (b[0] ? issueMessage(b[0]) : "")).filter((m) =>
          m !== "" && !/^Invalid (input|string|option)\b/.test(m)
        ),
      ),
    ];
    if (own.length) return own.join(" or ");
  }
  return issue.message.replace(/^Invalid input: /, "");
}

function describeExpected(issue: z.core.$ZodIssue): string | undefined {
  if (issue.code === "invalid_value" && "values" in issue) {
    return `one of: ${(issue.values as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
  }
  if (issue.code === "invalid_type") {
    return `a value of type ${(issue as { expected: string }).expected}`;
  }
  return undefined;
}
