/**
 * @module
 * The command line: ansible-playbook's flags and exit codes (0 ok, 1 error,
 * 2 a host failed, 4 unreachable or parse error, 5 bad options, 99
 * interrupted). It parses, loads, wires reporters and runs the engine; it
 * never talks to a host itself.
 */
// First: zod's settings hold for the schemas built when the modules below are evaluated.
import "../core/zod_setup.ts";
import { CommanderError } from "commander";
import { DroverError } from "../core/errors.ts";
import { loadInventory } from "../inventory/mod.ts";
import { loadPlaybook } from "../playbook/load.ts";
import type { Engine } from "../engine/run.ts";
import { ConsoleReporter, logUpdateArea, type TtyStream } from "../report/console.ts";
import type { HtmlReporter, PlannedCheck } from "../report/html.ts";
import { plannedChecks } from "./checks.ts";
import { parseExtraVars } from "./extra_vars.ts";
import type { Connection } from "../core/connection.ts";
import type { EngineEvent } from "../core/events.ts";
import type { InventoryHost } from "../inventory/mod.ts";
import type { Vars } from "../template/mod.ts";
import { fromFileUrl, projectRoot } from "./paths.ts";
import { listHosts, listTasks } from "./list.ts";
import { type CliOptions, fromCommanderError, program } from "./options.ts";
import type { traceConnection } from "./trace.ts";

// What only a run needs (the engine, connections, locks, reporters other
// than the console's, the event schema) is imported when it is needed, so
// that --syntax-check, --list-tasks and --list-hosts start quickly.

