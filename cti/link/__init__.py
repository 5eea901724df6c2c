"""The AMI link: login, keepalive, reconnect with backoff, resync of the call model.

:class:`AMILink` is the asyncio shell around the sans-I/O codec (:mod:`cti.ami`) and the
call model (:mod:`cti.calls`). See the module docstring of :mod:`cti.link.client` for
how panoramisk is (not) used, and docs/ami-link.md.
"""

from .client import (
    ActionResult,
    AMILink,
    ChangeListener,
    EventHandler,
    LinkSettings,
    LinkState,
    StateListener,
    backoff_delay,
)
from .errors import (
    ActionFailed,
    ActionTimeout,
    AuthenticationFailed,
    LinkClosed,
    LinkDown,
    LinkError,
)

__all__ = [
    "AMILink",
    "ActionFailed",
    "ActionResult",
    "ActionTimeout",
    "AuthenticationFailed",
    "ChangeListener",
    "EventHandler",
    "LinkClosed",
    "LinkDown",
    "LinkError",
    "LinkSettings",
    "LinkState",
    "StateListener",
    "backoff_delay",
]
