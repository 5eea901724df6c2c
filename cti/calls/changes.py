"""What the call model says: call changes, as frozen dataclasses.

Every ``CallModel.handle`` / ``resync`` returns a list of these, in the order they
happened. Rules a consumer can rely on:

- Each call gets exactly one :class:`CallStarted` and, later, exactly one
  :class:`CallEnded` (``cause="merged"`` when it was folded into another call, which is
  announced first by a :class:`CallMerged` on the surviving call).
- A leg (one Asterisk channel) is announced by :class:`LegAdded` on the call it belongs
  to; when it moves to another call by a merge it is announced again there.
- ``at`` is the ``now`` the model was given with the event; durations are differences
  of those values (seconds).

Snapshots (:class:`CallInfo`, :class:`LegInfo`) are frozen copies, safe to keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CallAnswered",
    "CallBridged",
    "CallChange",
    "CallDequeued",
    "CallEnded",
    "CallHeld",
    "CallInfo",
    "CallMerged",
    "CallPickedUp",
    "CallQueued",
    "CallStarted",
    "CallState",
    "CallStateChanged",
    "CallTransferred",
    "CallUnheld",
    "CallerIdChanged",
    "DeviceStateChanged",
    "Direction",
    "ExtensionStateChanged",
    "Lamp",
    "LegAdded",
    "LegInfo",
    "LegRemoved",
    "LegRole",
    "LegStateChanged",
    "Outcome",
    "PbxShutdown",
    "SpyStarted",
    "SpyStopped",
    "Transfer",
    "TransferKind",
]

#: What a call is doing now (see ``cti/calls/states.py`` for how it is derived).
CallState = Literal["ringing", "queued", "up", "held", "ended"]
#: What a leg is to its call: ``trunk`` (the carrier side: a customer), ``phone`` (an
#: agent's or supervisor's device), ``local`` (Local channel plumbing, never a party),
#: ``spy`` (a ChanSpy listener/whisperer/barger, never a party).
LegRole = Literal["trunk", "phone", "local", "spy"]
#: How a call ended, for statistics: answered by a party; abandoned by the caller while
#: queued or ringing; blocked by congestion (trunk full, cause 34); anything else; or
#: folded into another call.
Outcome = Literal["answered", "abandoned", "blocked", "unanswered", "merged"]
TransferKind = Literal["blind", "attended", "redirect", "pickup"]
Direction = Literal["inbound", "outbound", "internal"]
#: A busy lamp field value (DESIGN.md 3.1, ``extension.state``).
Lamp = Literal["idle", "ringing", "busy", "unavailable"]


# -- snapshots ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transfer:
    """One step of a call's transfer chain.

    ``from_device`` handed the call on; ``to_device`` took it (None until known: a blind
    transfer names only ``to_exten`` until the new phone is dialled).
    """

    kind: TransferKind
    at: float
    from_device: str | None
    to_device: str | None
    to_exten: str | None = None


@dataclass(frozen=True, slots=True)
class LegInfo:
    """A frozen copy of one leg (channel) of a call."""

    channel: str
    uniqueid: str
    device: str
    role: LegRole
    state: str
    caller_num: str
    caller_name: str
    connected_num: str
    connected_name: str
    context: str
    exten: str
    bridge_id: str | None
    held: bool
    created_at: float
    up_at: float | None
    ended_at: float | None
    cause_code: int | None
    cause_txt: str


@dataclass(frozen=True, slots=True)
class CallInfo:
    """A frozen copy of a call: who, when, how, with whom."""

    call_id: str
    state: CallState
    direction: Direction
    caller_num: str
    caller_name: str
    caller_channel: str | None
    started_at: float
    answered_at: float | None
    ended_at: float | None
    queue: str | None
    legs: tuple[LegInfo, ...]  # live and ended, in order of arrival
    parties: tuple[str, ...]  # devices of every trunk/phone leg the call ever had
    talking: tuple[tuple[str, ...], ...]  # channel names of parties in conversation
    max_talking: int  # most parties ever in one conversation (3 for a 3-party conference)
    transfers: tuple[Transfer, ...]
    linkedids: tuple[str, ...]


# -- call changes -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: str
    at: float
    caller_num: str
    caller_name: str
    channel: str
    device: str
    role: LegRole


@dataclass(frozen=True, slots=True)
class CallerIdChanged:
    """The caller of the call is now known (NewCallerid, or a better caller leg joined)."""

    call_id: str
    at: float
    caller_num: str
    caller_name: str


@dataclass(frozen=True, slots=True)
class LegAdded:
    call_id: str
    at: float
    channel: str
    uniqueid: str
    device: str
    role: LegRole
    state: str


@dataclass(frozen=True, slots=True)
class LegStateChanged:
    call_id: str
    at: float
    channel: str
    device: str
    state: str
    previous: str


@dataclass(frozen=True, slots=True)
class LegRemoved:
    """A channel hung up (``cause``: see :func:`cti.calls.states.cause_name`)."""

    call_id: str
    at: float
    channel: str
    device: str
    role: LegRole
    cause: str
    cause_code: int | None
    cause_txt: str


@dataclass(frozen=True, slots=True)
class CallStateChanged:
    call_id: str
    at: float
    state: CallState
    previous: CallState


@dataclass(frozen=True, slots=True)
class CallQueued:
    call_id: str
    at: float
    queue: str
    position: int


@dataclass(frozen=True, slots=True)
class CallDequeued:
    call_id: str
    at: float
    queue: str
    abandoned: bool


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """The first conversation between two parties began; ``channel``/``device`` is the
    party that answered (not the caller)."""

    call_id: str
    at: float
    channel: str
    device: str
    wait_s: float


@dataclass(frozen=True, slots=True)
class CallBridged:
    """Who talks to whom changed: each group is the channel names of parties that hear
    each other (through bridges and Local channel pairs), caller first. Empty: nobody
    talks any more (held alone, being transferred, ...)."""

    call_id: str
    at: float
    groups: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class CallTransferred:
    call_id: str
    at: float
    transfer: Transfer


@dataclass(frozen=True, slots=True)
class CallPickedUp:
    """``device`` picked up the call that was ringing at ``target_device`` (代接/强接)."""

    call_id: str
    at: float
    channel: str
    device: str
    target_channel: str
    target_device: str


@dataclass(frozen=True, slots=True)
class CallHeld:
    call_id: str
    at: float
    channel: str
    device: str


@dataclass(frozen=True, slots=True)
class CallUnheld:
    call_id: str
    at: float
    channel: str
    device: str


@dataclass(frozen=True, slots=True)
class SpyStarted:
    """A ChanSpy leg (listen, whisper or barge: AMI does not say which) began on
    ``target_channel``. The spy leg is not a party of the call."""

    call_id: str
    at: float
    channel: str
    device: str
    target_channel: str


@dataclass(frozen=True, slots=True)
class SpyStopped:
    call_id: str
    at: float
    channel: str
    device: str
    target_channel: str


@dataclass(frozen=True, slots=True)
class CallMerged:
    """``merged_call_id`` is folded into ``call_id`` (its legs follow as LegAdded, then
    it ends with cause ``merged``). ``reason``: bridge, linkedid, pickup, spy, dial,
    local."""

    call_id: str
    at: float
    merged_call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over.

    ``cause`` is machine-readable: the Q.850 cause of the caller's channel in snake case
    (``normal_clearing``, ``user_busy``, ``congestion``, ``unknown``...), or
    ``pbx_resync`` (its channels were gone when the link came back), ``pbx_shutdown``,
    ``merged`` (see ``merged_into``). ``wait_s`` runs from the start to the answer (or
    to the end when unanswered), ``talk_s`` from the answer to the end. ``hangup_by`` is
    the channel that hung up first at the end (None when unknown).
    """

    call_id: str
    at: float
    cause: str
    cause_code: int | None
    cause_txt: str
    outcome: Outcome
    wait_s: float
    talk_s: float
    duration_s: float
    hangup_by: str | None
    merged_into: str | None
    info: CallInfo


