"""The IVR's closed-hours voicemail on a real Asterisk 22: the hours node says closed,
the message plays, Hotline's FastAGI server runs ``EXEC VoiceMail 100@after-hours,s``,
app_voicemail (curated in, with the generated voicemail.conf) records what the caller
sends until ``#`` or the caller hangs up, and the message is in the mailbox's spool.

The caller's side is the carrier's Local ``;1`` half running Milliwatt: a tone, so that
there is audio to record (a silent Local channel sends no frames at all). The spool is
this stack's own directory, bind mounted as the chroot's /var/spool/asterisk/voicemail.
"""

from __future__ import annotations

import asyncio
import re
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.ami.codec import Message
from cti.asterisk.instance import Ports
from cti.asterisk.stack import CarrierCall, GeneratedAsterisk
from cti.config import Config, parse_config
from cti.link import AMILink
from cti.store.models import CallRecord
from tests.asterisk.hotline_rig import Hotline, generated_asterisk, hotline_on
from tests.asterisk.test_e2e_asterisk import E2E_TOML

pytestmark = pytest.mark.asterisk

AMI_SECRET = "vm-ami-secret"
PASSWORD = "pw-vm"
PORTS = Ports(ami=15638, sip=15660)
AGI_PORT = 14873
BOX = "100@after-hours"
SPEAKS_S = 2.0  # how long the caller talks after the beep

CLOSED_TOML = """
[ivr]
entry = "open-check"
timezone = "UTC"
[ivr.prompts]
closed = "vm-nobodyavail"
[ivr.hours]
mon = "closed"
tue = "closed"
wed = "closed"
thu = "closed"
fri = "closed"
sat = "closed"
sun = "closed"
holidays = []
[ivr.nodes.open-check]
type = "hours"
open = "general"
closed = "closed"
[ivr.nodes.closed]
type = "message"
prompt = "closed"
next = "leave-message"
[ivr.nodes.leave-message]
type = "voicemail"
box = "100@after-hours"
[ivr.nodes.general]
type = "queue"
queue = "general"
"""


def closed_config() -> Config:
    toml = E2E_TOML.replace("port = 15038", f"port = {PORTS.ami}") + CLOSED_TOML
    return parse_config(tomllib.loads(toml), "<vm e2e>", env={"HOTLINE_AMI_SECRET": AMI_SECRET})


generated = generated_asterisk(closed_config, "vm-asterisk", ports=PORTS, agi_port=AGI_PORT)


@pytest.fixture
async def rig(generated: GeneratedAsterisk, tmp_path: Path) -> AsyncIterator[Hotline]:
    async with hotline_on(generated, tmp_path / "hotline.db", PASSWORD, agi_port=AGI_PORT) as rig:
        yield rig


class Watch:
    """The AMI events of one carrier call's dialplan half (``;2``)."""

    def __init__(self, link: AMILink) -> None:
        self.events: list[Message] = []
        self.channel = ""
        link.register_event("*", lambda _link, event: self.events.append(event))

    def of_call(self, call: CarrierCall) -> None:
        assert call.channel is not None and call.channel.endswith(";1"), call
        self.channel = call.channel[:-1] + "2"

    def vmstatus(self) -> list[str]:
        return [
            e.get("Value") or ""
            for e in self.events
            if e.get("Event") == "VarSet"
            and e.get("Channel") == self.channel
            and e.get("Variable") == "VMSTATUS"
        ]

    async def hung_up(self, within: float) -> None:
        deadline = time.monotonic() + within
        while not any(
            e.get("Event") == "Hangup" and e.get("Channel") == self.channel for e in self.events
        ):
            assert time.monotonic() < deadline, f"{self.channel} still up after {within} s"
            await asyncio.sleep(0.05)


async def _record(rig: Hotline, within: float) -> CallRecord:
    deadline = time.monotonic() + within
    while not (records := await rig.store.query_calls()):
        assert time.monotonic() < deadline, "no call record"
        await asyncio.sleep(0.1)
    (record,) = records
    return record


def _message_of(generated: GeneratedAsterisk, number: str) -> tuple[Path, dict[str, str]]:
    """The one message in the box from ``number``: its WAV file and its .txt metadata."""
    found = []
    for txt in sorted(generated.mailbox_dir(BOX).glob("msg*.txt")):
        meta = dict(re.findall(r"^(\w+)=(.*)$", txt.read_text(encoding="utf-8"), re.M))
        if number in meta.get("callerid", ""):
            found.append((txt.with_suffix(".wav"), meta))
    assert len(found) == 1, (number, found, list(generated.mailbox_dir(BOX).iterdir()))
    return found[0]


async def _leave_message(
    rig: Hotline, generated: GeneratedAsterisk, number: str, *, end: str
) -> tuple[CallRecord, Watch]:
    watch = Watch(rig.carrier.link)
    call = await rig.carrier.call("4000", number, "After Hours", speaks=True)
    assert call.admitted, call
    watch.of_call(call)
    # the record exists before VoiceMail starts (docs/ivr.md), as on pbx_sim
    record = await _record(rig, within=10)
    # vm-nobodyavail has played; "s": no instructions, then the beep and the recording
    await asyncio.sleep(1.0 + SPEAKS_S)
    assert watch.vmstatus() == [], "VoiceMail ended before the caller did"
    if end == "#":
        await rig.carrier.press(call, "#")
    else:
        await rig.carrier.hang_up(call)
    await watch.hung_up(within=10)  # after '#', Hotline's HANGUP ends the call
    return record, watch


def _check_record(record: CallRecord, number: str) -> None:
    assert record.outcome == "fallback" and record.cause == "ivr_voicemail"
    assert record.caller_number == number
    assert record.ivr_path == ("open-check:closed", "closed:played", f"voicemail:{BOX}")


def _check_message(generated: GeneratedAsterisk, number: str) -> None:
    wav, meta = _message_of(generated, number)
    # 8 kHz 16-bit WAV: the caller's seconds of tone, less the beep
    assert wav.stat().st_size > 44 + 16_000 * (SPEAKS_S - 1.0), wav.stat().st_size
    assert meta["origmailbox"] == "100" and int(meta["duration"]) >= 1, meta
    assert meta["context"] == "from-trunk", meta  # the dialplan context VoiceMail ran in


async def test_closed_hours_caller_leaves_a_message_and_presses_hash(
    rig: Hotline, generated: GeneratedAsterisk
) -> None:
    assert rig.server.ivr is not None
    # the generated voicemail.conf: the flow's mailbox, in the context its box names
    users = generated.instance.rx("voicemail show users for after-hours")
    assert re.search(r"^after-hours\s+100\s", users, re.M), users
    number = "0215550190"
    record, watch = await _leave_message(rig, generated, number, end="#")
    _check_record(record, number)
    assert watch.vmstatus()[-1:] == ["SUCCESS"], watch.vmstatus()
    _check_message(generated, number)
    assert rig.server.ivr.stats["errors"] == 0


async def test_closed_hours_caller_hangs_up_after_the_message(
    rig: Hotline, generated: GeneratedAsterisk
) -> None:
    number = "0215550191"
    record, watch = await _leave_message(rig, generated, number, end="hangup")
    _check_record(record, number)
    assert watch.vmstatus()[-1:] == ["SUCCESS"], watch.vmstatus()
    _check_message(generated, number)
