"""The IVR on a real Asterisk 22: the generated dialplan hands a trunk caller to
Hotline's FastAGI server, the caller presses keys (AMI PlayDTMF on the caller's Local
half), and the flow's decision and path reach the ACD, the events and the record.

Prompts are sounds the Debian package ships (beep, invalid, vm-goodbye), so that
Asterisk really plays them.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from cti.asterisk.instance import Ports
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import Install
from cti.asterisk.stack import AmiCarrier, CarrierCall, GeneratedAsterisk, start_generated
from cti.center.server import Endpoint, HotlineServer
from cti.config import Config, parse_config
from cti.link import LinkSettings
from cti.store import Store
from tests.asterisk.test_e2e_asterisk import E2E_TOML, Client

pytestmark = pytest.mark.asterisk

AMI_SECRET = "ivr-ami-secret"
PASSWORD = "pw-ivr"
PORTS = Ports(ami=15238, sip=15260)
AGI_PORT = 14573

IVR_TOML = """
[ivr]
entry = "main"
operator_queue = "general"
[ivr.prompts]
menu = "beep"
invalid = "invalid"
bye = "vm-goodbye"
[ivr.nodes.main]
type = "menu"
prompt = "menu"
options = { "1" = "sub", "2" = "general" }
timeout_s = 4
retries = 2
invalid = "invalid"
default = "general"
[ivr.nodes.sub]
type = "menu"
prompt = "menu"
options = { "2" = "fault", "*" = "main" }
timeout_s = 4
retries = 2
default = "fault"
[ivr.nodes.fault]
type = "queue"
queue = "fault"
[ivr.nodes.general]
type = "queue"
queue = "general"
"""


def ivr_config() -> Config:
    toml = E2E_TOML.replace("port = 15038", f"port = {PORTS.ami}") + IVR_TOML
    return parse_config(tomllib.loads(toml), "<ivr e2e>", env={"HOTLINE_AMI_SECRET": AMI_SECRET})


@pytest.fixture(scope="module")
def generated(
    asterisk_install: Install,
    asterisk_netns: PrivateNetns,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GeneratedAsterisk]:
    stack = start_generated(
        asterisk_install,
        ivr_config(),
        tmp_path_factory.mktemp("ivr-asterisk"),
        ports=PORTS,
        cti_agi=f"127.0.0.1:{AGI_PORT}",
    )
    try:
        yield stack
    finally:
        stack.stop()


@dataclass
class Rig:
    pbx: GeneratedAsterisk
    server: HotlineServer
    store: Store
    carrier: AmiCarrier
    url: str

    async def press(self, call: CarrierCall, digit: str) -> None:
        # The caller's Local ;1 half sends the digit towards the ;2 half in the dialplan.
        assert call.channel is not None
        await self.carrier.link.send_action(
            "PlayDTMF", [("Channel", call.channel), ("Digit", digit), ("Duration", "200")]
        )


@pytest.fixture
async def rig(generated: GeneratedAsterisk, tmp_path: Path) -> AsyncIterator[Rig]:
    config = generated.config
    store = await Store.open(tmp_path / "hotline.db")
    await store.seed_from_config(config, PASSWORD)
    server = HotlineServer(
        config,
        store,
        ami=Endpoint("127.0.0.1", generated.ports.ami),
        http=Endpoint("127.0.0.1", 0),
        agi=Endpoint("127.0.0.1", AGI_PORT),
        link_settings=LinkSettings(ping_interval=2.0, ping_timeout=2.0),
    )
    await server.start()
    await server.link.wait_up(15)
    carrier = await AmiCarrier.connect(
        "127.0.0.1", generated.ports.ami, config.ami.username, config.ami.secret
    )
    r = Rig(generated, server, store, carrier, f"http://127.0.0.1:{server.http_port}/ws")
    try:
        yield r
    finally:
        for call in carrier.calls:
            await carrier.hang_up(call)
        await carrier.close()
        await server.stop()
        await store.close()


async def _supervisor(http: aiohttp.ClientSession, rig: Rig) -> Client:
    sup = Client(await http.ws_connect(rig.url))
    assert (await sup.ask("login", agent_id="90001", password=PASSWORD))["ok"]
    assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
    return sup


async def test_menu_and_sub_menu_route_to_fault_on_asterisk(rig: Rig) -> None:
    assert rig.server.ivr is not None
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        call = await rig.carrier.call("4000", "0215550177", "Menu Caller")
        assert call.admitted, call
        await asyncio.sleep(1.0)  # the menu's beep has played; GET DATA waits for a key
        await rig.press(call, "1")
        await asyncio.sleep(1.0)
        await rig.press(call, "2")
        queued = await sup.wait_for("call.queued", within=15)
        assert queued["data"]["queue"] == "fault"  # 4000 alone would be general
        assert queued["data"]["ivr"] == ["main:1", "sub:2", "queue:fault"]
        call_id = queued["data"]["call_id"]
        await rig.carrier.hang_up(call)
        await sup.wait_for("call.abandoned", within=10, call_id=call_id)
    await asyncio.sleep(0.5)
    record = await rig.store.get_call(call_id)
    assert record.queue == "fault" and record.ivr_path == ("main:1", "sub:2", "queue:fault")
    assert rig.server.ivr.stats["errors"] == 0  # every session spoke the protocol cleanly


async def test_silence_takes_the_default_on_asterisk(rig: Rig) -> None:
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        call = await rig.carrier.call("4001", "0215550178")
        assert call.admitted, call
        queued = await sup.wait_for("call.queued", within=30)
        assert queued["data"]["queue"] == "general"  # the menu's default, not 4001's fault
        assert queued["data"]["ivr"] == ["main:timeout", "main:timeout", "queue:general"]
        await rig.carrier.hang_up(call)
