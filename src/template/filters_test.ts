import assert from "node:assert/strict";
import { Templar } from "./mod.ts";
import { pyFormat, pyJson, pyYaml } from "./filters.ts";

// Expected values are what Ansible 2.14 (Jinja2 3.1, Python 3.11, PyYAML 6) prints.

const t = new Templar();
const render = (s: string, vars: Record<string, unknown> = {}) => t.renderString(s, vars);

Deno.test("values inside text print as Python's str(); None as nothing", () => {
  const vars = { flag: true, off: false, none: null, l: ["a", 1, true], d: { k: "v", n: 2 } };
  assert.equal(
    render("{{ flag }} {{ off }} [{{ none }}] {{ l }} {{ d }}", vars),
    "True False [] ['a', 1, True] {'k': 'v', 'n': 2}",
  );
  assert.equal(render(`{{ ["it's"] }}!`), `["it's"]!`);
  // A whole expression keeps its type.
  assert.deepEqual(render("{{ l }}", vars), ["a", 1, true]);
});

Deno.test("trailing newlines: one dropped from the source, the count restored", () => {
  assert.equal(render("{{ x }}\n", { x: "v" }), "v\n");
  assert.equal(render("a {{ x }}\n\n", { x: "v" }), "a v\n\n");
  assert.equal(render("{% if x %}\nyes\n{% endif %}\n", { x: true }), "yes\n");
  assert.equal(render("{# note #}\nline\n"), "line\n");
  assert.deepEqual(render("{{ x }}\n", { x: [1] }), [1]);
});

Deno.test("+ joins lists and * repeats, as in Python", () => {
  assert.deepEqual(render("{{ [1, 2] + [3] }}"), [1, 2, 3]);
  assert.equal(render("{{ 'ab' * 3 }}"), "ababab");
  assert.equal(render("{{ 2 + 3 }} {{ 2 * 3 }}"), "5 6");
});

Deno.test("to_json and to_nice_json print as json.dumps", () => {
  const v = { b: [1, "é", { x: null }], a: true };
  assert.equal(pyJson(v), '{"b": [1, "\\u00e9", {"x": null}], "a": true}');
  assert.equal(
    render("{{ v | to_nice_json }}", { v: { b: [], a: 1 } }),
    '{\n    "a": 1,\n    "b": []\n}',
  );
  assert.equal(
    pyJson({ b: 1, a: [] }, { indent: 2, sortKeys: true }),
    '{\n  "a": [],\n  "b": 1\n}',
  );
});

Deno.test("to_yaml and to_nice_yaml print as PyYAML", () => {
  const v = { b: [1, "yes", { x: null, z: "two words" }], a: { k: ["p", "q"] }, e: [], s: "1.0" };
  assert.equal(
    pyYaml(v, { flow: true }),
    "a:\n  k: [p, q]\nb:\n- 1\n- 'yes'\n- {x: null, z: two words}\ne: []\ns: '1.0'\n",
  );
  assert.equal(
    pyYaml(v, { indent: 4 }),
    "a:\n    k:\n    - p\n    - q\nb:\n- 1\n- 'yes'\n-   x: null\n    z: two words\ne: []\ns: '1.0'\n",
  );
  assert.equal(render("{{ ['a', 1] | to_yaml }}"), "[a, 1]\n");
});

Deno.test("format, hash and checksum", () => {
  assert.equal(
    pyFormat("%05.1f|%x|%5s|%-4s|%d%%", [3.14159, 255, "ab", "c", 7]),
    "003.1|ff|   ab|c   |7%",
  );
  assert.equal(render("{{ '%s-%d' | format('item', 7) }}"), "item-7");
  assert.equal(render("{{ 'hello' | hash('sha1') }}"), "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
  assert.equal(render("{{ 'hello' | hash('md5') }}"), "5d41402abc4b2a76b9719d911017c592");
  assert.equal(render("{{ 'hello' | checksum }}"), "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
});
