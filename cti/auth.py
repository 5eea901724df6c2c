"""Who is calling: logins, bearer tokens and the login rate limit.

:class:`Authenticator` serves the REST API (``POST /api/login``, ``Authorization: Bearer``)
and the WebSocket ``login`` (with ``{agent_id, password}`` or ``{token}``) alike.

* **Passwords** are checked by the store (scrypt, constant-time compare). An unknown agent,
  an agent without a password and a wrong password give the same
  :class:`InvalidCredentials`, in the same time. A disabled agent cannot log in.
* **Tokens** are 32 random bytes (url-safe base64, 43 characters). Only their SHA-256 is
  kept, in memory, with an expiry (12 h by default) and the agent's role. :meth:`logout`
  revokes one; :meth:`revoke_agent` all of an agent's (the REST API calls it when an
  agent's role, enabled flag or password changes, or the agent is deleted). A restart of
  the server logs everyone out: clients log in again (the WebSocket reconnects anyway).
* **Rate limit**: a sliding window of *failed* attempts per agent id (default 5 in 5 min)
  and per client address (20 in 5 min). Over either limit, attempts are refused with
  :class:`RateLimited` (and its ``retry_after_s``) before the password is checked, so
  guessing stops. A successful login forgets the agent's failures (not the address's).
  An attempt counts as failed from its start, so parallel guesses cannot slip past the
  limit while scrypt runs. Note: a per-agent limit lets anyone lock an agent out for the
  window by guessing; that is the usual trade-off and the window is short.

Time is passed in (``now``, Unix seconds) so that tests are exact. Nothing here logs a
password or a token.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar, Final

import structlog

from cti.config import Role
from cti.store import Agent, Store

__all__ = [
    "DEFAULT_TOKEN_TTL_S",
    "AuthError",
    "Authenticator",
    "InvalidCredentials",
    "InvalidToken",
    "LoginLimits",
    "RateLimited",
    "Session",
    "SlidingWindow",
]

log = structlog.get_logger("cti.auth")

DEFAULT_TOKEN_TTL_S: Final = 12 * 3600.0
MAX_AGENT_ID: Final = 64
MAX_PASSWORD: Final = 1024
MAX_TOKEN: Final = 128
_SWEEP_EVERY_S: Final = 60.0


# --------------------------------------------------------------------------- errors


class AuthError(Exception):
    """Base; ``code`` is the DESIGN.md §3.1 error code a client receives."""

    code: ClassVar[str] = "unauthenticated"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidCredentials(AuthError):
    """Wrong agent id or password (one message for both), or a disabled account."""

    def __init__(self, message: str = "wrong agent id or password") -> None:
        super().__init__(message)


class InvalidToken(AuthError):
    def __init__(self, message: str = "invalid or expired token") -> None:
        super().__init__(message)


class RateLimited(AuthError):
    code: ClassVar[str] = "rate_limited"

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        seconds = max(1, math.ceil(retry_after_s))
        super().__init__(f"too many failed logins; try again in {seconds} s")


# --------------------------------------------------------------------------- parts


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in client. ``token`` is what it sends as ``Authorization: Bearer``."""

    agent_id: str
    role: Role
    token: str = field(repr=False)
    expires_at: float


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_agent: int = 5  # failed attempts per agent id ...
    per_address: int = 20  # ... and per client address ...
    window_s: float = 300.0  # ... in any window of this length
    max_tracked: int = 100_000  # keys remembered (oldest dropped beyond)


