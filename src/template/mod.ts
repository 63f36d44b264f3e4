/**
 * @module
 * Jinja-style templating with nunjucks: `{{ expr }}` in strings, bare
 * expressions in `when`, lazy variables (a variable may itself be a
 * template), native values for whole-expression strings, and undefined
 * variables reported by name.
 */
import nunjucks from "nunjucks";
import { didYouMean, DroverError } from "../core/errors.ts";
import { addFilters, MANDATORY, truthy } from "./filters.ts";
import { isTemplate, pyStr } from "./text.ts";

export { toBool, truthy } from "./filters.ts";
export { isTemplate, pyRepr, pyStr } from "./text.ts";

/** A variable scope: plain data, later layers already merged over earlier ones. */
export type Vars = Record<string, unknown>;

const LAZY = Symbol("drover.lazyVars");
type Fn = (...a: unknown[]) => unknown;
const CAPTURE = "__drover_capture__";

// nunjucks copies the context object it is given (lib.extend({}, ctx)),
// which would resolve every lazy variable up front. Hand lazy scopes through.
const lib = (nunjucks as unknown as { lib: { extend: (a: object, b: object) => object } }).lib;
const originalExtend = lib.extend;
(nunjucks as unknown as { installJinjaCompat: () => void }).installJinjaCompat();
lib.extend = (a: object, b: object) =>
  b && (b as Record<symbol, unknown>)[LAZY] && Object.keys(a).length === 0
    ? b
    : originalExtend(a, b);

// nunjucks compiles `x is test(a, b)` with its arguments run together
// (`"a""b"`, a JavaScript syntax error); Ansible's `is version('1.9', '>=')`
// needs two. Emit them comma-separated, as for any call.
interface CompilerProto {
  compileIs(node: IsNode, frame: unknown): void;
  compileAdd(node: { left: unknown; right: unknown }, frame: unknown): void;
  compileMul(node: { left: unknown; right: unknown }, frame: unknown): void;
  _emit(s: string): void;
  compile(node: unknown, frame: unknown): void;
  _compileAggregate(node: unknown, frame: unknown, start: string, end: string): void;
}
interface IsNode {
  left: unknown;
  right: { name?: { value: string }; value?: string; args?: unknown };
}
const compilerProto = (nunjucks as unknown as {
  compiler: { Compiler: { prototype: CompilerProto } };
}).compiler.Compiler.prototype;
compilerProto.compileIs = function (this: CompilerProto, node: IsNode, frame: unknown) {
  const right = node.right.name ? node.right.name.value : node.right.value;
  this._emit(`env.getTest(${JSON.stringify(right)}).call(context, `);
  this.compile(node.left, frame);
  if (node.right.args) this._compileAggregate(node.right.args, frame, ",", "");
  this._emit(") === true");
};

// Jinja indexes lists and strings from the end with a negative number
// (`path.split('/')[-1]`); nunjucks looks up the property "-1". Teach it.
const runtime = (nunjucks as unknown as {
  runtime: {
    memberLookup: (obj: unknown, key: unknown) => unknown;
    suppressValue: (val: unknown, autoescape: boolean) => unknown;
    ensureDefined: (val: unknown, lineno: number, colno: number) => unknown;
    pyAdd: (a: unknown, b: unknown) => unknown;
    pyMul: (a: unknown, b: unknown) => unknown;
  };
}).runtime;

// Python's + joins lists and * repeats strings and lists; JavaScript's would
// make "1,23" of [1, 2] + [3]. Compile both to runtime helpers.
runtime.pyAdd = (a, b) =>
  Array.isArray(a) && Array.isArray(b) ? [...a, ...b] : (a as number) + (b as number);
runtime.pyMul = (a, b) => {
  const rep = (x: unknown, n: unknown) =>
    typeof x === "string"
      ? x.repeat(Math.max(0, Number(n)))
      : Array.isArray(x)
      ? Array.from({ length: Math.max(0, Number(n)) }, () => x).flat(1)
      : undefined;
  return rep(a, b) ?? rep(b, a) ?? (a as number) * (b as number);
};
for (const [op, fn] of [["compileAdd", "pyAdd"], ["compileMul", "pyMul"]] as const) {
  compilerProto[op] = function (this: CompilerProto, node, frame) {
    this._emit(`runtime.${fn}(`);
    this.compile(node.left, frame);
    this._emit(", ");
    this.compile(node.right, frame);
    this._emit(")");
  };
}
const memberLookup = runtime.memberLookup;
runtime.memberLookup = (obj: unknown, key: unknown) => {
  if (
    typeof key === "number" && Number.isInteger(key) && key < 0 &&
    (Array.isArray(obj) || typeof obj === "string")
  ) {
    return obj[obj.length + key];
  }
  return memberLookup(obj, key);
};

