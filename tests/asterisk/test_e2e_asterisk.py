"""Hotline end to end on a real Asterisk 22, with the configuration Hotline generates.

Asterisk runs in the test's private network namespace with ``pjsip.conf``,
``extensions.conf``, ``manager.conf``... generated from the Hotline configuration below
(:mod:`cti.asterisk.genconf`); the Hotline server connects over AMI as the generated AMI
user (only the classes Hotline needs), serves WebSocket on 127.0.0.1 and writes a real
SQLite file. Carrier calls enter the trunk context by AMI Originate of Local channels
(:class:`cti.asterisk.stack.AmiCarrier`) or as SIP INVITEs from the carrier's trunk
endpoint; agents' phones are pjsua2 softphones registered with the generated passwords
(:mod:`pbx_sim.sip`).
"""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cti.asterisk.instance import Ports
from cti.asterisk.stack import AmiCarrier, GeneratedAsterisk
from cti.center.server import Endpoint, HotlineServer
from cti.config import Config, parse_config
from cti.link import LinkSettings
from cti.store import Store
from pbx_sim.sip import AgentPolicy, Phone, PhoneCall, SoftphoneError, Softphones, TrunkCaller
from tests.asterisk.hotline_rig import generated_asterisk
from tests.harness import Client

pytestmark = pytest.mark.asterisk

AMI_SECRET = "e2e-ami-secret"
PASSWORD = "pw-e2e"
PORTS = Ports(ami=15038, sip=15060)

E2E_TOML = """
[ami]
port = 15038
secret_env = "HOTLINE_AMI_SECRET"
[skills]
general = "general calls"
fault = "faults"
[[queues]]
name = "general"
skills = { general = 1 }
ring_timeout_s = 3
wrap_up_s = 1
[[queues]]
name = "fault"
skills = { fault = 5 }
priority = 10
ring_timeout_s = 3
wrap_up_s = 1
[[agents]]
id = "80001"
name = "Zhang Wei"
extension = "8001"
skills = { general = 5, fault = 9 }
[[agents]]
id = "80002"
name = "Wang Fang"
extension = "8002"
skills = { general = 5 }
[[agents]]
id = "80003"
name = "Li Na"
extension = "8003"
skills = { general = 5 }
[[agents]]
id = "90001"
name = "Supervisor"
extension = "9001"
role = "supervisor"
[[trunks]]
name = "e1"
channels = 30
default_queue = "general"
  [trunks.routes]
  "4000" = "general"
  "4001" = "fault"
"""


def e2e_config() -> Config:
    return parse_config(
        tomllib.loads(E2E_TOML), "<e2e config>", env={"HOTLINE_AMI_SECRET": AMI_SECRET}
    )


generated = generated_asterisk(e2e_config, "generated-asterisk", ports=PORTS, start=False)


@pytest.fixture
def pbx(generated: GeneratedAsterisk) -> GeneratedAsterisk:
    """The generated Asterisk, running, with no channel left from an earlier test."""
    if not generated.instance.status().running:
        generated.instance.start()
    return generated


@dataclass
class Rig:
    pbx: GeneratedAsterisk
    server: HotlineServer
    store: Store
    carrier: AmiCarrier
    url: str
    softphones: Softphones | None = None

    async def phone(self, extension: str, policy: AgentPolicy | None = None) -> Phone:
        if self.softphones is None:
            self.softphones = Softphones(port=self.pbx.ports.sip)
            await self.softphones.start()
        return await self.softphones.register(
            extension, self.pbx.passwords[extension], policy=policy
        )

    async def trunk(self) -> TrunkCaller:
        if self.softphones is None:
            self.softphones = Softphones(port=self.pbx.ports.sip)
            await self.softphones.start()
        return await self.softphones.trunk("e1trunk", self.pbx.passwords["e1trunk"])

    async def client(self, http: aiohttp.ClientSession, agent_id: str, **login: Any) -> Client:
        ws = await http.ws_connect(self.url)
        c = Client(ws)
        reply = await c.ask("login", agent_id=agent_id, password=PASSWORD, **login)
        assert reply["ok"], reply
        return c


