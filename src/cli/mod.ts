/**
 * @module
 * The command line: ansible-playbook's flags and exit codes (0 ok, 1 error,
 * 2 a host failed, 4 unreachable or parse error, 5 bad options, 99
 * interrupted). It parses, loads, wires reporters and runs the engine; it
 * never talks to a host itself.
 */
import { Command, CommanderError, Option } from "commander";
import { DroverError } from "../core/errors.ts";
import { loadInventory } from "../inventory/mod.ts";
import { loadPlaybook } from "../playbook/load.ts";
import { Engine } from "../engine/run.ts";
import { ConsoleReporter } from "../report/console.ts";
import { JsonReporter } from "../report/json.ts";
import { parseExtraVars } from "./extra_vars.ts";
import { LocalConnection } from "../connection/local.ts";
import { makeControlDir, SshConnection } from "../connection/ssh.ts";
import type { Connection } from "../core/connection.ts";
import type { InventoryHost } from "../inventory/mod.ts";
import type { Vars } from "../template/mod.ts";
import { DROVER_VERSION } from "../version.ts";
import { fromFileUrl, projectRoot } from "./paths.ts";
import { listHosts, listTasks } from "./list.ts";
import { readPassword } from "./password.ts";

/** Parsed options. */
interface CliOptions {
  inventory?: string;
  check?: boolean;
  diff?: boolean;
  limit?: string;
  tags: string[];
  skipTags: string[];
  extraVars: string[];
  forks: string;
  verbose: number;
  listTasks?: boolean;
  listHosts?: boolean;
  syntaxCheck?: boolean;
  json?: boolean;
  askBecomePass?: boolean;
  acceptNewHostKeys?: boolean;
  timeout: string;
}

const collect = (v: string, prev: string[]) => [...prev, v];
const splitTags = (
  v: string,
  prev: string[],
) => [...prev, ...v.split(",").map((s) => s.trim()).filter(Boolean)];

function program(): Command {
  return new Command("drover")
    .description(
      "Run Ansible-style YAML playbooks with typed TypeScript roles, locally or over SSH.\nExample: deno task run playbooks/migrate.yml --check --diff",
    )
    .argument("<playbook>", "playbook file to run, e.g. playbooks/migrate.yml")
    .option(
      "-i, --inventory <path>",
      "inventory file or comma-separated hosts (default: inventory/localhost.yml), e.g. -i inventory/dev.yml",
    )
    .option("-C, --check", "change nothing; report what would change, e.g. --check")
    .option("-D, --diff", "show file and state differences of every change, e.g. --check --diff")
    .option("-l, --limit <pattern>", "only hosts matching this pattern, e.g. --limit 'web:!web3'")
    .option(
      "-t, --tags <tags>",
      "only tasks with these tags (comma-separated), e.g. --tags cleanup",
      splitTags,
      [],
    )
    .option(
      "--skip-tags <tags>",
      "skip tasks with these tags, e.g. --skip-tags firewall",
      splitTags,
      [],
    )
    .option(
      "-e, --extra-vars <vars>",
      "set variables (highest precedence): key=value, @file.yml or JSON, e.g. -e docker_cleanup=true",
      collect,
      [],
    )
    .option("-f, --forks <n>", "hosts to work on at once, e.g. --forks 20", "10")
    .option(
      "-v, --verbose",
      "more output: -v results, -vv commands, -vvv connections",
      (_v: string, prev: number) => prev + 1,
      0,
    )
    .option("--list-tasks", "list the tasks that would run, and exit")
    .option("--list-hosts", "list the hosts each play would run on, and exit")
    .option("--syntax-check", "validate the playbook, its roles and the inventory, and exit")
    .option("--json", "print one JSON event per line on stdout instead of text")
    .option(
      "-K, --ask-become-pass",
      "ask for the sudo password once (or set DROVER_BECOME_PASSWORD)",
    )
    .option(
      "--accept-new-host-keys",
      "trust unknown SSH host keys on first connection (StrictHostKeyChecking=accept-new)",
    )
    .option("-T, --timeout <seconds>", "SSH connection timeout, e.g. -T 5", "10")
    .version(DROVER_VERSION, "--version", "print drover's version")
    .helpOption("-h, --help", "show this help")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => Deno.stdout.writeSync(new TextEncoder().encode(s)),
      writeErr: () => {},
    })
    .addOption(new Option("--no-color", "never colour the output"));
}

