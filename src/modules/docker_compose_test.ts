import assert from "node:assert/strict";
import { HostModel, ModuleFailure } from "../core/module.ts";
import {
  captured,
  composeArgs,
  composeCommandArgs,
  type ContainerInfo,
  dockerCompose,
  normalizeProjectName,
  parseApiPs,
  parseApiVolumes,
  parseComposeConfig,
  parseDockerPorts,
  parseLabels,
  parsePs,
  parseVolumes,
  pickComposeCommand,
  planCompose,
  projectFromLabels,
  psLabels,
  publishedPorts,
  sections,
} from "./docker_compose.ts";
import { dockerdUnavailable, fakeContext, localContext, startTestDockerd } from "./_testing.ts";
import type { Facts } from "../facts/mod.ts";

// Captured: docker CLI 28.2 against dockerd 20.10 (Debian 12), project made by docker-compose 1.29.
const PS = String
  .raw`{"Command":"\"httpd -f -p 16686 -…\"","CreatedAt":"2026-11-27 12:34:18 +0000 UTC","ID":"452bf5edf3c5","Image":"jaegertracing/all-in-one:1.52","Labels":"com.docker.compose.config-hash=755386ea,com.docker.compose.container-number=1,com.docker.compose.oneoff=False,com.docker.compose.project.config_files=docker-compose.integration.yml,com.docker.compose.project.working_dir=/tmp/drmod/My Proj.1,com.docker.compose.project=myproj1,com.docker.compose.service=jaeger,com.docker.compose.version=1.29.2","LocalVolumes":"1","Mounts":"myproj1_jaeger…","Names":"myproj1_jaeger_1","Networks":"myproj1_default","Platform":null,"Ports":"0.0.0.0:16686-\u003e16686/tcp, [::]:16686-\u003e16686/tcp","RunningFor":"3 minutes ago","Size":"0B (virtual 1.98MB)","State":"running","Status":"Up 3 minutes"}
{"Command":"\"sleep 100000\"","CreatedAt":"2026-11-27 12:34:18 +0000 UTC","ID":"8a9e3eba06bd","Image":"prom/prometheus:v2.48.1","Labels":"com.docker.compose.config-hash=d095f35b,com.docker.compose.container-number=1,com.docker.compose.oneoff=False,com.docker.compose.project.config_files=docker-compose.integration.yml,com.docker.compose.project.working_dir=/tmp/drmod/My Proj.1,com.docker.compose.project=myproj1,com.docker.compose.service=prometheus,com.docker.compose.version=1.29.2","LocalVolumes":"1","Mounts":"myproj1_prom-d…","Names":"myproj1_prometheus_1","Networks":"myproj1_default","Platform":null,"Ports":"","RunningFor":"3 minutes ago","Size":"0B (virtual 1.98MB)","State":"exited","Status":"Exited (137) Less than a second ago"}
`;

// Shape of `podman ps --format json` (podman 4): an array, Names a list, Labels an object.
const PODMAN_PS =
  `[{"Id":"9f2c","Image":"docker.io/grafana/grafana:10.2.3","Names":["tta_grafana_1"],
"State":"running","Status":"Up 2 minutes","Labels":{"com.docker.compose.project":"tta","com.docker.compose.service":"grafana","io.podman.compose.project":"tta"},
"Ports":[{"host_ip":"","container_port":3000,"host_port":3000,"range":1,"protocol":"tcp"}]}]`;

// Captured: `docker-compose -f docker-compose.integration.yml config` (1.29.2).
const V1_CONFIG = `services:
  jaeger:
    command:
    - httpd
    image: jaegertracing/all-in-one:1.52
    ports:
    - published: 16686
      target: 16686
    volumes:
    - jaeger-data:/data:rw
  prometheus:
    image: prom/prometheus:v2.48.1
    volumes:
    - prom-data:/prometheus:rw
version: '3.8'
volumes:
  jaeger-data: {}
  prom-data: {}
`;

// Shape of \`docker compose config\` (v2): name first, long port syntax with string ports.
const V2_CONFIG = `name: tta-dev
services:
  otel-collector:
    image: otel/opentelemetry-collector-contrib:0.91.0
    ports:
      - mode: ingress
        target: 4317
        published: "4317"
        protocol: tcp
      - mode: ingress
        host_ip: 127.0.0.1
        target: 8888
        published: "8888-8889"
        protocol: tcp
`;

