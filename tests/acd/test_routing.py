"""The routing rules of the ACD, one at a time."""

from __future__ import annotations

import pytest

from acd import (
    ACD,
    AgentSpec,
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallEscalated,
    CallFallback,
    CallOffered,
    CallOverflowed,
    CallQueued,
    CallRequeued,
    CallState,
    DuplicateCall,
    EscalationStep,
    Event,
    Fallback,
    IllegalCallState,
    IllegalTransition,
    ModelError,
    QueueSpec,
    Strategy,
    UnknownAgent,
    UnknownCall,
    UnknownQueue,
)


def offers(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.call_id, e.agent_id) for e in events if isinstance(e, CallOffered)]


def states(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.agent_id, e.state.value) for e in events if isinstance(e, AgentStateChanged)]


def queue(name: str = "q", **kw: object) -> QueueSpec:
    skills = kw.pop("skills", {"s": 1})
    return QueueSpec(name, skills, **kw)  # type: ignore[arg-type]


def agents(acd: ACD, *specs: tuple[str, dict[str, int]], ready_at: float | None = 0.0) -> None:
    for i, (agent_id, skills) in enumerate(specs):
        acd.add_agent(AgentSpec(agent_id, skills))
        if ready_at is not None:
            acd.login(agent_id, ready_at + i)


def talk(acd: ACD, call_id: str, start: float, seconds: float) -> None:
    """Answer an offered call at ``start`` and end it ``seconds`` later (no wrap-up)."""
    acd.answered(call_id, start)
    acd.ended(call_id, start + seconds)


# ------------------------------------------------------------ choosing an agent


def test_longest_idle_takes_the_agent_ready_longest() -> None:
    acd = ACD([queue(wrap_up_s=0)])
    agents(acd, ("a1", {"s": 5}), ("a2", {"s": 5}), ("a3", {"s": 5}))
    assert offers(acd.enqueue("c1", "q", 10)) == [("c1", "a1")]
    assert offers(acd.enqueue("c2", "q", 11)) == [("c2", "a2")]
    talk(acd, "c1", 12, 5)  # a1 ready again at 17, after a3 (ready since 2)
    assert offers(acd.enqueue("c3", "q", 20)) == [("c3", "a3")]
    assert offers(acd.enqueue("c4", "q", 21)) == [("c4", "a1")]


def test_least_occupied_takes_the_agent_with_least_talk_time() -> None:
    acd = ACD([queue(strategy=Strategy.LEAST_OCCUPIED, wrap_up_s=0)])
    agents(acd, ("a1", {"s": 5}), ("a2", {"s": 5}))
    acd.enqueue("c1", "q", 10)
    acd.enqueue("c2", "q", 10)
    talk(acd, "c1", 10, 100)  # a1 talked 100 s
    talk(acd, "c2", 10, 20)  # a2 talked 20 s, ready earlier than a1 too
    assert offers(acd.enqueue("c3", "q", 200)) == [("c3", "a2")]
    talk(acd, "c3", 200, 200)  # a2 now 220 s
    assert offers(acd.enqueue("c4", "q", 500)) == [("c4", "a1")]


def test_most_skilled_takes_the_highest_level_then_longest_idle() -> None:
    acd = ACD([queue(strategy=Strategy.MOST_SKILLED)])
    agents(acd, ("a1", {"s": 5}), ("a2", {"s": 9}), ("a3", {"s": 9}))
    assert offers(acd.enqueue("c1", "q", 10)) == [("c1", "a2")]
    assert offers(acd.enqueue("c2", "q", 10)) == [("c2", "a3")]
    assert offers(acd.enqueue("c3", "q", 10)) == [("c3", "a1")]


def test_fewest_calls_takes_the_agent_with_fewest_handled() -> None:
    acd = ACD([queue(strategy=Strategy.FEWEST_CALLS, wrap_up_s=0)])
    agents(acd, ("a1", {"s": 5}), ("a2", {"s": 5}))
    acd.set_not_ready("a2", "break", 1)
    for i in range(2):  # a1 takes two calls while a2 is paused
        acd.enqueue(f"x{i}", "q", 10 + i)
        talk(acd, f"x{i}", 10 + i, 0.5)
    acd.set_ready("a2", 30)  # a2 idle for less time, but fewer calls
    assert offers(acd.enqueue("c", "q", 40)) == [("c", "a2")]


