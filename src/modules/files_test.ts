import assert from "node:assert/strict";
import {
  HostModel,
  type Module,
  type ModuleContext,
  ModuleFailure,
  type ModuleResult,
} from "../core/module.ts";
import { copy, editLines, file, lineinfile, stat, template } from "./files.ts";
import { atomicWriteScript, sha256, unifiedDiff } from "./_files.ts";
import { localContext } from "./_testing.ts";
import { drover, recap, withTempDir } from "../../test/helpers.ts";

const facts = (await localContext()).facts;
const NOBODY = 65534;

/** A real context on this machine; `searchPaths`/`vars` for src and templates. */
async function real(
  o: {
    check?: boolean;
    model?: HostModel;
    searchPaths?: string[];
    vars?: Record<string, unknown>;
  } = {},
): Promise<ModuleContext> {
  const ctx = await localContext({ check: o.check, model: o.model, facts });
  return { ...ctx, searchPaths: o.searchPaths ?? [], vars: o.vars ?? {} };
}

function go<A>(m: Module<A>, ctx: ModuleContext, args: Record<string, unknown>) {
  return m.run(ctx, m.args.parse(args)) as Promise<ModuleResult>;
}

/** Everything under `dir` that a user could notice: type, mode, owner, bytes, link target. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      const s = await Deno.lstat(p);
      let what = `${(s.mode! & 0o7777).toString(8)} ${s.uid}:${s.gid}`;
      if (e.isSymlink) what += ` -> ${await Deno.readLink(p)}`;
      else if (e.isFile) what += ` ${await sha256(await Deno.readFile(p))}`;
      out[p] = what;
      if (e.isDirectory) await walk(p);
    }
  };
  out[dir] = ((await Deno.stat(dir)).mode! & 0o7777).toString(8);
  await walk(dir);
  return out;
}

async function modeOf(p: string): Promise<string> {
  return ((await Deno.lstat(p)).mode! & 0o7777).toString(8).padStart(4, "0");
}

async function leftovers(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.startsWith(".drover.")) out.push(e.name);
  return out;
}

// ---------------------------------------------------------------- copy

Deno.test("copy content: creates with mode/owner/group, converges, --check predicts and writes nothing", async () => {
  await withTempDir(async (dir) => {
    const dest = `${dir}/app.conf`;
    const args = { dest, content: "a=1\nb=2\n", mode: "0640", owner: "nobody", group: "nogroup" };
    const check = await go(copy, await real({ check: true }), args);
    assert.equal(check.changed, true);
    assert.deepEqual(check.diff, [{ target: dest, before: "", after: "a=1\nb=2\n" }]);
    assert.equal(await Deno.lstat(dest).catch(() => null), null);
    assert.deepEqual(await leftovers(dir), [], "--check left a temp file");

    const first = await go(copy, await real(), args);
    assert.equal(first.changed, true);
    assert.equal(first.msg, `created ${dest}`);
    assert.equal(await Deno.readTextFile(dest), "a=1\nb=2\n");
    assert.equal(await modeOf(dest), "0640");
    const st = await Deno.stat(dest);
    assert.equal(st.uid, NOBODY);
    assert.equal(st.gid, NOBODY);

    const again = await go(copy, await real(), args);
    assert.equal(again.changed, false);
    assert.deepEqual(again.diff, []);

    await Deno.writeTextFile(dest, "a=1\nb=3\n");
    const before = await snapshot(dir);
    const drift = await go(copy, await real({ check: true }), args);
    assert.equal(drift.changed, true);
    assert.equal(drift.msg, `updated ${dest}`);
    assert.deepEqual(await snapshot(dir), before, "--check changed the disk");
    const d = drift.diff![0];
    assert.equal(
      unifiedDiff(d.before, d.after, d.target),
      `--- before: ${dest}\n+++ after: ${dest}\n@@ -1,2 +1,2 @@\n a=1\n-b=3\n+b=2\n`,
    );
    assert.equal((await go(copy, await real(), args)).changed, true);
    assert.equal(await Deno.readTextFile(dest), "a=1\nb=2\n");
    assert.equal((await Deno.stat(dest)).uid, NOBODY, "owner kept across a content change");
  });
});

Deno.test("copy: an existing file keeps its mode and owner when the task names only some attributes", async () => {
  await withTempDir(async (dir) => {
    const dest = `${dir}/keep`;
    await Deno.writeTextFile(dest, "old\n");
    await Deno.chmod(dest, 0o600);
    await Deno.chown(dest, NOBODY, NOBODY);
    await go(copy, await real(), { dest, content: "new\n" });
    assert.equal(await modeOf(dest), "0600");
    assert.equal((await Deno.stat(dest)).uid, NOBODY);
    const both = await go(copy, await real(), { dest, content: "newer\n", mode: "0640" });
    assert.deepEqual(both.diff, [
      { target: dest, before: "new\n", after: "newer\n" },
      {
        target: dest,
        before: "mode: 0600\nowner: nobody\ngroup: nogroup\n",
        after: "mode: 0640\nowner: nobody\ngroup: nogroup\n",
      },
    ]);
    assert.equal(await modeOf(dest), "0640");
    const st = await Deno.stat(dest);
    assert.deepEqual([st.uid, st.gid], [NOBODY, NOBODY], "a mode change took the owner away");
    await go(copy, await real(), { dest, content: "newest\n", owner: "root" });
    assert.equal(await modeOf(dest), "0640", "an owner change took the mode away");
    assert.equal((await Deno.stat(dest)).uid, 0);
    // A new file without a mode gets 0644, like Ansible under umask 022.
    await go(copy, await real(), { dest: `${dir}/fresh`, content: "x" });
    assert.equal(await modeOf(`${dir}/fresh`), "0644");
  });
});

Deno.test("copy: attributes only → changed with a state diff, content untouched", async () => {
  await withTempDir(async (dir) => {
    const dest = `${dir}/f`;
    await Deno.writeTextFile(dest, "same\n");
    await Deno.chmod(dest, 0o644);
    const args = { dest, content: "same\n", mode: "0600", group: "nogroup" };
    const check = await go(copy, await real({ check: true }), args);
    assert.equal(check.changed, true);
    assert.equal(await modeOf(dest), "0644");
    assert.deepEqual(check.diff, [{
      target: dest,
      before: "mode: 0644\nowner: root\ngroup: root\n",
      after: "mode: 0600\nowner: root\ngroup: nogroup\n",
    }]);
    const r = await go(copy, await real(), args);
    assert.equal(r.changed, true);
    assert.equal(r.msg, "mode 0644 → 0600, group root → nogroup");
    assert.equal(await modeOf(dest), "0600");
    assert.equal((await Deno.stat(dest)).gid, NOBODY);
    assert.equal((await go(copy, await real(), args)).changed, false);
  });
});

Deno.test("copy: force=false keeps a differing file; backup keeps the old content beside it", async () => {
  await withTempDir(async (dir) => {
    const dest = `${dir}/f`;
    await Deno.writeTextFile(dest, "mine\n");
    const keep = await go(copy, await real(), { dest, content: "theirs\n", force: false });
    assert.equal(keep.changed, false);
    assert.equal(await Deno.readTextFile(dest), "mine\n");
    const r = await go(copy, await real(), { dest, content: "theirs\n", backup: true });
    assert.equal(r.changed, true);
    assert.equal(await Deno.readTextFile(dest), "theirs\n");
    const backups = [];
    for await (const e of Deno.readDir(dir)) if (e.name !== "f") backups.push(e.name);
    assert.equal(backups.length, 1, String(backups));
    // Ansible's name: file.PID.YYYY-MM-DD@HH:MM:SS~
    assert.match(backups[0], /^f\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$/);
    assert.equal(await Deno.readTextFile(`${dir}/${backups[0]}`), "mine\n");
    // Nothing to change: no new backup.
    await go(copy, await real(), { dest, content: "theirs\n", backup: true });
    assert.equal([...Deno.readDirSync(dir)].length, 2);
  });
});

Deno.test("copy validate: a bad file never replaces the good one; no temp file is left", async () => {
  await withTempDir(async (dir) => {
    const dest = `${dir}/app.conf`;
    await Deno.writeTextFile(dest, "port=1\n");
    // A config checker that accepts only key=number lines.
    const validate = `sh -c '! grep -qvE "^[a-z]+=[0-9]+$" "$1"' check %s`;
    await assert.rejects(
      go(copy, await real(), { dest, content: "port=oops\n", validate }),
      (e: Error) =>
        e instanceof ModuleFailure && /did not validate, the old file was kept/.test(e.message),
    );
    assert.equal(await Deno.readTextFile(dest), "port=1\n");
    assert.deepEqual(await leftovers(dir), []);
    const ok = await go(copy, await real(), { dest, content: "port=2\n", validate });
    assert.equal(ok.changed, true);
    assert.equal(await Deno.readTextFile(dest), "port=2\n");
  });
});

Deno.test("copy src: found under files/ of the search path; binary byte for byte; dest/ takes the name", async () => {
  await withTempDir(async (dir) => {
    const role = `${dir}/role`;
    await Deno.mkdir(`${role}/files`, { recursive: true });
    await Deno.writeTextFile(`${role}/files/motd`, "\ufeffwelcome\n");
    const bin = new Uint8Array([0, 255, 254, 10, 0x80, 1, 2, 3]);
    await Deno.writeFile(`${role}/files/blob.bin`, bin);
    await Deno.mkdir(`${dir}/out`);
    const ctx = await real({ searchPaths: [role] });
    const t = await go(copy, ctx, { src: "motd", dest: `${dir}/out/` });
    assert.equal(t.changed, true);
    assert.deepEqual(
      await Deno.readFile(`${dir}/out/motd`),
      await Deno.readFile(`${role}/files/motd`),
      "BOM lost",
    );
    assert.equal((await go(copy, ctx, { src: "motd", dest: `${dir}/out/` })).changed, false);
    const b = await go(copy, ctx, { src: "blob.bin", dest: `${dir}/out/blob.bin`, mode: "0600" });
    assert.equal(b.changed, true);
    assert.deepEqual(await Deno.readFile(`${dir}/out/blob.bin`), bin);
    assert.equal(await modeOf(`${dir}/out/blob.bin`), "0600");
    assert.match(b.diff![0].after, /^\(binary, 8 bytes, sha256 [0-9a-f]{64}\)\n$/);
    assert.equal(
      (await go(copy, ctx, { src: "blob.bin", dest: `${dir}/out/blob.bin` })).changed,
      false,
    );
    await assert.rejects(go(copy, ctx, { src: "nope", dest: `${dir}/x` }), /could not find 'nope'/);
    assert.equal(copy.args.safeParse({ dest: "/x" }).success, false);
    assert.equal(copy.args.safeParse({ dest: "/x", src: "a", content: "b" }).success, false);
  });
});

Deno.test("copy content that is not a string is written as JSON", async () => {
  await withTempDir(async (dir) => {
    await go(copy, await real(), { dest: `${dir}/j`, content: { a: [1, 2] } });
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/j`)), { a: [1, 2] });
  });
});

Deno.test("copy into a directory path fails", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(go(copy, await real(), { dest: dir, content: "x" }), /is a directory/);
  });
});

// ---------------------------------------------------------------- atomic writes

Deno.test("atomic write: the new content sits in a temp file beside the target, with its final mode and owner, before the rename", async () => {
  await withTempDir(async (dir) => {
    const dest = `${dir}/target`;
    await Deno.writeTextFile(dest, "old\n");
    await Deno.writeTextFile(`${dir}/old.ref`, "old\n");
    await Deno.mkdir(`${dir}/refs`);
    await Deno.writeTextFile(`${dir}/refs/new.ref`, "new\n");
    // validate runs after the temp file is complete and before the rename.
    const validate = [
      `test "$(dirname %s)" = ${dir}`,
      `test "$(stat -c '%a %U %G' %s)" = "640 nobody nogroup"`,
      `cmp -s %s ${dir}/refs/new.ref`,
      `cmp -s ${dest} ${dir}/old.ref`,
    ].join(" && ");
    const r = await go(copy, await real(), {
      dest,
      content: "new\n",
      mode: "0640",
      owner: "nobody",
      group: "nogroup",
      validate,
    });
    assert.equal(r.changed, true);
    assert.equal(await Deno.readTextFile(dest), "new\n");
    assert.deepEqual(await leftovers(dir), []);
  });
});

Deno.test("atomic write: a reader of a large file only ever sees the whole old or the whole new file, with its final mode", async () => {
  await withTempDir(async (dir) => {
    const dest = `${dir}/big`;
    const size = 8 * 1024 * 1024;
    const oldBytes = new Uint8Array(size).fill(0x61);
    const newText = "b".repeat(size - 1) + "\n";
    await Deno.writeFile(dest, oldBytes);
    await Deno.chmod(dest, 0o644);
    const oldSum = await sha256(oldBytes);
    const newSum = await sha256(newText);
    const seen = new Set<string>();
    let done = false;
    const write = go(copy, await real(), { dest, content: newText, mode: "0600" })
      .finally(() => done = true);
    do {
      // One open file: its bytes and its mode belong to the same inode.
      using f = await Deno.open(dest);
      const st = await f.stat();
      const bytes = new Uint8Array(st.size);
      let n = 0;
      while (n < bytes.length) {
        const got = await f.read(bytes.subarray(n));
        if (got === null) break;
        n += got;
      }
      const sum = await sha256(bytes.subarray(0, n));
      const mode = (st.mode! & 0o777).toString(8);
      assert.ok(
        (sum === oldSum && mode === "644") || (sum === newSum && mode === "600"),
        `a reader saw ${n} bytes with mode ${mode}`,
      );
      seen.add(sum === oldSum ? "old" : "new");
    } while (!done);
    assert.equal((await write).changed, true);
    assert.equal(await sha256(await Deno.readFile(dest)), newSum);
    assert.ok(seen.has("old"));
    assert.deepEqual(await leftovers(dir), []);
  });
});

Deno.test("atomicWriteScript: content travels in the script (base64), never as an argument", () => {
  const s = atomicWriteScript("/etc/x", "token=s3cr3t\n", { mode: "0600" });
  assert.ok(!s.includes("s3cr3t"));
  assert.ok(s.includes(btoa("token=s3cr3t\n")));
  assert.match(s, /tmp=\$\(mktemp "\$dir\/\.drover\.XXXXXXXX"\)/);
  assert.ok(s.indexOf("chmod '0600' \"$tmp\"") < s.indexOf('mv -f -- "$tmp" "$dest"'));
});

Deno.test("atomicWriteScript: a 0600 file's temp copy never gets another mode or owner on the way", async () => {
  await withTempDir(async (dir) => {
    // chmod and chown shims log every call, then do it.
    await Deno.mkdir(`${dir}/bin`);
    for (const c of ["chmod", "chown"]) {
      const real = new TextDecoder().decode(
        (await new Deno.Command("sh", { args: ["-c", `command -v ${c}`] }).output()).stdout,
      ).trim();
      await Deno.writeTextFile(
        `${dir}/bin/${c}`,
        `#!/bin/sh\necho "${c} $1" >> ${dir}/calls\nexec ${real} "$@"\n`,
      );
      await Deno.chmod(`${dir}/bin/${c}`, 0o755);
    }
    const uid = Deno.uid()!;
    const gid = Deno.gid()!;
    const runs: { exists: boolean; opts: { mode: string; owner?: string; group?: string } }[] = [
      { exists: false, opts: { mode: "0600" } },
      { exists: true, opts: { mode: "0600" } },
      { exists: true, opts: { mode: "0600", owner: `${uid}`, group: `${gid}` } },
    ];
    for (const r of runs) {
      const dest = `${dir}/secret.env`;
      await Deno.remove(dest).catch(() => {});
      await Deno.remove(`${dir}/calls`).catch(() => {});
      if (r.exists) await Deno.writeTextFile(dest, "old\n", { mode: 0o644 });
      const s = atomicWriteScript(dest, "TOKEN=s3cr3t\n", r.opts);
      const out = await new Deno.Command("sh", {
        args: ["-c", s],
        env: { PATH: `${dir}/bin:${Deno.env.get("PATH")}` },
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const calls = (await Deno.readTextFile(`${dir}/calls`).catch(() => "")).split("\n")
        .filter(Boolean);
      // Only the task's mode, and no chmod before it that could open the file up.
      assert.deepEqual(calls.filter((c) => c.startsWith("chmod")), ["chmod 0600"], s);
      if (r.opts.owner) {
        assert.deepEqual(calls.filter((c) => c.startsWith("chown")), [`chown ${uid}:${gid}`]);
      }
      assert.equal(await modeOf(dest), "0600");
      assert.equal(await Deno.readTextFile(dest), "TOKEN=s3cr3t\n");
    }
    assert.deepEqual(await leftovers(dir), []);
  });
});

// ---------------------------------------------------------------- file

Deno.test("file directory: created with mode, converges; a mode drift is fixed; --check touches nothing", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/a/b`;
    const args = { path, state: "directory", mode: "0750" };
    const check = await go(file, await real({ check: true }), args);
    assert.equal(check.changed, true);
    assert.equal(await Deno.lstat(`${dir}/a`).catch(() => null), null);
    assert.deepEqual(check.diff, [{
      target: path,
      before: "state: absent\n",
      after: "state: directory\nmode: 0750\n",
    }]);
    assert.equal((await go(file, await real(), args)).changed, true);
    assert.ok((await Deno.stat(path)).isDirectory);
    assert.equal(await modeOf(path), "0750");
    assert.equal((await go(file, await real(), args)).changed, false);
    await Deno.chmod(path, 0o700);
    const before = await snapshot(dir);
    const drift = await go(file, await real({ check: true }), args);
    assert.equal(drift.changed, true);
    assert.deepEqual(await snapshot(dir), before);
    assert.equal((await go(file, await real(), args)).changed, true);
    assert.equal(await modeOf(path), "0750");
    // A directory with no attributes asked for, and `name`/`dest` as aliases of path.
    assert.equal((await go(file, await real(), { name: path, state: "directory" })).changed, false);
    assert.equal(
      (await go(file, await real(), { dest: `${dir}/c`, state: "directory" })).changed,
      true,
    );
    assert.equal(file.args.safeParse({ state: "directory" }).success, false);
    await Deno.writeTextFile(`${dir}/plain`, "");
    await assert.rejects(
      go(file, await real(), { path: `${dir}/plain`, state: "directory" }),
      /exists and is a file, not a directory/,
    );
  });
});

Deno.test("file recurse: owner and group go down the tree", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/t/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/t/sub/f`, "x");
    const args = { path: `${dir}/t`, state: "directory", owner: "nobody", recurse: true };
    assert.equal((await go(file, await real(), args)).changed, true);
    assert.equal((await Deno.stat(`${dir}/t/sub/f`)).uid, NOBODY);
    assert.equal((await go(file, await real(), args)).changed, false);
  });
});

Deno.test("file touch/file: touch creates an empty file once; state=file sets modes and fails on absence", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/t`;
    const check = await go(file, await real({ check: true }), { path, state: "touch" });
    assert.equal(check.changed, true);
    assert.equal(await Deno.lstat(path).catch(() => null), null);
    const r = await go(file, await real(), { path, state: "touch", mode: "0604" });
    assert.equal(r.changed, true);
    assert.equal(await Deno.readTextFile(path), "");
    assert.equal(await modeOf(path), "0604");
    // Like Ansible: touching an existing file updates its times, a change, unless both are kept.
    const keep = { access_time: "preserve", modification_time: "preserve" };
    assert.equal(
      (await go(file, await real(), { path, state: "touch", mode: "0604", ...keep })).changed,
      false,
    );
    const old = new Date("2001-01-01T00:00:00Z");
    await Deno.utime(path, old, old);
    assert.equal((await go(file, await real(), { path, state: "touch" })).changed, true);
    assert.ok((await Deno.stat(path)).mtime! > old);
    assert.equal((await go(file, await real(), { path, mode: "0600" })).changed, true);
    assert.equal(await modeOf(path), "0600");
    assert.equal((await go(file, await real(), { path, mode: "0600" })).changed, false);
    await assert.rejects(
      go(file, await real(), { path: `${dir}/none`, mode: "0600" }),
      /is absent, cannot continue/,
    );
  });
});

Deno.test("file absent: removes a file or a whole tree once; --check removes nothing", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/tree/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/tree/sub/f`, "x");
    await Deno.writeTextFile(`${dir}/f`, "x");
    const before = await snapshot(dir);
    for (const p of ["tree", "f"]) {
      const c = await go(file, await real({ check: true }), {
        path: `${dir}/${p}`,
        state: "absent",
      });
      assert.equal(c.changed, true);
    }
    assert.deepEqual(await snapshot(dir), before);
    for (const p of ["tree", "f"]) {
      const path = `${dir}/${p}`;
      assert.equal((await go(file, await real(), { path, state: "absent" })).changed, true);
      assert.equal(await Deno.lstat(path).catch(() => null), null);
      assert.equal((await go(file, await real(), { path, state: "absent" })).changed, false);
    }
  });
});

Deno.test("file link: made once, repointed when the source differs, needs src", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/current`;
    // As in Ansible, a link's target must exist (or force: true).
    await Deno.writeTextFile(`${dir}/v1`, "");
    await Deno.writeTextFile(`${dir}/v2`, "");
    const check = await go(file, await real({ check: true }), {
      path,
      state: "link",
      src: `${dir}/v1`,
    });
    assert.equal(check.changed, true);
    assert.equal(await Deno.lstat(path).catch(() => null), null);
    assert.equal(
      (await go(file, await real(), { path, state: "link", src: `${dir}/v1` })).changed,
      true,
    );
    assert.equal(await Deno.readLink(path), `${dir}/v1`);
    assert.equal(
      (await go(file, await real(), { path, state: "link", src: `${dir}/v1` })).changed,
      false,
    );
    const r = await go(file, await real(), { path, state: "link", src: "v2" });
    assert.equal(r.changed, true);
    assert.equal(await Deno.readLink(path), "v2");
    await assert.rejects(go(file, await real(), { path, state: "link" }), /state=link needs 'src'/);
  });
});

// ---------------------------------------------------------------- template

Deno.test("template: rendered from templates/ with the task's vars; converges; a var change is a diff", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/templates`);
    await Deno.writeTextFile(
      `${dir}/templates/app.conf.j2`,
      "port={{ port }}\n{% for h in hosts %}host={{ h }}\n{% endfor %}",
    );
    const dest = `${dir}/app.conf`;
    const ctx = (port: number, check = false) =>
      real({ check, searchPaths: [dir], vars: { port, hosts: ["a", "b"] } });
    const args = { src: "app.conf.j2", dest, mode: "0600" };
    assert.equal((await go(template, await ctx(1), args)).changed, true);
    assert.equal(await Deno.readTextFile(dest), "port=1\nhost=a\nhost=b\n");
    assert.equal(await modeOf(dest), "0600");
    assert.equal((await go(template, await ctx(1), args)).changed, false);
    const check = await go(template, await ctx(2, true), args);
    assert.equal(check.changed, true);
    assert.equal(await Deno.readTextFile(dest), "port=1\nhost=a\nhost=b\n");
    assert.deepEqual(check.diff, [{
      target: dest,
      before: "port=1\nhost=a\nhost=b\n",
      after: "port=2\nhost=a\nhost=b\n",
    }]);
    await assert.rejects(go(template, await ctx(1), { src: "missing.j2", dest }), /could not find/);
  });
});

// ---------------------------------------------------------------- lineinfile

Deno.test("editLines: insert, replace by regexp, backrefs, insertafter/insertbefore, absent", () => {
  const p = { state: "present" as const };
  assert.equal(editLines("", { ...p, line: "a" }), "a\n");
  assert.equal(editLines("a\nb\n", { ...p, line: "c" }), "a\nb\nc\n");
  assert.equal(editLines("a\nb\n", { ...p, line: "a" }), "a\nb\n");
  // The last match of regexp is replaced.
  assert.equal(
    editLines("x=1\ny=2\nx=3\n", { ...p, line: "x=9", regexp: "^x=" }),
    "x=1\ny=2\nx=9\n",
  );
  // No match: the line is added (at the end by default).
  assert.equal(editLines("y=2\n", { ...p, line: "x=9", regexp: "^x=" }), "y=2\nx=9\n");
  // backrefs: the whole line becomes the expanded `line`, as with Python's m.expand.
  assert.equal(
    editLines("port = 80 # web\n", {
      ...p,
      regexp: "^port = (\\d+)",
      line: "port=\\1",
      backrefs: true,
    }),
    "port=80\n",
  );
  assert.equal(
    editLines("name: old\n", {
      ...p,
      regexp: "^(?P<k>\\w+): .*$",
      line: "\\g<k>: new",
      backrefs: true,
    }),
    "name: new\n",
  );
  // backrefs and no match: the file is left alone.
  assert.equal(editLines("a\n", { ...p, regexp: "^zz(.*)", line: "\\1", backrefs: true }), "a\n");
  assert.equal(
    editLines("[s]\nk=1\n[t]\n", { ...p, line: "n=2", insertafter: "^\\[s\\]" }),
    "[s]\nn=2\nk=1\n[t]\n",
  );
  assert.equal(
    editLines("a\n#end\nb\n#end\n", { ...p, line: "x", insertbefore: "^#end" }),
    "a\n#end\nb\nx\n#end\n",
  );
  assert.equal(editLines("a\nb\n", { ...p, line: "x", insertbefore: "BOF" }), "x\na\nb\n");
  assert.equal(editLines("a\n", { ...p, line: "x", insertafter: "EOF" }), "a\nx\n");
  assert.equal(editLines("a\n", { ...p, line: "x", insertafter: "^nomatch" }), "a\nx\n");
  assert.equal(editLines("a\nb\na\n", { state: "absent", line: "a" }), "b\n");
  assert.equal(editLines("k=1\nj=2\nk=3\n", { state: "absent", regexp: "^k=" }), "j=2\n");
  assert.equal(editLines("a\n", { state: "absent", line: "a" }), "");
});

Deno.test("editLines: a file without a final newline is left alone when nothing is edited", () => {
  const p = { state: "present" as const };
  assert.equal(editLines("a\nb", { ...p, line: "b" }), "a\nb");
  assert.equal(editLines("a\nb", { ...p, line: "a", regexp: "^a$" }), "a\nb");
  assert.equal(editLines("a\nb", { state: "absent", line: "zz" }), "a\nb");
  assert.equal(editLines("a\nb", { ...p, line: "c" }), "a\nb\nc\n");
});

Deno.test("lineinfile: edits a real file, converges, --check leaves it, state=absent, create", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/sshd_config`;
    await Deno.writeTextFile(path, "Port 22\n#PermitRootLogin yes\nUsePAM yes\n");
    await Deno.chmod(path, 0o600);
    const args = { path, regexp: "^#?PermitRootLogin", line: "PermitRootLogin no" };
    const check = await go(lineinfile, await real({ check: true }), args);
    assert.equal(check.changed, true);
    assert.equal(await Deno.readTextFile(path), "Port 22\n#PermitRootLogin yes\nUsePAM yes\n");
    const d = check.diff![0];
    assert.match(
      unifiedDiff(d.before, d.after, path),
      /\n-#PermitRootLogin yes\n\+PermitRootLogin no\n/,
    );
    assert.equal((await go(lineinfile, await real(), args)).changed, true);
    assert.equal(await Deno.readTextFile(path), "Port 22\nPermitRootLogin no\nUsePAM yes\n");
    assert.equal(await modeOf(path), "0600");
    assert.equal((await go(lineinfile, await real(), args)).changed, false);
    const ins = { path, line: "X11Forwarding no", insertafter: "^Port" };
    assert.equal((await go(lineinfile, await real(), ins)).changed, true);
    assert.equal((await go(lineinfile, await real(), ins)).changed, false);
    assert.equal(
      await Deno.readTextFile(path),
      "Port 22\nX11Forwarding no\nPermitRootLogin no\nUsePAM yes\n",
    );
    const rm = { path, regexp: "^UsePAM", state: "absent" };
    assert.equal((await go(lineinfile, await real(), rm)).changed, true);
    assert.equal((await go(lineinfile, await real(), rm)).changed, false);
    assert.equal(await Deno.readTextFile(path), "Port 22\nX11Forwarding no\nPermitRootLogin no\n");

    const missing = `${dir}/new.conf`;
    await assert.rejects(
      go(lineinfile, await real(), { path: missing, line: "a" }),
      /does not exist \(use create: true/,
    );
    const absent = await go(lineinfile, await real(), {
      path: missing,
      line: "a",
      state: "absent",
    });
    assert.equal(absent.changed, false);
    const c = await go(lineinfile, await real(), {
      path: missing,
      line: "a",
      create: true,
      mode: "0640",
    });
    assert.equal(c.changed, true);
    assert.equal(await Deno.readTextFile(missing), "a\n");
    assert.equal(await modeOf(missing), "0640");
  });
});

Deno.test("lineinfile: a file without a final newline that already has the line is not rewritten", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/f`;
    await Deno.writeTextFile(path, "a\nb");
    assert.equal((await go(lineinfile, await real(), { path, line: "b" })).changed, false);
    assert.equal(await Deno.readTextFile(path), "a\nb");
  });
});

Deno.test("lineinfile --check sees the content an earlier task would have written", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/f`;
    const model = new HostModel();
    await go(copy, await real({ check: true, model }), { dest: path, content: "a\n" });
    const r = await go(lineinfile, await real({ check: true, model }), { path, line: "b" });
    assert.equal(r.changed, true);
    assert.deepEqual(r.diff?.[0], { target: path, before: "a\n", after: "a\nb\n" });
    assert.equal(await Deno.lstat(path).catch(() => null), null);
  });
});

// ---------------------------------------------------------------- stat

async function digest(alg: "SHA-1" | "SHA-256", text: string): Promise<string> {
  const h = await crypto.subtle.digest(alg, new TextEncoder().encode(text));
  return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("stat: file, directory, link, absent; checksum and content", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/f`, "hello\n");
    await Deno.chmod(`${dir}/f`, 0o640);
    await Deno.symlink("f", `${dir}/l`);
    const s = async (path: string, more: Record<string, unknown> = {}) =>
      (await go(stat, await real(), { path, ...more })).data!.stat as Record<string, unknown>;
    const f = await s(`${dir}/f`, { get_content: true });
    assert.equal(f.exists, true);
    assert.equal(f.isreg, true);
    assert.equal(f.isdir, false);
    assert.equal(f.mode, "0640");
    assert.equal(f.pw_name, "root");
    assert.equal(f.size, 6);
    // Ansible's stat checksum is SHA-1 (its checksum_algorithm default).
    assert.equal(f.checksum, await digest("SHA-1", "hello\n"));
    assert.equal(f.content, "hello\n");
    const d = await s(dir);
    assert.equal(d.isdir, true);
    assert.equal(d.checksum, undefined);
    const l = await s(`${dir}/l`);
    assert.equal(l.islnk, true);
    assert.equal(l.lnk_target, "f");
    const a = await s(`${dir}/none`);
    assert.deepEqual(a.exists, false);
    const r = await go(stat, await real({ check: true }), { path: `${dir}/f` });
    assert.equal(r.changed, false);
  });
});

// ---------------------------------------------------------------- through the CLI

Deno.test("CLI --diff: unified diffs of content and state; secrets are <redacted>; --check changes nothing", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/out`;
    const pb = `${dir}/pb.yml`;
    await Deno.writeTextFile(
      pb,
      `- hosts: localhost
  gather_facts: false
  vars:
    api_token: tok-0123456789abcdef
    plain: not-secret-at-all
  tasks:
    - name: config with a token
      copy:
        dest: ${out}/app.env
        content: "TOKEN={{ api_token }}\\nLEVEL=info\\n"
        mode: "0600"
    - name: no_log content
      copy:
        dest: ${out}/hidden
        content: "value={{ plain }}\\n"
      no_log: true
    - name: a line
      lineinfile:
        path: ${out}/extra.conf
        line: EXTRA=1
        create: true
    - name: dir mode
      file:
        path: ${out}/d
        state: directory
        mode: "0700"
`,
    );
    await Deno.mkdir(out);
    const empty = await snapshot(out);
    const check = await drover([pb, "--check", "--diff"]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.deepEqual(await snapshot(out), empty, "--check changed the disk");
    assert.equal(recap(check.stdout).localhost.changed, 4);
    assert.ok(check.stdout.includes(`+++ after: ${out}/app.env`), check.stdout);
    assert.ok(check.stdout.includes("+TOKEN=<redacted>\n"), check.stdout);
    assert.ok(check.stdout.includes("+state: directory\n+mode: 0700\n"), check.stdout);
    for (const secret of ["tok-0123456789abcdef", "not-secret-at-all"]) {
      assert.ok(!check.stdout.includes(secret), `${secret} leaked:\n${check.stdout}`);
      assert.ok(!check.stderr.includes(secret));
    }
    const run = await drover([pb, "--diff"]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(recap(run.stdout).localhost.changed, 4);
    assert.equal(
      await Deno.readTextFile(`${out}/app.env`),
      "TOKEN=tok-0123456789abcdef\nLEVEL=info\n",
    );
    const again = await drover([pb, "--diff"]);
    assert.equal(recap(again.stdout).localhost.changed, 0);
    assert.ok(!again.stdout.includes("+++ after"), "a converged run printed a diff");

    await Deno.writeTextFile(`${out}/app.env`, "TOKEN=tok-0123456789abcdef\nLEVEL=debug\n");
    const drifted = await snapshot(out);
    const check2 = await drover([pb, "--check", "--diff"]);
    assert.equal(recap(check2.stdout).localhost.changed, 1);
    assert.deepEqual(await snapshot(out), drifted, "--check changed the disk");
    assert.match(
      check2.stdout,
      /@@ -1,2 \+1,2 @@\n TOKEN=<redacted>\n-LEVEL=debug\n\+LEVEL=info\n/,
    );
    assert.ok(!check2.stdout.includes("tok-0123456789abcdef"));
  });
});
