/**
 * Safety, part 3: secrets never leak. The Grafana Cloud token is a fresh
 * random marker for each run (rotated once), given in a vars file (`-e @FILE`,
 * never in argv). Migrate, the rotation, verify, a playbook whose tasks use
 * the token and fail, and rollback run with `-vvv --diff`, `--json` or the
 * console, and `--report FILE.html`. The marker (raw, and base64 at every
 * alignment) must appear 0 times in: stdout, stderr, JSON events and the
 * reports; the argv of every process on this machine (sampled from
 * /proc/*\/cmdline every few ms, and every ssh drover started, logged by a
 * wrapper) and on the hosts (sampled by a script on each host); the hosts'
 * journal and syslog; every file a run wrote on this machine; every file on
 * the hosts (their overlay upper dirs, and /tmp, /run, /dev/shm) but the env
 * file, which must be 0600 root:root; and an unprivileged user on the host
 * (dev) watching /etc/default, /etc, /tmp with inotify must never be able to
 * open a file holding it. Sanity checks show each probe does find a marker.
 */
import assert from "node:assert/strict";
import { ROOT, withTempDir } from "./helpers.ts";
import { onHost, TEST_HOSTS } from "./lab_helpers.ts";
import {
  freshHosts,
  inventory,
  LAB_STATE,
  local,
  marker,
  onHostOk,
  run,
  sanitize,
  VARS,
} from "./safety_helpers.ts";

const HOSTS = TEST_HOSTS.slice(0, 2);
const ENV_FILE = "etc/default/alloy";

/** The marker and its base64 at the three alignments (full groups only). */
function forms(m: string): string[] {
  const out = [m];
  for (const k of [0, 1, 2]) {
    const bytes = new TextEncoder().encode("x".repeat(k) + m);
    const b64 = btoa(String.fromCharCode(...bytes));
    out.push(b64.slice(k ? 4 : 0, Math.floor(bytes.length / 3) * 4));
  }
  return out;
}

/** Needle → label (`M1`, `M1/b64+1`, ...) for every form of every marker. */
function needles(markers: Record<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [label, m] of Object.entries(markers)) {
    forms(m).forEach((f, i) => out.set(f, i === 0 ? label : `${label}/b64+${i - 1}`));
  }
  return out;
}

/** Occurrences of every needle in `text`, by label. */
function count(text: string, ns: Map<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [n, label] of ns) {
    const c = text.split(n).length - 1;
    if (c) out[label] = (out[label] ?? 0) + c;
  }
  return out;
}

/** Replace every needle by its label (for reporting a hit without repeating the marker). */
function mask(text: string, ns: Map<string, string>): string {
  for (const [n, label] of ns) text = text.replaceAll(n, `<${label}>`);
  return text;
}

/** Samples /proc/*\/cmdline of this machine every few ms until stopped. */
class ControlSampler {
  samples = 0;
  readonly hits: string[] = [];
  #stop = false;
  readonly #done: Promise<void>;

