"""The WebSocket endpoint (``/ws``): the asyncio shell around :mod:`cti.api.protocol`.

Each connection reads frames and answers every command with exactly one reply; its
replies and events are written together once per pass of the event loop
(:class:`Outbox`). Login, subscriptions, ``resume`` and ``snapshot`` are handled here;
every other op goes to the server's ``execute`` callback, which returns the reply data
or raises :class:`~cti.api.protocol.ClientError`. Nothing a client sends can crash the
server or stall another client: bad frames get error replies, an exception in a handler
becomes an error reply and a log line, and a connection that cannot keep up with its
events is closed (it can ``resume`` after reconnecting).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from aiohttp import WSMsgType, web

from cti.api.bus import NOW, SOON, EventBus, Subscription
from cti.api.protocol import (
    AGENT_TOPICS,
    MAX_FRAME_BYTES,
    ClientError,
    Command,
    parse_command,
    parse_frame,
    reply_error,
    reply_ok,
)
from cti.config import Role

log = structlog.get_logger("cti.ws")

SEND_BUFFER_BYTES: Final = 4 * 1024 * 1024  # a client this far behind is closed
COMMANDS_PER_S: Final = 20.0  # sustained, per connection
COMMAND_BURST: Final = 40
CLOSE_SLOW_CONSUMER: Final = 4000  # application close code: reconnect and resume
LAZY_FLUSH_S: Final = 0.05  # events but the screen pop wait at most this for a write
FLUSH_SLICE: Final = 64  # connections written per callback (about half a millisecond)


_closing: set[asyncio.Future[Any]] = set()


@dataclass
class Session:
    """Who is on a connection, once logged in."""

    agent_id: str
    role: Role
    extension: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # the login reply's extra fields


Authenticate = Callable[[Mapping[str, Any], str], Awaitable[Session]]
Execute = Callable[["Connection", Command], Awaitable[Mapping[str, Any]]]
Snapshot = Callable[["Connection", frozenset[str]], Awaitable[Mapping[str, Any]]]
Closed = Callable[["Connection"], Awaitable[None]]


class _TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


_HEADERS: dict[int, bytes] = {}


def _frame_header(n: int) -> bytes:
    """The header of an unmasked, unfragmented text frame of ``n`` bytes (RFC 6455
    §5.2), server to client; frames of one length share one header object."""
    header = _HEADERS.get(n)
    if header is None:
        if n < 126:
            header = bytes((0x81, n))
        elif n < 65536:
            header = bytes((0x81, 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((0x81, 127)) + n.to_bytes(8, "big")
        if n < 65536:
            _HEADERS[n] = header
    return header


class Outbox:
    """Frames wait here to be written with one ``write`` per connection.

    A system call per frame was most of the server's CPU: one event fans out to hundreds
    of supervisors, and on a loopback (or any) socket with ``TCP_NODELAY`` each write is
    a packet. So frames are queued (a list append) and flushed in three ways:

    * **at once** for the screen pop to the agent whose phone rings (urgency ``NOW``):
      the PBX event that rang the phone is still being handled when it is written, with
      whatever was queued before it on that connection.
    * **at the end of the loop pass** for the other frames that must not wait: replies,
      and ``call.ringing`` to supervisors (``SOON``). Everything queued before them on
      that connection goes out in the same write, in order.
    * **within** ``delay_s`` (50 ms) for the other events (lamps, states, statistics):
      they ride along with the next urgent write, or a timer writes them. A person
      does not see 50 ms; the writes of a busy center drop by about half.

    The outbox also runs the bus's second pass (:meth:`EventBus.deliver`, the topic
    subscribers' copies) at the end of the pass, before it writes. Under load the passes
    grow and more frames share a write; a quiet connection gets its urgent frames at once.
    """

    def __init__(self, delay_s: float = LAZY_FLUSH_S) -> None:
        self.delay_s = delay_s
        self._now: list[Connection] = []
        # (due, connection): each connection's lazy frames wait their own full delay,
        # so that most of them ride along with an urgent write before it runs out.
        self._later: deque[tuple[float, Connection]] = deque()
        self._soon_scheduled = False
        self._later_scheduled = False
        self._bus: EventBus | None = None

    def serve(self, bus: EventBus) -> None:
        """Deliver ``bus``'s events to its topic subscribers from here, off the path of
        the PBX event that produced them."""
        self._bus = bus
        # Delivered at the end of the pass, urgent or not (a list append per subscriber):
        # only the connections given urgent frames are written then, the others wait for
        # their own next urgent write or the timer.
        bus.on_backlog = self._schedule_soon

    def flush_soon(self, conn: Connection) -> None:
        self._now.append(conn)
        self._schedule_soon()

    def flush_later(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        self._later.append((loop.time() + self.delay_s, conn))
        if not self._later_scheduled:
            self._later_scheduled = True
            loop.call_at(self._later[0][0], self._flush_later)

    def _schedule_soon(self) -> None:
        if not self._soon_scheduled:
            self._soon_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_now)

    def _flush_now(self) -> None:
        if self._bus is not None:
            self._bus.deliver()  # its urgent frames join this flush
        conns = self._now
        self._now = conns[FLUSH_SLICE:]
        for conn in conns[:FLUSH_SLICE]:
            conn.flush_due = False
            conn.flush()
        # The rest in the next pass, after the loop has read its sockets: the PBX's next
        # ringing event (and its agent's pop) does not wait for hundreds of writes.
        self._soon_scheduled = False
        if self._now:
            self._schedule_soon()

    def _flush_later(self) -> None:
        loop = asyncio.get_running_loop()
        # Those due within a tenth of the delay too: one callback for a burst of
        # deadlines, not one each.
        now, later = loop.time() + self.delay_s / 10, self._later
        for _ in range(FLUSH_SLICE):
            if not later or later[0][0] > now:
                break
            conn = later.popleft()[1]
            conn.flush_later = False
            conn.flush()  # nothing to write when an urgent write took its frames
        if not later:
            self._later_scheduled = False
        elif later[0][0] <= now:
            loop.call_soon(self._flush_later)  # more are due: after the loop's reads
        else:
            loop.call_at(later[0][0], self._flush_later)


class Connection:
    """One client. Its frames (replies and events, in one ordered stream) are queued and
    written by the :class:`Outbox`; the transport's buffer is the send queue, and its
    size the limit."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        address: str,
        transport: asyncio.Transport | None,
        outbox: Outbox | None = None,
    ) -> None:
        self.ws = ws
        self.address = address
        self.transport = transport
        self.outbox = outbox or Outbox()
        self.session: Session | None = None
        self.subscription: Subscription | None = None
        self.bucket = _TokenBucket(COMMANDS_PER_S, COMMAND_BURST)
        self.overflowed = False
        self.flush_due = False  # in the outbox's list for the end of this pass
        self.flush_later = False  # in its list for the timer
        self._out: list[bytes] = []

    def send(self, text: str) -> None:
        """Queue a reply, written at the end of this loop pass; never blocks."""
        self.push(text.encode(), SOON)

    def push(self, payload: bytes, urgency: int) -> None:
        """Queue a frame of UTF-8 JSON; never blocks (the bus calls this for every
        subscriber). ``urgency`` (:mod:`cti.api.bus`): ``NOW`` writes before returning,
        ``SOON`` at the end of this loop pass, ``LATER`` within the outbox's delay."""
        if self.overflowed or self.transport is None:
            return
        out = self._out
        out.append(_frame_header(len(payload)))
        out.append(payload)
        if urgency >= NOW:
            self.flush()
        elif urgency:
            if not self.flush_due:
                self.flush_due = True
                self.outbox.flush_soon(self)
        elif not self.flush_due and not self.flush_later:
            self.flush_later = True
            self.outbox.flush_later(self)

    def flush(self) -> None:
        out = self._out
        if not out:
            return
        self._out = []
        transport = self.transport
        if self.overflowed or transport is None or transport.is_closing():
            return
        transport.write(b"".join(out))
        if transport.get_write_buffer_size() > SEND_BUFFER_BYTES:
            self.overflowed = True
            log.warning("ws.slow_consumer", address=self.address, agent=self.agent_id)
            task = asyncio.ensure_future(
                self.ws.close(code=CLOSE_SLOW_CONSUMER, message=b"too slow: resume")
            )
            _closing.add(task)
            task.add_done_callback(_closing.discard)

    @property
    def agent_id(self) -> str | None:
        return None if self.session is None else self.session.agent_id

    @property
    def role(self) -> Role | None:
        return None if self.session is None else self.session.role


