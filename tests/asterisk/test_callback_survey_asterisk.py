"""Virtual hold (callback) and the after-call survey on a real Asterisk 22, with the
configuration Hotline generates and Hotline's FastAGI server.

The caller enters the trunk context as an AMI Originate of a Local channel
(:class:`cti.asterisk.stack.AmiCarrier`) and presses keys with AMI ``PlayDTMF`` on its
``;1`` half. The agent's phone is a pjsua2 softphone registered as 8001. The customer
called back is a second pjsua2 softphone registered as the carrier trunk (``e1trunk``),
in its own worker process, so that ``Dial(PJSIP/<number>@e1trunk)`` of
``[hotline-callback]`` really goes out through the trunk endpoint and rings it.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from cti.asterisk.instance import Ports
from cti.asterisk.stack import AmiCarrier, GeneratedAsterisk
from cti.center.server import HotlineServer
from cti.config import Config, parse_config
from cti.store import Store
from pbx_sim.sip import Phone, Softphones
from tests.asterisk.hotline_rig import Hotline, generated_asterisk, hotline_on
from tests.asterisk.test_e2e_asterisk import E2E_TOML
from tests.harness import Client

pytestmark = pytest.mark.asterisk

AMI_SECRET = "callback-ami-secret"
PASSWORD = "pw-callback"
PORTS = Ports(ami=15438, sip=15460)
AGI_PORT = 14773
CUSTOMER = "0215550177"
TRUNK_CHANNELS = 2

# Prompts are sounds the Debian package ships, so that Asterisk really plays them.
IVR_TOML = """
[ivr]
entry = "fault"
[ivr.prompts]
ok = "vm-goodbye"
no = "invalid"
survey = "beep"
invalid = "invalid"
thanks = "vm-goodbye"
[ivr.nodes.fault]
type = "queue"
queue = "fault"
[ivr.callback]
key = "*"
prompt = "ok"
unavailable = "no"
queues = ["fault"]
attempts = 2
retry_after_s = 1
ring_s = 6
[ivr.survey]
queues = ["fault"]
prompt = "survey"
invalid = "invalid"
thanks = "thanks"
timeout_s = 6
retries = 2
"""


def callback_config() -> Config:
    # An E1 of 2 channels here, so that two calls fill it.
    toml = E2E_TOML.replace("port = 15038", f"port = {PORTS.ami}").replace(
        "channels = 30", f"channels = {TRUNK_CHANNELS}"
    )
    toml += IVR_TOML
    return parse_config(
        tomllib.loads(toml), "<callback e2e>", env={"HOTLINE_AMI_SECRET": AMI_SECRET}
    )


generated = generated_asterisk(callback_config, "callback-asterisk", ports=PORTS, agi_port=AGI_PORT)


@dataclass
class Rig:
    pbx: GeneratedAsterisk
    hotline: Hotline
    agents: Softphones
    far_end: Softphones  # the carrier's side of the trunk: the customer called back

    @property
    def server(self) -> HotlineServer:
        return self.hotline.server

    @property
    def store(self) -> Store:
        return self.hotline.store

    @property
    def carrier(self) -> AmiCarrier:
        return self.hotline.carrier

    async def client(self, http: aiohttp.ClientSession, agent_id: str, **login: str) -> Client:
        c = Client(await http.ws_connect(f"{self.hotline.base}/ws"))
        reply = await c.ask("login", agent_id=agent_id, password=PASSWORD, **login)
        assert reply["ok"], reply
        return c

    async def phone(self, extension: str) -> Phone:
        return await self.agents.register(extension, self.pbx.passwords[extension])

    async def customer(self) -> Phone:
        """The trunk's far end, registered so that the trunk endpoint has a contact."""
        return await self.far_end.register("e1trunk", self.pbx.passwords["e1trunk"])


@pytest.fixture
async def rig(generated: GeneratedAsterisk, tmp_path: Path) -> AsyncIterator[Rig]:
    db = tmp_path / "hotline.db"
    async with hotline_on(generated, db, PASSWORD, agi_port=AGI_PORT) as hotline:
        agents = Softphones(port=generated.ports.sip)
        far_end = Softphones(port=generated.ports.sip)  # its own worker: its own account
        try:
            await agents.start()
            await far_end.start()
            yield Rig(generated, hotline, agents, far_end)
        finally:
            errors = agents.errors + far_end.errors
            await agents.close()
            await far_end.close()
        assert errors == []


