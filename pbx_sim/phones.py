"""Simulated phones: what the SIP softphones of the capture lab did, driven by world
timers (no sleeps, no threads).

A :class:`PhoneBehaviour` says how an endpoint's phone reacts to an INVITE: ring, then
answer after ``answer_delay`` seconds (None: ring until cancelled, to exercise no-answer),
or reject with 486 Busy Here after ``busy_delay``; once answered, hang up after
``handle_time`` (None: stay until the other side hangs up). Agent and supervisor phones
register at start-up unless told otherwise.

The far end of the carrier trunk (the PSTN party of an outbound call through
``PJSIP/<number>@e1trunk``) is a phone too: :meth:`Phones.set_far_end`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .channels import Channel
from .model import CAUSE_BUSY, CAUSE_NORMAL, UP

if TYPE_CHECKING:
    from .world import World

__all__ = ["PhoneBehaviour", "Phones"]


@dataclass
class PhoneBehaviour:
    #: Seconds from the INVITE to 200 OK; None: never answers.
    answer_delay: float | None = 1.0
    #: Reject with 486 Busy Here instead of answering.
    busy: bool = False
    busy_delay: float = 1.0
    #: Seconds after answering until the phone hangs up (BYE); None: never.
    handle_time: float | None = None
    #: Seconds from the INVITE to 180 Ringing.
    ring_delay: float = 0.0


#: The lab's softphones auto-answered after 1 s.
DEFAULT_PHONE = PhoneBehaviour(answer_delay=1.0)
#: The carrier's far end answered outbound calls after 1.5 s (04a).
DEFAULT_FAR_END = PhoneBehaviour(answer_delay=1.5)


class Phones:
    """The phones attached to the world's endpoints."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.behaviours: dict[str, PhoneBehaviour] = {}
        self.default = DEFAULT_PHONE
        self.far_end: dict[str, PhoneBehaviour] = {}
        #: Endpoints that are trunks (a call to them reaches the far end, not a phone).
        self.trunks: set[str] = {
            ep.name for ep in world.config.endpoints.values() if ep.trust_id_inbound
        }

    def add(
        self, endpoint: str, behaviour: PhoneBehaviour | None = None, now: float | None = None
    ) -> None:
        """Attach a phone to ``endpoint`` and register it (events if ``now`` is given)."""
        if behaviour is not None:
            self.behaviours[endpoint] = behaviour
        if now is not None:
            self.world.register(now, endpoint)

    def set(self, endpoint: str, behaviour: PhoneBehaviour) -> None:
        """Change how ``endpoint``'s phone behaves from now on."""
        self.behaviours[endpoint] = behaviour

    def set_far_end(self, trunk: str, behaviour: PhoneBehaviour) -> None:
        self.far_end[trunk] = behaviour

    def behaviour(self, endpoint: str) -> PhoneBehaviour:
        if endpoint in self.trunks:
            return self.far_end.get(endpoint, DEFAULT_FAR_END)
        return self.behaviours.get(endpoint, self.default)

    def is_trunk_far_end(self, endpoint: str) -> bool:
        return endpoint in self.trunks

    # -- reacting to calls ---------------------------------------------------------------

    def incoming(self, leg: Channel) -> None:
        """An INVITE reaches the phone behind ``leg``."""
        world = self.world
        b = self.behaviour(leg.resource)
        token = id(leg)
        if b.ring_delay > 0:
            world.call_later(b.ring_delay, self._ring, leg, token)
        else:
            self._ring(leg, token)
        if b.busy:
            world.call_later(b.busy_delay, self._busy, leg, token)
        elif b.answer_delay is not None:
            world.call_later(b.answer_delay, self._answer, leg, token)

    def _ring(self, leg: Channel, _token: Any) -> None:
        if not leg.dead:
            self.world.leg_ringing(leg)

    def _busy(self, leg: Channel, _token: Any) -> None:
        if not leg.dead and leg.state != UP:
            self.world.remote_hangup(leg, CAUSE_BUSY, 486)

    def _answer(self, leg: Channel, _token: Any) -> None:
        if leg.dead or leg.state == UP:
            return
        world = self.world
        world.leg_answered(leg)
        b = self.behaviour(leg.resource)
        if b.handle_time is not None:
            world.call_later(b.handle_time, self._hangup, leg, leg.uniqueid)

    def _hangup(self, leg: Channel, uniqueid: Any) -> None:
        if not leg.dead and leg.uniqueid == uniqueid:
            self.world.remote_hangup(leg, CAUSE_NORMAL)

    def channel_gone(self, chan: Channel) -> None:
        """Nothing to cancel: pending timers check ``leg.dead`` when they fire."""
