import assert from "node:assert/strict";
import { hideScriptData, traceConnection } from "./trace.ts";
import type { EngineEvent } from "../core/events.ts";
import type { Connection } from "../core/connection.ts";

Deno.test("hideScriptData hides heredoc bodies and long base64 runs, keeps the commands", () => {
  const secretB64 = btoa("prefix glc_SECRET_TOKEN suffix ".repeat(4));
  const script =
    `set -e\nbase64 -d > "$tmp" <<'DROVER_X1'\n${secretB64}\nDROVER_X1\nmv -f -- "$tmp" "$dest"\n` +
    `cat > f <<EOF\nline1\nline2\nEOF\necho ${secretB64}\n`;
  const out = hideScriptData(script);
  assert.ok(!out.includes(secretB64.slice(0, 40)), out);
  assert.match(out, /<<'DROVER_X1'\n<heredoc data hidden: 1 line, \d+ bytes>\nDROVER_X1\n/);
  assert.match(out, /<<EOF\n<heredoc data hidden: 2 lines, 11 bytes>\nEOF\n/);
  assert.match(out, /mv -f -- "\$tmp" "\$dest"/);
  assert.match(out, /echo <base64 data hidden>/);
  assert.equal(hideScriptData("systemctl is-active alloy\n"), "systemctl is-active alloy\n");
});

Deno.test("traceConnection reports the connection once, then each command before it runs", async () => {
  const events: EngineEvent[] = [];
  const ran: string[] = [];
  const inner: Connection = {
    host: "web1",
    exec: (s) => {
      ran.push(s);
      return Promise.resolve({ rc: 0, stdout: "", stderr: "" });
    },
    close: () => Promise.resolve(),
  };
  const c = traceConnection(inner, (e) => events.push(e), { kind: "ssh", address: "10.0.0.1" });
  await c.exec("true", { become: { user: "root" }, env: { LANG: "C" } });
  await c.exec("false");
  assert.deepEqual(ran, ["true", "false"]);
  assert.deepEqual(events.map((e) => e.type), ["connection", "command", "command"]);
  assert.deepEqual(events[1], {
    type: "command",
    host: "web1",
    script: "true",
    become: "root",
    env: ["LANG"],
  });
});
