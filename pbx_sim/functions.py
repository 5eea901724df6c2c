"""Dialplan variables and functions as seen from a channel: ``${EXTEN}``,
``${CALLERID(num)}``, ``GROUP()``/``GROUP_COUNT()``, ``DEVICE_STATE()``... and
``Set(FUNC(arg)=value)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .channels import Channel
from .config import parse_callerid
from .dialplan import evaluate_expression, split_args, substitute
from .model import DEVICE_STATE_NAME, STATE_DESC

if TYPE_CHECKING:
    from .world import World

__all__ = ["FUNCTIONS", "SETTERS", "ChannelEnv", "expand"]


class ChannelEnv:
    """Variables and dialplan functions as seen from one channel (for ``substitute``)."""

    __slots__ = ("chan", "world")

    def __init__(self, world: World, chan: Channel | None) -> None:
        self.world = world
        self.chan = chan

    def lookup(self, name: str) -> str | None:
        chan = self.chan
        if chan is not None:
            v = chan.variables.get(name)
            if v is not None:
                return v
            if name == "EXTEN":
                return chan.exten
            if name == "CONTEXT":
                return chan.context
            if name == "PRIORITY":
                return str(chan.priority)
            if name == "CHANNEL":
                return chan.name
            if name == "UNIQUEID":
                return chan.uniqueid
            if name == "CALLERID(num)":
                return chan.cid_num
            if name == "HANGUPCAUSE":
                return str(chan.hangup_cause)
            if name == "EPOCH":
                return str(int(self.world.epoch()))
        v = self.world.global_vars.get(name)
        if v is not None:
            return v
        if name == "EPOCH":
            return str(int(self.world.epoch()))
        return None

    def function(self, name: str, args: str) -> str:
        fn = FUNCTIONS.get(name.upper())
        if fn is None:
            return ""
        return fn(self.world, self.chan, args)

    def set(self, name: str, value: str) -> None:
        """``Set(name=value)``: a function (``GROUP(x)``, ``CALLERID(num)``) or a variable."""
        world, chan = self.world, self.chan
        paren = name.find("(")
        if paren > 0 and name.endswith(")"):
            fname = name[:paren].upper()
            arg = name[paren + 1 : -1]
            setter = SETTERS.get(fname)
            if setter is not None:
                setter(world, chan, arg, value)
            return
        if name.startswith("_") and chan is not None:
            # _VAR: inherited by the channels this one dials; __VAR: by theirs too.
            level = 2 if name.startswith("__") else 1
            name = name[level:]
            chan.data.setdefault("inherit", {})[name] = level
        world.set_var(chan, name, value)


def inherit_variables(parent: Channel, child: Channel) -> None:
    """Copy ``parent``'s inheritable variables to a channel it dials (no VarSet events,
    as ``ast_channel_inherit_variables``)."""
    marks: dict[str, int] | None = parent.data.get("inherit")
    if not marks:
        return
    keep: dict[str, int] = {}
    for name, level in marks.items():
        if name in parent.variables:
            child.variables[name] = parent.variables[name]
            if level == 2:
                keep[name] = 2
    if keep:
        child.data.setdefault("inherit", {}).update(keep)


def _f_group_count(world: World, chan: Channel | None, args: str) -> str:
    group, _, category = args.partition("@")
    if not group and chan is not None:
        group = chan.groups.get(category, "")
    return str(world.group_count(group, category))


def _f_group(world: World, chan: Channel | None, args: str) -> str:
    return "" if chan is None else chan.groups.get(args, "")


def _f_callerid(world: World, chan: Channel | None, args: str) -> str:
    if chan is None:
        return ""
    what = args.split(",", maxsplit=1)[0].strip().lower()
    if what == "num":
        return chan.cid_num
    if what == "name":
        return chan.cid_name
    if what == "all":
        return f'"{chan.cid_name}" <{chan.cid_num}>'
    return ""


def _f_connectedline(world: World, chan: Channel | None, args: str) -> str:
    if chan is None:
        return ""
    what = args.split(",", maxsplit=1)[0].strip().lower()
    return chan.conn_num if what == "num" else chan.conn_name if what == "name" else ""


def _f_len(world: World, chan: Channel | None, args: str) -> str:
    return str(len(args))


def _f_if(world: World, chan: Channel | None, args: str) -> str:
    cond, _, rest = args.partition("?")
    a, _, b = rest.partition(":")
    val = evaluate_expression(cond)
    return a if val not in ("", "0") else b


def _f_device_state(world: World, chan: Channel | None, args: str) -> str:
    dev = world.devices.get(args.strip())
    return DEVICE_STATE_NAME[dev.state] if dev is not None else "UNKNOWN"


def _f_extension_state(world: World, chan: Channel | None, args: str) -> str:
    exten, _, ctx = args.partition("@")
    hint = world.hints.get((ctx or "default", exten))
    if hint is None:
        return "UNKNOWN"
    names = {0: "NOT_INUSE", 1: "INUSE", 2: "BUSY", 4: "UNAVAILABLE", 8: "RINGING", 9: "RINGINUSE"}
    return names.get(hint.state, "UNKNOWN")


def _f_channel(world: World, chan: Channel | None, args: str) -> str:
    if chan is None:
        return ""
    what = args.strip()
    if what == "name":
        return chan.name
    if what == "uniqueid":
        return chan.uniqueid
    if what == "linkedid":
        return chan.linkedid
    if what == "state":
        return STATE_DESC.get(chan.state, "Unknown")
    return ""


def _f_global(world: World, chan: Channel | None, args: str) -> str:
    return world.global_vars.get(args.strip(), "")


def _f_cut(world: World, chan: Channel | None, args: str) -> str:
    parts = split_args(args)
    if len(parts) < 3:
        return ""
    var = ChannelEnv(world, chan).lookup(parts[0]) or ""
    delim = parts[1] or "-"
    fields = var.split(delim)
    spec = parts[2]
    try:
        if "-" in spec:
            a, b = spec.split("-", 1)
            return delim.join(fields[int(a) - 1 : int(b) if b else None])
        return fields[int(spec) - 1]
    except (ValueError, IndexError):
        return ""


def _f_hangupcause(world: World, chan: Channel | None, args: str) -> str:
    return "" if chan is None else str(chan.hangup_cause)


FUNCTIONS: dict[str, Callable[[World, Channel | None, str], str]] = {
    "GROUP_COUNT": _f_group_count,
    "GROUP": _f_group,
    "CALLERID": _f_callerid,
    "CONNECTEDLINE": _f_connectedline,
    "LEN": _f_len,
    "IF": _f_if,
    "DEVICE_STATE": _f_device_state,
    "EXTENSION_STATE": _f_extension_state,
    "CHANNEL": _f_channel,
    "GLOBAL": _f_global,
    "CUT": _f_cut,
    "HANGUPCAUSE": _f_hangupcause,
}


def _s_group(world: World, chan: Channel | None, arg: str, value: str) -> None:
    if chan is not None:
        world.group_set(chan, arg.strip(), value)


def _s_callerid(world: World, chan: Channel | None, arg: str, value: str) -> None:
    if chan is None:
        return
    what = arg.strip().lower()
    if what == "num":
        world.set_callerid(chan, value, chan.cid_name)
    elif what == "name":
        world.set_callerid(chan, chan.cid_num, value)
    elif what == "all":
        name, num = parse_callerid(value)
        world.set_callerid(chan, num, name)


def _s_global(world: World, chan: Channel | None, arg: str, value: str) -> None:
    world.set_var(None, arg.strip(), value)


SETTERS: dict[str, Callable[[World, Channel | None, str, str], None]] = {
    "GROUP": _s_group,
    "CALLERID": _s_callerid,
    "GLOBAL": _s_global,
}


def expand(world: World, chan: Channel | None, text: str) -> str:
    return substitute(text, ChannelEnv(world, chan))
