"""``hotline bench ivr``: callers inside IVR flows on pbx_sim, AGI round trips measured
in the FastAGI server.

The FastAGI server runs in its own process (as in production, beside the PBX): Hotline's
(:mod:`ivr.server`) or, for the baseline, panoramisk's ``fast_agi.Application`` running the
very same flows (:mod:`ivr.engine`), so that only the protocol layer differs. pbx_sim
runs in this process: ``--callers`` callers are kept inside the demo IVR at all times
(each one that reaches the queue is hung up and replaced), pressing keys as a person
would: main menu 1, fault menu 1, an account number, then the queue.

Measured in the server, per command, from writing the command to reading its reply:

* ``plain``: commands that play nothing (SET VARIABLE): the protocol's round trip through
  the PBX and back, the figure the 5 ms target is about;
* ``media``: GET DATA / STREAM FILE, which last as long as the prompt plays and the caller
  takes to press a key (reported for completeness, not a latency);
* concurrency: sessions open in the server, sampled every 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import uvloop
from panoramisk.fast_agi import Application, Request

from cti.bench.stats import percentile, progress_line
from cti.config import demo_config
from cti.heap import keep_heap_settled, settle_heap
from cti.logging import configure_logging
from ivr.agi import AgiEnvironment, AgiReply
from ivr.engine import Caller, Outcome, run_flow
from ivr.server import IvrServer
from ivr.sim import connect_sim
from pbx_sim.cli import build_parser
from pbx_sim.cli import start as start_sim

__all__ = ["main"]

SECRET: Final = "bench-ivr"
PLAIN: Final = ("SET", "ANSWER", "NOOP", "GET VARIABLE", "VERBOSE", "HANGUP")
#: The keys a bench caller presses, with the seconds it waits before each.
SCRIPT: Final = (("1", 0.3), ("1", 0.6), ("12345#", 0.6))


# --------------------------------------------------------------------------- the server


class _Measured:
    """Round trips by kind and open sessions, as the server sees them."""

    def __init__(self) -> None:
        self.plain: list[float] = []
        self.media: list[float] = []
        self.open = 0
        self.samples: list[int] = []
        self.outcomes = 0

    def add(self, line: str, seconds: float) -> None:
        (self.plain if line.startswith(PLAIN) else self.media).append(seconds)


async def _serve(kind: str) -> None:
    """The child process: serve FastAGI until stdin closes, then print the figures."""
    config = demo_config(ami_secret=SECRET, ivr=True)
    assert config.ivr is not None
    ivr = config.ivr
    measured = _Measured()
    loop = asyncio.get_running_loop()
    now = dt.datetime.now(dt.UTC)

    def outcome(env: AgiEnvironment, result: Outcome) -> None:
        measured.outcomes += 1

    if kind == "hotline":
        server = IvrServer(ivr, on_outcome=outcome)
        await server.start("127.0.0.1", 0)
        port = server.port
        session_count: Callable[[], int] = lambda: server.sessions  # noqa: E731
    else:

        async def incoming(request: Request) -> None:
            measured.open += 1
            try:
                did = request.headers.get("agi_arg_1")
                flow = run_flow(ivr, Caller(request.headers.get("agi_callerid", ""), did), now)
                line = next(flow)
                while True:
                    started = time.perf_counter()
                    raw = await request.send_command(line)
                    measured.add(line, time.perf_counter() - started)
                    line = flow.send(_from_panoramisk(raw))
            except StopIteration:
                measured.outcomes += 1
            finally:
                measured.open -= 1

        app = Application(loop=loop)
        app.add_route("incoming", incoming)
        srv = await asyncio.start_server(app.handler, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        session_count = lambda: measured.open  # noqa: E731

    async def sample() -> None:
        while True:
            await asyncio.sleep(0.1)
            measured.samples.append(session_count())

    sampler = loop.create_task(sample())
    settle_heap()  # as `hotline serve` does once it is up
    keeper = loop.create_task(keep_heap_settled())
    print(f"PORT {port}", flush=True)
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.readline()
    sampler.cancel()
    keeper.cancel()
    if kind == "hotline":
        for line_kind, seconds in server.timed_commands:
            measured.add(line_kind, seconds)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "plain": measured.plain,
                "media": measured.media,
                "samples": measured.samples,
                "outcomes": measured.outcomes,
                "cpu_s": usage.ru_utime + usage.ru_stime,
            }
        ),
        flush=True,
    )


def _from_panoramisk(raw: dict[str, Any]) -> AgiReply:
    if raw.get("error") in ("AGIResultHangup", "AGIAppError"):
        return AgiReply(200, "-1")
    value, data = raw.get("result", ("", ""))
    return AgiReply(int(raw.get("status_code", 0)), value, data or None)


# --------------------------------------------------------------------------- the callers


@dataclass
class _Run:
    kind: str
    finished: int = 0
    placed: int = 0
    blocked: int = 0
    wall_s: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)


async def _one_run(kind: str, args: argparse.Namespace, progress: Callable[[str], None]) -> _Run:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cti.bench.ivr", "--serve", kind,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        limit=1 << 26,  # the figures come back as one JSON line
    )  # fmt: skip
    assert child.stdout is not None and child.stdin is not None
    line = (await child.stdout.readline()).decode()
    if not line.startswith("PORT "):
        raise SystemExit(f"hotline bench ivr: the {kind} server did not start")
    port = int(line.split()[1])
    sim_args = build_parser().parse_args(
        ["--ami-port", "0", "--ami-secret", SECRET, "--agents", "1",
         "--trunk-channels", str(args.callers * 3)]
    )  # fmt: skip
    sim = await start_sim(sim_args)
    connect_sim(sim, "127.0.0.1", port)
    world, runner = sim.world, sim.server.runner
    settle_heap()  # the simulated PBX's own collector pauses are not the server's latency
    keeper = asyncio.ensure_future(keep_heap_settled())
    rng = random.Random(args.seed)
    run = _Run(kind)
    deadline = time.monotonic() + args.duration

    async def caller(n: int) -> None:
        await asyncio.sleep(rng.uniform(0, 2.0))  # a ramp, not a wall
        while time.monotonic() < deadline:
            run.placed += 1
            number = f"021{rng.randrange(10**7):07d}"
            call = world.trunk_call(runner.now(), "4000", number)
            runner.poke()
            if not call.admitted:
                run.blocked += 1
                await asyncio.sleep(1)
                continue
            for keys, pause in SCRIPT:
                await asyncio.sleep(pause + rng.uniform(0, 0.4))
                if call.channel in world.channels:
                    world.send_dtmf(runner.now(), call.channel, keys)
                    runner.poke()
            for _ in range(100):  # until the flow hands the caller to the queue
                await asyncio.sleep(0.1)
                chan = world.channels.get(call.channel)
                if chan is None or chan.context.startswith("hotline-wait"):
                    break
            if call.channel in world.channels:
                world.hangup(runner.now(), call.channel)
                runner.poke()
            run.finished += 1

    started = time.monotonic()
    tasks = [asyncio.create_task(caller(n)) for n in range(args.callers)]
    while not all(t.done() for t in tasks):
        await asyncio.sleep(1)
        progress(f"{kind}: {run.finished} flows done, {len(world.channels)} channels")
    run.wall_s = time.monotonic() - started
    child.stdin.write(b"STOP\n")
    await child.stdin.drain()
    out = await child.stdout.readline()
    await child.wait()
    keeper.cancel()
    await sim.close()
    data = json.loads(out)
    plain, media, samples = data["plain"], data["media"], data["samples"]
    steady = samples[len(samples) // 10 : -max(1, len(samples) // 10)] or samples
    run.figures = {
        "commands": len(plain) + len(media),
        "plain_commands": len(plain),
        "plain_p50_ms": round(percentile(plain, 0.5) * 1000, 3),
        "plain_p99_ms": round(percentile(plain, 0.99) * 1000, 3),
        "plain_max_ms": round(max(plain, default=float("nan")) * 1000, 3),
        "media_p50_ms": round(percentile(media, 0.5) * 1000, 1),
        "concurrent_max": max(samples, default=0),
        "concurrent_mean_steady": round(statistics.fmean(steady), 1) if steady else 0,
        "flows_completed_in_server": data["outcomes"],
        "server_cpu_s": round(data["cpu_s"], 2),
    }
    return run


async def run(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "callers": args.callers,
        "duration_s": args.duration,
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
    }
    kinds = ["hotline"] + ([] if args.no_baseline else ["panoramisk"])
    for kind in kinds:
        r = await _one_run(kind, args, progress)
        result[kind] = {"placed": r.placed, "finished": r.finished, "blocked": r.blocked,
                        "wall_s": round(r.wall_s, 1), **r.figures}  # fmt: skip
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hotline bench ivr", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--callers", type=int, default=200, help="kept inside the IVR")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-baseline", action="store_true", help="skip panoramisk's run")
    parser.add_argument("--json", action="store_true", help="print one JSON object, quietly")
    parser.add_argument("--serve", choices=["hotline", "panoramisk"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        configure_logging("warning", "json", stream=sys.stderr)
        uvloop.install()  # as `hotline serve` runs, for both servers
        asyncio.run(_serve(args.serve))
        return 0
    if args.callers < 1 or args.duration <= 0:
        parser.error("--callers must be at least 1 and --duration positive")
    configure_logging("warning", "json", stream=sys.stderr)
    progress = progress_line(args.json)

    uvloop.install()
    result = asyncio.run(run(args, progress))
    progress("")
    if args.json:
        print(json.dumps(result))
        return 0
    for kind in ("hotline", "panoramisk"):
        if kind in result:
            r = result[kind]
            print(
                f"{kind:<11} {r['concurrent_mean_steady']} callers in flows (max "
                f"{r['concurrent_max']}), {r['plain_commands']} plain commands: p50 "
                f"{r['plain_p50_ms']} ms, p99 {r['plain_p99_ms']} ms; flows {r['finished']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
