"""``hotline bench supervisor``: round trip of the supervisor commands barge-in and force
release, over WebSocket against pbx_sim.

One process: pbx_sim (agent phones that answer in 50 ms, the supervisor's headset that
answers at once), the Hotline server and two WebSocket clients (supervisor 90001 at 9001,
agent 80001 at 8001). For each of ``--calls`` trunk calls the agent answers, then the
supervisor sends ``call.barge`` and, once ChanSpy spies, ``call.release``. Measured from
the moment the command frame is sent:

* **reply**: the command's reply is read (Hotline has checked role and priority, sent the
  AMI action and had its response);
* **event**: ``call.monitored`` ``started`` (the ChanSpy channel spies) for barge, and
  ``call.ended`` for release. These include pbx_sim's simulated times (ChanSpy starts
  spying 0.1 s after it is entered, as in transcript 05a).

Baseline, same run, same calls: a bare AMI client on the same pbx_sim sends the same
``Originate`` (ChanSpy) and ``Hangup`` actions itself and times the ``Response`` and the
``ChanSpyStart`` / ``Hangup`` events: the floor any CTI shares. The server shares this
process (and its event loop) with pbx_sim and the clients, so the figures include their
work too.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import aiohttp

from cti.ami.codec import AMIDecoder, Message, encode_action
from cti.bench.stats import percentile
from cti.center.server import Endpoint, HotlineServer
from cti.config import demo_config
from cti.logging import configure_logging
from cti.store import Store
from cti.store.passwords import ScryptParams
from pbx_sim.cli import build_parser
from pbx_sim.cli import start as start_sim
from pbx_sim.model import UP
from pbx_sim.phones import PhoneBehaviour

PASSWORD: Final = "bench-password"
AGENT, AGENT_EXT = "80001", "8001"
SUPERVISOR, SUPERVISOR_EXT = "90001", "9001"
TIMEOUT_S: Final = 10.0


class WsClient:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def send(self, op: str, **params: Any) -> int:
        n = next(self.ids)
        await self.ws.send_str(json.dumps({"op": op, "id": n, **params}))
        return n

    async def reply(self, n: int) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                msg = json.loads(await self.ws.receive_str())
                msg["_t"] = time.perf_counter()
                if msg["type"] == "reply" and msg["id"] == n:
                    if not msg["ok"]:
                        raise RuntimeError(f"command {n} refused: {msg['error']}")
                    return msg  # type: ignore[no-any-return]
                self.events.append(msg)

    async def ask(self, op: str, **params: Any) -> dict[str, Any]:
        return await self.reply(await self.send(op, **params))

    async def event(self, name: str, **match: Any) -> float:
        """The time the first matching event (already read or next) was read."""

        def fits(msg: dict[str, Any]) -> bool:
            return msg.get("event") == name and all(
                msg["data"].get(k) == v for k, v in match.items()
            )

        for msg in self.events:
            if fits(msg):
                self.events.remove(msg)
                return float(msg["_t"])
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                msg = json.loads(await self.ws.receive_str())
                t = time.perf_counter()
                if fits(msg):
                    return t
                msg["_t"] = t
                self.events.append(msg)


class RawAMI:
    """The baseline: a bare AMI client timing responses and events itself."""

    def __init__(self) -> None:
        self.responses: dict[str, asyncio.Future[float]] = {}
        self.waiters: list[tuple[Callable[[Message], bool], asyncio.Future[float]]] = []
        self.ids = itertools.count(1)
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self, port: int, user: str, secret: str) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.task = asyncio.create_task(self._read(reader))
        await self.action("Login", [("Username", user), ("Secret", secret)])

    async def _read(self, reader: asyncio.StreamReader) -> None:
        decoder = AMIDecoder()
        while data := await reader.read(65536):
            now = time.perf_counter()
            decoder.feed(data)
            for msg in decoder.messages():
                fut = self.responses.pop(msg.get("ActionID") or "", None)
                if fut is not None and msg.event is None and not fut.done():
                    fut.set_result(now)
                for check, waiter in list(self.waiters):
                    if not waiter.done() and check(msg):
                        waiter.set_result(now)
                        self.waiters.remove((check, waiter))

    def expect(self, check: Callable[[Message], bool]) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters.append((check, fut))
        return fut

    async def action(self, name: str, headers: list[tuple[str, str]]) -> float:
        assert self.writer is not None
        action_id = f"b{next(self.ids)}"
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.responses[action_id] = fut
        self.writer.write(encode_action(name, action_id, headers))
        async with asyncio.timeout(TIMEOUT_S):
            return await fut

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.task is not None:
            self.task.cancel()


def _ms(values: list[float]) -> dict[str, Any]:
    return {
        "samples": len(values),
        "p50_ms": round(percentile(values, 0.5), 3),
        "p99_ms": round(percentile(values, 0.99), 3),
        "max_ms": round(max(values), 3) if values else None,
    }


async def run(calls: int, baseline_calls: int) -> dict[str, Any]:
    secret = "bench-" + os.urandom(6).hex()
    tmp = Path(tempfile.mkdtemp(prefix="hotline-bench-supervisor-"))
    args = build_parser().parse_args(
        ["--ami-port", "0", "--ami-user", "hotline", "--ami-secret", secret,
         "--agents", "2", "--answer-delay", "0.05", "--spool-dir", str(tmp / "spool")]
    )  # fmt: skip
    sim = await start_sim(args)
    sim.world.phones.set(SUPERVISOR_EXT, PhoneBehaviour(answer_delay=0.0))
    config = demo_config(ami_secret=secret)
    config = replace(config, store=replace(config.store, path=tmp / "bench.db"))
    store = await Store.open(tmp / "bench.db", password_params=ScryptParams(n=2**4))
    await store.seed_from_config(config, PASSWORD)
    server = HotlineServer(
        config, store, ami=Endpoint("127.0.0.1", sim.port), http=Endpoint("127.0.0.1", 0)
    )
    await server.start()
    await server.link.wait_up(10)
    raw = RawAMI()
    await raw.start(sim.port, "hotline", secret)
    url = f"http://127.0.0.1:{server.http_port}/ws"
    runner = sim.server.runner
    times: dict[str, list[float]] = {k: [] for k in (
        "barge_reply", "barge_event", "release_reply", "release_event",
        "raw_originate_response", "raw_chanspy_start", "raw_hangup_response", "raw_hangup_event",
    )}  # fmt: skip
    try:
        async with aiohttp.ClientSession() as http:
            sup = WsClient(await http.ws_connect(url))
            agent = WsClient(await http.ws_connect(url))
            await sup.ask("login", agent_id=SUPERVISOR, password=PASSWORD, extension=SUPERVISOR_EXT)
            await sup.ask("subscribe", topics=["calls"])
            await agent.ask("login", agent_id=AGENT, password=PASSWORD, extension=AGENT_EXT)
            await agent.ask("agent.ready")

            async def answered_call(n: int) -> str:
                sim.world.trunk_call(runner.now(), "4001", f"02155{n:05d}", "Bench")
                runner.poke()
                await sup.event("call.answered", agent_id=AGENT)
                return _agent_call(server)

            for n in range(calls + baseline_calls):
                call_id = await answered_call(n)
                if n < calls:
                    t0 = time.perf_counter()
                    reply = await sup.send("call.barge", call_id=call_id)
                    await sup.reply(reply)
                    times["barge_reply"].append((time.perf_counter() - t0) * 1000)
                    t_ev = await sup.event("call.monitored", state="started", call_id=call_id)
                    times["barge_event"].append((t_ev - t0) * 1000)
                    t0 = time.perf_counter()
                    reply = await sup.send("call.release", call_id=call_id, reason="bench")
                    await sup.reply(reply)
                    times["release_reply"].append((time.perf_counter() - t0) * 1000)
                    t_ev = await sup.event("call.ended", call_id=call_id)
                    times["release_event"].append((t_ev - t0) * 1000)
                    await sup.event("call.monitored", state="stopped", call_id=call_id)
                else:
                    target = _channel_of(sim, AGENT_EXT)
                    started = raw.expect(lambda m: m.event == "ChanSpyStart")
                    t0 = time.perf_counter()
                    t_resp = await raw.action("Originate", [
                        ("Channel", f"PJSIP/{SUPERVISOR_EXT}"), ("Application", "ChanSpy"),
                        ("Data", f"{target},qdEB"), ("Async", "true"),
                    ])  # fmt: skip
                    times["raw_originate_response"].append((t_resp - t0) * 1000)
                    times["raw_chanspy_start"].append((await started - t0) * 1000)
                    caller = _channel_of(sim, "e1trunk")
                    gone = raw.expect(lambda m, c=caller: m.event == "Hangup"  # type: ignore[misc]
                                      and m.get("Channel") == c)  # fmt: skip
                    t0 = time.perf_counter()
                    t_resp = await raw.action("Hangup", [("Channel", caller), ("Cause", "16")])
                    times["raw_hangup_response"].append((t_resp - t0) * 1000)
                    times["raw_hangup_event"].append((await gone - t0) * 1000)
                    await sup.event("call.ended")
                await agent.ask("agent.wrap_up_done", disposition="other")
                await _idle(sim)
    finally:
        await raw.close()
        await server.stop()
        await sim.close()
        await store.close()
    load = os.getloadavg()
    return {
        "calls": calls,
        "barge": {"reply": _ms(times["barge_reply"]), "chanspy_up": _ms(times["barge_event"])},
        "release": {
            "reply": _ms(times["release_reply"]),
            "call_ended": _ms(times["release_event"]),
        },
        # The target's figure: the worse of the two commands' p99 round trips.
        "p99_ms": round(
            max(percentile(times["barge_reply"], 0.99), percentile(times["release_reply"], 0.99)),
            3,
        ),
        "baseline_raw_ami": {
            "calls": baseline_calls,
            "originate_response": _ms(times["raw_originate_response"]),
            "chanspy_start": _ms(times["raw_chanspy_start"]),
            "hangup_response": _ms(times["raw_hangup_response"]),
            "hangup_event": _ms(times["raw_hangup_event"]),
        },
        "load_average_1m": round(load[0], 2),
    }


def _agent_call(server: HotlineServer) -> str:
    for routed in server.center.calls.values():
        if routed.agent_id == AGENT and routed.answered_at is not None:
            return routed.call_id
    raise RuntimeError("the agent's call is not known to Hotline")


def _channel_of(sim: Any, endpoint: str) -> str:
    for chan in sim.world.channels.values():
        if chan.device_name == f"PJSIP/{endpoint}" and chan.state == UP:
            return str(chan.name)
    raise RuntimeError(f"no live channel of {endpoint}")


async def _idle(sim: Any) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while sim.world.channels:  # noqa: ASYNC110 (pbx_sim's state has no event)
            await asyncio.sleep(0.005)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hotline bench supervisor", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--calls", type=int, default=200, help="calls barged and released")
    parser.add_argument("--baseline-calls", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.baseline_calls < 1:
        parser.error("--calls and --baseline-calls: at least 1")
    configure_logging("warning", "json")
    result = asyncio.run(run(args.calls, args.baseline_calls))
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
