"""The WebSocket protocol core: frames, op schemas, roles, event numbering and resume."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.api.bus import LATER, NOW, EventBus
from cti.api.protocol import (
    MAX_FRAME_BYTES,
    OPS,
    ClientError,
    EventFrame,
    parse_command,
    parse_frame,
    reply_error,
    reply_ok,
)
from cti.config import Role


def command(frame: dict[str, Any], role: Role | None = Role.AGENT) -> Any:
    _, obj = parse_frame(json.dumps(frame))
    return parse_command(obj, role)


def code_of(frame: str | dict[str, Any], role: Role | None = Role.AGENT) -> str:
    text = frame if isinstance(frame, str) else json.dumps(frame)
    with pytest.raises(ClientError) as info:
        _, obj = parse_frame(text)
        parse_command(obj, role)
    return info.value.code


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('"text"', "invalid_frame"),
        ('{"id": 1}', "invalid_frame"),
        ('{"op": 5}', "invalid_frame"),
        ('{"op": "agent.fly", "id": 1}', "unknown_op"),
        ('{"op": "agent.not_ready", "id": 1}', "invalid_params"),
        ('{"op": "agent.not_ready", "id": 1, "reason": 7}', "invalid_params"),
        ('{"op": "agent.ready", "id": 1, "colour": "red"}', "invalid_params"),
        ('{"op": "call.transfer", "call_id": "c", "to": "8002", "mode": "fast"}', "invalid_params"),
        ('{"op": "call.dial", "number": "12ab"}', "invalid_params"),
        (
            '{"op": "agent.wrap_up_done", "disposition": "fault", "resolved": "yes"}',
            "invalid_params",
        ),
        ('{"op": "subscribe", "topics": ["calls", "weather"]}', "invalid_params"),
        ('{"op": "resume", "last_eid": -1}', "invalid_params"),
        ('{"op": "resume", "last_eid": true}', "invalid_params"),
    ],
)
def test_bad_frames_get_the_contract_codes(frame: str, code: str) -> None:
    assert code_of(frame) == code


def test_invalid_params_names_the_field() -> None:
    with pytest.raises(ClientError, match=r"^reason: expected a non-empty string"):
        command({"op": "agent.not_ready", "reason": 7})


def test_oversize_frame() -> None:
    assert code_of("x" * (MAX_FRAME_BYTES + 1)) == "too_large"


def test_role_check_comes_before_parameters() -> None:
    # A forbidden op with nonsense parameters is forbidden, not invalid_params.
    assert code_of({"op": "call.barge", "call_id": 5}, Role.AGENT) == "forbidden"
    assert code_of({"op": "agent.ready"}, None) == "unauthenticated"
    assert command({"op": "call.barge", "call_id": "c1"}, Role.SUPERVISOR).params == {
        "call_id": "c1"
    }
    assert command({"op": "call.barge", "call_id": "c1"}, Role.ADMIN).op == "call.barge"


def test_every_op_of_the_contract_is_known() -> None:
    contract = {
        "login", "subscribe", "resume", "snapshot", "agent.ready", "agent.not_ready",
        "agent.logout", "agent.wrap_up_done", "call.hangup", "call.hold", "call.unhold",
        "call.transfer", "call.conference", "call.dial", "call.listen", "call.whisper",
        "call.barge", "call.release", "extension.pickup", "extension.call",
        "conference.start", "group.call",
    }  # fmt: skip
    assert contract <= set(OPS)


def test_replies_keep_the_id_and_shape() -> None:
    assert json.loads(reply_ok({"x": [1]}, {"a": 1})) == {
        "type": "reply", "id": {"x": [1]}, "ok": True, "data": {"a": 1},
    }  # fmt: skip
    assert json.loads(reply_error(None, "unknown_op", "nope"))["error"] == {
        "code": "unknown_op",
        "message": "nope",
    }


@given(st.text(max_size=300))
def test_any_text_is_a_command_or_a_client_error(text: str) -> None:
    try:
        _, obj = parse_frame(text)
        parse_command(obj, Role.AGENT)
    except ClientError:
        pass


@given(
    st.dictionaries(
        st.sampled_from(["op", "id", "call_id", "reason", "topics", "last_eid", "to", "mode"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.text(max_size=3))),
    )
)
def test_any_object_is_a_command_or_a_client_error(obj: dict[str, Any]) -> None:
    obj.setdefault("op", "call.transfer")
    try:
        _, parsed = parse_frame(json.dumps(obj))
        parse_command(parsed, Role.AGENT)
    except ClientError:
        pass


# --------------------------------------------------------------------------- the bus


def test_event_frame_is_valid_json_with_the_connection_seq() -> None:
    frame = EventFrame(7, "call.ringing", "2026-11-22T00:00:00Z", {"caller": "张伟"}, frozenset())
    assert json.loads(frame.frame(3)) == {
        "type": "event",
        "event": "call.ringing",
        "seq": 3,
        "eid": 7,
        "ts": "2026-11-22T00:00:00Z",
        "data": {"caller": "张伟"},
    }


def collect(bus: EventBus, agent_id: str | None, topics: set[str]) -> tuple[Any, list[Any]]:
    got: list[Any] = []
    sub = bus.subscribe(lambda payload, _urgent: got.append(json.loads(payload)), agent_id)
    bus.set_topics(sub, topics)
    return sub, got


def test_topics_and_self_routing_and_seq_per_connection() -> None:
    bus = EventBus()
    _, agent = collect(bus, "80001", {"self"})
    _, other = collect(bus, "80002", {"self", "queues"})
    _, sup = collect(bus, "90001", {"calls", "agents"})
    bus.publish("agent.state", {"state": "ready"}, "t", ["agents"], ["80001"])
    bus.publish("queue.stats", {"waiting": 1}, "t", ["queues"])
    bus.publish("call.ringing", {"call_id": "c"}, "t", ["calls"], ["80001"])
    assert [(e["event"], e["seq"], e["eid"]) for e in agent] == [
        ("agent.state", 1, 1),
        ("call.ringing", 2, 3),
    ]
    assert [(e["event"], e["seq"]) for e in other] == [("queue.stats", 1)]
    assert [(e["event"], e["seq"]) for e in sup] == [("agent.state", 1), ("call.ringing", 2)]


def test_resume_replays_missed_events_once() -> None:
    bus = EventBus()
    for i in range(5):
        bus.publish("call.queued", {"i": i}, "t", ["calls"])
    sub, got = collect(bus, "90001", {"calls"})
    bus.publish("call.queued", {"i": 5}, "t", ["calls"])  # live, eid 6
    assert bus.resume(sub, 2) == 3  # eids 3, 4, 5; not 6 again
    assert [e["eid"] for e in got] == [6, 3, 4, 5]
    assert [e["seq"] for e in got] == [1, 2, 3, 4]


def test_resume_gap_and_future() -> None:
    bus = EventBus(capacity=3)
    for _i in range(10):
        bus.publish("x", {}, "t", ["calls"])
    sub, _ = collect(bus, "90001", {"calls"})
    with pytest.raises(ClientError) as info:
        bus.resume(sub, 5)
    assert info.value.code == "resume_gap"
    assert bus.resume(sub, 7) == 3
    with pytest.raises(ClientError) as info:
        bus.resume(sub, 11)
    assert info.value.code == "invalid_params"


def test_second_pass_topic_subscribers_wait_for_deliver_the_agent_does_not() -> None:
    bus = EventBus()
    told: list[int] = []
    bus.on_backlog = lambda: told.append(len(sup))
    urgencies: list[tuple[str, int]] = []
    agent_sub = bus.subscribe(lambda payload, u: urgencies.append(("agent", u)), "80001")
    sup_sub, sup = collect(bus, "90001", {"calls"})
    bus.publish("call.queued", {"i": 1}, "t", ["calls"])
    bus.publish("call.ringing", {"i": 2}, "t", ["calls"], ["80001"])
    bus.publish("call.answered", {"i": 3}, "t", ["calls"], ["80001"])
    # the agent's frames went out at once, the screen pop as NOW; nothing to topic
    # subscribers yet; the shell was told once, when the first event began to wait
    assert urgencies == [("agent", NOW), ("agent", LATER)]
    assert agent_sub.seq == 2
    assert sup == []
    assert told == [0]
    # a subscription made now: the backlog goes out first, under the topics as they were
    late_sub, late = collect(bus, "90002", {"calls"})
    assert [(e["event"], e["seq"], e["eid"]) for e in sup] == [
        ("call.queued", 1, 1),
        ("call.ringing", 2, 2),
        ("call.answered", 3, 3),
    ]
    assert late == []  # published before it subscribed: resume's to replay, not deliver's
    assert bus.resume(late_sub, 0) == 3
    assert [e["eid"] for e in late] == [1, 2, 3]
    assert bus.deliver() == 0
    assert sup_sub.seq == 3


def test_second_pass_skips_what_unsubscribed_meanwhile_and_keeps_eid_order() -> None:
    bus = EventBus()
    bus.on_backlog = lambda: None
    gone_sub, gone = collect(bus, "90001", {"calls"})
    _, stays = collect(bus, "90002", {"calls", "agents"})
    for i in range(5):
        bus.publish("agent.state" if i % 2 else "call.queued", {"i": i}, "t",
                    ["agents"] if i % 2 else ["calls"])  # fmt: skip
    bus.unsubscribe(gone_sub)
    bus.deliver()
    assert gone == []
    assert [(e["eid"], e["seq"]) for e in stays] == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]


def test_an_own_event_waits_for_the_backlog_the_same_connection_is_owed() -> None:
    # A supervisor spying on a call: the call's events reach them as a topic subscriber
    # (second pass), the monitor's as its agent (at once). eid order must hold anyway.
    bus = EventBus()
    bus.on_backlog = lambda: None
    _, sup = collect(bus, "90001", {"self", "calls"})
    _, other = collect(bus, "90002", {"calls"})
    bus.publish("call.ended", {"call_id": "c"}, "t", ["calls"])
    bus.publish("call.monitored", {"state": "stopped"}, "t", ["calls"], ["90001"])
    assert [(e["event"], e["eid"], e["seq"]) for e in sup] == [
        ("call.ended", 1, 1),
        ("call.monitored", 2, 2),
    ]
    assert other == []  # the others still wait for the second pass
    assert bus.deliver() == 2
    assert [(e["eid"], e["seq"]) for e in other] == [(1, 1), (2, 2)]
    assert [e["eid"] for e in sup] == [1, 2]  # nothing twice


def test_resume_replays_what_the_new_topics_missed_between_login_and_subscribe() -> None:
    bus = EventBus()
    bus.publish("agent.state", {"i": 1}, "t", ["agents"])  # before login: eid 1
    got: list[Any] = []
    sub = bus.subscribe(lambda payload, _u: got.append(json.loads(payload)), "90001")
    bus.publish("agent.state", {"i": 2}, "t", ["agents"])  # not for "self": eid 2
    bus.publish("call.ringing", {"i": 3}, "t", ["calls"], ["90001"])  # its own: eid 3, live
    bus.set_topics(sub, {"self", "agents", "calls"})
    bus.publish("agent.state", {"i": 4}, "t", ["agents"])  # eid 4, live
    assert [e["eid"] for e in got] == [3, 4]
    assert bus.resume(sub, 0) == 2
    # 1 and 2 replayed; 3 went out live before the subscribe and is not sent again
    assert [e["eid"] for e in got] == [3, 4, 1, 2]
    assert [e["seq"] for e in got] == [1, 2, 3, 4]


def test_resubscribing_twice_keeps_resume_exact() -> None:
    bus = EventBus()
    got: list[Any] = []
    sub = bus.subscribe(lambda payload, _u: got.append(json.loads(payload)["eid"]), None)
    for topics in ({"calls"}, {"calls"}, {"agents"}, {"calls", "agents"}):
        bus.publish("call.queued", {}, "t", ["calls"])
        bus.publish("agent.state", {}, "t", ["agents"])
        bus.set_topics(sub, topics)
    live = list(got)
    bus.resume(sub, 0)
    replayed = got[len(live) :]
    assert sorted(live + replayed) == list(range(1, 9))  # every event once
    assert len(set(got)) == len(got)
