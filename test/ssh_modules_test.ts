/**
 * The core modules over SSH against three lab hosts with real systemd, driven
 * through drover's CLI as a user would run it. Every scenario runs `--check`
 * first (nothing on the host may change, and the tasks it reports changed are
 * the ones the real run then changes), then for real (the host's state is
 * asserted), then again (nothing changes).
 *
 * Run: `DROVER_TEST_HOSTS=lab5,lab6,lab7 deno test -A --quiet test/ssh_modules_test.ts`
 * (default hosts lab1..lab3). Hosts are reset only when an earlier run left
 * them in a state a scenario cannot start from.
 */
import assert from "node:assert/strict";
import { changedTasks, drover, type DroverRun, recap, withTempDir } from "./helpers.ts";
import { labInventory, labReset, labUp, onHost, TEST_HOSTS } from "./lab_helpers.ts";

const [H1, H2, H3] = TEST_HOSTS;
const FIX = "test/fixtures/lab";
const HOSTS_DIR = "/var/lib/drover-lab/hosts";
const SSH_CONFIG = "/var/lib/drover-lab/ssh_config";
const REPO_DIR = "/var/cache/drover-lab/repo";
const REPO_NETNS = "drlab-repo";
const REPO_ADDR = "10.87.0.2";
const sanitize = { sanitizeOps: false, sanitizeResources: false };

/** The lab address of a host (lab N is 10.87.0.(10+N)). */
function addr(host: string): string {
  return `10.87.0.${10 + Number(host.replace(/^lab/, ""))}`;
}

