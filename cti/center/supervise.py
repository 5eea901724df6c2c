"""Supervisor and dispatcher functions: what each op becomes, and who monitors what.

No I/O: commands in → AMI actions, reply data and events out; call-model changes and
ConfBridge/Originate events in → events out. The asyncio shell
(:mod:`cti.center.server`) sends the actions in order and publishes the events.
docs/dispatch.md describes every op and event.

- Listen / whisper / barge-in (监听 / 密语 / 强插): ``Originate`` of the supervisor's own
  phone into ``ChanSpy(<agent channel>,qdE[w|B])``. The ``d`` option makes DTMF 4, 5 and
  6 switch the spy between listen, whisper and barge; Hotline sends those digits with
  ``PlayDTMF Receive: true`` on the supervisor's spy channel, so the mode changes without
  ringing the supervisor's phone again. ``E`` ends the spy with the call.
- Force release (强拆): ``Hangup`` of every party, the reason kept for the call record.
- Force pickup (强接): ``Originate`` of the dispatcher's phone into ``**<extension>``
  (directed ``Pickup``).
- Direct call (直呼): ``Originate`` to an idle extension; a busy one is offered for
  barge-in to a dispatcher who may take it (``extension.barge`` or ``barge: true``).
- Select-call / group call (选呼 / 群呼): a ConfBridge room; every member's phone is
  originated into it; ``ConfbridgeKick`` / ``ConfbridgeMute`` / ``ConfbridgeUnmute``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from cti.ami.codec import Message
from cti.api.protocol import MAX_EXTENSIONS, ClientError
from cti.calls import changes as ch
from cti.calls.model import Call
from cti.calls.states import device_lamp
from cti.center import takeover
from cti.center.dispatch import DispatchRules
from cti.center.effects import Effect, PbxAction, Publish
from cti.center.sessions import Conference, Member, Monitor, channel_extension, gone, pending

if TYPE_CHECKING:
    from cti.center.core import Center

__all__ = ["CONFERENCE_EVENTS", "MODES", "Conference", "Member", "Monitor", "Supervision"]

INTERNAL: Final = "internal"
ROOMS: Final = range(1000, 1100)  # the dialplan's ConfBridge rooms (_10XX)
#: ChanSpy options: quiet, DTMF switches modes (4 listen, 5 whisper, 6 barge), end with
#: the spied-on channel. The mode's own option follows.
SPY_OPTIONS: Final = "qdE"
MODES: Final = {"listen": ("", "4"), "whisper": ("w", "5"), "barge": ("B", "6")}
OP_MODES: Final = {"call.listen": "listen", "call.whisper": "whisper", "call.barge": "barge"}
CONFERENCE_EVENTS: Final = (
    "ConfbridgeJoin",
    "ConfbridgeLeave",
    "ConfbridgeMute",
    "ConfbridgeUnmute",
    "ConfbridgeTalking",
    "ConfbridgeEnd",
    "OriginateResponse",
)
PARTY_ROLES: Final = ("trunk", "phone")

Outcome = tuple[list[PbxAction], dict[str, Any], list[Effect]]


class Supervision:
    def __init__(self, center: Center) -> None:
        self.center = center
        self.rules = DispatchRules(center.config)
        self.monitors: dict[str, Monitor] = {}  # by supervisor
        self.conferences: dict[str, Conference] = {}  # by room
        # where the next room search starts: a room handed out a moment ago has no
        # ConfBridge bridge yet, so a second request right after must not get it again
        self._next_room = 0
        self._hinted: set[str] = set()  # extensions with a hint (their lamps come from it)
        self._hinted_from = -1
        # From load() and from every link drop until restore() after the next resync:
        # what is live is not known, so nothing is kept or forgotten in the store, and
        # conference events wait to be applied over the PBX's lists.
        self.syncing = False
        self._held: list[Message] = []
        self._saved = takeover.Saved()  # what a previous server left in the store
        self._kept: dict[tuple[str, str], object] = {}  # rows as the store has them
        self.foreign_rooms: set[str] = set()  # live rooms on the PBX that are not ours
        # members' phones that answered and have not joined yet, by channel
        self._dialled: dict[str, tuple[Conference, Member]] = {}

    # ------------------------------------------------------------------ look-ups

    def lamp(self, extension: str) -> str:
        state = self.center.model.devices.get(f"PJSIP/{extension}")
        return "unavailable" if state is None else device_lamp(state)

    def holder(self, extension: str) -> str | None:
        """The account at ``extension``: who is logged in there, else whose phone it is."""
        for desk in self.center.desks.values():
            if desk.extension == extension:
                return desk.agent_id
        return next(
            (a.agent_id for a in self.center.config.agents if a.extension == extension), None
        )

    def _call(self, call_id: str) -> Call:
        call = self.center.model.calls.get(self.center.model_id(call_id))
        if call is None:
            raise ClientError("not_found", f"no call {call_id!r}")
        return call

    def _parties(self, call: Call) -> list[str]:
        return [leg.name for leg in call.legs.values() if leg.role in PARTY_ROLES]

    def _holders(self, call: Call) -> list[str]:
        out = []
        for leg in call.legs.values():
            ext = channel_extension(leg.device) if leg.role == "phone" else None
            holder = self.holder(ext) if ext else None
            if holder is not None:
                out.append(holder)
        return out

    def _hotline_id(self, model_id: str) -> str:
        routed = self.center.calls.get(model_id)
        return model_id if routed is None else routed.call_id

    def _call_of_extension(self, extension: str) -> Call | None:
        device = f"PJSIP/{extension}"
        for call in self.center.model.calls.values():
            for leg in call.legs.values():
                if leg.device == device and leg.role in PARTY_ROLES:
                    return call
        return None

    def _spy_target(self, call: Call, call_id: str) -> str:
        """The agent's (or dispatcher's) phone leg, else the first party."""
        parties = [leg for leg in call.legs.values() if leg.role in PARTY_ROLES]
        if not parties:
            raise ClientError("invalid_state", f"call {call_id!r} has no live party")
        phones = [leg.name for leg in parties if leg.role == "phone"]
        return phones[0] if phones else parties[0].name

    # ------------------------------------------------------------------ listen / whisper / barge

    def monitor(
        self, supervisor: str, extension: str, call_id: str, mode: str, now: float
    ) -> Outcome:
        call = self._call(call_id)
        verb = "stop monitoring" if mode == "stop" else mode
        self.rules.check(supervisor, f"{verb} call {call_id}", self._holders(call))
        current = self.monitors.get(supervisor)
        if mode == "stop":
            if current is None or current.model_id != call.call_id:
                raise ClientError("invalid_state", f"you are not monitoring call {call_id!r}")
            return self._stop(current, now)
        own = f"PJSIP/{extension}"
        if any(leg.device == own and leg.role in PARTY_ROLES for leg in call.legs.values()):
            raise ClientError("invalid_state", f"you are a party of call {call_id!r}")
        if current is not None and current.model_id == call.call_id:
            if current.mode == mode:
                return [], current.json("unchanged"), []
            current.mode = mode
            event = current.json("changed")
            return self._switch(current), event, [Publish("call.monitored", event, ("calls",))]
        actions: list[PbxAction] = []
        effects: list[Effect] = []
        if current is not None:  # one phone: leave the other call first
            stop_actions, _, stop_effects = self._stop(current, now)
            actions += stop_actions
            effects += stop_effects
        target = self._spy_target(call, call_id)
        monitor = Monitor(supervisor, extension, call_id, call.call_id, target, mode, mode, now)
        self.monitors[supervisor] = monitor
        headers = (
            ("Channel", f"PJSIP/{extension}"),
            ("Application", "ChanSpy"),
            ("Data", f"{target},{SPY_OPTIONS}{MODES[mode][0]}"),
            ("CallerID", f'"{mode} {call_id}" <{extension}>'),
            ("Async", "true"),
        )
        actions.append(PbxAction("Originate", headers, call_id, f"ChanSpy {mode} on {target}"))
        event = monitor.json("requested")
        effects.append(Publish("call.monitored", event, ("calls",)))
        return actions, event, effects

    def _switch(self, monitor: Monitor) -> list[PbxAction]:
        if monitor.channel is None or monitor.spy_mode == monitor.mode:
            return []  # not spying yet: switched when ChanSpy starts
        monitor.spy_mode = monitor.mode
        headers = (
            ("Channel", monitor.channel),
            ("Digit", MODES[monitor.mode][1]),
            ("Receive", "true"),
        )
        return [PbxAction("PlayDTMF", headers, monitor.call_id, f"ChanSpy mode {monitor.mode}")]

    def _stop(self, monitor: Monitor, now: float) -> Outcome:
        del self.monitors[monitor.supervisor]
        actions = []
        if monitor.channel is not None:
            headers = (("Channel", monitor.channel), ("Cause", "16"))
            actions.append(PbxAction("Hangup", headers, monitor.call_id, "stop monitoring"))
        event = monitor.json("stopped")
        return actions, event, [Publish("call.monitored", event, ("calls",))]

    # ------------------------------------------------------------------ release, pickup, call

    def release(self, supervisor: str, call_id: str, reason: str | None, now: float) -> Outcome:
        call = self._call(call_id)
        self.rules.check(supervisor, f"release call {call_id}", self._holders(call))
        channels = self._parties(call)
        if not channels:
            raise ClientError("invalid_state", f"call {call_id!r} has no live party")
        actions = [
            PbxAction("Hangup", (("Channel", c), ("Cause", "16")), call_id, "force release")
            for c in channels
        ]
        self.center.note_release(call_id, supervisor, reason)
        event = {
            "call_id": call_id,
            "released_by": supervisor,
            "reason": reason,
            "channels": channels,
        }
        data = {**event, "released": channels}  # "released": the first reply shape
        return actions, data, [Publish("call.released", event, ("calls",))]

    def pickup(self, supervisor: str, extension: str, target: str) -> Outcome:
        holder = self.holder(target)
        self.rules.check(supervisor, f"pick up extension {target}", [holder] if holder else [])
        lamp = self.lamp(target)
        if lamp != "ringing":
            raise ClientError("invalid_state", f"extension {target} is not ringing (it is {lamp})")
        action = _originate(extension, f"**{target}", f'"pickup {target}" <{extension}>')
        return [action], {"extension": target, "lamp": lamp}, []

    def direct_call(
        self, supervisor: str, extension: str, target: str, barge: bool, now: float
    ) -> Outcome:
        if target == extension:
            raise ClientError("invalid_params", "extension: that is your own extension")
        lamp = self.lamp(target)
        data: dict[str, Any] = {"extension": target, "lamp": lamp, "offer": None}
        if lamp == "unavailable":
            raise ClientError("invalid_state", f"extension {target} is unavailable")
        if lamp == "ringing":
            data["offer"] = "pickup"  # the console's 强接 key
            return [], data, []
        if lamp == "busy":
            call = self._call_of_extension(target)
            if call is None:
                return [], data, []  # busy with nothing Hotline sees (e.g. off-hook)
            call_id = self._hotline_id(call.call_id)
            data["call_id"] = call_id
            outranked = self.rules.outranking(supervisor, self._holders(call))
            if self.rules.has_barge_priority(supervisor) and outranked is None:
                data["offer"] = "barge"
            if barge:
                if data["offer"] != "barge":
                    self.rules.check(supervisor, f"barge into call {call_id}", self._holders(call))
                    raise ClientError(
                        "forbidden", "barge-in on a direct call needs a dispatch level"
                    )
                actions, monitor, effects = self.monitor(
                    supervisor, extension, call_id, "barge", now
                )
                return actions, {**data, "monitor": monitor}, effects
            return [], data, []
        caller_id = f'"{supervisor}" <{extension}>'
        return [_originate(extension, target, caller_id)], data, []

    def barge_extension(self, supervisor: str, extension: str, target: str, now: float) -> Outcome:
        call = self._call_of_extension(target)
        if call is None:
            raise ClientError("invalid_state", f"extension {target} is not on a call")
        return self.monitor(supervisor, extension, self._hotline_id(call.call_id), "barge", now)

    # ------------------------------------------------------------------ conferences

    def free_room(self) -> str:
        """A ConfBridge room no conference (a supervisor's or an agent's) is using."""
        busy = set(self.conferences) | self.foreign_rooms
        busy |= {b.conference for b in self.center.model.bridges.values() if b.conference}
        for step in range(len(ROOMS)):
            room = str(ROOMS[(self._next_room + step) % len(ROOMS)])
            if room not in busy:
                self._next_room = (self._next_room + step + 1) % len(ROOMS)
                return room
        raise ClientError("conflict", f"all {len(ROOMS)} conference rooms are in use")

    def _conference(self, supervisor: str, room: str, what: str) -> Conference:
        conf = self.conferences.get(room)
        if conf is None:
            raise ClientError("not_found", f"no conference {room!r}")
        self.rules.check(supervisor, f"{what} conference {room}", [conf.owner])
        return conf

    def start_conference(
        self,
        supervisor: str,
        extension: str,
        extensions: Sequence[str],
        now: float,
        *,
        group: str | None = None,
    ) -> Outcome:
        room = self.free_room()
        conf = Conference(room, supervisor, "group" if group else "select", group, now)
        members = [extension, *[e for e in extensions if e != extension]]
        if len(members) - 1 > MAX_EXTENSIONS:
            raise ClientError("invalid_params", f"extensions: at most {MAX_EXTENSIONS}")
        caller_id = f'"{group or "conference"} {room}" <{extension}>'
        actions = []
        for ext in members:
            conf.members[ext] = Member(ext)
            actions.append(_originate(ext, room, caller_id))
        self.conferences[room] = conf
        data = conf.json()
        return actions, data, [Publish("conference.started", data, ("conferences",))]

    def add_members(
        self, supervisor: str, room: str, extensions: Sequence[str], now: float
    ) -> Outcome:
        conf = self._conference(supervisor, room, "add to")
        new = [e for e in extensions if e not in conf.members or gone(conf.members[e])]
        live = sum(1 for m in conf.members.values() if not gone(m))
        if live - 1 + len(new) > MAX_EXTENSIONS:
            raise ClientError(
                "invalid_params", f"extensions: a conference has at most {MAX_EXTENSIONS} members"
            )
        owner_ext = next(iter(conf.members))
        caller_id = f'"{conf.group or "conference"} {room}" <{owner_ext}>'
        actions = []
        for ext in new:
            conf.members[ext] = Member(ext)
            actions.append(_originate(ext, room, caller_id))
        return actions, conf.json(), [self._updated(conf)]

    def drop_member(self, supervisor: str, room: str, extension: str) -> Outcome:
        conf = self._conference(supervisor, room, "drop from")
        member = self._member(conf, extension)
        actions = []
        if member.channel is not None and member.state == "joined":
            headers = (("Conference", room), ("Channel", member.channel))
            actions.append(PbxAction("ConfbridgeKick", headers, None, f"drop {extension}"))
        member.state = "dropped"  # a phone still ringing is kicked when it joins
        return actions, conf.json(), [self._updated(conf)]

    def mute_member(self, supervisor: str, room: str, extension: str, on: bool) -> Outcome:
        conf = self._conference(supervisor, room, "mute in" if on else "unmute in")
        member = self._member(conf, extension)
        if member.state != "joined" or member.channel is None:
            raise ClientError(
                "invalid_state", f"extension {extension} has not joined conference {room}"
            )
        name = "ConfbridgeMute" if on else "ConfbridgeUnmute"
        headers = (("Conference", room), ("Channel", member.channel))
        # The state changes with the PBX's ConfbridgeMute/Unmute event.
        return [PbxAction(name, headers, None, f"{name} {extension}")], conf.json(), []

    def end_conference(self, supervisor: str, room: str) -> Outcome:
        conf = self._conference(supervisor, room, "end")
        joined = [m for m in conf.members.values() if m.state == "joined"]
        ringing = [m for m in conf.members.values() if pending(m)]
        for m in ringing:
            m.state = "dropped"  # kicked if it answers and joins: no room is left behind
        conf.ending = True
        actions = []
        if joined:
            headers = (("Conference", room), ("Channel", "all"))
            actions.append(PbxAction("ConfbridgeKick", headers, None, "end conference"))
        if not joined and not ringing:  # nothing will end it on the PBX
            del self.conferences[room]
            ended = Publish("conference.ended", conf.json(), ("conferences",))
            return actions, conf.json(), [ended]
        return actions, conf.json(), [self._updated(conf)]

    def _member(self, conf: Conference, extension: str) -> Member:
        member = conf.members.get(extension)
        if member is None:
            raise ClientError(
                "not_found", f"extension {extension} is not in conference {conf.room}"
            )
        return member

    def _updated(self, conf: Conference) -> Publish:
        return Publish("conference.updated", conf.json(), ("conferences",))

    def as_now(self, effects: Iterable[Effect]) -> list[Effect]:
        """An op's effects once its actions have been answered. The PBX's events in
        between may have moved its conference on, or ended it (``conference.ended`` is
        out already): each ``conference.updated`` goes out with the state as it is now,
        or not at all for a room that ended (never an update after the end)."""
        out: list[Effect] = []
        for effect in effects:
            if isinstance(effect, Publish) and effect.event == "conference.updated":
                conf = self.conferences.get(str(effect.data.get("conference")))
                if conf is None:
                    continue
                current = self._updated(conf)
                if current.data["started_at"] != effect.data.get("started_at"):
                    continue  # the room ended and started again meanwhile
                out.append(current)
            else:
                out.append(effect)
        return out

    # ------------------------------------------------------------------ the PBX

    def on_changes(self, changes: Iterable[ch.CallChange], now: float) -> list[Effect]:
        out: list[Effect] = []
        for change in changes:
            if isinstance(change, ch.DeviceStateChanged):
                out += self._lamp_without_hint(change)
            elif self.syncing:  # restore() reads the model then
                continue
            elif isinstance(change, ch.LegRemoved) and self._dialled:
                member = self._dialled.pop(change.channel, None)
                if member is not None and member[1].ringing:  # answered, gone before joining
                    out += self._not_answered(*member)
                if self.monitors:
                    out += self._spy_leg_removed(change)
            elif not self.monitors:
                continue
            elif isinstance(change, ch.SpyStarted):
                out += self._spy_started(change)
            elif isinstance(change, ch.SpyStopped):
                out += self._spy_stopped(change.channel)
            elif isinstance(change, ch.LegRemoved):
                out += self._spy_leg_removed(change)
        return out

    def _spy_leg_removed(self, change: ch.LegRemoved) -> list[Effect]:
        if change.role == "local":
            return []
        monitor = self._pending(change.device)
        if monitor is not None:
            del self.monitors[monitor.supervisor]
            return [Publish("call.monitored", monitor.json("failed"), ("calls",))]
        if any(m.channel == change.channel for m in self.monitors.values()):
            return self._spy_stopped(change.channel)
        return []

    def _lamp_without_hint(self, change: ch.DeviceStateChanged) -> list[Effect]:
        """A phone the PBX has no hint for still gets its lamp, from its device state
        (hints publish ``extension.state`` through the center)."""
        ext = channel_extension(change.device)
        if ext is None or "/" in change.device[6:]:
            return []
        hints = self.center.model.extensions
        if len(hints) != self._hinted_from:  # hints come and go only at (re)sync
            self._hinted = {exten for exten, _context in hints}
            self._hinted_from = len(hints)
        if ext in self._hinted:
            return []
        data = {"extension": ext, "state": change.lamp}
        return [Publish("extension.state", data, ("extensions",))]

    def _pending(self, device: str) -> Monitor | None:
        ext = channel_extension(device)
        return next(
            (m for m in self.monitors.values() if m.channel is None and m.extension == ext), None
        )

    def _spy_started(self, change: ch.SpyStarted) -> list[Effect]:
        monitor = self._pending(change.device)
        if monitor is None:
            return []
        monitor.channel = change.channel
        out: list[Effect] = list(self._switch(monitor))
        out.append(Publish("call.monitored", monitor.json("started"), ("calls",)))
        return out

    def _spy_stopped(self, channel: str) -> list[Effect]:
        for sup, monitor in list(self.monitors.items()):
            if monitor.channel == channel:
                del self.monitors[sup]
                return [Publish("call.monitored", monitor.json("stopped"), ("calls",))]
        return []

    def on_event(self, msg: Message, now: float) -> list[Effect]:
        name = msg.event
        if self.syncing:
            self._held.append(msg)
            return []
        if name == "OriginateResponse":
            return self._originate_response(msg)
        conf = self.conferences.get(msg.get("Conference") or "")
        if conf is None:
            if name == "ConfbridgeEnd":
                self.foreign_rooms.discard(msg.get("Conference") or "")
            return []
        if name == "ConfbridgeEnd":
            for m in conf.members.values():
                if not gone(m) and not pending(m):
                    m.state = "left"
            if any(pending(m) for m in conf.members.values()):
                return [self._updated(conf)]  # a phone still rings for the room
            del self.conferences[conf.room]
            return [Publish("conference.ended", conf.json(), ("conferences",))]
        channel = msg.get("Channel") or ""
        ext = channel_extension(channel)
        member = conf.members.get(ext) if ext else None
        if member is None:
            return []
        out: list[Effect] = []
        if name == "ConfbridgeJoin":
            member.channel, member.ringing = channel, False
            self._dialled.pop(channel, None)
            if member.state == "dropped":
                headers = (("Conference", conf.room), ("Channel", channel))
                out.append(PbxAction("ConfbridgeKick", headers, None, f"drop {ext}"))
                return out
            member.state, member.muted = "joined", (msg.get("Muted") or "").lower() == "yes"
        elif name == "ConfbridgeLeave":
            if member.state != "dropped":
                member.state = "left"
            member.talking = False
        elif name in ("ConfbridgeMute", "ConfbridgeUnmute"):
            member.muted = name == "ConfbridgeMute"
        elif name == "ConfbridgeTalking":
            member.talking = (msg.get("TalkingStatus") or "").lower() == "on"
        out.append(self._updated(conf))
        return out

    def _originate_response(self, msg: Message) -> list[Effect]:
        device = msg.get("Channel") or ""
        ext = channel_extension(device)
        room = msg.get("Exten") or ""
        conf = self.conferences.get(room)
        if (msg.get("Response") or "").lower() != "failure":
            member = conf.members.get(ext) if conf is not None and ext else None
            if conf is not None and member is not None and member.ringing:
                # Answered (Channel: the phone's channel): until it joins, its hang-up
                # is the only sign that it will not.
                self._dialled[device] = (conf, member)
            return []
        if conf is not None and ext in conf.members:
            return self._not_answered(conf, conf.members[ext])
        monitor = self._pending(device)
        if monitor is not None and not room:
            del self.monitors[monitor.supervisor]
            return [Publish("call.monitored", monitor.json("failed"), ("calls",))]
        return []

    def action_failed(self, action: PbxAction) -> list[Effect]:
        """The PBX refused an action of an op: undo what the op began."""
        if action.name != "Originate":
            return []
        headers = dict(action.headers)
        device = headers.get("Channel", "")
        if headers.get("Application") == "ChanSpy":
            monitor = self._pending(device)
            if monitor is not None:
                del self.monitors[monitor.supervisor]
                return [Publish("call.monitored", monitor.json("failed"), ("calls",))]
            return []
        conf = self.conferences.get(headers.get("Exten", ""))
        ext = channel_extension(device)
        if conf is not None and ext in conf.members:
            return self._not_answered(conf, conf.members[ext])
        return []

    def _not_answered(self, conf: Conference, member: Member) -> list[Effect]:
        """A member's phone was not called, did not answer, or hung up before joining."""
        if not member.ringing or self.conferences.get(conf.room) is not conf:
            return []
        member.ringing = False
        if member.state == "invited":
            member.state = "failed"
        busy = any(m.state == "joined" or pending(m) for m in conf.members.values())
        if conf.ending and not busy:  # the last phone an ended conference waited for
            del self.conferences[conf.room]
            return [Publish("conference.ended", conf.json(), ("conferences",))]
        return [self._updated(conf)]

    # ------------------------------------------------------------------ restart, reconnect

    def load(self, saved: takeover.Saved) -> None:
        """What a previous server kept in the store (before the link first comes up)."""
        self._saved = saved
        self._kept = takeover.kept_rows(saved)
        self.syncing = True

    def link_down(self) -> None:
        self.syncing = True

    def restore(self, rooms: Mapping[str, Sequence[Message]] | None, now: float) -> list[Effect]:
        """After a (re)connect and resync: the spies and conferences still live on the PBX
        become this server's again, from the call model (spy legs), the PBX's
        ``ConfbridgeList`` of every room (``rooms``; None: the PBX would not list them)
        and what was kept in memory or in the store. Then the conference events that
        arrived meanwhile are applied, in order."""
        saved, self._saved = self._saved, takeover.Saved()
        out = takeover.restore_monitors(self, saved.monitors, now)
        out += takeover.restore_conferences(self, saved.conferences, rooms, now)
        self.syncing = False
        held, self._held = self._held, []
        for msg in held:
            out += self.on_event(msg, now)
        return out + self.saves()

    def saves(self) -> list[Effect]:
        """Store what changed in the spies and conferences since the last call."""
        if self.syncing:
            return []
        return takeover.saves(self, self._kept)

    # ------------------------------------------------------------------ snapshot

    def snapshot(self, topics: frozenset[str]) -> dict[str, Any]:
        snap: dict[str, Any] = {}
        if "calls" in topics:
            snap["monitors"] = [m.json("started" if m.channel else "requested")
                                for m in self.monitors.values()]  # fmt: skip
        if "conferences" in topics:
            snap["conferences"] = [c.json() for c in self.conferences.values()]
        return snap


