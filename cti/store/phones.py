"""Phone numbers as keys: one canonical string per number, whatever way it was written.

Caller ids arrive from the E1 trunk in several shapes (``013800138000``,
``8613800138000``), CRM exports write ``+86 138 0013 8000`` or ``(010) 6552-9988``, and
people type full-width digits. Screen pop must find the customer in every case, with one
indexed equality look-up, so both sides are reduced to the same key by
:func:`normalize_phone`. The rules (also in docs/storage.md):

1. NFKC first (full-width ``＋８６`` becomes ``+86``); then only digits, spaces and
   ``-().`` / are allowed, with an optional leading ``+``. Anything else is not a number.
2. International form: a leading ``+`` or ``00`` introduces a country code.
   ``+86``/``0086`` (China) is dropped, leaving the national number; any other country
   keeps ``+`` and its code (``+14155550100``).
3. Without ``+``/``00``, a number of 11 digits or more that starts with ``86`` is taken as
   ``86`` + national number (trunks deliver that shape); no national number starts with 86.
4. One leading ``0`` of the national number is the domestic trunk prefix and is dropped:
   ``010 6552 9988`` → ``1065529988`` (= ``+86 10 6552 9988``), ``013800138000`` →
   ``13800138000``.

So ``+86 138-0013-8000``, ``0086 13800138000``, ``8613800138000``, ``013800138000`` and
``138 0013 8000`` all give ``13800138000``. Short numbers (extensions, ``95588``) are kept.
A local landline number given without its area code (``6552 9988``) cannot be matched to
one stored with it; Hotline does not guess the area code.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["MAX_PHONE_DIGITS", "normalize_phone"]

MAX_PHONE_DIGITS: Final = 20
_SEPARATORS: Final = frozenset(" -().\u00a0/\t")
_DIGITS: Final = frozenset("0123456789")


def normalize_phone(text: str) -> str:
    """The canonical key of a phone number; :class:`ValueError` if it is not one."""
    value = unicodedata.normalize("NFKC", text).strip()
    plus = value.startswith("+")
    body = value[1:] if plus else value
    digits = []
    for ch in body:
        if ch in _DIGITS:
            digits.append(ch)
        elif ch not in _SEPARATORS:
            raise ValueError(f"not a phone number: {text!r} (unexpected {ch!r})")
    number = "".join(digits)
    if not number:
        raise ValueError(f"not a phone number: {text!r} (no digits)")
    if len(number) > MAX_PHONE_DIGITS:
        raise ValueError(f"not a phone number: {text!r} (more than {MAX_PHONE_DIGITS} digits)")
    international: str | None = None
    if plus:
        international = number
    elif number.startswith("00"):
        international = number[2:]
    if international is not None:
        if not international.startswith("86"):
            if not international:
                raise ValueError(f"not a phone number: {text!r} (no country code)")
            return "+" + international
        national = international[2:]
    elif number.startswith("86") and len(number) >= 11:
        national = number[2:]
    else:
        national = number
    if national.startswith("0"):
        national = national[1:]
    if not national:
        raise ValueError(f"not a phone number: {text!r} (no national number)")
    return national
