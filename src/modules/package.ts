/**
 * @module
 * `package` (also answers to `apt`, `dnf` and `yum`): install, upgrade and
 * remove packages with the host's apt, dnf or yum. One script reads installed
 * versions and candidates (`dpkg-query` + `apt-cache policy`, or `rpm -q` +
 * `dnf list`), a pure planner decides, and one more script applies.
 *
 * In `--check`, a package that is not installable yet because an earlier task
 * would add its repository (`apt:sources-changed` / `dnf:repos-changed` in the
 * host model) is reported as "would install", not as a failure.
 *
 * @example
 * ```yaml
 * - package:
 *     name: alloy=1.8.0          # apt pin; dnf/yum: alloy-1.8.0
 *     state: present
 *     update_cache: true
 *
 * - apt:
 *     deb: /tmp/alloy_1.13.0_amd64.deb   # a file on the host, for offline installs
 * ```
 */
import { z } from "zod";
import {
  defineModule,
  type Diff,
  type HostModel,
  type ModuleContext,
  ModuleFailure,
  readHost,
} from "../core/module.ts";
import { bool, int, list, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";

/** Package managers this module drives. */
export type PkgMgr = "apt" | "dnf" | "yum";

const argsSchema = z.object({
  name: list(str()).optional().describe(
    "Package names. Pin a version with name=VERSION (apt, glob allowed: alloy=1.8*) or name-VERSION (dnf/yum)",
  ),
  pkg: list(str()).optional().describe("Alias of name"),
  state: z.enum(["present", "installed", "latest", "absent", "removed"]).default("present")
    .describe("present/installed, latest (upgrade to the candidate), absent/removed"),
  update_cache: bool().optional().describe(
    "apt-get update (dnf makecache) before anything else",
  ),
  cache_valid_time: int().optional().describe(
    "apt: update the cache only when it is older than this many seconds (implies update_cache)",
  ),
  deb: str().optional().describe(
    "apt: path ON THE HOST of a .deb to install (apt-get install ./file.deb); idempotent by its Package/Version",
  ),
  purge: bool().default(false).describe(
    "With state absent, also remove configuration files (dnf/yum: the FILE.rpmsave copies)",
  ),
  allow_downgrade: bool().optional().describe(
    "Allow installing a pinned version lower than the installed one",
  ),
  allow_downgrades: bool().optional().describe("Alias of allow_downgrade"),
  install_recommends: bool().optional().describe(
    "apt: false adds --no-install-recommends; unset keeps apt's configuration",
  ),
  use: z.enum(["auto", "apt", "dnf", "yum"]).default("auto").describe(
    "Package manager; auto uses the pkg_mgr fact",
  ),
  lock_timeout: int().default(300).describe(
    "Seconds to wait for the package manager's lock (apt)",
  ),
}).strict().transform((a) => {
  const { pkg, allow_downgrades, state, ...rest } = a;
  return {
    ...rest,
    name: [...(a.name ?? []), ...(pkg ?? [])],
    allow_downgrade: a.allow_downgrade ?? allow_downgrades ?? false,
    state: state === "installed"
      ? "present" as const
      : state === "removed"
      ? "absent" as const
      : state,
  };
}).refine((a) => a.name.length > 0 || a.deb !== undefined || a.update_cache || a.cache_valid_time, {
  message: "give 'name', 'deb' or 'update_cache'",
});

/** Parsed arguments of {@linkcode packageModule}. */
export type PackageArgs = z.infer<typeof argsSchema>;

// ---------------------------------------------------------------- versions

function debOrder(c: string | undefined): number {
  if (c === undefined) return 0;
  if (/[0-9]/.test(c)) return 0;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  if (c === "~") return -1;
  return c.charCodeAt(0) + 256;
}

function debVerRevCmp(a: string, b: string): number {
  let i = 0, j = 0;
  const digit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !digit(a[i])) || (j < b.length && !digit(b[j]))) {
      const ac = debOrder(a[i]), bc = debOrder(b[j]);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === "0") i++;
    while (b[j] === "0") j++;
    while (digit(a[i]) && digit(b[j])) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (digit(a[i])) return 1;
    if (digit(b[j])) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

function splitEvr(v: string): [number, string, string] {
  const c = v.indexOf(":");
  const epoch = c > 0 && /^\d+$/.test(v.slice(0, c)) ? Number(v.slice(0, c)) : 0;
  const rest = c > 0 && /^\d+$/.test(v.slice(0, c)) ? v.slice(c + 1) : v;
  const h = rest.lastIndexOf("-");
  return h < 0 ? [epoch, rest, ""] : [epoch, rest.slice(0, h), rest.slice(h + 1)];
}

/** Compare two Debian versions like `dpkg --compare-versions` (<0, 0, >0). Pure. */
export function compareDebVersions(a: string, b: string): number {
  const [ea, ua, ra] = splitEvr(a);
  const [eb, ub, rb] = splitEvr(b);
  if (ea !== eb) return ea - eb;
  return debVerRevCmp(ua, ub) || debVerRevCmp(ra, rb);
}

