"""Hold and unhold of a routed call, from the agent's desktop or from the phone. No I/O.

Desktop hold is two AMI actions that work the same on Asterisk 22 and on pbx_sim
(tests/asterisk/test_hold_asterisk.py runs them on both):

* hold: one ``Redirect`` with ``ExtraChannel``: the caller to ``[hotline-hold]`` (music on
  hold), the agent's leg to ``[agent-hold]`` (silence, the phone stays up). Both are
  marked before either moves, so their Dial bridge dissolves without hanging anybody up;
  the agent's leg, a Dial callee without a dialplan of its own, continues in the dialplan
  through an after-bridge goto.
* unhold: ``Bridge`` of the two channels. Each leaves its application; when one hangs up
  the other continues at the next priority of its hold context, a ``Hangup()``.

While the two are apart nothing on the PBX ties them together, so Hotline does: the
caller hanging up ends the agent's leg and the agent hanging up ends the caller's.

A hold from the phone (a re-INVITE ``sendonly``) is only observed: Asterisk sends
``Hold``/``Unhold`` and plays music to the other party; it can only be ended on the phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from cti.center.effects import PbxAction

__all__ = [
    "AGENT_HOLD_CONTEXT",
    "HOLD_CONTEXT",
    "PENDING_S",
    "Hold",
    "HoldSource",
    "hold_action",
    "unhold_action",
]

HOLD_CONTEXT: Final = "hotline-hold"
AGENT_HOLD_CONTEXT: Final = "agent-hold"
#: A hold or unhold sent to the PBX but not seen there within this many seconds (the
#: action failed, the events were lost) no longer blocks another attempt.
PENDING_S: Final = 5.0

HoldSource = Literal["desktop", "phone"]
Request = Literal["hold", "unhold"]


@dataclass
class Hold:
    """The hold state of one call and the time it spent on hold."""

    by: HoldSource | None = None  # who holds it; None: not on hold
    since: float | None = None
    total_s: float = 0.0  # finished holds
    pending: Request | None = None  # sent to the PBX, not seen there yet
    pending_at: float = 0.0
    agent_channel: str | None = None  # the agent's leg while it waits in [agent-hold]

    @property
    def held(self) -> bool:
        return self.by is not None

    def request(self, what: Request, now: float, agent_channel: str | None = None) -> None:
        self.pending, self.pending_at = what, now
        if agent_channel is not None:
            self.agent_channel = agent_channel

    def is_pending(self, what: Request, now: float) -> bool:
        return self.pending == what and now - self.pending_at < PENDING_S

    def start(self, by: HoldSource, now: float) -> bool:
        """The PBX shows the call on hold; False if it already was."""
        if self.pending == "hold":
            self.pending = None
        if self.by is not None:
            return False
        self.by, self.since = by, now
        return True

    def stop(self, now: float) -> float | None:
        """The PBX shows the call off hold: the seconds this hold lasted (None: it was
        not on hold)."""
        if self.pending == "unhold":
            self.pending = None
        if self.by is None or self.since is None:
            return None
        lasted = max(0.0, now - self.since)
        self.total_s += lasted
        self.by = self.since = None
        if self.pending is None:
            self.agent_channel = None
        return lasted

    def seconds(self, now: float) -> float:
        """Time on hold so far, the current hold included."""
        ongoing = now - self.since if self.since is not None else 0.0
        return self.total_s + max(0.0, ongoing)


def hold_action(call_id: str, caller: str, agent_leg: str) -> PbxAction:
    headers = (
        ("Channel", caller),
        ("Context", HOLD_CONTEXT),
        ("Exten", "s"),
        ("Priority", "1"),
        ("ExtraChannel", agent_leg),
        ("ExtraContext", AGENT_HOLD_CONTEXT),
        ("ExtraExten", "s"),
        ("ExtraPriority", "1"),
    )
    return PbxAction("Redirect", headers, call_id, "hold")


def unhold_action(call_id: str, caller: str, agent_leg: str) -> PbxAction:
    headers = (("Channel1", caller), ("Channel2", agent_leg))
    return PbxAction("Bridge", headers, call_id, "unhold")
