#!/usr/bin/python3
# STAND-IN for Grafana Alloy built by the drover test lab.
#
# This is NOT Grafana Alloy. It is a small python3 program installed as
# /usr/bin/alloy by the lab's stand-in `alloy` package, so that drover's
# playbooks can be exercised without reaching Grafana's apt repository.
# It imitates the parts of the real CLI the migration relies on:
#   alloy --version | -v
#   alloy fmt [-t|--test] [-w|--write] FILE
#   alloy validate FILE            (only when VERSION >= 1.9.0, like the real one)
#   alloy run [flags] CONFIG       (HTTP /-/ready, /metrics, /-/reload; OTLP listeners)
# It NEVER makes outbound connections: remote_write / loki.write / otelcol
# exporters only log what they would send; prometheus.scrape only scrapes
# loopback targets. See test/lab/standins/README.md for what is faked.
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "@VERSION@"  # replaced by build.sh, e.g. 1.13.0
if VERSION.startswith("@"):
    VERSION = "1.13.0"  # running from the source tree


def version_tuple(v):
    out = []
    for part in re.split(r"[.\-+]", v):
        if part.isdigit():
            out.append(int(part))
        else:
            break
    return tuple(out)


HAS_VALIDATE = version_tuple(VERSION) >= (1, 9, 0)  # `alloy validate` exists since v1.9.0


# --------------------------------------------------------------------------
# Lexer
# --------------------------------------------------------------------------
class SyntaxErr(Exception):
    def __init__(self, line, col, msg):
        Exception.__init__(self, msg)
        self.line, self.col, self.msg = line, col, msg


class Tok(object):
    __slots__ = ("kind", "val", "line", "col", "nl", "end_line", "raw")

    def __init__(self, kind, val, line, col, nl, end_line, raw):
        self.kind, self.val, self.line, self.col = kind, val, line, col
        self.nl, self.end_line, self.raw = nl, end_line, raw

    def desc(self):
        if self.kind == "EOF":
            return "EOF"
        if self.kind == "STRING":
            return "string " + self.raw
        if self.kind == "IDENT":
            return "identifier " + self.val
        return self.raw


PUNCT2 = ("==", "!=", "<=", ">=", "&&", "||")
PUNCT1 = "=<>+-*/%^!.,()[]{}:"
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", "f": "\f",
           "v": "\v", "\\": "\\", '"': '"'}


def lex(src, keep_comments=False):
    toks = []
    i, n, line, col = 0, len(src), 1, 1
    nl = True  # newline seen since previous token

    def adv(k):
        nonlocal i, line, col
        for _ in range(k):
            if src[i] == "\n":
                line += 1
                col = 1
            else:
                col += 1
            i += 1

    while True:
        # whitespace
        while i < n and src[i] in " \t\r\n":
            if src[i] == "\n":
                nl = True
            adv(1)
        if i >= n:
            toks.append(Tok("EOF", None, line, col, True, line, ""))
            return toks
        c = src[i]
        sl, sc, start = line, col, i
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            if keep_comments:
                toks.append(Tok("COMMENT", src[i:j], sl, sc, nl, sl, src[i:j]))
            adv(j - i)
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            if j < 0:
                raise SyntaxErr(sl, sc, "comment not terminated")
            text = src[i:j + 2]
            adv(j + 2 - i)
            if keep_comments:
                toks.append(Tok("COMMENT", text, sl, sc, nl, line, text))
            if "\n" in text:
                nl = True
            continue
        if c == "#":
            raise SyntaxErr(sl, sc, "illegal character U+0023 '#' (comments start with //)")
        if c.isalpha() or c == "_":
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            word = src[i:j]
            adv(j - i)
            toks.append(Tok("IDENT", word, sl, sc, nl, sl, word))
        elif c.isdigit():
            m = re.compile(r"0[xX][0-9a-fA-F_]+|[0-9][0-9_]*(\.[0-9_]*)?([eE][+-]?[0-9]+)?").match(src, i)
            text = m.group(0)
            adv(len(text))
            if i < n and (src[i].isalpha() or src[i] == "_"):
                raise SyntaxErr(line, col, "illegal character in number literal %r" % src[i])
            t = text.replace("_", "")
            try:
                val = int(t, 0) if (t.isdigit() or t.lower().startswith("0x")) else float(t)
            except ValueError:
                raise SyntaxErr(sl, sc, "malformed number literal %r" % text)
            toks.append(Tok("NUMBER", val, sl, sc, nl, sl, text))
        elif c == '"':
            j = i + 1
            out = []
            while True:
                if j >= n or src[j] == "\n":
                    raise SyntaxErr(sl, sc, "string literal not terminated")
                ch = src[j]
                if ch == '"':
                    j += 1
                    break
                if ch == "\\":
                    if j + 1 >= n:
                        raise SyntaxErr(sl, sc, "string literal not terminated")
                    e = src[j + 1]
                    if e in ESCAPES:
                        out.append(ESCAPES[e])
                        j += 2
                    elif e in "xuU":
                        width = {"x": 2, "u": 4, "U": 8}[e]
                        hexd = src[j + 2:j + 2 + width]
                        if len(hexd) != width or not re.match(r"^[0-9a-fA-F]+$", hexd):
                            raise SyntaxErr(sl, sc + (j - i), "invalid escape sequence in string literal")
                        out.append(chr(int(hexd, 16)))
                        j += 2 + width
                    elif e in "01234567":
                        octd = src[j + 1:j + 4]
                        if not re.match(r"^[0-7]{3}$", octd):
                            raise SyntaxErr(sl, sc + (j - i), "invalid escape sequence in string literal")
                        out.append(chr(int(octd, 8)))
                        j += 4
                    else:
                        raise SyntaxErr(sl, sc + (j - i), "unknown escape sequence \\%s in string literal" % e)
                    continue
                out.append(ch)
                j += 1
            raw = src[i:j]
            adv(j - i)
            toks.append(Tok("STRING", "".join(out), sl, sc, nl, sl, raw))
        elif c == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise SyntaxErr(sl, sc, "raw string literal not terminated")
            raw = src[i:j + 1]
            adv(j + 1 - i)
            toks.append(Tok("STRING", raw[1:-1], sl, sc, nl, line, raw))
        else:
            p = src[i:i + 2]
            if p in PUNCT2:
                adv(2)
                toks.append(Tok("PUNCT", p, sl, sc, nl, sl, p))
            elif c in PUNCT1:
                adv(1)
                toks.append(Tok("PUNCT", c, sl, sc, nl, sl, c))
            else:
                raise SyntaxErr(sl, sc, "illegal character U+%04X %r" % (ord(c), c))
        nl = False


