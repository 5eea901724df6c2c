"""Running a flow, sans-I/O: a generator that yields AGI command lines and is sent the
replies (:class:`ivr.agi.AgiReply`); what it returns is the call's :class:`Outcome`.

The asyncio server (:mod:`ivr.server`) only moves the lines; tests drive the same
generators with scripted replies. Nothing here reads a clock (the time of the call is
given) or the database (the caller's customer record is given).

The path the caller took is a list of short strings, kept in the call record and sent
with ``call.queued`` / ``call.ringing``::

    ["greeting", "main:1", "fault-menu:timeout", "fault-menu:2", "account=12345", "queue:fault"]

``node:key`` is a key pressed at a menu, ``node:timeout`` / ``node:invalid`` a failed
try, ``label=digits`` collected digits, ``hours:open`` / ``hours:closed`` the business
hours' answer, ``vip`` a VIP caller's priority, and the last entry says how the flow ended.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from dataclasses import dataclass
from typing import Final, Literal

from ivr.agi import AgiReply, quote
from ivr.flows import IvrConfig, Node, SurveyConfig

__all__ = [
    "Caller",
    "Flow",
    "Outcome",
    "Survey",
    "callback_answer",
    "run_flow",
    "run_survey",
    "survey_thanks",
]

#: A caller who keeps choosing sub-menus is let through this many nodes, then handed to
#: the operator queue (or hung up): no flow runs for ever.
MAX_STEPS: Final = 100

OutcomeKind = Literal["queue", "voicemail", "callback_request", "hangup", "gone"]


@dataclass(frozen=True, slots=True)
class Caller:
    """What the flow knows of the caller when it starts."""

    number: str
    did: str | None = None
    known: bool = False  # a customer of the CRM
    vip: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the flow ended. ``gone``: the caller hung up inside it."""

    kind: OutcomeKind
    path: tuple[str, ...]
    queue: str | None = None
    priority: int | None = None
    #: Commands to send once the outcome is reported (the PBX may hang the channel up
    #: on them, and its hang-up must not reach the center before the outcome does).
    after: tuple[str, ...] = ()


Flow = Generator[str, AgiReply, Outcome]
Survey = Generator[str, AgiReply, int | None]


def _play(sound: str) -> str:
    return f"STREAM FILE {quote(sound)} {quote('')}"


def _read(sound: str, timeout_s: float, digits: int) -> str:
    return f"GET DATA {quote(sound)} {round(timeout_s * 1000)} {digits}"


def run_flow(ivr: IvrConfig, caller: Caller, now: dt.datetime) -> Flow:
    """The whole IVR for one call, from its start node to an end."""
    path: list[str] = []

    def gone() -> Outcome:
        path.append("hangup:caller")
        return Outcome("gone", tuple(path))

    if caller.known and ivr.greeting_known is not None:
        path.append("greeting")
        if (yield _play(ivr.prompts[ivr.greeting_known])).hung_up:
            return gone()
    node: Node = ivr.start_node(caller.did)
    steps = 0
    while True:
        steps += 1
        if steps > MAX_STEPS:
            path.append("steps:exceeded")
            if ivr.operator_queue is not None:
                return (yield from _to_queue(ivr, caller, path, ivr.operator_queue, None))
            return Outcome("hangup", tuple(path), after=("HANGUP",))
        kind = node.kind
        target: str | None
        if kind == "menu":
            target = yield from _menu(ivr, node, path)
        elif kind == "collect":
            target = yield from _collect(ivr, node, path)
        elif kind == "hours":
            is_open = ivr.hours.is_open(now)
            path.append(f"{node.name}:{'open' if is_open else 'closed'}")
            target = node.open if is_open else node.closed
        elif kind == "message":
            assert node.prompt is not None
            if (yield _play(ivr.prompts[node.prompt])).hung_up:
                return gone()
            path.append(f"{node.name}:played")
            target = node.next
            if target is None:
                return Outcome("hangup", tuple(path), after=("HANGUP",))
        elif kind == "queue":
            assert node.queue is not None
            return (yield from _to_queue(ivr, caller, path, node.queue, node.priority))
        else:
            # the ends: voicemail, callback_request, hangup
            if node.prompt is not None and (yield _play(ivr.prompts[node.prompt])).hung_up:
                return gone()
            if kind == "voicemail":
                assert node.box is not None
                path.append(f"voicemail:{node.box}")
                vm = f"EXEC VoiceMail {quote(node.box + ',s')}"
                return Outcome("voicemail", tuple(path), after=(vm, "HANGUP"))
            if kind == "callback_request":
                path.append("callback_request")
                return Outcome("callback_request", tuple(path), after=("HANGUP",))
            path.append(f"{node.name}:hangup")
            return Outcome("hangup", tuple(path), after=("HANGUP",))
        if target is None:
            return gone()
        if target == "operator":
            assert ivr.operator_queue is not None
            path.append("operator")
            return (yield from _to_queue(ivr, caller, path, ivr.operator_queue, None))
        node = ivr.nodes[target]


