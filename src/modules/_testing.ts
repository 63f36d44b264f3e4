/**
 * @module
 * Test support for module tests: a real {@linkcode ModuleContext} on this
 * machine (LocalConnection), and a throwaway Docker daemon in its own network
 * namespace so container tests touch nothing else on the machine.
 */
import { HostModel, type ModuleContext } from "../core/module.ts";
import { LocalConnection } from "../connection/local.ts";
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
