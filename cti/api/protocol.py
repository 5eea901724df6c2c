"""The WebSocket protocol, version 1 (DESIGN.md §3.1), without any I/O.

Frames in: :func:`parse_command` turns one text frame into a :class:`Command` whose
parameters have been checked against the op's schema, or raises :class:`ClientError`
with the contract's error code. Frames out: :func:`reply_ok`, :func:`reply_error` and
:class:`EventFrame`, which serialises an event once and stamps each connection's ``seq``
into it without encoding the JSON again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from cti.config import Role

MAX_FRAME_BYTES: Final = 64 * 1024
PROTOCOL_VERSION: Final = 1

# Error codes of the contract; every refusal uses one of them.
ERROR_CODES: Final = frozenset(
    {
        "invalid_json",
        "invalid_frame",
        "too_large",
        "unauthenticated",
        "forbidden",
        "unknown_op",
        "invalid_params",
        "not_found",
        "conflict",
        "invalid_state",
        "rate_limited",
        "pbx_unavailable",
        "resume_gap",
    }
)

TOPICS: Final = frozenset(
    {"self", "agents", "calls", "queues", "trunks", "extensions", "pbx", "conferences"}
)
AGENT_TOPICS: Final = frozenset({"self", "queues"})  # the rest are for supervisors and admins
DISPOSITIONS: Final = ("fault", "complaint", "inquiry", "other")
MAX_TEXT: Final = 2000  # notes, reasons
MAX_EXTENSIONS: Final = 63  # select-call conference size of the seeds' consoles


class ClientError(Exception):
    """What a client did wrong; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message


# ------------------------------------------------------------------ parameter checks

Check = Callable[[str, object], object]


def _text(max_len: int = 200, *, digits: bool = False) -> Check:
    def check(field: str, value: object) -> object:
        if not isinstance(value, str) or not value:
            raise ClientError("invalid_params", f"{field}: expected a non-empty string")
        if len(value) > max_len:
            raise ClientError("invalid_params", f"{field}: longer than {max_len} characters")
        if digits and not (value.isascii() and value.lstrip("+").isdigit()):
            raise ClientError("invalid_params", f"{field}: expected digits, got {value!r}")
        return value

    return check


def _free_text(field: str, value: object) -> object:
    if not isinstance(value, str):
        raise ClientError("invalid_params", f"{field}: expected a string")
    if len(value) > MAX_TEXT:
        raise ClientError("invalid_params", f"{field}: longer than {MAX_TEXT} characters")
    return value


def _boolean(field: str, value: object) -> object:
    if not isinstance(value, bool):
        raise ClientError("invalid_params", f"{field}: expected true or false")
    return value


def _integer(field: str, value: object) -> object:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ClientError("invalid_params", f"{field}: expected a non-negative integer")
    return value


def _one_of(*choices: str) -> Check:
    def check(field: str, value: object) -> object:
        if value not in choices:
            raise ClientError("invalid_params", f"{field}: expected one of {', '.join(choices)}")
        return value

    return check


def _topics(field: str, value: object) -> object:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ClientError("invalid_params", f"{field}: expected a list of topic names")
    unknown = sorted(set(value) - TOPICS)
    if unknown:
        raise ClientError(
            "invalid_params",
            f"{field}: unknown topic {unknown[0]!r}; topics are {', '.join(sorted(TOPICS))}",
        )
    return frozenset(value)


def _extensions(field: str, value: object) -> object:
    digits = _text(20, digits=True)
    if not isinstance(value, list) or not value:
        raise ClientError("invalid_params", f"{field}: expected a non-empty list of extensions")
    if len(value) > MAX_EXTENSIONS:
        raise ClientError("invalid_params", f"{field}: at most {MAX_EXTENSIONS} extensions")
    return tuple(digits(f"{field}[{i}]", v) for i, v in enumerate(value))


@dataclass(frozen=True, slots=True)
class OpSpec:
    role: Role | None  # None: allowed before login (only `login`)
    required: Mapping[str, Check]
    optional: Mapping[str, Check]


def _op(
    role: Role | None,
    required: Mapping[str, Check] | None = None,
    optional: Mapping[str, Check] | None = None,
) -> OpSpec:
    return OpSpec(role, required or {}, optional or {})


_CALL = {"call_id": _text(128)}
A, S = Role.AGENT, Role.SUPERVISOR
_EXTENSION = {"extension": _text(20, digits=True)}
_ROOM = {"conference": _text(20, digits=True)}
MONITOR_MODES: Final = ("listen", "whisper", "barge", "stop")

SUPERVISOR_OPS: Final[Mapping[str, OpSpec]] = {
    "call.monitor": _op(S, {**_CALL, "mode": _one_of(*MONITOR_MODES)}),
    "extension.barge": _op(S, _EXTENSION),
    "conference.add": _op(S, {**_ROOM, "extensions": _extensions}),
    "conference.drop": _op(S, {**_ROOM, **_EXTENSION}),
    "conference.mute": _op(S, {**_ROOM, **_EXTENSION}),
    "conference.unmute": _op(S, {**_ROOM, **_EXTENSION}),
    "conference.end": _op(S, _ROOM),
    "group.list": _op(S),
    "group.create": _op(
        S, {"name": _text(64), "extensions": _extensions}, {"description": _free_text}
    ),
    "group.update": _op(
        S, {"name": _text(64)}, {"extensions": _extensions, "description": _free_text}
    ),
    "group.delete": _op(S, {"name": _text(64)}),
}

