"""ConfBridge: multi-party conferences (07), the "select-call"/"group-call" of the
dispatch desk.

A conference is a ``base``/``softmix`` bridge created by ConfBridge with a hidden
announcer channel (``CBAnn/<conf>-%08x;2``, never announced but counted in
``BridgeNumChannels`` and listed in BRIDGEPEER). The first participant hears the "only
person" prompt (3.16 s) before entering; later ones enter at once. Talk detection
(``talk_detection_events=yes``) gives ConfbridgeTalking on/off.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cti.ami.codec import Message

from .basics import answer
from .channels import Bridge, Channel, Signal
from .dialplan import split_args
from .model import CAUSE_NORMAL, DS_INUSE, DS_NOT_INUSE, DS_UNKNOWN
from .reply import ActionReply

if TYPE_CHECKING:
    from .world import World

__all__ = ["AMI_ACTIONS", "Conference", "app_confbridge", "conferences", "talk"]

#: The "you are the only person in this conference" prompt before the first one enters.
ONLY_PERSON_PROMPT = 3.16
#: The "you have been kicked" prompt before a kicked participant is hung up.
KICKED_PROMPT = 2.38
#: After the last participant leaves, the bridge and its channel go this much later.
LAST_LEAVE_DELAY = 0.4
#: Talk detection: on after this, off this long after the talking stopped.
TALK_ON_DELAY = 0.025
TALK_OFF_DELAY = 2.5


@dataclass
class User:
    chan: Channel
    muted: bool = False
    talking: bool = False
    kicked: bool = False


@dataclass
class Conference:
    name: str
    bridge: Bridge
    announcer: str
    users: list[User] = field(default_factory=list)
    locked: bool = False

    def user(self, chan: Channel) -> User | None:
        return next((u for u in self.users if u.chan is chan), None)


def conferences(world: World) -> dict[str, Conference]:
    confs = world.extensions.get("confbridge")
    if confs is None:
        confs = world.extensions["confbridge"] = {}
    return confs


def _head(conf: Conference, extra: int = 0) -> list[tuple[str, str]]:
    return [("Conference", conf.name), *conf.bridge.headers(len(conf.bridge.channels) + 1 + extra)]


def _announcer_state(world: World, name: str, state: int) -> None:
    world.set_device_state(world.device(f"CBAnn/{name}"), state, force=True)


def _peers(world: World, conf: Conference) -> None:
    """Every participant's BRIDGEPEER: the announcer, then the others in join order."""
    inside = [u.chan for u in conf.users if u.chan.bridge is conf.bridge]
    for chan in inside:
        others = [conf.announcer] + [c.name for c in inside if c is not chan]
        world.set_var(chan, "BRIDGEPEER", ",".join(others))


def _start(world: World, name: str) -> Conference:
    seq = world._local_seq
    world._local_seq += 1
    br = world.bridge_create(type_="base", technology="softmix", creator="ConfBridge", name=name)
    conf = Conference(name, br, f"CBAnn/{name}-{seq:08x};2")
    br.hidden = 1
    conferences(world)[name] = conf
    _announcer_state(world, name, DS_INUSE)
    world.emit("ConfbridgeStart", (("Conference", name),), br.headers(1))
    world.set_device_state(world.device(f"confbridge:{name}"), DS_INUSE)
    return conf


def _flag(v: bool) -> str:
    return "Yes" if v else "No"