@dataclass(frozen=True, slots=True)
class DeviceStateChanged:
    """From ``DeviceStateChange`` (or DeviceStateList at resync). ``state`` as Asterisk
    says it (NOT_INUSE, INUSE, RINGING...); ``previous`` is None for a new device."""

    at: float
    device: str
    state: str
    previous: str | None
    lamp: Lamp


@dataclass(frozen=True, slots=True)
class ExtensionStateChanged:
    """From ``ExtensionStatus`` (or ExtensionStateList at resync): a hint's lamp."""

    at: float
    exten: str
    context: str
    status: int
    status_text: str
    hint: str
    lamp: Lamp
    previous_lamp: Lamp | None


@dataclass(frozen=True, slots=True)
class PbxShutdown:
    """Asterisk announced it is shutting down; every call was ended (pbx_shutdown)."""

    at: float
    restart: bool


CallChange = (
    CallStarted
    | CallerIdChanged
    | LegAdded
    | LegStateChanged
    | LegRemoved
    | CallStateChanged
    | CallQueued
    | CallDequeued
    | CallAnswered
    | CallBridged
    | CallTransferred
    | CallPickedUp
    | CallHeld
    | CallUnheld
    | SpyStarted
    | SpyStopped
    | CallMerged
    | CallEnded
    | DeviceStateChanged
    | ExtensionStateChanged
    | PbxShutdown
)
