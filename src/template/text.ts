/**
 * @module
 * The pure helpers of templating (no nunjucks, no node:crypto): whether a
 * string is a template, Python's `str()`/`repr()` of a value, Ansible's
 * booleans. Loading a playbook needs only these, so a parse
 * (`--syntax-check`) does not load the template engine.
 */

/** A value as Python's `str()` prints it (what Jinja writes into text). Pure. */
export function pyStr(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === null || v === undefined) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(", ")}]`;
  if (typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    return `{${Object.entries(v).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(", ")}}`;
  }
  return String(v);
}

/** A value as Python's `repr()` prints it. Pure. */
export function pyRepr(v: unknown): string {
  if (typeof v !== "string") return pyStr(v);
  const q = v.includes("'") && !v.includes('"') ? '"' : "'";
  const body = v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t");
  return q + (q === "'" ? body.replaceAll("'", "\\'") : body) + q;
}

/** Is there anything to template in this string? */
export function isTemplate(s: string): boolean {
  return s.includes("{{") || s.includes("{%");
}

/** Ansible's notion of a boolean from a string/number/bool. */
export function toBool(v: unknown): boolean {
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v === 1;
  if (typeof v === "string") {
    return ["yes", "on", "1", "true", "y", "t"].includes(v.trim().toLowerCase());
  }
  return false;
}

/** Python/Jinja truthiness. */
export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === "object") return Object.keys(v).length > 0;
  return Boolean(v);
}
