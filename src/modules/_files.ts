/**
 * @module
 * Shared file machinery for file/copy/template/lineinfile: one-round-trip
 * stat (+ content when small), and atomic writes (temp file in the same
 * directory, mode/owner set before rename). Content travels inside the
 * script on stdin, never in argv.
 */
import type { Diff, ModuleContext } from "../core/module.ts";
import { ModuleFailure, readHost, type ReadRequest } from "../core/module.ts";
import { heredocTag, shq } from "../connection/quote.ts";

/** What a path is on the host. */
export interface FileState {
  readonly path: string;
  readonly type: "absent" | "file" | "directory" | "link" | "other";
  readonly mode?: string;
  readonly owner?: string;
  readonly group?: string;
  readonly size?: number;
  readonly sha256?: string;
  /** Content, when the file is small enough to diff (≤ 256 KiB) and text. */
  readonly content?: string;
  readonly linkTarget?: string;
}

const MAX_CONTENT = 256 * 1024;

/**
 * Script that prints the state of `path`: type, `mode owner group size`, link
 * target, sha256, and the content in base64 when it is small enough. The
 * host hashes a file only when its content does not come back (the
 * controller hashes what it gets): every process a read starts costs the
 * host a few milliseconds of CPU.
 */
export function statScript(path: string, withContent = true): string {
  const p = shq(path);
  return `p=${p}
if [ -L "$p" ]; then t=link; elif [ -d "$p" ]; then t=directory; elif [ -f "$p" ]; then t=file; elif [ -e "$p" ]; then t=other; else t=absent; fi
echo "$t"
if [ "$t" != absent ]; then
  s=$(stat -c '%a %U %G %s' -- "$p"); echo "$s"
  if [ "$t" = link ]; then readlink -- "$p"; else echo; fi
  ${
    withContent
      ? `if [ "$t" = file ] && [ "\${s##* }" -le ${MAX_CONTENT} ] 2>/dev/null; then echo; base64 -w0 -- "$p"
  el`
      : ""
  }if [ "$t" = file ]; then sha256sum -- "$p" | cut -d' ' -f1; else echo; fi
  echo
fi
`;
}

/** The read {@linkcode fileState} makes for `path` (none when the path is not known yet). */
export function statReads(path: unknown): ReadRequest[] {
  return typeof path === "string" && path !== "" ? [{ script: statScript(path) }] : [];
}

/** Parse {@linkcode statScript} output. Pure. */
export async function parseStat(path: string, out: string): Promise<FileState> {
  const lines = out.split("\n");
  const type = (lines[0]?.trim() || "absent") as FileState["type"];
  if (type === "absent") return { path, type };
  const [mode, owner, group, size] = (lines[1] ?? "").trim().split(" ");
  const b64 = (lines[4] ?? "").trim();
  let content: string | undefined;
  let bytes: Uint8Array | undefined;
  if (type === "file" && (b64 !== "" || Number(size) === 0)) {
    bytes = decodeB64(b64);
    try {
      // A BOM is content: kept, as the sources it is compared with keep it.
      content = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      content = undefined;
    }
  }
  return {
    path,
    type,
    mode: mode?.padStart(4, "0"),
    owner,
    group,
    size: Number(size),
    linkTarget: lines[2]?.trim() || undefined,
    sha256: lines[3]?.trim() ||
      (bytes ? await sha256(bytes) : undefined),
    content,
  };
}

/** Read the state of a file on the host (one round trip). */
export async function fileState(ctx: ModuleContext, path: string): Promise<FileState> {
  const r = await readHost(ctx, statScript(path));
  if (r.rc !== 0) throw new ModuleFailure(`cannot stat ${path}: ${r.stderr.trim()}`);
  return await parseStat(path, r.stdout);
}

