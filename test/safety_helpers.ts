/**
 * @module
 * Shared by the safety suites (test/safety_*_test.ts, figures in
 * test/SAFETY.md): exact snapshots of a lab host (its overlay upper directory
 * hashed from this machine, plus unit, firewall and container state), drover
 * runs that can be watched and signalled while they run, and host set-up.
 */
import { drover, type DroverRun, jsonEvents, ROOT } from "./helpers.ts";
import { diffLines, INSTALL_APP, labInventory, labReset, labUp, onHost } from "./lab_helpers.ts";

export { diffLines, INSTALL_APP };

/** Lab tests keep resources open across steps (ssh, child processes). */
export const sanitize = { sanitizeOps: false, sanitizeResources: false };

/** The lab's state directory (host overlays, ssh config). */
export const LAB_STATE = "/var/lib/drover-lab";

/** The migration's variables for the lab. */
export const VARS = ["-e", "@test/lab/migrate-vars.yml"];

/** The seed's compose stack on a lab "dev machine". */
export const COMPOSE = "cd /home/dev/TTA.dev && docker-compose -f docker-compose.integration.yml";

/** A fresh random marker to use as the Grafana Cloud token of one run. */
export function marker(): string {
  const hex = [...crypto.getRandomValues(new Uint8Array(8))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  return `glc_MARK${hex}`;
}

/** Run a bash script on this machine (the control node); returns what it printed. */
export async function local(
  script: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command("bash", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: r.code, stdout: d.decode(r.stdout), stderr: d.decode(r.stderr) };
}

/** Like {@linkcode onHost}, but throws when the script fails. */
export async function onHostOk(host: string, script: string): Promise<string> {
  const r = await onHost(host, script);
  if (r.code !== 0) throw new Error(`${host}: script failed (${r.code}): ${r.stderr}\n${script}`);
  return r.stdout;
}

/**
 * Paths in a host's overlay upper directory that change without drover and
 * are left out of the exact comparison, with the reason. Everything else
 * under the upper directory is compared: type, mode, owner, size, mtime
 * (nanoseconds, directories too, so a temp file created and removed shows),
 * symlink target, and the SHA-256 of every regular file.
 */
export const VOLATILE: readonly { readonly re: RegExp; readonly why: string }[] = [
  {
    re: /^\.\/var\/log\/journal(\/|$)/,
    why:
      "journald's files (the lab keeps the journal in memory; listed in case a host persists it)",
  },
  {
    re: /^\.\/var\/lib\/alloy\/data(\/|$)/,
    why: "alloy's own runtime data (WAL, positions), written by the running service, not by drover",
  },
  {
    re: /^\.\/var\/tmp\/systemd-private-/,
    why: "PrivateTmp directories systemd makes whenever a service with PrivateTmp starts",
  },
  {
    re: /^\.\/var\/lib\/systemd\/(timers|timesync|random-seed)/,
    why: "systemd's timer stamps and random seed, updated by systemd on its own schedule",
  },
];

/** One line per entry of the host's upper dir, and one `sha256 path` line per regular file. */
export async function upperSnapshot(host: string): Promise<{ text: string; files: number }> {
  const dir = `${LAB_STATE}/hosts/${host}/upper`;
  const r = await local(`set -e -o pipefail; cd ${dir}
find . -printf '%y %m %U %G %s %T@ %D:%i %p -> %l\\n' | LC_ALL=C sort -k8
find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
`);
  if (r.code !== 0) throw new Error(`snapshot of ${dir}: ${r.stderr}`);
  const keep = r.stdout.split("\n").filter((l) => {
    const path = l.startsWith("./") || /^[0-9a-f]{64} {2}/.test(l)
      ? l.replace(/^[0-9a-f]{64} {2}/, "")
      : l.split(" ")[7] ?? "";
    return l !== "" && !VOLATILE.some((v) => v.re.test(path));
  });
  const files = keep.filter((l) => /^[0-9a-f]{64} {2}/.test(l)).length;
  return { text: keep.join("\n"), files };
}

/**
 * Unit, firewall and container state, exact: every unit file's enablement,
 * every service/socket/timer's load/active/sub state (but user@.service and
 * its runtime dir, which logind starts and stops for each ssh login), the
 * kernel's whole nftables ruleset in the host's network namespace (counters
 * left out), ufw's view, and the containers, images, volumes and networks.
 * logind's session-N.scope units (one per ssh login, the snapshot's own
 * too) are left out.
 */
export async function stateSnapshot(host: string): Promise<string> {
  const r = await onHost(
    host,
    `systemctl list-unit-files --no-legend --no-pager | grep -Ev '^session-[0-9]+\\.scope ' | LC_ALL=C sort
systemctl list-units --all --no-legend --no-pager --plain --type=service,socket,timer,path | grep -Ev '^(user@|user-runtime-dir@)' | awk '{print "unit", $1, $2, $3, $4}' | LC_ALL=C sort
echo ufw; ufw status verbose 2>&1
echo containers
if command -v docker >/dev/null; then
  docker ps -a --no-trunc --format '{{.ID}} {{.Names}} {{.Image}} {{.State}}' | LC_ALL=C sort
  docker images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}' | LC_ALL=C sort
  docker volume ls -q | LC_ALL=C sort
  docker network ls --no-trunc -q | LC_ALL=C sort
fi
`,
  );
  const nft = await local(`ip netns exec drlab-${host} nft -s list ruleset`);
  return `${r.stdout}\nnft\n${nft.stdout}`;
}

/** Everything {@linkcode upperSnapshot} and {@linkcode stateSnapshot} see. */
export interface Snapshot {
  readonly upper: string;
  readonly state: string;
  readonly files: number;
}

/** The exact state of a host. */
export async function snapshot(host: string): Promise<Snapshot> {
  const [u, state] = await Promise.all([upperSnapshot(host), stateSnapshot(host)]);
  return { upper: u.text, state, files: u.files };
}

/** What changed between two snapshots of a host (empty: nothing). */
export function snapshotDiff(a: Snapshot, b: Snapshot): string[] {
  return [...diffLines(a.upper, b.upper), ...diffLines(a.state, b.state)];
}

/**
 * /etc of a host as the merged overlay shows it (read from this machine):
 * every file's hash, every symlink's target, every entry's type, mode and
 * owner. Directory mtimes are left out (a restored file changes its directory's).
 */
export async function etcSnapshot(host: string): Promise<string> {
  const root = `${LAB_STATE}/hosts/${host}/root`;
  const r = await local(`set -e -o pipefail; cd ${root}
find ./etc -xdev -printf '%y %m %U %G %p -> %l\\n' | LC_ALL=C sort -k5
find ./etc -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
`);
  if (r.code !== 0) throw new Error(`/etc of ${host}: ${r.stderr}`);
  return r.stdout;
}

/** Has drover (or anything) migrated this host? Checked in its upper dir and its containers. */
export async function neverMigrated(host: string): Promise<boolean> {
  const dir = `${LAB_STATE}/hosts/${host}/upper`;
  const r = await local(
    `cd ${dir} && ! ls -d var/lib/drover usr/bin/alloy etc/apt/sources.list.d/grafana.list etc/alloy 2>/dev/null | grep -q .`,
  );
  if (r.code !== 0) return false;
  const ps = await onHost(host, `${COMPOSE} ps -q 2>/dev/null | wc -l\n`);
  return ps.stdout.trim() === "5";
}

/**
 * Bring the hosts up and make each one a dev machine that was never
 * migrated (the compose stack running, the app installed): a host some
 * earlier test migrated is reset (slow), the others are kept.
 */
export async function freshHosts(hosts: readonly string[]): Promise<string[]> {
  await labUp([...hosts]);
  const reset: string[] = [];
  for (const h of hosts) {
    if (!(await neverMigrated(h))) {
      await labReset(h);
      reset.push(h);
    }
  }
  await Promise.all(hosts.map((h) => onHostOk(h, INSTALL_APP)));
  return reset;
}

/** An inventory of the hosts in `dir`. */
export function inventory(dir: string, hosts: readonly string[]): Promise<string> {
  return labInventory(dir, [...hosts]);
}

/** A drover run that is still going: watch its output, signal it, await its end. */
export interface LiveRun {
  readonly pid: number;
  /** Every complete stdout line so far. */
  readonly lines: string[];
  /** Resolves when a stdout line matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Signal drover's whole process group (as a terminal's Ctrl-C does) or drover alone. */
  signal(sig: Deno.Signal, group?: boolean): void;
  readonly done: Promise<DroverRun>;
}

/**
 * Start drover in its own process group (setsid), as a user's terminal
 * would run it, and follow its output line by line.
 */
export function startDrover(args: readonly string[], env: Record<string, string> = {}): LiveRun {
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), "run", "--allow-all", "--quiet", `${ROOT}/main.ts`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const dec = new TextDecoder();
  let out = "";
  let err = "";
  const readOut = (async () => {
    let buf = "";
    for await (const chunk of child.stdout) {
      const s = dec.decode(chunk, { stream: true });
      out += s;
      buf += s;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.re.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  })();
  const readErr = (async () => {
    for await (const chunk of child.stderr) err += dec.decode(chunk, { stream: true });
  })();
  const done = (async () => {
    const st = await child.status;
    await Promise.all([readOut, readErr]);
    return { code: st.signal ? 128 + signalNumber(st.signal) : st.code, stdout: out, stderr: err };
  })();
  return {
    pid: child.pid,
    lines,
    waitFor(re, timeoutMs = 120_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no line matching ${re} within ${timeoutMs} ms:\n${out}\n${err}`)),
          timeoutMs,
        );
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
        done.then(() => {
          clearTimeout(t);
          reject(new Error(`drover ended before a line matched ${re}:\n${out}\n${err}`));
        });
      });
    },
    signal(sig, group = true) {
      Deno.kill(group ? -child.pid : child.pid, sig);
    },
    done,
  };
}

function signalNumber(sig: Deno.Signal): number {
  return ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGHUP: 1 } as Record<string, number>)[sig] ?? 0;
}

/** Run drover to the end. */
export function run(args: readonly string[], env?: Record<string, string>): Promise<DroverRun> {
  return drover(args, { env });
}

/** Every `.drover.*` temp file left in a host's upper dir (a write that did not finish). */
export async function leftoverTempFiles(host: string): Promise<string[]> {
  const r = await local(`cd ${LAB_STATE}/hosts/${host}/upper && find . -name '.drover.*'`);
  return r.stdout.split("\n").filter(Boolean);
}

/**
 * A full disk under /etc/default: a 64 KiB tmpfs over it holding a copy of
 * its files and a filler, so that writing a new file there fails (ENOSPC).
 * Undo with `umount /etc/default`.
 */
export const FILL_ETC_DEFAULT = `set -e
mkdir -p /run/drover-safety-default && cp -a /etc/default/. /run/drover-safety-default/
mount -t tmpfs -o size=64k tmpfs /etc/default
cp -a /run/drover-safety-default/. /etc/default/ && rm -rf /run/drover-safety-default
dd if=/dev/zero of=/etc/default/.filler bs=4k 2>/dev/null || true
`;

/**
 * Every `.drover.*` temp file under `dirs` as the host itself sees them
 * (unlike {@linkcode leftoverTempFiles}, this sees into mounts such as
 * {@linkcode FILL_ETC_DEFAULT}'s tmpfs).
 */
export async function hostTempFiles(host: string, dirs: readonly string[]): Promise<string[]> {
  const r = await onHost(
    host,
    `find ${dirs.map((d) => `'${d}'`).join(" ")} -name '.drover.*' 2>/dev/null; true\n`,
  );
  if (r.code !== 0) throw new Error(`${host}: find temp files: ${r.stderr}`);
  return r.stdout.split("\n").filter(Boolean);
}

/**
 * Per host, the sorted names of the tasks (and handlers) of a `--json` run
 * whose result had `status` (loop items as `task (item)`); with `changed`,
 * the results reported changed instead.
 */
export function tasksByHost(
  stdout: string,
  status: "changed" | "failed" | "ok" | "skipped",
): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const e of jsonEvents(stdout)) {
    if (e.type !== "host_result") continue;
    const hit = status === "changed"
      ? e.changed === true
      : e.status === status && !(status === "failed" && e.ignored === true);
    if (!hit) continue;
    const name = `${e.task}${e.item !== undefined ? ` (${e.item})` : ""}`;
    (out[e.host as string] ??= new Set()).add(name);
  }
  return Object.fromEntries(Object.entries(out).map(([h, s]) => [h, [...s].sort()]));
}

/**
 * What a migration must give back, comparable across a rollback: unit files
 * and unit states (as {@linkcode stateSnapshot}), ufw's view, the nftables
 * ruleset, and docker's containers (by name, image and state: compose makes
 * new ids), images (ids), volumes and networks (by name).
 */
export async function serviceState(host: string): Promise<string> {
  const r = await onHost(
    host,
    `systemctl list-unit-files --no-legend --no-pager | grep -Ev '^session-[0-9]+\\.scope ' | LC_ALL=C sort
systemctl list-units --all --no-legend --no-pager --plain --type=service,socket,timer,path | grep -Ev '^(user@|user-runtime-dir@)' | awk '{print "unit", $1, $2, $3, $4}' | LC_ALL=C sort
echo ufw; ufw status verbose 2>&1; ufw show added 2>&1
echo containers
if command -v docker >/dev/null; then
  docker ps -a --format 'container {{.Names}} {{.Image}} {{.State}}' | LC_ALL=C sort
  docker images --no-trunc --format 'image {{.ID}} {{.Repository}}:{{.Tag}}' | LC_ALL=C sort
  docker volume ls --format 'volume {{.Name}}' | LC_ALL=C sort
  docker network ls --format 'network {{.Name}} {{.Driver}}' | LC_ALL=C sort
fi
`,
  );
  if (r.code !== 0) throw new Error(`${host}: service state: ${r.stderr}`);
  const nft = await local(`ip netns exec drlab-${host} nft -s list ruleset`);
  return `${r.stdout}\nnft\n${nft.stdout}`;
}
