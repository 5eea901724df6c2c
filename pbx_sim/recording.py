"""MixMonitor: call recording that writes real WAV files (08).

The simulator has no media, so the recording is a 1 kHz tone (8 kHz, 16-bit mono, the
format Asterisk's ``.wav`` uses: the capture's 4.0 s recording was 64,044 bytes), silent
while muted, as long as the recording ran. The file is written when the recording stops
(StopMixMonitor, or the channel hangs up). A relative ``File`` lands in the monitor spool
directory (``PbxConfig.monitor_dir``), whose full path is published in the channel variable
``MIXMONITOR_FILENAME`` as Asterisk does.

AMI: ``MixMonitor`` / ``MixMonitorMute`` / ``StopMixMonitor`` answer a bare
``Response: Success`` (no Message, no MixMonitorID), as Asterisk 22 does.
"""

from __future__ import annotations

import math
import os
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cti.ami.codec import Message

from .channels import Channel
from .dialplan import split_args
from .reply import ActionReply
from .transfers import bridge_vars, pvt_callid

if TYPE_CHECKING:
    from .world import World

__all__ = ["AMI_ACTIONS", "Recording", "app_mixmonitor", "app_stopmixmonitor", "start", "stop"]

RATE = 8000
TONE_HZ = 1000.0
AMPLITUDE = 8000
#: Longest recording written, in seconds (a forgotten recording must not fill the disk).
MAX_SECONDS = 4 * 3600


@dataclass
class Recording:
    path: str
    started: float
    #: (world time, muted) changes, in order.
    mutes: list[tuple[float, bool]] = field(default_factory=list)


def _path(world: World, name: str) -> str:
    if not name:
        name = f"{world.new_uuid()}.wav"
    if os.path.isabs(name):
        return name
    return os.path.join(world.spool_dir or world.config.monitor_dir, name)


def start(world: World, chan: Channel, file: str) -> Recording:
    """Start recording ``chan`` (events and VarSets as in 08)."""
    rec = Recording(_path(world, file), world.now)
    chan.data["mixmonitor"] = rec
    world.set_var(chan, "MIXMONITOR_FILENAME", rec.path)
    peer = _bridge_peer(chan)
    if peer is not None:
        # The audiohook makes the bridge re-check its technology: BRIDGEPEER again.
        world.set_var(chan, "BRIDGEPEER", peer.name)
    world.emit("MixMonitorStart", chan)
    if peer is not None:
        world.set_var(chan, "BRIDGEPVTCALLID", pvt_callid(world, peer))
        world.set_var(peer, "BRIDGEPEER", chan.name)
        world.set_var(peer, "BRIDGEPVTCALLID", pvt_callid(world, chan))
    hooks = chan.data.setdefault("before_hangup", [])
    hooks.append(lambda: stop(world, chan, quiet=False))
    return rec


def _bridge_peer(chan: Channel) -> Channel | None:
    br = chan.bridge
    if br is None:
        return None
    for other in br.channels:
        if other is not chan:
            return other
    return None


def mute(world: World, chan: Channel, direction: str, on: bool) -> bool:
    rec: Recording | None = chan.data.get("mixmonitor")
    if rec is None:
        return False
    rec.mutes.append((world.now, on))
    world.emit("MixMonitorMute", chan, (("Direction", direction), ("State", "1" if on else "0")))
    return True


def stop(world: World, chan: Channel, *, quiet: bool = False) -> bool:
    """Stop and write the file; False if nothing was recording."""
    rec: Recording | None = chan.data.pop("mixmonitor", None)
    if rec is None:
        return False
    world.emit("MixMonitorStop", chan)
    peer = _bridge_peer(chan)
    if peer is not None and not quiet:
        bridge_vars(world, chan, peer)
    try:
        write_wav(rec, world.now)
    except OSError as exc:
        world._report(f"MixMonitor {rec.path}", exc)
    if world.on_recording is not None:
        world.on_recording(chan, rec.path, world.now - rec.started)
    return True


