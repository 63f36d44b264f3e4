/**
 * The migration's RHEL path on a real lab host made RHEL-like by
 * test/lab/rhel/prepare.sh: Debian 12 underneath, with Debian's dnf, rpm and
 * firewalld, rpm's database in /var/lib/rpm, no ufw, and Rocky Linux 9's
 * /etc/os-release. What runs for real: fact gathering (os_family RedHat,
 * pkg_mgr dnf, firewall firewalld), rpm --import, /etc/yum.repos.d, `dnf
 * install alloy` from the lab's signed rpm repository (gpgcheck and
 * repo_gpgcheck), the rpm's scriptlets and unit, /etc/sysconfig/alloy,
 * firewall-cmd, `dnf remove`. What does not: a Rocky userland (glibc,
 * systemd, python, SELinux are Debian's or absent).
 *
 * The host is DROVER_RHEL_HOST (default lab4); it is reset first.
 */
import assert from "node:assert/strict";
import { changedTasks, drover, recap, ROOT, withTempDir } from "./helpers.ts";
import {
  diffLines,
  INSTALL_APP,
  labInventory,
  labReset,
  labUp,
  lineOf,
  onHost,
} from "./lab_helpers.ts";

const sanitize = { sanitizeOps: false, sanitizeResources: false };
const HOST = Deno.env.get("DROVER_RHEL_HOST") ?? "lab4";
const VARS = ["-e", "@test/lab/migrate-vars.yml"];
const TOKEN = "glc_MARKER_SECRET_TOKEN_123";
const COMPOSE = "cd /home/dev/TTA.dev && docker-compose -f docker-compose.integration.yml";

/** /etc byte for byte with modes and owners, unit states, firewalld ports, the stack. */
const SNAPSHOT = `find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum
find /etc -xdev -type l -printf '%p -> %l\\n' | sort
find /etc -xdev -printf '%p %m %u %g\\n' | sort
for u in alloy docker firewalld; do echo "unit $u $(systemctl is-enabled $u 2>/dev/null) $(systemctl is-active $u 2>/dev/null)"; done
z=$(firewall-cmd --get-default-zone 2>/dev/null)
echo "ports runtime: $(firewall-cmd --zone="$z" --list-ports 2>&1)"
echo "ports permanent: $(firewall-cmd --permanent --zone="$z" --list-ports 2>&1)"
echo "rpm alloy: $(rpm -q alloy 2>&1)"
echo "containers: $(${COMPOSE} ps -q 2>/dev/null | wc -l)"
`;

async function snapshot(): Promise<string> {
  const r = await onHost(HOST, SNAPSHOT);
  return r.stdout;
}

