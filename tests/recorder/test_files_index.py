"""Recording files (ranges, checks, durations) and the index on a real SQLite file."""

from __future__ import annotations

import hashlib
import os
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from cti.config import demo_config
from cti.store import Store
from recorder import files
from recorder.core import Recording, State, day_path
from recorder.index import RecordingIndex, SearchFilter
from recorder.policy import Mode, QueuePolicy, RecordingConfig
from recorder.retention import purge
from recorder.service import RecordingService

DAY = 86400.0
T0 = 1_795_300_000.0

# ------------------------------------------------------------------------ byte ranges


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=5-5", (5, 5)),
        ("bytes=0-1,5-9", None),  # several ranges: the whole file (allowed by RFC 9110)
        ("items=0-9", None),  # another unit: ignored
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert files.parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=9-5", "bytes=-0",
                                    "bytes=-", "bytes=abc"])  # fmt: skip
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(files.RangeNotSatisfiable):
        files.parse_range(header, 1000)


def test_empty_file_has_no_satisfiable_range() -> None:
    with pytest.raises(files.RangeNotSatisfiable):
        files.parse_range("bytes=0-", 0)


# ------------------------------------------------------------------------ file checks


def write_wav(path: Path, seconds: float) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x02" * int(8000 * seconds))
    return path.read_bytes()


