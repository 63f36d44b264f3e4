import assert from "node:assert/strict";
import { changedTasks, drover, recap, withTempDir } from "./helpers.ts";

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

Deno.test("--version and --help exit 0; an unknown flag exits 5 with a suggestion", async () => {
  const v = await drover(["--version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+/);
  const h = await drover(["--help"]);
  assert.equal(h.code, 0);
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
      "--list-tasks",
      "--list-hosts",
      "--json",
      "--ask-become-pass",
    ]
  ) {
    assert.ok(h.stdout.includes(flag), `help lacks ${flag}`);
  }
  const bad = await drover(["playbooks/site.yml", "--chek"]);
  assert.equal(bad.code, 5);
  assert.match(bad.stderr, /--check/);
});
