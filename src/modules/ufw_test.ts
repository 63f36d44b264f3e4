import assert from "node:assert/strict";
import { HostModel, ModuleFailure } from "../core/module.ts";
import { fakeContext as fakeCtx } from "./_testing.ts";
import {
  applyScript,
  FRESH_UFW,
  hexComment,
  normalizeAddress,
  parseState,
  parseTuples,
  planUfw,
  ruleCommand,
  ruleTuples,
  ufw,
  type UfwState,
} from "./ufw.ts";

// Captured from ufw 0.36.2 (Debian 12): the rules each command wrote.
const USER4 = `### tuple ### allow tcp 4317 0.0.0.0/0 any 0.0.0.0/0 in comment=4f544c502067525043
### tuple ### deny any 9464 0.0.0.0/0 any 0.0.0.0/0 in
### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
### tuple ### allow udp 53 0.0.0.0/0 any 0.0.0.0/0 in_eth0
### tuple ### route:allow tcp 80 10.1.0.0/16 any 0.0.0.0/0 in_eth0!out_eth1
### tuple ### allow any any 0.0.0.0/0 any 192.168.1.0/24 in
### tuple ### allow tcp 6000:6007 0.0.0.0/0 any 0.0.0.0/0 in
### tuple ### reject any 25 0.0.0.0/0 any 0.0.0.0/0 out
### tuple ### allow tcp 4318 0.0.0.0/0 any 10.0.0.0/8 in
### tuple ### allow tcp 12345 127.0.0.1 any 0.0.0.0/0 in
### tuple ### allow_log-all tcp 5001 0.0.0.0/0 any 0.0.0.0/0 in
### tuple ### allow tcp 5003 1.2.3.4 any 0.0.0.0/0 out_eth0
### tuple ### allow tcp 5005 0.0.0.0/0 any 0.0.0.0/0 in comment=c3bc6ec3af2063c3b664c3a9
### tuple ### allow tcp 5010 0.0.0.0/0 1234 0.0.0.0/0 in
`;
const USER6 = `### tuple ### allow tcp 4317 ::/0 any ::/0 in comment=4f544c502067525043
### tuple ### deny any 9464 ::/0 any ::/0 in
### tuple ### allow any 5008 ::/0 any 2001:db8::1/64 in
`;
const DEFAULTS = `IPV6=yes
DEFAULT_INPUT_POLICY="DROP"
DEFAULT_OUTPUT_POLICY="ACCEPT"
DEFAULT_FORWARD_POLICY="DROP"
`;
const STATUS = `Status: inactive
rc=0
`;

const state: UfwState = parseState({
  status: STATUS,
  conf: "ENABLED=no\nLOGLEVEL=low\n",
  defaults: DEFAULTS,
  user4: USER4,
  user6: USER6,
});
const args = (a: Record<string, unknown>) => ufw.args.parse(a);

Deno.test("parseTuples decodes hex comments", () => {
  const t = parseTuples(USER4);
  assert.deepEqual(t[0], {
    key: "allow tcp 4317 0.0.0.0/0 any 0.0.0.0/0 in",
    comment: "OTLP gRPC",
  });
  assert.deepEqual(t[1], { key: "deny any 9464 0.0.0.0/0 any 0.0.0.0/0 in", comment: "" });
  assert.equal(t[12].comment, "ünï cödé");
  assert.equal(hexComment("ünï cödé"), "c3bc6ec3af2063c3b664c3a9");
});

Deno.test("parseState reads policies, logging, status", () => {
  assert.deepEqual(state.policies, { incoming: "deny", outgoing: "allow", routed: "deny" });
  assert.equal(state.active, false);
  assert.equal(state.ipv6, true);
  assert.equal(
    parseState({ status: "Status: active\n", conf: "", defaults: "IPV6=no", user4: "", user6: "" })
      .ipv6,
    false,
  );
});

Deno.test("normalizeAddress matches what ufw stores", () => {
  assert.deepEqual(normalizeAddress("10.0.0.5/8"), { v4: "10.0.0.0/8" });
  assert.deepEqual(normalizeAddress("10.0.0.1/32"), { v4: "10.0.0.1" });
  assert.deepEqual(normalizeAddress("192.168.1.200/24"), { v4: "192.168.1.0/24" });
  assert.deepEqual(normalizeAddress("2001:DB8:0:0::1/64"), { v6: "2001:db8::1/64" });
  assert.deepEqual(normalizeAddress("fe80:0:0:0:0:0:0:1"), { v6: "fe80::1" });
  assert.deepEqual(normalizeAddress("any"), { v4: "0.0.0.0/0", v6: "::/0" });
  assert.throws(() => normalizeAddress("example.com"), ModuleFailure);
  assert.throws(() => normalizeAddress("300.1.1.1"), ModuleFailure);
});