async def _supervisor(http: aiohttp.ClientSession, rig: Rig) -> Client:
    sup = await rig.client(http, "90001")
    assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
    return sup


async def _request_callback(rig: Rig, sup: Client) -> str:
    """A fault caller asks for a callback and is hung up; its call id."""
    call = await rig.carrier.call("4001", CUSTOMER, "Callback Caller")
    assert call.admitted, call
    queued = await sup.wait_for("call.queued", within=15)
    call_id: str = queued["data"]["call_id"]
    await asyncio.sleep(1.0)  # in [hotline-wait-keys]: music, listening for a key
    await rig.carrier.press(call, "*")
    requested = await sup.wait_for("call.callback", within=10, state="requested")
    assert requested["data"]["call_id"] == call_id
    assert requested["data"]["number"] == CUSTOMER
    await sup.wait_for("call.callback", within=15, state="waiting")
    # the confirmation played, Hotline hung the caller up: no channel of it is left
    for _ in range(50):
        if not _channels(rig, "Local/4001@from-trunk"):
            break
        await asyncio.sleep(0.1)
    assert not _channels(rig, "Local/4001@from-trunk")
    return call_id


def _channels(rig: Rig, prefix: str) -> list[str]:
    out = rig.pbx.instance.rx("core show channels concise")
    return [line.split("!")[0] for line in out.splitlines() if line.startswith(prefix)]


async def test_callback_dials_the_customer_through_the_trunk_and_connects_the_agent(
    rig: Rig,
) -> None:
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        agent = await rig.client(http, "80001", extension="8001")
        phone = await rig.phone("8001")
        customer = await rig.customer()
        call_id = await _request_callback(rig, sup)

        assert (await agent.ask("agent.ready"))["ok"]
        dialling = await sup.wait_for("call.callback", within=10, state="dialling")
        assert dialling["data"]["call_id"] == call_id
        assert dialling["data"]["agent_id"] == "80001" and dialling["data"]["attempts"] == 1
        incoming = await customer.wait_ringing(timeout=10)
        assert incoming.caller == "4001"  # Hotline's callerid: the number the customer rang
        # the customer's leg is a trunk channel, counted in the E1's group
        assert len(_channels(rig, "PJSIP/e1trunk-")) == 1
        group = rig.pbx.instance.rx("group show channels")
        assert "e1" in group and "trunk" in group, group
        assert not phone.calls  # the agent is not rung before the customer answers
        await customer.answer(incoming)
        await sup.wait_for("call.callback", within=10, state="answered", call_id=call_id)
        ringing = await agent.wait_for("call.ringing", within=10)
        assert ringing["data"]["call_id"] == call_id
        assert ringing["data"]["caller"] == CUSTOMER
        assert ringing["data"]["ivr"][-2:] == ["callback:requested", "callback:answered"]
        await phone.answer(await phone.wait_ringing(timeout=10))
        await agent.wait_for("call.answered", within=10, call_id=call_id)
        await asyncio.sleep(0.5)
        await customer.hangup(incoming)
        await agent.wait_for("call.ended", within=10, call_id=call_id)
        # one Originate, no duplicate: nothing more said "dialling", nothing rang again
        later = [e["data"]["state"] for e in sup.events if e["event"] == "call.callback"]
        assert "dialling" not in later, later
        with pytest.raises(TimeoutError):
            await customer.wait_ringing(timeout=1.0)
    await asyncio.sleep(0.5)
    record = await rig.store.get_call(call_id)
    assert record.outcome == "answered" and record.agent_id == "80001"
    assert record.ivr_path == ("queue:fault", "callback:requested", "callback:answered")


