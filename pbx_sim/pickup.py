"""Call pickup: ``PickupChan(PJSIP/8003)`` and directed ``Pickup(8003@internal)`` (06a, 06b).

The picker's channel takes the ringing leg's place in the caller's Dial (Asterisk does a
masquerade): the ringing leg hangs up with cause 26 "Answered elsewhere" and the caller is
bridged with the picker. The picker's application then hands the channel over
(:data:`HANDED_OVER`) instead of hanging it up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .channels import Channel
from .dialplan import split_args
from .model import CAUSE_ANSWERED_ELSEWHERE, CAUSE_NORMAL, RINGING

if TYPE_CHECKING:
    from .world import World

__all__ = ["HANDED_OVER", "app_pickup", "app_pickupchan", "find_ringing", "pickup"]

#: An application result: the channel now belongs to another task (do not hang it up).
HANDED_OVER = 2


def find_ringing(
    world: World, *, device: str | None = None, exten: str | None = None, context: str | None = None
) -> Channel | None:
    """The oldest ringing leg of ``device`` (``PJSIP/8003``), or dialled from
    ``exten@context``, that someone is dialling."""
    for chan in world.channels.values():
        if chan.state != RINGING or chan.owner is None or chan.owner.done:
            continue
        if device is not None and chan.device_name != device:
            continue
        if exten is not None and (chan.exten != exten or (context and chan.context != context)):
            continue
        return chan
    return None


def pickup(world: World, picker: Channel, target: Channel, *, directed: bool) -> None:
    owner = target.owner
    caller = owner.chan if owner is not None else None
    old = (picker.context, picker.exten, picker.priority)
    if caller is not None:
        world.set_connected(picker, caller.cid_num, caller.cid_name)
    world.set_position(picker, target.context, target.exten, target.priority)
    world.newexten(picker, "AppDial", "(Outgoing Line)")
    world.emit("Pickup", picker.snapshot_at(*old), target.snapshot("Target"))
    if directed:
        world.soft_hangup_event(target, CAUSE_NORMAL)
    # The masquerade leaves the picker's old position on the target's carcass (06a, 06b).
    target.owner = None
    world.set_position(target, *old)
    world.destroy(target, CAUSE_ANSWERED_ELSEWHERE)
    picker.task = None
    picker.owner = owner
    world.signal(owner, ("picked_up", picker, target))


def app_pickupchan(world: World, chan: Channel, data: str) -> int:
    args = split_args(data)
    for dev in (a.strip() for a in (args[0] if args else "").split("&")):
        target = find_ringing(world, device=dev) if dev else None
        if target is not None:
            pickup(world, chan, target, directed=False)
            return HANDED_OVER
    world.set_var(chan, "PICKUPRESULT", "FAILED")
    return 0


def app_pickup(world: World, chan: Channel, data: str) -> int:
    args = split_args(data)
    for item in (a.strip() for a in (args[0] if args else "").split("&")):
        exten, _, context = item.partition("@")
        target = find_ringing(world, exten=exten, context=context or chan.context)
        if target is not None:
            pickup(world, chan, target, directed=True)
            return HANDED_OVER
    world.set_var(chan, "PICKUPRESULT", "FAILED")
    return 0
