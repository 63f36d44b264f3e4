/**
 * @module
 * `docker_volume` (alias `community.docker.docker_volume`): make sure a
 * volume exists or is gone, or — drover's extension — prune the unused
 * volumes of ONE Compose project. `docker volume prune -f` is not scoped to
 * a project: it deletes every unused volume on the machine the daemon
 * considers prunable (all unused volumes up to API 1.41 and with Podman,
 * unused anonymous ones from API 1.42 on). `prune_project` removes only
 * volumes labelled `com.docker.compose.project=NAME` that no container
 * (running or stopped) uses, and reports in `others` what the blanket prune
 * would have deleted as well.
 *
 * @example
 * ```yaml
 * - name: Remove the old stack's volumes, and only those
 *   docker_volume:
 *     prune_project: tta-dev
 *   register: vols
 * - debug:
 *     msg: "kept {{ vols.others | length }} volumes of other projects"
 * ```
 */
import { z } from "zod";
import {
  defineModule,
  type Diff,
  type ModuleContext,
  ModuleFailure,
  type ModuleResult,
} from "../core/module.ts";
import { str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";
import {
  captured,
  engineFor,
  enginePrelude,
  engineStatus,
  parsePs,
  parseVolumes,
  PROJECT_LABEL,
  projectsGone,
  sections,
  SERVER_PROBE,
  type VolumeInfo,
} from "./docker_compose.ts";

/** The label Docker ≥ 23 puts on volumes it named itself (anonymous volumes). */
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";

/** Arguments of `docker_volume`. */
export const volumeArgs = z.object({
  name: str().optional(),
  volume_name: str().optional(),
  state: z.enum(["present", "absent"]).optional(),
  driver: str().optional(),
  driver_options: z.record(z.string(), str()).optional(),
  labels: z.record(z.string(), str()).optional(),
  /** Remove the unused volumes of this Compose project, and nothing else. */
  prune_project: str().optional(),
  cli: z.enum(["docker", "podman"]).optional(),
  docker_host: str().optional(),
}).strict().refine(
  (a) =>
    (a.name ?? a.volume_name) !== undefined
      ? a.prune_project === undefined
      : a.prune_project !== undefined,
  { message: "give either 'name' or 'prune_project'" },
).refine((a) => a.prune_project === undefined || a.state !== "present", {
  message: "prune_project removes volumes: it cannot be used with state=present",
});

/** Parsed arguments of `docker_volume`. */
export type VolumeArgs = z.infer<typeof volumeArgs>;

/** A container and the volumes it mounts, from `docker inspect`. */
export interface MountInfo {
  readonly container: string;
  readonly project: string;
  readonly volumes: readonly string[];
}

/** Parse `inspect --format '{{.Name}}|project|vol,vol,'` lines. Pure. */
export function parseMounts(text: string): MountInfo[] {
  return text.split("\n").filter((l) => l.includes("|")).map((l) => {
    const [name, project, vols] = l.split("|");
    return {
      container: name.replace(/^\//, ""),
      project: project === "<no value>" ? "" : project,
      volumes: (vols ?? "").split(",").filter(Boolean),
    };
  });
}

/**
 * Does `docker volume prune -f` delete this unused volume? Up to API 1.41
 * (and on Podman) it deletes every unused volume; from 1.42 on only
 * anonymous ones (`-a` for all). The API version is the one the CLI
 * negotiated with the daemon. Pure.
 */
export function pruneWouldDelete(
  v: VolumeInfo,
  engine: { cli: string; api: string },
): boolean {
  if (engine.cli === "podman") return true;
  const [maj, min] = engine.api.split(".").map(Number);
  const modern = maj > 1 || (maj === 1 && min >= 42);
  return !modern || ANONYMOUS_LABEL in v.labels;
}

/** What `prune_project` will do. */
export interface PrunePlan {
  /** Unused volumes of the project: removed. */
  readonly remove: readonly string[];
  /** Volumes of the project some container still uses: kept. */
  readonly in_use: readonly { name: string; containers: string[] }[];
  /** Unused volumes of other projects or none that `docker volume prune -f` would also delete. */
  readonly others: readonly string[];
  /** What `docker volume prune -f` deletes on this engine. */
  readonly prune_scope: string;
}

/**
 * Plan `prune_project`. A volume is unused when the daemon lists it as
 * dangling, or when every container that mounts it belongs to a project in
 * `gone` (taken down by an earlier task of this check run). Pure.
 */
export function planPrune(
  project: string,
  st: {
    volumes: readonly VolumeInfo[];
    dangling: ReadonlySet<string>;
    mounts: readonly MountInfo[];
    engine: { cli: string; api: string };
    gone: ReadonlySet<string>;
  },
): PrunePlan {
  const users = (v: string) =>
    st.mounts.filter((m) => m.volumes.includes(v) && !st.gone.has(m.project)).map((m) =>
      m.container
    );
  const unused = (v: string) => st.dangling.has(v) || (st.gone.size > 0 && users(v).length === 0);
  const mine = st.volumes.filter((v) => v.labels[PROJECT_LABEL] === project);
  const byName = (a: string, b: string) => a.localeCompare(b);
  const [maj, min] = st.engine.api.split(".").map(Number);
  return {
    remove: mine.filter((v) => unused(v.name)).map((v) => v.name).sort(byName),
    in_use: mine.filter((v) => !unused(v.name)).map((v) => ({
      name: v.name,
      containers: users(v.name),
    })).sort((a, b) => byName(a.name, b.name)),
    others: st.volumes.filter((v) =>
      v.labels[PROJECT_LABEL] !== project && unused(v.name) && pruneWouldDelete(v, st.engine)
    ).map((v) => v.name).sort(byName),
    prune_scope: st.engine.cli === "podman"
      ? "all unused volumes (podman)"
      : maj > 1 || (maj === 1 && min >= 42)
      ? `unused anonymous volumes only (API ${st.engine.api}; -a would take named ones too)`
      : `all unused volumes (API ${st.engine.api})`,
  };
}

function list(names: readonly string[]): string {
  return names.length ? names.join(", ") : "none";
}

async function prune(
  ctx: ModuleContext,
  a: VolumeArgs,
  project: string,
): Promise<ModuleResult> {
  const r = await ctx.sh(
    enginePrelude(engineFor(a.cli, ctx.facts), a.docker_host) + SERVER_PROBE +
      `if [ -n "$D" ] && [ "$r" = 0 ]; then
cap vols "$D" volume ls --format "$J"
cap dangling "$D" volume ls -q --filter dangling=true
ids=$("$D" ps -aq)
if [ -n "$ids" ]; then cap mounts "$D" inspect --format '{{.Name}}|{{index .Config.Labels "${PROJECT_LABEL}"}}|{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}},{{end}}{{end}}' $ids; fi
fi\n`,
  );
  const s = sections(r.stdout);
  const eng = engineStatus(s);
  if (!eng.reachable) throw new ModuleFailure(eng.error, { prune_project: project });
  for (const k of ["vols", "dangling", "mounts"]) {
    const c = captured(s, k);
    if (c && c.rc !== 0) throw new ModuleFailure(`${eng.cli}: listing volumes failed: ${c.err}`);
  }
  const mounts = parseMounts(captured(s, "mounts")?.out ?? "");
  const plan = planPrune(project, {
    volumes: parseVolumes(captured(s, "vols")?.out ?? ""),
    dangling: new Set((captured(s, "dangling")?.out ?? "").split("\n").filter(Boolean)),
    mounts,
    engine: eng,
    gone: ctx.check ? projectsGone(ctx.model, mounts.map((m) => m.project)) : new Set(),
  });
  const data = { prune_project: project, engine: eng.cli, api_version: eng.api, ...plan };
  const tail = `${
    plan.in_use.length
      ? `; kept ${plan.in_use.length} in use (${
        plan.in_use.map((v) => `${v.name} by ${v.containers.join(", ")}`).join("; ")
      })`
      : ""
  }; \`${eng.cli} volume prune -f\` would also have deleted ${plan.others.length} other volume(s): ${
    list(plan.others)
  }`;
  if (!plan.remove.length) {
    return {
      changed: false,
      msg: `no unused volumes of project ${project}${tail}`,
      data: { ...data, removed: [] },
    };
  }
  const diff: Diff[] = [{
    target: `volumes of project ${project}`,
    before: plan.remove.join("\n") + "\n",
    after: "",
  }];
  if (ctx.check) {
    return {
      changed: true,
      diff,
      msg: `would remove ${plan.remove.length} volume(s) of project ${project}: ${
        list(plan.remove)
      }${tail}`,
      data: { ...data, removed: plan.remove },
    };
  }
  const ar = await ctx.sh(
    enginePrelude(eng.cli as "docker" | "podman", a.docker_host) +
      plan.remove.map((v, i) => `cap rm${i} "$D" volume rm ${shq(v)}\n`).join(""),
  );
  const as = sections(ar.stdout);
  const results = plan.remove.map((v, i) => ({ v, c: captured(as, `rm${i}`) }));
  const removed = results.filter((x) => x.c?.rc === 0).map((x) => x.v);
  const failed = results.filter((x) => x.c?.rc !== 0);
  if (failed.length) {
    throw new ModuleFailure(
      `could not remove ${failed.map((x) => `${x.v} (${x.c?.err || "no answer"})`).join("; ")}`,
      { ...data, removed },
    );
  }
  return {
    changed: true,
    diff,
    msg: `removed ${removed.length} volume(s) of project ${project}: ${list(removed)}${tail}`,
    data: { ...data, removed },
  };
}

/** `docker_volume`: a volume present or absent, or the unused volumes of one project pruned. */
export const dockerVolume = defineModule({
  name: "docker_volume",
  aliases: ["community.docker.docker_volume"],
  doc: "Ensure a volume is present/absent, or remove only one Compose project's unused volumes.",
  args: volumeArgs,
  async run(ctx, a) {
    if (a.prune_project !== undefined) return await prune(ctx, a, a.prune_project);
    const name = (a.name ?? a.volume_name)!;
    const state = a.state ?? "present";
    const q = shq(name);
    const r = await ctx.sh(
      enginePrelude(engineFor(a.cli, ctx.facts), a.docker_host) + SERVER_PROBE +
        `if [ -n "$D" ] && [ "$r" = 0 ]; then cap inspect "$D" volume inspect --format '{{.Driver}}' ${q}
if [ "$r" = 0 ]; then cap users "$D" ps -a --filter volume=${q} --format "$J"; fi
fi\n`,
    );
    const s = sections(r.stdout);
    const eng = engineStatus(s);
    if (!eng.reachable) throw new ModuleFailure(eng.error, { volume: name });
    const inspect = captured(s, "inspect");
    const exists = inspect?.rc === 0;
    if (
      inspect && !exists &&
      !/no such volume|no such object|not found|no volume with name/i.test(inspect.err)
    ) {
      throw new ModuleFailure(`${eng.cli} volume inspect ${name}: ${inspect.err}`);
    }
    const users = parsePs(captured(s, "users")?.out ?? "");
    const data = { volume: name, engine: eng.cli, exists, containers: users.map((c) => c.name) };
    if (state === "present" ? exists : !exists) {
      return { changed: false, msg: `volume ${name} is ${exists ? "present" : "absent"}`, data };
    }
    let cmd: string;
    if (state === "absent") {
      const gone = ctx.check ? projectsGone(ctx.model, users.map((c) => c.project)) : new Set();
      const left = users.filter((c) => !gone.has(c.project));
      if (left.length) {
        throw new ModuleFailure(
          `volume ${name} is used by container(s) ${
            left.map((c) => `${c.name} (${c.state})`).join(", ")
          }: remove them first (e.g. docker_compose state=absent)`,
          data,
        );
      }
      cmd = `volume rm ${q}`;
    } else {
      cmd = [
        "volume create",
        ...(a.driver ? ["--driver", shq(a.driver)] : []),
        ...Object.entries(a.driver_options ?? {}).flatMap(([k, v]) => ["--opt", shq(`${k}=${v}`)]),
        ...Object.entries(a.labels ?? {}).flatMap(([k, v]) => ["--label", shq(`${k}=${v}`)]),
        q,
      ].join(" ");
    }
    const verb = state === "absent" ? "remove" : "create";
    const diff: Diff[] = [{
      target: `volume ${name}`,
      before: exists ? "present\n" : "absent\n",
      after: `${state}\n`,
    }];
    if (ctx.check) return { changed: true, diff, msg: `would ${verb} volume ${name}`, data };
    const ar = await ctx.sh(
      enginePrelude(eng.cli as "docker" | "podman", a.docker_host) + `cap op "$D" ${cmd}\n`,
    );
    const op = captured(sections(ar.stdout), "op");
    if (!op || op.rc !== 0) {
      throw new ModuleFailure(
        `${eng.cli} ${cmd.split(" ").slice(0, 2).join(" ")} ${name} failed: ${
          op?.err || ar.stderr.trim()
        }`,
        data,
      );
    }
    return { changed: true, diff, msg: `${verb}d volume ${name}`, data };
  },
});
