/**
 * @module
 * Read-only Docker state straight from dockerd's Engine API over its unix
 * socket (`curl`, ~15 ms of host CPU) instead of the docker CLI (~70 ms a
 * call). The shell helper `drover_dapi PATH [SECONDS]` answers only when the
 * CLI would talk to that very socket; otherwise it fails and the caller runs
 * the CLI as before. The pure functions here turn the API's JSON into exactly
 * what the CLI prints (docker/cli's formatter rules), so a result never
 * depends on which path answered.
 */

/** `DROVER_DOCKER_API=0` on the controller: every script uses the docker CLI. */
function apiDisabled(): boolean {
  try {
    return Deno.env.get("DROVER_DOCKER_API") === "0";
  } catch {
    return false;
  }
}

/**
 * Shell function `drover_dapi PATH [SECONDS [CURL-ARGS...]]`: GET `PATH`
 * from the Engine API and print the body (or what CURL-ARGS ask for). It
 * answers only when the docker CLI would use the default socket (no
 * DOCKER_HOST, no DOCKER_CONTEXT, no `currentContext` in the CLI's config),
 * the socket is a real socket (not podman-docker's symlink) this user may
 * read and write, and curl exists; it fails (non-zero, nothing printed)
 * otherwise, on any HTTP error and when dockerd does not answer.
 * `DROVER_DOCKER_API=0` (on the host or the controller) turns it off.
 * Callers check that the engine is docker, not podman.
 */
export const DOCKER_API_FN = apiDisabled()
  ? `drover_dapi() { return 1; }\n`
  : `drover_dapi() { [ -z "\${DOCKER_HOST:-}" ] && [ -z "\${DOCKER_CONTEXT:-}" ] && [ "\${DROVER_DOCKER_API:-}" != 0 ] && \
[ -S /var/run/docker.sock ] && [ ! -L /var/run/docker.sock ] && [ -r /var/run/docker.sock ] && [ -w /var/run/docker.sock ] && \
command -v curl >/dev/null 2>&1 && drover_dcfg=\${DOCKER_CONFIG:-\${HOME:-}/.docker} && [ "$drover_dcfg" != /.docker ] && \
{ [ ! -e "$drover_dcfg/config.json" ] || ! grep -q '"currentContext"' "$drover_dcfg/config.json"; } && \
drover_dp=$1 && drover_dt=\${2:-} && shift && { [ $# -eq 0 ] || shift; } && \
curl -sf \${drover_dt:+--max-time "$drover_dt"} "$@" --unix-socket /var/run/docker.sock "http://localhost$drover_dp"; }
`;

/** An API query path with `filters` URL-encoded as the API wants them (JSON). Pure. */
export function apiPath(path: string, filters?: Record<string, string[]>): string {
  if (!filters) return path;
  return `${path}${path.includes("?") ? "&" : "?"}filters=${
    encodeURIComponent(JSON.stringify(filters))
  }`;
}

/** docker's `stringid.TruncateID`: drop an `algo:` prefix, keep 12 characters. Pure. */
export function truncateId(id: string): string {
  const i = id.indexOf(":");
  const s = i >= 0 ? id.slice(i + 1) : id;
  return s.length > 12 ? s.slice(0, 12) : s;
}

/**
 * What `docker ps` prints as `.Names` for the API's `Names` (truncated, the
 * default): the first name without a `/` inside (not a legacy link), without
 * its leading `/`. Pure.
 */
export function cliNames(names: readonly string[] | null | undefined): string {
  for (const n of names ?? []) {
    const name = n.startsWith("/") ? n.slice(1) : n;
    if (!name.includes("/")) return name;
  }
  return "";
}

