import assert from "node:assert/strict";
import { RESIDENT_START, ResidentShell } from "./resident.ts";
import { spawnWithStdin } from "./shell.ts";

/** What the same command gives in a shell of its own, as sshd starts it (the reference). */
async function alone(script: string) {
  const r = await spawnWithStdin(["sh", "-c", "sh -s"], script);
  return { rc: r.rc, stdout: r.stdout, stderr: r.stderr };
}

async function withShell(fn: (sh: ResidentShell) => Promise<void>): Promise<void> {
  const sh = new ResidentShell(["sh"]);
  try {
    await fn(sh);
  } finally {
    await sh.close();
  }
}

Deno.test("a resident shell's command gives what the command gives alone", async () => {
  const scripts = [
    "echo hi\n",
    "printf 'no newline'",
    "echo out; echo err >&2; exit 3\n",
    "printf 'a\\n\\n\\n'; printf 'b\\n\\n' >&2\n",
    "exit 0\n",
    // Its stdin is the script and ends there.
    "cat\nignored line\n",
    'read -r l; echo "got $l"\nthe next line\n',
    // What looks like the shell's own framing stays the command's output.
    "echo '@@0123 7'; echo 'DROVER_RS_0123'\n",
    "printf 'é€😀%.0s' $(seq 1 3000)\n",
    'cd /; umask 077; export X=1; echo "$PWD"\n',
    "head -c 300000 /dev/zero | tr '\\0' x; echo; seq 1 20000 >&2\n",
  ];
  await withShell(async (sh) => {
    for (const s of scripts) {
      assert.deepEqual(await sh.run("sh -s", s), await alone(s), s.slice(0, 60));
    }
    // Nothing a command did to its own shell stays for the next one.
    assert.equal(
      (await sh.run("sh -s", 'echo "$PWD ${X:-unset}"\n'))?.stdout.endsWith(" unset\n"),
      true,
    );
  });
});

Deno.test("a resident shell runs the command line it is given, with the exit code of that line", async () => {
  await withShell(async (sh) => {
    assert.deepEqual(await sh.run("sh -s -- a b", 'echo "$# $1 $2"\n'), {
      rc: 0,
      stdout: "2 a b\n",
      stderr: "",
    });
    const missing = await sh.run("no-such-command-drover -s", "echo never\n");
    assert.equal(missing?.rc, 127);
    assert.match(missing?.stderr ?? "", /not found/);
    // The shell goes on after that.
    assert.equal((await sh.run("sh -s", "echo still\n"))?.stdout, "still\n");
  });
});

Deno.test("a resident shell takes one command at a time", async () => {
  await withShell(async (sh) => {
    const first = sh.run("sh -s", "sleep 0.2; echo first\n");
    assert.equal(sh.ready, false);
    await assert.rejects(sh.run("sh -s", "echo second\n"), /busy/);
    assert.equal((await first)?.stdout, "first\n");
    assert.equal(sh.ready, true);
  });
});

Deno.test("a resident shell that dies mid-command says so and takes no more commands", async () => {
  await withShell(async (sh) => {
    // The command kills the shell that runs it (as a lost connection would).
    const r = await sh.run("sh -s", "echo partial; kill -9 $PPID\n");
    assert.equal(r, undefined);
    assert.equal(sh.ready, false);
    await assert.rejects(sh.run("sh -s", "echo more\n"), /busy or gone/);
  });
});

Deno.test("the resident shell starts only where here-documents stay in memory", async () => {
  for (
    const [bash, runs] of [["", true], ["5.2.15(1)-release", true], ["4.4.20(1)-release", false], [
      "5.0.17(1)-release",
      false,
    ]] as const
  ) {
    const sh = new ResidentShell(["env", `BASH_VERSION=${bash}`, "sh", "-c", RESIDENT_START]);
    try {
      const r = await sh.run("sh -s", "echo ran\n");
      assert.equal(r?.stdout, runs ? "ran\n" : undefined, bash);
      assert.equal(sh.refused, !runs, bash);
    } finally {
      await sh.close();
    }
  }
});
