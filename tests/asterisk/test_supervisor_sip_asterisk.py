"""The dispatcher's keys end to end over SIP on a real Asterisk 22 (docs/dispatch.md):
the configuration Hotline generates, the whole Hotline server, pjsua2 softphones
registered to the generated pjsip.conf for the agents (8001-8003) and the supervisor
(9001), and a carrier caller on the trunk endpoint (e1trunk).

The supervisor works over WebSocket only; what happens is checked on the SIP side (which
phone rings, who is hung up) and on the PBX's side, through a second AMI user that only
this test adds to the generated manager.conf (``read = system,call,dtmf``, ``write =
reporting``, what an AMI link needs to come up and list: Hotline's own user has no
``dtmf`` class, and the mode switches are DTMF received by ChanSpy's channel).
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cti.ami.codec import Message
from cti.asterisk.instance import Ports
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import Install
from cti.asterisk.stack import GeneratedAsterisk, start_generated
from cti.config import Config, parse_config
from cti.link import AMILink
from pbx_sim.sip import Phone, PhoneCall, Softphones, TrunkCaller
from tests.asterisk.hotline_rig import Hotline, hotline_on
from tests.asterisk.test_e2e_asterisk import E2E_TOML, PASSWORD
from tests.harness import Client

pytestmark = pytest.mark.asterisk

AMI_SECRET = "supervisor-sip-ami-secret"
PORTS = Ports(ami=15638, sip=15660)
OBSERVER, OBSERVER_SECRET = "observer", "observer-secret"  # test-only AMI user
OBSERVER_USER = f"""
[{OBSERVER}]
secret = {OBSERVER_SECRET}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = system,call,dtmf
write = reporting
"""
#: The generated dialplan's [internal] rooms: the first one a conference gets.
FIRST_ROOM = "1000"


def supervisor_config() -> Config:
    # rings long enough for a supervisor to pick up before the ACD's RONA takes the call
    toml = E2E_TOML.replace("port = 15038", f"port = {PORTS.ami}").replace(
        "ring_timeout_s = 3", "ring_timeout_s = 10"
    )
    return parse_config(
        tomllib.loads(toml), "<supervisor SIP e2e>", env={"HOTLINE_AMI_SECRET": AMI_SECRET}
    )


@pytest.fixture(scope="module")
def generated(
    asterisk_install: Install,
    asterisk_netns: PrivateNetns,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GeneratedAsterisk]:
    stack = start_generated(
        asterisk_install,
        supervisor_config(),
        tmp_path_factory.mktemp("supervisor-sip-asterisk"),
        ports=PORTS,
        start=False,
    )
    manager = stack.config_dir / "manager.conf"
    manager.write_text(manager.read_text(encoding="utf-8") + OBSERVER_USER, encoding="utf-8")
    try:
        stack.instance.start()
        yield stack
    finally:
        stack.stop()


@dataclass
class Rig:
    pbx: GeneratedAsterisk
    hotline: Hotline
    softphones: Softphones
    observer: AMILink
    events: list[Message] = field(default_factory=list)

    async def phone(self, extension: str) -> Phone:
        return await self.softphones.register(extension, self.pbx.passwords[extension])

    async def trunk(self) -> TrunkCaller:
        return await self.softphones.trunk("e1trunk", self.pbx.passwords["e1trunk"])

    async def client(self, http: aiohttp.ClientSession, agent_id: str, extension: str) -> Client:
        c = Client(await http.ws_connect(f"{self.hotline.base}/ws"))
        reply = await c.ask("login", agent_id=agent_id, password=PASSWORD, extension=extension)
        assert reply["ok"], reply
        return c

    async def seen(self, check: Callable[[Message], bool], within: float = 5) -> Message:
        """The first event the observer got that passes ``check`` (waiting for it)."""
        async with asyncio.timeout(within):
            while True:
                for msg in self.events:
                    if check(msg):
                        return msg
                await asyncio.sleep(0.02)

    def channels(self) -> list[list[str]]:
        """``core show channels concise``: name, context, exten, prio, state, app, data..."""
        out = self.pbx.instance.rx("core show channels concise")
        return [line.split("!") for line in out.splitlines() if "!" in line]


@pytest.fixture
async def rig(generated: GeneratedAsterisk, tmp_path: Path) -> AsyncIterator[Rig]:
    async with hotline_on(generated, tmp_path / "hotline.db", PASSWORD) as hotline:
        observer = AMILink("127.0.0.1", PORTS.ami, OBSERVER, OBSERVER_SECRET)
        softphones = Softphones(port=generated.ports.sip)
        r = Rig(generated, hotline, softphones, observer)
        observer.register_event("*", lambda _link, msg: r.events.append(msg))
        try:
            await observer.start()
            await observer.wait_up(10)
            await softphones.start()
            yield r
        finally:
            errors = softphones.errors
            await softphones.close()
            await observer.close()
        assert errors == []
    await _no_channel_left(generated)


async def _no_channel_left(pbx: GeneratedAsterisk) -> None:
    """The next test starts on an empty PBX (every call of this one hung up)."""
    async with asyncio.timeout(10):
        while "0 active channels" not in pbx.instance.rx("core show channels count"):  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def talking(
    rig: Rig, agent: Client, phone: Phone, trunk: TrunkCaller
) -> tuple[str, PhoneCall, PhoneCall]:
    """A fault caller (SIP, DID 4001) answered at agent 8001's softphone: the call id,
    the caller's and the agent's SIP calls."""
    assert (await agent.ask("agent.ready"))["ok"]
    caller = await trunk.place("4001", "0215550101", caller_name="Zhang Wei")
    rang = await phone.wait_ringing(10)
    await phone.answer(rang)
    answered = await agent.wait_for("call.answered", within=10)
    await caller.wait_connected(5)
    return str(answered["data"]["call_id"]), caller, rang


async def test_listen_whisper_barge_on_one_spy_then_force_release(rig: Rig) -> None:
    agent_phone = await rig.phone("8001")
    sup_phone = await rig.phone("9001")
    trunk = await rig.trunk()
    async with aiohttp.ClientSession() as http:
        agent = await rig.client(http, "80001", "8001")
        sup = await rig.client(http, "90001", "9001")
        assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
        call_id, caller, agent_call = await talking(rig, agent, agent_phone, trunk)

        reply = await sup.ask("call.listen", call_id=call_id)
        assert reply["ok"], reply
        assert (reply["data"]["state"], reply["data"]["mode"]) == ("requested", "listen")
        target = reply["data"]["target"]
        assert target.startswith("PJSIP/8001-"), target
        # The supervisor's own phone rings (Originate of PJSIP/9001), and is answered.
        spy_call = await sup_phone.wait_ringing(5)
        assert spy_call.remote_number == "9001", spy_call
        await sup_phone.answer(spy_call)
        started = await sup.wait_for("call.monitored", state="started", call_id=call_id)
        spy = started["data"]["channel"]
        assert spy.startswith("PJSIP/9001-") and started["data"]["mode"] == "listen", started
        chanspy = await rig.seen(lambda m: m.event == "ChanSpyStart")
        assert (chanspy.get("SpyerChannel"), chanspy.get("SpyeeChannel")) == (spy, target)
        [row] = [c for c in rig.channels() if c[0] == spy]
        assert (row[4], row[5], row[6]) == ("Up", "ChanSpy", f"{target},qdE")

        # Whisper, barge, listen again: one ChanSpy channel, switched by the digits it
        # receives (PlayDTMF Receive); the supervisor's phone never rings again.
        for op, params, mode, digit in (
            ("call.whisper", {}, "whisper", "5"),
            ("call.barge", {}, "barge", "6"),
            ("call.monitor", {"mode": "listen"}, "listen", "4"),
        ):
            reply = await sup.ask(op, call_id=call_id, **params)
            assert reply["ok"] and reply["data"]["state"] == "changed", reply
            assert reply["data"]["mode"] == mode and reply["data"]["channel"] == spy
            changed = await sup.wait_for("call.monitored", state="changed", mode=mode)
            assert changed["data"]["channel"] == spy
            dtmf = await rig.seen(
                lambda m, d=digit: (  # type: ignore[misc]
                    m.event == "DTMFEnd" and m.get("Channel") == spy and m.get("Digit") == d
                )
            )
            assert dtmf.get("Direction") == "Received"
        assert [c[0] for c in rig.channels() if c[5] == "ChanSpy"] == [spy]
        assert list(sup_phone.calls.values()) == [spy_call] and spy_call.connected
        snap = await sup.ask("snapshot", topics=["calls"])
        assert [(m["call_id"], m["mode"], m["channel"]) for m in snap["data"]["monitors"]] == [
            (call_id, "listen", spy)
        ]
        assert not [e for e in agent.events if e["event"] == "call.monitored"]

        # Force release: every party is hung up on the SIP side; ChanSpy ends with the call.
        reply = await sup.ask("call.release", call_id=call_id, reason="abusive caller")
        assert reply["ok"], reply
        parties = reply["data"]["channels"]
        assert len(parties) == 2 and target in parties, parties
        assert next(c for c in parties if c != target).startswith("PJSIP/e1trunk-"), parties
        for sip_call in (caller, agent_call, spy_call):
            await sip_call.wait_ended(5)
            assert sip_call.ended_by == "remote", sip_call
        released = await sup.wait_for("call.released", call_id=call_id)
        assert (released["data"]["released_by"], released["data"]["reason"]) == (
            "90001",
            "abusive caller",
        )
        ended = await agent.wait_for("call.ended", call_id=call_id)
        assert ended["data"]["cause"] == "released" and ended["data"]["reason"] == "abusive caller"
        await sup.wait_for("call.monitored", state="stopped", call_id=call_id)
    await asyncio.sleep(0.3)
    record = await rig.hotline.store.get_call(call_id)
    assert (record.released_by, record.release_reason) == ("90001", "abusive caller")
    assert record.outcome == "answered" and record.agent_id == "80001"


async def test_force_pickup_of_a_ringing_agent_phone(rig: Rig) -> None:
    ringing_phone = await rig.phone("8002")  # rings, nobody at it
    sup_phone = await rig.phone("9001")
    trunk = await rig.trunk()
    async with aiohttp.ClientSession() as http:
        agent = await rig.client(http, "80002", "8002")
        sup = await rig.client(http, "90001", "9001")
        assert (await sup.ask("subscribe", topics=["calls", "extensions"]))["ok"]
        assert (await agent.ask("agent.ready"))["ok"]
        idle = await sup.ask("extension.pickup", extension="8002")
        assert idle["error"]["code"] == "invalid_state", idle
        caller = await trunk.place("4000", "0215550111", caller_name="Li Lei")
        rang = await ringing_phone.wait_ringing(10)
        ringing = await sup.wait_for("call.ringing")
        call_id = ringing["data"]["call_id"]
        await sup.wait_for("extension.state", extension="8002", state="ringing")

        reply = await sup.ask("extension.pickup", extension="8002")
        assert reply["ok"] and reply["data"] == {"extension": "8002", "lamp": "ringing"}, reply
        picking = await sup_phone.wait_ringing(5)
        await sup_phone.answer(picking)
        await rang.wait_ended(5)  # 8002 stops ringing: the call went to 9001
        assert rang.connected_at is None
        await sup.wait_for("extension.state", extension="8002", state="idle")
        await sup.wait_for("extension.state", extension="9001", state="busy")

        def caller_talks_to_9001() -> bool:
            server = rig.hotline.server
            call = server.model.calls.get(server.center.model_id(call_id))
            if call is None:
                return False
            up = {leg.device for leg in call.legs.values() if leg.state == "Up"}
            return "PJSIP/9001" in up and "PJSIP/8002" not in up

        async with asyncio.timeout(5):
            while not caller_talks_to_9001():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert not caller.ended and picking.connected
        await sup_phone.hangup(picking)
        await caller.wait_ended(5)
        await sup.wait_for("call.ended", call_id=call_id)


async def _members(sup: Client, room: str, want: dict[str, str]) -> dict[str, Any]:
    """The first ``conference.updated`` of ``room`` whose members' states are ``want``."""
    seen: list[dict[str, str]] = []
    try:
        async with asyncio.timeout(15):
            while True:
                data = (await sup.wait_for("conference.updated", within=15, conference=room))[
                    "data"
                ]
                got = {m["extension"]: m["state"] for m in data["members"]}
                if got == want:
                    return data  # type: ignore[no-any-return]
                seen.append(got)
    except TimeoutError:
        raise AssertionError(f"members never {want}; seen {seen}") from None


