/**
 * @module
 * `deno task compat`: run the compatibility corpus (test/compat/playbooks)
 * with ansible-playbook and drover on twin lab hosts and print the table
 * (playbooks run, identical, different and why).
 *
 * ```sh
 * DROVER_COMPAT_HOSTS=lab8,lab9,lab10,lab11 deno task compat      # two pairs at once
 * deno task compat --only 03_,12_ --verbose                        # some playbooks, every difference
 * deno task compat --update-doc                                    # also rewrite the table in docs/compat.md
 * ```
 *
 * Hosts come in pairs (Ansible on the first, drover on the second); the
 * default is the first two of DROVER_TEST_HOSTS (lab1,lab2). Every pair is
 * reset before each playbook. Exit code 0 when every difference is one the
 * playbook declares deliberate (`# compat: deliberate: ...`), 1 otherwise.
 */
import { join } from "../../src/core/path.ts";
import { ROOT } from "../helpers.ts";
import { TEST_HOSTS } from "../lab_helpers.ts";
import { type CaseResult, corpus, runCase } from "./compat.ts";

const DOC = join(ROOT, "docs", "compat.md");
const BEGIN = "<!-- compat-table:begin -->";
const END = "<!-- compat-table:end -->";

interface Args {
  hosts: string[];
  only: string[];
  verbose: boolean;
  updateDoc: boolean;
  json?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    hosts: (Deno.env.get("DROVER_COMPAT_HOSTS") ?? TEST_HOSTS.slice(0, 2).join(","))
      .split(",").map((s) => s.trim()).filter(Boolean),
    only: [],
    verbose: false,
    updateDoc: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === "--hosts") a.hosts = argv[++i].split(",").filter(Boolean);
    else if (x === "--only") a.only.push(...argv[++i].split(",").filter(Boolean));
    else if (x === "--verbose" || x === "-v") a.verbose = true;
    else if (x === "--update-doc") a.updateDoc = true;
    else if (x === "--json") a.json = argv[++i];
    else throw new Error(`unknown argument '${x}' (see the header of test/compat/run.ts)`);
  }
  if (a.hosts.length < 2 || a.hosts.length % 2) {
    throw new Error(`give hosts in pairs, e.g. --hosts lab1,lab2; got ${a.hosts.join(",")}`);
  }
  return a;
}

/** The verdict of one case: deliberate when every difference is one the playbook declares. */
export function verdict(r: CaseResult): "identical" | "deliberate" | "different" {
  if (r.differences.length === 0) return "identical";
  if (r.meta.deliberate) return "deliberate";
  if (r.meta.deliberateCheck && r.differences.every((d) => d.phase === "check")) {
    return "deliberate";
  }
  return "different";
}

function reason(r: CaseResult): string | undefined {
  return r.meta.deliberate ?? r.meta.deliberateCheck;
}

/** The Markdown table of results. */
export function table(results: readonly CaseResult[]): string {
  const n = results.length;
  const ident = results.filter((r) => verdict(r) === "identical").length;
  const delib = results.filter((r) => verdict(r) === "deliberate").length;
  const diff = n - ident - delib;
  const rows = results.map((r) => {
    const v = verdict(r);
    const why = v === "identical"
      ? ""
      : v === "deliberate"
      ? `deliberate: ${reason(r)}`
      : r.differences.slice(0, 3).map((d) => `${d.phase}: ${d.detail}`).join("; ").replaceAll(
        "|",
        "\\|",
      );
    return `| ${r.name.replace(/\.ya?ml$/, "")} | ${r.meta.about.replaceAll("|", "\\|")} | ${
      v === "identical" ? "identical" : "different"
    } | ${why} |`;
  });
  return [
    `Playbooks run: **${n}** · identical: **${ident}** · different: **${
      diff + delib
    }** (deliberate, documented below: ${delib}; undocumented: ${diff})`,
    "",
    "| playbook | what it exercises | result | why |",
    "| -------- | ----------------- | ------ | --- |",
    ...rows,
  ].join("\n");
}

async function main(): Promise<number> {
  const args = parseArgs(Deno.args);
  const names = corpus().filter((n) =>
    args.only.length === 0 || args.only.some((o) => n.includes(o))
  );
  const pairs: [string, string][] = [];
  for (let i = 0; i < args.hosts.length; i += 2) pairs.push([args.hosts[i], args.hosts[i + 1]]);
  const workDir = await Deno.makeTempDir({ prefix: "drover-compat-" });
  const results: CaseResult[] = [];
  let next = 0;
  const retried = new Set<string>();
  const t0 = Date.now();
  const err = (s: string) => console.error(s);
  err(
    `compat: ${names.length} playbooks on ${
      pairs.map((p) => p.join("+")).join(", ")
    } (ansible+drover)`,
  );
  await Promise.all(pairs.map(async (pair) => {
    while (next < names.length) {
      const name = names[next++];
      try {
        const r = await runCase(name, pair, { workDir, log: args.verbose ? err : undefined });
        results.push(r);
        err(
          `  ${name.padEnd(36)} ${verdict(r).padEnd(10)} ${r.seconds.toFixed(0).padStart(4)} s  (${
            pair.join("+")
          })`,
        );
        if (verdict(r) === "identical" && reason(r)) {
          err(`      (identical, but its header declares a deliberate difference: drop it)`);
        }
        if (r.differences.length && (args.verbose || verdict(r) === "different")) {
          for (const d of r.differences) err(`      ${d.phase} ${d.what}: ${d.detail}`);
        }
      } catch (e) {
        err(`  ${name}: harness error: ${(e as Error).message}`);
        // A host that did not boot on a loaded machine is not a result: once more, at the end.
        if (!retried.has(name)) {
          retried.add(name);
          names.push(name);
          err(`  ${name}: queued again`);
          continue;
        }
        results.push({
          name,
          meta: { about: "(harness error)", extraVars: [], args: [], fast: false },
          pair,
          differences: [{
            phase: "run",
            what: "exit",
            detail: `harness error: ${(e as Error).message}`,
          }],
          outcomes: {},
          changedPaths: { ansible: [], drover: [] },
          seconds: 0,
        });
      }
    }
  }));
  results.sort((a, b) => a.name.localeCompare(b.name));
  const md = table(results);
  console.log(md);
  err(
    `compat: done in ${
      ((Date.now() - t0) / 1000).toFixed(0)
    } s; details in ${workDir}/results.json`,
  );
  await Deno.writeTextFile(
    join(workDir, "results.json"),
    JSON.stringify(results, null, 2),
  );
  if (args.json) await Deno.copyFile(join(workDir, "results.json"), args.json);
  if (args.updateDoc) {
    const doc = await Deno.readTextFile(DOC);
    const i = doc.indexOf(BEGIN), j = doc.indexOf(END);
    if (i < 0 || j < i) throw new Error(`${DOC} has no ${BEGIN} ... ${END} markers`);
    await Deno.writeTextFile(DOC, `${doc.slice(0, i + BEGIN.length)}\n\n${md}\n\n${doc.slice(j)}`);
    err(`compat: table written to ${DOC}`);
  }
  return results.some((r) => verdict(r) === "different") ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
