import assert from "node:assert/strict";
import { changedTasks, drover, recap, withTempDir } from "./helpers.ts";
import { FLAGS } from "../src/cli/options.ts";

Deno.test("sample playbook: changes once, then converges; --check changes nothing", async () => {
  await withTempDir(async (dir) => {
    const target = `${dir}/sample`;
    const check = await drover(["playbooks/site.yml", "--check", "-e", `sample_dir=${target}`]);
    assert.equal(check.code, 0, check.stderr);
    assert.equal(await Deno.stat(target).catch(() => null), null, "--check created the directory");
    const first = await drover(["playbooks/site.yml", "-e", `sample_dir=${target}`]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(recap(first.stdout).localhost.changed, 2);
    assert.deepEqual(changedTasks(check.stdout), changedTasks(first.stdout));
    assert.equal(await Deno.readTextFile(`${target}/hello.txt`), "hello from drover\n");
    const second = await drover(["playbooks/site.yml", "-e", `sample_dir=${target}`]);
    assert.equal(second.code, 0);
    assert.equal(recap(second.stdout).localhost.changed, 0);
  });
});

Deno.test("--version and --help exit 0; help gives every flag a one-line meaning and an example", async () => {
  const v = await drover(["--version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+/);
  const h = await drover(["--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /^Usage: drover \[options\] <playbook>/);
  const lines = h.stdout.split("\n");
  for (const f of FLAGS) {
    const i = lines.findIndex((l) => l.trimStart().startsWith(f.flags));
    assert.ok(i >= 0, `help lacks ${f.flags}`);
    assert.ok(lines[i].includes(f.meaning), `help of ${f.flags} is not its meaning on one line`);
    assert.equal(lines[i + 1].trim(), `e.g. ${f.example}`, `help of ${f.flags} has no example`);
  }
  for (
    const flag of [
      "--inventory",
      "--check",
      "--diff",
      "--limit",
      "--tags",
      "--skip-tags",
      "--extra-vars",
      "--forks",
      "--verbose",
      "--list-tasks",
      "--list-hosts",
      "--syntax-check",
      "--json",
      "--report",
      "--ask-become-pass",
      "--timeout",
      "--version",
      "--help",
    ]
  ) {
    assert.ok(h.stdout.includes(flag), `help lacks ${flag}`);
  }
});

/** One paragraph on stderr, in drover's style, and nothing of commander's own text or a stack. */
function assertParagraph(stderr: string): void {
  assert.match(stderr, /^ERROR! /);
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
  assert.ok(!/^error: |\(Did you mean|\n\s+at /m.test(stderr), stderr);
}

Deno.test("bad command lines: one paragraph (what, expected, hint), exit 5", async () => {
  const typo = await drover(["playbooks/site.yml", "--chek"]);
  assert.equal(typo.code, 5);
  assertParagraph(typo.stderr);
  assert.match(typo.stderr, /unknown option '--chek'\. Expected .*Hint: did you mean '--check'/);
  const short = await drover(["playbooks/site.yml", "-c"]);
  assert.equal(short.code, 5);
  assert.match(short.stderr, /did you mean '-C'/);
  const eq = await drover(["playbooks/site.yml", "--inventroy=x.yml"]);
  assert.equal(eq.code, 5);
  assert.match(eq.stderr, /unknown option '--inventroy'.*did you mean '--inventory'/);
  const none = await drover([]);
  assert.equal(none.code, 5);
  assertParagraph(none.stderr);
  assert.match(none.stderr, /no playbook given\. Expected .*Hint: e\.g\. deno task run playbooks/);
  const noValue = await drover(["playbooks/site.yml", "--limit"]);
  assert.equal(noValue.code, 5);
  assertParagraph(noValue.stderr);
  assert.match(
    noValue.stderr,
    /option '--limit' needs a value\. Expected --limit <pattern>.*Hint: e\.g\. --limit/,
  );
  const two = await drover(["playbooks/site.yml", "playbooks/verify.yml"]);
  assert.equal(two.code, 5);
  assertParagraph(two.stderr);
  const forks = await drover(["playbooks/site.yml", "--forks", "0"]);
  assert.equal(forks.code, 5);
  assertParagraph(forks.stderr);
  assert.match(forks.stderr, /--forks must be a whole number.*Hint: e\.g\. --forks 20/);
});
