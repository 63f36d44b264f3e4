/**
 * @module
 * Lab helpers for tests: bring the lab up (idempotent, fast when warm) and
 * run commands on its hosts.
 */
import { ROOT } from "./helpers.ts";

/** The lab's inventory, written by `lab.sh up`. */
export const LAB_INVENTORY = "/var/lib/drover-lab/inventory.yml";

let upPromise: Promise<void> | undefined;

/** `lab.sh up N` once per test process. */
export function labUp(n = 3): Promise<void> {
  upPromise ??= (async () => {
    const r = await new Deno.Command("bash", {
      args: [`${ROOT}/test/lab/lab.sh`, "up", String(n)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (r.code !== 0) {
      throw new Error(`lab up failed: ${new TextDecoder().decode(r.stderr).slice(-2000)}`);
    }
  })();
  return upPromise;
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
