/**
 * @module
 * `docker_image` (aliases `community.docker.docker_image`,
 * `docker_image_remove`): remove a local image, or check that one is there.
 * It never pulls: `state: present` fails when the image is missing (the
 * Compose project's `up` pulls what it needs). Works with Docker or Podman.
 *
 * @example
 * ```yaml
 * - name: Remove the old stack's images
 *   docker_image:
 *     name: "{{ item }}"
 *     state: absent
 *   loop:
 *     - jaegertracing/all-in-one:1.52
 *     - prom/prometheus:v2.48.1
 *     - grafana/grafana:10.2.3
 *     - otel/opentelemetry-collector-contrib:0.91.0
 *     - prom/pushgateway:v1.6.2
 * ```
 */
import { z } from "zod";
import { defineModule, ModuleFailure } from "../core/module.ts";
import { bool, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";
import {
  captured,
  type ContainerInfo,
  engineFor,
  enginePrelude,
  engineStatus,
  parsePs,
  projectsGone,
  sections,
  SERVER_PROBE,
} from "./docker_compose.ts";

/** `name` plus `tag` as one reference; `latest` when neither names a tag. Pure. */
export function imageRef(name: string, tag?: string): string {
  const last = name.slice(name.lastIndexOf("/") + 1);
  if (name.includes("@") || last.includes(":")) return name;
  return `${name}:${tag ?? "latest"}`;
}

/** Arguments of `docker_image`. */
export const imageArgs = z.object({
  name: str(),
  tag: str().optional(),
  state: z.enum(["present", "absent"]).default("present"),
  /** rmi -f: Docker untags an image in use; Podman also removes the containers using it. */
  force_absent: bool().default(false),
  /** `docker_image_remove`'s spelling of force_absent. */
  force: bool().optional(),
  /** `rmi --no-prune` when false. */
  prune: bool().default(true),
  source: z.enum(["local"]).optional(),
  cli: z.enum(["docker", "podman"]).optional(),
  docker_host: str().optional(),
}).strict();

/** Parsed arguments of `docker_image`. */
export type ImageArgs = z.infer<typeof imageArgs>;

/** What `docker_image` will do. */
export interface ImagePlan {
  readonly action: "none" | "rmi";
  readonly msg: string;
}

/**
 * Decide for `docker_image`. `users` are containers made from the image;
 * those of projects in `gone` are discounted (an earlier task removes them). Pure.
 */
export function planImage(
  a: { state: "present" | "absent"; force: boolean },
  st: { ref: string; id?: string; users: readonly ContainerInfo[]; gone: ReadonlySet<string> },
): ImagePlan {
  if (a.state === "present") {
    if (st.id) return { action: "none", msg: `image ${st.ref} is present (${st.id.slice(0, 19)})` };
    throw new ModuleFailure(
      `image ${st.ref} is not present on the host; drover does not pull images: \`compose up\` (docker_compose state=present) would pull it`,
      { image: st.ref },
    );
  }
  if (!st.id) return { action: "none", msg: `image ${st.ref} is not present` };
  const users = st.users.filter((c) => !st.gone.has(c.project));
  if (users.length && !a.force) {
    throw new ModuleFailure(
      `image ${st.ref} is used by container(s) ${
        users.map((c) => `${c.name} (${c.state})`).join(", ")
      }: remove them first (e.g. docker_compose state=absent) or set force_absent: true`,
      { image: st.ref, containers: users.map((c) => c.name) },
    );
  }
  return { action: "rmi", msg: `remove image ${st.ref} (${st.id.slice(0, 19)})` };
}

/** `docker_image`: remove a local image, or check that it is present. */
export const dockerImage = defineModule({
  name: "docker_image",
  aliases: ["community.docker.docker_image", "docker_image_remove"],
  doc: "Remove a local Docker/Podman image (state=absent) or check it is present; never pulls.",
  args: imageArgs,
  async run(ctx, a) {
    const ref = imageRef(a.name, a.tag);
    const force = a.force ?? a.force_absent;
    const q = shq(ref);
    const r = await ctx.sh(
      enginePrelude(engineFor(a.cli, ctx.facts), a.docker_host) + SERVER_PROBE +
        `if [ -n "$D" ]; then cap inspect "$D" image inspect --format '{{.Id}}' ${q}
  if [ "$r" = 0 ]; then iid=$("$D" image inspect --format '{{.Id}}' ${q}); cap users "$D" ps -a --filter "ancestor=$iid" --format "$J"; fi
fi\n`,
    );
    const s = sections(r.stdout);
    const eng = engineStatus(s);
    if (!eng.reachable) throw new ModuleFailure(eng.error, { image: ref });
    const inspect = captured(s, "inspect");
    if (
      inspect && inspect.rc !== 0 && !/no such (image|object)|image not known/i.test(inspect.err)
    ) {
      throw new ModuleFailure(`${eng.cli} image inspect ${ref}: ${inspect.err}`);
    }
    const id = inspect?.rc === 0 ? inspect.out.trim() : undefined;
    const users = parsePs(captured(s, "users")?.out ?? "");
    const gone = ctx.check
      ? projectsGone(ctx.model, users.map((c) => c.project))
      : new Set<string>();
    const plan = planImage({ state: a.state, force }, { ref, id, users, gone });
    const data = { image: ref, id, engine: eng.cli, containers: users.map((c) => c.name) };
    if (plan.action === "none") return { changed: false, msg: plan.msg, data };
    ctx.model.setFlag(`image:${ref}`, "absent");
    const diff = [{ target: `image ${ref}`, before: `present ${id}\n`, after: "absent\n" }];
    if (ctx.check) return { changed: true, msg: `would ${plan.msg}`, diff, data };
    const ar = await ctx.sh(
      enginePrelude(eng.cli as "docker" | "podman", a.docker_host) +
        `cap rmi "$D" rmi ${force ? "-f " : ""}${a.prune ? "" : "--no-prune "}${q}\n`,
    );
    const rmi = captured(sections(ar.stdout), "rmi");
    if (!rmi || rmi.rc !== 0) {
      throw new ModuleFailure(
        `${eng.cli} rmi ${ref} failed: ${rmi?.err || ar.stderr.trim()}`,
        data,
      );
    }
    return { changed: true, msg: plan.msg.replace(/^remove/, "removed"), diff, data };
  },
});
