"""Supervisor and dispatcher functions end to end: WebSocket clients, the Hotline server
and pbx_sim over real AMI on 127.0.0.1, a real SQLite file (docs/dispatch.md).

The PBX side is checked in pbx_sim's own state (the spy's mode, the conference's users,
who is ringing), not only in what Hotline says about it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cti.center.server import HotlineServer
from cti.config import AgentConfig, Config, DispatchLevel, Role, demo_config
from cti.store import Store
from pbx_sim.cli import SimHandle, build_parser
from pbx_sim.cli import start as start_sim
from pbx_sim.conference import conferences
from pbx_sim.phones import PhoneBehaviour
from tests.cti.test_e2e_sim import PASSWORD, SECRET
from tests.cti.test_supervisor_rules import SUPERVISOR_FUNCTIONS
from tests.harness import Client, start_server

SUB = AgentConfig("90002", "Sub-dispatcher", "9002", Role.SUPERVISOR, dispatch=DispatchLevel.SUB)
PLAIN = AgentConfig("90003", "Supervisor", "9003", Role.SUPERVISOR)


@dataclass
class Desk:
    sim: SimHandle
    server: HotlineServer
    store: Store
    url: str
    http: aiohttp.ClientSession

    def call_in(self, did: str, number: str, name: str = "Caller") -> str:
        runner = self.sim.server.runner
        call = self.sim.world.trunk_call(runner.now(), did, number, name)
        runner.poke()
        assert call.admitted
        return call.channel

    def spy_mode(self, supervisor_ext: str) -> str | None:
        for chan in self.sim.world.channels.values():
            if chan.device_name == f"PJSIP/{supervisor_ext}" and "spy_mode" in chan.data:
                return str(chan.data["spy_mode"])
        return None

    async def client(self, agent_id: str, extension: str | None = None) -> Client:
        ws = await self.http.ws_connect(self.url)
        client = Client(ws)
        params: dict[str, Any] = {"agent_id": agent_id, "password": PASSWORD}
        if extension:
            params["extension"] = extension
        reply = await client.ask("login", **params)
        assert reply["ok"], reply
        return client


def desk_config() -> Config:
    config = demo_config(ami_secret=SECRET)
    return replace(config, agents=(*config.agents, SUB, PLAIN))


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    args = build_parser().parse_args(
        [
            "--ami-port", "0", "--ami-user", "hotline", "--ami-secret", SECRET,
            "--agents", "4", "--supervisors", "3", "--answer-delay", "0.1",
            "--spool-dir", str(tmp_path / "spool"),
        ]
    )  # fmt: skip
    sim = await start_sim(args)
    for ext in ("9001", "9002", "9003"):  # dispatchers' headsets answer at once
        sim.world.phones.set(ext, PhoneBehaviour(answer_delay=0.05))
    config = desk_config()
    store = await Store.open(tmp_path / "hotline.db")
    await store.seed_from_config(config, PASSWORD)
    server = await start_server(config, store, sim.port)
    async with aiohttp.ClientSession() as http:
        d = Desk(sim, server, store, f"http://127.0.0.1:{server.http_port}/ws", http)
        yield d
    await d.server.stop()  # a test may have restarted it
    await d.sim.close()  # or the one it restarted
    await store.close()


async def talking_call(desk: Desk, agent: Client, did: str = "4001") -> str:
    """Agent ``agent`` (logged in) goes ready and answers a trunk call: its call id."""
    assert (await agent.ask("agent.ready"))["ok"]
    desk.call_in(did, "0215550101")
    answered = await agent.wait_for("call.answered")
    return str(answered["data"]["call_id"])


async def until(check: Any, within: float = 5.0) -> None:
    """Poll pbx_sim's or the server's state, which have no event to wait on."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_listen_whisper_barge_switch_modes_on_one_spy(desk: Desk) -> None:
    agent = await desk.client("80001", "8001")
    sup = await desk.client("90001", "9001")
    watcher = await desk.client("90003", "9003")
    assert (await watcher.ask("subscribe", topics=["calls"]))["ok"]
    call_id = await talking_call(desk, agent)

    reply = await sup.ask("call.listen", call_id=call_id)
    assert reply["ok"], reply
    assert reply["data"]["state"] == "requested" and reply["data"]["mode"] == "listen"
    started = await watcher.wait_for("call.monitored", state="started", call_id=call_id)
    assert started["data"]["supervisor"] == "90001" and started["data"]["extension"] == "9001"
    assert desk.spy_mode("9001") == "listen"
    spy_channels = [c for c in desk.sim.world.channels.values() if "spy_mode" in c.data]
    assert len(spy_channels) == 1

    for op, mode in (("call.whisper", "whisper"), ("call.barge", "barge")):
        reply = await sup.ask(op, call_id=call_id)
        assert reply["ok"] and reply["data"]["state"] == "changed", reply
        await watcher.wait_for("call.monitored", state="changed", mode=mode)
        await until(lambda m=mode: desk.spy_mode("9001") == m)  # type: ignore[misc]
    reply = await sup.ask("call.monitor", call_id=call_id, mode="listen")
    assert reply["ok"]
    await until(lambda: desk.spy_mode("9001") == "listen")
    # Still the one ChanSpy channel: the modes changed by DTMF, nobody re-rang the phone.
    assert [c for c in desk.sim.world.channels.values() if "spy_mode" in c.data] == spy_channels

    snap = await watcher.ask("snapshot", topics=["calls"])
    monitors = snap["data"]["monitors"]
    assert [(m["supervisor"], m["call_id"], m["mode"]) for m in monitors] == [
        ("90001", call_id, "listen")
    ]
    # The agent never learns that it is monitored.
    assert not [e for e in agent.events if e["event"] == "call.monitored"]

    reply = await sup.ask("call.monitor", call_id=call_id, mode="stop")
    assert reply["ok"], reply
    await watcher.wait_for("call.monitored", state="stopped", call_id=call_id)
    await until(lambda: desk.spy_mode("9001") is None)
    again = await sup.ask("call.monitor", call_id=call_id, mode="stop")
    assert again["error"]["code"] == "invalid_state"


