import assert from "node:assert/strict";
import { HostModel } from "../core/module.ts";
import { parseVolumes } from "./docker_compose.ts";
import {
  dockerVolume,
  parseMounts,
  planPrune,
  pruneWouldDelete,
  volumeArgs,
} from "./docker_volume.ts";
import { dockerdUnavailable, localContext, startTestDockerd, testPodman } from "./_testing.ts";

// Captured: `docker volume ls --format '{{json .}}'` (dockerd 20.10) plus one volume labelled
// anonymous as dockerd >= 23 does.
const VOLS = parseVolumes(
  `{"Driver":"local","Labels":"","Name":"keepme"}
{"Driver":"local","Labels":"com.docker.compose.project=myproj1,com.docker.compose.version=1.29.2,com.docker.compose.volume=jaeger-data","Name":"myproj1_jaeger-data"}
{"Driver":"local","Labels":"com.docker.compose.project=myproj1,com.docker.compose.volume=prom-data","Name":"myproj1_prom-data"}
{"Driver":"local","Labels":"","Name":"other-unlabelled"}
{"Driver":"local","Labels":"com.docker.compose.project=otherproj","Name":"otherproj_data"}
{"Driver":"local","Labels":"com.docker.volume.anonymous=","Name":"3f1c0a"}`,
);
// Captured: `docker inspect --format '{{.Name}}|{{index .Config.Labels ...}}|{{range .Mounts}}...'`.
const MOUNTS = parseMounts(`/inuse||keepme,
/myproj1_jaeger_1|myproj1|myproj1_jaeger-data,
`);

Deno.test("parseMounts reads containers, their project and volumes", () => {
  assert.deepEqual(MOUNTS[1], {
    container: "myproj1_jaeger_1",
    project: "myproj1",
    volumes: ["myproj1_jaeger-data"],
  });
  assert.equal(parseMounts("/x|<no value>|\n")[0].project, "");
});

Deno.test("what `docker volume prune -f` deletes depends on the negotiated API version", () => {
  const named = VOLS.find((v) => v.name === "other-unlabelled")!;
  const anon = VOLS.find((v) => v.name === "3f1c0a")!;
  assert.equal(pruneWouldDelete(named, { cli: "docker", api: "1.41" }), true);
  assert.equal(pruneWouldDelete(named, { cli: "docker", api: "1.43" }), false);
  assert.equal(pruneWouldDelete(anon, { cli: "docker", api: "1.43" }), true);
  assert.equal(pruneWouldDelete(named, { cli: "podman", api: "4.3.1" }), true);
});

const dangling = new Set(["other-unlabelled", "otherproj_data", "myproj1_prom-data", "3f1c0a"]);

Deno.test("prune_project removes only the project's unused volumes and lists what prune -f would add", () => {
  const p = planPrune("myproj1", {
    volumes: VOLS,
    dangling,
    mounts: MOUNTS,
    engine: { cli: "docker", api: "1.41" },
    gone: new Set(),
  });
  assert.deepEqual(p.remove, ["myproj1_prom-data"]);
  assert.deepEqual(p.in_use, [{ name: "myproj1_jaeger-data", containers: ["myproj1_jaeger_1"] }]);
  assert.deepEqual(p.others, ["3f1c0a", "other-unlabelled", "otherproj_data"]);
  assert.match(p.prune_scope, /all unused volumes/);
  const modern = planPrune("myproj1", {
    volumes: VOLS,
    dangling,
    mounts: MOUNTS,
    engine: { cli: "docker", api: "1.47" },
    gone: new Set(),
  });
  assert.deepEqual(modern.others, ["3f1c0a"]);
  assert.match(modern.prune_scope, /anonymous volumes only/);
});

Deno.test("in check mode, volumes of a project an earlier task takes down count as unused", () => {
  const p = planPrune("myproj1", {
    volumes: VOLS,
    dangling,
    mounts: MOUNTS,
    engine: { cli: "docker", api: "1.41" },
    gone: new Set(["myproj1"]),
  });
  assert.deepEqual(p.remove, ["myproj1_jaeger-data", "myproj1_prom-data"]);
  assert.deepEqual(p.in_use, []);
  assert.ok(!p.others.includes("keepme"), "a volume used by another container is not 'unused'");
});

Deno.test("arguments: name or prune_project, prune never with state=present", () => {
  assert.ok(!volumeArgs.safeParse({}).success);
  assert.ok(!volumeArgs.safeParse({ name: "a", prune_project: "b" }).success);
  assert.ok(!volumeArgs.safeParse({ prune_project: "b", state: "present" }).success);
  assert.ok(volumeArgs.safeParse({ volume_name: "a", state: "absent" }).success);
});

const why = await dockerdUnavailable();

