"""The store: one SQLite file (aiosqlite), everything Hotline must remember.

Connections and transactions
----------------------------
:meth:`Store.open` opens two connections to the file:

* the **writer**, behind an :class:`asyncio.Lock`: every write is one
  ``BEGIN IMMEDIATE … COMMIT`` transaction that no other coroutine's statement can
  interleave with (a single aiosqlite connection would otherwise mix them);
* the **reader** (``query_only``): look-ups such as screen pop never queue behind a
  write. In WAL mode it sees every committed transaction and never an uncommitted one.

and a third, plain ``sqlite3`` connection on the event loop's own thread for the screen
pop's two indexed point queries (:meth:`Store.lookup_caller`): together they take some
50 µs, while a round trip to an aiosqlite thread costs a few hops through the event loop
and, on a busy server, tens of milliseconds, which the agent would see as a pop that
comes late. In WAL mode a reader never waits for a writer; should it fail all the same,
the caller falls back to the reader above.

Durability
----------
The journal is WAL and ``synchronous`` defaults to ``FULL``. What each setting survives:

* ``NORMAL``: a commit is written to the WAL file but only fsync'ed at checkpoints. The
  bytes are in the kernel's page cache when :meth:`upsert_call` returns, so a **process**
  crash (SIGKILL, OOM kill, segfault) loses nothing; an **OS** crash or power cut may lose
  the last transactions (never corrupt the file).
* ``FULL`` (the default): the WAL is fsync'ed at every commit, so a record whose write
  returned survives a power cut as well. It costs one fsync per transaction; Hotline
  writes a few per call (an E1 carries 30 calls), far below what one fsync per commit
  allows (see docs/storage.md for the measured rate).

In both cases the rule that makes "no record of an ended call is lost" true is the
caller's: await :meth:`upsert_call` when the call ends; nothing is buffered in memory.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal, Self, get_args

import aiosqlite
import structlog

from cti.config import Config, Role
from cti.store.checks import (
    MAX_AGENT_NAME,
    MAX_NOTES,
    check_agent_id,
    check_customer,
    check_extension,
    check_extensions,
    check_group_name,
    check_role,
    check_skills,
    check_text,
)
from cti.store.csv_import import parse_customers_csv
from cti.store.errors import (
    Conflict,
    InvalidData,
    NotFound,
    NotHotlineDatabase,
    SchemaTooNew,
    StoreError,
)
from cti.store.migrations import APPLICATION_ID, MIGRATIONS, Migration
from cti.store.models import (
    UNSET,
    Agent,
    AgentStateChange,
    CallLeg,
    CallOutcome,
    CallRecord,
    Customer,
    Direction,
    Disposition,
    Group,
    ImportReport,
    SeedReport,
    Transfer,
    Unset,
)
from cti.store.passwords import ScryptParams, check_password, hash_password, needs_rehash
from cti.store.phones import normalize_phone

__all__ = ["MAX_PAGE", "Store", "Synchronous"]

log = structlog.get_logger("cti.store")

Synchronous = Literal["NORMAL", "FULL", "EXTRA"]
MAX_PAGE: Final = 1000  # most rows one query returns
MAX_PASSWORD: Final = 1024  # characters; longer is refused before hashing
_IN_CHUNK: Final = 500  # ids per "IN (...)" list
_STATE_RE_MAX: Final = 32

_AGENT_SELECT: Final = """
    SELECT a.agent_id, a.name, a.extension, a.role, a.enabled,
           a.password_hash IS NOT NULL AS has_password, a.created_at, a.updated_at,
           (SELECT json_group_object(s.skill, s.level) FROM agent_skills s
             WHERE s.agent_id = a.agent_id) AS skills
      FROM agents a"""
_CUSTOMER_SELECT: Final = """
    SELECT c.id, c.name, c.address, c.account_id, c.service_id, c.notes,
           c.created_at, c.updated_at,
           (SELECT json_group_array(phone) FROM
              (SELECT p.phone FROM customer_phones p WHERE p.customer_id = c.id
                ORDER BY p.position)) AS phones
      FROM customers c"""
# Screen pop: the customer of a number (several share it: the one updated last), and the
# number's last calls; both on an index.
_CUSTOMER_BY_DIGITS: Final = (
    f"{_CUSTOMER_SELECT} JOIN customer_phones k ON k.customer_id = c.id"
    " WHERE k.digits = ? ORDER BY c.updated_at DESC, c.id DESC LIMIT 1"
)
_RECENT_CALLS: Final = (
    "SELECT * FROM call_records WHERE caller_digits = ? AND call_id IS NOT ?"
    " ORDER BY started_at DESC LIMIT ?"
)
_GROUP_SELECT: Final = """
    SELECT g.name, g.description, g.created_at, g.updated_at,
           (SELECT json_group_array(extension) FROM
              (SELECT m.extension FROM group_members m WHERE m.group_name = g.name
                ORDER BY m.position)) AS extensions
      FROM groups g"""
_CALL_COLUMNS: Final = (
    "call_id",
    "direction",
    "caller_number",
    "caller_digits",
    "caller_name",
    "dialled_number",
    "trunk",
    "queue",
    "agent_id",
    "started_at",
    "enqueued_at",
    "answered_at",
    "ended_at",
    "wait_s",
    "talk_s",
    "wrap_up_s",
    "outcome",
    "cause",
    "disposition",
    "notes",
    "resolved",
    "transfers",
    "ivr_path",
    "satisfaction",
    "hold_s",
    "updated_at",
    "released_by",
    "release_reason",
)
# Set by the agent in wrap-up (or by the survey): a later upsert without them keeps them.
_KEPT_IF_NULL: Final = frozenset({"disposition", "notes", "resolved", "wrap_up_s", "satisfaction"})
_CALL_UPSERT: Final = (
    f"INSERT INTO call_records ({', '.join(_CALL_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_CALL_COLUMNS))}) ON CONFLICT (call_id) DO UPDATE SET "
    + ", ".join(
        f"{c} = COALESCE(excluded.{c}, {c})" if c in _KEPT_IF_NULL else f"{c} = excluded.{c}"
        for c in _CALL_COLUMNS
        if c != "call_id"
    )
)
_LEG_COLUMNS: Final = (
    "call_id",
    "seq",
    "agent_id",
    "extension",
    "queue",
    "started_at",
    "answered_at",
    "ended_at",
    "outcome",
    "cause",
    "talk_s",
    "wrap_up_s",
    "disposition",
    "notes",
    "resolved",
)
_LEG_UPSERT: Final = (
    f"INSERT INTO call_legs ({', '.join(_LEG_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_LEG_COLUMNS))}) ON CONFLICT (call_id, seq) DO UPDATE SET "
    + ", ".join(
        f"{c} = COALESCE(excluded.{c}, {c})" if c in _KEPT_IF_NULL else f"{c} = excluded.{c}"
        for c in _LEG_COLUMNS
        if c not in ("call_id", "seq")
    )
)


# --------------------------------------------------------------------------- helpers


async def _scalar(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    rows = list(await conn.execute_fetchall(sql, params))
    return rows[0][0] if rows else None


async def _rollback(conn: aiosqlite.Connection) -> None:
    # Queued after whatever the transaction sent; harmless if it already ended.
    with suppress(sqlite3.Error):
        await conn.execute("ROLLBACK")


def _time(field: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidData(field, "expected a finite number of seconds")
    return float(value)


def _duration(field: str, value: float | None) -> float | None:
    seconds = _time(field, value)
    if seconds is not None and seconds < 0:
        raise InvalidData(field, "must not be negative")
    return seconds


def _opt_text(field: str, value: str | None, max_len: int = 200) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidData(field, "expected a string")
    return check_text(field, value, max_len=max_len)


def _page(limit: int, offset: int) -> tuple[int, int]:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidData("limit", f"must be 1..{MAX_PAGE}")
    if offset < 0:
        raise InvalidData("offset", "must not be negative")
    return limit, offset


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _disposition(value: Disposition | str | None, field: str = "disposition") -> str | None:
    if value is None:
        return None
    try:
        return Disposition(value).value
    except ValueError:
        choices = ", ".join(d.value for d in Disposition)
        raise InvalidData(field, f"expected one of {choices}") from None


def _check_password_text(password: str) -> None:
    if not isinstance(password, str) or not password:
        raise InvalidData("password", "must not be empty")
    if len(password) > MAX_PASSWORD:
        raise InvalidData("password", f"longer than {MAX_PASSWORD} characters")


def _agent(row: sqlite3.Row) -> Agent:
    return Agent(
        agent_id=row["agent_id"],
        name=row["name"],
        extension=row["extension"],
        role=Role(row["role"]),
        enabled=bool(row["enabled"]),
        skills=MappingProxyType(dict(sorted(json.loads(row["skills"] or "{}").items()))),
        has_password=bool(row["has_password"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _customer(row: sqlite3.Row) -> Customer:
    return Customer(
        id=row["id"],
        name=row["name"],
        phones=tuple(json.loads(row["phones"] or "[]")),
        address=row["address"],
        account_id=row["account_id"],
        service_id=row["service_id"],
        notes=row["notes"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _group(row: sqlite3.Row) -> Group:
    return Group(
        name=row["name"],
        extensions=tuple(json.loads(row["extensions"] or "[]")),
        description=row["description"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _leg(row: sqlite3.Row) -> CallLeg:
    return CallLeg(
        agent_id=row["agent_id"],
        extension=row["extension"],
        queue=row["queue"],
        started_at=row["started_at"],
        answered_at=row["answered_at"],
        ended_at=row["ended_at"],
        outcome=row["outcome"],
        cause=row["cause"],
        talk_s=row["talk_s"],
        wrap_up_s=row["wrap_up_s"],
        disposition=Disposition(row["disposition"]) if row["disposition"] else None,
        notes=row["notes"],
        resolved=_bool(row["resolved"]),
    )


def _call(row: sqlite3.Row, legs: tuple[CallLeg, ...] = ()) -> CallRecord:
    return CallRecord(
        call_id=row["call_id"],
        started_at=row["started_at"],
        direction=Direction(row["direction"]),
        caller_number=row["caller_number"],
        caller_name=row["caller_name"],
        dialled_number=row["dialled_number"],
        trunk=row["trunk"],
        queue=row["queue"],
        agent_id=row["agent_id"],
        enqueued_at=row["enqueued_at"],
        answered_at=row["answered_at"],
        ended_at=row["ended_at"],
        wait_s=row["wait_s"],
        talk_s=row["talk_s"],
        wrap_up_s=row["wrap_up_s"],
        outcome=CallOutcome(row["outcome"]),
        cause=row["cause"],
        disposition=Disposition(row["disposition"]) if row["disposition"] else None,
        notes=row["notes"],
        resolved=_bool(row["resolved"]),
        transfers=tuple(
            Transfer(t.get("from"), t["to"], t.get("mode", "blind"), t.get("at", 0.0))
            for t in json.loads(row["transfers"])
        ),
        ivr_path=tuple(json.loads(row["ivr_path"])),
        satisfaction=row["satisfaction"],
        hold_s=row["hold_s"],
        legs=legs,
        updated_at=row["updated_at"],
        released_by=row["released_by"],
        release_reason=row["release_reason"],
    )


def _state(row: sqlite3.Row) -> AgentStateChange:
    return AgentStateChange(
        id=row["id"],
        agent_id=row["agent_id"],
        state=row["state"],
        reason=row["reason"],
        since=row["since"],
        until=row["until"],
    )


async def _connect(path: Path, synchronous: Synchronous, busy_timeout_s: float) -> Any:
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute(f"PRAGMA synchronous = {synchronous}")
        await conn.execute_fetchall("SELECT COUNT(*) FROM sqlite_master")  # reads the header
    except BaseException as error:
        await conn.close()
        if isinstance(error, sqlite3.DatabaseError) and "not a database" in str(error):
            raise NotHotlineDatabase(f"{path}: not an SQLite database ({error})") from None
        raise
    return conn


# A reader on the event loop's thread must never make it wait: in WAL mode it does not wait
# for writers, and anything else that is busy is an error at once (the async path then).
_POP_BUSY_TIMEOUT_MS: Final = 0


def _caller_digits(number: str | None) -> str | None:
    """A caller's number as the screen-pop indexes hold it; None for no number or one
    that is not a phone number (``anonymous``): such a caller has no record, no history."""
    if not number:
        return None
    try:
        return normalize_phone(number)
    except ValueError:
        return None


def _connect_pop(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {_POP_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA query_only = ON")
    return conn


async def _schema_version(conn: aiosqlite.Connection) -> int:
    return int(await _scalar(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_version"))


async def _migrate(
    conn: aiosqlite.Connection,
    path: Path,
    migrations: Sequence[Migration],
    clock: Callable[[], float],
) -> int:
    """Bring the schema to the last of ``migrations``; return the version."""
    for number, migration in enumerate(migrations, start=1):
        if migration.version != number:
            raise ValueError("migrations must be numbered 1, 2, 3, ... in order")
    app_id = int(await _scalar(conn, "PRAGMA application_id"))
    tables = {
        row[0]
        for row in await conn.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if app_id not in (0, APPLICATION_ID) or (tables and "schema_version" not in tables):
        raise NotHotlineDatabase(f"{path}: an SQLite database of another program, not Hotline's")
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    current = await _schema_version(conn)
    if current > len(migrations):
        raise SchemaTooNew(str(path), current, len(migrations))
    for migration in migrations[current:]:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while this one waited for the lock.
            if await _schema_version(conn) < migration.version:
                await migration.apply(conn)
                await conn.execute(
                    "INSERT INTO schema_version (version, description, applied_at)"
                    " VALUES (?, ?, ?)",
                    (migration.version, migration.description, clock()),
                )
            await conn.execute("COMMIT")
        except BaseException:
            await _rollback(conn)
            raise
        log.info("store.migrated", path=str(path), version=migration.version)
    return len(migrations)


# --------------------------------------------------------------------------- the store


class Store:
    """Hotline's database. Open with ``await Store.open(path)``; close with
    :meth:`close` (or use ``async with``). Methods raise the errors of
    :mod:`cti.store.errors`; times are Unix seconds."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        *,
        version: int,
        clock: Callable[[], float],
        password_params: ScryptParams,
        synchronous: Synchronous,
    ) -> None:
        self.path = path
        self.schema_version = version
        self.synchronous = synchronous
        self.password_params = password_params
        self._writer = writer
        self._reader = reader
        self._pop: sqlite3.Connection | None = None  # opened on first use, on its thread
        self._clock = clock
        self._lock = asyncio.Lock()
        self._dummy_hash: str | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout_s: float = 5.0,
        password_params: ScryptParams | None = None,
        clock: Callable[[], float] = time.time,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> Self:
        """Open (creating it and its directory if needed) and migrate the database.

        Raises :class:`SchemaTooNew` for a file written by a newer Hotline and
        :class:`NotHotlineDatabase` for another program's file; neither is changed.
        """
        if synchronous not in get_args(Synchronous):
            raise ValueError(f"synchronous must be one of {get_args(Synchronous)}")
        file = Path(path)
        if str(path) in ("", ":memory:"):
            raise ValueError("the store needs a file path (it opens two connections)")
        file.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(file, synchronous, busy_timeout_s)
        try:
            version = await _migrate(writer, file, migrations, clock)
            mode = await _scalar(writer, "PRAGMA journal_mode = WAL")
            if mode != "wal":
                raise StoreError(f"{file}: cannot use write-ahead logging (journal_mode={mode})")
            reader = await _connect(file, synchronous, busy_timeout_s)
            await reader.execute("PRAGMA query_only = ON")
        except BaseException:
            await writer.close()
            raise
        log.info("store.open", path=str(file), schema_version=version, synchronous=synchronous)
        return cls(
            file,
            writer,
            reader,
            version=version,
            clock=clock,
            password_params=password_params or ScryptParams(),
            synchronous=synchronous,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pop is not None:
            self._pop.close()
            self._pop = None
        async with self._lock:
            await self._reader.close()
            await self._writer.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; statements of other coroutines wait for its end."""
        if self._closed:
            raise StoreError("the store is closed")
        async with self._lock:
            conn = self._writer
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                await _rollback(conn)
                raise

    async def _read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        if self._closed:
            raise StoreError("the store is closed")
        return list(await self._reader.execute_fetchall(sql, params))

    # For the tables other parts own (recorder/index.py): the same writer and reader.

    def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """One write transaction (``async with store.transaction() as conn``)."""
        return self._tx()

    async def read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        """Rows of a query on the reader connection (never behind a write)."""
        return await self._read(sql, params)

    # ------------------------------------------------------------------ skills

    async def list_skills(self) -> dict[str, str]:
        """Skill name -> description."""
        rows = await self._read("SELECT name, description FROM skills ORDER BY name")
        return {row["name"]: row["description"] for row in rows}

    async def add_skill(self, name: str, description: str = "") -> bool:
        """Add a skill if it is not there; True if it was added."""
        check_group_name(name, "name")
        text = check_text("description", description, max_len=200)
        async with self._tx() as conn:
            cursor = await conn.execute(
                "INSERT OR IGNORE INTO skills (name, description) VALUES (?, ?)", (name, text)
            )
            return cursor.rowcount > 0

    # ------------------------------------------------------------------ agents

    async def list_agents(self) -> list[Agent]:
        return [_agent(row) for row in await self._read(f"{_AGENT_SELECT} ORDER BY agent_id")]

    async def get_agent(self, agent_id: str) -> Agent:
        rows = await self._read(f"{_AGENT_SELECT} WHERE a.agent_id = ?", (agent_id,))
        if not rows:
            raise NotFound("agent", agent_id)
        return _agent(rows[0])

    async def _agent_in(self, conn: aiosqlite.Connection, agent_id: str) -> Agent | None:
        rows = list(
            await conn.execute_fetchall(f"{_AGENT_SELECT} WHERE a.agent_id = ?", (agent_id,))
        )
        return _agent(rows[0]) if rows else None

    async def _known_skills(self, conn: aiosqlite.Connection) -> list[str]:
        return [row[0] for row in await conn.execute_fetchall("SELECT name FROM skills")]

    async def _write_skills(
        self, conn: aiosqlite.Connection, agent_id: str, skills: Mapping[str, int]
    ) -> None:
        await conn.execute("DELETE FROM agent_skills WHERE agent_id = ?", (agent_id,))
        await conn.executemany(
            "INSERT INTO agent_skills (agent_id, skill, level) VALUES (?, ?, ?)",
            [(agent_id, skill, level) for skill, level in skills.items()],
        )

    async def _hash(self, password: str) -> str:
        _check_password_text(password)
        return await asyncio.to_thread(hash_password, password, self.password_params)

    async def create_agent(
        self,
        agent_id: str,
        *,
        name: str = "",
        extension: str | None = None,
        role: Role | str = Role.AGENT,
        enabled: bool = True,
        skills: Mapping[str, int] | None = None,
        password: str | None = None,
    ) -> Agent:
        """A new account; :class:`Conflict` if ``agent_id`` is taken."""
        check_agent_id(agent_id)
        name = check_text("name", name, max_len=MAX_AGENT_NAME)
        if extension is not None:
            check_extension(extension)
        role = check_role(role)
        password_hash = None if password is None else await self._hash(password)
        now = self._clock()
        async with self._tx() as conn:
            wanted = check_skills(skills or {}, await self._known_skills(conn))
            if await self._agent_in(conn, agent_id) is not None:
                raise Conflict(f"agent {agent_id!r} already exists")
            await conn.execute(
                "INSERT INTO agents (agent_id, name, extension, role, password_hash, enabled,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (agent_id, name, extension, role.value, password_hash, int(enabled), now, now),
            )
            await self._write_skills(conn, agent_id, wanted)
            agent = await self._agent_in(conn, agent_id)
        log.info("store.agent_created", agent_id=agent_id, role=role.value)
        assert agent is not None
        return agent

    async def _check_not_last_admin(
        self, conn: aiosqlite.Connection, agent: Agent, action: str
    ) -> None:
        if agent.role is not Role.ADMIN or not agent.enabled:
            return
        others = await _scalar(
            conn,
            "SELECT COUNT(*) FROM agents WHERE role = 'admin' AND enabled = 1 AND agent_id != ?",
            (agent.agent_id,),
        )
        if not others:
            raise Conflict(
                f"agent {agent.agent_id!r} is the last enabled admin: cannot {action} it"
            )

    async def update_agent(
        self,
        agent_id: str,
        *,
        name: str | Unset = UNSET,
        extension: str | Unset | None = UNSET,
        role: Role | str | Unset = UNSET,
        enabled: bool | Unset = UNSET,
        skills: Mapping[str, int] | Unset = UNSET,
    ) -> Agent:
        """Change the given fields (``skills`` replaces the whole set). Refuses
        (:class:`Conflict`) to demote or disable the last enabled admin."""
        new_name = (
            UNSET if isinstance(name, Unset) else check_text("name", name, max_len=MAX_AGENT_NAME)
        )
        if isinstance(extension, str):
            check_extension(extension)
        new_role = UNSET if isinstance(role, Unset) else check_role(role)
        now = self._clock()
        async with self._tx() as conn:
            current = await self._agent_in(conn, agent_id)
            if current is None:
                raise NotFound("agent", agent_id)
            wanted = (
                UNSET
                if isinstance(skills, Unset)
                else check_skills(skills, await self._known_skills(conn))
            )
            demoted = not isinstance(new_role, Unset) and new_role is not Role.ADMIN
            disabled = enabled is False
            if demoted or disabled:
                await self._check_not_last_admin(conn, current, "demote" if demoted else "disable")
            await conn.execute(
                "UPDATE agents SET name = ?, extension = ?, role = ?, enabled = ?, updated_at = ?"
                " WHERE agent_id = ?",
                (
                    current.name if isinstance(new_name, Unset) else new_name,
                    current.extension if isinstance(extension, Unset) else extension,
                    (current.role if isinstance(new_role, Unset) else new_role).value,
                    int(current.enabled if isinstance(enabled, Unset) else enabled),
                    now,
                    agent_id,
                ),
            )
            if not isinstance(wanted, Unset):
                await self._write_skills(conn, agent_id, wanted)
            agent = await self._agent_in(conn, agent_id)
        assert agent is not None
        log.info("store.agent_updated", agent_id=agent_id)
        return agent

    async def delete_agent(self, agent_id: str) -> None:
        """Remove an account and its skills; its call records and state history stay."""
        async with self._tx() as conn:
            current = await self._agent_in(conn, agent_id)
            if current is None:
                raise NotFound("agent", agent_id)
            await self._check_not_last_admin(conn, current, "delete")
            await conn.execute("DELETE FROM agents WHERE agent_id = ?", (agent_id,))
        log.info("store.agent_deleted", agent_id=agent_id)

    async def set_password(self, agent_id: str, password: str) -> None:
        """Hash (scrypt, new salt) and store ``password``. The text is never logged."""
        password_hash = await self._hash(password)
        async with self._tx() as conn:
            cursor = await conn.execute(
                "UPDATE agents SET password_hash = ?, updated_at = ? WHERE agent_id = ?",
                (password_hash, self._clock(), agent_id),
            )
            if cursor.rowcount == 0:
                raise NotFound("agent", agent_id)
        log.info("store.password_set", agent_id=agent_id)

    async def verify_password(self, agent_id: str, password: str) -> Agent | None:
        """The agent if ``password`` is its password, else None (unknown agent, no password
        set, wrong password: indistinguishable, and as slow as a real check). A disabled
        agent is returned too: the caller decides. A hash weaker than the store's
        parameters is upgraded on success."""
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            return None
        rows = await self._read(
            f"SELECT * FROM ({_AGENT_SELECT}) JOIN agents USING (agent_id) WHERE agent_id = ?",
            (agent_id,),
        )
        stored = rows[0]["password_hash"] if rows else None
        if stored is None:
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(
                    hash_password, "not a password", self.password_params
                )
            await asyncio.to_thread(check_password, password, self._dummy_hash)
            return None
        if not await asyncio.to_thread(check_password, password, stored):
            return None
        if needs_rehash(stored, self.password_params):
            upgraded = await asyncio.to_thread(hash_password, password, self.password_params)
            async with self._tx() as conn:
                await conn.execute(
                    "UPDATE agents SET password_hash = ? WHERE agent_id = ? AND password_hash = ?",
                    (upgraded, agent_id, stored),
                )
            log.info("store.password_rehashed", agent_id=agent_id)
        return _agent(rows[0])

    # ------------------------------------------------------------------ customers

    async def search_customers(
        self,
        *,
        phone: str | None = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Customer], int]:
        """(one page of customers, total matching). ``phone``: any spelling of one of
        the customer's numbers; ``name``: a part of the name. Ordered by name."""
        limit, offset = _page(limit, offset)
        where: list[str] = []
        params: list[Any] = []
        if phone is not None:
            try:
                digits = normalize_phone(phone)
            except ValueError as error:
                raise InvalidData("phone", str(error)) from None
            where.append("c.id IN (SELECT customer_id FROM customer_phones WHERE digits = ?)")
            params.append(digits)
        if name:
            where.append("c.name LIKE ? ESCAPE '\\'")
            params.append(_like(name))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._read(
            f"{_CUSTOMER_SELECT}{clause} ORDER BY c.name, c.id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        total = (await self._read(f"SELECT COUNT(*) FROM customers c{clause}", params))[0][0]
        return [_customer(row) for row in rows], int(total)

    async def get_customer(self, customer_id: int) -> Customer:
        rows = await self._read(f"{_CUSTOMER_SELECT} WHERE c.id = ?", (customer_id,))
        if not rows:
            raise NotFound("customer", customer_id)
        return _customer(rows[0])

    async def find_customer_by_phone(self, number: str | None) -> Customer | None:
        """Screen pop: the customer with this number (any spelling), or None. When several
        customers share the number, the one updated last. One indexed look-up."""
        digits = _caller_digits(number)
        if digits is None:
            return None
        rows = await self._read(_CUSTOMER_BY_DIGITS, (digits,))
        return _customer(rows[0]) if rows else None

    def lookup_caller(
        self, number: str | None, limit: int = 5, *, exclude_call_id: str | None = None
    ) -> tuple[Customer | None, list[CallRecord]]:
        """Screen pop at once, without awaiting: :meth:`find_customer_by_phone` and
        :meth:`recent_calls` of ``number`` in one go, on the event loop's own thread (see
        the module docstring). Raises :class:`StoreError` when SQLite cannot answer at
        once (the caller then uses the async look-ups)."""
        if self._closed:
            raise StoreError("the store is closed")
        digits = _caller_digits(number)
        if digits is None:
            return None, []
        limit, _ = _page(limit, 0)
        try:
            conn = self._pop
            if conn is None:
                conn = self._pop = _connect_pop(self.path)
            customers = conn.execute(_CUSTOMER_BY_DIGITS, (digits,)).fetchall()
            calls = conn.execute(_RECENT_CALLS, (digits, exclude_call_id, limit)).fetchall()
        except sqlite3.Error as error:
            raise StoreError(f"screen-pop look-up: {error}") from error
        return (_customer(customers[0]) if customers else None), [_call(row) for row in calls]

    async def _customer_in(self, conn: aiosqlite.Connection, customer_id: int) -> Customer:
        rows = list(
            await conn.execute_fetchall(f"{_CUSTOMER_SELECT} WHERE c.id = ?", (customer_id,))
        )
        if not rows:
            raise NotFound("customer", customer_id)
        return _customer(rows[0])

    async def _check_account_free(
        self, conn: aiosqlite.Connection, account_id: str | None, customer_id: int | None
    ) -> None:
        if account_id is None:
            return
        owner = await _scalar(conn, "SELECT id FROM customers WHERE account_id = ?", (account_id,))
        if owner is not None and owner != customer_id:
            raise Conflict(f"account_id {account_id!r} belongs to customer {owner}")

    @staticmethod
    async def _write_phones(
        conn: aiosqlite.Connection, customer_id: int, phones: Iterable[tuple[str, str]]
    ) -> None:
        await conn.execute("DELETE FROM customer_phones WHERE customer_id = ?", (customer_id,))
        await conn.executemany(
            "INSERT INTO customer_phones (customer_id, position, phone, digits)"
            " VALUES (?, ?, ?, ?)",
            [(customer_id, i, raw, key) for i, (raw, key) in enumerate(phones)],
        )

    async def create_customer(
        self,
        *,
        name: str,
        phones: Sequence[str] = (),
        address: str = "",
        account_id: str | None = None,
        service_id: str | None = None,
        notes: str = "",
    ) -> Customer:
        """A new customer; :class:`Conflict` if ``account_id`` is taken."""
        fields = check_customer(
            name=name,
            phones=phones,
            address=address,
            account_id=account_id,
            service_id=service_id,
            notes=notes,
        )
        now = self._clock()
        async with self._tx() as conn:
            await self._check_account_free(conn, fields.account_id, None)
            cursor = await conn.execute(
                "INSERT INTO customers (name, address, account_id, service_id, notes,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    fields.name,
                    fields.address,
                    fields.account_id,
                    fields.service_id,
                    fields.notes,
                    now,
                    now,
                ),
            )
            customer_id = cursor.lastrowid
            assert customer_id is not None
            await self._write_phones(conn, customer_id, fields.phones)
            return await self._customer_in(conn, customer_id)

    async def update_customer(
        self,
        customer_id: int,
        *,
        name: str | Unset = UNSET,
        phones: Sequence[str] | Unset = UNSET,
        address: str | Unset = UNSET,
        account_id: str | Unset | None = UNSET,
        service_id: str | Unset | None = UNSET,
        notes: str | Unset = UNSET,
    ) -> Customer:
        """Change the given fields; ``phones`` replaces the list."""
        now = self._clock()
        async with self._tx() as conn:
            current = await self._customer_in(conn, customer_id)
            fields = check_customer(
                name=current.name if isinstance(name, Unset) else name,
                phones=current.phones if isinstance(phones, Unset) else phones,
                address=current.address if isinstance(address, Unset) else address,
                account_id=current.account_id if isinstance(account_id, Unset) else account_id,
                service_id=current.service_id if isinstance(service_id, Unset) else service_id,
                notes=current.notes if isinstance(notes, Unset) else notes,
            )
            await self._check_account_free(conn, fields.account_id, customer_id)
            await conn.execute(
                "UPDATE customers SET name = ?, address = ?, account_id = ?, service_id = ?,"
                " notes = ?, updated_at = ? WHERE id = ?",
                (
                    fields.name,
                    fields.address,
                    fields.account_id,
                    fields.service_id,
                    fields.notes,
                    now,
                    customer_id,
                ),
            )
            if not isinstance(phones, Unset):
                await self._write_phones(conn, customer_id, fields.phones)
            return await self._customer_in(conn, customer_id)

    async def delete_customer(self, customer_id: int) -> None:
        async with self._tx() as conn:
            cursor = await conn.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
            if cursor.rowcount == 0:
                raise NotFound("customer", customer_id)

    async def import_customers_csv(self, text: str) -> ImportReport:
        """Import customers from CSV text (format: :mod:`cti.store.csv_import`).

        Bad rows are reported with their line and reason; the good rows are written in
        one transaction. A row whose ``account_id`` is already in the database updates
        that customer (its phones are replaced), so importing the same file twice
        creates nothing new. Raises :class:`InvalidData` for a file that cannot be read
        at all (no header, an unknown column, broken quoting): then nothing is written.
        """
        good, bad, rows = await asyncio.to_thread(parse_customers_csv, text)
        now = self._clock()
        created = updated = 0
        async with self._tx() as conn:
            accounts = [row.customer.account_id for row in good if row.customer.account_id]
            existing: dict[str, int] = {}
            for i in range(0, len(accounts), _IN_CHUNK):
                chunk = accounts[i : i + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                for found in await conn.execute_fetchall(
                    f"SELECT account_id, id FROM customers WHERE account_id IN ({marks})", chunk
                ):
                    existing[found[0]] = found[1]
            next_id = int(await _scalar(conn, "SELECT COALESCE(MAX(id), 0) FROM customers")) + 1
            inserts: list[tuple[Any, ...]] = []
            updates: list[tuple[Any, ...]] = []
            phones: list[tuple[int, int, str, str]] = []
            replaced: list[tuple[int]] = []
            for row in good:
                c = row.customer
                customer_id = existing.get(c.account_id) if c.account_id else None
                if customer_id is None:
                    customer_id = next_id
                    next_id += 1
                    values = (c.name, c.address, c.account_id, c.service_id, c.notes)
                    inserts.append((customer_id, *values, now, now))
                    created += 1
                else:
                    updates.append((c.name, c.address, c.service_id, c.notes, now, customer_id))
                    replaced.append((customer_id,))
                    updated += 1
                phones += [(customer_id, i, raw, key) for i, (raw, key) in enumerate(c.phones)]
            await conn.executemany(
                "INSERT INTO customers (id, name, address, account_id, service_id, notes,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                inserts,
            )
            await conn.executemany(
                "UPDATE customers SET name = ?, address = ?, service_id = ?, notes = ?,"
                " updated_at = ? WHERE id = ?",
                updates,
            )
            await conn.executemany("DELETE FROM customer_phones WHERE customer_id = ?", replaced)
            await conn.executemany(
                "INSERT INTO customer_phones (customer_id, position, phone, digits)"
                " VALUES (?, ?, ?, ?)",
                phones,
            )
        log.info(
            "store.customers_imported", rows=rows, created=created, updated=updated, errors=len(bad)
        )
        return ImportReport(rows=rows, created=created, updated=updated, errors=tuple(bad))

    # ------------------------------------------------------------------ calls

    def _call_values(self, record: CallRecord, now: float) -> tuple[Any, ...]:
        if not isinstance(record.call_id, str) or not 0 < len(record.call_id) <= 128:
            raise InvalidData("call_id", "expected 1..128 characters")
        started = _time("started_at", record.started_at)
        if started is None:
            raise InvalidData("started_at", "required")
        try:
            direction = Direction(record.direction).value
            outcome = CallOutcome(record.outcome).value
        except ValueError as error:
            raise InvalidData("direction/outcome", str(error)) from None
        digits = None
        if record.caller_number:
            with suppress(ValueError):
                digits = normalize_phone(record.caller_number)
        satisfaction = record.satisfaction
        if satisfaction is not None and (
            isinstance(satisfaction, bool)
            or not isinstance(satisfaction, int)
            or not 1 <= satisfaction <= 5
        ):
            raise InvalidData("satisfaction", "expected 1..5 or None")
        transfers = [
            {"from": t.from_agent, "to": t.to, "mode": t.mode, "at": _time("transfers.at", t.at)}
            for t in record.transfers
        ]
        return (
            record.call_id,
            direction,
            _opt_text("caller_number", record.caller_number, 64),
            digits,
            _opt_text("caller_name", record.caller_name),
            _opt_text("dialled_number", record.dialled_number, 64),
            _opt_text("trunk", record.trunk, 64),
            _opt_text("queue", record.queue, 64),
            _opt_text("agent_id", record.agent_id, 64),
            started,
            _time("enqueued_at", record.enqueued_at),
            _time("answered_at", record.answered_at),
            _time("ended_at", record.ended_at),
            _duration("wait_s", record.wait_s),
            _duration("talk_s", record.talk_s),
            _duration("wrap_up_s", record.wrap_up_s),
            outcome,
            _opt_text("cause", record.cause, 64),
            _disposition(record.disposition),
            _opt_text("notes", record.notes, MAX_NOTES),
            None if record.resolved is None else int(record.resolved),
            json.dumps(transfers, ensure_ascii=False),
            json.dumps([str(step) for step in record.ivr_path], ensure_ascii=False),
            satisfaction,
            _duration("hold_s", record.hold_s),
            now,
            _opt_text("released_by", record.released_by, 64),
            _opt_text("release_reason", record.release_reason, MAX_NOTES),
        )

    @staticmethod
    def _leg_values(call_id: str, seq: int, leg: CallLeg) -> tuple[Any, ...]:
        where = f"legs[{seq}]"
        return (
            call_id,
            seq,
            _opt_text(f"{where}.agent_id", leg.agent_id, 64),
            _opt_text(f"{where}.extension", leg.extension, 64),
            _opt_text(f"{where}.queue", leg.queue, 64),
            _time(f"{where}.started_at", leg.started_at),
            _time(f"{where}.answered_at", leg.answered_at),
            _time(f"{where}.ended_at", leg.ended_at),
            check_text(f"{where}.outcome", leg.outcome, max_len=32, required=True),
            _opt_text(f"{where}.cause", leg.cause, 64),
            _duration(f"{where}.talk_s", leg.talk_s),
            _duration(f"{where}.wrap_up_s", leg.wrap_up_s),
            _disposition(leg.disposition, f"{where}.disposition"),
            _opt_text(f"{where}.notes", leg.notes, MAX_NOTES),
            None if leg.resolved is None else int(leg.resolved),
        )

    async def upsert_call(self, record: CallRecord) -> None:
        """Write a call record and its legs in one transaction (insert or replace; the
        wrap-up fields are kept when the new record has none). When this returns the
        record is committed: see the module docstring for what survives which crash."""
        now = self._clock()
        values = self._call_values(record, now)
        legs = [self._leg_values(record.call_id, seq, leg) for seq, leg in enumerate(record.legs)]
        async with self._tx() as conn:
            await conn.execute(_CALL_UPSERT, values)
            if legs:
                await conn.executemany(_LEG_UPSERT, legs)
            await conn.execute(
                "DELETE FROM call_legs WHERE call_id = ? AND seq >= ?",
                (record.call_id, len(legs)),
            )

    async def set_wrap_up(
        self,
        call_id: str,
        agent_id: str,
        disposition: Disposition | str,
        notes: str | None = None,
        resolved: bool | None = None,
        wrap_up_s: float | None = None,
    ) -> None:
        """The agent's wrap-up of a call it answered: on the call record and on that
        agent's last answered leg. :class:`NotFound` if the call does not exist or the
        agent did not answer it (the record's agent, or a leg answered by the agent)."""
        value = _disposition(disposition)
        text = _opt_text("notes", notes, MAX_NOTES)
        seconds = _duration("wrap_up_s", wrap_up_s)
        flag = None if resolved is None else int(bool(resolved))
        async with self._tx() as conn:
            rows = list(
                await conn.execute_fetchall(
                    "SELECT agent_id, (SELECT MAX(seq) FROM call_legs l"
                    "   WHERE l.call_id = r.call_id AND l.agent_id = ?"
                    "     AND (l.answered_at IS NOT NULL OR l.outcome = 'answered')) AS seq"
                    " FROM call_records r WHERE call_id = ?",
                    (agent_id, call_id),
                )
            )
            if not rows:
                raise NotFound("call", call_id)
            if rows[0]["agent_id"] != agent_id and rows[0]["seq"] is None:
                raise NotFound(
                    "call", call_id, f"no call {call_id!r} handled by agent {agent_id!r}"
                )
            await conn.execute(
                "UPDATE call_records SET disposition = ?, notes = ?, resolved = ?,"
                " wrap_up_s = COALESCE(?, wrap_up_s), updated_at = ? WHERE call_id = ?",
                (value, text, flag, seconds, self._clock(), call_id),
            )
            if rows[0]["seq"] is not None:
                await conn.execute(
                    "UPDATE call_legs SET disposition = ?, notes = ?, resolved = ?,"
                    " wrap_up_s = COALESCE(?, wrap_up_s) WHERE call_id = ? AND seq = ?",
                    (value, text, flag, seconds, call_id, rows[0]["seq"]),
                )

    async def _with_legs(self, rows: Sequence[sqlite3.Row]) -> list[CallRecord]:
        legs: dict[str, list[CallLeg]] = {row["call_id"]: [] for row in rows}
        ids = list(legs)
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i : i + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            for leg in await self._read(
                f"SELECT * FROM call_legs WHERE call_id IN ({marks}) ORDER BY call_id, seq", chunk
            ):
                legs[leg["call_id"]].append(_leg(leg))
        return [_call(row, tuple(legs[row["call_id"]])) for row in rows]

    async def get_call(self, call_id: str) -> CallRecord:
        rows = await self._read("SELECT * FROM call_records WHERE call_id = ?", (call_id,))
        if not rows:
            raise NotFound("call", call_id)
        return (await self._with_legs(rows))[0]

    async def recent_calls(
        self,
        caller_number: str | None,
        limit: int = 5,
        *,
        exclude_call_id: str | None = None,
    ) -> list[CallRecord]:
        """The caller's last calls, newest first, for screen pop (without legs). A number
        that is not a phone number (``anonymous``) has no history."""
        digits = _caller_digits(caller_number)
        if digits is None:
            return []
        limit, _ = _page(limit, 0)
        rows = await self._read(_RECENT_CALLS, (digits, exclude_call_id, limit))
        return [_call(row) for row in rows]

    async def query_calls(
        self,
        *,
        start: float | None = None,
        end: float | None = None,
        agent_id: str | None = None,
        caller: str | None = None,
        queue: str | None = None,
        outcome: CallOutcome | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[CallRecord]:
        """Calls that started in ``[start, end)``, newest first, with their legs.
        ``agent_id``: calls the agent answered or was offered (any leg); ``caller``: any
        spelling of the caller's number."""
        limit, offset = _page(limit, offset)
        where: list[str] = []
        params: list[Any] = []
        if start is not None:
            where.append("started_at >= ?")
            params.append(_time("from", start))
        if end is not None:
            where.append("started_at < ?")
            params.append(_time("to", end))
        if agent_id is not None:
            where.append(
                "(agent_id = ? OR call_id IN (SELECT call_id FROM call_legs WHERE agent_id = ?))"
            )
            params += [agent_id, agent_id]
        if caller is not None:
            try:
                params.append(normalize_phone(caller))
            except ValueError as error:
                raise InvalidData("caller", str(error)) from None
            where.append("caller_digits = ?")
        if queue is not None:
            where.append("queue = ?")
            params.append(queue)
        if outcome is not None:
            try:
                params.append(CallOutcome(outcome).value)
            except ValueError:
                choices = ", ".join(o.value for o in CallOutcome)
                raise InvalidData("outcome", f"expected one of {choices}") from None
            where.append("outcome = ?")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._read(
            f"SELECT * FROM call_records{clause} ORDER BY started_at DESC, call_id"
            " LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return await self._with_legs(rows)

    # ------------------------------------------------------------------ agent states

    async def append_agent_state(
        self, agent_id: str, state: str, reason: str | None, since: float
    ) -> int:
        """Record that ``agent_id`` entered ``state`` at ``since``: the open interval of
        its previous state ends there. Returns the new row's id."""
        check_text("agent_id", agent_id, max_len=64, required=True)
        if not state or len(state) > _STATE_RE_MAX or not state.replace("_", "").isalpha():
            raise InvalidData("state", "expected a snake_case state name, e.g. not_ready")
        reason = _opt_text("reason", reason)
        at = _time("since", since)
        async with self._tx() as conn:
            await conn.execute(
                "UPDATE agent_state_history SET until = MAX(?, since)"
                " WHERE agent_id = ? AND until IS NULL",
                (at, agent_id),
            )
            cursor = await conn.execute(
                "INSERT INTO agent_state_history (agent_id, state, reason, since)"
                " VALUES (?, ?, ?, ?)",
                (agent_id, state, reason, at),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    async def agent_state_history(
        self,
        *,
        agent_id: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[AgentStateChange]:
        """State intervals that overlap ``[start, end)``, oldest first."""
        limit, offset = _page(limit, offset)
        where: list[str] = []
        params: list[Any] = []
        if agent_id is not None:
            where.append("agent_id = ?")
            params.append(agent_id)
        if start is not None:
            where.append("(until IS NULL OR until > ?)")
            params.append(_time("from", start))
        if end is not None:
            where.append("since < ?")
            params.append(_time("to", end))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._read(
            f"SELECT * FROM agent_state_history{clause} ORDER BY since, id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_state(row) for row in rows]

    # ------------------------------------------------------------------ groups (群呼)

    async def list_groups(self) -> list[Group]:
        return [_group(row) for row in await self._read(f"{_GROUP_SELECT} ORDER BY g.name")]

    async def get_group(self, name: str) -> Group:
        rows = await self._read(f"{_GROUP_SELECT} WHERE g.name = ?", (name,))
        if not rows:
            raise NotFound("group", name)
        return _group(rows[0])

    async def _group_in(self, conn: aiosqlite.Connection, name: str) -> Group | None:
        rows = list(await conn.execute_fetchall(f"{_GROUP_SELECT} WHERE g.name = ?", (name,)))
        return _group(rows[0]) if rows else None

    @staticmethod
    async def _write_members(
        conn: aiosqlite.Connection, name: str, extensions: Sequence[str]
    ) -> None:
        await conn.execute("DELETE FROM group_members WHERE group_name = ?", (name,))
        await conn.executemany(
            "INSERT INTO group_members (group_name, position, extension) VALUES (?, ?, ?)",
            [(name, i, ext) for i, ext in enumerate(extensions)],
        )

    async def create_group(
        self, name: str, extensions: Sequence[str], description: str = ""
    ) -> Group:
        check_group_name(name)
        members = check_extensions(extensions)
        text = check_text("description", description, max_len=200)
        now = self._clock()
        async with self._tx() as conn:
            if await self._group_in(conn, name) is not None:
                raise Conflict(f"group {name!r} already exists")
            await conn.execute(
                "INSERT INTO groups (name, description, created_at, updated_at)"
                " VALUES (?, ?, ?, ?)",
                (name, text, now, now),
            )
            await self._write_members(conn, name, members)
            group = await self._group_in(conn, name)
        assert group is not None
        return group

    async def update_group(
        self,
        name: str,
        *,
        extensions: Sequence[str] | Unset = UNSET,
        description: str | Unset = UNSET,
    ) -> Group:
        members = UNSET if isinstance(extensions, Unset) else check_extensions(extensions)
        text = (
            UNSET
            if isinstance(description, Unset)
            else check_text("description", description, max_len=200)
        )
        async with self._tx() as conn:
            current = await self._group_in(conn, name)
            if current is None:
                raise NotFound("group", name)
            await conn.execute(
                "UPDATE groups SET description = ?, updated_at = ? WHERE name = ?",
                (current.description if isinstance(text, Unset) else text, self._clock(), name),
            )
            if not isinstance(members, Unset):
                await self._write_members(conn, name, members)
            group = await self._group_in(conn, name)
        assert group is not None
        return group

    async def delete_group(self, name: str) -> None:
        async with self._tx() as conn:
            cursor = await conn.execute("DELETE FROM groups WHERE name = ?", (name,))
            if cursor.rowcount == 0:
                raise NotFound("group", name)

    # ------------------------------------------------------------------ seeding

    async def seed_from_config(
        self,
        config: Config,
        demo_password: str | None = None,
        *,
        reset_passwords: bool = False,
    ) -> SeedReport:
        """Create the skills, agents (with their skills) and groups of ``config`` that
        are not in the database yet; what exists is left as it is (the database is
        where admins edit them).

        ``demo_password`` becomes the password of every agent created now and of every
        configured agent that has none; an existing password is replaced only with
        ``reset_passwords=True`` (``hotline demo --demo-password`` does that).
        """
        have = {agent.agent_id: agent.has_password for agent in await self.list_agents()}
        hashes: dict[str, str] = {}
        if demo_password is not None:
            for agent in config.agents:
                if reset_passwords or not have.get(agent.agent_id, False):
                    hashes[agent.agent_id] = await self._hash(demo_password)
        now = self._clock()
        skills = agents = passwords = groups = 0
        async with self._tx() as conn:
            for name, description in config.skills.items():
                cursor = await conn.execute(
                    "INSERT OR IGNORE INTO skills (name, description) VALUES (?, ?)",
                    (name, description),
                )
                skills += cursor.rowcount
            for agent in config.agents:
                cursor = await conn.execute(
                    "INSERT OR IGNORE INTO agents (agent_id, name, extension, role,"
                    " password_hash, enabled, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, NULL, 1, ?, ?)",
                    (agent.agent_id, agent.name, agent.extension, agent.role.value, now, now),
                )
                if cursor.rowcount:
                    agents += 1
                    await self._write_skills(conn, agent.agent_id, agent.skills)
                if agent.agent_id in hashes:
                    cursor = await conn.execute(
                        "UPDATE agents SET password_hash = ?, updated_at = ?"
                        " WHERE agent_id = ? AND (password_hash IS NULL OR ?)",
                        (hashes[agent.agent_id], now, agent.agent_id, int(reset_passwords)),
                    )
                    passwords += cursor.rowcount
            for name, extensions in config.groups.items():
                cursor = await conn.execute(
                    "INSERT OR IGNORE INTO groups (name, description, created_at, updated_at)"
                    " VALUES (?, '', ?, ?)",
                    (name, now, now),
                )
                if cursor.rowcount:
                    groups += 1
                    await self._write_members(conn, name, extensions)
        report = SeedReport(skills, agents, passwords, groups)
        log.info(
            "store.seeded",
            skills=skills,
            agents=agents,
            passwords_set=passwords,
            groups=groups,
        )
        return report
