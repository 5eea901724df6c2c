"""The simulated PBX: a sans-I/O world with injected time.

Nothing here reads a clock, sleeps, logs or imports asyncio. Every input takes ``now``
(seconds on any monotonic scale); timers are data: :meth:`World.next_wakeup` says when the
world next needs to run and :meth:`World.tick` runs it. Outputs are AMI events
(:class:`cti.ami.codec.Message`, headers in the order Asterisk 22 sends them) handed to
subscribers synchronously, in the order Asterisk emits them.

In-process API (what the AMI server and the trunk simulator call)::

    world = World(config, now=0.0)              # config: pbx_sim.config.load_config(...)
    sub = world.subscribe(callback, events={"Hangup", "Newchannel"})   # or events=None: all
    world.phones.add("8001", PhoneBehaviour(answer_delay=1.0, handle_time=60.0), now)
    call = world.trunk_call(now, did="5000", caller_num="0215550101", caller_name="Alice")
    call.admitted        # False: the dialplan rejected it (trunk full -> Congestion, cause 34)
    world.hangup(now, call.channel)             # the caller hangs up (BYE)
    world.send_dtmf(now, call.channel, "1234")
    world.action(now, Message([...]), reply)    # the AMI actions, same dispatcher as the server
    world.run_action(now, "Originate", Channel="PJSIP/8001", ...)  # -> list[Message]
    while (t := world.next_wakeup()) is not None and t <= horizon:
        world.tick(t)

See docs/pbx_sim.md for the whole picture.
"""

from __future__ import annotations

import base64
import heapq
import random
import time as _time_fmt  # only for gmtime/strftime of given timestamps, never for the clock
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cti.ami.codec import Message

from .actions import CollectingReply, dispatch
from .apps import pbx_run
from .basics import moh_start, moh_stop
from .channels import TIMEOUT, Bridge, Channel, Signal, Task, TaskGen
from .config import EndpointConfig, PbxConfig
from .features import on_bridge_dtmf
from .model import (
    BUSY,
    CAUSE_NORMAL,
    DEVICE_STATE_NAME,
    DOWN,
    DS_BUSY,
    DS_INUSE,
    DS_NOT_INUSE,
    DS_ONHOLD,
    DS_RINGING,
    DS_RINGINUSE,
    DS_UNAVAILABLE,
    EXT_STATE_FOR_DEVICE,
    EXT_STATE_TEXT,
    EXT_UNAVAILABLE,
    PRIVILEGE,
    RING,
    RINGING,
    UP,
    cause_text,
)
from .phones import Phones
from .queues import QueueManager
from .reply import ActionReply

if TYPE_CHECKING:
    from .agi import AGIHandler

__all__ = ["DEFAULT_EPOCH", "Device", "Hint", "Subscription", "TrunkCall", "World", "WorldError"]

#: Wall-clock time (Unix epoch) that ``now == 0`` maps to unless told otherwise: the
#: capture lab's boot time, 2026-11-22T00:22:50Z. Any value works; it only shows up in
#: Uniqueids and timestamps.
DEFAULT_EPOCH: Final = 1_795_306_970.0


#: Seconds between two digits a phone sends, and how long each is pressed (09).
DTMF_INTERVAL: Final = 0.24
DTMF_PRESS: Final = 0.18


class WorldError(Exception):
    """A caller misused the world API (unknown channel, bad argument)."""


def format_tv(epoch: float) -> str:
    """``2026-11-22T00:22:50.453+0000`` (EventTV/SessionTV)."""
    sec = int(epoch)
    ms = int((epoch - sec) * 1000)
    return _time_fmt.strftime("%Y-%m-%dT%H:%M:%S", _time_fmt.gmtime(sec)) + f".{ms:03d}+0000"


class Subscription:
    """A subscriber: ``callback(message)`` for the events named in ``events`` (None: all)."""

    __slots__ = ("callback", "events", "world")

    def __init__(
        self, world: World, callback: Callable[[Message], None], events: frozenset[str] | None
    ) -> None:
        self.world = world
        self.callback = callback
        self.events = events

    def close(self) -> None:
        self.world._unsubscribe(self)


class Device:
    """A device as Asterisk's device-state core sees it (``PJSIP/8001``, ``Queue:support``).

    For channel-backed devices the state is derived from counters of the device's channels
    by state (O(1) per change), plus registration for PJSIP endpoints.
    """

    __slots__ = (
        "busy",
        "cachable",
        "channels",
        "endpoint",
        "hints",
        "inuse",
        "members",
        "name",
        "onhold",
        "published",
        "registered",
        "ringing",
        "state",
    )

    def __init__(self, name: str, *, cachable: bool = True, registered: bool = True) -> None:
        self.name = name
        self.state = DS_NOT_INUSE if registered else DS_UNAVAILABLE
        self.cachable = cachable
        self.registered = registered
        self.inuse = 0
        self.ringing = 0
        self.busy = 0
        self.onhold = 0
        self.channels = 0
        self.hints: list[Hint] = []
        self.members: list[Any] = []
        self.endpoint: EndpointConfig | None = None
        #: True once a DeviceStateChange was sent (DeviceStateList lists these).
        self.published = False

    def computed(self) -> int:
        if self.ringing and self.inuse:
            return DS_RINGINUSE
        if self.ringing:
            return DS_RINGING
        if self.onhold and not self.inuse:
            return DS_ONHOLD
        if self.inuse:
            return DS_INUSE
        if self.busy:
            return DS_BUSY
        if not self.registered:
            return DS_UNAVAILABLE
        return DS_NOT_INUSE


class Hint:
    """``exten => 8001,hint,PJSIP/8001``: an extension state derived from device(s)."""

    __slots__ = ("context", "devices", "exten", "state", "text")

    def __init__(self, context: str, exten: str, text: str) -> None:
        self.context = context
        self.exten = exten
        self.text = text
        self.devices: list[Device] = []
        self.state = EXT_UNAVAILABLE


@dataclass
class TrunkCall:
    """What :meth:`World.trunk_call` returns."""

    channel: str
    uniqueid: str
    #: False when the dialplan rejected the call (Congestion/Busy/Hangup before answer).
    admitted: bool
    #: Hangup cause when not admitted (34 for a full trunk), else 0.
    cause: int = 0


def _uid_age(uid: str) -> tuple[int, str]:
    """Sort key of a Uniqueid (``epoch.sequence``): lower sequence = older."""
    tail = uid.rsplit(".", 1)[-1]
    return (int(tail), uid) if tail.isdigit() else (1 << 62, uid)


