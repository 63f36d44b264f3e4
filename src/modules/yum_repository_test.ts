import assert from "node:assert/strict";
import { HostModel, type ModuleContext, ModuleFailure, type ShResult } from "../core/module.ts";
import { encodeB64 } from "./_files.ts";
import {
  dearmor,
  keyInstalled,
  parseInstalledKeys,
  parseKeys,
  planRepoFile,
  repoEntries,
  rpmKey,
  rpmKeyGather,
  rpmKeyName,
  sectionValues,
  yumRepository,
} from "./yum_repository.ts";

const repo = (a: Record<string, unknown>) => yumRepository.args.parse(a);
const GRAFANA = repo({
  name: "grafana",
  description: "grafana",
  baseurl: "https://rpm.grafana.com",
  gpgcheck: true,
  repo_gpgcheck: true,
  gpgkey: "https://rpm.grafana.com/gpg.key",
  enabled: true,
});
// The file Grafana's documentation tells users to write by hand.
const HANDWRITTEN = `[grafana]
name=grafana
baseurl=https://rpm.grafana.com
repo_gpgcheck=1
enabled=1
gpgcheck=1
gpgkey=https://rpm.grafana.com/gpg.key
sslverify=1
sslcacert=/etc/pki/tls/certs/ca-bundle.crt
`;

Deno.test("repoEntries renders Ansible's booleans as 1/0 in a stable order", () => {
  assert.deepEqual(repoEntries(GRAFANA), [
    ["name", "grafana"],
    ["baseurl", "https://rpm.grafana.com"],
    ["enabled", "1"],
    ["gpgcheck", "1"],
    ["repo_gpgcheck", "1"],
    ["gpgkey", "https://rpm.grafana.com/gpg.key"],
  ]);
});

Deno.test("sectionValues normalises booleans, lists and continuation lines", () => {
  const v = sectionValues(["[x]", "enabled = yes", "gpgkey=a", "   b", "# c=d", "baseurl=u1,u2"]);
  assert.equal(v.get("enabled"), "1");
  assert.equal(v.get("gpgkey"), "a b");
  assert.equal(v.get("baseurl"), "u1 u2");
  assert.equal(v.has("# c"), false);
});

Deno.test("planRepoFile: new file, same meaning, changed keys, extra keys", () => {
  const created = planRepoFile(null, "grafana", repoEntries(GRAFANA));
  assert.equal(created.action, "add");
  assert.equal(
    created.after,
    "[grafana]\nname=grafana\nbaseurl=https://rpm.grafana.com\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=https://rpm.grafana.com/gpg.key\n",
  );
  assert.equal(planRepoFile(created.after!, "grafana", repoEntries(GRAFANA)).after, undefined);
  const spaced = created.after!.replaceAll("=", " = ").replace("enabled = 1", "enabled = True");
  assert.equal(planRepoFile(spaced, "grafana", repoEntries(GRAFANA)).after, undefined);
  const hand = planRepoFile(HANDWRITTEN, "grafana", repoEntries(GRAFANA));
  assert.equal(hand.action, "update");
  assert.deepEqual(hand.changedKeys, ["sslverify", "sslcacert"]);
  const off = planRepoFile(created.after!, "grafana", repoEntries({ ...GRAFANA, gpgcheck: false }));
  assert.deepEqual(off.changedKeys, ["gpgcheck"]);
});

Deno.test("planRepoFile: other sections and comments survive; absent removes or deletes", () => {
  const two = "# mine\n[other]\nname=o\nbaseurl=http://o\n\n" + HANDWRITTEN;
  const upd = planRepoFile(two, "grafana", repoEntries(GRAFANA));
  assert.match(
    upd.after!,
    /^# mine\n\[other\]\nname=o\nbaseurl=http:\/\/o\n\n\[grafana\]\nname=grafana\n/,
  );
  const rm = planRepoFile(two, "grafana", null);
  assert.equal(rm.action, "remove");
  assert.equal(rm.after, "# mine\n[other]\nname=o\nbaseurl=http://o\n");
  assert.equal(planRepoFile(HANDWRITTEN, "grafana", null).after, null);
  assert.equal(planRepoFile(HANDWRITTEN, "nothere", null).after, undefined);
  assert.equal(
    planRepoFile(two, "new", [["name", "n"], ["baseurl", "u"]]).after?.endsWith(
      "\n\n[new]\nname=n\nbaseurl=u\n",
    ),
    true,
  );
});

