/**
 * Safety, part 4: faults are survived. Eight faults on three lab hosts, two
 * or three hosts per run: the host hit by the fault is reported unreachable
 * or failed with the documented exit code (README, CLI: 2 a host failed, 4 a
 * host unreachable, 99 interrupted), the other hosts finish, no file is left
 * half-written (every target file holds its old or its new content, no
 * `.drover.*` temp file is left anywhere), and once the fault is gone a rerun
 * finishes and the next one reports changed=0 on every host.
 *
 * "While a file is being written" is made deterministic with a gate in the
 * file's `validate` command: the new content sits in drover's temp file next
 * to the target, the rename has not happened, and the run holds there until
 * the test opens the gate.
 */
import assert from "node:assert/strict";
import { recap, withTempDir } from "./helpers.ts";
import { labUp, onHost, TEST_HOSTS } from "./lab_helpers.ts";
import {
  FILL_ETC_DEFAULT,
  hostTempFiles,
  INSTALL_APP,
  inventory,
  LAB_STATE,
  leftoverTempFiles,
  local,
  marker,
  onHostOk,
  sanitize,
  startDrover,
  VARS,
} from "./safety_helpers.ts";
import type { DroverRun } from "./helpers.ts";

const [H1, H2, H3] = TEST_HOSTS;
const DIR = "/etc/drover-faults";
const GATE = "/root/drover-faults.gate";
/** A run that does not end within this is a hang (a fault must give a clear failure). */
const HANG_MS = 480_000;

/**
 * Three files per host. On the hosts listed in `gated`, the large file's
 * validate command waits for the gate: the run holds with the new content
 * in a temp file beside the target, before the rename.
 */
const PLAYBOOK = `- hosts: all
  gather_facts: false
  become: true
  vars:
    gate_validate: >-
      sh -c 'touch ${GATE}.waiting; while [ ! -e ${GATE} ]; do sleep 0.1; done; rm -f ${GATE} ${GATE}.waiting'
      && test -s %s
  tasks:
    - name: the directory
      file: { path: ${DIR}, state: directory, mode: "0755" }
    - name: a small file
      copy: { content: "generation {{ gen }}\\n", dest: ${DIR}/small.conf, mode: "0644" }
    - name: a large file
      copy:
        src: "{{ big_src }}"
        dest: ${DIR}/big.txt
        mode: "0644"
        validate: "{{ gate_validate if inventory_hostname in (gated | default([])) else 'test -s %s' }}"
    - name: a last file
      copy: { content: "generation {{ gen }} done\\n", dest: ${DIR}/last.conf, mode: "0644" }
`;

const T0 = Date.now();
/** FAULTS_DEBUG=1 prints what happens when (to see where the time goes). */
function dbg(what: string): void {
  if (Deno.env.get("FAULTS_DEBUG")) {
    console.error(`[${((Date.now() - T0) / 1000).toFixed(1)} s] ${what}`);
  }
}

/** The content of a generation's files. */
function files(gen: string): Record<string, string> {
  const line = `${gen} ${"x".repeat(100)}\n`;
  return {
    "small.conf": `generation ${gen}\n`,
    "big.txt": line.repeat(3_000), // ~300 KB: compared by hash, not by content
    "last.conf": `generation ${gen} done\n`,
  };
}

