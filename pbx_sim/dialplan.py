"""A practical subset of Asterisk's ``extensions.conf``: contexts, extensions, patterns,
priorities, hints, includes, ``${...}`` substitution and ``$[...]`` expressions.

Supported syntax (the lab config and ``pbx_sim/dialplan/hotline.conf`` use all of it):

- ``[context]``, ``[globals]`` (global variables), ``[general]`` (ignored).
- ``exten => pattern,priority,App(args)``; ``same => n,App(args)``; priority ``n``,
  ``n(label)``, a number, or ``hint`` (``exten => 8001,hint,PJSIP/8001``);
  ``include => other-context``.
- Patterns: ``_X.``, ``_[1-4]``, ``_0X.``, ``_NXX``, ``_Z!``; an exact extension beats a
  pattern, and among patterns the more specific one wins (as Asterisk sorts them).
- ``${VAR}``, ``${VAR:offset}``, ``${VAR:offset:length}``, ``${FUNC(args)}`` (nested),
  ``$[ expression ]`` with ``| & = != < > <= >= + - * / % !`` and ``cond ? a : b``.

The evaluation of variables and functions is the caller's: :func:`substitute` takes an
object with ``lookup(name) -> str`` and ``function(name, args) -> str``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from .confparse import ConfError, Section

__all__ = [
    "Context",
    "Dialplan",
    "Extension",
    "Step",
    "SubstitutionEnv",
    "evaluate_expression",
    "load_dialplan",
    "pattern_matches",
    "split_app",
    "split_args",
    "substitute",
]


@dataclass(frozen=True, slots=True)
class Step:
    """One priority: the application and its raw (unsubstituted) argument text."""

    app: str
    data: str
    label: str | None = None


@dataclass
class Extension:
    name: str
    steps: dict[int, Step] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    hint: str | None = None
    regex: re.Pattern[str] | None = None
    #: Sort key among patterns: smaller = more specific.
    rank: tuple[int, ...] = ()

    def matches(self, exten: str) -> bool:
        if self.regex is None:
            return exten == self.name
        return self.regex.fullmatch(exten) is not None


@dataclass
class Context:
    name: str
    exact: dict[str, Extension] = field(default_factory=dict)
    patterns: list[Extension] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)

    def extension(self, name: str, *, create: bool = False) -> Extension | None:
        ext: Extension | None
        if name.startswith("_"):
            ext = next((e for e in self.patterns if e.name == name), None)
            if ext is None and create:
                regex, rank = compile_pattern(name)
                ext = Extension(name, regex=regex, rank=rank)
                self.patterns.append(ext)
                self.patterns.sort(key=lambda e: e.rank)
            return ext
        ext = self.exact.get(name)
        if ext is None and create:
            ext = self.exact[name] = Extension(name)
        return ext


_CLASS_SIZE = {"X": 10, "Z": 9, "N": 8}


def compile_pattern(pattern: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    """``_X.`` -> a regex and a specificity rank (Asterisk sorts patterns by the size of
    each position's character set, ``.``/``!`` last)."""
    body = pattern[1:]
    out: list[str] = []
    rank: list[int] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "X":
            out.append("[0-9]")
            rank.append(_CLASS_SIZE[c])
        elif c == "Z":
            out.append("[1-9]")
            rank.append(_CLASS_SIZE[c])
        elif c == "N":
            out.append("[2-9]")
            rank.append(_CLASS_SIZE[c])
        elif c == ".":
            out.append(".+")
            rank.append(1000)
        elif c == "!":
            out.append(".*")
            rank.append(1001)
        elif c == "[":
            end = body.find("]", i)
            if end < 0:
                raise ConfError(f"pattern {pattern!r}: '[' without ']'")
            chars = body[i + 1 : end]
            out.append("[" + re.escape(chars).replace("\\-", "-") + "]")
            size = 0
            j = 0
            while j < len(chars):
                if j + 2 < len(chars) and chars[j + 1] == "-":
                    size += abs(ord(chars[j + 2]) - ord(chars[j])) + 1
                    j += 3
                else:
                    size += 1
                    j += 1
            rank.append(size)
            i = end
        else:
            out.append(re.escape(c))
            rank.append(1)
        i += 1
    return re.compile("".join(out), re.DOTALL), tuple(rank)


def pattern_matches(pattern: str, exten: str) -> bool:
    if not pattern.startswith("_"):
        return pattern == exten
    return compile_pattern(pattern)[0].fullmatch(exten) is not None


class Dialplan:
    """Parsed contexts + globals; look-ups by (context, exten, priority)."""

    def __init__(self) -> None:
        self.contexts: dict[str, Context] = {}
        self.globals: dict[str, str] = {}
        #: Hints in definition order: ``(context, exten) -> device string``.
        self.hints: dict[tuple[str, str], str] = {}

    def context(self, name: str) -> Context | None:
        return self.contexts.get(name)

    def find_extension(self, context: str, exten: str) -> Extension | None:
        """The extension that handles ``exten`` in ``context`` (following includes)."""
        seen: set[str] = set()
        return self._find(context, exten, seen)

    def _find(self, context: str, exten: str, seen: set[str]) -> Extension | None:
        if context in seen:
            return None
        seen.add(context)
        ctx = self.contexts.get(context)
        if ctx is None:
            return None
        ext = ctx.exact.get(exten)
        if ext is not None and ext.steps:
            return ext
        for pat in ctx.patterns:
            if pat.steps and pat.matches(exten):
                return pat
        for inc in ctx.includes:
            found = self._find(inc, exten, seen)
            if found is not None:
                return found
        return None

    def exists(self, context: str, exten: str, priority: int = 1) -> bool:
        ext = self.find_extension(context, exten)
        return ext is not None and priority in ext.steps

    def step(self, context: str, exten: str, priority: int) -> Step | None:
        ext = self.find_extension(context, exten)
        if ext is None:
            return None
        return ext.steps.get(priority)

    def resolve_label(self, context: str, exten: str, label: str) -> int | None:
        ext = self.find_extension(context, exten)
        if ext is None:
            return None
        return ext.labels.get(label)

    # -- building --------------------------------------------------------------------

    def add_sections(self, sections: Iterable[Section]) -> None:
        for sect in sections:
            if sect.name == "general":
                continue
            if sect.name == "globals":
                for key, value in sect.options:
                    self.globals[key] = value
                continue
            ctx = self.contexts.get(sect.name)
            if ctx is None:
                ctx = self.contexts[sect.name] = Context(sect.name)
            last_ext: Extension | None = None
            last_prio = 0
            for (key, value), lineno in zip(sect.options, sect.lines, strict=True):
                where = f"[{sect.name}] line {lineno}"
                if key == "include":
                    ctx.includes.append(value.strip())
                    continue
                if key == "same":
                    if last_ext is None:
                        raise ConfError(f"{where}: 'same =>' without a previous exten")
                    prio_text, _, rest = value.partition(",")
                    last_prio = self._add_step(last_ext, prio_text.strip(), rest, last_prio, where)
                    continue
                if key != "exten":
                    raise ConfError(f"{where}: unknown dialplan keyword {key!r}")
                name, _, rest = value.partition(",")
                prio_text, _, rest = rest.partition(",")
                name = name.strip()
                # Caller-id matching (exten/cid) is not supported: ignore the cid part.
                name = name.split("/", 1)[0]
                prio_text = prio_text.strip()
                ext = ctx.extension(name, create=True)
                assert ext is not None
                if prio_text == "hint":
                    ext.hint = rest.strip()
                    self.hints[(sect.name, name)] = ext.hint
                    continue
                prev = last_prio if ext is last_ext else max(ext.steps, default=0)
                last_ext = ext
                last_prio = self._add_step(ext, prio_text, rest, prev, where)

    @staticmethod
    def _add_step(ext: Extension, prio_text: str, rest: str, prev: int, where: str) -> int:
        label: str | None = None
        m = re.fullmatch(r"([0-9]+|n|n\+[0-9]+|s)(?:\(([^)]*)\))?", prio_text)
        if m is None:
            raise ConfError(f"{where}: bad priority {prio_text!r}")
        p, label = m.group(1), m.group(2)
        if p == "n":
            prio = prev + 1
        elif p.startswith("n+"):
            prio = prev + int(p[2:])
        elif p == "s":
            prio = prev
        else:
            prio = int(p)
        app, data = split_app(rest.strip())
        ext.steps[prio] = Step(app, data, label)
        if label:
            ext.labels[label] = prio
        return prio


def split_app(text: str) -> tuple[str, str]:
    """``Dial(PJSIP/8001,20)`` -> ``("Dial", "PJSIP/8001,20")``; ``Answer`` -> ``("Answer",
    "")``."""
    paren = text.find("(")
    if paren < 0:
        # Old comma syntax ``App,arg`` is not supported; the whole text is the app name.
        return text.strip(), ""
    app = text[:paren].strip()
    body = text[paren + 1 :]
    if body.endswith(")"):
        body = body[:-1]
    return app, body


def split_args(data: str, sep: str = ",") -> list[str]:
    """Split application arguments on ``sep``, not inside ``()``/``[]``/quotes (as
    ``ast_app_separate_args`` does; quotes are removed, a backslash escapes)."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    quote = False
    i = 0
    while i < len(data):
        c = data[i]
        if c == "\\" and i + 1 < len(data):
            cur.append(data[i + 1])
            i += 2
            continue
        if c == '"':
            quote = not quote
        elif not quote and c in "([":
            depth += 1
            cur.append(c)
        elif not quote and c in ")]":
            depth = max(depth - 1, 0)
            cur.append(c)
        elif not quote and depth == 0 and c == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return out


# -- substitution ---------------------------------------------------------------------------


class SubstitutionEnv(Protocol):
    def lookup(self, name: str) -> str | None: ...

    def function(self, name: str, args: str) -> str: ...


def _matching(text: str, start: int, open_c: str, close_c: str) -> int:
    """Index of the bracket closing the one opened just before ``start``, or -1."""
    depth = 1
    i = start
    while i < len(text):
        c = text[i]
        if c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


#: A parsed substitution template: literal text, or (``{`` or ``[``, inner template).
_Template = tuple[Any, ...]
_TEMPLATES: dict[str, _Template] = {}
#: Templates kept parsed (dialplan texts are few; AGI and action texts are not cached
#: beyond this).
_TEMPLATE_CACHE_MAX: Final = 20_000


def _parse_template(text: str) -> _Template:
    parts: list[Any] = []
    i = lit = 0
    n = len(text)
    while True:
        j = text.find("$", i)
        if j < 0 or j + 1 >= n:
            break
        open_c = text[j + 1]
        if open_c not in "{[":
            i = j + 1
            continue
        end = _matching(text, j + 2, open_c, "}" if open_c == "{" else "]")
        if end < 0:
            break  # unbalanced: the rest is literal text
        if j > lit:
            parts.append(text[lit:j])
        parts.append((open_c, _parse_template(text[j + 2 : end])))
        i = lit = end + 1
    if lit < n:
        parts.append(text[lit:])
    return tuple(parts)


def _render(template: _Template, env: SubstitutionEnv) -> str:
    out: list[str] = []
    for part in template:
        if isinstance(part, str):
            out.append(part)
            continue
        inner = _render(part[1], env)
        out.append(_expand_var(inner, env) if part[0] == "{" else evaluate_expression(inner))
    return "".join(out)


def substitute(text: str, env: SubstitutionEnv) -> str:
    """Expand ``${...}`` and ``$[...]`` in ``text`` (inner expressions first). Each text
    is parsed once (the dialplan's texts are the same on every call)."""
    if "$" not in text:
        return text
    template = _TEMPLATES.get(text)
    if template is None:
        template = _parse_template(text)
        if len(_TEMPLATES) < _TEMPLATE_CACHE_MAX:
            _TEMPLATES[text] = template
    return _render(template, env)


def _expand_var(inner: str, env: SubstitutionEnv) -> str:
    paren = inner.find("(")
    if paren > 0 and inner.endswith(")"):
        return env.function(inner[:paren].strip(), inner[paren + 1 : -1])
    name, colon, offs = inner.partition(":")
    value = env.lookup(name) or ""
    if not colon:
        return value
    parts = offs.split(":")
    try:
        off = int(parts[0]) if parts[0] else 0
        length = int(parts[1]) if len(parts) > 1 and parts[1] else None
    except ValueError:
        return value
    if off < 0:
        off = max(len(value) + off, 0)
    value = value[off:]
    if length is not None:
        value = value[:length]
    return value


# -- $[ ] expressions ------------------------------------------------------------------------

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"[^"]*")|(?P<op>=~|!=|<=|>=|\|\||&&|[|&=<>+\-*/%!?:()])|(?P<word>[^\s|&=<>+\-*/%!?:()"]+))'
)


