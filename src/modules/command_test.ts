import assert from "node:assert/strict";
import { HostModel, type ModuleContext, type ModuleResult } from "../core/module.ts";
import { command, shell, shlexSplit } from "./command.ts";
import { fakeContext, localContext } from "./_testing.ts";
import { drover, recap, withTempDir } from "../../test/helpers.ts";

const facts = (await localContext()).facts;
const real = (check = false) => localContext({ check, facts });

function cmd(ctx: ModuleContext, args: Record<string, unknown>): Promise<ModuleResult> {
  return command.run(ctx, command.args.parse(args));
}
function sh(ctx: ModuleContext, args: Record<string, unknown>): Promise<ModuleResult> {
  return shell.run(ctx, shell.args.parse(args));
}

const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);

Deno.test("shlexSplit: quotes and backslashes like Python's shlex", () => {
  assert.deepEqual(shlexSplit(`echo 'a b' "c \\"d\\"" e\\ f`), ["echo", "a b", 'c "d"', "e f"]);
  assert.deepEqual(shlexSplit("  a   b  "), ["a", "b"]);
  assert.deepEqual(shlexSplit(`x '' ""`), ["x", "", ""]);
  assert.throws(() => shlexSplit("echo 'open"), /unterminated single quote/);
  assert.throws(() => shlexSplit('echo "open'), /unterminated double quote/);
});

Deno.test("command: words go to the program as they are, no shell; rc/stdout/stderr registered", async () => {
  const ctx = await real();
  const r = await cmd(ctx, { cmd: `printf '%s|' "a b" '$HOME' ; echo` });
  assert.equal(r.changed, true);
  assert.equal(r.failed, false);
  // `;`, `echo` and `$HOME` are words for printf, not shell syntax.
  assert.equal(r.data?.stdout, "a b|$HOME|;|echo|");
  assert.equal(r.data?.rc, 0);
  assert.deepEqual(r.data?.stdout_lines, ["a b|$HOME|;|echo|"]);
  const argv = await cmd(ctx, { argv: ["sh", "-c", "echo out; echo err >&2; echo two"] });
  assert.equal(argv.data?.stdout, "out\ntwo");
  assert.deepEqual(argv.data?.stdout_lines, ["out", "two"]);
  assert.equal(argv.data?.stderr, "err");
  assert.deepEqual(argv.data?.stderr_lines, ["err"]);
  assert.equal(command.args.safeParse({ cmd: "ls", argv: ["ls"] }).success, false);
  assert.equal(command.args.safeParse({}).success, false);
});

Deno.test("command/shell: a non-zero exit fails with rc and the end of stderr", async () => {
  const ctx = await real();
  const r = await sh(ctx, { cmd: "echo partial; echo 'no such thing' >&2; exit 3" });
  assert.equal(r.failed, true);
  assert.equal(r.data?.rc, 3);
  assert.equal(r.data?.stdout, "partial");
  assert.match(r.msg ?? "", /^non-zero return code 3: no such thing$/);
  const missing = await cmd(ctx, { argv: ["/nonexistent/drover-prog"] });
  assert.equal(missing.failed, true);
  assert.notEqual(missing.data?.rc, 0);
});

Deno.test("shell: pipes, redirects and variables work; chdir; executable", async () => {
  await withTempDir(async (dir) => {
    const ctx = await real();
    const r = await sh(ctx, {
      cmd: "X=3; printf 'b\\na\\n' | sort > out.txt; echo $X",
      chdir: dir,
    });
    assert.equal(r.data?.stdout, "3");
    assert.equal(await Deno.readTextFile(`${dir}/out.txt`), "a\nb\n");
    const pwd = await cmd(ctx, { cmd: "pwd", chdir: dir });
    assert.equal(pwd.data?.stdout, await Deno.realPath(dir));
    const bad = await cmd(ctx, { cmd: "pwd", chdir: `${dir}/missing` });
    assert.equal(bad.failed, true);
    const bash = await sh(ctx, { cmd: "echo ${BASH_VERSION:+bash}", executable: "/bin/bash" });
    assert.equal(bash.data?.stdout, "bash");
    const dash = await sh(ctx, { cmd: "echo ${BASH_VERSION:-plain}", executable: "/bin/sh" });
    assert.equal(dash.data?.stdout, "plain");
  });
});

Deno.test("command/shell: stdin is fed as it is, without expansion", async () => {
  const ctx = await real();
  const text = "line $HOME `id` 'q' \"d\"\n\\ end";
  const c = await cmd(ctx, { cmd: "cat", stdin: text });
  assert.equal(c.data?.stdout, text);
  const s = await sh(ctx, { cmd: "wc -l", stdin: "a\nb" });
  // Like Ansible's stdin_add_newline: the last line is ended.
  assert.equal(String(s.data?.stdout).trim(), "2");
  // Without stdin, a command reading stdin gets end of file at once instead of hanging.
  const none = await cmd(ctx, { cmd: "cat" });
  assert.equal(none.data?.stdout, "");
});

