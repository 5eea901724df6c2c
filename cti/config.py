"""Hotline's one configuration file: TOML in, frozen dataclasses out.

:func:`load_config` reads a file, :func:`parse_config` checks an already-parsed table, and
:func:`demo_config` gives the demo call center. The schema (every key, its type and default)
is documented in ``config/README.md`` and, with comments on every key, in
``config/hotline.toml``.

Errors: **every** problem found in one pass is reported, not just the first. They come
together in one :class:`ConfigError`: one line per problem, each complete on its own::

    config/hotline.toml: queues[1].strategy: expected one of longest_idle, ...; found 'fastest'

A line names the file, the key path (array indexes count from 0, in the order the file
lists them) and what was expected against what was found. A TOML syntax error stops the
parse at once and gives the line and column instead of a key path. Checks that depend on
other keys (overflow loops, routes to queues, ...) run on the parts that were valid, so one
typo does not cause a cascade of follow-up errors.

The routing rules of queues (escalation order, fallbacks, overflow loops) are the ACD's: a
queue is checked with :meth:`acd.QueueSpec.validate` and the set with ``acd.ACD(queues)``;
their :class:`acd.ModelError` becomes a :class:`ConfigError` that points at the key.

Secrets are never in the file: the AMI secret comes from an environment variable
(``ami.secret_env``) or from a file only its owner may read (``ami.secret_file``); it is
read at load time so that a server with a missing secret fails at start, not on first use.
"""

from __future__ import annotations

import difflib
import enum
import ipaddress
import json
import os
import re
import stat
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, TypeGuard, TypeVar

from acd import ACD, AgentSpec, EscalationStep, Fallback, ModelError, QueueSpec, Strategy
from acd.model import MAX_LEVEL, MIN_LEVEL
from ivr.demo import DEMO_IVR_TOML
from ivr.flows import IvrConfig, read_ivr
from recorder.policy import RecordingConfig, read_recording_table

__all__ = [
    "DEFAULT_AGI_PORT",
    "DEFAULT_AMI_PORT",
    "DEFAULT_AMI_USERNAME",
    "DEFAULT_E1_CHANNELS",
    "DEFAULT_HTTP_PORT",
    "DEFAULT_LISTEN",
    "AgentConfig",
    "AgiConfig",
    "AmiConfig",
    "Config",
    "ConfigError",
    "DispatchConfig",
    "DispatchLevel",
    "Issue",
    "LogConfig",
    "Role",
    "ServerConfig",
    "StoreConfig",
    "TrunkConfig",
    "demo_config",
    "load_config",
    "parse_config",
]

DEFAULT_LISTEN: Final = "127.0.0.1"
DEFAULT_HTTP_PORT: Final = 8080
DEFAULT_AMI_PORT: Final = 5038
DEFAULT_AMI_USERNAME: Final = "hotline"
DEFAULT_AGI_PORT: Final = 4573
DEFAULT_E1_CHANNELS: Final = 30
DEFAULT_EMERGENCY_PRIORITY: Final = 1000
DEFAULT_STORE_PATH: Final = "var/hotline.db"
DEFAULT_RECORDINGS_DIR: Final = "var/recordings"

LogFormat = Literal["auto", "json", "console"]
LOG_LEVELS: Final = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS: Final = ("auto", "json", "console")


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a configuration: where (file, key path or line/column) and what."""

    source: str
    where: str  # a key path such as ``queues[2].escalation[0].after_s``; "" = whole file
    message: str

    def __str__(self) -> str:
        if self.where:
            return f"{self.source}: {self.where}: {self.message}"
        return f"{self.source}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used. ``str(error)`` is complete on its own.

    One line per problem (see :class:`Issue`); the command line prints it as
    ``hotline: <message>`` and exits with :attr:`exit_code`.
    """

    exit_code: Final = 2

    def __init__(self, issues: Sequence[Issue]) -> None:
        if not issues:
            raise ValueError("a ConfigError needs at least one issue")
        self.issues: tuple[Issue, ...] = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


# --------------------------------------------------------------------------- the schema


class DispatchLevel(enum.StrEnum):
    """A dispatcher's priority (主调度 over 副调度): docs/dispatch.md."""

    MAIN = "main"
    SUB = "sub"


class Role(enum.StrEnum):
    """What an account may do (DESIGN.md §3.1); each role includes the ones before it."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    def at_least(self, other: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(other)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The HTTP + WebSocket server."""

    listen: str = DEFAULT_LISTEN
    http_port: int = DEFAULT_HTTP_PORT


