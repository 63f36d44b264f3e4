/**
 * @module
 * YAML loading that keeps source positions, so every error can name
 * `file:line:col`.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
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
  // YAML 1.1 as Ansible (PyYAML) reads it: yes/no are booleans, 0644 is octal.
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    version: "1.1",
    customTags: pyyamlBooleans,
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
    const msg = err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new DroverError(`YAML syntax error: ${msg}`, {
      pos: { file, line: lp.line, col: lp.col },
      expected: "valid YAML",
      hint: err.code === "DUPLICATE_KEY"
        ? "each key may appear once in a mapping"
        : "check indentation and quoting on this line and the one before it (a value starting with {{ must be quoted)",
    });
  }
  // `msg: {{ x }}` is valid YAML (a flow mapping whose key is a flow mapping)
  // but never what the author meant: Ansible rejects it too.
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) !== undefined) return;
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
  });
  return { file, doc, lines };
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

type Tags = Extract<NonNullable<SchemaOptions["customTags"]>, unknown[]>;

/** Read and parse a YAML file; a missing file is a {@linkcode DroverError}. */
export function readYaml(file: string, from?: SourcePos): YamlFile {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    throw new DroverError(
      `cannot read ${file}: ${
        e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message
      }`,
      {
        pos: from,
        hint: "check the path (relative paths are resolved from the playbook's directory)",
      },
    );
  }
  return parseYaml(file, text);
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
  return (node as Node & { toJS(doc: Document): unknown }).toJS(y.doc);
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
  return node.items.map((pair) => {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const keyPos = posOf(y, pair.key as Node);
    // `key:` with nothing after it (or `~`, `null`) is no value, as for Ansible.
    const raw = pair.value as Node | null;
    const value = isScalar(raw) && raw.value === null ? null : raw;
    return { key, keyPos, node: value, pos: value ? posOf(y, value) : keyPos };
  });
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