# --------------------------------------------------------------------------
# Parser (Alloy configuration syntax: blocks, attributes, expressions)
# --------------------------------------------------------------------------
class Block(object):
    def __init__(self, name, label, body, line, col):
        self.name, self.label, self.body, self.line, self.col = name, label, body, line, col

    def blocks(self, name=None):
        return [s for s in self.body if isinstance(s, Block) and (name is None or s.name == name)]

    def attr(self, name):
        for s in self.body:
            if isinstance(s, Attr) and s.name == name:
                return s
        return None

    @property
    def component_id(self):
        return self.name + ("." + self.label if self.label is not None else "")


class Attr(object):
    def __init__(self, name, expr, line, col):
        self.name, self.expr, self.line, self.col = name, expr, line, col


CLOSER = {"{": "}", "[": "]", "(": ")"}
BINOPS = [("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%")]


class Parser(object):
    def __init__(self, src):
        self.toks = lex(src)
        self.p = 0

    def peek(self, k=0):
        return self.toks[min(self.p + k, len(self.toks) - 1)]

    def next(self):
        t = self.toks[self.p]
        if t.kind != "EOF":
            self.p += 1
        return t

    def is_p(self, v, k=0):
        t = self.peek(k)
        return t.kind == "PUNCT" and t.val == v

    def expect_p(self, v, opened=None):
        t = self.peek()
        if not (t.kind == "PUNCT" and t.val == v):
            extra = ""
            if opened is not None:
                extra = " (to close %s opened at %d:%d)" % (opened.val, opened.line, opened.col)
            raise SyntaxErr(t.line, t.col, "expected %s, got %s%s" % (v, t.desc(), extra))
        return self.next()

    def parse_file(self):
        body = self.parse_body(None)
        t = self.peek()
        if t.kind != "EOF":
            raise SyntaxErr(t.line, t.col, "unexpected %s, expected attribute or block" % t.desc())
        return body

    def parse_body(self, opened):
        body = []
        while True:
            t = self.peek()
            if t.kind == "EOF":
                if opened is not None:
                    raise SyntaxErr(t.line, t.col, "expected }, got EOF (to close { opened at %d:%d)"
                                    % (opened.line, opened.col))
                return body
            if t.kind == "PUNCT" and t.val == "}":
                if opened is None:
                    raise SyntaxErr(t.line, t.col, "unexpected }, no block to close")
                return body
            if body and not t.nl:
                raise SyntaxErr(t.line, t.col, "expected newline after statement, got %s" % t.desc())
            body.append(self.parse_stmt())

    def parse_stmt(self):
        t = self.next()
        if t.kind != "IDENT":
            raise SyntaxErr(t.line, t.col, "expected attribute or block, got %s" % t.desc())
        if self.is_p("="):
            self.next()
            expr = self.parse_expr()
            return Attr(t.val, expr, t.line, t.col)
        name = t.val
        while self.is_p("."):
            self.next()
            n2 = self.next()
            if n2.kind != "IDENT":
                raise SyntaxErr(n2.line, n2.col, "expected identifier in block name, got %s" % n2.desc())
            name += "." + n2.val
        label = None
        if self.peek().kind == "STRING":
            lt = self.next()
            label = lt.val
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", label):
                raise SyntaxErr(lt.line, lt.col, "expected block label to be a valid identifier, got %s" % lt.raw)
        ob = self.peek()
        if not (ob.kind == "PUNCT" and ob.val == "{"):
            raise SyntaxErr(ob.line, ob.col, "expected { or = after %s, got %s" % (name, ob.desc()))
        self.next()
        body = self.parse_body(ob)
        self.expect_p("}", ob)
        return Block(name, label, body, t.line, t.col)

    # expressions
    def parse_expr(self, level=0):
        if level == len(BINOPS):
            return self.parse_pow()
        left = self.parse_expr(level + 1)
        while self.peek().kind == "PUNCT" and self.peek().val in BINOPS[level]:
            op = self.next().val
            right = self.parse_expr(level + 1)
            left = ("binop", op, left, right)
        return left

    def parse_pow(self):
        left = self.parse_unary()
        if self.is_p("^"):
            self.next()
            return ("binop", "^", left, self.parse_pow())
        return left

    def parse_unary(self):
        if self.peek().kind == "PUNCT" and self.peek().val in ("!", "-"):
            op = self.next().val
            return ("unop", op, self.parse_unary())
        return self.parse_postfix()

    def parse_postfix(self):
        e = self.parse_primary()
        while True:
            if self.is_p("."):
                self.next()
                t = self.next()
                if t.kind != "IDENT":
                    raise SyntaxErr(t.line, t.col, "expected identifier after ., got %s" % t.desc())
                e = ("access", e, t.val)
            elif self.is_p("["):
                ob = self.next()
                idx = self.parse_expr()
                self.expect_p("]", ob)
                e = ("index", e, idx)
            elif self.is_p("("):
                ob = self.next()
                args = self.parse_list(")", ob, self.parse_expr)
                e = ("call", e, args)
            else:
                return e

    def parse_list(self, close, ob, item):
        items = []
        while True:
            if self.is_p(close):
                self.next()
                return items
            t = self.peek()
            if t.kind == "EOF":
                raise SyntaxErr(t.line, t.col, "expected %s, got EOF (to close %s opened at %d:%d)"
                                % (close, ob.val, ob.line, ob.col))
            items.append(item())
            if self.is_p(","):
                self.next()
                continue
            t = self.peek()
            if not (t.kind == "PUNCT" and t.val == close):
                if t.kind == "EOF":
                    raise SyntaxErr(t.line, t.col, "expected %s, got EOF (to close %s opened at %d:%d)"
                                    % (close, ob.val, ob.line, ob.col))
                raise SyntaxErr(t.line, t.col, "expected , or %s, got %s" % (close, t.desc()))

    def parse_obj_field(self):
        t = self.next()
        if t.kind not in ("IDENT", "STRING"):
            raise SyntaxErr(t.line, t.col, "expected field name, got %s" % t.desc())
        eq = self.peek()
        if not (eq.kind == "PUNCT" and eq.val == "="):
            raise SyntaxErr(eq.line, eq.col, "expected = after field name, got %s" % eq.desc())
        self.next()
        return (t.val, self.parse_expr())

    def parse_primary(self):
        t = self.next()
        if t.kind in ("NUMBER", "STRING"):
            return ("lit", t.val)
        if t.kind == "IDENT":
            if t.val == "true":
                return ("lit", True)
            if t.val == "false":
                return ("lit", False)
            if t.val == "null":
                return ("lit", None)
            return ("ident", t.val)
        if t.kind == "PUNCT":
            if t.val == "[":
                return ("array", self.parse_list("]", t, self.parse_expr))
            if t.val == "{":
                return ("object", self.parse_list("}", t, self.parse_obj_field))
            if t.val == "(":
                e = self.parse_expr()
                self.expect_p(")", t)
                return e
        raise SyntaxErr(t.line, t.col, "expected expression, got %s" % t.desc())


