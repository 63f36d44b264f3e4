/**
 * @module
 * Facts: one batched probe script per host (one round trip), parsed by a pure
 * function. Yields Ansible's familiar names plus drover's own.
 */

import { BECOME_PROBE } from "../connection/become.ts";
import { DOCKER_API_FN } from "./docker_api.ts";

/** A listening TCP socket and, when known, its owning process. */
export interface ListeningPort {
  readonly address: string;
  readonly port: number;
  readonly process?: string;
  readonly pid?: number;
}

/** What drover knows about a host. */
export interface Facts {
  readonly os_family: string;
  readonly distribution: string;
  readonly distribution_version: string;
  readonly distribution_major_version: string;
  readonly distribution_release: string;
  readonly os_release: Readonly<Record<string, string>>;
  readonly pkg_mgr: string;
  readonly service_mgr: string;
  readonly systemd_running: boolean;
  readonly pid1: string;
  readonly is_wsl: boolean;
  readonly wsl_version: number | null;
  readonly architecture: string;
  readonly kernel: string;
  readonly hostname: string;
  readonly user_id: string;
  readonly user_uid: number;
  readonly user_dir: string;
  readonly memtotal_mb: number;
  readonly memfree_mb: number;
  readonly listening_ports: readonly ListeningPort[];
  readonly docker: {
    readonly present: boolean;
    readonly version: string | null;
    readonly server: boolean;
  };
  readonly podman: { readonly present: boolean; readonly version: string | null };
  readonly compose_commands: readonly string[];
  readonly firewall: "ufw" | "firewalld" | "none";
  readonly sudo: boolean;
}

/**
 * The probe: POSIX sh, only the host's own tools, each section tolerant of
 * missing tools. `docker compose` is found where the docker CLI looks for its
 * plugins, without running it (that starts the plugin: a third of a second).
 * Small files are read by the shell itself (`c`), not by `cat`: every process
 * a probe starts costs the host a few milliseconds of CPU.
 */
/**
 * \`c FILE\`: print a small text file with the shell's own \`read\` (no \`cat\`
 * process; each process costs the host a few milliseconds of CPU).
 */
export const SH_CAT_FN =
  `c() { while IFS= read -r l || [ -n "$l" ]; do printf '%s\\n' "$l"; done <"$1"; }\n`;

/**
 * The docker fact: present, and the daemon's version. dockerd names its
 * version in the \`Server\` header of every answer, and \`/_ping\`'s is the
 * cheapest to get (\`/version\` costs the host ~25 ms more); the CLI answers
 * when the API does not (another daemon, no curl, no access).
 */
export const DOCKER_FACT_SH =
  `s docker; if command -v docker >/dev/null; then echo present; v=; if h=$(drover_dapi /_ping 5 -D - -o /dev/null </dev/null); then case $h in *"Server: Docker/"*) v=\${h#*Server: Docker/}; v=\${v%% *} ;; esac; fi; if [ -n "$v" ]; then printf '%s\\n' "$v"; else timeout 5 docker version --format '{{.Server.Version}}' </dev/null || timeout 5 docker --version; fi; fi`;

export const FACTS_SCRIPT = `
exec 2>/dev/null
s() { printf '\\n@@%s\\n' "$1"; }
${SH_CAT_FN}s os_release; c /etc/os-release || c /usr/lib/os-release
s uname_m; uname -m
s osrelease; c /proc/sys/kernel/osrelease
s uname_r; [ -r /proc/sys/kernel/osrelease ] || uname -r
s wsl_interop; [ -e /proc/sys/fs/binfmt_misc/WSLInterop ] && echo yes; [ -n "$WSL_DISTRO_NAME" ] && echo yes
s pid1; c /proc/1/comm
s systemd; [ -d /run/systemd/system ] && echo yes
s hostname; c /proc/sys/kernel/hostname || hostname || c /etc/hostname
s id; i=$(LC_ALL=C id); f=\${i%% *}; u=\${f#uid=}; u=\${u%%[!0-9]*}; case $f in *"("*")") n=\${f#*\\(}; n=\${n%\\)} ;; *) n= ;; esac; echo "$n"; echo "$u"; echo "$HOME"
s meminfo; while IFS= read -r l; do case $l in MemTotal:* | MemAvailable:*) printf '%s\\n' "$l" ;; esac; done </proc/meminfo
s pkg; for c in apt-get dnf yum zypper apk; do command -v $c >/dev/null && echo $c; done
s ss; o=; if command -v ss >/dev/null; then o=$(ss -ltnpH); printf '%s\\n' "$o"; fi
s proc_tcp; [ -n "$o" ] || cat /proc/net/tcp /proc/net/tcp6 | awk '$4 == "0A" { print $2 }'
${DOCKER_API_FN}${DOCKER_FACT_SH}
s podman; if command -v podman >/dev/null; then echo present; timeout 5 podman --version; fi
s compose; if command -v docker >/dev/null; then for d in "\${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins" /usr/local/lib/docker/cli-plugins /usr/local/libexec/docker/cli-plugins /usr/lib/docker/cli-plugins /usr/libexec/docker/cli-plugins; do if [ -x "$d/docker-compose" ]; then echo "docker compose"; break; fi; done; fi; command -v docker-compose >/dev/null && echo docker-compose; command -v podman-compose >/dev/null && echo podman-compose
s firewall; command -v ufw >/dev/null && echo ufw; command -v firewall-cmd >/dev/null && echo firewalld
s sudo; command -v sudo >/dev/null && echo yes
s become; ${BECOME_PROBE}s end
`;

