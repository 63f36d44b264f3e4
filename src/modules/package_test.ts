import assert from "node:assert/strict";
import { HostModel, type ModuleContext, ModuleFailure, type ShResult } from "../core/module.ts";
import { fakeContext } from "./_testing.ts";
import {
  applyScript,
  compareDebVersions,
  compareRpmVersions,
  gatherScript,
  mergeInventory,
  packageModule,
  parseAptPolicy,
  parseDnfList,
  parseDpkgQuery,
  parseRpmQuery,
  parseSpec,
  planDeb,
  planMessage,
  planPackages,
  updateMode,
  versionMatches,
} from "./package.ts";

// Captured from Debian 12 (dpkg 1.21, apt 2.6) with the stand-in alloy repository.
const DPKG = "alloy 1.8.0 rc \nsudo 1.9.13p3-1+deb12u4 ii \nufw 0.36.2-1 ii \nfoo  un \n";
const POLICY = `alloy:
  Installed: (none)
  Candidate: 1.13.0
  Version table:
     1.13.0 500
        500 http://127.0.0.1:18731 stable/main amd64 Packages
     1.8.0 500
        500 http://127.0.0.1:18731 stable/main amd64 Packages
ufw:
  Installed: 0.36.2-1
  Candidate: 0.36.2-1
  Version table:
 *** 0.36.2-1 100
        100 /var/lib/dpkg/status
`;
const POLICY_INSTALLED = `alloy:
  Installed: 1.8.0
  Candidate: 1.13.0
  Version table:
     1.13.0 500
        500 http://127.0.0.1:18731 stable/main amd64 Packages
 *** 1.8.0 500
        500 http://127.0.0.1:18731 stable/main amd64 Packages
        100 /var/lib/dpkg/status
`;

Deno.test("parseDpkgQuery: installed, config-only and unknown packages", () => {
  const m = parseDpkgQuery(DPKG);
  assert.equal(m.get("ufw")?.installed, "0.36.2-1");
  assert.equal(m.get("alloy")?.installed, undefined);
  assert.equal(m.get("alloy")?.configOnly, true);
  assert.equal(m.get("foo")?.installed, undefined);
  assert.equal(m.get("foo")?.configOnly, false);
});

Deno.test("parseAptPolicy: candidates and version tables", () => {
  const m = parseAptPolicy(POLICY);
  assert.deepEqual(m.get("alloy"), {
    installed: undefined,
    candidate: "1.13.0",
    versions: ["1.13.0", "1.8.0"],
  });
  assert.equal(m.get("ufw")?.installed, "0.36.2-1");
  assert.deepEqual(parseAptPolicy(POLICY_INSTALLED).get("alloy")?.versions, ["1.13.0", "1.8.0"]);
  assert.equal(parseAptPolicy("").size, 0);
});

Deno.test("compareDebVersions follows dpkg ordering", () => {
  assert.ok(compareDebVersions("1.13.0", "1.8.0") > 0);
  assert.ok(compareDebVersions("1.0~rc1", "1.0") < 0);
  assert.ok(compareDebVersions("1:0.1", "2.0") > 0);
  assert.ok(compareDebVersions("2.36-9+deb12u14", "2.36-9+deb12u7") > 0);
  assert.equal(compareDebVersions("1.0-1", "1.0-1"), 0);
  assert.ok(compareDebVersions("1.0a", "1.0+") < 0);
});

Deno.test("compareRpmVersions follows rpmvercmp", () => {
  assert.ok(compareRpmVersions("1.13.0-1", "1.8.0-1") > 0);
  assert.ok(compareRpmVersions("1.0~rc1-1", "1.0-1") < 0);
  assert.ok(compareRpmVersions("1:1.0-1", "2.0-1") > 0);
  assert.equal(compareRpmVersions("1.8.0", "1.8.0-3"), 0);
  assert.ok(compareRpmVersions("1.0.a", "1.0.1") < 0);
  assert.ok(compareRpmVersions("1.0^git1", "1.0") > 0);
});