class WebSocketGateway:
    def __init__(
        self,
        bus: EventBus,
        authenticate: Authenticate,
        execute: Execute,
        snapshot: Snapshot,
        closed: Closed | None = None,
    ) -> None:
        self.bus = bus
        self._authenticate = authenticate
        self._execute = execute
        self._snapshot = snapshot
        self._closed = closed
        self.connections: set[Connection] = set()
        self.outbox = Outbox()
        self.outbox.serve(bus)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # aiohttp closes with 1009 (message too big) beyond the limit: the contract allows it.
        # No per-message compression: frames are written to the transport as they are.
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, heartbeat=30.0, compress=False)
        await ws.prepare(request)
        transport = request.transport
        conn = Connection(ws, request.remote or "?", transport, self.outbox)
        self.connections.add(conn)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                    reply = await self._on_frame(conn, msg.data)
                    # The events published before the reply reach this connection first,
                    # as they would have without the bus's second pass.
                    self.bus.deliver()
                    conn.send(reply)
                elif msg.type is WSMsgType.ERROR:
                    break
                if conn.overflowed:
                    break
        finally:
            self.connections.discard(conn)
            if conn.subscription is not None:
                self.bus.unsubscribe(conn.subscription)
            conn.transport = None
            if self._closed is not None and conn.session is not None:
                await self._closed(conn)
        return ws

    async def _on_frame(self, conn: Connection, data: str | bytes) -> str:
        command_id: Any = None
        try:
            command_id, obj = parse_frame(data)
            if not conn.bucket.take():
                raise ClientError("rate_limited", "too many commands; slow down")
            command = parse_command(obj, conn.role)
            return reply_ok(command_id, await self._dispatch(conn, command))
        except ClientError as error:
            return reply_error(command_id, error.code, error.message)
        except Exception:
            log.exception("ws.command_failed", agent=conn.agent_id)
            return reply_error(command_id, "invalid_state", "the server could not do that")

    async def _dispatch(self, conn: Connection, command: Command) -> Mapping[str, Any]:
        op, params = command.op, command.params
        if op == "login":
            return await self._login(conn, params)
        if op == "subscribe":
            return self._subscribe(conn, params["topics"])
        if op == "resume":
            assert conn.subscription is not None
            sent = self.bus.resume(conn.subscription, params["last_eid"])
            return {"replayed": sent, "last_eid": self.bus.last_eid}
        if op == "snapshot":
            assert conn.subscription is not None
            topics = params.get("topics", conn.subscription.topics)
            self._check_topics(conn, topics)
            snap = dict(await self._snapshot(conn, topics))
            snap["last_eid"] = self.bus.last_eid
            return snap
        return await self._execute(conn, command)

    async def _login(self, conn: Connection, params: Mapping[str, Any]) -> Mapping[str, Any]:
        if conn.session is not None:
            raise ClientError("conflict", f"already logged in as {conn.session.agent_id}")
        if "token" not in params and not ("agent_id" in params and "password" in params):
            raise ClientError("invalid_params", "agent_id and password, or token: required")
        session = await self._authenticate(params, conn.address)
        conn.session = session
        conn.subscription = self.bus.subscribe(conn.push, session.agent_id)
        return {
            "agent_id": session.agent_id,
            "role": session.role.value,
            "extension": session.extension,
            "last_eid": self.bus.last_eid,
            **session.data,
        }

    def _check_topics(self, conn: Connection, topics: frozenset[str]) -> None:
        assert conn.role is not None
        if not conn.role.at_least(Role.SUPERVISOR):
            denied = sorted(topics - AGENT_TOPICS)
            if denied:
                raise ClientError("forbidden", f"topic {denied[0]!r} is for supervisors")

    def _subscribe(self, conn: Connection, topics: frozenset[str]) -> Mapping[str, Any]:
        self._check_topics(conn, topics)
        assert conn.subscription is not None
        self.bus.set_topics(conn.subscription, topics)
        return {"topics": sorted(topics)}
