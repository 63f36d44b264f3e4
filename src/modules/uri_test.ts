import assert from "node:assert/strict";
import { HostModel, type ModuleContext, ModuleFailure } from "../core/module.ts";
import {
  checkModeSkip,
  curlConfig,
  curlQuote,
  earlierStarter,
  type HttpRequest,
  modelFlags,
  parseHttpOutput,
  transferError,
  uri,
  uriArgs,
  uriRequest,
  wgetConfig,
} from "./uri.ts";
import { localContext } from "./_testing.ts";

// Captured: drover_http with curl 7.88 following a redirect (python http.server).
const CURL_OUT = `<html>listing</html>

@@DROVER_HTTP 200
@@DROVER_RC 0
@@DROVER_HDR
HTTP/1.0 301 Moved Permanently\r
Server: SimpleHTTP/0.6 Python/3.11.7\r
Location: /rootfs/\r
Content-Length: 0\r
\r
HTTP/1.0 200 OK\r
Server: SimpleHTTP/0.6 Python/3.11.7\r
Content-type: text/html; charset=utf-8\r
Content-Length: 300\r
\r
@@DROVER_END
`;

// Captured: drover_http with GNU wget 1.21 (no curl on PATH) on a 404.
const WGET_OUT = `<p>Error code: 404</p>
</html>

@@DROVER_HTTP 404
@@DROVER_RC 8
@@DROVER_HDR
  HTTP/1.0 404 File not found
  Server: SimpleHTTP/0.6 Python/3.11.7
  Connection: close
  Content-Type: text/html;charset=utf-8
  Content-Length: 335
@@DROVER_END
`;

// Captured: curl 7.88 on a refused connection.
const REFUSED = "\n@@DROVER_HTTP 000\n@@DROVER_RC 7\n@@DROVER_HDR\n\n@@DROVER_END\n";

Deno.test("parseHttpOutput: curl body, final status and headers after a redirect", () => {
  const r = parseHttpOutput(CURL_OUT);
  assert.equal(r.status, 200);
  assert.equal(r.rc, 0);
  assert.equal(r.body, "<html>listing</html>\n");
  assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
  assert.equal(r.redirected, true);
});

Deno.test("parseHttpOutput: wget's indented headers; refused connection is status -1", () => {
  const w = parseHttpOutput(WGET_OUT);
  assert.equal(w.status, 404);
  assert.equal(w.headers["content-length"], "335");
  assert.equal(w.body, "<p>Error code: 404</p>\n</html>\n");
  assert.equal(parseHttpOutput(REFUSED).status, -1);
  assert.equal(parseHttpOutput("garbage").status, -1);
});

Deno.test("a body that contains the marker does not confuse the parser", () => {
  const body = "x\n@@DROVER_HTTP 999\ny";
  assert.equal(
    parseHttpOutput(body + CURL_OUT.slice(CURL_OUT.indexOf("\n@@DROVER_HTTP"))).body,
    body,
  );
});

const REQ: HttpRequest = {
  url: "https://grafana.example/api?x=1",
  method: "POST",
  headers: { Authorization: 'Bearer a"b\\c' },
  body: '{"k":"line1\nline2"}',
  timeout: 10,
  validateCerts: false,
  followRedirects: false,
  user: "u",
  password: "p:w",
};

