/**
 * @module
 * Reads of the tasks ahead run in the same round trip as a command that may
 * change the host, right after it. The command must look exactly as it does
 * alone (stdout without a trailing newline, stderr, exit code), and the
 * reads must see the host as the command left it. Compared with
 * DROVER_READ_AHEAD=0, where every command and read is its own round trip.
 */
import assert from "node:assert/strict";
import { drover, withTempDir } from "./helpers.ts";

const PLAY = (dir: string) =>
  `- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: A command that prints no newline
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
`;

for (const readAhead of ["1", "0"]) {
  Deno.test(`a command's output and the reads after it (DROVER_READ_AHEAD=${readAhead})`, async () => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/play.yml`, PLAY(dir));
      const r = await drover([`${dir}/play.yml`, "--json"], {
        env: { DROVER_READ_AHEAD: readAhead },
      });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const msg = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
        .find((e) => e.type === "host_result" && e.task === "What each task saw")?.msg;
      assert.deepEqual(JSON.parse(msg), [
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
