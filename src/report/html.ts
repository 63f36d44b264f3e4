/**
 * @module
 * `--report FILE.html`: one self-contained HTML file (inline CSS, no script,
 * no external asset, a Content-Security-Policy that forbids loading any) with
 * the run's metadata, the recap, a per-host timeline of task durations,
 * every change with its diff, every failure with its message and hint, and,
 * for a verify playbook, the success criteria as a checklist with memory
 * before/after. It is built from the same redacted events as the console.
 *
 * @example
 * ```ts
 * import { HtmlReporter } from "./html.ts";
 * const r = new HtmlReporter({ inventory: "inventory/localhost.yml" });
 * r.on({ type: "run_start", version: "0.1.0", playbook: "site.yml", check: true, diff: false, args: ["site.yml", "--check"] });
 * r.on({ type: "run_end", exitCode: 0, durationMs: 12, interrupted: false });
 * const html = r.render(); // "<!DOCTYPE html>..."
 * ```
 */
import type { EngineEvent, EventOf, HostStats, Status } from "../core/events.ts";
import { unifiedDiff } from "../modules/_files.ts";

/** A check task of the playbook, known before the run (see `src/cli/checks.ts`). */
export interface PlannedCheck {
  readonly name: string;
  readonly module: string;
  /** `file:line:col`, as in `task_start.pos`. */
  readonly pos: string;
}

/** What the CLI knows that events do not carry. */
export interface ReportMeta {
  /** The inventory file (or host list) the run used. */
  readonly inventory: string;
  /** The playbook's check tasks: a verify report lists them all, run or not. */
  readonly plannedChecks?: readonly PlannedCheck[];
}

/** Modules whose task is a pass/fail criterion in a verify run. */
export const CHECK_MODULES: ReadonlySet<string> = new Set(["assert", "uri", "wait_for", "fail"]);

interface TaskRec {
  readonly index: number;
  readonly name: string;
  readonly handler: boolean;
  readonly module?: string;
  readonly pos: string;
  readonly play: string;
}

interface ResultRec {
  readonly e: EventOf<"host_result">;
  readonly task: TaskRec;
  /** ms since run start. */
  readonly start: number;
  readonly end: number;
}

/** A criterion's outcome on one host. */
export type CheckOutcome = "pass" | "fail" | "skipped" | "unreachable" | "not run";

/** Collects events and renders the HTML report. */
export class HtmlReporter {
  readonly #now: () => number;
  #t0 = 0;
  #started?: Date;
  #runStart?: EventOf<"run_start">;
  #runEnd?: EventOf<"run_end">;
  #recap?: EventOf<"recap">;
  readonly #errors: EventOf<"error">[] = [];
  readonly #warnings: string[] = [];
  readonly #tasks: TaskRec[] = [];
  readonly #results: ResultRec[] = [];
  readonly #hosts = new Set<string>();
  #play = "";

  constructor(private readonly meta: ReportMeta, now: () => number = Date.now) {
    this.#now = now;
    this.#t0 = now();
  }

