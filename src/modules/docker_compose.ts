/**
 * @module
 * `docker_compose` (alias `community.docker.docker_compose_v2`): bring a
 * Compose project up, stop it, restart it or take it down, with whichever
 * Compose CLI the host has (`docker compose`, `docker-compose`,
 * `podman-compose`). One round trip reads the project's containers and
 * volumes; a pure planner decides; one more applies and reads the result.
 * The result lists the containers before and after, with their published
 * ports, so a play can say what held which port. Stopping or removing
 * (volumes kept) takes the project's name from the labels Compose put on
 * its containers (the directory and files they came from), without
 * `compose config`: `services` is then not reported, and a Compose file that
 * no longer parses makes `down` fail with Compose's own message. Also home
 * of the small Docker/Podman helpers `docker_image` and `docker_volume` share.
 *
 * @example
 * ```yaml
 * - name: Stop the old observability stack
 *   docker_compose:
 *     project_src: "{{ repo_dir }}"
 *     files: [docker-compose.integration.yml]
 *     state: absent
 *     remove_orphans: true
 *   register: stack
 * - debug:
 *     msg: "{{ stack.containers_before | map(attribute='name') | list }}"
 * ```
 */
import { z } from "zod";
import { parse as parseYaml } from "yaml";
import {
  defineModule,
  type Diff,
  type HostModel,
  ModuleFailure,
  readHost,
} from "../core/module.ts";
import { bool, int, list, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";
import {
  apiContainers,
  apiPath,
  cliImage,
  cliNames,
  displayablePorts,
  DOCKER_API_FN,
  naturalCompare,
  truncateId,
} from "../facts/docker_api.ts";

/** The label Compose (v1, v2 and podman-compose) puts on what it creates. */
export const PROJECT_LABEL = "com.docker.compose.project";
const SERVICE_LABEL = "com.docker.compose.service";
const WORKING_DIR_LABEL = "com.docker.compose.project.working_dir";
const CONFIG_FILES_LABEL = "com.docker.compose.project.config_files";

/** Compose CLIs in the order drover prefers them. */
export const COMPOSE_COMMANDS = ["docker compose", "docker-compose", "podman-compose"] as const;
/** A Compose CLI. */
export type ComposeCommand = typeof COMPOSE_COMMANDS[number];

// ---------------------------------------------------------------- shared helpers

/**
 * Shell prelude for Docker/Podman scripts: `sec NAME` starts an output
 * section; `cap NAME CMD...` runs CMD with its stdout in section NAME, its
 * exit code in NAME_rc and its stderr in NAME_err. `capa NAME PATH CMD...`
 * reads PATH from dockerd's Engine API instead when it can (engine docker,
 * default socket: see {@linkcode DOCKER_API_FN}), with `api` in section
 * NAME_src, and falls back to `cap NAME CMD...` otherwise. `D` is the engine
 * CLI (`docker`/`podman`, empty when neither exists) and `J` its JSON format.
 */
export function enginePrelude(cli: "docker" | "podman" | undefined, dockerHost?: string): string {
  return `${dockerHost ? `DOCKER_HOST=${shq(dockerHost)}; export DOCKER_HOST\n` : ""}
sec() { printf '\\n@@%s\\n' "$1"; }
cap() { n=$1; shift; sec "$n"; { e=$("$@" 2>&1 1>&3 3>&-); r=$?; } 3>&1; sec "\${n}_rc"; echo "$r"; sec "\${n}_err"; printf '%s\\n' "$e"; }
${DOCKER_API_FN}capa() { n=$1; p=$2; shift 2; if [ "$D" = docker ] && o=$(drover_dapi "$p" </dev/null); then sec "$n"; printf '%s\\n' "$o"; sec "\${n}_rc"; echo 0; sec "\${n}_err"; echo; sec "\${n}_src"; echo api; else cap "$n" "$@"; fi; }
D=${cli ?? ""}
if [ -z "$D" ]; then if command -v docker >/dev/null 2>&1; then D=docker; elif command -v podman >/dev/null 2>&1; then D=podman; fi; fi
if [ -n "$D" ] && ! command -v "$D" >/dev/null 2>&1; then sec missing; echo "$D"; D=; fi
if [ "$D" = podman ]; then J=json; else J='{{json .}}'; fi
sec engine; echo "$D"
`;
}

/** Split script output into its `@@name` sections. Pure. */
export function sections(out: string): Map<string, string> {
  const m = new Map<string, string>();
  const parts = ("\n" + out).split(/\n@@([\w-]+)\n/);
  for (let i = 1; i < parts.length; i += 2) m.set(parts[i], (parts[i + 1] ?? "").trimEnd());
  return m;
}

/** One `cap`tured command: stdout, exit code, stderr. */
export interface Captured {
  readonly out: string;
  readonly rc: number;
  readonly err: string;
}

/** Read a `cap NAME` result from parsed sections; undefined if it did not run. Pure. */
export function captured(s: Map<string, string>, name: string): Captured | undefined {
  if (!s.has(`${name}_rc`)) return undefined;
  return {
    out: s.get(name) ?? "",
    rc: Number(s.get(`${name}_rc`)),
    err: (s.get(`${name}_err`) ?? "").trim(),
  };
}

/** Which engine CLI a task uses: the `cli` argument, else what facts found. Pure. */
export function engineFor(
  cli: "docker" | "podman" | undefined,
  facts: { docker: { present: boolean }; podman: { present: boolean } },
): "docker" | "podman" | undefined {
  if (cli) return cli;
  if (facts.docker.present) return "docker";
  if (facts.podman.present) return "podman";
  return undefined; // decided on the host
}

/** What a gather said about the engine: installed? daemon reachable? API version. Pure. */
export function engineStatus(
  s: Map<string, string>,
  probe = "server",
): { cli: string; reachable: boolean; api: string; error: string } {
  const cli = (s.get("engine") ?? "").trim();
  const server = captured(s, probe);
  if (!cli) {
    const missing = (s.get("missing") ?? "").trim();
    return {
      cli,
      reachable: false,
      api: "",
      error: missing ? `${missing} is not installed` : "neither docker nor podman is installed",
    };
  }
  if (!server || server.rc !== 0) {
    return {
      cli,
      reachable: false,
      api: "",
      error: `cannot reach the ${cli} daemon: ${server?.err || "no answer"}`,
    };
  }
  return { cli, reachable: true, api: probe === "server" ? server.out.trim() : "", error: "" };
}

/**
 * Shell line that asks the engine for its API version (section `server`):
 * Docker prints the version it negotiated with the daemon, and fails when
 * the daemon cannot be reached.
 */
export const SERVER_PROBE =
  `if [ -n "$D" ]; then cap server "$D" version --format '{{.Client.APIVersion}}'; fi\n`;

/** A published port of a container. */
export interface PortBinding {
  readonly host_ip: string;
  readonly host_port: number;
  readonly container_port: number;
  readonly protocol: string;
}

/** One container as `docker ps` / `podman ps` list it. */
export interface ContainerInfo {
  readonly id: string;
  readonly name: string;
  readonly image: string;
  /** running, exited, created, paused, restarting, dead. */
  readonly state: string;
  readonly status: string;
  /** Compose project and service, "" when not made by Compose. */
  readonly project: string;
  readonly service: string;
  readonly ports: readonly PortBinding[];
}

/** Parse Docker's `k=v,k=v` label string (values may contain commas). Pure. */
export function parseLabels(text: string | Record<string, string> | null | undefined): Record<
  string,
  string
> {
  if (!text) return {};
  if (typeof text === "object") return { ...text };
  const out: Record<string, string> = {};
  let last: string | undefined;
  for (const part of text.split(",")) {
    const m = /^([A-Za-z0-9][A-Za-z0-9._/-]*)=(.*)$/s.exec(part);
    if (m) {
      last = m[1];
      out[last] = m[2];
    } else if (last !== undefined) out[last] += "," + part;
  }
  return out;
}

function range(spec: string): number[] {
  const [a, b] = spec.split("-").map(Number);
  if (!Number.isInteger(a)) return [];
  if (b === undefined || !Number.isInteger(b) || b < a || b - a > 1000) return [a];
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/**
 * Parse Docker's ps `Ports` text (`0.0.0.0:16686->16686/tcp, [::]:16686->16686/tcp,
 * 9090/tcp`) into published ports; unpublished ones are left out. Pure.
 */
export function parseDockerPorts(text: string): PortBinding[] {
  const out: PortBinding[] = [];
  for (const item of text.split(/,\s*/)) {
    const m = /^(.*):([\d-]+)->([\d-]+)\/(\w+)$/.exec(item.trim());
    if (!m) continue;
    const hosts = range(m[2]);
    const ctrs = range(m[3]);
    hosts.forEach((h, i) =>
      out.push({
        host_ip: m[1].replace(/^\[|\]$/g, "") || "0.0.0.0",
        host_port: h,
        container_port: ctrs[i] ?? ctrs[0],
        protocol: m[4],
      })
    );
  }
  return out;
}

interface PodmanPort {
  host_ip?: string;
  host_port?: number;
  container_port?: number;
  range?: number;
  protocol?: string;
}

/**
 * Parse `docker ps --format '{{json .}}'` (one object a line) or
 * `podman ps --format json` (an array). Pure.
 */
export function parsePs(text: string): ContainerInfo[] {
  return psRows(text).map((r) => {
    const labels = parseLabels(r.Labels as string | Record<string, string> | null);
    const names = r.Names;
    let ports: PortBinding[] = [];
    if (typeof r.Ports === "string") ports = parseDockerPorts(r.Ports);
    else if (Array.isArray(r.Ports)) {
      ports = (r.Ports as PodmanPort[]).flatMap((p) =>
        Array.from({ length: Math.max(1, p.range ?? 1) }, (_, i) => ({
          host_ip: p.host_ip || "0.0.0.0",
          host_port: (p.host_port ?? 0) + i,
          container_port: (p.container_port ?? 0) + i,
          protocol: p.protocol ?? "tcp",
        }))
      ).filter((p) => p.host_port > 0);
    }
    return {
      id: String(r.ID ?? r.Id ?? ""),
      name: Array.isArray(names) ? String(names[0] ?? "") : String(names ?? "").split(",")[0],
      image: String(r.Image ?? ""),
      state: String(r.State ?? "").toLowerCase(),
      status: String(r.Status ?? ""),
      project: labels[PROJECT_LABEL] ?? "",
      service: labels[SERVICE_LABEL] ?? "",
      ports,
    };
  });
}

/**
 * Parse the Engine API's `GET /containers/json` into exactly what
 * {@linkcode parsePs} makes of `docker ps --format '{{json .}}'` for the same
 * containers: the CLI's short id, name, familiar image name and `PORTS`
 * text (parsed by {@linkcode parseDockerPorts}). Pure.
 */
export function parseApiPs(text: string): ContainerInfo[] {
  return apiContainers(text).map((r) => {
    const labels = r.Labels ?? {};
    return {
      id: truncateId(String(r.Id ?? "")),
      name: cliNames(r.Names),
      image: cliImage(r.Image, r.ImageID),
      state: String(r.State ?? "").toLowerCase(),
      status: String(r.Status ?? ""),
      project: labels[PROJECT_LABEL] ?? "",
      service: labels[SERVICE_LABEL] ?? "",
      ports: parseDockerPorts(displayablePorts(r.Ports)),
    };
  });
}

/** Host ports published by these containers, sorted, without duplicates. Pure. */
export function publishedPorts(cs: readonly ContainerInfo[]): number[] {
  return [...new Set(cs.flatMap((c) => c.ports.map((p) => p.host_port)))].sort((a, b) => a - b);
}

/** The rows of `docker ps --format '{{json .}}'` (JSON lines) or `podman ps --format json`. Pure. */
function psRows(text: string): Record<string, unknown>[] {
  const t = text.trim();
  if (!t) return [];
  return t.startsWith("[")
    ? JSON.parse(t)
    : t.split("\n").filter((l) => l.trim().startsWith("{")).map((l) => JSON.parse(l));
}

/** Each listed container's labels, from the Engine API's JSON or the CLI's `ps` lines. Pure. */
export function psLabels(text: string, api: boolean): Record<string, string>[] {
  if (api) return apiContainers(text).map((r) => (r.Labels ?? {}) as Record<string, string>);
  return psRows(text).map((r) => parseLabels(r.Labels as string | Record<string, string> | null));
}

/**
 * The project of the containers Compose made from this directory and these
 * files, read from the labels it put on them: the working directory as given
 * or physical (`dirs`), every file among the config files as given (v1) or
 * as an absolute path (v2). Undefined when no container matches or matches
 * disagree. Pure.
 */
export function projectFromLabels(
  labels: readonly Record<string, string>[],
  dirs: readonly string[],
  files: readonly string[],
): string | undefined {
  const found = new Set<string>();
  for (const l of labels) {
    const project = l[PROJECT_LABEL];
    const dir = l[WORKING_DIR_LABEL];
    if (!project || !dir || !dirs.includes(dir) || !files.length) continue;
    const config = (l[CONFIG_FILES_LABEL] ?? "").split(",");
    const listed = (f: string) =>
      config.some((c) => c === f || (!f.startsWith("/") && c === `${dir}/${f}`));
    if (files.every(listed)) found.add(project);
  }
  return found.size === 1 ? [...found][0] : undefined;
}

/**
 * The project named by the labels of the containers a gather listed (see
 * {@linkcode projectFromLabels}): made from the directory it went to and the
 * files it found. Pure.
 */
function labelled(a: ComposeArgs, s: Map<string, string>): string | undefined {
  const ps = captured(s, "ps");
  if (!ps || ps.rc !== 0 || !ps.out.trim()) return undefined;
  const dirs = (s.get("pwd") ?? "").split("\n").filter(Boolean);
  const found = (s.get("files") ?? "").split("\n").filter((l) => l.startsWith("ok "))
    .map((l) => l.slice(3));
  const files = a.files?.length ? a.files : found.slice(0, 1);
  return projectFromLabels(psLabels(ps.out, s.get("ps_src")?.trim() === "api"), dirs, files);
}

/** A volume as `docker volume ls` lists it. */
export interface VolumeInfo {
  readonly name: string;
  readonly driver: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Parse `docker volume ls --format '{{json .}}'` or `podman volume ls --format json`. Pure. */
export function parseVolumes(text: string): VolumeInfo[] {
  const t = text.trim();
  if (!t) return [];
  const rows: Record<string, unknown>[] = t.startsWith("[")
    ? JSON.parse(t)
    : t.split("\n").filter((l) => l.trim().startsWith("{")).map((l) => JSON.parse(l));
  return rows.map((r) => ({
    name: String(r.Name ?? ""),
    driver: String(r.Driver ?? ""),
    labels: parseLabels(r.Labels as string | Record<string, string> | null),
  }));
}

/**
 * Parse the Engine API's `GET /volumes` (`{"Volumes": [...], "Warnings": ...}`)
 * into what {@linkcode parseVolumes} makes of `docker volume ls --format
 * '{{json .}}'`: the CLI lists volumes in natural order of their names. Pure.
 */
export function parseApiVolumes(text: string): VolumeInfo[] {
  const t = text.trim();
  if (!t) return [];
  const body = JSON.parse(t) as {
    Volumes?: { Name?: string; Driver?: string; Labels?: Record<string, string> | null }[] | null;
  };
  return [...(body.Volumes ?? [])]
    .sort((a, b) => naturalCompare(String(a.Name ?? ""), String(b.Name ?? "")))
    .map((v) => ({
      name: String(v.Name ?? ""),
      driver: String(v.Driver ?? ""),
      labels: parseLabels(v.Labels ?? null),
    }));
}

/**
 * Compose projects an earlier task in this run took (or would take) down, from
 * the host model's `compose:NAME` flags: their containers are gone by now.
 */
export function projectsGone(model: HostModel, projects: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const p of projects) if (p && model.flag<string>(`compose:${p}`) === "absent") out.add(p);
  return out;
}

// ---------------------------------------------------------------- compose specifics

/** Compose's project name rule: lowercase, keep only [a-z0-9_-], no leading `_`/`-`. Pure. */
export function normalizeProjectName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]/g, "").replace(/^[_-]+/, "");
}

