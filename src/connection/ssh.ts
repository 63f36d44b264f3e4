/**
 * @module
 * The SSH connection: the user's OpenSSH client (so ~/.ssh/config, the
 * agent, ProxyJump and known_hosts work as for `ssh`), one ControlMaster per
 * host for the whole run, BatchMode (never hangs on a prompt). Scripts go
 * over stdin to `sh` on the host; nothing secret is ever in argv.
 */
import {
  type BecomeSecret,
  type Connection,
  type ExecOptions,
  type ExecResult,
  UnreachableError,
} from "../core/connection.ts";
import { BecomeWrapper, commandLine } from "./become.ts";
import { exportLines } from "./quote.ts";
import { spawnWithStdin } from "./shell.ts";
import { shlexSplit } from "../modules/command.ts";

/** Inventory variables the SSH connection reads. */
export interface SshTarget {
  readonly host: string;
  readonly address: string;
  readonly port?: number;
  readonly user?: string;
  readonly privateKey?: string;
  readonly commonArgs?: string;
  readonly extraArgs?: string;
}

/** Options shared by all SSH connections of a run. */
export interface SshOptions {
  /** Private 0700 directory for ControlMaster sockets. */
  readonly controlDir: string;
  readonly connectTimeout: number;
  /** StrictHostKeyChecking=accept-new (only when the user asks for it). */
  readonly acceptNewHostKeys: boolean;
  readonly secret: BecomeSecret;
  /** The ssh binary (tests may wrap it to count sessions). */
  readonly sshBinary?: string;
}

/** A {@linkcode Connection} over OpenSSH. */
export class SshConnection implements Connection {
  readonly #become: BecomeWrapper;
  readonly #base: string[];
  #closed = false;
  #used = false;

  constructor(private readonly target: SshTarget, private readonly o: SshOptions) {
    this.host = target.host;
    this.#base = sshArgs(target, o);
    this.#become = new BecomeWrapper(
      target.host,
      (cmd, stdin, timeoutMs) => this.#run(cmd, stdin, timeoutMs),
      o.secret,
    );
  }

  readonly host: string;

  async #run(cmd: readonly string[], stdin: string, timeoutMs?: number): Promise<ExecResult> {
    this.#used = true;
    const r = await spawnWithStdin(
      [this.o.sshBinary ?? "ssh", ...this.#base, commandLine(cmd)],
      stdin,
      { timeoutMs },
    );
    if (r.timedOut) return { rc: 124, stdout: r.stdout, stderr: r.stderr + "\n(timed out)" };
    if (r.rc === 255 && isSshFailure(r.stderr)) {
      throw new UnreachableError(
        this.host,
        `cannot reach ${this.host} over ssh (${
          this.target.user ? `${this.target.user}@` : ""
        }${this.target.address}${this.target.port ? `:${this.target.port}` : ""}): ${
          lastLine(r.stderr)
        }`,
      );
    }
    return r;
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

  async close(): Promise<void> {
    if (this.#closed || !this.#used) return;
    this.#closed = true;
    await new Deno.Command(this.o.sshBinary ?? "ssh", {
      args: [...this.#base.slice(0, -2), "-O", "exit", ...this.#base.slice(-2)],
      stdout: "null",
      stderr: "null",
      stdin: "null",
    }).output().catch(() => {});
  }
}

/** ssh's arguments for a target (everything but the remote command). Pure. */
export function sshArgs(
  t: SshTarget,
  o: Pick<SshOptions, "controlDir" | "connectTimeout" | "acceptNewHostKeys">,
): string[] {
  const args = [
    "-o",
    "BatchMode=yes",
    "-o",
    `ConnectTimeout=${o.connectTimeout}`,
    "-o",
    "ControlMaster=auto",
    "-o",
    `ControlPath=${o.controlDir}/%C`,
    "-o",
    "ControlPersist=120",
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=3",
    "-o",
    "LogLevel=ERROR",
  ];
  if (o.acceptNewHostKeys) args.push("-o", "StrictHostKeyChecking=accept-new");
  if (t.port) args.push("-p", String(t.port));
  if (t.user) args.push("-l", t.user);
  if (t.privateKey) args.push("-i", t.privateKey, "-o", "IdentitiesOnly=yes");
  if (t.commonArgs) args.push(...shlexSplit(t.commonArgs));
  if (t.extraArgs) args.push(...shlexSplit(t.extraArgs));
  args.push("--", t.address);
  return args;
}

function isSshFailure(stderr: string): boolean {
  return /ssh:|Connection (refused|closed|reset|timed out)|Could not resolve|Host key verification failed|Permission denied|No route to host|Network is unreachable|kex_exchange|Broken pipe|mux_client|control socket|banner exchange|UNPROTECTED|REMOTE HOST IDENTIFICATION/i
    .test(stderr) || stderr.trim() === "";
}

function lastLine(s: string): string {
  return s.trim().split("\n").filter(Boolean).pop() ?? "connection failed";
}

/** Make the run's private ControlMaster directory. */
export function makeControlDir(): string {
  const base = Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp";
  let dir: string;
  try {
    dir = Deno.makeTempDirSync({ dir: base, prefix: "drover-ssh-" });
  } catch {
    dir = Deno.makeTempDirSync({ prefix: "drover-ssh-" });
  }
  Deno.chmodSync(dir, 0o700);
  return dir;
}