async def test_select_call_conference_phones_answer_and_end(rig: Rig) -> None:
    phones = {ext: await rig.phone(ext) for ext in ("9001", "8001", "8002", "8003")}
    async with aiohttp.ClientSession() as http:
        sup = await rig.client(http, "90001", "9001")
        assert (await sup.ask("subscribe", topics=["conferences"]))["ok"]
        reply = await sup.ask("conference.start", extensions=["8001", "8002", "8003"])
        assert reply["ok"], reply
        room = reply["data"]["conference"]
        assert room == FIRST_ROOM and reply["data"]["kind"] == "select"
        members = ["9001", "8001", "8002", "8003"]
        assert [m["extension"] for m in reply["data"]["members"]] == members
        await sup.wait_for("conference.started", conference=room)
        calls = {ext: await phone.wait_ringing(5) for ext, phone in phones.items()}
        for ext, phone in phones.items():
            await phone.answer(calls[ext])
        joined = await _members(sup, room, dict.fromkeys(members, "joined"))
        assert not any(m["muted"] for m in joined["members"])
        listed = rig.pbx.instance.rx(f"confbridge list {room}")
        for ext in members:
            assert f"PJSIP/{ext}-" in listed, listed

        muted = await sup.ask("conference.mute", conference=room, extension="8002")
        assert muted["ok"], muted
        await rig.seen(lambda m: m.event == "ConfbridgeMute" and m.get("Conference") == room)
        while True:
            update = await sup.wait_for("conference.updated", conference=room)
            by_ext = {m["extension"]: m for m in update["data"]["members"]}
            if by_ext["8002"]["muted"]:
                break

        ended = await sup.ask("conference.end", conference=room)
        assert ended["ok"], ended
        for ext, sip_call in calls.items():
            await sip_call.wait_ended(5)
            assert sip_call.ended_by == "remote", (ext, sip_call)
        end = await sup.wait_for("conference.ended", within=10, conference=room)
        assert {m["extension"]: m["state"] for m in end["data"]["members"]} == dict.fromkeys(
            members, "left"
        )
        gone = await sup.ask("conference.end", conference=room)
        assert gone["error"]["code"] == "not_found"
