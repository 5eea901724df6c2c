"""Replay a real Asterisk 22 AMI transcript against pbx_sim, and compare.

:func:`replay` builds a world from the capture lab's config, starts the AMI server on an
ephemeral port with a virtual clock, and walks the transcript's blocks in order: client
blocks are sent over a real TCP socket, ``### note`` blocks (what the softphones did)
become world inputs through the scenario table (:mod:`pbx_sim.scenarios`), and the clock
follows the blocks' timestamps. What the server sends is collected per connection and
checked by :func:`compare` (:mod:`pbx_sim.compare` explains how).

Run ``python -m pbx_sim.replay 01`` to print the differences for one transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cti.ami.codec import AMIDecoder, Message
from cti.ami.transcript import Block, read_transcript, transcript_paths

from .ami_server import AMIServer
from .compare import Rules, compare_streams
from .scenarios import rules_for, scenario_for
from .world import World

__all__ = ["ReplayResult", "compare", "main", "replay"]


@dataclass
class ReplayResult:
    name: str
    #: conn -> messages the transcript's server sent (banner dropped).
    expected: dict[int, list[Message]] = field(default_factory=dict)
    #: conn -> messages pbx_sim sent.
    actual: dict[int, list[Message]] = field(default_factory=dict)
    #: conn -> did the server close the connection.
    closed: dict[int, bool] = field(default_factory=dict)
    banners: dict[int, bytes] = field(default_factory=dict)
    world: World | None = None
    #: The scenario (keeps its MixMonitor spool directory alive).
    scenario: Any = None


def _decode(data: bytes) -> list[Message]:
    dec = AMIDecoder(role="server")
    dec.feed(data)
    return list(dec.messages())


class _Conn:
    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.data = bytearray()
        self.eof = False
        self.task: asyncio.Task[None] | None = None

    async def open(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.reader is not None
        try:
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    self.eof = True
                    return
                self.data += chunk
        except (ConnectionError, OSError):
            self.eof = True

    async def send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        if self.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 1.0)


async def _settle(server: Any, conns: dict[int, _Conn]) -> None:
    """Give the sockets time to carry everything pending (a few loop turns + a tiny wait)."""
    for _ in range(3):
        await asyncio.sleep(0)
    await asyncio.sleep(0.002)
    for _ in range(3):
        await asyncio.sleep(0)


async def replay(path: str | Path) -> ReplayResult:
    """Drive pbx_sim through the transcript at ``path``; return both sides' messages."""
    p = Path(path)
    blocks = read_transcript(p)
    scen = scenario_for(p.name, blocks)
    world = scen.build_world()
    server = AMIServer(world, virtual=True)
    await server.start()
    runner = server.runner
    scen.attach(server)
    conns: dict[int, _Conn] = {}
    result = ReplayResult(p.name, world=world, scenario=scen)
    try:
        for block in blocks:
            await runner.advance_to(block.t)
            if block.kind == "server":
                if block.conn not in conns:
                    result.banners[block.conn] = block.data
                    conn = conns[block.conn] = _Conn()
                    await conn.open(server.port)
                    await _settle(server, conns)
                continue
            if block.kind == "client":
                client = conns.get(block.conn)
                if client is None:
                    client = conns[block.conn] = _Conn()
                    await client.open(server.port)
                await client.send(_client_bytes(block.data, client, world))
                await _settle(server, conns)
                continue
            text = block.data.decode("utf-8", "replace").strip()
            m = re.match(r"conn (\d+): client closed the TCP connection", text)
            if m is not None and int(m.group(1)) in conns:
                await conns[int(m.group(1))].close()
                continue
            await scen.note(text, block.t)
            await _settle(server, conns)
        last = blocks[-1].t if blocks else 0.0
        await runner.advance_to(last + 0.05)
        await _settle(server, conns)
        streams = _expected_streams(blocks)
        for n, conn in conns.items():
            data = bytes(conn.data)
            banner = b"Asterisk Call Manager/11.0.0\r\n"
            if data.startswith(banner):
                data = data[len(banner) :]
            result.actual[n] = _decode(data)
            result.closed[n] = conn.eof
            result.expected[n] = streams.get(n, [])
    finally:
        for conn in conns.values():
            await conn.close()
        await server.close()
    return result


def _client_bytes(data: bytes, conn: _Conn, world: Any) -> bytes:
    """The transcripts replaced the AMI secret by ``SECRET``: put the lab's real one back
    (``Secret:``), and recompute an MD5 ``Key:`` from the challenge pbx_sim sent (a real
    client does the same; Asterisk's challenge was random)."""
    users = world.config.managers
    secret = next(iter(users.values())).secret if users else ""
    data = data.replace(b"Secret: SECRET\r\n", f"Secret: {secret}\r\n".encode())
    if b"\r\nKey: " in data:
        found = re.findall(rb"Challenge: (\S+)\r\n", bytes(conn.data))
        challenge = found[-1].decode() if found else ""
        key = hashlib.md5((challenge + secret).encode()).hexdigest()
        data = re.sub(rb"Key: [0-9a-f]+", f"Key: {key}".encode(), data)
    return data


def _expected_streams(blocks: list[Block]) -> dict[int, list[Message]]:
    out: dict[int, list[Message]] = {}
    for b in blocks:
        if b.kind != "server":
            continue
        if b.data.startswith(b"Asterisk Call Manager"):
            continue
        out.setdefault(b.conn, []).extend(_decode(b.data))
    return out


def compare(result: ReplayResult, rules: Rules | None = None) -> list[str]:
    """Differences between what Asterisk sent and what pbx_sim sent (empty: equal)."""
    return compare_streams(result.expected, result.actual, rules)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = transcript_paths()
    selected = [p for p in paths if not args or any(p.name.startswith(a) for a in args)]
    bad = 0
    for p in selected:
        result = asyncio.run(replay(p))
        problems = compare(result, rules_for(p.name))
        print(f"== {p.name}: {'OK' if not problems else f'{len(problems)} lane(s) differ'}")
        for prob in problems:
            print(prob)
        bad += bool(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
