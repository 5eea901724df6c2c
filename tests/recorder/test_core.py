"""The recorder's pure core: policy on answer, the agent's ops, AMI events → states."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from cti.ami.codec import Message
from cti.api.protocol import ClientError
from cti.center.effects import PbxAction, Publish
from recorder.core import (
    ON_DEMAND_KEY,
    ON_DEMAND_VARIABLE,
    RECORD_VARIABLE,
    TRANSITIONS,
    Closed,
    IllegalRecordingTransition,
    NeverStarted,
    Opened,
    Recorder,
    State,
    day_path,
    refusal,
    transition,
)
from recorder.policy import Mode, QueuePolicy, RecordingConfig

CONFIG = RecordingConfig(
    queues=MappingProxyType(
        {
            "fault": QueuePolicy(Mode.ALWAYS),
            "complaint": QueuePolicy(Mode.ON_DEMAND),
            "general": QueuePolicy(Mode.NEVER),
        }
    )
)
T0 = 1_795_300_000.0  # 2026-11-21T...Z
AGENT_CH = "PJSIP/8001-0000002e"


def event(name: str, channel: str = AGENT_CH, **headers: str) -> Message:
    return Message([("Event", name), ("Channel", channel), *headers.items()])


def answered(rec: Recorder, queue: str, call_id: str = "c1") -> list[PbxAction]:
    return rec.answered(call_id, "80001", AGENT_CH, "0215550101", queue, T0)


def states(outputs: list[object]) -> list[str]:
    return [o.data["state"] for o in outputs if isinstance(o, Publish)]


def test_always_queue_starts_mixmonitor_on_the_agents_leg_into_a_day_directory() -> None:
    rec = Recorder(CONFIG, "/var/spool/asterisk/monitor/hotline/")
    [action] = answered(rec, "fault")
    assert action.name == "MixMonitor"
    headers = dict(action.headers)
    assert headers["Channel"] == AGENT_CH
    assert headers["File"] == "/var/spool/asterisk/monitor/hotline/2026/11/21/c1-r1.wav"
    assert action.call_id == "c1"


def test_never_and_on_demand_start_nothing_on_answer() -> None:
    rec = Recorder(CONFIG, "/rec")
    assert answered(rec, "general", "c1") == []
    assert answered(rec, "complaint", "c2") == []
    assert rec.answered("c3", "80001", None, None, "fault", T0) == []  # no leg found


def test_life_of_a_recording_from_the_pbx_events() -> None:
    rec = Recorder(CONFIG, "/rec")
    answered(rec, "fault")
    out = rec.on_event(event("MixMonitorStart"), T0 + 1)
    assert states(out) == ["started"]
    [opened] = [o for o in out if isinstance(o, Opened)]
    assert opened.recording.started_at == T0 + 1
    publish = next(o for o in out if isinstance(o, Publish))
    assert publish.event == "call.recording"
    assert publish.topics == ("calls",) and publish.agents == ("80001",)
    assert publish.data["recording_id"] == "c1-r1" and publish.data["call_id"] == "c1"
    assert states(rec.on_event(event("MixMonitorMute", State="1"), T0 + 2)) == ["paused"]
    assert states(rec.on_event(event("MixMonitorMute", State="1"), T0 + 2.5)) == []
    assert states(rec.on_event(event("MixMonitorMute", State="0"), T0 + 4)) == ["resumed"]
    out = rec.on_event(event("MixMonitorStop"), T0 + 6)
    assert states(out) == ["stopped"]
    stopped = next(o for o in out if isinstance(o, Publish)).data
    assert stopped["duration_s"] == 5.0 and stopped["paused_s"] == 2.0
    [closed] = [o for o in out if isinstance(o, Closed)]
    assert closed.recording.ended_at == T0 + 6
    assert rec.on_event(event("Hangup"), T0 + 7) == []  # stopped already: nothing more
    assert rec.calls == {}


def test_hangup_stops_a_paused_recording() -> None:
    rec = Recorder(CONFIG, "/rec")
    answered(rec, "fault")
    rec.on_event(event("MixMonitorStart"), T0)
    rec.on_event(event("MixMonitorMute", State="1"), T0 + 1)
    out = rec.on_event(event("Hangup"), T0 + 3)
    assert states(out) == ["stopped"]
    closed = next(o for o in out if isinstance(o, Closed)).recording
    assert closed.paused_s == 2.0


def test_a_recording_that_never_started_ends_silently() -> None:
    rec = Recorder(CONFIG, "/rec")
    answered(rec, "fault")
    assert rec.on_event(event("Hangup"), T0 + 1) == []
    assert rec.on_event(event("MixMonitorStart", channel="PJSIP/9-1"), T0) == []  # not ours


def test_agent_ops() -> None:
    rec = Recorder(CONFIG, "/rec")
    answered(rec, "complaint")
    with pytest.raises(ClientError) as caught:
        rec.command("call.record_pause", "c1", "80001", AGENT_CH, T0)
    assert caught.value.code == "invalid_state"
    [start], data = rec.command("call.record", "c1", "80001", AGENT_CH, T0)
    assert start.name == "MixMonitor" and data == {"recording_id": "c1-r1"}
    # The action failed (no MixMonitorStart): asking again is allowed.
    [again], data = rec.command("call.record", "c1", "80001", AGENT_CH, T0 + 1)
    assert data == {"recording_id": "c1-r2"}
    assert dict(again.headers)["File"].endswith("/c1-r2.wav")
    out = rec.on_event(event("MixMonitorStart"), T0 + 1)
    assert next(o for o in out if isinstance(o, Publish)).data["on_demand"] is True
    with pytest.raises(ClientError) as caught:
        rec.command("call.record", "c1", "80001", AGENT_CH, T0)
    assert caught.value.code == "conflict"
    [pause], _ = rec.command("call.record_pause", "c1", "80001", AGENT_CH, T0)
    assert pause.name == "MixMonitorMute"
    assert dict(pause.headers) == {"Channel": AGENT_CH, "Direction": "both", "State": "1"}
    with pytest.raises(ClientError):
        rec.command("call.record_resume", "c1", "80001", AGENT_CH, T0)  # not paused yet
    rec.on_event(event("MixMonitorMute", State="1"), T0 + 2)
    [resume], _ = rec.command("call.record_resume", "c1", "80001", AGENT_CH, T0)
    assert dict(resume.headers)["State"] == "0"
    [stop], data = rec.command("call.record_stop", "c1", "80001", AGENT_CH, T0)
    assert (stop.name, dict(stop.headers)) == ("StopMixMonitor", {"Channel": AGENT_CH})
    assert data == {"recording_id": "c1-r2"}


def test_a_policy_recording_cannot_be_stopped_by_the_agent() -> None:
    rec = Recorder(CONFIG, "/rec")
    answered(rec, "fault")
    rec.on_event(event("MixMonitorStart"), T0)
    with pytest.raises(ClientError) as caught:
        rec.command("call.record_stop", "c1", "80001", AGENT_CH, T0)
    assert caught.value.code == "forbidden" and "pause" in caught.value.message


def test_agent_ops_refused() -> None:
    rec = Recorder(CONFIG, "/rec")
    answered(rec, "general")
    with pytest.raises(ClientError) as caught:
        rec.command("call.record", "c1", "80001", AGENT_CH, T0)
    assert caught.value.code == "forbidden"
    with pytest.raises(ClientError) as caught:
        rec.command("call.record", "c9", "80001", AGENT_CH, T0)  # not answered here
    assert caught.value.code == "invalid_state"
    with pytest.raises(ClientError) as caught:
        rec.command("call.record", "c1", "80001", "PJSIP/8002-1", T0)  # another leg
    assert caught.value.code == "invalid_state"


def test_reconnect_ends_recordings_whose_channel_is_gone() -> None:
    rec = Recorder(CONFIG, "/rec")
    answered(rec, "fault", "c1")
    rec.on_event(event("MixMonitorStart"), T0)
    assert rec.forget_gone(lambda name: True, T0 + 1) == []
    out = rec.forget_gone(lambda name: False, T0 + 2)
    assert states(out) == ["stopped"] and rec.by_channel == {} and rec.calls == {}


def test_transition_table() -> None:
    for (state, what), (new, _) in TRANSITIONS.items():
        assert transition(state, what)[0] is new
    for state in State:
        for what in ("start", "mute", "unmute", "stop"):
            if (state, what) not in TRANSITIONS:
                with pytest.raises(IllegalRecordingTransition, match=state.value):
                    transition(state, what)
    assert (State.STOPPED, "start") not in TRANSITIONS


def test_day_path_is_utc_and_safe() -> None:
    assert day_path("1795300000.1-r1", T0, "wav") == "2026/11/21/1795300000.1-r1.wav"
    assert day_path("../../etc/passwd", T0, "wav") == "2026/11/21/.._.._etc_passwd.wav"


# -- the dialplan start: offered() before the Redirect to [agent-dial] ----------------------

CALLER_CH = "PJSIP/e1trunk-00000011"


def test_offer_of_a_recorded_queue_sets_the_file_for_the_dialplan_then_answer_sends_nothing() -> (
    None
):
    rec = Recorder(CONFIG, "/var/spool/asterisk/monitor/hotline")
    [setvar] = rec.offered("c1", CALLER_CH, "fault", T0)
    assert setvar.name == "Setvar"
    assert dict(setvar.headers) == {
        "Channel": CALLER_CH,
        "Variable": RECORD_VARIABLE,
        "Value": "/var/spool/asterisk/monitor/hotline/2026/11/21/c1-r1.wav",
    }
    assert rec.offered("c1", CALLER_CH, "fault", T0 + 20) == []  # re-offer: already set
    assert answered(rec, "fault") == []  # the dialplan starts it: no MixMonitor action
    assert rec.state_of("c1") is None  # requested, not recording until the PBX says so
    out = rec.on_event(event("MixMonitorStart"), T0 + 1)
    assert states(out) == ["started"]
    [opened] = [o for o in out if isinstance(o, Opened)]
    assert opened.recording.recording_id == "c1-r1"
    assert opened.recording.path == "2026/11/21/c1-r1.wav"
    with pytest.raises(ClientError) as err:
        rec.command("call.record", "c1", "80001", AGENT_CH, T0 + 2)
    assert err.value.code == "conflict"


def test_policy_start_not_yet_seen_is_a_conflict_for_call_record() -> None:
    rec = Recorder(CONFIG, "/rec")
    rec.offered("c1", CALLER_CH, "fault", T0)
    answered(rec, "fault")
    with pytest.raises(ClientError) as err:  # MixMonitorStart still to come
        rec.command("call.record", "c1", "80001", AGENT_CH, T0)
    assert err.value.code == "conflict"


def test_queues_that_do_not_record_cost_no_action_and_a_changed_decision_is_cleared() -> None:
    rec = Recorder(CONFIG, "/rec")
    assert rec.offered("c1", CALLER_CH, "general", T0) == []
    assert rec.offered("c1", CALLER_CH, "complaint", T0) == []
    # Re-queued to a recording queue, then back: the variable must not stay set.
    [on] = rec.offered("c1", CALLER_CH, "fault", T0)
    assert dict(on.headers)["Value"] == "/rec/2026/11/21/c1-r1.wav"
    [off] = rec.offered("c1", CALLER_CH, "general", T0)
    assert dict(off.headers)["Value"] == ""
    assert answered(rec, "general") == []
    assert rec.on_event(event("MixMonitorStart"), T0) == []  # nobody's recording


def test_a_second_agent_of_the_same_call_gets_the_next_number() -> None:
    rec = Recorder(CONFIG, "/rec")
    rec.offered("c1", CALLER_CH, "fault", T0)
    answered(rec, "fault")
    rec.on_event(event("MixMonitorStart"), T0)
    rec.on_event(event("Hangup"), T0 + 5)  # the agent's leg ends (a transfer away)
    [again] = rec.offered("c1", CALLER_CH, "fault", T0 + 6)
    assert dict(again.headers)["Value"] == "/rec/2026/11/21/c1-r2.wav"
    rec.on_event(event("Hangup", CALLER_CH), T0 + 7)  # the caller's end forgets the call
    [fresh] = rec.offered("c1", "PJSIP/e1trunk-00000012", "fault", T0 + 8)
    assert dict(fresh.headers)["Value"] == "/rec/2026/11/21/c1-r1.wav"


def test_a_refused_mixmonitor_action_names_the_missing_class() -> None:
    assert "'system' write class" in refusal(
        "MixMonitor", "AMI MixMonitor failed: Error: Permission denied", "Permission denied"
    )
    other = refusal("Redirect", "AMI Redirect failed: Error: No such channel", "No such channel")
    assert other == "Redirect: AMI Redirect failed: Error: No such channel"


def test_a_policy_recording_the_dialplan_never_started_is_reported_when_the_leg_ends() -> None:
    rec = Recorder(CONFIG, "/rec")
    rec.offered("c1", CALLER_CH, "fault", T0)
    answered(rec, "fault")
    out = rec.on_event(event("Hangup"), T0 + 30)  # no MixMonitorStart came
    [lost] = [o for o in out if isinstance(o, NeverStarted)]
    assert lost.recording.recording_id == "c1-r1"
    assert states(out) == []  # nothing was published as started: nothing to stop


def test_the_dialplans_start_may_come_before_the_answer() -> None:
    """Asterisk runs Dial's U() routine before it publishes DialEnd ANSWER."""
    seen: list[object] = []
    rec = Recorder(CONFIG, "/rec", on_output=seen.extend)
    rec.offered("c1", CALLER_CH, "fault", T0)
    assert rec.on_event(event("MixMonitorStart"), T0 + 1) == []  # not known yet
    assert answered(rec, "fault") == []
    assert states(seen) == ["started"]
    [opened] = [o for o in seen if isinstance(o, Opened)]
    assert opened.recording.started_at == T0 + 1
    assert rec.state_of("c1") == "recording"
    assert states(rec.on_event(event("Hangup"), T0 + 9)) == ["stopped"]


