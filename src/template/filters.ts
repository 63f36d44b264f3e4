/**
 * @module
 * Ansible's everyday Jinja filters and tests, added to a nunjucks environment.
 */
import type nunjucks from "nunjucks";
import { DroverError } from "../core/errors.ts";
import { Document } from "yaml";
import { createHash } from "node:crypto";
import { toBool, truthy } from "./text.ts";

export { toBool, truthy };

type Env = nunjucks.Environment;

/** The message of `mandatory` without a message of its own; the templar names the variable. */
export const MANDATORY = "a mandatory variable is not defined";

function kw(args: unknown[]): Record<string, unknown> {
  const last = args[args.length - 1] as Record<string, unknown> | undefined;
  if (last && typeof last === "object" && "__keywords" in last) {
    args.pop();
    return last;
  }
  return {};
}

function pyRegex(pattern: string, flags = ""): RegExp {
  // Python's (?P<name>...) named groups and (?i) inline flag.
  let f = flags;
  let p = pattern.replaceAll("(?P<", "(?<");
  if (p.startsWith("(?i)")) {
    p = p.slice(4);
    if (!f.includes("i")) f += "i";
  }
  return new RegExp(p, f);
}

function pyReplacement(repl: string): string {
  // Python's \1 / \g<1> / \g<name> backreferences to JS's $1 / $<name>.
  return repl.replaceAll("$", "$$").replace(
    /\\g<(\w+)>/g,
    (_m, g) => /^\d+$/.test(g) ? `$${g}` : `$<${g}>`,
  )
    .replace(/\\(\d)/g, "$$$1");
}

const b64 = {
  encode(s: string): string {
    const bytes = new TextEncoder().encode(s);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  },
  decode(s: string): string {
    const bin = atob(s);
    return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  },
};