def _tokens(expr: str) -> list[str]:
    out: list[str] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None or m.end() == pos:
            break
        tok = m.group("str") or m.group("op") or m.group("word")
        if tok is not None:
            out.append(tok)
        pos = m.end()
    return out


def _num(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _fmt(v: float) -> str:
    return str(int(v)) if v == int(v) else repr(v)


class _ExprParser:
    # Precedence, lowest first: ?: | & comparisons + - * / % unary
    def __init__(self, toks: list[str]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> str:
        if not self.toks:
            return ""
        return self.ternary()

    def ternary(self) -> str:
        cond = self.orx()
        if self.peek() == "?":
            self.take()
            a = self.ternary()
            b = ""
            if self.peek() == ":":
                self.take()
                b = self.ternary()
            return a if _truthy(cond) else b
        return cond

    def orx(self) -> str:
        left = self.andx()
        while self.peek() in ("|", "||"):
            self.take()
            right = self.andx()
            left = left if _truthy(left) else right
        return left

    def andx(self) -> str:
        left = self.cmp()
        while self.peek() in ("&", "&&"):
            self.take()
            right = self.cmp()
            left = left if (_truthy(left) and _truthy(right)) else "0"
        return left

    def cmp(self) -> str:
        left = self.add()
        while self.peek() in ("=", "!=", "<", ">", "<=", ">=", "=~"):
            op = self.take()
            right = self.add()
            if op == "=~":
                m = re.match(right, left)
                left = (m.group(1) if m and m.groups() else str(m.end())) if m else "0"
                continue
            a, b = _num(left), _num(right)
            if a is not None and b is not None:
                res = {
                    "=": a == b,
                    "!=": a != b,
                    "<": a < b,
                    ">": a > b,
                    "<=": a <= b,
                    ">=": a >= b,
                }[op]
            else:
                res = {
                    "=": left == right,
                    "!=": left != right,
                    "<": left < right,
                    ">": left > right,
                    "<=": left <= right,
                    ">=": left >= right,
                }[op]
            left = "1" if res else "0"
        return left

    def add(self) -> str:
        left = self.mul()
        while self.peek() in ("+", "-"):
            op = self.take()
            right = self.mul()
            a, b = _num(left) or 0.0, _num(right) or 0.0
            left = _fmt(a + b if op == "+" else a - b)
        return left

    def mul(self) -> str:
        left = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take()
            right = self.unary()
            a, b = _num(left) or 0.0, _num(right) or 0.0
            if op == "*":
                left = _fmt(a * b)
            elif b == 0:
                left = "0"
            elif op == "/":
                left = _fmt(float(int(a / b)))
            else:
                left = _fmt(a % b)
        return left

    def unary(self) -> str:
        tok = self.peek()
        if tok == "!":
            self.take()
            return "0" if _truthy(self.unary()) else "1"
        if tok == "-":
            self.take()
            num = _num(self.unary()) or 0.0
            return _fmt(-num)
        if tok == "(":
            self.take()
            inner = self.ternary()
            if self.peek() == ")":
                self.take()
            return inner
        if tok is None:
            return ""
        self.take()
        if tok.startswith('"') and tok.endswith('"'):
            return tok[1:-1]
        return tok


def _truthy(v: str) -> bool:
    n = _num(v)
    if n is not None:
        return n != 0
    return v != ""


@functools.lru_cache(maxsize=4096)
def evaluate_expression(expr: str) -> str:
    """The value of an Asterisk ``$[...]`` expression body, as text (a pure function of
    the text: cached)."""
    try:
        return _ExprParser(_tokens(expr)).parse()
    except (IndexError, KeyError, re.error):
        return ""


def load_dialplan(sections: Iterable[Section], into: Dialplan | None = None) -> Dialplan:
    plan = into if into is not None else Dialplan()
    plan.add_sections(sections)
    return plan
