"""The ACD's part in callbacks: a parked call keeps its place; an extended reservation
keeps the agent without a miss."""

from __future__ import annotations

import pytest

from acd import (
    ACD,
    AgentSpec,
    AgentState,
    CallOffered,
    CallRequeued,
    CallState,
    Event,
    Fallback,
    IllegalCallState,
    QueueSpec,
)


def offers(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.call_id, e.agent_id) for e in events if isinstance(e, CallOffered)]


def _acd(agents: int = 1) -> ACD:
    acd = ACD([QueueSpec("fault", {"fault": 1}, ring_timeout_s=15.0, wrap_up_s=0)])
    for i in range(agents):
        acd.add_agent(AgentSpec(f"a{i}", {"fault": 5}))
        acd.login(f"a{i}", 0.0, ready=False)
    return acd


def test_parked_call_keeps_its_place_and_is_skipped_meanwhile() -> None:
    acd = _acd()
    for n, t in (("A", 1.0), ("B", 2.0), ("C", 3.0)):
        acd.enqueue(n, "fault", t)
    acd.park("A", 4.0)
    assert acd.is_parked("A") and acd.call("A").state is CallState.WAITING
    assert acd.queue_stats("fault", 4.0).waiting == 3  # still waiting, still counted
    assert offers(acd.set_ready("a0", 5.0)) == [("B", "a0")]  # A is skipped meanwhile
    acd.answered("B", 6.0)
    assert offers(acd.unpark("A", 7.0)) == []  # nobody free: A waits at its old place
    # a0 is free again: A (enqueued at 1 s) before C (3 s)
    assert offers(acd.ended("B", 8.0)) == [("A", "a0")]


def test_parking_an_offered_call_frees_the_agent_without_a_miss() -> None:
    acd = _acd()
    acd.set_ready("a0", 0.0)
    events = acd.enqueue("A", "fault", 1.0)
    assert offers(events) == [("A", "a0")]
    events = acd.park("A", 2.0)
    assert [e.reason for e in events if isinstance(e, CallRequeued)] == ["parked"]
    view = acd.agent("a0")
    assert view.state is AgentState.READY and view.reason is None
    assert offers(acd.enqueue("B", "fault", 3.0)) == [("B", "a0")]


def test_extend_ring_moves_the_ring_timeout() -> None:
    acd = _acd()
    acd.set_ready("a0", 0.0)
    acd.enqueue("A", "fault", 0.0)  # offered; ring timeout at 15 s
    acd.extend_ring("A", 1.0, 40.0)  # now at 41 s
    assert acd.tick(20.0) == []
    assert acd.call("A").state is CallState.OFFERED
    events = acd.tick(41.0)
    assert [e.reason for e in events if isinstance(e, CallRequeued)] == ["no_answer"]


def test_extend_ring_needs_an_offer() -> None:
    acd = _acd()
    acd.enqueue("A", "fault", 0.0)
    with pytest.raises(IllegalCallState):
        acd.extend_ring("A", 1.0, 10.0)


def test_parked_call_still_falls_back_at_max_wait() -> None:
    acd = ACD([QueueSpec("q", {"fault": 1}, max_wait_s=10.0, fallback=Fallback.VOICEMAIL)])
    acd.enqueue("A", "q", 0.0)
    acd.park("A", 1.0)
    events = acd.tick(10.0)
    assert [type(e).__name__ for e in events] == ["CallFallback"]
    assert not acd.is_parked("A")