/** rpm's `rpmvercmp` on one version or release string (-1, 0, 1). Pure. */
export function rpmVerCmp(a: string, b: string): number {
  if (a === b) return 0;
  const alnum = (c: string | undefined) => c !== undefined && /[A-Za-z0-9]/.test(c);
  let i = 0, j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !alnum(a[i]) && a[i] !== "~" && a[i] !== "^") i++;
    while (j < b.length && !alnum(b[j]) && b[j] !== "~" && b[j] !== "^") j++;
    if (a[i] === "~" || b[j] === "~") {
      if (a[i] !== "~") return 1;
      if (b[j] !== "~") return -1;
      i++;
      j++;
      continue;
    }
    if (a[i] === "^" || b[j] === "^") {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== "^") return 1;
      if (b[j] !== "^") return -1;
      i++;
      j++;
      continue;
    }
    if (!(i < a.length && j < b.length)) break;
    const re = /[0-9]/.test(a[i]) ? /^[0-9]+/ : /^[A-Za-z]+/;
    const isNum = re.source === "^[0-9]+";
    const sa = re.exec(a.slice(i))?.[0] ?? "";
    const sb = re.exec(b.slice(j))?.[0] ?? "";
    if (sb === "") return isNum ? 1 : -1;
    i += sa.length;
    j += sb.length;
    if (isNum) {
      const na = sa.replace(/^0+/, ""), nb = sb.replace(/^0+/, "");
      if (na.length !== nb.length) return na.length > nb.length ? 1 : -1;
      if (na !== nb) return na > nb ? 1 : -1;
    } else if (sa !== sb) return sa > sb ? 1 : -1;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

/** Compare rpm `[epoch:]version[-release]` strings; a missing release matches any. Pure. */
export function compareRpmVersions(a: string, b: string): number {
  const [ea, va, ra] = splitEvr(a);
  const [eb, vb, rb] = splitEvr(b);
  if (ea !== eb) return ea > eb ? 1 : -1;
  return rpmVerCmp(va, vb) || (ra && rb ? rpmVerCmp(ra, rb) : 0);
}

function compareVersions(mgr: PkgMgr, a: string, b: string): number {
  return mgr === "apt" ? compareDebVersions(a, b) : compareRpmVersions(a, b);
}

// ---------------------------------------------------------------- host state

/** What the host knows about one package. */
export interface PkgInfo {
  /** Installed version, if installed. */
  readonly installed?: string;
  /** apt: removed but its configuration files remain (`rc`). */
  readonly configOnly?: boolean;
  /** The version the package manager would install now. */
  readonly candidate?: string;
  /** Every version the configured repositories offer. */
  readonly versions: readonly string[];
}

/** Package name → what the host knows about it. */
export type Inventory = ReadonlyMap<string, PkgInfo>;

/** Parse `dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n'`. Pure. */
export function parseDpkgQuery(out: string): Map<string, PkgInfo> {
  const m = new Map<string, PkgInfo>();
  for (const line of out.split("\n")) {
    // Single spaces keep empty fields: a known, never-installed package is "name  un ".
    const [name, version, status = ""] = line.split(" ");
    if (!name || !NAME_RE.test(name) || status.length < 2) continue;
    // Second letter: i installed, W/t trigger states of an installed package, c config-files.
    const s = status[1];
    m.set(name, {
      installed: (s === "i" || s === "W" || s === "t") && version ? version : undefined,
      configOnly: s === "c",
      versions: [],
    });
  }
  return m;
}

/** Parse `apt-cache policy NAME...` (LC_ALL=C). Pure. */
export function parseAptPolicy(out: string): Map<string, PkgInfo> {
  const m = new Map<string, PkgInfo>();
  let name: string | undefined;
  let installed: string | undefined, candidate: string | undefined;
  let versions: string[] = [];
  const flush = () => {
    if (name) m.set(name, { installed, candidate, versions });
  };
  for (const line of out.split("\n")) {
    const head = /^(\S+):$/.exec(line);
    if (head) {
      flush();
      name = head[1];
      installed = candidate = undefined;
      versions = [];
      continue;
    }
    const kv = /^ {2}(Installed|Candidate): (.*)$/.exec(line);
    if (kv) {
      const v = kv[2].trim() === "(none)" ? undefined : kv[2].trim();
      if (kv[1] === "Installed") installed = v;
      else candidate = v;
      continue;
    }
    const ver = /^ (?:\*\*\*| {3}) (\S+) (-?\d+)$/.exec(line);
    if (ver && !versions.includes(ver[1])) versions.push(ver[1]);
  }
  flush();
  return m;
}

