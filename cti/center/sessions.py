"""A supervisor's sessions on the PBX as Hotline keeps them: a spy (:class:`Monitor`) and a
conference with its members. Shared by :mod:`cti.center.supervise` (the ops and events)
and :mod:`cti.center.takeover` (kept in the store, restored after a restart)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cti.store.jsonable import iso

__all__ = ["Conference", "Member", "Monitor", "channel_extension", "gone", "pending"]


def channel_extension(channel_or_device: str) -> str | None:
    """``PJSIP/8001-0000001a`` or ``PJSIP/8001`` → ``8001``."""
    if not channel_or_device.startswith("PJSIP/"):
        return None
    return channel_or_device[6:].split("-", 1)[0]


@dataclass
class Monitor:
    """A supervisor's spy on a call: one per supervisor (one phone)."""

    supervisor: str
    extension: str
    call_id: str  # Hotline's id, as the supervisor named it
    model_id: str
    target: str  # the spied-on channel
    mode: str  # what the supervisor asked for last
    spy_mode: str  # what the PBX's ChanSpy is in (originated with, or switched to)
    since: float
    channel: str | None = None  # the supervisor's ChanSpy channel, once it spies

    def json(self, state: str) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "supervisor": self.supervisor,
            "extension": self.extension,
            "mode": self.mode,
            "state": state,
            "target": self.target,
            "channel": self.channel,
            "since": iso(self.since),
        }


@dataclass
class Member:
    extension: str
    state: str = "invited"  # invited | joined | left | failed | dropped
    muted: bool = False
    talking: bool = False
    channel: str | None = None
    ringing: bool = True  # its phone was called into the room and has not joined or failed

    def json(self) -> dict[str, Any]:
        return {
            "extension": self.extension,
            "state": self.state,
            "muted": self.muted,
            "talking": self.talking,
        }


@dataclass
class Conference:
    room: str
    owner: str
    kind: str  # select | group
    group: str | None
    started_at: float
    members: dict[str, Member] = field(default_factory=dict)
    ending: bool = False  # conference.end asked for: it goes once nobody is in or ringing

    def json(self) -> dict[str, Any]:
        return {
            "conference": self.room,
            "owner": self.owner,
            "kind": self.kind,
            "group": self.group,
            "started_at": iso(self.started_at),
            "members": [m.json() for m in self.members.values()],
            # The first shape of the conference.start reply, kept for clients using it.
            "room": self.room,
            "extensions": list(self.members),
        }


def gone(member: Member) -> bool:
    return member.state in ("left", "failed", "dropped")


def pending(member: Member) -> bool:
    """Its phone may still answer and join the room (invited, or dropped while ringing:
    kicked as it joins)."""
    return member.ringing and member.state in ("invited", "dropped")