async def test_whisper_asked_before_the_spy_starts_is_applied_when_it_does(desk: Desk) -> None:
    desk.sim.world.phones.set("9001", PhoneBehaviour(answer_delay=0.6))
    agent = await desk.client("80001", "8001")
    sup = await desk.client("90001", "9001")
    assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
    call_id = await talking_call(desk, agent)
    assert (await sup.ask("call.listen", call_id=call_id))["ok"]
    assert (await sup.ask("call.whisper", call_id=call_id))["ok"]  # phone still ringing
    started = await sup.wait_for("call.monitored", state="started")
    assert started["data"]["mode"] == "whisper"
    await until(lambda: desk.spy_mode("9001") == "whisper")


async def test_monitor_ends_with_the_call(desk: Desk) -> None:
    agent = await desk.client("80001", "8001")
    sup = await desk.client("90001", "9001")
    assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
    call_id = await talking_call(desk, agent)
    assert (await sup.ask("call.barge", call_id=call_id))["ok"]
    await sup.wait_for("call.monitored", state="started")
    assert (await agent.ask("call.hangup", call_id=call_id))["ok"]
    await sup.wait_for("call.monitored", state="stopped", call_id=call_id)
    await sup.wait_for("call.ended", call_id=call_id)
    await until(lambda: desk.spy_mode("9001") is None)
    snap = await sup.ask("snapshot", topics=["calls"])
    assert snap["data"]["monitors"] == []


