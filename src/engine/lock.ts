/**
 * @module
 * One drover run per host at a time. Right after connecting, a run takes an
 * exclusive `flock` on `/run/drover.lock` on the host (as root: directly,
 * with `sudo -n`, or with the -K password over stdin; a user who cannot
 * become root locks `$XDG_RUNTIME_DIR/drover-UID.lock` instead). The lock is
 * held by a long-lived process started over the run's own connection (the
 * SSH ControlMaster) whose stdin drover keeps open: it goes when the run
 * ends, on Ctrl-C, and when drover dies (the kernel closes the pipe, the
 * process on the host sees end of input and exits). A second run waits
 * `--lock-timeout` seconds (default 60), saying who holds the lock, then
 * fails that host with an error naming the host and the holder.
 *
 * @example
 * ```ts
 * const conn = withHostLock(new SshConnection(target, o), {
 *   spawn: (words) => ["ssh", ...sshArgs(target, o), commandLine(words)],
 *   timeoutS: 60,
 *   holder: holderInfo("playbooks/migrate.yml"),
 * });
 * ```
 */
import type { Connection, ExecOptions, ExecResult } from "../core/connection.ts";
import { DroverError } from "../core/errors.ts";

/** Default seconds a run waits for another run's lock on a host. */
export const DEFAULT_LOCK_TIMEOUT_S = 60;

/**
 * Runs as root (or the connecting user, see {@linkcode LOCK_SCRIPT}): takes
 * the lock, writes the holder's description into the lock file, prints
 * `LOCKED`, and holds the lock until its stdin ends. Prints `BUSY holder`
 * when it has to wait, `TIMEOUT holder` when it gave up, `NOLOCK why` when
 * this host cannot be locked (the run goes on without a lock).
 *
 * While it holds the lock it prints a heartbeat every 5 s: if the SSH
 * connection died without the host noticing (a network cut), sshd learns it
 * when it sends one, and ends the session, which releases the lock.
 *
 * When its stdin ends, the run's other commands over the same SSH
 * connection (the other children of the sshd process serving it) may still
 * run: a drover killed mid-task does not stop them. The lock is kept until
 * they end too (at most 10 minutes), so that the next run never
 * interleaves with them.
 */
export const HOLD_SCRIPT = `t=$1; info=$2
if [ "$(id -u)" = 0 ]; then f=/run/drover.lock; else f="\${XDG_RUNTIME_DIR:-/tmp}/drover-$(id -u).lock"; fi
if ! command -v flock >/dev/null 2>&1; then echo "NOLOCK flock(1) is not installed"; exec cat >/dev/null; fi
if ! ( : >>"$f" ) 2>/dev/null; then echo "NOLOCK cannot open $f"; exec cat >/dev/null; fi
exec 9>>"$f"
if ! flock -n 9; then
  echo "BUSY $(head -c 400 "$f" | tr -d '\\n')"
  if ! flock -w "$t" 9; then echo "TIMEOUT $(head -c 400 "$f" | tr -d '\\n')"; exit 1; fi
fi
printf '%s\\n' "$info" >"$f"
echo "LOCKED $f"
trap '' PIPE
(while :; do sleep 5 </dev/null >/dev/null 2>&1; echo . || exit 0; done) 9>&- &
hb=$!
cat >/dev/null
kill "$hb" 2>/dev/null
# /proc is read by the shell itself: the host pays a few ms for every process.
ppid() { l=; read -r l 2>/dev/null <"/proc/$1/stat" || return 1; l=\${l##*) }; set -- $l; pp=$2; }
others() {
  for st in /proc/[0-9]*/stat; do
    l=; read -r l 2>/dev/null <"$st" || continue
    pid=\${l%% *}; l=\${l##*) }; set -- $l
    [ "$2" = "$p" ] && [ "$pid" != "$s" ] && return 0
  done
  return 1
}
s=$$; p=
while :; do
  pp=; ppid "$s"
  case $pp in '' | 0 | 1) break ;; esac
  c=; read -r c 2>/dev/null <"/proc/$pp/comm"
  case $c in
  sshd*) p=$pp; break ;;
  sh | dash | bash | zsh | ksh | sudo) s=$pp ;;
  *) break ;;
  esac
done
if [ -n "$p" ]; then
  printf '%s; it ended, its commands still run on this host\n' "$info" >"$f"
  i=0
  while [ $i -lt 3000 ] && others; do
    sleep 0.2; i=$((i + 1))
  done
fi
: >"$f"
`;

