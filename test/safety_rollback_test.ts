/**
 * Safety, part 2: rollback is exact. Three fresh dev machines (compose stack
 * and app running) are migrated (OTLP ports opened in ufw), then:
 *
 * - A: rollback -e remove_alloy=true gives back /etc byte for byte (every
 *   file's hash, every symlink, every mode and owner), the unit files and
 *   unit states, the ufw rules and the whole nftables ruleset, and the
 *   compose stack's five containers running (same images, volumes, networks).
 *   A second rollback changes nothing.
 * - B: migrate's cleanup (--tags cleanup) removes the stack's images and its
 *   project's volumes first. Rollback -e remove_alloy=true then names exactly
 *   what it cannot give back (those images and volumes), fails on the
 *   stack it cannot start, and restores everything else (/etc, units,
 *   firewall) as on A.
 * - C: rollback keeping the package: /etc differs from before only by the
 *   alloy package's own files and its user's lines in the account files.
 */
import assert from "node:assert/strict";
import { withTempDir } from "./helpers.ts";
import { TEST_HOSTS } from "./lab_helpers.ts";
import {
  COMPOSE,
  diffLines,
  etcSnapshot,
  freshHosts,
  inventory,
  onHostOk,
  run,
  sanitize,
  serviceState,
  tasksByHost,
  VARS,
} from "./safety_helpers.ts";

const MIGRATE_VARS = [...VARS, "-e", "otlp_external=true"];

/** The parts of {@linkcode serviceState}: units, ufw, docker objects, nftables. */
function sections(state: string): { units: string; ufw: string; docker: string; nft: string } {
  const [units, rest1] = split(state, "\nufw\n");
  const [ufw, rest2] = split(rest1, "\ncontainers\n");
  const [docker, nft] = split(rest2, "\nnft\n");
  return { units, ufw, docker, nft };
}

function split(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  if (i < 0) throw new Error(`no '${sep.trim()}' in:\n${s}`);
  return [s.slice(0, i), s.slice(i + sep.length)];
}

/**
 * The nftables ruleset with what docker makes anew for a recreated compose
 * network written generically: its bridge's name (br-NETWORKID) and the
 * addresses it hands out (172.16.0.0/12), in any order. An empty
 * `table ip6 filter` is dropped when the ruleset before had none: ufw's
 * command line creates it when it edits rules while ufw is inactive (the
 * firewall role in migrate, the restore in rollback); it holds no rule and is
 * gone after a reboot. The figure counts it.
 */
function nftComparable(nft: string, before: string): { text: string; emptyIp6: boolean } {
  const generic = (s: string) =>
    s.replace(/br-[0-9a-f]{12}/g, "br-NET").replace(
      /\b172\.(1[6-9]|2\d|3[01])\.\d+\.\d+(\/\d+)?/g,
      "DOCKER-ADDR",
    );
  const empty = /^table ip6 filter \{\n\}\n/m;
  const emptyIp6 = empty.test(nft) && !/^table ip6 filter /m.test(before);
  return { text: generic(emptyIp6 ? nft.replace(empty, "") : nft), emptyIp6 };
}

/**
 * Units that failed for want of kernel resources (systemd's Result=resources),
 * e.g. path units that could not get an inotify instance: every lab host
 * shares this machine's kernel and its per-user inotify limit, so with many
 * lab hosts up a daemon-reload can fail them. Not drover's doing; their lines
 * are left out of the unit comparison and counted.
 */
async function resourceFailures(host: string): Promise<Set<string>> {
  const out = await onHostOk(
    host,
    `systemctl list-units --state=failed --all --plain --no-legend | awk '{print $1}' | while read -r u; do
  [ "$(systemctl show -p Result --value "$u")" = resources ] && echo "$u"
done; true
`,
  );
  return new Set(out.split("\n").filter(Boolean));
}

/** Unit lines of a diff, without those of the given units. */
function unitDiff(before: string, after: string, skip: Set<string>): string[] {
  return diffLines(before, after).filter((l) => !skip.has(l.split(" ")[2] ?? ""));
}

/** The names in "…: the stack's images a, b were removed…" style lists of a message. */
function named(msg: string, what: "images" | "volumes"): string[] {
  const m = new RegExp(`the stack's ${what} (\\S.*?) (?:were|was) removed`).exec(msg);
  return m ? m[1].split(", ").sort() : [];
}

