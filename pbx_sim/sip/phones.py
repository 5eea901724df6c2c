"""Softphones for tests and load: SIP agents and carrier callers on one pjsua2 endpoint.

    phones = Softphones(port=15060)            # the PBX's SIP address (UDP)
    await phones.start()
    agent = await phones.register("8001", "Agent8001pw")
    trunk = await phones.trunk("e1trunk", "E1trunkPw")
    outcome_task = asyncio.create_task(trunk.call("7001", "13800138000", caller_name="张三",
                                                  hold_s=2))
    call = await agent.wait_ringing(5)         # PhoneCall: caller number/name, Call-ID
    await agent.answer(call)
    ...
    await phones.close()

Everything here runs on the event loop. pjsua2 runs in worker processes (pool.py,
worker.py: the wheel allows 4 calls and 8 accounts per process), each on one thread of
its own (engine.py). See docs/softphones.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pbx_sim.sip.engine import CallUpdate, RegUpdate, SoftphoneError
from pbx_sim.sip.pool import Worker, WorkerPool
from pbx_sim.sip.trunk import TrunkCaller

REGISTER_TIMEOUT_S = 10.0
OP_TIMEOUT_S = 10.0
EVENT_QUEUE_LIMIT = 1000

CallState = Literal["ringing", "dialing", "early", "connected", "held", "ended"]
EventKind = Literal["ringing", "dialing", "answered", "held", "unheld", "hung_up"]


class RegistrationError(SoftphoneError):
    """REGISTER failed: ``code`` is the SIP status (403 wrong password, 408 no answer...)."""

    def __init__(self, extension: str, code: int, reason: str) -> None:
        super().__init__(f"extension {extension}: REGISTER failed: {code} {reason}")
        self.extension, self.code, self.reason = extension, code, reason


class PhoneCall:
    """One call on a :class:`Phone` (incoming or outgoing), updated as SIP progresses."""

    def __init__(self, phone: Phone, key: int, direction: Literal["in", "out"]) -> None:
        self.phone = phone
        self.key = key
        self.direction = direction
        self.state: CallState = "ringing" if direction == "in" else "dialing"
        self.sip_call_id = ""
        self.remote_number = ""
        self.remote_name = ""
        self.remote_uri = ""
        self.code: int | None = None  # last SIP status (final one once ended)
        self.reason = ""
        self.q850_cause: int | None = None  # from a Reason header, when the peer sent one
        self.ended_by: Literal["local", "remote"] | None = None
        self.started_at = time.monotonic()
        self.connected_at: float | None = None
        self.ended_at: float | None = None
        self.held = False
        self._connected = asyncio.Event()
        self._ended = asyncio.Event()
        self._hold_changed = asyncio.Event()

    @property
    def caller(self) -> str:
        """The remote party's number (the caller of an incoming call)."""
        return self.remote_number

    @property
    def connected(self) -> bool:
        return self.connected_at is not None

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    async def wait_connected(self, timeout: float = OP_TIMEOUT_S) -> None:  # noqa: ASYNC109
        """Wait until answered; raise SoftphoneError if the call ends first."""
        ended = asyncio.ensure_future(self._ended.wait())
        connected = asyncio.ensure_future(self._connected.wait())
        try:
            await asyncio.wait(
                {ended, connected}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ended.cancel()
            connected.cancel()
        if self._connected.is_set():
            return
        if self._ended.is_set():
            raise SoftphoneError(f"call ended before it was answered: {self.code} {self.reason}")
        raise TimeoutError(f"call not answered within {timeout} s")

    async def wait_ended(self, timeout: float | None = OP_TIMEOUT_S) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self._ended.wait(), timeout)

    def __repr__(self) -> str:
        return (
            f"<PhoneCall {self.phone.extension} {self.direction} {self.remote_number!r} "
            f"{self.state} {self.code}>"
        )