/** The sudo probe's answer inside {@linkcode FACTS_SCRIPT}'s output (for Connection.primeBecome). */
export function becomeProbeOf(out: string): string {
  return (sections(out).get("become") ?? "").trim();
}

function sections(out: string): Map<string, string> {
  const m = new Map<string, string>();
  const parts = ("\n" + out).split(/\n@@(\w+)\n/);
  for (let i = 1; i < parts.length; i += 2) m.set(parts[i], parts[i + 1] ?? "");
  return m;
}

/** Parse `/etc/os-release` text. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    out[m[1]] = m[2].replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1");
  }
  return out;
}

const FAMILY: Record<string, string> = {
  debian: "Debian",
  ubuntu: "Debian",
  linuxmint: "Debian",
  pop: "Debian",
  raspbian: "Debian",
  rhel: "RedHat",
  centos: "RedHat",
  rocky: "RedHat",
  almalinux: "RedHat",
  fedora: "RedHat",
  ol: "RedHat",
  amzn: "RedHat",
  opensuse: "Suse",
  "opensuse-leap": "Suse",
  sles: "Suse",
  arch: "Archlinux",
  alpine: "Alpine",
};

const DISTRO: Record<string, string> = {
  debian: "Debian",
  ubuntu: "Ubuntu",
  rhel: "RedHat",
  centos: "CentOS",
  rocky: "Rocky",
  almalinux: "AlmaLinux",
  fedora: "Fedora",
  ol: "OracleLinux",
  amzn: "Amazon",
};

/** Ansible's os_family/distribution from os-release fields. */
export function osFromRelease(osr: Record<string, string>): {
  family: string;
  distribution: string;
  version: string;
  major: string;
  release: string;
} {
  const id = (osr.ID ?? "").toLowerCase();
  const like = (osr.ID_LIKE ?? "").toLowerCase().split(/\s+/);
  let family = FAMILY[id];
  if (!family) { for (const l of like) if (FAMILY[l]) family = family ?? FAMILY[l]; }
  const version = osr.VERSION_ID ?? "";
  return {
    family: family ?? (osr.NAME ? osr.NAME : "unknown"),
    distribution: DISTRO[id] ?? (osr.NAME?.split(" ")[0] ?? "unknown"),
    version,
    major: version.split(".")[0] ?? "",
    release: osr.VERSION_CODENAME ?? "",
  };
}

/** Parse `ss -ltnpH` lines. */
export function parseSs(text: string): ListeningPort[] {
  const out: ListeningPort[] = [];
  for (const line of text.split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4) continue;
    const local = cols[3];
    const i = local.lastIndexOf(":");
    const port = Number(local.slice(i + 1));
    if (!Number.isInteger(port)) continue;
    const address = local.slice(0, i).replace(/^\[|\]$/g, "").replace(/%.*$/, "");
    const pm = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    out.push({ address, port, process: pm?.[1], pid: pm ? Number(pm[2]) : undefined });
  }
  return out;
}

/** Parse hex `local_address` fields of /proc/net/tcp(6) in LISTEN state. */
export function parseProcTcp(text: string): ListeningPort[] {
  const out: ListeningPort[] = [];
  for (const f of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const [addr, portHex] = f.split(":");
    const port = parseInt(portHex, 16);
    let address = addr;
    if (addr.length === 8) {
      const b = addr.match(/../g)!.map((h) => parseInt(h, 16)).reverse();
      address = b.join(".");
    } else if (/^0+$/.test(addr)) address = "::";
    else if (addr === "00000000000000000000000001000000") address = "::1";
    out.push({ address, port });
  }
  return out;
}

