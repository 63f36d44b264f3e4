/**
 * What the migration would do on each supported OS, without a host: facts
 * parsed from os-release fixtures (Fedora, RHEL, Rocky, Alma, Ubuntu, Debian,
 * and Arch as an unsupported one), the detect-os, install-alloy, configure and
 * firewall roles' task lists evaluated with drover's Templar against them (which
 * tasks run, with which arguments), and the commands the package, yum_repository
 * and firewalld planners would send. Only Debian (and a Debian host made
 * RHEL-like, test/rhel_lab_test.ts) also runs on real hosts.
 */
import assert from "node:assert/strict";
import { factVars, parseFacts } from "../src/facts/mod.ts";
import { Templar, type Vars } from "../src/template/mod.ts";
import type { Item, Task } from "../src/core/types.ts";
import { findModule } from "../src/modules/registry.ts";
import {
  applyScript,
  gatherScript,
  packageModule,
  parseDnfList,
  parseSpec,
  planPackages,
} from "../src/modules/package.ts";
import { fakeContext } from "../src/modules/_testing.ts";
import { HostModel } from "../src/core/module.ts";
import { planRepoFile, repoEntries, yumRepository } from "../src/modules/yum_repository.ts";
import { firewalld, planFirewalld } from "../src/modules/firewalld.ts";
import { role as detectOs } from "../roles/detect-os/mod.ts";
import { role as installAlloy } from "../roles/install-alloy/mod.ts";
import { role as configure } from "../roles/configure/mod.ts";
import { role as firewall } from "../roles/firewall/mod.ts";

