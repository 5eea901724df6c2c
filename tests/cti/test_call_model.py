"""Tests of the sans-I/O call model (cti/calls/).

Every real Asterisk 22 transcript is fed to the model through the codec, whole and one
byte at a time (a chunk boundary at every byte offset): both must give the same list of
call changes. Then each scenario is checked for the calls it must produce (one caller,
answered by 8001, call_id kept across transfers, spy legs not parties, ...). Synthetic
events cover what the transcripts do not (Linkedid changes, unknown channels, resync),
and hypothesis shuffles and drops real events to show that nothing makes it raise.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti.ami import AMIDecoder, Message
from cti.ami.transcript import conn_streams, read_transcript, transcript_paths
from cti.bench import ingest
from cti.calls import (
    CallAnswered,
    CallBridged,
    CallChange,
    CallDequeued,
    CallEnded,
    CallerIdChanged,
    CallHeld,
    CallMerged,
    CallModel,
    CallPickedUp,
    CallQueued,
    CallStarted,
    CallStateChanged,
    CallTransferred,
    DeviceStateChanged,
    ExtensionStateChanged,
    LegAdded,
    LegRemoved,
    PbxShutdown,
    SpyStarted,
    SpyStopped,
    cause_name,
    device_lamp,
    device_of,
    extension_lamp,
)
from cti.calls.states import call_state, channel_state

PATHS = {p.name.split("-")[0]: p for p in transcript_paths()}
TRUNKS = ("PJSIP/e1trunk",)


# -- feeding transcripts ---------------------------------------------------------------


@dataclass
class Stream:
    """One AMI connection's server bytes and the time of each of its messages."""

    data: bytes
    times: list[float]  # t of the n-th message after the banner


def streams(key: str) -> list[Stream]:
    out = []
    for blocks in conn_streams(read_transcript(PATHS[key])).values():
        assert blocks[0].data.startswith(b"Asterisk Call Manager/")
        out.append(Stream(b"".join(b.data for b in blocks), [b.t for b in blocks[1:]]))
    return out


def events(stream: Stream, chunks: Iterable[bytes]) -> list[tuple[float, Message]]:
    """Decode the stream as the link does and keep what it hands to the model: events,
    except list items (events carrying an ActionID, OriginateResponse apart)."""
    dec = AMIDecoder("client")
    out: list[tuple[float, Message]] = []
    index = 0
    for chunk in chunks:
        dec.feed(chunk)
        for msg in dec.messages():
            t = stream.times[index]
            index += 1
            if msg.kind == "event" and (msg.action_id is None or msg.event == "OriginateResponse"):
                out.append((t, msg))
    assert index == len(stream.times)
    return out


def whole(stream: Stream) -> list[bytes]:
    return [stream.data]


def bytewise(stream: Stream) -> list[bytes]:
    data = stream.data
    return [data[i : i + 1] for i in range(len(data))]


def replay(
    key: str, chunker: object = whole, model: CallModel | None = None
) -> tuple[CallModel, list[CallChange]]:
    model = model or CallModel(trunk_devices=TRUNKS)
    changes: list[CallChange] = []
    for stream in streams(key):
        for t, msg in events(stream, chunker(stream)):  # type: ignore[operator]
            changes.extend(model.handle(msg, t))
    return model, changes


def ended(changes: Sequence[CallChange], *, merged: bool = False) -> list[CallEnded]:
    return [c for c in changes if isinstance(c, CallEnded) and (merged or c.cause != "merged")]


def of(kind: type, changes: Sequence[CallChange]) -> list:  # type: ignore[type-arg]
    return [c for c in changes if isinstance(c, kind)]


def ev(name: str, *pairs: tuple[str, str], **headers: str) -> Message:
    return Message([("Event", name), *pairs, *headers.items()])


