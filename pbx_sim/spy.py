"""ChanSpy: a supervisor listens to (``q``), whispers to (``w``) or barges into (``B``) an
agent's call (05a). The mode changes only audio, so no event tells it: ChanSpyStart and
ChanSpyStop carry the spyer and spyee snapshots, and attaching/detaching the spy makes the
spyee's bridge republish BRIDGEPEER on both parties.

With the ``d`` option the spy's DTMF switches the mode as app_chanspy's
``change_spy_mode`` does: 4 listen, 5 whisper, 6 barge (other digits do nothing). The
current mode is kept in the spyer's ``data["spy_mode"]`` for tests to read.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from .channels import Channel, Signal
from .dialplan import split_args
from .model import UP
from .transfers import bridge_vars

if TYPE_CHECKING:
    from .world import World

__all__ = ["app_chanspy", "find_spyee"]

#: Seconds between ChanSpy's scans for a channel to spy on.
SCAN_INTERVAL = 1.0
#: ChanSpy starts spying this long after it was entered (05a: 0.10 s).
START_DELAY = 0.1
#: The ``d`` option's digits (app_chanspy ``change_spy_mode``).
DTMF_MODES = {"4": "listen", "5": "whisper", "6": "barge"}


def find_spyee(world: World, prefix: str, spyer: Channel) -> Channel | None:
    """The first up channel whose name starts with ``prefix`` (``PJSIP/8001`` matches
    ``PJSIP/8001-00000019``), not the spyer itself."""
    for chan in world.channels.values():
        if chan is spyer or chan.state != UP:
            continue
        if chan.name.startswith(prefix + "-") or chan.name == prefix:
            return chan
    return None


def _rebridge(world: World, spyee: Channel) -> None:
    br = spyee.bridge
    if br is None:
        return
    for other in br.channels:
        if other is not spyee:
            bridge_vars(world, spyee, other)
            return


def app_chanspy(world: World, chan: Channel, data: str) -> Generator[float | None, Signal, int]:
    args = split_args(data)
    prefix = (args[0] if args else "").strip()
    opts = args[1] if len(args) > 1 else ""
    exit_on_spyee_hangup = "E" in opts
    switch_modes = "d" in opts
    chan.data["spy_mode"] = _initial_mode(opts)
    sig = yield world.now + START_DELAY
    if sig[0] == "hangup":
        return -1
    while True:
        spyee = find_spyee(world, prefix, chan) if prefix else None
        if spyee is None:
            sig = yield world.now + SCAN_INTERVAL
            if sig[0] == "hangup":
                return -1
            continue
        world.emit("ChanSpyStart", chan.snapshot("Spyer"), spyee.snapshot("Spyee"))
        # Each audiohook the spy attaches makes the spyee's bridge republish BRIDGEPEER:
        # one for listen/whisper, two for barge at the start (05a).
        for _ in range(2 if "B" in opts else 1):
            _rebridge(world, spyee)
        spyee.data.setdefault("spies", []).append(chan)
        while True:
            sig = yield None
            kind, who, _info = sig
            if kind in ("hangup", "redirect") and who is chan:
                _stop(world, chan, spyee, opts)
                return -1 if kind == "hangup" else 1
            if kind == "dtmf" and who is chan and switch_modes:
                mode = DTMF_MODES.get(str(_info))
                if mode is not None:
                    chan.data["spy_mode"] = mode
                continue
            if kind == "spyee_gone" and who is spyee:
                _stop(world, chan, spyee, opts)
                if exit_on_spyee_hangup:
                    return -1
                break


def _initial_mode(opts: str) -> str:
    return "barge" if "B" in opts else "whisper" if "w" in opts else "listen"


def _stop(world: World, chan: Channel, spyee: Channel, opts: str) -> None:
    """Detach: listen -> ChanSpyStop, one re-bridge; whisper -> two re-bridges then
    ChanSpyStop; barge -> three then ChanSpyStop (05a). With ``d`` the whisper and barge
    hooks exist whatever the mode (app_chanspy attaches them for mode switching)."""
    spies = spyee.data.get("spies")
    if spies and chan in spies:
        spies.remove(chan)
    hooks = 3 if ("B" in opts or "d" in opts) else 2 if "w" in opts else 0
    for _ in range(hooks):
        if not spyee.dead:
            _rebridge(world, spyee)
    world.emit("ChanSpyStop", chan.snapshot("Spyer"), spyee.snapshot("Spyee"))
    if hooks == 0 and not spyee.dead:
        _rebridge(world, spyee)
