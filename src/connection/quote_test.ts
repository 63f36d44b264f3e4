import assert from "node:assert/strict";
import { DroverError } from "../core/errors.ts";
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

Deno.test("shq and exportLines refuse a NUL, which sh would silently drop", () => {
  assert.throws(() => shq("/tmp/a\0b"), (e) => e instanceof DroverError && /NUL/.test(e.message));
  assert.throws(() => exportLines({ A: "x\0" }), DroverError);
  assert.throws(() => exportLines({ "A;touch pwned": "x" }), DroverError);
});

Deno.test("heredocTag avoids dash dropping a non-ASCII byte after the tag's first letters", async () => {
  // dash 0.5.12 reads the line "Dé" of a body ended by DROVER_EOF as "D" + half of "é".
  for (const body of ["Dé", "DROé", "DROVER_EOF_1é\nDROVER_EOF", "D🚀\nXé\nYé"]) {
    const tag = heredocTag(body);
    assert.ok(!body.includes(tag), tag);
    const out = await new Deno.Command("dash", {
      args: ["-c", `cat <<'${tag}'\n${body}\n${tag}\n`],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout), `${body}\n`, `${body} with ${tag}`);
  }
  assert.equal(heredocTag("plain\nDROVER\n"), "DROVER_EOF");
});