/** Run the CLI with `argv`; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const out = (line: string) => console.log(line);
  const err = (line: string) => console.error(line);
  let opts: CliOptions;
  let playbookPath: string;
  const prog = program();
  try {
    prog.parse(["deno", "drover", ...argv]);
    opts = prog.opts() as CliOptions;
    playbookPath = prog.args[0];
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === "commander.helpDisplayed" || e.code === "commander.version" ||
        e.code === "commander.help"
      ) return 0;
      err(`ERROR! ${fromCommanderError(e).format()}`);
      return 5;
    }
    throw e;
  }
  const t0 = Date.now();
  let engine: Engine | undefined;
  const sinks: ((e: EngineEvent) => void)[] = [];
  const emit = (e: EngineEvent) => {
    for (const s of sinks) s(e);
  };
  let consoleReporter: ConsoleReporter | undefined;
  let html: HtmlReporter | undefined;
  let runEnded = false;
  sinks.push((e) => {
    if (e.type === "run_end") runEnded = true;
  });
  // Tests set this so that every event of every run is checked against the schema.
  if (Deno.env.get("DROVER_VALIDATE_EVENTS") === "1") sinks.unshift(await eventValidator());
  try {
    const invPath = opts.inventory ?? `${projectRoot()}/inventory/localhost.yml`;
    const json = !!opts.json;
    if (json) {
      const { JsonReporter } = await import("../report/json.ts");
      sinks.push(new JsonReporter(out).on);
    } else {
      const tty = Deno.stdout.isTerminal() && Deno.env.get("TERM") !== "dumb";
      const color = opts.color !== false && !Deno.env.get("NO_COLOR") && tty;
      consoleReporter = new ConsoleReporter({
        verbosity: opts.verbose,
        color,
        diff: !!opts.diff,
        write: out,
        live: tty ? await logUpdateArea(stdoutStream()) : undefined,
        columns: terminalColumns,
      });
      sinks.push(consoleReporter.on);
    }
    const reportMeta: { inventory: string; plannedChecks?: PlannedCheck[] } = {
      inventory: opts.inventory ?? "inventory/localhost.yml",
    };
    if (opts.report !== undefined) {
      checkWritable(opts.report);
      const { HtmlReporter } = await import("../report/html.ts");
      html = new HtmlReporter(reportMeta);
      sinks.push(html.on);
    }
    const forks = Number(opts.forks);
    if (!Number.isInteger(forks) || forks < 1) {
      throw new DroverError(`--forks must be a whole number ≥ 1, got '${opts.forks}'`, {
        exitCode: 5,
        hint: "e.g. --forks 20",
      });
    }
    const timeout = Number(opts.timeout);
    if (!(timeout > 0)) {
      throw new DroverError(
        `--timeout must be a positive number of seconds, got '${opts.timeout}'`,
        { exitCode: 5, hint: "e.g. -T 5" },
      );
    }
    const extraVars: Vars = {};
    for (const e of opts.extraVars) Object.assign(extraVars, parseExtraVars(e));
    const inventory = loadInventory(invPath);
    const playbook = await loadPlaybook(playbookPath);
    reportMeta.plannedChecks = plannedChecks(playbook);
    if (opts.syntaxCheck) {
      out(`playbook: ${playbookPath}`);
      return 0;
    }
    if (opts.listHosts) {
      listHosts(playbook, inventory, opts.limit).forEach((l) => out(l));
      return 0;
    }
    if (opts.listTasks) {
      listTasks(playbook, opts.tags, opts.skipTags).forEach((l) => out(l));
      return 0;
    }
    const [
      { Engine },
      { holderInfo, withHostLock },
      { LocalConnection },
      { makeControlDir, sshArgs, SshConnection },
      { commandLine },
      { traceConnection },
      { FACTS_SCRIPT },
    ] = await Promise.all([
      import("../engine/run.ts"),
      import("../engine/lock.ts"),
      import("../connection/local.ts"),
      import("../connection/ssh.ts"),
      import("../connection/become.ts"),
      import("./trace.ts"),
      import("../facts/mod.ts"),
    ]);
    let password = Deno.env.get("DROVER_BECOME_PASSWORD");
    if (opts.askBecomePass && password === undefined) {
      const { readPassword } = await import("./password.ts");
      password = await readPassword("BECOME password: ");
    }
    const secret = { password };
    const lockTimeout = Number(opts.lockTimeout);
    if (!(lockTimeout >= 0)) {
      throw new DroverError(
        `--lock-timeout must be a number of seconds, got '${opts.lockTimeout}'`,
        { exitCode: 5, hint: "e.g. --lock-timeout 300" },
      );
    }
    const holder = holderInfo(playbookPath);
    // One lock per machine: inventory hosts that reach the same machine in
    // one run (several local hosts, aliases of one address) share the first
    // one's lock instead of waiting for it.
    const lockedMachines = new Set<string>();
    const lock = (
      c: Connection,
      machine: string,
      spawn: (words: readonly string[]) => readonly string[],
    ): Connection => {
      if (lockedMachines.has(machine)) return c;
      lockedMachines.add(machine);
      return withHostLock(c, {
        spawn,
        timeoutS: lockTimeout,
        holder,
        password,
        onWait: (msg) => engine?.emit({ type: "warning", host: c.host, msg }),
        prefetch: FACTS_SCRIPT,
      });
    };
    const sshPersist = Number(opts.sshPersist);
    if (!(Number.isInteger(sshPersist) && sshPersist >= 0)) {
      throw new DroverError(
        `--ssh-persist must be a whole number of seconds, got '${opts.sshPersist}'`,
        { exitCode: 5, hint: "e.g. --ssh-persist 60 (0 closes the connections at the end)" },
      );
    }
    let control: { dir: string; shared: boolean } | undefined;
    const trace = (c: Connection, info: Parameters<typeof traceConnection>[2]): Connection =>
      opts.verbose >= 2
        ? traceConnection(c, (e) => engine?.emit(e), opts.verbose >= 3 ? info : undefined)
        : c;
    const connect = (h: InventoryHost, vars: Vars): Connection => {
      const kind = String(
        vars.ansible_connection ??
          (["localhost", "127.0.0.1", "::1"].includes(h.name) && !vars.ansible_host
            ? "local"
            : "ssh"),
      );
      if (kind === "local") {
        return trace(lock(new LocalConnection(h.name, secret), "local", (w) => w), {
          kind: "local",
        });
      }
      if (kind !== "ssh") {
        throw new DroverError(`ansible_connection '${kind}' is not supported`, {
          host: h.name,
          expected: "local or ssh",
        });
      }
      control ??= makeControlDir(sshPersist > 0);
      const str = (v: unknown) => (v === undefined ? undefined : String(v));
      const target = {
        host: h.name,
        address: String(vars.ansible_host ?? h.name),
        port: vars.ansible_port === undefined ? undefined : Number(vars.ansible_port),
        user: str(vars.ansible_user) ?? str(vars.ansible_ssh_user),
        privateKey: str(vars.ansible_ssh_private_key_file),
        commonArgs: str(vars.ansible_ssh_common_args),
        extraArgs: str(vars.ansible_ssh_extra_args),
      };
      const options: Record<string, string> = { connect_timeout: `${timeout}s` };
      if (target.privateKey) options.identity_file = target.privateKey;
      if (target.commonArgs) options.ssh_common_args = target.commonArgs;
      if (target.extraArgs) options.ssh_extra_args = target.extraArgs;
      options.host_keys = opts.acceptNewHostKeys ? "accept-new" : "known_hosts only";
      const sshOptions = {
        controlDir: control.dir,
        persistS: control.shared ? sshPersist : 0,
        connectTimeout: timeout,
        acceptNewHostKeys: !!opts.acceptNewHostKeys,
        secret,
      };
      return trace(
        lock(
          new SshConnection(target, sshOptions),
          `ssh:${target.user ?? ""}@${target.address}:${target.port ?? 22}`,
          (w) => ["ssh", ...sshArgs(target, sshOptions), commandLine(w)],
        ),
        { kind: "ssh", address: target.address, port: target.port, user: target.user, options },
      );
    };
    engine = new Engine(inventory, playbook, {
      check: !!opts.check,
      diff: !!opts.diff,
      forks,
      tags: opts.tags,
      skipTags: opts.skipTags,
      limit: opts.limit,
      extraVars,
      args: argv,
      connect,
    }, emit);
    const onInt = () => engine?.interrupt();
    Deno.addSignalListener("SIGINT", onInt);
    try {
      const summary = await engine.run();
      return summary.exitCode;
    } finally {
      Deno.removeSignalListener("SIGINT", onInt);
      if (control && !control.shared) {
        await Deno.remove(control.dir, { recursive: true }).catch(() => {});
      }
    }
  } catch (e) {
    let code: number;
    let msg: string;
    if (e instanceof DroverError) {
      code = e.exitCode;
      msg = e.format();
    } else {
      code = 1;
      msg = `internal error: ${
        e instanceof Error ? e.message : String(e)
      }. This is a bug in drover; run with DROVER_DEBUG=1 for details.`;
    }
    if (engine) msg = engine.redactor.scrub(msg);
    consoleReporter?.close();
    err(`ERROR! ${msg}`);
    if (!(e instanceof DroverError) && Deno.env.get("DROVER_DEBUG")) {
      err(String((e as Error).stack));
    }
    if (!runEnded) {
      emit({ type: "error", msg, exitCode: code });
      emit({ type: "run_end", exitCode: code, durationMs: Date.now() - t0, interrupted: false });
    }
    return code;
  } finally {
    consoleReporter?.close();
    if (html && runEnded && opts.report !== undefined) {
      try {
        Deno.writeTextFileSync(opts.report, html.render());
        err(`report: ${opts.report}`);
      } catch (e) {
        err(`ERROR! cannot write the report to ${opts.report}: ${(e as Error).message}`);
      }
    }
  }
}

/** A sink that throws when an event does not match the schema (a bug in drover, not the user's input). */
async function eventValidator(): Promise<(e: EngineEvent) => void> {
  const { engineEventSchema } = await import("../core/events.ts");
  return (e) => {
    const r = engineEventSchema.safeParse(e);
    if (!r.success) {
      throw new Error(
        `event does not match the schema in src/core/events.ts: ${
          JSON.stringify(e)
        }: ${r.error.message}`,
      );
    }
  };
}

