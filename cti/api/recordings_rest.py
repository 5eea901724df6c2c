"""Recording search and playback over REST (DESIGN.md §3.2), and the access audit.

Mounted with the rest of ``/api`` (:func:`cti.api.rest.rest_app` ``extra=``); the role in
each :data:`RECORDING_ROUTES` entry is checked before anything is looked up.

=================================  =====  =============================================
``GET /api/recordings``            agent  search → a JSON **list** (the contract);
                                          filters ``call_id agent caller queue from to
                                          state``, paging ``limit offset`` (a ``Link:
                                          rel="next"`` header when there is more);
                                          agents: their own recordings only
``GET /api/recordings/{id}``       agent  one recording (agents: their own)
``GET /api/recordings/{id}/audio`` agent  the audio; ``Range: bytes=`` → 206, a range
                                          outside the file → 416; agents: their own
``GET /api/recording-audit``       admin  who searched and fetched what, when, from where
=================================  =====  =============================================

Errors of the audio endpoint beyond the common ones (docs/recording.md):

* 403 ``forbidden``: an agent asking for another agent's recording;
* 409 ``recording_in_progress``: the call is still being recorded;
* 410 ``recording_missing``: the indexed file is gone;
* 409 ``recording_corrupt``: the file's size or SHA-256 no longer matches the index.

The file is checked **before** the first byte is sent, through the descriptor that is
then served (see :func:`recorder.files.check_open`): its size always, its full SHA-256
when it changed since the last full check or that check is older than
``reverify_after_s``. Every search and every audio request, allowed or not, is a row of
``recording_access``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from cti.api.rest import ApiError, Handler, Route, _int_param, _ok, _query, _time_param
from cti.auth import Session
from cti.config import Role
from cti.store import MAX_PAGE, NotFound
from cti.store.jsonable import iso
from recorder import files
from recorder.index import STATES, AccessRow, RecordingIndex, RecordingRow, SearchFilter

__all__ = ["RECORDING_ROUTES", "RecordingsApi"]

AUDIO_TYPES: Final = {"wav": "audio/wav"}
SEARCH_PARAMS: Final = (
    "call_id", "agent", "caller", "queue", "from", "to", "state", "limit", "offset",
)  # fmt: skip

RECORDING_ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "/recordings", Role.AGENT, "search", "agents: their own recordings only"),
    Route("GET", "/recordings/{recording_id}", Role.AGENT, "get", "agents: their own only"),
    Route("GET", "/recordings/{recording_id}/audio", Role.AGENT, "audio", "Range supported"),
    Route("GET", "/recording-audit", Role.ADMIN, "audit", "the access log of recordings"),
)


def recording_json(row: RecordingRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "call_id": row.call_id,
        "url": f"/api/recordings/{row.id}/audio",
        "duration_s": row.duration_s,
        "sha256": row.sha256,
        "size": row.size,
        "agent_id": row.agent_id,
        "caller": row.caller_number,
        "queue": row.queue,
        "started_at": iso(row.started_at),
        "ended_at": iso(row.ended_at),
        "paused_s": row.paused_s,
        "on_demand": row.on_demand,
        "state": row.state,
        "file": row.path,
    }


def access_json(row: AccessRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.at),
        "actor": row.actor,
        "role": row.role,
        "action": row.action,
        "recording_id": row.recording_id,
        "call_id": row.call_id,
        "outcome": row.outcome,
        "detail": row.detail,
        "address": row.address,
    }


class RecordingsApi:
    def __init__(
        self,
        index: RecordingIndex,
        recordings_dir: Path,
        *,
        reverify_after_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.index = index
        self.dir = recordings_dir
        self.reverify_after_s = reverify_after_s
        self.clock = clock

    def routes(self) -> list[tuple[Route, Handler]]:
        return [(route, getattr(self, route.handler)) for route in RECORDING_ROUTES]

    async def _audit(
        self,
        request: web.Request,
        session: Session,
        action: str,
        outcome: str,
        *,
        row: RecordingRow | None = None,
        recording_id: str | None = None,
        detail: str = "",
    ) -> None:
        await self.index.audit(
            at=self.clock(),
            actor=session.agent_id,
            role=session.role.value,
            action=action,
            outcome=outcome,
            recording_id=row.id if row else recording_id,
            call_id=row.call_id if row else None,
            detail=detail,
            address=request.remote or "unknown",
        )

    async def _refuse(
        self,
        request: web.Request,
        session: Session,
        action: str,
        error: ApiError,
        **what: Any,
    ) -> ApiError:
        await self._audit(request, session, action, error.code, **what)
        return error

    # ------------------------------------------------------------------ search

    async def search(self, request: web.Request, session: Session) -> web.StreamResponse:
        detail = request.query_string
        try:
            query = _query(request, SEARCH_PARAMS)
            agent = query.get("agent")
            if not session.role.at_least(Role.SUPERVISOR):
                if agent is not None and agent != session.agent_id:
                    raise ApiError(403, "forbidden", "agents see only their own recordings")
                agent = session.agent_id
            state = query.get("state")
            if state is not None and state not in STATES:
                raise ApiError(400, "invalid_params", f"state: expected one of {', '.join(STATES)}")
            limit = _int_param(query, "limit", 100, 1, MAX_PAGE)
            offset = _int_param(query, "offset", 0, 0, 10**9)
            flt = SearchFilter(
                call_id=query.get("call_id"),
                agent_id=agent,
                caller=query.get("caller"),
                queue=query.get("queue"),
                start=_time_param(query, "from"),
                end=_time_param(query, "to"),
                state=state,
            )
        except ApiError as error:
            raise await self._refuse(request, session, "search", error, detail=detail) from None
        rows = await self.index.search(flt, limit=limit + 1, offset=offset)
        await self._audit(request, session, "search", "ok", detail=detail)
        headers: dict[str, str] = {}
        if len(rows) > limit:
            rows = rows[:limit]
            nxt = {**query, "offset": str(offset + limit), "limit": str(limit)}
            headers["Link"] = f'</api/recordings?{urlencode(nxt)}>; rel="next"'
        return _ok([recording_json(r) for r in rows], headers=headers)

    async def _own(self, request: web.Request, session: Session, action: str) -> RecordingRow:
        recording_id = request.match_info["recording_id"]
        try:
            row = await self.index.get(recording_id)
        except NotFound:
            error = ApiError(404, "not_found", f"no recording {recording_id!r}")
            raise await self._refuse(
                request, session, action, error, recording_id=recording_id
            ) from None
        if not session.role.at_least(Role.SUPERVISOR) and row.agent_id != session.agent_id:
            error = ApiError(403, "forbidden", "agents may fetch only their own recordings")
            raise await self._refuse(request, session, action, error, row=row)
        return row

    async def get(self, request: web.Request, session: Session) -> web.StreamResponse:
        _query(request, ())
        row = await self._own(request, session, "view")
        await self._audit(request, session, "view", "ok", row=row)
        return _ok(recording_json(row))

    # ------------------------------------------------------------------ audio

    async def audio(self, request: web.Request, session: Session) -> web.StreamResponse:
        _query(request, ())
        row = await self._own(request, session, "download")
        range_header = request.headers.get("Range")
        detail = range_header or "full"
        if row.state == "recording" or row.size is None or row.sha256 is None:
            error = ApiError(
                409, "recording_in_progress", f"recording {row.id} is not finished yet"
            )
            raise await self._refuse(request, session, "download", error, row=row, detail=detail)
        path = str(self.dir / row.path)
        fd = await asyncio.to_thread(files.open_file, path)
        if fd is None:
            await self.index.mark(row.id, "missing", self.clock())
            error = ApiError(
                410, "recording_missing", f"the file of recording {row.id} is missing ({row.path})"
            )
            raise await self._refuse(request, session, "download", error, row=row, detail=detail)
        try:
            return await self._serve(request, session, row, fd, range_header, detail)
        finally:
            os.close(fd)

    async def _serve(
        self,
        request: web.Request,
        session: Session,
        row: RecordingRow,
        fd: int,
        range_header: str | None,
        detail: str,
    ) -> web.StreamResponse:
        now = self.clock()
        stale = row.verified_at is None or now - row.verified_at > self.reverify_after_s
        check = await asyncio.to_thread(
            files.check_open,
            fd,
            expected_size=row.size,
            expected_sha256=row.sha256,
            verified_key=row.verified_key,
            full=stale or row.state != "complete",
        )
        if check.status != "ok":
            await self.index.mark(row.id, "corrupt", now)
            error = ApiError(
                409,
                "recording_corrupt",
                f"recording {row.id} no longer matches its index: {check.reason}",
            )
            raise await self._refuse(request, session, "download", error, row=row, detail=detail)
        if check.sha256 is not None:  # hashed in full just now
            await self.index.verified(row.id, check.key, now)
            if row.state != "complete":  # restored from a backup, say
                await self.index.mark(row.id, "complete", now)
        size = check.size
        try:
            byte_range = files.parse_range(range_header, size)
        except files.RangeNotSatisfiable:
            error = ApiError(
                416,
                "range_not_satisfiable",
                f"Range {range_header!r} is outside the file's {size} bytes",
                {"Content-Range": f"bytes */{size}"},
            )
            raise await self._refuse(
                request, session, "download", error, row=row, detail=detail
            ) from None
        first, last = byte_range if byte_range is not None else (0, size - 1)
        digest = base64.b64encode(bytes.fromhex(row.sha256 or "")).decode()
        fmt = row.path.rsplit(".", 1)[-1]
        headers = {
            "Content-Type": AUDIO_TYPES.get(fmt, "application/octet-stream"),
            "Accept-Ranges": "bytes",
            "ETag": f'"{row.sha256}"',
            "Repr-Digest": f"sha-256=:{digest}:",
            "Content-Disposition": f'inline; filename="{row.id}.{fmt}"',
            "Cache-Control": "private, no-store",
        }
        status = 200
        if byte_range is not None:
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = max(0, last - first + 1)
        await self._audit(request, session, "download", "ok", row=row, detail=detail)
        await response.prepare(request)
        offset = first
        try:
            while offset <= last:
                block = await asyncio.to_thread(
                    os.pread, fd, min(files.CHUNK, last - offset + 1), offset
                )
                if not block:
                    break
                await response.write(block)
                offset += len(block)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the player went away (seeking, closed): nothing more to send
        return response

    # ------------------------------------------------------------------ audit

    async def audit(self, request: web.Request, session: Session) -> web.StreamResponse:
        query = _query(
            request, ("actor", "recording_id", "action", "from", "to", "limit", "offset")
        )
        limit = _int_param(query, "limit", 100, 1, MAX_PAGE)
        offset = _int_param(query, "offset", 0, 0, 10**9)
        rows = await self.index.access_log(
            actor=query.get("actor"),
            recording_id=query.get("recording_id"),
            action=query.get("action"),
            start=_time_param(query, "from"),
            end=_time_param(query, "to"),
            limit=limit,
            offset=offset,
        )
        return _ok({"items": [access_json(r) for r in rows], "limit": limit, "offset": offset})


Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]
