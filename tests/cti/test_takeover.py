"""The takeover of spies and conferences after a restart, in the pure core: the call
model's resync of a ChanSpy channel, and Supervision.restore fed with kept rows and the
PBX's ConfbridgeList items (cti/center/takeover.py; end to end:
tests/cti/test_supervisor_restart.py)."""

from __future__ import annotations

from cti.ami.codec import Message
from cti.calls import CallModel, SpyStarted
from cti.center.core import Center
from cti.center.effects import PbxAction, SaveConference, SaveMonitor
from cti.center.supervise import Supervision
from cti.center.takeover import from_rows, options_mode
from cti.config import demo_config
from cti.store.live import LiveConference, LiveMember, LiveMonitor
from tests.cti.test_supervisor_rules import events, msg

TRUNK, AGENT, SPY = "PJSIP/e1trunk-00000001", "PJSIP/8001-00000002", "PJSIP/9001-00000003"


def channel(name: str, uid: str, linkedid: str, app: str, data: str, bridge: str) -> Message:
    return msg(Event="CoreShowChannel", Channel=name, ChannelState="6", ChannelStateDesc="Up",
               CallerIDNum=name[6:10], CallerIDName="", Context="internal", Exten="s",
               Uniqueid=uid, Linkedid=linkedid, Application=app, ApplicationData=data,
               Duration="00:00:20", BridgeId=bridge)  # fmt: skip


def talking_with_a_spy(options: str = "qdEB") -> list[Message]:
    return [
        channel(TRUNK, "1700.1", "1700.1", "AppDial", "(Outgoing Line)", "b1"),
        channel(AGENT, "1700.2", "1700.1", "AppQueue", "(Outgoing Line)", "b1"),
        channel(SPY, "1700.3", "1700.3", "ChanSpy", f"{AGENT},{options}", ""),
    ]


def center() -> Center:
    return Center(demo_config(), CallModel(trunk_devices=["PJSIP/e1trunk"]), now=0.0)


def test_resync_makes_a_listed_chanspy_a_spy_leg_of_the_spied_call() -> None:
    model = CallModel(trunk_devices=["PJSIP/e1trunk"])
    changes = model.resync(10.0, channels=talking_with_a_spy())
    [call] = model.calls.values()
    assert call.call_id == "1700.1"
    assert {leg.name: leg.role for leg in call.legs.values()} == {
        TRUNK: "trunk", AGENT: "phone", SPY: "spy",
    }  # fmt: skip
    assert [(c.channel, c.target_channel) for c in changes if isinstance(c, SpyStarted)] == [
        (SPY, AGENT)
    ]
    assert model.resync(11.0, channels=talking_with_a_spy()) == []  # nothing new the 2nd time


def test_a_local_spyer_is_merged_once() -> None:
    model = CallModel(trunk_devices=["PJSIP/e1trunk"])
    local = "Local/spy@spylab-00000004;1"
    listed = [*talking_with_a_spy()[:2], channel(local, "1700.4", "1700.4", "ChanSpy",
                                                 f"{AGENT},qdEw", "")]  # fmt: skip
    first = model.resync(10.0, channels=listed)
    assert [c.channel for c in first if isinstance(c, SpyStarted)] == [local]
    assert model.resync(11.0, channels=listed) == []


def test_options_tell_the_mode_a_chanspy_started_in() -> None:
    assert options_mode(f"{AGENT},qdEB") == "barge"
    assert options_mode(f"{AGENT},qdEw") == "whisper"
    assert options_mode(f"{AGENT},qdE") == "listen"
    assert options_mode(AGENT) == "listen"


def test_a_kept_spy_keeps_its_mode_and_a_lost_one_is_adopted_from_its_options() -> None:
    c = center()
    c.model.resync(10.0, channels=talking_with_a_spy("qdE"))  # started listening
    s = Supervision(c)
    kept = LiveMonitor("90001", "9001", "1700.1", AGENT, "whisper", "listen", SPY, 5.0)
    s.load(from_rows([kept], []))
    assert s.snapshot(frozenset({"calls"}))["monitors"] == []  # not before the takeover
    out = s.restore({}, 11.0)
    monitor = s.monitors["90001"]
    assert (monitor.mode, monitor.spy_mode, monitor.channel) == ("whisper", "whisper", SPY)
    # A mode asked for before the spy had started is switched to now, by DTMF.
    assert [(a.name, dict(a.headers)["Digit"]) for a in out if isinstance(a, PbxAction)] == [
        ("PlayDTMF", "5")
    ]
    saved = [e for e in out if isinstance(e, SaveMonitor)]
    assert [(e.supervisor, e.row and e.row.spy_mode) for e in saved] == [("90001", "whisper")]

    lost = Supervision(center())
    lost.center.model.resync(10.0, channels=talking_with_a_spy("qdEB"))
    lost.load(from_rows([], []))
    out = lost.restore({}, 11.0)
    adopted = lost.monitors["90001"]  # the account of extension 9001
    assert (adopted.mode, adopted.call_id, adopted.target) == ("barge", "1700.1", AGENT)
    assert [e for _, e in events(out)] == [adopted.json("started")]


