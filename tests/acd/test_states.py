"""Walk the agent state table: every listed transition works, everything else is refused."""

from __future__ import annotations

import itertools

import pytest

from acd.errors import IllegalTransition
from acd.states import TRANSITIONS, AgentEvent, AgentState, next_state


@pytest.mark.parametrize(("state", "event"), sorted(TRANSITIONS))
def test_listed_transition_reaches_a_listed_state(state: AgentState, event: AgentEvent) -> None:
    targets = TRANSITIONS[(state, event)]
    for target in targets:
        assert next_state("a", state, event, target) is target
    if len(targets) == 1:
        assert next_state("a", state, event) in targets


@pytest.mark.parametrize(
    ("state", "event"),
    [p for p in itertools.product(AgentState, AgentEvent) if p not in TRANSITIONS],
)
def test_unlisted_transition_is_a_typed_error_naming_state_and_event(
    state: AgentState, event: AgentEvent
) -> None:
    with pytest.raises(IllegalTransition) as info:
        next_state("80001", state, event)
    assert info.value.state == state.value
    assert info.value.event == event.value
    assert "80001" in str(info.value) and state.value in str(info.value)


def test_choice_outside_the_targets_is_refused() -> None:
    with pytest.raises(IllegalTransition):
        next_state("a", AgentState.RINGING, AgentEvent.NO_ANSWER, AgentState.ON_CALL)


def test_the_graph_is_the_documented_one() -> None:
    # logged_out -> ready <-> not_ready -> ringing -> on_call -> wrap_up -> ready|not_ready
    reachable = {AgentState.LOGGED_OUT}
    frontier = [AgentState.LOGGED_OUT]
    while frontier:
        state = frontier.pop()
        for (src, _), targets in TRANSITIONS.items():
            if src is state:
                for t in targets - reachable:
                    reachable.add(t)
                    frontier.append(t)
    assert reachable == set(AgentState)
    assert (AgentState.ON_CALL, AgentEvent.LOGOUT) not in TRANSITIONS
    assert (AgentState.RINGING, AgentEvent.GO_NOT_READY) not in TRANSITIONS
    assert TRANSITIONS[(AgentState.ON_CALL, AgentEvent.CALL_END)] == {AgentState.WRAP_UP}
