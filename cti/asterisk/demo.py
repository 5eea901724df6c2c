"""``hotline demo --pbx asterisk``: the demo call center on a real Asterisk 22.

The same demo as on pbx_sim (same configuration, accounts, WebSocket contract and
summary), with real parts: Asterisk runs the configuration generated from the demo's
(:mod:`cti.asterisk.genconf`); agents 80001–80012 are pjsua2 softphones registered with
the generated passwords that answer, talk and hang up (:class:`pbx_sim.sip.AgentPolicy`)
while their desks are WebSocket clients that go ready and wrap up; callers are SIP INVITEs
from the carrier's trunk endpoint.

Isolation (docs/asterisk.md, DESIGN.md §2): the HTTP listening socket is made first, in
the host's network namespace, where the browser is; then Asterisk starts in a private
network namespace of its own (only ``lo``) and the main thread joins it, so AMI, the
softphones (worker processes inherit the namespace) and everything else made afterwards
live beside Asterisk behind loopback. Nothing of Asterisk listens in the host's namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from cti.asterisk.instance import Ports
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import Install, ensure_install, require_root
from cti.asterisk.stack import GeneratedAsterisk, start_generated
from cti.center.server import Endpoint, HotlineServer
from cti.config import Config, demo_config
from cti.demo import (
    DEMO_SECRET_BYTES,
    PERSON_AGENT,
    AgentBot,
    Tally,
    run_until_stopped,
    simulated_text,
)
from cti.store import Store
from pbx_sim.sip import AgentPolicy, PhoneCall, Softphones, TrunkCaller

#: ports inside Asterisk's private namespace (nothing else is there)
PORTS: Final = Ports(ami=5038, sip=5060)
#: MixMonitor's directory inside the chroot (recording.pbx_dir, docs/recording.md)
PBX_RECORDINGS: Final = "/var/spool/asterisk/monitor/hotline"
DESKS_TIMEOUT_S: Final = 20.0


class SipCallers:
    """Customers on the carrier trunk: Poisson arrivals of SIP INVITEs, each caller waits
    at most their patience for an agent, then hangs up; once an agent answered, the
    agent's phone ends the call after its handle time."""

    def __init__(self, trunk: TrunkCaller, server: HotlineServer, args: argparse.Namespace):
        self.trunk, self.server, self.args = trunk, server, args
        self.rng = random.Random(args.seed)
        self.tally = Tally()
        self.numbers = list(server.config.trunks[0].routes) if server.config.trunks else ["4000"]
        self._by_number: dict[str, PhoneCall] = {}
        self._answered: set[str] = set()  # caller numbers an agent answered
        self._call_number: dict[str, str] = {}  # Hotline call id -> caller number
        self._tasks: set[asyncio.Task[Any]] = set()
        server.bus.set_topics(server.bus.subscribe(self._on_event, None), {"calls", "trunks"})

    def _on_event(self, frame: bytes, _urgency: int) -> None:
        event = json.loads(frame)
        name, data = event["event"], event["data"]
        self.tally.events[name] += 1
        if name == "call.queued":
            self._call_number[data["call_id"]] = data.get("caller") or ""
        elif name == "call.answered":
            self._answered.add(self._call_number.get(data["call_id"], ""))
        elif name == "call.blocked":
            self.tally.blocked += 1

    async def run(self) -> None:
        rate = self.args.rate / 60.0
        n = 0
        while True:
            await asyncio.sleep(self.rng.expovariate(rate))
            n += 1
            number = f"021555{n % 10000:04d}"
            patience = self.rng.expovariate(1.0 / self.args.patience)
            task = asyncio.create_task(self._one(self.rng.choice(self.numbers), number, patience))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _one(self, did: str, number: str, patience: float) -> None:
        self.tally.offered += 1
        call = await self.trunk.place(did, number, caller_name=f"Caller {number[-4:]}")
        with contextlib.suppress(TimeoutError):
            await call.wait_ended(patience)
        if not call.ended and number not in self._answered:
            await self.trunk.phone.hangup(call)  # gave up waiting
        await call.wait_ended(None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def with_recordings(config: Config, install: Install, var: Path) -> tuple[Config, dict[str, Path]]:
    """The demo keeps its recordings in ``var/recordings``, as on pbx_sim, where the
    server indexes and serves them. A chroot's Asterisk sees that directory as
    :data:`PBX_RECORDINGS` (a bind mount in its private mount namespace, so MixMonitor's
    files are the very files Hotline reads); the host's own Asterisk writes there directly.
    Returns the configuration and the chroot shares."""
    recordings = (var / "recordings").absolute()
    recordings.mkdir(parents=True, exist_ok=True)
    store = replace(config.store, recordings_dir=recordings)
    if install.kind != "chroot":
        return replace(config, store=store), {}
    recording = replace(config.recording, pbx_dir=PBX_RECORDINGS)
    return replace(config, store=store, recording=recording), {PBX_RECORDINGS: recordings}


def _start_isolated(config: Config, var: Path) -> tuple[GeneratedAsterisk, PrivateNetns, Config]:
    """Asterisk in a private network namespace with the generated configuration; the
    calling (main) thread joins that namespace. Returns the configuration with the
    recordings mapped (:func:`with_recordings`)."""
    require_root("hotline demo --pbx asterisk")
    install = ensure_install()
    config, shares = with_recordings(config, install, var)
    stack = start_generated(install, config, var / "asterisk", ports=PORTS,
                            netns="private", shares=shares)  # fmt: skip
    assert stack.instance.pid is not None
    return stack, PrivateNetns.join(stack.instance.pid), config


async def run_demo(args: argparse.Namespace, http_sock: socket.socket) -> dict[str, Any]:
    password = args.demo_password or secrets.token_urlsafe(DEMO_SECRET_BYTES)
    config = demo_config(ami_secret=secrets.token_urlsafe(DEMO_SECRET_BYTES))
    var = Path(args.var)
    stack, netns, config = _start_isolated(config, var)
    simulated = [
        a for a in config.agents if a.role == "agent" and a.agent_id != PERSON_AGENT and a.extension
    ]
    if args.agents is not None:
        simulated = simulated[: args.agents]
    store = await Store.open(var / "hotline.db")
    await store.seed_from_config(config, password, reset_passwords=True)
    server = HotlineServer(config, store, ami=Endpoint("127.0.0.1", PORTS.ami),
                           http=Endpoint(config.server.listen, args.http_port))  # fmt: skip
    server.http_sock = http_sock
    phones = Softphones(port=PORTS.sip)
    tasks: list[asyncio.Task[Any]] = []
    callers: SipCallers | None = None
    try:
        await server.start()
        await server.link.wait_up(15)
        await phones.start()
        policy = AgentPolicy(answer_delay_s=args.answer_delay, handle_time_s=args.hold,
                             spread=0.5, seed=args.seed)  # fmt: skip
        for agent in simulated:
            assert agent.extension is not None
            await phones.register(agent.extension, stack.passwords[agent.extension],
                                  policy=policy, display_name=agent.name)  # fmt: skip
        trunk = await phones.trunk("e1trunk", stack.passwords["e1trunk"])
        base = f"http://{config.server.listen}:{server.http_port}"
        if not args.json:
            print(
                f"Hotline demo on Asterisk {stack.instance.status().describe()}\n"
                f"(Ctrl-C stops).\n"
                f"  web console   {base}/\n"
                f"  WebSocket     ws://{config.server.listen}:{server.http_port}/ws\n"
                f"  REST          {base}/api\n"
                f"  Asterisk      isolated network namespace (hotline asterisk --state-dir "
                f"{var / 'asterisk' / 'state'} rx CMD); configuration in "
                f"{stack.config_dir}\n"
                f"Accounts, all with password {password}:\n"
                f"  {simulated_text(simulated)} (pjsua2 softphones and WebSocket desks);\n"
                f"  agent 80000 (extension 8000) is yours; supervisor 90001 (extension 9001).",
                flush=True,
            )
        url = f"ws://127.0.0.1:{server.http_port}/ws"
        # The desks reach HTTP where the browser does: their sockets must be made while
        # the main thread is back in the host's namespace, so wait there until every desk
        # has logged in (nothing else makes sockets meanwhile: no calls yet).
        with netns.outside():
            for i, agent in enumerate(simulated):
                assert agent.extension is not None
                bot = AgentBot(url, agent.agent_id, agent.extension, password, args.seed + i)
                tasks.append(asyncio.create_task(bot.run()))
            async with asyncio.timeout(DESKS_TIMEOUT_S):
                # polled: the server's desks have no event of their own; 20 s at most, once
                while len(server.center.desks) < len(simulated):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        callers = SipCallers(trunk, server, args)
        tasks.append(asyncio.create_task(callers.run()))
        result = await run_until_stopped(server, callers.tally, args)
        result["pbx"] = "asterisk"
        result["softphone_errors"] = len(phones.errors)
        return result
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if callers is not None:
            await callers.close()
        await phones.close()
        await server.stop()
        await store.close()
        stack.stop()
        netns.restore()