def test_round_robin_rotates_through_the_agents() -> None:
    acd = ACD([queue(strategy=Strategy.ROUND_ROBIN, wrap_up_s=0)])
    agents(acd, ("a1", {"s": 5}), ("a2", {"s": 5}), ("a3", {"s": 5}))
    got = []
    for i in range(6):
        ((call_id, agent_id),) = offers(acd.enqueue(f"c{i}", "q", 10 + i))
        got.append(agent_id)
        talk(acd, call_id, 10 + i, 0.1)
    assert got == ["a1", "a2", "a3", "a1", "a2", "a3"]


def test_agent_without_the_skill_or_level_is_never_offered() -> None:
    acd = ACD([queue(skills={"s": 5})])
    agents(acd, ("low", {"s": 4}), ("other", {"t": 10}))
    events = acd.enqueue("c1", "q", 1)
    assert offers(events) == []
    assert acd.call("c1").state is CallState.WAITING


def test_all_skills_of_a_queue_are_required() -> None:
    acd = ACD([queue(skills={"s": 3, "lang_zh": 5})])
    agents(acd, ("only_s", {"s": 10}), ("both", {"s": 3, "lang_zh": 6}))
    assert offers(acd.enqueue("c1", "q", 1)) == [("c1", "both")]


# ------------------------------------------------------------- choosing a call


def test_ready_agent_takes_the_longest_waiting_call_across_its_queues() -> None:
    acd = ACD([queue("a", skills={"x": 1}), queue("b", skills={"y": 1})])
    acd.enqueue("a1", "a", 5)
    acd.enqueue("b1", "b", 1)  # waited longer, in the agent's second queue
    acd.enqueue("a2", "a", 6)
    agents(acd, ("ag", {"x": 5, "y": 5}), ready_at=10)
    assert acd.agent("ag").call_id == "b1"


def test_priority_beats_wait_and_queue_priority_is_the_default() -> None:
    acd = ACD([queue("low", skills={"x": 1}), queue("high", skills={"y": 1}, priority=5)])
    acd.enqueue("old", "low", 1)
    acd.enqueue("vip", "low", 3, priority=9)
    acd.enqueue("hi", "high", 2)
    agents(acd, ("ag", {"x": 5, "y": 5}), ready_at=10)
    assert acd.agent("ag").call_id == "vip"
    acd.no_answer("vip", 11)  # one miss: not ready, the VIP call keeps its place
    acd.set_ready("ag", 12)
    assert acd.agent("ag").call_id == "vip"
    talk(acd, "vip", 13, 1)
    acd.end_wrap_up("ag", 15)
    assert acd.agent("ag").call_id == "hi"  # queue priority 5 before priority 0


def test_first_in_first_out_within_a_queue() -> None:
    acd = ACD([queue(wrap_up_s=0)])
    for i in range(5):
        acd.enqueue(f"c{i}", "q", i)
    agents(acd, ("ag", {"s": 1}), ready_at=10)
    served = []
    for t in range(5):
        call_id = acd.agent("ag").call_id
        assert call_id is not None
        served.append(call_id)
        talk(acd, call_id, 20 + t, 0.5)
    assert served == ["c0", "c1", "c2", "c3", "c4"]


def test_queued_positions_count_calls_ahead() -> None:
    acd = ACD([queue()])
    assert [e.position for e in acd.enqueue("c1", "q", 1) if isinstance(e, CallQueued)] == [1]
    assert [e.position for e in acd.enqueue("c2", "q", 2) if isinstance(e, CallQueued)] == [2]
    vip = acd.enqueue("v", "q", 3, priority=5)
    assert [e.position for e in vip if isinstance(e, CallQueued)] == [1]
    assert [e.position for e in acd.enqueue("c3", "q", 4) if isinstance(e, CallQueued)] == [4]


def test_a_call_is_queued_even_when_an_agent_is_ready_at_once() -> None:
    acd = ACD([queue()])
    agents(acd, ("ag", {"s": 1}))
    events = acd.enqueue("c1", "q", 5)
    assert isinstance(events[0], CallQueued)
    assert offers(events) == [("c1", "ag")]


# ------------------------------------------------------------------ escalation