def chan(name: str, uid: str, linked: str, state: str = "Up", **extra: str) -> Message:
    """A Newchannel with a full snapshot."""
    return ev(
        "Newchannel",
        Channel=name,
        ChannelStateDesc=state,
        CallerIDNum=extra.pop("num", "100"),
        CallerIDName=extra.pop("cname", "X"),
        Context=extra.pop("context", "internal"),
        Exten="s",
        Uniqueid=uid,
        Linkedid=linked,
        **extra,
    )


# -- every transcript, whole and byte by byte --------------------------------------------


@pytest.mark.parametrize("key", sorted(PATHS))
def test_bytewise_equals_whole(key: str) -> None:
    model_a, whole_changes = replay(key, whole)
    model_b, byte_changes = replay(key, bytewise)
    assert byte_changes == whole_changes
    assert model_a.anomalies == model_b.anomalies
    assert model_a.ignored == model_b.ignored


@pytest.mark.parametrize("key", sorted(PATHS))
def test_every_call_starts_once_and_ends_once(key: str) -> None:
    model, changes = replay(key)
    started = Counter(c.call_id for c in of(CallStarted, changes))
    ends = Counter(c.call_id for c in ended(changes, merged=True))
    assert started == ends, "every call that started must end exactly once"
    assert not model.calls and not model.channels, "all transcripts end idle"
    for change in changes:
        if isinstance(change, CallEnded):
            assert change.wait_s >= 0 and change.talk_s >= 0
            assert change.duration_s == pytest.approx(change.wait_s + change.talk_s)


# -- scenarios ------------------------------------------------------------------------------


def test_01_caller_hangs_up_after_agent_8001_answered() -> None:
    _, changes = replay("01")
    [start] = of(CallStarted, changes)
    assert start.call_id == "1795306975.0"  # the trunk channel's Uniqueid = Linkedid
    assert (start.caller_num, start.caller_name) == ("0215550101", "Alice Caller")
    assert start.role == "trunk"
    [queued] = of(CallQueued, changes)
    assert queued.queue == "support"
    [answered] = of(CallAnswered, changes)
    assert answered.device == "PJSIP/8001"
    assert answered.at == pytest.approx(2.615, abs=0.002)
    [end] = ended(changes)
    assert end.call_id == start.call_id
    assert end.outcome == "answered"
    assert (end.cause, end.cause_code) == ("normal_clearing", 16)
    assert end.hangup_by == "PJSIP/e1trunk-00000000"  # the caller hung up
    assert end.wait_s == pytest.approx(2.609, abs=0.002)  # Newchannel 0.006 -> bridge 2.615
    assert end.talk_s == pytest.approx(3.029, abs=0.002)  # -> Hangup 5.644
    info = end.info
    assert info.direction == "inbound"
    assert info.parties == ("PJSIP/e1trunk", "PJSIP/8001")
    assert info.queue == "support"
    assert info.max_talking == 2
    states = [c.state for c in of(CallStateChanged, changes)]
    assert states == ["up", "queued", "up", "ended"]  # Answer(), Queue(), agent, BYE
    bridged = of(CallBridged, changes)
    assert bridged[0].groups == (("PJSIP/e1trunk-00000000", "PJSIP/8001-00000001"),)
    assert bridged[-1].groups == ()


def test_02a_agent_hangs_up() -> None:
    _, changes = replay("02a")
    [end] = ended(changes)
    assert end.outcome == "answered"
    assert end.hangup_by == "PJSIP/8001-00000003"


def test_02b_abandoned_while_8002_rings() -> None:
    model, changes = replay("02b")
    [end] = ended(changes)
    assert end.outcome == "abandoned"
    assert (end.cause, end.cause_code) == ("unknown", 0)  # Asterisk: Cause 0 for the caller
    assert end.hangup_by == "PJSIP/e1trunk-00000004"
    assert end.talk_s == 0.0 and end.wait_s == pytest.approx(5.639, abs=0.002)
    [dequeued] = of(CallDequeued, changes)
    assert dequeued.abandoned
    removed = {c.device: c.cause for c in of(LegRemoved, changes)}
    assert removed["PJSIP/8001"] == "user_busy"  # the 486
    assert model.anomalies["DialEnd:no_pending_dial"] == 1  # the duplicate DialEnd CANCEL


