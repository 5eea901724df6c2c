"""The AMI actions of the supervisor and dispatcher functions, as Hotline sends them, on a
real Asterisk 22 (docs/dispatch.md): ChanSpy with the ``d`` option, ``PlayDTMF`` with
``Receive``, ``ConfbridgeMute`` / ``ConfbridgeUnmute`` / ``ConfbridgeKick`` (``all``),
``Hangup``. Local channels stand in for phones: ``Local/1000@internal`` joins the lab's
conference room 1000 on its ``;2`` half while its ``;1`` half runs ChanSpy. The
supervision core is fed the real ConfBridge events and follows them."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cti.ami.codec import AMIDecoder, Message, encode_action
from cti.asterisk.instance import AsteriskInstance
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import Install
from cti.calls.model import CallModel
from cti.center.core import Center
from cti.center.supervise import SPY_OPTIONS, Conference, Member, Supervision
from cti.config import demo_config
from cti.link import ActionFailed, AMILink
from pbx_sim.config import load_config
from pbx_sim.world import World

from .conftest import AMI_SECRET, AMI_USER, LAB_CONFIG, LAB_PORTS

pytestmark = pytest.mark.asterisk

Send = Callable[..., None]
Wait = Callable[[float], None]


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

        # What a restarted server reads to take the spy and the conference over.
        await _lists_while_live(link, spy, member)

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
        for action, headers in (
            ("ConfbridgeListRooms", []),
            ("ConfbridgeList", [("Conference", "1000")]),
        ):
            none = await link.send_action(action, headers, check=False)
            assert (none.success, none.message) == (False, "No active conferences.")

        # The kicked ;2 half is gone; hang up the spy (force release's Hangup, cause 16).
        if not any(m.event == "Hangup" and m.get("Channel") == spy for m in events):
            await link.send_action("Hangup", [("Channel", spy), ("Cause", "16")])
        await _wait(events, lambda m: m.event == "Hangup" and m.get("Channel") == spy, 5)
        with pytest.raises(ActionFailed):
            await link.send_action("Hangup", [("Channel", spy), ("Cause", "16")])
    finally:
        await link.close()


async def _lists_while_live(link: AMILink, spy: str, member: str) -> None:
    """The lists of a takeover after a restart (cti/center/takeover.py), as Asterisk 22
    answers them while a ChanSpy and a conference are live: the shapes pbx_sim answers."""
    channels = await link.send_action("CoreShowChannels")
    [item] = [i for i in channels.items if i.get("Channel") == spy]
    assert (item.get("Application"), item.get("ApplicationData")) == (
        "ChanSpy",
        f"PJSIP/8001,{SPY_OPTIONS}w",
    )
    rooms = await link.send_action("ConfbridgeListRooms")
    assert rooms.message == "Confbridge conferences will follow"
    assert [
        (i.event, i.get("Conference"), i.get("Parties"), i.get("Locked")) for i in rooms.items
    ] == [("ConfbridgeListRooms", "1000", "1", "No")]
    assert rooms.complete is not None and rooms.complete.event == "ConfbridgeListRoomsComplete"
    users = await link.send_action("ConfbridgeList", [("Conference", "1000")])
    assert users.message == "Confbridge user list will follow"
    assert [(i.event, i.get("Channel"), i.get("Muted"), i.get("Talking")) for i in users.items] == [
        ("ConfbridgeList", member, "No", "No")
    ]
    assert users.complete is not None and users.complete.event == "ConfbridgeListComplete"
    other = await link.send_action("ConfbridgeList", [("Conference", "1099")], check=False)
    assert (other.success, other.message) == (False, "No Conference by that name found.")


# -- ChanSpy with mode switching: real Asterisk and pbx_sim side by side -------------------

SPY_LAB = """
[spylab]
exten => caller,1,Answer()
 same => n,Dial(Local/agent@spylab/n)
 same => n,Hangup()
exten => agent,1,Answer()
 same => n,Wait(600)
 same => n,Hangup()
exten => spy,1,Answer()
 same => n,Wait(600)
 same => n,Hangup()