@dataclass(frozen=True, slots=True)
class AmiConfig:
    """The Asterisk Manager Interface link. ``secret`` was read at load time."""

    host: str = DEFAULT_LISTEN
    port: int = DEFAULT_AMI_PORT
    username: str = DEFAULT_AMI_USERNAME
    secret_env: str | None = None
    secret_file: Path | None = None
    secret: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class AgiConfig:
    """The FastAGI server that Asterisk's dialplan connects to."""

    listen: str = DEFAULT_LISTEN
    port: int = DEFAULT_AGI_PORT


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where Hotline keeps its database and recordings (relative paths: see load_config)."""

    path: Path = Path(DEFAULT_STORE_PATH)
    recordings_dir: Path = Path(DEFAULT_RECORDINGS_DIR)


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = "info"
    format: LogFormat = "auto"


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """An account: agent (坐席), supervisor or admin. Passwords are not configured here."""

    agent_id: str
    name: str = ""
    extension: str | None = None  # the default phone; an agent may log in at another one
    role: Role = Role.AGENT
    skills: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    dispatch: DispatchLevel | None = None  # main / sub dispatcher (主/副调度), supervisors only

    def spec(self) -> AgentSpec:
        """The description the ACD needs."""
        return AgentSpec(
            agent_id=self.agent_id,
            skills=self.skills,
            name=self.name,
            extension=self.extension,
        )


@dataclass(frozen=True, slots=True)
class TrunkConfig:
    """A carrier trunk (中继): its channel limit and which dialled number goes to which queue."""

    name: str
    channels: int = DEFAULT_E1_CHANNELS
    routes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    default_queue: str | None = None  # for numbers not in routes; None = reject them

    def queue_for(self, number: str) -> str | None:
        return self.routes.get(number, self.default_queue)


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """Dispatch-desk rules (docs/dispatch.md): calls from or to an emergency number go to
    the head of every queue, with ``emergency_priority`` above every queue's priority."""

    emergency_numbers: frozenset[str] = frozenset()
    emergency_priority: int = DEFAULT_EMERGENCY_PRIORITY


@dataclass(frozen=True, slots=True)
class Config:
    source: str
    server: ServerConfig
    ami: AmiConfig
    agi: AgiConfig
    store: StoreConfig
    log: LogConfig
    skills: Mapping[str, str]  # skill -> description
    queues: tuple[QueueSpec, ...]
    agents: tuple[AgentConfig, ...]
    trunks: tuple[TrunkConfig, ...] = ()
    groups: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # preset group calls (群呼): name -> extensions
    recording: RecordingConfig = field(default_factory=RecordingConfig)  # recorder/policy.py
    ivr: IvrConfig | None = None  # the IVR's flows (ivr/flows.py); None = no IVR
    dispatch: DispatchConfig = DispatchConfig()

    def queue(self, name: str) -> QueueSpec:
        for spec in self.queues:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def agent(self, agent_id: str) -> AgentConfig:
        for agent in self.agents:
            if agent.agent_id == agent_id:
                return agent
        raise KeyError(agent_id)

    def trunk(self, name: str) -> TrunkConfig:
        for trunk in self.trunks:
            if trunk.name == name:
                return trunk
        raise KeyError(name)

    def agent_specs(self) -> tuple[AgentSpec, ...]:
        return tuple(agent.spec() for agent in self.agents)


# --------------------------------------------------------------------------- entry points