async def test_force_release_records_the_reason(desk: Desk) -> None:
    agent = await desk.client("80001", "8001")
    sup = await desk.client("90001", "9001")
    assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
    call_id = await talking_call(desk, agent)
    reply = await sup.ask("call.release", call_id=call_id, reason="abusive caller")
    assert reply["ok"], reply
    assert len(reply["data"]["channels"]) == 2
    released = await sup.wait_for("call.released", call_id=call_id)
    assert released["data"]["released_by"] == "90001"
    assert released["data"]["reason"] == "abusive caller"
    ended = await agent.wait_for("call.ended", call_id=call_id)
    assert ended["data"]["cause"] == "released"
    assert ended["data"]["released_by"] == "90001"
    assert ended["data"]["reason"] == "abusive caller"
    await until(lambda: not desk.sim.world.channels)
    await asyncio.sleep(0.2)
    record = await desk.store.get_call(call_id)
    assert record.released_by == "90001" and record.release_reason == "abusive caller"
    missing = await sup.ask("call.release", call_id=call_id)
    assert missing["error"]["code"] == "not_found"


async def test_force_release_of_a_call_between_two_extensions(desk: Desk) -> None:
    sup = await desk.client("90001", "9001")
    assert (await sup.ask("subscribe", topics=["calls", "extensions"]))["ok"]
    # An internal call 9003 -> 8004, placed with a direct call:
    other = await desk.client("90003", "9003")
    reply = await other.ask("extension.call", extension="8004")
    assert reply["ok"] and reply["data"]["lamp"] == "idle", reply
    await sup.wait_for("extension.state", extension="8004", state="busy")
    await until(lambda: len(desk.server.model.calls) == 1)
    call_id = next(iter(desk.server.model.calls))
    reply = await sup.ask("call.release", call_id=call_id, reason="line needed")
    assert reply["ok"], reply
    released = await sup.wait_for("call.released", call_id=call_id)
    assert released["data"]["reason"] == "line needed"
    await until(lambda: not desk.sim.world.channels)


async def test_force_pickup_of_a_ringing_extension(desk: Desk) -> None:
    desk.sim.world.phones.set("8002", PhoneBehaviour(answer_delay=None))  # rings on
    agent = await desk.client("80002", "8002")
    sup = await desk.client("90001", "9001")
    assert (await sup.ask("subscribe", topics=["calls", "extensions"]))["ok"]
    assert (await agent.ask("agent.ready"))["ok"]
    not_ringing = await sup.ask("extension.pickup", extension="8002")
    assert not_ringing["error"]["code"] == "invalid_state"
    desk.call_in("4000", "0215550111")
    ringing = await sup.wait_for("call.ringing")
    await sup.wait_for("extension.state", extension="8002", state="ringing")
    reply = await sup.ask("extension.pickup", extension="8002")
    assert reply["ok"], reply
    await sup.wait_for("extension.state", extension="9001", state="busy")
    await sup.wait_for("extension.state", extension="8002", state="idle")

    def caller_talks_to_9001() -> bool:
        model = desk.server.model
        call = model.calls.get(desk.server.center.model_id(ringing["data"]["call_id"]))
        if call is None:
            return False
        devices = {leg.device for leg in call.legs.values() if leg.state == "Up"}
        return "PJSIP/9001" in devices and "PJSIP/8002" not in devices

    await until(caller_talks_to_9001)


async def test_direct_call_idle_busy_offer_and_barge(desk: Desk) -> None:
    agent = await desk.client("80001", "8001")
    sup = await desk.client("90001", "9001")
    plain = await desk.client("90003", "9003")
    assert (await sup.ask("subscribe", topics=["calls", "extensions"]))["ok"]

    idle = await sup.ask("extension.call", extension="8003")
    assert idle["ok"] and idle["data"] == {"extension": "8003", "lamp": "idle", "offer": None}
    await sup.wait_for("extension.state", extension="8003", state="busy")

    call_id = await talking_call(desk, agent)
    await sup.wait_for("extension.state", extension="8001", state="busy")
    busy = await sup.ask("extension.call", extension="8001")
    assert busy["ok"], busy
    assert busy["data"]["lamp"] == "busy" and busy["data"]["offer"] == "barge"
    assert busy["data"]["call_id"] == call_id
    # A supervisor without a dispatch level gets no barge offer.
    no_offer = await plain.ask("extension.call", extension="8001")
    assert no_offer["ok"] and no_offer["data"]["offer"] is None
    refused = await plain.ask("extension.call", extension="8001", barge=True)
    assert refused["error"]["code"] == "forbidden"

    unavailable = await sup.ask("extension.call", extension="8000")  # not registered
    assert unavailable["error"]["code"] == "invalid_state"
    # The dispatcher hangs up the direct call to 8003, then takes the offer.
    await until(lambda: desk.server.center.model.devices.get("PJSIP/9001") == "INUSE")
    for chan in list(desk.sim.world.channels.values()):
        if chan.device_name == "PJSIP/9001":
            desk.sim.world.hangup(desk.sim.server.runner.now(), chan.name)
    desk.sim.server.runner.poke()
    await sup.wait_for("extension.state", extension="9001", state="idle")
    taken = await sup.ask("extension.barge", extension="8001")
    assert taken["ok"] and taken["data"]["mode"] == "barge", taken
    await sup.wait_for("call.monitored", state="started", mode="barge")
    await until(lambda: desk.spy_mode("9001") == "barge")