def test_02c_abandoned_in_queue() -> None:
    _, changes = replay("02c")
    [end] = ended(changes)
    assert end.outcome == "abandoned"
    assert end.info.parties == ("PJSIP/e1trunk",)


@pytest.mark.parametrize(
    ("key", "kind", "caller"),
    [
        ("03a", "blind", "1795307006.8"),
        ("03b", "redirect", "1795307016.11"),
        ("03c", "attended", "1795307025.14"),
    ],
)
def test_03_transfer_keeps_call_id(key: str, kind: str, caller: str) -> None:
    _, changes = replay(key)
    assert {c.call_id for c in changes if hasattr(c, "call_id")} == {caller}
    [end] = ended(changes)
    assert end.outcome == "answered"
    assert end.hangup_by is not None and end.hangup_by.startswith("PJSIP/e1trunk-")
    [transfer] = end.info.transfers
    assert transfer.kind == kind
    assert (transfer.from_device, transfer.to_device) == ("PJSIP/8001", "PJSIP/8002")
    assert transfer.to_exten == "8002"
    [announced] = of(CallTransferred, changes)
    assert announced.transfer.kind == kind
    [answered] = of(CallAnswered, changes)  # answered once, by 8001
    assert answered.device == "PJSIP/8001"
    talking = [g for c in of(CallBridged, changes) for g in c.groups]
    assert talking[0] == (talking[0][0], talking[0][1])
    assert any(g[0].startswith("PJSIP/e1trunk") and g[1].startswith("PJSIP/8002") for g in talking)
    assert end.info.parties == ("PJSIP/e1trunk", "PJSIP/8001", "PJSIP/8002")


def test_03c_attended_transfer_without_the_target_headers_finds_the_target() -> None:
    # Asterisk 22 over SIP sometimes leaves every TransferTarget* header out of
    # AttendedTransfer (the target had already left the consultation bridge): the
    # target is found from the bridges instead.
    model = CallModel(trunk_devices=TRUNKS)
    changes: list[CallChange] = []
    stripped = 0
    for stream in streams("03c"):
        for t, msg in events(stream, whole(stream)):
            fed = msg
            if msg.event == "AttendedTransfer":
                fed = Message([(k, v) for k, v in msg.pairs if not k.startswith("TransferTarget")])
                stripped += 1
            changes.extend(model.handle(fed, t))
    assert stripped == 1
    [announced] = of(CallTransferred, changes)
    assert announced.transfer.kind == "attended"
    assert (announced.transfer.from_device, announced.transfer.to_device) == (
        "PJSIP/8001",
        "PJSIP/8002",
    )
    assert model.anomalies["AttendedTransfer:unknown_channel"] == 0


def test_03c_consultation_is_held_and_local_plumbing_is_not_a_party() -> None:
    _, changes = replay("03c")
    held = of(CallHeld, changes)
    assert [h.device for h in held] == ["PJSIP/8001"]
    states = [c.state for c in of(CallStateChanged, changes)]
    assert "held" in states and states[-1] == "ended"
    locals_ = [c for c in of(LegAdded, changes) if c.role == "local"]
    assert len(locals_) == 2
    # While 8001 consults, 8001 and 8002 talk through the Local pair.
    groups = [c.groups for c in of(CallBridged, changes)]
    assert (("PJSIP/8001-0000000f", "PJSIP/8002-00000010"),) in groups
    # Local optimisation does not make the conversation flicker.
    assert groups.count((("PJSIP/e1trunk-0000000e", "PJSIP/8002-00000010"),)) == 1


def test_04a_click_to_dial_is_outbound() -> None:
    _, changes = replay("04a")
    [end] = ended(changes)
    assert end.info.direction == "outbound"
    assert end.info.caller_num == "8001"
    assert end.outcome == "answered"


