import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { shq } from "../connection/quote.ts";
import { spawnWithStdin } from "../connection/shell.ts";
import {
  DOCKER_FACT_SH,
  factVars,
  osFromRelease,
  parseFacts,
  parseOsRelease,
  parseProcTcp,
  parseSs,
} from "./mod.ts";

const OS_RELEASE = {
  debian12: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`,
  ubuntu2204: `PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
`,
  rhel9: `NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
`,
  rocky9: `NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
`,
  fedora40: `NAME="Fedora Linux"
VERSION="40 (Container Image)"
ID=fedora
VERSION_ID=40
VERSION_CODENAME=""
PLATFORM_ID="platform:f40"
PRETTY_NAME="Fedora Linux 40 (Container Image)"
`,
  mint: `NAME="Linux Mint"
ID=linuxmint-custom
ID_LIKE="ubuntu debian"
VERSION_ID="21.3"
`,
};

Deno.test("os-release: quoted and bare values, comments and blank lines", () => {
  assert.deepEqual(
    parseOsRelease(`# comment\n\nID=debian\nNAME="Debian GNU/Linux"\nX='single'\n`),
    {
      ID: "debian",
      NAME: "Debian GNU/Linux",
      X: "single",
    },
  );
});

Deno.test("os-release → Ansible's os_family, distribution and versions", () => {
  const os = (k: keyof typeof OS_RELEASE) => osFromRelease(parseOsRelease(OS_RELEASE[k]));
  assert.deepEqual(os("debian12"), {
    family: "Debian",
    distribution: "Debian",
    version: "12",
    major: "12",
    release: "bookworm",
  });
  assert.deepEqual(os("ubuntu2204"), {
    family: "Debian",
    distribution: "Ubuntu",
    version: "22.04",
    major: "22",
    release: "jammy",
  });
  assert.deepEqual(
    [os("rhel9").family, os("rhel9").distribution, os("rhel9").version, os("rhel9").major],
    ["RedHat", "RedHat", "9.4", "9"],
  );
  assert.deepEqual(
    [os("rocky9").family, os("rocky9").distribution, os("rocky9").major],
    ["RedHat", "Rocky", "9"],
  );
  assert.deepEqual(
    [os("fedora40").family, os("fedora40").distribution, os("fedora40").version],
    ["RedHat", "Fedora", "40"],
  );
  assert.equal(os("fedora40").release, "");
  assert.equal(os("mint").family, "Debian"); // from ID_LIKE
  assert.equal(osFromRelease({}).family, "unknown");
});

/** A probe output as FACTS_SCRIPT prints it. */
function probe(sections: Record<string, string>): string {
  return Object.entries(sections).map(([k, v]) => `\n@@${k}\n${v}`).join("") + "\n@@end\n";
}

Deno.test("WSL: detected from the kernel string, version 1 or 2", () => {
  const wsl = (osrelease: string, interop = "") =>
    parseFacts(probe({ osrelease, wsl_interop: interop }));
  const wsl2 = wsl("5.15.153.1-microsoft-standard-WSL2");
  assert.deepEqual([wsl2.is_wsl, wsl2.wsl_version], [true, 2]);
  const wsl2old = wsl("4.19.128-microsoft-standard");
  assert.deepEqual([wsl2old.is_wsl, wsl2old.wsl_version], [true, 2]);
  const wsl1 = wsl("4.4.0-19041-Microsoft");
  assert.deepEqual([wsl1.is_wsl, wsl1.wsl_version], [true, 1]);
  const native = wsl("6.1.0-18-amd64");
  assert.deepEqual([native.is_wsl, native.wsl_version], [false, null]);
  assert.equal(wsl("6.6.36-custom", "yes").is_wsl, true);
});

Deno.test("ss -ltnpH: IPv4, IPv6, interface scopes, with and without the process", () => {
  const ss =
    `LISTEN 0      4096   127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=512,fd=14))
LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=801,fd=3))
LISTEN 0      511                *:80               *:*
LISTEN 0      128             [::]:22            [::]:*    users:(("sshd",pid=801,fd=4))
LISTEN 0      4096   [::ffff:127.0.0.1]:8080        *:*    users:(("java",pid=9,fd=7))
LISTEN 0      64     [fe80::1%eth0]:5353          [::]:*
`;
  assert.deepEqual(parseSs(ss), [
    { address: "127.0.0.53", port: 53, process: "systemd-resolve", pid: 512 },
    { address: "0.0.0.0", port: 22, process: "sshd", pid: 801 },
    { address: "*", port: 80, process: undefined, pid: undefined },
    { address: "::", port: 22, process: "sshd", pid: 801 },
    { address: "::ffff:127.0.0.1", port: 8080, process: "java", pid: 9 },
    { address: "fe80::1", port: 5353, process: undefined, pid: undefined },
  ]);
  assert.deepEqual(parseSs(""), []);
});

Deno.test("/proc/net/tcp LISTEN sockets when ss is missing", () => {
  assert.deepEqual(
    parseProcTcp(
      "0100007F:0CEA\n00000000:0016\n00000000000000000000000000000000:0050\n00000000000000000000000001000000:1F90\n",
    ),
    [
      { address: "127.0.0.1", port: 3306 },
      { address: "0.0.0.0", port: 22 },
      { address: "::", port: 80 },
      { address: "::1", port: 8080 },
    ],
  );
});