/** Pick the Compose CLI: the argument, else the first of facts' working ones. Pure. */
export function pickComposeCommand(
  wanted: ComposeCommand | undefined,
  available: readonly string[],
): ComposeCommand | undefined {
  if (wanted) return wanted;
  return COMPOSE_COMMANDS.find((c) => available.includes(c));
}

/** A service as the Compose file (after `compose config`) declares it. */
export interface ServiceSpec {
  readonly name: string;
  readonly image?: string;
  readonly ports: readonly number[];
}

/** What `compose config` printed: the project name (v2 prints it) and the services. Pure. */
export function parseComposeConfig(text: string): { name?: string; services: ServiceSpec[] } {
  const doc = parseYaml(text) as Record<string, unknown> | null;
  if (!doc || typeof doc !== "object") return { services: [] };
  const services = Object.entries((doc.services ?? {}) as Record<string, Record<string, unknown>>)
    .map(([name, s]) => ({
      name,
      image: typeof s?.image === "string" ? s.image : undefined,
      ports: ((s?.ports ?? []) as unknown[]).flatMap((p) => {
        if (p && typeof p === "object") {
          const pub = (p as Record<string, unknown>).published;
          return pub === undefined ? [] : range(String(pub));
        }
        // short syntax: [ip:]host:container[/proto]
        const m = /^(?:.*:)?([\d-]+):[\d-]+(?:\/\w+)?$/.exec(String(p));
        return m ? range(m[1]) : [];
      }),
    }));
  return { name: typeof doc.name === "string" ? doc.name : undefined, services };
}