class SlidingWindow:
    """At most ``limit`` events per key in any ``window_s`` seconds (a sliding log)."""

    def __init__(self, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        if limit < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("limit, window_s and max_keys must be positive")
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}

    def __len__(self) -> int:
        return len(self._events)

    def _live(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until ``key`` may act again, or None if it may now."""
        events = self._live(key, now)
        if events is None or len(events) < self.limit:
            return None
        return events[-self.limit] + self.window_s - now

    def add(self, key: str, now: float) -> None:
        events = self._live(key, now)
        if events is None:
            if len(self._events) >= self.max_keys:
                self._evict(now)
            events = self._events[key] = deque(maxlen=self.limit)
        events.append(now)

    def discard(self, key: str, at: float) -> None:
        """Forget one event of ``key`` recorded at ``at``."""
        events = self._events.get(key)
        if events is not None:
            with contextlib.suppress(ValueError):
                events.remove(at)
            if not events:
                del self._events[key]

    def clear(self, key: str) -> None:
        self._events.pop(key, None)

    def _evict(self, now: float) -> None:
        for key in list(self._events):
            self._live(key, now)
        while len(self._events) >= self.max_keys:  # still full: drop the oldest keys
            del self._events[next(iter(self._events))]


@dataclass(slots=True)
class _Grant:
    agent_id: str
    role: Role
    expires_at: float


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


# --------------------------------------------------------------------------- authenticator


class Authenticator:
    def __init__(
        self,
        store: Store,
        *,
        token_ttl_s: float = DEFAULT_TOKEN_TTL_S,
        limits: LoginLimits | None = None,
        max_sessions_per_agent: int = 20,
    ) -> None:
        if token_ttl_s <= 0:
            raise ValueError("token_ttl_s must be positive")
        self.store = store
        self.token_ttl_s = token_ttl_s
        self.limits = limits or LoginLimits()
        self.max_sessions_per_agent = max_sessions_per_agent
        self._by_agent = SlidingWindow(
            self.limits.per_agent, self.limits.window_s, self.limits.max_tracked
        )
        self._by_address = SlidingWindow(
            self.limits.per_address, self.limits.window_s, self.limits.max_tracked
        )
        self._grants: dict[bytes, _Grant] = {}
        self._per_agent: dict[str, dict[bytes, None]] = {}  # insertion-ordered sets
        self._next_sweep = 0.0

    # ------------------------------------------------------------------ passwords

    def _check_limits(self, agent_id: str, address: str, now: float) -> None:
        waits = [
            wait
            for wait in (
                self._by_agent.retry_after(agent_id, now),
                self._by_address.retry_after(address, now),
            )
            if wait is not None
        ]
        if waits:
            log.warning("auth.rate_limited", agent_id=agent_id, address=address)
            raise RateLimited(max(waits))

    async def _check_password(
        self, agent_id: str, password: str, address: str, now: float
    ) -> Agent:
        """The agent; raise :class:`RateLimited` or :class:`InvalidCredentials` unless ``password``
        is ``agent_id``'s and the account is enabled."""
        valid = (
            isinstance(agent_id, str)
            and isinstance(password, str)
            and 0 < len(agent_id) <= MAX_AGENT_ID
            and len(password) <= MAX_PASSWORD
        )
        agent_key = agent_id if isinstance(agent_id, str) else ""
        self._check_limits(agent_key[:MAX_AGENT_ID], address, now)
        self._by_agent.add(agent_key[:MAX_AGENT_ID], now)
        self._by_address.add(address, now)
        agent = await self.store.verify_password(agent_id, password) if valid else None
        if agent is None:
            log.warning("auth.login_failed", agent_id=agent_key[:MAX_AGENT_ID], address=address)
            raise InvalidCredentials()
        # Not a guess: forget it (and the agent's earlier failures).
        self._by_agent.clear(agent_id)
        self._by_address.discard(address, now)
        if not agent.enabled:
            log.warning("auth.login_disabled", agent_id=agent_id, address=address)
            raise InvalidCredentials("this account is disabled")
        return agent

    async def login(self, agent_id: str, password: str, address: str, now: float) -> Session:
        """A new session for ``agent_id``; raises :class:`RateLimited` or
        :class:`InvalidCredentials`."""
        agent = await self._check_password(agent_id, password, address, now)
        session = self._issue(agent.agent_id, agent.role, now)
        log.info("auth.login", agent_id=agent_id, role=agent.role.value, address=address)
        return session

    async def confirm_password(
        self, agent_id: str, password: str, address: str, now: float
    ) -> None:
        """Check an agent's current password (e.g. before it sets a new one), under the
        same rate limits as :meth:`login`; issues no token."""
        await self._check_password(agent_id, password, address, now)

    # ------------------------------------------------------------------ tokens

    def _issue(self, agent_id: str, role: Role, now: float) -> Session:
        if now >= self._next_sweep:
            self._sweep(now)
        token = secrets.token_urlsafe(32)
        key = _digest(token)
        expires_at = now + self.token_ttl_s
        self._grants[key] = _Grant(agent_id, role, expires_at)
        mine = self._per_agent.setdefault(agent_id, {})
        mine[key] = None
        while len(mine) > self.max_sessions_per_agent:
            oldest = next(iter(mine))
            del mine[oldest]
            self._grants.pop(oldest, None)
        return Session(agent_id, role, token, expires_at)

    def _drop(self, key: bytes) -> None:
        grant = self._grants.pop(key, None)
        if grant is not None:
            mine = self._per_agent.get(grant.agent_id)
            if mine is not None:
                mine.pop(key, None)
                if not mine:
                    del self._per_agent[grant.agent_id]

    def _sweep(self, now: float) -> None:
        for key in [k for k, grant in self._grants.items() if grant.expires_at <= now]:
            self._drop(key)
        self._next_sweep = now + _SWEEP_EVERY_S

    def verify(self, token: str, now: float) -> Session:
        """The session of a bearer token; :class:`InvalidToken` if unknown, revoked or
        expired."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
            raise InvalidToken()
        key = _digest(token)
        grant = self._grants.get(key)
        if grant is None:
            raise InvalidToken()
        if grant.expires_at <= now:
            self._drop(key)
            raise InvalidToken()
        return Session(grant.agent_id, grant.role, token, grant.expires_at)

    def logout(self, token: str) -> bool:
        """Revoke one token; False if it was not valid."""
        if not isinstance(token, str):
            return False
        key = _digest(token)
        found = key in self._grants
        self._drop(key)
        return found

    def revoke_agent(self, agent_id: str, *, keep_token: str | None = None) -> int:
        """Revoke every token of ``agent_id`` (but ``keep_token``); returns how many."""
        keep = _digest(keep_token) if keep_token is not None else None
        keys = [key for key in self._per_agent.get(agent_id, {}) if key != keep]
        for key in keys:
            self._drop(key)
        if keys:
            log.info("auth.revoked", agent_id=agent_id, sessions=len(keys))
        return len(keys)

    def session_count(self, now: float) -> int:
        """Tokens that are still valid (for metrics)."""
        return sum(1 for grant in self._grants.values() if grant.expires_at > now)
