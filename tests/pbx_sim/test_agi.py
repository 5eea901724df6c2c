"""pbx_sim as a FastAGI *client*: the Hotline trunk context hands an answered caller to
the CTI's FastAGI server (here a tiny one in the test), speaks AGI to it, and puts the
caller on hold music when the script is done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from cti.ami.codec import Message
from pbx_sim.agi_client import FastAGIConnector
from pbx_sim.ami_server import AMIServer
from pbx_sim.config import hotline_config
from pbx_sim.world import World

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, dict[str, str]], Awaitable[None]]


class AGIServer:
    """A FastAGI server running ``script`` for each connection."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.env: dict[str, str] = {}
        self.done = asyncio.Event()
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> AGIServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (line := (await reader.readline()).decode().rstrip("\n")) != "":
            key, _, value = line.partition(": ")
            self.env[key] = value
        try:
            await self.script(reader, writer, self.env)
        finally:
            writer.close()
            self.done.set()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str) -> str:
    writer.write(line.encode() + b"\n")
    return (await asyncio.wait_for(reader.readline(), 10)).decode().rstrip("\n")


class Sim:
    def __init__(self, world: World, server: AMIServer, events: list[Message]) -> None:
        self.world = world
        self.server = server
        self.events = events
        self.arrived = asyncio.Event()

    def call(self, did: str = "5000") -> str:
        call = self.world.trunk_call(self.server.runner.now(), did, "0215550101", "Alice")
        self.server.runner.poke()
        assert call.admitted
        return call.channel

    async def seen(self, pred: Callable[[Message], bool], within: float = 10.0) -> Message:
        async def wait() -> Message:
            while True:
                for e in self.events:
                    if pred(e):
                        return e
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(wait(), within)


async def start_sim(agi: str) -> tuple[Sim, FastAGIConnector]:
    world = World(hotline_config(agents=1, agi=agi), now=0.0)
    server = await AMIServer(world, port=0).start()
    events: list[Message] = []
    sim = Sim(world, server, events)

    def on_event(msg: Message) -> None:
        events.append(msg)
        sim.arrived.set()

    world.subscribe(on_event)
    return sim, FastAGIConnector(server.runner)


@pytest.fixture
async def cleanup() -> AsyncIterator[list[Callable[[], Awaitable[None]]]]:
    closers: list[Callable[[], Awaitable[None]]] = []
    yield closers
    for close in reversed(closers):
        await close()


async def test_fastagi_session_then_waiting(
    cleanup: list[Callable[[], Awaitable[None]]],
) -> None:
    replies: dict[str, str] = {}
    sim_box: list[Sim] = []

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, env: dict[str, str]
    ) -> None:
        sim = sim_box[0]
        replies["answer"] = await command(reader, writer, "ANSWER")
        replies["set"] = await command(reader, writer, "SET VARIABLE CTI_TICKET 42")
        replies["get"] = await command(reader, writer, "GET VARIABLE CTI_TICKET")
        replies["getnone"] = await command(reader, writer, "GET VARIABLE NOT_THERE")
        replies["cid"] = await command(reader, writer, "GET VARIABLE CALLERID(num)")
        writer.write(b"GET DATA welcome 3000 4\n")
        sim.world.send_dtmf(sim.server.runner.now(), env["agi_channel"], "12#")
        sim.server.runner.poke()
        replies["data"] = (await asyncio.wait_for(reader.readline(), 10)).decode().strip()
        replies["exec"] = await command(reader, writer, 'EXEC NoOp "ticket ${CTI_TICKET}"')
        replies["bogus"] = await command(reader, writer, "MAKE COFFEE")

    agi = await AGIServer(script).start()
    cleanup.append(agi.close)
    sim, connector = await start_sim(f"127.0.0.1:{agi.port}")
    sim_box.append(sim)
    cleanup.append(sim.server.close)
    cleanup.append(connector.close)
    chan = sim.call("5000")
    await asyncio.wait_for(agi.done.wait(), 10)
    assert agi.env["agi_network"] == "yes"
    assert agi.env["agi_network_script"] == "incoming"
    assert agi.env["agi_request"] == f"agi://127.0.0.1:{agi.port}/incoming"
    assert agi.env["agi_channel"] == chan
    assert agi.env["agi_callerid"] == "0215550101"
    assert agi.env["agi_calleridname"] == "Alice"
    assert agi.env["agi_context"] == "from-trunk"
    assert agi.env["agi_extension"] == "5000"
    assert agi.env["agi_arg_1"] == "5000"
    assert replies == {
        "answer": "200 result=0",
        "set": "200 result=1",
        "get": "200 result=1 (42)",
        "getnone": "200 result=0",
        "cid": "200 result=1 (0215550101)",
        "data": "200 result=12",
        "exec": "200 result=0",
        "bogus": "510 Invalid or unknown command",
    }
    # The script closed the connection: the dialplan goes on to the waiting music.
    await sim.seen(lambda e: e.event == "MusicOnHoldStart" and e["Channel"] == chan)
    starts = [e["Command"] for e in sim.events if e.event == "AGIExecStart"]
    assert starts[0] == "ANSWER" and "GET DATA welcome 3000 4" in starts
    status = [e for e in sim.events if e.event == "VarSet" and e["Variable"] == "AGISTATUS"]
    assert status[-1]["Value"] == "SUCCESS"