  /** Handle one event. */
  on = (e: EngineEvent): void => {
    const now = this.#now();
    switch (e.type) {
      case "run_start":
        this.#runStart = e;
        this.#t0 = now;
        this.#started = new Date();
        break;
      case "play_start":
        this.#play = e.name;
        for (const h of e.hosts) this.#hosts.add(h);
        if (e.warning) this.#warnings.push(`${e.name}: ${e.warning}`);
        break;
      case "task_start":
        this.#tasks.push({
          index: this.#tasks.length,
          name: e.name,
          handler: e.handler,
          module: e.module,
          pos: e.pos,
          play: this.#play,
        });
        break;
      case "host_result": {
        const task = this.#tasks.at(-1) ??
          { index: -1, name: e.task, handler: false, pos: "", play: this.#play };
        const end = now - this.#t0;
        this.#hosts.add(e.host);
        this.#results.push({ e, task, start: Math.max(0, end - e.durationMs), end });
        break;
      }
      case "warning":
        this.#warnings.push(`${e.host ? `${e.host}: ` : ""}${e.msg}`);
        break;
      case "recap":
        this.#recap = e;
        break;
      case "error":
        this.#errors.push(e);
        break;
      case "run_end":
        this.#runEnd = e;
        break;
    }
  };

  /** Whether this run is a verify run (its playbook is named verify*.yml). */
  get isVerify(): boolean {
    const pb = this.#runStart?.playbook ?? "";
    return /(^|\/)verify[^/]*\.ya?ml$/i.test(pb);
  }

  /** The report as one HTML document. */
  render(): string {
    const rs = this.#runStart;
    const title = `drover report: ${rs?.playbook ?? "(no run)"}`;
    const body = [
      this.#header(),
      ...this.#errors.map((e) =>
        `<section class="error" id="error"><h2>Error</h2><p class="msg">${esc(e.msg)}</p></section>`
      ),
      this.#recapSection(),
      this.isVerify ? this.#checklist() : "",
      this.#changes(),
      this.#failures(),
      this.#timeline(),
      this.#warningsSection(),
    ].join("\n");
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="drover ${esc(rs?.version ?? "")}">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
</body>
</html>
`;
  }

  #outcome(): { label: string; cls: string } {
    const end = this.#runEnd;
    if (!end) return { label: "did not finish", cls: "failed" };
    if (end.interrupted) return { label: "interrupted", cls: "failed" };
    if (end.exitCode === 0) return { label: "succeeded", cls: "ok" };
    if (end.exitCode === 2) return { label: "a host failed", cls: "failed" };
    if (end.exitCode === 4) return { label: "a host was unreachable", cls: "unreachable" };
    return { label: "error", cls: "failed" };
  }

  #header(): string {
    const rs = this.#runStart;
    const end = this.#runEnd;
    const o = this.#outcome();
    const rows: [string, string, string][] = [
      ["command", "Command line", rs ? `drover ${rs.args.map(shellWord).join(" ")}` : "(unknown)"],
      ["playbook", "Playbook", rs?.playbook ?? ""],
      ["inventory", "Inventory", this.meta.inventory],
      [
        "hosts",
        "Hosts",
        this.#hosts.size ? [...this.#hosts].join(", ") : "(none)",
      ],
      ["check", "Check mode", rs?.check ? "yes (nothing was changed)" : "no"],
      ["diff", "Diff", rs?.diff ? "yes" : "no"],
      ["started", "Started", this.#started?.toISOString() ?? ""],
      ["duration", "Duration", end ? seconds(end.durationMs) : ""],
      ["exit", "Exit code", end ? String(end.exitCode) : ""],
      ["version", "drover", rs?.version ?? ""],
    ];
    return `<header>
<h1>drover run report <span class="badge s-${o.cls}" id="outcome">${esc(o.label)}</span></h1>
<table class="meta" id="meta">
${
      rows.map(([k, label, v]) => `<tr data-key="${k}"><th>${label}</th><td>${esc(v)}</td></tr>`)
        .join("\n")
    }
</table>
</header>`;
  }

  #recapSection(): string {
    const hosts = this.#recap?.hosts ?? {};
    const cols: (keyof HostStats)[] = [
      "ok",
      "changed",
      "unreachable",
      "failed",
      "skipped",
      "rescued",
      "ignored",
    ];
    const rows = Object.entries(hosts).map(([host, s]) => {
      const st = s.unreachable ? "unreachable" : s.failed ? "failed" : s.changed ? "changed" : "ok";
      return `<tr class="host s-${st}" data-host="${esc(host)}" data-status="${st}"><th>${
        esc(host)
      }</th>${
        cols.map((c) => `<td data-col="${c}" class="${s[c] > 0 ? `n-${c}` : "zero"}">${s[c]}</td>`)
          .join("")
      }</tr>`;
    });
    return `<section id="recap"><h2>Recap</h2>
