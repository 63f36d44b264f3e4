/**
 * The corpus of broken input: every file `test/fixtures/bad/NNN-name.yml` is a
 * playbook (or, named `NNN-name.inventory.yml`, an inventory run with a valid
 * playbook) that drover must refuse or fail in one exact, one-paragraph way.
 *
 * Each case states its expectation in header comments:
 *
 * ```yaml
 * # deno-fmt-ignore-file              (first line: deno fmt would move or reject the broken YAML)
 * # expect: exit=4 at=3:5 match=/unknown key 'becom'.*did you mean 'become'/
 * # args: ["-e", "foo"]               (optional, JSON: more command-line arguments)
 * # file: _tasks/unknown-module.yml   (optional: `at` is in this file, not the case itself)
 * # stream: stdout                    (optional: a host failure, reported on stdout)
 * # present: ["a b"]                  (optional, JSON: what the run must create in $TMP)
 * ```
 *
 * `at=-` means the message has no file position (a bad option). Every run gets
 * `-e tmp=$TMP`, a fresh directory that is also the working directory; unless
 * `present` says otherwise it must still be empty afterwards, so a case that
 * writes files proves that nothing ran.
 */
import assert from "node:assert/strict";
import { drover, ROOT, withTempDir } from "./helpers.ts";
import { join } from "../src/core/path.ts";

const DIR = join(ROOT, "test", "fixtures", "bad");
const INVENTORY = join(DIR, "_inventory.yml");
const VALID_PLAYBOOK = join(DIR, "_ok.yml");

interface Case {
  readonly name: string;
  readonly path: string;
  readonly inventory: boolean;
  readonly exit: number;
  /** `line:col`, or undefined for a message without a position. */
  readonly at?: string;
  /** The file `at` is in, relative to test/fixtures/bad. */
  readonly atFile: string;
  readonly match: RegExp;
  readonly args: string[];
  readonly stream: "stdout" | "stderr";
  readonly present?: string[];
}

function header(text: string, key: string): string | undefined {
  return new RegExp(`^# ${key}: (.*)$`, "m").exec(text)?.[1];
}

function parseCase(file: string): Case {
  const text = Deno.readTextFileSync(join(DIR, file));
  if (!text.startsWith("# deno-fmt-ignore-file\n")) {
    throw new Error(`${file}: the first line must be '# deno-fmt-ignore-file'`);
  }
  const expect = header(text, "expect");
  const m = expect && /^exit=(\d+) at=(-|\d+:\d+) match=\/(.*)\/$/.exec(expect);
  if (!m) throw new Error(`${file}: missing or malformed '# expect: exit=N at=L:C match=/re/'`);
  const json = (key: string) => {
    const v = header(text, key);
    return v === undefined ? undefined : JSON.parse(v) as string[];
  };
  return {
    name: file.replace(/\.yml$/, ""),
    path: join(DIR, file),
    inventory: file.endsWith(".inventory.yml"),
    exit: Number(m[1]),
    at: m[2] === "-" ? undefined : m[2],
    atFile: header(text, "file") ?? file,
    match: new RegExp(m[3]),
    args: json("args") ?? [],
    stream: header(text, "stream") === "stdout" ? "stdout" : "stderr",
    present: json("present"),
  };
}

const cases = [...Deno.readDirSync(DIR)]
  .filter((e) => e.isFile && /^\d{3}-[a-z0-9-]+(\.inventory)?\.yml$/.test(e.name))
  .map((e) => e.name)
  .sort()
  .map(parseCase);

Deno.test("corpus: at least 100 cases, each with a unique number", () => {
  assert.ok(cases.length >= 100, `only ${cases.length} cases`);
  const numbers = cases.map((c) => c.name.slice(0, 3));
  assert.equal(new Set(numbers).size, numbers.length, "two cases share a number");
});

async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    out.push(prefix + e.name);
    if (e.isDirectory) out.push(...await listTree(join(dir, e.name), `${prefix}${e.name}/`));
  }
  return out.sort();
}

