"""AMI Originate: call a channel, and once it answers run a dialplan location or an
application on it (04a, 04b, 04c, 05a, 06a/b, 07, 10).

Async: ``Originate successfully queued`` at once, the outcome later as the
``OriginateResponse`` event (Reason 4 answered, 3 no answer, 0 busy or unknown endpoint,
8 congestion). Sync: the response waits for the outcome (``Originate failed`` on failure)
and the session's events are held back until it is sent (04c #4).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .channels import Channel, Signal
from .dial import LegFailure, create_leg, parse_dialstring, start_leg
from .model import (
    CAUSE_BUSY,
    CAUSE_CONGESTION,
    CAUSE_NO_ANSWER,
    CAUSE_NORMAL,
    UP,
)
from .pickup import HANDED_OVER
from .registry import APPS

if TYPE_CHECKING:
    from .reply import ActionReply
    from .world import World

__all__ = ["OriginateRequest", "start_originate"]


@dataclass
class OriginateRequest:
    channel: str
    context: str = "default"
    exten: str = ""
    priority: int = 1
    application: str = ""
    data: str = ""
    timeout: float = 30.0
    cid_num: str = ""
    cid_name: str = ""
    has_callerid: bool = False
    variables: list[tuple[str, str]] = field(default_factory=list)
    action_id: str | None = None
    channel_id: str | None = None
    other_channel_id: str | None = None
    is_async: bool = False


def _reason_for(cause: int) -> int:
    if cause == CAUSE_CONGESTION:
        return 8
    if cause == CAUSE_NO_ANSWER:
        return 3
    return 0


def _dial_status(cause: int) -> str:
    if cause == CAUSE_BUSY:
        return "BUSY"
    if cause == CAUSE_CONGESTION:
        return "CONGESTION"
    if cause == CAUSE_NO_ANSWER:
        return "NOANSWER"
    return "CHANUNAVAIL"


def response_event(
    world: World,
    req: OriginateRequest,
    success: bool,
    reason: int,
    chan: Channel | None,
) -> None:
    """``OriginateResponse`` (an Event that carries ``Response:`` and the ActionID)."""
    if not req.is_async or not world.wants("OriginateResponse"):
        # A synchronous Originate answers with its response only (04c #4).
        return
    fields: list[tuple[str, str]] = []
    if req.action_id is not None:
        fields.append(("ActionID", req.action_id))
    fields.append(("Response", "Success" if success else "Failure"))
    fields.append(("Channel", chan.name if (chan is not None and success) else req.channel))
    if req.application:
        fields.append(("Application", req.application))
        fields.append(("Data", req.data))
    else:
        fields.append(("Context", req.context))
        fields.append(("Exten", req.exten))
    fields.append(("Reason", str(reason)))
    if chan is not None and success:
        fields.append(("Uniqueid", chan.uniqueid))
        fields.append(("CallerIDNum", chan.cid_num or "<unknown>"))
        fields.append(("CallerIDName", chan.cid_name or "<unknown>"))
    else:
        fields.append(("Uniqueid", "<unknown>"))
        fields.append(("CallerIDNum", req.cid_num or "<unknown>"))
        fields.append(("CallerIDName", req.cid_name or "<unknown>"))
    world.emit("OriginateResponse", fields)


def start_originate(world: World, req: OriginateRequest, reply: ActionReply) -> None:
    if req.is_async:
        reply.success("Originate successfully queued")
    else:
        reply.pending = True
    world.start_task(_originate(world, req, reply), name=f"originate {req.action_id}")


def _finish_sync(reply: ActionReply, req: OriginateRequest, ok: bool) -> None:
    if req.is_async or not reply.pending:
        return
    if ok:
        reply.success("Originate successfully queued")
    else:
        reply.error("Originate failed")
    reply.finish()


def _originate(
    world: World, req: OriginateRequest, reply: ActionReply
) -> Generator[float | None, Signal, None]:
    # Let the action's response go out before the first event (04a).
    yield world.now
    task = world._running
    _tech, resource, user = parse_dialstring(req.channel)
    try:
        leg = create_leg(
            world,
            task,
            req.channel,
            linkedid=None,
            uniqueid=req.channel_id,
            other_uniqueid=req.other_channel_id,
        )
    except LegFailure:
        # Unknown endpoint: "queued", then an immediate failure, no channel (04c #3).
        response_event(world, req, False, 0, None)
        _finish_sync(reply, req, False)
        return
    two = leg.local_peer
    world.newexten(leg, "AppDial2", "(Outgoing Line)")
    for name, value in reversed(req.variables):
        world.set_var(leg, name, value)
    if two is not None:
        # The variables reach the ;2 half too (04b).
        for name, value in reversed(req.variables):
            world.set_var(two, name, value)
    if req.has_callerid:
        num = req.cid_num or leg.cid_num
        name = req.cid_name or leg.cid_name
        if leg.tech == "Local" or (num, name) != (leg.cid_num, leg.cid_name):
            # The requested caller id replaces the endpoint's (06a); unchanged, nothing
            # is published (04a).
            world.set_callerid(leg, num, name)
        world.set_connected(leg, num, name)
        if two is not None:
            # ;2 gets caller id and connected line together: the snapshot published with
            # its NewCallerid already shows both (10).
            world.set_connected(two, req.cid_num, req.cid_name, emit=False)
            world.set_callerid(two, req.cid_num, req.cid_name)
            world.emit("NewConnectedLine", two)
    dialstring = f"{user}@{resource}" if user else resource
    dest = leg
    if leg.tech == "Local":
        world.local_bridge_event(leg)
        world.emit("DialBegin", leg.snapshot("Dest"), (("DialString", dialstring),))
        start_leg(world, leg)
    else:
        start_leg(world, leg)
        world.emit("DialBegin", leg.snapshot("Dest"), (("DialString", dialstring),))
    deadline = world.now + req.timeout
    while True:
        if dest.state == UP and not dest.dead:
            break
        sig = yield deadline
        kind, who, info = sig
        if kind == "timeout":
            # No answer: OriginateResponse Reason 3 before the Hangup (cause 19), no DialEnd
            # (04c #2).
            response_event(world, req, False, 3, None)
            _finish_sync(reply, req, False)
            world.destroy(leg, CAUSE_NO_ANSWER, 480 if leg.tech == "PJSIP" else None)
            return
        if who is not leg:
            continue
        if kind == "ringing":
            world.emit("DialState", leg.snapshot("Dest"), (("DialStatus", "RINGING"),))
        elif kind == "answer":
            break
        elif kind == "leg_hangup":
            cause = info[0] if info else CAUSE_NORMAL
            tech_cause = info[2] if info and len(info) > 2 else None
            world.emit("DialEnd", leg.snapshot("Dest"), (("DialStatus", _dial_status(cause)),))
            response_event(world, req, False, _reason_for(cause), None)
            _finish_sync(reply, req, False)
            world.destroy(leg, 0 if leg.tech == "Local" else cause, tech_cause)
            return
    # Answered.
    world.emit("DialEnd", leg.snapshot("Dest"), (("DialStatus", "ANSWER"),))
    leg.owner = None
    if req.application:
        response_event(world, req, True, 4, leg)
        _finish_sync(reply, req, True)
        world.start_task(run_app(world, leg, req.application, req.data), leg)
        return
    world.set_position(leg, req.context, req.exten or "s", req.priority)
    # An originated channel sent into the dialplan carries Normal Clearing from now on
    # (04a: its BYE shows HangupRequest Cause 16; an application leg keeps 0, 05a).
    leg.hangup_cause = CAUSE_NORMAL

    def answered() -> None:
        response_event(world, req, True, 4, leg)
        _finish_sync(reply, req, True)

    # OriginateResponse comes after the first dialplan step (04a).
    leg.data["after_first_step"] = answered
    world.start_pbx(leg)


def run_app(
    world: World, chan: Channel, app_name: str, data: str
) -> Generator[float | None, Signal, None]:
    """Run one application on an originated channel, then hang it up (no dialplan, so no
    SoftHangupRequest: 05a)."""
    app = APPS.get(app_name.lower())
    chan.app = app_name
    chan.app_data = data
    res = 0
    if app is not None:
        r = app(world, chan, data)
        res = r if isinstance(r, int) else (yield from r)
    if chan.dead or res == HANDED_OVER:
        return
    world.destroy(chan, chan.hangup_cause)
