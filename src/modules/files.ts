/**
 * @module
 * File modules: `file`, `copy`, `template`, `stat`, `lineinfile`. Each reads
 * the file's state in one round trip, plans with a pure function and writes
 * atomically unless in check mode. Predicted content is recorded in the host
 * model so later tasks in a `--check` run see it.
 */
import { z } from "zod";
import {
  defineModule,
  type Diff,
  type ModuleContext,
  ModuleFailure,
  type ModuleResult,
  readHost,
} from "../core/module.ts";
import { bool, mode, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";
import {
  attrChanges,
  attrLines,
  type FileState,
  fileState,
  resolveMode,
  sha256,
  statReads,
  SYMBOLIC_MODE,
  writeFile,
} from "./_files.ts";
import { existsSync } from "node:fs";
import { dirname, isAbsolute, join } from "../core/path.ts";
import { pyStr } from "../template/text.ts";

const attrs = {
  // A symbolic mode stays symbolic: it applies to the current mode (resolveMode).
  mode: z.union([z.string().regex(SYMBOLIC_MODE), mode()]).optional(),
  owner: str().optional(),
  group: str().optional(),
};

/** The state as a task should see it: the host model's prediction wins over the host. */
async function currentState(ctx: ModuleContext, path: string): Promise<FileState> {
  const predicted = ctx.model.file(path);
  if (predicted !== undefined && ctx.check) {
    return predicted === null
      ? { path, type: "absent" }
      : { path, type: "file", content: predicted, mode: undefined };
  }
  return await fileState(ctx, path);
}

function stateDiff(
  path: string,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): Diff {
  const fmt = (o: Record<string, unknown>) =>
    Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`).join("\n") +
    "\n";
  return { target: path, before: fmt(before), after: fmt(after) };
}

/** Plan for content-carrying writes (copy/template/lineinfile). Pure. */
export function planContent(
  st: FileState,
  content: string,
  want: { mode?: string; owner?: string; group?: string; force?: boolean },
): {
  write: boolean;
  attrsOnly: string[];
} {
  if (st.type === "directory") throw new ModuleFailure(`${st.path} is a directory`);
  if (st.type === "absent") return { write: true, attrsOnly: [] };
  const same = st.content !== undefined ? st.content === content : false;
  if (!same && want.force === false) return { write: false, attrsOnly: attrChanges(st, want) };
  if (!same) return { write: true, attrsOnly: [] };
  return { write: false, attrsOnly: attrChanges(st, want) };
}

/** Shared by copy/template/lineinfile: converge `path` to `content`. */
export async function ensureContent(
  ctx: ModuleContext,
  path: string,
  content: string,
  want: {
    mode?: string;
    owner?: string;
    group?: string;
    backup?: boolean;
    validate?: string;
    force?: boolean;
  },
  st?: FileState,
): Promise<ModuleResult> {
  st ??= await currentState(ctx, path);
  want = { ...want, mode: resolveMode(st, want.mode, "file") };
  if (st.type === "file" && st.content === undefined && st.sha256) {
    // Large or binary: compare by hash.
    const { sha256 } = await import("./_files.ts");
    if ((await sha256(content)) === st.sha256) st = { ...st, content };
  }
  const plan = planContent(st, content, want);
  const diff: Diff[] = [];
  if (plan.write) diff.push({ target: path, before: st.content ?? "", after: content });
  // A rewrite that also changes mode/owner/group shows that too, not only the new content.
  const attrDiff = plan.write && st.type !== "absent" ? attrChanges(st, want) : plan.attrsOnly;
  if (attrDiff.length) {
    diff.push(
      stateDiff(path, { mode: st.mode, owner: st.owner, group: st.group }, {
        mode: want.mode ?? st.mode,
        owner: want.owner ?? st.owner,
        group: want.group ?? st.group,
      }),
    );
  }
  const changed = plan.write || plan.attrsOnly.length > 0;
  ctx.model.setFile(path, plan.write ? content : (st.content ?? ctx.model.file(path) ?? null));
  let backupFile: string | undefined;
  if (changed && !ctx.check) {
    if (plan.write) {
      ({ backupFile } = await writeFile(ctx, path, content, {
        mode: want.mode,
        owner: want.owner,
        group: want.group,
        backup: want.backup,
        validate: want.validate,
      }));
    } else {
      const r = await ctx.sh(`set -e\np=${shq(path)}\n${attrLines("p", want)}`);
      if (r.rc !== 0) {
        throw new ModuleFailure(`could not set attributes of ${path}: ${r.stderr.trim()}`);
      }
    }
  }
  return {
    changed,
    diff,
    msg: plan.write
      ? (st.type === "absent" ? `created ${path}` : `updated ${path}`)
      : plan.attrsOnly.join(", ") || undefined,
    data: { dest: path, path, ...(backupFile ? { backup_file: backupFile } : {}) },
  };
}

/** A local file as text when it is UTF-8 (byte for byte, BOM kept), else its bytes. */
function readSource(path: string): string | Uint8Array {
  const bytes = Deno.readFileSync(path);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return bytes;
  }
}

/** Like {@linkcode ensureContent} for bytes that are not text: compared by SHA-256, no text diff. */
async function ensureBytes(
  ctx: ModuleContext,
  path: string,
  bytes: Uint8Array,
  want: {
    mode?: string;
    owner?: string;
    group?: string;
    backup?: boolean;
    validate?: string;
    force?: boolean;
  },
): Promise<ModuleResult> {
  const st = await currentState(ctx, path);
  if (st.type === "directory") throw new ModuleFailure(`${path} is a directory`);
  want = { ...want, mode: resolveMode(st, want.mode, "file") };
  const hash = await sha256(bytes);
  const same = st.type === "file" && st.sha256 === hash;
  const write = st.type === "absent" || (!same && want.force !== false);
  const attrsOnly = write ? [] : attrChanges(st, want);
  const diff: Diff[] = [];
  const label = (size: number | undefined, sum: string | undefined) =>
    `(binary, ${size ?? "?"} bytes, sha256 ${sum ?? "?"})\n`;
  if (write) {
    diff.push({
      target: path,
      before: st.type === "absent" ? "" : label(st.size, st.sha256),
      after: label(bytes.length, hash),
    });
  }
  if (attrsOnly.length) {
    diff.push(
      stateDiff(path, { mode: st.mode, owner: st.owner, group: st.group }, {
        mode: want.mode ?? st.mode,
        owner: want.owner ?? st.owner,
        group: want.group ?? st.group,
      }),
    );
  }
  const changed = write || attrsOnly.length > 0;
  if (changed && !ctx.check) {
    if (write) await writeFile(ctx, path, bytes, want);
    else {
      const r = await ctx.sh(`set -e\np=${shq(path)}\n${attrLines("p", want)}`);
      if (r.rc !== 0) {
        throw new ModuleFailure(`could not set attributes of ${path}: ${r.stderr.trim()}`);
      }
    }
  }
  return {
    changed,
    diff,
    msg: write
      ? (st.type === "absent" ? `created ${path}` : `updated ${path}`)
      : attrsOnly.join(", ") || undefined,
    data: { dest: path, path, checksum: hash },
  };
}

/** Find a `src:` file: absolute, or in the role's/playbook's files/ or templates/ dirs. */
export function findSource(ctx: ModuleContext, src: string, kind: "files" | "templates"): string {
  if (isAbsolute(src)) {
    if (existsSync(src)) return src;
  } else {
    for (const d of ctx.searchPaths) {
      for (const p of [join(d, kind, src), join(d, src)]) if (existsSync(p)) return p;
    }
  }
  throw new ModuleFailure(
    `could not find '${src}' (searched ${ctx.searchPaths.map((d) => join(d, kind)).join(", ")})`,
  );
}

/** `file`: directories, empty files, links, absence, attributes. */
export const file = defineModule({
  name: "file",
  doc: "Ensure a path is a directory, file, link, or absent, with mode/owner/group.",
  args: z.object({
    path: str().optional(),
    dest: str().optional().describe("Alias of path"),
    name: str().optional().describe("Alias of path"),
    state: z.enum(["file", "directory", "absent", "touch", "link"]).default("file"),
    src: str().optional(),
    recurse: bool().optional(),
    force: bool().optional(),
    modification_time: z.enum(["now", "preserve"]).optional().describe(
      "state=touch: 'now' (the default for touch) or 'preserve'",
    ),
    access_time: z.enum(["now", "preserve"]).optional().describe(
      "state=touch: 'now' (the default for touch) or 'preserve'",
    ),
    ...attrs,
  }).strict().refine((a) => (a.path ?? a.dest ?? a.name) !== undefined, {
    message: "give 'path' (or its aliases 'dest', 'name')",
  }),
  reads: (a) => statReads(a.path ?? a.dest ?? a.name),
  async run(ctx, args) {
    const path = (args.path ?? args.dest ?? args.name)!;
    const st = await currentState(ctx, path);
    const kind = args.state === "directory" || st.type === "directory" ? "directory" : "file";
    const a = { ...args, path, mode: resolveMode(st, args.mode, kind) };
    const p = shq(a.path);
    let script = "";
    const diff: Diff[] = [];
    const before = { state: st.type, mode: st.mode, owner: st.owner, group: st.group };
    switch (a.state) {
      case "absent":
        if (st.type !== "absent") script = `rm -rf -- ${p}\n`;
        ctx.model.setFile(a.path, null);
        break;
      case "directory":
        // Like Ansible, every directory created gets the mode and owner, not only the last.
        if (st.type === "absent") {
          script =
            `set -f; q=${p}; d=; IFS=/; for c in $q; do [ -n "$c" ] || continue; d="$d/$c"; ` +
            `[ -e "$d" ] && continue; mkdir -- "$d"\n${attrLines("d", a)}done; unset IFS\n`;
        } else if (st.type !== "directory") {
          throw new ModuleFailure(`${a.path} exists and is a ${st.type}, not a directory`);
        }
        break;
      case "touch": {
        // Ansible's touch updates the times of an existing file, a change, unless both are preserved.
        const times = [
          ...(a.access_time === "preserve" ? [] : ["-a"]),
          ...(a.modification_time === "preserve" ? [] : ["-m"]),
        ];
        if (st.type === "absent") script = `touch -- ${p}\n`;
        else if (times.length) script = `touch ${times.join(" ")} -- ${p}\n`;
        break;
      }
      case "link":
        if (!a.src) throw new ModuleFailure("state=link needs 'src'");
        if (st.type !== "link" || st.linkTarget !== a.src) {
          // As Ansible: without force, the target must exist (or be predicted by an
          // earlier task in --check) and a file or directory is not replaced.
          if (!a.force) {
            if (st.type === "file" || st.type === "directory") {
              throw new ModuleFailure(
                `refusing to convert from ${st.type} to symlink for ${a.path}`,
              );
            }
            const abs = isAbsolute(a.src) ? a.src : join(dirname(a.path), a.src);
            const predicted = ctx.check ? ctx.model.file(abs) : undefined;
            const exists = predicted !== undefined
              ? predicted !== null
              : (await ctx.sh(`[ -e ${shq(abs)} ] && echo yes || true`)).stdout.includes("yes");
            if (!exists) {
              throw new ModuleFailure(
                `src file does not exist, use "force=yes" if you really want to create the link: ${abs}`,
                { path: a.path, src: a.src },
              );
            }
          }
          script = `ln -sfn -- ${shq(a.src)} ${p}\n`;
        }
        break;
      case "file":
        if (st.type === "absent") {
          throw new ModuleFailure(`file ${a.path} is absent, cannot continue`, {
            path: a.path,
            state: "absent",
          });
        }
        break;
    }
    const attrDiff = a.state === "absent" || a.state === "link"
      ? []
      : st.type === "absent"
      ? ["new"]
      : attrChanges(st, a);
    if (attrDiff.length && a.state !== "absent") {
      script += `p=${p}\n${attrLines("p", a)}${
        a.recurse && (a.owner || a.group)
          ? `chown -R ${shq(`${a.owner ?? ""}${a.group ? `:${a.group}` : ""}`)} "$p"\n`
          : ""
      }`;
    }
    const changed = script !== "" &&
      !(attrDiff[0] === "new" && script === `p=${p}\n`);
    if (changed) {
      diff.push(
        stateDiff(a.path, before, {
          state: a.state === "touch" ? "file" : a.state,
          mode: a.mode ?? before.mode,
          owner: a.owner ?? before.owner,
          group: a.group ?? before.group,
        }),
      );
      if (!ctx.check) {
        const r = await ctx.sh(`set -e\n${script}`);
        if (r.rc !== 0) throw new ModuleFailure(`file ${a.path}: ${r.stderr.trim()}`);
      }
    }
    // Like Ansible, `state` is what the path is afterwards (in check mode: still is).
    const after = a.state === "touch" ? "file" : a.state;
    const state = ctx.check && changed ? (st.type === "other" ? "file" : st.type) : after;
    return { changed, diff, data: { path: a.path, state } };
  },
});

/** `copy`: put content (or a local file) on the host. */
export const copy = defineModule({
  name: "copy",
  doc: "Write a file from 'content' or a local 'src', atomically, with mode/owner/group.",
  args: z.object({
    dest: str(),
    content: z.unknown().optional(),
    src: str().optional(),
    backup: bool().default(false),
    force: bool().default(true),
    validate: str().optional(),
    ...attrs,
  }).strict().refine((a) => (a.content === undefined) !== (a.src === undefined), {
    message: "give exactly one of 'content' or 'src'",
  }),
  reads: (a) => statReads(a.dest?.endsWith("/") ? undefined : a.dest),
  async run(ctx, a) {
    let content: string | Uint8Array;
    if (a.src !== undefined) content = readSource(findSource(ctx, a.src, "files"));
    else content = typeof a.content === "string" ? a.content : JSON.stringify(a.content, null, 2);
    let dest = a.dest;
    if (dest.endsWith("/")) dest += a.src ? a.src.split("/").pop() : "content";
    if (typeof content !== "string") return await ensureBytes(ctx, dest, content, a);
    return await ensureContent(ctx, dest, content, a);
  },
});

/** `template`: render a Jinja template from the role's/playbook's templates/ and write it. */
export const template = defineModule({
  name: "template",
  doc: "Render a template file (Jinja syntax) with the task's variables and write it atomically.",
  args: z.object({
    src: str(),
    dest: str(),
    backup: bool().default(false),
    force: bool().default(true),
    validate: str().optional(),
    trim_blocks: bool().optional(),
    ...attrs,
  }).strict(),
  reads: (a) => statReads(a.dest),
  async run(ctx, a) {
    const path = findSource(ctx, a.src, "templates");
    const text = Deno.readTextFileSync(path);
    // Ansible's template variables: ansible_managed (its default text, so files a
    // playbook wrote with Ansible stay unchanged) and where the template comes from.
    const vars = {
      ...ctx.vars,
      ansible_managed: "Ansible managed",
      template_path: path,
      template_fullpath: path,
      template_destpath: a.dest,
    };
    const rendered = pyStr(ctx.templar.renderString(text, vars));
    return await ensureContent(ctx, a.dest, rendered, a);
  },
});

function sha1Script(path: string): string {
  return `sha1sum -- ${shq(path)}`;
}

/** `stat`: facts about a path, registered as `.stat`. */
export const stat = defineModule({
  name: "stat",
  doc: "Read a path's state (exists, isdir, mode, owner, checksum) into a registered variable.",
  args: z.object({ path: str(), get_checksum: bool().optional(), get_content: bool().optional() })
    .strict(),
  reads: (a) => [
    ...statReads(a.path),
    ...(typeof a.path === "string" && a.get_checksum !== false
      ? [{ script: sha1Script(a.path) }]
      : []),
  ],
  async run(ctx, a) {
    const st = await fileState(ctx, a.path);
    // Ansible says only `exists: false` of a missing path.
    if (st.type === "absent") return { changed: false, data: { stat: { exists: false } } };
    // Ansible's checksum is SHA-1 (checksum_algorithm's default).
    const sha1 = st.type === "file" && a.get_checksum !== false
      ? (await readHost(ctx, sha1Script(a.path))).stdout.split(" ")[0] || undefined
      : undefined;
    return {
      changed: false,
      data: {
        stat: {
          exists: true,
          isdir: st.type === "directory",
          isreg: st.type === "file",
          islnk: st.type === "link",
          mode: st.mode,
          pw_name: st.owner,
          gr_name: st.group,
          size: st.size,
          checksum: sha1,
          lnk_target: st.linkTarget,
          ...(a.get_content ? { content: st.content } : {}),
        },
      },
    };
  },
});

/** Apply a lineinfile edit to text. Pure. */
export function editLines(
  text: string,
  a: {
    line?: string;
    regexp?: string;
    state: "present" | "absent";
    insertafter?: string;
    insertbefore?: string;
    backrefs?: boolean;
  },
): string {
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  const re = a.regexp !== undefined ? new RegExp(a.regexp.replaceAll("(?P<", "(?<")) : undefined;
  // Nothing to edit leaves the text as it is (even without a final newline).
  if (a.state === "absent") {
    const kept = lines.filter((l) => (re ? !re.test(l) : l !== a.line));
    if (kept.length === lines.length) return text;
    return kept.length ? kept.join("\n") + "\n" : "";
  }
  const line = a.line ?? "";
  let idx = -1;
  if (re) { for (let i = lines.length - 1; i >= 0 && idx < 0; i--) if (re.test(lines[i])) idx = i; }
  if (idx >= 0) {
    // With backrefs the whole line becomes the expanded `line`, as Python's Match.expand does.
    const next = a.backrefs ? expandBackrefs(re!.exec(lines[idx])!, line) : line;
    if (next === lines[idx]) return text;
    lines[idx] = next;
  } else if (a.backrefs) {
    return text;
  } else if (lines.includes(line)) {
    return text;
  } else {
    let at = lines.length;
    if (a.insertbefore === "BOF") at = 0;
    else if (a.insertbefore) {
      const r = new RegExp(a.insertbefore);
      const i = lines.findLastIndex((l) => r.test(l));
      if (i >= 0) at = i;
    } else if (a.insertafter && a.insertafter !== "EOF") {
      const r = new RegExp(a.insertafter);
      const i = lines.findLastIndex((l) => r.test(l));
      if (i >= 0) at = i + 1;
    }
    lines.splice(at, 0, line);
  }
  return lines.join("\n") + "\n";
}

/** Python's `Match.expand`: `\1`, `\g<1>`, `\g<name>` and the escapes `\n`, `\t`, `\\`. Pure. */
function expandBackrefs(m: RegExpExecArray, template: string): string {
  const escapes: Record<string, string> = { n: "\n", t: "\t", "\\": "\\" };
  return template.replace(/\\(?:(\d{1,2})|g<(\w+)>|(.))/g, (_, n, g, c) => {
    if (n !== undefined) return m[Number(n)] ?? "";
    if (g !== undefined) return (/^\d+$/.test(g) ? m[Number(g)] : m.groups?.[g]) ?? "";
    return escapes[c] ?? `\\${c}`;
  });
}

/** `lineinfile`: ensure one line is present (or absent) in a file. */
export const lineinfile = defineModule({
  name: "lineinfile",
  doc: "Ensure a line is in a file (or replace the line matching 'regexp'), or absent.",
  args: z.object({
    path: str(),
    line: str().optional(),
    regexp: str().optional(),
    state: z.enum(["present", "absent"]).default("present"),
    insertafter: str().optional(),
    insertbefore: str().optional(),
    create: bool().default(false),
    backrefs: bool().default(false),
    backup: bool().default(false),
    validate: str().optional(),
    ...attrs,
  }).strict().refine((a) => a.state === "absent" || a.line !== undefined, {
    message: "state=present needs 'line'",
  }),
  reads: (a) => statReads(a.path),
  async run(ctx, a) {
    const st = await currentState(ctx, a.path);
    if (st.type === "absent") {
      if (a.state === "absent") return { changed: false, msg: `${a.path} does not exist` };
      if (!a.create) {
        throw new ModuleFailure(`${a.path} does not exist (use create: true to create it)`);
      }
    }
    if (st.type === "file" && st.content === undefined) {
      throw new ModuleFailure(`${a.path} is too large or not text`);
    }
    const before = st.content ?? "";
    const after = editLines(before, a);
    return await ensureContent(ctx, a.path, after, a, st);
  },
});