async function sh(script: string): Promise<string> {
  const r = await onHost(HOST, script);
  assert.equal(r.code, 0, `${script}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

Deno.test({
  name:
    `migrate on a RHEL-like lab host (${HOST}): dnf from the signed rpm repo, /etc/sysconfig/alloy, firewalld, verify, rollback`,
  ...sanitize,
  fn: async (t) => {
    await labUp([HOST]);
    await labReset(HOST);
    const prep = await new Deno.Command("bash", {
      args: [`${ROOT}/test/lab/rhel/prepare.sh`, HOST],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assert.equal(prep.code, 0, dec.decode(prep.stdout) + dec.decode(prep.stderr));
    assert.match(await sh("cat /etc/os-release"), /^ID="rocky"$/m);
    assert.equal(await sh("firewall-cmd --state"), "running");
    assert.equal(await sh("command -v ufw || echo none"), "none");
    await sh(INSTALL_APP);
    const before = await snapshot();
    assert.equal(lineOf(before, "containers:"), "containers: 5", "the stack runs before migrate");
    assert.equal(lineOf(before, "rpm alloy:"), "rpm alloy: package alloy is not installed");

    await withTempDir(async (dir) => {
      const inv = await labInventory(dir, [HOST]);
      let predicted: string[] = [];

      await t.step("--check takes the rpm path and changes nothing", async () => {
        const check = await drover(["playbooks/migrate.yml", "-i", inv, "--check", ...VARS]);
        assert.equal(check.code, 0, check.stdout + check.stderr);
        assert.deepEqual(diffLines(before, await snapshot()), [], "changed by --check");
        predicted = changedTasks(check.stdout)[HOST] ?? [];
        for (
          const task of [
            "install-alloy : Grafana rpm signing key",
            "install-alloy : Grafana yum/dnf repository",
            "install-alloy : alloy package",
            "configure : Alloy environment file with the token (0600 root)",
            "switch : Stop the Docker observability stack",
            "switch : alloy enabled and started",
          ]
        ) assert.ok(predicted.includes(task), `${task} not predicted: ${predicted.join(", ")}`);
        assert.ok(!predicted.some((t) => /apt|Keyring/.test(t)), predicted.join(", "));
      });

      await t.step("the real run changes exactly what --check predicted", async () => {
        const run = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS]);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.deepEqual(changedTasks(run.stdout)[HOST] ?? [], predicted);
        assert.ok(!run.stdout.includes(TOKEN) && !run.stderr.includes(TOKEN), "token leaked");
        const s = await snapshot();
        assert.equal(lineOf(s, "unit alloy"), "unit alloy enabled active");
        assert.equal(lineOf(s, "rpm alloy:"), "rpm alloy: alloy-1.13.0-1.x86_64");
        assert.equal(lineOf(s, "containers:"), "containers: 0", "the stack is down");
        // The unit is the rpm's, reading the rpm's environment file.
        const unit = await sh(
          'rpm -qf "$(readlink -f "$(systemctl show -P FragmentPath alloy)")"; systemctl show -P Environment alloy',
        );
        assert.match(unit, /^alloy-1\.13\.0-1\.x86_64$/m);
        assert.match(unit, /ALLOY_DEPLOY_MODE=rpm/);
        assert.equal(
          await sh("stat -c '%a %U %G' /etc/sysconfig/alloy; ls /etc/default/alloy 2>&1 || true"),
          "600 root root\nls: cannot access '/etc/default/alloy': No such file or directory",
        );
        assert.equal(await sh(`grep -c '${TOKEN}' /etc/sysconfig/alloy`), "1");
        const repo = await sh("cat /etc/yum.repos.d/grafana.repo");
        assert.match(repo, /^\[grafana\]$/m);
        assert.match(repo, /^baseurl=http:\/\/packages\.lab:8080\/rpm$/m);
        assert.match(repo, /^gpgcheck=1$/m);
        assert.match(repo, /^repo_gpgcheck=1$/m);
        // rpm_key imported the lab's key into rpm's database (not a file in /etc).
        assert.match(await sh("rpm -q gpg-pubkey --qf '%{SUMMARY}\\n'"), /drover lab stand-in/);
        assert.equal(lineOf(s, "ports runtime:"), "ports runtime: ", "OTLP ports stay closed");
        assert.equal(lineOf(s, "ports permanent:"), "ports permanent: ");
        assert.equal(
          await sh("id -nG alloy | tr ' ' '\\n' | sort | tr '\\n' ' '"),
          "adm alloy systemd-journal",
        );
      });

      await t.step("a second run reports changed=0", async () => {
        const again = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS]);
        assert.equal(again.code, 0, again.stdout + again.stderr);
        assert.equal(recap(again.stdout)[HOST].changed, 0, again.stdout);
      });

      await t.step(
        "otlp_external opens 4317/4318 in firewalld, and closes them again",
        async () => {
          const open = await drover([
            "playbooks/migrate.yml",
            "-i",
            inv,
            ...VARS,
            "-e",
            "otlp_external=true",
          ]);
          assert.equal(open.code, 0, open.stdout + open.stderr);
          const opened = changedTasks(open.stdout)[HOST] ?? [];
          assert.ok(opened.includes("firewall : firewalld: OTLP ports open"), opened.join(", "));
          let s = await snapshot();
          assert.equal(lineOf(s, "ports runtime:"), "ports runtime: 4317/tcp 4318/tcp");
          assert.equal(lineOf(s, "ports permanent:"), "ports permanent: 4317/tcp 4318/tcp");
          const close = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS]);
          assert.equal(close.code, 0, close.stdout + close.stderr);
          const closed = changedTasks(close.stdout)[HOST] ?? [];
          assert.ok(closed.includes("firewall : firewalld: OTLP ports closed"), closed.join(", "));
          s = await snapshot();
          assert.equal(lineOf(s, "ports runtime:"), "ports runtime: ");
          assert.equal(lineOf(s, "ports permanent:"), "ports permanent: ");
          assert.equal(lineOf(s, "unit alloy"), "unit alloy enabled active");
        },
      );

      await t.step("verify passes", async () => {
        const v = await drover(["playbooks/verify.yml", "-i", inv]);
        assert.equal(v.code, 0, v.stdout + v.stderr);
        assert.equal(recap(v.stdout)[HOST].failed, 0);
        assert.match(v.stdout, /alloy uses [\d.]+ MB/);
      });

      await t.step(
        "rollback with remove_alloy: dnf removes alloy, /etc byte for byte as before, the stack up",
        async () => {
          const rb = ["playbooks/rollback.yml", "-i", inv, "-e", "remove_alloy=true"];
          const r = await drover(rb);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          assert.deepEqual(diffLines(before, await snapshot()), [], "after rollback");
          const again = await drover(rb);
          assert.equal(again.code, 0, again.stdout);
          assert.equal(recap(again.stdout)[HOST].changed, 0, again.stdout);
        },
      );
    });
  },
});
