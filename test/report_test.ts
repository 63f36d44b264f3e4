/**
 * `--report FILE.html`, checked in a real browser: Debian's chromium renders
 * the report headless (`--dump-dom`, `--screenshot`) and the assertions read
 * the rendered DOM, not the template.
 */
import assert from "node:assert/strict";
import { DOMParser } from "linkedom";
import { drover, withTempDir } from "./helpers.ts";

const SECRET = "glc_ReportSecret_7f3a9c";

const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

async function chromium(dir: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("chromium", {
    args: [...CHROMIUM_FLAGS, `--user-data-dir=${dir}/chromium-profile`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `chromium failed: ${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

/** The part of the DOM the assertions use. */
interface El {
  readonly textContent: string | null;
  readonly outerHTML: string;
  readonly classList: { contains(c: string): boolean };
  getAttribute(name: string): string | null;
  querySelector(sel: string): El | null;
  querySelectorAll(sel: string): Iterable<El>;
}

/** The report as chromium rendered it. */
async function renderedDom(dir: string, file: string): Promise<El & { documentElement: El }> {
  const dom = await chromium(dir, ["--dump-dom", `file://${file}`]);
  assert.match(dom, /<html/);
  return new DOMParser().parseFromString(dom, "text/html") as unknown as El & {
    documentElement: El;
  };
}

const INVENTORY = `all:
  hosts:
    web1: { ansible_connection: local }
    web2: { ansible_connection: local }
`;

/** A playbook shaped like playbooks/verify.yml: checks, set_fact memory, a debug line. */
const VERIFY = `- name: Verify the migration
  hosts: all
  gather_facts: false
  tasks:
    - name: Make the output directory
      file: { path: "{{ out_dir }}/{{ inventory_hostname }}", state: directory }
    - name: Write the env file
      copy:
        dest: "{{ out_dir }}/{{ inventory_hostname }}/alloy.env"
        content: "GRAFANA_CLOUD_API_KEY={{ grafana_cloud_token }}\\nLOG=info\\n"
    - name: A migration record is needed
      fail: { msg: "no migration record" }
      when: false
    - name: Grafana Alloy service running
      assert: { that: "1 == 1" }
    - name: Alloy service survives a reboot (enabled)
      assert:
        that: inventory_hostname == 'web1'
        fail_msg: "alloy is disabled on {{ inventory_hostname }} (token {{ grafana_cloud_token }})"
      ignore_errors: true
    - name: Alloy's memory
      set_fact: { stack_memory_mb: "812.5", alloy_memory_mb: "97.3" }
    - name: Memory usage (alloy now, the Docker stack before migrate)
      debug: { msg: "alloy uses 97.3 MB" }
    - name: Docker services stopped
      command: "false"
      when: inventory_hostname == 'web2'
    - name: Alloy is ready
      assert: { that: "2 > 1" }
`;

Deno.test("--report: chromium renders the recap, checklist, changes, failures and timeline; no secret", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/inventory.yml`, INVENTORY);
    await Deno.writeTextFile(`${dir}/verify.yml`, VERIFY);
    // Both hosts are this machine: make the shared parent first, so they do not race to create it.
    await Deno.mkdir(`${dir}/out`);
    const report = `${dir}/report.html`;
    const run = await drover([
      `${dir}/verify.yml`,
      "-i",
      `${dir}/inventory.yml`,
      "--diff",
      "-e",
      `out_dir=${dir}/out`,
      "-e",
      `grafana_cloud_token=${SECRET}`,
      "--report",
      report,
    ]);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    const html = await Deno.readTextFile(report);
    assert.ok(!html.includes(SECRET), "the secret is in the report file");

    const doc = await renderedDom(dir, report);
    const all = (sel: string) => [...doc.querySelectorAll(sel)];
    const text = (sel: string) => doc.querySelector(sel)?.textContent ?? "";
    assert.ok(!(doc.documentElement?.outerHTML ?? "").includes(SECRET), "the secret is in the DOM");

    // Self-contained: nothing to load.
    assert.equal(all("script, link, img, iframe, object").length, 0);
    assert.deepEqual(all("[src], [href]").map((e) => e.outerHTML), []);

    // Metadata.
    assert.match(text('#meta [data-key="command"] td'), /--report/);
    assert.match(text('#meta [data-key="command"] td'), /grafana_cloud_token=<redacted>/);
    assert.equal(text('#meta [data-key="check"] td'), "no");
    assert.equal(text('#meta [data-key="inventory"] td'), `${dir}/inventory.yml`);
    assert.match(text('#meta [data-key="duration"] td'), /^\d+\.\d+s$/);
    assert.equal(text('#meta [data-key="exit"] td'), "2");
    assert.equal(text("#outcome"), "a host failed");

    // Recap: web1 changed, web2 failed.
    const recap = Object.fromEntries(
      all("#recap tr.host").map((
        r,
      ) => [r.getAttribute("data-host"), r.getAttribute("data-status")]),
    );
    assert.deepEqual(recap, { web1: "changed", web2: "failed" });
    const cell = (host: string, col: string) =>
      text(`#recap tr[data-host="${host}"] td[data-col="${col}"]`);
    assert.equal(cell("web1", "changed"), "2");
    assert.equal(cell("web2", "failed"), "1");
    assert.equal(cell("web2", "ignored"), "1");

    // The checklist: one row per check task plus memory; outcomes per host.
    const rows = all("#checklist tr.criterion");
    const outcome = (name: string, host: string) => {
      const row = rows.find((r) => r.querySelector("th")?.textContent?.includes(name));
      assert.ok(row, `no checklist row for ${name}`);
      return row.querySelector(`td[data-host="${host}"]`)?.getAttribute("data-outcome");
    };
    assert.equal(rows.length, 5);
    assert.equal(outcome("A migration record is needed", "web1"), "pass");
    assert.equal(outcome("Grafana Alloy service running", "web2"), "pass");
    assert.equal(outcome("survives a reboot", "web1"), "pass");
    assert.equal(outcome("survives a reboot", "web2"), "fail");
    assert.equal(outcome("Memory usage reduced", "web1"), "pass");
    assert.equal(outcome("Alloy is ready", "web1"), "pass");
    assert.equal(outcome("Alloy is ready", "web2"), "not run", "web2 stopped at its failure");
    assert.match(text('#checklist tr.memory td[data-host="web1"]'), /812\.5 MB.*97\.3 MB/);
    assert.equal(all("#checklist ul.info li").length, 2);

    // Changes: directory + env file on each host, with the diff redacted.
    const changes = all("#changes li.change");
    assert.equal(changes.length, 4);
    const envDiff = all('#changes pre.diff[data-target$="alloy.env"]');
    assert.equal(envDiff.length, 2);
    assert.match(envDiff[0].textContent ?? "", /\+GRAFANA_CLOUD_API_KEY=<redacted>/);

    // Failures: the ignored assert (web2) and the command (web2), with messages.
    const failures = all("#failures li.failure");
    assert.deepEqual(failures.map((f) => f.getAttribute("data-host")), ["web2", "web2"]);
    assert.match(failures[0].querySelector(".msg")?.textContent ?? "", /alloy is disabled on web2/);
    assert.ok(failures[0].classList.contains("ignored"));
    assert.match(failures[1].textContent ?? "", /rc\s*1/);

    // Timeline: a lane per host, a bar per task that ran on it.
    const lanes = all("#timeline .lane-wrap");
    assert.deepEqual(lanes.map((l) => l.getAttribute("data-host")), ["web1", "web2"]);
    const bars = (host: string) => all(`#timeline .lane-wrap[data-host="${host}"] .bar`);
    assert.equal(bars("web1").length, 9);
    assert.equal(bars("web2").length, 8);
    assert.equal(
      bars("web2").find((b) => b.getAttribute("data-task") === "Docker services stopped")
        ?.getAttribute("data-status"),
      "failed",
    );
  });
});

