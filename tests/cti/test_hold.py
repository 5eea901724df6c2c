"""call.hold / call.unhold end to end: WebSocket → Hotline → AMI → pbx_sim, real SQLite.

The hold is an AMI Redirect with ExtraChannel (caller to [hotline-hold], the agent's leg
to [agent-hold]); the unhold an AMI Bridge. Checked here on the PBX side (the world's
channels) as much as on the client side (events, replies, the call record).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cti.center.server import Endpoint, HotlineServer
from cti.store.models import CallRecord
from cti.store.store import Store
from pbx_sim.world import World
from tests.harness import Client

from .test_e2e_sim import PASSWORD, Rig, start_rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = await start_rig(tmp_path)
    yield r
    await r.server.stop()
    await r.sim.close()
    await r.store.close()


def world(rig: Rig) -> World:
    return rig.sim.world


def agent_leg(rig: Rig, extension: str) -> str:
    return next(c for c in world(rig).channels if c.startswith(f"PJSIP/{extension}-"))


async def until(check: Any, within: float = 5.0) -> None:
    # The simulator's channels and the server's calls have no event to wait on: poll.
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def talking_call(rig: Rig, agent: Client, sup: Client | None = None) -> tuple[str, str]:
    """Agent 80001 at 8001 answers a caller: (call_id, caller channel)."""
    assert (await agent.ask("login", agent_id="80001", password=PASSWORD, extension="8001"))["ok"]
    if sup is not None:
        assert (await sup.ask("login", agent_id="90001", password=PASSWORD))["ok"]
        assert (await sup.ask("subscribe", topics=["calls", "agents"]))["ok"]
    assert (await agent.ask("agent.ready"))["ok"]
    caller = rig.call_in("4001", "0215550101", "张伟")
    answered = await agent.wait_for("call.answered")
    return answered["data"]["call_id"], caller


async def ended_record(rig: Rig, call_id: str) -> CallRecord:
    await until(lambda: not rig.server.center.calls)
    await rig.server._writes.join()  # the record is written after call.ended
    record = await rig.store.get_call(call_id)
    assert record.ended_at is not None
    return record


async def test_hold_then_unhold_keeps_the_call(rig: Rig) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(rig.url) as ws_agent,
        http.ws_connect(rig.url) as ws_sup,
    ):
        agent, sup = Client(ws_agent), Client(ws_sup)
        call_id, caller = await talking_call(rig, agent, sup)
        mine = agent_leg(rig, "8001")
        model_id = rig.server.center.model_id(call_id)

        held = await agent.ask("call.hold", call_id=call_id)
        assert held["ok"], held
        event = await agent.wait_for("call.hold", call_id=call_id)
        assert event["data"]["held"] is True and event["data"]["by"] == "desktop"
        seen = await sup.wait_for("call.hold", call_id=call_id)
        assert seen["data"]["agent_id"] == "80001"
        # On the PBX: the caller hears music, the agent's phone is still up, apart.
        w = world(rig)
        await until(lambda: w.channels[caller].data.get("moh") == "default")
        assert w.channels[mine].context == "agent-hold" and w.channels[mine].state == 6
        assert w.channels[caller].bridge is None and w.channels[mine].bridge is None
        # Hotline: the same call, not ended, the agent still on the call.
        assert model_id in rig.server.center.model.calls
        snap = await agent.ask("snapshot", topics=["self"])
        assert snap["data"]["agents"][0]["state"] == "on_call"
        again = await agent.ask("call.hold", call_id=call_id)
        assert again["error"]["code"] == "invalid_state"
        assert "already on hold" in again["error"]["message"]

        await asyncio.sleep(0.5)
        resumed = await agent.ask("call.unhold", call_id=call_id)
        assert resumed["ok"], resumed
        event = await agent.wait_for("call.hold", call_id=call_id, held=False)
        assert event["data"]["hold_s"] >= 0.4
        await until(lambda: w.channels[caller].bridge is not None)
        assert w.channels[caller].bridge is w.channels[mine].bridge
        assert "moh" not in w.channels[caller].data
        twice = await agent.ask("call.unhold", call_id=call_id)
        assert twice["error"]["code"] == "invalid_state"
        assert "not on hold" in twice["error"]["message"]
        assert rig.server.center.model_id(call_id) == model_id

        # Held again, resumed again: the hold time adds up; then the caller hangs up.
        assert (await agent.ask("call.hold", call_id=call_id))["ok"]
        await agent.wait_for("call.hold", call_id=call_id, held=True)
        await asyncio.sleep(0.3)
        assert (await agent.ask("call.unhold", call_id=call_id))["ok"]
        await agent.wait_for("call.hold", call_id=call_id, held=False)
        rig.hang_up(caller)
        ended = await agent.wait_for("call.ended", call_id=call_id)
        assert ended["data"]["hold_s"] >= 0.7
        assert ended["data"]["talk_s"] > ended["data"]["hold_s"]  # talk_s includes hold
        await agent.wait_for("agent.state", state="wrap_up")
        await until(lambda: not w.channels)  # the agent's leg hung up after the caller's
    record = await ended_record(rig, call_id)
    assert record.outcome == "answered" and record.agent_id == "80001"
    assert record.hold_s is not None and record.hold_s >= 0.7
    assert record.talk_s is not None and record.talk_s > record.hold_s
    assert len(await rig.store.query_calls()) == 1


async def test_caller_hangs_up_while_held(rig: Rig) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(rig.url) as ws:
        agent = Client(ws)
        call_id, caller = await talking_call(rig, agent)
        assert (await agent.ask("call.hold", call_id=call_id))["ok"]
        await agent.wait_for("call.hold", call_id=call_id, held=True)
        await asyncio.sleep(0.2)
        rig.hang_up(caller)
        # Nothing on the PBX ties the agent's held leg to the caller: Hotline ends it.
        await until(lambda: not world(rig).channels)
        ended = await agent.wait_for("call.ended", call_id=call_id)
        assert ended["data"]["hold_s"] >= 0.2
        await agent.wait_for("agent.state", state="wrap_up")
    record = await ended_record(rig, call_id)
    assert record.hold_s is not None and record.hold_s >= 0.2
    assert len(await rig.store.query_calls()) == 1


async def test_agent_hangs_up_while_held(rig: Rig) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(rig.url) as ws:
        agent = Client(ws)
        call_id, caller = await talking_call(rig, agent)
        mine = agent_leg(rig, "8001")
        assert (await agent.ask("call.hold", call_id=call_id))["ok"]
        await agent.wait_for("call.hold", call_id=call_id, held=True)
        rig.hang_up(mine)  # the agent puts the handset down
        # The caller is not left with the music: Hotline hangs it up.
        await until(lambda: caller not in world(rig).channels)
        await agent.wait_for("call.ended", call_id=call_id)
        await agent.wait_for("agent.state", state="wrap_up")
    record = await ended_record(rig, call_id)
    assert record.outcome == "answered" and record.hold_s is not None
    assert len(await rig.store.query_calls()) == 1


async def test_hold_refused_when_not_answered_or_not_yours(tmp_path: Path) -> None:
    r = await start_rig(tmp_path, answer_delay=-1)  # phones ring for ever
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(r.url) as ws1,
            http.ws_connect(r.url) as ws2,
        ):
            agent, other = Client(ws1), Client(ws2)
            await agent.ask("login", agent_id="80001", password=PASSWORD, extension="8001")
            await other.ask("login", agent_id="80002", password=PASSWORD, extension="8002")
            await agent.ask("agent.ready")
            r.call_in("4001", "0215550101", "张伟")
            ringing = await agent.wait_for("call.ringing")
            call_id = ringing["data"]["call_id"]
            early = await agent.ask("call.hold", call_id=call_id)
            assert early["error"]["code"] == "invalid_state"
            assert "not answered" in early["error"]["message"]
            unhold = await agent.ask("call.unhold", call_id=call_id)
            assert unhold["error"]["code"] == "invalid_state"
            foreign = await other.ask("call.hold", call_id=call_id)
            assert foreign["error"]["code"] == "forbidden"
            missing = await agent.ask("call.hold", call_id="1.2345")
            assert missing["error"]["code"] == "not_found"
    finally:
        await r.server.stop()
        await r.sim.close()
        await r.store.close()


async def test_hold_from_the_phone_is_reported(rig: Rig) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(rig.url) as ws_agent,
        http.ws_connect(rig.url) as ws_sup,
    ):
        agent, sup = Client(ws_agent), Client(ws_sup)
        call_id, caller = await talking_call(rig, agent, sup)
        mine = agent_leg(rig, "8001")
        runner = rig.sim.server.runner
        world(rig).phone_hold(runner.now(), mine)  # the agent presses hold on the phone
        runner.poke()
        event = await sup.wait_for("call.hold", call_id=call_id)
        assert event["data"]["held"] is True and event["data"]["by"] == "phone"
        await agent.wait_for("call.hold", call_id=call_id, held=True)
        desk = await agent.ask("call.hold", call_id=call_id)
        assert desk["error"]["code"] == "invalid_state" and "phone" in desk["error"]["message"]
        resume = await agent.ask("call.unhold", call_id=call_id)
        assert resume["error"]["code"] == "invalid_state"
        assert "phone" in resume["error"]["message"]
        await asyncio.sleep(0.2)
        world(rig).phone_hold(runner.now(), mine, on=False)
        runner.poke()
        off = await sup.wait_for("call.hold", call_id=call_id, held=False)
        assert off["data"]["by"] == "phone" and off["data"]["hold_s"] >= 0.2
        rig.hang_up(caller)
        await agent.wait_for("call.ended", call_id=call_id)
    record = await ended_record(rig, call_id)
    assert record.hold_s is not None and record.hold_s >= 0.2


async def test_transfers_from_hold(rig: Rig) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(rig.url) as ws_agent,
        http.ws_connect(rig.url) as ws_sup,
    ):
        agent, sup = Client(ws_agent), Client(ws_sup)
        call_id, caller = await talking_call(rig, agent, sup)
        mine = agent_leg(rig, "8001")
        assert (await agent.ask("call.hold", call_id=call_id))["ok"]
        await agent.wait_for("call.hold", call_id=call_id, held=True)
        attended = await agent.ask("call.transfer", call_id=call_id, to="8002", mode="attended")
        assert attended["error"]["code"] == "invalid_state"
        assert "call.unhold" in attended["error"]["message"]
        blind = await agent.ask("call.transfer", call_id=call_id, to="8002", mode="blind")
        assert blind["ok"], blind
        await sup.wait_for("call.hold", call_id=call_id, held=False)
        await sup.wait_for("call.transferred", call_id=call_id)
        await agent.wait_for("agent.state", state="wrap_up")
        w = world(rig)
        await until(lambda: mine not in w.channels)
        await until(lambda: w.channels[caller].bridge is not None)
        [new_agent] = [c.name for c in w.channels[caller].bridge.channels if c.name != caller]
        assert new_agent.startswith("PJSIP/8002-")
        rig.hang_up(caller)
        await sup.wait_for("call.ended", call_id=call_id)
    record = await ended_record(rig, call_id)
    assert record.hold_s is not None and record.hold_s > 0
    assert len(await rig.store.query_calls()) == 1


async def test_conference_from_hold(rig: Rig) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(rig.url) as ws:
        agent = Client(ws)
        call_id, caller = await talking_call(rig, agent)
        mine = agent_leg(rig, "8001")
        assert (await agent.ask("call.hold", call_id=call_id))["ok"]
        await agent.wait_for("call.hold", call_id=call_id, held=True)
        conf = await agent.ask("call.conference", call_id=call_id, to="8002")
        assert conf["ok"], conf
        await agent.wait_for("call.hold", call_id=call_id, held=False)
        w = world(rig)

        def three_in_a_room() -> bool:
            bridge = w.channels[caller].bridge
            return bridge is not None and len(bridge.channels) >= 3

        await until(three_in_a_room)
        bridge = w.channels[caller].bridge
        assert bridge is not None and w.channels[mine].bridge is bridge
        assert any(c.name.startswith("PJSIP/8002-") for c in bridge.channels)
        for name in list(w.channels):
            rig.hang_up(name)
        await agent.wait_for("call.ended", call_id=call_id)


async def test_hotline_restart_while_held_then_unhold(rig: Rig) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(rig.url) as ws:
            agent = Client(ws)
            call_id, caller = await talking_call(rig, agent)
            assert (await agent.ask("call.hold", call_id=call_id))["ok"]
            await agent.wait_for("call.hold", call_id=call_id, held=True)
        await rig.server.stop()
        rig.server = HotlineServer(
            rig.server.config,
            rig.store,
            ami=Endpoint("127.0.0.1", rig.sim.port),
            http=Endpoint("127.0.0.1", 0),
        )
        await rig.server.start()
        await rig.server.link.wait_up(10)
        rig.url = f"http://127.0.0.1:{rig.server.http_port}/ws"
        async with http.ws_connect(rig.url) as ws:
            agent = Client(ws)
            await agent.ask("login", agent_id="80001", password=PASSWORD, extension="8001")
            # The adopted call is known to be on hold: it can be resumed.
            resumed = await agent.ask("call.unhold", call_id=call_id)
            assert resumed["ok"], resumed
            await agent.wait_for("call.hold", call_id=call_id, held=False)
            w = world(rig)
            await until(lambda: w.channels[caller].bridge is not None)
            rig.hang_up(caller)
            await until(lambda: not w.channels)


async def test_hold_s_round_trip_in_the_store(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "h.db")
    try:
        await store.upsert_call(CallRecord(call_id="c1", started_at=1.0, talk_s=30.0, hold_s=12.5))
        await store.upsert_call(CallRecord(call_id="c2", started_at=2.0, talk_s=30.0))
        assert (await store.get_call("c1")).hold_s == 12.5
        assert (await store.get_call("c2")).hold_s is None
    finally:
        await store.close()
