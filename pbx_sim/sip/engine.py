"""The pjsua2 thread: one pjsua2 endpoint per process, driven by one dedicated thread.

pjsua2 is a singleton per process and not asyncio-friendly: every pj call, every pj
callback and every pj object's destruction happens on the thread started here. asyncio
code never touches a pj object; it names accounts and calls by integer keys and sends
jobs with :meth:`PjEngine.run`, which resolves an asyncio future with the job's result.
Callbacks are turned into plain frozen dataclasses (:class:`RegUpdate`,
:class:`CallUpdate`) on the pj thread and posted to the event loop.

The thread loops: run queued jobs, ``libHandleEvents(10 ms)``, drop objects of ended
calls. ``threadCnt = 0`` for SIP and media keeps pjsua from starting worker threads that
would call back from elsewhere; the null sound device is the only other pj thread (its
clock mixes audio, it never calls back into Python).

Keys, not pj call ids, name calls: pjsua reuses its ids as soon as a call ends, and an
asyncio task acting on a call that just ended must not hit the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pjsua2 as pj

from pbx_sim.sip import sipmsg

T = TypeVar("T")

HANDLE_EVENTS_MS = 10
CLOSE_HANGUP_WAIT_S = 2.0
# The compile-time limits of the pjsua2-python wheel (PJSUA_MAX_CALLS, PJSUA_MAX_ACC):
# uaConfig.maxCalls is silently capped at 4, and a 9th account aborts the process.
# Softphones therefore spreads phones and calls over worker processes (pool.py).
MAX_CALLS = 4
MAX_ACCOUNTS = 8

_STATES = {
    pj.PJSIP_INV_STATE_NULL: "null",
    pj.PJSIP_INV_STATE_CALLING: "calling",
    pj.PJSIP_INV_STATE_INCOMING: "incoming",
    pj.PJSIP_INV_STATE_EARLY: "early",
    pj.PJSIP_INV_STATE_CONNECTING: "connecting",
    pj.PJSIP_INV_STATE_CONFIRMED: "confirmed",
    pj.PJSIP_INV_STATE_DISCONNECTED: "disconnected",
}


class SoftphoneError(Exception):
    """A softphone operation failed (pjsua2 refused it, or the SIP peer did)."""


@dataclass(frozen=True, slots=True)
class RegUpdate:
    """A REGISTER transaction ended (``code`` 200: registered; ``expires`` 0: gone)."""

    account: int
    code: int
    reason: str
    expires: int


@dataclass(frozen=True, slots=True)
class CallUpdate:
    """Something happened to a call, as seen on the pj thread.

    ``state`` is the INVITE session state (``incoming``, ``calling``, ``early``,
    ``connecting``, ``confirmed``, ``disconnected``) or a media change (``media_hold``:
    our hold took effect, ``media_active``: audio flows again, ``media_remote_hold``).
    """

    account: int
    call: int
    state: str
    sip_call_id: str
    remote: sipmsg.Party
    code: int
    reason: str
    q850_cause: int | None = None
    ended_by: str | None = None  # "local" | "remote" when disconnected
    message: str = ""  # the raw SIP message behind this update, if any


Sink = Callable[[RegUpdate | CallUpdate], None]


def _quiet_pjlib(level: int) -> None:
    """Set pjlib's log level before ``libCreate`` (which otherwise prints its banner)."""
    with contextlib.suppress(AttributeError, OSError):
        lib = ctypes.CDLL(pj._pjsua2.__file__)
        lib.pj_log_set_level(ctypes.c_int(level))


