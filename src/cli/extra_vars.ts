/**
 * @module
 * `-e/--extra-vars`: `key=value ...`, `@file.yml`, or JSON/YAML mappings.
 */
import { existsSync } from "node:fs";
import { DroverError } from "../core/errors.ts";
import { parseYaml, readText, toJS } from "../core/yaml.ts";
import { checkVarName, splitKv } from "../playbook/load.ts";

/** Parse one -e argument into variables. Every mistake in it is a bad option (exit 5). */
export function parseExtraVars(arg: string): Record<string, unknown> {
  return badOption(() => parse(arg));
}

function parse(arg: string): Record<string, unknown> {
  const s = arg.trim();
  if (s.startsWith("@")) {
    const file = s.slice(1);
    if (file === "" || !existsSync(file)) {
      throw new DroverError(`extra vars file ${file === "" ? "''" : file} not found`, {
        exitCode: 5,
        hint: "-e @vars.yml takes a path to a YAML or JSON file",
      });
    }
    return mapping(parseYaml(file, readText(file)), file);
  }
  if (s.startsWith("{")) {
    return mapping(parseYaml("-e", s), "-e");
  }
  const { rest, kv } = splitKv(s, null);
  if (rest.trim() !== "" || Object.keys(kv).length === 0) {
    throw new DroverError(`cannot read extra vars ${JSON.stringify(arg)}`, {
      exitCode: 5,
      expected: "key=value (several separated by spaces), @file.yml, or a JSON object",
      hint: "quote values with spaces: -e \"msg='hello world'\"",
    });
  }
  for (const k of Object.keys(kv)) checkVarName(k);
  return kv;
}

/** A mistake in a -e value is a bad option (exit 5), not a playbook parse error (4). */
function badOption<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof DroverError)) throw e;
    throw new DroverError(e.message, {
      pos: e.pos,
      expected: e.expected,
      hint: e.hint,
      exitCode: 5,
    });
  }
}

function mapping(y: ReturnType<typeof parseYaml>, what: string): Record<string, unknown> {
  const v = toJS(y, y.doc.contents as never);
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new DroverError(`extra vars from ${what} must be a mapping`, {
      exitCode: 5,
      expected: "key: value pairs",
    });
  }
  for (const k of Object.keys(v)) checkVarName(k);
  return v as Record<string, unknown>;
}
