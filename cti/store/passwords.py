"""Password hashes: scrypt with a random salt per password, parameters in the string.

A hash reads ``scrypt$N$r$p$SALT$KEY`` (salt and key in unpadded url-safe base64), so the
cost can be raised later: :func:`needs_rehash` tells when a stored hash is weaker than the
current parameters, and the store re-hashes it at the next successful login. Checking is
constant-time (:func:`hmac.compare_digest`). Nothing here logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Final

__all__ = ["ScryptParams", "check_password", "hash_password", "needs_rehash"]

_SCHEME: Final = "scrypt"
_SALT_BYTES: Final = 16
_KEY_BYTES: Final = 32
# Bounds on parameters read from a database, so a tampered hash cannot ask for gigabytes.
_MAX_N: Final = 2**20
_MAX_R: Final = 32
_MAX_P: Final = 16


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost. The default (N=2**14, r=8, p=1: 16 MiB, ~40 ms here) is the common
    interactive-login choice; tests use a small N to run fast."""

    n: int = 2**14
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1) or self.n > _MAX_N:
            raise ValueError(f"scrypt N must be a power of two in 2..{_MAX_N}, not {self.n}")
        if not 1 <= self.r <= _MAX_R or not 1 <= self.p <= _MAX_P:
            raise ValueError(f"scrypt r, p out of range: r={self.r}, p={self.p}")

    @property
    def maxmem(self) -> int:
        return 128 * self.r * (self.n + self.p + 2) + (1 << 20)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, params: ScryptParams, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=params.n,
        r=params.r,
        p=params.p,
        maxmem=params.maxmem,
        dklen=length,
    )


def hash_password(password: str, params: ScryptParams | None = None) -> str:
    """A new hash of ``password`` with a fresh random salt."""
    params = params or ScryptParams()
    salt = os.urandom(_SALT_BYTES)
    key = _derive(password, salt, params, _KEY_BYTES)
    return f"{_SCHEME}${params.n}${params.r}${params.p}${_b64(salt)}${_b64(key)}"


def _parse(encoded: str) -> tuple[ScryptParams, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        raise ValueError("not a scrypt password hash")
    params = ScryptParams(int(parts[1]), int(parts[2]), int(parts[3]))
    salt, key = _unb64(parts[4]), _unb64(parts[5])
    if not salt or not key:
        raise ValueError("not a scrypt password hash")
    return params, salt, key


def check_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; False for a malformed hash too."""
    try:
        params, salt, key = _parse(encoded)
    except ValueError:
        return False
    candidate = _derive(password, salt, params, len(key))
    return hmac.compare_digest(candidate, key)


def needs_rehash(encoded: str, params: ScryptParams) -> bool:
    """True when ``encoded`` is malformed or cheaper than ``params`` in any parameter."""
    try:
        old, _, key = _parse(encoded)
    except ValueError:
        return True
    return old.n < params.n or old.r < params.r or old.p < params.p or len(key) < _KEY_BYTES
