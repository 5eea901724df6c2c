"""How each queue strategy ranks ready agents: lower keys are offered first.

A key is fixed for as long as the agent stays ready (everything it reads changes only
when the agent is not ready), which is what lets the index keep agents in heaps.
"""

from __future__ import annotations

from acd.live import LiveAgent, LiveQueue
from acd.model import Requirement, Strategy

AgentKey = tuple[float, float, int]


def skill_score(agent: LiveAgent, req: Requirement) -> int:
    return sum(agent.skills.get(skill, 0) for skill, _ in req)


def agent_key(agent: LiveAgent, queue: LiveQueue, req: Requirement) -> AgentKey:
    strategy = queue.spec.strategy
    if strategy is Strategy.LONGEST_IDLE:
        return (agent.ready_since, 0.0, agent.order)
    if strategy is Strategy.LEAST_OCCUPIED:
        return (agent.talk_s, agent.ready_since, agent.order)
    if strategy is Strategy.FEWEST_CALLS:
        return (float(agent.calls), agent.ready_since, agent.order)
    if strategy is Strategy.MOST_SKILLED:
        return (float(-skill_score(agent, req)), agent.ready_since, agent.order)
    # Round robin: the agent offered a call longest ago (by any queue) goes next. Counting
    # offers from every queue keeps one rotation per pool, shared by the queues using it.
    return (float(agent.last_offer), agent.ready_since, agent.order)


def pool_identity(queue: LiveQueue, req: Requirement) -> tuple[object, ...]:
    """Queues that rank agents the same way and require the same skills share a pool."""
    return (req, queue.spec.strategy)
