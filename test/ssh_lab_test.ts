import assert from "node:assert/strict";
import { drover, recap, withTempDir } from "./helpers.ts";
import { labInventory, labUp, onHost, TEST_HOSTS } from "./lab_helpers.ts";

const [H1, H2, H3] = TEST_HOSTS;

const sanitize = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name:
    "ssh: the sample playbook on 3 lab hosts at once converges, and --check on them changes nothing",
  ...sanitize,
  fn: async () => {
    await labUp(3);
    await withTempDir(async (dir) => {
      const LAB_INVENTORY = await labInventory(dir);
      await onHost(H1, "rm -rf /tmp/drover-ssh-sample");
      const dirArg = ["-e", "sample_dir=/tmp/drover-ssh-sample"];
      const check = await drover(["playbooks/site.yml", "-i", LAB_INVENTORY, "--check", ...dirArg]);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.equal(
        (await onHost(H1, "test -e /tmp/drover-ssh-sample && echo yes || echo no")).stdout
          .trim(),
        "no",
      );
      const first = await drover(["playbooks/site.yml", "-i", LAB_INVENTORY, ...dirArg]);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      for (const h of TEST_HOSTS) assert.equal(recap(first.stdout)[h]?.failed, 0);
      assert.equal(
        (await onHost(H2, "cat /tmp/drover-ssh-sample/hello.txt")).stdout,
        "hello from drover\n",
      );
      const second = await drover(["playbooks/site.yml", "-i", LAB_INVENTORY, ...dirArg]);
      for (const h of TEST_HOSTS) {
        assert.equal(recap(second.stdout)[h].changed, 0, second.stdout);
      }
    });
  },
});

async function becomeInventory(dir: string, user: string): Promise<string> {
  const inv = await Deno.readTextFile(await labInventory(dir));
  const path = `${dir}/inv.yml`;
  await Deno.writeTextFile(path, inv.replaceAll("ansible_user: root", `ansible_user: ${user}`));
  await Deno.writeTextFile(
    `${dir}/become.yml`,
    `- hosts: ${H1}\n  gather_facts: false\n  become: true\n  tasks:\n    - command: id -un\n      register: who\n      changed_when: false\n    - assert:\n        that: who.stdout == 'root'\n`,
  );
  return path;
}

Deno.test({
  name:
    "ssh: become with passwordless sudo, and with a password given over stdin (-K / DROVER_BECOME_PASSWORD)",
  ...sanitize,
  fn: async () => {
    await labUp(3);
    await withTempDir(async (dir) => {
      const devInv = await becomeInventory(dir, "dev");
      const dev = await drover([`${dir}/become.yml`, "-i", devInv]);
      assert.equal(dev.code, 0, dev.stdout + dev.stderr);
      const pwInv = await becomeInventory(dir, "devpw");
      const noPw = await drover([`${dir}/become.yml`, "-i", pwInv]);
      assert.equal(noPw.code, 2, noPw.stdout);
      assert.match(noPw.stdout, new RegExp(`sudo needs a password on ${H1} \\(use -K`));
      const withPw = await drover([`${dir}/become.yml`, "-i", pwInv], {
        env: { DROVER_BECOME_PASSWORD: "labpass" },
      });
      assert.equal(withPw.code, 0, withPw.stdout + withPw.stderr);
      assert.ok(!withPw.stdout.includes("labpass"));
      const wrong = await drover([`${dir}/become.yml`, "-i", pwInv], {
        env: { DROVER_BECOME_PASSWORD: "nope-wrong" },
      });
      assert.equal(wrong.code, 2);
      assert.match(wrong.stdout, new RegExp(`sudo rejected the become password on ${H1}`));
    });
  },
});