/** Turn the probe's output into {@linkcode Facts}. Pure. */
export function parseFacts(out: string): Facts {
  const s = sections(out);
  const get = (k: string) => (s.get(k) ?? "").trim();
  const osr = parseOsRelease(get("os_release"));
  const os = osFromRelease(osr);
  const osrelease = get("osrelease");
  const isWsl = /microsoft|wsl/i.test(osrelease) || get("wsl_interop").includes("yes");
  const [idName, idUid, home] = get("id").split("\n");
  const mem = Object.fromEntries(
    get("meminfo").split("\n").map((l) => /^(\w+):\s+(\d+)/.exec(l)).filter((m) => m).map((
      m,
    ) => [m![1], Number(m![2])]),
  );
  const pkg = get("pkg").split("\n").filter(Boolean);
  const pkgMgr = os.family === "Debian" && pkg.includes("apt-get")
    ? "apt"
    : os.family === "RedHat" && (pkg.includes("dnf") || pkg.includes("yum"))
    ? (pkg.includes("dnf") ? "dnf" : "yum")
    : pkg.includes("apt-get")
    ? "apt"
    : pkg.includes("dnf")
    ? "dnf"
    : pkg[0] === "apt-get"
    ? "apt"
    : pkg[0] ?? "unknown";
  const systemd = get("systemd") === "yes";
  const ssOut = get("ss");
  const ports = ssOut ? parseSs(ssOut) : parseProcTcp(get("proc_tcp"));
  const dock = get("docker").split("\n");
  const dockerPresent = dock[0] === "present";
  // The version in dockerd's Server header (API), or what the docker CLI printed.
  const dockerLine = dock[1]?.trim() ?? "";
  const dockerVer = dockerLine || null;
  const pod = get("podman").split("\n");
  const fw = get("firewall").split("\n");
  return {
    os_family: os.family,
    distribution: os.distribution,
    distribution_version: os.version,
    distribution_major_version: os.major,
    distribution_release: os.release,
    os_release: osr,
    pkg_mgr: pkgMgr,
    service_mgr: systemd ? "systemd" : get("pid1") || "unknown",
    systemd_running: systemd,
    pid1: get("pid1"),
    is_wsl: isWsl,
    wsl_version: isWsl
      ? (/WSL2/i.test(osrelease) || /microsoft-standard/i.test(osrelease) ? 2 : 1)
      : null,
    architecture: get("uname_m"),
    // /proc's osrelease is what uname -r prints; uname runs only when it is unreadable.
    kernel: get("uname_r") || get("osrelease"),
    hostname: get("hostname"),
    user_id: idName ?? "",
    user_uid: Number(idUid ?? -1),
    user_dir: home ?? "",
    memtotal_mb: Math.round((mem.MemTotal ?? 0) / 1024),
    memfree_mb: Math.round((mem.MemAvailable ?? 0) / 1024),
    listening_ports: ports,
    docker: {
      present: dockerPresent,
      version: dockerVer && /^\d/.test(dockerVer) ? dockerVer : null,
      server: dockerPresent && !!dockerVer && /^\d/.test(dockerVer),
    },
    podman: {
      present: pod[0] === "present",
      version: pod[1]?.replace(/^podman version /, "").trim() || null,
    },
    compose_commands: get("compose").split("\n").filter(Boolean),
    firewall: fw.includes("ufw") ? "ufw" : fw.includes("firewalld") ? "firewalld" : "none",
    sudo: get("sudo") === "yes",
  };
}

/** Variables a play sees for `facts`: `ansible_facts` plus the short `ansible_*` names. */
export function factVars(f: Facts): Record<string, unknown> {
  const ansibleFacts: Record<string, unknown> = { ...f };
  const short: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) short[`ansible_${k}`] = v;
  return {
    ansible_facts: ansibleFacts,
    ...short,
    ansible_hostname: f.hostname,
    ansible_user_id: f.user_id,
    ansible_memtotal_mb: f.memtotal_mb,
    is_wsl: f.is_wsl,
    systemd_running: f.systemd_running,
  };
}

/** Facts for a host whose facts were not gathered (gather_facts: false). */
export function emptyFacts(): Facts {
  return parseFacts("");
}