def test_04b_local_originate_caller_is_the_phone() -> None:
    _, changes = replay("04b")
    [start] = of(CallStarted, changes)
    assert start.role == "local"
    assert of(CallerIdChanged, changes)[0].caller_num == "8002"
    [end] = ended(changes)
    assert end.info.caller_channel == "PJSIP/8002-00000013"
    assert end.info.parties == ("PJSIP/8002", "PJSIP/e1trunk")


def test_04c_failed_originates() -> None:
    _, changes = replay("04c")
    ends = ended(changes)
    assert [(e.outcome, e.cause) for e in ends] == [
        ("unanswered", "user_busy"),
        ("unanswered", "no_answer"),
        ("unanswered", "user_busy"),
    ]


def test_05a_spy_legs_are_not_parties() -> None:
    _, changes = replay("05a")
    [end] = ended(changes)
    assert end.call_id == "1795307065.28"
    assert end.info.parties == ("PJSIP/e1trunk", "PJSIP/8001")
    assert end.info.max_talking == 2
    spies = [leg for leg in end.info.legs if leg.role == "spy"]
    assert [leg.channel for leg in spies] == [
        "PJSIP/9001-0000001a",
        "PJSIP/9001-0000001b",
        "PJSIP/9001-0000001c",
    ]
    assert len(of(SpyStarted, changes)) == len(of(SpyStopped, changes)) == 3
    merged = of(CallMerged, changes)
    assert {m.reason for m in merged} == {"spy"} and len(merged) == 3
    assert all(e.merged_into == end.call_id for e in ended(changes, merged=True)[:-1])
    # the spy never enters the conversation
    assert all(len(g) == 2 for c in of(CallBridged, changes) for g in c.groups)


def test_05b_force_release() -> None:
    _, changes = replay("05b")
    first, second = ended(changes)
    assert first.hangup_by == "PJSIP/e1trunk-0000001d"  # AMI Hangup of the caller
    assert second.hangup_by == "PJSIP/8001-00000020"  # regex Hangup of the agent


@pytest.mark.parametrize("key", ["06a", "06b"])
def test_06_pickup_keeps_the_ringing_call(key: str) -> None:
    _, changes = replay(key)
    [end] = ended(changes)
    [picked] = of(CallPickedUp, changes)
    assert picked.call_id == end.call_id
    assert (picked.device, picked.target_device) == ("PJSIP/9001", "PJSIP/8003")
    [merge] = of(CallMerged, changes)
    assert (merge.call_id, merge.reason) == (end.call_id, "pickup")
    [answered] = of(CallAnswered, changes)
    assert answered.device == "PJSIP/9001"
    assert end.outcome == "answered"
    assert [t.kind for t in end.info.transfers] == ["pickup"]
    removed = {c.device: c.cause for c in of(LegRemoved, changes)}
    assert removed["PJSIP/8003"] == "answered_elsewhere"
    assert end.info.caller_num.startswith("021555011")


def test_06c_redirect_of_a_ringing_call() -> None:
    _, changes = replay("06c")
    [end] = ended(changes)
    assert end.call_id == "1795307109.43"
    [answered] = of(CallAnswered, changes)
    assert answered.device == "PJSIP/9001"
    assert end.info.transfers == ()  # never answered before: not a transfer


def test_07_conference_of_three() -> None:
    _, changes = replay("07")
    [end] = ended(changes)
    assert end.call_id == "1795307115.46"  # the oldest Linkedid wins
    assert end.info.max_talking == 3
    assert sorted(end.info.parties) == ["PJSIP/8001", "PJSIP/8002", "PJSIP/e1trunk"]
    merged = of(CallMerged, changes)
    assert [(m.merged_call_id, m.reason) for m in merged] == [
        ("1795307121.49", "bridge"),
        ("1795307123.50", "bridge"),
    ]
    assert set(end.info.linkedids) == {"1795307115.46", "1795307121.49", "1795307123.50"}


