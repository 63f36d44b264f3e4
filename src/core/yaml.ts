/**
 * @module
 * YAML loading that keeps source positions, so every error can name
 * `file:line:col`.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { Document, Node, Pair } from "yaml";
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
  });
  const err = doc.errors[0];
  if (err) {
    const offset = err.pos?.[0] ?? 0;
    const lp = lines.linePos(offset);
    const msg = err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new DroverError(`YAML syntax error: ${msg}`, {
      pos: { file, line: lp.line, col: lp.col },
      expected: "valid YAML",
      hint: err.code === "DUPLICATE_KEY"
        ? "each key may appear once in a mapping"
        : "check indentation and quoting on this line and the one before it (a value starting with {{ must be quoted)",
    });
  }
  return { file, doc, lines };
}

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
    const value = pair.value as Node | null;
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
