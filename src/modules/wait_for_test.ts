import assert from "node:assert/strict";
import { HostModel, type ModuleContext, ModuleFailure } from "../core/module.ts";
import {
  describeWait,
  isLocalHost,
  pyToEre,
  pyToJs,
  waitFor,
  waitForArgs,
  waitScript,
} from "./wait_for.ts";
import { localContext } from "./_testing.ts";

Deno.test("search_regex: Python classes and named groups become ERE", () => {
  assert.equal(pyToEre(String.raw`VERSION_ID="(?P<v>\d+)"`), `VERSION_ID="([0-9]+)"`);
  assert.equal(pyToEre(String.raw`(?:a|b)\s\w`), "(a|b)[[:space:]][[:alnum:]_]");
  assert.equal(pyToEre(String.raw`on [\d.]+:\d+ [^\s]`), "on [0-9.]+:[0-9]+ [^[:space:]]");
  assert.deepEqual({ ...pyToJs(String.raw`v(?P<major>\d+)`)?.exec("v12")?.groups }, {
    major: "12",
  });
});

Deno.test("describeWait says what is waited for", () => {
  const d = (o: Record<string, unknown>) => describeWait(waitForArgs.parse(o));
  assert.equal(d({ port: 4317, state: "stopped" }), "127.0.0.1:4317 to be closed");
  assert.equal(
    d({ url: "http://127.0.0.1:12345/-/ready" }),
    "http://127.0.0.1:12345/-/ready to return 200",
  );
  assert.equal(d({ path: "/tmp/x", state: "absent" }), "/tmp/x to be absent");
  assert.ok(!waitForArgs.safeParse({ port: 1, path: "/x" }).success);
});

Deno.test("isLocalHost", () => {
  for (const h of ["127.0.0.1", "localhost", "::1", "0.0.0.0"]) assert.ok(isLocalHost(h), h);
  assert.ok(!isLocalHost("10.0.0.1"));
});

Deno.test("the wait loop is one script bounded by the timeout", () => {
  const s = waitScript(waitForArgs.parse({ port: 1, timeout: 7, delay: 2 }));
  assert.match(s, /sleep 2\n/);
  assert.match(s, /-ge 7 \]/);
  assert.match(waitScript(waitForArgs.parse({ port: 1, timeout: 7 }), true), /-ge 0 \]/);
});

/** A context that counts round trips. */
async function counting(
  o: { check?: boolean; model?: HostModel; env?: Record<string, string> } = {},
): Promise<{ ctx: ModuleContext; calls: () => number }> {
  const base = await localContext({ ...o, facts: (await localContext()).facts });
  let n = 0;
  return {
    ctx: { ...base, sh: (s, opt) => (n++, base.sh(s, opt)) },
    calls: () => n,
  };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const run = (ctx: ModuleContext, o: Record<string, unknown>) =>
  waitFor.run(ctx, waitForArgs.parse(o));

Deno.test("port: waits until a listener appears, in one round trip", async () => {
  const port = freePort();
  const { ctx, calls } = await counting();
  let l: Deno.Listener | undefined;
  const t = setTimeout(() => l = Deno.listen({ hostname: "127.0.0.1", port }), 1200);
  try {
    const r = await run(ctx, { port, timeout: 20 });
    assert.equal(r.changed, false);
    assert.ok((r.data?.elapsed as number) >= 1, `elapsed ${r.data?.elapsed}`);
    assert.equal(calls(), 1);
  } finally {
    clearTimeout(t);
    l?.close();
  }
});

Deno.test("port: state=stopped waits until the listener goes", async () => {
  const ctx = await localContext();
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  let closedAt = 0;
  const t = setTimeout(() => {
    l.close();
    closedAt = Date.now();
  }, 1200);
  await run(ctx, { port, state: "stopped", timeout: 20 });
  const returnedAt = Date.now();
  clearTimeout(t);
  // It returned only once the listener was gone, not before.
  assert.ok(closedAt > 0 && returnedAt >= closedAt, `closed ${closedAt}, returned ${returnedAt}`);
});

Deno.test("port: timeout fails saying what was waited for and how long", async () => {
  const port = freePort();
  const ctx = await localContext();
  await assert.rejects(
    () => run(ctx, { port, timeout: 1 }),
    (e: unknown) =>
      e instanceof ModuleFailure &&
      // The elapsed time is measured, so a loaded machine may say 2s.
      new RegExp(`^Timeout when waiting for 127\\.0\\.0\\.1:${port} to be open \\(waited \\d+s\\)$`)
        .test(e.message),
  );
  await assert.rejects(
    () => run(ctx, { port, timeout: 1, msg: "no OTLP" }),
    /^ModuleFailure: no OTLP$/,
  );
});

async function pathOf(tools: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "drover-path-" });
  for (const t of tools) {
    const src = (await new Deno.Command("sh", { args: ["-c", `command -v ${t}`] }).output()).stdout;
    const p = new TextDecoder().decode(src).trim();
    if (p) await Deno.symlink(p, `${dir}/${t}`);
  }
  return dir;
}

