"""What the end-to-end tests share: a Hotline server started against a PBX, and the
WebSocket client of one agent desktop or supervisor console.

The client speaks DESIGN.md §3.1 as a client would: ``ask`` sends a command and returns its
reply, keeping the events that arrive meanwhile; ``wait_for`` returns the first event of a
name whose data matches, from those kept or from the wire.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from cti.center.server import Endpoint, HotlineServer
from cti.config import Config
from cti.link import LinkSettings
from cti.store import Store


async def start_server(
    config: Config, store: Store, ami_port: int, *, agi: bool = False, agi_port: int = 0
) -> HotlineServer:
    """A server on an ephemeral HTTP port (and FastAGI port with ``agi``: ``agi_port``,
    or an ephemeral one), linked to the PBX's AMI; quick keepalives, so a dead link
    shows within seconds."""
    server = HotlineServer(
        config,
        store,
        ami=Endpoint("127.0.0.1", ami_port),
        http=Endpoint("127.0.0.1", 0),
        agi=Endpoint("127.0.0.1", agi_port) if agi else None,
        link_settings=LinkSettings(ping_interval=2.0, ping_timeout=2.0),
    )
    await server.start()
    await server.link.wait_up(10)
    return server


class Client:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._n = 0

    async def ask(self, op: str, **params: Any) -> dict[str, Any]:
        self._n += 1
        await self.ws.send_str(json.dumps({"op": op, "id": self._n, **params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.receive_str(), 10))
            if msg["type"] == "reply" and msg["id"] == self._n:
                return msg  # type: ignore[no-any-return]
            self.events.append(msg)

    async def wait_for(self, event: str, within: float = 10, **match: Any) -> dict[str, Any]:
        def hit(msg: dict[str, Any]) -> bool:
            data = msg["data"]
            return msg["event"] == event and all(data.get(k) == v for k, v in match.items())

        for seen in self.events:
            if hit(seen):
                self.events.remove(seen)
                return seen
        async with asyncio.timeout(within):
            while True:
                msg = json.loads(await self.ws.receive_str())
                if msg["type"] != "event":
                    continue
                if hit(msg):
                    return msg  # type: ignore[no-any-return]
                self.events.append(msg)

    def seen(self, event: str) -> list[dict[str, Any]]:
        """The events of that name kept so far (not consumed)."""
        return [e for e in self.events if e.get("event") == event]
