"""The database schema, as an ordered list of migrations.

Migration *k* takes a database at schema version *k - 1* to version *k*. Each runs in one
transaction together with the row it adds to ``schema_version``: it is applied completely
or not at all (SQLite's DDL is transactional). A released migration is never edited; a
change to the schema is a new migration appended at the end. docs/storage.md describes
the tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import aiosqlite

__all__ = ["APPLICATION_ID", "MIGRATIONS", "Migration", "sql_migration"]

# PRAGMA application_id of a Hotline database ("HOTL"), to refuse other programs' files.
APPLICATION_ID: Final = 0x484F544C

Apply = Callable[[aiosqlite.Connection], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Apply


def sql_migration(version: int, description: str, *statements: str) -> Migration:
    """A migration that runs SQL statements in order."""

    async def apply(conn: aiosqlite.Connection) -> None:
        for statement in statements:
            await conn.execute(statement)

    return Migration(version, description, apply)


_V1: Final = (
    f"PRAGMA application_id = {APPLICATION_ID}",
    # ------------------------------------------------------------------ accounts
    """CREATE TABLE skills (
        name        TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT ''
    )""",
    """CREATE TABLE agents (
        agent_id      TEXT PRIMARY KEY,
        name          TEXT NOT NULL DEFAULT '',
        extension     TEXT,
        role          TEXT NOT NULL DEFAULT 'agent'
                      CHECK (role IN ('agent', 'supervisor', 'admin')),
        password_hash TEXT,
        enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL
    )""",
    """CREATE TABLE agent_skills (
        agent_id TEXT NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
        skill    TEXT NOT NULL REFERENCES skills (name) ON UPDATE CASCADE,
        level    INTEGER NOT NULL CHECK (level BETWEEN 1 AND 10),
        PRIMARY KEY (agent_id, skill)
    ) WITHOUT ROWID""",
    "CREATE INDEX agent_skills_skill ON agent_skills (skill)",
    # ------------------------------------------------------------------ customers (CRM)
    """CREATE TABLE customers (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        address    TEXT NOT NULL DEFAULT '',
        account_id TEXT UNIQUE,
        service_id TEXT,
        notes      TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX customers_name ON customers (name)",
    "CREATE INDEX customers_service_id ON customers (service_id)",
    # phone: as entered; digits: the canonical key of cti.store.phones.normalize_phone
    """CREATE TABLE customer_phones (
        customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        phone       TEXT NOT NULL,
        digits      TEXT NOT NULL,
        PRIMARY KEY (customer_id, position)
    ) WITHOUT ROWID""",
    "CREATE INDEX customer_phones_digits ON customer_phones (digits)",
    # ------------------------------------------------------------------ calls
    # No foreign key to agents: a call record outlives the account of its agent.
    """CREATE TABLE call_records (
        call_id        TEXT PRIMARY KEY,
        direction      TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
        caller_number  TEXT,
        caller_digits  TEXT,
        caller_name    TEXT,
        dialled_number TEXT,
        trunk          TEXT,
        queue          TEXT,
        agent_id       TEXT,
        started_at     REAL NOT NULL,
        enqueued_at    REAL,
        answered_at    REAL,
        ended_at       REAL,
        wait_s         REAL,
        talk_s         REAL,
        wrap_up_s      REAL,
        outcome        TEXT NOT NULL,
        cause          TEXT,
        disposition    TEXT CHECK (disposition IN ('fault', 'complaint', 'inquiry', 'other')),
        notes          TEXT,
        resolved       INTEGER CHECK (resolved IN (0, 1)),
        transfers      TEXT NOT NULL DEFAULT '[]',
        ivr_path       TEXT NOT NULL DEFAULT '[]',
        satisfaction   INTEGER CHECK (satisfaction BETWEEN 1 AND 5),
        updated_at     REAL NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX call_records_started ON call_records (started_at)",
    "CREATE INDEX call_records_agent ON call_records (agent_id, started_at)",
    "CREATE INDEX call_records_caller ON call_records (caller_digits, started_at)",
    "CREATE INDEX call_records_queue ON call_records (queue, started_at)",
    """CREATE TABLE call_legs (
        call_id     TEXT NOT NULL REFERENCES call_records (call_id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        agent_id    TEXT,
        extension   TEXT,
        queue       TEXT,
        started_at  REAL,
        answered_at REAL,
        ended_at    REAL,
        outcome     TEXT NOT NULL,
        cause       TEXT,
        talk_s      REAL,
        wrap_up_s   REAL,
        disposition TEXT CHECK (disposition IN ('fault', 'complaint', 'inquiry', 'other')),
        notes       TEXT,
        resolved    INTEGER CHECK (resolved IN (0, 1)),
        PRIMARY KEY (call_id, seq)
    ) WITHOUT ROWID""",
    "CREATE INDEX call_legs_agent ON call_legs (agent_id, call_id)",
    # ------------------------------------------------------------------ agent states
    """CREATE TABLE agent_state_history (
        id       INTEGER PRIMARY KEY,
        agent_id TEXT NOT NULL,
        state    TEXT NOT NULL,
        reason   TEXT,
        since    REAL NOT NULL,
        until    REAL
    )""",
    "CREATE INDEX agent_state_history_agent ON agent_state_history (agent_id, since)",
    "CREATE INDEX agent_state_history_since ON agent_state_history (since)",
    """CREATE UNIQUE INDEX agent_state_history_open ON agent_state_history (agent_id)
        WHERE until IS NULL""",
    # ------------------------------------------------------------------ preset groups (群呼)
    """CREATE TABLE groups (
        name        TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT '',
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    )""",
    """CREATE TABLE group_members (
        group_name TEXT NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
        position   INTEGER NOT NULL,
        extension  TEXT NOT NULL,
        PRIMARY KEY (group_name, position),
        UNIQUE (group_name, extension)
    ) WITHOUT ROWID""",
)

# Call recordings (recorder/index.py): the index of the files and who accessed them.
# No foreign key to call_records: a recording is indexed when it starts, before or
# without the call's record, and outlives nothing it would cascade from.
_RECORDINGS: Final = (
    """CREATE TABLE recordings (
        id            TEXT PRIMARY KEY,
        call_id       TEXT NOT NULL,
        agent_id      TEXT,
        caller_number TEXT,
        caller_digits TEXT,
        queue         TEXT,
        started_at    REAL NOT NULL,
        ended_at      REAL,
        duration_s    REAL,
        paused_s      REAL,
        on_demand     INTEGER NOT NULL DEFAULT 0 CHECK (on_demand IN (0, 1)),
        path          TEXT NOT NULL UNIQUE,
        size          INTEGER,
        sha256        TEXT,
        state         TEXT NOT NULL
                      CHECK (state IN ('recording', 'complete', 'missing', 'corrupt')),
        verified_at   REAL,
        verified_key  TEXT,
        updated_at    REAL NOT NULL
    )""",
    "CREATE INDEX recordings_call ON recordings (call_id)",
    "CREATE INDEX recordings_agent ON recordings (agent_id, started_at)",
    "CREATE INDEX recordings_caller ON recordings (caller_digits, started_at)",
    "CREATE INDEX recordings_queue ON recordings (queue, started_at)",
    "CREATE INDEX recordings_started ON recordings (started_at)",
    """CREATE TABLE recording_access (
        id           INTEGER PRIMARY KEY,
        at           REAL NOT NULL,
        actor        TEXT NOT NULL,
        role         TEXT NOT NULL,
        action       TEXT NOT NULL,
        recording_id TEXT,
        call_id      TEXT,
        outcome      TEXT NOT NULL,
        detail       TEXT NOT NULL DEFAULT '',
        address      TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX recording_access_at ON recording_access (at)",
    "CREATE INDEX recording_access_actor ON recording_access (actor, at)",
    "CREATE INDEX recording_access_recording ON recording_access (recording_id, at)",
)

# What a supervisor is doing on the PBX right now (cti/store/live.py): the PBX does not
# tell a new server a spy's mode (it changes by DTMF) or who owns a conference. Rows
# live as long as the session; no foreign keys: an account may go while its spy runs.
_LIVE: Final = (
    """CREATE TABLE live_monitors (
        supervisor TEXT PRIMARY KEY,
        extension  TEXT NOT NULL,
        call_id    TEXT NOT NULL,
        target     TEXT NOT NULL,
        mode       TEXT NOT NULL CHECK (mode IN ('listen', 'whisper', 'barge')),
        spy_mode   TEXT NOT NULL CHECK (spy_mode IN ('listen', 'whisper', 'barge')),
        channel    TEXT,
        since      REAL NOT NULL
    )""",
    """CREATE TABLE live_conferences (
        room       TEXT PRIMARY KEY,
        owner      TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('select', 'group')),
        group_name TEXT,
        started_at REAL NOT NULL
    )""",
    """CREATE TABLE live_conference_members (
        room      TEXT NOT NULL REFERENCES live_conferences (room) ON DELETE CASCADE,
        position  INTEGER NOT NULL,
        extension TEXT NOT NULL,
        state     TEXT NOT NULL
                  CHECK (state IN ('invited', 'joined', 'left', 'failed', 'dropped')),
        channel   TEXT,
        PRIMARY KEY (room, position),
        UNIQUE (room, extension)
    ) WITHOUT ROWID""",
)

MIGRATIONS: Final[tuple[Migration, ...]] = (
    sql_migration(1, "agents, skills, customers, calls, agent states, groups", *_V1),
    sql_migration(2, "call recordings index and access audit", *_RECORDINGS),
    # Seconds the caller spent on hold (desktop or phone hold), a part of talk_s.
    sql_migration(3, "hold time of a call", "ALTER TABLE call_records ADD COLUMN hold_s REAL"),
    sql_migration(
        4,
        "force release (强拆): who released a call, and why",
        "ALTER TABLE call_records ADD COLUMN released_by TEXT",
        "ALTER TABLE call_records ADD COLUMN release_reason TEXT",
    ),
    sql_migration(5, "live spy sessions and conferences, kept across a restart", *_LIVE),
)
