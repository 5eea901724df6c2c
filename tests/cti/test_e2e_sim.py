"""A whole call life over WebSocket against pbx_sim, with real sockets and SQLite.

pbx_sim runs in-process with its AMI server on 127.0.0.1; the Hotline server connects
to it over AMI exactly as to Asterisk, serves WebSocket and REST, and writes a real
database file. Callers are placed on the simulated carrier trunk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from cti.api.protocol import OPS
from cti.center.server import Endpoint, HotlineServer
from cti.config import Config, demo_config
from cti.store import Store
from pbx_sim.cli import SimHandle, build_parser
from pbx_sim.cli import start as start_sim
from tests.harness import Client, start_server

SECRET = "e2e-secret"
PASSWORD = "pw-e2e"


@dataclass
class Rig:
    sim: SimHandle
    server: HotlineServer
    store: Store
    url: str

    def call_in(self, did: str, number: str, name: str) -> str:
        runner = self.sim.server.runner
        call = self.sim.world.trunk_call(runner.now(), did, number, name)
        runner.poke()
        assert call.admitted
        return call.channel

    def hang_up(self, channel: str) -> None:
        runner = self.sim.server.runner
        self.sim.world.hangup(runner.now(), channel)
        runner.poke()


async def start_rig(
    tmp_path: Path, *, agents: int = 4, answer_delay: float = 0.3, ring_timeout: float = 15.0
) -> Rig:
    args = build_parser().parse_args(
        [
            "--ami-port", "0", "--ami-user", "hotline", "--ami-secret", SECRET,
            "--agents", str(agents), "--answer-delay", str(answer_delay),
            "--spool-dir", str(tmp_path / "spool"),
        ]
    )  # fmt: skip
    sim = await start_sim(args)
    config: Config = demo_config(ami_secret=SECRET)
    queues = tuple(replace(q, ring_timeout_s=ring_timeout) for q in config.queues)
    config = replace(config, queues=queues)
    store = await Store.open(tmp_path / "hotline.db")
    await store.seed_from_config(config, PASSWORD)
    await store.create_customer(name="张伟", phones=["0215550101"], notes="VIP, fault reports")
    server = await start_server(config, store, sim.port)
    return Rig(sim, server, store, f"http://127.0.0.1:{server.http_port}/ws")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = await start_rig(tmp_path)
    yield r
    await r.server.stop()
    await r.sim.close()
    await r.store.close()


async def test_call_life_queued_ringing_answered_ended_wrapped_up(rig: Rig) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(rig.url) as ws_agent,
        http.ws_connect(rig.url) as ws_sup,
    ):
        agent, sup = Client(ws_agent), Client(ws_sup)
        login = await agent.ask("login", agent_id="80001", password=PASSWORD, extension="8001")
        assert login["ok"], login
        assert login["data"]["role"] == "agent"
        assert (await sup.ask("login", agent_id="90001", password=PASSWORD))["ok"]
        topics = ["calls", "agents", "queues", "trunks"]
        assert (await sup.ask("subscribe", topics=topics))["ok"]
        ready = await agent.ask("agent.ready")
        assert ready["data"]["state"] == "ready", ready

        caller = rig.call_in("4001", "0215550101", "张伟")  # 4001 routes to queue fault

        queued = await sup.wait_for("call.queued")
        call_id = queued["data"]["call_id"]
        assert queued["data"]["queue"] == "fault" and queued["data"]["caller"] == "0215550101"
        ringing = await agent.wait_for("call.ringing", call_id=call_id)
        pop = ringing["data"]
        assert pop["agent_id"] == "80001" and pop["extension"] == "8001"
        assert pop["customer"]["name"] == "张伟" and pop["caller_name"] == "张伟"
        assert pop["history"] == []
        await agent.wait_for("call.answered", call_id=call_id)
        await sup.wait_for("agent.state", agent_id="80001", state="on_call")

        rig.hang_up(caller)
        ended = await agent.wait_for("call.ended", call_id=call_id)
        assert ended["data"]["talk_s"] > 0
        await agent.wait_for("agent.state", state="wrap_up")
        done = await agent.ask(
            "agent.wrap_up_done", disposition="fault", notes="line down", resolved=True
        )
        assert done["ok"] and done["data"]["state"] == "ready", done

    record = await rig.store.get_call(call_id)
    assert record.outcome == "answered"
    assert record.agent_id == "80001" and record.queue == "fault"
    assert record.caller_name == "张伟" and record.dialled_number == "4001"
    assert record.disposition == "fault" and record.resolved is True
    assert record.talk_s is not None and record.talk_s > 0


async def test_screen_pop_falls_back_to_the_async_reader_when_sqlite_cannot_answer(
    rig: Rig,
) -> None:
    # The loop-thread connection of Store.lookup_caller made useless (no tables): the pop
    # must still come, customer and history included, from the aiosqlite reader.
    broken = sqlite3.connect(":memory:")
    rig.store._pop = broken
    async with aiohttp.ClientSession() as http, http.ws_connect(rig.url) as ws:
        agent = Client(ws)
        await agent.ask("login", agent_id="80001", password=PASSWORD, extension="8001")
        await agent.ask("agent.ready")
        with capture_logs() as logs:
            caller = rig.call_in("4001", "0215550101", "张伟")
            ringing = await agent.wait_for("call.ringing")
        assert ringing["data"]["customer"]["name"] == "张伟"
        assert ringing["data"]["history"] == []
        deferred = [e for e in logs if e["event"] == "screen_pop.lookup_deferred"]
        assert deferred and "no such table" in deferred[0]["error"]
        rig.hang_up(caller)
    broken.close()
    rig.store._pop = None


async def test_a_customer_found_after_the_answer_still_pops_marked_answered(rig: Rig) -> None:
    # Both look-up paths made slow: the loop-thread connection broken, the aiosqlite
    # reader's thread held inside a query until the agent has answered.
    broken = sqlite3.connect(":memory:")
    release = threading.Event()
    reader = rig.store._reader
    await reader.create_function("hold", 0, lambda: release.wait(20))
    async with aiohttp.ClientSession() as http, http.ws_connect(rig.url) as ws:
        agent = Client(ws)
        await agent.ask("login", agent_id="80001", password=PASSWORD, extension="8001")
        await agent.ask("agent.ready")
        rig.store._pop = broken
        holding = asyncio.ensure_future(reader.execute_fetchall("SELECT hold()"))
        caller = rig.call_in("4001", "0215550101", "张伟")
        answered = await agent.wait_for("call.answered")
        assert agent.seen("call.ringing") == []  # the pop waits for the customer
        release.set()
        ringing = await agent.wait_for("call.ringing", call_id=answered["data"]["call_id"])
        assert ringing["data"]["customer"]["name"] == "张伟"
        assert ringing["data"]["answered"] is True
        rig.hang_up(caller)
    await holding
    broken.close()
    rig.store._pop = None


async def test_abandon_while_waiting_and_rona(tmp_path: Path) -> None:
    r = await start_rig(tmp_path, answer_delay=-1, ring_timeout=1.0)  # phones never answer
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(r.url) as ws:
            agent = Client(ws)
            await agent.ask("login", agent_id="80012", password=PASSWORD, extension="8002")
            # No agent ready: the caller waits, then hangs up.
            caller = r.call_in("4000", "0215550199", "Waiting Caller")
            await asyncio.sleep(0.3)
            r.hang_up(caller)
            await asyncio.sleep(0.3)
            assert (await agent.ask("agent.ready"))["ok"]
            # Agent 80012 (general) is offered the next call but its phone never answers:
            # after the 1 s ring timeout the ACD takes the call back (RONA).
            call2 = r.call_in("4000", "0215550198", "Second Caller")
            await agent.wait_for("call.ringing")
            state = await agent.wait_for("agent.state", state="not_ready")
            assert state["data"]["reason"] == "no_answer"
            r.hang_up(call2)
        await asyncio.sleep(0.5)
        calls = await r.store.query_calls()
        outcomes = sorted(c.outcome for c in calls)
        assert outcomes == ["abandoned", "abandoned"]
        legs = [leg for c in calls for leg in c.legs]
        assert [leg.outcome for leg in legs] == ["no_answer"]
    finally:
        await r.server.stop()
        await r.sim.close()
        await r.store.close()


async def test_pbx_restart_resyncs_and_keeps_records_exact(tmp_path: Path) -> None:
    """pbx_sim goes away mid-call and comes back on the same port (a fresh PBX): the link
    reconnects with backoff, resyncs, the lost call ends once with cause pbx_resync, the
    agent is freed, and the next call works."""
    r = await start_rig(tmp_path)
    port = r.sim.port
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(r.url) as ws:
            agent = Client(ws)
            await agent.ask("login", agent_id="80001", password=PASSWORD, extension="8001")
            await agent.ask("subscribe", topics=["self", "queues"])
            await agent.ask("agent.ready")
            r.call_in("4001", "0215550101", "张伟")
            answered = await agent.wait_for("call.answered")
            lost_call = answered["data"]["call_id"]

            await r.sim.server.shutdown()  # Event: Shutdown, connections closed
            await r.sim.close()
            args = build_parser().parse_args(
                [
                    "--ami-port", str(port), "--ami-user", "hotline", "--ami-secret", SECRET,
                    "--agents", "4", "--answer-delay", "0.3",
                    "--spool-dir", str(tmp_path / "spool2"),
                ]
            )  # fmt: skip
            r.sim = await start_sim(args)
            await r.server.link.wait_up(15)

            ended = await agent.wait_for("call.ended", within=15, call_id=lost_call)
            assert ended["data"]["cause"] in ("pbx_shutdown", "pbx_resync")
            # The agent is free again once its wrap-up is over, and takes the next call.
            state = await agent.wait_for("agent.state", within=15, state="wrap_up")
            assert state["data"]["agent_id"] == "80001"
            await agent.ask("agent.wrap_up_done", disposition="other")
            r.call_in("4001", "0215550102", "Next Caller")
            await agent.wait_for("call.answered", within=15)
        await asyncio.sleep(0.3)
        records = await r.store.query_calls()
        # Two calls, two records, even if the restarted PBX reused the first call's id.
        assert len(records) == 2, [c.call_id for c in records]
        assert sorted(c.call_id for c in records).count(lost_call) == 1
        lost = await r.store.get_call(lost_call)
        assert lost.ended_at is not None and lost.outcome == "answered"
    finally:
        await r.server.stop()
        await r.sim.close()
        await r.store.close()


async def test_fuzzed_frames_never_break_the_server(rig: Rig) -> None:
    """Random frames (hypothesis-made, driven over the real socket): one reply each,
    the connection survives, and a well-formed command still works afterwards."""
    values = st.one_of(
        st.none(), st.booleans(), st.integers(-5, 10**12), st.text(max_size=30),
        st.lists(st.text(max_size=5), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )  # fmt: skip
    frames = st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda op, params, fid: json.dumps({"op": op, "id": fid, **params}),
            st.sampled_from(sorted(OPS)),
            st.dictionaries(
                st.sampled_from(["call_id", "to", "mode", "reason", "number", "topics",
                                 "last_eid", "extension", "extensions", "group", "disposition",
                                 "notes", "resolved", "agent_id", "password", "token"]),
                values, max_size=4,
            ),
            st.integers(),
        ),
    )  # fmt: skip
    async with aiohttp.ClientSession() as http, http.ws_connect(rig.url) as ws:
        client = Client(ws)
        assert (await client.ask("login", agent_id="90001", password=PASSWORD))["ok"]
        sent: list[str] = []

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(frames)
        def collect(frame: str) -> None:
            sent.append(frame)

        collect()
        for frame in sent:
            await ws.send_str(frame)
            while True:
                msg = json.loads(await asyncio.wait_for(ws.receive_str(), 10))
                if msg["type"] == "reply":
                    break
            await asyncio.sleep(0.05)  # stay under the command rate limit
        snap = await client.ask("snapshot", topics=["agents", "queues"])
        assert snap["ok"] and len(snap["data"]["agents"]) == 14
    assert rig.server.link.is_up


async def test_hotline_restart_adopts_calls_still_up(tmp_path: Path) -> None:
    """The server stops (a crash or an upgrade) while one call is talking and another
    waits; a new server on the same database adopts both: the waiting caller is queued
    and reaches an agent, the conversation's record is written when it ends."""
    r = await start_rig(tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(r.url) as ws:
                agent = Client(ws)
                await agent.ask("login", agent_id="80001", password=PASSWORD, extension="8001")
                await agent.ask("agent.ready")
                talking = r.call_in("4001", "0215550101", "张伟")
                await agent.wait_for("call.answered")
            waiting = r.call_in("4001", "0215550177", "Waiting Caller")  # 80001 is busy
            await asyncio.sleep(0.3)
            await r.server.stop()

            config = r.server.config
            r.server = HotlineServer(
                config,
                r.store,
                ami=Endpoint("127.0.0.1", r.sim.port),
                http=Endpoint("127.0.0.1", 0),
            )
            await r.server.start()
            await r.server.link.wait_up(10)
            r.url = f"http://127.0.0.1:{r.server.http_port}/ws"
            async with http.ws_connect(r.url) as ws:
                other = Client(ws)
                await other.ask("login", agent_id="80002", password=PASSWORD, extension="8002")
                await other.ask("agent.ready")
                ringing = await other.wait_for("call.ringing")
                assert ringing["data"]["caller"] == "0215550177"
                await other.wait_for("call.answered")
                r.hang_up(talking)
                r.hang_up(waiting)
                await other.wait_for("call.ended")
        await asyncio.sleep(0.5)
        records = {c.caller_number: c for c in await r.store.query_calls()}
        first = records["0215550101"]
        assert first.outcome == "answered" and first.ended_at is not None
        assert first.agent_id == "80001"
        assert records["0215550177"].agent_id == "80002"
    finally:
        await r.server.stop()
        await r.sim.close()
        await r.store.close()
