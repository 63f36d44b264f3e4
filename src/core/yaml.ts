/**
 * @module
 * YAML loading that keeps source positions, so every error can name
 * `file:line:col`.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import type { Document, Node, Pair, SchemaOptions } from "yaml";
import { DroverError, type SourcePos } from "./errors.ts";

/** A parsed YAML file with what is needed to locate its nodes. */
export interface YamlFile {
  readonly file: string;
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
}

/** Parse `text` (from `file`); syntax errors become a {@linkcode DroverError} with position. */
export function parseYaml(file: string, text: string): YamlFile {
  const lines = new LineCounter();
  const nul = text.indexOf("\0");
  if (nul >= 0) throw nulError(file, textPos(text, nul));
  // YAML 1.1 as Ansible (PyYAML) reads it: yes/no are booleans, 0644 is octal.
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    version: "1.1",
    customTags: (tags: Tags) => pyyamlFloats(pyyamlBooleans(tags)),
  });
  const err = doc.errors[0];
  if (err) {
    const offset = errorOffset(text, err.pos?.[0] ?? 0, err.message);
    const lp = lines.linePos(offset);
    const line = text.split("\n")[lp.line - 1] ?? "";
    const brace = /(?::|^\s*-)\s+(\{\{)/.exec(line);
    if (brace) {
      throw unquotedTemplate(file, lp.line, brace.index + brace[0].length - 1);
    }
    const msg = err.code === "MULTIPLE_DOCS"
      ? "a second document ('---') in one file"
      : /call stack/i.test(err.message)
      ? "the value is nested too deeply"
      : err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new DroverError(`YAML syntax error: ${msg}`, {
      pos: { file, line: lp.line, col: lp.col },
      expected: err.code === "MULTIPLE_DOCS" ? "one YAML document per file" : "valid YAML",
      hint: err.code === "DUPLICATE_KEY"
        ? "each key may appear once in a mapping"
        : err.code === "MULTIPLE_DOCS"
        ? "put the plays of both documents in one list, or split the file"
        : "check indentation and quoting on this line and the one before it (a value starting with {{ must be quoted)",
    });
  }
  let firstAlias: Node | undefined;
  // `msg: {{ x }}` is valid YAML (a flow mapping whose key is a flow mapping)
  // but never what the author meant: Ansible rejects it too.
  visit(doc, {
    Alias(_key, node, path) {
      firstAlias ??= node;
      const target = node.resolve(doc);
      if (target !== undefined && path.includes(target as never)) {
        const lp = lines.linePos(node.range?.[0] ?? 0);
        throw new DroverError(`YAML error: alias '*${node.source}' is inside the value it names`, {
          pos: { file, line: lp.line, col: lp.col },
          expected: "an alias of a value that is complete before the alias",
          hint: "a value cannot contain itself",
        });
      }
      if (target !== undefined) return;
      const lp = lines.linePos(node.range?.[0] ?? 0);
      throw new DroverError(`YAML syntax error: alias '*${node.source}' has no anchor`, {
        pos: { file, line: lp.line, col: lp.col },
        expected: `an anchor '&${node.source}' on a value before this line`,
        hint: "define the anchor first, or quote the value if '*' is meant literally",
      });
    },
    Map(_key, node) {
      if (!node.flow || !node.items.some((p) => isMap(p.key))) return;
      const lp = lines.linePos(node.range?.[0] ?? 0);
      throw unquotedTemplate(file, lp.line, lp.col);
    },
    // A "\0" escape: no path, argument or variable on a host can hold a NUL.
    Scalar(_key, node) {
      if (typeof node.value !== "string" || !node.value.includes("\0")) return;
      const lp = lines.linePos(node.range?.[0] ?? 0);
      throw nulError(file, { line: lp.line, col: lp.col });
    },
  });
  const y = { file, doc, lines };
  if (firstAlias) {
    // Expanding every alias once bounds "billion laughs" (yaml's maxAliasCount) before use.
    try {
      doc.toJS();
    } catch (e) {
      throw yamlValueError(y, firstAlias, e);
    }
  }
  return y;
}

function nulError(file: string, at: { line: number; col: number }): DroverError {
  return new DroverError("YAML error: a NUL character (\\0) is not allowed", {
    pos: { file, ...at },
    expected: "text without NUL characters",
    hint: "no path, argument or variable on a host can hold a NUL; remove it",
  });
}

/** A value yaml cannot build (too many aliases, a bad merge), as a {@linkcode DroverError}. */
function yamlValueError(y: YamlFile, node: Node, e: unknown): DroverError {
  if (e instanceof DroverError) return e;
  const message = e instanceof Error ? e.message : String(e);
  if (/resource exhaustion/.test(message)) {
    return new DroverError("YAML error: aliases expand to too many values", {
      pos: posOf(y, node),
      expected: "anchors ('&name') and aliases ('*name') that expand to a reasonable size",
      hint:
        "an alias of an alias of an alias… (a 'billion laughs') is refused; write the values out",
    });
  }
  return new DroverError(`YAML error: ${message.split("\n")[0]}`, {
    pos: posOf(y, node),
    expected: "valid YAML",
  });
}

/** Line and column (1-based, UTF-16 columns as yaml counts them) of `offset` in `text`. */
function textPos(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, col: offset - (before.lastIndexOf("\n") + 1) + 1 };
}

