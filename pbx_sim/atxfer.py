"""AMI ``Atxfer``: an attended transfer, as Asterisk 22 runs it (03c).

Asterisk implements the action by feeding the transferer's channel the ``atxfer`` DTMF
feature code followed by the target extension: the transferee (the party bridged with
the transferer) is put on hold with music, a ``Local/<exten>@<context>`` consultation
call is made and the transferer moves into a new bridge with it. When the transferer
hangs up, the consultation bridge is merged into the transferee's (``BridgeMerge``,
``AttendedTransfer``); ~0.67 s later chan_local optimises the Local pair away and the
target's channel takes its place in the transferee's bridge.

The application that owns the transferee's bridge (Queue or Dial on the caller's channel)
exposes two hooks in ``bridge.data``: ``transfer_away(agent)`` (the agent left for good:
AgentComplete) and ``swap_peer(old, new)`` (its bridged peer is now ``new``). While the
consultation runs, ``bridge.data["atxfer"]`` holds this task.

Not simulated (no transcript): the transferer pressing ``*3`` (three-way) or ``*4``
(swap); a consultation that fails (busy, no answer) returns the transferer to the
transferee, as Asterisk's default ``atxferdropcall=no`` does, but the event sequence of
that case is a reasonable guess.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Final

from .basics import moh_start, moh_stop
from .channels import Bridge, Channel, Signal, Task
from .model import CAUSE_NORMAL, UP
from .transfers import bridge_vars, pvt_callid

if TYPE_CHECKING:
    from .world import World

__all__ = ["LOCAL_OPTIMIZE_DELAY", "bridge_block", "start_atxfer"]

#: Timing of the feature emulation as in 03c: the second digit of the feature code,
#: the hold, then the target digits.
_SECOND_DIGIT: Final = 0.145
_HOLD_AT: Final = 0.246
_TARGET_AT: Final = 0.290
_TARGET_STEP: Final = 0.045
#: Seconds between the transfer's completion and chan_local's optimisation (03c).
LOCAL_OPTIMIZE_DELAY: Final = 0.667

Wait = Generator["float | None", Signal, None]


def bridge_block(br: Bridge, prefix: str, count: int | None = None) -> list[tuple[str, str]]:
    """A bridge snapshot with prefixed names (``ToBridgeUniqueid``, ``OrigBridgeType``)."""
    return [(prefix + k, v) for k, v in br.headers(count)]


def _dtmf(world: World, chan: Channel, digit: str) -> None:
    world.emit("DTMFEnd", chan, (("Digit", digit), ("DurationMs", "0"), ("Direction", "Received")))


def start_atxfer(world: World, transferer: Channel, context: str, exten: str) -> Task:
    """Run the attended transfer of ``transferer``'s bridged peer to ``exten@context``."""
    return world.start_task(
        _atxfer(world, transferer, context, exten), None, f"atxfer {transferer.name}"
    )


def _release_hold(world: World, transferee: Channel) -> None:
    if not transferee.dead:
        moh_stop(world, transferee)
        world.set_hold(transferee, False)


