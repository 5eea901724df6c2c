"""Every rule that turns facts into a state or a lamp lives here.

A call's state is *derived*, not driven by transitions: Asterisk's events can arrive
late, twice or not at all (the model must survive any order), so instead of a table of
legal transitions the model recomputes the state from what it knows after each event,
with one precedence table (:func:`call_state`). The same goes for the busy-lamp values
of devices and hints, and for the names of hang-up causes.
"""

from __future__ import annotations

from typing import Final

from .changes import CallState, Lamp

__all__ = [
    "BLOCKED_CAUSES",
    "DEVICE_LAMPS",
    "EXTENSION_LAMPS",
    "RINGING_STATES",
    "call_state",
    "cause_name",
    "channel_state",
    "device_lamp",
    "extension_lamp",
]


def call_state(
    *,
    alive: bool,
    held: bool,
    talking: bool,
    queued: bool,
    ringing: bool,
) -> CallState:
    """The state of a call, by precedence (first that applies):

    ========  ==============================================================
    ended     no channel left
    held      a live leg is on hold (Hold without Unhold)
    up        two parties hear each other (a conversation)
    queued    the caller waits in a queue (QueueCallerJoin .. Leave)
    ringing   a leg is ringing (Ring/Ringing) or being dialled
    up        otherwise: answered by the PBX (IVR, announcement, Wait)
    ========  ==============================================================

    A queue call therefore goes ringing → up (Answer) → queued → up (agent) → ended;
    a held call is ``held`` even while the agent consults someone else.
    """
    if not alive:
        return "ended"
    if held:
        return "held"
    if talking:
        return "up"
    if queued:
        return "queued"
    if ringing:
        return "ringing"
    return "up"


#: ChannelStateDesc values that mean "this leg is ringing" (Ring: an inbound channel
#: not answered yet; Ringing: a dialled phone alerting).
RINGING_STATES: Final = frozenset({"Ring", "Ringing", "Pre-ring", "Dialing", "Dialing Offhook"})

_CHANNEL_STATES: Final = {
    "down": "Down",
    "rsrvd": "Rsrvd",
    "offhook": "OffHook",
    "dialing": "Dialing",
    "ring": "Ring",
    "ringing": "Ringing",
    "up": "Up",
    "busy": "Busy",
    "dialing offhook": "Dialing Offhook",
    "pre-ring": "Pre-ring",
}
# ChannelState numbers (ast_channel_state), for messages that carry no description.
_CHANNEL_STATE_NUMBERS: Final = {
    "0": "Down",
    "1": "Rsrvd",
    "2": "OffHook",
    "3": "Dialing",
    "4": "Ring",
    "5": "Ringing",
    "6": "Up",
    "7": "Busy",
    "8": "Dialing Offhook",
    "9": "Pre-ring",
}


def channel_state(desc: str | None, number: str | None = None) -> str:
    """Asterisk's ChannelStateDesc, spelt canonically (``Down``, ``Ring``, ``Ringing``,
    ``Up``, ``Busy``...); ``Unknown`` when neither description nor number is usable."""
    if desc:
        return _CHANNEL_STATES.get(desc.lower(), desc)
    if number:
        return _CHANNEL_STATE_NUMBERS.get(number.strip(), "Unknown")
    return "Unknown"


#: Device states (DeviceStateChange ``State``) → lamp.
DEVICE_LAMPS: Final[dict[str, Lamp]] = {
    "NOT_INUSE": "idle",
    "INUSE": "busy",
    "BUSY": "busy",
    "ONHOLD": "busy",
    "RINGING": "ringing",
    "RINGINUSE": "ringing",
    "UNAVAILABLE": "unavailable",
    "INVALID": "unavailable",
    "UNKNOWN": "unavailable",
}

#: Hint states (ExtensionStatus ``Status``, ast_extension_states) → lamp. A phone that is
#: in use *and* ringing (9) shows ringing: the ringing call is the one a supervisor can
#: still pick up (强接); on hold (16, 17) shows busy.
EXTENSION_LAMPS: Final[dict[int, Lamp]] = {
    -2: "unavailable",  # removed
    -1: "unavailable",  # deactivated
    0: "idle",
    1: "busy",  # in use
    2: "busy",
    4: "unavailable",
    8: "ringing",
    9: "ringing",  # in use & ringing
    16: "busy",  # on hold
    17: "busy",  # in use & on hold
}
_EXTENSION_TEXT_LAMPS: Final[dict[str, Lamp]] = {
    "idle": "idle",
    "inuse": "busy",
    "busy": "busy",
    "unavailable": "unavailable",
    "ringing": "ringing",
    "inuse&ringing": "ringing",
    "hold": "busy",
    "inuse&hold": "busy",
}


def device_lamp(state: str) -> Lamp:
    return DEVICE_LAMPS.get(state.upper(), "unavailable")


def extension_lamp(status: int | None, text: str = "") -> Lamp:
    if status is not None:
        lamp = EXTENSION_LAMPS.get(status)
        if lamp is not None:
            return lamp
        # A combination not listed: ringing wins, then in use/busy/hold.
        if status > 0:
            if status & 8:
                return "ringing"
            if status & (1 | 2 | 16):
                return "busy"
    return _EXTENSION_TEXT_LAMPS.get(text.lower(), "unavailable")


#: Causes that mean "no circuit": the call was blocked, not abandoned. 34 is what the
#: lab dialplan's Congestion() gives the 31st call on an E1 (transcript 10).
BLOCKED_CAUSES: Final = frozenset({34, 42})

_CAUSE_NAMES: Final = {
    0: "unknown",
    1: "unallocated_number",
    3: "no_route_destination",
    16: "normal_clearing",
    17: "user_busy",
    18: "no_user_response",
    19: "no_answer",
    20: "subscriber_absent",
    21: "call_rejected",
    22: "number_changed",
    26: "answered_elsewhere",
    27: "destination_out_of_order",
    28: "invalid_number_format",
    29: "facility_rejected",
    31: "normal_unspecified",
    34: "congestion",
    38: "network_out_of_order",
    41: "temporary_failure",
    42: "switch_congestion",
    44: "channel_unavailable",
    58: "bearer_capability_not_available",
    65: "bearer_capability_not_implemented",
    66: "channel_not_implemented",
    88: "incompatible_destination",
    102: "recovery_on_timer_expire",
    111: "protocol_error",
    127: "interworking",
}


def cause_name(code: int | None) -> str:
    """Q.850 cause code → snake_case name (``q850_<n>`` when not listed)."""
    if code is None:
        return "unknown"
    return _CAUSE_NAMES.get(code, f"q850_{code}")
