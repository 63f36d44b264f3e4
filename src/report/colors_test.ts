import assert from "node:assert/strict";
import { createColors } from "./colors.ts";

Deno.test("colours: picocolors' escape codes, a nested close reopens the colour", () => {
  const c = createColors(true);
  assert.equal(c.red("x"), "\x1b[31mx\x1b[39m");
  assert.equal(c.green(3), "\x1b[32m3\x1b[39m");
  assert.equal(c.yellow("a"), "\x1b[33ma\x1b[39m");
  assert.equal(c.magenta("a"), "\x1b[35ma\x1b[39m");
  assert.equal(c.cyan("a"), "\x1b[36ma\x1b[39m");
  assert.equal(c.dim("a"), "\x1b[2ma\x1b[22m");
  assert.equal(c.red(`a ${c.cyan("b")} c`), "\x1b[31ma \x1b[36mb\x1b[31m c\x1b[39m");
  // As picocolors: a close within the input's first open.length characters is left alone.
  assert.equal(c.dim("a\x1b[22mb\x1b[22mc"), "\x1b[2ma\x1b[22mb\x1b[22m\x1b[2mc\x1b[22m");
  assert.equal(createColors(true).isColorSupported, true);
});

Deno.test("colours off: the text as it is, as a string", () => {
  const c = createColors(false);
  assert.equal(c.red("x"), "x");
  assert.equal(c.dim(null), "null");
  assert.equal(c.cyan("\x1b[39m"), "\x1b[39m");
  assert.equal(c.isColorSupported, false);
});