def test_08_recording_file_is_kept() -> None:
    model = CallModel(trunk_devices=TRUNKS)
    seen: list[str] = []
    for stream in streams("08"):
        for t, msg in events(stream, whole(stream)):
            model.handle(msg, t)
            for ch in model.channels.values():
                if "MIXMONITOR_FILENAME" in ch.variables:
                    seen.append(ch.variables["MIXMONITOR_FILENAME"])
    assert seen and seen[0].startswith("/var/spool/asterisk/monitor/cti-rec-")


def test_09_ivr_only_call_is_unanswered() -> None:
    _, changes = replay("09")
    [end] = ended(changes)
    assert end.outcome == "unanswered"
    assert [c.state for c in of(CallStateChanged, changes)] == ["up", "ended"]


def test_10_thirty_carried_the_31st_blocked() -> None:
    _, changes = replay("10")
    ends = ended(changes)
    assert len(ends) == 32
    blocked = [e for e in ends if e.outcome == "blocked"]
    assert [(e.info.caller_num, e.cause_code, e.cause) for e in blocked] == [
        ("0215551031", 34, "congestion"),  # the 31st, a Local originate
        ("0215551032", 34, "congestion"),  # the 32nd, a real SIP INVITE
    ]
    carried = [e for e in ends if e.outcome != "blocked"]
    assert len(carried) == 30
    queued = {c.call_id for c in of(CallQueued, changes)}
    assert queued == {e.call_id for e in carried}
    assert all(e.outcome == "abandoned" for e in carried)  # cleared by the regex Hangup
    assert {e.info.caller_num for e in carried} == {f"02155510{n:02d}" for n in range(1, 31)}


def test_11_resync_adopts_the_calls_in_progress() -> None:
    [stream, *_] = streams("11")
    dec = AMIDecoder()
    dec.feed(stream.data)
    msgs = list(dec.messages())
    channels = [m for m in msgs if m.event == "CoreShowChannel"]
    devices = [m for m in msgs if m.event == "DeviceStateChange" and m.action_id]
    extensions = [m for m in msgs if m.event == "ExtensionStatus" and m.action_id]
    assert (len(channels), len(devices), len(extensions)) == (3, 14, 5)
    model = CallModel(trunk_devices=TRUNKS)
    changes = model.resync(100.0, channels=channels, devices=devices, extensions=extensions)
    talking = model.info("1795307165.118")
    waiting = model.info("1795307168.120")
    assert talking is not None and waiting is not None
    assert talking.state == "up" and talking.caller_num == "0215550201"
    assert talking.talking == (("PJSIP/e1trunk-00000031", "PJSIP/8001-00000032"),)
    assert talking.started_at == 93.0  # Duration 00:00:07
    assert waiting.state == "queued" and waiting.queue == "support"
    assert model.devices["PJSIP/8001"] == "INUSE"
    assert model.extensions[("8001", "internal")].lamp == "busy"
    assert len(of(DeviceStateChanged, changes)) == 14
    assert len(of(ExtensionStateChanged, changes)) == 5
    # Nothing changed: a second resync says nothing.
    assert model.resync(101.0, channels=channels, devices=devices, extensions=extensions) == []
    # The waiting caller and the agent are gone; the PBX forgot a hint.
    again = model.resync(102.0, channels=channels[2:], devices=devices, extensions=extensions[1:])
    [end] = ended(again)
    assert (end.call_id, end.cause, end.cause_code) == ("1795307168.120", "pbx_resync", None)
    assert end.outcome == "unanswered"
    assert [c.channel for c in of(LegRemoved, again)] == [
        "PJSIP/8001-00000032",
        "PJSIP/e1trunk-00000033",
    ]
    [lamp] = of(ExtensionStateChanged, again)
    assert (lamp.exten, lamp.lamp, lamp.previous_lamp) == ("8004", "unavailable", "idle")
    assert set(model.calls) == {"1795307165.118"}


