/**
 * @module
 * Lab helpers for tests: bring the lab up (idempotent, fast when warm) and
 * run commands on its hosts.
 */
import { ROOT } from "./helpers.ts";

/** The lab's inventory, written by `lab.sh up`. */
export const LAB_INVENTORY = "/var/lib/drover-lab/inventory.yml";

const upPromises = new Map<string, Promise<void>>();

/**
 * The three lab hosts the test suite uses: lab1..lab3, or the ones named in
 * `DROVER_TEST_HOSTS` (e.g. `lab5,lab6,lab7`) so that several people can run
 * lab tests at once on one lab.
 */
export const TEST_HOSTS: string[] = (Deno.env.get("DROVER_TEST_HOSTS") ?? "lab1,lab2,lab3")
  .split(",").map((h) => h.trim()).filter(Boolean);

/**
 * `lab.sh up` once per test process: `n` means lab1..labN, or name the hosts.
 * Hosts that are already running (by hand, or for a benchmark) are kept.
 */
export function labUp(n: number | string[] = TEST_HOSTS): Promise<void> {
  const hosts = typeof n === "number" ? TEST_HOSTS.slice(0, n) : n;
  const key = hosts.join(" ");
  let p = upPromises.get(key);
  if (p) return p;
  p = (async () => {
    const r = await new Deno.Command("bash", {
      args: [`${ROOT}/test/lab/lab.sh`, "up", ...hosts],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (r.code !== 0) {
      throw new Error(`lab up failed: ${new TextDecoder().decode(r.stderr).slice(-2000)}`);
    }
  })();
  upPromises.set(key, p);
  return p;
}

/**
 * An inventory of just these lab hosts (group `lab`), written into `dir`;
 * returns its path. Tests use it rather than the lab's own inventory, which
 * lists every running host.
 */
export async function labInventory(dir: string, hosts: string[] = TEST_HOSTS): Promise<string> {
  const r = await new Deno.Command("bash", {
    args: [`${ROOT}/test/lab/lab.sh`, "inventory", ...hosts],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (r.code !== 0) throw new Error(`lab inventory: ${new TextDecoder().decode(r.stderr)}`);
  const path = `${dir}/lab-${hosts.join("-")}.yml`;
  await Deno.writeFile(path, r.stdout);
  return path;
}

/** Run a shell command on a lab host as root; returns stdout. */
export async function onHost(
  host: string,
  script: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command("ssh", {
    args: ["-F", "/var/lib/drover-lab/ssh_config", host, "sh", "-s"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const r = await child.output();
  const d = new TextDecoder();
  return { code: r.code, stdout: d.decode(r.stdout), stderr: d.decode(r.stderr) };
}

/** Reset a host to a fresh state. */
export async function labReset(host: string): Promise<void> {
  const r = await new Deno.Command("bash", {
    args: [`${ROOT}/test/lab/lab.sh`, "reset", host],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (r.code !== 0) {
    throw new Error(`lab reset ${host} failed: ${new TextDecoder().decode(r.stderr).slice(-1000)}`);
  }
}

/** Lines only in `a` (`- `) and only in `b` (`+ `). */
export function diffLines(a: string, b: string): string[] {
  const as = new Set(a.split("\n"));
  const bs = new Set(b.split("\n"));
  return [
    ...[...as].filter((l) => !bs.has(l)).map((l) => `- ${l}`),
    ...[...bs].filter((l) => !as.has(l)).map((l) => `+ ${l}`),
  ];
}

/** The line of `s` starting with `key` (readable assertion failures). */
export function lineOf(s: string, key: string): string | undefined {
  return s.split("\n").find((l) => l.startsWith(key));
}

/** Install the user's app (the stand-in exporting metrics on :9464) from the lab repo's pool. */
export const INSTALL_APP = `set -e
if ! dpkg -s tta-dev-app-standin >/dev/null 2>&1; then
  curl -fsS http://packages.lab:8080/pool/main/t/tta-dev-app-standin/tta-dev-app-standin_1.0.0_all.deb -o /tmp/app.deb
  dpkg -i /tmp/app.deb >/dev/null 2>&1
  rm -f /tmp/app.deb
fi
for i in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:9464/metrics && exit 0; sleep 0.1; done
echo "the app did not start" >&2; exit 1
`;