/** Arguments of `docker_compose`. */
export const composeArgs = z.object({
  project_src: str().optional(),
  project_name: str().optional(),
  files: list(str()).optional(),
  state: z.enum(["present", "absent", "stopped", "restarted"]).default("present"),
  services: list(str()).optional(),
  remove_volumes: bool().default(false),
  remove_orphans: bool().default(false),
  remove_images: z.enum(["all", "local"]).optional(),
  recreate: z.enum(["auto", "always", "never"]).default("auto"),
  timeout: int().optional(),
  /** Which Compose CLI; default: the first that works of docker compose, docker-compose, podman-compose. */
  compose_command: z.enum(COMPOSE_COMMANDS).optional(),
  docker_host: str().optional(),
}).strict().refine((a) => a.project_src !== undefined || a.project_name !== undefined, {
  message: "give 'project_src' (or 'project_name' to stop or remove a project by name)",
}).refine(
  (a) => a.project_src !== undefined || a.state === "absent" || a.state === "stopped",
  { message: "state=present/restarted needs 'project_src'" },
);

/** Parsed arguments of `docker_compose`. */
export type ComposeArgs = z.infer<typeof composeArgs>;

/** What the planner decides. */
export interface ComposePlan {
  /** `none`, a Compose subcommand, or `rm`/`stop` by label (no usable Compose file or CLI). */
  readonly action: "none" | "up" | "down" | "stop" | "restart" | "label-rm" | "label-stop";
  readonly reasons: readonly string[];
  /** The containers as they will be afterwards (predicted). */
  readonly after: readonly ContainerInfo[];
}

