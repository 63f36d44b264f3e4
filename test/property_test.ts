/**
 * Property tests (fast-check) for "bad input is refused":
 *
 * 1. Shell quoting: `shq`, `exportLines` and `heredocTag` carry any NUL-free
 *    string (any Unicode text, or any bytes) through a real shell unchanged —
 *    drover's own path, a script on the stdin of `sh -s` (one long-lived shell
 *    per shell binary, one case per round trip) — and `commandLine` (ssh's
 *    remote command) through `sh -c` (many cases per process).
 * 2. The playbook loader (with a YAML role), the inventory loader (with
 *    group_vars/, host patterns, comma lists) and the `-e` parser, fed arbitrary
 *    text, bytes, YAML-shaped structures and mutations of real playbooks, throw
 *    nothing but {@linkcode DroverError}: one paragraph, with a position.
 *
 * Each property runs `DROVER_PROPERTY_RUNS` cases (default 10,000; the figures
 * are in test/SAFETY.md). A failure prints fast-check's seed and shrunk case.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { stringify } from "yaml";
import { DroverError } from "../src/core/errors.ts";
import { join } from "../src/core/path.ts";
import { exportLines, heredocTag, shq } from "../src/connection/quote.ts";
import { commandLine } from "../src/connection/become.ts";
import { loadPlaybook } from "../src/playbook/load.ts";
import { loadInventory, matchPattern } from "../src/inventory/mod.ts";
import { parseExtraVars } from "../src/cli/extra_vars.ts";
import { BLOCK_KEYS, PLAY_KEYS, ROLE_KEYS, TASK_KEYS } from "../src/playbook/keywords.ts";
import { findModule, moduleNames } from "../src/modules/registry.ts";
import { argNames } from "../src/playbook/validate.ts";
import { ROOT } from "./helpers.ts";

const RUNS = Number(Deno.env.get("DROVER_PROPERTY_RUNS") ?? 10_000);

/** Run a property RUNS times; fail with fast-check's report (seed, shrunk counterexample). */
async function check<T>(property: fc.IRawProperty<T>): Promise<void> {
  const r = await fc.check(property, { numRuns: RUNS });
  assert.ok(!r.failed, `${fc.defaultReportMessage(r)}\n${r.errorInstance}`);
  assert.equal(r.numRuns, RUNS, "fast-check ran fewer cases than asked");
}

// ---------------------------------------------------------------------------
// Strings: random text plus the pieces that break naive quoting.

const SHELL_PIECES = [
  "'",
  '"',
  "\\",
  "'\\''",
  "$",
  "$(touch pwned)",
  "`id`",
  "${HOME}",
  "$1",
  "; rm -rf / #",
  "&& reboot",
  "| sh",
  "\n",
  "\r\n",
  "\t",
  " ",
  "*",
  "?",
  "[a-z]",
  "~",
  "!",
  "#",
  "<",
  ">",
  "-n",
  "--",
  "%s",
  "%",
  "\\0",
  "\\n",
  "DROVER_EOF",
  "DROVER_EOF_1",
  "\nDROVER_EOF\n",
  "EOF",
  "{{ x }}",
  "é",
  "日本",
  "🚀",
  "\u202e",
  "\x1b[2J",
  "\x7f",
];

/** Any Unicode text without NUL: random code points, or shell-hostile pieces joined. */
const text = fc.oneof(
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.array(
    fc.oneof(fc.constantFrom(...SHELL_PIECES), fc.string({ unit: "binary-ascii", maxLength: 4 })),
    { maxLength: 12 },
  ).map((a) => a.join("")),
).filter((s) => !s.includes("\0") && s.isWellFormed());

/** Any bytes but NUL, as a string of code units 1..255 (written to the shell byte for byte). */
const bytes = fc.oneof(
  fc.uint8Array({ min: 1, maxLength: 64 }),
  fc.array(
    fc.oneof(
      fc.constantFrom(...SHELL_PIECES.filter((p) => [...p].every((c) => c.charCodeAt(0) <= 0xff))),
      fc.uint8Array({ min: 1, maxLength: 4 }).map(latin1),
    ),
    { maxLength: 12 },
  ).map((a) => a.join("")),
).map((b) => typeof b === "string" ? b : latin1(b));

