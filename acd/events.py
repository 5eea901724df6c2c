"""What the ACD decides, as data: the server executes the offers and publishes the rest."""

from __future__ import annotations

from dataclasses import dataclass

from acd.states import AgentState


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    agent_id: str
    state: AgentState
    previous: AgentState
    reason: str | None
    since: float


@dataclass(frozen=True, slots=True)
class CallQueued:
    call_id: str
    queue: str
    position: int  # 1 = next to be served in this queue
    priority: int


@dataclass(frozen=True, slots=True)
class CallOffered:
    """Ring ``agent_id`` for ``call_id``: the agent is reserved for this call only."""

    call_id: str
    agent_id: str
    queue: str
    step: int  # the escalation step that made this agent eligible
    ring_deadline: float | None  # when the ACD will call it a no-answer (None: never)


@dataclass(frozen=True, slots=True)
class CallAnswered:
    call_id: str
    agent_id: str
    queue: str
    wait_s: float


@dataclass(frozen=True, slots=True)
class CallRequeued:
    """The offered agent did not answer (RONA): the call is back at its old place."""

    call_id: str
    queue: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class CallEscalated:
    call_id: str
    queue: str
    step: int


@dataclass(frozen=True, slots=True)
class CallOverflowed:
    call_id: str
    from_queue: str
    to_queue: str
    wait_s: float


@dataclass(frozen=True, slots=True)
class CallFallback:
    """The call waited its queue's maximum and leaves the ACD for ``outcome``."""

    call_id: str
    queue: str
    outcome: str  # "callback" | "voicemail"
    wait_s: float


@dataclass(frozen=True, slots=True)
class CallAbandoned:
    call_id: str
    queue: str
    wait_s: float
    agent_id: str | None  # the agent whose phone was ringing, if any


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    queue: str
    agent_id: str
    wait_s: float
    talk_s: float


Event = (
    AgentStateChanged
    | CallQueued
    | CallOffered
    | CallAnswered
    | CallRequeued
    | CallEscalated
    | CallOverflowed
    | CallFallback
    | CallAbandoned
    | CallEnded
)