Deno.test("ruleTuples reproduces ufw's tuples for each captured command", () => {
  assert.deepEqual(ruleTuples(args({ rule: "allow", port: "4317", proto: "tcp" }), true), {
    v4: "allow tcp 4317 0.0.0.0/0 any 0.0.0.0/0 in",
    v6: "allow tcp 4317 ::/0 any ::/0 in",
  });
  const t4 = (a: Record<string, unknown>) => ruleTuples(args(a), true).v4;
  assert.equal(
    t4({ rule: "allow", interface: "eth0", port: 53, proto: "udp" }),
    "allow udp 53 0.0.0.0/0 any 0.0.0.0/0 in_eth0",
  );
  assert.equal(
    t4({
      rule: "allow",
      route: true,
      interface_in: "eth0",
      interface_out: "eth1",
      to_ip: "10.1.0.0/16",
      port: 80,
      proto: "tcp",
    }),
    "route:allow tcp 80 10.1.0.0/16 any 0.0.0.0/0 in_eth0!out_eth1",
  );
  assert.equal(
    t4({ rule: "allow", src: "192.168.1.0/24" }),
    "allow any any 0.0.0.0/0 any 192.168.1.0/24 in",
  );
  assert.equal(
    t4({ rule: "reject", direction: "out", port: 25 }),
    "reject any 25 0.0.0.0/0 any 0.0.0.0/0 out",
  );
  assert.equal(
    t4({ rule: "allow", from_port: 1234, port: 5010, proto: "tcp" }),
    "allow tcp 5010 0.0.0.0/0 1234 0.0.0.0/0 in",
  );
  assert.equal(
    t4({
      rule: "allow",
      direction: "out",
      interface: "eth0",
      to: "1.2.3.4",
      port: 5003,
      proto: "tcp",
    }),
    "allow tcp 5003 1.2.3.4 any 0.0.0.0/0 out_eth0",
  );
  // A v4 destination makes a v4-only rule; a v6 source a v6-only rule.
  assert.deepEqual(
    ruleTuples(args({ rule: "allow", to_ip: "127.0.0.1", port: 12345, proto: "tcp" }), true),
    { v4: "allow tcp 12345 127.0.0.1 any 0.0.0.0/0 in" },
  );
  assert.deepEqual(
    ruleTuples(args({ rule: "allow", from_ip: "2001:db8::1/64", port: 5008 }), true),
    { v6: "allow any 5008 ::/0 any 2001:db8::1/64 in" },
  );
  assert.equal(ruleTuples(args({ rule: "allow", port: 1 }), false).v6, undefined);
  assert.throws(
    () => ruleTuples(args({ rule: "allow", port: "6000:6007" }), true),
    /need proto: tcp or udp/,
  );
  assert.throws(() => ruleTuples(args({ rule: "allow", port: "ssh" }), true), /must be numeric/);
  assert.throws(
    () => ruleTuples(args({ rule: "allow", from_ip: "10.0.0.1", to_ip: "::1" }), true),
    /different IP versions/,
  );
});

Deno.test("planUfw: existing rule with the same comment is ok; other comment changes", () => {
  assert.deepEqual(
    planUfw(state, args({ rule: "allow", port: 4317, proto: "tcp", comment: "OTLP gRPC" })).steps,
    [],
  );
  const p = planUfw(
    state,
    args({ rule: "allow", port: 4317, proto: "tcp", comment: "OTLP (alloy)" }),
  );
  assert.deepEqual(p.steps[0].argv, [
    "allow",
    "proto",
    "tcp",
    "from",
    "any",
    "to",
    "any",
    "port",
    "4317",
    "comment",
    "OTLP (alloy)",
  ]);
  assert.match(p.steps[0].what, /set the comment/);
  assert.equal(
    p.diff[0].before,
    'allow tcp 4317 0.0.0.0/0 any 0.0.0.0/0 in comment="OTLP gRPC"\nallow tcp 4317 ::/0 any ::/0 in comment="OTLP gRPC"\n',
  );
  // Without a comment ufw drops the existing one: that is a change too.
  assert.equal(planUfw(state, args({ rule: "allow", port: 4317, proto: "tcp" })).steps.length, 1);
  assert.deepEqual(planUfw(state, args({ rule: "deny", port: 9464 })).steps, []);
});

Deno.test("planUfw: v6 half missing is a change; delete only when present", () => {
  assert.equal(planUfw(state, args({ rule: "limit", port: 22, proto: "tcp" })).steps.length, 1);
  assert.deepEqual(
    planUfw(state, args({ rule: "allow", port: 9999, proto: "tcp", delete: true })).steps,
    [],
  );
  const del = planUfw(state, args({ rule: "deny", port: 9464, delete: true }));
  assert.deepEqual(del.steps[0].argv, [
    "delete",
    "deny",
    "from",
    "any",
    "to",
    "any",
    "port",
    "9464",
  ]);
});