Deno.test("port: without bash, BusyBox nc or /proc/net/tcp answer", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  const closed = freePort();
  const proc = await pathOf(["date", "sleep", "cat", "awk", "grep", "true"]);
  try {
    const ctx = await localContext({ env: { PATH: proc } });
    const r = await run(ctx, { port, timeout: 5 });
    assert.equal(r.data?.method, "proc");
    await assert.rejects(() => run(ctx, { port: closed, timeout: 1 }), /Timeout/);
    await assert.rejects(
      () => run(ctx, { host: "192.0.2.1", port, timeout: 1 }),
      /neither bash nor nc on the host \(and it is not a local address\)/,
    );
    if (await Deno.stat("/bin/busybox").catch(() => null)) {
      await Deno.symlink("/bin/busybox", `${proc}/nc`);
      const n = await run(ctx, { port, timeout: 5 });
      assert.equal(n.data?.method, "nc");
      await assert.rejects(() => run(ctx, { port: closed, timeout: 1 }), /Timeout/);
    }
  } finally {
    l.close();
    await Deno.remove(proc, { recursive: true });
  }
});

Deno.test("url: waits for the expected status and body, reports the last answer on timeout", async () => {
  let hits = 0;
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req) => {
      if (new URL(req.url).pathname === "/down") return new Response("no", { status: 503 });
      return ++hits < 3
        ? new Response("starting", { status: 503 })
        : new Response("Alloy is ready.\n");
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  try {
    const ctx = await localContext();
    const r = await run(ctx, {
      url: `${url}/-/ready`,
      search_regex: "is (?P<w>ready)",
      timeout: 20,
    });
    assert.ok(hits >= 3);
    assert.deepEqual(r.data?.match_groupdict, { w: "ready" });
    await assert.rejects(
      () => run(ctx, { url: `${url}/down`, timeout: 1 }),
      new RegExp(
        `Timeout when waiting for ${url}/down to return 200 \\(waited \\d+s; last answer: HTTP 503\\)`,
      ),
    );
  } finally {
    ac.abort();
    await server.finished;
  }
  const gone = await run(await localContext(), {
    url: `${url}/-/ready`,
    state: "stopped",
    timeout: 5,
  });
  assert.equal(gone.changed, false);
});

Deno.test("path: waits for a file and its content; absent waits for removal", async () => {
  const dir = await Deno.makeTempDir();
  const f = `${dir}/alloy.log`;
  try {
    const t = setTimeout(
      () => Deno.writeTextFileSync(f, "starting\nlistening on 127.0.0.1:12345\n"),
      1200,
    );
    const r = await run(await localContext(), {
      path: f,
      search_regex: String.raw`listening on [\d.]+:(?P<port>\d+)`,
      timeout: 20,
    });
    clearTimeout(t);
    assert.deepEqual(r.data?.match_groups, ["12345"]);
    setTimeout(() => Deno.removeSync(f), 1200);
    const gone = await run(await localContext(), { path: f, state: "absent", timeout: 20 });
    assert.ok((gone.data?.elapsed as number) >= 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check mode: a wait for what an earlier task would start reports ok at once", async () => {
  const port = freePort();
  const model = new HostModel();
  model.setFlag("service:alloy", "started");
  const { ctx, calls } = await counting({ check: true, model });
  const started = Date.now();
  const r = await run(ctx, { port, timeout: 300 });
  assert.ok(Date.now() - started < 5000);
  assert.equal(r.changed, false);
  assert.equal(
    r.msg,
    `skipped in check mode: would wait for 127.0.0.1:${port} to be open (started by an earlier task: service:alloy)`,
  );
  assert.equal(calls(), 1);
  // Without such a task, check mode waits and fails like a real run.
  const plain = await localContext({ check: true });
  await assert.rejects(() => run(plain, { port, timeout: 1 }), /Timeout/);
});
