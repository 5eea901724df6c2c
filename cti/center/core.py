"""The center: where the PBX's calls, the ACD and the agents' desks meet. No I/O.

Inputs are AMI events (after the call model has applied them), the call model's
changes, the agents' commands and the time; outputs are :mod:`cti.center.effects`
(events to publish, AMI actions, records to save) that the asyncio shell
(:mod:`cti.center.server`) carries out in order.

How a trunk call is routed (the dialplan is ``pbx_sim/dialplan/hotline.conf``):

1. The caller's channel enters ``[hotline-wait]`` (music on hold): the call enters the
   queue its dialled number routes to (``call.queued``), and screen pop data is fetched.
2. The ACD offers the call to an agent: the caller is redirected to
   ``[agent-dial]``, which dials the agent's extension. ``DialBegin`` = the agent's
   phone rings: ``call.ringing`` with the customer record and recent calls.
3. ``DialEnd ANSWER``: ``call.answered``, the agent is ``on_call``. Any other status
   (no answer, busy, unavailable) is a no-answer for the ACD (RONA) and the dialplan
   returns the caller to waiting; the ACD offers the call again at its old place.
   If the ACD's ring timeout passes first, the caller is redirected back to waiting.
4. The call ends (the model's ``CallEnded``): the agent goes to wrap-up, the record is
   saved; a caller who hangs up before an answer is ``call.abandoned``.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

from acd import (
    ACD,
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallFallback,
    CallOffered,
    CallQueued,
    CallRequeued,
    Event,
    IllegalCallState,
    IllegalTransition,
    UnknownCall,
)
from cti.ami.codec import Message
from cti.api.protocol import ClientError
from cti.calls import changes as ch
from cti.calls.model import Call, CallModel
from cti.calls.states import device_lamp
from cti.center.dispatch import DispatchRules
from cti.center.effects import (
    DialBack,
    Effect,
    LookupCaller,
    PbxAction,
    Publish,
    Repaired,
    SaveAgentState,
    SaveCall,
)
from cti.center.hold import HOLD_CONTEXT, Hold, HoldSource, hold_action, unhold_action
from cti.config import Config, Role
from cti.store.jsonable import iso
from cti.store.models import CallLeg, CallOutcome, CallRecord, Direction, Transfer
from ivr.engine import Outcome as IvrOutcome

if TYPE_CHECKING:
    from recorder.core import Recorder

WAIT_CONTEXT: Final = "hotline-wait"
DIAL_CONTEXT: Final = "agent-dial"
FULL_CONTEXT: Final = "trunk-full"
STATS_EVERY_S: Final = 5.0
FINISHED_IDS_KEPT: Final = 100_000
HISTORY_CALLS: Final = 5
DID_VARIABLE: Final = "HOTLINE_DID"
IVR_QUEUE_VARIABLE: Final = "HOTLINE_QUEUE"  # set by the IVR (ivr/engine.py)
CALLBACK_VARIABLE: Final = "HOTLINE_CALLBACK"  # on a callback's channel: the call's id
CALLBACK_CONTEXT: Final = "hotline-callback"  # dials the customer out through the trunk
# How a call that the IVR ended (never queued) is recorded.
_IVR_END_OUTCOMES: Final = {
    "gone": CallOutcome.ABANDONED,
    "hangup": CallOutcome.REJECTED,
    "voicemail": CallOutcome.FALLBACK,
    "callback_request": CallOutcome.FALLBACK,
}


# Changes after which a call may have gained or lost its trunk leg.
_LEG_CHANGES: Final = (ch.CallStarted, ch.LegAdded, ch.LegRemoved, ch.CallEnded, ch.CallMerged)


@dataclass
class RoutedCall:
    """A call Hotline routes: what the ACD does not know about it."""

    call_id: str  # Hotline's id: the PBX's, unless a restarted PBX reused it
    model_id: str  # the call model's (Asterisk Linkedid based)
    caller_num: str
    caller_name: str
    channel: str
    did: str | None
    queue: str | None
    started_at: float
    enqueued_at: float
    customer: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    agent_id: str | None = None  # offered or talking
    extension: str | None = None
    ringing: bool = False  # the agent's phone rings (DialBegin seen, no DialEnd yet)
    answered_at: float | None = None
    outcome: CallOutcome = CallOutcome.IN_PROGRESS
    legs: list[CallLeg] = field(default_factory=list)
    looked_up: bool = False  # screen pop data fetched
    pop_waiting: bool = False  # the phone rang before the data came: pop when it does
    released_by: str | None = None  # a supervisor's force release (强拆)
    release_reason: str | None = None
    ivr_path: tuple[str, ...] = ()  # the caller's way through the IVR (ivr/engine.py)
    satisfaction: int | None = None  # the after-call survey's 1..5
    callback: Callback | None = None  # virtual hold: the caller asked to be called back
    hold: Hold = field(default_factory=Hold)
    emergency: bool = False  # an emergency number: at the head of every queue
    transfers: list[Transfer] = field(default_factory=list)  # for the record


@dataclass
class Callback:
    """A caller who left the queue to be called back, keeping its place.

    ``requested`` (still on the line) -> ``waiting`` (hung up; the call waits in the ACD)
    -> ``dialling`` (at the head: parked in the ACD while the trunk rings the customer)
    -> ``answered`` (the customer is back in the waiting context, first in line), or
    ``retry`` (parked until ``retry_at``) and, after the last attempt, ``failed``.
    """

    number: str
    state: str = "requested"
    attempts: int = 0
    retry_at: float | None = None


@dataclass
class Desk:
    """An agent logged in at an extension."""

    agent_id: str
    extension: str
    role: Role
    last_call_id: str | None = None  # the call its next wrap-up is about


class Center:
    def __init__(self, config: Config, model: CallModel, *, now: float) -> None:
        self.config = config
        self.model = model
        self.acd = ACD(config.queues)
        self.dispatch = DispatchRules(config)
        self._agents = {a.agent_id: a for a in config.agents}
        for agent in config.agents:
            self.acd.add_agent(agent.spec())
        self._trunk = config.trunks[0] if config.trunks else None
        self.desks: dict[str, Desk] = {}
        self._by_extension: dict[str, str] = {}
        self.calls: dict[str, RoutedCall] = {}  # by the call model's id
        self._by_hid: dict[str, RoutedCall] = {}  # by Hotline's id
        # Ids of calls already finished: a PBX restarted within a second can hand out
        # the same Uniqueid/Linkedid again, and a record must never be overwritten.
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._by_channel: dict[str, str] = {}  # caller channel -> model id
        self._held: dict[str, str] = {}  # caller channel -> model id, on hold from a desktop
        # Screen-pop data fetched as soon as a trunk call appears (by model id), so that
        # it is there when the call reaches an agent moments later.
        # None while the look-up is on its way.
        self._prefetch: dict[str, tuple[dict[str, Any] | None, list[dict[str, Any]]] | None] = {}
        self._blocked: dict[str, str | None] = {}  # model call id -> dialled number
        self._trunk_calls: set[str] = set()  # model ids of calls holding a trunk channel
        self._stats_due = now + STATS_EVERY_S
        self._last_stats: dict[str, tuple[Any, ...]] = {}
        self.link_up = False
        self.recorder: Recorder | None = None  # set by the server (recorder/service.py)
        # What the IVR decided for a caller (by channel), until the caller waits.
        self._ivr: dict[str, IvrOutcome] = {}
        # Calls whose caller hung up to be called back (by Hotline's id), until the
        # customer answers the callback.
        self._callbacks: dict[str, RoutedCall] = {}

    # ------------------------------------------------------------------ agents' desks

    def login(
        self, agent_id: str, role: Role, extension: str | None, now: float, *, takeover: bool
    ) -> tuple[dict[str, Any], list[Effect]]:
        """A connection of ``agent_id`` logged in. Agents and supervisors with an
        extension get a desk; one extension belongs to one agent at a time."""
        known = self._agents.get(agent_id)
        extension = extension or (known.extension if known else None)
        out: list[Effect] = []
        desk = self.desks.get(agent_id)
        if desk is not None and extension is not None and desk.extension != extension:
            if not takeover:
                raise ClientError(
                    "conflict",
                    f"{agent_id} is logged in at extension {desk.extension}; "
                    "log in with takeover: true to move here",
                )
            self._release_extension(desk)
            desk = None
        if extension is not None:
            holder = self._by_extension.get(extension)
            if holder is not None and holder != agent_id:
                if not takeover:
                    raise ClientError(
                        "conflict", f"extension {extension} is in use by agent {holder}"
                    )
                out += self._force_logout(holder, now, "taken over")
        if desk is None and extension is not None:
            desk = Desk(agent_id, extension, role)
            self.desks[agent_id] = desk
            self._by_extension[extension] = agent_id
            if agent_id in self._agents and self.acd.agent(agent_id).state is AgentState.LOGGED_OUT:
                out += self._acd(self.acd.login(agent_id, now, ready=False, reason="login"), now)
        state = self.acd.agent(agent_id) if agent_id in self._agents else None
        data = {
            "extension": extension,
            "state": None if state is None else state.state.value,
        }
        return data, out

    def agent_command(
        self, agent_id: str, op: str, params: Mapping[str, Any], now: float
    ) -> tuple[dict[str, Any], list[Effect]]:
        if agent_id not in self._agents or agent_id not in self.desks:
            raise ClientError("invalid_state", f"{agent_id} has no desk: log in with an extension")
        acd = self.acd
        try:
            if op == "agent.ready":
                events = acd.set_ready(agent_id, now)
            elif op == "agent.not_ready":
                events = acd.set_not_ready(agent_id, params["reason"], now)
            elif op == "agent.logout":
                events = acd.logout(agent_id, now)
            else:  # agent.wrap_up_done
                events = acd.end_wrap_up(agent_id, now)
        except IllegalTransition as error:
            raise ClientError("invalid_state", str(error)) from None
        out = self._acd(events, now)
        if op == "agent.logout":
            self._release_extension(self.desks[agent_id])
        view = acd.agent(agent_id)
        return {"state": view.state.value, "reason": view.reason}, out

    def _release_extension(self, desk: Desk) -> None:
        self.desks.pop(desk.agent_id, None)
        if self._by_extension.get(desk.extension) == desk.agent_id:
            del self._by_extension[desk.extension]

    def _force_logout(self, agent_id: str, now: float, why: str) -> list[Effect]:
        out: list[Effect] = []
        if agent_id in self._agents:
            view = self.acd.agent(agent_id)
            if view.state in (AgentState.RINGING, AgentState.ON_CALL):
                raise ClientError("conflict", f"agent {agent_id} is on a call at that extension")
            if view.state is not AgentState.LOGGED_OUT:
                out += self._acd(self.acd.logout(agent_id, now), now)
        desk = self.desks.get(agent_id)
        if desk is not None:
            self._release_extension(desk)
        return out

    def own_call(self, agent_id: str, call_id: str) -> str:
        """The channel of ``agent_id``'s leg in ``call_id``, or a ClientError."""
        desk = self.desks.get(agent_id)
        call = self._live_call(call_id)
        if desk is not None:
            device = f"PJSIP/{desk.extension}"
            for leg in call.legs.values():
                if leg.device == device:
                    return leg.name
        raise ClientError("forbidden", f"call {call_id!r} is not one of your calls")

    def last_call(self, agent_id: str) -> str | None:
        desk = self.desks.get(agent_id)
        return None if desk is None else desk.last_call_id

    def known_extensions(self) -> set[str]:
        return {a.extension for a in self._agents.values() if a.extension} | set(self._by_extension)

    def model_id(self, call_id: str) -> str:
        routed = self._by_hid.get(call_id)
        return call_id if routed is None else routed.model_id

    def _routed(self, call_id: str) -> RoutedCall | None:
        return self._by_hid.get(call_id)

    def _live_call(self, call_id: str) -> Call:
        call = self.model.calls.get(self.model_id(call_id))
        if call is None:
            raise ClientError("not_found", f"no call {call_id!r}")
        return call

    def party_channels(self, call_id: str) -> list[str]:
        """Every live party leg (customer, phones) of a call; not spies, not plumbing."""
        call = self._live_call(call_id)
        return [leg.name for leg in call.legs.values() if leg.role in ("trunk", "phone")]

    def other_party(self, call_id: str, mine: str) -> str:
        """The party the agent on ``mine`` talks to (the customer, first)."""
        parties = [c for c in self.party_channels(call_id) if c != mine]
        if not parties:
            raise ClientError("invalid_state", f"call {call_id!r} has nobody else on it")
        call = self._live_call(call_id)
        caller = call.caller_channel
        return caller if caller in parties else parties[0]

    def note_release(self, call_id: str, by: str, reason: str | None) -> None:
        routed = self._routed(call_id)
        if routed is not None:
            routed.released_by, routed.release_reason = by, reason

    # ------------------------------------------------------------------------- time

    def next_wakeup(self) -> float:
        due = self.acd.next_wakeup()
        due = self._stats_due if due is None else min(due, self._stats_due)
        for routed in self._callbacks.values():
            cb = routed.callback
            if cb is not None and cb.retry_at is not None:
                due = min(due, cb.retry_at)
        return due

    def tick(self, now: float) -> list[Effect]:
        out = self._acd(self.acd.tick(now), now)
        out += self._callback_retries(now)
        if now >= self._stats_due:
            self._stats_due = now + STATS_EVERY_S
            out += self._reconcile(now)
            out += self._stats(now, force=True)
        return out

    # --------------------------------------------------------------------- the PBX

    def on_event(self, msg: Message, now: float) -> list[Effect]:
        """Raw AMI events the routing needs beyond the call model's changes."""
        name = msg.event
        if name == "Newexten":
            context = msg.get("Context")
            if context == WAIT_CONTEXT:
                return self._caller_waiting(msg.get("Channel") or "", now)
            if context == HOLD_CONTEXT or self._held:
                return self._hold_newexten(msg, now)
            if context == FULL_CONTEXT:
                channel = self.model.channel(msg.get("Channel") or "")
                if channel is not None and channel.call_id:
                    # the DID is set before the trunk's limit is checked: the record has it
                    self._blocked[channel.call_id] = (
                        channel.variables.get(DID_VARIABLE)
                        or channel.variables.get(f"__{DID_VARIABLE}")
                        or None
                    )
        elif name == "DialBegin":
            return self._dial_begin(msg, now)
        elif name == "DialEnd":
            return self._dial_end(msg, now)
        return []

    def on_changes(self, changes: Iterable[ch.CallChange], now: float) -> list[Effect]:
        out: list[Effect] = []
        for change in changes:
            if isinstance(change, _LEG_CHANGES):
                self._track_trunk(change.call_id)
                if isinstance(change, ch.CallMerged):
                    self._track_trunk(change.merged_call_id)
            if isinstance(change, ch.CallEnded):
                out += self._call_ended(change, now)
            elif isinstance(change, ch.CallMerged):
                self._merged(change)
            elif isinstance(change, ch.LegRemoved):
                out += self._hold_leg_removed(change)
                out += self._leg_removed(change, now)
            elif isinstance(change, ch.CallHeld | ch.CallUnheld | ch.CallBridged):
                out += self._hold_change(change)
            elif isinstance(change, ch.ExtensionStateChanged):
                out.append(
                    Publish(
                        "extension.state",
                        {"extension": change.exten, "state": change.lamp},
                        ("extensions",),
                    )
                )
            elif isinstance(change, ch.DeviceStateChanged):
                out += self._device_state(change, change.at)
            elif isinstance(change, ch.CallStarted | ch.CallTransferred):
                out += self._trunk_stats()
                if isinstance(change, ch.CallStarted) and change.role == "trunk":
                    self._prefetch[change.call_id] = None
                    out.append(LookupCaller(change.call_id, change.caller_num))
                routed = self.calls.get(change.call_id)
                if isinstance(change, ch.CallTransferred) and routed is not None:
                    t = change.transfer
                    data = {
                        "call_id": routed.call_id,
                        "kind": t.kind,
                        "from": t.from_device,
                        "to": t.to_device or t.to_exten,
                    }
                    out.append(Publish("call.transferred", data, ("calls",)))
                    to = data["to"] or ""
                    mode = "blind" if t.kind == "redirect" else t.kind  # our blind = Redirect
                    routed.transfers.append(
                        Transfer(routed.agent_id, to.removeprefix("PJSIP/"), mode, change.at)
                    )
                    out.append(self._save(routed))
        return out

    def link_state(self, up: bool, reason: str | None, now: float) -> list[Effect]:
        self.link_up = up
        out: list[Effect] = [
            Publish("pbx.link", {"state": "up" if up else "down", "reason": reason}, ("pbx",))
        ]
        if up:
            out += self._adopt(now)
        return out

    def _agent_at(self, device: str) -> str | None:
        if not device.startswith("PJSIP/"):
            return None
        extension = device[6:]
        holder = self._by_extension.get(extension)
        if holder is not None:
            return holder
        return next((a.agent_id for a in self._agents.values() if a.extension == extension), None)

    def _adopt(self, now: float) -> list[Effect]:
        """After a (re)connect and resync: take over the trunk calls the PBX still has
        that Hotline does not route yet (Hotline restarted while they were up). A caller
        waiting in the queue context is queued again; a conversation is followed so that
        its record is written when it ends."""
        out: list[Effect] = []
        for model_id, call in list(self.model.calls.items()):
            if model_id in self.calls or call.caller_channel is None:
                continue
            caller = self.model.channel(call.caller_channel)
            if caller is None or caller.role != "trunk":
                continue
            if caller.context == WAIT_CONTEXT:
                out += self._caller_waiting(caller.name, now)
            elif call.answered_at is not None or caller.context == HOLD_CONTEXT:
                # A caller on hold was answered before (apart now: the model saw no bridge).
                answered_at = call.answered_at if call.answered_at is not None else now
                routed = RoutedCall(
                    call_id=self._fresh_id(model_id),
                    model_id=model_id,
                    caller_num=caller.caller_num,
                    caller_name=caller.caller_name,
                    channel=caller.name,
                    did=caller.variables.get(DID_VARIABLE)
                    or caller.variables.get(f"__{DID_VARIABLE}"),
                    queue=None,
                    started_at=call.started_at,
                    enqueued_at=call.started_at,
                    answered_at=answered_at,
                    outcome=CallOutcome.ANSWERED,
                    looked_up=True,
                )
                for leg in call.legs.values():
                    agent = self._agent_at(leg.device)
                    if leg.role == "phone" and agent is not None:
                        routed.agent_id, routed.extension = agent, leg.device[6:]
                        routed.legs.append(
                            CallLeg(
                                agent_id=agent,
                                extension=routed.extension,
                                started_at=answered_at,
                                answered_at=answered_at,
                                outcome="answered",
                            )
                        )
                        break
                self.calls[model_id] = routed
                self._by_hid[routed.call_id] = routed
                self._by_channel[caller.name] = model_id
                if caller.context == HOLD_CONTEXT and caller.bridge_id is None:
                    self._adopt_hold(routed, now)
                out.append(Repaired("adopted a call in progress", routed.agent_id, routed.call_id))
        return out

    def caller_found(
        self, call_id: str, customer: dict[str, Any] | None, history: list[dict[str, Any]]
    ) -> list[Effect]:
        call = self._routed(call_id) or self.calls.get(call_id)
        if call is None:
            if call_id in self._prefetch:  # not routed yet: keep it for then
                self._prefetch[call_id] = (customer, history)
            return []
        call.customer, call.history, call.looked_up = customer, history, True
        if call.pop_waiting and (call.ringing or call.answered_at is not None):
            # Answered before the data came (only when the store could not answer at once):
            # the agent still gets the customer's card, marked as already answered.
            call.pop_waiting = False
            return [self._screen_pop(call)]
        return []

    # ------------------------------------------------------------------------- IVR

    def ivr_outcome(
        self, channel: str, uniqueid: str, did: str | None, outcome: IvrOutcome, now: float
    ) -> list[Effect]:
        """The IVR (ivr/server.py) finished with a caller. A queue decision waits for the
        caller to reach the waiting context (the dialplan goes there next); any other end
        is recorded at once, before the PBX hangs the caller up."""
        if outcome.kind == "queue":
            self._ivr[channel] = outcome
            return []
        leg = self.model.channel(channel)
        model_id = leg.call_id if leg is not None and leg.call_id else uniqueid
        call_id = self._fresh_id(model_id)
        self._remember(call_id)
        started = leg.created_at if leg is not None and leg.created_at else now
        record = CallRecord(
            call_id=call_id,
            started_at=started,
            caller_number=(leg.caller_num if leg else "") or None,
            caller_name=(leg.caller_name if leg else "") or None,
            dialled_number=did,
            trunk=self._trunk.name if self._trunk else None,
            ended_at=now,
            outcome=_IVR_END_OUTCOMES[outcome.kind],
            cause=f"ivr_{outcome.kind}",
            ivr_path=outcome.path,
        )
        return [SaveCall(record)]

    def survey_queue(self, channel: str) -> str | None:
        """The queue of the call the caller on ``channel`` just had (for its survey)."""
        model_id = self._by_channel.get(channel)
        routed = self.calls.get(model_id) if model_id else None
        return None if routed is None or routed.answered_at is None else routed.queue

    def survey_scored(self, channel: str, score: int | None) -> list[Effect]:
        model_id = self._by_channel.get(channel)
        routed = self.calls.get(model_id) if model_id else None
        if routed is None or score is None:
            return []
        routed.satisfaction = score
        routed.ivr_path = (*routed.ivr_path, f"survey={score}")
        return [self._save(routed)]

    # ------------------------------------------------- virtual hold: callbacks

    def request_callback(self, channel: str, now: float) -> tuple[bool, list[Effect]]:
        """The waiting caller on ``channel`` pressed the callback key. Accepted when the
        call's queue offers callbacks, the caller's number is known and no agent is
        ringing yet; the caller then hangs up and the call keeps its place."""
        config = self.config.ivr.callback if self.config.ivr is not None else None
        model_id = self._by_channel.get(channel)
        routed = self.calls.get(model_id) if model_id else None
        if (
            config is None
            or routed is None
            or routed.queue not in config.queues
            or routed.agent_id is not None
            or routed.answered_at is not None
            or routed.callback is not None
            or not routed.caller_num.isdigit()
        ):
            return False, []
        routed.callback = Callback(routed.caller_num)
        routed.ivr_path = (*routed.ivr_path, "callback:requested")
        return True, [self._callback_event(routed, "requested")]

    def _callback_event(self, routed: RoutedCall, state: str, **extra: Any) -> Publish:
        cb = routed.callback
        data: dict[str, Any] = {
            "call_id": routed.call_id,
            "state": state,
            "number": cb.number if cb else None,
            "queue": routed.queue,
            "attempts": cb.attempts if cb else 0,
            **extra,
        }
        return Publish("call.callback", data, ("calls",))

    def _keep_for_callback(self, routed: RoutedCall) -> bool:
        cb = routed.callback
        if cb is None or cb.state != "requested":
            return False
        try:
            view = self.acd.call(routed.call_id)
        except UnknownCall:
            return False
        return view.agent_id is None  # an agent ringing: the caller simply left

    def _callback_waiting(self, routed: RoutedCall) -> list[Effect]:
        """The caller hung up after asking for a callback: the call stays in the ACD."""
        assert routed.callback is not None
        routed.callback.state = "waiting"
        routed.channel = ""
        self._callbacks[routed.call_id] = routed
        return [self._callback_event(routed, "waiting"), self._save(routed)]

    def _dial_back(
        self, routed: RoutedCall, offer: CallOffered, extension: str, now: float
    ) -> list[Effect]:
        """The callback reached the head of its queue and an agent is reserved for it:
        ring the customer through the trunk while the agent waits (its reservation is
        extended over the customer's ring, without a miss)."""
        cb = routed.callback
        config = self.config.ivr.callback if self.config.ivr is not None else None
        assert cb is not None and config is not None
        if cb.state == "dialling" or (
            self._trunk is not None and self.trunk_busy() >= self._trunk.channels
        ):
            # Already ringing the customer (a timer gave the agent up meanwhile), or the
            # E1 is full: step aside without using an attempt; the agent is free.
            out = self._acd(self.acd.park(routed.call_id, now), now)
            if cb.state != "dialling":
                cb.state, cb.retry_at = "retry", now + config.retry_after_s
                out.append(self._callback_event(routed, "retry", reason="trunk_full"))
            return out
        routed.agent_id, routed.extension, routed.ringing = offer.agent_id, extension, False
        routed.legs.append(
            CallLeg(agent_id=offer.agent_id, extension=extension, queue=offer.queue, started_at=now)
        )
        cb.state, cb.attempts, cb.retry_at = "dialling", cb.attempts + 1, None
        out = self._acd(self.acd.extend_ring(routed.call_id, now, config.ring_s + 20), now)
        headers = (
            ("Channel", f"Local/{cb.number}@{CALLBACK_CONTEXT}"),
            ("Context", WAIT_CONTEXT),
            ("Exten", "s"),
            ("Priority", "1"),
            ("Timeout", str(int((config.ring_s + 5) * 1000))),
            ("CallerID", f'"Hotline" <{routed.did or ""}>'),
            ("Variable", f"{CALLBACK_VARIABLE}={routed.call_id}"),
            ("Variable", f"CALLBACK_RING_S={int(config.ring_s)}"),
            ("Variable", f"__{DID_VARIABLE}={routed.did or ''}"),
        )
        out.append(self._callback_event(routed, "dialling", agent_id=offer.agent_id))
        out.append(DialBack(routed.call_id, headers, config.ring_s + 15))
        return out

    def callback_dialled(self, call_id: str, ok: bool, reason: str, now: float) -> list[Effect]:
        """The Originate of a callback ended: answered (the customer's channel comes to
        the waiting context), or failed (retried, then reported)."""
        routed = self._callbacks.get(call_id)
        config = self.config.ivr.callback if self.config.ivr is not None else None
        if ok or routed is None or routed.callback is None or config is None:
            return []
        cb = routed.callback
        out: list[Effect] = []
        agent_id = routed.agent_id
        if cb.attempts < config.attempts:
            cb.state, cb.retry_at = "retry", now + config.retry_after_s
            with contextlib.suppress(UnknownCall, IllegalCallState):
                out += self._acd(self.acd.park(call_id, now), now)
            if agent_id is not None:
                self._leg_update(routed, agent_id, ended_at=now, outcome="callback_failed")
            out.append(self._callback_event(routed, "retry", reason=reason))
            return out
        cb.state = "failed"
        del self._callbacks[call_id]
        with contextlib.suppress(UnknownCall):
            out += self._acd(self.acd.hangup(call_id, now), now)
        if agent_id is not None:
            self._leg_update(routed, agent_id, ended_at=now, outcome="callback_failed")
        self._finish(routed)
        routed.outcome = CallOutcome.FAILED
        routed.ivr_path = (*routed.ivr_path, "callback:failed")
        record = replace(
            self._save(routed).record,
            ended_at=now,
            outcome=CallOutcome.FAILED,
            cause="callback_failed",
        )
        out.append(self._callback_event(routed, "failed", reason=reason))
        out.append(SaveCall(record))
        return out

    def _callback_retries(self, now: float) -> list[Effect]:
        out: list[Effect] = []
        for routed in list(self._callbacks.values()):
            cb = routed.callback
            if cb is None or cb.retry_at is None or cb.retry_at > now:
                continue
            cb.state, cb.retry_at = "waiting", None
            out += self._acd(self.acd.unpark(routed.call_id, now), now)
        return out

    def _callback_answered(self, routed: RoutedCall, channel_name: str, now: float) -> list[Effect]:
        """The customer answered the callback: its channel is the call's caller now, at
        the head of the queue it never left."""
        channel = self.model.channel(channel_name)
        assert channel is not None and channel.call_id and routed.callback is not None
        routed.callback.state = "answered"
        routed.channel = channel_name
        routed.model_id = channel.call_id
        routed.ivr_path = (*routed.ivr_path, "callback:answered")
        self.calls[channel.call_id] = routed
        self._by_channel[channel_name] = channel.call_id
        out: list[Effect] = [self._callback_event(routed, "answered")]
        if self.acd.is_parked(routed.call_id):
            # The agent gave up meanwhile: first in line for the next one.
            return out + self._acd(self.acd.unpark(routed.call_id, now), now)
        view = self.acd.call(routed.call_id)
        if view.agent_id is None or routed.extension is None:
            return out
        # The reserved agent's phone rings now, for the queue's usual time.
        ring_s = self.config.queue(view.queue).ring_timeout_s
        if ring_s > 0:
            out += self._acd(self.acd.extend_ring(routed.call_id, now, ring_s), now)
        headers = (
            ("Channel", channel_name),
            ("Context", DIAL_CONTEXT),
            ("Exten", routed.extension),
            ("Priority", "1"),
        )
        out += self._record_plan(routed, view.queue, now)
        out.append(PbxAction("Redirect", headers, routed.call_id, "ring the agent"))
        return out

    # --------------------------------------------------------------- call handling

    def _caller_waiting(self, channel_name: str, now: float) -> list[Effect]:
        channel = self.model.channel(channel_name)
        if channel is None or not channel.call_id:
            return []
        model_id = channel.call_id
        routed = self.calls.get(model_id)
        if routed is not None:
            routed.ringing = False
            return []
        callback_of = channel.variables.get(CALLBACK_VARIABLE)
        if callback_of is not None and callback_of in self._callbacks:
            return self._callback_answered(self._callbacks.pop(callback_of), channel_name, now)
        call_id = self._fresh_id(model_id)
        did = (
            channel.variables.get(DID_VARIABLE)
            or channel.variables.get(f"__{DID_VARIABLE}")
            or None
        )
        decision = self._ivr.pop(channel_name, None)
        if decision is None and channel.variables.get(IVR_QUEUE_VARIABLE):
            # Hotline restarted after the IVR: the PBX kept its decision.
            decision = IvrOutcome("queue", (), channel.variables[IVR_QUEUE_VARIABLE])
        if decision is not None and decision.queue not in self.acd.queue_names():
            decision = None
        queue = decision.queue if decision is not None else None
        if queue is None:
            queue = self._trunk.queue_for(did) if (self._trunk and did) else None
        if queue is None:
            queue = self._trunk.default_queue if self._trunk else None
        if queue is None:
            return [
                PbxAction(
                    "Hangup",
                    (("Channel", channel_name), ("Cause", "1")),
                    call_id,
                    f"no queue for dialled number {did}",
                )
            ]
        routed = RoutedCall(
            call_id=call_id,
            model_id=model_id,
            caller_num=channel.caller_num,
            caller_name=channel.caller_name,
            channel=channel_name,
            did=did,
            queue=queue,
            started_at=channel.created_at or now,
            enqueued_at=now,
            ivr_path=decision.path if decision is not None else (),
        )
        self.calls[model_id] = routed
        self._by_hid[call_id] = routed
        self._by_channel[channel_name] = model_id
        out: list[Effect] = [self._save(routed)]
        if model_id not in self._prefetch:
            out.append(LookupCaller(call_id, routed.caller_num))
        else:
            fetched = self._prefetch.pop(model_id)
            if fetched is not None:
                routed.customer, routed.history = fetched
                routed.looked_up = True
            # else: the look-up started with the call is on its way (caller_found by model id)
        priority = decision.priority if decision is not None else None
        emergency = self.dispatch.queue_priority(routed.caller_num, did)
        routed.emergency = emergency is not None
        if emergency is not None:  # above every queue and IVR priority (docs/dispatch.md)
            priority = emergency
        out += self._acd(
            self.acd.enqueue(
                call_id, queue, now, priority=priority, caller=routed.caller_num or None
            ),
            now,
        )
        return out

    def _dial_begin(self, msg: Message, now: float) -> list[Effect]:
        call_id = self._by_channel.get(msg.get("Channel") or "")
        routed = self.calls.get(call_id) if call_id else None
        if routed is None or routed.agent_id is None or routed.ringing:
            return []
        routed.ringing = True
        if not routed.looked_up:
            routed.pop_waiting = True  # a millisecond more: pop with the customer record
            return []
        return [self._screen_pop(routed)]

    def _screen_pop(self, routed: RoutedCall) -> Publish:
        agent_id = routed.agent_id
        assert agent_id is not None
        data: dict[str, Any] = {
            "call_id": routed.call_id,
            "agent_id": agent_id,
            "extension": routed.extension,
            "caller": routed.caller_num,
            "caller_name": routed.caller_name,
            "queue": routed.queue,
            "customer": routed.customer,
            "history": routed.history,
            "ivr": list(routed.ivr_path) or None,
        }
        if routed.answered_at is not None:
            data["answered"] = True
        return Publish("call.ringing", data, ("calls",), (agent_id,))

    def _dial_end(self, msg: Message, now: float) -> list[Effect]:
        call_id = self._by_channel.get(msg.get("Channel") or "")
        routed = self.calls.get(call_id) if call_id else None
        if routed is None or routed.agent_id is None:
            return []
        status = (msg.get("DialStatus") or "").upper()
        routed.ringing = False
        try:
            if status == "ANSWER":
                return self._acd(self.acd.answered(routed.call_id, now), now)
            if status == "CANCEL":
                return []  # the caller left (Hangup follows) or we redirected it back
            return self._acd(self.acd.no_answer(routed.call_id, now), now)
        except (IllegalCallState, UnknownCall):
            return []  # already decided (ACD ring timeout came first)

    def _leg_removed(self, change: ch.LegRemoved, now: float) -> list[Effect]:
        # The agent left a call that goes on (transferred away): the agent's part is over.
        routed = self.calls.get(change.call_id)
        if routed is None or routed.agent_id is None or routed.answered_at is None:
            return []
        if change.device != f"PJSIP/{routed.extension}":
            return []
        if routed.model_id not in self.model.calls:
            return []  # the whole call ends: handled by CallEnded
        try:
            return self._acd(self.acd.ended(routed.call_id, now), now)
        except (IllegalCallState, UnknownCall):
            return []

    def _merged(self, change: ch.CallMerged) -> None:
        # Keep following the routed call under the surviving id.
        routed = self.calls.pop(change.merged_call_id, None)
        if routed is None or change.call_id in self.calls:
            if routed is not None:
                self.calls[change.merged_call_id] = routed
            return
        self.calls[change.call_id] = routed
        routed.model_id = change.call_id
        for name, cid in list(self._by_channel.items()):
            if cid == change.merged_call_id:
                self._by_channel[name] = change.call_id

    def _call_ended(self, change: ch.CallEnded, now: float) -> list[Effect]:
        out: list[Effect] = []
        call_id = change.call_id
        self._prefetch.pop(call_id, None)
        if change.cause == "merged":
            return out
        routed = self.calls.pop(call_id, None)
        if change.info.caller_channel is not None:
            self._ivr.pop(change.info.caller_channel, None)
        if routed is not None and self._keep_for_callback(routed):
            self._by_channel.pop(routed.channel, None)
            self._held.pop(routed.channel, None)
            return self._callback_waiting(routed)
        if routed is not None:
            self._by_channel.pop(routed.channel, None)
            self._held.pop(routed.channel, None)
            routed.hold.stop(change.at)
            call_id = routed.call_id
            # UnknownCall: the ACD had finished with it (transferred away, fallback).
            with contextlib.suppress(UnknownCall):
                out += self._acd(self.acd.hangup(call_id, now), now)
            self._finish(routed)
            if routed.outcome is CallOutcome.IN_PROGRESS:
                routed.outcome = (
                    CallOutcome.ANSWERED
                    if routed.answered_at is not None
                    else CallOutcome.ABANDONED
                )
            out.append(self._save(routed, change))
            wait = (routed.answered_at or change.at) - routed.enqueued_at
            talk = (change.at - routed.answered_at) if routed.answered_at else 0.0
            data: dict[str, Any] = {
                "call_id": call_id,
                "cause": "released" if routed.released_by else change.cause,
                "wait_s": round(wait, 3),
                "talk_s": round(talk, 3),
                "hold_s": round(routed.hold.total_s, 3),
            }
            if routed.released_by:
                data["released_by"] = routed.released_by
                data["reason"] = routed.release_reason
            agents = (routed.agent_id,) if routed.agent_id else ()
            out.append(Publish("call.ended", data, ("calls",), agents))
        elif change.outcome == "blocked" or call_id in self._blocked:
            did = self._blocked.pop(call_id, None)
            call_id = self._fresh_id(call_id)
            self._remember(call_id)
            info = change.info
            trunk = self._trunk.name if self._trunk else None
            out.append(
                Publish("call.blocked", {"trunk": trunk, "caller": info.caller_num}, ("trunks",))
            )
            record = CallRecord(
                call_id=call_id,
                started_at=info.started_at,
                caller_number=info.caller_num or None,
                caller_name=info.caller_name or None,
                trunk=trunk,
                dialled_number=did,
                ended_at=change.at,
                outcome=CallOutcome.BLOCKED,
                cause=change.cause,
            )
            out.append(SaveCall(record))
        out += self._trunk_stats()
        return out

    def _fresh_id(self, model_id: str) -> str:
        call_id, n = model_id, 1
        while call_id in self._finished or call_id in self._by_hid:
            n += 1
            call_id = f"{model_id}-{n}"
        return call_id

    def _finish(self, routed: RoutedCall) -> None:
        self._by_hid.pop(routed.call_id, None)
        self._remember(routed.call_id)

    def _remember(self, call_id: str) -> None:
        self._finished[call_id] = None
        if len(self._finished) > FINISHED_IDS_KEPT:
            self._finished.popitem(last=False)

    def _device_state(self, change: ch.DeviceStateChanged, now: float) -> list[Effect]:
        # A phone busy with a call the ACD did not route keeps its agent from offers.
        if not change.device.startswith("PJSIP/"):
            return []
        agent_id = self._by_extension.get(change.device[6:])
        if agent_id is None or agent_id not in self._agents:
            return []
        view = self.acd.agent(agent_id)
        if change.lamp in ("busy", "ringing") and view.state in (
            AgentState.READY,
            AgentState.NOT_READY,
        ):
            return self._acd(self.acd.direct_call_started(agent_id, now), now)
        if change.lamp == "idle" and view.state is AgentState.ON_CALL and view.call_id is None:
            return self._acd(self.acd.direct_call_ended(agent_id, now), now)
        return []

    # -------------------------------------------------------------------------- hold

    def hold_command(self, call_id: str, mine: str, op: str, now: float) -> list[PbxAction]:
        """``call.hold`` / ``call.unhold`` by the agent whose leg of ``call_id`` is ``mine``
        (the caller checked the ownership). See :mod:`cti.center.hold`."""
        routed = self._routed(call_id)
        if routed is None:
            raise ClientError(
                "invalid_state", f"call {call_id!r} was not routed by Hotline: use the phone"
            )
        hold = routed.hold
        if op == "call.hold":
            if hold.by == "phone":
                raise ClientError("invalid_state", f"call {call_id!r} is already on hold (phone)")
            if hold.held or hold.is_pending("hold", now):
                raise ClientError("invalid_state", f"call {call_id!r} is already on hold")
            if routed.answered_at is None:
                raise ClientError(
                    "invalid_state", f"call {call_id!r} is not answered yet: nothing to hold"
                )
            talking = self._live_call(call_id).talking
            if not any(routed.channel in group and mine in group for group in talking):
                raise ClientError(
                    "invalid_state", f"call {call_id!r}: you are not talking with the caller"
                )
            hold.request("hold", now, mine)
            return [hold_action(call_id, routed.channel, mine)]
        if hold.by == "phone":
            raise ClientError(
                "invalid_state", f"call {call_id!r} is on hold from the phone: resume it there"
            )
        if not hold.held:
            if hold.is_pending("hold", now):
                raise ClientError(
                    "invalid_state", f"call {call_id!r} is being put on hold: try again"
                )
            raise ClientError("invalid_state", f"call {call_id!r} is not on hold")
        if hold.is_pending("unhold", now):
            raise ClientError("invalid_state", f"call {call_id!r} is already being resumed")
        hold.request("unhold", now)
        return [unhold_action(call_id, routed.channel, mine)]

    def held_from_desktop(self, call_id: str) -> bool:
        routed = self._routed(call_id)
        return routed is not None and routed.hold.by == "desktop"

    def leaving_hold(self, call_id: str) -> None:
        """The held call is being transferred or conferenced: its legs no longer end each
        other (AMI gives no order between the caller's move and the agent's hang-up)."""
        routed = self._routed(call_id)
        if routed is not None:
            routed.hold.agent_channel = None

    def _hold_newexten(self, msg: Message, now: float) -> list[Effect]:
        channel = msg.get("Channel") or ""
        model_id = self._by_channel.get(channel)
        routed = self.calls.get(model_id) if model_id else None
        if routed is None or model_id is None:
            return []
        if msg.get("Context") != HOLD_CONTEXT:
            # The held caller was sent elsewhere (blind transfer, conference).
            return self._unheld(routed, now) if channel in self._held else []
        # Priority 1: the caller arrives (later priorities: the caller leaving an unhold
        # bridge on its way to hang up).
        if msg.get("Priority") != "1" or not routed.hold.start("desktop", now):
            return []
        self._held[channel] = model_id
        if routed.hold.agent_channel is None and routed.extension is not None:
            routed.hold.agent_channel = self._leg_at(model_id, f"PJSIP/{routed.extension}")
        return [self._hold_event(routed, True, "desktop")]

    def _unheld(self, routed: RoutedCall, now: float) -> list[Effect]:
        self._held.pop(routed.channel, None)
        by = routed.hold.by
        lasted = routed.hold.stop(now)
        if lasted is None or by is None:
            return []
        return [self._hold_event(routed, False, by, lasted)]

    def _hold_change(self, change: ch.CallHeld | ch.CallUnheld | ch.CallBridged) -> list[Effect]:
        routed = self.calls.get(change.call_id)
        if routed is None or routed.answered_at is None:
            return []
        hold = routed.hold
        if isinstance(change, ch.CallBridged):
            # Unhold: the caller talks again (the AMI Bridge, or a conference).
            if hold.by == "desktop" and any(routed.channel in g for g in change.groups):
                return self._unheld(routed, change.at)
            return []
        if isinstance(change, ch.CallHeld):
            if hold.start("phone", change.at):
                return [self._hold_event(routed, True, "phone")]
            return []
        return self._unheld(routed, change.at) if hold.by == "phone" else []

    def _hold_leg_removed(self, change: ch.LegRemoved) -> list[Effect]:
        # Apart on hold, nothing on the PBX ties the two legs: one gone ends the other.
        routed = self.calls.get(change.call_id)
        if routed is None:
            return []
        hold = routed.hold
        agent = hold.agent_channel
        if agent is None or not (hold.by == "desktop" or hold.is_pending("hold", change.at)):
            return []
        if change.channel == routed.channel:
            other, why = agent, "the caller on hold hung up"
        elif change.channel == agent:
            other, why = routed.channel, "the agent hung up a held call"
        else:
            return []
        if self.model.channel(other) is None:
            return []
        return [PbxAction("Hangup", (("Channel", other), ("Cause", "16")), routed.call_id, why)]

    def _adopt_hold(self, routed: RoutedCall, now: float) -> None:
        # Held from a desktop when Hotline stopped: still held (counted from now), and the
        # agent's leg is still the one to hang up or bridge back.
        routed.hold.start("desktop", now)
        self._held[routed.channel] = routed.model_id
        if routed.extension is not None:
            routed.hold.agent_channel = self._leg_at(routed.model_id, f"PJSIP/{routed.extension}")

    def _leg_at(self, model_id: str, device: str) -> str | None:
        call = self.model.calls.get(model_id)
        if call is None:
            return None
        return next((leg.name for leg in call.legs.values() if leg.device == device), None)

    def _hold_event(
        self, routed: RoutedCall, held: bool, by: HoldSource, lasted: float | None = None
    ) -> Publish:
        data: dict[str, Any] = {
            "call_id": routed.call_id,
            "agent_id": routed.agent_id,
            "held": held,
            "by": by,
        }
        if lasted is not None:
            data["hold_s"] = round(lasted, 3)
        agents = (routed.agent_id,) if routed.agent_id else ()
        return Publish("call.hold", data, ("calls",), agents)

    # ---------------------------------------------------------- ACD decisions → effects

    def _acd(self, events: list[Event], now: float) -> list[Effect]:
        out: list[Effect] = []
        data: dict[str, Any]
        queues: set[str] = set()
        for event in events:
            if isinstance(event, AgentStateChanged):
                desk = self.desks.get(event.agent_id)
                data = {
                    "agent_id": event.agent_id,
                    "extension": desk.extension if desk else None,
                    "state": event.state.value,
                    "reason": event.reason,
                    "since": iso(event.since),
                }
                out.append(Publish("agent.state", data, ("agents",), (event.agent_id,)))
                out.append(
                    SaveAgentState(event.agent_id, event.state.value, event.reason, event.since)
                )
            elif isinstance(event, CallQueued):
                queues.add(event.queue)
                routed = self._routed(event.call_id)
                data = {
                    "call_id": event.call_id,
                    "caller": routed.caller_num if routed else None,
                    "queue": event.queue,
                    "position": event.position,
                    "ivr": (list(routed.ivr_path) or None) if routed else None,
                    "emergency": routed.emergency if routed else False,
                }
                if routed is not None:
                    routed.queue = event.queue
                out.append(Publish("call.queued", data, ("calls",)))
            elif isinstance(event, CallOffered):
                queues.add(event.queue)
                out += self._offer(event, now)
            elif isinstance(event, CallAnswered):
                queues.add(event.queue)
                routed = self._routed(event.call_id)
                if routed is not None:
                    routed.answered_at = now
                    routed.outcome = CallOutcome.ANSWERED
                    self._leg_update(routed, event.agent_id, answered_at=now, outcome="answered")
                    out.append(self._save(routed))
                    out += self._record(routed, event.agent_id, now)
                out.append(
                    Publish(
                        "call.answered",
                        {"call_id": event.call_id, "agent_id": event.agent_id},
                        ("calls",),
                        (event.agent_id,),
                    )
                )
            elif isinstance(event, CallRequeued):
                queues.add(event.queue)
                out += self._requeued(event, now)
            elif isinstance(event, CallAbandoned):
                queues.add(event.queue)
                routed = self._routed(event.call_id)
                if routed is not None:
                    routed.outcome = CallOutcome.ABANDONED
                    if event.agent_id:
                        self._leg_update(routed, event.agent_id, ended_at=now, outcome="abandoned")
                agents = (event.agent_id,) if event.agent_id else ()
                out.append(
                    Publish(
                        "call.abandoned",
                        {"call_id": event.call_id, "wait_s": round(event.wait_s, 3)},
                        ("calls",),
                        agents,
                    )
                )
            elif isinstance(event, CallEnded):
                queues.add(event.queue)
                routed = self._routed(event.call_id)
                if routed is not None:
                    self._leg_update(
                        routed, event.agent_id, ended_at=now, talk_s=round(event.talk_s, 3)
                    )
                desk = self.desks.get(event.agent_id)
                if desk is not None:
                    desk.last_call_id = event.call_id
            elif isinstance(event, CallFallback):
                queues.add(event.queue)
                out += self._fallback(event, now)
        out += self._stats(now, force=False, queues=queues)
        return out

    def _offer(self, event: CallOffered, now: float) -> list[Effect]:
        routed = self._routed(event.call_id)
        desk = self.desks.get(event.agent_id)
        if routed is not None and desk is not None and routed.call_id in self._callbacks:
            return self._dial_back(routed, event, desk.extension, now)
        if routed is None or desk is None:
            return []
        routed.agent_id, routed.extension, routed.ringing = event.agent_id, desk.extension, False
        routed.legs.append(
            CallLeg(
                agent_id=event.agent_id,
                extension=desk.extension,
                queue=event.queue,
                started_at=now,
            )
        )
        headers = (
            ("Channel", routed.channel),
            ("Context", DIAL_CONTEXT),
            ("Exten", desk.extension),
            ("Priority", "1"),
        )
        plan = self._record_plan(routed, event.queue, now)
        return [*plan, PbxAction("Redirect", headers, routed.call_id, "ring the agent")]

    def _record_plan(self, routed: RoutedCall, queue: str | None, now: float) -> list[Effect]:
        """Before a Redirect to [agent-dial]: whether its Dial records the agent's leg
        (a Setvar on the caller, sent first; recorder/core.py)."""
        if self.recorder is None or not routed.channel:
            return []
        return list(self.recorder.offered(routed.call_id, routed.channel, queue, now))

    def _record(self, routed: RoutedCall, agent_id: str, now: float) -> list[Effect]:
        """The recording policy of the call's queue decides (recorder/core.py)."""
        if self.recorder is None:
            return []
        try:
            channel: str | None = self.own_call(agent_id, routed.call_id)
        except ClientError:
            channel = None
        caller = routed.caller_num or None
        return list(
            self.recorder.answered(routed.call_id, agent_id, channel, caller, routed.queue, now)
        )

    def _requeued(self, event: CallRequeued, now: float) -> list[Effect]:
        routed = self._routed(event.call_id)
        if routed is None:
            return []
        self._leg_update(routed, event.agent_id, ended_at=now, outcome="no_answer")
        out: list[Effect] = []
        if routed.ringing:
            # The ACD gave up before the PBX did: take the caller back to waiting.
            routed.ringing = False
            headers = (
                ("Channel", routed.channel),
                ("Context", WAIT_CONTEXT),
                ("Exten", "s"),
                ("Priority", "1"),
            )
            out.append(PbxAction("Redirect", headers, routed.call_id, "stop ringing"))
        routed.agent_id = routed.extension = None
        return out

    def _fallback(self, event: CallFallback, now: float) -> list[Effect]:
        routed = self._routed(event.call_id)
        if routed is None:
            return []
        routed.outcome = CallOutcome.FALLBACK
        data = {"call_id": event.call_id, "queue": event.queue, "outcome": event.outcome}
        if self._callbacks.pop(routed.call_id, None) is not None:
            # Waiting for a callback, nobody on the line: the record says what happened.
            self._finish(routed)
            ended = replace(self._save(routed).record, ended_at=now, cause="max_wait")
            return [Publish("call.fallback", data, ("calls",)), SaveCall(ended)]
        headers = (("Channel", routed.channel), ("Cause", "16"))
        return [
            Publish("call.fallback", data, ("calls",)),
            PbxAction("Hangup", headers, routed.call_id, f"max wait: {event.outcome}"),
        ]

    def _leg_update(self, routed: RoutedCall, agent_id: str, **changes: Any) -> None:
        for i in range(len(routed.legs) - 1, -1, -1):
            if routed.legs[i].agent_id == agent_id:
                routed.legs[i] = replace(routed.legs[i], **changes)
                return

    def _save(self, routed: RoutedCall, ended: ch.CallEnded | None = None) -> SaveCall:
        answered = routed.answered_at
        end = ended.at if ended is not None else None
        agent = next(
            (leg.agent_id for leg in reversed(routed.legs) if leg.answered_at is not None), None
        )
        return SaveCall(
            CallRecord(
                call_id=routed.call_id,
                started_at=routed.started_at,
                direction=Direction.INBOUND,
                caller_number=routed.caller_num or None,
                caller_name=routed.caller_name or None,
                dialled_number=routed.did,
                trunk=self._trunk.name if self._trunk else None,
                queue=routed.queue,
                agent_id=agent,
                enqueued_at=routed.enqueued_at,
                answered_at=answered,
                ended_at=end,
                wait_s=None
                if answered is None and end is None
                else round((answered or end or 0.0) - routed.enqueued_at, 3),
                talk_s=None if answered is None or end is None else round(end - answered, 3),
                outcome=routed.outcome if end is not None else CallOutcome.IN_PROGRESS,
                cause=None if ended is None else ended.cause,
                ivr_path=routed.ivr_path,
                satisfaction=routed.satisfaction,
                transfers=tuple(routed.transfers),
                legs=tuple(routed.legs),
                hold_s=round(routed.hold.seconds(end), 3)
                if end is not None and (routed.hold.total_s or routed.hold.held)
                else None,
                released_by=routed.released_by,
                release_reason=routed.release_reason,
            )
        )

    # ---------------------------------------------------------------- stats, repair

    def _stats(self, now: float, *, force: bool, queues: Iterable[str] = ()) -> list[Effect]:
        out: list[Effect] = []
        names = self.acd.queue_names() if force else sorted(set(queues))
        for name in names:
            data = self._queue_data(name, now)
            key = tuple(data[k] for k in ("waiting", "agents_ready", "agents_busy", "answered",
                                          "abandoned"))  # fmt: skip
            if not force and self._last_stats.get(name) == key:
                continue
            self._last_stats[name] = key
            out.append(Publish("queue.stats", data, ("queues",)))
        if force:
            out += self._trunk_stats(force=True)
        return out

    def _queue_data(self, name: str, now: float) -> dict[str, Any]:
        s = self.acd.queue_stats(name, now)
        return {
            "queue": name,
            "waiting": s.waiting,
            "longest_wait_s": round(s.longest_wait_s, 1),
            "agents_ready": s.agents_ready,
            "agents_busy": s.agents_busy,
            "answered": s.answered,
            "abandoned": s.abandoned,
            "service_level": None if s.service_level is None else round(s.service_level, 4),
            "service_level_target": s.service_level_target,
        }

    def trunk_busy(self) -> int:
        return len(self._trunk_calls)

    def _track_trunk(self, call_id: str) -> None:
        """Keep ``_trunk_calls`` (calls with a live trunk leg) right for one call, from the
        model's state after the event: the count then costs nothing per event."""
        call = self.model.calls.get(call_id)
        if call is not None and any(leg.role == "trunk" for leg in call.legs.values()):
            self._trunk_calls.add(call_id)
        else:
            self._trunk_calls.discard(call_id)

    def _trunk_stats(self, *, force: bool = False) -> list[Effect]:
        if self._trunk is None:
            return []
        busy = self.trunk_busy()
        key = ("trunk", busy)
        if not force and self._last_stats.get(self._trunk.name) == key:
            return []
        self._last_stats[self._trunk.name] = key
        data = {"trunk": self._trunk.name, "busy": busy, "capacity": self._trunk.channels}
        return [Publish("trunk.stats", data, ("trunks",))]

    def _reconcile(self, now: float) -> list[Effect]:
        """Repair agents and calls that the PBX no longer backs (missed events)."""
        out: list[Effect] = []
        if not self.link_up:
            return out
        for view in self.acd.agents():
            call_id = view.call_id
            if call_id in self._callbacks:
                continue  # reserved for a callback: the customer is being dialled
            if call_id is not None and self.model_id(call_id) not in self.model.calls:
                out.append(
                    Repaired(f"{view.state.value} with no live call", view.agent_id, call_id)
                )
                with contextlib.suppress(UnknownCall):
                    out += self._acd(self.acd.hangup(call_id, now), now)
        for model_id in [c for c in self.calls if c not in self.model.calls]:
            routed = self.calls.pop(model_id)
            out.append(Repaired("routed call with no live channel", None, routed.call_id))
            self._by_channel.pop(routed.channel, None)
            with contextlib.suppress(UnknownCall):
                out += self._acd(self.acd.hangup(routed.call_id, now), now)
            self._finish(routed)
        return out

    # ------------------------------------------------------------------- snapshot

    def _lamps(self) -> list[dict[str, Any]]:
        """One lamp per extension: every hint the PBX has, and every configured
        extension (``unavailable`` when the PBX has no hint for it)."""
        lamps: dict[str, str] = {}
        for (exten, _context), state in self.model.extensions.items():
            if lamps.get(exten, "unavailable") == "unavailable":
                lamps[exten] = state.lamp
        for extension in sorted(self.known_extensions()):
            # No hint: the phone's own device state, as extension.state events do then.
            device = self.model.devices.get(f"PJSIP/{extension}")
            lamps.setdefault(extension, "unavailable" if device is None else device_lamp(device))
        return [{"extension": e, "state": lamp} for e, lamp in lamps.items()]

    def snapshot(self, topics: frozenset[str], agent_id: str, now: float) -> dict[str, Any]:
        snap: dict[str, Any] = {}
        if "agents" in topics or "self" in topics:
            agents = []
            for view in self.acd.agents():
                if "agents" not in topics and view.agent_id != agent_id:
                    continue
                desk = self.desks.get(view.agent_id)
                agents.append(
                    {
                        "agent_id": view.agent_id,
                        "extension": desk.extension if desk else None,
                        "state": view.state.value,
                        "reason": view.reason,
                        "since": iso(view.since),
                        "call_id": view.call_id,
                    }
                )
            snap["agents"] = agents
        if "calls" in topics:
            snap["calls"] = [
                {
                    "call_id": r.call_id,
                    "caller": r.caller_num,
                    "queue": r.queue,
                    "agent_id": r.agent_id,
                    "state": "held"
                    if r.hold.held
                    else "talking"
                    if r.answered_at
                    else ("ringing" if r.ringing else "queued"),
                    "since": iso(r.enqueued_at),
                    "recording": self.recorder.state_of(r.call_id) if self.recorder else None,
                }
                for r in self.calls.values()
            ]
        if "queues" in topics:
            snap["queues"] = [self._queue_data(name, now) for name in self.acd.queue_names()]
        if "trunks" in topics and self._trunk is not None:
            snap["trunks"] = [
                {
                    "trunk": self._trunk.name,
                    "busy": self.trunk_busy(),
                    "capacity": self._trunk.channels,
                }
            ]
        if "extensions" in topics:
            snap["extensions"] = self._lamps()
        if "pbx" in topics:
            snap["pbx"] = {"state": "up" if self.link_up else "down"}
        return snap
