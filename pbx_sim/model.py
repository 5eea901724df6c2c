"""Tables of the values Asterisk 22 puts on the wire: channel states, hangup causes,
device states, extension states, event privilege classes.

Everything here is data; the numbers and texts are the ones seen in
../shared/ami-transcripts/ (and Asterisk's own headers where a transcript does not show one).
"""

from __future__ import annotations

from typing import Final

# -- channel states (ast_state) ------------------------------------------------------

DOWN: Final = 0
RESERVED: Final = 1
OFFHOOK: Final = 2
DIALING: Final = 3
RING: Final = 4
RINGING: Final = 5
UP: Final = 6
BUSY: Final = 7
DIALING_OFFHOOK: Final = 8
PRERING: Final = 9

STATE_DESC: Final[dict[int, str]] = {
    DOWN: "Down",
    RESERVED: "Rsrvd",
    OFFHOOK: "OffHook",
    DIALING: "Dialing",
    RING: "Ring",
    RINGING: "Ringing",
    UP: "Up",
    BUSY: "Busy",
    DIALING_OFFHOOK: "Dialing Offhook",
    PRERING: "Pre-ring",
}

# -- hangup causes (Q.850, as Asterisk names them) --------------------------------------

CAUSE_UNKNOWN: Final = 0
CAUSE_UNALLOCATED: Final = 1
CAUSE_NORMAL: Final = 16
CAUSE_BUSY: Final = 17
CAUSE_NO_USER_RESPONSE: Final = 18
CAUSE_NO_ANSWER: Final = 19
CAUSE_CALL_REJECTED: Final = 21
CAUSE_ANSWERED_ELSEWHERE: Final = 26
CAUSE_CONGESTION: Final = 34

CAUSE_TEXT: Final[dict[int, str]] = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    2: "No route to specified transmit network",
    3: "No route to destination",
    6: "Channel unacceptable",
    7: "Call awarded and being delivered in an established channel",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    22: "Number changed",
    26: "Answered elsewhere",
    27: "Destination out of order",
    28: "Invalid number format",
    29: "Facility rejected",
    30: "Response to STATus ENQuiry",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    127: "Interworking, unspecified",
}

#: The SIP response chan_pjsip sends / receives for a cause (``TechCause`` header).
SIP_CODE_FOR_CAUSE: Final[dict[int, int]] = {17: 486, 19: 480, 34: 503, 21: 603}


def cause_text(cause: int) -> str:
    return CAUSE_TEXT.get(cause, "Unknown")


# -- device states (ast_device_state) ---------------------------------------------------

DS_UNKNOWN: Final = 0
DS_NOT_INUSE: Final = 1
DS_INUSE: Final = 2
DS_BUSY: Final = 3
DS_INVALID: Final = 4
DS_UNAVAILABLE: Final = 5
DS_RINGING: Final = 6
DS_RINGINUSE: Final = 7
DS_ONHOLD: Final = 8

DEVICE_STATE_NAME: Final[dict[int, str]] = {
    DS_UNKNOWN: "UNKNOWN",
    DS_NOT_INUSE: "NOT_INUSE",
    DS_INUSE: "INUSE",
    DS_BUSY: "BUSY",
    DS_INVALID: "INVALID",
    DS_UNAVAILABLE: "UNAVAILABLE",
    DS_RINGING: "RINGING",
    DS_RINGINUSE: "RINGINUSE",
    DS_ONHOLD: "ONHOLD",
}
DEVICE_STATE_BY_NAME: Final[dict[str, int]] = {v: k for k, v in DEVICE_STATE_NAME.items()}
#: PJSIPShowEndpoints ``DeviceState`` column.
DEVICE_STATE_TEXT: Final[dict[int, str]] = {
    DS_UNKNOWN: "Unknown",
    DS_NOT_INUSE: "Not in use",
    DS_INUSE: "In use",
    DS_BUSY: "Busy",
    DS_INVALID: "Invalid",
    DS_UNAVAILABLE: "Unavailable",
    DS_RINGING: "Ringing",
    DS_RINGINUSE: "Ring+Inuse",
    DS_ONHOLD: "On Hold",
}

# -- extension (hint) states ------------------------------------------------------------

EXT_REMOVED: Final = -2
EXT_DEACTIVATED: Final = -1
EXT_IDLE: Final = 0
EXT_INUSE: Final = 1
EXT_BUSY: Final = 2
EXT_UNAVAILABLE: Final = 4
EXT_RINGING: Final = 8
EXT_ONHOLD: Final = 16

EXT_STATE_TEXT: Final[dict[int, str]] = {
    EXT_IDLE: "Idle",
    EXT_INUSE: "InUse",
    EXT_BUSY: "Busy",
    EXT_UNAVAILABLE: "Unavailable",
    EXT_RINGING: "Ringing",
    EXT_INUSE | EXT_RINGING: "InUse&Ringing",
    EXT_ONHOLD: "Hold",
    EXT_INUSE | EXT_ONHOLD: "InUse&Hold",
}

