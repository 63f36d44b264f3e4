/**
 * @module
 * Redaction happens once, before any reporter sees an event: every known
 * secret value is replaced by `<redacted>` wherever it appears.
 */

/** Collects secret values and scrubs them from anything. */
export class Redactor {
  readonly #secrets = new Set<string>();

  /** Remember a secret (values shorter than 4 characters are ignored: too many false hits). */
  add(value: unknown): void {
    if (typeof value === "string" && value.length >= 4) {
      this.#secrets.add(value);
      const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(value)));
      this.#secrets.add(b64.replace(/=+$/, ""));
    }
  }

  /** How many secrets are known. */
  get size(): number {
    return this.#secrets.size;
  }

  /** A deep copy of `value` with every secret replaced. */
  scrub<T>(value: T): T {
    if (this.#secrets.size === 0) return value;
    return this.#scrub(value) as T;
  }

  /**
   * A diff's two sides with every line that holds a secret cut after the
   * text before the secret, on both sides: the line on the other side that
   * starts the same way holds the old value of that secret (a token being
   * replaced), which drover was never told about.
   */
  #maskDiff(d: { before: string; after: string }): [string, string] {
    const prefixes = new Set<string>();
    for (const line of `${d.before}\n${d.after}`.split("\n")) {
      for (const secret of this.#secrets) {
        const i = line.indexOf(secret);
        if (i >= 4) prefixes.add(line.slice(0, i));
      }
    }
    const mask = (text: string) =>
      this.#scrub(
        prefixes.size === 0 ? text : text.split("\n").map((line) => {
          for (const p of prefixes) if (line.startsWith(p)) return `${p}<redacted>`;
          return line;
        }).join("\n"),
      ) as string;
    return [mask(d.before), mask(d.after)];
  }

  #scrub(v: unknown): unknown {
    if (typeof v === "string") {
      let s = v;
      for (const secret of [...this.#secrets].sort((a, b) => b.length - a.length)) {
        if (s.includes(secret)) s = s.replaceAll(secret, "<redacted>");
      }
      return s;
    }
    if (Array.isArray(v)) return v.map((x) => this.#scrub(x));
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.#scrub(x);
      if (typeof out.before === "string" && typeof out.after === "string") {
        [out.before, out.after] = this.#maskDiff(v as { before: string; after: string });
      }
      return out;
    }
    return v;
  }
}
