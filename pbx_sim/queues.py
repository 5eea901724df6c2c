"""app_queue, simplified: queues and members from queues.conf (plus QueueAdd), the
``Queue()`` application with the ``linear`` and ``ringall`` strategies, ring timeout, retry,
pause, and the events/VarSets of 01, 02a-c, 05b, 10, 11 and 12.

Member availability is read from the live device counters; the published device states
(DeviceStateChange, QueueMemberStatus) follow at the end of the burst, as in Asterisk.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from .basics import moh_start, moh_stop, moved_out_of_bridge
from .channels import Channel, Signal, Task
from .config import QueueConfig
from .dial import LegFailure, create_leg, start_leg
from .dialplan import split_args
from .model import (
    CAUSE_NO_ANSWER,
    CAUSE_NORMAL,
    DS_INUSE,
    DS_NOT_INUSE,
    DS_RINGING,
    DS_UNAVAILABLE,
)
from .transfers import blind_transfer_events, bridge_vars, clear_bridge_vars

if TYPE_CHECKING:
    from .world import Device, World

__all__ = ["Member", "QueueCaller", "QueueManager", "QueueRt", "app_queue"]

QUEUE_VARS = (
    "QUEUENAME",
    "QUEUEMAX",
    "QUEUESTRATEGY",
    "QUEUECALLS",
    "QUEUEHOLDTIME",
    "QUEUETALKTIME",
    "QUEUECOMPLETED",
    "QUEUEABANDONED",
    "QUEUESRVLEVEL",
    "QUEUESRVLEVELPERF",
)


class Member:
    __slots__ = (
        "calls_taken",
        "device",
        "dynamic",
        "in_call",
        "interface",
        "last_call",
        "last_pause",
        "login_time",
        "name",
        "pause_device",
        "paused",
        "paused_reason",
        "penalty",
        "queue",
        "ringing_for",
        "ringinuse",
        "state_interface",
        "status",
        "wrapuptime",
    )

    def __init__(
        self,
        queue: QueueRt,
        interface: str,
        name: str,
        state_interface: str,
        *,
        penalty: int = 0,
        dynamic: bool = False,
        login_time: int = 0,
        ringinuse: bool = False,
    ) -> None:
        self.queue = queue
        self.interface = interface
        self.name = name or interface
        self.state_interface = state_interface or interface
        self.penalty = penalty
        self.dynamic = dynamic
        self.paused = False
        self.paused_reason = ""
        self.calls_taken = 0
        self.last_call = 0
        self.last_pause = 0
        self.login_time = login_time
        self.in_call = False
        self.status = DS_UNAVAILABLE
        self.ringinuse = ringinuse
        self.wrapuptime = 0
        self.ringing_for: QueueCaller | None = None
        self.device: Device | None = None
        self.pause_device: Device | None = None

    def fields(self) -> list[tuple[str, str]]:
        """The member block of QueueMemberStatus/Added/Pause/Penalty/Removed."""
        return [
            ("Queue", self.queue.name),
            ("MemberName", self.name),
            ("Interface", self.interface),
            ("StateInterface", self.state_interface),
            ("Membership", "dynamic" if self.dynamic else "static"),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", str(self.status)),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.paused_reason),
            ("Ringinuse", "1" if self.ringinuse else "0"),
            ("Wrapuptime", str(self.wrapuptime)),
        ]

    def list_fields(self) -> list[tuple[str, str]]:
        """The ``QueueMember`` list item of QueueStatus."""
        return [
            ("Queue", self.queue.name),
            ("Name", self.name),
            ("Location", self.interface),
            ("StateInterface", self.state_interface),
            ("Membership", "dynamic" if self.dynamic else "static"),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", str(self.status)),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.paused_reason),
            ("Wrapuptime", str(self.wrapuptime)),
        ]


class QueueCaller:
    __slots__ = ("chan", "joined_at", "next_member", "original_pos", "queue", "task")

    def __init__(self, queue: QueueRt, chan: Channel, pos: int, now: float) -> None:
        self.queue = queue
        self.chan = chan
        self.original_pos = pos
        self.joined_at = now
        self.task: Task | None = chan.task
        self.next_member = 0


class QueueRt:
    """A queue at run time."""

    def __init__(self, cfg: QueueConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.members: list[Member] = []
        self.callers: list[QueueCaller] = []
        self.holdtime = 0
        self.talktime = 0
        self.completed = 0
        self.abandoned = 0
        self.avail_device: Device | None = None
        self.device: Device | None = None

    def position(self, caller: QueueCaller) -> int:
        return self.callers.index(caller) + 1

    def member(self, interface: str) -> Member | None:
        for m in self.members:
            if m.interface == interface:
                return m
        return None


class QueueManager:
    """The world's queues; also answers the queue AMI actions."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.queues: dict[str, QueueRt] = {}
        login = int(world.epoch())
        for cfg in world.config.queues.values():
            q = QueueRt(cfg)
            self.queues[q.name] = q
            for mc in cfg.members:
                m = Member(
                    q,
                    mc.interface,
                    mc.name,
                    mc.state_interface,
                    penalty=mc.penalty,
                    login_time=login,
                    ringinuse=cfg.ringinuse,
                )
                self._attach(m)
                q.members.append(m)

    def _attach(self, m: Member) -> None:
        world = self.world
        dev = world.device(m.state_interface)
        m.device = dev
        dev.members.append(m)
        m.status = dev.state
        m.pause_device = world.device(f"Queue:{m.queue.name}_pause_{m.interface}")

    def _detach(self, m: Member) -> None:
        if m.device is not None and m in m.device.members:
            m.device.members.remove(m)

    def boot(self) -> None:
        """The pseudo-devices app_queue publishes at load (00a)."""
        world = self.world
        for q in self.queues.values():
            q.avail_device = world.device(f"Queue:{q.name}_avail")
            q.device = world.device(f"Queue:{q.name}")
            q.device.state = DS_NOT_INUSE
            world.set_device_state(q.avail_device, self._avail_state(q), force=True)
            for m in q.members:
                assert m.pause_device is not None
                world.set_device_state(
                    m.pause_device, DS_INUSE if m.paused else DS_NOT_INUSE, force=True
                )

    # -- availability ---------------------------------------------------------------------

    def _free(self, m: Member) -> bool:
        """Could the member take a call now (live device state, not paused, not ringing)?"""
        if m.paused or m.ringing_for is not None:
            return False
        dev = m.device
        if dev is None:
            return False
        state = dev.computed()
        if state == DS_NOT_INUSE:
            return True
        return m.ringinuse and state == DS_INUSE

    def _avail_state(self, q: QueueRt) -> int:
        for m in q.members:
            if not m.paused and m.device is not None and m.device.state == DS_NOT_INUSE:
                return DS_NOT_INUSE
        return DS_INUSE

    def _update_avail(self, q: QueueRt) -> None:
        if q.avail_device is None:
            return
        new = self._avail_state(q)
        if new != q.avail_device.state:
            self.world.set_device_state(q.avail_device, new)

    def member_device_changed(self, m: Member, state: int) -> None:
        if m.status == state:
            return
        m.status = state
        self.world.emit("QueueMemberStatus", m.fields())
        q = m.queue
        self._update_avail(q)
        if state == DS_NOT_INUSE:
            self.kick(q)

    def kick(self, q: QueueRt) -> None:
        """Tell waiting callers that a member may have become free."""
        for c in q.callers:
            self.world.signal(c.task, ("queue_check", None, None))

    # -- statistics ------------------------------------------------------------------------

    def queue_vars(self, chan: Channel, q: QueueRt) -> None:
        world = self.world
        if not world.detail_vars:
            return
        values = (
            q.name,
            str(q.cfg.maxlen),
            q.cfg.strategy,
            str(len(q.callers)),
            str(q.holdtime),
            str(q.talktime),
            str(q.completed),
            str(q.abandoned),
            str(q.cfg.servicelevel),
            "0.0",
        )
        for name, value in zip(QUEUE_VARS, values, strict=True):
            world.set_var(chan, name, value)

    @staticmethod
    def _avg(old: int, new: int) -> int:
        return new if old == 0 else (old * 3 + new) >> 2

    # -- actions -------------------------------------------------------------------------------

    def add_member(
        self,
        queue: str,
        interface: str,
        *,
        name: str = "",
        state_interface: str = "",
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
    ) -> str | None:
        """QueueAdd; returns an error message or None (12)."""
        q = self.queues.get(queue)
        if q is None:
            return "Unable to add interface to queue: No such queue"
        if q.member(interface) is not None:
            return "Unable to add interface: Already there"
        world = self.world
        m = Member(
            q,
            interface,
            name or interface,
            state_interface or interface,
            penalty=penalty,
            dynamic=True,
            login_time=int(world.epoch()),
            ringinuse=q.cfg.ringinuse,
        )
        m.paused = paused
        m.paused_reason = reason if paused else ""
        self._attach(m)
        q.members.append(m)
        assert m.pause_device is not None
        world.set_device_state(m.pause_device, DS_INUSE if paused else DS_NOT_INUSE, force=True)
        world.emit("QueueMemberAdded", m.fields())
        self._update_avail(q)
        self.kick(q)
        return None

    def remove_member(self, queue: str, interface: str) -> str | None:
        q = self.queues.get(queue)
        if q is None:
            return "Unable to remove interface from queue: No such queue"
        m = q.member(interface)
        if m is None:
            return "Unable to remove interface: Not there"
        if not m.dynamic:
            return "Member not dynamic"
        q.members.remove(m)
        self._detach(m)
        self.world.emit("QueueMemberRemoved", m.fields())
        self._update_avail(q)
        return None

    def pause(self, interface: str, paused: bool, reason: str, queue: str | None) -> str | None:
        targets: list[Member] = []
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            m = q.member(interface)
            if m is not None:
                targets.append(m)
        if not targets:
            return "Interface not found"
        world = self.world
        for m in targets:
            m.paused = paused
            m.paused_reason = reason
            if paused:
                m.last_pause = int(world.epoch())
            assert m.pause_device is not None
            world.set_device_state(m.pause_device, DS_INUSE if paused else DS_NOT_INUSE)
            self._update_avail(m.queue)
            world.emit("QueueMemberPause", m.fields())
            if not paused:
                # The unpause event carries the reason; the member keeps none (12).
                m.paused_reason = ""
                self.kick(m.queue)
        return None

    def set_penalty(self, interface: str, penalty: int, queue: str | None) -> str | None:
        found = False
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            m = q.member(interface)
            if m is not None:
                found = True
                m.penalty = penalty
                self.world.emit("QueueMemberPenalty", m.fields())
        return None if found else "Invalid interface, queuename or penalty"

    def set_ringinuse(self, interface: str, value: bool, queue: str | None) -> str | None:
        found = False
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            m = q.member(interface)
            if m is not None:
                found = True
                m.ringinuse = value
                self.world.emit("QueueMemberRinginuse", m.fields())
        return None if found else "Invalid interface, queuename, or ringinuse value"

    def params_fields(self, q: QueueRt) -> list[tuple[str, str]]:
        return [
            ("Queue", q.name),
            ("Max", str(q.cfg.maxlen)),
            ("Strategy", q.cfg.strategy),
            ("Calls", str(len(q.callers))),
            ("Holdtime", str(q.holdtime)),
            ("TalkTime", str(q.talktime)),
            ("Completed", str(q.completed)),
            ("Abandoned", str(q.abandoned)),
            ("ServiceLevel", str(q.cfg.servicelevel)),
            ("ServicelevelPerf", "0.0"),
            ("ServicelevelPerf2", "0.0"),
            ("Weight", str(q.cfg.weight)),
        ]

    def entry_fields(self, q: QueueRt, c: QueueCaller) -> list[tuple[str, str]]:
        ch = c.chan
        return [
            ("Queue", q.name),
            ("Position", str(q.position(c))),
            ("Channel", ch.name),
            ("Uniqueid", ch.uniqueid),
            ("CallerIDNum", ch.cid_num or "unknown"),
            ("CallerIDName", ch.cid_name or "unknown"),
            ("ConnectedLineNum", ch.conn_num or "unknown"),
            ("ConnectedLineName", ch.conn_name or "unknown"),
            ("Wait", str(self.world.elapsed(c.joined_at))),
            ("Priority", "0"),
        ]

    def summary_fields(self, q: QueueRt) -> list[tuple[str, str]]:
        logged = len(q.members)
        avail = sum(
            1
            for m in q.members
            if not m.paused and m.device is not None and m.device.state == DS_NOT_INUSE
        )
        longest = max((self.world.elapsed(c.joined_at) for c in q.callers), default=0)
        return [
            ("Queue", q.name),
            ("LoggedIn", str(logged)),
            ("Available", str(avail)),
            ("Callers", str(len(q.callers))),
            ("HoldTime", str(q.holdtime)),
            ("TalkTime", str(q.talktime)),
            ("LongestHoldTime", str(longest)),
        ]

    # -- the caller side -------------------------------------------------------------------

    def join(self, q: QueueRt, chan: Channel) -> QueueCaller:
        world = self.world
        c = QueueCaller(q, chan, len(q.callers) + 1, world.now)
        q.callers.append(c)
        if len(q.callers) == 1 and q.device is not None:
            world.set_device_state(q.device, DS_RINGING)
        world.emit(
            "QueueCallerJoin",
            chan,
            (("Queue", q.name), ("Position", str(c.original_pos)), ("Count", str(len(q.callers)))),
        )
        return c

    def leave(self, c: QueueCaller) -> None:
        world = self.world
        q = c.queue
        pos = q.position(c)
        q.callers.remove(c)
        if not q.callers and q.device is not None:
            world.set_device_state(q.device, DS_NOT_INUSE)
        world.emit(
            "QueueCallerLeave",
            c.chan,
            (("Queue", q.name), ("Position", str(pos)), ("Count", str(len(q.callers)))),
        )
        world.set_var(c.chan, "QUEUEPOSITION", str(pos))
        if q.callers:
            self.kick(q)

    def pick(self, c: QueueCaller) -> list[Member]:
        """The member(s) to ring for caller ``c`` now (empty: wait)."""
        q = c.queue
        free = [m for m in q.members if self._free(m)]
        if not free:
            return []
        # Only as many callers ring as there are free members (autofill).
        if q.position(c) > len(free) + sum(1 for x in q.callers if x is not c and self._ringing(x)):
            return []
        if q.cfg.strategy == "linear":
            n = len(q.members)
            for i in range(n):
                m = q.members[(c.next_member + i) % n] if c.next_member < n else q.members[i]
                if m in free:
                    return [m]
            return []
        return free

    def _ringing(self, c: QueueCaller) -> bool:
        return any(m.ringing_for is c for m in c.queue.members)


