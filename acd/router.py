"""The ACD: given agents, queues, calls and the time, decide who takes what.

Pure and synchronous: every method takes ``now`` (seconds on any monotonic clock the
caller likes) and returns the decisions it made as a list of :mod:`acd.events`. Timers
are data too: :meth:`ACD.next_wakeup` says when the ACD next needs :meth:`ACD.tick`.

Routing rules, in short (docs/routing.md has the long form):

* A call goes to the best ready agent its current escalation step admits, by the
  queue's strategy. An agent that becomes ready takes the most deserving waiting call of
  every queue it can serve now: highest priority, then longest wait, then arrival.
* The ACD is work-conserving: after every method returns, no ready agent is eligible for
  any waiting call.
* An offered agent is reserved: one call at a time. No answer in time (RONA) puts the
  agent in ``not_ready`` (reason ``no_answer``) after ``rona_misses`` consecutive misses
  and returns the call to its place, with its original wait.
* Every error is raised before anything changes.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from acd.errors import (
    DuplicateCall,
    IllegalCallState,
    IllegalTransition,
    ModelError,
    UnknownAgent,
    UnknownCall,
    UnknownQueue,
)
from acd.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallEscalated,
    CallFallback,
    CallOffered,
    CallOverflowed,
    CallQueued,
    CallRequeued,
    Event,
)
from acd.index import HeapIndex, Index
from acd.live import CallState, LiveAgent, LiveCall, LiveQueue
from acd.model import AgentSpec, Fallback, QueueSpec, _check_level
from acd.scan import ScanIndex
from acd.states import AgentEvent, AgentState, is_busy, next_state

NO_ANSWER = "no_answer"
PARKED = "parked"  # CallRequeued.reason of a call parked while offered


class _Timer(enum.IntEnum):
    ESCALATE = 0
    MAX_WAIT = 1
    RING = 2
    WRAP_UP = 3


@dataclass(frozen=True, slots=True)
class AgentView:
    agent_id: str
    state: AgentState
    reason: str | None
    since: float
    call_id: str | None
    skills: Mapping[str, int]
    calls: int
    talk_s: float


@dataclass(frozen=True, slots=True)
class CallView:
    call_id: str
    queue: str
    state: CallState
    agent_id: str | None
    priority: int
    enqueued_at: float
    step: int
    caller: str | None


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue: str
    waiting: int
    longest_wait_s: float
    agents_ready: int
    agents_busy: int
    entered: int
    answered: int
    abandoned: int
    overflowed: int
    fallbacks: int
    service_level: float | None  # answered within target / (answered + long abandons)
    service_level_target: float


class ACD:
    def __init__(
        self, queues: Iterable[QueueSpec], *, index: Literal["heap", "scan"] = "heap"
    ) -> None:
        specs = list(queues)
        self._queues: dict[str, LiveQueue] = {}
        for spec in specs:
            spec.validate()
            if spec.name in self._queues:
                raise ModelError(f"queue {spec.name!r} is defined twice")
            self._queues[spec.name] = LiveQueue(spec, len(self._queues))
        _check_overflow(specs)
        self._agents: dict[str, LiveAgent] = {}
        self._calls: dict[str, LiveCall] = {}
        # Waiting calls kept out of routing at their place (a callback being dialled).
        self._parked: set[str] = set()
        self._index: Index
        self.pool_count = 0
        self.use_index(index)
        self._timers: list[tuple[float, int, _Timer, LiveCall | LiveAgent, int]] = []
        self._seq = itertools.count()
        self._agent_order = itertools.count()
        self._offer_seq = 0
        self._out: list[Event] = []
        # How every call that entered the ACD left it; what is not here still waits.
        self.outcomes: Counter[str] = Counter()

    def use_index(self, kind: Literal["heap", "scan"]) -> None:
        """Rebuild the routing indexes as ``kind`` from the current state.

        ``scan`` walks every agent and call like app_queue does: the benchmark's baseline
        and the tests' oracle. Both make exactly the same decisions.
        """
        queues = list(self._queues.values())
        if kind == "heap":
            self._index = HeapIndex(queues)
        elif kind == "scan":
            self._index = ScanIndex(queues)
        else:
            raise ModelError(f"index must be 'heap' or 'scan', not {kind!r}")
        self.pool_count = self._index.pool_count
        for agent in self._agents.values():
            self._index.register(agent)
            if agent.pooled:
                agent.epoch += 1
                self._index.available(agent)
        for call in self._calls.values():
            if call.state is CallState.WAITING:
                self._index.add(call)

    # ----------------------------------------------------------------- agents

    def add_agent(self, spec: AgentSpec) -> None:
        spec.validate()
        if spec.agent_id in self._agents:
            raise ModelError(f"agent {spec.agent_id!r} already exists")
        agent = LiveAgent(spec, next(self._agent_order))
        self._index.register(agent)
        self._agents[spec.agent_id] = agent

    def remove_agent(self, agent_id: str) -> None:
        agent = self._agent(agent_id)
        if agent.state is not AgentState.LOGGED_OUT:
            raise IllegalTransition(agent_id, agent.state.value, "remove")
        self._index.unregister(agent)
        del self._agents[agent_id]

    def set_skills(self, agent_id: str, skills: Mapping[str, int], now: float) -> list[Event]:
        agent = self._agent(agent_id)
        for skill, level in skills.items():
            _check_level(f"agent {agent_id!r} skill {skill!r}", level)
        self._unpool(agent)
        self._count(agent, agent.state, -1)
        agent.skills = dict(skills)
        self._index.register(agent)
        self._count(agent, agent.state, +1)
        self._route_agent(agent, now)
        return self._flush()

    def login(
        self, agent_id: str, now: float, *, ready: bool = True, reason: str | None = None
    ) -> list[Event]:
        agent = self._agent(agent_id)
        if agent.state is not AgentState.LOGGED_OUT:
            raise IllegalTransition(agent_id, agent.state.value, "login")
        if ready:
            return self.set_ready(agent_id, now)
        return self.set_not_ready(agent_id, reason or "login", now)

    def set_ready(self, agent_id: str, now: float) -> list[Event]:
        agent = self._agent(agent_id)
        self._transition(agent, AgentEvent.GO_READY, now)
        self._route_agent(agent, now)
        return self._flush()

    def set_not_ready(self, agent_id: str, reason: str, now: float) -> list[Event]:
        agent = self._agent(agent_id)
        if not reason:
            raise ModelError("not ready needs a reason")
        self._transition(agent, AgentEvent.GO_NOT_READY, now, reason)
        return self._flush()

    def logout(self, agent_id: str, now: float) -> list[Event]:
        self._transition(self._agent(agent_id), AgentEvent.LOGOUT, now)
        return self._flush()

    def end_wrap_up(self, agent_id: str, now: float) -> list[Event]:
        agent = self._agent(agent_id)
        self._transition(agent, AgentEvent.WRAP_UP_DONE, now)
        self._route_agent(agent, now)
        return self._flush()

    def direct_call_started(self, agent_id: str, now: float) -> list[Event]:
        """The agent is on a call the ACD did not route (click-to-dial, internal call)."""
        agent = self._agent(agent_id)
        previous = (agent.state, agent.reason)
        self._transition(agent, AgentEvent.DIRECT_CALL, now)
        agent.previous = previous
        return self._flush()

    def direct_call_ended(self, agent_id: str, now: float) -> list[Event]:
        """Back to the state the agent had before the direct call."""
        agent = self._agent(agent_id)
        if agent.state is not AgentState.ON_CALL or agent.call is not None:
            raise IllegalTransition(agent_id, agent.state.value, "direct_call_end")
        state, reason = agent.previous or (AgentState.READY, None)
        agent.previous = None
        self._transition(agent, AgentEvent.CALL_END, now)
        if state is AgentState.READY:
            self._transition(agent, AgentEvent.WRAP_UP_DONE, now)
            self._route_agent(agent, now)
        else:
            self._transition(agent, AgentEvent.GO_NOT_READY, now, reason)
        return self._flush()

    def reset_period(self) -> None:
        """Start a new period for least_occupied and fewest_calls (a shift, a day)."""
        for agent in self._agents.values():
            agent.calls = 0
            agent.talk_s = 0.0
            if agent.pooled:
                self._unpool(agent)
                agent.pooled = True
                self._index.available(agent)

    # ------------------------------------------------------------------ calls

    def enqueue(
        self,
        call_id: str,
        queue: str,
        now: float,
        *,
        priority: int | None = None,
        caller: str | None = None,
    ) -> list[Event]:
        """A call enters ``queue``; ``priority`` defaults to the queue's own."""
        if call_id in self._calls:
            raise DuplicateCall(call_id)
        live_queue = self._queue(queue)
        if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
            raise ModelError(f"priority must be an integer, got {priority!r}")
        call = LiveCall(
            call_id,
            live_queue,
            live_queue.spec.priority if priority is None else priority,
            now,
            next(self._seq),
            caller,
        )
        self._calls[call_id] = call
        self.outcomes["entered"] += 1
        live_queue.entered += 1
        self._enter_queue(call, live_queue, now)
        return self._flush()

    def answered(self, call_id: str, now: float) -> list[Event]:
        call = self._call(call_id, "answer", CallState.OFFERED)
        agent = call.agent
        assert agent is not None
        self._transition(agent, AgentEvent.ANSWER, now)
        queue = call.queue
        self._leave_waiting(call)
        call.state = CallState.CONNECTED
        call.answered_at = now
        call.epoch += 1  # escalation and max-wait timers no longer apply
        agent.misses = 0
        wait = now - call.enqueued_at
        queue.answered += 1
        if wait <= queue.spec.service_level_s:
            queue.answered_in_sl += 1
        self.outcomes["answered"] += 1
        self._out.append(CallAnswered(call_id, agent.agent_id, queue.name, wait))
        return self._flush()

    def no_answer(self, call_id: str, now: float) -> list[Event]:
        """The offered agent did not answer (the PBX said so, or the ring timer ran out)."""
        self._no_answer(self._call(call_id, "no_answer", CallState.OFFERED), now)
        return self._flush()

    def abandoned(self, call_id: str, now: float) -> list[Event]:
        """The caller hung up before an agent answered."""
        call = self._call(call_id, "abandon", CallState.WAITING, CallState.OFFERED)
        queue = call.queue
        agent = call.agent
        if agent is not None:
            self._transition(agent, AgentEvent.OFFER_CANCELLED, now)
            agent.call = None
        elif call_id in self._parked:
            self._parked.discard(call_id)
        else:
            self._index.remove(call)
        self._leave_waiting(call)
        del self._calls[call_id]
        wait = now - call.enqueued_at
        queue.abandoned += 1
        if wait <= queue.spec.service_level_s:
            queue.abandoned_short += 1
        self.outcomes["abandoned"] += 1
        self._out.append(
            CallAbandoned(call_id, queue.name, wait, None if agent is None else agent.agent_id)
        )
        if agent is not None:
            self._route_agent(agent, now)
        return self._flush()

    def ended(self, call_id: str, now: float) -> list[Event]:
        """An answered call is over: the agent goes to wrap-up."""
        call = self._call(call_id, "end", CallState.CONNECTED)
        agent = call.agent
        assert agent is not None
        queue = call.queue
        self._transition(agent, AgentEvent.CALL_END, now)
        talk = now - call.answered_at
        agent.talk_s += talk
        agent.calls += 1
        agent.call = None
        del self._calls[call_id]
        self.outcomes["ended"] += 1
        self._out.append(
            CallEnded(
                call_id, queue.name, agent.agent_id, call.answered_at - call.enqueued_at, talk
            )
        )
        if queue.spec.wrap_up_s > 0:
            self._schedule(now + queue.spec.wrap_up_s, _Timer.WRAP_UP, agent, agent.epoch)
        else:
            self._transition(agent, AgentEvent.WRAP_UP_DONE, now)
            self._route_agent(agent, now)
        return self._flush()

    def park(self, call_id: str, now: float) -> list[Event]:
        """Keep a waiting or offered call out of routing without losing its place (a
        callback being dialled: Hotline calls the customer back first). An offered agent
        is freed without a miss (``CallRequeued`` with reason ``parked``). The call keeps
        its priority, wait and timers; :meth:`unpark` puts it back where it was."""
        call = self._call(call_id, "park", CallState.WAITING, CallState.OFFERED)
        if call_id in self._parked:
            return self._flush()
        agent = call.agent
        self._parked.add(call_id)
        if agent is None:
            self._index.remove(call)
            return self._flush()
        agent.call = None
        call.agent = None
        call.state = CallState.WAITING
        self._out.append(CallRequeued(call_id, call.queue.name, agent.agent_id, PARKED))
        self._transition(agent, AgentEvent.OFFER_CANCELLED, now)
        self._route_agent(agent, now)
        return self._flush()

    def unpark(self, call_id: str, now: float) -> list[Event]:
        """A parked call takes its place in routing again (offered at once if it is the
        most deserving call of a ready agent)."""
        call = self._call(call_id, "unpark", CallState.WAITING)
        if call_id not in self._parked:
            return self._flush()
        self._parked.discard(call_id)
        self._index.add(call)
        self._route_call(call, now)
        return self._flush()

    def extend_ring(self, call_id: str, now: float, seconds: float) -> list[Event]:
        """An offered call's reservation lasts ``seconds`` from ``now`` instead of the
        queue's ring timeout (a callback: the agent waits while the customer's phone
        rings). The agent stays reserved; no miss is counted for the time given."""
        call = self._call(call_id, "extend_ring", CallState.OFFERED)
        if seconds <= 0:
            raise ModelError(f"seconds must be positive, got {seconds!r}")
        call.offers += 1  # the running ring timer no longer applies
        self._schedule(now + seconds, _Timer.RING, call, call.offers)
        return self._flush()

    def is_parked(self, call_id: str) -> bool:
        return call_id in self._parked

    def hangup(self, call_id: str, now: float) -> list[Event]:
        """The call is gone from the PBX, whatever state it was in."""
        call = self._calls.get(call_id)
        if call is None:
            raise UnknownCall(call_id)
        if call.state is CallState.CONNECTED:
            return self.ended(call_id, now)
        return self.abandoned(call_id, now)

    # ------------------------------------------------------------------- time

    def next_wakeup(self) -> float | None:
        """When :meth:`tick` next has work to do, or None."""
        timers = self._timers
        while timers and not self._timer_live(timers[0]):
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    def tick(self, now: float) -> list[Event]:
        timers = self._timers
        while timers and timers[0][0] <= now:
            entry = heapq.heappop(timers)
            if not self._timer_live(entry):
                continue
            # Each timer acts at its own due time, so a late tick changes no figure.
            at, _, kind, target, _ = entry
            if kind is _Timer.ESCALATE:
                assert isinstance(target, LiveCall)
                self._escalate(target, at)
            elif kind is _Timer.MAX_WAIT:
                assert isinstance(target, LiveCall)
                self._fallback(target, at)
            elif kind is _Timer.RING:
                assert isinstance(target, LiveCall)
                self._no_answer(target, at)
            else:
                assert isinstance(target, LiveAgent)
                self._transition(target, AgentEvent.WRAP_UP_DONE, at)
                self._route_agent(target, at)
        return self._flush()

    # ------------------------------------------------------------------ views

    def agent(self, agent_id: str) -> AgentView:
        agent = self._agent(agent_id)
        return AgentView(
            agent.agent_id,
            agent.state,
            agent.reason,
            agent.since,
            None if agent.call is None else agent.call.call_id,
            dict(agent.skills),
            agent.calls,
            agent.talk_s,
        )

    def agents(self) -> Iterator[AgentView]:
        for agent_id in self._agents:
            yield self.agent(agent_id)

    def call(self, call_id: str) -> CallView:
        call = self._calls.get(call_id)
        if call is None:
            raise UnknownCall(call_id)
        return CallView(
            call.call_id,
            call.queue.name,
            call.state,
            None if call.agent is None else call.agent.agent_id,
            call.priority,
            call.enqueued_at,
            call.step,
            call.caller,
        )

    def calls(self) -> Iterator[CallView]:
        for call_id in self._calls:
            yield self.call(call_id)

    def queue_names(self) -> list[str]:
        return list(self._queues)

    def queue_stats(self, queue: str, now: float) -> QueueStats:
        q = self._queue(queue)
        oldest = min((c.enqueued_at for c in q.waiting.values()), default=now)
        counted = q.answered + q.abandoned - q.abandoned_short
        return QueueStats(
            queue=q.name,
            waiting=len(q.waiting),
            longest_wait_s=max(0.0, now - oldest),
            agents_ready=q.agents_ready,
            agents_busy=q.agents_busy,
            entered=q.entered,
            answered=q.answered,
            abandoned=q.abandoned,
            overflowed=q.overflowed,
            fallbacks=q.fallbacks,
            service_level=q.answered_in_sl / counted if counted else None,
            service_level_target=q.spec.service_level_target,
        )

    # --------------------------------------------------------------- internals

    def _agent(self, agent_id: str) -> LiveAgent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent

    def _queue(self, name: str) -> LiveQueue:
        queue = self._queues.get(name)
        if queue is None:
            raise UnknownQueue(name)
        return queue

    def _call(self, call_id: str, event: str, *states: CallState) -> LiveCall:
        call = self._calls.get(call_id)
        if call is None:
            raise UnknownCall(call_id)
        if call.state not in states:
            raise IllegalCallState(call_id, call.state.value, event)
        return call

    def _flush(self) -> list[Event]:
        out, self._out = self._out, []
        return out

    def _transition(
        self, agent: LiveAgent, event: AgentEvent, now: float, reason: str | None = None
    ) -> None:
        old = agent.state
        if event is AgentEvent.NO_ANSWER:
            choice = AgentState.NOT_READY if reason else AgentState.READY
            new = next_state(agent.agent_id, old, event, choice)
        else:
            new = next_state(agent.agent_id, old, event)
        self._unpool(agent)
        agent.epoch += 1
        self._count(agent, old, -1)
        agent.state = new
        agent.reason = reason if new is AgentState.NOT_READY else None
        agent.since = now
        self._count(agent, new, +1)
        if new is AgentState.READY:
            agent.ready_since = now  # _route_agent pools it if no call wants it
        self._out.append(AgentStateChanged(agent.agent_id, new, old, agent.reason, now))

    def _count(self, agent: LiveAgent, state: AgentState, delta: int) -> None:
        if state is AgentState.READY:
            for queue in agent.home_queues:
                queue.agents_ready += delta
        elif is_busy(state):
            for queue in agent.home_queues:
                queue.agents_busy += delta

    def _enter_queue(self, call: LiveCall, queue: LiveQueue, now: float) -> None:
        position = 1 + sum(n for p, n in queue.priorities.items() if p >= call.priority)
        call.queue = queue
        call.entered_at = now
        call.step = 0
        call.state = CallState.WAITING
        call.epoch += 1
        queue.waiting[call.call_id] = call
        queue.priorities[call.priority] += 1
        self._out.append(CallQueued(call.call_id, queue.name, position, call.priority))
        spec = queue.spec
        if spec.escalation:
            self._schedule(now + spec.escalation[0].after_s, _Timer.ESCALATE, call, call.epoch)
        if spec.max_wait_s is not None:
            self._schedule(now + spec.max_wait_s, _Timer.MAX_WAIT, call, call.epoch)
        if call.call_id not in self._parked:
            self._index.add(call)
            self._route_call(call, now)

    def _leave_waiting(self, call: LiveCall) -> None:
        queue = call.queue
        del queue.waiting[call.call_id]
        queue.priorities[call.priority] -= 1
        if not queue.priorities[call.priority]:
            del queue.priorities[call.priority]

    def _route_call(self, call: LiveCall, now: float) -> None:
        agent = self._index.best_agent(call)
        if agent is not None:
            self._offer(call, agent, now)

    def _route_agent(self, agent: LiveAgent, now: float) -> None:
        """A ready agent takes the best call it can serve, or joins its pools to wait.

        Looking for a call first means a busy center never pools an agent only to take
        it out again, which keeps the pools' heaps free of dead entries.
        """
        if agent.state is not AgentState.READY:
            return
        call = self._index.best_call(agent)
        if call is not None:
            self._offer(call, agent, now)
        elif not agent.pooled:
            agent.pooled = True
            self._index.available(agent)

    def _unpool(self, agent: LiveAgent) -> None:
        if agent.pooled:
            agent.pooled = False
            agent.epoch += 1
            self._index.unavailable(agent)

    def _offer(self, call: LiveCall, agent: LiveAgent, now: float) -> None:
        self._transition(agent, AgentEvent.OFFER, now)
        self._index.remove(call)
        queue = call.queue
        call.state = CallState.OFFERED
        call.agent = agent
        call.offers += 1
        agent.call = call
        self._offer_seq += 1
        agent.last_offer = self._offer_seq
        deadline = None
        if queue.spec.ring_timeout_s > 0:
            deadline = now + queue.spec.ring_timeout_s
            self._schedule(deadline, _Timer.RING, call, call.offers)
        self._out.append(CallOffered(call.call_id, agent.agent_id, queue.name, call.step, deadline))

    def _no_answer(self, call: LiveCall, now: float) -> None:
        agent = call.agent
        assert agent is not None
        queue = call.queue
        agent.misses += 1
        rona = agent.misses >= queue.spec.rona_misses
        # Put the call back before the agent can be ready again, so that another agent
        # gets the first chance at it.
        agent.call = None
        call.agent = None
        call.state = CallState.WAITING
        self._out.append(CallRequeued(call.call_id, queue.name, agent.agent_id, NO_ANSWER))
        self._index.add(call)
        max_wait = queue.spec.max_wait_s
        if max_wait is not None and now - call.entered_at >= max_wait:
            self._fallback(call, now)  # its max-wait timer fired while the agent's phone rang
        else:
            self._route_call(call, now)
        self._transition(agent, AgentEvent.NO_ANSWER, now, NO_ANSWER if rona else None)
        self._route_agent(agent, now)

    def _escalate(self, call: LiveCall, now: float) -> None:
        queue = call.queue
        waiting = call.state is CallState.WAITING and call.call_id not in self._parked
        if waiting:
            self._index.remove(call)
        call.step += 1
        self._out.append(CallEscalated(call.call_id, queue.name, call.step))
        if call.step < len(queue.spec.escalation):
            after = queue.spec.escalation[call.step].after_s
            self._schedule(call.entered_at + after, _Timer.ESCALATE, call, call.epoch)
        if waiting:
            self._index.add(call)
            self._route_call(call, now)

    def _fallback(self, call: LiveCall, now: float) -> None:
        if call.state is not CallState.WAITING:
            return  # ringing an agent: decided when the ring ends
        queue = call.queue
        spec = queue.spec
        if call.call_id not in self._parked:
            self._index.remove(call)
        self._leave_waiting(call)
        wait = now - call.enqueued_at
        if spec.fallback is Fallback.OVERFLOW:
            assert spec.overflow_to is not None
            target = self._queues[spec.overflow_to]
            queue.overflowed += 1
            target.entered += 1
            self.outcomes["overflowed"] += 1
            self._out.append(CallOverflowed(call.call_id, queue.name, target.name, wait))
            self._enter_queue(call, target, now)
        else:
            queue.fallbacks += 1
            self._parked.discard(call.call_id)
            del self._calls[call.call_id]
            self.outcomes["fallback"] += 1
            self._out.append(CallFallback(call.call_id, queue.name, spec.fallback.value, wait))

    def _schedule(self, due: float, kind: _Timer, target: LiveCall | LiveAgent, epoch: int) -> None:
        heapq.heappush(self._timers, (due, next(self._seq), kind, target, epoch))

    def _timer_live(self, entry: tuple[float, int, _Timer, LiveCall | LiveAgent, int]) -> bool:
        _, _, kind, target, epoch = entry
        if isinstance(target, LiveAgent):
            return (
                target.epoch == epoch
                and target.state is AgentState.WRAP_UP
                and self._agents.get(target.agent_id) is target
            )
        if self._calls.get(target.call_id) is not target:
            return False
        if kind is _Timer.RING:
            return target.state is CallState.OFFERED and target.offers == epoch
        if kind is _Timer.MAX_WAIT and target.state is not CallState.WAITING:
            # Ringing: the ring's end decides. Connected: epoch has moved on anyway.
            return False
        return target.epoch == epoch


def _check_overflow(specs: list[QueueSpec]) -> None:
    names = {spec.name for spec in specs}
    overflow = {}
    for spec in specs:
        if spec.fallback is Fallback.OVERFLOW:
            if spec.overflow_to not in names:
                raise ModelError(
                    f"queue {spec.name!r}: overflow_to {spec.overflow_to!r} is not a queue"
                )
            if spec.overflow_to == spec.name:
                raise ModelError(f"queue {spec.name!r}: overflows to itself")
            overflow[spec.name] = spec.overflow_to
    for start in overflow:
        seen = [start]
        nxt = overflow.get(start)
        while nxt is not None:
            if nxt in seen:
                chain = " -> ".join([*seen, nxt])
                raise ModelError(f"overflow loop: {chain} (a caller would never leave)")
            seen.append(nxt)
            nxt = overflow.get(nxt)
