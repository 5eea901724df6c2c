"""Indexes that answer the two routing questions without walking every agent or call.

Both sides are organised by *requirement* (a set of skills with minimum levels, one
alternative of some queue's escalation step), because that is what decides who may
serve whom, and many queues and steps share requirements (a common backup skill).

* Which ready agent should take this call?  Ready agents sit in *agent pools*, one per
  (requirement, strategy), each a heap ordered by the strategy's key. A call at step
  ``s`` of its queue peeks at the heads of the pools of that step's alternatives.
* Which waiting call should this agent take?  Waiting calls sit in *call pools*, one
  per requirement, each a heap ordered by (priority, wait, arrival); a call is in the
  pool of every alternative of its current step. An agent peeks at the heads of the
  call pools of the requirements it meets: a handful, however many queues share them.

Heaps use lazy deletion: an entry carries the epoch of its agent or call at insertion,
and an entry whose epoch is no longer current is dropped when it reaches the top. A
heap whose dead entries outnumber the live ones is rebuilt, which bounds the memory.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from acd.live import LiveAgent, LiveCall, LiveQueue
from acd.model import Requirement, qualifies
from acd.strategy import agent_key, pool_identity

_COMPACT_MIN = 64


class Index(Protocol):
    pool_count: int

    def register(self, agent: LiveAgent) -> None: ...
    def unregister(self, agent: LiveAgent) -> None: ...
    def available(self, agent: LiveAgent) -> None: ...
    def unavailable(self, agent: LiveAgent) -> None: ...
    def best_agent(self, call: LiveCall) -> LiveAgent | None: ...
    def add(self, call: LiveCall) -> None: ...
    def remove(self, call: LiveCall) -> None: ...
    def best_call(self, agent: LiveAgent) -> LiveCall | None: ...


def home_queues(queues: list[LiveQueue], skills: Mapping[str, int]) -> list[LiveQueue]:
    """The queues whose own requirement (step 0, before any escalation) ``skills`` meet."""
    return [q for q in queues if any(qualifies(skills, req) for req in q.steps[0])]


class _Heap:
    """A heap with lazy deletion; ``live`` tells whether an entry still counts."""

    __slots__ = ("dead", "entries", "live", "req")

    def __init__(self, req: Requirement, live: Callable[[Any], bool]) -> None:
        self.req = req
        self.entries: list[Any] = []
        self.dead = 0
        self.live = live

    def head(self) -> Any:
        entries, live = self.entries, self.live
        while entries:
            entry = entries[0]
            if live(entry):
                return entry
            heapq.heappop(entries)
            self.dead -= 1
        return None

    def forget_one(self) -> None:
        self.dead += 1
        if self.dead > _COMPACT_MIN and self.dead * 2 > len(self.entries):
            live = self.live
            self.entries = [e for e in self.entries if live(e)]
            heapq.heapify(self.entries)
            self.dead = 0


def _agent_live(entry: tuple[float, float, int, int, LiveAgent]) -> bool:
    return entry[3] == entry[4].epoch


def _call_live(entry: tuple[int, float, int, int, LiveCall]) -> bool:
    return entry[3] == entry[4].index_epoch


class _AgentPool(_Heap):
    __slots__ = ("queue",)

    def __init__(self, queue: LiveQueue, req: Requirement) -> None:
        super().__init__(req, _agent_live)
        self.queue = queue  # any queue with this identity: they rank agents alike


class HeapIndex:
    def __init__(self, queues: list[LiveQueue]) -> None:
        self._queues = queues
        agent_pools: dict[tuple[object, ...], _AgentPool] = {}
        call_pools: dict[Requirement, _Heap] = {}
        # Each pool is listed under the first skill of its requirement only: an agent
        # must have every skill of a requirement, so that one is enough to find it.
        self._agent_pools_by_skill: dict[str, list[_AgentPool]] = defaultdict(list)
        self._call_pools_by_skill: dict[str, list[_Heap]] = defaultdict(list)
        for queue in queues:
            queue.step_pools = []
            queue.step_call_pools = []
            for alternatives in queue.steps:
                step_agent_pools, step_call_pools = [], []
                for req in alternatives:
                    ident = pool_identity(queue, req)
                    pool = agent_pools.get(ident)
                    if pool is None:
                        pool = agent_pools[ident] = _AgentPool(queue, req)
                        self._agent_pools_by_skill[req[0][0]].append(pool)
                    step_agent_pools.append(pool)
                    calls = call_pools.get(req)
                    if calls is None:
                        calls = call_pools[req] = _Heap(req, _call_live)
                        self._call_pools_by_skill[req[0][0]].append(calls)
                    step_call_pools.append(calls)
                queue.step_pools.append(step_agent_pools)
                queue.step_call_pools.append(step_call_pools)
        self.pool_count = len(agent_pools) + len(call_pools)

    # agents

    def register(self, agent: LiveAgent) -> None:
        skills = agent.skills
        agent.home_queues = home_queues(self._queues, skills)
        agent.pools = [
            pool
            for skill in skills
            for pool in self._agent_pools_by_skill.get(skill, ())
            if qualifies(skills, pool.req)
        ]
        agent.call_pools = [
            pool
            for skill in skills
            for pool in self._call_pools_by_skill.get(skill, ())
            if qualifies(skills, pool.req)
        ]

    def unregister(self, agent: LiveAgent) -> None:
        agent.home_queues = []
        agent.pools = []
        agent.call_pools = []

    def available(self, agent: LiveAgent) -> None:
        epoch = agent.epoch
        for pool in agent.pools:
            k1, k2, order = agent_key(agent, pool.queue, pool.req)
            heapq.heappush(pool.entries, (k1, k2, order, epoch, agent))

    def unavailable(self, agent: LiveAgent) -> None:
        # The caller has bumped the agent's epoch: every entry of it is now dead.
        for pool in agent.pools:
            pool.forget_one()

    def best_agent(self, call: LiveCall) -> LiveAgent | None:
        best = None
        for pool in call.queue.step_pools[call.step]:
            entry = pool.head()
            if entry is not None and (best is None or entry < best):
                best = entry
        return None if best is None else best[4]

    # calls

    def add(self, call: LiveCall) -> None:
        entry = (-call.priority, call.enqueued_at, call.seq, call.index_epoch, call)
        for pool in call.queue.step_call_pools[call.step]:
            heapq.heappush(pool.entries, entry)

    def remove(self, call: LiveCall) -> None:
        call.index_epoch += 1
        for pool in call.queue.step_call_pools[call.step]:
            pool.forget_one()

    def best_call(self, agent: LiveAgent) -> LiveCall | None:
        best = None
        for pool in agent.call_pools:
            entry = pool.head()
            if entry is not None and (best is None or entry < best):
                best = entry
        return None if best is None else best[4]