def load_config(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Read and check the TOML file at ``path``; raise :class:`ConfigError` listing every
    problem found.

    Relative paths inside the file (``store.path``, ``ami.secret_file``, ...) are resolved
    against the directory of the file, so the result does not depend on where Hotline is
    started. ``env`` (default: ``os.environ``) is where ``ami.secret_env`` is looked up.
    """
    source = os.fspath(path)
    try:
        raw = Path(source).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([Issue(source, "", f"cannot read the file: {reason}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [Issue(source, f"line {line}", "not valid UTF-8; expected a UTF-8 text file")]
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_issue(source, exc)]) from None
    return parse_config(data, source, base_dir=Path(source).parent, env=env)


def parse_config(
    data: Mapping[str, Any],
    source: str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Check an already-parsed TOML table; ``source`` names it in error messages.

    Relative paths are resolved against ``base_dir`` (default: the current directory).
    Raises :class:`ConfigError` with every problem found.
    """
    reader = _Reader(source, Path(base_dir) if base_dir is not None else None, env)
    config = reader.config(data)
    if reader.issues or config is None:
        raise ConfigError(reader.issues)
    return config


def demo_config(*, ami_secret: str = "hotline-demo", ivr: bool = False) -> Config:
    """The demo call center of ``hotline demo`` (DESIGN.md §3.3).

    Skills fault/complaint/inquiry/general; queues of the same names (fault escalates,
    inquiry overflows to general); one E1 trunk ``e1`` (30 channels); agents 80000 to 80012
    (extensions 8000 to 8012; 80000 is left for a person) and supervisor 90001 (9001).
    Paths are relative to the current directory. ``ivr``: with the demo's IVR flows
    (ivr/demo.py: a menu behind 4000, survey, callback).
    """
    return parse_config(
        tomllib.loads(DEMO_TOML + (DEMO_IVR_TOML if ivr else "")),
        "<demo config>",
        env={"HOTLINE_AMI_SECRET": ami_secret},
    )


# --------------------------------------------------------------------------- the reader

_MISSING: Final = object()
_E = TypeVar("_E", bound=enum.Enum)

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_NAME_WHAT = "name of letters, digits, '_' and '-' starting with a letter (at most 32)"
_AGENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_AGENT_ID_WHAT = "an agent id of letters, digits, '_', '.' and '-' (at most 32), e.g. \"80001\""
_EXTENSION_RE = re.compile(r"[0-9]{1,20}")
_EXTENSION_WHAT = 'an extension of digits only (at most 20), e.g. "8001"'
_NUMBER_RE = re.compile(r"\+?[0-9]{1,20}")
_NUMBER_WHAT = "a dialled number of digits with an optional leading '+'"
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_MAX_NAME_LEN: Final = 100

_TOP_KEYS = (
    "server",
    "ami",
    "agi",
    "store",
    "log",
    "skills",
    "queues",
    "agents",
    "trunks",
    "groups",
    "recording",
    "ivr",
    "dispatch",
)
_DISPATCH_KEYS = ("emergency_numbers", "emergency_priority")
_SERVER_KEYS = ("listen", "http_port")
_AMI_KEYS = ("host", "port", "username", "secret_env", "secret_file")
_AGI_KEYS = ("listen", "port")
_STORE_KEYS = ("path", "recordings_dir")
_LOG_KEYS = ("level", "format")
_QUEUE_KEYS = (
    "name",
    "skills",
    "priority",
    "strategy",
    "service_level_target",
    "service_level_s",
    "wrap_up_s",
    "ring_timeout_s",
    "max_wait_s",
    "fallback",
    "overflow_to",
    "escalation",
    "rona_misses",
)
_STEP_KEYS = ("after_s", "min_level", "add_skills")
_AGENT_KEYS = ("id", "name", "extension", "role", "skills", "dispatch")
_TRUNK_KEYS = ("name", "channels", "routes", "default_queue")


def _key(key: str) -> str:
    """A key as TOML would write it in a dotted path."""
    return key if _BARE_KEY_RE.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _join(base: str, key: str) -> str:
    return f"{base}.{_key(key)}" if base else _key(key)


def _describe(value: object) -> str:
    """A found value, as an admin reading the TOML file would recognise it."""
    if value is _MISSING:
        return "nothing (the key is missing)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 60 else text[:56] + "...'"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table" if value else "an empty table"
    if isinstance(value, list):
        return "an array" if value else "an empty array"
    return f"a date/time ({value})"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _choices(values: Sequence[str]) -> str:
    return "one of " + ", ".join(values)


def _syntax_issue(source: str, exc: tomllib.TOMLDecodeError) -> Issue:
    message = str(exc)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        detail = message[: match.start()]
        where = f"line {match[1]}, column {match[2]}"
    else:
        end = re.search(r"\s*\(at end of document\)$", message)
        detail = message[: end.start()] if end else message
        where = "end of file"
    return Issue(source, where, f"TOML syntax error: {detail}")


class _Table:
    """A TOML table being read: typed getters that record problems instead of raising.

    A getter whose value is wrong records an issue and returns the default, so reading
    goes on; the caller compares issue counts to know whether what it built is sound.
    """

    def __init__(self, reader: _Reader, data: dict[str, Any], path: str) -> None:
        self.reader = reader
        self.data = data
        self.path = path

    def check_keys(self, allowed: Sequence[str]) -> None:
        for key in self.data:
            if key in allowed:
                continue
            hint = difflib.get_close_matches(key, allowed, n=1)
            suggestion = f"did you mean {hint[0]!r}? " if hint else ""
            self.reader.error(
                self.at(key), f"unknown key; {suggestion}expected {_choices(allowed)}"
            )

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> object:
        return self.data.get(key, _MISSING)

    def missing(self, key: str, what: str) -> None:
        self.reader.error(self.at(key), f"required key is missing; expected {what}")

    def text(
        self,
        key: str,
        *,
        required: bool = False,
        pattern: re.Pattern[str] | None = None,
        what: str = "a string",
        max_len: int = _MAX_NAME_LEN,
    ) -> str | None:
        value = self.raw(key)
        if value is _MISSING:
            if required:
                self.missing(key, what)
            return None
        if not isinstance(value, str):
            hint = " (put it in quotes)" if _is_number(value) else ""
            self.reader.expected(self.at(key), what + hint, value)
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.reader.expected(self.at(key), what, value)
            return None
        if pattern is None and len(value) > max_len:
            self.reader.expected(self.at(key), f"at most {max_len} characters", value)
            return None
        return value

    def integer(self, key: str, default: int, *, lo: int | None, hi: int | None, what: str) -> int:
        value = self.raw(key)
        if value is _MISSING:
            return default
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or (lo is not None and value < lo)
            or (hi is not None and value > hi)
        ):
            self.reader.expected(self.at(key), what, value)
            return default
        return value

    def port(self, key: str, default: int) -> int:
        return self.integer(key, default, lo=1, hi=65535, what="a port number 1..65535")

    def seconds(self, key: str, default: float | None) -> float | None:
        value = self.raw(key)
        if value is _MISSING:
            return default
        if not _is_number(value):
            self.reader.expected(self.at(key), "a number of seconds", value)
            return default
        return float(value)

    def number(self, key: str, default: float, *, what: str) -> float:
        value = self.raw(key)
        if value is _MISSING:
            return default
        if not _is_number(value):
            self.reader.expected(self.at(key), what, value)
            return default
        return float(value)

    def choice(self, key: str, default: _E, enum_type: type[_E]) -> _E:
        value = self.raw(key)
        if value is _MISSING:
            return default
        for member in enum_type:
            if member.value == value:
                return member
        self.reader.expected(
            self.at(key), _choices([str(member.value) for member in enum_type]), value
        )
        return default

    def literal(self, key: str, default: str, values: Sequence[str]) -> str:
        value = self.raw(key)
        if value is _MISSING:
            return default
        if isinstance(value, str) and value in values:
            return value
        self.reader.expected(self.at(key), _choices(values), value)
        return default

    def table(self, key: str, *, required: bool = False, what: str = "a table") -> _Table | None:
        value = self.raw(key)
        if value is _MISSING:
            if required:
                self.missing(key, what)
            return None
        if not isinstance(value, dict):
            self.reader.expected(self.at(key), what, value)
            return None
        return _Table(self.reader, value, self.at(key))

    def tables(self, key: str, *, what: str) -> list[_Table] | None:
        """An array of tables (``[[key]]``); None when missing or not an array."""
        value = self.raw(key)
        if value is _MISSING:
            return None
        if not isinstance(value, list):
            self.reader.expected(self.at(key), what, value)
            return None
        out = []
        for i, item in enumerate(value):
            path = f"{self.at(key)}[{i}]"
            if isinstance(item, dict):
                out.append(_Table(self.reader, item, path))
            else:
                self.reader.expected(path, "a table", item)
        return out

    def items(self) -> Iterator[tuple[str, object, str]]:
        for key, value in self.data.items():
            yield key, value, self.at(key)


