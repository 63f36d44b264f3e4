/**
 * Safety, part 1: check mode is exact. Every playbook (migrate, rollback,
 * verify) runs with --check on hosts in each state a user meets: fresh (the
 * compose stack and the app run, never migrated), half-migrated (migrate
 * stopped right after the alloy package: `--skip-tags configure,firewall,switch`
 * runs preflight, record and install-alloy and nothing after), migrated, and
 * drifted (migrated, then /etc/alloy/config.alloy edited by hand, alloy
 * stopped and a ufw rule deleted). The --check run must change no byte on the
 * host (overlay upper dir, units, firewall, containers), and the tasks it
 * reports changed (and failed: a refusal) must be exactly those the real run
 * that follows reports, host by host, from the --json events.
 *
 * The three hosts are in different states and go through six rounds together
 * (one playbook per round, one inventory), so that every playbook meets every
 * state and the wall time is that of 13 runs.
 */
import assert from "node:assert/strict";
import { withTempDir } from "./helpers.ts";
import { TEST_HOSTS } from "./lab_helpers.ts";
import {
  freshHosts,
  inventory,
  onHostOk,
  run,
  sanitize,
  snapshot,
  snapshotDiff,
  tasksByHost,
  VARS,
} from "./safety_helpers.ts";

/** The OTLP ports are opened in ufw, so that the firewall role has rules to keep (and lose). */
const MIGRATE_VARS = [...VARS, "-e", "otlp_external=true"];

/** How a half-migrated host is made: migrate up to the alloy package, nothing after it. */
const HALF = ["--skip-tags", "configure,firewall,switch"];

/** Drift on a migrated host: a hand edit, the service stopped, a firewall rule deleted. */
const DRIFT = `set -e
printf '\\n// edited by hand\\n' >> /etc/alloy/config.alloy
systemctl stop alloy
ufw delete allow 4317/tcp >/dev/null
ufw show added | grep -q '4318/tcp' && ! ufw show added | grep -q '4317/tcp'
`;

type State = "fresh" | "half-migrated" | "migrated" | "drifted" | "rolled back from half";
const PLAYBOOKS = ["migrate", "rollback", "verify"] as const;
type Playbook = typeof PLAYBOOKS[number];

interface Outcome {
  playbook: Playbook;
  host: string;
  state: State;
  /** Lines the --check run changed on the host (must be none). */
  touched: string[];
  predicted: string[];
  changed: string[];
  predictedFailed: string[];
  failed: string[];
  codes: [number, number];
}

const same = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

