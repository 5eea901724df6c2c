"""Role and priority rules of the supervisor and dispatcher functions, the dispatch
configuration keys, and the pure supervision core fed with real AMI messages."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from cti.ami.codec import Message
from cti.api.protocol import OPS, SUPERVISOR_OPS, ClientError, parse_command
from cti.calls.changes import LegRemoved
from cti.calls.model import CallModel
from cti.center.core import Center
from cti.center.dispatch import DispatchRules
from cti.center.effects import PbxAction, Publish
from cti.center.supervise import HANDLED_OPS, Supervision
from cti.config import AgentConfig, DispatchLevel, Role, demo_config
from tests.cti.test_config import SRC, Data, error_of

#: Every op of the supervisor and dispatcher functions (docs/dispatch.md).
SUPERVISOR_FUNCTIONS = sorted(
    {
        "call.listen",
        "call.whisper",
        "call.barge",
        "call.release",
        "extension.pickup",
        "extension.call",
        "conference.start",
        "group.call",
        *SUPERVISOR_OPS,
    }
)


def test_every_supervisor_op_needs_the_supervisor_role() -> None:
    assert set(SUPERVISOR_FUNCTIONS) <= set(OPS)
    assert {op for op, spec in OPS.items() if spec.role is Role.SUPERVISOR} == set(
        SUPERVISOR_FUNCTIONS
    )
    for op in SUPERVISOR_FUNCTIONS:
        # The role is refused before the parameters are looked at (none are given).
        with pytest.raises(ClientError) as info:
            parse_command({"op": op}, Role.AGENT)
        assert info.value.code == "forbidden", op
        with pytest.raises(ClientError) as missing:
            parse_command({"op": op, "call_id": 5, "extension": "x"}, Role.SUPERVISOR)
        assert missing.value.code == "invalid_params", op


def test_every_supervisor_op_has_a_handler() -> None:
    group_ops = {"group.list", "group.create", "group.update", "group.delete", "group.call"}
    assert set(SUPERVISOR_FUNCTIONS) == HANDLED_OPS | group_ops


def test_parameters_of_the_new_ops() -> None:
    ok = parse_command({"op": "call.monitor", "call_id": "c1", "mode": "whisper"}, Role.SUPERVISOR)
    assert ok.params == {"call_id": "c1", "mode": "whisper"}
    with pytest.raises(ClientError, match="mode: expected one of listen, whisper, barge, stop"):
        parse_command({"op": "call.monitor", "call_id": "c1", "mode": "spy"}, Role.SUPERVISOR)
    with pytest.raises(ClientError, match="extensions: at most 63"):
        parse_command(
            {"op": "conference.add", "conference": "1000", "extensions": ["8001"] * 64},
            Role.SUPERVISOR,
        )
    with pytest.raises(ClientError, match="barge: expected true or false"):
        parse_command({"op": "extension.call", "extension": "8001", "barge": 1}, Role.ADMIN)


def rules(*agents: AgentConfig) -> DispatchRules:
    config = demo_config()
    return DispatchRules(replace(config, agents=(*config.agents, *agents)))


SUB = AgentConfig("90002", extension="9002", role=Role.SUPERVISOR, dispatch=DispatchLevel.SUB)
PLAIN = AgentConfig("90003", extension="9003", role=Role.SUPERVISOR)


def test_dispatch_levels_rank_main_over_sub_over_plain() -> None:
    r = rules(SUB, PLAIN)
    assert (r.rank("90001"), r.rank("90002"), r.rank("90003"), r.rank("80001")) == (2, 1, 0, 0)
    assert r.has_barge_priority("90001") and r.has_barge_priority("90002")
    assert not r.has_barge_priority("90003")
    with pytest.raises(ClientError) as info:
        r.check("90002", "barge into call c1", ["80001", "90001"])
    assert info.value.code == "forbidden"
    assert "90001 is the main dispatcher, and you are a sub-dispatcher" in info.value.message
    r.check("90001", "barge into call c1", ["90002", "80001"])  # main over sub: allowed
    r.check("90002", "release call c1", ["90002", "80001"])  # own call, agents: allowed
    with pytest.raises(ClientError):
        r.check("90003", "listen to call c1", ["90002"])  # plain under sub


def test_emergency_numbers_by_caller_or_dialled_number() -> None:
    r = rules()
    assert r.queue_priority("120", "4001") == 1000
    assert r.queue_priority("0215550101", "110") == 1000
    assert r.queue_priority("0215550101", "4001") is None
    assert r.queue_priority(None, None) is None


def test_dispatch_config_errors() -> None:
    def on_agent(d: Data) -> None:
        d["agents"][0]["dispatch"] = "main"

    assert error_of(on_agent) == (
        f"{SRC}: agents[0].dispatch: expected a dispatch level only on a supervisor or admin "
        '(role = "supervisor")'
    )

    def bad_level(d: Data) -> None:
        d["agents"][13]["dispatch"] = "chief"

    assert (
        error_of(bad_level)
        == f"{SRC}: agents[13].dispatch: expected one of main, sub; found 'chief'"
    )

    def low_priority(d: Data) -> None:
        d["dispatch"]["emergency_priority"] = 10

    assert error_of(low_priority) == (
        f"{SRC}: dispatch.emergency_priority: expected a priority above every queue's "
        "(the highest is 10); found 10"
    )

    def bad_number(d: Data) -> None:
        d["dispatch"]["emergency_numbers"] = ["120", "one-two-zero"]

    assert error_of(bad_number).startswith(
        f"{SRC}: dispatch.emergency_numbers[1]: expected a dialled"
    )

    def unknown(d: Data) -> None:
        d["dispatch"]["emergancy_numbers"] = ["120"]

    assert "dispatch.emergancy_numbers" in error_of(unknown)


# ------------------------------------------------------------------ the pure core


def supervision() -> Supervision:
    return Supervision(Center(demo_config(), CallModel(), now=0.0))


def msg(**headers: str) -> Message:
    return Message(tuple(headers.items()))


def events(effects: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(e.event, dict(e.data)) for e in effects if isinstance(e, Publish)]


def test_conference_members_follow_the_confbridge_events() -> None:
    s = supervision()
    actions, data, effects = s.start_conference("90001", "9001", ["8001", "8002", "9001"], 1.0)
    room = data["conference"]
    assert room == "1000"
    assert (data["room"], data["extensions"]) == (room, ["9001", "8001", "8002"])
    assert [dict(a.headers)["Channel"] for a in actions] == [
        "PJSIP/9001",
        "PJSIP/8001",
        "PJSIP/8002",
    ]
    assert all(dict(a.headers)["Exten"] == room for a in actions)
    assert events(effects)[0][0] == "conference.started"
    second = s.start_conference("90001", "9001", ["8003"], 1.0)[1]["conference"]
    assert second == "1001"

    join = s.on_event(msg(Event="ConfbridgeJoin", Conference=room,
                          Channel="PJSIP/8001-0000000a", Muted="No"), 2.0)  # fmt: skip
    members = events(join)[0][1]["members"]
    assert [(m["extension"], m["state"]) for m in members] == [
        ("9001", "invited"),
        ("8001", "joined"),
        ("8002", "invited"),
    ]
    failed = s.on_event(msg(Event="OriginateResponse", Response="Failure",
                            Channel="PJSIP/8002", Exten=room, Reason="3"), 2.5)  # fmt: skip
    assert events(failed)[0][1]["members"][2]["state"] == "failed"
    s.on_event(msg(Event="ConfbridgeMute", Conference=room, Channel="PJSIP/8001-0000000a"), 3)
    assert s.conferences[room].members["8001"].muted
    with pytest.raises(ClientError) as info:
        s.mute_member("90001", room, "9001", True)  # still ringing
    assert info.value.code == "invalid_state"
    kick, _, _ = s.drop_member("90001", room, "8001")
    assert [(a.name, dict(a.headers)["Channel"]) for a in kick] == [
        ("ConfbridgeKick", "PJSIP/8001-0000000a")
    ]
    # A dropped member who was still ringing is kicked as soon as it joins.
    s.drop_member("90001", room, "9001")
    late = s.on_event(msg(Event="ConfbridgeJoin", Conference=room,
                          Channel="PJSIP/9001-0000000b"), 4.0)  # fmt: skip
    assert [a.name for a in late if isinstance(a, PbxAction)] == ["ConfbridgeKick"]
    ended = s.on_event(msg(Event="ConfbridgeEnd", Conference=room), 5.0)
    assert events(ended)[0][0] == "conference.ended"
    assert room not in s.conferences
    with pytest.raises(ClientError) as gone:
        s.end_conference("90001", room)
    assert gone.value.code == "not_found"


def test_a_sub_dispatcher_cannot_manage_the_main_dispatchers_conference() -> None:
    config = demo_config()
    center = Center(replace(config, agents=(*config.agents, SUB)), CallModel(), now=0.0)
    s = Supervision(center)
    room = s.start_conference("90001", "9001", ["8001"], 0.0)[1]["conference"]
    for attempt in (
        lambda: s.add_members("90002", room, ["8003"], 1.0),
        lambda: s.drop_member("90002", room, "8001"),
        lambda: s.end_conference("90002", room),
    ):
        with pytest.raises(ClientError) as info:
            attempt()
        assert info.value.code == "forbidden"


def test_conference_size_limit() -> None:
    s = supervision()
    extensions = [str(7000 + i) for i in range(63)]
    room = s.start_conference("90001", "9001", extensions, 0.0)[1]["conference"]
    with pytest.raises(ClientError, match="at most 63 members"):
        s.add_members("90001", room, ["6999"], 1.0)


def test_a_phone_without_a_hint_gets_its_lamp_from_its_device_state() -> None:
    model = CallModel()
    center = Center(demo_config(), model, now=0.0)
    s = Supervision(center)
    hint = msg(Event="ExtensionStatus", Exten="8001", Context="internal", Hint="PJSIP/8001",
               Status="0", StatusText="Idle")  # fmt: skip
    model.handle(hint, 0.0)
    lamps: list[tuple[str, str]] = []
    for device, state in (("PJSIP/8001", "INUSE"), ("PJSIP/8005", "RINGING"),
                          ("PJSIP/8005", "INUSE"), ("Local/x@y", "INUSE")):  # fmt: skip
        changes = model.handle(msg(Event="DeviceStateChange", Device=device, State=state), 1.0)
        lamps += [(e.data["extension"], e.data["state"]) for e in s.on_changes(changes, 1.0)
                  if isinstance(e, Publish)]  # fmt: skip
    # 8001 has a hint (its lamp comes from ExtensionStatus through the center): not here.
    assert lamps == [("8005", "ringing"), ("8005", "busy")]
    snap = {
        e["extension"]: e["state"]
        for e in center.snapshot(frozenset({"extensions"}), "90001", 1.0)["extensions"]
    }
    assert snap["8001"] == "idle" and snap["8005"] == "busy" and snap["8012"] == "unavailable"


def test_ending_a_conference_whose_phones_still_ring_leaves_no_room_behind() -> None:
    """conference.end before anybody joined: the phones still ringing are kicked as they
    join, and the conference ends once none of them can join any more."""
    s = supervision()
    _, data, _ = s.start_conference("90001", "9001", ["8001", "8002"], 1.0)
    room = data["conference"]
    _, ending, effects = s.end_conference("90001", room)
    assert [n for n, _ in events(effects)] == ["conference.updated"]
    assert {m["state"] for m in ending["members"]} == {"dropped"}
    # 9001 answered first and joins: kicked; the room ends with it on the PBX.
    join = s.on_event(msg(Event="ConfbridgeJoin", Conference=room,
                          Channel="PJSIP/9001-0000000a"), 2.0)  # fmt: skip
    assert [a.name for a in join if isinstance(a, PbxAction)] == ["ConfbridgeKick"]
    still = s.on_event(msg(Event="ConfbridgeEnd", Conference=room), 2.5)
    assert [n for n, _ in events(still)] == ["conference.updated"]  # 8001, 8002 ring on
    # 8001 answers and hangs up before it joins; 8002 does not answer.
    s.on_event(msg(Event="OriginateResponse", Response="Success",
                   Channel="PJSIP/8001-0000000b", Exten=room, Reason="4"), 3.0)  # fmt: skip
    gone = LegRemoved("x", 3.5, "PJSIP/8001-0000000b", "PJSIP/8001", "phone", "normal", 16, "")
    assert [n for n, _ in events(s.on_changes([gone], 3.5))] == ["conference.updated"]
    assert room in s.conferences
    failed = s.on_event(msg(Event="OriginateResponse", Response="Failure",
                            Channel="PJSIP/8002", Exten=room, Reason="3"), 4.0)  # fmt: skip
    assert [n for n, _ in events(failed)] == ["conference.ended"]
    assert room not in s.conferences
