"""AMI (Asterisk Manager Interface) codec, shared by the CTI link and the PBX simulator.

Sans-I/O: :class:`AMIDecoder` turns bytes into :class:`Message` objects, and
:func:`encode_action` / :func:`encode_message` turn headers into validated bytes.
"""

from .codec import (
    MAX_BANNER_SIZE,
    MAX_MESSAGE_SIZE,
    AMIDecoder,
    Kind,
    Message,
    Role,
    encode_action,
    encode_message,
)
from .errors import AMIError, AMIProtocolError

__all__ = [
    "MAX_BANNER_SIZE",
    "MAX_MESSAGE_SIZE",
    "AMIDecoder",
    "AMIError",
    "AMIProtocolError",
    "Kind",
    "Message",
    "Role",
    "encode_action",
    "encode_message",
]
