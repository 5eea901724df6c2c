"""A model of a whole call center on a virtual clock: callers, one trunk, agents, the ACD.

Pure and synchronous like the ACD it drives: nothing here reads a clock or sleeps, so
a day of traffic runs in seconds, and a seed reproduces a run exactly. Calls arrive from
:class:`~pbx_sim.workload.Callers` on a trunk of ``channels``; a call that finds every
channel busy is blocked (counted, never dropped silently). An admitted call enters the
queue its dialled number routes to; the ACD offers it; the agent's simulated phone
answers after ``answer_delay_s`` (or, with probability ``no_answer``, never, so the
ACD's ring timeout does RONA); the caller talks for a holding time and hangs up; a
caller whose patience runs out first abandons. With no agents at all, an auto-attendant
answers every admitted call at once and the call simply holds its channel (the pure
trunk case of Erlang B).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from acd import (
    ACD,
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallFallback,
    CallOffered,
    CallRequeued,
    Event,
)
from pbx_sim.workload import Callers

_ARRIVE, _ANSWER, _HANGUP, _ABANDON, _BACK, _ATTENDANT_HANGUP = range(6)
NOT_READY_PAUSE_S = 30.0  # a simulated agent set not ready by RONA comes back after this


@dataclass
class CenterStats:
    offered: int = 0
    carried: int = 0
    blocked: int = 0
    abandoned: int = 0
    answered: int = 0
    fallbacks: int = 0
    queued: int = 0  # found no agent ready on arrival
    max_concurrent: int = 0
    wait_answered_s: float = 0.0  # sum over answered calls
    wait_all_s: float = 0.0  # sum over carried calls that left the queue
    left_queue: int = 0
    by_number: Counter[str] = field(default_factory=Counter)


class CenterModel:
    def __init__(
        self,
        acd: ACD,
        agents: Sequence[str],
        callers: Callers,
        routes: Mapping[str, str],
        *,
        channels: int = 30,
        answer_delay_s: float = 0.0,
        no_answer: float = 0.0,
        seed: int = 0,
        now: float = 0.0,
        on_event: Callable[[float, Event], None] | None = None,
    ) -> None:
        if channels < 1:
            raise ValueError("a trunk needs at least one channel")
        missing = sorted({q for q in routes.values()} - set(acd.queue_names()))
        if missing:
            raise ValueError(f"routes name unknown queues: {', '.join(missing)}")
        self.acd = acd
        self.callers = callers
        self.routes = routes
        self.channels = channels
        self.answer_delay_s = answer_delay_s
        self.no_answer = no_answer
        self.rng = random.Random(seed)
        self.now = now
        self.busy = 0  # trunk channels in use
        self.stats = CenterStats()
        self._on_event = on_event
        self._heap: list[tuple[float, int, int, str]] = []
        self._seq = itertools.count()
        self._calls = itertools.count(1)
        self._arrived: dict[str, float] = {}
        self._offers: dict[str, str] = {}  # call -> agent whose phone rings
        self._agents = set(agents)
        for agent_id in agents:
            self._apply(acd.login(agent_id, now))
        self._push(now + callers.interarrival(self.rng), _ARRIVE, "")

    def run_until(self, t_end: float) -> None:
        """Process everything that happens up to ``t_end`` (virtual seconds)."""
        heap, acd = self._heap, self.acd
        while True:
            due = acd.next_wakeup()
            t_next = heap[0][0] if heap else None
            if due is not None and due <= t_end and (t_next is None or due <= t_next):
                self.now = due
                self._apply(acd.tick(due))
                continue
            if t_next is None or t_next > t_end:
                break
            t, _, kind, call_id = heapq.heappop(heap)
            self.now = t
            self._handle(kind, call_id, t)
        self.now = t_end

    # ------------------------------------------------------------------ internals

    def _push(self, t: float, kind: int, call_id: str) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), kind, call_id))

    def _handle(self, kind: int, call_id: str, t: float) -> None:
        acd = self.acd
        if kind == _ARRIVE:
            self._push(t + self.callers.interarrival(self.rng), _ARRIVE, "")
            self._arrive(t)
        elif kind == _ANSWER:
            agent_id, _, offered = call_id.partition("|")
            if self._offers.get(offered) == agent_id:
                self._apply(acd.answered(offered, t))
        elif kind == _HANGUP:
            self._apply(acd.ended(call_id, t))
        elif kind == _ABANDON:
            if call_id in self._arrived:  # still waiting or ringing
                self._apply(acd.abandoned(call_id, t))
        elif kind == _ATTENDANT_HANGUP:
            self.busy -= 1
        elif kind == _BACK and acd.agent(call_id).state is AgentState.NOT_READY:
            self._apply(acd.set_ready(call_id, t))

    def _arrive(self, t: float) -> None:
        stats = self.stats
        stats.offered += 1
        number = self.callers.number(self.rng)
        stats.by_number[number] += 1
        if self.busy >= self.channels:
            stats.blocked += 1
            return
        self.busy += 1
        stats.carried += 1
        stats.max_concurrent = max(stats.max_concurrent, self.busy)
        call_id = f"call-{next(self._calls)}"
        if not self._agents:
            stats.answered += 1
            stats.left_queue += 1
            self._push(t + self.callers.hold(self.rng), _ATTENDANT_HANGUP, call_id)
            return
        self._arrived[call_id] = t
        events = self.acd.enqueue(call_id, self.routes[number], t, caller=number)
        if not any(isinstance(e, CallOffered) and e.call_id == call_id for e in events):
            stats.queued += 1
        patience = self.callers.patience(self.rng)
        if patience is not None:
            self._push(t + patience, _ABANDON, call_id)
        self._apply(events)

    def _apply(self, events: list[Event]) -> None:
        t, stats = self.now, self.stats
        for event in events:
            if self._on_event is not None:
                self._on_event(t, event)
            if isinstance(event, CallOffered):
                self._offers[event.call_id] = event.agent_id
                if not (self.no_answer and self.rng.random() < self.no_answer):
                    self._push(
                        t + self.answer_delay_s, _ANSWER, f"{event.agent_id}|{event.call_id}"
                    )
            elif isinstance(event, CallAnswered):
                del self._offers[event.call_id]
                wait = t - self._arrived.pop(event.call_id)
                stats.answered += 1
                stats.left_queue += 1
                stats.wait_answered_s += wait
                stats.wait_all_s += wait
                self._push(t + self.callers.hold(self.rng), _HANGUP, event.call_id)
            elif isinstance(event, CallAbandoned | CallFallback):
                self._offers.pop(event.call_id, None)
                wait = t - self._arrived.pop(event.call_id)
                stats.left_queue += 1
                stats.wait_all_s += wait
                if isinstance(event, CallAbandoned):
                    stats.abandoned += 1
                else:
                    stats.fallbacks += 1
                self.busy -= 1
            elif isinstance(event, CallEnded):
                self.busy -= 1
            elif (
                isinstance(event, AgentStateChanged)
                and event.state is AgentState.NOT_READY
                and event.agent_id in self._agents
            ):
                self._push(t + NOT_READY_PAUSE_S, _BACK, event.agent_id)
            elif isinstance(event, CallRequeued):
                self._offers.pop(event.call_id, None)  # its pending answer is void
