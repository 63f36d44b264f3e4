import assert from "node:assert/strict";
import { exportLines, heredocTag, shq } from "./quote.ts";

const AWKWARD = [
  "",
  "plain",
  "two words",
  "it's",
  `"double" and 'single'`,
  "line one\nline two\n",
  "$HOME $(id) `id` ${x}",
  "back\\slash \\n \\\\",
  "; rm -rf / #",
  "*?[a-z] ~ & | < > !",
  "tab\there",
  "unicode: é ✓ 日本 🚀",
  "-n",
  "--",
  "'",
  "''''",
  "\\'",
  "trailing newline\n\n",
];

/** What `sh` sees when the quoted string is one word of a command. */
async function throughShell(script: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
  assert.equal(out.code, 0, script);
  return new TextDecoder().decode(out.stdout);
}

Deno.test("shq: every awkward string reads back byte for byte through sh", async () => {
  for (const s of AWKWARD) {
    assert.equal(await throughShell(`printf '%s' ${shq(s)}`), s, JSON.stringify(s));
    // As a positional argument, as in sh -c 'printf %s "$1"' _ ARG.
    assert.equal(await throughShell(`set -- ${shq(s)}; printf '%s' "$1"`), s, JSON.stringify(s));
  }
});

Deno.test("shq: safe words stay bare, everything else is single-quoted", () => {
  assert.equal(shq("/etc/app.conf"), "/etc/app.conf");
  assert.equal(shq("a-b_c.d:e,f=g@h%i+j"), "a-b_c.d:e,f=g@h%i+j");
  assert.equal(shq(""), "''");
  assert.equal(shq("a b"), "'a b'");
  assert.equal(shq("it's"), "'it'\\''s'");
});

Deno.test("exportLines quotes values and rejects bad names", async () => {
  const env = { GREETING: "hello 'world' $HOME", EMPTY: "" };
  const script = `${exportLines(env)}printf '%s|%s' "$GREETING" "$EMPTY"`;
  assert.equal(await throughShell(script), "hello 'world' $HOME|");
  assert.equal(exportLines(undefined), "");
  assert.throws(() => exportLines({ "BAD;NAME": "x" }), /invalid environment variable name/);
});

Deno.test("heredocTag never occurs in the body", () => {
  assert.equal(heredocTag("nothing special"), "DROVER_EOF");
  assert.equal(heredocTag("DROVER_EOF\nDROVER_EOF_1\n"), "DROVER_EOF_2");
});
