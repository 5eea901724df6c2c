"""Small channel operations shared by the applications: waiting, answering, music on
hold, dialplan jumps, prompt lengths."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from .channels import Channel, Signal
from .model import UP

if TYPE_CHECKING:
    from .world import World

__all__ = [
    "PROMPTS",
    "answer",
    "goto",
    "interrupted",
    "moh_start",
    "moh_stop",
    "moved_out_of_bridge",
    "prompt_duration",
    "sleep",
]


#: Durations of the sound files the dialplans play (seconds; measured in the transcripts:
#: queue-thankyou 1.60 s in 01, beep 0.44 s and digits/1 0.92 s in 09). Others: 1 s.
PROMPTS: dict[str, float] = {
    "queue-thankyou": 1.6,
    "beep": 0.44,
    "digits/1": 0.92,
    "goodbye": 0.8,
    "invalid": 1.1,
    "silence/1": 1.0,
    "hello-world": 1.2,
    "pls-hold-while-try": 2.0,
    "queue-callswaiting": 1.5,
    "vm-goodbye": 0.8,
}


def prompt_duration(files: str) -> float:
    total = 0.0
    for part in files.split("&"):
        name = part.strip()
        if name:
            total += PROMPTS.get(name, 1.0)
    return total


def sleep(until: float | None) -> Generator[float | None, Signal, int]:
    """Wait until ``until``: 0 on time-out, -1 if the channel must hang up, 1 on redirect;
    other signals (DTMF) are ignored."""
    while True:
        sig = yield until
        kind = sig[0]
        if kind == "timeout":
            return 0
        if kind == "hangup":
            return -1
        if kind == "redirect":
            return 1


def interrupted(sig: Signal) -> int | None:
    kind = sig[0]
    if kind == "hangup":
        return -1
    if kind == "redirect":
        return 1
    return None


def answer(world: World, chan: Channel) -> None:
    if chan.state != UP:
        world.set_state(chan, UP)
        peer = chan.local_peer
        if peer is not None and not peer.dead and peer.state != UP:
            world.local_answered(peer)


def moh_start(world: World, chan: Channel, klass: str = "default") -> None:
    if chan.data.get("moh"):
        return
    chan.data["moh"] = klass
    world.emit("MusicOnHoldStart", chan, (("Class", klass),))


def moh_stop(world: World, chan: Channel) -> None:
    if chan.data.pop("moh", None) is None:
        return
    world.emit("MusicOnHoldStop", chan)


def goto(chan: Channel, context: str, exten: str, priority: int) -> None:
    """Jump: the PBX loop continues at (context, exten, priority) without incrementing."""
    chan.context = context
    chan.exten = exten
    chan.priority = priority
    chan.data["jump"] = True
    chan.changed()


def moved_out_of_bridge(world: World, chan: Channel, target: object) -> None:
    """An async goto of a bridged channel: Asterisk publishes the new position with the
    old application (a Newexten showing ``Queue``/``Dial`` at the target) and the
    application at the target starts without a Newexten of its own (03a, 03b)."""
    if isinstance(target, tuple) and len(target) == 3:
        ctx, exten, prio = target
        world.set_position(chan, str(ctx), str(exten), int(prio))
        world.newexten(chan, chan.app, chan.app_data)
        chan.data["skip_newexten"] = True
        chan.data.pop("redirect", None)
        chan.data["jump"] = True
