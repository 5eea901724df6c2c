"""cti.auth: logins, tokens, revocation and the login rate limit, with an injected clock."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog

from cti.auth import (
    Authenticator,
    InvalidCredentials,
    InvalidToken,
    LoginLimits,
    RateLimited,
    SlidingWindow,
)
from cti.config import Role
from cti.logging import configure_logging
from cti.store import Agent, ScryptParams, Store

FAST = ScryptParams(n=2**4, r=1, p=1)
T0 = 1_700_000_000.0
PASSWORD = "Sup3r-Secret-Passw0rd"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = await Store.open(tmp_path / "hotline.db", password_params=FAST)
    await db.create_agent("80001", password=PASSWORD)
    await db.create_agent("90001", role=Role.SUPERVISOR, password=PASSWORD)
    await db.create_agent("80002")  # no password yet
    await db.create_agent("80003", password=PASSWORD, enabled=False)
    yield db
    await db.close()


@pytest.fixture
def auth(store: Store) -> Authenticator:
    return Authenticator(store)


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    structlog.reset_defaults()


# --------------------------------------------------------------------------- login, tokens


async def test_login_and_verify(auth: Authenticator) -> None:
    session = await auth.login("90001", PASSWORD, "10.0.0.1", T0)
    assert (session.agent_id, session.role) == ("90001", Role.SUPERVISOR)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", session.token)
    assert session.expires_at == T0 + 12 * 3600
    assert auth.verify(session.token, T0 + 60) == session
    assert PASSWORD not in repr(session) and session.token not in repr(session)
    other = await auth.login("90001", PASSWORD, "10.0.0.1", T0)
    assert other.token != session.token


async def test_tokens_are_kept_hashed(auth: Authenticator) -> None:
    session = await auth.login("80001", PASSWORD, "a", T0)
    keys = list(auth._grants)
    assert len(keys) == 1 and len(keys[0]) == 32
    assert session.token.encode() not in keys


async def test_tokens_expire(store: Store) -> None:
    auth = Authenticator(store, token_ttl_s=600)
    session = await auth.login("80001", PASSWORD, "a", T0)
    assert auth.verify(session.token, T0 + 599.9).agent_id == "80001"
    with pytest.raises(InvalidToken):
        auth.verify(session.token, T0 + 600)
    with pytest.raises(InvalidToken):  # and it is gone
        auth.verify(session.token, T0)
    with pytest.raises(ValueError):
        Authenticator(store, token_ttl_s=0)


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "A" * 500, None, 42])
def test_verify_refuses_garbage(auth: Authenticator, token: object) -> None:
    with pytest.raises(InvalidToken, match="invalid or expired token"):
        auth.verify(token, T0)  # type: ignore[arg-type]


async def test_logout_and_revocation(auth: Authenticator) -> None:
    first = await auth.login("80001", PASSWORD, "a", T0)
    second = await auth.login("80001", PASSWORD, "a", T0)
    third = await auth.login("80001", PASSWORD, "a", T0)
    boss = await auth.login("90001", PASSWORD, "a", T0)
    assert auth.logout(first.token) is True
    assert auth.logout(first.token) is False
    with pytest.raises(InvalidToken):
        auth.verify(first.token, T0)
    assert auth.revoke_agent("80001", keep_token=third.token) == 1
    with pytest.raises(InvalidToken):
        auth.verify(second.token, T0)
    assert auth.verify(third.token, T0).agent_id == "80001"
    assert auth.verify(boss.token, T0).agent_id == "90001"
    assert auth.session_count(T0) == 2
    assert auth.revoke_agent("80001") == 1
    assert auth.revoke_agent("nobody") == 0


async def test_sessions_per_agent_are_capped(store: Store) -> None:
    auth = Authenticator(store, max_sessions_per_agent=3)
    tokens = [(await auth.login("80001", PASSWORD, "a", T0 + i)).token for i in range(5)]
    for token in tokens[:2]:
        with pytest.raises(InvalidToken):
            auth.verify(token, T0 + 10)
    for token in tokens[2:]:
        assert auth.verify(token, T0 + 10).agent_id == "80001"


async def test_expired_tokens_are_swept(store: Store) -> None:
    auth = Authenticator(store, token_ttl_s=10)
    for i in range(5):
        await auth.login("80001", PASSWORD, "a", T0 + i)
    assert len(auth._grants) == 5
    await auth.login("80001", PASSWORD, "a", T0 + 100)
    assert len(auth._grants) == 1 and auth.session_count(T0 + 100) == 1


# --------------------------------------------------------------------------- failures


async def test_wrong_password_and_unknown_agent_look_the_same(auth: Authenticator) -> None:
    errors = []
    for agent_id, password in [
        ("80001", "wrong"),
        ("nobody", PASSWORD),
        ("80002", ""),  # no password set
        ("80002", PASSWORD),
        ("", PASSWORD),
        ("x" * 100, PASSWORD),
        ("80001", "x" * 2000),
    ]:
        with pytest.raises(InvalidCredentials) as caught:
            await auth.login(agent_id, password, "a", T0)
        errors.append((caught.value.code, caught.value.message))
    assert set(errors) == {("unauthenticated", "wrong agent id or password")}


async def test_disabled_agent_cannot_log_in(auth: Authenticator, store: Store) -> None:
    with pytest.raises(InvalidCredentials, match="wrong agent id or password"):
        await auth.login("80003", "wrong", "a", T0)
    with pytest.raises(InvalidCredentials, match="disabled"):
        await auth.login("80003", PASSWORD, "a", T0)
    await store.update_agent("80003", enabled=True)
    assert (await auth.login("80003", PASSWORD, "a", T0)).agent_id == "80003"


# --------------------------------------------------------------------------- rate limit


async def test_per_agent_limit_is_a_sliding_window(auth: Authenticator) -> None:
    for i in range(5):
        with pytest.raises(InvalidCredentials):
            await auth.login("80001", "guess", f"10.0.0.{i}", T0 + 10 * i)
    # the 6th attempt is refused before the password is looked at, even the right one
    with pytest.raises(RateLimited) as caught:
        await auth.login("80001", PASSWORD, "10.9.9.9", T0 + 60)
    assert caught.value.code == "rate_limited"
    assert caught.value.retry_after_s == pytest.approx(300 - 60)
    assert "try again in 240 s" in caught.value.message
    # the first failure (at T0) leaves the window at T0 + 300: one more attempt allowed
    with pytest.raises(RateLimited) as caught:
        await auth.login("80001", PASSWORD, "10.9.9.9", T0 + 299.9)
    assert caught.value.retry_after_s == pytest.approx(0.1)
    session = await auth.login("80001", PASSWORD, "10.9.9.9", T0 + 300)
    assert session.agent_id == "80001"


async def test_success_forgets_the_agents_failures(auth: Authenticator) -> None:
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            await auth.login("80001", "guess", "a", T0)
    await auth.login("80001", PASSWORD, "a", T0)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await auth.login("80001", "guess", "a", T0 + 1)
    with pytest.raises(RateLimited):
        await auth.login("80001", PASSWORD, "a", T0 + 1)


async def test_per_address_limit(auth: Authenticator) -> None:
    for i in range(20):
        with pytest.raises(InvalidCredentials):
            await auth.login(f"guess{i}", "guess", "203.0.113.7", T0 + i)
    with pytest.raises(RateLimited) as caught:
        await auth.login("80001", PASSWORD, "203.0.113.7", T0 + 30)
    assert caught.value.retry_after_s == pytest.approx(270)
    # another address is not affected, and neither is the agent
    assert (await auth.login("80001", PASSWORD, "198.51.100.1", T0 + 30)).agent_id == "80001"


async def test_successes_do_not_count_against_the_address(auth: Authenticator) -> None:
    for i in range(50):
        await auth.login("80001", PASSWORD, "10.0.0.1", T0 + i)


async def test_parallel_guesses_cannot_pass_the_limit(store: Store) -> None:
    checked = 0
    original = store.verify_password

    async def counting(agent_id: str, password: str) -> Agent | None:
        nonlocal checked
        checked += 1
        await asyncio.sleep(0.01)
        return await original(agent_id, password)

    store.verify_password = counting  # type: ignore[method-assign]
    auth = Authenticator(store)
    results = await asyncio.gather(
        *(auth.login("80001", f"guess{i}", "a", T0) for i in range(12)), return_exceptions=True
    )
    assert checked == 5
    assert sum(isinstance(r, InvalidCredentials) for r in results) == 5
    assert sum(isinstance(r, RateLimited) for r in results) == 7


async def test_confirm_password_uses_the_same_limits(auth: Authenticator) -> None:
    await auth.confirm_password("80001", PASSWORD, "a", T0)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await auth.confirm_password("80001", "guess", "a", T0)
    with pytest.raises(RateLimited):
        await auth.login("80001", PASSWORD, "a", T0)
    assert auth.session_count(T0) == 0  # confirming issues no token


async def test_custom_limits(store: Store) -> None:
    auth = Authenticator(store, limits=LoginLimits(per_agent=2, per_address=100, window_s=10))
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await auth.login("80001", "guess", "a", T0)
    with pytest.raises(RateLimited):
        await auth.login("80001", PASSWORD, "a", T0 + 9)
    await auth.login("80001", PASSWORD, "a", T0 + 10)


def test_sliding_window() -> None:
    window = SlidingWindow(limit=3, window_s=60, max_keys=4)
    for t in (0.0, 10.0, 20.0):
        assert window.retry_after("k", t) is None
        window.add("k", t)
    assert window.retry_after("k", 30.0) == pytest.approx(30.0)
    window.discard("k", 10.0)
    assert window.retry_after("k", 30.0) is None
    window.add("k", 30.0)
    assert window.retry_after("k", 59.0) == pytest.approx(1.0)
    assert window.retry_after("k", 60.0) is None  # the event at 0 has left the window
    window.clear("k")
    assert len(window) == 0
    for i in range(6):  # the memory is bounded: oldest keys go first
        window.add(f"key{i}", 100.0)
    assert len(window) == 4
    assert window.retry_after("key5", 100.0) is None
    window.add("old", 0.0)
    window.add("new", 1000.0)  # evicting drops expired keys before live ones
    assert len(window) <= 4
    with pytest.raises(ValueError):
        SlidingWindow(0, 1)


# --------------------------------------------------------------------------- logging


@pytest.mark.usefixtures("_restore_logging")
async def test_passwords_and_tokens_are_never_logged(auth: Authenticator, store: Store) -> None:
    out = io.StringIO()
    configure_logging("debug", "json", stream=out)
    session = await auth.login("80001", PASSWORD, "10.0.0.1", T0)
    with pytest.raises(InvalidCredentials):
        await auth.login("80001", PASSWORD + "x", "10.0.0.1", T0)
    await auth.confirm_password("80001", PASSWORD, "10.0.0.1", T0)
    await store.set_password("80001", "An0ther-Secret-Pw")
    auth.revoke_agent("80001")
    for _ in range(6):
        with pytest.raises((InvalidCredentials, RateLimited)):
            await auth.login("90001", PASSWORD[::-1], "10.0.0.1", T0)
    text = out.getvalue()
    assert "auth.login" in text and "auth.login_failed" in text and "auth.rate_limited" in text
    assert "store.password_set" in text
    for secret in (PASSWORD, PASSWORD + "x", PASSWORD[::-1], "An0ther-Secret-Pw", session.token):
        assert secret not in text
