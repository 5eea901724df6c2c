"""AGI: the ``AGI(agi://host:port/script,args)`` application, sans-I/O.

The world runs the application on the channel's task, as Asterisk runs AGI in the
channel's thread. The FastAGI connection itself belongs to the asyncio shell
(:mod:`pbx_sim.agi_client`), which implements :class:`AGIHandler`: the application asks
it to ``start`` a session (the ``agi_*`` environment is given), the shell sends every
command line the AGI server writes back into the world (:meth:`World.agi_command`), and
the application answers through ``handler.reply`` (``200 result=...``). When the server
closes the connection the shell calls :meth:`World.agi_closed` and the dialplan goes on.

Commands: ANSWER, HANGUP, NOOP, VERBOSE, SET VARIABLE, GET VARIABLE, GET FULL VARIABLE,
STREAM FILE, CONTROL STREAM FILE, GET DATA, WAIT FOR DIGIT, SAY DIGITS, SAY NUMBER,
EXEC, SET MUSIC, SET CONTEXT, SET EXTENSION, SET PRIORITY, CHANNEL STATUS. Each command
is announced with ``AGIExecStart``/``AGIExecEnd`` events (class ``agi``).
"""

from __future__ import annotations

import shlex
from collections.abc import Generator
from typing import TYPE_CHECKING, Protocol

from .basics import answer, moh_start, moh_stop, prompt_duration
from .channels import Channel, Signal
from .dialplan import split_args
from .functions import ChannelEnv, expand
from .model import CAUSE_NORMAL, STATE_DESC
from .registry import APPS, canonical

if TYPE_CHECKING:
    from .world import World

__all__ = ["AGIHandler", "agi_environment", "app_agi", "parse_command"]

Wait = Generator["float | None", Signal, int]

AGI_VERSION = "22.10.1"


class AGIHandler(Protocol):
    """The FastAGI transport (implemented by the asyncio shell)."""

    def start(self, chan: Channel, url: str, env: list[tuple[str, str]]) -> None:
        """Open ``url`` and send ``env`` as the ``agi_*`` header lines."""

    def reply(self, chan: Channel, line: str) -> None:
        """Send one response line (``200 result=0``) to the AGI server."""

    def hangup(self, chan: Channel) -> None:
        """The channel hung up: tell the AGI server (``HANGUP``)."""


def agi_environment(
    world: World, chan: Channel, url: str, args: list[str]
) -> list[tuple[str, str]]:
    """The ``agi_*`` variables Asterisk sends at the start of a session."""
    script = url.split("://", 1)[-1].partition("/")[2]
    env = [
        ("agi_network", "yes"),
        ("agi_network_script", script),
        ("agi_request", url),
        ("agi_channel", chan.name),
        ("agi_language", chan.language),
        ("agi_type", chan.tech),
        ("agi_uniqueid", chan.uniqueid),
        ("agi_version", AGI_VERSION),
        ("agi_callerid", chan.cid_num or "unknown"),
        ("agi_calleridname", chan.cid_name or "unknown"),
        ("agi_callingpres", "0"),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", chan.dnid or "unknown"),
        ("agi_rdnis", "unknown"),
        ("agi_context", chan.context),
        ("agi_extension", chan.exten),
        ("agi_priority", str(chan.priority)),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""),
        ("agi_threadid", str(abs(hash(chan.uniqueid)) % 10**15)),
    ]
    for i, a in enumerate(args, 1):
        env.append((f"agi_arg_{i}", a))
    return env


def parse_command(line: str) -> list[str]:
    """Split an AGI command line like Asterisk (double quotes group, backslash escapes)."""
    try:
        return shlex.split(line, posix=True)
    except ValueError:
        return line.split()


def _digits(escape: str) -> str:
    return escape.strip('"')


