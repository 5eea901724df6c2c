"""``hotline bench supervisor`` runs end to end and reports what the README quotes."""

from __future__ import annotations

import json

import pytest

from cti.bench.supervisor import main


def test_bench_supervisor_reports_round_trips_and_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--calls", "3", "--baseline-calls", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["calls"] == 3
    for figures in (result["barge"]["reply"], result["release"]["call_ended"]):
        assert figures["samples"] == 3
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    # ChanSpy spies 0.1 s after it is entered (pbx_sim, as in transcript 05a).
    assert result["barge"]["chanspy_up"]["p50_ms"] >= 100
    baseline = result["baseline_raw_ami"]
    assert baseline["originate_response"]["samples"] == 2
    assert baseline["chanspy_start"]["p50_ms"] >= 100
    assert result["p99_ms"] == max(result["barge"]["reply"]["p99_ms"],
                                   result["release"]["reply"]["p99_ms"])  # fmt: skip
