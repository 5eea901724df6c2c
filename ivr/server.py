"""The FastAGI server: the asyncio shell around :mod:`ivr.agi` and :mod:`ivr.engine`.

The PBX connects once per ``AGI(agi://host:port/SCRIPT,...)``. The script names what to
run on the caller:

``incoming``  the flow of the ``[ivr]`` configuration, from the call's start node (the
              dialled number is ``agi_arg_1``); the outcome goes to ``on_outcome``
``survey``    the after-call survey (if the call's queue has one); the score goes to
              ``on_survey``
``waiting``   a key pressed while waiting for an agent (``agi_arg_1``): the callback
              key asks ``on_callback`` for a callback (virtual hold)

Each session is one task: read the environment, then write a command and await its
reply, as the engine asks, until the flow returns; then close (the dialplan goes on).
Every reply's round trip is measured in the server (``timed_commands``), which is what
``hotline bench ivr`` reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import structlog

from ivr.agi import AgiEnvironment, AgiError, AgiHangup, AgiParser, AgiReply
from ivr.engine import Caller, Outcome, callback_answer, run_flow, run_survey, survey_thanks
from ivr.flows import IvrConfig, SurveyConfig, is_vip

__all__ = ["CustomerInfo", "IvrServer"]

log = structlog.get_logger("ivr.server")

#: Seconds allowed for the PBX to send the environment, and to answer any command that
#: plays nothing; media commands get their own time-out plus this much.
PROTOCOL_TIMEOUT: Final = 10.0
#: The longest a single command may take (a prompt, a voicemail): a stuck session ends.
COMMAND_TIMEOUT: Final = 600.0
#: Round trips kept for the benchmark and metrics.
KEPT_ROUND_TRIPS: Final = 200_000

_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    """What the flow needs of a known caller."""

    name: str
    account_id: str | None = None
    notes: str = ""


Lookup = Callable[[str], Awaitable[CustomerInfo | None]]
OnOutcome = Callable[[AgiEnvironment, Outcome], None]
SurveyFor = Callable[[AgiEnvironment], SurveyConfig | None]
OnSurvey = Callable[[AgiEnvironment, int | None], None]
OnCallback = Callable[[AgiEnvironment], bool]


class _Hangup(Exception):
    pass


class IvrServer:
    def __init__(
        self,
        config: IvrConfig,
        *,
        on_outcome: OnOutcome,
        lookup: Lookup | None = None,
        survey_for: SurveyFor | None = None,
        on_survey: OnSurvey | None = None,
        on_callback: OnCallback | None = None,
        wall_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.config = config
        self.on_outcome = on_outcome
        self.lookup = lookup
        self.survey_for = survey_for
        self.on_survey = on_survey
        self.on_callback = on_callback
        self.wall_clock = wall_clock
        #: (command line, seconds to its reply), the latest KEPT_ROUND_TRIPS
        self.timed_commands: deque[tuple[str, float]] = deque(maxlen=KEPT_ROUND_TRIPS)
        self.sessions = 0  # running now
        self.stats: dict[str, int] = {"sessions": 0, "errors": 0, "commands": 0}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("ivr.listening", host=host, port=self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.sessions += 1
        self.stats["sessions"] += 1
        try:
            await _Session(self, reader, writer).run()
        except (AgiError, OSError, TimeoutError) as error:
            self.stats["errors"] += 1
            log.warning("ivr.session_failed", error=str(error) or repr(error))
        finally:
            self.sessions -= 1
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def caller(self, env: AgiEnvironment) -> Caller:
        number = env.caller
        did = env.args[0] if env.args else None
        customer = await self.lookup(number) if (self.lookup is not None and number) else None
        if customer is None:
            return Caller(number, did)
        vip = is_vip(self.config, customer.account_id, customer.notes)
        return Caller(number, did, known=True, vip=vip)


class _Session:
    def __init__(
        self, server: IvrServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.parser = AgiParser()
        self.pending: deque[AgiReply] = deque()

    async def run(self) -> None:
        env = await asyncio.wait_for(self._environment(), PROTOCOL_TIMEOUT)
        server = self.server
        script = env.script
        if script == "incoming":
            caller = await server.caller(env)
            outcome = await self._drive(run_flow(server.config, caller, server.wall_clock()))
            server.on_outcome(env, outcome)
            await self._then(outcome.after)
        elif script == "survey":
            survey = server.survey_for(env) if server.survey_for is not None else None
            if survey is None:
                return  # this queue asks nothing: the dialplan hangs up
            score = await self._drive(run_survey(server.config, survey))
            if server.on_survey is not None:
                server.on_survey(env, score)
            await self._then(survey_thanks(server.config, survey, score))
        elif script == "waiting":
            # A key pressed while waiting for an agent (agi_arg_1): the callback key asks
            # for a callback; any other key, or a refusal, returns the caller to waiting.
            cb = server.config.callback
            key = env.args[0] if env.args else ""
            if cb is None or key != cb.key or server.on_callback is None:
                return
            await self._then(callback_answer(server.config, server.on_callback(env)))
        else:
            log.warning("ivr.unknown_script", script=script, channel=env.channel)
            with contextlib.suppress(_Hangup):
                await self._command(f"VERBOSE {'unknown Hotline AGI script'!r} 1")

    async def _then(self, lines: tuple[str, ...]) -> None:
        for line in lines:
            try:
                reply = await self._command(line)
            except _Hangup:
                return
            if reply.hung_up:
                return

    async def _environment(self) -> AgiEnvironment:
        while True:
            data = await self.reader.read(65536)
            if not data:
                raise AgiError("the PBX closed the connection before the environment")
            for item in self.parser.feed(data):
                if isinstance(item, AgiEnvironment):
                    return item
                raise AgiError("a reply before any command")

    async def _drive(self, flow: Generator[str, AgiReply, _R]) -> _R:
        """Run a flow to its end: each yielded line is sent, each reply sent back in."""
        try:
            line = next(flow)
            while True:
                try:
                    reply = await self._command(line)
                except _Hangup:
                    reply = AgiReply(511, "-1", "hangup")
                line = flow.send(reply)
        except StopIteration as stop:
            result: _R = stop.value
            return result

    async def _command(self, line: str) -> AgiReply:
        server = self.server
        if self.parser.hung_up and not self.pending:
            raise _Hangup
        started = time.perf_counter()
        self.writer.write(line.encode() + b"\n")
        async with asyncio.timeout(COMMAND_TIMEOUT):  # no task per command, unlike wait_for
            reply = await self._reply()
        server.timed_commands.append((line, time.perf_counter() - started))
        server.stats["commands"] += 1
        return reply

    async def _reply(self) -> AgiReply:
        while not self.pending:
            data = await self.reader.read(65536)
            if not data:
                raise _Hangup
            for item in self.parser.feed(data):
                if isinstance(item, AgiReply):
                    self.pending.append(item)
                elif isinstance(item, AgiHangup):
                    continue  # the next reply says -1/511; parser.hung_up is set
                else:
                    raise AgiError("a second environment")
        return self.pending.popleft()


def customer_info(customer: Any) -> CustomerInfo | None:
    """A :class:`cti.store.models.Customer` (or None) as the flow needs it."""
    if customer is None:
        return None
    return CustomerInfo(customer.name, customer.account_id, customer.notes)
