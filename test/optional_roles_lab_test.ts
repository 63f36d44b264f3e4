/**
 * The migration's optional roles on a real lab host (Debian 12):
 * `install_local_prometheus` installs Debian's own prometheus package (from
 * the lab's subset of Debian's archive, test/lab/debian/subset.sh) scraping
 * the app; `install_local_grafana` installs the `grafana` package from the
 * lab's stand-in of Grafana's apt repository (a STAND-IN, not Grafana) with
 * the local Prometheus as its datasource.
 *
 * The host is DROVER_OPTIONAL_HOST (default lab4); it is reset first.
 */
import assert from "node:assert/strict";
import { changedTasks, drover, recap, ROOT, withTempDir } from "./helpers.ts";
import { diffLines, labInventory, labReset, labUp, lineOf, onHost } from "./lab_helpers.ts";

const sanitize = { sanitizeOps: false, sanitizeResources: false };
const HOST = Deno.env.get("DROVER_OPTIONAL_HOST") ?? "lab4";
const VARS = ["-e", "@test/lab/migrate-vars.yml"];
const BOTH = ["-e", "install_local_prometheus=true", "-e", "install_local_grafana=true"];

/** /etc byte for byte with modes and owners, and the units involved. */
const SNAPSHOT = `find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum
find /etc -xdev -type l -printf '%p -> %l\\n' | sort
find /etc -xdev -printf '%p %m %u %g\\n' | sort
for u in alloy prometheus grafana-server; do echo "unit $u $(systemctl is-enabled $u 2>/dev/null) $(systemctl is-active $u 2>/dev/null)"; done
dpkg-query -W -f='pkg \${Package} \${Version} \${Maintainer}\\n' prometheus grafana prometheus-node-exporter 2>&1
`;

/**
 * The machine's Debian sources (in the lab: Debian's packages from the lab
 * repository, as deb.debian.org is out of reach) and the user's app on :9464.
 */
const SETUP = `set -e
mkdir -p /etc/apt/keyrings
curl -fsS http://packages.lab:8080/debian/gpg.key -o /etc/apt/keyrings/drover-lab-debian.asc
echo 'deb [signed-by=/etc/apt/keyrings/drover-lab-debian.asc] http://packages.lab:8080/debian bookworm main' >/etc/apt/sources.list.d/debian.list
apt-get update -q >/dev/null
curl -fsS http://packages.lab:8080/pool/main/t/tta-dev-app-standin/tta-dev-app-standin_1.0.0_all.deb -o /tmp/app.deb
dpkg -i /tmp/app.deb >/dev/null 2>&1
rm -f /tmp/app.deb
for i in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:9464/metrics 2>/dev/null && exit 0; sleep 0.1; done
echo "the app did not start" >&2; exit 1
`;

async function sh(script: string): Promise<string> {
  const r = await onHost(HOST, script);
  assert.equal(r.code, 0, `${script}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

/** Prometheus's view of a scrape job's targets, once a scrape has happened (or the last answer). */
async function targetHealth(job: string): Promise<string> {
  let last = "";
  for (let i = 0; i < 90; i++) {
    last = await sh(
      `curl -fsS http://127.0.0.1:9090/api/v1/targets | python3 -c 'import json,sys; print(" ".join(t["scrapeUrl"] + "=" + t["health"] for t in json.load(sys.stdin)["data"]["activeTargets"] if t["labels"]["job"] == "${job}"))'`,
    );
    if (!/=unknown$|^$/.test(last)) return last;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return last;
}