const lines = (s: string, prefix: string) =>
  s.split("\n").filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length)).sort();

Deno.test({
  name:
    "rollback is exact: /etc, units, firewall and the stack as before migrate; after cleanup it names what it cannot restore",
  ...sanitize,
  fn: async (t) => {
    const [A, B, C] = TEST_HOSTS;
    const hosts = [A, B, C];
    const figures = {
      resourceFailed: 0,
      hosts: 0,
      etcEntries: 0,
      etcDiffs: 0,
      stateDiffs: 0,
      unrestorable: 0,
      emptyIp6: 0,
    };
    await freshHosts(hosts);
    const etc0: Record<string, string> = {};
    const state0: Record<string, string> = {};
    for (const h of hosts) {
      [etc0[h], state0[h]] = await Promise.all([etcSnapshot(h), serviceState(h)]);
      assert.match(sections(state0[h]).docker, /^container ttadev_\S+ \S+ running$/m);
    }

    const skipped = async (h: string) => {
      const units = await resourceFailures(h);
      figures.resourceFailed += units.size;
      return units;
    };
    await withTempDir(async (dir) => {
      const inv = await inventory(dir, hosts);
      const drover = (pb: string, limit: string[], extra: string[] = []) =>
        run([
          `playbooks/${pb}.yml`,
          "-i",
          inv,
          "--limit",
          limit.join(":"),
          ...MIGRATE_VARS,
          ...extra,
        ]);

      await t.step("migrate all three; cleanup on B", async () => {
        const m = await drover("migrate", hosts);
        assert.equal(m.code, 0, m.stdout + m.stderr);
        for (const h of hosts) {
          assert.notDeepEqual(diffLines(etc0[h], await etcSnapshot(h)), [], `${h}: /etc unchanged`);
          assert.match(await onHostOk(h, "ufw show added\n"), /4317\/tcp/);
        }
        const c = await drover("migrate", [B], ["--tags", "cleanup"]);
        assert.equal(c.code, 0, c.stdout + c.stderr);
        assert.equal((await onHostOk(B, "docker images -q | wc -l\n")).trim(), "0");
      });

      // What cleanup took from B: the images and volumes it had before that are gone now.
      const gone = async (h: string) => {
        const now = sections(await serviceState(h)).docker;
        const before = sections(state0[h]).docker;
        const names = (s: string, p: string) => lines(s, p).map((l) => l.split(" ").at(-1)!);
        const had = (p: string) => names(before, p).filter((x) => !names(now, p).includes(x));
        return {
          images: had("image ").sort(),
          volumes: lines(before, "volume ").filter((v) => !lines(now, "volume ").includes(v)),
        };
      };
      const removed = await gone(B);
      assert.equal(removed.images.length, 5, JSON.stringify(removed));

      const results: Record<string, { code: number; stdout: string; stderr: string }> = {};
      await t.step("rollback: A and B with remove_alloy=true, C keeping the package", async () => {
        const [full, keep] = await Promise.all([
          drover("rollback", [A, B], ["-e", "remove_alloy=true", "--json"]),
          drover("rollback", [C], ["--json"]),
        ]);
        results.full = full;
        results.keep = keep;
      });

      await t.step(`${A}: /etc, units, firewall and the stack exactly as before`, async () => {
        const failed = tasksByHost(results.full.stdout, "failed")[A] ?? [];
        assert.deepEqual(failed, [], results.full.stdout);
        const etc = diffLines(etc0[A], await etcSnapshot(A));
        const [s0, s1] = [sections(state0[A]), sections(await serviceState(A))];
        const nft = nftComparable(s1.nft, s0.nft);
        if (nft.emptyIp6) figures.emptyIp6++;
        const state = [
          ...unitDiff(s0.units, s1.units, await skipped(A)),
          ...diffLines(s0.ufw, s1.ufw),
          ...diffLines(s0.docker, s1.docker),
          ...diffLines(nftComparable(s0.nft, s0.nft).text, nft.text),
        ];
        figures.hosts++;
        figures.etcEntries += etc0[A].split("\n").filter((l) =>
          /^\S \d+ \d+ \d+ \.\/etc/.test(l)
        ).length;
        figures.etcDiffs += etc.length;
        figures.stateDiffs += state.length;
        assert.deepEqual(etc, [], `${A}: /etc after rollback`);
        assert.deepEqual(state, [], `${A}: units, firewall, containers after rollback`);
        assert.equal((await onHostOk(A, `${COMPOSE} ps -q | wc -l\n`)).trim(), "5");
        const again = await drover("rollback", [A], ["-e", "remove_alloy=true", "--json"]);
        assert.equal(again.code, 0, again.stdout + again.stderr);
        assert.deepEqual(tasksByHost(again.stdout, "changed")[A] ?? [], [], "second rollback");
      });

      await t.step(`${B}: names what cleanup removed, restores the rest`, async () => {
        const msgs = jsonMsgs(results.full.stdout, B);
        const say = msgs.find((m) => m.startsWith("cannot restore from this host"));
        assert.ok(say, `${B}: rollback did not say what it cannot restore:\n${msgs.join("\n")}`);
        assert.deepEqual(named(say, "images"), removed.images, say);
        assert.deepEqual(named(say, "volumes"), removed.volumes, say);
        figures.unrestorable += removed.images.length + removed.volumes.length;
        assert.notEqual(results.full.code, 0, "rollback must not report success without the stack");
        const failed = tasksByHost(results.full.stdout, "failed")[B] ?? [];
        assert.deepEqual(failed, ["The Docker compose stack runs again"], results.full.stdout);
        const etc = diffLines(etc0[B], await etcSnapshot(B));
        const [s0, s1] = [sections(state0[B]), sections(await serviceState(B))];
        const state = [
          ...unitDiff(s0.units, s1.units, await skipped(B)),
          ...diffLines(s0.ufw, s1.ufw),
        ];
        figures.hosts++;
        figures.etcEntries += etc0[B].split("\n").filter((l) =>
          /^\S \d+ \d+ \d+ \.\/etc/.test(l)
        ).length;
        figures.etcDiffs += etc.length;
        figures.stateDiffs += state.length;
        assert.deepEqual(etc, [], `${B}: /etc after rollback`);
        assert.deepEqual(state, [], `${B}: units and firewall after rollback`);
        // Nothing of docker's that cleanup left was touched: only what it removed is missing.
        const after = await gone(B);
        assert.deepEqual(after.images, removed.images);
      });

      await t.step(`${C}: keeping the package, only its files and user differ`, async () => {
        assert.equal(results.keep.code, 0, results.keep.stdout + results.keep.stderr);
        const owned = new Set(
          (await onHostOk(C, "dpkg -L alloy | grep '^/etc/'\n")).split("\n").filter(Boolean)
            .map((p) => `.${p}`),
        );
        const accounts = /^\.\/etc\/(passwd|group|shadow|gshadow)-?$/;
        const etc = diffLines(etc0[C], await etcSnapshot(C));
        const path = (l: string) =>
          /^[+-] [0-9a-f]{64} {2}/.test(l) ? l.slice(68) : l.split(" ")[5] ?? "";
        const other = etc.filter((l) => !owned.has(path(l)) && !accounts.test(path(l)));
        assert.deepEqual(other, [], `${C}: /etc differs beyond the alloy package's files`);
        const s1 = sections(await serviceState(C));
        const s0 = sections(state0[C]);
        const units = unitDiff(s0.units, s1.units, await skipped(C))
          .filter((l) => !/alloy\.service/.test(l));
        assert.deepEqual(units, [], `${C}: units beyond alloy's`);
        assert.equal(
          await onHostOk(C, "systemctl is-enabled alloy; systemctl is-active alloy || true\n"),
          "disabled\ninactive\n",
        );
        assert.deepEqual(diffLines(s0.ufw, s1.ufw), [], `${C}: firewall`);
        assert.equal((await onHostOk(C, `${COMPOSE} ps -q | wc -l\n`)).trim(), "5");
      });
    });
    console.log(
      `safety/rollback: ${figures.hosts} hosts fully rolled back, ${figures.etcEntries} /etc entries compared, ${figures.etcDiffs} differences in /etc, ${figures.stateDiffs} in units/firewall/stack (${figures.emptyIp6} empty ip6 filter table left by ufw, ${figures.resourceFailed} units failed for want of inotify instances left out); after cleanup ${figures.unrestorable} objects named as not restorable`,
    );
  },
});

/** The messages of a host's results in a --json run. */
function jsonMsgs(stdout: string, host: string): string[] {
  return stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .filter((e) => e.type === "host_result" && e.host === host && typeof e.msg === "string")
    .map((e) => e.msg as string);
}