def test_check_file(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    data = write_wav(path, 1.5)
    digest = hashlib.sha256(data).hexdigest()
    first = files.check_file(
        str(path), expected_size=None, expected_sha256=None, verified_key=None, full=True
    )
    assert first.status == "ok" and first.sha256 == digest and first.size == len(data)
    assert first.duration_s == pytest.approx(1.5)
    # Unchanged since the last full check: no hashing.
    cheap = files.check_file(
        str(path), expected_size=len(data), expected_sha256=digest, verified_key=first.key,
        full=False,
    )  # fmt: skip
    assert cheap.status == "ok" and cheap.sha256 is None
    # Changed in place, same size: the identity changed, so it is hashed and caught.
    flipped = bytearray(data)
    flipped[100] ^= 1
    path.write_bytes(bytes(flipped))
    bad = files.check_file(
        str(path), expected_size=len(data), expected_sha256=digest, verified_key=first.key,
        full=False,
    )  # fmt: skip
    assert bad.status == "corrupt" and "SHA-256" in bad.reason
    path.write_bytes(data[:-2])
    short = files.check_file(
        str(path), expected_size=len(data), expected_sha256=digest, verified_key=None, full=True
    )
    assert short.status == "corrupt" and "size" in short.reason
    path.unlink()
    gone = files.check_file(
        str(path), expected_size=len(data), expected_sha256=digest, verified_key=None, full=True
    )
    assert gone.status == "missing"


def test_wav_duration_of_a_header_not_yet_fixed(tmp_path: Path) -> None:
    path = tmp_path / "open.wav"
    data = bytearray(write_wav(path, 2.0))
    data[40:44] = b"\0\0\0\0"  # Asterisk fixes the data length only when it closes
    path.write_bytes(bytes(data))
    fd = os.open(path, os.O_RDONLY)
    try:
        assert files.wav_duration(fd, len(data)) == pytest.approx(2.0)
    finally:
        os.close(fd)
    (tmp_path / "x.wav").write_bytes(b"not audio")
    fd = os.open(tmp_path / "x.wav", os.O_RDONLY)
    try:
        assert files.wav_duration(fd, 9) is None
    finally:
        os.close(fd)


def test_settle_waits_for_the_file(tmp_path: Path) -> None:
    path = tmp_path / "late.wav"
    began = time.monotonic()
    assert files.settle(str(path), interval_s=0.01, timeout_s=0.1) is None
    assert time.monotonic() - began >= 0.1
    path.write_bytes(b"x" * 10)
    st = files.settle(str(path), interval_s=0.01, timeout_s=1)
    assert st is not None and st.st_size == 10


# ------------------------------------------------------------------------ the index


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[RecordingIndex]:
    store = await Store.open(tmp_path / "h.db")
    try:
        yield RecordingIndex(store)
    finally:
        await store.close()


def recording(n: int, agent: str, caller: str, queue: str, started: float) -> Recording:
    rid = f"call{n}-r1"
    return Recording(
        recording_id=rid,
        call_id=f"call{n}",
        agent_id=agent,
        caller=caller,
        queue=queue,
        channel=f"PJSIP/{agent}-{n}",
        path=day_path(rid, started, "wav"),
        pbx_file="",
        on_demand=False,
        requested_at=started,
        state=State.STOPPED,
        started_at=started,
        ended_at=started + 60,
    )


async def fill(index: RecordingIndex) -> list[Recording]:
    recs = [
        recording(1, "80001", "0215550101", "fault", T0),
        recording(2, "80001", "13800138000", "fault", T0 + DAY),
        recording(3, "80002", "0215550101", "complaint", T0 + 2 * DAY),
        recording(4, "80002", "13900139000", "general", T0 + 40 * DAY),
    ]
    for r in recs:
        await index.opened(r, r.started_at or 0)
        await index.completed(
            r, size=100, sha256="ab" * 32, duration_s=60.0, verified_key="k", now=T0
        )
    return recs


async def ids(index: RecordingIndex, **f: object) -> list[str]:
    return [r.id for r in await index.search(SearchFilter(**f))]  # type: ignore[arg-type]


async def test_search_filters_and_paging(index: RecordingIndex) -> None:
    await fill(index)
    assert await ids(index) == ["call4-r1", "call3-r1", "call2-r1", "call1-r1"]  # newest first
    assert await ids(index, agent_id="80001") == ["call2-r1", "call1-r1"]
    assert await ids(index, caller="+86 21 555 0101") == ["call3-r1", "call1-r1"]
    assert await ids(index, caller="138-0013-8000") == ["call2-r1"]
    assert await ids(index, queue="complaint") == ["call3-r1"]
    assert await ids(index, call_id="call4") == ["call4-r1"]
    assert await ids(index, start=T0 + DAY, end=T0 + 3 * DAY) == ["call3-r1", "call2-r1"]
    assert await ids(index, agent_id="80002", start=T0 + 10 * DAY) == ["call4-r1"]
    assert await ids(index, agent_id="80003") == []
    page = await index.search(SearchFilter(), limit=2, offset=1)
    assert [r.id for r in page] == ["call3-r1", "call2-r1"]
    row = await index.get("call1-r1")
    assert (row.state, row.size, row.duration_s, row.caller_number) == (
        "complete", 100, 60.0, "0215550101",
    )  # fmt: skip
    assert row.path == "2026/11/21/call1-r1.wav"


async def test_audit_log(index: RecordingIndex) -> None:
    await index.audit(at=T0, actor="80001", role="agent", action="search", outcome="ok",
                      detail="agent=80001", address="10.0.0.5")  # fmt: skip
    await index.audit(at=T0 + 1, actor="80002", role="agent", action="download",
                      outcome="forbidden", recording_id="call1-r1")  # fmt: skip
    everything = await index.access_log()
    assert [(e.actor, e.action, e.outcome) for e in everything] == [
        ("80002", "download", "forbidden"),
        ("80001", "search", "ok"),
    ]
    assert everything[1].address == "10.0.0.5" and everything[1].detail == "agent=80001"
    assert [e.actor for e in await index.access_log(actor="80001")] == ["80001"]
    assert [e.id for e in await index.access_log(recording_id="call1-r1")] == [everything[0].id]
    assert await index.access_log(start=T0 + 2) == []


async def test_retention_per_queue_and_global(index: RecordingIndex, tmp_path: Path) -> None:
    recs = await fill(index)
    root = tmp_path / "rec"
    for r in recs[:3]:  # call4's file is gone already
        write_wav(root / r.path, 0.01)
    config = RecordingConfig(
        queues=MappingProxyType({"fault": QueuePolicy(Mode.ALWAYS, retention_days=45)}),
        retention_days=10,
    )
    # fault keeps 45 days, the rest 10: at day 44 only call3 (complaint, day 2) is old.
    report = await purge(index, config, root, T0 + 44 * DAY, actor="tester")
    assert [r["id"] for r in report.removed] == ["call3-r1"]
    assert report.files_already_gone == 0
    assert not (root / recs[2].path).exists()
    assert (root / recs[0].path).exists()
    assert await ids(index) == ["call4-r1", "call2-r1", "call1-r1"]
    # At day 51: calls 1 and 2 (fault, > 45 days) and call4 (general, 11 days; no file).
    report = await purge(index, config, root, T0 + 51 * DAY)
    assert sorted(r["id"] for r in report.removed) == ["call1-r1", "call2-r1", "call4-r1"]
    assert report.files_already_gone == 1
    assert await ids(index) == []
    assert not (root / "2026").exists()  # emptied day directories go too
    log = await index.access_log(action="purge")
    assert {(e.recording_id, e.actor) for e in log} == {
        ("call3-r1", "tester"),
        ("call1-r1", "system"),
        ("call2-r1", "system"),
        ("call4-r1", "system"),
    }


async def test_a_file_that_cannot_be_removed_keeps_its_row(
    index: RecordingIndex, tmp_path: Path
) -> None:
    recs = await fill(index)
    root = tmp_path / "rec"
    (root / recs[0].path).mkdir(parents=True)  # a directory where the file should be
    (root / recs[0].path / "x").write_bytes(b"")
    config = RecordingConfig(retention_days=1)
    report = await purge(index, config, root, T0 + 100 * DAY)
    assert [f["id"] for f in report.failed] == ["call1-r1"]
    assert await ids(index) == ["call1-r1"]


async def test_rows_left_recording_by_an_earlier_run_are_finished(tmp_path: Path) -> None:
    config = demo_config()
    config = replace(
        config,
        store=replace(config.store, recordings_dir=tmp_path / "rec"),
        recording=RecordingConfig(settle_s=0.01, settle_timeout_s=0.2),
    )
    store = await Store.open(tmp_path / "h.db")
    try:
        service = RecordingService(config, store, run=lambda effects: None)
        now = time.time()
        done = recording(1, "80001", "0215550101", "fault", now - 600)
        lost = recording(2, "80001", "0215550101", "fault", now - 2 * DAY)
        fresh = recording(3, "80001", "0215550101", "fault", now - 5)  # may still be running
        for r in (done, lost, fresh):
            await service.index.opened(r, r.started_at or now)
        data = write_wav(tmp_path / "rec" / done.path, 0.5)
        os.utime(tmp_path / "rec" / done.path, (now - 300, now - 300))
        assert await service.resume_unfinished() == 2
        await service.drain()
        row = await service.index.get(done.recording_id)
        assert row.state == "complete" and row.sha256 == hashlib.sha256(data).hexdigest()
        assert row.duration_s == pytest.approx(0.5)
        assert (await service.index.get(lost.recording_id)).state == "missing"
        assert (await service.index.get(fresh.recording_id)).state == "recording"
    finally:
        await store.close()
