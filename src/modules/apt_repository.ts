/**
 * @module
 * `apt_repository`: an apt source line in `/etc/apt/sources.list.d/<filename>.list`
 * together with the key that signs it, written to the keyring its
 * `signed-by=` names. `key_url` is fetched on the host (curl or wget); the key
 * is replaced atomically only when its bytes differ. After a change only the
 * new source is refreshed (`apt-get update` of that one file); if that fails,
 * the previous files are put back and the task fails with apt's error.
 *
 * In check mode (or with `update_cache: false`) it records
 * `apt:sources-changed` in the host model, so a later `package` task can
 * predict the install instead of failing.
 *
 * @example
 * ```yaml
 * - apt_repository:
 *     repo: deb [signed-by=/etc/apt/keyrings/grafana.asc] https://apt.grafana.com stable main
 *     filename: grafana
 *     key_url: https://apt.grafana.com/gpg.key
 * ```
 */
import { z } from "zod";
import { defineModule, type Diff, ModuleFailure, readHost } from "../core/module.ts";
import { bool, mode, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";
import { atomicWriteScript, sha256 } from "./_files.ts";
import { findSource } from "./files.ts";

const argsSchema = z.object({
  repo: str().describe(
    "A one-line source: 'deb [signed-by=/etc/apt/keyrings/x.asc] URI SUITE COMPONENT...'",
  ),
  filename: z.string().regex(/^[A-Za-z0-9_.-]+$/, "a file name without a directory")
    .optional().describe(
      "Name of the file in /etc/apt/sources.list.d without .list (default: derived from the URI like Ansible)",
    ),
  state: z.enum(["present", "absent"]).default("present"),
  update_cache: bool().default(true).describe(
    "Refresh the new source's package lists after a change",
  ),
  key_url: str().optional().describe("URL of the signing key, downloaded on the host"),
  key_content: str().optional().describe("The signing key itself (armored)"),
  key_src: str().optional().describe(
    "A key file on the control node (files/ of the role or playbook)",
  ),
  keyring: str().optional().describe(
    "Where the key goes; default the repo's signed-by path, else /etc/apt/keyrings/<filename>.asc",
  ),
  mode: mode().default("0644").describe("Mode of the keyring file"),
  validate_certs: bool().default(true).describe("false lets curl/wget accept any TLS certificate"),
}).strict().refine(
  (a) => [a.key_url, a.key_content, a.key_src].filter((k) => k !== undefined).length <= 1,
  { message: "give at most one of 'key_url', 'key_content', 'key_src'" },
);

/** Parsed arguments of {@linkcode aptRepository}. */
export type AptRepositoryArgs = z.infer<typeof argsSchema>;

/** A one-line apt source, parsed. */
export interface SourceLine {
  readonly type: "deb" | "deb-src";
  readonly options: Readonly<Record<string, string>>;
  readonly uri: string;
  readonly suite: string;
  readonly components: readonly string[];
}

/** Parse a one-line source; undefined for comments, blank or malformed lines. Pure. */
export function parseSourceLine(line: string): SourceLine | undefined {
  const m = /^\s*(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*([^#]*?)\s*(?:#.*)?$/.exec(
    line,
  );
  if (!m) return undefined;
  const options: Record<string, string> = {};
  for (const kv of (m[2] ?? "").trim().split(/\s+/).filter(Boolean)) {
    const i = kv.indexOf("=");
    if (i > 0) options[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return {
    type: m[1] as SourceLine["type"],
    options,
    uri: m[3],
    suite: m[4],
    components: m[5].split(/\s+/).filter(Boolean),
  };
}

function sameSource(a: SourceLine, b: SourceLine): boolean {
  return a.type === b.type && a.uri.replace(/\/+$/, "") === b.uri.replace(/\/+$/, "") &&
    a.suite.replace(/\/+$/, "") === b.suite.replace(/\/+$/, "");
}

/** Two lines describe the same source with the same options and components. Pure. */
export function sameLine(a: SourceLine, b: SourceLine): boolean {
  const opts = (o: Readonly<Record<string, string>>) =>
    JSON.stringify(Object.entries(o).sort(([x], [y]) => x.localeCompare(y)));
  return sameSource(a, b) && opts(a.options) === opts(b.options) &&
    [...a.components].sort().join(" ") === [...b.components].sort().join(" ");
}

/** Ansible's default file name for a repo line: `apt_grafana_com.list`. Pure. */
export function defaultFilename(repo: string): string {
  let line = repo.replace(/\[[^\]]+\]/g, "").replace(/\w+:\/\//g, "");
  line = line.split(/\s+/).filter((p) => p && p !== "deb" && p !== "deb-src").join(" ");
  const first = (line.split(" ")[0] ?? "").replace(/^[^@]*@/, "");
  return first.replace(/[^a-zA-Z0-9]/g, " ").split(/\s+/).filter(Boolean).join("_");
}

/** A sources file as read from the host. */
export interface SourcesFile {
  readonly path: string;
  readonly content: string;
}

/** One file the plan writes (`after` null: delete it). */
export interface SourcesWrite {
  readonly path: string;
  readonly before: string | null;
  readonly after: string | null;
}

/** What {@linkcode planSources} decides. */
export interface SourcesPlan {
  readonly writes: readonly SourcesWrite[];
  readonly warnings: readonly string[];
}

/**
 * Plan the source files. Present: nothing if an identical active line exists
 * anywhere; otherwise the line is appended to `target`, replacing lines there
 * for the same URI and suite (a changed signed-by or components). Absent:
 * identical lines are removed everywhere; a file left empty is deleted. Pure.
 */
export function planSources(
  files: readonly SourcesFile[],
  repo: string,
  target: string,
  state: "present" | "absent",
): SourcesPlan {
  const want = parseSourceLine(repo);
  if (!want) {
    throw new ModuleFailure(
      `'${repo}' is not a one-line apt source ('deb [options] URI SUITE [COMPONENT...]')`,
    );
  }
  const warnings: string[] = [];
  const writes: SourcesWrite[] = [];
  if (state === "present") {
    for (const f of files) {
      for (const line of f.content.split("\n")) {
        const s = parseSourceLine(line);
        if (s && sameLine(s, want)) return { writes: [], warnings };
        if (s && f.path !== target && sameSource(s, want)) {
          warnings.push(
            `${f.path} also configures ${want.uri} ${want.suite} with other options; apt may report conflicting values`,
          );
        }
      }
    }
    const existing = files.find((f) => f.path === target);
    const kept = (existing?.content ?? "").split("\n").filter((l) => {
      const s = parseSourceLine(l);
      return !(s && sameSource(s, want));
    });
    while (kept.length && kept[kept.length - 1].trim() === "") kept.pop();
    const after = [...kept, repo.trim().replace(/\s+/g, " ")].join("\n") + "\n";
    return { writes: [{ path: target, before: existing?.content ?? null, after }], warnings };
  }
  for (const f of files) {
    const lines = f.content.split("\n");
    const kept = lines.filter((l) => {
      const s = parseSourceLine(l);
      return !(s && sameLine(s, want));
    });
    if (kept.length === lines.length) continue;
    const empty = kept.every((l) => l.trim() === "");
    writes.push({ path: f.path, before: f.content, after: empty ? null : kept.join("\n") });
  }
  return { writes, warnings };
}

/** The file that holds the repo line once `plan` is applied (state present). Pure. */
export function fileWithLine(
  files: readonly SourcesFile[],
  plan: SourcesPlan,
  repo: string,
): string | undefined {
  const written = plan.writes.find((w) => w.after !== null);
  if (written) return written.path;
  const want = parseSourceLine(repo);
  return files.find((f) =>
    f.content.split("\n").some((l) => {
      const s = parseSourceLine(l);
      return s !== undefined && want !== undefined && sameLine(s, want);
    })
  )?.path;
}

/** Is this key armored (text) or binary OpenPGP? Pure. */
export function keyFormat(bytes: Uint8Array): "armored" | "binary" | "invalid" {
  const head = new TextDecoder().decode(bytes.subarray(0, 4096));
  if (head.includes("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
    const all = new TextDecoder().decode(bytes);
    return all.includes("-----END PGP PUBLIC KEY BLOCK-----") ? "armored" : "invalid";
  }
  // An OpenPGP public-key packet: old format tag 6 (0x98/0x99) or new format (0xc6).
  if (bytes.length > 10 && (bytes[0] === 0x98 || bytes[0] === 0x99 || bytes[0] === 0xc6)) {
    return "binary";
  }
  return "invalid";
}

/** Check a key fits its keyring's name (apt reads `.asc` as armored, `.gpg` as binary). Pure. */
export function checkKey(bytes: Uint8Array, keyring: string, from: string): void {
  const fmt = keyFormat(bytes);
  if (fmt === "invalid") {
    throw new ModuleFailure(
      `${from} is not an OpenPGP public key (${bytes.length} bytes; is the URL right?)`,
    );
  }
  if (fmt === "armored" && keyring.endsWith(".gpg")) {
    throw new ModuleFailure(
      `${from} is an armored key but the keyring ${keyring} ends in .gpg, which apt reads as binary: name it .asc`,
    );
  }
  if (fmt === "binary" && keyring.endsWith(".asc")) {
    throw new ModuleFailure(
      `${from} is a binary key but the keyring ${keyring} ends in .asc, which apt reads as armored: name it .gpg`,
    );
  }
}

/** The keyring a task writes: signed-by, else `keyring:`, else the default beside the filename. Pure. */
export function keyringPath(repo: string, keyring: string | undefined, filename: string): string {
  const signedBy = parseSourceLine(repo)?.options["signed-by"];
  if (signedBy && keyring && signedBy !== keyring) {
    throw new ModuleFailure(
      `keyring ${keyring} differs from the repo's signed-by=${signedBy}; give one of them`,
    );
  }
  if (signedBy && !signedBy.startsWith("/")) {
    throw new ModuleFailure(
      `signed-by=${signedBy} is a fingerprint, not a keyring file; drover cannot put a key there`,
    );
  }
  return signedBy ?? keyring ?? `/etc/apt/keyrings/${filename}.asc`;
}

/** The read script: every one-line sources file, the keyring, and the key from key_url. Pure. */
export function gatherScript(keyring: string, keyUrl?: string, insecure = false): string {
  const fetch = keyUrl === undefined ? "" : `s key
url=${shq(keyUrl)}
exec 3>&1
if command -v curl >/dev/null 2>&1; then
  rc=$( { { curl -fsSL${
    insecure ? "k" : ""
  } --max-time 60 "$url"; echo "$?" >&4; } | base64 -w0 >&3; } 4>&1 )
elif command -v wget >/dev/null 2>&1; then
  rc=$( { { wget -q${
    insecure ? " --no-check-certificate" : ""
  } -T 60 -O- "$url"; echo "$?" >&4; } | base64 -w0 >&3; } 4>&1 )
else
  rc=127; echo "neither curl nor wget is installed" >&2
fi
echo
echo "$rc"
`;
  return `export LC_ALL=C
s() { printf '\\n@@%s\\n' "$1"; }
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  s file; printf '%s\\n' "$f"; base64 -w0 -- "$f"; echo
done
k=${shq(keyring)}
s keyring
if [ -f "$k" ]; then stat -c '%a %U %G' -- "$k"; base64 -w0 -- "$k"; echo; else echo absent; fi
${fetch}s end
`;
}

function b64(text: string): Uint8Array {
  return Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0));
}

/** What {@linkcode parseGather} returns. */
export interface Gathered {
  readonly files: SourcesFile[];
  readonly keyring?: { readonly mode: string; readonly owner: string; readonly bytes: Uint8Array };
  readonly key?: { readonly rc: number; readonly bytes: Uint8Array };
  readonly complete: boolean;
}

/** Parse {@linkcode gatherScript} output. Pure. */
export function parseGather(out: string): Gathered {
  const parts = ("\n" + out).split(/\n@@(\w+)\n/);
  const files: SourcesFile[] = [];
  let keyring: Gathered["keyring"];
  let key: Gathered["key"];
  let complete = false;
  for (let i = 1; i < parts.length; i += 2) {
    const [a = "", b = ""] = parts[i + 1].split("\n");
    if (parts[i] === "file") {
      files.push({ path: a, content: new TextDecoder().decode(b64(b)) });
    } else if (parts[i] === "keyring" && a !== "absent") {
      const [mode, owner, group] = a.split(" ");
      keyring = { mode: mode.padStart(4, "0"), owner: `${owner}:${group}`, bytes: b64(b) };
    } else if (parts[i] === "key") key = { rc: Number(b.trim() || "1"), bytes: b64(a) };
    else if (parts[i] === "end") complete = true;
  }
  return { files, keyring, key, complete };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function keySummary(bytes: Uint8Array | undefined): Promise<string> {
  return bytes ? `sha256: ${await sha256(bytes)} (${bytes.length} bytes)\n` : "";
}

function restoreScript(
  writes: readonly { path: string; before: string | Uint8Array | null }[],
): string {
  return writes.map((w) =>
    w.before === null ? `rm -f -- ${shq(w.path)}\n` : `(\n${atomicWriteScript(w.path, w.before)})\n`
  ).join("");
}

/** The `apt_repository` module: a source line plus its signing key. */
export const aptRepository = defineModule({
  name: "apt_repository",
  doc:
    "Add or remove an apt source line in sources.list.d with its signed-by key (fetched on the host).",
  freeForm: "repo",
  args: argsSchema,
  reads: (a) => {
    if (typeof a.repo !== "string") return [];
    const filename = a.filename?.replace(/\.list$/, "") ?? defaultFilename(a.repo);
    if (!filename) return [];
    const keyring = keyringPath(a.repo, a.keyring, filename);
    const keyUrl = (a.state ?? "present") === "present" ? a.key_url : undefined;
    return [{ script: gatherScript(keyring, keyUrl, a.validate_certs === false) }];
  },
  async run(ctx, a) {
    const filename = a.filename?.replace(/\.list$/, "") ?? defaultFilename(a.repo);
    if (!filename) {
      throw new ModuleFailure(`cannot derive a file name from '${a.repo}'; set 'filename'`);
    }
    const listPath = `/etc/apt/sources.list.d/${filename}.list`;
    const hasKeyArg = a.key_url !== undefined || a.key_content !== undefined ||
      a.key_src !== undefined;
    const keyring = keyringPath(a.repo, a.keyring, filename);
    // The gather only reads (the key is downloaded to stdout): it may come from a batch.
    const r = await readHost(
      ctx,
      gatherScript(keyring, a.state === "present" ? a.key_url : undefined, !a.validate_certs),
    );
    const read = parseGather(r.stdout);
    if (!read.complete) {
      throw new ModuleFailure(`could not read apt sources: ${r.stderr.trim()}`, { rc: r.rc });
    }
    // In check mode an earlier task's predicted files (sources, keyring) win over the host.
    const modelKey = ctx.check ? ctx.model.file(keyring) : undefined;
    const g = modelKey === undefined ? read : {
      ...read,
      keyring: modelKey === null
        ? undefined
        : { mode: a.mode, owner: "root:root", bytes: new TextEncoder().encode(modelKey) },
    };
    const files = g.files.map((f) => {
      const p = ctx.check ? ctx.model.file(f.path) : undefined;
      return typeof p === "string" ? { ...f, content: p } : f;
    }).filter((f) => !(ctx.check && ctx.model.file(f.path) === null));
    const predictedList = ctx.check ? ctx.model.file(listPath) : undefined;
    if (typeof predictedList === "string" && !files.some((f) => f.path === listPath)) {
      files.push({ path: listPath, content: predictedList });
    }
    const plan = planSources(files, a.repo, listPath, a.state);
    const warnings = [...plan.warnings];

    // The key.
    let wantKey: Uint8Array | null | undefined; // undefined: leave the keyring alone; null: delete it
    if (a.state === "present" && hasKeyArg) {
      if (a.key_url !== undefined) {
        if (!g.key || g.key.rc !== 0 || g.key.bytes.length === 0) {
          throw new ModuleFailure(
            `could not download ${a.key_url} on the host (rc ${
              g.key?.rc ?? "?"
            }): ${r.stderr.trim()}`,
          );
        }
        wantKey = g.key.bytes;
      } else if (a.key_content !== undefined) {
        wantKey = new TextEncoder().encode(a.key_content.trimEnd() + "\n");
      } else wantKey = Deno.readFileSync(findSource(ctx, a.key_src!, "files"));
      checkKey(wantKey, keyring, a.key_url ?? a.key_src ?? "key_content");
    } else if (a.state === "absent" && (hasKeyArg || a.keyring !== undefined) && g.keyring) {
      const remaining = files.flatMap((f) => {
        const w = plan.writes.find((x) => x.path === f.path);
        return (w ? w.after ?? "" : f.content).split("\n");
      });
      const used = remaining.some((l) => parseSourceLine(l)?.options["signed-by"] === keyring);
      if (!used) wantKey = null;
    }
    const keyBytesChange = wantKey !== undefined &&
      (wantKey === null
        ? g.keyring !== undefined
        : !g.keyring || !sameBytes(g.keyring.bytes, wantKey));
    const keyModeChange = wantKey instanceof Uint8Array && !keyBytesChange &&
      g.keyring !== undefined &&
      (g.keyring.mode !== a.mode || g.keyring.owner !== "root:root");
    if (
      a.state === "present" && !hasKeyArg && !g.keyring &&
      parseSourceLine(a.repo)?.options["signed-by"]
    ) {
      const predicted = ctx.check && typeof ctx.model.file(keyring) === "string";
      if (!predicted) {
        warnings.push(`keyring ${keyring} does not exist; apt will reject the repository`);
      }
    }

    const changed = plan.writes.length > 0 || keyBytesChange || keyModeChange;
    const diff: Diff[] = [];
    if (keyBytesChange || keyModeChange) {
      diff.push({
        target: keyring,
        before: (await keySummary(g.keyring?.bytes)) +
          (g.keyring ? `mode: ${g.keyring.mode}\n` : ""),
        after: wantKey ? (await keySummary(wantKey)) + `mode: ${a.mode}\n` : "",
      });
    }
    for (const w of plan.writes) {
      diff.push({ target: w.path, before: w.before ?? "", after: w.after ?? "" });
    }
    const data = { repo: a.repo, sources_list: listPath, keyring, state: a.state };
    const what = [
      ...plan.writes.map((w) =>
        w.after === null
          ? `remove ${w.path}`
          : `${w.before === null ? "create" : "update"} ${w.path}`
      ),
      ...(keyBytesChange
        ? [
          wantKey === null
            ? `remove ${keyring}`
            : `${g.keyring ? "replace" : "write"} key ${keyring}`,
        ]
        : []),
      ...(keyModeChange ? [`set mode ${a.mode} on ${keyring}`] : []),
    ];
    if (!changed) {
      return {
        changed: false,
        msg: `${a.repo} is ${a.state === "present" ? "configured" : "absent"}`,
        data,
        warnings,
      };
    }
    for (const w of plan.writes) ctx.model.setFile(w.path, w.after);
    if (wantKey !== undefined) {
      ctx.model.setFile(keyring, wantKey === null ? null : new TextDecoder().decode(wantKey));
    }
    const sourcesChange = plan.writes.length > 0 || keyBytesChange;
    // Permissions alone do not change what apt downloads.
    const updating = a.update_cache && !ctx.check && sourcesChange;
    // "Changed since the last apt-get update": a later package task updates first (or predicts).
    if (sourcesChange && !updating) ctx.model.setFlag("apt:sources-changed", true);
    if (ctx.check) {
      return { changed: true, diff, msg: `would ${what.join(", ")}`, data, warnings };
    }

    let script = "set -e\n";
    if (wantKey instanceof Uint8Array) {
      script += `mkdir -p -m 0755 -- ${shq(keyring.replace(/\/[^/]*$/, "") || "/")}\n`;
      if (keyBytesChange) {
        script += `(\n${
          atomicWriteScript(keyring, wantKey, { mode: a.mode, owner: "root", group: "root" })
        })\n`;
      } else script += `chown root:root ${shq(keyring)}\nchmod ${shq(a.mode)} ${shq(keyring)}\n`;
    } else if (wantKey === null) script += `rm -f -- ${shq(keyring)}\n`;
    for (const w of plan.writes) {
      script += w.after === null
        ? `rm -f -- ${shq(w.path)}\n`
        : `mkdir -p -- /etc/apt/sources.list.d\n(\n${
          atomicWriteScript(w.path, w.after, { mode: "0644" })
        })\n`;
    }
    if (updating) {
      const only = a.state === "present" ? fileWithLine(files, plan, a.repo) : undefined;
      script += `echo '@@update'\nexport LC_ALL=C DEBIAN_FRONTEND=noninteractive\n` +
        (only
          ? `apt-get update -q -o Dir::Etc::sourcelist=${
            shq(only)
          } -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 -o APT::Update::Error-Mode=any -o DPkg::Lock::Timeout=300 2>&1\n`
          : `apt-get update -q -o DPkg::Lock::Timeout=300 2>&1\n`);
    }
    const ar = await ctx.sh(script);
    if (ar.rc !== 0) {
      const updateFailed = ar.stdout.includes("@@update");
      if (updateFailed) {
        // Put the old files back so apt keeps working, as Ansible does.
        const undo = [
          ...plan.writes.map((w) => ({ path: w.path, before: w.before })),
          ...(keyBytesChange ? [{ path: keyring, before: g.keyring?.bytes ?? null }] : []),
        ];
        await ctx.sh(`set -e\n${restoreScript(undo)}`);
      }
      const log = ar.stdout.split("@@update\n").pop() ?? "";
      const errs = log.split("\n").filter((l) => /^(E|W|Err):/.test(l)).join(" ") ||
        ar.stderr.trim();
      throw new ModuleFailure(
        updateFailed
          ? `apt-get update failed for ${a.repo}; the previous sources were restored: ${errs}`
          : `could not write the apt sources: ${ar.stderr.trim()}`,
        { rc: ar.rc, stdout: ar.stdout, stderr: ar.stderr },
      );
    }
    return {
      changed: true,
      diff,
      msg: what.join(", ") + (updating ? ", updated the package lists" : ""),
      data: { ...data, cache_updated: updating },
      warnings,
    };
  },
});
