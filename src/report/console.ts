/**
 * @module
 * The console reporter: Ansible-style `PLAY [...]`, `TASK [...]`, one line
 * per host, `PLAY RECAP`. Colours only on a TTY (and never with NO_COLOR).
 * On a TTY, a task that runs longer than a second gets a live line per host
 * with the time elapsed, replaced by the host's `ok/changed/failed` line
 * when it ends (drawn by `npm:log-update`). Without a TTY every line is
 * printed once, in order, with no escape codes.
 *
 * Verbosity: `-v` adds module results, `-vv` task paths and the commands
 * sent to each host, `-vvv` how each host is reached.
 */
import { type Colors, createColors } from "./colors.ts";
import type { EngineEvent, EventOf, HostStats } from "../core/events.ts";
import { unifiedDiff } from "../modules/_files.ts";

/** Where live lines are drawn: redrawn in place, erased before permanent output. */
export interface LiveArea {
  /** Show these lines in place of the previous ones. */
  render(lines: readonly string[]): void;
  /** Erase the live lines. */
  clear(): void;
}

/** A terminal-like output stream (stdout, or a fake one in tests). */
export interface TtyStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
  write(text: string): unknown;
}

/**
 * A {@linkcode LiveArea} drawn on `stream` by log-update. log-update (and
 * the string-width tables it pulls in) is loaded only here, on a TTY: a run
 * without one does not pay for it at start-up.
 */
export async function logUpdateArea(stream: TtyStream): Promise<LiveArea> {
  const { createLogUpdate } = await import("log-update");
  // log-update only needs write/isTTY/columns/rows; its types ask for a Node stream.
  const lu = createLogUpdate(stream as unknown as NodeJS.WriteStream, { showCursor: true });
  return {
    render: (lines) => lu(lines.join("\n")),
    clear: () => lu.clear(),
  };
}

/** Options of {@linkcode ConsoleReporter}. */
export interface ConsoleOptions {
  readonly verbosity: number;
  readonly color: boolean;
  readonly diff: boolean;
  /** Print one permanent line. */
  readonly write: (line: string) => void;
  /** Live progress lines (only on a TTY); absent: nothing is ever rewritten. */
  readonly live?: LiveArea;
  /** Terminal width for live lines (default 80). */
  readonly columns?: () => number;
  /** Clock, in ms (tests pass a fake one). */
  readonly now?: () => number;
  /** A host gets a live line once its task has run this long (default 1000 ms). */
  readonly liveAfterMs?: number;
  /** Redraw live lines this often (default 500 ms; 0: only when {@linkcode ConsoleReporter.refresh} is called). */
  readonly refreshMs?: number;
}

const WIDTH = 80;
const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";
const SCRIPT_LINES = 25;

function banner(title: string): string {
  return `${title} ${"*".repeat(Math.max(3, WIDTH - title.length - 1))}`;
}

/** `12s`, `3m05s`: the time a task has been running. */
export function elapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

interface Running {
  since: number;
  lastItem?: string;
}

/** Prints events as ansible-playbook does. */
export class ConsoleReporter {
  readonly #c: Colors;
  readonly #now: () => number;
  #pendingTask?: string;
  readonly #running = new Map<string, Running>();
  #shown = false;
  #frame = 0;
  #timer?: ReturnType<typeof setInterval>;

  constructor(private readonly o: ConsoleOptions) {
    this.#c = createColors(o.color);
    this.#now = o.now ?? Date.now;
  }

