"""``hotline bench acd``: how fast the ACD decides, against a linear-scan router.

The workload is a large call center in steady state: ``--agents`` agents with 1–5 skills
each out of ``--skills`` (popularity Zipf-like, levels 1–10), one queue per skill with an
escalation plan, and ``--waiting`` calls waiting. Then, alternately:

* a call arrives (direction 1: the ACD offers it to the best ready agent or queues it);
* an agent finishes wrap-up and becomes ready (direction 2: the ACD offers it the most
  deserving call of all its queues, or it stays ready).

Each ACD call is timed on its own (``perf_counter_ns``); escalation timers that fall due
are timed as decisions too. The baseline is the same ACD with its linear-scan indexes
(``ACD.use_index("scan")``) on an identical copy of the state, fed the identical
operations: both must make the same decisions, which the run checks.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acd import (
    ACD,
    AgentSpec,
    CallFallback,
    CallOffered,
    CallRequeued,
    EscalationStep,
    Event,
    Fallback,
    QueueSpec,
    Strategy,
)
from cti.bench.stats import percentile, progress_line

STRATEGIES = list(Strategy)


@dataclass
class Workload:
    queues: list[QueueSpec]
    agents: list[AgentSpec]
    queue_weights: list[float]


def make_workload(n_agents: int, n_skills: int, seed: int) -> Workload:
    rng = random.Random(seed)
    skills = [f"skill{i:03d}" for i in range(n_skills)]
    weights = [1.0 / (rank + 1) for rank in range(n_skills)]  # Zipf, s = 1
    queues = []
    for i, skill in enumerate(skills):
        backup = skills[0] if i else skills[1 % n_skills]
        escalation: tuple[EscalationStep, ...] = (EscalationStep(30.0, min_level=1),)
        if backup != skill:
            escalation += (EscalationStep(60.0, add_skills={backup: 5}),)
        queues.append(
            QueueSpec(
                f"q-{skill}",
                {skill: rng.randint(1, 5)},
                priority=rng.choice([0, 0, 0, 1]),
                strategy=STRATEGIES[i % len(STRATEGIES)],
                wrap_up_s=10.0,
                ring_timeout_s=15.0,
                max_wait_s=600.0,
                fallback=Fallback.CALLBACK,
                escalation=escalation,
            )
        )
    agents = []
    for i in range(n_agents):
        k = min(n_skills, rng.randint(1, 5))
        chosen: set[str] = set()
        while len(chosen) < k:
            chosen.add(rng.choices(skills, weights)[0])
        agents.append(AgentSpec(f"{100000 + i}", {s: rng.randint(1, 10) for s in chosen}))
    return Workload(queues, agents, weights)


@dataclass
class Center:
    """One ACD and what the benchmark knows about its calls."""

    acd: ACD
    offered: dict[str, str] = field(default_factory=dict)  # call -> agent
    talking: list[str] = field(default_factory=list)  # calls on the phone
    decisions: list[tuple[str, int]] = field(default_factory=list)  # (direction, ns)
    log: list[Event] = field(default_factory=list)
    now: float = 0.0  # the simulated time the build reached

    def note(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, CallOffered):
                self.offered[event.call_id] = event.agent_id
            elif isinstance(event, CallRequeued | CallFallback):
                self.offered.pop(event.call_id, None)
        self.log.extend(events)

    def answer_all(self, now: float) -> None:
        """The phones answer at once: offered calls become conversations."""
        for call_id in list(self.offered):
            self.note(self.acd.answered(call_id, now))
            del self.offered[call_id]
            self.talking.append(call_id)


def timed(
    center: Center, direction: str, fn: Callable[..., list[Event]], *args: Any, **kw: Any
) -> list[Event]:
    t0 = time.perf_counter_ns()
    events = fn(*args, **kw)
    elapsed = time.perf_counter_ns() - t0
    center.decisions.append((direction, elapsed))
    center.note(events)
    return events


def build(work: Workload, waiting: int, seed: int, progress: Callable[[str], None]) -> Center:
    """All agents log in, then calls arrive until ``waiting`` of them wait."""
    rng = random.Random(seed + 1)
    center = Center(ACD(work.queues))
    now = 0.0
    for spec in work.agents:
        center.acd.add_agent(spec)
        center.note(center.acd.login(spec.agent_id, now))
    names = [q.name for q in work.queues]
    n = 0
    while _waiting(center) < waiting:
        n += 1
        now += 0.01
        center.note(center.acd.enqueue(f"s{n}", rng.choices(names, work.queue_weights)[0], now))
        center.note(center.acd.tick(now))
        center.answer_all(now)
        if n % 2000 == 0:
            progress(f"setup: {n} calls, {_waiting(center)} waiting")
    center.log.clear()
    center.now = now
    return center


def _waiting(center: Center) -> int:
    return (
        center.acd.outcomes["entered"]
        - center.acd.outcomes["answered"]
        - (center.acd.outcomes["abandoned"] + center.acd.outcomes["fallback"])
        - len(center.offered)
    )


def run_ops(
    center: Center,
    work: Workload,
    ops: int,
    seed: int,
    progress: Callable[[str], None],
    step_s: float = 0.01,
) -> None:
    rng = random.Random(seed + 2)
    acd = center.acd
    names = [q.name for q in work.queues]
    now = center.now
    for i in range(ops):
        now += step_s
        if i % 2 == 0:
            call_id = f"n{i}"
            queue = rng.choices(names, work.queue_weights)[0]
            priority = 5 if rng.random() < 0.02 else None  # a few VIP callers
            timed(center, "call_arrives", acd.enqueue, call_id, queue, now, priority=priority)
        else:
            # A conversation ends; the agent's wrap-up ends and it becomes ready.
            call_id = center.talking.pop(rng.randrange(len(center.talking)))
            agent_id = acd.call(call_id).agent_id
            assert agent_id is not None
            center.note(acd.ended(call_id, now))
            timed(center, "agent_ready", acd.end_wrap_up, agent_id, now)
        due = acd.next_wakeup()
        if due is not None and due <= now:
            timed(center, "timers", acd.tick, now)
        center.answer_all(now)
        if i % 5000 == 0 and i:
            progress(f"{i}/{ops} operations")


def summarize(center: Center) -> dict[str, Any]:
    all_ns = [ns for _, ns in center.decisions]
    total_s = sum(all_ns) / 1e9
    out: dict[str, Any] = {
        "decisions": len(all_ns),
        "decisions_per_s": round(len(all_ns) / total_s) if total_s else 0,
        "p50_us": round(percentile(all_ns, 0.50) / 1000, 2),
        "p99_us": round(percentile(all_ns, 0.99) / 1000, 2),
        "max_us": round(max(all_ns, default=0) / 1000, 2),
    }
    for direction in ("call_arrives", "agent_ready", "timers"):
        ns = [n for d, n in center.decisions if d == direction]
        if ns:
            out[direction] = {
                "decisions": len(ns),
                "p50_us": round(percentile(ns, 0.50) / 1000, 2),
                "p99_us": round(percentile(ns, 0.99) / 1000, 2),
            }
    return out


def idle_agent_bytes(work: Workload) -> tuple[float, float]:
    """tracemalloc: memory per logged-in, idle agent, without and with its AgentSpec.

    The spec (id, name, skills) is the configuration the server holds anyway; the ACD
    keeps a reference to it, so the first figure is what the ACD itself adds.
    """
    gc.collect()
    tracemalloc.start()
    acd = ACD(work.queues)
    start = tracemalloc.get_traced_memory()[0]
    specs = [AgentSpec(s.agent_id, dict(s.skills)) for s in work.agents]
    with_specs = tracemalloc.get_traced_memory()[0]
    for spec in specs:
        acd.add_agent(spec)
        acd.login(spec.agent_id, 0.0)
    gc.collect()
    end = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    n = len(work.agents)
    return (end - with_specs) / n, (end - start) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline bench acd", description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--skills", type=int, default=200)
    parser.add_argument("--waiting", type=int, default=5_000)
    parser.add_argument("--ops", type=int, default=40_000, help="timed operations (indexed)")
    parser.add_argument(
        "--baseline-ops", type=int, default=2_000, help="timed operations (linear scan)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object, quietly")
    args = parser.parse_args(argv)
    for name in ("agents", "skills", "waiting", "ops", "baseline_ops"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    progress = progress_line(args.json)

    work = make_workload(args.agents, args.skills, args.seed)
    progress("measuring memory per idle agent")
    per_agent, per_agent_with_spec = idle_agent_bytes(work)
    progress("building the indexed center")
    ours = build(work, args.waiting, args.seed, progress)
    progress("building the baseline center")
    base = build(work, args.waiting, args.seed, progress)
    base.acd.use_index("scan")
    waiting_at_start = _waiting(ours)

    gc.collect()
    gc.disable()  # the collector's pauses would land on random decisions
    try:
        run_ops(base, work, args.baseline_ops, args.seed, lambda t: progress(f"baseline: {t}"))
        run_ops(ours, work, args.ops, args.seed, lambda t: progress(f"indexed: {t}"))
    finally:
        gc.enable()
    progress("")

    shared = min(len(base.log), len(ours.log))
    same = base.log[:shared] == ours.log[:shared] and len(base.decisions) <= len(ours.decisions)
    result = summarize(ours)
    baseline = summarize(base)
    result.update(
        {
            "agents": args.agents,
            "skills": args.skills,
            "queues": len(work.queues),
            "waiting_at_start": waiting_at_start,
            "agent_pools": ours.acd.pool_count,
            "idle_agent_bytes": round(per_agent),
            "idle_agent_bytes_with_spec": round(per_agent_with_spec),
            "baseline": baseline,
            "speedup_vs_baseline": round(baseline["p50_us"] / result["p50_us"], 1)
            if result["p50_us"]
            else None,
            "throughput_vs_baseline": round(
                result["decisions_per_s"] / baseline["decisions_per_s"], 1
            )
            if baseline["decisions_per_s"]
            else None,
            "same_decisions_as_baseline": same,
        }
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0 if same else 1
