/**
 * @module
 * The SSH connection: the user's OpenSSH client (so ~/.ssh/config, the
 * agent, ProxyJump and known_hosts work as for `ssh`), one ControlMaster per
 * host for the whole run, BatchMode (never hangs on a prompt). Scripts go
 * over stdin to `sh` on the host; nothing secret is ever in argv. Commands
 * without a time limit of their own run in one long-lived shell per host
 * ({@linkcode ResidentShell}) instead of a session each;
 * `DROVER_SSH_RESIDENT=0` gives every command its own session.
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
import { RESIDENT_MAX_SCRIPT, RESIDENT_START, ResidentShell } from "./resident.ts";
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
  /**
   * Seconds the ControlMaster stays after the run for the next run to reuse
   * (`--ssh-persist`, Ansible's ControlPersist); 0 or absent: closed at the end.
   */
  readonly persistS?: number;
}

/** A {@linkcode Connection} over OpenSSH. */
export class SshConnection implements Connection {
  readonly #become: BecomeWrapper;
  readonly #base: string[];
  #closed = false;
  #used = false;
  #resident?: ResidentShell;
  #residentOn = Deno.env.get("DROVER_SSH_RESIDENT") !== "0";
  readonly #commandLog = Deno.env.get("DROVER_COMMAND_LOG");

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
    // A command with a time limit is killed with its session; a sudo password
    // stays out of the shell's here-documents: those get a session of their own.
    if (
      this.#residentOn && timeoutMs === undefined && !cmd.includes("-S") &&
      fitsResident(stdin)
    ) {
      this.#resident ??= new ResidentShell([
        this.o.sshBinary ?? "ssh",
        ...this.#base,
        commandLine(["sh", "-c", RESIDENT_START]),
      ]);
      const resident = this.#resident;
      if (resident.ready) {
        const r = await resident.run(commandLine(cmd), stdin);
        if (r) {
          this.#log("resident");
          return r;
        }
        // A shell that would not run here ran nothing: the command gets a session.
        if (!resident.refused) {
          throw this.#unreachable(resident.leftover, "the connection was lost while a command ran");
        }
      }
    }
    this.#log("session");
    const r = await spawnWithStdin(
      [this.o.sshBinary ?? "ssh", ...this.#base, commandLine(cmd)],
      stdin,
      { timeoutMs },
    );
    if (r.timedOut) return { rc: 124, stdout: r.stdout, stderr: r.stderr + "\n(timed out)" };
    if (r.rc === 255 && isSshFailure(r.stderr)) throw this.#unreachable(r.stderr);
    return r;
  }

  #unreachable(stderr: string, otherwise = "connection failed"): UnreachableError {
    return new UnreachableError(
      this.host,
      `cannot reach ${this.host} over ssh (${
        this.target.user ? `${this.target.user}@` : ""
      }${this.target.address}${this.target.port ? `:${this.target.port}` : ""}): ${
        stderr.trim() ? lastLine(stderr) : otherwise
      }`,
    );
  }

  /** `DROVER_COMMAND_LOG`: one line per command (the bench counts round trips with it). */
  #log(via: "resident" | "session"): void {
    if (!this.#commandLog) return;
    Deno.writeTextFileSync(this.#commandLog, `${Date.now() / 1000} ${this.host} ${via}\n`, {
      append: true,
    });
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

  async endCommands(): Promise<void> {
    this.#residentOn = false;
    const resident = this.#resident;
    this.#resident = undefined;
    await resident?.close();
  }

  async close(): Promise<void> {
    await this.endCommands();
    if (this.#closed || !this.#used || (this.o.persistS ?? 0) > 0) return;
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
  o: Pick<SshOptions, "controlDir" | "connectTimeout" | "acceptNewHostKeys" | "persistS">,
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
    `ControlPersist=${(o.persistS ?? 0) > 0 ? o.persistS : 120}`,
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

/** The longest ControlMaster directory ssh can put its sockets in. */
const MAX_CONTROL_DIR = 107 - 1 - 40 - 17;

/**
 * Make the run's private ControlMaster directory. With `persist`, the
 * directory is the user's own `drover-ssh-UID` (in `$XDG_RUNTIME_DIR`, else
 * `/tmp`), kept between runs so that the next run finds the masters; it is
 * used only if it is a real directory owned by this user with mode 0700,
 * else the run gets a fresh private one (and nothing persists).
 */
export function makeControlDir(persist = false): { dir: string; shared: boolean } {
  // A socket path holds at most 107 bytes, and ssh adds "/", the 40 of %C
  // and a 17-byte temporary suffix: in a long $XDG_RUNTIME_DIR ssh would fail.
  const xdg = Deno.env.get("XDG_RUNTIME_DIR");
  const base = xdg && xdg.length + "/drover-ssh-0123456789abcdef".length <= MAX_CONTROL_DIR
    ? xdg
    : "/tmp";
  if (persist) {
    const dir = `${base}/drover-ssh-${Deno.uid() ?? "u"}`;
    try {
      Deno.mkdirSync(dir, { mode: 0o700 });
    } catch { /* exists (checked below) or cannot be made */ }
    try {
      const st = Deno.lstatSync(dir);
      if (
        st.isDirectory && !st.isSymlink && st.uid === Deno.uid() && ((st.mode ?? 0) & 0o077) === 0
      ) {
        return { dir, shared: true };
      }
    } catch { /* fall back to a private directory */ }
  }
  let dir: string;
  try {
    dir = Deno.makeTempDirSync({ dir: base, prefix: "drover-ssh-" });
  } catch {
    dir = Deno.makeTempDirSync({ prefix: "drover-ssh-" });
  }
  Deno.chmodSync(dir, 0o700);
  return { dir, shared: false };
}

/**
 * Whether a script is at most {@linkcode RESIDENT_MAX_SCRIPT} bytes of UTF-8.
 * A UTF-16 unit is at most 3 bytes, so most scripts are not encoded at all.
 */
function fitsResident(script: string): boolean {
  return script.length <= RESIDENT_MAX_SCRIPT / 3 ||
    (script.length <= RESIDENT_MAX_SCRIPT &&
      new TextEncoder().encode(script).length <= RESIDENT_MAX_SCRIPT);
}
