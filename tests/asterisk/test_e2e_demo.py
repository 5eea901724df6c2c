"""``hotline demo --pbx asterisk`` end to end, as a person runs it (a subprocess).

Asterisk starts with the generated configuration in a network namespace of its own; the
test, in the host's namespace like a browser, logs in over REST on the demo's HTTP port
while pjsua2 agents take SIP calls from the carrier trunk; the summary and the database
must show calls answered and ended, no PBX action errors and no softphone errors.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cti.asterisk.provision import Install

pytestmark = pytest.mark.asterisk
PASSWORD = "demo-e2e-pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _login(port: int) -> int:
    body = json.dumps({"agent_id": "90001", "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/login",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert "token" in json.loads(response.read())
        return int(response.status)


def test_demo_on_real_asterisk(asterisk_install: Install, tmp_path: Path) -> None:
    port = _free_port()
    argv = [
        sys.executable, "-m", "cti.cli", "demo", "--pbx", "asterisk", "--json",
        "--duration", "15", "--rate", "30", "--hold", "3", "--answer-delay", "0.5",
        "--http-port", str(port), "--var", str(tmp_path / "var"),
        "--demo-password", PASSWORD,
    ]  # fmt: skip
    demo = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # the console is reachable from the host's namespace while the demo runs
        # (another process's Asterisk from the same chroot makes it wait: up to 300 s)
        deadline = time.monotonic() + 330
        while True:
            try:
                assert _login(port) == 200
                break
            except OSError:
                assert demo.poll() is None, demo.communicate()[1].decode()[-2000:]
                assert time.monotonic() < deadline, "the demo's HTTP port never answered"
                time.sleep(0.5)
        out, err = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:
            demo.terminate()
            demo.wait(30)
    assert demo.returncode == 0, err.decode()[-3000:]
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["pbx"] == "asterisk"
    assert summary["answered"] >= 3 and summary["ended"] >= 1, summary
    assert summary["pbx_action_errors"] == 0 and summary["softphone_errors"] == 0, summary
    with sqlite3.connect(tmp_path / "var" / "hotline.db") as db:
        outcomes = dict(db.execute("SELECT outcome, count(*) FROM call_records GROUP BY outcome"))
    assert outcomes.get("answered", 0) >= 1, outcomes
    # the demo stopped its Asterisk
    state = tmp_path / "var" / "asterisk" / "state"
    status = subprocess.run(
        [sys.executable, "-m", "cti.asterisk.cli", "--state-dir", str(state), "status"],
        capture_output=True,
        check=False,
    )
    assert status.returncode == 3, status.stdout
