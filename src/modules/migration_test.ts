import assert from "node:assert/strict";
import { type ModuleContext, ModuleFailure, type ModuleResult } from "../core/module.ts";
import {
  apiPsLines,
  droverPorts,
  droverRecord,
  droverRestore,
  type MigrationRecord,
  parseMeasures,
  parseRecordScan,
  planRestore,
  portHolders,
  portsDockerText,
} from "./migration.ts";
import { fakeContext, localContext } from "./_testing.ts";
import { HostModel } from "../core/module.ts";
import { withTempDir } from "../../test/helpers.ts";

const facts = (await localContext()).facts;
const real = (check = false) => localContext({ check, facts });
const NOBODY = 65534;

function record(ctx: ModuleContext, args: Record<string, unknown>): Promise<ModuleResult> {
  return droverRecord.run(ctx, droverRecord.args.parse(args));
}
function restore(ctx: ModuleContext, args: Record<string, unknown>): Promise<ModuleResult> {
  return droverRestore.run(ctx, droverRestore.args.parse(args));
}

/** What a user would compare: type, mode, owner, bytes or link target, per path. */
async function describe(path: string): Promise<string> {
  const s = await Deno.lstat(path).catch(() => null);
  if (!s) return "absent";
  const head = `${(s.mode! & 0o7777).toString(8)} ${s.uid}:${s.gid}`;
  if (s.isSymlink) return `${head} link ${await Deno.readLink(path)}`;
  return `${head} ${[...await Deno.readFile(path)].join(",")}`;
}

async function describeAll(paths: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of paths) out[p] = await describe(p);
  return out;
}

Deno.test("portHolders: a published port range holds every port in it", () => {
  const docker = "collector\t0.0.0.0:4317-4318->4317-4318/tcp, :::4317-4318->4317-4318/tcp\n" +
    "web\t127.0.0.1:8080->80/tcp\n";
  assert.deepEqual(portHolders([4316, 4317, 4318, 4319, 8080], "", docker), [
    { port: 4317, address: "*", container: "collector" },
    { port: 4318, address: "*", container: "collector" },
    { port: 8080, address: "*", container: "web" },
  ]);
});

Deno.test("portHolders: sockets and docker's published ports, each port once", () => {
  const ss = [
    'LISTEN 0 4096 127.0.0.1:12345 0.0.0.0:* users:(("alloy",pid=812,fd=7))',
    'LISTEN 0 4096 0.0.0.0:4317 0.0.0.0:* users:(("docker-proxy",pid=99,fd=4))',
    'LISTEN 0 4096 [::]:4317 [::]:* users:(("docker-proxy",pid=98,fd=4))',
    "LISTEN 0 128 0.0.0.0:22 0.0.0.0:*",
  ].join("\n");
  const docker = "otel-collector\t0.0.0.0:4317->4317/tcp, :::4317->4317/tcp\n" +
    "grafana\t0.0.0.0:3000->3000/tcp\nbare\t\n";
  assert.deepEqual(portHolders([4317, 12345, 3000, 9999], ss, docker), [
    { port: 3000, address: "*", container: "grafana" },
    {
      port: 4317,
      address: "0.0.0.0",
      process: "docker-proxy",
      pid: 99,
      container: "otel-collector",
    },
    { port: 12345, address: "127.0.0.1", process: "alloy", pid: 812, container: undefined },
  ]);
});

Deno.test("parseRecordScan/parseMeasures: the record script's lines", () => {
  const sum = "ab".repeat(32);
  const out = "path\t/etc/a b\tpresent\npath\t/etc/b\tabsent\t\npath\t/etc/c\tpresent\n" +
    `@@sha256\n${sum}  /etc/a b\n@@stat\n640\troot\tadm\t/etc/a b\n777\troot\troot\t/etc/c\n` +
    "@@units\nunit\talloy\tenabled\tactive\nunit\tgone\t\t\nmeasure\tmem_mb\t 512 \nnoise\n";
  const scan = parseRecordScan(out);
  assert.deepEqual(scan.paths, [
    { path: "/etc/a b", present: true, sha256: sum, mode: "640", owner: "root", group: "adm" },
    { path: "/etc/b", present: false },
    // A dangling link: sha256sum has nothing to hash.
    { path: "/etc/c", present: true, sha256: undefined, mode: "777", owner: "root", group: "root" },
  ]);
  assert.deepEqual(scan.units, {
    alloy: { enabled: "enabled", active: "active" },
    gone: { enabled: "not-found", active: "inactive" },
  });
  assert.deepEqual(parseMeasures(out), { mem_mb: "512" });
});