  constructor(private readonly ns: Map<string, string>) {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    const dec = new TextDecoder();
    while (!this.#stop) {
      for (const e of Deno.readDirSync("/proc")) {
        if (!/^\d+$/.test(e.name)) continue;
        let s: string;
        try {
          s = dec.decode(Deno.readFileSync(`/proc/${e.name}/cmdline`));
        } catch {
          continue;
        }
        for (const n of this.ns.keys()) {
          if (s.includes(n)) {
            this.hits.push(`${e.name}: ${mask(s.replaceAll("\0", " "), this.ns)}`);
            break;
          }
        }
      }
      this.samples++;
      await new Promise((r) => setTimeout(r, 3));
    }
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

/** Watches directories with inotify as an unprivileged user and opens every file it can. */
const PROBE = String.raw`import ctypes, os, struct, sys
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = libc.inotify_init()
markers = [kv.split("=", 1) for kv in os.environ["PROBE_MARKERS"].split()]
stop = os.environ["PROBE_STOP"]
wd = {}
for d in sys.argv[1:]:
    w = libc.inotify_add_watch(fd, d.encode(), 0x2 | 0x4 | 0x8 | 0x80 | 0x100)
    if w >= 0:
        wd[w] = d
print("watching", len(wd), flush=True)
events = opened = 0
while True:
    buf = os.read(fd, 65536)
    i = 0
    while i < len(buf):
        w, mask, cookie, ln = struct.unpack_from("iIII", buf, i)
        name = buf[i + 16:i + 16 + ln].rstrip(b"\0").decode(errors="replace")
        i += 16 + ln
        events += 1
        p = os.path.join(wd.get(w, "?"), name)
        if p == stop:
            print("events", events, "opened", opened, flush=True)
            sys.exit(0)
        try:
            with open(p, "rb") as f:
                data = f.read()
        except OSError:
            continue
        opened += 1
        for label, m in markers:
            if m.encode() in data:
                print("read", label, p, flush=True)
`;

/**
 * The host's argv sampler: every /proc/PID/cmdline, every 5 ms, until
 * DIR/stop exists; a hit is logged with each needle replaced by its label.
 */
const SAMPLER = String.raw`import os, sys, time
d = sys.argv[1]
needles = [l.split(b"\t") for l in open(d + "/needles", "rb").read().split(b"\n") if l]
hits = open(d + "/hits", "a")
n = 0
while not os.path.exists(d + "/stop"):
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/" + p + "/cmdline", "rb") as f:
                c = f.read()
        except OSError:
            continue
        if any(nd in c for nd, _ in needles):
            for nd, lb in needles:
                c = c.replace(nd, b"<" + lb + b">")
            hits.write("/proc/%s/cmdline %s\n" % (p, c.replace(b"\0", b" ").decode(errors="replace")))
            hits.flush()
    n += 1
    time.sleep(0.005)
open(d + "/count", "w").write("%d\n" % n)
open(d + "/stopped", "w").close()
`;

const HOST_DIR = "/run/drover-secrets";
const PROBE_DIR = "/run/drover-secrets-probe";
const PROBE_STOP = "/tmp/drover-secrets-probe-stop";
const SANITY_FILE = "/tmp/drover-secrets-sanity";

/**
 * Start, on a host, the argv sampler (root) and the unprivileged reader
 * (dev). Markers travel in this script's stdin and sit in root-only files
 * under /run; neither process has one in its argv.
 */
function hostStartScript(ns: Map<string, string>, markers: Record<string, string>): string {
  const pat = [...ns.keys()].join("\n");
  const sed = [...ns].map(([n, l]) => `s|${n}|<${l}>|g`).join("\n");
  const tsv = [...ns].map(([n, l]) => `${n}\t${l}`).join("\n");
  const env = Object.entries(markers).map(([l, m]) => `${l}=${m}`).join(" ");
  return `set -e
d=${HOST_DIR}
rm -rf $d ${PROBE_DIR} ${PROBE_STOP} ${SANITY_FILE}
mkdir -m 700 $d
cat > $d/pat <<'DROVER_PAT'
${pat}
DROVER_PAT
cat > $d/mask.sed <<'DROVER_PAT'
${sed}
DROVER_PAT
cat > $d/needles <<'DROVER_PAT'
${tsv}
DROVER_PAT
cat > $d/sampler.py <<'DROVER_PAT'
${SAMPLER}
DROVER_PAT
setsid python3 $d/sampler.py $d </dev/null >/dev/null 2>&1 &
mkdir -m 755 ${PROBE_DIR}
cat > ${PROBE_DIR}/probe.py <<'DROVER_PAT'
${PROBE}
DROVER_PAT
PROBE_MARKERS='${env}' PROBE_STOP=${PROBE_STOP} setsid runuser -u dev -- python3 ${PROBE_DIR}/probe.py /etc/default /etc /tmp /var/tmp /home/dev </dev/null >${PROBE_DIR}/out 2>&1 &
for i in $(seq 100); do grep -q '^watching' ${PROBE_DIR}/out && break; sleep 0.1; done
grep '^watching' ${PROBE_DIR}/out
`;
}

/** Sanity: a marker in a process's argv, in a readable file, in the journal. */
function hostSanityScript(s: string): string {
  return `set -e
sh -c 'sleep 1.5' ${s} &
printf 'sanity %s\\n' '${s}' > ${SANITY_FILE}
printf 'sanity %s\\n' '${s}' | systemd-cat -t drover-secrets-sanity
for i in $(seq 100); do grep -q '<S>' ${HOST_DIR}/hits && grep -q '^read S' ${PROBE_DIR}/out && break; sleep 0.1; done
wait
`;
}

/** Stop the host's probes; print what they saw, the journal's, syslog's and tmpfs's hits. */
const HOST_STOP = `d=${HOST_DIR}
touch $d/stop; for i in $(seq 100); do [ -e $d/stopped ] && break; sleep 0.1; done
touch ${PROBE_STOP}; for i in $(seq 50); do grep -q '^events' ${PROBE_DIR}/out && break; sleep 0.1; done
echo "count $(cat $d/count)"
sed 's/^/hit /' $d/hits
sed 's/^/probe /' ${PROBE_DIR}/out
journalctl --no-pager -o export | grep -a -o -F -f $d/pat | sed -f $d/mask.sed | sed 's/^/journal /'
for f in /var/log/syslog /var/log/messages /var/log/auth.log /var/log/daemon.log /var/log/user.log; do
  [ -f "$f" ] || continue
  echo "syslog-file $f"
  grep -a -o -F -f $d/pat "$f" | sed -f $d/mask.sed | sed "s|^|syslog $f |"
done
grep -r -o -a -D skip -F -f $d/pat /tmp /run /dev/shm --exclude-dir=drover-secrets --exclude-dir=drover-secrets-probe 2>/dev/null | sed -f $d/mask.sed | sed 's/^/tmpfs /'
rm -rf $d ${PROBE_DIR} ${PROBE_STOP} ${SANITY_FILE}
`;

/** A playbook whose tasks use the token in every way a user might, and fail. */
const FAILING = `- hosts: all
  gather_facts: false
  tasks:
    - name: a shell task that prints the token and fails
      shell: "echo 'connecting with {{ grafana_cloud_token }}'; echo 'token={{ grafana_cloud_token }}' >&2; printf '%s' '{{ grafana_cloud_token }}' | base64; exit 3"
      ignore_errors: true
    - name: the token under a harmless name
      set_fact:
        harmless: "{{ grafana_cloud_token }}"
    - name: show it
      debug:
        var: harmless
    - name: show it in a message, base64 too
      debug:
        msg: "the token is {{ harmless }} ({{ grafana_cloud_token | b64encode }})"
    - name: a template holding the token that does not validate (prints it)
      template:
        src: secret.j2
        dest: /etc/drover-secrets-test.conf
        mode: "0600"
        validate: "cat %s && false"
      ignore_errors: true
    - name: a file holding the token that cannot be written
      copy:
        content: "token={{ grafana_cloud_token }}\\n"
        dest: /nonexistent-dir/secret.conf
      ignore_errors: true
    - name: a request with the token as password and bearer that fails
      uri:
        url: http://packages.lab:8080/no-such-path
        url_username: "123456"
        url_password: "{{ grafana_cloud_token }}"
        force_basic_auth: true
        headers:
          Authorization: "Bearer {{ grafana_cloud_token }}"
      ignore_errors: true
    - name: a no_log task that fails
      shell: "echo {{ grafana_cloud_token }}; echo {{ grafana_cloud_token }} >&2; exit 1"
      no_log: true
      ignore_errors: true
    - name: an assertion on the token
      assert:
        that: ["grafana_cloud_token == 'not-the-token'"]
      ignore_errors: true
    - name: fail with the token in the message
      fail:
        msg: "giving up with {{ grafana_cloud_token }}"
`;

const TEMPLATE = "# a config holding the token\ntoken={{ grafana_cloud_token }}\n";

Deno.test({
  name:
    "secrets never leak: migrate, rotation, verify, a failing playbook, rollback; outputs, argv, journal, files",
  ...sanitize,
  fn: async () => {
    await freshHosts(HOSTS);
    await withTempDir(async (dir) => {
      const inv = await inventory(dir, HOSTS);
      const markers = { M1: marker(), M2: marker(), S: marker() };
      const all = needles(markers);
      const secret = needles({ M1: markers.M1, M2: markers.M2 });
      const vars = (m: string) => {
        const p = `${dir}/secret-${m.slice(-6)}.yml`;
        Deno.writeTextFileSync(p, `grafana_cloud_token: "${m}"\n`, { mode: 0o600 });
        return ["-e", `@${p}`];
      };
      const v1 = vars(markers.M1);
      const v2 = vars(markers.M2);
      await Deno.writeTextFile(`${dir}/pat`, [...all.keys()].join("\n") + "\n");
      await Deno.writeTextFile(
        `${dir}/mask.sed`,
        [...all].map(([n, l]) => `s|${n}|<${l}>|g`).join("\n") + "\n",
      );
      const pbDir = `${dir}/failing`;
      await Deno.mkdir(`${pbDir}/templates`, { recursive: true });
      await Deno.writeTextFile(`${pbDir}/failing.yml`, FAILING);
      await Deno.writeTextFile(`${pbDir}/templates/secret.j2`, TEMPLATE);
      // Every ssh drover starts goes through this wrapper, which logs its argv.
      await Deno.mkdir(`${dir}/bin`);
      const realSsh = (await local("command -v ssh")).stdout.trim();
      await Deno.writeTextFile(
        `${dir}/bin/ssh`,
        `#!/bin/sh\nprintf 'CALL\\0' >> ${dir}/ssh.argv\nprintf '%s\\0' "$@" >> ${dir}/ssh.argv\nexec ${realSsh} "$@"\n`,
      );
      await Deno.chmod(`${dir}/bin/ssh`, 0o755);
      const env = { PATH: `${dir}/bin:${Deno.env.get("PATH")}` };
      await local(`touch ${dir}/stamp`);

      const leaks: string[] = [];
      const check = (what: string, text: string) => {
        const c = count(text, secret);
        if (Object.keys(c).length) leaks.push(`${what}: ${JSON.stringify(c)}`);
      };
      let redacted = 0;
      let runs = 0;
      const took: string[] = [];
      const go = async (
        name: string,
        args: string[],
        want: number,
        json: boolean,
      ): Promise<string> => {
        const report = `${dir}/${name}.html`;
        const t0 = Date.now();
        const r = await run([...args, "-i", inv, "-vvv", "--diff", "--report", report], env);
        runs++;
        took.push(`${name} ${Math.round((Date.now() - t0) / 1000)} s`);
        assert.equal(r.code, want, `${name}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
        check(`${name} stdout`, r.stdout);
        check(`${name} stderr`, r.stderr);
        const html = await Deno.readTextFile(report);
        check(`${name} report`, html);
        if (json) {
          const events = r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
          assert.ok(events.length > 10, `${name}: ${events.length} events`);
          check(`${name} JSON events`, JSON.stringify(events));
        }
        redacted += r.stdout.split("<redacted>").length - 1;
        return r.stdout;
      };

      // Probes start; each one must see the sanity marker S. A failure stops them.
      const control = new ControlSampler(all);
      try {
        for (const h of HOSTS) {
          assert.match(await onHostOk(h, hostStartScript(all, markers)), /^watching 5$/m);
        }
        const sane = new Deno.Command("sh", { args: ["-c", "sleep 1", markers.S] }).spawn();
        await Promise.all(HOSTS.map((h) => onHostOk(h, hostSanityScript(markers.S))));
        await sane.status;
        assert.ok(control.hits.some((l) => l.includes("<S>")), "the control sampler saw S");

        // 1. migrate on fresh hosts (JSON), 2. the token rotated (console, the env file's diff).
        // The env file's diff holds the token line, redacted (a rotation's two lines then look
        // the same: the diff shows no line, as the old token is redacted too).
        const mig = await go(
          "migrate",
          ["playbooks/migrate.yml", ...VARS, ...v1, "--json"],
          0,
          true,
        );
        assert.match(mig, /GRAFANA_CLOUD_API_KEY=\\"<redacted>/, "the env file's diff is shown");
        const rot = await go("rotate", ["playbooks/migrate.yml", ...VARS, ...v2], 0, false);
        assert.match(
          rot,
          /^--- before: \/etc\/default\/alloy$/m,
          "the rotation rewrote the env file",
        );

        // The file check finds the token in the env file (0600 root:root), and nowhere else.
        for (const h of HOSTS) {
          const up = `${LAB_STATE}/hosts/${h}/upper`;
          const st = await local(`stat -c '%a %u %g' ${up}/${ENV_FILE}`);
          assert.equal(st.stdout.trim(), "600 0 0", `${h}: the env file's mode and owner`);
          const g = await local(
            `cd ${up} && grep -r -o -a -D skip -F -f ${dir}/pat . | sed -f ${dir}/mask.sed | sort | uniq -c`,
          );
          assert.match(g.stdout, /^\s*1 \.\/etc\/default\/alloy:<M2>$/m, `${h}: ${g.stdout}`);
          for (const l of g.stdout.split("\n").filter((l) => /<M[12]/.test(l))) {
            if (!l.includes(`./${ENV_FILE}:<M2>`)) leaks.push(`${h} file after rotation: ${l}`);
          }
        }

        // 3. verify (JSON), 4-5. a failing playbook (JSON, then console).
        await go("verify", ["playbooks/verify.yml", ...VARS, ...v2, "--json"], 0, true);
        const failJson = await go(
          "failing-json",
          [`${pbDir}/failing.yml`, ...v2, "--json"],
          2,
          true,
        );
        const failText = await go("failing", [`${pbDir}/failing.yml`, ...v2], 2, false);
        for (const out of [failJson, failText]) {
          assert.match(out, /connecting with <redacted>/, "the shell task ran and was redacted");
          assert.match(out, /the token is <redacted> \(<redacted>\)/);
          assert.match(out, /giving up with <redacted>/);
          assert.match(out, /no_log: true/);
        }
        // 6. rollback, without the token's vars (as a user runs it): drover does not know it.
        await go("rollback", ["playbooks/rollback.yml"], 0, false);
      } catch (e) {
        await control.stop();
        await Promise.all(HOSTS.map((h) => onHost(h, HOST_STOP)));
        throw e;
      }

      // Stop the probes; collect the hosts' findings.
      await control.stop();
      let hostSamples = 0;
      let probeEvents = 0;
      let syslogs = 0;
      for (const h of HOSTS) {
        const out = await onHostOk(h, HOST_STOP);
        const lines = out.split("\n").filter(Boolean);
        const n = Number(/^count (\d+)$/m.exec(out)?.[1]);
        assert.ok(n > 0, `${h}: the argv sampler ran: ${out}`);
        hostSamples += n;
        assert.match(out, /^hit \S+ sh -c sleep 1\.5 <S>\s*$/m, `${h}: the sampler saw S: ${out}`);
        assert.match(out, /^probe read S \/tmp\/drover-secrets-sanity$/m, `${h}: probe saw S`);
        assert.match(out, /^journal <S>$/m, `${h}: the journal holds S`);
        assert.match(out, /^tmpfs \/tmp\/drover-secrets-sanity:<S>$/m, `${h}: tmpfs grep saw S`);
        probeEvents += Number(/^probe events (\d+)/m.exec(out)?.[1] ?? NaN);
        syslogs += lines.filter((l) => l.startsWith("syslog-file ")).length;
        for (const l of lines) {
          if (/^(hit|journal|syslog|tmpfs) /.test(l) && /<M[12]/.test(l)) leaks.push(`${h} ${l}`);
          if (/^probe read M/.test(l)) leaks.push(`${h} unprivileged ${l}`);
        }
        // Every file on the host: after rollback not even the env file holds it.
        const up = `${LAB_STATE}/hosts/${h}/upper`;
        const g = await local(
          `cd ${up} && grep -r -o -a -D skip -F -f ${dir}/pat . | sed -f ${dir}/mask.sed`,
        );
        for (const l of g.stdout.split("\n").filter(Boolean)) {
          if (/<M[12]/.test(l)) leaks.push(`${h} file: ${l}`);
        }
      }
      assert.ok(Number.isFinite(probeEvents) && probeEvents > 0, "the unprivileged probe ran");

      // This machine: argv of every process, every ssh drover ran, every file written.
      for (const l of control.hits) if (/<M[12]/.test(l)) leaks.push(`control argv ${l}`);
      const sshLog = await Deno.readTextFile(`${dir}/ssh.argv`);
      const sshCalls = sshLog.split("CALL\0").length - 1;
      assert.ok(sshCalls > 10, `ssh calls: ${sshCalls}`);
      check("ssh argv", sshLog);
      const mine = [`${dir}/pat`, `${dir}/mask.sed`, v1[1].slice(1), v2[1].slice(1)];
      const files = await local(
        `find /tmp /root ${ROOT} -xdev -type f -newer ${dir}/stamp -size -20M 2>/dev/null | grep -v -x -F ${
          mine.map((p) => `-e ${p}`).join(" ")
        } | tr '\\n' '\\0' | xargs -0 -r grep -l -a -F -f ${dir}/pat 2>/dev/null`,
      );
      for (const f of files.stdout.split("\n").filter(Boolean)) {
        const c = count(await Deno.readTextFile(f).catch(() => ""), secret);
        if (Object.keys(c).length) leaks.push(`control file ${f}: ${JSON.stringify(c)}`);
      }

      console.log(
        `safety/secrets: ${runs} runs, ${leaks.length} leaks, ${control.samples} control + ${hostSamples} host argv samples, ${sshCalls} ssh argv logged, ${probeEvents} unprivileged-reader file events, ${redacted} redactions on stdout, syslog files: ${syslogs} (${
          took.join(", ")
        })`,
      );
      assert.deepEqual(leaks, []);
      assert.ok(redacted > 0, "redaction happened (the marker was there to leak)");
    });
  },
});
