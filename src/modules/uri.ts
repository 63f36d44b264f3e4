/**
 * @module
 * `uri` (alias `ansible.builtin.uri`): make an HTTP request from the host
 * with the host's curl (or GNU wget) and check the status. Header values,
 * credentials, the body and the URL never appear in a process's argv: curl
 * reads them as a config file from a here-document (`curl -K -`). Also home
 * of the HTTP probe `wait_for url:` uses and of the check-mode rule both
 * share: a wait for something an earlier task of the check run would have
 * started does not fail.
 *
 * @example
 * ```yaml
 * - name: Alloy answers on its HTTP port
 *   uri:
 *     url: http://127.0.0.1:12345/-/ready
 *     status_code: 200
 *     return_content: true
 *   register: ready
 * ```
 */
import { z } from "zod";
import { defineModule, type HostModel, ModuleFailure, readHost } from "../core/module.ts";
import { bool, int, list, str } from "../core/args.ts";
import { heredocTag, shq } from "../connection/quote.ts";
import { encodeB64 } from "./_files.ts";

// ---------------------------------------------------------------- check mode

/** Flag names probed when the host model cannot list its flags. */
const KNOWN_FLAGS = [
  "pkg:pending",
  "pkg:alloy",
  "service:alloy",
  "systemd:alloy.service",
  "systemd:alloy",
];

/** The host model's flags as [name, value] pairs. */
export function modelFlags(model: HostModel): [string, unknown][] {
  const m = model as HostModel & { flags?: () => Iterable<[string, unknown]> };
  if (typeof m.flags === "function") return [...m.flags()];
  return KNOWN_FLAGS.map((n): [string, unknown] => [n, model.flag(n)])
    .filter(([, v]) => v !== undefined);
}

/**
 * The flag showing that an earlier task of this run would start (`up`) or
 * stop something a wait may depend on: any `pkg:*` flag (a non-empty
 * `pkg:pending`), `service:NAME` set to started/restarted/reloaded (or
 * stopped), `systemd:UNIT` predicted running (or not), or a `compose:NAME`
 * project brought up (or down). Pure.
 */
export function earlierStarter(
  flags: Iterable<[string, unknown]>,
  up = true,
): string | undefined {
  for (const [name, value] of flags) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "pkg:pending") {
      if (Array.isArray(value) && value.length > 0) return name;
    } else if (name.startsWith("pkg:")) return name;
    else if (name.startsWith("service:") && typeof value === "string") {
      if (up ? /^(started|restarted|reloaded|running)$/.test(value) : value === "stopped") {
        return name;
      }
    } else if (name.startsWith("systemd:") && typeof value === "object") {
      if ((value as { running?: boolean }).running === up) return name;
    } else if (name.startsWith("compose:") && typeof value === "string") {
      if (up ? /^(present|restarted)$/.test(value) : /^(absent|stopped)$/.test(value)) {
        return name;
      }
    }
  }
  return undefined;
}

/**
 * In check mode, a wait that an earlier (predicted, not performed) task would
 * satisfy must not fail: returns the message to report instead, or undefined
 * when the wait should fail as usual. `up`: waiting for something to start
 * (false: to stop). Pure.
 */
export function checkModeSkip(
  check: boolean,
  flags: Iterable<[string, unknown]>,
  what: string,
  up = true,
): string | undefined {
  if (!check) return undefined;
  const by = earlierStarter(flags, up);
  return by === undefined
    ? undefined
    : `skipped in check mode: would wait for ${what} (${
      up ? "started" : "stopped"
    } by an earlier task: ${by})`;
}

// ---------------------------------------------------------------- HTTP on the host

/** One HTTP request, as the host's curl or wget will make it. */
export interface HttpRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Seconds for the whole request. */
  readonly timeout: number;
  readonly validateCerts: boolean;
  readonly followRedirects: boolean;
  readonly user?: string;
  readonly password?: string;
}

/** Quote a value for a curl config file (`"..."` with backslash escapes). Pure. */
export function curlQuote(v: string): string {
  return `"${
    v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")
      .replaceAll("\r", "\\r").replaceAll("\t", "\\t")
  }"`;
}

