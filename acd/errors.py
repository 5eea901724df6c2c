"""The ACD's errors: a caller asked for something the rules do not allow.

Every error leaves the ACD exactly as it was before the call that raised it.
"""

from __future__ import annotations


class ACDError(Exception):
    """Base of every error the ACD raises."""


class ModelError(ACDError, ValueError):
    """A queue, agent or escalation description is not valid."""


class UnknownAgent(ACDError, KeyError):
    def __init__(self, agent_id: str) -> None:
        super().__init__(agent_id)
        self.agent_id = agent_id

    def __str__(self) -> str:
        return f"unknown agent {self.agent_id!r}"


class UnknownQueue(ACDError, KeyError):
    def __init__(self, queue: str) -> None:
        super().__init__(queue)
        self.queue = queue

    def __str__(self) -> str:
        return f"unknown queue {self.queue!r}"


class UnknownCall(ACDError, KeyError):
    def __init__(self, call_id: str) -> None:
        super().__init__(call_id)
        self.call_id = call_id

    def __str__(self) -> str:
        return f"unknown call {self.call_id!r}"


class DuplicateCall(ACDError, ValueError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"call {call_id!r} is already in the ACD")
        self.call_id = call_id


class IllegalTransition(ACDError):
    """An agent event that the state machine does not allow from the current state."""

    def __init__(self, agent_id: str, state: str, event: str) -> None:
        super().__init__(f"agent {agent_id!r}: {event!r} is not allowed in state {state!r}")
        self.agent_id = agent_id
        self.state = state
        self.event = event


class IllegalCallState(ACDError):
    """A call event that does not fit the call's current state."""

    def __init__(self, call_id: str, state: str, event: str) -> None:
        super().__init__(f"call {call_id!r}: {event!r} is not allowed in state {state!r}")
        self.call_id = call_id
        self.state = state
        self.event = event
