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
    "RECORD_OPS",
    "TRANSITIONS",
    "Closed",
    "IllegalRecordingTransition",
    "Opened",
    "Recorder",
    "Recording",
    "State",
    "day_path",
]

RECORD_OPS: Final = ("call.record", "call.record_pause", "call.record_resume", "call.record_stop")
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
    recordings: int = 0


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


Output = PbxAction | Publish | Opened | Closed


class Recorder:
    def __init__(self, config: RecordingConfig, pbx_dir: str) -> None:
        self.config = config
        self.pbx_dir = pbx_dir.rstrip("/") or "/"
        self.calls: dict[str, CallInfo] = {}  # answered calls by call id
        self.by_channel: dict[str, Recording] = {}  # live recordings by the agent's leg
        self._call_of_channel: dict[str, str] = {}

    # ------------------------------------------------------------------ inputs

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
        info = CallInfo(call_id, agent_id, channel, caller, queue, now)
        self.calls[call_id] = info
        self._call_of_channel[channel] = call_id
        if not self.config.policy(queue).records(call_id):
            return []
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
            if rec is not None and rec.state is not State.REQUESTED:
                raise ClientError("conflict", f"call {call_id!r} is being recorded already")
            if rec is not None:  # asked before, never started (the action failed): ask again
                del self.by_channel[channel]
            action = self._start(info, now, on_demand=True)
            started = self.by_channel[channel]
            return [action], {"recording_id": started.recording_id}
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
            out = self._stop(channel, now)
            call_id = self._call_of_channel.pop(channel, None)
            if call_id is not None:
                info = self.calls.get(call_id)
                if info is not None and info.channel == channel:
                    del self.calls[call_id]
            return out
        rec = self.by_channel.get(channel)
        if rec is None:
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

    def _start(self, info: CallInfo, now: float, *, on_demand: bool) -> PbxAction:
        info.recordings += 1
        recording_id = f"{info.call_id}-r{info.recordings}"
        path = day_path(recording_id, now, self.config.format)
        pbx_file = f"{self.pbx_dir}/{path}"
        self.by_channel[info.channel] = Recording(
            recording_id=recording_id,
            call_id=info.call_id,
            agent_id=info.agent_id,
            caller=info.caller,
            queue=info.queue,
            channel=info.channel,
            path=path,
            pbx_file=pbx_file,
            on_demand=on_demand,
            requested_at=now,
        )
        headers = (("Channel", info.channel), ("File", pbx_file))
        return PbxAction("MixMonitor", headers, info.call_id, "record the call")

    def _stop(self, channel: str, now: float) -> list[Output]:
        rec = self.by_channel.pop(channel, None)
        if rec is None:
            return []
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