def test_11_resync_after_events_ends_vanished_calls() -> None:
    model2 = CallModel(trunk_devices=TRUNKS)
    changes: list[CallChange] = []
    for stream in streams("01"):
        for t, msg in events(stream, whole(stream))[:60]:  # stop in mid-call
            changes.extend(model2.handle(msg, t))
    assert model2.calls
    out = model2.resync(9.0, channels=[])
    [end] = ended(out)
    assert end.cause == "pbx_resync" and end.outcome in ("answered", "unanswered", "abandoned")
    assert not model2.calls and not model2.channels and not model2.bridges


def test_14_shutdown_ends_everything() -> None:
    _, changes = replay("14")
    [shutdown] = of(PbxShutdown, changes)
    assert shutdown.restart is False
    # with a call up, Shutdown ends it
    model = CallModel()
    model.handle(chan("PJSIP/8001-00000001", "1.1", "1.1"), 1.0)
    out = model.handle(ev("Shutdown", Shutdown="Cleanly", Restart="True"), 2.0)
    assert isinstance(out[0], PbxShutdown) and out[0].restart
    [end] = ended(out)
    assert end.cause == "pbx_shutdown"
    assert not model.calls and not model.channels


def test_lamps_follow_device_and_extension_events() -> None:
    _, changes = replay("01")
    ext = [(c.exten, c.lamp) for c in of(ExtensionStateChanged, changes)]
    assert ext == [("8001", "ringing"), ("8001", "busy"), ("8001", "idle")]
    dev = [(c.device, c.lamp) for c in of(DeviceStateChanged, changes) if c.device == "PJSIP/8001"]
    assert dev == [("PJSIP/8001", "ringing"), ("PJSIP/8001", "busy"), ("PJSIP/8001", "idle")]
    _, changes = replay("13")
    lamps = [(c.exten, c.lamp) for c in of(ExtensionStateChanged, changes)]
    assert lamps == [("8004", "unavailable"), ("8004", "idle")]


# -- Chinese caller names ---------------------------------------------------------------------


def test_chinese_caller_name_fed_byte_by_byte() -> None:
    name = "张伟"
    [original] = streams("01")
    stream = Stream(original.data.replace(b"Alice Caller", name.encode()), original.times)
    assert name.encode() in stream.data
    model = CallModel(trunk_devices=TRUNKS)
    changes = [c for t, m in events(stream, bytewise(stream)) for c in model.handle(m, t)]
    [start] = of(CallStarted, changes)
    assert start.caller_name == name
    [end] = ended(changes)
    assert end.info.caller_name == name
    agent_leg = next(leg for leg in end.info.legs if leg.device == "PJSIP/8001")
    assert agent_leg.connected_name == name
    whole_model = CallModel(trunk_devices=TRUNKS)
    assert changes == [
        c for t, m in events(stream, whole(stream)) for c in whole_model.handle(m, t)
    ]


# -- synthetic cases ----------------------------------------------------------------------------


def test_out_of_order_events_are_counted_not_raised() -> None:
    model = CallModel()
    assert model.handle(ev("Hangup", Channel="PJSIP/x-1", Uniqueid="9.9", Cause="16"), 1) == []
    assert model.anomalies["Hangup:unknown_channel"] == 1
    model.handle(chan("PJSIP/8001-00000001", "1.1", "1.1"), 1.0)
    enter = ev(
        "BridgeEnter",
        BridgeUniqueid="b-unknown",
        BridgeType="basic",
        Channel="PJSIP/8001-00000001",
        Uniqueid="1.1",
        Linkedid="1.1",
    )
    model.handle(enter, 2.0)
    assert model.anomalies["BridgeEnter:unknown_bridge"] == 1
    assert model.bridges["b-unknown"].members == {"1.1"}
    model.handle(ev("DialEnd", DestChannel="PJSIP/8001-00000001", DestUniqueid="1.1"), 3.0)
    assert model.anomalies["DialEnd:no_pending_dial"] == 1
    assert model.handle(ev("BridgeDestroy", BridgeUniqueid="nope"), 4.0) == []
    assert model.handle(ev("NoSuchEvent"), 5.0) == []
    assert model.handle(Message([("Response", "Success")]), 5.0) == []
    assert model.ignored["NoSuchEvent"] == 1
    model.handle(chan("PJSIP/8001-00000001", "1.1", "1.1"), 6.0)
    assert model.anomalies["Newchannel:duplicate"] == 1


