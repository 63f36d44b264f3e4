import assert from "node:assert/strict";
import { HostModel, ModuleFailure, type ShResult } from "../core/module.ts";
import type { Facts } from "../facts/mod.ts";
import { fakeContext } from "./_testing.ts";
import {
  applyScript,
  FRESH_UNIT,
  noSystemdMessage,
  parseStatus,
  planUnit,
  systemdService,
  unitName,
  viewOf,
} from "./systemd_service.ts";

// Captured from Debian 12 (systemd 252) in the lab.
const SSH_SHOW = `LoadState=loaded
ActiveState=active
SubState=running
FragmentPath=/lib/systemd/system/ssh.service
UnitFileState=enabled
NeedDaemonReload=no
`;
const MISSING_SHOW = `LoadState=not-found
ActiveState=inactive
SubState=dead
FragmentPath=
UnitFileState=
NeedDaemonReload=no
`;
const STOPPED_SHOW = `LoadState=loaded
ActiveState=inactive
SubState=dead
FragmentPath=/etc/systemd/system/drover-pkgtest.service
UnitFileState=disabled
NeedDaemonReload=yes
`;

Deno.test("unitName adds .service and rejects shell words", () => {
  assert.equal(unitName("alloy"), "alloy.service");
  assert.equal(unitName("fstrim.timer"), "fstrim.timer");
  assert.equal(unitName("getty@tty1.service"), "getty@tty1.service");
  assert.throws(() => unitName("a; reboot"), ModuleFailure);
});

Deno.test("parseStatus + viewOf: running, enabled, missing, indirect", () => {
  const ssh = parseStatus(SSH_SHOW, "enabled\nrc=0\n");
  assert.deepEqual(viewOf(ssh), { enabled: true, running: true, masked: false });
  const missing = parseStatus(MISSING_SHOW, "rc=1\n");
  assert.equal(missing.load, "not-found");
  assert.equal(viewOf(missing).enabled, false);
  const stopped = parseStatus(STOPPED_SHOW, "disabled\nrc=1\n");
  assert.equal(stopped.needDaemonReload, true);
  assert.deepEqual(viewOf(stopped), { enabled: false, running: false, masked: false });
  assert.equal(viewOf(parseStatus(SSH_SHOW, "indirect\nrc=0\n")).enabled, false);
  assert.equal(
    viewOf(parseStatus("LoadState=masked\nActiveState=inactive\n", "masked\nrc=1\n")).masked,
    true,
  );
});

const stopped = parseStatus(STOPPED_SHOW, "disabled\nrc=1\n");
const running = parseStatus(SSH_SHOW, "enabled\nrc=0\n");

Deno.test("planUnit: started/enabled converge; nothing when already there", () => {
  const p = planUnit("u.service", stopped, { state: "started", enabled: true });
  assert.deepEqual(p.verbs, ["enable", "start"]);
  assert.deepEqual(p.after, { enabled: true, running: true, masked: false });
  assert.deepEqual(planUnit("u.service", running, { state: "started", enabled: true }).verbs, []);
  assert.deepEqual(planUnit("u.service", running, { state: "stopped", enabled: false }).verbs, [
    "disable",
    "stop",
  ]);
});

Deno.test("planUnit: restarted and reloaded always act; reloaded starts a stopped unit", () => {
  assert.deepEqual(planUnit("u", running, { state: "restarted" }).verbs, ["restart"]);
  assert.deepEqual(planUnit("u", running, { state: "reloaded" }).verbs, ["reload"]);
  assert.deepEqual(planUnit("u", stopped, { state: "reloaded" }).verbs, ["start"]);
  assert.deepEqual(planUnit("u", stopped, { state: "restarted" }).verbs, ["start"]);
});

Deno.test("planUnit: masking order, masked units cannot start, static units cannot be disabled", () => {
  const masked = parseStatus(
    "LoadState=masked\nActiveState=inactive\nUnitFileState=masked\n",
    "masked\nrc=1\n",
  );
  assert.deepEqual(
    planUnit("u", masked, { masked: false, state: "started", enabled: true }).verbs,
    ["unmask", "enable", "start"],
  );
  assert.throws(
    () => planUnit("u", masked, { state: "started" }),
    /is masked: it cannot be started; add masked: false/,
  );
  assert.deepEqual(planUnit("u", running, { masked: true, state: "stopped" }).verbs, [
    "mask",
    "stop",
  ]);
  const stat = parseStatus(
    "LoadState=loaded\nActiveState=active\nUnitFileState=static\n",
    "static\nrc=0\n",
  );
  const p = planUnit("u", stat, { enabled: false });
  assert.deepEqual(p.verbs, []);
  assert.match(p.warnings[0], /static: it cannot be disabled/);
});

