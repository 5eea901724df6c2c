"""Checks of values before they are written, shared by the store's methods and CSV import.

Each check raises :class:`~cti.store.errors.InvalidData` naming the field, or returns the
cleaned value. The formats follow config/README.md (agent ids, extensions, names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from acd.model import MAX_LEVEL, MIN_LEVEL
from cti.config import Role
from cti.store.errors import InvalidData
from cti.store.phones import normalize_phone

__all__ = [
    "MAX_GROUP_MEMBERS",
    "MAX_PHONES",
    "CustomerFields",
    "check_agent_id",
    "check_customer",
    "check_extension",
    "check_extensions",
    "check_group_name",
    "check_role",
    "check_skills",
    "check_text",
]

# The same formats as cti/config.py (config/README.md): one spelling everywhere.
_AGENT_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_EXTENSION_RE: Final = re.compile(r"[0-9]{1,20}")
_NAME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

MAX_PHONES: Final = 10
MAX_PHONE_TEXT: Final = 40
MAX_GROUP_MEMBERS: Final = 200
MAX_AGENT_NAME: Final = 100
MAX_CUSTOMER_NAME: Final = 200
MAX_ADDRESS: Final = 500
MAX_ACCOUNT_ID: Final = 64
MAX_NOTES: Final = 4000


def check_text(field: str, value: str, *, max_len: int, required: bool = False) -> str:
    """Trimmed text without control characters (newlines and tabs are allowed)."""
    text = value.strip()
    if required and not text:
        raise InvalidData(field, "must not be empty")
    if len(text) > max_len:
        raise InvalidData(field, f"longer than {max_len} characters")
    if _CONTROL_RE.search(text):
        raise InvalidData(field, "contains control characters")
    return text


def check_agent_id(value: str, field: str = "agent_id") -> str:
    if not _AGENT_ID_RE.fullmatch(value):
        raise InvalidData(
            field, "expected letters, digits, '_', '.' and '-' (at most 32), e.g. \"80001\""
        )
    return value


def check_extension(value: str, field: str = "extension") -> str:
    if not _EXTENSION_RE.fullmatch(value):
        raise InvalidData(field, 'expected digits only (at most 20), e.g. "8001"')
    return value


def check_role(value: str, field: str = "role") -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidData(field, "expected one of " + ", ".join(r.value for r in Role)) from None


def check_skills(
    skills: Mapping[str, int], known: Iterable[str], field: str = "skills"
) -> dict[str, int]:
    names = set(known)
    out: dict[str, int] = {}
    for name, level in skills.items():
        if name not in names:
            listed = ", ".join(sorted(names)) or "none are defined"
            raise InvalidData(f"{field}.{name}", f"unknown skill (known: {listed})")
        if isinstance(level, bool) or not isinstance(level, int):
            raise InvalidData(f"{field}.{name}", "expected an integer level")
        if not MIN_LEVEL <= level <= MAX_LEVEL:
            raise InvalidData(f"{field}.{name}", f"level must be {MIN_LEVEL}..{MAX_LEVEL}")
        out[name] = level
    return out


def check_group_name(value: str, field: str = "name") -> str:
    if not _NAME_RE.fullmatch(value):
        raise InvalidData(
            field, "expected letters, digits, '_' and '-' starting with a letter (at most 32)"
        )
    return value


def check_extensions(values: Sequence[str], field: str = "extensions") -> tuple[str, ...]:
    if not values:
        raise InvalidData(field, "expected at least one extension")
    if len(values) > MAX_GROUP_MEMBERS:
        raise InvalidData(field, f"more than {MAX_GROUP_MEMBERS} extensions")
    seen: list[str] = []
    for i, value in enumerate(values):
        check_extension(value, f"{field}[{i}]")
        if value in seen:
            raise InvalidData(f"{field}[{i}]", f"extension {value} is listed twice")
        seen.append(value)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class CustomerFields:
    """A customer's fields, checked; ``phones`` as (as entered, canonical key) pairs."""

    name: str
    phones: tuple[tuple[str, str], ...]
    address: str
    account_id: str | None
    service_id: str | None
    notes: str


def check_phones(values: Sequence[str], field: str = "phones") -> tuple[tuple[str, str], ...]:
    """Each number checked and normalised; a number given twice (in any spelling) is kept
    once, in its first spelling."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, raw in enumerate(values):
        text = raw.strip()
        where = f"{field}[{i}]"
        if len(text) > MAX_PHONE_TEXT:
            raise InvalidData(where, f"longer than {MAX_PHONE_TEXT} characters")
        try:
            key = normalize_phone(text)
        except ValueError as error:
            raise InvalidData(where, str(error)) from None
        if key not in seen:
            seen.add(key)
            out.append((text, key))
    if len(out) > MAX_PHONES:
        raise InvalidData(field, f"more than {MAX_PHONES} numbers")
    return tuple(out)


def _optional_id(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    text = check_text(field, value, max_len=MAX_ACCOUNT_ID)
    return text or None


def check_customer(
    *,
    name: str,
    phones: Sequence[str] = (),
    address: str = "",
    account_id: str | None = None,
    service_id: str | None = None,
    notes: str = "",
) -> CustomerFields:
    return CustomerFields(
        name=check_text("name", name, max_len=MAX_CUSTOMER_NAME, required=True),
        phones=check_phones(phones),
        address=check_text("address", address, max_len=MAX_ADDRESS),
        account_id=_optional_id("account_id", account_id),
        service_id=_optional_id("service_id", service_id),
        notes=check_text("notes", notes, max_len=MAX_NOTES),
    )
