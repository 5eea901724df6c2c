"""Call control and supervisor commands: which AMI actions each WebSocket op becomes.

Agents act on their own calls only (the call must have a leg on the agent's extension).
Ownership and roles are checked before any action is sent; the caller of
:func:`call_command` sends the actions in order. The supervisor and dispatcher ops are in
:mod:`cti.center.supervise` and :mod:`cti.center.groups`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from cti.api.protocol import ClientError
from cti.center.effects import PbxAction
from recorder.core import RECORD_OPS

if TYPE_CHECKING:
    from cti.api.ws import Session
    from cti.center.server import HotlineServer

INTERNAL: Final = "internal"
OUTSIDE_PREFIX: Final = "0"  # as on the seeds' consoles: 0 + the national number


def _originate(device: str, exten: str, caller_id: str, **extra: str) -> PbxAction:
    headers = [
        ("Channel", device),
        ("Context", INTERNAL),
        ("Exten", exten),
        ("Priority", "1"),
        ("CallerID", caller_id),
        ("Async", "true"),
    ]
    headers += list(extra.items())
    return PbxAction("Originate", tuple(headers), purpose=f"call {exten} from {device}")


async def call_command(
    server: HotlineServer, session: Session, op: str, params: Mapping[str, Any], now: float
) -> tuple[list[PbxAction], dict[str, Any]]:
    center = server.center
    agent_id = session.agent_id
    desk = center.desks.get(agent_id)
    if desk is None:
        raise ClientError("invalid_state", "log in with an extension to control calls")
    device = f"PJSIP/{desk.extension}"
    caller_id = f'"{agent_id}" <{desk.extension}>'

    if op == "call.dial":
        number = params["number"]
        if not (number.startswith(OUTSIDE_PREFIX) or number in center.known_extensions()):
            raise ClientError(
                "invalid_params",
                f"number: {number} is no extension; outside numbers start with {OUTSIDE_PREFIX}",
            )
        return [_originate(device, number, caller_id)], {"number": number}

    if op in RECORD_OPS:  # recorder/core.py: the call must be the agent's own
        call_id = params["call_id"]
        mine = center.own_call(agent_id, call_id)
        return server.recorder.command(op, call_id, agent_id, mine, now)

    if op in ("call.hangup", "call.hold", "call.unhold", "call.transfer", "call.conference"):
        call_id = params["call_id"]
        mine = center.own_call(agent_id, call_id)
        if op == "call.hangup":
            return [PbxAction("Hangup", (("Channel", mine), ("Cause", "16")), call_id)], {}
        if op in ("call.hold", "call.unhold"):
            return center.hold_command(call_id, mine, op, now), {}
        other = center.other_party(call_id, mine)
        headers: tuple[tuple[str, str], ...]
        held = center.held_from_desktop(call_id)
        if held and not (op == "call.transfer" and params["mode"] == "attended"):
            center.leaving_hold(call_id)
        if op == "call.transfer" and params["mode"] == "blind":
            headers = (
                ("Channel", other),
                ("Context", INTERNAL),
                ("Exten", params["to"]),
                ("Priority", "1"),
            )
            actions = [PbxAction("Redirect", headers, call_id, "blind transfer")]
            if held:
                # The agent's leg waits in [agent-hold], outside any bridge: end it too.
                hangup = (("Channel", mine), ("Cause", "16"))
                actions.append(PbxAction("Hangup", hangup, call_id, "transferred from hold"))
            return actions, {"to": params["to"]}
        if op == "call.transfer" and held:
            raise ClientError(
                "invalid_state",
                f"call {call_id!r} is on hold: resume it (call.unhold) for an attended transfer",
            )
        if op == "call.transfer":
            headers = (("Channel", mine), ("Exten", params["to"]), ("Context", INTERNAL))
            return [PbxAction("Atxfer", headers, call_id, "attended transfer")], {
                "to": params["to"]
            }
        # the supervisors' picker: an agent's three-party room never lands in a busy one
        room = server.supervision.free_room()
        move = (
            ("Channel", other),
            ("Context", INTERNAL),
            ("Exten", room),
            ("Priority", "1"),
            ("ExtraChannel", mine),
            ("ExtraContext", INTERNAL),
            ("ExtraExten", room),
            ("ExtraPriority", "1"),
        )
        invite = _originate(f"PJSIP/{params['to']}", room, caller_id)
        return [PbxAction("Redirect", move, call_id, "conference"), invite], {"room": room}

    # Supervisor and dispatcher ops: cti/center/supervise.py and cti/center/groups.py.
    raise ClientError("unknown_op", f"unknown op {op!r}")