async def test_select_call_conference_add_drop_mute_end(desk: Desk) -> None:
    sup = await desk.client("90001", "9001")
    watcher = await desk.client("90003", "9003")
    assert (await watcher.ask("subscribe", topics=["conferences"]))["ok"]
    reply = await sup.ask("conference.start", extensions=["8001", "8002"])
    assert reply["ok"], reply
    room = reply["data"]["conference"]
    assert [m["extension"] for m in reply["data"]["members"]] == ["9001", "8001", "8002"]
    await watcher.wait_for("conference.started", conference=room)

    def users() -> set[str]:
        conf = conferences(desk.sim.world).get(room)
        return set() if conf is None else {u.chan.device_name[6:] for u in conf.users}

    def states() -> dict[str, str]:
        conf = desk.server.supervision.conferences.get(room)
        return {} if conf is None else {e: m.state for e, m in conf.members.items()}

    await until(lambda: users() == {"9001", "8001", "8002"}, within=8)
    # The first one in hears the "only person" prompt (3.16 s) before joining.
    await until(lambda: set(states().values()) == {"joined"}, within=8)
    added = await sup.ask("conference.add", conference=room, extensions=["8003"])
    assert added["ok"], added
    await until(lambda: "8003" in users(), within=8)

    muted = await sup.ask("conference.mute", conference=room, extension="8002")
    assert muted["ok"], muted

    def member(ext: str) -> dict[str, Any]:
        snap = desk.server.supervision.conferences[room].json()
        return next(m for m in snap["members"] if m["extension"] == ext)

    await until(lambda: member("8002")["muted"])
    sim_conf = conferences(desk.sim.world)[room]
    assert [u.muted for u in sim_conf.users if u.chan.device_name == "PJSIP/8002"] == [True]
    assert (await sup.ask("conference.unmute", conference=room, extension="8002"))["ok"]
    await until(lambda: not member("8002")["muted"])

    dropped = await sup.ask("conference.drop", conference=room, extension="8001")
    assert dropped["ok"], dropped
    await until(lambda: "8001" not in users())
    snap = await watcher.ask("snapshot", topics=["conferences"])
    seen = {m["extension"]: m["state"] for m in snap["data"]["conferences"][0]["members"]}
    assert seen == {"9001": "joined", "8001": "dropped", "8002": "joined", "8003": "joined"}

    ended = await sup.ask("conference.end", conference=room)
    assert ended["ok"], ended
    end_event = await watcher.wait_for("conference.ended", within=8, conference=room)
    await until(lambda: room not in conferences(desk.sim.world), within=8)
    # The op's own update (made before the PBX kicked everyone) never follows the end:
    # a reply on the watcher's connection comes after every event published before it.
    assert (await watcher.ask("snapshot", topics=["conferences"]))["data"]["conferences"] == []
    late = [
        e for e in watcher.seen("conference.updated")
        if e["data"]["conference"] == room and e["eid"] > end_event["eid"]
    ]  # fmt: skip
    assert late == [], late
    gone = await sup.ask("conference.end", conference=room)
    assert gone["error"]["code"] == "not_found"


