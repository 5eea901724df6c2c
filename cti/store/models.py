"""What the store holds, as frozen dataclasses. Times are Unix seconds (UTC), floats."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from cti.config import Role

__all__ = [
    "UNSET",
    "Agent",
    "AgentStateChange",
    "CallLeg",
    "CallOutcome",
    "CallRecord",
    "Customer",
    "Direction",
    "Disposition",
    "Group",
    "ImportReport",
    "RowError",
    "SeedReport",
    "Transfer",
    "Unset",
]


class Unset(enum.Enum):
    """The type of :data:`UNSET`: "leave this field as it is" in an update."""

    UNSET = 0


UNSET: Final = Unset.UNSET


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class CallOutcome(enum.StrEnum):
    """How a call ended (or that it has not yet)."""

    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"  # an agent (or the dialled party) talked to the caller
    ABANDONED = "abandoned"  # the caller hung up while waiting or ringing
    BLOCKED = "blocked"  # the trunk was full (cause 34)
    FALLBACK = "fallback"  # max wait reached: callback / voicemail / announcement
    REJECTED = "rejected"  # no route for the dialled number
    NO_ANSWER = "no_answer"  # outbound or internal: nobody answered
    BUSY = "busy"
    FAILED = "failed"


class Disposition(enum.StrEnum):
    """What the call was about, set by the agent in wrap-up (故障/投诉/咨询/其他)."""

    FAULT = "fault"
    COMPLAINT = "complaint"
    INQUIRY = "inquiry"
    OTHER = "other"


def _frozen_map(value: Mapping[str, int] | None = None) -> Mapping[str, int]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True, slots=True)
class Agent:
    """An account. The password hash never leaves the store; ``has_password`` tells
    whether one is set (an agent without one cannot log in)."""

    agent_id: str
    name: str = ""
    extension: str | None = None
    role: Role = Role.AGENT
    enabled: bool = True
    skills: Mapping[str, int] = field(default_factory=_frozen_map)
    has_password: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Customer:
    """A CRM customer. ``phones`` as they were entered, first one first."""

    id: int
    name: str
    phones: tuple[str, ...] = ()
    address: str = ""
    account_id: str | None = None
    service_id: str | None = None
    notes: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Transfer:
    """One hop of a call's transfer chain."""

    from_agent: str | None
    to: str  # an agent id, extension or number
    mode: str = "blind"  # blind | attended
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class CallLeg:
    """One party the call was offered to or connected with, in order (``seq`` 0, 1, ...).

    ``outcome`` of a leg: ``answered``, ``no_answer`` (RONA), ``rejected``, ``busy``,
    ``failed``, ``abandoned`` (the caller left while it rang), ``in_progress``.
    The wrap-up fields are filled in by :meth:`Store.set_wrap_up` for that agent's leg.
    """

    agent_id: str | None = None
    extension: str | None = None
    queue: str | None = None
    started_at: float | None = None  # offered / started ringing
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: str = "in_progress"
    cause: str | None = None
    talk_s: float | None = None
    wrap_up_s: float | None = None
    disposition: Disposition | None = None
    notes: str | None = None
    resolved: bool | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call, from the trunk (or a phone) to its end, with every leg.

    The server writes it with :meth:`Store.upsert_call` when the call starts, changes and
    ends (the same ``call_id`` each time; the last write wins, except for the wrap-up fields
    ``disposition``, ``notes``, ``resolved``, ``wrap_up_s`` and ``satisfaction``, which a
    later write without them does not erase).
    """

    call_id: str
    started_at: float
    direction: Direction = Direction.INBOUND
    caller_number: str | None = None
    caller_name: str | None = None
    dialled_number: str | None = None
    trunk: str | None = None
    queue: str | None = None
    agent_id: str | None = None  # the agent who answered (the last one, after transfers)
    enqueued_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    wait_s: float | None = None
    talk_s: float | None = None  # answer to end, hold included
    wrap_up_s: float | None = None
    outcome: CallOutcome = CallOutcome.IN_PROGRESS
    cause: str | None = None  # hang-up cause, e.g. "16" / "normal_clearing" / "34"
    disposition: Disposition | None = None
    notes: str | None = None
    resolved: bool | None = None
    transfers: tuple[Transfer, ...] = ()
    ivr_path: tuple[str, ...] = ()
    satisfaction: int | None = None  # 1..5 from the after-call survey; None: not asked
    legs: tuple[CallLeg, ...] = ()
    hold_s: float | None = None  # time on hold, a part of talk_s; None: never held
    updated_at: float = 0.0  # set by the store
    released_by: str | None = None  # the supervisor who force-released it (强拆)
    release_reason: str | None = None


@dataclass(frozen=True, slots=True)
class AgentStateChange:
    """An interval of one agent state; ``until`` is None while it lasts."""

    id: int
    agent_id: str
    state: str
    reason: str | None
    since: float
    until: float | None


@dataclass(frozen=True, slots=True)
class Group:
    """A preset group call (群呼): extensions rung together."""

    name: str
    extensions: tuple[str, ...]
    description: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # 1-based line of the CSV file where the row starts
    reason: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int  # data rows read (blank lines not counted)
    created: int
    updated: int  # rows whose account_id matched an existing customer
    errors: tuple[RowError, ...]


@dataclass(frozen=True, slots=True)
class SeedReport:
    skills_created: int = 0
    agents_created: int = 0
    passwords_set: int = 0
    groups_created: int = 0
