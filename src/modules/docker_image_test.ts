import assert from "node:assert/strict";
import { HostModel, ModuleFailure } from "../core/module.ts";
import { parsePs } from "./docker_compose.ts";
import { dockerImage, imageArgs, imageRef, planImage } from "./docker_image.ts";
import { dockerdUnavailable, localContext, startTestDockerd, testPodman } from "./_testing.ts";

Deno.test("imageRef adds :latest only when no tag or digest is given", () => {
  assert.equal(imageRef("grafana/grafana", "10.2.3"), "grafana/grafana:10.2.3");
  assert.equal(imageRef("prom/prometheus:v2.48.1"), "prom/prometheus:v2.48.1");
  assert.equal(imageRef("localhost:5000/foo"), "localhost:5000/foo:latest");
  assert.equal(imageRef("busybox@sha256:abc"), "busybox@sha256:abc");
});

const users = parsePs(
  `{"ID":"1","Image":"prom/prometheus:v2.48.1","Labels":"com.docker.compose.project=tta","Names":"tta_prometheus_1","Ports":"","State":"exited","Status":"Exited (0)"}`,
);

Deno.test("plan absent: missing image is ok, present one removed", () => {
  const none = new Set<string>();
  assert.equal(
    planImage({ state: "absent", force: false }, { ref: "a:1", users: [], gone: none }).action,
    "none",
  );
  assert.equal(
    planImage({ state: "absent", force: false }, {
      ref: "a:1",
      id: "sha256:1",
      users: [],
      gone: none,
    })
      .action,
    "rmi",
  );
});

Deno.test("plan absent: an image in use fails naming the container, unless forced or its project goes", () => {
  const st = { ref: "prom/prometheus:v2.48.1", id: "sha256:1", users, gone: new Set<string>() };
  assert.throws(
    () => planImage({ state: "absent", force: false }, st),
    (e: unknown) => e instanceof ModuleFailure && /tta_prometheus_1 \(exited\)/.test(e.message),
  );
  assert.equal(planImage({ state: "absent", force: true }, st).action, "rmi");
  assert.equal(
    planImage({ state: "absent", force: false }, { ...st, gone: new Set(["tta"]) }).action,
    "rmi",
  );
});

Deno.test("plan present: never pulls, a missing image fails and says compose up would pull it", () => {
  assert.throws(
    () => planImage({ state: "present", force: false }, { ref: "x:1", users: [], gone: new Set() }),
    /x:1 is not present.*compose up/,
  );
});

const why = await dockerdUnavailable();

Deno.test({
  name: "docker_image against a real daemon: check mode, in-use failure, removal, idempotence",
  ignore: why !== undefined,
  sanitizeResources: false,
  async fn() {
    const d = await startTestDockerd(["prom/prometheus:v2.48.1", "prom/pushgateway:v1.6.2"]);
    try {
      const ctx = await localContext({ env: d.env });
      const model = new HostModel();
      const check = await localContext({ env: d.env, check: true, model, facts: ctx.facts });
      const rm = (name: string) => imageArgs.parse({ name, state: "absent" });

      const present = await dockerImage.run(
        ctx,
        imageArgs.parse({ name: "prom/pushgateway:v1.6.2" }),
      );
      assert.equal(present.changed, false);
      await assert.rejects(
        () => dockerImage.run(ctx, imageArgs.parse({ name: "grafana/grafana", tag: "10.2.3" })),
        /grafana\/grafana:10.2.3 is not present/,
      );

      const would = await dockerImage.run(check, rm("prom/pushgateway:v1.6.2"));
      assert.equal(would.changed, true);
      assert.equal((await d.docker("image", "inspect", "prom/pushgateway:v1.6.2")).code, 0);

      const gone = await dockerImage.run(ctx, rm("prom/pushgateway:v1.6.2"));
      assert.equal(gone.changed, true);
      assert.notEqual((await d.docker("image", "inspect", "prom/pushgateway:v1.6.2")).code, 0);
      assert.equal((await dockerImage.run(ctx, rm("prom/pushgateway:v1.6.2"))).changed, false);

      await d.docker(
        "create",
        "--name",
        "tta_prometheus_1",
        "--label",
        "com.docker.compose.project=tta",
        "prom/prometheus:v2.48.1",
      );
      await assert.rejects(
        () => dockerImage.run(ctx, rm("prom/prometheus:v2.48.1")),
        /used by container\(s\) tta_prometheus_1 \(created\)/,
      );
      // An earlier task of this check run takes the project down: the removal is predicted.
      model.setFlag("compose:tta", "absent");
      assert.equal((await dockerImage.run(check, rm("prom/prometheus:v2.48.1"))).changed, true);
      const forced = await dockerImage.run(
        ctx,
        imageArgs.parse({ name: "prom/prometheus:v2.48.1", state: "absent", force_absent: true }),
      );
      assert.equal(forced.changed, true);
    } finally {
      await d.stop();
    }
  },
});

const pod = await testPodman();

Deno.test({
  name: "docker_image with podman (cli: podman): in-use failure, removal",
  ignore: pod === undefined,
  sanitizeResources: false,
  async fn() {
    const p = pod!;
    try {
      await p.importImage("docker.io/grafana/grafana:10.2.3");
      await p.podman(
        "create",
        "--name",
        "tta_grafana_1",
        "--label",
        "com.docker.compose.project=tta",
        "docker.io/grafana/grafana:10.2.3",
        "sh",
      );
      const ctx = await localContext({ env: p.env });
      const args = (o: Record<string, unknown>) =>
        imageArgs.parse({ name: "grafana/grafana:10.2.3", cli: "podman", ...o });
      assert.equal((await dockerImage.run(ctx, args({}))).data?.engine, "podman");
      await assert.rejects(
        () => dockerImage.run(ctx, args({ state: "absent" })),
        /used by container\(s\) tta_grafana_1 \(created\)/,
      );
      await p.podman("rm", "tta_grafana_1");
      assert.equal((await dockerImage.run(ctx, args({ state: "absent" }))).changed, true);
      assert.equal((await dockerImage.run(ctx, args({ state: "absent" }))).changed, false);
    } finally {
      await p.stop();
    }
  },
});
