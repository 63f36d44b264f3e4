import assert from "node:assert/strict";
import { HostModel, ModuleFailure } from "../core/module.ts";
import { encodeB64 } from "./_files.ts";
import { fakeContext as fakeCtx } from "./_testing.ts";
import {
  aptRepository,
  checkKey,
  defaultFilename,
  fileWithLine,
  gatherScript,
  keyFormat,
  keyringPath,
  parseGather,
  parseSourceLine,
  planSources,
} from "./apt_repository.ts";

const REPO = "deb [signed-by=/etc/apt/keyrings/grafana.asc] https://apt.grafana.com stable main";
const LIST = "/etc/apt/sources.list.d/grafana.list";
const ARMORED =
  "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQGNBGsJdmgB\n=VV12\n-----END PGP PUBLIC KEY BLOCK-----\n";

Deno.test("parseSourceLine: options, components, comments", () => {
  assert.deepEqual(parseSourceLine(REPO), {
    type: "deb",
    options: { "signed-by": "/etc/apt/keyrings/grafana.asc" },
    uri: "https://apt.grafana.com",
    suite: "stable",
    components: ["main"],
  });
  assert.deepEqual(
    parseSourceLine("deb http://deb.debian.org/debian bookworm main contrib # x")?.components,
    ["main", "contrib"],
  );
  assert.equal(parseSourceLine("# deb http://x y z"), undefined);
  assert.equal(parseSourceLine(""), undefined);
});

Deno.test("defaultFilename follows Ansible", () => {
  assert.equal(defaultFilename(REPO), "apt_grafana_com");
  assert.equal(
    defaultFilename("deb http://user:pw@ppa.example.org/x/y jammy main"),
    "ppa_example_org_x_y",
  );
});

Deno.test("planSources: present adds once; identical line anywhere is enough", () => {
  const add = planSources([], REPO, LIST, "present");
  assert.deepEqual(add.writes, [{ path: LIST, before: null, after: REPO + "\n" }]);
  const spaced =
    "deb  [ signed-by=/etc/apt/keyrings/grafana.asc ]  https://apt.grafana.com/ stable main\n";
  assert.deepEqual(
    planSources([{ path: "/etc/apt/sources.list", content: spaced }], REPO, LIST, "present").writes,
    [],
  );
});

Deno.test("planSources: a changed line for the same URI replaces the old one in the target file", () => {
  const old =
    "# managed\ndeb [signed-by=/usr/share/keyrings/grafana.gpg] https://apt.grafana.com stable main\n";
  const p = planSources([{ path: LIST, content: old }], REPO, LIST, "present");
  assert.equal(p.writes[0].after, `# managed\n${REPO}\n`);
  const elsewhere = planSources(
    [{ path: "/etc/apt/sources.list.d/other.list", content: old }],
    REPO,
    LIST,
    "present",
  );
  assert.match(
    elsewhere.warnings[0],
    /other\.list also configures https:\/\/apt\.grafana\.com stable/,
  );
});

Deno.test("planSources: absent removes the line and deletes an emptied file", () => {
  const p = planSources(
    [{ path: LIST, content: REPO + "\n" }, {
      path: "/etc/apt/sources.list",
      content: "deb http://deb.debian.org/debian bookworm main\n" + REPO + "\n",
    }],
    REPO,
    LIST,
    "absent",
  );
  assert.deepEqual(p.writes, [
    { path: LIST, before: REPO + "\n", after: null },
    {
      path: "/etc/apt/sources.list",
      before: "deb http://deb.debian.org/debian bookworm main\n" + REPO + "\n",
      after: "deb http://deb.debian.org/debian bookworm main\n",
    },
  ]);
  assert.deepEqual(planSources([], REPO, LIST, "absent").writes, []);
  assert.throws(() => planSources([], "ppa:foo/bar", LIST, "present"), ModuleFailure);
});

Deno.test("fileWithLine: the written file, else the file that already has the line", () => {
  const files = [{ path: "/etc/apt/sources.list", content: REPO + "\n" }];
  assert.equal(fileWithLine(files, { writes: [], warnings: [] }, REPO), "/etc/apt/sources.list");
  assert.equal(fileWithLine([], planSources([], REPO, LIST, "present"), REPO), LIST);
});

Deno.test("keys: format detection and keyring name checks", () => {
  const armored = new TextEncoder().encode(ARMORED);
  assert.equal(keyFormat(armored), "armored");
  assert.equal(keyFormat(Uint8Array.from([0x99, 1, 0x8d, 4, 0, 0, 0, 0, 0, 0, 0, 0])), "binary");
  assert.equal(keyFormat(new TextEncoder().encode("<html>404</html>")), "invalid");
  assert.equal(
    keyFormat(new TextEncoder().encode("-----BEGIN PGP PUBLIC KEY BLOCK-----\ntrunc")),
    "invalid",
  );
  assert.throws(() => checkKey(armored, "/etc/apt/keyrings/g.gpg", "k"), /name it \.asc/);
  assert.throws(
    () => checkKey(new TextEncoder().encode("nope"), "/k.asc", "https://x/key"),
    /not an OpenPGP public key/,
  );
  checkKey(armored, "/etc/apt/keyrings/g.asc", "k");
});

