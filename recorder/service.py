"""The recorder's asyncio shell: AMI events in, the core's outputs carried out.

* ``MixMonitorStart`` / ``MixMonitorMute`` / ``MixMonitorStop`` / ``Hangup`` from the AMI
  link go to :class:`recorder.core.Recorder`; its AMI actions and ``call.recording``
  events go back through the server's effect runner (same order as the center's).
* :class:`~recorder.core.Opened` → an index row; :class:`~recorder.core.Closed` → a
  finishing task: wait for the file to hold still, hash it and read its duration in a
  worker thread (never on the event loop), complete the row, or mark it ``missing``.
* Every ``purge_every_s`` the retention policy runs (:mod:`recorder.retention`).
* At start, rows left ``recording`` by a previous run (Hotline stopped mid-call) are
  finished the same way once their file holds still.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from cti.ami.codec import Message
from cti.center.effects import Effect, PbxAction, Publish
from cti.config import Config
from cti.store import Store
from recorder import files
from recorder.core import (
    EVENTS,
    Closed,
    NeverStarted,
    Opened,
    Output,
    Recorder,
    Recording,
    State,
)
from recorder.index import RecordingIndex, RecordingRow
from recorder.retention import PurgeReport, purge

__all__ = ["RecordingService"]

log = structlog.get_logger("recorder")

STALE_S = 86400.0  # a recording row with no file after a day: the file is lost


class RecordingService:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        run: Callable[[list[Effect]], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = config.recording
        self.dir = Path(config.store.recordings_dir).absolute()
        pbx_dir = self.settings.pbx_dir or str(self.dir)
        self.core = Recorder(self.settings, pbx_dir, on_output=self.handle)
        self.index = RecordingIndex(store)
        self._run = run
        self.clock = clock
        self._tasks: set[asyncio.Task[Any]] = set()
        self._purger: asyncio.Task[None] | None = None
        self.last_purge: PurgeReport | None = None

    # ------------------------------------------------------------------ lifecycle

    def attach(self, link: Any) -> None:
        """Listen to the AMI link's recording events (``link``: cti.link.AMILink)."""
        for name in EVENTS:
            link.register_event(name, self._on_event)

    async def start(self) -> None:
        await asyncio.to_thread(self._make_day_dirs)
        self._purger = asyncio.create_task(self._purge_loop(), name="recording-purge")

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._purger] if self._purger else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for the recordings being finished (tests, orderly shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recorder.task_failed", task=task.get_name(), error=repr(task.exception()))

    def _make_day_dirs(self) -> None:
        # MixMonitor and pbx_sim create missing directories themselves; making today's
        # and tomorrow's here as well surfaces a wrong recordings_dir at start (logged:
        # the rest of the server works without recordings).
        today = datetime.now(UTC)
        try:
            for day in (today, today + timedelta(days=1)):
                (self.dir / f"{day:%Y/%m/%d}").mkdir(parents=True, exist_ok=True)
        except OSError as error:
            log.error("recording.dir_unusable", dir=str(self.dir), error=str(error))

    # ------------------------------------------------------------------ inputs

    def command(
        self, op: str, call_id: str, agent_id: str, channel: str, now: float
    ) -> tuple[list[PbxAction], dict[str, Any]]:
        return self.core.command(op, call_id, agent_id, channel, now)

    def _on_event(self, link: Any, msg: Message) -> None:
        self.handle(self.core.on_event(msg, self.clock()))

    def link_up(self, alive: Callable[[str], bool]) -> None:
        """After a reconnect and resync: recordings whose channel is gone have ended."""
        self.handle(self.core.forget_gone(alive, self.clock()))

    def handle(self, outputs: Sequence[Output]) -> None:
        effects: list[Effect] = []
        for out in outputs:
            if isinstance(out, PbxAction | Publish):
                effects.append(out)
            elif isinstance(out, Opened):
                self._spawn(
                    self._opened(out.recording), f"recording-open-{out.recording.recording_id}"
                )
            elif isinstance(out, Closed):
                self._spawn(
                    self._finish(out.recording), f"recording-finish-{out.recording.recording_id}"
                )
            elif isinstance(out, NeverStarted):
                rec = out.recording
                log.error(
                    "recording.dialplan_never_started",
                    recording=rec.recording_id,
                    call=rec.call_id,
                    agent=rec.agent_id,
                    channel=rec.channel,
                    hint="is the generated extensions.conf (Dial U(hotline-record^...)) loaded?",
                )
        if effects:
            self._run(effects)

    # ------------------------------------------------------------------ the index

    async def _opened(self, rec: Recording) -> None:
        await self.index.opened(rec, self.clock())
        log.info(
            "recording.started",
            recording=rec.recording_id,
            call=rec.call_id,
            agent=rec.agent_id,
            path=rec.path,
        )

    async def _finish(self, rec: Recording) -> None:
        path = str(self.dir / rec.path)
        s = self.settings
        st = await asyncio.to_thread(
            files.settle, path, interval_s=s.settle_s, timeout_s=s.settle_timeout_s
        )
        now = self.clock()
        if st is None:
            await self.index.opened(rec, now)  # so that the loss is on record
            await self.index.mark(rec.recording_id, "missing", now, ended_at=rec.ended_at)
            log.error("recording.file_missing", recording=rec.recording_id, path=path)
            return
        check = await asyncio.to_thread(
            files.check_file,
            path,
            expected_size=None,
            expected_sha256=None,
            verified_key=None,
            full=True,
        )
        if check.status != "ok" or check.sha256 is None:
            await self.index.opened(rec, now)
            await self.index.mark(rec.recording_id, "missing", now, ended_at=rec.ended_at)
            log.error("recording.file_unreadable", recording=rec.recording_id, reason=check.reason)
            return
        wall = (rec.ended_at or now) - (rec.started_at or rec.requested_at)
        duration = check.duration_s if check.duration_s is not None else wall
        await self.index.completed(
            rec,
            size=check.size,
            sha256=check.sha256,
            duration_s=duration,
            verified_key=check.key,
            now=self.clock(),
        )
        log.info(
            "recording.saved",
            recording=rec.recording_id,
            call=rec.call_id,
            bytes=check.size,
            duration_s=round(duration, 3),
            sha256=check.sha256,
        )

    async def resume_unfinished(self) -> int:
        """Rows left ``recording`` by an earlier run (Hotline stopped mid-call; this run's
        core does not know them): finished once nothing has written their file for
        ``settle_timeout_s``, marked missing when no file appeared within a day."""
        live = {r.recording_id for r in self.core.by_channel.values()}
        now = self.clock()
        n = 0
        for row in await self.index.unfinished():
            if row.id in live or any(t.get_name().endswith(row.id) for t in self._tasks):
                continue
            try:
                mtime: float | None = (
                    await asyncio.to_thread(os.stat, self.dir / row.path)
                ).st_mtime
            except OSError:
                mtime = None
            idle = mtime is not None and time.time() - mtime > self.settings.settle_timeout_s
            if idle or (mtime is None and now - row.started_at > STALE_S):
                self._spawn(self._finish_row(row), f"recording-resume-{row.id}")
                n += 1
        return n

    async def _finish_row(self, row: RecordingRow) -> None:
        """A row left ``recording`` by an earlier run."""
        rec = Recording(
            recording_id=row.id,
            call_id=row.call_id,
            agent_id=row.agent_id or "",
            caller=row.caller_number,
            queue=row.queue,
            channel="",
            path=row.path,
            pbx_file="",
            on_demand=row.on_demand,
            requested_at=row.started_at,
            state=State.STOPPED,
            started_at=row.started_at,
        )
        with contextlib.suppress(OSError):
            rec.ended_at = os.stat(self.dir / row.path).st_mtime
        await self._finish(rec)

    # ------------------------------------------------------------------ retention

    async def purge_now(self, *, actor: str = "system", dry_run: bool = False) -> PurgeReport:
        report = await purge(
            self.index, self.settings, self.dir, self.clock(), actor=actor, dry_run=dry_run
        )
        self.last_purge = report
        return report

    async def _purge_loop(self) -> None:
        while True:
            try:
                await self.resume_unfinished()
                await self.purge_now()
                await asyncio.to_thread(self._make_day_dirs)
            except Exception:
                log.exception("recording.purge_error")
            await asyncio.sleep(self.settings.purge_every_s)
