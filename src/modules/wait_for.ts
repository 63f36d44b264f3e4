/**
 * @module
 * `wait_for` (alias `ansible.builtin.wait_for`): wait until a TCP port is
 * open or closed, a file exists (and matches a regex) or is gone, or — a
 * drover extension — a URL answers with an expected status. The polling
 * loop runs on the host in one script, so a wait is one round trip however
 * long it takes. Never reports a change.
 *
 * Ports are probed with bash's `/dev/tcp` when bash exists, else `nc -z` (`nc -e true`
 * where nc has no -z, as BusyBox's),
 * else (local addresses only) the LISTEN sockets in `/proc/net/tcp{,6}`.
 * URLs with curl, else GNU wget. `search_regex` is a POSIX extended regex
 * (grep -E); `\d`, `\s`, `\w` and `(?P<name>...)` are translated.
 *
 * @example
 * ```yaml
 * - name: Alloy is ready
 *   wait_for:
 *     url: http://127.0.0.1:12345/-/ready
 *     status_code: 200
 *     timeout: 60
 * - name: The OTLP port is free before Alloy starts
 *   wait_for:
 *     port: 4317
 *     state: stopped
 *     timeout: 30
 * ```
 */
import { z } from "zod";
import { defineModule, ModuleFailure, readHost } from "../core/module.ts";
import { bool, int, list, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";
import { sections } from "./docker_compose.ts";
import { checkModeSkip, httpFunction, modelFlags } from "./uri.ts";

/** Arguments of `wait_for`. */
export const waitForArgs = z.object({
  host: str().default("127.0.0.1"),
  port: int().optional(),
  path: str().optional(),
  url: str().optional(),
  state: z.enum(["started", "stopped", "present", "absent"]).default("started"),
  timeout: int().default(300),
  delay: int().default(0),
  sleep: int().default(1),
  connect_timeout: int().default(5),
  search_regex: str().optional(),
  /** With `url`: the statuses that count as up. */
  status_code: list(int()).default([200]),
  validate_certs: bool().default(true),
  msg: str().optional(),
}).strict().refine((a) => [a.port, a.path, a.url].filter((x) => x !== undefined).length <= 1, {
  message: "give at most one of 'port', 'path', 'url'",
});

/** Parsed arguments of `wait_for`. */
export type WaitForArgs = z.infer<typeof waitForArgs>;

/**
 * Translate the Python regex features people use in `search_regex` into
 * POSIX ERE for grep -E. Pure.
 */
export function pyToEre(re: string): string {
  const inClass: Record<string, string> = { d: "0-9", s: "[:space:]", w: "[:alnum:]_" };
  const outside: Record<string, string> = {
    d: "[0-9]",
    D: "[^0-9]",
    s: "[[:space:]]",
    S: "[^[:space:]]",
    w: "[[:alnum:]_]",
    W: "[^[:alnum:]_]",
  };
  let out = "";
  let cls = false;
  for (let i = 0; i < re.length; i++) {
    const c = re[i];
    if (c === "\\" && i + 1 < re.length) {
      const n = re[++i];
      out += cls ? (inClass[n] ?? n) : (outside[n] ?? `\\${n}`);
    } else if (!cls && c === "[") {
      cls = true;
      out += c;
      if (re[i + 1] === "^") out += re[++i];
      if (re[i + 1] === "]") out += re[++i];
    } else if (cls && c === "]") {
      cls = false;
      out += c;
    } else if (!cls && re.startsWith("(?P<", i)) {
      i = re.indexOf(">", i);
      out += "(";
    } else if (!cls && re.startsWith("(?:", i)) {
      i += 2;
      out += "(";
    } else out += c;
  }
  return out;
}

/** The same regex for JavaScript, to report match groups. Pure. */
export function pyToJs(re: string): RegExp | undefined {
  try {
    return new RegExp(re.replace(/\(\?P<(\w+)>/g, "(?<$1>"));
  } catch {
    return undefined;
  }
}

/** Is `host` this machine (so /proc/net/tcp can answer for it)? Pure. */
export function isLocalHost(host: string): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|0\.0\.0\.0|::1?|\[::1?\])$/.test(host);
}

