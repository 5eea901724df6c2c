"""An asyncio TCP server speaking the Asterisk Manager Interface as Asterisk 22 does, on
top of the sans-I/O :class:`~pbx_sim.world.World`.

The asyncio code only moves bytes and time: each connection has one
``AMIDecoder(role="server")``; actions go to the session logic here (Login, Logoff,
Challenge, Events, Filter) or to :func:`pbx_sim.actions.dispatch`; world events fan out to
the logged-in sessions whose read permission and ``Events:`` mask allow them. A session
that cannot keep up (more than ``max_buffer`` bytes waiting in its socket buffer) is
dropped with a log line: a slow client never stalls the world.

Time: :class:`WorldRunner` drives ``world.tick`` from the event loop's clock (real time) or,
with ``virtual=True``, only when a test calls :meth:`WorldRunner.advance_to` (the replay
tests run transcripts minutes long in milliseconds). The server's own delays (the ~1 s
before a failed Login is answered) are world timers, so they follow the same clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Callable
from typing import Final

from cti.ami.codec import AMIDecoder, Message
from cti.ami.errors import AMIProtocolError

from .actions import ACTIONS, SESSION_ACTIONS, ActionReply
from .model import EVENT_CLASSES
from .privileges import may_write, write_classes
from .world import World, format_tv

__all__ = ["SESSION_ACTIONS", "AMIServer", "WorldRunner"]

log = logging.getLogger("pbx_sim.ami")

BANNER: Final = b"Asterisk Call Manager/11.0.0\r\n"
#: Bytes allowed to wait in one session's socket buffer before it is dropped.
MAX_BUFFER: Final = 8 * 1024 * 1024
#: Seconds before a failed Login is answered (Asterisk 22: ~1 s, 11).
AUTH_FAILURE_DELAY: Final = 1.0
#: Seconds between ``Shutdown`` and closing the sessions (14).
SHUTDOWN_CLOSE_DELAY: Final = 0.008


_SESSION_EPOCH_TV: Final = "1970-01-01T00:00:00.000+0000"


class WorldRunner:
    """Runs the world's timers on the event loop (real time or a virtual clock)."""

    def __init__(self, world: World, *, virtual: bool = False) -> None:
        self.world = world
        self.virtual = virtual
        self._loop: asyncio.AbstractEventLoop | None = None
        self._offset = 0.0
        self._vnow = world.now
        self._task: asyncio.Task[None] | None = None
        self._poke: asyncio.Event | None = None
        #: Called with (where, exception) for errors in world timers.
        self.on_error: Callable[[str, BaseException], None] | None = None

    def now(self) -> float:
        if self.virtual or self._loop is None:
            return self._vnow
        return self._loop.time() - self._offset

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._offset = self._loop.time() - self.world.now
        self._vnow = self.world.now
        if not self.virtual:
            self._poke = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="pbx_sim world")

    def poke(self) -> None:
        """Something changed the timers (an action ran): re-check the next wake-up."""
        if self._poke is not None:
            self._poke.set()

    async def _run(self) -> None:
        assert self._poke is not None and self._loop is not None
        world = self.world
        while True:
            t = world.next_wakeup()
            now = self.now()
            if t is not None and t <= now:
                try:
                    world.tick(now)
                except Exception as exc:  # never let a bug stop the clock
                    self._error("tick", exc)
                await asyncio.sleep(0)
                continue
            self._poke.clear()
            timeout = None if t is None else max(t - now, 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), timeout)

    def _error(self, where: str, exc: BaseException) -> None:
        if self.on_error is not None:
            self.on_error(where, exc)
        else:
            log.error("world error in %s: %r", where, exc, exc_info=exc)

    async def advance_to(self, t: float) -> None:
        """(virtual) Move the clock to ``t``, running every timer due, and let the
        connections flush."""
        self._vnow = max(self._vnow, t)
        self.world.tick(self._vnow)
        for _ in range(3):
            await asyncio.sleep(0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class _Reply(ActionReply):
    def __init__(self, session: _Session) -> None:
        super().__init__(None)
        self.session = session

    def deliver(self, msg: Message) -> None:
        self.session.write(msg.to_bytes(), force=True)

    def finish(self) -> None:
        super().finish()
        self.session.release()


class _Session:
    """One AMI connection."""

    def __init__(
        self, server: AMIServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.decoder = AMIDecoder(role="server")
        self.user: str | None = None
        self.authenticated = False
        self.closing = False
        self.events_on = True
        #: Event classes this session receives (user's ``read`` & ``Events:`` mask).
        self.read_classes: frozenset[str] = frozenset(EVENT_CLASSES)
        self.mask: frozenset[str] = frozenset(EVENT_CLASSES)
        self.include: list[re.Pattern[str]] = []
        self.exclude: list[re.Pattern[str]] = []
        self.exclude_events: set[str] = set()
        self.include_events: set[str] = set()
        self.challenge: str | None = None
        self.held: list[bytes] | None = None
        self.pending = 0
        self.login_tv = _SESSION_EPOCH_TV
        sock = writer.get_extra_info("sockname")
        peer = writer.get_extra_info("peername")
        self.local = f"IPV4/TCP/{sock[0]}/{sock[1]}" if sock else "IPV4/TCP/127.0.0.1/0"
        self.remote = f"IPV4/TCP/{peer[0]}/{peer[1]}" if peer else "IPV4/TCP/127.0.0.1/0"
        self.session_id = f"0x{id(self):x}"
        self.failed_login = False
        self._loop = asyncio.get_running_loop()
        #: Bytes written during this loop iteration, sent in one go (one syscall for a
        #: burst of events instead of one per event).
        self._out: list[bytes] = []
        self._flush_scheduled = False
        #: Privilege header -> does this session's class mask let it through (cache).
        self._priv_ok: dict[str, bool] = {}
        #: The user's ``write`` classes (None: all): which actions it may run.
        self.write_classes: frozenset[str] | None = None

    # -- output -----------------------------------------------------------------------

    def write(self, data: bytes, *, force: bool = False) -> None:
        if self.closing:
            return
        if self.held is not None and not force:
            self.held.append(data)
            return
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Hand what was written this iteration to the transport; drop the session if its
        buffer is over the limit."""
        self._flush_scheduled = False
        if not self._out:
            return
        data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
        self._out.clear()
        if self.closing:
            return
        self.writer.write(data)
        transport = self.writer.transport
        if transport is not None and transport.get_write_buffer_size() > self.server.max_buffer:
            log.warning(
                "AMI session %s (%s) too slow: more than %d bytes queued; dropping it",
                self.session_id,
                self.remote,
                self.server.max_buffer,
            )
            self.abort()

    def hold(self) -> None:
        """Keep events back while a blocking action runs (04c: sync Originate)."""
        self.pending += 1
        if self.held is None:
            self.held = []

    def release(self) -> None:
        self.pending = max(self.pending - 1, 0)
        if self.pending == 0 and self.held is not None:
            held, self.held = self.held, None
            for data in held:
                self.write(data)

    def wants(self, msg: Message) -> bool:
        if not self.authenticated or not self.events_on or self.closing:
            return False
        pairs = msg.pairs
        if len(pairs) > 1 and pairs[1][0] == "Privilege":
            priv = pairs[1][1]
            ok = self._priv_ok.get(priv)
            if ok is None:
                ok = self._priv_ok[priv] = any(
                    c in self.mask and c in self.read_classes for c in priv.split(",") if c != "all"
                )
            if not ok:
                return False
        if self.include_events or self.exclude_events or self.include or self.exclude:
            name = msg.event or ""
            if name in self.exclude_events:
                return False
            if self.exclude and any(p.search(line) for p in self.exclude for line in _lines(msg)):
                return False
            if self.include_events or self.include:
                if name in self.include_events:
                    return True
                return any(p.search(line) for p in self.include for line in _lines(msg))
        return True

    def abort(self) -> None:
        if self.closing:
            return
        self.closing = True
        transport = self.writer.transport
        if transport is not None:
            transport.abort()

    def close_soon(self) -> None:
        if self.closing:
            return
        self.flush()
        self.closing = True
        with contextlib.suppress(Exception):
            self.writer.close()

    # -- input ------------------------------------------------------------------------

    async def run(self) -> None:
        self.writer.write(BANNER)
        try:
            while not self.closing:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.decoder.feed(data)
                while True:
                    try:
                        msg = self.decoder.next_message()
                    except AMIProtocolError as exc:
                        if not exc.recoverable:
                            self.close_soon()
                            break
                        self.write(
                            Message(
                                [("Response", "Error"), ("Message", "Message too large")]
                            ).to_bytes(),
                            force=True,
                        )
                        continue
                    if msg is None:
                        break
                    try:
                        self.handle(msg)
                    except Exception as exc:  # a bad action never kills the server
                        log.error("AMI action %r failed: %r", msg.action, exc, exc_info=exc)
                        reply = _Reply(self)
                        reply.action_id = msg.action_id
                        reply.error("Internal error")
                    if self.closing:
                        break
        except (ConnectionError, OSError):
            pass
        finally:
            self.closing = True
            self.server._forget(self)
            with contextlib.suppress(Exception):
                self.writer.close()

    def handle(self, msg: Message) -> None:
        server = self.server
        world = server.world
        now = server.runner.now()
        name = msg.action
        if self.failed_login:
            return
        reply = _Reply(self)
        reply.action_id = msg.action_id
        if name is None or not name.strip():
            reply.error("Missing action in request")
            server.security("RequestBadFormat", self, request="Action: NONE")
            return
        lname = name.strip().lower()
        if lname == "login":
            self.login(msg, reply, now)
            return
        if lname == "challenge":
            if (msg.get("AuthType") or "").lower() != "md5":
                reply.error("Must specify AuthType")
                return
            self.challenge = str(server.next_challenge())
            reply.respond("Success", (("Challenge", self.challenge),))
            return
        if lname == "logoff":
            reply.respond("Goodbye", (("Message", "Thanks for all the fish."),))
            self.close_soon()
            return
        if not self.authenticated:
            reply.error("Permission denied")
            server.security("RequestNotAllowed", self, request=f"Action: {name}")
            return
        if lname == "events":
            self.set_events(msg.get("EventMask") or msg.get("Events") or "on", reply)
            return
        if lname == "filter":
            self.add_filter(msg, reply)
            return
        known = lname in ACTIONS
        if known and not may_write(self.write_classes, name):
            # manager.c: the action's authority and the user's writeperm share no class.
            reply.error("Permission denied")
            return
        before = reply.pending
        world.action(now, msg, reply)
        if reply.pending and not before:
            self.hold()
        if not known:
            server.security("RequestBadFormat", self, request=f"Action: {name}")
        server.runner.poke()

    def login(self, msg: Message, reply: ActionReply, now: float) -> None:
        server = self.server
        world = server.world
        user = (msg.get("Username") or "").strip()
        cfg = server.users.get(user)
        ok = False
        if cfg is not None:
            if (msg.get("AuthType") or "").lower() == "md5":
                key = (msg.get("Key") or "").strip().lower()
                expect = hashlib.md5(((self.challenge or "") + cfg.secret).encode()).hexdigest()
                ok = self.challenge is not None and key == expect
            else:
                ok = (msg.get("Secret") or "") == cfg.secret
        if not ok:
            self.failed_login = True
            if cfg is None:
                server.security("InvalidAccountID", self, account=user)
            else:
                server.security("InvalidPassword", self, account=user)

            def fail(_a: object, _b: object) -> None:
                reply.error("Authentication failed")
                self.close_soon()

            world.call_later(server.auth_failure_delay, fail)
            server.runner.poke()
            return
        self.user = user
        self.authenticated = True
        self.login_tv = format_tv(world.epoch(now))
        self.read_classes = _classes(cfg.read) if cfg is not None else frozenset(EVENT_CLASSES)
        self.write_classes = write_classes(cfg.write) if cfg is not None else None
        self._priv_ok.clear()
        events = msg.get("Events")
        reply.respond("Success", (("Message", "Authentication accepted"),))
        if events is not None:
            self.apply_mask(events)
        if world.booted and self.events_on and self.wants(world.fully_booted_event()):
            self.write(world.fully_booted_event().to_bytes())
        server.security("SuccessfulAuth", self, account=user)

    def apply_mask(self, value: str) -> None:
        self._priv_ok.clear()
        v = value.strip().lower()
        if v in ("off", "no", "false", "0"):
            self.events_on = False
        elif v in ("on", "yes", "true", "1", "all"):
            self.events_on = True
            self.mask = frozenset(EVENT_CLASSES)
        else:
            self.events_on = True
            self.mask = frozenset(c.strip() for c in v.split(",") if c.strip())

    def set_events(self, value: str, reply: ActionReply) -> None:
        self.apply_mask(value)
        reply.respond("Success", (("Events", "On" if self.events_on else "Off"),))

    def add_filter(self, msg: Message, reply: ActionReply) -> None:
        op = (msg.get("Operation") or "Add").strip().lower()
        text = msg.get("Filter") or ""
        if op != "add" or not text:
            reply.error("Unknown operation" if op != "add" else "Filter Missing")
            return
        exclude = text.startswith("!")
        body = text[1:] if exclude else text
        m = re.fullmatch(r"Event: ([A-Za-z0-9_]+)", body)
        try:
            if m is not None:
                (self.exclude_events if exclude else self.include_events).add(m.group(1))
            else:
                (self.exclude if exclude else self.include).append(re.compile(body))
        except re.error:
            reply.error("Filter Add Failed")
            return
        reply.success("Success")


def _lines(msg: Message) -> list[str]:
    return [f"{k}: {v}" for k, v in msg.pairs]


def _classes(text: str) -> frozenset[str]:
    parts = {p.strip().lower() for p in text.split(",") if p.strip()}
    if "all" in parts:
        return frozenset(EVENT_CLASSES)
    return frozenset(parts)


class AMIServer:
    """``await AMIServer(world, port=0).start()``; ``.port`` is the bound port."""

    def __init__(
        self,
        world: World,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        runner: WorldRunner | None = None,
        virtual: bool = False,
        max_buffer: int = MAX_BUFFER,
        auth_failure_delay: float = AUTH_FAILURE_DELAY,
    ) -> None:
        self.world = world
        self.host = host
        self.port = port
        self.runner = runner or WorldRunner(world, virtual=virtual)
        self.max_buffer = max_buffer
        self.auth_failure_delay = auth_failure_delay
        self.users = world.config.managers
        self.sessions: list[_Session] = []
        self._server: asyncio.base_events.Server | None = None
        self._challenge = 200393462
        self._sub = world.subscribe(self._on_event)
        if world.on_error is None:
            world.on_error = self._world_error

    def _world_error(self, where: str, exc: BaseException) -> None:
        log.error("pbx_sim world error in %s: %r", where, exc, exc_info=exc)

    def next_challenge(self) -> int:
        self._challenge += 7919
        return self._challenge

    async def start(self) -> AMIServer:
        await self.runner.start()
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        sock = self._server.sockets[0].getsockname()
        self.port = int(sock[1])
        self.world.config.ami_port = self.port
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, reader, writer)
        self.sessions.append(session)
        await session.run()

    def _forget(self, session: _Session) -> None:
        if session in self.sessions:
            self.sessions.remove(session)

    def _on_event(self, msg: Message) -> None:
        data: bytes | None = None
        for s in self.sessions:
            if s.wants(msg):
                if data is None:
                    data = msg.to_bytes()
                s.write(data)

    def security(
        self, name: str, session: _Session, *, account: str = "", request: str = ""
    ) -> None:
        world = self.world
        if not world.wants(name):
            return
        tv = format_tv(world.epoch(self.runner.now()))
        pairs: list[tuple[str, str]] = [
            ("Event", name),
            ("Privilege", "security,all"),
            ("EventTV", tv),
            ("Severity", "Informational" if name == "SuccessfulAuth" else "Error"),
            ("Service", "AMI"),
            ("EventVersion", "2" if name == "InvalidPassword" else "1"),
        ]
        if name in ("SuccessfulAuth", "InvalidPassword", "InvalidAccountID"):
            pairs.append(("AccountID", account))
        elif name == "RequestNotAllowed":
            pairs.append(("AccountID", session.user or ""))
        pairs.extend(
            [
                ("SessionID", session.session_id),
                ("LocalAddress", session.local),
                ("RemoteAddress", session.remote),
            ]
        )
        if name == "SuccessfulAuth":
            pairs.append(("UsingPassword", "0"))
            pairs.append(("SessionTV", session.login_tv))
        elif name in ("RequestNotAllowed", "RequestBadFormat"):
            pairs.append(("RequestType", request))
            pairs.append(("SessionTV", session.login_tv))
            if name == "RequestBadFormat":
                pairs.append(("AccountID", session.user or ""))
        else:
            pairs.append(("SessionTV", _SESSION_EPOCH_TV))
        world.publish(Message(pairs))

    async def shutdown(self) -> None:
        """Asterisk's SIGTERM: ``Event: Shutdown``, then every session is closed (14)."""
        self.world.shutdown(self.runner.now())
        await asyncio.sleep(SHUTDOWN_CLOSE_DELAY if not self.runner.virtual else 0)
        await self.close()

    async def close(self) -> None:
        self._sub.close()
        if self._server is not None:
            self._server.close()
        for s in list(self.sessions):
            s.close_soon()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        await self.runner.close()