@pytest.fixture
async def rig(pbx: GeneratedAsterisk, tmp_path: Path) -> AsyncIterator[Rig]:
    config = pbx.config
    store = await Store.open(tmp_path / "hotline.db")
    await store.seed_from_config(config, PASSWORD)
    await store.create_customer(name="张伟", phones=["0215550101"], notes="VIP")
    server = HotlineServer(
        config,
        store,
        ami=Endpoint("127.0.0.1", pbx.ports.ami),
        http=Endpoint("127.0.0.1", 0),
        link_settings=LinkSettings(ping_interval=2.0, ping_timeout=2.0),
    )
    try:
        await server.start()
        await server.link.wait_up(15)
        carrier = await AmiCarrier.connect(
            "127.0.0.1", pbx.ports.ami, config.ami.username, config.ami.secret
        )
    except BaseException:
        # the store's thread would keep the test process alive at exit
        await server.stop()
        await store.close()
        raise
    r = Rig(pbx, server, store, carrier, f"http://127.0.0.1:{server.http_port}/ws")
    try:
        yield r
    finally:
        for call in r.carrier.calls:
            await r.carrier.hang_up(call)
        await r.carrier.close()
        if r.softphones is not None:
            errors = r.softphones.errors
            await r.softphones.close()
            assert errors == []
        await server.stop()
        await store.close()


def test_generated_configuration_loads_cleanly(pbx: GeneratedAsterisk) -> None:
    """Every generated file is taken by Asterisk as written: endpoints, hints, the AMI
    user's classes, the trunk limit."""
    inst = pbx.instance
    assert inst.load_errors() == []
    endpoints = inst.rx("pjsip show endpoints")
    for name in ("8001", "8002", "8003", "9001", "e1trunk"):
        assert f" {name}/" in endpoints or f"Endpoint:  {name}" in endpoints, name
    hints = inst.rx("core show hints")
    assert "8001@internal" in hints and "9001@internal" in hints
    user = inst.rx("manager show user hotline")
    assert "read perm: system,call,agent,user,dialplan" in user
    assert "write perm: call,reporting,originate" in user
    assert "TRUNK_MAX=30" in inst.rx("dialplan show globals")
    assert "hq-general" in inst.rx("queue show hq-general")


async def test_abandon_while_waiting_is_one_record(rig: Rig) -> None:
    async with aiohttp.ClientSession() as http:
        sup = await rig.client(http, "90001")
        assert (await sup.ask("subscribe", topics=["calls", "queues"]))["ok"]
        call = await rig.carrier.call("4000", "0215550199", "Waiting Caller")
        assert call.admitted, call
        queued = await sup.wait_for("call.queued")
        assert queued["data"]["queue"] == "general"
        call_id = queued["data"]["call_id"]
        await asyncio.sleep(0.5)
        await rig.carrier.hang_up(call)
        abandoned = await sup.wait_for("call.abandoned", call_id=call_id)
        assert abandoned["data"]["call_id"] == call_id
        await sup.ws.close()
    await asyncio.sleep(0.3)
    records = await rig.store.query_calls()
    assert [(c.call_id, c.outcome) for c in records] == [(call_id, "abandoned")]
    record = records[0]
    assert record.dialled_number == "4000" and record.caller_number == "0215550199"
    assert record.queue == "general"
    assert record.wait_s is not None and record.wait_s >= 0.4


async def test_31_simultaneous_sip_trunk_calls_carry_30_and_block_1(rig: Rig) -> None:
    """31 INVITEs from the carrier's trunk endpoint (e1trunk) at once: the dialplan's
    GROUP_COUNT limit carries 30 (answered, waiting in Hotline's queue) and sends one to
    congestion, which the carrier sees as SIP 503; Hotline publishes call.blocked for
    that caller and keeps a record of it. (Which one of the 31 is refused is up to
    Asterisk: the dialplan counts after joining the group, so concurrent callers can
    never exceed the limit.)"""
    trunk = await rig.trunk()
    await trunk.prepare(31)  # 4 calls per pjsua2 process: start the 8 workers at once
    numbers = [f"02155510{i:02d}" for i in range(31)]
    async with aiohttp.ClientSession() as http:
        sup = await rig.client(http, "90001")
        assert (await sup.ask("subscribe", topics=["calls", "trunks"]))["ok"]
        calls = await asyncio.gather(*(trunk.place("4000", n) for n in numbers))

        async def settled(call: PhoneCall) -> None:
            with contextlib.suppress(SoftphoneError):
                await call.wait_connected(20)

        await asyncio.gather(*(settled(c) for c in calls))
        carried = [c for c in calls if c.connected and not c.ended]
        refused = [c for c in calls if c.ended]
        assert (len(carried), len(refused)) == (30, 1), [(c.code, c.reason) for c in refused]
        (blocked,) = refused
        assert blocked.connected_at is None and blocked.code == 503, blocked
        assert blocked.q850_cause == 34, blocked.q850_cause  # Reason: Q.850;cause=34 (congestion)
        blocked_number = numbers[calls.index(blocked)]
        event = await sup.wait_for("call.blocked")
        assert event["data"] == {"trunk": "e1", "caller": blocked_number}
        queued = {(await sup.wait_for("call.queued"))["data"]["call_id"] for _ in range(30)}
        assert len(queued) == 30
        channels = rig.pbx.instance.rx("core show channels concise")
        assert sum(1 for line in channels.splitlines() if "hotline-wait" in line) == 30
        for call in carried:
            await trunk.phone.hangup(call)
        abandoned = {
            (await sup.wait_for("call.abandoned", within=15))["data"]["call_id"] for _ in range(30)
        }
        assert abandoned == queued
        await sup.ws.close()
    await asyncio.sleep(0.5)
    records = await rig.store.query_calls()
    assert len(records) == 31
    assert sorted(c.outcome for c in records) == ["abandoned"] * 30 + ["blocked"]
    (rec,) = [c for c in records if c.outcome == "blocked"]
    assert rec.caller_number == blocked_number and rec.trunk == "e1"
    assert rec.dialled_number == "4000"  # the DID is set before the limit is checked
    assert sorted(c.caller_number or "" for c in records) == numbers