Deno.test("parsePs reads docker's JSON lines: names, state, compose labels, published ports", () => {
  const cs = parsePs(PS);
  assert.equal(cs.length, 2);
  assert.deepEqual(
    cs.map((c) => [c.name, c.project, c.service, c.state]),
    [
      ["myproj1_jaeger_1", "myproj1", "jaeger", "running"],
      ["myproj1_prometheus_1", "myproj1", "prometheus", "exited"],
    ],
  );
  assert.deepEqual(cs[0].ports, [
    { host_ip: "0.0.0.0", host_port: 16686, container_port: 16686, protocol: "tcp" },
    { host_ip: "::", host_port: 16686, container_port: 16686, protocol: "tcp" },
  ]);
  assert.deepEqual(publishedPorts(cs), [16686]);
});

Deno.test("projectFromLabels: the project Compose made from this directory and file", () => {
  const c = (project: string, dir: string, files: string) => ({
    "com.docker.compose.project": project,
    "com.docker.compose.project.working_dir": dir,
    "com.docker.compose.project.config_files": files,
  });
  const dirs = ["/home/dev/TTA.dev", "/srv/tta"]; // as given, physical
  const file = ["docker-compose.integration.yml"];
  // Compose v1 writes the file as given, v2 as an absolute path; either directory.
  assert.equal(
    projectFromLabels([c("ttadev", "/home/dev/TTA.dev", file[0])], dirs, file),
    "ttadev",
  );
  assert.equal(
    projectFromLabels(
      [c("named", "/srv/tta", "/srv/tta/docker-compose.integration.yml")],
      dirs,
      file,
    ),
    "named",
  );
  // Several files: each of ours must be among them.
  assert.equal(
    projectFromLabels([c("p", "/srv/tta", "/srv/tta/a.yml,/srv/tta/b.yml")], dirs, ["b.yml"]),
    "p",
  );
  // Another file in the same directory, the same file elsewhere, no labels: no name.
  assert.equal(projectFromLabels([c("other", "/srv/tta", "other.yml")], dirs, file), undefined);
  assert.equal(projectFromLabels([c("x", "/elsewhere", file[0])], dirs, file), undefined);
  assert.equal(projectFromLabels([{}], dirs, file), undefined);
  assert.equal(projectFromLabels([c("p", "/srv/tta", file[0])], dirs, []), undefined);
  // Containers that disagree name nothing; those that agree name their project.
  assert.equal(
    projectFromLabels([c("a", "/srv/tta", file[0]), c("b", "/srv/tta", file[0])], dirs, file),
    undefined,
  );
  assert.equal(
    projectFromLabels(
      [c("a", "/srv/tta", file[0]), c("a", "/home/dev/TTA.dev", file[0])],
      dirs,
      file,
    ),
    "a",
  );
});

Deno.test("psLabels reads the labels of the API's list and of docker ps's JSON lines", () => {
  const api = JSON.stringify([{ Id: "1", Labels: { a: "1", "b.c": "x,y" } }, { Id: "2" }]);
  assert.deepEqual(psLabels(api, true), [{ a: "1", "b.c": "x,y" }, {}]);
  assert.deepEqual(psLabels(PS, false).map((l) => l["com.docker.compose.project"]), [
    "myproj1",
    "myproj1",
  ]);
  assert.deepEqual(psLabels("", false), []);
});

Deno.test("parsePs reads podman's JSON array", () => {
  const [c] = parsePs(PODMAN_PS);
  assert.equal(c.name, "tta_grafana_1");
  assert.equal(c.project, "tta");
  assert.equal(c.service, "grafana");
  assert.deepEqual(c.ports.map((p) => p.host_port), [3000]);
});

Deno.test("parseLabels keeps commas inside values (config_files=a.yml,b.yml)", () => {
  assert.deepEqual(
    parseLabels("com.docker.compose.project.config_files=a.yml,b.yml,com.docker.compose.project=x"),
    { "com.docker.compose.project.config_files": "a.yml,b.yml", "com.docker.compose.project": "x" },
  );
  assert.deepEqual(parseLabels(""), {});
});