function unquotedTemplate(file: string, line: number, col: number): DroverError {
  return new DroverError("YAML syntax error: a value starting with '{{' must be quoted", {
    pos: { file, line, col },
    expected: 'a quoted template, e.g. msg: "{{ name }} is here"',
    hint: "put the whole value in double quotes",
  });
}

/** Where to point for a syntax error: the opening quote of an unclosed string, else the first non-blank. */
function errorOffset(text: string, offset: number, message: string): number {
  const q = /^Missing closing (["'])quote/.exec(message)?.[1];
  if (q) {
    for (let i = Math.min(offset, text.length) - 1; i >= 0; i--) {
      if (text[i] !== q) continue;
      if (q === '"' && text[i - 1] === "\\") continue;
      if (q === "'" && text[i - 1] === "'") {
        i--;
        continue;
      }
      return i;
    }
  }
  let i = offset;
  while (i < text.length && text[i] === " ") i++;
  return i < text.length && text[i] !== "\n" ? i : offset;
}

// PyYAML (and so Ansible) reads yes/no/on/off/true/false as booleans, but
// not y/n: `y: 1` is a variable named y.
function pyyamlBooleans(tags: Tags): Tags {
  return tags.map((t) => {
    if (typeof t !== "object" || t.tag !== "tag:yaml.org,2002:bool" || !t.test) return t;
    return { ...t, test: new RegExp(t.test.source.replace(/[YN]\|[yn]\|/, "")) };
  });
}

// PyYAML's floats need a dot (and a signed exponent): `e2` and `1e2` are
// strings to Ansible; the yaml package's 1.1 schema would read NaN and 100.
function pyyamlFloats(tags: Tags): Tags {
  return tags.map((t) => {
    if (typeof t !== "object" || t.tag !== "tag:yaml.org,2002:float" || !t.test) return t;
    if (/inf|nan/i.test(t.test.source)) return t;
    return {
      ...t,
      test: /[eE]/.test(t.test.source)
        ? /^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)[eE][-+][0-9]+$/
        : /^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)$/,
    };
  });
}

type Tags = Extract<NonNullable<SchemaOptions["customTags"]>, unknown[]>;

/** The largest playbook, inventory or vars file drover reads. */
export const MAX_SOURCE_BYTES = 16 * 1024 * 1024;

/**
 * Read a UTF-8 text file of at most {@linkcode MAX_SOURCE_BYTES} (a leading
 * BOM is dropped). A missing file, a directory, a file too big (`/dev/zero`)
 * or bytes that are not UTF-8 are a {@linkcode DroverError}.
 */
export function readText(file: string, from?: SourcePos): string {
  const fail = (why: string, hint?: string) =>
    new DroverError(`cannot read ${file}: ${why}`, { pos: from, hint });
  let bytes: Uint8Array;
  try {
    using f = Deno.openSync(file);
    if (f.statSync().isDirectory) throw fail("it is a directory");
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const buf = new Uint8Array(Math.min(1024 * 1024, MAX_SOURCE_BYTES + 1 - size));
      const n = f.readSync(buf);
      if (n === null || n === 0) break;
      chunks.push(buf.subarray(0, n));
      size += n;
      if (size > MAX_SOURCE_BYTES) {
        throw fail(
          `larger than ${MAX_SOURCE_BYTES / 1024 / 1024} MiB`,
          "is it the right file?",
        );
      }
    }
    bytes = new Uint8Array(size);
    let o = 0;
    for (const c of chunks) {
      bytes.set(c, o);
      o += c.length;
    }
  } catch (e) {
    if (e instanceof DroverError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw fail(
        "no such file",
        "check the path (relative paths are resolved from the playbook's directory)",
      );
    }
    if (e instanceof Deno.errors.IsADirectory) throw fail("it is a directory");
    throw fail((e as Error).message.replace(/ \(os error \d+\).*$/, ""));
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = badUtf8(bytes);
    throw new DroverError(`${file} is not UTF-8 text: byte 0x${at.byte.toString(16)}`, {
      pos: { file, line: at.line, col: at.col },
      expected: "a text file in UTF-8",
      hint: "convert it, e.g. iconv -f latin1 -t utf-8",
    });
  }
}

/** Where the first byte that is not UTF-8 is. */
function badUtf8(bytes: Uint8Array): { line: number; col: number; byte: number } {
  const enc = new TextEncoder();
  let off = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  let line = 1;
  let col = 1;
  for (const ch of new TextDecoder().decode(bytes)) {
    const e = enc.encode(ch);
    if (e.some((b, k) => bytes[off + k] !== b)) break;
    off += e.length;
    if (ch === "\n") {
      line++;
      col = 1;
    } else col += ch.length;
  }
  return { line, col, byte: bytes[off] ?? 0 };
}

