/**
 * @module
 * Test support for module tests: a real {@linkcode ModuleContext} on this
 * machine (LocalConnection), a fake one that answers scripts from the test
 * ({@linkcode fakeContext}), a private /etc in a mount namespace
 * ({@linkcode privateEtc}), and a throwaway Docker daemon in its own network
 * namespace so container tests touch nothing else on the machine.
 */
import { HostModel, type ModuleContext, type ShResult } from "../core/module.ts";
import type { Connection } from "../core/connection.ts";
import { LocalConnection } from "../connection/local.ts";
import { spawnWithStdin } from "../connection/shell.ts";
import { type Facts, FACTS_SCRIPT, parseFacts } from "../facts/mod.ts";
import { Templar } from "../template/mod.ts";

/** Options of {@linkcode localContext}. */
export interface LocalContextOptions {
  readonly check?: boolean;
  readonly env?: Readonly<Record<string, string>>;
  readonly model?: HostModel;
  /** Facts to use; gathered from this machine when omitted. */
  readonly facts?: Facts;
}

/** A module context that runs scripts on this machine, like `ansible_connection: local`. */
export async function localContext(options: LocalContextOptions = {}): Promise<ModuleContext> {
  const conn = new LocalConnection("localhost");
  const facts = options.facts ??
    parseFacts((await conn.exec(FACTS_SCRIPT, { env: options.env })).stdout);
  return {
    host: "localhost",
    conn,
    check: options.check ?? false,
    diff: true,
    env: options.env,
    facts,
    model: options.model ?? new HostModel(),
    vars: {},
    templar: new Templar(),
    searchPaths: [],
    secret() {},
    sh: (script, o) => conn.exec(script, { env: options.env, timeoutMs: o?.timeoutMs }),
  };
}

/**
 * A fake host for planner tests: every script a module runs is recorded in
 * `scripts` and answered by `answer`; nothing leaves the process.
 */
export function fakeContext(
  check: boolean,
  model: HostModel,
  answer: (script: string) => ShResult,
  facts: Partial<Facts> = {},
): { ctx: ModuleContext; scripts: string[] } {
  const scripts: string[] = [];
  const sh = (script: string): Promise<ShResult> => {
    scripts.push(script);
    return Promise.resolve(answer(script));
  };
  const conn: Connection = { host: "h", exec: sh, close: () => Promise.resolve() };
  const ctx: ModuleContext = {
    host: "h",
    conn,
    check,
    diff: true,
    facts: facts as Facts,
    model,
    vars: {},
    templar: new Templar(),
    searchPaths: [],
    secret() {},
    sh,
  };
  return { ctx, scripts };
}

/**
 * A private mount namespace whose /etc is a scratch copy of this machine's:
 * modules that edit users and groups run there for real and the machine's
 * own /etc is never touched. `stop()` ends it and removes the copy.
 */
export interface PrivateEtc {
  /** A process in the namespace: `nsenter -t PID -m CMD` runs CMD there. */
  readonly pid: number;
  /** A module context whose scripts run inside the namespace. */
  context(options?: { check?: boolean; model?: HostModel; facts?: Facts }): Promise<ModuleContext>;
  /** Run a script inside the namespace. */
  sh(script: string): Promise<ShResult>;
  stop(): Promise<void>;
}

/** Why {@linkcode privateEtc} cannot run here, or undefined when it can. */
export async function privateEtcUnavailable(): Promise<string | undefined> {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return "needs root on Linux";
  for (const c of ["unshare", "nsenter", "useradd", "usermod", "groupadd"]) {
    if (!(await which(c))) return `needs ${c}`;
  }
  return undefined;
}

/** Start a {@linkcode PrivateEtc}. */
export async function privateEtc(): Promise<PrivateEtc> {
  const dir = await Deno.makeTempDir({ prefix: "drover-etc-" });
  const copied = await run("cp", ["-a", "/etc", `${dir}/etc`]);
  if (copied.code !== 0) throw new Error(`copy of /etc failed: ${copied.stderr}`);
  // unshare execs sh in the new namespace without forking: the child's pid names it.
  const child = new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      `mount --bind "$1" /etc && echo ready && exec sleep 3600`,
      "sh",
      `${dir}/etc`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const first = await reader.read();
  reader.releaseLock();
  await child.stdout.cancel();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  if (!new TextDecoder().decode(first.value ?? new Uint8Array()).startsWith("ready")) {
    await stop();
    throw new Error("could not make a private /etc");
  }
  const sh = async (script: string): Promise<ShResult> => {
    const r = await spawnWithStdin(["nsenter", "-t", String(child.pid), "-m", "sh"], script);
    return { rc: r.rc, stdout: r.stdout, stderr: r.stderr };
  };
  const conn: Connection = { host: "localhost", exec: sh, close: () => Promise.resolve() };
  let gathered: Facts | undefined;
  return {
    pid: child.pid,
    sh,
    stop,
    async context(o = {}) {
      const facts = o.facts ?? (gathered ??= parseFacts((await sh(FACTS_SCRIPT)).stdout));
      return {
        host: "localhost",
        conn,
        check: o.check ?? false,
        diff: true,
        facts,
        model: o.model ?? new HostModel(),
        vars: {},
        templar: new Templar(),
        searchPaths: [],
        secret() {},
        sh,
      };
    },
  };
}

