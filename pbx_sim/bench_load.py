"""Load benchmark: pbx_sim in real time (no speed-up) with an AMI subscriber attached.

``python -m pbx_sim.bench_load [--rate 100] [--hold 30] [--handle-time 12] [--json]``

What runs: the Hotline dialplan with the trunk capacity raised, ``--agents`` simulated
agent phones (answer after ``--answer-delay`` s, hang up after ``--handle-time`` s) and the
real AMI server on an ephemeral port. A subscriber *process* (pinned to the other core
when there is one) logs in over TCP and receives every event (it counts them, it does
not parse them). Carrier calls arrive on DID 5000 at a rate ramped up to ``--rate``
calls/s over ``--ramp`` s, then held for ``--hold`` s; each is admitted by the trunk
context, answered and put on hold music in ``hotline-wait``; after ``--wait`` s the
benchmark plays the CTI (in-process, through the same action dispatcher as the AMI
server): an AMI ``Redirect`` to ``agent-dial,<free agent>,1``, which Dials the agent's
phone; it rings, answers, talks, hangs up, the agent is free again (its ``Hangup``
event). With the defaults: 100 new calls/s and about 1,350 calls up at once
(rate x (wait + answer delay + handle time)), 2 channels each.

Reported: calls placed/admitted, achieved arrival rate in the hold window, peak
concurrent calls, events and bytes the subscriber got, event-loop lag (p50/p99/max, from
a 10 ms ticker), CPU seconds per call and per call-second of this process (the world +
the AMI server; the subscriber runs elsewhere), and resident memory per concurrent call
(RSS at the peak minus RSS before the first call, divided by the peak). ``--json``: the
last line is one JSON object with all figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cti.ami.codec import Message

from .ami_server import AMIServer
from .config import hotline_config
from .phones import PhoneBehaviour
from .world import World

__all__ = ["BenchResult", "main", "run_bench"]

USER, SECRET = "bench", "bench-secret"


@dataclass
class BenchResult:
    rate_target: float
    ramp_s: float
    hold_s: float
    agents: int
    handle_time_s: float
    answer_delay_s: float
    calls_placed: int = 0
    calls_admitted: int = 0
    calls_blocked: int = 0
    calls_redirected: int = 0
    calls_left: int = 0
    hold_rate_achieved: float = 0.0
    peak_concurrent_calls: int = 0
    peak_channels: int = 0
    wall_s: float = 0.0
    events_received: int = 0
    bytes_received: int = 0
    events_per_s: float = 0.0
    loop_lag_ms_p50: float = 0.0
    loop_lag_ms_p99: float = 0.0
    loop_lag_ms_max: float = 0.0
    cpu_s_total: float = 0.0
    cpu_ms_per_call: float = 0.0
    cpu_share_in_hold: float = 0.0
    rss_mb_baseline: float = 0.0
    rss_mb_peak: float = 0.0
    rss_kb_per_call: float = 0.0
    subscriber_dropped: bool = False
    pinned_cpu: int | None = None
    python: str = field(default_factory=lambda: sys.version.split()[0])


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _rss_mb() -> float:
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _pin() -> tuple[int | None, int | None]:
    """Pin this process to one core; return (ours, one for the subscriber)."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    ours = cpus[0]
    os.sched_setaffinity(0, {ours})
    return ours, (cpus[1] if len(cpus) > 1 else None)


# -- the subscriber process ------------------------------------------------------------------


async def _subscriber(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"Action: Login\r\nActionID: 1\r\nUsername: {USER}\r\nSecret: {SECRET}\r\n\r\n".encode()
    )
    events = 0
    nbytes = 0
    tail = b""
    print("ready", flush=True)
    while True:
        data = await reader.read(1 << 16)
        if not data:
            break
        nbytes += len(data)
        chunk = tail + data
        events += chunk.count(b"\r\n\r\n")
        tail = chunk[-3:]
        # a boundary split across reads is counted once: keep only the last 3 bytes
        events -= tail.count(b"\r\n\r\n")
    print(json.dumps({"events": events, "bytes": nbytes}), flush=True)