def app_confbridge(world: World, chan: Channel, data: str) -> Generator[float | None, Signal, int]:
    args = split_args(data)
    name = (args[0] if args else "").strip() or "default"
    answer(world, chan)
    conf = conferences(world).get(name) or _start(world, name)
    if conf.locked:
        world.set_var(chan, "CONFBRIDGE_RESULT", "LOCKED")
        return 0
    user = User(chan)
    first = not conf.users
    conf.users.append(user)
    chan.data["confbridge"] = conf
    if first:
        sig = yield world.now + ONLY_PERSON_PROMPT
        if sig[0] == "hangup":
            conf.users.remove(user)
            _maybe_end(world, conf)
            return -1
        world.bridge_enter(conf.bridge, chan)
        world.emit(
            "ConfbridgeJoin", _head(conf), chan.snapshot(), (("Admin", "No"), ("Muted", "No"))
        )
    else:
        world.emit(
            "ConfbridgeJoin", _head(conf, 1), chan.snapshot(), (("Admin", "No"), ("Muted", "No"))
        )
        world.bridge_enter(conf.bridge, chan)
    _peers(world, conf)
    while True:
        sig = yield None
        kind, who, _info = sig
        if kind in ("hangup", "kick") and who is chan and chan.hangup_cause == 0:
            # Leaving the conference clears normally (07: Hangup Cause 16).
            chan.hangup_cause = CAUSE_NORMAL
        if kind == "hangup" and who is chan:
            last = len(conf.users) == 1
            if not last:
                world.emit("ConfbridgeLeave", _head(conf), chan.snapshot(), (("Admin", "No"),))
            world.set_var(chan, "BRIDGEPEER", "")
            conf.users.remove(user)
            world.bridge_leave(conf.bridge, chan)
            _peers(world, conf)
            world.set_var(chan, "CONFBRIDGE_RESULT", "HANGUP")
            if last:
                # Published with the bridge as it was before the BridgeLeave (07).
                world.emit("ConfbridgeLeave", _head(conf, 1), chan.snapshot(), (("Admin", "No"),))
                world.emit("ConfbridgeEnd", (("Conference", name),), conf.bridge.headers(1))
                del conferences(world)[name]
                # The bridge goes a moment later, and the channel with it (07).
                yield world.now + LAST_LEAVE_DELAY
                _destroy(world, conf)
            return -1
        if kind == "kick" and who is chan:
            world.set_var(chan, "CONFBRIDGE_RESULT", "KICKED")
            world.set_var(chan, "BRIDGEPEER", "")
            world.emit("ConfbridgeLeave", _head(conf), chan.snapshot(), (("Admin", "No"),))
            conf.users.remove(user)
            world.bridge_leave(conf.bridge, chan)
            _peers(world, conf)
            _maybe_end(world, conf)
            sig = yield world.now + KICKED_PROMPT
            return -1


def _maybe_end(world: World, conf: Conference) -> None:
    if conf.users:
        return
    world.emit("ConfbridgeEnd", (("Conference", conf.name),), conf.bridge.headers(1))
    conferences(world).pop(conf.name, None)
    _destroy(world, conf)


def _destroy(world: World, conf: Conference) -> None:
    world.bridge_destroy(conf.bridge)
    _announcer_state(world, conf.name, DS_UNKNOWN)
    world.set_device_state(world.device(f"confbridge:{conf.name}"), DS_NOT_INUSE)


def _find_user(world: World, conf_name: str, chan_name: str) -> tuple[Conference, User] | str:
    conf = conferences(world).get(conf_name)
    if conf is None:
        return "No Conference by that name found."
    for u in conf.users:
        if chan_name in (u.chan.name, "all", "participants"):
            return conf, u
    return "No Channel by that name found in Conference."


def talk(world: World, now: float, channel: str, seconds: float) -> None:
    """The participant behind ``channel`` talks for ``seconds`` (talk detection events)."""
    world.input(now)
    chan = world.channels.get(channel)
    if chan is None:
        return
    cb = _talking_cb(world)
    world.call_later(TALK_ON_DELAY, cb, chan, True)
    world.call_later(TALK_ON_DELAY + seconds + TALK_OFF_DELAY, cb, chan, False)
    world.input(now)


def _talking_cb(world: World) -> Callable[[Channel, bool], None]:
    def cb(chan: Channel, on: bool) -> None:
        conf = chan.data.get("confbridge")
        if not isinstance(conf, Conference) or chan.dead:
            return
        u = conf.user(chan)
        if u is None or u.talking == on:
            return
        u.talking = on
        world.emit(
            "ConfbridgeTalking",
            _head(conf),
            chan.snapshot(),
            (("TalkingStatus", "on" if on else "off"), ("Admin", "No")),
        )

    return cb


# -- AMI ----------------------------------------------------------------------------------------


def _get(msg: Message, name: str) -> str:
    return (msg.get(name) or "").strip()


