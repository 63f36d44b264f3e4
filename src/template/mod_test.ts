import assert from "node:assert/strict";
import { DroverError } from "../core/errors.ts";
import { separateBraces, Templar, type Vars } from "./mod.ts";

const t = new Templar();
const render = (s: string, vars: Vars = {}) => t.renderString(s, vars);

/** The DroverError that rendering `s` throws. */
function renderError(s: string, vars: Vars = {}): DroverError {
  try {
    render(s, vars);
  } catch (e) {
    assert.ok(e instanceof DroverError, `not a DroverError: ${e}`);
    return e;
  }
  assert.fail(`${s} rendered without an error`);
}

Deno.test("a whole-expression string keeps its native type; mixed text is a string", () => {
  const vars = { n: 3, l: [1, 2], d: { a: { b: 1 } }, yes: true, s: "x" };
  assert.equal(render("{{ n }}", vars), 3);
  assert.equal(render("  {{ n + 1 }} ", vars), 4);
  assert.deepEqual(render("{{ l }}", vars), [1, 2]);
  assert.deepEqual(render("{{ d }}", vars), { a: { b: 1 } });
  assert.equal(render("{{ yes }}", vars), true);
  assert.equal(render("{{ none }}", vars), null);
  assert.equal(render("n={{ n }}", vars), "n=3");
  assert.equal(render("{{ n }}{{ n }}", vars), "33");
  assert.equal(render("no template", vars), "no template");
  assert.deepEqual(t.render({ a: ["{{ n }}", { b: "{{ s }}!" }] }, vars), { a: [3, { b: "x!" }] });
});

Deno.test("variables are lazy: templates in values resolve on use, unused broken ones do not fail", () => {
  const vars = {
    base: "/opt/app",
    conf: "{{ base }}/etc",
    file: "{{ conf }}/app.conf",
    port: "{{ 8000 + 80 }}",
    broken: "{{ not_defined_anywhere }}",
  };
  assert.equal(render("{{ file }}", vars), "/opt/app/etc/app.conf");
  assert.equal(render("{{ port }}", vars), 8080);
  assert.equal(t.evaluate("port > 8000", vars), true);
  assert.equal(t.isTrue("base is defined and missing is not defined", vars), true);
});

Deno.test("undefined variables are reported by name, also through other variables and attributes", () => {
  assert.match(
    renderError("hello {{ who }}").message,
    /^'who' is undefined \(in 'hello \{\{ who \}\}'\)/,
  );
  assert.match(renderError("{{ who }}").message, /^'who' is undefined/);
  assert.match(renderError("{{ d.nope }}", { d: { a: 1 } }).message, /^'d\.nope' is undefined/);
  assert.match(
    renderError("{{ a }}", { a: "{{ b }}" }).message,
    /in variable 'a': 'b' is undefined/,
  );
  assert.match(renderError("{{ x | mandatory }}").message, /^'x' is mandatory but undefined/);
  assert.equal(renderError("{{ x | mandatory('set x first') }}").message, "set x first");
  assert.match(renderError("{{ c }}", { c: "{{ c }}" }).message, /variable 'c' refers to itself/);
  assert.match(renderError("{{ who }}").hint ?? "", /default/);
  try {
    t.isTrue("enabled", {});
    assert.fail("no error");
  } catch (e) {
    assert.match((e as Error).message, /^'enabled' is undefined/);
  }
});

Deno.test("unknown filters and syntax errors are DroverErrors that say what is wrong", () => {
  const unknown = renderError("{{ [1] | to_jsn }}");
  assert.match(unknown.message, /unknown filter 'to_jsn'/);
  assert.equal(unknown.hint, "did you mean 'to_json'?");
  assert.match(renderError("{{ foo( }}").message, /template error in 'foo\('/);
  assert.match(renderError("{{ lookup('file', '/nonexistent/drover') }}").message, /no such file/);
  assert.match(
    renderError("{{ lookup('pipe', 'id') }}").message,
    /lookup\('pipe'\) is not supported/,
  );
});

Deno.test("filters: default, bool, int, lower, join, to_json, regex_replace, b64encode", () => {
  assert.equal(render("{{ missing | default('d') }}"), "d");
  assert.equal(render("{{ '' | default('d', true) }}"), "d");
  assert.equal(render("{{ 'x' | default('d', true) }}"), "x");
  assert.equal(render("{{ missing | d(5) }}"), 5);
  for (
    const [v, want] of [["yes", true], ["no", false], ["True", true], ["0", false], ["on", true]]
  ) {
    assert.equal(render("{{ v | bool }}", { v }), want, `${v} | bool`);
  }
  assert.equal(render("{{ '42' | int + 1 }}"), 43);
  assert.equal(render("{{ 'x' | int }}"), 0);
  assert.equal(render("{{ 3.9 | int }}"), 3);
  assert.equal(render("{{ 'MiXeD' | lower }}"), "mixed");
  assert.equal(render("{{ ['a', 'b'] | join(',') }}"), "a,b");
  // Python's json.dumps separators, as Ansible prints it.
  assert.equal(render("{{ {'a': [1, 'x']} | to_json }}"), '{"a": [1, "x"]}');
  assert.equal(render("{{ 'a.b.c' | regex_replace('\\\\.', '/') }}"), "a/b/c");
  assert.equal(
    render("{{ 'v1.2' | regex_replace('^v(\\\\d+)', 'version \\\\1') }}"),
    "version 1.2",
  );
  assert.equal(render("{{ 'ab' | regex_replace('(?P<x>a)', '\\\\g<x>\\\\g<x>') }}"), "aab");
  assert.equal(render("{{ 'AB' | regex_replace('b', '-', ignorecase=true) }}"), "A-");
  assert.equal(render("{{ 'cost $5' | regex_replace('cost', 'price') }}"), "price $5");
  assert.equal(render("{{ 'hello' | b64encode }}"), "aGVsbG8=");
  assert.equal(render("{{ 'é✓' | b64encode | b64decode }}"), "é✓");
});