/** Inputs of {@linkcode planCompose}. */
export interface ComposeState {
  readonly project: string;
  readonly command?: ComposeCommand;
  /** Services the Compose file declares; undefined when it could not be read. */
  readonly services?: readonly ServiceSpec[];
  readonly containers: readonly ContainerInfo[];
  /** Volumes labelled with the project. */
  readonly volumes: readonly string[];
}

const ACTIVE = new Set(["running", "restarting", "paused"]);

/** Decide what to do for `docker_compose`. Pure. */
export function planCompose(
  a: Pick<
    ComposeArgs,
    "state" | "services" | "remove_orphans" | "remove_volumes" | "recreate"
  >,
  st: ComposeState,
): ComposePlan {
  const usable = st.services !== undefined && st.command !== undefined;
  const declared = new Set((st.services ?? []).map((s) => s.name));
  const cs = st.containers;
  switch (a.state) {
    case "absent": {
      const reasons = cs.map((c) => `remove ${c.name} (${c.state})`);
      if (a.remove_volumes) reasons.push(...st.volumes.map((v) => `remove volume ${v}`));
      if (!reasons.length) return { action: "none", reasons, after: [] };
      return { action: usable ? "down" : "label-rm", reasons, after: [] };
    }
    case "stopped": {
      const active = cs.filter((c) => ACTIVE.has(c.state));
      const after = cs.map((c) => ACTIVE.has(c.state) ? { ...c, state: "exited" } : c);
      if (!active.length) return { action: "none", reasons: [], after };
      return {
        action: usable ? "stop" : "label-stop",
        reasons: active.map((c) => `stop ${c.name}`),
        after,
      };
    }
    case "present":
    case "restarted": {
      const unknown = (a.services ?? []).filter((s) => !declared.has(s));
      if (unknown.length) {
        throw new ModuleFailure(`service(s) ${unknown.join(", ")} not in the Compose file`);
      }
      const targets = a.services?.length ? a.services : [...declared];
      const reasons: string[] = [];
      const after: ContainerInfo[] = [];
      const sep = st.command === "docker compose" ? "-" : "_";
      for (const svc of targets) {
        const mine = cs.filter((c) => c.service === svc);
        const spec = st.services?.find((s) => s.name === svc);
        if (!mine.length) {
          reasons.push(`create and start ${svc}`);
          after.push({
            id: "",
            name: `${st.project}${sep}${svc}${sep}1`,
            image: spec?.image ?? "",
            state: "running",
            status: "",
            project: st.project,
            service: svc,
            ports: (spec?.ports ?? []).map((p) => ({
              host_ip: "0.0.0.0",
              host_port: p,
              container_port: p,
              protocol: "tcp",
            })),
          });
        }
        for (const c of mine) {
          if (c.state !== "running") reasons.push(`start ${c.name} (${c.state})`);
          after.push({ ...c, state: "running" });
        }
      }
      const orphans = cs.filter((c) => c.service && !declared.has(c.service));
      if (a.remove_orphans) reasons.push(...orphans.map((c) => `remove orphan ${c.name}`));
      else after.push(...orphans);
      if (a.state === "restarted") {
        return {
          action: cs.length ? "restart" : "up",
          reasons: cs.length
            ? cs.map((c) => `restart ${c.name}`)
            : targets.map((t) => `create and start ${t}`),
          after,
        };
      }
      if (a.recreate === "always") reasons.push("recreate: always");
      return { action: reasons.length ? "up" : "none", reasons, after };
    }
  }
}