Deno.test("planRestore: content, mode or owner drift is restored; files that were absent are removed", () => {
  const rec: MigrationRecord = {
    version: 1,
    created: "t",
    paths: [
      { path: "/a", present: true, sha256: "1", mode: "0640", owner: "root", group: "adm" },
      { path: "/b", present: false },
      { path: "/c", present: true, sha256: "3" },
    ],
    units: {},
    facts: {},
  };
  const same = { sha256: "1", mode: "0640", owner: "root", group: "adm" };
  assert.deepEqual(planRestore(rec, { "/a": same, "/c": { sha256: "3" } }, () => true), []);
  assert.deepEqual(
    planRestore(rec, { "/a": { ...same, mode: "0644" }, "/b": { sha256: "x" } }, () => true),
    [
      { path: "/a", action: "restore" },
      { path: "/b", action: "remove" },
      { path: "/c", action: "restore" },
    ],
  );
  assert.deepEqual(
    planRestore(
      rec,
      { "/a": { ...same, group: "root" }, "/c": { sha256: "3" } },
      (p) => p !== "/c",
    ),
    [{ path: "/a", action: "restore" }],
  );
});

Deno.test("drover_record → change → drover_restore: byte for byte with mode and owner; absent files removed", async () => {
  await withTempDir(async (dir) => {
    const etc = `${dir}/etc`;
    await Deno.mkdir(`${etc}/app`, { recursive: true });
    await Deno.mkdir(`${etc}/gone`);
    const conf = `${etc}/app/a.conf`;
    const bin = `${etc}/app/b.bin`;
    const link = `${etc}/app/current`;
    const fresh = `${etc}/app/new.conf`;
    const inGone = `${etc}/gone/c.conf`;
    await Deno.writeTextFile(conf, "token=abc\n");
    await Deno.chmod(conf, 0o640);
    await Deno.chown(conf, NOBODY, NOBODY);
    await Deno.writeFile(bin, new Uint8Array([0, 1, 255, 10]));
    await Deno.chmod(bin, 0o600);
    await Deno.symlink("a.conf", link);
    await Deno.writeTextFile(inGone, "c\n");
    const paths = [conf, bin, link, fresh, inGone];
    const original = await describeAll(paths);
    const rec = `${dir}/rec`;
    const args = {
      dir: rec,
      paths,
      units: ["drover-no-such-unit"],
      facts: { stack: "compose" },
      measure: { answer: "echo 42" },
    };

    const check = await record(await real(true), args);
    assert.equal(check.changed, true);
    assert.equal(await Deno.lstat(rec).catch(() => null), null, "--check wrote the record");

    const r = await record(await real(), args);
    assert.equal(r.changed, true);
    assert.equal(r.msg, `recorded 4 files and 1 units in ${rec}`);
    const manifest = JSON.parse(await Deno.readTextFile(`${rec}/manifest.json`));
    assert.equal(((await Deno.stat(`${rec}/manifest.json`)).mode! & 0o777).toString(8), "600");
    assert.deepEqual(
      manifest.paths.map((p: { path: string; present: boolean }) => [p.path, p.present]),
      [[conf, true], [bin, true], [link, true], [fresh, false], [inGone, true]],
    );
    assert.deepEqual(manifest.units, {
      "drover-no-such-unit": { enabled: "not-found", active: "inactive" },
    });
    assert.deepEqual(manifest.facts, { stack: "compose", answer: "42" });
    assert.equal(await describe(`${rec}/files${conf}`), original[conf], "the copy lost attributes");

    const again = await record(await real(), { ...args, paths: [conf] });
    assert.equal(again.changed, false);
    assert.match(again.msg ?? "", /^a record from .* exists; kept$/);
    assert.deepEqual(again.data?.record, manifest);

    // The migration (or a user) changes things.
    await Deno.writeTextFile(conf, "token=NEW\n");
    await Deno.chmod(conf, 0o644);
    await Deno.chown(conf, 0, 0);
    await Deno.chmod(bin, 0o644); // mode only
    await Deno.remove(link);
    await Deno.symlink("b.bin", link);
    await Deno.writeTextFile(fresh, "made by the migration\n");
    await Deno.remove(`${etc}/gone`, { recursive: true });
    const changed = await describeAll(paths);

    const predicted = await restore(await real(true), { dir: rec });
    assert.equal(predicted.changed, true);
    assert.deepEqual(await describeAll(paths), changed, "--check restored something");
    assert.deepEqual(
      (predicted.data?.restored as { path: string; action: string }[]).map((s) =>
        `${s.action} ${s.path}`
      ),
      [
        `restore ${conf}`,
        `restore ${bin}`,
        `restore ${link}`,
        `remove ${fresh}`,
        `restore ${inGone}`,
      ],
    );
    assert.ok(predicted.diff?.some((d) => d.target === fresh && d.after === "absent\n"));
    // A mode-only drift shows in the diff.
    const binDiff = predicted.diff?.find((d) => d.target === bin);
    assert.match(binDiff?.before ?? "", /^sha256 [0-9a-f]{64} mode 644 root:root\n$/);
    assert.match(binDiff?.after ?? "", /^sha256 [0-9a-f]{64} mode 600 root:root\n$/);

    const done = await restore(await real(), { dir: rec });
    assert.equal(done.changed, true);
    assert.deepEqual(await describeAll(paths), original);
    for await (const e of Deno.readDir(`${etc}/app`)) {
      assert.ok(!e.name.startsWith(".drover."), `temp file ${e.name} left`);
    }
    const converged = await restore(await real(), { dir: rec });
    assert.equal(converged.changed, false);
    assert.equal(converged.msg, "every recorded file is as it was");
  });
});

