"""Hotline end to end on a real Asterisk 22, with the configuration Hotline generates.

Asterisk runs in the test's private network namespace with ``pjsip.conf``,
``extensions.conf``, ``manager.conf``... generated from the Hotline configuration below
(:mod:`cti.asterisk.genconf`); the Hotline server connects over AMI as the generated AMI
user (only the classes Hotline needs), serves WebSocket on 127.0.0.1 and writes a real
SQLite file. Carrier calls enter the trunk context by AMI Originate of Local channels
(:class:`cti.asterisk.stack.AmiCarrier`).
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cti.asterisk.instance import Ports
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import Install
from cti.asterisk.stack import AmiCarrier, GeneratedAsterisk, start_generated
from cti.center.server import Endpoint, HotlineServer
from cti.config import Config, parse_config
from cti.link import LinkSettings
from cti.store import Store

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


@pytest.fixture(scope="module")
def generated(
    asterisk_install: Install,
    asterisk_netns: PrivateNetns,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GeneratedAsterisk]:
    stack = start_generated(
        asterisk_install,
        e2e_config(),
        tmp_path_factory.mktemp("generated-asterisk"),
        ports=PORTS,
        start=False,
    )
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def pbx(generated: GeneratedAsterisk) -> GeneratedAsterisk:
    """The generated Asterisk, running, with no channel left from an earlier test."""
    if not generated.instance.status().running:
        generated.instance.start()
    return generated


class Client:
    """A WebSocket client like any agent desktop or supervisor console."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._n = 0

    async def ask(self, op: str, **params: Any) -> dict[str, Any]:
        self._n += 1
        await self.ws.send_str(json.dumps({"op": op, "id": self._n, **params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.receive_str(), 10))
            if msg["type"] == "reply" and msg["id"] == self._n:
                return msg  # type: ignore[no-any-return]
            self.events.append(msg)

    async def wait_for(self, event: str, within: float = 10, **match: Any) -> dict[str, Any]:
        for seen in self.events:
            if seen["event"] == event and all(seen["data"].get(k) == v for k, v in match.items()):
                self.events.remove(seen)
                return seen
        async with asyncio.timeout(within):
            while True:
                msg = json.loads(await self.ws.receive_str())
                if msg["type"] != "event":
                    continue
                if msg["event"] == event and all(msg["data"].get(k) == v for k, v in match.items()):
                    return msg  # type: ignore[no-any-return]
                self.events.append(msg)

    def seen(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]


@dataclass
class Rig:
    pbx: GeneratedAsterisk
    server: HotlineServer
    store: Store
    carrier: AmiCarrier
    url: str

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
    await server.start()
    await server.link.wait_up(15)
    carrier = await AmiCarrier.connect(
        "127.0.0.1", pbx.ports.ami, config.ami.username, config.ami.secret
    )
    r = Rig(pbx, server, store, carrier, f"http://127.0.0.1:{server.http_port}/ws")
    try:
        yield r
    finally:
        for call in carrier.calls:
            await carrier.hang_up(call)
        await carrier.close()
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


async def test_31st_simultaneous_trunk_call_is_blocked(rig: Rig) -> None:
    """The E1 carries 30 calls: with 30 callers waiting, the dialplan's GROUP_COUNT limit
    sends the 31st to congestion; Hotline publishes call.blocked and records it. (The 30
    are placed at once; the dialplan counts after joining the group, so concurrent
    callers can never exceed the limit.)"""
    async with aiohttp.ClientSession() as http:
        sup = await rig.client(http, "90001")
        assert (await sup.ask("subscribe", topics=["calls", "trunks"]))["ok"]
        first = await asyncio.gather(
            *(rig.carrier.call("4000", f"02155510{i:02d}") for i in range(30))
        )
        assert all(c.admitted for c in first), [c.reason for c in first if not c.admitted]
        queued = {(await sup.wait_for("call.queued"))["data"]["call_id"] for _ in range(30)}
        assert len(queued) == 30
        blocked = await rig.carrier.call("4000", "0215551099", "Blocked Caller")
        assert not blocked.admitted
        event = await sup.wait_for("call.blocked")
        assert event["data"] == {"trunk": "e1", "caller": "0215551099"}
        assert "30 active calls" in rig.pbx.instance.rx("core show channels count")
        for call in first:
            await rig.carrier.hang_up(call)
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
    assert rec.caller_number == "0215551099" and rec.trunk == "e1"
