import assert from "node:assert/strict";
import { HostModel, type ModuleContext } from "../core/module.ts";
import { assertModule, debug, fail, meta, setFact } from "./logic.ts";
import { fakeContext } from "./_testing.ts";
import { drover, recap, withTempDir } from "../../test/helpers.ts";

/** A context with `vars` whose host must never be asked anything. */
function ctxWith(vars: Record<string, unknown>): { ctx: ModuleContext; scripts: string[] } {
  const { ctx, scripts } = fakeContext(false, new HostModel(), () => {
    throw new Error("a control-node module ran a script on the host");
  });
  return { ctx: { ...ctx, vars }, scripts };
}

Deno.test("debug: msg as given, var evaluated; never changed", async () => {
  const { ctx, scripts } = ctxWith({ port: 4317, cfg: { a: [1, 2] } });
  const m = await debug.run(ctx, debug.args.parse({ msg: "hello" }));
  assert.deepEqual(m, { changed: false, msg: "hello", data: { msg: "hello" } });
  const obj = await debug.run(ctx, debug.args.parse({ msg: { k: 1 } }));
  // A mapping stays data (printed as such), not a JSON string.
  assert.deepEqual(obj.data, { msg: { k: 1 } });
  const v = await debug.run(ctx, debug.args.parse({ var: "cfg.a[1] + port" }));
  assert.deepEqual(v.data, { "cfg.a[1] + port": 4319 });
  const none = await debug.run(ctx, debug.args.parse({}));
  assert.equal(none.msg, "Hello world!");
  assert.equal(debug.args.safeParse({ msg: "x", bogus: 1 }).success, false);
  assert.deepEqual(scripts, []);
});

Deno.test("set_fact: the arguments become host facts; cacheable is not one; names are checked", async () => {
  const { ctx } = ctxWith({});
  const r = await setFact.run(ctx, setFact.args.parse({ a: 1, b_2: "x", cacheable: true }));
  assert.deepEqual(r, { changed: false, data: { ansible_facts: { a: 1, b_2: "x" } } });
  assert.equal(setFact.args.safeParse({ "not-a-name": 1 }).success, false);
  assert.equal(setFact.args.safeParse({ "1x": 1 }).success, false);
});

Deno.test("assert: every condition must hold; the first false one is reported with fail_msg or msg", async () => {
  const { ctx } = ctxWith({ n: 3, os: "Debian" });
  const ok = await assertModule.run(ctx, assertModule.args.parse({ that: ["n > 2", true] }));
  assert.deepEqual(ok, { changed: false, msg: "All assertions passed" });
  const okMsg = await assertModule.run(
    ctx,
    assertModule.args.parse({ that: "os == 'Debian'", success_msg: "fine" }),
  );
  assert.equal(okMsg.msg, "fine");
  const bad = await assertModule.run(
    ctx,
    assertModule.args.parse({ that: ["n > 2", "n > 5", "n > 9"], fail_msg: "n is too small" }),
  );
  assert.equal(bad.failed, true);
  assert.equal(bad.changed, false);
  assert.equal(bad.msg, "n is too small");
  assert.deepEqual(bad.data, { assertion: "n > 5", evaluated_to: false });
  const plain = await assertModule.run(ctx, assertModule.args.parse({ that: ["n > 5"] }));
  assert.equal(plain.msg, "Assertion failed: n > 5");
  const withMsg = await assertModule.run(ctx, assertModule.args.parse({ that: false, msg: "m" }));
  assert.equal(withMsg.msg, "m");
  assert.equal(assertModule.args.safeParse({}).success, false);
});

Deno.test("fail and meta: fail always fails; meta names an engine action", async () => {
  const { ctx } = ctxWith({});
  assert.deepEqual(await fail.run(ctx, fail.args.parse({ msg: "stop" })), {
    changed: false,
    failed: true,
    msg: "stop",
  });
  assert.equal((await fail.run(ctx, fail.args.parse({}))).msg, "Failed as requested from task");
  const m = await meta.run(ctx, meta.args.parse({ action: "flush_handlers" }));
  assert.deepEqual(m, { changed: false, data: { _meta: "flush_handlers" } });
  assert.equal(meta.args.safeParse({ action: "reboot" }).success, false);
});

