"""``hotline bench ringing``: from the PBX event that rings an agent to the screen pop.

Four processes, so that the one measured is not slowed by the ones measuring:

* **pbx_sim** (``--agents`` phones that answer after 0.5 s and hang up after ``--talk`` s;
  callers arrive on the trunk at ``--rate`` per second, Poisson). It takes the time at
  which it emits each ``DialBegin`` that rings an agent's phone.
* **the Hotline server**, as ``hotline serve`` runs it (uvloop, the store at its default
  durability), connected to pbx_sim over AMI.
* **the measuring clients** (this process): every agent logged in and ready on its own
  WebSocket, and every ``--sample``-th of the ``--subscribers`` supervisor connections
  subscribed to ``calls``. They are raw WebSocket protocols (no client library) that
  parse frames as they arrive and take the time when the bytes of ``call.ringing``
  arrive. The baseline, in the same run: the same ``DialBegin`` reaching a bare AMI
  client of pbx_sim (one TCP hop, no routing, no fan-out).
* **the other subscribers**, in a process of their own: they receive every frame too
  (the server's work is the same) but read their sockets in bulk every 100 ms, because
  in a real call center they sit on other machines and cost this one nothing; they
  count what they receive.

Latency = client's arrival time - pbx_sim's emission time (``time.time()`` in both
processes: one clock). The CPU of each process and of the whole machine (other work on
it included) is reported, so a saturated run shows as one.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, cast

import aiohttp
import uvloop

from cti.ami.codec import AMIDecoder, Message, encode_action
from cti.bench.stats import percentile
from cti.center.server import HotlineServer
from cti.config import load_config, parse_config
from cti.heap import keep_heap_settled, settle_heap
from cti.logging import configure_logging
from cti.store import Store
from cti.store.passwords import ScryptParams
from pbx_sim.cli import build_parser
from pbx_sim.cli import start as start_sim

SECRET_ENV: Final = "HOTLINE_BENCH_AMI_SECRET"
PASSWORD: Final = "bench-password"
FIRST_EXT: Final = 8001
SUPERVISOR: Final = "90001"
DRAIN_EVERY_S: Final = 0.1
SEED_SCRYPT: Final = ScryptParams(n=2**4)  # 1,000 logins in seconds, not minutes
SETTLE_S: Final = 2.0  # after the last call: its ringing and frames
KEEPALIVE_EVERY_S: Final = 10.0  # under aiohttp's 30 s heartbeat: any frame resets it
LOGINS_AT_ONCE: Final = 16  # the server counts a login as failed until it succeeds: 20/address


def bench_config(agents: int, ami_port: int, db: Path) -> str:
    lines = [
        '[server]\nlisten = "127.0.0.1"\nhttp_port = 8080',
        f'[ami]\nport = {ami_port}\nusername = "bench"\nsecret_env = "{SECRET_ENV}"',
        f'[store]\npath = "{db}"',
        '[log]\nlevel = "warning"\nformat = "json"',
        '[skills]\ns = "everything"',
        '[[queues]]\nname = "q"\nskills = { s = 1 }\nwrap_up_s = 0\nring_timeout_s = 15',
        '[[trunks]]\nname = "e1"\nchannels = 30\ndefault_queue = "q"',
        f'[[agents]]\nid = "{SUPERVISOR}"\nextension = "9001"\nrole = "supervisor"',
    ]
    for i in range(agents):
        lines.append(
            f'[[agents]]\nid = "{100001 + i}"\nextension = "{FIRST_EXT + i}"\nskills = {{ s = 5 }}'
        )
    return "\n\n".join(lines) + "\n"


def _rings_agent(msg: Message) -> bool:
    dest = msg.get("DestChannel") or ""
    return dest.startswith("PJSIP/") and not dest.startswith(("PJSIP/e1trunk", "PJSIP/9001"))


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return (total - idle) / ticks, total / ticks


# ----------------------------------------------------------------------- the processes


async def serve(config_path: str) -> None:
    """The server process: what ``hotline serve`` does, with the HTTP port chosen free."""
    config = load_config(config_path)
    configure_logging("warning", "json")
    # The seed's cheap scrypt parameters, so that a login does not upgrade the hash.
    store = await Store.open(config.store.path, password_params=SEED_SCRYPT)
    server = HotlineServer(config, store)
    server.http_endpoint.port = 0
    await server.start()
    await server.link.wait_up(20)
    settle_heap()
    keeper = asyncio.ensure_future(keep_heap_settled())
    print(json.dumps({"http_port": server.http_port}), flush=True)
    await asyncio.Event().wait()
    keeper.cancel()


async def simulate(spec: dict[str, Any]) -> None:
    """The pbx_sim process: serves AMI, then on ``go`` from stdin places the calls and
    prints the emission time of every ringing ``DialBegin``."""
    sim_args = build_parser().parse_args(
        [
            "--ami-port", "0", "--ami-user", "bench", "--ami-secret", spec["secret"],
            "--agents", str(spec["agents"]), "--answer-delay", "0.5",
            "--handle-time", str(spec["talk"]), "--trunk-channels", str(spec["agents"] * 2),
            "--spool-dir", spec["spool"],
        ]
    )  # fmt: skip
    sim = await start_sim(sim_args)
    world, runner = sim.world, sim.server.runner
    rang: dict[str, float] = {}

    def on_dial(msg: Message) -> None:
        if _rings_agent(msg):
            rang.setdefault(msg.get("CallerIDNum") or "", time.time())

    world.subscribe(on_dial, ["DialBegin"])
    print(json.dumps({"ami_port": sim.port}), flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    go = json.loads(await stdin.readline())
    rng = random.Random(go["seed"])
    placed = 0
    started = time.monotonic()
    deadline = started + go["duration"]
    next_at = started
    while True:
        # Poisson arrivals on an absolute schedule: a late wake-up does not lower the rate.
        next_at += rng.expovariate(go["rate"])
        if next_at >= deadline:
            break
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        placed += 1
        world.trunk_call(runner.now(), "5000", f"0{700000000 + placed}", "Bench Caller")
        runner.poke()
    await asyncio.sleep(go["settle"])  # the last calls ring
    print(json.dumps({"placed": placed, "rang": rang}), flush=True)
    await stdin.read()  # until the parent closes the pipe
    await sim.close()


# ----------------------------------------------------------------------- the clients


async def drain_subscribers(spec: dict[str, Any]) -> None:
    """The process of the unmeasured subscribers: connect and subscribe them, print
    ``ready``, read their sockets in bulk until a line on stdin, then print what they
    received."""
    frames = [
        {"op": "login", "id": 1, "token": spec["token"]},
        {"op": "subscribe", "id": 2, "topics": ["calls"]},
    ]
    clients: list[WSClient] = []
    for start in range(0, spec["count"], 50):
        clients += await asyncio.gather(
            *(
                _connect(spec["port"], frames, None)
                for _ in range(start, min(spec["count"], start + 50))
            )
        )
    print(json.dumps({"ready": len(clients)}), flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    stop = asyncio.ensure_future(stdin.readline())
    next_keepalive = time.monotonic() + KEEPALIVE_EVERY_S
    while not stop.done():
        await asyncio.wait([stop], timeout=DRAIN_EVERY_S)
        for c in clients:
            c.drain()
        if time.monotonic() >= next_keepalive:
            next_keepalive += KEEPALIVE_EVERY_S
            for c in clients:
                c.keepalive()
    await asyncio.sleep(0.2)  # the last reads
    counts = {
        "events": sum(c.events for c in clients),
        "ringing": sum(c.ringing for c in clients),
        "closed": sum(c.closed for c in clients),
    }
    print(json.dumps(counts), flush=True)
    await stdin.read()


def _client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client-to-server frame (RFC 6455 §5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    masked = int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    body = masked.to_bytes(n, "big") if n else b""
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    else:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    return head + mask + body


PONG: Final = _client_frame(b"", 0xA)


class WSClient(asyncio.Protocol):
    """A raw WebSocket client: handshake, the login frames, then either every frame
    parsed as it arrives (``on_text``) or, when ``on_text`` is None, bulk reads in
    :meth:`drain` that only count bytes and ``call.ringing`` frames."""

    def __init__(
        self,
        port: int,
        frames: list[dict[str, Any]],
        on_text: Callable[[bytes, float], None] | None,
    ) -> None:
        self.port = port
        self.frames = frames
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.buf = bytearray()
        self.replies: list[dict[str, Any]] = []
        self.ready = asyncio.get_running_loop().create_future()
        self.closed = False
        self.bytes = 0
        self.ringing = 0
        self.events = 0
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport: no isinstance.
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before ready: {exc}"))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if self.ready.done() and self.on_text is None:
            self._count(data)
            assert self.transport is not None
            self.transport.pause_reading()
            return
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(bytes(self.buf[:end]).decode(errors="replace"))
            del self.buf[: end + 4]
            self.upgraded = True
            assert self.transport is not None
            for frame in self.frames:
                self.transport.write(_client_frame(json.dumps(frame).encode()))
        self._frames(now)

    def _frames(self, now: float) -> None:
        buf = self.buf
        start = 0
        while len(buf) - start >= 2:
            n = buf[start + 1] & 0x7F
            head = 2
            if n == 126:
                if len(buf) - start < 4:
                    break
                n, head = int.from_bytes(buf[start + 2 : start + 4], "big"), 4
            elif n == 127:
                if len(buf) - start < 10:
                    break
                n, head = int.from_bytes(buf[start + 2 : start + 10], "big"), 10
            if len(buf) - start < head + n:
                break
            opcode = buf[start] & 0x0F
            payload = bytes(buf[start + head : start + head + n])
            start += head + n
            if opcode == 0x9:
                assert self.transport is not None
                self.transport.write(PONG)
            elif opcode == 0x8:
                self.closed = True
            elif opcode == 0x1:
                self._text(payload, now)
        del buf[:start]

    def _text(self, payload: bytes, now: float) -> None:
        if not self.ready.done():
            if payload.startswith(b'{"type":"reply"'):
                reply = json.loads(payload)
                self.replies.append(reply)
                if not reply["ok"]:
                    self.ready.set_exception(RuntimeError(f"{self.frames}: {reply}"))
                elif len(self.replies) == len(self.frames):
                    self.ready.set_result(None)
                    if self.on_text is None:
                        assert self.transport is not None
                        self.transport.pause_reading()
            return
        assert self.on_text is not None
        self.on_text(payload, now)

    def _count(self, data: bytes) -> None:
        self.bytes += len(data)
        joined = self._tail + data
        self.ringing += joined.count(b'"call.ringing"')
        self.events += joined.count(b'{"type":"event"')
        self._tail = data[-14:]  # a pattern split across two reads is counted once

    def drain(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def keepalive(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(PONG)  # an unsolicited pong: allowed (RFC 6455 §5.5.3)


class RawAMI(asyncio.Protocol):
    """The baseline: a bare AMI client that takes the arrival time of DialBegin."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.seen: dict[str, float] = {}
        self.decoder = AMIDecoder()
        self.messages = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        login = encode_action("Login", "1", [("Username", "bench"), ("Secret", self.secret)])
        cast(asyncio.Transport, transport).write(login)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.decoder.feed(data)
        for msg in self.decoder.messages():
            self.messages += 1
            if msg.event == "DialBegin" and _rings_agent(msg):
                self.seen.setdefault(msg.get("CallerIDNum") or "", now)


