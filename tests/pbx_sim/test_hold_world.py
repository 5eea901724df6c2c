"""Hold by Redirect out of a Dial bridge, and back by AMI Bridge, in the sans-I/O world.

The expected sequences are those real Asterisk 22 produced for the same actions
(tests/asterisk/test_hold_asterisk.py runs them on Asterisk and on pbx_sim side by side):

* Redirect with ExtraChannel of a bridged Dial pair moves *both* legs: the caller (it
  runs Dial) to its target, the callee (no dialplan of its own) through an after-bridge
  goto to its target; nobody hangs up.
* Redirect of the caller alone hangs the callee up (cause 16); of the callee alone, the
  callee runs the dialplan at its target and the caller's Dial ends: the caller hangs up.
* AMI Bridge of two channels in the dialplan: they leave their applications and, when the
  other party hangs up, continue at the next priority.
"""

from __future__ import annotations

import pytest

from cti.ami.codec import Message
from pbx_sim.config import hotline_config
from pbx_sim.model import DS_INUSE, DS_ONHOLD
from pbx_sim.phones import PhoneBehaviour
from pbx_sim.world import World

HOLD = {"Context": "hotline-hold", "Exten": "s", "Priority": "1"}
AGENT_HOLD = {"ExtraContext": "agent-hold", "ExtraExten": "s", "ExtraPriority": "1"}


def run_until(world: World, horizon: float) -> None:
    while (t := world.next_wakeup()) is not None and t <= horizon:
        world.tick(t)
    world.tick(horizon)


def lane(events: list[Message], channel: str) -> list[tuple[str, ...]]:
    """What a channel went through, in the terms compared with Asterisk."""
    out: list[tuple[str, ...]] = []
    for e in events:
        if e.get("Channel") != channel:
            continue
        where = (e.get("Context") or "", e.get("Exten") or "", e.get("Priority") or "")
        if e.event == "Newexten":
            out.append(("Newexten", *where, e.get("Application") or ""))
        elif e.event == "VarSet" and e.get("Variable") in ("BRIDGEPEER", "DIALSTATUS"):
            out.append(("VarSet", e.get("Variable") or "", e.get("Value") or ""))
        elif e.event in ("BridgeEnter", "BridgeLeave", "MusicOnHoldStart", "MusicOnHoldStop"):
            out.append((e.event, *where))
        elif e.event == "Hangup":
            out.append(("Hangup", *where, e.get("Cause") or ""))
    return out


@pytest.fixture
def talking() -> tuple[World, list[Message], str, str]:
    """Alice (trunk) talks with agent 8001, dialled from [agent-dial]."""
    world = World(hotline_config(agents=2), now=0.0)
    events: list[Message] = []
    world.subscribe(events.append)
    world.phones.set("8001", PhoneBehaviour(answer_delay=1.0))
    call = world.trunk_call(1.0, "5000", "0215550101", "Alice")
    world.run_action(
        1.5, "Redirect", Channel=call.channel, Context="agent-dial", Exten="8001", Priority="1"
    )
    run_until(world, 4.0)
    agent = next(c for c in world.channels if c.startswith("PJSIP/8001-"))
    assert world.channels[agent].bridge is world.channels[call.channel].bridge is not None
    events.clear()
    return world, events, call.channel, agent


def test_dual_redirect_moves_both_legs_of_a_dial_bridge(
    talking: tuple[World, list[Message], str, str],
) -> None:
    world, events, caller, agent = talking
    reply = world.run_action(
        5.0, "Redirect", Channel=caller, **HOLD, ExtraChannel=agent, **AGENT_HOLD
    )
    assert reply[0]["Message"] == "Dual Redirect successful"
    run_until(world, 60.0)
    assert lane(events, caller) == [
        ("VarSet", "BRIDGEPEER", ""),
        ("Newexten", "hotline-hold", "s", "1", "Dial"),
        ("BridgeLeave", "hotline-hold", "s", "1"),
        ("VarSet", "DIALSTATUS", "ANSWER"),
        ("Newexten", "hotline-hold", "s", "2", "MusicOnHold"),
        ("MusicOnHoldStart", "hotline-hold", "s", "2"),
    ]
    assert lane(events, agent) == [
        ("VarSet", "BRIDGEPEER", ""),
        ("Newexten", "agent-hold", "s", "1", "AppDial"),
        ("BridgeLeave", "agent-hold", "s", "1"),
        ("Newexten", "agent-hold", "s", "2", "Wait"),
    ]
    assert not [e for e in events if e.event == "Hangup"]
    assert world.channels[caller].data.get("moh") == "default"
    assert world.channels[agent].bridge is None and world.channels[agent].state == 6
    assert not world.bridges


def test_dual_redirect_in_either_order(talking: tuple[World, list[Message], str, str]) -> None:
    world, events, caller, agent = talking
    reply = world.run_action(
        5.0,
        "Redirect",
        Channel=agent,
        Context="agent-hold",
        Exten="s",
        Priority="1",
        ExtraChannel=caller,
        ExtraContext="hotline-hold",
        ExtraExten="s",
        ExtraPriority="1",
    )
    assert reply[0]["Response"] == "Success"
    run_until(world, 60.0)
    assert world.channels[caller].context == "hotline-hold"
    assert world.channels[caller].data.get("moh") == "default"
    assert world.channels[agent].context == "agent-hold"
    assert not [e for e in events if e.event == "Hangup"]


