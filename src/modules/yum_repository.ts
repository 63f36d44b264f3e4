/**
 * @module
 * `yum_repository`: a section of `/etc/yum.repos.d/<file>.repo` (other
 * sections of the file are kept), compared by meaning, not by text; and
 * `rpm_key`: import a signing key with `rpm --import`, idempotent by the key
 * ID that drover reads from the key itself (no gpg needed on the host) and
 * finds in `rpm -q gpg-pubkey`.
 *
 * Both record `dnf:repos-changed` in the host model when they change (or
 * would change) something, so a later `package` task in `--check` predicts
 * the install instead of failing.
 *
 * @example
 * ```yaml
 * - rpm_key:
 *     key: https://rpm.grafana.com/gpg.key
 * - yum_repository:
 *     name: grafana
 *     description: grafana
 *     baseurl: https://rpm.grafana.com
 *     gpgcheck: true
 *     repo_gpgcheck: true
 *     gpgkey: https://rpm.grafana.com/gpg.key
 * ```
 */
import { z } from "zod";
import { defineModule, ModuleFailure } from "../core/module.ts";
import { bool, int, list, mode, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";
import { atomicWriteScript, encodeB64 } from "./_files.ts";

// ---------------------------------------------------------------- yum_repository

const BOOL_KEYS = [
  "enabled",
  "gpgcheck",
  "repo_gpgcheck",
  "skip_if_unavailable",
  "sslverify",
  "module_hotfixes",
] as const;
const LIST_KEYS = ["baseurl", "gpgkey", "exclude", "includepkgs"] as const;

const repoSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.:-]+$/, "a repository id (letters, digits, -_.:)")
    .describe("Repository id: the [section] name"),
  description: str().optional().describe("The repository's 'name=' (default: its id)"),
  baseurl: list(str()).optional(),
  mirrorlist: str().optional(),
  metalink: str().optional(),
  gpgcheck: bool().optional(),
  repo_gpgcheck: bool().optional(),
  gpgkey: list(str()).optional(),
  enabled: bool().optional(),
  priority: int().optional(),
  skip_if_unavailable: bool().optional(),
  sslverify: bool().optional(),
  module_hotfixes: bool().optional(),
  metadata_expire: str().optional(),
  exclude: list(str()).optional(),
  includepkgs: list(str()).optional(),
  state: z.enum(["present", "absent"]).default("present"),
  file: z.string().regex(/^[A-Za-z0-9_.:-]+$/).optional().describe(
    "File name without .repo (default: the id)",
  ),
  reposdir: str().default("/etc/yum.repos.d"),
  mode: mode().default("0644"),
}).strict().refine(
  (a) =>
    a.state === "absent" || a.baseurl !== undefined || a.mirrorlist !== undefined ||
    a.metalink !== undefined,
  { message: "state present needs one of 'baseurl', 'mirrorlist', 'metalink'" },
);

/** Parsed arguments of {@linkcode yumRepository}. */
export type YumRepositoryArgs = z.infer<typeof repoSchema>;

/** The key/values of a repository section, in the order drover writes them. Pure. */
export function repoEntries(a: YumRepositoryArgs): [string, string][] {
  const out: [string, string][] = [["name", a.description ?? a.name]];
  const b = (v: boolean | undefined) => (v === undefined ? undefined : v ? "1" : "0");
  const add = (k: string, v: string | undefined) => {
    if (v !== undefined) out.push([k, v]);
  };
  add("baseurl", a.baseurl?.join("\n        "));
  add("mirrorlist", a.mirrorlist);
  add("metalink", a.metalink);
  add("enabled", b(a.enabled));
  add("gpgcheck", b(a.gpgcheck));
  add("repo_gpgcheck", b(a.repo_gpgcheck));
  add("gpgkey", a.gpgkey?.join("\n       "));
  add("priority", a.priority?.toString());
  add("skip_if_unavailable", b(a.skip_if_unavailable));
  add("sslverify", b(a.sslverify));
  add("module_hotfixes", b(a.module_hotfixes));
  add("metadata_expire", a.metadata_expire);
  add("exclude", a.exclude?.join(" "));
  add("includepkgs", a.includepkgs?.join(" "));
  return out;
}