async def test_group_crud_over_websocket_and_group_call(desk: Desk) -> None:
    sup = await desk.client("90001", "9001")
    created = await sup.ask("group.create", name="night-shift", extensions=["8003", "8004"])
    assert created["ok"] and created["data"]["extensions"] == ["8003", "8004"], created
    dup = await sup.ask("group.create", name="night-shift", extensions=["8003"])
    assert dup["error"]["code"] == "conflict"
    updated = await sup.ask("group.update", name="night-shift", extensions=["8002", "8004"])
    assert updated["ok"] and updated["data"]["extensions"] == ["8002", "8004"]
    names = [g["name"] for g in (await sup.ask("group.list"))["data"]["items"]]
    assert "night-shift" in names and "fault-team" in names
    assert (await desk.store.get_group("night-shift")).extensions == ("8002", "8004")

    call = await sup.ask("group.call", group="night-shift")
    assert call["ok"], call
    room = call["data"]["conference"]
    assert call["data"]["kind"] == "group" and call["data"]["group"] == "night-shift"

    def users() -> set[str]:
        conf = conferences(desk.sim.world).get(room)
        return set() if conf is None else {u.chan.device_name[6:] for u in conf.users}

    await until(lambda: users() == {"9001", "8002", "8004"}, within=8)
    assert (await sup.ask("conference.end", conference=room))["ok"]
    await until(lambda: room not in conferences(desk.sim.world), within=8)

    assert (await sup.ask("group.delete", name="night-shift"))["ok"]
    missing = await sup.ask("group.call", group="night-shift")
    assert missing["error"]["code"] == "not_found"
    bad = await sup.ask("group.create", name="9bad name", extensions=["8001"])
    assert bad["error"]["code"] == "invalid_params"


async def test_sub_dispatcher_cannot_touch_the_main_dispatchers_calls(desk: Desk) -> None:
    main = await desk.client("90001", "9001")
    sub = await desk.client("90002", "9002")
    assert (await main.ask("subscribe", topics=["calls", "extensions"]))["ok"]
    # The main dispatcher calls extension 8003 directly.
    assert (await main.ask("extension.call", extension="8003"))["ok"]
    await main.wait_for("extension.state", extension="8003", state="busy")
    await until(lambda: len(desk.server.model.calls) == 1)
    call_id = next(iter(desk.server.model.calls))
    for op in ("call.listen", "call.whisper", "call.barge"):
        refused = await sub.ask(op, call_id=call_id)
        assert refused["error"]["code"] == "forbidden", refused
        assert "main dispatcher" in refused["error"]["message"]
    refused = await sub.ask("call.release", call_id=call_id, reason="try")
    assert refused["error"]["code"] == "forbidden"
    offer = await sub.ask("extension.call", extension="8003")
    assert offer["ok"] and offer["data"]["lamp"] == "busy" and offer["data"]["offer"] is None
    refused = await sub.ask("extension.barge", extension="9001")
    assert refused["error"]["code"] == "forbidden"
    # Nothing happened on the PBX: still one call of two legs, no spy.
    assert desk.spy_mode("9002") is None
    assert len(desk.sim.world.channels) == 2
    # The main dispatcher may act on a sub-dispatcher's call.
    assert (await sub.ask("extension.call", extension="8004"))["ok"]
    await main.wait_for("extension.state", extension="8004", state="busy")
    await until(lambda: len(desk.server.model.calls) == 2)
    sub_call = next(
        cid
        for cid, call in desk.server.model.calls.items()
        if any(leg.device == "PJSIP/9002" for leg in call.legs.values())
    )
    assert (await main.ask("call.release", call_id=sub_call, reason="priority"))["ok"]