/** Fail early (exit 5) when the report file cannot be written, before anything runs. */
function checkWritable(path: string): void {
  try {
    const f = Deno.openSync(path, { write: true, create: true });
    f.close();
  } catch (e) {
    throw new DroverError(`--report cannot write '${path}': ${(e as Error).message}`, {
      exitCode: 5,
      expected: "a path to an HTML file in a directory that exists and is writable",
      hint: "e.g. --report /tmp/run.html",
    });
  }
}

/** The terminal's size; a pty that reports 0×0 (e.g. under `script`) counts as 80×24. */
function terminalSize(): { columns: number; rows: number } {
  try {
    const { columns, rows } = Deno.consoleSize();
    return { columns: columns || 80, rows: rows || 24 };
  } catch {
    return { columns: 80, rows: 24 };
  }
}

function terminalColumns(): number {
  return terminalSize().columns;
}

/** stdout as a terminal stream for log-update. */
function stdoutStream(): TtyStream {
  const enc = new TextEncoder();
  return {
    isTTY: true,
    get columns() {
      return terminalColumns();
    },
    get rows() {
      return terminalSize().rows;
    },
    write(text: string) {
      let b = enc.encode(text);
      while (b.length > 0) b = b.subarray(Deno.stdout.writeSync(b));
    },
  };
}

export { fromFileUrl };