async function sha256hex(s: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** sha256 of each of the files on a host ("absent" when missing). */
async function hostHashes(host: string, names: string[]): Promise<Record<string, string>> {
  const out = await onHostOk(
    host,
    names.map((n) =>
      `if [ -f ${DIR}/${n} ]; then sha256sum ${DIR}/${n}; else echo "absent ${DIR}/${n}"; fi\n`
    )
      .join(""),
  );
  const r: Record<string, string> = {};
  for (const l of out.split("\n").filter(Boolean)) {
    const [h, p] = l.split(/\s+/);
    r[p.slice(DIR.length + 1)] = h;
  }
  return r;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Poll (every 100 ms, up to `ms`) until `cond` holds; returns whether it did. */
async function until(cond: () => Promise<boolean>, ms = 60_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return await cond();
}

/** The host is holding at the gate (read in its overlay from this machine). */
function atGate(host: string): Promise<boolean> {
  return exists(`${LAB_STATE}/hosts/${host}/upper${GATE}.waiting`);
}

/** Open a host's gate, and wait until the held write went on past it (or 20 s). */
async function openGate(host: string): Promise<void> {
  if (!(await atGate(host))) {
    await onHostOk(host, `rm -f ${GATE}\n`);
    return;
  }
  dbg(`open the gate on ${host}`);
  await onHostOk(host, `touch ${GATE}\n`);
  const upper = `${LAB_STATE}/hosts/${host}/upper`;
  await until(
    async () => !(await exists(upper + GATE)) && !(await exists(`${upper}${GATE}.waiting`)),
    20_000,
  );
  // The rest of the write script (test -s, chmod, mv) takes milliseconds; its temp file goes with it.
  await until(async () => (await leftoverTempFiles(host)).length === 0, 10_000);
  await onHostOk(host, `rm -f ${GATE} ${GATE}.waiting\n`);
  dbg(`gate on ${host} done`);
}

/** Cut (or restore) a host's link, from inside its network namespace. */
async function link(host: string, up: boolean): Promise<void> {
  dbg(`link ${host} ${up ? "up" : "down"}`);
  const r = await local(`ip -n drlab-${host} link set eth0 ${up ? "up" : "down"}`);
  if (r.code !== 0) throw new Error(`link ${host} ${up}: ${r.stderr}`);
}

Deno.test({
  name:
    "faults on the lab: the host hit is unreachable/failed with the documented exit code, the others finish, nothing half-written, reruns converge",
  ...sanitize,
  fn: async (t) => {
    assert.ok(H3, "three test hosts are needed (DROVER_TEST_HOSTS)");
    const fig = { faults: 0, halfWritten: 0, converged: 0 };
    // FAULTS_ONLY=7,8 runs only these faults' steps (and the set-up), to work on them.
    const only = Deno.env.get("FAULTS_ONLY")?.split(",");
    // Fresh hosts (CI) or hosts an earlier run migrated: the faults bite either way (the
    // repository's key is downloaded on every run; /etc/default/alloy is written once migrated),
    // so no host is reset (slow).
    // `lab.sh up` waits for the lab's lock (other runs' resets): skipped when the hosts answer.
    const up = await Promise.all(TEST_HOSTS.map((h) => onHost(h, INSTALL_APP)));
    if (up.some((r) => r.code !== 0)) {
      await labUp(TEST_HOSTS);
      await Promise.all(TEST_HOSTS.map((h) => onHostOk(h, INSTALL_APP)));
    }
    dbg("hosts up");
    const step = (name: string, fn: () => Promise<void>) =>
      t.step({
        name,
        ignore: only !== undefined && !name.startsWith("set-up") &&
          !only.some((n) => name.startsWith(`${n} `)),
        fn,
      });

    await withTempDir(async (dir) => {
      const inv = await inventory(dir, TEST_HOSTS);
      const pb = `${dir}/writes.yml`;
      await Deno.writeTextFile(pb, PLAYBOOK);
      const hashes: Record<string, Record<string, string>> = {};
      const gen = async (g: string) => {
        const f = files(g);
        await Deno.writeTextFile(`${dir}/big-${g}.txt`, f["big.txt"]);
        hashes[g] = Object.fromEntries(
          await Promise.all(Object.entries(f).map(async ([k, v]) => [k, await sha256hex(v)])),
        );
      };

      /** Start drover; a run that does not end within HANG_MS is killed and fails the test. */
      const start = (args: string[], env: Record<string, string> = {}) => {
        const r = startDrover(args, env);
        dbg(`drover ${r.pid} started: ${args.slice(3).join(" ")}`);
        const timer = setTimeout(() => {
          try {
            r.signal("SIGKILL");
          } catch { /* gone */ }
        }, HANG_MS);
        const done = r.done.then((res) => {
          clearTimeout(timer);
          dbg(`drover ${r.pid} ended: ${res.code}`);
          return res;
        });
        return { live: r, done };
      };
      const writes = (
        g: string,
        extra: string[] = [],
        i = inv,
        env: Record<string, string> = {},
      ) =>
        start([pb, "-i", i, "-e", `gen=${g}`, "-e", `big_src=${dir}/big-${g}.txt`, ...extra], env);
      const migrate = (extra: string[] = []) =>
        start(["playbooks/migrate.yml", "-i", inv, ...VARS, ...extra]);
      const out = (r: DroverRun) => r.stdout + r.stderr;

      /** Every file on each host holds exactly the old or the new generation; no temp file. */
      const noHalfWritten = async (hosts: string[], oldG: string | null, newG: string) => {
        await Promise.all(hosts.map(async (h) => {
          const got = await hostHashes(h, Object.keys(hashes[newG]));
          for (const [name, sha] of Object.entries(got)) {
            const ok = sha === hashes[newG][name] ||
              (oldG === null ? sha === "absent" : sha === hashes[oldG][name]);
            if (!ok) fig.halfWritten++;
            assert.ok(ok, `${h}: ${DIR}/${name} is neither the old nor the new content (${sha})`);
          }
          assert.deepEqual(await leftoverTempFiles(h), [], `${h}: temp files left`);
        }));
      };

      /** After the fault is gone: a rerun finishes, the next reports changed=0 everywhere. */
      const converges = async (faults: number, args: () => ReturnType<typeof start>) => {
        const again = await args().done;
        assert.equal(again.code, 0, out(again));
        const last = await args().done;
        assert.equal(last.code, 0, out(last));
        for (const h of TEST_HOSTS) assert.equal(recap(last.stdout)[h]?.changed, 0, out(last));
        fig.converged += faults;
      };

      // --- 5 and 6: the migration with the apt repository unreachable, then a full disk ---
      const hostSha = async (h: string, path: string) =>
        (await onHostOk(h, `sha256sum ${path} 2>/dev/null || echo absent\n`)).split(" ")[0].trim();
      await step(
        `5 the apt repository unreachable from ${H1}: exit 2, ${H1} failed, ${H2} and ${H3} finish`,
        async () => {
          const aptBefore = await hostSha(H1, "/etc/apt/sources.list.d/grafana.list");
          // Only H1 loses the repository: a firewall rule in its own network namespace.
          const block = await local(`ip netns exec drlab-${H1} nft -f - <<'EOF'
table inet drover_faults {
  chain output { type filter hook output priority 0; policy accept; ip daddr 10.87.0.2 reject; }
}
EOF`);
          assert.equal(block.code, 0, block.stderr);
          let r: DroverRun;
          try {
            r = await migrate().done;
          } finally {
            await local(`ip netns exec drlab-${H1} nft delete table inet drover_faults`);
          }
          assert.equal(r.code, 2, out(r));
          const rc = recap(r.stdout);
          assert.deepEqual([rc[H1].failed, rc[H1].unreachable], [1, 0], out(r));
          assert.match(
            r.stdout,
            new RegExp(`fatal: \\[${H1}\\]: FAILED! .*packages\\.lab.*(Failed to connect|refused)`),
          );
          for (const h of [H2, H3]) {
            assert.deepEqual([rc[h].failed, rc[h].unreachable], [0, 0], `${h}\n${out(r)}`);
          }
          for (const h of TEST_HOSTS) {
            assert.deepEqual(await leftoverTempFiles(h), [], `${h}: temp files left`);
          }
          // The sources were not left half-configured: as before (absent on a fresh host).
          assert.equal(await hostSha(H1, "/etc/apt/sources.list.d/grafana.list"), aptBefore);
          fig.faults++;
        },
      );

      await step(
        `6 disk full under /etc/default on ${H2}: exit 2, ${H2} failed, its old file kept; ${H1} and ${H3} finish; reruns converge (5, 6)`,
        async () => {
          const token = marker();
          const old = await hostSha(H2, "/etc/default/alloy");
          assert.notEqual(old, "absent", `${H2} was migrated in the previous step`);
          await onHostOk(H2, FILL_ETC_DEFAULT);
          let r: DroverRun;
          try {
            // A new token: /etc/default/alloy must be rewritten on every host.
            r = await migrate(["-e", `grafana_cloud_token=${token}`]).done;
            // Inside the full tmpfs: the old file, and no temp file.
            assert.equal(await hostSha(H2, "/etc/default/alloy"), old);
            assert.deepEqual(await hostTempFiles(H2, ["/etc/default", "/etc/alloy"]), []);
          } finally {
            await onHostOk(H2, "umount /etc/default\n");
          }
          assert.equal(r.code, 2, out(r));
          const rc = recap(r.stdout);
          assert.deepEqual([rc[H2].failed, rc[H2].unreachable], [1, 0], out(r));
          assert.match(
            r.stdout,
            new RegExp(`fatal: \\[${H2}\\]: FAILED! .*/etc/default/alloy.*No space left on device`),
          );
          // H1 (repository back) finishes the migration it failed; H3 takes the new token.
          for (const h of [H1, H3]) {
            assert.deepEqual([rc[h].failed, rc[h].unreachable], [0, 0], `${h}\n${out(r)}`);
            const n = await onHostOk(h, `grep -c ${token} /etc/default/alloy || true\n`);
            assert.equal(n.trim(), "1", `${h}: the new token is not in /etc/default/alloy`);
          }
          for (const h of TEST_HOSTS) {
            assert.deepEqual(await leftoverTempFiles(h), [], `${h}: temp files left`);
          }
          assert.equal(await hostSha(H2, "/etc/default/alloy"), old);
          fig.faults++;
          await converges(2, () => migrate(["-e", `grafana_cloud_token=${token}`]));
          const n = await onHostOk(H2, `grep -c ${token} /etc/default/alloy || true\n`);
          assert.equal(n.trim(), "1", `${H2}: the new token is not in /etc/default/alloy`);
        },
      );

      const g0 = marker();
      await gen(g0);
      let lastGen = g0;
      await step("set-up: every host has generation 0", async () => {
        const r = await writes(g0).done;
        assert.equal(r.code, 0, out(r));
      });

      // --- 1 and 2: unreachable from the start, and lost in the middle of a write -------
      await step(
        `1 ${H1} unreachable from the start, 2 ${H2} lost while writing: exit 4, ${H3} finishes`,
        async () => {
          const g = marker();
          await gen(g);
          await onHostOk(H2, `rm -f ${GATE} ${GATE}.waiting\n`);
          await link(H1, false);
          try {
            const run = writes(g, ["-e", JSON.stringify({ gated: [H2] })]);
            assert.ok(await until(() => atGate(H2)), `${H2} never reached the gate`);
            // The new big.txt is in a temp file beside the target; the rename waits.
            assert.equal((await leftoverTempFiles(H2)).length, 1, "one temp file while writing");
            await link(H2, false);
            const r = await run.done;
            assert.equal(r.code, 4, out(r));
            const rc = recap(r.stdout);
            assert.match(r.stdout, new RegExp(`fatal: \\[${H1}\\]: UNREACHABLE!`), out(r));
            assert.match(r.stdout, new RegExp(`fatal: \\[${H2}\\]: UNREACHABLE!`), out(r));
            assert.equal(rc[H1].unreachable, 1, out(r));
            assert.equal(rc[H2].unreachable, 1, out(r));
            assert.deepEqual([rc[H3].failed, rc[H3].unreachable, rc[H3].changed], [0, 0, 3]);
          } finally {
            await link(H1, true);
            await link(H2, true);
          }
          // The write that was cut off goes on on H2 once released: old or new, never partial.
          await openGate(H2);
          await noHalfWritten([H1, H2], g0, g);
          await noHalfWritten([H3], null, g);
          const h3 = await hostHashes(H3, Object.keys(hashes[g]));
          assert.deepEqual(h3, hashes[g], `${H3} did not finish`);
          fig.faults += 2;
          await converges(2, () => writes(g));
          await noHalfWritten(TEST_HOSTS, null, g);
          lastGen = g;
        },
      );

      // --- 3 and 4: sshd restarted while writing, sudo wanting a password ---------------
      await step(
        `3 sshd restarted on ${H1} while writing (survived), 4 sudo wants a password on ${H2}: exit 2, ${H3} finishes`,
        async () => {
          const prev = lastGen;
          const g = marker();
          await gen(g);
          // H2 as the lab's user devpw, whose sudo asks for a password (labpass).
          const invText = await Deno.readTextFile(inv);
          const pwInv = `${dir}/devpw.yml`;
          const replaced = invText.replace(
            new RegExp(`(\\n {8}${H2}:\\n {10}ansible_host: \\S+\\n {10}ansible_user: )root`),
            "$1devpw",
          );
          assert.notEqual(replaced, invText, "could not set devpw in the inventory");
          await Deno.writeTextFile(pwInv, replaced);
          const nopass = await onHost(H2, "su devpw -c 'sudo -n true' 2>&1\n");
          assert.notEqual(nopass.code, 0, "devpw's sudo must want a password");
          const pidOf = async () =>
            (await onHostOk(H1, "systemctl show -p MainPID --value ssh\n")).trim();
          const sshdBefore = await pidOf();
          await onHostOk(H1, `rm -f ${GATE} ${GATE}.waiting\n`);
          const run = writes(g, ["-e", JSON.stringify({ gated: [H1] })], pwInv);
          assert.ok(await until(() => atGate(H1)), `${H1} never reached the gate`);
          await onHostOk(H1, "systemctl restart ssh\n");
          assert.notEqual(await pidOf(), sshdBefore, "sshd did not restart");
          await openGate(H1);
          const r = await run.done;
          assert.equal(r.code, 2, out(r));
          const rc = recap(r.stdout);
          assert.match(
            r.stdout,
            new RegExp(
              `fatal: \\[${H2}\\]: FAILED! .*sudo needs a password on ${H2} \\(use -K, or set DROVER_BECOME_PASSWORD\\)`,
            ),
          );
          assert.deepEqual([rc[H2].failed, rc[H2].changed], [1, 0], out(r));
          // An sshd restart keeps the sessions it has (Debian's ssh.service, KillMode=process):
          // the run over drover's connection goes on.
          for (const h of [H1, H3]) {
            assert.deepEqual(
              [rc[h].failed, rc[h].unreachable, rc[h].changed],
              [0, 0, 3],
              `${h}\n${out(r)}`,
            );
          }
          await noHalfWritten([H1, H3], null, g);
          await noHalfWritten([H2], prev, g);
          assert.deepEqual(await hostHashes(H2, Object.keys(hashes[g])), hashes[prev]);
          fig.faults += 2;
          // With the password (what the failure says to do), the reruns converge.
          await converges(
            2,
            () => writes(g, [], pwInv, { DROVER_BECOME_PASSWORD: "labpass" }),
          );
          await noHalfWritten(TEST_HOSTS, null, g);
          lastGen = g;
        },
      );

      // --- 7 and 8: drover interrupted or killed while writing on every host -------------
      for (
        const [n, how, sig, group, code] of [
          [7, "SIGINT to drover's process group (Ctrl-C)", "SIGINT", true, 99],
          [8, "SIGKILL to drover alone", "SIGKILL", false, 137],
        ] as const
      ) {
        await step(`${n} ${how} while every host is writing: exit ${code}`, async () => {
          const prev = lastGen;
          const g = marker();
          await gen(g);
          await Promise.all(TEST_HOSTS.map((h) => onHostOk(h, `rm -f ${GATE} ${GATE}.waiting\n`)));
          const run = writes(g, ["-e", JSON.stringify({ gated: TEST_HOSTS })]);
          for (const h of TEST_HOSTS) {
            assert.ok(await until(() => atGate(h)), `${h} never reached the gate`);
            assert.equal(
              (await leftoverTempFiles(h)).length,
              1,
              `${h}: one temp file while writing`,
            );
          }
          dbg(`${sig} to drover ${run.live.pid}`);
          let r: DroverRun;
          try {
            run.live.signal(sig, group);
            if (sig === "SIGKILL") {
              // drover is gone at once; the held writes go on on the hosts.
              r = await run.done;
            } else {
              // Ctrl-C stops the run after the tasks in flight: they finish once released (the
              // gate opens over a new ssh session, long after drover took the signal).
              await Promise.all(TEST_HOSTS.map((h) => openGate(h)));
              r = await run.done;
            }
          } finally {
            await Promise.all(TEST_HOSTS.map((h) => openGate(h)));
          }
          assert.equal(r.code, code, out(r));
          if (sig === "SIGINT") {
            // The task in flight: failed as interrupted, not "unreachable" (the hosts were not lost).
            for (const h of TEST_HOSTS) {
              assert.match(
                r.stdout,
                new RegExp(
                  `fatal: \\[${h}\\]: FAILED! .*interrupted \\(Ctrl-C\\) while this task ran`,
                ),
                out(r),
              );
            }
            assert.doesNotMatch(r.stdout, /UNREACHABLE/, out(r));
          }
          // No task starts after the signal.
          assert.doesNotMatch(r.stdout, /TASK \[a last file\]/, out(r));
          await noHalfWritten(TEST_HOSTS, prev, g);
          fig.faults++;
          await converges(1, () => writes(g));
          await noHalfWritten(TEST_HOSTS, null, g);
          lastGen = g;
        });
      }
    });
    console.log(
      `safety/faults: ${fig.faults} faults, ${fig.halfWritten} half-written, ${fig.converged} reruns converged`,
    );
  },
});
