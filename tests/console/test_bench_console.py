"""``hotline bench console`` runs end to end (small sizes; the figures come from the
full run in the README) and reports what the page received and measured."""

from __future__ import annotations

import json

import pytest

from cti.bench import console

pytestmark = pytest.mark.browser


def test_bench_console_reports_both_renderers(capsys: pytest.CaptureFixture[str]) -> None:
    if not console.os.path.exists(console.CHROMIUM):
        pytest.skip(f"{console.CHROMIUM} is missing")
    sizes = ["--extensions", "60", "--agents", "30", "--rate", "40"]
    code = console.main([*sizes, "--duration", "2", "--baseline-duration", "1.5", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in ("console", "baseline"):
        run = result[name]
        assert run["events_sent"] > 20
        # Every event sent reached the page, and each one's paint was timed.
        assert run["events_received"] == run["events_sent"]
        assert run["event_to_paint_ms"]["n"] >= run["events_sent"] - 2
        assert run["events_painted"] == run["event_to_paint_ms"]["n"]
        # From the server's timestamp: never less than from the browser's arrival.
        assert run["send_to_paint_ms"]["n"] == run["event_to_paint_ms"]["n"]
        assert run["send_to_paint_ms"]["p50"] >= run["event_to_paint_ms"]["p50"] - 1
        assert run["frame_ms"]["n"] > 10
    assert result["console"]["duration_s"] == 2
    assert result["baseline"]["duration_s"] == 1.5
    assert result["console"]["drain_s"] is not None
    assert isinstance(result["met"], bool)
