"""The AMI actions of the supervisor and dispatcher functions, as Hotline sends them, on a
real Asterisk 22 (docs/dispatch.md): ChanSpy with the ``d`` option, ``PlayDTMF`` with
``Receive``, ``ConfbridgeMute`` / ``ConfbridgeUnmute`` / ``ConfbridgeKick`` (``all``),
``Hangup``. Local channels stand in for phones: ``Local/1000@internal`` joins the lab's
conference room 1000 on its ``;2`` half while its ``;1`` half runs ChanSpy. The
supervision core is fed the real ConfBridge events and follows them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from cti.ami.codec import Message
from cti.asterisk.instance import AsteriskInstance
from cti.calls.model import CallModel
from cti.center.core import Center
from cti.center.supervise import SPY_OPTIONS, Conference, Member, Supervision
from cti.config import demo_config
from cti.link import ActionFailed, AMILink

from .conftest import AMI_SECRET, AMI_USER, LAB_PORTS

pytestmark = pytest.mark.asterisk


async def _wait(events: list[Message], check: Callable[[Message], bool], within: float) -> Message:
    async with asyncio.timeout(within):
        while True:
            for msg in events:
                if check(msg):
                    return msg
            await asyncio.sleep(0.02)


async def test_supervisor_actions_are_accepted_by_asterisk(asterisk: AsteriskInstance) -> None:
    events: list[Message] = []
    link = AMILink("127.0.0.1", LAB_PORTS.ami, AMI_USER, AMI_SECRET, model=CallModel())
    link.register_event("*", lambda _link, msg: events.append(msg))
    await link.start()
    await link.wait_up(10)
    supervision = Supervision(Center(demo_config(), CallModel(), now=0.0))
    try:
        await link.send_action(
            "Originate",
            [
                ("Channel", "Local/1000@internal"),
                ("Application", "ChanSpy"),
                ("Data", f"PJSIP/8001,{SPY_OPTIONS}w"),
                ("Async", "true"),
            ],
        )
        join = await _wait(
            events,
            lambda m: m.event == "ConfbridgeJoin" and m.get("Conference") == "1000",
            20,  # after the "only person" prompt
        )
        member = join.get("Channel") or ""
        assert member.startswith("Local/1000@internal-") and member.endswith(";2")
        spy = member[:-1] + "1"
        answered = await _wait(events, lambda m: m.event == "OriginateResponse", 5)
        assert (answered.get("Response"), answered.get("Channel")) == ("Success", spy)

        # Mode switching: the digit is received by ChanSpy's channel, acknowledged at once.
        switched = await link.send_action(
            "PlayDTMF", [("Channel", spy), ("Digit", "6"), ("Receive", "true")]
        )
        assert switched.response.get("Message") == "DTMF successfully queued"
        end = await _wait(events, lambda m: m.event == "DTMFEnd" and m.get("Channel") == spy, 5)
        assert (end.get("Digit"), end.get("Direction")) == ("6", "Received")

        # The supervision core follows the real ConfBridge events of its room.
        conf = Conference("1000", "90001", "select", None, 0.0)
        conf.members["8001"] = Member("8001", "joined", channel=member)
        supervision.conferences["1000"] = conf
        for name in ("ConfbridgeMute", "ConfbridgeUnmute"):
            await link.send_action(name, [("Conference", "1000"), ("Channel", member)])
            seen = await _wait(
                events,
                lambda m, n=name: m.event == n and m.get("Channel") == member,
                5,  # type: ignore[misc]
            )
            assert seen.get("Conference") == "1000"
        missing = "Local/none@internal-00000000;2"
        with pytest.raises(ActionFailed):
            await link.send_action("ConfbridgeMute", [("Conference", "1000"), ("Channel", missing)])

        await link.send_action("ConfbridgeKick", [("Conference", "1000"), ("Channel", "all")])
        ended = await _wait(
            events, lambda m: m.event == "ConfbridgeEnd" and m.get("Conference") == "1000", 10
        )
        effects = supervision.on_event(ended, 1.0)
        assert "1000" not in supervision.conferences
        assert [e.event for e in effects] == ["conference.ended"]  # type: ignore[union-attr]
        with pytest.raises(ActionFailed):
            await link.send_action("ConfbridgeKick", [("Conference", "1000"), ("Channel", "all")])

        # The kicked ;2 half is gone; hang up the spy (force release's Hangup, cause 16).
        if not any(m.event == "Hangup" and m.get("Channel") == spy for m in events):
            await link.send_action("Hangup", [("Channel", spy), ("Cause", "16")])
        await _wait(events, lambda m: m.event == "Hangup" and m.get("Channel") == spy, 5)
        with pytest.raises(ActionFailed):
            await link.send_action("Hangup", [("Channel", spy), ("Cause", "16")])
    finally:
        await link.close()