def _rx_message(event: Any) -> str:
    """The raw received SIP message behind a pjsua2 ``SipEvent``, or ''."""
    try:
        if event.type == pj.PJSIP_EVENT_TSX_STATE:
            tsx = event.body.tsxState
            if tsx.type == pj.PJSIP_EVENT_RX_MSG:
                return str(tsx.src.rdata.wholeMsg)
        elif event.type == pj.PJSIP_EVENT_RX_MSG:
            return str(event.body.rxMsg.rdata.wholeMsg)
    except (AttributeError, RuntimeError):
        pass
    return ""


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, engine: PjEngine, key: int, sink: Sink) -> None:
        super().__init__()
        self.engine, self.key, self.sink = engine, key, sink

    def onRegState(self, prm: Any) -> None:
        try:
            update = RegUpdate(self.key, int(prm.code), str(prm.reason), int(prm.expiration))
            self.engine.post(self.sink, update)
        except Exception as error:  # a callback must never raise into pjsua2
            self.engine.callback_failed(error)

    def onIncomingCall(self, prm: Any) -> None:
        try:
            self.engine.incoming(self, int(prm.callId), str(prm.rdata.wholeMsg))
        except Exception as error:
            self.engine.callback_failed(error)


class _Call(pj.Call):  # type: ignore[misc]
    def __init__(self, engine: PjEngine, account: _Account, key: int, call_id: int) -> None:
        super().__init__(account, call_id)
        self.engine, self.account, self.key = engine, account, key
        self.local_hangup = False
        self.hold_requested = False

    def update(self, state: str, message: str = "", ended_by: str | None = None) -> None:
        info = self.getInfo()
        remote = sipmsg.parse_party(str(info.remoteUri))
        cause = sipmsg.q850_cause(message) if message else None
        self.engine.post(
            self.account.sink,
            CallUpdate(
                account=self.account.key,
                call=self.key,
                state=state,
                sip_call_id=str(info.callIdString),
                remote=remote,
                code=int(info.lastStatusCode),
                reason=str(info.lastReason),
                q850_cause=cause,
                ended_by=ended_by,
                message=message,
            ),
        )

    def onCallState(self, prm: Any) -> None:
        try:
            info = self.getInfo()
            state = _STATES.get(info.state, "null")
            if state in ("null", "incoming"):
                return  # "incoming" was reported by onIncomingCall with the INVITE
            message = _rx_message(prm.e)
            ended_by = None
            if state == "disconnected":
                ended_by = "local" if self.local_hangup else "remote"
            self.update(state, message, ended_by)
            if state == "disconnected":
                self.engine.forget_call(self)
        except Exception as error:
            self.engine.callback_failed(error)

    def onCallMediaState(self, prm: Any) -> None:
        try:
            info = self.getInfo()
            statuses = [m.status for m in info.media if m.type == pj.PJMEDIA_TYPE_AUDIO]
            if not statuses:
                return
            status = statuses[0]
            if status == pj.PJSUA_CALL_MEDIA_LOCAL_HOLD:
                self.update("media_hold")
            elif status == pj.PJSUA_CALL_MEDIA_REMOTE_HOLD:
                self.update("media_remote_hold")
            elif status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.update("media_active")
        except Exception as error:
            self.engine.callback_failed(error)


