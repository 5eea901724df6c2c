"""Which AMI actions a manager user may run: its ``write`` classes against each action's
``(Priv: ...)`` (the texts of Asterisk 22's ListCommands, transcript 11).

As manager.c: an action whose privilege list shares no class with the user's
``writeperm`` answers ``Response: Error`` / ``Message: Permission denied``; ``all`` in
the user's ``write`` allows everything; ``<none>`` needs nothing. This is what keeps, for
example, the ``MixMonitor`` action (``system``) from a user with ``call,originate``.
"""

from __future__ import annotations

import re
from typing import Final

from .actions import DESCRIPTIONS, SESSION_ACTIONS

__all__ = ["action_classes", "may_write", "write_classes"]

_PRIV: Final = re.compile(r"\(Priv: ([^)]*)\)\s*$")
_by_name: dict[str, frozenset[str] | None] = {}


def write_classes(text: str) -> frozenset[str] | None:
    """A user's ``write =`` value as a set of classes; None = all."""
    parts = frozenset(p.strip().lower() for p in text.split(",") if p.strip())
    return None if "all" in parts else parts


def action_classes(action: str) -> frozenset[str] | None:
    """The classes that allow ``action`` (None: no privilege needed, or unknown)."""
    key = action.lower()
    if key not in _by_name:
        _by_name.clear()  # rebuilt: actions register as their modules are imported
        for name, text in (*DESCRIPTIONS.items(), *SESSION_ACTIONS.items()):
            m = _PRIV.search(text)
            classes = frozenset(c.strip() for c in m.group(1).split(",")) if m else frozenset()
            _by_name[name.lower()] = classes - {"all", "<none>"} or None
        _by_name.setdefault(key, None)
    return _by_name[key]


def may_write(user_classes: frozenset[str] | None, action: str) -> bool:
    if user_classes is None:
        return True
    needed = action_classes(action)
    return needed is None or not needed.isdisjoint(user_classes)
