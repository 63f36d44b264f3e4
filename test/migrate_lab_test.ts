/**
 * The migration end to end on three lab hosts, as a user runs it:
 * `--check` first, the real run, a second run, verify, rollback.
 *
 * Two hosts are "dev machines" with Docker running the seed's compose stack
 * and the app (the stand-in) on :9464; the third has no compose project (a
 * fresh install).
 */
import assert from "node:assert/strict";
import { changedTasks, drover, recap, withTempDir } from "./helpers.ts";
import {
  diffLines,
  INSTALL_APP,
  labInventory,
  labReset,
  labUp,
  onHost,
  TEST_HOSTS,
} from "./lab_helpers.ts";

const sanitize = { sanitizeOps: false, sanitizeResources: false };
const VARS = ["-e", "@test/lab/migrate-vars.yml"];
const TOKEN = "glc_MARKER_SECRET_TOKEN_123";
const COMPOSE = "cd /home/dev/TTA.dev && docker-compose -f docker-compose.integration.yml";

/** Every file, symlink and directory under /etc with content hash, mode and owner. */
const SNAPSHOT = `find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum
find /etc -xdev -type l -printf '%p -> %l\\n' | sort
find /etc -xdev -printf '%p %m %u %g\\n' | sort
for u in alloy docker tta-dev-app ufw; do echo "unit $u $(systemctl is-enabled $u 2>/dev/null) $(systemctl is-active $u 2>/dev/null)"; done
ufw status verbose 2>&1
`;

/** A host's state: /etc, unit states, firewall, the stack's running containers. */
async function snapshot(host: string): Promise<string> {
  const r = await onHost(
    host,
    SNAPSHOT + `echo containers; ${COMPOSE} ps -q 2>/dev/null | wc -l\n`,
  );
  return r.stdout;
}

Deno.test({
  name:
    "migrate on 3 lab hosts: --check predicts exactly, the run converges, verify passes, rollback restores /etc",
  ...sanitize,
  fn: async (t) => {
    const [h1, h2, h3] = TEST_HOSTS;
    await labUp(TEST_HOSTS);
    for (const h of TEST_HOSTS) await labReset(h);
    for (const h of TEST_HOSTS) {
      const r = await onHost(h, INSTALL_APP);
      assert.equal(r.code, 0, r.stderr);
    }
    // h3 is a machine without the compose project: a fresh install.
    const fresh = await onHost(
      h3,
      `${COMPOSE} down >/dev/null 2>&1 && rm -f /home/dev/TTA.dev/docker-compose.integration.yml\n`,
    );
    assert.equal(fresh.code, 0, fresh.stderr);
    const before: Record<string, string> = {};
    for (const h of TEST_HOSTS) before[h] = await snapshot(h);
    assert.match(before[h1], /^containers\n5$/m, "the stack runs before migrate");

    await withTempDir(async (dir) => {
      const inv = await labInventory(dir);
      let predicted: Record<string, string[]> = {};

      await t.step("--check on fresh hosts changes nothing", async () => {
        const check = await drover(["playbooks/migrate.yml", "-i", inv, "--check", ...VARS]);
        assert.equal(check.code, 0, check.stdout + check.stderr);
        for (const h of TEST_HOSTS) {
          assert.deepEqual(diffLines(before[h], await snapshot(h)), [], `${h} changed by --check`);
        }
        predicted = changedTasks(check.stdout);
        assert.ok((predicted[h1] ?? []).length > 0, check.stdout);
      });

      await t.step("the real run changes exactly what --check predicted", async () => {
        const run = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS]);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const changed = changedTasks(run.stdout);
        for (const h of TEST_HOSTS) {
          assert.deepEqual(changed[h] ?? [], predicted[h] ?? [], `${h}: --check vs real run`);
        }
        assert.match(run.stdout, /fresh install, the switch had nothing to stop/);
        assert.ok(!run.stdout.includes(TOKEN) && !run.stderr.includes(TOKEN), "token leaked");
        for (const h of [h1, h2]) {
          const s = await snapshot(h);
          assert.match(s, /^containers\n0$/m, `${h}: the stack is down`);
          assert.match(s, /^unit alloy enabled active$/m);
        }
        const env = await onHost(h1, "stat -c '%a %U %G' /etc/default/alloy\n");
        assert.equal(env.stdout.trim(), "600 root root");
      });

      await t.step("a second run reports changed=0 on every host", async () => {
        const again = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS]);
        assert.equal(again.code, 0, again.stdout + again.stderr);
        for (const h of TEST_HOSTS) assert.equal(recap(again.stdout)[h].changed, 0, again.stdout);
      });

      await t.step("verify passes on every host and reports memory", async () => {
        const v = await drover(["playbooks/verify.yml", "-i", inv]);
        assert.equal(v.code, 0, v.stdout + v.stderr);
        for (const h of TEST_HOSTS) assert.equal(recap(v.stdout)[h].failed, 0);
        assert.match(
          v.stdout,
          /alloy uses [\d.]+ MB .*the Docker stack used [\d.]+ MB before migrate/,
        );
        assert.match(v.stdout, /no Docker stack memory was recorded \(fresh install\)/);
      });

      await t.step("verify fails when the service is down", async () => {
        await onHost(h2, "systemctl stop alloy\n");
        const v = await drover(["playbooks/verify.yml", "-i", inv, "--limit", h2]);
        assert.equal(v.code, 2, v.stdout);
        assert.match(v.stdout, /alloy is inactive/);
        await onHost(h2, "systemctl start alloy\n");
      });

      await t.step(
        "rollback with remove_alloy restores /etc byte for byte and the stack",
        async () => {
          const purge = ["playbooks/rollback.yml", "-i", inv, "--limit", `${h1}:${h3}`];
          purge.push("-e", "remove_alloy=true");
          const rb = await drover(purge);
          assert.equal(rb.code, 0, rb.stdout + rb.stderr);
          for (const h of [h1, h3]) {
            assert.deepEqual(diffLines(before[h], await snapshot(h)), [], `${h} after rollback`);
          }
          const again = await drover(purge);
          assert.equal(again.code, 0, again.stdout);
          for (const h of [h1, h3]) assert.equal(recap(again.stdout)[h].changed, 0, again.stdout);
        },
      );

      await t.step(
        "rollback keeping the package: alloy stopped and disabled, stack up",
        async () => {
          const rb = await drover(["playbooks/rollback.yml", "-i", inv, "--limit", h2]);
          assert.equal(rb.code, 0, rb.stdout + rb.stderr);
          const s = await snapshot(h2);
          assert.match(s, /^containers\n5$/m);
          assert.match(s, /^unit alloy disabled inactive$/m);
        },
      );

      await t.step("rollback without a record refuses", async () => {
        await onHost(h3, "rm -rf /var/lib/drover\n");
        const rb = await drover(["playbooks/rollback.yml", "-i", inv, "--limit", h3]);
        assert.equal(rb.code, 2, rb.stdout);
        assert.match(rb.stdout, /no migration record on \S+ .*nothing to roll back/);
      });
    });
  },
});