def write_wav(rec: Recording, end: float) -> None:
    """A 1 kHz tone from ``rec.started`` to ``end``, silent while muted."""
    seconds = min(max(end - rec.started, 0.0), MAX_SECONDS)
    n = round(seconds * RATE)
    tone_period = RATE / TONE_HZ
    one_period = b"".join(
        struct.pack("<h", int(AMPLITUDE * math.sin(2 * math.pi * i / tone_period)))
        for i in range(int(tone_period))
    )
    # Muted ranges in sample offsets.
    ranges: list[tuple[int, int]] = []
    muted_since: int | None = None
    for t, on in rec.mutes:
        pos = round((t - rec.started) * RATE)
        if on and muted_since is None:
            muted_since = pos
        elif not on and muted_since is not None:
            ranges.append((muted_since, pos))
            muted_since = None
    if muted_since is not None:
        ranges.append((muted_since, n))
    os.makedirs(os.path.dirname(rec.path) or ".", exist_ok=True)
    with wave.open(rec.path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        per = int(tone_period)
        written = 0
        chunk_periods = 800  # 0.8 s per write
        while written < n:
            count = min(per * chunk_periods, n - written)
            periods = (count + per - 1) // per
            block = bytearray(one_period * periods)[: count * 2]
            for a, b in ranges:
                lo, hi = max(a, written), min(b, written + count)
                if lo < hi:
                    block[(lo - written) * 2 : (hi - written) * 2] = bytes((hi - lo) * 2)
            w.writeframes(bytes(block))
            written += count


# -- dialplan applications ------------------------------------------------------------------


def app_mixmonitor(world: World, chan: Channel, data: str) -> int:
    args = split_args(data)
    start(world, chan, args[0] if args else "")
    return 0


def app_stopmixmonitor(world: World, chan: Channel, data: str) -> int:
    stop(world, chan)
    return 0


# -- AMI actions ----------------------------------------------------------------------------


def _chan(world: World, msg: Message, reply: ActionReply) -> Channel | None:
    name = (msg.get("Channel") or "").strip()
    if not name:
        reply.error("No channel specified")
        return None
    chan = world.channels.get(name)
    if chan is None:
        reply.error("No such channel")
        return None
    return chan


def a_mixmonitor(world: World, msg: Message, reply: ActionReply) -> None:
    chan = _chan(world, msg, reply)
    if chan is None:
        return
    reply.respond("Success")
    start(world, chan, (msg.get("File") or "").strip())


def a_mixmonitor_mute(world: World, msg: Message, reply: ActionReply) -> None:
    chan = _chan(world, msg, reply)
    if chan is None:
        return
    state = (msg.get("State") or "1").strip().lower() in ("1", "true", "yes", "on")
    direction = (msg.get("Direction") or "both").strip()
    if "mixmonitor" not in chan.data:
        reply.error("Cannot set mute flag")
        return
    reply.respond("Success")
    mute(world, chan, direction, state)


def a_stop_mixmonitor(world: World, msg: Message, reply: ActionReply) -> None:
    chan = _chan(world, msg, reply)
    if chan is None:
        return
    if "mixmonitor" not in chan.data:
        reply.error("Could not stop monitoring channel")
        return
    reply.respond("Success")
    stop(world, chan)


AMI_ACTIONS: dict[str, tuple[Callable[[World, Message, ActionReply], None], str]] = {
    "MixMonitor": (
        a_mixmonitor,
        "Record a call and mix the audio during the recording.  Use of StopMixMonitor is "
        "required to guarantee the audio file is available for processing during dialplan "
        "execution.  (Priv: system,all)",
    ),
    "MixMonitorMute": (
        a_mixmonitor_mute,
        "Mute / unMute a Mixmonitor recording.  (Priv: system,call,all)",
    ),
    "StopMixMonitor": (
        a_stop_mixmonitor,
        "Stop recording a call through MixMonitor, and free the recording's file handle.  "
        "(Priv: system,call,all)",
    ),
}
