/**
 * @module
 * drover's flags, each with a one-line meaning and an example: the one table
 * that builds the commander program, its `--help`, and the one-paragraph
 * errors (with the nearest flag suggested) for a bad command line.
 */
import { Command, CommanderError, Option } from "commander";
import { didYouMean, DroverError } from "../core/errors.ts";
import { DROVER_VERSION } from "../version.ts";

/** Parsed options. */
export interface CliOptions {
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
  report?: string;
  askBecomePass?: boolean;
  acceptNewHostKeys?: boolean;
  timeout: string;
  lockTimeout: string;
  sshPersist: string;
  color?: boolean;
}

/** One flag: commander's flags string, its meaning (one line) and an example. */
export interface Flag {
  readonly flags: string;
  readonly meaning: string;
  readonly example: string;
}

const collect = (v: string, prev: string[]) => [...prev, v];
const splitTags = (
  v: string,
  prev: string[],
) => [...prev, ...v.split(",").map((s) => s.trim()).filter(Boolean)];
const count = (_v: string, prev: number) => prev + 1;

/** Every flag drover accepts, in the order `--help` lists them. */
export const FLAGS: readonly (Flag & {
  readonly parse?: (v: string, prev: never) => unknown;
  readonly initial?: unknown;
})[] = [
  {
    flags: "-i, --inventory <path>",
    meaning: "inventory file, or comma-separated hosts (default: inventory/localhost.yml)",
    example: "-i inventory/dev.yml",
  },
  {
    flags: "-C, --check",
    meaning: "change nothing; report what would change",
    example: "--check",
  },
  {
    flags: "-D, --diff",
    meaning: "show the file and state differences of every change",
    example: "--check --diff",
  },
  {
    flags: "-l, --limit <pattern>",
    meaning: "only the hosts matching this pattern",
    example: "--limit 'web:!web3'",
  },
  {
    flags: "-t, --tags <tags>",
    meaning: "only tasks with these tags (comma-separated, repeatable)",
    example: "--tags cleanup",
    parse: splitTags,
    initial: [],
  },
  {
    flags: "--skip-tags <tags>",
    meaning: "skip tasks with these tags",
    example: "--skip-tags firewall",
    parse: splitTags,
    initial: [],
  },
  {
    flags: "-e, --extra-vars <vars>",
    meaning: "set variables (highest precedence): key=value, @file.yml or JSON; repeatable",
    example: "-e docker_cleanup=true -e @test/lab/migrate-vars.yml",
    parse: collect,
    initial: [],
  },
  {
    flags: "-f, --forks <n>",
    meaning: "how many hosts to work on at once (default 10)",
    example: "--forks 20",
    initial: "10",
  },
  {
    flags: "-v, --verbose",
    meaning: "more output: -v module results, -vv commands sent to hosts, -vvv connections",
    example: "-vv",
    parse: count,
    initial: 0,
  },
  {
    flags: "--list-tasks",
    meaning: "list the tasks that would run, and exit",
    example: "--list-tasks --tags cleanup",
  },
  {
    flags: "--list-hosts",
    meaning: "list the hosts each play would run on, and exit",
    example: "--list-hosts --limit lab1",
  },
  {
    flags: "--syntax-check",
    meaning: "validate the playbook, its roles and the inventory, and exit",
    example: "--syntax-check",
  },
  {
    flags: "--json",
    meaning: "print one JSON event per line on stdout instead of text (docs/json-events.md)",
    example: "--json > run.jsonl",
  },
  {
    flags: "--report <file.html>",
    meaning: "also write a self-contained HTML report of the run to this file",
    example: "--report verify.html",
  },
  {
    flags: "-K, --ask-become-pass",
    meaning: "ask for the sudo password once (or set DROVER_BECOME_PASSWORD)",
    example: "-K",
  },
  {
    flags: "--accept-new-host-keys",
    meaning: "trust unknown SSH host keys on first connection (StrictHostKeyChecking=accept-new)",
    example: "--accept-new-host-keys",
  },
  {
    flags: "-T, --timeout <seconds>",
    meaning: "SSH connection timeout in seconds (default 10)",
    example: "-T 5",
    initial: "10",
  },
  {
    flags: "--lock-timeout <seconds>",
    meaning: "wait this long for another drover run on the same host to end (default 60)",
    example: "--lock-timeout 300",
    initial: "60",
  },
  {
    flags: "--ssh-persist <seconds>",
    meaning: "keep SSH connections this long for the next run, as ControlPersist (default 0)",
    example: "--ssh-persist 60",
    initial: "0",
  },
  {
    flags: "--no-color",
    meaning: "never colour the output (as does NO_COLOR=1)",
    example: "--no-color",
  },
];

const VERSION_FLAG: Flag = {
  flags: "--version",
  meaning: "print drover's version, and exit",
  example: "--version",
};
const HELP_FLAG: Flag = { flags: "-h, --help", meaning: "show this help", example: "--help" };

/** The long and short spellings of every flag (`--check`, `-C`, ...). */
export function flagNames(): string[] {
  return [...FLAGS, VERSION_FLAG, HELP_FLAG].flatMap((f) =>
    f.flags.split(/[ ,]+/).filter((w) => w.startsWith("-"))
  );
}