// Inside text, Jinja prints values as Python's str() does, and Ansible prints
// None as nothing: `{{ flag }}` is "True", a list "['a', 1]", a dict
// "{'k': 'v'}". nunjucks would print "true", "a,1" and "[object Object]".
const suppressValue = runtime.suppressValue;
runtime.suppressValue = (val: unknown, autoescape: boolean) =>
  suppressValue(
    typeof val === "string" || val === null || val === undefined ? val : pyStr(val),
    autoescape,
  );
const ensureDefined = runtime.ensureDefined;
runtime.ensureDefined = (val: unknown, lineno: number, colno: number) =>
  val === null ? val : ensureDefined(val, lineno, colno);

/** Escapes that Jinja and nunjucks string literals both understand. */
const KNOWN_ESCAPES = "ntr\\'\"";

/**
 * Put a space between the closing braces of a dict literal inside `{{ }}`
 * (`{{ d | combine({'a': {'b': 1}}) }}`), which nunjucks would otherwise take
 * for the end of the expression. Jinja's lexer balances them. Also keeps
 * unknown backslash escapes in string literals, as Jinja does.
 */
export function separateBraces(src: string): string {
  if (!src.includes("{{")) return src;
  let out = "";
  let depth = 0; // dict-literal braces open inside the current {{ }}
  let inExpr = false;
  let quote = "";
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (!inExpr) {
      if (c === "{" && src[i + 1] === "{") {
        inExpr = true;
        depth = 0;
        out += "{{";
        i++;
        continue;
      }
      out += c;
      continue;
    }
    if (quote) {
      if (c === "\\") {
        const next = src[i + 1] ?? "";
        // Jinja keeps an unknown escape such as `\S` or `\d` as written
        // (regexes rely on it); nunjucks would drop the backslash.
        out += KNOWN_ESCAPES.includes(next) ? c + next : "\\\\" + next;
        i++;
        continue;
      }
      if (c === quote) quote = "";
      out += c;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === "{") depth++;
    else if (c === "}") {
      if (depth === 0 && src[i + 1] === "}") {
        inExpr = false;
        out += "}}";
        i++;
        continue;
      }
      if (depth > 0) depth--;
      out += c;
      if (src[i + 1] === "}") out += " ";
      continue;
    }
    out += c;
  }
  return out;
}

const WHOLE = /^\s*\{\{((?:(?!\}\}|\{\{)[\s\S])*)\}\}\s*$/;

/** Renders templates against variable scopes. One per run. */
export class Templar {
  readonly #env: nunjucks.Environment;
  readonly #cache = new Map<string, nunjucks.Template>();
  #captured: unknown;
  #inner?: DroverError;