Deno.test("parseSpec: apt pins, dnf pins, and names that contain digits", () => {
  assert.deepEqual(parseSpec("apt", "alloy=1.8.0"), { name: "alloy", version: "1.8.0" });
  assert.deepEqual(parseSpec("apt", "libssl-3"), { name: "libssl-3" });
  assert.deepEqual(parseSpec("dnf", "alloy-1.8.0"), { name: "alloy", version: "1.8.0" });
  assert.deepEqual(parseSpec("dnf", "alloy-1.8.0-1"), { name: "alloy", version: "1.8.0-1" });
  assert.deepEqual(parseSpec("dnf", "tta-dev-app-standin"), { name: "tta-dev-app-standin" });
  assert.deepEqual(parseSpec("dnf", "foo-2", new Set(["foo-2"])), { name: "foo-2" });
  assert.throws(() => parseSpec("apt", "-o=evil"), ModuleFailure);
  assert.throws(() => parseSpec("apt", "a;rm -rf /"), ModuleFailure);
});

Deno.test("versionMatches: exact, globs, dnf version without release", () => {
  assert.ok(versionMatches("apt", "1.8.0", "1.8.0"));
  assert.ok(!versionMatches("apt", "1.8", "1.8.0"));
  assert.ok(versionMatches("apt", "1.8*", "1.8.0"));
  assert.ok(versionMatches("dnf", "1.8.0", "1.8.0-1"));
  assert.ok(!versionMatches("dnf", "1.8.0-2", "1.8.0-1"));
});

const inv = (policy: string, dpkg = "") =>
  mergeInventory(parseDpkgQuery(dpkg), parseAptPolicy(policy));

Deno.test("planPackages: install, nothing to do, latest", () => {
  const fresh = inv(POLICY, DPKG);
  assert.deepEqual(
    planPackages({ mgr: "apt", specs: [{ name: "alloy" }], state: "present", inventory: fresh }),
    [{ name: "alloy", action: "install", arg: "alloy", after: "1.13.0" }],
  );
  assert.deepEqual(
    planPackages({ mgr: "apt", specs: [{ name: "ufw" }], state: "latest", inventory: fresh }),
    [],
  );
  const old = inv(POLICY_INSTALLED, "alloy 1.8.0 ii \n");
  assert.deepEqual(
    planPackages({ mgr: "apt", specs: [{ name: "alloy" }], state: "present", inventory: old }),
    [],
  );
  assert.deepEqual(
    planPackages({ mgr: "apt", specs: [{ name: "alloy" }], state: "latest", inventory: old }),
    [{ name: "alloy", action: "upgrade", arg: "alloy", before: "1.8.0", after: "1.13.0" }],
  );
});

Deno.test("planPackages: pins resolve globs and refuse silent downgrades", () => {
  const fresh = inv(POLICY);
  assert.deepEqual(
    planPackages({
      mgr: "apt",
      specs: [{ name: "alloy", version: "1.8*" }],
      state: "present",
      inventory: fresh,
    })[0].arg,
    "alloy=1.8.0",
  );
  const newer = inv(POLICY, "alloy 1.13.0 ii \n");
  const pin = {
    mgr: "apt" as const,
    specs: [{ name: "alloy", version: "1.8.0" }],
    state: "present" as const,
    inventory: newer,
  };
  assert.throws(() => planPackages(pin), /downgrade: set allow_downgrade/);
  assert.equal(planPackages({ ...pin, allowDowngrade: true })[0].action, "downgrade");
  assert.throws(
    () => planPackages({ ...pin, specs: [{ name: "alloy", version: "9.9" }] }),
    /No package matching 'alloy=9.9' is available \(available: 1.13.0, 1.8.0\)/,
  );
});

Deno.test("planPackages: missing package fails, unless an earlier task adds its repository", () => {
  const empty = inv("");
  const base = {
    mgr: "apt" as const,
    specs: [{ name: "alloy" }],
    state: "present" as const,
    inventory: empty,
  };
  assert.throws(() => planPackages(base), /No package matching 'alloy' is available/);
  const plan = planPackages({ ...base, reposPending: true });
  assert.deepEqual(plan, [{
    name: "alloy",
    action: "install",
    arg: "alloy",
    before: undefined,
    after: undefined,
    pending: true,
  }]);
  assert.equal(
    planMessage(plan, true),
    "would install alloy (its repository is added by an earlier task)",
  );
});