/** What the wait is for, in words, for messages. Pure. */
export function describeWait(a: WaitForArgs): string {
  const up = a.state === "started" || a.state === "present";
  if (a.url !== undefined) {
    return up
      ? `${a.url} to return ${a.status_code.join("|")}${
        a.search_regex ? ` matching /${a.search_regex}/` : ""
      }`
      : `${a.url} to stop answering`;
  }
  if (a.port !== undefined) {
    return `${a.host}:${a.port} to be ${up ? "open" : "closed"}${
      up && a.search_regex ? ` and say /${a.search_regex}/` : ""
    }`;
  }
  if (a.path !== undefined) {
    return up
      ? `${a.path} to exist${a.search_regex ? ` and match /${a.search_regex}/` : ""}`
      : `${a.path} to be absent`;
  }
  return `${a.timeout}s`;
}

function probeFunction(a: WaitForArgs): string {
  const up = a.state === "started" || a.state === "present";
  const re = a.search_regex !== undefined ? shq(pyToEre(a.search_regex)) : undefined;
  const ct = a.connect_timeout;
  if (a.url !== undefined) {
    const fn = httpFunction({
      url: a.url,
      method: "GET",
      headers: {},
      timeout: ct,
      validateCerts: a.validate_certs,
      followRedirects: true,
    });
    const accept = a.status_code.map((c) => String(c).padStart(3, "0")).join(" ");
    return `${fn}probe() {
  o=$(drover_http 2>/dev/null)
  c=\${o##*@@DROVER_HTTP }; c=\${c%%[!0-9]*}; last=$c
${
      up
        ? `  case " ${accept} " in *" $c "*) ;; *) return 1 ;; esac
${
          re
            ? `  b=\${o%@@DROVER_HTTP*}; m=$(printf '%s\\n' "$b" | grep -E -m1 -- ${re}) || return 1\n`
            : ""
        }  return 0`
        : `  [ "$c" = 000 ]`
    }
}
sec method; echo http
`;
  }
  if (a.port !== undefined) {
    const h = shq(a.host);
    const p = a.port;
    const local = isLocalHost(a.host);
    const hex = p.toString(16).toUpperCase().padStart(4, "0");
    const banner = re ? `  m=$(banner 2>/dev/null | grep -E -m1 -- ${re}) || return 1\n` : "";
    return `T=; command -v timeout >/dev/null 2>&1 && T="timeout ${ct}"
if command -v bash >/dev/null 2>&1; then M=bash
elif command -v nc >/dev/null 2>&1; then M=nc; nc -h 2>&1 | grep -q -- ' -z' && M=ncz
elif ${local ? "[ -r /proc/net/tcp ]" : "false"}; then M=proc
else M=; fi
sec method; echo "$M"
open() { case $M in
  bash) $T bash -c 'exec 3<>"/dev/tcp/$0/$1"' ${h} ${p} 2>/dev/null ;;
  ncz) nc -z -w ${ct} ${h} ${p} >/dev/null 2>&1 ;;
  nc) tp=/bin/true; [ -x $tp ] || tp=true; nc -w ${ct} ${h} ${p} -e $tp </dev/null >/dev/null 2>&1 ;;
  proc) cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == "0A" { n = split($2, a, ":"); if (a[n] == "${hex}") f = 1 } END { exit !f }' ;;
  *) return 2 ;;
esac; }
banner() { case $M in
  bash) $T bash -c 'exec 3<>"/dev/tcp/$0/$1" && cat <&3' ${h} ${p} ;;
  nc*) nc -w ${ct} ${h} ${p} </dev/null ;;
esac; }
probe() {
${
      up
        ? `  open || return 1\n${banner}  return 0`
        : `  open; r=$?; [ $r = 2 ] && return 1; [ $r != 0 ]`
    }
}
if [ -z "$M" ]${re && up ? ` || [ "$M" = proc ]` : ""}; then sec nomethod; exit 0; fi
`;
  }
  if (a.path !== undefined) {
    const f = shq(a.path);
    return `sec method; echo file
probe() {
${
      up
        ? `  [ -e ${f} ] || return 1\n${
          re ? `  m=$(grep -E -m1 -- ${re} ${f} 2>/dev/null) || return 1\n` : ""
        }  return 0`
        : `  [ ! -e ${f} ]`
    }
}
`;
  }
  return `sec method; echo sleep\nprobe() { return 1; }\n`;
}

/**
 * The script: probe, sleep, repeat until the probe passes or `timeout`
 * seconds (counted from the start, delay included) have passed. With
 * `once`, probe a single time. Prints `@@done` with `ok`/`timeout` and the
 * elapsed seconds.
 */
