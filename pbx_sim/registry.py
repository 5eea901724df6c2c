"""The application table: dialplan application name -> implementation, and the names
Asterisk registers them under (what Newexten shows)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

from .channels import Channel, Signal

if TYPE_CHECKING:
    from .world import World

__all__ = ["APPS", "CANONICAL", "App", "AppResult", "canonical", "register"]

AppResult = int | Generator["float | None", Signal, int]
App = Callable[["World", Channel, str], AppResult]

#: lower-case name -> implementation (filled by pbx_sim.apps).
APPS: dict[str, App] = {}

#: The name Asterisk registers each application under: Newexten shows it whatever the
#: spelling in the dialplan (``Background(beep)`` -> ``BackGround``, 09).
CANONICAL: dict[str, str] = {
    "noop": "NoOp",
    "set": "Set",
    "goto": "Goto",
    "gotoif": "GotoIf",
    "answer": "Answer",
    "playback": "Playback",
    "wait": "Wait",
    "hangup": "Hangup",
    "congestion": "Congestion",
    "busy": "Busy",
    "ringing": "Ringing",
    "progress": "Progress",
    "musiconhold": "MusicOnHold",
    "startmusiconhold": "StartMusicOnHold",
    "stopmusiconhold": "StopMusicOnHold",
    "verbose": "Verbose",
    "log": "Log",
    "userevent": "UserEvent",
    "background": "BackGround",
}


def canonical(name: str) -> str:
    return CANONICAL.get(name.lower(), name)


def register(name: str, app: App) -> None:
    """Make ``app`` available to the dialplan as ``name`` (the canonical spelling)."""
    APPS[name.lower()] = app
    CANONICAL.setdefault(name.lower(), name)
