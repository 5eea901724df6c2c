"""``hotline trunk-sim --ami HOST:PORT``: the same load on a real PBX (or pbx_sim) over AMI.

Each caller is an AMI ``Originate`` of ``Local/<DID>@from-trunk`` (the trunk context of
the Hotline dialplan, with its channel limit), in real time. The PBX decides: a call
over the limit is rejected by the dialplan (counted as blocked); an admitted call waits
for an agent if a Hotline server routes calls on that PBX (``--agents`` says how many
are logged in, for the Erlang C figures), or holds its channel when there are none. The
simulator hangs each call up after its holding time (from the agent's answer, or from
admission without agents), or after the caller's patience while still waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import Any, Final

from cti.ami.codec import Message
from cti.calls.model import CallModel
from cti.link import AMILink, LinkError
from pbx_sim.workload import Callers

SECRET_ENV: Final = "HOTLINE_TRUNK_SIM_SECRET"
FAR_FUTURE_S: Final = 86_400  # the Local channel waits; the simulator decides when to leave


@dataclass
class Caller:
    number: str
    arrived: float
    channel: str | None = None  # the Local ;1 side we hang up
    answered: float | None = None
    done: bool = False


class AmiTrunkSim:
    def __init__(self, args: argparse.Namespace, callers: Callers) -> None:
        self.args, self.callers = args, callers
        self.rng = random.Random(args.seed)
        host, _, port = args.ami.rpartition(":")
        secret = args.ami_secret or os.environ.get(SECRET_ENV, "")
        if not secret:
            raise SystemExit(f"hotline trunk-sim: --ami needs --ami-secret or ${SECRET_ENV}")
        self.link = AMILink(host or "127.0.0.1", int(port), args.ami_user, secret,
                            model=CallModel(trunk_devices=("PJSIP/e1trunk",)))  # fmt: skip
        self.link.register_event("DialEnd", self._dial_end)
        self.link.register_event("Hangup", self._hangup)
        self.by_number: dict[str, Caller] = {}
        self.counts = {"offered": 0, "carried": 0, "blocked": 0, "answered": 0, "abandoned": 0}
        self.live = 0
        self.max_concurrent = 0
        self.waits: list[float] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, duration: float, show: bool) -> None:
        await self.link.start()
        await self.link.wait_up(15)
        loop = asyncio.get_running_loop()
        end = loop.time() + duration
        n = 0
        while True:
            await asyncio.sleep(self.callers.interarrival(self.rng))
            if loop.time() >= end:
                break
            n += 1
            self._spawn(self._call(f"0{500000000 + n}"))
            if show:
                c = self.counts
                line = f"in progress {self.live}  offered {c['offered']}  blocked {c['blocked']}"
                print(f"\r\x1b[K{line}", end="", file=sys.stderr)
        await asyncio.sleep(1.0)
        for caller in list(self.by_number.values()):
            await self._leave(caller)
        await asyncio.sleep(0.5)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.link.close()

    async def _call(self, number: str) -> None:
        now = time.monotonic()
        caller = Caller(number, now)
        self.by_number[number] = caller
        self.counts["offered"] += 1
        headers = {
            "Channel": f"Local/{self.callers.number(self.rng)}@from-trunk",
            "Application": "Wait",
            "Data": str(FAR_FUTURE_S),
            "CallerID": f'"Trunk Sim" <{number}>',
        }
        try:
            response = await self.link.originate(headers, timeout_s=30)
        except LinkError:
            self.counts["blocked"] += 1
            self.by_number.pop(number, None)
            return
        if response.get("Response") != "Success":
            self.counts["blocked"] += 1  # the trunk context refused it (cause 34)
            self.by_number.pop(number, None)
            return
        self.counts["carried"] += 1
        self.live += 1
        self.max_concurrent = max(self.max_concurrent, self.live)
        caller.channel = response.get("Channel")
        if self.args.agents == 0:
            caller.answered = time.monotonic()
            self.counts["answered"] += 1
            self.waits.append(0.0)
            await asyncio.sleep(self.callers.hold(self.rng))
            await self._leave(caller)
            return
        patience = self.callers.patience(self.rng)
        if patience is not None:
            await asyncio.sleep(patience)
            if caller.answered is None and not caller.done:
                self.counts["abandoned"] += 1
                await self._leave(caller)

    def _dial_end(self, link: AMILink, msg: Message) -> None:
        caller = self.by_number.get(msg.get("CallerIDNum") or "")
        if caller is None or caller.answered is not None or msg.get("DialStatus") != "ANSWER":
            return
        caller.answered = time.monotonic()
        self.counts["answered"] += 1
        self.waits.append(caller.answered - caller.arrived)
        self._spawn(self._talk(caller))

    async def _talk(self, caller: Caller) -> None:
        await asyncio.sleep(self.callers.hold(self.rng))
        await self._leave(caller)

    def _hangup(self, link: AMILink, msg: Message) -> None:
        caller = self.by_number.get(msg.get("CallerIDNum") or "")
        if caller is not None and caller.channel and msg.get("Channel") == caller.channel:
            self._gone(caller)

    def _gone(self, caller: Caller) -> None:
        if not caller.done:
            caller.done = True
            self.live -= 1
            self.by_number.pop(caller.number, None)

    async def _leave(self, caller: Caller) -> None:
        if caller.done or caller.channel is None:
            return
        with contextlib.suppress(LinkError):
            await self.link.send_action("Hangup", {"Channel": caller.channel}, check=False)
        self._gone(caller)
