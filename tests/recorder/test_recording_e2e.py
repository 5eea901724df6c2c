"""Recording end to end on pbx_sim: WebSocket for the call, REST for search and playback.

pbx_sim runs in-process with its AMI server on 127.0.0.1 and writes real WAV files for
MixMonitor; the Hotline server connects over AMI as to Asterisk, writes a real SQLite
file and serves WebSocket and REST on a real port.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiohttp
import pytest

from cti.center.server import HotlineServer
from cti.config import Config, Role, demo_config
from cti.store import Store
from pbx_sim.cli import SimHandle, build_parser
from pbx_sim.cli import start as start_sim
from recorder.core import Recording, State
from recorder.index import SearchFilter
from recorder.policy import Mode, QueuePolicy, RecordingConfig
from tests.harness import Client, start_server

SECRET = "rec-secret"
PASSWORD = "pw-recording"


@dataclass
class Rig:
    sim: SimHandle
    server: HotlineServer
    store: Store
    base: str
    recordings: Path

    @property
    def ws_url(self) -> str:
        return f"{self.base}/ws"

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


RECORDING = RecordingConfig(
    default=QueuePolicy(Mode.NEVER),
    queues=MappingProxyType(
        {
            "fault": QueuePolicy(Mode.ALWAYS, retention_days=30),
            "complaint": QueuePolicy(Mode.ON_DEMAND),
            "general": QueuePolicy(Mode.NEVER),
        }
    ),
    retention_days=365,
    settle_s=0.05,
    settle_timeout_s=3.0,
)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    args = build_parser().parse_args(
        [
            "--ami-port", "0", "--ami-user", "hotline", "--ami-secret", SECRET,
            "--agents", "6", "--answer-delay", "0.2",
            "--spool-dir", str(tmp_path / "spool"),
        ]
    )  # fmt: skip
    sim = await start_sim(args)
    config: Config = demo_config(ami_secret=SECRET)
    recordings = tmp_path / "recordings"
    config = replace(
        config,
        store=replace(config.store, recordings_dir=recordings),
        recording=RECORDING,
    )
    store = await Store.open(tmp_path / "hotline.db")
    await store.seed_from_config(config, PASSWORD)
    await store.create_agent("70001", role=Role.ADMIN, password=PASSWORD)
    server = await start_server(config, store, sim.port)
    yield Rig(sim, server, store, f"http://127.0.0.1:{server.http_port}", recordings)
    await server.stop()
    await sim.close()
    await store.close()


async def token(http: aiohttp.ClientSession, base: str, agent_id: str) -> dict[str, str]:
    async with http.post(
        f"{base}/api/login", json={"agent_id": agent_id, "password": PASSWORD}
    ) as r:
        assert r.status == 200, await r.text()
        return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def get_json(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], status: int = 200
) -> Any:
    async with http.get(url, headers=headers) as r:
        body = await r.json()
        assert r.status == status, body
        return body


async def record_one_call(rig: Rig, agent: Client, sup: Client) -> str:
    """A fault-queue call answered by 80001, paused and resumed, hung up: its call id."""
    caller = rig.call_in("4001", "0215550101", "张伟")
    queued = await sup.wait_for("call.queued", queue="fault")
    call_id: str = queued["data"]["call_id"]
    await agent.wait_for("call.answered", call_id=call_id)
    started = await agent.wait_for("call.recording", call_id=call_id, state="started")
    assert started["data"]["agent_id"] == "80001"
    assert started["data"]["on_demand"] is False
    await asyncio.sleep(0.3)
    paused = await agent.ask("call.record_pause", call_id=call_id)
    assert paused["ok"], paused
    await agent.wait_for("call.recording", call_id=call_id, state="paused")
    snap = await sup.ask("snapshot", topics=["calls"])
    [call] = [c for c in snap["data"]["calls"] if c["call_id"] == call_id]
    assert call["recording"] == "paused"
    again = await agent.ask("call.record_pause", call_id=call_id)
    assert again["error"]["code"] == "invalid_state"
    policy = await agent.ask("call.record_stop", call_id=call_id)  # fault records every call
    assert policy["error"]["code"] == "forbidden"
    await asyncio.sleep(0.3)
    assert (await agent.ask("call.record_resume", call_id=call_id))["ok"]
    await agent.wait_for("call.recording", call_id=call_id, state="resumed")
    await sup.wait_for("call.recording", call_id=call_id, state="resumed")  # calls topic
    snap = await sup.ask("snapshot", topics=["calls"])
    assert [c["recording"] for c in snap["data"]["calls"] if c["call_id"] == call_id] == [
        "recording"
    ]
    await asyncio.sleep(0.3)
    rig.hang_up(caller)
    stopped = await agent.wait_for("call.recording", call_id=call_id, state="stopped")
    assert stopped["data"]["duration_s"] > 0.8
    assert 0.2 < stopped["data"]["paused_s"] < 0.6
    await agent.wait_for("call.ended", call_id=call_id)
    await rig.server.recorder.drain()
    assert (await agent.ask("agent.wrap_up_done", disposition="fault"))["ok"]
    return call_id


async def test_always_queue_recorded_searched_played_guarded_audited(rig: Rig) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(rig.ws_url) as ws_agent,
        http.ws_connect(rig.ws_url) as ws_sup,
    ):
        agent, sup = Client(ws_agent), Client(ws_sup)
        assert (await agent.ask("login", agent_id="80001", password=PASSWORD, extension="8001"))[
            "ok"
        ]
        assert (await sup.ask("login", agent_id="90001", password=PASSWORD))["ok"]
        assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
        assert (await agent.ask("agent.ready"))["ok"]
        call_id = await record_one_call(rig, agent, sup)

        base = rig.base
        mine = await token(http, base, "80001")
        other = await token(http, base, "80002")
        boss = await token(http, base, "90001")
        admin = await token(http, base, "70001")

        # Search: by call id, agent, caller (any spelling), date range; agents see their own.
        found = await get_json(http, f"{base}/api/recordings?call_id={call_id}", mine)
        assert isinstance(found, list) and len(found) == 1
        rec = found[0]
        assert rec["call_id"] == call_id and rec["agent_id"] == "80001"
        assert rec["queue"] == "fault" and rec["caller"] == "0215550101"
        assert rec["state"] == "complete" and rec["url"] == f"/api/recordings/{rec['id']}/audio"
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        path = rig.recordings / rec["file"]
        assert rec["file"].startswith(day + "/") and path.is_file()
        data = path.read_bytes()
        assert rec["size"] == len(data)
        assert rec["sha256"] == hashlib.sha256(data).hexdigest()
        assert 0.8 < rec["duration_s"] < 3.0
        assert data[:4] == b"RIFF"
        for query in (
            "agent=80001",
            "caller=0215550101",
            "caller=%2B86%2021%20555%200101",  # +86 21 555 0101
            "queue=fault",
            "from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&agent=80001",
        ):
            hits = await get_json(http, f"{base}/api/recordings?{query}", boss)
            assert [h["id"] for h in hits] == [rec["id"]], query
        assert await get_json(http, f"{base}/api/recordings?to=2000-01-01T00:00:00Z", boss) == []
        assert await get_json(http, f"{base}/api/recordings?caller=0999", boss) == []
        assert await get_json(http, f"{base}/api/recordings", other) == []  # not theirs
        await get_json(http, f"{base}/api/recordings?agent=80001", other, 403)
        await get_json(http, f"{base}/api/recordings?limit=0", boss, 400)

        # Paging: limit, and a Link to the next page while there is one.
        index = rig.server.recorder.index
        for n in range(3):
            extra = Recording(f"x{n}-r1", f"x{n}", "80009", "13800138000", "inquiry",
                              f"PJSIP/8009-{n}", f"2026/01/0{n + 1}/x{n}-r1.wav", "", False,
                              1_767_225_600.0 + n * 86400, State.STOPPED)  # fmt: skip
            await index.opened(extra, extra.requested_at)
        async with http.get(f"{base}/api/recordings?agent=80009&limit=2", headers=boss) as r:
            first = await r.json()
            link = r.headers["Link"]
        assert [x["id"] for x in first] == ["x2-r1", "x1-r1"]
        assert link == '</api/recordings?agent=80009&limit=2&offset=2>; rel="next"'
        async with http.get(base + link[1 : link.index(">")], headers=boss) as r:
            assert [x["id"] for x in await r.json()] == ["x0-r1"]
            assert "Link" not in r.headers

        # Playback: whole file, ranges, 416; another agent gets 403; a supervisor may.
        url = base + rec["url"]
        async with http.get(url, headers=mine) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "audio/wav"
            assert r.headers["Accept-Ranges"] == "bytes"
            assert await r.read() == data
        async with http.get(url, headers={**mine, "Range": "bytes=0-99"}) as r:
            assert r.status == 206
            assert r.headers["Content-Range"] == f"bytes 0-99/{len(data)}"
            assert await r.read() == data[:100]
        async with http.get(url, headers={**boss, "Range": "bytes=-10"}) as r:
            assert r.status == 206 and await r.read() == data[-10:]
        async with http.get(url, headers={**mine, "Range": "bytes=100-"}) as r:
            assert r.status == 206 and await r.read() == data[100:]
        async with http.get(url, headers={**mine, "Range": f"bytes={len(data)}-"}) as r:
            assert r.status == 416
            assert r.headers["Content-Range"] == f"bytes */{len(data)}"
        async with http.get(url, headers=other) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == "forbidden"
        await get_json(http, f"{base}/api/recordings/{rec['id']}", other, 403)
        async with http.get(url, headers={}) as r:
            assert r.status == 401

        # Corrupted in place (same size): refused with 409, never served; restored: served.
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(flipped))
        async with http.get(url, headers=mine) as r:
            assert r.status == 409
            assert (await r.json())["error"]["code"] == "recording_corrupt"
        state = await get_json(http, f"{base}/api/recordings?call_id={call_id}", boss)
        assert state[0]["state"] == "corrupt"
        path.write_bytes(data)
        async with http.get(url, headers=mine) as r:
            assert r.status == 200 and await r.read() == data
        path.write_bytes(data + b"x")  # a changed size is caught without hashing
        async with http.get(url, headers=mine) as r:
            assert (await r.json())["error"]["code"] == "recording_corrupt"
        path.unlink()
        async with http.get(url, headers=mine) as r:
            assert r.status == 410
            assert (await r.json())["error"]["code"] == "recording_missing"

        # The audit: every search and download, allowed or not; admins only.
        await get_json(http, f"{base}/api/recording-audit", boss, 403)
        log = (await get_json(http, f"{base}/api/recording-audit?limit=1000", admin))["items"]
        outcomes = {(e["actor"], e["action"], e["outcome"]) for e in log}
        assert ("80001", "search", "ok") in outcomes
        assert ("80002", "search", "forbidden") in outcomes
        assert ("80002", "download", "forbidden") in outcomes
        assert ("80001", "download", "ok") in outcomes
        assert ("80001", "download", "range_not_satisfiable") in outcomes
        assert ("80001", "download", "recording_corrupt") in outcomes
        assert ("80001", "download", "recording_missing") in outcomes
        assert all(e["address"] == "127.0.0.1" for e in log)
        ranged = [e for e in log if e["detail"] == "bytes=0-99"]
        assert ranged and ranged[0]["recording_id"] == rec["id"]
        theirs = await get_json(http, f"{base}/api/recording-audit?actor=80002", admin)
        assert {e["actor"] for e in theirs["items"]} == {"80002"}


async def test_on_demand_never_and_retention(rig: Rig) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(rig.ws_url) as ws_agent,
        http.ws_connect(rig.ws_url) as ws_sup,
    ):
        agent, sup = Client(ws_agent), Client(ws_sup)
        login = await agent.ask("login", agent_id="80005", password=PASSWORD, extension="8005")
        assert login["ok"], login
        assert (await sup.ask("login", agent_id="90001", password=PASSWORD))["ok"]
        assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
        assert (await agent.ask("agent.ready"))["ok"]

        # complaint: on demand. Nothing is recorded until the agent asks.
        caller = rig.call_in("4002", "13800138000", "Li Lei")
        call_id = (await sup.wait_for("call.queued", queue="complaint"))["data"]["call_id"]
        await agent.wait_for("call.answered", call_id=call_id)
        await asyncio.sleep(0.3)
        assert not [e for e in agent.events if e["event"] == "call.recording"]
        paused = await agent.ask("call.record_pause", call_id=call_id)
        assert paused["error"]["code"] == "invalid_state"
        not_mine = await agent.ask("call.record", call_id="no-such-call")
        assert not_mine["error"]["code"] == "not_found"
        started = await agent.ask("call.record", call_id=call_id)
        assert started["ok"], started
        event = await agent.wait_for("call.recording", call_id=call_id, state="started")
        assert event["data"]["on_demand"] is True
        twice = await agent.ask("call.record", call_id=call_id)
        assert twice["error"]["code"] == "conflict"
        await asyncio.sleep(0.3)
        stop = await agent.ask("call.record_stop", call_id=call_id)  # StopMixMonitor
        assert stop["ok"], stop
        stopped = await agent.wait_for("call.recording", call_id=call_id, state="stopped")
        assert stopped["data"]["duration_s"] > 0.2
        again = await agent.ask("call.record_stop", call_id=call_id)
        assert again["error"]["code"] == "invalid_state"
        await asyncio.sleep(0.2)
        rig.hang_up(caller)  # the call goes on after the recording stopped
        await agent.wait_for("call.ended", call_id=call_id)
        await rig.server.recorder.drain()
        assert (await agent.ask("agent.wrap_up_done", disposition="complaint"))["ok"]

        # general: never. The agent may not start it.
        caller = rig.call_in("4000", "13900139000", "Han Meimei")
        call2 = (await sup.wait_for("call.queued", queue="general"))["data"]["call_id"]
        await agent.wait_for("call.answered", call_id=call2)
        refused = await agent.ask("call.record", call_id=call2)
        assert refused["error"]["code"] == "forbidden", refused
        rig.hang_up(caller)
        await agent.wait_for("call.ended", call_id=call2)

        boss = await token(http, rig.base, "90001")
        rows = await get_json(http, f"{rig.base}/api/recordings?agent=80005", boss)
        assert [r["call_id"] for r in rows] == [call_id]
        assert rows[0]["on_demand"] is True and rows[0]["state"] == "complete"
        assert await get_json(http, f"{rig.base}/api/recordings?call_id={call2}", boss) == []

    # Retention: complaint keeps 365 days (global). Age the row: purged, file and row.
    rec = rows[0]
    path = rig.recordings / rec["file"]
    assert path.is_file()
    service = rig.server.recorder
    async with rig.store.transaction() as conn:
        await conn.execute(
            "UPDATE recordings SET started_at = started_at - 364 * 86400 WHERE id = ?",
            (rec["id"],),
        )
    assert (await service.purge_now()).removed == []
    assert path.is_file()
    async with rig.store.transaction() as conn:
        await conn.execute(
            "UPDATE recordings SET started_at = started_at - 2 * 86400 WHERE id = ?",
            (rec["id"],),
        )
    dry = await service.purge_now(dry_run=True)
    assert [r["id"] for r in dry.removed] == [rec["id"]] and path.is_file()
    report = await service.purge_now()
    assert [r["id"] for r in report.removed] == [rec["id"]]
    assert not path.exists()
    assert await service.index.search(SearchFilter(call_id=call_id)) == []
    log = await service.index.access_log(action="purge")
    assert [(e.recording_id, e.actor) for e in log] == [(rec["id"], "system")]
