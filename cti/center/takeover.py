"""Spies and conferences after a restart or a reconnect (docs/dispatch.md, "After a
restart").

A new server on the same database, or the same server after the link came back, takes
over what the supervisors were doing on the PBX:

- A spy is a ``spy`` leg of the call model: seen by ``ChanSpyStart``, or, for a spy that
  began before the server came, adopted from CoreShowChannels (a ``ChanSpy`` channel and
  the call its first argument names). Its mode is the stored one: no event or list tells
  it once DTMF switched it; without a stored row, the ChanSpy options say the mode it
  started in. Who spies is the stored supervisor, else the account of its extension.
- A conference is a ConfBridge room of ``ConfbridgeListRooms`` that Hotline started (a
  stored or remembered owner): its members are the ``ConfbridgeList`` items, muted and
  talking as listed; members no longer listed have left (or, if their phone no longer
  rings, failed). A room Hotline did not start is not ours (an agent's conference, a
  conference whose row was lost) and is only kept from being handed out again.

No I/O: rows in (:class:`Saved`, from :mod:`cti.store.live`), effects out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cti.ami.codec import Message
from cti.calls.model import Channel
from cti.center.effects import Effect, PbxAction, Publish, SaveConference, SaveMonitor
from cti.center.sessions import (
    Conference,
    Member,
    Monitor,
    channel_extension,
    gone,
    pending,
)
from cti.config import Role
from cti.store.live import LiveConference, LiveMember, LiveMonitor

if TYPE_CHECKING:
    from cti.center.supervise import Supervision

__all__ = ["Saved", "from_rows", "kept_rows", "options_mode", "saves"]


@dataclass
class Saved:
    monitors: dict[str, Monitor] = field(default_factory=dict)  # by supervisor
    conferences: dict[str, Conference] = field(default_factory=dict)  # by room


def from_rows(monitors: Sequence[LiveMonitor], conferences: Sequence[LiveConference]) -> Saved:
    saved = Saved()
    for r in monitors:
        saved.monitors[r.supervisor] = Monitor(
            r.supervisor, r.extension, r.call_id, r.call_id, r.target, r.mode, r.spy_mode,
            r.since, r.channel,
        )  # fmt: skip
    for c in conferences:
        conf = Conference(c.room, c.owner, c.kind, c.group, c.started_at)
        for m in c.members:
            ringing = m.state in ("invited", "dropped") and m.channel is None
            conf.members[m.extension] = Member(
                m.extension, m.state, channel=m.channel, ringing=ringing
            )
        saved.conferences[c.room] = conf
    return saved


def monitor_row(m: Monitor) -> LiveMonitor:
    return LiveMonitor(
        m.supervisor, m.extension, m.call_id, m.target, m.mode, m.spy_mode, m.channel, m.since
    )


def conference_row(c: Conference) -> LiveConference:
    members = tuple(LiveMember(m.extension, m.state, m.channel) for m in c.members.values())
    return LiveConference(c.room, c.owner, c.kind, c.group, c.started_at, members)


Key = tuple[str, str]


def kept_rows(saved: Saved) -> dict[Key, object]:
    rows: dict[Key, object] = {("monitor", s): monitor_row(m) for s, m in saved.monitors.items()}
    rows.update({("conference", r): conference_row(c) for r, c in saved.conferences.items()})
    return rows


def saves(sup: Supervision, kept: dict[Key, object]) -> list[Effect]:
    """Save or forget every spy and conference whose row differs from ``kept`` (the rows
    as the store has them; updated)."""
    if not kept and not sup.monitors and not sup.conferences:
        return []
    rows: dict[Key, object] = {("monitor", s): monitor_row(m) for s, m in sup.monitors.items()}
    rows.update({("conference", r): conference_row(c) for r, c in sup.conferences.items()})
    out: list[Effect] = []
    for key, row in rows.items():
        if kept.get(key) != row:
            kept[key] = row
            out.append(_save(key, row))
    for key in [k for k in kept if k not in rows]:
        del kept[key]
        out.append(_save(key, None))
    return out


def _save(key: Key, row: object) -> Effect:
    kind, name = key
    if kind == "monitor":
        assert row is None or isinstance(row, LiveMonitor)
        return SaveMonitor(name, row)
    assert row is None or isinstance(row, LiveConference)
    return SaveConference(name, row)


# ---------------------------------------------------------------------------- spies


def options_mode(application_data: str) -> str:
    """The mode a ChanSpy started in, from its options (``PJSIP/8001-0000001a,qdEB``)."""
    parts = application_data.split(",")
    options = parts[1] if len(parts) > 1 else ""
    return "barge" if "B" in options else "whisper" if "w" in options else "listen"


def _legs(sup: Supervision) -> list[Channel]:
    return [leg for call in sup.center.model.calls.values() for leg in call.legs.values()]


def restore_monitors(sup: Supervision, saved: Mapping[str, Monitor], now: float) -> list[Effect]:
    before = dict(sup.monitors)
    candidates = {**saved, **before}  # what this server saw itself is newer
    sup.monitors.clear()
    legs = _legs(sup)
    spies: dict[str, Channel] = {}
    for leg in legs:
        ext = channel_extension(leg.device) if leg.role == "spy" else None
        if ext is not None:
            spies.setdefault(ext, leg)
    out: list[Effect] = []
    for supervisor, monitor in candidates.items():
        spy = spies.pop(monitor.extension, None)
        if spy is not None:
            known = monitor.channel == spy.name and supervisor in before
            _attach(sup, monitor, spy)
            sup.monitors[supervisor] = monitor
            out += sup._switch(monitor)  # a mode asked for before the spy had started
            if not known:
                out.append(_event(monitor, "started"))
        elif monitor.channel is None and any(
            leg.device == f"PJSIP/{monitor.extension}" for leg in legs
        ):
            sup.monitors[supervisor] = monitor  # its phone still rings: ChanSpyStart binds it
        else:
            out.append(_event(monitor, "failed" if monitor.channel is None else "stopped"))
    for ext, leg in spies.items():  # a spy nobody kept a row of
        holder = sup.holder(ext)
        if holder is None or holder in sup.monitors or not _may_spy(sup, holder):
            continue
        mode = options_mode(leg.application_data)
        monitor = Monitor(holder, ext, "", "", "", mode, mode, leg.created_at or now)
        _attach(sup, monitor, leg)
        sup.monitors[holder] = monitor
        out.append(_event(monitor, "started"))
    return out


def _attach(sup: Supervision, monitor: Monitor, leg: Channel) -> None:
    call = sup.center.model.calls[leg.call_id]
    if monitor.channel != leg.name and leg.application_data:
        monitor.spy_mode = options_mode(leg.application_data)  # not the spy the row knew
    monitor.channel = leg.name
    monitor.model_id = call.call_id
    monitor.call_id = sup._hotline_id(call.call_id)
    prefix = leg.application_data.split(",", 1)[0]
    spied = [
        other.name
        for other in call.legs.values()
        if prefix and (other.name == prefix or other.name.startswith(prefix + "-"))
    ]
    if spied:
        monitor.target = spied[0]
    elif monitor.target not in {other.name for other in call.legs.values()}:
        monitor.target = sup._spy_target(call, monitor.call_id)


def _may_spy(sup: Supervision, agent_id: str) -> bool:
    return any(
        a.agent_id == agent_id and a.role.at_least(Role.SUPERVISOR)
        for a in sup.center.config.agents
    )


def _event(monitor: Monitor, state: str) -> Publish:
    return Publish("call.monitored", monitor.json(state), ("calls",))


# ---------------------------------------------------------------------------- conferences


def restore_conferences(
    sup: Supervision,
    saved: Mapping[str, Conference],
    rooms: Mapping[str, Sequence[Message]] | None,
    now: float,
) -> list[Effect]:
    candidates = {**saved, **sup.conferences}
    if rooms is None:  # the PBX would not list its rooms: keep what we have
        sup.conferences.clear()
        sup.conferences.update(candidates)
        return []
    sup.conferences.clear()
    live_devices = {leg.device for leg in _legs(sup)}
    out: list[Effect] = []
    for room, conf in candidates.items():
        items = rooms.get(room)
        listed: dict[str, Message] = {}
        for item in items or ():
            ext = channel_extension(item.get("Channel") or "")
            if ext is not None:
                listed.setdefault(ext, item)
        for ext, item in listed.items():
            member = conf.members.get(ext)
            if member is None:  # joined by itself (dialled the room)
                member = conf.members[ext] = Member(ext)
            member.channel, member.ringing = item.get("Channel"), False
            member.muted = _yes(item.get("Muted"))
            member.talking = _yes(item.get("Talking"))
            if member.state == "dropped":  # dropped while ringing, then joined unseen
                headers = (("Conference", room), ("Channel", member.channel or ""))
                out.append(PbxAction("ConfbridgeKick", headers, None, f"drop {ext}"))
            else:
                member.state = "joined"
        ringing = False
        for ext, member in conf.members.items():
            if ext in listed:
                continue
            member.talking = False
            if member.state == "joined":
                member.state, member.ringing = "left", False
            elif pending(member):
                if f"PJSIP/{ext}" in live_devices:
                    ringing = True
                else:
                    member.ringing = False
                    if member.state == "invited":
                        member.state = "failed"
        if items is None and not ringing:  # ended while we were away
            for member in conf.members.values():
                if not gone(member):
                    member.state = "left"
            out.append(Publish("conference.ended", conf.json(), ("conferences",)))
            continue
        sup.conferences[room] = conf
        out.append(Publish("conference.updated", conf.json(), ("conferences",)))
    sup.foreign_rooms = set(rooms) - set(sup.conferences)
    return out


def _yes(value: str | None) -> bool:
    return (value or "").lower() == "yes"