class _Reader:
    def __init__(self, source: str, base_dir: Path | None, env: Mapping[str, str] | None) -> None:
        self.source = source
        self.base_dir = base_dir
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.issues: list[Issue] = []
        # What other sections may refer to; None when a section is too broken to say, so
        # that references to it are not checked (one mistake, one message).
        self.skills: frozenset[str] | None = None
        self.queue_names: frozenset[str] | None = None

    # ------------------------------------------------------------------ helpers

    def error(self, path: str, message: str) -> None:
        self.issues.append(Issue(self.source, path, message))

    def expected(self, path: str, what: str, found: object) -> None:
        self.error(path, f"expected {what}; found {_describe(found)}")

    def resolve(self, raw: str) -> Path:
        path = Path(raw)
        if path.is_absolute() or self.base_dir is None:
            return path
        return Path(os.path.normpath(self.base_dir / path))

    def levels(self, table: _Table, key: str, *, required: bool) -> dict[str, int]:
        """A table of skill levels, e.g. ``{ fault = 5 }``: declared skills, levels 1..10."""
        sub = table.table(key, required=required, what="a table of skill = level (1..10)")
        if sub is None:
            return {}
        if required and not sub.data:
            self.expected(sub.path, "at least one skill = level (1..10)", sub.data)
        out: dict[str, int] = {}
        for skill, level, path in sub.items():
            if self.skills is not None and skill not in self.skills:
                declared = ", ".join(sorted(self.skills)) or "none"
                self.error(
                    path, f"expected a skill declared in [skills] ({declared}); found {skill!r}"
                )
            if _is_int(level) and MIN_LEVEL <= level <= MAX_LEVEL:
                out[skill] = level
            else:
                self.expected(path, f"a level {MIN_LEVEL}..{MAX_LEVEL}", level)
        return out

    def listen_address(self, table: _Table, key: str, default: str) -> str:
        value = table.text(key, what="an IP address")
        if value is None:
            return default
        try:
            ipaddress.ip_address(value)
        except ValueError:
            self.expected(
                table.at(key),
                "an IP address to listen on (127.0.0.1: this machine only; "
                "0.0.0.0: every IPv4 interface)",
                value,
            )
            return default
        return value

    def required_tables(self, root: _Table, key: str) -> list[_Table] | None:
        """A required, non-empty array of tables (``[[queues]]``, ``[[agents]]``)."""
        what = f"at least one [[{key}]] table"
        if not root.has(key):
            root.missing(key, what)
            return None
        tables = root.tables(key, what=what)
        if tables is not None and not root.data[key]:
            self.expected(key, what, root.data[key])
            return None
        return tables

    def section(self, root: _Table, key: str, allowed: Sequence[str]) -> _Table:
        """An optional section: a missing one reads as empty (every key at its default)."""
        table = root.table(key)
        if table is None:
            return _Table(self, {}, key)
        table.check_keys(allowed)
        return table

    # ------------------------------------------------------------------ the file

    def config(self, data: Mapping[str, Any]) -> Config | None:
        root = _Table(self, dict(data), "")
        root.check_keys(_TOP_KEYS)
        server = self.server(self.section(root, "server", _SERVER_KEYS))
        ami = self.ami(root)
        agi = self.agi(self.section(root, "agi", _AGI_KEYS))
        if (server.listen, server.http_port) == (agi.listen, agi.port):
            self.error(
                "agi.port",
                f"expected a port other than server.http_port on {agi.listen}; "
                f"found {agi.port} for both",
            )
        store = self.store(self.section(root, "store", _STORE_KEYS))
        log = self.log(self.section(root, "log", _LOG_KEYS))
        skills = self.skill_table(root)
        queues = self.queues(root)
        agents = self.agents(root)
        trunks = self.trunks(root)
        groups = self.groups(root)
        recording_table = root.table("recording", what="a [recording] table")
        recording = (
            RecordingConfig()
            if recording_table is None
            else read_recording_table(self, recording_table)
        )
        ivr = None
        if root.has("ivr"):
            known = None if self.queue_names is None else {q.name: q.skills for q in queues}
            ivr = read_ivr(root.raw("ivr"), self, known)
        dispatch = self.dispatch(self.section(root, "dispatch", _DISPATCH_KEYS), queues)
        if self.issues:
            return None
        return Config(
            source=self.source,
            server=server,
            ami=ami,
            agi=agi,
            store=store,
            log=log,
            skills=MappingProxyType(skills),
            queues=queues,
            agents=agents,
            trunks=trunks,
            groups=MappingProxyType(groups),
            recording=recording,
            ivr=ivr,
            dispatch=dispatch,
        )

    def server(self, table: _Table) -> ServerConfig:
        return ServerConfig(
            listen=self.listen_address(table, "listen", DEFAULT_LISTEN),
            http_port=table.port("http_port", DEFAULT_HTTP_PORT),
        )

    def agi(self, table: _Table) -> AgiConfig:
        return AgiConfig(
            listen=self.listen_address(table, "listen", DEFAULT_LISTEN),
            port=table.port("port", DEFAULT_AGI_PORT),
        )

    def ami(self, root: _Table) -> AmiConfig:
        table = root.table(
            "ami", required=True, what="an [ami] table with secret_env or secret_file"
        )
        if table is None:
            return AmiConfig()
        table.check_keys(_AMI_KEYS)
        host = table.text("host", what="a host name or IP address")
        if host is not None and not _is_host(host):
            self.expected(table.at("host"), "a host name or IP address", host)
            host = None
        username = table.text(
            "username",
            pattern=_USERNAME_RE,
            what="an AMI user name (letters, digits, '_', '.', '@', '-')",
        )
        secret_env = table.text(
            "secret_env",
            pattern=_ENV_RE,
            what='the name of an environment variable, e.g. "HOTLINE_AMI_SECRET"',
        )
        secret_file_raw = table.text("secret_file", what="a file path", max_len=4096)
        secret_file = self.resolve(secret_file_raw) if secret_file_raw else None
        secret = ""
        if table.has("secret_env") and table.has("secret_file"):
            self.error(
                table.at("secret_file"),
                "expected either secret_env or secret_file; found both",
            )
        elif not table.has("secret_env") and not table.has("secret_file"):
            self.error(
                table.path,
                "expected secret_env (an environment variable) or secret_file (a file "
                "readable only by its owner) for the AMI secret; found neither "
                "(the secret itself never goes in this file)",
            )
        elif secret_env is not None:
            secret = self.secret_from_env(table.at("secret_env"), secret_env)
        elif secret_file is not None:
            secret = self.secret_from_file(table.at("secret_file"), secret_file)
        return AmiConfig(
            host=host or DEFAULT_LISTEN,
            port=table.port("port", DEFAULT_AMI_PORT),
            username=username or DEFAULT_AMI_USERNAME,
            secret_env=secret_env,
            secret_file=secret_file,
            secret=secret,
        )

    def secret_from_env(self, path: str, name: str) -> str:
        value = self.env.get(name, "")
        if not value:
            state = "is empty" if name in self.env else "is not set"
            self.error(
                path,
                f"expected the environment variable {name} to hold the AMI secret; "
                f"found it {state}",
            )
        return value

    def secret_from_file(self, path: str, file: Path) -> str:
        try:
            info = file.stat()
        except OSError as exc:
            self.error(path, f"expected a readable secret file; found {file}: {exc.strerror}")
            return ""
        if not stat.S_ISREG(info.st_mode):
            self.error(path, f"expected a regular file; found {file}, which is not")
            return ""
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            self.error(
                path,
                f"expected a secret file that only its owner can read or write (mode 0600 "
                f"or 0400); found {file} with mode {mode:04o} (fix: chmod 600 {file})",
            )
            return ""
        try:
            value = file.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not valid UTF-8"
            self.error(path, f"expected a readable secret file; found {file}: {reason}")
            return ""
        if not value.strip():
            self.error(path, f"expected the AMI secret in {file}; found the file empty")
        elif "\n" in value or "\r" in value:
            self.error(path, f"expected the AMI secret on one line in {file}; found several")
        return value

    def store(self, table: _Table) -> StoreConfig:
        path = table.text("path", what="a file path", max_len=4096) or DEFAULT_STORE_PATH
        recordings = (
            table.text("recordings_dir", what="a directory path", max_len=4096)
            or DEFAULT_RECORDINGS_DIR
        )
        return StoreConfig(path=self.resolve(path), recordings_dir=self.resolve(recordings))

    def log(self, table: _Table) -> LogConfig:
        level = table.literal("level", "info", LOG_LEVELS)
        fmt = table.literal("format", "auto", LOG_FORMATS)
        assert fmt in LOG_FORMATS
        return LogConfig(level=level, format=fmt)  # type: ignore[arg-type]

    def skill_table(self, root: _Table) -> dict[str, str]:
        table = root.table("skills", required=True, what='a [skills] table of name = "description"')
        if table is None:
            return {}
        before = len(self.issues)
        out: dict[str, str] = {}
        for name, description, path in table.items():
            if not _NAME_RE.fullmatch(name):
                self.expected(path, "a skill " + _NAME_WHAT, name)
            if not isinstance(description, str):
                self.expected(path, 'a description in quotes, e.g. "故障 faults"', description)
                continue
            out[name] = description
        if not table.data:
            self.expected(table.path, "at least one skill", table.data)
        if len(self.issues) == before:
            self.skills = frozenset(out)
        else:
            self.skills = frozenset(name for name in table.data if _NAME_RE.fullmatch(name))
        return out

    # ------------------------------------------------------------------ queues

    def queues(self, root: _Table) -> tuple[QueueSpec, ...]:
        start = len(self.issues)
        tables = self.required_tables(root, "queues")
        if tables is None:
            return ()
        specs: list[tuple[_Table, QueueSpec, bool]] = []
        first_seen: dict[str, str] = {}
        names_complete = len(tables) == len(root.data["queues"])
        for table in tables:
            before = len(self.issues)
            spec = self.queue(table)
            if spec is None:
                names_complete = False
                continue
            if spec.name in first_seen:
                self.error(
                    table.at("name"),
                    f"expected a unique queue name; found {spec.name!r} again "
                    f"(first at {first_seen[spec.name]})",
                )
            else:
                first_seen[spec.name] = table.path
            specs.append((table, spec, len(self.issues) == before))
        names = frozenset(first_seen)
        self.queue_names = names if names_complete and names else None
        for table, spec, _ in specs:
            if self.queue_names is None:
                break
            if spec.overflow_to is not None and spec.overflow_to not in names:
                self.expected(
                    table.at("overflow_to"),
                    f"the name of a queue ({', '.join(sorted(names))})",
                    spec.overflow_to,
                )
        # The ACD's own rules, on the queues that are sound so far.
        all_sound = True
        for table, spec, sound in specs:
            if not sound:
                all_sound = False
                continue
            try:
                spec.validate()
            except ModelError as exc:
                all_sound = False
                self.model_error(table, str(exc))
        if all_sound and specs and len(self.issues) == start:
            try:
                ACD(spec for _, spec, _ in specs)
            except ModelError as exc:
                self.overflow_error([(t, s) for t, s, _ in specs], str(exc))
        return tuple(spec for _, spec, _ in specs)

    def queue(self, table: _Table) -> QueueSpec | None:
        table.check_keys(_QUEUE_KEYS)
        name = table.text("name", required=True, pattern=_NAME_RE, what="a queue " + _NAME_WHAT)
        skills = self.levels(table, "skills", required=True)
        steps = self.escalation(table)
        overflow_to = table.text("overflow_to", what="the name of a queue")
        fallback = table.choice(
            "fallback", Fallback.OVERFLOW if overflow_to else Fallback.NONE, Fallback
        )
        if overflow_to is not None and table.has("fallback") and fallback is not Fallback.OVERFLOW:
            self.error(
                table.at("overflow_to"),
                f'expected overflow_to only with fallback = "overflow"; found fallback = '
                f"{fallback.value!r}",
            )
        max_wait_s = table.seconds("max_wait_s", None)
        spec = QueueSpec(
            name=name or "",
            skills=MappingProxyType(skills),
            priority=table.integer("priority", 0, lo=None, hi=None, what="an integer"),
            strategy=table.choice("strategy", Strategy.LONGEST_IDLE, Strategy),
            service_level_target=table.number(
                "service_level_target", 0.8, what="a fraction, e.g. 0.8 for 80 %"
            ),
            service_level_s=table.seconds("service_level_s", 20.0) or 0.0,
            wrap_up_s=table.seconds("wrap_up_s", 10.0) or 0.0,
            ring_timeout_s=table.seconds("ring_timeout_s", 15.0) or 0.0,
            max_wait_s=max_wait_s,
            fallback=fallback,
            overflow_to=overflow_to,
            escalation=steps,
            rona_misses=table.integer("rona_misses", 1, lo=1, hi=None, what="an integer >= 1"),
        )
        return spec if name is not None else None

    def escalation(self, table: _Table) -> tuple[EscalationStep, ...]:
        tables = table.tables("escalation", what="an array of [[queues.escalation]] tables")
        steps = []
        for step in tables or ():
            step.check_keys(_STEP_KEYS)
            after_s = step.seconds("after_s", None)
            if after_s is None and not step.has("after_s"):
                step.missing("after_s", "a number of seconds in the queue")
            min_level: int | None = None
            if step.has("min_level"):
                min_level = step.integer(
                    "min_level",
                    MIN_LEVEL,
                    lo=MIN_LEVEL,
                    hi=MAX_LEVEL,
                    what=f"a level {MIN_LEVEL}..{MAX_LEVEL}",
                )
            add_skills = self.levels(step, "add_skills", required=False)
            steps.append(
                EscalationStep(
                    after_s=after_s if after_s is not None else 0.0,
                    min_level=min_level,
                    add_skills=MappingProxyType(add_skills),
                )
            )
        return tuple(steps)

    def model_error(self, table: _Table, message: str) -> None:
        """Point an :class:`acd.ModelError` about one queue at the key it is about.

        The ACD words its rules as ``FIELD must be RULE``; that becomes ``KEY PATH: expected
        a value RULE; found VALUE``. Other messages are kept as they are, after the key path.
        """
        text = re.sub(r"^queue '[^']*': ", "", message)
        where = table.path
        raw: object = _MISSING
        step = re.search(r"escalation\[(\d+)\](?:\.(\w+))?", text)
        if step:
            index = int(step[1])
            where = f"{table.path}.escalation[{index}]"
            steps = table.raw("escalation")
            if step[2]:
                where += f".{step[2]}"
                if isinstance(steps, list) and isinstance(steps[index], dict):
                    raw = steps[index].get(step[2], _MISSING)
            rest = text[step.end() :].lstrip()
        else:
            mentioned = [m for m in re.finditer(r"\w+", text) if m[0] in _QUEUE_KEYS]
            if not mentioned:
                self.error(where, text)
                return
            where = table.at(mentioned[0][0])
            raw = table.raw(mentioned[0][0])
            rest = text[mentioned[0].end() :].lstrip() if mentioned[0].start() == 0 else ""
        must = re.fullmatch(r"must be (.*?)(?:, got .*)?", rest)
        if must and raw is not _MISSING:
            text = f"expected a value {must[1]}; found {_describe(raw)}"
        elif rest == "widens nothing":
            text = "expected min_level or add_skills (a step must widen who may take the call)"
            text += "; found neither"
        self.error(where, text)

    def overflow_error(self, specs: list[tuple[_Table, QueueSpec]], message: str) -> None:
        """Point an error of ``ACD(queues)`` (an overflow loop, ...) at a queue."""
        match = re.match(r"overflow loop: (\S+) ->", message) or re.match(
            r"queue '([^']*)'", message
        )
        if match:
            for table, spec in specs:
                if spec.name == match[1]:
                    self.error(table.at("overflow_to"), message)
                    return
        self.error("queues", message)

    # ------------------------------------------------------------------ agents

    def agents(self, root: _Table) -> tuple[AgentConfig, ...]:
        tables = self.required_tables(root, "agents")
        if tables is None:
            return ()
        agents: list[AgentConfig] = []
        ids: dict[str, str] = {}
        extensions: dict[str, str] = {}
        for table in tables:
            table.check_keys(_AGENT_KEYS)
            agent_id = table.text("id", required=True, pattern=_AGENT_ID_RE, what=_AGENT_ID_WHAT)
            extension = table.text("extension", pattern=_EXTENSION_RE, what=_EXTENSION_WHAT)
            name = table.text("name", what=f"a display name (at most {_MAX_NAME_LEN})")
            role = table.choice("role", Role.AGENT, Role)
            skills = self.levels(table, "skills", required=False)
            dispatch = self.dispatch_level(table, role)
            if agent_id is not None:
                if agent_id in ids:
                    self.error(
                        table.at("id"),
                        f"expected a unique agent id; found {agent_id!r} again "
                        f"(first at {ids[agent_id]})",
                    )
                else:
                    ids[agent_id] = table.path
            if extension is not None:
                if extension in extensions:
                    self.error(
                        table.at("extension"),
                        f"expected a unique extension; found {extension!r} again "
                        f"(first at {extensions[extension]})",
                    )
                else:
                    extensions[extension] = table.path
            if agent_id is not None:
                agents.append(
                    AgentConfig(
                        agent_id=agent_id,
                        name=name or "",
                        extension=extension,
                        role=role,
                        skills=MappingProxyType(skills),
                        dispatch=dispatch,
                    )
                )
        return tuple(agents)

    # ------------------------------------------------------------------ trunks, groups

    def trunks(self, root: _Table) -> tuple[TrunkConfig, ...]:
        tables = root.tables("trunks", what="an array of [[trunks]] tables")
        trunks: list[TrunkConfig] = []
        names: dict[str, str] = {}
        queues = self.queue_names
        queue_what = "the name of a queue"
        if queues is not None:
            queue_what += f" ({', '.join(sorted(queues))})"
        for table in tables or ():
            table.check_keys(_TRUNK_KEYS)
            name = table.text("name", required=True, pattern=_NAME_RE, what="a trunk " + _NAME_WHAT)
            if name is not None:
                if name in names:
                    self.error(
                        table.at("name"),
                        f"expected a unique trunk name; found {name!r} again "
                        f"(first at {names[name]})",
                    )
                else:
                    names[name] = table.path
            channels = table.integer(
                "channels", DEFAULT_E1_CHANNELS, lo=1, hi=None, what="a number of channels >= 1"
            )
            routes: dict[str, str] = {}
            sub = table.table("routes", what='a table of "dialled number" = "queue"')
            for number, queue, path in sub.items() if sub is not None else ():
                if not _NUMBER_RE.fullmatch(number):
                    self.expected(path, _NUMBER_WHAT, number)
                if not isinstance(queue, str) or (queues is not None and queue not in queues):
                    self.expected(path, queue_what, queue)
                    continue
                routes[number] = queue
            default_queue = table.text("default_queue", what=queue_what)
            if default_queue is not None and queues is not None and default_queue not in queues:
                self.expected(table.at("default_queue"), queue_what, default_queue)
            if name is not None:
                trunks.append(
                    TrunkConfig(
                        name=name,
                        channels=channels,
                        routes=MappingProxyType(routes),
                        default_queue=default_queue,
                    )
                )
        return tuple(trunks)

    def dispatch_level(self, table: _Table, role: Role) -> DispatchLevel | None:
        if not table.has("dispatch"):
            return None
        level = table.choice("dispatch", DispatchLevel.SUB, DispatchLevel)
        role_given = table.data.get("role", Role.AGENT.value)
        if role_given in set(Role) and not role.at_least(Role.SUPERVISOR):
            self.error(
                table.at("dispatch"),
                'expected a dispatch level only on a supervisor or admin (role = "supervisor")',
            )
        return level

    def dispatch(self, table: _Table, queues: Sequence[QueueSpec]) -> DispatchConfig:
        numbers: list[str] = []
        raw = table.data.get("emergency_numbers", [])
        if not isinstance(raw, list):
            self.expected(
                table.at("emergency_numbers"), 'an array of numbers, e.g. ["110", "120"]', raw
            )
            raw = []
        for i, number in enumerate(raw):
            if not isinstance(number, str) or not _NUMBER_RE.fullmatch(number):
                self.expected(f"{table.at('emergency_numbers')}[{i}]", _NUMBER_WHAT, number)
            else:
                numbers.append(number)
        priority = table.integer(
            "emergency_priority",
            DEFAULT_EMERGENCY_PRIORITY,
            lo=None,
            hi=None,
            what="an integer above every queue's priority",
        )
        top = max((q.priority for q in queues), default=0)
        if numbers and priority <= top:
            self.error(
                table.at("emergency_priority"),
                f"expected a priority above every queue's (the highest is {top}); found {priority}",
            )
        return DispatchConfig(frozenset(numbers), priority)

    def groups(self, root: _Table) -> dict[str, tuple[str, ...]]:
        table = root.table("groups", what='a [groups] table of name = ["extension", ...]')
        out: dict[str, tuple[str, ...]] = {}
        for name, members, path in table.items() if table is not None else ():
            if not _NAME_RE.fullmatch(name):
                self.expected(path, "a group " + _NAME_WHAT, name)
            if not isinstance(members, list) or not members:
                self.expected(
                    path, 'a non-empty array of extensions, e.g. ["8001", "8002"]', members
                )
                continue
            seen: list[str] = []
            for i, member in enumerate(members):
                if not isinstance(member, str) or not _EXTENSION_RE.fullmatch(member):
                    self.expected(f"{path}[{i}]", _EXTENSION_WHAT, member)
                elif member in seen:
                    self.expected(f"{path}[{i}]", "each extension once", member)
                else:
                    seen.append(member)
            out[name] = tuple(seen)
        return out


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return bool(_HOSTNAME_RE.fullmatch(value))
    return True


