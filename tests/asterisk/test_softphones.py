"""pjsua2 softphones (pbx_sim.sip) against a real Asterisk 22: agents register, carrier
calls come in through the trunk endpoint, ring the agent's phone, are answered, held and
hung up; the E1 rejects call 31 with 503; the load carrier holds 64 calls at once."""

from __future__ import annotations

import asyncio

import pytest

from cti.asterisk.instance import AsteriskInstance
from pbx_sim.sip import AgentPolicy, RegistrationError, SoftphoneError, Softphones

from . import softphone_lab
from .softphone_lab import TRUNK_PASSWORD, TRUNK_USER, Ami, agent_password, answered

pytestmark = pytest.mark.asterisk

# The fixtures of softphone_lab, used by name below.
sip_asterisk_module = softphone_lab.sip_asterisk_module
sip_asterisk = softphone_lab.sip_asterisk
ami = softphone_lab.ami
phones = softphone_lab.phones


async def test_agents_register_and_a_wrong_password_is_refused(
    phones: Softphones, sip_asterisk: AsteriskInstance
) -> None:
    agents = [await phones.register(str(n), agent_password(str(n))) for n in range(8001, 8005)]
    assert [a.extension for a in agents] == ["8001", "8002", "8003", "8004"]
    contacts = sip_asterisk.rx("pjsip show contacts")
    for agent in agents:
        ext = agent.extension
        assert f"{ext}/sip:{ext}@127.0.0.1:{agent.local_port}" in contacts, contacts
    with pytest.raises(RegistrationError) as refused:
        await phones.register("8005", "not-the-password")
    assert refused.value.code in (401, 403)
    assert "8005" not in phones.phones


async def test_carrier_call_rings_the_agent_who_answers_and_hangs_up(
    phones: Softphones, ami: Ami
) -> None:
    agent = await phones.register("8001", agent_password("8001"))
    trunk = await phones.trunk(TRUNK_USER, TRUNK_PASSWORD)
    placing = asyncio.create_task(
        trunk.call("7001", "13800138000", caller_name="张三 (客户)", hold_s=30)
    )
    call = await agent.wait_ringing(10)
    assert call.caller == "13800138000"
    assert call.remote_name == "张三 (客户)"
    assert call.sip_call_id
    ringing = await agent.events.get()
    assert (ringing.kind, ringing.call) == ("ringing", call)
    # Asterisk saw the same caller on the trunk channel, Chinese name intact.
    trunk_channel = await ami.wait_for(
        lambda e: e.event == "Newchannel" and e["Channel"].startswith("PJSIP/e1trunk-")
    )
    assert trunk_channel["CallerIDNum"] == "13800138000"
    assert trunk_channel["CallerIDName"] == "张三 (客户)"
    await ami.wait_for(
        lambda e: e.event == "Newstate"
        and e["Channel"].startswith("PJSIP/8001-")
        and e["ChannelStateDesc"] == "Ringing"
    )

    await agent.answer(call)
    assert call.state == "connected"
    assert (await agent.events.get()).kind == "answered"
    await ami.wait_for(
        lambda e: e.event == "BridgeEnter" and e["Channel"].startswith("PJSIP/8001-")
    )
    await asyncio.sleep(0.3)
    await agent.hangup(call)
    assert call.ended_by == "local"
    hung_up = await agent.events.get()
    assert hung_up.kind == "hung_up"

    outcome = await asyncio.wait_for(placing, 10)
    assert outcome.result == "answered"
    assert outcome.code == 200
    assert outcome.ended_by == "remote"  # the agent hung up, the PBX sent the caller a BYE
    assert outcome.answer_s is not None and outcome.talk_s > 0.2
    hangup = await ami.wait_for(
        lambda e: e.event == "Hangup" and e["Channel"].startswith("PJSIP/e1trunk-")
    )
    assert hangup["Cause"] == "16"


async def test_unanswered_call_is_cancelled_and_the_reason_reported(
    phones: Softphones,
) -> None:
    agent = await phones.register("8002", agent_password("8002"))
    trunk = await phones.trunk(TRUNK_USER, TRUNK_PASSWORD)
    placing = asyncio.create_task(trunk.call("7002", "02150001234", answer_timeout_s=1.5))
    call = await agent.wait_ringing(10)
    outcome = await asyncio.wait_for(placing, 10)
    assert outcome.result == "no_answer"
    assert outcome.code == 487  # our CANCEL: Request Terminated
    await call.wait_ended(5)
    assert call.ended_by == "remote"
    assert call.code == 487


async def test_agent_declines_busy_and_the_carrier_hears_it(phones: Softphones) -> None:
    agent = await phones.register("8003", agent_password("8003"))
    trunk = await phones.trunk(TRUNK_USER, TRUNK_PASSWORD)
    placing = asyncio.create_task(trunk.call("7003", "13900000003"))
    call = await agent.wait_ringing(10)
    await agent.hangup(call, code=486)
    outcome = await asyncio.wait_for(placing, 10)
    # Dial() ends with DIALSTATUS=BUSY; the dialplan then hangs up the trunk channel.
    assert outcome.result in ("busy", "failed", "rejected"), outcome
    assert outcome.code >= 400


