"""What can go wrong in the store, as a small tree of exceptions.

* :class:`InvalidData` — the caller passed a value the store refuses; ``field`` names it
  (``skills.fault``, ``phones[1]``, ``line 7``) and the message starts with that name, so it
  can be shown as is (the REST API answers 400 ``invalid_params`` with it).
* :class:`NotFound` — the thing named does not exist (404 ``not_found``).
* :class:`Conflict` — the write would break a rule: a duplicate key, the last admin
  (409 ``conflict``).
* :class:`SchemaTooNew` / :class:`NotHotlineDatabase` — the file cannot be opened by this
  version of Hotline; nothing was changed in it.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "InvalidData",
    "NotFound",
    "NotHotlineDatabase",
    "SchemaTooNew",
    "StoreError",
]


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class InvalidData(StoreError, ValueError):
    """A value the store refuses; ``str(error)`` starts with the field's name."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)


class NotFound(StoreError, LookupError):
    def __init__(self, kind: str, key: object, message: str | None = None) -> None:
        self.kind = kind
        self.key = key
        super().__init__(message or f"no {kind} {key!r}")


class Conflict(StoreError):
    """The write would break a uniqueness or consistency rule; nothing was written."""


class SchemaTooNew(StoreError):
    """The database was written by a newer Hotline (its schema version is unknown here)."""

    def __init__(self, path: str, found: int, known: int) -> None:
        self.found = found
        self.known = known
        super().__init__(
            f"{path}: database schema version {found} is newer than this Hotline knows "
            f"(up to {known}); upgrade Hotline, or restore a backup made before the upgrade"
        )


class NotHotlineDatabase(StoreError):
    """The file is an SQLite database of some other program."""