class PjEngine:
    """The pjsua2 endpoint on its own thread. See the module docstring."""

    def __init__(
        self,
        *,
        bind_host: str = "127.0.0.1",
        local_port: int = 0,
        max_calls: int = MAX_CALLS,
        rtp_port: int = 0,
        log_level: int = 0,
        user_agent: str = "Hotline softphone",
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        if not 1 <= max_calls <= MAX_CALLS:
            raise ValueError(f"max_calls must be 1..{MAX_CALLS}, not {max_calls}")
        self.bind_host, self.local_port, self.max_calls = bind_host, local_port, max_calls
        self.rtp_port, self.log_level, self.user_agent = rtp_port, log_level, user_agent
        self.on_error = on_error
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._keys = itertools.count(1)
        # Owned by the pj thread only:
        self._ep: Any = None
        self._transport_id = -1
        self._accounts: dict[int, _Account] = {}
        self._calls: dict[int, _Call] = {}
        self._graveyard: list[Any] = []

    # -- asyncio side -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def start(self) -> None:
        """Start the thread (from the thread whose network namespace it should use)."""
        if self._thread is not None:
            raise SoftphoneError("the SIP engine was already started")
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._main, args=(ready,), name="pjsua2", daemon=True
        )
        self._thread.start()
        await ready

    def run(self, job: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``job`` on the pj thread; the future gets its result or exception."""
        if self._loop is None or not self.running or self._stopping.is_set():
            raise SoftphoneError("the SIP engine is not running")
        future: asyncio.Future[T] = self._loop.create_future()

        def deliver(result: T | None, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

        def wrapped() -> None:
            try:
                result = job()
            except pj.Error as error:
                self.post(deliver, None, SoftphoneError(str(error.info()).strip()))
            except Exception as error:
                self.post(deliver, None, error)
            else:
                self.post(deliver, result, None)

        self._jobs.put(wrapped)
        return future

    async def stop(self) -> None:
        """Hang up every call, unregister every account, destroy pjsua2, join the thread."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._stopping.set()
        await asyncio.to_thread(thread.join)

    # -- called on the pj thread ----------------------------------------------------------

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(fn, *args)

    def callback_failed(self, error: Exception) -> None:
        if self.on_error is not None:
            self.post(self.on_error, f"softphone callback failed: {error!r}")

    def _main(self, ready: asyncio.Future[None]) -> None:
        try:
            self._create()
        except Exception as error:
            text = str(error.info()).strip() if isinstance(error, pj.Error) else str(error)
            self.post(_set_exception, ready, SoftphoneError(f"pjsua2 start failed: {text}"))
            self._destroy()
            return
        self.post(_set_result, ready, None)
        while not self._stopping.is_set():
            self._run_jobs()
            self._ep.libHandleEvents(HANDLE_EVENTS_MS)
            self._graveyard.clear()
        self._run_jobs()
        self._destroy()

    def _run_jobs(self) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            job()

    def _create(self) -> None:
        _quiet_pjlib(self.log_level)
        ep = pj.Endpoint()
        self._ep = ep
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.maxCalls = self.max_calls
        cfg.uaConfig.userAgent = self.user_agent
        cfg.medConfig.threadCnt = 0
        cfg.medConfig.noVad = True
        cfg.medConfig.maxMediaPorts = max(254, self.max_calls + 8)
        cfg.logConfig.level = self.log_level
        cfg.logConfig.consoleLevel = self.log_level
        ep.libInit(cfg)
        tcfg = pj.TransportConfig()
        tcfg.port = self.local_port
        tcfg.boundAddress = self.bind_host
        self._transport_id = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        ep.libStart()
        ep.audDevManager().setNullDev()
        name = str(ep.transportGetInfo(self._transport_id).localName)
        self.local_port = int(name.rsplit(":", 1)[1])

    def _destroy(self) -> None:
        ep = self._ep
        if ep is None:
            return
        with contextlib.suppress(Exception):
            if self._calls:
                ep.hangupAllCalls()
                deadline = CLOSE_HANGUP_WAIT_S * 1000
                while self._calls and deadline > 0:
                    ep.libHandleEvents(HANDLE_EVENTS_MS)
                    deadline -= HANDLE_EVENTS_MS
        self._calls.clear()
        self._graveyard.clear()
        for account in self._accounts.values():
            with contextlib.suppress(Exception):
                account.shutdown()
        self._accounts.clear()
        with contextlib.suppress(Exception):
            ep.libDestroy()
        self._ep = None

    # -- jobs (run on the pj thread through run()) ------------------------------------------

    def add_account(
        self,
        key: int,
        user: str,
        password: str,
        *,
        host: str,
        port: int,
        register: bool,
        display_name: str,
        sink: Sink,
    ) -> None:
        if len(self._accounts) >= MAX_ACCOUNTS:
            # pjsua asserts (aborts the process) past its compile-time limit: refuse first.
            raise SoftphoneError(f"this pjsua2 build holds at most {MAX_ACCOUNTS} accounts")
        cfg = pj.AccountConfig()
        cfg.idUri = sipmsg.name_addr(display_name, f"sip:{user}@{host}:{port}")
        if register:
            cfg.regConfig.registrarUri = f"sip:{host}:{port}"
            cfg.regConfig.timeoutSec = 300
            cfg.regConfig.retryIntervalSec = 5
        cfg.sipConfig.transportId = self._transport_id
        if password:
            cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, password))
        cfg.natConfig.contactRewriteUse = 0
        cfg.natConfig.viaRewriteUse = 0
        cfg.natConfig.sdpNatRewriteUse = 0
        cfg.mediaConfig.transportConfig.boundAddress = self.bind_host
        cfg.mediaConfig.transportConfig.port = self.rtp_port
        account = _Account(self, key, sink)
        account.create(cfg)
        self._accounts[key] = account

    def remove_account(self, key: int) -> None:
        account = self._accounts.pop(key, None)
        if account is None:
            return
        for call_key, call in list(self._calls.items()):
            if call.account is account:
                call.local_hangup = True
                with contextlib.suppress(pj.Error):
                    call.hangup(pj.CallOpParam(True))
                self._calls.pop(call_key, None)
                self._graveyard.append(call)
        account.shutdown()
        self._graveyard.append(account)

    def incoming(self, account: _Account, call_id: int, invite: str) -> None:
        key = next(self._keys)
        call = _Call(self, account, key, call_id)
        self._calls[key] = call
        ringing = pj.CallOpParam()
        ringing.statusCode = 180
        call.answer(ringing)
        info = call.getInfo()
        self.post(
            account.sink,
            CallUpdate(
                account=account.key,
                call=key,
                state="incoming",
                sip_call_id=str(info.callIdString),
                remote=sipmsg.caller_of(invite),
                code=180,
                reason="Ringing",
                message=invite,
            ),
        )

    def forget_call(self, call: _Call) -> None:
        # Not deleted inside its own callback: the graveyard empties after
        # libHandleEvents returns.
        self._calls.pop(call.key, None)
        self._graveyard.append(call)

    def _call(self, key: int) -> _Call:
        call = self._calls.get(key)
        if call is None:
            raise SoftphoneError("the call has ended")
        return call

    def make_call(self, account_key: int, uri: str, sip_headers: dict[str, str]) -> int:
        account = self._accounts.get(account_key)
        if account is None:
            raise SoftphoneError("the account is gone")
        if len(self._calls) >= self.max_calls:
            raise SoftphoneError(f"this softphone process is full ({self.max_calls} calls)")
        key = next(self._keys)
        call = _Call(self, account, key, pj.PJSUA_INVALID_ID)
        prm = pj.CallOpParam(True)
        for name, value in sip_headers.items():
            header = pj.SipHeader()
            header.hName, header.hValue = name, value
            prm.txOption.headers.append(header)
        self._calls[key] = call
        try:
            call.makeCall(uri, prm)
        except pj.Error:
            self._calls.pop(key, None)
            self._graveyard.append(call)
            raise
        return key

    def answer(self, key: int, code: int) -> None:
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        self._call(key).answer(prm)

    def hangup(self, key: int, code: int) -> None:
        call = self._calls.get(key)
        if call is None:
            return  # already ended: hanging up twice is not an error
        call.local_hangup = True
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        call.hangup(prm)

    def hold(self, key: int) -> None:
        self._call(key).setHold(pj.CallOpParam(True))

    def unhold(self, key: int) -> None:
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        self._call(key).reinvite(prm)

    def dial_dtmf(self, key: int, digits: str) -> None:
        self._call(key).dialDtmf(digits)

    def call_count(self) -> int:
        return len(self._calls)


def _set_result(future: asyncio.Future[None], value: None) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[None], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