/** Base64 of UTF-8 text. */
export function encodeB64(text: string | Uint8Array): string {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

function decodeB64(b64: string): Uint8Array {
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** SHA-256 hex of text. */
export async function sha256(text: string | Uint8Array): Promise<string> {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Attributes a task asks for. */
export interface Attrs {
  readonly mode?: string;
  readonly owner?: string;
  readonly group?: string;
}

/** A symbolic mode (`u=rw,g=r,o=`, `g+w,o-r`), kept as written until the current mode is known. */
export const SYMBOLIC_MODE = /^[ugoa]*[=+-][rwxXst]*(,[ugoa]*[=+-][rwxXst]*)*$/;

/**
 * The octal mode `want` gives a path in state `st`: a symbolic mode applies to
 * the current mode, as chmod and Ansible do (a new file starts from 0644, a
 * new directory from 0755). Pure.
 */
export function resolveMode(
  st: Pick<FileState, "type" | "mode">,
  want: string | undefined,
  kind: "file" | "directory" = st.type === "directory" ? "directory" : "file",
): string | undefined {
  if (want === undefined || !SYMBOLIC_MODE.test(want)) return want;
  let m = parseInt(
    st.type === "absent" || !st.mode ? (kind === "directory" ? "755" : "644") : st.mode,
    8,
  );
  for (const part of want.split(",")) {
    const [, who, op, perms] = /^([ugoa]*)([=+-])([rwxXst]*)$/.exec(part)!;
    const classes = who === "" || who.includes("a") ? "ugo" : who;
    for (const c of classes) {
      const shift = c === "u" ? 6 : c === "g" ? 3 : 0;
      let bits = 0;
      if (perms.includes("r")) bits |= 4;
      if (perms.includes("w")) bits |= 2;
      if (
        perms.includes("x") || (perms.includes("X") && (kind === "directory" || (m & 0o111) !== 0))
      ) bits |= 1;
      let special = 0;
      if (perms.includes("s") && c !== "o") special |= c === "u" ? 0o4000 : 0o2000;
      if (perms.includes("t") && c === "o") special |= 0o1000;
      if (op === "=") m &= ~((7 << shift) | (c === "u" ? 0o4000 : c === "g" ? 0o2000 : 0o1000));
      if (op === "-") m &= ~((bits << shift) | special);
      else m |= (bits << shift) | special;
    }
  }
  return m.toString(8).padStart(4, "0");
}

/** Which attributes differ from the wanted ones. Pure. */
export function attrChanges(st: FileState, want: Attrs): string[] {
  const out: string[] = [];
  want = { ...want, mode: resolveMode(st, want.mode) };
  if (want.mode && st.mode !== want.mode) out.push(`mode ${st.mode ?? "-"} → ${want.mode}`);
  if (want.owner && st.owner !== want.owner) out.push(`owner ${st.owner ?? "-"} → ${want.owner}`);
  if (want.group && st.group !== want.group) out.push(`group ${st.group ?? "-"} → ${want.group}`);
  return out;
}

/** Shell lines that set attributes on `var` (a shell variable name holding a path). */
export function attrLines(varName: string, want: Attrs): string {
  let s = "";
  if (want.owner || want.group) {
    s += `chown ${shq(`${want.owner ?? ""}${want.group ? `:${want.group}` : ""}`)} "$${varName}"\n`;
  }
  if (want.mode) s += `chmod ${shq(want.mode)} "$${varName}"\n`;
  return s;
}

/** Options of {@linkcode atomicWriteScript}. */
export interface WriteOptions extends Attrs {
  readonly backup?: boolean;
  /** Command to validate the new file before it replaces the old one; `%s` is its path. */
  readonly validate?: string;
}

/**
 * Script that writes `content` to `path` atomically: temp file beside the
 * target (mode 0600 from mktemp), the old file's mode and owner (0644 for a
 * new file) unless the task sets them (then only the task's, so a 0600 file
 * is never readable by others on the way), optional validation, then rename.
 * The temp file is removed on any failure or signal.
 */
export function atomicWriteScript(
  path: string,
  content: string | Uint8Array,
  options: WriteOptions = {},
): string {
  const b64 = encodeB64(content).replace(/(.{76})/g, "$1\n");
  const tag = heredocTag(b64);
  const validate = options.validate
    ? `if ! ( ${options.validate.replaceAll("%s", '"$tmp"')} ) >&2; then echo "validation failed: ${
      options.validate.replaceAll('"', '\\"')
    }" >&2; exit 3; fi\n`
    : "";
  // The temp file holds the content from the start (mode 0600 from mktemp):
  // it never passes through a mode or an owner that the task did not ask for
  // (a 0600 file of secrets was briefly 0644, readable by any local user).
  const { owner, group, mode } = options;
  const keepOwner = owner && group
    ? ""
    : `chown ${owner ? shq(owner) : '"$(stat -c %u -- "$dest")"'}:${
      group ? shq(group) : '"$(stat -c %g -- "$dest")"'
    } "$tmp"; `;
  const octal = mode !== undefined && /^[0-7]+$/.test(mode);
  const keepMode = octal ? "" : `chmod "$(stat -c %a -- "$dest")" "$tmp"; `;
  const newMode = octal ? "" : `chmod 0644 "$tmp"; `;
  return `set -e
dest=${shq(path)}
dir=$(dirname -- "$dest")
tmp=$(mktemp "$dir/.drover.XXXXXXXX")
trap 'rm -f "$tmp"' EXIT HUP INT TERM
base64 -d > "$tmp" <<'${tag}'
${b64}
${tag}
if [ -e "$dest" ]; then ${keepOwner}${keepMode}:; else ${newMode}:; fi
${attrLines("tmp", options)}${validate}${
    options.backup
      ? `if [ -f "$dest" ]; then b="$dest.$$.$(date +%Y-%m-%d@%H:%M:%S)~"; cp -p -- "$dest" "$b"; echo "backup_file=$b"; fi\n`
      : ""
  }sync -- "$tmp" 2>/dev/null || true
mv -f -- "$tmp" "$dest"
trap - EXIT HUP INT TERM
`;
}

/** Write a file atomically on the host; failures become {@linkcode ModuleFailure}. */
export async function writeFile(
  ctx: ModuleContext,
  path: string,
  content: string | Uint8Array,
  options: WriteOptions = {},
): Promise<{ backupFile?: string }> {
  const r = await ctx.sh(atomicWriteScript(path, content, options));
  if (r.rc !== 0) {
    throw new ModuleFailure(
      r.rc === 3
        ? `the new ${path} did not validate, the old file was kept: ${r.stderr.trim()}`
        : `could not write ${path}: ${r.stderr.trim()}`,
      { rc: r.rc, stderr: r.stderr },
    );
  }
  // Named like Ansible's backups: FILE.PID.YYYY-MM-DD@HH:MM:SS~
  return { backupFile: /^backup_file=(.*)$/m.exec(r.stdout)?.[1] };
}

/** A unified diff of two texts, with `---`/`+++` headers. Pure. */
export function unifiedDiff(before: string, after: string, path: string): string {
  const a = before === "" ? [] : before.replace(/\n$/, "").split("\n");
  const b = after === "" ? [] : after.replace(/\n$/, "").split("\n");
  // LCS table; files drover diffs are small (configs).
  const n = a.length, m = b.length;
  const dp: number[][] = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
    }
  }
  const ops: { t: " " | "-" | "+"; s: string; ai: number; bi: number }[] = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ t: " ", s: a[i], ai: i++, bi: j++ });
    // Removed lines come before the lines that replace them, as in diff -u.
    else if (i < n && (j >= m || dp[i + 1][j] >= dp[i][j + 1])) {
      ops.push({ t: "-", s: a[i], ai: i++, bi: j });
    } else ops.push({ t: "+", s: b[j], ai: i, bi: j++ });
  }
  const out = [`--- before: ${path}`, `+++ after: ${path}`];
  const ctxN = 3;
  let k = 0;
  while (k < ops.length) {
    if (ops[k].t === " ") {
      k++;
      continue;
    }
    const start = Math.max(0, k - ctxN);
    let end = k;
    while (end < ops.length) {
      if (ops[end].t !== " ") {
        end++;
        continue;
      }
      let run = 0;
      while (end + run < ops.length && ops[end + run].t === " ") run++;
      if (run > ctxN * 2 || end + run >= ops.length) {
        end = Math.min(ops.length, end + ctxN);
        break;
      }
      end += run;
    }
    const hunk = ops.slice(start, end);
    const aStart = hunk[0].ai + 1, bStart = hunk[0].bi + 1;
    const aLen = hunk.filter((o) => o.t !== "+").length,
      bLen = hunk.filter((o) => o.t !== "-").length;
    out.push(`@@ -${aLen ? aStart : aStart - 1},${aLen} +${bLen ? bStart : bStart - 1},${bLen} @@`);
    for (const o of hunk) out.push(o.t + o.s);
    k = end;
  }
  return out.join("\n") + "\n";
}

/** A diff entry for file content. */
export function contentDiff(path: string, before: string | undefined, after: string): Diff {
  return { target: path, before: before ?? "", after };
}
