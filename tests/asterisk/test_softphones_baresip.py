"""Interop: Debian's baresip registers as agent 8006 on the real Asterisk and auto-answers
a carrier call placed by the pjsua2 TrunkCaller; AMI shows the agent channel Up and
bridged. baresip comes from apt (``baresip-core``; .ci/run installs it)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbx_sim.sip import Softphones

from . import softphone_lab
from .softphone_lab import PORTS, TRUNK_PASSWORD, TRUNK_USER, Ami, agent_password

pytestmark = pytest.mark.asterisk

sip_asterisk_module = softphone_lab.sip_asterisk_module
sip_asterisk = softphone_lab.sip_asterisk
ami = softphone_lab.ami
phones = softphone_lab.phones

EXTENSION = "8006"
MODULES = "/usr/lib/baresip/modules"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def baresip_config(home: Path, sip_port: int) -> None:
    """A baresip home: SIP on 127.0.0.1 only, no sound card (aubridge is both its player
    and its microphone: ausine would need 48 kHz, and baresip 1.0 does not resample
    G.711's 8 kHz), G.711 only, auto answer."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config").write_text(
        "\n".join(
            [
                "poll_method epoll",
                f"sip_listen 127.0.0.1:{sip_port}",
                "sip_transports udp",
                "call_local_timeout 60",
                "call_max_calls 4",
                "audio_player aubridge,nil",
                "audio_source aubridge,nil",
                "audio_alert aubridge,nil",
                "rtp_ports 31000-31100",
                "net_interface 127.0.0.1",
                f"module_path {MODULES}",
                "module g711.so",
                "module aubridge.so",
                "module_app account.so",
                "module_app menu.so",
                "",
            ]
        ),
        encoding="utf-8",
    )
    password = agent_password(EXTENSION)
    account = (
        f"<sip:{EXTENSION}@127.0.0.1:{PORTS.sip};transport=udp>"
        f";auth_pass={password};answermode=auto;regint=300;audio_codecs=pcmu\n"
    )
    (home / "accounts").write_text(account, encoding="utf-8")
    (home / "accounts").chmod(0o600)
    (home / "contacts").write_text("", encoding="utf-8")


@pytest.fixture
def baresip(ami: Ami, tmp_path: Path) -> Iterator[Path]:
    """baresip running as agent 8006 (started from the main thread: in the namespace),
    after the AMI connection so that its registration is seen there."""
    binary = shutil.which("baresip")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("baresip is required in CI (apt-get install baresip-core)")
        pytest.skip("baresip not installed (apt-get install baresip-core)")
    home = tmp_path / "baresip"
    baresip_config(home, _free_udp_port())
    log = tmp_path / "baresip.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "-f", str(home)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_baresip_agent_registers_and_auto_answers_a_carrier_call(
    baresip: Path, ami: Ami, phones: Softphones
) -> None:
    contact = await ami.wait_for(
        lambda e: e.event == "ContactStatus"
        and e["AOR"] == EXTENSION
        and e["ContactStatus"] in ("Created", "Reachable", "NonQualified"),
        within=10,
    )
    assert "127.0.0.1" in contact["URI"]

    trunk = await phones.trunk(TRUNK_USER, TRUNK_PASSWORD)
    placing = asyncio.create_task(
        trunk.call("7006", "13800138006", caller_name="王五", hold_s=2, answer_timeout_s=15)
    )
    up = await ami.wait_for(
        lambda e: e.event == "Newstate"
        and e["Channel"].startswith(f"PJSIP/{EXTENSION}-")
        and e["ChannelStateDesc"] == "Up",
        within=15,
    )
    bridged = await ami.wait_for(
        lambda e: e.event == "BridgeEnter" and e["Channel"] == up["Channel"], within=10
    )
    assert bridged["ConnectedLineNum"] == "13800138006"
    assert bridged["ConnectedLineName"] == "王五"
    outcome = await asyncio.wait_for(placing, 20)
    assert outcome.result == "answered", (outcome, f"baresip log: {baresip}")
    assert outcome.ended_by == "local"  # the carrier hung up after hold_s; baresip stayed
    assert outcome.talk_s >= 1.9
    await ami.wait_for(
        lambda e: e.event == "Hangup" and e["Channel"] == up["Channel"], within=10
    )
