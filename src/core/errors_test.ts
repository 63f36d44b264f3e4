import assert from "node:assert/strict";
import { didYouMean, DroverError, editDistance } from "./errors.ts";

Deno.test("format(): one paragraph of where, what, expected and hint", () => {
  const e = new DroverError("unknown key 'becom' in a play", {
    pos: { file: "site.yml", line: 3, col: 5 },
    expected: "one of: hosts, become",
    hint: "did you mean 'become'?",
  });
  assert.equal(
    e.format(),
    "site.yml:3:5: unknown key 'becom' in a play. Expected one of: hosts, become. Hint: did you mean 'become'?",
  );
  assert.equal(e.where(), "site.yml:3:5");
  assert.equal(new DroverError("boom", { host: "web1" }).format(), "host web1: boom.");
  assert.equal(new DroverError("done.").format(), "done.");
});

Deno.test("exit codes: 4 with a position (parse error), 1 without, or as given", () => {
  const pos = { file: "a.yml", line: 1, col: 1 };
  assert.equal(new DroverError("x", { pos }).exitCode, 4);
  assert.equal(new DroverError("x").exitCode, 1);
  assert.equal(new DroverError("x", { exitCode: 5 }).exitCode, 5);
  assert.equal(new DroverError("x", { pos, exitCode: 5 }).exitCode, 5);
});

Deno.test("at(): fills in a missing position only", () => {
  const pos = { file: "a.yml", line: 2, col: 3 };
  const bare = new DroverError("'x' is undefined", { hint: "define it" });
  const placed = bare.at(pos);
  assert.equal(placed.format(), "a.yml:2:3: 'x' is undefined. Hint: define it.");
  assert.equal(placed.exitCode, 4);
  assert.equal(placed.at({ file: "b.yml", line: 9, col: 9 }), placed);
  assert.equal(bare.at(undefined), bare);
  assert.equal(new DroverError("x", { exitCode: 5 }).at(pos).exitCode, 5);
});

Deno.test("didYouMean: close typos only", () => {
  const keys = ["become", "become_user", "hosts", "tasks", "vars", "when"];
  assert.equal(didYouMean("becom", keys), "become");
  assert.equal(didYouMean("Become", keys), "become");
  assert.equal(didYouMean("whn", keys), "when");
  assert.equal(didYouMean("taks", keys), "tasks");
  assert.equal(didYouMean("become_usr", keys), "become_user");
  assert.equal(didYouMean("completely_different", keys), undefined);
  assert.equal(didYouMean("x", []), undefined);
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("same", "same"), 0);
});

Deno.test("format(): control characters from the input are shown escaped, on one line", () => {
  const e = new DroverError("unknown key 'be\ncome\x1b[2J\u202e'", {
    pos: { file: "site.yml", line: 2, col: 3 },
  });
  assert.equal(e.format(), "site.yml:2:3: unknown key 'be\\ncome\\u001b[2J\\u202e'.");
});
