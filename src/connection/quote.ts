/**
 * @module
 * The one shell-quoting helper. Everything drover puts into a remote script
 * goes through {@linkcode shq}.
 */
import { DroverError } from "../core/errors.ts";

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
  if (value.includes("\0")) {
    // sh drops NUL bytes from a script: "/tmp/a\0b" would become "/tmp/ab".
    throw new DroverError("a NUL character cannot be passed to a shell", {
      expected: "a value without \\0",
    });
  }
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `export NAME=value` lines for a script preamble; names are validated. */
export function exportLines(env: Readonly<Record<string, string>> | undefined): string {
  if (!env) return "";
  return Object.entries(env).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new DroverError(`invalid environment variable name ${JSON.stringify(k)}`, {
        expected: "letters, digits and '_', not starting with a digit",
      });
    }
    return `export ${k}=${shq(v)}\n`;
  }).join("");
}

/**
 * A heredoc delimiter that does not occur in `body` and that dash reads the
 * body around correctly. dash (0.5.12, Debian's /bin/sh) drops a non-ASCII
 * byte that follows the start of the delimiter at the start of a line: with
 * `DROVER_EOF`, the line `Dé` comes out as `D` plus half of `é`. Such a body
 * gets a delimiter that starts with another letter.
 */
export function heredocTag(body: string): string {
  const lines = body.split("\n");
  for (const first of ["", ..."XYZQJKVWABCEFGHILMNOPRSTU"]) {
    const stable = first.length + "DROVER_EOF".length;
    for (let i = 0; i <= body.length + 1; i++) {
      const tag = `${first}DROVER_EOF${i ? `_${i}` : ""}`;
      if (body.includes(tag)) continue;
      const trip = dashTrip(lines, tag);
      if (trip === 0) return tag;
      // A trip within the part all later numbered tags share: try another first letter.
      if (trip < stable + (i > 0 ? 1 : 0)) break;
    }
  }
  throw new DroverError("no heredoc delimiter fits this text", {
    hint: "lines starting with every letter followed by non-ASCII text; split the text",
  });
}

/** Length of the delimiter prefix after which dash would drop a byte (0: none). */
function dashTrip(lines: readonly string[], tag: string): number {
  for (const l of lines) {
    let k = 0;
    while (k < tag.length && l[k] === tag[k]) k++;
    if (k > 0 && k < tag.length && l.charCodeAt(k) >= 0x80) return k;
  }
  return 0;
}