def test_an_early_start_of_a_leg_that_hung_up_is_forgotten() -> None:
    rec = Recorder(CONFIG, "/rec")
    rec.on_event(event("MixMonitorStart"), T0)
    rec.on_event(event("Hangup"), T0 + 1)
    rec.offered("c1", CALLER_CH, "fault", T0 + 2)
    answered(rec, "fault")
    assert rec.outbox == [] and rec.state_of("c1") is None


def test_the_variable_is_per_caller_channel_a_callbacks_new_channel_gets_it_too() -> None:
    rec = Recorder(CONFIG, "/rec")
    [first] = rec.offered("c1", CALLER_CH, "fault", T0)
    [second] = rec.offered("c1", "Local/0215550101@hotline-callback-0000001;2", "fault", T0 + 60)
    assert dict(second.headers)["Channel"].startswith("Local/0215550101@")
    assert (
        dict(second.headers)["Value"] == dict(first.headers)["Value"] == "/rec/2026/11/21/c1-r1.wav"
    )


def test_on_demand_start_of_a_call_from_agent_dial_is_the_dialplan_feature() -> None:
    """Offered (Redirected to [agent-dial]): the leg has hotline-record-now, so the
    start is Setvar + PlayDTMF Receive (class call), not the MixMonitor action."""
    rec = Recorder(CONFIG, "/rec")
    assert rec.offered("c1", CALLER_CH, "complaint", T0) == []  # nothing planned
    answered(rec, "complaint")
    actions, data = rec.command("call.record", "c1", "80001", AGENT_CH, T0 + 5)
    assert [a.name for a in actions] == ["Setvar", "PlayDTMF"]
    setvar, key = (dict(a.headers) for a in actions)
    assert setvar == {
        "Channel": AGENT_CH,
        "Variable": ON_DEMAND_VARIABLE,
        "Value": "/rec/2026/11/21/c1-r1.wav",
    }
    assert key == {"Channel": AGENT_CH, "Digit": ON_DEMAND_KEY, "Receive": "true"}
    assert data == {"recording_id": "c1-r1"}
    out = rec.on_event(event("MixMonitorStart"), T0 + 5.1)
    [started] = [o for o in out if isinstance(o, Publish)]
    assert started.data["state"] == "started" and started.data["on_demand"] is True
    # a call never offered (not through [agent-dial]) falls back to the AMI action
    rec.answered("c2", "80001", "PJSIP/8001-0000002f", None, "complaint", T0)
    [action], _ = rec.command("call.record", "c2", "80001", "PJSIP/8001-0000002f", T0)
    assert action.name == "MixMonitor"
