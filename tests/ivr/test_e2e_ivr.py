"""The IVR end to end on pbx_sim: real sockets (AMI, FastAGI, WebSocket) and SQLite.

pbx_sim runs the Hotline dialplan: its trunk context hands each caller to the server's
FastAGI port, the caller presses keys (RFC 4733 DTMF on the simulated trunk), and the
server's flow decides the queue. Prompts last 1 s each on pbx_sim.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import pytest

from cti.center.server import Endpoint, HotlineServer
from cti.config import Config, demo_config
from cti.link import LinkSettings
from cti.store import Store
from ivr.flows import Hours
from ivr.sim import connect_sim
from pbx_sim.cli import SimHandle, build_parser
from pbx_sim.cli import start as start_sim
from tests.cti.test_e2e_sim import PASSWORD, SECRET, Client


@dataclass
class IvrRig:
    sim: SimHandle
    server: HotlineServer
    store: Store
    url: str

    def call_in(self, did: str, number: str, name: str = "") -> str:
        runner = self.sim.server.runner
        call = self.sim.world.trunk_call(runner.now(), did, number, name)
        runner.poke()
        assert call.admitted
        return call.channel

    def press(self, channel: str, digits: str) -> None:
        runner = self.sim.server.runner
        self.sim.world.send_dtmf(runner.now(), channel, digits)
        runner.poke()

    def hang_up(self, channel: str) -> None:
        runner = self.sim.server.runner
        self.sim.world.hangup(runner.now(), channel)
        runner.poke()

    def alive(self, channel: str) -> bool:
        chan = self.sim.world.channels.get(channel)
        return chan is not None and not chan.dead

    async def close(self) -> None:
        await self.server.stop()
        await self.sim.close()
        await self.store.close()


async def start_ivr_rig(
    tmp_path: Path, *, config: Config | None = None, answer_delay: float = 0.3
) -> IvrRig:
    args = build_parser().parse_args(
        [
            "--ami-port", "0", "--ami-user", "hotline", "--ami-secret", SECRET,
            "--agents", "4", "--answer-delay", str(answer_delay),
            "--spool-dir", str(tmp_path / "spool"),
        ]
    )  # fmt: skip
    sim = await start_sim(args)
    config = config or demo_config(ami_secret=SECRET, ivr=True)
    store = await Store.open(tmp_path / "hotline.db")
    await store.seed_from_config(config, PASSWORD)
    await store.create_customer(name="张伟", phones=["0215550101"], notes="VIP, fault reports")
    await store.create_customer(name="李娜", phones=["0215550102"], notes="regular")
    server = HotlineServer(
        config,
        store,
        ami=Endpoint("127.0.0.1", sim.port),
        http=Endpoint("127.0.0.1", 0),
        agi=Endpoint("127.0.0.1", 0),
        link_settings=LinkSettings(ping_interval=2.0, ping_timeout=2.0),
    )
    await server.start()
    await server.link.wait_up(10)
    assert server.ivr is not None
    connect_sim(sim, "127.0.0.1", server.ivr.port)
    return IvrRig(sim, server, store, f"http://127.0.0.1:{server.http_port}/ws")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[IvrRig]:
    r = await start_ivr_rig(tmp_path)
    yield r
    await r.close()


async def _agent(http: aiohttp.ClientSession, rig: IvrRig, agent_id: str, ext: str) -> Client:
    ws = await http.ws_connect(rig.url)
    client = Client(ws)
    login = await client.ask("login", agent_id=agent_id, password=PASSWORD, extension=ext)
    assert login["ok"], login
    return client


async def _supervisor(http: aiohttp.ClientSession, rig: IvrRig) -> Client:
    sup = Client(await http.ws_connect(rig.url))
    assert (await sup.ask("login", agent_id="90001", password=PASSWORD))["ok"]
    assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
    return sup


async def test_menu_key_1_then_2_lands_in_fault_with_the_path(rig: IvrRig) -> None:
    async with aiohttp.ClientSession() as http:
        agent = await _agent(http, rig, "80001", "8001")  # fault 9
        sup = await _supervisor(http, rig)
        assert (await agent.ask("agent.ready"))["ok"]
        caller = rig.call_in("4000", "0215550177", "Menu Caller")
        await asyncio.sleep(0.5)
        rig.press(caller, "1")  # main menu: 1 = faults (a sub-menu)
        await asyncio.sleep(1.5)
        rig.press(caller, "2")  # fault menu: 2 = the fault queue
        queued = await sup.wait_for("call.queued", within=15)
        assert queued["data"]["queue"] == "fault"
        assert queued["data"]["ivr"] == ["open-check:open", "main:1", "fault-menu:2", "queue:fault"]
        call_id = queued["data"]["call_id"]
        ringing = await agent.wait_for("call.ringing", call_id=call_id)
        assert ringing["data"]["ivr"] == queued["data"]["ivr"]
        await agent.wait_for("call.answered", call_id=call_id)
        rig.hang_up(caller)
        await agent.wait_for("call.ended", call_id=call_id)
    await asyncio.sleep(0.3)
    record = await rig.store.get_call(call_id)
    assert record.queue == "fault" and record.outcome == "answered"
    assert record.ivr_path == ("open-check:open", "main:1", "fault-menu:2", "queue:fault")


async def test_collected_digits_travel_with_the_call(rig: IvrRig) -> None:
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        caller = rig.call_in("4000", "0215550178")
        await asyncio.sleep(0.5)
        rig.press(caller, "1")
        await asyncio.sleep(1.5)
        rig.press(caller, "1")  # fault menu: 1 = give the account number
        await asyncio.sleep(1.5)
        rig.press(caller, "123456#")
        queued = await sup.wait_for("call.queued", within=15)
        assert queued["data"]["ivr"][-2:] == ["account=123456", "queue:fault"]
        rig.hang_up(caller)


async def test_invalid_key_then_timeouts_take_the_default_route(rig: IvrRig) -> None:
    """Key 7 is no option (invalid prompt, again); then silence until the three tries are
    used: the menu's default (general)."""
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        caller = rig.call_in("4000", "0215550179")
        await asyncio.sleep(0.5)
        rig.press(caller, "7")
        queued = await sup.wait_for("call.queued", within=30)
        assert queued["data"]["queue"] == "general"
        assert queued["data"]["ivr"] == [
            "open-check:open", "main:invalid", "main:timeout", "main:timeout", "queue:general",
        ]  # fmt: skip
        rig.hang_up(caller)


