/**
 * @module
 * `deno task docs`: writes each role's variable reference (name, type,
 * default, description), generated from the role's zod schema, into
 * `roles/<name>/README.md` between two markers; prose outside the markers is
 * kept. `deno task docs --check` writes nothing and exits 1 when a README is
 * stale (test/docs_test.ts does the same check in CI). A variable without a
 * description is an error.
 *
 * @example
 * ```ts
 * import { varsTable } from "./docs.ts";
 * import { z } from "zod";
 * varsTable(z.object({ port: z.number().int().default(4317).describe("OTLP gRPC port") }));
 * // "| name | type | default | description |\n|---|---|---|---|\n| `port` | integer | `4317` | OTLP gRPC port |"
 * ```
 */
import type { z } from "zod";
import { toFileUrl } from "../core/path.ts";
import type { RoleDefinition } from "../role.ts";
import { DroverError } from "../core/errors.ts";
import { projectRoot } from "./paths.ts";

/** The first line of the generated section. */
export const BEGIN =
  "<!-- BEGIN generated variables: `deno task docs` writes this section from the role's zod schema; do not edit -->";
/** The last line of the generated section. */
export const END = "<!-- END generated variables -->";

/** One variable of a role, as documented. */
export interface VarDoc {
  readonly name: string;
  readonly type: string;
  /** The default as JSON, or undefined when the variable is required. */
  readonly default?: string;
  readonly description?: string;
}

// deno-lint-ignore no-explicit-any
type Def = { type: string; [k: string]: any };

function defOf(s: z.ZodType): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

function descOf(s: z.ZodType): string | undefined {
  return (s as unknown as { description?: string }).description;
}

/** A readable type of a zod schema: `string`, `integer`, `list of string`, `"a" | "b"`. */
export function typeLabel(s: z.ZodType): string {
  const d = defOf(s);
  switch (d.type) {
    case "default":
    case "prefault":
    case "optional":
    case "nullable":
    case "readonly":
    case "catch":
    case "nonoptional":
      return typeLabel(d.innerType);
    case "pipe":
      // Preprocess wrappers (str(), int(), bool(), list()): the output side is the type.
      return defOf(d.out).type === "transform" ? typeLabel(d.in) : typeLabel(d.out);
    case "string":
      return "string";
    case "number": {
      const bag = (s as unknown as { _zod: { bag?: { format?: string } } })._zod.bag;
      const isInt = (s as unknown as { isInt?: boolean }).isInt ||
        /int/.test(bag?.format ?? "");
      return isInt ? "integer" : "number";
    }
    case "int":
      return "integer";
    case "boolean":
      return "boolean";
    case "enum":
      return Object.values(d.entries as Record<string, string>).map((v) => JSON.stringify(v))
        .join(" \\| ");
    case "literal":
      return (d.values as unknown[]).map((v) => JSON.stringify(v)).join(" \\| ");
    case "array":
      return `list of ${typeLabel(d.element)}`;
    case "object":
    case "record":
      return "mapping";
    case "union":
      return (d.options as z.ZodType[]).map(typeLabel).join(" \\| ");
    default:
      return "any";
  }
}

/** The variables of a role's schema, in declaration order. */
export function varDocs(schema: z.ZodObject): VarDoc[] {
  return Object.entries(schema.shape as Record<string, z.ZodType>).map(([name, s]) => {
    let description: string | undefined;
    let dflt: string | undefined;
    let cur: z.ZodType | undefined = s;
    while (cur) {
      description ??= descOf(cur);
      const d = defOf(cur);
      if ((d.type === "default" || d.type === "prefault") && dflt === undefined) {
        const v = typeof d.defaultValue === "function" ? d.defaultValue() : d.defaultValue;
        dflt = JSON.stringify(v);
      }
      if (d.type === "optional" && dflt === undefined) dflt = "(none)";
      cur = d.innerType ?? (d.type === "pipe" ? d.in : undefined);
    }
    return { name, type: typeLabel(s), default: dflt, description };
  });
}

function cell(s: string): string {
  return s.replace(/\r?\n/g, " ").replace(/(?<!\\)\|/g, "\\|");
}

function code(s: string): string {
  const t = cell(s);
  return t.includes("`") ? `\`\` ${t} \`\`` : `\`${t}\``;
}

/** The Markdown table of a schema's variables. */
export function varsTable(schema: z.ZodObject): string {
  const vars = varDocs(schema);
  const rows = vars.map((v) =>
    `| \`${v.name}\` | ${v.type} | ${
      v.default === undefined ? "required" : v.default === "(none)" ? "(none)" : code(v.default)
    } | ${cell(v.description ?? "")} |`
  );
  return ["| name | type | default | description |", "|---|---|---|---|", ...rows].join("\n");
}