/** The curl config (read with `curl -K -`) for a request. Pure. */
export function curlConfig(req: HttpRequest): string {
  const lines = [
    `url = ${curlQuote(req.url)}`,
    "silent",
    "show-error",
    `max-time = ${req.timeout}`,
    `write-out = "\\n@@DROVER_HTTP %{http_code}\\n"`,
    `dump-header = "/dev/fd/3"`,
  ];
  if (req.method === "HEAD") lines.push("head");
  else if (req.method !== "GET" || req.body !== undefined) {
    lines.push(`request = ${curlQuote(req.method)}`);
  }
  for (const [k, v] of Object.entries(req.headers)) {
    lines.push(`header = ${curlQuote(`${k}: ${v}`)}`);
  }
  if (req.body !== undefined) lines.push(`data-raw = ${curlQuote(req.body)}`);
  if (!req.validateCerts) lines.push("insecure");
  if (req.followRedirects) lines.push("location", "max-redirs = 20");
  if (req.user !== undefined) {
    lines.push(`user = ${curlQuote(`${req.user}:${req.password ?? ""}`)}`);
  }
  return lines.join("\n") + "\n";
}

/** The wgetrc for a request, when it needs one (headers or credentials). Pure. */
export function wgetConfig(req: HttpRequest): string | undefined {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(req.headers)) {
    if (/[\r\n]/.test(k + v)) throw new ModuleFailure(`header ${k} contains a line break`);
    lines.push(`header = ${k}: ${v}`);
  }
  if (req.user !== undefined) {
    lines.push(`http_user = ${req.user}`, `http_password = ${req.password ?? ""}`);
    lines.push("auth_no_challenge = on");
  }
  return lines.length ? lines.join("\n") + "\n" : undefined;
}

/**
 * A shell function `drover_http` that makes the request and prints
 * `BODY\n@@DROVER_HTTP CODE\n@@DROVER_RC RC\n@@DROVER_HDR\nHEADERS\n@@DROVER_END`.
 * curl gets everything through its config on stdin; GNU wget (used only when
 * curl is missing) gets headers and credentials in a 0600 file on tmpfs that
 * is removed as soon as it exits.
 */
export function httpFunction(req: HttpRequest): string {
  const cfg = curlConfig(req);
  const ctag = heredocTag(cfg);
  const wcfg = wgetConfig(req);
  const body64 = req.body !== undefined ? encodeB64(req.body) : undefined;
  const utag = heredocTag(req.url);
  const needTmp = wcfg !== undefined || body64 !== undefined;
  const wtag = heredocTag((wcfg ?? "") + (body64 ?? ""));
  const wopts = [
    "-q",
    "-S",
    "--content-on-error",
    "-O",
    "-",
    "--tries=1",
    `--timeout=${req.timeout}`,
    ...(req.validateCerts ? [] : ["--no-check-certificate"]),
    ...(req.followRedirects ? [] : ["--max-redirect=0"]),
    ...(req.method !== "GET" ? [`--method=${shq(req.method)}`] : []),
  ].join(" ");
  return `drover_http() {
  if command -v curl >/dev/null 2>&1; then
    { h=$(curl -K - 3>&1 1>&4 4>&- <<'${ctag}'
${cfg}${ctag}
); rc=$?; } 4>&1
  elif wget --version 2>/dev/null | grep -q 'GNU Wget'; then
${
    needTmp
      ? `    t=$(umask 077; mktemp -d "\${XDG_RUNTIME_DIR:-/dev/shm}/drover.XXXXXX" 2>/dev/null || mktemp -d)
${wcfg ? `    cat > "$t/rc" <<'${wtag}'\n${wcfg}${wtag}\n` : `    : > "$t/rc"\n`}${
        body64 ? `    base64 -d > "$t/body" <<'${wtag}'\n${body64}\n${wtag}\n` : ""
      }`
      : ""
  }    { h=$(wget ${wopts}${needTmp ? ` --config="$t/rc"` : ""}${
    body64 ? ` --body-file="$t/body"` : ""
  } -i - 2>&1 1>&4 4>&- <<'${utag}'
${req.url}
${utag}
); rc=$?; } 4>&1
${
    needTmp
      ? `    rm -rf "$t"\n`
      : ""
  }    c=$(printf '%s\\n' "$h" | awk '$1 ~ /^HTTP\\// { c = $2 } END { print c + 0 }')
    printf '\\n@@DROVER_HTTP %03d\\n' "$c"
  else
    h=; rc=127; printf '\\n@@DROVER_HTTP 000\\n'
    echo "neither curl nor GNU wget is installed on the host" >&2
  fi
  printf '@@DROVER_RC %s\\n@@DROVER_HDR\\n%s\\n@@DROVER_END\\n' "$rc" "$h"
}
`;
}