#: ast_devstate_to_extenstate
EXT_STATE_FOR_DEVICE: Final[dict[int, int]] = {
    DS_UNKNOWN: EXT_IDLE,
    DS_NOT_INUSE: EXT_IDLE,
    DS_INUSE: EXT_INUSE,
    DS_BUSY: EXT_BUSY,
    DS_INVALID: EXT_UNAVAILABLE,
    DS_UNAVAILABLE: EXT_UNAVAILABLE,
    DS_RINGING: EXT_RINGING,
    DS_RINGINUSE: EXT_INUSE | EXT_RINGING,
    DS_ONHOLD: EXT_ONHOLD,
}

# -- AMI event classes --------------------------------------------------------------------

#: Manager permission classes, as names in manager.conf ``read =`` / ``Events:``.
EVENT_CLASSES: Final = (
    "system",
    "call",
    "log",
    "verbose",
    "command",
    "agent",
    "user",
    "config",
    "dtmf",
    "reporting",
    "cdr",
    "dialplan",
    "originate",
    "agi",
    "cc",
    "aoc",
    "test",
    "security",
    "message",
)

#: ``Privilege:`` value of each unsolicited event the simulator sends.
PRIVILEGE: Final[dict[str, str]] = {
    "FullyBooted": "system,all",
    "Shutdown": "system,all",
    "Reload": "system,all",
    "SuccessfulAuth": "security,all",
    "ChallengeSent": "security,all",
    "InvalidPassword": "security,all",
    "InvalidAccountID": "security,all",
    "RequestBadFormat": "security,all",
    "RequestNotAllowed": "security,all",
    "ExtensionStatus": "call,all",
    "DeviceStateChange": "call,all",
    "VarSet": "dialplan,all",
    "Newexten": "dialplan,all",
    "Newchannel": "call,all",
    "Newstate": "call,all",
    "NewCallerid": "call,all",
    "NewConnectedLine": "call,all",
    "NewAccountCode": "call,all",
    "Hangup": "call,all",
    "HangupRequest": "call,all",
    "SoftHangupRequest": "call,all",
    "DialBegin": "call,all",
    "DialState": "call,all",
    "DialEnd": "call,all",
    "BridgeCreate": "call,all",
    "BridgeEnter": "call,all",
    "BridgeLeave": "call,all",
    "BridgeDestroy": "call,all",
    "BridgeMerge": "call,all",
    "LocalBridge": "call,all",
    "LocalOptimizationBegin": "call,all",
    "LocalOptimizationEnd": "call,all",
    "MusicOnHoldStart": "call,all",
    "MusicOnHoldStop": "call,all",
    "OriginateResponse": "call,all",
    "Hold": "call,all",
    "Unhold": "call,all",
    "BlindTransfer": "call,all",
    "AttendedTransfer": "call,all",
    "Pickup": "call,all",
    "ChanSpyStart": "call,all",
    "ChanSpyStop": "call,all",
    "ConfbridgeStart": "call,all",
    "ConfbridgeEnd": "call,all",
    "ConfbridgeJoin": "call,all",
    "ConfbridgeLeave": "call,all",
    "ConfbridgeTalking": "call,all",
    "ConfbridgeMute": "call,all",
    "ConfbridgeUnmute": "call,all",
    "MixMonitorStart": "call,all",
    "MixMonitorStop": "call,all",
    "MixMonitorMute": "call,all",
    "DTMFBegin": "dtmf,all",
    "DTMFEnd": "dtmf,all",
    "QueueCallerJoin": "agent,all",
    "QueueCallerLeave": "agent,all",
    "QueueCallerAbandon": "agent,all",
    "QueueMemberStatus": "agent,all",
    "QueueMemberAdded": "agent,all",
    "QueueMemberRemoved": "agent,all",
    "QueueMemberPause": "agent,all",
    "QueueMemberPenalty": "agent,all",
    "QueueMemberRinginuse": "agent,all",
    "AgentCalled": "agent,all",
    "AgentConnect": "agent,all",
    "AgentComplete": "agent,all",
    "AgentRingNoAnswer": "agent,all",
    "AgentDump": "agent,all",
    "PeerStatus": "system,all",
    "ContactStatus": "system,all",
    "AGIExecStart": "agi,all",
    "AGIExecEnd": "agi,all",
    "AsyncAGIStart": "agi,all",
    "AsyncAGIEnd": "agi,all",
    "UserEvent": "user,all",
}

#: Event families the simulator can skip building when nobody wants them
#: (``World(events_detail=False)`` or no subscriber asked for them).
DETAIL_EVENTS: Final = frozenset({"VarSet", "Newexten"})