/** Run the CLI with `argv`; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const out = (line: string) => console.log(line);
  const err = (line: string) => console.error(line);
  let opts: CliOptions & { color?: boolean };
  let playbookPath: string;
  const prog = program();
  try {
    prog.parse(["deno", "drover", ...argv]);
    opts = prog.opts() as CliOptions & { color?: boolean };
    playbookPath = prog.args[0];
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === "commander.helpDisplayed" || e.code === "commander.version" ||
        e.code === "commander.help"
      ) return 0;
      err(
        `ERROR: ${
          e.message.replace(/^error: /, "")
        } Run 'deno task run --help' for the list of options.`,
      );
      return 5;
    }
    throw e;
  }
  try {
    const forks = Number(opts.forks);
    if (!Number.isInteger(forks) || forks < 1) {
      throw new DroverError(`--forks must be a whole number ≥ 1, got '${opts.forks}'`, {
        exitCode: 5,
      });
    }
    const timeout = Number(opts.timeout);
    if (!(timeout > 0)) {
      throw new DroverError(
        `--timeout must be a positive number of seconds, got '${opts.timeout}'`,
        { exitCode: 5 },
      );
    }
    const extraVars: Vars = {};
    for (const e of opts.extraVars) Object.assign(extraVars, parseExtraVars(e));
    const invPath = opts.inventory ?? `${projectRoot()}/inventory/localhost.yml`;
    const inventory = loadInventory(invPath);
    const playbook = await loadPlaybook(playbookPath);
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
    let password = Deno.env.get("DROVER_BECOME_PASSWORD");
    if (opts.askBecomePass && password === undefined) {
      password = await readPassword("BECOME password: ");
    }
    const secret = { password };
    let controlDir: string | undefined;
    const connect = (h: InventoryHost, vars: Vars): Connection => {
      const kind = String(
        vars.ansible_connection ??
          (["localhost", "127.0.0.1", "::1"].includes(h.name) && !vars.ansible_host
            ? "local"
            : "ssh"),
      );
      if (kind === "local") return new LocalConnection(h.name, secret);
      if (kind !== "ssh") {
        throw new DroverError(`ansible_connection '${kind}' is not supported`, {
          host: h.name,
          expected: "local or ssh",
        });
      }
      controlDir ??= makeControlDir();
      return new SshConnection({
        host: h.name,
        address: String(vars.ansible_host ?? h.name),
        port: vars.ansible_port === undefined ? undefined : Number(vars.ansible_port),
        user: vars.ansible_user === undefined
          ? (vars.ansible_ssh_user === undefined ? undefined : String(vars.ansible_ssh_user))
          : String(vars.ansible_user),
        privateKey: vars.ansible_ssh_private_key_file === undefined
          ? undefined
          : String(vars.ansible_ssh_private_key_file),
        commonArgs: vars.ansible_ssh_common_args === undefined
          ? undefined
          : String(vars.ansible_ssh_common_args),
        extraArgs: vars.ansible_ssh_extra_args === undefined
          ? undefined
          : String(vars.ansible_ssh_extra_args),
      }, {
        controlDir,
        connectTimeout: timeout,
        acceptNewHostKeys: !!opts.acceptNewHostKeys,
        secret,
      });
    };
    const color = opts.color !== false && !Deno.env.get("NO_COLOR") && Deno.stdout.isTerminal() &&
      !opts.json;
    const reporter = opts.json
      ? new JsonReporter(out)
      : new ConsoleReporter({ verbosity: opts.verbose, color, diff: !!opts.diff, write: out });
    const engine = new Engine(inventory, playbook, {
      check: !!opts.check,
      diff: !!opts.diff,
      forks,
      tags: opts.tags,
      skipTags: opts.skipTags,
      limit: opts.limit,
      extraVars,
      args: argv,
      connect,
    }, reporter.on);
    const onInt = () => engine.interrupt();
    Deno.addSignalListener("SIGINT", onInt);
    try {
      const summary = await engine.run();
      return summary.exitCode;
    } finally {
      Deno.removeSignalListener("SIGINT", onInt);
      if (controlDir) await Deno.remove(controlDir, { recursive: true }).catch(() => {});
    }
  } catch (e) {
    if (e instanceof DroverError) {
      err(`ERROR! ${e.format()}`);
      return e.exitCode;
    }
    err(
      `ERROR! internal error: ${
        e instanceof Error ? e.message : String(e)
      }. This is a bug in drover; run with DROVER_DEBUG=1 for details.`,
    );
    if (Deno.env.get("DROVER_DEBUG")) err(String((e as Error).stack));
    return 1;
  }
}

export { fromFileUrl };