export function waitScript(a: WaitForArgs, once = false): string {
  const sleepOnly = a.port === undefined && a.path === undefined && a.url === undefined;
  const timeout = once ? 0 : a.timeout;
  // Seconds from /proc/uptime, read by the shell (no process), or from date.
  return `sec() { printf '\\n@@%s\\n' "$1"; }
last=; m=
tnow() { if read -r t _ 2>/dev/null </proc/uptime; then t=\${t%%.*}; else t=$(date +%s); fi; }
${probeFunction(a)}tnow; T0=$t
${!once && a.delay > 0 ? `sleep ${a.delay}\n` : ""}${
    sleepOnly
      ? `${once ? "" : `sleep ${a.timeout}\n`}sec done; tnow; echo ok $((t - T0)); exit 0\n`
      : ""
  }while :; do
  if probe; then sec done; tnow; echo ok $((t - T0)); sec match; printf '%s\\n' "$m"; exit 0; fi
  tnow; el=$((t - T0))
  if [ $el -ge ${timeout} ]; then sec done; echo timeout $el; sec last; echo "$last"; exit 0; fi
  s=${Math.max(1, a.sleep)}; rem=$((${timeout} - el)); [ $rem -lt $s ] && s=$rem
  sleep $s
done
`;
}

/** `wait_for`: wait on the host for a port, a file or a URL. */
export const waitFor = defineModule({
  name: "wait_for",
  aliases: ["ansible.builtin.wait_for"],
  doc: "Wait until a port is open/closed, a file exists/matches/is gone, or a URL answers.",
  args: waitForArgs,
  reads: (a, rc) => {
    const w = a as WaitForArgs;
    const up = w.state === "started" || w.state === "present";
    const once = checkModeSkip(rc.check, modelFlags(rc.model), describeWait(w), up) !== undefined;
    return once || w.delay === 0
      ? [{ script: waitScript(w, true), timeoutMs: (w.connect_timeout + 30) * 1000 }]
      : [];
  },
  async run(ctx, a) {
    const what = describeWait(a);
    const up = a.state === "started" || a.state === "present";
    const skip = checkModeSkip(ctx.check, modelFlags(ctx.model), what, up);
    const once = skip !== undefined;
    // A probe batched with earlier reads that already found it needs no wait (no round trip).
    const probe = waitScript(a, true);
    const cached = !once && a.delay === 0 ? ctx.peek?.(probe) : undefined;
    const r = cached && /^ok\b/.test((sections(cached.stdout).get("done") ?? "").trim())
      ? cached
      : once
      ? await readHost(ctx, probe, { timeoutMs: (a.connect_timeout + 30) * 1000 })
      : await readHost(ctx, waitScript(a, false), {
        timeoutMs: (a.timeout + a.delay + a.connect_timeout + 30) * 1000,
        fresh: true,
      });
    const s = sections(r.stdout);
    const base = {
      state: a.state,
      ...(a.port !== undefined ? { host: a.host, port: a.port } : {}),
      ...(a.path !== undefined ? { path: a.path } : {}),
      ...(a.url !== undefined ? { url: a.url } : {}),
      ...(a.search_regex !== undefined ? { search_regex: a.search_regex } : {}),
      method: s.get("method")?.trim(),
    };
    if (s.has("nomethod")) {
      throw new ModuleFailure(
        a.search_regex
          ? `cannot read from ${a.host}:${a.port}: neither bash nor nc on the host`
          : `cannot check ${a.host}:${a.port}: neither bash nor nc on the host${
            isLocalHost(a.host) ? "" : " (and it is not a local address)"
          }`,
        base,
      );
    }
    const [outcome, elapsedText] = (s.get("done") ?? "").trim().split(" ");
    const elapsed = Number(elapsedText ?? 0);
    if (outcome === "ok") {
      const line = s.get("match")?.trim() ?? "";
      const m = a.search_regex && line ? pyToJs(a.search_regex)?.exec(line) : null;
      return {
        changed: false,
        msg: `waited ${elapsed}s for ${what}`,
        data: {
          ...base,
          elapsed,
          ...(m ? { match_groups: m.slice(1), match_groupdict: { ...(m.groups ?? {}) } } : {}),
        },
      };
    }
    if (skip) return { changed: false, msg: skip, data: { ...base, check_mode_skipped: true } };
    if (outcome !== "timeout") {
      throw new ModuleFailure(`wait_for script failed: ${r.stderr.trim() || `exit ${r.rc}`}`, base);
    }
    const last = s.get("last")?.trim();
    const lastText = a.url !== undefined && last
      ? `; last answer: ${last === "000" ? "no connection" : `HTTP ${last}`}`
      : "";
    throw new ModuleFailure(
      a.msg ?? `Timeout when waiting for ${what} (waited ${elapsed}s${lastText})`,
      { ...base, elapsed },
    );
  },
});
