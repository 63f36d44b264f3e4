import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { batchScript, newNonce, parseBatch, ReadCache } from "./reads.ts";
import { spawnWithStdin } from "../connection/shell.ts";

const READS = [
  "echo hello; echo world",
  "printf 'no newline at the end'",
  "echo out; echo err >&2; exit 3",
  "cat",
  'read x; echo "read: $x"',
  "cat <<'DROVER_EOF'\nDROVER_EOF inside a heredoc\nDROVER_EOF\n",
  "exit 0",
  "printf '\\n@@R:0:out\\nlooks like a marker\\n'",
  "set -e\nfalse\necho not reached",
  "s() { printf '\\n@@%s\\n' \"$1\"; }\ns a; echo 1\ns end",
];

async function alone(script: string) {
  const r = await spawnWithStdin(["sh", "-s"], script);
  return { rc: r.rc, stdout: r.stdout, stderr: r.stderr.replace(/\n+$/, "") };
}

Deno.test("a batch gives each read what it gets alone: stdout byte for byte, exit code, stderr", async () => {
  const nonce = newNonce();
  const r = await spawnWithStdin(["sh", "-s"], batchScript(READS, nonce));
  assertEquals(r.rc, 0);
  const got = parseBatch(r.stdout, READS.length, nonce);
  for (const [i, script] of READS.entries()) {
    assertEquals(got[i], await alone(script), `read ${i}: ${script}`);
  }
});

Deno.test("a batch whose output stops part-way (the connection died) leaves the later reads unknown", async () => {
  const nonce = newNonce();
  const r = await spawnWithStdin(["sh", "-s"], batchScript(["echo a", "echo b"], nonce));
  const whole = parseBatch(r.stdout, 2, nonce);
  assertEquals(whole[1], { rc: 0, stdout: "b\n", stderr: "" });
  const cut = r.stdout.slice(0, r.stdout.indexOf(`@@${nonce}:1:err`));
  const got = parseBatch(cut, 2, nonce);
  assertEquals(got[0], { rc: 0, stdout: "a\n", stderr: "" });
  assertEquals(got[1], undefined);
});

Deno.test("a killed batch prints nothing", async () => {
  const nonce = newNonce();
  const r = await spawnWithStdin(
    ["sh", "-s"],
    batchScript(["echo a", "kill -TERM $PPID; sleep 5"], nonce),
  );
  assertEquals(parseBatch(r.stdout, 2, nonce), [undefined, undefined]);
});

Deno.test("nothing of a read's script is in the batch's argv", () => {
  const secret = "s3cr3t-value";
  const script = batchScript([`curl -u user:${secret} http://x`], "N");
  // The read travels inside a here-document: the only words run are sh -s, printf and cat.
  const argvLines = script.split("\n").filter((l) => l.includes(secret));
  assertEquals(argvLines, [`curl -u user:${secret} http://x`]);
});

Deno.test("the read cache forgets everything at once", () => {
  const c = new ReadCache();
  const k = ReadCache.key("g", "echo");
  c.set(k, { rc: 0, stdout: "x", stderr: "" });
  assertEquals(c.get(k)?.stdout, "x");
  assertEquals(c.get(ReadCache.key("other", "echo")), undefined);
  c.clear();
  assertEquals(c.has(k), false);
});

Deno.test("batches look far ahead until a change wastes reads fetched ahead, then a little, then further again", () => {
  const c = new ReadCache();
  assertEquals(c.window, Infinity);
  c.set("a", { rc: 0, stdout: "", stderr: "" });
  c.set("b", { rc: 0, stdout: "", stderr: "" }, true);
  c.clear(); // "b" was fetched ahead and never used
  assertEquals(c.window, 3);
  c.set("c", { rc: 0, stdout: "", stderr: "" });
  c.set("d", { rc: 0, stdout: "", stderr: "" }, true);
  c.missed(); // "d" not used yet: the guess may still be right
  assertEquals(c.window, 3);
  c.get("d");
  c.missed(); // everything fetched ahead was used
  assertEquals(c.window, 12);
  c.clear(); // nothing wasted
  assertEquals(c.window, 24);
});

Deno.test("a read missed right after a change does not widen the window: the reads were thrown away, not used up", () => {
  const c = new ReadCache();
  c.set("a", { rc: 0, stdout: "", stderr: "" });
  c.set("b", { rc: 0, stdout: "", stderr: "" }, true);
  c.clear(); // a change threw "b" away
  assertEquals(c.window, 3);
  c.missed(); // the next task's read: the cache is empty because of the change
  assertEquals(c.window, 3);
  c.set("c", { rc: 0, stdout: "", stderr: "" });
  c.set("d", { rc: 0, stdout: "", stderr: "" }, true);
  c.get("d");
  c.missed(); // this batch was used up: look further
  assertEquals(c.window, 12);
});

Deno.test("the reads of a batch run at once, and the batch leaves no files behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Read 0 waits (bounded) for a file read 1 creates: one after the other, it would give up.
    const reads = [
      `i=0; while [ ! -e ${dir}/flag ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; [ -e ${dir}/flag ] && echo saw it`,
      `touch ${dir}/flag; echo made it`,
    ];
    const nonce = newNonce();
    const before = [...Deno.readDirSync("/dev/shm")].filter((e) => e.name.startsWith("drover-rd"));
    const r = await spawnWithStdin(["sh", "-s"], batchScript(reads, nonce));
    const got = parseBatch(r.stdout, 2, nonce);
    assertEquals(got.map((g) => g?.stdout), ["saw it\n", "made it\n"]);
    const after = [...Deno.readDirSync("/dev/shm")].filter((e) => e.name.startsWith("drover-rd"));
    assertEquals(after.length, before.length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a gate that prints nothing keeps the reads after it from running; one that prints lets them run as they would alone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const reads = (gate: string) => [
      "echo before; echo err >&2; exit 2",
      gate,
      `touch ${dir}/ran; echo after`,
      "printf 'no newline'",
    ];
    const nonce = newNonce();
    // Empty: the task will change the host.
    const empty = await spawnWithStdin(["sh", "-s"], batchScript(reads("exit 1"), nonce, 1));
    assertEquals(empty.rc, 0);
    assertEquals(parseBatch(empty.stdout, 4, nonce), [
      await alone(reads("")[0]),
      { rc: 1, stdout: "", stderr: "" },
      undefined,
      undefined,
    ]);
    assertEquals(await exists(`${dir}/ran`), false);
    // Not empty: every read, byte for byte, as alone; the gate's exit code kept.
    const full = reads("cat /etc/hostname; exit 3");
    const r = await spawnWithStdin(["sh", "-s"], batchScript(full, nonce, 1));
    assertEquals(r.rc, 0);
    const got = parseBatch(r.stdout, 4, nonce);
    await Deno.remove(`${dir}/ran`);
    for (const [i, script] of full.entries()) assertEquals(got[i], await alone(script), script);
    // A gate that is the last read changes nothing.
    assertEquals(batchScript(["echo a", "true"], nonce, 1), batchScript(["echo a", "true"], nonce));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a gate that kept reads from running makes the change that follows narrow the window", () => {
  const c = new ReadCache();
  c.set("a", { rc: 0, stdout: "", stderr: "" });
  c.gated();
  c.clear(); // nothing fetched ahead was thrown away: the gate kept it from running
  assertEquals(c.window, 3);
  c.set("b", { rc: 0, stdout: "", stderr: "" });
  c.clear(); // the gate counts for one change only
  assertEquals(c.window, 6);
});

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}
