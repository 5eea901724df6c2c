"""``hotline bench asterisk --knee`` runs, small: SIPp carrier and SIPp agents' phones
on real Asterisk 22 with ``hotline serve`` routing every call (a subprocess, as a
person runs it). Every call placed is answered by an agent through Hotline's queue,
with one record each, RTP flowing both ways; the step's figures are all there. And the
verdict's rules, without Asterisk."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cti.asterisk.provision import Install
from cti.bench.asterisk import parse_steps
from cti.bench.asterisk_knee import failures, static_contacts, verdict


@pytest.mark.asterisk
def test_knee_mode_routes_every_sipp_call_through_hotline(asterisk_install: Install) -> None:
    if shutil.which("sipp") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("sipp is required in CI (apt-get install sip-tester)")
        pytest.skip("sipp not installed (apt-get install sip-tester)")
    argv = [
        sys.executable, "-m", "cti.cli", "bench", "asterisk", "--knee", "3,6",
        "--hold", "2", "--rounds", "2", "--rtp", "--json",
    ]  # fmt: skip
    run = subprocess.run(argv, capture_output=True, timeout=400, check=False)
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    report = json.loads(run.stdout.decode().strip().splitlines()[-1])
    assert report["mode"] == "knee" and report["rtp"] is True
    assert [s["calls_up"] for s in report["steps"]] == [3, 6]
    for step in report["steps"]:
        placed = 2 * step["calls_up"]
        assert step["placed"] == step["completed"] == placed, step
        assert step["setup_failures"] == 0, step
        assert step["entered_queue"] == step["records"] == placed, step
        assert step["answered_by_agents"] == step["agent_phones_completed"] == placed, step
        assert step["lost_records"] == step["duplicated_records"] == 0, step
        assert step["peak_calls_up"] == step["calls_up"], step
        # two streams each way per talking call at 50 packets/s: far above SIP alone
        assert step["udp_datagrams_per_s"] > 50 * step["calls_up"], step
        for key in ("cpu_asterisk_pct", "cpu_hotline_pct", "cpu_sipp_carrier_pct"):
            assert step[key] > 0, (key, step)
        assert step["failing"] == [], step
    assert report["knee_calls_up"] is None and report["bottleneck"] is None


def _step(calls_up: int, **changes: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "calls_up": calls_up, "placed": 100, "answered_by_agents": 100, "setup_failures": 0,
        "lost_records": 0, "duplicated_records": 0, "queue_wait_ms_p99": 50.0,
        "cpu_asterisk_pct": 40.0, "cpu_hotline_pct": 10.0, "machine_busy_pct": 50.0,
    }  # fmt: skip
    step.update(changes)
    step["failing"] = failures(step)
    return step


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"setup_failures": 2}, "setup failures"),
        ({"answered_by_agents": 98}, "unanswered calls"),
        ({"lost_records": 1}, "records lost or duplicated"),
        ({"duplicated_records": 1}, "records lost or duplicated"),
        ({"queue_wait_ms_p99": 1500.0}, "queue wait p99 over 1000 ms with agents idle"),
    ],
)
def test_a_step_fails_for_each_reason(changes: dict[str, Any], reason: str) -> None:
    assert _step(30)["failing"] == []
    assert _step(30, **changes)["failing"] == [reason]


def test_the_verdict_names_the_busier_process_or_the_machine() -> None:
    ok, slow = _step(30), _step(60, queue_wait_ms_p99=2000.0)
    assert verdict([ok], 2) == {"knee_calls_up": None, "bottleneck": None, "cores": 2}
    assert verdict([ok, slow], 2)["knee_calls_up"] == 60
    assert verdict([ok, slow], 2)["bottleneck"] == "asterisk"
    hotline = _step(60, setup_failures=5, cpu_hotline_pct=90.0)
    assert verdict([hotline], 2)["bottleneck"] == "hotline"
    full = _step(60, setup_failures=5, machine_busy_pct=97.0)
    assert verdict([full], 2)["bottleneck"] == "machine"


@pytest.mark.parametrize("text", ["", "30,", "a", "60,30", "30,30", "0,30"])
def test_bad_steps_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_steps(text)
    assert parse_steps("30,60,120") == [30, 60, 120]


def test_agents_get_static_contacts_at_the_sipp_phones(tmp_path: Path) -> None:
    conf = tmp_path / "pjsip.conf"
    conf.write_text("[8001](aor-common)\n\n[8002](aor-common)\n")
    static_contacts(conf, ["8001", "8002"], 16070)
    text = conf.read_text()
    assert "[8001](aor-common)\ncontact=sip:8001@127.0.0.1:16070\n" in text
    assert "[8002](aor-common)\ncontact=sip:8002@127.0.0.1:16070\n" in text
    with pytest.raises(ValueError, match="no AOR section for 8003"):
        static_contacts(conf, ["8003"], 16070)