/** Run a command, return its exit code and output. */
export async function run(
  cmd: string,
  args: readonly string[],
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, { args: [...args], env, stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function which(cmd: string): Promise<boolean> {
  return (await run("sh", ["-c", `command -v ${cmd}`])).code === 0;
}

/** A Docker daemon started for a test; `stop()` ends it and removes everything it made. */
export interface TestDockerd {
  /** `unix://...` socket to use as DOCKER_HOST. */
  readonly host: string;
  /** Environment to give modules and docker commands. */
  readonly env: Record<string, string>;
  /** Run the docker CLI against this daemon. */
  docker(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** Why a real-daemon test cannot run here, or undefined when it can. */
export async function dockerdUnavailable(): Promise<string | undefined> {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return "needs root on Linux";
  for (const c of ["dockerd", "docker", "ip", "nsenter"]) {
    if (!(await which(c))) return `needs ${c}`;
  }
  if (!(await Deno.stat("/bin/busybox").catch(() => null))) return "needs busybox-static";
  return undefined;
}

/**
 * Start dockerd in a new network namespace with its own data and exec roots,
 * no iptables and no default bridge, and import `tags` as busybox images.
 */
export async function startTestDockerd(tags: readonly string[]): Promise<TestDockerd> {
  const dir = await Deno.makeTempDir({ prefix: "drover-dockerd-" });
  const ns = `drover-t${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
  const sock = `${dir}/docker.sock`;
  const host = `unix://${sock}`;
  const env = { DOCKER_HOST: host };
  let ok = (await run("ip", ["netns", "add", ns])).code === 0;
  if (!ok) throw new Error(`ip netns add ${ns} failed`);
  await run("ip", ["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
  const child = new Deno.Command("nsenter", {
    args: [
      `--net=/run/netns/${ns}`,
      "dockerd",
      "--data-root",
      `${dir}/data`,
      "--exec-root",
      `${dir}/exec`,
      "--host",
      host,
      "--pidfile",
      `${dir}/dockerd.pid`,
      "--iptables=false",
      "--ip6tables=false",
      "--ip-masq=false",
      "--bridge=none",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const docker = (...args: string[]) => run("docker", args, env);
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 15_000);
    await child.status;
    clearTimeout(timer);
    await run("sh", ["-c", `umount -R ${dir}/data ${dir}/exec 2>/dev/null; true`]);
    await run("ip", ["netns", "delete", ns]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  ok = false;
  for (let i = 0; i < 100 && !ok; i++) {
    await new Promise((r) => setTimeout(r, 200));
    ok = (await docker("version", "--format", "{{.Server.Version}}")).code === 0;
  }
  if (!ok) {
    await stop();
    throw new Error("test dockerd did not come up");
  }
  const rootfs = `${dir}/rootfs`;
  await Deno.mkdir(`${rootfs}/bin`, { recursive: true });
  await Deno.mkdir(`${rootfs}/www`);
  await Deno.mkdir(`${rootfs}/tmp`);
  await Deno.copyFile("/bin/busybox", `${rootfs}/bin/busybox`);
  for (const a of ["sh", "sleep", "httpd", "true"]) {
    await Deno.symlink("busybox", `${rootfs}/bin/${a}`);
  }
  await Deno.writeTextFile(`${rootfs}/www/index.html`, "hello\n");
  await run("tar", ["-C", rootfs, "-cf", `${dir}/rootfs.tar`, "."]);
  for (const t of tags) {
    const r = await docker("import", "-c", 'CMD ["/bin/sh"]', `${dir}/rootfs.tar`, t);
    if (r.code !== 0) {
      await stop();
      throw new Error(`docker import ${t}: ${r.stderr}`);
    }
  }
  return { host, env, docker, stop };
}

/** Podman with its own throwaway storage (vfs), for tests; undefined when podman is missing. */
export async function testPodman(): Promise<
  | {
    env: Record<string, string>;
    podman(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
    importImage(tag: string): Promise<void>;
    stop(): Promise<void>;
  }
  | undefined
> {
  if (Deno.uid() !== 0 || !(await which("podman"))) return undefined;
  if (!(await Deno.stat("/bin/busybox").catch(() => null))) return undefined;
  const dir = await Deno.makeTempDir({ prefix: "drover-podman-" });
  await Deno.writeTextFile(
    `${dir}/storage.conf`,
    `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/graph"\nrunroot = "${dir}/run"\n`,
  );
  const env = { CONTAINERS_STORAGE_CONF: `${dir}/storage.conf` };
  const podman = (...args: string[]) => run("podman", args, env);
  const rootfs = `${dir}/rootfs`;
  await Deno.mkdir(`${rootfs}/bin`, { recursive: true });
  await Deno.copyFile("/bin/busybox", `${rootfs}/bin/busybox`);
  await Deno.symlink("busybox", `${rootfs}/bin/sh`);
  await run("tar", ["-C", rootfs, "-cf", `${dir}/rootfs.tar`, "."]);
  return {
    env,
    podman,
    async importImage(tag: string) {
      const r = await podman("import", `${dir}/rootfs.tar`, tag);
      if (r.code !== 0) throw new Error(`podman import ${tag}: ${r.stderr}`);
    },
    async stop() {
      await podman("rm", "-af");
      await run("sh", ["-c", `umount -R ${dir}/graph ${dir}/run 2>/dev/null; true`]);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