  /** Handle one event. */
  on = (e: EngineEvent): void => {
    const c = this.#c;
    const w = (line: string) => this.#line(line);
    switch (e.type) {
      case "run_start":
        if (e.check) w(c.magenta("(check mode: nothing will be changed on any host)\n"));
        break;
      case "play_start":
        this.#stopLive();
        w(`\n${banner(`PLAY [${e.name}]`)}`);
        if (e.warning) w(c.magenta(`[WARNING]: ${e.warning}`));
        break;
      case "task_start":
        this.#stopLive();
        this.#pendingTask = `\n${banner(`${e.handler ? "RUNNING HANDLER" : "TASK"} [${e.name}]`)}${
          this.o.verbosity >= 2 && e.pos ? `\ntask path: ${e.pos}` : ""
        }`;
        if (this.o.live) {
          const t = this.#now();
          for (const h of e.hosts) this.#running.set(h, { since: t });
          this.#startTimer();
        }
        break;
      case "host_result":
        this.#flushTask();
        this.#hostResult(e);
        if (this.#running.has(e.host)) {
          if (e.item === undefined) this.#running.delete(e.host);
          else this.#running.set(e.host, { since: this.#now(), lastItem: e.item });
        }
        break;
      case "command":
        if (this.o.verbosity >= 2) {
          this.#flushTask();
          const lines = e.script.replace(/^\s*\n/, "").replace(/\n\s*$/, "").split("\n");
          const shown = lines.slice(0, SCRIPT_LINES).map((l) => `    ${l}`);
          if (lines.length > SCRIPT_LINES) {
            shown.push(
              `    … ${lines.length - SCRIPT_LINES} more lines (all of it with --json -vv)`,
            );
          }
          const env = e.env?.length ? ` env: ${e.env.join(",")}` : "";
          w(c.dim(
            `<${e.host}> EXEC${e.become ? ` (become ${e.become})` : ""}${env}:\n${
              shown.join("\n")
            }`,
          ));
        }
        break;
      case "connection":
        if (this.o.verbosity >= 3) {
          this.#flushTask();
          const target = e.kind === "local"
            ? "this machine"
            : `${e.user ? `${e.user}@` : ""}${e.address ?? e.host}${e.port ? `:${e.port}` : ""}`;
          const opts = Object.entries(e.options ?? {}).map(([k, v]) => `${k}=${v}`).join(" ");
          w(c.dim(`<${e.host}> CONNECT ${e.kind} ${target}${opts ? ` (${opts})` : ""}`));
        }
        break;
      case "warning":
        w(c.magenta(`[WARNING]: ${e.host ? `${e.host}: ` : ""}${e.msg}`));
        break;
      case "recap":
        this.#stopLive();
        w(`\n${banner("PLAY RECAP")}`);
        for (const [host, s] of Object.entries(e.hosts)) w(recapLine(host, s, c));
        w("");
        break;
      case "error":
        this.#stopLive();
        break;
      case "run_end":
        this.#stopLive();
        if (e.interrupted) w(c.red("[ERROR]: User interrupted execution"));
        break;
    }
    if (this.o.live && this.#running.size > 0) this.refresh();
  };

  /** Redraw the live lines (the timer calls this; tests call it with a fake clock). */
  refresh = (): void => {
    const live = this.o.live;
    if (!live) return;
    const now = this.#now();
    const after = this.o.liveAfterMs ?? 1000;
    const due = [...this.#running].filter(([, r]) => now - r.since >= after);
    if (due.length === 0) {
      if (this.#shown) live.clear();
      this.#shown = false;
      return;
    }
    this.#flushTask();
    const cols = Math.max(20, (this.o.columns?.() ?? WIDTH) - 1);
    const spin = SPINNER[this.#frame++ % SPINNER.length];
    const lines = due.map(([host, r]) => {
      const text = `${spin} [${host}] running ${elapsed(now - r.since)}${
        r.lastItem !== undefined ? ` (after item=${r.lastItem})` : ""
      }`;
      return this.#c.cyan(text.length > cols ? `${text.slice(0, cols - 1)}…` : text);
    });
    live.render(lines);
    this.#shown = true;
  };

  /** Stop the live-progress timer and erase the live lines. */
  close(): void {
    this.#stopLive();
  }

  #line(text: string): void {
    if (this.#shown) {
      this.o.live?.clear();
      this.#shown = false;
    }
    this.o.write(text);
  }

  #flushTask(): void {
    if (this.#pendingTask) {
      const t = this.#pendingTask;
      this.#pendingTask = undefined;
      this.#line(t);
    }
  }

  #startTimer(): void {
    const every = this.o.refreshMs ?? 500;
    if (every <= 0 || this.#timer !== undefined) return;
    const timer = setInterval(this.refresh, every);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #stopLive(): void {
    this.#running.clear();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#shown) this.o.live?.clear();
    this.#shown = false;
  }

  #hostResult(e: EventOf<"host_result">): void {
    const c = this.#c;
    const w = (line: string) => this.#line(line);
    const item = e.item !== undefined ? ` => (item=${e.item})` : "";
    const withResult = (s: string) => {
      const data = e.result && this.o.verbosity >= 1 ? e.result : undefined;
      if (isDebug(e) && e.result) {
        return `${s} => ${JSON.stringify(debugView(e.result), null, 4)}`;
      }
      return data ? `${s} => ${JSON.stringify(data)}` : s;
    };
    if (this.o.diff && e.diff) {
      for (const d of e.diff) w(colorDiff(unifiedDiff(d.before, d.after, d.target), c));
    }
    for (const warn of e.warnings ?? []) w(c.magenta(`[WARNING]: ${warn}`));
    if (e.status === "ok") w(c.green(withResult(`ok: [${e.host}]${item}`)));
    else if (e.status === "changed") w(c.yellow(withResult(`changed: [${e.host}]${item}`)));
    else if (e.status === "skipped") w(c.cyan(`skipping: [${e.host}]${item}`));
    else if (e.status === "unreachable") {
      w(c.red(
        `fatal: [${e.host}]: UNREACHABLE! => ${
          JSON.stringify({ changed: false, msg: e.msg, unreachable: true })
        }`,
      ));
    } else {
      const payload: Record<string, unknown> = { changed: e.changed, msg: e.msg };
      if (e.result && this.o.verbosity >= 1) Object.assign(payload, e.result);
      else if (e.result) {
        for (
          const k of ["rc", "stderr", "stdout"]
        ) if (e.result[k] !== undefined && e.result[k] !== "") payload[k] = e.result[k];
      }
      // Ansible: "failed: [h] (item=x) => {...}" for an item, "fatal: [h]: FAILED! => {...}" for a task.
      w(c.red(
        e.item !== undefined
          ? `failed: [${e.host}] (item=${e.item}) => ${JSON.stringify(payload)}`
          : `fatal: [${e.host}]: FAILED! => ${JSON.stringify(payload)}`,
      ));
      if (e.ignored) w(c.cyan("...ignoring"));
    }
  }
}

function isDebug(e: EventOf<"host_result">): boolean {
  return e.module === "debug" && e.status !== "skipped";
}

function debugView(r: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { changed: _c, failed: _f, ...rest } = r;
  return rest;
}

function colorDiff(text: string, c: Colors): string {
  return text.replace(/\n$/, "").split("\n").map((
    l,
  ) => (l.startsWith("+")
    ? c.green(l)
    : l.startsWith("-")
    ? c.red(l)
    : l.startsWith("@@")
    ? c.cyan(l)
    : l)
  ).join("\n");
}

/** One PLAY RECAP line, padded like Ansible's. */
export function recapLine(host: string, s: HostStats, c = createColors(false)): string {
  const col = (label: string, n: number, color: (s: string) => string) => {
    const t = `${label}=${n}`;
    return `${n > 0 ? color(t) : t}${" ".repeat(Math.max(1, 4 - String(n).length))}`;
  };
  const name = s.failed || s.unreachable ? c.red(host) : s.changed ? c.yellow(host) : c.green(host);
  return `${name}${" ".repeat(Math.max(1, 27 - host.length))}: ${col("ok", s.ok, c.green)} ${
    col("changed", s.changed, c.yellow)
  } ${col("unreachable", s.unreachable, c.red)} ${col("failed", s.failed, c.red)} ${
    col("skipped", s.skipped, c.cyan)
  } ${col("rescued", s.rescued, c.magenta)} ${col("ignored", s.ignored, c.magenta)}`.trimEnd();
}