def app_agi(world: World, chan: Channel, data: str) -> Wait:
    args = split_args(data)
    url = (args[0] if args else "").strip()
    handler = world.agi_handler
    if handler is None or not url.startswith("agi://"):
        world.set_var(chan, "AGISTATUS", "FAILURE")
        return 0
    chan.data["agi_active"] = True
    handler.start(chan, url, agi_environment(world, chan, url, [a for a in args[1:]]))
    status = "SUCCESS"
    hungup = False
    while True:
        sig = yield None
        kind = sig[0]
        if kind == "agi_closed":
            if sig[2] == "failed":
                status = "FAILURE"
            break
        if kind == "hangup":
            if not hungup:
                hungup = True
                handler.hangup(chan)
            continue
        if kind == "redirect":
            # An async goto while in AGI: the script is told to go away.
            handler.hangup(chan)
            chan.data.pop("agi_active", None)
            return 1
        if kind != "agi_cmd":
            continue
        line = str(sig[2])
        if hungup:
            handler.reply(chan, "511 Command Not Permitted on a dead channel or intercept routine")
            continue
        words = parse_command(line)
        world.emit(
            "AGIExecStart",
            chan,
            (("Command", line), ("CommandId", str(_next_id(chan)))),
        )
        result = yield from _execute(world, chan, words)
        if chan.dead:
            return -1
        world.emit(
            "AGIExecEnd",
            chan,
            (
                ("Command", line),
                ("CommandId", str(chan.data.get("agi_cmd_id", 0))),
                ("ResultCode", result.split(" ", 1)[0]),
                ("Result", result.split(" ", 1)[1] if " " in result else ""),
            ),
        )
        handler.reply(chan, result)
        if chan.data.get("redirect") is not None:
            # Redirected while the command ran: as above.
            handler.hangup(chan)
            chan.data.pop("agi_active", None)
            return 1
        if chan.softhangup and not hungup:
            # The caller hung up while the command ran (it answered -1): the script is
            # told HANGUP and may go on talking until it closes (AGISIGHUP=yes).
            hungup = True
            handler.hangup(chan)
    chan.data.pop("agi_active", None)
    world.set_var(chan, "AGISTATUS", status if not hungup else "HANGUP")
    return -1 if hungup else 0


def _next_id(chan: Channel) -> int:
    n = int(chan.data.get("agi_cmd_id", 0)) + 1
    chan.data["agi_cmd_id"] = n
    return n


def _wait_digits(
    world: World, chan: Channel, until: float | None, escape: str, maxdigits: int = 1
) -> Generator[float | None, Signal, tuple[str, str]]:
    """Wait for digits; returns (digits, why) with why in ok/timeout/hangup."""
    digits = ""
    while True:
        sig = yield until
        kind = sig[0]
        if kind == "timeout":
            return digits, "timeout"
        if kind in ("hangup", "redirect"):
            return digits, "hangup"
        if kind == "dtmf":
            d = str(sig[2])
            if escape and d not in escape:
                continue
            if d == "#" and maxdigits > 1:
                return digits, "ok"
            digits += d
            if len(digits) >= maxdigits:
                return digits, "ok"