/**
 * First runs the `prefetch` script, if any, as the connecting user (its
 * output framed by `PREFETCH nonce` / `PREFETCH-END nonce rc` lines): the
 * fact probe rides on the lock's session instead of a session of its own.
 * Then chooses how to reach root for {@linkcode HOLD_SCRIPT}: already root,
 * `sudo -n`, or (after asking drover `PASSWORD?` and reading `yes` and the
 * password, checked first, then piped to sudo -S ahead of the rest of stdin;
 * printf is a shell builtin, so it is in no argv) `sudo -S`; else the user's
 * own lock.
 */
export const LOCK_SCRIPT = `hold=$1; t=$2; info=$3
if [ -n "\${4:-}" ]; then
  if command -v timeout >/dev/null 2>&1; then o=$(timeout 60 sh -c "$4" 2>/dev/null </dev/null); r=$?
  else o=$(sh -c "$4" 2>/dev/null </dev/null); r=$?; fi
  printf 'PREFETCH %s\\n%s\\nPREFETCH-END %s %s\\n' "$5" "$o" "$5" "$r"
fi
if [ "$(id -u)" = 0 ]; then set -- sh
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then set -- sudo -n -- sh
elif command -v sudo >/dev/null 2>&1; then
  echo "PASSWORD?"
  IFS= read -r answer || exit 0
  if [ "$answer" = yes ]; then
    IFS= read -r pw || exit 0
    if ! printf '%s\n' "$pw" | sudo -k -S -p '' true 2>/dev/null; then
      echo "NOLOCK sudo did not take the become password"; exec cat >/dev/null
    fi
    { printf '%s\n' "$pw"; unset pw; exec cat; } | sudo -k -S -p '' -- sh -c "$hold" drover-lock "$t" "$info"
    exit 0
  fi
  set -- sh
else set -- sh
fi
exec "$@" -c "$hold" drover-lock "$t" "$info"
`;

/** How to start the lock holder on a host, and what to say. */
export interface LockOptions {
  /** argv that runs these words (`sh -c SCRIPT ...`) on the host, over the run's connection. */
  readonly spawn: (words: readonly string[]) => readonly string[];
  readonly timeoutS: number;
  /** Who holds the lock, as the waiting run will print it. */
  readonly holder: string;
  /** The -K sudo password, if any (sent over stdin only). */
  readonly password?: string;
  /** Told when the run has to wait for another run. */
  readonly onWait?: (msg: string) => void;
  /**
   * A read-only script (the fact probe) run as the connecting user in the
   * lock's own session, just before the lock is taken. The first exec of
   * exactly this script (no become, no env) gets that output instead of a
   * session of its own; not when the run had to wait for another run's lock
   * (the host may have changed meanwhile: it runs again then).
   */
  readonly prefetch?: string;
}

/** A one-line description of this run for the lock file. */
export function holderInfo(playbook: string): string {
  let user = "?";
  let host = "?";
  try {
    const name = Deno.env.get("USER") ?? Deno.env.get("LOGNAME");
    user = name ? `user ${name}` : `uid ${Deno.uid() ?? "?"}`;
    host = Deno.hostname();
  } catch { /* permissions: keep '?' */ }
  return `drover pid ${Deno.pid} on ${host} (${user}) since ${
    new Date().toISOString()
  }, running ${playbook}`.replace(/[\r\n]/g, " ");
}

/** `conn`, locked on the host from its first command until {@linkcode Connection.close}. */
export function withHostLock(conn: Connection, o: LockOptions): Connection {
  return new LockedConnection(conn, o);
}

class LockedConnection implements Connection {
  #lock?: Promise<void>;
  #child?: Deno.ChildProcess;
  #stdin?: WritableStreamDefaultWriter<Uint8Array>;
  #lines?: AsyncGenerator<string>;
  #prefetched?: ExecResult;

