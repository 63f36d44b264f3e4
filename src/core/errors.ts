/**
 * @module
 * drover's one error type. Every error a user can cause carries where it
 * happened (file:line:col or host), what was wrong, what was expected and a
 * hint, and formats as one paragraph with no stack trace.
 */

/** A position in a source file (1-based line and column). */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** Options of a {@linkcode DroverError}. */
export interface DroverErrorOptions {
  /** Where the bad input is. */
  readonly pos?: SourcePos;
  /** The host the error concerns, when it is about a host. */
  readonly host?: string;
  /** What drover expected instead. */
  readonly expected?: string;
  /** What the user can do about it. */
  readonly hint?: string;
  /** Process exit code, ansible-playbook style (1 error, 4 parse error, 5 bad options). */
  readonly exitCode?: number;
}

/**
 * An error caused by the user's input or environment, shown as one paragraph.
 *
 * @example
 * ```ts
 * const e = new DroverError("unknown key 'becom'", {
 *   pos: { file: "site.yml", line: 3, col: 5 },
 *   hint: "did you mean 'become'?",
 * });
 * console.log(e.format()); // "site.yml:3:5: unknown key 'becom'. Hint: did you mean 'become'?"
 * ```
 */
export class DroverError extends Error {
  readonly pos?: SourcePos;
  readonly host?: string;
  readonly expected?: string;
  readonly hint?: string;
  readonly exitCode: number;

  constructor(message: string, options: DroverErrorOptions = {}) {
    super(message);
    this.name = "DroverError";
    this.pos = options.pos;
    this.host = options.host;
    this.expected = options.expected;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? (options.pos ? 4 : 1);
  }

  /** `file:line:col` of the error, or `host NAME`, or empty. */
  where(): string {
    if (this.pos) return `${this.pos.file}:${this.pos.line}:${this.pos.col}`;
    if (this.host) return `host ${this.host}`;
    return "";
  }

  /** One paragraph: where, what, expected, hint. */
  format(): string {
    const parts: string[] = [];
    const where = this.where();
    parts.push(where ? `${where}: ${sentence(this.message)}` : sentence(this.message));
    if (this.expected) parts.push(`Expected ${sentence(this.expected)}`);
    if (this.hint) parts.push(`Hint: ${sentence(this.hint)}`);
    return printable(parts.join(" "));
  }

  /** A copy with a position filled in, when this error has none yet. */
  at(pos: SourcePos | undefined): DroverError {
    if (this.pos || !pos) return this;
    return new DroverError(this.message, {
      pos,
      host: this.host,
      expected: this.expected,
      hint: this.hint,
      exitCode: this.exitCode === 1 ? 4 : this.exitCode,
    });
  }
}

/**
 * Control characters from the input (a newline in a key, an escape sequence
 * in a host name) shown as escapes, so the message stays one paragraph and
 * cannot rewrite the terminal.
 */
function printable(s: string): string {
  return s.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => {
      const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
      return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
    },
  );
}

function sentence(s: string): string {
  const t = s.trim();
  return /[.?!]$/.test(t) ? t : `${t}.`;
}

/** The closest candidate to `word` by edit distance, if it is close enough to be a typo. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.max(2, Math.floor(word.length / 3));
  return best !== undefined && bestD <= limit ? best : undefined;
}

/** Levenshtein distance between two strings. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}
