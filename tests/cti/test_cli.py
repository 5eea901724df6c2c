"""The hotline command: dispatch, clear errors, the ACD demo and the routing benchmark."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from cti.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_no_command_prints_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: hotline COMMAND" in capsys.readouterr().out


def test_unknown_command_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_config_error_is_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[ami]\nsecret_env = "X"\n[skills]\ns = "x"\n[[queues]]\nname = "q"\n')
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hotline: ")
    assert f"{bad}: queues[0]" in err
    assert "Traceback" not in err


def test_example_config_checks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "test-only")
    assert main(["check-config", str(REPO / "config" / "hotline.toml")]) == 0
    assert "queues 4" in capsys.readouterr().out


def test_demo_runs_the_whole_call_center(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--duration", "8", "--every", "2", "--rate", "40", "--hold", "3"]
    args += ["--answer-delay", "0.3", "--http-port", "0", "--var", str(tmp_path), "--json"]
    assert main(["demo", *args]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["offered"] > 0 and report["queued"] > 0
    assert report["answered"] > 0, report
    assert report["agents"].get("logged_out", 0) == 2  # 80000 (yours) and the supervisor
    assert report["pbx_action_errors"] == 0
    assert (tmp_path / "hotline.db").exists()


def test_demo_on_asterisk_port_in_use_is_one_clear_line_before_asterisk_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the HTTP socket is made first (in the host's namespace): nothing else is started
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["demo", "--pbx", "asterisk", "--http-port", str(port), "--var", str(tmp_path)]
        assert main(args) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on port {port}" in err and "Traceback" not in err
    assert not (tmp_path / "asterisk").exists()


def test_bench_acd_small_run_agrees_with_the_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--agents", "300", "--skills", "20", "--waiting", "100", "--ops", "600"]
    assert main(["bench", "acd", *args, "--baseline-ops", "200", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("decisions_per_s", "p50_us", "p99_us"):
        assert result[key] > 0
        assert result["baseline"][key] > 0
    assert result["same_decisions_as_baseline"] is True
    assert result["waiting_at_start"] >= 100


def test_bench_rejects_nonsense(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["bench", "acd", "--agents", "0"])
    assert info.value.code == 2
    assert "--agents must be at least 1" in capsys.readouterr().err


def test_demo_port_in_use_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["demo", "--http-port", str(port), "--duration", "2", "--var", str(tmp_path)]
        assert main(args) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on port {port}" in err and "Traceback" not in err