/** Read and parse a YAML file; a missing or unreadable file is a {@linkcode DroverError}. */
export function readYaml(file: string, from?: SourcePos): YamlFile {
  return parseYaml(file, readText(file, from));
}

/** Where a node starts. */
export function posOf(y: YamlFile, node: Node | Pair | null | undefined): SourcePos {
  const range = (node && "range" in node ? node.range : undefined) ??
    (node && "key" in node ? (node.key as Node | null)?.range : undefined);
  const lp = y.lines.linePos(range?.[0] ?? 0);
  return { file: y.file, line: lp.line, col: lp.col };
}

/** The plain JS value of a node. */
export function toJS(y: YamlFile, node: Node | null | undefined): unknown {
  if (!node) return null;
  try {
    return (node as Node & { toJS(doc: Document): unknown }).toJS(y.doc);
  } catch (e) {
    throw yamlValueError(y, node, e);
  }
}

/** A mapping entry with its key's position. */
export interface Entry {
  readonly key: string;
  readonly keyPos: SourcePos;
  readonly node: Node | null;
  readonly pos: SourcePos;
}

/** Entries of a mapping node; anything else is an error naming `what`. */
export function entries(
  y: YamlFile,
  node: Node | null | undefined,
  what: string,
  at?: SourcePos,
): Entry[] {
  if (!isMap(node)) {
    throw new DroverError(`${what} must be a mapping, got ${describe(y, node)}`, {
      pos: node ? posOf(y, node) : at,
      expected: `${what} as 'key: value' lines`,
    });
  }
  return mapEntries(y, node, what, new Set());
}

/** A mapping's own entries, then those merge keys (`<<: *defaults`) bring that it lacks. */
function mapEntries(y: YamlFile, node: Node, what: string, seen: Set<Node>): Entry[] {
  if (!isMap(node)) return [];
  seen.add(node);
  const own: Entry[] = [];
  const merged: Entry[] = [];
  for (const pair of node.items) {
    if (isMergeKey(pair.key)) {
      for (const src of mergeSources(y, pair.value as Node | null, pair)) {
        if (seen.has(src)) {
          throw new DroverError("YAML error: a merge key ('<<') merges a mapping into itself", {
            pos: posOf(y, pair),
            expected: "an alias of another mapping",
          });
        }
        merged.push(...mapEntries(y, src, what, seen));
      }
      continue;
    }
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const keyPos = posOf(y, pair.key as Node);
    // `key:` with nothing after it (or `~`, `null`) is no value, as for Ansible.
    const raw = pair.value as Node | null;
    const value = isScalar(raw) && raw.value === null ? null : raw;
    own.push({ key, keyPos, node: value, pos: value ? posOf(y, value) : keyPos });
  }
  seen.delete(node);
  const keys = new Set(own.map((e) => e.key));
  for (const e of merged) {
    if (keys.has(e.key)) continue;
    keys.add(e.key);
    own.push(e);
  }
  return own;
}

function isMergeKey(key: unknown): boolean {
  if (!isScalar(key)) return false;
  const v = key.value;
  return typeof v === "symbol" && v.description === "<<";
}

/** The mappings a merge key's value names: an alias or mapping, or a list of them. */
function mergeSources(y: YamlFile, value: Node | null, pair: Pair): Node[] {
  const one = (n: Node | null): Node => {
    const target = isAlias(n) ? n.resolve(y.doc) as Node | undefined : n;
    if (!isMap(target)) {
      throw new DroverError(
        `YAML error: a merge key ('<<') needs a mapping, got ${describe(y, target ?? null)}`,
        {
          pos: n ? posOf(y, n) : posOf(y, pair),
          expected: "<<: *defaults or <<: [*a, *b], where the anchors are on mappings",
        },
      );
    }
    return target;
  };
  return isSeq(value) ? (value.items as Node[]).map(one) : [one(value)];
}

/** Items of a sequence node. */
export function items(
  y: YamlFile,
  node: Node | null | undefined,
  what: string,
  at?: SourcePos,
): Node[] {
  if (!isSeq(node)) {
    throw new DroverError(`${what} must be a list, got ${describe(y, node)}`, {
      pos: node ? posOf(y, node) : at,
      expected: `${what} as a list of '- ' items`,
    });
  }
  return node.items as Node[];
}

/** A short description of a node's type for error messages. */
export function describe(_y: YamlFile, node: Node | null | undefined): string {
  if (!node) return "nothing";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return "null";
    if (typeof v === "string") {
      return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v)}`;
    }
    return `${typeof v} ${String(v)}`;
  }
  return "an unsupported value";
}

export { isMap, isScalar, isSeq };
export type { Node };