/** Parse `rpm -q --qf '%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} installed\n'`. Pure. */
export function parseRpmQuery(out: string): Map<string, PkgInfo> {
  const m = new Map<string, PkgInfo>();
  for (const line of out.split("\n")) {
    const r = /^(\S+) (\S+) installed$/.exec(line.trim());
    if (!r) continue;
    const prev = m.get(r[1])?.installed;
    // Several installed versions (kernels): report the newest.
    if (!prev || compareRpmVersions(r[2], prev) > 0) m.set(r[1], { installed: r[2], versions: [] });
  }
  return m;
}

/** Parse `dnf|yum list --showduplicates --available NAME...`; the candidate is the newest. Pure. */
export function parseDnfList(out: string): Map<string, PkgInfo> {
  const acc = new Map<string, string[]>();
  // yum wraps long lines: a name alone on its line continues on the next.
  const lines = out.replace(/^(\S+)\n\s+/gm, "$1 ").split("\n");
  for (const line of lines) {
    const r = /^(\S+)\.([A-Za-z0-9_]+)\s+(\S+)\s+(\S+)\s*$/.exec(line);
    if (!r) continue;
    const v = acc.get(r[1]) ?? [];
    if (!v.includes(r[3])) v.push(r[3]);
    acc.set(r[1], v);
  }
  const m = new Map<string, PkgInfo>();
  for (const [name, versions] of acc) {
    const sorted = [...versions].sort((a, b) => compareRpmVersions(b, a));
    m.set(name, { candidate: sorted[0], versions: sorted });
  }
  return m;
}

/** Combine installed-state and repository maps. Pure. */
export function mergeInventory(
  installed: ReadonlyMap<string, PkgInfo>,
  repos: ReadonlyMap<string, PkgInfo>,
): Map<string, PkgInfo> {
  const m = new Map<string, PkgInfo>();
  for (const name of new Set([...installed.keys(), ...repos.keys()])) {
    const a = installed.get(name), b = repos.get(name);
    m.set(name, {
      installed: a?.installed ?? undefined,
      configOnly: a?.configOnly,
      candidate: b?.candidate,
      versions: b?.versions ?? [],
    });
  }
  return m;
}

// ---------------------------------------------------------------- planner

/** A requested package: name and optional version (apt: may hold `*`/`?` globs). */
export interface PkgSpec {
  readonly name: string;
  readonly version?: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9+._:~-]*$/;

/**
 * Split `alloy=1.8.0` (apt; also accepted by dnf/yum) or `alloy-1.8.0[-1]`
 * (dnf/yum: the first `-` followed by a digit, unless the whole string is a
 * known package name). Pure.
 */
export function parseSpec(
  mgr: PkgMgr,
  raw: string,
  known: ReadonlySet<string> = new Set(),
): PkgSpec {
  const s = raw.trim();
  let spec: PkgSpec = { name: s };
  const eq = s.indexOf("=");
  if (eq > 0) spec = { name: s.slice(0, eq).trim(), version: s.slice(eq + 1).trim() };
  else if (mgr !== "apt" && !known.has(s)) {
    const m = /^(.+?)-(\d.*)$/.exec(s);
    if (m) spec = { name: m[1], version: m[2] };
  }
  if (
    !NAME_RE.test(spec.name) ||
    (spec.version !== undefined && !/^[A-Za-z0-9.+~:*?_-]+$/.test(spec.version))
  ) {
    throw new ModuleFailure(`invalid package name or version '${raw}'`);
  }
  return spec;
}

function globRe(glob: string): RegExp {
  return new RegExp(
    "^" + glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".") +
      "$",
  );
}

/** Does installed/available `version` satisfy the pin `want`? Pure. */
export function versionMatches(mgr: PkgMgr, want: string, version: string): boolean {
  if (/[*?]/.test(want)) {
    return globRe(want).test(version) || globRe(want).test(splitEvr(version)[1]);
  }
  if (want === version) return true;
  if (mgr === "apt") return false;
  // dnf/yum: "1.8.0" matches "1.8.0-1"; an epoch-less pin matches epoch 0.
  const [ew, vw, rw] = splitEvr(want);
  const [ev, vv, rv] = splitEvr(version);
  return ew === ev && vw === vv && (rw === "" || rw === rv);
}

/** One package change the plan makes. */
export interface PkgChange {
  readonly name: string;
  readonly action: "install" | "upgrade" | "downgrade" | "remove" | "purge";
  /** What to hand the package manager (`alloy=1.8.0`, `alloy-1.8.0`, `./x.deb`). */
  readonly arg: string;
  readonly before?: string;
  /** The version after, when known. */
  readonly after?: string;
  /** Not installable yet: an earlier task of this check run adds its repository. */
  readonly pending?: boolean;
}

/** Input of {@linkcode planPackages}. */
export interface PlanInput {
  readonly mgr: PkgMgr;
  readonly specs: readonly PkgSpec[];
  readonly state: "present" | "latest" | "absent";
  readonly inventory: Inventory;
  readonly purge?: boolean;
  readonly allowDowngrade?: boolean;
  /** An earlier task (would have) added repositories: missing packages are predicted. */
  readonly reposPending?: boolean;
}