@dataclass(frozen=True, slots=True)
class PhoneEvent:
    """What a person at the phone would notice. ``code``/``reason``: the SIP status;
    ``q850_cause`` from a Reason header (hung_up)."""

    kind: EventKind
    extension: str
    call: PhoneCall
    code: int | None = None
    reason: str = ""
    q850_cause: int | None = None
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class AgentPolicy:
    """How an automatic agent behaves (times in seconds).

    Each ringing call: ignored with probability ``no_answer_rate`` (it rings until the
    PBX gives up: RONA); otherwise answered after ``answer_delay_s``, held for
    ``hold_s`` with probability ``hold_rate`` half-way through, and hung up after
    ``handle_time_s`` of talk unless the caller hangs up first. ``spread`` varies each
    duration uniformly by ±spread (0.5: 50 %–150 %); ``seed`` makes a run repeatable.
    One call at a time, like a person: calls that ring meanwhile wait or are missed.
    """

    answer_delay_s: float = 1.0
    handle_time_s: float = 30.0
    no_answer_rate: float = 0.0
    hold_rate: float = 0.0
    hold_s: float = 5.0
    spread: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("answer_delay_s", "handle_time_s", "hold_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("no_answer_rate", "hold_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if not 0.0 <= self.spread < 1.0:
            raise ValueError("spread must be in [0, 1)")


@dataclass(slots=True)
class AgentStats:
    """What an automatic agent did."""

    rang: int = 0
    answered: int = 0
    ignored: int = 0  # decided not to answer (no_answer_rate)
    missed: int = 0  # the call ended before the agent answered
    held: int = 0
    hung_up_by_agent: int = 0
    hung_up_by_caller: int = 0
    errors: int = 0


class Phone:
    """One extension on the PBX (registered, or a trunk account that only dials)."""

    def __init__(
        self, phones: Softphones, extension: str, *, registered: bool, display_name: str
    ) -> None:
        self.softphones = phones
        self.extension = extension
        self.registered = registered
        self.display_name = display_name
        self.events: asyncio.Queue[PhoneEvent] = asyncio.Queue()
        self.calls: dict[int, PhoneCall] = {}  # live calls by key
        self.policy: AgentPolicy | None = None
        self.stats = AgentStats()
        self._worker: Worker | None = None  # the agent's worker (None for a carrier)
        self._key = 0  # the agent's account key
        self._accounts: list[int] = []  # every account of this phone (a carrier has many)
        self._password = ""
        # Calls that rang and nobody took with wait_ringing yet (ended ones are dropped).
        self._ringing: deque[PhoneCall] = deque(maxlen=EVENT_QUEUE_LIMIT)
        self._rang = asyncio.Event()
        self._registration: asyncio.Future[RegUpdate] | None = None
        self._agent_task: asyncio.Task[None] | None = None
        self.closed = False

    @property
    def local_port(self) -> int:
        """The UDP port this agent's phone registered from (0 for a carrier)."""
        return self._worker.port if self._worker is not None else 0

    # -- control ---------------------------------------------------------------------------

    async def wait_ringing(self, timeout: float | None = OP_TIMEOUT_S) -> PhoneCall:  # noqa: ASYNC109
        """The next incoming call that is still ringing (calls that rang earlier count)."""
        async with asyncio.timeout(timeout):
            while True:
                while self._ringing:
                    call = self._ringing.popleft()
                    if call.state == "ringing":
                        return call
                self._rang.clear()
                await self._rang.wait()

    def _pick(self, call: PhoneCall | None, states: tuple[str, ...], what: str) -> PhoneCall:
        if call is not None:
            if call.phone is not self:
                raise SoftphoneError(f"{what}: that call is on {call.phone.extension}")
            return call
        for candidate in self.calls.values():
            if candidate.state in states:
                return candidate
        raise SoftphoneError(f"{what}: extension {self.extension} has no call to {what}")

    async def answer(self, call: PhoneCall | None = None, *, code: int = 200) -> PhoneCall:
        """Answer (200 OK) the given ringing call, or the oldest one; wait until confirmed."""
        call = self._pick(call, ("ringing",), "answer")
        await self.softphones.pool.call_op(call.key, "answer", code=code)
        if 200 <= code < 300:
            await call.wait_connected(OP_TIMEOUT_S)
        return call

    async def hangup(self, call: PhoneCall | None = None, *, code: int = 0) -> PhoneCall:
        """Hang up (BYE, CANCEL, or a final response ``code`` to a ringing call: 0 lets
        pjsua choose, 603 Decline; 486 Busy Here...). Waits until the call has ended."""
        call = self._pick(call, ("connected", "held", "early", "dialing", "ringing"), "hang up")
        if not call.ended:
            await self.softphones.pool.call_op(call.key, "hangup", code=code)
            await call.wait_ended(OP_TIMEOUT_S)
        return call

    async def hold(self, call: PhoneCall | None = None) -> PhoneCall:
        """Put the call on hold (re-INVITE, sendonly) and wait until it took effect."""
        call = self._pick(call, ("connected",), "hold")
        await self._change_hold(call, hold=True)
        return call

    async def unhold(self, call: PhoneCall | None = None) -> PhoneCall:
        """Take the call off hold (re-INVITE, sendrecv) and wait until it took effect."""
        call = self._pick(call, ("held",), "unhold")
        await self._change_hold(call, hold=False)
        return call

    async def _change_hold(self, call: PhoneCall, *, hold: bool) -> None:
        call._hold_changed.clear()
        await self.softphones.pool.call_op(call.key, "hold" if hold else "unhold")
        async with asyncio.timeout(OP_TIMEOUT_S):
            while call.held != hold:
                if call.ended:
                    raise SoftphoneError("the call ended")
                await call._hold_changed.wait()
                call._hold_changed.clear()

    async def dial(self, number: str, *, headers: Mapping[str, str] | None = None) -> PhoneCall:
        """Call ``number`` at the PBX; returns once the INVITE is on its way
        (``await call.wait_connected()`` to wait for the answer)."""
        phones = self.softphones
        uri = f"sip:{number}@{phones.host}:{phones.port}"
        extra = dict(headers or {})
        if self._worker is not None:
            worker, account = self._worker, self._key
            worker.calls += 1
        else:  # a carrier: any worker with a free slot
            worker, account = await phones.pool.reserve_trunk_slot(
                self.extension, self._password, host=phones.host, port=phones.port,
                display_name=self.display_name, sink=self._on_update,
            )
            if account not in self._accounts:
                self._accounts.append(account)
        try:
            key = await phones.pool.make_call(worker, account, uri, extra)
        except BaseException:
            phones.pool.release_slot(worker)
            raise
        call = self.calls.get(key)
        if call is None:  # no update arrived yet
            call = PhoneCall(self, key, "out")
            self.calls[key] = call
            self._emit("dialing", call)
        return call

    async def send_dtmf(self, digits: str, call: PhoneCall | None = None) -> None:
        call = self._pick(call, ("connected",), "send DTMF")
        await self.softphones.pool.call_op(call.key, "dtmf", digits=digits)

    async def unregister(self) -> None:
        """Hang up its calls, unregister, forget the account."""
        if self.closed:
            return
        self.closed = True
        if self._agent_task is not None:
            self._agent_task.cancel()
        for account in self._accounts:
            with contextlib.suppress(SoftphoneError):
                await self.softphones.pool.remove_account(account)
        self.softphones._forget(self)

    # -- updates from the pj thread (on the loop) --------------------------------------------

    def _emit(self, kind: EventKind, call: PhoneCall, **extra: object) -> None:
        event = PhoneEvent(kind, self.extension, call, **extra)  # type: ignore[arg-type]
        if self.events.qsize() >= EVENT_QUEUE_LIMIT:
            self.events.get_nowait()  # nobody reads them: keep the newest
        self.events.put_nowait(event)

    def _on_update(self, update: RegUpdate | CallUpdate) -> None:
        if isinstance(update, RegUpdate):
            self.registered = update.code // 100 == 2 and update.expires > 0
            if self._registration is not None and not self._registration.done():
                self._registration.set_result(update)
            return
        call = self.calls.get(update.call)
        if call is None:
            call = PhoneCall(self, update.call, "in" if update.state == "incoming" else "out")
            self.calls[update.call] = call
            if call.direction == "out":
                self._emit("dialing", call)
        if update.sip_call_id:
            call.sip_call_id = update.sip_call_id
        if update.remote.uri and (update.state == "incoming" or not call.remote_uri):
            call.remote_number = update.remote.number
            call.remote_name = update.remote.name
            call.remote_uri = update.remote.uri
        call.code, call.reason = update.code, update.reason
        state = update.state
        if state == "incoming":
            call.state = "ringing"
            while self._ringing and self._ringing[0].ended:
                self._ringing.popleft()
            self._ringing.append(call)
            self._rang.set()
            self._emit("ringing", call, code=180, reason="Ringing")
        elif state == "early" and call.direction == "out":
            call.state = "early"
        elif state == "confirmed":
            if call.connected_at is None:
                call.connected_at = time.monotonic()
                call.state = "connected"
                call._connected.set()
                self._emit("answered", call, code=update.code, reason=update.reason)
        elif state == "media_hold":
            if not call.held:
                call.held, call.state = True, "held"
                call._hold_changed.set()
                self._emit("held", call)
        elif state == "media_active":
            if call.held:
                call.held, call.state = False, "connected"
                call._hold_changed.set()
                self._emit("unheld", call)
        elif state == "disconnected":
            call.state = "ended"
            call.ended_at = time.monotonic()
            call.q850_cause = update.q850_cause
            call.ended_by = "local" if update.ended_by == "local" else "remote"
            self.calls.pop(call.key, None)
            call._ended.set()
            call._hold_changed.set()
            self._emit(
                "hung_up", call, code=update.code, reason=update.reason,
                q850_cause=update.q850_cause,
            )

    # -- automatic agent -------------------------------------------------------------------

    def _start_agent(self, policy: AgentPolicy) -> None:
        self.policy = policy
        self._agent_task = asyncio.create_task(self._agent(policy), name=f"agent-{self.extension}")

    async def _agent(self, policy: AgentPolicy) -> None:
        seed = None if policy.seed is None else f"{policy.seed}:{self.extension}"
        rng = random.Random(seed)

        while True:
            call = await self.wait_ringing(None)
            self.stats.rang += 1
            if rng.random() < policy.no_answer_rate:
                self.stats.ignored += 1
                continue
            try:
                await self._handle(call, policy, rng)
            except (SoftphoneError, TimeoutError):
                self.stats.errors += 1

    async def _handle(self, call: PhoneCall, policy: AgentPolicy, rng: random.Random) -> None:
        def vary(mean: float) -> float:
            return mean * rng.uniform(1 - policy.spread, 1 + policy.spread)

        await _sleep_unless_ended(call, vary(policy.answer_delay_s))
        if call.ended:
            self.stats.missed += 1
            return
        try:
            await self.answer(call)
        except SoftphoneError:
            self.stats.missed += 1
            return
        self.stats.answered += 1
        talk = vary(policy.handle_time_s)
        if rng.random() < policy.hold_rate:
            await _sleep_unless_ended(call, talk / 2)
            if not call.ended:
                await self.hold(call)
                self.stats.held += 1
                await _sleep_unless_ended(call, vary(policy.hold_s))
                if not call.ended:
                    await self.unhold(call)
            talk /= 2
        await _sleep_unless_ended(call, talk)
        if call.ended:
            self.stats.hung_up_by_caller += 1
            return
        # Counted before the BYE goes out: the caller's side may see the call end before
        # the worker confirms this hang-up, and a reader of the stats then must not
        # find the call answered but ended by nobody.
        self.stats.hung_up_by_agent += 1
        await self.hangup(call)


async def _sleep_unless_ended(call: PhoneCall, seconds: float) -> None:
    if seconds <= 0 or call.ended:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(call._ended.wait(), seconds)


class Softphones:
    """Many SIP phones against one PBX, for tests and load.

    ``host``/``port``: the PBX's SIP address (UDP). Phones bind to ``bind_host`` on
    ephemeral ports, one port per worker process (``Phone.local_port``). Agents are put
    ``agents_per_worker`` to a process (each pjsua2 process takes 4 calls: with 2 agents
    each can have a call and another ringing); carrier calls 4 to a process.
    ``max_workers`` bounds the processes (so, 4 × max_workers calls at once).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int,
        bind_host: str = "127.0.0.1",
        agents_per_worker: int = 2,
        max_workers: int = 64,
        log_level: int = 0,
    ) -> None:
        self.host, self.port = host, port
        self.pool = WorkerPool(
            bind_host=bind_host,
            agents_per_worker=agents_per_worker,
            max_workers=max_workers,
            log_level=log_level,
        )
        self.phones: dict[str, Phone] = {}
        self.started = False

    @property
    def errors(self) -> list[str]:
        """Problems nobody asked about (a worker process that died): tests check it."""
        return self.pool.errors

    async def start(self) -> None:
        """Check that one worker starts (pjsua2 imports and binds); more start on demand."""
        if self.started:
            raise SoftphoneError("these softphones were already started")
        self.started = True
        worker = await self.pool.worker_for_agent()
        self.pool.release_agent(worker)

    async def __aenter__(self) -> Softphones:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def register(
        self,
        extension: str,
        password: str,
        *,
        policy: AgentPolicy | None = None,
        display_name: str = "",
        timeout: float = REGISTER_TIMEOUT_S,  # noqa: ASYNC109
    ) -> Phone:
        """Register ``extension`` and wait for the 200; RegistrationError otherwise.
        With ``policy`` the phone answers, holds and hangs up by itself."""
        if not self.started or self.pool.closing:
            raise SoftphoneError("start the softphones first")
        if extension in self.phones:
            raise SoftphoneError(f"extension {extension} is already registered here")
        phone = Phone(self, extension, registered=False, display_name=display_name)
        phone._registration = asyncio.get_running_loop().create_future()
        self.phones[extension] = phone
        worker = await self.pool.worker_for_agent()
        try:
            phone._key = await self.pool.add_account(
                worker, extension, password, host=self.host, port=self.port, register=True,
                display_name=display_name, sink=phone._on_update,
            )
        except BaseException:
            self.pool.release_agent(worker)
            self._forget(phone)
            raise
        phone._worker = worker
        phone._accounts.append(phone._key)
        try:
            update = await asyncio.wait_for(phone._registration, timeout)
        except TimeoutError:
            await phone.unregister()
            raise RegistrationError(extension, 408, f"no answer within {timeout} s") from None
        if update.code // 100 != 2:
            await phone.unregister()
            raise RegistrationError(extension, update.code, update.reason)
        if policy is not None:
            phone._start_agent(policy)
        return phone

    async def register_many(
        self,
        extensions: dict[str, str],
        *,
        policy: AgentPolicy | None = None,
    ) -> list[Phone]:
        """Register several extensions (extension -> password) at once."""
        return list(
            await asyncio.gather(
                *(self.register(ext, pw, policy=policy) for ext, pw in extensions.items())
            )
        )

    async def trunk(self, username: str, password: str, *, display_name: str = "") -> TrunkCaller:
        """A carrier account that places calls into the PBX's trunk endpoint. It
        authenticates each INVITE and does not register; its calls spread over worker
        processes four at a time."""
        if not self.started or self.pool.closing:
            raise SoftphoneError("start the softphones first")
        if username in self.phones:
            raise SoftphoneError(f"account {username} already exists here")
        phone = Phone(self, username, registered=False, display_name=display_name)
        phone._password = password
        self.phones[username] = phone
        return TrunkCaller(phone)

    def _forget(self, phone: Phone) -> None:
        if self.phones.get(phone.extension) is phone:
            del self.phones[phone.extension]

    async def close(self) -> None:
        """Stop the agents, hang up, unregister, end the workers. Safe to call twice."""
        tasks = [p._agent_task for p in self.phones.values() if p._agent_task is not None]
        for phone in self.phones.values():
            phone.closed = True
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.phones.clear()
        await self.pool.close()
