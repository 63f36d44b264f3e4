/**
 * @module
 * zod helpers for module and role arguments that accept what Ansible users
 * write: `yes`/`no` for booleans, numbers where strings are meant, octal modes.
 */
import { z } from "zod";
import { toBool } from "../template/text.ts";

/** A boolean that also accepts yes/no/true/false/1/0 strings. */
export const bool = () =>
  z.preprocess(
    (v) => (typeof v === "string" && /^(yes|no|true|false|on|off|1|0|y|n)$/i.test(v.trim())
      ? toBool(v)
      : v),
    z.boolean(),
  );

/** A string that also accepts numbers (`version: 1.13`). */
export const str = () => z.preprocess((v) => (typeof v === "number" ? String(v) : v), z.string());

/** An integer that also accepts numeric strings. */
export const int = () =>
  z.preprocess(
    (v) => (typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : v),
    z.number().int(),
  );

/** A list that also accepts one item or a comma-separated string. */
export const list = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (v) => (v === undefined || Array.isArray(v)
      ? v
      : typeof v === "string"
      ? v.split(",").map((s) =>
        s.trim()
      ).filter(Boolean)
      : [v]),
    z.array(item),
  );

/**
 * A file mode: `"0644"`, `"644"`, `0644` read as YAML 1.1 octal (420), or
 * symbolic `u=rw,g=r,o=r`. Normalised to a 4-digit octal string.
 */
export const mode = () =>
  z.preprocess((v) => {
    if (typeof v === "number") return v.toString(8).padStart(4, "0");
    if (typeof v === "string" && /^0?[0-7]{3,4}$/.test(v)) return v.padStart(4, "0").slice(-4);
    if (
      typeof v === "string" && /^[ugoa]*[=+-][rwxXst]*(,[ugoa]*[=+-][rwxXst]*)*$/.test(v)
    ) return symbolicMode(v);
    return v;
  }, z.string().regex(/^[0-7]{4}$/, "a mode like '0644'"));

function symbolicMode(spec: string): string {
  let m = 0;
  for (const part of spec.split(",")) {
    const [, who, op, perms] = /^([ugoa]*)([=+-])([rwxXst]*)$/.exec(part)!;
    const targets = who === "" || who.includes("a") ? "ugo" : who;
    for (const t of targets) {
      const shift = t === "u" ? 6 : t === "g" ? 3 : 0;
      let bits = 0;
      if (perms.includes("r")) bits |= 4;
      if (perms.includes("w")) bits |= 2;
      if (perms.includes("x") || perms.includes("X")) bits |= 1;
      if (op === "=") m &= ~(7 << shift);
      if (op === "-") m &= ~(bits << shift);
      else m |= bits << shift;
    }
  }
  return m.toString(8).padStart(4, "0");
}

export { z };
