/**
 * @module
 * The console reporter: Ansible-style `PLAY [...]`, `TASK [...]`, one line
 * per host, `PLAY RECAP`. Colours only on a TTY (and never with NO_COLOR).
 */
import pc from "picocolors";
import type { EngineEvent, HostStats } from "../core/events.ts";
import { unifiedDiff } from "../modules/_files.ts";

/** Options of {@linkcode ConsoleReporter}. */
export interface ConsoleOptions {
  readonly verbosity: number;
  readonly color: boolean;
  readonly diff: boolean;
  readonly write: (line: string) => void;
}

const WIDTH = 80;

function banner(title: string): string {
  return `${title} ${"*".repeat(Math.max(3, WIDTH - title.length - 1))}`;
}

/** Prints events as ansible-playbook does. */
export class ConsoleReporter {
  readonly #c: ReturnType<typeof pc.createColors>;
  #pendingTask?: string;

  constructor(private readonly o: ConsoleOptions) {
    this.#c = pc.createColors(o.color);
  }

  /** Handle one event. */
  on = (e: EngineEvent): void => {
    const c = this.#c;
    const w = this.o.write;
    switch (e.type) {
      case "run_start":
        if (e.check) w(c.magenta("(check mode: nothing will be changed on any host)\n"));
        break;
      case "play_start":
        w(`\n${banner(`PLAY [${e.name}]`)}`);
        if (e.warning) w(c.magenta(`[WARNING]: ${e.warning}`));
        break;
      case "task_start":
        this.#pendingTask = `\n${banner(`${e.handler ? "RUNNING HANDLER" : "TASK"} [${e.name}]`)}${
          this.o.verbosity >= 2 && e.pos ? `\ntask path: ${e.pos}` : ""
        }`;
        break;
      case "host_result": {
        if (this.#pendingTask) {
          w(this.#pendingTask);
          this.#pendingTask = undefined;
        }
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
          w(c.red(
            `${e.ignored ? "failed" : "fatal"}: [${e.host}]${item}: FAILED! => ${
              JSON.stringify(payload)
            }`,
          ));
          if (e.ignored) w(c.cyan("...ignoring"));
        }
        break;
      }
      case "warning":
        w(c.magenta(`[WARNING]: ${e.host ? `${e.host}: ` : ""}${e.msg}`));
        break;
      case "recap":
        w(`\n${banner("PLAY RECAP")}`);
        for (const [host, s] of Object.entries(e.hosts)) w(recapLine(host, s, c));
        w("");
        break;
      case "run_end":
        if (e.interrupted) w(c.red("[ERROR]: User interrupted execution"));
        break;
    }
  };
}

function isDebug(e: Extract<EngineEvent, { type: "host_result" }>): boolean {
  return e.module === "debug" && e.status !== "skipped";
}

function debugView(r: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { changed: _c, failed: _f, ...rest } = r;
  return rest;
}

function colorDiff(text: string, c: ReturnType<typeof pc.createColors>): string {
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
export function recapLine(host: string, s: HostStats, c = pc.createColors(false)): string {
  const col = (label: string, n: number, color: (s: string) => string) => {
    const t = `${label}=${n}`;
    return (n > 0 ? color(t) : t).padEnd(
      t.length + Math.max(1, 4 - String(n).length) + (n > 0 && color !== String ? 0 : 0),
    );
  };
  const name = s.failed || s.unreachable ? c.red(host) : s.changed ? c.yellow(host) : c.green(host);
  return `${name}${" ".repeat(Math.max(1, 27 - host.length))}: ${col("ok", s.ok, c.green)} ${
    col("changed", s.changed, c.yellow)
  } ${col("unreachable", s.unreachable, c.red)} ${col("failed", s.failed, c.red)} ${
    col("skipped", s.skipped, c.cyan)
  } ${col("rescued", s.rescued, c.magenta)} ${col("ignored", s.ignored, c.magenta)}`.trimEnd();
}