Deno.test("--report: chromium takes a screenshot of the report (a real PNG of the window size)", async () => {
  await withTempDir(async (dir) => {
    const report = `${dir}/site.html`;
    const run = await drover([
      "playbooks/site.yml",
      "--check",
      "-e",
      `sample_dir=${dir}/sample`,
      "--report",
      report,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const png = `${dir}/shot.png`;
    await chromium(dir, ["--window-size=1200,900", `--screenshot=${png}`, `file://${report}`]);
    const bytes = await Deno.readFile(png);
    assert.deepEqual([...bytes.slice(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
    const view = new DataView(bytes.buffer);
    assert.deepEqual([view.getUint32(16), view.getUint32(20)], [1200, 900]);

    const doc = await renderedDom(dir, report);
    assert.equal(
      doc.querySelector('#meta [data-key="check"] td')?.textContent,
      "yes (nothing was changed)",
    );
    assert.equal(doc.querySelector("#checklist"), null, "a non-verify run has no checklist");
    assert.match(doc.querySelector("#changes h2")?.textContent ?? "", /would change/);
    assert.equal([...doc.querySelectorAll("#changes li.change")].length, 2);
  });
});

Deno.test("--report: a run stopped by an error still writes a report with the error", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/bad.yml`, "- hosts: all\n  tasks:\n    - nosuchmodule: {}\n");
    const report = `${dir}/bad.html`;
    const run = await drover([`${dir}/bad.yml`, "--report", report]);
    assert.equal(run.code, 4, run.stderr);
    const doc = await renderedDom(dir, report);
    assert.match(doc.querySelector("#error .msg")?.textContent ?? "", /nosuchmodule/);
    assert.equal(doc.querySelector('#meta [data-key="exit"] td')?.textContent, "4");
  });
});

Deno.test("--report into a directory that does not exist: exit 5 before anything runs", async () => {
  await withTempDir(async (dir) => {
    const run = await drover([
      "playbooks/site.yml",
      "-e",
      `sample_dir=${dir}/sample`,
      "--report",
      `${dir}/nope/r.html`,
    ]);
    assert.equal(run.code, 5);
    assert.match(run.stderr, /--report cannot write/);
    assert.equal(await Deno.stat(`${dir}/sample`).catch(() => null), null);
  });
});
