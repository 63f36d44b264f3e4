/**
 * @module
 * The Ansible compatibility harness: runs one playbook with `ansible-playbook`
 * on one lab host and with drover on its twin (both reset to the same fresh
 * state), then compares what a user would see and what the hosts became:
 *
 * 1. `--check --diff` on the fresh twins: exit code, recap, per-task status,
 *    the values `debug` printed and the predicted file contents; and neither
 *    tool may have written anything.
 * 2. The real run: exit code, recap, per-task status, `debug` values, and the
 *    hosts' changes: every path either host's overlay upper dir changed
 *    (compared in the mounted root: type, content, mode, owner, link),
 *    systemd unit states, and firewall rules.
 * 3. The run again: both must report `changed=0`, with the same recap.
 *
 * `test/compat/run.ts` runs the whole corpus (`deno task compat`);
 * `test/compat_test.ts` runs a few. The method and every ignored path are
 * documented in `docs/compat.md`.
 */
import { ROOT } from "../helpers.ts";
import { join } from "../../src/core/path.ts";

/** Where the corpus lives. */
export const COMPAT_DIR = join(ROOT, "test", "compat");
/** The corpus playbooks. */
export const PLAYBOOK_DIR = join(COMPAT_DIR, "playbooks");
const LAB_STATE = "/var/lib/drover-lab";
const SSH_CONFIG = `${LAB_STATE}/ssh_config`;
/** The inventory name both tools see for their host, so `inventory_hostname` agrees. */
export const TWIN_NAME = "twin";

/** One task's outcome on the host, as either tool reported it. */
export interface TaskOutcome {
  readonly name: string;
  /** A failure with ignore_errors is "failed" too (the recap counts it as ignored). */
  readonly status: "ok" | "changed" | "failed" | "skipped" | "unreachable";
  /** Values `debug` printed (one per loop item). */
  readonly debug?: readonly unknown[];
  /** Content changes a copy/template/lineinfile diff shows (no-op diffs left out). */
  readonly diffs?: readonly { readonly before: string; readonly after: string }[];
}

/** PLAY RECAP counters. */
export interface Recap {
  readonly ok: number;
  readonly changed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly rescued: number;
  readonly ignored: number;
  readonly unreachable: number;
}

