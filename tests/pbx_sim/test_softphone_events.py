"""How a Phone turns SIP updates into calls and events (no pjsua2 process: the updates
are fed in directly, as the worker pool would)."""

from __future__ import annotations

import asyncio

import pytest

from pbx_sim.sip import AgentPolicy, Phone, Softphones
from pbx_sim.sip.engine import CallUpdate, RegUpdate
from pbx_sim.sip.sipmsg import Party

CALLER = Party("张三", "13800138000", "sip:13800138000@127.0.0.1")


def update(state: str, *, call: int = 7, code: int = 200, **extra: object) -> CallUpdate:
    return CallUpdate(
        account=1, call=call, state=state, sip_call_id=f"cid-{call}", remote=CALLER,
        code=code, reason="x", **extra,
    )  # fmt: skip


def phone() -> Phone:
    return Phone(Softphones(port=5060), "8001", registered=False, display_name="")


def kinds(p: Phone) -> list[str]:
    found = []
    while not p.events.empty():
        found.append(p.events.get_nowait().kind)
    return found


async def test_incoming_call_life() -> None:
    p = phone()
    p._on_update(update("incoming", code=180))
    call = await p.wait_ringing(1)
    assert (call.caller, call.remote_name, call.sip_call_id) == ("13800138000", "张三", "cid-7")
    assert call.direction == "in" and call.state == "ringing"
    p._on_update(update("connecting"))
    p._on_update(update("confirmed"))
    await call.wait_connected(1)
    p._on_update(update("media_hold"))
    assert call.held and call.state == "held"
    p._on_update(update("media_active"))
    assert not call.held and call.state == "connected"
    p._on_update(update("disconnected", q850_cause=16, ended_by="remote"))
    await call.wait_ended(1)
    assert (call.state, call.ended_by, call.q850_cause) == ("ended", "remote", 16)
    assert p.calls == {}
    assert kinds(p) == ["ringing", "answered", "held", "unheld", "hung_up"]


async def test_wait_ringing_skips_calls_that_ended_unanswered() -> None:
    p = phone()
    p._on_update(update("incoming", call=1))
    p._on_update(update("disconnected", call=1, code=487, ended_by="remote"))
    p._on_update(update("incoming", call=2))
    assert (await p.wait_ringing(1)).key == 2
    with pytest.raises(TimeoutError):
        await p.wait_ringing(0.05)


async def test_wait_ringing_wakes_on_a_later_call() -> None:
    p = phone()
    waiting = asyncio.create_task(p.wait_ringing(1))
    await asyncio.sleep(0)
    p._on_update(update("incoming", call=3))
    assert (await waiting).key == 3


async def test_unanswered_outgoing_call_raises_on_wait_connected() -> None:
    p = phone()
    p._on_update(update("calling", code=0))
    call = p.calls[7]
    assert call.direction == "out" and call.state == "dialing"
    p._on_update(update("disconnected", code=486, ended_by="remote"))
    with pytest.raises(Exception, match="486"):
        await call.wait_connected(1)
    assert kinds(p) == ["dialing", "hung_up"]


async def test_registration_state_follows_register_results() -> None:
    p = phone()
    p._on_update(RegUpdate(account=1, code=200, reason="OK", expires=300))
    assert p.registered
    p._on_update(RegUpdate(account=1, code=401, reason="Unauthorized", expires=0))
    assert not p.registered


def test_events_are_bounded_keeping_the_newest() -> None:
    p = phone()
    for n in range(1005):
        p._on_update(update("incoming", call=n))
    assert p.events.qsize() == 1000
    assert p.events.get_nowait().call.key == 5


@pytest.mark.parametrize(
    "bad",
    [
        {"answer_delay_s": -1},
        {"no_answer_rate": 1.5},
        {"hold_rate": -0.1},
        {"spread": 1.0},
    ],
)
def test_agent_policy_rejects_bad_values(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AgentPolicy(**bad)