def _atxfer(world: World, t: Channel, context: str, exten: str) -> Wait:
    me = world._running
    br1 = t.bridge
    if br1 is None:
        return
    others = [c for c in br1.channels if c is not t]
    if len(others) != 1:
        return
    e = others[0]
    code = world.config.features.get("atxfer", "*2") or "*2"
    t0 = world.now
    world.set_var(t, "TRANSFER_CONTEXT", context)

    def gone() -> bool:
        return t.dead or e.dead or t.bridge is not br1 or e.bridge is not br1

    for i, digit in enumerate(code):
        if i:
            yield t0 + _SECOND_DIGIT * i
            if gone():
                return
        _dtmf(world, t, digit)
    yield t0 + _HOLD_AT
    if gone():
        return
    world.emit("Hold", t)
    moh_start(world, e)
    world.set_hold(e, True)
    for i, digit in enumerate(exten):
        yield t0 + _TARGET_AT + _TARGET_STEP * i
        if gone():
            _release_hold(world, e)
            return
        _dtmf(world, t, digit)
    yield world.now + 0.001
    if gone():
        _release_hold(world, e)
        return

    # -- the consultation call: Local/<exten>@<context>, in a bridge with the transferer
    one, two = world.new_local_pair(exten, context, linkedid=t.linkedid)
    one.owner = me
    world.set_var(one, "TRANSFERERNAME", t.name)
    world.set_var(one, "ATTENDEDTRANSFER", t.name)
    br2 = world.bridge_create()
    br2.data["controller"] = me
    world.set_var(two, "ATTENDEDTRANSFER", t.name)
    world.set_var(two, "TRANSFERERNAME", t.name)
    world.set_callerid(two, t.cid_num, t.cid_name)
    world.local_bridge_event(one)
    owner_before = t.owner
    br1.data["atxfer"] = me
    moved = False

    def move() -> None:
        """The transferer leaves the transferee for the consultation bridge (done once
        the target's dialplan application has started, as in 03c)."""
        nonlocal moved
        if moved or t.dead:
            return
        moved = True
        world.set_connected(one, t.cid_num, t.cid_name)
        world.bridge_enter(br2, one)
        world.bridge_leave(br1, t)
        world.bridge_enter(br2, t)
        bridge_vars(world, one, t)
        world.set_var(t, "BRIDGEPVTCALLID", "")
        world.set_connected(t, one.cid_num, one.cid_name)
        t.owner = me

    two.data.setdefault("after_app_start", []).append(move)
    world.local_call(one)
    move()

    # -- until the transferer hangs up (complete), or the consultation fails
    while True:
        sig = yield None
        kind, who, info = sig
        if who is one and kind == "ringing":
            world.emit("DialState", one.snapshot("Dest"), (("DialStatus", "RINGING"),))
        elif who is one and kind == "answer":
            world.emit("DialEnd", one.snapshot("Dest"), (("DialStatus", "ANSWER"),))
            bridge_vars(world, one, t)
        elif who is one and kind in ("leg_hangup", "hangup", "peer_hangup"):
            # The target did not take the call: back to the transferee.
            _abort(world, t, e, one, br1, br2, owner_before, info)
            return
        elif who is t and kind in ("leg_hangup", "hangup"):
            if e.dead or e.bridge is not br1:
                # The transferee is gone already: nothing to transfer to.
                _end_consultation(world, t, one, br2)
                return
            _complete(world, t, e, one, br1, br2)
            return
        elif kind == "transferee_gone":
            # The caller hung up during the consultation: transferer and target stay
            # connected until one of them hangs up.
            br1.data.pop("atxfer", None)
            yield from _consultation_only(world, t, one, br2)
            return


def _consultation_only(world: World, t: Channel, one: Channel, br2: Bridge) -> Wait:
    while True:
        sig = yield None
        kind, who, _info = sig
        if who in (t, one) and kind in ("leg_hangup", "hangup", "peer_hangup"):
            other = one if who is t else t
            for c in (t, one):
                if c.bridge is br2:
                    world.bridge_leave(br2, c)
            world.bridge_destroy(br2)
            world.destroy(who, CAUSE_NORMAL)
            world.soft_hangup(other, CAUSE_NORMAL, source="remote")
            if not other.dead and other.task is None:
                world.destroy(other, CAUSE_NORMAL)
            return


def _end_consultation(world: World, t: Channel, one: Channel, br2: Bridge) -> None:
    world.set_var(t, "BRIDGEPEER", "")
    if t.bridge is br2:
        world.bridge_leave(br2, t)
    if one.bridge is br2:
        world.bridge_leave(br2, one)
    world.bridge_destroy(br2)
    world.destroy(t, CAUSE_NORMAL)
    one.owner = None
    world.destroy(one, CAUSE_NORMAL)


def _abort(
    world: World,
    t: Channel,
    e: Channel,
    one: Channel,
    br1: Bridge,
    br2: Bridge,
    owner_before: Task | None,
    info: Any,
) -> None:
    br1.data.pop("atxfer", None)
    world.emit("DialEnd", one.snapshot("Dest"), (("DialStatus", "NOANSWER"),))
    for c in (one, t):
        if c.bridge is br2:
            world.bridge_leave(br2, c)
    world.bridge_destroy(br2)
    one.owner = None
    if not one.dead:
        world.destroy(one, CAUSE_NORMAL)
    if t.dead:
        return
    t.owner = owner_before
    if e.dead:
        world.soft_hangup(t, CAUSE_NORMAL, source="remote")
        return
    world.emit("Unhold", t)
    _release_hold(world, e)
    world.bridge_enter(br1, t)
    bridge_vars(world, t, e)
    world.set_connected(t, e.cid_num, e.cid_name)
    world.set_connected(e, t.cid_num, t.cid_name)


