"""A policy recording started by the dialplan on a real Asterisk 22, with the AMI user of
the generated manager.conf (``write = call,originate,reporting``: no ``system``).

Asterisk runs the generated extensions.conf (so the shipped [hotline-record] routine)
plus a lab copy of [agent-dial] whose Dial, with the shipped options, rings a Local
channel instead of a SIP phone. As Hotline does: ``Setvar HOTLINE_RECORD`` on the waiting
caller (the recorder core's ``offered``), then ``Redirect`` to that [agent-dial]; on the
answer (``DialEnd ANSWER``) the core's ``answered`` sends nothing, and the recording
must start anyway from Dial's ``U()`` on the agent's leg. Pause and resume go over AMI
(``MixMonitorMute``, class call). The file Asterisk wrote, read from outside the chroot,
must be indexed complete by :class:`recorder.service.RecordingService` with its SHA-256.
The premise is checked too: this user's ``MixMonitor`` action is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from cti.asterisk.genconf import Options, endpoints, generate
from cti.asterisk.instance import AsteriskInstance
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import Install
from cti.center.effects import Publish
from cti.config import Config, demo_config
from cti.store import Store
from recorder.core import RECORD_VARIABLE, Closed, Output, Recorder
from recorder.index import RecordingRow, SearchFilter
from recorder.policy import Mode, QueuePolicy, RecordingConfig
from recorder.service import RecordingService

from .conftest import LAB_CONFIG, LAB_PORTS
from .test_recording_asterisk import Ami

pytestmark = pytest.mark.asterisk

SECRET = "dialplan-rec-secret"
LAB_CONTEXTS = """
; --- test lab: a caller waiting like in [hotline-wait], an agent's "phone" that answers
[reclab-dp]
exten => caller,1,Answer()
 same => n,Wait(600)
 same => n,Hangup()
exten => agent,1,Answer()
 same => n,Playback(tt-monkeys)
 same => n,Wait(600)
 same => n,Hangup()
"""
RECORDING = RecordingConfig(
    queues=MappingProxyType({"fault": QueuePolicy(Mode.ALWAYS)}),
    settle_s=0.2,
    settle_timeout_s=10.0,
)


def lab_agent_dial(extensions: str) -> str:
    """The generated [agent-dial], renamed, ringing the lab's Local "phone"."""
    m = re.search(r"^\[agent-dial\]\n(.*?)(?=^\[|\Z)", extensions, re.M | re.S)
    assert m is not None, "no [agent-dial] in the generated extensions.conf"
    body = m.group(1)
    assert "U(hotline-record^${HOTLINE_RECORD})" in body
    assert "PJSIP/${EXTEN}," in body
    return "[agent-dial-lab]\n" + body.replace("PJSIP/${EXTEN},", "Local/agent@reclab-dp/n,")


@pytest.fixture(scope="module")
def generated_lab(
    asterisk_install: Install,
    asterisk_netns: PrivateNetns,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AsteriskInstance, Install, Config]]:
    config = demo_config(ami_secret=SECRET)
    passwords = {name: f"pw-{name}" for name in endpoints(config)}
    files = generate(config, passwords, Options(ami_port=LAB_PORTS.ami))
    manager = files["manager.conf"]
    assert "write = call,originate,reporting" in manager  # the point of this test
    config_dir = tmp_path_factory.mktemp("record-dialplan-lab") / "config"
    shutil.copytree(LAB_CONFIG, config_dir)
    (config_dir / "manager.conf").write_text(manager, encoding="utf-8")
    extensions = files["extensions.conf"]
    text = extensions + LAB_CONTEXTS + "\n" + lab_agent_dial(extensions)
    (config_dir / "extensions.conf").write_text(text, encoding="utf-8")
    instance = AsteriskInstance(
        asterisk_install,
        config_dir,
        LAB_PORTS,
        state_dir=tmp_path_factory.mktemp("record-dialplan-state"),
    )
    instance.start()
    try:
        yield instance, asterisk_install, config
    finally:
        instance.stop()


