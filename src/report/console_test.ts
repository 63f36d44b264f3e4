import assert from "node:assert/strict";
import xterm from "@xterm/headless";
import { ConsoleReporter, elapsed, logUpdateArea } from "./console.ts";
import type { EngineEvent } from "../core/events.ts";

/** A fake terminal: what was written, and the screen a real terminal would show. */
function fakeTty(columns = 80) {
  const chunks: string[] = [];
  return {
    chunks,
    stream: { isTTY: true, columns, rows: 24, write: (s: string) => chunks.push(s) },
    async screen(): Promise<string[]> {
      const t = new xterm.Terminal({
        cols: columns,
        rows: 40,
        convertEol: true,
        allowProposedApi: true,
      });
      await new Promise<void>((r) => t.write(chunks.join(""), r));
      const b = t.buffer.active;
      const lines: string[] = [];
      for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)!.translateToString(true));
      t.dispose();
      return lines.filter((l) => l.trim() !== "");
    },
  };
}

const task = (name: string, hosts: string[]): EngineEvent => ({
  type: "task_start",
  name,
  handler: false,
  pos: "site.yml:3:5",
  hosts,
});
const result = (host: string, status: "ok" | "changed", item?: string): EngineEvent => ({
  type: "host_result",
  host,
  task: "t",
  status,
  item,
  changed: status === "changed",
  durationMs: 5000,
});

Deno.test("on a TTY, a long task shows a live line per host with the time elapsed, replaced by its result", async () => {
  const tty = fakeTty();
  let now = 0;
  const r = new ConsoleReporter({
    verbosity: 0,
    color: true,
    diff: false,
    write: (l) => tty.stream.write(`${l}\n`),
    live: await logUpdateArea(tty.stream),
    now: () => now,
    refreshMs: 0,
  });
  r.on(task("Install alloy", ["web1", "web2"]));
  now = 400;
  r.refresh();
  assert.deepEqual(await tty.screen(), [], "a short task draws nothing (not even its banner yet)");
  now = 12_000;
  r.refresh();
  let screen = await tty.screen();
  assert.match(screen[0], /^TASK \[Install alloy\] \*+$/);
  assert.match(screen[1], /\[web1\] running 12s$/);
  assert.match(screen[2], /\[web2\] running 12s$/);
  r.on(result("web1", "changed"));
  now = 75_000;
  r.refresh();
  screen = await tty.screen();
  assert.equal(screen[1], "changed: [web1]");
  assert.match(screen[2], /\[web2\] running 1m15s$/);
  assert.equal(screen.length, 3);
  r.on(result("web2", "ok"));
  r.on({ type: "run_end", exitCode: 0, durationMs: 75_000, interrupted: false });
  screen = await tty.screen();
  assert.deepEqual(screen.slice(1), ["changed: [web1]", "ok: [web2]"]);
  assert.ok(tty.chunks.join("").includes("\x1b[33mchanged: [web1]"), "statuses are coloured");
  r.close();
});

Deno.test("a loop keeps the host's live line, restarting the clock at each item", async () => {
  const tty = fakeTty();
  let now = 0;
  const r = new ConsoleReporter({
    verbosity: 0,
    color: false,
    diff: false,
    write: (l) => tty.stream.write(`${l}\n`),
    live: await logUpdateArea(tty.stream),
    now: () => now,
    refreshMs: 0,
  });
  r.on(task("Remove images", ["web1"]));
  now = 3000;
  r.on(result("web1", "changed", "jaeger"));
  now = 5500;
  r.refresh();
  const screen = await tty.screen();
  assert.equal(screen[1], "changed: [web1] => (item=jaeger)");
  assert.match(screen[2], /\[web1\] running 2s \(after item=jaeger\)$/);
  r.on(task("Next", ["web1"]));
  assert.equal((await tty.screen()).length, 2, "the next task erases the live line");
  r.close();
});

Deno.test("without a TTY: plain lines in order, no escape codes, nothing rewritten", () => {
  const lines: string[] = [];
  let now = 0;
  const r = new ConsoleReporter({
    verbosity: 2,
    color: false,
    diff: true,
    write: (l) => lines.push(l),
    now: () => now,
    refreshMs: 0,
  });
  const events: EngineEvent[] = [
    { type: "run_start", version: "0", playbook: "p.yml", check: true, diff: true, args: [] },
    { type: "play_start", name: "p", hosts: ["web1"] },
    task("Write config", ["web1"]),
    { type: "command", host: "web1", script: "cat /etc/os-release\n", become: "root" },
    {
      type: "host_result",
      host: "web1",
      task: "Write config",
      status: "changed",
      changed: true,
      diff: [{ target: "/etc/alloy/config.alloy", before: "a\n", after: "b\n" }],
      durationMs: 60_000,
    },
    {
      type: "recap",
      hosts: {
        web1: { ok: 1, changed: 1, unreachable: 0, failed: 0, skipped: 0, rescued: 0, ignored: 0 },
      },
    },
    { type: "run_end", exitCode: 0, durationMs: 60_000, interrupted: false },
  ];
  for (const e of events) {
    r.on(e);
    now += 30_000;
    r.refresh();
  }
  const out = lines.join("\n");
  assert.ok(!out.includes("\x1b") && !out.includes("\r"), JSON.stringify(out));
  assert.ok(!out.includes("running"));
  assert.match(out, /<web1> EXEC \(become root\):\n {4}cat \/etc\/os-release/);
  assert.match(out, /-a\n\+b\nchanged: \[web1\]/);
  r.close();
});

Deno.test("elapsed() reads like a clock", () => {
  assert.equal(elapsed(999), "0s");
  assert.equal(elapsed(59_999), "59s");
  assert.equal(elapsed(65_000), "1m05s");
});