Deno.test("CLI: set_fact feeds later tasks, assert/fail stop the host, meta flushes handlers mid-play", async () => {
  await withTempDir(async (dir) => {
    const pb = `${dir}/pb.yml`;
    const log = `${dir}/log`;
    await Deno.writeTextFile(
      pb,
      `- hosts: localhost
  gather_facts: false
  vars:
    base: 40
  handlers:
    - name: note
      shell: echo handler >> ${log}
  tasks:
    - set_fact:
        answer: "{{ base + 2 }}"
    - debug:
        var: answer
    - assert:
        that:
          - answer | int == 42
        fail_msg: wrong answer
    - name: trigger
      shell: echo task >> ${log}
      notify: note
    - meta: flush_handlers
    - name: after flush
      shell: echo after >> ${log}
    - fail:
        msg: stop here {{ answer }}
    - name: never
      shell: echo never >> ${log}
`,
    );
    const r = await drover([pb]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, /"answer": "?42"?/);
    assert.match(r.stdout, /stop here 42/);
    assert.equal(await Deno.readTextFile(log), "task\nhandler\nafter\n");
    const rc = recap(r.stdout).localhost;
    assert.equal(rc.failed, 1);
    assert.equal(rc.changed, 3);

    await Deno.writeTextFile(
      pb,
      `- hosts: localhost
  gather_facts: false
  tasks:
    - assert:
        that: [1 == 2]
        fail_msg: one is not two
`,
    );
    const bad = await drover([pb, "--check"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stdout, /one is not two/);
  });
});

Deno.test("CLI: every handler that listens to a topic runs, once, in the order handlers are written", async () => {
  await withTempDir(async (dir) => {
    const pb = `${dir}/pb.yml`;
    const log = `${dir}/log`;
    await Deno.writeTextFile(
      pb,
      `- hosts: localhost
  gather_facts: false
  handlers:
    - name: first
      shell: echo first >> ${log}
      listen: restart web
    - name: unrelated
      shell: echo unrelated >> ${log}
    - name: second
      shell: echo second >> ${log}
      listen: [restart web, other]
  tasks:
    - name: change
      shell: echo task >> ${log}
      notify: restart web
    - name: change again
      shell: echo task2 >> ${log}
      notify: restart web
`,
    );
    const r = await drover([pb]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await Deno.readTextFile(log), "task\ntask2\nfirst\nsecond\n");
    assert.equal(recap(r.stdout).localhost.changed, 4);
  });
});

Deno.test("CLI: an include whose file is missing fails (ignored with ignore_errors), never ok; failed loop items are shown as Ansible shows them", async () => {
  await withTempDir(async (dir) => {
    const pb = `${dir}/pb.yml`;
    const play = (ignore: boolean) =>
      `- hosts: localhost
  gather_facts: false
  tasks:
    - include_tasks: ${dir}/missing.yml
      ignore_errors: ${ignore}
    - name: items
      command: "false"
      loop: [a, b]
      ignore_errors: true
`;
    await Deno.writeTextFile(pb, play(true));
    const r = await drover([pb]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const inc = r.stdout.split("TASK [items]")[0].split("TASK [include_tasks]")[1];
    assert.doesNotMatch(inc, /^ok: /m);
    assert.match(inc, /^fatal: \[localhost\]: FAILED! => .*missing\.yml.*\n\.\.\.ignoring$/m);
    assert.match(r.stdout, /^failed: \[localhost\] \(item=a\) => /m);
    assert.match(r.stdout, /^failed: \[localhost\] \(item=b\) => /m);
    assert.equal(recap(r.stdout).localhost.ignored, 2);

    await Deno.writeTextFile(pb, play(false));
    const bad = await drover([pb]);
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    assert.doesNotMatch(bad.stdout, /^ok: \[localhost\]$/m);
    assert.equal(recap(bad.stdout).localhost.failed, 1);
    assert.doesNotMatch(bad.stdout, /TASK \[items\]/);
  });
});