async def test_callback_waits_while_the_e1_is_full(rig: Rig) -> None:
    """Two SIP calls from the carrier (direct DIDs 7002 and 7003, answered at 8002 and
    8003) fill the E1: the callback's turn comes, Hotline does not dial (no attempt
    used, the customer's phone stays silent); one of them hangs up, the callback goes."""
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        agent = await rig.client(http, "80001", extension="8001")
        phone = await rig.phone("8001")
        customer = await rig.customer()
        call_id = await _request_callback(rig, sup)

        carrier = await rig.agents.trunk("e1trunk", rig.pbx.passwords["e1trunk"])
        busy = []
        for n, did in enumerate(("7002", "7003")):
            far = await rig.phone("8" + did[1:])
            await carrier.place(did, f"021555019{n}")
            busy.append((far, await far.answer(await far.wait_ringing(timeout=10))))
        for _ in range(50):
            if rig.server.center.trunk_busy() == TRUNK_CHANNELS:
                break
            await asyncio.sleep(0.1)
        assert rig.server.center.trunk_busy() == TRUNK_CHANNELS  # the E1 is full

        assert (await agent.ask("agent.ready"))["ok"]
        retry = await sup.wait_for("call.callback", within=10, state="retry")
        assert retry["data"]["reason"] == "trunk_full" and retry["data"]["attempts"] == 0
        with pytest.raises(TimeoutError):
            await customer.wait_ringing(timeout=2.0)  # through retry_after_s, still full
        assert not phone.calls
        far, call = busy.pop()
        await far.hangup(call)  # one channel free

        dialling = await sup.wait_for("call.callback", within=15, state="dialling")
        assert dialling["data"]["call_id"] == call_id and dialling["data"]["attempts"] == 1
        await customer.answer(await customer.wait_ringing(timeout=10))
        await sup.wait_for("call.callback", within=10, state="answered", call_id=call_id)
        await phone.answer(await phone.wait_ringing(timeout=10))
        await agent.wait_for("call.answered", within=10, call_id=call_id)
        await customer.hangup()
        await agent.wait_for("call.ended", within=10, call_id=call_id)
        for far, call in busy:
            await far.hangup(call)


async def test_failed_callback_is_retried_then_reported(rig: Rig) -> None:
    async with aiohttp.ClientSession() as http:
        sup = await _supervisor(http, rig)
        agent = await rig.client(http, "80001", extension="8001")
        phone = await rig.phone("8001")
        customer = await rig.customer()
        call_id = await _request_callback(rig, sup)

        assert (await agent.ask("agent.ready"))["ok"]
        for attempt in (1, 2):
            dialling = await sup.wait_for("call.callback", within=15, state="dialling")
            assert dialling["data"]["attempts"] == attempt
            await customer.hangup(await customer.wait_ringing(timeout=10), code=486)  # busy
            if attempt == 1:
                retry = await sup.wait_for("call.callback", within=15, state="retry")
                assert retry["data"]["attempts"] == 1
        failed = await sup.wait_for("call.callback", within=15, state="failed")
        assert failed["data"]["call_id"] == call_id
        # the agent's phone never rang, it was not charged a miss and is free again
        assert not phone.calls
        view = rig.server.center.acd.agent("80001")
        assert view.state.value == "ready" and view.reason is None
    await asyncio.sleep(0.5)
    record = await rig.store.get_call(call_id)
    assert record.outcome == "failed" and record.cause == "callback_failed"
    assert record.ivr_path[-1] == "callback:failed"
    assert [leg.outcome for leg in record.legs] == ["callback_failed", "callback_failed"]


async def test_survey_after_the_agent_hangs_up(rig: Rig) -> None:
    async with aiohttp.ClientSession() as http:
        agent = await rig.client(http, "80001", extension="8001")
        phone = await rig.phone("8001")
        assert (await agent.ask("agent.ready"))["ok"]
        caller = await rig.carrier.call("4001", "0215550401", "Surveyed")
        assert caller.admitted, caller
        await phone.answer(await phone.wait_ringing(timeout=10))
        answered = await agent.wait_for("call.answered", within=10)
        call_id = answered["data"]["call_id"]
        await asyncio.sleep(0.5)
        await phone.hangup()  # the agent hangs up first; the caller stays on the line
        await agent.wait_for("agent.state", within=10, state="wrap_up")
        await asyncio.sleep(1.0)  # Dial's g: [hotline-survey], the prompt's beep
        assert _channels(rig, "Local/4001@from-trunk")  # still there
        await rig.carrier.press(caller, "4")
        await agent.wait_for("call.ended", within=15, call_id=call_id)
    await asyncio.sleep(0.5)
    record = await rig.store.get_call(call_id)
    assert record.satisfaction == 4
    assert record.ivr_path == ("queue:fault", "survey=4")