def test_a_kept_spy_that_is_gone_stops_and_its_row_is_forgotten() -> None:
    s = Supervision(center())
    kept = LiveMonitor("90001", "9001", "1700.1", AGENT, "barge", "barge", SPY, 5.0)
    s.load(from_rows([kept], []))
    out = s.restore({}, 11.0)
    assert s.monitors == {}
    assert [(n, e["state"]) for n, e in events(out)] == [("call.monitored", "stopped")]
    assert [(e.supervisor, e.row) for e in out if isinstance(e, SaveMonitor)] == [("90001", None)]


def listed(room: str, channel_name: str, muted: str = "No") -> Message:
    return msg(Event="ConfbridgeList", Conference=room, Channel=channel_name, Muted=muted,
               Talking="No", Admin="No")  # fmt: skip


def test_conferences_are_taken_over_from_the_lists_and_the_events_held_meanwhile() -> None:
    s = Supervision(center())
    members = (
        LiveMember("9001", "joined", "PJSIP/9001-0000000a"),
        LiveMember("8001", "joined", "PJSIP/8001-0000000b"),
        LiveMember("8002", "invited", None),  # its phone no longer rings
        LiveMember("8003", "dropped", None),  # dropped while ringing, joined meanwhile
    )
    live = LiveConference("1000", "90001", "select", None, 5.0, members)
    ended = LiveConference("1002", "90001", "group", "night", 6.0, members[:1])
    s.load(from_rows([], [live, ended]))
    # While the lists are read, 8001 leaves: held, then applied over the lists.
    leave = msg(Event="ConfbridgeLeave", Conference="1000", Channel="PJSIP/8001-0000000b")
    assert s.on_event(leave, 10.5) == []
    rooms = {
        "1000": (
            listed("1000", "PJSIP/9001-0000000a"),
            listed("1000", "PJSIP/8001-0000000b", muted="Yes"),
            listed("1000", "PJSIP/8003-0000000c"),
        ),
        "1001": (listed("1001", "PJSIP/8004-0000000d"),),  # an agent's conference
    }
    out = s.restore(rooms, 11.0)
    conf = s.conferences["1000"]
    assert list(s.conferences) == ["1000"]
    assert {e: (m.state, m.muted) for e, m in conf.members.items()} == {
        "9001": ("joined", False),
        "8001": ("left", True),
        "8002": ("failed", False),
        "8003": ("dropped", False),
    }
    kicks = [dict(a.headers) for a in out if isinstance(a, PbxAction)]
    assert kicks == [{"Conference": "1000", "Channel": "PJSIP/8003-0000000c"}]
    names = [(n, e["conference"]) for n, e in events(out)]
    assert ("conference.ended", "1002") in names and ("conference.updated", "1000") in names
    rows = {e.room: e.row for e in out if isinstance(e, SaveConference)}
    assert rows["1002"] is None
    assert rows["1000"] is not None and rows["1000"].owner == "90001"
    assert [m.state for m in rows["1000"].members] == ["joined", "left", "failed", "dropped"]
    # Neither the room taken over nor the agent's is handed out again.
    assert s.free_room() not in ("1000", "1001")


def test_a_pbx_that_will_not_list_its_rooms_leaves_the_conferences_alone() -> None:
    s = Supervision(center())
    member = LiveMember("9001", "joined", "PJSIP/9001-0000000a")
    live = LiveConference("1000", "90001", "select", None, 5.0, (member,))
    s.load(from_rows([], [live]))
    out = s.restore(None, 11.0)
    assert list(s.conferences) == ["1000"]
    assert [e for e in out if isinstance(e, SaveConference)] == []  # the row stays as it is
