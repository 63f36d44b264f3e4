/**
 * Safety, part 5: two drover runs against the same host at once. The second
 * waits for the first (a lock on the host, src/engine/lock.ts) or, after
 * --lock-timeout, refuses with an error naming the host and the holder; the
 * runs never interleave; a killed or interrupted run leaves no lock behind.
 */
import assert from "node:assert/strict";
import { recap, withTempDir } from "./helpers.ts";
import { labUp, onHost, TEST_HOSTS } from "./lab_helpers.ts";
import {
  inventory,
  LAB_STATE,
  type LiveRun,
  run,
  sanitize,
  startDrover,
} from "./safety_helpers.ts";

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

const [H1, H2] = TEST_HOSTS;
const LOG = "/root/drover-concurrency.log";
const GATE = "/root/drover-concurrency.gate";

/**
 * Two logged steps around a gate: with -e gated=true the run holds between
 * them until the test creates the gate file (no timing involved).
 */
const PLAYBOOK = `- hosts: all
  gather_facts: false
  tasks:
    - name: step 1
      shell: "echo {{ run_id }} start 1 >> ${LOG}; sleep 0.5; echo {{ run_id }} end 1 >> ${LOG}"
    - name: gate
      shell: "touch ${GATE}.waiting; while [ ! -e ${GATE} ]; do sleep 0.1; done; rm -f ${GATE}.waiting"
      when: gated | default(false) | bool
    - name: step 2
      shell: "echo {{ run_id }} start 2 >> ${LOG}; sleep 0.5; echo {{ run_id }} end 2 >> ${LOG}"
`;

const steps = (id: string) => [1, 2].flatMap((i) => [`${id} start ${i}`, `${id} end ${i}`]);

/** The runs' log lines on a host, e.g. ["A start 1", "A end 1", ...]. */
async function log(host: string): Promise<string[]> {
  const r = await onHost(host, `cat ${LOG} 2>/dev/null || true\n`);
  return r.stdout.split("\n").filter(Boolean);
}

/** True when every line of one run comes before every line of the next: no interleaving. */
function runsInSequence(lines: string[]): boolean {
  const order = lines.map((l) => l.split(" ")[0]);
  const seen: string[] = [];
  for (const id of order) {
    if (seen.at(-1) === id) continue;
    if (seen.includes(id)) return false;
    seen.push(id);
  }
  return true;
}