Deno.test({
  name:
    "check mode is exact: migrate, rollback and verify in every host state change nothing with --check and predict the real run's changes",
  ...sanitize,
  fn: async (t) => {
    const [A, B, C] = TEST_HOSTS;
    const outcomes: Outcome[] = [];
    await freshHosts([A, B, C]);

    await withTempDir(async (dir) => {
      const inv = await inventory(dir, [A, B, C]);
      const drover = (pb: Playbook, hosts: string[], extra: string[] = []) =>
        run([
          `playbooks/${pb}.yml`,
          "-i",
          inv,
          "--limit",
          hosts.join(":"),
          ...MIGRATE_VARS,
          ...extra,
        ]);

      /** One round: --check then the real run of one playbook on hosts in the given states. */
      const round = (pb: Playbook, states: Record<string, State>) =>
        t.step(
          `${pb}: ${Object.entries(states).map(([h, s]) => `${h} ${s}`).join(", ")}`,
          async () => {
            const hosts = Object.keys(states);
            const before = await Promise.all(hosts.map(snapshot));
            const check = await drover(pb, hosts, ["--check", "--json"]);
            const after = await Promise.all(hosts.map(snapshot));
            const real = await drover(pb, hosts, ["--json"]);
            assert.ok(check.stdout.includes('"type":"run_end"'), check.stdout + check.stderr);
            assert.ok(real.stdout.includes('"type":"run_end"'), real.stdout + real.stderr);
            const [pc, rc, pf, rf] = [
              tasksByHost(check.stdout, "changed"),
              tasksByHost(real.stdout, "changed"),
              tasksByHost(check.stdout, "failed"),
              tasksByHost(real.stdout, "failed"),
            ];
            hosts.forEach((h, i) => {
              outcomes.push({
                playbook: pb,
                host: h,
                state: states[h],
                touched: snapshotDiff(before[i], after[i]),
                predicted: pc[h] ?? [],
                changed: rc[h] ?? [],
                predictedFailed: pf[h] ?? [],
                failed: rf[h] ?? [],
                codes: [check.code, real.code],
              });
            });
          },
        );

      await t.step(`make ${B} and ${C} half-migrated (migrate ${HALF.join(" ")})`, async () => {
        const r = await drover("migrate", [B, C], HALF);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        for (const h of [B, C]) {
          await onHostOk(
            h,
            "dpkg -s alloy >/dev/null && test -s /var/lib/drover/migrate/manifest.json\n",
          );
        }
      });
      await round("verify", { [A]: "fresh", [B]: "half-migrated", [C]: "half-migrated" });
      await round("rollback", { [A]: "fresh", [B]: "half-migrated" });
      await round("migrate", { [A]: "fresh", [B]: "rolled back from half", [C]: "half-migrated" });
      await t.step(`drift ${C}`, () => onHostOk(C, DRIFT).then(() => {}));
      await round("verify", { [A]: "migrated", [B]: "migrated", [C]: "drifted" });
      await round("migrate", { [A]: "migrated", [B]: "migrated", [C]: "drifted" });
      await t.step(`drift ${B}`, () => onHostOk(B, DRIFT).then(() => {}));
      await round("rollback", { [A]: "migrated", [B]: "drifted", [C]: "migrated" });
    });

    const mismatches = outcomes.filter((o) =>
      !same(o.predicted, o.changed) || !same(o.predictedFailed, o.failed) ||
      o.codes[0] !== o.codes[1]
    );
    const touched = outcomes.filter((o) => o.touched.length > 0);
    for (const o of outcomes) {
      const refused = o.failed.length ? `, refused/failed: ${o.failed.join("; ")}` : "";
      console.log(
        `  ${o.playbook} on ${o.state} (${o.host}): --check predicted ${o.predicted.length} changed, the run changed ${o.changed.length}, exit ${
          o.codes[0]
        }/${o.codes[1]}, ${o.touched.length} lines changed by --check${refused}`,
      );
    }
    const pairs = new Set(outcomes.map((o) => `${o.playbook} ${o.state}`));
    const predicted = outcomes.reduce((n, o) => n + o.predicted.length, 0);
    console.log(
      `safety/check: ${outcomes.length} scenarios (${pairs.size} playbook×state pairs), ${mismatches.length} mismatches, ${predicted} predicted changes, ${touched.length} --check runs changed a host`,
    );
    for (const pb of PLAYBOOKS) {
      for (const s of ["fresh", "half-migrated", "migrated", "drifted"] as const) {
        assert.ok(pairs.has(`${pb} ${s}`), `no scenario for ${pb} on a ${s} host`);
      }
    }
    assert.deepEqual(
      touched.map((o) => ({
        scenario: `${o.playbook} on ${o.state} (${o.host})`,
        diff: o.touched,
      })),
      [],
      "--check changed a host",
    );
    assert.deepEqual(
      mismatches.map((o) => ({
        scenario: `${o.playbook} on ${o.state} (${o.host})`,
        predicted: o.predicted,
        changed: o.changed,
        predictedFailed: o.predictedFailed,
        failed: o.failed,
        codes: o.codes,
      })),
      [],
      "--check predicted something else than the run did",
    );
    assert.ok(predicted > 0, "no scenario predicted a change: the test would prove nothing");
  },
});