Deno.test({
  name: "ssh: an unreachable host is reported, the others finish, exit code 4",
  ...sanitize,
  fn: async () => {
    await labUp(3);
    await withTempDir(async (dir) => {
      const inv = await Deno.readTextFile(await labInventory(dir));
      await Deno.writeTextFile(
        `${dir}/inv.yml`,
        inv.replace(
          `ansible_host: 10.87.0.${10 + Number(H3.slice(3))}`,
          "ansible_host: 127.0.0.1\n          ansible_port: 1",
        ),
      );
      const r = await drover([
        "playbooks/site.yml",
        "-i",
        `${dir}/inv.yml`,
        "-e",
        "sample_dir=/tmp/drover-ssh-unreach",
      ]);
      assert.equal(r.code, 4, r.stdout + r.stderr);
      const rc = recap(r.stdout);
      assert.equal(rc[H3].unreachable, 1);
      assert.equal(rc[H1].failed, 0);
      assert.ok(rc[H1].ok > 0);
      assert.match(r.stdout, new RegExp(`fatal: \\[${H3}\\]: UNREACHABLE!`));
    });
  },
});

Deno.test({
  name:
    "ssh: --ssh-persist keeps the host's connection for the next run (same master), only in a private directory",
  ...sanitize,
  fn: async () => {
    await labUp([H1]);
    await withTempDir(async (dir) => {
      const inv = await labInventory(dir, [H1]);
      const pb = `${dir}/pb.yml`;
      await Deno.writeTextFile(
        pb,
        `- hosts: all\n  gather_facts: false\n  tasks:\n    - command: "true"\n      changed_when: false\n`,
      );
      // A short runtime directory of the test's own (socket paths are short).
      const xdg = `/tmp/dr${crypto.randomUUID().slice(0, 6)}`;
      Deno.mkdirSync(xdg, { mode: 0o700 });
      const env = { XDG_RUNTIME_DIR: xdg };
      const cpDir = `${xdg}/drover-ssh-${Deno.uid()}`;
      const masters = async (): Promise<string[]> => {
        const out: string[] = [];
        let names: string[] = [];
        try {
          names = [...Deno.readDirSync(cpDir)].map((e) => e.name);
        } catch { /* no directory: no master */ }
        for (const name of names) {
          const r = await new Deno.Command("ssh", {
            args: ["-o", `ControlPath=${cpDir}/${name}`, "-O", "check", "x"],
            stdout: "piped",
            stderr: "piped",
          }).output();
          out.push(new TextDecoder().decode(r.stderr).trim());
        }
        return out;
      };
      try {
        const plain = await drover([pb, "-i", inv], { env });
        assert.equal(plain.code, 0, plain.stdout + plain.stderr);
        assert.deepEqual(
          [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("drover-ssh")),
          [],
        );

        const first = await drover([pb, "-i", inv, "--ssh-persist", "30"], { env });
        assert.equal(first.code, 0, first.stdout + first.stderr);
        const m1 = await masters();
        assert.equal(m1.length, 1, `one master left for the next run: ${m1}`);
        assert.match(m1[0], /Master running \(pid=\d+\)/);
        const second = await drover([pb, "-i", inv, "--ssh-persist", "30"], { env });
        assert.equal(second.code, 0, second.stdout + second.stderr);
        assert.deepEqual(await masters(), m1, "the second run used the first run's connection");
        assert.equal((Deno.statSync(cpDir).mode ?? 0) & 0o777, 0o700);

        const bad = await drover([pb, "-i", inv, "--ssh-persist", "soon"], { env });
        assert.equal(bad.code, 5, bad.stdout + bad.stderr);
        assert.match(bad.stderr, /--ssh-persist must be a whole number of seconds/);
      } finally {
        for (const m of await masters().catch(() => [])) {
          const pid = /pid=(\d+)/.exec(m)?.[1];
          if (pid) Deno.kill(Number(pid), "SIGTERM");
        }
      }
      // A directory others could write to is not used: nothing persists.
      await Deno.remove(cpDir, { recursive: true }).catch(() => {});
      Deno.mkdirSync(cpDir);
      Deno.chmodSync(cpDir, 0o777);
      const shared = await drover([pb, "-i", inv, "--ssh-persist", "30"], { env });
      assert.equal(shared.code, 0, shared.stdout + shared.stderr);
      assert.deepEqual([...Deno.readDirSync(cpDir)], []);
      await Deno.remove(xdg, { recursive: true });
    });
  },
});
