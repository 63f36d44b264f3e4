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
import {
  defineModule,
  type ModuleContext,
  type ModuleResult,
  readHost,
  type ReadPlanContext,
  type ReadRequest,
} from "../core/module.ts";
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

function guardScript(a: { creates?: string; removes?: string }): string | undefined {
  if (!a.creates && !a.removes) return undefined;
  return `${a.creates ? `[ -e ${shq(a.creates)} ] && echo creates\n` : ""}${
    a.removes ? `[ -e ${shq(a.removes)} ] || echo removes\n` : ""
  }true\n`;
}

/** Would creates/removes let the command run? Returns the path that says no, if one does. */
async function guard(
  ctx: ModuleContext,
  a: { creates?: string; removes?: string },
): Promise<{ path: string; state: "exists" | "does not exist" } | undefined> {
  const script = guardScript(a);
  if (script === undefined) return undefined;
  const r = await readHost(ctx, script);
  if (r.stdout.includes("creates")) return { path: a.creates!, state: "exists" };
  if (r.stdout.includes("removes")) return { path: a.removes!, state: "does not exist" };
  return undefined;
}

/** The script a command runs as, without stdin (the form batched as a read). */
function commandBody(script: string, a: { chdir?: string }): string {
  return `${a.chdir ? `cd ${shq(a.chdir)} || exit 1\n` : ""}${script} </dev/null\n`;
}

/**
 * A task that says it changes nothing (`changed_when: false`, `check_mode:
 * false`) and has no stdin or creates/removes runs as a read, batched with
 * other reads. The read it makes, for {@linkcode Module.reads}.
 */
function commandReads(
  script: string | undefined,
  a: { chdir?: string; stdin?: string; creates?: string; removes?: string },
  rc: ReadPlanContext,
): ReadRequest[] {
  const guard = guardScript(a);
  if (guard !== undefined) return [{ script: guard }];
  if (script === undefined || !rc.readOnly || rc.check || a.stdin !== undefined) return [];
  return [{ script: commandBody(script, a) }];
}

async function runScript(
  ctx: ModuleContext,
  script: string,
  a: { chdir?: string; stdin?: string },
  cmd: string | readonly string[],
): Promise<ModuleResult> {
  let body: string;
  if (a.stdin !== undefined) {
    const tag = "DROVER_STDIN_" + crypto.randomUUID().replaceAll("-", "");
    body = `${
      a.chdir ? `cd ${shq(a.chdir)} || exit 1\n` : ""
    }${script} <<'${tag}'\n${a.stdin}\n${tag}\n`;
  } else body = commandBody(script, a);
  const start = Date.now();
  const r = ctx.readOnly && a.stdin === undefined ? await readHost(ctx, body) : await ctx.sh(body);
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

/**
 * What `command` and `shell` share: skip when creates/removes say so, predict
 * in check mode, else run `script` (`cmd` is what the user sees).
 */
async function execute(
  ctx: ModuleContext,
  script: string,
  a: { creates?: string; removes?: string; chdir?: string; stdin?: string },
  cmd: string | readonly string[],
): Promise<ModuleResult> {
  const skip = await guard(ctx, a);
  if (skip) {
    // Ansible's result: rc 0, the reason in stdout (and msg), not a change.
    const stdout = `skipped, since ${skip.path} ${skip.state}`;
    return {
      changed: false,
      msg: `${ctx.check ? "Would" : "Did"} not run command since '${skip.path}' ${skip.state}`,
      data: { rc: 0, stdout, stderr: "", stdout_lines: [stdout], stderr_lines: [], cmd },
    };
  }
  if (ctx.check) {
    // Ansible runs nothing in check mode: a change when creates/removes say it would run,
    // else a skip.
    const guarded = a.creates !== undefined || a.removes !== undefined;
    return {
      changed: guarded,
      skipped: !guarded,
      msg: "Command would have run if not in check mode",
      data: { rc: 0, stdout: "", stderr: "", stdout_lines: [], stderr_lines: [], cmd },
    };
  }
  return await runScript(ctx, script, a, cmd);
}

function shellScript(cmd: string, executable: string | undefined): string {
  return executable && !/(^|\/)sh$/.test(executable)
    ? `${shq(executable)} -c ${shq(cmd)}`
    : `(\n${cmd}\n)`;
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
  reads: (a, rc) => {
    const words = a.argv ?? (a.cmd === undefined ? undefined : shlexSplit(a.cmd));
    return commandReads(words && `exec ${words.map(shq).join(" ")}`, a, rc);
  },
  async run(ctx, a) {
    const words = a.argv ?? shlexSplit(a.cmd!);
    return await execute(ctx, `exec ${words.map(shq).join(" ")}`, a, words);
  },
});

/** The `shell` module: the command runs in `sh` (pipes, redirects, variables). */
export const shell = defineModule({
  name: "shell",
  doc: "Run a command in the host's shell (pipes, redirects); use creates/removes for idempotence.",
  freeForm: "cmd",
  args: z.object({ cmd: str(), ...common }).strict(),
  reads: (a, rc) =>
    commandReads(a.cmd === undefined ? undefined : shellScript(a.cmd, a.executable), a, rc),
  async run(ctx, a) {
    return await execute(ctx, shellScript(a.cmd, a.executable), a, a.cmd);
  },
});
