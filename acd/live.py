"""The ACD's live objects: an agent, a call and a queue as they are right now.

They are plain mutable records owned by :class:`acd.router.ACD`; nothing outside the
ACD may change them (the router hands out read-only views).
"""

from __future__ import annotations

import enum
from collections import Counter
from typing import TYPE_CHECKING, Any

from acd.model import AgentSpec, QueueSpec, Requirement, Strategy
from acd.states import AgentState

if TYPE_CHECKING:
    from collections.abc import Mapping


class CallState(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    CONNECTED = "connected"


class LiveQueue:
    __slots__ = (
        "abandoned",
        "abandoned_short",
        "agents_busy",
        "agents_ready",
        "answered",
        "answered_in_sl",
        "entered",
        "fallbacks",
        "index",
        "name",
        "overflowed",
        "priorities",
        "spec",
        "step_call_pools",
        "step_pools",
        "steps",
        "waiting",
    )

    def __init__(self, spec: QueueSpec, index: int) -> None:
        self.spec = spec
        self.name = spec.name
        self.index = index
        self.steps: tuple[tuple[Requirement, ...], ...] = spec.steps()
        # Filled by the heap index: per step, the agent pools and the call pools of the
        # step's alternatives.
        self.step_pools: list[list[Any]] = []
        self.step_call_pools: list[list[Any]] = []
        self.waiting: dict[str, LiveCall] = {}  # waiting or ringing an agent
        self.priorities: Counter[int] = Counter()  # of waiting calls, for positions
        self.agents_ready = 0  # qualifying at step 0
        self.agents_busy = 0
        self.entered = 0
        self.answered = 0
        self.answered_in_sl = 0
        self.abandoned = 0
        self.abandoned_short = 0  # before the service-level threshold: not counted against it
        self.overflowed = 0
        self.fallbacks = 0

    @property
    def strategy(self) -> Strategy:
        return self.spec.strategy


class LiveAgent:
    __slots__ = (
        "call",
        "call_pools",
        "calls",
        "epoch",
        "home_queues",
        "last_offer",
        "misses",
        "order",
        "pooled",
        "pools",
        "previous",
        "ready_since",
        "reason",
        "since",
        "skills",
        "spec",
        "state",
        "talk_s",
    )

    def __init__(self, spec: AgentSpec, order: int) -> None:
        self.spec = spec
        self.order = order  # final tie-breaker: configuration order
        self.skills: Mapping[str, int] = spec.skills
        self.state = AgentState.LOGGED_OUT
        self.reason: str | None = None
        self.since = 0.0
        self.ready_since = 0.0
        # Bumped whenever the agent leaves ready: index entries and timers made in an
        # earlier epoch are stale and skipped.
        self.epoch = 0
        self.misses = 0  # consecutive offers not answered
        self.calls = 0  # handled in the current period
        self.talk_s = 0.0  # in the current period
        self.last_offer = -1  # the ACD's offer sequence number at this agent's last offer
        self.call: LiveCall | None = None
        self.previous: tuple[AgentState, str | None] | None = None  # before a direct call
        # Queues whose own requirement the agent meets (for the per-queue agent counts),
        # and the index's agent and call pools of the requirements it meets.
        self.home_queues: list[LiveQueue] = []
        self.pools: list[Any] = []
        self.call_pools: list[Any] = []
        self.pooled = False  # in the index's pools: ready and waiting for a call

    @property
    def agent_id(self) -> str:
        return self.spec.agent_id


class LiveCall:
    __slots__ = (
        "agent",
        "answered_at",
        "call_id",
        "caller",
        "enqueued_at",
        "entered_at",
        "epoch",
        "index_epoch",
        "offers",
        "priority",
        "queue",
        "seq",
        "state",
        "step",
    )

    def __init__(
        self,
        call_id: str,
        queue: LiveQueue,
        priority: int,
        now: float,
        seq: int,
        caller: str | None,
    ) -> None:
        self.call_id = call_id
        self.queue = queue
        self.priority = priority
        self.enqueued_at = now  # the caller's wait counts from here, whatever happens
        self.entered_at = now  # entered the current queue (escalation and max wait)
        self.seq = seq  # final tie-breaker: arrival order
        self.caller = caller
        self.state = CallState.WAITING
        self.step = 0
        self.epoch = 0  # bumped per queue entry and per offer: stale timers are skipped
        self.index_epoch = 0  # bumped when it leaves the call index
        self.agent: LiveAgent | None = None
        self.answered_at = 0.0
        self.offers = 0

    def sort_key(self) -> tuple[int, float, int]:
        """Highest priority first, then the longest wait, then arrival order."""
        return (-self.priority, self.enqueued_at, self.seq)