def parse_source(src):
    return Parser(src).parse_file()


# --------------------------------------------------------------------------
# Minimal evaluation (enough for endpoints, targets, urls)
# --------------------------------------------------------------------------
class Unknown(object):
    """A value the stand-in cannot compute (component exports, ...)."""

    def __init__(self, what):
        self.what = what

    def __repr__(self):
        return "<%s>" % self.what


def dotted(e):
    if e[0] == "ident":
        return e[1]
    if e[0] == "access":
        base = dotted(e[1])
        return None if base is None else base + "." + e[2]
    return None


def evaluate(e):
    k = e[0]
    if k == "lit":
        return e[1]
    if k == "array":
        return [evaluate(x) for x in e[1]]
    if k == "object":
        return dict((key, evaluate(v)) for key, v in e[1])
    if k == "call":
        fname = dotted(e[1])
        args = [evaluate(a) for a in e[2]]
        if fname in ("sys.env", "env") and len(args) == 1 and isinstance(args[0], str):
            return os.environ.get(args[0], "")  # a missing variable yields "" like the real one
        if fname in ("concat", "array.concat"):
            out = []
            for a in args:  # unknown parts (component exports) are left out
                if isinstance(a, list):
                    out.extend(a)
            return out
        if fname in ("string.format", "format") and args and isinstance(args[0], str):
            try:
                return args[0] % tuple(args[1:])
            except Exception:
                return Unknown("string.format")
        if fname == "constants.hostname":
            return socket.gethostname()
        return Unknown("call %s" % fname)
    if k in ("ident", "access"):
        name = dotted(e)
        if name == "constants.hostname":
            return socket.gethostname()
        return Unknown(name or "expression")
    if k == "binop":
        a, b = evaluate(e[2]), evaluate(e[3])
        if isinstance(a, Unknown) or isinstance(b, Unknown):
            return Unknown("binop")
        try:
            return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                    "/": lambda: a / b, "%": lambda: a % b, "^": lambda: a ** b,
                    "==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b,
                    "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
                    "&&": lambda: a and b, "||": lambda: a or b}[e[1]]()
        except Exception:
            return Unknown("binop")
    if k == "unop":
        a = evaluate(e[2])
        if isinstance(a, Unknown):
            return a
        return (not a) if e[1] == "!" else -a
    return Unknown(k)


def attr_value(block, name, default=None):
    a = block.attr(name) if block is not None else None
    return default if a is None else evaluate(a.expr)


# --------------------------------------------------------------------------
# Checks shared by fmt / validate / run
# --------------------------------------------------------------------------
def read_config(path):
    """Returns (source text, body). A directory loads every *.alloy file in it."""
    if os.path.isdir(path):
        parts = []
        for f in sorted(os.listdir(path)):
            if f.endswith(".alloy"):
                parts.append((os.path.join(path, f), open(os.path.join(path, f), encoding="utf-8").read()))
        body = []
        for p, s in parts:
            try:
                body.extend(parse_source(s))
            except SyntaxErr as e:
                e.file = p
                raise
        return "".join(s for _, s in parts), body
    with open(path, encoding="utf-8") as f:
        src = f.read()
    try:
        return src, parse_source(src)
    except SyntaxErr as e:
        e.file = path
        raise