async def test_direct_number_and_skill_route_skip_the_menu(rig: IvrRig) -> None:
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        caller = rig.call_in("4003", "0215550180")  # ivr.routes: 4003 -> inquiry (a skill)
        queued = await sup.wait_for("call.queued", within=10)
        assert queued["data"]["queue"] == "inquiry"
        assert queued["data"]["ivr"] == ["queue:inquiry"]
        rig.hang_up(caller)


async def test_known_vip_caller_is_greeted_and_jumps_ahead(rig: IvrRig) -> None:
    """Two callers wait in fault with no agent ready; the VIP (notes "VIP") arrives second
    but is offered first, and the flow greeted it."""
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        agent = await _agent(http, rig, "80001", "8001")
        first = rig.call_in("4001", "0215550102", "李娜")  # known, not VIP
        q1 = await sup.wait_for("call.queued", within=10)
        vip = rig.call_in("4001", "0215550101", "张伟")
        q2 = await sup.wait_for("call.queued", within=10)
        assert q1["data"]["ivr"] == ["greeting", "queue:fault"]
        assert q2["data"]["ivr"] == ["greeting", "vip", "queue:fault"]
        assert q2["data"]["position"] == 1  # ahead of the first caller
        assert (await agent.ask("agent.ready"))["ok"]
        ringing = await agent.wait_for("call.ringing", within=10)
        assert ringing["data"]["call_id"] == q2["data"]["call_id"]
        rig.hang_up(first)
        rig.hang_up(vip)


async def test_closed_hours_message_then_callback_request_recorded(tmp_path: Path) -> None:
    base = demo_config(ami_secret=SECRET, ivr=True)
    assert base.ivr is not None
    closed = Hours(timezone="Asia/Shanghai", week=((),) * 7, always_open=False)
    config = replace(base, ivr=replace(base.ivr, hours=closed))
    rig = await start_ivr_rig(tmp_path, config=config)
    try:
        caller = rig.call_in("4000", "0215550181", "Late Caller")
        for _ in range(60):
            await asyncio.sleep(0.1)
            if not rig.alive(caller):
                break
        assert not rig.alive(caller), "the flow hangs up after the closed message"
        await asyncio.sleep(0.3)
        calls = await rig.store.query_calls()
        assert len(calls) == 1
        record = calls[0]
        assert record.outcome == "fallback" and record.queue is None
        assert record.ivr_path == ("open-check:closed", "closed:played", "callback_request")
        assert record.caller_number == "0215550181" and record.dialled_number == "4000"
    finally:
        await rig.close()


async def test_caller_hanging_up_in_the_menu_is_recorded_as_abandoned(rig: IvrRig) -> None:
    caller = rig.call_in("4000", "0215550182")
    await asyncio.sleep(0.5)
    rig.hang_up(caller)
    for _ in range(50):
        await asyncio.sleep(0.1)
        if await rig.store.query_calls():
            break
    (record,) = await rig.store.query_calls()
    assert record.outcome == "abandoned"
    assert record.ivr_path == ("open-check:open", "hangup:caller")


def test_hours_are_checked_in_the_configured_zone() -> None:
    config = demo_config(ami_secret=SECRET, ivr=True)
    assert config.ivr is not None
    week = (((8 * 60, 20 * 60),),) * 5 + ((), ())
    hours = Hours("Asia/Shanghai", week, frozenset({dt.date(2026, 10, 1)}), always_open=False)
    utc = dt.UTC
    assert hours.is_open(dt.datetime(2026, 11, 23, 1, 0, tzinfo=utc))  # Mon 09:00 Shanghai
    assert not hours.is_open(dt.datetime(2026, 11, 23, 13, 0, tzinfo=utc))  # Mon 21:00
    assert not hours.is_open(dt.datetime(2026, 11, 22, 3, 0, tzinfo=utc))  # Sunday
    assert not hours.is_open(dt.datetime(2026, 10, 1, 3, 0, tzinfo=utc))  # a holiday
