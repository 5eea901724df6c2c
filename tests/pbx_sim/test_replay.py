"""Replay every real Asterisk 22 transcript against pbx_sim and compare what comes back.

For each ``.ami`` file the client side is sent over a real TCP socket to pbx_sim's AMI
server (virtual clock), the ``### note`` blocks drive the simulated phones and trunk
(pbx_sim/scenarios.py), and the server's answer is compared with what Asterisk sent
(pbx_sim/compare.py: same event types in the same order per channel/bridge/device lane,
same header names, same values where they are not per-run). Deliberate differences are
listed in pbx_sim.compare (ignored families, normalised values) and in the scenario table
(per-transcript rules), each with its reason; docs/pbx_sim.md collects them.
"""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from cti.ami.codec import Message
from cti.ami.transcript import transcript_paths
from pbx_sim.compare import IGNORED_EVENTS, IGNORED_VARS, compare_streams
from pbx_sim.replay import compare, replay
from pbx_sim.scenarios import SCENARIOS, rules_for

PATHS = transcript_paths()
#: Transcripts replayed with the full lane comparison: all 25.
FULL = (
    "00a",
    "00b",
    "01",
    "02a",
    "02b",
    "02c",
    "03a",
    "03b",
    "03c",
    "04a",
    "04b",
    "04c",
    "05a",
    "05b",
    "06a",
    "06b",
    "06c",
    "07",
    "08",
    "09",
    "10",
    "11",
    "12",
    "13",
    "14",
)


def _selected() -> list[Path]:
    return [p for p in PATHS if p.name.startswith(FULL)]


def test_transcripts_present() -> None:
    assert len(PATHS) == 25, "the 25 Asterisk 22 transcripts are expected in ../shared"


@pytest.mark.parametrize("path", _selected(), ids=lambda p: p.name.split("-")[0])
async def test_replay_matches_asterisk(path: Path) -> None:
    result = await replay(path)
    problems = compare(result, rules_for(path.name))
    assert not problems, "\n\n".join(problems)
    # The server closed the connections it closed in the capture (Logoff, failed Login,
    # shutdown) and kept the one the client closed (11 conn 4).
    for conn, closed in result.closed.items():
        if conn in result.expected:
            assert result.actual[conn] or not result.expected[conn]
            assert closed or conn == 4


async def test_mixmonitor_writes_a_wav_file() -> None:
    """08: the recording is a real WAV file (8 kHz, 16-bit mono, as long as the recording
    ran: 3.64 s -> 7.67 s, 64,044 bytes in the capture)."""
    path = next(p for p in PATHS if p.name.startswith("08"))
    result = await replay(path)
    wav = Path(result.scenario.spool_dir) / "cti-rec-1795307141.wav"
    assert wav.exists()
    with wave.open(str(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        seconds = w.getnframes() / 8000
    assert abs(seconds - 4.025) < 0.05
    assert abs(wav.stat().st_size - 64044) < 800


def test_every_deliberate_difference_has_a_reason() -> None:
    for name, reason in {**IGNORED_EVENTS, **IGNORED_VARS}.items():
        assert reason.strip(), name
    for key, spec in SCENARIOS.items():
        r = spec.rules
        relaxed = r.unordered_lanes or r.ends_only or r.ignore_values or r.skip_events
        if relaxed or r.loose_responses:
            assert spec.reasons, f"scenario {key} relaxes the comparison without a reason"


def _ev(name: str, *pairs: tuple[str, str]) -> Message:
    return Message([("Event", name), ("Privilege", "call,all"), *pairs])


def _chan(name: str, uid: str, state: str = "6") -> list[tuple[str, str]]:
    return [
        ("Channel", name),
        ("ChannelState", state),
        ("ChannelStateDesc", "Up"),
        ("CallerIDNum", "1"),
        ("CallerIDName", "x"),
        ("ConnectedLineNum", "<unknown>"),
        ("ConnectedLineName", "<unknown>"),
        ("Language", "en"),
        ("AccountCode", ""),
        ("Context", "c"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("Uniqueid", uid),
        ("Linkedid", uid),
    ]


def test_comparator_catches_differences() -> None:
    """The comparison is not vacuous: order, values and header names all count."""
    a = _chan("PJSIP/8001-00000001", "100.1")
    b = _chan("PJSIP/8001-00000007", "200.9")
    exp = [_ev("Newchannel", *a), _ev("Newstate", *a), _ev("Hangup", *a, ("Cause", "16"))]
    same = [_ev("Newchannel", *b), _ev("Newstate", *b), _ev("Hangup", *b, ("Cause", "16"))]
    assert compare_streams({1: exp}, {1: same}) == []
    swapped = [same[1], same[0], same[2]]
    assert compare_streams({1: exp}, {1: swapped})
    other_value = [*same[:2], _ev("Hangup", *b, ("Cause", "17"))]
    assert compare_streams({1: exp}, {1: other_value})
    other_name = [*same[:2], _ev("Hangup", *b, ("Reason", "16"))]
    assert compare_streams({1: exp}, {1: other_name})
    missing = same[:2]
    assert compare_streams({1: exp}, {1: missing})