Deno.test("planPackages: absent removes, purge also clears config files", () => {
  const i = inv(POLICY, DPKG);
  const abs = { mgr: "apt" as const, state: "absent" as const, inventory: i };
  assert.deepEqual(planPackages({ ...abs, specs: [{ name: "ufw" }] }).map((c) => c.action), [
    "remove",
  ]);
  assert.deepEqual(
    planPackages({ ...abs, specs: [{ name: "ufw" }], purge: true }).map((c) => c.action),
    ["purge"],
  );
  assert.deepEqual(planPackages({ ...abs, specs: [{ name: "alloy" }] }), []);
  assert.deepEqual(
    planPackages({ ...abs, specs: [{ name: "alloy" }], purge: true }).map((c) => c.action),
    ["purge"],
  );
  assert.deepEqual(planPackages({ ...abs, specs: [{ name: "nothere" }] }), []);
});

Deno.test("dnf: rpm -q and dnf list parsing, pinned and latest plans", () => {
  const rpm = parseRpmQuery("package foo is not installed\nalloy 1.8.0-1 installed\n");
  assert.equal(rpm.get("alloy")?.installed, "1.8.0-1");
  assert.equal(rpm.has("foo"), false);
  const avail = parseDnfList(
    "Available Packages\nalloy.x86_64                1.8.0-1                   grafana\nalloy.x86_64                1.13.0-1                  grafana\n",
  );
  assert.deepEqual(avail.get("alloy"), {
    candidate: "1.13.0-1",
    versions: ["1.13.0-1", "1.8.0-1"],
  });
  const i = mergeInventory(rpm, avail);
  assert.deepEqual(
    planPackages({ mgr: "dnf", specs: [{ name: "alloy" }], state: "latest", inventory: i }),
    [{ name: "alloy", action: "upgrade", arg: "alloy", before: "1.8.0-1", after: "1.13.0-1" }],
  );
  assert.deepEqual(
    planPackages({
      mgr: "dnf",
      specs: [{ name: "alloy", version: "1.8.0" }],
      state: "present",
      inventory: i,
    }),
    [],
  );
  const script = applyScript({
    mgr: "dnf",
    changes: [{ name: "alloy", action: "upgrade", arg: "alloy-1.13.0", before: "1.8.0-1" }],
    lockTimeout: 10,
    names: ["alloy"],
  });
  assert.match(script, /^dnf -y install alloy-1\.13\.0$/m);
});

Deno.test("planDeb: same version is ok, other versions install, missing file fails", () => {
  const control = { name: "alloy", version: "1.13.0" };
  assert.equal(planDeb({ path: "/tmp/a.deb", control, installed: "1.13.0" }), undefined);
  assert.deepEqual(planDeb({ path: "/tmp/a.deb", control, installed: "1.8.0" }), {
    name: "alloy",
    action: "upgrade",
    arg: "/tmp/a.deb",
    before: "1.8.0",
    after: "1.13.0",
  });
  assert.equal(planDeb({ path: "a.deb", control })?.arg, "./a.deb");
  assert.equal(planDeb({ path: "/tmp/a.deb", control, installed: "2.0" })?.action, "downgrade");
  assert.throws(() => planDeb({ path: "/tmp/x.deb" }), /not found on the host/);
  assert.equal(planDeb({ path: "/tmp/x.deb" }, true)?.pending, true);
  assert.equal(planDeb({ path: "/tmp/alloy_1.8.0_amd64.deb" }, true)?.name, "alloy");
});

Deno.test("updateMode: flag forces, cache_valid_time conditions", () => {
  assert.equal(updateMode({}).mode, "never");
  assert.equal(updateMode({ updateCache: true }).mode, "always");
  assert.deepEqual(updateMode({ updateCache: true, cacheValidTime: 600 }), {
    mode: "if-older",
    validTime: 600,
  });
  assert.equal(updateMode({ cacheValidTime: 600, sourcesChanged: true }).mode, "always");
});