/** The Compose CLI invocation for an action: arguments after the CLI name. Pure. */
export function composeCommandArgs(
  action: "up" | "down" | "stop" | "restart",
  a: Pick<
    ComposeArgs,
    | "files"
    | "project_name"
    | "services"
    | "remove_orphans"
    | "remove_volumes"
    | "remove_images"
    | "recreate"
    | "timeout"
  >,
): string[] {
  const out: string[] = [];
  for (const f of a.files ?? []) out.push("-f", f);
  if (a.project_name) out.push("-p", a.project_name);
  out.push(action);
  const t = a.timeout !== undefined ? ["-t", String(a.timeout)] : [];
  if (action === "up") {
    out.push("-d");
    if (a.remove_orphans) out.push("--remove-orphans");
    if (a.recreate === "always") out.push("--force-recreate");
    if (a.recreate === "never") out.push("--no-recreate");
    out.push(...t, ...(a.services ?? []));
  } else if (action === "down") {
    if (a.remove_volumes) out.push("-v");
    if (a.remove_orphans) out.push("--remove-orphans");
    if (a.remove_images) out.push("--rmi", a.remove_images);
    out.push(...t);
  } else out.push(...t, ...(a.services ?? []));
  return out;
}

function composeFn(cmd: ComposeCommand | undefined): string {
  const probe = cmd ? `C=${shq(cmd)}` : `C=
if docker compose version >/dev/null 2>&1; then C="docker compose"
elif command -v docker-compose >/dev/null 2>&1; then C=docker-compose
elif command -v podman-compose >/dev/null 2>&1; then C=podman-compose; fi`;
  return `${probe}
compose() { case "$C" in
  "docker compose") docker compose "$@" ;;
  docker-compose) docker-compose "$@" ;;
  podman-compose) podman-compose "$@" ;;
  *) echo "no Compose CLI found (docker compose, docker-compose, podman-compose)" >&2; return 127 ;;
esac; }
sec compose; echo "$C"
`;
}