"""


def spy_scenario(send: Send, wait: Wait, events: list[Message]) -> dict[str, str]:
    """A call (Local pair: the caller's Dial, the agent's leg), a supervisor's ChanSpy as
    Hotline originates it, two mode switches, then the caller hangs up."""
    send("Originate", Channel="Local/caller@spylab/n", Application="Wait", Data="600")
    wait(1.0)
    names = [e["Channel"] for e in events if e.event == "Newchannel"]
    caller = next(n for n in names if n.startswith("Local/caller@spylab-") and n.endswith(";2"))
    agent = next(n for n in names if n.startswith("Local/agent@spylab-") and n.endswith(";1"))
    events.clear()
    send("Originate", Channel="Local/spy@spylab/n", Application="ChanSpy",
         Data=f"{agent},{SPY_OPTIONS}w")  # fmt: skip
    wait(1.0)
    names = [e["Channel"] for e in events if e.event == "Newchannel"]
    spy = next(n for n in names if n.startswith("Local/spy@spylab-") and n.endswith(";1"))
    for digit in ("6", "4"):  # barge, then listen again
        send("PlayDTMF", Channel=spy, Digit=digit, Receive="true")
        wait(0.5)
    send("Hangup", Channel=caller, Cause="16")
    wait(1.5)
    return {caller: "CALLER", agent: "AGENT", spy: "SPY"}


def spy_lane(events: list[Message], names: dict[str, str]) -> list[tuple[str, ...]]:
    spy = next(n for n, role in names.items() if role == "SPY")
    out: list[tuple[str, ...]] = []
    for e in events:
        if e.event in ("ChanSpyStart", "ChanSpyStop") and e.get("SpyerChannel") == spy:
            spyee = e.get("SpyeeChannel") or ""
            out.append((e.event, names.get(spyee, spyee)))
        elif e.get("Channel") == spy and e.event in ("DTMFBegin", "DTMFEnd"):
            out.append((e.event, e.get("Digit") or "", e.get("Direction") or ""))
        elif e.get("Channel") == spy and e.event == "Hangup":
            out.append(("Hangup", e.get("Cause") or ""))
    return out


def spy_on_asterisk() -> tuple[list[Message], dict[str, str]]:
    events: list[Message] = []
    decoder = AMIDecoder("client")
    with socket.create_connection(("127.0.0.1", LAB_PORTS.ami), timeout=5) as sock:
        sock.settimeout(0.05)

        def wait(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                decoder.feed(data)
                events.extend(decoder.messages())

        n = 0

        def send(action: str, **headers: str) -> None:
            nonlocal n
            n += 1
            if action == "Originate":
                headers["Async"] = "true"
            sock.sendall(encode_action(action, f"s{n}", headers.items()))

        send("Login", Username=AMI_USER, Secret=AMI_SECRET)
        wait(0.5)
        events.clear()
        names = spy_scenario(send, wait, events)
        send("Hangup", Channel="/^Local/")
        wait(0.3)
    return events, names


def spy_on_pbx_sim(config_dir: Path) -> tuple[list[Message], dict[str, str]]:
    world = World(load_config(config_dir), now=0.0)
    events: list[Message] = []
    world.subscribe(events.append)
    clock = [0.0]

    def wait(seconds: float) -> None:
        horizon = clock[0] + seconds
        while (t := world.next_wakeup()) is not None and t <= horizon:
            world.tick(t)
        world.tick(horizon)
        clock[0] = horizon

    def send(action: str, **headers: str) -> None:
        events.extend(world.run_action(clock[0], action, **headers))

    return events, spy_scenario(send, wait, events)


@pytest.fixture(scope="module")
def spy_lab(
    asterisk_install: Install,
    asterisk_netns: PrivateNetns,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    config_dir = tmp_path_factory.mktemp("spy-lab") / "config"
    shutil.copytree(LAB_CONFIG, config_dir)
    extensions = config_dir / "extensions.conf"
    extensions.write_text(extensions.read_text(encoding="utf-8") + SPY_LAB, encoding="utf-8")
    instance = AsteriskInstance(
        asterisk_install, config_dir, LAB_PORTS, state_dir=tmp_path_factory.mktemp("spy-state")
    )
    instance.start()
    try:
        yield config_dir
    finally:
        instance.stop()


def test_chanspy_mode_switching_matches_pbx_sim(spy_lab: Path) -> None:
    real, real_names = spy_on_asterisk()
    sim, sim_names = spy_on_pbx_sim(spy_lab)
    queued = [e.get("Message") for e in real if e.response is not None]
    assert queued.count("DTMF successfully queued") == 2, queued
    lane = spy_lane(real, real_names)
    # What Hotline relies on, said plainly first: the spy starts on the agent's leg, reads
    # both digits, stops when the call ends, and hangs up by itself (the E option).
    assert lane[0] == ("ChanSpyStart", "AGENT"), lane
    assert ("DTMFEnd", "6", "Received") in lane and ("DTMFEnd", "4", "Received") in lane
    assert lane[-2][0] == "ChanSpyStop" and lane[-1][0] == "Hangup", lane
    assert spy_lane(sim, sim_names) == lane