def test_escalation_lowers_the_level_after_its_time() -> None:
    acd = ACD([queue(skills={"s": 7}, escalation=(EscalationStep(30, min_level=3),))])
    agents(acd, ("junior", {"s": 4}))
    acd.enqueue("c1", "q", 100)
    assert acd.next_wakeup() == 130
    assert offers(acd.tick(129.9)) == []
    events = acd.tick(130)
    assert CallEscalated("c1", "q", 1) in events
    assert offers(events) == [("c1", "junior")]
    offer = next(e for e in events if isinstance(e, CallOffered))
    assert offer.step == 1


def test_escalation_adds_a_backup_skill_and_keeps_earlier_steps() -> None:
    q = queue(
        skills={"s": 7},
        escalation=(EscalationStep(10, min_level=5), EscalationStep(20, add_skills={"gen": 3})),
    )
    acd = ACD([q])
    agents(acd, ("backup", {"gen": 3}))
    acd.enqueue("c1", "q", 0)
    assert offers(acd.tick(15)) == []
    assert offers(acd.tick(20)) == [("c1", "backup")]
    assert q.steps() == (
        ((("s", 7),),),
        ((("s", 5),),),
        ((("s", 5),), (("gen", 3),)),
    )


def test_agent_ready_sees_escalated_calls_of_its_queues() -> None:
    acd = ACD([queue(skills={"s": 7}, escalation=(EscalationStep(30, min_level=3),))])
    acd.enqueue("c1", "q", 0)
    acd.tick(31)
    agents(acd, ("junior", {"s": 3}), ready_at=40)
    assert acd.agent("junior").call_id == "c1"


# ------------------------------------------------------------------------ RONA


def test_rona_makes_the_agent_not_ready_and_returns_the_call_to_the_head() -> None:
    acd = ACD([queue(ring_timeout_s=15)])
    agents(acd, ("a1", {"s": 1}))
    first = acd.enqueue("c1", "q", 10)
    assert next(e for e in first if isinstance(e, CallOffered)).ring_deadline == 25
    acd.enqueue("c2", "q", 11)
    agents(acd, ("a2", {"s": 1}), ready_at=None)
    events = acd.tick(25)
    assert CallRequeued("c1", "q", "a1", "no_answer") in events
    view = acd.agent("a1")
    assert (view.state, view.reason) == (AgentState.NOT_READY, "no_answer")
    acd.login("a2", 26)  # c1 kept its original wait: it is first again
    assert acd.agent("a2").call_id == "c1"
    assert acd.call("c1").enqueued_at == 10


def test_rona_after_the_configured_number_of_misses() -> None:
    acd = ACD([queue(rona_misses=2, ring_timeout_s=0)])
    agents(acd, ("a1", {"s": 1}))
    acd.enqueue("c1", "q", 1)
    events = acd.no_answer("c1", 5)
    assert ("a1", "ready") in states(events)
    assert offers(events) == [("c1", "a1")]  # nobody else: the same agent again
    events = acd.no_answer("c1", 9)
    assert ("a1", "not_ready") in states(events)
    assert acd.call("c1").state is CallState.WAITING


def test_an_answer_resets_the_miss_count() -> None:
    acd = ACD([queue(rona_misses=2, ring_timeout_s=0, wrap_up_s=0)])
    agents(acd, ("a1", {"s": 1}))
    acd.enqueue("c1", "q", 1)
    acd.no_answer("c1", 2)
    talk(acd, "c1", 3, 1)
    acd.enqueue("c2", "q", 5)
    assert ("a1", "ready") in states(acd.no_answer("c2", 6))


def test_rona_prefers_another_agent_for_the_missed_call() -> None:
    acd = ACD([queue(rona_misses=5, ring_timeout_s=0)])
    agents(acd, ("a1", {"s": 1}))
    acd.enqueue("c1", "q", 1)
    agents(acd, ("a2", {"s": 1}), ready_at=2)
    events = acd.no_answer("c1", 3)
    assert offers(events) == [("c1", "a2")]
    assert acd.agent("a1").state is AgentState.READY


# ---------------------------------------------------------- max wait, fallback


def test_max_wait_overflows_to_another_queue_keeping_the_wait() -> None:
    acd = ACD(
        [
            queue("a", skills={"x": 1}, max_wait_s=60, fallback=Fallback.OVERFLOW, overflow_to="b"),
            queue("b", skills={"y": 1}),
        ]
    )
    acd.enqueue("late", "b", 30)
    acd.enqueue("c1", "a", 0)
    events = acd.tick(60)
    assert CallOverflowed("c1", "a", "b", 60) in events
    assert acd.call("c1").queue == "b"
    agents(acd, ("ag", {"y": 1}), ready_at=70)
    assert acd.agent("ag").call_id == "c1"  # its wait counts from its first queue


