"""DTMF applications: Read, BackGround, WaitExten (the IVR of 09).

Digits reach the application with ``DTMFEnd`` (a ``("dtmf", chan, digit)`` signal).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import TYPE_CHECKING

from .basics import answer, goto, moh_start, moh_stop, prompt_duration
from .channels import Channel, Signal
from .dialplan import split_args

if TYPE_CHECKING:
    from .world import World

__all__ = ["app_background", "app_read", "app_voicemail", "app_waitexten"]

Wait = Generator["float | None", Signal, int]

#: Seconds WaitExten/BackGround wait for the next digit of a longer extension.
DIGIT_TIMEOUT = 3.0
#: The longest message VoiceMail takes (voicemail.conf maxsecs).
MAX_MESSAGE_S = 180.0


def _float(text: str, default: float) -> float:
    try:
        return float(text) if text.strip() else default
    except ValueError:
        return default


def app_read(world: World, chan: Channel, data: str) -> Wait:
    """``Read(var,prompt,maxdigits,options,attempts,timeout)``: collect digits into var.
    Asterisk 22 publishes READSTATUS=ERROR when it starts (09), then the result."""
    args = split_args(data) + [""] * 6
    var, prompt, maxd, _opts, attempts_t, timeout_t = args[:6]
    var = var.strip()
    maxdigits = int(maxd) if maxd.strip().isdigit() else 0
    attempts = int(attempts_t) if attempts_t.strip().isdigit() else 1
    timeout = _float(timeout_t, 5.0)
    answer(world, chan)
    world.set_var(chan, "READSTATUS", "ERROR")
    digits = ""
    for _attempt in range(max(attempts, 1)):
        digits = ""
        deadline = world.now + prompt_duration(prompt) + timeout if prompt else world.now + timeout
        while True:
            sig = yield deadline
            kind = sig[0]
            if kind == "hangup":
                world.set_var(chan, "READSTATUS", "HANGUP")
                return -1
            if kind == "redirect":
                return 1
            if kind == "timeout":
                break
            if kind == "dtmf":
                d = str(sig[2])
                if d == "#":
                    break
                digits += d
                if maxdigits and len(digits) >= maxdigits:
                    break
                deadline = world.now + timeout
        if digits:
            break
    world.set_var(chan, var, digits)
    world.set_var(chan, "READSTATUS", "OK" if digits else "TIMEOUT")
    return 0


def _exten_candidates(world: World, context: str, digits: str) -> tuple[bool, bool]:
    """(an extension ``digits`` exists, a longer one starting with ``digits`` exists)."""
    plan = world.config.dialplan
    exists = plan.exists(context, digits)
    ctx = plan.context(context)
    longer = False
    if ctx is not None:
        longer = any(name != digits and name.startswith(digits) for name in ctx.exact)
    return exists, longer


def _collect(world: World, chan: Channel, first: str, until: float | None) -> Wait:
    """Digits dialled at a menu: go to the extension they name (or ``i``)."""
    digits = first
    while True:
        exists, longer = _exten_candidates(world, chan.context, digits)
        if exists and not longer:
            break
        if not longer:
            break
        sig = yield world.now + DIGIT_TIMEOUT
        if sig[0] == "dtmf":
            digits += str(sig[2])
            continue
        if sig[0] == "hangup":
            return -1
        if sig[0] == "redirect":
            return 1
        break
    plan = world.config.dialplan
    if plan.exists(chan.context, digits):
        goto(chan, chan.context, digits, 1)
    elif plan.exists(chan.context, "i"):
        world.set_var(chan, "INVALID_EXTEN", digits)
        goto(chan, chan.context, "i", 1)
    else:
        return -1
    return 0


def app_background(world: World, chan: Channel, data: str) -> Wait:
    """Play prompts, interruptible by a digit that jumps to that extension."""
    args = split_args(data)
    files = args[0] if args else ""
    answer(world, chan)
    end = world.now + prompt_duration(files)
    while True:
        sig = yield end
        kind = sig[0]
        if kind == "timeout":
            world.set_var(chan, "BACKGROUNDSTATUS", "SUCCESS")
            return 0
        if kind == "hangup":
            return -1
        if kind == "redirect":
            return 1
        if kind == "dtmf":
            res = yield from _collect(world, chan, str(sig[2]), None)
            return res


def app_waitexten(world: World, chan: Channel, data: str) -> Wait:
    """Wait for the caller to dial an extension; ``t`` on time-out. ``m(class)``: music
    on hold meanwhile (how a waiting caller can press a key: docs/ivr.md)."""
    args = split_args(data)
    secs = _float(args[0] if args else "", 10.0)
    options = args[1] if len(args) > 1 else ""
    music = re.match(r"m(?:\((\w*)\))?", options.strip())
    if music is None:
        res = yield from _waitexten(world, chan, secs)
        return res
    moh_start(world, chan, music[1] or "default")
    try:
        res = yield from _waitexten(world, chan, secs)
    finally:
        if not chan.dead:
            moh_stop(world, chan)
    return res


def _waitexten(world: World, chan: Channel, secs: float) -> Wait:
    sig = yield world.now + secs
    kind = sig[0]
    while kind not in ("timeout", "hangup", "redirect", "dtmf"):
        sig = yield world.now + secs
        kind = sig[0]
    if kind == "hangup":
        return -1
    if kind == "redirect":
        return 1
    if kind == "dtmf":
        res = yield from _collect(world, chan, str(sig[2]), None)
        return res
    if world.config.dialplan.exists(chan.context, "t"):
        goto(chan, chan.context, "t", 1)
        return 0
    return -1


def app_voicemail(world: World, chan: Channel, data: str) -> Wait:
    """``VoiceMail(box[@context],options)`` as app_voicemail's leave_voicemail runs it:
    the instructions (``vm-intro``, unless ``s``; ``#`` skips them), the beep (always),
    then the caller speaks until hanging up, ``#`` or MAX_MESSAGE_S. A caller gone
    before the recording starts left nothing: VMSTATUS=FAILED; once it started, the
    message counts (no minsecs in the generated voicemail.conf): VMSTATUS=SUCCESS, also
    when the caller hangs up. No file is written."""
    args = split_args(data)
    options = args[1] if len(args) > 1 else ""
    answer(world, chan)
    intro = 0.0 if "s" in options else prompt_duration("vm-intro")
    for played, skips in ((intro, "#"), (prompt_duration("beep"), "")):
        end = world.now + played
        while played > 0.0:
            sig = yield end
            kind = sig[0]
            if kind == "redirect":
                return 1
            if kind == "hangup":
                world.set_var(chan, "VMSTATUS", "FAILED")
                return -1
            if kind == "timeout" or (kind == "dtmf" and sig[2] in skips):
                break
    end = world.now + MAX_MESSAGE_S
    while True:
        sig = yield end
        kind = sig[0]
        if kind == "redirect":
            return 1
        if kind in ("timeout", "hangup") or (kind == "dtmf" and sig[2] == "#"):
            world.set_var(chan, "VMSTATUS", "SUCCESS")
            return -1 if kind == "hangup" else 0