def semantic_errors(body):
    """Checks that `validate` and `run` apply beyond syntax (a small subset of the real ones)."""
    errs = []
    seen = {}
    for s in body:
        if isinstance(s, Attr):
            errs.append((s.line, s.col, "attribute %s is not allowed at the top level of a config file" % s.name))
            continue
        if "." in s.name and s.label is None and not s.name.startswith("import."):
            errs.append((s.line, s.col, "component %s must have a label" % s.name))
        cid = s.component_id
        if cid in seen:
            errs.append((s.line, s.col, "block %s already declared at %d:%d" % ((cid,) + seen[cid])))
        else:
            seen[cid] = (s.line, s.col)
    return errs


def die(msg, code=1):
    sys.stderr.write("Error: %s\n" % msg)
    sys.exit(code)


# --------------------------------------------------------------------------
# fmt (approximate formatter: tab indentation, aligned `=` in runs of
# single-line attributes, no trailing blanks). Real alloy's printer does more;
# use fmt here as a syntax check, not as the judge of exact layout.
# --------------------------------------------------------------------------
def format_source(src):
    toks = lex(src, keep_comments=True)
    lines = src.split("\n")
    # Indentation: every line that opens brackets indents what follows by ONE
    # level, however many brackets it opens (so `[{` indents once).
    line_indent = {}
    stack = []
    for t in toks:
        if t.kind == "EOF":
            break
        if t.line not in line_indent:
            top = stack[-1] if stack else 0
            closer_first = t.kind == "PUNCT" and t.val in "}])"
            line_indent[t.line] = max(top - 1, 0) if closer_first else top
        if t.kind == "PUNCT" and t.val in "{[(":
            stack.append(line_indent[t.line] + 1)
        elif t.kind == "PUNCT" and t.val in "}])" and stack:
            stack.pop()
    # lines inside multi-line raw strings / block comments keep their text
    verbatim = set()
    for t in toks:
        if t.kind in ("STRING", "COMMENT") and t.end_line > t.line:
            verbatim.update(range(t.line + 1, t.end_line + 1))
    out = []
    for no, text in enumerate(lines, 1):
        if no in verbatim:
            out.append(text)
            continue
        s = text.strip()
        if not s:
            out.append("")
            continue
        d = line_indent.get(no, 0)
        out.append("\t" * max(d, 0) + s)
    # collapse blank runs, trim leading/trailing blank lines
    res = []
    for line in out:
        if line == "" and (not res or res[-1] == ""):
            continue
        res.append(line)
    while res and res[-1] == "":
        res.pop()
    # align `=` in runs of consecutive single-line attributes at the same indentation
    attr_re = re.compile(r'^(\t*)([A-Za-z_][A-Za-z0-9_]*|"[^"]*")\s*=(?!=)\s*(.*)$')
    i = 0
    while i < len(res):
        m = attr_re.match(res[i])
        if not m or not balanced_line(m.group(3)):
            i += 1
            continue
        j = i
        run = []
        while j < len(res):
            m2 = attr_re.match(res[j])
            if not m2 or m2.group(1) != m.group(1) or not balanced_line(m2.group(3)):
                break
            run.append(m2)
            j += 1
        width = max(len(r.group(2)) for r in run)
        for k, r in enumerate(run):
            res[i + k] = "%s%s = %s" % (r.group(1), r.group(2).ljust(width), r.group(3))
        i = j
    return "\n".join(res) + "\n"


def balanced_line(rest):
    d = 0
    for ch in re.sub(r'"(\\.|[^"\\])*"', '""', rest):
        if ch in "{[(":
            d += 1
        elif ch in "}])":
            d -= 1
    return d == 0


def report_syntax(e, path):
    sys.stderr.write("%s:%d:%d: %s\n" % (getattr(e, "file", path), e.line, e.col, e.msg))


def cmd_fmt(args):
    write = test = False
    files = []
    for a in args:
        if a in ("-w", "--write"):
            write = True
        elif a in ("-t", "--test"):
            test = True
        elif a in ("-h", "--help"):
            print("Usage:\n  alloy fmt [flags] file\n\nFlags:\n  -t, --test    Exit with non-zero when changes would be made.\n"
                  "  -w, --write   Write result to (source) file instead of stdout.")
            return 0
        elif a.startswith("-") and a != "-":
            die("unknown shorthand flag or flag: %s" % a)
        else:
            files.append(a)
    if len(files) != 1:
        die("accepts 1 arg(s), received %d" % len(files))
    path = files[0]
    try:
        src = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as e:
        die("failed to read %s: %s" % (path, e.strerror))
    try:
        parse_source(src)
        formatted = format_source(src)
    except SyntaxErr as e:
        report_syntax(e, path)
        die("encountered errors during formatting")
    if test:
        if formatted != src:
            sys.stderr.write("Error: %s: file is not formatted (drover lab stand-in formatter)\n" % path)
            return 1
        return 0
    if write and path != "-":
        if formatted != src:
            with open(path, "w", encoding="utf-8") as f:
                f.write(formatted)
        return 0
    sys.stdout.write(formatted)
    return 0


def cmd_validate(args):
    files = [a for a in args if not a.startswith("-")]
    for a in args:
        if a in ("-h", "--help"):
            print("Usage:\n  alloy validate [flags] path")
            return 0
    if len(files) != 1:
        die("accepts 1 arg(s), received %d" % len(files))
    path = files[0]
    try:
        _, body = read_config(path)
    except OSError as e:
        die("failed to read %s: %s" % (path, e.strerror))
    except SyntaxErr as e:
        report_syntax(e, path)
        die("validation failed")
    errs = semantic_errors(body)
    if errs:
        for line, col, msg in errs:
            sys.stderr.write("%s:%d:%d: %s\n" % (path, line, col, msg))
        die("validation failed")
    return 0


# --------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------
LOG_LOCK = threading.Lock()
LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3}
LOG_LEVEL = {"level": 1}  # set from the config's `logging { level = ... }`


