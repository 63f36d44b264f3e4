/**
 * Role docs: every role's README has the variable reference its zod schema
 * generates (this test is how CI fails on a stale README), every variable
 * has a description, and hand-written prose around the generated section is
 * kept.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { BEGIN, END, readmeStates, renderReadme, typeLabel, varDocs } from "../src/cli/docs.ts";
import { V } from "../roles/_shared/vars.ts";
import { defineRole } from "../src/role.ts";
import { DroverError } from "../src/core/errors.ts";
import { ROOT, withTempDir } from "./helpers.ts";
import { toFileUrl } from "../src/core/path.ts";

Deno.test("every roles/<name>/README.md is up to date (else: deno task docs)", async () => {
  const states = await readmeStates(`${ROOT}/roles`);
  assert.ok(states.length >= 8, `only ${states.length} roles found`);
  const stale = states.filter((s) => s.current !== s.wanted).map((s) => s.path);
  assert.deepEqual(stale, [], "stale role READMEs: run 'deno task docs'");
});

Deno.test("every role variable has a type, a default and a description", async () => {
  const states = await readmeStates(`${ROOT}/roles`);
  for (const s of states) {
    const role = (await import(toFileUrl(`${ROOT}/roles/${s.role}/mod.ts`).href)).role;
    for (const v of varDocs(role.vars)) {
      assert.ok(v.description?.trim(), `${s.role}: ${v.name} has no description`);
      assert.notEqual(v.type, "any", `${s.role}: ${v.name} has no readable type`);
      assert.ok(s.wanted.includes(`\`${v.name}\``), `${s.role}: ${v.name} missing from README`);
    }
  }
});

Deno.test("types read through drover's zod helpers", () => {
  assert.equal(typeLabel(V.migration_mode), '"switch" \\| "parallel"');
  assert.equal(typeLabel(V.otlp_grpc_port), "integer");
  assert.equal(typeLabel(V.otlp_external), "boolean");
  assert.equal(typeLabel(V.docker_stack_images), "list of string");
  assert.equal(typeLabel(V.alloy_version), "string");
  const [port] = varDocs(z.object({ otlp_grpc_port: V.otlp_grpc_port }));
  assert.deepEqual(port, {
    name: "otlp_grpc_port",
    type: "integer",
    default: "4317",
    description: "OTLP gRPC port",
  });
});

const role = (vars: z.ZodObject) =>
  defineRole({ name: "demo", description: "A demo role.", vars, tasks: [] });

Deno.test("a variable without a description is an error naming it", () => {
  assert.throws(
    () => renderReadme(role(z.object({ port: z.number().default(1), ok: V.otlp_external }))),
    (e: unknown) => e instanceof DroverError && /'port' has no description/.test(e.message),
  );
});

Deno.test("hand-written prose around the generated section is kept", () => {
  const r = role(z.object({ greeting: z.string().default("hi").describe("What to say") }));
  const fresh = renderReadme(r);
  assert.match(fresh, /^# demo\n\nA demo role\.\n/);
  assert.match(fresh, /\| `greeting` \| string \| `"hi"` \| What to say \|/);
  const edited = fresh.replace("A demo role.", "A demo role.\n\nHand-written usage notes.") +
    "\n## Notes\n\nMore prose.\n";
  const again = renderReadme(
    role(z.object({ greeting: z.string().default("hello").describe("What to say") })),
    edited,
  );
  assert.match(again, /Hand-written usage notes\./);
  assert.match(again, /## Notes\n\nMore prose\.\n$/);
  assert.match(again, /`"hello"`/);
  assert.ok(!again.includes('`"hi"`'));
  assert.equal(again.split(BEGIN).length, 2);
  const noMarkers = renderReadme(r, "# demo\n\nOnly prose.\n");
  assert.ok(noMarkers.startsWith("# demo\n\nOnly prose.\n\n" + BEGIN));
  assert.ok(noMarkers.trimEnd().endsWith(END));
});

Deno.test("deno task docs --check fails on a stale README, passes once regenerated", async () => {
  await withTempDir(async (dir) => {
    const roleUrl = toFileUrl(`${ROOT}/src/role.ts`).href;
    const mod = (desc: string) =>
      `import { defineRole, z } from "${roleUrl}";\nexport const role = defineRole({ name: "demo", description: "Demo.", vars: z.object({ port: z.number().int().default(8080).describe("${desc}") }), tasks: [] });\n`;
    await Deno.mkdir(`${dir}/roles/demo`, { recursive: true });
    await Deno.writeTextFile(`${dir}/roles/demo/mod.ts`, mod("The port"));
    const docs = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["task", "--quiet", "docs", ...args, "--roles", `${dir}/roles`],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, err: new TextDecoder().decode(out.stderr) };
    };
    let r = await docs("--check");
    assert.equal(r.code, 1);
    assert.match(r.err, /README\.md is missing: run 'deno task docs'/);
    assert.equal((await docs()).code, 0);
    assert.match(await Deno.readTextFile(`${dir}/roles/demo/README.md`), /\| The port +\|/);
    assert.equal((await docs("--check")).code, 0);
    await Deno.writeTextFile(`${dir}/roles/demo/mod.ts`, mod("The HTTP port"));
    r = await docs("--check");
    assert.equal(r.code, 1);
    assert.match(r.err, /README\.md is stale/);
  });
});
