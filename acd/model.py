"""What the ACD is told about the call center: skills, queues and agents.

These are frozen descriptions, built once from the configuration. The live state
(who is ready, which calls wait) lives in :mod:`acd.router`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from acd.errors import ModelError

MIN_LEVEL = 1
MAX_LEVEL = 10


class Strategy(enum.StrEnum):
    """How a queue chooses among several ready agents."""

    LONGEST_IDLE = "longest_idle"
    LEAST_OCCUPIED = "least_occupied"
    MOST_SKILLED = "most_skilled"
    ROUND_ROBIN = "round_robin"
    FEWEST_CALLS = "fewest_calls"


class Fallback(enum.StrEnum):
    """Where a call goes when it has waited its queue's maximum."""

    NONE = "none"
    OVERFLOW = "overflow"
    CALLBACK = "callback"
    VOICEMAIL = "voicemail"


# A requirement is a sorted tuple of (skill, minimum level): an agent qualifies when it
# has every listed skill at or above the level. Sorted tuples are hashable, so equal
# requirements from different queues share one agent pool in the index.
Requirement = tuple[tuple[str, int], ...]


def requirement(skills: Mapping[str, int]) -> Requirement:
    for skill, level in skills.items():
        _check_level(f"skill {skill!r}", level)
    if not skills:
        raise ModelError("a requirement needs at least one skill")
    return tuple(sorted(skills.items()))


def qualifies(skills: Mapping[str, int], req: Requirement) -> bool:
    return all(skills.get(skill, 0) >= level for skill, level in req)


def _check_level(what: str, level: object) -> None:
    if (
        not isinstance(level, int)
        or isinstance(level, bool)
        or not (MIN_LEVEL <= level <= MAX_LEVEL)
    ):
        raise ModelError(
            f"{what}: level must be an integer {MIN_LEVEL}..{MAX_LEVEL}, got {level!r}"
        )


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """After ``after_s`` seconds in the queue, widen who may take the call.

    ``min_level`` lowers the minimum level of the queue's own skills; ``add_skills`` adds
    a backup requirement (an agent with those skills may take the call too).
    """

    after_s: float
    min_level: int | None = None
    add_skills: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    skills: Mapping[str, int]
    priority: int = 0
    strategy: Strategy = Strategy.LONGEST_IDLE
    service_level_target: float = 0.8
    service_level_s: float = 20.0
    wrap_up_s: float = 10.0
    ring_timeout_s: float = 15.0
    max_wait_s: float | None = None
    fallback: Fallback = Fallback.NONE
    overflow_to: str | None = None
    escalation: tuple[EscalationStep, ...] = ()
    rona_misses: int = 1

    def steps(self) -> tuple[tuple[Requirement, ...], ...]:
        """Who may take a call at each escalation step, as alternatives (any one suffices).

        Step 0 is the queue's own requirement; each escalation step keeps what the earlier
        ones allowed and widens it, so eligibility only ever grows with waiting time.
        """
        base = dict(self.skills)
        alternatives: list[Requirement] = [requirement(base)]
        out = [tuple(alternatives)]
        for step in self.escalation:
            if step.min_level is not None:
                lowered = {skill: min(level, step.min_level) for skill, level in base.items()}
                alternatives[0] = requirement(lowered)
                base = lowered
            if step.add_skills:
                backup = requirement(step.add_skills)
                if backup not in alternatives:
                    alternatives.append(backup)
            out.append(tuple(alternatives))
        return tuple(out)

    def validate(self) -> None:
        if not self.name:
            raise ModelError("a queue needs a name")
        requirement(self.skills)
        if not 0 < self.service_level_target <= 1:
            raise ModelError(f"queue {self.name!r}: service_level_target must be in (0, 1]")
        for what, value in (
            ("service_level_s", self.service_level_s),
            ("wrap_up_s", self.wrap_up_s),
            ("ring_timeout_s", self.ring_timeout_s),
        ):
            if value < 0:
                raise ModelError(f"queue {self.name!r}: {what} must be >= 0, got {value}")
        if self.max_wait_s is not None and self.max_wait_s <= 0:
            raise ModelError(f"queue {self.name!r}: max_wait_s must be > 0")
        if self.fallback is Fallback.OVERFLOW and not self.overflow_to:
            raise ModelError(f"queue {self.name!r}: fallback 'overflow' needs overflow_to")
        if self.fallback is not Fallback.NONE and self.max_wait_s is None:
            raise ModelError(f"queue {self.name!r}: a fallback needs max_wait_s")
        if self.rona_misses < 1:
            raise ModelError(f"queue {self.name!r}: rona_misses must be >= 1")
        last = 0.0
        for i, step in enumerate(self.escalation):
            if step.after_s <= last:
                raise ModelError(
                    f"queue {self.name!r}: escalation[{i}].after_s must be greater than "
                    f"the step before ({last})"
                )
            last = step.after_s
            if step.min_level is None and not step.add_skills:
                raise ModelError(f"queue {self.name!r}: escalation[{i}] widens nothing")
            if step.min_level is not None:
                _check_level(f"queue {self.name!r} escalation[{i}].min_level", step.min_level)
            for skill, level in step.add_skills.items():
                _check_level(f"queue {self.name!r} escalation[{i}] skill {skill!r}", level)


@dataclass(frozen=True, slots=True)
class AgentSpec:
    agent_id: str
    skills: Mapping[str, int]
    name: str = ""
    extension: str | None = None

    def __post_init__(self) -> None:
        # The ACD keeps a reference to these skills, not a copy: freeze them.
        object.__setattr__(self, "skills", MappingProxyType(dict(self.skills)))

    def validate(self) -> None:
        if not self.agent_id:
            raise ModelError("an agent needs an id")
        for skill, level in self.skills.items():
            _check_level(f"agent {self.agent_id!r} skill {skill!r}", level)
