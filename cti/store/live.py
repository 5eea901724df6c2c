"""The supervisors' live sessions on the PBX, kept so that a restarted server can take
them over: spies (who listens to, whispers to or barges into which call, and in which
mode: the PBX never says, the mode changes by DTMF) and conferences (who started them,
which extensions were invited, who was dropped). docs/dispatch.md, "After a restart".

Rows are written by the server as the sessions change and deleted when they end; the
PBX's own lists (CoreShowChannels, ConfbridgeList) decide which of them are still live.
"""

from __future__ import annotations

from dataclasses import dataclass

from cti.store.store import Store

__all__ = [
    "LiveConference",
    "LiveMember",
    "LiveMonitor",
    "forget_conference",
    "forget_monitor",
    "keep_conference",
    "keep_monitor",
    "load_live",
    "save_conference",
    "save_monitor",
]


@dataclass(frozen=True, slots=True)
class LiveMonitor:
    supervisor: str
    extension: str
    call_id: str
    target: str
    mode: str  # what the supervisor asked for last
    spy_mode: str  # what ChanSpy was put in (originated with, or switched to by DTMF)
    channel: str | None
    since: float


@dataclass(frozen=True, slots=True)
class LiveMember:
    extension: str
    state: str
    channel: str | None


@dataclass(frozen=True, slots=True)
class LiveConference:
    room: str
    owner: str
    kind: str
    group: str | None
    started_at: float
    members: tuple[LiveMember, ...]


async def save_monitor(store: Store, row: LiveMonitor) -> None:
    async with store.transaction() as conn:
        await conn.execute(
            "INSERT OR REPLACE INTO live_monitors"
            " (supervisor, extension, call_id, target, mode, spy_mode, channel, since)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.supervisor,
                row.extension,
                row.call_id,
                row.target,
                row.mode,
                row.spy_mode,
                row.channel,
                row.since,
            ),
        )


async def forget_monitor(store: Store, supervisor: str) -> None:
    async with store.transaction() as conn:
        await conn.execute("DELETE FROM live_monitors WHERE supervisor = ?", (supervisor,))


async def save_conference(store: Store, row: LiveConference) -> None:
    """The conference and all its members, replacing what was kept of it."""
    async with store.transaction() as conn:
        await conn.execute("DELETE FROM live_conferences WHERE room = ?", (row.room,))
        await conn.execute(
            "INSERT INTO live_conferences (room, owner, kind, group_name, started_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (row.room, row.owner, row.kind, row.group, row.started_at),
        )
        await conn.executemany(
            "INSERT INTO live_conference_members (room, position, extension, state, channel)"
            " VALUES (?, ?, ?, ?, ?)",
            [(row.room, n, m.extension, m.state, m.channel) for n, m in enumerate(row.members)],
        )


async def forget_conference(store: Store, room: str) -> None:
    async with store.transaction() as conn:
        await conn.execute("DELETE FROM live_conferences WHERE room = ?", (room,))


async def keep_monitor(store: Store, supervisor: str, row: LiveMonitor | None) -> None:
    """Save the spy's row, or forget it (``None``: the spy ended)."""
    if row is None:
        await forget_monitor(store, supervisor)
    else:
        await save_monitor(store, row)


async def keep_conference(store: Store, room: str, row: LiveConference | None) -> None:
    """Save the conference's rows, or forget them (``None``: it ended)."""
    if row is None:
        await forget_conference(store, room)
    else:
        await save_conference(store, row)


async def load_live(store: Store) -> tuple[list[LiveMonitor], list[LiveConference]]:
    monitors = [
        LiveMonitor(*row)
        for row in await store.read(
            "SELECT supervisor, extension, call_id, target, mode, spy_mode, channel, since"
            " FROM live_monitors ORDER BY since"
        )
    ]
    members: dict[str, list[LiveMember]] = {}
    for room, extension, state, channel in await store.read(
        "SELECT room, extension, state, channel FROM live_conference_members"
        " ORDER BY room, position"
    ):
        members.setdefault(room, []).append(LiveMember(extension, state, channel))
    conferences = [
        LiveConference(room, owner, kind, group, started_at, tuple(members.get(room, ())))
        for room, owner, kind, group, started_at in await store.read(
            "SELECT room, owner, kind, group_name, started_at FROM live_conferences"
            " ORDER BY started_at"
        )
    ]
    return monitors, conferences