<table class="recap">
<thead><tr><th>host</th>${cols.map((c) => `<th>${c}</th>`).join("")}</tr></thead>
<tbody>
${rows.join("\n") || `<tr><td colspan="8">no host ran</td></tr>`}
</tbody>
</table>
</section>`;
  }

  /**
   * Criteria of a verify run, in playbook order: per check task, the outcome
   * on each host ("not run" where the host stopped before it).
   */
  checks(): { name: string; outcomes: Map<string, { outcome: CheckOutcome; msg?: string }> }[] {
    const isCheck = (t: TaskRec) => !t.handler && !!t.module && CHECK_MODULES.has(t.module);
    const ran = this.#tasks.filter(isCheck);
    const rows: { name: string; module: string; tasks: TaskRec[] }[] = [];
    const used = new Set<TaskRec>();
    for (const p of this.meta.plannedChecks ?? []) {
      const tasks = ran.filter((t) => t.pos === p.pos);
      tasks.forEach((t) => used.add(t));
      rows.push({ name: tasks[0]?.name ?? p.name, module: p.module, tasks });
    }
    for (const t of ran) {
      if (!used.has(t)) rows.push({ name: t.name, module: t.module!, tasks: [t] });
    }
    return rows.map(({ name, module, tasks }) => {
      const outcomes = new Map<string, { outcome: CheckOutcome; msg?: string }>();
      for (const host of this.#hosts) {
        const rs = this.#results.filter((r) => tasks.includes(r.task) && r.e.host === host);
        outcomes.set(host, checkOutcome(module, rs.map((r) => r.e)));
      }
      return { name, outcomes };
    });
  }

  #checklist(): string {
    const hosts = [...this.#hosts];
    const checks = this.checks();
    const mark: Record<CheckOutcome, string> = {
      pass: "✔",
      fail: "✘",
      skipped: "–",
      unreachable: "✘",
      "not run": "·",
    };
    const rows = checks.map(({ name, outcomes }) => {
      const all = [...outcomes.values()].map((o) => o.outcome);
      const overall: CheckOutcome = all.includes("fail") || all.includes("unreachable")
        ? "fail"
        : all.includes("pass")
        ? "pass"
        : all[0] ?? "not run";
      return `<tr class="criterion c-${
        cls(overall)
      }" data-outcome="${overall}"><th><span class="mark">${mark[overall]}</span> ${
        esc(name)
      }</th>${
        hosts.map((h) => {
          const o = outcomes.get(h) ?? { outcome: "not run" as const };
          return `<td class="c-${cls(o.outcome)}" data-host="${
            esc(h)
          }" data-outcome="${o.outcome}">${esc(o.outcome)}${
            o.msg ? `<div class="why">${esc(o.msg)}</div>` : ""
          }</td>`;
        }).join("")
      }</tr>`;
    });
    const mem = hosts.map((h) => this.#memory(h));
    const memRow = `<tr class="criterion memory c-${
      cls(memOverall(mem.map((m) => m.outcome)))
    }" data-outcome="${memOverall(mem.map((m) => m.outcome))}"><th><span class="mark">${
      mark[memOverall(mem.map((m) => m.outcome))]
    }</span> Memory usage reduced (before → after)</th>${
      mem.map((m, i) =>
        `<td class="c-${cls(m.outcome)}" data-host="${esc(hosts[i])}" data-outcome="${m.outcome}">${
          esc(m.text)
        }</td>`
      ).join("")
    }</tr>`;
    const info = this.#results.filter((r) =>
      r.task.module === "debug" && r.e.status !== "skipped" && r.e.result?.msg !== undefined
    ).map((r) =>
      `<li data-host="${esc(r.e.host)}"><b>${esc(r.e.host)}</b> ${esc(r.task.name)}: ${
        esc(String(r.e.result?.msg))
      }</li>`
    );
    return `<section id="checklist"><h2>Success criteria</h2>