/** One tool's run. */
export interface Outcome {
  readonly tool: "ansible" | "drover";
  readonly code: number;
  readonly recap?: Recap;
  readonly tasks: readonly TaskOutcome[];
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** One difference found. */
export interface Difference {
  readonly phase: "check" | "run" | "rerun";
  readonly what:
    | "exit"
    | "recap"
    | "task"
    | "debug"
    | "diff"
    | "file"
    | "unit"
    | "firewall"
    | "check-wrote";
  readonly detail: string;
}

/** A playbook's header settings: `# compat: key=value` lines. */
export interface CaseMeta {
  /** What the playbook exercises (its first comment line). */
  readonly about: string;
  /** `# compat: deliberate: WHY` — a difference documented in docs/compat.md. */
  readonly deliberate?: string;
  /** `# compat: deliberate-check: WHY` — as `deliberate`, for differences under --check only. */
  readonly deliberateCheck?: string;
  /** `# compat: setup: FILE` — a playbook ansible-playbook runs on both twins first. */
  readonly setup?: string;
  /** `# compat: args: ...` — more command-line arguments for both tools (e.g. --tags). */
  readonly args: readonly string[];
  /** `# compat: extra-vars: ...` passed to both tools with -e. */
  readonly extraVars: readonly string[];
  /** `# compat: fast` — part of the test suite's quick subset. */
  readonly fast: boolean;
  /** `# compat: fails` — the playbook fails on purpose (else ansible-playbook must succeed). */
  readonly fails?: boolean;
}

/** The result of one playbook. */
export interface CaseResult {
  readonly name: string;
  readonly meta: CaseMeta;
  readonly pair: readonly [string, string];
  readonly differences: readonly Difference[];
  readonly outcomes: Record<string, Outcome>;
  /** Paths the real run changed, per tool. */
  readonly changedPaths: {
    readonly ansible: readonly string[];
    readonly drover: readonly string[];
  };
  readonly seconds: number;
}

/** Read a playbook's `# compat:` header. */
export function caseMeta(text: string): CaseMeta {
  const lines = text.split("\n");
  const about = (lines.find((l) => l.startsWith("# ") && !l.startsWith("# compat:")) ?? "")
    .replace(/^#\s*/, "");
  let deliberate: string | undefined;
  let deliberateCheck: string | undefined;
  let setup: string | undefined;
  const extraVars: string[] = [];
  const args: string[] = [];
  let fast = false;
  let fails = false;
  for (const l of lines) {
    const m = /^# compat:\s*([\w-]+)(?::\s*(.*))?$/.exec(l);
    if (!m) continue;
    const v = m[2]?.trim();
    if (m[1] === "deliberate") deliberate = v;
    else if (m[1] === "deliberate-check") deliberateCheck = v;
    else if (m[1] === "setup") setup = v;
    else if (m[1] === "extra-vars" && v) extraVars.push(v);
    else if (m[1] === "args" && v) args.push(...v.split(/\s+/));
    else if (m[1] === "fast") fast = true;
    else if (m[1] === "fails") fails = true;
    else throw new Error(`unknown header '# compat: ${m[1]}'`);
  }
  return { about, deliberate, deliberateCheck, setup, extraVars, args, fast, fails };
}

/** The corpus: playbook file names, sorted. */
export function corpus(): string[] {
  return [...Deno.readDirSync(PLAYBOOK_DIR)]
    .filter((e) => e.isFile && /^\d\d_.*\.ya?ml$/.test(e.name))
    .map((e) => e.name)
    .sort();
}

// ------------------------------------------------------------------ lab access

async function run(
  cmd: string,
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; stdin?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args: [...args],
    env: options.env,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs ?? 600_000);
  try {
    const r = await child.output();
    const d = new TextDecoder();
    return { code: r.code, stdout: d.decode(r.stdout), stderr: d.decode(r.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reset lab hosts (together) to fresh machines without docker (its daemons would write
 * to the upper dir all the time). `docker: "lab"` resets it with the lab's own
 * docker setting again, to leave it as the rest of the test suite expects.
 */
export async function resetHost(
  host: string | readonly string[],
  docker: "none" | "lab" = "none",
): Promise<void> {
  const hosts = typeof host === "string" ? [host] : host;
  const env: Record<string, string> = { ...Deno.env.toObject() };
  if (docker === "none") env.DROVER_LAB_DOCKER_HOSTS = "none";
  else delete env.DROVER_LAB_DOCKER_HOSTS;
  // A loaded machine sometimes boots a host too slowly: try once more.
  let r = { code: 1, stdout: "", stderr: "" };
  for (let attempt = 0; attempt < 2 && r.code !== 0; attempt++) {
    r = await run("bash", [join(ROOT, "test/lab/lab.sh"), "reset", ...hosts], {
      env,
      timeoutMs: 600_000,
    });
  }
  if (r.code !== 0) {
    throw new Error(`lab reset ${hosts.join(" ")} failed: ${r.stderr.slice(-3000)}`);
  }
}

/** Run a script on a host as root. */
export async function onTwin(host: string, script: string): Promise<string> {
  const r = await run("ssh", ["-F", SSH_CONFIG, host, "sh", "-s"], {
    stdin: script,
    timeoutMs: 120_000,
  });
  if (r.code === 255) throw new Error(`ssh ${host}: ${r.stderr}`);
  return r.stdout;
}

/** An inventory of `host` under the name {@linkcode TWIN_NAME}, written into `dir`. */
export async function twinInventory(dir: string, host: string): Promise<string> {
  const r = await run("bash", [join(ROOT, "test/lab/lab.sh"), "inventory", host]);
  if (r.code !== 0) throw new Error(`lab inventory ${host}: ${r.stderr}`);
  const text = r.stdout.replace(new RegExp(`^(\\s+)${host}:$`, "m"), `$1${TWIN_NAME}:`);
  if (!text.includes(`${TWIN_NAME}:`)) throw new Error(`unexpected inventory:\n${r.stdout}`);
  const path = join(dir, `inventory-${host}.yml`);
  await Deno.writeTextFile(path, text);
  return path;
}

// ------------------------------------------------------------------ running the tools

/** Run `ansible-playbook` (Debian's) on the host in `inventory`. */
export async function runAnsible(
  playbook: string,
  inventory: string,
  options: { check?: boolean; args?: readonly string[]; controlDir: string },
): Promise<Outcome> {
  const t0 = Date.now();
  const r = await run("ansible-playbook", [
    "-i",
    inventory,
    join(PLAYBOOK_DIR, playbook),
    ...(options.check ? ["--check", "--diff"] : []),
    ...(options.args ?? []),
  ], {
    cwd: PLAYBOOK_DIR,
    env: {
      ...Deno.env.toObject(),
      ANSIBLE_CONFIG: join(COMPAT_DIR, "ansible.cfg"),
      ANSIBLE_STDOUT_CALLBACK: "ansible.posix.json",
      ANSIBLE_NOCOLOR: "1",
      ANSIBLE_SSH_CONTROL_PATH_DIR: options.controlDir,
    },
  });
  return {
    ...parseAnsible(r.stdout),
    code: r.code,
    stdout: r.stdout,
    stderr: r.stderr,
    seconds: (Date.now() - t0) / 1000,
    tool: "ansible",
  };
}

/** Run drover on the host in `inventory`. */
export async function runDrover(
  playbook: string,
  inventory: string,
  options: { check?: boolean; args?: readonly string[] },
): Promise<Outcome> {
  const t0 = Date.now();
  const r = await run(Deno.execPath(), [
    "run",
    "--allow-all",
    "--quiet",
    join(ROOT, "main.ts"),
    "-i",
    inventory,
    join(PLAYBOOK_DIR, playbook),
    "--json",
    ...(options.check ? ["--check", "--diff"] : []),
    ...(options.args ?? []),
  ], { cwd: ROOT, env: { ...Deno.env.toObject(), NO_COLOR: "1" } });
  return {
    ...parseDrover(r.stdout),
    code: r.code,
    stdout: r.stdout,
    stderr: r.stderr,
    seconds: (Date.now() - t0) / 1000,
    tool: "drover",
  };
}

type Json = Record<string, unknown>;

const CONTENT_MODULES = /(^|\.)(copy|template|lineinfile)$/;

/** A task name without Ansible's collection prefix (`ansible.builtin.debug` → `debug`). */
function taskName(name: string): string {
  return name.replace(
    /^(ansible\.builtin|ansible\.legacy|community\.general|ansible\.posix)\./,
    "",
  );
}

function debugValue(r: Json): unknown {
  if ("msg" in r) return r.msg;
  const skip = new Set(["changed", "failed", "skipped", "diff", "item", "ansible_loop_var"]);
  const k = Object.keys(r).find((x) => !x.startsWith("_") && !skip.has(x) && x !== "action");
  return k === undefined ? undefined : { [k]: r[k] };
}

type ContentDiff = { before: string; after: string };

function ansibleDiffs(r: Json): ContentDiff[] {
  const d = r.diff;
  const list = Array.isArray(d) ? d : d ? [d] : [];
  return list.filter((x: Json) =>
    typeof x.after === "string" && !String(x.after_header ?? "").includes("(file attributes)") &&
    x.before !== x.after
  ).map((x: Json) => ({ before: String(x.before ?? ""), after: String(x.after) }));
}

/** Parse the `ansible.posix.json` callback's output. Pure. */
export function parseAnsible(stdout: string): { recap?: Recap; tasks: TaskOutcome[] } {
  const start = stdout.indexOf("{");
  if (start < 0) return { tasks: [] };
  let doc: Json;
  try {
    doc = JSON.parse(stdout.slice(start));
  } catch {
    return { tasks: [] };
  }
  const tasks: TaskOutcome[] = [];
  for (const play of (doc.plays ?? []) as Json[]) {
    for (const t of (play.tasks ?? []) as Json[]) {
      const task = t.task as Json;
      for (const r of Object.values((t.hosts ?? {}) as Record<string, Json>)) {
        const items = Array.isArray(r.results) ? (r.results as Json[]) : undefined;
        const status: TaskOutcome["status"] = r.unreachable
          ? "unreachable"
          : r.failed
          ? "failed"
          : r.skipped
          ? "skipped"
          : r.changed
          ? "changed"
          : "ok";
        const action = String(r.action ?? "");
        const isDebug = /(^|\.)debug$/.test(action);
        const out: TaskOutcome = {
          name: taskName(String(task.name ?? "")),
          status,
          ...(isDebug && status !== "skipped"
            ? {
              debug: items ? items.filter((i) => !i.skipped).map(debugValue) : [debugValue(r)],
            }
            : {}),
          ...(CONTENT_MODULES.test(action)
            ? { diffs: items ? items.flatMap(ansibleDiffs) : ansibleDiffs(r) }
            : {}),
        };
        tasks.push(out);
      }
    }
  }
  const stats = Object.values((doc.stats ?? {}) as Record<string, Json>)[0];
  const recap = stats
    ? {
      ok: Number(stats.ok),
      changed: Number(stats.changed),
      failed: Number(stats.failures),
      skipped: Number(stats.skipped),
      rescued: Number(stats.rescued),
      ignored: Number(stats.ignored),
      unreachable: Number(stats.unreachable),
    }
    : undefined;
  return { recap, tasks };
}

const ATTR_DIFF = /^((state|mode|owner|group|path): .*\n)+$/;

/** Parse drover's `--json` events. Pure. */
export function parseDrover(stdout: string): { recap?: Recap; tasks: TaskOutcome[] } {
  const tasks: TaskOutcome[] = [];
  let recap: Recap | undefined;
  let current: { name: string; results: Json[] } | undefined;
  const flush = () => {
    if (!current) return;
    for (const t of summarize(current.name, current.results)) tasks.push(t);
    current = undefined;
  };
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    let e: Json;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    if (e.type === "task_start") {
      flush();
      current = { name: taskName(String(e.name)), results: [] };
    } else if (e.type === "host_result") {
      if (!current || current.name !== taskName(String(e.task))) {
        flush();
        current = { name: taskName(String(e.task)), results: [] };
      }
      current.results.push(e);
    } else if (e.type === "recap") {
      flush();
      const s = Object.values(e.hosts as Record<string, Json>)[0];
      if (s) {
        recap = {
          ok: Number(s.ok),
          changed: Number(s.changed),
          failed: Number(s.failed),
          skipped: Number(s.skipped),
          rescued: Number(s.rescued),
          ignored: Number(s.ignored),
          unreachable: Number(s.unreachable),
        };
      }
    }
  }
  flush();
  return { recap, tasks };
}

/** One drover task's events (one per loop item) as one outcome. */
function summarize(name: string, results: Json[]): TaskOutcome[] {
  if (results.length === 0) return [];
  const st = results.map((r) => String(r.status));
  const looped = results.some((r) => r.item !== undefined);
  const status: TaskOutcome["status"] = st.includes("unreachable")
    ? "unreachable"
    : st.includes("failed")
    ? "failed"
    : st.every((s) => s === "skipped")
    ? "skipped"
    : st.includes("changed")
    ? "changed"
    : "ok";
  const module = String(results.find((r) => r.module)?.module ?? "");
  const isDebug = /(^|\.)debug$/.test(module);
  const value = (r: Json) => {
    const { changed: _c, failed: _f, diff: _d, ...rest } = (r.result ?? {}) as Json;
    return debugValue(rest);
  };
  void looped;
  return [{
    name,
    status,
    ...(isDebug && status !== "skipped"
      ? { debug: results.filter((r) => r.status !== "skipped").map(value) }
      : {}),
    ...(CONTENT_MODULES.test(module)
      ? {
        diffs: results.flatMap((r) =>
          ((r.diff ?? []) as Json[]).filter((d) =>
            typeof d.after === "string" && !ATTR_DIFF.test(d.after) &&
            !(d.after === "" && ATTR_DIFF.test(String(d.before))) && d.before !== d.after
          ).map((d) => ({ before: String(d.before ?? ""), after: String(d.after) }))
        ),
      }
      : {}),
  }];
}

// ------------------------------------------------------------------ host state

/** Paths that change for reasons other than the playbook; each is explained in docs/compat.md. */
export const IGNORED: readonly RegExp[] = [
  /^\/root\/\.ansible(\/|$)/, // Ansible's remote temp dir
  /^\/root\/\.cache(\/|$)/, // per-user caches of the tools' helpers
  /^\/var\/log\/(journal|wtmp|btmp|lastlog)(\/|$)/, // logins of the two tools' ssh sessions
  /^\/var\/log\/(dpkg\.log|alternatives\.log|apt\/(history|term|eipp)\.log(\.xz)?)$/, // timestamps
  /^\/var\/cache\/apt\/(src)?pkgcache\.bin$/, // apt's binary caches (timestamped)
  /^\/var\/cache\/debconf\/[^/]*-old$/, // debconf's previous-state copies
  /^\/var\/lib\/dpkg\/status-old$/, // dpkg's copy of the state before its last run
  /^\/var\/lib\/systemd\/(random-seed|timers|timesync)(\/|$)/, // systemd's own bookkeeping
  /^\/(var\/)?tmp\/systemd-private-/, // PrivateTmp of services
  /^\/var\/tmp\/systemd-private-/,
  /(^|\/)__pycache__(\/|$)/, // Python byte code written when Ansible's modules import a library
];

/** Is this path one {@linkcode IGNORED} lists? */
export function ignored(path: string): boolean {
  return IGNORED.some((re) => re.test(path));
}

/** A backup file name (`f.1234.2024-01-02@03:04:05~`, or without the pid) with its stamp removed. */
export function normalizePath(path: string): string {
  return path.replace(/(\.\d+)?\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$/, ".BACKUP~");
}

function upperDir(host: string): string {
  return `${LAB_STATE}/hosts/${host}/upper`;
}
function rootDir(host: string): string {
  return `${LAB_STATE}/hosts/${host}/root`;
}

/** Every entry of a host's overlay upper dir with a signature that changes when it does. */
export async function upperSnapshot(host: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const base = upperDir(host);
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(base + rel)) {
      const p = `${rel}/${e.name}`;
      let st: Deno.FileInfo;
      try {
        st = await Deno.lstat(base + p);
      } catch {
        continue;
      }
      out.set(
        p,
        [st.mode, st.uid, st.gid, st.size, st.mtime?.getTime(), st.ctime?.getTime()].join(":"),
      );
      if (st.isDirectory) await walk(p);
    }
  };
  await walk("");
  return out;
}

/**
 * Paths whose upper-dir entry is new or changed since `before`, without the
 * ignored ones and without directories that changed only because an ignored
 * path inside them did (`/root` when Ansible makes `/root/.ansible`).
 */
export function changedSince(before: Map<string, string>, after: Map<string, string>): string[] {
  const all = [
    ...[...after].filter(([p, sig]) => before.get(p) !== sig).map(([p]) => p),
    ...[...before.keys()].filter((p) => !after.has(p)),
  ];
  const skipped = all.filter(ignored);
  return all.filter((p) => !ignored(p) && !skipped.some((s) => s.startsWith(`${p}/`))).sort();
}

/** What a path is in the host's merged root, with host-specific names masked. */
export async function pathState(
  host: string,
  path: string,
  mask: readonly [string, string][],
): Promise<string> {
  const full = rootDir(host) + path;
  let st: Deno.FileInfo;
  try {
    st = await Deno.lstat(full);
  } catch {
    return "absent";
  }
  const attrs = `mode=${
    (st.mode! & 0o7777).toString(8).padStart(4, "0")
  } uid=${st.uid} gid=${st.gid}`;
  if (st.isSymlink) return `link -> ${await Deno.readLink(full)} ${attrs}`;
  if (st.isDirectory) return `directory ${attrs}`;
  if (!st.isFile) return `other ${attrs}`;
  let bytes = await Deno.readFile(full);
  try {
    let text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    for (const [from, to] of mask) text = text.replaceAll(from, to);
    bytes = new TextEncoder().encode(text);
  } catch { /* binary: hashed as it is */ }
  const hash = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
    .slice(0, 8).map((b) => b.toString(16).padStart(2, "0")).join("");
  return `file ${attrs} size=${bytes.length} sha256=${hash}`;
}

/** The host's address and name, masked in file contents. */
export function hostMask(host: string): [string, string][] {
  const n = Number(host.replace(/^lab/, ""));
  return [[`10.87.0.${10 + n}`, "ADDRESS"], [host, "HOSTNAME"]];
}

const UNIT_NOISE =
  /^(user@|user-runtime-dir@|session-|systemd-(hostnamed|timedated|localed|logind)\.service)/;

/** An outcome with host-specific names masked in what `debug` printed and in diffs. */
export function maskOutcome(o: Outcome, mask: readonly [string, string][]): Outcome {
  const m = <T>(v: T): T => {
    let t = JSON.stringify(v);
    for (const [from, to] of mask) t = t.replaceAll(from, to);
    return JSON.parse(t);
  };
  return {
    ...o,
    tasks: o.tasks.map((t) => ({
      ...t,
      ...(t.debug ? { debug: m(t.debug) } : {}),
      ...(t.diffs ? { diffs: m(t.diffs) } : {}),
    })),
  };
}

/** Unit states and firewall rules, one section each, normalised. */
export async function hostServices(host: string): Promise<{ units: string[]; firewall: string[] }> {
  const out = await onTwin(
    host,
    `export LC_ALL=C SYSTEMD_COLORS=0
systemctl list-units --all --no-legend --plain --no-pager --type=service,socket,timer,path | awk '{print $1, $2, $3, $4}'
systemctl list-unit-files --no-legend --no-pager --type=service,socket,timer,path | awk '{print $1, $2}'
echo @@fw
ufw status verbose 2>&1
for t in iptables-save ip6tables-save; do $t 2>/dev/null | grep -v '^#' | sed -E 's/\\[[0-9]+:[0-9]+\\]/[0:0]/'; done
`,
  );
  const [u, fw] = out.split("@@fw\n");
  return {
    units: [...new Set(u.split("\n").filter((l) => l.trim() && !UNIT_NOISE.test(l)))].sort(),
    firewall: (fw ?? "").split("\n").filter((l) => l.trim()),
  };
}

// ------------------------------------------------------------------ comparing

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function fmtRecap(r?: Recap): string {
  return r
    ? `ok=${r.ok} changed=${r.changed} failed=${r.failed} skipped=${r.skipped} rescued=${r.rescued} ignored=${r.ignored}`
    : "(no recap)";
}

/** Compare what the two tools reported. Pure. */
export function compareOutcomes(
  phase: Difference["phase"],
  a: Outcome,
  d: Outcome,
): Difference[] {
  const out: Difference[] = [];
  if (a.code !== d.code) {
    out.push({
      phase,
      what: "exit",
      detail: `exit code: ansible ${a.code}, drover ${d.code}${
        d.code !== 0 && !d.recap ? `: ${d.stderr.trim().slice(0, 400)}` : ""
      }${a.code !== 0 && !a.recap ? `; ansible: ${a.stderr.trim().slice(0, 400)}` : ""}`,
    });
  }
  if (!same(a.recap, d.recap)) {
    out.push({
      phase,
      what: "recap",
      detail: `recap: ansible ${fmtRecap(a.recap)} / drover ${fmtRecap(d.recap)}`,
    });
  }
  // Per task, matched by position among tasks of the same name.
  const key = (ts: readonly TaskOutcome[]) => {
    const seen = new Map<string, number>();
    return ts.map((t) => {
      const n = seen.get(t.name) ?? 0;
      seen.set(t.name, n + 1);
      return `${t.name}#${n}`;
    });
  };
  const ak = key(a.tasks), dk = key(d.tasks);
  const dByKey = new Map(dk.map((k, i) => [k, d.tasks[i]]));
  const aByKey = new Map(ak.map((k, i) => [k, a.tasks[i]]));
  for (const [i, k] of ak.entries()) {
    const at = a.tasks[i];
    const dt = dByKey.get(k);
    const label = k.replace(/#0$/, "");
    if (!dt) {
      out.push({
        phase,
        what: "task",
        detail: `[${label}] ansible ${at.status}, drover did not run it`,
      });
      continue;
    }
    if (at.status !== dt.status) {
      out.push({
        phase,
        what: "task",
        detail: `[${label}] ansible ${at.status}, drover ${dt.status}`,
      });
    }
    if (at.debug && !same(at.debug, dt.debug)) {
      out.push({
        phase,
        what: "debug",
        detail: `[${label}] debug: ansible ${JSON.stringify(at.debug)} / drover ${
          JSON.stringify(dt.debug)
        }`,
      });
    }
    // Predicted contents are compared where both tools start from the same
    // content: drover's --check also sees what earlier tasks would have
    // written, Ansible's does not (docs/compat.md).
    if (phase === "check" && at.diffs && dt.diffs) {
      for (const [j, ad] of at.diffs.entries()) {
        const dd = dt.diffs[j];
        if (dd && dd.before === ad.before && dd.after !== ad.after) {
          out.push({
            phase,
            what: "diff",
            detail: `[${label}] predicted content: ansible ${JSON.stringify(ad.after)} / drover ${
              JSON.stringify(dd.after)
            }`,
          });
        }
      }
    }
  }
  for (const [i, k] of dk.entries()) {
    if (!aByKey.has(k)) {
      out.push({
        phase,
        what: "task",
        detail: `[${k.replace(/#0$/, "")}] drover ${d.tasks[i].status}, ansible did not run it`,
      });
    }
  }
  return out;
}

/**
 * The unit lines to compare: those of units whose state the run changed on
 * either host (against that host's own state before the run). A unit that
 * failed at boot on one twin only (e.g. a path unit out of inotify instances
 * on a loaded machine) and that neither tool touched is not the playbook's
 * doing. Pure.
 */
export function changedUnits(
  beforeA: readonly string[],
  afterA: readonly string[],
  beforeD: readonly string[],
  afterD: readonly string[],
): [string[], string[]] {
  const name = (l: string) => l.split(" ")[0];
  const moved = new Set<string>();
  for (const [b, a] of [[beforeA, afterA], [beforeD, afterD]]) {
    const bs = new Set(b), as = new Set(a);
    for (const l of a) if (!bs.has(l)) moved.add(name(l));
    for (const l of b) if (!as.has(l)) moved.add(name(l));
  }
  const keep = (ls: readonly string[]) => ls.filter((l) => moved.has(name(l)));
  return [keep(afterA), keep(afterD)];
}

function lineDiff(a: readonly string[], d: readonly string[]): string[] {
  const as = new Set(a), ds = new Set(d);
  return [
    ...a.filter((l) => !ds.has(l)).map((l) => `ansible only: ${l}`),
    ...d.filter((l) => !as.has(l)).map((l) => `drover only: ${l}`),
  ];
}

// ------------------------------------------------------------------ one case

/** Options of {@linkcode runCase}. */
export interface CaseOptions {
  /** Temp dir for inventories and ssh control sockets. */
  readonly workDir: string;
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /**
   * Reset the twins before the playbook (default). Without, the twins must be
   * identical already (a suite resets once and runs several playbooks).
   */
  readonly reset?: boolean;
}

/** Run one playbook on a pair of twins: `pair[0]` gets Ansible, `pair[1]` drover. */
export async function runCase(
  playbook: string,
  pair: readonly [string, string],
  options: CaseOptions,
): Promise<CaseResult> {
  const t0 = Date.now();
  const [ha, hd] = pair;
  const meta = caseMeta(await Deno.readTextFile(join(PLAYBOOK_DIR, playbook)));
  const log = options.log ?? (() => {});
  const diffs: Difference[] = [];
  const outcomes: Record<string, Outcome> = {};
  const controlDir = await Deno.makeTempDir({ dir: options.workDir, prefix: "cp-" });
  const invA = await twinInventory(options.workDir, ha);
  const invD = await twinInventory(options.workDir, hd);
  const ev = { args: [...meta.args, ...meta.extraVars.flatMap((e) => ["-e", e])] };
  const maskA = hostMask(ha), maskD = hostMask(hd);
  let unitsBefore: { units: string[]; firewall: string[] }[] = [];
  const fresh = async (reset = options.reset ?? true) => {
    if (reset) await resetHost([ha, hd]); // one lab lock, both boot at once
    if (meta.setup) {
      const setups = await Promise.all(
        [invA, invD].map((inv) => runAnsible(meta.setup!, inv, { controlDir })),
      );
      for (const s of setups) {
        if (s.code !== 0) {
          throw new Error(`setup ${meta.setup} failed: ${s.stdout.slice(-1500)}${s.stderr}`);
        }
      }
    }
    unitsBefore = await Promise.all([hostServices(ha), hostServices(hd)]);
    return await Promise.all([upperSnapshot(ha), upperSnapshot(hd)]);
  };
  const both = async (check: boolean): Promise<[Outcome, Outcome]> => {
    const [a, d] = await Promise.all([
      runAnsible(playbook, invA, { ...ev, check, controlDir }),
      runDrover(playbook, invD, { ...ev, check }),
    ]);
    return [maskOutcome(a, maskA), maskOutcome(d, maskD)];
  };

  // 1. --check --diff on fresh twins.
  let [baseA, baseD] = await fresh();
  const dirty = options.reset === false;
  log(`${playbook}: check`);
  const [ca, cd] = await both(true);
  outcomes.check_ansible = ca;
  outcomes.check_drover = cd;
  diffs.push(...compareOutcomes("check", ca, cd));
  const [wroteA, wroteD] = [
    changedSince(baseA, await upperSnapshot(ha)),
    changedSince(baseD, await upperSnapshot(hd)),
  ];
  if (wroteD.length) {
    diffs.push({
      phase: "check",
      what: "check-wrote",
      detail: `drover --check changed the host: ${wroteD.slice(0, 10).join(", ")}`,
    });
  }
  if (wroteA.length) {
    diffs.push({
      phase: "check",
      what: "check-wrote",
      detail: `ansible --check changed the host: ${wroteA.slice(0, 10).join(", ")}`,
    });
  }
  if (wroteA.length || wroteD.length) {
    if (dirty) throw new Error(`--check wrote on the twins, which are not reset: run it alone`);
    [baseA, baseD] = await fresh(true);
  }

  // 2. The real run.
  log(`${playbook}: run`);
  const [ra, rd] = await both(false);
  outcomes.run_ansible = ra;
  outcomes.run_drover = rd;
  if (ra.code !== 0 && !meta.fails) {
    diffs.push({
      phase: "run",
      what: "exit",
      detail:
        `ansible-playbook itself failed (exit ${ra.code}): the playbook is broken, or add '# compat: fails'`,
    });
  }
  diffs.push(...compareOutcomes("run", ra, rd));
  const changedA = changedSince(baseA, await upperSnapshot(ha));
  const changedD = changedSince(baseD, await upperSnapshot(hd));
  const byNorm = (list: string[]) => new Map(list.map((p) => [normalizePath(p), p]));
  const na = byNorm(changedA), nd = byNorm(changedD);
  for (const p of [...new Set([...na.keys(), ...nd.keys()])].sort()) {
    const sa = await pathState(ha, na.get(p) ?? p, maskA);
    const sd = await pathState(hd, nd.get(p) ?? p, maskD);
    if (sa !== sd) {
      diffs.push({ phase: "run", what: "file", detail: `${p}: ansible ${sa} / drover ${sd}` });
    }
  }
  const [sva, svd] = await Promise.all([hostServices(ha), hostServices(hd)]);
  const [ua, ud] = changedUnits(unitsBefore[0].units, sva.units, unitsBefore[1].units, svd.units);
  for (const l of lineDiff(ua, ud)) {
    diffs.push({ phase: "run", what: "unit", detail: l });
  }
  for (const l of lineDiff(sva.firewall, svd.firewall)) {
    diffs.push({ phase: "run", what: "firewall", detail: l });
  }

  // 3. Again: nothing to change.
  log(`${playbook}: rerun`);
  const [ra2, rd2] = await both(false);
  outcomes.rerun_ansible = ra2;
  outcomes.rerun_drover = rd2;
  diffs.push(...compareOutcomes("rerun", ra2, rd2));
  if ((rd2.recap?.changed ?? 0) !== 0) {
    diffs.push({
      phase: "rerun",
      what: "recap",
      detail: `drover's second run changed=${rd2.recap?.changed}`,
    });
  }
  if ((ra2.recap?.changed ?? 0) !== 0) {
    diffs.push({
      phase: "rerun",
      what: "recap",
      detail: `ansible's second run changed=${ra2.recap?.changed}`,
    });
  }
  await Deno.remove(controlDir, { recursive: true }).catch(() => {});
  return {
    name: playbook,
    meta,
    pair,
    differences: dedupe(diffs),
    outcomes,
    changedPaths: { ansible: changedA, drover: changedD },
    seconds: (Date.now() - t0) / 1000,
  };
}

function dedupe(ds: Difference[]): Difference[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = `${d.phase}|${d.what}|${d.detail}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