def logfmt_val(v):
    s = str(v).lower() if isinstance(v, bool) else str(v)
    if s == "" or re.search(r'[\s"=]', s):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return s


def log(level, msg, **kv):
    if LEVELS.get(level, 1) < LOG_LEVEL["level"]:
        return
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".%03dZ" % (int(time.time() * 1000) % 1000)
    parts = ["ts=" + ts, "level=" + level, "msg=" + logfmt_val(msg)]
    for k, v in kv.items():
        parts.append("%s=%s" % (k, logfmt_val(v)))
    with LOG_LOCK:
        sys.stderr.write(" ".join(parts) + "\n")
        sys.stderr.flush()


def split_hostport(addr):
    m = re.match(r"^\[([^\]]*)\]:(\d+)$", addr) or re.match(r"^([^:]*):(\d+)$", addr)
    if not m:
        raise ValueError("invalid address %r (want host:port)" % addr)
    host = m.group(1) or "0.0.0.0"
    return host, int(m.group(2))


def is_loopback_host(host):
    if host in ("localhost", "::1", "ip6-localhost"):
        return True
    return re.match(r"^127\.\d+\.\d+\.\d+$", host) is not None


def family_for(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def make_http_server(addr, handler_cls):
    host, port = split_hostport(addr)
    if host == "localhost":
        host = "127.0.0.1"
    cls = type("S", (Server,), {"address_family": family_for(host)})
    srv = cls((host, port), handler_cls)
    t = threading.Thread(target=srv.serve_forever, args=(0.1,), name="http " + addr, daemon=True)
    t.start()
    return srv


class RawListener(object):
    """TCP listener for the OTLP gRPC endpoint: accepts and closes connections."""

    def __init__(self, addr):
        host, port = split_hostport(addr)
        if host == "localhost":
            host = "127.0.0.1"
        self.sock = socket.socket(family_for(host), socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.closed = False
        threading.Thread(target=self.loop, name="grpc " + addr, daemon=True).start()

    def loop(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            STATE.bump("alloy_standin_otlp_grpc_connections_total")
            try:
                c.close()
            except OSError:
                pass

    def shutdown(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def server_close(self):
        self.sock.close()


class State(object):
    def __init__(self):
        self.lock = threading.RLock()
        self.counters = {}
        self.gauges = {}
        self.ready = False
        self.components = {}  # id -> (health, message)
        self.listeners = {}   # (component_id, proto) -> (addr, server)
        self.scrapers = {}    # component_id -> Scraper
        self.config_path = None
        self.body = None
        self.start = time.time()
        self.reload_lock = threading.Lock()

    def bump(self, name, labels=None, by=1):
        key = (name, tuple(sorted((labels or {}).items())))
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + by


STATE = State()


def fmt_labels(labels):
    if not labels:
        return ""
    return "{" + ",".join('%s="%s"' % (k, str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))
                          for k, v in labels) + "}"


def rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def cpu_seconds():
    t = os.times()
    return t.user + t.system


def render_metrics():
    STATE.bump("promhttp_metric_handler_requests_total", {"code": "200"})
    out = []

    def family(name, typ, help_, samples):
        out.append("# HELP %s %s" % (name, help_))
        out.append("# TYPE %s %s" % (name, typ))
        for labels, v in samples:
            out.append("%s%s %s" % (name, fmt_labels(labels), repr(v) if isinstance(v, float) else v))

    family("alloy_build_info", "gauge", "A metric with a constant '1' value labeled by version (drover lab STAND-IN).",
           [((("branch", "standin"), ("goarch", "amd64"), ("goos", "linux"), ("goversion", "none"),
              ("revision", "drover-lab-standin"), ("tags", "standin"), ("version", "v" + VERSION)), 1)])
    with STATE.lock:
        comps = dict(STATE.components)
        counters = dict(STATE.counters)
        gauges = dict(STATE.gauges)
    health = {}
    for cid, (h, _) in comps.items():
        health[h] = health.get(h, 0) + 1
    family("alloy_component_controller_running_components", "gauge", "Total number of running components.",
           [((("health_type", h),), health.get(h, 0)) for h in ("healthy", "unhealthy", "unknown", "exited")])
    family("alloy_config_last_load_successful", "gauge", "Config loaded successfully.",
           [((), gauges.get(("alloy_config_last_load_successful", ()), 0))])
    family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [((), rss_bytes())])
    family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
           [((), round(cpu_seconds(), 3))])
    family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
           [((), round(STATE.start, 3))])
    names = sorted(set(k[0] for k in counters))
    for name in names:
        family(name, "counter", "drover lab stand-in counter.",
               [(labels, v) for (n, labels), v in sorted(counters.items()) if n == name])
    gnames = sorted(set(k[0] for k in gauges) - {"alloy_config_last_load_successful"})
    for name in gnames:
        family(name, "gauge", "drover lab stand-in gauge.",
               [(labels, v) for (n, labels), v in sorted(gauges.items()) if n == name])
    return "\n".join(out) + "\n"