<table class="checklist">
<thead><tr><th>criterion</th>${hosts.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead>
<tbody>
${rows.join("\n")}
${memRow}
</tbody>
</table>
${info.length ? `<ul class="info">${info.join("\n")}</ul>` : ""}
</section>`;
  }

  /**
   * Memory before/after on `host`, from facts set during the run: before is
   * `memory_before_mb` or `stack_memory_mb` (the Docker stack, recorded by
   * migrate), after is `memory_after_mb`, `alloy_memory_mb` or `alloy_memory_bytes`.
   */
  #memory(host: string): { outcome: CheckOutcome; text: string } {
    const facts: Record<string, unknown> = {};
    for (const r of this.#results) {
      const f = r.e.host === host ? r.e.result?.ansible_facts : undefined;
      if (f && typeof f === "object") Object.assign(facts, f);
    }
    const num = (v: unknown) => {
      const n = typeof v === "number"
        ? v
        : typeof v === "string" && v.trim() !== ""
        ? Number(v)
        : NaN;
      return Number.isFinite(n) ? n : undefined;
    };
    const before = num(facts.memory_before_mb) ?? num(facts.stack_memory_mb);
    const afterBytes = num(facts.alloy_memory_bytes);
    const after = num(facts.memory_after_mb) ?? num(facts.alloy_memory_mb) ??
      (afterBytes !== undefined ? afterBytes / 1048576 : undefined);
    const mb = (n: number | undefined) => (n === undefined ? "not recorded" : `${n.toFixed(1)} MB`);
    const text = `before ${mb(before)} → after ${mb(after)}`;
    if (before === undefined || after === undefined) return { outcome: "skipped", text };
    return {
      outcome: after < before ? "pass" : "fail",
      text: `${text} (${after <= before ? "−" : "+"}${Math.abs(before - after).toFixed(1)} MB)`,
    };
  }

  #changes(): string {
    const changed = this.#results.filter((r) => r.e.status === "changed");
    const items = changed.map((r) => {
      const diffs = (r.e.diff ?? []).map((d) =>
        `<pre class="diff" data-target="${esc(d.target)}">${
          colorDiff(unifiedDiff(d.before, d.after, d.target))
        }</pre>`
      ).join("");
      return `<li class="change" data-host="${
        esc(r.e.host)
      }"><div class="head"><span class="host">${esc(r.e.host)}</span> <span class="task">${
        esc(r.task.name)
      }</span>${
        r.e.item !== undefined ? ` <span class="item">(item=${esc(r.e.item)})</span>` : ""
      }</div>${r.e.msg ? `<p class="msg">${esc(r.e.msg)}</p>` : ""}${diffs}</li>`;
    });
    const check = this.#runStart?.check ? " (would change: check mode)" : "";
    return `<section id="changes"><h2>Changes${check} <span class="count">${changed.length}</span></h2>
${items.length ? `<ol class="changes">${items.join("\n")}</ol>` : `<p class="none">No change.</p>`}
</section>`;
  }

  #failures(): string {
    const failed = this.#results.filter((r) =>
      r.e.status === "failed" || r.e.status === "unreachable"
    );
    const items = failed.map((r) => {
      const extra = ["rc", "stderr", "stdout"].filter((k) =>
        r.e.result?.[k] !== undefined && r.e.result?.[k] !== ""
      ).map((k) =>
        `<div class="detail"><b>${k}</b> <pre>${esc(String(r.e.result?.[k]))}</pre></div>`
      )
        .join("");
      return `<li class="failure s-${r.e.status}${r.e.ignored ? " ignored" : ""}" data-host="${
        esc(r.e.host)
      }" data-status="${r.e.status}"><div class="head"><span class="host">${
        esc(r.e.host)
      }</span> <span class="task">${esc(r.task.name)}</span>${
        r.e.item !== undefined ? ` <span class="item">(item=${esc(r.e.item)})</span>` : ""
      }${r.e.ignored ? ` <span class="tag">ignored</span>` : ""}${
        r.e.status === "unreachable" ? ` <span class="tag">unreachable</span>` : ""
      }</div><p class="msg">${esc(r.e.msg ?? "(no message)")}</p>${
        r.e.hint ? `<p class="hint">Hint: ${esc(r.e.hint)}</p>` : ""
      }${r.task.pos ? `<p class="pos">${esc(r.task.pos)}</p>` : ""}${extra}</li>`;
    });
    return `<section id="failures"><h2>Failures <span class="count">${failed.length}</span></h2>
${
      items.length
        ? `<ol class="failures">${items.join("\n")}</ol>`
        : `<p class="none">No failure.</p>`
    }