for (const c of cases) {
  Deno.test(`corpus ${c.name}`, async () => {
    await withTempDir(async (tmp) => {
      const args = [
        "-i",
        c.inventory ? c.path : INVENTORY,
        c.inventory ? VALID_PLAYBOOK : c.path,
        "-e",
        `tmp=${tmp}`,
        ...c.args.map((a) => a.replaceAll("$TMP", tmp)),
      ];
      // Run from the temp directory: a command an injected string might start lands there.
      const run = await drover(args, { cwd: tmp });
      const all = `--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
      assert.equal(run.code, c.exit, `exit code\n${all}`);
      const out = c.stream === "stdout" ? run.stdout : run.stderr;
      for (const s of [run.stdout, run.stderr]) {
        assert.doesNotMatch(s, /^ {4}at |error: Uncaught|Stack backtrace|\(node:\d+\)/m, all);
      }
      // The message: the line holding the expected text (or position).
      const lines = out.split("\n").filter((l) => l.trim() !== "");
      const line = lines.find((l) => c.match.test(l));
      assert.ok(line !== undefined, `no line of ${c.stream} matches ${c.match}\n${all}`);
      if (c.at) {
        const where = `test/fixtures/bad/${c.atFile}:${c.at}:`;
        assert.ok(line.includes(where), `message lacks ${where}\n${all}`);
      } else {
        assert.doesNotMatch(line, /\.ya?ml:\d+:\d+/, "a bad option has no file position");
      }
      if (c.stream === "stderr") {
        // Refused before anything ran: one paragraph on stderr, nothing on stdout.
        assert.equal(lines.length, 1, `more than one line on stderr\n${all}`);
        assert.match(lines[0], /^ERROR! /);
        if (c.exit !== 0) assert.doesNotMatch(run.stdout, /TASK \[/, `a task ran\n${all}`);
      } else if (c.exit !== 0) {
        assert.match(line, /^fatal: \[localhost\]: FAILED! => /, all);
        assert.doesNotMatch(JSON.parse(line.slice(line.indexOf("{"))).msg, /\n/);
      }
      const created = await listTree(tmp);
      if (c.present) {
        for (const p of c.present) {
          const rel = p.replaceAll("$TMP", tmp);
          assert.ok(
            await Deno.lstat(join(tmp, rel)).then(() => true, () => false),
            `${JSON.stringify(rel)} was not created; found ${JSON.stringify(created)}`,
          );
        }
        const stray = created.filter((f) =>
          !c.present!.some((p) => {
            const rel = p.replaceAll("$TMP", tmp);
            return rel === f || rel.startsWith(`${f}/`);
          })
        );
        assert.deepEqual(stray, [], "the run created something it should not have");
      } else {
        assert.deepEqual(created, [], "the run changed files though it should have stopped");
      }
    });
  });
}

Deno.test("a playbook that does not validate changes nothing on the host", async () => {
  // The first task would create a file; something later is invalid. Nothing may run.
  const first = `- hosts: all
  gather_facts: false
  tasks:
    - name: Create a file
      copy:
        dest: "{{ tmp }}/created"
        content: "x\\n"
`;
  const invalid: Record<string, [string, RegExp]> = {
    "a later task": [
      `${first}    - name: A typo in a module
      coppy: { dest: "{{ tmp }}/other", content: x }
`,
      /unknown module 'coppy'/,
    ],
    "a later play": [
      `${first}- hosts: all
  tasks:
    - debug: { msgg: hi }
`,
      /module 'debug' has no argument 'msgg'/,
    ],
    "a handler": [
      `${first}      notify: done
  handlers:
    - name: done
      debug: { msg: done, verbosity: high }
`,
      /argument 'verbosity' of module 'debug'/,
    ],
    "a role's variables": [
      `${first}- hosts: all
  roles:
    - { role: greeter, times: many }
`,
      /role 'greeter' variable 'times' is invalid/,
    ],
    "a hostile environment name": [
      `${first}    - command: "true"
      environment: { "X;touch pwned": "1" }
`,
      /invalid environment variable name 'X;touch pwned'/,
    ],
  };
  await withTempDir(async (dir) => {
    const run = async (name: string, text: string) => {
      const tmp = join(dir, "host");
      await Deno.mkdir(tmp);
      const playbook = join(dir, `${name.replaceAll(/\W/g, "_")}.yml`);
      await Deno.writeTextFile(playbook, text);
      const r = await drover(["-i", INVENTORY, playbook, "-e", `tmp=${tmp}`], {
        cwd: tmp,
        env: { DROVER_ROLES_PATH: join(DIR, "roles") },
      });
      const created = await listTree(tmp);
      await Deno.remove(tmp, { recursive: true });
      return { ...r, created };
    };
    // Valid, the first task does create the file: so an empty directory below means it never ran.
    const ok = await run("valid", first);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.deepEqual(ok.created, ["created"]);
    for (const [what, [text, why]] of Object.entries(invalid)) {
      const r = await run(what, text);
      const all = `${what}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
      assert.equal(r.code, 4, `exit code\n${all}`);
      assert.match(r.stderr, /^ERROR! \S+\.yml:\d+:\d+: /, all);
      assert.match(r.stderr, why, all);
      assert.doesNotMatch(r.stdout, /TASK \[/, `a task ran\n${all}`);
      assert.deepEqual(r.created, [], `${what}: the host changed\n${all}`);
    }
  });
});