# -- the benchmark ---------------------------------------------------------------------------


async def run_bench(args: argparse.Namespace) -> BenchResult:
    res = BenchResult(
        rate_target=args.rate,
        ramp_s=args.ramp,
        hold_s=args.hold,
        agents=args.agents,
        handle_time_s=args.handle_time,
        answer_delay_s=args.answer_delay,
    )
    ours, theirs = _pin() if args.pin else (None, None)
    res.pinned_cpu = ours
    loop = asyncio.get_running_loop()
    cfg = hotline_config(
        agents=args.agents,
        first_agent=args.first_agent,
        trunk_channels=args.trunk_channels,
        ami_user=USER,
        ami_secret=SECRET,
    )
    world = World(cfg, now=loop.time(), epoch=time.time(), events_detail=not args.no_detail)
    agent = PhoneBehaviour(answer_delay=args.answer_delay, handle_time=args.handle_time)
    for i in range(args.agents):
        world.phones.set(str(args.first_agent + i), agent)
    server = AMIServer(world, port=0)
    await server.start()
    runner = server.runner

    sub_cmd = [sys.executable, "-m", "pbx_sim.bench_load", "--subscriber", str(server.port)]
    if theirs is not None:
        sub_cmd = ["taskset", "-c", str(theirs), *sub_cmd]
    sub = await asyncio.create_subprocess_exec(*sub_cmd, stdout=asyncio.subprocess.PIPE)
    assert sub.stdout is not None
    await asyncio.wait_for(sub.stdout.readline(), 30)
    for _ in range(3000):  # the subscriber's Login is answered within a few ms
        if server.sessions and all(s.authenticated for s in server.sessions):
            break
        await asyncio.sleep(0.01)

    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            t0 = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - t0 - 0.01)

    lag_task = asyncio.create_task(ticker())
    await asyncio.sleep(0.5)
    lags.clear()

    # The CTI's part, in-process: free agents, callers waiting for one.
    free: deque[str] = deque(str(args.first_agent + i) for i in range(args.agents))
    waiting: deque[tuple[float, str, str]] = deque()  # (ready at, channel, uniqueid)

    def on_hangup(msg: Message) -> None:
        chan = msg.get("Channel") or ""
        if chan.startswith("PJSIP/") and not chan.startswith("PJSIP/e1trunk-"):
            free.append(chan[6:].rsplit("-", 1)[0])

    world.subscribe(on_hangup, {"Hangup"})

    rss0 = _rss_mb()
    cpu0 = _cpu()
    t_start = loop.time()
    t_hold = t_start + args.ramp
    t_end = t_hold + args.hold
    placed = admitted = redirected = 0
    hold_placed = 0
    cpu_hold0 = cpu0
    peak = peak_chans = 0
    rss_peak = rss0
    next_sample = t_start
    owed = 0.0
    last = t_start
    in_hold = False
    while True:
        now = loop.time()
        if now >= t_end:
            break
        if not in_hold and now >= t_hold:
            in_hold = True
            cpu_hold0 = _cpu()
            hold_placed = placed
        # arrivals: the rate ramps linearly to the target, then stays
        mid = (now + last) / 2
        ramp = min(max((mid - t_start) / args.ramp, 0.0), 1.0) if args.ramp > 0 else 1.0
        owed += args.rate * ramp * (now - last)
        last = now
        wnow = runner.now()
        while owed >= 1.0:
            owed -= 1.0
            call = world.trunk_call(wnow, "5000", f"0215{placed % 1000000:06d}", "Bench caller")
            placed += 1
            if call.admitted:
                admitted += 1
                waiting.append((now + args.wait, call.channel, call.uniqueid))
        # the "CTI" sends callers who waited long enough to a free agent (AMI Redirect)
        while waiting and free and waiting[0][0] <= now:
            _, chan_name, uid = waiting.popleft()
            chan = world.channels.get(chan_name)
            if chan is None or chan.uniqueid != uid:
                continue
            world.run_action(
                wnow,
                "Redirect",
                Channel=chan_name,
                Context="agent-dial",
                Exten=free.popleft(),
                Priority="1",
            )
            redirected += 1
        runner.poke()
        if now >= next_sample:
            next_sample = now + 0.5
            busy = world.group_count("e1", "trunk")
            if busy > peak:
                peak = busy
                rss_peak = max(rss_peak, _rss_mb())
            peak_chans = max(peak_chans, len(world.channels))
        await asyncio.sleep(0.005)
    cpu_hold1 = _cpu()
    hold_calls = placed - hold_placed
    # drain: no more arrivals; waiting callers hang up, the rest end after their handle time
    for _, chan_name, _uid in waiting:
        world.hangup(runner.now(), chan_name)
    drain_deadline = loop.time() + args.answer_delay + args.handle_time + 5
    while loop.time() < drain_deadline:
        if not world.channels:
            break
        await asyncio.sleep(0.1)
    cpu1 = _cpu()
    stop.set()
    await lag_task
    res.subscriber_dropped = not server.sessions
    await server.close()
    out, _ = await asyncio.wait_for(sub.communicate(), 30)
    counts: dict[str, Any] = {}
    for line in out.decode().splitlines():
        if line.startswith("{"):
            counts = json.loads(line)

    res.calls_redirected = redirected
    res.calls_left = len(world.channels)
    res.calls_placed = placed
    res.calls_admitted = admitted
    res.calls_blocked = placed - admitted
    res.hold_rate_achieved = round(hold_calls / args.hold, 1) if args.hold else 0.0
    res.peak_concurrent_calls = peak
    res.peak_channels = peak_chans
    res.wall_s = round(loop.time() - t_start, 1)
    res.events_received = int(counts.get("events", 0))
    res.bytes_received = int(counts.get("bytes", 0))
    res.events_per_s = round(res.events_received / max(res.wall_s, 1e-9), 0)
    lag_ms = sorted(x * 1000 for x in lags) or [0.0]
    res.loop_lag_ms_p50 = round(statistics.median(lag_ms), 2)
    res.loop_lag_ms_p99 = round(lag_ms[min(len(lag_ms) - 1, int(len(lag_ms) * 0.99))], 2)
    res.loop_lag_ms_max = round(lag_ms[-1], 2)
    res.cpu_s_total = round(cpu1 - cpu0, 2)
    res.cpu_ms_per_call = round((cpu1 - cpu0) / max(placed, 1) * 1000, 3)
    res.cpu_share_in_hold = round((cpu_hold1 - cpu_hold0) / args.hold, 3) if args.hold else 0.0
    res.rss_mb_baseline = round(rss0, 1)
    res.rss_mb_peak = round(rss_peak, 1)
    res.rss_kb_per_call = round((rss_peak - rss0) * 1024 / max(peak, 1), 1)
    return res


