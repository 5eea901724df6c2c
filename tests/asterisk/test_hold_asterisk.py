"""Hotline's hold, as AMI actions, on a real Asterisk 22 and on pbx_sim side by side.

The same scenario runs on both: a Dial pair made of Local channels (the caller's channel
runs ``Dial``; the callee ``Local/agent@holdlab-…;1`` has no dialplan of its own, like an
agent's phone leg), then what ``call.hold`` sends (Redirect with ExtraChannel into the
``[hotline-hold]`` and ``[agent-hold]`` contexts, taken verbatim from
``pbx_sim/dialplan/hotline.conf``), what ``call.unhold`` sends (Bridge) and a hang-up.
What each of the two channels goes through (dialplan positions, applications, bridge
enter/leave, music on hold, BRIDGEPEER/DIALSTATUS, hang-up causes) must be the same.
"""

from __future__ import annotations

import re
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
from pbx_sim.config import HOTLINE_DIR, load_config
from pbx_sim.world import World

from .conftest import AMI_SECRET, AMI_USER, LAB_CONFIG, LAB_PORTS

pytestmark = pytest.mark.asterisk

HOLD_LAB = """
[holdlab]
exten => caller,1,Answer()
 same => n,Dial(Local/agent@holdlab/n)
 same => n,Hangup()
exten => agent,1,Answer()
 same => n,Wait(600)
 same => n,Hangup()
"""


def hold_contexts() -> str:
    """``[hotline-hold]`` and ``[agent-hold]`` as pbx_sim's dialplan has them."""
    text = (HOTLINE_DIR / "hotline.conf").read_text(encoding="utf-8")
    found = re.findall(r"^\[(?:hotline-hold|agent-hold)\]\n(?:(?!\[).*\n?)*", text, re.M)
    assert len(found) == 2, "hotline.conf lost its hold contexts"
    return "\n".join(found)


def lab_config(directory: Path) -> Path:
    shutil.copytree(LAB_CONFIG, directory)
    extensions = directory / "extensions.conf"
    extensions.write_text(
        extensions.read_text(encoding="utf-8") + HOLD_LAB + "\n" + hold_contexts(),
        encoding="utf-8",
    )
    return directory


# -- one scenario, two PBXs ------------------------------------------------------------------

Send = Callable[..., None]
Wait = Callable[[float], None]


def scenario(send: Send, wait: Wait, events: list[Message], ending: str) -> tuple[str, str]:
    """Returns the caller's and the agent's channel names."""
    send("Originate", Channel="Local/caller@holdlab/n", Application="Wait", Data="600")
    wait(1.0)
    names = [e["Channel"] for e in events if e.event == "Newchannel"]
    caller = next(n for n in names if n.startswith("Local/caller@holdlab-") and n.endswith(";2"))
    agent = next(n for n in names if n.startswith("Local/agent@holdlab-") and n.endswith(";1"))
    events.clear()
    send(
        "Redirect",
        Channel=caller,
        Context="hotline-hold",
        Exten="s",
        Priority="1",
        ExtraChannel=agent,
        ExtraContext="agent-hold",
        ExtraExten="s",
        ExtraPriority="1",
    )
    wait(1.0)
    send("Bridge", Channel1=caller, Channel2=agent)
    wait(1.0)
    send("Hangup", Channel=agent if ending == "agent" else caller, Cause="16")
    wait(1.5)
    return caller, agent


def lane(events: list[Message], channel: str, names: dict[str, str]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for e in events:
        if e.get("Channel") != channel:
            continue
        where = (e.get("Context") or "", e.get("Exten") or "", e.get("Priority") or "")
        if e.event == "Newexten":
            out.append(("Newexten", *where, e.get("Application") or ""))
        elif e.event == "VarSet" and e.get("Variable") in ("BRIDGEPEER", "DIALSTATUS"):
            value = e.get("Value") or ""
            out.append(("VarSet", e.get("Variable") or "", names.get(value, value)))
        elif e.event in ("BridgeEnter", "BridgeLeave", "MusicOnHoldStart", "MusicOnHoldStop"):
            out.append((e.event, *where))
        elif e.event == "Hangup":
            out.append(("Hangup", *where, e.get("Cause") or ""))
    return out


def responses(events: list[Message]) -> list[str]:
    return [e.get("Message") or "" for e in events if e.response is not None]


def on_asterisk(ending: str) -> tuple[list[Message], str, str]:
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
            sock.sendall(encode_action(action, f"h{n}", headers.items()))

        send("Login", Username=AMI_USER, Secret=AMI_SECRET)
        wait(0.5)
        events.clear()
        caller, agent = scenario(send, wait, events, ending)
        send("Hangup", Channel="/^Local/")
        wait(0.3)
    return events, caller, agent


def on_pbx_sim(config_dir: Path, ending: str) -> tuple[list[Message], str, str]:
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

    caller, agent = scenario(send, wait, events, ending)
    return events, caller, agent


@pytest.fixture(scope="module")
def hold_lab(
    asterisk_install: Install,
    asterisk_netns: PrivateNetns,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AsteriskInstance, Path]]:
    config_dir = lab_config(tmp_path_factory.mktemp("hold-lab") / "config")
    instance = AsteriskInstance(
        asterisk_install,
        config_dir,
        LAB_PORTS,
        state_dir=tmp_path_factory.mktemp("hold-state"),
    )
    instance.start()
    try:
        yield instance, config_dir
    finally:
        instance.stop()


@pytest.mark.parametrize("ending", ["agent", "caller"])
def test_hold_and_unhold_sequence_matches_pbx_sim(
    hold_lab: tuple[AsteriskInstance, Path], ending: str
) -> None:
    _instance, config_dir = hold_lab
    real, r_caller, r_agent = on_asterisk(ending)
    sim, s_caller, s_agent = on_pbx_sim(config_dir, ending)
    real_names = {r_caller: "CALLER", r_agent: "AGENT"}
    sim_names = {s_caller: "CALLER", s_agent: "AGENT"}
    # What Hotline relies on, said plainly first (a clearer failure than a lane diff):
    assert responses(real)[:2] == ["Dual Redirect successful", "Channels have been bridged"]
    assert responses(sim)[:2] == responses(real)[:2]
    real_caller = lane(real, r_caller, real_names)
    assert ("Newexten", "hotline-hold", "s", "2", "MusicOnHold") in real_caller
    assert ("BridgeEnter", "hotline-hold", "s", "3") in real_caller
    real_agent = lane(real, r_agent, real_names)
    assert ("Newexten", "agent-hold", "s", "2", "Wait") in real_agent
    hangups = [e for e in real if e.event == "Hangup" and e["Channel"] in real_names]
    assert len(hangups) == 2  # both end (in no fixed order: two threads publish them)
    # The party left alone goes on to the Hangup() after its hold application.
    survivor = real_caller if ending == "agent" else real_agent
    assert survivor[-2][0] == "Newexten" and survivor[-2][-1] == "Hangup"
    # ...then pbx_sim must agree on everything each of the two channels went through.
    assert lane(sim, s_caller, sim_names) == real_caller
    assert lane(sim, s_agent, sim_names) == real_agent
