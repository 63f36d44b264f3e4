import assert from "node:assert/strict";
import { HostModel, type ModuleContext, type ModuleResult } from "../core/module.ts";
import { parseIdLine, planGroups, user } from "./user.ts";
import { fakeContext, type PrivateEtc, privateEtc, privateEtcUnavailable } from "./_testing.ts";
import { ROOT, withTempDir } from "../../test/helpers.ts";

Deno.test("planGroups: append adds only what is missing; replace wants the exact set", () => {
  assert.deepEqual(planGroups(["adm"], ["adm", "systemd-journal"], true), [
    "adm",
    "systemd-journal",
  ]);
  assert.equal(planGroups(["adm", "x"], ["adm"], true), undefined);
  assert.deepEqual(planGroups(["adm", "x"], ["adm"], false), ["adm"]);
  assert.equal(planGroups(["b", "a"], ["a", "b"], false), undefined);
  assert.deepEqual(planGroups([], [], false), undefined);
  assert.deepEqual(planGroups(["a"], [], false), []);
});

Deno.test("--check: a user that a package installed earlier in the run will create is predicted", async () => {
  const model = new HostModel();
  model.setFlag("pkg:pending", ["alloy"]);
  const { ctx, scripts } = fakeContext(true, model, () => ({ rc: 0, stdout: "no\n", stderr: "" }));
  const r = await user.run(
    ctx,
    user.args.parse({
      name: "alloy",
      groups: ["adm", "systemd-journal"],
      package_groups: ["alloy"],
    }),
  );
  assert.equal(r.changed, true);
  assert.equal(
    r.msg,
    "user alloy will be created by a package installed earlier in this run (in alloy), then put in alloy, adm, systemd-journal",
  );
  assert.equal(scripts.length, 1);
  // Without a pending package, a missing user is the host's problem.
  const { ctx: plain } = fakeContext(true, new HostModel(), () => ({
    rc: 0,
    stdout: "no\n",
    stderr: "",
  }));
  await assert.rejects(
    user.run(plain, user.args.parse({ name: "alloy", groups: ["adm"] })),
    /user alloy does not exist/,
  );
});

const skip = await privateEtcUnavailable();

/** Run `fn` with a private /etc holding user `drovu` (in drovg1) and groups drovg1..drovg4. */
async function withUsers(fn: (etc: PrivateEtc) => Promise<void>): Promise<void> {
  const etc = await privateEtc();
  try {
    const r = await etc.sh(
      'set -e\nfor g in drovg1 drovg2 drovg3 drovg4; do groupadd "$g"; done\n' +
        "useradd --no-log-init -M -U -G drovg1 drovu\n",
    );
    assert.equal(r.rc, 0, r.stderr);
    await fn(etc);
  } finally {
    await etc.stop();
  }
}

function groupsOf(etc: PrivateEtc, name: string): Promise<string[]> {
  return etc.sh(`id -nG ${name}\n`).then((r) => r.stdout.trim().split(/\s+/).sort());
}

function go(ctx: ModuleContext, args: Record<string, unknown>): Promise<ModuleResult> {
  return user.run(ctx, user.args.parse(args));
}

Deno.test({
  name: "groups (append): added once, converges, --check writes nothing; diff shows before/after",
  ignore: skip !== undefined,
  fn: () =>
    withUsers(async (etc) => {
      const hostGroup = await Deno.readTextFile("/etc/group");
      const args = { name: "drovu", groups: ["drovg2", "drovg3"] };
      const group0 = (await etc.sh("cat /etc/group /etc/gshadow\n")).stdout;
      const check = await go(await etc.context({ check: true }), args);
      assert.equal(check.changed, true);
      assert.deepEqual(check.diff, [{
        target: "user drovu",
        before: "groups: drovg1\n",
        after: "groups: drovg1,drovg2,drovg3\n",
      }]);
      assert.equal((await etc.sh("cat /etc/group /etc/gshadow\n")).stdout, group0);

      const r = await go(await etc.context(), args);
      assert.equal(r.changed, true);
      assert.deepEqual(await groupsOf(etc, "drovu"), ["drovg1", "drovg2", "drovg3", "drovu"]);
      assert.match((await etc.sh("getent group drovg3\n")).stdout, /^drovg3:x:\d+:drovu$/m);
      const again = await go(await etc.context(), args);
      assert.equal(again.changed, false);
      assert.deepEqual(again.data?.groups, ["drovg1", "drovg2", "drovg3"]);
      assert.equal(
        (await go(await etc.context({ check: true }), { name: "drovu", groups: ["drovg3"] }))
          .changed,
        false,
      );
      assert.equal(await Deno.readTextFile("/etc/group"), hostGroup, "the machine's /etc changed");
    }),
});