def app_queue(world: World, chan: Channel, data: str) -> Generator[float | None, Signal, int]:
    args = split_args(data)
    qname = args[0].strip() if args else ""
    mgr = world.queues
    q = mgr.queues.get(qname)
    if q is None:
        world.set_var(chan, "QUEUESTATUS", "UNKNOWN")
        return 0
    try:
        max_wait = float(args[4]) if len(args) > 4 and args[4].strip() else None
    except ValueError:
        max_wait = None
    for name in (
        "ANSWEREDTIME",
        "ANSWEREDTIME_MS",
        "DIALEDTIME",
        "DIALEDTIME_MS",
        "QUEUEWAIT",
        "QUEUEWAIT_MS",
    ):
        world.set_var(chan, name, "")
    started = world.now
    c = mgr.join(q, chan)
    c.task = chan.task
    moh_start(world, chan, q.cfg.musicclass)
    give_up = started + max_wait if max_wait else None
    retry_until: float | None = None
    while True:
        members = [] if (retry_until is not None and world.now < retry_until) else mgr.pick(c)
        if members:
            retry_until = None
            outcome = yield from _ring(world, mgr, c, members, started, give_up)
            if outcome == "retry":
                retry_until = world.now + q.cfg.retry
                continue
            if outcome == "next":
                continue
            return outcome_result(outcome)
        deadline = retry_until if retry_until is not None else give_up
        if give_up is not None and deadline is not None:
            deadline = min(deadline, give_up)
        sig = yield deadline
        kind = sig[0]
        if kind == "timeout":
            if give_up is not None and world.now >= give_up:
                moh_stop(world, chan)
                mgr.leave(c)
                world.set_var(chan, "QUEUESTATUS", "TIMEOUT")
                return 0
            retry_until = None
            continue
        if kind == "hangup":
            _abandon(world, mgr, c, started, [])
            return -1
        if kind == "redirect":
            moh_stop(world, chan)
            mgr.leave(c)
            return 1


