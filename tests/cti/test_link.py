"""Tests of the AMI link (cti/link/) against a small fake AMI server written here.

The fake speaks AMI with the project's codec on 127.0.0.1 (an ephemeral port): banner,
Login (right or wrong secret; a wrong one is answered late and the socket closed, as
Asterisk does), FullyBooted, Ping, the three resync lists, Originate with its
OriginateResponse, and whatever events a test pushes. It can hold back answers to chosen
actions, go silent (a half-open link), drop connections and restart on the same port.
Each test checks that it leaves no task or socket behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace

import pytest
import structlog
import uvloop

import cti.link.client as link_client
from cti.ami import AMIDecoder, Message, encode_message
from cti.ami.transcript import conn_streams, read_transcript, transcript_paths
from cti.calls import CallEnded, CallModel, CallStarted
from cti.calls.changes import CallChange
from cti.link import (
    ActionFailed,
    ActionTimeout,
    AMILink,
    AuthenticationFailed,
    LinkClosed,
    LinkDown,
    LinkSettings,
    backoff_delay,
)
from cti.logging import configure_logging

SECRET = "s3cret"
FAST = LinkSettings(
    action_timeout=0.5,
    connect_timeout=0.5,
    login_timeout=0.5,
    boot_timeout=0.3,
    resync_timeout=0.5,
    ping_interval=5.0,
    ping_timeout=0.5,
    backoff_initial=0.02,
    backoff_factor=2.0,
    backoff_max=0.2,
    backoff_jitter=0.0,
    stable_after=0.3,
)
Pairs = list[tuple[str, str]]


def _from_11() -> tuple[list[Pairs], list[Pairs], list[Pairs]]:
    """CoreShowChannel / DeviceStateList / ExtensionStateList items of transcript 11,
    without their ActionID (the fake adds the current one)."""
    path = next(p for p in transcript_paths() if p.name.startswith("11-"))
    data = b"".join(b.data for b in conn_streams(read_transcript(path))[1])
    dec = AMIDecoder()
    dec.feed(data)
    chans, devs, exts = [], [], []
    for m in dec.messages():
        pairs = [(k, v) for k, v in m.pairs if k != "ActionID"]
        if m.event == "CoreShowChannel":
            chans.append(pairs)
        elif m.event == "DeviceStateChange" and m.action_id:
            devs.append(pairs)
        elif m.event == "ExtensionStatus" and m.action_id:
            exts.append(pairs)
    return chans, devs, exts


CHANNELS_11, DEVICES_11, EXTENSIONS_11 = _from_11()


def newchannel(name: str, uid: str, caller_name: str = "Caller", linked: str = "") -> Pairs:
    return [
        ("Event", "Newchannel"),
        ("Privilege", "call,all"),
        ("Channel", name),
        ("ChannelState", "4"),
        ("ChannelStateDesc", "Ring"),
        ("CallerIDNum", "0215550199"),
        ("CallerIDName", caller_name),
        ("ConnectedLineNum", "<unknown>"),
        ("ConnectedLineName", "<unknown>"),
        ("Context", "from-trunk"),
        ("Exten", "5000"),
        ("Uniqueid", uid),
        ("Linkedid", linked or uid),
    ]


@dataclass
class Conn:
    writer: asyncio.StreamWriter
    actions: list[Message] = field(default_factory=list)
    silent: bool = False
    logged_in: bool = False


class FakeAMI:
    """A scripted AMI server (see the module docstring)."""

    def __init__(self) -> None:
        self.port = 0
        self.server: asyncio.Server | None = None
        self.conns: list[Conn] = []
        self.channels: list[Pairs] = []
        self.devices: list[Pairs] = []
        self.extensions: list[Pairs] = []
        self.hold: set[str] = set()  # lower-case action names never answered
        self.login_delay = 0.0
        self.fully_booted = True
        self.silent_after_login = False
        # events written right after the CoreShowChannels response / before it
        self.inside_list: list[Pairs] = []
        self.before_list: list[Pairs] = []
        self.got_action = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for conn in self.conns:
                conn.writer.transport.abort()
            await self.server.wait_closed()
            self.server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def drop(self) -> None:
        """Abort the newest connection (the PBX vanished)."""
        self.conns[-1].writer.transport.abort()

    @property
    def last(self) -> Conn:
        return self.conns[-1]

    def actions(self, conn: int = -1) -> list[str]:
        return [m.action or "" for m in self.conns[conn].actions]

    def send(self, pairs: Pairs, conn: int = -1) -> None:
        self.conns[conn].writer.write(encode_message(pairs))

    async def send_raw(self, chunks: Iterable[bytes], conn: int = -1) -> None:
        writer = self.conns[conn].writer
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.02)  # separate TCP segments

    def _reply(self, conn: Conn, pairs: Pairs) -> None:
        conn.writer.write(encode_message(pairs))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        conn = Conn(writer)
        self.conns.append(conn)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        dec = AMIDecoder("server")
        try:
            while data := await reader.read(4096):
                dec.feed(data)
                for msg in dec.messages():
                    conn.actions.append(msg)
                    self.got_action.set()
                    if conn.silent:
                        continue
                    await self._answer(conn, msg)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()
            self._tasks.discard(task)  # type: ignore[arg-type]

    async def _answer(self, conn: Conn, msg: Message) -> None:
        name = (msg.action or "").lower()
        aid = [("ActionID", msg.action_id)] if msg.action_id else []
        if name == "login":
            if self.login_delay:
                await asyncio.sleep(self.login_delay)
            if msg.get("Secret") != SECRET:
                await asyncio.sleep(0.05)  # Asterisk takes ~1 s
                self._reply(
                    conn, [("Response", "Error"), *aid, ("Message", "Authentication failed")]
                )
                await conn.writer.drain()
                conn.writer.close()
                return
            conn.logged_in = True
            self._reply(
                conn, [("Response", "Success"), *aid, ("Message", "Authentication accepted")]
            )
            if self.fully_booted:
                self._reply(conn, [("Event", "FullyBooted"), ("Privilege", "system,all")])
            conn.silent = self.silent_after_login
            return
        if not conn.logged_in:
            self._reply(conn, [("Response", "Error"), *aid, ("Message", "Permission denied")])
            return
        if name in self.hold:
            return
        if name == "ping":
            self._reply(conn, [("Response", "Success"), *aid, ("Ping", "Pong")])
        elif name in ("coreshowchannels", "devicestatelist", "extensionstatelist"):
            items, complete = {
                "coreshowchannels": (self.channels, "CoreShowChannelsComplete"),
                "devicestatelist": (self.devices, "DeviceStateListComplete"),
                "extensionstatelist": (self.extensions, "ExtensionStateListComplete"),
            }[name]
            if name == "coreshowchannels":
                for pairs in self.before_list:
                    self._reply(conn, pairs)
            self._reply(conn, [("Response", "Success"), *aid, ("EventList", "start")])
            if name == "coreshowchannels":
                for pairs in self.inside_list:
                    self._reply(conn, pairs)
            for pairs in items:
                self._reply(conn, [pairs[0], *aid, *pairs[1:]])
            self._reply(
                conn,
                [
                    ("Event", complete),
                    *aid,
                    ("EventList", "Complete"),
                    ("ListItems", str(len(items))),
                ],
            )
        elif name == "originate":
            self._reply(
                conn, [("Response", "Success"), *aid, ("Message", "Originate successfully queued")]
            )
            await asyncio.sleep(0.02)
            self._reply(
                conn,
                [("Event", "OriginateResponse"), *aid, ("Response", "Success"), ("Reason", "4")],
            )
        elif name == "nosuchaction":
            self._reply(conn, [("Response", "Error"), *aid, ("Message", "Invalid/unknown command")])
        else:
            self._reply(conn, [("Response", "Success"), *aid])


@pytest.fixture
async def pbx() -> AsyncIterator[FakeAMI]:
    fake = FakeAMI()
    await fake.start()
    yield fake
    await fake.stop()


@dataclass
class Probe:
    states: list[tuple[str, str | None]] = field(default_factory=list)
    changes: list[CallChange] = field(default_factory=list)


@contextlib.asynccontextmanager
async def linked(
    pbx: FakeAMI,
    *,
    secret: str = SECRET,
    settings: LinkSettings = FAST,
    model: CallModel | None = None,
    start: bool = True,
) -> AsyncIterator[tuple[AMILink, Probe]]:
    """A link to the fake; closed afterwards: no task may be left running and no
    error may have gone to the loop's exception handler (a future whose exception
    nobody retrieved, a task that died)."""
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: loop_errors.append(context))
    before = asyncio.all_tasks()
    link = AMILink(
        "127.0.0.1",
        pbx.port,
        "cti",
        secret,
        model=model if model is not None else CallModel(trunk_devices=["PJSIP/e1trunk"]),
        settings=settings,
        rand=lambda: 0.5,
    )
    probe = Probe()
    link.add_state_listener(lambda state, reason: probe.states.append((state, reason)))
    link.add_change_listener(probe.changes.extend)
    try:
        if start:
            await link.start()
        yield link, probe
    finally:
        await link.close()
        await asyncio.sleep(0)
        leaked = {t for t in asyncio.all_tasks() - before if not t.done()}
        leaked = {t for t in leaked if not (t.get_coro().__qualname__ or "").startswith("FakeAMI")}
        assert not leaked, f"tasks left behind: {leaked}"
        gc.collect()
        loop.set_exception_handler(None)
        assert not loop_errors, loop_errors


async def until(predicate: object, timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110 - any condition
            await asyncio.sleep(0.005)


# -- login ------------------------------------------------------------------------------------


async def test_login_then_resync_feeds_the_model(pbx: FakeAMI) -> None:
    pbx.channels, pbx.devices, pbx.extensions = CHANNELS_11, DEVICES_11, EXTENSIONS_11
    async with linked(pbx) as (link, probe):
        await link.wait_up(2.0)
        assert link.is_up and probe.states == [("up", None)]
        actions = pbx.actions()
        assert actions[0] == "Login"
        assert sorted(actions[1:4]) == ["CoreShowChannels", "DeviceStateList", "ExtensionStateList"]
        login = pbx.last.actions[0]
        assert login.get("Username") == "cti" and login.get("Events") == "on"
        model = link.model
        assert model is not None
        assert set(model.calls) == {"1795307165.118", "1795307168.120"}
        assert model.calls["1795307168.120"].queue == "support"
        assert model.devices["PJSIP/8001"] == "INUSE"
        assert model.extensions[("8001", "internal")].lamp == "busy"
        assert any(isinstance(c, CallStarted) for c in probe.changes)
        assert (await link.send_action({"Action": "Ping"})).get("Ping") == "Pong"
    assert probe.states[-1][0] == "down"
    assert link.state == "closed"


async def test_nothing_is_sent_before_login_succeeds(pbx: FakeAMI) -> None:
    pbx.login_delay = 0.2
    settings = replace(FAST, ping_interval=0.01)
    async with linked(pbx, settings=settings) as (link, _):
        await until(lambda: pbx.conns and pbx.last.actions)
        with pytest.raises(LinkDown):
            await link.send_action("Ping")  # not up yet: fails at once
        await asyncio.sleep(0.1)
        assert pbx.actions() == ["Login"]
        await link.wait_up(2.0)


async def test_bad_secret_is_an_error_not_a_reconnect_loop(pbx: FakeAMI) -> None:
    async with linked(pbx, secret="wrong") as (link, probe):
        with pytest.raises(AuthenticationFailed, match="refused"):
            await link.wait_up(2.0)
        assert link.state == "failed"
        await asyncio.sleep(0.3)  # 15 backoff periods
        assert len(pbx.conns) == 1
        assert pbx.actions() == ["Login"]
        assert probe.states == []
        assert link.stats["login_failures"] == 1
        with pytest.raises(AuthenticationFailed):
            await link.wait_up(0.1)


async def test_secret_is_never_logged(pbx: FakeAMI, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "json")
    try:
        async with linked(pbx, secret="wrong-" + SECRET) as (link, _):
            with pytest.raises(AuthenticationFailed):
                await link.wait_up(2.0)
        async with linked(pbx) as (link, _):
            await link.wait_up(2.0)
    finally:
        for handler in list(logging.getLogger().handlers):
            if handler.get_name() == "hotline":
                logging.getLogger().removeHandler(handler)
        structlog.reset_defaults()
    err = capsys.readouterr().err
    assert "ami.up" in err and "ami.login_refused" in err
    assert SECRET not in err


# -- actions ------------------------------------------------------------------------------------


async def test_action_timeout_and_the_link_stays_up(pbx: FakeAMI) -> None:
    pbx.hold = {"status"}
    async with linked(pbx) as (link, _):
        await link.wait_up(2.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ActionTimeout) as info:
            await link.send_action("Status", timeout_s=0.1)
        assert 0.09 < loop.time() - started < 0.4
        assert info.value.action == "Status"
        with pytest.raises(ActionTimeout):
            await link.send_action("Status")  # the default: action_timeout
        assert link.stats["action_timeouts"] == 2
        assert link.is_up
        assert (await link.ping()) < 0.5


async def test_error_response_is_action_failed(pbx: FakeAMI) -> None:
    async with linked(pbx) as (link, _):
        await link.wait_up(2.0)
        with pytest.raises(ActionFailed) as info:
            await link.send_action("NoSuchAction")
        assert info.value.message == "Invalid/unknown command"
        result = await link.send_action("NoSuchAction", check=False)
        assert not result.success


async def test_header_with_crlf_is_refused_before_sending(pbx: FakeAMI) -> None:
    async with linked(pbx) as (link, _):
        await link.wait_up(2.0)
        count = len(pbx.last.actions)
        with pytest.raises(ValueError, match="CR, LF"):
            await link.send_action("Originate", {"Channel": "PJSIP/8001\r\nAction: Hangup"})
        with pytest.raises(ValueError, match="ActionID"):
            await link.send_action({"Action": "Ping", "ActionID": "stolen"})
        with pytest.raises(ValueError, match="exactly one"):
            await link.send_action({"Channel": "x"})
        await link.ping()
        assert pbx.actions()[count:] == ["Ping"]


async def test_pending_actions_fail_on_disconnect_and_are_never_replayed(pbx: FakeAMI) -> None:
    pbx.hold = {"hangup", "originate"}
    async with linked(pbx) as (link, probe):
        await link.wait_up(2.0)
        hangup = asyncio.create_task(link.send_action("Hangup", {"Channel": "PJSIP/8001-1"}))
        origin = asyncio.create_task(link.originate({"Channel": "PJSIP/8001", "Exten": "1"}))
        await until(lambda: {"Hangup", "Originate"} <= set(pbx.actions()))
        pbx.drop()
        for task in (hangup, origin):
            with pytest.raises(LinkDown, match="went down"):
                await task
        await until(lambda: len(pbx.conns) == 2 and link.is_up)
        await asyncio.sleep(0.05)
        assert "Hangup" not in pbx.actions() and "Originate" not in pbx.actions()
        assert [s for s, _ in probe.states] == ["up", "down", "up"]


async def test_actions_fail_fast_while_down(pbx: FakeAMI) -> None:
    async with linked(pbx, start=False) as (link, _):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(LinkDown, match="idle"):
            await link.send_action("Ping")
        await pbx.stop()
        await link.start()
        await asyncio.sleep(0.05)
        with pytest.raises(LinkDown):
            await link.send_action("Ping")
        assert loop.time() - started < 0.2
    with pytest.raises(LinkClosed):
        await link.send_action("Ping")
    with pytest.raises(LinkClosed):
        await link.wait_up(0.1)


async def test_close_fails_pending_actions_with_link_closed(pbx: FakeAMI) -> None:
    pbx.hold = {"status"}
    async with linked(pbx) as (link, _):
        await link.wait_up(2.0)
        pending = asyncio.create_task(link.send_action("Status", timeout_s=5))
        await until(lambda: "Status" in pbx.actions())
        await link.close()
        with pytest.raises(LinkClosed):
            await pending


# -- keepalive and reconnect ---------------------------------------------------------------


async def test_ping_deadline_detects_a_silent_server(pbx: FakeAMI) -> None:
    settings = replace(FAST, ping_interval=0.1, ping_timeout=0.1)
    async with linked(pbx, settings=settings) as (link, probe):
        await link.wait_up(2.0)
        await asyncio.sleep(0.25)
        assert pbx.actions().count("Ping") >= 2  # answered pings keep it up
        assert link.is_up
        pbx.last.silent = True  # half-open: the TCP connection stays, nothing comes back
        loop = asyncio.get_running_loop()
        silent_at = loop.time()
        await until(lambda: probe.states[-1][0] == "down", 1.0)
        assert loop.time() - silent_at < 0.1 + 0.1 + 0.15  # interval + deadline + slack
        assert "Ping" in (probe.states[-1][1] or "")
        await until(lambda: link.is_up and len(pbx.conns) == 2)
        assert link.stats["keepalive_timeouts"] == 1


async def test_reconnect_with_backoff_after_restart_then_resync(pbx: FakeAMI) -> None:
    pbx.channels, pbx.devices, pbx.extensions = CHANNELS_11, DEVICES_11, EXTENSIONS_11
    async with linked(pbx) as (link, probe):
        await link.wait_up(2.0)
        model = link.model
        assert model is not None and len(model.calls) == 2
        await pbx.stop()  # Asterisk restarts: the port refuses for a while
        await until(lambda: probe.states[-1][0] == "down")
        await asyncio.sleep(0.4)
        # 0.02, 0.04, 0.08, 0.16, then the 0.2 cap: about 5 attempts in 0.4 s
        assert 3 <= link.stats["reconnects"] <= 7
        pbx.channels = CHANNELS_11[:1]  # after the restart only the agent's leg is there
        pbx.devices = DEVICES_11[:3]
        await pbx.start()
        await link.wait_up(2.0)
        assert [s for s, _ in probe.states] == ["up", "down", "up"]
        ends = [c for c in probe.changes if isinstance(c, CallEnded)]
        assert [(e.call_id, e.cause) for e in ends] == [("1795307168.120", "pbx_resync")]
        assert set(model.calls) == {"1795307165.118"}
        assert len(model.devices) == 3


def test_backoff_is_exponential_capped_and_jittered() -> None:
    settings = LinkSettings(
        backoff_initial=0.5, backoff_factor=2, backoff_max=30, backoff_jitter=0.2
    )
    mid = [backoff_delay(n, settings, lambda: 0.5) for n in range(9)]
    assert mid == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff_delay(0, settings, lambda: 0.0) == pytest.approx(0.4)
    assert backoff_delay(0, settings, lambda: 1.0) == pytest.approx(0.6)
    assert backoff_delay(10_000, settings, random.random) <= 36.0
    with pytest.raises(ValueError, match="backoff_jitter"):
        LinkSettings(backoff_jitter=1.0)
    with pytest.raises(ValueError, match="action_timeout"):
        LinkSettings(action_timeout=0)


async def test_backoff_grows_and_resets_after_a_stable_period(
    pbx: FakeAMI, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []

    def recording(attempt: int, settings: LinkSettings, rand: object) -> float:
        attempts.append(attempt)
        return backoff_delay(attempt, settings, rand)  # type: ignore[arg-type]

    monkeypatch.setattr(link_client, "backoff_delay", recording)
    async with linked(pbx) as (link, _):
        await link.wait_up(2.0)
        for _ in range(2):  # quick drops: the delay grows
            pbx.drop()
            await until(lambda: not link.is_up)
            await link.wait_up(2.0)
        assert attempts == [0, 1]
        await asyncio.sleep(FAST.stable_after + 0.05)  # stable: back to the first delay
        pbx.drop()
        await until(lambda: not link.is_up)
        await link.wait_up(2.0)
        assert attempts == [0, 1, 0]


async def test_missing_fully_booted_delays_but_does_not_block(pbx: FakeAMI) -> None:
    pbx.fully_booted = False
    async with linked(pbx) as (link, _):
        loop = asyncio.get_running_loop()
        started = loop.time()
        await link.wait_up(2.0)
        assert loop.time() - started >= FAST.boot_timeout * 0.9


async def test_shutdown_event_ends_calls_and_the_link_reconnects(pbx: FakeAMI) -> None:
    async with linked(pbx) as (link, probe):
        await link.wait_up(2.0)
        pbx.send(newchannel("PJSIP/e1trunk-00000001", "1.1"))
        await until(lambda: link.model is not None and link.model.calls)
        pbx.send([("Event", "Shutdown"), ("Shutdown", "Cleanly"), ("Restart", "True")])
        await until(lambda: any(isinstance(c, CallEnded) for c in probe.changes))
        pbx.drop()
        await until(lambda: len(pbx.conns) == 2 and link.is_up)
        [end] = [c for c in probe.changes if isinstance(c, CallEnded)]
        assert end.cause == "pbx_shutdown"


# -- events ---------------------------------------------------------------------------------------


async def test_list_actions_are_collected_and_their_items_not_dispatched(pbx: FakeAMI) -> None:
    pbx.devices = DEVICES_11
    async with linked(pbx) as (link, _):
        seen: list[str] = []
        link.register_event("DeviceStateChange", lambda _, m: seen.append(m.get("Device") or ""))
        await link.wait_up(2.0)
        result = await link.send_action("DeviceStateList")
        assert len(result.items) == 14 and result.complete is not None
        assert result.complete.get("ListItems") == "14"
        assert all(item.event == "DeviceStateChange" for item in result.items)
        assert seen == []  # neither the resync's nor this list's items
        pbx.send([("Event", "DeviceStateChange"), ("Device", "PJSIP/8002"), ("State", "RINGING")])
        await until(lambda: seen == ["PJSIP/8002"])
        assert link.model is not None and link.model.devices["PJSIP/8002"] == "RINGING"


async def test_originate_response_resolves_and_is_still_dispatched(pbx: FakeAMI) -> None:
    async with linked(pbx) as (link, _):
        seen: list[Message] = []
        link.register_event("Originate*", lambda _, m: seen.append(m))
        await link.wait_up(2.0)
        event = await link.originate({"Channel": "PJSIP/8001", "Exten": "8002"}, timeout_s=1)
        assert event.event == "OriginateResponse" and event.get("Reason") == "4"
        assert seen == [event]
        originate = pbx.last.actions[-1]
        assert originate.get("Async") == "true" and originate.get("Channel") == "PJSIP/8001"
        # an unsolicited OriginateResponse (another client's) is dispatched too
        pbx.send([("Event", "OriginateResponse"), ("ActionID", "someone-else"), ("Reason", "0")])
        await until(lambda: len(seen) == 2)


async def test_handler_errors_are_logged_and_the_reader_goes_on(pbx: FakeAMI) -> None:
    async with linked(pbx) as (link, probe):
        calls: list[str] = []

        def boom(_: AMILink, message: Message) -> None:
            calls.append(message.get("Channel") or "")
            raise RuntimeError("handler bug")

        async def later(_: AMILink, message: Message) -> None:
            await asyncio.sleep(0)
            raise RuntimeError("async handler bug")

        link.register_event("Newchannel", boom)
        link.register_event("New*", later)
        await link.wait_up(2.0)
        # two events in one TCP write: the first handler's failure loses nothing
        pbx.last.writer.write(
            encode_message(newchannel("PJSIP/e1trunk-00000001", "1.1"))
            + encode_message(newchannel("PJSIP/e1trunk-00000002", "1.2"))
        )
        await until(lambda: len(calls) == 2 and link.stats["handler_errors"] == 4)
        assert calls == ["PJSIP/e1trunk-00000001", "PJSIP/e1trunk-00000002"]
        assert len([c for c in probe.changes if isinstance(c, CallStarted)]) == 2
        assert link.is_up


async def test_chinese_caller_name_split_across_tcp_writes(pbx: FakeAMI) -> None:
    async with linked(pbx) as (link, probe):
        await link.wait_up(2.0)
        raw = encode_message(newchannel("PJSIP/e1trunk-00000009", "7.7", caller_name="张伟"))
        cut = raw.index("张".encode()) + 1  # in the middle of the first character
        await pbx.send_raw([raw[:cut], raw[cut:]])
        await until(lambda: any(isinstance(c, CallStarted) for c in probe.changes))
        [start] = [c for c in probe.changes if isinstance(c, CallStarted)]
        assert start.caller_name == "张伟"
        assert link.model is not None
        assert link.model.calls["7.7"].caller_name == "张伟"


async def test_events_during_resync_apply_only_when_newer_than_the_list(pbx: FakeAMI) -> None:
    # Before the list: a channel the list also shows (skipped: the list has it), and the
    # hangup of a channel the list no longer shows (skipped). Inside the list: a new
    # channel created after the snapshot (applied after the resync).
    pbx.channels = [
        [
            ("Event", "CoreShowChannel"),
            ("Channel", "PJSIP/e1trunk-00000001"),
            ("ChannelStateDesc", "Up"),
            ("CallerIDNum", "0215550101"),
            ("CallerIDName", "Old"),
            ("Context", "queue-support"),
            ("Uniqueid", "1.1"),
            ("Linkedid", "1.1"),
            ("Application", "Queue"),
            ("ApplicationData", "support,tT"),
            ("Duration", "00:00:05"),
            ("BridgeId", ""),
        ]
    ]
    pbx.before_list = [newchannel("PJSIP/e1trunk-00000001", "1.1")]
    pbx.inside_list = [newchannel("PJSIP/e1trunk-00000002", "2.2", caller_name="New")]
    async with linked(pbx) as (link, _):
        await link.wait_up(2.0)
        model = link.model
        assert model is not None
        assert set(model.calls) == {"1.1", "2.2"}
        assert model.calls["1.1"].queue == "support"
        assert model.anomalies["Newchannel:duplicate"] == 0


async def test_connection_refused_then_first_connect(pbx: FakeAMI) -> None:
    port = pbx.port
    await pbx.stop()
    async with linked(pbx) as (link, _):
        await asyncio.sleep(0.1)
        assert link.state in ("connecting", "down")
        pbx.port = port
        await pbx.start()
        await link.wait_up(2.0)
        assert link.stats["connects"] == 1


async def test_not_an_ami_server_is_dropped(unused_tcp_port: int) -> None:
    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await reader.read()
        writer.close()

    server = await asyncio.start_server(liar, "127.0.0.1", unused_tcp_port)
    fake = FakeAMI()
    fake.port = unused_tcp_port
    try:
        async with linked(fake) as (link, _):
            await until(lambda: link.stats["protocol_errors"] >= 1 and link.stats["reconnects"])
            assert not link.is_up
    finally:
        server.close()
        await server.wait_closed()


def test_the_link_runs_on_uvloop() -> None:
    """``hotline serve`` installs uvloop, whose transports are not subclasses of
    ``asyncio.Transport``: the link must not depend on that."""

    async def up_and_ping() -> None:
        fake = FakeAMI()
        await fake.start()
        try:
            async with linked(fake) as (link, probe):
                await link.wait_up(2.0)
                assert (await link.send_action({"Action": "Ping"})).get("Ping") == "Pong"
                assert probe.states == [("up", None)]
        finally:
            await fake.stop()

    uvloop.run(up_and_ping())
