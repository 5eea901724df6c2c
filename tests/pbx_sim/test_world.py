"""The sans-I/O world on its own (virtual time, no sockets): the dialplan language, the
Hotline dialplan's call flow, phones, subscriptions and the in-process API the trunk
simulator uses."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cti.ami.codec import Message
from pbx_sim.config import hotline_config
from pbx_sim.dialplan import evaluate_expression, pattern_matches
from pbx_sim.functions import expand
from pbx_sim.model import DS_INUSE, DS_ONHOLD
from pbx_sim.phones import PhoneBehaviour
from pbx_sim.world import World


def run_until(world: World, horizon: float) -> None:
    while (t := world.next_wakeup()) is not None and t <= horizon:
        world.tick(t)
    world.tick(horizon)


def names(events: list[Message], *wanted: str) -> list[tuple[str | None, str | None]]:
    return [(e.event, e.get("Channel")) for e in events if e.event in wanted]


@pytest.fixture
def hotline() -> tuple[World, list[Message]]:
    world = World(hotline_config(agents=3, trunk_channels=2), now=0.0)
    events: list[Message] = []
    world.subscribe(events.append)
    return world, events


# -- the dialplan language ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "exten", "ok"),
    [
        ("_X.", "5000", True),
        ("_X.", "", False),
        ("_[1-4]", "3", True),
        ("_[1-4]", "5", False),
        ("_0X.", "0215550101", True),
        ("_0X.", "00", False),  # X is 0-9 but the literal 0 must come first, then X then .
        ("_0X.", "1215550101", False),
        ("_8XXX", "8001", True),
        ("_8XXX", "80011", False),
        ("_**XXXX", "**8001", True),
        ("_NXX", "199", False),
        ("_Z!", "1", True),
        ("5000", "5000", True),
    ],
)
def test_patterns(pattern: str, exten: str, ok: bool) -> None:
    assert pattern_matches(pattern, exten) is ok


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        (" 31 > 30 ", "1"),
        ("30 > 30", "0"),
        ('"" = ""', "1"),
        ('"7" = "7"', "1"),
        ("2 + 3 * 4", "14"),
        ("(1 | 0) & 1", "1"),
        ("5 - 7", "-2"),
    ],
)
def test_expressions(expr: str, value: str) -> None:
    assert evaluate_expression(expr) == value


def test_substitution(hotline: tuple[World, list[Message]]) -> None:
    world, _events = hotline
    call = world.trunk_call(1.0, "5000", "0215550101", "Alice")
    chan = world.channels[call.channel]
    # The caller already waits in hotline-wait,s; HOTLINE_DID kept the DID (${EXTEN}).
    assert expand(world, chan, "${EXTEN}|${HOTLINE_DID:1}|${HOTLINE_DID:0:1}") == "s|000|5"
    assert expand(world, chan, "${HOTLINE_DID:-2}|${CALLERID(num)}") == "00|0215550101"
    assert expand(world, chan, "${CALLERID(name)} ${TRUNK_MAX} ${HOTLINE_DID}") == "Alice 2 5000"
    assert expand(world, chan, "${GROUP_COUNT(e1@trunk)}") == "1"
    assert expand(world, chan, "$[${GROUP_COUNT(e1@trunk)} > ${TRUNK_MAX}]") == "0"


# -- the Hotline dialplan -----------------------------------------------------------------


def test_trunk_full_rejects_with_congestion(hotline: tuple[World, list[Message]]) -> None:
    world, events = hotline
    calls = [world.trunk_call(1.0 + i / 10, "5000", f"02155501{i:02d}") for i in range(3)]
    assert [c.admitted for c in calls] == [True, True, False]
    assert calls[2].cause == 34
    hangup = [e for e in events if e.event == "Hangup" and e["Channel"] == calls[2].channel]
    assert hangup and hangup[0]["Cause"] == "34"
    assert world.stats()["trunk_busy"] == 2
    # A free channel again: the next call is admitted.
    world.hangup(2.0, calls[0].channel)
    assert world.trunk_call(2.1, "5000", "0215550199").admitted


def test_caller_waits_then_agent_answers(hotline: tuple[World, list[Message]]) -> None:
    world, events = hotline
    world.phones.set("8001", PhoneBehaviour(answer_delay=1.0, handle_time=30.0))
    call = world.trunk_call(1.0, "5000", "0215550101", "Alice")
    run_until(world, 3.0)
    assert ("MusicOnHoldStart", call.channel) in names(events, "MusicOnHoldStart")
    assert world.channels[call.channel].state == 6  # Up: answered by the dialplan
    reply = world.run_action(
        3.0, "Redirect", Channel=call.channel, Context="agent-dial", Exten="8001", Priority="1"
    )
    assert reply[0]["Response"] == "Success"
    run_until(world, 10.0)
    dial_end = [e for e in events if e.event == "DialEnd"]
    assert dial_end and dial_end[-1]["DialStatus"] == "ANSWER"
    enters = [e["Channel"] for e in events if e.event == "BridgeEnter"]
    assert call.channel in enters and any(c.startswith("PJSIP/8001-") for c in enters)
    # The agent hangs up after the handle time: the caller is hung up too.
    run_until(world, 45.0)
    assert call.channel not in world.channels
    assert world.stats() == {"channels": 0, "bridges": 0, "trunk_busy": 0, "timers": 0}


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [
        (PhoneBehaviour(answer_delay=None), "NOANSWER"),
        (PhoneBehaviour(busy=True, busy_delay=0.5), "BUSY"),
    ],
)
def test_agent_no_answer_or_busy_returns_caller_to_waiting(
    hotline: tuple[World, list[Message]], behaviour: PhoneBehaviour, status: str
) -> None:
    world, events = hotline
    world.phones.set("8002", behaviour)
    call = world.trunk_call(1.0, "5000", "0215550101", "Alice")
    run_until(world, 2.0)
    world.run_action(
        2.0, "Redirect", Channel=call.channel, Context="agent-dial", Exten="8002", Priority="1"
    )
    if status == "NOANSWER":  # AGENT_RING_TIMEOUT: 20 s of ringing
        run_until(world, 21.5)
        assert not [e for e in events if e.event == "DialEnd"]
    run_until(world, 30.0)
    dial_end = [e for e in events if e.event == "DialEnd"]
    assert dial_end[-1]["DialStatus"] == status
    moh = names(events, "MusicOnHoldStart")
    assert moh.count(("MusicOnHoldStart", call.channel)) == 2  # waiting again
    chan = world.channels[call.channel]
    assert (chan.context, chan.exten) == ("hotline-wait", "s")


def test_direct_did_rings_agent_and_internal_call(hotline: tuple[World, list[Message]]) -> None:
    world, events = hotline
    call = world.trunk_call(1.0, "7003", "0215550101")
    run_until(world, 5.0)
    assert any(e.event == "BridgeEnter" and e["Channel"].startswith("PJSIP/8003-") for e in events)
    # Click-to-dial: Originate PJSIP/8001 then internal 8002.
    resp = world.run_action(
        5.0,
        "Originate",
        Channel="PJSIP/8001",
        Context="internal",
        Exten="8002",
        Priority="1",
        Async="true",
        ActionID="c2d",
    )
    assert resp[0]["Response"] == "Success"
    run_until(world, 10.0)
    ok = [e for e in events if e.event == "OriginateResponse"]
    assert ok and ok[0]["Response"] == "Success" and ok[0]["ActionID"] == "c2d"
    assert world.stats()["channels"] == 4
    world.hangup(11.0, call.channel)
    assert world.stats()["channels"] == 2


def test_agi_without_a_connector_fails_and_caller_waits() -> None:
    world = World(hotline_config(agents=1, agi="127.0.0.1:4573"), now=0.0)
    events: list[Message] = []
    world.subscribe(events.append)
    call = world.trunk_call(1.0, "5000", "0215550101")
    run_until(world, 2.0)
    sets = [e for e in events if e.event == "VarSet" and e["Variable"] == "AGISTATUS"]
    assert sets and sets[0]["Value"] == "FAILURE"
    assert ("MusicOnHoldStart", call.channel) in names(events, "MusicOnHoldStart")


# -- subscriptions and fast mode ----------------------------------------------------------


def count_events(world_factory: Callable[[], World], wanted: set[str] | None) -> dict[str, int]:
    world = world_factory()
    seen: dict[str, int] = {}

    def cb(msg: Message) -> None:
        seen[msg.event or ""] = seen.get(msg.event or "", 0) + 1

    world.subscribe(cb, wanted)
    world.phones.set("8001", PhoneBehaviour(answer_delay=0.5, handle_time=5.0))
    world.trunk_call(1.0, "7001", "0215550101")
    run_until(world, 20.0)
    assert world.stats()["channels"] == 0
    return seen


def test_subscription_filter_and_events_detail() -> None:
    full = count_events(lambda: World(hotline_config(agents=1)), None)
    assert full["VarSet"] > 5 and full["Newexten"] > 3 and full["Hangup"] == 2
    only = count_events(lambda: World(hotline_config(agents=1)), {"Hangup", "BridgeEnter"})
    assert only == {"Hangup": 2, "BridgeEnter": 2}
    fast = count_events(lambda: World(hotline_config(agents=1), events_detail=False), None)
    assert "VarSet" not in fast and "Newexten" not in fast
    assert fast["Hangup"] == 2 and fast["DialEnd"] == full["DialEnd"]


def test_send_dtmf_events(hotline: tuple[World, list[Message]]) -> None:
    world, events = hotline
    call = world.trunk_call(1.0, "5000", "0215550101")
    world.send_dtmf(2.0, call.channel, "12#")
    run_until(world, 3.0)
    ends = [e["Digit"] for e in events if e.event == "DTMFEnd"]
    assert ends == ["1", "2", "#"]


def test_setvar_getvar_and_errors(hotline: tuple[World, list[Message]]) -> None:
    world, _events = hotline
    call = world.trunk_call(1.0, "5000", "0215550101")
    ok = world.run_action(1.5, "Setvar", Channel=call.channel, Variable="TICKET", Value="42")
    assert ok[0]["Response"] == "Success"
    got = world.run_action(1.5, "Getvar", Channel=call.channel, Variable="TICKET")
    assert got[0]["Value"] == "42"
    bad = world.run_action(1.5, "Hangup", Channel="PJSIP/nope-00000099")
    assert bad[0]["Response"] == "Error" and bad[0]["Message"] == "No such channel"
    unknown = world.run_action(1.5, "Frobnicate")
    assert unknown[0]["Message"].startswith("Invalid/unknown command: Frobnicate.")


def _talking(world: World, caller: str) -> list[str]:
    chan = world.channels[caller]
    assert chan.bridge is not None
    return sorted(c.name for c in chan.bridge.channels if c is not chan)


def test_attended_transfer_in_the_hotline_flow(hotline: tuple[World, list[Message]]) -> None:
    world, events = hotline
    call = world.trunk_call(1.0, "5000", "0215550101", "Alice")
    world.run_action(
        1.5, "Redirect", Channel=call.channel, Context="agent-dial", Exten="8001", Priority="1"
    )
    run_until(world, 4.0)
    [agent] = _talking(world, call.channel)
    ok = world.run_action(4.0, "Atxfer", Channel=agent, Exten="8002", Context="internal")
    assert ok[0]["Message"] == "Atxfer successfully queued"
    run_until(world, 7.0)  # the caller hears music, 8001 talks with 8002
    assert world.channels[call.channel].data.get("moh") == "default"
    assert world.devices["PJSIP/e1trunk"].computed() == DS_ONHOLD
    world.hangup(7.0, agent)  # 8001 hangs up: the transfer completes
    run_until(world, 9.0)  # ...and the Local pair is optimised away
    [target] = _talking(world, call.channel)
    assert target.startswith("PJSIP/8002-")
    assert not [c for c in world.channels if c.startswith("Local/")]
    names_seen = [e.event for e in events]
    for ev in ("Hold", "BridgeMerge", "AttendedTransfer", "LocalOptimizationBegin"):
        assert ev in names_seen
    assert world.devices["PJSIP/e1trunk"].computed() == DS_INUSE
    world.hangup(10.0, call.channel)
    run_until(world, 11.0)
    assert world.stats()["channels"] == 0


def test_attended_transfer_target_does_not_answer(hotline: tuple[World, list[Message]]) -> None:
    world, _events = hotline
    world.phones.set("8002", PhoneBehaviour(busy=True, busy_delay=1.0))
    call = world.trunk_call(1.0, "5000", "0215550101", "Alice")
    world.run_action(
        1.5, "Redirect", Channel=call.channel, Context="agent-dial", Exten="8001", Priority="1"
    )
    run_until(world, 4.0)
    [agent] = _talking(world, call.channel)
    world.run_action(4.0, "Atxfer", Channel=agent, Exten="8002", Context="internal")
    run_until(world, 8.0)
    # 8002 was busy: 8001 is back with the caller, the music has stopped.
    assert _talking(world, call.channel) == [agent]
    assert "moh" not in world.channels[call.channel].data
    assert not [c for c in world.channels if c.startswith("Local/")]


def test_inherited_variables_reach_the_agent_leg(hotline: tuple[World, list[Message]]) -> None:
    world, _events = hotline
    call = world.trunk_call(1.0, "5000", "0215550101")
    world.run_action(1.5, "Setvar", Channel=call.channel, Variable="_TICKET", Value="7")
    world.run_action(1.5, "Setvar", Channel=call.channel, Variable="PLAIN", Value="x")
    world.run_action(
        1.5, "Redirect", Channel=call.channel, Context="agent-dial", Exten="8001", Priority="1"
    )
    run_until(world, 3.0)
    [agent] = _talking(world, call.channel)
    # __HOTLINE_DID (set by the trunk context) and _TICKET are inherited, PLAIN is not.
    got = {
        v: world.run_action(3.0, "Getvar", Channel=agent, Variable=v)[0].get("Value")
        for v in ("HOTLINE_DID", "TICKET", "PLAIN")
    }
    assert got == {"HOTLINE_DID": "5000", "TICKET": "7", "PLAIN": ""}