async def test_asterisk_restart_under_the_server_loses_and_duplicates_no_record(
    rig: Rig,
) -> None:
    """Asterisk stops under the server (its callers go with it) and comes back: the AMI
    link reconnects and resyncs, every call placed has exactly one record, and calls
    after the restart are routed again (even if Asterisk hands out the old ids)."""
    async with aiohttp.ClientSession() as http:
        sup = await rig.client(http, "90001")
        assert (await sup.ask("subscribe", topics=["calls", "pbx"]))["ok"]
        before = [await rig.carrier.call("4000", f"021555200{i}") for i in range(3)]
        assert all(c.admitted for c in before)
        lost = {(await sup.wait_for("call.queued"))["data"]["call_id"] for _ in before}

        rig.pbx.instance.stop()
        await sup.wait_for("pbx.link", within=10, state="down")
        rig.pbx.instance.start()
        await sup.wait_for("pbx.link", within=20, state="up")
        await rig.server.link.wait_up(15)
        ended = set()
        for _ in lost:
            event = await sup.wait_for("call.abandoned", within=15)
            ended.add(event["data"]["call_id"])
        assert ended == lost

        await rig.carrier.close()
        rig.carrier = await AmiCarrier.connect(
            "127.0.0.1", rig.pbx.ports.ami, rig.pbx.config.ami.username,
            rig.pbx.config.ami.secret,
        )  # fmt: skip
        after = [await rig.carrier.call("4001", f"021555300{i}") for i in range(2)]
        assert all(c.admitted for c in after)
        fresh = {(await sup.wait_for("call.queued"))["data"]["call_id"] for _ in after}
        assert not fresh & lost
        for call in after:
            await rig.carrier.hang_up(call)
        for _ in after:
            await sup.wait_for("call.abandoned", within=15)
        await sup.ws.close()
    await asyncio.sleep(0.5)
    records = await rig.store.query_calls()
    assert sorted(c.call_id for c in records) == sorted(lost | fresh)
    assert all(c.ended_at is not None for c in records)
    by_number = sorted(c.caller_number or "" for c in records)
    assert by_number == [f"021555200{i}" for i in range(3)] + [f"021555300{i}" for i in range(2)]


async def test_sip_call_rings_pops_answers_talks_ends_wraps_up_and_is_recorded(rig: Rig) -> None:
    """The whole life of a call over SIP: the carrier's INVITE on DID 4001 (queue fault),
    the ACD picks agent 80001, the agent's softphone rings and the desk gets call.ringing
    with the customer record, the agent answers, talks, hangs up, wraps up; the record."""
    phone = await rig.phone("8001")
    trunk = await rig.trunk()
    async with aiohttp.ClientSession() as http:
        agent = await rig.client(http, "80001", extension="8001")
        assert (await agent.ask("agent.ready"))["data"]["state"] == "ready"
        caller = await trunk.place("4001", "0215550101", caller_name="Zhang Wei")
        ringing = await agent.wait_for("call.ringing")
        rang = await phone.wait_ringing(5)
        pop = ringing["data"]
        call_id = pop["call_id"]
        assert pop["agent_id"] == "80001" and pop["extension"] == "8001"
        assert pop["customer"]["name"] == "张伟" and pop["queue"] == "fault"
        assert rang.remote_number == "0215550101"
        await phone.answer(rang)
        await agent.wait_for("call.answered", call_id=call_id)
        await caller.wait_connected(5)
        await asyncio.sleep(1.0)
        await phone.hangup(rang)
        ended = await agent.wait_for("call.ended", call_id=call_id)
        assert ended["data"]["talk_s"] >= 0.9
        await caller.wait_ended(5)
        assert caller.ended_by == "remote"
        await agent.wait_for("agent.state", state="wrap_up")
        done = await agent.ask("agent.wrap_up_done", disposition="fault", resolved=True)
        assert done["ok"] and done["data"]["state"] == "ready", done
    await asyncio.sleep(0.3)
    record = await rig.store.get_call(call_id)
    assert record.outcome == "answered" and record.agent_id == "80001"
    assert record.queue == "fault" and record.dialled_number == "4001"
    assert record.caller_number == "0215550101" and record.trunk == "e1"
    assert record.disposition == "fault" and record.resolved is True
    assert record.talk_s is not None and 0.9 <= record.talk_s < 10
    assert [leg.agent_id for leg in record.legs] == ["80001"]