  constructor(private readonly inner: Connection, private readonly o: LockOptions) {}

  get host(): string {
    return this.inner.host;
  }

  async exec(script: string, options?: ExecOptions): Promise<ExecResult> {
    await (this.#lock ??= this.#acquire());
    const pre = this.#prefetched;
    if (pre && script === this.o.prefetch && !options?.become && !options?.env) {
      this.#prefetched = undefined;
      return pre;
    }
    return await this.inner.exec(script, options);
  }

  primeBecome(probeOutput: string): void {
    this.inner.primeBecome?.(probeOutput);
  }

  async close(): Promise<void> {
    // The holder waits for the run's commands still on the host: end them first.
    await this.inner.endCommands?.();
    await this.#release();
    await this.inner.close();
  }

  endCommands(): Promise<void> {
    return this.inner.endCommands?.() ?? Promise.resolve();
  }

  async #acquire(): Promise<void> {
    const nonce = crypto.randomUUID();
    const argv = this.o.spawn([
      "sh",
      "-c",
      LOCK_SCRIPT,
      "drover-lock",
      HOLD_SCRIPT,
      String(Math.max(0, Math.round(this.o.timeoutS))),
      this.o.holder,
      ...(this.o.prefetch ? [this.o.prefetch, nonce] : []),
    ]);
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    const enc = new TextEncoder();
    const lines = this.#lines = readLines(child.stdout);
    for (;;) {
      const { value: line, done } = await lines.next();
      if (done) {
        // The holder ended without saying: the host is unreachable (the probe
        // throws that), or something killed it (never run unlocked then).
        const rc = (await child.status).code;
        await this.#release();
        await this.inner.exec("true\n");
        throw new DroverError(`could not take the run lock on ${this.host} (exit ${rc})`, {
          host: this.host,
          hint: "run again; if it persists, run with -vvv and report it",
        });
      }
      if (line === `PREFETCH ${nonce}`) {
        const out: string[] = [];
        for (;;) {
          const next = await lines.next();
          if (next.done) break;
          if (next.value.startsWith(`PREFETCH-END ${nonce} `)) {
            const rc = Number(next.value.slice(`PREFETCH-END ${nonce} `.length));
            // A probe that failed or timed out runs again, on its own, as it always did.
            if (rc === 0) this.#prefetched = { rc, stdout: out.join("\n") + "\n", stderr: "" };
            break;
          }
          out.push(next.value);
        }
      } else if (line === "PASSWORD?") {
        const pw = this.o.password;
        await this.#stdin.write(enc.encode(pw === undefined ? "no\n" : `yes\n${pw}\n`));
      } else if (line.startsWith("BUSY ")) {
        // Read before another run let go of the host: read it again once locked.
        this.#prefetched = undefined;
        this.o.onWait?.(
          `locked by another drover run (${
            line.slice(5) || "holder unknown"
          }); waiting up to ${this.o.timeoutS} s for it to end (--lock-timeout)`,
        );
      } else if (line.startsWith("TIMEOUT ")) {
        await this.#release();
        throw new DroverError(
          `${this.host} is locked by another drover run (${
            line.slice(8) || "holder unknown"
          }); gave up after waiting ${this.o.timeoutS} s`,
          {
            host: this.host,
            hint:
              "let that run finish, or wait longer with --lock-timeout SECONDS; two runs on one host at once would interleave their changes",
          },
        );
      } else if (line.startsWith("LOCKED")) {
        (async () => {
          for await (const _ of lines) { /* heartbeats */ }
        })();
        return;
      } else if (line.startsWith("NOLOCK ")) {
        this.o.onWait?.(`running without a host lock: ${line.slice(7)}`);
        return;
      }
    }
  }

  async #release(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    // The clock starts before anything is awaited: the line reader's return()
    // only settles once the holder's output ends, which a holder still
    // waiting on the host would put off (a run that never ended).
    const timer = setTimeout(() => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }, 5000);
    try {
      try {
        await this.#stdin?.close();
      } catch { /* already gone */ }
      this.#lines?.return(undefined).catch(() => {});
      await child.status;
    } finally {
      clearTimeout(timer);
    }
  }
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
  if (buf) yield buf;
}
