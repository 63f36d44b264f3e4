/**
 * @module
 * `deno task bench`: drover against ansible-playbook (pipelining +
 * ControlPersist) and Ansible with mitogen, on the same lab hosts and the
 * same inventory, doing the same migration (playbooks/migrate.yml and
 * bench/ansible/migrate.yml). For each host count: cold (fresh hosts),
 * converged (nothing to change) and drift (a file edited and the service
 * stopped by hand). Prints medians, min/max, ratios, SSH sessions per host,
 * peak memory; writes bench/results.json. It asserts nothing about time.
 *
 *   deno task bench                       # 1 and 5 hosts, 5 runs, all tools
 *   deno task bench --hosts 1 --runs 1    # a quick look
 *   deno task bench --hosts 20 --runs 3   # the 20-host cell
 *   deno task bench --tools drover --scenarios converged
 *
 * Needs root (the lab) and Debian's ansible-core, ansible (community.general
 * and community.docker collections) and ansible-mitogen; it installs them with
 * apt-get when they are missing (--no-install to refuse).
 */

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const LAB = `${ROOT}/test/lab/lab.sh`;
const SSH_CONFIG = "/var/lib/drover-lab/ssh_config";
const MITOGEN_STRATEGIES = "/usr/lib/python3/dist-packages/ansible_mitogen/plugins/strategy";

type Tool = "drover" | "ansible" | "mitogen";
type Scenario = "cold" | "converged" | "drift";
const TOOLS: Tool[] = ["drover", "ansible", "mitogen"];
const SCENARIOS: Scenario[] = ["cold", "converged", "drift"];

/** One measured run of one tool. */
interface Run {
  readonly ms: number;
  readonly exit: number;
  /** Tasks reported changed, summed over hosts (from PLAY RECAP). */
  readonly changed: number;
  readonly load1: number;
  /** CPU seconds (user + sys) of the tool and the children it waited for. */
  readonly cpuS: number;
  /** Peak of the summed RSS of the tool's process tree, MiB (sampled every 50 ms). */
  readonly rssTreeMiB: number;
  /** Peak RSS of the tool's main process, MiB. */
  readonly rssMainMiB: number;
  /**
   * Per host: commands sent over SSH, i.e. round trips (one ssh invocation
   * each for pipelined Ansible; for drover the commands its resident shell
   * ran, from DROVER_COMMAND_LOG, plus its other sessions).
   */
  readonly sshCommands: Record<string, number>;
  /** Per host: ssh invocations (sessions). */
  readonly sshSessions: Record<string, number>;
  /** Per host: sftp/scp invocations (file transfers). */
  readonly transfers: Record<string, number>;
  /** Per host: new SSH connections accepted by sshd during the run. */
  readonly connections: Record<string, number>;
}

interface Cell {
  tool: Tool;
  hosts: number;
  scenario: Scenario;
  runs: Run[];
}

const HELP = `deno task bench [options]
  --hosts 1,5       host counts (cells); 20 is allowed (lab12..lab31 style lists)
  --runs 5          runs per cell
  --tools drover,ansible,mitogen
  --scenarios cold,converged,drift
  --names lab12,lab13,...  lab hosts to use (default: BENCH_HOSTS or lab1..lab20)
  --drover PATH     drover entry point to measure (default: main.ts of this checkout)
  --out FILE        results (default bench/results.json); --no-write to skip
  --merge           keep the cells of --out that this run does not measure (e.g. measure
                    Ansible once, then only drover again after a change)
  --startup-runs 21 how often to time drover's start-up (parse + validate migrate.yml and
                    its roles, no hosts: --syntax-check); 0 skips it
  --no-up           do not run 'lab.sh up' first
  --no-install      do not apt-get install missing Ansible packages
  --quick           --hosts 1 --runs 1`;

function die(msg: string): never {
  console.error(`bench: ${msg}`);
  Deno.exit(1);
}

