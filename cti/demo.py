"""``hotline demo``: the whole call center on the embedded PBX simulator.

pbx_sim plays Asterisk (AMI on 127.0.0.1, the Hotline dialplan, agent phones that
answer), the Hotline server connects to it over AMI as it would to Asterisk, serves the
WebSocket, REST and web console, and keeps its records in ``var/demo/hotline.db``.
Simulated callers dial the E1 trunk's numbers (Poisson arrivals, exponential talk
times and patience); simulated agents 80001–80012 log in over the WebSocket like any
desktop, go ready, wrap up with a disposition and take breaks. Agent 80000 (extension
8000) is left for a person, supervisor 90001 (extension 9001) too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import signal
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import aiohttp

from cti.asterisk.errors import AsteriskError
from cti.center.server import Endpoint, HotlineServer
from cti.config import AgentConfig, Config, demo_config
from cti.logging import configure_logging
from cti.store import Store
from ivr.sim import connect_sim
from pbx_sim.cli import SimHandle, build_parser
from pbx_sim.cli import start as start_sim
from pbx_sim.phones import PhoneBehaviour

PERSON_AGENT: Final = "80000"
PERSON_EXTENSION: Final = "8000"
SUPERVISOR: Final = "90001"
DISPOSITIONS: Final = ("fault", "complaint", "inquiry", "other")
DEMO_SECRET_BYTES: Final = 12


@dataclass
class Tally:
    offered: int = 0
    blocked: int = 0
    events: Counter[str] = field(default_factory=Counter)


class Callers:
    """Simulated customers on the carrier trunk."""

    def __init__(self, sim: SimHandle, server: HotlineServer, args: argparse.Namespace) -> None:
        self.sim, self.server, self.args = sim, server, args
        self.rng = random.Random(args.seed)
        self.tally = Tally()
        self.numbers = list(server.config.trunks[0].routes) if server.config.trunks else ["4000"]
        self._answered: set[str] = set()
        server.bus.set_topics(server.bus.subscribe(self._on_event, None), {"calls"})

    def _on_event(self, frame: bytes, _urgency: int) -> None:
        event = json.loads(frame)
        self.tally.events[event["event"]] += 1
        if event["event"] == "call.answered":
            call_id = event["data"]["call_id"]
            routed = self.server.center.calls.get(call_id)
            if routed is not None and call_id not in self._answered:
                self._answered.add(call_id)
                talk = self.rng.expovariate(1.0 / self.args.hold)
                asyncio.get_running_loop().call_later(talk, self._hang_up, routed.channel)

    def _hang_up(self, channel: str) -> None:
        world, runner = self.sim.world, self.sim.server.runner
        chan = world.channels.get(channel)
        if chan is not None:
            world.hangup(runner.now(), channel)
            runner.poke()

    async def run(self) -> None:
        rate = self.args.rate / 60.0
        n = 0
        while True:
            await asyncio.sleep(self.rng.expovariate(rate))
            n += 1
            number = f"021555{self.rng.randrange(10000):04d}"
            runner = self.sim.server.runner
            call = self.sim.world.trunk_call(
                runner.now(), self.rng.choice(self.numbers), number, f"Caller {n}"
            )
            runner.poke()
            self.tally.offered += 1
            if call.admitted and self.server.ivr is not None:
                # 4000 has the main menu (ivr/demo.py): faults, complaints or inquiries
                key = self.rng.choice("123")
                asyncio.get_running_loop().call_later(0.5, self._press, call.channel, key)
            if not call.admitted:
                self.tally.blocked += 1
                continue
            patience = self.rng.expovariate(1.0 / self.args.patience)
            asyncio.get_running_loop().call_later(patience, self._abandon, call.channel)

    def _press(self, channel: str, digits: str) -> None:
        world, runner = self.sim.world, self.sim.server.runner
        if channel in world.channels:
            world.send_dtmf(runner.now(), channel, digits)
            runner.poke()

    def _abandon(self, channel: str) -> None:
        call = self.server.model.call_of(channel)
        if call is not None and call.answered_at is None:
            self._hang_up(channel)


class AgentBot:
    """A simulated agent: a WebSocket client like any agent desktop."""

    def __init__(self, url: str, agent_id: str, extension: str, password: str, seed: int) -> None:
        self.url, self.agent_id, self.extension, self.password = url, agent_id, extension, password
        self.rng = random.Random(seed)
        self._n = 0
        self._tasks: set[asyncio.Future[Any]] = set()

    async def run(self) -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(self.url) as ws:
            await self._send(ws, "login", agent_id=self.agent_id, password=self.password,
                             extension=self.extension)  # fmt: skip
            await self._send(ws, "agent.ready")
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                if frame.get("type") != "event" or frame["event"] != "agent.state":
                    continue
                state = frame["data"]["state"]
                if state == "wrap_up":
                    self._later(ws, self.rng.uniform(2.0, 8.0), self._wrap_up, ws)
                elif state == "not_ready":
                    self._later(ws, self.rng.uniform(10.0, 30.0), self._send, ws, "agent.ready")

    def _later(
        self, ws: aiohttp.ClientWebSocketResponse, delay: float, fn: Any, *args: Any
    ) -> None:
        def fire() -> None:
            if not ws.closed:
                task = asyncio.ensure_future(fn(*args))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        asyncio.get_running_loop().call_later(delay, fire)

    async def _wrap_up(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        disposition = self.rng.choice(DISPOSITIONS)
        await self._send(ws, "agent.wrap_up_done", disposition=disposition,
                         resolved=self.rng.random() < 0.8)  # fmt: skip
        if self.rng.random() < 0.05:
            await self._send(ws, "agent.not_ready", reason="break")

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, op: str, **params: Any) -> None:
        self._n += 1
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(json.dumps({"op": op, "id": self._n, **params}))


async def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    password = args.demo_password or secrets.token_urlsafe(DEMO_SECRET_BYTES)
    ami_secret = secrets.token_urlsafe(DEMO_SECRET_BYTES)
    config: Config = demo_config(ami_secret=ami_secret, ivr=True)
    recordings = Path(args.var) / "recordings"  # recorder/: with the demo's other files
    config = replace(config, store=replace(config.store, recordings_dir=recordings))
    simulated = [
        a for a in config.agents if a.role == "agent" and a.agent_id != PERSON_AGENT and a.extension
    ]
    if args.agents is not None:
        simulated = simulated[: args.agents]
    sim_args = build_parser().parse_args(
        [
            "--ami-port", "0", "--ami-user", config.ami.username, f"--ami-secret={ami_secret}",
            "--agents", str(len(simulated)), "--answer-delay", str(args.answer_delay),
            "--spool-dir", str(Path(args.var) / "spool"),
        ]
    )  # fmt: skip
    sim = await start_sim(sim_args)
    if args.person_answer_delay >= 0:
        # pbx_sim has no SIP for a person's softphone: 8000's phone is simulated and
        # answers like a person would, so the agent desktop can take calls in the demo.
        sim.world.phones.add(
            PERSON_EXTENSION,
            PhoneBehaviour(answer_delay=args.person_answer_delay),
            now=sim.server.runner.now(),
        )
        sim.server.runner.poke()
    store = await Store.open(Path(args.var) / "hotline.db")
    await store.seed_from_config(config, password, reset_passwords=True)
    server = HotlineServer(
        config,
        store,
        ami=Endpoint("127.0.0.1", sim.port),
        http=Endpoint(config.server.listen, args.http_port),
        agi=Endpoint("127.0.0.1", 0),  # the embedded PBX is told the port (ivr/sim.py)
    )
    tasks: list[asyncio.Task[Any]] = []
    try:
        await server.start()
        await server.link.wait_up(10)
        if server.ivr is not None:
            connect_sim(sim, "127.0.0.1", server.ivr.port)
        base = f"http://{config.server.listen}:{server.http_port}"
        if not args.json:
            print(
                f"Hotline demo is running (Ctrl-C stops).\n"
                f"  web console   {base}/\n"
                f"  WebSocket     ws://{config.server.listen}:{server.http_port}/ws\n"
                f"  REST          {base}/api\n"
                f"  PBX (pbx_sim) AMI on 127.0.0.1:{sim.port}\n"
                f"Accounts, all with password {password}:\n"
                f"  {simulated_text(simulated)};\n"
                f"  agent 80000 (extension 8000) is yours; supervisor 90001 (extension 9001).",
                flush=True,
            )
        callers = Callers(sim, server, args)
        tasks.append(asyncio.create_task(callers.run()))
        url = f"ws://127.0.0.1:{server.http_port}/ws"
        for i, agent in enumerate(simulated):
            assert agent.extension is not None
            bot = AgentBot(url, agent.agent_id, agent.extension, password, args.seed + i)
            tasks.append(asyncio.create_task(bot.run()))
        return await run_until_stopped(server, callers.tally, args)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.stop()
        await sim.close()
        await store.close()


def simulated_text(simulated: list[AgentConfig]) -> str:
    if not simulated:
        return "no agents are simulated"
    first, last = simulated[0], simulated[-1]
    return (
        f"agents {first.agent_id}-{last.agent_id} (extensions {first.extension}-"
        f"{last.extension}) are simulated"
    )


async def run_until_stopped(
    server: HotlineServer, tally: Tally, args: argparse.Namespace
) -> dict[str, Any]:
    """Print a status line every ``args.every`` seconds until Ctrl-C, SIGTERM or
    ``args.duration``; the summary of the run (both PBXs' demos end this way)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.every)
        elapsed = time.monotonic() - started
        if not args.json:
            print(status_line(server, tally, elapsed), flush=True)
        if args.duration is not None and elapsed >= args.duration:
            break
    return summary(server, tally, time.monotonic() - started)


def status_line(server: HotlineServer, tally: Tally, elapsed: float) -> str:
    s = summary(server, tally, elapsed)
    return (
        f"t={elapsed:5.0f}s  trunk {s['trunk_busy']}/{s['trunk_capacity']}  "
        f"offered {s['offered']}  answered {s['answered']}  abandoned {s['abandoned']}  "
        f"blocked {s['blocked']}  waiting {s['waiting']}  agents {s['agents']}"
    )


def summary(server: HotlineServer, tally: Tally, elapsed: float) -> dict[str, Any]:
    center = server.center
    states = Counter(v.state.value for v in center.acd.agents())
    events = tally.events
    waiting = sum(center.acd.queue_stats(q, time.time()).waiting for q in center.acd.queue_names())
    trunk = server.config.trunks[0] if server.config.trunks else None
    return {
        "elapsed_s": round(elapsed, 1),
        "offered": tally.offered,
        "blocked": tally.blocked,
        "queued": events["call.queued"],
        "answered": events["call.answered"],
        "abandoned": events["call.abandoned"],
        "ended": events["call.ended"],
        "waiting": waiting,
        "trunk_busy": center.trunk_busy(),
        "trunk_capacity": trunk.channels if trunk else 0,
        "agents": dict(sorted(states.items())),
        "pbx_action_errors": server.stats["pbx_action_errors"],
    }


def _on_asterisk(args: argparse.Namespace) -> dict[str, Any]:
    """The demo on a real Asterisk (cti/asterisk/demo.py). The HTTP socket is made here,
    in the host's network namespace, before Asterisk's private one is joined."""
    # here, not at the top: cti.asterisk.demo imports this module's AgentBot and summary
    from cti.asterisk.demo import run_demo as run_on_asterisk  # noqa: PLC0415

    with socket.create_server((demo_config().server.listen, args.http_port)) as http_sock:
        return asyncio.run(run_on_asterisk(args, http_sock))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline demo", description=__doc__.split("\n")[0])
    parser.add_argument("--http-port", type=int, default=8080, help="HTTP port (default 8080)")
    parser.add_argument("--demo-password", help="password of every demo account (default: random)")
    parser.add_argument("--pbx", choices=["sim", "asterisk"], default="sim")
    parser.add_argument("--rate", type=float, default=9.0, help="calls per minute (default 9)")
    parser.add_argument("--hold", type=float, default=60.0, help="mean talk time, s (60)")
    parser.add_argument("--patience", type=float, default=120.0, help="mean patience, s (120)")
    parser.add_argument("--answer-delay", type=float, default=2.0, help="agents' ring time, s")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument(
        "--agents", type=int, help="how many simulated agents (default: all 12 of the demo)"
    )
    parser.add_argument(
        "--person-answer-delay",
        type=float,
        default=3.0,
        help="extension 8000's simulated phone answers after this many s (3); "
        "negative: leave 8000 unregistered",
    )
    parser.add_argument("--every", type=float, default=5.0, help="status line period, s")
    parser.add_argument("--var", default="var/demo", help="where the demo keeps its files")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="quiet; print a summary at the end")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.hold <= 0 or args.patience <= 0 or args.answer_delay < 0:
        parser.error("--rate, --hold and --patience must be > 0, --answer-delay >= 0")
    if args.agents is not None and args.agents < 0:
        parser.error("--agents must be >= 0")
    configure_logging("warning" if not args.json else "error", "console")
    try:
        result = _on_asterisk(args) if args.pbx == "asterisk" else asyncio.run(run_demo(args))
    except AsteriskError as error:
        print(f"hotline demo: {error.line()}", file=sys.stderr)
        return 2
    except OSError as error:
        print(
            f"hotline demo: cannot listen on port {args.http_port}: {error.strerror}; "
            "choose another with --http-port",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(result))
    return 0
