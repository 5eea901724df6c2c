"""The IVR's flows: the ``[ivr]`` section of the configuration, read and checked.

A flow is a set of named **nodes**; a call starts at ``ivr.entry`` (or at the node its
dialled number names in ``ivr.routes``) and moves from node to node::

    menu      play a prompt, read one key; options map keys to nodes (or "repeat",
              "operator"); wrong key or silence: the invalid prompt and again, up to
              ``retries`` times, then ``default``
    collect   read several digits (an account number ...); ``next`` when enough came,
              ``default`` after ``retries`` failures
    hours     ``open`` or ``closed`` by the business hours and holidays
    message   play a prompt, then ``next`` (none: hang up)
    queue     end: the caller waits for an agent of ``queue`` (or of the queue serving
              ``skill``), at ``priority`` if given
    voicemail end: leave a message in ``box``
    callback_request  end: the center calls back when it opens (recorded in the call record)
    hangup    end

Checked at load time, every problem with its key: prompts and queues that do not exist,
targets that name no node, and flows a caller could fall out of. The last is a graph
check: every node has its exits, the ends above have none, and the exits taken
without the caller pressing anything (``default``, ``next`` of a message, ``open`` and
``closed``) must not form a loop, so a silent caller always reaches an end.

This module does not import the rest of Hotline: :mod:`cti.config` calls
:func:`read_ivr` with its own error reporter.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

__all__ = [
    "BUILTIN_TARGETS",
    "CallbackConfig",
    "Hours",
    "IvrConfig",
    "Node",
    "NodeKind",
    "SurveyConfig",
    "is_vip",
    "read_ivr",
]

NodeKind = Literal[
    "menu", "collect", "hours", "message", "queue", "voicemail", "callback_request", "hangup"
]
NODE_KINDS: Final[tuple[NodeKind, ...]] = (
    "menu",
    "collect",
    "hours",
    "message",
    "queue",
    "voicemail",
    "callback_request",
    "hangup",
)
ENDS: Final = frozenset({"queue", "voicemail", "callback_request", "hangup"})
#: Targets that are not nodes: play the menu again / go to the operator queue.
BUILTIN_TARGETS: Final = ("repeat", "operator")
DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DTMF_KEYS: Final = "0123456789*#"

_NAME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_NAME_WHAT: Final = "a name of letters, digits, '_' and '-' starting with a letter (at most 32)"
_SOUND_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,127}")
_SOUND_WHAT: Final = (
    "a sound file without extension, e.g. \"hotline/main-menu\" (letters, digits, '_', '-',"
    " '.', '/')"
)
_RANGE_RE: Final = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)")
_NUMBER_RE: Final = re.compile(r"\+?[0-9]{1,20}")
# mailbox[@context] as voicemail.conf names them: a mailbox is a line, a context a
# section, so nothing that could break out of either; [general] and [zonemessages] are
# voicemail.conf's settings, not contexts.
_BOX_RE: Final = re.compile(
    r"[A-Za-z0-9_-]{1,40}(@(?!(?i:general|zonemessages)$)[A-Za-z0-9_-]{1,40})?"
)
_BOX_WHAT: Final = (
    "a mailbox, e.g. \"100@default\" (mailbox[@context] of letters, digits, '_' and '-';"
    ' the context is not "general" or "zonemessages")'
)
#: The voicemail context of a box without ``@context`` (app_voicemail's default).
DEFAULT_VOICEMAIL_CONTEXT: Final = "default"

_IVR_KEYS: Final = (
    "entry",
    "routes",
    "operator_queue",
    "timezone",
    "greeting_known",
    "vip_priority",
    "vip_accounts",
    "vip_tag",
    "prompts",
    "hours",
    "nodes",
    "callback",
    "survey",
)
_NODE_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "menu": ("type", "prompt", "options", "timeout_s", "retries", "invalid", "default"),
    "collect": (
        "type", "prompt", "label", "min_digits", "max_digits", "timeout_s", "retries",
        "invalid", "next", "default",
    ),
    "hours": ("type", "open", "closed"),
    "message": ("type", "prompt", "next"),
    "queue": ("type", "queue", "skill", "priority"),
    "voicemail": ("type", "prompt", "box"),
    "callback_request": ("type", "prompt"),
    "hangup": ("type", "prompt"),
}  # fmt: skip
_CALLBACK_KEYS: Final = (
    "key", "prompt", "unavailable", "queues", "attempts", "retry_after_s", "ring_s",
)  # fmt: skip
_SURVEY_KEYS: Final = ("queues", "prompt", "thanks", "invalid", "timeout_s", "retries")


class Reporter(Protocol):
    """Where problems go (cti.config's reader): ``path`` is a full key path."""

    def error(self, path: str, message: str) -> None: ...

    def expected(self, path: str, what: str, found: object) -> None: ...


@dataclass(frozen=True, slots=True)
class Node:
    """One step of a flow; which fields matter depends on ``kind``."""

    name: str
    kind: NodeKind
    prompt: str | None = None  # a key of ``prompts``
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    timeout_s: float = 5.0
    retries: int = 3
    invalid: str | None = None  # prompt after a wrong key or silence
    default: str | None = None  # menu/collect: after the retries
    next: str | None = None  # message/collect
    label: str | None = None  # collect: the name of the digits in the path
    min_digits: int = 1
    max_digits: int = 10
    open: str | None = None
    closed: str | None = None
    queue: str | None = None
    priority: int | None = None
    box: str | None = None

    def exits(self) -> list[tuple[str, str, bool]]:
        """(key, target, automatic): where the caller can go from here; ``automatic``
        when the caller pressing nothing leads there."""
        out: list[tuple[str, str, bool]] = []
        for key, target in self.options.items():
            out.append((f"options.{_q(key)}", target, False))
        if self.kind == "collect" and self.next is not None:
            out.append(("next", self.next, False))
        if self.kind == "message" and self.next is not None:
            out.append(("next", self.next, True))
        for key in ("default", "open", "closed"):
            target = getattr(self, key)
            if target is not None:
                out.append((key, target, True))
        return out


@dataclass(frozen=True, slots=True)
class Hours:
    """Opening hours per weekday (Monday = 0) in ``timezone``, and closed dates."""

    timezone: str = "UTC"
    week: tuple[tuple[tuple[int, int], ...], ...] = ((),) * 7  # minutes since midnight
    holidays: frozenset[dt.date] = frozenset()
    always_open: bool = True  # no [ivr.hours] table at all

    def is_open(self, when: dt.datetime) -> bool:
        if self.always_open:
            return True
        local = when.astimezone(zoneinfo.ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week[local.weekday()])


@dataclass(frozen=True, slots=True)
class CallbackConfig:
    """Virtual hold: ``key`` pressed while waiting asks for a call back at the same place."""

    key: str = "*"
    prompt: str | None = None  # "we will call you back on ..."
    unavailable: str | None = None  # played when the queue offers no callback
    queues: tuple[str, ...] = ()
    attempts: int = 3
    retry_after_s: float = 60.0
    ring_s: float = 30.0


@dataclass(frozen=True, slots=True)
class SurveyConfig:
    """After-call survey for the callers of ``queues`` who stay on the line."""

    queues: tuple[str, ...]
    prompt: str
    thanks: str | None = None
    invalid: str | None = None
    timeout_s: float = 6.0
    retries: int = 2


@dataclass(frozen=True, slots=True)
class IvrConfig:
    entry: str
    nodes: Mapping[str, Node]
    prompts: Mapping[str, str]  # name -> sound file
    routes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    operator_queue: str | None = None
    hours: Hours = field(default_factory=Hours)
    greeting_known: str | None = None
    vip_priority: int | None = None
    vip_accounts: frozenset[str] = frozenset()
    vip_tag: str | None = None
    callback: CallbackConfig | None = None
    survey: SurveyConfig | None = None

    def start_node(self, did: str | None) -> Node:
        return self.nodes[self.routes.get(did or "", self.entry)]

    def voicemail_boxes(self) -> list[tuple[str, str]]:
        """(context, mailbox) of every voicemail node, once each, in node order: the
        mailboxes the PBX must have (voicemail.conf)."""
        boxes: dict[tuple[str, str], None] = {}
        for node in self.nodes.values():
            if node.kind == "voicemail" and node.box is not None:
                mailbox, _, context = node.box.partition("@")
                boxes[(context or DEFAULT_VOICEMAIL_CONTEXT, mailbox)] = None
        return list(boxes)

    def sound(self, prompt: str | None) -> str | None:
        return None if prompt is None else self.prompts[prompt]


def is_vip(ivr: IvrConfig, account_id: str | None, notes: str) -> bool:
    """A known customer is a VIP when its account is listed in ``vip_accounts`` or its
    notes carry ``vip_tag`` as a word (``"VIP, fault reports"``)."""
    if account_id is not None and account_id in ivr.vip_accounts:
        return True
    tag = ivr.vip_tag
    return tag is not None and re.search(rf"(?<!\w){re.escape(tag)}(?!\w)", notes) is not None


# --------------------------------------------------------------------------- reading


def _q(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def _at(path: str, key: str) -> str:
    return f"{path}.{_q(key)}"


class _Read:
    def __init__(
        self,
        report: Reporter,
        queues: Mapping[str, Mapping[str, int]] | None,
    ) -> None:
        self.report = report
        self.queues = queues  # queue -> its skills; None: the queues were unreadable
        self.bad = False

    def error(self, path: str, message: str) -> None:
        self.bad = True
        self.report.error(path, message)

    def expected(self, path: str, what: str, found: object) -> None:
        self.bad = True
        self.report.expected(path, what, found)

    def keys(self, table: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
        for key in table:
            if key not in allowed:
                self.error(_at(path, key), f"unknown key; expected one of {', '.join(allowed)}")

    def text(
        self,
        table: Mapping[str, Any],
        path: str,
        key: str,
        *,
        required: bool = False,
        pattern: re.Pattern[str] | None = None,
        what: str = "a string",
    ) -> str | None:
        if key not in table:
            if required:
                self.error(_at(path, key), f"required key is missing; expected {what}")
            return None
        value = table[key]
        if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
            self.expected(_at(path, key), what, value)
            return None
        return value

    def number(
        self, table: Mapping[str, Any], path: str, key: str, default: float, lo: float, hi: float
    ) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            self.expected(_at(path, key), f"a number of seconds {lo:g}..{hi:g}", value)
            return default
        return float(value)

    def integer(
        self, table: Mapping[str, Any], path: str, key: str, default: int, lo: int, hi: int
    ) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.expected(_at(path, key), f"an integer {lo}..{hi}", value)
            return default
        return value

    def table(self, parent: Mapping[str, Any], path: str, key: str) -> dict[str, Any] | None:
        if key not in parent:
            return None
        value = parent[key]
        if not isinstance(value, dict):
            self.expected(_at(path, key), "a table", value)
            return None
        return value

    def queue_list(self, table: Mapping[str, Any], path: str, key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.expected(_at(path, key), "an array of queue names", value)
            return ()
        for i, name in enumerate(value):
            self.check_queue(f"{_at(path, key)}[{i}]", name)
        return tuple(value)

    def check_queue(self, path: str, name: str) -> None:
        if self.queues is not None and name not in self.queues:
            known = ", ".join(sorted(self.queues)) or "none"
            self.error(path, f"expected a queue declared in [[queues]] ({known}); found {name!r}")


def read_ivr(
    data: object,
    report: Reporter,
    queues: Mapping[str, Mapping[str, int]] | None,
    *,
    path: str = "ivr",
) -> IvrConfig | None:
    """Read the ``[ivr]`` table; every problem goes to ``report``. ``queues`` maps each
    declared queue to its skills (None: the queues had errors, so references to them are
    not checked). Returns None when anything was wrong."""
    read = _Read(report, queues)
    if not isinstance(data, dict):
        read.expected(path, "a table", data)
        return None
    read.keys(data, path, _IVR_KEYS)
    prompts = _prompts(read, data, path)
    hours = _hours(read, data, path)
    operator = read.text(data, path, "operator_queue", pattern=_NAME_RE, what=_NAME_WHAT)
    if operator is not None:
        read.check_queue(_at(path, "operator_queue"), operator)
    nodes = _nodes(read, data, path)
    entry = read.text(data, path, "entry", required=True, pattern=_NAME_RE, what=_NAME_WHAT)
    if entry is not None and nodes is not None and entry not in nodes:
        read.error(_at(path, "entry"), f"expected a node of {path}.nodes; found {entry!r}")
    routes: dict[str, str] = {}
    raw_routes = read.table(data, path, "routes")
    for did, target in (raw_routes or {}).items():
        where = _at(_at(path, "routes"), did)
        if not _NUMBER_RE.fullmatch(did):
            read.error(where, f"expected a dialled number of digits as the key; found {did!r}")
        elif not isinstance(target, str) or (nodes is not None and target not in nodes):
            read.expected(where, f"the name of a node of {path}.nodes", target)
        else:
            routes[did] = target
    greeting = read.text(data, path, "greeting_known", pattern=_NAME_RE, what=_NAME_WHAT)
    if greeting is not None and prompts is not None and greeting not in prompts:
        read.error(
            _at(path, "greeting_known"), f"expected a prompt of {path}.prompts; found {greeting!r}"
        )
    vip_priority = None
    if "vip_priority" in data:
        vip_priority = read.integer(data, path, "vip_priority", 0, 0, 1000)
    vip_accounts = data.get("vip_accounts", [])
    if not isinstance(vip_accounts, list) or not all(isinstance(a, str) for a in vip_accounts):
        read.expected(_at(path, "vip_accounts"), "an array of customer account ids", vip_accounts)
        vip_accounts = []
    vip_tag = read.text(data, path, "vip_tag", what='a word in a customer\'s notes, e.g. "VIP"')
    if (vip_accounts or vip_tag) and vip_priority is None:
        read.error(
            _at(path, "vip_priority"),
            "required key is missing; expected the queue priority of VIP callers "
            "(vip_accounts or vip_tag is set)",
        )
    callback = _callback(read, data, path)
    survey = _survey(read, data, path)
    if nodes is not None and prompts is not None:
        _check_nodes(read, nodes, prompts, operator, path)
    for sub, keys in (
        (callback, ("prompt", "unavailable")),
        (survey, ("prompt", "thanks", "invalid")),
    ):
        if sub is None or prompts is None:
            continue
        section = "callback" if isinstance(sub, CallbackConfig) else "survey"
        for key in keys:
            name = getattr(sub, key)
            if name is not None and name not in prompts:
                read.error(
                    _at(_at(path, section), key),
                    f"expected a prompt of {path}.prompts; found {name!r}",
                )
    if read.bad or nodes is None or prompts is None or entry is None:
        return None
    return IvrConfig(
        entry=entry,
        nodes=MappingProxyType(nodes),
        prompts=MappingProxyType(prompts),
        routes=MappingProxyType(routes),
        operator_queue=operator,
        hours=hours,
        greeting_known=greeting,
        vip_priority=vip_priority,
        vip_accounts=frozenset(vip_accounts),
        vip_tag=vip_tag,
        callback=callback,
        survey=survey,
    )


def _prompts(read: _Read, data: Mapping[str, Any], path: str) -> dict[str, str] | None:
    table = read.table(data, path, "prompts")
    if table is None:
        if "prompts" not in data:
            read.error(
                _at(path, "prompts"),
                "required key is missing; expected a table of prompt name = sound file",
            )
        return None
    out: dict[str, str] = {}
    where = _at(path, "prompts")
    for name, sound in table.items():
        if not _NAME_RE.fullmatch(name):
            read.error(_at(where, name), f"expected {_NAME_WHAT} as the prompt's name")
        elif not isinstance(sound, str) or not _SOUND_RE.fullmatch(sound) or ".." in sound:
            read.expected(_at(where, name), _SOUND_WHAT, sound)
        else:
            out[name] = sound
    return out


def _hours(read: _Read, data: Mapping[str, Any], path: str) -> Hours:
    table = read.table(data, path, "hours")
    if table is None:
        return Hours()
    where = _at(path, "hours")
    read.keys(table, where, (*DAYS, "holidays"))
    tz = read.text(data, path, "timezone", what='an IANA time zone, e.g. "Asia/Shanghai"')
    if tz is not None:
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            read.expected(_at(path, "timezone"), 'an IANA time zone, e.g. "Asia/Shanghai"', tz)
            tz = None
    week: list[tuple[tuple[int, int], ...]] = []
    what = 'opening hours "HH:MM-HH:MM", an array of them, or "closed"'
    for day in DAYS:
        value = table.get(day, "closed")
        ranges = [value] if isinstance(value, str) else value
        spans: list[tuple[int, int]] = []
        if not isinstance(ranges, list) or not all(isinstance(r, str) for r in ranges):
            read.expected(_at(where, day), what, value)
            ranges = []
        for text in ranges:
            if text == "closed":
                continue
            m = _RANGE_RE.fullmatch(text)
            start = end = 0
            if m is not None:
                start = int(m[1]) * 60 + int(m[2])
                end = int(m[3]) * 60 + int(m[4])
            if m is None or not start < end <= 24 * 60:
                read.expected(_at(where, day), what, text)
                continue
            spans.append((start, end))
        week.append(tuple(spans))
    holidays: set[dt.date] = set()
    raw = table.get("holidays", [])
    if not isinstance(raw, list):
        read.expected(_at(where, "holidays"), "an array of dates (2026-10-01)", raw)
        raw = []
    for i, day_value in enumerate(raw):
        if isinstance(day_value, dt.date) and not isinstance(day_value, dt.datetime):
            holidays.add(day_value)
        elif isinstance(day_value, str):
            try:
                holidays.add(dt.date.fromisoformat(day_value))
            except ValueError:
                read.expected(f"{_at(where, 'holidays')}[{i}]", "a date (2026-10-01)", day_value)
        else:
            read.expected(f"{_at(where, 'holidays')}[{i}]", "a date (2026-10-01)", day_value)
    return Hours(
        timezone=tz or "UTC", week=tuple(week), holidays=frozenset(holidays), always_open=False
    )


def _nodes(read: _Read, data: Mapping[str, Any], path: str) -> dict[str, Node] | None:
    table = read.table(data, path, "nodes")
    where = _at(path, "nodes")
    if table is None:
        if "nodes" not in data:
            read.error(where, "required key is missing; expected [ivr.nodes.NAME] tables")
        return None
    out: dict[str, Node] = {}
    for name, raw in table.items():
        npath = _at(where, name)
        if not _NAME_RE.fullmatch(name) or name in BUILTIN_TARGETS:
            read.error(npath, f"expected {_NAME_WHAT}, not repeat or operator, as a node's name")
            continue
        if not isinstance(raw, dict):
            read.expected(npath, "a table", raw)
            continue
        kind = raw.get("type")
        if kind not in NODE_KINDS:
            what = "one of " + ", ".join(NODE_KINDS)
            if "type" not in raw:
                read.error(_at(npath, "type"), f"required key is missing; expected {what}")
            else:
                read.expected(_at(npath, "type"), what, kind)
            continue
        read.keys(raw, npath, _NODE_KEYS[kind])
        node = _node(read, name, kind, raw, npath)
        if node is not None:
            out[name] = node
    return out


def _node(read: _Read, name: str, kind: NodeKind, raw: Mapping[str, Any], path: str) -> Node | None:
    def target(key: str, required: bool) -> str | None:
        return read.text(raw, path, key, required=required, what="the name of a node")

    def prompt(key: str, required: bool) -> str | None:
        return read.text(raw, path, key, required=required, pattern=_NAME_RE,
                         what="the name of a prompt of ivr.prompts")  # fmt: skip

    if kind == "menu":
        options: dict[str, str] = {}
        opts = raw.get("options")
        what = 'a table of key = target, e.g. { "1" = "fault" }'
        if "options" not in raw:
            read.error(_at(path, "options"), f"required key is missing; expected {what}")
        elif not isinstance(opts, dict) or not opts:
            read.expected(_at(path, "options"), what, opts)
        else:
            for key, value in opts.items():
                if len(key) != 1 or key not in DTMF_KEYS:
                    read.error(
                        _at(_at(path, "options"), key),
                        f"expected one key of {DTMF_KEYS} as the option; found {key!r}",
                    )
                elif not isinstance(value, str):
                    read.expected(_at(_at(path, "options"), key), "the name of a node", value)
                else:
                    options[key] = value
        return Node(
            name, kind,
            prompt=prompt("prompt", True),
            options=MappingProxyType(options),
            timeout_s=read.number(raw, path, "timeout_s", 5.0, 0.5, 60.0),
            retries=read.integer(raw, path, "retries", 3, 1, 10),
            invalid=prompt("invalid", False),
            default=target("default", True),
        )  # fmt: skip
    if kind == "collect":
        lo = read.integer(raw, path, "min_digits", 1, 1, 32)
        hi = read.integer(raw, path, "max_digits", max(lo, 10), 1, 32)
        if hi < lo:
            read.error(_at(path, "max_digits"), f"expected at least min_digits ({lo}); found {hi}")
        return Node(
            name, kind,
            prompt=prompt("prompt", True),
            label=read.text(raw, path, "label", pattern=_NAME_RE, what=_NAME_WHAT) or name,
            min_digits=lo,
            max_digits=hi,
            timeout_s=read.number(raw, path, "timeout_s", 5.0, 0.5, 60.0),
            retries=read.integer(raw, path, "retries", 3, 1, 10),
            invalid=prompt("invalid", False),
            next=target("next", True),
            default=target("default", True),
        )  # fmt: skip
    if kind == "hours":
        return Node(name, kind, open=target("open", True), closed=target("closed", True))
    if kind == "message":
        return Node(name, kind, prompt=prompt("prompt", True), next=target("next", False))
    if kind == "queue":
        queue = read.text(raw, path, "queue", pattern=_NAME_RE, what="a queue name")
        skill = read.text(raw, path, "skill", pattern=_NAME_RE, what="a skill name")
        if ("queue" in raw and "skill" in raw) or not ("queue" in raw or "skill" in raw):
            read.error(path, "expected exactly one of the keys queue or skill")
        if queue is not None:
            read.check_queue(_at(path, "queue"), queue)
        if skill is not None and read.queues is not None:
            serving = [q for q, skills in read.queues.items() if set(skills) == {skill}]
            if not serving:
                read.error(
                    _at(path, "skill"),
                    f"expected a skill some queue requires alone; found {skill!r} "
                    "(no [[queues]] entry has skills = { " + skill + " = N })",
                )
            else:
                queue = serving[0]
        priority = None
        if "priority" in raw:
            priority = read.integer(raw, path, "priority", 0, 0, 1000)
        return Node(name, kind, queue=queue, priority=priority)
    if kind == "voicemail":
        box = read.text(raw, path, "box", required=True, pattern=_BOX_RE, what=_BOX_WHAT)
        return Node(name, kind, prompt=prompt("prompt", False), box=box)
    return Node(name, kind, prompt=prompt("prompt", False))


def _check_nodes(
    read: _Read, nodes: Mapping[str, Node], prompts: Mapping[str, str], operator: str | None,
    path: str,
) -> None:  # fmt: skip
    where = _at(path, "nodes")
    for node in nodes.values():
        npath = _at(where, node.name)
        for key in ("prompt", "invalid"):
            name = getattr(node, key)
            if name is not None and name not in prompts:
                read.error(f"{npath}.{key}", f"expected a prompt of {path}.prompts; found {name!r}")
        for key, target, _auto in node.exits():
            if target == "repeat" and node.kind == "menu" and key.startswith("options."):
                continue
            if target == "operator":
                if operator is None:
                    read.error(
                        f"{npath}.{key}",
                        f"found 'operator' but {path}.operator_queue is not set",
                    )
                continue
            if target not in nodes:
                read.error(
                    f"{npath}.{key}",
                    f"expected a node of {path}.nodes"
                    + (" or repeat/operator" if key.startswith("options.") else "")
                    + f"; found {target!r}",
                )
    # A silent caller follows only the automatic exits: they must not loop.
    auto = {n.name: [t for _k, t, a in n.exits() if a and t in nodes] for n in nodes.values()}
    state: dict[str, int] = {}
    for start in nodes:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = []
        while stack:
            name, i = stack.pop()
            if i == 0:
                state[name] = 1
                trail.append(name)
            if i < len(auto[name]):
                stack.append((name, i + 1))
                nxt = auto[name][i]
                if state.get(nxt) == 1:
                    loop = [*trail[trail.index(nxt) :], nxt]
                    read.error(
                        _at(where, nxt),
                        "a caller who presses nothing would loop for ever: "
                        + " -> ".join(loop)
                        + "; expected the default/next/open/closed exits to reach a queue, "
                        "a message or a hangup",
                    )
                    return
                if not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[name] = 2
                trail.pop()


def _callback(read: _Read, data: Mapping[str, Any], path: str) -> CallbackConfig | None:
    table = read.table(data, path, "callback")
    if table is None:
        return None
    where = _at(path, "callback")
    read.keys(table, where, _CALLBACK_KEYS)
    key = table.get("key", "*")
    if not isinstance(key, str) or len(key) != 1 or key not in DTMF_KEYS:
        read.expected(_at(where, "key"), f"one key of {DTMF_KEYS}", key)
        key = "*"
    return CallbackConfig(
        key=key,
        prompt=read.text(table, where, "prompt", pattern=_NAME_RE, what="a prompt name"),
        unavailable=read.text(table, where, "unavailable", pattern=_NAME_RE, what="a prompt name"),
        queues=read.queue_list(table, where, "queues"),
        attempts=read.integer(table, where, "attempts", 3, 1, 10),
        retry_after_s=read.number(table, where, "retry_after_s", 60.0, 1.0, 3600.0),
        ring_s=read.number(table, where, "ring_s", 30.0, 5.0, 120.0),
    )


def _survey(read: _Read, data: Mapping[str, Any], path: str) -> SurveyConfig | None:
    table = read.table(data, path, "survey")
    if table is None:
        return None
    where = _at(path, "survey")
    read.keys(table, where, _SURVEY_KEYS)
    prompt = read.text(table, where, "prompt", required=True, pattern=_NAME_RE,
                       what="a prompt name")  # fmt: skip
    return SurveyConfig(
        queues=read.queue_list(table, where, "queues"),
        prompt=prompt or "",
        thanks=read.text(table, where, "thanks", pattern=_NAME_RE, what="a prompt name"),
        invalid=read.text(table, where, "invalid", pattern=_NAME_RE, what="a prompt name"),
        timeout_s=read.number(table, where, "timeout_s", 6.0, 1.0, 60.0),
        retries=read.integer(table, where, "retries", 2, 1, 5),
    )