Deno.test("keyringPath: signed-by wins, conflicts fail, default beside the filename", () => {
  assert.equal(keyringPath(REPO, undefined, "grafana"), "/etc/apt/keyrings/grafana.asc");
  assert.equal(keyringPath("deb https://x stable main", undefined, "x"), "/etc/apt/keyrings/x.asc");
  assert.throws(
    () => keyringPath(REPO, "/other.asc", "grafana"),
    /differs from the repo's signed-by/,
  );
});

Deno.test("gatherScript + parseGather round trip (curl's exit status survives the pipe)", async () => {
  const script = gatherScript("/k.asc", "https://example.invalid/it's.key");
  assert.match(script, /url='https:\/\/example\.invalid\/it'\\''s\.key'/);
  const out = `\n@@file\n${LIST}\n${encodeB64(REPO + "\n")}\n@@keyring\n644 root root\n${
    encodeB64(ARMORED)
  }\n@@key\n${encodeB64(ARMORED)}\n0\n@@end\n`;
  const g = parseGather(out);
  assert.deepEqual(g.files, [{ path: LIST, content: REPO + "\n" }]);
  assert.equal(g.keyring?.mode, "0644");
  assert.equal(g.key?.rc, 0);
  assert.equal(new TextDecoder().decode(g.key?.bytes), ARMORED);
  assert.equal(g.complete, true);
  // The pipe trick itself, run by this machine's sh: a failing producer's status is kept.
  const sh = new Deno.Command("sh", {
    args: [
      "-c",
      `exec 3>&1; rc=$( { { printf abc; false; echo "$?" >&4; } | base64 -w0 >&3; } 4>&1 ); echo; echo "$rc"`,
    ],
    stdout: "piped",
  });
  const o = new TextDecoder().decode((await sh.output()).stdout);
  assert.equal(o, "YWJj\n1\n");
});

Deno.test("run --check: predicts, records the flag and files, writes nothing", async () => {
  const model = new HostModel();
  const { ctx, scripts } = fakeCtx(true, model, () => ({
    rc: 0,
    stdout: `\n@@keyring\nabsent\n@@key\n${encodeB64(ARMORED)}\n0\n@@end\n`,
    stderr: "",
  }));
  const r = await aptRepository.run(
    ctx,
    aptRepository.args.parse({
      repo: REPO,
      filename: "grafana",
      key_url: "https://apt.grafana.com/gpg.key",
    }),
  );
  assert.equal(r.changed, true);
  assert.equal(r.msg, `would create ${LIST}, write key /etc/apt/keyrings/grafana.asc`);
  assert.equal(scripts.length, 1);
  assert.equal(model.flag("apt:sources-changed"), true);
  assert.equal(model.file(LIST), REPO + "\n");
});

Deno.test("run: update failure restores the previous files and fails with apt's error", async () => {
  const { ctx, scripts } = fakeCtx(false, new HostModel(), (s) => {
    if (s.includes("s keyring")) {
      return {
        rc: 0,
        stdout: `\n@@file\n${LIST}\n${encodeB64(REPO + "\n")}\n@@keyring\n644 root root\n${
          encodeB64("old")
        }\n@@key\n${encodeB64(ARMORED)}\n0\n@@end\n`,
        stderr: "",
      };
    }
    if (s.includes("apt-get update")) {
      return {
        rc: 100,
        stdout:
          "@@update\nW: GPG error: NO_PUBKEY ECA6124E59B08DE4\nE: The repository is not signed.\n",
        stderr: "",
      };
    }
    return { rc: 0, stdout: "", stderr: "" };
  });
  await assert.rejects(
    aptRepository.run(
      ctx,
      aptRepository.args.parse({ repo: REPO, filename: "grafana", key_url: "https://k" }),
    ),
    /apt-get update failed .*previous sources were restored: W: GPG error: NO_PUBKEY/,
  );
  assert.equal(scripts.length, 3);
  assert.match(
    scripts[1],
    /Dir::Etc::sourcelist=\/etc\/apt\/sources\.list\.d\/grafana\.list -o Dir::Etc::sourceparts=-/,
  );
  assert.match(scripts[2], new RegExp(encodeB64("old")));
});

Deno.test("args: exactly one key source at most", () => {
  assert.equal(
    aptRepository.args.safeParse({ repo: REPO, key_url: "a", key_content: "b" }).success,
    false,
  );
  assert.equal(aptRepository.args.safeParse({ repo: REPO, filename: "a/b" }).success, false);
  assert.equal(aptRepository.args.parse({ repo: REPO }).update_cache, true);
});