function latin1(b: Uint8Array): string {
  return String.fromCharCode(...b);
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const asBytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

// ---------------------------------------------------------------------------
// A long-lived `sh -s` fed one case at a time, as drover feeds scripts.

class ShellSession {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf = new Uint8Array(0);
  #n = 0;
  dead = false;

  constructor(readonly shell: string) {
    this.#child = new Deno.Command(shell, {
      args: ["-s"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      env: { LC_ALL: "C.UTF-8" },
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#reader = this.#child.stdout.getReader();
  }

  /** Run `script`; the NUL-terminated fields it printed, or why there are none. */
  async run(script: Uint8Array): Promise<Uint8Array[] | string> {
    const marker = utf8(`\0@@end${++this.#n}@@\0`);
    await this.#writer.write(script);
    // The marker follows the last field's NUL: "…\0@@endN@@\0".
    await this.#writer.write(utf8(`\nprintf '@@end%d@@\\0' ${this.#n}\n`));
    for (;;) {
      const at = indexOf(this.#buf, marker);
      if (at >= 0) {
        const out = this.#buf.subarray(0, at + 1);
        this.#buf = this.#buf.slice(at + marker.length);
        const fields: Uint8Array[] = [];
        for (let i = 0, j; (j = out.indexOf(0, i)) >= 0; i = j + 1) fields.push(out.slice(i, j));
        return fields;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const r = await Promise.race([
        this.#reader.read(),
        new Promise<"timeout">((res) => timer = setTimeout(() => res("timeout"), 10_000)),
      ]);
      clearTimeout(timer);
      if (r === "timeout") return this.#die("no answer in 10 s (an unterminated quote?)");
      if (r.done) return this.#die("the shell exited (a syntax error?)");
      const next = new Uint8Array(this.#buf.length + r.value.length);
      next.set(this.#buf);
      next.set(r.value, this.#buf.length);
      this.#buf = next;
    }
  }

  #die(why: string): string {
    this.dead = true;
    return `${why}; output so far: ${JSON.stringify(new TextDecoder().decode(this.#buf))}`;
  }

  async close(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#writer.close().catch(() => {});
    await this.#reader.cancel().catch(() => {});
    await this.#child.status;
  }
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = hay.indexOf(needle[0]); i >= 0; i = hay.indexOf(needle[0], i + 1)) {
    if (i + needle.length > hay.length) return -1;
    for (let k = 1; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

/** The distinct shells to test: /bin/sh, dash and bash, each once (sh is dash on Debian). */
function shells(): string[] {
  const out = new Map<string, string>();
  for (const s of ["/bin/sh", "dash", "bash"]) {
    const which = new Deno.Command("sh", { args: ["-c", `command -v ${s}`], stdout: "piped" })
      .outputSync();
    const path = new TextDecoder().decode(which.stdout).trim();
    if (!which.success || !path) continue;
    const real = Deno.realPathSync(path);
    if (!out.has(real)) out.set(real, s);
  }
  return [...out.values()];
}

/** One case: the string as a quoted word, as an exported variable, and as a heredoc body. */
function roundTripScript(s: string): string {
  const tag = heredocTag(s);
  return `printf '%s\\0' ${shq(s)}\n` +
    `${exportLines({ DROVER_PROP_VALUE: s })}printf '%s\\0' "$DROVER_PROP_VALUE"\n` +
    // `read -r` with an empty IFS copies each line exactly and forks no `cat`; in the C
    // locale, as bash's `read` would drop a byte that is not UTF-8.
    `LC_ALL=C\nwhile IFS= read -r l; do printf '%s\\n' "$l"; done <<'${tag}'\n${s}\n${tag}\n` +
    `LC_ALL=C.UTF-8\nprintf '\\0'\n`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

for (const shell of shells()) {
  for (
    const [kind, arb, encode] of [
      ["Unicode text", text, utf8],
      ["bytes", bytes, asBytes],
    ] as const
  ) {
    Deno.test(`property: shq, exportLines and heredocTag round-trip any ${kind} through ${shell} -s`, async () => {
      let session = new ShellSession(shell);
      try {
        await check(fc.asyncProperty(arb, async (s) => {
          if (session.dead) {
            await session.close();
            session = new ShellSession(shell);
          }
          const got = await session.run(encode(roundTripScript(s)));
          if (typeof got === "string") assert.fail(got);
          const want = [encode(s), encode(s), encode(`${s}\n`)];
          // Bytes in hex: a dropped byte of a UTF-8 character shows.
          const hex = (f: Uint8Array[]) =>
            JSON.stringify(f.map((x) => Array.from(x, (b) => b.toString(16)).join(" ")));
          // A mismatch may leave the shell out of step: the next case gets a fresh one.
          session.dead = !(got.length === 3 && got.every((f, i) => sameBytes(f, want[i])));
          assert.ok(!session.dead, `got ${hex(got)}, want ${hex(want)}`);
        }));
      } finally {
        await session.close();
      }
    });
  }

  Deno.test(`property: commandLine words come back as the same argv through ${shell} -c`, async () => {
    const BATCH = 50;
    const words = text.filter((s) => [...s].length <= 24);
    const batches = fc.array(fc.array(words, { maxLength: 5 }), {
      minLength: BATCH,
      maxLength: BATCH,
    });
    // RUNS cases in RUNS / BATCH processes: one `sh -c` per batch.
    const r = await fc.check(
      fc.property(batches, (batch) => {
        const script = batch.map((ws) => `set -- ${commandLine(ws)}\nprintf '%s\\0' "$#" "$@"\n`)
          .join("");
        const out = new Deno.Command(shell, { args: ["-c", script], stdout: "piped" })
          .outputSync();
        assert.ok(out.success, `${shell} -c failed on ${JSON.stringify(script)}`);
        const fields = new TextDecoder().decode(out.stdout).split("\0").slice(0, -1);
        const got: string[][] = [];
        for (let i = 0; i < fields.length; i += Number(fields[i]) + 1) {
          got.push(fields.slice(i + 1, i + 1 + Number(fields[i])));
        }
        assert.deepEqual(got, batch);
      }),
      { numRuns: Math.ceil(RUNS / BATCH) },
    );
    assert.ok(!r.failed, `${fc.defaultReportMessage(r)}\n${r.errorInstance}`);
    assert.ok(r.numRuns * BATCH >= RUNS, "fast-check ran fewer cases than asked");
  });
}

Deno.test("property: shq and exportLines refuse what a shell cannot carry", () => {
  fc.assert(
    fc.property(text, text, (a, b) => {
      const withNul = `${a}\0${b}`;
      assert.throws(() => shq(withNul), DroverError);
      assert.throws(() => exportLines({ A: withNul }), DroverError);
      const name = `${a}${b}`;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        assert.throws(() => exportLines({ [name]: "x" }), DroverError);
      }
    }),
    { numRuns: RUNS },
  );
});

// ---------------------------------------------------------------------------
// Loaders: anything in, a playbook / inventory / variables or a DroverError out.

/** A temp dir in memory when there is one: each case writes files, 10,000 times. */
async function tempDir(): Promise<string> {
  const shm = await Deno.stat("/dev/shm").then((s) => s.isDirectory, () => false);
  return await Deno.makeTempDir({ prefix: "drover-property-", dir: shm ? "/dev/shm" : undefined });
}

/** What a refusal must look like: drover's error, one paragraph, saying where. */
function assertRefusal(e: unknown, options: { where: boolean; exitCode?: number }): void {
  if (!(e instanceof DroverError)) {
    assert.fail(`threw ${e instanceof Error ? e.stack : String(e)}, not a DroverError`);
  }
  const message = e.format();
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(message, /[\x00-\x1f\x7f]/, "a refusal is one printable paragraph");
  if (options.where) assert.notEqual(e.where(), "", `no position in: ${message}`);
  if (options.exitCode !== undefined) assert.equal(e.exitCode, options.exitCode, message);
}

const readSeeds = (paths: string[]) => paths.map((p) => Deno.readTextFileSync(join(ROOT, p)));
const listYaml = (dir: string, re = /\.ya?ml$/) =>
  [...Deno.readDirSync(join(ROOT, dir))].filter((e) => e.isFile && re.test(e.name))
    .map((e) => `${dir}/${e.name}`).sort();

const PLAYBOOK_SEEDS = readSeeds([
  ...listYaml("playbooks"),
  ...listYaml("test/fixtures/bad", /^\d.*(?<!\.inventory)\.yml$/),
  ...listYaml("test/fixtures/bad/_tasks"),
  "test/fixtures/bad/_ok.yml",
]);
const INVENTORY_SEEDS = readSeeds([
  ...listYaml("inventory"),
  ...listYaml("test/fixtures/bad", /\.inventory\.yml$/),
  "test/fixtures/bad/_inventory.yml",
]);

const YAML_PIECES = [
  "\n",
  "\n- ",
  "\n  ",
  ": ",
  "- ",
  "  ",
  "\t",
  "{",
  "}",
  "[",
  "]",
  ", ",
  "&a ",
  "*a",
  "<<: *a\n",
  "<<: ",
  "'",
  '"',
  "{{ ",
  " }}",
  "# ",
  "|\n",
  ">-\n",
  "!!binary ",
  "!!map ",
  "!!str ",
  "!custom ",
  "? ",
  "---\n",
  "...\n",
  "%YAML 1.1\n---\n",
  "\\",
  "\\0",
  "\0",
  "\u00a0",
  "\ufeff",
  "\r",
  "~",
  "null",
  "yes",
  "0644",
  "0x1F",
  "1e999",
  "; rm -rf /",
  "$(touch pwned)",
  "`id`",
  "import_tasks: ",
  "import_playbook: ",
  "include_tasks: ",
  "roles:\n  - ",
  "vars_files: ",
  "environment: ",
  "hosts: ",
  "block:\n",
  "__proto__: ",
  "constructor: ",
  "&b [*b]",
  "children:\n",
  "vars:\n",
];

/** A seed text with a few random edits (delete a span, insert a YAML piece). */
function mutations(seeds: readonly string[]): fc.Arbitrary<string> {
  const edit = fc.tuple(fc.nat(), fc.nat({ max: 12 }), fc.constantFrom(...YAML_PIECES));
  return fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 5 }))
    .map(([seed, edits]) =>
      edits.reduce((t, [p, del, ins]) => {
        const i = p % (t.length + 1);
        return t.slice(0, i) + ins + t.slice(i + del);
      }, seed)
    );
}

const MODULES = moduleNames();
const KEYS = [
  ...PLAY_KEYS,
  ...TASK_KEYS,
  ...BLOCK_KEYS,
  ...ROLE_KEYS,
  ...MODULES,
  "import_playbook",
  "import_tasks",
  "include_tasks",
  "hosts",
  "children",
  "file",
  "<<",
  "__proto__",
  "constructor",
  "ansible_host",
  "ansible_connection",
];

const scalar = fc.oneof(
  fc.constantFrom(
    "all",
    "localhost",
    "web:!db",
    "~web[0-9]+",
    "yes",
    "no",
    "",
    "{{ x }}",
    "{{ item }}",
    "{{",
    "/tmp/drover-property",
    "0644",
    "present",
    "absent",
    "restart",
    "; rm -rf /",
    "$(touch pwned)",
    "`id`",
    "a\nb",
    "x\0y",
    "__proto__",
    "site.yml",
    "roles",
    "-1",
    "local",
  ),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const key = fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 }));
const { value } = fc.letrec<{ value: unknown; list: unknown[]; map: Record<string, unknown> }>(
  (tie) => ({
    value: fc.oneof({ depthSize: "small" }, scalar, tie("list"), tie("map")),
    list: fc.array(tie("value"), { maxLength: 4 }),
    map: fc.dictionary(key, tie("value"), { maxKeys: 4 }),
  }),
);

const ident = fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/);

const PLAUSIBLE: Record<string, fc.Arbitrary<unknown>> = {
  name: fc.oneof(fc.constantFrom("h", "restart"), fc.string({ maxLength: 10 })),
  hosts: fc.constantFrom("all", "localhost", "web:!db", "~loc.*"),
  become: fc.boolean(),
  gather_facts: fc.boolean(),
  ignore_errors: fc.boolean(),
  no_log: fc.boolean(),
  check_mode: fc.boolean(),
  run_once: fc.boolean(),
  vars: fc.dictionary(ident, scalar, { maxKeys: 3 }),
  tags: fc.oneof(ident, fc.array(ident, { maxLength: 3 })),
  when: fc.constantFrom("x is defined", "true", "{{ a }}", "item > 1"),
  loop: fc.oneof(fc.array(scalar, { maxLength: 3 }), fc.constant("{{ items }}")),
  loop_control: fc.record({ label: fc.string(), loop_var: ident }, { requiredKeys: [] }),
  register: ident,
  notify: fc.constantFrom("h", "restart", ["h"]),
  listen: fc.constantFrom("h", "restart"),
  environment: fc.oneof(
    fc.dictionary(fc.stringMatching(/^[A-Z_]{1,6}$/), fc.string({ maxLength: 8 }), {
      maxKeys: 2,
    }),
    fc.constant("{{ env }}"),
  ),
  retries: fc.nat(5),
  delay: fc.nat(5),
  serial: fc.constantFrom(1, "50%"),
  vars_files: fc.array(fc.constantFrom("vars.yml", "{{ f }}.yml"), { maxLength: 2 }),
};
const keywordValues = new Map<string, fc.Arbitrary<unknown>>();

/** Mostly a plausible value for a keyword (so validation goes deeper), sometimes anything. */
function keyword(k: string): fc.Arbitrary<unknown> {
  let a = keywordValues.get(k);
  if (!a) {
    keywordValues.set(k, a = fc.oneof({ weight: 3, arbitrary: PLAUSIBLE[k] ?? value }, value));
  }
  return a;
}

/** Some of `keys`, each with a value from `valueOf`. */
function someOf(
  keys: readonly string[],
  valueOf: (k: string) => fc.Arbitrary<unknown>,
  max: number,
): fc.Arbitrary<Record<string, unknown>> {
  return fc.subarray([...keys], { maxLength: Math.min(max, keys.length) }).chain((ks) =>
    fc.tuple(...ks.map(valueOf)).map((vs) => Object.fromEntries(ks.map((k, i) => [k, vs[i]])))
  );
}

/** A task: a module with arguments named from its schema, plus task keywords. */
const argValue = fc.oneof(scalar, value);
const task = fc.oneof(...MODULES.map((m) =>
  fc.tuple(
    fc.oneof(
      { weight: 3, arbitrary: someOf(argNames(findModule(m)!), () => argValue, 4) },
      scalar,
      fc.dictionary(key, value, { maxKeys: 2 }),
    ),
    someOf(TASK_KEYS, keyword, 3),
    fc.option(fc.dictionary(key, value, { maxKeys: 1 }), { freq: 4, nil: {} }),
  ).map(([args, kw, junk]) => ({ ...kw, ...junk, [m]: args }))
));
const item = fc.oneof(
  { weight: 5, arbitrary: task },
  fc.tuple(fc.array(task, { maxLength: 3 }), someOf(BLOCK_KEYS, keyword, 3)).map((
    [block, kw],
  ) => ({ ...kw, block })),
  fc.record({ import_tasks: scalar }),
  fc.record({ include_tasks: fc.oneof(scalar, value) }),
  value,
);
/** Roles of test/fixtures/bad/roles (typed, YAML, broken) and the fuzzed one. */
const FIXTURE_ROLES = [
  ...Deno.readDirSync(join(ROOT, "test/fixtures/bad/roles")),
].map((e) => e.name);
const roleUse = fc.oneof(
  fc.constantFrom(...FIXTURE_ROLES, "fuzz"),
  fc.tuple(fc.constantFrom(...FIXTURE_ROLES, "fuzz"), fc.dictionary(key, value, { maxKeys: 2 }))
    .map(([role, params]) => ({ ...params, role })),
  value,
);
const play = fc.tuple(
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom("all", "localhost") }, scalar),
  fc.array(item, { maxLength: 3 }),
  someOf(PLAY_KEYS.filter((k) => k !== "hosts" && k !== "tasks"), keyword, 3),
  fc.option(fc.array(roleUse, { maxLength: 2 }), { freq: 3, nil: undefined }),
  fc.option(fc.array(task.map((t) => ({ name: "h", ...t })), { maxLength: 2 }), {
    freq: 3,
    nil: undefined,
  }),
).map(([hosts, tasks, kw, roles, handlers]) => ({
  hosts,
  ...kw,
  tasks,
  ...(roles ? { roles } : {}),
  ...(handlers ? { handlers } : {}),
}));