def _to_queue(
    ivr: IvrConfig, caller: Caller, path: list[str], queue: str, priority: int | None
) -> Flow:
    if caller.vip and ivr.vip_priority is not None:
        priority = max(priority or 0, ivr.vip_priority)
        path.append("vip")
    path.append(f"queue:{queue}")
    # Left on the channel for the PBX's own records (CDR, AMI VarSet) and for a
    # restarted Hotline adopting the caller: the decision is also handed over in-process.
    reply = yield f"SET VARIABLE HOTLINE_QUEUE {quote(queue)}"
    if reply.hung_up:
        path.append("hangup:caller")
        return Outcome("gone", tuple(path), queue, priority)
    reply = yield f"SET VARIABLE HOTLINE_IVR {quote('>'.join(path))}"
    if reply.hung_up:
        path.append("hangup:caller")
        return Outcome("gone", tuple(path), queue, priority)
    return Outcome("queue", tuple(path), queue, priority)


def _menu(ivr: IvrConfig, node: Node, path: list[str]) -> Generator[str, AgiReply, str | None]:
    """One key: the target it names, ``default`` after the retries, None = hung up."""
    assert node.prompt is not None
    prompt = ivr.prompts[node.prompt]
    failures = 0
    while True:
        reply = yield _read(prompt, node.timeout_s, 1)
        if reply.hung_up:
            return None
        key = reply.result if reply.ok else ""
        target = node.options.get(key) if key else None
        if target == "repeat":
            path.append(f"{node.name}:{key}")
            continue
        if target is not None:
            path.append(f"{node.name}:{key}")
            return target
        failures += 1
        path.append(f"{node.name}:{'invalid' if key else 'timeout'}")
        if failures >= node.retries:
            return node.default
        if key and node.invalid is not None and (yield _play(ivr.prompts[node.invalid])).hung_up:
            return None


def _collect(ivr: IvrConfig, node: Node, path: list[str]) -> Generator[str, AgiReply, str | None]:
    assert node.prompt is not None
    prompt = ivr.prompts[node.prompt]
    failures = 0
    while True:
        reply = yield _read(prompt, node.timeout_s, node.max_digits)
        if reply.hung_up:
            return None
        digits = reply.result if reply.ok else ""
        if digits.isdigit() and node.min_digits <= len(digits) <= node.max_digits:
            path.append(f"{node.label}={digits}")
            return node.next
        failures += 1
        path.append(f"{node.name}:{'invalid' if digits else 'timeout'}")
        if failures >= node.retries:
            return node.default
        if node.invalid is not None and (yield _play(ivr.prompts[node.invalid])).hung_up:
            return None


def run_survey(ivr: IvrConfig, survey: SurveyConfig) -> Survey:
    """After the agent hung up: one key 1..5, or None (no answer, hung up). The thanks
    prompt is the server's to play once the score is reported (:func:`survey_thanks`)."""
    prompt = ivr.prompts[survey.prompt]
    for _try in range(survey.retries):
        reply = yield _read(prompt, survey.timeout_s, 1)
        if reply.hung_up:
            return None
        key = reply.result if reply.ok else ""
        if key in ("1", "2", "3", "4", "5"):
            return int(key)
        invalid = survey.invalid if key else None
        if invalid is not None and (yield _play(ivr.prompts[invalid])).hung_up:
            return None
    return None


def callback_answer(ivr: IvrConfig, accepted: bool) -> tuple[str, ...]:
    """What a waiting caller who pressed the callback key hears: the confirmation and
    the hang-up, or why not (the call's queue offers no callback)."""
    cb = ivr.callback
    if cb is None:
        return ()
    if accepted:
        return (*((_play(ivr.prompts[cb.prompt]),) if cb.prompt else ()), "HANGUP")
    return (_play(ivr.prompts[cb.unavailable]),) if cb.unavailable else ()


def survey_thanks(ivr: IvrConfig, survey: SurveyConfig, score: int | None) -> tuple[str, ...]:
    if score is None or survey.thanks is None:
        return ()
    return (_play(ivr.prompts[survey.thanks]),)