function pinArg(mgr: PkgMgr, name: string, version: string): string {
  return mgr === "apt" ? `${name}=${version}` : `${name}-${version}`;
}

/** Decide what to install, upgrade, downgrade or remove. Throws {@linkcode ModuleFailure}. Pure. */
export function planPackages(input: PlanInput): PkgChange[] {
  const { mgr, inventory: inv } = input;
  const out: PkgChange[] = [];
  for (const spec of input.specs) {
    const info = inv.get(spec.name);
    const label = spec.version ? pinArg(mgr, spec.name, spec.version) : spec.name;
    if (input.state === "absent") {
      if (info?.installed) {
        out.push({
          name: spec.name,
          action: input.purge ? "purge" : "remove",
          arg: spec.name,
          before: info.installed,
        });
      } else if (info?.configOnly && input.purge && mgr === "apt") {
        out.push({ name: spec.name, action: "purge", arg: spec.name, before: "config files" });
      }
      continue;
    }
    const installed = info?.installed;
    const unavailable = (detail: string): void => {
      if (input.reposPending) {
        out.push({
          name: spec.name,
          action: "install",
          arg: label,
          before: installed,
          after: spec.version,
          pending: true,
        });
        return;
      }
      throw new ModuleFailure(`No package matching '${label}' is available${detail}`, {
        name: spec.name,
      });
    };
    if (spec.version !== undefined) {
      if (installed && versionMatches(mgr, spec.version, installed)) continue;
      const matching = (info?.versions ?? []).filter((v) => versionMatches(mgr, spec.version!, v))
        .sort((a, b) => compareVersions(mgr, b, a));
      if (matching.length === 0) {
        const avail = info?.versions.length ? ` (available: ${info.versions.join(", ")})` : "";
        unavailable(avail);
        continue;
      }
      const target = matching[0];
      const cmp = installed ? compareVersions(mgr, target, installed) : 1;
      if (cmp < 0 && !input.allowDowngrade) {
        throw new ModuleFailure(
          `${spec.name} ${installed} is installed; ${label} would be a downgrade: set allow_downgrade: true`,
          { name: spec.name, installed },
        );
      }
      out.push({
        name: spec.name,
        action: !installed ? "install" : cmp < 0 ? "downgrade" : "upgrade",
        arg: pinArg(mgr, spec.name, mgr === "apt" ? target : spec.version),
        before: installed,
        after: target,
      });
      continue;
    }
    if (!installed) {
      if (!info?.candidate) {
        unavailable("");
        continue;
      }
      out.push({ name: spec.name, action: "install", arg: spec.name, after: info.candidate });
      continue;
    }
    if (
      input.state === "latest" && info?.candidate &&
      compareVersions(mgr, info.candidate, installed) > 0
    ) {
      out.push({
        name: spec.name,
        action: "upgrade",
        arg: spec.name,
        before: installed,
        after: info.candidate,
      });
    }
  }
  return out;
}

/** The `.deb` named by `deb:` as the host sees it. */
export interface DebFile {
  readonly path: string;
  /** `Package`/`Version` from `dpkg-deb -f`, or undefined when the file is missing. */
  readonly control?: { readonly name: string; readonly version: string };
  /** Installed version of that package. */
  readonly installed?: string;
}

/**
 * Plan a `deb:` install: nothing when that exact version is installed.
 * `predicted` means an earlier task of this check run would create the file. Pure.
 */
export function planDeb(deb: DebFile, predicted = false): PkgChange | undefined {
  const arg = deb.path.includes("/") ? deb.path : `./${deb.path}`;
  if (!deb.control) {
    if (predicted) {
      // Debian's file naming, NAME_VERSION_ARCH.deb, tells later tasks which package it is.
      const base = deb.path.split("/").pop() ?? deb.path;
      const name = /^([a-z0-9][a-z0-9+.-]*)_[^_]+_[^_]+\.deb$/.exec(base)?.[1] ?? deb.path;
      return { name, action: "install", arg, pending: true };
    }
    throw new ModuleFailure(`deb file ${deb.path} not found on the host`, { deb: deb.path });
  }
  if (deb.installed === deb.control.version) return undefined;
  const cmp = deb.installed ? compareDebVersions(deb.control.version, deb.installed) : 1;
  return {
    name: deb.control.name,
    action: !deb.installed ? "install" : cmp < 0 ? "downgrade" : "upgrade",
    arg,
    before: deb.installed,
    after: deb.control.version,
  };
}

/** When the apt cache is updated before planning. Pure. */
export function updateMode(a: {
  readonly updateCache?: boolean;
  readonly cacheValidTime?: number;
  readonly sourcesChanged?: boolean;
}): { readonly mode: "never" | "always" | "if-older"; readonly validTime: number } {
  if (a.sourcesChanged) return { mode: "always", validTime: 0 };
  if (a.cacheValidTime !== undefined && a.cacheValidTime > 0) {
    return { mode: "if-older", validTime: a.cacheValidTime };
  }
  return { mode: a.updateCache ? "always" : "never", validTime: 0 };
}

