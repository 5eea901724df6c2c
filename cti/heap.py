"""Keeping the cyclic garbage collector out of the screen pop's way.

CPython's full collections walk every tracked object. A server that has been up a while
holds a few hundred thousand of them that will live as long as it does: modules and
configuration, the ACD's agents and queues, and the objects of every open WebSocket
connection (aiohttp's request, protocol and response, our Connection and Subscription,
its tasks). Measured under load (``hotline bench ringing``: 1,000 agents and 500
supervisors connected), one full collection found no garbage and held the event loop for
50 - 250 ms, every half a minute or so: the worst screen-pop latencies.

So survivors are moved out of the collector's generations (``gc.freeze``): once the
server is up (:func:`settle_heap`), then every ``every_s`` after a collection of the young
generations only (:func:`keep_heap_settled`), so connections made since are exempt too.
Frozen objects are still freed by reference counting as usual; only garbage *cycles*
among them would stay, so once every ``full_every_s`` everything is unfrozen and
collected in full: one long pause an hour instead of one every half minute.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Final

import structlog

log = structlog.get_logger("cti.heap")

FREEZE_EVERY_S: Final = 2.0  # a young collection and a freeze: about a millisecond
FULL_EVERY_S: Final = 3600.0


def settle_heap() -> None:
    """Once a server process is up: a full collection, then keep what survived (it was
    going to live as long as the process) out of every later collection."""
    gc.collect()
    gc.freeze()


def freeze_survivors() -> None:
    """Collect the young generations, then exempt everything alive. Both are cheap; the
    frozen count is not (``gc.get_freeze_count`` walks every frozen object: 4 ms for
    300,000), so it is read only with the hourly full collection."""
    gc.collect(1)
    gc.freeze()


async def keep_heap_settled(
    every_s: float = FREEZE_EVERY_S, full_every_s: float = FULL_EVERY_S
) -> None:
    """Run for the life of the server (a task); see the module docstring."""
    last_full = time.monotonic()
    while True:
        await asyncio.sleep(every_s)
        if time.monotonic() - last_full >= full_every_s:
            started = time.perf_counter()
            gc.unfreeze()
            found = gc.collect()
            gc.freeze()
            last_full = time.monotonic()
            log.info(
                "heap.full_collection",
                garbage=found,
                frozen=gc.get_freeze_count(),
                pause_ms=round(1000 * (time.perf_counter() - started), 1),
            )
        else:
            freeze_survivors()
