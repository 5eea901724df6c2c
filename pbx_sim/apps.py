"""The dialplan interpreter (Asterisk's PBX loop) and the applications.

Every application is a function ``app(world, chan, data) -> int | generator``. A plain
return value is the result at once (0: continue, -1: hang up). A generator is a blocking
application: it yields the world time it wants to be woken at (None: only a signal) and
receives the :data:`~pbx_sim.channels.Signal` that woke it; its return value is the result.

The event sequences each application produces follow the Asterisk 22 transcripts in
../shared/ami-transcripts/ (the file names are cited where a detail comes from one).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from . import agi, conference, dial, ivr, pickup, queues, recording, spy
from .basics import answer, goto, moh_start, moh_stop, prompt_duration, sleep
from .channels import Channel, Signal
from .dialplan import split_args
from .functions import ChannelEnv, expand
from .model import BUSY, CAUSE_BUSY, CAUSE_CONGESTION, CAUSE_NORMAL, RINGING, UP
from .registry import APPS, CANONICAL, App, canonical, register

if TYPE_CHECKING:
    from .world import World

__all__ = [
    "APPS",
    "ChannelEnv",
    "expand",
    "moh_start",
    "moh_stop",
    "pbx_end",
    "pbx_run",
    "prompt_duration",
    "register",
    "sleep",
]

Wait = Generator["float | None", Signal, Any]

# -- the PBX loop -----------------------------------------------------------------------------


def pbx_run(world: World, chan: Channel) -> Generator[float | None, Signal, None]:
    """Execute the channel's dialplan from its position until it hangs up (a task)."""
    plan = world.config.dialplan
    while True:
        if chan.dead:
            return
        step = plan.step(chan.context, chan.exten, chan.priority)
        if step is None:
            unknown = chan.priority == 1 or not plan.find_extension(chan.context, chan.exten)
            # Unknown extension: 'i' if the context has one, else hang up.
            if unknown and chan.exten != "i" and plan.exists(chan.context, "i"):
                world.set_var(chan, "INVALID_EXTEN", chan.exten)
                world.set_position(chan, chan.context, "i", 1)
                continue
            break
        app_name = canonical(step.app)
        data = step.data
        if "$" in data and (app_name != "NoOp" or world.detail_exten):
            # NoOp's argument is only ever seen in Newexten: not expanded when nobody
            # subscribed to Newexten (functions with side effects in NoOp are not a thing).
            data = expand(world, chan, data)
        if chan.data.pop("skip_newexten", False):
            chan.app, chan.app_data = app_name, data
        else:
            world.newexten(chan, app_name, data)
        hook = chan.data.pop("after_first_step", None)
        if hook is not None:
            # An originated channel: OriginateResponse follows its first Newexten (04a).
            hook()
        app = APPS.get(app_name.lower())
        if app is None:
            # Asterisk: "No application 'X' for extension" -> hang up.
            break
        chan.data.pop("jump", None)
        res = app(world, chan, data)
        if not isinstance(res, int):
            res = yield from res
        if chan.dead or res == pickup.HANDED_OVER:
            return
        for fn in chan.data.pop("after_step", ()):
            fn()
        redirect = chan.data.pop("redirect", None)
        if callable(redirect):
            # Taken out of the application into something else (AMI Bridge), which moves
            # the channel after the interrupted application: it continues there when that
            # ends, or wherever a Redirect sent it meanwhile.
            res = yield from redirect(chan)
            if chan.dead:
                return
            if res < 0:
                break
            target = chan.data.pop("redirect", None)
            if isinstance(target, tuple):
                world.set_position(chan, *target)
                chan.softhangup = False
            continue
        if redirect is not None:
            ctx, exten, prio = redirect
            world.set_position(chan, ctx, exten, prio)
            chan.softhangup = False
            continue
        if res < 0 or chan.softhangup:
            break
        if not chan.data.pop("jump", False):
            chan.priority += 1
            chan.changed()
    pbx_end(world, chan)


def pbx_end(world: World, chan: Channel) -> None:
    """The end of a channel's dialplan: ``SoftHangupRequest`` then ``Hangup``."""
    if chan.dead:
        return
    techcause = chan.data.get("techcause")
    world.soft_hangup_event(chan, CAUSE_NORMAL, techcause)
    for fn in chan.data.pop("before_destroy", ()):
        fn()
    world.destroy(chan, chan.hangup_cause, techcause)


def _parse_goto(world: World, chan: Channel, target: str) -> tuple[str, str, int] | None:
    parts = [p.strip() for p in target.split(",")]
    if len(parts) == 1:
        ctx, ext, prio = chan.context, chan.exten, parts[0]
    elif len(parts) == 2:
        ctx, ext, prio = chan.context, parts[0], parts[1]
    else:
        ctx, ext, prio = parts[0], parts[1], parts[2]
    if prio.isdigit():
        return ctx, ext, int(prio)
    label = world.config.dialplan.resolve_label(ctx, ext, prio)
    if label is None:
        return None
    return ctx, ext, label


# -- simple applications ----------------------------------------------------------------------


def app_noop(world: World, chan: Channel, data: str) -> int:
    return 0


def app_set(world: World, chan: Channel, data: str) -> int:
    name, eq, value = data.partition("=")
    if eq:
        ChannelEnv(world, chan).set(name.strip(), value)
    return 0


