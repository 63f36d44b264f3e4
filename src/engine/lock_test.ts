import assert from "node:assert/strict";
import type { Connection, ExecOptions, ExecResult } from "../core/connection.ts";
import { withHostLock } from "./lock.ts";

/** A connection that answers every exec itself and counts them (the lock runs for real, locally). */
class Counting implements Connection {
  readonly host = "localhost";
  calls: string[] = [];
  exec(script: string, _o?: ExecOptions): Promise<ExecResult> {
    this.calls.push(script);
    return Promise.resolve({ rc: 0, stdout: "from a session of its own\n", stderr: "" });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const PROBE = 'echo probe; echo "user $(id -un)"';

Deno.test("the host lock's session also runs the fact probe: its first exec needs no session of its own", async () => {
  const inner = new Counting();
  const conn = withHostLock(inner, {
    spawn: (w) => w,
    timeoutS: 10,
    holder: "lock_test",
    prefetch: PROBE,
  });
  try {
    const who = new TextDecoder().decode(
      (await new Deno.Command("id", { args: ["-un"] }).output()).stdout,
    ).trim();
    assert.deepEqual(await conn.exec(PROBE, { timeoutMs: 5000 }), {
      rc: 0,
      stdout: `probe\nuser ${who}\n`,
      stderr: "",
    });
    assert.deepEqual(inner.calls, []);
    // Only once, and only for that very script without become or env.
    await conn.exec(PROBE);
    await conn.exec("true\n");
    assert.deepEqual(inner.calls, [PROBE, "true\n"]);
  } finally {
    await conn.close();
  }
});

Deno.test("a run that waited for another run's lock probes again once it holds it", async () => {
  const first = withHostLock(new Counting(), { spawn: (w) => w, timeoutS: 10, holder: "first" });
  await first.exec("true\n");
  const inner = new Counting();
  const waits: string[] = [];
  const second = withHostLock(inner, {
    spawn: (w) => w,
    timeoutS: 10,
    holder: "second",
    prefetch: PROBE,
    onWait: (m) => waits.push(m),
  });
  try {
    const later = second.exec(PROBE);
    await new Promise((r) => setTimeout(r, 700));
    await first.close();
    const r = await later;
    assert.equal(waits.length, 1, "the second run did not wait");
    assert.match(waits[0], /locked by another drover run \(first\)/);
    assert.equal(r.stdout, "from a session of its own\n");
    assert.deepEqual(inner.calls, [PROBE]);
  } finally {
    await first.close();
    await second.close();
  }
});

Deno.test("a fact probe that fails in the lock's session runs again in a session of its own", async () => {
  const inner = new Counting();
  const failing = "echo partial; exit 3";
  const conn = withHostLock(inner, {
    spawn: (w) => w,
    timeoutS: 10,
    holder: "lock_test",
    prefetch: failing,
  });
  try {
    assert.equal((await conn.exec(failing)).stdout, "from a session of its own\n");
    assert.deepEqual(inner.calls, [failing]);
  } finally {
    await conn.close();
  }
});
