/**
 * @module
 * Test helpers: run drover as a user would (a subprocess) and read its output.
 */
import { fromFileUrl } from "../src/cli/paths.ts";
import { dirname, join } from "../src/core/path.ts";

/** The project root. */
export const ROOT = join(dirname(fromFileUrl(import.meta.url)), "..");

/** What a drover run printed. */
export interface DroverRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `deno run main.ts ARGS` in the project root. */
export async function drover(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; stdin?: string } = {},
): Promise<DroverRun> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", join(ROOT, "main.ts"), ...args],
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1", DROVER_VALIDATE_EVENTS: "1", ...options.env },
    stdin: options.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Parse the PLAY RECAP lines into numbers per host. */
export function recap(stdout: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  const i = stdout.lastIndexOf("PLAY RECAP");
  if (i < 0) return out;
  for (const line of stdout.slice(i).split("\n").slice(1)) {
    const m = /^(\S+)\s+:\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    out[m[1]] = Object.fromEntries(
      [...m[2].matchAll(/(\w+)=(\d+)/g)].map((x) => [x[1], Number(x[2])]),
    );
  }
  return out;
}

/** Names of tasks reported `changed` per host, from console output. */
export function changedTasks(stdout: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let task = "";
  for (const line of stdout.split("\n")) {
    const t = /^(?:TASK|RUNNING HANDLER) \[(.*)\] \*+$/.exec(line);
    if (t) task = t[1];
    const c = /^changed: \[([^\]]+)\]/.exec(line);
    if (c) (out[c[1]] ??= []).push(task);
  }
  for (const k of Object.keys(out)) out[k] = [...new Set(out[k])];
  return out;
}

/** The events of a `--json` run (one JSON object per stdout line). */
export function jsonEvents(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

/** A play for localhost over the local connection, without facts, with these tasks (YAML). */
export function localPlay(tasks: string): string {
  return `- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
${tasks}`;
}

/** A fresh temporary directory removed after `fn`. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "drover-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
