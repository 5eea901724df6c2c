"""What the center decides, as data: the asyncio shell carries these out in order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cti.store.live import LiveConference, LiveMonitor
from cti.store.models import CallRecord


@dataclass(frozen=True, slots=True)
class Publish:
    """An event for WebSocket clients (DESIGN.md §3.1)."""

    event: str
    data: Mapping[str, Any]
    topics: tuple[str, ...]
    agents: tuple[str, ...] = ()  # whose ``self`` topic it belongs to


@dataclass(frozen=True, slots=True)
class PbxAction:
    """An AMI action. ``call_id``/``purpose`` say what it was for when it fails."""

    name: str
    headers: tuple[tuple[str, str], ...]
    call_id: str | None = None
    purpose: str = ""


@dataclass(frozen=True, slots=True)
class SaveCall:
    record: CallRecord


@dataclass(frozen=True, slots=True)
class SaveAgentState:
    agent_id: str
    state: str
    reason: str | None
    since: float


@dataclass(frozen=True, slots=True)
class LookupCaller:
    """Fetch the customer record and recent calls of ``number`` for screen pop; the shell
    hands them back with :meth:`cti.center.core.Center.caller_found`."""

    call_id: str
    number: str


@dataclass(frozen=True, slots=True)
class Repaired:
    """The reconciler fixed a state that no longer matched the PBX (logged)."""

    what: str
    agent_id: str | None
    call_id: str | None


@dataclass(frozen=True, slots=True)
class DialBack:
    """Call a customer back (virtual hold): an asynchronous AMI Originate whose outcome
    the shell hands back with :meth:`cti.center.core.Center.callback_dialled`."""

    call_id: str
    headers: tuple[tuple[str, str], ...]
    timeout_s: float


@dataclass(frozen=True, slots=True)
class SaveMonitor:
    """Keep (``row``) or forget (``None``) a supervisor's spy, for a restarted server."""

    supervisor: str
    row: LiveMonitor | None


@dataclass(frozen=True, slots=True)
class SaveConference:
    """Keep (``row``) or forget (``None``) a supervisor's conference."""

    room: str
    row: LiveConference | None


Effect = (
    Publish
    | PbxAction
    | SaveCall
    | SaveAgentState
    | LookupCaller
    | Repaired
    | DialBack
    | SaveMonitor
    | SaveConference
)
