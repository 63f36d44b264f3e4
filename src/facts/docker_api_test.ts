import assert from "node:assert/strict";
import {
  apiPath,
  cliImage,
  cliNames,
  displayablePorts,
  DOCKER_API_FN,
  naturalCompare,
  truncateId,
} from "./docker_api.ts";

Deno.test("apiPath: filters as URL-encoded JSON", () => {
  assert.equal(
    apiPath("/containers/json?all=1", { label: ["com.docker.compose.project"] }),
    "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22com.docker.compose.project%22%5D%7D",
  );
  assert.equal(
    apiPath("/volumes", { label: ["a"] }),
    "/volumes?filters=%7B%22label%22%3A%5B%22a%22%5D%7D",
  );
  assert.equal(apiPath("/version"), "/version");
});

Deno.test("truncateId and cliNames as docker ps shows them", () => {
  assert.equal(
    truncateId("6afb86cd2a1b6a2b0c4f6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a"),
    "6afb86cd2a1b",
  );
  assert.equal(truncateId("sha256:f5c2fb97c4a90123"), "f5c2fb97c4a9");
  assert.equal(cliNames(["/dapi_link/alias", "/dapi_run"]), "dapi_run");
  assert.equal(cliNames(["/web"]), "web");
  assert.equal(cliNames([]), "");
});

Deno.test("cliImage: docker ps's familiar image names (digest dropped, docker.io trimmed)", () => {
  const id = "sha256:f5c2fb97c4a90aa8d6cd3f7ac5c8d0e5b8b2f6ff3c1d4a1e4c38e4c7e0f6b2a1";
  const digest = "sha256:" + "ab".repeat(32);
  const cases: [string, string][] = [
    ["prom/pushgateway:v1.6.2", "prom/pushgateway:v1.6.2"],
    ["docker.io/library/nginx:1.25", "nginx:1.25"],
    ["index.docker.io/library/nginx", "nginx"],
    ["docker.io/grafana/grafana:10.2.3", "grafana/grafana:10.2.3"],
    [`grafana/grafana:10.2.3@${digest}`, "grafana/grafana:10.2.3"],
    [`grafana/grafana@${digest}`, "grafana/grafana"],
    ["localhost:5000/app:1", "localhost:5000/app:1"],
    ["ghcr.io/org/app:latest", "ghcr.io/org/app:latest"],
    ["Upper/Case:1", "Upper/Case:1"], // does not parse as docker.io/…: printed as it is
    [`app@sha256:${"ab".repeat(10)}`, `app@sha256:${"ab".repeat(10)}`], // bad digest: as it is
    ["f5c2fb97c4a9", "f5c2fb97c4a9"], // run by (short) id
    [id, "f5c2fb97c4a9"],
  ];
  for (const [image, shown] of cases) assert.equal(cliImage(image, id), shown, image);
  assert.equal(cliImage("", id), "<no image>");
});

Deno.test("displayablePorts: docker ps's PORTS text (sorted, ranges grouped, remaps last)", () => {
  assert.equal(
    displayablePorts([
      { IP: "::", PrivatePort: 4318, PublicPort: 4318, Type: "tcp" },
      { IP: "0.0.0.0", PrivatePort: 8889, PublicPort: 8889, Type: "tcp" },
      { IP: "0.0.0.0", PrivatePort: 4318, PublicPort: 4318, Type: "tcp" },
      { IP: "127.0.0.1", PrivatePort: 80, PublicPort: 8080, Type: "tcp" },
      { PrivatePort: 9090, Type: "tcp" },
      { IP: "0.0.0.0", PrivatePort: 4317, PublicPort: 4317, Type: "tcp" },
      { IP: "::", PrivatePort: 4317, PublicPort: 4317, Type: "tcp" },
    ]),
    // the [::] group is flushed only at the end: no [::]:8889 followed it (docker/cli's own order)
    "0.0.0.0:4317-4318->4317-4318/tcp, 0.0.0.0:8889->8889/tcp, [::]:4317-4318->4317-4318/tcp, " +
      "9090/tcp, 127.0.0.1:8080->80/tcp",
  );
  assert.equal(displayablePorts(null), "");
});

Deno.test("naturalCompare: docker volume ls's order", () => {
  const names = ["v10", "v010", "a", "v9", "v1", "v01", "b_2", "b_10"];
  assert.deepEqual([...names].sort(naturalCompare), [
    "a",
    "b_2",
    "b_10",
    "v1",
    "v01",
    "v9",
    "v10",
    "v010",
  ]);
});

Deno.test("drover_dapi: no curl call (and a failure) when the CLI would not use the default socket", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/curl`, `#!/bin/sh\necho called >> ${dir}/log\necho '[]'\n`);
    await Deno.chmod(`${dir}/curl`, 0o755);
    const run = async (pre: string) => {
      const r = await new Deno.Command("sh", {
        args: ["-c", `${DOCKER_API_FN}${pre} drover_dapi /version; echo "rc=$?"`],
        env: { PATH: `${dir}:/usr/bin:/bin`, HOME: dir },
        stdout: "piped",
      }).output();
      return new TextDecoder().decode(r.stdout).trim();
    };
    for (
      const pre of [
        "DOCKER_HOST=tcp://10.0.0.1:2375",
        "DOCKER_CONTEXT=remote",
        "DROVER_DOCKER_API=0",
      ]
    ) {
      assert.equal(await run(`${pre};`), "rc=1", pre);
    }
    await Deno.mkdir(`${dir}/.docker`);
    await Deno.writeTextFile(`${dir}/.docker/config.json`, '{"currentContext": "remote"}');
    assert.equal(await run(""), "rc=1", "a docker context in the CLI's config");
    await assert.rejects(Deno.stat(`${dir}/log`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