def test_linkedid_change_merges_into_the_older_call() -> None:
    model = CallModel(trunk_devices=TRUNKS)
    model.handle(chan("PJSIP/e1trunk-00000001", "100.1", "100.1", "Up"), 1.0)
    model.handle(chan("PJSIP/8001-00000002", "100.2", "100.1", "Up"), 1.1)
    # The agent's consultation call, a call of its own
    model.handle(chan("PJSIP/8001-00000003", "105.3", "105.3", "Up"), 5.0)
    model.handle(chan("PJSIP/8002-00000004", "105.4", "105.3", "Up"), 5.1)
    assert set(model.calls) == {"100.1", "105.3"}
    # Asterisk bridged 8002 with the customer: its Linkedid became the older one.
    out = model.handle(
        ev(
            "Newstate",
            Channel="PJSIP/8002-00000004",
            ChannelStateDesc="Up",
            Uniqueid="105.4",
            Linkedid="100.1",
        ),
        9.0,
    )
    [merged] = of(CallMerged, out)
    assert (merged.call_id, merged.merged_call_id, merged.reason) == ("100.1", "105.3", "linkedid")
    [gone] = ended(out, merged=True)
    assert (gone.call_id, gone.outcome, gone.merged_into) == ("105.3", "merged", "100.1")
    assert set(model.calls) == {"100.1"}
    assert set(model.calls["100.1"].legs) == {"100.1", "100.2", "105.3", "105.4"}
    # a later event that still carries the old Linkedid changes nothing
    assert not of(
        CallMerged,
        model.handle(
            ev("Newstate", Channel="PJSIP/8001-00000003", Uniqueid="105.3", Linkedid="105.3"), 9.5
        ),
    )


def test_bridge_of_two_calls_merges_oldest_first() -> None:
    model = CallModel(trunk_devices=TRUNKS)
    model.handle(chan("PJSIP/8002-00000009", "200.9", "200.9", "Up"), 1.0)
    model.handle(chan("PJSIP/e1trunk-00000001", "100.1", "100.1", "Up"), 2.0)
    model.handle(ev("BridgeCreate", BridgeUniqueid="b1", BridgeType="basic"), 3.0)
    for name, uid in (("PJSIP/8002-00000009", "200.9"), ("PJSIP/e1trunk-00000001", "100.1")):
        out = model.handle(
            ev("BridgeEnter", BridgeUniqueid="b1", Channel=name, Uniqueid=uid, Linkedid=uid), 3.0
        )
    assert set(model.calls) == {"100.1"}  # the older Linkedid, though seen second
    [answered] = of(CallAnswered, out)
    assert answered.device == "PJSIP/8002"


def test_holding_bridge_does_not_merge_or_talk() -> None:
    model = CallModel()
    model.handle(chan("PJSIP/8001-00000001", "1.1", "1.1"), 1.0)
    model.handle(chan("PJSIP/8002-00000002", "2.2", "2.2"), 1.0)
    model.handle(ev("BridgeCreate", BridgeUniqueid="h", BridgeType="holding"), 1.0)
    for name, uid in (("PJSIP/8001-00000001", "1.1"), ("PJSIP/8002-00000002", "2.2")):
        model.handle(ev("BridgeEnter", BridgeUniqueid="h", Channel=name, Uniqueid=uid), 2.0)
    assert set(model.calls) == {"1.1", "2.2"}
    assert all(not c.talking for c in model.calls.values())


