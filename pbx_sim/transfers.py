"""Transfers and bridging from AMI: BlindTransfer (03a), Atxfer (03c), Bridge.

A two-party bridge belongs to the application that made it (Queue or Dial on the
caller's channel): the transfer actions send that task a signal and the application plays
the event sequence Asterisk 22 shows, then the transferee continues in the dialplan.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

from cti.ami.codec import Message

from .channels import Bridge, Channel, Signal, Task
from .reply import ActionReply

if TYPE_CHECKING:
    from .world import World

__all__ = [
    "AMI_ACTIONS",
    "AMIBridge",
    "blind_transfer_events",
    "bridge_vars",
    "clear_bridge_vars",
    "controller_of",
    "pvt_callid",
]


def pvt_callid(world: World, chan: Channel) -> str:
    cid = chan.data.get("sip_call_id")
    if cid is None:
        cid = chan.data["sip_call_id"] = world.new_uuid()
    return str(cid)


def bridge_vars(world: World, first: Channel, second: Channel) -> None:
    """BRIDGEPEER on both; BRIDGEPVTCALLID (the peer's SIP Call-ID) only when the peer is
    a PJSIP channel (a Local peer has none, 04b)."""
    world.set_var(first, "BRIDGEPEER", second.name)
    if second.tech == "PJSIP":
        world.set_var(first, "BRIDGEPVTCALLID", pvt_callid(world, second))
    world.set_var(second, "BRIDGEPEER", first.name)
    if first.tech == "PJSIP":
        world.set_var(second, "BRIDGEPVTCALLID", pvt_callid(world, first))


def clear_bridge_vars(world: World, first: Channel, second: Channel) -> None:
    for chan, peer in ((first, second), (second, first)):
        if not chan.dead:
            world.set_var(chan, "BRIDGEPEER", "")
            if peer.tech == "PJSIP":
                world.set_var(chan, "BRIDGEPVTCALLID", "")


def controller_of(chan: Channel) -> Task | None:
    br = chan.bridge
    if br is None:
        return None
    ctl = br.data.get("controller")
    return ctl if isinstance(ctl, Task) and not ctl.done else None


def blind_transfer_events(
    world: World, br: Bridge, transferer: Channel, transferee: Channel, context: str, exten: str
) -> None:
    """Unhold, BLINDTRANSFER variables, the transferer's BRIDGEPEER cleared, BlindTransfer
    (03a)."""
    world.emit("Unhold", transferer)
    world.set_var(transferee, "BLINDTRANSFER", transferer.name)
    world.set_var(transferer, "BLINDTRANSFER", transferee.name)
    world.set_var(transferer, "BRIDGEPEER", "")
    world.set_var(transferer, "BRIDGEPVTCALLID", "")
    world.emit(
        "BlindTransfer",
        (("Result", "Success"),),
        transferer.snapshot("Transferer"),
        transferee.snapshot("Transferee"),
        br.headers(),
        (("IsExternal", "Yes"), ("Context", context), ("Extension", exten)),
    )


def _get(msg: Message, name: str) -> str:
    return (msg.get(name) or "").strip()


def a_blind_transfer(world: World, msg: Message, reply: ActionReply) -> None:
    name = _get(msg, "Channel")
    if not name:
        reply.error("No channel specified")
        return
    exten = _get(msg, "Exten")
    if not exten:
        reply.error("No extension specified")
        return
    chan = world.channels.get(name)
    if chan is None:
        reply.error(f"Channel specified does not exist: {name}")
        return
    context = _get(msg, "Context") or chan.context
    if not world.config.dialplan.exists(context, exten):
        reply.error("Transfer failed")
        return
    ctl = controller_of(chan)
    if ctl is None:
        reply.error("Transfer failed")
        return
    reply.success("Transfer succeeded")
    world.signal(ctl, ("blind_transfer", chan, (context, exten, 1)))


def a_atxfer(world: World, msg: Message, reply: ActionReply) -> None:
    name = _get(msg, "Channel")
    if not name:
        reply.error("No channel specified")
        return
    exten = _get(msg, "Exten")
    if not exten:
        reply.error("No extension specified")
        return
    chan = world.channels.get(name)
    if chan is None:
        reply.error(f"Channel specified does not exist: {name}")
        return
    context = _get(msg, "Context") or chan.context
    if not world.config.dialplan.exists(context, exten):
        reply.error("Extension does not exist")
        return
    ctl = controller_of(chan)
    if ctl is None:
        reply.error("Atxfer failed")
        return
    if chan.bridge is not None and chan.bridge.data.get("atxfer") is not None:
        reply.error("Atxfer failed")  # one transfer at a time
        return
    from .atxfer import start_atxfer  # noqa: PLC0415 - atxfer builds on this module

    reply.success("Atxfer successfully queued")
    start_atxfer(world, chan, context, exten)


def a_bridge(world: World, msg: Message, reply: ActionReply) -> None:
    """``Bridge Channel1 Channel2``: take both out of whatever they do and bridge them."""
    n1, n2 = _get(msg, "Channel1"), _get(msg, "Channel2")
    if not n1 or not n2:
        reply.error("Missing channel parameter in request")
        return
    c1 = world.channels.get(n1)
    if c1 is None:
        reply.error(f"Channel1 does not exist: {n1}")
        return
    c2 = world.channels.get(n2)
    if c2 is None:
        reply.error(f"Channel2 does not exist: {n2}")
        return
    for c in (c1, c2):
        if c.task is None or c.task.done:
            reply.error(f"Unable to bridge {c.name}: it is not running the dialplan")
            return
    reply.success("Channels have been bridged")
    AMIBridge(world, c1, c2)


class AMIBridge:
    """Two channels taken out of what they were doing (an async goto) and bridged; when one
    hangs up, the other continues its dialplan after the interrupted application (the
    priority after it: Asterisk's after-bridge "go on"; the BridgeEnter already shows it).
    A Redirect of either (or both, with ExtraChannel) ends the bridge and each channel
    goes to its target or, if it was not redirected, continues after the application."""

    def __init__(self, world: World, c1: Channel, c2: Channel) -> None:
        self.world = world
        self.chans = (c1, c2)
        self.joined: list[Channel] = []
        self.bridge: Bridge | None = None
        for c in self.chans:
            c.data["redirect"] = self.join
            world.signal(c.task, ("redirect", c, None))

    def join(self, chan: Channel) -> Generator[float | None, Signal, int]:
        world = self.world
        self.joined.append(chan)
        world.set_position(chan, chan.context, chan.exten, chan.priority + 1)
        if len(self.joined) == 2:
            a, b = self.joined
            br = self.bridge = world.bridge_create()
            world.bridge_enter(br, a)
            world.bridge_enter(br, b)
            bridge_vars(world, a, b)
        while True:
            sig = yield None
            kind, who, _info = sig
            if kind == "hangup" and who is chan:
                self.leave(chan)
                return -1
            if kind == "bridge_end":
                return 0
            if kind == "redirect":
                target = chan.data.get("redirect")
                if isinstance(target, tuple):
                    world.set_position(chan, *target)
                self.leave(chan)
                return 1

    def leave(self, chan: Channel) -> None:
        world = self.world
        br = self.bridge
        other = next((c for c in self.chans if c is not chan), None)
        if br is None:
            if other is not None:
                world.signal(other.task, ("bridge_end", chan, None))
            return
        self.bridge = None
        if other is not None:
            clear_bridge_vars(world, chan, other)
        world.bridge_leave(br, chan)
        if other is not None and other in br.channels:
            world.bridge_leave(br, other)
        world.bridge_destroy(br)
        if other is not None:
            world.signal(other.task, ("bridge_end", chan, None))


AMI_ACTIONS: dict[str, tuple[Callable[[World, Message, ActionReply], None], str]] = {
    "BlindTransfer": (
        a_blind_transfer,
        "Blind transfer channel(s) to the given destination  (Priv: call,all)",
    ),
    "Atxfer": (a_atxfer, "Attended transfer.  (Priv: call,all)"),
    "Bridge": (a_bridge, "Bridge two channels already in the PBX.  (Priv: call,all)"),
}
