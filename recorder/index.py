"""The recordings index and the access audit, in Hotline's database (migration 2).

One row per recording: written when the PBX starts it (``state = 'recording'``),
completed when the file is final (size, SHA-256, duration: ``complete``), and marked
``missing`` or ``corrupt`` when a check finds the file gone or changed. Searches use the
indexes of migration 2: ``(agent_id, started_at)``, ``(caller_digits, started_at)``,
``(queue, started_at)``, ``(started_at)`` and ``(call_id)``; a page is ``limit + 1``
rows (no ``COUNT(*)`` over a million rows to know whether there is a next page).

Every search and download is a row of ``recording_access``: who (agent id and role),
what (action, recording, call, query or byte range), when, from where, and the outcome.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cti.store import MAX_PAGE, NotFound, Store, normalize_phone
from recorder.core import Recording

__all__ = ["AccessRow", "RecordingIndex", "RecordingRow", "SearchFilter"]

STATES: Final = ("recording", "complete", "missing", "corrupt")
_COLUMNS: Final = (
    "id, call_id, agent_id, caller_number, queue, started_at, ended_at, duration_s, "
    "paused_s, on_demand, path, size, sha256, state, verified_at, verified_key"
)


@dataclass(frozen=True, slots=True)
class RecordingRow:
    id: str
    call_id: str
    agent_id: str | None
    caller_number: str | None
    queue: str | None
    started_at: float
    ended_at: float | None
    duration_s: float | None
    paused_s: float | None
    on_demand: bool
    path: str  # relative to the recordings directory
    size: int | None
    sha256: str | None
    state: str
    verified_at: float | None
    verified_key: str | None  # "size:mtime_ns:ctime_ns:inode" of the last full check


@dataclass(frozen=True, slots=True)
class AccessRow:
    id: int
    at: float
    actor: str
    role: str
    action: str
    recording_id: str | None
    call_id: str | None
    outcome: str
    detail: str
    address: str


@dataclass(frozen=True, slots=True)
class SearchFilter:
    call_id: str | None = None
    agent_id: str | None = None
    caller: str | None = None  # any spelling; compared as normalize_phone digits
    queue: str | None = None
    start: float | None = None  # started_at >= start
    end: float | None = None  # started_at < end
    state: str | None = None


def _row(r: sqlite3.Row) -> RecordingRow:
    return RecordingRow(
        id=r["id"],
        call_id=r["call_id"],
        agent_id=r["agent_id"],
        caller_number=r["caller_number"],
        queue=r["queue"],
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        duration_s=r["duration_s"],
        paused_s=r["paused_s"],
        on_demand=bool(r["on_demand"]),
        path=r["path"],
        size=r["size"],
        sha256=r["sha256"],
        state=r["state"],
        verified_at=r["verified_at"],
        verified_key=r["verified_key"],
    )


def search_sql(
    f: SearchFilter, limit: int, offset: int, *, indexed: bool = True
) -> tuple[str, list[Any]]:
    """The query of a search, newest first. ``indexed=False`` forbids the indexes (the
    benchmark's table-scan baseline, same rows)."""
    where: list[str] = []
    params: list[Any] = []
    if f.call_id is not None:
        where.append("call_id = ?")
        params.append(f.call_id)
    if f.agent_id is not None:
        where.append("agent_id = ?")
        params.append(f.agent_id)
    if f.caller is not None:
        where.append("caller_digits = ?")
        params.append(normalize_phone(f.caller) or f.caller)
    if f.queue is not None:
        where.append("queue = ?")
        params.append(f.queue)
    if f.start is not None:
        where.append("started_at >= ?")
        params.append(f.start)
    if f.end is not None:
        where.append("started_at < ?")
        params.append(f.end)
    if f.state is not None:
        where.append("state = ?")
        params.append(f.state)
    table = "recordings" if indexed else "recordings NOT INDEXED"
    sql = f"SELECT {_COLUMNS} FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    # rowid as the tie-break: every index of migration 2 ends with it, so the order is
    # read off the index (no sort of a temporary B-tree) and pages are stable.
    sql += " ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?"
    params += [limit, offset]
    return sql, params


class RecordingIndex:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------ writes

    async def opened(self, rec: Recording, now: float) -> None:
        """The PBX started ``rec``: a row in state ``recording``."""
        async with self.store.transaction() as conn:
            await self._ensure(conn, rec, now)

    async def completed(
        self,
        rec: Recording,
        *,
        size: int,
        sha256: str,
        duration_s: float,
        verified_key: str,
        now: float,
    ) -> None:
        async with self.store.transaction() as conn:
            await self._ensure(conn, rec, now)
            await conn.execute(
                "UPDATE recordings SET state = 'complete', ended_at = ?, duration_s = ?,"
                " paused_s = ?, size = ?, sha256 = ?, verified_at = ?, verified_key = ?,"
                " updated_at = ? WHERE id = ?",
                (
                    rec.ended_at,
                    round(duration_s, 3),
                    round(rec.paused_s, 3),
                    size,
                    sha256,
                    now,
                    verified_key,
                    now,
                    rec.recording_id,
                ),
            )

    @staticmethod
    async def _ensure(conn: Any, rec: Recording, now: float) -> None:
        """The row of ``rec``, unless it exists (also when the start was not indexed:
        MixMonitorStart missed across a reconnect)."""
        started = rec.started_at if rec.started_at is not None else rec.requested_at
        await conn.execute(
            "INSERT INTO recordings (id, call_id, agent_id, caller_number, caller_digits,"
            " queue, started_at, on_demand, path, state, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'recording', ?) ON CONFLICT (id) DO NOTHING",
            (
                rec.recording_id,
                rec.call_id,
                rec.agent_id,
                rec.caller,
                normalize_phone(rec.caller) if rec.caller else None,
                rec.queue,
                started,
                int(rec.on_demand),
                rec.path,
                now,
            ),
        )

    async def mark(
        self, recording_id: str, state: str, now: float, *, ended_at: float | None = None
    ) -> None:
        """``missing`` / ``corrupt`` (found by a check), or back to ``complete``."""
        assert state in STATES, state
        async with self.store.transaction() as conn:
            await conn.execute(
                "UPDATE recordings SET state = ?, ended_at = COALESCE(ended_at, ?),"
                " updated_at = ? WHERE id = ?",
                (state, ended_at, now, recording_id),
            )

    async def verified(self, recording_id: str, key: str, now: float) -> None:
        async with self.store.transaction() as conn:
            await conn.execute(
                "UPDATE recordings SET verified_at = ?, verified_key = ? WHERE id = ?",
                (now, key, recording_id),
            )

    async def delete(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                f"DELETE FROM recordings WHERE id IN ({', '.join('?' * len(ids))})", list(ids)
            )
            return cur.rowcount

    async def audit(
        self,
        *,
        at: float,
        actor: str,
        role: str,
        action: str,
        outcome: str,
        recording_id: str | None = None,
        call_id: str | None = None,
        detail: str = "",
        address: str = "",
    ) -> None:
        await self.audit_many(
            [(at, actor, role, action, recording_id, call_id, outcome, detail[:2000], address)]
        )

    async def audit_many(self, rows: Iterable[tuple[Any, ...]]) -> None:
        async with self.store.transaction() as conn:
            await conn.executemany(
                "INSERT INTO recording_access (at, actor, role, action, recording_id, call_id,"
                " outcome, detail, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                list(rows),
            )

    # ------------------------------------------------------------------ reads

    async def get(self, recording_id: str) -> RecordingRow:
        rows = await self.store.read(
            f"SELECT {_COLUMNS} FROM recordings WHERE id = ?", (recording_id,)
        )
        if not rows:
            raise NotFound("recording", recording_id)
        return _row(rows[0])

    async def search(
        self, f: SearchFilter, *, limit: int = 100, offset: int = 0
    ) -> list[RecordingRow]:
        limit = max(1, min(limit, MAX_PAGE + 1))  # + 1: the REST API's "is there more?"
        sql, params = search_sql(f, limit, max(0, offset))
        return [_row(r) for r in await self.store.read(sql, params)]

    async def older_than(
        self,
        cutoff: float,
        *,
        queues: Sequence[str] | None,
        exclude: Sequence[str] = (),
        limit: int = 500,
    ) -> list[RecordingRow]:
        """Finished recordings started before ``cutoff``: of ``queues`` (None: of every
        queue but ``exclude``, including those without a queue), oldest first."""
        where = ["started_at < ?", "state != 'recording'"]
        params: list[Any] = [cutoff]
        if queues is not None:
            where.append(f"queue IN ({', '.join('?' * len(queues))})")
            params += list(queues)
        elif exclude:
            where.append(f"(queue IS NULL OR queue NOT IN ({', '.join('?' * len(exclude))}))")
            params += list(exclude)
        sql = (
            f"SELECT {_COLUMNS} FROM recordings WHERE {' AND '.join(where)}"
            " ORDER BY started_at LIMIT ?"
        )
        return [_row(r) for r in await self.store.read(sql, [*params, limit])]

    async def unfinished(self) -> list[RecordingRow]:
        rows = await self.store.read(
            f"SELECT {_COLUMNS} FROM recordings WHERE state = 'recording' ORDER BY started_at"
        )
        return [_row(r) for r in rows]

    async def access_log(
        self,
        *,
        actor: str | None = None,
        recording_id: str | None = None,
        action: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AccessRow]:
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("actor", actor), ("recording_id", recording_id), ("action", action)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if start is not None:
            where.append("at >= ?")
            params.append(start)
        if end is not None:
            where.append("at < ?")
            params.append(end)
        sql = "SELECT * FROM recording_access"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY at DESC, id DESC LIMIT ? OFFSET ?"
        rows = await self.store.read(sql, [*params, max(1, min(limit, MAX_PAGE)), max(0, offset)])
        return [
            AccessRow(
                id=r["id"],
                at=r["at"],
                actor=r["actor"],
                role=r["role"],
                action=r["action"],
                recording_id=r["recording_id"],
                call_id=r["call_id"],
                outcome=r["outcome"],
                detail=r["detail"],
                address=r["address"],
            )
            for r in rows
        ]