// ---------------------------------------------------------------- scripts

const DPKG_FMT = "${Package} ${Version} ${db:Status-Abbrev}\\n";
const RPM_FMT = "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} installed\\n";
const SECTION = `s() { printf '\\n@@%s\\n' "$1"; }\n`;

/** Options of {@linkcode gatherScript}. */
export interface GatherOptions {
  readonly mgr: PkgMgr;
  readonly names: readonly string[];
  readonly deb?: string;
  /** Only in a real run: update the cache first. */
  readonly update: ReturnType<typeof updateMode>;
  readonly lockTimeout: number;
  /** Check mode: apt-cache builds its cache in memory instead of rewriting pkgcache.bin. */
  readonly readOnly?: boolean;
  /**
   * apt: ask `apt-cache policy` (about 60 ms of host CPU: it starts dpkg
   * several times) only when a package is not installed. For `state:
   * present` without version pins, which needs no candidate once installed.
   */
  readonly policyOnlyIfMissing?: boolean;
}

/** The one-round-trip read (and, in a real run, cache update) script. Pure. */
export function gatherScript(o: GatherOptions): string {
  const bad = o.names.find((n) => !NAME_RE.test(n));
  if (bad !== undefined) throw new ModuleFailure(`invalid package name '${bad}'`);
  const names = o.names.join(" ");
  if (o.mgr === "apt") {
    const when = o.update.mode === "always"
      ? "true"
      : `[ $((now - stamp)) -ge ${o.update.validTime} ]`;
    const upd = o.update.mode === "never" ? "" : `if ${when}; then
  s update
  out=$(apt-get update -q -o DPkg::Lock::Timeout=${o.lockTimeout} 2>&1); echo "$?"
  printf '%s\\n' "$out" | tail -n 15
  stamp=$now
fi
`;
    return `export LC_ALL=C DEBIAN_FRONTEND=noninteractive
${SECTION}now=$(date +%s)
stamp=0
for t in $(stat -c %Y /var/lib/apt/periodic/update-success-stamp /var/lib/apt/lists 2>/dev/null); do
  [ "$t" -gt "$stamp" ] && stamp=$t
done
set -- /var/lib/apt/lists/*_Packages*; lists=$#; [ -e "$1" ] || lists=0
${upd}s cache; echo "$now $stamp $lists"
names=${shq(names)}
${
      o.deb !== undefined
        ? `deb=${shq(o.deb)}
s deb
if [ -f "$deb" ]; then
  dpkg-deb -f "$deb" Package Version
  names="$names $(dpkg-deb -f "$deb" Package)"
fi
`
        : ""
    }${
      o.policyOnlyIfMissing && o.deb === undefined
        ? `s dpkg; d=$(dpkg-query -W -f='${DPKG_FMT}' $names 2>/dev/null); printf '%s\\n' "$d"
need=
for n in $names; do
  f=
  while read -r pn pv ps; do [ "$pn" = "$n" ] && [ "$ps" = ii ] && f=1; done <<DROVER_EOF
$d
DROVER_EOF
  [ -n "$f" ] || need=1
done
s policy; [ -n "$need" ] && apt-cache${
          o.readOnly ? " -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=" : ""
        } policy $names 2>/dev/null
`
        : `s dpkg; [ -n "$names" ] && dpkg-query -W -f='${DPKG_FMT}' $names 2>/dev/null
s policy; [ -n "$names" ] && apt-cache${
          o.readOnly ? " -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=" : ""
        } policy $names 2>/dev/null
`
    }s end
`;
  }
  const mgr = o.mgr;
  return `export LC_ALL=C
${SECTION}${
    o.update.mode === "always"
      ? `s update; out=$(${mgr} -q -y makecache 2>&1); echo "$?"; printf '%s\\n' "$out" | tail -n 15\n`
      : ""
  }s rpm; rpm -q --qf '${RPM_FMT}' ${o.names.map(shq).join(" ")} 2>/dev/null
s avail; { err=$(${mgr} -q -y list --showduplicates --available ${
    o.names.map(shq).join(" ")
  } 2>&1 >&3); } 3>&1
s availerr; printf '%s\n' "$err" | grep -E '^(Error|Failed)' | grep -v 'No matching Packages' | head -n 5
s end
`;
}

/** Split `@@name` sections of a script's output. Pure. */
export function sections(out: string): Map<string, string> {
  const m = new Map<string, string>();
  const parts = ("\n" + out).split(/\n@@([\w-]+)\n/);
  for (let i = 1; i < parts.length; i += 2) {
    m.set(parts[i], (parts[i + 1] ?? "").replace(/\n$/, ""));
  }
  return m;
}