def run_virtual(calls: int, subscribe: str, interval: float = 6.0) -> dict[str, Any]:
    """The trunk simulator's case: the world alone on a virtual clock (no asyncio, no
    socket). One call every ``interval`` simulated seconds through the Hotline flow
    (trunk -> wait -> Redirect to an agent -> 2 s ringing -> 150 s talk); ``subscribe``:
    ``all`` (every event, events_detail on), ``some`` (Hangup, BridgeEnter, DialEnd; the
    noisy families are not even built) or ``none``."""
    agents = 200
    cfg = hotline_config(agents=agents, first_agent=20001, trunk_channels=30)
    world = World(cfg, now=0.0, events_detail=subscribe == "all")
    seen = [0]

    def count(_msg: Message) -> None:
        seen[0] += 1

    if subscribe == "all":
        world.subscribe(count)
    elif subscribe == "some":
        world.subscribe(count, {"Hangup", "BridgeEnter", "DialEnd"})
    phone = PhoneBehaviour(answer_delay=2.0, handle_time=150.0)
    for i in range(agents):
        world.phones.set(str(20001 + i), phone)
    cpu0 = _cpu()
    t = 0.0
    blocked = 0
    for i in range(calls):
        t += interval
        while (due := world.next_wakeup()) is not None and due <= t:
            world.tick(due)
        call = world.trunk_call(t, "5000", f"0215{i % 1000000:06d}")
        if not call.admitted:
            blocked += 1
            continue
        world.run_action(
            t,
            "Redirect",
            Channel=call.channel,
            Context="agent-dial",
            Exten=str(20001 + i % agents),
            Priority="1",
        )
    while (due := world.next_wakeup()) is not None:
        world.tick(due)
    cpu = _cpu() - cpu0
    return {
        "mode": subscribe,
        "calls": calls,
        "blocked": blocked,
        "simulated_s": round(world.now, 1),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_call": round(cpu / calls * 1000, 3),
        "simulated_s_per_cpu_s": round(world.now / cpu, 0) if cpu else 0.0,
        "events": seen[0],
        "channels_left": len(world.channels),
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pbx_sim.bench_load", description=__doc__)
    p.add_argument("--rate", type=float, default=100.0, help="new calls per second (100)")
    p.add_argument("--ramp", type=float, default=10.0, help="seconds to reach the rate (10)")
    p.add_argument("--hold", type=float, default=30.0, help="seconds at the rate (30)")
    p.add_argument("--handle-time", type=float, default=12.0, help="agent talk seconds (12)")
    p.add_argument("--answer-delay", type=float, default=1.0, help="agent ring seconds (1)")
    p.add_argument("--agents", type=int, default=1800, help="agent phones (1800)")
    p.add_argument("--first-agent", type=int, default=20001, help="first agent extension")
    p.add_argument("--wait", type=float, default=0.5, help="seconds a caller waits (0.5)")
    p.add_argument("--trunk-channels", type=int, default=100000, help="trunk capacity")
    p.add_argument("--no-detail", action="store_true", help="events_detail=False (no VarSet...)")
    p.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin to one core")
    p.add_argument(
        "--virtual",
        type=int,
        default=0,
        metavar="CALLS",
        help="instead: the world alone on a virtual clock, CALLS calls per mode (all/some/none)",
    )
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.add_argument("--subscriber", type=int, default=None, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    if args.subscriber is not None:
        asyncio.run(_subscriber(args.subscriber))
        return 0
    if args.virtual:
        rows = [run_virtual(args.virtual, mode) for mode in ("all", "some", "none")]
        for row in rows:
            print(
                f"virtual clock, subscribed to {row['mode']:>4}: {row['calls']} calls, "
                f"{row['simulated_s']:.0f} simulated s in {row['cpu_s']} CPU s = "
                f"{row['cpu_ms_per_call']} ms per call, {row['events']} events"
            )
        if args.json:
            print(json.dumps({"virtual": rows}, sort_keys=True))
        return 0
    res = asyncio.run(run_bench(args))
    d = asdict(res)
    print(
        f"pbx_sim load: {res.calls_placed} calls placed ({res.calls_blocked} blocked), "
        f"{res.hold_rate_achieved} new calls/s held for {res.hold_s:.0f} s, "
        f"peak {res.peak_concurrent_calls} concurrent calls ({res.peak_channels} channels)\n"
        f"  subscriber got {res.events_received} events / {res.bytes_received / 1e6:.1f} MB"
        f"{' (DROPPED)' if res.subscriber_dropped else ''}\n"
        f"  event-loop lag p50 {res.loop_lag_ms_p50} ms, p99 {res.loop_lag_ms_p99} ms, "
        f"max {res.loop_lag_ms_max} ms\n"
        f"  CPU {res.cpu_s_total} s = {res.cpu_ms_per_call} ms per call; "
        f"{res.cpu_share_in_hold * 100:.0f}% of one core at the held rate\n"
        f"  RSS {res.rss_mb_baseline} -> {res.rss_mb_peak} MB = {res.rss_kb_per_call} kB per "
        f"concurrent call"
    )
    if args.json:
        print(json.dumps(d, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