Deno.test({
  name:
    "concurrent runs on one host: the second waits, refuses after --lock-timeout, never interleaves; dead runs free the lock",
  ...sanitize,
  fn: async (t) => {
    await labUp(TEST_HOSTS);
    const figures = { scenarios: 0, interleaved: 0, waited: 0, refused: 0, freed: 0 };
    // Every scenario asserts its log is in sequence: a failure stops the test before the figure.
    await withTempDir(async (dir) => {
      const inv = await inventory(dir, TEST_HOSTS);
      const pb = `${dir}/steps.yml`;
      await Deno.writeTextFile(pb, PLAYBOOK);
      const live: LiveRun[] = [];
      const start = (id: string, extra: string[] = []) => {
        const r = startDrover([pb, "-i", inv, "--limit", H1, "-e", `run_id=${id}`, ...extra]);
        live.push(r);
        return r;
      };
      const gated = async () => {
        await onHost(H1, `rm -f ${LOG} ${GATE} ${GATE}.waiting\n`);
        const a = start("A", ["-e", "gated=true"]);
        // The gate command runs on the host (read in the host's overlay from here).
        const waiting = `${LAB_STATE}/hosts/${H1}/upper${GATE}.waiting`;
        for (let i = 0; !(await exists(waiting)); i++) {
          if (i > 1200) {
            throw new Error(`${H1}: run A never reached the gate:\n${a.lines.join("\n")}`);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        return a;
      };
      const open = () => onHost(H1, `touch ${GATE}\n`);
      const holder = (pid: number) => `\\(drover pid ${pid} .*running ${pb}`;

      const step = (name: string, fn: () => Promise<void>) =>
        t.step(name, async () => {
          try {
            await fn();
          } finally {
            // A failed assertion must leave no run behind for the next step.
            await open();
            await Promise.all(live.splice(0).map((r) => r.done));
          }
        });

      await step("the second run waits for the first, then runs", async () => {
        const a = await gated();
        const b = start("B");
        await b.waitFor(
          new RegExp(
            `^\\[WARNING\\]: ${H1}: locked by another drover run ${
              holder(a.pid)
            }\\); waiting up to 60 s`,
          ),
        );
        await open();
        const [ra, rb] = await Promise.all([a.done, b.done]);
        assert.equal(ra.code, 0, ra.stdout + ra.stderr);
        assert.equal(rb.code, 0, rb.stdout + rb.stderr);
        const lines = await log(H1);
        assert.ok(runsInSequence(lines), `interleaved:\n${lines.join("\n")}`);
        assert.deepEqual(lines, [...steps("A"), ...steps("B")]);
        figures.scenarios++;
        figures.waited++;
      });

      await t.step(
        "after --lock-timeout it refuses that host, naming it and the holder; other hosts run",
        async () => {
          await onHost(H2, `rm -f ${LOG}\n`);
          const a = await gated();
          const b = await run([
            pb,
            "-i",
            inv,
            "--limit",
            `${H1}:${H2}`,
            "-e",
            "run_id=B",
            "--lock-timeout",
            "1",
          ]);
          await open();
          const ra = await a.done;
          assert.equal(ra.code, 0, ra.stdout + ra.stderr);
          assert.equal(b.code, 2, b.stdout + b.stderr);
          assert.match(
            b.stdout,
            new RegExp(
              `fatal: \\[${H1}\\]: FAILED! .*${H1} is locked by another drover run ${
                holder(a.pid)
              }\\); gave up after waiting 1 s`,
            ),
          );
          assert.equal(recap(b.stdout)[H2].failed, 0, b.stdout);
          assert.equal(recap(b.stdout)[H2].changed, 2, b.stdout);
          assert.deepEqual(await log(H1), steps("A"), "the refused run ran tasks");
          assert.deepEqual(await log(H2), steps("B"));
          figures.scenarios++;
          figures.refused++;
        },
      );

      // Either way drover's ssh session that holds the lock ends at once
      // (SIGKILL: drover is gone; Ctrl-C: its ssh clients got the SIGINT
      // too), but the command in flight goes on on the host (over the SSH
      // master, a killed client does not stop it; after Ctrl-C drover waits
      // for it): the lock stays until that command ends.
      for (
        const [how, sig, group] of [
          ["killed (SIGKILL to drover alone)", "SIGKILL", false],
          ["interrupted (Ctrl-C: SIGINT to its process group)", "SIGINT", true],
        ] as const
      ) {
        await step(
          `a run ${how} keeps the lock until its command in flight ends, then frees it`,
          async () => {
            const a = await gated();
            a.signal(sig, group);
            if (sig === "SIGKILL") assert.equal((await a.done).code, 137);
            const b = start("B");
            await b.waitFor(
              new RegExp(
                `locked by another drover run ${
                  holder(a.pid)
                }; it ended, its commands still run on this host\\)`,
              ),
            );
            await open();
            const [ra, rb] = await Promise.all([a.done, b.done]);
            assert.equal(ra.code, sig === "SIGKILL" ? 137 : 99, ra.stdout + ra.stderr);
            assert.equal(rb.code, 0, rb.stdout + rb.stderr);
            const lines = await log(H1);
            assert.deepEqual(lines, [...steps("A").slice(0, 2), ...steps("B")]);
            figures.scenarios++;
            figures.freed++;
          },
        );
      }
    });
    console.log(
      `concurrency: ${figures.scenarios} scenarios, ${figures.interleaved} interleavings, ${figures.waited} waited, ${figures.refused} refused after --lock-timeout, ${figures.freed} killed/interrupted runs held the lock until their command in flight ended, then freed it`,
    );
  },
});