/** Options of {@linkcode applyScript}. */
export interface ApplyOptions {
  readonly mgr: PkgMgr;
  readonly changes: readonly PkgChange[];
  readonly installRecommends?: boolean;
  readonly lockTimeout: number;
  readonly names: readonly string[];
}

/** The script that makes the planned changes, then reports installed versions. Pure. */
export function applyScript(o: ApplyOptions): string {
  const by = (...acts: PkgChange["action"][]) =>
    o.changes.filter((c) => acts.includes(c.action)).map((c) => shq(c.arg)).join(" ");
  const names = o.names.map(shq).join(" ");
  if (o.mgr === "apt") {
    const base = `apt-get -y -q -o DPkg::Lock::Timeout=${o.lockTimeout} ` +
      `-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold`;
    const install = by("install", "upgrade", "downgrade");
    const downgrade = o.changes.some((c) => c.action === "downgrade");
    const rec = o.installRecommends === false ? " --no-install-recommends" : "";
    return `set -e
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
${SECTION}${
      install ? `${base}${downgrade ? " --allow-downgrades" : ""}${rec} install ${install}\n` : ""
    }${by("remove") ? `${base} remove ${by("remove")}\n` : ""}${
      by("purge") ? `${base} purge ${by("purge")}\n` : ""
    }s dpkg; dpkg-query -W -f='${DPKG_FMT}' ${names} 2>/dev/null || true
`;
  }
  const m = o.mgr;
  const up = o.changes.filter((c) => c.action === "upgrade");
  const pinnedUp = up.filter((c) => c.arg !== c.name).map((c) => shq(c.arg)).join(" ");
  const plainUp = up.filter((c) => c.arg === c.name).map((c) => shq(c.arg)).join(" ");
  // rpm keeps changed config files as FILE.rpmsave (and so the package's
  // directory holding them); purge removes those too.
  const gone = by("purge");
  const purge = gone
    ? `cf=$(rpm -qc ${gone} 2>/dev/null | grep '^/' || true)
dirs=$(rpm -q --qf '[%{FILEMODES:perms} %{FILENAMES}\\n]' ${gone} 2>/dev/null | sed -n 's/^d[^ ]* //p')
${m} -y remove ${gone}
printf '%s\\n' "$cf" | while IFS= read -r f; do
  [ -n "$f" ] && [ -e "$f.rpmsave" ] || continue
  rm -f -- "$f.rpmsave"
  if printf '%s\\n' "$dirs" | grep -qxF -- "\${f%/*}"; then rmdir -- "\${f%/*}" 2>/dev/null || true; fi
done
`
    : "";
  return `set -e
export LC_ALL=C
${SECTION}${
    // A pinned upgrade is an install of that version; a plain one is "upgrade".
    by("install") || pinnedUp
      ? `${m} -y install ${[by("install"), pinnedUp].filter(Boolean).join(" ")}\n`
      : ""}${plainUp ? `${m} -y upgrade ${plainUp}\n` : ""}${
    by("downgrade") ? `${m} -y downgrade ${by("downgrade")}\n` : ""
  }${
    by("remove") ? `${m} -y remove ${by("remove")}\n` : ""
  }${purge}s rpm; rpm -q --qf '${RPM_FMT}' ${names} 2>/dev/null || true
`;
}

const VERBS: Readonly<Record<PkgChange["action"], readonly [string, string]>> = {
  install: ["install", "installed"],
  upgrade: ["upgrade", "upgraded"],
  downgrade: ["downgrade", "downgraded"],
  remove: ["remove", "removed"],
  purge: ["purge", "purged"],
};

/** The message for a plan: what was, or would be, done. Pure. */
export function planMessage(changes: readonly PkgChange[], check: boolean): string {
  return changes.map((c) => {
    if (c.pending) {
      return c.arg.includes("/")
        ? `would install ${c.arg} (the file is created by an earlier task)`
        : `would install ${c.name} (its repository is added by an earlier task)`;
    }
    const [would, did] = VERBS[c.action];
    const removing = c.action === "remove" || c.action === "purge";
    const version = !removing && c.after ? ` ${c.after}` : "";
    const was = !removing && c.before ? ` (was ${c.before})` : "";
    return `${check ? `would ${would}` : did} ${c.name}${version}${was}`;
  }).join("; ");
}

function failure(what: string, r: { rc: number; stdout: string; stderr: string }): ModuleFailure {
  const text = (r.stderr.trim() || r.stdout.trim()).split("\n");
  const errs = text.filter((l) => /^(E|Error|W):/.test(l));
  const detail = (errs.length ? errs : text.slice(-5)).join(" ").trim();
  const hint = /Permission denied|are you root|must be run as root|superuser/i.test(r.stderr)
    ? " (are you root? use become: true)"
    : "";
  return new ModuleFailure(`${what} failed (rc ${r.rc}): ${detail}${hint}`, {
    rc: r.rc,
    stdout: r.stdout,
    stderr: r.stderr,
  });
}