# ----------------------------------------------------------------------- the run


async def _line(stream: asyncio.StreamReader | None, what: str) -> dict[str, Any]:
    assert stream is not None
    line = await asyncio.wait_for(stream.readline(), 120)
    if not line:
        raise RuntimeError(f"{what} exited before it was ready")
    result: dict[str, Any] = json.loads(line)
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    secret = "bench-" + os.urandom(6).hex()
    tmp = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    env = {**os.environ, SECRET_ENV: secret}
    spec = {"secret": secret, "agents": args.agents, "talk": args.talk, "spool": str(tmp / "spool")}
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cti.bench.ringing", "--simulate", json.dumps(spec),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    server: asyncio.subprocess.Process | None = None
    try:
        ami_port = (await _line(sim.stdout, "pbx_sim"))["ami_port"]
        config_path = tmp / "bench.toml"
        config_path.write_text(bench_config(args.agents, ami_port, tmp / "bench.db"))
        config = parse_config(
            tomllib.loads(config_path.read_text()), str(config_path), env={SECRET_ENV: secret}
        )
        store = await Store.open(tmp / "bench.db", password_params=SEED_SCRYPT)
        await store.seed_from_config(config, PASSWORD)
        await store.close()
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cti.bench.ringing", "--serve", str(config_path),
            env=env, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        port = (await _line(server.stdout, "the server"))["http_port"]
        return await _measure(args, sim, server, port, ami_port, secret)
    finally:
        for proc in (server, sim):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                await proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