async def test_emergency_caller_goes_to_the_head_of_the_queue(desk: Desk) -> None:
    sup = await desk.client("90001", "9001")
    assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
    desk.call_in("4001", "0215550181", "First")
    desk.call_in("4001", "0215550182", "Second")
    await sup.wait_for("call.queued", caller="0215550182")
    desk.call_in("4001", "120", "Emergency")
    queued = await sup.wait_for("call.queued", caller="120")
    assert queued["data"]["position"] == 1 and queued["data"]["emergency"] is True
    agent = await desk.client("80001", "8001")
    assert (await agent.ask("agent.ready"))["ok"]
    ringing = await agent.wait_for("call.ringing")
    assert ringing["data"]["caller"] == "120"


async def test_extension_lamps_for_every_configured_extension(desk: Desk) -> None:
    sup = await desk.client("90001", "9001")
    assert (await sup.ask("subscribe", topics=["extensions"]))["ok"]
    snap = await sup.ask("snapshot", topics=["extensions"])
    lamps = {e["extension"]: e["state"] for e in snap["data"]["extensions"]}
    configured = {a.extension for a in desk.server.config.agents if a.extension}
    assert configured <= set(lamps), sorted(configured - set(lamps))
    assert len(snap["data"]["extensions"]) == len(lamps)  # one entry per extension
    assert lamps["8000"] == "unavailable"  # left for a person, not registered
    assert lamps["8001"] == "idle" and lamps["9001"] == "idle"
    assert lamps["8012"] == "unavailable"  # configured, no phone in this PBX
    last_eid = snap["data"].get("last_eid")
    first = await sup.ask("extension.call", extension="8002")
    assert first["ok"]
    ringing = await sup.wait_for("extension.state", extension="8002", state="ringing")
    busy = await sup.wait_for("extension.state", extension="8002", state="busy")
    # A second connection resumes from before the call and sees the same lamp changes.
    late = await desk.client("90003", "9003")
    assert (await late.ask("subscribe", topics=["extensions"]))["ok"]
    since = ringing["eid"] - 1 if last_eid is None else last_eid
    resumed = await late.ask("resume", last_eid=since)
    assert resumed["ok"], resumed
    seen = [(e["data"]["extension"], e["data"]["state"]) for e in late.events]
    assert ("8002", "ringing") in seen and ("8002", "busy") in seen
    assert busy["eid"] > ringing["eid"]


async def test_an_agent_is_refused_every_supervisor_op_over_websocket(desk: Desk) -> None:
    agent = await desk.client("80001", "8001")
    sup = await desk.client("90001", "9001")
    call_id = await talking_call(desk, agent)
    params = {"call_id": call_id, "extension": "8001", "extensions": ["8001"],
              "conference": "1000", "group": "fault-team", "name": "fault-team",
              "mode": "listen"}  # fmt: skip
    for op in SUPERVISOR_FUNCTIONS:
        refused = await agent.ask(op, **params)
        assert refused["error"]["code"] == "forbidden", (op, refused)
    # Nothing was done: no spy, no conference, the group is intact, the call goes on.
    assert desk.spy_mode("8001") is None and not conferences(desk.sim.world)
    assert (await desk.store.get_group("fault-team")).extensions == ("8001", "8002", "8003", "8004")
    assert call_id in {desk.server.center.calls[m].call_id for m in desk.server.center.calls}
    assert (await sup.ask("call.listen", call_id=call_id))["ok"]


async def test_a_conference_ended_while_its_phones_ring_leaves_no_room(desk: Desk) -> None:
    """conference.end at once (before the "only person" prompt is over, nobody has
    joined): the phones that answer are kicked as they join; no room stays on the PBX."""
    sup = await desk.client("90001", "9001")
    assert (await sup.ask("subscribe", topics=["conferences"]))["ok"]
    room = (await sup.ask("conference.start", extensions=["8001"]))["data"]["conference"]
    ended = await sup.ask("conference.end", conference=room)
    assert ended["ok"] and {m["state"] for m in ended["data"]["members"]} == {"dropped"}
    await sup.wait_for("conference.ended", within=10, conference=room)
    assert room not in conferences(desk.sim.world)
    await until(lambda: not desk.sim.world.channels, within=8)  # kicked and hung up