  constructor() {
    this.#env = new nunjucks.Environment(null, {
      autoescape: false,
      throwOnUndefined: true,
      trimBlocks: true,
    });
    addFilters(this.#env);
    // nunjucks wraps what a filter throws into a plain Error; keep drover's own
    // errors (with their hints) so the user sees them as they were thrown.
    const filters = (this.#env as unknown as { filters: Record<string, Fn> }).filters;
    const remember = (e: unknown) => {
      if (e instanceof DroverError) this.#inner = e;
      return e;
    };
    for (const [name, fn] of Object.entries(filters)) {
      filters[name] = function (this: unknown, ...a: unknown[]) {
        try {
          return fn.apply(this, a);
        } catch (e) {
          throw remember(e);
        }
      };
    }
    this.#env.addGlobal(CAPTURE, (v: unknown) => {
      this.#captured = v;
      return "";
    });
    this.#env.addGlobal("lookup", (kind: string, arg: string, key?: string) => {
      try {
        if (kind === "env") return Deno.env.get(arg) ?? "";
        if (kind === "file") return Deno.readTextFileSync(expandHome(arg)).replace(/\n$/, "");
        if (kind === "envfile") return readEnvFile(expandHome(arg), key ?? "");
      } catch (e) {
        if (e instanceof DroverError) throw remember(e);
        throw remember(
          new DroverError(
            `lookup('${kind}', '${arg}'): ${
              e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message
            }`,
            { hint: "a relative path is relative to the directory drover runs in" },
          ),
        );
      }
      throw remember(
        new DroverError(`lookup('${kind}') is not supported`, {
          expected: "lookup('env', NAME), lookup('file', PATH) or lookup('envfile', PATH, NAME)",
        }),
      );
    });
    this.#env.addGlobal("range", (a: number, b?: number, step = 1) => {
      const [start, end] = b === undefined ? [0, a] : [a, b];
      const out: number[] = [];
      for (let i = start; step > 0 ? i < end : i > end; i += step) out.push(i);
      return out;
    });
  }

  /** Render every string inside `value` (objects and arrays deeply). */
  render(value: unknown, vars: Vars): unknown {
    return this.#render(value, this.scope(vars), 0);
  }

  /** Render a string; a string that is one whole `{{ expr }}` keeps its native type. */
  renderString(s: string, vars: Vars): unknown {
    return this.#renderString(s, this.scope(vars), 0);
  }

  /** Evaluate a bare Jinja expression (as in `when:`) to its value. */
  evaluate(expr: string, vars: Vars): unknown {
    return this.#evaluate(expr, this.scope(vars), 0);
  }

  /** Evaluate a condition (a bare expression, a boolean, or a list of them, all must hold). */
  isTrue(cond: unknown, vars: Vars): boolean {
    if (cond === undefined || cond === null) return true;
    if (typeof cond === "boolean") return cond;
    if (Array.isArray(cond)) return cond.every((c) => this.isTrue(c, vars));
    const s = String(cond);
    const m = WHOLE.exec(separateBraces(s));
    return truthy(this.evaluate(m ? m[1] : s, vars));
  }

  /** A lazy view of `vars` in which variable values are themselves rendered on access. */
  scope(vars: Vars): Vars {
    if ((vars as Record<symbol, unknown>)[LAZY]) return vars;
    return this.#lazy(vars, 0, new Set());
  }

  #lazy(vars: Vars, depth: number, resolving: Set<string>): Vars {
    const cache = new Map<string, unknown>();
    const resolve = (raw: unknown) =>
      this.#render(raw, this.#lazy(vars, depth + 1, resolving), depth + 1);
    const remember = (e: DroverError, key: string) => {
      this.#inner = new DroverError(`in variable '${key}': ${e.message}`, { hint: e.hint });
      return this.#inner;
    };
    // Thrown inside nunjucks, which would wrap it: keep it to report as it is.
    const selfReference = (key: string) => {
      this.#inner = new DroverError(`variable '${key}' refers to itself`, {
        hint: "break the loop in its definition",
      });
      return this.#inner;
    };
    const proxy: Vars = new Proxy(vars, {
      get(target, key) {
        if (key === LAZY) return true;
        if (typeof key !== "string") return undefined;
        // Ansible's `vars[name]`: indirect access to any variable.
        if (key === "vars" && !Object.hasOwn(target, key)) return proxy;
        if (!Object.hasOwn(target, key)) return undefined;
        if (cache.has(key)) return cache.get(key);
        const raw = target[key];
        if (!containsTemplate(raw)) return raw;
        if (resolving.has(key) || depth > 20) throw selfReference(key);
        resolving.add(key);
        try {
          const v = resolve(raw);
          cache.set(key, v);
          return v;
        } catch (e) {
          if (e instanceof DroverError) throw remember(e, key);
          throw e;
        } finally {
          resolving.delete(key);
        }
      },
      has(target, key) {
        return key === LAZY || key === "vars" ||
          (typeof key === "string" && Object.hasOwn(target, key));
      },
    });
    return proxy;
  }

  #render(value: unknown, scope: Vars, depth: number): unknown {
    if (typeof value === "string") {
      return isTemplate(value) ? this.#renderString(value, scope, depth) : value;
    }
    if (Array.isArray(value)) return value.map((v) => this.#render(v, scope, depth));
    if (value && typeof value === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.#render(v, scope, depth);
      return out;
    }
    return value;
  }

  #renderString(s: string, scope: Vars, depth: number): unknown {
    const m = WHOLE.exec(separateBraces(s));
    // Jinja drops one newline at the end of the source (keep_trailing_newline
    // off); Ansible adds back to a text result as many as the source ended with.
    const newlines = (t: string) => t.length - t.replace(/\n+$/, "").length;
    const pad = (out: unknown) =>
      typeof out === "string" && newlines(s) > newlines(out)
        ? out + "\n".repeat(newlines(s) - newlines(out))
        : out;
    if (m) return pad(this.#evaluate(m[1], scope, depth));
    try {
      return pad(this.#template(s.endsWith("\n") ? s.slice(0, -1) : s).render(scope));
    } catch (e) {
      throw this.#error(e, s, scope);
    }
  }

  #evaluate(expr: string, scope: Vars, _depth: number): unknown {
    const src = `{{ ${CAPTURE}(${expr}) }}`;
    this.#captured = undefined;
    try {
      this.#template(src).render(scope);
    } catch (e) {
      throw this.#error(e, expr, scope);
    }
    const v = this.#captured;
    if (v === undefined) {
      const name = firstName(expr, scope);
      throw new DroverError(`'${name ?? expr.trim()}' is undefined (in '${expr.trim()}')`, {
        hint:
          "define it in the inventory, the play's vars, or with -e name=value; or use '| default(...)'",
      });
    }
    return v;
  }

  #template(src: string): nunjucks.Template {
    let t = this.#cache.get(src);
    if (!t) {
      // trim_blocks also takes the newline after a comment in Jinja, not in nunjucks.
      const jinja = separateBraces(src).replace(/(\{#[\s\S]*?#\})\n/g, "$1");
      t = new nunjucks.Template(jinja, this.#env, undefined, true);
      this.#cache.set(src, t);
    }
    return t;
  }

  #error(e: unknown, src: string, scope: Vars): DroverError {
    if (e instanceof DroverError) return e;
    if (this.#inner) {
      const inner = this.#inner;
      this.#inner = undefined;
      if (inner.message === MANDATORY) {
        const name = firstName(src, scope);
        return new DroverError(
          `'${name ?? "a variable"}' is mandatory but undefined (in '${src.trim()}')`,
          { hint: inner.hint },
        );
      }
      return inner;
    }
    const msg = e instanceof Error ? e.message : String(e);
    if (/undefined value|undefined or null/.test(msg)) {
      const name = firstName(src, scope);
      return new DroverError(`'${name ?? "a variable"}' is undefined (in '${src.trim()}')`, {
        hint:
          "define it in the inventory, the play's vars, or with -e name=value; or use '| default(...)'",
      });
    }
    const unknownFilter = /filter not found: (\w+)/.exec(msg)?.[1];
    if (unknownFilter) {
      const names = Object.keys((this.#env as unknown as { filters: object }).filters);
      const guess = didYouMean(unknownFilter, names);
      return new DroverError(`unknown filter '${unknownFilter}' in '${src.trim()}'`, {
        expected: "one of Ansible's everyday filters (default, bool, int, join, to_json, ...)",
        hint: guess
          ? `did you mean '${guess}'?`
          : "the filters drover has are in src/template/filters.ts",
      });
    }
    const detail = msg.replace(/^\(unknown path\)\s*(\[Line \d+, Column \d+\])?\s*/, "").replace(
      /\s+/g,
      " ",
    ).trim();
    return new DroverError(`template error in '${src.trim()}': ${detail}`, {
      expected: "a valid Jinja expression",
    });
  }
}

const KEYWORDS = new Set([
  "and",
  "or",
  "not",
  "in",
  "is",
  "if",
  "else",
  "true",
  "false",
  "none",
  "True",
  "False",
  "None",
  "defined",
  "undefined",
  "null",
  CAPTURE,
  "loop",
  "range",
  "lookup",
]);

function firstName(src: string, scope: Vars): string | undefined {
  // The first identifier (not after a dot, a pipe or 'is') that the scope lacks.
  const inner = isTemplate(src)
    ? [...src.matchAll(/\{\{([\s\S]*?)\}\}|\{%([\s\S]*?)%\}/g)].map((m) => m[1] ?? m[2]).join(" ; ")
    : src;
  const cleaned = inner.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, "''");
  const re = /(^|[^.\w|])\s*([A-Za-z_]\w*)/g;
  for (const m of cleaned.matchAll(re)) {
    const name = m[2];
    const before = cleaned.slice(0, m.index! + m[1].length).trimEnd();
    if (before.endsWith("|") || /\bis(\s+not)?$/.test(before)) continue;
    if (KEYWORDS.has(name)) continue;
    if (!(name in scope)) return name;
  }
  // A dotted attribute that is missing: report the full path.
  const dotted = cleaned.match(/[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+/g) ?? [];
  for (const path of dotted) {
    const parts = path.split(".");
    let cur: unknown = scope;
    for (const p of parts) {
      if (cur === undefined || cur === null || typeof cur !== "object" || !(p in (cur as object))) {
        return path;
      }
      cur = (cur as Record<string, unknown>)[p];
    }
  }
  return undefined;
}

function containsTemplate(v: unknown): boolean {
  if (typeof v === "string") return isTemplate(v);
  if (Array.isArray(v)) return v.some(containsTemplate);
  if (v && typeof v === "object") return Object.values(v).some(containsTemplate);
  return false;
}

function expandHome(p: string): string {
  return p.startsWith("~/") ? `${Deno.env.get("HOME") ?? ""}${p.slice(1)}` : p;
}

/** The value of `NAME=` in a dotenv-style file on the control node; "" if absent. */
export function readEnvFile(path: string, name: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return "";
  }
  for (const line of text.split("\n")) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m && m[1] === name) return m[2].replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1");
  }
  return "";
}