class MainHandler(BaseHTTPRequestHandler):
    server_version = "alloy-standin"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body, ctype="text/plain; charset=utf-8"):
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/-/ready":
            if STATE.ready:
                self.reply(200, "Alloy is ready.\n")
            else:
                self.reply(503, "Alloy is not ready.\n")
        elif path == "/-/healthy":
            with STATE.lock:
                bad = sorted(c for c, (h, _) in STATE.components.items() if h != "healthy")
            if bad:
                self.reply(500, "unhealthy components: %s\n" % ", ".join(bad))
            else:
                self.reply(200, "All Alloy components are healthy.\n")
        elif path == "/metrics":
            self.reply(200, render_metrics(), "text/plain; version=0.0.4; charset=utf-8")
        elif path == "/-/reload":
            self.do_reload()
        elif path == "/api/v0/web/components":
            with STATE.lock:
                comps = [{"localID": c, "moduleID": "", "label": c.rsplit(".", 1)[-1],
                          "health": {"state": h, "message": m}} for c, (h, m) in sorted(STATE.components.items())]
            self.reply(200, json.dumps(comps), "application/json")
        elif path in ("/", "/index.html"):
            self.reply(200, "<html><body><h1>Grafana Alloy STAND-IN (drover test lab)</h1>"
                            "<p>version v%s. This is not Grafana Alloy.</p></body></html>\n" % VERSION,
                       "text/html; charset=utf-8")
        else:
            self.reply(404, "404 page not found\n")

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        if path == "/-/reload":
            self.do_reload()
        else:
            self.reply(404, "404 page not found\n")

    def do_reload(self):
        ok, err = reload_config("http")
        if ok:
            self.reply(200, "config reloaded\n")
        else:
            self.reply(400, "%s\n" % err)


class OtlpHttpHandler(BaseHTTPRequestHandler):
    server_version = "alloy-standin-otlp"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        path = self.path.split("?", 1)[0]
        if path in ("/v1/traces", "/v1/metrics", "/v1/logs"):
            STATE.bump("alloy_standin_otlp_http_requests_total", {"signal": path[4:]})
            ctype = self.headers.get("Content-Type", "application/x-protobuf")
            body = b"{}" if "json" in ctype else b""
            self.send_response(200)
            self.send_header("Content-Type", "application/json" if "json" in ctype else "application/x-protobuf")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def do_GET(self):
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()


def parse_duration(s, default):
    if not isinstance(s, str):
        return default
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", s):
        total += float(num) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total or default


class Scraper(object):
    """prometheus.scrape: scrapes loopback targets only (never anything else)."""

    def __init__(self, cid, targets, job, interval, path):
        self.cid, self.targets, self.job, self.interval, self.path = cid, targets, job, interval, path
        self.stop = threading.Event()
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        threading.Thread(target=self.loop, name="scrape " + cid, daemon=True).start()

    def key(self):
        return (tuple(self.targets), self.job, self.interval, self.path)

    def loop(self):
        if self.stop.wait(1.0):
            return
        while True:
            for addr in self.targets:
                self.scrape(addr)
            if self.stop.wait(self.interval):
                return

    def scrape(self, addr):
        labels = {"component_id": self.cid, "job": self.job, "target": addr}
        try:
            host, _ = split_hostport(addr)
        except ValueError:
            host = ""
        if not is_loopback_host(host):
            STATE.bump("alloy_standin_scrapes_total", dict(labels, result="skipped_not_loopback"))
            return
        url = "http://%s%s" % (addr, self.path)
        try:
            with self.opener.open(url, timeout=5) as r:
                text = r.read().decode("utf-8", "replace")
            samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
            STATE.bump("alloy_standin_scrapes_total", dict(labels, result="success"))
            STATE.bump("alloy_standin_scrape_samples_total", labels, samples)
            with STATE.lock:
                STATE.gauges[("alloy_standin_scrape_target_up", tuple(sorted(labels.items())))] = 1
        except Exception as e:
            STATE.bump("alloy_standin_scrapes_total", dict(labels, result="failure"))
            with STATE.lock:
                STATE.gauges[("alloy_standin_scrape_target_up", tuple(sorted(labels.items())))] = 0
            log("warn", "scrape failed", component_path="/", component_id=self.cid, target=addr, err=str(e))


EXPORTER_KINDS = ("prometheus.remote_write", "loki.write", "otelcol.exporter.otlp", "otelcol.exporter.otlphttp",
                  "pyroscope.write")


def describe_exporter(b):
    """Endpoint info of a component that would send data out (no connection is made)."""
    infos = []
    endpoints = b.blocks("endpoint") + b.blocks("client")
    for ep in endpoints:
        url = attr_value(ep, "url", None)
        if url is None:
            url = attr_value(ep, "endpoint", "")
        auth = (ep.blocks("basic_auth") or [None])[0]
        user = attr_value(auth, "username", "") if auth else ""
        pw = attr_value(auth, "password", "") if auth else ""
        infos.append({"url": url if isinstance(url, str) else repr(url),
                      "username_set": bool(user) and not isinstance(user, Unknown),
                      "password_set": bool(pw) and not isinstance(pw, Unknown),
                      "auth_ref": isinstance(attr_value(ep, "auth", None), Unknown)})
    return infos


def journal_readable():
    for d in ("/var/log/journal", "/run/log/journal"):
        for root, _, files in os.walk(d):
            for f in files:
                if f.endswith(".journal"):
                    if os.access(os.path.join(root, f), os.R_OK):
                        return True
    return False


def desired_listeners(body):
    want = {}
    for b in body:
        if not isinstance(b, Block) or b.name != "otelcol.receiver.otlp":
            continue
        for proto, default in (("grpc", "0.0.0.0:4317"), ("http", "0.0.0.0:4318")):
            for sub in b.blocks(proto):
                ep = attr_value(sub, "endpoint", default)
                want[(b.component_id, proto)] = ep if isinstance(ep, str) and ep else default
    return want


