"""Agent states: the one table that owns every transition.

Everything that changes an agent's state goes through :func:`next_state`; an event the
table does not list for the current state is an :class:`~acd.errors.IllegalTransition`.
"""

from __future__ import annotations

import enum

from acd.errors import IllegalTransition


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"


class AgentEvent(enum.StrEnum):
    GO_READY = "go_ready"  # login as ready, or end a pause
    GO_NOT_READY = "go_not_ready"  # login paused, pause, change the reason, or end wrap-up paused
    OFFER = "offer"  # the ACD reserved the agent for a call: the phone rings
    ANSWER = "answer"
    NO_ANSWER = "no_answer"  # RONA: back to ready, or not ready after too many misses
    OFFER_CANCELLED = "offer_cancelled"  # the caller left while the agent's phone rang
    CALL_END = "call_end"
    WRAP_UP_DONE = "wrap_up_done"
    DIRECT_CALL = "direct_call"  # a call the ACD did not route (click-to-dial, internal)
    LOGOUT = "logout"


S, E = AgentState, AgentEvent

# (state, event) -> the possible next states; where two are listed the ACD picks one by
# its rules (no answer: ready or not ready by the miss count).
TRANSITIONS: dict[tuple[AgentState, AgentEvent], frozenset[AgentState]] = {
    (S.LOGGED_OUT, E.GO_READY): frozenset({S.READY}),
    (S.LOGGED_OUT, E.GO_NOT_READY): frozenset({S.NOT_READY}),
    (S.READY, E.GO_NOT_READY): frozenset({S.NOT_READY}),
    (S.READY, E.OFFER): frozenset({S.RINGING}),
    (S.READY, E.DIRECT_CALL): frozenset({S.ON_CALL}),
    (S.READY, E.LOGOUT): frozenset({S.LOGGED_OUT}),
    (S.NOT_READY, E.GO_READY): frozenset({S.READY}),
    (S.NOT_READY, E.GO_NOT_READY): frozenset({S.NOT_READY}),
    (S.NOT_READY, E.DIRECT_CALL): frozenset({S.ON_CALL}),
    (S.NOT_READY, E.LOGOUT): frozenset({S.LOGGED_OUT}),
    (S.RINGING, E.ANSWER): frozenset({S.ON_CALL}),
    (S.RINGING, E.NO_ANSWER): frozenset({S.READY, S.NOT_READY}),
    (S.RINGING, E.OFFER_CANCELLED): frozenset({S.READY}),
    (S.ON_CALL, E.CALL_END): frozenset({S.WRAP_UP}),
    (S.WRAP_UP, E.WRAP_UP_DONE): frozenset({S.READY}),
    (S.WRAP_UP, E.GO_NOT_READY): frozenset({S.NOT_READY}),
    (S.WRAP_UP, E.GO_READY): frozenset({S.READY}),
    (S.WRAP_UP, E.LOGOUT): frozenset({S.LOGGED_OUT}),
}


def next_state(
    agent_id: str, state: AgentState, event: AgentEvent, choice: AgentState | None = None
) -> AgentState:
    """The state after ``event``; ``choice`` picks among several allowed targets."""
    targets = TRANSITIONS.get((state, event))
    if targets is None:
        raise IllegalTransition(agent_id, state.value, event.value)
    if choice is None:
        if len(targets) != 1:
            raise ValueError(f"{state}/{event} needs a choice among {sorted(targets)}")
        return next(iter(targets))
    if choice not in targets:
        raise IllegalTransition(agent_id, state.value, f"{event.value}->{choice.value}")
    return choice


def is_available(state: AgentState) -> bool:
    """Only a ready agent may be offered a call."""
    return state is AgentState.READY


def is_busy(state: AgentState) -> bool:
    """Busy for every queue: reserved, talking or wrapping up."""
    return state in (AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP)