def _contrib(chan_state: int) -> str | None:
    """Which device counter a channel in this state adds to."""
    if chan_state == UP:
        return "inuse"
    if chan_state == RINGING:
        return "ringing"
    if chan_state == BUSY:
        return "busy"
    # Down (a leg being set up), Ring (an inbound call not answered yet): not counted.
    # The transcripts show no INUSE for a trunk call rejected by Congestion (10: BUSY,
    # then NOT_INUSE).
    return None


class World:
    """The simulated PBX. See the module docstring for the API."""

    def __init__(
        self,
        config: PbxConfig,
        *,
        now: float = 0.0,
        epoch: float = DEFAULT_EPOCH,
        seed: int = 0,
        events_detail: bool = True,
        boot: bool = True,
        spool_dir: str | None = None,
        registered: bool = True,
    ) -> None:
        self.config = config
        self.now = now
        self._epoch0 = epoch - now
        self._rng = random.Random(seed)
        #: False: never build VarSet/Newexten (the trunk simulator's fast mode).
        self.events_detail = events_detail
        #: Where MixMonitor writes relative file names (default: config.monitor_dir).
        self.spool_dir = spool_dir
        self._uid = 0
        self._chan_seq = 0
        self._local_seq = 0
        self._timer_seq = 0
        self._timers: list[tuple[float, int, Callable[..., None], Any, Any]] = []
        self._signals: deque[tuple[Task, Signal]] = deque()
        self._draining = False
        self._dirty: dict[str, Device] = {}
        self._running: Task | None = None
        self._subs: list[Subscription] = []
        self._all_subs = 0
        self._wanted: dict[str, int] = {}
        self._detail_vars = False
        self._detail_exten = False
        self.channels: dict[str, Channel] = {}
        self.by_uniqueid: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.devices: dict[str, Device] = {}
        self.hints: dict[tuple[str, str], Hint] = {}
        self.groups: dict[tuple[str, str], int] = {}
        self.global_vars: dict[str, str] = dict(config.dialplan.globals)
        self.booted = False
        self.boot_time = now
        self.processed_calls = 0
        #: Per-feature state of the applications (ConfBridge conferences...).
        self.extensions: dict[str, Any] = {}
        #: The FastAGI connector (set by the asyncio shell); None: AGI() fails at once.
        self.agi_handler: AGIHandler | None = None
        #: Called when a MixMonitor recording file is complete: (channel, path, seconds).
        self.on_recording: Callable[[Channel, str, float], None] | None = None
        #: Called for every task exception (the shell logs it); the world carries on.
        self.on_error: Callable[[str, BaseException], None] | None = None
        for ep in config.endpoints.values():
            dev = self.device(f"PJSIP/{ep.name}", registered=registered)
            dev.endpoint = ep
        for (ctx, ext), text in config.dialplan.hints.items():
            hint = Hint(ctx, ext, text)
            for part in text.split("&"):
                name = part.strip()
                if name:
                    d = self.device(name)
                    d.hints.append(hint)
                    hint.devices.append(d)
            hint.state = self._hint_state(hint)
            self.hints[(ctx, ext)] = hint
        self.queues: QueueManager = QueueManager(self)
        self.phones: Phones = Phones(self)
        if boot:
            self.boot(now, delay=0.0)

    # -- time and ids ---------------------------------------------------------------------

    def epoch(self, now: float | None = None) -> float:
        """Wall-clock (Unix) time for a world time (default: the current one)."""
        return self._epoch0 + (self.now if now is None else now)

    def elapsed(self, since: float) -> int:
        """Whole seconds since world time ``since`` (a hair of float error forgiven)."""
        return int(self.now - since + 1e-6)

    def new_uniqueid(self) -> str:
        uid = f"{int(self._epoch0 + self.now)}.{self._uid}"
        self._uid += 1
        return uid

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def random_token(self, n: int = 32) -> str:
        # base64 with "-." for "+/": the alphabet of PJSIP's Call-IDs, 4 chars per 3 bytes
        raw = base64.b64encode(self._rng.randbytes((n * 3 + 3) // 4), altchars=b"-.")
        return raw[:n].decode("ascii")

    # -- subscribers and emission ----------------------------------------------------------

    def subscribe(
        self, callback: Callable[[Message], None], events: Collection[str] | None = None
    ) -> Subscription:
        """Receive events as :class:`Message` objects, synchronously, in emission order.

        ``events``: the event names wanted, or None for all. Families nobody asked for
        (VarSet, Newexten are the bulk) are not even built.
        """
        sub = Subscription(self, callback, None if events is None else frozenset(events))
        self._subs.append(sub)
        if sub.events is None:
            self._all_subs += 1
        else:
            for name in sub.events:
                self._wanted[name] = self._wanted.get(name, 0) + 1
        self._update_detail()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub not in self._subs:
            return
        self._subs.remove(sub)
        if sub.events is None:
            self._all_subs -= 1
        else:
            for name in sub.events:
                self._wanted[name] -= 1
                if not self._wanted[name]:
                    del self._wanted[name]
        self._update_detail()

    def _update_detail(self) -> None:
        self._detail_vars = self.events_detail and self.wants("VarSet")
        self._detail_exten = self.events_detail and self.wants("Newexten")

    def wants(self, name: str) -> bool:
        """True if some subscriber would receive an event called ``name``."""
        return self._all_subs > 0 or name in self._wanted

    def publish(self, msg: Message) -> None:
        """Hand a ready-made event to the subscribers (the AMI server's security events)."""
        name = msg.event or ""
        for sub in tuple(self._subs):
            if sub.events is None or name in sub.events:
                sub.callback(msg)

    def emit(self, name: str, *parts: Iterable[tuple[str, str]] | Channel) -> None:
        """Build and publish ``Event: name`` + ``Privilege`` + the header blocks. A
        :class:`Channel` part stands for its snapshot, built only if someone listens."""
        if not self._all_subs and name not in self._wanted:
            return
        pairs: list[tuple[str, str]] = [("Event", name), ("Privilege", PRIVILEGE[name])]
        for part in parts:
            pairs.extend(part.snapshot() if isinstance(part, Channel) else part)
        msg = Message(pairs)
        for sub in tuple(self._subs):
            if sub.events is None or name in sub.events:
                sub.callback(msg)

    def emit_raw(self, pairs: list[tuple[str, str]]) -> None:
        """Publish headers as given (events without a Privilege header)."""
        name = pairs[0][1]
        if not self._all_subs and name not in self._wanted:
            return
        msg = Message(pairs)
        for sub in tuple(self._subs):
            if sub.events is None or name in sub.events:
                sub.callback(msg)

    # -- timers and tasks --------------------------------------------------------------------

    def call_at(self, when: float, fn: Callable[..., None], a: Any = None, b: Any = None) -> None:
        """Run ``fn(a, b)`` at world time ``when`` (a timer is data: a heap entry)."""
        self._timer_seq += 1
        heapq.heappush(self._timers, (when, self._timer_seq, fn, a, b))

    def call_later(
        self, delay: float, fn: Callable[..., None], a: Any = None, b: Any = None
    ) -> None:
        self.call_at(self.now + delay, fn, a, b)

    def next_wakeup(self) -> float | None:
        """When :meth:`tick` next has work to do, or None if nothing is scheduled."""
        return self._timers[0][0] if self._timers else None

    def tick(self, now: float) -> None:
        """Run every timer due at or before ``now`` (each at its own time), then set the
        clock to ``now``."""
        self._advance(now)

    def advance(self, now: float) -> None:
        """Same as :meth:`tick`."""
        self._advance(now)

    def _advance(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            when, _, fn, a, b = heapq.heappop(timers)
            self.now = max(self.now, when)
            try:
                fn(a, b)
            except Exception as exc:  # a bug in one call must not stop the world
                self._report("timer", exc)
            self._drain()
        self.now = max(self.now, now)

    def _report(self, where: str, exc: BaseException) -> None:
        if self.on_error is not None:
            self.on_error(where, exc)
        else:
            raise exc

    def start_task(self, gen: TaskGen, chan: Channel | None = None, name: str = "") -> Task:
        """Start driving ``gen`` now (runs until its first yield). With ``chan``, the task
        becomes the channel's own (``chan.task``) before it runs."""
        task = Task(gen, chan, name)
        if chan is not None:
            chan.task = task
        self._step(task, None)
        return task

    def signal(self, task: Task | None, sig: Signal) -> None:
        """Queue ``sig`` for ``task`` (delivered in order once the current step is done)."""
        if task is None or task.done:
            return
        self._signals.append((task, sig))
        if not self._draining:
            self._drain()

    def _drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            signals = self._signals
            while True:
                while signals:
                    task, sig = signals.popleft()
                    if not task.done:
                        self._step(task, sig)
                if not self._dirty:
                    break
                self._flush_devices()
        finally:
            self._draining = False

    def _step(self, task: Task, sig: Signal | None) -> None:
        was = self._draining
        outer = self._running
        self._draining = True
        self._running = task
        try:
            try:
                deadline = task.gen.send(sig) if sig is not None else next(task.gen)
            except StopIteration:
                task.done = True
                return
            except Exception as exc:
                task.done = True
                self._task_failed(task, exc)
                return
            if task.done:
                task.gen.close()
                return
            task.token += 1
            if deadline is not None:
                self.call_at(deadline, self._wake, task, task.token)
        finally:
            self._draining = was
            self._running = outer

    def _task_failed(self, task: Task, exc: BaseException) -> None:
        chan = task.chan
        self._report(f"task {task!r}", exc)
        if chan is not None and not chan.dead:
            self.destroy(chan, CAUSE_NORMAL)

    def _wake(self, task: Task, token: int) -> None:
        if not task.done and task.token == token:
            self._step(task, TIMEOUT)

    def input(self, now: float) -> None:
        """Bring the world to ``now`` before applying an input (runs due timers)."""
        self._advance(now)

    # -- devices, hints ----------------------------------------------------------------------

    def device(self, name: str, *, registered: bool = True) -> Device:
        dev = self.devices.get(name)
        if dev is None:
            cachable = not name.startswith("Local/")
            dev = self.devices[name] = Device(name, cachable=cachable, registered=registered)
        return dev

    def _hint_state(self, hint: Hint) -> int:
        if len(hint.devices) == 1:
            return EXT_STATE_FOR_DEVICE.get(hint.devices[0].state, EXT_UNAVAILABLE)
        states = [EXT_STATE_FOR_DEVICE.get(d.state, EXT_UNAVAILABLE) for d in hint.devices]
        if all(s == EXT_UNAVAILABLE for s in states):
            return EXT_UNAVAILABLE
        out = 0
        for s in states:
            if s != EXT_UNAVAILABLE:
                out |= s
        return out

    def set_device_state(self, dev: Device, state: int, *, force: bool = False) -> None:
        """Publish a device's new state and propagate it to hints and queue members."""
        if state == dev.state and dev.cachable and not force and dev.published:
            return
        dev.state = state
        dev.published = True
        self.emit("DeviceStateChange", (("Device", dev.name), ("State", DEVICE_STATE_NAME[state])))
        for member in dev.members:
            self.queues.member_device_changed(member, state)
        for hint in dev.hints:
            new = self._hint_state(hint)
            if new != hint.state:
                hint.state = new
                self.emit_extension_status(hint)

    def emit_extension_status(self, hint: Hint, *, action_id: str | None = None) -> None:
        text = EXT_STATE_TEXT.get(hint.state, "Unknown")
        body = (
            ("Exten", hint.exten),
            ("Context", hint.context),
            ("Hint", hint.text),
            ("Status", str(hint.state)),
            ("StatusText", text),
        )
        self.emit("ExtensionStatus", body)

    def _device_recompute(self, dev: Device) -> None:
        """Publish the device's state if it changed (non-cached Local devices: always)."""
        if not dev.cachable:
            # Local channel devices are not cached: every change is published (10).
            self.set_device_state(dev, dev.computed(), force=True)
            return
        self.set_device_state(dev, dev.computed())

    def _flush_devices(self) -> None:
        dirty = self._dirty
        while dirty:
            name = next(iter(dirty))
            dev = dirty.pop(name)
            self.set_device_state(dev, dev.computed())

    def set_hold(self, chan: Channel, on: bool) -> None:
        """The channel is put on hold (or taken off): an answered channel on hold counts
        as ONHOLD for its device instead of INUSE (03c: the transferee's trunk device)."""
        if bool(chan.data.get("held")) == on or chan.dead:
            return
        if on:
            chan.data["held"] = True
        else:
            chan.data.pop("held", None)
        dev: Device | None = chan.dev
        if chan.state == UP and dev is not None and dev.cachable:
            step = 1 if on else -1
            dev.inuse -= step
            dev.onhold += step
            self._device_recompute(dev)

    def _contrib_change(self, chan: Channel, old: int | None, new: int | None) -> None:
        dev: Device | None = chan.dev
        if dev is None:
            return
        if not dev.cachable:
            # chan_local: the device is in use while a pair whose ;2 runs the dialplan
            # exists (counted in local_call / destroy of ;1); every state change of its
            # channels is published (04b, 10).
            if new is None and chan.data.pop("local_active", False):
                dev.inuse -= 1
            self._device_recompute(dev)
            return
        else:
            a = _contrib(old) if old is not None else None
            b = _contrib(new) if new is not None else None
            if a == b:
                return
            if (a == "inuse" or b == "inuse") and chan.data.get("held"):
                # An answered channel on hold counts as ONHOLD.
                if a == "inuse":
                    a = "onhold"
                if b == "inuse":
                    b = "onhold"
        if a is not None:
            setattr(dev, a, getattr(dev, a) - 1)
        if b is not None:
            setattr(dev, b, getattr(dev, b) + 1)
        self._device_recompute(dev)

    # -- endpoints ---------------------------------------------------------------------------

    def endpoint(self, name: str) -> EndpointConfig | None:
        return self.config.endpoints.get(name)

    def security_event(self, name: str, fields: list[tuple[str, str]]) -> None:
        if not self.wants(name):
            return
        tv = format_tv(self.epoch())
        self.emit(name, (("EventTV", tv), ("Severity", "Informational")), fields)

    def sip_auth_events(self, endpoint: str, call_id: str) -> None:
        """ChallengeSent + SuccessfulAuth, as chan_pjsip's digest auth reports every
        authenticated REGISTER/INVITE."""
        if not (self.wants("ChallengeSent") or self.wants("SuccessfulAuth")):
            return
        local = f"IPV4/UDP/127.0.0.1/{self.config.sip_port}"
        remote = "IPV4/UDP/127.0.0.1/53701"
        common = [
            ("Service", "PJSIP"),
            ("EventVersion", "1"),
            ("AccountID", endpoint),
            ("SessionID", call_id),
            ("LocalAddress", local),
            ("RemoteAddress", remote),
        ]
        self.security_event("ChallengeSent", [*common, ("Challenge", "")])
        self.security_event("SuccessfulAuth", [*common, ("UsingPassword", "1")])

    def register(self, now: float, endpoint: str) -> None:
        """The endpoint's phone REGISTERs (00b, 13): contact and peer status, device state."""
        self.input(now)
        dev = self.devices.get(f"PJSIP/{endpoint}")
        if dev is None:
            raise WorldError(f"no such endpoint: {endpoint}")
        if dev.registered:
            return
        call_id = self.random_token()
        self.sip_auth_events(endpoint, call_id)
        uri = f"sip:{endpoint}@127.0.0.1:53701;ob"
        contact = (("URI", uri),)
        tail = (("AOR", endpoint), ("EndpointName", endpoint))
        self.emit(
            "ContactStatus",
            contact,
            (("ContactStatus", "NonQualified"),),
            tail,
            (("RoundtripUsec", "0"),),
        )
        self.emit(
            "PeerStatus",
            (("ChannelType", "PJSIP"), ("Peer", dev.name), ("PeerStatus", "Reachable")),
        )
        dev.registered = True
        self._device_recompute(dev)
        self.emit(
            "ContactStatus",
            contact,
            (("ContactStatus", "Reachable"),),
            tail,
            (("RoundtripUsec", "500"),),
        )
        self._drain()

    def unregister(self, now: float, endpoint: str) -> None:
        """The endpoint's phone un-REGISTERs (Expires: 0), as in 13."""
        self.input(now)
        dev = self.devices.get(f"PJSIP/{endpoint}")
        if dev is None:
            raise WorldError(f"no such endpoint: {endpoint}")
        if not dev.registered:
            return
        self.sip_auth_events(endpoint, self.random_token())
        self.emit(
            "PeerStatus",
            (("ChannelType", "PJSIP"), ("Peer", dev.name), ("PeerStatus", "Unreachable")),
        )
        dev.registered = False
        self._device_recompute(dev)
        self.emit(
            "ContactStatus",
            (("URI", f"sip:{endpoint}@127.0.0.1:53701;ob"),),
            (("ContactStatus", "Removed"),),
            (("AOR", endpoint), ("EndpointName", endpoint), ("RoundtripUsec", "0")),
        )
        self._drain()

    # -- boot ---------------------------------------------------------------------------------

    def boot(self, now: float, delay: float = 0.022) -> None:
        """Load the configuration as Asterisk does at start-up: hint states, globals, queue
        pseudo-devices (the events 00a shows), then FullyBooted ``delay`` later."""
        self.input(now)
        self.boot_time = now
        for hint in self.hints.values():
            # At load the hint's device is not known yet: Hint is empty, Unavailable.
            self.emit(
                "ExtensionStatus",
                (
                    ("Exten", hint.exten),
                    ("Context", hint.context),
                    ("Hint", ""),
                    ("Status", str(EXT_UNAVAILABLE)),
                    ("StatusText", "Unavailable"),
                ),
            )
        for key, value in self.config.dialplan.globals.items():
            if self._detail_vars:
                self.emit(
                    "VarSet",
                    (
                        ("Channel", "none"),
                        ("Uniqueid", "none"),
                        ("Variable", key),
                        ("Value", value),
                    ),
                )
        self.queues.boot()
        if delay > 0:
            self.call_later(delay, self._booted)
        else:
            self._booted()
        self._drain()

    def _booted(self, _a: Any = None, _b: Any = None) -> None:
        self.booted = True
        self.emit(
            "FullyBooted",
            (("Status", "Fully Booted"), ("Uptime", "0"), ("LastReload", "0")),
        )

    def fully_booted_event(self) -> Message:
        """The FullyBooted event a new AMI session gets after Login."""
        up = str(int(self.now - self.boot_time))
        return Message(
            [
                ("Event", "FullyBooted"),
                ("Privilege", "system,all"),
                ("Uptime", up),
                ("LastReload", up),
                ("Status", "Fully Booted"),
            ]
        )

    def shutdown(self, now: float) -> None:
        """``Event: Shutdown`` (14); the server closes the connections afterwards."""
        self.input(now)
        self.emit("Shutdown", (("Shutdown", "Cleanly"), ("Restart", "False")))

    # -- channels -------------------------------------------------------------------------------

    def new_channel(
        self,
        tech: str,
        resource: str,
        *,
        state: int = DOWN,
        context: str = "default",
        exten: str = "s",
        priority: int = 1,
        cid_num: str = "",
        cid_name: str = "",
        linkedid: str | None = None,
        uniqueid: str | None = None,
        emit: bool = True,
    ) -> Channel:
        """Create a channel ``tech/resource-%08x`` and announce it (Newchannel)."""
        seq = self._chan_seq
        self._chan_seq += 1
        name = f"{tech}/{resource}-{seq:08x}"
        chan = Channel(
            name,
            uniqueid or self.new_uniqueid(),
            tech=tech,
            resource=resource,
            state=state,
            context=context,
            exten=exten,
            priority=priority,
            cid_num=cid_num,
            cid_name=cid_name,
            linkedid=linkedid,
            now=self.now,
        )
        self._add_channel(chan, emit)
        return chan

    def new_local_pair(
        self,
        exten: str,
        context: str,
        *,
        linkedid: str | None = None,
        uniqueids: tuple[str | None, str | None] = (None, None),
    ) -> tuple[Channel, Channel]:
        """``Local/exten@context-%08x;1`` and ``;2`` (Newchannel for both)."""
        seq = self._local_seq
        self._local_seq += 1
        base = f"Local/{exten}@{context}-{seq:08x}"
        res = f"{exten}@{context}"
        one = Channel(
            base + ";1",
            uniqueids[0] or self.new_uniqueid(),
            tech="Local",
            resource=res,
            context=context,
            exten=exten,
            linkedid=linkedid,
            now=self.now,
        )
        two = Channel(
            base + ";2",
            uniqueids[1] or self.new_uniqueid(),
            tech="Local",
            resource=res,
            state=RING,
            context=context,
            exten=exten,
            linkedid=one.linkedid,
            now=self.now,
        )
        one.local_peer = two
        two.local_peer = one
        self._add_channel(one, True)
        self._add_channel(two, True)
        return one, two

    def _add_channel(self, chan: Channel, emit: bool) -> None:
        self.channels[chan.name] = chan
        self.by_uniqueid[chan.uniqueid] = chan
        dev = self.device(chan.device_name)
        chan.dev = dev
        dev.channels += 1
        if chan.tech == "PJSIP":
            chan.endpoint = self.config.endpoints.get(chan.resource)
        if emit:
            self.emit("Newchannel", chan)
        b = _contrib(chan.state)
        if b is not None:
            self._contrib_change(chan, None, chan.state)

    def find_channel(self, name: str) -> Channel | None:
        return self.channels.get(name)

    def set_state(self, chan: Channel, state: int, *, emit: bool = True) -> None:
        """Change the channel state: Newstate, then the device-state consequences."""
        old = chan.state
        if old == state:
            return
        chan.state = state
        chan.changed()
        if state == UP and chan.answered_at is None:
            chan.answered_at = self.now
        if emit:
            self.emit("Newstate", chan)
            if chan.tech == "Local" and chan.data.pop("callerid_announce", False):
                self.emit(
                    "NewCallerid",
                    chan,
                    (("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"),),
                )
        self._contrib_change(chan, old, state)

    def set_callerid(self, chan: Channel, num: str, name: str, *, emit: bool = True) -> None:
        chan.cid_num = num
        chan.cid_name = name
        chan.changed()
        if emit:
            self.emit(
                "NewCallerid",
                chan,
                (("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"),),
            )

    def set_connected(self, chan: Channel, num: str, name: str, *, emit: bool = True) -> None:
        """Update the connected line; NewConnectedLine only if it changed."""
        if (chan.conn_num, chan.conn_name) == (num, name):
            return
        chan.conn_num = num
        chan.conn_name = name
        chan.changed()
        if emit:
            self.emit("NewConnectedLine", chan)
            self._local_connected(chan, num, name)

    def _local_connected(self, chan: Channel, num: str, name: str) -> None:
        """A Local ;1 learns who it is connected to: the ;2 half takes that as its caller
        id (published lazily, when it next leaves a bridge) and the party bridged with ;2
        sees it as its connected line (04b)."""
        two = chan.local_peer
        if two is not None and chan.name.endswith(";2") and two.bridge is not None:
            # ;2 learns who it is connected to while ;1 is bridged (03c: the consultation
            # call of an attended transfer): ;1 takes that as its caller id (published
            # after its next state change) and ;1's bridge peer sees it as connected line.
            one = two
            if (one.cid_num, one.cid_name) != (num, name):
                one.cid_num, one.cid_name = num, name
                one.changed()
                one.data["callerid_announce"] = True
            for other in one.bridge.channels if one.bridge is not None else ():
                if other is not one:
                    self.set_connected(other, num, name)
            return
        if two is None or not chan.name.endswith(";1") or two.dead:
            return
        if (two.cid_num, two.cid_name) != (num, name):
            two.data["callerid_pending"] = (num, name)
        br = two.bridge
        if br is not None:
            for other in br.channels:
                if other is not two:
                    self.set_connected(other, num, name)

    def set_position(self, chan: Channel, context: str, exten: str, priority: int) -> None:
        chan.context = context
        chan.exten = exten
        chan.priority = priority
        chan.changed()

    def newexten(self, chan: Channel, app: str, data: str) -> None:
        chan.app = app
        chan.app_data = data
        if self._detail_exten:
            self.emit(
                "Newexten",
                chan,
                (("Extension", chan.exten), ("Application", app), ("AppData", data)),
            )

    def set_var(self, chan: Channel | None, name: str, value: str, *, emit: bool = True) -> None:
        """Set a channel variable (None: a global) and publish VarSet."""
        if chan is None:
            self.global_vars[name] = value
            if emit and self._detail_vars:
                self.emit(
                    "VarSet",
                    (
                        ("Channel", "none"),
                        ("Uniqueid", "none"),
                        ("Variable", name),
                        ("Value", value),
                    ),
                )
            return
        chan.variables[name] = value
        if emit and self._detail_vars:
            self.emit("VarSet", chan, (("Variable", name), ("Value", value)))

    def var_event(self, chan: Channel, name: str, value: str) -> None:
        """Publish a VarSet without storing (values Asterisk sets on internal copies)."""
        if self._detail_vars:
            self.emit("VarSet", chan, (("Variable", name), ("Value", value)))

    @property
    def detail_vars(self) -> bool:
        return self._detail_vars

    @property
    def detail_exten(self) -> bool:
        """True if Newexten events are built (events_detail and a subscriber wants them)."""
        return self._detail_exten

    def hangup_request_event(
        self, chan: Channel, cause: int | None = None, techcause: int | None = None
    ) -> None:
        fields: list[tuple[str, str]] = []
        if cause is not None:
            fields.append(("Cause", str(cause)))
        if techcause is not None:
            fields.append(("TechCause", str(techcause)))
        self.emit("HangupRequest", chan, fields)

    def soft_hangup_event(
        self, chan: Channel, cause: int = CAUSE_NORMAL, techcause: int | None = None
    ) -> None:
        fields = [("Cause", str(cause))]
        if techcause is not None:
            fields.append(("TechCause", str(techcause)))
        self.emit("SoftHangupRequest", chan, fields)

    def destroy(
        self, chan: Channel, cause: int | None = None, techcause: int | None = None
    ) -> None:
        """The channel is gone: Hangup, groups released, device state updated."""
        if chan.dead:
            return
        for fn in chan.data.pop("before_hangup", ()):
            fn()
        for spyer in chan.data.pop("spies", ()):
            self.signal(spyer.task, ("spyee_gone", chan, None))
        chan.dead = True
        if cause is None:
            cause = chan.hangup_cause
        chan.hangup_cause = cause
        dialler = chan.owner.chan if chan.owner is not None else None
        # A leg dialled by a channel cleared normally: that channel's hangup cause becomes
        # Normal Clearing (06c, 03a; a 486 or an abandon leaves it at 0).
        if (
            cause == CAUSE_NORMAL
            and dialler is not None
            and not dialler.dead
            and dialler.hangup_cause == 0
        ):
            dialler.hangup_cause = CAUSE_NORMAL
        if chan.bridge is not None:
            # Should have left already; keep the world consistent anyway.
            br = chan.bridge
            if chan in br.channels:
                br.channels.remove(chan)
            chan.bridge = None
        fields = [("Cause", str(cause)), ("Cause-txt", cause_text(cause))]
        if techcause is not None:
            fields.append(("TechCause", str(techcause)))
        self.emit("Hangup", chan, fields)
        self.channels.pop(chan.name, None)
        self.by_uniqueid.pop(chan.uniqueid, None)
        for category, group in chan.groups.items():
            key = (group, category)
            n = self.groups.get(key, 0) - 1
            if n > 0:
                self.groups[key] = n
            else:
                self.groups.pop(key, None)
        chan.groups.clear()
        dev: Device | None = chan.dev
        if dev is not None:
            dev.channels -= 1
        self._contrib_change(chan, chan.state, None)
        task = chan.task
        if task is not None and not task.done:
            task.done = True
            if task is not self._running:
                task.gen.close()
        self.phones.channel_gone(chan)
        hooks = chan.data.pop("after_hangup", None)
        if hooks:
            for fn in hooks:
                fn()
        peer = chan.local_peer
        if peer is not None and not peer.dead:
            self.local_peer_gone(peer, chan)

    # -- bridges -------------------------------------------------------------------------------

    def bridge_create(
        self,
        *,
        type_: str = "basic",
        technology: str = "simple_bridge",
        creator: str = "<unknown>",
        name: str = "<unknown>",
        uniqueid: str | None = None,
    ) -> Bridge:
        br = Bridge(
            uniqueid or self.new_uuid(),
            type_=type_,
            technology=technology,
            creator=creator,
            name=name,
        )
        self.bridges[br.uniqueid] = br
        self.emit("BridgeCreate", br.headers())
        return br

    def bridge_enter(self, br: Bridge, chan: Channel, *, swap: Channel | None = None) -> None:
        """``chan`` joins ``br`` (``swap``: taking that channel's place, 03c)."""
        br.channels.append(chan)
        chan.bridge = br
        if len(br.channels) > 1 and br.type == "basic":
            # Two-party bridges share the oldest Linkedid (06a: the picker takes the
            # caller's); conference participants keep their own (07).
            oldest = min((c.linkedid for c in br.channels), key=_uid_age)
            for c in br.channels:
                if c.linkedid != oldest:
                    c.linkedid = oldest
                    c.changed()
        if swap is None:
            self.emit("BridgeEnter", br.headers(), chan)
        else:
            self.emit("BridgeEnter", br.headers(), chan, (("SwapUniqueid", swap.uniqueid),))
        if chan.variables.get("ATTENDEDTRANSFER"):
            # A channel dialled for an attended transfer is bridged: the marker goes (03c).
            self.set_var(chan, "ATTENDEDTRANSFER", "")

    def bridge_leave(self, br: Bridge, chan: Channel) -> None:
        if chan in br.channels:
            br.channels.remove(chan)
        chan.bridge = None
        pending = chan.data.pop("callerid_pending", None)
        if pending is not None:
            self.set_callerid(chan, *pending)
        self.emit("BridgeLeave", br.headers(), chan.snapshot())

    def bridge_destroy(self, br: Bridge) -> None:
        self.bridges.pop(br.uniqueid, None)
        self.emit("BridgeDestroy", br.headers(0))

    # -- dialplan helpers --------------------------------------------------------------------

    def group_set(self, chan: Channel, category: str, group: str) -> None:
        old = chan.groups.get(category)
        if old is not None:
            key = (old, category)
            n = self.groups.get(key, 0) - 1
            if n > 0:
                self.groups[key] = n
            else:
                self.groups.pop(key, None)
        chan.groups[category] = group
        key = (group, category)
        self.groups[key] = self.groups.get(key, 0) + 1

    def group_count(self, group: str, category: str = "") -> int:
        return self.groups.get((group, category), 0)

    def start_pbx(self, chan: Channel) -> None:
        """Run the channel's dialplan from its current position (a task)."""
        self.start_task(pbx_run(self, chan), chan)

    # -- inputs from the simulated outside world ---------------------------------------------

    def sip_invite(
        self,
        now: float,
        endpoint: str,
        exten: str,
        *,
        caller_num: str = "",
        caller_name: str = "",
    ) -> Channel:
        """A SIP INVITE arrives from ``endpoint`` for ``exten`` (the DID for a trunk): the
        channel is created in Ring state and runs the endpoint's context."""
        self.input(now)
        ep = self.config.endpoints.get(endpoint)
        if ep is None:
            raise WorldError(f"no such endpoint: {endpoint}")
        call_id = self.random_token()
        self.sip_auth_events(endpoint, call_id)
        if ep.trust_id_inbound:
            num, name = caller_num, caller_name
        else:
            num, name = ep.cid_num or caller_num, ep.cid_name or caller_name
        chan = self.new_channel(
            "PJSIP",
            endpoint,
            state=RING,
            context=ep.context,
            exten=exten,
            cid_num=num,
            cid_name=name,
        )
        chan.dnid = exten
        chan.data["sip_call_id"] = call_id
        self.processed_calls += 1
        self.set_var(chan, "SIPDOMAIN", "127.0.0.1")
        self.start_pbx(chan)
        self._drain()
        return chan

    def trunk_call(
        self,
        now: float,
        did: str,
        caller_num: str,
        caller_name: str = "",
        *,
        trunk: str = "e1trunk",
    ) -> TrunkCall:
        """An inbound call from the carrier trunk: admitted, or blocked by the dialplan
        (the trunk context rejects call 31 of 30 with Congestion: cause 34, SIP 503)."""
        chan = self.sip_invite(now, trunk, did, caller_num=caller_num, caller_name=caller_name)
        admitted = not chan.dead
        return TrunkCall(chan.name, chan.uniqueid, admitted, 0 if admitted else chan.hangup_cause)

    def hangup(
        self,
        now: float,
        channel: str | Channel,
        cause: int = CAUSE_NORMAL,
        techcause: int | None = None,
    ) -> None:
        """The party behind ``channel`` hangs up (a SIP BYE / CANCEL / 4xx)."""
        self.input(now)
        chan = self._chan(channel)
        if chan is None:
            return
        self.remote_hangup(chan, cause, techcause)
        self._drain()

    def remote_hangup(
        self, chan: Channel, cause: int = CAUSE_NORMAL, techcause: int | None = None
    ) -> None:
        """The far end hung up: HangupRequest, then whoever runs/dials the channel reacts."""
        if chan.dead or chan.softhangup:
            return
        chan.softhangup = True
        self.hangup_request_event(
            chan, cause if chan.hangup_cause or techcause is not None else None, techcause
        )
        if techcause is not None:
            # A SIP error response carries its cause (486 -> 17); a BYE does not set one
            # (an abandoned queue caller hangs up with cause 0, 02b/02c).
            chan.hangup_cause = cause
        self._dispatch_hangup(chan, cause, "remote", techcause)

    def soft_hangup(self, chan: Channel, cause: int = CAUSE_NORMAL, *, source: str = "ami") -> None:
        """An AMI ``Hangup`` (or the dialplan) asks the channel to hang up."""
        if chan.dead or chan.softhangup:
            return
        chan.softhangup = True
        chan.hangup_cause = cause
        self._dispatch_hangup(chan, cause, source, None)

    def _dispatch_hangup(
        self, chan: Channel, cause: int, source: str, techcause: int | None
    ) -> None:
        sig: Signal = ("hangup", chan, (cause, source, techcause))
        if chan.task is not None and not chan.task.done:
            self.signal(chan.task, sig)
            return
        if chan.owner is not None and not chan.owner.done:
            self.signal(chan.owner, ("leg_hangup", chan, (cause, source, techcause)))
            return
        br = chan.bridge
        if br is not None:
            ctl = br.data.get("controller")
            if isinstance(ctl, Task) and not ctl.done:
                self.signal(ctl, ("leg_hangup", chan, (cause, source, techcause)))
                return
        if chan.local_peer is not None and not chan.local_peer.dead:
            self.signal(chan.local_peer.task, ("peer_hangup", chan, (cause, source)))
        self.destroy(chan, cause, techcause)

    def answer(self, now: float, channel: str | Channel) -> None:
        """The called phone answers (200 OK)."""
        self.input(now)
        chan = self._chan(channel)
        if chan is not None:
            self.leg_answered(chan)
        self._drain()

    def leg_answered(self, chan: Channel) -> None:
        if chan.dead or chan.state == UP:
            return
        self.set_state(chan, UP)
        self.signal(chan.owner, ("answer", chan, None))

    def ringing(self, now: float, channel: str | Channel) -> None:
        """The called phone rings (180 Ringing)."""
        self.input(now)
        chan = self._chan(channel)
        if chan is not None:
            self.leg_ringing(chan)
        self._drain()

    def leg_ringing(self, chan: Channel) -> None:
        if chan.dead or chan.state in (RINGING, UP):
            return
        self.set_state(chan, RINGING)
        self.signal(chan.owner, ("ringing", chan, None))

    def send_dtmf(
        self, now: float, channel: str | Channel, digits: str, duration_ms: int = 200
    ) -> None:
        """The party behind ``channel`` presses keys (RFC 4733: DTMFBegin + DTMFEnd each)."""
        self.input(now)
        chan = self._chan(channel)
        if chan is None or chan.dead:
            return
        # RFC 4733 as the lab's softphones sent it (09): a digit every 0.24 s, DTMFEnd
        # 0.18 s after DTMFBegin; the digit reaches the application with DTMFEnd.
        for i, d in enumerate(digits):
            t = self.now + i * DTMF_INTERVAL
            self.call_at(t, self._dtmf_begin, chan, d)
            self.call_at(t + DTMF_PRESS, self._dtmf_end, chan, (d, duration_ms))
        self._advance(self.now)
        self._drain()

    def _dtmf_begin(self, chan: Channel, digit: str) -> None:
        if not chan.dead:
            self.emit("DTMFBegin", chan, (("Digit", digit), ("Direction", "Received")))

    def received_dtmf(self, chan: Channel, arg: tuple[str, int]) -> None:
        """A DTMF frame queued on ``chan`` (PlayDTMF ``Receive``): DTMFEnd only, as
        Asterisk reads a lone END frame."""
        self._dtmf_end(chan, arg)

    def _dtmf_end(self, chan: Channel, arg: tuple[str, int]) -> None:
        if chan.dead:
            return
        digit, ms = arg
        self.emit(
            "DTMFEnd",
            chan,
            (("Digit", digit), ("DurationMs", str(ms)), ("Direction", "Received")),
        )
        self.deliver_dtmf(chan, digit)

    def agi_command(self, now: float, channel: str | Channel, line: str) -> None:
        """The FastAGI server sent a command line for ``channel``'s AGI session."""
        self.input(now)
        chan = channel if isinstance(channel, Channel) else self.channels.get(channel)
        if chan is not None and chan.task is not None:
            self.signal(chan.task, ("agi_cmd", chan, line))
        self._drain()

    def agi_closed(self, now: float, channel: str | Channel, *, failed: bool = False) -> None:
        """The FastAGI connection of ``channel`` ended (or could not be opened)."""
        self.input(now)
        chan = channel if isinstance(channel, Channel) else self.channels.get(channel)
        if chan is not None and chan.task is not None:
            self.signal(chan.task, ("agi_closed", chan, "failed" if failed else "ok"))
        self._drain()

    def deliver_dtmf(self, chan: Channel, digit: str) -> None:
        """Hand a digit to whatever reads DTMF on the channel (dialplan app or bridge)."""
        if chan.task is not None and not chan.task.done:
            self.signal(chan.task, ("dtmf", chan, digit))
            return
        br = chan.bridge
        if br is not None and on_bridge_dtmf(self, chan, digit):
            return  # a dynamic feature's code (features.conf [applicationmap])
        if br is not None:
            ctl = br.data.get("controller")
            if isinstance(ctl, Task):
                self.signal(ctl, ("dtmf", chan, digit))

    def _chan(self, channel: str | Channel) -> Channel | None:
        if isinstance(channel, Channel):
            return None if channel.dead else channel
        return self.channels.get(channel)

    # -- Local channels ---------------------------------------------------------------------

    def local_call(self, one: Channel) -> None:
        """Dialling ``Local/exten@context;1`` starts the dialplan on ``;2``."""
        two = one.local_peer
        if two is not None and not two.dead and two.task is None:
            if one.dev is not None and not one.data.get("local_active"):
                one.data["local_active"] = True
                one.dev.inuse += 1
            self.start_pbx(two)

    def local_release(self, one: Channel) -> None:
        """The pair of ``one`` stops counting as in use (published with the next change:
        03c, the optimised pair's two hangups both show NOT_INUSE)."""
        if one.data.pop("local_active", False) and one.dev is not None:
            one.dev.inuse -= 1

    def local_answered(self, one: Channel) -> None:
        """``;2`` answered: ``;1`` is up too."""
        self.leg_answered(one)

    def local_failed(self, one: Channel, two: Channel, cause: int) -> None:
        """``;2`` signalled Busy/Congestion: whoever dials ``;1`` sees that cause (10)."""
        if one.dead:
            return
        sig: Signal = ("leg_hangup", one, (cause, "remote", None))
        if one.owner is not None and not one.owner.done:
            self.signal(one.owner, sig)
        else:
            self.soft_hangup(one, cause, source="remote")

    def local_peer_gone(self, peer: Channel, gone: Channel) -> None:
        """One half of a Local pair hung up: the other half is asked to hang up too."""
        if peer.dead or peer.softhangup:
            return
        peer.softhangup = True
        self.hangup_request_event(peer, gone.hangup_cause)
        self._dispatch_hangup(peer, gone.hangup_cause, "remote", None)

    def local_bridge_event(self, one: Channel) -> None:
        two = one.local_peer
        if two is None:
            return
        exten, _, context = one.resource.partition("@")
        self.emit(
            "LocalBridge",
            one.snapshot("LocalOne"),
            two.snapshot("LocalTwo"),
            (("Context", context), ("Exten", exten), ("LocalOptimization", "Yes")),
        )

    def rename_uniqueid(self, chan: Channel, uniqueid: str) -> None:
        """Use a client-chosen id (Originate ``ChannelId``/``OtherChannelId``, 04b)."""
        self.by_uniqueid.pop(chan.uniqueid, None)
        if chan.linkedid == chan.uniqueid:
            chan.linkedid = uniqueid
        chan.uniqueid = uniqueid
        self.by_uniqueid[uniqueid] = chan
        chan.changed()

    # -- redirect ---------------------------------------------------------------------------

    def redirect(self, chan: Channel, context: str, exten: str, priority: int) -> None:
        """AMI Redirect: the channel leaves what it is doing and runs the dialplan at the
        new place (an async goto)."""
        if chan.dead:
            return
        target = (context, exten, priority)
        if chan.task is not None and not chan.task.done:
            chan.data["redirect"] = target
            self.signal(chan.task, ("redirect", chan, target))
            return
        # A leg without its own dialplan (being dialled or bridged by another channel's
        # application): detach it from its controller, then start a dialplan on it.
        chan.data["redirect"] = target
        ctl = chan.owner
        br = chan.bridge
        if (ctl is None or ctl.done) and br is not None:
            c = br.data.get("controller")
            ctl = c if isinstance(c, Task) else None
        chan.owner = None
        if ctl is not None and not ctl.done:
            self.signal(ctl, ("leg_redirect", chan, target))
        self.call_at(self.now, self._start_redirected, chan, target)

    def dual_redirect(
        self,
        chan: Channel,
        target: tuple[str, str, int],
        extra: Channel,
        extra_target: tuple[str, str, int],
    ) -> None:
        """AMI Redirect with ExtraChannel. Asterisk marks both channels
        (``AST_FLAG_BRIDGE_DUAL_REDIRECT_WAIT``) before either moves, so when they share
        a bridge it dissolves with both leaving for their targets: a Dial callee, which
        has no dialplan of its own, gets an after-bridge goto and runs the dialplan at its
        target instead of being hung up (observed on Asterisk 22,
        tests/asterisk/test_hold_asterisk.py)."""
        if chan.dead or extra.dead:
            return
        extra.data["redirect"] = extra_target
        self.redirect(chan, *target)
        # Whoever controlled their bridge may have moved the extra channel already.
        if not extra.dead and extra.data.get("redirect") == extra_target:
            self.redirect(extra, *extra_target)

    def phone_hold(self, now: float, channel: str | Channel, on: bool = True) -> None:
        """The phone behind ``channel`` puts its call on hold (a re-INVITE with
        ``sendonly``) or takes it off: ``Hold``/``Unhold`` on the channel, music on hold
        for the party bridged with it (03c), the device ONHOLD while held."""
        self.input(now)
        chan = self._chan(channel)
        if chan is None or bool(chan.data.get("held")) == on:
            self._drain()
            return
        self.emit("Hold" if on else "Unhold", chan)
        self.set_hold(chan, on)
        br = chan.bridge
        if br is not None:
            for other in br.channels:
                if other is not chan and not other.dead:
                    if on:
                        moh_start(self, other)
                    else:
                        moh_stop(self, other)
        self._drain()

    def _start_redirected(self, chan: Channel, target: Any) -> None:
        if chan.dead or chan.task is not None:
            return
        chan.data.pop("redirect", None)
        if chan.bridge is not None:
            self.bridge_leave(chan.bridge, chan)
        self.set_position(chan, *target)
        chan.softhangup = False
        self.start_pbx(chan)

    # -- actions --------------------------------------------------------------------------------

    def action(self, now: float, msg: Message, reply: ActionReply) -> None:
        """Run one AMI action (the same dispatcher the AMI server uses). ``reply`` gets the
        response and the action's list events, now or later (a synchronous Originate)."""
        self.input(now)
        try:
            dispatch(self, msg, reply)
        except Exception as exc:
            reply.error("Internal error")
            self._report(f"action {msg.action}", exc)
        self._drain()

    def run_action(self, now: float, name: str, **headers: str) -> list[Message]:
        """Convenience for in-process callers: run an action, return what it answered
        right away (the response first, then list events)."""
        reply = CollectingReply()
        pairs = [("Action", name)]
        pairs.extend((k, v) for k, v in headers.items())
        self.action(now, Message(pairs), reply)
        return reply.messages

    # -- statistics ---------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        return {
            "channels": len(self.channels),
            "bridges": len(self.bridges),
            "trunk_busy": self.group_count("e1", "trunk"),
            "timers": len(self._timers),
        }
