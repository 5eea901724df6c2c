"""``hotline bench asterisk``: queue entry to the agent's phone ringing, on real Asterisk
(``--saturate``: the E1 kept full; ``--knee``: where Asterisk itself saturates,
:mod:`cti.bench.asterisk_knee`).

One run, two phases on the same Asterisk (configuration generated from the bench's
Hotline configuration) with the same ``--agents`` pjsua2 softphones, which answer after
0.1 s and hang up after ``--talk`` s:

1. **app_queue** (the baseline): callers enter Asterisk's own queue ``hq-q``
   (queues.conf, the same agents as static members). Entry = ``QueueCallerJoin``.
2. **Hotline**: the Hotline server in this process routes callers waiting in
   ``[hotline-wait]``; its agents are logged in and ready over WebSocket (wrap-up 0 s).
   Entry = the ``Newexten`` of ``[hotline-wait]`` (where Hotline's queue starts).

Callers are AMI Originates of Local channels (``--rate`` per second, each with its own
caller number), so that at every arrival an agent is ready. The latency of a call is the
time from the entry event reaching this process over AMI to the ringing INVITE reaching
the agent's softphone (both read in this process, one monotonic clock). Everything runs
in a private network namespace of its own (root needed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp

from cti.ami.codec import Message
from cti.asterisk.instance import Ports
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import ensure_install, require_root
from cti.asterisk.stack import AmiCarrier, GeneratedAsterisk, start_generated
from cti.bench.stats import cpu_s, percentile
from cti.center.server import Endpoint, HotlineServer
from cti.config import Config, parse_config
from cti.link import AMILink
from cti.logging import configure_logging
from cti.store import Store
from pbx_sim.sip import AgentPolicy, Phone, Softphones

PORTS: Final = Ports(ami=15038, sip=15060)
SECRET: Final = "bench-ami-secret"
PASSWORD: Final = "bench-password"
MAX_KNEE_CALLS: Final = 990  # agents on extensions 8001..8990 ([internal] _8XXX)


def bench_toml(agents: int, channels: int = 30) -> str:
    """The bench's Hotline configuration: one queue, ``agents`` agents 80001... on
    extensions 8001..., one trunk of ``channels`` channels."""
    lines = [
        f'[ami]\nport = {PORTS.ami}\nsecret_env = "S"',
        '[log]\nlevel = "warning"\nformat = "json"',
        '[skills]\ns = "everything"',
        '[[queues]]\nname = "q"\nskills = { s = 1 }\nwrap_up_s = 0\nring_timeout_s = 15',
        f'[[trunks]]\nname = "e1"\nchannels = {channels}\ndefault_queue = "q"',
    ]
    for i in range(agents):
        lines.append(
            f'[[agents]]\nid = "{80001 + i}"\nextension = "{8001 + i}"\nskills = {{ s = 5 }}'
        )
    return "\n".join(lines)


def bench_config(agents: int, channels: int = 30) -> Config:
    return parse_config(
        tomllib.loads(bench_toml(agents, channels)), "<bench asterisk>", env={"S": SECRET}
    )


class Rings:
    """Ringing INVITEs at the softphones, by caller number."""

    def __init__(self, phones: list[Phone]) -> None:
        self.at: dict[str, float] = {}
        self._tasks = [asyncio.create_task(self._drain(p)) for p in phones]

    async def _drain(self, phone: Phone) -> None:
        while True:
            event = await phone.events.get()
            if event.kind == "ringing":
                self.at.setdefault(event.call.remote_number, event.at)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _phase(
    pbx: GeneratedAsterisk,
    rings: Rings,
    args: argparse.Namespace,
    exten: str,
    context: str,
    entry: Callable[[Message], str | None],
    prefix: str,
) -> dict[str, Any]:
    """``--calls`` callers into ``exten@context``; latency entry event -> ring, per caller."""
    entered: dict[str, float] = {}
    link = AMILink("127.0.0.1", pbx.ports.ami, pbx.config.ami.username, SECRET)

    def on_event(_: AMILink, msg: Message) -> None:
        number = entry(msg)
        if number is not None:
            entered.setdefault(number, time.monotonic())

    link.register_event("*", on_event)
    await link.start()
    await link.wait_up(15)
    carrier = AmiCarrier(link)
    numbers = [f"{prefix}{i:05d}" for i in range(args.calls)]
    tasks = []
    for number in numbers:
        tasks.append(asyncio.create_task(carrier.call(exten, number, context=context)))
        await asyncio.sleep(1.0 / args.rate)
    await asyncio.gather(*tasks)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(n in rings.at for n in numbers):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    await asyncio.sleep(args.talk + 1)
    for call in carrier.calls:
        await carrier.hang_up(call)
    await carrier.close()
    latencies = [
        (rings.at[n] - entered[n]) * 1000 for n in numbers if n in rings.at and n in entered
    ]
    return {
        "calls": args.calls,
        "measured": len(latencies),
        "unrung": sum(1 for n in numbers if n not in rings.at),
        "p50_ms": round(percentile(latencies, 0.50), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
    }


def _app_queue_entry(msg: Message) -> str | None:
    return msg.get("CallerIDNum") if msg.event == "QueueCallerJoin" else None


def _hotline_entry(msg: Message) -> str | None:
    first = msg.get("Context") == "hotline-wait" and msg.get("Priority") == "1"
    return msg.get("CallerIDNum") if msg.event == "Newexten" and first else None


@dataclass
class Desks:
    """The agents' desks of a benchmark: logged in and ready over WebSocket, their
    events drained."""

    http: aiohttp.ClientSession
    tasks: list[asyncio.Task[None]]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.close()


async def login_desks(url: str, config: Config) -> Desks:
    """Every agent of ``config`` logged in at WebSocket ``url`` and ready."""
    # no pool limit: each WebSocket keeps its connection (aiohttp's default is 100)
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    desks = Desks(http, [])
    for n, agent in enumerate(config.agents):
        ws = await http.ws_connect(url)
        login = {"op": "login", "id": 1, "agent_id": agent.agent_id, "password": PASSWORD,
                 "extension": agent.extension}  # fmt: skip
        await ws.send_str(json.dumps(login))
        # one login at a time: the server counts logins in flight against its
        # per-address limit of attempts (cti/auth.py) until each one succeeds
        while (reply := json.loads(await ws.receive_str())).get("id") != 1:
            pass
        if not reply.get("ok"):
            await desks.close()
            raise RuntimeError(f"desk {agent.agent_id} could not log in: {reply}")
        await ws.send_str(json.dumps({"op": "agent.ready", "id": 2 + n}))

        async def drain(ws: aiohttp.ClientWebSocketResponse = ws) -> None:
            async for _ in ws:
                pass

        desks.tasks.append(asyncio.create_task(drain()))
    return desks


async def run(args: argparse.Namespace) -> dict[str, Any]:
    require_root("hotline bench asterisk")
    config = bench_config(args.agents)
    install = ensure_install()
    netns = PrivateNetns.enter()
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-asterisk-"))
    pbx = start_generated(install, config, work, ports=PORTS)
    phones = Softphones(port=PORTS.sip)
    store: Store | None = None
    server: HotlineServer | None = None
    rings: Rings | None = None
    load_before = os.getloadavg()
    try:
        await phones.start()
        policy = AgentPolicy(answer_delay_s=0.1, handle_time_s=args.talk)
        registered = [
            await phones.register(
                a.extension or "", pbx.passwords[a.extension or ""], policy=policy
            )
            for a in config.agents
        ]
        rings = Rings(registered)
        app_queue = await _phase(pbx, rings, args, "q", "appqueue", _app_queue_entry, "0101")
        store = await Store.open(work / "hotline.db")
        await store.seed_from_config(config, PASSWORD)
        server = HotlineServer(config, store, ami=Endpoint("127.0.0.1", PORTS.ami),
                               http=Endpoint("127.0.0.1", 0))  # fmt: skip
        await server.start()
        await server.link.wait_up(15)
        desks = await login_desks(f"http://127.0.0.1:{server.http_port}/ws", config)
        await asyncio.sleep(1.0)
        hotline = await _phase(pbx, rings, args, "4000", "from-trunk", _hotline_entry, "0202")
        await desks.close()
        return {
            "hotline": hotline,
            "app_queue": app_queue,
            "agents": args.agents,
            "rate_per_s": args.rate,
            "target_p99_ms": 150,
            "asterisk": pbx.instance.status().describe(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "softphone_errors": len(phones.errors),
        }
    finally:
        if rings is not None:
            await rings.close()
        await phones.close()
        if server is not None:
            await server.stop()
        if store is not None:
            await store.close()
        pbx.stop()
        netns.restore()


async def saturate(args: argparse.Namespace) -> dict[str, Any]:
    """``--saturate S``: ``--channels`` callers kept up for S seconds (as one hangs up,
    the next dials), every one answered by one of as many agents; then every record is
    checked: one per admitted call, none lost, none left in progress. CPU of Asterisk
    and of this process (the Hotline server, its desks, the carrier) over the run."""
    require_root("hotline bench asterisk")
    config = bench_config(args.channels, args.channels)
    install = ensure_install()
    netns = PrivateNetns.enter()
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-asterisk-"))
    pbx = start_generated(install, config, work, ports=PORTS)
    phones = Softphones(port=PORTS.sip)
    store = await Store.open(work / "hotline.db")
    await store.seed_from_config(config, PASSWORD)
    server = HotlineServer(config, store, ami=Endpoint("127.0.0.1", PORTS.ami),
                           http=Endpoint("127.0.0.1", 0))  # fmt: skip
    link = AMILink("127.0.0.1", PORTS.ami, config.ami.username, SECRET)
    ended: dict[str, asyncio.Event] = {}

    def on_hangup(_: AMILink, msg: Message) -> None:
        event = ended.get(msg.get("Channel") or "")
        if event is not None:
            event.set()

    link.register_event("Hangup", on_hangup)
    counts = {"placed": 0, "admitted": 0, "refused": 0}
    try:
        await phones.start()
        policy = AgentPolicy(answer_delay_s=0.2, handle_time_s=args.talk, spread=0.5)
        for a in config.agents:
            ext = a.extension or ""
            await phones.register(ext, pbx.passwords[ext], policy=policy)
        await server.start()
        await server.link.wait_up(15)
        desks = await login_desks(f"http://127.0.0.1:{server.http_port}/ws", config)
        await link.start()
        await link.wait_up(15)
        carrier = AmiCarrier(link)
        await asyncio.sleep(1.0)
        assert pbx.instance.pid is not None
        cpu0 = (cpu_s(pbx.instance.pid), cpu_s(os.getpid()), time.monotonic())
        stop_at = time.monotonic() + args.saturate
        peak = live = 0

        async def line(n: int) -> None:
            nonlocal peak, live
            k = 0
            while time.monotonic() < stop_at:
                k += 1
                counts["placed"] += 1
                call = await carrier.call("4000", f"03{n:03d}{k:05d}")
                if not call.admitted or call.channel is None:
                    counts["refused"] += 1
                    await asyncio.sleep(1.0)
                    continue
                counts["admitted"] += 1
                done = ended.setdefault(call.channel, asyncio.Event())
                live += 1
                peak = max(peak, live)
                await done.wait()
                live -= 1
                ended.pop(call.channel, None)

        await asyncio.gather(*(line(n) for n in range(args.channels)))
        cpu1 = (cpu_s(pbx.instance.pid), cpu_s(os.getpid()), time.monotonic())
        await asyncio.sleep(2.0)
        await desks.close()
        records: list[Any] = []
        while page := await store.query_calls(limit=1000, offset=len(records)):
            records += page
        outcomes: dict[str, int] = {}
        for r in records:
            outcomes[str(r.outcome)] = outcomes.get(str(r.outcome), 0) + 1
        wall = cpu1[2] - cpu0[2]
        return {
            "channels": args.channels,
            "seconds": round(wall, 1),
            "calls": counts,
            "peak_concurrent_calls": peak,
            "records": len(records),
            "distinct_record_ids": len({r.call_id for r in records}),
            "outcomes": outcomes,
            "lost_records": counts["admitted"] - len(records),
            "cpu_asterisk_pct": round(100 * (cpu1[0] - cpu0[0]) / wall, 1),
            "cpu_hotline_process_pct": round(100 * (cpu1[1] - cpu0[1]) / wall, 1),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            "softphone_errors": len(phones.errors),
            "pbx_action_errors": server.stats["pbx_action_errors"],
        }
    finally:
        await link.close()
        await phones.close()
        await server.stop()
        await store.close()
        pbx.stop()
        netns.restore()


def parse_steps(text: str) -> list[int]:
    if not re.fullmatch(r"\d+(,\d+)*", text):
        raise argparse.ArgumentTypeError(f"expected calls per step like 30,60,120, not {text!r}")
    steps = [int(s) for s in text.split(",")]
    if any(s < 1 for s in steps) or steps != sorted(set(steps)):
        raise argparse.ArgumentTypeError("steps must be positive and increasing")
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline bench asterisk", description=__doc__)
    parser.add_argument("--calls", type=int, default=200, help="callers per phase (200)")
    parser.add_argument("--agents", type=int, default=10, help="softphone agents (10)")
    parser.add_argument("--rate", type=float, default=4.0, help="callers per second (4)")
    parser.add_argument("--talk", type=float, default=0.5, help="agents' talk time, s (0.5)")
    parser.add_argument(
        "--saturate",
        type=float,
        default=None,
        metavar="S",
        help="instead: keep --channels calls up for S seconds, check records",
    )
    parser.add_argument("--channels", type=int, default=30, help="trunk limit and agents (30)")
    knee = parser.add_argument_group("--knee: where Asterisk itself saturates (SIPp load)")
    knee.add_argument(
        "--knee",
        type=parse_steps,
        default=None,
        metavar="C1,C2,...",
        help="instead: steps of concurrent SIP calls (SIPp carrier and agents), e.g. 30,60,120",
    )
    knee.add_argument("--hold", type=float, default=10.0, help="each caller's call, s (10)")
    knee.add_argument("--rounds", type=int, default=3, help="calls per line and step (3)")
    knee.add_argument("--keep-going", action="store_true", help="past the first failing step")
    knee.add_argument("--rtp", action="store_true", help="callers stream A-law, agents echo it")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("error", "json")
    if args.knee is not None:
        if args.knee[-1] > MAX_KNEE_CALLS:
            parser.error(f"--knee: at most {MAX_KNEE_CALLS} calls (one agent each, 8001-8990)")
        from cti.bench.asterisk_knee import knee as run_knee  # noqa: PLC0415 - it imports this

        with contextlib.suppress(KeyboardInterrupt):
            print(json.dumps(asyncio.run(run_knee(args))))
            return 0
        return 130
    if args.saturate is not None:
        print(json.dumps(asyncio.run(saturate(args))))
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        result = asyncio.run(run(args))
        if not args.json:
            for name in ("hotline", "app_queue"):
                r = result[name]
                print(f"{name:>9}: p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  "
                      f"({r['measured']}/{r['calls']} measured)", file=sys.stderr)  # fmt: skip
        print(json.dumps(result))
        return 0
    return 130
