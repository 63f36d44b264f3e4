/**
 * `--json`: every line drover prints is validated against the zod schema
 * (src/core/events.ts + src/report/schema.ts), and docs/json-events.md
 * documents every event and field of it.
 */
import assert from "node:assert/strict";
import { engineEventSchema, EVENT_SCHEMA_VERSION } from "../src/core/events.ts";
import { type JsonLine, jsonLineSchema } from "../src/report/schema.ts";
import { drover, ROOT, withTempDir } from "./helpers.ts";

/** Parse and validate every stdout line; fails on the first line that does not match. */
function events(stdout: string): JsonLine[] {
  const lines = stdout.split("\n").filter((l) => l !== "");
  assert.ok(lines.length > 0, "no output");
  return lines.map((line, i) => {
    const r = jsonLineSchema.safeParse(JSON.parse(line));
    assert.ok(r.success, `line ${i + 1} does not match the schema: ${line}\n${r.error?.message}`);
    return r.data;
  });
}

const byType = <T extends JsonLine["type"]>(es: JsonLine[], t: T) =>
  es.filter((e): e is Extract<JsonLine, { type: T }> => e.type === t);

Deno.test("--json -vvv --diff: every event matches the schema, in run order", async () => {
  await withTempDir(async (dir) => {
    const args = ["playbooks/site.yml", "--json", "-vvv", "--diff", "-e", `sample_dir=${dir}/s`];
    const run = await drover(args);
    assert.equal(run.code, 0, run.stderr);
    const es = events(run.stdout);
    const start = es[0];
    assert.equal(start.type, "run_start");
    assert.equal(start.schema, EVENT_SCHEMA_VERSION);
    assert.match(start.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(start.args, args);
    assert.equal(es.at(-1)?.type, "run_end");
    assert.equal(byType(es, "run_end")[0].exitCode, run.code);
    assert.equal(es.at(-2)?.type, "recap");
    assert.deepEqual(byType(es, "recap")[0].hosts.localhost, {
      ok: 5,
      changed: 2,
      unreachable: 0,
      failed: 0,
      skipped: 0,
      rescued: 0,
      ignored: 0,
    });
    assert.deepEqual(byType(es, "play_start").map((e) => e.name), ["Sample play"]);
    const tasks = byType(es, "task_start");
    assert.deepEqual(tasks.map((t) => [t.name, t.handler]), [
      ["Gathering Facts", false],
      ["Show the OS drover found", false],
      ["Make the sample directory", false],
      ["Write a file", false],
      ["announce", true],
    ]);
    assert.equal(tasks[3].module, "copy");
    const results = byType(es, "host_result");
    assert.equal(results.length, 5);
    const write = results.find((r) => r.task === "Write a file")!;
    assert.equal(write.status, "changed");
    assert.equal(write.changed, true);
    assert.ok(write.durationMs >= 0);
    assert.equal(write.diff?.[0].after, "hello from drover\n");
    assert.equal(byType(es, "connection").length, 1);
    assert.ok(byType(es, "command").length >= 4);
    // Each host_result follows its task's task_start.
    let current = "";
    for (const e of es) {
      if (e.type === "task_start") current = e.name;
      if (e.type === "host_result") assert.equal(e.task, current);
    }
  });
});

Deno.test("--json: a failure, a secret and the exit code", async () => {
  await withTempDir(async (dir) => {
    const pb = `${dir}/fail.yml`;
    await Deno.writeTextFile(
      pb,
      `- hosts: all
  gather_facts: false
  tasks:
    - name: Use the token
      command: "sh -c 'echo {{ grafana_cloud_token }}; exit 3'"
`,
    );
    const run = await drover([pb, "--json", "-vv", "-e", "grafana_cloud_token=glc_JsonSecret_31"]);
    assert.equal(run.code, 2);
    assert.ok(!run.stdout.includes("glc_JsonSecret_31"));
    const es = events(run.stdout);
    const failed = byType(es, "host_result").find((r) => r.status === "failed");
    assert.ok(failed?.msg);
    assert.equal(failed.result?.rc, 3);
    assert.equal(failed.result?.stdout, "<redacted>");
    assert.equal(byType(es, "run_end")[0].exitCode, 2);
    assert.deepEqual(byType(es, "run_start")[0].args.at(-1), "grafana_cloud_token=<redacted>");
  });
});

Deno.test("--json: an error that stops drover is an error event, then run_end with its exit code", async () => {
  const missing = await drover(["playbooks/no-such.yml", "--json"]);
  assert.equal(missing.code, 1);
  let es = events(missing.stdout);
  assert.deepEqual(es.map((e) => e.type), ["error", "run_end"]);
  assert.match(byType(es, "error")[0].msg, /no-such\.yml/);
  assert.equal(byType(es, "run_end")[0].exitCode, 1);

  const limit = await drover(["playbooks/site.yml", "--json", "--limit", "nohost"]);
  assert.equal(limit.code, 5);
  es = events(limit.stdout);
  assert.deepEqual(es.map((e) => e.type), ["run_start", "error", "run_end"]);
  assert.equal(byType(es, "error")[0].exitCode, 5);
  assert.match(limit.stderr, /--limit 'nohost' matches no host/);
});

Deno.test("the schema rejects what drover must not print", () => {
  const ok = { type: "warning", msg: "m", ts: "2025-01-01T00:00:00.000Z" };
  assert.ok(jsonLineSchema.safeParse(ok).success);
  assert.ok(!jsonLineSchema.safeParse({ ...ok, extra: 1 }).success, "unknown field");
  assert.ok(!jsonLineSchema.safeParse({ ...ok, ts: "yesterday" }).success, "bad ts");
  assert.ok(!jsonLineSchema.safeParse({ type: "warning", msg: "m" }).success, "no ts");
  assert.ok(!jsonLineSchema.safeParse({ ...ok, type: "nope" }).success, "unknown type");
  assert.ok(
    !jsonLineSchema.safeParse({
      type: "host_result",
      host: "h",
      task: "t",
      status: "great",
      changed: false,
      durationMs: 1,
      ts: ok.ts,
    }).success,
    "unknown status",
  );
});

Deno.test("docs/json-events.md documents every event type and field of the schema", async () => {
  const doc = await Deno.readTextFile(`${ROOT}/docs/json-events.md`);
  for (const option of engineEventSchema.options) {
    const type = option.shape.type.value;
    const start = doc.indexOf(`### \`${type}\``);
    assert.ok(start >= 0, `docs/json-events.md has no section for '${type}'`);
    const next = doc.indexOf("\n### ", start + 1);
    const section = doc.slice(start, next < 0 ? undefined : next);
    for (const field of Object.keys(option.shape)) {
      if (field === "type") continue;
      assert.ok(section.includes(`\`${field}\``), `'${type}.${field}' is not documented`);
    }
  }
  assert.ok(doc.includes(`now **${EVENT_SCHEMA_VERSION}**`), "the documented version is stale");
});
