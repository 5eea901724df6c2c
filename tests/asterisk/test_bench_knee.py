"""``hotline bench asterisk --knee`` runs, small: SIPp carrier and SIPp agents' phones
on real Asterisk 22 with ``hotline serve`` routing every call (a subprocess, as a
person runs it). Every call placed is answered by an agent through Hotline's queue,
with one record each, RTP flowing both ways; the step's figures are all there."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cti.asterisk.provision import Install

pytestmark = pytest.mark.asterisk


def test_knee_mode_routes_every_sipp_call_through_hotline(asterisk_install: Install) -> None:
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
    assert report["knee_calls_up"] is None and report["bottleneck"] is None