def _originate(extension: str, exten: str, caller_id: str) -> PbxAction:
    headers = (
        ("Channel", f"PJSIP/{extension}"),
        ("Context", INTERNAL),
        ("Exten", exten),
        ("Priority", "1"),
        ("CallerID", caller_id),
        ("Async", "true"),
    )
    return PbxAction("Originate", headers, None, f"call {exten} from {extension}")


def required_desk(center: Center, agent_id: str) -> str:
    """The supervisor's own extension: every supervisor function uses its phone."""
    desk = center.desks.get(agent_id)
    if desk is None:
        raise ClientError("invalid_state", "log in with an extension to use your phone")
    return desk.extension


def handle(
    supervision: Supervision, agent_id: str, op: str, params: Mapping[str, Any], now: float
) -> Outcome:
    """Every supervisor op that needs no database (group ops: :mod:`cti.center.groups`)."""
    extension = required_desk(supervision.center, agent_id)
    s = supervision
    if op in OP_MODES:
        return s.monitor(agent_id, extension, params["call_id"], OP_MODES[op], now)
    if op == "call.monitor":
        return s.monitor(agent_id, extension, params["call_id"], params["mode"], now)
    if op == "call.release":
        return s.release(agent_id, params["call_id"], params.get("reason"), now)
    if op == "extension.pickup":
        return s.pickup(agent_id, extension, params["extension"])
    if op == "extension.call":
        barge = bool(params.get("barge"))
        return s.direct_call(agent_id, extension, params["extension"], barge, now)
    if op == "extension.barge":
        return s.barge_extension(agent_id, extension, params["extension"], now)
    if op == "conference.start":
        return s.start_conference(agent_id, extension, params["extensions"], now)
    if op == "conference.add":
        return s.add_members(agent_id, params["conference"], params["extensions"], now)
    if op == "conference.drop":
        return s.drop_member(agent_id, params["conference"], params["extension"])
    if op in ("conference.mute", "conference.unmute"):
        on = op == "conference.mute"
        return s.mute_member(agent_id, params["conference"], params["extension"], on)
    if op == "conference.end":
        return s.end_conference(agent_id, params["conference"])
    raise ClientError("unknown_op", f"unknown op {op!r}")


HANDLED_OPS: Final = frozenset(
    {
        *OP_MODES,
        "call.monitor",
        "call.release",
        "extension.pickup",
        "extension.call",
        "extension.barge",
        "conference.start",
        "conference.add",
        "conference.drop",
        "conference.mute",
        "conference.unmute",
        "conference.end",
    }
)