/** `--name value`, `--name=value`, `--flag`, `--no-flag`. */
function parseFlags(argv: readonly string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = { up: true, install: true, write: true };
  const bools = new Set(["up", "install", "write", "quick", "help", "merge"]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--(no-)?([\w-]+)(?:=(.*))?$/.exec(a);
    if (!m) die(`unexpected argument '${a}'\n${HELP}`);
    const [, no, name, val] = m;
    if (bools.has(name)) out[name] = !no;
    else if (val !== undefined) out[name] = val;
    else if (i + 1 < argv.length) out[name] = argv[++i];
    else die(`--${name} needs a value`);
  }
  return out;
}

const flags = parseFlags(Deno.args);
const args = {
  ...flags,
  hosts: flags.hosts as string | undefined,
  runs: flags.runs as string | undefined,
  tools: flags.tools as string | undefined,
  scenarios: flags.scenarios as string | undefined,
  names: flags.names as string | undefined,
  drover: flags.drover as string | undefined,
  out: flags.out as string | undefined,
  up: flags.up as boolean,
  install: flags.install as boolean,
  write: flags.write as boolean,
  quick: !!flags.quick,
  merge: !!flags.merge,
  help: !!flags.help,
  startupRuns: flags["startup-runs"] as string | undefined,
};
if (args.help) {
  console.log(HELP);
  Deno.exit(0);
}
const hostCounts = (args.hosts ?? (args.quick ? "1" : "1,5")).split(",").map(Number);
const runs = Number(args.runs ?? (args.quick ? 1 : 5));
const tools = (args.tools ?? TOOLS.join(",")).split(",") as Tool[];
const scenarios = (args.scenarios ?? SCENARIOS.join(",")).split(",") as Scenario[];
const names = (args.names ?? Deno.env.get("BENCH_HOSTS") ??
  Array.from({ length: 20 }, (_, i) => `lab${i + 1}`).join(",")).split(",").map((s) => s.trim())
  .filter(Boolean);
const droverMain = args.drover ?? `${ROOT}/main.ts`;
const startupRuns = Number(args.startupRuns ?? (args.quick ? 5 : 21));
const outFile = args.out ?? `${ROOT}/bench/results.json`;
for (const t of tools) if (!TOOLS.includes(t)) die(`unknown tool '${t}'`);
for (const s of scenarios) if (!SCENARIOS.includes(s)) die(`unknown scenario '${s}'`);
if (!(runs >= 1)) die("--runs must be ≥ 1");
if (!(Number.isInteger(startupRuns) && startupRuns >= 0)) die("--startup-runs must be ≥ 0");
for (const n of hostCounts) {
  if (!(n >= 1) || n > names.length) die(`--hosts ${n}: only ${names.length} host names given`);
}

const dec = new TextDecoder();

