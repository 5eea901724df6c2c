"""An agent's on-demand recording on a real Asterisk 22, with the configuration Hotline
generates and the whole Hotline server, and an AMI user without the ``system`` class.

The fault queue's policy is ``on_demand``; the generated manager.conf still grants only
``write = call,originate,reporting``, so Asterisk's ``MixMonitor`` action is refused
(checked). A trunk caller (AMI Originate of a Local channel) reaches agent 8001, a
pjsua2 softphone, through [agent-dial], whose ``U(hotline-record^)`` gives the agent's
leg the hotline-record-now feature. The agent starts the recording with ``call.record``
over WebSocket: Hotline sets the file on the leg (``Setvar``) and queues the feature's
key on it (``PlayDTMF Receive``), the bridge runs [hotline-record-now], MixMonitor
starts there without the call leaving its bridge. The agent stops it and hangs up. The
file Asterisk wrote in the chroot, read from outside it (``store.recordings_dir``), must
be indexed complete with its SHA-256 and served over REST, whole and by range.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import tomllib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from cti.asterisk.instance import Ports
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import Install
from cti.asterisk.stack import GeneratedAsterisk, start_generated
from cti.config import Config, parse_config
from pbx_sim.sip import Phone, Softphones
from tests.asterisk.hotline_rig import Hotline, hotline_on
from tests.asterisk.test_e2e_asterisk import E2E_TOML
from tests.harness import Client
from tests.recorder.test_recording_e2e import PASSWORD, get_json, token

pytestmark = pytest.mark.asterisk

AMI_SECRET = "on-demand-ami-secret"
PORTS = Ports(ami=15538, sip=15560)


def on_demand_config(install: Install, pbx_dir: str) -> Config:
    root = install.root if install.kind == "chroot" else Path("/")
    local_dir = root / pbx_dir.lstrip("/")  # the same directory, seen from outside
    toml = (
        E2E_TOML.replace("port = 15038", f"port = {PORTS.ami}")
        + f"""
[store]
recordings_dir = "{local_dir}"
[recording]
default = "never"
pbx_dir = "{pbx_dir}"
settle_s = 0.2
settle_timeout_s = 10
  [recording.queues.fault]
  policy = "on_demand"
"""
    )
    return parse_config(
        tomllib.loads(toml), "<on-demand e2e>", env={"HOTLINE_AMI_SECRET": AMI_SECRET}
    )


@pytest.fixture(scope="module")
def generated(
    asterisk_install: Install,
    asterisk_netns: PrivateNetns,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GeneratedAsterisk]:
    pbx_dir = f"/var/spool/asterisk/monitor/hotline-on-demand-{uuid.uuid4().hex[:8]}"
    config = on_demand_config(asterisk_install, pbx_dir)
    stack = start_generated(
        asterisk_install, config, tmp_path_factory.mktemp("on-demand-asterisk"), ports=PORTS
    )
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(config.store.recordings_dir, ignore_errors=True)


@dataclass
class Rig:
    pbx: GeneratedAsterisk
    hotline: Hotline
    phones: Softphones

    async def agent(self, http: aiohttp.ClientSession) -> tuple[Client, Phone]:
        c = Client(await http.ws_connect(f"{self.hotline.base}/ws"))
        login = await c.ask("login", agent_id="80001", password=PASSWORD, extension="8001")
        assert login["ok"], login
        phone = await self.phones.register("8001", self.pbx.passwords["8001"])
        assert (await c.ask("agent.ready"))["ok"]
        return c, phone

    async def answered_call(self, agent: Client, phone: Phone, number: str) -> str:
        """A fault caller answered at 8001: its call id."""
        caller = await self.hotline.carrier.call("4001", number, "On Demand")
        assert caller.admitted, caller
        await phone.answer(await phone.wait_ringing(timeout=10))
        answered = await agent.wait_for("call.answered", within=10)
        call_id: str = answered["data"]["call_id"]
        return call_id


@pytest.fixture
async def rig(generated: GeneratedAsterisk, tmp_path: Path) -> AsyncIterator[Rig]:
    async with hotline_on(generated, tmp_path / "hotline.db", PASSWORD) as hotline:
        phones = Softphones(port=generated.ports.sip)
        try:
            await phones.start()
            yield Rig(generated, hotline, phones)
        finally:
            errors = phones.errors
            await phones.close()
        assert errors == []


def _write_classes(pbx: GeneratedAsterisk) -> list[str]:
    """The AMI user's write classes in the manager.conf the running Asterisk reads."""
    text = (pbx.instance.install.etc_dir / "manager.conf").read_text(encoding="utf-8")
    [write] = re.findall(r"^write = (.*)$", text, re.MULTILINE)
    return write.split(",")


async def test_agent_starts_a_recording_indexed_and_served(rig: Rig) -> None:
    assert "system" not in _write_classes(rig.pbx)  # although fault is on_demand
    server = rig.hotline.server
    async with aiohttp.ClientSession() as http:
        refused = await server.link.send_action(
            "MixMonitor", [("Channel", "PJSIP/8001-none"), ("File", "x.wav")], check=False
        )
        assert refused.response.get("Message") == "Permission denied"  # the premise
        agent, phone = await rig.agent(http)
        call_id = await rig.answered_call(agent, phone, "0215550188")
        await asyncio.sleep(0.5)
        # on demand: nothing recorded until the agent asks
        assert not [e for e in agent.events if e["event"] == "call.recording"]
        started = await agent.ask("call.record", call_id=call_id)
        assert started["ok"], started
        recording_id = started["data"]["recording_id"]
        event = await agent.wait_for("call.recording", within=10, state="started")
        assert event["data"]["on_demand"] is True and event["data"]["call_id"] == call_id
        leg = next(
            c for c in server.center.model.channels.values() if c.name.startswith("PJSIP/8001-")
        )
        assert leg.bridge_id is not None  # still bridged with the caller: no break
        await asyncio.sleep(1.5)
        assert (await agent.ask("call.record_stop", call_id=call_id))["ok"]  # StopMixMonitor
        stopped = await agent.wait_for("call.recording", within=10, state="stopped")
        assert 1.0 < stopped["data"]["duration_s"] < 4.0, stopped
        await phone.hangup()  # the call went on after the recording stopped
        await agent.wait_for("call.ended", within=10, call_id=call_id)
        await server.recorder.drain(30)

        mine = await token(http, rig.hotline.base, "80001")
        [rec] = await get_json(http, f"{rig.hotline.base}/api/recordings?call_id={call_id}", mine)
        assert rec["id"] == recording_id and rec["state"] == "complete", rec
        assert rec["on_demand"] is True and rec["agent_id"] == "80001"
        assert rec["queue"] == "fault" and rec["caller"] == "0215550188"
        path = rig.pbx.config.store.recordings_dir / rec["file"]
        data = path.read_bytes()  # what Asterisk wrote inside the chroot
        assert data[:4] == b"RIFF" and rec["size"] == len(data)
        assert rec["sha256"] == hashlib.sha256(data).hexdigest()
        assert 1.0 < rec["duration_s"] < 4.0, rec
        url = rig.hotline.base + rec["url"]
        async with http.get(url, headers=mine) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "audio/wav"
            assert await r.read() == data
        async with http.get(url, headers={**mine, "Range": "bytes=0-43"}) as r:
            assert r.status == 206
            assert r.headers["Content-Range"] == f"bytes 0-43/{len(data)}"
            assert await r.read() == data[:44]