def a_list_rooms(world: World, msg: Message, reply: ActionReply) -> None:
    confs = list(conferences(world).values())
    if not confs:
        reply.error("No active conferences.")
        return
    reply.list_start("Confbridge conferences will follow")
    for c in confs:
        reply.item(
            "ConfbridgeListRooms",
            (
                ("Conference", c.name),
                ("Parties", str(len(c.users))),
                ("Marked", "0"),
                ("Locked", _flag(c.locked)),
                ("Muted", "No"),
            ),
        )
    reply.list_complete("ConfbridgeListRoomsComplete", len(confs))


def a_list(world: World, msg: Message, reply: ActionReply) -> None:
    name = _get(msg, "Conference")
    if not name:
        reply.error("No Conference name provided.")
        return
    confs = conferences(world)
    conf = confs.get(name)
    if conf is None:  # app_confbridge's two answers
        reply.error("No Conference by that name found." if confs else "No active conferences.")
        return
    reply.list_start("Confbridge user list will follow")
    for u in conf.users:
        answered = u.chan.answered_at if u.chan.answered_at is not None else world.now
        reply.item(
            "ConfbridgeList",
            (
                ("Conference", name),
                ("Admin", "No"),
                ("MarkedUser", "No"),
                ("WaitMarked", "No"),
                ("EndMarked", "No"),
                ("EndMarkedAny", "No"),
                ("Waiting", "No"),
                ("Muted", _flag(u.muted)),
                ("Talking", _flag(u.talking)),
                ("AnsweredTime", str(world.elapsed(answered))),
                *u.chan.snapshot(),
            ),
        )
    reply.list_complete("ConfbridgeListComplete", len(conf.users))


def _mute(world: World, msg: Message, reply: ActionReply, on: bool) -> None:
    conf_name, chan_name = _get(msg, "Conference"), _get(msg, "Channel")
    if not conf_name or not chan_name:
        reply.error(
            "No Conference name provided." if not conf_name else "No channel name provided."
        )
        return
    found = _find_user(world, conf_name, chan_name)
    if isinstance(found, str):
        reply.error(found)
        return
    conf, u = found
    u.muted = on
    reply.success("User muted" if on else "User unmuted")
    world.emit(
        "ConfbridgeMute" if on else "ConfbridgeUnmute",
        _head(conf),
        u.chan.snapshot(),
        (("Admin", "No"),),
    )


def a_mute(world: World, msg: Message, reply: ActionReply) -> None:
    _mute(world, msg, reply, True)


def a_unmute(world: World, msg: Message, reply: ActionReply) -> None:
    _mute(world, msg, reply, False)


def _lock(world: World, msg: Message, reply: ActionReply, on: bool) -> None:
    conf = conferences(world).get(_get(msg, "Conference"))
    if conf is None:
        reply.error("No Conference by that name found.")
        return
    conf.locked = on
    reply.success("Conference locked" if on else "Conference unlocked")


def a_lock(world: World, msg: Message, reply: ActionReply) -> None:
    _lock(world, msg, reply, True)


def a_unlock(world: World, msg: Message, reply: ActionReply) -> None:
    _lock(world, msg, reply, False)


def a_kick(world: World, msg: Message, reply: ActionReply) -> None:
    found = _find_user(world, _get(msg, "Conference"), _get(msg, "Channel"))
    if isinstance(found, str):
        reply.error(found)
        return
    conf, u = found
    # "all" (and "participants": nobody is an admin here) kicks every user (app_confbridge).
    users = list(conf.users) if _get(msg, "Channel") in ("all", "participants") else [u]
    reply.success("User kicked")
    for user in users:
        world.signal(user.chan.task, ("kick", user.chan, None))


AMI_ACTIONS: dict[str, tuple[Callable[[World, Message, ActionReply], None], str]] = {
    "ConfbridgeListRooms": (a_list_rooms, "List active conferences.  (Priv: reporting,all)"),
    "ConfbridgeList": (a_list, "List participants in a conference.  (Priv: reporting,all)"),
    "ConfbridgeMute": (a_mute, "Mute a Confbridge user.  (Priv: call,all)"),
    "ConfbridgeUnmute": (a_unmute, "Unmute a Confbridge user.  (Priv: call,all)"),
    "ConfbridgeLock": (a_lock, "Lock a Confbridge conference.  (Priv: call,all)"),
    "ConfbridgeUnlock": (a_unlock, "Unlock a Confbridge conference.  (Priv: call,all)"),
    "ConfbridgeKick": (a_kick, "Kick a Confbridge user.  (Priv: call,all)"),
}