def test_rename_and_unhold_without_hold() -> None:
    model = CallModel()
    model.handle(chan("PJSIP/8001-00000001", "1.1", "1.1"), 1.0)
    model.handle(ev("Rename", Channel="PJSIP/8001-00000001", Newname="X/y-1", Uniqueid="1.1"), 2)
    assert model.channel("X/y-1") is not None and model.channel("PJSIP/8001-00000001") is None
    assert model.handle(ev("Unhold", Channel="X/y-1", Uniqueid="1.1"), 3.0) == []
    out = model.handle(ev("Hold", Channel="X/y-1", Uniqueid="1.1"), 4.0)
    assert of(CallHeld, out) and of(CallStateChanged, out)[0].state == "held"


def test_helpers() -> None:
    assert device_of("PJSIP/8001-00000001") == "PJSIP/8001"
    assert device_of("PJSIP/my-phone-0000000a") == "PJSIP/my-phone"
    assert device_of("Local/8002@internal-00000000;1") == "Local/8002@internal"
    assert device_of("PJSIP/8001") == "PJSIP/8001"
    assert device_of("Message/ast_msg_queue") == "Message/ast_msg_queue"
    assert cause_name(34) == "congestion" and cause_name(999) == "q850_999"
    assert cause_name(None) == "unknown"
    assert device_lamp("RINGINUSE") == "ringing" and device_lamp("weird") == "unavailable"
    assert extension_lamp(9) == "ringing" and extension_lamp(17) == "busy"
    assert extension_lamp(4) == "unavailable" and extension_lamp(None, "InUse") == "busy"
    assert extension_lamp(8 | 32) == "ringing" and extension_lamp(1 | 32) == "busy"
    assert channel_state("ringing") == "Ringing" and channel_state(None, "7") == "Busy"
    assert channel_state(None, None) == "Unknown"
    assert call_state(alive=False, held=True, talking=True, queued=True, ringing=True) == "ended"
    assert call_state(alive=True, held=False, talking=False, queued=False, ringing=False) == "up"


# -- property: no order of events makes the model raise ------------------------------------------

POOL: list[Message] = []
for _key in ("01", "02b", "03c", "05a", "06a", "07", "10"):
    for _stream in streams(_key):
        POOL.extend(m for _, m in events(_stream, whole(_stream)) if m.event not in ("VarSet",))
        if len(POOL) > 2500:
            break
_dec = AMIDecoder()
_dec.feed(streams("11")[0].data)
SNAPSHOT = [m for m in _dec.messages() if m.event == "CoreShowChannel"]
RESYNC = -1  # a pick that means "the link reconnected": resync with transcript 11's list


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(st.integers(0, len(POOL) - 1), st.just(RESYNC)),
        max_size=300,
    )
)
def test_any_order_or_loss_of_events_never_raises(picks: list[int]) -> None:
    """Real events, shuffled, repeated, dropped, with resyncs in between: nothing raises,
    every call starts before it ends and ends once, channels and calls stay consistent."""
    model = CallModel(trunk_devices=TRUNKS)
    starts: Counter[str] = Counter()
    ends: Counter[str] = Counter()

    def check(changes: list[CallChange]) -> None:
        for change in changes:
            if isinstance(change, CallStarted):
                assert ends[change.call_id] == starts[change.call_id]
                starts[change.call_id] += 1
            elif isinstance(change, CallEnded):
                ends[change.call_id] += 1
                assert ends[change.call_id] == starts[change.call_id]

    for n, index in enumerate(picks):
        if index == RESYNC:
            check(model.resync(float(n), channels=SNAPSHOT))
        else:
            check(model.handle(POOL[index], float(n)))
    # internal consistency: channels and calls point at each other
    for uid, ch in model.channels.items():
        call = model.calls[ch.call_id]
        assert call.legs[uid] is ch
    for call in model.calls.values():
        assert call.legs
        for uid in call.legs:
            assert uid in model.channels
    check(model.resync(float(len(picks)), channels=[]))
    assert not model.calls and not model.channels
    assert starts == ends


def test_ingest_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert ingest.main(["--repeat", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["events"] > 4000 and result["events_per_s"] > 0
    model = result["ours"]["model"]
    assert model["calls_started"] == model["calls_ended"] > 0
    assert result["baseline_panoramisk"]["events_per_s"] > 0
