"""``hotline bench console``: is the web console responsive at 1,000 lamps, 500 agents
and 50 events/s?

A synthetic call center feeds the real console in Debian's headless chromium (driven by
Playwright): the console's own files, the real WebSocket endpoint and event bus
(:mod:`cti.api.ws`, :mod:`cti.api.bus`) with a synthetic snapshot and synthetic events
in the server's shapes (``extension.state``, ``agent.state``, ``call.*``,
``queue.stats``, ``trunk.stats``) arriving as a Poisson stream at ``--rate`` per second;
a minimal REST for the login, the lamp groups and the agent names. No PBX: what is
measured is the browser.

Measured in the page (``window.hotline.metrics``, see cti/console/js/frame.js):

* event-to-paint latency: from the WebSocket message's arrival (``performance.now()``
  in ``onmessage``) to the start of the animation frame *after* the one that drew it,
  by which time that frame has been painted (an upper bound);
* frame time: the interval between consecutive animation frames of a rAF loop that runs
  throughout (a render that blocks the main thread shows as a long frame).

* send-to-paint latency: from the server's timestamp of the event (browser and server
  share this machine's clock) to the same frame; unlike event-to-paint it counts the time
  a message waits in the browser before its handler runs, which is where a page that
  cannot keep up loses its time.

The baseline, same run, same event stream: the same page with ``?render=naive``, which
rebuilds the whole view (lamps, agents, calls, queues, trunks) on every event. At full
size such a render takes longer than the 20 ms between events on a loaded machine, so
the messages queue up in the browser and the page paints the last of them long after
the load has stopped (a 10-s load took a minute to drain with the CPU throttled 4x); the
old fixed 30 s waits then failed the run and the baseline was lost. The baseline phase
has its own, shorter load (``--baseline-duration``, 5 s), a bounded drain (``--drain``)
whose length is reported, and a failure in it is reported without losing the console's
figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from cti.api.bus import EventBus
from cti.api.protocol import ClientError, Command
from cti.api.ws import Connection, Session, WebSocketGateway
from cti.bench.stats import percentile
from cti.center.server import STATIC_DIR
from cti.config import Role

TOKEN: Final = "bench-console-token"
SUPERVISOR: Final = "90001"
CHROMIUM: Final = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium's own connections get refused here and
# slow everything down (the browser tests launch it the same way).
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AGENT_STATES: Final = ("ready", "not_ready", "ringing", "on_call", "wrap_up")
LAMP_STATES: Final = ("idle", "busy", "ringing", "idle", "busy", "unavailable")
QUEUES: Final = ("fault", "complaint", "inquiry", "general", "billing", "outage", "vip", "other")
TARGET_P95_MS: Final = 100.0
SETUP_TIMEOUT_MS: Final = 120_000  # the first render of a naive page on a loaded machine


def _now_iso(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, UTC).isoformat()


class SyntheticCenter:
    """A call center's state and a stream of plausible events in the server's shapes."""

    def __init__(self, extensions: int, agents: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.extensions = [str(10000 + i) for i in range(extensions)]
        self.lamps = {e: self.rng.choice(LAMP_STATES) for e in self.extensions}
        self.agents = {
            str(700000 + i): {
                "agent_id": str(700000 + i),
                "extension": self.extensions[i % extensions],
                "state": self.rng.choice(AGENT_STATES),
                "reason": None,
                "since": _now_iso(time.time() - self.rng.uniform(0, 600)),
                "call_id": None,
            }
            for i in range(agents)
        }
        self.calls: dict[str, dict[str, Any]] = {}
        self.next_call = 1
        self.trunk_busy = {"e1-a": 12, "e1-b": 7}

    def groups(self) -> list[dict[str, Any]]:
        size = 100
        return [
            {"name": f"panel-{i // size + 1:02d}", "extensions": self.extensions[i : i + size]}
            for i in range(0, len(self.extensions), size)
        ]

    def directory(self) -> list[dict[str, Any]]:
        return [
            {"agent_id": a, "name": f"Agent {a}", "extension": v["extension"], "role": "agent"}
            for a, v in self.agents.items()
        ]

    def queue_stats(self, name: str) -> dict[str, Any]:
        waiting = sum(
            1 for c in self.calls.values() if c["queue"] == name and c["state"] == "queued"
        )
        return {
            "queue": name,
            "waiting": waiting,
            "longest_wait_s": round(self.rng.uniform(0, 90), 1) if waiting else 0.0,
            "agents_ready": self.rng.randrange(0, 40),
            "agents_busy": self.rng.randrange(0, 60),
            "answered": self.rng.randrange(0, 5000),
            "abandoned": self.rng.randrange(0, 300),
            "service_level": round(self.rng.uniform(0.6, 1.0), 4),
            "service_level_target": 0.8,
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "agents": list(self.agents.values()),
            "calls": [
                {k: c[k] for k in ("call_id", "caller", "queue", "agent_id", "state", "since")}
                for c in self.calls.values()
            ],
            "queues": [self.queue_stats(q) for q in QUEUES],
            "trunks": [{"trunk": t, "busy": b, "capacity": 30} for t, b in self.trunk_busy.items()],
            "extensions": [{"extension": e, "state": s} for e, s in self.lamps.items()],
            "pbx": {"state": "up"},
        }

    def next_event(self) -> tuple[str, dict[str, Any], tuple[str, ...]]:
        r = self.rng.random()
        data: dict[str, Any]
        if r < 0.45:
            ext = self.rng.choice(self.extensions)
            self.lamps[ext] = self.rng.choice(LAMP_STATES)
            return "extension.state", {"extension": ext, "state": self.lamps[ext]}, ("extensions",)
        if r < 0.75:
            agent = self.agents[self.rng.choice(list(self.agents))]
            agent["state"] = self.rng.choice(AGENT_STATES)
            agent["reason"] = "break" if agent["state"] == "not_ready" else None
            agent["since"] = _now_iso()
            data = {k: agent[k] for k in ("agent_id", "extension", "state", "reason", "since")}
            return "agent.state", data, ("agents",)
        if r < 0.92:
            return self._call_event()
        if r < 0.97:
            return "queue.stats", self.queue_stats(self.rng.choice(QUEUES)), ("queues",)
        trunk = self.rng.choice(list(self.trunk_busy))
        self.trunk_busy[trunk] = max(0, min(30, self.trunk_busy[trunk] + self.rng.choice((-1, 1))))
        data = {"trunk": trunk, "busy": self.trunk_busy[trunk], "capacity": 30}
        return "trunk.stats", data, ("trunks",)

    def _call_event(self) -> tuple[str, dict[str, Any], tuple[str, ...]]:
        # Keep about a hundred live calls: new ones queue, then ring, talk and end.
        data: dict[str, Any]
        call: dict[str, Any]
        if len(self.calls) < 100 and (not self.calls or self.rng.random() < 0.4):
            call_id = f"{1795300000 + self.next_call}.{self.next_call}"
            self.next_call += 1
            call = {
                "call_id": call_id,
                "caller": f"021555{self.rng.randrange(10000):04d}",
                "queue": self.rng.choice(QUEUES),
                "agent_id": None,
                "state": "queued",
                "since": _now_iso(),
            }
            self.calls[call_id] = call
            data = {k: call[k] for k in ("call_id", "caller", "queue")} | {"position": 1}
            return "call.queued", data, ("calls",)
        call = self.calls[self.rng.choice(list(self.calls))]
        if call["state"] == "queued":
            agent = self.agents[self.rng.choice(list(self.agents))]
            call.update(state="ringing", agent_id=agent["agent_id"])
            data = {
                "call_id": call["call_id"],
                "agent_id": agent["agent_id"],
                "extension": agent["extension"],
                "caller": call["caller"],
                "caller_name": "",
                "queue": call["queue"],
                "customer": None,
                "history": [],
            }
            return "call.ringing", data, ("calls",)
        if call["state"] == "ringing":
            call["state"] = "talking"
            return (
                "call.answered",
                {"call_id": call["call_id"], "agent_id": call["agent_id"]},
                ("calls",),
            )
        del self.calls[call["call_id"]]
        data = {
            "call_id": call["call_id"],
            "cause": "normal_clearing",
            "wait_s": 3.0,
            "talk_s": 60.0,
        }
        return "call.ended", data, ("calls",)


class SyntheticServer:
    """The console's files, the real WebSocket endpoint, a minimal REST."""

    def __init__(self, center: SyntheticCenter) -> None:
        self.center = center
        self.bus = EventBus()
        self.gateway = WebSocketGateway(self.bus, self._authenticate, self._execute, self._snapshot)
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws", self.gateway.handle)
        app.router.add_post("/api/login", self._login)
        app.router.add_get("/api/groups", self._groups)
        app.router.add_get("/api/agents", self._agents)
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC_DIR)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def _login(self, request: web.Request) -> web.Response:
        return web.json_response({"token": TOKEN, "role": "supervisor", "agent_id": SUPERVISOR})

    async def _groups(self, request: web.Request) -> web.Response:
        return web.json_response({"items": self.center.groups()})

    async def _agents(self, request: web.Request) -> web.Response:
        return web.json_response({"items": self.center.directory()})

    async def _authenticate(self, params: Mapping[str, Any], address: str) -> Session:
        if params.get("token") != TOKEN:
            raise ClientError("unauthenticated", "invalid token")
        return Session(SUPERVISOR, Role.SUPERVISOR, "9001", {"state": "not_ready"})

    async def _execute(self, conn: Connection, command: Command) -> Mapping[str, Any]:
        raise ClientError("invalid_state", "the benchmark has no PBX")

    async def _snapshot(self, conn: Connection, topics: frozenset[str]) -> Mapping[str, Any]:
        return self.center.snapshot()

    def publish_one(self) -> None:
        event, data, topics = self.center.next_event()
        self.bus.publish(event, data, _now_iso(), topics)

    async def load(self, rate: float, seconds: float, rng: random.Random) -> int:
        """Poisson arrivals at ``rate`` per second for ``seconds``; returns how many."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        due = loop.time()
        sent = 0
        while True:
            due += rng.expovariate(rate)
            if due >= end:
                return sent
            await asyncio.sleep(max(0.0, due - loop.time()))
            self.publish_one()
            sent += 1


def _summary(values: list[float]) -> dict[str, float | int]:
    return {
        "n": len(values),
        "p50": round(percentile(values, 0.50), 1),
        "p95": round(percentile(values, 0.95), 1),
        "p99": round(percentile(values, 0.99), 1),
        "max": round(max(values), 1) if values else float("nan"),
    }


async def measure(
    page: Any,
    server: SyntheticServer,
    url: str,
    args: argparse.Namespace,
    seconds: float,
) -> dict[str, Any]:
    """One page under ``args.rate`` events/s for ``seconds``, then up to ``args.drain``
    seconds for the page to paint the events it has queued."""
    from playwright.async_api import TimeoutError as PageTimeout  # noqa: PLC0415

    await page.goto(url)
    await page.fill("#login-agent", SUPERVISOR)
    await page.fill("#login-password", "bench")
    await page.click("#login-submit")
    await page.wait_for_selector("#conn[data-state=connected]", timeout=SETUP_TIMEOUT_MS)
    expected = len(server.center.extensions)
    await page.wait_for_function(
        f"() => document.querySelectorAll('#lamp-groups button.lamp').length >= {expected}",
        timeout=SETUP_TIMEOUT_MS,
    )
    await page.wait_for_function(
        "() => document.querySelectorAll('#agents tbody tr').length >= "
        f"{len(server.center.agents)}",
        timeout=SETUP_TIMEOUT_MS,
    )
    await asyncio.sleep(1.0)  # let the first big render settle
    await page.evaluate(
        "() => { window.hotline.metrics.reset(); window.hotline.frameMeter(true); }"
    )
    sent = await server.load(args.rate, seconds, random.Random(args.seed))
    loaded = time.time()
    # The last events' frames: a page that could not keep up paints them late (and,
    # busy with its backlog, answers only between two of its messages).
    with contextlib.suppress(PageTimeout):
        await page.wait_for_function(
            f"() => window.hotline.metrics.latency.values.length >= {sent}",
            timeout=args.drain * 1000,
        )
    async with asyncio.timeout(args.drain + 60):
        raw = await page.evaluate(
            "() => { window.hotline.frameMeter(false); const m = window.hotline.metrics;"
            " return {latency: m.latency.values, send: m.sendToPaint.values,"
            " frames: m.frames.values, events: m.events, last: m.lastPaintAt}; }"
        )
    # From the end of the load to the page's last paint (the same wall clock).
    drained = len(raw["latency"]) >= sent and raw["last"] is not None
    drain_s = round(max(0.0, raw["last"] / 1000 - loaded), 2) if drained else None
    return {
        "duration_s": seconds,
        "events_sent": sent,
        "events_received": raw["events"],
        "events_painted": len(raw["latency"]),
        "drain_s": drain_s,
        "event_to_paint_ms": _summary(raw["latency"]),
        "send_to_paint_ms": _summary(raw["send"]),
        "frame_ms": _summary(raw["frames"]),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import TimeoutError as PageTimeout  # noqa: PLC0415
    from playwright.async_api import async_playwright  # noqa: PLC0415 - a test extra

    center = SyntheticCenter(args.extensions, args.agents, args.seed)
    server = SyntheticServer(center)
    await server.start()
    base = f"http://127.0.0.1:{server.port}/?lang=en"
    result: dict[str, Any] = {
        "extensions": args.extensions,
        "agents": args.agents,
        "rate_per_s": args.rate,
        "duration_s": args.duration,
        "baseline_duration_s": args.baseline_duration,
        "target_p95_ms": TARGET_P95_MS,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    try:
        async with async_playwright() as p:
            with tempfile.TemporaryDirectory(prefix="hotline-bench-console-") as profile:
                browser = await p.chromium.launch_persistent_context(
                    profile,
                    executable_path=CHROMIUM,
                    args=list(CHROMIUM_ARGS),
                    headless=True,
                    viewport={"width": 1600, "height": 1000},
                )
                try:
                    phases = (
                        ("console", base, args.duration),
                        ("baseline", base + "&render=naive", args.baseline_duration),
                    )
                    for name, url, seconds in phases:
                        if not args.json:
                            print(
                                f"{name}: {args.rate:g} events/s for {seconds:g} s ...",
                                flush=True,
                            )
                        page = await browser.new_page()
                        # A fresh center per page: both see the same state and event stream.
                        server.center = SyntheticCenter(args.extensions, args.agents, args.seed)
                        try:
                            result[name] = await measure(page, server, url, args, seconds)
                        except (TimeoutError, PageTimeout) as error:
                            if name == "console":
                                raise
                            # The reference only: say what happened, keep the console's.
                            result[name] = {"duration_s": seconds, "error": repr(error)}
                        await page.close()
                finally:
                    await browser.close()
    finally:
        await server.stop()
    console = result["console"]
    result["met"] = (
        console["event_to_paint_ms"]["p95"] <= TARGET_P95_MS
        and console["frame_ms"]["p95"] <= TARGET_P95_MS
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hotline bench console", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--extensions", type=int, default=1000, help="lamps on screen (1000)")
    parser.add_argument("--agents", type=int, default=500, help="agents on screen (500)")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second (50)")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds of load on the console (20)"
    )
    parser.add_argument(
        "--baseline-duration",
        type=float,
        default=5.0,
        help="seconds of load on the naive baseline (5): it falls behind, so keep it short",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=60.0,
        help="at most this many seconds after the load for a page to paint its backlog (60)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="quiet; print one JSON object")
    args = parser.parse_args(argv)
    if args.extensions < 1 or args.agents < 1 or args.rate <= 0 or args.duration <= 0:
        parser.error("--extensions, --agents, --rate and --duration must be positive")
    if args.baseline_duration <= 0 or args.drain <= 0:
        parser.error("--baseline-duration and --drain must be positive")
    if not os.path.exists(CHROMIUM):
        print(
            f"hotline bench console: {CHROMIUM} is missing (apt-get install -y chromium)",
            file=sys.stderr,
        )
        return 2
    try:
        import playwright  # noqa: F401, PLC0415 - a test extra
    except ModuleNotFoundError:
        print("hotline bench console: needs playwright (pip install -e '.[test]')", file=sys.stderr)
        return 2
    result = asyncio.run(run(args))
    if not args.json:
        for name in ("console", "baseline"):
            r = result[name]
            if "error" in r:
                print(f"{name:9} not measured: {r['error']}")
                continue
            lat, snd, fr = r["event_to_paint_ms"], r["send_to_paint_ms"], r["frame_ms"]
            drain = "not drained" if r["drain_s"] is None else f"drained {r['drain_s']} s after"
            print(
                f"{name:9} event-to-paint p50/p95/p99 {lat['p50']}/{lat['p95']}/{lat['p99']} ms, "
                f"send-to-paint {snd['p50']}/{snd['p95']}/{snd['p99']} ms, "
                f"frame p50/p95/p99 {fr['p50']}/{fr['p95']}/{fr['p99']} ms, "
                f"{r['events_painted']}/{r['events_sent']} events painted ({drain}), "
                f"{r['duration_s']:g} s load"
            )
    print(json.dumps(result))
    return 0
