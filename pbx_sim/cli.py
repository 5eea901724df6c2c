"""``hotline sim``: pbx_sim as a standalone AMI server.

Point any AMI client (panoramisk, asterisk-ami, the CTI) at it::

    hotline sim --ami-port 5038 --ami-user hotline --ami-secret s3cret --agents 8

It runs the Hotline dialplan (pbx_sim/dialplan/hotline.conf) with the trunk context ready,
``--agents`` simulated agent phones 8001... (registered, answering after
``--answer-delay`` s, hanging up after ``--handle-time`` s), one supervisor phone 9001,
extension 8000 free for a person, and optionally a FastAGI server for the IVR (``--agi``).
``--inbound-rate`` places simulated carrier calls (Poisson arrivals) so events flow at once.

The AMI secret can come from ``HOTLINE_SIM_SECRET``; it is never logged or printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .agi_client import FastAGIConnector
from .ami_server import AMIServer
from .config import hotline_config
from .phones import PhoneBehaviour
from .world import World

__all__ = ["SimHandle", "build_parser", "main", "start"]

log = logging.getLogger("pbx_sim")

SECRET_ENV = "HOTLINE_SIM_SECRET"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hotline sim",
        description="Run pbx_sim: a simulated Asterisk 22 speaking AMI, with agents and a trunk.",
    )
    p.add_argument("--ami-port", type=int, default=5038, help="AMI TCP port (0: any free port)")
    p.add_argument("--listen", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--ami-user", default="hotline", help="AMI user name")
    p.add_argument(
        "--ami-secret",
        default=None,
        help=f"AMI secret (default: ${SECRET_ENV}); never logged",
    )
    p.add_argument("--agents", type=int, default=4, help="simulated agent phones 8001... (4)")
    p.add_argument(
        "--supervisors", type=int, default=1, help="supervisor / dispatcher phones 9001... (1)"
    )
    p.add_argument(
        "--answer-delay",
        type=float,
        default=1.0,
        help="seconds an agent phone rings before answering; negative: never answers (1.0)",
    )
    p.add_argument(
        "--handle-time",
        type=float,
        default=None,
        help="seconds an agent talks before hanging up (default: until the caller hangs up)",
    )
    p.add_argument("--trunk-channels", type=int, default=30, help="E1 channels (30)")
    p.add_argument("--agi", default=None, metavar="HOST:PORT", help="the CTI's FastAGI server")
    p.add_argument(
        "--inbound-rate",
        type=float,
        default=0.0,
        metavar="CALLS_PER_S",
        help="place simulated carrier calls at this mean rate (0: none)",
    )
    p.add_argument("--did", default="5000", help="DID of the simulated carrier calls (5000)")
    p.add_argument(
        "--caller-patience",
        type=float,
        default=120.0,
        help="mean seconds a simulated caller stays before hanging up (120)",
    )
    p.add_argument("--spool-dir", default="var/spool/monitor", help="MixMonitor recordings")
    p.add_argument("--seed", type=int, default=None, help="random seed of the simulated callers")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return p


@dataclass
class SimHandle:
    """A running simulator (for tests and ``hotline demo``)."""

    world: World
    server: AMIServer
    agi: FastAGIConnector | None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.port

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self.agi is not None:
            await self.agi.close()
        await self.server.close()


async def start(args: argparse.Namespace) -> SimHandle:
    """Build the world and start serving AMI (returns once listening)."""
    secret = args.ami_secret if args.ami_secret is not None else os.environ.get(SECRET_ENV, "")
    if not secret:
        raise SystemExit(f"hotline sim: an AMI secret is required (--ami-secret or ${SECRET_ENV})")
    cfg = hotline_config(
        agents=args.agents,
        supervisors=args.supervisors,
        trunk_channels=args.trunk_channels,
        agi=args.agi,
        ami_user=args.ami_user,
        ami_secret=secret,
    )
    cfg.monitor_dir = args.spool_dir
    loop = asyncio.get_running_loop()
    world = World(cfg, now=loop.time(), epoch=_wall_clock())
    answer = None if args.answer_delay is not None and args.answer_delay < 0 else args.answer_delay
    agent = PhoneBehaviour(answer_delay=answer, handle_time=args.handle_time)
    for i in range(args.agents):
        world.phones.set(str(8001 + i), agent)
    for i in range(args.supervisors):
        world.phones.set(str(9001 + i), PhoneBehaviour(answer_delay=1.0))
    # Extension 8000 is left for a person: its phone is not registered by the simulator.
    world.unregister(world.now, "8000")
    server = AMIServer(world, host=args.listen, port=args.ami_port)
    await server.start()
    agi = FastAGIConnector(server.runner) if args.agi else None
    handle = SimHandle(world, server, agi)
    if args.inbound_rate > 0:
        rng = random.Random(args.seed)
        handle.tasks.append(
            asyncio.create_task(
                _callers(handle, rng, args.inbound_rate, args.did, args.caller_patience)
            )
        )
    log.info(
        "pbx_sim AMI on %s:%d (user %s), %d agents, %d trunk channels, FastAGI %s",
        args.listen,
        server.port,
        args.ami_user,
        args.agents,
        args.trunk_channels,
        args.agi or "off",
    )
    return handle


def _wall_clock() -> float:
    # The asyncio shell may read the clock; the world never does.
    return time.time()


async def _callers(
    handle: SimHandle, rng: random.Random, rate: float, did: str, patience: float
) -> None:
    """Poisson arrivals of carrier calls; each caller hangs up after an exponential time."""
    world = handle.world
    runner = handle.server.runner
    n = 0
    while True:
        await asyncio.sleep(rng.expovariate(rate))
        n += 1
        now = runner.now()
        call = world.trunk_call(now, did, f"02155{n % 100000:05d}", f"Caller {n}")
        runner.poke()
        if call.admitted:
            stay = rng.expovariate(1.0 / patience) if patience > 0 else 60.0
            world.call_at(now + stay, _hang_up, world, (call.channel, call.uniqueid))
            runner.poke()


def _hang_up(world: World, call: tuple[str, str]) -> None:
    """Timer: the simulated caller hangs up (if the call is still there)."""
    chan = world.channels.get(call[0])
    if chan is not None and chan.uniqueid == call[1]:
        world.remote_hangup(chan)


async def _serve(args: argparse.Namespace) -> int:
    handle = await start(args)
    print(
        f"pbx_sim AMI listening on {args.listen}:{handle.port} as {args.ami_user}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await handle.server.shutdown()
        await handle.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    args.spool_dir = str(Path(args.spool_dir).absolute())
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