def test_bridge_reconnects_and_a_hangup_ends_both(
    talking: tuple[World, list[Message], str, str],
) -> None:
    world, events, caller, agent = talking
    world.run_action(5.0, "Redirect", Channel=caller, **HOLD, ExtraChannel=agent, **AGENT_HOLD)
    run_until(world, 20.0)
    events.clear()
    reply = world.run_action(20.0, "Bridge", Channel1=caller, Channel2=agent)
    assert reply[0]["Message"] == "Channels have been bridged"
    run_until(world, 30.0)
    assert lane(events, caller) == [
        ("MusicOnHoldStop", "hotline-hold", "s", "2"),
        ("BridgeEnter", "hotline-hold", "s", "3"),
        ("VarSet", "BRIDGEPEER", agent),
    ]
    assert lane(events, agent) == [
        ("BridgeEnter", "agent-hold", "s", "3"),
        ("VarSet", "BRIDGEPEER", caller),
    ]
    assert world.channels[caller].bridge is world.channels[agent].bridge is not None
    events.clear()
    world.hangup(30.0, agent)  # the agent hangs up: the caller goes on to Hangup()
    run_until(world, 31.0)
    assert lane(events, caller)[-3:] == [
        ("BridgeLeave", "hotline-hold", "s", "3"),
        ("Newexten", "hotline-hold", "s", "3", "Hangup"),
        ("Hangup", "hotline-hold", "s", "3", "16"),
    ]
    assert world.stats()["channels"] == 0 and not world.bridges


def test_caller_hangs_up_after_unhold_ends_the_agent_leg(
    talking: tuple[World, list[Message], str, str],
) -> None:
    world, events, caller, agent = talking
    world.run_action(5.0, "Redirect", Channel=caller, **HOLD, ExtraChannel=agent, **AGENT_HOLD)
    world.run_action(10.0, "Bridge", Channel1=caller, Channel2=agent)
    events.clear()
    world.hangup(12.0, caller)
    run_until(world, 13.0)
    assert lane(events, agent)[-2:] == [
        ("Newexten", "agent-hold", "s", "3", "Hangup"),
        ("Hangup", "agent-hold", "s", "3", "16"),
    ]
    assert world.stats()["channels"] == 0


def test_hold_again_after_unhold(talking: tuple[World, list[Message], str, str]) -> None:
    world, events, caller, agent = talking
    for t in (5.0, 15.0):
        world.run_action(t, "Redirect", Channel=caller, **HOLD, ExtraChannel=agent, **AGENT_HOLD)
        run_until(world, t + 2)
        assert world.channels[caller].data.get("moh") == "default"
        assert world.channels[agent].context == "agent-hold"
        world.run_action(t + 5, "Bridge", Channel1=caller, Channel2=agent)
        run_until(world, t + 6)
        assert world.channels[caller].bridge is world.channels[agent].bridge is not None
    # On hold, the agent hangs up: the caller stays with the music (Hotline hangs it up).
    world.run_action(30.0, "Redirect", Channel=caller, **HOLD, ExtraChannel=agent, **AGENT_HOLD)
    world.hangup(31.0, agent)
    run_until(world, 40.0)
    assert caller in world.channels and world.channels[caller].data.get("moh") == "default"
    assert not [e for e in events if e.event == "Hangup" and e["Channel"] == caller]


def test_redirect_of_the_caller_alone_hangs_the_agent_up(
    talking: tuple[World, list[Message], str, str],
) -> None:
    world, events, caller, agent = talking
    reply = world.run_action(5.0, "Redirect", Channel=caller, **HOLD)
    assert reply[0]["Message"] == "Redirect successful"
    run_until(world, 10.0)
    assert ("Hangup", "internal", "", "1", "16") in lane(events, agent)
    assert agent not in world.channels
    assert world.channels[caller].data.get("moh") == "default"


def test_redirect_of_the_agent_alone_hangs_the_caller_up(
    talking: tuple[World, list[Message], str, str],
) -> None:
    world, events, caller, agent = talking
    world.run_action(5.0, "Redirect", Channel=agent, Context="agent-hold", Exten="s", Priority="1")
    run_until(world, 10.0)
    assert caller not in world.channels
    assert lane(events, caller)[-1][0] == "Hangup"
    assert world.channels[agent].context == "agent-hold"
    assert not world.bridges


def test_missing_extra_channel_moves_nothing(
    talking: tuple[World, list[Message], str, str],
) -> None:
    world, events, caller, _agent = talking
    reply = world.run_action(
        5.0, "Redirect", Channel=caller, **HOLD, ExtraChannel="PJSIP/8002-0000ffff", **AGENT_HOLD
    )
    assert reply[0]["Response"] == "Error"
    assert reply[0]["Message"] == "ExtraChannel does not exist: PJSIP/8002-0000ffff"
    run_until(world, 10.0)
    assert world.channels[caller].bridge is not None and not events


def test_phone_hold_plays_music_to_the_other_party(
    talking: tuple[World, list[Message], str, str],
) -> None:
    world, events, caller, agent = talking
    world.phone_hold(5.0, agent)
    assert [(e.event, e.get("Channel")) for e in events if e.event.endswith("Hold")] == [
        ("Hold", agent)
    ]
    assert world.channels[caller].data.get("moh") == "default"
    assert world.devices["PJSIP/8001"].computed() == DS_ONHOLD
    world.phone_hold(6.0, agent)  # twice: nothing more
    world.phone_hold(8.0, agent, on=False)
    assert [e.event for e in events if e.event in ("Hold", "Unhold")] == ["Hold", "Unhold"]
    assert "moh" not in world.channels[caller].data
    assert world.devices["PJSIP/8001"].computed() == DS_INUSE
