"""SIP softphones on pjsua2: agent phones and carrier trunk callers for tests and load.

See docs/softphones.md. Importing this package imports pjsua2 (wheel ``pjsua2-python``).
"""

from pbx_sim.sip.engine import SoftphoneError
from pbx_sim.sip.phones import (
    AgentPolicy,
    AgentStats,
    Phone,
    PhoneCall,
    PhoneEvent,
    RegistrationError,
    Softphones,
)
from pbx_sim.sip.trunk import CallOutcome, TrunkCaller

IncomingCall = PhoneCall  # the name used in issue 5

__all__ = [
    "AgentPolicy",
    "AgentStats",
    "CallOutcome",
    "IncomingCall",
    "Phone",
    "PhoneCall",
    "PhoneEvent",
    "RegistrationError",
    "SoftphoneError",
    "Softphones",
    "TrunkCaller",
]