OPS: Final[Mapping[str, OpSpec]] = {
    "login": _op(
        None,
        optional={
            "agent_id": _text(32),
            "password": _text(256),
            "extension": _text(20, digits=True),
            "token": _text(256),
            "takeover": _boolean,
        },
    ),
    "subscribe": _op(A, {"topics": _topics}),
    "resume": _op(A, {"last_eid": _integer}),
    "snapshot": _op(A, optional={"topics": _topics}),
    "agent.ready": _op(A),
    "agent.not_ready": _op(A, {"reason": _text(64)}),
    "agent.logout": _op(A),
    "agent.wrap_up_done": _op(
        A,
        {"disposition": _one_of(*DISPOSITIONS)},
        {"notes": _free_text, "resolved": _boolean, "call_id": _text(128)},
    ),
    "call.hangup": _op(A, _CALL),
    "call.hold": _op(A, _CALL),
    "call.unhold": _op(A, _CALL),
    "call.transfer": _op(
        A, {**_CALL, "to": _text(32, digits=True), "mode": _one_of("blind", "attended")}
    ),
    "call.conference": _op(A, {**_CALL, "to": _text(32, digits=True)}),
    "call.dial": _op(A, {"number": _text(32, digits=True)}),
    "call.listen": _op(S, _CALL),
    "call.whisper": _op(S, _CALL),
    "call.barge": _op(S, _CALL),
    "call.release": _op(S, _CALL, {"reason": _free_text}),
    "extension.pickup": _op(S, {"extension": _text(20, digits=True)}),
    "extension.call": _op(S, {"extension": _text(20, digits=True)}, {"barge": _boolean}),
    "conference.start": _op(S, {"extensions": _extensions}),
    "group.call": _op(S, {"group": _text(64)}),
    # recorder/: an agent records, pauses, resumes and stops the recording of its own call
    "call.record": _op(A, _CALL),
    "call.record_pause": _op(A, _CALL),
    "call.record_resume": _op(A, _CALL),
    "call.record_stop": _op(A, _CALL),
    # Supervisor and dispatcher functions (docs/dispatch.md); the shapes above stay.
    **SUPERVISOR_OPS,
}


@dataclass(frozen=True, slots=True)
class Command:
    op: str
    id: Any  # whatever JSON value the client chose; echoed in the reply
    params: Mapping[str, Any]
    spec: OpSpec


def parse_frame(data: str | bytes) -> tuple[Any, dict[str, Any]]:
    """Decode one frame into (id, object). Errors carry id None: the frame is not trusted."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > MAX_FRAME_BYTES:
        raise ClientError("too_large", f"frame of {size} bytes; the limit is {MAX_FRAME_BYTES}")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ClientError("invalid_json", f"not valid JSON: {error}") from None
    if not isinstance(obj, dict):
        raise ClientError("invalid_frame", "a command is a JSON object")
    op = obj.get("op")
    if not isinstance(op, str) or not op:
        raise ClientError("invalid_frame", "a command needs an 'op' string")
    return obj.get("id"), obj


def parse_command(obj: dict[str, Any], role: Role | None) -> Command:
    """Check the op, the caller's role (before anything else), then the parameters."""
    op = obj["op"]
    spec = OPS.get(op)
    if spec is None:
        raise ClientError("unknown_op", f"unknown op {op!r}")
    if spec.role is not None:
        if role is None:
            raise ClientError("unauthenticated", "log in first")
        if not role.at_least(spec.role):
            raise ClientError("forbidden", f"{op} needs the {spec.role.value} role")
    params: dict[str, Any] = {}
    for name, check in spec.required.items():
        if name not in obj:
            raise ClientError("invalid_params", f"{name}: required")
        params[name] = check(name, obj[name])
    for name, check in spec.optional.items():
        if name in obj and obj[name] is not None:
            params[name] = check(name, obj[name])
    extra = sorted(set(obj) - {"op", "id"} - set(spec.required) - set(spec.optional))
    if extra:
        raise ClientError("invalid_params", f"{extra[0]}: not a parameter of {op}")
    return Command(op, obj.get("id"), params, spec)


# ------------------------------------------------------------------------ frames out


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def reply_ok(command_id: Any, data: Mapping[str, Any] | None = None) -> str:
    return _dumps({"type": "reply", "id": command_id, "ok": True, "data": data or {}})


def reply_error(command_id: Any, code: str, message: str) -> str:
    assert code in ERROR_CODES, code
    error = {"code": code, "message": message}
    return _dumps({"type": "reply", "id": command_id, "ok": False, "error": error})


class EventFrame:
    """One event, encoded once; ``frame(seq)`` is the text for one connection."""

    __slots__ = ("agents", "eid", "event", "prefix", "suffix", "topics")

    def __init__(
        self,
        eid: int,
        event: str,
        ts: str,
        data: Mapping[str, Any],
        topics: frozenset[str],
        agents: frozenset[str] = frozenset(),
    ) -> None:
        self.eid = eid
        self.event = event
        self.topics = topics  # who sees it by subscription
        self.agents = agents  # whose "self" topic it belongs to
        self.prefix = f'{{"type":"event","event":{_dumps(event)},"seq":'
        self.suffix = f',"eid":{eid},"ts":{_dumps(ts)},"data":{_dumps(data)}}}'

    def frame(self, seq: int) -> str:
        return f"{self.prefix}{seq}{self.suffix}"

    def visible_to(self, topics: frozenset[str], agent_id: str | None) -> bool:
        if not topics.isdisjoint(self.topics):
            return True
        return "self" in topics and agent_id is not None and agent_id in self.agents
