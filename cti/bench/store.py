"""``hotline bench store``: screen-pop look-ups and call-record writes on a real file.

1. ``--customers`` customers (1–2 numbers each: mobiles and landlines) are imported from
   one generated CSV file through :meth:`Store.import_customers_csv` (timed).
2. ``--upserts`` ended calls (two legs each) are written one after the other, each
   awaited, as the server does when a call ends: with ``synchronous=FULL`` (the default,
   one fsync per call) and, for comparison, ``NORMAL`` on a second file. Then the same
   number again from 30 tasks at once (30 E1 channels hanging up together).
3. ``--lookups`` screen pops: :meth:`Store.find_customer_by_phone` with the number
   spelled as a trunk or a person would (``+86 138 ...``, ``0138...``, ``86138...``,
   spaces, dashes), 10 % unknown numbers; then the same plus :meth:`Store.recent_calls`
   (what ``call.ringing`` needs). The baseline is the same SQL through plain ``sqlite3``
   on the event loop's thread: the cost of aiosqlite's hop to its thread.

Each operation is timed on its own (``perf_counter_ns``). The files live in a temporary
directory under ``--dir`` (default: the system's), removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cti.bench.stats import percentile, progress_line
from cti.logging import configure_logging
from cti.store import CallLeg, CallOutcome, CallRecord, Store, Synchronous, normalize_phone

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚"
_CITIES = ("北京市朝阳区", "上海市浦东新区", "广州市天河区", "深圳市南山区", "成都市武侯区")
_AREA_CODES = ("10", "21", "20", "755", "28", "571", "25", "27")


def _size(directory: str, prefix: str) -> int:
    """Bytes of the database files (main, -wal, -shm) whose names start with ``prefix``."""
    return sum(f.stat().st_size for f in Path(directory).iterdir() if f.name.startswith(prefix))


def _mobile(rng: random.Random, used: set[str]) -> str:
    while True:
        number = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        if number not in used:
            used.add(number)
            return number


def _landline(rng: random.Random, used: set[str]) -> str:
    while True:
        area = rng.choice(_AREA_CODES)
        local = f"{rng.randrange(2, 10)}{rng.randrange(10**7):07d}"
        number = f"0{area}-{local}"
        if area + local not in used:
            used.add(area + local)
            return number


def make_csv(n: int, seed: int) -> tuple[str, list[str]]:
    """The CSV text of ``n`` customers and every number in it (as written)."""
    rng = random.Random(seed)
    used: set[str] = set()
    numbers: list[str] = []
    lines = ["name,phones,address,account_id,service_id,notes"]
    for i in range(n):
        name = rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=rng.randint(1, 2)))
        phones = [_mobile(rng, used)]
        if rng.random() < 0.4:
            phones.append(_landline(rng, used))
        numbers += phones
        lines.append(
            f"{name},{';'.join(phones)},{rng.choice(_CITIES)}{rng.randrange(1, 999)}号,"
            f"ACC{i:07d},SVC{rng.randrange(10**6):06d},"
        )
    return "\n".join(lines) + "\n", numbers


def spell(number: str, rng: random.Random) -> str:
    """One number as a trunk, a CRM export or a person might write it."""
    digits = number.replace("-", "")
    national = digits[1:] if digits.startswith("0") else digits
    forms = [
        digits,
        f"+86 {national}",
        f"86{national}",
        f"0086-{national}",
        f"0{national}" if not digits.startswith("0") else digits,
        f"{national[:3]} {national[3:7]} {national[7:]}",
    ]
    return rng.choice(forms)


def _record(i: int, caller: str, now: float) -> CallRecord:
    return CallRecord(
        call_id=f"bench-{i}",
        started_at=now - 300,
        caller_number=caller,
        dialled_number="4001",
        trunk="e1",
        queue="fault",
        agent_id=f"8{i % 100:04d}",
        enqueued_at=now - 290,
        answered_at=now - 270,
        ended_at=now,
        wait_s=20.0,
        talk_s=270.0,
        outcome=CallOutcome.ANSWERED,
        cause="16",
        ivr_path=("main", "fault"),
        legs=(
            CallLeg(agent_id=f"8{(i + 1) % 100:04d}", outcome="no_answer", started_at=now - 285),
            CallLeg(agent_id=f"8{i % 100:04d}", outcome="answered", answered_at=now - 270),
        ),
    )


async def _upserts(
    path: Path, synchronous: Synchronous, callers: list[str], count: int, start: int
) -> dict[str, float]:
    store = await Store.open(path, synchronous=synchronous)
    try:
        times: list[float] = []
        began = time.perf_counter()
        for i in range(count):
            record = _record(start + i, callers[i % len(callers)], time.time())
            t0 = time.perf_counter_ns()
            await store.upsert_call(record)
            times.append((time.perf_counter_ns() - t0) / 1e6)
        elapsed = time.perf_counter() - began
        out = {
            "per_s": count / elapsed,
            "p50_ms": percentile(times, 0.5),
            "p99_ms": percentile(times, 0.99),
        }
        began = time.perf_counter()
        tasks = 30
        per_task = max(1, count // tasks)

        async def channel(k: int) -> None:
            for j in range(per_task):
                n = start + count + k * per_task + j
                await store.upsert_call(_record(n, callers[n % len(callers)], time.time()))

        await asyncio.gather(*(channel(k) for k in range(tasks)))
        out["concurrent_per_s"] = tasks * per_task / (time.perf_counter() - began)
        return out
    finally:
        await store.close()


async def run(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="hotline-bench-", dir=args.dir) as tmp:
        path = Path(tmp) / "hotline.db"
        progress(f"generating {args.customers:,} customers")
        text, numbers = make_csv(args.customers, args.seed)
        store = await Store.open(path)
        try:
            progress("importing the CSV file")
            began = time.perf_counter()
            report = await store.import_customers_csv(text)
            import_s = time.perf_counter() - began
            if report.errors or report.created != args.customers:
                raise RuntimeError(f"import went wrong: {report.errors[:3]}")
        finally:
            await store.close()

        progress(f"{args.upserts:,} call records, synchronous=FULL")
        full = await _upserts(path, "FULL", numbers, args.upserts, 0)
        progress(f"{args.upserts:,} call records, synchronous=NORMAL")
        normal = await _upserts(
            Path(tmp) / "normal.db", "NORMAL", numbers, args.upserts, 10 * args.upserts
        )

        store = await Store.open(path)
        direct = sqlite3.connect(path)
        try:
            queries = [
                spell(rng.choice(numbers), rng)
                if rng.random() < 0.9
                else f"139{rng.randrange(10**8):08d}"
                for _ in range(args.lookups)
            ]
            for number in queries[:200]:  # warm the page cache and the thread
                await store.find_customer_by_phone(number)
            gc.collect()
            gc.disable()
            try:
                progress(f"{args.lookups:,} look-ups")
                hits: list[float] = []
                misses: list[float] = []
                for number in queries:
                    t0 = time.perf_counter_ns()
                    found = await store.find_customer_by_phone(number)
                    (hits if found else misses).append((time.perf_counter_ns() - t0) / 1e3)
                progress(f"{args.lookups:,} screen pops")
                pops: list[float] = []
                for number in queries:
                    t0 = time.perf_counter_ns()
                    await store.find_customer_by_phone(number)
                    await store.recent_calls(number, 5)
                    pops.append((time.perf_counter_ns() - t0) / 1e3)
                progress("baseline: plain sqlite3")
                sql = (
                    "SELECT c.*, (SELECT json_group_array(phone) FROM (SELECT p.phone FROM"
                    " customer_phones p WHERE p.customer_id = c.id ORDER BY p.position))"
                    " FROM customers c JOIN customer_phones k ON k.customer_id = c.id"
                    " WHERE k.digits = ? ORDER BY c.updated_at DESC, c.id DESC LIMIT 1"
                )
                baseline: list[float] = []
                for number in queries:
                    t0 = time.perf_counter_ns()
                    try:
                        key = normalize_phone(number)
                    except ValueError:
                        key = ""
                    direct.execute(sql, (key,)).fetchall()
                    baseline.append((time.perf_counter_ns() - t0) / 1e3)
            finally:
                gc.enable()
        finally:
            direct.close()
            await store.close()
        size = _size(tmp, "hotline")
    found_fraction = len(hits) / len(queries)
    return {
        "customers": args.customers,
        "phones": len(numbers),
        "import_s": round(import_s, 2),
        "import_rows_per_s": round(args.customers / import_s),
        "lookups": args.lookups,
        "lookup_found_fraction": round(found_fraction, 3),
        "lookup_p50_us": round(percentile(hits, 0.5), 1),
        "lookup_p99_us": round(percentile(hits, 0.99), 1),
        "lookup_mean_us": round(statistics.fmean(hits), 1),
        "lookup_miss_p50_us": round(percentile(misses, 0.5), 1) if misses else None,
        "screen_pop_p50_us": round(percentile(pops, 0.5), 1),
        "screen_pop_p99_us": round(percentile(pops, 0.99), 1),
        "baseline_sqlite3_p50_us": round(percentile(baseline, 0.5), 1),
        "baseline_sqlite3_p99_us": round(percentile(baseline, 0.99), 1),
        "upserts": args.upserts,
        "upsert_per_s": round(full["per_s"], 1),
        "upsert_p50_ms": round(full["p50_ms"], 3),
        "upsert_p99_ms": round(full["p99_ms"], 3),
        "upsert_concurrent_per_s": round(full["concurrent_per_s"], 1),
        "synchronous": "FULL",
        "normal": {
            "upsert_per_s": round(normal["per_s"], 1),
            "upsert_p50_ms": round(normal["p50_ms"], 3),
            "upsert_p99_ms": round(normal["p99_ms"], 3),
            "upsert_concurrent_per_s": round(normal["concurrent_per_s"], 1),
        },
        "db_bytes": size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hotline bench store", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--upserts", type=int, default=2_000)
    parser.add_argument("--dir", default=None, help="where the temporary files go")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object, quietly")
    args = parser.parse_args(argv)
    for name in ("customers", "lookups", "upserts"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.dir is not None and not os.path.isdir(args.dir):
        parser.error(f"--dir {args.dir}: not a directory")
    configure_logging("warning", "json", stream=sys.stderr)

    progress = progress_line(args.json)

    result = asyncio.run(run(args, progress))
    progress("")
    if args.json:
        print(json.dumps(result))
        return 0
    normal = result["normal"]
    print(
        f"customers            {result['customers']:,} ({result['phones']:,} numbers), "
        f"imported in {result['import_s']} s ({result['import_rows_per_s']:,} rows/s)\n"
        f"look-up by phone     p50 {result['lookup_p50_us']} us, p99 "
        f"{result['lookup_p99_us']} us (unknown number: p50 {result['lookup_miss_p50_us']} us)\n"
        f"screen pop           p50 {result['screen_pop_p50_us']} us, p99 "
        f"{result['screen_pop_p99_us']} us (customer + 5 recent calls)\n"
        f"baseline (sqlite3)   p50 {result['baseline_sqlite3_p50_us']} us, p99 "
        f"{result['baseline_sqlite3_p99_us']} us (same query, no thread hop)\n"
        f"call upserts FULL    {result['upsert_per_s']}/s one by one (p50 "
        f"{result['upsert_p50_ms']} ms, p99 {result['upsert_p99_ms']} ms), "
        f"{result['upsert_concurrent_per_s']}/s from 30 tasks\n"
        f"call upserts NORMAL  {normal['upsert_per_s']}/s one by one (p50 "
        f"{normal['upsert_p50_ms']} ms, p99 {normal['upsert_p99_ms']} ms), "
        f"{normal['upsert_concurrent_per_s']}/s from 30 tasks"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