Deno.test("drover_restore: exclude keeps paths as they are; no record is a clear failure", async () => {
  await withTempDir(async (dir) => {
    const a = `${dir}/keep/a`;
    const b = `${dir}/b`;
    await Deno.mkdir(`${dir}/keep`);
    await Deno.writeTextFile(a, "1");
    await Deno.writeTextFile(b, "1");
    await record(await real(), { dir: `${dir}/rec`, paths: [a, b] });
    await Deno.writeTextFile(a, "2");
    await Deno.writeTextFile(b, "2");
    const r = await restore(await real(), { dir: `${dir}/rec`, exclude: [`${dir}/keep`] });
    assert.equal(r.changed, true);
    assert.equal(await Deno.readTextFile(a), "2");
    assert.equal(await Deno.readTextFile(b), "1");
    await assert.rejects(
      restore(await real(), { dir: `${dir}/none` }),
      (e: Error) =>
        e instanceof ModuleFailure &&
        /no migration record at .*nothing to roll back/.test(e.message),
    );
  });
});

Deno.test("drover_ports: names the process holding a port on 127.0.0.1; free ports are listed", async () => {
  using held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = held.addr.port;
  const spare = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const free = spare.addr.port;
  spare.close();
  const ctx = await real();
  await assert.rejects(
    droverPorts.run(ctx, droverPorts.args.parse({ ports: [port, free] })),
    (e: Error) =>
      e instanceof ModuleFailure &&
      e.message === `port ${port} held by deno (pid ${Deno.pid}): stop it or choose other ports`,
  );
  const ok = await droverPorts.run(
    ctx,
    droverPorts.args.parse({ ports: [free, port], allow_processes: ["deno"] }),
  );
  assert.equal(ok.changed, false);
  assert.equal(ok.msg, `free: ${free}; ${port} held by deno (pid ${Deno.pid})`);
  assert.deepEqual(ok.data?.free, [free]);
  assert.deepEqual(ok.data?.holders, [
    { port, address: "127.0.0.1", process: "deno", pid: Deno.pid, container: undefined },
  ]);
});

const API_FIXTURES = new URL("../../test/fixtures/docker_api/", import.meta.url);
const fixture = (name: string) => Deno.readTextFileSync(new URL(name, API_FIXTURES));

Deno.test("apiPsLines: the Engine API's running containers give docker ps's name/ports lines", () => {
  const api = apiPsLines(fixture("running_api.json"));
  const cli = fixture("running_cli.txt");
  // docker 20.10 prints IPv6 as ':::9091', current CLIs (and apiPsLines) as '[::]:9091'
  assert.equal(api.replace(/\[([0-9a-f:]+)\]:/g, "$1:"), cli);
  const ports = [
    3000,
    4317,
    4318,
    8889,
    9090,
    9091,
    14268,
    16686,
    18080,
    18083,
    18084,
    18086,
    18091,
  ];
  assert.deepEqual(portHolders(ports, "", api), portHolders(ports, "", cli));
  assert.equal(portsDockerText("@@api\n" + fixture("running_api.json")), api);
  assert.equal(portsDockerText(cli), cli);
  assert.equal(apiPsLines("[]"), "");
});

Deno.test("drover_ports: the same result whether docker's containers came from the Engine API or the CLI", async () => {
  const ss = 'LISTEN 0 4096 0.0.0.0:4317 0.0.0.0:* users:(("docker-proxy",pid=812,fd=4))\n' +
    'LISTEN 0 4096 127.0.0.1:12345 0.0.0.0:* users:(("alloy",pid=900,fd=3))\n';
  const results = [];
  for (const docker of ["@@api\n" + fixture("running_api.json"), fixture("running_cli.txt")]) {
    const { ctx, scripts } = fakeContext(
      false,
      new HostModel(),
      () => ({ rc: 0, stdout: `${ss}@@docker\n${docker}`, stderr: "" }),
    );
    results.push(
      await droverPorts.run(
        ctx,
        droverPorts.args.parse({
          ports: [4317, 9090, 12345, 16686, 18080, 4444],
          allow_containers: ["ttadev", "dapi"],
          allow_processes: ["docker-proxy", "alloy"],
        }),
      ),
    );
    assert.match(scripts[0], /drover_dapi \/containers\/json 10/);
    assert.match(scripts[0], /timeout 10 docker ps --format/);
  }
  assert.deepEqual(results[0], results[1]);
  assert.match(results[0].msg ?? "", /9090 held by container ttadev_prometheus_1/);
});