def app_goto(world: World, chan: Channel, data: str) -> int:
    target = _parse_goto(world, chan, data)
    if target is None:
        return -1
    goto(chan, *target)
    return 0


def app_gotoif(world: World, chan: Channel, data: str) -> int:
    cond, _, rest = data.partition("?")
    iftrue, _, iffalse = rest.partition(":")
    branch = iftrue if cond.strip() not in ("", "0") else iffalse
    if not branch.strip():
        return 0
    return app_goto(world, chan, branch)


def app_answer(world: World, chan: Channel, data: str) -> int:
    answer(world, chan)
    return 0


def app_playback(world: World, chan: Channel, data: str) -> Wait:
    args = split_args(data)
    files = args[0] if args else ""
    opts = args[1] if len(args) > 1 else ""
    if "noanswer" not in opts:
        answer(world, chan)
    res = yield from sleep(world.now + prompt_duration(files))
    if res:
        return res
    world.set_var(chan, "PLAYBACKSTATUS", "SUCCESS")
    return 0


def app_wait(world: World, chan: Channel, data: str) -> Wait:
    try:
        secs = float(data.strip() or "0")
    except ValueError:
        secs = 0.0
    res = yield from sleep(world.now + secs)
    return res


def app_hangup(world: World, chan: Channel, data: str) -> int:
    cause = int(data) if data.strip().isdigit() else CAUSE_NORMAL
    if chan.hangup_cause == 0:
        chan.hangup_cause = cause
    return -1


def _indicate_failure(world: World, chan: Channel, cause: int, state_after: int) -> Wait:
    """Congestion()/Busy(): on an unanswered channel, indicate and hang up at once (10)."""
    if chan.state != UP:
        world.set_state(chan, state_after)
        chan.hangup_cause = cause
        if chan.tech == "PJSIP":
            # chan_pjsip answers the INVITE with 503/486 and queues a hangup.
            tech = 503 if cause == CAUSE_CONGESTION else 486
            chan.data["techcause"] = tech
            world.hangup_request_event(chan, cause, tech)
            return -1
        peer = chan.local_peer
        if peer is not None and not peer.dead:
            world.local_failed(peer, chan, cause)
            # Wait for ;1 to be hung up by whoever dialled it (10).
            res = yield from sleep(None)
            return -1
        return -1
    res = yield from sleep(None)
    return res if res < 0 else -1


def app_congestion(world: World, chan: Channel, data: str) -> Wait:
    return _indicate_failure(world, chan, CAUSE_CONGESTION, BUSY)


def app_busy(world: World, chan: Channel, data: str) -> Wait:
    return _indicate_failure(world, chan, CAUSE_BUSY, BUSY)


def app_ringing(world: World, chan: Channel, data: str) -> int:
    if chan.state not in (UP, RINGING):
        world.set_state(chan, RINGING)
    return 0


def app_progress(world: World, chan: Channel, data: str) -> int:
    return 0


def app_musiconhold(world: World, chan: Channel, data: str) -> Wait:
    args = split_args(data)
    klass = args[0] or "default" if args else "default"
    duration = float(args[1]) if len(args) > 1 and args[1].strip() else None
    answer(world, chan)
    moh_start(world, chan, klass)
    res = yield from sleep(world.now + duration if duration else None)
    moh_stop(world, chan)
    return res


def app_start_moh(world: World, chan: Channel, data: str) -> int:
    moh_start(world, chan, data.strip() or "default")
    return 0


def app_stop_moh(world: World, chan: Channel, data: str) -> int:
    moh_stop(world, chan)
    return 0


def app_verbose(world: World, chan: Channel, data: str) -> int:
    return 0


def app_userevent(world: World, chan: Channel, data: str) -> int:
    args = split_args(data)
    if not args:
        return 0
    fields: list[tuple[str, str]] = [("UserEvent", args[0])]
    for a in args[1:]:
        k, _, v = a.partition(":")
        fields.append((k.strip(), v.strip()))
    world.emit("UserEvent", chan, fields)
    return 0


def app_setvar_noop(world: World, chan: Channel, data: str) -> int:
    return 0


_BUILTIN: dict[str, App] = {
    "noop": app_noop,
    "set": app_set,
    "goto": app_goto,
    "gotoif": app_gotoif,
    "answer": app_answer,
    "playback": app_playback,
    "wait": app_wait,
    "hangup": app_hangup,
    "congestion": app_congestion,
    "busy": app_busy,
    "ringing": app_ringing,
    "progress": app_progress,
    "musiconhold": app_musiconhold,
    "startmusiconhold": app_start_moh,
    "stopmusiconhold": app_stop_moh,
    "verbose": app_verbose,
    "log": app_verbose,
    "userevent": app_userevent,
}


def _late_register() -> None:
    for name, app in _BUILTIN.items():
        register(CANONICAL.get(name, name), app)
    register("Queue", queues.app_queue)
    register("Dial", dial.app_dial)
    register("Read", ivr.app_read)
    register("BackGround", ivr.app_background)
    register("WaitExten", ivr.app_waitexten)
    register("VoiceMail", ivr.app_voicemail)
    register("AGI", agi.app_agi)
    register("ChanSpy", spy.app_chanspy)
    register("ConfBridge", conference.app_confbridge)
    register("PickupChan", pickup.app_pickupchan)
    register("Pickup", pickup.app_pickup)
    register("MixMonitor", recording.app_mixmonitor)
    register("StopMixMonitor", recording.app_stopmixmonitor)


_late_register()
