"""A short run of the load benchmark (the real figures come from a 50 s run: see
docs/pbx_sim.md)."""

from __future__ import annotations

import json

import pytest

from pbx_sim import bench_load


def test_bench_load_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--rate", "20", "--ramp", "0.5", "--hold", "1.5", "--handle-time", "0.5"]
    argv += ["--answer-delay", "0.2", "--wait", "0.1", "--agents", "40", "--no-pin", "--json"]
    assert bench_load.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["calls_placed"] >= 25
    assert result["calls_blocked"] == 0
    assert result["calls_left"] == 0
    assert result["calls_redirected"] >= 20
    assert result["events_received"] > 40 * result["calls_redirected"]
    assert not result["subscriber_dropped"]
