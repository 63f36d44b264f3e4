/**
 * @module
 * `systemd_service` (also `systemd`, `service`): a unit's enabled, masked and
 * running state, with Ansible's semantics (`restarted`/`reloaded` always
 * change; `reloaded` starts a stopped unit; `daemon_reload` runs first and is
 * not a change by itself). One script reads `systemctl show` and
 * `systemctl is-enabled`; a pure planner picks the systemctl verbs.
 *
 * In `--check`, a unit that does not exist yet but would be provided by an
 * earlier task (a package installed, a unit file written) is predicted from
 * the host model instead of failing.
 *
 * @example
 * ```yaml
 * - systemd_service:
 *     name: alloy
 *     state: started
 *     enabled: true
 *     daemon_reload: true
 * ```
 */
import { z } from "zod";
import { defineModule, type ModuleContext, ModuleFailure, readHost } from "../core/module.ts";
import { bool, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";

const argsSchema = z.object({
  name: str().optional().describe("Unit name; '.service' is implied without a suffix"),
  service: str().optional().describe("Alias of name"),
  unit: str().optional().describe("Alias of name"),
  state: z.enum(["started", "stopped", "restarted", "reloaded"]).optional(),
  enabled: bool().optional().describe("Start at boot"),
  masked: bool().optional().describe("Mask (true) or unmask (false) the unit"),
  daemon_reload: bool().default(false).describe(
    "systemctl daemon-reload before anything else (not reported as a change)",
  ),
  "daemon-reload": bool().optional(),
  scope: z.enum(["system"]).default("system").describe(
    "Only the system manager is supported",
  ),
  no_block: bool().default(false).describe("Do not wait for start/stop jobs to finish"),
}).strict().transform((a) => ({
  name: a.name ?? a.service ?? a.unit,
  state: a.state,
  enabled: a.enabled,
  masked: a.masked,
  daemon_reload: a.daemon_reload || a["daemon-reload"] === true,
  no_block: a.no_block,
})).refine(
  (a) =>
    (a.name !== undefined && a.name !== "") ||
    (a.daemon_reload && a.state === undefined && a.enabled === undefined && a.masked === undefined),
  { message: "'name' is required (only daemon_reload may go without one)" },
)
  .refine(
    (a) =>
      a.state !== undefined || a.enabled !== undefined || a.masked !== undefined ||
      a.daemon_reload,
    { message: "give at least one of 'state', 'enabled', 'masked', 'daemon_reload'" },
  );

/** Parsed arguments of {@linkcode systemdService}. */
export type SystemdArgs = z.infer<typeof argsSchema>;

const UNIT_TYPES = /\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/;

/** The unit systemctl will act on: `alloy` → `alloy.service`. Pure. */
export function unitName(name: string): string {
  if (!/^[A-Za-z0-9:_.@\\-]+$/.test(name)) {
    throw new ModuleFailure(`invalid unit name '${name}'`);
  }
  return UNIT_TYPES.test(name) ? name : `${name}.service`;
}

/** What systemd says about a unit. */
export interface UnitStatus {
  /** LoadState: loaded, not-found, masked, error... */
  readonly load: string;
  /** ActiveState: active, inactive, failed, activating, deactivating, reloading. */
  readonly active: string;
  readonly sub: string;
  /** UnitFileState: enabled, disabled, static, masked, indirect... */
  readonly unitFile: string;
  /** `systemctl is-enabled` output and exit status. */
  readonly isEnabled: string;
  readonly isEnabledRc: number;
  readonly needDaemonReload: boolean;
  readonly fragmentPath: string;
}

/** Parse `systemctl show -p ...` and `is-enabled` output. Pure. */
export function parseStatus(show: string, isEnabled: string): UnitStatus {
  const kv = new Map<string, string>();
  for (const line of show.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const lines = isEnabled.trim().split("\n");
  const rcLine = lines.findLast((l) => l.startsWith("rc=")) ?? "rc=1";
  return {
    load: kv.get("LoadState") ?? "not-found",
    active: kv.get("ActiveState") ?? "inactive",
    sub: kv.get("SubState") ?? "",
    unitFile: kv.get("UnitFileState") ?? "",
    isEnabled: lines.filter((l) => !l.startsWith("rc=")).join("\n").trim(),
    isEnabledRc: Number(rcLine.slice(3)),
    needDaemonReload: kv.get("NeedDaemonReload") === "yes",
    fragmentPath: kv.get("FragmentPath") ?? "",
  };
}

/** The state a task reads and reports. */
export interface UnitView {
  readonly enabled: boolean;
  readonly running: boolean;
  readonly masked: boolean;
}

/** Ansible's view of a status: enabled by `is-enabled` rc (not indirect/alias), running if active/activating. Pure. */
export function viewOf(s: UnitStatus): UnitView {
  return {
    enabled: s.isEnabledRc === 0 && s.isEnabled !== "indirect" && s.isEnabled !== "alias",
    running: ["active", "activating", "reloading"].includes(s.active),
    masked: s.load === "masked" || s.unitFile.startsWith("masked") ||
      s.isEnabled.startsWith("masked"),
  };
}

/** What a task asks for. */
export interface UnitWant {
  readonly state?: "started" | "stopped" | "restarted" | "reloaded";
  readonly enabled?: boolean;
  readonly masked?: boolean;
}

/** What {@linkcode planUnit} decides. */
export interface UnitPlan {
  /** systemctl verbs in order: unmask/mask, enable/disable, start/stop/restart/reload. */
  readonly verbs:
    readonly ("mask" | "unmask" | "enable" | "disable" | "start" | "stop" | "restart" | "reload")[];
  readonly before: UnitView;
  readonly after: UnitView;
  readonly warnings: readonly string[];
}

/** Decide the systemctl verbs. Throws when the wish cannot be met (a masked unit to start). Pure. */
export function planUnit(unit: string, s: UnitStatus, want: UnitWant): UnitPlan {
  const before = viewOf(s);
  const verbs: UnitPlan["verbs"][number][] = [];
  const warnings: string[] = [];
  let { enabled, running, masked } = before;
  if (want.masked === true && !masked) {
    verbs.push("mask");
    masked = true;
  } else if (want.masked === false && masked) {
    verbs.push("unmask");
    masked = false;
  }
  if (masked && (want.enabled === true || (want.state && want.state !== "stopped"))) {
    throw new ModuleFailure(
      `${unit} is masked: it cannot be ${want.enabled ? "enabled" : "started"}; add masked: false`,
    );
  }
  if (want.enabled !== undefined && want.enabled !== enabled) {
    if (["static", "generated", "transient"].includes(s.isEnabled) && !want.enabled) {
      warnings.push(`${unit} is ${s.isEnabled}: it cannot be disabled (mask it instead)`);
    } else {
      verbs.push(want.enabled ? "enable" : "disable");
      enabled = want.enabled;
    }
  }
  switch (want.state) {
    case "started":
      if (!running) verbs.push("start");
      running = true;
      break;
    case "stopped":
      if (running || s.active === "deactivating") verbs.push("stop");
      running = false;
      break;
    case "restarted":
    case "reloaded":
      verbs.push(!running ? "start" : want.state === "restarted" ? "restart" : "reload");
      running = true;
      break;
  }
  return { verbs, before, after: { enabled, running, masked }, warnings };
}

/** The unit as it is before anything exists: what a freshly installed package leaves (not enabled). */
export const FRESH_UNIT: UnitStatus = {
  load: "loaded",
  active: "inactive",
  sub: "dead",
  unitFile: "disabled",
  isEnabled: "disabled",
  isEnabledRc: 1,
  needDaemonReload: false,
  fragmentPath: "",
};

/** The one-round-trip read script (daemon-reload first in a real run). Pure. */
export function gatherScript(unit: string, daemonReload: boolean): string {
  return `export LC_ALL=C SYSTEMD_PAGER= SYSTEMD_COLORS=0
s() { printf '\\n@@%s\\n' "$1"; }
u=${shq(unit)}
s systemd; if [ -d /run/systemd/system ]; then echo yes; else echo no; cat /proc/1/comm 2>/dev/null; fi
${
    daemonReload
      ? `s reload; if [ -d /run/systemd/system ]; then systemctl daemon-reload 2>&1; echo "rc=$?"; fi\n`
      : ""
  }s show; o=$(systemctl show "$u" -p Id,LoadState,ActiveState,SubState,UnitFileState,NeedDaemonReload,FragmentPath 2>&1); printf '%s\\n' "$o"
s enabled; ${IS_ENABLED}
s end
`;
}

/**
 * `systemctl is-enabled "$u"` and its status, after `o=$(systemctl show "$u"
 * -p Id,UnitFileState,…)`: a unit file `enabled` or `disabled` under its own
 * name is what is-enabled says, without a second systemctl (about 12 ms of
 * host CPU); anything else (static, alias, generated, masked…) asks it.
 */
const IS_ENABLED = `e=; case "
$o
" in *"
Id=$u
"*) case "
$o
" in *"
UnitFileState=enabled
"*) e=enabled ;; *"
UnitFileState=disabled
"*) e=disabled ;; esac ;; esac
if [ "$e" = enabled ]; then echo enabled; echo rc=0; elif [ "$e" = disabled ]; then echo disabled; echo rc=1
else systemctl is-enabled "$u" 2>/dev/null; echo "rc=$?"; fi`;

/** The script that runs the verbs, then reads the state again. Pure. */
export function applyScript(unit: string, verbs: UnitPlan["verbs"], noBlock: boolean): string {
  const u = shq(unit);
  const nb = noBlock ? " --no-block" : "";
  const steps = verbs.map((v) =>
    `if ! out=$(systemctl${
      ["start", "stop", "restart", "reload"].includes(v) ? nb : ""
    } ${v} ${u} 2>&1); then
  printf '\\n@@failed\\n%s\\n%s\\n' ${v} "$out"
  journalctl -u ${u} -n 15 --no-pager 2>/dev/null
  exit 1
fi
`
  ).join("");
  return `export LC_ALL=C SYSTEMD_PAGER= SYSTEMD_COLORS=0
${steps}printf '\\n@@show\\n'; systemctl show ${u} -p LoadState,ActiveState,SubState,UnitFileState 2>&1
printf '\\n@@enabled\\n'; systemctl is-enabled ${u} 2>/dev/null; echo "rc=$?"
`;
}

function sections(out: string): Map<string, string> {
  const m = new Map<string, string>();
  const parts = ("\n" + out).split(/\n@@(\w+)\n/);
  for (let i = 1; i < parts.length; i += 2) m.set(parts[i], parts[i + 1] ?? "");
  return m;
}

/** The message when PID 1 is not systemd. Pure. */
export function noSystemdMessage(pid1: string, isWsl: boolean): string {
  return `systemd is not running on this host (PID 1 is ${
    pid1 || "not systemd"
  }), so units cannot be managed` +
    (isWsl
      ? ". On WSL, turn it on: add the lines '[boot]' and 'systemd=true' to /etc/wsl.conf, run 'wsl --shutdown' from Windows, then reopen the distribution"
      : "");
}

/** Would an earlier task of this run provide the unit (package install, unit file)? */
function providedEarlier(ctx: ModuleContext, unit: string): string | undefined {
  for (const dir of ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"]) {
    if (typeof ctx.model.file(`${dir}/${unit}`) === "string") {
      return `its unit file is written by an earlier task`;
    }
  }
  const base = unit.replace(UNIT_TYPES, "").replace(/@.*$/, "");
  const pending = ctx.model.flag<string[]>("pkg:pending") ?? [];
  if (ctx.model.flag(`pkg:${base}`) === "present" && pending.includes(base)) {
    return `unit would be provided by package ${base}, installed earlier in this run`;
  }
  if (pending.length > 0) {
    return `unit would be provided by a package installed earlier in this run (${
      pending.join(", ")
    })`;
  }
  return undefined;
}

function describe(v: UnitView): string {
  return `enabled: ${v.enabled}\nstate: ${
    v.running ? "started" : "stopped"
  }\nmasked: ${v.masked}\n`;
}

const DONE: Record<UnitPlan["verbs"][number], string> = {
  mask: "masked",
  unmask: "unmasked",
  enable: "enabled",
  disable: "disabled",
  start: "started",
  stop: "stopped",
  restart: "restarted",
  reload: "reloaded",
};

/** The `systemd_service` module (aliases `systemd`, `service`). */
export const systemdService = defineModule({
  name: "systemd_service",
  aliases: ["systemd", "service"],
  doc: "Start, stop, restart, reload, enable, disable or mask a systemd unit.",
  args: argsSchema,
  reads: (a, rc) =>
    typeof a.name === "string" && rc.facts.systemd_running && !(a.daemon_reload && !rc.check)
      ? [{ script: gatherScript(unitName(a.name), false) }]
      : [],
  async run(ctx, a) {
    if (a.name === undefined) {
      // `systemd_service: daemon_reload: true` alone: not a change, as in Ansible.
      if (!ctx.check) {
        const r = await ctx.sh("systemctl daemon-reload");
        if (r.rc !== 0) {
          throw new ModuleFailure(`systemctl daemon-reload failed: ${r.stderr.trim()}`);
        }
      }
      return { changed: false };
    }
    const unit = unitName(a.name);
    if (!ctx.facts.systemd_running) {
      throw new ModuleFailure(noSystemdMessage(ctx.facts.pid1, ctx.facts.is_wsl));
    }
    // daemon-reload is a change; without it the gather only reads (and may come from a batch).
    const doReload = a.daemon_reload && !ctx.check;
    const gs = gatherScript(unit, doReload);
    const r = doReload ? await ctx.sh(gs) : await readHost(ctx, gs);
    const sec = sections(r.stdout);
    if (!sec.has("end")) {
      throw new ModuleFailure(`could not read the state of ${unit}: ${r.stderr.trim()}`, {
        rc: r.rc,
      });
    }
    const sd = (sec.get("systemd") ?? "").trim().split("\n");
    if (sd[0] !== "yes") throw new ModuleFailure(noSystemdMessage(sd[1] ?? "", ctx.facts.is_wsl));
    const reload = sec.get("reload");
    if (reload !== undefined && !/rc=0\s*$/.test(reload)) {
      throw new ModuleFailure(
        `systemctl daemon-reload failed: ${reload.replace(/rc=\d+\s*$/, "").trim()}`,
      );
    }
    let status = parseStatus(sec.get("show") ?? "", sec.get("enabled") ?? "");
    const warnings: string[] = [];
    let note = "";
    const predicted = ctx.check ? ctx.model.flag<UnitView>(`systemd:${unit}`) : undefined;
    if (predicted) {
      status = {
        ...status,
        load: predicted.masked ? "masked" : "loaded",
        active: predicted.running ? "active" : "inactive",
        isEnabled: predicted.enabled ? "enabled" : "disabled",
        isEnabledRc: predicted.enabled ? 0 : 1,
      };
    } else if (status.load === "not-found") {
      const why = ctx.check ? providedEarlier(ctx, unit) : undefined;
      if (!why) {
        throw new ModuleFailure(`Could not find the requested service ${a.name}: host`, {
          name: a.name,
        });
      }
      status = FRESH_UNIT;
      note = ` (${why})`;
    }
    if (status.needDaemonReload && !a.daemon_reload) {
      warnings.push(`the unit file of ${unit} changed on disk; add daemon_reload: true`);
    }
    const plan = planUnit(unit, status, a);
    warnings.push(...plan.warnings);
    const changed = plan.verbs.length > 0;
    // restarted/reloaded leave the state as it was: say so, or the diff would be empty.
    const bounced = plan.verbs.filter((v) => v === "restart" || v === "reload").map((v) => DONE[v]);
    const diff = changed
      ? [{
        target: unit,
        before: describe(plan.before),
        after: describe(plan.after) + (bounced.length ? `action: ${bounced.join(", ")}\n` : ""),
      }]
      : [];
    const data = {
      name: a.name,
      state: plan.after.running ? "started" : "stopped",
      enabled: plan.after.enabled,
      status: {
        LoadState: status.load,
        ActiveState: status.active,
        SubState: status.sub,
        UnitFileState: status.unitFile,
      },
    };
    if (!changed) {
      ctx.model.setFlag(`systemd:${unit}`, plan.after);
      return {
        changed: false,
        msg: `${unit} is ${data.state}${plan.after.enabled ? ", enabled" : ""}`,
        data,
        warnings,
      };
    }
    const what = plan.verbs.map((v) => DONE[v]).join(", ");
    if (ctx.check) {
      ctx.model.setFlag(`systemd:${unit}`, plan.after);
      return { changed: true, diff, msg: `would be ${what}: ${unit}${note}`, data, warnings };
    }
    const ar = await ctx.sh(applyScript(unit, plan.verbs, a.no_block));
    const out = sections(ar.stdout);
    if (out.has("failed") || ar.rc !== 0) {
      const [verb = "", ...rest] = (out.get("failed") ?? "").split("\n");
      throw new ModuleFailure(
        `Unable to ${verb || "change"} service ${a.name}: ${
          rest.join("\n").trim() || ar.stderr.trim()
        }`,
        { rc: ar.rc, stdout: ar.stdout, stderr: ar.stderr },
      );
    }
    ctx.model.setFlag(`systemd:${unit}`, plan.after);
    const final = parseStatus(out.get("show") ?? "", out.get("enabled") ?? "");
    return {
      changed: true,
      diff,
      msg: `${what}: ${unit}`,
      data: {
        ...data,
        status: {
          LoadState: final.load,
          ActiveState: final.active,
          SubState: final.sub,
          UnitFileState: final.unitFile,
        },
      },
      warnings,
    };
  },
});
