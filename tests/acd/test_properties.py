"""Property tests: random worlds and random event sequences against the ACD's guarantees.

Each sequence runs on two ACDs at once, the indexed one and the linear-scan one, which
must make exactly the same decisions; and a model rebuilt only from the emitted events
checks the guarantees independently of the ACD's own bookkeeping:

* an agent never holds two calls; a call only reaches an agent with the skills and
  levels its current escalation step allows;
* fairness: an offered call is the most deserving waiting call (priority, then wait)
  the agent could serve at that moment, so within a priority and queue calls go
  first-in first-out; with ``longest_idle`` the agent is the one ready longest;
* work-conserving: after every step no ready agent could serve any waiting call;
* no call is lost: every call is answered and ended, abandoned, fallen back or still
  in the ACD; agent states only ever move along the table's edges;
* a refused request raises a typed error and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd import (
    ACD,
    ACDError,
    AgentSpec,
    AgentState,
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
    EscalationStep,
    Event,
    Fallback,
    QueueSpec,
    Strategy,
)
from acd.states import TRANSITIONS

SKILLS = ("a", "b", "c")
EDGES = {(src, dst) for (src, _), targets in TRANSITIONS.items() for dst in targets}


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[QueueSpec], list[AgentSpec]]:
    n_queues = draw(st.integers(1, 3))
    queues = []
    for i in range(n_queues):
        required = draw(
            st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), min_size=1, max_size=2)
        )
        escalation: list[EscalationStep] = []
        after = 0.0
        for _ in range(draw(st.integers(0, 2))):
            after += draw(st.sampled_from([5.0, 10.0, 20.0]))
            if draw(st.booleans()):
                escalation.append(EscalationStep(after, min_level=draw(st.integers(1, 5))))
            else:
                backup = {draw(st.sampled_from(SKILLS)): draw(st.integers(1, 10))}
                escalation.append(EscalationStep(after, add_skills=backup))
        fallback, overflow_to, max_wait = Fallback.NONE, None, None
        choice = draw(st.sampled_from(["none", "overflow", "callback"]))
        if choice == "overflow" and i + 1 < n_queues:  # only forward: no loops
            fallback, overflow_to, max_wait = Fallback.OVERFLOW, f"q{i + 1}", 30.0
        elif choice == "callback":
            fallback, max_wait = Fallback.CALLBACK, 40.0
        queues.append(
            QueueSpec(
                f"q{i}",
                required,
                priority=draw(st.integers(0, 2)),
                strategy=draw(st.sampled_from(list(Strategy))),
                wrap_up_s=draw(st.sampled_from([0.0, 5.0])),
                ring_timeout_s=draw(st.sampled_from([0.0, 10.0])),
                max_wait_s=max_wait,
                fallback=fallback,
                overflow_to=overflow_to,
                escalation=tuple(escalation),
                rona_misses=draw(st.integers(1, 2)),
                service_level_s=20.0,
            )
        )
    agents = [
        AgentSpec(
            f"ag{i}",
            draw(
                st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), min_size=1, max_size=3)
            ),
        )
        for i in range(draw(st.integers(1, 6)))
    ]
    return queues, agents


@dataclass
class ModelCall:
    queue: str
    priority: int
    enqueued_at: float
    seq: int
    step: int = 0
    agent: str | None = None
    connected: bool = False


@dataclass
class Model:
    """The world as the events describe it."""

    queues: dict[str, QueueSpec]
    skills: dict[str, dict[str, int]]
    agent_state: dict[str, AgentState] = field(default_factory=dict)
    ready_since: dict[str, float] = field(default_factory=dict)
    agent_call: dict[str, str] = field(default_factory=dict)
    calls: dict[str, ModelCall] = field(default_factory=dict)
    enqueued: list[str] = field(default_factory=list)
    finished: dict[str, str] = field(default_factory=dict)

    def eligible(self, agent_id: str, call: ModelCall) -> bool:
        """Worked out here from the queue's description, not with the ACD's own code."""
        spec = self.queues[call.queue]
        base = dict(spec.skills)
        alternatives = [base]
        for step in spec.escalation[: call.step]:
            if step.min_level is not None:
                base.update({s: min(level, step.min_level) for s, level in base.items()})
            if step.add_skills:
                alternatives.append(dict(step.add_skills))
        have = self.skills[agent_id]
        return any(all(have.get(s, 0) >= level for s, level in alt.items()) for alt in alternatives)

    def waiting(self) -> list[tuple[str, ModelCall]]:
        return [(cid, c) for cid, c in self.calls.items() if c.agent is None]

    def apply(self, events: list[Event], now: float) -> None:
        for event in events:
            self._apply(event, now)

    def _apply(self, e: Event, now: float) -> None:
        if isinstance(e, AgentStateChanged):
            previous = self.agent_state.get(e.agent_id, AgentState.LOGGED_OUT)
            assert e.previous is previous, "state changes must be continuous"
            assert (e.previous, e.state) in EDGES, f"{e.previous}->{e.state} is not an edge"
            self.agent_state[e.agent_id] = e.state
            if e.state is AgentState.READY:
                self.ready_since[e.agent_id] = e.since
        elif isinstance(e, CallQueued):
            call = self.calls.get(e.call_id)
            if call is None:  # a new call, not an overflow
                self.calls[e.call_id] = call = ModelCall(
                    e.queue, e.priority, now, len(self.enqueued)
                )
                self.enqueued.append(e.call_id)
            call.queue, call.step = e.queue, 0
        elif isinstance(e, CallOffered):
            self._check_offer(e)
            call = self.calls[e.call_id]
            call.agent = e.agent_id
            self.agent_call[e.agent_id] = e.call_id
        elif isinstance(e, CallAnswered):
            call = self.calls[e.call_id]
            assert call.agent == e.agent_id
            call.connected = True
        elif isinstance(e, CallRequeued):
            call = self.calls[e.call_id]
            assert call.agent == e.agent_id and not call.connected
            call.agent = None
            del self.agent_call[e.agent_id]
        elif isinstance(e, CallEscalated):
            call = self.calls[e.call_id]
            assert e.step == call.step + 1
            assert e.step <= len(self.queues[call.queue].escalation)
            call.step = e.step
        elif isinstance(e, CallOverflowed):
            assert self.calls[e.call_id].agent is None
        elif isinstance(e, (CallAbandoned, CallFallback, CallEnded)):
            call = self.calls.pop(e.call_id)
            if call.agent is not None:
                del self.agent_call[call.agent]
            assert e.call_id not in self.finished, "a call finished twice"
            self.finished[e.call_id] = type(e).__name__
            if isinstance(e, CallEnded):
                assert call.connected
            else:
                assert not call.connected

    def _check_offer(self, e: CallOffered) -> None:
        call = self.calls[e.call_id]
        assert call.agent is None, "a call offered twice"
        assert e.agent_id not in self.agent_call, "an agent offered two calls"
        assert self.agent_state[e.agent_id] is AgentState.RINGING
        assert e.step == call.step
        assert self.eligible(e.agent_id, call), "offered to an agent without the skills"
        key = (-call.priority, call.enqueued_at, call.seq)
        for other_id, other in self.waiting():
            if other_id != e.call_id and self.eligible(e.agent_id, other):
                assert key <= (-other.priority, other.enqueued_at, other.seq), (
                    f"{e.agent_id} got {e.call_id} while more deserving {other_id} waited"
                )
        spec = self.queues[call.queue]
        if spec.strategy is Strategy.LONGEST_IDLE:
            mine = self.ready_since[e.agent_id]
            for agent_id, state in self.agent_state.items():
                if state is AgentState.READY and self.eligible(agent_id, call):
                    assert self.ready_since[agent_id] >= mine, (
                        f"{e.agent_id} offered while {agent_id} was idle longer"
                    )

    def check_work_conserving(self) -> None:
        for agent_id, state in self.agent_state.items():
            if state is AgentState.READY:
                for call_id, call in self.waiting():
                    assert not self.eligible(agent_id, call), (
                        f"{agent_id} ready while it could serve waiting {call_id}"
                    )


OPS = [
    "login",
    "ready",
    "not_ready",
    "logout",
    "enqueue",
    "enqueue",
    "answer",
    "answer",
    "no_answer",
    "abandon",
    "end",
    "end",
    "wrap_up_done",
    "tick",
    "tick",
]


def pick(data: st.DataObject, items: list[Any]) -> Any:
    return items[data.draw(st.integers(0, len(items) - 1))] if items else None


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(world=worlds(), data=st.data())
def test_random_event_sequences_keep_every_guarantee(
    world: tuple[list[QueueSpec], list[AgentSpec]], data: st.DataObject
) -> None:
    queues, agents = world
    heap, scan = ACD(queues, index="heap"), ACD(queues, index="scan")
    for spec in agents:
        heap.add_agent(spec)
        scan.add_agent(spec)
    model = Model({q.name: q for q in queues}, {a.agent_id: dict(a.skills) for a in agents})
    agent_ids = [a.agent_id for a in agents]
    now = 0.0
    calls = 0
    for _ in range(data.draw(st.integers(1, 80))):
        op = data.draw(st.sampled_from(OPS))
        live = sorted(model.calls)
        args: tuple[Any, ...]
        if op == "tick":
            now += data.draw(st.sampled_from([0.5, 3.0, 7.0, 15.0]))
            name, args = "tick", (now,)
        elif op == "enqueue":
            calls += 1
            prio = data.draw(st.one_of(st.none(), st.integers(0, 3)))
            name, args = "enqueue", (f"c{calls}", pick(data, list(model.queues)), now)
            kwargs = {"priority": prio}
        elif op in ("answer", "no_answer", "abandon", "end"):
            name = {"answer": "answered", "no_answer": "no_answer", "abandon": "abandoned"}.get(
                op, "ended"
            )
            call_id = pick(data, live) or "nope"
            args = (call_id, now)
        elif op == "login":
            name, args = "login", (pick(data, agent_ids), now)
            kwargs = {"ready": data.draw(st.booleans())}
        elif op == "not_ready":
            name, args = "set_not_ready", (pick(data, agent_ids), "break", now)
        else:
            name = {"ready": "set_ready", "logout": "logout", "wrap_up_done": "end_wrap_up"}[op]
            args = (pick(data, agent_ids), now)
        if op not in ("enqueue", "login"):
            kwargs = {}
        before = (list(heap.agents()), list(heap.calls()))
        try:
            got = getattr(heap, name)(*args, **kwargs)
        except ACDError as error:
            try:
                getattr(scan, name)(*args, **kwargs)
            except ACDError as other:
                assert type(other) is type(error)
            else:
                raise AssertionError("only the indexed ACD refused") from error
            assert (list(heap.agents()), list(heap.calls())) == before, "a refusal changed state"
            continue
        assert getattr(scan, name)(*args, **kwargs) == got, "indexed and scan ACDs disagree"
        model.apply(got, now)
        model.check_work_conserving()
        assert [v.call_id for v in heap.agents() if v.call_id] == list(
            dict.fromkeys(v.call_id for v in heap.agents() if v.call_id)
        )
    # No call is lost.
    live = {view.call_id for view in heap.calls()}
    assert live == set(model.calls)
    assert set(model.enqueued) == live | set(model.finished)
    assert not live & set(model.finished)
    o = heap.outcomes
    assert o["entered"] == len(model.enqueued)
    assert o["entered"] == o["abandoned"] + o["fallback"] + o["answered"] + sum(
        1 for c in model.calls.values() if not c.connected
    )
    assert o["answered"] == o["ended"] + sum(1 for c in model.calls.values() if c.connected)
