/**
 * @module
 * How commands reach a host. Connections run POSIX shell scripts sent over
 * stdin (nothing secret ever lands in a process's argv) and write files
 * atomically. `local` and `ssh` implement it.
 */

/** Privilege escalation for one call. */
export interface Become {
  readonly user: string;
}

/** Options of {@linkcode Connection.exec}. */
export interface ExecOptions {
  /** Run as another user through sudo. */
  readonly become?: Become;
  /** Extra environment variables for the script (exported inside the script, not argv). */
  readonly env?: Readonly<Record<string, string>>;
  /** Give up after this many milliseconds (the command is killed). */
  readonly timeoutMs?: number;
  /**
   * What a trace (`-vv`) shows instead of the script: the command as the
   * module sent it, without what the engine added around it.
   */
  readonly shown?: string;
  /**
   * Another command of the same task follows at once: the engine adds no
   * reads of the tasks ahead after this one (the next command would drop them).
   */
  readonly more?: boolean;
}

/** What a script printed and how it exited. */
export interface ExecResult {
  readonly rc: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The host could not be reached, or the connection to it was lost. */
export class UnreachableError extends Error {
  constructor(readonly host: string, message: string) {
    super(message);
    this.name = "UnreachableError";
  }
}

/** sudo wanted a password that drover does not have. */
export class BecomeError extends Error {
  constructor(readonly host: string, message: string) {
    super(message);
    this.name = "BecomeError";
  }
}

/** A way to run scripts on one host. */
export interface Connection {
  /** Inventory name of the host. */
  readonly host: string;
  /** Run `script` with `sh` on the host; the script travels over stdin. */
  exec(script: string, options?: ExecOptions): Promise<ExecResult>;
  /**
   * Hand over the output of the sudo probe (`BECOME_PROBE` in
   * src/connection/become.ts) that ran inside another script, so `become`
   * needs no probe round trip of its own.
   */
  primeBecome?(probeOutput: string): void;
  /**
   * No more commands: end what runs them on the host (SSH's long-lived
   * shell), keeping the connection itself. Safe to call twice; `close` does
   * it too.
   */
  endCommands?(): Promise<void>;
  /** Close any persistent resources (SSH masters). Safe to call twice. */
  close(): Promise<void>;
}

/** The sudo password given with -K, held in memory only. */
export interface BecomeSecret {
  readonly password?: string;
}