def apply_config(body):
    """Start/stop components for a parsed config. Listener bind errors make the
    component unhealthy but do not stop alloy (like a real otelcol receiver)."""
    comps = {}
    gauges = {}
    lv = "info"
    for b in body:
        if isinstance(b, Block) and b.name == "logging":
            lv = attr_value(b, "level", "info")
    LOG_LEVEL["level"] = LEVELS.get(lv, 1) if isinstance(lv, str) else 1
    want = desired_listeners(body)
    # listeners
    for key in list(STATE.listeners):
        addr, srv = STATE.listeners[key]
        if want.get(key) != addr:
            srv.shutdown()
            srv.server_close()
            del STATE.listeners[key]
            log("info", "stopped OTLP listener", component_id=key[0], protocol=key[1], endpoint=addr)
    for key, addr in sorted(want.items()):
        cid, proto = key
        if key in STATE.listeners:
            comps[cid] = comps.get(cid, ("healthy", "started"))
            continue
        try:
            srv = RawListener(addr) if proto == "grpc" else make_http_server(addr, OtlpHttpHandler)
            STATE.listeners[key] = (addr, srv)
            log("info", "Starting %s server" % ("GRPC" if proto == "grpc" else "HTTP"), component_id=cid,
                endpoint=addr)
            comps[cid] = comps.get(cid, ("healthy", "started"))
        except (OSError, ValueError) as e:
            log("error", "failed to start component", component_id=cid, protocol=proto, endpoint=addr, err=str(e))
            comps[cid] = ("unhealthy", "failed to listen on %s: %s" % (addr, e))
    # scrapers
    keep = set()
    for b in body:
        if not isinstance(b, Block):
            continue
        cid = b.component_id
        if b.name == "prometheus.scrape":
            targets = attr_value(b, "targets", [])
            addrs = []
            if isinstance(targets, list):
                for t in targets:
                    if isinstance(t, dict) and isinstance(t.get("__address__"), str):
                        addrs.append(t["__address__"])
            job = attr_value(b, "job_name", cid)
            job = job if isinstance(job, str) else cid
            interval = parse_duration(attr_value(b, "scrape_interval", "60s"), 60.0)
            mpath = attr_value(b, "metrics_path", "/metrics")
            mpath = mpath if isinstance(mpath, str) else "/metrics"
            newkey = (tuple(addrs), job, interval, mpath)
            old = STATE.scrapers.get(cid)
            if old is None or old.key() != newkey:
                if old is not None:
                    old.stop.set()
                STATE.scrapers[cid] = Scraper(cid, addrs, job, interval, mpath)
                log("info", "scrape targets (loopback only are scraped by the stand-in)", component_id=cid,
                    targets=",".join(addrs), interval="%gs" % interval)
            keep.add(cid)
            comps[cid] = ("healthy", "started")
        elif b.name in EXPORTER_KINDS:
            for info in describe_exporter(b):
                log("info", "would send data here; the stand-in makes NO outbound connections",
                    component_id=cid, url=info["url"], username_set=info["username_set"],
                    password_set=info["password_set"])
                if not info["url"]:
                    log("warn", "endpoint url is empty (sys.env variable unset?)", component_id=cid)
                gauges[("alloy_standin_exporter_endpoint_info",
                        (("component_id", cid), ("password_set", str(info["password_set"]).lower()),
                         ("url", info["url"]), ("username_set", str(info["username_set"]).lower())))] = 1
            comps[cid] = ("healthy", "started")
        elif b.name == "otelcol.auth.basic":
            ca = (b.blocks("client_auth") or [b])[0]
            user, pw = attr_value(ca, "username", ""), attr_value(ca, "password", "")
            gauges[("alloy_standin_auth_basic_info",
                    (("component_id", cid), ("password_set", str(bool(pw) and not isinstance(pw, Unknown)).lower()),
                     ("style", "client_auth" if b.blocks("client_auth") else "deprecated_top_level"),
                     ("username_set", str(bool(user) and not isinstance(user, Unknown)).lower())))] = 1
            comps[cid] = ("healthy", "started")
        elif b.name == "loki.source.journal":
            ok = journal_readable()
            gauges[("alloy_standin_journal_readable", (("component_id", cid),))] = 1 if ok else 0
            if not ok:
                # the real component starts without error and silently collects nothing
                log("debug", "no readable journal files (is the alloy user in systemd-journal/adm?)",
                    component_id=cid)
            comps[cid] = ("healthy", "started")
        elif b.name == "otelcol.receiver.otlp":
            comps.setdefault(cid, ("healthy", "started"))
        elif "." in b.name:
            comps[cid] = ("healthy", "started (stand-in: no-op)")
    for cid in list(STATE.scrapers):
        if cid not in keep:
            STATE.scrapers.pop(cid).stop.set()
    with STATE.lock:
        STATE.components = comps
        for k in [k for k in STATE.gauges if k[0] in ("alloy_standin_exporter_endpoint_info",
                                                       "alloy_standin_auth_basic_info",
                                                       "alloy_standin_journal_readable")]:
            del STATE.gauges[k]
        STATE.gauges.update(gauges)
        STATE.gauges[("alloy_config_last_load_successful", ())] = 1
        STATE.gauges[("alloy_standin_otlp_listeners", ())] = len(STATE.listeners)


def load(path):
    """Parse + check. Returns body or raises SyntaxErr/ValueError/OSError."""
    _, body = read_config(path)
    errs = semantic_errors(body)
    if errs:
        line, col, msg = errs[0]
        raise SyntaxErr(line, col, msg)
    return body


def reload_config(trigger):
    with STATE.reload_lock:
        try:
            body = load(STATE.config_path)
        except SyntaxErr as e:
            err = "%s:%d:%d: %s" % (getattr(e, "file", STATE.config_path), e.line, e.col, e.msg)
            log("error", "failed to reload config", trigger=trigger, err=err)
            with STATE.lock:
                STATE.gauges[("alloy_config_last_load_successful", ())] = 0
            STATE.bump("alloy_config_load_failures_total")
            return False, err
        except OSError as e:
            log("error", "failed to reload config", trigger=trigger, err=str(e))
            with STATE.lock:
                STATE.gauges[("alloy_config_last_load_successful", ())] = 0
            STATE.bump("alloy_config_load_failures_total")
            return False, str(e)
        apply_config(body)
        STATE.body = body
        STATE.bump("alloy_config_reloads_total")
        log("info", "config reloaded", trigger=trigger)
        return True, ""


