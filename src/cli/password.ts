/**
 * @module
 * Reads a password from the terminal without echo (for -K).
 */
import { DroverError } from "../core/errors.ts";

/** Prompt on stderr, read one line from the TTY with echo off. */
export async function readPassword(prompt: string): Promise<string> {
  if (!Deno.stdin.isTerminal()) {
    throw new DroverError("-K needs a terminal to ask for the password", {
      exitCode: 5,
      hint: "set DROVER_BECOME_PASSWORD for non-interactive runs",
    });
  }
  const enc = new TextEncoder();
  Deno.stderr.writeSync(enc.encode(prompt));
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  try {
    while (true) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      const c = buf[0];
      if (c === 3) throw new DroverError("interrupted", { exitCode: 99 });
      if (c === 13 || c === 10) break;
      if (c === 127 || c === 8) bytes.pop();
      else bytes.push(c);
    }
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(enc.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