# --------------------------------------------------------------------------- the demo

# The demo call center, in the same schema as config/hotline.toml (which describes the same
# center with a comment on every key). Chosen to show every routing feature: a priority
# queue, escalation (fault), overflow (inquiry -> general), several strategies.
DEMO_TOML: Final = """
[server]
listen = "127.0.0.1"
http_port = 8080

[ami]
host = "127.0.0.1"
port = 5038
username = "hotline"
secret_env = "HOTLINE_AMI_SECRET"

[agi]
listen = "127.0.0.1"
port = 4573

[store]
path = "var/demo/hotline.db"
recordings_dir = "var/demo/recordings"

[log]
level = "info"
format = "auto"

[skills]
fault = "故障 — faults: outages, broken equipment"
complaint = "投诉 — complaints"
inquiry = "咨询 — inquiries: bills, tariffs, how-to"
general = "综合 — general calls, any topic"

[[queues]]
name = "fault"
skills = { fault = 5 }
priority = 10
strategy = "most_skilled"
max_wait_s = 180
fallback = "callback"
  [[queues.escalation]]
  after_s = 30
  min_level = 3
  [[queues.escalation]]
  after_s = 60
  add_skills = { general = 5 }

[[queues]]
name = "complaint"
skills = { complaint = 5 }
priority = 5
strategy = "least_occupied"
wrap_up_s = 30

[[queues]]
name = "inquiry"
skills = { inquiry = 3 }
strategy = "longest_idle"
max_wait_s = 60
overflow_to = "general"

[[queues]]
name = "general"
skills = { general = 1 }
strategy = "fewest_calls"

[[agents]]
id = "80000"
name = "Desk 0 (you)"
extension = "8000"
skills = { fault = 6, complaint = 6, inquiry = 6, general = 6 }

[[agents]]
id = "80001"
name = "Zhang Wei"
extension = "8001"
skills = { fault = 9, general = 5 }

[[agents]]
id = "80002"
name = "Wang Fang"
extension = "8002"
skills = { fault = 7, general = 5 }

[[agents]]
id = "80003"
name = "Li Na"
extension = "8003"
skills = { fault = 5, inquiry = 4, general = 5 }

[[agents]]
id = "80004"
name = "Liu Yang"
extension = "8004"
skills = { fault = 3, general = 6 }

[[agents]]
id = "80005"
name = "Chen Jing"
extension = "8005"
skills = { complaint = 9, general = 5 }

[[agents]]
id = "80006"
name = "Yang Min"
extension = "8006"
skills = { complaint = 7, general = 5 }

[[agents]]
id = "80007"
name = "Zhao Lei"
extension = "8007"
skills = { complaint = 6, inquiry = 5, general = 5 }

[[agents]]
id = "80008"
name = "Huang Li"
extension = "8008"
skills = { complaint = 5, general = 4 }

[[agents]]
id = "80009"
name = "Zhou Qiang"
extension = "8009"
skills = { inquiry = 8, general = 5 }

[[agents]]
id = "80010"
name = "Wu Xia"
extension = "8010"
skills = { inquiry = 7, general = 5 }

[[agents]]
id = "80011"
name = "Xu Jun"
extension = "8011"
skills = { inquiry = 5, fault = 2, general = 5 }

[[agents]]
id = "80012"
name = "Sun Hui"
extension = "8012"
skills = { general = 8 }

[[agents]]
id = "90001"
name = "Supervisor"
extension = "9001"
role = "supervisor"
dispatch = "main"


[[trunks]]
name = "e1"
channels = 30
default_queue = "general"
  [trunks.routes]
  "4000" = "general"
  "4001" = "fault"
  "4002" = "complaint"
  "4003" = "inquiry"

[dispatch]
emergency_numbers = ["110", "119", "120", "122"]
emergency_priority = 1000

[groups]
fault-team = ["8001", "8002", "8003", "8004"]
complaint-team = ["8005", "8006", "8007", "8008"]
inquiry-team = ["8009", "8010", "8011"]

[recording]
default = "never"
retention_days = 7
  [recording.queues.fault]
  policy = "always"
  [recording.queues.complaint]
  policy = "on_demand"
  [recording.queues.inquiry]
  policy = "percent"
  percent = 20
"""