def test_policy_recording_starts_from_the_dialplan_without_system(
    generated_lab: tuple[AsteriskInstance, Install, Config], tmp_path: Path
) -> None:
    _instance, install, config = generated_lab
    root = install.root if install.kind == "chroot" else Path("/")
    pbx_dir = f"/var/spool/asterisk/monitor/hotline-dp-{uuid.uuid4().hex[:8]}"
    local_dir = root / pbx_dir.lstrip("/")  # store.recordings_dir, seen from outside
    outputs: list[Output] = []
    recorder = Recorder(RECORDING, pbx_dir, on_output=outputs.extend)
    ami = Ami()
    try:
        login = ami.send("Login", (("Username", config.ami.username), ("Secret", SECRET)))
        assert login.response == "Success", login
        refused = ami.send("MixMonitor", (("Channel", "Local/none"), ("File", "x.wav")))
        assert (refused.response, refused.get("Message")) == ("Error", "Permission denied")

        ami.send(
            "Originate",
            (("Channel", "Local/caller@reclab-dp/n"), ("Application", "Wait"), ("Data", "600"),
             ("Async", "true")),
        )  # fmt: skip
        ami.wait(1.0)
        names = [e["Channel"] for e in ami.events if e.event == "Newchannel"]
        caller = next(
            n for n in names if n.startswith("Local/caller@reclab-dp-") and n[-2:] == ";2"
        )
        ami.events.clear()
        fed = 0

        agent = ""

        def pump(seconds: float) -> None:
            # In arrival order, as the center does: the answer (DialEnd ANSWER, which
            # the center turns into Recorder.answered) before what follows it.
            nonlocal fed, agent
            ami.wait(seconds)
            for e in ami.events[fed:]:
                if e.event == "DialEnd" and e.get("DialStatus") == "ANSWER" and not agent:
                    agent = e["DestChannel"]
                    now = time.time()
                    assert recorder.answered("call-1", "80001", agent, "021", "fault", now) == []
                outputs.extend(recorder.on_event(e, time.time()))
            fed = len(ami.events)

        [setvar] = recorder.offered("call-1", caller, "fault", time.time())
        assert dict(setvar.headers)["Variable"] == RECORD_VARIABLE
        assert ami.run(setvar).response == "Success"  # class call
        redirect = (("Channel", caller), ("Context", "agent-dial-lab"), ("Exten", "8001"),
                    ("Priority", "1"))  # fmt: skip
        assert ami.send("Redirect", redirect).response == "Success"
        for _ in range(40):
            pump(0.1)
            if agent:
                break
        assert agent, "the lab agent never answered"
        pump(1.0)
        assert recorder.state_of("call-1") == "recording", [
            (e.event, e.get("Channel"), e.get("Context"), e.get("Application"), e.get("AppData"))
            for e in ami.events
            if e.event in ("Newexten", "MixMonitorStart", "DialBegin", "DialEnd", "Hangup")
        ]
        [pause], _ = recorder.command("call.record_pause", "call-1", "80001", agent, time.time())
        assert ami.run(pause).response == "Success"
        pump(0.6)
        [resume], _ = recorder.command("call.record_resume", "call-1", "80001", agent, time.time())
        assert ami.run(resume).response == "Success"
        pump(0.6)
        ami.send("Hangup", (("Channel", agent), ("Cause", "16")))
        pump(1.0)
        ami.send("Hangup", (("Channel", "/^Local/.*reclab-dp/"),))
        events = list(ami.events)
    finally:
        ami.sock.close()

    states = [o.data["state"] for o in outputs if isinstance(o, Publish)]
    assert states == ["started", "paused", "resumed", "stopped"], states
    starts = [e for e in events if e.event == "MixMonitorStart"]
    assert [e["Channel"] for e in starts] == [agent]  # the agent's leg, from U()
    [closed] = [o for o in outputs if isinstance(o, Closed)]
    rec = closed.recording
    assert rec.by_dialplan and rec.recording_id == "call-1-r1"
    assert rec.pbx_file == f"{pbx_dir}/{rec.path}"

    row, digest = asyncio.run(index_it(outputs, local_dir, tmp_path))
    assert row.state == "complete", row
    assert row.path == rec.path
    assert row.sha256 == digest
    assert row.duration_s is not None and 1.0 < row.duration_s < 4.0, row
    assert 0.3 < row.paused_s < 1.2, row
    shutil.rmtree(local_dir, ignore_errors=True)


async def index_it(
    outputs: list[Output], local_dir: Path, tmp_path: Path
) -> tuple[RecordingRow, str]:
    """The recorder service indexes what the core reported: Opened, then Closed."""
    config = demo_config(ami_secret=SECRET)
    config = replace(
        config, store=replace(config.store, recordings_dir=local_dir), recording=RECORDING
    )
    store = await Store.open(tmp_path / "hotline.db")
    try:
        service = RecordingService(config, store, run=lambda effects: None)
        service.handle([o for o in outputs if not isinstance(o, Closed)])
        await service.drain()
        service.handle([o for o in outputs if isinstance(o, Closed)])
        await service.drain(30)
        [row] = await service.index.search(SearchFilter(call_id="call-1"))
        [closed] = [o for o in outputs if isinstance(o, Closed)]
        digest = hashlib.sha256((local_dir / closed.recording.path).read_bytes()).hexdigest()
        return row, digest
    finally:
        await store.close()
