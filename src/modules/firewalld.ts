/**
 * @module
 * `firewalld` (also `ansible.posix.firewalld`): open or close a port, a
 * service, a source or an interface in a zone, at runtime and/or permanently,
 * with Ansible's semantics: `permanent: false` (the default) changes the
 * running firewall only; `permanent: true` changes the saved configuration
 * only, unless `immediate: true` asks for both. One script asks
 * `firewall-cmd --query-*` for each side; a pure planner decides. When
 * firewalld is not running, permanent changes go through
 * `firewall-offline-cmd`.
 *
 * @example
 * ```yaml
 * - firewalld:
 *     port: 4317/tcp
 *     zone: public
 *     permanent: true
 *     immediate: true
 *     state: enabled
 * ```
 */
import { z } from "zod";
import { defineModule, ModuleFailure } from "../core/module.ts";
import { bool, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";

const ITEMS = ["port", "service", "source", "interface", "rich_rule"] as const;

/** What a task opens or closes. */
export type ItemKind = (typeof ITEMS)[number];

const argsSchema = z.object({
  port: str().optional().describe("PORT/PROTO or FROM-TO/PROTO, e.g. 4317/tcp"),
  service: str().optional().describe("A firewalld service name, e.g. http"),
  source: str().optional().describe("A source address or network bound to the zone"),
  interface: str().optional().describe("An interface bound to the zone"),
  rich_rule: str().optional().describe("A firewalld rich rule"),
  zone: str().optional().describe("Zone; default the default zone"),
  permanent: bool().default(false).describe("Change the saved configuration"),
  immediate: bool().default(false).describe("With permanent: also change the running firewall"),
  state: z.enum(["enabled", "disabled"]).describe("enabled adds, disabled removes"),
  offline: bool().optional().describe(
    "Accepted for compatibility; offline mode is used whenever firewalld is not running",
  ),
}).strict().refine((a) => ITEMS.filter((k) => a[k] !== undefined).length === 1, {
  message: `give exactly one of ${ITEMS.map((k) => `'${k}'`).join(", ")}`,
}).refine((a) => a.port === undefined || /^\d+(-\d+)?\/(tcp|udp|sctp|dccp)$/.test(a.port), {
  message: "port must look like 4317/tcp or 8000-8010/udp",
  path: ["port"],
});

/** Parsed arguments of {@linkcode firewalld}. */
export type FirewalldArgs = z.infer<typeof argsSchema>;

/** The item a task names, as a firewall-cmd option stem and value. Pure. */
export function itemOf(a: FirewalldArgs): { kind: ItemKind; value: string; flag: string } {
  const kind = ITEMS.find((k) => a[k] !== undefined)!;
  return { kind, value: a[kind]!, flag: kind.replace("_", "-") };
}

/** Which sides a task changes, following Ansible. Pure. */
export function sides(a: { permanent: boolean; immediate: boolean }): {
  runtime: boolean;
  permanent: boolean;
} {
  return { runtime: !a.permanent || a.immediate, permanent: a.permanent };
}

/** What the host answered. */
export interface FirewalldState {
  readonly installed: boolean;
  readonly running: boolean;
  readonly defaultZone: string;
  /** Exit status of the runtime query (0 yes, 1 no, other: an error); undefined if not asked. */
  readonly runtimeRc?: number;
  readonly runtimeErr?: string;
  readonly permanentRc?: number;
  readonly permanentErr?: string;
}

/** One firewall-cmd call to make. */
export interface FirewalldStep {
  readonly side: "runtime" | "permanent";
  /** firewall-offline-cmd instead of firewall-cmd (firewalld not running). */
  readonly offline: boolean;
  readonly argv: readonly string[];
}

function queryError(side: string, rc: number, err: string | undefined): ModuleFailure {
  return new ModuleFailure(
    `firewall-cmd ${side} query failed (rc ${rc}): ${(err ?? "").trim() || "unknown error"}`,
    { rc },
  );
}

/** Decide the firewall-cmd calls. Pure. */
export function planFirewalld(s: FirewalldState, a: FirewalldArgs): FirewalldStep[] {
  const want = sides(a);
  const item = itemOf(a);
  if (want.runtime && !s.running) {
    throw new ModuleFailure(
      "firewalld is not running: start it, or use permanent: true (without immediate) to change only the saved configuration",
    );
  }
  const steps: FirewalldStep[] = [];
  const verb = a.state === "enabled" ? "add" : "remove";
  const zone = a.zone ? [`--zone=${a.zone}`] : [];
  const consider = (side: "runtime" | "permanent", rc: number | undefined, err?: string) => {
    if (rc === undefined) return;
    if (rc !== 0 && rc !== 1) throw queryError(side, rc, err);
    const present = rc === 0;
    if (present === (a.state === "enabled")) return;
    const offline = side === "permanent" && !s.running;
    steps.push({
      side,
      offline,
      argv: [
        ...(side === "permanent" && !offline ? ["--permanent"] : []),
        ...zone,
        `--${verb}-${item.flag}=${item.value}`,
      ],
    });
  };
  if (want.runtime) consider("runtime", s.runtimeRc, s.runtimeErr);
  if (want.permanent) consider("permanent", s.permanentRc, s.permanentErr);
  return steps;
}

/** The read script: is firewalld there and running, and both queries. Pure. */
export function gatherScript(a: FirewalldArgs): string {
  const item = itemOf(a);
  const want = sides(a);
  const q = [...(a.zone ? [`--zone=${a.zone}`] : []), `--query-${item.flag}=${item.value}`]
    .map(shq).join(" ");
  return `export LC_ALL=C
s() { printf '\\n@@%s\\n' "$1"; }
if ! command -v firewall-cmd >/dev/null 2>&1 && ! command -v firewall-offline-cmd >/dev/null 2>&1; then s missing; s end; exit 0; fi
running=no
[ "$(firewall-cmd --state 2>/dev/null)" = running ] && running=yes
s running; echo "$running"
s zone; if [ $running = yes ]; then firewall-cmd --get-default-zone; else firewall-offline-cmd --get-default-zone; fi 2>/dev/null
${
    want.runtime
      ? `if [ $running = yes ]; then s runtime; err=$(firewall-cmd ${q} 2>&1 >/dev/null); echo "$?"; printf '%s\\n' "$err"; fi\n`
      : ""
  }${
    want.permanent
      ? `s permanent
if [ $running = yes ]; then err=$(firewall-cmd --permanent ${q} 2>&1 >/dev/null); else err=$(firewall-offline-cmd ${q} 2>&1 >/dev/null); fi
echo "$?"; printf '%s\\n' "$err"
`
      : ""
  }s end
`;
}

/** Parse {@linkcode gatherScript} output. Pure. */
export function parseGather(out: string): FirewalldState & { complete: boolean } {
  const m = new Map<string, string>();
  const parts = ("\n" + out).split(/\n@@(\w+)\n/);
  for (let i = 1; i < parts.length; i += 2) m.set(parts[i], parts[i + 1] ?? "");
  const rcOf = (k: string) => {
    const v = m.get(k);
    if (v === undefined) return [undefined, undefined] as const;
    const [rc, ...err] = v.split("\n");
    return [Number(rc.trim()), err.join("\n").trim()] as const;
  };
  const [runtimeRc, runtimeErr] = rcOf("runtime");
  const [permanentRc, permanentErr] = rcOf("permanent");
  return {
    installed: !m.has("missing"),
    running: (m.get("running") ?? "").trim() === "yes",
    defaultZone: (m.get("zone") ?? "").trim(),
    runtimeRc,
    runtimeErr,
    permanentRc,
    permanentErr,
    complete: m.has("end"),
  };
}

/** The script that makes the calls. Pure. */
export function applyScript(steps: readonly FirewalldStep[]): string {
  return `export LC_ALL=C
set -e
${
    steps.map((st) =>
      `${st.offline ? "firewall-offline-cmd" : "firewall-cmd"} ${st.argv.map(shq).join(" ")}\n`
    ).join("")
  }`;
}

/** The `firewalld` module. */
export const firewalld = defineModule({
  name: "firewalld",
  doc:
    "Open or close a port/service/source/interface in a firewalld zone (runtime and/or permanent).",
  args: argsSchema,
  async run(ctx, a) {
    const item = itemOf(a);
    const r = await ctx.sh(gatherScript(a));
    const g = parseGather(r.stdout);
    if (!g.complete) {
      throw new ModuleFailure(`could not read the firewalld state: ${r.stderr.trim()}`, {
        rc: r.rc,
      });
    }
    const zone = a.zone ?? (g.defaultZone || "the default zone");
    const label = `${item.kind.replace("_", " ")} ${item.value} in ${zone}`;
    let steps: FirewalldStep[];
    let note = "";
    if (!g.installed) {
      if (!(ctx.check && ctx.model.flag("pkg:firewalld") === "present")) {
        throw new ModuleFailure("firewalld is not installed on this host (no firewall-cmd)");
      }
      const want = sides(a);
      // A freshly installed firewalld has nothing open beyond its defaults.
      steps = planFirewalld(
        {
          installed: true,
          running: true,
          defaultZone: "public",
          runtimeRc: want.runtime ? 1 : undefined,
          permanentRc: want.permanent ? 1 : undefined,
        },
        a,
      );
      note = " (firewalld is installed by an earlier task)";
    } else steps = planFirewalld(g, a);
    const verb = a.state === "enabled" ? "enable" : "disable";
    const where = (st: readonly FirewalldStep[]) =>
      [...new Set(st.map((s) => s.side))].join(" and ");
    if (steps.length === 0) {
      return { changed: false, msg: `${label} is already ${a.state}`, data: { zone } };
    }
    const diff = steps.map((s) => ({
      target: `firewalld ${s.side} ${zone}`,
      before: `${item.kind} ${item.value}: ${a.state === "enabled" ? "disabled" : "enabled"}\n`,
      after: `${item.kind} ${item.value}: ${a.state}\n`,
    }));
    if (ctx.check) {
      return {
        changed: true,
        diff,
        msg: `would ${verb} ${label} (${where(steps)})${note}`,
        data: { zone },
      };
    }
    const ar = await ctx.sh(applyScript(steps));
    if (ar.rc !== 0) {
      throw new ModuleFailure(
        `firewall-cmd failed (rc ${ar.rc}): ${ar.stderr.trim() || ar.stdout.trim()}`,
        {
          rc: ar.rc,
          stdout: ar.stdout,
          stderr: ar.stderr,
        },
      );
    }
    return { changed: true, diff, msg: `${verb}d ${label} (${where(steps)})`, data: { zone } };
  },
});
