"""The call-center model against traffic theory, and its bookkeeping."""

from __future__ import annotations

import pytest

from acd import ACD, AgentSpec, QueueSpec
from pbx_sim.center_model import CenterModel
from pbx_sim.erlang import erlang_b, erlang_c, erlang_c_asa
from pbx_sim.workload import Callers


def center(agents: int, callers: Callers, channels: int, seed: int, **kw: float) -> CenterModel:
    acd = ACD([QueueSpec("q", {"s": 1}, wrap_up_s=0, ring_timeout_s=kw.pop("ring", 0.0))])
    ids = [f"a{i}" for i in range(agents)]
    for agent_id in ids:
        acd.add_agent(AgentSpec(agent_id, {"s": 1}))
    return CenterModel(acd, ids, callers, {"5000": "q"}, channels=channels, seed=seed, **kw)


def test_trunk_only_blocking_matches_erlang_b() -> None:
    # 25 Erlangs on an E1 of 30 channels: Erlang B says 5.29 % of calls are lost.
    # With no agents configured the calls queue and simply hold their channel.
    m = center(0, Callers(rate=0.25, hold_s=100.0), channels=30, seed=7)
    m.run_until(100_000)
    s = m.stats
    assert s.offered > 20_000
    measured = s.blocked / s.offered
    assert measured == pytest.approx(erlang_b(25.0, 30), abs=0.006)
    assert s.offered == s.carried + s.blocked


@pytest.mark.parametrize("holding", ["exp", "lognormal", "fixed"])
def test_erlang_b_is_insensitive_to_the_holding_distribution(holding: str) -> None:
    m = center(0, Callers(rate=0.203, hold_s=100.0, holding=holding), channels=30, seed=3)  # type: ignore[arg-type]
    m.run_until(60_000)
    assert m.stats.blocked / m.stats.offered == pytest.approx(erlang_b(20.3, 30), abs=0.006)


def test_agents_with_patient_callers_match_erlang_c() -> None:
    m = center(12, Callers(rate=9 / 60, hold_s=60.0), channels=1000, seed=11)
    m.run_until(300_000)
    s = m.stats
    assert s.answered > 40_000
    assert s.queued / s.carried == pytest.approx(erlang_c(9.0, 12), abs=0.02)
    assert s.wait_answered_s / s.answered == pytest.approx(erlang_c_asa(9.0, 12, 60.0), rel=0.12)


def test_impatient_callers_abandon_and_every_call_is_accounted_for() -> None:
    m = center(2, Callers(rate=0.2, hold_s=30.0, patience_s=10.0), channels=5, seed=5)
    m.run_until(5_000)
    s = m.stats
    assert s.abandoned > 0 and s.blocked > 0
    in_progress = sum(1 for _ in m.acd.calls())
    assert s.offered == s.blocked + s.answered + s.abandoned + s.fallbacks + (
        in_progress - sum(1 for c in m.acd.calls() if c.state == "connected")
    )
    assert m.busy == in_progress


def test_agents_who_never_answer_are_set_not_ready_and_come_back() -> None:
    m = center(3, Callers(rate=0.05, hold_s=20.0), channels=30, seed=2, ring=10.0, no_answer=0.5)
    m.run_until(3_000)
    assert m.stats.answered > 50
    assert m.acd.outcomes["answered"] == m.stats.answered


def test_unknown_route_is_refused() -> None:
    acd = ACD([QueueSpec("q", {"s": 1})])
    with pytest.raises(ValueError, match="unknown queues: nope"):
        CenterModel(acd, [], Callers(rate=1, hold_s=1), {"1": "nope"})