def _complete(world: World, t: Channel, e: Channel, one: Channel, br1: Bridge, br2: Bridge) -> None:
    """The transferer hung up: the consultation bridge merges into the transferee's."""
    br1.data.pop("atxfer", None)
    world.set_var(t, "BRIDGEPEER", "")
    world.bridge_leave(br2, t)
    away: Callable[[Channel], None] | None = br1.data.get("transfer_away")
    if away is not None:
        away(t)
    world.emit(
        "BridgeMerge",
        bridge_block(br1, "To"),
        bridge_block(br2, "From"),
    )
    world.bridge_leave(br2, one)
    moh_stop(world, e)
    world.bridge_enter(br1, one)
    world.set_hold(e, False)
    world.set_var(e, "BRIDGEPEER", one.name)
    world.set_var(e, "BRIDGEPVTCALLID", "")
    world.set_var(one, "BRIDGEPEER", e.name)
    world.set_var(one, "BRIDGEPVTCALLID", pvt_callid(world, e))
    world.set_connected(one, e.cid_num, e.cid_name)
    world.emit(
        "AttendedTransfer",
        (("Result", "Success"),),
        t.snapshot("OrigTransferer"),
        bridge_block(br1, "Orig"),
        t.snapshot("SecondTransferer"),
        bridge_block(br2, "Second"),
        e.snapshot("Transferee"),
        one.snapshot("TransferTarget"),
        (("IsExternal", "No"), ("DestType", "Bridge"), ("DestBridgeUniqueid", br1.uniqueid)),
    )
    world.set_connected(e, one.cid_num, one.cid_name)
    world.bridge_destroy(br2)
    t.owner = None
    world.destroy(t, CAUSE_NORMAL)
    swap: Callable[[Channel, Channel], None] | None = br1.data.get("swap_peer")
    ctl = br1.data.get("controller")
    one.owner = ctl if isinstance(ctl, Task) else None
    if swap is not None:
        swap(t, one)
    world.call_later(LOCAL_OPTIMIZE_DELAY, _retry, one, world)


def _optimize_now(world: World, one: Channel) -> None:
    """chan_local's optimisation: ``;1`` is bridged with X, ``;2`` with Y; Y takes ``;1``'s
    place next to X and the pair goes away."""
    two = one.local_peer
    br1 = one.bridge
    if one.dead or two is None or two.dead or br1 is None:
        return
    br3 = two.bridge
    if br3 is None or two.state != UP:
        # The target has not answered yet: try again later.
        world.call_later(LOCAL_OPTIMIZE_DELAY, _retry, one, world)
        return
    sources = [c for c in br3.channels if c is not two]
    xs = [c for c in br1.channels if c is not one]
    if len(sources) != 1 or len(xs) != 1:
        return
    src, x = sources[0], xs[0]
    pair = (one.snapshot("LocalOne"), two.snapshot("LocalTwo"))
    world.emit(
        "LocalOptimizationBegin",
        *pair,
        src.snapshot("Source"),
        (("DestUniqueId", two.uniqueid), ("Id", "0")),
    )
    world.bridge_leave(br3, src)
    world.set_var(one, "BRIDGEPEER", "")
    world.set_var(one, "BRIDGEPVTCALLID", "")
    world.bridge_leave(br1, one)
    world.bridge_enter(br1, src, swap=one)
    bridge_vars(world, x, src)
    world.set_var(two, "BRIDGEPEER", "")
    world.set_var(two, "BRIDGEPVTCALLID", "")
    pending = two.data.pop("callerid_pending", None)
    if pending is not None:
        # ;2 takes the caller id ;1 learned (the transferee's) before the optimisation
        # ends (03c).
        world.set_callerid(two, *pending)
    world.emit(
        "LocalOptimizationEnd",
        one.snapshot("LocalOne"),
        two.snapshot("LocalTwo"),
        (("Success", "No"), ("Id", "0")),
    )
    ctl = br1.data.get("controller")
    swap: Callable[[Channel, Channel], None] | None = br1.data.get("swap_peer")
    src.owner = ctl if isinstance(ctl, Task) else None
    if swap is not None:
        swap(one, src)
    one.owner = None
    # ;2's Dial sees its peer leave: it ends (ANSWER), ;2 hangs up and takes ;1 along.
    one.softhangup = True

    def one_goes() -> None:
        world.local_release(one)
        world.set_var(one, "CHANLOCALSTATUS", "ANSWER")
        world.hangup_request_event(one, CAUSE_NORMAL)

    two.data.setdefault("before_hangup", []).append(one_goes)
    two.data.setdefault("after_hangup", []).append(lambda: world.destroy(one, CAUSE_NORMAL))
    world.signal(two.task, ("optimized", src, br3))


def _retry(one: Channel, world: Any) -> None:
    _optimize_now(world, one)
