"""Softphone worker processes, started on demand, and the routing of requests to them.

The pjsua2-python wheel is built with pjsua's defaults: at most 4 calls and 8 accounts
per process (``uaConfig.maxCalls`` above 4 is silently capped; a 9th account aborts the
process). A call center needs dozens of each, so every pjsua2 endpoint lives in its own
worker process (worker.py) and this pool places accounts and calls on them: agents a
few per worker (each may have a call plus one ringing), carrier calls four per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
from collections.abc import Callable
from typing import Any

from pbx_sim.sip import sipmsg
from pbx_sim.sip.engine import MAX_ACCOUNTS, MAX_CALLS, CallUpdate, RegUpdate, SoftphoneError

START_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
# Global call keys: worker index * CALL_KEY_SPACE + the worker's own key.
CALL_KEY_SPACE = 1_000_000

Sink = Callable[[RegUpdate | CallUpdate], None]


class Worker:
    """The parent's handle on one worker process."""

    def __init__(self, pool: WorkerPool, index: int, process: asyncio.subprocess.Process):
        self.pool, self.index, self.process = pool, index, process
        self.port = 0
        self.pid = process.pid
        self.accounts: set[int] = set()
        self.agents = 0  # agent accounts here, plus places reserved for registrations
        self.calls = 0  # live calls, plus slots reserved for calls being placed
        self.trunk_accounts: dict[str, int] = {}  # carrier username -> account key here
        self.closed = False
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def wait_ready(self) -> None:
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            raise SoftphoneError(
                f"softphone worker {self.index} did not start within {START_TIMEOUT_S:.0f} s"
            ) from None
        if not line:
            raise SoftphoneError(f"softphone worker {self.index} exited at start")
        message = json.loads(line)
        if "ready" not in message:
            raise SoftphoneError(f"softphone worker {self.index}: {message.get('fatal')}")
        self.port = int(message["ready"]["port"])
        self._reader = asyncio.create_task(self._read(), name=f"softphone-worker-{self.index}")

    async def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            while line := await self.process.stdout.readline():
                message = json.loads(line)
                if "update" in message:
                    self.pool._dispatch(self, message["update"])
                    continue
                future = self._pending.pop(message.get("id"), None)
                if future is None or future.done():
                    continue
                if "error" in message:
                    future.set_exception(SoftphoneError(message["error"]))
                else:
                    future.set_result(message.get("ok"))
        finally:
            self.closed = True
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        SoftphoneError(f"softphone worker {self.index} (PID {self.pid}) ended")
                    )
            self._pending.clear()
            if not self.pool.closing:
                self.pool.errors.append(f"softphone worker {self.index} (PID {self.pid}) ended")

    async def request(self, op: str, **args: Any) -> Any:
        if self.closed or self.process.stdin is None:
            raise SoftphoneError(f"softphone worker {self.index} has ended")
        rid = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        line = json.dumps({"id": rid, "op": op, "args": args}, ensure_ascii=False)
        self.process.stdin.write(line.encode() + b"\n")
        try:
            return await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        except TimeoutError:
            raise SoftphoneError(
                f"softphone worker {self.index}: no answer to {op} within {REQUEST_TIMEOUT_S:.0f} s"
            ) from None
        finally:
            self._pending.pop(rid, None)

    async def stop(self) -> None:
        process = self.process
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