async def test_hold_and_unhold_show_in_ami(phones: Softphones, ami: Ami) -> None:
    agent = await phones.register("8004", agent_password("8004"))
    trunk = await phones.trunk(TRUNK_USER, TRUNK_PASSWORD)
    placing = asyncio.create_task(trunk.call("7004", "13700000004", hold_s=30))
    call = await agent.wait_ringing(10)
    await agent.answer(call)
    await agent.hold(call)
    assert call.held and call.state == "held"
    hold = await ami.wait_for(lambda e: e.event == "Hold")
    assert hold["Channel"].startswith("PJSIP/8004-")
    await agent.unhold(call)
    assert not call.held and call.state == "connected"
    unhold = await ami.wait_for(lambda e: e.event == "Unhold")
    assert unhold["Channel"] == hold["Channel"]
    kinds = []
    while not agent.events.empty():
        kinds.append(agent.events.get_nowait().kind)
    assert kinds == ["ringing", "answered", "held", "unheld"]
    await agent.hangup(call)
    assert (await asyncio.wait_for(placing, 10)).answered


async def test_pbx_hangup_cause_reaches_the_phone(phones: Softphones) -> None:
    agent = await phones.register("8005", agent_password("8005"))
    call = await agent.dial("8999")
    await call.wait_connected(10)
    await call.wait_ended(10)
    assert call.ended_by == "remote"
    assert call.remote_number == "8999"


async def test_agent_calls_agent(phones: Softphones) -> None:
    a = await phones.register("8006", agent_password("8006"))
    b = await phones.register("8007", agent_password("8007"))
    outgoing = await a.dial("8007")
    incoming = await b.wait_ringing(10)
    assert incoming.caller == "8006"
    assert incoming.remote_name == "Agent 8006"
    await b.answer()
    await outgoing.wait_connected(5)
    await a.hangup(outgoing)
    await incoming.wait_ended(5)
    assert incoming.ended_by == "remote"
    with pytest.raises(SoftphoneError):
        await a.hangup()  # nothing left to hang up


async def test_automatic_agents_follow_their_policy(phones: Softphones) -> None:
    policy = AgentPolicy(answer_delay_s=0.2, handle_time_s=0.5, seed=1)
    agent = await phones.register("8008", agent_password("8008"), policy=policy)
    trunk = await phones.trunk(TRUNK_USER, TRUNK_PASSWORD)
    outcomes = [await trunk.call("7008", f"1360000000{i}", hold_s=30) for i in range(3)]
    assert [o.result for o in outcomes] == ["answered"] * 3
    assert all(o.ended_by == "remote" for o in outcomes)  # the agent hung up
    assert all(0.15 < (o.answer_s or 0) < 2.0 for o in outcomes), outcomes
    assert all(0.4 < o.talk_s < 2.0 for o in outcomes), outcomes
    assert (agent.stats.rang, agent.stats.answered, agent.stats.hung_up_by_agent) == (3, 3, 3)


async def test_no_answer_policy_lets_calls_ring_out(phones: Softphones) -> None:
    policy = AgentPolicy(no_answer_rate=1.0, seed=2)
    agent = await phones.register("8001", agent_password("8001"), policy=policy)
    trunk = await phones.trunk(TRUNK_USER, TRUNK_PASSWORD)
    outcome = await trunk.call("7001", "13600000009", answer_timeout_s=2)
    assert outcome.result == "no_answer"
    assert (agent.stats.rang, agent.stats.ignored, agent.stats.answered) == (1, 1, 0)


async def test_the_31st_call_on_a_full_e1_gets_503(phones: Softphones, ami: Ami) -> None:
    trunk = await phones.trunk(TRUNK_USER, TRUNK_PASSWORD)
    await trunk.prepare(31)
    first = [
        asyncio.create_task(trunk.call("5999", f"1380000{i:04d}", hold_s=60)) for i in range(30)
    ]
    await answered(trunk.phone, 30, within=20)
    extra = await trunk.call("5999", "13811112222", caller_name="第三十一")
    assert extra.result == "congestion"
    assert extra.code == 503
    assert all(not task.done() for task in first)  # the 30 are still talking
    for call in list(trunk.phone.calls.values()):
        await trunk.phone.hangup(call)
    outcomes = await asyncio.gather(*first)
    assert [o.result for o in outcomes] == ["answered"] * 30


async def test_load_carrier_holds_64_calls_at_once(
    phones: Softphones, sip_asterisk: AsteriskInstance
) -> None:
    trunk = await phones.trunk("bigtrunk", "BigtrunkPw")
    await trunk.prepare(64)
    assert len(phones.pool.workers) >= 17  # 4 calls per pjsua2 process
    tasks = [
        asyncio.create_task(trunk.call("6000", f"1390000{i:04d}", caller_name="负载", hold_s=6))
        for i in range(64)
    ]
    await answered(trunk.phone, 64, within=30)
    assert sum(1 for c in trunk.phone.calls.values() if c.connected) == 64
    channels = sip_asterisk.rx("core show channels count")
    assert "64 active calls" in channels or "64 active channels" in channels, channels
    outcomes = await asyncio.gather(*tasks)
    assert [o.result for o in outcomes] == ["answered"] * 64
    assert all(o.ended_by == "local" for o in outcomes)