async def test_caller_hangs_up_during_agi(cleanup: list[Callable[[], Awaitable[None]]]) -> None:
    got: list[str] = []

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, env: dict[str, str]
    ) -> None:
        got.append(await command(reader, writer, "WAIT FOR DIGIT 10000"))
        got.append((await asyncio.wait_for(reader.readline(), 10)).decode().strip())
        got.append(await command(reader, writer, 'STREAM FILE hello-world ""'))

    agi = await AGIServer(script).start()
    cleanup.append(agi.close)
    sim, connector = await start_sim(f"127.0.0.1:{agi.port}")
    cleanup.append(sim.server.close)
    cleanup.append(connector.close)
    chan = sim.call()
    await sim.seen(lambda e: e.event == "AGIExecStart")
    sim.world.hangup(sim.server.runner.now(), chan)
    sim.server.runner.poke()
    await asyncio.wait_for(agi.done.wait(), 10)
    # the pending command ends with -1, the script is told HANGUP, commands then fail
    assert got[0] == "200 result=-1"
    assert got[1] == "HANGUP"
    assert got[2].startswith("511 ")
    await sim.seen(lambda e: e.event == "Hangup" and e["Channel"] == chan)


async def test_unreachable_fastagi_server(cleanup: list[Callable[[], Awaitable[None]]]) -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(probe.sockets[0].getsockname()[1])
    probe.close()
    await probe.wait_closed()  # nobody listens on this port any more
    sim, connector = await start_sim(f"127.0.0.1:{port}")
    cleanup.append(sim.server.close)
    cleanup.append(connector.close)
    chan = sim.call()
    await sim.seen(lambda e: e.event == "MusicOnHoldStart" and e["Channel"] == chan)
    status = [e for e in sim.events if e.event == "VarSet" and e["Variable"] == "AGISTATUS"]
    assert status[-1]["Value"] == "FAILURE"


@pytest.mark.parametrize(
    ("after_s", "end", "reply", "status"),
    [
        (0.1, "hangup", "200 result=-1", "FAILED"),  # gone during the beep: no message
        (1.0, "hangup", "200 result=-1", "SUCCESS"),  # hung up while speaking: kept
        (1.0, "#", "200 result=0", "SUCCESS"),  # '#' ends the message, the script goes on
    ],
)
async def test_voicemail_as_app_voicemail_ends_it(
    cleanup: list[Callable[[], Awaitable[None]]],
    after_s: float,
    end: str,
    reply: str,
    status: str,
) -> None:
    got: list[str] = []

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, env: dict[str, str]
    ) -> None:
        got.append(await command(reader, writer, 'EXEC VoiceMail "100@after-hours,s"'))

    agi = await AGIServer(script).start()
    cleanup.append(agi.close)
    sim, connector = await start_sim(f"127.0.0.1:{agi.port}")
    cleanup.append(sim.server.close)
    cleanup.append(connector.close)
    chan = sim.call()
    await sim.seen(lambda e: e.event == "AGIExecStart")
    await asyncio.sleep(after_s)  # "s": no instructions; the beep (0.44 s), then the message
    now = sim.server.runner.now()
    if end == "#":
        sim.world.send_dtmf(now, chan, "#")
    else:
        sim.world.hangup(now, chan)
    sim.server.runner.poke()
    await asyncio.wait_for(agi.done.wait(), 10)
    assert got == [reply]
    vm = [e["Value"] for e in sim.events if e.event == "VarSet" and e["Variable"] == "VMSTATUS"]
    assert vm == [status]