/** What came back from {@linkcode httpFunction}. */
export interface HttpResponse {
  /** HTTP status, or -1 when no answer came. */
  readonly status: number;
  /** Exit code of curl/wget. */
  readonly rc: number;
  readonly body: string;
  /** Headers of the last response, names lowercased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly redirected: boolean;
}

/** Parse the output of one `drover_http` call. Pure. */
export function parseHttpOutput(out: string): HttpResponse {
  const i = out.lastIndexOf("\n@@DROVER_HTTP ");
  if (i < 0) return { status: -1, rc: -1, body: "", headers: {}, redirected: false };
  const tail = out.slice(i + 1);
  const code = Number(/^@@DROVER_HTTP (\d+)/.exec(tail)?.[1] ?? "0");
  const rc = Number(/\n@@DROVER_RC (-?\d+)/.exec(tail)?.[1] ?? "-1");
  const h = /\n@@DROVER_HDR\n([\s\S]*?)\n@@DROVER_END/.exec(tail)?.[1] ?? "";
  const blocks = h.replace(/\r/g, "").split("\n").map((l) => l.replace(/^ {2}/, ""))
    .reduce<string[][]>((acc, l) => {
      if (/^HTTP\/\S+ \d{3}/.test(l)) acc.push([l]);
      else if (acc.length && l.includes(":")) acc[acc.length - 1].push(l);
      return acc;
    }, []);
  const last = blocks.filter((b) => !/^HTTP\/\S+ 1\d\d/.test(b[0])).pop() ?? [];
  const headers: Record<string, string> = {};
  for (const l of last.slice(1)) {
    const j = l.indexOf(":");
    headers[l.slice(0, j).trim().toLowerCase()] = l.slice(j + 1).trim();
  }
  const finals = blocks.filter((b) => !/^HTTP\/\S+ 1\d\d/.test(b[0]));
  return {
    status: code > 0 ? code : -1,
    rc,
    body: out.slice(0, i),
    headers,
    redirected: finals.length > 1,
  };
}

/** Describe a failed transfer from curl/wget's exit code and stderr. Pure. */
export function transferError(rc: number, stderr: string): string {
  const msg = stderr.split("\n").map((l) => l.trim()).filter(Boolean).pop();
  if (msg) return msg.replace(/^curl: /, "");
  return rc === 127
    ? "neither curl nor GNU wget is installed"
    : rc === 4
    ? "network failure (connection refused or timed out)"
    : rc === 5
    ? "TLS certificate verification failed"
    : `transfer failed (exit ${rc})`;
}

// ---------------------------------------------------------------- the module

const followRedirects = z.preprocess(
  (v) => (v === true ? "all" : v === false ? "none" : v),
  z.enum(["all", "none", "safe", "urllib2", "yes", "no"]),
);

/** Arguments of `uri`. */
export const uriArgs = z.object({
  url: str(),
  method: str().default("GET").transform((m) => m.toUpperCase()),
  status_code: list(int()).default([200]),
  return_content: bool().default(false),
  body: z.unknown().optional(),
  body_format: z.enum(["raw", "json", "form-urlencoded"]).default("raw"),
  headers: z.record(z.string(), str()).default({}),
  timeout: int().default(30),
  validate_certs: bool().default(true),
  follow_redirects: followRedirects.default("safe"),
  url_username: str().optional(),
  url_password: str().optional(),
  force_basic_auth: bool().default(false),
}).strict();

/** Parsed arguments of `uri`. */
export type UriArgs = z.infer<typeof uriArgs>;

/** Build the request a `uri` task makes. Pure. */
export function uriRequest(a: UriArgs): HttpRequest {
  const headers: Record<string, string> = { ...a.headers };
  const has = (n: string) => Object.keys(headers).some((k) => k.toLowerCase() === n);
  let body: string | undefined;
  if (a.body !== undefined) {
    if (a.body_format === "json") {
      body = typeof a.body === "string" ? a.body : JSON.stringify(a.body);
      if (!has("content-type")) headers["Content-Type"] = "application/json";
    } else if (a.body_format === "form-urlencoded") {
      body = typeof a.body === "string" ? a.body : new URLSearchParams(
        Object.entries(a.body as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
      ).toString();
      if (!has("content-type")) headers["Content-Type"] = "application/x-www-form-urlencoded";
    } else {
      if (typeof a.body !== "string") {
        throw new ModuleFailure("body must be a string with body_format: raw (or use json)");
      }
      body = a.body;
    }
  }
  const safe = a.method === "GET" || a.method === "HEAD";
  return {
    url: a.url,
    method: a.method,
    headers,
    body,
    timeout: a.timeout,
    validateCerts: a.validate_certs,
    followRedirects: ["all", "yes"].includes(a.follow_redirects) ||
      (a.follow_redirects !== "none" && a.follow_redirects !== "no" && safe),
    user: a.url_username,
    password: a.url_password,
  };
}

const SECRET_HEADER = /authorization|token|key|secret|password|cookie|auth/i;
const READ_ONLY = new Set(["GET", "HEAD", "OPTIONS"]);

/** `uri`: an HTTP request made from the host; fails unless the status is expected. */
export const uri = defineModule({
  name: "uri",
  aliases: ["ansible.builtin.uri"],
  doc: "Make an HTTP request from the host (curl, or GNU wget) and check the status code.",
  args: uriArgs,
  reads: (a) => {
    const u = a as UriArgs;
    return READ_ONLY.has(u.method)
      ? [{
        script: `${httpFunction(uriRequest(u))}drover_http\n`,
        timeoutMs: (u.timeout + 15) * 1000,
      }]
      : [];
  },
  async run(ctx, a) {
    for (const [k, v] of Object.entries(a.headers)) if (SECRET_HEADER.test(k)) ctx.secret(v);
    if (a.url_password) ctx.secret(a.url_password);
    const req = uriRequest(a);
    if (ctx.check && !READ_ONLY.has(a.method)) {
      return {
        changed: false,
        skipped: true,
        msg: `skipped in check mode: would send ${a.method} ${a.url}`,
      };
    }
    const started = Date.now();
    // GET, HEAD and OPTIONS change nothing: the request may come from a batch of reads.
    const script = `${httpFunction(req)}drover_http\n`;
    const timeoutMs = (a.timeout + 15) * 1000;
    const r = READ_ONLY.has(a.method)
      ? await readHost(ctx, script, { timeoutMs })
      : await ctx.sh(script, { timeoutMs });
    const res = parseHttpOutput(r.stdout);
    const json = (() => {
      try {
        return res.body.trim() ? JSON.parse(res.body) : undefined;
      } catch {
        return undefined;
      }
    })();
    const data: Record<string, unknown> = {
      url: a.url,
      status: res.status,
      redirected: res.redirected,
      content_type: res.headers["content-type"],
      headers: res.headers,
      elapsed: Math.round((Date.now() - started) / 1000),
      ...(a.return_content ? { content: res.body } : {}),
      ...(json !== undefined ? { json } : {}),
    };
    if (!a.status_code.includes(res.status)) {
      const why = res.status < 0
        ? `Request failed: ${transferError(res.rc, r.stderr)}`
        : res.body.replace(/\s+/g, " ").trim().slice(0, 200) || `HTTP ${res.status}`;
      const msg = `Status code was ${res.status} and not [${a.status_code.join(", ")}]: ${why}`;
      const skip = checkModeSkip(
        ctx.check,
        modelFlags(ctx.model),
        `${a.url} to return ${a.status_code.join("|")}`,
      );
      if (skip) return { changed: false, msg: skip, data: { ...data, check_mode_skipped: true } };
      throw new ModuleFailure(msg, { ...data, content: res.body });
    }
    return { changed: false, msg: `OK (${res.body.length} bytes)`, data };
  },
});
