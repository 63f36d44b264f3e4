/**
 * @module
 * One long-lived `sh` on the host, started once over the run's connection:
 * each command is written to its stdin as a here-document for the command's
 * own `sh -s` (or `sudo … sh -s`), and its output comes back framed by
 * markers with a nonce, on stdout (with the exit code) and on stderr. A
 * command then costs the host one process instead of an SSH session (sshd's
 * session set-up, the login shell) and the controller no `ssh` process.
 *
 * One command at a time; the caller sends a command elsewhere while this
 * shell is busy. Commands see exactly what a session of their own gives
 * them: their own `sh`, stdin that ends with the script, the connecting
 * user's environment and home directory.
 *
 * @example
 * ```ts
 * const sh = new ResidentShell(["sh"]);
 * const r = await sh.run("sh -s", "echo hi\n"); // { rc: 0, stdout: "hi\n", stderr: "" }
 * await sh.close();
 * ```
 */
import type { ExecResult } from "../core/connection.ts";

/** The largest script sent through the resident shell (a here-document stays in a pipe). */
export const RESIDENT_MAX_SCRIPT = 48 * 1024;

/** Exit code of {@linkcode RESIDENT_START} on a host whose `sh` it will not use. */
export const RESIDENT_REFUSED = 86;

/**
 * The resident shell's start (`sh -c` this): bash before 5.1 writes every
 * here-document to a temporary file, and scripts may carry secrets, so where
 * `sh` is such a bash it exits with {@linkcode RESIDENT_REFUSED} and the host
 * gets a session per command instead.
 */
export const RESIDENT_START =
  `case \${BASH_VERSION:-} in [1-4].* | 5.0.*) exit ${RESIDENT_REFUSED} ;; esac; exec sh`;

/** A long-lived shell running commands one at a time; see the module doc. */
export class ResidentShell {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pumps: Promise<void>[];
  #out = "";
  #err = "";
  #exited = false;
  #code?: number;
  #busy = false;
  #changed = Promise.withResolvers<void>();

  /** `argv` starts the shell (e.g. `ssh … host sh`); it reads commands from its stdin. */
  constructor(argv: readonly string[]) {
    this.#child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#pumps = [
      this.#pump(this.#child.stdout, (s) => this.#out += s),
      this.#pump(this.#child.stderr, (s) => this.#err += s),
    ];
    this.#child.status.then((st) => {
      this.#exited = true;
      this.#code = st.code;
      this.#notify();
    });
  }

  /** Free to take a command: not busy and still running. */
  get ready(): boolean {
    return !this.#busy && !this.#exited;
  }

  /** The shell would not run here ({@linkcode RESIDENT_START}): no command ran in it. */
  get refused(): boolean {
    return this.#code === RESIDENT_REFUSED;
  }

  /** What the shell printed on stderr outside any command (ssh's own messages when it died). */
  get leftover(): string {
    return this.#err;
  }

  #notify(): void {
    this.#changed.resolve();
    this.#changed = Promise.withResolvers<void>();
  }

  async #pump(stream: ReadableStream<Uint8Array>, add: (s: string) => void): Promise<void> {
    const dec = new TextDecoder();
    try {
      for await (const chunk of stream) {
        add(dec.decode(chunk, { stream: true }));
        this.#notify();
      }
    } catch { /* the pipe broke: the process is gone */ }
    add(dec.decode());
    this.#notify();
  }

  /**
   * Run `commandLine` (one shell command line reading its script from stdin)
   * with `stdin`. Returns undefined when the shell died before the command
   * finished (the connection was lost); what the command did is then unknown.
   */
  async run(commandLine: string, stdin: string): Promise<ExecResult | undefined> {
    if (!this.ready) throw new Error("the resident shell is busy or gone");
    this.#busy = true;
    try {
      const nonce = crypto.randomUUID().replaceAll("-", "");
      const body = stdin.endsWith("\n") ? stdin : stdin + "\n";
      const text = `${commandLine} <<'DROVER_RS_${nonce}'\n${body}DROVER_RS_${nonce}\n` +
        `printf '\\n@@${nonce} %s\\n' "$?"; printf '\\n@@${nonce}\\n' >&2\n`;
      try {
        await this.#writer.write(new TextEncoder().encode(text));
      } catch {
        return undefined;
      }
      const outMark = `\n@@${nonce} `;
      const errMark = `\n@@${nonce}\n`;
      for (;;) {
        const changed = this.#changed.promise;
        const o = this.#out.indexOf(outMark);
        const eol = o < 0 ? -1 : this.#out.indexOf("\n", o + outMark.length);
        const e = this.#err.indexOf(errMark);
        if (eol >= 0 && e >= 0) {
          const rc = Number(this.#out.slice(o + outMark.length, eol));
          const result = { rc, stdout: this.#out.slice(0, o), stderr: this.#err.slice(0, e) };
          this.#out = this.#out.slice(eol + 1);
          this.#err = this.#err.slice(e + errMark.length);
          return result;
        }
        if (this.#exited) {
          await Promise.all(this.#pumps);
          if (this.#out.includes(outMark) && this.#err.includes(errMark)) continue;
          return undefined;
        }
        await changed;
      }
    } finally {
      this.#busy = false;
    }
  }

  /** End the shell (end of input) and wait for it; killed after `graceMs`. */
  async close(graceMs = 3000): Promise<void> {
    try {
      await this.#writer.close();
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, graceMs);
    await this.#child.status;
    clearTimeout(timer);
    await Promise.all(this.#pumps);
  }
}
