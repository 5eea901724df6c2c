"""Errors of the AMI codec.

Two kinds of mistakes exist on an AMI link, and they get different types:

- :class:`AMIProtocolError`: the *peer* broke the protocol (a message over the size limit,
  a stream that does not start with the AMI banner). Raised by the decoder, in stream order.
- ``ValueError`` / ``TypeError`` from the encoders: *we* (or a WebSocket client whose
  input we pass on) tried to send something that cannot be put on the wire safely, such as
  a header value containing CR or LF. These are our bugs or bad client input, never the
  PBX's fault, so they are plain Python errors naming the offending header.
"""

from __future__ import annotations

__all__ = ["AMIError", "AMIProtocolError"]


class AMIError(Exception):
    """Base class of the errors this package raises on its own account."""


class AMIProtocolError(AMIError):
    """The peer sent bytes that are not acceptable AMI.

    ``recoverable`` tells the caller what state the decoder is in afterwards:

    - ``True``: the offending message was dropped and the decoder has resynchronised (it
      continues after the end of that message). The stream can go on being used.
    - ``False``: the decoder has given up on this stream (for example it does not start with
      an AMI banner); every later ``next_message()`` raises again. Close the connection.
    """

    def __init__(self, message: str, *, recoverable: bool) -> None:
        super().__init__(message)
        self.recoverable = recoverable
