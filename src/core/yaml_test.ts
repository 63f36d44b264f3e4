import assert from "node:assert/strict";
import { DroverError } from "./errors.ts";
import { join } from "./path.ts";
import { entries, MAX_SOURCE_BYTES, parseYaml, readText, toJS } from "./yaml.ts";

function refusal(fn: () => unknown): DroverError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DroverError, `not a DroverError: ${e}`);
    return e;
  }
  assert.fail("accepted");
}

Deno.test("merge keys: own keys first, then the merged ones it lacks", () => {
  const y = parseYaml(
    "t.yml",
    "base: &b {name: base, become: true}\ntask:\n  <<: *b\n  name: own\n  debug: {}\n",
  );
  const task = entries(y, y.doc.contents as never, "x").find((e) => e.key === "task")!;
  const es = entries(y, task.node, "a task");
  assert.deepEqual(es.map((e) => [e.key, toJS(y, e.node)]), [
    ["name", "own"],
    ["debug", {}],
    ["become", true],
  ]);
  // A merged key points at where it is written: in the anchor.
  assert.deepEqual(es[2].keyPos, { file: "t.yml", line: 1, col: 23 });
  const u = parseYaml("u.yml", "a:\n  <<: [1]\n");
  const a = entries(u, u.doc.contents as never, "x")[0];
  assert.match(
    refusal(() => entries(u, a.node, "a")).format(),
    /^u\.yml:2:8: YAML error: a merge key \('<<'\) needs a mapping, got number 1/,
  );
});

Deno.test("aliases: a billion laughs and a value containing itself are refused", () => {
  const level = (n: number) =>
    `l${n}: &l${n} [${Array(9).fill(n ? `*l${n - 1}` : '"lol"').join(", ")}]\n`;
  const laughs = Array.from({ length: 9 }, (_, n) => level(n)).join("");
  assert.match(
    refusal(() => parseYaml("b.yml", laughs)).format(),
    /^b\.yml:2:\d+: YAML error: aliases expand to too many values/,
  );
  assert.match(
    refusal(() => parseYaml("c.yml", "a: &a\n  b: *a\n")).format(),
    /^c\.yml:2:6: YAML error: alias '\*a' is inside the value it names/,
  );
  // A few aliases of plain values are fine.
  const d = parseYaml("d.yml", "a: &a [1, 2]\nb: [*a, *a]\n");
  assert.deepEqual(toJS(d, d.doc.contents as never), { a: [1, 2], b: [[1, 2], [1, 2]] });
});

Deno.test("NUL characters, raw or escaped, are refused where they are", () => {
  assert.match(refusal(() => parseYaml("n.yml", "a: 1\nb: x\0y\n")).format(), /^n\.yml:2:5: .*NUL/);
  assert.match(refusal(() => parseYaml("n.yml", 'a: "x\\0y"\n')).format(), /^n\.yml:1:4: .*NUL/);
});

Deno.test("a second document is a clear error", () => {
  assert.match(
    refusal(() => parseYaml("m.yml", "- a\n---\n- b\n")).format(),
    /^m\.yml:2:1: YAML syntax error: a second document/,
  );
});

Deno.test("readText: BOM dropped, not UTF-8 located, directories and huge files refused", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const f = join(dir, "f.yml");
    Deno.writeFileSync(
      f,
      new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode("a: 1\n")]),
    );
    assert.equal(readText(f), "a: 1\n");
    Deno.writeFileSync(f, new Uint8Array([0x61, 0x3a, 0x0a, 0x62, 0x3a, 0x20, 0xe9, 0x0a]));
    assert.match(refusal(() => readText(f)).format(), /f\.yml:2:4: .*not UTF-8 text: byte 0xe9/);
    assert.match(refusal(() => readText(dir)).message, /it is a directory/);
    assert.match(refusal(() => readText(join(dir, "nope"))).message, /no such file/);
    assert.match(refusal(() => readText("/dev/zero")).message, /larger than 16 MiB/);
    Deno.writeFileSync(f, new Uint8Array(MAX_SOURCE_BYTES).fill(0x20));
    assert.equal(readText(f).length, MAX_SOURCE_BYTES);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
