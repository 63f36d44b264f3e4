/**
 * What a person sees in a terminal: live progress on a real pty (drover run
 * under `script`, its output replayed in a headless terminal emulator), plain
 * lines in a pipe, and what -v, -vv and -vvv add.
 */
import assert from "node:assert/strict";
import xterm from "@xterm/headless";
import { drover, ROOT, withTempDir } from "./helpers.ts";

const SLOW = `- name: Slow play
  hosts: all
  gather_facts: false
  tasks:
    - name: Wait for the service
      command: sleep 3
    - name: Write a file
      copy: { dest: "{{ dir }}/f.txt", content: "token={{ grafana_cloud_token }}\\n" }
`;

/** Run drover on a pseudo-terminal (util-linux `script`); returns the raw bytes it wrote. */
async function onPty(args: string[]): Promise<{ code: number; raw: string }> {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const cmd = [Deno.execPath(), "run", "--allow-all", "--quiet", `${ROOT}/main.ts`, ...args]
    .map(q).join(" ");
  const out = await new Deno.Command("script", {
    args: ["-qefc", cmd, "/dev/null"],
    cwd: ROOT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      TERM: "xterm-256color",
      DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, raw: new TextDecoder().decode(out.stdout) };
}

/** The screen a terminal shows after `raw` (160 columns: the recap line is longer than 80). */
async function screen(raw: string): Promise<string[]> {
  const t = new xterm.Terminal({ cols: 160, rows: 200, allowProposedApi: true });
  await new Promise<void>((r) => t.write(raw, r));
  const b = t.buffer.active;
  const lines: string[] = [];
  for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)!.translateToString(true));
  t.dispose();
  return lines.filter((l) => l.trim() !== "");
}

Deno.test("on a terminal: a live line with elapsed time while a task runs, then only the result", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/slow.yml`, SLOW);
    const { code, raw } = await onPty([
      `${dir}/slow.yml`,
      "-e",
      `dir=${dir}`,
      "-e",
      "grafana_cloud_token=glc_PtySecret_99",
    ]);
    assert.equal(code, 0, raw);
    assert.match(raw, /\[localhost\] running [1-9]s/, "no live line was drawn");
    assert.ok(raw.includes("\x1b[2K"), "the live line was not erased in place");
    assert.ok(raw.includes("\x1b[33mchanged: [localhost]"), "statuses are not coloured");
    assert.ok(!raw.includes("glc_PtySecret_99"));
    const lines = await screen(raw);
    assert.ok(!lines.some((l) => l.includes("running")), lines.join("\n"));
    const i = lines.findIndex((l) => l.startsWith("TASK [Wait for the service]"));
    assert.ok(i >= 0, lines.join("\n"));
    assert.equal(lines[i + 1], "changed: [localhost]");
    assert.match(lines.at(-1)!, /^localhost +: ok=2 +changed=2 /);
  });
});

Deno.test("in a pipe: no escape codes and nothing rewritten, even with colours allowed", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/slow.yml`, SLOW);
    const run = await drover([
      `${dir}/slow.yml`,
      "-e",
      `dir=${dir}`,
      "-e",
      "grafana_cloud_token=glc_x_1234",
    ], { env: { NO_COLOR: "" } });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes("\x1b") && !run.stdout.includes("\r"), run.stdout);
    assert.ok(!run.stdout.includes("running"));
    assert.match(run.stdout, /TASK \[Wait for the service\] \*+\nchanged: \[localhost\]\n/);
  });
});

Deno.test("-v shows module results, -vv the commands (secrets and file data hidden), -vvv connections", async () => {
  await withTempDir(async (dir) => {
    const pb = `${dir}/pb.yml`;
    await Deno.writeTextFile(
      pb,
      `- hosts: all
  gather_facts: false
  tasks:
    - name: Say
      command: echo hello
    - name: Write
      copy: { dest: "{{ dir }}/{{ out }}", content: "key={{ grafana_cloud_token }} {{ 'x' * 200 }}\\n" }
`,
    );
    const base = [pb, "-e", `dir=${dir}`, "-e", "grafana_cloud_token=glc_VerboseSecret_42"];
    // Each run writes its own file, so each one sends the file's content.
    const v0 = await drover([...base, "-e", "out=v0"]);
    const v1 = await drover([...base, "-e", "out=v1", "-v"]);
    const v2 = await drover([...base, "-e", "out=v2", "-vv"]);
    const v3 = await drover([...base, "-e", "out=v3", "-vvv"]);
    for (const r of [v0, v1, v2, v3]) {
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stdout.includes("glc_VerboseSecret_42"));
      assert.ok(!r.stdout.includes(btoa("key=glc_VerboseSecret_42").slice(0, 16)));
    }
    assert.ok(!v0.stdout.includes('"stdout":"hello"'));
    assert.match(v1.stdout, /changed: \[localhost\] => \{.*"stdout":"hello"/);
    assert.ok(!v1.stdout.includes("EXEC"));
    assert.match(v2.stdout, /task path: .*pb\.yml:4:7/);
    assert.match(v2.stdout, /<localhost> EXEC:\n {4}exec echo hello/);
    assert.match(v2.stdout, /<heredoc data hidden: \d+ lines?, \d+ bytes>/);
    assert.ok(!v2.stdout.includes("CONNECT"));
    assert.match(v3.stdout, /<localhost> CONNECT local/);
  });
});