const DEFAULT_FILES = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];

/** `docker ps -a --filter label=com.docker.compose.project` as an Engine API query. */
const PS_API = apiPath("/containers/json?all=1", { label: [PROJECT_LABEL] });
/** `docker volume ls --filter label=com.docker.compose.project` as an Engine API query. */
const VOLUMES_API = apiPath("/volumes", { label: [PROJECT_LABEL] });

/** The project's containers after a change (dockerd's API where the CLI would use its socket). */
function listLines(): string {
  return `if [ -n "$D" ]; then capa ps ${
    shq(PS_API)
  } "$D" ps -a --filter label=${PROJECT_LABEL} --format "$J"; fi\n`;
}

/**
 * Stopping or removing (volumes kept) acts on the project's containers only:
 * their labels name the project, so `compose config` runs only when no
 * container made from this directory and file says which project it is. Pure.
 */
function labelsSuffice(a: ComposeArgs): boolean {
  return (a.state === "absent" || a.state === "stopped") && !a.remove_volumes;
}

/**
 * The gather script of `docker_compose`. The project's containers are listed
 * first: `ps` also tells whether the daemon answers (no separate `version`
 * probe). Stopping or removing (volumes kept) needs no `compose config` (the
 * costliest read: a third of a second with Python Compose) while there is no
 * Compose container, or while the containers' labels name the project
 * (`config: "if-unnamed"`: the caller runs the script again with `"always"`
 * when they do not).
 */
export function composeGatherScript(
  a: ComposeArgs,
  cmd: ComposeCommand | undefined,
  engine: "docker" | "podman" | undefined,
  config: "always" | "if-unnamed" = labelsSuffice(a) ? "if-unnamed" : "always",
): string {
  const files = a.files?.length ? a.files : undefined;
  let s = enginePrelude(engine, a.docker_host) + composeFn(cmd);
  // drover_po: the listing is not empty (API: kept in the shell, no temp file).
  s += `drover_po=
if [ -n "$D" ]; then sec ps; if [ "$D" = docker ] && drover_po=$(drover_dapi ${
    shq(PS_API)
  } </dev/null); then r=0; e=; drover_ps=api; \
if [ "$drover_po" = '[]' ]; then drover_po=; fi; [ -z "$drover_po" ] || printf '%s\\n' "$drover_po"; \
else drover_ps=cli; drover_po=; drover_pf=$(mktemp 2>/dev/null) || drover_pf=/dev/null; \
{ e=$("$D" ps -a --filter label=${PROJECT_LABEL} --format "$J" 2>&1 >"$drover_pf" </dev/null); r=$?; }; \
if [ -s "$drover_pf" ]; then drover_po=1; cat "$drover_pf"; fi; [ "$drover_pf" = /dev/null ] || rm -f "$drover_pf"; fi; \
sec ps_rc; echo "$r"; sec ps_err; printf '%s\\n' "$e"; sec ps_src; echo "$drover_ps"; \
capa vols ${shq(VOLUMES_API)} "$D" volume ls --filter label=${PROJECT_LABEL} --format "$J"; fi
`;
  if (a.project_src !== undefined) {
    s += `sec dir; if cd -- ${shq(a.project_src)} 2>/dev/null; then echo yes\n`;
    s += `sec pwd; pwd; pwd -P\n`;
    s += `sec files; for f in ${
      (files ?? DEFAULT_FILES).map(shq).join(" ")
    }; do if [ -f "$f" ]; then echo "ok $f"; else echo "missing $f"; fi; done\n`;
    if (config === "always") {
      s += `if [ -n "$C" ]; then cap config compose ${
        [
          ...(files ?? []).flatMap((f) => ["-f", f]),
          ...(a.project_name ? ["-p", a.project_name] : []),
        ]
          .map(shq).join(" ")
      } config; fi\n`;
    }
    s += "fi\n";
  }
  return s;
}