/** dnf/yum: say why a package is missing (a repository that failed to load, e.g. a bad signature). */
function withRepoErrors<T>(errors: string | undefined, plan: () => T): T {
  try {
    return plan();
  } catch (e) {
    const why = (errors ?? "").trim().split("\n").join(" ");
    if (!(e instanceof ModuleFailure) || !why) throw e;
    throw new ModuleFailure(`${e.message}: ${why}`, e.data);
  }
}

function pkgDiff(changes: readonly PkgChange[]): Diff[] {
  if (changes.length === 0) return [];
  const line = (c: PkgChange, v: string | undefined) => `${c.name}: ${v ?? "(absent)"}\n`;
  return [{
    target: "packages",
    before: changes.map((c) => line(c, c.before)).join(""),
    after: changes.map((c) =>
      line(c, c.action === "remove" || c.action === "purge" ? undefined : c.after ?? "(new)")
    ).join(""),
  }];
}

/** The cache update a run wants and the gather's options. Pure. */
function gatherFor(
  mgr: PkgMgr,
  a: Pick<PackageArgs, "update_cache" | "cache_valid_time" | "name" | "deb" | "lock_timeout"> & {
    readonly state?: PackageArgs["state"];
  },
  model: HostModel,
  check: boolean,
): { update: ReturnType<typeof updateMode>; gather: GatherOptions } {
  const sourcesFlag = mgr === "apt" ? "apt:sources-changed" : "dnf:repos-changed";
  const sourcesChanged = model.flag<boolean>(sourcesFlag) === true;
  const update = updateMode({
    updateCache: a.update_cache,
    cacheValidTime: a.cache_valid_time,
    // dnf fetches a new repository's metadata by itself.
    sourcesChanged: sourcesChanged && mgr === "apt",
  });
  const queryNames = [...new Set(a.name.map((s) => parseSpec(mgr, s).name))];
  // dnf/yum: "foo-2" may be a package's whole name; ask about that too.
  for (const s of a.name) {
    const whole = s.trim();
    if (mgr !== "apt" && !queryNames.includes(whole) && NAME_RE.test(whole)) {
      queryNames.push(whole);
    }
  }
  return {
    update,
    gather: {
      mgr,
      names: queryNames,
      deb: a.deb,
      update: check ? { mode: "never", validTime: 0 } : update,
      lockTimeout: a.lock_timeout,
      readOnly: check,
      policyOnlyIfMissing: mgr === "apt" &&
        ["present", "installed"].includes(String(a.state ?? "present")) &&
        queryNames.length > 0 && a.name.every((s) => parseSpec(mgr, s).version === undefined),
    },
  };
}

