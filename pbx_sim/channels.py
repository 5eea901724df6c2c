"""Channels, bridges and tasks of the simulated PBX (plain data; the world drives them).

A :class:`Channel` carries what Asterisk puts in a channel snapshot (name, state, caller
id, connected line, dialplan position, Uniqueid/Linkedid) plus the simulator's own
bookkeeping (the task running its dialplan, the task that dials it, the bridge it is in).
The snapshot header block is cached per prefix and rebuilt only after a change: most
events repeat it, so this is where the world saves most of its work.

A :class:`Task` is a generator the world drives: a channel's dialplan (the PBX thread of
Asterisk) or an Originate in progress. It yields the time it next wants to be woken (or
None: only a signal wakes it) and receives the :data:`Signal` that woke it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .model import DOWN, STATE_DESC

if TYPE_CHECKING:
    from .config import EndpointConfig

__all__ = ["Bridge", "Channel", "Signal", "Task", "TaskGen"]

#: A signal delivered to a task: ``(kind, channel-or-None, data)``. Kinds: ``timeout``,
#: ``hangup`` (this channel was asked to hang up), ``redirect``, ``dtmf``, and for legs a
#: task dials: ``ringing``, ``answer``, ``leg_hangup``.
Signal = tuple[str, "Channel | None", Any]
TaskGen = Generator["float | None", Signal, Any]

TIMEOUT: Signal = ("timeout", None, None)

_SNAP_NAMES = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)
_PREFIXED: dict[str, tuple[str, ...]] = {}


def _names(prefix: str) -> tuple[str, ...]:
    names = _PREFIXED.get(prefix)
    if names is None:
        names = _PREFIXED[prefix] = tuple(prefix + n for n in _SNAP_NAMES)
    return names


def _unknown(v: str) -> str:
    return v if v else "<unknown>"


class Task:
    """A generator driven by the world, with the token that identifies its live timer."""

    __slots__ = ("chan", "done", "gen", "name", "token")

    def __init__(self, gen: TaskGen, chan: Channel | None = None, name: str = "") -> None:
        self.gen = gen
        self.chan = chan
        self.name = name
        self.token = 0
        self.done = False

    def __repr__(self) -> str:
        return f"<Task {self.name or (self.chan.name if self.chan else '?')}>"


class Channel:
    """One call leg."""

    __slots__ = (
        "_snaps",
        "answered_at",
        "app",
        "app_data",
        "bridge",
        "cid_name",
        "cid_num",
        "conn_name",
        "conn_num",
        "context",
        "created_at",
        "data",
        "dead",
        "dev",
        "dnid",
        "endpoint",
        "exten",
        "groups",
        "hangup_cause",
        "language",
        "linkedid",
        "local_peer",
        "name",
        "owner",
        "priority",
        "resource",
        "softhangup",
        "state",
        "task",
        "tech",
        "uniqueid",
        "variables",
    )

    def __init__(
        self,
        name: str,
        uniqueid: str,
        *,
        tech: str,
        resource: str,
        state: int = DOWN,
        context: str = "default",
        exten: str = "s",
        priority: int = 1,
        cid_num: str = "",
        cid_name: str = "",
        linkedid: str | None = None,
        now: float = 0.0,
    ) -> None:
        self.name = name
        self.uniqueid = uniqueid
        self.linkedid = linkedid or uniqueid
        self.tech = tech
        #: The device-ish part: ``8001`` for PJSIP/8001-0000001, ``5000@from-trunk`` for Local.
        self.resource = resource
        self.state = state
        self.context = context
        self.exten = exten
        self.priority = priority
        self.cid_num = cid_num
        self.cid_name = cid_name
        self.conn_num = ""
        self.conn_name = ""
        self.language = "en"
        self.variables: dict[str, str] = {}
        self.groups: dict[str, str] = {}
        self.bridge: Bridge | None = None
        #: The task running this channel's dialplan (None for a leg being dialled).
        self.task: Task | None = None
        #: The task that dials this channel and gets its ringing/answer/hangup signals.
        self.owner: Task | None = None
        self.endpoint: EndpointConfig | None = None
        #: For a Local channel: the other half (;1 <-> ;2).
        self.local_peer: Channel | None = None
        #: The device this channel counts towards (set by the world).
        self.dev: Any = None
        self.created_at = now
        self.answered_at: float | None = None
        self.app = ""
        self.app_data = ""
        self.dnid = ""
        self.hangup_cause = 0
        self.softhangup = False
        self.dead = False
        #: Free-form per-channel state of the applications.
        self.data: dict[str, Any] = {}
        self._snaps: dict[str, tuple[tuple[str, str], ...]] = {}

    def changed(self) -> None:
        """Call after changing any field that appears in the snapshot."""
        if self._snaps:
            self._snaps.clear()

    def snapshot(self, prefix: str = "") -> tuple[tuple[str, str], ...]:
        """The 14 snapshot headers (``Channel`` ... ``Linkedid``), prefixed (``Dest``...)."""
        snap = self._snaps.get(prefix)
        if snap is None:
            names = _names(prefix)
            state = self.state
            snap = (
                (names[0], self.name),
                (names[1], str(state)),
                (names[2], STATE_DESC.get(state, "Unknown")),
                (names[3], _unknown(self.cid_num)),
                (names[4], _unknown(self.cid_name)),
                (names[5], _unknown(self.conn_num)),
                (names[6], _unknown(self.conn_name)),
                (names[7], self.language),
                (names[8], ""),
                (names[9], self.context),
                (names[10], self.exten),
                (names[11], str(self.priority)),
                (names[12], self.uniqueid),
                (names[13], self.linkedid),
            )
            self._snaps[prefix] = snap
        return snap

    def snapshot_at(self, context: str, exten: str, priority: int) -> tuple[tuple[str, str], ...]:
        """The snapshot as if the channel were at another dialplan position (Asterisk
        publishes the target of an async goto before the channel gets there: 06c)."""
        snap = list(self.snapshot())
        snap[9] = ("Context", context)
        snap[10] = ("Exten", exten)
        snap[11] = ("Priority", str(priority))
        return tuple(snap)

    @property
    def device_name(self) -> str:
        """The device whose state this channel contributes to (``PJSIP/8001``)."""
        return f"{self.tech}/{self.resource}"

    def __repr__(self) -> str:
        return f"<Channel {self.name} {STATE_DESC.get(self.state)}>"


class Bridge:
    """A bridge: ``basic``/``simple_bridge`` for two-party calls, ``base``/``softmix`` for
    ConfBridge."""

    __slots__ = (
        "channels",
        "creator",
        "data",
        "hidden",
        "name",
        "technology",
        "type",
        "uniqueid",
        "video",
    )

    def __init__(
        self,
        uniqueid: str,
        *,
        type_: str = "basic",
        technology: str = "simple_bridge",
        creator: str = "<unknown>",
        name: str = "<unknown>",
    ) -> None:
        self.uniqueid = uniqueid
        self.type = type_
        self.technology = technology
        self.creator = creator
        self.name = name
        self.video = "none"
        self.channels: list[Channel] = []
        #: Members never announced (ConfBridge's announcer) but counted.
        self.hidden = 0
        self.data: dict[str, Any] = {}

    def headers(self, count: int | None = None) -> list[tuple[str, str]]:
        """The bridge snapshot block (``BridgeUniqueid`` ... ``BridgeVideoSourceMode``)."""
        n = len(self.channels) + self.hidden if count is None else count
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", self.type),
            ("BridgeTechnology", self.technology),
            ("BridgeCreator", self.creator),
            ("BridgeName", self.name),
            ("BridgeNumChannels", str(n)),
            ("BridgeVideoSourceMode", self.video),
        ]
