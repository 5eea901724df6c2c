"""The AMI link: an asyncio shell around the sans-I/O codec and the call model.

How panoramisk is used, and why not more
-----------------------------------------
panoramisk 1.4 is Hotline's AMI dependency, but reading it (see docs/ami-link.md) showed
that almost every part of its ``Manager``/``AMIProtocol`` pair has to go: it decodes each
TCP chunk on its own (a Chinese caller name split across two reads is silently dropped),
re-splits its whole buffer on every read, pings without checking the answers and before
Login, loops on a failed Login every 2 s, re-sends unanswered actions (an Originate, a
Hangup) after a reconnect, never resolves the futures of Login/Ping/lists or of actions
in flight when the link drops, has no timeouts, sorts headers and lets CR/LF through,
routes OriginateResponse and list items to action futures so event handlers never see
them, and loses the rest of a chunk when a callback raises. A ``Manager`` subclass would
have to override ``connection_made``, ``login``, ``ping``, ``send_action``,
``connection_lost``, ``close`` and ``dispatch``, and the protocol's ``data_received``,
``handle_message`` and ``close``: nothing of panoramisk's behaviour would remain, only
the surface of its bugs and a dependency on its private attributes.

So :class:`AMILink` is a thin client of its own (about as long as those overrides would
be) that keeps panoramisk's public shape - ``register_event(pattern, callback)`` with
``callback(link, message)`` (coroutines are scheduled), ``send_action({"Action": ...})``,
``send_command``, ``close`` - so code written for panoramisk reads the same. panoramisk
stays installed for its FastAGI server and as the baseline of the ingest benchmark.

What the link guarantees
------------------------
- Nothing is written before ``Login`` succeeds; a refused Login raises
  :class:`AuthenticationFailed` from :meth:`AMILink.wait_up` and stops the link.
- Every action has a timeout (``action_timeout``, 5 s) and fails with a typed error;
  actions issued while the link is not up fail at once with :class:`LinkDown`; all
  pending actions fail with :class:`LinkDown` when the connection drops, and nothing is
  ever re-sent.
- List actions (``EventList: start`` ... ``Complete``) return one :class:`ActionResult`
  with the items. Events carrying the ActionID of a pending action are its list items;
  ``OriginateResponse`` resolves :meth:`AMILink.originate` *and* is dispatched like any
  event; unsolicited events of the same names are dispatched as usual.
- A Ping every ``ping_interval`` seconds must be answered within ``ping_timeout``, or
  the connection is dropped (a half-open TCP link is found within interval + timeout).
- Reconnects wait ``backoff_initial * backoff_factor**n`` (capped at ``backoff_max``,
  ±``backoff_jitter``), reset once a connection stayed up ``stable_after`` seconds.
- After every Login and ``FullyBooted``: CoreShowChannels, DeviceStateList and
  ExtensionStateList feed ``CallModel.resync``; events that arrived meanwhile are
  applied after it when they are newer than the list they concern. Only then is the
  link ``up`` (state listeners hear ``up``; ``down`` when an up link is lost).
- An exception in an event handler, a change listener or the model is logged and the
  reader goes on with the rest of the chunk. The secret is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import itertools
import os
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

import structlog

from cti.ami.codec import MAX_MESSAGE_SIZE, AMIDecoder, Message, encode_action
from cti.ami.errors import AMIProtocolError
from cti.calls.changes import CallChange
from cti.calls.model import CallModel

from .errors import (
    ActionFailed,
    ActionTimeout,
    AuthenticationFailed,
    LinkClosed,
    LinkDown,
    LinkError,
)

__all__ = [
    "AMILink",
    "ActionResult",
    "ChangeListener",
    "EventHandler",
    "LinkSettings",
    "LinkState",
    "StateListener",
    "backoff_delay",
]

LinkState = Literal["idle", "connecting", "syncing", "up", "down", "failed", "closed"]
#: ``handler(link, event)``; may return an awaitable, which is scheduled as a task.
EventHandler = Callable[["AMILink", Message], Awaitable[Any] | None]
#: ``listener("up" | "down", reason)``: what the server turns into ``pbx.link`` events.
StateListener = Callable[[Literal["up", "down"], str | None], None]
#: ``listener(changes)``: call model changes, in order, as they happen.
ChangeListener = Callable[[list[CallChange]], None]

_LIST_CATEGORY: Final = {"DeviceStateChange": "devices", "ExtensionStatus": "extensions"}


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Timeouts (seconds) and limits of the link; the defaults suit Asterisk 22."""

    action_timeout: float = 5.0
    connect_timeout: float = 5.0
    #: Asterisk answers a wrong secret after about 1 s (transcript 11).
    login_timeout: float = 5.0
    #: How long to wait for ``FullyBooted`` after Login before resyncing anyway.
    boot_timeout: float = 10.0
    resync_timeout: float = 10.0
    ping_interval: float = 10.0
    ping_timeout: float = 5.0
    backoff_initial: float = 0.5
    backoff_factor: float = 2.0
    backoff_max: float = 30.0
    backoff_jitter: float = 0.2
    stable_after: float = 30.0
    max_message_size: int = MAX_MESSAGE_SIZE
    #: The Login ``Events`` header (``on``: every class the user may read).
    events: str = "on"

    def __post_init__(self) -> None:
        for name in (
            "action_timeout",
            "connect_timeout",
            "login_timeout",
            "boot_timeout",
            "resync_timeout",
            "ping_interval",
            "ping_timeout",
            "backoff_initial",
            "backoff_max",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"LinkSettings.{name} must be > 0, not {getattr(self, name)!r}")
        if self.backoff_factor < 1:
            raise ValueError("LinkSettings.backoff_factor must be >= 1")
        if not 0 <= self.backoff_jitter < 1:
            raise ValueError("LinkSettings.backoff_jitter must be in [0, 1)")


