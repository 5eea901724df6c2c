"""``hotline asterisk up|status|rx|down|exec`` against the real Asterisk, from the
private network namespace of the test module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cti.asterisk.cli import main
from cti.asterisk.instance import pid_alive
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import Install

from .conftest import LAB_CONFIG

pytestmark = pytest.mark.asterisk


def hotline(*args: str) -> subprocess.CompletedProcess[str]:
    """``hotline asterisk ARGS`` in another process."""
    return run([sys.executable, "-m", "cti.asterisk.cli", *args])


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_up_status_rx_down_on_other_ports(
    asterisk_install: Install,
    asterisk_netns: PrivateNetns,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = ["--state-dir", str(tmp_path)]
    up = ["up", "--config-dir", str(LAB_CONFIG), "--ami-port", "25038", "--sip-port", "25060"]
    try:
        assert main([*state, *up]) == 0
        out = capsys.readouterr().out
        assert "AMI set to 127.0.0.1:25038" in out
        assert "AMI ready" in out
        # another process (the state file carries PID and ports)
        status = hotline(*state, "status")
        assert status.returncode == 0, status.stderr
        assert "AMI 127.0.0.1:25038" in status.stdout and "AMI answering" in status.stdout
        assert main([*state, *up]) == 2  # already running: one clear line
        assert "already running" in capsys.readouterr().err
        assert main([*state, "rx", "pjsip", "show", "transports"]) == 0
        assert "127.0.0.1:25060" in capsys.readouterr().out
    finally:
        down = hotline(*state, "down")
    assert down.returncode == 0 and "stopped by SIGTERM" in down.stdout
    assert main([*state, "status"]) == 3
    assert capsys.readouterr().out.strip() == "down"


def test_isolated_up_has_its_own_namespace(
    asterisk_install: Install, asterisk_netns: PrivateNetns, tmp_path: Path
) -> None:
    state = ["--state-dir", str(tmp_path)]
    started = hotline(*state, "up", "--isolated")
    assert started.returncode == 0, started.stderr
    try:
        status = hotline(*state, "status")
        assert "netns private" in status.stdout and "AMI answering" in status.stdout
        pid = int(status.stdout.split("PID ")[1].split(",")[0])
        assert pid_alive(pid)
        # the AMI port is not in the test's namespace ...
        here = run(["cat", "/proc/thread-self/net/tcp"])
        assert ":3ABE " not in here.stdout  # 15038 = 0x3ABE
        # ... but in Asterisk's, where `exec` runs a command
        there = hotline(*state, "exec", "--", "cat", "/proc/thread-self/net/tcp")
        assert there.returncode == 0, there.stderr
        assert "0100007F:3ABE" in there.stdout  # 127.0.0.1:15038 listening
    finally:
        hotline(*state, "down")