</section>`;
  }

  #timeline(): string {
    const total = Math.max(
      1,
      this.#runEnd?.durationMs ?? 0,
      ...this.#results.map((r) => r.end),
    );
    const lanes = [...this.#hosts].map((host) => {
      const spans = this.#spans(host);
      const bars = spans.map((s) => {
        const left = (s.start / total) * 100;
        const width = Math.max(0.4, ((s.end - s.start) / total) * 100);
        return `<div class="bar s-${s.status}" data-task="${
          esc(s.task.name)
        }" data-status="${s.status}" style="left:${left.toFixed(3)}%;width:${
          Math.min(width, 100 - left).toFixed(3)
        }%" title="${esc(`${s.task.name}: ${s.status}, ${seconds(s.end - s.start)}`)}"></div>`;
      }).join("");
      const rows = spans.map((s) =>
        `<tr data-status="${s.status}"><td>${
          esc(s.task.name)
        }</td><td class="s-${s.status}">${s.status}</td><td class="num">${
          seconds(s.end - s.start)
        }</td></tr>`
      ).join("\n");
      return `<div class="lane-wrap" data-host="${esc(host)}"><div class="lane-name">${
        esc(host)
      }</div><div class="lane">${bars}</div>
<details><summary>${spans.length} tasks on ${esc(host)}</summary>
<table class="tasks"><thead><tr><th>task</th><th>status</th><th>duration</th></tr></thead><tbody>
${rows}
</tbody></table></details></div>`;
    });
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
      `<span style="left:${f * 100}%">${seconds(total * f)}</span>`
    ).join("");
    return `<section id="timeline"><h2>Timeline</h2>
<div class="axis"><div class="ticks">${ticks}</div></div>
${lanes.join("\n") || `<p class="none">No task ran.</p>`}
<p class="legend"><span class="key s-ok"></span>ok <span class="key s-changed"></span>changed <span class="key s-failed"></span>failed <span class="key s-skipped"></span>skipped <span class="key s-unreachable"></span>unreachable</p>
</section>`;
  }

  /** One span per task on `host` (loop items merged). */
  #spans(host: string): { task: TaskRec; start: number; end: number; status: Status }[] {
    const by = new Map<TaskRec, ResultRec[]>();
    for (const r of this.#results) {
      if (r.e.host !== host) continue;
      const l = by.get(r.task) ?? [];
      l.push(r);
      by.set(r.task, l);
    }
    return [...by].map(([task, rs]) => ({
      task,
      start: Math.min(...rs.map((r) => r.start)),
      end: Math.max(...rs.map((r) => r.end)),
      status: worst(rs.map((r) => r.e.status)),
    }));
  }

  #warningsSection(): string {
    if (this.#warnings.length === 0) return "";
    return `<section id="warnings"><h2>Warnings</h2><ul>${
      this.#warnings.map((w) => `<li>${esc(w)}</li>`).join("")
    }</ul></section>`;
  }
}

/** The outcome of a check task on one host, from its results (loop items included). */
export function checkOutcome(
  module: string,
  results: readonly EventOf<"host_result">[],
): { outcome: CheckOutcome; msg?: string } {
  if (results.length === 0) return { outcome: "not run" };
  const bad = results.find((r) => r.status === "failed" || r.status === "unreachable");
  if (bad) return { outcome: bad.status === "unreachable" ? "unreachable" : "fail", msg: bad.msg };
  // A `fail` task that was skipped is a check that passed: its condition was not met.
  if (results.every((r) => r.status === "skipped")) {
    return { outcome: module === "fail" ? "pass" : "skipped" };
  }
  return { outcome: "pass" };
}

function memOverall(all: CheckOutcome[]): CheckOutcome {
  if (all.includes("fail")) return "fail";
  if (all.includes("pass")) return "pass";
  return "skipped";
}

function cls(o: CheckOutcome): string {
  return o.replace(" ", "-");
}

const RANK: Record<Status, number> = { skipped: 0, ok: 1, changed: 2, failed: 3, unreachable: 4 };

function worst(all: Status[]): Status {
  return all.reduce((a, b) => (RANK[b] > RANK[a] ? b : a), all[0]);
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : `${(ms / 1000).toFixed(1)}s`;
}

function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** HTML-escape text for element content and attribute values. */
export function esc(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) =>
      c === "&"
        ? "&amp;"
        : c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === '"'
        ? "&quot;"
        : "&#39;",
  );
}

function colorDiff(text: string): string {
  return text.replace(/\n$/, "").split("\n").map((l) => {
    const k = l.startsWith("+++") || l.startsWith("---")
      ? "file"
      : l.startsWith("+")
      ? "add"
      : l.startsWith("-")
      ? "del"
      : l.startsWith("@@")
      ? "hunk"
      : "ctx";
    return `<span class="${k}">${esc(l)}</span>`;
  }).join("\n");
}