def backoff_delay(attempt: int, settings: LinkSettings, rand: Callable[[], float]) -> float:
    """Seconds to wait before reconnect number ``attempt`` (0-based): exponential, capped,
    with ``±backoff_jitter`` so that many clients do not reconnect in step."""
    base = settings.backoff_initial * settings.backoff_factor ** min(attempt, 64)
    base = min(settings.backoff_max, base)
    jitter = settings.backoff_jitter
    return base * (1.0 - jitter + 2.0 * jitter * rand())


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The answer to one action: its response and, for a list action, the items and the
    final ``...Complete`` event."""

    action: str
    action_id: str
    response: Message
    items: tuple[Message, ...] = ()
    complete: Message | None = None

    @property
    def success(self) -> bool:
        return (self.response.response or "").lower() in ("success", "goodbye", "follows")

    @property
    def message(self) -> str | None:
        return self.response.get("Message")

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.response.get(name, default)


@dataclass(slots=True, eq=False)
class _Pending:
    action: str
    future: asyncio.Future[ActionResult]
    mark: str | None = None
    response: Message | None = None
    items: list[Message] = field(default_factory=list)


class _Protocol(asyncio.Protocol):
    """One TCP connection: bytes into the decoder, messages to the link."""

    def __init__(self, link: AMILink, number: int) -> None:
        loop = asyncio.get_running_loop()
        self.link = link
        self.number = number
        self.decoder = AMIDecoder("client", max_message_size=link.settings.max_message_size)
        self.transport: asyncio.Transport | None = None
        self.banner: asyncio.Future[str] = loop.create_future()
        self.booted: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()
        self.reason: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport: no isinstance.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        decoder = self.decoder
        decoder.feed(data)
        if decoder.banner is not None and not self.banner.done():
            self.banner.set_result(decoder.banner)
        while True:
            try:
                message = decoder.next_message()
            except AMIProtocolError as exc:
                self.link._protocol_error(self, exc)
                if not exc.recoverable:
                    return
                continue
            if message is None:
                return
            try:
                self.link._receive(self, message)
            except Exception:  # pragma: no cover - _receive guards each step itself
                self.link._log.exception("ami.receive_failed")

    def eof_received(self) -> bool | None:
        self.reason = self.reason or "the PBX closed the connection"
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.reason is None:
            self.reason = f"connection lost: {exc}" if exc else "connection closed"
        if not self.closed.done():
            self.closed.set_result(self.reason)
        for future in (self.banner, self.booted):
            if not future.done():
                future.set_exception(LinkDown(self.reason))
                future.exception()  # retrieved: nobody may be waiting any more
        self.link._lost(self)

    def abort(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        if self.transport is not None:
            self.transport.abort()


class AMILink:
    """A supervised AMI connection to one Asterisk (or pbx_sim).

    ``model``: the :class:`CallModel` to feed (events, and resync after every connect);
    its changes go to the listeners of :meth:`add_change_listener`. ``clock``: the time
    given to the model (wall-clock seconds by default; timeouts use the event loop's
    clock). ``rand``: the jitter source (tests make it deterministic).
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        model: CallModel | None = None,
        settings: LinkSettings | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.model = model
        self.settings = settings or LinkSettings()
        self._clock = clock
        self._rand = rand or random.Random().random
        self._log = structlog.get_logger("cti.link").bind(
            ami_host=host, ami_port=port, ami_user=username
        )
        self._state: LinkState = "idle"
        self._state_event = asyncio.Event()
        self._failure: AuthenticationFailed | None = None
        self._proto: _Protocol | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._up_since: float | None = None
        self._ids = itertools.count(1)
        self._id_prefix = f"hl{os.getpid():x}{random.getrandbits(24):06x}"
        self._pending: dict[str, _Pending] = {}
        self._originates: dict[str, asyncio.Future[Message]] = {}
        self._rx = 0  # messages received on this connection
        self._marks: dict[str, int] = {}
        self._sync_buffer: list[tuple[int, Message]] | None = None
        self._handlers: list[tuple[str, re.Pattern[str] | None, list[EventHandler]]] = []
        self._state_listeners: list[StateListener] = []
        self._change_listeners: list[ChangeListener] = []
        self._tasks: set[asyncio.Future[Any]] = set()
        self._connections = 0
        #: Counters for metrics: connects, login_failures, action_timeouts,
        #: keepalive_timeouts, handler_errors, model_errors, protocol_errors, ...
        self.stats: Counter[str] = Counter()

    # -- public surface -------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def is_up(self) -> bool:
        return self._state == "up"

    def register_event(
        self, pattern: str, callback: EventHandler | None = None
    ) -> Any:  # the callback, or a decorator (panoramisk's shape)
        """Call ``callback(link, event)`` for every event whose name matches ``pattern``
        (fnmatch: ``*``, ``Queue*``, ``Hangup``). Usable as a decorator."""

        def register(cb: EventHandler) -> EventHandler:
            for existing, _, callbacks in self._handlers:
                if existing == pattern:
                    callbacks.append(cb)
                    return cb
            wild = any(c in pattern for c in "*?[")
            regex = re.compile(fnmatch.translate(pattern)) if wild else None
            self._handlers.append((pattern, regex, [cb]))
            return cb

        return register(callback) if callback is not None else register

    def add_state_listener(self, listener: StateListener) -> None:
        self._state_listeners.append(listener)

    def add_change_listener(self, listener: ChangeListener) -> None:
        self._change_listeners.append(listener)

    async def start(self) -> None:
        """Start connecting in the background (returns at once; see :meth:`wait_up`)."""
        if self._closing:
            raise LinkClosed("the AMI link was closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"ami-link {self.host}:{self.port}"
            )

    async def wait_up(self, timeout_s: float | None = None) -> None:
        """Return once the link is up (logged in and resynced). Raises
        :class:`AuthenticationFailed` if the PBX refused the Login, :class:`LinkClosed`
        after :meth:`close`, ``TimeoutError`` after ``timeout_s`` seconds."""
        async with asyncio.timeout(timeout_s):
            while True:
                if self._failure is not None:
                    raise AuthenticationFailed(str(self._failure)) from self._failure
                if self._state == "closed":
                    raise LinkClosed("the AMI link was closed")
                if self._state == "up":
                    return
                await self._state_event.wait()

    async def close(self) -> None:
        """Stop for good: pending actions fail with :class:`LinkClosed`."""
        if self._state == "closed":
            return
        self._closing = True
        if self._state == "up":
            # A polite goodbye (Asterisk logs "logged off" rather than "disconnected").
            with contextlib.suppress(LinkError):
                await self._request("Logoff", [], timeout_s=0.5, check=False)
        self._fail_pending(LinkClosed("the AMI link was closed"))
        proto = self._proto
        if proto is not None:
            proto.abort("closed by Hotline")
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_pending(LinkClosed("the AMI link was closed"))
        for handler_task in list(self._tasks):
            handler_task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        was_up = self._state == "up"
        self._set_state("closed")
        if was_up:
            self._notify("down", "closed")
        self._log.info("ami.closed")

    async def send_action(
        self,
        action: str | Mapping[str, str] | Iterable[tuple[str, str]],
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        timeout_s: float | None = None,
        check: bool = True,
    ) -> ActionResult:
        """Send one action and return its answer.

        ``action`` is the action name (headers separately), or panoramisk-style a mapping
        / pairs that include ``Action``. The ActionID is the link's own. Raises
        :class:`LinkDown` at once when the link is not up, :class:`ActionTimeout`,
        :class:`LinkDown` if the connection drops first, :class:`ActionFailed` on
        ``Response: Error`` (unless ``check=False``), ``ValueError`` for a header that
        cannot be sent (CR, LF, NUL; a caller-supplied ActionID).
        """
        name, pairs = _split_action(action, headers)
        self._require_up()
        return await self._request(name, pairs, timeout_s=timeout_s, check=check)

    async def send_command(self, command: str, *, timeout_s: float | None = None) -> ActionResult:
        """CLI command (``Action: Command``); the output lines are the ``Output`` headers
        of the response (``result.response.get_all("Output")``)."""
        return await self.send_action("Command", [("Command", command)], timeout_s=timeout_s)

    async def ping(self, *, timeout_s: float | None = None) -> float:
        """Round trip of a Ping, in seconds."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self.send_action("Ping", timeout_s=timeout_s)
        return loop.time() - started

    async def originate(
        self,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        timeout_s: float = 60.0,
    ) -> Message:
        """Asynchronous ``Originate``: returns its ``OriginateResponse`` event (check its
        ``Response``: Success or Failure, ``Reason`` 4 = answered; transcript 04c). The
        event is also dispatched to event handlers. ``timeout_s`` covers the ringing."""
        pairs = [(k, v) for k, v in _pairs(headers) if k.lower() != "async"]
        pairs.append(("Async", "true"))
        self._require_up()
        action_id = self._next_id()
        waiter: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._originates[action_id] = waiter
        try:
            await self._request("Originate", pairs, timeout_s=None, check=True, action_id=action_id)
            async with asyncio.timeout(timeout_s):
                return await waiter
        except TimeoutError:
            raise ActionTimeout("Originate", action_id, timeout_s) from None
        finally:
            self._originates.pop(action_id, None)

    # -- requests ---------------------------------------------------------------------------

    def _require_up(self) -> None:
        if self._state == "closed":
            raise LinkClosed("the AMI link was closed")
        if self._state != "up":
            raise LinkDown(f"the AMI link is {self._state}")

    def _next_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    async def _request(
        self,
        name: str,
        pairs: list[tuple[str, str]],
        *,
        timeout_s: float | None,
        check: bool,
        mark: str | None = None,
        action_id: str | None = None,
    ) -> ActionResult:
        proto = self._proto
        if proto is None or proto.transport is None or proto.transport.is_closing():
            raise LinkDown("the AMI link is not connected")
        action_id = action_id or self._next_id()
        data = encode_action(name, action_id, pairs)  # ValueError before anything is sent
        future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(name, future, mark)
        limit = self.settings.action_timeout if timeout_s is None else timeout_s
        proto.transport.write(data)
        try:
            async with asyncio.timeout(limit):
                result = await future
        except TimeoutError:
            self.stats["action_timeouts"] += 1
            raise ActionTimeout(name, action_id, limit) from None
        finally:
            self._pending.pop(action_id, None)
        if check and not result.success:
            raise ActionFailed(name, result.response)
        return result

    def _fail_pending(self, error: LinkDown) -> None:
        pending, self._pending = self._pending, {}
        futures: list[asyncio.Future[Any]] = [entry.future for entry in pending.values()]
        waiters, self._originates = self._originates, {}
        futures.extend(waiters.values())
        for future in futures:
            if not future.done():
                future.set_exception(error)
                future.exception()  # marked retrieved: its awaiter may be gone already

    # -- receiving --------------------------------------------------------------------------

    def _receive(self, proto: _Protocol, message: Message) -> None:
        if proto is not self._proto:
            return
        self._rx += 1
        kind = message.kind
        if kind == "event":
            self._on_event(proto, message)
        elif kind == "response":
            self._on_response(message)
        else:
            self.stats["unexpected_messages"] += 1
            self._log.warning("ami.unexpected_message", kind=kind, message=message.to_dict())

    def _on_response(self, message: Message) -> None:
        action_id = message.action_id
        entry = self._pending.get(action_id) if action_id else None
        if entry is None or action_id is None:
            self.stats["unmatched_responses"] += 1
            self._log.debug("ami.unmatched_response", action_id=action_id)
            return
        if entry.response is not None:
            self.stats["extra_responses"] += 1
            return
        entry.response = message
        if entry.mark is not None:
            self._marks[entry.mark] = self._rx
        if (message.get("EventList") or "").lower() == "start":
            return  # the items follow, then ...Complete
        self._finish(action_id, entry)

    def _finish(self, action_id: str, entry: _Pending, complete: Message | None = None) -> None:
        self._pending.pop(action_id, None)
        if not entry.future.done() and entry.response is not None:
            entry.future.set_result(
                ActionResult(entry.action, action_id, entry.response, tuple(entry.items), complete)
            )

    def _on_event(self, proto: _Protocol, message: Message) -> None:
        name = message.event or ""
        self.stats["events"] += 1
        if self._pending or name == "OriginateResponse":
            action_id = message.action_id
            if action_id is not None:
                if name == "OriginateResponse":
                    waiter = self._originates.pop(action_id, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(message)
                else:
                    entry = self._pending.get(action_id)
                    if entry is not None:
                        if (message.get("EventList") or "").lower() == "complete":
                            if entry.response is None:  # Complete before the response
                                entry.response = message
                            self._finish(action_id, entry, message)
                        else:
                            entry.items.append(message)
                        return
        if name == "FullyBooted" and not proto.booted.done():
            proto.booted.set_result(None)
        if self.model is not None:
            if self._sync_buffer is not None:
                self._sync_buffer.append((self._rx, message))
            else:
                self._apply(message)
        self._dispatch(message)

    def _apply(self, message: Message) -> None:
        assert self.model is not None
        try:
            changes = self.model.handle(message, self._clock())
        except Exception:
            self.stats["model_errors"] += 1
            self._log.exception("ami.model_failed", ami_event=message.event)
            return
        if changes:
            self._emit(changes)

    def _emit(self, changes: list[CallChange]) -> None:
        for listener in self._change_listeners:
            try:
                listener(changes)
            except Exception:
                self.stats["listener_errors"] += 1
                self._log.exception("ami.change_listener_failed")

    def _dispatch(self, message: Message) -> None:
        name = message.event or ""
        for pattern, regex, callbacks in self._handlers:
            if not (regex.match(name) if regex is not None else pattern == name):
                continue
            for callback in list(callbacks):
                try:
                    result = callback(self, message)
                except Exception:
                    self.stats["handler_errors"] += 1
                    self._log.exception("ami.event_handler_failed", ami_event=name)
                    continue
                if asyncio.isfuture(result) or asyncio.iscoroutine(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.stats["handler_errors"] += 1
            self._log.error("ami.event_handler_failed", exc_info=exc)

    def _protocol_error(self, proto: _Protocol, exc: AMIProtocolError) -> None:
        self.stats["protocol_errors"] += 1
        self._log.warning("ami.protocol_error", error=str(exc), recoverable=exc.recoverable)
        if not exc.recoverable:
            proto.abort(f"AMI protocol error: {exc}")

    def _lost(self, proto: _Protocol) -> None:
        if proto is not self._proto:
            return
        reason = proto.reason or "connection lost"
        self._fail_pending(LinkDown(f"the AMI link went down: {reason}"))
        self._sync_buffer = None
        if self._state == "up":
            self._set_state("down")
            self._log.warning("ami.down", reason=reason)
            self._notify("down", reason)

    # -- the connection's life --------------------------------------------------------------

    def _set_state(self, state: LinkState) -> None:
        if state != self._state:
            self._state = state
            event, self._state_event = self._state_event, asyncio.Event()
            event.set()

    def _notify(self, state: Literal["up", "down"], reason: str | None) -> None:
        for listener in self._state_listeners:
            try:
                listener(state, reason)
            except Exception:
                self.stats["listener_errors"] += 1
                self._log.exception("ami.state_listener_failed")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self._closing:
            self._set_state("connecting")
            reason = "?"
            self._up_since = None
            try:
                await self._connect_and_serve()
                reason = self._proto.reason if self._proto and self._proto.reason else "closed"
            except AuthenticationFailed as exc:
                self.stats["login_failures"] += 1
                self._failure = exc
                self._log.error("ami.login_refused", error=str(exc))
                self._set_state("failed")
                return
            except (OSError, TimeoutError, LinkError) as exc:
                reason = _describe(exc)
            finally:
                proto = self._proto
                if proto is not None and proto.transport is not None:
                    proto.abort("session ended")
            if self._closing:
                return
            if self._up_since is not None and loop.time() - self._up_since >= (
                self.settings.stable_after
            ):
                attempt = 0
            delay = backoff_delay(attempt, self.settings, self._rand)
            attempt += 1
            self._set_state("down")
            self.stats["reconnects"] += 1
            self._log.info("ami.reconnect", reason=reason, attempt=attempt, delay_s=round(delay, 3))
            await asyncio.sleep(delay)

    async def _connect_and_serve(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.settings
        self._connections += 1
        number = self._connections
        async with asyncio.timeout(settings.connect_timeout):
            _, proto = await loop.create_connection(
                lambda: _Protocol(self, number), self.host, self.port
            )
        self._proto = proto
        self._rx = 0
        self._marks = {}
        self._sync_buffer = [] if self.model is not None else None
        self.stats["connects"] += 1
        log = self._log.bind(conn=number)
        try:
            async with asyncio.timeout(settings.connect_timeout):
                banner = await proto.banner
        except TimeoutError:
            raise LinkDown("no AMI banner") from None
        log.info("ami.connected", banner=banner)
        try:
            result = await self._request(
                "Login",
                [
                    ("Username", self.username),
                    ("Secret", self._secret),
                    ("Events", settings.events),
                ],
                timeout_s=settings.login_timeout,
                check=False,
            )
        except ActionTimeout:
            raise LinkDown("no answer to Login") from None
        if not result.success:
            raise AuthenticationFailed(
                f"AMI login as {self.username!r} refused: {result.message or result.response}"
            )
        self._set_state("syncing")
        try:
            async with asyncio.timeout(settings.boot_timeout):
                await asyncio.shield(proto.booted)
        except TimeoutError:
            log.warning("ami.no_fully_booted", waited_s=settings.boot_timeout)
        await self._resync(proto)
        self._up_since = loop.time()
        self._set_state("up")
        log.info("ami.up")
        self._notify("up", None)
        keepalive = loop.create_task(self._keepalive(proto), name="ami-keepalive")
        try:
            await asyncio.shield(proto.closed)
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive

    async def _resync(self, proto: _Protocol) -> None:
        limit = self.settings.resync_timeout
        lists = await asyncio.gather(
            self._request("CoreShowChannels", [], timeout_s=limit, check=True, mark="channels"),
            self._request("DeviceStateList", [], timeout_s=limit, check=False, mark="devices"),
            self._request(
                "ExtensionStateList", [], timeout_s=limit, check=False, mark="extensions"
            ),
        )
        channels, devices, extensions = lists
        buffered, self._sync_buffer = self._sync_buffer or [], None
        if self.model is None:
            return
        for result in (devices, extensions):
            if not result.success:
                self._log.warning(
                    "ami.resync_list_failed", action=result.action, why=result.message
                )
        changes = self.model.resync(
            self._clock(),
            channels=channels.items,
            devices=devices.items if devices.success else None,
            extensions=extensions.items if extensions.success else None,
        )
        if changes:
            self._emit(changes)
        marks = self._marks
        replayed = 0
        for seq, message in buffered:
            category = _LIST_CATEGORY.get(message.event or "", "channels")
            if seq > marks.get(category, 0):
                self._apply(message)
                replayed += 1
        self._log.info(
            "ami.resynced",
            channels=len(channels.items),
            devices=len(devices.items),
            extensions=len(extensions.items),
            calls=len(self.model.calls),
            replayed=replayed,
            skipped=len(buffered) - replayed,
        )

    async def _keepalive(self, proto: _Protocol) -> None:
        settings = self.settings
        while True:
            await asyncio.sleep(settings.ping_interval)
            try:
                await self._request("Ping", [], timeout_s=settings.ping_timeout, check=False)
            except ActionTimeout:
                self.stats["keepalive_timeouts"] += 1
                self._log.warning("ami.keepalive_timeout", timeout_s=settings.ping_timeout)
                proto.abort(f"no answer to Ping within {settings.ping_timeout:g} s")
                return
            except LinkDown:
                return


def _pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


def _split_action(
    action: str | Mapping[str, str] | Iterable[tuple[str, str]],
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[str, list[tuple[str, str]]]:
    if isinstance(action, str):
        return action, _pairs(headers)
    pairs = _pairs(action) + _pairs(headers)
    names = [v for k, v in pairs if isinstance(k, str) and k.lower() == "action"]
    if len(names) != 1:
        raise ValueError("an action needs exactly one 'Action' header")
    return names[0], [
        (k, v) for k, v in pairs if not (isinstance(k, str) and k.lower() == "action")
    ]


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
