/**
 * Variable precedence, end to end through the CLI: role defaults < inventory
 * group vars < host vars < play vars < vars_files < role params <
 * set_fact/register < extra vars. Variable pN is set by layers 1..N, so it
 * must show the name of layer N.
 */
import assert from "node:assert/strict";
import { drover, withTempDir } from "./helpers.ts";
import { join, toFileUrl } from "../src/core/path.ts";
import { ROOT } from "./helpers.ts";

const LAYERS = [
  "role_defaults",
  "group",
  "host",
  "play",
  "vars_files",
  "role_params",
  "set_fact",
  "extra",
] as const;

/** `key: value` lines setting pN..p8 to `layer` (layer N is 1-based). */
function from(n: number, indent: string): string {
  return LAYERS.slice(n - 1).map((_, i) => `${indent}p${n + i}: ${LAYERS[n - 1]}\n`).join("");
}

const SHOW = LAYERS.map((_, i) => `p${i + 1}={{ p${i + 1} }}`).join(" ");

async function write(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(dir, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, path), text);
  }
}

/** The `pN=...` values each `debug` printed, by the message's label. */
function shown(stdout: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const m of stdout.matchAll(/"msg": "(\w+): ([^"]*)"/g)) {
    out[m[1]] = Object.fromEntries(m[2].split(" ").map((kv) => kv.split("=")));
  }
  return out;
}

const expected = Object.fromEntries(LAYERS.map((layer, i) => [`p${i + 1}`, layer]));

Deno.test("variable precedence: each layer overrides the one below it", async () => {
  await withTempDir(async (dir) => {
    await write(dir, {
      "inventory.yml": `all:
  vars:
${from(2, "    ").replaceAll(": group", ": all_group")}  children:
    parent:
      vars:
${from(2, "        ").replaceAll(": group", ": parent_group")}      children:
        web:
          vars:
${from(2, "            ")}          hosts:
            localhost:
              ansible_connection: local
${from(3, "              ")}`,
      "vars/layer.yml": from(5, ""),
      "extra.yml": from(8, ""),
      "roles/yaml_role/defaults/main.yml": from(1, ""),
      "roles/yaml_role/tasks/main.yml": `- debug:\n    msg: "yaml_role: ${SHOW}"\n`,
      "roles/ts_role/mod.ts": `import { defineRole, task, z } from ${
        JSON.stringify(toFileUrl(join(ROOT, "src", "role.ts")).href)
      };
export const role = defineRole({
  name: "ts_role",
  description: "shows its variables",
  vars: z.object({
${LAYERS.map((_, i) => `    p${i + 1}: z.string().default("role_defaults"),`).join("\n")}
  }),
  tasks: [task("show", "debug", { msg: "ts_role: ${SHOW}" })],
});
`,
      "site.yml": `- hosts: all
  gather_facts: false
  vars:
${from(4, "    ")}    registered: play
  vars_files:
    - vars/layer.yml
  pre_tasks:
    - set_fact:
${from(7, "        ")}    - command: echo hi
      register: registered
  roles:
    - role: yaml_role
${from(6, "      ")}    - role: ts_role
      vars:
${from(6, "        ")}  tasks:
    - debug:
        msg: "play: ${SHOW} registered={{ registered.stdout }}"
`,
    });
    const run = await drover([
      "-i",
      join(dir, "inventory.yml"),
      join(dir, "site.yml"),
      "-e",
      `@${join(dir, "extra.yml")}`,
    ]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const seen = shown(run.stdout);
    assert.deepEqual(seen.yaml_role, expected, "inside a YAML role");
    assert.deepEqual(seen.ts_role, expected, "inside a TypeScript role");
    // Outside the roles their params do not apply: vars_files is the top below set_fact.
    assert.deepEqual(seen.play, { ...expected, p6: "vars_files", registered: "hi" }, "in the play");
  });
});
