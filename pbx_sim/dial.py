"""Calling out: the Dial application, outgoing legs, two-party bridges.

``Dial(PJSIP/8001&PJSIP/8002,20,tT)`` rings the targets, bridges the caller with the first
that answers and, when the bridge ends, hangs the caller up (unless the ``g`` option
says to go on at the next priority when the callee hangs up). The events
and VarSets follow 03a/03b/04a/06c.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import TYPE_CHECKING

from .basics import answer, moved_out_of_bridge
from .channels import Bridge, Channel, Signal, Task
from .dialplan import split_args
from .functions import inherit_variables
from .gosub import callee_gosub, run_gosub
from .model import (
    CAUSE_ANSWERED_ELSEWHERE,
    CAUSE_BUSY,
    CAUSE_CONGESTION,
    CAUSE_NO_ANSWER,
    CAUSE_NORMAL,
    CAUSE_UNALLOCATED,
    DOWN,
    RING,
    UP,
)
from .transfers import blind_transfer_events, bridge_vars, clear_bridge_vars

if TYPE_CHECKING:
    from .world import World

__all__ = [
    "DIAL_VARS",
    "LegFailure",
    "app_dial",
    "bridge_pair",
    "create_leg",
    "dial_status_for",
    "parse_dialstring",
]

#: The variables Dial() clears when it starts (04a, 06c), in that order.
DIAL_VARS = (
    "DIALSTATUS",
    "DIALEDPEERNUMBER",
    "DIALEDPEERNAME",
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
    "PROGRESSTIME",
    "PROGRESSTIME_MS",
)


class LegFailure(Exception):
    """The leg could not even be created (unknown/unregistered endpoint): a cause."""

    def __init__(self, cause: int, reason: str) -> None:
        super().__init__(reason)
        self.cause = cause


def parse_dialstring(text: str) -> tuple[str, str, str]:
    """``PJSIP/0215559876@e1trunk`` -> ``("PJSIP", "e1trunk", "0215559876")``;
    ``PJSIP/8001`` -> ``("PJSIP", "8001", "")``; ``Local/8002@internal`` ->
    ``("Local", "8002@internal", "")``."""
    tech, _, rest = text.partition("/")
    if tech.upper() == "PJSIP":
        user, at, endpoint = rest.partition("@")
        if at:
            return "PJSIP", endpoint, user
        return "PJSIP", rest, ""
    return tech, rest, ""


def dial_status_for(cause: int) -> str:
    if cause == CAUSE_BUSY:
        return "BUSY"
    if cause == CAUSE_CONGESTION:
        return "CONGESTION"
    if cause == CAUSE_NO_ANSWER:
        return "NOANSWER"
    return "CHANUNAVAIL"


def create_leg(
    world: World,
    owner: Task | None,
    dialstring: str,
    *,
    linkedid: str | None,
    exten_for_leg: str | None = None,
    uniqueid: str | None = None,
    other_uniqueid: str | None = None,
) -> Channel:
    """Create the outgoing channel for ``dialstring`` (Newchannel, state Down).

    Raises :class:`LegFailure` for an unknown endpoint (cause 1) or one with no registered
    contact (cause 20), as chan_pjsip refuses to create the channel then.
    """
    tech, resource, user = parse_dialstring(dialstring)
    if tech.upper() == "PJSIP":
        ep = world.config.endpoints.get(resource)
        if ep is None:
            raise LegFailure(CAUSE_UNALLOCATED, f"endpoint '{resource}' was not found")
        dev = world.devices.get(f"PJSIP/{resource}")
        if dev is not None and not dev.registered and not world.phones.is_trunk_far_end(resource):
            raise LegFailure(20, f"endpoint '{resource}' has no registered contact")
        chan = world.new_channel(
            "PJSIP",
            resource,
            state=DOWN,
            context=ep.context,
            exten="s",
            cid_num=ep.cid_num,
            cid_name=ep.cid_name,
            linkedid=linkedid,
            uniqueid=uniqueid,
        )
        chan.data["dial_user"] = user
        chan.owner = owner
        if owner is not None and owner.chan is not None:
            inherit_variables(owner.chan, chan)
        return chan
    if tech.lower() == "local":
        exten, _, context = resource.partition("@")
        context = context.split("/", 1)[0]
        if not world.config.dialplan.find_extension(context, exten):
            raise LegFailure(CAUSE_UNALLOCATED, f"no such extension {exten}@{context}")
        one, _two = world.new_local_pair(
            exten, context, linkedid=linkedid, uniqueids=(uniqueid, other_uniqueid)
        )
        one.owner = owner
        if owner is not None and owner.chan is not None:
            # ;1 inherits from the caller; chan_local copies them to ;2.
            inherit_variables(owner.chan, one)
            inherit_variables(owner.chan, _two)
        return one
    raise LegFailure(CAUSE_UNALLOCATED, f"unknown channel technology {tech}")


def start_leg(world: World, leg: Channel) -> None:
    """Send the INVITE: the simulated phone (or the Local channel's dialplan) reacts."""
    if leg.tech == "Local":
        world.local_call(leg)
    else:
        world.phones.incoming(leg)


def bridge_pair(world: World, first: Channel, second: Channel, controller: Task | None) -> Bridge:
    """BridgeCreate + BridgeEnter of ``first`` then ``second`` + the BRIDGEPEER VarSets."""
    br = world.bridge_create()
    br.data["controller"] = controller
    world.bridge_enter(br, first)
    world.bridge_enter(br, second)
    bridge_vars(world, first, second)
    return br


def _ms(a: float, b: float) -> int:
    return round((b - a) * 1000)


def app_dial(world: World, chan: Channel, data: str) -> Generator[float | None, Signal, int]:
    args = split_args(data)
    targets = [t for t in (args[0] if args else "").split("&") if t]
    try:
        timeout = float(args[1]) if len(args) > 1 and args[1].strip() else None
    except ValueError:
        timeout = None
    task = chan.task
    started = world.now
    # g: the caller goes on at the next priority when the callee hangs up (an after-call
    # survey); option arguments in brackets are not options themselves.
    go_on = "g" in re.sub(r"\([^)]*\)", "", args[2] if len(args) > 2 else "")
    for name in DIAL_VARS:
        world.set_var(chan, name, "")
    for fn in chan.data.pop("after_app_start", ()):
        fn()
    legs: list[Channel] = []
    status = "CHANUNAVAIL"
    for target in targets:
        try:
            leg = create_leg(world, task, target, linkedid=chan.linkedid)
        except LegFailure:
            continue
        _tech, resource, user = parse_dialstring(target)
        world.set_var(leg, "DIALEDPEERNUMBER", f"{user}@{resource}" if user else resource)
        world.set_position(leg, leg.context, chan.exten, 1)
        trunk = bool(user) and not (leg.endpoint and leg.endpoint.cid_num)
        # Caller id (a trunk leg shows the dialled number) and connected line are set
        # before the leg's Newexten is published (04a, 06c).
        if trunk:
            leg.cid_num, leg.cid_name = user, chan.cid_name
        leg.conn_num, leg.conn_name = chan.cid_num, chan.cid_name
        leg.changed()
        world.newexten(leg, "AppDial", "(Outgoing Line)")
        if trunk:
            world.set_callerid(leg, user, chan.cid_name)
        world.emit("NewConnectedLine", leg)
        dialstring = f"{user}@{resource}" if user else resource
        world.emit("DialBegin", chan, leg.snapshot("Dest"), (("DialString", dialstring),))
        world.set_connected(chan, leg.cid_num, leg.cid_name)
        legs.append(leg)
    if not legs:
        world.set_var(chan, "DIALSTATUS", status)
        return 0
    for leg in legs:
        start_leg(world, leg)
    deadline = started + timeout if timeout else None
    answered: Channel | None = None
    ring_seen = False
    while legs and answered is None:
        sig = yield deadline
        kind, who, info = sig
        if kind == "timeout":
            for leg in legs:
                world.emit("DialEnd", chan, leg.snapshot("Dest"), (("DialStatus", "NOANSWER"),))
                world.destroy(leg, CAUSE_NO_ANSWER)
            world.set_var(chan, "DIALSTATUS", "NOANSWER")
            return 0
        if kind == "hangup":
            for leg in legs:
                world.emit("DialEnd", chan, leg.snapshot("Dest"), (("DialStatus", "CANCEL"),))
            for leg in legs:
                world.destroy(leg, 0)
            world.set_var(chan, "DIALSTATUS", "CANCEL")
            return -1
        if kind == "redirect":
            # DialEnd already shows the redirect target, DIALSTATUS the old place (06c).
            at = chan.snapshot_at(*info) if info else chan.snapshot()
            for leg in legs:
                world.emit("DialEnd", at, leg.snapshot("Dest"), (("DialStatus", "CANCEL"),))
            world.set_var(chan, "DIALSTATUS", "CANCEL")
            for leg in legs:
                world.destroy(leg, CAUSE_NORMAL)
            return 1
        if who is None or (who not in legs and kind != "picked_up"):
            continue
        if kind == "ringing":
            if not ring_seen:
                ring_seen = True
                ms = _ms(started, world.now)
                world.set_var(chan, "RINGTIME", str(ms // 1000))
                world.set_var(chan, "RINGTIME_MS", str(ms))
            world.emit("DialState", chan, who.snapshot("Dest"), (("DialStatus", "RINGING"),))
            peer = chan.local_peer
            if peer is not None and chan.state != UP and chan.name.endswith(";2"):
                # Ringing indicated to a Local ;2 shows on ;1 (04b).
                world.leg_ringing(peer)
        elif kind == "answer":
            answered = who
        elif kind == "picked_up" and info in legs:
            # Another phone picked the ringing leg up (06a, 06b): it answers instead.
            legs.remove(info)
            world.set_connected(chan, who.cid_num, who.cid_name)
            legs.append(who)
            who.variables.setdefault("DIALEDPEERNUMBER", info.variables.get("DIALEDPEERNUMBER", ""))
            answered = who
        elif kind == "leg_hangup":
            cause = info[0] if info else CAUSE_NORMAL
            status = dial_status_for(cause)
            world.emit("DialEnd", chan, who.snapshot("Dest"), (("DialStatus", status),))
            legs.remove(who)
            world.destroy(who, cause, info[2] if info and len(info) > 2 else None)
            if not legs:
                world.set_var(chan, "DIALSTATUS", status)
                return 0
    assert answered is not None
    world.set_var(chan, "DIALSTATUS", "ANSWER")
    world.set_var(chan, "DIALEDPEERNAME", answered.name)
    world.set_var(chan, "DIALEDPEERNUMBER", answered.variables.get("DIALEDPEERNUMBER", ""))
    # The answered leg leaves the dialled extension before DialEnd is published (04a).
    world.set_position(answered, answered.context, "", 1)
    sub = callee_gosub(args[2] if len(args) > 2 else "")
    if sub is not None:
        # U(): the callee runs the routine once answered, before the bridge, and Asterisk
        # 22 publishes DialEnd ANSWER only after it (its MixMonitorStart comes first:
        # tests/asterisk/test_recording_dialplan_asterisk.py).
        yield from run_gosub(world, answered, *sub)
        if answered.dead:
            return 0
    world.emit("DialEnd", chan, answered.snapshot("Dest"), (("DialStatus", "ANSWER"),))
    for leg in legs:
        if leg is not answered:
            world.emit("DialEnd", chan, leg.snapshot("Dest"), (("DialStatus", "CANCEL"),))
            world.destroy(leg, CAUSE_ANSWERED_ELSEWHERE)
    if chan.state != UP:
        answer(world, chan)
    answer_time = world.now
    # The answered callee carries Normal Clearing (04b: the trunk party's BYE shows
    # HangupRequest Cause 16).
    answered.hangup_cause = answered.hangup_cause or CAUSE_NORMAL
    res = yield from bridge_call(
        world, chan, answered, started=started, answered_at=answer_time, go_on=go_on
    )
    return res


def bridge_call(
    world: World,
    chan: Channel,
    peer: Channel,
    *,
    started: float,
    answered_at: float,
    go_on: bool = False,
) -> Generator[float | None, Signal, int]:
    """Dial()'s bridge: caller and callee talk until one side goes (03a, 04a, 06c).
    ``go_on`` (Dial's g): the caller goes on in the dialplan when the callee hangs up."""
    br = world.bridge_create()
    br.data["controller"] = chan.task
    world.newexten(peer, "AppDial", "(Outgoing Line)")
    world.bridge_enter(br, peer)
    world.bridge_enter(br, chan)
    if chan.variables.get("BLINDTRANSFER"):
        # A blind-transferred caller is bridged again (03a).
        world.set_var(chan, "BLINDTRANSFER", "")
    bridge_vars(world, peer, chan)

    def swap_peer(old: Channel, new: Channel) -> None:
        # An attended transfer by the callee (03c) leaves the caller with the target.
        nonlocal peer
        if old is peer:
            peer = new

    br.data["swap_peer"] = swap_peer
    while True:
        sig = yield None
        kind, who, info = sig
        if kind == "hangup" and who is chan and br.data.get("atxfer") is not None:
            # The caller hung up while the callee consults a transfer target.
            xfer = br.data.pop("atxfer")
            world.set_var(chan, "BRIDGEPEER", "")
            world.set_var(chan, "BRIDGEPVTCALLID", "")
            if chan.bridge is br:
                world.bridge_leave(br, chan)
            _dial_times(world, chan, started, answered_at)
            world.set_var(chan, "DIALSTATUS", "ANSWER")
            world.bridge_destroy(br)
            world.signal(xfer, ("transferee_gone", chan, None))
            return -1
        if kind == "optimized":
            # chan_local optimised this Local ;2 away (03c): its peer now talks to the
            # party of ;1; Dial ends as answered and the pair hangs up.
            if chan.bridge is br:
                world.bridge_leave(br, chan)
            _dial_times(world, chan, started, answered_at)
            world.set_var(chan, "DIALSTATUS", "ANSWER")
            chan.hangup_cause = CAUSE_NORMAL
            _after_hangup(chan, lambda: world.bridge_destroy(br))
            return -1
        if kind in ("hangup", "leg_hangup") and chan.hangup_cause == 0:
            # The bridge ends with Normal Clearing for the caller (06a).
            chan.hangup_cause = CAUSE_NORMAL
        if kind == "hangup" and who is chan:
            # The caller hung up (03a, 04a, 06c).
            clear_bridge_vars(world, chan, peer)
            world.bridge_leave(br, chan)
            _dial_times(world, chan, started, answered_at)
            world.bridge_leave(br, peer)
            world.set_var(chan, "DIALSTATUS", "ANSWER")
            world.bridge_destroy(br)
            _after_hangup(chan, lambda: world.destroy(peer, CAUSE_NORMAL))
            return -1
        if kind == "leg_hangup" and who is peer:
            clear_bridge_vars(world, chan, peer)
            world.bridge_leave(br, peer)
            world.bridge_leave(br, chan)
            _dial_times(world, chan, started, answered_at)
            world.set_var(chan, "DIALSTATUS", "ANSWER")
            world.bridge_destroy(br)
            if go_on:
                world.destroy(peer, CAUSE_NORMAL)
                chan.hangup_cause = 0  # the caller is still up
                return 0
            _after_hangup(chan, lambda: world.destroy(peer, CAUSE_NORMAL))
            return -1
        if kind == "redirect" or (kind == "leg_redirect" and who is peer):
            # An async goto of the caller, the callee or both (Redirect with ExtraChannel):
            # the bridge dissolves. A callee that was redirected too has an after-bridge
            # goto and runs the dialplan at its target; otherwise Asterisk hangs it up.
            # A callee redirected alone leaves Dial without a peer: the caller hangs up
            # (no g option). Observed on Asterisk 22 (tests/asterisk/test_hold_asterisk.py).
            caller_goes = chan.data.get("redirect")
            callee_goes = peer.data.get("redirect")
            if caller_goes is not None:
                world.set_var(chan, "BRIDGEPEER", "")
                world.set_var(chan, "BRIDGEPVTCALLID", "")
                moved_out_of_bridge(world, chan, caller_goes)
            world.set_var(peer, "BRIDGEPEER", "")
            world.set_var(peer, "BRIDGEPVTCALLID", "")
            if callee_goes is not None:
                moved_out_of_bridge(world, peer, callee_goes)
            if caller_goes is None:
                world.set_var(chan, "BRIDGEPEER", "")
                world.set_var(chan, "BRIDGEPVTCALLID", "")
                world.bridge_leave(br, peer)
                _continue_after_bridge(world, peer)
                world.bridge_leave(br, chan)
                _dial_times(world, chan, started, answered_at)
                world.set_var(chan, "DIALSTATUS", "ANSWER")
                chan.hangup_cause = CAUSE_NORMAL
                _after_hangup(chan, lambda: world.bridge_destroy(br))
                return -1
            world.bridge_leave(br, chan)
            world.bridge_leave(br, peer)
            world.bridge_destroy(br)
            world.set_var(chan, "DIALSTATUS", "ANSWER")
            if callee_goes is None:
                world.destroy(peer, CAUSE_NORMAL)
            else:
                _continue_after_bridge(world, peer)
            return 1
        if kind == "blind_transfer" and who is peer:
            blind_transfer_events(world, br, peer, chan, str(info[0]), str(info[1]))
            world.set_var(chan, "BRIDGEPEER", "")
            world.set_var(chan, "BRIDGEPVTCALLID", "")
            moved_out_of_bridge(world, chan, info)
            world.bridge_leave(br, chan)
            world.bridge_leave(br, peer)
            world.bridge_destroy(br)
            world.destroy(peer, CAUSE_NORMAL)
            return 1
        if kind == "blind_transfer" and who is chan:
            # The caller transfers the callee: the callee runs the dialplan at the target.
            blind_transfer_events(world, br, chan, peer, str(info[0]), str(info[1]))
            world.bridge_leave(br, chan)
            world.bridge_leave(br, peer)
            world.bridge_destroy(br)
            peer.owner = None
            world.set_position(peer, str(info[0]), str(info[1]), 1)
            world.start_pbx(peer)
            return -1


def _dial_times(world: World, chan: Channel, started: float, answered_at: float) -> None:
    # Both measured on the caller's channel: since it answered, since it was created
    # (04a: an originated caller answered 1.5 s before the callee).
    ans = _ms(chan.answered_at if chan.answered_at is not None else answered_at, world.now)
    dialed = _ms(chan.created_at, world.now)
    world.set_var(chan, "ANSWEREDTIME", str(ans // 1000))
    world.set_var(chan, "ANSWEREDTIME_MS", str(ans))
    world.set_var(chan, "DIALEDTIME", str(dialed // 1000))
    world.set_var(chan, "DIALEDTIME_MS", str(dialed))


def _continue_after_bridge(world: World, leg: Channel) -> None:
    """A dialled leg with an after-bridge goto runs its own dialplan from there."""
    leg.owner = None
    leg.softhangup = False
    world.start_pbx(leg)


def _after_hangup(chan: Channel, fn: object) -> None:
    hooks = chan.data.setdefault("after_hangup", [])
    hooks.append(fn)


__all__ += ["RING", "bridge_call", "bridge_vars", "clear_bridge_vars", "start_leg"]
