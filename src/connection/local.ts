/**
 * @module
 * The local connection: runs scripts with this machine's `sh`, no SSH.
 */
import type { BecomeSecret, Connection, ExecOptions, ExecResult } from "../core/connection.ts";
import { BecomeWrapper } from "./become.ts";
import { exportLines } from "./quote.ts";
import { spawnWithStdin } from "./shell.ts";

/** A {@linkcode Connection} to this machine. */
export class LocalConnection implements Connection {
  readonly #become: BecomeWrapper;

  constructor(readonly host: string, secret: BecomeSecret = {}) {
    this.#become = new BecomeWrapper(host, async (cmd, stdin, timeoutMs) => {
      const r = await spawnWithStdin(cmd, stdin, { timeoutMs });
      return r.timedOut ? { ...r, rc: 124, stderr: r.stderr + "\n(timed out)" } : r;
    }, secret);
  }

  async exec(script: string, options: ExecOptions = {}): Promise<ExecResult> {
    return await this.#become.exec(
      exportLines(options.env) + script,
      options.become,
      options.timeoutMs,
    );
  }

  primeBecome(probeOutput: string): void {
    this.#become.prime(probeOutput);
  }

  async close(): Promise<void> {}
}