async def _connect(
    port: int, frames: list[dict[str, Any]], on_text: Callable[[bytes, float], None] | None
) -> WSClient:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: WSClient(port, frames, on_text), "127.0.0.1", port
    )
    await asyncio.wait_for(client.ready, 60)
    return client


async def _measure(
    args: argparse.Namespace,
    sim: asyncio.subprocess.Process,
    server: asyncio.subprocess.Process,
    port: int,
    ami_port: int,
    secret: str,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    raw = RawAMI(secret)
    await loop.create_connection(lambda: raw, "127.0.0.1", ami_port)
    arrivals: dict[str, list[tuple[str, float]]] = {"agent": [], "subscriber": []}

    def watcher(kind: str) -> Callable[[bytes, float], None]:
        found = arrivals[kind]

        def on_text(payload: bytes, now: float) -> None:
            if b'"call.ringing"' in payload:
                found.append((json.loads(payload)["data"]["caller"], now))

        return on_text

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{port}/api/login",
            json={"agent_id": SUPERVISOR, "password": PASSWORD},
        ) as response,
    ):
        token = (await response.json())["token"]
    agent_frames = [
        [
            {
                "op": "login",
                "id": 1,
                "agent_id": str(100001 + i),
                "extension": str(FIRST_EXT + i),
                "password": PASSWORD,
            },
            {"op": "agent.ready", "id": 2},
        ]
        for i in range(args.agents)
    ]
    agents: list[WSClient] = []
    for start in range(0, args.agents, LOGINS_AT_ONCE):
        batch = agent_frames[start : start + LOGINS_AT_ONCE]
        agents += await asyncio.gather(*(_connect(port, f, watcher("agent")) for f in batch))
    sup_frames = [
        {"op": "login", "id": 1, "token": token},
        {"op": "subscribe", "id": 2, "topics": ["calls"]},
    ]
    sampled = len(range(0, args.subscribers, args.sample))
    subscribers: list[WSClient] = await asyncio.gather(
        *(_connect(port, sup_frames, watcher("subscriber")) for _ in range(sampled))
    )
    clients = agents + subscribers
    spec = {"port": port, "token": token, "count": args.subscribers - sampled}
    drain = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cti.bench.ringing", "--drain", json.dumps(spec),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await _line(drain.stdout, "the subscribers' process")
        return await _load(args, sim, server, drain, clients, arrivals, raw, sampled)
    finally:
        if drain.returncode is None:
            drain.terminate()
            await drain.wait()


