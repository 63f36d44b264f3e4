/**
 * @module
 * Reads of the tasks ahead run in the same round trip as a command that may
 * change the host, right after it. The command must look exactly as it does
 * alone (stdout without a trailing newline, stderr, exit code), and the
 * reads must see the host as the command left it. Compared with
 * DROVER_READ_AHEAD=0, where every command and read is its own round trip.
 */
import assert from "node:assert/strict";
import { drover, jsonEvents, localPlay, withTempDir } from "./helpers.ts";

const PLAY = (dir: string) =>
  localPlay(`    - name: A command that prints no newline
      command: printf 'no newline'
      register: plain
    - name: A file the next command creates
      stat:
        path: ${dir}/made
      register: before
    - name: A command that fails after writing stderr, and creates the file
      shell: "echo out; echo err >&2; touch ${dir}/made; exit 3"
      register: failing
      failed_when: false
    - name: The file, read after that command
      stat:
        path: ${dir}/made
      register: after
    - name: Its content, written by a module
      copy:
        dest: ${dir}/made
        content: "one\\n"
    - name: The file again
      stat:
        path: ${dir}/made
        get_content: true
      register: again
    - name: What each task saw
      debug:
        msg: "{{ [plain.stdout, plain.rc, failing.stdout, failing.stderr, failing.rc, before.stat.exists, after.stat.exists, after.stat.size, again.stat.size, again.stat.content] | to_json }}"
`);

for (const readAhead of ["1", "0"]) {
  Deno.test(`a command's output and the reads after it (DROVER_READ_AHEAD=${readAhead})`, async () => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/play.yml`, PLAY(dir));
      const r = await drover([`${dir}/play.yml`, "--json"], {
        env: { DROVER_READ_AHEAD: readAhead },
      });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const msg = jsonEvents(r.stdout)
        .find((e) => e.type === "host_result" && e.task === "What each task saw")?.msg;
      assert.deepEqual(JSON.parse(String(msg)), [
        "no newline",
        0,
        "out",
        "err",
        3,
        false,
        true,
        0,
        4,
        "one\n",
      ]);
    });
  });
}

Deno.test("a task's command that another of its commands follows carries no reads", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/f`, "kept\n");
    await Deno.writeTextFile(
      `${dir}/play.yml`,
      localPlay(`    - name: Record
      drover_record:
        dir: ${dir}/rec
        paths: [${dir}/f, ${dir}/none]
    - name: Stat after
      stat:
        path: ${dir}/f
        get_content: true
      register: after
    - debug:
        msg: "{{ after.stat.content }}"
`),
    );
    const r = await drover([`${dir}/play.yml`, "--json", "-vv"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const events = jsonEvents(r.stdout);
    const start = events.findIndex((e) => e.type === "task_start" && e.name === "Record");
    const end = events.findIndex((e) => e.type === "task_start" && e.name === "Stat after");
    const commands = events.slice(start, end).filter((e) => e.type === "command")
      .map((e) => String(e.script));
    const scan = commands.findIndex((s) => s.includes("cp -a --parents"));
    const write = commands.findIndex((s) => s.includes("manifest.json") && s.includes("mv -f"));
    assert.ok(scan >= 0 && write > scan, commands.join("\n----\n"));
    assert.doesNotMatch(commands[scan], /^# then \d+ read/m, "reads after the scan");
    assert.match(commands[write], /^# then \d+ read\(s\) of the tasks ahead$/m);
    const record = JSON.parse(await Deno.readTextFile(`${dir}/rec/manifest.json`));
    assert.deepEqual(
      record.paths.map((p: { path: string; present: boolean }) => [p.path, p.present]),
      [[`${dir}/f`, true], [`${dir}/none`, false]],
    );
    const msg = events.find((e) => e.type === "host_result" && e.module === "debug")?.msg;
    assert.equal(msg, "kept\n");
  });
});

Deno.test("reads ahead wait for a missing record: not run when the record is about to be made, all run in one round trip once it exists, all run in check mode", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/f`, "kept\n");
    const stats = ["f", "rec/manifest.json", "g", "h", "i"].map((p, i) =>
      `    - name: Stat ${i}
      stat:
        path: ${dir}/${p}
`
    ).join("");
    await Deno.writeTextFile(
      `${dir}/play.yml`,
      localPlay(`    - name: Stat before
      stat:
        path: ${dir}/f
    - name: Record
      drover_record:
        dir: ${dir}/rec
        paths: [${dir}/f]
${stats}`),
    );
    const run = async (...extra: string[]) => {
      const r = await drover([`${dir}/play.yml`, "--json", "-vv", ...extra]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const events = jsonEvents(r.stdout);
      return {
        commands: events.filter((e) => e.type === "command").map((e) => String(e.script)),
        changed: events.filter((e) => e.type === "host_result" && e.changed).map((e) => e.task),
      };
    };
    // The first batch: "Stat before", then the record's read, then the five stats behind a gate.
    const gate = /^if \[ -s "\$drover_d\/\d+\.o" \]; then$/m;
    const check = await run("--check");
    assert.deepEqual(check.changed, ["Record"]);
    assert.doesNotMatch(check.commands[0], gate, "check mode changes nothing: no gate");
    assert.equal(check.commands.length, 1, check.commands.join("\n----\n"));
    const cold = await run();
    assert.deepEqual(cold.changed, ["Record"]);
    assert.match(cold.commands[0], gate, cold.commands[0]);
    // Behind the gate: the reads of the five stats after the record (none of those before it).
    const behind = cold.commands[0].split(gate)[1].split(/^fi$/m)[0];
    assert.ok((behind.match(/^sh -s /gm)?.length ?? 0) >= 5, behind);
    const converged = await run();
    assert.deepEqual(converged.changed, []);
    // The gate's read printed the record: every read ran in the first round trip.
    assert.equal(converged.commands.length, 1, converged.commands.join("\n----\n"));
  });
});