/** YAML text: arbitrary characters, a YAML-shaped value, or an edited real file. */
function yamlText(shaped: fc.Arbitrary<unknown>, seeds: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.string({ unit: "grapheme-ascii", maxLength: 200 }),
    fc.array(fc.constantFrom(...YAML_PIECES, ...KEYS), { maxLength: 30 }).map((a) => a.join("")),
    { weight: 4, arbitrary: shaped.map((v) => stringify(v)) },
    value.map((v) => stringify(v)),
    { weight: 3, arbitrary: mutations(seeds) },
  );
}

/** File content: text, or raw bytes (not always UTF-8). */
const content = (t: fc.Arbitrary<string>) =>
  fc.oneof({ weight: 9, arbitrary: t }, fc.uint8Array({ maxLength: 200 }));

function write(path: string, data: string | Uint8Array): void {
  Deno.mkdirSync(join(path, ".."), { recursive: true });
  if (typeof data === "string") Deno.writeTextFileSync(path, data);
  else Deno.writeFileSync(path, data);
}

const ROLE_PARTS = ["tasks", "handlers", "defaults", "vars", "meta"] as const;

Deno.test("property: the playbook loader (and its YAML roles) throws only DroverError", async () => {
  const dir = await tempDir();
  try {
    const site = join(dir, "site.yml");
    const playbook = yamlText(fc.array(play, { maxLength: 2 }), PLAYBOOK_SEEDS);
    const roleFile = yamlText(fc.array(item, { maxLength: 3 }), PLAYBOOK_SEEDS);
    const input = fc.oneof(
      { weight: 3, arbitrary: content(playbook).map((p) => ({ site: p, role: undefined })) },
      fc.record({
        site: fc.constantFrom("- hosts: all\n  roles:\n    - fuzz\n"),
        // Absent parts are empty files: then the others are read too.
        role: fc.tuple(...ROLE_PARTS.map(() => fc.option(content(roleFile), { nil: "" }))),
      }),
    );
    await check(fc.asyncProperty(input, async ({ site: text, role }) => {
      write(site, text);
      if (role) {
        ROLE_PARTS.forEach((p, i) => write(join(dir, "roles/fuzz", p, "main.yml"), role[i]));
      }
      try {
        await loadPlaybook(site, { rolesPath: [join(ROOT, "test/fixtures/bad/roles")] });
      } catch (e) {
        assertRefusal(e, { where: true });
      }
    }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const inventoryShape = fc.record({
  all: fc.record({
    hosts: fc.dictionary(key, fc.oneof(fc.constant(null), value), { maxKeys: 3 }),
    children: fc.dictionary(key, value, { maxKeys: 3 }),
    vars: value,
  }, { requiredKeys: [] }),
});

Deno.test("property: the inventory loader and host patterns throw only DroverError", async () => {
  const dir = await tempDir();
  await Deno.mkdir(join(dir, "group_vars"));
  try {
    const file = join(dir, "hosts.yml");
    const pattern = fc.oneof(
      fc.constantFrom("all", "localhost", "web", "web:!db", "web:&db", "*", "~l.*", "~(", "a,b"),
      fc.string({ maxLength: 16 }),
      fc.string({ unit: "binary", maxLength: 16 }),
    );
    const input = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          text: content(yamlText(inventoryShape, INVENTORY_SEEDS)),
          groupVars: fc.option(content(yamlText(value, INVENTORY_SEEDS)), { nil: undefined }),
          list: fc.constant(undefined),
          pattern,
        }),
      },
      fc.record({
        text: fc.constant(""),
        groupVars: fc.constant(undefined),
        list: fc.oneof(text, fc.string({ maxLength: 20 })).map((s) => `${s},`),
        pattern,
      }),
    );
    await check(fc.asyncProperty(input, ({ text, groupVars, list, pattern }) => {
      write(file, text);
      Deno.removeSync(join(dir, "group_vars"), { recursive: true });
      if (groupVars !== undefined) write(join(dir, "group_vars", "all.yml"), groupVars);
      else Deno.mkdirSync(join(dir, "group_vars"));
      try {
        const inv = loadInventory(list ?? file);
        inv.hosts();
        // In a playbook (with a position, exit 4) or as --limit with a comma list (exit 5).
        matchPattern(inv, pattern, list === undefined ? { file, line: 1, col: 1 } : undefined);
      } catch (e) {
        // A comma list and a --limit pattern are options (exit 5, no position).
        assertRefusal(e, { where: list === undefined, exitCode: list === undefined ? 4 : 5 });
      }
      return Promise.resolve();
    }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("property: -e parses to valid variables or is a bad option (exit 5)", async () => {
  const dir = await tempDir();
  try {
    const file = join(dir, "vars.yml");
    const word = fc.oneof(fc.constantFrom("a", "b_1", "__proto__", "1x", "my-var", ""), key);
    const kv = fc.array(
      fc.tuple(word, fc.oneof(scalar, text), fc.constantFrom("", "'", '"')),
      { minLength: 1, maxLength: 4 },
    ).map((a) => a.map(([k, v, q]) => `${k}=${q}${v}${q}`).join(" "));
    const inline = fc.oneof(
      fc.string({ unit: "binary", maxLength: 60 }),
      kv,
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.dictionary(key, value, { maxKeys: 4 }).map((v) =>
        stringify(v, { collectionStyle: "flow" })
      ),
      yamlText(fc.dictionary(key, value, { maxKeys: 4 }), INVENTORY_SEEDS).map((t) => `{${t}}`),
    ).map((a) => ({ a, file: undefined }));
    const fromFile = content(yamlText(fc.dictionary(key, value), PLAYBOOK_SEEDS))
      .map((c) => ({ a: `@${file}`, file: c }));
    await check(fc.asyncProperty(fc.oneof({ weight: 5, arbitrary: inline }, fromFile), (input) => {
      if (input.file !== undefined) write(file, input.file);
      const a = input.a;
      let vars: Record<string, unknown>;
      try {
        vars = parseExtraVars(a);
      } catch (e) {
        assertRefusal(e, { where: false, exitCode: 5 });
        return Promise.resolve();
      }
      for (const k of Object.keys(vars)) {
        assert.match(k, /^[A-Za-z_][A-Za-z0-9_]*$/, `-e ${JSON.stringify(a)} set ${k}`);
        assert.notEqual(k, "__proto__");
      }
      return Promise.resolve();
    }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