Deno.test("filters: mandatory, combine, dict2items, map(attribute=)", () => {
  assert.equal(render("{{ 'here' | mandatory }}"), "here");
  assert.deepEqual(render("{{ {'a': 1, 'b': 2} | combine({'b': 3}) }}"), { a: 1, b: 3 });
  assert.deepEqual(
    render("{{ d | combine({'x': {'z': 2}}, recursive=true) }}", { d: { x: { y: 1 } } }),
    { x: { y: 1, z: 2 } },
  );
  assert.deepEqual(
    render("{{ d | combine({'x': {'z': 2}}) }}", { d: { x: { y: 1 } } }),
    { x: { z: 2 } },
  );
  assert.deepEqual(render("{{ {'a': 1} | dict2items }}"), [{ key: "a", value: 1 }]);
  assert.deepEqual(render("{{ {'a': 1} | dict2items | items2dict }}"), { a: 1 });
  const users = [{ name: "ann", home: { dir: "/a" } }, { name: "bob", home: { dir: "/b" } }];
  assert.deepEqual(render("{{ users | map(attribute='name') | list }}", { users }), ["ann", "bob"]);
  assert.deepEqual(render("{{ users | map(attribute='home.dir') | list }}", { users }), [
    "/a",
    "/b",
  ]);
  assert.deepEqual(render("{{ ['A', 'B'] | map('lower') | list }}"), ["a", "b"]);
});

Deno.test("version tests compare numerically, with an operator argument", () => {
  const v = { ver: "1.10.2" };
  assert.equal(render("{{ ver is version('1.9', '>') }}", v), true);
  assert.equal(render("{{ ver is version('1.9', 'lt') }}", v), false);
  assert.equal(render("{{ ver is version('1.10.2', '==') }}", v), true);
  assert.equal(render("{{ ver is version('1.10.2') }}", v), true);
  assert.equal(render("{{ ver is version_compare('2', '<=') }}", v), true);
  assert.equal(render("{{ ver is not version('1.10', 'ge') }}", v), false);
  assert.equal(t.isTrue("ver is version('12', '>=')", { ver: "12.4" }), true);
  assert.equal(render("{{ '1.2' | version_compare('1.10', '<') }}"), true);
});

Deno.test("nested dict literals inside {{ }} are not cut at their closing braces", () => {
  assert.equal(separateBraces("{{ {'a': {'b': 1}} }}"), "{{ {'a': {'b': 1} } }}");
  assert.equal(separateBraces("x {{ '}}' }} y }}"), "x {{ '}}' }} y }}");
  assert.equal(separateBraces("{{ a }}}"), "{{ a }}}");
  assert.deepEqual(render("{{ {'a': {'b': 1}} }}"), { a: { b: 1 } });
  assert.equal(t.isTrue("{'a': {'b': 1}}.a.b == 1", {}), true);
});

Deno.test("conditions: bare expressions, booleans, lists (all must hold)", () => {
  const vars = { n: 2, flag: "yes" };
  assert.equal(t.isTrue(undefined, vars), true);
  assert.equal(t.isTrue(false, vars), false);
  assert.equal(t.isTrue("n == 2", vars), true);
  assert.equal(t.isTrue("{{ n == 3 }}", vars), false);
  assert.equal(t.isTrue(["n > 1", "flag | bool"], vars), true);
  assert.equal(t.isTrue(["n > 1", "n > 5"], vars), false);
  assert.equal(t.isTrue("[]", vars), false);
});

Deno.test("template: an unknown escape in a string literal is kept, as Jinja keeps it (regexes)", () => {
  const t = new Templar();
  const vars = { s: "ActiveState=active\nMainPID=12" };
  assert.equal(
    t.renderString(
      "{{ s | regex_search('MainPID=(\\d+)') | regex_replace('MainPID=', '') }}",
      vars,
    ),
    "12",
  );
  assert.equal(t.renderString("{{ 'a\\nb' }}", {}), "a\nb");
  assert.equal(t.renderString("{{ 'it\\'s' }}", {}), "it's");
});

Deno.test("template: a negative index counts from the end, as in Jinja", () => {
  const t = new Templar();
  assert.equal(t.renderString("{{ '127.0.0.1:4317'.split(':')[-1] }}", {}), "4317");
  assert.equal(t.renderString("{{ xs[-2] }}", { xs: [1, 2, 3] }), 2);
  assert.equal(t.renderString("{{ 'abc'[-1] }}", {}), "c");
});

Deno.test("template: select/reject/selectattr/rejectattr apply the named test with its arguments", () => {
  const t = new Templar();
  const vars = {
    r: [{ path: "/etc/default/alloy", n: 1 }, { path: "/etc/ufw/user.rules", n: 2 }],
    xs: [1, 2, 3, 4],
  };
  assert.deepEqual(
    t.renderString(
      "{{ r | selectattr('path', 'search', '^/etc/ufw/') | map(attribute='n') | list }}",
      vars,
    ),
    [2],
  );
  assert.deepEqual(
    t.renderString("{{ r | rejectattr('n', 'equalto', 2) | map(attribute='n') | list }}", vars),
    [1],
  );
  assert.deepEqual(t.renderString("{{ xs | select('odd') | list }}", vars), [1, 3]);
  assert.deepEqual(t.renderString("{{ xs | reject('in', [1, 2]) | list }}", vars), [3, 4]);
  assert.deepEqual(t.renderString("{{ [0, 1, '', 'a'] | select | list }}", vars), [1, "a"]);
});
