import assert from "node:assert/strict";
import { DroverError } from "../core/errors.ts";
import { join } from "../core/path.ts";
import { parseExtraVars } from "./extra_vars.ts";

/** The error parseExtraVars throws: always a bad option, exit 5. */
function badOption(arg: string): DroverError {
  try {
    parseExtraVars(arg);
  } catch (e) {
    assert.ok(e instanceof DroverError, `not a DroverError: ${e}`);
    assert.equal(e.exitCode, 5, `exit code of ${arg}: ${e.format()}`);
    return e;
  }
  assert.fail(`-e ${arg} was accepted`);
}

Deno.test("-e key=value: several pairs, quotes, values stay strings", () => {
  assert.deepEqual(parseExtraVars("a=1"), { a: "1" });
  assert.deepEqual(parseExtraVars(`a=1 b="two words" c='x=y'`), {
    a: "1",
    b: "two words",
    c: "x=y",
  });
  assert.deepEqual(parseExtraVars("flag=true"), { flag: "true" });
  assert.deepEqual(parseExtraVars("msg={{ a | default('x y') }} n=2"), {
    msg: "{{ a | default('x y') }}",
    n: "2",
  });
});

Deno.test("-e JSON and YAML mappings keep their types", () => {
  assert.deepEqual(parseExtraVars('{"n": 1, "l": [1, "a"], "b": true, "d": {"x": null}}'), {
    n: 1,
    l: [1, "a"],
    b: true,
    d: { x: null },
  });
  assert.deepEqual(parseExtraVars("{n: 1, s: yes}"), { n: 1, s: true });
});

Deno.test("-e @file reads YAML or JSON", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(join(dir, "v.yml"), "release: '1.2'\nports: [80, 443]\n");
    Deno.writeTextFileSync(join(dir, "v.json"), '{"release": 2}');
    assert.deepEqual(parseExtraVars(`@${dir}/v.yml`), { release: "1.2", ports: [80, 443] });
    assert.deepEqual(parseExtraVars(`@${dir}/v.json`), { release: 2 });
    Deno.writeTextFileSync(join(dir, "list.yml"), "- a\n");
    assert.match(badOption(`@${dir}/list.yml`).message, /must be a mapping/);
    Deno.writeTextFileSync(join(dir, "broken.yml"), "a: [1\n");
    assert.match(
      badOption(`@${dir}/broken.yml`).format(),
      /broken\.yml:\d+:\d+: YAML syntax error/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("bad -e values are bad options (exit 5) that say what -e takes", () => {
  const noEquals = badOption("foo");
  assert.match(noEquals.message, /cannot read extra vars "foo"/);
  assert.match(noEquals.expected ?? "", /key=value/);
  assert.match(badOption("a=1 stray").message, /cannot read extra vars/);
  assert.match(badOption("@/nonexistent/vars.yml").message, /not found/);
  assert.match(badOption("{bad json").format(), /^-e:1:\d+: YAML syntax error/);
  assert.match(badOption("my-var=1").message, /cannot read extra vars "my-var=1"/);
  assert.match(badOption('{"my-var": 1}').message, /invalid variable name 'my-var'/);
  assert.match(badOption("").message, /cannot read extra vars/);
});

Deno.test("-e refuses __proto__, a NUL and a directory", () => {
  assert.match(badOption('{"__proto__": {"x": 1}}').message, /invalid variable name '__proto__'/);
  assert.match(badOption("__proto__=1").message, /cannot read extra vars|invalid variable name/);
  assert.match(badOption('{"a": "x\\u0000y"}').format(), /^-e:1:7: .*NUL/);
  assert.match(badOption("@/").message, /cannot read \/: it is a directory/);
  assert.match(badOption("@").message, /extra vars file '' not found/);
});