const OS_RELEASE: Record<string, string> = {
  fedora40: `NAME="Fedora Linux"
VERSION="40 (Workstation Edition)"
ID=fedora
VERSION_ID=40
PLATFORM_ID="platform:f40"
PRETTY_NAME="Fedora Linux 40 (Workstation Edition)"
`,
  rhel9: `NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
`,
  rocky9: `NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
`,
  alma9: `NAME="AlmaLinux"
VERSION="9.4 (Seafoam Ocelot)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="AlmaLinux 9.4 (Seafoam Ocelot)"
`,
  ubuntu2404: `PRETTY_NAME="Ubuntu 24.04 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
`,
  debian12: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`,
  arch: `NAME="Arch Linux"
PRETTY_NAME="Arch Linux"
ID=arch
BUILD_ID=rolling
`,
};

/** What each fixture's host has installed, as the facts probe would find it. */
const TOOLS: Record<string, { pkg: string; firewall: string }> = {
  fedora40: { pkg: "dnf\nyum", firewall: "firewalld" },
  rhel9: { pkg: "dnf\nyum", firewall: "firewalld" },
  rocky9: { pkg: "dnf\nyum", firewall: "firewalld" },
  alma9: { pkg: "dnf\nyum", firewall: "" },
  ubuntu2404: { pkg: "apt-get", firewall: "ufw" },
  debian12: { pkg: "apt-get", firewall: "" },
  arch: { pkg: "", firewall: "" },
};

const RPM = ["fedora40", "rhel9", "rocky9", "alma9"];
const DEB = ["ubuntu2404", "debian12"];

function facts(os: string) {
  const sec = { os_release: OS_RELEASE[os], systemd: "yes", pid1: "systemd", ...TOOLS[os] };
  return parseFacts(Object.entries(sec).map(([k, v]) => `\n@@${k}\n${v}`).join("") + "\n@@end\n");
}

const templar = new Templar();

/** Facts, the roles' variable defaults, what preflight sets, and `extra` on top. */
function hostVars(os: string, extra: Vars = {}): Vars {
  const defaults = [installAlloy, configure, firewall].map((r) => r.vars.parse({}) as Vars);
  return {
    ...factVars(facts(os)),
    ...Object.assign({}, ...defaults),
    alloy_otlp_grpc_port: 4317,
    alloy_otlp_http_port: 4318,
    otlp_bind: "127.0.0.1",
    ...extra,
  };
}

const tasksOf = (items: readonly Item[]): Task[] =>
  items.filter((i): i is Task => i.kind === "task");

/** The tasks of a role that would run, with their rendered arguments (loops expanded). */
function run(items: readonly Item[], vars: Vars): { task: string; module: string; args: Vars }[] {
  const out: { task: string; module: string; args: Vars }[] = [];
  for (const t of tasksOf(items)) {
    const loop = t.loop === undefined ? [undefined] : (templar.render(t.loop, vars) as unknown[]);
    for (const item of loop) {
      const v = item === undefined ? vars : { ...vars, item };
      if (!templar.isTrue(t.when, v)) continue;
      out.push({ task: t.name ?? "", module: t.module, args: templar.render(t.args, v) as Vars });
    }
  }
  return out;
}

/** detect-os: is the OS supported, and the paths it sets. */
function detect(os: string, extra: Vars = {}) {
  const vars = hostVars(os, extra);
  const [check, set] = tasksOf(detectOs.tasks);
  const a = check.args as { that: string[]; fail_msg: string };
  return {
    supported: templar.isTrue(a.that, vars),
    failMsg: String(templar.renderString(a.fail_msg, vars)),
    set: templar.render(set.args, vars) as Vars,
    vars,
  };
}

/** Host variables after detect-os. */
function detected(os: string, extra: Vars = {}): Vars {
  const d = detect(os, extra);
  return { ...d.vars, ...d.set };
}

Deno.test("detect-os: family, env file and firewall per OS; Arch is refused by name", () => {
  const want: Record<string, [string, string, string]> = {
    fedora40: ["rpm", "/etc/sysconfig/alloy", "firewalld"],
    rhel9: ["rpm", "/etc/sysconfig/alloy", "firewalld"],
    rocky9: ["rpm", "/etc/sysconfig/alloy", "firewalld"],
    alma9: ["rpm", "/etc/sysconfig/alloy", "none"],
    ubuntu2404: ["apt", "/etc/default/alloy", "ufw"],
    debian12: ["apt", "/etc/default/alloy", "none"],
  };
  for (const [os, [family, envFile, fw]] of Object.entries(want)) {
    const d = detect(os);
    assert.equal(d.supported, true, os);
    assert.deepEqual(
      [d.set.alloy_family, d.set.alloy_env_file, d.set.alloy_firewall],
      [family, envFile, fw],
      os,
    );
  }
  assert.deepEqual(
    [facts("rocky9").pkg_mgr, facts("fedora40").pkg_mgr, facts("ubuntu2404").pkg_mgr],
    ["dnf", "dnf", "apt"],
  );
  const arch = detect("arch");
  assert.equal(arch.supported, false);
  assert.equal(
    arch.failMsg,
    "unsupported OS: found Arch  (family Archlinux); drover's migration supports Ubuntu, Debian, RHEL/Rocky/Alma and Fedora",
  );
});

Deno.test("install-alloy: the rpm family imports the key, writes grafana.repo and asks dnf for alloy", () => {
  for (const os of RPM) {
    const tasks = run(installAlloy.tasks, detected(os));
    assert.deepEqual(tasks.map((t) => t.module), ["rpm_key", "yum_repository", "package", "user"]);
    assert.deepEqual(tasks[0].args, { key: "https://rpm.grafana.com/gpg.key", state: "present" });
    const repoArgs = yumRepository.args.parse(tasks[1].args);
    const plan = planRepoFile(null, repoArgs.name, repoEntries(repoArgs));
    assert.equal(
      plan.after,
      `[grafana]
name=Grafana
baseurl=https://rpm.grafana.com
enabled=1
gpgcheck=1
repo_gpgcheck=1
gpgkey=https://rpm.grafana.com/gpg.key
`,
    );
    assert.equal(tasks[2].args.name, "alloy");
  }
  const pinned = run(installAlloy.tasks, detected("rocky9", { alloy_version: "1.8.0" }));
  assert.equal(pinned.find((t) => t.module === "package")?.args.name, "alloy-1.8.0");
});

Deno.test("install-alloy: the apt family adds the signed-by source; a local file skips the repository", () => {
  for (const os of DEB) {
    const tasks = run(installAlloy.tasks, detected(os));
    assert.deepEqual(tasks.map((t) => t.module), ["file", "apt_repository", "package", "user"]);
    assert.equal(
      tasks[1].args.repo,
      "deb [signed-by=/etc/apt/keyrings/grafana.asc] https://apt.grafana.com stable main",
    );
    assert.equal(tasks[1].args.key_url, "https://apt.grafana.com/gpg.key");
  }
  const pinned = run(installAlloy.tasks, detected("debian12", { alloy_version: "1.8.0" }));
  assert.equal(pinned.find((t) => t.module === "package")?.args.name, "alloy=1.8.0");
  const local = run(installAlloy.tasks, detected("rocky9", { alloy_package_file: "/tmp/a.deb" }));
  assert.deepEqual(local.map((t) => t.task), [
    "alloy package from a local file",
    "alloy may read the journal (adm, systemd-journal)",
  ]);
});

Deno.test("package: the dnf and apt commands for alloy (install, pin, purge)", () => {
  const dnfList = parseDnfList(`Available Packages
alloy.x86_64                1.13.0-1                grafana
alloy.x86_64                1.8.0-1                 grafana
`);
  const gather = gatherScript({
    mgr: "dnf",
    names: ["alloy"],
    update: { mode: "never", validTime: 0 },
    lockTimeout: 300,
  });
  assert.match(gather, /^s rpm; rpm -q --qf .* alloy 2>\/dev\/null$/m);
  // -y: dnf imports a repo_gpgcheck key without a prompt (a prompt reads "no" and fails).
  assert.match(gather, /dnf -q -y list --showduplicates --available alloy 2>&1/);
  const plan = (mgr: "dnf" | "apt", name: string) =>
    planPackages({
      mgr,
      specs: [parseSpec(mgr, name)],
      state: "present",
      inventory: mgr === "dnf"
        ? dnfList
        : new Map([["alloy", { candidate: "1.13.0", versions: ["1.13.0", "1.8.0"] }]]),
    });
  const install = plan("dnf", "alloy");
  assert.deepEqual(install, [{
    name: "alloy",
    action: "install",
    arg: "alloy",
    after: "1.13.0-1",
  }]);
  const script = applyScript({ mgr: "dnf", changes: install, lockTimeout: 300, names: ["alloy"] });
  assert.match(script, /^dnf -y install alloy$/m);
  assert.match(
    applyScript({ mgr: "dnf", changes: plan("dnf", "alloy-1.8.0"), lockTimeout: 1, names: [] }),
    /^dnf -y install alloy-1\.8\.0$/m,
  );
  assert.match(
    applyScript({ mgr: "apt", changes: plan("apt", "alloy=1.8.0"), lockTimeout: 1, names: [] }),
    /^apt-get -y -q .* install alloy=1\.8\.0$/m,
  );
  // Rollback's purge on dnf: remove, then the .rpmsave copies rpm keeps of changed config files.
  const purge = planPackages({
    mgr: "dnf",
    specs: [{ name: "alloy" }],
    state: "absent",
    purge: true,
    inventory: new Map([["alloy", { installed: "1.13.0-1", versions: [] }]]),
  });
  assert.deepEqual(purge.map((c) => c.action), ["purge"]);
  const rm = applyScript({ mgr: "dnf", changes: purge, lockTimeout: 1, names: ["alloy"] });
  assert.match(rm, /^cf=\$\(rpm -qc alloy /m);
  assert.match(rm, /^dnf -y remove alloy$/m);
  assert.match(rm, /rm -f -- "\$f\.rpmsave"/);
});

Deno.test("package on dnf: a repository that fails to load is named in the failure", async () => {
  const bad =
    "Error: Failed to download metadata for repo 'grafana': repomd.xml GPG signature verification error: Bad GPG signature";
  const { ctx } = fakeContext(
    false,
    new HostModel(),
    () => ({ rc: 0, stdout: `\n@@rpm\n\n@@avail\n\n@@availerr\n${bad}\n@@end\n`, stderr: "" }),
    facts("rocky9"),
  );
  await assert.rejects(
    () => packageModule.run(ctx, packageModule.args.parse({ name: "alloy" })),
    (e: Error) => e.message === `No package matching 'alloy' is available: ${bad}`,
  );
});

Deno.test("configure writes the env file detect-os chose", () => {
  for (
    const [os, path] of [["rocky9", "/etc/sysconfig/alloy"], ["ubuntu2404", "/etc/default/alloy"]]
  ) {
    const task = tasksOf(configure.tasks).find((t) => t.args.mode === "0600");
    const args = templar.render(task?.args, detected(os)) as Vars;
    assert.deepEqual([task?.module, args.dest, args.owner], ["template", path, "root"], os);
  }
});

Deno.test("firewall: firewalld on RHEL, ufw on Ubuntu, a note without one; open only when asked", () => {
  const tasks = (os: string, external: boolean) =>
    run(firewall.tasks, detected(os, { otlp_external: external }));
  const open = tasks("rocky9", true);
  assert.deepEqual(open.map((t) => [t.module, t.args.port, t.args.state]), [
    ["firewalld", "4317/tcp", "enabled"],
    ["firewalld", "4318/tcp", "enabled"],
  ]);
  const fwArgs = firewalld.args.parse(open[0].args);
  const closedNow = {
    installed: true,
    running: true,
    defaultZone: "public",
    runtimeRc: 1,
    permanentRc: 1,
  };
  assert.deepEqual(planFirewalld(closedNow, fwArgs).map((s) => s.argv), [
    ["--add-port=4317/tcp"],
    ["--permanent", "--add-port=4317/tcp"],
  ]);
  const close = tasks("fedora40", false);
  assert.deepEqual(close.map((t) => [t.module, t.args.state]), [
    ["firewalld", "disabled"],
    ["firewalld", "disabled"],
  ]);
  const ufw = tasks("ubuntu2404", true);
  assert.deepEqual(ufw.map((t) => [t.module, t.args.port, t.args.delete]), [
    ["ufw", 4317, false],
    ["ufw", 4318, false],
  ]);
  const none = tasks("alma9", true);
  assert.deepEqual(none.map((t) => t.module), ["debug"]);
  assert.match(String(none[0].args.msg), /^no ufw or firewalld on this host/);
  assert.ok(findModule("firewalld") && findModule("ufw"));
});
