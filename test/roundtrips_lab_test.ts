/**
 * @module
 * The cost of a converged run: migrate on a migrated host needs at most three
 * SSH sessions (run lock, fact probe, one batch of reads), and batching the
 * reads changes nothing any task reports (compared with DROVER_READ_AHEAD=0,
 * where every read is its own round trip). The same holds for a cold run and
 * a drift run, where the reads ahead ride on the commands that change the
 * host. Sessions are counted with the benchmark's logging ssh wrapper
 * (bench/bin/ssh), commands (round trips after the lock's) with drover's
 * DROVER_COMMAND_LOG: most commands share one session, the host's resident
 * shell.
 */
import assert from "node:assert/strict";
import { drover, recap, ROOT, withTempDir } from "./helpers.ts";
import { labInventory, labReset, labUp, onHost, TEST_HOSTS } from "./lab_helpers.ts";

const H = TEST_HOSTS[0];
const sanitize = { sanitizeOps: false, sanitizeResources: false };
const VARS = ["-e", `@${ROOT}/test/lab/migrate-vars.yml`];

/** ssh sessions to `address` in a wrapper log (ControlMaster housekeeping left out). */
function sessions(log: string, address: string): number {
  return log.split("\n").filter((l) =>
    l.split(" ")[1] === "ssh" && l.includes(` ${address} `) && !/ -O (exit|check|stop) /.test(l)
  ).length;
}

/** Commands sent to host {@linkcode H} in a DROVER_COMMAND_LOG (the lock's session not counted). */
function commands(log: string): number {
  return log.split("\n").filter((l) => l.split(" ")[1] === H).length;
}

/**
 * Host results without timings, for comparing two runs: durations, `delta`,
 * `elapsed`, curl's "after N ms" and "waited Ns" vary from run to run.
 */
function results(jsonLines: string): unknown[] {
  const untimed = (v: unknown): unknown =>
    typeof v === "string"
      ? v.replace(/after \d+ ms/g, "after N ms").replace(/waited \d+s/g, "waited Ns")
      : Array.isArray(v)
      ? v.map(untimed)
      : v && typeof v === "object"
      ? Object.fromEntries(
        Object.entries(v).filter(([k]) => !["delta", "elapsed", "durationMs", "ts"].includes(k))
          .map(([k, x]) => [k, untimed(x)]),
      )
      : v;
  return jsonLines.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .filter((e) => e.type === "host_result").map(untimed);
}

/** Run `fn` with a one-host inventory of {@linkcode H} and its address; the host is reset after. */
async function withLabHost(
  fn: (dir: string, inv: string, address: string) => Promise<void>,
): Promise<void> {
  await labUp([H]);
  await withTempDir(async (dir) => {
    const inv = await labInventory(dir, [H]);
    const address = /ansible_host: (\S+)/.exec(await Deno.readTextFile(inv))![1];
    try {
      await fn(dir, inv, address);
    } finally {
      await labReset(H);
    }
  });
}

Deno.test({
  name: "migrate converged: 2 SSH sessions per host, same results as unbatched reads",
  ...sanitize,
  fn: () =>
    withLabHost(async (dir, inv, address) => {
      await labReset(H);
      const cold = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS]);
      assert.equal(cold.code, 0, cold.stdout + cold.stderr);
      assert.ok(recap(cold.stdout)[H].changed > 0, cold.stdout);

      const log = `${dir}/ssh.log`;
      const cmdLog = `${dir}/commands.log`;
      const env = {
        PATH: `${ROOT}/bench/bin:${Deno.env.get("PATH")}`,
        BENCH_SSH_LOG: log,
        DROVER_COMMAND_LOG: cmdLog,
      };
      for (const check of [false, true]) {
        await Deno.writeTextFile(log, "");
        await Deno.writeTextFile(cmdLog, "");
        const args = ["playbooks/migrate.yml", "-i", inv, ...VARS, ...(check ? ["--check"] : [])];
        const r = await drover(args, { env });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(recap(r.stdout)[H].changed, 0, r.stdout);
        const n = sessions(await Deno.readTextFile(log), address);
        const c = commands(await Deno.readTextFile(cmdLog));
        assert.deepEqual(
          [n, c],
          [2, 1],
          `${check ? "--check: " : ""}${n} ssh sessions and ${c} commands after the lock per ` +
            "host, want 2 and 1 (the lock with the fact probe, one batch of reads): a task that " +
            "may change the host (a command without changed_when: false + check_mode: false, or " +
            "a module whose gather uses ctx.sh) breaks the batch; see bench/README.md",
        );
      }

      const batched = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS, "--json"]);
      const single = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS, "--json"], {
        env: { DROVER_READ_AHEAD: "0" },
      });
      assert.equal(batched.code, 0, batched.stderr);
      assert.equal(single.code, 0, single.stderr);
      assert.deepEqual(results(batched.stdout), results(single.stdout));
    }),
});

/**
 * What each task reported: status, changed, whether it had a diff, and its
 * message, without what differs between two fresh hosts (container ids and
 * creation order, uptimes, timestamps, memory figures).
 */
function outline(rs: unknown[]): unknown[] {
  return rs.map((r) => {
    const e = r as Record<string, unknown>;
    const msg = typeof e.msg === "string"
      ? e.msg.replace(/\b[0-9a-f]{12,64}\b/g, "ID").replace(/\d+(\.\d+)?/g, "N").split(/: |; /)
        .sort().join("; ")
      : e.msg;
    return [e.task, e.item ?? null, e.status, e.changed, e.diff === undefined ? 0 : 1, msg];
  });
}

Deno.test({
  name:
    "migrate cold and after drift: reads carried by changes report what reads alone do, in fewer round trips",
  ...sanitize,
  fn: () =>
    withLabHost(async (dir, inv, address) => {
      const log = `${dir}/ssh.log`;
      const cmdLog = `${dir}/commands.log`;
      const PATH = `${ROOT}/bench/bin:${Deno.env.get("PATH")}`;
      const run = async (readAhead: string) => {
        await Deno.writeTextFile(log, "");
        await Deno.writeTextFile(cmdLog, "");
        const r = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS, "--json"], {
          env: {
            PATH,
            BENCH_SSH_LOG: log,
            DROVER_COMMAND_LOG: cmdLog,
            DROVER_READ_AHEAD: readAhead,
          },
        });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        return {
          results: results(r.stdout),
          commands: commands(await Deno.readTextFile(cmdLog)),
          sessions: sessions(await Deno.readTextFile(log), address),
        };
      };
      const drift = async () => {
        const d = await onHost(
          H,
          "echo '// edited by hand' >> /etc/alloy/config.alloy && systemctl stop alloy",
        );
        assert.equal(d.code, 0, d.stderr);
      };
      const runs: Record<string, { results: unknown[]; commands: number; sessions: number }>[] = [];
      for (const readAhead of ["1", "0"]) {
        await labReset(H);
        const cold = await run(readAhead);
        await drift();
        runs.push({ cold, drift: await run(readAhead) });
      }
      const [carried, alone] = runs;
      for (const k of ["cold", "drift"]) {
        assert.deepEqual(outline(carried[k].results), outline(alone[k].results), k);
        assert.ok(
          carried[k].commands < alone[k].commands,
          `${k}: ${carried[k].commands} commands with reads ahead, ${alone[k].commands} without`,
        );
        // Only the lock, the resident shell and commands with a time limit have sessions.
        assert.ok(
          carried[k].sessions < carried[k].commands,
          `${k}: ${carried[k].sessions} sessions for ${carried[k].commands} commands`,
        );
      }
    }),
});
