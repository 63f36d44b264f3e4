/**
 * @module
 * The few ANSI colours the console reporter uses, with picocolors' exact
 * output (a nested colour is reopened after an inner close). Whether to
 * colour at all (a TTY, `--no-color`, `NO_COLOR`) is the caller's choice:
 * {@linkcode createColors} is given it. A local module rather than an npm
 * package so that drover's start-up does not load a CommonJS package for it.
 */

/** A function that wraps text in one colour (or returns it as it is). */
export type Colorize = (input: unknown) => string;

/** The colours of {@linkcode createColors}. */
export interface Colors {
  readonly isColorSupported: boolean;
  readonly dim: Colorize;
  readonly red: Colorize;
  readonly green: Colorize;
  readonly yellow: Colorize;
  readonly magenta: Colorize;
  readonly cyan: Colorize;
}

function formatter(open: string, close: string, replace = open): Colorize {
  return (input) => {
    const s = "" + input;
    let index = s.indexOf(close, open.length);
    if (index < 0) return open + s + close;
    let out = "";
    let cursor = 0;
    do {
      out += s.substring(cursor, index) + replace;
      cursor = index + close.length;
      index = s.indexOf(close, cursor);
    } while (index >= 0);
    return open + out + s.substring(cursor) + close;
  };
}

/**
 * Colour functions; with `enabled` false each returns its input as a string.
 *
 * @example
 * ```ts
 * import { createColors } from "./colors.ts";
 * createColors(true).red("x"); // "\x1b[31mx\x1b[39m"
 * createColors(false).red("x"); // "x"
 * ```
 */
export function createColors(enabled: boolean): Colors {
  const f = enabled ? formatter : () => String as Colorize;
  return {
    isColorSupported: enabled,
    dim: f("\x1b[2m", "\x1b[22m", "\x1b[22m\x1b[2m"),
    red: f("\x1b[31m", "\x1b[39m"),
    green: f("\x1b[32m", "\x1b[39m"),
    yellow: f("\x1b[33m", "\x1b[39m"),
    magenta: f("\x1b[35m", "\x1b[39m"),
    cyan: f("\x1b[36m", "\x1b[39m"),
  };
}
