"""One softphone worker process: a :class:`PjEngine` driven over stdin/stdout.

Started by :class:`pbx_sim.sip.pool.WorkerPool` as ``python -m pbx_sim.sip.worker``.
The pjsua2-python wheel allows 4 calls and 8 accounts per process, so softphones are
spread over as many of these as the load needs. Protocol: one JSON object per line.

    parent → worker   {"id": 7, "op": "make_call", "args": {...}}
    worker → parent   {"id": 7, "ok": <result>}  |  {"id": 7, "error": "text"}
                      {"update": {...}}          (RegUpdate / CallUpdate as a dict)
                      {"ready": {"port": 40123}} first, or {"fatal": "text"}

Anything pjsua prints goes to stderr: the protocol has the original stdout to itself.
The worker ends when its stdin closes (hanging up and unregistering first).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from typing import IO, Any

from pbx_sim.sip.engine import CallUpdate, PjEngine, RegUpdate, SoftphoneError


def _writer() -> IO[bytes]:
    """The protocol stream: the original stdout; fd 1 then points at stderr."""
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    return out


class Worker:
    def __init__(self, engine: PjEngine, out: IO[bytes]) -> None:
        self.engine, self.out = engine, out

    def send(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")

    def on_update(self, update: RegUpdate | CallUpdate) -> None:
        kind = "reg" if isinstance(update, RegUpdate) else "call"
        self.send({"update": {"kind": kind, **dataclasses.asdict(update)}})

    async def handle(self, request: dict[str, Any]) -> None:
        rid, op, args = request.get("id"), request.get("op"), request.get("args") or {}
        engine = self.engine
        jobs = {
            "add_account": lambda: engine.add_account(sink=self.on_update, **args),
            "remove_account": lambda: engine.remove_account(**args),
            "make_call": lambda: engine.make_call(
                args["account"], args["uri"], dict(args.get("headers") or {})
            ),
            "answer": lambda: engine.answer(args["call"], args["code"]),
            "hangup": lambda: engine.hangup(args["call"], args["code"]),
            "hold": lambda: engine.hold(args["call"]),
            "unhold": lambda: engine.unhold(args["call"]),
            "dtmf": lambda: engine.dial_dtmf(args["call"], args["digits"]),
            "call_count": engine.call_count,
        }
        job = jobs.get(str(op))
        if job is None:
            self.send({"id": rid, "error": f"unknown operation {op!r}"})
            return
        try:
            result = await engine.run(job)
        except (SoftphoneError, KeyError, TypeError, ValueError) as error:
            self.send({"id": rid, "error": str(error) or type(error).__name__})
        else:
            self.send({"id": rid, "ok": result})


async def serve(args: argparse.Namespace) -> int:
    out = _writer()
    engine = PjEngine(bind_host=args.bind_host, log_level=args.log_level)
    worker = Worker(engine, out)
    engine.on_error = lambda text: print(f"softphone worker: {text}", file=sys.stderr)
    try:
        await engine.start()
    except SoftphoneError as error:
        worker.send({"fatal": str(error)})
        return 1
    worker.send({"ready": {"port": engine.local_port, "pid": os.getpid()}})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[None]] = set()
    try:
        while line := await reader.readline():
            try:
                request = json.loads(line)
            except ValueError:
                worker.send({"id": None, "error": "bad request line"})
                continue
            task = asyncio.create_task(worker.handle(request))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        await engine.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pbx_sim.sip.worker")
    parser.add_argument("--bind-host", default="127.0.0.1")
    parser.add_argument("--log-level", type=int, default=0)
    return asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
