"""``hotline demo --pbx asterisk`` end to end, as a person runs it (a subprocess).

Asterisk starts with the generated configuration in a network namespace of its own; the
test, in the host's namespace like a browser, logs in over REST on the demo's HTTP port
while pjsua2 agents take SIP calls from the carrier trunk; the summary and the database
must show calls answered and ended, no PBX action errors and no softphone errors. A call
of the fault queue (policy ``always``; with the default seed the third and sixth callers
dial it) or of inquiry (20 %) is recorded by Asterisk's MixMonitor inside the chroot into the demo's
``var/recordings`` (mounted there): the REST API indexes and serves that very file.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cti.asterisk.provision import Install

pytestmark = pytest.mark.asterisk
PASSWORD = "demo-e2e-pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _login(port: int) -> str:
    body = json.dumps({"agent_id": "90001", "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/login",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        return str(json.loads(response.read())["token"])


def _get(port: int, path: str, token: str) -> bytes:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200, path
        return bytes(response.read())


def _first_complete_recording(port: int, token: str, demo: subprocess.Popen[bytes]) -> Any:
    """Poll the REST search while the demo runs, until a recording is complete."""
    while demo.poll() is None:
        try:
            found = json.loads(_get(port, "/api/recordings?state=complete", token))
        except OSError:
            continue  # the demo is ending: poll() says so next
        if found:
            return found[0]
        time.sleep(0.5)
    raise AssertionError("the demo ended before any recording was complete")


def test_demo_on_real_asterisk(asterisk_install: Install, tmp_path: Path) -> None:
    port = _free_port()
    argv = [
        sys.executable, "-m", "cti.cli", "demo", "--pbx", "asterisk", "--json",
        "--duration", "20", "--rate", "30", "--hold", "3", "--answer-delay", "0.5",
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
                token = _login(port)
                break
            except OSError:
                assert demo.poll() is None, demo.communicate()[1].decode()[-2000:]
                assert time.monotonic() < deadline, "the demo's HTTP port never answered"
                time.sleep(0.5)
        recording = _first_complete_recording(port, token, demo)
        audio = _get(port, recording["url"], token)
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
    # Asterisk's file, read through the mount: the one indexed and served
    # recorded by policy: fault always, inquiry 20 % (complaint only on an agent's demand)
    assert recording["queue"] in ("fault", "inquiry"), recording
    assert recording["duration_s"] > 0.5 and not recording["on_demand"], recording
    on_disk = tmp_path / "var" / "recordings" / recording["file"]
    assert audio[:4] == b"RIFF" and audio == on_disk.read_bytes()
    assert hashlib.sha256(audio).hexdigest() == recording["sha256"]
    # the demo stopped its Asterisk
    state = tmp_path / "var" / "asterisk" / "state"
    status = subprocess.run(
        [sys.executable, "-m", "cti.asterisk.cli", "--state-dir", str(state), "status"],
        capture_output=True,
        check=False,
    )
    assert status.returncode == 3, status.stdout
