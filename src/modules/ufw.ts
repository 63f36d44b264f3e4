/**
 * @module
 * `ufw` (also `community.general.ufw`): rules, default policies, logging and
 * the firewall's state, with Ansible's arguments. One script reads
 * `ufw status verbose`, `/etc/ufw/ufw.conf`, `/etc/default/ufw` and the rule
 * tuples of `/etc/ufw/user.rules` and `user6.rules` (which carry the exact
 * rule and its hex-encoded comment); a pure planner compares them with the
 * tuples ufw would write, so re-adding a rule is `ok`, and a rule whose
 * comment differs is `changed` (ufw rewrites the comment, or drops it when
 * none is given). Rules and policies go in before `state: enabled`, so a
 * task that allows SSH and enables the firewall does not lock itself out.
 *
 * @example
 * ```yaml
 * - ufw:
 *     rule: allow
 *     port: "4317"
 *     proto: tcp
 *     comment: OTLP gRPC (alloy)
 * - ufw:
 *     state: enabled
 * ```
 */
import { z } from "zod";
import { defineModule, type Diff, ModuleFailure, readHost } from "../core/module.ts";
import { bool, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";
import { SH_CAT_FN } from "../facts/mod.ts";

const onOff = z.preprocess(
  (v) => (v === true ? "on" : v === false ? "off" : v),
  z.enum(["on", "off", "low", "medium", "high", "full"]),
);

const argsSchema = z.object({
  state: z.enum(["enabled", "disabled", "reloaded", "reset"]).optional().describe(
    "enabled/disabled: the firewall on or off (also at boot); reloaded and reset always change",
  ),
  policy: z.enum(["allow", "deny", "reject"]).optional().describe(
    "Default policy for 'direction'",
  ),
  default: z.enum(["allow", "deny", "reject"]).optional().describe("Alias of policy"),
  direction: z.enum(["in", "incoming", "out", "outgoing", "routed"]).optional().describe(
    "incoming/outgoing/routed for a policy; in/out for a rule (default in)",
  ),
  logging: onOff.optional(),
  rule: z.enum(["allow", "deny", "limit", "reject"]).optional(),
  log: bool().default(false).describe("Log new connections matched by the rule"),
  from_ip: str().optional().describe("Source address or network (default any)"),
  from: str().optional(),
  src: str().optional(),
  from_port: str().optional(),
  to_ip: str().optional().describe("Destination address or network (default any)"),
  to: str().optional(),
  dest: str().optional(),
  to_port: str().optional().describe("Destination port, range a:b or list a,b"),
  port: str().optional().describe("Alias of to_port"),
  proto: z.enum(["any", "tcp", "udp", "ipv6", "esp", "ah", "gre", "igmp"]).default("any"),
  interface: str().optional(),
  if: str().optional(),
  interface_in: str().optional(),
  if_in: str().optional(),
  interface_out: str().optional(),
  if_out: str().optional(),
  route: bool().default(false).describe("A rule for routed (forwarded) packets"),
  comment: str().optional().describe("Rule comment (ufw rejects the ' character)"),
  delete: bool().default(false).describe("Delete the rule instead of adding it"),
}).strict().transform((a) => ({
  state: a.state,
  policy: a.policy ?? a.default,
  direction: a.direction,
  logging: a.logging,
  rule: a.rule,
  log: a.log,
  from_ip: a.from_ip ?? a.from ?? a.src ?? "any",
  from_port: a.from_port,
  to_ip: a.to_ip ?? a.to ?? a.dest ?? "any",
  to_port: a.to_port ?? a.port,
  proto: a.proto,
  interface: a.interface ?? a.if,
  interface_in: a.interface_in ?? a.if_in,
  interface_out: a.interface_out ?? a.if_out,
  route: a.route,
  comment: a.comment,
  delete: a.delete,
})).refine(
  (a) => a.state || a.policy || a.logging || a.rule,
  { message: "give at least one of 'state', 'policy', 'logging', 'rule'" },
).refine((a) => !(a.comment ?? "").includes("'"), {
  message: "ufw rejects comments that contain '",
  path: ["comment"],
}).refine((a) => !(a.interface && (a.interface_in || a.interface_out)), {
  message: "give 'interface' or 'interface_in'/'interface_out', not both",
});

/** Parsed arguments of {@linkcode ufw}. */
export type UfwArgs = z.infer<typeof argsSchema>;

// ---------------------------------------------------------------- addresses

function v4(addr: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(addr);
  if (!m) return undefined;
  const oct = m.slice(1, 5).map(Number);
  if (oct.some((o) => o > 255)) return undefined;
  const bits = m[5] === undefined ? 32 : Number(m[5]);
  if (bits > 32) return undefined;
  const n = oct.reduce((acc, o) => acc * 256 + o, 0);
  const mask = bits === 0 ? 0 : (2 ** 32 - 2 ** (32 - bits));
  const net = Number(BigInt(n) & BigInt(mask));
  const ip = [24, 16, 8, 0].map((s) => Math.floor(net / 2 ** s) % 256).join(".");
  return bits === 32 ? ip : `${ip}/${bits}`;
}

function v6(addr: string): string | undefined {
  const m = /^([0-9A-Fa-f:.]+)(?:\/(\d{1,3}))?$/.exec(addr);
  if (!m || !m[1].includes(":")) return undefined;
  const bits = m[2] === undefined ? 128 : Number(m[2]);
  if (bits > 128) return undefined;
  const halves = m[1].split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === "" ? [] : s.split(":"));
  const head = parse(halves[0]), tail = halves.length === 2 ? parse(halves[1]) : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const groups = [...head, ...Array(halves.length === 2 ? fill : 0).fill("0"), ...tail];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9A-Fa-f]{1,4}$/.test(g))) return undefined;
  const hex = groups.map((g) => parseInt(g, 16).toString(16));
  // RFC 5952: the longest run (≥2) of zero groups becomes "::".
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (hex[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && hex[j] === "0") j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const text = best < 0
    ? hex.join(":")
    : `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
  return bits === 128 ? text : `${text}/${bits}`;
}

/** An address as ufw stores it, and its family; `any` fits both. Pure. */
export function normalizeAddress(addr: string): { v4?: string; v6?: string } {
  if (addr === "any") return { v4: "0.0.0.0/0", v6: "::/0" };
  const a = v4(addr);
  if (a) return { v4: a };
  const b = v6(addr);
  if (b) return { v6: b };
  throw new ModuleFailure(
    `'${addr}' is not an IP address or network (ufw needs addresses, not names)`,
  );
}

// ---------------------------------------------------------------- state

/** A rule tuple from user.rules: the rule itself and its (decoded) comment. */
export interface Tuple {
  readonly key: string;
  readonly comment: string;
}

/** Hex of a comment's UTF-8 bytes, as ufw stores it. Pure. */
export function hexComment(c: string): string {
  return [...new TextEncoder().encode(c)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function unhex(h: string): string {
  const bytes = Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
  return new TextDecoder().decode(bytes);
}

/** Parse `### tuple ###` lines of user.rules / user6.rules. Pure. */
export function parseTuples(text: string): Tuple[] {
  const out: Tuple[] = [];
  for (const line of text.split("\n")) {
    const m = /^### tuple ### (.*?)(?: comment=([0-9a-f]*))?\s*$/.exec(line);
    if (m) out.push({ key: m[1], comment: m[2] ? unhex(m[2]) : "" });
  }
  return out;
}

/** What the host's ufw looks like. */
export interface UfwState {
  readonly active: boolean;
  readonly ipv6: boolean;
  readonly loglevel: string;
  /** incoming/outgoing/routed → allow/deny/reject. */
  readonly policies: Readonly<Record<"incoming" | "outgoing" | "routed", string>>;
  readonly v4: readonly Tuple[];
  readonly v6: readonly Tuple[];
}

const POLICY_NAMES: Readonly<Record<string, string>> = {
  ACCEPT: "allow",
  DROP: "deny",
  REJECT: "reject",
};

function shellVars(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const r = /^\s*([A-Z_0-9]+)=(.*)$/.exec(line);
    if (r) m.set(r[1], r[2].trim().replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1"));
  }
  return m;
}

/** Build {@linkcode UfwState} from the gathered texts. Pure. */
export function parseState(t: {
  status: string;
  conf: string;
  defaults: string;
  user4: string;
  user6: string;
}): UfwState {
  const conf = shellVars(t.conf), def = shellVars(t.defaults);
  const pol = (k: string) => POLICY_NAMES[def.get(k) ?? ""] ?? (def.get(k) ?? "").toLowerCase();
  return {
    active: /^Status: active$/m.test(t.status),
    ipv6: (def.get("IPV6") ?? "yes").toLowerCase() === "yes",
    loglevel: conf.get("LOGLEVEL") ?? "low",
    policies: {
      incoming: pol("DEFAULT_INPUT_POLICY"),
      outgoing: pol("DEFAULT_OUTPUT_POLICY"),
      routed: pol("DEFAULT_FORWARD_POLICY"),
    },
    v4: parseTuples(t.user4),
    v6: parseTuples(t.user6),
  };
}

/** A freshly installed ufw (Debian/Ubuntu defaults), for check-mode predictions. */
export const FRESH_UFW: UfwState = {
  active: false,
  ipv6: true,
  loglevel: "low",
  policies: { incoming: "deny", outgoing: "allow", routed: "deny" },
  v4: [],
  v6: [],
};

// ---------------------------------------------------------------- rules

/** The rule part of the arguments. */
export type RuleArgs = Pick<
  UfwArgs,
  | "rule"
  | "log"
  | "from_ip"
  | "from_port"
  | "to_ip"
  | "to_port"
  | "proto"
  | "interface"
  | "interface_in"
  | "interface_out"
  | "route"
  | "direction"
  | "comment"
  | "delete"
>;

/** The tuples ufw writes for a rule (`allow tcp 4317 0.0.0.0/0 any 0.0.0.0/0 in`), per family. Pure. */
export function ruleTuples(r: RuleArgs, ipv6: boolean): { v4?: string; v6?: string } {
  const src = normalizeAddress(r.from_ip), dst = normalizeAddress(r.to_ip);
  const multi = (p?: string) => p !== undefined && /[:,]/.test(p);
  if ((multi(r.to_port) || multi(r.from_port)) && r.proto !== "tcp" && r.proto !== "udp") {
    throw new ModuleFailure("port ranges and lists need proto: tcp or udp");
  }
  for (const p of [r.to_port, r.from_port]) {
    if (p !== undefined && !/^\d+([:,]\d+)*$/.test(p)) {
      throw new ModuleFailure(
        `port '${p}' must be numeric (ranges a:b, lists a,b); service names are not supported`,
      );
    }
  }
  const dirWord = r.direction === "out" || r.direction === "outgoing" ? "out" : "in";
  let dir: string;
  if (r.interface_in || r.interface_out) {
    dir = [r.interface_in && `in_${r.interface_in}`, r.interface_out && `out_${r.interface_out}`]
      .filter(Boolean).join("!");
  } else dir = r.interface ? `${dirWord}_${r.interface}` : dirWord;
  const action = `${r.route ? "route:" : ""}${r.rule}${r.log ? "_log" : ""}`;
  const make = (d: string, s: string) =>
    `${action} ${r.proto} ${r.to_port ?? "any"} ${d} ${r.from_port ?? "any"} ${s} ${dir}`;
  const out: { v4?: string; v6?: string } = {};
  if (src.v4 && dst.v4) out.v4 = make(dst.v4, src.v4);
  if (src.v6 && dst.v6 && (ipv6 || r.from_ip !== "any" || r.to_ip !== "any")) {
    out.v6 = make(dst.v6, src.v6);
  }
  if (!out.v4 && !out.v6) {
    throw new ModuleFailure(`from ${r.from_ip} and to ${r.to_ip} are of different IP versions`);
  }
  return out;
}

/** The `ufw ...` words for a rule. Pure. */
export function ruleCommand(r: RuleArgs): string[] {
  const w: string[] = [];
  if (r.route) w.push("route");
  if (r.delete) w.push("delete");
  w.push(r.rule!);
  if (r.interface_in || r.interface_out) {
    if (r.interface_in) w.push("in", "on", r.interface_in);
    if (r.interface_out) w.push("out", "on", r.interface_out);
  } else {
    const dir = r.direction === "out" || r.direction === "outgoing" ? "out" : "in";
    if (r.direction || r.interface) w.push(dir);
    if (r.interface) w.push("on", r.interface);
  }
  if (r.log) w.push("log");
  if (r.proto !== "any") w.push("proto", r.proto);
  w.push("from", r.from_ip);
  if (r.from_port) w.push("port", r.from_port);
  w.push("to", r.to_ip);
  if (r.to_port) w.push("port", r.to_port);
  if (r.comment !== undefined && !r.delete) w.push("comment", r.comment);
  return w;
}

/** One step of a ufw plan. */
export interface UfwStep {
  /** Words after `ufw`. */
  readonly argv: readonly string[];
  readonly what: string;
}

/** What {@linkcode planUfw} decides. */
export interface UfwPlan {
  readonly steps: readonly UfwStep[];
  readonly diff: readonly Diff[];
}

function fmtTuple(t: Tuple): string {
  return t.comment ? `${t.key} comment=${JSON.stringify(t.comment)}` : t.key;
}

/** Compare the host's ufw with the task; the steps run in order. Pure. */
export function planUfw(s: UfwState, a: UfwArgs): UfwPlan {
  const steps: UfwStep[] = [];
  const diff: Diff[] = [];
  if (a.state === "reset") {
    steps.push({ argv: ["--force", "reset"], what: "reset the firewall" });
    s = FRESH_UFW;
  }
  if (a.policy) {
    const d = a.direction === "outgoing" || a.direction === "out"
      ? "outgoing"
      : a.direction === "routed"
      ? "routed"
      : "incoming";
    if (s.policies[d] !== a.policy) {
      steps.push({
        argv: ["default", a.policy, d],
        what: `set the default ${d} policy to ${a.policy}`,
      });
      diff.push({
        target: `ufw default ${d}`,
        before: `${s.policies[d]}\n`,
        after: `${a.policy}\n`,
      });
    }
  }
  if (a.rule) {
    const tuples = ruleTuples(a, s.ipv6);
    const want = a.comment ?? "";
    const before: string[] = [], after: string[] = [];
    let act = false;
    for (const fam of ["v4", "v6"] as const) {
      const key = tuples[fam];
      if (!key) continue;
      const have = s[fam].find((t) => t.key === key);
      if (a.delete) {
        if (have) {
          act = true;
          before.push(fmtTuple(have));
        }
      } else if (!have || have.comment !== want) {
        act = true;
        if (have) before.push(fmtTuple(have));
        after.push(fmtTuple({ key, comment: want }));
      }
    }
    if (act) {
      const words = ruleCommand(a);
      const rule = `'${ruleCommand({ ...a, delete: false, comment: undefined }).join(" ")}'`;
      const what = a.delete
        ? `delete rule ${rule}`
        : before.length
        ? `set the comment of rule ${rule} to ${JSON.stringify(want)}`
        : `add rule ${rule}${want ? ` (${want})` : ""}`;
      steps.push({ argv: words, what });
      diff.push({
        target: "ufw rules",
        before: before.map((l) => l + "\n").join(""),
        after: after.map((l) => l + "\n").join(""),
      });
    }
  }
  if (a.logging) {
    const level = a.logging === "on" ? (s.loglevel === "off" ? "low" : s.loglevel) : a.logging;
    if (level !== s.loglevel) {
      steps.push({ argv: ["logging", a.logging], what: `set logging to ${level}` });
      diff.push({ target: "ufw logging", before: `${s.loglevel}\n`, after: `${level}\n` });
    }
  }
  if (
    a.state === "enabled" && (!s.active || a.state !== undefined && steps[0]?.argv[1] === "reset")
  ) {
    steps.push({ argv: ["--force", "enable"], what: "enable the firewall" });
    diff.push({
      target: "ufw status",
      before: `${s.active ? "active" : "inactive"}\n`,
      after: "active\n",
    });
  } else if (a.state === "disabled" && s.active) {
    steps.push({ argv: ["disable"], what: "disable the firewall" });
    diff.push({ target: "ufw status", before: "active\n", after: "inactive\n" });
  } else if (a.state === "reloaded") {
    steps.push({ argv: ["reload"], what: "reload the firewall" });
  }
  return { steps, diff };
}

/** The read script. Pure. */
export const GATHER_SCRIPT = `export LC_ALL=C
s() { printf '\\n@@%s\\n' "$1"; }
if ! command -v ufw >/dev/null 2>&1; then s missing; s end; exit 0; fi
s status
# ufw's own test (backend_iptables get_status): active when its user chains
# are loaded. Asked of iptables directly, one listing of the filter table
# (about 8 ms; the python of 'ufw status' costs 20 times that); anything
# unusual is left to ufw. Files are read by the shell, not cat and grep.
st=
if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/iptables ] && o=$(/usr/sbin/iptables -n -L 2>/dev/null); then
  st=active
  for d in input output forward; do
    case "$o" in *"Chain ufw-user-$d "*) ;; *) st=inactive; break ;; esac
  done
fi
if [ -n "$st" ]; then echo "Status: $st"; echo "rc=0"; else ufw status verbose 2>&1; echo "rc=$?"; fi
${SH_CAT_FN}t() { while IFS= read -r l || [ -n "$l" ]; do case $l in "### tuple ###"*) printf '%s\\n' "$l" ;; esac; done <"$1"; }
s conf; c /etc/ufw/ufw.conf 2>/dev/null
s defaults; c /etc/default/ufw 2>/dev/null
s user4; t /etc/ufw/user.rules 2>/dev/null
s user6; t /etc/ufw/user6.rules 2>/dev/null
s end
`;

/** The script that runs the steps. Pure. */
export function applyScript(steps: readonly UfwStep[]): string {
  return `export LC_ALL=C\n` +
    steps.map((st) =>
      `if ! out=$(ufw ${
        st.argv.map(shq).join(" ")
      } 2>&1); then printf '%s\\n' "$out" >&2; exit 1; fi
printf '%s\\n' "$out"
`
    ).join("");
}

function sections(out: string): Map<string, string> {
  const m = new Map<string, string>();
  const parts = ("\n" + out).split(/\n@@(\w+)\n/);
  for (let i = 1; i < parts.length; i += 2) m.set(parts[i], parts[i + 1] ?? "");
  return m;
}

/** The `ufw` module. */
export const ufw = defineModule({
  name: "ufw",
  doc: "Manage ufw: rules (with comments), default policies, logging, enabled/disabled.",
  args: argsSchema,
  reads: () => [{ script: GATHER_SCRIPT }],
  async run(ctx, a) {
    const r = await readHost(ctx, GATHER_SCRIPT);
    const sec = sections(r.stdout);
    if (!sec.has("end")) {
      throw new ModuleFailure(`could not read the ufw state: ${r.stderr.trim()}`, { rc: r.rc });
    }
    let state: UfwState;
    let note = "";
    if (sec.has("missing")) {
      if (!(ctx.check && ctx.model.flag("pkg:ufw") === "present")) {
        throw new ModuleFailure("ufw is not installed on this host");
      }
      state = FRESH_UFW;
      note = " (ufw is installed by an earlier task)";
    } else {
      const status = sec.get("status") ?? "";
      if (!/^Status: /m.test(status)) {
        const root = /root/i.test(status) ? " (use become: true)" : "";
        throw new ModuleFailure(
          `ufw status failed: ${status.replace(/rc=\d+\s*$/, "").trim()}${root}`,
        );
      }
      state = parseState({
        status,
        conf: sec.get("conf") ?? "",
        defaults: sec.get("defaults") ?? "",
        user4: sec.get("user4") ?? "",
        user6: sec.get("user6") ?? "",
      });
    }
    const plan = planUfw(state, a);
    const commands = plan.steps.map((s) => ["ufw", ...s.argv].join(" "));
    if (plan.steps.length === 0) {
      return { changed: false, msg: "ufw is as requested", data: { commands } };
    }
    const what = plan.steps.map((s) => s.what).join("; ");
    if (ctx.check) {
      return { changed: true, diff: plan.diff, msg: `would ${what}${note}`, data: { commands } };
    }
    const ar = await ctx.sh(applyScript(plan.steps));
    if (ar.rc !== 0) {
      throw new ModuleFailure(`ufw failed: ${ar.stderr.trim()}`, {
        rc: ar.rc,
        stdout: ar.stdout,
        stderr: ar.stderr,
        commands,
      });
    }
    return {
      changed: true,
      diff: plan.diff,
      msg: what,
      data: { commands, stdout: ar.stdout },
    };
  },
});
