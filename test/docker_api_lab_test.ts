/**
 * drover's read-only Docker reads answered by dockerd's Engine API (curl on
 * the unix socket) give exactly what the docker CLI gives, on a lab host:
 * the docker_compose gather, drover_ports' `docker ps` and the docker fact,
 * with the seed's stack running (plus containers and volumes that exercise
 * the CLI's formatting: a legacy link, an image run by id and as
 * docker.io/library/…, remapped, ranged, UDP and IPv6-loopback ports,
 * created and exited containers, volume names in natural order), for a user
 * not allowed on the socket, and after the migration; then whole
 * `migrate.yml` runs with the API and with the CLI (`DROVER_DOCKER_API=0` on
 * the controller) report the same task results.
 *
 * Run: `DROVER_TEST_HOSTS=lab3 deno test -A --quiet test/docker_api_lab_test.ts`
 * (uses the first of DROVER_TEST_HOSTS only; resets it when the stack is not
 * complete or alloy is already there).
 */
import assert from "node:assert/strict";
import { drover, withTempDir } from "./helpers.ts";
import { labInventory, labReset, labUp, onHost, TEST_HOSTS } from "./lab_helpers.ts";
import {
  captured,
  composeArgs,
  composeGatherScript,
  parseApiPs,
  parseApiVolumes,
  parsePs,
  parseVolumes,
  sections,
} from "../src/modules/docker_compose.ts";
import { droverPorts, portHolders, portsDockerText } from "../src/modules/migration.ts";
import { FACTS_SCRIPT, parseFacts } from "../src/facts/mod.ts";

const H = TEST_HOSTS[0];
const sanitize = { sanitizeOps: false, sanitizeResources: false };
const VARS = ["-e", "@test/lab/migrate-vars.yml"];
const CLI = "DROVER_DOCKER_API=0; export DROVER_DOCKER_API\n";

const STACK_FRESH =
  `test "$(docker ps -q --filter label=com.docker.compose.project=ttadev --filter status=running | wc -l)" = 5 ` +
  `&& ! dpkg -s alloy >/dev/null 2>&1 && [ ! -e /var/lib/drover ]`;

const L = "--label com.docker.compose.project=dapitest";
const EXTRAS = `set -e
docker tag prom/prometheus:v2.48.1 docker.io/library/dapitest:1
docker run -d --name dapi_run ${L} --label com.docker.compose.service=web -p 127.0.0.1:18080:80 \
  -p 18090-18092:18090-18092 -p 18083:83/udp -p '[::1]:18084:84' --expose 7000 grafana/grafana:10.2.3
docker run -d --name dapi_link ${L} --label com.docker.compose.service=linker --link dapi_run:alias docker.io/library/dapitest:1
docker run -d --name dapi_byid ${L} --label com.docker.compose.service=byid "$(docker images -q prom/pushgateway:v1.6.2)"
docker create --name dapi_created ${L} --label com.docker.compose.service=created -p 18085:85 jaegertracing/all-in-one:1.52
docker run -d --name dapi_exited ${L} --entrypoint /bin/true prom/prometheus:v2.48.1
docker run -d --name dapi_nolabel -p 18086:86 prom/prometheus:v2.48.1
for v in dapitest_v10 dapitest_v9 dapitest_v010 dapitest_v1 dapitest_a; do docker volume create ${L} "$v"; done
`;
const REMOVE_EXTRAS =
  `docker rm -f dapi_run dapi_link dapi_byid dapi_created dapi_exited dapi_nolabel
docker volume rm dapitest_v10 dapitest_v9 dapitest_v010 dapitest_v1 dapitest_a
docker rmi dapitest:1
true
`;

