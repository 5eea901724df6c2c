"""The IVR on a real Asterisk 22: the generated dialplan hands a trunk caller to
Hotline's FastAGI server, the caller presses keys (AMI PlayDTMF on the caller's Local
half), and the flow's decision and path reach the ACD, the events and the record.

Prompts are sounds the Debian package ships (beep, invalid, vm-goodbye), so that
Asterisk really plays them.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from cti.asterisk.instance import Ports
from cti.asterisk.stack import GeneratedAsterisk
from cti.config import Config, parse_config
from tests.asterisk.hotline_rig import Hotline, generated_asterisk, hotline_on
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


generated = generated_asterisk(ivr_config, "ivr-asterisk", ports=PORTS, agi_port=AGI_PORT)


@pytest.fixture
async def rig(generated: GeneratedAsterisk, tmp_path: Path) -> AsyncIterator[Hotline]:
    db = tmp_path / "hotline.db"
    async with hotline_on(generated, db, PASSWORD, agi_port=AGI_PORT) as hotline:
        yield hotline


async def _supervisor(http: aiohttp.ClientSession, rig: Hotline) -> Client:
    sup = Client(await http.ws_connect(f"{rig.base}/ws"))
    assert (await sup.ask("login", agent_id="90001", password=PASSWORD))["ok"]
    assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
    return sup


async def test_menu_and_sub_menu_route_to_fault_on_asterisk(rig: Hotline) -> None:
    assert rig.server.ivr is not None
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        call = await rig.carrier.call("4000", "0215550177", "Menu Caller")
        assert call.admitted, call
        await asyncio.sleep(1.0)  # the menu's beep has played; GET DATA waits for a key
        await rig.carrier.press(call, "1")
        await asyncio.sleep(1.0)
        await rig.carrier.press(call, "2")
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


async def test_silence_takes_the_default_on_asterisk(rig: Hotline) -> None:
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        call = await rig.carrier.call("4001", "0215550178")
        assert call.admitted, call
        queued = await sup.wait_for("call.queued", within=30)
        assert queued["data"]["queue"] == "general"  # the menu's default, not 4001's fault
        assert queued["data"]["ivr"] == ["main:timeout", "main:timeout", "queue:general"]
        await rig.carrier.hang_up(call)
