import assert from "node:assert/strict";
import { DroverError } from "../core/errors.ts";
import { join } from "../core/path.ts";
import type { Block, Item, Task } from "../core/types.ts";
import { type LoadedPlaybook, loadPlaybook, splitKv } from "./load.ts";

/** Write `files` into a temp dir and load its site.yml. */
async function load(files: Record<string, string>): Promise<LoadedPlaybook> {
  const dir = await Deno.makeTempDir({ prefix: "drover-load-" });
  try {
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(join(dir, path, ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, path), text);
    }
    return await loadPlaybook(join(dir, "site.yml"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The play's tasks from a `tasks:` body (indented by 4). */
async function tasksOf(body: string, extra: Record<string, string> = {}): Promise<Item[]> {
  const pb = await load({ "site.yml": `- hosts: all\n  tasks:\n${body}`, ...extra });
  return [...pb.plays[0].tasks];
}

async function loadError(files: Record<string, string>): Promise<DroverError> {
  try {
    await load(files);
  } catch (e) {
    assert.ok(e instanceof DroverError, `not a DroverError: ${e}`);
    return e;
  }
  assert.fail("the playbook loaded");
}

const task = (i: Item) => {
  assert.equal(i.kind, "task");
  return i as Task;
};

Deno.test("free-form command arguments, with Ansible's trailing options", async () => {
  const [a, b, c, d] = (await tasksOf(`
    - command: ls -l /tmp
    - command: echo "{{ greeting }} world" creates=/tmp/done chdir=/srv
    - shell: cat /etc/os-release | grep ^ID= > /tmp/id
    - ansible.builtin.command:
        cmd: whoami
`)).map(task);
  assert.deepEqual(a.args, { cmd: "ls -l /tmp" });
  assert.equal(a.module, "command");
  assert.deepEqual(b.args, {
    cmd: 'echo "{{ greeting }} world"',
    creates: "/tmp/done",
    chdir: "/srv",
  });
  assert.deepEqual(c.args, { cmd: "cat /etc/os-release | grep ^ID= > /tmp/id" });
  assert.equal(c.module, "shell");
  assert.deepEqual(d.args, { cmd: "whoami" });
});

Deno.test("key=value arguments, quoted values and templates with spaces", async () => {
  const [a, b] = (await tasksOf(`
    - copy: dest=/tmp/x content='hello world' mode=0644
    - debug: msg={{ items | join(', ') }}
`)).map(task);
  assert.deepEqual(a.args, { dest: "/tmp/x", content: "hello world", mode: "0644" });
  assert.deepEqual(b.args, { msg: "{{ items | join(', ') }}" });
  assert.deepEqual(splitKv(`a=1 b="x y" c='q' rest`, null), {
    rest: "rest",
    kv: { a: "1", b: "x y", c: "q" },
  });
  assert.deepEqual(splitKv("echo a=b creates=/x", ["creates"]), {
    rest: "echo a=b",
    kv: { creates: "/x" },
  });
  assert.deepEqual(splitKv("creates=/x echo hi", ["creates"]), {
    rest: "echo hi",
    kv: { creates: "/x" },
  });
  assert.deepEqual(splitKv(`echo "creates=/x"`, ["creates"]), {
    rest: `echo "creates=/x"`,
    kv: {},
  });
});

Deno.test("FQCN module names map onto drover's modules", async () => {
  const tasks = (await tasksOf(`
    - ansible.builtin.copy: {dest: /tmp/a, content: a}
    - ansible.legacy.file: {path: /tmp/b, state: directory}
    - ansible.builtin.debug: msg=hi
`)).map(task);
  assert.deepEqual(tasks.map((t) => t.module), ["copy", "file", "debug"]);
});

Deno.test("YAML 1.1: yes/no are booleans, 0644 is an octal mode, y and n are names", async () => {
  const pb = await load({
    "site.yml": `
- hosts: all
  gather_facts: no
  become: yes
  vars:
    y: 1
    n: 2
    on_off: on
  tasks:
    - file: {path: /tmp/a, state: directory, mode: 0755}
      become: no
    - copy: {dest: /tmp/b, content: x, mode: "0640"}
`,
  });
  const play = pb.plays[0];
  assert.equal(play.gatherFacts, false);
  assert.equal(play.become, true);
  assert.deepEqual(play.vars, { y: 1, n: 2, on_off: true });
  const [a, b] = play.tasks.map(task);
  assert.equal(a.args.mode, 0o755);
  assert.equal(a.become, false);
  assert.equal(b.args.mode, "0640");
});

Deno.test("import_tasks is read at load time; positions point into the imported file", async () => {
  const [imported, after] = await tasksOf(
    `
    - import_tasks: tasks/setup.yml
      tags: [setup]
    - debug: msg=after
`,
    { "tasks/setup.yml": "- name: one\n  debug: msg=1\n\n- name: two\n  debug: msg=2\n" },
  );
  assert.equal(imported.kind, "block");
  const block = imported as Block;
  assert.deepEqual(block.tags, ["setup"]);
  assert.deepEqual(block.block.map((t) => t.name), ["one", "two"]);
  assert.match(block.block[1].pos.file, /tasks\/setup\.yml$/);
  assert.deepEqual([block.block[1].pos.line, block.block[1].pos.col], [4, 3]);
  assert.equal(task(after).module, "debug");
});

Deno.test("block, rescue and always keep their structure", async () => {
  const [item] = await tasksOf(`
    - name: guarded
      when: run_it
      block:
        - command: /bin/false
        - block:
            - debug: msg=nested
      rescue:
        - debug: msg=rescued
      always:
        - debug: msg=always
`);
  assert.equal(item.kind, "block");
  const b = item as Block;
  assert.equal(b.name, "guarded");
  assert.equal(b.when, "run_it");
  assert.equal(b.block.length, 2);
  assert.equal(b.block[1].kind, "block");
  assert.deepEqual(b.rescue.map((t) => task(t).args.msg), ["rescued"]);
  assert.deepEqual(b.always.map((t) => task(t).args.msg), ["always"]);
});

Deno.test("keys with no value are empty, as in Ansible", async () => {
  const pb = await load({
    "site.yml": "- hosts: all\n  vars:\n  vars_files:\n  pre_tasks:\n  tasks:\n  roles:\n",
  });
  const play = pb.plays[0];
  assert.deepEqual([play.vars, play.varsFiles, play.tasks, play.roles], [{}, [], [], []]);
});

Deno.test("task keywords: loop, register, notify, tags, when, loop_control", async () => {
  const [t] = (await tasksOf(`
    - name: many
      debug: msg={{ pkg }}
      loop: [a, b]
      loop_control: {loop_var: pkg, label: "{{ pkg }}"}
      register: out
      notify: restart
      tags: install, config
      when: ansible_os_family == 'Debian'
  handlers:
    - name: restart
      debug: msg=restarting
`)).map(task);
  assert.deepEqual(t.loop, ["a", "b"]);
  assert.equal(t.loopVar, "pkg");
  assert.equal(t.loopLabel, "{{ pkg }}");
  assert.equal(t.register, "out");
  assert.deepEqual(t.notify, ["restart"]);
  assert.deepEqual(t.tags, ["install", "config"]);
  assert.equal(t.when, "ansible_os_family == 'Debian'");
});

Deno.test("the whole playbook is checked at load time: later plays, vars_files, host patterns", async () => {
  const laterPlay = await loadError({
    "site.yml": "- hosts: all\n  tasks: []\n- hosts: all\n  tasks:\n    - debgu: msg=x\n",
  });
  assert.match(laterPlay.format(), /site\.yml:5:7: unknown module 'debgu'.*did you mean 'debug'\?/);
  const varsFile = await loadError({
    "site.yml": "- hosts: all\n  vars_files:\n    - vars/main.yml\n  tasks: []\n",
    "vars/main.yml": "good: 1\nbad-name: 2\n",
  });
  assert.match(varsFile.format(), /vars\/main\.yml:2:1: invalid variable name 'bad-name'/);
  const missingVars = await loadError({
    "site.yml": "- hosts: all\n  vars_files:\n    - vars/none.yml\n  tasks: []\n",
  });
  assert.match(missingVars.format(), /site\.yml:3:7: cannot read .*vars\/none\.yml: no such file/);
  const templated = await load({
    "site.yml": '- hosts: all\n  vars_files:\n    - "vars/{{ env }}.yml"\n  tasks: []\n',
  });
  assert.equal(templated.plays[0].varsFiles[0].path, "vars/{{ env }}.yml");
  const pattern = await loadError({ "site.yml": "- hosts: 'web;id'\n  tasks: []\n" });
  assert.match(pattern.format(), /site\.yml:1:10: invalid host pattern "web;id"/);
  assert.equal(pattern.exitCode, 4);
});

Deno.test("role parameters are checked against the role's variables", async () => {
  const role = `import { defineRole, task, z } from ${
    JSON.stringify(new URL("../role.ts", import.meta.url).href)
  };
export const role = defineRole({
  name: "r",
  description: "test role",
  vars: z.object({ port: z.number().int().default(80) }),
  tasks: [task("say", "debug", { msg: "{{ port }}" })],
});
`;
  const unknown = await loadError({
    "site.yml": "- hosts: all\n  roles:\n    - role: r\n      prot: 81\n",
    "roles/r/mod.ts": role,
  });
  assert.match(
    unknown.format(),
    /site\.yml:4:7: role 'r' has no variable 'prot'.*did you mean 'port'\?/,
  );
  const wrongType = await loadError({
    "site.yml": "- hosts: all\n  roles:\n    - role: r\n      vars:\n        port: eighty\n",
    "roles/r/mod.ts": role,
  });
  assert.match(wrongType.format(), /site\.yml:5:9: role 'r' variable 'port' is invalid/);
  const ok = await load({
    "site.yml": '- hosts: all\n  roles:\n    - role: r\n      port: "{{ base_port + 1 }}"\n',
    "roles/r/mod.ts": role,
  });
  assert.deepEqual(ok.plays[0].roles[0].params, { port: "{{ base_port + 1 }}" });
  assert.ok(ok.roles.get("r"));
});

Deno.test("role meta dependencies are loaded; missing ones and cycles are errors", async () => {
  const pb = await load({
    "site.yml": "- hosts: all\n  roles:\n    - app\n",
    "roles/app/tasks/main.yml": "- debug: msg=app\n",
    "roles/app/meta/main.yml": "dependencies:\n  - role: base\n",
    "roles/base/tasks/main.yml": "- debug: msg=base\n",
    "roles/base/defaults/main.yml": "base_dir: /opt\n",
  });
  assert.deepEqual([...pb.roles.keys()].sort(), ["app", "base"]);
  assert.deepEqual(pb.roles.get("base")!.defaults, { base_dir: "/opt" });
  const missing = await loadError({
    "site.yml": "- hosts: all\n  roles:\n    - app\n",
    "roles/app/tasks/main.yml": "- debug: msg=app\n",
    "roles/app/meta/main.yml": "dependencies: [gone]\n",
  });
  assert.match(
    missing.format(),
    /site\.yml:3:7: role 'gone' not found \(a dependency of role 'app'\)/,
  );
  const cycle = await loadError({
    "site.yml": "- hosts: all\n  roles:\n    - a\n",
    "roles/a/tasks/main.yml": "- debug: msg=a\n",
    "roles/a/meta/main.yml": "dependencies: [b]\n",
    "roles/b/tasks/main.yml": "- debug: msg=b\n",
    "roles/b/meta/main.yml": "dependencies: [a]\n",
  });
  assert.match(cycle.message, /role 'a' depends on itself: a → b → a/);
  const badDefaults = await loadError({
    "site.yml": "- hosts: all\n  roles:\n    - r\n",
    "roles/r/tasks/main.yml": "- debug: msg=r\n",
    "roles/r/defaults/main.yml": "ok: 1\nnot-ok: 2\n",
  });
  assert.match(badDefaults.format(), /defaults\/main\.yml:2:1: invalid variable name 'not-ok'/);
});

Deno.test("notify must name a handler of the play: its own, a role's, or a listen topic", async () => {
  const ok = await load({
    "site.yml": `- hosts: all
  roles:
    - web
  tasks:
    - command: "true"
      notify: [restart app, reload web, "web : restart web", "{{ dynamic }}"]
  handlers:
    - name: restart app
      debug: msg=restarting
    - debug: msg=reloading
      listen: reload web
`,
    "roles/web/tasks/main.yml": "- command: 'true'\n  notify: restart app\n",
    "roles/web/handlers/main.yml": "- name: restart web\n  debug: msg=web\n",
  });
  assert.equal(ok.plays[0].handlers.length, 2);
  const typo = await loadError({
    "site.yml": `- hosts: all
  tasks:
    - block:
        - command: "true"
          notify: restart ap
  handlers:
    - name: restart app
      debug: msg=restarting
`,
  });
  assert.match(
    typo.format(),
    /site\.yml:5:19: no handler named 'restart ap'.*did you mean 'restart app'\?/,
  );
  const inRole = await loadError({
    "site.yml": "- hosts: all\n  roles:\n    - web\n",
    "roles/web/tasks/main.yml": "- command: 'true'\n  notify: nothing\n",
  });
  assert.match(inRole.format(), /roles\/web\/tasks\/main\.yml:2:11: no handler named 'nothing'/);
});

Deno.test("a playbook may import the same file twice; importing itself is an error", async () => {
  const pb = await load({
    "site.yml": "- import_playbook: common.yml\n- import_playbook: common.yml\n",
    "common.yml": "- hosts: all\n  tasks:\n    - debug: msg=common\n",
  });
  assert.equal(pb.plays.length, 2);
  const self = await loadError({ "site.yml": "- import_playbook: site.yml\n" });
  assert.match(self.format(), /site\.yml:1:20: .*site\.yml imports itself/);
});

Deno.test("merge keys work in tasks; environment names are checked at load time", async () => {
  const [a, b] = (await tasksOf(`
    - &base
      name: one
      command: echo hi
      become: true
    - <<: *base
      name: two
`)).map(task);
  assert.equal(a.name, "one");
  assert.equal(b.name, "two");
  assert.equal(b.become, true);
  assert.deepEqual(b.args, { cmd: "echo hi" });
  const env = await loadError({
    "site.yml":
      `- hosts: all\n  tasks:\n    - command: "true"\n      environment:\n        "A;B": x\n`,
  });
  assert.match(env.format(), /site\.yml:5:9: invalid environment variable name 'A;B'/);
  const templated = await tasksOf(`    - command: "true"\n      environment: "{{ proxy_env }}"\n`);
  assert.equal(task(templated[0]).environment, "{{ proxy_env }}");
});