def outcome_result(outcome: str) -> int:
    return {"hangup": -1, "redirect": 1, "done": -1, "continue": 0}.get(outcome, -1)


def _abandon(
    world: World,
    mgr: QueueManager,
    c: QueueCaller,
    started: float,
    ringing: list[tuple[Member, Channel]],
) -> None:
    """The caller hung up while waiting (02c) or while agents rang (02b)."""
    chan = c.chan
    q = c.queue
    moh_stop(world, chan)
    for _m, leg in ringing:
        dest = leg.snapshot("Dest")
        # Asterisk 22 reports the cancelled leg twice (02b).
        world.emit("DialEnd", chan, dest, (("DialStatus", "CANCEL"),))
        world.emit("DialEnd", chan, dest, (("DialStatus", "CANCEL"),))
    hold = world.elapsed(c.joined_at)
    world.set_var(chan, "QUEUEWAIT", str(hold))
    world.set_var(chan, "QUEUEWAIT_MS", str(hold * 1000))
    dialed_ms = round((world.now - chan.created_at) * 1000)
    world.set_var(chan, "DIALEDTIME", str(dialed_ms // 1000))
    world.set_var(chan, "DIALEDTIME_MS", str(dialed_ms))
    world.set_var(chan, "ANSWEREDTIME", "0")
    world.set_var(chan, "ANSWEREDTIME_MS", "0")
    world.set_var(chan, "ABANDONED", "TRUE")
    mgr.queue_vars(chan, q)
    pos = q.position(c)
    world.emit(
        "QueueCallerAbandon",
        chan,
        (
            ("Queue", q.name),
            ("Position", str(pos)),
            ("OriginalPosition", str(c.original_pos)),
            ("HoldTime", str(hold)),
        ),
    )
    q.abandoned += 1
    mgr.queue_vars(chan, q)
    for m, leg in ringing:
        m.ringing_for = None
        world.destroy(leg, 0)
    mgr.leave(c)


def _member_vars(world: World, chan: Channel, m: Member) -> None:
    if not world.detail_vars:
        return
    for name, value in (
        ("MEMBERINTERFACE", m.interface),
        ("MEMBERNAME", m.name),
        ("MEMBERCALLS", str(m.calls_taken)),
        ("MEMBERLASTCALL", str(m.last_call)),
        ("MEMBERPENALTY", str(m.penalty)),
        ("MEMBERDYNAMIC", "1" if m.dynamic else "0"),
        ("MEMBERREALTIME", "0"),
    ):
        world.set_var(chan, name, value)


def _dest_with_connected(leg: Channel, num: str, name: str) -> list[tuple[str, str]]:
    """AgentCalled is built from the live channel (connected line already set) while
    DialBegin uses the published snapshot (not yet): 01 shows both."""
    out = list(leg.snapshot("Dest"))
    out[5] = ("DestConnectedLineNum", num or "<unknown>")
    out[6] = ("DestConnectedLineName", name or "<unknown>")
    return out


def _ring(
    world: World,
    mgr: QueueManager,
    c: QueueCaller,
    members: list[Member],
    started: float,
    give_up: float | None,
) -> Generator[float | None, Signal, str]:
    """Ring ``members`` for caller ``c``; returns ``next`` (try the next member now),
    ``retry`` (wait ``retry`` seconds first), ``hangup``, ``redirect`` or ``done``."""
    chan = c.chan
    q = c.queue
    ringing: list[tuple[Member, Channel]] = []
    for m in members:
        try:
            leg = create_leg(world, c.task, m.interface, linkedid=chan.linkedid)
        except LegFailure:
            c.next_member = q.members.index(m) + 1
            continue
        m.ringing_for = c
        leg.data["ring_start"] = world.now
        world.set_var(leg, "DIALEDPEERNUMBER", leg.resource)
        world.emit(
            "AgentCalled",
            chan,
            _dest_with_connected(leg, chan.cid_num, chan.cid_name),
            (("Queue", q.name), ("Interface", m.interface), ("MemberName", m.name)),
        )
        world.emit("DialBegin", chan, leg.snapshot("Dest"), (("DialString", m.interface),))
        world.set_connected(leg, chan.cid_num, chan.cid_name, emit=False)
        world.set_connected(chan, leg.cid_num, leg.cid_name)
        ringing.append((m, leg))
    if not ringing:
        return "retry"
    for _m, leg in ringing:
        start_leg(world, leg)
    ring_deadline = world.now + q.cfg.timeout
    while True:
        deadline = ring_deadline if give_up is None else min(ring_deadline, give_up)
        sig = yield deadline
        kind, who, info = sig
        if kind == "timeout":
            for m, leg in ringing:
                world.emit("DialEnd", chan, leg.snapshot("Dest"), (("DialStatus", "NOANSWER"),))
                _ring_no_answer(world, c, m, leg)
                m.ringing_for = None
                world.destroy(leg, CAUSE_NO_ANSWER)
            ringing.clear()
            if give_up is not None and world.now >= give_up:
                moh_stop(world, chan)
                mgr.leave(c)
                world.set_var(chan, "QUEUESTATUS", "TIMEOUT")
                return "continue"
            return "retry"
        if kind == "hangup" and who is chan:
            _abandon(world, mgr, c, started, ringing)
            return "hangup"
        if kind == "redirect":
            for m, leg in ringing:
                world.emit("DialEnd", chan, leg.snapshot("Dest"), (("DialStatus", "CANCEL"),))
                m.ringing_for = None
                world.destroy(leg, CAUSE_NORMAL)
            moh_stop(world, chan)
            mgr.leave(c)
            return "redirect"
        entry = next(((m, leg) for m, leg in ringing if leg is who), None)
        if entry is None:
            continue
        m, leg = entry
        if kind == "ringing":
            world.newexten(leg, "AppQueue", "(Outgoing Line)")
            world.emit("NewConnectedLine", leg)
            world.emit("DialState", chan, leg.snapshot("Dest"), (("DialStatus", "RINGING"),))
        elif kind == "leg_hangup":
            # Busy (486) or gone: NOANSWER + AgentRingNoAnswer, then the next member (02b).
            cause = info[0] if info else CAUSE_NORMAL
            tech = info[2] if info and len(info) > 2 else None
            world.emit("DialEnd", chan, leg.snapshot("Dest"), (("DialStatus", "NOANSWER"),))
            _ring_no_answer(world, c, m, leg)
            m.ringing_for = None
            ringing.remove(entry)
            world.destroy(leg, cause, tech)
            if not ringing:
                c.next_member = q.members.index(m) + 1
                return "next"
        elif kind == "answer":
            for om, oleg in ringing:
                if oleg is not leg:
                    world.emit(
                        "DialEnd",
                        chan,
                        oleg.snapshot("Dest"),
                        (("DialStatus", "CANCEL"),),
                    )
                    om.ringing_for = None
                    world.destroy(oleg, 26)
            m.ringing_for = None
            res = yield from _connect(world, mgr, c, m, leg, started)
            return res


def _ring_no_answer(world: World, c: QueueCaller, m: Member, leg: Channel) -> None:
    start = float(leg.data.get("ring_start", world.now))
    world.emit(
        "AgentRingNoAnswer",
        c.chan,
        leg.snapshot("Dest"),
        (
            ("Queue", c.queue.name),
            ("Interface", m.interface),
            ("MemberName", m.name),
            ("RingTime", str(round((world.now - start) * 1000))),
        ),
    )


def _connect(
    world: World,
    mgr: QueueManager,
    c: QueueCaller,
    m: Member,
    leg: Channel,
    started: float,
) -> Generator[float | None, Signal, str]:
    """The agent answered: leave the queue, bridge, wait for the end (01, 02a, 05b)."""
    chan = c.chan
    q = c.queue
    world.emit("DialEnd", chan, leg.snapshot("Dest"), (("DialStatus", "ANSWER"),))
    moh_stop(world, chan)
    hold = world.elapsed(c.joined_at)
    ring = world.elapsed(float(leg.data.get("ring_start", world.now)))
    q.holdtime = mgr._avg(q.holdtime, hold)
    if q.cfg.setinterfacevar:
        _member_vars(world, chan, m)
        _member_vars(world, leg, m)
    if q.cfg.setqueueentryvar:
        for ch in (chan, leg):
            world.set_var(ch, "QEHOLDTIME", str(hold))
            world.set_var(ch, "QEORIGINALPOS", str(c.original_pos))
    if q.cfg.setqueuevar:
        mgr.queue_vars(chan, q)
        mgr.queue_vars(leg, q)
    mgr.leave(c)
    world.set_var(chan, "QUEUEWAIT", str(hold))
    world.set_var(chan, "QUEUEWAIT_MS", str(hold * 1000))
    world.emit(
        "AgentConnect",
        chan,
        leg.snapshot("Dest"),
        (
            ("Queue", q.name),
            ("Interface", m.interface),
            ("MemberName", m.name),
            ("HoldTime", str(hold)),
            ("RingTime", str(ring)),
        ),
    )
    m.in_call = True
    connected_at = world.now
    chan.data["queue_call"] = (q, m, leg, hold, connected_at)
    br = world.bridge_create()
    br.data["controller"] = chan.task
    world.bridge_enter(br, leg)
    world.bridge_enter(br, chan)
    bridge_vars(world, leg, chan)

    stats_done = False
    transferred = False

    def transfer_away(_agent: Channel) -> None:
        """The agent completed an attended transfer (03c): AgentComplete now, none when
        the call finally ends."""
        nonlocal transferred
        complete("agent")
        transferred = True

    def swap_peer(old: Channel, new: Channel) -> None:
        nonlocal leg
        if old is leg:
            leg = new

    br.data["transfer_away"] = transfer_away
    br.data["swap_peer"] = swap_peer

    def member_done() -> None:
        """The agent left the call: the member's counters move on (03b: before the
        caller's AgentComplete when the caller was redirected away)."""
        nonlocal stats_done
        if stats_done:
            return
        stats_done = True
        q.talktime = mgr._avg(q.talktime, world.elapsed(connected_at))
        q.completed += 1
        m.in_call = False
        m.calls_taken += 1
        m.last_call = int(world.epoch())

    def complete(reason: str) -> None:
        if transferred:
            return
        talk = world.elapsed(connected_at)
        # Once the agent's channel is gone there is no Dest snapshot any more (03b).
        dest = () if leg.dead else leg.snapshot("Dest")
        world.emit(
            "AgentComplete",
            chan,
            dest,
            (
                ("Queue", q.name),
                ("Interface", m.interface),
                ("MemberName", m.name),
                ("HoldTime", str(hold)),
                ("TalkTime", str(talk)),
                ("Reason", reason),
            ),
        )
        member_done()
        chan.data.pop("queue_call", None)

    def end_vars() -> None:
        mgr.queue_vars(chan, q)
        ans = round((world.now - connected_at) * 1000)
        dialed = round((world.now - chan.created_at) * 1000)
        world.set_var(chan, "ANSWEREDTIME", str(ans // 1000))
        world.set_var(chan, "ANSWEREDTIME_MS", str(ans))
        world.set_var(chan, "DIALEDTIME", str(dialed // 1000))
        world.set_var(chan, "DIALEDTIME_MS", str(dialed))
        mgr.queue_vars(chan, q)

    while True:
        sig = yield None
        kind, who, info = sig
        source = info[1] if info and len(info) > 1 else "remote"
        if kind in ("hangup", "leg_hangup", "redirect") and chan.hangup_cause == 0:
            # The bridge ends with Normal Clearing for the caller (01, 02a).
            chan.hangup_cause = CAUSE_NORMAL
        if kind == "hangup" and who is chan and br.data.get("atxfer") is not None:
            # The caller hung up while the agent consults a transfer target: the agent
            # stays with the target (the attended transfer task owns them now).
            xfer = br.data.pop("atxfer")
            complete("caller")
            world.set_var(chan, "BRIDGEPEER", "")
            world.set_var(chan, "BRIDGEPVTCALLID", "")
            if chan.bridge is br:
                world.bridge_leave(br, chan)
            world.bridge_destroy(br)
            end_vars()
            world.signal(xfer, ("transferee_gone", chan, None))
            return "done"
        if kind == "hangup" and who is chan:
            if source == "remote":
                # The caller sent BYE (01).
                complete("caller")
                clear_bridge_vars(world, chan, leg)
                world.bridge_leave(br, chan)
                world.bridge_leave(br, leg)
                world.bridge_destroy(br)
                end_vars()
            else:
                # AMI Hangup of the caller (05b #1): AgentComplete after SoftHangupRequest.
                clear_bridge_vars(world, chan, leg)
                world.bridge_leave(br, chan)
                world.bridge_leave(br, leg)
                world.bridge_destroy(br)
                end_vars()
                _before_destroy(chan, lambda: complete("caller"))
            _after_hangup(chan, lambda: world.destroy(leg, CAUSE_NORMAL))
            return "done"
        if kind == "leg_hangup" and who is leg:
            if source == "remote":
                # The agent sent BYE (02a).
                complete("agent")
                clear_bridge_vars(world, leg, chan)
                world.bridge_leave(br, leg)
                world.bridge_leave(br, chan)
                end_vars()
                world.bridge_destroy(br)
                _after_hangup(chan, lambda: world.destroy(leg, CAUSE_NORMAL))
            else:
                # AMI Hangup of the agent (05b #2): AgentComplete still says "caller".
                clear_bridge_vars(world, leg, chan)
                world.bridge_leave(br, leg)
                world.bridge_leave(br, chan)
                world.bridge_destroy(br)
                end_vars()
                _before_destroy(chan, lambda: complete("caller"))
                _before_destroy(chan, lambda: world.destroy(leg, CAUSE_NORMAL))
            return "done"
        if kind == "blind_transfer" and who is leg:
            # The agent blind-transfers the caller (03a): AgentComplete "transfer", the
            # caller leaves for the target, the agent is hung up.
            blind_transfer_events(world, br, leg, chan, str(info[0]), str(info[1]))
            complete("transfer")
            world.set_var(chan, "BRIDGEPEER", "")
            world.set_var(chan, "BRIDGEPVTCALLID", "")
            moved_out_of_bridge(world, chan, info)
            world.bridge_leave(br, chan)
            dialed = round((world.now - chan.created_at) * 1000)
            world.set_var(chan, "DIALEDTIME", str(dialed // 1000))
            world.set_var(chan, "DIALEDTIME_MS", str(dialed))
            world.set_var(chan, "ANSWEREDTIME", "0")
            world.set_var(chan, "ANSWEREDTIME_MS", "0")
            mgr.queue_vars(chan, q)

            def agent_gone() -> None:
                world.bridge_leave(br, leg)
                world.bridge_destroy(br)
                world.destroy(leg, CAUSE_NORMAL)

            _after_first_app_step(chan, agent_gone)
            return "redirect"
        if kind == "redirect" and who is chan:
            # AMI Redirect of the caller out of the bridge (03b): the agent is hung up,
            # AgentComplete waits for the caller's final hangup.
            world.set_var(chan, "BRIDGEPEER", "")
            world.set_var(chan, "BRIDGEPVTCALLID", "")
            moved_out_of_bridge(world, chan, info)
            world.set_var(leg, "BRIDGEPEER", "")
            world.set_var(leg, "BRIDGEPVTCALLID", "")
            world.bridge_leave(br, chan)
            world.bridge_leave(br, leg)
            dialed = round((world.now - chan.created_at) * 1000)
            world.set_var(chan, "DIALEDTIME", str(dialed // 1000))
            world.set_var(chan, "DIALEDTIME_MS", str(dialed))
            world.set_var(chan, "ANSWEREDTIME", "0")
            world.set_var(chan, "ANSWEREDTIME_MS", "0")
            member_done()
            mgr.queue_vars(chan, q)
            world.bridge_destroy(br)
            _after_step(chan, lambda: world.destroy(leg, CAUSE_NORMAL))
            _before_destroy(chan, lambda: complete("caller"))
            return "redirect"


def _after_first_app_step(chan: Channel, fn: object) -> None:
    """Run ``fn`` once the next application has started (03a: the transferred agent is
    hung up after the caller's Dial() has begun)."""
    chan.data.setdefault("after_app_start", []).append(fn)


def _after_step(chan: Channel, fn: object) -> None:
    chan.data.setdefault("after_step", []).append(fn)


def _after_hangup(chan: Channel, fn: object) -> None:
    chan.data.setdefault("after_hangup", []).append(fn)


def _before_destroy(chan: Channel, fn: object) -> None:
    chan.data.setdefault("before_destroy", []).append(fn)


__all__ += ["CAUSE_NO_ANSWER", "QUEUE_VARS"]