/** The generated section of a role's README (markers included). */
export function varsSection(role: RoleDefinition): string {
  const vars = varDocs(role.vars);
  const missing = vars.filter((v) => !v.description?.trim()).map((v) => v.name);
  if (missing.length > 0) {
    throw new DroverError(
      `role '${role.name}': variable${missing.length > 1 ? "s" : ""} ${
        missing.map((m) => `'${m}'`).join(", ")
      } ha${missing.length > 1 ? "ve" : "s"} no description`,
      {
        expected: "every variable to have a .describe() text",
        hint:
          "add .describe('what it is for') to its zod schema (roles/_shared/vars.ts for shared ones)",
      },
    );
  }
  const body = vars.length === 0
    ? "This role has no variables."
    : `Set them in the inventory, in a play's \`vars\`, or with \`-e name=value\`.\n\n${
      varsTable(role.vars)
    }`;
  return `${BEGIN}\n\n## Variables\n\n${body}\n\n${END}`;
}

/**
 * The README of `role`: `existing` with its generated section replaced (or
 * appended, when it has none), or a new README when there is none yet.
 */
export function renderReadme(role: RoleDefinition, existing?: string): string {
  const section = varsSection(role);
  if (existing === undefined) {
    const deps = role.dependencies?.length
      ? `\nRuns after: ${role.dependencies.map((d) => `\`${d}\``).join(", ")}.\n`
      : "";
    return `# ${role.name}\n\n${role.description}\n${deps}\n${section}\n`;
  }
  const b = existing.indexOf(BEGIN);
  const e = existing.indexOf(END);
  if (b >= 0 && e > b) return existing.slice(0, b) + section + existing.slice(e + END.length);
  return `${existing.replace(/\s*$/, "")}\n\n${section}\n`;
}

/** `text` as `deno fmt` formats Markdown with the project's settings (so `deno fmt --check` agrees). */
export async function formatMarkdown(text: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    cwd: projectRoot(),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  if (!out.success) {
    throw new DroverError(
      `deno fmt failed on a generated README: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/** Names of the TypeScript roles under `rolesDir` (folders with a mod.ts, not `_shared`). */
export function roleNames(rolesDir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(rolesDir)) {
    if (!e.isDirectory || e.name.startsWith("_") || e.name.startsWith(".")) continue;
    try {
      if (Deno.statSync(`${rolesDir}/${e.name}/mod.ts`).isFile) out.push(e.name);
    } catch { /* a YAML role or no role */ }
  }
  return out.sort();
}

/** One README: where it is, what is there, what should be. */
export interface ReadmeState {
  readonly role: string;
  readonly path: string;
  readonly current?: string;
  readonly wanted: string;
}

/** The README of every role under `rolesDir`, as it is and as it should be. */
export async function readmeStates(rolesDir: string): Promise<ReadmeState[]> {
  const out: ReadmeState[] = [];
  for (const name of roleNames(rolesDir)) {
    const mod = await import(toFileUrl(`${rolesDir}/${name}/mod.ts`).href);
    const role = mod.role as RoleDefinition | undefined;
    if (!role) continue;
    const path = `${rolesDir}/${name}/README.md`;
    let current: string | undefined;
    try {
      current = Deno.readTextFileSync(path);
    } catch { /* no README yet */ }
    out.push({
      role: name,
      path,
      current,
      wanted: await formatMarkdown(renderReadme(role, current)),
    });
  }
  return out;
}

/** `deno task docs [--check] [--roles DIR]`; returns the exit code. */
export async function docsMain(args: readonly string[]): Promise<number> {
  const check = args.includes("--check");
  const r = args.indexOf("--roles");
  const rolesDir = r >= 0 && args[r + 1] ? args[r + 1] : `${projectRoot()}/roles`;
  let states: ReadmeState[];
  try {
    states = await readmeStates(rolesDir);
  } catch (e) {
    if (e instanceof DroverError) {
      console.error(`ERROR! ${e.format()}`);
      return 1;
    }
    throw e;
  }
  const stale = states.filter((s) => s.current !== s.wanted);
  if (check) {
    for (const s of stale) {
      console.error(
        `${s.path} is ${s.current === undefined ? "missing" : "stale"}: run 'deno task docs'`,
      );
    }
    return stale.length ? 1 : 0;
  }
  for (const s of stale) {
    Deno.writeTextFileSync(s.path, s.wanted);
    console.log(`wrote ${s.path}`);
  }
  console.log(`${states.length} role READMEs, ${stale.length} updated`);
  return 0;
}

if (import.meta.main) Deno.exit(await docsMain(Deno.args));
