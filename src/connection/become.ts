/**
 * @module
 * Privilege escalation as a wrapper around a raw "run sh with this stdin"
 * function: `sudo -n`, or `sudo -k -S` with the password as the first line of
 * stdin when the user gave -K. The password never appears in argv.
 */
import {
  type Become,
  BecomeError,
  type BecomeSecret,
  type ExecResult,
} from "../core/connection.ts";
import { shq } from "./quote.ts";

/** Runs `command` (a list of words, the remote shell's argv) with `stdin`. */
export type RawRunner = (
  command: readonly string[],
  stdin: string,
  timeoutMs?: number,
) => Promise<ExecResult>;

/** Prints how sudo works for the connecting user: root, nopass, password or missing. */
export const BECOME_PROBE =
  'if [ "$(id -u)" = 0 ]; then echo root; elif ! command -v sudo >/dev/null 2>&1; then echo missing; ' +
  "elif sudo -n true 2>/dev/null; then echo nopass; else echo password; fi\n";

/** Decides how to wrap commands in sudo for one host, probing once. */
export class BecomeWrapper {
  #mode?: Promise<"root" | "nopass" | "password" | "missing">;

  constructor(
    private readonly host: string,
    private readonly run: RawRunner,
    private readonly secret: BecomeSecret,
  ) {}

  /** Run `sh -s` with `stdin`, as `become.user` when given. */
  async exec(stdin: string, become: Become | undefined, timeoutMs?: number): Promise<ExecResult> {
    if (!become) return await this.run(["sh", "-s"], stdin, timeoutMs);
    const mode = await this.mode();
    if (mode === "root" && become.user === "root") {
      return await this.run(["sh", "-s"], stdin, timeoutMs);
    }
    const user = ["-u", become.user];
    if (mode === "nopass" || mode === "root") {
      return await this.run(["sudo", "-n", ...user, "--", "sh", "-s"], stdin, timeoutMs);
    }
    if (mode === "missing") {
      throw new BecomeError(this.host, `become is set but sudo is not installed on ${this.host}`);
    }
    if (this.secret.password === undefined) {
      throw new BecomeError(
        this.host,
        `sudo needs a password on ${this.host} (use -K, or set DROVER_BECOME_PASSWORD)`,
      );
    }
    const res = await this.run(
      ["sudo", "-k", "-S", "-p", "", ...user, "--", "sh", "-s"],
      `${this.secret.password}\n${stdin}`,
      timeoutMs,
    );
    if (
      res.rc !== 0 &&
      /incorrect password|Sorry, try again|no password was provided/i.test(res.stderr)
    ) {
      throw new BecomeError(this.host, `sudo rejected the become password on ${this.host}`);
    }
    return res;
  }

  /**
   * Take the sudo mode from {@linkcode BECOME_PROBE}'s output printed by an
   * earlier script (the fact probe), saving a round trip. Unknown text is ignored.
   */
  prime(probeOutput: string): void {
    const m = probeOutput.trim();
    if (m === "root" || m === "nopass" || m === "password" || m === "missing") {
      this.#mode ??= Promise.resolve(m);
    }
  }

  private mode(): Promise<"root" | "nopass" | "password" | "missing"> {
    this.#mode ??= (async () => {
      const r = await this.run(["sh", "-s"], BECOME_PROBE);
      const m = r.stdout.trim();
      if (m === "root" || m === "nopass" || m === "password" || m === "missing") return m;
      throw new BecomeError(this.host, `could not probe sudo on ${this.host}: ${r.stderr.trim()}`);
    })();
    return this.#mode;
  }
}

/** Join words into one shell command line (for ssh's remote command). */
export function commandLine(words: readonly string[]): string {
  return words.map(shq).join(" ");
}