Deno.test({
  name:
    "migrate in parallel mode keeps the stack, then the switch stops it, then cleanup removes only the project's images and volumes",
  ...sanitize,
  fn: async (t) => {
    const h = TEST_HOSTS[1];
    await labUp(TEST_HOSTS);
    await labReset(h);
    await withTempDir(async (dir) => {
      const inv = await labInventory(dir, [h]);
      const listening = async () =>
        (await onHost(h, "ss -Hltnp | awk '{print $4}' | sed 's/.*://' | sort -n | uniq\n")).stdout
          .split("\n");

      await t.step("parallel: alloy on 14317/14318 beside the running collector", async () => {
        const r = await drover([
          "playbooks/migrate.yml",
          "-i",
          inv,
          ...VARS,
          "-e",
          "migration_mode=parallel",
        ]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /it keeps running \(parallel mode\)/);
        assert.match(r.stdout, /alloy receives OTLP on 14317\/14318/);
        assert.match(await snapshot(h), /^containers\n5$/m);
        const ports = await listening();
        for (const p of ["4317", "4318", "14317", "14318", "12345"]) {
          assert.ok(ports.includes(p), p);
        }
        // The record's stack memory (dockerd's one-shot stats) agrees with `docker stats`.
        const manifest = JSON.parse(
          (await onHost(h, "cat /var/lib/drover/migrate/manifest.json\n")).stdout,
        );
        const recorded = Number(manifest.facts.docker_stack_memory_mb);
        const cli = (await onHost(
          h,
          "cd /home/dev/TTA.dev && docker stats --no-stream --format '{{.MemUsage}}' " +
            "$(docker compose -f docker-compose.integration.yml ps -q)\n",
        )).stdout.trim().split("\n").map((l) => {
          const m = /^([\d.]+)\s*(KiB|MiB|GiB|kB|MB|GB|B)\b/.exec(l.trim());
          assert.ok(m, `docker stats MEM USAGE: ${l}`);
          const f: Record<string, number> = { B: 1 / 1048576, KiB: 1 / 1024, kB: 1 / 1024 };
          return Number(m[1]) * (f[m[2]] ?? (m[2].startsWith("G") ? 1024 : 1));
        }).reduce((a, b) => a + b, 0);
        assert.ok(recorded > 0, `recorded stack memory ${recorded} MiB`);
        assert.ok(
          Math.abs(recorded - cli) <= Math.max(1, cli / 2),
          `recorded ${recorded} MiB, docker stats ${cli.toFixed(1)} MiB`,
        );
      });

      await t.step(
        "switch: --check predicts the config change, the stack stop and the reload",
        async () => {
          const check = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS, "--check"]);
          assert.equal(check.code, 0, check.stdout + check.stderr);
          const run = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS]);
          assert.equal(run.code, 0, run.stdout + run.stderr);
          assert.deepEqual(changedTasks(run.stdout)[h], changedTasks(check.stdout)[h]);
          assert.deepEqual(changedTasks(run.stdout)[h], [
            "configure : Alloy configuration (validated before it goes live)",
            "switch : Stop the Docker observability stack",
            "configure : reload alloy",
          ]);
          assert.match(await snapshot(h), /^containers\n0$/m);
          const ports = await listening();
          assert.ok(ports.includes("4317") && !ports.includes("14317"), ports.join(" "));
        },
      );

      await t.step(
        "cleanup: the five images and this project's volumes go, other volumes stay",
        async () => {
          const run = await drover([
            "playbooks/migrate.yml",
            "-i",
            inv,
            ...VARS,
            "--tags",
            "cleanup",
          ]);
          assert.equal(run.code, 0, run.stdout + run.stderr);
          assert.match(
            run.stdout,
            /kept 1 volume\(s\) of other projects that 'docker volume prune -f' would have deleted: otherproj_data/,
          );
          const left = await onHost(
            h,
            "docker images --format '{{.Repository}}:{{.Tag}}'; docker volume ls -q\n",
          );
          assert.equal(left.stdout.trim(), "otherproj_data");
          const again = await drover([
            "playbooks/migrate.yml",
            "-i",
            inv,
            ...VARS,
            "--tags",
            "cleanup",
          ]);
          assert.equal(recap(again.stdout)[h].changed, 0, again.stdout);
        },
      );
    });
  },
});
