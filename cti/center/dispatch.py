"""Dispatcher priority and emergency numbers (docs/dispatch.md). No I/O.

As on the seeds' dispatch consoles, the main dispatcher (主调度, the console's key 000)
outranks the sub-dispatchers (副调度): a dispatcher may listen to, whisper into, barge
into, release or pick up a call only when no party of it belongs to a dispatcher of a
higher level. Supervisors without a dispatch level rank below both. Calls from or to a
configured emergency number (110, 119, 120, 122, ...) enter their queue with a priority
above every queue's own, so they are offered before any other waiting call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from cti.api.protocol import ClientError
from cti.config import Config, DispatchLevel

__all__ = ["LEVEL_NAMES", "DispatchRules"]

_RANK: Final = {None: 0, DispatchLevel.SUB: 1, DispatchLevel.MAIN: 2}
LEVEL_NAMES: Final = {
    None: "a supervisor without a dispatch level",
    DispatchLevel.SUB: "a sub-dispatcher",
    DispatchLevel.MAIN: "the main dispatcher",
}


class DispatchRules:
    def __init__(self, config: Config) -> None:
        self._levels = {a.agent_id: a.dispatch for a in config.agents}
        self._emergency = config.dispatch.emergency_numbers
        self._emergency_priority = config.dispatch.emergency_priority

    def level(self, agent_id: str) -> DispatchLevel | None:
        return self._levels.get(agent_id)

    def rank(self, agent_id: str) -> int:
        return _RANK[self._levels.get(agent_id)]

    def has_barge_priority(self, agent_id: str) -> bool:
        """Dispatchers (main or sub) are offered barge-in when they call a busy phone."""
        return self.rank(agent_id) > 0

    def outranking(self, actor: str, holders: Iterable[str]) -> str | None:
        """The first of ``holders`` (agents on a call) that outranks ``actor``."""
        mine = self.rank(actor)
        return next((h for h in holders if h != actor and self.rank(h) > mine), None)

    def check(self, actor: str, what: str, holders: Iterable[str]) -> None:
        """Refuse (``forbidden``) acting on a call of a higher-ranked dispatcher."""
        holder = self.outranking(actor, holders)
        if holder is not None:
            raise ClientError(
                "forbidden",
                f"{what}: {holder} is {LEVEL_NAMES[self.level(holder)]}, and you are "
                f"{LEVEL_NAMES[self.level(actor)]}; only a dispatcher of the same or a "
                "higher level may do that",
            )

    def queue_priority(self, caller: str | None, dialled: str | None) -> int | None:
        """The priority of an emergency call, or None (the queue's own priority)."""
        if (caller and caller in self._emergency) or (dialled and dialled in self._emergency):
            return self._emergency_priority
        return None
