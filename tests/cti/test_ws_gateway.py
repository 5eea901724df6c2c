"""The WebSocket endpoint over a real socket: login first, one reply per command, limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from cti.api.bus import EventBus
from cti.api.protocol import ClientError, Command
from cti.api.ws import Connection, Session, WebSocketGateway
from cti.config import Role

ACCOUNTS = {"80001": ("pw1", Role.AGENT), "90001": ("pw9", Role.SUPERVISOR)}


async def authenticate(params: Mapping[str, Any], address: str) -> Session:
    account = ACCOUNTS.get(params.get("agent_id", ""))
    if account is None or account[0] != params.get("password"):
        raise ClientError("unauthenticated", "wrong agent id or password")
    return Session(params["agent_id"], account[1], params.get("extension"))


async def execute(conn: Connection, command: Command) -> Mapping[str, Any]:
    if command.op == "call.hangup":
        raise ClientError("not_found", f"no call {command.params['call_id']!r}")
    if command.op == "agent.ready":
        return {"state": "ready"}
    raise RuntimeError("boom")  # a handler bug must not kill the connection


async def snapshot(conn: Connection, topics: frozenset[str]) -> Mapping[str, Any]:
    return {"topics": sorted(topics)}


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, EventBus]]:
    bus = EventBus()
    gateway = WebSocketGateway(bus, authenticate, execute, snapshot)
    app = web.Application()
    app.router.add_get("/ws", gateway.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/ws", bus
    await runner.cleanup()


async def ask(ws: aiohttp.ClientWebSocketResponse, frame: Any) -> dict[str, Any]:
    await ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))
    while True:
        msg = json.loads(await asyncio.wait_for(ws.receive_str(), 5))
        if msg["type"] == "reply":
            return msg  # type: ignore[no-any-return]


async def test_login_first_then_commands(server: tuple[str, EventBus]) -> None:
    url, _ = server
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        before = await ask(ws, {"op": "agent.ready", "id": 1})
        assert before["error"]["code"] == "unauthenticated" and before["id"] == 1
        bad = await ask(ws, {"op": "login", "id": 2, "agent_id": "80001", "password": "x"})
        assert bad["error"]["code"] == "unauthenticated"
        ok = await ask(ws, {"op": "login", "id": 3, "agent_id": "80001", "password": "pw1"})
        assert ok["ok"] and ok["data"]["role"] == "agent" and ok["data"]["agent_id"] == "80001"
        assert (await ask(ws, {"op": "agent.ready", "id": "a"}))["data"] == {"state": "ready"}
        missing = await ask(ws, {"op": "call.hangup", "id": 4, "call_id": "nope"})
        assert missing["error"]["code"] == "not_found"
        crash = await ask(ws, {"op": "agent.logout", "id": 5})
        assert crash["error"]["code"] == "invalid_state"
        assert (await ask(ws, "{oops"))["id"] is None
        forbidden = await ask(ws, {"op": "subscribe", "id": 6, "topics": ["calls"]})
        assert forbidden["error"]["code"] == "forbidden"
        assert (await ask(ws, {"op": "agent.ready", "id": 7}))["ok"]  # still open


async def test_events_reach_subscribers_with_seq(server: tuple[str, EventBus]) -> None:
    url, bus = server
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ask(ws, {"op": "login", "id": 1, "agent_id": "90001", "password": "pw9"})
        await ask(ws, {"op": "subscribe", "id": 2, "topics": ["calls"]})
        bus.publish("call.queued", {"call_id": "c1", "caller": "张伟"}, "ts", ["calls"])
        bus.publish("call.queued", {"call_id": "c2"}, "ts", ["queues"])
        bus.publish("call.ended", {"call_id": "c1"}, "ts", ["calls"])
        events = [json.loads(await asyncio.wait_for(ws.receive_str(), 5)) for _ in range(2)]
        assert [(e["event"], e["seq"], e["eid"]) for e in events] == [
            ("call.queued", 1, 1),
            ("call.ended", 2, 3),
        ]
        assert events[0]["data"]["caller"] == "张伟"


async def test_resume_after_reconnect(server: tuple[str, EventBus]) -> None:
    url, bus = server
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url) as ws:
            await ask(ws, {"op": "login", "id": 1, "agent_id": "90001", "password": "pw9"})
            await ask(ws, {"op": "subscribe", "id": 2, "topics": ["calls"]})
            bus.publish("call.queued", {"n": 1}, "ts", ["calls"])
            first = json.loads(await ws.receive_str())
        bus.publish("call.queued", {"n": 2}, "ts", ["calls"])  # missed while away
        bus.publish("call.queued", {"n": 3}, "ts", ["calls"])
        async with http.ws_connect(url) as ws:
            await ask(ws, {"op": "login", "id": 1, "agent_id": "90001", "password": "pw9"})
            await ask(ws, {"op": "subscribe", "id": 2, "topics": ["calls"]})
            await ws.send_str(json.dumps({"op": "resume", "id": 3, "last_eid": first["eid"]}))
            frames = [json.loads(await ws.receive_str()) for _ in range(3)]
            assert [f.get("data", {}).get("n") for f in frames[:2]] == [2, 3]
            assert frames[2]["type"] == "reply" and frames[2]["data"]["replayed"] == 2


async def test_oversize_frame_closes_with_1009(server: tuple[str, EventBus]) -> None:
    url, _ = server
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"op": "login", "pad": "x" * 70_000}))
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1009


async def test_command_flood_is_rate_limited(server: tuple[str, EventBus]) -> None:
    url, _ = server
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ask(ws, {"op": "login", "id": 0, "agent_id": "80001", "password": "pw1"})
        for i in range(60):
            await ws.send_str(json.dumps({"op": "agent.ready", "id": i}))
        replies = [json.loads(await ws.receive_str()) for _ in range(60)]
        assert [r["id"] for r in replies] == list(range(60))  # one reply each, in order
        assert any(r.get("error", {}).get("code") == "rate_limited" for r in replies)
