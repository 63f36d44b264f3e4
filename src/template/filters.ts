/**
 * @module
 * Ansible's everyday Jinja filters and tests, added to a nunjucks environment.
 */
import type nunjucks from "nunjucks";
import { DroverError } from "../core/errors.ts";
import { stringify as yamlStringify } from "yaml";

type Env = nunjucks.Environment;

/** The message of `mandatory` without a message of its own; the templar names the variable. */
export const MANDATORY = "a mandatory variable is not defined";

/** Ansible's notion of a boolean from a string/number/bool. */
export function toBool(v: unknown): boolean {
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v === 1;
  if (typeof v === "string") {
    return ["yes", "on", "1", "true", "y", "t"].includes(v.trim().toLowerCase());
  }
  return false;
}

/** Python/Jinja truthiness. */
export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === "object") return Object.keys(v).length > 0;
  return Boolean(v);
}

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
  f("to_json", (v: unknown) => JSON.stringify(v));
  f("to_nice_json", (v: unknown, ...a: unknown[]) => {
    const k = kw(a);
    return JSON.stringify(v, null, Number(k.indent ?? 4));
  });
  f("from_json", (v: string) => JSON.parse(v));
  f("to_yaml", (v: unknown) => yamlStringify(v));
  f("to_nice_yaml", (v: unknown) => yamlStringify(v, { indent: 2 }));
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