Deno.test("creates: runs once; then skipped with changed=false; --check predicts and writes nothing", async () => {
  await withTempDir(async (dir) => {
    const made = `${dir}/made`;
    const args = { cmd: `echo run >> ${dir}/log; touch ${made}`, creates: made };
    const check = await sh(await real(true), args);
    assert.equal(check.changed, true);
    assert.equal(check.msg, "Command would have run if not in check mode");
    assert.equal(await exists(made), false);
    assert.equal(await exists(`${dir}/log`), false);
    const first = await sh(await real(), args);
    assert.equal(first.changed, true);
    assert.equal(await exists(made), true);
    const again = await sh(await real(), args);
    assert.equal(again.changed, false);
    assert.equal(again.msg, `Did not run command since '${made}' exists`);
    assert.equal(again.data?.rc, 0);
    assert.equal(again.data?.stdout, `skipped, since ${made} exists`);
    const checkAgain = await sh(await real(true), args);
    assert.equal(checkAgain.changed, false);
    assert.equal(checkAgain.msg, `Would not run command since '${made}' exists`);
    assert.equal(await Deno.readTextFile(`${dir}/log`), "run\n");
  });
});

Deno.test("--check without creates/removes: like Ansible, the command is skipped, not run", async () => {
  await withTempDir(async (dir) => {
    const r = await sh(await real(true), { cmd: `touch ${dir}/x` });
    assert.equal(r.skipped, true);
    assert.equal(r.changed, false);
    assert.equal(await exists(`${dir}/x`), false);
  });
});

Deno.test("removes: runs only while the path exists", async () => {
  await withTempDir(async (dir) => {
    const f = `${dir}/stale`;
    const args = { argv: ["rm", f], removes: f };
    const none = await cmd(await real(), args);
    assert.equal(none.changed, false);
    assert.equal(none.msg, `Did not run command since '${f}' does not exist`);
    await Deno.writeTextFile(f, "x");
    const check = await cmd(await real(true), args);
    assert.equal(check.changed, true);
    assert.equal(await exists(f), true);
    const r = await cmd(await real(), args);
    assert.equal(r.changed, true);
    assert.equal(r.failed, false);
    assert.equal(await exists(f), false);
    assert.equal((await cmd(await real(), args)).changed, false);
  });
});

Deno.test("reads: a changed_when:false task is batched as a read; stdin and check mode are not", () => {
  const rc = { facts, check: false, model: new HostModel(), readOnly: true };
  const [r] = command.reads!({ cmd: "alloy 'a b'", chdir: "/tmp/x y" }, rc);
  assert.equal(r.script, "cd '/tmp/x y' || exit 1\nexec alloy 'a b' </dev/null\n");
  assert.deepEqual(command.reads!({ cmd: "cat", stdin: "x" }, rc), []);
  assert.deepEqual(command.reads!({ cmd: "ls" }, { ...rc, readOnly: false }), []);
  assert.deepEqual(shell.reads!({ cmd: "ls" }, { ...rc, check: true }), []);
  const guard = shell.reads!({ cmd: "x", creates: "/a b", removes: "/c" }, {
    ...rc,
    readOnly: false,
  });
  assert.deepEqual(guard, [{
    script: "[ -e '/a b' ] && echo creates\n[ -e /c ] || echo removes\ntrue\n",
  }]);
});

Deno.test("a read-only task's command goes through ctx.read; any other through ctx.sh", async () => {
  const { ctx, scripts } = fakeContext(false, new HostModel(), () => ({
    rc: 0,
    stdout: "v1\n",
    stderr: "",
  }));
  const reads: string[] = [];
  const ro: ModuleContext = {
    ...ctx,
    readOnly: true,
    read: (s) => {
      reads.push(s);
      return Promise.resolve({ rc: 0, stdout: "v1\n", stderr: "" });
    },
  };
  const r = await cmd(ro, { cmd: "alloy --version" });
  assert.equal(r.data?.stdout, "v1");
  assert.equal(reads.length, 1);
  assert.equal(scripts.length, 0);
  await cmd({ ...ro, readOnly: false }, { cmd: "alloy --version" });
  assert.equal(scripts.length, 1);
  await cmd(ro, { cmd: "cat", stdin: "secret" });
  assert.equal(scripts.length, 2, "a command fed stdin is not a read");
});

Deno.test("CLI: creates makes a task converge; changed_when overrides; a failure exits 2", async () => {
  await withTempDir(async (dir) => {
    const pb = `${dir}/pb.yml`;
    await Deno.writeTextFile(
      pb,
      `- hosts: localhost
  gather_facts: false
  tasks:
    - name: make marker
      shell: echo made > ${dir}/marker
      args:
        creates: ${dir}/marker
    - name: read marker
      command: cat ${dir}/marker
      register: out
      changed_when: false
      check_mode: false
      failed_when: false
    - name: says changed only when told
      command: echo same
      register: e
      changed_when: "'different' in e.stdout"
      check_mode: false
`,
    );
    const check = await drover([pb, "--check"]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.equal(await exists(`${dir}/marker`), false, "--check ran the command");
    const first = await drover([pb]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.equal(recap(first.stdout).localhost.changed, 1);
    assert.equal(await Deno.readTextFile(`${dir}/marker`), "made\n");
    const second = await drover([pb]);
    assert.equal(recap(second.stdout).localhost.changed, 0);
    await Deno.writeTextFile(
      pb,
      `- hosts: localhost
  gather_facts: false
  tasks:
    - command: sh -c 'echo boom >&2; exit 7'
`,
    );
    const failed = await drover([pb]);
    assert.equal(failed.code, 2);
    assert.match(failed.stdout, /non-zero return code 7: boom/);
    assert.equal(recap(failed.stdout).localhost.failed, 1);
  });
});