def test_max_wait_callback_fallback_leaves_the_acd() -> None:
    acd = ACD([queue(max_wait_s=30, fallback=Fallback.CALLBACK)])
    acd.enqueue("c1", "q", 0)
    assert acd.tick(30) == [CallFallback("c1", "q", "callback", 30)]
    with pytest.raises(UnknownCall):
        acd.call("c1")
    assert acd.outcomes["fallback"] == 1


def test_max_wait_while_ringing_is_decided_when_the_ring_ends() -> None:
    acd = ACD([queue(max_wait_s=30, fallback=Fallback.VOICEMAIL, ring_timeout_s=20)])
    agents(acd, ("a1", {"s": 1}))
    acd.enqueue("c1", "q", 15)  # rings a1 until 35; max wait at 45
    acd.tick(35)
    assert acd.call("c1").state is CallState.WAITING
    assert acd.tick(45) == [CallFallback("c1", "q", "voicemail", 30)]


def test_fallback_fires_when_a_missed_ring_ends_after_max_wait() -> None:
    acd = ACD([queue(max_wait_s=10, fallback=Fallback.VOICEMAIL, ring_timeout_s=0)])
    agents(acd, ("a1", {"s": 1}))
    acd.enqueue("c1", "q", 0)
    acd.tick(12)  # max wait passed while ringing: nothing yet
    assert acd.call("c1").state is CallState.OFFERED
    events = acd.no_answer("c1", 14)
    assert CallFallback("c1", "q", "voicemail", 14) in events


# ------------------------------------------------------------------ abandon etc


def test_abandon_while_waiting_and_while_ringing() -> None:
    acd = ACD([queue()])
    acd.enqueue("c1", "q", 0)
    acd.enqueue("c2", "q", 1)
    assert acd.abandoned("c1", 7) == [CallAbandoned("c1", "q", 7, None)]
    agents(acd, ("a1", {"s": 1}), ready_at=8)
    acd.enqueue("c3", "q", 9)
    events = acd.abandoned("c2", 10)
    assert CallAbandoned("c2", "q", 9, "a1") in events
    assert offers(events) == [("c3", "a1")]  # the freed agent takes the next call


def test_agent_is_reserved_for_one_call() -> None:
    acd = ACD([queue()])
    agents(acd, ("a1", {"s": 1}))
    acd.enqueue("c1", "q", 1)
    assert offers(acd.enqueue("c2", "q", 2)) == []
    acd.answered("c1", 3)
    assert offers(acd.enqueue("c3", "q", 4)) == []


def test_wrap_up_ends_by_timer_or_by_the_agent() -> None:
    acd = ACD([queue(wrap_up_s=30, ring_timeout_s=0)])
    agents(acd, ("a1", {"s": 1}))
    acd.enqueue("c1", "q", 0)
    talk(acd, "c1", 1, 10)
    assert acd.agent("a1").state is AgentState.WRAP_UP
    acd.enqueue("c2", "q", 12)
    assert acd.next_wakeup() == 41
    assert offers(acd.tick(41)) == [("c2", "a1")]
    talk(acd, "c2", 42, 1)
    acd.enqueue("c3", "q", 44)
    assert offers(acd.end_wrap_up("a1", 45)) == [("c3", "a1")]
    assert acd.tick(1000) == []  # the second wrap-up timer is stale


def test_zero_wrap_up_goes_straight_back_to_ready() -> None:
    acd = ACD([queue(wrap_up_s=0)])
    agents(acd, ("a1", {"s": 1}))
    acd.enqueue("c1", "q", 0)
    acd.answered("c1", 1)
    assert states(acd.ended("c1", 2)) == [("a1", "wrap_up"), ("a1", "ready")]


def test_direct_call_returns_to_the_previous_state() -> None:
    acd = ACD([queue()])
    agents(acd, ("a1", {"s": 1}))
    acd.set_not_ready("a1", "lunch", 1)
    acd.direct_call_started("a1", 2)
    acd.enqueue("c1", "q", 3)
    events = acd.direct_call_ended("a1", 4)
    assert states(events) == [("a1", "wrap_up"), ("a1", "not_ready")]
    assert acd.agent("a1").reason == "lunch"
    acd.set_ready("a1", 5)
    assert acd.agent("a1").call_id == "c1"


# --------------------------------------------------------------- bad requests