async def _load(
    args: argparse.Namespace,
    sim: asyncio.subprocess.Process,
    server: asyncio.subprocess.Process,
    drain: asyncio.subprocess.Process,
    clients: list[WSClient],
    arrivals: dict[str, list[tuple[str, float]]],
    raw: RawAMI,
    sampled: int,
) -> dict[str, Any]:
    ami0 = raw.messages
    assert sim.stdin is not None and drain.stdin is not None
    cpu_sim0, cpu_drain0, srv0 = cpu_seconds(sim.pid), cpu_seconds(drain.pid), cpu_times(server.pid)
    if not args.json:
        print(
            f"{args.agents} agents ready, {args.subscribers} subscribers; "
            f"{args.rate:g} calls/s for {args.warmup + args.duration:g} s ...",
            file=sys.stderr,
            flush=True,
        )
    cpu_own0, (busy0, total0), t0 = own_cpu_seconds(), machine_busy(), time.monotonic()
    measure_from = time.time() + args.warmup  # calls rung before this are not measured
    load = os.getloadavg()[0]
    go = {
        "rate": args.rate,
        "duration": args.warmup + args.duration,
        "seed": args.seed,
        "settle": SETTLE_S,
    }
    sim.stdin.write(json.dumps(go).encode() + b"\n")
    result = await _line(sim.stdout, "pbx_sim")
    await asyncio.sleep(1.0)  # frames still on their way are late, not lost
    wall = time.monotonic() - t0
    srv1 = cpu_times(server.pid)
    cpu_sim, cpu_srv = cpu_seconds(sim.pid) - cpu_sim0, sum(srv1) - sum(srv0)
    cpu_drain = cpu_seconds(drain.pid) - cpu_drain0
    srv_kernel = srv1[1] - srv0[1]
    cpu_own = own_cpu_seconds() - cpu_own0
    busy1, total1 = machine_busy()
    drain.stdin.write(b"stop\n")
    drained = await _line(drain.stdout, "the subscribers' process")
    rang: dict[str, float] = result["rang"]
    placed: int = result["placed"]
    measured = {c for c, t in rang.items() if t >= measure_from}

    def latencies(pairs: list[tuple[str, float]]) -> list[float]:
        return [(t - rang[c]) * 1000 for c, t in pairs if c in measured]

    def figures(values: list[float]) -> dict[str, Any]:
        return {
            "samples": len(values),
            "p50_ms": round(percentile(values, 0.5), 2),
            "p99_ms": round(percentile(values, 0.99), 2),
            "max_ms": round(max(values), 2) if values else None,
        }

    agent_ms = latencies(arrivals["agent"])
    sub_ms = latencies(arrivals["subscriber"])
    baseline = latencies(list(raw.seen.items()))
    calls = max(1, placed)
    cpus = os.cpu_count() or 1
    for c in clients:
        if c.transport is not None:
            c.transport.close()
    return {
        "agents": args.agents,
        "subscribers": args.subscribers,
        "measured_subscribers": sampled,
        "rate_per_s": args.rate,
        "calls_placed": placed,
        "calls_rang": len(rang),
        "calls_measured": len(measured),
        "agent": figures(agent_ms),
        "agent_pops_missing": len(measured - {c for c, _ in arrivals["agent"]}),
        "subscriber": figures(sub_ms),
        "p50_ms": round(percentile(agent_ms + sub_ms, 0.5), 2),
        "p99_ms": round(percentile(agent_ms + sub_ms, 0.99), 2),
        "baseline_raw_ami": figures(baseline),
        "server_cpu_percent": round(100 * cpu_srv / wall, 1),
        "server_cpu_ms_per_call": round(1000 * cpu_srv / calls, 2),
        "server_kernel_share": round(srv_kernel / max(cpu_srv, 1e-9), 2),
        "pbx_sim_cpu_percent": round(100 * cpu_sim / wall, 1),
        "clients_cpu_percent": round(100 * cpu_own / wall, 1),
        "other_subscribers_cpu_percent": round(100 * cpu_drain / wall, 1),
        "machine_cpu_percent": round(100 * cpus * (busy1 - busy0) / max(total1 - total0, 1e-9), 1),
        "cpus": cpus,
        "load_1min_before": round(load, 2),
        "ami_messages_per_call": round((raw.messages - ami0) / calls, 1),
        "events_per_subscriber_per_call": round(
            drained["events"] / calls / max(1, args.subscribers - sampled), 2
        ),
        "other_subscribers_ringing_frames": drained["ringing"],
        "other_subscribers_ringing_expected": (args.subscribers - sampled) * len(rang),
        "closed_connections": sum(c.closed for c in clients) + drained["closed"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hotline bench ringing", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="new calls per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load not measured")
    parser.add_argument("--talk", type=float, default=5.0, help="agents hang up after, s")
    parser.add_argument("--sample", type=int, default=25, help="measure every Nth subscriber")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--simulate", help=argparse.SUPPRESS)
    parser.add_argument("--drain", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    uvloop.install()
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args.serve))
        return 0
    if args.simulate:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(simulate(json.loads(args.simulate)))
        return 0
    if args.drain:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(drain_subscribers(json.loads(args.drain)))
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