Deno.test({
  name:
    "groups (append: false): the user ends in exactly those groups; its own group may be listed",
  ignore: skip !== undefined,
  fn: () =>
    withUsers(async (etc) => {
      const args = { name: "drovu", groups: ["drovg4"], append: false };
      const r = await go(await etc.context(), args);
      assert.equal(r.changed, true);
      assert.equal(r.msg, "groups of drovu: drovg4");
      assert.deepEqual(await groupsOf(etc, "drovu"), ["drovg4", "drovu"]);
      assert.equal((await go(await etc.context(), args)).changed, false);
      // Naming the primary group changes nothing more, and converges.
      const withOwn = { name: "drovu", groups: ["drovu", "drovg4"], append: false };
      assert.equal((await go(await etc.context(), withOwn)).changed, false);
      const appendOwn = { name: "drovu", groups: ["drovu", "drovg1"] };
      assert.equal((await go(await etc.context(), appendOwn)).changed, true);
      assert.equal((await go(await etc.context(), appendOwn)).changed, false);
      assert.deepEqual(await groupsOf(etc, "drovu"), ["drovg1", "drovg4", "drovu"]);
    }),
});

Deno.test({
  name: "a missing user or group fails with the reason",
  ignore: skip !== undefined,
  fn: () =>
    withUsers(async (etc) => {
      await assert.rejects(
        go(await etc.context(), { name: "nobody-here", groups: ["drovg1"] }),
        /user nobody-here does not exist/,
      );
      await assert.rejects(
        go(await etc.context(), { name: "drovu", groups: ["no-such-group"] }),
        /usermod failed: .*no-such-group/,
      );
      assert.deepEqual(await groupsOf(etc, "drovu"), ["drovg1", "drovu"]);
    }),
});

Deno.test({
  name: "CLI in a private /etc: --check --diff predicts, the run changes, the next run is ok",
  ignore: skip !== undefined,
  fn: () =>
    withUsers((etc) =>
      withTempDir(async (dir) => {
        const pb = `${dir}/pb.yml`;
        await Deno.writeTextFile(
          pb,
          `- hosts: localhost
  gather_facts: false
  tasks:
    - name: journald readers
      user: { name: drovu, groups: [drovg2, drovg3], append: true }
`,
        );
        // Any process entering the namespace sees the private /etc.
        const drover = async (...args: string[]) => {
          const out = await new Deno.Command("nsenter", {
            args: [
              "-t",
              String(etc.pid),
              "-m",
              Deno.execPath(),
              "run",
              "-A",
              "--quiet",
              `${ROOT}/main.ts`,
              pb,
              ...args,
            ],
            cwd: ROOT,
            env: { NO_COLOR: "1" },
            stdin: "null",
          }).output();
          const dec = new TextDecoder();
          return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
        };
        const check = await drover("--check", "--diff");
        assert.equal(check.code, 0, check.stdout + check.stderr);
        assert.match(check.stdout, /changed: \[localhost\]/);
        assert.match(check.stdout, /-groups: drovg1\n\+groups: drovg1,drovg2,drovg3\n/);
        assert.deepEqual(await groupsOf(etc, "drovu"), ["drovg1", "drovu"]);
        const run = await drover();
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.deepEqual(await groupsOf(etc, "drovu"), ["drovg1", "drovg2", "drovg3", "drovu"]);
        const again = await drover();
        assert.match(again.stdout, /ok: \[localhost\]/);
        assert.doesNotMatch(again.stdout, /changed: \[localhost\]/);
      })
    ),
});

Deno.test("parseIdLine: the primary group and every group, as id -gn and id -nG name them", () => {
  assert.deepEqual(
    parseIdLine("uid=999(alloy) gid=999(alloy) groups=999(alloy),4(adm),101(systemd-journal)"),
    { primary: "alloy", all: ["alloy", "adm", "systemd-journal"] },
  );
  // A group without a name is its number; a user in no other group.
  assert.deepEqual(parseIdLine("uid=1001(x) gid=1001 groups=1001,27(sudo)"), {
    primary: "1001",
    all: ["1001", "sudo"],
  });
  assert.deepEqual(parseIdLine("uid=0(root) gid=0(root) groups=0(root)"), {
    primary: "root",
    all: ["root"],
  });
});
