"""The collector's pauses kept off the event loop's path (cti/heap.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from cti.heap import freeze_survivors, keep_heap_settled


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the suite runs with the collector as usual


def test_survivors_are_frozen_and_still_freed_by_reference_counting() -> None:
    kept = [[] for _ in range(1000)]  # lists: objects the collector tracks
    freeze_survivors()
    frozen = gc.get_freeze_count()
    assert frozen >= 1000
    assert gc.get_count()[0] < 100  # the young generation was emptied into the frozen one
    del kept
    # they go when their last reference does, frozen or not
    assert gc.get_freeze_count() <= frozen - 1000


async def test_the_keeper_freezes_young_survivors_then_collects_in_full_now_and_then() -> None:
    with capture_logs() as logs:
        keeper = asyncio.ensure_future(keep_heap_settled(every_s=0.01, full_every_s=0.5))
        await asyncio.sleep(0.05)
        assert gc.get_freeze_count() > 0
        # cycles that became garbage while frozen (as old connections' do): reference
        # counting cannot free them, the keeper's young collections do not see them
        cycles = [Cycle() for _ in range(100)]
        gc.freeze()
        refs = [weakref.ref(c) for c in cycles]
        del cycles
        await asyncio.sleep(0.05)
        assert all(r() is not None for r in refs)
        await asyncio.sleep(0.8)
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
    full = [e for e in logs if e["event"] == "heap.full_collection"]
    assert full, logs
    assert all(r() is None for r in refs)  # the full collection reclaimed them
    assert sum(e["garbage"] for e in full) >= 100
    assert all(e["pause_ms"] >= 0 for e in full)
