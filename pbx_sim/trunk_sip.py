"""``hotline trunk-sim --sip HOST:PORT``: the trunk load as real SIP calls.

Each caller is a SIP INVITE from the carrier account (``--sip-user``, default ``e1trunk``;
password from ``$HOTLINE_TRUNK_SIM_SIP_SECRET``) into the PBX's trunk endpoint, DID in
the Request-URI (``--did``), caller number in P-Asserted-Identity, placed by
:class:`pbx_sim.sip.TrunkCaller` in real time with Poisson arrivals. The PBX decides:
503 (a full E1: the dialplan's Congestion) counts as blocked; a 2xx as carried and
answered (in SIP terms: if the dialplan answers before queueing, ``asa_s`` is the time
to that answer, not to an agent's); a caller whose patience runs out before a 2xx
cancels and counts as abandoned. After a 2xx the caller stays for the holding time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from typing import Any, Final

from pbx_sim.sip import CallOutcome, SoftphoneError, Softphones, TrunkCaller
from pbx_sim.trunk_sim import real_time_report
from pbx_sim.workload import Callers

SECRET_ENV: Final = "HOTLINE_TRUNK_SIM_SIP_SECRET"
NO_PATIENCE_S: Final = 300.0  # how long an INVITE may ring when callers never give up


class SipTrunkSim:
    def __init__(self, args: argparse.Namespace, callers: Callers, trunk: TrunkCaller) -> None:
        self.args, self.callers, self.trunk = args, callers, trunk
        self.rng = random.Random(args.seed)
        self.counts = {"offered": 0, "carried": 0, "blocked": 0, "answered": 0, "abandoned": 0,
                       "failed": 0}  # fmt: skip
        self.live = 0
        self.max_concurrent = 0
        self.waits: list[float] = []
        self.codes: dict[str, int] = {}

    async def run(self, duration: float, show: bool) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + duration
        tasks: list[asyncio.Task[None]] = []
        n = 0
        while True:
            await asyncio.sleep(self.callers.interarrival(self.rng))
            if loop.time() >= end:
                break
            n += 1
            tasks.append(asyncio.create_task(self._call(f"0{500000000 + n}")))
            if show:
                c = self.counts
                line = (f"in progress {self.live}  offered {c['offered']}  answered "
                        f"{c['answered']}  blocked {c['blocked']}")  # fmt: skip
                print(f"\r\x1b[K{line}", end="", file=sys.stderr)
        await asyncio.gather(*tasks)
        if show:
            print(file=sys.stderr)

    async def _call(self, number: str) -> None:
        self.counts["offered"] += 1
        self.live += 1
        self.max_concurrent = max(self.max_concurrent, self.live)
        patience = self.callers.patience(self.rng)
        try:
            outcome: CallOutcome = await self.trunk.call(
                self.args.did, number, hold_s=self.callers.hold(self.rng),
                answer_timeout_s=patience if patience is not None else NO_PATIENCE_S,
            )  # fmt: skip
        except SoftphoneError as error:
            self.counts["failed"] += 1
            self.codes[str(error)[:60]] = self.codes.get(str(error)[:60], 0) + 1
            return
        finally:
            self.live -= 1
        self.codes[str(outcome.code)] = self.codes.get(str(outcome.code), 0) + 1
        if outcome.answered:
            self.counts["carried"] += 1
            self.counts["answered"] += 1
            self.waits.append(outcome.answer_s or 0.0)
        elif outcome.result == "congestion":
            self.counts["blocked"] += 1
        elif outcome.result == "no_answer" and outcome.code == 487:
            self.counts["abandoned"] += 1
        else:
            self.counts["failed"] += 1


async def _run(args: argparse.Namespace, secret: str, show: bool) -> dict[str, Any]:
    host, _, port = args.sip.rpartition(":")
    callers = Callers(rate=args.rate, hold_s=args.hold, holding=args.holding,
                      patience_s=args.patience or None, numbers=((args.did, 1.0),))  # fmt: skip
    started = time.monotonic()
    async with Softphones(host=host or "127.0.0.1", port=int(port)) as phones:
        trunk = await phones.trunk(args.sip_user, secret)
        await trunk.prepare(args.channels + 2)
        sim = SipTrunkSim(args, callers, trunk)
        await sim.run(args.duration, show)
        problems = list(phones.errors)
    return real_time_report(
        args, callers, sim.counts, sim.max_concurrent, sim.waits, time.monotonic() - started,
        queued_fraction=None,  # not visible in SIP
        sip_codes=sim.codes,
        problems=problems,
    )  # fmt: skip


def over_sip(args: argparse.Namespace, show: bool) -> dict[str, Any] | int:
    """The report, or an exit status after printing why it cannot run."""
    if args.embedded or args.speedup or args.ami:
        print("hotline trunk-sim: --sip runs in real time (no --embedded, --speedup, --ami)",
              file=sys.stderr)  # fmt: skip
        return 2
    if not args.sip.rpartition(":")[2].isdigit():
        print(f"hotline trunk-sim: --sip: expected HOST:PORT, got {args.sip!r}", file=sys.stderr)
        return 2
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        print(f"hotline trunk-sim: --sip needs the carrier's password in ${SECRET_ENV}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        return asyncio.run(_run(args, secret, show))
    except SoftphoneError as error:
        print(f"hotline trunk-sim: {error}", file=sys.stderr)
        return 1
