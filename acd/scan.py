"""The naive router's index: walk every agent or every waiting call, as app_queue does.

It makes exactly the same choices as :mod:`acd.index` (same keys, same tie-breaks), so
it serves as the benchmark's baseline and as the test oracle for the heap index.
"""

from __future__ import annotations

from acd.index import home_queues
from acd.live import LiveAgent, LiveCall, LiveQueue
from acd.model import qualifies
from acd.states import AgentState
from acd.strategy import AgentKey, agent_key


class ScanIndex:
    pool_count = 0

    def __init__(self, queues: list[LiveQueue]) -> None:
        self._queues = queues
        self._agents: dict[int, LiveAgent] = {}
        self._calls: dict[str, LiveCall] = {}

    def register(self, agent: LiveAgent) -> None:
        agent.home_queues = home_queues(self._queues, agent.skills)
        self._agents[agent.order] = agent

    def unregister(self, agent: LiveAgent) -> None:
        agent.home_queues = []
        self._agents.pop(agent.order, None)

    def available(self, agent: LiveAgent) -> None:
        pass

    def unavailable(self, agent: LiveAgent) -> None:
        pass

    def best_agent(self, call: LiveCall) -> LiveAgent | None:
        queue = call.queue
        alternatives = queue.steps[call.step]
        best: tuple[AgentKey, LiveAgent] | None = None
        for agent in self._agents.values():
            if agent.state is not AgentState.READY:
                continue
            for req in alternatives:
                if qualifies(agent.skills, req):
                    key = agent_key(agent, queue, req)
                    if best is None or key < best[0]:
                        best = (key, agent)
        return None if best is None else best[1]

    def add(self, call: LiveCall) -> None:
        self._calls[call.call_id] = call

    def remove(self, call: LiveCall) -> None:
        del self._calls[call.call_id]

    def best_call(self, agent: LiveAgent) -> LiveCall | None:
        best: tuple[tuple[int, float, int], LiveCall] | None = None
        for call in self._calls.values():
            if any(qualifies(agent.skills, req) for req in call.queue.steps[call.step]):
                key = call.sort_key()
                if best is None or key < best[0]:
                    best = (key, call)
        return None if best is None else best[1]
