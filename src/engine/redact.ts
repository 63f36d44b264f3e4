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
      return out;
    }
    return v;
  }
}
