"""Indexes that answer the two routing questions without walking every agent or call.

* Which ready agent should take this call?  Ready agents sit in *pools*, one per
  distinct (requirement, strategy) of any queue's escalation step, each a heap ordered
  by the strategy's key. A call at step ``s`` of queue ``q`` peeks at the heads of the
  pools of that step's alternatives (usually one or two).
* Which waiting call should this agent take?  Waiting calls sit in *buckets*, one heap
  per (queue, escalation step), ordered by (priority, wait). An agent peeks at the
  buckets it qualifies for: from its lowest qualifying step upwards in each of its
  queues, because a call that escalated further only ever admits more agents.

Heaps use lazy deletion: an entry carries the epoch of its agent or call at insertion,
and an entry whose epoch is no longer current is dropped when it reaches the top. A
heap whose dead entries outnumber the live ones is rebuilt, which bounds the memory.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping
from typing import Protocol

from acd.live import LiveAgent, LiveCall, LiveQueue
from acd.model import Requirement, qualifies
from acd.strategy import agent_key, pool_identity

_COMPACT_MIN = 64


class AgentIndex(Protocol):
    def register(self, agent: LiveAgent) -> None: ...
    def unregister(self, agent: LiveAgent) -> None: ...
    def available(self, agent: LiveAgent) -> None: ...
    def unavailable(self, agent: LiveAgent) -> None: ...
    def best_agent(self, call: LiveCall) -> LiveAgent | None: ...


class CallIndex(Protocol):
    def add(self, call: LiveCall) -> None: ...
    def remove(self, call: LiveCall) -> None: ...
    def best_call(self, agent: LiveAgent) -> LiveCall | None: ...


def memberships(queues: list[LiveQueue], skills: Mapping[str, int]) -> list[tuple[LiveQueue, int]]:
    """(queue, lowest step at which an agent with ``skills`` qualifies), for every queue."""
    out = []
    for queue in queues:
        for step, alternatives in enumerate(queue.steps):
            if any(qualifies(skills, req) for req in alternatives):
                out.append((queue, step))
                break
    return out


class _Pool:
    __slots__ = ("dead", "heap", "queue", "req")

    def __init__(self, queue: LiveQueue, req: Requirement) -> None:
        self.queue = queue  # any queue with this identity: they rank agents alike
        self.req = req
        self.heap: list[tuple[float, float, int, int, LiveAgent]] = []
        self.dead = 0

    def push(self, agent: LiveAgent) -> None:
        k1, k2, order = agent_key(agent, self.queue, self.req)
        heapq.heappush(self.heap, (k1, k2, order, agent.epoch, agent))

    def head(self) -> tuple[float, float, int, int, LiveAgent] | None:
        heap = self.heap
        while heap:
            entry = heap[0]
            if entry[3] == entry[4].epoch:
                return entry
            heapq.heappop(heap)
            self.dead -= 1
        return None

    def forget_one(self) -> None:
        self.dead += 1
        if self.dead > _COMPACT_MIN and self.dead * 2 > len(self.heap):
            self.heap = [e for e in self.heap if e[3] == e[4].epoch]
            heapq.heapify(self.heap)
            self.dead = 0


class HeapAgentIndex:
    def __init__(self, queues: list[LiveQueue]) -> None:
        self._queues = queues
        pools: dict[tuple[object, ...], _Pool] = {}
        self._by_skill: dict[str, list[_Pool]] = defaultdict(list)
        for queue in queues:
            queue.step_pools = []
            for alternatives in queue.steps:
                step_pools = []
                for req in alternatives:
                    ident = pool_identity(queue, req)
                    pool = pools.get(ident)
                    if pool is None:
                        pool = pools[ident] = _Pool(queue, req)
                        # Index the pool under its first skill only: an agent must have
                        # every skill of the requirement, so that one is enough to find it.
                        self._by_skill[req[0][0]].append(pool)
                    step_pools.append(pool)
                queue.step_pools.append(step_pools)
        self.pool_count = len(pools)

    def register(self, agent: LiveAgent) -> None:
        agent.memberships = memberships(self._queues, agent.skills)
        agent.pools = [
            pool
            for skill in agent.skills
            for pool in self._by_skill.get(skill, ())
            if qualifies(agent.skills, pool.req)
        ]

    def unregister(self, agent: LiveAgent) -> None:
        agent.memberships = []
        agent.pools = []

    def available(self, agent: LiveAgent) -> None:
        for pool in agent.pools:
            pool.push(agent)

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


class HeapCallIndex:
    def __init__(self) -> None:
        self._dead: dict[tuple[int, int], int] = defaultdict(int)

    def add(self, call: LiveCall) -> None:
        heapq.heappush(
            call.queue.buckets[call.step],
            (-call.priority, call.enqueued_at, call.seq, call.index_epoch, call),
        )

    def remove(self, call: LiveCall) -> None:
        call.index_epoch += 1
        queue, step = call.queue, call.step
        where = (queue.index, step)
        dead = self._dead[where] + 1
        bucket = queue.buckets[step]
        if dead > _COMPACT_MIN and dead * 2 > len(bucket):
            queue.buckets[step] = [e for e in bucket if e[3] == e[4].index_epoch]
            heapq.heapify(queue.buckets[step])
            dead = 0
        self._dead[where] = dead

    def best_call(self, agent: LiveAgent) -> LiveCall | None:
        best = None
        for queue, first_step in agent.memberships:
            buckets = queue.buckets
            for step in range(first_step, len(buckets)):
                bucket = buckets[step]
                while bucket:
                    entry = bucket[0]
                    if entry[3] == entry[4].index_epoch:
                        if best is None or entry < best:
                            best = entry
                        break
                    heapq.heappop(bucket)
                    self._dead[(queue.index, step)] -= 1
        return None if best is None else best[4]