Deno.test({
  name: "docker_volume against a real daemon: present/absent and prune_project",
  ignore: why !== undefined,
  sanitizeResources: false,
  async fn() {
    const d = await startTestDockerd(["drover/busybox:1"]);
    try {
      const ctx = await localContext({ env: d.env });
      const model = new HostModel();
      const check = await localContext({ env: d.env, check: true, model, facts: ctx.facts });
      const label = (p: string) => ["--label", `com.docker.compose.project=${p}`];
      await d.docker("volume", "create", ...label("tta"), "tta_prometheus-data");
      await d.docker("volume", "create", ...label("tta"), "tta_grafana-data");
      await d.docker("volume", "create", ...label("other"), "other_db");
      await d.docker("volume", "create", "unlabelled");
      await d.docker(
        "create",
        "--name",
        "tta_grafana_1",
        ...label("tta"),
        "-v",
        "tta_grafana-data:/var/lib/grafana",
        "drover/busybox:1",
      );

      const would = await dockerVolume.run(check, volumeArgs.parse({ prune_project: "tta" }));
      assert.equal(would.changed, true);
      assert.deepEqual(would.data?.removed, ["tta_prometheus-data"]);
      assert.deepEqual(would.data?.others, ["other_db", "unlabelled"]);
      assert.match(would.msg ?? "", /kept 1 in use \(tta_grafana-data by tta_grafana_1\)/);
      assert.match(
        would.msg ?? "",
        /`docker volume prune -f` would also have deleted 2 other volume\(s\): other_db, unlabelled/,
      );
      model.setFlag("compose:tta", "absent");
      const predicted = await dockerVolume.run(check, volumeArgs.parse({ prune_project: "tta" }));
      assert.deepEqual(predicted.data?.removed, ["tta_grafana-data", "tta_prometheus-data"]);
      assert.equal((await d.docker("volume", "ls", "-q")).stdout.trim().split("\n").length, 4);

      const pruned = await dockerVolume.run(ctx, volumeArgs.parse({ prune_project: "tta" }));
      assert.equal(pruned.changed, true);
      assert.deepEqual(
        (await d.docker("volume", "ls", "-q")).stdout.trim().split("\n").sort(),
        ["other_db", "tta_grafana-data", "unlabelled"],
      );
      const again = await dockerVolume.run(ctx, volumeArgs.parse({ prune_project: "tta" }));
      assert.equal(again.changed, false);
      // `others` is exactly what the blanket prune deletes on top.
      const blanket = await d.docker("volume", "prune", "-f");
      assert.equal(blanket.code, 0);
      assert.deepEqual(
        (await d.docker("volume", "ls", "-q")).stdout.trim().split("\n"),
        ["tta_grafana-data"],
      );
      assert.deepEqual(again.data?.others, ["other_db", "unlabelled"]);

      await assert.rejects(
        () =>
          dockerVolume.run(ctx, volumeArgs.parse({ name: "tta_grafana-data", state: "absent" })),
        /used by container\(s\) tta_grafana_1/,
      );
      const made = await dockerVolume.run(ctx, volumeArgs.parse({ name: "scratch" }));
      assert.equal(made.changed, true);
      assert.equal(
        (await dockerVolume.run(ctx, volumeArgs.parse({ name: "scratch" }))).changed,
        false,
      );
      const rm = await dockerVolume.run(
        ctx,
        volumeArgs.parse({ name: "scratch", state: "absent" }),
      );
      assert.equal(rm.changed, true);
      assert.notEqual((await d.docker("volume", "inspect", "scratch")).code, 0);
    } finally {
      await d.stop();
    }
  },
});

const pod = await testPodman();

Deno.test({
  name: "docker_volume prune_project with podman: podman's prune takes every unused volume",
  ignore: pod === undefined,
  sanitizeResources: false,
  async fn() {
    const p = pod!;
    try {
      await p.importImage("docker.io/drover/busybox:1");
      const label = (x: string) => ["--label", `com.docker.compose.project=${x}`];
      await p.podman("volume", "create", ...label("tta"), "tta_prometheus-data");
      await p.podman("volume", "create", ...label("tta"), "tta_grafana-data");
      await p.podman("volume", "create", "unlabelled");
      await p.podman(
        "create",
        "--name",
        "tta_grafana_1",
        ...label("tta"),
        "-v",
        "tta_grafana-data:/data",
        "docker.io/drover/busybox:1",
        "sh",
      );
      const ctx = await localContext({ env: p.env });
      const r = await dockerVolume.run(
        ctx,
        volumeArgs.parse({ prune_project: "tta", cli: "podman" }),
      );
      assert.equal(r.changed, true);
      assert.deepEqual(r.data?.removed, ["tta_prometheus-data"]);
      assert.deepEqual(r.data?.others, ["unlabelled"]);
      assert.match(r.data?.prune_scope as string, /podman/);
      assert.deepEqual(
        (await p.podman("volume", "ls", "-q")).stdout.trim().split("\n").sort(),
        ["tta_grafana-data", "unlabelled"],
      );
    } finally {
      await p.stop();
    }
  },
});
