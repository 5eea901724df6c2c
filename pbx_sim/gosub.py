"""Dial's ``U(context[^arg[^...]])``: a Gosub on the answered callee, before the bridge.

Asterisk's app_dial turns the option into ``Gosub(context,s,1(args))`` on the called
channel once it answered and runs it to its ``Return()`` before bridging the two: the
routine's ``Newexten`` events show the callee in that context, ``${ARG1}``... are its
arguments, and the callee goes back to where it was. pbx_sim's Hotline dialplan uses it
to start MixMonitor on the agent's leg ([hotline-record], docs/recording.md).

Only what such a routine needs: immediate applications, ``GotoIf``/``Goto`` jumps and
``Return``; falling off its end returns as well. A hangup of the callee ends it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from .channels import Channel, Signal
from .functions import expand
from .registry import APPS, canonical

if TYPE_CHECKING:
    from .world import World

__all__ = ["callee_gosub", "run_gosub"]

MAX_STEPS = 1000  # a routine that loops is cut off (Asterisk would spin; pbx_sim must not)


def callee_gosub(options: str) -> tuple[str, list[str]] | None:
    """The ``U(...)`` of a Dial option string: (context, arguments), or None."""
    depth, i = 0, 0
    while i < len(options):
        c = options[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(depth - 1, 0)
        elif c == "U" and depth == 0 and options[i + 1 : i + 2] == "(":
            end = options.find(")", i + 2)
            inner = options[i + 2 : end if end >= 0 else len(options)]
            context, *args = inner.split("^")
            return (context.strip(), args) if context.strip() else None
        i += 1
    return None


def run_gosub(
    world: World, chan: Channel, context: str, args: list[str]
) -> Generator[float | None, Signal, None]:
    plan = world.config.dialplan
    saved = (chan.context, chan.exten, chan.priority)
    names = [f"ARG{n}" for n in range(1, len(args) + 1)]
    for name, value in zip(names, args, strict=True):
        world.set_var(chan, name, value)
    world.set_position(chan, context, "s", 1)
    try:
        for _ in range(MAX_STEPS):
            if chan.dead:
                return
            step = plan.step(chan.context, chan.exten, chan.priority)
            if step is None:
                return
            app_name = canonical(step.app)
            data = expand(world, chan, step.data) if "$" in step.data else step.data
            world.newexten(chan, app_name, data)
            if app_name.lower() == "return":
                return
            app = APPS.get(app_name.lower())
            if app is None:
                return
            chan.data.pop("jump", None)
            res = app(world, chan, data)
            if not isinstance(res, int):
                res = yield from res
            if res < 0:
                return
            if not chan.data.pop("jump", False):
                chan.priority += 1
                chan.changed()
    finally:
        for name in names:  # Gosub's arguments are local to the routine
            chan.variables.pop(name, None)
        if not chan.dead:
            world.set_position(chan, *saved)
