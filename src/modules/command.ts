/**
 * @module
 * `command` and `shell`: run a command; `creates`/`removes` make it
 * idempotent; reported as changed unless `changed_when` says otherwise.
 *
 * @example
 * ```yaml
 * - command: alloy --version
 *   register: v
 *   changed_when: false
 *   check_mode: false
 * ```
 */
import { z } from "zod";
import { defineModule, type ModuleContext, type ModuleResult } from "../core/module.ts";
import { list, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";

/** Split a command line like Python's shlex (quotes and backslashes). Pure. */
export function shlexSplit(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) throw new Error("unterminated single quote");
      cur += s.slice(i + 1, j);
      i = j;
      inWord = true;
    } else if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === "\\" && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) i++;
        cur += s[i++];
      }
      if (i >= s.length) throw new Error("unterminated double quote");
      inWord = true;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

const common = {
  creates: str().optional(),
  removes: str().optional(),
  chdir: str().optional(),
  stdin: str().optional(),
  executable: str().optional(),
};

/** Would creates/removes let the command run? Returns a skip message if not. */
async function guard(
  ctx: ModuleContext,
  a: { creates?: string; removes?: string },
): Promise<string | undefined> {
  if (!a.creates && !a.removes) return undefined;
  const r = await ctx.sh(
    `${a.creates ? `[ -e ${shq(a.creates)} ] && echo creates\n` : ""}${
      a.removes ? `[ -e ${shq(a.removes)} ] || echo removes\n` : ""
    }true\n`,
  );
  if (r.stdout.includes("creates")) return `skipped, since ${a.creates} exists`;
  if (r.stdout.includes("removes")) return `skipped, since ${a.removes} does not exist`;
  return undefined;
}

async function runScript(
  ctx: ModuleContext,
  script: string,
  a: { chdir?: string; stdin?: string },
  cmd: string,
): Promise<ModuleResult> {
  let body = a.chdir ? `cd ${shq(a.chdir)} || exit 1\n` : "";
  if (a.stdin !== undefined) {
    const tag = "DROVER_STDIN_" + crypto.randomUUID().replaceAll("-", "");
    body += `${script} <<'${tag}'\n${a.stdin}\n${tag}\n`;
  } else body += `${script} </dev/null\n`;
  const start = Date.now();
  const r = await ctx.sh(body);
  const stdout = r.stdout.replace(/\n$/, "");
  const stderr = r.stderr.replace(/\n$/, "");
  return {
    changed: true,
    failed: r.rc !== 0,
    msg: r.rc !== 0
      ? `non-zero return code ${r.rc}${stderr ? `: ${stderr.split("\n").slice(-3).join(" ")}` : ""}`
      : undefined,
    data: {
      rc: r.rc,
      stdout,
      stderr,
      stdout_lines: stdout === "" ? [] : stdout.split("\n"),
      stderr_lines: stderr === "" ? [] : stderr.split("\n"),
      cmd,
      delta: `${((Date.now() - start) / 1000).toFixed(3)}s`,
    },
  };
}

/** The `command` module: no shell features; words are passed as they are. */
export const command = defineModule({
  name: "command",
  doc:
    "Run a command without a shell (no pipes or redirects); use creates/removes for idempotence.",
  freeForm: "cmd",
  args: z.object({ cmd: str().optional(), argv: list(str()).optional(), ...common }).strict()
    .refine((a) => (a.cmd === undefined) !== (a.argv === undefined), {
      message: "give exactly one of 'cmd' (free form) or 'argv'",
    }),
  async run(ctx, a) {
    const skip = await guard(ctx, a);
    if (skip) {
      return {
        changed: false,
        msg: skip,
        data: { rc: 0, stdout: "", stderr: "", stdout_lines: [], stderr_lines: [] },
      };
    }
    const words = a.argv ?? shlexSplit(a.cmd!);
    if (ctx.check) return { changed: true, msg: `would run: ${words.join(" ")}` };
    return await runScript(ctx, `exec ${words.map(shq).join(" ")}`, a, words.join(" "));
  },
});

/** The `shell` module: the command runs in `sh` (pipes, redirects, variables). */
export const shell = defineModule({
  name: "shell",
  doc: "Run a command in the host's shell (pipes, redirects); use creates/removes for idempotence.",
  freeForm: "cmd",
  args: z.object({ cmd: str(), ...common }).strict(),
  async run(ctx, a) {
    const skip = await guard(ctx, a);
    if (skip) {
      return {
        changed: false,
        msg: skip,
        data: { rc: 0, stdout: "", stderr: "", stdout_lines: [], stderr_lines: [] },
      };
    }
    if (ctx.check) return { changed: true, msg: `would run: ${a.cmd}` };
    const script = a.executable && !/(^|\/)sh$/.test(a.executable)
      ? `${shq(a.executable)} -c ${shq(a.cmd)}`
      : `(\n${a.cmd}\n)`;
    return await runScript(ctx, script, a, a.cmd);
  },
});