Deno.test({
  name:
    `optional roles on ${HOST}: Debian's prometheus scrapes the app, Grafana (stand-in) from the Grafana repo with it as datasource`,
  ...sanitize,
  fn: async (t) => {
    await labUp([HOST]);
    await labReset(HOST);
    const subset = await new Deno.Command("bash", {
      args: [`${ROOT}/test/lab/debian/subset.sh`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assert.equal(subset.code, 0, dec.decode(subset.stdout) + dec.decode(subset.stderr));
    await sh(SETUP);
    const before = (await onHost(HOST, SNAPSHOT)).stdout;
    assert.equal(lineOf(before, "unit prometheus"), "unit prometheus  inactive");

    await withTempDir(async (dir) => {
      const inv = await labInventory(dir, [HOST]);
      let predicted: string[] = [];

      await t.step("parallel mode refuses: the stack's prometheus holds 9090", async () => {
        const r = await drover([
          "playbooks/migrate.yml",
          "-i",
          inv,
          "--check",
          ...VARS,
          ...BOTH,
          "-e",
          "migration_mode=parallel",
        ]);
        assert.equal(r.code, 2, r.stdout);
        assert.match(r.stdout, /install_local_prometheus needs port 9090/);
      });

      await t.step("--check predicts both roles and changes nothing", async () => {
        const check = await drover([
          "playbooks/migrate.yml",
          "-i",
          inv,
          "--check",
          ...VARS,
          ...BOTH,
        ]);
        assert.equal(check.code, 0, check.stdout + check.stderr);
        assert.deepEqual(diffLines(before, (await onHost(HOST, SNAPSHOT)).stdout), []);
        predicted = changedTasks(check.stdout)[HOST] ?? [];
        for (
          const task of [
            "local-prometheus : prometheus package (Debian's)",
            "local-prometheus : Prometheus scrapes the app (tta-dev-app at localhost:9464)",
            "local-prometheus : reload prometheus",
            "local-grafana : grafana package",
            "local-grafana : The local Prometheus as Grafana's default datasource",
            "local-grafana : grafana-server enabled and started",
            "local-grafana : restart grafana-server",
          ]
        ) assert.ok(predicted.includes(task), `${task} not predicted: ${predicted.join(", ")}`);
      });

      await t.step("the real run changes what --check predicted; both run", async () => {
        const run = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS, ...BOTH]);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.deepEqual(changedTasks(run.stdout)[HOST] ?? [], predicted);
        const s = (await onHost(HOST, SNAPSHOT)).stdout;
        assert.equal(lineOf(s, "unit prometheus"), "unit prometheus enabled active");
        assert.equal(lineOf(s, "unit grafana-server"), "unit grafana-server enabled active");
        assert.equal(lineOf(s, "unit alloy"), "unit alloy enabled active");
        // Debian's own package, without its recommended node exporter.
        assert.match(
          lineOf(s, "pkg prometheus ") ?? "",
          /^pkg prometheus 2\.\S+ Debian Go Packaging Team/,
        );
        assert.doesNotMatch(
          await sh("dpkg-query -W -f='${db:Status-Abbrev}' prometheus-node-exporter 2>&1 || true"),
          /^ii/,
        );
        assert.match(lineOf(s, "pkg grafana ") ?? "", /^pkg grafana 11\.3\.0 drover test lab/);
        assert.equal(
          await targetHealth("tta-dev-app"),
          "http://localhost:9464/metrics=up",
          "Prometheus scrapes the app",
        );
        const health = JSON.parse(await sh("curl -fsS http://127.0.0.1:3000/api/health"));
        assert.equal(health.database, "ok");
        const ds = JSON.parse(await sh("curl -fsS http://127.0.0.1:3000/api/datasources"));
        assert.deepEqual(
          ds.map((d: Record<string, unknown>) => [d.name, d.type, d.url, d.isDefault]),
          [["Prometheus (local)", "prometheus", "http://localhost:9090", true]],
        );
        assert.equal(
          await sh(
            "stat -c '%a %U %G' /etc/grafana/provisioning/datasources/drover-prometheus.yaml",
          ),
          "640 root grafana",
        );
      });

      await t.step("a second run reports changed=0", async () => {
        const again = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS, ...BOTH]);
        assert.equal(again.code, 0, again.stdout + again.stderr);
        assert.equal(recap(again.stdout)[HOST].changed, 0, again.stdout);
      });

      await t.step("grafana without the local Prometheus: the datasource goes", async () => {
        const r = await drover([
          "playbooks/migrate.yml",
          "-i",
          inv,
          ...VARS,
          "-e",
          "install_local_grafana=true",
          "--tags",
          "local-grafana",
        ]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.deepEqual(changedTasks(r.stdout)[HOST], [
          "local-grafana : No datasource without the local Prometheus",
          "local-grafana : restart grafana-server",
        ]);
        assert.equal(await sh("curl -fsS http://127.0.0.1:3000/api/datasources"), "[]");
      });
    });
  },
});
