"""``hotline agents-sim`` against the real Asterisk: two agent phones register from a
separate process and answer carrier calls by their policy; the JSON summary says so."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from pbx_sim.sip import Softphones

from . import softphone_lab
from .softphone_lab import PORTS, TRUNK_PASSWORD, TRUNK_USER, Ami

pytestmark = pytest.mark.asterisk

sip_asterisk_module = softphone_lab.sip_asterisk_module
sip_asterisk = softphone_lab.sip_asterisk
ami = softphone_lab.ami
phones = softphone_lab.phones


async def test_agents_sim_registers_answers_and_reports(ami: Ami, phones: Softphones) -> None:
    env = {**os.environ, "HOTLINE_AGENTS_SIM_PASSWORD": "Agent{ext}pw"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cti.cli", "agents-sim", "--sip", f"127.0.0.1:{PORTS.sip}",
        "--agents", "3", "--first", "8001", "--answer-delay", "0.2", "--handle-time", "0.6",
        "--spread", "0", "--duration", "8", "--json",
        "--password-env", "HOTLINE_AGENTS_SIM_PASSWORD",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for ext in ("8001", "8002", "8003"):
            await ami.wait_for(
                lambda e, ext=ext: e.event == "ContactStatus" and e["AOR"] == ext, within=15
            )
        trunk = await phones.trunk(TRUNK_USER, TRUNK_PASSWORD)
        outcomes = await asyncio.gather(
            trunk.call("7001", "13800000001", caller_name="客户甲", hold_s=30),
            trunk.call("7002", "13800000002", hold_s=30),
        )
        assert [o.result for o in outcomes] == ["answered", "answered"]
        assert all(o.ended_by == "remote" for o in outcomes)  # the agents hung up
        assert all(0.5 < o.talk_s < 3.0 for o in outcomes), outcomes
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().strip().splitlines()  # nothing but the summary on stdout
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    assert summary["registered"] == 3 and summary["failed"] == {}
    assert (summary["rang"], summary["answered"], summary["hung_up_by_agent"]) == (2, 2, 2)
    assert summary["problems"] == []


async def test_agents_sim_reports_a_wrong_password(sip_asterisk: object) -> None:
    env = {**os.environ, "HOTLINE_AGENTS_SIM_PASSWORD": "wrong"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cti.cli", "agents-sim", "--sip", f"127.0.0.1:{PORTS.sip}",
        "--agents", "1", "--first", "8004", "--duration", "1", "--json",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    assert summary["registered"] == 0
    assert "REGISTER failed: 401" in summary["failed"]["8004"] or "403" in summary["failed"]["8004"]


async def test_trunk_sim_over_sip_fills_the_e1_and_the_rest_get_503(sip_asterisk: object) -> None:
    # 20 calls/s for 3 s, each holding 12 s: about 60 overlap; the E1 carries 30.
    env = {**os.environ, "HOTLINE_TRUNK_SIM_SIP_SECRET": TRUNK_PASSWORD}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cti.cli", "trunk-sim", "--sip", f"127.0.0.1:{PORTS.sip}",
        "--did", "5999", "--rate", "20", "--hold", "12", "--holding", "fixed",
        "--duration", "3", "--seed", "3", "--json",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    report = json.loads(stdout.decode().strip().splitlines()[-1])
    assert report["offered"] > 35, report
    assert report["carried"] == report["answered"] == 30, report
    assert report["blocked"] == report["offered"] - 30, report
    assert report["failed"] == report["abandoned"] == 0, report
    assert report["sip_codes"] == {"200": 30, "503": report["offered"] - 30}
    assert report["erlang_b_blocking"] > 0
    assert report["problems"] == []