Deno.test("scripts: apt options, quoting, downgrades", () => {
  const g = gatherScript({
    mgr: "apt",
    names: ["alloy"],
    deb: "/tmp/it's.deb",
    update: { mode: "if-older", validTime: 60 },
    lockTimeout: 5,
  });
  assert.match(g, /deb='\/tmp\/it'\\''s\.deb'/);
  assert.match(g, /\[ \$\(\(now - stamp\)\) -ge 60 \]/);
  assert.throws(
    () =>
      gatherScript({
        mgr: "apt",
        names: ["$(x)"],
        update: { mode: "never", validTime: 0 },
        lockTimeout: 5,
      }),
    ModuleFailure,
  );
  const a = applyScript({
    mgr: "apt",
    changes: [{ name: "alloy", action: "downgrade", arg: "alloy=1.8.0" }],
    installRecommends: false,
    lockTimeout: 5,
    names: ["alloy"],
  });
  assert.match(
    a,
    /--force-confdef -o Dpkg::Options::=--force-confold --allow-downgrades --no-install-recommends install alloy=1\.8\.0/,
  );
  assert.match(a, /DEBIAN_FRONTEND=noninteractive/);
});

// A fake host: answers the gather script, records every script.
function fakeCtx(
  check: boolean,
  model: HostModel,
  answer: (script: string) => ShResult,
): { ctx: ModuleContext; scripts: string[] } {
  return fakeContext(check, model, answer, { pkg_mgr: "apt" });
}

const gathered = (policy: string, dpkg: string, lists = 3) => ({
  rc: 1,
  stdout: `\n@@cache\n1000 900 ${lists}\n@@dpkg\n${dpkg}\n@@policy\n${policy}\n@@end\n`,
  stderr: "",
});

Deno.test("run --check: predicts an install from a repository added earlier, writes nothing", async () => {
  const model = new HostModel();
  model.setFlag("apt:sources-changed", true);
  const { ctx, scripts } = fakeCtx(true, model, () => gathered("", ""));
  const r = await packageModule.run(
    ctx,
    packageModule.args.parse({ name: "alloy", update_cache: true }),
  );
  assert.equal(r.changed, true);
  assert.equal(r.msg, "would install alloy (its repository is added by an earlier task)");
  assert.equal(scripts.length, 1);
  assert.doesNotMatch(scripts[0], /apt-get update/);
  assert.equal(model.flag("pkg:alloy"), "present");
  assert.deepEqual(model.flag("pkg:pending"), ["alloy"]);
});

Deno.test("run: without the flag a missing package fails, even in check mode", async () => {
  const { ctx } = fakeCtx(true, new HostModel(), () => gathered("", ""));
  await assert.rejects(
    packageModule.run(ctx, packageModule.args.parse({ name: "alloy" })),
    /No package matching 'alloy' is available/,
  );
});

Deno.test("run: a real run with the flag set updates the cache first, then installs", async () => {
  const model = new HostModel();
  model.setFlag("apt:sources-changed", true);
  const { ctx, scripts } = fakeCtx(
    false,
    model,
    (s) =>
      s.includes("apt-cache policy")
        ? {
          ...gathered(POLICY, ""),
          stdout: "\n@@update\n0\nHit:1\n" + gathered(POLICY, "").stdout,
        }
        : { rc: 0, stdout: "Setting up alloy\n@@dpkg\nalloy 1.13.0 ii \n", stderr: "" },
  );
  const r = await packageModule.run(ctx, packageModule.args.parse({ name: "alloy" }));
  assert.match(scripts[0], /apt-get update/);
  assert.match(scripts[1], /install alloy$/m);
  assert.equal(r.msg, "installed alloy 1.13.0");
  assert.deepEqual(r.data?.installed, { alloy: "1.13.0" });
  assert.equal(model.flag("apt:sources-changed"), false);
});

Deno.test("run: apply failure carries apt's error lines", async () => {
  const { ctx } = fakeCtx(
    false,
    new HostModel(),
    (s) =>
      s.includes("apt-cache policy") ? gathered(POLICY, "") : {
        rc: 100,
        stdout: "",
        stderr:
          "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\n",
      },
  );
  await assert.rejects(
    packageModule.run(ctx, packageModule.args.parse({ name: "alloy" })),
    /rc 100.*Permission denied.*become: true/,
  );
});

Deno.test("args: aliases and state synonyms", () => {
  const a = packageModule.args.parse({ pkg: "alloy", state: "installed", allow_downgrades: "yes" });
  assert.deepEqual([a.name, a.state, a.allow_downgrade], [["alloy"], "present", true]);
  assert.equal(packageModule.args.parse({ name: "x", state: "removed" }).state, "absent");
  assert.equal(packageModule.args.safeParse({ state: "present" }).success, false);
  assert.equal(packageModule.args.safeParse({ name: "x", bogus: 1 }).success, false);
});
