"""Recordings started by the dialplan, with the AMI permissions of the generated
manager.conf (``write = call,originate,reporting``: no ``system``).

pbx_sim refuses actions outside the user's write classes as Asterisk does ("Permission
denied"), so the ``MixMonitor`` *action* cannot start anything here: a recording that
starts proves it came from [agent-dial]'s ``Dial(...U(hotline-record^FILE))``, with the
file Hotline passed in the caller's ``HOTLINE_RECORD`` (AMI ``Setvar``, class ``call``).
Pause and resume (``MixMonitorMute``, class ``call``) still work; an agent's on-demand
start goes through the dialplan's hotline-record-now feature (``Setvar`` and ``PlayDTMF
Receive``, class ``call``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from cti.config import Config, demo_config
from cti.store import Store
from pbx_sim.channels import Channel
from pbx_sim.cli import build_parser
from pbx_sim.cli import start as start_sim
from pbx_sim.world import World
from recorder.core import ON_DEMAND_VARIABLE, RECORD_VARIABLE
from recorder.index import SearchFilter
from tests.harness import Client, start_server
from tests.recorder.test_recording_e2e import PASSWORD, RECORDING, SECRET, Rig

WITHOUT_SYSTEM = "call,originate,reporting"  # cti/asterisk/genconf.py's manager.conf


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    args = build_parser().parse_args(
        [
            "--ami-port", "0", "--ami-user", "hotline", "--ami-secret", SECRET,
            "--agents", "6", "--answer-delay", "0.2",
            "--spool-dir", str(tmp_path / "spool"),
        ]
    )  # fmt: skip
    sim = await start_sim(args)
    sim.world.config.managers["hotline"].write = WITHOUT_SYSTEM  # read at Login
    config: Config = demo_config(ami_secret=SECRET)
    recordings = tmp_path / "recordings"
    config = replace(
        config, store=replace(config.store, recordings_dir=recordings), recording=RECORDING
    )
    store = await Store.open(tmp_path / "hotline.db")
    await store.seed_from_config(config, PASSWORD)
    server = await start_server(config, store, sim.port)
    yield Rig(sim, server, store, f"http://127.0.0.1:{server.http_port}", recordings)
    await server.stop()
    await sim.close()
    await store.close()


async def agent_client(http: aiohttp.ClientSession, rig: Rig, agent_id: str) -> Client:
    ws = await http.ws_connect(rig.ws_url)
    client = Client(ws)
    extension = "8" + agent_id[-3:]
    hello = await client.ask("login", agent_id=agent_id, password=PASSWORD, extension=extension)
    assert hello["ok"], hello
    assert (await client.ask("agent.ready"))["ok"]
    return client


async def test_the_mixmonitor_action_is_refused_without_system(rig: Rig) -> None:
    """The premise: with these permissions the AMI action cannot record."""
    world = rig.sim.world
    assert world.config.managers["hotline"].write == WITHOUT_SYSTEM
    refused = await rig.server.link.send_action(
        "MixMonitor", [("Channel", "PJSIP/8001-00000000"), ("File", "x.wav")], check=False
    )
    assert not refused.success
    assert refused.response.get("Message") == "Permission denied"
    allowed = await rig.server.link.send_action(
        "MixMonitorMute", [("Channel", "PJSIP/none"), ("State", "1")], check=False
    )
    assert allowed.response.get("Message") == "No such channel"  # class call: it ran


async def test_policy_recording_starts_from_the_dialplan(rig: Rig) -> None:
    async with aiohttp.ClientSession() as http:
        agent = await agent_client(http, rig, "80001")
        caller = rig.call_in("4001", "0215550101", "张伟")  # queue fault: always
        answered = await agent.wait_for("call.answered")
        call_id = answered["data"]["call_id"]
        started = await agent.wait_for("call.recording", call_id=call_id, state="started")
        recording_id = started["data"]["recording_id"]
        assert recording_id == f"{call_id}-r1"
        assert started["data"]["on_demand"] is False
        # The caller carries the file; the agent's leg got it as the routine's ARG1.
        world = rig.sim.world
        caller_chan = world.channels[caller]
        day = datetime.now(UTC)
        expected = rig.recordings.absolute() / f"{day:%Y/%m/%d}" / f"{recording_id}.wav"
        assert caller_chan.variables.get(RECORD_VARIABLE) == str(expected)
        [agent_leg] = [c for c in world.channels.values() if c.name.startswith("PJSIP/8001-")]
        assert agent_leg.variables.get("MIXMONITOR_FILENAME") == str(expected)
        assert "ARG1" not in agent_leg.variables  # local to the routine
        assert agent_leg.context != "hotline-record"  # back from the Gosub
        # Pause and resume are AMI actions of class call: allowed.
        await asyncio.sleep(0.3)
        assert (await agent.ask("call.record_pause", call_id=call_id))["ok"]
        await agent.wait_for("call.recording", call_id=call_id, state="paused")
        await asyncio.sleep(0.2)
        assert (await agent.ask("call.record_resume", call_id=call_id))["ok"]
        await agent.wait_for("call.recording", call_id=call_id, state="resumed")
        # A policy recording cannot be started twice.
        again = await agent.ask("call.record", call_id=call_id)
        assert again["error"]["code"] == "conflict"
        await asyncio.sleep(0.3)
        rig.hang_up(caller)
        stopped = await agent.wait_for("call.recording", call_id=call_id, state="stopped")
        assert stopped["data"]["duration_s"] > 0.6
        assert 0.1 < stopped["data"]["paused_s"] < 0.5
        await rig.server.recorder.drain()
        [row] = await rig.server.recorder.index.search(SearchFilter(call_id=call_id))
        assert row.state == "complete"
        assert row.path == f"{day:%Y/%m/%d}/{recording_id}.wav"
        assert expected.stat().st_size == row.size > 44
        await agent.ws.close()


async def test_on_demand_starts_through_the_dialplan_feature(rig: Rig) -> None:
    """An agent's start without ``system``: the file on the agent's leg (``Setvar``),
    the hotline-record-now feature's key queued on it (``PlayDTMF Receive``), and the
    bridge runs [hotline-record-now], which starts MixMonitor there."""
    async with aiohttp.ClientSession() as http:
        agent = await agent_client(http, rig, "80005")  # has complaint
        caller = rig.call_in("4002", "0215550103", "王芳")  # queue complaint: on_demand
        answered = await agent.wait_for("call.answered")
        call_id = answered["data"]["call_id"]
        world = rig.sim.world
        # Nothing to record: no Setvar was needed (the variable was never set).
        assert RECORD_VARIABLE not in world.channels[caller].variables
        [agent_leg] = [c for c in world.channels.values() if c.name.startswith("PJSIP/8005-")]
        assert "mixmonitor" not in agent_leg.data
        assert agent_leg.variables.get("DYNAMIC_FEATURES") == "hotline-record-now"
        await asyncio.sleep(0.3)
        started = await agent.ask("call.record", call_id=call_id)
        assert started["ok"], started
        recording_id = started["data"]["recording_id"]
        event = await agent.wait_for("call.recording", call_id=call_id, state="started")
        assert event["data"]["on_demand"] is True
        day = datetime.now(UTC)
        expected = rig.recordings.absolute() / f"{day:%Y/%m/%d}" / f"{recording_id}.wav"
        assert agent_leg.variables.get("MIXMONITOR_FILENAME") == str(expected)
        assert agent_leg.variables.get(ON_DEMAND_VARIABLE) == ""  # the routine cleared it
        assert agent_leg.bridge is not None and caller_in_bridge(world, caller, agent_leg)
        await asyncio.sleep(0.5)
        assert (await agent.ask("call.record_stop", call_id=call_id))["ok"]
        await agent.wait_for("call.recording", call_id=call_id, state="stopped")
        rig.hang_up(caller)
        await agent.wait_for("call.ended", call_id=call_id)
        await rig.server.recorder.drain()
        [row] = await rig.server.recorder.index.search(SearchFilter(call_id=call_id))
        assert row.state == "complete" and row.on_demand
        assert expected.stat().st_size == row.size > 44
        await agent.ws.close()


def caller_in_bridge(world: World, caller: str, agent_leg: Channel) -> bool:
    """The two parties are still bridged together (the feature ran without a break)."""
    return world.channels[caller].bridge is agent_leg.bridge