async function sh(
  cmd: string[],
  opts: { env?: Record<string, string>; check?: boolean } = {},
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const res = { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
  if (opts.check !== false && r.code !== 0) {
    die(`${cmd.join(" ")} failed (${r.code}):\n${(res.err || res.out).slice(-2000)}`);
  }
  return res;
}

async function ensureAnsible(): Promise<void> {
  if (!tools.some((t) => t !== "drover")) return;
  const have = async (p: string) =>
    (await sh(["dpkg-query", "-W", "-f", "${Status}", p], {
      check: false,
    })).out.includes("install ok installed");
  const missing: string[] = [];
  for (const p of ["ansible-core", "ansible", "ansible-mitogen"]) {
    if (!(await have(p))) missing.push(p);
  }
  if (missing.length === 0) return;
  if (!args.install) die(`missing Debian packages: ${missing.join(" ")} (apt-get install them)`);
  console.log(`bench: installing ${missing.join(" ")} with apt-get`);
  await sh(["apt-get", "install", "-y", ...missing], {
    env: { DEBIAN_FRONTEND: "noninteractive" },
  });
}

function load1(): number {
  return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
}

/** Resident set size (KiB) of pid and its descendants: [main, sum]. */
function treeRss(pid: number): [number, number] {
  const rss = (p: number): number => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${p}/status`));
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  };
  const children = (p: number): number[] => {
    const out: number[] = [];
    try {
      for (const t of Deno.readDirSync(`/proc/${p}/task`)) {
        const c = Deno.readTextFileSync(`/proc/${p}/task/${t.name}/children`).trim();
        if (c) out.push(...c.split(/\s+/).map(Number));
      }
    } catch { /* gone */ }
    return out;
  };
  let sum = 0;
  let main = 0;
  const stack = children(pid); // pid is the bash wrapper: skip it
  let first = true;
  while (stack.length) {
    const p = stack.pop()!;
    const r = rss(p);
    if (first) main = r;
    first = false;
    sum += r;
    stack.push(...children(p));
  }
  return [main, sum];
}

/** Run one tool once; parse what it did from its output and the ssh log. */
async function runTool(
  tool: Tool,
  inv: string,
  hosts: string[],
  addr: Map<string, string>,
  logDir: string,
  label: string,
): Promise<Run> {
  const sshLog = `${logDir}/${label}.ssh.log`;
  const cmdLog = `${logDir}/${label}.commands.log`;
  const env: Record<string, string> = {
    PATH: `${ROOT}/bench/bin:${Deno.env.get("PATH")}`,
    BENCH_SSH_LOG: sshLog,
    DROVER_COMMAND_LOG: cmdLog,
    NO_COLOR: "1",
  };
  const forks = String(Math.max(5, hosts.length));
  let cmd: string[];
  if (tool === "drover") {
    cmd = [
      "deno",
      "run",
      "-A",
      "--quiet",
      droverMain,
      `${ROOT}/playbooks/migrate.yml`,
      "-i",
      inv,
      // Like Ansible's ControlPersist=60s: the next run reuses the connection.
      "--ssh-persist",
      "60",
      "-f",
      forks,
      "-e",
      `@${ROOT}/test/lab/migrate-vars.yml`,
    ];
  } else {
    cmd = [
      "ansible-playbook",
      "-i",
      inv,
      "-f",
      forks,
      "-e",
      `@${ROOT}/test/lab/migrate-vars.yml`,
      `${ROOT}/bench/ansible/migrate.yml`,
    ];
    Object.assign(env, {
      ANSIBLE_CONFIG: `${ROOT}/bench/ansible/ansible.cfg`,
      ANSIBLE_SSH_CONTROL_PATH_DIR: `${logDir}/cp`,
      ANSIBLE_LOCAL_TEMP: `${logDir}/tmp`,
    });
    if (tool === "mitogen") {
      Object.assign(env, {
        ANSIBLE_STRATEGY: "mitogen_linear",
        ANSIBLE_STRATEGY_PLUGINS: MITOGEN_STRATEGIES,
      });
    }
  }
  const load = load1();
  const since = Date.now();
  const t0 = performance.now();
  const child = new Deno.Command("bash", {
    args: ["-c", '"$@"; rc=$?; echo "@@times" >&2; times >&2; exit $rc', "bench", ...cmd],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let rssMain = 0;
  let rssTree = 0;
  const timer = setInterval(() => {
    const [m, s] = treeRss(child.pid);
    rssMain = Math.max(rssMain, m);
    rssTree = Math.max(rssTree, s);
  }, 50);
  const out = await child.output();
  const ms = performance.now() - t0;
  clearInterval(timer);
  const until = Date.now();
  const stdout = dec.decode(out.stdout);
  const stderr = dec.decode(out.stderr);
  await Deno.writeTextFile(`${logDir}/${label}.out`, stdout + "\n--- stderr\n" + stderr);
  const times = stderr.split("@@times\n")[1]?.split("\n")[1] ?? "";
  const cpuS = [...times.matchAll(/(\d+)m([\d.]+)s/g)].reduce(
    (a, m) => a + Number(m[1]) * 60 + Number(m[2]),
    0,
  );
  let changed = 0;
  for (const m of stdout.matchAll(/^\S+\s+:\s+ok=\d+\s+changed=(\d+)/gm)) changed += Number(m[1]);
  const sshCommands: Record<string, number> = {};
  const transfers: Record<string, number> = {};
  const byAddr = new Map([...addr].map(([h, a]) => [a, h]));
  for (const h of hosts) sshCommands[h] = transfers[h] = 0;
  let log = "";
  try {
    log = await Deno.readTextFile(sshLog);
  } catch { /* no ssh at all */ }
  for (const line of log.split("\n").filter(Boolean)) {
    const [, tool_, ...rest] = line.split(" ");
    const argv = rest.join(" ");
    if (/(^| )-O (exit|check|stop)( |$)/.test(argv)) continue; // control-master housekeeping
    const ip = /\b10\.87\.0\.\d+\b/.exec(argv)?.[0];
    const h = ip ? byAddr.get(ip) : undefined;
    if (!h) continue;
    if (tool_ === "ssh") sshCommands[h]++;
    else transfers[h]++;
  }
  const sshSessions = { ...sshCommands };
  // drover: the resident shell's session is one ssh invocation for many commands.
  let commandLog = "";
  try {
    commandLog = await Deno.readTextFile(cmdLog);
  } catch { /* not drover, or no command */ }
  for (const h of hosts) {
    const resident = commandLog.split("\n").filter((l) => l.endsWith(` ${h} resident`)).length;
    if (resident > 0) sshCommands[h] += resident - 1;
  }
  const connections: Record<string, number> = {};
  await Promise.all(hosts.map(async (h) => {
    const r = await sh([
      "ssh",
      "-F",
      SSH_CONFIG,
      h,
      `journalctl -q -u ssh --since @${
        Math.floor(since / 1000) - 1
      } -o short-unix | grep 'Accepted publickey' || true`,
    ], { check: false });
    connections[h] = r.out.split("\n").filter((l) => {
      const t = Number(l.split(" ")[0]) * 1000;
      return t >= since && t <= until;
    }).length;
  }));
  return {
    ms: Math.round(ms),
    exit: out.code,
    changed,
    load1: load,
    cpuS: Math.round(cpuS * 100) / 100,
    rssTreeMiB: Math.round(rssTree / 102.4) / 10,
    rssMainMiB: Math.round(rssMain / 102.4) / 10,
    sshCommands,
    sshSessions,
    transfers,
    connections,
  };
}

/** Edit the config and stop alloy on every host, by hand (not measured). */
async function drift(hosts: string[]): Promise<void> {
  await Promise.all(hosts.map((h) =>
    sh([
      "ssh",
      "-F",
      SSH_CONFIG,
      h,
      "echo '// edited by hand' >> /etc/alloy/config.alloy && systemctl stop alloy",
    ])
  ));
}

/** Ansible's ControlPath directories (closed by {@linkcode reset}). */
const controlDirs: string[] = [];

async function reset(hosts: string[]): Promise<void> {
  for (const h of hosts) await sh(["bash", LAB, "reset", h]);
  // Connections kept from earlier runs (both tools' ControlPersist) lead to
  // hosts that no longer exist: close them, so the cold run connects anew.
  for (const dir of [`/tmp/drover-ssh-${Deno.uid()}`, ...controlDirs]) {
    let names: string[] = [];
    try {
      names = [...Deno.readDirSync(dir)].map((e) => e.name);
    } catch { /* none yet */ }
    for (const n of names) {
      await sh(["ssh", "-o", `ControlPath=${dir}/${n}`, "-O", "exit", "x"], { check: false });
    }
  }
}

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1] };
}

function perHost(
  r: Run,
  k: "sshCommands" | "sshSessions" | "transfers" | "connections",
): number {
  // Runs kept from before sessions were counted apart: one session per command.
  const v = Object.values(r[k] ?? (k === "sshSessions" ? r.sshCommands : {}));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0;
}

function machine(): Record<string, unknown> {
  const cpu = Deno.readTextFileSync("/proc/cpuinfo");
  const model = /model name\s*:\s*(.*)/.exec(cpu)?.[1] ?? "unknown";
  const mem = /MemTotal:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/meminfo"))?.[1];
  let os = "";
  try {
    os = /PRETTY_NAME="?([^"\n]*)/.exec(Deno.readTextFileSync("/etc/os-release"))?.[1] ?? "";
  } catch { /* unknown */ }
  return {
    cpus: navigator.hardwareConcurrency,
    model,
    memGiB: mem ? Math.round(Number(mem) / 1024 / 1024) : undefined,
    os,
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
  };
}

function fmtS(ms: number): string {
  return (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
}

function table(cells: Cell[]): string {
  const tools = TOOLS.filter((t) => cells.some((c) => c.tool === t));
  const hostCounts = [...new Set(cells.map((c) => c.hosts))].sort((a, b) => a - b);
  const scenarios = SCENARIOS.filter((s) => cells.some((c) => c.scenario === s));
  const lines: string[] = [];
  const pad = (s: string, n: number) => s.padEnd(n);
  const head = ["cell", ...tools.map((t) => `${t} s: median (min–max)`)];
  if (tools.includes("drover")) {
    for (const t of tools) if (t !== "drover") head.push(`${t}÷drover`);
  }
  const rows: string[][] = [head];
  for (const n of hostCounts) {
    for (const s of scenarios) {
      const row = [`${n} host${n > 1 ? "s" : ""} ${s}`];
      const med: Record<string, number> = {};
      for (const t of tools) {
        const c = cells.find((c) => c.tool === t && c.hosts === n && c.scenario === s);
        if (!c || c.runs.length === 0) {
          row.push("-");
          continue;
        }
        const st = stats(c.runs.map((r) => r.ms));
        med[t] = st.median;
        const bad = c.runs.filter((r) => r.exit !== 0).length;
        row.push(
          `${fmtS(st.median)} (${fmtS(st.min)}–${fmtS(st.max)})${bad ? ` [${bad} failed]` : ""}`,
        );
      }
      if (tools.includes("drover")) {
        for (const t of tools) {
          if (t === "drover") continue;
          row.push(med[t] && med.drover ? `${(med[t] / med.drover).toFixed(1)}×` : "-");
        }
      }
      rows.push(row);
    }
  }
  const w = head.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  for (const r of rows) lines.push(r.map((c, i) => pad(c, w[i])).join("  "));
  lines.push("");
  const h2 = [
    "cell",
    "tool",
    "ssh cmds/host",
    "sessions/host",
    "transfers/host",
    "connections/host",
    "changed",
    "cpu s",
    "peak RSS MiB (main / tree)",
    "load1",
  ];
  const rows2: string[][] = [h2];
  const order = (c: Cell) =>
    c.hosts * 100 + SCENARIOS.indexOf(c.scenario) * 10 + TOOLS.indexOf(c.tool);
  for (const c of [...cells].sort((a, b) => order(a) - order(b))) {
    if (c.runs.length === 0) continue;
    const m = (f: (r: Run) => number) => stats(c.runs.map(f)).median;
    rows2.push([
      `${c.hosts}h ${c.scenario}`,
      c.tool,
      m((r) => perHost(r, "sshCommands")).toFixed(1),
      m((r) => perHost(r, "sshSessions")).toFixed(1),
      m((r) => perHost(r, "transfers")).toFixed(1),
      m((r) => perHost(r, "connections")).toFixed(1),
      String(m((r) => r.changed)),
      m((r) => r.cpuS).toFixed(2),
      `${m((r) => r.rssMainMiB).toFixed(0)} / ${m((r) => r.rssTreeMiB).toFixed(0)}`,
      `${stats(c.runs.map((r) => r.load1)).min.toFixed(1)}–${
        stats(c.runs.map((r) => r.load1)).max.toFixed(1)
      }`,
    ]);
  }
  const w2 = h2.map((_, i) => Math.max(...rows2.map((r) => r[i].length)));
  for (const r of rows2) lines.push(r.map((c, i) => pad(c, w2[i])).join("  "));
  return lines.join("\n");
}

/**
 * drover's start-up: wall time of `deno run -A main.ts playbooks/migrate.yml
 * --syntax-check` (parse and validate the playbook and its roles, no hosts),
 * and of the same through `deno task run`. One run first warms Deno's caches.
 */
async function startup(n: number): Promise<Record<string, ReturnType<typeof stats>>> {
  const time = async (cmd: string[]): Promise<number> => {
    const t = performance.now();
    const r = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      cwd: ROOT,
      stdout: "null",
      stderr: "null",
    }).output();
    if (!r.success) die(`start-up run failed: ${cmd.join(" ")}`);
    return performance.now() - t;
  };
  const out: Record<string, ReturnType<typeof stats>> = {};
  const cmds: Record<string, string[]> = {
    "deno run": ["deno", "run", "-A", droverMain, "playbooks/migrate.yml", "--syntax-check"],
    "deno task run": ["deno", "task", "run", "playbooks/migrate.yml", "--syntax-check"],
  };
  for (const [name, cmd] of Object.entries(cmds)) {
    if (name === "deno task run" && args.drover) continue;
    await time(cmd);
    const ms: number[] = [];
    for (let i = 0; i < n; i++) ms.push(await time(cmd));
    out[name] = stats(ms);
    const st = out[name];
    console.log(
      `bench: start-up (${name} … --syntax-check): ${st.median.toFixed(0)} ms median ` +
        `(${st.min.toFixed(0)}–${st.max.toFixed(0)}, n=${n}, load ${load1()})`,
    );
  }
  return out;
}

async function main(): Promise<void> {
  if (Deno.uid() !== 0) die("needs root (the lab)");
  const startupMs = startupRuns > 0 ? await startup(startupRuns) : undefined;
  await ensureAnsible();
  const maxN = Math.max(...hostCounts);
  const all = names.slice(0, maxN);
  if (args.up) {
    console.log(`bench: lab up ${all.join(" ")}`);
    await sh(["bash", LAB, "up", ...all]);
  }
  const logDir = await Deno.makeTempDir({ prefix: "drover-bench-" });
  await Deno.mkdir(`${logDir}/cp`, { mode: 0o700 });
  controlDirs.push(`${logDir}/cp`);
  await Deno.mkdir(`${logDir}/tmp`, { mode: 0o700 });
  console.log(`bench: logs in ${logDir}`);
  const cells: Cell[] = [];
  const started = new Date().toISOString();
  for (const n of hostCounts) {
    const hosts = names.slice(0, n);
    const inv = `${logDir}/inventory-${n}.yml`;
    await Deno.writeTextFile(inv, (await sh(["bash", LAB, "inventory", ...hosts])).out);
    const addr = new Map<string, string>();
    for (
      const m of (await Deno.readTextFile(inv)).matchAll(/^\s+(\S+):\n\s+ansible_host: (\S+)/gm)
    ) {
      addr.set(m[1], m[2]);
    }
    for (const tool of tools) {
      const cell = (s: Scenario) => {
        let c = cells.find((c) => c.tool === tool && c.hosts === n && c.scenario === s);
        if (!c) cells.push(c = { tool, hosts: n, scenario: s, runs: [] });
        return c;
      };
      for (let i = 1; i <= runs; i++) {
        // Every run starts from fresh hosts, so cold, converged and drift are the same each time.
        await reset(hosts);
        const steps: Scenario[] = ["cold", "converged", "drift"];
        for (const s of steps) {
          const wanted = scenarios.includes(s);
          if (s === "drift") await drift(hosts);
          const r = await runTool(tool, inv, hosts, addr, logDir, `${tool}-${n}-${s}-${i}`);
          if (wanted) cell(s).runs.push(r);
          console.log(
            `  ${tool.padEnd(7)} ${n}h ${s.padEnd(9)} run ${i}/${runs}: ${
              fmtS(r.ms)
            } s, exit ${r.exit}, changed ${r.changed}, ssh/host ${
              perHost(r, "sshCommands").toFixed(1)
            }, load ${r.load1}${wanted ? "" : " (setup, not counted)"}`,
          );
          if (r.exit !== 0) console.log(`    see ${logDir}/${tool}-${n}-${s}-${i}.out`);
          if (s === "converged" && !scenarios.includes("drift")) break;
        }
      }
    }
  }
  if (!args.write) {
    console.log("");
    console.log(table(cells));
  } else {
    const ansibleVersion = tools.some((t) => t !== "drover")
      ? (await sh(["ansible-playbook", "--version"], { check: false })).out.split("\n")[0]
      : undefined;
    const summary = cells.map((c) => ({
      tool: c.tool,
      hosts: c.hosts,
      scenario: c.scenario,
      seconds: Object.fromEntries(
        Object.entries(stats(c.runs.map((r) => r.ms))).map(([k, v]) => [k, v / 1000]),
      ),
      sshCommandsPerHost: stats(c.runs.map((r) => perHost(r, "sshCommands"))).median,
      sshSessionsPerHost: stats(c.runs.map((r) => perHost(r, "sshSessions"))).median,
      transfersPerHost: stats(c.runs.map((r) => perHost(r, "transfers"))).median,
      connectionsPerHost: stats(c.runs.map((r) => perHost(r, "connections"))).median,
      peakRssMiB: {
        main: stats(c.runs.map((r) => r.rssMainMiB)).median,
        tree: stats(c.runs.map((r) => r.rssTreeMiB)).median,
      },
      cpuSeconds: stats(c.runs.map((r) => r.cpuS)).median,
      runs: c.runs,
    }));
    let machineInfo = machine();
    let kept: typeof summary = [];
    let startupKept = startupMs;
    if (args.merge) {
      try {
        const old = JSON.parse(await Deno.readTextFile(outFile));
        startupKept ??= old.startupMs;
        kept = (old.cells as typeof summary).filter((o) =>
          !summary.some((c) =>
            c.tool === o.tool && c.hosts === o.hosts && c.scenario === o.scenario
          )
        );
        if (kept.length) machineInfo = { ...machineInfo, mergedFrom: old.started };
      } catch { /* nothing to merge */ }
    }
    summary.push(...kept);
    console.log("");
    console.log(table([
      ...cells,
      ...kept.map((k) => ({ tool: k.tool, hosts: k.hosts, scenario: k.scenario, runs: k.runs })),
    ]));
    const ratios: Record<string, number> = {};
    for (const c of summary) {
      if (c.tool === "drover") continue;
      const d = summary.find((x) =>
        x.tool === "drover" && x.hosts === c.hosts && x.scenario === c.scenario
      );
      if (d) {
        ratios[`${c.tool}/drover ${c.hosts}h ${c.scenario}`] =
          Math.round((c.seconds.median / d.seconds.median) * 10) / 10;
      }
    }
    await Deno.writeTextFile(
      outFile,
      JSON.stringify(
        {
          started,
          finished: new Date().toISOString(),
          machine: machineInfo,
          ansible: ansibleVersion,
          options: { hosts: hostCounts, runs, tools, scenarios, names: all },
          startupMs: startupKept,
          ratios,
          cells: summary,
        },
        null,
        2,
      ) + "\n",
    );
    console.log(`\nbench: wrote ${outFile}`);
  }
}

await main();