class WorkerPool:
    """Starts workers as needed; routes requests and updates by account and call key."""

    def __init__(
        self,
        *,
        bind_host: str = "127.0.0.1",
        agents_per_worker: int = 2,
        max_workers: int = 64,
        log_level: int = 0,
    ) -> None:
        if not 1 <= agents_per_worker <= MAX_ACCOUNTS:
            raise ValueError(f"agents_per_worker must be 1..{MAX_ACCOUNTS}")
        self.bind_host, self.log_level = bind_host, log_level
        self.agents_per_worker, self.max_workers = agents_per_worker, max_workers
        self.workers: list[Worker] = []
        self.errors: list[str] = []
        self.closing = False
        self._sinks: dict[int, tuple[Worker, Sink]] = {}  # account key -> (worker, sink)
        self._account_keys = itertools.count(1)
        self._spawn_lock = asyncio.Lock()

    # -- workers ---------------------------------------------------------------------------

    async def _spawn(self) -> Worker:
        if len(self.workers) >= self.max_workers:
            raise SoftphoneError(
                f"softphone worker limit reached ({self.max_workers} processes, "
                f"{MAX_CALLS} calls each)"
            )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pbx_sim.sip.worker",
            "--bind-host", self.bind_host, "--log-level", str(self.log_level),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        worker = Worker(self, len(self.workers), process)
        self.workers.append(worker)
        try:
            await worker.wait_ready()
        except BaseException:
            await worker.stop()
            raise
        return worker

    async def worker_for_agent(self) -> Worker:
        """A worker with room for one more agent account (started if none)."""
        async with self._spawn_lock:
            for worker in self.workers:
                if not worker.closed and not worker.trunk_accounts and (
                    worker.agents < self.agents_per_worker
                ):
                    worker.agents += 1
                    return worker
            worker = await self._spawn()
            worker.agents += 1
            return worker

    def release_agent(self, worker: Worker) -> None:
        worker.agents = max(0, worker.agents - 1)

    async def reserve_trunk_slot(
        self, username: str, password: str, *, host: str, port: int, display_name: str,
        sink: Sink,
    ) -> tuple[Worker, int]:
        """A worker with a free call slot for carrier ``username``, the slot taken
        (``release_slot`` gives it back), and the carrier's account key there."""
        async with self._spawn_lock:
            for worker in self.workers:
                if not worker.closed and username in worker.trunk_accounts and (
                    worker.calls < MAX_CALLS
                ):
                    worker.calls += 1
                    return worker, worker.trunk_accounts[username]
            worker = await self._spawn()
            key = await self.add_account(
                worker, username, password, host=host, port=port, register=False,
                display_name=display_name, sink=sink,
            )
            worker.trunk_accounts[username] = key
            worker.calls += 1
            return worker, key

    async def prepare_trunk(
        self, username: str, password: str, *, host: str, port: int, display_name: str,
        sink: Sink, calls: int,
    ) -> list[int]:
        """Start, in parallel, the workers that ``calls`` more concurrent calls of carrier
        ``username`` need; returns the new account keys."""
        async with self._spawn_lock:
            free = sum(
                MAX_CALLS - w.calls
                for w in self.workers
                if not w.closed and username in w.trunk_accounts
            )
            missing = max(0, calls - free)
            count = -(-missing // MAX_CALLS)
            if len(self.workers) + count > self.max_workers:
                raise SoftphoneError(
                    f"{calls} calls need {count} more softphone workers; the limit is "
                    f"{self.max_workers} processes of {MAX_CALLS} calls"
                )
            spawned = await asyncio.gather(*(self._spawn() for _ in range(count)))
            keys = await asyncio.gather(
                *(
                    self.add_account(
                        w, username, password, host=host, port=port, register=False,
                        display_name=display_name, sink=sink,
                    )
                    for w in spawned
                )
            )
            for worker, key in zip(spawned, keys, strict=True):
                worker.trunk_accounts[username] = key
            return list(keys)

    def release_slot(self, worker: Worker) -> None:
        worker.calls = max(0, worker.calls - 1)

    # -- accounts and calls ----------------------------------------------------------------

    async def add_account(
        self,
        worker: Worker,
        user: str,
        password: str,
        *,
        host: str,
        port: int,
        register: bool,
        display_name: str,
        sink: Sink,
    ) -> int:
        key = next(self._account_keys)
        self._sinks[key] = (worker, sink)
        worker.accounts.add(key)
        try:
            await worker.request(
                "add_account",
                key=key,
                user=user,
                password=password,
                host=host,
                port=port,
                register=register,
                display_name=display_name,
            )
        except BaseException:
            self._sinks.pop(key, None)
            worker.accounts.discard(key)
            raise
        return key

    async def remove_account(self, key: int) -> None:
        entry = self._sinks.pop(key, None)
        if entry is None:
            return
        worker = entry[0]
        worker.accounts.discard(key)
        trunk = [user for user, account in worker.trunk_accounts.items() if account == key]
        for user in trunk:
            del worker.trunk_accounts[user]
        if not trunk:
            self.release_agent(worker)
        if not worker.closed:
            await worker.request("remove_account", key=key)

    async def make_call(
        self, worker: Worker, account: int, uri: str, headers: dict[str, str]
    ) -> int:
        local = await worker.request("make_call", account=account, uri=uri, headers=headers)
        return worker.index * CALL_KEY_SPACE + int(local)

    def worker_of_call(self, key: int) -> Worker:
        return self.workers[key // CALL_KEY_SPACE]

    async def call_op(self, key: int, op: str, **args: Any) -> Any:
        worker = self.worker_of_call(key)
        return await worker.request(op, call=key % CALL_KEY_SPACE, **args)

    def _dispatch(self, worker: Worker, raw: dict[str, Any]) -> None:
        entry = self._sinks.get(int(raw["account"]))
        kind = raw.pop("kind")
        if kind == "reg":
            update: RegUpdate | CallUpdate = RegUpdate(**raw)
        else:
            raw["call"] = worker.index * CALL_KEY_SPACE + int(raw["call"])
            raw["remote"] = sipmsg.Party(**raw["remote"])
            update = CallUpdate(**raw)
            if update.state == "incoming":
                worker.calls += 1
            elif update.state == "disconnected":
                self.release_slot(worker)
        if entry is not None:
            entry[1](update)

    async def close(self) -> None:
        self.closing = True
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