Deno.test("parseDockerPorts: v4/v6, old ':::' form, ranges, unpublished ports left out", () => {
  assert.deepEqual(
    parseDockerPorts(":::9090->9090/tcp, 127.0.0.1:8000-8001->80-81/tcp, 9464/tcp").map((p) =>
      `${p.host_ip}|${p.host_port}|${p.container_port}`
    ),
    ["::|9090|9090", "127.0.0.1|8000|80", "127.0.0.1|8001|81"],
  );
});

Deno.test("parseVolumes reads labels of docker volume ls", () => {
  const [v] = parseVolumes(
    `{"Availability":"N/A","Driver":"local","Labels":"com.docker.compose.project=myproj1,com.docker.compose.volume=jaeger-data","Name":"myproj1_jaeger-data"}`,
  );
  assert.equal(v.labels["com.docker.compose.project"], "myproj1");
});

Deno.test("project name follows Compose's rule", () => {
  assert.equal(normalizeProjectName("My Proj.1"), "myproj1");
  assert.equal(normalizeProjectName("TTA.dev"), "ttadev");
  assert.equal(normalizeProjectName("_x-Y_z"), "x-y_z");
});

Deno.test("Compose CLI: argument wins, else docker compose > docker-compose > podman-compose", () => {
  assert.equal(
    pickComposeCommand(undefined, ["podman-compose", "docker-compose"]),
    "docker-compose",
  );
  assert.equal(
    pickComposeCommand(undefined, ["docker-compose", "docker compose"]),
    "docker compose",
  );
  assert.equal(pickComposeCommand("podman-compose", ["docker compose"]), "podman-compose");
  assert.equal(pickComposeCommand(undefined, []), undefined);
});

Deno.test("parseComposeConfig: services and ports from v1 and v2 output, v2's project name", () => {
  const v1 = parseComposeConfig(V1_CONFIG);
  assert.equal(v1.name, undefined);
  assert.deepEqual(v1.services.map((s) => [s.name, s.ports]), [["jaeger", [16686]], [
    "prometheus",
    [],
  ]]);
  const v2 = parseComposeConfig(V2_CONFIG);
  assert.equal(v2.name, "tta-dev");
  assert.deepEqual(v2.services[0].ports, [4317, 8888, 8889]);
});

Deno.test("sections/captured split a gather script's output", () => {
  const s = sections("\n@@engine\ndocker\n@@ps\nline\n@@ps_rc\n0\n@@ps_err\n\n");
  assert.deepEqual(captured(s, "ps"), { out: "line", rc: 0, err: "" });
  assert.equal(captured(s, "vols"), undefined);
});

const cs = parsePs(PS);
const services = parseComposeConfig(V1_CONFIG).services;
const base = { remove_orphans: false, remove_volumes: false, recreate: "auto" as const };
const st = (containers: ContainerInfo[], volumes: string[] = []) => ({
  project: "myproj1",
  command: "docker-compose" as const,
  services,
  containers,
  volumes,
});

Deno.test("plan present: a stopped service is started; all running is ok", () => {
  const p = planCompose({ ...base, state: "present" }, st(cs));
  assert.equal(p.action, "up");
  assert.deepEqual(p.reasons, ["start myproj1_prometheus_1 (exited)"]);
  const running = cs.map((c) => ({ ...c, state: "running" }));
  assert.equal(planCompose({ ...base, state: "present" }, st(running)).action, "none");
});

Deno.test("plan present on an empty project predicts the containers and their ports", () => {
  const p = planCompose({ ...base, state: "present" }, { ...st([]), command: "docker compose" });
  assert.equal(p.action, "up");
  assert.deepEqual(p.after.map((c) => c.name), ["myproj1-jaeger-1", "myproj1-prometheus-1"]);
  assert.deepEqual(publishedPorts(p.after), [16686]);
});

Deno.test("plan present rejects a service the file does not declare", () => {
  assert.throws(
    () => planCompose({ ...base, state: "present", services: ["grafana"] }, st(cs)),
    (e: unknown) => e instanceof ModuleFailure && /grafana not in the Compose file/.test(e.message),
  );
});