function displayContainer(c: ContainerInfo): string {
  const ports = c.ports.map((p) =>
    `${p.host_ip}:${p.host_port}->${p.container_port}/${p.protocol}`
  );
  return `${c.name} ${c.image} ${c.state}${ports.length ? " " + ports.join(",") : ""}`;
}

function listing(cs: readonly ContainerInfo[]): string {
  return cs.map(displayContainer).sort().join("\n") + (cs.length ? "\n" : "");
}

/** `docker_compose`: converge a Compose project to present/stopped/restarted/absent. */
export const dockerCompose = defineModule({
  name: "docker_compose",
  aliases: ["docker_compose_v2", "community.docker.docker_compose_v2"],
  doc:
    "Bring a Compose project up, stop, restart or remove it (docker compose, docker-compose, podman-compose).",
  args: composeArgs,
  reads: (a, rc) => {
    const cmd = pickComposeCommand(a.compose_command, rc.facts.compose_commands);
    const engine = cmd === "podman-compose" ? "podman" : engineFor(undefined, rc.facts);
    const args = a as ComposeArgs;
    const script = composeGatherScript(args, cmd, engine);
    return [labelsSuffice(args) ? { script } : { script, costly: true }];
  },
  async run(ctx, a) {
    const cmd = pickComposeCommand(a.compose_command, ctx.facts.compose_commands);
    const engine = cmd === "podman-compose" ? "podman" : engineFor(undefined, ctx.facts);
    let s = sections((await readHost(ctx, composeGatherScript(a, cmd, engine))).stdout);
    const named = labelled(a, s);
    if (
      labelsSuffice(a) && a.project_name === undefined && !named &&
      s.get("dir")?.trim() === "yes" && captured(s, "ps")?.out.trim()
    ) {
      // Compose containers, none of them named by this directory and file: only
      // `compose config` knows the project's name.
      s = sections((await readHost(ctx, composeGatherScript(a, cmd, engine, "always"))).stdout);
    }
    const eng = engineStatus(s, "ps");
    const command = (s.get("compose") ?? "").trim() as ComposeCommand | "";
    const srcDesc = a.project_src ?? "";
    const wantsUp = a.state === "present" || a.state === "restarted";
    const fileLines = (s.get("files") ?? "").split("\n").filter(Boolean);
    const missing = fileLines.filter((l) => l.startsWith("missing ")).map((l) => l.slice(8));
    const found = fileLines.filter((l) => l.startsWith("ok ")).map((l) => l.slice(3));
    const fileProblem = a.project_src === undefined
      ? undefined
      : s.get("dir")?.trim() !== "yes"
      ? `project_src ${a.project_src} does not exist`
      : a.files?.length && missing.length
      ? `compose file${missing.length > 1 ? "s" : ""} ${
        missing.map((f) => f.startsWith("/") ? f : `${srcDesc.replace(/\/$/, "")}/${f}`).join(", ")
      } not found`
      : !a.files?.length && !found.length
      ? `no compose file (${DEFAULT_FILES.join(", ")}) in ${srcDesc}`
      : undefined;
    if (wantsUp && fileProblem) throw new ModuleFailure(fileProblem, { missing });
    const config = captured(s, "config");
    if (wantsUp && !command) {
      throw new ModuleFailure(
        "no Compose CLI found on the host (tried docker compose, docker-compose, podman-compose)",
      );
    }
    if (wantsUp && config && config.rc !== 0) {
      throw new ModuleFailure(`${command} config failed: ${config.err}`);
    }
    const parsed = config && config.rc === 0 ? parseComposeConfig(config.out) : undefined;
    const project = a.project_name ?? parsed?.name ?? named ?? normalizeProjectName(
      (a.project_src ?? "").replace(/\/+$/, "").split("/").pop() ?? "",
    );
    const base = {
      project_name: project,
      project_src: a.project_src,
      compose_command: command || undefined,
      engine: eng.cli || undefined,
    };
    if (!eng.reachable) {
      if (wantsUp) throw new ModuleFailure(eng.error, base);
      return {
        changed: false,
        msg: `${eng.error}: no container of project ${project} can be running under it`,
        warnings: [`${eng.error}; project ${project} was not checked`],
        data: { ...base, daemon_reachable: false, containers_before: [], containers: [] },
      };
    }
    const ps = captured(s, "ps");
    if (ps && ps.rc !== 0) throw new ModuleFailure(`${eng.cli} ps failed: ${ps.err}`, base);
    const containers = (s.get("ps_src") === "api" ? parseApiPs : parsePs)(ps?.out ?? "")
      .filter((c) => c.project === project);
    const volumes = (s.get("vols_src") === "api" ? parseApiVolumes : parseVolumes)(
      captured(s, "vols")?.out ?? "",
    ).filter((v) => v.labels[PROJECT_LABEL] === project).map((v) => v.name);
    const plan = planCompose(a, {
      project,
      command: command || undefined,
      // Stopping or removing with the Compose file, the project named by the
      // containers' labels, needs no service list.
      services: fileProblem ? undefined : parsed?.services ??
        (a.project_src !== undefined && labelsSuffice(a) && !config ? [] : undefined),
      containers,
      volumes,
    });
    const data = {
      ...base,
      daemon_reachable: true,
      services: parsed?.services.map((x) => x.name),
      containers_before: containers,
      published_ports_before: publishedPorts(containers),
      volumes,
      actions: plan.reasons,
    };
    if (plan.action === "none") {
      const msg = a.state === "absent"
        ? `no containers of project ${project}${
          fileProblem ? ` (${fileProblem})` : ""
        }: nothing to remove`
        : a.state === "stopped"
        ? `no running containers of project ${project}`
        : `all services of ${project} are running`;
      return { changed: false, msg, data: { ...data, containers } };
    }
    ctx.model.setFlag(`compose:${project}`, a.state);
    const diff: Diff[] = [{
      target: `compose project ${project}`,
      before: listing(containers),
      after: listing(plan.after),
    }];
    const verb = {
      up: "started",
      down: "removed",
      stop: "stopped",
      restart: "restarted",
      "label-rm": "removed (by label, without a Compose file)",
      "label-stop": "stopped (by label, without a Compose file)",
    }[plan.action];
    const msg = `${ctx.check ? "would have " : ""}${verb} project ${project}: ${
      plan.reasons.join("; ")
    }`;
    if (ctx.check) {
      return { changed: true, diff, msg, data: { ...data, containers: plan.after } };
    }
    let apply = enginePrelude(eng.cli as "docker" | "podman", a.docker_host) + composeFn(
      (command || undefined) as ComposeCommand | undefined,
    );
    const sel = `--filter label=${shq(`${PROJECT_LABEL}=${project}`)}`;
    if (plan.action === "label-rm") {
      apply += `set -e
ids=$("$D" ps -aq ${sel}); if [ -n "$ids" ]; then "$D" rm -f $ids >/dev/null; fi
nets=$("$D" network ls -q ${sel}); if [ -n "$nets" ]; then "$D" network rm $nets >/dev/null; fi
${
        a.remove_volumes
          ? `vols=$("$D" volume ls -q ${sel}); if [ -n "$vols" ]; then "$D" volume rm $vols >/dev/null; fi\n`
          : ""
      }set +e
`;
    } else if (plan.action === "label-stop") {
      apply += `set -e\nids=$("$D" ps -q ${sel}); if [ -n "$ids" ]; then "$D" stop${
        a.timeout !== undefined ? ` -t ${a.timeout}` : ""
      } $ids >/dev/null; fi\nset +e\n`;
    } else {
      const argv = composeCommandArgs(plan.action, { ...a, project_name: project });
      apply += `cd -- ${shq(a.project_src ?? ".")} || exit 1\ncap apply compose ${
        argv.map(shq).join(" ")
      }\n`;
    }
    apply += listLines();
    const ar = await ctx.sh(apply);
    const as = sections(ar.stdout);
    const after = (as.get("ps_src") === "api" ? parseApiPs : parsePs)(captured(as, "ps")?.out ?? "")
      .filter((c) => c.project === project);
    const applied = captured(as, "apply");
    if (ar.rc !== 0 || (applied && applied.rc !== 0)) {
      throw new ModuleFailure(
        `${command || eng.cli} ${plan.action} for project ${project} failed: ${
          (applied?.err || ar.stderr).trim().split("\n").slice(-15).join("\n")
        }`,
        { ...data, containers: after },
      );
    }
    return {
      changed: true,
      diff: [{ ...diff[0], after: listing(after) }],
      msg,
      data: { ...data, containers: after },
    };
  },
});
