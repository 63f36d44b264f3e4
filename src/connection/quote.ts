/**
 * @module
 * The one shell-quoting helper. Everything drover puts into a remote script
 * goes through {@linkcode shq}.
 */

/**
 * Quote a string for a POSIX shell so that it reads back byte for byte.
 *
 * @example
 * ```ts
 * shq("it's"); // "'it'\\''s'"
 * ```
 */
export function shq(value: string): string {
  if (value !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `export NAME=value` lines for a script preamble; names are validated. */
export function exportLines(env: Readonly<Record<string, string>> | undefined): string {
  if (!env) return "";
  return Object.entries(env).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new Error(`invalid environment variable name ${JSON.stringify(k)}`);
    }
    return `export ${k}=${shq(v)}\n`;
  }).join("");
}

/** A heredoc delimiter that does not occur in `body`. */
export function heredocTag(body: string): string {
  let tag = "DROVER_EOF";
  let i = 0;
  while (body.includes(tag)) tag = `DROVER_EOF_${++i}`;
  return tag;
}