def test_illegal_requests_raise_and_change_nothing() -> None:
    acd = ACD([queue()])
    agents(acd, ("a1", {"s": 1}))
    acd.enqueue("c1", "q", 1)
    before = (acd.agent("a1"), acd.call("c1"))
    with pytest.raises(IllegalTransition):
        acd.logout("a1", 2)  # ringing
    with pytest.raises(IllegalTransition):
        acd.set_not_ready("a1", "break", 2)
    with pytest.raises(IllegalCallState):
        acd.ended("c1", 2)  # not answered yet
    with pytest.raises(DuplicateCall):
        acd.enqueue("c1", "q", 2)
    with pytest.raises(UnknownQueue):
        acd.enqueue("c9", "nope", 2)
    with pytest.raises(UnknownAgent):
        acd.set_ready("ghost", 2)
    with pytest.raises(UnknownCall):
        acd.answered("ghost", 2)
    with pytest.raises(ModelError):
        acd.enqueue("c9", "q", 2, priority="high")  # type: ignore[arg-type]
    with pytest.raises(IllegalTransition):
        acd.login("a1", 2)
    assert (acd.agent("a1"), acd.call("c1")) == before
    assert acd.tick(2) == []


def test_bad_models_are_refused() -> None:
    with pytest.raises(ModelError, match="level"):
        ACD([queue(skills={"s": 11})])
    with pytest.raises(ModelError, match="overflow loop"):
        ACD(
            [
                queue("a", max_wait_s=1, fallback=Fallback.OVERFLOW, overflow_to="b"),
                queue("b", max_wait_s=1, fallback=Fallback.OVERFLOW, overflow_to="a"),
            ]
        )
    with pytest.raises(ModelError, match="greater"):
        ACD([queue(escalation=(EscalationStep(10, min_level=1), EscalationStep(5, min_level=1)))])
    with pytest.raises(ModelError, match="twice"):
        ACD([queue(), queue()])
    acd = ACD([queue()])
    acd.add_agent(AgentSpec("a", {"s": 1}))
    with pytest.raises(ModelError):
        acd.add_agent(AgentSpec("a", {"s": 1}))
    with pytest.raises(ModelError):
        acd.add_agent(AgentSpec("b", {"s": 0}))


# ------------------------------------------------------------------ live stats


def test_queue_stats_are_exact() -> None:
    acd = ACD([queue(service_level_s=20, wrap_up_s=0), queue("other", skills={"t": 1})])
    agents(acd, ("a1", {"s": 1}), ("a2", {"s": 1, "t": 1}))
    acd.set_not_ready("a2", "break", 2)
    acd.enqueue("c1", "q", 10)  # a1 rings
    acd.enqueue("c2", "q", 11)
    acd.enqueue("c3", "q", 12)
    stats = acd.queue_stats("q", 40)
    assert (stats.waiting, stats.longest_wait_s, stats.agents_ready, stats.agents_busy) == (
        3,
        30,
        0,
        1,
    )
    acd.answered("c1", 15)  # within 20 s
    acd.abandoned("c2", 13)  # short abandon: not counted against the service level
    acd.abandoned("c3", 50)  # long abandon: counted
    stats = acd.queue_stats("q", 50)
    assert stats.waiting == 0 and stats.answered == 1 and stats.abandoned == 2
    assert stats.service_level == pytest.approx(0.5)
    assert acd.queue_stats("other", 50).agents_ready == 0
    acd.set_ready("a2", 51)
    assert acd.queue_stats("other", 51).agents_ready == 1
    assert acd.queue_stats("q", 51).agents_busy == 1


def test_set_skills_moves_the_agent_between_queues() -> None:
    acd = ACD([queue("a", skills={"x": 1}), queue("b", skills={"y": 1})])
    agents(acd, ("ag", {"x": 1}))
    acd.enqueue("c1", "b", 5)
    events = acd.set_skills("ag", {"y": 4}, 6)
    assert offers(events) == [("c1", "ag")]
    assert acd.queue_stats("a", 6).agents_busy == 0
    assert acd.queue_stats("b", 6).agents_busy == 1


def test_late_tick_acts_at_each_timers_own_time() -> None:
    acd = ACD([queue(max_wait_s=30, fallback=Fallback.CALLBACK)])
    acd.enqueue("c1", "q", 0)
    assert acd.tick(500) == [CallFallback("c1", "q", "callback", 30)]
