/**
 * @module
 * Runs `sh` locally with a script on stdin. Shared by the local connection
 * and the ssh connection (which runs `ssh … sh` the same way).
 */
import type { ExecResult } from "../core/connection.ts";

/** Spawn `argv`, write `stdin` to it, collect output. */
export async function spawnWithStdin(
  argv: readonly string[],
  stdin: string,
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<ExecResult & { timedOut: boolean }> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  }).spawn();
  let timedOut = false;
  const timer = options.timeoutMs
    ? setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, options.timeoutMs)
    : undefined;
  const writer = child.stdin.getWriter();
  try {
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  } catch {
    // The child exited before reading all input; its status tells why.
  }
  const out = await child.output();
  if (timer) clearTimeout(timer);
  const dec = new TextDecoder();
  return {
    rc: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    timedOut,
  };
}