/** The `package` module (aliases `apt`, `dnf`, `yum`). */
export const packageModule = defineModule({
  name: "package",
  aliases: ["apt", "dnf", "yum"],
  doc: "Install, upgrade or remove packages with apt, dnf or yum (version pins, local .deb).",
  freeForm: "name",
  args: argsSchema,
  reads: (a, rc) => {
    const m = (a.use ?? "auto") === "auto" ? rc.facts.pkg_mgr : a.use;
    if ((m !== "apt" && m !== "dnf" && m !== "yum") || !Array.isArray(a.name)) return [];
    if (a.deb !== undefined && (m !== "apt" || a.deb.includes("://"))) return [];
    const { gather } = gatherFor(m, { lock_timeout: 300, ...a, name: a.name }, rc.model, rc.check);
    return gather.update.mode === "never" ? [{ script: gatherScript(gather) }] : [];
  },
  async run(ctx, a) {
    const mgr = pickManager(ctx, a.use);
    if (a.deb !== undefined && mgr !== "apt") {
      throw new ModuleFailure(`'deb' needs apt; this host uses ${mgr}`);
    }
    if (a.deb !== undefined && a.deb.includes("://")) {
      throw new ModuleFailure("'deb' must be a path on the host; download it first (get_url)");
    }
    const { update, gather } = gatherFor(mgr, a, ctx.model, ctx.check);
    const sourcesChanged = ctx.model.flag<boolean>(
      mgr === "apt" ? "apt:sources-changed" : "dnf:repos-changed",
    ) === true;
    const specsRaw = a.name;
    const gs = gatherScript(gather);
    // Without a cache update the gather only reads: it may come from a batch.
    const r = gather.update.mode === "never" ? await readHost(ctx, gs) : await ctx.sh(gs);
    const sec = sections(r.stdout);
    if (!sec.has("end")) throw failure(`reading package state with ${mgr}`, r);
    let cacheUpdated = false;
    if (sec.has("update")) {
      const [rc, ...log] = (sec.get("update") ?? "").split("\n");
      if (rc.trim() !== "0") {
        throw failure(mgr === "apt" ? "apt-get update" : `${mgr} makecache`, {
          rc: Number(rc),
          stdout: "",
          stderr: log.join("\n"),
        });
      }
      cacheUpdated = true;
      if (mgr === "apt") ctx.model.setFlag("apt:sources-changed", false);
    }
    let inventory: Map<string, PkgInfo>;
    if (mgr === "apt") {
      inventory = mergeInventory(
        parseDpkgQuery(sec.get("dpkg") ?? ""),
        parseAptPolicy(sec.get("policy") ?? ""),
      );
    } else {
      inventory = mergeInventory(
        parseRpmQuery(sec.get("rpm") ?? ""),
        parseDnfList(sec.get("avail") ?? ""),
      );
    }
    const known = new Set(inventory.keys());
    const specs = specsRaw.map((s) => parseSpec(mgr, s, known));
    const [now, stamp, lists] = (sec.get("cache") ?? "0 0 0").split(" ").map(Number);
    const stale = update.mode === "always" ||
      (update.mode === "if-older" && now - stamp >= update.validTime);
    const changes = withRepoErrors(sec.get("availerr"), () =>
      planPackages({
        mgr,
        specs,
        state: a.state,
        inventory,
        purge: a.purge,
        allowDowngrade: a.allow_downgrade,
        // In check mode nothing is fetched: trust an earlier task's new sources,
        // or an apt cache that was never filled and would be updated.
        reposPending: ctx.check && (sourcesChanged || (stale && lists === 0)),
      }));
    if (a.deb !== undefined) {
      const ctl = (sec.get("deb") ?? "").split("\n");
      const control = ctl.length >= 2 && ctl[0].startsWith("Package: ")
        ? { name: ctl[0].slice(9).trim(), version: ctl[1].replace(/^Version: /, "").trim() }
        : undefined;
      const predicted = ctx.check && typeof ctx.model.file(a.deb) === "string";
      const c = planDeb(
        { path: a.deb, control, installed: control && inventory.get(control.name)?.installed },
        predicted,
      );
      if (c) changes.push(c);
    }
    const data: Record<string, unknown> = { cache_updated: cacheUpdated };
    const pending = changes.filter((c) =>
      c.action === "install" || c.action === "upgrade" || c.action === "downgrade"
    );
    const record = () => {
      for (const s of specs) {
        ctx.model.setFlag(`pkg:${s.name}`, a.state === "absent" ? "absent" : "present");
      }
      for (const c of changes) {
        ctx.model.setFlag(
          `pkg:${c.name}`,
          c.action === "remove" || c.action === "purge" ? "absent" : "present",
        );
      }
      if (ctx.check && pending.length) {
        const prev = ctx.model.flag<string[]>("pkg:pending") ?? [];
        ctx.model.setFlag("pkg:pending", [...new Set([...prev, ...pending.map((c) => c.name)])]);
      }
    };
    if (changes.length === 0) {
      record();
      const onlyCache = specs.length === 0 && a.deb === undefined;
      if (onlyCache && ctx.check && stale) {
        return { changed: true, msg: "would update the apt cache", data };
      }
      return {
        changed: onlyCache && cacheUpdated,
        msg: onlyCache
          ? (cacheUpdated ? "updated the package cache" : "the package cache is recent enough")
          : `nothing to do: ${specs.map((s) => s.name).join(", ") || a.deb} already ${
            a.state === "absent"
              ? "absent"
              : a.state === "latest"
              ? "at the latest version"
              : "installed"
          }`,
        data,
      };
    }
    const diff = pkgDiff(changes);
    if (ctx.check) {
      record();
      return { changed: true, diff, msg: planMessage(changes, true), data };
    }
    const names = [...new Set([...specs.map((s) => s.name), ...changes.map((c) => c.name)])];
    const ar = await ctx.sh(applyScript({
      mgr,
      changes,
      installRecommends: a.install_recommends,
      lockTimeout: a.lock_timeout,
      names,
    }));
    if (ar.rc !== 0) throw failure(`${mgr} ${changes.map((c) => c.action).join("/")}`, ar);
    record();
    const after = sections(ar.stdout);
    const final = mgr === "apt"
      ? parseDpkgQuery(after.get("dpkg") ?? "")
      : parseRpmQuery(after.get("rpm") ?? "");
    return {
      changed: true,
      diff,
      msg: planMessage(changes, false),
      data: {
        ...data,
        installed: Object.fromEntries(names.map((n) => [n, final.get(n)?.installed ?? null])),
        stdout: ar.stdout.split("\n@@")[0],
        stderr: ar.stderr,
      },
    };
  },
});

function pickManager(ctx: ModuleContext, use: PackageArgs["use"]): PkgMgr {
  const m = use === "auto" ? ctx.facts.pkg_mgr : use;
  if (m === "apt" || m === "dnf" || m === "yum") return m;
  throw new ModuleFailure(
    `package manager '${m}' is not supported (drover drives apt, dnf and yum); set 'use:' to override`,
  );
}