const CSS = `
:root{--ok:#2e7d32;--changed:#b26a00;--failed:#c62828;--skipped:#00838f;--unreachable:#6a1b9a;--bg:#fafafa;--fg:#1b1b1b;--mut:#666;--line:#ddd}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:24px 32px;max-width:1200px}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
table{border-collapse:collapse;background:#fff}th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
table.meta th{width:130px;color:var(--mut);font-weight:500}table.meta td{font-family:ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all}
.badge{display:inline-block;font-size:13px;padding:2px 10px;border-radius:12px;color:#fff;vertical-align:middle}
.badge.s-ok{background:var(--ok)}.badge.s-failed{background:var(--failed)}.badge.s-unreachable{background:var(--unreachable)}
table.recap td{text-align:right;min-width:70px;font-variant-numeric:tabular-nums}table.recap td.zero{color:#aaa}
tr.host.s-ok th{color:var(--ok)}tr.host.s-changed th{color:var(--changed)}tr.host.s-failed th{color:var(--failed)}tr.host.s-unreachable th{color:var(--unreachable)}
td.n-ok{color:var(--ok);font-weight:600}td.n-changed{color:var(--changed);font-weight:600}td.n-failed,td.n-unreachable{color:var(--failed);font-weight:600}td.n-skipped{color:var(--skipped)}
.count{display:inline-block;background:#e0e0e0;border-radius:10px;padding:0 8px;font-size:13px;font-weight:500}
ol.changes,ol.failures{padding-left:22px}ol li{margin:0 0 14px}
.head .host{font-weight:600}.head .task{font-family:ui-monospace,"DejaVu Sans Mono",monospace}.item{color:var(--mut)}
.tag{font-size:12px;border:1px solid currentColor;border-radius:4px;padding:0 4px;color:var(--mut)}
li.failure .msg{color:var(--failed);margin:4px 0;white-space:pre-wrap}li.failure.ignored .msg{color:var(--mut)}
.hint{margin:4px 0;background:#fff8e1;border-left:3px solid #ffb300;padding:4px 8px}.pos{color:var(--mut);margin:2px 0;font-size:12px}
pre{background:#fff;border:1px solid var(--line);padding:8px;overflow:auto;margin:6px 0;font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace}
pre.diff .add{color:var(--ok);background:#e8f5e9;display:inline-block;width:100%}pre.diff .del{color:var(--failed);background:#ffebee;display:inline-block;width:100%}pre.diff .hunk{color:var(--skipped)}pre.diff .file{color:var(--mut);font-weight:600}
.none{color:var(--mut)}
table.checklist td,table.checklist th{min-width:110px}table.checklist .mark{display:inline-block;width:18px;font-weight:700}
.c-pass{color:var(--ok)}.c-fail,.c-unreachable{color:var(--failed)}.c-skipped,.c-not-run{color:var(--mut)}
td.c-pass{background:#f1f8f1}td.c-fail,td.c-unreachable{background:#fdf0f0}.why{font-size:12px;white-space:pre-wrap}
ul.info{color:var(--mut)}
.axis{position:relative;height:18px;margin-left:160px;font-size:11px;color:var(--mut)}.ticks span{position:absolute;transform:translateX(-50%)}.ticks span:first-child{transform:none}.ticks span:last-child{transform:translateX(-100%)}
.lane-wrap{margin:6px 0}.lane-name{float:left;width:150px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;line-height:22px}
.lane{position:relative;height:22px;margin-left:160px;background:#fff;border:1px solid var(--line)}
.bar{position:absolute;top:2px;bottom:2px;border-radius:2px;min-width:2px;box-shadow:inset -1px 0 0 #fff}
.s-ok{--c:var(--ok)}.s-changed{--c:var(--changed)}.s-failed{--c:var(--failed)}.s-skipped{--c:var(--skipped)}.s-unreachable{--c:var(--unreachable)}
.bar,.key{background:var(--c)}.key{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-1px}
.lane-wrap details{margin-left:160px;font-size:12px}table.tasks td.num{text-align:right;font-variant-numeric:tabular-nums}
td.s-ok{color:var(--ok)}td.s-changed{color:var(--changed)}td.s-failed{color:var(--failed)}td.s-skipped{color:var(--skipped)}td.s-unreachable{color:var(--unreachable)}
section.error{background:#fdf0f0;border-left:4px solid var(--failed);padding:4px 12px}
`;