Deno.test("applyScript: quoted unit, --no-block only for jobs, stops at the first failure", () => {
  const s = applyScript("a b.service", ["enable", "start"], true);
  assert.match(s, /systemctl enable 'a b\.service'/);
  assert.match(s, /systemctl --no-block start 'a b\.service'/);
  assert.match(s, /exit 1/);
});

Deno.test("noSystemdMessage points WSL users to /etc/wsl.conf", () => {
  assert.match(noSystemdMessage("init", true), /systemd=true.*\/etc\/wsl\.conf.*wsl --shutdown/);
  assert.doesNotMatch(noSystemdMessage("init", false), /wsl/);
});

function fakeCtx(
  check: boolean,
  model: HostModel,
  answer: (s: string) => ShResult,
  facts: Partial<Facts> = {},
) {
  return fakeContext(check, model, answer, {
    systemd_running: true,
    is_wsl: false,
    pid1: "systemd",
    ...facts,
  });
}

const missing = () => ({
  rc: 0,
  stdout: `\n@@systemd\nyes\n@@show\n${MISSING_SHOW}\n@@enabled\nrc=1\n@@end\n`,
  stderr: "",
});

Deno.test("run: a missing unit fails like Ansible", async () => {
  const { ctx } = fakeCtx(false, new HostModel(), missing);
  await assert.rejects(
    systemdService.run(ctx, systemdService.args.parse({ name: "alloy", state: "started" })),
    /Could not find the requested service alloy: host/,
  );
});

Deno.test("run --check: a unit from a package installed earlier is predicted", async () => {
  const model = new HostModel();
  model.setFlag("pkg:alloy", "present");
  model.setFlag("pkg:pending", ["alloy"]);
  const { ctx, scripts } = fakeCtx(true, model, missing);
  const r = await systemdService.run(
    ctx,
    systemdService.args.parse({
      name: "alloy",
      state: "started",
      enabled: true,
      daemon_reload: true,
    }),
  );
  assert.equal(r.changed, true);
  assert.match(
    r.msg ?? "",
    /would be enabled, started: alloy\.service \(unit would be provided by package alloy/,
  );
  assert.doesNotMatch(scripts[0], /daemon-reload/);
  assert.equal(scripts.length, 1);
  // A later task sees the predicted state.
  const again = await systemdService.run(
    ctx,
    systemdService.args.parse({ name: "alloy", state: "started" }),
  );
  assert.equal(again.changed, false);
});

Deno.test("run: PID 1 not systemd fails before touching the host", async () => {
  const { ctx, scripts } = fakeCtx(false, new HostModel(), missing, {
    systemd_running: false,
    is_wsl: true,
    pid1: "init",
  });
  await assert.rejects(
    systemdService.run(ctx, systemdService.args.parse({ name: "alloy", state: "started" })),
    /wsl\.conf/,
  );
  assert.equal(scripts.length, 0);
});

Deno.test("run: a failing start reports systemctl's error", async () => {
  const { ctx } = fakeCtx(
    false,
    new HostModel(),
    (s) =>
      s.includes("s end")
        ? {
          rc: 0,
          stdout: `\n@@systemd\nyes\n@@show\n${STOPPED_SHOW}\n@@enabled\ndisabled\nrc=1\n@@end\n`,
          stderr: "",
        }
        : {
          rc: 1,
          stdout:
            "\n@@failed\nstart\nJob for u.service failed because the control process exited with error code.\n",
          stderr: "",
        },
  );
  await assert.rejects(
    systemdService.run(ctx, systemdService.args.parse({ name: "u", state: "started" })),
    /Unable to start service u: Job for u\.service failed/,
  );
});

Deno.test("args: aliases and requirements", () => {
  assert.equal(systemdService.args.parse({ service: "alloy", state: "started" }).name, "alloy");
  assert.equal(
    systemdService.args.parse({ name: "alloy", "daemon-reload": "yes" }).daemon_reload,
    true,
  );
  assert.equal(systemdService.args.safeParse({ name: "alloy" }).success, false);
  assert.equal(systemdService.args.safeParse({ name: "alloy", state: "running" }).success, false);
  assert.equal(
    systemdService.args.safeParse({ name: "alloy", scope: "user", state: "started" }).success,
    false,
  );
  assert.deepEqual(FRESH_UNIT.isEnabledRc, 1);
});