Deno.test("plan absent: no containers is ok; containers → down; no usable file → remove by label", () => {
  assert.equal(planCompose({ ...base, state: "absent" }, st([])).action, "none");
  assert.equal(planCompose({ ...base, state: "absent" }, st(cs)).action, "down");
  assert.equal(
    planCompose({ ...base, state: "absent" }, { ...st(cs), services: undefined }).action,
    "label-rm",
  );
  const vols = planCompose({ ...base, state: "absent", remove_volumes: true }, st([], ["v1"]));
  assert.equal(vols.action, "down");
  assert.deepEqual(vols.reasons, ["remove volume v1"]);
  assert.equal(planCompose({ ...base, state: "absent" }, st([], ["v1"])).action, "none");
});

Deno.test("plan stopped and restarted", () => {
  const stop = planCompose({ ...base, state: "stopped" }, st(cs));
  assert.equal(stop.action, "stop");
  assert.deepEqual(stop.reasons, ["stop myproj1_jaeger_1"]);
  assert.ok(stop.after.every((c) => c.state === "exited"));
  const stopped = cs.map((c) => ({ ...c, state: "exited" }));
  assert.equal(planCompose({ ...base, state: "stopped" }, st(stopped)).action, "none");
  assert.equal(planCompose({ ...base, state: "restarted" }, st(cs)).action, "restart");
  assert.equal(planCompose({ ...base, state: "restarted" }, st([])).action, "up");
});

Deno.test("compose command lines", () => {
  const a = composeArgs.parse({
    project_src: "/x",
    files: "docker-compose.integration.yml",
    state: "absent",
    remove_volumes: "yes",
    remove_orphans: true,
  });
  assert.deepEqual(composeCommandArgs("down", { ...a, project_name: "x" }), [
    "-f",
    "docker-compose.integration.yml",
    "-p",
    "x",
    "down",
    "-v",
    "--remove-orphans",
  ]);
  assert.deepEqual(
    composeCommandArgs("up", { ...a, project_name: "x", recreate: "always", services: ["a"] }),
    [
      "-f",
      "docker-compose.integration.yml",
      "-p",
      "x",
      "up",
      "-d",
      "--remove-orphans",
      "--force-recreate",
      "a",
    ],
  );
});

Deno.test("arguments: project_src needed to bring a project up", () => {
  assert.ok(!composeArgs.safeParse({ project_name: "x", state: "present" }).success);
  assert.ok(composeArgs.safeParse({ project_name: "x", state: "absent" }).success);
  assert.ok(!composeArgs.safeParse({ project_src: "/x", state: "up" }).success);
});

Deno.test("docker not installed: absent is ok with a warning, present fails", async () => {
  const facts = { ...(await localContext()).facts, compose_commands: [] };
  const ctx = await localContext({ env: { PATH: "/nonexistent" }, facts });
  const noDocker = {
    ...ctx,
    facts: {
      ...facts,
      docker: { ...facts.docker, present: false },
      podman: { ...facts.podman, present: false },
    },
  };
  const gone = await dockerCompose.run(
    noDocker,
    composeArgs.parse({ project_src: "/tmp", state: "absent" }),
  );
  assert.equal(gone.changed, false);
  assert.match(gone.msg ?? "", /neither docker nor podman is installed/);
  assert.equal(gone.warnings?.length, 1);
  await assert.rejects(
    () => dockerCompose.run(noDocker, composeArgs.parse({ project_src: "/tmp" })),
    /no compose file|neither docker nor podman/,
  );
  const asked = await dockerCompose.run(
    { ...ctx, facts: { ...noDocker.facts, docker: { ...facts.docker, present: true } } },
    composeArgs.parse({ project_name: "x", state: "stopped" }),
  );
  assert.match(asked.msg ?? "", /^docker is not installed/);
});

const COMPOSE_FILE = `version: "3.8"
services:
  jaeger:
    image: jaegertracing/all-in-one:1.52
    command: ["httpd", "-f", "-p", "16686", "-h", "/www"]
    ports: ["16686:16686"]
    volumes: ["jaeger-data:/data"]
  prometheus:
    image: prom/prometheus:v2.48.1
    command: ["sleep", "100000"]
volumes:
  jaeger-data:
`;