Deno.test("yum_repository args: a URL source is required for present", () => {
  assert.equal(yumRepository.args.safeParse({ name: "x" }).success, false);
  assert.equal(yumRepository.args.safeParse({ name: "x", state: "absent" }).success, true);
  assert.equal(yumRepository.args.safeParse({ name: "a b", baseurl: "u" }).success, false);
});

Deno.test("yum_repository --check: reads the predicted file, records the flag", async () => {
  const model = new HostModel();
  const scripts: string[] = [];
  const ctx = {
    check: true,
    model,
    sh: (s: string): Promise<ShResult> => {
      scripts.push(s);
      return Promise.resolve({ rc: 0, stdout: "absent\n", stderr: "" });
    },
  } as unknown as ModuleContext;
  const r = await yumRepository.run(ctx, GRAFANA);
  assert.equal(r.msg, "would create /etc/yum.repos.d/grafana.repo with repository grafana");
  assert.equal(model.flag("dnf:repos-changed"), true);
  const again = await yumRepository.run(ctx, GRAFANA);
  assert.equal(again.changed, false);
  assert.equal(scripts.length, 1);
});

// The stand-in repository's signing key (test/lab/standins); rpm 4.18 imported it as
// gpg-pubkey-59b08de4-6b097668, gpg shows fingerprint 0C5F…8DE4.
const KEY = `-----BEGIN PGP PUBLIC KEY BLOCK-----

mQGNBGsJdmgBDADDaKonv9GdTVNod7x5L03V9ic0RAdf+9UBK0NkZ1P9vHllgsfN
tlOuIJh+/c93NEA3fYgEA44diY4Vc5X/W/V6nFeofufNaFtx3H2hnVr2wraOy2dW
NGKYSEUWaO6HzFQ2kVoghW86CwVnhshZGXysVi+P+EMvapyqABxPEd3QYbP1P9zm
tbOkPOrm0xnrXq9e9t+T64CmFnwMcggZxK0/cgiVLrMCiDCbQdrSWQgBzg7gTaG3
DSNFoNntEyWnCJtI9B4mGt6sRwJfl6yKFeswQJF5HPp2WPrZYu3agow1OS3q7mkN
/ogSFqU4lCJ1ne3DX9Z8X8YbIECqa6VI3NuEpn85pnwBksdNdvNHYAY8yeVPhIYe
9DniYS02pPWzwlUZAXWoF3Yj0uoPMCOUfWnhCo/yOTYVKzhxNuTN+M4pNjE0tEOp
tzQdJYIylbKoR/0AoIhBiHiz/B6B4Dzdi/+L5U88vFa2GyKMZAf4YF0vOKmPOyMn
ekxYIXbRPePXNT0AEQEAAbRPZHJvdmVyIGxhYiBzdGFuZC1pbiByZXBvIHNpZ25p
bmcga2V5IChOT1QgR3JhZmFuYSkgPGRyb3Zlci1sYWJAZXhhbXBsZS5pbnZhbGlk
PokBzgQTAQoAOBYhBAxf1EhrBxf5VzCBZ+ymEk5ZsI3kBQJrCXZoAhsDBQsJCAcC
BhUKCQgLAgQWAgMBAh4BAheAAAoJEOymEk5ZsI3kU94MAJsRTnCJ1NSxWOJQMMvu
cqFFnznCScT6SCIiwBvuMYyHbKHuyNDBytfsOsr0ljouKtKjHaJmAtTOaaQD/xxs
haRA39Ic1P3DSrRA4a2aEPcJxco/Z13c4Xk64yeH7wFqfVXl4UORtHG6Z7ODnN9+
C9zJW9e9r3xtDdOVDAQ2z8MjqinKNFEbM38Ej3Y09PbLxwaGbRZ5lNIFevk13EQY
teGFampsNox6RvO5QB++NkJVcxTlP8hbGMy0yvm+YqC028UgeGFCmrTdGjh5huUQ
Xwf5/VJWWre77YJueU/Vol2dar37+zM6aShFtgv/xdxGIeLYdiZxX1mamhe+MCLn
YC8391ONGeDPk9vhpKwnxtG4WbJYiiIW/cDH8t42mn8SCbE4u9Tss3wKnNfo2FS6
Xsz7BJP/AyqyROkEGdFG5yu8ext9ngO6vKqwKQdDcbxi/l+CH3AgPEOV4/O2QTUF
aBdX/ll5ahn5P7NFRdkehpTIPXWEDKrnLf5ax4J0NpsUIg==
=VV12
-----END PGP PUBLIC KEY BLOCK-----
`;