def _execute(world: World, chan: Channel, words: list[str]) -> Generator[float | None, Signal, str]:
    if not words:
        return "510 Invalid or unknown command"
    w = [x.upper() for x in words]
    if w[0] == "ANSWER":
        answer(world, chan)
        return "200 result=0"
    if w[0] == "NOOP":
        return "200 result=0"
    if w[0] == "VERBOSE":
        return "200 result=1"
    if w[0] == "HANGUP":
        target = chan
        if len(words) > 1:
            other = world.channels.get(words[1])
            if other is None:
                return "200 result=-1"
            target = other
        world.soft_hangup(target, CAUSE_NORMAL, source="dialplan")
        return "200 result=1"
    if w[:2] == ["SET", "VARIABLE"] and len(words) >= 4:
        ChannelEnv(world, chan).set(words[2], words[3])
        return "200 result=1"
    if w[:2] == ["GET", "VARIABLE"] and len(words) >= 3:
        name = words[2]
        env = ChannelEnv(world, chan)
        if name.endswith(")") and "(" in name:
            value: str | None = env.function(
                name[: name.index("(")], name[name.index("(") + 1 : -1]
            )
        else:
            value = env.lookup(name)
        return f"200 result=1 ({value})" if value is not None else "200 result=0"
    if w[:3] == ["GET", "FULL", "VARIABLE"] and len(words) >= 4:
        return f"200 result=1 ({expand(world, chan, words[3])})"
    if w[:2] == ["SET", "CONTEXT"] and len(words) >= 3:
        world.set_position(chan, words[2], chan.exten, chan.priority)
        return "200 result=0"
    if w[:2] == ["SET", "EXTENSION"] and len(words) >= 3:
        world.set_position(chan, chan.context, words[2], chan.priority)
        return "200 result=0"
    if w[:2] == ["SET", "PRIORITY"] and len(words) >= 3 and words[2].isdigit():
        world.set_position(chan, chan.context, chan.exten, int(words[2]))
        return "200 result=0"
    if w[:2] == ["SET", "MUSIC"] and len(words) >= 3:
        if w[2] == "ON":
            moh_start(world, chan, words[3] if len(words) > 3 else "default")
        else:
            moh_stop(world, chan)
        return "200 result=0"
    if w[:2] == ["CHANNEL", "STATUS"]:
        return f"200 result={chan.state}"
    if w[:2] in (["STREAM", "FILE"], ["CONTROL", "STREAM"]):
        if w[0] == "CONTROL":
            words = words[1:]
        if len(words) < 3:
            return "520 Invalid command syntax.  Proper usage not available."
        dur = prompt_duration(words[2])
        escape = _digits(words[3]) if len(words) > 3 else ""
        digits, why = yield from _wait_digits(world, chan, world.now + dur, escape)
        if why == "hangup":
            return "200 result=-1 endpos=0"
        if digits:
            return f"200 result={ord(digits[0])} endpos={int(dur * 8000)}"
        return f"200 result=0 endpos={int(dur * 8000)}"
    if w[:2] == ["GET", "DATA"] and len(words) >= 3:
        dur = prompt_duration(words[2])
        timeout = float(words[3]) / 1000.0 if len(words) > 3 and words[3].isdigit() else 5.0
        maxd = int(words[4]) if len(words) > 4 and words[4].isdigit() else 1024
        digits, why = yield from _wait_digits(world, chan, world.now + dur + timeout, "", maxd)
        if why == "hangup":
            return "200 result=-1"
        if why == "timeout":
            return f"200 result={digits} (timeout)"
        return f"200 result={digits}"
    if w[:3] == ["WAIT", "FOR", "DIGIT"]:
        try:
            ms = float(words[3]) if len(words) > 3 else -1.0
        except ValueError:
            ms = -1.0
        until = None if ms < 0 else world.now + ms / 1000.0
        digits, why = yield from _wait_digits(world, chan, until, "")
        if why == "hangup":
            return "200 result=-1"
        return f"200 result={ord(digits[0]) if digits else 0}"
    if w[:2] in (["SAY", "DIGITS"], ["SAY", "NUMBER"]) and len(words) >= 3:
        dur = 0.6 * len(words[2])
        escape = _digits(words[3]) if len(words) > 3 else ""
        digits, why = yield from _wait_digits(world, chan, world.now + dur, escape)
        if why == "hangup":
            return "200 result=-1"
        return f"200 result={ord(digits[0]) if digits else 0}"
    if w[0] == "EXEC" and len(words) >= 2:
        app = APPS.get(words[1].lower())
        if app is None:
            return "200 result=-2"
        data = " ".join(words[2:]) if len(words) > 2 else ""
        name = canonical(words[1])
        world.newexten(chan, name, data)
        res = app(world, chan, data)
        if not isinstance(res, int):
            res = yield from res
        chan.data.pop("jump", None)
        return f"200 result={res}"
    if w[0] == "DATABASE":
        return "200 result=0"
    return "510 Invalid or unknown command"


__all__ += ["STATE_DESC"]