Deno.test("curl config: everything quoted, body sent raw (no @file), TLS and redirects", () => {
  assert.equal(curlQuote('a"b\\c\nd'), String.raw`"a\"b\\c\nd"`);
  const c = curlConfig(REQ);
  assert.match(c, /^url = "https:\/\/grafana.example\/api\?x=1"$/m);
  assert.match(c, /^request = "POST"$/m);
  assert.match(c, /^header = "Authorization: Bearer a\\"b\\\\c"$/m);
  assert.match(c, /^data-raw = "\{\\"k\\":\\"line1\\nline2\\"\}"$/m);
  assert.match(c, /^insecure$/m);
  assert.match(c, /^user = "u:p:w"$/m);
  assert.doesNotMatch(c, /^location$/m);
  assert.match(curlConfig({ ...REQ, method: "HEAD", body: undefined }), /^head$/m);
});

Deno.test("wget config carries headers and credentials, refuses line breaks in a header", () => {
  assert.equal(
    wgetConfig({ ...REQ, user: undefined }),
    `header = Authorization: Bearer a"b\\c\n`,
  );
  assert.equal(wgetConfig({ ...REQ, headers: {}, user: undefined }), undefined);
  assert.throws(() => wgetConfig({ ...REQ, headers: { X: "a\nb" } }), /line break/);
});

Deno.test("uriRequest: json and form bodies, Content-Type, safe redirects", () => {
  const j = uriRequest(
    uriArgs.parse({ url: "http://x", method: "post", body: { a: 1 }, body_format: "json" }),
  );
  assert.equal(j.method, "POST");
  assert.equal(j.body, '{"a":1}');
  assert.equal(j.headers["Content-Type"], "application/json");
  assert.equal(j.followRedirects, false);
  const f = uriRequest(
    uriArgs.parse({
      url: "http://x",
      method: "POST",
      body: { a: "b c" },
      body_format: "form-urlencoded",
    }),
  );
  assert.equal(f.body, "a=b+c");
  assert.equal(uriRequest(uriArgs.parse({ url: "http://x" })).followRedirects, true);
  assert.equal(
    uriRequest(uriArgs.parse({ url: "http://x", follow_redirects: "none" })).followRedirects,
    false,
  );
  assert.throws(
    () => uriRequest(uriArgs.parse({ url: "http://x", body: { a: 1 } })),
    /body_format/,
  );
  assert.deepEqual(uriArgs.parse({ url: "http://x", status_code: "200, 204" }).status_code, [
    200,
    204,
  ]);
});

Deno.test("transferError explains curl/wget failures", () => {
  assert.equal(
    transferError(
      7,
      "curl: (7) Failed to connect to 127.0.0.1 port 1: Couldn't connect to server\n",
    ),
    "(7) Failed to connect to 127.0.0.1 port 1: Couldn't connect to server",
  );
  assert.match(transferError(4, ""), /network failure/);
  assert.match(transferError(127, ""), /curl nor GNU wget/);
});

Deno.test("check-mode rule: only an earlier task that starts something excuses a failed wait", () => {
  assert.equal(checkModeSkip(false, [["service:alloy", "started"]], "x"), undefined);
  assert.equal(checkModeSkip(true, [], "x"), undefined);
  assert.equal(checkModeSkip(true, [["service:alloy", "enabled"]], "x"), undefined);
  assert.equal(checkModeSkip(true, [["pkg:pending", []]], "x"), undefined);
  assert.equal(checkModeSkip(true, [["apt:sources-changed", true]], "x"), undefined);
  assert.equal(
    checkModeSkip(true, [["service:alloy", "started"]], "127.0.0.1:12345 to be open"),
    "skipped in check mode: would wait for 127.0.0.1:12345 to be open (started by an earlier task: service:alloy)",
  );
  assert.equal(earlierStarter([["pkg:alloy", "present"]]), "pkg:alloy");
  const unit = { enabled: true, running: true, masked: false };
  assert.equal(earlierStarter([["systemd:alloy.service", unit]]), "systemd:alloy.service");
  assert.equal(earlierStarter([["systemd:alloy.service", unit]], false), undefined);
  assert.equal(earlierStarter([["compose:tta", "absent"]]), undefined);
  assert.equal(earlierStarter([["compose:tta", "absent"]], false), "compose:tta");
  assert.equal(
    checkModeSkip(true, [["compose:tta", "absent"]], "127.0.0.1:4317 to be closed", false),
    "skipped in check mode: would wait for 127.0.0.1:4317 to be closed (stopped by an earlier task: compose:tta)",
  );
});

Deno.test("modelFlags reads the host model (all flags when it can list them)", () => {
  const m = new HostModel();
  m.setFlag("pkg:pending", ["alloy"]);
  m.setFlag("other", 1);
  const flags = modelFlags(m);
  assert.ok(flags.some(([k]) => k === "pkg:pending"));
  assert.equal(earlierStarter(flags), "pkg:pending");
});

/** An echo server: method, headers, body, and whether `secret` shows in any process's argv. */
function echoServer(secret: string) {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/old") return Response.redirect(new URL("/echo", req.url), 302);
      if (path === "/missing") return new Response("nope", { status: 404 });
      const ps = await new Deno.Command("ps", { args: ["-eo", "args"], stdout: "piped" }).output();
      const argv = new TextDecoder().decode(ps.stdout);
      return Response.json({
        method: req.method,
        auth: req.headers.get("authorization"),
        type: req.headers.get("content-type"),
        body: await req.text(),
        secretInArgv: argv.includes(secret),
        curlSeen: /(^|\/)(curl|wget) /m.test(argv),
      });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

const call = (ctx: ModuleContext, o: Record<string, unknown>) => uri.run(ctx, uriArgs.parse(o));

Deno.test("uri with curl: GET, POST json, headers, redirects, status checks; no secret in argv", async () => {
  const secret = "tok-" + crypto.randomUUID();
  const s = echoServer(secret);
  try {
    const ctx = await localContext();
    const get = await call(ctx, { url: `${s.url}/old`, return_content: true });
    assert.equal(get.changed, false);
    assert.equal(get.data?.status, 200);
    assert.equal(get.data?.redirected, true);
    assert.equal((get.data?.json as { method: string }).method, "GET");
    assert.ok(typeof get.data?.content === "string");

    const post = await call(ctx, {
      url: `${s.url}/echo`,
      method: "POST",
      headers: { Authorization: `Bearer ${secret}` },
      body: { token: secret, text: 'a "quoted"\nline @/etc/passwd' },
      body_format: "json",
    });
    const echoed = post.data?.json as Record<string, unknown>;
    assert.equal(echoed.method, "POST");
    assert.equal(echoed.auth, `Bearer ${secret}`);
    assert.equal(echoed.type, "application/json");
    assert.deepEqual(JSON.parse(echoed.body as string), {
      token: secret,
      text: 'a "quoted"\nline @/etc/passwd',
    });
    assert.equal(echoed.curlSeen, true, "ps did not see curl running");
    assert.equal(echoed.secretInArgv, false, "the secret showed in a process's argv");

    await assert.rejects(
      () => call(ctx, { url: `${s.url}/missing` }),
      (e: unknown) =>
        e instanceof ModuleFailure && e.message === "Status code was 404 and not [200]: nope",
    );
    assert.equal(
      (await call(ctx, { url: `${s.url}/missing`, status_code: [200, 404] })).data?.status,
      404,
    );
  } finally {
    await s.close();
  }
  const refused = await localContext();
  await assert.rejects(
    () => call(refused, { url: s.url }),
    /Status code was -1 and not \[200\]: Request failed: .*onnect/,
  );
});

Deno.test("uri with GNU wget only: same answers, secrets kept out of argv, temp config removed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "drover-wget-" });
  for (const t of ["wget", "awk", "grep", "cat", "mktemp", "base64", "rm"]) {
    const out = await new Deno.Command("sh", { args: ["-c", `command -v ${t}`] }).output();
    const p = new TextDecoder().decode(out.stdout).trim();
    if (!p) return; // no GNU wget here: nothing to test
    await Deno.symlink(p, `${dir}/${t}`);
  }
  const secret = "tok-" + crypto.randomUUID();
  const s = echoServer(secret);
  const shm = () => [...Deno.readDirSync("/dev/shm")].filter((e) => e.name.startsWith("drover."));
  const before = shm().length;
  try {
    const ctx = await localContext({ env: { PATH: dir } });
    const post = await call(ctx, {
      url: `${s.url}/echo`,
      method: "PUT",
      headers: { Authorization: `Bearer ${secret}` },
      body: `{"token":"${secret}"}\n`,
      body_format: "json",
    });
    const echoed = post.data?.json as Record<string, unknown>;
    assert.equal(echoed.method, "PUT");
    assert.equal(echoed.auth, `Bearer ${secret}`);
    assert.equal(echoed.body, `{"token":"${secret}"}\n`);
    assert.equal(echoed.curlSeen, true, "ps did not see wget running");
    assert.equal(echoed.secretInArgv, false);
    assert.equal(shm().length, before, "wget's temp config was left behind");
    await assert.rejects(() => call(ctx, { url: `${s.url}/missing` }), /Status code was 404/);
  } finally {
    await s.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check mode: GET runs, POST is not sent; a failed check excused by an earlier task", async () => {
  const s = echoServer("x");
  try {
    const ctx = await localContext({ check: true });
    assert.equal((await call(ctx, { url: `${s.url}/echo` })).data?.status, 200);
    const post = await call(ctx, { url: `${s.url}/echo`, method: "POST", body: "x" });
    assert.equal(post.skipped, true);
    assert.match(post.msg ?? "", /skipped in check mode: would send POST/);
  } finally {
    await s.close();
  }
  const model = new HostModel();
  model.setFlag("service:alloy", "started");
  const r = await call(await localContext({ check: true, model }), { url: `${s.url}/-/ready` });
  assert.equal(r.changed, false);
  assert.match(
    r.msg ?? "",
    /^skipped in check mode: would wait for .*\(started by an earlier task: service:alloy\)$/,
  );
});