Deno.test("parseKeys: fingerprint, key ID and rpm's gpg-pubkey name, armored and binary", async () => {
  const [k] = await parseKeys(new TextEncoder().encode(KEY));
  assert.equal(k.fingerprint, "0C5FD4486B0717F957308167ECA6124E59B08DE4");
  assert.equal(k.keyId, "eca6124e59b08de4");
  assert.equal(rpmKeyName(k), "59b08de4-6b097668");
  const binary = dearmor(new TextEncoder().encode(KEY));
  assert.equal(binary[0], 0x99);
  assert.deepEqual(await parseKeys(binary), [k]);
  await assert.rejects(parseKeys(new TextEncoder().encode("<html>")), ModuleFailure);
});

Deno.test("keyInstalled: rpm 4 short names and fingerprint-named keys", async () => {
  const [k] = await parseKeys(new TextEncoder().encode(KEY));
  assert.equal(keyInstalled(k, parseInstalledKeys("59b08de4-6b097668\n")), true);
  assert.equal(keyInstalled(k, parseInstalledKeys("package gpg-pubkey is not installed\n")), false);
  assert.equal(keyInstalled(k, parseInstalledKeys("17ef1b52-6b097668\n")), false);
  assert.equal(
    keyInstalled(k, parseInstalledKeys("0c5fd4486b0717f957308167eca6124e59b08de4-6b097668\n")),
    true,
  );
});

function keyCtx(check: boolean, installed: string) {
  const scripts: string[] = [];
  const model = new HostModel();
  const ctx = {
    check,
    model,
    sh: (s: string): Promise<ShResult> => {
      scripts.push(s);
      return Promise.resolve(
        s.includes("@@installed")
          ? {
            rc: 0,
            stdout: `@@key\n${encodeB64(KEY)}\n0\n@@installed\n${installed}@@end\n`,
            stderr: "",
          }
          : { rc: 0, stdout: "", stderr: "" },
      );
    },
  } as unknown as ModuleContext;
  return { ctx, scripts, model };
}

Deno.test("rpm_key run: present is ok, missing is imported from a local copy, fingerprint checked", async () => {
  const ok = keyCtx(false, "59b08de4-6b097668\n");
  assert.equal(
    (await rpmKey.run(ok.ctx, rpmKey.args.parse({ key: "https://rpm.grafana.com/gpg.key" })))
      .changed,
    false,
  );
  const imp = keyCtx(false, "");
  const r = await rpmKey.run(
    imp.ctx,
    rpmKey.args.parse({
      key: "https://rpm.grafana.com/gpg.key",
      fingerprint: "0C5F D448 6B07 17F9 5730 8167 ECA6 124E 59B0 8DE4",
    }),
  );
  assert.equal(r.msg, "import gpg-pubkey-59b08de4-6b097668");
  assert.match(imp.scripts[1], /rpm --import "\$tmp"/);
  assert.doesNotMatch(imp.scripts[1], /https:/);
  assert.equal(imp.model.flag("dnf:repos-changed"), true);
  await assert.rejects(
    rpmKey.run(keyCtx(false, "").ctx, rpmKey.args.parse({ key: "k", fingerprint: "AAAA" })),
    /does not have fingerprint AAAA/,
  );
  const rm = keyCtx(true, "59b08de4-6b097668\n");
  assert.equal(
    (await rpmKey.run(rm.ctx, rpmKey.args.parse({ key: "k", state: "absent" }))).msg,
    "would remove gpg-pubkey-59b08de4-6b097668",
  );
  assert.equal(rm.scripts.length, 1);
});

Deno.test("rpmKeyGather: URL fetched with curl, path read with cat, quoted", () => {
  assert.match(rpmKeyGather("https://x/k", false), /curl -fsSL --max-time 60 "\$k"/);
  assert.match(rpmKeyGather("https://x/k", true), /curl -fsSLk/);
  assert.match(
    rpmKeyGather("/etc/pki/it's.key", false),
    /k='\/etc\/pki\/it'\\''s\.key'[\s\S]*cat -- "\$k"/,
  );
});