RUN_VALUE_FLAGS = ("--server.http.listen-addr", "--storage.path", "--stability.level", "--config.format",
                   "--config.extra-args", "--server.http.memory-addr", "--server.http.ui-path-prefix",
                   "--windows.priority", "--cluster.node-name", "--cluster.advertise-address",
                   "--cluster.join-addresses", "--cluster.discover-peers", "--cluster.rejoin-interval",
                   "--cluster.advertise-interfaces", "--cluster.max-join-peers", "--cluster.name",
                   "--cluster.tls-ca-path", "--cluster.tls-cert-path", "--cluster.tls-key-path",
                   "--cluster.tls-server-name", "--cluster.wait-for-size", "--cluster.wait-timeout",
                   "--server.http.tls-cert-file", "--server.http.tls-key-file")
RUN_BOOL_FLAGS = ("--server.http.enable-pprof", "--disable-reporting", "--disable-support-bundle",
                  "--feature.community-components.enabled", "--cluster.enabled", "--cluster.enable-tls",
                  "--config.bypass-conversion-errors", "--enable-community-components")


def sd_notify(msg):
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.connect(addr)
        s.sendall(msg.encode())
        s.close()
    except OSError as e:
        log("warn", "sd_notify failed", err=str(e))


def cmd_run(args):
    opts = {"--server.http.listen-addr": "127.0.0.1:12345", "--storage.path": "data-alloy/"}
    pos = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            print("Usage:\n  alloy run [flags] path\n\n(drover lab STAND-IN; flags: --server.http.listen-addr, "
                  "--storage.path, ...)")
            return 0
        if a.startswith("--"):
            name, eq, val = a.partition("=")
            if name in RUN_VALUE_FLAGS:
                if not eq:
                    i += 1
                    if i >= len(args):
                        die("flag needs an argument: %s" % name)
                    val = args[i]
                opts[name] = val
            elif name in RUN_BOOL_FLAGS:
                opts[name] = val or "true"
            else:
                die("unknown flag: %s" % name)
        elif a.startswith("-") and a != "-":
            die("unknown shorthand flag: %r in %s" % (a[1:2], a))
        else:
            pos.append(a)
        i += 1
    if len(pos) != 1:
        die("accepts 1 arg(s), received %d" % len(pos))
    STATE.config_path = pos[0]
    log("info", "STAND-IN for Grafana Alloy built by the drover test lab; it makes no outbound connections",
        version="v" + VERSION)
    log("info", "starting alloy", version="v" + VERSION, config=STATE.config_path, pid=os.getpid())
    try:
        body = load(STATE.config_path)
    except SyntaxErr as e:
        log("error", "failed to load config",
            err="%s:%d:%d: %s" % (getattr(e, "file", STATE.config_path), e.line, e.col, e.msg))
        die("could not perform the initial load successfully")
    except OSError as e:
        log("error", "failed to read config", err=str(e))
        die("could not perform the initial load successfully")
    storage = opts["--storage.path"]
    try:
        os.makedirs(storage, exist_ok=True)
        probe = os.path.join(storage, ".standin-write-probe")
        with open(probe, "w") as f:
            f.write("ok\n")
        os.unlink(probe)
    except OSError as e:
        log("error", "storage path is not writable", path=storage, err=str(e))
        die("failed to create storage path %s: %s" % (storage, e))
    listen = opts["--server.http.listen-addr"]
    try:
        main_srv = make_http_server(listen, MainHandler)
    except (OSError, ValueError) as e:
        log("error", "failed to start HTTP server", addr=listen, err=str(e))
        die("failed to listen on %s: %s" % (listen, e))
    log("info", "now listening for http traffic", service="http", addr=listen)

    flags = {"hup": False, "stop": None}

    def on_hup(signum, frame):
        flags["hup"] = True

    def on_stop(signum, frame):
        flags["stop"] = signum

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)

    with STATE.reload_lock:
        apply_config(body)
        STATE.body = body
    STATE.ready = True
    sd_notify("READY=1")
    log("info", "config loaded, alloy is ready", components=len(STATE.components))

    while flags["stop"] is None:
        time.sleep(0.2)
        if flags["hup"]:
            flags["hup"] = False
            log("info", "reload requested via SIGHUP")
            reload_config("sighup")
    sd_notify("STOPPING=1")
    log("info", "shutting down", signal=flags["stop"])
    STATE.ready = False
    for addr, srv in STATE.listeners.values():
        srv.shutdown()
        srv.server_close()
    for sc in STATE.scrapers.values():
        sc.stop.set()
    main_srv.shutdown()
    main_srv.server_close()
    return 0


USAGE = """Grafana Alloy STAND-IN (drover test lab). Not the real Grafana Alloy.

Usage:
  alloy [command]

Available Commands:
  fmt         Format a configuration file
  help        Help about any command
  run         Run Alloy
%s
Flags:
  -h, --help      help for alloy
  -v, --version   version for alloy
"""


def main(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE % ("  validate    Validate a configuration file\n" if HAS_VALIDATE else ""))
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd in ("--version", "-v"):
        print("alloy, version v%s (drover lab stand-in)" % VERSION)
        return 0
    if cmd == "fmt":
        return cmd_fmt(rest)
    if cmd == "run":
        return cmd_run(rest)
    if cmd == "validate" and HAS_VALIDATE:
        return cmd_validate(rest)
    if cmd.startswith("-"):
        die("unknown flag: %s\nRun 'alloy --help' for usage." % cmd)
    die('unknown command "%s" for "alloy"\nRun \'alloy --help\' for usage.' % cmd)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