/** Run a script on a host as root; it must succeed. Returns trimmed stdout. */
async function sh(host: string, script: string): Promise<string> {
  const r = await onHost(host, script);
  assert.equal(r.code, 0, `on ${host}: ${script}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

function out(r: DroverRun): string {
  return `${r.stdout}\n${r.stderr}`;
}

// ------------------------------------------------------------ host snapshots

/** Paths of the overlay upper dir that change without anyone asking (logs, dockerd's own state). */
const UPPER_NOISE = ["var/log", "var/lib/docker", "var/lib/containerd"];

/**
 * Everything a run could change on a host: each path of its overlay upper dir
 * (type, mode, owner, size, mtime), the units that are active, docker's
 * containers, images and volumes, and the live firewall rules.
 */
async function snapshot(host: string): Promise<string> {
  const upper = `${HOSTS_DIR}/${host}/upper`;
  const prune = UPPER_NOISE.flatMap((p, i) => [...(i ? ["-o"] : []), "-path", `${upper}/${p}`]);
  const find = await new Deno.Command("find", {
    args: [
      upper,
      "-xdev",
      "(",
      ...prune,
      ")",
      "-prune",
      "-o",
      "-printf",
      "%y %m %u %g %s %T@ %P\n",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.equal(find.code, 0, dec.decode(find.stderr));
  const files = dec.decode(find.stdout).split("\n").sort().join("\n");
  const live = await sh(
    host,
    `systemctl list-units --state=active --no-legend --plain | awk '{print $1}' | grep -v '^session-' | sort
if command -v docker >/dev/null; then
  docker ps -a --format '{{.Names}} {{.State}}' | sort
  docker images --format '{{.Repository}}:{{.Tag}}' | sort
  docker volume ls -q | sort
fi
echo "rules $( (iptables-save; ip6tables-save) 2>/dev/null | grep -v '^#' | sed 's/\\[[0-9:]*\\]//' | sha256sum)"`,
  );
  return `${files}\n---\n${live}`;
}

async function snapshots(hosts: string[]): Promise<string[]> {
  return await Promise.all(hosts.map(snapshot));
}

// ------------------------------------------------------------ start states

/**
 * Reset each host for which `ready` (a shell test run on the host) fails: a
 * scenario resets only the hosts an earlier run (or a user) left in a state it
 * cannot start from.
 */
async function resetUnless(hosts: string[], ready: string): Promise<void> {
  for (const h of hosts) {
    if ((await onHost(h, ready)).code === 0) continue;
    await labReset(h);
    trace(`reset ${h}`);
  }
}

/** No alloy, and no source of the lab repository (another signed-by would conflict). */
const NO_ALLOY =
  "! dpkg -s alloy >/dev/null 2>&1 && [ ! -e /etc/alloy ] && [ ! -e /etc/default/alloy ] " +
  "&& ! grep -rEqs '^[^#]*packages\\.lab:8080' /etc/apt/sources.list.d /etc/apt/sources.list";

/** Undo the services scenario (the alloy user stays, as after a purge). */
const REMOVE_ALLOY = "systemctl disable --now alloy >/dev/null 2>&1; " +
  "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q alloy >/dev/null 2>&1; rm -rf /etc/alloy; " +
  "rm -f /etc/apt/sources.list.d/drover-lab.list /etc/apt/keyrings/drover-lab.asc " +
  "/var/lib/apt/lists/packages.lab:8080_*";

/** The seed's compose stack is there: 5 containers running, their 5 images, 3 volumes. */
const STACK_COMPLETE =
  `test "$(docker ps -q --filter label=com.docker.compose.project=ttadev --filter status=running | wc -l) ` +
  `$(docker images -q | wc -l) $(docker volume ls -q | grep -c -e '^ttadev_' -e '^otherproj_data$')" = "5 5 3"`;

// ------------------------------------------------------------ runs

const TRACE = Deno.env.get("DROVER_TEST_TRACE") === "1";
let traceT0 = Date.now();

/** With DROVER_TEST_TRACE=1: seconds since the previous step, on stderr. */
function trace(step: string): void {
  if (!TRACE) return;
  const now = Date.now();
  console.error(`  [${((now - traceT0) / 1000).toFixed(1)} s] ${step}`);
  traceT0 = now;
}

/** Run drover; `what` names the run in assertion messages. */
async function run(what: string, args: string[]): Promise<DroverRun> {
  const r = await drover(args);
  trace(what);
  return r;
}

/**
 * --check (host unchanged, then the same tasks change for real), the real run
 * (then `verify`), and a second run that changes nothing. Returns the runs.
 */
async function converge(
  what: string,
  playbook: string,
  inv: string,
  hosts: string[],
  extra: string[],
  verify: (real: DroverRun) => Promise<void>,
): Promise<{ check: DroverRun; real: DroverRun; again: DroverRun }> {
  const args = [playbook, "-i", inv, "-l", hosts.join(":"), ...extra];
  const before = await snapshots(hosts);
  const check = await run(`${what}: --check`, [...args, "--check", "--diff"]);
  assert.equal(check.code, 0, `${what}: --check failed:\n${out(check)}`);
  const afterCheck = await snapshots(hosts);
  for (let i = 0; i < hosts.length; i++) {
    assert.equal(afterCheck[i], before[i], `${what}: --check changed ${hosts[i]}`);
  }
  assertDiffsNotEmpty(check.stdout);
  const real = await run(`${what}: real run`, args);
  assert.equal(real.code, 0, `${what}: the real run failed:\n${out(real)}`);
  assert.deepEqual(
    changedTasks(check.stdout),
    changedTasks(real.stdout),
    `${what}: --check predicted other changes than the real run made:\n${check.stdout}\n${real.stdout}`,
  );
  await verify(real);
  trace(`${what}: host state checked`);
  const again = await run(`${what}: second run`, args);
  assert.equal(again.code, 0, `${what}: the second run failed:\n${out(again)}`);
  for (const h of hosts) {
    assert.equal(
      recap(again.stdout)[h]?.changed,
      0,
      `${what}: the second run changed ${h}:\n${again.stdout}`,
    );
  }
  return { check, real, again };
}

/** Every diff --diff prints has at least one hunk (no bare ---/+++ headers). */
function assertDiffsNotEmpty(stdout: string): void {
  const lines = stdout.split("\n");
  lines.forEach((l, i) => {
    if (l.startsWith("--- before: ")) {
      assert.match(lines[i + 1] ?? "", /^\+\+\+ after: /, stdout);
      assert.match(lines[i + 2] ?? "", /^@@ /, `an empty diff of ${l.slice(12)}:\n${stdout}`);
    }
  });
}

/** `fn` on every host at once (index as in `hosts`). */
async function eachHost(
  hosts: string[],
  fn: (host: string, i: number) => Promise<void>,
): Promise<void> {
  await Promise.all(hosts.map((h, i) => fn(h, i)));
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// ------------------------------------------------------------ scenarios

Deno.test({
  name:
    "ssh modules: packages from the signed lab repo, templates, and a service enabled, started, reloaded, restarted, and running after a reboot",
  ...sanitize,
  fn: async () => {
    await labUp(3);
    await resetUnless(TEST_HOSTS, NO_ALLOY);
    try {
      await services();
    } finally {
      await Promise.all(TEST_HOSTS.map((h) => onHost(h, REMOVE_ALLOY)));
    }
  },
});

async function services(): Promise<void> {
  await withTempDir(async (dir) => {
    const inv = await labInventory(dir);
    const pb = `${FIX}/services.yml`;
    const ready = (h: string) =>
      sh(
        h,
        "for i in $(seq 50); do curl -fsS --max-time 1 http://127.0.0.1:12345/-/ready && exit 0; sleep 0.1; done; exit 1",
      );
    const mainPid = (h: string) => sh(h, "systemctl show -p MainPID --value alloy");
    const reloads = async (h: string) =>
      Number(
        await sh(
          h,
          "curl -fsS http://127.0.0.1:12345/metrics | sed -n 's/^alloy_config_reloads_total //p'",
        ),
      );

    // 1. From nothing: repo + key, package, two templates, enabled and started.
    const first = await converge("install", pb, inv, TEST_HOSTS, [], async () => {
      await eachHost(TEST_HOSTS, async (h) => {
        assert.equal(
          await sh(h, "dpkg-query -W -f '${Status} ${Version}' alloy"),
          "install ok installed 1.13.0",
        );
        assert.match(
          await sh(h, "cat /etc/apt/sources.list.d/drover-lab.list"),
          /^deb \[signed-by=\/etc\/apt\/keyrings\/drover-lab\.asc\] http:\/\/packages\.lab:8080 stable main$/m,
        );
        assert.equal(
          await sh(h, "stat -c '%a %U %G' /etc/apt/keyrings/drover-lab.asc"),
          "644 root root",
        );
        assert.equal(await sh(h, "stat -c '%a %U %G' /etc/alloy/config.alloy"), "640 root alloy");
        const conf = await sh(h, "cat /etc/alloy/config.alloy");
        assert.match(conf, new RegExp(`^// Host ${h}: `, "m"));
        assert.match(conf, /^\tlevel = "warn"$/m);
        assert.match(
          await sh(h, "cat /etc/default/alloy"),
          /^CUSTOM_ARGS="--server\.http\.listen-addr=127\.0\.0\.1:12345 --stability\.level=generally-available"$/m,
        );
        assert.equal(await sh(h, "systemctl is-enabled alloy"), "enabled");
        assert.equal(await sh(h, "systemctl is-active alloy"), "active");
        assert.equal(await ready(h), "Alloy is ready.");
      });
    });
    for (const h of TEST_HOSTS) {
      assert.deepEqual(changedTasks(first.real.stdout)[h], [
        "Lab repository and its key",
        "Alloy installed",
        "Alloy config",
        "Alloy environment",
        "Alloy enabled and started",
        "restart alloy",
        "reload alloy",
      ]);
    }

    // 2. A changed config reloads the service: same process, one more reload.
    const pids = await Promise.all(TEST_HOSTS.map(mainPid));
    const before = await Promise.all(TEST_HOSTS.map(reloads));
    const reload = await converge(
      "reload",
      pb,
      inv,
      TEST_HOSTS,
      ["-e", "alloy_log_level=info"],
      () =>
        eachHost(TEST_HOSTS, async (h, i) => {
          assert.match(await sh(h, "cat /etc/alloy/config.alloy"), /^\tlevel = "info"$/m);
          assert.equal(await mainPid(h), pids[i], `alloy on ${h} was restarted, not reloaded`);
          assert.equal(await reloads(h), before[i] + 1);
        }),
    );
    assert.deepEqual(changedTasks(reload.real.stdout)[H1], ["Alloy config", "reload alloy"]);
    // The --diff of the config shows the old line removed, then the new one (as diff -u does).
    const diffs = reload.check.stdout.split("--- before: /etc/alloy/config.alloy\n").slice(1);
    assert.equal(diffs.length, TEST_HOSTS.length, reload.check.stdout);
    for (const d of diffs) {
      assert.match(d, /^-\tlevel = "warn"\n\+\tlevel = "info"$/m, `diff order:\n${d}`);
    }

    // 3. A changed environment file restarts it: a new process with the new arguments.
    const restart = await converge(
      "restart",
      pb,
      inv,
      TEST_HOSTS,
      ["-e", "alloy_log_level=info", "-e", "alloy_stability=public-preview"],
      () =>
        eachHost(TEST_HOSTS, async (h, i) => {
          const pid = await mainPid(h);
          assert.notEqual(pid, pids[i], `alloy on ${h} was not restarted`);
          assert.match(
            await sh(h, `tr '\\0' ' ' < /proc/${pid}/cmdline`),
            /--stability\.level=public-preview/,
          );
          assert.equal(await ready(h), "Alloy is ready.");
        }),
    );
    assert.deepEqual(changedTasks(restart.real.stdout)[H2], [
      "Alloy environment",
      "restart alloy",
    ]);

    // 4. The service comes back after a reboot of the host, and the play still has nothing to do.
    await sh(H1, "touch /run/drover-before-reboot");
    await onHost(H1, "systemctl reboot"); // the ssh session may drop: its result does not matter
    await waitRebooted(H1);
    assert.equal(await sh(H1, "systemctl is-enabled alloy"), "enabled");
    assert.equal(await sh(H1, "systemctl is-active alloy"), "active");
    assert.equal(await ready(H1), "Alloy is ready.");
    trace("rebooted");
    const after = await run("after the reboot", [
      pb,
      "-i",
      inv,
      "-l",
      H1,
      "-e",
      "alloy_log_level=info",
      "-e",
      "alloy_stability=public-preview",
    ]);
    assert.equal(after.code, 0, `after the reboot:\n${out(after)}`);
    assert.equal(recap(after.stdout)[H1].changed, 0, `after the reboot:\n${after.stdout}`);
  });
}

/** Wait until `host` has rebooted (the marker in /run is gone) and systemd is up. */
async function waitRebooted(host: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  let last = "";
  while (Date.now() < deadline) {
    const r = await new Deno.Command("ssh", {
      args: [
        "-F",
        SSH_CONFIG,
        "-o",
        "ConnectTimeout=2",
        "-o",
        "BatchMode=yes",
        host,
        "test ! -e /run/drover-before-reboot && systemctl is-system-running --wait",
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output().catch((e) => ({ code: -1, stdout: new Uint8Array(), stderr: String(e) }));
    last = new TextDecoder().decode(r.stdout).trim();
    if (last === "running" || last === "degraded") return;
    await new Promise((res) => setTimeout(res, 300));
  }
  throw new Error(`${host} did not come back after the reboot (last answer: '${last}')`);
}

Deno.test({
  name:
    "ssh modules: files are put atomically — bytes intact, a temp file beside the target with its mode and owner, then a rename",
  ...sanitize,
  fn: async () => {
    await labUp(3);
    await withTempDir(async (dir) => {
      const inv = await labInventory(dir);
      const blob = new Uint8Array(10245);
      for (let i = 0; i < blob.length; i++) blob[i] = (i * 7 + (i >> 8)) % 256;
      blob.set([0xff, 0xfe, 0x00, 0xc3, 0x28], blob.length - 5); // never valid UTF-8
      await Deno.writeFile(`${dir}/blob.bin`, blob);
      const big = Array.from({ length: 8000 }, (_, i) => `line ${i} of a file over 256 KiB\n`).join(
        "",
      );
      await Deno.writeTextFile(`${dir}/big.txt`, big);
      const vars = ["-e", `blob=${dir}/blob.bin`, "-e", `big=${dir}/big.txt`];
      const pb = `${FIX}/files.yml`;
      const D = "/opt/drover-put";
      await sh(H1, `rm -rf ${D}`);
      try {
        const first = await converge("put", pb, inv, [H1], vars, async () => {
          assert.equal(
            await sh(
              H1,
              `sha256sum < ${D}/blob.bin | cut -d' ' -f1; stat -c '%a %s' ${D}/blob.bin`,
            ),
            `${await sha256Hex(blob)}\n600 ${blob.length}`,
          );
          assert.equal(
            await sh(H1, `sha256sum < ${D}/big.txt | cut -d' ' -f1`),
            await sha256Hex(new TextEncoder().encode(big)),
          );
          assert.equal(await sh(H1, `stat -c '%a %U %G' ${D}/put.conf`), "640 dev dev");
          assert.match(
            await sh(H1, `cat ${D}/put.conf`),
            new RegExp(`^greeting = hello\nhost = ${H1}$`, "m"),
          );
          // validate ran on the new file before the rename: beside the target, mode and owner set.
          const seen = (await sh(H1, `cat ${D}/validate.log`)).split("\n");
          assert.equal(seen.length, 1);
          assert.match(seen[0], new RegExp(`^640 dev dev ${D}/\\.drover\\.[A-Za-z0-9]+$`));
          assert.equal(await sh(H1, `ls -A ${D} | grep -c '^\\.drover' || true`), "0");
        });
        // A binary file is summarised in --diff, never dumped.
        assert.match(first.check.stdout, /\+\(binary, 10245 bytes, sha256 [0-9a-f]{64}\)/);

        // Replacing a file renames a new inode over it: a hard link to the old one keeps the old text.
        await sh(H1, `ln ${D}/put.conf ${D}/old-link`);
        const inode = await sh(H1, `stat -c %i ${D}/put.conf`);
        await converge("replace", pb, inv, [H1], [...vars, "-e", "greeting=bonjour"], async () => {
          assert.match(await sh(H1, `cat ${D}/put.conf`), /^greeting = bonjour$/m);
          assert.match(await sh(H1, `cat ${D}/old-link`), /^greeting = hello$/m);
          assert.notEqual(await sh(H1, `stat -c %i ${D}/put.conf`), inode);
          assert.equal(await sh(H1, `stat -c '%a %U %G' ${D}/put.conf`), "640 dev dev");
        });

        // A new file that does not validate is dropped: the old one stays, no temp file is left.
        const bad = await drover([pb, "-i", inv, "-l", H1, ...vars, "-e", "greeting=broken"]);
        assert.equal(bad.code, 2, out(bad));
        assert.match(bad.stdout, new RegExp(`fatal: \\[${H1}\\]: FAILED!.*did not validate`));
        assert.match(await sh(H1, `cat ${D}/put.conf`), /^greeting = bonjour$/m);
        assert.equal(await sh(H1, `ls -A ${D} | grep -c '^\\.drover' || true`), "0");
      } finally {
        await onHost(H1, `rm -rf ${D}`);
      }
    });
  },
});

/**
 * Serve copies of the lab repository from the repo's network namespace on
 * another port: `good/` as built, `tampered/` with the signed InRelease
 * changed (so apt reports BADSIG). The shared repository on :8080 is never
 * touched. The server is stopped (by its PID) and the copies removed after fn.
 */
async function withRepoCopies<T>(fn: (base: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "drover-repo-copy-" });
  const port = 8100 + Number(H3.replace(/^lab/, ""));
  let child: Deno.ChildProcess | undefined;
  try {
    for (const sub of ["good", "tampered"]) {
      const cp = await new Deno.Command("cp", { args: ["-a", `${REPO_DIR}/.`, `${dir}/${sub}`] })
        .output();
      assert.equal(cp.code, 0, `cp ${REPO_DIR} failed`);
    }
    for (const f of ["InRelease", "Release"]) {
      const p = `${dir}/tampered/dists/stable/${f}`;
      const text = await Deno.readTextFile(p);
      const changed = text.replace(/^Label: (.*)$/m, "Label: $1 (tampered)");
      assert.notEqual(changed, text, `no Label: line in ${p}`);
      await Deno.writeTextFile(p, changed);
    }
    child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        REPO_NETNS,
        "python3",
        "-m",
        "http.server",
        "--bind",
        REPO_ADDR,
        String(port),
        "--directory",
        dir,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const base = `http://packages.lab:${port}`;
    let up = false;
    for (let i = 0; i < 50 && !up; i++) {
      const r = await onHost(H3, `curl -fsS -o /dev/null --max-time 1 ${base}/good/gpg.key`);
      up = r.code === 0;
      if (!up) await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(up, `the repo copy on ${REPO_ADDR}:${port} does not answer (port taken?)`);
    return await fn(base);
  } finally {
    if (child) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name:
    "ssh modules: apt checks the repo's signature — a wrong key gives NO_PUBKEY, a tampered InRelease BADSIG, and the task fails naming the host",
  ...sanitize,
  fn: async () => {
    await labUp(3);
    await withTempDir(async (dir) => {
      const inv = await labInventory(dir);
      const pb = `${FIX}/signature.yml`;
      const cleanup =
        "rm -f /etc/apt/sources.list.d/drover-sig.list /etc/apt/keyrings/drover-sig.asc " +
        "/var/lib/apt/lists/*_good_dists_* /var/lib/apt/lists/*_tampered_dists_*";
      // The scenario needs a host without alloy or the app (an earlier test file, e.g. the
      // migration's, may have installed it on this host): start it fresh then.
      const had = await onHost(
        H3,
        "dpkg-query -W -f='${Status}\\n' alloy tta-dev-app-standin 2>/dev/null || true\n",
      );
      if (had.stdout.includes("installed")) await labReset(H3);
      await sh(H3, cleanup);
      try {
        await withRepoCopies(async (base) => {
          // Each run starts without the source: apt_repository adds a line per URI, as Ansible's does.
          const attempt = async (repo: string, key: string, refresh: boolean) => {
            await sh(H3, cleanup);
            return await run(`signature ${repo.split("/").pop()} ${key.split("/").pop()}`, [
              pb,
              "-i",
              inv,
              "-l",
              H3,
              "-e",
              `sig_repo=${repo}`,
              "-e",
              `sig_key=${key}`,
              "-e",
              `sig_refresh=${refresh}`,
            ]);
          };
          const failedTask = (r: DroverRun, task: string, why: RegExp) => {
            assert.equal(r.code, 2, out(r));
            const at = r.stdout.indexOf(`TASK [${task}]`);
            assert.ok(at >= 0, r.stdout);
            assert.match(
              r.stdout.slice(at),
              new RegExp(
                `^TASK \\[${
                  task.replace(/[()]/g, "\\$&")
                }\\] \\**\nfatal: \\[${H3}\\]: FAILED! => .*${why.source}`,
              ),
            );
            assert.equal(recap(r.stdout)[H3].failed, 1);
          };
          // The source task refreshes its own lists: it fails and puts the old files back.
          const own = await attempt(`${base}/good`, `${base}/good/wrong.key`, true);
          failedTask(own, "Stand-in repository", /NO_PUBKEY [0-9A-F]{16}/);
          assert.match(own.stdout, /the previous sources were restored/);
          assert.equal(
            await sh(
              H3,
              "ls /etc/apt/sources.list.d/drover-sig.list /etc/apt/keyrings/drover-sig.asc 2>/dev/null | wc -l",
            ),
            "0",
          );
          // The source is added without a refresh: the package task's apt-get update fails.
          const wrong = await attempt(`${base}/good`, `${base}/good/wrong.key`, false);
          failedTask(wrong, "A package from it", /NO_PUBKEY [0-9A-F]{16}/);
          const tampered = await attempt(`${base}/tampered`, `${base}/tampered/gpg.key`, false);
          failedTask(tampered, "A package from it", /BADSIG [0-9A-F]{16}/);
          assert.equal(
            await sh(
              H3,
              "dpkg-query -W -f '${Status}' tta-dev-app-standin 2>/dev/null || echo absent",
            ),
            "absent",
          );
          // Control: the same copy with its own key installs.
          const good = await attempt(`${base}/good`, `${base}/good/gpg.key`, false);
          assert.equal(good.code, 0, out(good));
          assert.equal(
            await sh(H3, "dpkg-query -W -f '${Status}' tta-dev-app-standin"),
            "install ok installed",
          );
        });
      } finally {
        await onHost(
          H3,
          `apt-get purge -y -q tta-dev-app-standin >/dev/null 2>&1; ${cleanup}`,
        );
      }
    });
  },
});

Deno.test({
  name:
    "ssh modules: the seed's compose project goes down with its images and volumes, another project's volume stays",
  ...sanitize,
  fn: async () => {
    await labUp(3);
    const hosts = [H2, H3];
    await resetUnless(hosts, STACK_COMPLETE);
    await withTempDir(async (dir) => {
      const inv = await labInventory(dir);
      const images = [
        "jaegertracing/all-in-one:1.52",
        "prom/prometheus:v2.48.1",
        "grafana/grafana:10.2.3",
        "otel/opentelemetry-collector-contrib:0.91.0",
        "prom/pushgateway:v1.6.2",
      ];
      for (const h of hosts) {
        assert.deepEqual(
          (await sh(h, "docker images --format '{{.Repository}}:{{.Tag}}'")).split("\n").sort(),
          [...images].sort(),
        );
      }
      // H3 lets Compose remove images and volumes; H2 goes the migration's way.
      const r = await converge(
        "compose down",
        `${FIX}/docker.yml`,
        inv,
        hosts,
        ["-e", JSON.stringify({ compose_cleanup_hosts: [H3] })],
        () =>
          eachHost(hosts, async (h) => {
            assert.equal(await sh(h, "docker ps -aq | wc -l"), "0");
            assert.equal(await sh(h, "docker images -q | wc -l"), "0");
            assert.equal(await sh(h, "docker volume ls -q"), "otherproj_data");
            assert.equal(await sh(h, "systemctl is-active docker"), "active");
          }),
      );
      assert.deepEqual(changedTasks(r.real.stdout)[H3], ["Compose down, images and volumes too"]);
      assert.deepEqual(changedTasks(r.real.stdout)[H2], [
        "Compose down",
        "Stack images removed",
        "Stack volumes removed (this project only)",
      ]);
    });
  },
});

Deno.test({
  name:
    "ssh modules: ufw denies incoming but ssh and one port — checked with curl from another lab host",
  ...sanitize,
  fn: async () => {
    await labUp(3);
    await withTempDir(async (dir) => {
      const inv = await labInventory(dir);
      const [open, closed] = [8001, 8002];
      const a = addr(H2);
      await resetUnless([H2], "ufw status | grep -qx 'Status: inactive'");
      const probe = async () => {
        const codes: string[] = [];
        for (const p of [open, closed]) {
          const r = await onHost(
            H3,
            `curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://${a}:${p}/; echo " $?"`,
          );
          codes.push(r.stdout.trim());
        }
        return codes;
      };
      try {
        await sh(
          H2,
          [open, closed].map((p) =>
            `systemd-run --unit=drover-test-http-${p} --quiet python3 -m http.server --bind ${a} ${p}`
          ).join("\n") +
            `\nfor i in $(seq 50); do curl -fso /dev/null http://${a}:${open}/ && curl -fso /dev/null http://${a}:${closed}/ && exit 0; sleep 0.1; done; exit 1`,
        );
        assert.deepEqual(await probe(), ["200 0", "200 0"]);
        let checked: string[] = [];
        const r = await converge(
          "ufw",
          `${FIX}/ufw.yml`,
          inv,
          [H2],
          ["-e", `ufw_port=${open}`],
          async () => {
            const status = await sh(H2, "ufw status verbose");
            assert.match(status, /^Status: active$/m);
            assert.match(status, /^Default: deny \(incoming\)/m);
            assert.match(
              status,
              new RegExp(`^${open}/tcp +ALLOW IN +Anywhere +# drover test port$`, "m"),
            );
            assert.match(status, /^22\/tcp +ALLOW IN +Anywhere +# ssh$/m);
            checked = await probe();
          },
        );
        // After the real run: the allowed port answers, the other times out (curl exit 28).
        assert.deepEqual(checked, ["200 0", "000 28"]);
        assert.ok(changedTasks(r.real.stdout)[H2].includes("Firewall on"));
      } finally {
        await labReset(H2);
      }
    });
  },
});