async def test_rona_an_agent_who_does_not_answer(rig: Rig) -> None:
    """80002's phone rings and nobody picks up: after the queue's 3 s ring timeout the
    call goes back to the queue, 80002 is not_ready (no_answer), 80003 answers it."""
    await rig.phone("8002")  # rings, never answered
    await rig.phone("8003", AgentPolicy(answer_delay_s=0.2, handle_time_s=1.0))
    trunk = await rig.trunk()
    async with aiohttp.ClientSession() as http:
        lazy = await rig.client(http, "80002", extension="8002")
        await lazy.ask("agent.ready")
        sup = await rig.client(http, "90001")
        await sup.ask("subscribe", topics=["calls", "agents"])
        caller = asyncio.create_task(trunk.call("4000", "0215550177", hold_s=10))
        ringing = await lazy.wait_for("call.ringing")
        call_id = ringing["data"]["call_id"]
        state = await lazy.wait_for("agent.state", within=8, state="not_ready")
        assert state["data"]["reason"] == "no_answer"
        busy = await rig.client(http, "80003", extension="8003")
        await busy.ask("agent.ready")
        answered = await sup.wait_for("call.answered", within=10, call_id=call_id)
        assert answered["data"]["agent_id"] == "80003"
        await sup.wait_for("call.ended", within=10, call_id=call_id)
        outcome = await caller
        assert outcome.answered and outcome.ended_by == "remote"
    await asyncio.sleep(0.3)
    record = await rig.store.get_call(call_id)
    assert record.outcome == "answered" and record.agent_id == "80003"
    assert [(leg.agent_id, leg.outcome) for leg in record.legs] == [
        ("80002", "no_answer"),
        ("80003", "answered"),
    ]


async def _answered_by_8001(rig: Rig, http: aiohttp.ClientSession) -> tuple[Client, Phone, str]:
    phone = await rig.phone("8001")
    trunk = await rig.trunk()
    agent = await rig.client(http, "80001", extension="8001")
    await agent.ask("agent.ready")
    await trunk.place("4001", "0215550101", caller_name="Zhang Wei")
    call_id = (await agent.wait_for("call.ringing"))["data"]["call_id"]
    await phone.answer(await phone.wait_ringing(5))
    await agent.wait_for("call.answered", call_id=call_id)
    return agent, phone, call_id


@pytest.mark.parametrize("mode", ["blind", "attended"])
async def test_transfer_to_another_agent(rig: Rig, mode: str) -> None:
    """Agent 80001 talks to the caller and transfers to extension 8002: blind (the
    caller is sent to 8002 at once) or attended (80001 consults 8002, then hangs up to
    complete). 8002 talks to the caller; one record with the transfer and both legs."""
    target = await rig.phone("8002")
    async with aiohttp.ClientSession() as http:
        sup = await rig.client(http, "90001")
        await sup.ask("subscribe", topics=["calls"])
        agent, phone, call_id = await _answered_by_8001(rig, http)
        await asyncio.sleep(0.5)
        reply = await agent.ask("call.transfer", call_id=call_id, to="8002", mode=mode)
        assert reply["ok"], reply
        consult = await target.wait_ringing(5)
        await target.answer(consult)
        if mode == "attended":
            await asyncio.sleep(0.5)  # 80001 and 8002 speak first
            await phone.hangup()
        transferred = await sup.wait_for("call.transferred", call_id=call_id)
        # Hotline's blind transfer is an AMI Redirect of the caller; the model says so
        assert transferred["data"]["kind"] == {"blind": "redirect"}.get(mode, mode)
        assert transferred["data"]["to"] in ("PJSIP/8002", "8002")
        await asyncio.sleep(0.5)
        assert "1 active call" in rig.pbx.instance.rx("core show channels count")
        await target.hangup(consult)
        await sup.wait_for("call.ended", call_id=call_id)
    await asyncio.sleep(0.3)
    record = await rig.store.get_call(call_id)
    assert record.outcome == "answered"
    assert [(t.from_agent, t.to, t.mode) for t in record.transfers] == [("80001", "8002", mode)]
    assert record.legs[0].agent_id == "80001"
