import assert from "node:assert/strict";
import { HostModel, type ModuleContext, ModuleFailure, type ShResult } from "../core/module.ts";
import {
  applyScript,
  firewalld,
  type FirewalldState,
  gatherScript,
  parseGather,
  planFirewalld,
  sides,
} from "./firewalld.ts";

const args = (a: Record<string, unknown>) => firewalld.args.parse(a);
const running: FirewalldState = {
  installed: true,
  running: true,
  defaultZone: "public",
  runtimeRc: 1,
  permanentRc: 0,
};

Deno.test("sides: Ansible's permanent/immediate rules", () => {
  assert.deepEqual(sides({ permanent: false, immediate: false }), {
    runtime: true,
    permanent: false,
  });
  assert.deepEqual(sides({ permanent: true, immediate: false }), {
    runtime: false,
    permanent: true,
  });
  assert.deepEqual(sides({ permanent: true, immediate: true }), { runtime: true, permanent: true });
});

Deno.test("planFirewalld: only the sides that differ change", () => {
  const both = args({
    port: "4317/tcp",
    state: "enabled",
    permanent: true,
    immediate: true,
    zone: "public",
  });
  assert.deepEqual(planFirewalld(running, both), [
    { side: "runtime", offline: false, argv: ["--zone=public", "--add-port=4317/tcp"] },
  ]);
  assert.deepEqual(planFirewalld({ ...running, runtimeRc: 0 }, both), []);
  const off = args({ port: "4317/tcp", state: "disabled", permanent: true });
  assert.deepEqual(planFirewalld(running, off), [
    { side: "permanent", offline: false, argv: ["--permanent", "--remove-port=4317/tcp"] },
  ]);
  assert.deepEqual(
    planFirewalld(
      running,
      args({ rich_rule: 'rule service name="ssh" accept', state: "enabled" }),
    )[0].argv,
    ['--add-rich-rule=rule service name="ssh" accept'],
  );
});

Deno.test("planFirewalld: not running → offline for permanent, failure for runtime", () => {
  const stopped: FirewalldState = {
    installed: true,
    running: false,
    defaultZone: "public",
    permanentRc: 1,
  };
  assert.deepEqual(
    planFirewalld(stopped, args({ service: "http", state: "enabled", permanent: true })),
    [
      { side: "permanent", offline: true, argv: ["--add-service=http"] },
    ],
  );
  assert.throws(
    () => planFirewalld(stopped, args({ service: "http", state: "enabled" })),
    /firewalld is not running/,
  );
});

Deno.test("planFirewalld: query errors (bad zone) fail with firewall-cmd's text", () => {
  assert.throws(
    () =>
      planFirewalld(
        { ...running, runtimeRc: 112, runtimeErr: "Error: INVALID_ZONE: nope" },
        args({ port: "1/tcp", zone: "nope", state: "enabled" }),
      ),
    (e: unknown) =>
      e instanceof ModuleFailure && /rc 112\): Error: INVALID_ZONE: nope/.test(e.message),
  );
});

Deno.test("gatherScript/parseGather: queries the requested sides, quoted", () => {
  const g = gatherScript(
    args({ rich_rule: "rule family='ipv4' accept", state: "enabled", permanent: true }),
  );
  assert.match(g, /--query-rich-rule=rule family='\\''ipv4'\\'' accept'/);
  assert.doesNotMatch(g, /s runtime/);
  // Output captured from firewalld 1.3 (Debian 12), offline.
  const p = parseGather("\n@@running\nno\n@@zone\npublic\n@@permanent\n1\n\n@@end\n");
  assert.deepEqual(p, {
    installed: true,
    running: false,
    defaultZone: "public",
    runtimeRc: undefined,
    runtimeErr: undefined,
    permanentRc: 1,
    permanentErr: "",
    complete: true,
  });
  assert.equal(parseGather("\n@@missing\n\n@@end\n").installed, false);
});

Deno.test("applyScript: firewall-offline-cmd when offline", () => {
  assert.equal(
    applyScript([{ side: "permanent", offline: true, argv: ["--add-port=4317/tcp"] }]),
    "export LC_ALL=C\nset -e\nfirewall-offline-cmd --add-port=4317/tcp\n",
  );
});

Deno.test("args: exactly one item, port syntax, state required", () => {
  assert.equal(
    firewalld.args.safeParse({ port: "4317/tcp", service: "http", state: "enabled" }).success,
    false,
  );
  assert.equal(firewalld.args.safeParse({ port: "4317", state: "enabled" }).success, false);
  assert.equal(firewalld.args.safeParse({ port: "4317/tcp" }).success, false);
  assert.equal(
    firewalld.args.safeParse({ port: "8000-8010/udp", state: "disabled", permanent: "yes" })
      .success,
    true,
  );
});

Deno.test("run --check: firewalld installed by an earlier task is predicted", async () => {
  const model = new HostModel();
  const scripts: string[] = [];
  const ctx = {
    check: true,
    model,
    sh: (s: string): Promise<ShResult> => {
      scripts.push(s);
      return Promise.resolve({ rc: 0, stdout: "\n@@missing\n\n@@end\n", stderr: "" });
    },
  } as unknown as ModuleContext;
  const a = args({ port: "4317/tcp", state: "enabled", permanent: true, immediate: true });
  await assert.rejects(firewalld.run(ctx, a), /firewalld is not installed/);
  model.setFlag("pkg:firewalld", "present");
  const r = await firewalld.run(ctx, a);
  assert.equal(
    r.msg,
    "would enable port 4317/tcp in the default zone (runtime and permanent) (firewalld is installed by an earlier task)",
  );
  assert.equal(scripts.length, 2);
});
