/**
 * The quick part of the Ansible compatibility corpus (test/compat): the
 * playbooks marked `# compat: fast`, each run by ansible-playbook on the first
 * test host and by drover on the second (twins reset once, then used for all
 * of them), compared as `deno task compat` compares them. The whole corpus is
 * `deno task compat` (docs/compat.md).
 */
import assert from "node:assert/strict";
import { labUp, TEST_HOSTS } from "./lab_helpers.ts";
import {
  caseMeta,
  changedUnits,
  corpus,
  parseAnsible,
  parseDrover,
  PLAYBOOK_DIR,
  resetHost,
  runCase,
} from "./compat/compat.ts";
import { join } from "../src/core/path.ts";

const sanitize = { sanitizeOps: false, sanitizeResources: false };

Deno.test("compat: the parsers read both tools' reports the same way", () => {
  const ansible = JSON.stringify({
    plays: [{
      tasks: [
        { task: { name: "Gathering Facts" }, hosts: { twin: { changed: false } } },
        {
          task: { name: "write" },
          hosts: {
            twin: {
              action: "copy",
              changed: true,
              diff: [{ before: "", after: "x\n", before_header: "/a", after_header: "/a" }],
            },
          },
        },
        {
          task: { name: "show" },
          hosts: {
            twin: {
              action: "debug",
              changed: false,
              results: [{ msg: "a" }, { skipped: true }, { msg: "c" }],
            },
          },
        },
        { task: { name: "fails" }, hosts: { twin: { failed: true, changed: true } } },
      ],
    }],
    stats: {
      twin: { ok: 3, changed: 2, failures: 0, skipped: 0, rescued: 0, ignored: 1, unreachable: 0 },
    },
  });
  const ev = (e: Record<string, unknown>) => JSON.stringify(e);
  const drover = [
    ev({ type: "task_start", name: "Gathering Facts" }),
    ev({ type: "host_result", task: "Gathering Facts", status: "ok" }),
    ev({ type: "task_start", name: "write" }),
    ev({
      type: "host_result",
      task: "write",
      module: "copy",
      status: "changed",
      diff: [{ target: "/a", before: "", after: "x\n" }],
    }),
    ev({ type: "task_start", name: "show" }),
    ...["a", "b", "c"].map((m) =>
      ev({
        type: "host_result",
        task: "show",
        module: "debug",
        item: m,
        status: m === "b" ? "skipped" : "ok",
        result: m === "b" ? undefined : { msg: m, changed: false, failed: false },
      })
    ),
    ev({ type: "task_start", name: "fails" }),
    ev({ type: "host_result", task: "fails", status: "failed", ignored: true }),
    ev({
      type: "recap",
      hosts: {
        twin: { ok: 3, changed: 2, failed: 0, skipped: 0, rescued: 0, ignored: 1, unreachable: 0 },
      },
    }),
  ].join("\n");
  const a = parseAnsible(ansible), d = parseDrover(drover);
  assert.deepEqual(d, a);
  assert.deepEqual(a.tasks.map((t) => t.status), ["ok", "changed", "ok", "failed"]);
  assert.deepEqual(a.tasks[2].debug, ["a", "c"]);
});

Deno.test("compat: units are compared only where the run changed them on either twin", () => {
  const boot = ["a.path loaded active waiting", "x.service loaded active running"];
  const bootFailed = ["a.path loaded failed failed", "x.service loaded active running"];
  // A path unit failed at boot on one twin only, untouched by either run: not compared.
  assert.deepEqual(changedUnits(bootFailed, bootFailed, boot, boot), [[], []]);
  // A service one tool started and the other did not: compared on both.
  const started = [...bootFailed, "s.service loaded active running"];
  assert.deepEqual(changedUnits(bootFailed, started, boot, boot), [
    ["s.service loaded active running"],
    [],
  ]);
  // A unit stopped on one twin only: both lines of it are compared.
  const stopped = ["a.path loaded active waiting", "x.service loaded inactive dead"];
  assert.deepEqual(changedUnits(boot, boot, boot, stopped), [
    ["x.service loaded active running"],
    ["x.service loaded inactive dead"],
  ]);
});

Deno.test({
  name:
    "compat: the fast subset run by ansible-playbook and by drover on twin lab hosts ends identical",
  ...sanitize,
  fn: async () => {
    assert.ok(
      await hasAnsible(),
      "ansible-playbook is missing: apt-get install ansible-core ansible",
    );
    const [ha, hd] = TEST_HOSTS;
    await labUp([ha, hd]);
    const fast = corpus().filter((n) =>
      caseMeta(Deno.readTextFileSync(join(PLAYBOOK_DIR, n))).fast
    );
    assert.ok(fast.length >= 3, `fast subset: ${fast.join(", ")}`);
    const workDir = await Deno.makeTempDir({ prefix: "drover-compat-test-" });
    try {
      await resetHost([ha, hd]);
      const report: string[] = [];
      for (const name of fast) {
        const r = await runCase(name, [ha, hd], { workDir, reset: false });
        const undeclared = r.differences.filter((d) =>
          !(r.meta.deliberate || (r.meta.deliberateCheck && d.phase === "check"))
        );
        for (const d of undeclared) report.push(`${name}: ${d.phase} ${d.what}: ${d.detail}`);
        assert.ok(r.outcomes.run_drover.recap, `${name}: drover printed no recap`);
      }
      console.log(
        `compat/fast: ${fast.length} playbooks (${
          fast.map((n) => n.slice(0, 2)).join(", ")
        }), ${report.length} undocumented differences`,
      );
      assert.deepEqual(report, []);
    } finally {
      // Leave the hosts as the rest of the suite expects them (with the lab's docker setting).
      await resetHost([ha, hd], "lab");
      await Deno.remove(workDir, { recursive: true });
    }
  },
});

async function hasAnsible(): Promise<boolean> {
  try {
    const r = await new Deno.Command("ansible-playbook", { args: ["--version"], stdout: "null" })
      .output();
    return r.success;
  } catch {
    return false;
  }
}
