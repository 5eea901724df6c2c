"""The Hotline server: the asyncio shell that wires the pieces together.

AMI link (+ call model) → :class:`~cti.center.core.Center` (+ ACD) → effects: events to
WebSocket clients, AMI actions, records in the store. HTTP on one port: ``/ws``
(WebSocket), ``/api`` (REST), ``/`` (web console, when present). Everything the center
decides runs on the event loop's thread in arrival order; only the store and AMI
round trips are awaited, in tasks that keep that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

import structlog
from aiohttp import web

from cti.ami.codec import Message
from cti.api.bus import EventBus
from cti.api.protocol import ClientError, Command
from cti.api.recordings_rest import RecordingsApi
from cti.api.rest import rest_app
from cti.api.ws import Connection, Session, WebSocketGateway
from cti.auth import Authenticator, AuthError
from cti.calls.changes import CallChange
from cti.calls.model import CallModel
from cti.center.commands import call_command
from cti.center.core import Center
from cti.center.effects import (
    DialBack,
    Effect,
    LookupCaller,
    PbxAction,
    Publish,
    Repaired,
    SaveAgentState,
    SaveCall,
    SaveConference,
    SaveMonitor,
)
from cti.center.groups import GROUP_OPS, group_command
from cti.center.supervise import CONFERENCE_EVENTS, HANDLED_OPS, Supervision
from cti.center.supervise import handle as supervise
from cti.center.takeover import from_rows
from cti.config import Config
from cti.link import ActionFailed, AMILink, LinkError, LinkSettings
from cti.store import CallRecord, Customer, Store, StoreError
from cti.store import live as live_store
from cti.store.jsonable import call_json, customer_json, iso
from ivr.hotline import ivr_server
from recorder.core import refusal
from recorder.service import RecordingService

log = structlog.get_logger("cti.server")

HISTORY_CALLS: Final = 5  # the caller's recent calls in a screen pop
KEEP_VARIABLES: Final = (
    "MIXMONITOR_FILENAME",
    "HOTLINE_DID",
    "__HOTLINE_DID",
    "HOTLINE_QUEUE",
    "HOTLINE_CALLBACK",
)
STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "console"
#: How long a supervisor op waits for the spies and conferences to be taken over after
#: the link came up (ConfbridgeListRooms and a ConfbridgeList per room: milliseconds).
RESTORE_WAIT_S: Final = 5.0


@dataclass
class Endpoint:
    host: str
    port: int


class HotlineServer:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        ami: Endpoint | None = None,
        http: Endpoint | None = None,
        link_settings: LinkSettings | None = None,
        clock: Callable[[], float] = time.time,
        agi: Endpoint | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.auth = Authenticator(store)
        self.bus = EventBus()
        trunks = {"PJSIP/e1trunk"} | {f"PJSIP/{t.name}" for t in config.trunks}
        self.model = CallModel(trunk_devices=trunks, keep_variables=KEEP_VARIABLES)
        self.center = Center(config, self.model, now=clock())
        self.supervision = Supervision(self.center)
        self._supervision_ready = asyncio.Event()  # set once restore() ran after an up
        ami = ami or Endpoint(config.ami.host, config.ami.port)
        self.http_endpoint = http or Endpoint(config.server.listen, config.server.http_port)
        self.link = AMILink(
            ami.host,
            ami.port,
            config.ami.username,
            config.ami.secret,
            model=self.model,
            settings=link_settings,
            clock=clock,
        )
        self.recorder = RecordingService(config, store, run=self._run, clock=clock)
        self.center.recorder = self.recorder.core
        self.gateway = WebSocketGateway(self.bus, self._authenticate, self._execute, self._snapshot)
        self._writes: asyncio.Queue[Callable[[], Awaitable[Any]]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.http_port = 0
        #: counters for metrics and tests
        self.stats: dict[str, int] = {"pbx_action_errors": 0, "repairs": 0}
        self.agi_endpoint = agi or Endpoint(config.agi.listen, config.agi.port)
        self.ivr = ivr_server(self)  # the FastAGI server, when the config has [ivr]
        #: a listening socket to serve HTTP on instead of binding http_endpoint (set before
        #: start(); ``hotline demo --pbx asterisk`` makes it in the host's network namespace)
        self.http_sock: socket.socket | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        link = self.link
        link.add_change_listener(self._on_changes)
        link.add_state_listener(self._on_link_state)
        for name in ("Newexten", "DialBegin", "DialEnd"):
            link.register_event(name, self._on_event)
        self.recorder.attach(link)
        await self.recorder.start()
        recordings = RecordingsApi(
            self.recorder.index,
            self.recorder.dir,
            reverify_after_s=self.config.recording.reverify_after_s,
            clock=self.clock,
        )
        for name in CONFERENCE_EVENTS:
            link.register_event(name, self._on_supervision_event)
        app = web.Application()
        app.router.add_get("/ws", self.gateway.handle)
        api = rest_app(self.store, self.auth, clock=self.clock, extra=recordings.routes())
        app.add_subapp("/api", api)
        if STATIC_DIR.is_dir():
            app.router.add_get("/", self._index)
            app.router.add_static("/static/", STATIC_DIR)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site: web.BaseSite
        if self.http_sock is not None:  # made by the caller, e.g. in another network namespace
            site = web.SockSite(self._runner, self.http_sock)
        else:
            site = web.TCPSite(self._runner, self.http_endpoint.host, self.http_endpoint.port)
        await site.start()
        server = site._server
        assert server is not None
        self.http_port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._spawn(self._writer(), "store-writer")
        self._spawn(self._timers(), "center-timers")
        if self.ivr is not None:
            await self.ivr.start(self.agi_endpoint.host, self.agi_endpoint.port)
        self.supervision.load(from_rows(*await live_store.load_live(self.store)))
        await link.start()
        log.info("server.started", http_port=self.http_port, ami=f"{link.host}:{link.port}")

    async def stop(self) -> None:
        if self.ivr is not None:
            await self.ivr.close()
        await self.link.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self._writes.join()
        await self.recorder.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("server.task_failed", task=task.get_name(), error=repr(task.exception()))

    # ------------------------------------------------------------ PBX → center

    def _on_changes(self, changes: list[CallChange]) -> None:
        self._run(self.center.on_changes(changes, self.clock()))
        self._run(self.supervision.on_changes(changes, self.clock()))
        self._run(self.supervision.saves())

    def _on_supervision_event(self, link: AMILink, msg: Message) -> None:
        self._run(self.supervision.on_event(msg, self.clock()))
        self._run(self.supervision.saves())

    def _on_event(self, link: AMILink, msg: Message) -> None:
        self._run(self.center.on_event(msg, self.clock()))

    def _on_link_state(self, state: str, reason: str | None) -> None:
        self._run(self.center.link_state(state == "up", reason, self.clock()))
        if state == "up":
            self.recorder.link_up(lambda name: self.model.channel(name) is not None)
            self._spawn(self._restore_supervision(), "supervision-restore")
        else:
            self._supervision_ready.clear()
            self.supervision.link_down()

    async def _restore_supervision(self) -> None:
        """Take over the spies and conferences still live on the PBX (after the resync:
        the spies are in the call model; the rooms are listed here)."""
        rooms: dict[str, tuple[Message, ...]] | None = {}
        try:
            listed = await self.link.send_action("ConfbridgeListRooms", check=False)
            names: list[str] = []
            if listed.success:
                names = [n for item in listed.items if (n := item.get("Conference") or "")]
            elif listed.message != "No active conferences.":  # app_confbridge's answer
                log.warning("center.conference_list_refused", why=listed.message)
                rooms = None
            results = await asyncio.gather(
                *(
                    self.link.send_action("ConfbridgeList", [("Conference", n)], check=False)
                    for n in names
                )
            )
        except LinkError as error:
            log.warning("center.conference_list_failed", error=str(error))
            rooms, names, results = None, [], []  # still up: take the spies over at least
        if not self.link.is_up:  # down again while the lists came: the next up restores
            return
        if rooms is not None:
            # A room gone between the two lists answers "No Conference by that name found."
            rooms.update((n, r.items) for n, r in zip(names, results, strict=True) if r.success)
        self._run(self.supervision.restore(rooms, self.clock()))
        self._supervision_ready.set()
        log.info(
            "center.supervision_restored",
            monitors=len(self.supervision.monitors),
            conferences=len(self.supervision.conferences),
        )

    async def _timers(self) -> None:
        while True:
            delay = max(0.0, self.center.next_wakeup() - self.clock())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            now = self.clock()
            if self.center.next_wakeup() <= now:
                self._run(self.center.tick(now))

    # -------------------------------------------------------------------- effects

    def run_effects(self, effects: list[Effect]) -> None:
        """Carry out effects the center returned to a caller outside this class (the IVR)."""
        self._run(effects)

    def _run(self, effects: list[Effect]) -> None:
        ts: str | None = None  # one timestamp text for the events of one step
        pending = deque(effects)  # a screen-pop look-up answered at once adds its effects
        while pending:
            effect = pending.popleft()
            if isinstance(effect, Publish):
                if ts is None:
                    ts = iso(self.clock()) or ""
                self.bus.publish(effect.event, effect.data, ts, effect.topics, effect.agents)
            elif isinstance(effect, PbxAction):
                self._spawn(self._pbx(effect), f"ami-{effect.name}")
            elif isinstance(effect, SaveCall):
                self._writes.put_nowait(partial(self.store.upsert_call, effect.record))
            elif isinstance(effect, SaveAgentState):
                e = effect
                self._writes.put_nowait(
                    partial(self.store.append_agent_state, e.agent_id, e.state, e.reason, e.since)
                )
            elif isinstance(effect, LookupCaller):
                pending.extend(self._lookup_now(effect))
            elif isinstance(effect, SaveMonitor):
                keep = live_store.keep_monitor
                self._writes.put_nowait(partial(keep, self.store, effect.supervisor, effect.row))
            elif isinstance(effect, SaveConference):
                keep_c = live_store.keep_conference
                self._writes.put_nowait(partial(keep_c, self.store, effect.room, effect.row))
            elif isinstance(effect, DialBack):
                self._spawn(self._dial_back(effect), "callback")
            elif isinstance(effect, Repaired):
                self.stats["repairs"] += 1
                log.warning(
                    "center.repaired", what=effect.what, agent=effect.agent_id, call=effect.call_id
                )
        self._wake.set()

    async def _pbx(self, action: PbxAction) -> None:
        try:
            await self.link.send_action(action.name, action.headers)
        except (LinkError, ValueError) as error:
            self.stats["pbx_action_errors"] += 1
            log.warning(
                "center.pbx_action_failed",
                action=action.name,
                call=action.call_id,
                purpose=action.purpose,
                error=str(error),
            )

    async def _dial_back(self, effect: DialBack) -> None:
        try:
            event = await self.link.originate(effect.headers, timeout_s=effect.timeout_s)
            ok = (event.get("Response") or "").lower() == "success"
            reason = f"reason {event.get('Reason') or '?'}"
        except LinkError as error:
            ok, reason = False, str(error)
        self._run(self.center.callback_dialled(effect.call_id, ok, reason, self.clock()))

    def _lookup_now(self, effect: LookupCaller) -> list[Effect]:
        """The screen pop's look-up, answered on this thread (Store.lookup_caller): the
        customer is known before the agent's phone can ring, however busy the loop."""
        try:
            customer, history = self.store.lookup_caller(
                effect.number, HISTORY_CALLS, exclude_call_id=effect.call_id
            )
        except StoreError as error:
            log.warning("screen_pop.lookup_deferred", call=effect.call_id, error=str(error))
            self._spawn(self._lookup(effect), "screen-pop")
            return []
        return self._found(effect, customer, history)

    async def _lookup(self, effect: LookupCaller) -> None:
        # Both queries at once: one after the other they cost two trips through a busy
        # event loop.
        customer, history = await asyncio.gather(
            self.store.find_customer_by_phone(effect.number),
            self.store.recent_calls(effect.number, HISTORY_CALLS, exclude_call_id=effect.call_id),
        )
        self._run(self._found(effect, customer, history))

    def _found(
        self, effect: LookupCaller, customer: Customer | None, history: list[CallRecord]
    ) -> list[Effect]:
        return self.center.caller_found(
            effect.call_id, customer_json(customer), [call_json(c) for c in history]
        )

    async def _writer(self) -> None:
        # One writer in arrival order: a call's record is never overtaken by an older one.
        while True:
            job = await self._writes.get()
            try:
                await job()
            except Exception:
                log.exception("store.write_failed")
            finally:
                self._writes.task_done()

    # -------------------------------------------------------------- WebSocket

    async def _authenticate(self, params: Mapping[str, Any], address: str) -> Session:
        now = self.clock()
        try:
            if "token" in params:
                grant = self.auth.verify(params["token"], now)
            else:
                grant = await self.auth.login(params["agent_id"], params["password"], address, now)
        except AuthError as error:
            raise ClientError(error.code, error.message) from None
        data, effects = self.center.login(
            grant.agent_id,
            grant.role,
            params.get("extension"),
            now,
            takeover=bool(params.get("takeover")),
        )
        self._run(effects)
        return Session(grant.agent_id, grant.role, data.get("extension"), data)

    async def _execute(self, conn: Connection, command: Command) -> Mapping[str, Any]:
        session = conn.session
        assert session is not None
        now = self.clock()
        op, params = command.op, command.params
        if op.startswith("agent."):
            data, effects = self.center.agent_command(session.agent_id, op, params, now)
            self._run(effects)
            if op == "agent.wrap_up_done":
                await self._save_wrap_up(session.agent_id, params)
            return data
        if op in GROUP_OPS or op in HANDLED_OPS:
            return await self._supervise(session, op, params, now)
        if not self.link.is_up:
            raise ClientError("pbx_unavailable", f"the PBX link is {self.link.state}")
        actions, data = await call_command(self, session, op, params, now)
        results: list[str | None] = []
        for action in actions:
            try:
                result = await self.link.send_action(action.name, action.headers)
            except ActionFailed as error:
                if action.name == "Hangup" and results:
                    continue  # gone with the party hung up before it (their bridge ended)
                text = refusal(action.name, str(error), error.message)  # recorder/core.py
                raise ClientError("pbx_unavailable", text) from None
            except LinkError as error:
                raise ClientError("pbx_unavailable", f"{action.name}: {error}") from None
            results.append(result.message)
        return {**data, "pbx": results}

    async def _supervise(
        self, session: Session, op: str, params: Mapping[str, Any], now: float
    ) -> Mapping[str, Any]:
        """Supervisor and dispatcher ops (docs/dispatch.md): the actions first, then the
        events, so nobody sees a monitor or conference the PBX refused."""
        if op != "group.call" and op in GROUP_OPS:
            _, data, effects = await group_command(
                self.store, self.supervision, session.agent_id, op, params, now
            )
            self._run(effects)
            return data
        if not self.link.is_up:
            raise ClientError("pbx_unavailable", f"the PBX link is {self.link.state}")
        if not self._supervision_ready.is_set():
            try:
                await asyncio.wait_for(self._supervision_ready.wait(), RESTORE_WAIT_S)
            except TimeoutError:
                raise ClientError(
                    "pbx_unavailable", "the spies and conferences are still being taken over"
                ) from None
            now = self.clock()
        if op == "group.call":
            actions, data, effects = await group_command(
                self.store, self.supervision, session.agent_id, op, params, now
            )
        else:
            actions, data, effects = supervise(self.supervision, session.agent_id, op, params, now)
        if len(actions) > 1 and all(a.name == "Hangup" for a in actions):
            # A force release: every party at once (one round trip, not one per party);
            # a party that went with another's hang-up is no error.
            results = await asyncio.gather(
                *(self.link.send_action(a.name, a.headers) for a in actions),
                return_exceptions=True,
            )
            failed = [r for r in results if isinstance(r, BaseException)]
            if len(failed) == len(results):
                actions = actions[:1]  # all refused: report the first one's error below
            else:
                self._run(effects)
                return data
        for action in actions:
            try:
                await self.link.send_action(action.name, action.headers)
            except LinkError as error:
                self._run(self.supervision.as_now(effects))
                self._run(self.supervision.action_failed(action))
                self._run(self.supervision.saves())
                code = "invalid_state" if isinstance(error, ActionFailed) else "pbx_unavailable"
                raise ClientError(code, f"{action.name}: {error}") from None
        self._run(self.supervision.as_now(effects))
        self._run(self.supervision.saves())
        return data

    async def _save_wrap_up(self, agent_id: str, params: Mapping[str, Any]) -> None:
        call_id = params.get("call_id") or self.center.last_call(agent_id)
        if call_id is None:
            return
        await self._writes.join()  # the call's record is written first
        try:
            await self.store.set_wrap_up(
                call_id,
                agent_id,
                params["disposition"],
                params.get("notes"),
                params.get("resolved"),
            )
        except Exception as error:  # the wrap-up state change stands; say what failed
            raise ClientError("not_found", f"wrap-up not saved for {call_id}: {error}") from None

    async def _snapshot(self, conn: Connection, topics: frozenset[str]) -> Mapping[str, Any]:
        assert conn.agent_id is not None
        snap = self.center.snapshot(topics, conn.agent_id, self.clock())
        return {**snap, **self.supervision.snapshot(topics)}
