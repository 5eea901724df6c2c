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
import contextlib
import hashlib
import re
import shutil
import tomllib
import uuid
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
from pbx_sim.sip import Phone, Softphones
from tests.asterisk.test_e2e_asterisk import E2E_TOML
from tests.harness import Client

pytestmark = pytest.mark.asterisk

AMI_SECRET = "on-demand-ami-secret"
PASSWORD = "pw-on-demand"
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
    server: HotlineServer
    store: Store
    carrier: AmiCarrier
    phones: Softphones
    base: str

    async def agent(self, http: aiohttp.ClientSession) -> tuple[Client, Phone]:
        c = Client(await http.ws_connect(f"{self.base}/ws"))
        login = await c.ask("login", agent_id="80001", password=PASSWORD, extension="8001")
        assert login["ok"], login
        phone = await self.phones.register("8001", self.pbx.passwords["8001"])
        assert (await c.ask("agent.ready"))["ok"]
        return c, phone

    async def answered_call(self, agent: Client, phone: Phone, number: str) -> str:
        """A fault caller answered at 8001: its call id."""
        caller = await self.carrier.call("4001", number, "On Demand")
        assert caller.admitted, caller
        await phone.answer(await phone.wait_ringing(timeout=10))
        answered = await agent.wait_for("call.answered", within=10)
        call_id: str = answered["data"]["call_id"]
        return call_id


@contextlib.asynccontextmanager
async def hotline(pbx: GeneratedAsterisk, tmp_path: Path) -> AsyncIterator[Rig]:
    """A Hotline server logged in to ``pbx`` now (Asterisk fixes a session's classes at
    login), its store, the carrier and the agents' softphones."""
    config = pbx.config
    store = await Store.open(tmp_path / "hotline.db")
    await store.seed_from_config(config, PASSWORD)
    server = HotlineServer(
        config,
        store,
        ami=Endpoint("127.0.0.1", pbx.ports.ami),
        http=Endpoint("127.0.0.1", 0),
        link_settings=LinkSettings(ping_interval=2.0, ping_timeout=2.0),
    )
    phones = Softphones(port=pbx.ports.sip)
    try:
        await server.start()
        await server.link.wait_up(15)
        carrier = await AmiCarrier.connect(
            "127.0.0.1", pbx.ports.ami, config.ami.username, config.ami.secret
        )
        await phones.start()
    except BaseException:
        await phones.close()
        await server.stop()
        await store.close()
        raise
    rig = Rig(pbx, server, store, carrier, phones, f"http://127.0.0.1:{server.http_port}")
    try:
        yield rig
    finally:
        for call in carrier.calls:
            await carrier.hang_up(call)
        await carrier.close()
        errors = phones.errors
        await phones.close()
        await server.stop()
        await store.close()
        assert errors == []


async def _token(http: aiohttp.ClientSession, base: str, agent_id: str) -> dict[str, str]:
    async with http.post(
        f"{base}/api/login", json={"agent_id": agent_id, "password": PASSWORD}
    ) as r:
        assert r.status == 200, await r.text()
        return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def _get_json(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with http.get(url, headers=headers) as r:
        body = await r.json()
        assert r.status == 200, body
        return body


def _live_manager_conf(pbx: GeneratedAsterisk) -> Path:
    """The manager.conf the running Asterisk reads (its config dir was copied there)."""
    return pbx.instance.install.etc_dir / "manager.conf"


def _write_classes(pbx: GeneratedAsterisk) -> list[str]:
    text = _live_manager_conf(pbx).read_text(encoding="utf-8")
    [write] = re.findall(r"^write = (.*)$", text, re.MULTILINE)
    return write.split(",")


async def test_agent_starts_a_recording_indexed_and_served(
    generated: GeneratedAsterisk, tmp_path: Path
) -> None:
    assert "system" not in _write_classes(generated)  # although fault is on_demand
    async with hotline(generated, tmp_path) as rig, aiohttp.ClientSession() as http:
        refused = await rig.server.link.send_action(
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
            c for c in rig.server.center.model.channels.values() if c.name.startswith("PJSIP/8001-")
        )
        assert leg.bridge_id is not None  # still bridged with the caller: no break
        await asyncio.sleep(1.5)
        assert (await agent.ask("call.record_stop", call_id=call_id))["ok"]  # StopMixMonitor
        stopped = await agent.wait_for("call.recording", within=10, state="stopped")
        assert 1.0 < stopped["data"]["duration_s"] < 4.0, stopped
        await phone.hangup()  # the call went on after the recording stopped
        await agent.wait_for("call.ended", within=10, call_id=call_id)
        await rig.server.recorder.drain(30)

        mine = await _token(http, rig.base, "80001")
        [rec] = await _get_json(http, f"{rig.base}/api/recordings?call_id={call_id}", mine)
        assert rec["id"] == recording_id and rec["state"] == "complete", rec
        assert rec["on_demand"] is True and rec["agent_id"] == "80001"
        assert rec["queue"] == "fault" and rec["caller"] == "0215550188"
        path = generated.config.store.recordings_dir / rec["file"]
        data = path.read_bytes()  # what Asterisk wrote inside the chroot
        assert data[:4] == b"RIFF" and rec["size"] == len(data)
        assert rec["sha256"] == hashlib.sha256(data).hexdigest()
        assert 1.0 < rec["duration_s"] < 4.0, rec
        url = rig.base + rec["url"]
        async with http.get(url, headers=mine) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "audio/wav"
            assert await r.read() == data
        async with http.get(url, headers={**mine, "Range": "bytes=0-43"}) as r:
            assert r.status == 206
            assert r.headers["Content-Range"] == f"bytes 0-43/{len(data)}"
            assert await r.read() == data[:44]
