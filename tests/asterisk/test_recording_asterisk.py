"""Recording on a real Asterisk 22: the recorder's core drives MixMonitor over AMI.

A Dial pair of Local channels stands for a caller and an agent's phone leg; the agent's
side plays a prompt so that audio flows. :class:`recorder.core.Recorder` decides to
record on "answer", sends ``MixMonitor`` with a ``File`` under the chroot's monitor
spool (the ``recording.pbx_dir`` mapping), pauses and resumes with ``MixMonitorMute``,
then the agent's leg hangs up. The core must follow Asterisk's own events to
started → paused → resumed → stopped, and the file Asterisk wrote, read through the
chroot from outside (``store.recordings_dir``), must settle, hash and give its duration
as recorder/service.py expects.
"""

from __future__ import annotations

import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import pytest

from cti.ami.codec import AMIDecoder, Message, encode_action
from cti.asterisk.instance import AsteriskInstance
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import Install
from cti.center.effects import PbxAction, Publish
from recorder import files
from recorder.core import Closed, Recorder
from recorder.policy import Mode, QueuePolicy, RecordingConfig

from .conftest import AMI_SECRET, AMI_USER, LAB_CONFIG, LAB_PORTS

pytestmark = pytest.mark.asterisk

RECORD_LAB = """
[reclab]
exten => caller,1,Answer()
 same => n,Dial(Local/agent@reclab/n)
 same => n,Hangup()
exten => agent,1,Answer()
 same => n,Playback(tt-monkeys)
 same => n,Wait(600)
 same => n,Hangup()
"""
CONFIG = RecordingConfig(queues=MappingProxyType({"fault": QueuePolicy(Mode.ALWAYS)}))


@pytest.fixture(scope="module")
def record_lab(
    asterisk_install: Install,
    asterisk_netns: PrivateNetns,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AsteriskInstance, Install]]:
    config_dir = tmp_path_factory.mktemp("record-lab") / "config"
    shutil.copytree(LAB_CONFIG, config_dir)
    extensions = config_dir / "extensions.conf"
    extensions.write_text(extensions.read_text(encoding="utf-8") + RECORD_LAB, encoding="utf-8")
    instance = AsteriskInstance(
        asterisk_install,
        config_dir,
        LAB_PORTS,
        state_dir=tmp_path_factory.mktemp("record-state"),
    )
    instance.start()
    try:
        yield instance, asterisk_install
    finally:
        instance.stop()


class Ami:
    def __init__(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", LAB_PORTS.ami), timeout=5)
        self.sock.settimeout(0.05)
        self.decoder = AMIDecoder("client")
        self.events: list[Message] = []
        self.n = 0

    def wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            self.decoder.feed(data)
            self.events.extend(self.decoder.messages())

    def send(self, action: str, headers: tuple[tuple[str, str], ...]) -> Message:
        self.n += 1
        action_id = f"r{self.n}"
        self.sock.sendall(encode_action(action, action_id, headers))
        for _ in range(100):
            self.wait(0.05)
            for msg in self.events:
                if msg.response is not None and msg.get("ActionID") == action_id:
                    return msg
        raise AssertionError(f"no answer to {action}")

    def run(self, action: PbxAction) -> Message:
        return self.send(action.name, action.headers)


def test_mixmonitor_life_on_real_asterisk(record_lab: tuple[AsteriskInstance, Install]) -> None:
    _instance, install = record_lab
    root = install.root if install.kind == "chroot" else Path("/")
    pbx_dir = f"/var/spool/asterisk/monitor/hotline-test-{uuid.uuid4().hex[:8]}"
    local_dir = root / pbx_dir.lstrip("/")  # store.recordings_dir, seen from outside
    recorder = Recorder(CONFIG, pbx_dir)
    ami = Ami()
    try:
        assert ami.send("Login", (("Username", AMI_USER), ("Secret", AMI_SECRET))).response == (
            "Success"
        )
        ami.send(
            "Originate",
            (("Channel", "Local/caller@reclab/n"), ("Application", "Wait"), ("Data", "600"),
             ("Async", "true")),
        )  # fmt: skip
        ami.wait(1.0)
        names = [e["Channel"] for e in ami.events if e.event == "Newchannel"]
        agent = next(n for n in names if n.startswith("Local/agent@reclab-") and n.endswith(";1"))
        ami.events.clear()

        outputs: list[object] = []
        fed = 0

        def pump(seconds: float) -> None:
            nonlocal fed
            ami.wait(seconds)
            for e in ami.events[fed:]:
                outputs.extend(recorder.on_event(e, time.time()))
            fed = len(ami.events)

        [start] = recorder.answered("call-1", "80001", agent, "0215550101", "fault", time.time())
        reply = ami.run(start)
        assert reply.response == "Success", reply
        pump(0.8)
        [pause], _ = recorder.command("call.record_pause", "call-1", "80001", agent, time.time())
        assert ami.run(pause).response == "Success"
        pump(0.6)
        [resume], _ = recorder.command("call.record_resume", "call-1", "80001", agent, time.time())
        assert ami.run(resume).response == "Success"
        pump(0.6)
        ami.send("Hangup", (("Channel", agent), ("Cause", "16")))
        pump(1.0)
        ami.send("Hangup", (("Channel", "/^Local/.*reclab/"),))
        events = list(ami.events)
    finally:
        ami.sock.close()

    states = [o.data["state"] for o in outputs if isinstance(o, Publish)]
    assert states == ["started", "paused", "resumed", "stopped"], states
    [closed] = [o for o in outputs if isinstance(o, Closed)]
    rec = closed.recording
    assert rec.pbx_file.startswith(pbx_dir + "/")
    filename_set = [
        e for e in events if e.event == "VarSet" and e.get("Variable") == "MIXMONITOR_FILENAME"
    ]
    assert filename_set and filename_set[0]["Value"] == rec.pbx_file

    path = local_dir / rec.path
    st = files.settle(str(path), interval_s=0.2, timeout_s=10)
    assert st is not None, f"Asterisk wrote no {path}"
    check = files.check_file(
        str(path), expected_size=None, expected_sha256=None, verified_key=None, full=True
    )
    assert check.status == "ok" and check.sha256 is not None
    assert check.duration_s is not None and 1.0 < check.duration_s < 4.0, check
    assert path.read_bytes()[:4] == b"RIFF"
    shutil.rmtree(local_dir, ignore_errors=True)