Deno.test("a whole probe: Ubuntu with systemd, docker, ufw and sudo", () => {
  const f = parseFacts(probe({
    os_release: OS_RELEASE.ubuntu2204,
    uname_m: "x86_64",
    uname_r: "5.15.0-105-generic",
    osrelease: "5.15.0-105-generic",
    wsl_interop: "",
    pid1: "systemd",
    systemd: "yes",
    hostname: "web1",
    id: "deploy\n1000\n/home/deploy",
    meminfo: "MemTotal:        8048576 kB\nMemAvailable:    4024288 kB",
    pkg: "apt-get",
    ss: 'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=801,fd=3))',
    proc_tcp: "00000000:0050",
    docker: "present\n24.0.7",
    podman: "",
    compose: "docker compose",
    firewall: "ufw",
    sudo: "yes",
  }));
  assert.equal(f.distribution, "Ubuntu");
  assert.equal(f.distribution_major_version, "22");
  assert.equal(f.pkg_mgr, "apt");
  assert.equal(f.service_mgr, "systemd");
  assert.equal(f.systemd_running, true);
  assert.equal(f.is_wsl, false);
  assert.equal(f.architecture, "x86_64");
  assert.equal(f.hostname, "web1");
  assert.deepEqual([f.user_id, f.user_uid], ["deploy", 1000]);
  assert.deepEqual([f.memtotal_mb, f.memfree_mb], [7860, 3930]);
  assert.deepEqual(f.listening_ports.map((p) => p.port), [22]); // ss wins over /proc
  assert.deepEqual(f.docker, { present: true, version: "24.0.7", server: true });
  assert.deepEqual(f.compose_commands, ["docker compose"]);
  assert.equal(f.firewall, "ufw");
  assert.equal(f.sudo, true);
  const vars = factVars(f);
  assert.equal(vars.ansible_distribution, "Ubuntu");
  assert.equal(vars.ansible_os_family, "Debian");
  assert.equal((vars.ansible_facts as Record<string, unknown>).pkg_mgr, "apt");
});

Deno.test("a sparse probe: Rocky without systemd, dnf, docker client only, no ss", () => {
  const f = parseFacts(probe({
    os_release: OS_RELEASE.rocky9,
    pid1: "bash",
    pkg: "dnf\nyum",
    proc_tcp: "00000000:0016",
    docker: "present\nDocker version 24.0.7, build afdd53b",
    podman: "present\npodman version 4.9.4",
  }));
  assert.equal(f.pkg_mgr, "dnf");
  assert.equal(f.service_mgr, "bash");
  assert.equal(f.systemd_running, false);
  assert.deepEqual(f.listening_ports, [{ address: "0.0.0.0", port: 22 }]);
  assert.deepEqual(f.docker, { present: true, version: null, server: false });
  assert.deepEqual(f.podman, { present: true, version: "4.9.4" });
  assert.equal(f.firewall, "none");
  assert.equal(parseFacts("").os_family, "unknown");
});

Deno.test("docker fact: dockerd's Server header and docker version's output give the same facts", async () => {
  const fixtures = new URL("../../test/fixtures/docker_api/", import.meta.url);
  const headers = fileURLToPath(new URL("ping_headers.txt", fixtures));
  const cli = Deno.readTextFileSync(new URL("version_cli.txt", fixtures)).trim();
  // The fact's own script, with the API and the CLI replaced by what they answered on the lab.
  const fact = async (dapi: string, withCli = true) => {
    const r = await spawnWithStdin(
      ["sh", "-s"],
      `s() { printf '\\n@@%s\\n' "$1"; }
drover_dapi() { ${dapi}; }
docker() { [ "$1" = version ] && [ ${withCli} = true ] && printf '%s\\n' ${shq(cli)}; }
timeout() { shift; "$@"; }
${DOCKER_FACT_SH}
s podman
`,
    );
    assert.equal(r.rc, 0, r.stderr);
    return parseFacts(r.stdout).docker;
  };
  // The CLI cannot answer here: the version comes from the header.
  const viaApi = await fact(
    `[ "$1 $3 $4 $5 $6" = "/_ping -D - -o /dev/null" ] && cat ${shq(headers)}`,
    false,
  );
  assert.deepEqual(viaApi, { present: true, version: "20.10.24+dfsg1", server: true });
  assert.deepEqual(await fact("return 1"), viaApi);
  // An answer without dockerd's Server header: the CLI answers.
  assert.deepEqual(await fact("printf 'HTTP/1.1 200 OK\\r\\nServer: Libpod/4.3\\r\\n'"), viaApi);
  const docker = (line: string) => parseFacts(`\n@@docker\npresent\n${line}\n@@podman\n`).docker;
  // the CLI's fallback when the daemon is not reachable: no server version
  assert.deepEqual(docker("Docker version 20.10.24+dfsg1, build 297e128"), {
    present: true,
    version: null,
    server: false,
  });
});
