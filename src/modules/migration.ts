/**
 * @module
 * drover's own modules for the migration: `drover_ports` (who holds a port),
 * `drover_record` (the pre-migration record under /var/lib/drover) and
 * `drover_restore` (rollback from that record).
 *
 * @example
 * ```yaml
 * - drover_record:
 *     dir: /var/lib/drover/migrate
 *     paths: [/etc/alloy/config.alloy, /etc/default/alloy]
 *     units: [alloy]
 * ```
 */
import { z } from "zod";
import { defineModule, type Diff, ModuleFailure, readHost } from "../core/module.ts";
import { bool, int, list, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";
import { parseSs } from "../facts/mod.ts";
import { apiContainers, cliNames, displayablePorts, DOCKER_API_FN } from "../facts/docker_api.ts";
import { writeFile } from "./_files.ts";

/** Who holds a port. */
export interface PortHolder {
  readonly port: number;
  readonly address: string;
  readonly process?: string;
  readonly pid?: number;
  /** Container publishing the port, when docker knows one. */
  readonly container?: string;
}

/** Match listening sockets and docker's published ports to the wanted ports. Pure. */
export function portHolders(
  ports: readonly number[],
  ssOut: string,
  dockerPs: string,
): PortHolder[] {
  const containers = new Map<number, string>();
  for (const line of dockerPs.split("\n")) {
    const [name, portsCol] = line.split("\t");
    if (!portsCol) continue;
    // A published range (`0.0.0.0:4317-4318->4317-4318/tcp`) holds every port in it.
    for (const m of portsCol.matchAll(/:(\d+)(?:-(\d+))?->/g)) {
      const first = Number(m[1]);
      const last = m[2] === undefined ? first : Math.min(Number(m[2]), 65535);
      for (let p = first; p <= last; p++) containers.set(p, name);
    }
  }
  const out: PortHolder[] = [];
  const seen = new Set<number>();
  for (const l of parseSs(ssOut)) {
    if (!ports.includes(l.port) || seen.has(l.port)) continue;
    seen.add(l.port);
    out.push({ ...l, container: containers.get(l.port) });
  }
  for (const [port, name] of containers) {
    if (ports.includes(port) && !seen.has(port)) {
      out.push({ port, address: "*", container: name });
    }
  }
  return out.sort((a, b) => a.port - b.port);
}

/**
 * The lines `docker ps --format '{{.Names}}\t{{.Ports}}'` prints, made from
 * the Engine API's `GET /containers/json` (running containers) the same way
 * the CLI makes them. Pure.
 */
export function apiPsLines(json: string): string {
  return apiContainers(json).map((c) => `${cliNames(c.Names)}\t${displayablePorts(c.Ports)}\n`)
    .join("");
}

/** `ss`, then `@@docker` and `docker ps`'s names and ports (`@@api` and the API's JSON when it answered). */
const PORTS_SCRIPT = `${DOCKER_API_FN}ss -ltnpH 2>/dev/null || true
echo @@docker
if command -v docker >/dev/null 2>&1; then if o=$(drover_dapi /containers/json 10 </dev/null); then echo @@api; printf '%s\\n' "$o"; \
else timeout 10 docker ps --format '{{.Names}}\t{{.Ports}}' 2>/dev/null </dev/null; fi; fi
`;

/** The `docker ps` part of the ports read's output as `docker ps` prints it. Pure. */
export function portsDockerText(docker: string): string {
  return docker.startsWith("@@api\n") ? apiPsLines(docker.slice("@@api\n".length)) : docker;
}

/** `drover_ports`: fail when a port is held by something the run will not stop. */
export const droverPorts = defineModule({
  name: "drover_ports",
  doc:
    "Report which process or container holds each port; fail if one is held by something not allowed.",
  args: z.object({
    ports: list(int()),
    allow_processes: list(str()).default([]),
    allow_containers: list(str()).default([]),
  }).strict(),
  reads: () => [{ script: PORTS_SCRIPT }],
  async run(ctx, a) {
    const r = await readHost(ctx, PORTS_SCRIPT);
    const [ss, docker] = r.stdout.split("@@docker\n");
    const holders = portHolders(a.ports, ss ?? "", portsDockerText(docker ?? ""));
    const bad = holders.filter((h) =>
      !(h.container &&
        (a.allow_containers.length === 0 ||
          a.allow_containers.some((c) => h.container!.includes(c)))) &&
      !(h.process && a.allow_processes.includes(h.process))
    );
    const describe = (h: PortHolder) =>
      `${h.port} held by ${
        h.container
          ? `container ${h.container}`
          : h.process
          ? `${h.process} (pid ${h.pid})`
          : "an unknown process"
      }`;
    const free = a.ports.filter((p) => !holders.some((h) => h.port === p));
    const msg = [
      ...(free.length ? [`free: ${free.join(", ")}`] : []),
      ...holders.map(describe),
    ].join("; ");
    if (bad.length) {
      throw new ModuleFailure(
        `port ${bad.map(describe).join("; ")}: stop it or choose other ports`,
        { holders },
      );
    }
    return { changed: false, msg, data: { holders, free } };
  },
});

/** A recorded path. */
export interface RecordedPath {
  readonly path: string;
  readonly present: boolean;
  readonly sha256?: string;
  /** Octal mode, owner and group names (records made before they were kept lack them). */
  readonly mode?: string;
  readonly owner?: string;
  readonly group?: string;
}

/** What a path holds now, as {@linkcode planRestore} compares it with the record. */
export interface CurrentPath {
  readonly sha256: string;
  readonly mode?: string;
  readonly owner?: string;
  readonly group?: string;
}

/** The record migrate writes before changing anything. */
export interface MigrationRecord {
  readonly version: 1;
  readonly created: string;
  readonly paths: readonly RecordedPath[];
  readonly units: Readonly<Record<string, { enabled: string; active: string }>>;
  readonly facts: Readonly<Record<string, unknown>>;
}

/**
 * Parse the record script's output: a `path` line per recorded path, in
 * order, then the present files' `sha256sum` and `stat` lines (`@@sha256`,
 * `@@stat` sections), then `unit` lines. Pure.
 */
export function parseRecordScan(
  out: string,
): { paths: RecordedPath[]; units: Record<string, { enabled: string; active: string }> } {
  const listed: { path: string; present: boolean }[] = [];
  const units: Record<string, { enabled: string; active: string }> = {};
  const sums = new Map<string, string>();
  const stats = new Map<string, string[]>();
  let section = "";
  for (const line of out.split("\n")) {
    if (line.startsWith("@@")) {
      section = line.slice(2);
      continue;
    }
    if (section === "sha256") {
      const m = /^([0-9a-f]{64}) [ *](.*)$/.exec(line);
      if (m) sums.set(m[2], m[1]);
      continue;
    }
    if (section === "stat") {
      const f = line.split("\t");
      if (f.length >= 4) stats.set(f.slice(3).join("\t"), f.slice(0, 3));
      continue;
    }
    const [kind, ...rest] = line.split("\t");
    if (kind === "path") listed.push({ path: rest[0], present: rest[1] === "present" });
    if (kind === "unit") {
      units[rest[0]] = { enabled: rest[1] || "not-found", active: rest[2] || "inactive" };
    }
  }
  const paths = listed.map(({ path, present }): RecordedPath => {
    if (!present) return { path, present };
    const [mode, owner, group] = stats.get(path) ?? [];
    return {
      path,
      present,
      sha256: sums.get(path) || undefined,
      mode: mode || undefined,
      owner: owner || undefined,
      group: group || undefined,
    };
  });
  return { paths, units };
}

/** The `measure` lines of the record script's output. Pure. */
export function parseMeasures(out: string): Record<string, string> {
  const m: Record<string, string> = {};
  for (const line of out.split("\n")) {
    const [kind, key, value] = line.split("\t");
    if (kind === "measure" && key) m[key] = (value ?? "").trim();
  }
  return m;
}

function catManifest(path: string): string {
  return `cat ${shq(path)} 2>/dev/null || true\n`;
}

/** `drover_record`: keep a copy of what migrate will change (once: the first record wins). */
export const droverRecord = defineModule({
  name: "drover_record",
  doc:
    "Record files (content, mode, owner), unit states and facts before a migration changes them.",
  args: z.object({
    dir: str(),
    paths: list(z.string().startsWith("/", "an absolute path on the host")),
    units: list(str()).default([]),
    facts: z.record(z.string(), z.unknown()).default({}),
    /** Shell commands run only when the record is made; their output is kept under `facts`. */
    measure: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
  }).strict(),
  // Without a record (and not in check mode) this task writes one: reads
  // fetched after it in the same round trip would be thrown away.
  reads: (a, { check }) =>
    typeof a.dir === "string"
      ? [{ script: catManifest(`${a.dir}/manifest.json`), changesWhenEmpty: !check }]
      : [],
  async run(ctx, a) {
    const manifest = `${a.dir}/manifest.json`;
    const existing = await readHost(ctx, catManifest(manifest));
    if (existing.stdout.trim()) {
      return {
        changed: false,
        msg: `a record from ${JSON.parse(existing.stdout).created} exists; kept`,
        data: { record: JSON.parse(existing.stdout) },
      };
    }
    if (ctx.check) {
      return {
        changed: true,
        msg: `would record ${a.paths.length} paths and ${a.units.length} units in ${a.dir}`,
      };
    }
    const measures = Object.entries(a.measure);
    // Measures run while the files are copied (the stack's memory may take a second).
    // Present files are copied, hashed and stat'ed by one process each, not one per file.
    const script = `set -e
umask 077
mkdir -p ${shq(`${a.dir}/files`)}
${measures.length ? `m=$(mktemp -d); trap 'rm -rf "$m"' EXIT\n` : ""}${
      measures.map(([, cmd], i) =>
        `{ (${cmd}) 2>/dev/null | tr '\\n\\t' '  ' || true; } >"$m/${i}" &\n`
      ).join("")
    }set --
for p in ${a.paths.map(shq).join(" ")}; do
  if [ -e "$p" ] || [ -L "$p" ]; then
    printf 'path\\t%s\\tpresent\\n' "$p"; set -- "$@" "$p"
  else
    printf 'path\\t%s\\tabsent\\t\\n' "$p"
  fi
done
if [ $# -gt 0 ]; then
  (cd / && cp -a --parents -- "$@" ${shq(`${a.dir}/files/`)})
  echo '@@sha256'; sha256sum -- "$@" 2>/dev/null || true
  echo '@@stat'; stat -c '%a\t%U\t%G\t%n' -- "$@"
fi
echo '@@units'
for u in ${a.units.map(shq).join(" ")}; do
  printf 'unit\\t%s\\t%s\\t%s\\n' "$u" "$(systemctl is-enabled "$u" 2>/dev/null || true)" "$(systemctl is-active "$u" 2>/dev/null || true)"
done
${measures.length ? "wait\n" : ""}${
      measures.map(([k], i) =>
        `v=; IFS= read -r v <"$m/${i}" || true; printf 'measure\\t%s\\t%s\\n' ${shq(k)} "$v"\n`
      ).join("")
    }`;
    // The manifest is written next: no reads of the tasks ahead after this command.
    const r = await ctx.sh(script, { more: true });
    if (r.rc !== 0) {
      throw new ModuleFailure(
        `could not record the pre-migration state in ${a.dir}: ${r.stderr.trim()}`,
      );
    }
    const scan = parseRecordScan(r.stdout);
    const record: MigrationRecord = {
      version: 1,
      created: new Date().toISOString(),
      ...scan,
      facts: { ...a.facts, ...parseMeasures(r.stdout) },
    };
    await writeFile(ctx, manifest, JSON.stringify(record, null, 2) + "\n", {
      mode: "0600",
      owner: "root",
      group: "root",
    });
    return {
      changed: true,
      msg: `recorded ${scan.paths.filter((p) => p.present).length} files and ${
        scan.units ? Object.keys(scan.units).length : 0
      } units in ${a.dir}`,
      data: { record },
    };
  },
});

/** What restoring a record would do to each path. Pure. */
export function planRestore(
  record: MigrationRecord,
  current: Readonly<Record<string, CurrentPath | null>>,
  include: (path: string) => boolean,
): { path: string; action: "restore" | "remove" }[] {
  const out: { path: string; action: "restore" | "remove" }[] = [];
  for (const p of record.paths) {
    if (!include(p.path)) continue;
    const now = current[p.path] ?? null;
    const same = now !== null && now.sha256 === (p.sha256 ?? "") &&
      (["mode", "owner", "group"] as const).every((k) => p[k] === undefined || p[k] === now[k]);
    if (p.present && !same) out.push({ path: p.path, action: "restore" });
    if (!p.present && now !== null) out.push({ path: p.path, action: "remove" });
  }
  return out;
}

/** One line of `--diff` for a path's content and attributes. */
function describePath(p: CurrentPath): string {
  return `sha256 ${p.sha256}${p.mode ? ` mode ${p.mode} ${p.owner}:${p.group}` : ""}\n`;
}

/** `drover_restore`: put recorded files back byte for byte (and remove files that did not exist). */
export const droverRestore = defineModule({
  name: "drover_restore",
  doc:
    "Restore the files recorded by drover_record, byte for byte with mode and owner; remove those that were absent.",
  args: z.object({
    dir: str(),
    exclude: list(str()).default([]),
    archive: bool().default(false),
  }).strict(),
  async run(ctx, a) {
    const manifest = `${a.dir}/manifest.json`;
    const m = await ctx.sh(`cat ${shq(manifest)} 2>/dev/null || true\n`);
    if (!m.stdout.trim()) {
      throw new ModuleFailure(
        `no migration record at ${a.dir}: nothing to roll back (migrate writes it before changing anything)`,
      );
    }
    const record = JSON.parse(m.stdout) as MigrationRecord;
    const cur = await ctx.sh(
      record.paths.map((p) =>
        `p=${
          shq(p.path)
        }; if [ -e "$p" ] || [ -L "$p" ]; then printf '%s\\t%s\\t%s\\n' "$p" "$(sha256sum -- "$p" 2>/dev/null | cut -d' ' -f1)" "$(stat -c '%a\t%U\t%G' -- "$p")"; fi\n`
      ).join("") + "true\n",
    );
    const current: Record<string, CurrentPath | null> = {};
    for (const line of cur.stdout.split("\n")) {
      const [p, sha, mode, owner, group] = line.split("\t");
      if (p) current[p] = { sha256: sha ?? "", mode, owner, group };
    }
    const plan = planRestore(
      record,
      current,
      (p) => !a.exclude.some((e) => p === e || p.startsWith(e.endsWith("/") ? e : `${e}/`)),
    );
    const diff: Diff[] = plan.map((s) => {
      const was = record.paths.find((p) => p.path === s.path)!;
      const now = current[s.path];
      return {
        target: s.path,
        before: now ? describePath(now) : "absent\n",
        after: s.action === "remove"
          ? "absent\n"
          : describePath({ ...was, sha256: was.sha256 ?? "" }),
      };
    });
    if (!ctx.check && plan.length) {
      // A temp file beside each target, renamed over it; removed on any failure or signal.
      const script =
        `set -e\ntmp=\ntrap '[ -z "$tmp" ] || rm -f -- "$tmp"' EXIT\ntrap 'exit 130' HUP INT TERM\n` +
        plan.map((s) =>
          s.action === "remove"
            ? `rm -f -- ${shq(s.path)}\n`
            : `t=${shq(s.path)}; src=${
              shq(`${a.dir}/files${s.path}`)
            }; mkdir -p -- "$(dirname -- "$t")"; tmp=$(mktemp "$(dirname -- "$t")/.drover.XXXXXXXX"); cp -a -- "$src" "$tmp"; mv -f -- "$tmp" "$t"; tmp=\n`
        ).join("");
      const r = await ctx.sh(script);
      if (r.rc !== 0) throw new ModuleFailure(`restore failed: ${r.stderr.trim()}`);
    }
    return {
      changed: plan.length > 0,
      diff,
      msg: plan.length
        ? plan.map((s) => `${s.action} ${s.path}`).join(", ")
        : "every recorded file is as it was",
      data: { record, restored: plan },
    };
  },
});