const describe = (f: Flag) => `${f.meaning}\ne.g. ${f.example}`;

const AFTER_HELP = `
Examples:
  deno task run playbooks/migrate.yml --check --diff     dry run of the migration on this machine
  deno task run playbooks/migrate.yml -i inventory/dev.yml -e @vars.yml
  deno task run playbooks/verify.yml --report verify.html
  deno task run playbooks/site.yml --json | grep host_result

Exit codes: 0 ok, 1 error, 2 a host failed, 4 a host unreachable or a parse error,
5 bad options, 99 interrupted.`;

/** The commander program (it throws instead of exiting, and prints no error itself). */
export function program(): Command {
  const cmd = new Command("drover")
    .usage("[options] <playbook>")
    .description(
      "Run Ansible-style YAML playbooks with typed TypeScript roles, on this machine or over SSH.\n" +
        "Same as: deno task run [options] <playbook>",
    )
    .argument("<playbook>", "playbook file to run, e.g. playbooks/migrate.yml");
  for (const f of FLAGS) {
    const o = new Option(f.flags, describe(f));
    if (f.parse) o.argParser(f.parse as (v: string, prev: unknown) => unknown);
    if (f.initial !== undefined) o.default(f.initial);
    cmd.addOption(o);
  }
  return cmd
    .version(DROVER_VERSION, VERSION_FLAG.flags, describe(VERSION_FLAG))
    .helpOption(HELP_FLAG.flags, describe(HELP_FLAG))
    .configureHelp({
      sortOptions: false,
      // Defaults are in the meanings; commander's "(default: [])" would follow the example.
      optionDescription: (o) => o.description,
      helpWidth: Math.max(110, columns()),
    })
    .addHelpText("after", AFTER_HELP)
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => writeAll(Deno.stdout, s),
      writeErr: () => {},
    });
}

function columns(): number {
  try {
    return Deno.stdout.isTerminal() ? Deno.consoleSize().columns : 0;
  } catch {
    return 0;
  }
}

function writeAll(f: { writeSync(p: Uint8Array): number }, s: string): void {
  let b = new TextEncoder().encode(s);
  while (b.length > 0) b = b.subarray(f.writeSync(b));
}

const HELP_HINT = "'deno task run --help' lists every option with an example";

/** Find the flag whose spelling is `name` (`--check`, `-C`). */
function flagOf(name: string): Flag | undefined {
  return [...FLAGS, VERSION_FLAG, HELP_FLAG].find((f) =>
    f.flags.split(/[ ,]+/).includes(name) || f.flags.split(/[ ,]+/).includes(`--${name}`)
  );
}

/**
 * A commander parse error as a one-paragraph {@linkcode DroverError} (exit 5):
 * what was wrong, what was expected, a hint (the nearest flag for a typo).
 *
 * @example
 * ```ts
 * import { CommanderError } from "commander";
 * import { fromCommanderError } from "./options.ts";
 * const e = fromCommanderError(
 *   new CommanderError(1, "commander.unknownOption", "error: unknown option '--chek'"),
 * );
 * e.format(); // "unknown option '--chek'. Expected one of drover's options. Hint: did you mean '--check' (...)? ..."
 * ```
 */
export function fromCommanderError(e: CommanderError): DroverError {
  const msg = e.message.replace(/^error: /, "").split("\n")[0];
  const quoted = /'([^']+)'/.exec(msg)?.[1];
  switch (e.code) {
    case "commander.unknownOption": {
      const given = (quoted ?? "").split("=")[0];
      const near = didYouMean(given, flagNames().filter((n) => n.startsWith("--"))) ??
        (given.length === 2 ? flagNames().find((n) => n === given.toUpperCase()) : undefined);
      return new DroverError(`unknown option '${given}'`, {
        exitCode: 5,
        expected: "one of drover's options",
        hint: near ? `did you mean '${near}' (${flagOf(near)?.meaning})? ${HELP_HINT}` : HELP_HINT,
      });
    }
    case "commander.missingArgument":
      return new DroverError("no playbook given", {
        exitCode: 5,
        expected: "a playbook file to run: deno task run PLAYBOOK [options]",
        hint: `e.g. deno task run playbooks/site.yml --check; ${HELP_HINT}`,
      });
    case "commander.optionMissingArgument": {
      const f = quoted ? FLAGS.find((x) => x.flags === quoted) : undefined;
      const long = f?.flags.match(/--[\w-]+/)?.[0] ?? quoted ?? "the option";
      const value = f?.flags.match(/<[^>]+>/)?.[0] ?? "a value";
      return new DroverError(`option '${long}' needs a value`, {
        exitCode: 5,
        expected: `${long} ${value}${f ? `: ${f.meaning}` : ""}`,
        hint: f ? `e.g. ${f.example}` : HELP_HINT,
      });
    }
    case "commander.excessArguments":
      return new DroverError("more than one playbook given", {
        exitCode: 5,
        expected: "one playbook per run; options start with '-'",
        hint: `quote a value that contains spaces (e.g. -e 'msg=hello world'); ${HELP_HINT}`,
      });
    case "commander.invalidArgument":
    case "commander.conflictingOption":
    default:
      return new DroverError(msg, { exitCode: 5, hint: HELP_HINT });
  }
}
