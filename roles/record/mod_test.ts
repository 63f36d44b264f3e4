import assert from "node:assert/strict";
import { cgroupMemoryScript, COMPOSE_IDS_FN } from "./mod.ts";
import { withTempDir } from "../../test/helpers.ts";

/** Run the cgroup memory sum for `ids` against a cgroup tree under `root`. */
async function sum(root: string, ids: string[]): Promise<{ rc: number; out: string }> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `ids='${ids.join(" ")}'; { ${cgroupMemoryScript(root)}; }`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { rc: out.code, out: new TextDecoder().decode(out.stdout) };
}

async function container(dir: string, usage: number, stat: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/${dir.includes("/memory/") ? "memory.usage_in_bytes" : "memory.current"}`,
    `${usage}\n`,
  );
  await Deno.writeTextFile(`${dir}/memory.stat`, stat);
}

const MiB = 1048576;
const A = "a".repeat(64);
const B = "b".repeat(64);

Deno.test("stack memory from cgroup v1 (cgroupfs driver): usage less total_inactive_file, as docker stats shows it", async () => {
  await withTempDir(async (root) => {
    await container(
      `${root}/memory/docker/${A}`,
      300 * MiB,
      `cache ${50 * MiB}\ninactive_file 1\ntotal_inactive_file ${100 * MiB}\n`,
    );
    // Inactive cache larger than the usage is ignored, as docker does.
    await container(`${root}/memory/docker/${B}`, 10 * MiB, `total_inactive_file ${20 * MiB}\n`);
    assert.deepEqual(await sum(root, [A, B]), { rc: 0, out: "210.0\n" });
    // Short ids (12 characters) find the same cgroups.
    assert.deepEqual(await sum(root, [A.slice(0, 12)]), { rc: 0, out: "200.0\n" });
  });
});

Deno.test("stack memory from cgroup v2 (systemd driver): memory.current less inactive_file", async () => {
  await withTempDir(async (root) => {
    await Deno.writeTextFile(`${root}/cgroup.controllers`, "memory pids\n");
    await container(
      `${root}/system.slice/docker-${A}.scope`,
      64 * MiB + MiB / 2,
      `anon ${MiB}\ninactive_file ${MiB * 32}\nactive_file 0\n`,
    );
    assert.deepEqual(await sum(root, [A]), { rc: 0, out: "32.5\n" });
  });
});

Deno.test("stack memory from cgroups fails (so dockerd is asked) when a container has no cgroup there", async () => {
  await withTempDir(async (root) => {
    await container(`${root}/memory/docker/${A}`, MiB, "total_inactive_file 0\n");
    const r = await sum(root, [A, B]);
    assert.notEqual(r.rc, 0);
    assert.equal(r.out, "");
    assert.notEqual((await sum(`${root}/nothing`, [A])).rc, 0);
  });
});

/** Run COMPOSE_IDS_FN in `dir` against a dockerd answering `json`. */
async function composeIds(dir: string, file: string, json: string): Promise<string[]> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      `drover_dapi() { printf '%s\\n' "$J"; }\n${COMPOSE_IDS_FN}cd "$1" && drover_compose_ids "$2"`,
      "sh",
      dir,
      file,
    ],
    env: { J: json },
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean);
}

Deno.test("the stack's containers come from dockerd's list by Compose's working_dir and file labels (v1 and v2)", async () => {
  await withTempDir(async (dir) => {
    const real = await Deno.realPath(dir);
    const c = (id: string, wd: string, files: string, extra = "") =>
      `{"Id":"${id}","Names":["/x"],"Labels":{"com.docker.compose.project":"p",` +
      `"com.docker.compose.project.config_files":"${files}",` +
      `"com.docker.compose.project.working_dir":"${wd}"${extra}},"State":"running"}`;
    const C = "c".repeat(64);
    const D = "d".repeat(64);
    const json = "[" + [
      c(A, real, "stack.yml"), // Compose v1: the file as given
      c(B, real, `${real}/stack.yml`, ',"x":"{\\"Id\\":\\"zz\\"}"'), // v2: absolute
      c(C, real, "other.yml"), // another file in the same directory
      c(D, "/elsewhere", "stack.yml"), // the same file name elsewhere
    ].join(",") + "]";
    assert.deepEqual(await composeIds(dir, "stack.yml", json), [A, B]);
    assert.deepEqual(await composeIds(dir, "other.yml", json), [C]);
    assert.deepEqual(await composeIds(dir, "none.yml", json), []);
    // A path the match would have to escape: nothing, so Compose is asked.
    assert.deepEqual(await composeIds(dir, 'st"ack.yml', json), []);
  });
});
