"""The recorder's core: which call is recorded, and the life of each recording. No I/O.

Inputs: the center's "call answered" (:meth:`Recorder.answered`), the agents' commands
(:meth:`Recorder.command`: ``call.record``, ``call.record_pause``, ``call.record_resume``)
and the PBX's AMI events (:meth:`Recorder.on_event`: ``MixMonitorStart``,
``MixMonitorMute``, ``MixMonitorStop``, ``Hangup``). Outputs: AMI actions to send
(:class:`~cti.center.effects.PbxAction`), events for WebSocket clients
(:class:`~cti.center.effects.Publish` of ``call.recording``) and, for the asyncio shell
(:mod:`recorder.service`), :class:`Opened` / :class:`Closed` to index.

A recording is MixMonitor on the agent's phone leg: it hears both parties, and it ends
with that leg (a transfer away from the agent ends the agent's recording). Its state
follows what the PBX reports, not what was asked: ``started`` when MixMonitorStart
arrives, ``paused``/``resumed`` on MixMonitorMute, ``stopped`` on MixMonitorStop or when
the channel hangs up (whichever comes first). The one transition table is
:data:`TRANSITIONS`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cti.ami.codec import Message
from cti.api.protocol import ClientError
from cti.center.effects import PbxAction, Publish
from recorder.policy import RecordingConfig

__all__ = [
    "NO_SYSTEM_CLASS",
    "ON_DEMAND_KEY",
    "ON_DEMAND_VARIABLE",
    "RECORD_OPS",
    "RECORD_VARIABLE",
    "TRANSITIONS",
    "Closed",
    "IllegalRecordingTransition",
    "NeverStarted",
    "Opened",
    "Recorder",
    "Recording",
    "State",
    "day_path",
    "refusal",
]

RECORD_OPS: Final = ("call.record", "call.record_pause", "call.record_resume", "call.record_stop")
#: The caller's channel variable that tells [agent-dial]'s ``Dial(...U(hotline-record^...))``
#: which file to record to (empty: none). Set with AMI ``Setvar`` (class ``call``).
RECORD_VARIABLE: Final = "HOTLINE_RECORD"
#: The agent's leg variable that [hotline-record-now] records to, and the key of that
#: dynamic feature (features.conf [applicationmap] hotline-record-now; D: phones never
#: send it). Set with AMI ``Setvar`` and ``PlayDTMF Receive`` (both class ``call``).
ON_DEMAND_VARIABLE: Final = "HOTLINE_RECORD_NOW"
ON_DEMAND_KEY: Final = "D"
#: What ``call.record`` answers when Asterisk refuses the ``MixMonitor`` action.
NO_SYSTEM_CLASS: Final = (
    "MixMonitor: permission denied: Asterisk requires the AMI 'system' write class for "
    "this action, which Hotline's AMI user does not have on purpose (docs/recording.md, "
    "'Real Asterisk'); only a call that did not reach the agent through [agent-dial] "
    "needs it: recordings by policy and agents' starts on queue calls work without it"
)
EVENTS: Final = ("MixMonitorStart", "MixMonitorMute", "MixMonitorStop", "Hangup")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")


class State(enum.StrEnum):
    REQUESTED = "requested"  # MixMonitor sent, MixMonitorStart not seen yet
    RECORDING = "recording"
    PAUSED = "paused"
    STOPPED = "stopped"


class IllegalRecordingTransition(Exception):
    def __init__(self, state: State, event: str) -> None:
        super().__init__(f"recording is {state.value}: {event} does not apply")
        self.state = state
        self.event = event


# (state, what happened) -> (new state, the call.recording state published or None)
TRANSITIONS: Final[Mapping[tuple[State, str], tuple[State, str | None]]] = {
    (State.REQUESTED, "start"): (State.RECORDING, "started"),
    (State.REQUESTED, "stop"): (State.STOPPED, None),  # never started: nothing to say
    (State.RECORDING, "mute"): (State.PAUSED, "paused"),
    (State.RECORDING, "unmute"): (State.RECORDING, None),  # already recording
    (State.RECORDING, "stop"): (State.STOPPED, "stopped"),
    (State.PAUSED, "unmute"): (State.RECORDING, "resumed"),
    (State.PAUSED, "mute"): (State.PAUSED, None),
    (State.PAUSED, "stop"): (State.STOPPED, "stopped"),
    (State.RECORDING, "start"): (State.RECORDING, None),  # a repeated MixMonitorStart
    (State.PAUSED, "start"): (State.PAUSED, None),
}


def transition(state: State, event: str) -> tuple[State, str | None]:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalRecordingTransition(state, event) from None


def refusal(action: str, error: str, message: str) -> str:
    """The text of ``pbx_unavailable`` when the PBX refused ``action`` (``error``: the
    whole error, ``message``: Asterisk's ``Message``)."""
    if action == "MixMonitor" and message.strip().lower() == "permission denied":
        return NO_SYSTEM_CLASS
    return f"{action}: {error}"


def day_path(recording_id: str, started_at: float, fmt: str) -> str:
    """``YYYY/MM/DD/ID.fmt`` (UTC date of the start), relative to the recordings dir."""
    day = datetime.fromtimestamp(started_at, UTC)
    return f"{day:%Y/%m/%d}/{_UNSAFE.sub('_', recording_id)}.{fmt}"


@dataclass
class CallInfo:
    """An answered call the recorder may record (what the index needs to know)."""

    call_id: str
    agent_id: str
    channel: str  # the agent's phone leg
    caller: str | None
    queue: str | None
    answered_at: float
    #: Reached the agent through [agent-dial] (offered()), so its leg has the dialplan's
    #: hotline-record-now feature: an on-demand start needs no 'system' class.
    by_agent_dial: bool = False


@dataclass(frozen=True, slots=True)
class Planned:
    """A policy recording decided when the call was offered to an agent: the dialplan
    starts it on the agent's leg once answered (``MixMonitor(pbx_file)``)."""

    recording_id: str
    path: str
    pbx_file: str
    decided_at: float


@dataclass
class Recording:
    recording_id: str
    call_id: str
    agent_id: str
    caller: str | None
    queue: str | None
    channel: str
    path: str  # relative to the recordings directory (YYYY/MM/DD/...)
    pbx_file: str  # what MixMonitor was told
    on_demand: bool
    requested_at: float
    by_dialplan: bool = False  # started by [agent-dial]'s U() routine, not by AMI
    state: State = State.REQUESTED
    started_at: float | None = None
    ended_at: float | None = None
    pauses: list[tuple[float, float | None]] = field(default_factory=list)

    @property
    def paused_s(self) -> float:
        end = self.ended_at
        return sum(((b if b is not None else end or a) - a) for a, b in self.pauses)


@dataclass(frozen=True, slots=True)
class Opened:
    """The PBX started recording: index it (state ``recording``)."""

    recording: Recording


@dataclass(frozen=True, slots=True)
class Closed:
    """The recording ended: wait for the file, hash it, complete its index row."""

    recording: Recording


@dataclass(frozen=True, slots=True)
class NeverStarted:
    """The agent's leg ended and the dialplan never started the policy's recording (no
    ``MixMonitorStart``: an extensions.conf without [agent-dial]'s ``U()``, MixMonitor
    failing): reported, since the policy said the call must be recorded."""

    recording: Recording


Output = PbxAction | Publish | Opened | Closed | NeverStarted


class Recorder:
    def __init__(
        self,
        config: RecordingConfig,
        pbx_dir: str,
        *,
        on_output: Callable[[list[Output]], None] | None = None,
    ) -> None:
        """``on_output`` receives what happens outside :meth:`on_event` (a recording the
        dialplan started before the center reported the answer); without it, those
        outputs collect in :attr:`outbox`."""
        self.config = config
        self.outbox: list[Output] = []
        self._on_output = on_output or self.outbox.extend
        self.pbx_dir = pbx_dir.rstrip("/") or "/"
        self.calls: dict[str, CallInfo] = {}  # answered calls by call id
        self.by_channel: dict[str, Recording] = {}  # live recordings by the agent's leg
        self._call_of_channel: dict[str, str] = {}
        self._planned: dict[str, Planned] = {}  # by call id: the dialplan will record
        self._told: dict[str, str] = {}  # caller's channel -> its RECORD_VARIABLE value
        self._numbers: dict[str, int] = {}  # by call id: recordings numbered so far
        self._caller_of: dict[str, str] = {}  # caller's channel -> call id (offered())
        # MixMonitorStart on a leg not known yet -> when. Asterisk runs Dial's U() routine
        # before it publishes DialEnd ANSWER, so the dialplan's start comes first.
        self._early: dict[str, float] = {}

    # ------------------------------------------------------------------ inputs

    def offered(self, call_id: str, channel: str, queue: str | None, now: float) -> list[PbxAction]:
        """The center is about to Redirect the caller's ``channel`` to [agent-dial]: tell
        the dialplan whether to record the agent's leg once answered, and where.

        The returned ``Setvar`` must be sent before that Redirect (the effects run in
        order, and Asterisk runs one AMI session's actions in order): the Dial line reads
        the variable when the caller reaches it. Nothing is sent when the value is already
        the one on the channel (a re-offer after no answer), so a queue that never records
        costs no action at all.
        """
        self._caller_of[channel] = call_id
        value = ""
        if self.config.policy(queue).records(call_id):
            plan = self._planned.get(call_id)
            if plan is None:
                recording_id = self._next_id(call_id)
                path = day_path(recording_id, now, self.config.format)
                plan = Planned(recording_id, path, f"{self.pbx_dir}/{path}", now)
                self._planned[call_id] = plan
            value = plan.pbx_file
        else:
            self._planned.pop(call_id, None)
        if self._told.get(channel, "") == value:
            return []
        self._told[channel] = value
        headers = (("Channel", channel), ("Variable", RECORD_VARIABLE), ("Value", value))
        return [PbxAction("Setvar", headers, call_id, "recording decision for the dialplan")]

    def _ended(self, call_id: str) -> None:
        """The caller hung up: forget what was planned for the call."""
        self._planned.pop(call_id, None)
        self._numbers.pop(call_id, None)

    def answered(
        self,
        call_id: str,
        agent_id: str,
        channel: str | None,
        caller: str | None,
        queue: str | None,
        now: float,
    ) -> list[PbxAction]:
        """An agent answered ``call_id`` on ``channel``: record it if the policy says so."""
        if channel is None:
            return []
        by_agent_dial = call_id in self._caller_of.values()
        info = CallInfo(call_id, agent_id, channel, caller, queue, now, by_agent_dial)
        self.calls[call_id] = info
        self._call_of_channel[channel] = call_id
        plan = self._planned.pop(call_id, None)
        if plan is not None:
            # [agent-dial]'s U() routine runs MixMonitor on this leg before the bridge:
            # wait for its MixMonitorStart, send nothing. (The caller's variable keeps its
            # value: a later offer of this call compares with it.)
            rec = self._recording(info, plan, on_demand=False, by_dialplan=True, now=now)
            self.by_channel[channel] = rec
            started = self._early.pop(channel, None)
            if started is not None:  # its MixMonitorStart came before the answer
                self._on_output(self._apply(rec, "start", started))
            return []
        if not self.config.policy(queue).records(call_id):
            return []
        # Answered without passing offered() (not a Redirect to [agent-dial]): the AMI
        # action, which needs the 'system' write class on Asterisk.
        return [self._start(info, now, on_demand=False)]

    def command(
        self, op: str, call_id: str, agent_id: str, channel: str, now: float
    ) -> tuple[list[PbxAction], dict[str, Any]]:
        """An agent's ``call.record*`` op on its own call (ownership checked by the caller:
        ``channel`` is the agent's leg of ``call_id``)."""
        info = self.calls.get(call_id)
        if info is None or info.channel != channel:
            raise ClientError(
                "invalid_state", f"call {call_id!r} is not a queue call answered at your phone"
            )
        rec = self.by_channel.get(channel)
        if op == "call.record":
            if not self.config.policy(info.queue).agent_may_start:
                raise ClientError("forbidden", f"calls of queue {info.queue!r} may not be recorded")
            if rec is not None and (rec.state is not State.REQUESTED or rec.by_dialplan):
                raise ClientError("conflict", f"call {call_id!r} is being recorded already")
            if rec is not None:  # asked before, never started (the action failed): ask again
                del self.by_channel[channel]
            actions = (
                self._start_on_demand(info, now)
                if info.by_agent_dial
                else [self._start(info, now, on_demand=True)]
            )
            started = self.by_channel[channel]
            return actions, {"recording_id": started.recording_id}
        if rec is None or rec.state is State.REQUESTED:
            raise ClientError("invalid_state", f"call {call_id!r} is not being recorded")
        if op == "call.record_stop":
            if not rec.on_demand:
                raise ClientError(
                    "forbidden",
                    f"queue {info.queue!r} records its calls: pause the recording instead",
                )
            stop = PbxAction("StopMixMonitor", (("Channel", channel),), call_id, "stop recording")
            return [stop], {"recording_id": rec.recording_id}
        if op == "call.record_pause":
            if rec.state is State.PAUSED:
                raise ClientError("invalid_state", "the recording is paused already")
            state = "1"
        else:
            if rec.state is not State.PAUSED:
                raise ClientError("invalid_state", "the recording is not paused")
            state = "0"
        headers = (("Channel", channel), ("Direction", "both"), ("State", state))
        purpose = "pause recording" if state == "1" else "resume recording"
        action = PbxAction("MixMonitorMute", headers, call_id, purpose)
        return [action], {"recording_id": rec.recording_id}

    def on_event(self, msg: Message, now: float) -> list[Output]:
        name = msg.event
        channel = msg.get("Channel") or ""
        if name == "Hangup":
            self._early.pop(channel, None)
            self._told.pop(channel, None)
            out = self._stop(channel, now)
            offered = self._caller_of.pop(channel, None)
            if offered is not None:
                self._ended(offered)
            call_id = self._call_of_channel.pop(channel, None)
            if call_id is not None:
                info = self.calls.get(call_id)
                if info is not None and info.channel == channel:
                    del self.calls[call_id]
                    if call_id not in self._caller_of.values():  # numbered without offered()
                        self._numbers.pop(call_id, None)
            return out
        rec = self.by_channel.get(channel)
        if rec is None:
            if name == "MixMonitorStart" and channel:
                self._early[channel] = now
            return []
        if name == "MixMonitorStart":
            return self._apply(rec, "start", now)
        if name == "MixMonitorMute":
            muted = (msg.get("State") or "").strip() == "1"
            return self._apply(rec, "mute" if muted else "unmute", now)
        if name == "MixMonitorStop":
            return self._stop(channel, now)
        return []

    def forget_gone(self, alive: Callable[[str], bool], now: float) -> list[Output]:
        """After a PBX reconnect: recordings whose channel is gone have ended."""
        out: list[Output] = []
        for channel in [c for c in self.by_channel if not alive(c)]:
            out += self._stop(channel, now)
        for channel in [c for c in self._call_of_channel if not alive(c)]:
            self.calls.pop(self._call_of_channel.pop(channel), None)
        for channel in [c for c in self._early if not alive(c)]:
            del self._early[channel]
        for channel in [c for c in self._told if not alive(c)]:
            del self._told[channel]
        for channel in [c for c in self._caller_of if not alive(c)]:
            self._ended(self._caller_of.pop(channel))
        return out

    def active(self, call_id: str) -> Recording | None:
        info = self.calls.get(call_id)
        return None if info is None else self.by_channel.get(info.channel)

    def state_of(self, call_id: str) -> str | None:
        """For snapshots: ``recording``, ``paused`` or None (not being recorded)."""
        rec = self.active(call_id)
        if rec is None or rec.state not in (State.RECORDING, State.PAUSED):
            return None
        return rec.state.value

    # ------------------------------------------------------------------ internals

    def _next_id(self, call_id: str) -> str:
        n = self._numbers[call_id] = self._numbers.get(call_id, 0) + 1
        return f"{call_id}-r{n}"

    @staticmethod
    def _recording(
        info: CallInfo, plan: Planned, *, on_demand: bool, by_dialplan: bool, now: float
    ) -> Recording:
        return Recording(
            recording_id=plan.recording_id,
            call_id=info.call_id,
            agent_id=info.agent_id,
            caller=info.caller,
            queue=info.queue,
            channel=info.channel,
            path=plan.path,
            pbx_file=plan.pbx_file,
            on_demand=on_demand,
            requested_at=now,
            by_dialplan=by_dialplan,
        )

    def _start(self, info: CallInfo, now: float, *, on_demand: bool) -> PbxAction:
        plan = self._begin(info, now, on_demand=on_demand)
        headers = (("Channel", info.channel), ("File", plan.pbx_file))
        return PbxAction("MixMonitor", headers, info.call_id, "record the call")

    def _start_on_demand(self, info: CallInfo, now: float) -> list[PbxAction]:
        """An agent's start on a leg that [agent-dial] gave the hotline-record-now
        feature: the file on the leg, then the feature's key as if the phone sent it
        (``Receive``); the bridge runs [hotline-record-now], which starts MixMonitor on
        the leg. Both actions are class 'call'; the call stays bridged."""
        plan = self._begin(info, now, on_demand=True)
        channel, call_id = info.channel, info.call_id
        file = (("Channel", channel), ("Variable", ON_DEMAND_VARIABLE), ("Value", plan.pbx_file))
        key = (("Channel", channel), ("Digit", ON_DEMAND_KEY), ("Receive", "true"))
        return [
            PbxAction("Setvar", file, call_id, "file of the agent's recording"),
            PbxAction("PlayDTMF", key, call_id, "start the agent's recording"),
        ]

    def _begin(self, info: CallInfo, now: float, *, on_demand: bool) -> Planned:
        """A recording of ``info``'s leg asked for now (state ``requested``)."""
        recording_id = self._next_id(info.call_id)
        path = day_path(recording_id, now, self.config.format)
        plan = Planned(recording_id, path, f"{self.pbx_dir}/{path}", now)
        rec = self._recording(info, plan, on_demand=on_demand, by_dialplan=False, now=now)
        self.by_channel[info.channel] = rec
        return plan

    def _stop(self, channel: str, now: float) -> list[Output]:
        rec = self.by_channel.pop(channel, None)
        if rec is None:
            return []
        if rec.by_dialplan and rec.state is State.REQUESTED:
            return [*self._apply(rec, "stop", now), NeverStarted(rec)]
        return self._apply(rec, "stop", now)

    def _apply(self, rec: Recording, what: str, now: float) -> list[Output]:
        rec.state, published = transition(rec.state, what)
        out: list[Output] = []
        if what == "start" and published:
            rec.started_at = now
            out.append(Opened(rec))
        elif what == "mute" and published:
            rec.pauses.append((now, None))
        elif what == "unmute" and published and rec.pauses:
            rec.pauses[-1] = (rec.pauses[-1][0], now)
        elif what == "stop" and published:
            rec.ended_at = now
            if rec.pauses and rec.pauses[-1][1] is None:
                rec.pauses[-1] = (rec.pauses[-1][0], now)
        if published is not None:
            out.append(self._event(rec, published, now))
        if what == "stop" and published:
            out.append(Closed(rec))
        return out

    @staticmethod
    def _event(rec: Recording, state: str, now: float) -> Publish:
        data: dict[str, Any] = {
            "call_id": rec.call_id,
            "state": state,
            "recording_id": rec.recording_id,
            "agent_id": rec.agent_id,
            "on_demand": rec.on_demand,
        }
        if state == "stopped" and rec.started_at is not None:
            data["duration_s"] = round(now - rec.started_at, 3)
            data["paused_s"] = round(rec.paused_s, 3)
        return Publish("call.recording", data, ("calls",), (rec.agent_id,))