/** One `[section]` of an INI file with its raw lines. */
interface Section {
  readonly name: string | null;
  readonly lines: string[];
}

function splitSections(text: string): Section[] {
  const out: Section[] = [{ name: null, lines: [] }];
  for (const line of text.replace(/\n$/, "").split("\n")) {
    const m = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (m) out.push({ name: m[1].trim(), lines: [line] });
    else out[out.length - 1].lines.push(line);
  }
  return out;
}

/** Parse a section's lines into normalised key → value (continuation lines joined). Pure. */
export function sectionValues(lines: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  let last: string | undefined;
  for (const line of lines) {
    if (/^\s*[#;]/.test(line) || /^\s*\[/.test(line) || line.trim() === "") continue;
    const kv = /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(line);
    if (kv) {
      last = kv[1].trim();
      m.set(last, kv[2].trim());
    } else if (/^\s/.test(line) && last) m.set(last, `${m.get(last)} ${line.trim()}`);
  }
  for (const [k, v] of m) {
    if ((BOOL_KEYS as readonly string[]).includes(k)) {
      m.set(k, /^(1|yes|true|on)$/i.test(v) ? "1" : /^(0|no|false|off)$/i.test(v) ? "0" : v);
    } else if ((LIST_KEYS as readonly string[]).includes(k)) {
      m.set(k, v.split(/[\s,]+/).filter(Boolean).join(" "));
    }
  }
  return m;
}

/** What {@linkcode planRepoFile} decides: the new file text, null to delete it, undefined for no change. */
export interface RepoFilePlan {
  readonly after: string | null | undefined;
  /** What happens to the section. */
  readonly action: "none" | "add" | "update" | "remove";
  /** Keys whose values differ (for the message). */
  readonly changedKeys: readonly string[];
}

/** Converge the file's `[id]` section to `entries` (or remove it). Pure. */
export function planRepoFile(
  before: string | null,
  id: string,
  entries: readonly [string, string][] | null,
): RepoFilePlan {
  const sections = splitSections(before ?? "");
  const idx = sections.findIndex((s) => s.name === id);
  if (entries === null) {
    if (idx < 0) return { after: undefined, action: "none", changedKeys: [] };
    const rest = sections.filter((_, i) => i !== idx);
    const left = rest.some((s) => s.name !== null) ||
      rest.some((s) => s.lines.some((l) => l.trim() !== "" && !/^\s*[#;]/.test(l)));
    return {
      after: left ? rest.flatMap((s) => s.lines).join("\n").replace(/\n*$/, "\n") : null,
      action: "remove",
      changedKeys: [],
    };
  }
  const rendered = [`[${id}]`, ...entries.map(([k, v]) => `${k}=${v}`)];
  const want = sectionValues(rendered);
  if (idx >= 0) {
    const have = sectionValues(sections[idx].lines);
    const keys = [...new Set([...have.keys(), ...want.keys()])];
    const changedKeys = keys.filter((k) => have.get(k) !== want.get(k));
    if (changedKeys.length === 0) return { after: undefined, action: "none", changedKeys };
    const next = sections.map((s, i) => (i === idx ? { ...s, lines: [...rendered, ""] } : s));
    return {
      after: next.flatMap((s) => s.lines).join("\n").replace(/\n*$/, "\n"),
      action: "update",
      changedKeys,
    };
  }
  const head = (before ?? "").replace(/\n*$/, "");
  return {
    after: (head ? `${head}\n\n` : "") + rendered.join("\n") + "\n",
    action: "add",
    changedKeys: [...want.keys()],
  };
}

/** The `yum_repository` module. */
export const yumRepository = defineModule({
  name: "yum_repository",
  doc: "Add, change or remove a [section] of a .repo file in /etc/yum.repos.d.",
  args: repoSchema,
  async run(ctx, a) {
    const path = `${a.reposdir.replace(/\/+$/, "")}/${a.file ?? a.name}.repo`;
    const predicted = ctx.check ? ctx.model.file(path) : undefined;
    let before: string | null;
    if (predicted !== undefined) before = predicted;
    else {
      const r = await ctx.sh(
        `p=${
          shq(path)
        }\nif [ -f "$p" ]; then echo present; base64 -w0 -- "$p"; echo; else echo absent; fi\n`,
      );
      const [what = "", b64 = ""] = r.stdout.split("\n");
      if (r.rc !== 0 || (what !== "present" && what !== "absent")) {
        throw new ModuleFailure(`could not read ${path}: ${r.stderr.trim()}`, { rc: r.rc });
      }
      before = what === "absent"
        ? null
        : new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    }
    const plan = planRepoFile(before, a.name, a.state === "present" ? repoEntries(a) : null);
    const data = { repo: a.name, path, state: a.state };
    if (plan.after === undefined) {
      return { changed: false, msg: `repository ${a.name} is ${a.state}`, data };
    }
    const diff = [{ target: path, before: before ?? "", after: plan.after ?? "" }];
    ctx.model.setFile(path, plan.after);
    ctx.model.setFlag("dnf:repos-changed", true);
    const what = plan.after === null
      ? `remove ${path}`
      : before === null
      ? `create ${path} with repository ${a.name}`
      : plan.action === "add"
      ? `add repository ${a.name} to ${path}`
      : plan.action === "remove"
      ? `remove repository ${a.name} from ${path}`
      : `update repository ${a.name} in ${path} (${plan.changedKeys.join(", ")})`;
    if (ctx.check) return { changed: true, diff, msg: `would ${what}`, data };
    const script = plan.after === null
      ? `rm -f -- ${shq(path)}\n`
      : `mkdir -p -- ${shq(a.reposdir)}\n(\n${
        atomicWriteScript(path, plan.after, { mode: a.mode })
      })\n`;
    const r = await ctx.sh(`set -e\n${script}`);
    if (r.rc !== 0) {
      throw new ModuleFailure(`could not write ${path}: ${r.stderr.trim()}`, { rc: r.rc });
    }
    return { changed: true, diff, msg: what, data };
  },
});

// ---------------------------------------------------------------- rpm_key

/** A primary public key found in an OpenPGP key file. */
export interface PgpKey {
  readonly version: number;
  /** Upper-case hex fingerprint. */
  readonly fingerprint: string;
  /** Lower-case hex key ID (last 8 bytes of a v4 fingerprint). */
  readonly keyId: string;
  /** Creation time, seconds since the epoch. */
  readonly created: number;
}

/** Armored or binary key bytes → binary packets. Pure. */
export function dearmor(bytes: Uint8Array): Uint8Array {
  const text = new TextDecoder().decode(bytes);
  const m = /-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n([\s\S]*?)-----END PGP PUBLIC KEY BLOCK-----/
    .exec(text);
  if (!m) return bytes;
  const lines = m[1].split(/\r?\n/);
  const blank = lines.findIndex((l) => l.trim() === "");
  const body = lines.slice(blank + 1).filter((l) => l.trim() !== "" && !l.startsWith("="));
  return Uint8Array.from(atob(body.join("")), (c) => c.charCodeAt(0));
}

/** The primary public keys (tag 6) in a key file, with rpm's identifiers. Pure but async (SHA). */
export async function parseKeys(bytes: Uint8Array): Promise<PgpKey[]> {
  const data = dearmor(bytes);
  const keys: PgpKey[] = [];
  let i = 0;
  while (i < data.length) {
    const h = data[i];
    if ((h & 0x80) === 0) throw new ModuleFailure("not an OpenPGP key (bad packet header)");
    let tag: number, len: number, start: number;
    if (h & 0x40) {
      tag = h & 0x3f;
      const o1 = data[i + 1];
      if (o1 < 192) [len, start] = [o1, i + 2];
      else if (o1 < 224) [len, start] = [((o1 - 192) << 8) + data[i + 2] + 192, i + 3];
      else if (o1 === 255) {
        [len, start] = [
          ((data[i + 2] << 24) | (data[i + 3] << 16) | (data[i + 4] << 8) | data[i + 5]) >>> 0,
          i + 6,
        ];
      } else throw new ModuleFailure("not an OpenPGP key (partial-length packet)");
    } else {
      tag = (h >> 2) & 0x0f;
      const lt = h & 3;
      if (lt === 0) [len, start] = [data[i + 1], i + 2];
      else if (lt === 1) [len, start] = [(data[i + 1] << 8) | data[i + 2], i + 3];
      else if (lt === 2) {
        [len, start] = [
          ((data[i + 1] << 24) | (data[i + 2] << 16) | (data[i + 3] << 8) | data[i + 4]) >>> 0,
          i + 5,
        ];
      } else [len, start] = [data.length - i - 1, i + 1];
    }
    if (start + len > data.length) throw new ModuleFailure("not an OpenPGP key (truncated)");
    const body = data.subarray(start, start + len);
    if (tag === 6) {
      const version = body[0];
      const created = ((body[1] << 24) | (body[2] << 16) | (body[3] << 8) | body[4]) >>> 0;
      let fpr: Uint8Array;
      if (version === 4) {
        const pre = Uint8Array.from([0x99, (len >> 8) & 0xff, len & 0xff]);
        fpr = new Uint8Array(await crypto.subtle.digest("SHA-1", concat(pre, body)));
      } else if (version === 6) {
        const pre = Uint8Array.from([
          0x9b,
          len >>> 24,
          (len >> 16) & 0xff,
          (len >> 8) & 0xff,
          len & 0xff,
        ]);
        fpr = new Uint8Array(await crypto.subtle.digest("SHA-256", concat(pre, body)));
      } else throw new ModuleFailure(`OpenPGP key version ${version} is not supported`);
      const hex = [...fpr].map((b) => b.toString(16).padStart(2, "0")).join("");
      keys.push({
        version,
        fingerprint: hex.toUpperCase(),
        keyId: version === 4 ? hex.slice(-16) : hex.slice(0, 16),
        created,
      });
    }
    i = start + len;
  }
  return keys;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** rpm's name for an imported key: `gpg-pubkey-<last 8 hex of key ID>-<created, hex>`. Pure. */
export function rpmKeyName(k: PgpKey): string {
  return `${k.keyId.slice(-8)}-${k.created.toString(16).padStart(8, "0")}`;
}

/** Installed `gpg-pubkey` VERSION-RELEASE lines → a set (lower case). Pure. */
export function parseInstalledKeys(out: string): Set<string> {
  return new Set(
    out.split("\n").map((l) => l.trim().toLowerCase()).filter((l) =>
      /^[0-9a-f]+-[0-9a-f]+$/.test(l)
    ),
  );
}

/** Is this key imported? rpm ≤ 4.x names keys by 8 hex digits; newer rpm by the fingerprint. Pure. */
export function keyInstalled(k: PgpKey, installed: ReadonlySet<string>): boolean {
  if (installed.has(rpmKeyName(k))) return true;
  const fpr = k.fingerprint.toLowerCase();
  for (const v of installed) {
    const version = v.split("-")[0];
    if (version.length > 8 && (fpr.endsWith(version) || k.keyId === version)) return true;
  }
  return false;
}

const keySchema = z.object({
  key: str().describe("URL or path ON THE HOST of the key (armored or binary)"),
  state: z.enum(["present", "absent"]).default("present"),
  fingerprint: list(str()).optional().describe(
    "Fail unless the key has these fingerprints (spaces ignored)",
  ),
  validate_certs: bool().default(true),
}).strict();

/** The script that fetches (or reads) the key and lists imported keys. Pure. */
export function rpmKeyGather(key: string, insecure: boolean): string {
  const remote = /^[a-z]+:\/\//i.test(key);
  const producer = remote
    ? `if command -v curl >/dev/null 2>&1; then curl -fsSL${
      insecure ? "k" : ""
    } --max-time 60 "$k"; else wget -q${
      insecure ? " --no-check-certificate" : ""
    } -T 60 -O- "$k"; fi`
    : `cat -- "$k"`;
  return `export LC_ALL=C
k=${shq(key)}
printf '@@key\\n'
exec 3>&1
rc=$( { { ${producer}; echo "$?" >&4; } | base64 -w0 >&3; } 4>&1 )
printf '\\n%s\\n@@installed\\n' "$rc"
rpm -q gpg-pubkey --qf '%{VERSION}-%{RELEASE}\\n' 2>/dev/null
printf '@@end\\n'
`;
}

/** The `rpm_key` module. */
export const rpmKey = defineModule({
  name: "rpm_key",
  doc: "Import (or remove) an OpenPGP key into rpm's database, idempotent by key ID.",
  args: keySchema,
  async run(ctx, a) {
    const r = await ctx.sh(rpmKeyGather(a.key, !a.validate_certs));
    const m = /@@key\n([^\n]*)\n(\d*)\n@@installed\n([\s\S]*?)@@end/.exec(r.stdout);
    if (!m) throw new ModuleFailure(`could not read rpm keys: ${r.stderr.trim()}`, { rc: r.rc });
    const [, b64, rc, installedText] = m;
    if (rc !== "0" || b64 === "") {
      throw new ModuleFailure(`could not get the key ${a.key} (rc ${rc}): ${r.stderr.trim()}`);
    }
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const keys = await parseKeys(bytes);
    if (keys.length === 0) throw new ModuleFailure(`${a.key} holds no public key`);
    if (a.fingerprint) {
      const have = keys.map((k) => k.fingerprint);
      for (const f of a.fingerprint.map((f) => f.replace(/\s+/g, "").toUpperCase())) {
        if (!have.includes(f)) {
          throw new ModuleFailure(
            `${a.key} does not have fingerprint ${f} (it has ${have.join(", ")})`,
          );
        }
      }
    }
    const installed = parseInstalledKeys(installedText);
    const todo = keys.filter((k) => keyInstalled(k, installed) !== (a.state === "present"));
    const data = { key: a.key, fingerprints: keys.map((k) => k.fingerprint) };
    if (todo.length === 0) {
      return {
        changed: false,
        msg: `key ${keys.map((k) => k.keyId).join(", ")} is ${a.state}`,
        data,
      };
    }
    const names = todo.map((k) => `gpg-pubkey-${rpmKeyName(k)}`);
    const diff = [{
      target: "rpm keys",
      before: a.state === "present" ? "" : names.join("\n") + "\n",
      after: a.state === "present" ? names.join("\n") + "\n" : "",
    }];
    ctx.model.setFlag("dnf:repos-changed", true);
    const what = `${a.state === "present" ? "import" : "remove"} ${names.join(", ")}`;
    if (ctx.check) return { changed: true, diff, msg: `would ${what}`, data };
    // The key travels on stdin-fed heredoc, so a URL is fetched once and rpm reads a local file.
    const script = a.state === "present"
      ? `set -e
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
base64 -d > "$tmp" <<'DROVER_KEY'
${encodeB64(bytes).replace(/(.{76})/g, "$1\n")}
DROVER_KEY
rpm --import "$tmp"
`
      : `set -e\n${names.map((n) => `rpm -e --allmatches ${shq(n)}\n`).join("")}`;
    const ar = await ctx.sh(script);
    if (ar.rc !== 0) {
      throw new ModuleFailure(
        `rpm ${a.state === "present" ? "--import" : "-e"} failed: ${ar.stderr.trim()}`,
        {
          rc: ar.rc,
        },
      );
    }
    return { changed: true, diff, msg: what, data };
  },
});
