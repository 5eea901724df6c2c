"""Errors of the AMI link, one small tree.

Who is at fault decides the type (STYLE.md 3):

- the PBX or the network: :class:`LinkDown` (not connected, or the connection dropped
  while the action was pending; the server answers ``pbx_unavailable``),
  :class:`ActionTimeout` (no answer in time), :class:`AuthenticationFailed` (Asterisk
  refused our Login: a configuration problem, never retried in a loop);
- the PBX refused the action: :class:`ActionFailed` (``Response: Error``, its
  ``Message`` kept: "Channel does not exist", "Extension does not exist."...);
- the caller: ``ValueError``/``TypeError`` from the codec's ``encode_action`` when a
  header name or value cannot be sent (CR, LF, NUL), raised before anything is written.
"""

from __future__ import annotations

from cti.ami.codec import Message

__all__ = [
    "ActionFailed",
    "ActionTimeout",
    "AuthenticationFailed",
    "LinkClosed",
    "LinkDown",
    "LinkError",
]


class LinkError(Exception):
    """Base class of the link's errors."""


class LinkDown(LinkError):
    """The AMI link is not up (connecting, resyncing, reconnecting), or the connection
    dropped before the answer came. An action that fails this way was sent at most once
    and is never sent again by the link: the caller decides whether to retry."""


class LinkClosed(LinkDown):
    """The link was closed by :meth:`AMILink.close`."""


class AuthenticationFailed(LinkError):
    """Asterisk refused the Login (wrong user or secret, or an address not permitted).
    The link stops: reconnecting with the same credentials would only fail again."""


class ActionTimeout(LinkError):
    """No answer to an action within its timeout."""

    def __init__(self, action: str, action_id: str, timeout: float) -> None:
        super().__init__(f"no answer to AMI {action} ({action_id}) within {timeout:g} s")
        self.action = action
        self.action_id = action_id
        self.timeout = timeout


class ActionFailed(LinkError):
    """Asterisk answered ``Response: Error`` (or anything but Success)."""

    def __init__(self, action: str, response: Message) -> None:
        message = response.get("Message") or ""
        super().__init__(
            f"AMI {action} failed: {response.response or '?'}" + (f": {message}" if message else "")
        )
        self.action = action
        self.response = response
        self.message = message
