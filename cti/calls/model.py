"""The call model: AMI events in, call changes out (sans-I/O).

Feed it every AMI event the link receives (``handle(message, now)``) and, after every
(re)connect, the results of CoreShowChannels / DeviceStateList / ExtensionStateList
(``resync(now, ...)``). It keeps channels, bridges, calls and lamps, and returns what
changed as the frozen dataclasses of :mod:`cti.calls.changes`. It never does I/O, never
reads a clock (``now`` is passed in), never logs and never raises on what Asterisk sends:
events it does not use are counted in :attr:`CallModel.ignored`, events that do not fit
what it knows (a Hangup for an unknown channel, a duplicate DialEnd, a BridgeEnter for an
unknown bridge) in :attr:`CallModel.anomalies`, and it carries on.

The call_id rule (the evidence is in docs/call-model.md):

1. A call is one customer conversation. A new channel joins the call that owns its
   ``Linkedid``; if none does, it starts a call whose ``call_id`` is that Linkedid
   (the Uniqueid of the channel that started it all: the carrier's channel for an
   inbound call, the first originated leg for click-to-dial).
2. When channels of two calls meet, the calls merge and the **older** call's id
   survives - the same rule Asterisk applies to Linkedid when it bridges channels
   (``ast_bridge_channel_update_linkedids``: the oldest linkedid wins). They meet in a
   mixing bridge (conference, attended transfer through a phone's second line), by a
   Pickup, by a DialEnd ANSWER between them, by a LocalBridge, or when a channel shows
   up with another call's Linkedid. Exceptions: a Pickup keeps the ringing call's id and
   a ChanSpy keeps the spied-on call's id (the spy's leg becomes a ``spy`` leg).
3. A call_id never changes after that: blind transfer, Redirect, attended transfer,
   pickup and conference all keep the Linkedid of the original call (transcripts 03a,
   03b, 03c, 06a-c, 07).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from cti.ami.codec import Message

from .changes import (
    CallAnswered,
    CallBridged,
    CallChange,
    CallDequeued,
    CallEnded,
    CallerIdChanged,
    CallHeld,
    CallInfo,
    CallMerged,
    CallPickedUp,
    CallQueued,
    CallStarted,
    CallState,
    CallStateChanged,
    CallTransferred,
    CallUnheld,
    DeviceStateChanged,
    Direction,
    ExtensionStateChanged,
    Lamp,
    LegAdded,
    LegInfo,
    LegRemoved,
    LegRole,
    LegStateChanged,
    Outcome,
    PbxShutdown,
    SpyStarted,
    SpyStopped,
    Transfer,
)
from .states import (
    BLOCKED_CAUSES,
    RINGING_STATES,
    call_state,
    cause_name,
    channel_state,
    device_lamp,
    extension_lamp,
)

__all__ = [
    "DEFAULT_INBOUND_CONTEXTS",
    "DEFAULT_KEEP_VARIABLES",
    "Bridge",
    "Call",
    "CallModel",
    "Channel",
    "ExtensionState",
    "device_of",
]

#: Dialplan contexts where carrier calls enter: a channel created there is a trunk leg.
DEFAULT_INBOUND_CONTEXTS: Final = ("from-trunk",)
#: Channel variables (VarSet) the model keeps on a channel; every other VarSet is
#: ignored without splitting more than its name.
DEFAULT_KEEP_VARIABLES: Final = ("MIXMONITOR_FILENAME",)
#: Bridge types whose members do not hear each other (parking, holding bridges).
NON_MIXING_BRIDGES: Final = frozenset({"holding", "parking"})

_PARTY_ROLES: Final = frozenset({"trunk", "phone"})


def device_of(channel: str) -> str:
    """The device of a channel name: ``PJSIP/8001-00000001`` → ``PJSIP/8001``,
    ``Local/8002@internal-00000000;1`` → ``Local/8002@internal``."""
    base = channel
    if base.startswith("Local/"):
        semi = base.rfind(";")
        if semi > 0:
            base = base[:semi]
    slash = base.find("/")
    dash = base.rfind("-")
    if 0 < slash < dash:
        return base[:dash]
    return base


def _local_pair(channel: str) -> str | None:
    """``Local/x@ctx-00000000;1`` → ``Local/x@ctx-00000000`` (the pair both halves share)."""
    if channel.startswith("Local/"):
        semi = channel.rfind(";")
        if semi > 0:
            return channel[:semi]
    return None


def _uid_key(uid: str) -> tuple[int, int]:
    """Asterisk Uniqueids are ``<epoch>.<sequence>``: this orders them by creation, as
    Asterisk does when it picks the oldest Linkedid."""
    head, _, tail = uid.partition(".")
    try:
        return int(head), int(tail or 0)
    except ValueError:
        return (2**62, 0)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _duration(text: str | None) -> float:
    """CoreShowChannel ``Duration`` (``HH:MM:SS``) → seconds; 0 when unreadable."""
    if not text:
        return 0.0
    total = 0
    for part in text.strip().split(":"):
        if not part.isdigit():
            return 0.0
        total = total * 60 + int(part)
    return float(total)


# -- the model's own records (mutable; read them, never change them from outside) -----


@dataclass(slots=True, eq=False)
class Channel:
    """One Asterisk channel (a leg of a call)."""

    uniqueid: str
    name: str
    device: str
    linkedid: str
    role: LegRole
    state: str
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    context: str = ""
    exten: str = ""
    application: str = ""
    application_data: str = ""  # known from CoreShowChannels and Newexten
    call_id: str = ""
    bridge_id: str | None = None
    held: bool = False
    created_at: float = 0.0
    up_at: float | None = None
    ended_at: float | None = None
    cause_code: int | None = None
    cause_txt: str = ""
    variables: dict[str, str] = field(default_factory=dict)

    def info(self) -> LegInfo:
        return LegInfo(
            channel=self.name,
            uniqueid=self.uniqueid,
            device=self.device,
            role=self.role,
            state=self.state,
            caller_num=self.caller_num,
            caller_name=self.caller_name,
            connected_num=self.connected_num,
            connected_name=self.connected_name,
            context=self.context,
            exten=self.exten,
            bridge_id=self.bridge_id,
            held=self.held,
            created_at=self.created_at,
            up_at=self.up_at,
            ended_at=self.ended_at,
            cause_code=self.cause_code,
            cause_txt=self.cause_txt,
        )


@dataclass(slots=True, eq=False)
class Bridge:
    uniqueid: str
    type: str = ""
    members: set[str] = field(default_factory=set)  # Uniqueids
    conference: str | None = None

    @property
    def mixing(self) -> bool:
        return self.type not in NON_MIXING_BRIDGES


@dataclass(slots=True, eq=False)
class Call:
    """One customer conversation: its legs, its story, its state."""

    call_id: str
    started_at: float
    legs: dict[str, Channel] = field(default_factory=dict)  # live, by Uniqueid
    gone: list[Channel] = field(default_factory=list)  # hung up, in order
    order: list[str] = field(default_factory=list)  # Uniqueids in order of arrival
    linkedids: set[str] = field(default_factory=set)
    caller: str | None = None  # Uniqueid of the caller leg
    caller_num: str = ""
    caller_name: str = ""
    caller_channel: str | None = None
    state: CallState = "ringing"
    answered_at: float | None = None
    ended_at: float | None = None
    queue: str | None = None
    last_queue: str | None = None
    ever_queued: bool = False
    abandoned: bool = False
    party_rang: bool = False
    transfers: list[Transfer] = field(default_factory=list)
    talking: tuple[tuple[str, ...], ...] = ()
    max_talking: int = 0
    last_partners: tuple[str, ...] = ()  # devices the caller last talked to
    parties: dict[str, str] = field(default_factory=dict)  # Uniqueid -> device, ever
    dials: set[str] = field(default_factory=set)  # Uniqueids being dialled
    hangup_party: str | None = None  # Uniqueid of the party that asked to hang up
    hangup_any: str | None = None
    trunk_seen: bool = False
    talked_since_transfer: bool = True
    optimizing: set[str] = field(default_factory=set)  # Local pairs being optimised away

    @property
    def sort_key(self) -> tuple[tuple[int, int], float, str]:
        return (_uid_key(self.call_id), self.started_at, self.call_id)

    def direction(self, inbound_contexts: frozenset[str]) -> Direction:
        caller = self.legs.get(self.caller) if self.caller else None
        if caller is None:
            caller = next((ch for ch in self.gone if ch.uniqueid == self.caller), None)
        if caller is not None:
            if caller.role == "trunk" or caller.context in inbound_contexts:
                return "inbound"
            if self.trunk_seen:
                return "outbound"
        return "internal"


@dataclass(frozen=True, slots=True)
class ExtensionState:
    exten: str
    context: str
    status: int
    status_text: str
    hint: str
    lamp: Lamp


_Out = list[CallChange]
_Handler = Callable[[Message, float, _Out], None]


class CallModel:
    """Channels → calls, fed by AMI events only.

    ``trunk_devices``: devices of carrier trunks (``PJSIP/e1trunk``); their channels are
    ``trunk`` legs, like every channel created in one of ``inbound_contexts``.
    ``keep_variables``: channel variables to remember from VarSet.
    """

    def __init__(
        self,
        *,
        trunk_devices: Iterable[str] = (),
        inbound_contexts: Iterable[str] = DEFAULT_INBOUND_CONTEXTS,
        keep_variables: Iterable[str] = DEFAULT_KEEP_VARIABLES,
    ) -> None:
        self.trunk_devices = frozenset(trunk_devices)
        self.inbound_contexts = frozenset(inbound_contexts)
        self.keep_variables = frozenset(keep_variables)
        self._channels: dict[str, Channel] = {}
        self._names: dict[str, str] = {}  # channel name -> Uniqueid
        self._bridges: dict[str, Bridge] = {}
        self._calls: dict[str, Call] = {}
        self._linked: dict[str, Call] = {}  # Linkedid -> call owning it
        self._pairs: dict[str, dict[str, str]] = {}  # Local pair -> {";1": uid, ";2": uid}
        self._devices: dict[str, str] = {}
        self._extensions: dict[tuple[str, str], ExtensionState] = {}
        #: Events the model does not use, by name.
        self.ignored: Counter[str] = Counter()
        #: Events that did not fit the model's state ("Hangup:unknown_channel", ...).
        self.anomalies: Counter[str] = Counter()
        #: Events used, by name.
        self.handled: Counter[str] = Counter()
        self._handlers: dict[str, _Handler] = {
            "Newchannel": self._on_newchannel,
            "Newstate": self._on_snapshot,
            "NewCallerid": self._on_snapshot,
            "NewConnectedLine": self._on_snapshot,
            "Newexten": self._on_newexten,
            "VarSet": self._on_varset,
            "Rename": self._on_rename,
            "Hangup": self._on_hangup,
            "HangupRequest": self._on_hangup_request,
            "SoftHangupRequest": self._on_hangup_request,
            "DialBegin": self._on_dial_begin,
            "DialEnd": self._on_dial_end,
            "BridgeCreate": self._on_bridge_create,
            "BridgeEnter": self._on_bridge_enter,
            "BridgeLeave": self._on_bridge_leave,
            "BridgeDestroy": self._on_bridge_destroy,
            "BridgeMerge": self._on_noop,
            "LocalBridge": self._on_local_bridge,
            "LocalOptimizationBegin": self._on_optimization,
            "LocalOptimizationEnd": self._on_optimization,
            "Hold": self._on_hold,
            "Unhold": self._on_unhold,
            "QueueCallerJoin": self._on_queue_join,
            "QueueCallerLeave": self._on_queue_leave,
            "QueueCallerAbandon": self._on_queue_abandon,
            "BlindTransfer": self._on_blind_transfer,
            "AttendedTransfer": self._on_attended_transfer,
            "Pickup": self._on_pickup,
            "ChanSpyStart": self._on_spy_start,
            "ChanSpyStop": self._on_spy_stop,
            "ConfbridgeStart": self._on_conference,
            "ConfbridgeJoin": self._on_conference,
            "DeviceStateChange": self._on_device_state,
            "ExtensionStatus": self._on_extension_status,
            "Shutdown": self._on_shutdown,
        }

    # -- read-only views ----------------------------------------------------------------

    @property
    def calls(self) -> Mapping[str, Call]:
        """Live calls by call_id (do not modify)."""
        return self._calls

    @property
    def channels(self) -> Mapping[str, Channel]:
        """Live channels by Uniqueid (do not modify)."""
        return self._channels

    @property
    def bridges(self) -> Mapping[str, Bridge]:
        return self._bridges

    @property
    def devices(self) -> Mapping[str, str]:
        """Device → Asterisk device state (NOT_INUSE, INUSE, ...)."""
        return self._devices

    @property
    def extensions(self) -> Mapping[tuple[str, str], ExtensionState]:
        """(exten, context) → hint state."""
        return self._extensions

    def channel(self, name: str) -> Channel | None:
        uid = self._names.get(name)
        return self._channels.get(uid) if uid is not None else None

    def call_of(self, channel_name: str) -> Call | None:
        ch = self.channel(channel_name)
        return self._calls.get(ch.call_id) if ch is not None else None

    def info(self, call_id: str) -> CallInfo | None:
        call = self._calls.get(call_id)
        return self._info(call) if call is not None else None

    # -- input --------------------------------------------------------------------------

    def handle(self, message: Message, now: float) -> list[CallChange]:
        """Apply one AMI event; return what changed (often nothing)."""
        name = message.event
        handler = self._handlers.get(name) if name is not None else None
        if handler is None:
            self.ignored[name or "<no event>"] += 1
            return []
        out: _Out = []
        handler(message, now, out)
        return out

    def resync(
        self,
        now: float,
        *,
        channels: Iterable[Message] | None = None,
        devices: Iterable[Message] | None = None,
        extensions: Iterable[Message] | None = None,
    ) -> list[CallChange]:
        """Rebuild the state from a CoreShowChannels / DeviceStateList /
        ExtensionStateList snapshot taken after a (re)connect (the list items).

        Channels that are gone end (``pbx_resync``) and so do calls left without any;
        new channels are adopted (their call_id from their Linkedid, their start time
        from ``Duration``); bridges are rebuilt from ``BridgeId``; a channel in the
        ``Queue`` application puts its call in that queue. Lamps are replaced by the
        lists: a device or hint missing from them is dropped (lamp ``unavailable``).
        A list given as None was not taken: that part of the state is left alone.
        """
        out: _Out = []
        if channels is not None:
            self._resync_channels(now, channels, out)
        if devices is not None:
            self._resync_devices(now, devices, out)
        if extensions is not None:
            self._resync_extensions(now, extensions, out)
        return out

    def _resync_channels(self, now: float, channels: Iterable[Message], out: _Out) -> None:
        listed: dict[str, Message] = {}
        # In order of creation, so that a call's first channel (its caller) comes first.
        for item in sorted(channels, key=lambda m: _uid_key(m.get("Uniqueid") or "")):
            uid = item.get("Uniqueid")
            if uid:
                listed[uid] = item
        touched: dict[str, Call] = {}
        # 1. Channels that vanished while we were away.
        for uid in [u for u in self._channels if u not in listed]:
            ch = self._channels[uid]
            call = self._calls.get(ch.call_id)
            self._remove_channel(ch, now, None, "pbx_resync", out)
            if call is not None:
                touched[call.call_id] = call
        # 2. Bridges: rebuilt from BridgeId.
        self._bridges.clear()
        for ch in self._channels.values():
            ch.bridge_id = None
        # 3. Known channels are updated, new ones adopted.
        for uid, item in listed.items():
            known = self._channels.get(uid)
            if known is None:
                known = self._adopt(item, now, out)
                if known is None:
                    continue
            else:
                self._sync(known, item, "", now, out)
            ch = known
            app = item.get("Application") or ""
            ch.application = app
            ch.application_data = item.get("ApplicationData") or ""
            bridge_id = item.get("BridgeId") or None
            if bridge_id:
                bridge = self._bridges.get(bridge_id)
                if bridge is None:
                    bridge = self._bridges[bridge_id] = Bridge(bridge_id)
                bridge.members.add(uid)
                ch.bridge_id = bridge_id
            call = self._calls.get(ch.call_id)
            if call is not None:
                if app == "Queue" and call.caller == uid:
                    queue = (item.get("ApplicationData") or "").split(",")[0]
                    if queue and call.queue != queue:
                        call.queue = call.last_queue = queue
                        call.ever_queued = True
                        out.append(CallQueued(call.call_id, now, queue, 0))
                elif call.caller == uid and call.queue is not None and app != "Queue":
                    out.append(CallDequeued(call.call_id, now, call.queue, False))
                    call.queue = None
                touched[call.call_id] = call
        # 4. Channels of different calls sharing a bridge: merge (oldest call wins).
        for bridge in list(self._bridges.values()):
            self._merge_bridge(bridge, now, out)
        # 5. A spy seen only in the list (no ChanSpyStart since we came): it spies on the
        # channel its ChanSpy names (Hotline gives the full channel name).
        for ch in list(self._channels.values()):
            if ch.application == "ChanSpy" and ch.role != "spy":
                spyee = self._spy_target(ch)
                # (a Local spyer keeps its role: once in the spied call it is done)
                if spyee is not None and spyee.call_id != ch.call_id:
                    self._spy(ch, spyee, now, out)
        for call in list(self._calls.values()):
            if not call.legs:
                self._end(call, now, out, reason="pbx_resync")
            elif call.call_id in touched:
                self._refresh(call, now, out)

    def _resync_devices(self, now: float, devices: Iterable[Message], out: _Out) -> None:
        new_devices: dict[str, str] = {}
        for item in devices:
            device = item.get("Device")
            if device:
                new_devices[device] = item.get("State") or "UNKNOWN"
        for device, state in new_devices.items():
            self._set_device(device, state, now, out)
        for device in [d for d in self._devices if d not in new_devices]:
            previous = self._devices.pop(device)
            out.append(DeviceStateChanged(now, device, "UNKNOWN", previous, "unavailable"))

    def _resync_extensions(self, now: float, extensions: Iterable[Message], out: _Out) -> None:
        keys = set()
        for item in extensions:
            hint = self._set_extension(item, now, out)
            if hint is not None:
                keys.add((hint.exten, hint.context))
        for key in [k for k in self._extensions if k not in keys]:
            old = self._extensions.pop(key)
            out.append(
                ExtensionStateChanged(
                    now, old.exten, old.context, -2, "Removed", old.hint, "unavailable", old.lamp
                )
            )

    # -- channels -------------------------------------------------------------------------

    def _role(self, device: str, context: str) -> LegRole:
        if device.startswith("Local/"):
            return "local"
        if device in self.trunk_devices or context in self.inbound_contexts:
            return "trunk"
        return "phone"

    def _new_channel(self, msg: Message, prefix: str, now: float, out: _Out) -> Channel | None:
        uid = msg.get(prefix + "Uniqueid")
        name = msg.get(prefix + "Channel")
        if not uid or not name:
            self.anomalies["Newchannel:incomplete"] += 1
            return None
        device = device_of(name)
        context = msg.get(prefix + "Context") or ""
        ch = Channel(
            uniqueid=uid,
            name=name,
            device=device,
            linkedid=msg.get(prefix + "Linkedid") or uid,
            role=self._role(device, context),
            state=channel_state(
                msg.get(prefix + "ChannelStateDesc"), msg.get(prefix + "ChannelState")
            ),
            caller_num=msg.get(prefix + "CallerIDNum") or "",
            caller_name=msg.get(prefix + "CallerIDName") or "",
            connected_num=msg.get(prefix + "ConnectedLineNum") or "",
            connected_name=msg.get(prefix + "ConnectedLineName") or "",
            context=context,
            exten=msg.get(prefix + "Exten") or "",
            created_at=now,
        )
        if ch.state == "Up":
            ch.up_at = now
        self._channels[uid] = ch
        self._names[name] = uid
        pair = _local_pair(name)
        if pair is not None:
            self._pairs.setdefault(pair, {})[name[len(pair) :]] = uid
        call = self._linked.get(ch.linkedid)
        if call is None:
            call = Call(call_id=ch.linkedid, started_at=now)
            call.linkedids.add(ch.linkedid)
            self._linked[ch.linkedid] = call
            self._calls[call.call_id] = call
            self._add_leg(call, ch, now, out, started=True)
        else:
            self._add_leg(call, ch, now, out)
        self._refresh(call, now, out)
        return ch

    def _adopt(self, item: Message, now: float, out: _Out) -> Channel | None:
        ch = self._new_channel(item, "", now, out)
        if ch is None:
            return None
        # Times of adopted channels: created Duration seconds ago; answered (if Up) at
        # some unknown moment, taken as now.
        ch.created_at = now - _duration(item.get("Duration"))
        call = self._calls.get(ch.call_id)
        if call is not None and call.started_at > ch.created_at:
            call.started_at = ch.created_at
        return ch

    def _add_leg(
        self, call: Call, ch: Channel, now: float, out: _Out, *, started: bool = False
    ) -> None:
        ch.call_id = call.call_id
        call.legs[ch.uniqueid] = ch
        if ch.uniqueid not in call.order:
            call.order.append(ch.uniqueid)
        if ch.role in _PARTY_ROLES:
            call.parties.setdefault(ch.uniqueid, ch.device)
        if ch.role == "trunk":
            call.trunk_seen = True
        caller_changed = self._maybe_caller(call, ch)
        if started:
            started_change = CallStarted(
                call.call_id, now, call.caller_num, call.caller_name, ch.name, ch.device, ch.role
            )
            out.append(started_change)
        out.append(LegAdded(call.call_id, now, ch.name, ch.uniqueid, ch.device, ch.role, ch.state))
        if caller_changed and not started:
            out.append(CallerIdChanged(call.call_id, now, call.caller_num, call.caller_name))

    def _maybe_caller(self, call: Call, ch: Channel) -> bool:
        """The caller leg is the first trunk/phone leg; a Local leg stands in until one
        joins. True when the call's caller id changed."""
        current = call.legs.get(call.caller) if call.caller else None
        if call.caller is None or (
            current is not None and current.role == "local" and ch.role in _PARTY_ROLES
        ):
            if ch.role == "spy":
                return False
            call.caller = ch.uniqueid
            call.caller_channel = ch.name
            changed = (call.caller_num, call.caller_name) != (ch.caller_num, ch.caller_name)
            call.caller_num, call.caller_name = ch.caller_num, ch.caller_name
            return changed
        return False

    def _sync(self, ch: Channel, msg: Message, prefix: str, now: float, out: _Out) -> None:
        """Update a channel from the snapshot an event carries (``prefix``: ``Dest``,
        ``Transferee``...): state, caller ids, dialplan position, Linkedid."""
        desc = msg.get(prefix + "ChannelStateDesc")
        if desc is not None:
            state = channel_state(desc)
            if state != ch.state:
                self._set_state(ch, state, now, out)
        num = msg.get(prefix + "CallerIDNum")
        name = msg.get(prefix + "CallerIDName")
        if (num is not None and num != ch.caller_num) or (
            name is not None and name != ch.caller_name
        ):
            if num is not None:
                ch.caller_num = num
            if name is not None:
                ch.caller_name = name
            call = self._calls.get(ch.call_id)
            if call is not None and call.caller == ch.uniqueid:
                call.caller_num, call.caller_name = ch.caller_num, ch.caller_name
                out.append(CallerIdChanged(call.call_id, now, ch.caller_num, ch.caller_name))
        value = msg.get(prefix + "ConnectedLineNum")
        if value is not None:
            ch.connected_num = value
        value = msg.get(prefix + "ConnectedLineName")
        if value is not None:
            ch.connected_name = value
        value = msg.get(prefix + "Context")
        if value is not None:
            ch.context = value
        value = msg.get(prefix + "Exten")
        if value is not None:
            ch.exten = value
        link = msg.get(prefix + "Linkedid")
        if link and link != ch.linkedid:
            self._relink(ch, link, now, out)

    def _set_state(self, ch: Channel, state: str, now: float, out: _Out) -> None:
        previous, ch.state = ch.state, state
        if state == "Up" and ch.up_at is None:
            ch.up_at = now
        call = self._calls.get(ch.call_id)
        if call is None:
            return
        if state in RINGING_STATES and ch.role in _PARTY_ROLES and ch.uniqueid != call.caller:
            call.party_rang = True
        out.append(LegStateChanged(call.call_id, now, ch.name, ch.device, state, previous))
        self._refresh(call, now, out)

    def _relink(self, ch: Channel, linkedid: str, now: float, out: _Out) -> None:
        """Asterisk gave the channel another Linkedid (it bridged it with an older call):
        the two calls are one now, under the call that owns that Linkedid."""
        ch.linkedid = linkedid
        mine = self._calls.get(ch.call_id)
        owner = self._linked.get(linkedid)
        if mine is None:
            return
        if owner is None:
            mine.linkedids.add(linkedid)
            self._linked[linkedid] = mine
        elif owner is not mine:
            self._merge(owner, mine, now, "linkedid", out)

    def _lookup(self, msg: Message, prefix: str = "") -> Channel | None:
        uid = msg.get(prefix + "Uniqueid")
        if uid:
            ch = self._channels.get(uid)
            if ch is not None:
                return ch
        name = msg.get(prefix + "Channel")
        if name:
            uid = self._names.get(name)
            if uid is not None:
                return self._channels.get(uid)
        return None

    def _known(self, msg: Message, now: float, out: _Out, prefix: str = "") -> Channel | None:
        """The channel an event is about, updated from its snapshot; None (counted) if
        the model does not know it."""
        ch = self._lookup(msg, prefix)
        if ch is None:
            self.anomalies[f"{msg.event}:unknown_channel"] += 1
            return None
        self._sync(ch, msg, prefix, now, out)
        return ch

    def _remove_channel(
        self, ch: Channel, now: float, code: int | None, text: str, out: _Out
    ) -> None:
        uid = ch.uniqueid
        self._channels.pop(uid, None)
        if self._names.get(ch.name) == uid:
            del self._names[ch.name]
        pair = _local_pair(ch.name)
        if pair is not None:
            halves = self._pairs.get(pair)
            if halves is not None:
                halves.pop(ch.name[len(pair) :], None)
                if not halves:
                    del self._pairs[pair]
        if ch.bridge_id is not None:
            bridge = self._bridges.get(ch.bridge_id)
            if bridge is not None:
                bridge.members.discard(uid)
            ch.bridge_id = None
        ch.ended_at = now
        ch.cause_code = code
        ch.cause_txt = text
        ch.held = False
        call = self._calls.get(ch.call_id)
        if call is None:
            return
        call.legs.pop(uid, None)
        call.dials.discard(uid)
        if pair is not None:
            call.optimizing.discard(pair)
        call.gone.append(ch)
        cause = cause_name(code) if code is not None else text
        out.append(
            LegRemoved(call.call_id, now, ch.name, ch.device, ch.role, cause, code, ch.cause_txt)
        )

    # -- handlers -------------------------------------------------------------------------

    def _on_noop(self, msg: Message, now: float, out: _Out) -> None:
        self.handled[msg.event or ""] += 1

    def _on_newchannel(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["Newchannel"] += 1
        ch = self._lookup(msg)
        if ch is not None:
            self.anomalies["Newchannel:duplicate"] += 1
            self._sync(ch, msg, "", now, out)
            return
        self._new_channel(msg, "", now, out)

    def _on_snapshot(self, msg: Message, now: float, out: _Out) -> None:
        self.handled[msg.event or ""] += 1
        self._known(msg, now, out)

    def _on_newexten(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["Newexten"] += 1
        ch = self._lookup(msg)
        if ch is None:
            self.anomalies["Newexten:unknown_channel"] += 1
            return
        ch.context = msg.get("Context") or ch.context
        ch.exten = msg.get("Exten") or ch.exten
        ch.application = msg.get("Application") or ch.application
        ch.application_data = msg.get("AppData") or ""

    def _on_varset(self, msg: Message, now: float, out: _Out) -> None:
        if not self.keep_variables:
            self.ignored["VarSet"] += 1
            return
        variable = msg.get("Variable")
        if variable not in self.keep_variables:
            self.ignored["VarSet"] += 1
            return
        self.handled["VarSet"] += 1
        ch = self._lookup(msg)
        if ch is None:
            self.anomalies["VarSet:unknown_channel"] += 1
            return
        ch.variables[variable] = msg.get("Value") or ""

    def _on_rename(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["Rename"] += 1
        ch = self._lookup(msg)
        new = msg.get("Newname")
        if ch is None or not new:
            self.anomalies["Rename:unknown_channel"] += 1
            return
        if self._names.get(ch.name) == ch.uniqueid:
            del self._names[ch.name]
        pair = _local_pair(ch.name)
        if pair is not None and pair in self._pairs:
            self._pairs[pair].pop(ch.name[len(pair) :], None)
        ch.name = new
        self._names[new] = ch.uniqueid
        pair = _local_pair(new)
        if pair is not None:
            self._pairs.setdefault(pair, {})[new[len(pair) :]] = ch.uniqueid

    def _on_hangup_request(self, msg: Message, now: float, out: _Out) -> None:
        self.handled[msg.event or ""] += 1
        ch = self._known(msg, now, out)
        if ch is None:
            return
        call = self._calls.get(ch.call_id)
        if call is None:
            return
        if ch.role in _PARTY_ROLES:
            if call.hangup_party is None:
                call.hangup_party = ch.uniqueid
        elif ch.role == "local" and call.hangup_any is None:
            call.hangup_any = ch.uniqueid

    def _on_hangup(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["Hangup"] += 1
        ch = self._lookup(msg)
        if ch is None:
            self.anomalies["Hangup:unknown_channel"] += 1
            return
        code = _int(msg.get("Cause"))
        call = self._calls.get(ch.call_id)
        if call is not None and call.hangup_any is None:
            call.hangup_any = ch.uniqueid
        self._remove_channel(ch, now, code, msg.get("Cause-txt") or "", out)
        if call is not None:
            self._refresh(call, now, out)

    def _on_dial_begin(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["DialBegin"] += 1
        dest = self._known(msg, now, out, "Dest")
        src = self._lookup(msg) if msg.get("Uniqueid") or msg.get("Channel") else None
        if src is not None:
            self._sync(src, msg, "", now, out)
        if dest is None:
            return
        call = self._calls.get(dest.call_id)
        if call is None:
            return
        if src is not None and src.call_id != dest.call_id:
            other = self._calls.get(src.call_id)
            if other is not None:
                call = self._merge_oldest(call, other, now, "dial", out)
        call.dials.add(dest.uniqueid)
        if src is not None and src.uniqueid == call.caller:
            # The caller is dialling someone new: a fresh ring, and if the call was
            # already answered, a transfer (blind, or a Redirect inferred here).
            call.hangup_party = None
            if call.answered_at is not None:
                self._transfer_dial(call, dest, msg.get("DialString"), now, out)
        self._refresh(call, now, out)

    def _on_dial_end(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["DialEnd"] += 1
        dest = self._lookup(msg, "Dest")
        if dest is None:
            self.anomalies["DialEnd:unknown_channel"] += 1
            return
        self._sync(dest, msg, "Dest", now, out)
        call = self._calls.get(dest.call_id)
        if call is None:
            return
        if dest.uniqueid not in call.dials:
            self.anomalies["DialEnd:no_pending_dial"] += 1
        call.dials.discard(dest.uniqueid)
        src = self._lookup(msg) if msg.get("Uniqueid") or msg.get("Channel") else None
        if src is not None:
            self._sync(src, msg, "", now, out)
            if (msg.get("DialStatus") or "") == "ANSWER" and src.call_id != dest.call_id:
                other = self._calls.get(src.call_id)
                if other is not None:
                    call = self._merge_oldest(call, other, now, "dial", out)
        self._refresh(call, now, out)

    def _on_bridge_create(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["BridgeCreate"] += 1
        bid = msg.get("BridgeUniqueid")
        if not bid:
            self.anomalies["BridgeCreate:incomplete"] += 1
            return
        bridge = self._bridges.get(bid)
        if bridge is None:
            self._bridges[bid] = Bridge(bid, msg.get("BridgeType") or "")
        else:
            self.anomalies["BridgeCreate:duplicate"] += 1

    def _bridge(self, msg: Message) -> Bridge | None:
        bid = msg.get("BridgeUniqueid")
        if not bid:
            self.anomalies[f"{msg.event}:incomplete"] += 1
            return None
        bridge = self._bridges.get(bid)
        if bridge is None:
            self.anomalies[f"{msg.event}:unknown_bridge"] += 1
            bridge = self._bridges[bid] = Bridge(bid, msg.get("BridgeType") or "")
        return bridge

    def _on_bridge_enter(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["BridgeEnter"] += 1
        ch = self._known(msg, now, out)
        bridge = self._bridge(msg)
        if ch is None or bridge is None:
            return
        if ch.bridge_id is not None and ch.bridge_id != bridge.uniqueid:
            old = self._bridges.get(ch.bridge_id)
            if old is not None:
                old.members.discard(ch.uniqueid)
            self.anomalies["BridgeEnter:already_bridged"] += 1
        swap = msg.get("SwapUniqueid")
        bridge.members.add(ch.uniqueid)
        ch.bridge_id = bridge.uniqueid
        if swap:
            swapped = self._channels.get(swap)
            if swapped is not None and swapped.bridge_id == bridge.uniqueid:
                bridge.members.discard(swap)
                swapped.bridge_id = None
        call = self._merge_bridge(bridge, now, out)
        if call is None:
            call = self._calls.get(ch.call_id)
        if call is not None:
            self._refresh(call, now, out)

    def _on_bridge_leave(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["BridgeLeave"] += 1
        ch = self._known(msg, now, out)
        bid = msg.get("BridgeUniqueid")
        if ch is None:
            return
        if ch.bridge_id != bid:
            self.anomalies["BridgeLeave:not_in_bridge"] += 1
        call = self._calls.get(ch.call_id)
        if (
            call is not None
            and call.hangup_party is None
            and not call.optimizing
            and ch.role in _PARTY_ROLES
            and any(ch.name in group for group in call.talking)
        ):
            # The first party to leave a conversation is who ended it, unless a
            # transfer or a new conversation follows (an AMI Hangup of the agent sends
            # no HangupRequest: 05b).
            call.hangup_party = ch.uniqueid
        bridge = self._bridges.get(bid or "")
        if bridge is not None:
            bridge.members.discard(ch.uniqueid)
        if ch.bridge_id == bid:
            ch.bridge_id = None
        call = self._calls.get(ch.call_id)
        if call is not None:
            self._refresh(call, now, out)

    def _on_bridge_destroy(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["BridgeDestroy"] += 1
        bid = msg.get("BridgeUniqueid") or ""
        bridge = self._bridges.pop(bid, None)
        if bridge is None:
            self.anomalies["BridgeDestroy:unknown_bridge"] += 1
            return
        calls: dict[str, Call] = {}
        for uid in bridge.members:
            ch = self._channels.get(uid)
            if ch is not None and ch.bridge_id == bid:
                ch.bridge_id = None
                call = self._calls.get(ch.call_id)
                if call is not None:
                    calls[call.call_id] = call
        for call in calls.values():
            self._refresh(call, now, out)

    def _merge_bridge(self, bridge: Bridge, now: float, out: _Out) -> Call | None:
        """All calls with a channel in one mixing bridge become one (oldest wins)."""
        if not bridge.mixing:
            return None
        calls: dict[str, Call] = {}
        for uid in bridge.members:
            ch = self._channels.get(uid)
            if ch is not None:
                call = self._calls.get(ch.call_id)
                if call is not None:
                    calls[call.call_id] = call
        if not calls:
            return None
        ordered = sorted(calls.values(), key=lambda c: c.sort_key)
        survivor = ordered[0]
        for other in ordered[1:]:
            self._merge(survivor, other, now, "bridge", out)
        return survivor

    def _on_local_bridge(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["LocalBridge"] += 1
        one = self._known(msg, now, out, "LocalOne")
        two = self._known(msg, now, out, "LocalTwo")
        if one is None or two is None or one.call_id == two.call_id:
            return
        a, b = self._calls.get(one.call_id), self._calls.get(two.call_id)
        if a is not None and b is not None:
            self._merge_oldest(a, b, now, "local", out)

    def _on_optimization(self, msg: Message, now: float, out: _Out) -> None:
        """A Local pair is being optimised away (03c): its parties are re-bridged
        directly. While that runs, who talks to whom is left as it was, so the
        conversation does not flicker off and on."""
        self.handled[msg.event or ""] += 1
        one = self._lookup(msg, "LocalOne")
        call = self._call_of(one)
        if one is None or call is None:
            self.anomalies[f"{msg.event}:unknown_channel"] += 1
            return
        pair = _local_pair(one.name) or one.name
        if msg.event == "LocalOptimizationBegin":
            call.optimizing.add(pair)
        else:
            call.optimizing.discard(pair)
            self._refresh(call, now, out)

    def _on_hold(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["Hold"] += 1
        ch = self._known(msg, now, out)
        if ch is None or ch.held:
            return
        ch.held = True
        call = self._calls.get(ch.call_id)
        if call is not None:
            out.append(CallHeld(call.call_id, now, ch.name, ch.device))
            self._refresh(call, now, out)

    def _on_unhold(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["Unhold"] += 1
        ch = self._known(msg, now, out)
        if ch is None or not ch.held:
            return  # Asterisk sends Unhold without Hold on a BlindTransfer (03a)
        ch.held = False
        call = self._calls.get(ch.call_id)
        if call is not None:
            out.append(CallUnheld(call.call_id, now, ch.name, ch.device))
            self._refresh(call, now, out)

    def _call_of(self, ch: Channel | None) -> Call | None:
        return self._calls.get(ch.call_id) if ch is not None else None

    def _on_queue_join(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["QueueCallerJoin"] += 1
        ch = self._known(msg, now, out)
        call = self._call_of(ch)
        if call is None:
            return
        queue = msg.get("Queue") or ""
        call.queue = call.last_queue = queue
        call.ever_queued = True
        out.append(CallQueued(call.call_id, now, queue, _int(msg.get("Position")) or 0))
        self._refresh(call, now, out)

    def _on_queue_leave(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["QueueCallerLeave"] += 1
        ch = self._known(msg, now, out)
        call = self._call_of(ch)
        if call is None:
            return
        if call.queue is None:
            self.anomalies["QueueCallerLeave:not_queued"] += 1
            return
        out.append(CallDequeued(call.call_id, now, call.queue, call.abandoned))
        call.queue = None
        self._refresh(call, now, out)

    def _on_queue_abandon(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["QueueCallerAbandon"] += 1
        call = self._call_of(self._known(msg, now, out))
        if call is not None:
            call.abandoned = True

    def _record_transfer(self, call: Call, transfer: Transfer, now: float, out: _Out) -> None:
        call.transfers.append(transfer)
        call.hangup_party = None
        call.talked_since_transfer = False
        out.append(CallTransferred(call.call_id, now, transfer))

    def _transfer_dial(
        self, call: Call, dest: Channel, dial_string: str | None, now: float, out: _Out
    ) -> None:
        last = call.transfers[-1] if call.transfers else None
        if last is not None and not call.talked_since_transfer:
            # The same transfer going on: BlindTransfer named the extension and now we
            # know the phone, or the queue rings another agent after a no-answer.
            call.transfers[-1] = Transfer(
                last.kind, last.at, last.from_device, dest.device, last.to_exten or dial_string
            )
            return
        frm = call.last_partners[0] if call.last_partners else None
        self._record_transfer(
            call, Transfer("redirect", now, frm, dest.device, dial_string or None), now, out
        )

    def _on_blind_transfer(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["BlindTransfer"] += 1
        if (msg.get("Result") or "") != "Success":
            return
        transferer = self._lookup(msg, "Transferer")
        transferee = self._lookup(msg, "Transferee")
        call = self._call_of(transferee) or self._call_of(transferer)
        if call is None:
            self.anomalies["BlindTransfer:unknown_channel"] += 1
            return
        frm = transferer.device if transferer is not None else None
        self._record_transfer(
            call, Transfer("blind", now, frm, None, msg.get("Extension") or None), now, out
        )

    def _party_behind(self, ch: Channel | None) -> Channel | None:
        """The party a channel leads to: itself, or for a Local channel the party bridged
        with the other half of its pair."""
        seen = 0
        while ch is not None and ch.role == "local" and seen < 8:
            seen += 1
            pair = _local_pair(ch.name)
            halves = self._pairs.get(pair) if pair is not None else None
            if not halves:
                return None
            other_uid = next((u for u in halves.values() if u != ch.uniqueid), None)
            other = self._channels.get(other_uid) if other_uid is not None else None
            if other is None or other.bridge_id is None:
                return None
            bridge = self._bridges.get(other.bridge_id)
            if bridge is None:
                return None
            nxt = None
            for uid in bridge.members:
                if uid != other.uniqueid:
                    cand = self._channels.get(uid)
                    if cand is not None and cand.role != "spy":
                        nxt = cand
                        if cand.role in _PARTY_ROLES:
                            break
            ch = nxt
        return ch

    def _bridge_partner(self, bridge_id: str | None, but: set[str | None]) -> Channel | None:
        """A member of ``bridge_id`` other than the channels ``but`` (a spy never)."""
        bridge = self._bridges.get(bridge_id) if bridge_id else None
        if bridge is None:
            return None
        for uid in bridge.members:
            ch = self._channels.get(uid)
            if uid not in but and ch is not None and ch.role != "spy":
                return ch
        return None

    def _on_attended_transfer(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["AttendedTransfer"] += 1
        if (msg.get("Result") or "") != "Success":
            return
        transferer = self._lookup(msg, "OrigTransferer")
        transferee = self._lookup(msg, "Transferee")
        target = self._lookup(msg, "TransferTarget")
        if target is None:
            # Asterisk 22 leaves the TransferTarget headers out when the target's channel
            # has already left the consultation bridge (seen in about one completion in
            # four over SIP, 8001 hanging up 0.5 s after 8002 answered): by then it has
            # entered the transferee's bridge (DestBridgeUniqueid), beside the transferee.
            transferers = {msg.get("OrigTransfererUniqueid"), msg.get("SecondTransfererUniqueid")}
            target = self._bridge_partner(
                msg.get("DestBridgeUniqueid"), {msg.get("TransfereeUniqueid"), *transferers}
            ) or self._bridge_partner(msg.get("SecondBridgeUniqueid"), transferers)
        call = self._call_of(transferee) or self._call_of(target) or self._call_of(transferer)
        if call is None:
            self.anomalies["AttendedTransfer:unknown_channel"] += 1
            return
        party = self._party_behind(target)
        self._record_transfer(
            call,
            Transfer(
                "attended",
                now,
                transferer.device if transferer is not None else None,
                party.device if party is not None else None,
                msg.get("TransferTargetExten") or None,
            ),
            now,
            out,
        )

    def _on_pickup(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["Pickup"] += 1
        picker = self._known(msg, now, out)
        target = self._known(msg, now, out, "Target")
        if picker is None or target is None:
            return
        call, other = self._calls.get(target.call_id), self._calls.get(picker.call_id)
        if call is None:
            return
        if other is not None and other is not call:
            self._merge(call, other, now, "pickup", out)
        out.append(
            CallPickedUp(call.call_id, now, picker.name, picker.device, target.name, target.device)
        )
        self._record_transfer(
            call, Transfer("pickup", now, target.device, picker.device, None), now, out
        )
        self._refresh(call, now, out)

    def _on_spy_start(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["ChanSpyStart"] += 1
        spyer = self._known(msg, now, out, "Spyer")
        spyee = self._known(msg, now, out, "Spyee")
        if spyer is None or spyee is None:
            return
        self._spy(spyer, spyee, now, out)

    def _spy_target(self, spyer: Channel) -> Channel | None:
        """The channel a ChanSpy spies on: the first live one whose name starts with the
        application's first argument (app_chanspy's prefix match), never a spy."""
        prefix = spyer.application_data.split(",", 1)[0].strip()
        if not prefix:
            return None
        for ch in self._channels.values():
            if ch is spyer or ch.role == "spy":
                continue
            if ch.name == prefix or ch.name.startswith(prefix + "-"):
                return ch
        return None

    def _spy(self, spyer: Channel, spyee: Channel, now: float, out: _Out) -> None:
        call, other = self._calls.get(spyee.call_id), self._calls.get(spyer.call_id)
        if call is None:
            return
        if other is not None and other is not call:
            # Every non-plumbing leg of the spy's own call is a spy leg from now on.
            for leg in other.legs.values():
                if leg.role != "local":
                    leg.role = "spy"
                    other.parties.pop(leg.uniqueid, None)
            self._merge(call, other, now, "spy", out)
        else:
            spyer.role = "spy"
            call.parties.pop(spyer.uniqueid, None)
        out.append(SpyStarted(call.call_id, now, spyer.name, spyer.device, spyee.name))
        self._refresh(call, now, out)

    def _on_spy_stop(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["ChanSpyStop"] += 1
        spyer = self._lookup(msg, "Spyer")
        spyee = self._lookup(msg, "Spyee")
        call = self._call_of(spyer)
        if call is None or spyer is None:
            self.anomalies["ChanSpyStop:unknown_channel"] += 1
            return
        target = spyee.name if spyee is not None else msg.get("SpyeeChannel") or ""
        out.append(SpyStopped(call.call_id, now, spyer.name, spyer.device, target))

    def _on_conference(self, msg: Message, now: float, out: _Out) -> None:
        self.handled[msg.event or ""] += 1
        bridge = self._bridges.get(msg.get("BridgeUniqueid") or "")
        if bridge is not None:
            bridge.conference = msg.get("Conference")

    def _on_device_state(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["DeviceStateChange"] += 1
        device = msg.get("Device")
        if not device:
            self.anomalies["DeviceStateChange:incomplete"] += 1
            return
        self._set_device(device, msg.get("State") or "UNKNOWN", now, out)

    def _set_device(self, device: str, state: str, now: float, out: _Out) -> None:
        previous = self._devices.get(device)
        if previous == state:
            return
        self._devices[device] = state
        out.append(DeviceStateChanged(now, device, state, previous, device_lamp(state)))

    def _on_extension_status(self, msg: Message, now: float, out: _Out) -> None:
        self.handled["ExtensionStatus"] += 1
        if self._set_extension(msg, now, out) is None:
            self.anomalies["ExtensionStatus:incomplete"] += 1

    def _set_extension(self, msg: Message, now: float, out: _Out) -> ExtensionState | None:
        exten = msg.get("Exten")
        if not exten:
            return None
        context = msg.get("Context") or ""
        status = _int(msg.get("Status"))
        text = msg.get("StatusText") or ""
        state = ExtensionState(
            exten,
            context,
            status if status is not None else -1,
            text,
            msg.get("Hint") or "",
            extension_lamp(status, text),
        )
        old = self._extensions.get((exten, context))
        self._extensions[(exten, context)] = state
        if old != state:
            out.append(
                ExtensionStateChanged(
                    now,
                    exten,
                    context,
                    state.status,
                    text,
                    state.hint,
                    state.lamp,
                    old.lamp if old is not None else None,
                )
            )
        return state

    def _on_shutdown(self, msg: Message, now: float, out: _Out) -> None:
        """Asterisk is going away: so are all its channels."""
        self.handled["Shutdown"] += 1
        out.append(PbxShutdown(now, (msg.get("Restart") or "").lower() in ("true", "yes")))
        for ch in list(self._channels.values()):
            self._remove_channel(ch, now, None, "pbx_shutdown", out)
        self._bridges.clear()
        self._pairs.clear()
        for call in list(self._calls.values()):
            self._end(call, now, out, reason="pbx_shutdown")

    # -- calls ----------------------------------------------------------------------------

    def _merge_oldest(self, a: Call, b: Call, now: float, reason: str, out: _Out) -> Call:
        if a is b:
            return a
        survivor, other = (a, b) if a.sort_key <= b.sort_key else (b, a)
        self._merge(survivor, other, now, reason, out)
        return survivor

    def _merge(self, survivor: Call, other: Call, now: float, reason: str, out: _Out) -> None:
        """Fold ``other`` into ``survivor``: its legs, Linkedids and history move over."""
        if survivor is other or other.call_id not in self._calls:
            return
        out.append(CallMerged(survivor.call_id, now, other.call_id, reason))
        for uid in other.order:
            ch = other.legs.get(uid)
            if ch is not None:
                self._add_leg(survivor, ch, now, out)
            elif uid not in survivor.order:
                survivor.order.append(uid)
        survivor.gone.extend(other.gone)
        for linkedid in other.linkedids:
            self._linked[linkedid] = survivor
        survivor.linkedids |= other.linkedids
        for uid, device in other.parties.items():
            survivor.parties.setdefault(uid, device)
        if other.transfers:
            survivor.transfers = sorted(survivor.transfers + other.transfers, key=lambda t: t.at)
        survivor.dials |= other.dials
        survivor.trunk_seen = survivor.trunk_seen or other.trunk_seen
        survivor.party_rang = survivor.party_rang or other.party_rang
        survivor.max_talking = max(survivor.max_talking, other.max_talking)
        survivor.started_at = min(survivor.started_at, other.started_at)
        if survivor.queue is None and other.queue is not None:
            survivor.queue = other.queue
        survivor.ever_queued = survivor.ever_queued or other.ever_queued
        other.legs.clear()
        self._end(other, now, out, reason="merged", merged_into=survivor.call_id)
        self._refresh(survivor, now, out)

    def _talk_groups(self, call: Call) -> tuple[tuple[str, ...], ...]:
        """Parties that hear each other: connected through mixing bridges and Local
        channel pairs. Groups of two parties or more, caller first, then by name."""
        legs = call.legs
        if len(legs) < 2:
            return ()
        seen: set[str] = set()
        groups: list[tuple[str, ...]] = []
        for start in legs:
            if start in seen:
                continue
            stack, parties = [start], []
            seen.add(start)
            while stack:
                uid = stack.pop()
                ch = legs[uid]
                if ch.role in _PARTY_ROLES:
                    parties.append(ch)
                near: list[str] = []
                if ch.bridge_id is not None:
                    bridge = self._bridges.get(ch.bridge_id)
                    if bridge is not None and bridge.mixing:
                        near.extend(bridge.members)
                pair = _local_pair(ch.name) if ch.role == "local" else None
                if pair is not None:
                    near.extend(self._pairs.get(pair, {}).values())
                for other in near:
                    if other not in seen and other in legs:
                        seen.add(other)
                        stack.append(other)
            if len(parties) >= 2:
                parties.sort(key=lambda c: (c.uniqueid != call.caller, c.name))
                groups.append(tuple(c.name for c in parties))
        groups.sort()
        return tuple(groups)

    def _refresh(self, call: Call, now: float, out: _Out) -> None:
        """Recompute what is derived (conversations, state) and say what changed."""
        if call.call_id not in self._calls:
            return
        if not call.legs:
            self._end(call, now, out, reason="hangup")
            return
        groups = call.talking if call.optimizing else self._talk_groups(call)
        if groups != call.talking:
            call.talking = groups
            for group in groups:
                call.max_talking = max(call.max_talking, len(group))
            if groups and call.answered_at is None:
                call.answered_at = now
                answerer = self._answerer(call, groups)
                out.append(
                    CallAnswered(
                        call.call_id,
                        now,
                        answerer.name,
                        answerer.device,
                        now - call.started_at,
                    )
                )
            if groups:
                call.hangup_party = None
                call.talked_since_transfer = True
                caller = call.caller_channel
                for group in groups:
                    if caller in group:
                        names = [n for n in group if n != caller]
                        call.last_partners = tuple(
                            self._channels[self._names[n]].device for n in names if n in self._names
                        )
            out.append(CallBridged(call.call_id, now, groups))
        alive = bool(call.legs)
        held = any(ch.held for ch in call.legs.values())
        ringing = bool(call.dials) or any(ch.state in RINGING_STATES for ch in call.legs.values())
        state = call_state(
            alive=alive,
            held=held,
            talking=bool(groups),
            queued=call.queue is not None,
            ringing=ringing,
        )
        if state != call.state:
            previous, call.state = call.state, state
            out.append(CallStateChanged(call.call_id, now, state, previous))

    def _answerer(self, call: Call, groups: tuple[tuple[str, ...], ...]) -> Channel:
        group = next((g for g in groups if call.caller_channel in g), groups[0])
        for name in group:
            if name != call.caller_channel:
                uid = self._names.get(name)
                if uid is not None:
                    return self._channels[uid]
        return self._channels[self._names[group[0]]]

    def _end(
        self,
        call: Call,
        now: float,
        out: _Out,
        *,
        reason: str,
        merged_into: str | None = None,
    ) -> None:
        if self._calls.get(call.call_id) is not call:
            return
        for ch in list(call.legs.values()):
            self._remove_channel(ch, now, None, reason, out)
        del self._calls[call.call_id]
        for linkedid in call.linkedids:
            if self._linked.get(linkedid) is call:
                del self._linked[linkedid]
        call.ended_at = now
        previous, call.state = call.state, "ended"
        code, text = self._cause(call)
        outcome: Outcome
        if reason == "merged":
            cause, code, text, outcome = "merged", None, "", "merged"
        else:
            if reason in ("pbx_resync", "pbx_shutdown"):
                cause, code, text = reason, None, ""
            else:
                cause = cause_name(code)
            outcome = self._outcome(call)
        if previous != "ended" and reason != "merged":
            out.append(CallStateChanged(call.call_id, now, "ended", previous))
        answered = call.answered_at
        hangup_uid = call.hangup_party or call.hangup_any
        hangup_by = None
        if hangup_uid is not None:
            hangup_by = next((ch.name for ch in call.gone if ch.uniqueid == hangup_uid), None)
        out.append(
            CallEnded(
                call_id=call.call_id,
                at=now,
                cause=cause,
                cause_code=code,
                cause_txt=text,
                outcome=outcome,
                wait_s=(answered if answered is not None else now) - call.started_at,
                talk_s=now - answered if answered is not None else 0.0,
                duration_s=now - call.started_at,
                hangup_by=hangup_by,
                merged_into=merged_into,
                info=self._info(call),
            )
        )

    def _cause(self, call: Call) -> tuple[int | None, str]:
        """The call's hang-up cause: its caller's, else the first informative one."""
        for ch in call.gone:
            if (
                ch.uniqueid == call.caller
                and ch.cause_code is not None
                and (ch.cause_code != 0 or ch.role != "local")
            ):
                return ch.cause_code, ch.cause_txt
        for ch in call.gone:
            if ch.cause_code:
                return ch.cause_code, ch.cause_txt
        for ch in call.gone:
            if ch.cause_code is not None:
                return ch.cause_code, ch.cause_txt
        return None, ""

    def _outcome(self, call: Call) -> Outcome:
        if call.answered_at is not None:
            return "answered"
        if any(ch.cause_code in BLOCKED_CAUSES for ch in call.gone):
            return "blocked"
        if call.abandoned:
            return "abandoned"
        if (call.ever_queued or call.party_rang) and call.hangup_party == call.caller:
            return "abandoned"
        return "unanswered"

    def _info(self, call: Call) -> CallInfo:
        legs: list[LegInfo] = []
        by_uid = {ch.uniqueid: ch for ch in call.gone}
        by_uid.update(call.legs)
        for uid in call.order:
            ch = by_uid.get(uid)
            if ch is not None:
                legs.append(ch.info())
        return CallInfo(
            call_id=call.call_id,
            state=call.state,
            direction=call.direction(self.inbound_contexts),
            caller_num=call.caller_num,
            caller_name=call.caller_name,
            caller_channel=call.caller_channel,
            started_at=call.started_at,
            answered_at=call.answered_at,
            ended_at=call.ended_at,
            queue=call.last_queue,
            legs=tuple(legs),
            parties=tuple(dict.fromkeys(call.parties.values())),
            talking=call.talking,
            max_talking=call.max_talking,
            transfers=tuple(call.transfers),
            linkedids=tuple(sorted(call.linkedids, key=_uid_key)),
        )
