"""The AMI server's session rules over a real socket, in real time: login and its errors,
malformed actions, event masks and filters, list actions, slow consumers, and a failing
action that must not take the server down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from cti.ami.codec import AMIDecoder, Message, encode_message
from pbx_sim import actions
from pbx_sim.ami_server import AMIServer
from pbx_sim.config import hotline_config
from pbx_sim.world import World

USER, SECRET = "cti", "pw"


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = AMIDecoder(role="client")
        self.seen: list[Message] = []

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def send(self, *pairs: tuple[str, str]) -> None:
        self.writer.write(encode_message(pairs))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def next(self, within: float = 5.0) -> Message:
        while True:
            msg = self.decoder.next_message()
            if msg is not None:
                self.seen.append(msg)
                return msg
            data = await asyncio.wait_for(self.reader.read(65536), within)
            if not data:
                raise EOFError
            self.decoder.feed(data)

    async def until(self, pred: Callable[[Message], bool], within: float = 5.0) -> Message:
        deadline = time.monotonic() + within
        while True:
            msg = await self.next(max(deadline - time.monotonic(), 0.01))
            if pred(msg):
                return msg

    async def response(self, action_id: str) -> Message:
        return await self.until(lambda m: m.response is not None and m.action_id == action_id)

    async def login(self) -> Message:
        self.send(("Action", "Login"), ("ActionID", "l"), ("Username", USER), ("Secret", SECRET))
        return await self.response("l")

    async def closed(self, within: float = 5.0) -> bool:
        try:
            while True:
                await self.next(within)
        except EOFError:
            return True
        except (TimeoutError, ConnectionError):
            return False

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def server() -> AsyncIterator[AMIServer]:
    world = World(hotline_config(agents=2, ami_user=USER, ami_secret=SECRET), now=0.0)
    srv = await AMIServer(world, port=0, auth_failure_delay=0.3).start()
    try:
        yield srv
    finally:
        await srv.close()


def inbound_call(srv: AMIServer, did: str = "5000") -> str:
    call = srv.world.trunk_call(srv.runner.now(), did, "0215550101", "Alice")
    srv.runner.poke()
    return call.channel


async def test_login_errors_and_malformed_actions(server: AMIServer) -> None:
    c = await Client.connect(server.port)
    c.send(("Action", "Ping"), ("ActionID", "p0"))
    denied = await c.response("p0")
    assert c.decoder.version == "11.0.0"  # banner: Asterisk Call Manager/11.0.0
    assert (denied["Response"], denied["Message"]) == ("Error", "Permission denied")
    ok = await c.login()
    assert (ok["Response"], ok["Message"]) == ("Success", "Authentication accepted")
    booted = await c.until(lambda m: m.event == "FullyBooted")
    assert booted["Status"] == "Fully Booted"
    c.send(("Action", "Frobnicate"), ("ActionID", "u"))
    unknown = await c.response("u")
    assert unknown["Response"] == "Error"
    assert unknown["Message"] == (
        "Invalid/unknown command: Frobnicate. Use Action: ListCommands to show available commands."
    )
    c.send_raw(b"ActionID: noaction\r\nChannel: x\r\n\r\n")
    missing = await c.response("noaction")
    assert missing["Message"] == "Missing action in request"
    c.send(("Action", "Hangup"), ("ActionID", "h"))
    no_chan = await c.response("h")
    assert (no_chan["Response"], no_chan["Message"]) == ("Error", "No channel specified")
    c.send(("Action", "Redirect"), ("ActionID", "r"), ("Channel", "PJSIP/x-1"), ("Exten", "1"))
    no_such = await c.response("r")
    assert no_such["Message"] == "Channel does not exist: PJSIP/x-1"
    # A header line without a colon: answered, and the session stays usable.
    c.send_raw(b"Action: Ping\r\nActionID: junk\r\nthis is not a header\r\n\r\n")
    await c.response("junk")
    c.send(("Action", "Ping"), ("ActionID", "p1"))
    pong = await c.response("p1")
    assert pong["Ping"] == "Pong"
    c.send(("Action", "Logoff"), ("ActionID", "bye"))
    bye = await c.response("bye")
    assert (bye["Response"], bye["Message"]) == ("Goodbye", "Thanks for all the fish.")
    assert await c.closed()


async def test_bad_secret_is_answered_late_then_closed(server: AMIServer) -> None:
    c = await Client.connect(server.port)
    t0 = time.monotonic()
    c.send(("Action", "Login"), ("ActionID", "l"), ("Username", USER), ("Secret", "wrong"))
    failed = await c.response("l")
    assert (failed["Response"], failed["Message"]) == ("Error", "Authentication failed")
    assert time.monotonic() - t0 >= 0.25  # auth_failure_delay (1 s by default, as Asterisk)
    assert await c.closed()
    # the server is still there
    d = await Client.connect(server.port)
    assert (await d.login())["Response"] == "Success"
    d.close()


async def test_events_off_on_and_filter(server: AMIServer) -> None:
    c = await Client.connect(server.port)
    await c.login()
    c.send(("Action", "Events"), ("ActionID", "off"), ("EventMask", "off"))
    assert (await c.response("off"))["Events"] == "Off"
    inbound_call(server)
    c.send(("Action", "Ping"), ("ActionID", "p"))
    await c.response("p")
    await asyncio.sleep(0.2)
    c.send(("Action", "Ping"), ("ActionID", "p2"))
    await c.response("p2")
    assert not [m for m in c.seen if m.event == "Newchannel"]
    c.send(("Action", "Events"), ("ActionID", "on"), ("EventMask", "call"))
    assert (await c.response("on"))["Events"] == "On"
    c.send(("Action", "Filter"), ("ActionID", "f"), ("Filter", "Event: Hangup"))
    assert (await c.response("f"))["Response"] == "Success"
    chan = inbound_call(server)
    server.world.hangup(server.runner.now(), chan)
    hangup = await c.until(lambda m: m.event is not None)
    assert hangup.event == "Hangup" and hangup["Channel"] == chan  # only what the filter lets in


async def test_list_action_is_an_event_list(server: AMIServer) -> None:
    c = await Client.connect(server.port)
    await c.login()
    chans = [inbound_call(server) for _ in range(2)]
    c.send(("Action", "CoreShowChannels"), ("ActionID", "list"))
    start = await c.response("list")
    assert start["EventList"] == "start"
    assert start["Message"] == "Channels will follow"
    items: list[Message] = []
    while True:
        msg = await c.until(lambda m: m.action_id == "list")
        if msg.event == "CoreShowChannelsComplete":
            assert msg["EventList"] == "Complete" and msg["ListItems"] == str(len(items))
            break
        assert msg.event == "CoreShowChannel"
        items.append(msg)
    assert sorted(m["Channel"] for m in items) == sorted(chans)


async def test_failing_action_answers_error_and_server_lives(
    server: AMIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(world: World, msg: Message, reply: actions.ActionReply) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setitem(actions.ACTIONS, "ping", boom)
    c = await Client.connect(server.port)
    await c.login()
    c.send(("Action", "Ping"), ("ActionID", "boom"))
    err = await c.response("boom")
    assert (err["Response"], err["Message"]) == ("Error", "Internal error")
    monkeypatch.undo()
    c.send(("Action", "Ping"), ("ActionID", "ok"))
    assert (await c.response("ok"))["Ping"] == "Pong"


async def test_slow_consumer_is_dropped_and_others_carry_on(server: AMIServer) -> None:
    server.max_buffer = 32 * 1024
    slow = await Client.connect(server.port)
    fast = await Client.connect(server.port)
    await slow.login()
    await fast.login()
    # The slow client stops reading; its socket buffers fill, then the server's buffer.
    server.world.config.dialplan.globals["TRUNK_MAX"] = "100000"
    received = 0
    for _ in range(40):
        for _ in range(50):
            inbound_call(server)
        while True:  # the fast client keeps up
            try:
                await fast.next(0.05)
                received += 1
            except TimeoutError:
                break
        if len(server.sessions) == 1:
            break
    assert len(server.sessions) == 1, "the slow session should have been dropped"
    assert received > 1000
    fast.send(("Action", "Ping"), ("ActionID", "alive"))
    assert (await fast.response("alive"))["Ping"] == "Pong"
    slow.close()
