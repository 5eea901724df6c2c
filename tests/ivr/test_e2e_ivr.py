"""The IVR end to end on pbx_sim: real sockets (AMI, FastAGI, WebSocket) and SQLite.

pbx_sim runs the Hotline dialplan: its trunk context hands each caller to the server's
FastAGI port, the caller presses keys (RFC 4733 DTMF on the simulated trunk), and the
server's flow decides the queue. Prompts last 1 s each on pbx_sim.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import pytest

from cti.center.server import HotlineServer
from cti.config import DEMO_TOML, Config, demo_config, parse_config
from cti.store import Store
from ivr.demo import DEMO_IVR_TOML
from ivr.flows import Hours
from ivr.sim import connect_sim
from pbx_sim.cli import SimHandle, build_parser
from pbx_sim.cli import start as start_sim
from pbx_sim.phones import PhoneBehaviour
from tests.cti.test_e2e_sim import PASSWORD, SECRET
from tests.harness import Client, start_server


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
    server = await start_server(config, store, sim.port, agi=True)
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


async def _wait_gone(rig: IvrRig, channel: str, within: float = 10.0) -> None:
    for _ in range(int(within * 10)):
        if not rig.alive(channel):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{channel} still up")


async def test_callback_keeps_the_callers_place(rig: IvrRig) -> None:
    """A asks for a callback and hangs up; B and C go on waiting behind A. When an agent
    is ready, Hotline rings A back through the trunk first and connects the agent; B
    stays first in line after A, C after B. One callback, no duplicate."""
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        agent = await _agent(http, rig, "80001", "8001")
        a = rig.call_in("4001", "0215550201", "A")
        qa = await sup.wait_for("call.queued", within=10)
        b = rig.call_in("4001", "0215550202", "B")
        qb = await sup.wait_for("call.queued", within=10)
        assert (qa["data"]["position"], qb["data"]["position"]) == (1, 2)
        await asyncio.sleep(0.5)  # waiting with music, listening for a key
        rig.press(a, "*")
        requested = await sup.wait_for("call.callback", within=10, state="requested")
        assert requested["data"]["call_id"] == qa["data"]["call_id"]
        assert requested["data"]["number"] == "0215550201"
        await sup.wait_for("call.callback", within=10, state="waiting")
        await _wait_gone(rig, a)
        c = rig.call_in("4001", "0215550203", "C")
        qc = await sup.wait_for("call.queued", within=10)
        assert qc["data"]["position"] == 3  # A still holds its place

        assert (await agent.ask("agent.ready"))["ok"]
        dialling = await sup.wait_for("call.callback", within=10, state="dialling")
        assert dialling["data"]["agent_id"] == "80001" and dialling["data"]["attempts"] == 1
        await sup.wait_for("call.callback", within=10, state="answered")
        ringing = await agent.wait_for("call.ringing", within=10)
        assert ringing["data"]["call_id"] == qa["data"]["call_id"]
        assert ringing["data"]["caller"] == "0215550201"
        await agent.wait_for("call.answered", within=10, call_id=qa["data"]["call_id"])
        # the customer's new channel went out through the trunk
        trunk = [c.name for c in rig.sim.world.channels.values() if "e1trunk" in c.name]
        assert len(trunk) == 3, trunk  # B, C and A's callback leg
        callbacks = [e for e in sup.events if e["event"] == "call.callback"]
        assert [e["data"]["state"] for e in callbacks].count("dialling") == 0  # consumed
        for ch in list(rig.sim.world.channels):
            if "e1trunk" in ch:
                rig.hang_up(ch)
        ended = await agent.wait_for("call.ended", within=10, call_id=qa["data"]["call_id"])
        assert ended["data"]["talk_s"] >= 0
        del b, c
    await asyncio.sleep(0.5)
    record = await rig.store.get_call(qa["data"]["call_id"])
    assert record.outcome == "answered" and record.agent_id == "80001"
    assert record.ivr_path == ("queue:fault", "callback:requested", "callback:answered")


async def test_failed_callback_is_retried_then_reported(tmp_path: Path) -> None:
    base = demo_config(ami_secret=SECRET, ivr=True)
    assert base.ivr is not None and base.ivr.callback is not None
    quick = replace(base.ivr.callback, attempts=2, retry_after_s=1.0, ring_s=5.0)
    rig = await start_ivr_rig(tmp_path, config=replace(base, ivr=replace(base.ivr, callback=quick)))
    try:
        async with aiohttp.ClientSession() as http:
            sup = await _supervisor(http, rig)
            agent = await _agent(http, rig, "80001", "8001")
            a = rig.call_in("4001", "0215550301", "A")
            queued = await sup.wait_for("call.queued", within=10)
            call_id = queued["data"]["call_id"]
            await asyncio.sleep(0.5)
            rig.press(a, "*")
            await sup.wait_for("call.callback", within=10, state="waiting")
            await _wait_gone(rig, a)
            # the customer does not answer any more
            rig.sim.world.phones.set_far_end("e1trunk", PhoneBehaviour(answer_delay=None))
            assert (await agent.ask("agent.ready"))["ok"]
            await sup.wait_for("call.callback", within=10, state="dialling")
            retry = await sup.wait_for("call.callback", within=20, state="retry")
            assert retry["data"]["attempts"] == 1
            second = await sup.wait_for("call.callback", within=10, state="dialling")
            assert second["data"]["attempts"] == 2
            failed = await sup.wait_for("call.callback", within=20, state="failed")
            assert failed["data"]["call_id"] == call_id
            # the agent was never charged a miss (no RONA) and is free again
            view = rig.server.center.acd.agent("80001")
            assert view.state.value == "ready" and view.reason is None
        await asyncio.sleep(0.5)
        record = await rig.store.get_call(call_id)
        assert record.outcome == "failed" and record.cause == "callback_failed"
        assert record.ivr_path[-1] == "callback:failed"
        assert [leg.outcome for leg in record.legs] == ["callback_failed", "callback_failed"]
    finally:
        await rig.close()


async def test_callback_refused_for_a_withheld_number(rig: IvrRig) -> None:
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        a = rig.call_in("4001", "anonymous", "")
        await sup.wait_for("call.queued", within=10)
        await asyncio.sleep(0.5)
        rig.press(a, "*")
        await asyncio.sleep(2.5)  # the "unavailable" prompt, then back to waiting
        assert rig.alive(a)
        assert not [e for e in sup.events if e["event"] == "call.callback"]
        rig.hang_up(a)


async def test_survey_after_the_agent_hangs_up(rig: IvrRig) -> None:
    async with aiohttp.ClientSession() as http:
        agent = await _agent(http, rig, "80001", "8001")
        assert (await agent.ask("agent.ready"))["ok"]
        caller = rig.call_in("4001", "0215550401", "Surveyed")  # fault: has a survey
        answered = await agent.wait_for("call.answered", within=10)
        call_id = answered["data"]["call_id"]
        await asyncio.sleep(0.3)
        phone = next(c for c in rig.sim.world.channels if c.startswith("PJSIP/8001"))
        rig.hang_up(phone)  # the agent hangs up; the caller stays for the survey
        await agent.wait_for("agent.state", within=10, state="wrap_up")
        await asyncio.sleep(0.5)
        assert rig.alive(caller)
        rig.press(caller, "4")
        ended = await agent.wait_for("call.ended", within=15, call_id=call_id)
        assert ended["data"]["call_id"] == call_id
    await asyncio.sleep(0.3)
    record = await rig.store.get_call(call_id)
    assert record.satisfaction == 4
    assert record.ivr_path == ("queue:fault", "survey=4")


async def test_no_survey_for_a_queue_without_one(rig: IvrRig) -> None:
    async with aiohttp.ClientSession() as http:
        agent = await _agent(http, rig, "80009", "8001")  # inquiry: no survey
        assert (await agent.ask("agent.ready"))["ok"]
        caller = rig.call_in("4003", "0215550402", "Not asked")
        answered = await agent.wait_for("call.answered", within=10)
        await asyncio.sleep(0.3)
        phone = next(c for c in rig.sim.world.channels if c.startswith("PJSIP/8001"))
        rig.hang_up(phone)
        await agent.wait_for("call.ended", within=10, call_id=answered["data"]["call_id"])
        await _wait_gone(rig, caller, 5)
    await asyncio.sleep(0.3)
    record = await rig.store.get_call(answered["data"]["call_id"])
    assert record.satisfaction is None


async def test_closed_hours_then_voicemail(tmp_path: Path) -> None:
    toml = (DEMO_TOML + DEMO_IVR_TOML).replace('"00:00-24:00"', '"closed"')
    toml = toml.replace('next = "callback-later"', 'next = "leave-message"')
    toml += '[ivr.nodes.leave-message]\ntype = "voicemail"\nbox = "100@default"\n'
    config = parse_config(tomllib.loads(toml), "<vm>", env={"HOTLINE_AMI_SECRET": SECRET})
    rig = await start_ivr_rig(tmp_path, config=config)
    try:
        caller = rig.call_in("4000", "0215550183", "After Hours")
        for _ in range(50):  # the closed message (1 s), then the caller speaks
            await asyncio.sleep(0.1)
            if await rig.store.query_calls():
                break
        (record,) = await rig.store.query_calls()
        assert record.outcome == "fallback" and record.cause == "ivr_voicemail"
        assert record.ivr_path == ("open-check:closed", "closed:played", "voicemail:100@default")
        await asyncio.sleep(0.5)
        assert rig.alive(caller), "still leaving the message"
        rig.hang_up(caller)
        await _wait_gone(rig, caller)
    finally:
        await rig.close()
