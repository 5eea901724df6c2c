"""``hotline bench ringing``: from the PBX event that rings an agent to the screen pop.

Three parts on two cores:

* the Hotline server, in its own process (its CPU is measured from /proc);
* pbx_sim in this process: ``--agents`` agent phones that answer after 0.5 s and hang up
  after ``--talk`` s, callers arriving at ``--rate`` per second on the trunk;
* the clients, in this process too: every agent logged in and ready over WebSocket, and
  ``--subscribers`` supervisor connections subscribed to ``calls``.

The latency of a call is the time from the moment pbx_sim emits the ``DialBegin`` that
rings the agent's phone to the moment a client has read the ``call.ringing`` frame (same
process, same clock). It is measured at the agent's own connection and at every
``--sample``-th subscriber (the others read and drop their frames). The baseline, in the
same run: the same ``DialBegin`` reaching a bare AMI client connected to pbx_sim (the
floor any CTI shares: one TCP hop, no routing, no fan-out).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any, Final

import aiohttp

from cti.ami.codec import AMIDecoder, Message, encode_action
from cti.bench.stats import percentile
from cti.center.server import HotlineServer
from cti.config import load_config, parse_config
from cti.logging import configure_logging
from cti.store import Store
from cti.store.passwords import ScryptParams
from pbx_sim.cli import build_parser
from pbx_sim.cli import start as start_sim

SECRET_ENV: Final = "HOTLINE_BENCH_AMI_SECRET"
PASSWORD: Final = "bench-password"
FIRST_EXT: Final = 8001


def bench_config(agents: int, ami_port: int, db: Path) -> str:
    lines = [
        '[server]\nlisten = "127.0.0.1"\nhttp_port = 8080',
        f'[ami]\nport = {ami_port}\nusername = "bench"\nsecret_env = "{SECRET_ENV}"',
        f'[store]\npath = "{db}"',
        '[log]\nlevel = "warning"\nformat = "json"',
        '[skills]\ns = "everything"',
        '[[queues]]\nname = "q"\nskills = { s = 1 }\nwrap_up_s = 0\nring_timeout_s = 15',
        '[[trunks]]\nname = "e1"\nchannels = 30\ndefault_queue = "q"',
        '[[agents]]\nid = "90001"\nextension = "9001"\nrole = "supervisor"',
    ]
    for i in range(agents):
        lines.append(
            f'[[agents]]\nid = "{100001 + i}"\nextension = "{FIRST_EXT + i}"\nskills = {{ s = 5 }}'
        )
    return "\n\n".join(lines) + "\n"


def _rings_agent(msg: Message) -> bool:
    dest = msg.get("DestChannel") or ""
    return dest.startswith("PJSIP/") and not dest.startswith(("PJSIP/e1trunk", "PJSIP/9001"))


async def drain_client(port: int, frames: list[str], ready: asyncio.Event) -> None:
    """A subscriber that reads and drops its bytes: a raw WebSocket over asyncio streams,
    so that hundreds of them cost the measuring process almost nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    for text in frames:
        payload = text.encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        header = (
            bytes([0x81, 0x80 | len(payload)])
            if len(payload) < 126
            else (bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big"))
        )
        writer.write(header + mask + masked)
    await reader.read(1)
    ready.set()
    while await reader.read(65536):
        pass


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


async def serve(config_path: str) -> None:
    config = load_config(config_path)
    configure_logging("warning", "json")
    store = await Store.open(config.store.path, synchronous="NORMAL")
    server = HotlineServer(config, store)
    server.http_endpoint.port = 0
    await server.start()
    await server.link.wait_up(20)
    print(json.dumps({"http_port": server.http_port}), flush=True)
    await asyncio.Event().wait()


class RawAMI:
    """The baseline: a bare AMI client that timestamps DialBegin events."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    async def run(self, port: int, secret: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(encode_action("Login", "1", [("Username", "bench"), ("Secret", secret)]))
        decoder = AMIDecoder()
        while True:
            data = await reader.read(65536)
            if not data:
                return
            now = time.time()
            decoder.feed(data)
            for msg in decoder.messages():
                if msg.event == "DialBegin" and _rings_agent(msg):
                    self.seen.setdefault(msg.get("CallerIDNum") or "", now)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    secret = "bench-" + os.urandom(6).hex()
    tmp = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    sim_args = build_parser().parse_args(
        [
            "--ami-port", "0", "--ami-user", "bench", "--ami-secret", secret,
            "--agents", str(args.agents), "--answer-delay", "0.5",
            "--handle-time", str(args.talk), "--trunk-channels", str(args.agents * 2),
            "--spool-dir", str(tmp / "spool"),
        ]
    )  # fmt: skip
    sim = await start_sim(sim_args)
    world, runner = sim.world, sim.server.runner
    rang: dict[str, float] = {}

    def on_dial(msg: Message) -> None:
        if _rings_agent(msg):
            rang.setdefault(msg.get("CallerIDNum") or "", time.time())

    world.subscribe(on_dial, ["DialBegin"])
    config_path = tmp / "bench.toml"
    config_path.write_text(bench_config(args.agents, sim.port, tmp / "bench.db"))
    config = parse_config(
        tomllib.loads(config_path.read_text()),
        str(config_path),
        env={SECRET_ENV: secret},
    )
    store = await Store.open(tmp / "bench.db", password_params=ScryptParams(n=2**4))
    await store.seed_from_config(config, PASSWORD)
    await store.close()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cti.bench.ringing", "--serve", str(config_path),
        env={**os.environ, SECRET_ENV: secret},
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        return await _measure(args, proc, sim, world, runner, rang, secret)
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        await sim.close()


async def _measure(
    args: argparse.Namespace,
    proc: asyncio.subprocess.Process,
    sim: Any,
    world: Any,
    runner: Any,
    rang: dict[str, float],
    secret: str,
) -> dict[str, Any]:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    port = json.loads(line)["http_port"]
    url = f"ws://127.0.0.1:{port}/ws"
    raw = RawAMI()
    tasks = [asyncio.create_task(raw.run(sim.port, secret))]
    latencies: dict[str, list[float]] = {"agent": [], "subscriber": []}
    counts = {"frames": 0}
    stop = asyncio.Event()

    async def client(http: aiohttp.ClientSession, kind: str, login: dict[str, Any],
                     measure: bool, ready: asyncio.Event) -> None:  # fmt: skip
        async with http.ws_connect(url, max_msg_size=0) as ws:
            await ws.send_str(json.dumps({"op": "login", "id": 1, **login}))
            if kind == "agent":
                await ws.send_str(json.dumps({"op": "agent.ready", "id": 2}))
            else:
                await ws.send_str(json.dumps({"op": "subscribe", "id": 2, "topics": ["calls"]}))
            replies = 0
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                counts["frames"] += 1
                if replies < 2:
                    if '"type":"reply"' in msg.data:
                        replies += 1
                        if '"ok":false' in msg.data:
                            print(
                                "login/ready refused:",
                                login.get("agent_id"),
                                msg.data,
                                file=sys.stderr,
                            )
                        if replies == 2:
                            ready.set()
                    continue
                if measure and '"call.ringing"' in msg.data:
                    t = time.time()
                    caller = json.loads(msg.data)["data"]["caller"]
                    t0 = rang.get(caller)
                    if t0 is not None and not stop.is_set():
                        latencies[kind].append((t - t0) * 1000)

    # limit=0: one connection per client (the default pool stops at 100).
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        logins: list[tuple[str, dict[str, Any], bool]] = []
        for i in range(args.agents):
            agent = {"agent_id": str(100001 + i), "extension": str(FIRST_EXT + i)}
            logins.append(("agent", {**agent, "password": PASSWORD}, True))
        for i in range(args.subscribers):
            supervisor = {"agent_id": "90001", "password": PASSWORD}
            logins.append(("subscriber", supervisor, i % args.sample == 0))
        # In batches: the login limiter allows 5 unfinished logins per account.
        for start in range(0, len(logins), 4):
            readies = []
            for kind, login, measure in logins[start : start + 4]:
                ev = asyncio.Event()
                readies.append(ev)
                if kind == "subscriber" and not measure:
                    frames = [
                        json.dumps({"op": "login", "id": 1, **login}),
                        json.dumps({"op": "subscribe", "id": 2, "topics": ["calls"]}),
                    ]
                    coro = drain_client(port, frames, ev)
                else:
                    coro = client(http, kind, login, measure, ev)
                tasks.append(asyncio.create_task(coro))
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 60)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        rng = random.Random(args.seed)
        placed = 0
        deadline = time.monotonic() + args.duration
        while time.monotonic() < deadline:
            await asyncio.sleep(rng.expovariate(args.rate))
            placed += 1
            world.trunk_call(runner.now(), "5000", f"0{700000000 + placed}", "Bench Caller")
            runner.poke()
        await asyncio.sleep(2.0)
        stop.set()
        cpu = cpu_seconds(proc.pid) - cpu0
        wall = time.monotonic() - t0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    baseline = [(raw.seen[c] - rang[c]) * 1000 for c in rang if c in raw.seen]

    def figures(values: list[float]) -> dict[str, Any]:
        return {
            "samples": len(values),
            "p50_ms": round(percentile(values, 0.5), 3),
            "p99_ms": round(percentile(values, 0.99), 3),
            "max_ms": round(max(values), 3) if values else None,
        }

    return {
        "agents": args.agents,
        "subscribers": args.subscribers,
        "rate_per_s": args.rate,
        "calls_placed": placed,
        "calls_rang": len(rang),
        "agent": figures(latencies["agent"]),
        "subscriber": figures(latencies["subscriber"]),
        "p99_ms": round(percentile(latencies["agent"] + latencies["subscriber"], 0.99), 3),
        "baseline_raw_ami": figures(baseline),
        "server_cpu_percent": round(100 * cpu / wall, 1),
        "server_cpu_ms_per_call": round(1000 * cpu / max(1, placed), 2),
        "frames_received": counts["frames"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hotline bench ringing", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="new calls per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--talk", type=float, default=5.0, help="agents hang up after, s")
    parser.add_argument("--sample", type=int, default=25, help="measure every Nth subscriber")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args.serve))
        return 0
    if args.agents < 1 or args.subscribers < 1 or args.rate <= 0 or args.sample < 1:
        parser.error("--agents, --subscribers, --sample >= 1 and --rate > 0")
    if args.agents > 1000:
        parser.error("--agents: at most 1000 (extensions 8001-9000; 9001 is the supervisor)")
    result = asyncio.run(run(args))
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