const why = await dockerdUnavailable();
const composeMissing = (await new Deno.Command("sh", {
  args: ["-c", "command -v docker-compose || docker compose version"],
  stdout: "null",
  stderr: "null",
}).output()).code !== 0;

Deno.test({
  name: "docker_compose against a real daemon: up, idempotent, stop, check mode, down",
  ignore: why !== undefined || composeMissing,
  sanitizeResources: false,
  async fn() {
    const d = await startTestDockerd(["jaegertracing/all-in-one:1.52", "prom/prometheus:v2.48.1"]);
    const dir = await Deno.makeTempDir({ prefix: "TTA.dev " });
    try {
      await Deno.writeTextFile(`${dir}/docker-compose.integration.yml`, COMPOSE_FILE);
      const project = normalizeProjectName(dir.split("/").pop()!);
      const args = (o: Record<string, unknown>) =>
        composeArgs.parse({
          project_src: dir,
          files: ["docker-compose.integration.yml"],
          ...o,
        });
      const ctx = await localContext({ env: d.env });
      const model = new HostModel();
      const check = await localContext({ env: d.env, check: true, model, facts: ctx.facts });

      const predicted = await dockerCompose.run(check, args({ state: "present" }));
      assert.equal(predicted.changed, true);
      assert.equal((await d.docker("ps", "-aq")).stdout.trim(), "", "check mode started something");

      const up = await dockerCompose.run(ctx, args({ state: "present" }));
      assert.equal(up.changed, true);
      assert.equal(up.data?.project_name, project);
      const after = up.data?.containers as ContainerInfo[];
      assert.deepEqual(after.map((c) => c.state), ["running", "running"]);
      assert.deepEqual(publishedPorts(after), [16686]);

      const again = await dockerCompose.run(ctx, args({ state: "present" }));
      assert.equal(again.changed, false, again.msg);

      await d.docker("stop", "-t", "0", `${project}_prometheus_1`);
      const fixed = await dockerCompose.run(ctx, args({ state: "present" }));
      assert.equal(fixed.changed, true);
      assert.match(fixed.msg ?? "", /start .*prometheus.*exited/);

      const stopped = await dockerCompose.run(ctx, args({ state: "stopped", timeout: 0 }));
      assert.equal(stopped.changed, true);
      assert.equal((await d.docker("ps", "-q")).stdout.trim(), "");

      const wouldDown = await dockerCompose.run(check, args({ state: "absent" }));
      assert.equal(wouldDown.changed, true);
      assert.equal(model.flag("compose:" + project), "absent");
      assert.equal((await d.docker("ps", "-aq")).stdout.trim().split("\n").length, 2);

      // Stopped containers publish nothing; bring them back so the down reports the port.
      await dockerCompose.run(ctx, args({ state: "present" }));
      const down = await dockerCompose.run(
        ctx,
        args({ state: "absent", remove_volumes: true, timeout: 0 }),
      );
      assert.equal(down.changed, true);
      assert.deepEqual(
        (down.data?.containers_before as ContainerInfo[]).map((c) => c.name).sort(),
        [`${project}_jaeger_1`, `${project}_prometheus_1`],
      );
      assert.deepEqual(down.data?.published_ports_before, [16686]);
      assert.equal((await d.docker("ps", "-aq")).stdout.trim(), "");
      assert.equal((await d.docker("volume", "ls", "-q")).stdout.trim(), "");

      const noop = await dockerCompose.run(ctx, args({ state: "absent" }));
      assert.equal(noop.changed, false);

      await assert.rejects(
        () => dockerCompose.run(ctx, args({ state: "present", files: ["nope.yml"] })),
        (e: unknown) =>
          e instanceof ModuleFailure && e.message.includes(`${dir}/nope.yml not found`),
      );
      const missingOk = await dockerCompose.run(
        ctx,
        args({ state: "absent", files: ["nope.yml"] }),
      );
      assert.equal(missingOk.changed, false);
      assert.match(missingOk.msg ?? "", /nothing to remove/);

      // The file is gone but the containers are not: removed by their project label.
      await dockerCompose.run(ctx, args({ state: "present" }));
      await Deno.remove(`${dir}/docker-compose.integration.yml`);
      const byLabel = await dockerCompose.run(ctx, args({ state: "absent" }));
      assert.equal(byLabel.changed, true);
      assert.match(byLabel.msg ?? "", /by label/);
      assert.equal((await d.docker("ps", "-aq")).stdout.trim(), "");
    } finally {
      await d.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------- Engine API reads

/** Captured on a lab host (docker 20.10) at one moment: the API's JSON and the CLI's output. */
const API_FIXTURES = new URL("../../test/fixtures/docker_api/", import.meta.url);
const fixture = (name: string) => Deno.readTextFileSync(new URL(name, API_FIXTURES));

Deno.test("parseApiPs: the Engine API's container list gives exactly what docker ps's JSON lines give", () => {
  const api = parseApiPs(fixture("containers_api.json"));
  const cli = parsePs(fixture("containers_cli.jsonl"));
  assert.equal(api.length, 10);
  assert.deepEqual(api, cli);
  const by = new Map(api.map((c) => [c.name, c]));
  // the API lists the legacy link name "/dapi_link/alias" first; the CLI shows the real name
  assert.equal(by.get("dapi_run")?.id, "6afb86cd2a1b");
  assert.deepEqual(
    by.get("dapi_run")?.ports.map((p) =>
      `${p.host_ip}:${p.host_port}->${p.container_port}/${p.protocol}`
    ),
    [
      "0.0.0.0:18090->18090/tcp",
      "0.0.0.0:18091->18091/tcp",
      "0.0.0.0:18092->18092/tcp",
      ":::18090->18090/tcp",
      ":::18091->18091/tcp",
      ":::18092->18092/tcp",
      "127.0.0.1:18080->80/tcp",
      "0.0.0.0:18083->83/udp",
      ":::18083->83/udp",
      "::1:18084->84/tcp",
    ],
  );
  assert.equal(by.get("dapi_link")?.image, "dapitest:1"); // run as docker.io/library/dapitest:1
  assert.equal(by.get("dapi_byid")?.image, "f5c2fb97c4a9"); // run by image id
  assert.equal(by.get("dapi_created")?.state, "created");
  assert.equal(by.get("ttadev_otel-collector_1")?.service, "otel-collector");
  assert.deepEqual(parseApiPs(""), []);
  assert.deepEqual(parseApiPs("[]\n"), []);
});

Deno.test("parseApiVolumes: the API's volumes in docker volume ls's (natural) order", () => {
  const api = parseApiVolumes(fixture("volumes_api.json"));
  assert.deepEqual(api, parseVolumes(fixture("volumes_cli.jsonl")));
  assert.deepEqual(api.map((v) => v.name).slice(0, 5), [
    "dapitest_a",
    "dapitest_v1",
    "dapitest_v9",
    "dapitest_v10",
    "dapitest_v010",
  ]);
  assert.deepEqual(parseApiVolumes('{"Volumes":null,"Warnings":null}'), []);
  assert.deepEqual(parseApiVolumes(""), []);
});

/** A docker_compose gather's output as the host prints it, from the API or from the CLI. */
/** Facts of a lab host: dockerd and Python docker-compose. */
const DOCKER_FACTS = {
  docker: { present: true, version: "20.10.24", server: true },
  podman: { present: false, version: null },
  compose_commands: ["docker-compose"],
} as Partial<Facts>;

/** A gather's output for these listings; `pwd` and `config` sections only when given. */
function gatherOutput(
  api: boolean,
  ps: string,
  vols: string,
  o: { pwd?: string; config?: boolean } = { config: true },
): string {
  const src = (n: string) => api ? `@@${n}_src\napi\n` : "";
  return `\n@@engine\ndocker\n@@compose\ndocker-compose\n@@ps\n${ps}\n@@ps_rc\n0\n@@ps_err\n\n${
    src("ps")
  }@@vols\n${vols}\n@@vols_rc\n0\n@@vols_err\n\n${src("vols")}@@dir\nyes\n` +
    (o.pwd === undefined ? "" : `@@pwd\n${o.pwd}\n`) +
    `@@files\nok docker-compose.integration.yml\n` +
    (o.config ? CONFIG_OUTPUT : "");
}

const CONFIG_OUTPUT =
  `@@config\nservices:\n  jaeger:\n    image: x\n@@config_rc\n0\n@@config_err\n\n`;

Deno.test("docker_compose: the same task result whether the gather read the Engine API or the CLI", async () => {
  const facts = DOCKER_FACTS;
  const results = [];
  for (const api of [true, false]) {
    const out = api
      ? gatherOutput(true, fixture("containers_api.json"), fixture("volumes_api.json"))
      : gatherOutput(false, fixture("containers_cli.jsonl"), fixture("volumes_cli.jsonl"));
    const { ctx, scripts } = fakeContext(
      true,
      new HostModel(),
      () => ({ rc: 0, stdout: out, stderr: "" }),
      facts,
    );
    const r = await dockerCompose.run(
      ctx,
      composeArgs.parse({
        project_src: "/home/dev/TTA.dev",
        files: ["docker-compose.integration.yml"],
        state: "absent",
        remove_volumes: true,
      }),
    );
    assert.match(
      scripts[0],
      /drover_dapi '\/containers\/json\?all=1&filters=%7B%22label%22%3A%5B%22com\.docker\.compose\.project%22%5D%7D'/,
    );
    results.push(r);
  }
  assert.deepEqual(results[0], results[1]);
  assert.equal(results[0].changed, true);
  assert.deepEqual((results[0].data as { volumes: string[] }).volumes, [
    "ttadev_grafana-storage",
    "ttadev_prometheus-data",
  ]);
  assert.equal(
    (results[0].data as { containers_before: ContainerInfo[] }).containers_before.length,
    5,
  );
});

Deno.test("docker_compose absent: the containers' labels name the project, compose config runs only when they do not", async () => {
  const gather = (api: boolean, pwd: string) =>
    api
      ? gatherOutput(true, fixture("containers_api.json"), fixture("volumes_api.json"), { pwd })
      : gatherOutput(false, fixture("containers_cli.jsonl"), fixture("volumes_cli.jsonl"), { pwd });
  const run = async (api: boolean, pwd: string, src: string) => {
    const { ctx, scripts } = fakeContext(true, new HostModel(), (s) => ({
      rc: 0,
      stdout: gather(api, pwd) + (/ config; fi/.test(s) ? CONFIG_OUTPUT : ""),
      stderr: "",
    }), DOCKER_FACTS);
    const r = await dockerCompose.run(
      ctx,
      composeArgs.parse({
        project_src: src,
        files: ["docker-compose.integration.yml"],
        state: "absent",
      }),
    );
    return { r, scripts };
  };
  const byLabel = [];
  for (const api of [true, false]) {
    // As given or physical: the directory the containers were made from.
    for (
      const pwd of ["/home/dev/TTA.dev\n/home/dev/TTA.dev", "/home/dev/link\n/home/dev/TTA.dev"]
    ) {
      const { r, scripts } = await run(api, pwd, "/home/dev/TTA.dev");
      assert.equal(scripts.length, 1, "one read");
      assert.doesNotMatch(scripts[0], / config; fi/);
      assert.equal(r.data?.project_name, "ttadev");
      assert.match(r.msg ?? "", /^would have removed project ttadev: /);
      byLabel.push(r);
    }
  }
  assert.deepEqual(byLabel[0], byLabel[2]);
  assert.equal((byLabel[0].data as { containers_before: unknown[] }).containers_before.length, 5);
  // Compose containers, none made from here: `compose config` names the project.
  const { r, scripts } = await run(true, "/srv/copy\n/srv/copy", "/srv/copy");
  assert.equal(scripts.length, 2);
  assert.match(scripts[1], / config; fi/);
  assert.equal(r.data?.project_name, "copy");
  assert.equal(r.changed, false);
  // No Compose file at all (project_name only): removed by label, as before.
  const out = gatherOutput(true, fixture("containers_api.json"), fixture("volumes_api.json"))
    .replace(/@@dir[\s\S]*$/, "");
  const noFile = fakeContext(
    true,
    new HostModel(),
    () => ({ rc: 0, stdout: out, stderr: "" }),
    DOCKER_FACTS,
  );
  const byName = await dockerCompose.run(
    noFile.ctx,
    composeArgs.parse({ project_name: "ttadev", state: "absent" }),
  );
  assert.match(
    byName.msg ?? "",
    /^would have removed \(by label, without a Compose file\) project ttadev/,
  );
});