/** Add drover's filters and tests to `env`. */
export function addFilters(env: Env): void {
  const f = (name: string, fn: (...a: never[]) => unknown) =>
    env.addFilter(name, fn as (...a: unknown[]) => unknown);
  f("bool", (v: unknown) => toBool(v));
  f("int", (v: unknown, d: unknown = 0) => {
    const n = typeof v === "number" ? Math.trunc(v) : parseInt(String(v), 10);
    return Number.isNaN(n) ? d : n;
  });
  f("float", (v: unknown, d: unknown = 0) => {
    const n = parseFloat(String(v));
    return Number.isNaN(n) ? d : n;
  });
  f(
    "string",
    (
      v: unknown,
    ) => (typeof v === "string"
      ? v
      : v === undefined || v === null
      ? ""
      : typeof v === "object"
      ? JSON.stringify(v)
      : String(v)),
  );
  f("to_json", (v: unknown, ...a: unknown[]) => {
    const k = kw(a);
    return pyJson(v, { sortKeys: toBool(k.sort_keys ?? false), indent: optNum(k.indent) });
  });
  f("to_nice_json", (v: unknown, ...a: unknown[]) => {
    const k = kw(a);
    return pyJson(v, { indent: Number(k.indent ?? 4), sortKeys: toBool(k.sort_keys ?? true) });
  });
  f("from_json", (v: string) => JSON.parse(v));
  f(
    "to_yaml",
    (v: unknown, ...a: unknown[]) => pyYaml(v, { flow: true, indent: optNum(kw(a).indent) }),
  );
  f(
    "to_nice_yaml",
    (v: unknown, ...a: unknown[]) => pyYaml(v, { indent: Number(kw(a).indent ?? 4) }),
  );
  f("regex_replace", (v: unknown, pattern: string, repl = "", ...a: unknown[]) => {
    const k = kw(a);
    return String(v ?? "").replace(
      pyRegex(pattern, k.ignorecase ? "gi" : "g"),
      pyReplacement(String(repl)),
    );
  });
  f("regex_search", (v: unknown, pattern: string) => {
    const m = String(v ?? "").match(pyRegex(pattern));
    return m ? m[0] : null;
  });
  f(
    "regex_findall",
    (v: unknown, pattern: string) =>
      [...String(v ?? "").matchAll(pyRegex(pattern, "g"))].map((m) => m[1] ?? m[0]),
  );
  f("regex_escape", (v: string) => String(v).replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  f("b64encode", (v: unknown) => b64.encode(String(v ?? "")));
  f("b64decode", (v: unknown) => b64.decode(String(v ?? "")));
  f("format", (fmt: unknown, ...args: unknown[]) => pyFormat(String(fmt), args));
  // Ansible's hash('sha1'|'md5'|'sha256'|'sha512') and checksum (sha1) of the text's UTF-8 bytes.
  f("hash", (v: unknown, algo = "sha1") => createHash(algo).update(String(v ?? "")).digest("hex"));
  f("checksum", (v: unknown) => createHash("sha1").update(String(v ?? "")).digest("hex"));
  f("mandatory", (v: unknown, msg?: string) => {
    if (v === undefined) {
      throw new DroverError(msg ?? MANDATORY, {
        hint: "set it in the inventory, the play's vars or with -e name=value",
      });
    }
    return v;
  });
  f(
    "d",
    (
      v: unknown,
      d: unknown = "",
      bool = false,
    ) => (v === undefined || (bool && !truthy(v)) ? d : v),
  );
  f("basename", (v: string) => String(v).replace(/\/+$/, "").split("/").pop() ?? "");
  f("dirname", (v: string) => {
    const s = String(v);
    const i = s.lastIndexOf("/");
    return i <= 0 ? (i === 0 ? "/" : "") : s.slice(0, i);
  });
  f("quote", (v: unknown) => {
    const s = String(v ?? "");
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
  });
  f("unique", (v: unknown[]) => [...new Set(v)]);
  f("union", (a: unknown[], b: unknown[]) => [...new Set([...a, ...b])]);
  f("intersect", (a: unknown[], b: unknown[]) => a.filter((x) => b.includes(x)));
  f("difference", (a: unknown[], b: unknown[]) => a.filter((x) => !b.includes(x)));
  f("flatten", (a: unknown[]) => (a as unknown[]).flat(Infinity));
  f("combine", (...dicts: Record<string, unknown>[]) => {
    const a = dicts as unknown[];
    const k = kw(a);
    return k.recursive
      ? (a as Record<string, unknown>[]).reduce((x, y) => deepMerge(x, y), {})
      : Object.assign({}, ...(a as object[]));
  });
  f(
    "dict2items",
    (d: Record<string, unknown>) => Object.entries(d ?? {}).map(([key, value]) => ({ key, value })),
  );
  f(
    "items2dict",
    (l: { key: string; value: unknown }[]) => Object.fromEntries(l.map((i) => [i.key, i.value])),
  );
  f("map", (seq: unknown[], ...a: unknown[]) => {
    const k = kw(a);
    if (k.attribute !== undefined) return (seq ?? []).map((x) => getAttr(x, String(k.attribute)));
    const name = String(a[0]);
    const filter = env.getFilter(name) as (...x: unknown[]) => unknown;
    return (seq ?? []).map((x) => filter(x, ...a.slice(1)));
  });
  f("ternary", (v: unknown, t: unknown, fv: unknown) => (truthy(v) ? t : fv));
  f("split", (v: unknown, sep?: string) => String(v ?? "").split(sep ?? /\s+/));
  f(
    "type_debug",
    (
      v: unknown,
    ) => (Array.isArray(v)
      ? "list"
      : v === null
      ? "NoneType"
      : typeof v === "object"
      ? "dict"
      : typeof v === "string"
      ? "str"
      : typeof v === "number"
      ? (Number.isInteger(v) ? "int" : "float")
      : typeof v === "boolean"
      ? "bool"
      : typeof v),
  );
  f(
    "version_compare",
    (a: unknown, b: unknown, op = "eq") => compareVersions(String(a), String(b), String(op)),
  );

  const t = (name: string, fn: (...a: never[]) => boolean) =>
    env.addTest(name, fn as (...a: unknown[]) => boolean);
  t("none", (v: unknown) => v === null);
  t("boolean", (v: unknown) => typeof v === "boolean");
  t("sequence", (v: unknown) => Array.isArray(v) || typeof v === "string");
  t("failed", (r: Record<string, unknown>) => Boolean(r?.failed));
  t("success", (r: Record<string, unknown>) => !r?.failed);
  t("succeeded", (r: Record<string, unknown>) => !r?.failed);
  t("changed", (r: Record<string, unknown>) => Boolean(r?.changed));
  t("skipped", (r: Record<string, unknown>) => Boolean(r?.skipped));
  t("match", (v: unknown, p: string) => pyRegex(`^(?:${p})`).test(String(v)));
  t("search", (v: unknown, p: string) => pyRegex(p).test(String(v)));
  t(
    "version",
    (a: unknown, b: unknown, op = "eq") => compareVersions(String(a), String(b), String(op)),
  );
  t(
    "version_compare",
    (a: unknown, b: unknown, op = "eq") => compareVersions(String(a), String(b), String(op)),
  );
  t(
    "in",
    (
      v: unknown,
      seq: unknown,
    ) => (Array.isArray(seq) || typeof seq === "string" ? seq.includes(v as never) : false),
  );
  t(
    "contains",
    (
      seq: unknown,
      v: unknown,
    ) => (Array.isArray(seq) || typeof seq === "string" ? seq.includes(v as never) : false),
  );
  t("abs", (v: string) => String(v).startsWith("/"));
  t("subset", (a: unknown[], b: unknown[]) => a.every((x) => b.includes(x)));
  t("superset", (a: unknown[], b: unknown[]) => b.every((x) => a.includes(x)));

  // Jinja's select/reject/selectattr/rejectattr take a test and its
  // arguments; nunjucks' own versions ignore them.
  const passes = (v: unknown, test: unknown, args: unknown[]): boolean => {
    if (test === undefined) return truthy(v);
    const fn =
      (env as unknown as { getTest(n: string): ((...a: unknown[]) => unknown) | undefined })
        .getTest(String(test));
    if (typeof fn !== "function") throw new Error(`no test named '${String(test)}'`);
    return truthy(fn(v, ...args));
  };
  f(
    "select",
    (seq: unknown[], test?: unknown, ...args: unknown[]) =>
      (seq ?? []).filter((x) => passes(x, test, args)),
  );
  f(
    "reject",
    (seq: unknown[], test?: unknown, ...args: unknown[]) =>
      (seq ?? []).filter((x) => !passes(x, test, args)),
  );
  f(
    "selectattr",
    (seq: unknown[], attr: string, test?: unknown, ...args: unknown[]) =>
      (seq ?? []).filter((x) => passes(getAttr(x, String(attr)), test, args)),
  );
  f(
    "rejectattr",
    (seq: unknown[], attr: string, test?: unknown, ...args: unknown[]) =>
      (seq ?? []).filter((x) => !passes(getAttr(x, String(attr)), test, args)),
  );
}

function getAttr(x: unknown, path: string): unknown {
  let cur = x;
  for (const p of path.split(".")) {
    cur = cur && typeof cur === "object" ? (cur as Record<string, unknown>)[p] : undefined;
  }
  return cur;
}

function deepMerge(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b ?? {})) {
    const cur = out[k];
    out[k] = cur && v && typeof cur === "object" && typeof v === "object" && !Array.isArray(cur) &&
        !Array.isArray(v)
      ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

/** Compare two version strings numerically part by part (`1.10` > `1.9`). */
export function compareVersions(a: string, b: string, op: string): boolean {
  const pa = a.replace(/^v/, "").split(/[.\-+~]/);
  const pb = b.replace(/^v/, "").split(/[.\-+~]/);
  let c = 0;
  for (let i = 0; i < Math.max(pa.length, pb.length) && c === 0; i++) {
    const x = pa[i] ?? "0";
    const y = pb[i] ?? "0";
    const nx = Number(x);
    const ny = Number(y);
    c = !Number.isNaN(nx) && !Number.isNaN(ny) ? Math.sign(nx - ny) : x < y ? -1 : x > y ? 1 : 0;
  }
  switch (op) {
    case "lt":
    case "<":
      return c < 0;
    case "le":
    case "<=":
      return c <= 0;
    case "gt":
    case ">":
      return c > 0;
    case "ge":
    case ">=":
      return c >= 0;
    case "ne":
    case "!=":
    case "<>":
      return c !== 0;
    default:
      return c === 0;
  }
}

function optNum(v: unknown): number | undefined {
  return v === undefined || v === null ? undefined : Number(v);
}

/**
 * JSON as Python's `json.dumps` writes it for Ansible's to_json/to_nice_json:
 * `", "` and `": "` separators, non-ASCII escaped, keys sorted on request,
 * `indent` spaces per level with `","` at line ends. Pure.
 */
export function pyJson(v: unknown, o: { indent?: number; sortKeys?: boolean } = {}): string {
  const esc = (s: string) =>
    JSON.stringify(s).replace(
      /[\u0080-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
  const pad = (n: number) => " ".repeat((o.indent ?? 0) * n);
  const join = (parts: string[], open: string, close: string, level: number) => {
    if (parts.length === 0) return open + close;
    if (o.indent === undefined) return open + parts.join(", ") + close;
    return `${open}\n${pad(level + 1)}${parts.join(`,\n${pad(level + 1)}`)}\n${pad(level)}${close}`;
  };
  const go = (x: unknown, level: number): string => {
    if (x === null || x === undefined) return "null";
    if (typeof x === "string") return esc(x);
    if (typeof x === "number") {
      return Number.isFinite(x)
        ? String(x)
        : Number.isNaN(x)
        ? "NaN"
        : x > 0
        ? "Infinity"
        : "-Infinity";
    }
    if (typeof x === "boolean") return String(x);
    if (Array.isArray(x)) return join(x.map((i) => go(i, level + 1)), "[", "]", level);
    if (typeof x === "object") {
      const keys = Object.keys(x);
      if (o.sortKeys) keys.sort();
      const obj = x as Record<string, unknown>;
      return join(keys.map((k) => `${esc(k)}: ${go(obj[k], level + 1)}`), "{", "}", level);
    }
    return esc(String(x));
  };
  return go(v, 0);
}

/** Python's `fmt % args` for Jinja's format filter: %s %r %d %i %f %e %x %X %o %c %%, with flags, width and precision. Pure. */
export function pyFormat(fmt: string, args: readonly unknown[]): string {
  let i = 0;
  return fmt.replace(
    /%([-+ 0#]*)(\d+|\*)?(?:\.(\d+))?([sdifeExXorc%])/g,
    (_m, flags: string, width: string | undefined, prec: string | undefined, conv: string) => {
      if (conv === "%") return "%";
      const w = width === "*" ? Number(args[i++]) : width ? Number(width) : 0;
      const v = args[i++];
      const p = prec === undefined ? undefined : Number(prec);
      let out: string;
      const num = Number(v);
      const sign = (x: string) =>
        (num >= 0 && flags.includes("+") ? "+" : num >= 0 && flags.includes(" ") ? " " : "") + x;
      switch (conv) {
        case "s":
          out = typeof v === "string" ? v : pyStrLike(v);
          if (p !== undefined) out = out.slice(0, p);
          break;
        case "r":
          out = typeof v === "string" ? `'${v}'` : pyStrLike(v);
          break;
        case "d":
        case "i":
          out = sign(String(Math.trunc(num)));
          break;
        case "f":
          out = sign(num.toFixed(p ?? 6));
          break;
        case "e":
        case "E":
          out = sign(num.toExponential(p ?? 6).replace(/e([+-])(\d)$/, "e$10$2"));
          if (conv === "E") out = out.toUpperCase();
          break;
        case "x":
          out = (flags.includes("#") ? "0x" : "") + Math.trunc(num).toString(16);
          break;
        case "X":
          out = ((flags.includes("#") ? "0x" : "") + Math.trunc(num).toString(16)).toUpperCase();
          break;
        case "o":
          out = (flags.includes("#") ? "0o" : "") + Math.trunc(num).toString(8);
          break;
        default:
          out = typeof v === "number" ? String.fromCharCode(v) : String(v);
      }
      if (out.length < w) {
        if (flags.includes("-")) out = out.padEnd(w);
        else if (flags.includes("0") && "dieEfxXo".includes(conv)) {
          const neg = /^[-+ ]/.test(out) ? out[0] : "";
          out = neg + out.slice(neg.length).padStart(w - neg.length, "0");
        } else out = out.padStart(w);
      }
      return out;
    },
  );
}

function pyStrLike(v: unknown): string {
  if (v === true) return "True";
  if (v === false) return "False";
  if (v === null || v === undefined) return "None";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

/**
 * YAML as PyYAML's `yaml.dump` writes it for Ansible's to_yaml (`flow`: a
 * collection of scalars in flow style, `[a, 1]`) and to_nice_yaml (block
 * style, 4-space indent): keys sorted, sequences not indented under their
 * key, single quotes, YAML 1.1 words like `yes` quoted. Pure.
 */
export function pyYaml(v: unknown, o: { flow?: boolean; indent?: number } = {}): string {
  const ind = o.indent ?? 2;
  const scalar = (x: unknown): string =>
    new Document(x, { version: "1.1" }).toString({ singleQuote: true, lineWidth: 0 })
      .replace(/\n$/, "");
  const isColl = (x: unknown): x is object => typeof x === "object" && x !== null;
  const entries = (x: object): [unknown, unknown][] =>
    Array.isArray(x)
      ? x.map((i) => [undefined, i])
      : Object.entries(x).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
  const flow = (x: unknown): string => {
    if (!isColl(x)) return scalar(x);
    const es = entries(x);
    return Array.isArray(x)
      ? `[${es.map(([, i]) => flow(i)).join(", ")}]`
      : `{${es.map(([k, i]) => `${scalar(k)}: ${flow(i)}`).join(", ")}}`;
  };
  const leaf = (x: object) => entries(x).every(([, i]) => !isColl(i));
  // Lines of `x` as a block node; the caller puts the first line after its key or dash.
  const block = (x: unknown, col: number): string[] => {
    if (!isColl(x) || entries(x).length === 0 || (o.flow && leaf(x))) return [flow(x)];
    const pad = " ".repeat(col);
    const out: string[] = [];
    if (Array.isArray(x)) {
      for (const [, i] of entries(x)) {
        const lines = block(i, col + ind);
        const inline = isColl(i) && entries(i).length > 0 && !(o.flow && leaf(i));
        out.push(`${pad}-${inline ? " ".repeat(ind - 1) : " "}${lines[0].trimStart()}`);
        out.push(...lines.slice(1));
      }
    } else {
      for (const [k, i] of entries(x)) {
        const nested = isColl(i) && entries(i).length > 0 && !(o.flow && leaf(i));
        if (!nested) out.push(`${pad}${scalar(k)}: ${flow(i)}`);
        else {
          out.push(`${pad}${scalar(k)}:`);
          out.push(...block(i, Array.isArray(i) ? col : col + ind));
        }
      }
    }
    return out;
  };
  return block(v, 0).join("\n") + "\n";
}
