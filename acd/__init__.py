"""Hotline's routing core (ACD): pure, synchronous, no I/O; time is passed in."""

from acd.errors import (
    ACDError,
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
from acd.live import CallState
from acd.model import AgentSpec, EscalationStep, Fallback, QueueSpec, Strategy
from acd.router import ACD, AgentView, CallView, QueueStats
from acd.states import AgentEvent, AgentState

__all__ = [
    "ACD",
    "ACDError",
    "AgentEvent",
    "AgentSpec",
    "AgentState",
    "AgentStateChanged",
    "AgentView",
    "CallAbandoned",
    "CallAnswered",
    "CallEnded",
    "CallEscalated",
    "CallFallback",
    "CallOffered",
    "CallOverflowed",
    "CallQueued",
    "CallRequeued",
    "CallState",
    "CallView",
    "DuplicateCall",
    "EscalationStep",
    "Event",
    "Fallback",
    "IllegalCallState",
    "IllegalTransition",
    "ModelError",
    "QueueSpec",
    "QueueStats",
    "Strategy",
    "UnknownAgent",
    "UnknownCall",
    "UnknownQueue",
]