Deno.test("planUfw: policies, logging, and enable goes last", () => {
  const p = planUfw(
    state,
    args({
      state: "enabled",
      policy: "deny",
      direction: "incoming",
      rule: "allow",
      port: 22,
      proto: "tcp",
      logging: "medium",
    }),
  );
  assert.deepEqual(p.steps.map((s) => s.argv[0]), ["allow", "logging", "--force"]);
  assert.deepEqual(p.steps.at(-1)?.argv, ["--force", "enable"]);
  assert.deepEqual(
    planUfw(state, args({ policy: "reject", direction: "outgoing" })).steps[0].argv,
    ["default", "reject", "outgoing"],
  );
  assert.deepEqual(planUfw(state, args({ logging: "on" })).steps, []);
  assert.deepEqual(planUfw({ ...state, loglevel: "off" }, args({ logging: true })).steps[0].argv, [
    "logging",
    "on",
  ]);
  assert.deepEqual(planUfw(state, args({ state: "disabled" })).steps, []);
  assert.equal(planUfw(state, args({ state: "reloaded" })).steps.length, 1);
  assert.deepEqual(planUfw({ ...state, active: true }, args({ state: "enabled" })).steps, []);
});

Deno.test("planUfw: reset first, then rules are planned against a fresh ufw", () => {
  const p = planUfw(state, args({ state: "reset", rule: "deny", port: 9464 }));
  assert.deepEqual(p.steps.map((s) => s.argv.join(" ")), [
    "--force reset",
    "deny from any to any port 9464",
  ]);
});

Deno.test("ruleCommand and applyScript quote every word", () => {
  const w = ruleCommand(args({ rule: "allow", port: 4317, proto: "tcp", comment: 'a "b" $(c)' }));
  assert.deepEqual(w.slice(-2), ["comment", 'a "b" $(c)']);
  assert.match(applyScript([{ argv: w, what: "" }]), /comment 'a "b" \$\(c\)'/);
});

Deno.test("args: aliases, comment with ' rejected, something to do", () => {
  const a = args({
    rule: "allow",
    src: "10.0.0.0/8",
    dest: "127.0.0.1",
    port: 80,
    if: "eth0",
    default: "deny",
  });
  assert.deepEqual([a.from_ip, a.to_ip, a.to_port, a.interface, a.policy], [
    "10.0.0.0/8",
    "127.0.0.1",
    "80",
    "eth0",
    "deny",
  ]);
  assert.equal(ufw.args.safeParse({ rule: "allow", port: 1, comment: "it's" }).success, false);
  assert.equal(ufw.args.safeParse({ port: 1 }).success, false);
  assert.equal(ufw.args.safeParse({ rule: "allow", insert: 1 }).success, false);
});

Deno.test("run --check: ufw not installed yet but installed by an earlier task", async () => {
  const model = new HostModel();
  const missing = () => ({ rc: 0, stdout: "\n@@missing\n\n@@end\n", stderr: "" });
  const { ctx } = fakeCtx(true, model, missing);
  await assert.rejects(
    ufw.run(ctx, args({ rule: "allow", port: 4317, proto: "tcp" })),
    /ufw is not installed/,
  );
  model.setFlag("pkg:ufw", "present");
  const r = await ufw.run(ctx, args({ rule: "allow", port: 4317, proto: "tcp" }));
  assert.equal(r.changed, true);
  assert.match(r.msg ?? "", /^would add rule .*\(ufw is installed by an earlier task\)$/);
});

Deno.test("run: not root gives a become hint; check mode runs only the read", async () => {
  const { ctx } = fakeCtx(false, new HostModel(), () => ({
    rc: 0,
    stdout: "\n@@status\nERROR: You need to be root to run this script\nrc=1\n@@end\n",
    stderr: "",
  }));
  await assert.rejects(ufw.run(ctx, args({ state: "enabled" })), /become: true/);
  const { ctx: c2, scripts } = fakeCtx(true, new HostModel(), () => ({
    rc: 0,
    stdout:
      `\n@@status\n${STATUS}@@conf\nLOGLEVEL=low\n@@defaults\n${DEFAULTS}@@user4\n@@user6\n@@end\n`,
    stderr: "",
  }));
  const r = await ufw.run(c2, args({ state: "enabled" }));
  assert.equal(r.changed, true);
  assert.equal(scripts.length, 1);
  assert.deepEqual(FRESH_UFW.policies.incoming, "deny");
});