// distribution/reference's grammar (regexp.go), enough to tell what the CLI shows.
const ALNUM = "[a-z0-9]+";
const SEP = "(?:[._]|__|[-]+)";
const PATH_COMPONENT = `${ALNUM}(?:${SEP}${ALNUM})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const REFERENCE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const DIGEST_HEX: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * `reference.ParseNormalizedNamed` then `FamiliarString` without the digest:
 * `docker.io/library/nginx:1@sha256:…` → `nginx:1`; undefined where the
 * reference does not parse (the CLI then prints the image as it is). Pure.
 */
function familiarImage(s: string): string | undefined {
  if (/^[a-f0-9]{64}$/.test(s)) return undefined;
  const i = s.indexOf("/");
  let domain: string;
  let rest: string;
  const head = i >= 0 ? s.slice(0, i) : "";
  if (
    i === -1 ||
    (!/[.:]/.test(head) && head !== "localhost" && head.toLowerCase() === head)
  ) [domain, rest] = ["docker.io", s];
  else [domain, rest] = [head, s.slice(i + 1)];
  if (domain === "index.docker.io") domain = "docker.io";
  if (domain === "docker.io" && !rest.includes("/")) rest = `library/${rest}`;
  const remote = rest.includes(":") ? rest.slice(0, rest.indexOf(":")) : rest;
  if (remote.toLowerCase() !== remote) return undefined;
  const m = REFERENCE.exec(`${domain}/${rest}`);
  if (!m || m[1].length > 255) return undefined;
  if (m[3] !== undefined) {
    const [algo, hex] = m[3].split(":");
    if (DIGEST_HEX[algo] !== hex.length || !/^[a-f0-9]+$/.test(hex)) return undefined;
  }
  let name = m[1];
  if (name.startsWith("docker.io/")) {
    name = name.slice("docker.io/".length);
    const parts = name.split("/");
    if (parts.length === 2 && parts[0] === "library") name = parts[1];
  }
  return m[2] !== undefined ? `${name}:${m[2]}` : name;
}

/** What `docker ps` prints as `.Image` (truncated, the default) for the API's `Image` and `ImageID`. Pure. */
export function cliImage(
  image: string | null | undefined,
  imageId: string | null | undefined,
): string {
  if (!image) return "<no image>";
  const t = truncateId(imageId ?? "");
  if (t === truncateId(image)) return t;
  return familiarImage(image) ?? image;
}

/** A port of the API's container list. */
export interface ApiPort {
  readonly IP?: string;
  readonly PrivatePort: number;
  readonly PublicPort?: number;
  readonly Type: string;
}

function joinHostPort(host: string, port: string): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function formGroup(key: string, first: number, last: number): string {
  const parts = key.split("/");
  let type = parts[0];
  let ip = "";
  if (parts.length > 1) [ip, type] = [parts[0], parts[1]];
  let group = String(first);
  if (first !== last) group = `${group}-${last}`;
  if (ip) group = `${joinHostPort(ip, group)}->${group}`;
  return `${group}/${type}`;
}

/**
 * docker/cli's `DisplayablePorts`: the `PORTS` text `docker ps` prints for
 * the API's `Ports` (sorted, consecutive ports grouped into ranges, remapped
 * ports last), e.g. `0.0.0.0:4317-4318->4317-4318/tcp, [::]:4317-4318->4317-4318/tcp`.
 * IPv6 is bracketed as current CLIs do (20.10 prints `:::4317`; both parse
 * the same). Pure.
 */
export function displayablePorts(ports: readonly ApiPort[] | null | undefined): string {
  const sorted = [...(ports ?? [])].sort((a, b) => {
    if (a.PrivatePort !== b.PrivatePort) return a.PrivatePort - b.PrivatePort;
    const [ia, ib] = [a.IP ?? "", b.IP ?? ""];
    if (ia !== ib) return ia < ib ? -1 : 1;
    const [pa, pb] = [a.PublicPort ?? 0, b.PublicPort ?? 0];
    if (pa !== pb) return pa - pb;
    return a.Type < b.Type ? -1 : a.Type > b.Type ? 1 : 0;
  });
  const groups = new Map<string, { first: number; last: number }>();
  const keys: string[] = [];
  const result: string[] = [];
  const hostMappings: string[] = [];
  for (const p of sorted) {
    const current = p.PrivatePort;
    let key = p.Type;
    if (p.IP) {
      if ((p.PublicPort ?? 0) !== current) {
        hostMappings.push(
          `${joinHostPort(p.IP, String(p.PublicPort ?? 0))}->${p.PrivatePort}/${p.Type}`,
        );
        continue;
      }
      key = `${p.IP}/${p.Type}`;
    }
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { first: current, last: current });
      keys.push(key);
      continue;
    }
    if (current === g.last + 1) {
      g.last = current;
      continue;
    }
    result.push(formGroup(key, g.first, g.last));
    groups.set(key, { first: current, last: current });
  }
  for (const k of keys) {
    const g = groups.get(k)!;
    result.push(formGroup(k, g.first, g.last));
  }
  return [...result, ...hostMappings].join(", ");
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** fvbommel/sortorder's `NaturalLess` (the order `docker volume ls` prints). Pure. */
export function naturalLess(a: string, b: string): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const [c1, c2] = [a.charCodeAt(i), b.charCodeAt(j)];
    const [d1, d2] = [isDigit(c1), isDigit(c2)];
    if (d1 !== d2) return d1;
    if (!d1) {
      if (c1 !== c2) return c1 < c2;
      i++;
      j++;
      continue;
    }
    while (i < a.length && a[i] === "0") i++;
    while (j < b.length && b[j] === "0") j++;
    const [z1, z2] = [i, j];
    while (i < a.length && isDigit(a.charCodeAt(i))) i++;
    while (j < b.length && isDigit(b.charCodeAt(j))) j++;
    if (i - z1 !== j - z2) return i - z1 < j - z2;
    const [n1, n2] = [a.slice(z1, i), b.slice(z2, j)];
    if (n1 !== n2) return n1 < n2;
    if (z1 !== z2) return z1 < z2;
  }
  return a.length < b.length;
}

/** Compare for `Array.sort` by {@linkcode naturalLess}. Pure. */
export function naturalCompare(a: string, b: string): number {
  return naturalLess(a, b) ? -1 : naturalLess(b, a) ? 1 : 0;
}

/** A container of the API's `GET /containers/json`. */
export interface ApiContainer {
  readonly Id?: string;
  readonly Names?: string[] | null;
  readonly Image?: string;
  readonly ImageID?: string;
  readonly State?: string;
  readonly Status?: string;
  readonly Labels?: Record<string, string> | null;
  readonly Ports?: ApiPort[] | null;
}

/** The `GET /containers/json` body as a list (empty for empty text). Pure. */
export function apiContainers(text: string): ApiContainer[] {
  const t = text.trim();
  if (!t) return [];
  const v = JSON.parse(t);
  if (!Array.isArray(v)) {
    throw new Error(`docker API: expected a list of containers: ${t.slice(0, 200)}`);
  }
  return v as ApiContainer[];
}