async function sh(script: string): Promise<string> {
  const r = await onHost(H, script);
  assert.equal(r.code, 0, `on ${H}: ${script}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Run `script` as `user` (root: directly), from a file so that its stdin is free. */
async function asUser(user: string, script: string): Promise<{ code: number; stdout: string }> {
  if (user === "root") return await onHost(H, script);
  const f = `/tmp/drover-dapi-${crypto.randomUUID()}.sh`;
  await sh(`cat > ${f} <<'DROVER_EOF'\n${script}\nDROVER_EOF\nchmod 644 ${f}`);
  try {
    return await onHost(H, `su -s /bin/sh ${user} -c 'cd /tmp && sh ${f}'`);
  } finally {
    await sh(`rm -f ${f}`);
  }
}

const GATHER = composeGatherScript(
  composeArgs.parse({
    project_src: "/home/dev/TTA.dev",
    files: ["docker-compose.integration.yml"],
    state: "absent",
  }),
  "docker-compose",
  "docker",
);
const PORTS = droverPorts.reads!({} as never, {} as never)[0].script;

/** What each read yields, and which path answered. */
async function reads(user: string, cli: boolean) {
  const pre = cli ? CLI : "";
  const gr = await asUser(user, pre + GATHER);
  const g = sections(gr.stdout);
  const ps = captured(g, "ps");
  const vols = captured(g, "vols");
  const pr = await asUser(user, pre + PORTS);
  const [ss, docker] = pr.stdout.split("@@docker\n");
  const fr = await asUser(user, pre + FACTS_SCRIPT);
  const f = parseFacts(fr.stdout);
  const allPorts = Array.from({ length: 20000 }, (_, i) => i + 1);
  return {
    src: [
      g.get("ps_src") ?? "",
      g.get("vols_src") ?? "",
      docker.startsWith("@@api\n") ? "api" : "",
    ],
    result: {
      rc: [gr.code, pr.code, fr.code],
      ps_rc: ps?.rc,
      ps_err: ps?.err,
      containers: ps?.rc === 0 ? (g.get("ps_src") === "api" ? parseApiPs : parsePs)(ps.out) : [],
      vols_rc: vols?.rc,
      vols_err: vols?.err,
      volumes: vols?.rc === 0
        ? (g.get("vols_src") === "api" ? parseApiVolumes : parseVolumes)(vols.out)
        : [],
      config_ran: g.has("config_rc"),
      ports_text: portsDockerText(docker).replace(/\[([0-9a-f:]+)\]:/g, "$1:"),
      holders: portHolders(allPorts, ss, portsDockerText(docker)),
      docker_fact: f.docker,
    },
  };
}

/** Durations in docker's status texts ("Up 3 seconds"): the daemon's clock ticks between two reads. */
function untimed(s: string): string {
  return s.replace(
    /\b(\d+|About an?|Less than a) (second|minute|hour|day|week|month|year)s?\b/g,
    "<t>",
  );
}

/** The reads by both paths agree. Returns the figure for the log. */
async function compareReads(what: string, user: string, wantApi: boolean): Promise<string> {
  const api = await reads(user, false);
  const cli = await reads(user, true);
  assert.deepEqual(cli.src, ["cli", "", ""], `${what}: the forced CLI path`);
  assert.deepEqual(
    api.src,
    wantApi ? ["api", "api", "api"] : ["cli", "", ""],
    `${what}: which path answered as ${user}`,
  );
  const norm = (r: typeof api.result) => ({
    ...r,
    containers: r.containers.map((c) => ({ ...c, status: untimed(c.status) })),
  });
  assert.deepEqual(norm(api.result), norm(cli.result), `${what}: API and CLI disagree as ${user}`);
  return `${what} as ${user}: ${api.result.containers.length} containers, ${api.result.volumes.length} volumes, ` +
    `${api.result.holders.length} published ports, docker ${api.result.docker_fact.version}: identical`;
}

/** The task results of a `--json` run, without what differs from run to run by nature. */
function results(stdout: string): unknown[] {
  // times, and the command module's clock readings
  const drop = new Set([
    "ts",
    "durationMs",
    "memfree_mb",
    "ansible_memfree_mb",
    "created",
    "delta",
    "start",
    "end",
    "elapsed",
  ]);
  return stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .filter((e) => e.type === "host_result")
    .map((e) =>
      JSON.parse(
        JSON.stringify(e, (k, v) =>
          drop.has(k)
            ? undefined
            : typeof v === "string"
            ? untimed(v).replace(/a record from \S+ exists/, "a record from <t> exists")
              .replace(/\bwaited \d+s\b/, "waited <t>").replace(/\b\d+ ms\b/g, "<t> ms")
            : v),
      )
    );
}

async function migrateBothWays(what: string, inv: string, extra: string[]): Promise<number> {
  const args = ["playbooks/migrate.yml", "-i", inv, ...VARS, "--json", ...extra];
  const cli = await drover(args, { env: { DROVER_DOCKER_API: "0" } });
  assert.equal(cli.code, 0, `${what} (CLI): ${cli.stdout.slice(-3000)}\n${cli.stderr}`);
  const api = await drover(args);
  assert.equal(api.code, 0, `${what} (API): ${api.stdout.slice(-3000)}\n${api.stderr}`);
  const [a, c] = [results(api.stdout), results(cli.stdout)];
  assert.ok(a.length > 10, `${what}: ${a.length} task results`);
  const i = a.findIndex((r, k) => JSON.stringify(r) !== JSON.stringify(c[k]));
  assert.deepEqual(
    a,
    c,
    `${what}: the task results differ between the API and the CLI path, first at ${i}:\n` +
      `${JSON.stringify(a[i])}\n${JSON.stringify(c[i])}`,
  );
  return a.length;
}

Deno.test({
  name:
    "docker API reads: compose gather, drover_ports and the docker fact equal the CLI's; migrate reports the same either way",
  ...sanitize,
  fn: async () => {
    await labUp([H]);
    if ((await onHost(H, STACK_FRESH)).code !== 0) await labReset(H);
    const log: string[] = [];
    try {
      await sh(EXTRAS);
      log.push(await compareReads("stack + extras", "root", true));
      log.push(await compareReads("stack + extras", "dev", true)); // in group docker
      log.push(await compareReads("stack + extras", "devpw", false)); // not allowed on the socket
      // DOCKER_HOST set (even to the same socket): the CLI decides, the API is not used
      const g = sections(
        await sh(`DOCKER_HOST=unix:///var/run/docker.sock; export DOCKER_HOST\n${GATHER}`),
      );
      assert.equal(g.get("ps_src"), "cli");
    } finally {
      await onHost(H, REMOVE_EXTRAS);
    }
    await withTempDir(async (dir) => {
      const inv = await labInventory(dir, [H]);
      const n = await migrateBothWays("migrate --check, stack running", inv, ["--check", "--diff"]);
      log.push(`migrate --check (stack running): ${n} task results identical`);
      const real = await drover(["playbooks/migrate.yml", "-i", inv, ...VARS]);
      assert.equal(real.code, 0, `migrate: ${real.stdout.slice(-3000)}\n${real.stderr}`);
      log.push(await compareReads("after migrate", "root", true));
      log.push(await compareReads("after migrate", "dev", true));
      const m = await migrateBothWays("migrate again (converged)", inv, []);
      log.push(`migrate converged: ${m} task results identical`);
    });
    console.log(`docker API lab: ${log.join("; ")}`);
  },
});
