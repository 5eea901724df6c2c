"""``hotline bench recordings``: recording search over a large index (录音查询).

1. A database is created with Hotline's migrations; ``--rows`` recordings (default one
   million) spread over a year are written with ``executemany`` in one transaction, the
   indexes dropped before and built after (timed: what an import of an archive costs).
   500 agents, 4 queues, 200,000 callers of whom a few call often (Zipf-like), calls from
   07:00 to 23:00.
2. The seeds' queries, each through :meth:`RecordingIndex.search` (aiosqlite, the path
   the REST API takes), timed one by one: **agent + date range** (one agent's
   recordings in a 7-day window, newest first, a page of 100) and **caller number** (a
   caller's recordings, any spelling, a page of 100); also by call id.
3. Baseline, same run, same queries, same connection: the SQL with ``NOT INDEXED`` (the
   table scan SQLite would do without the indexes of migration 2), fewer of them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cti.bench.stats import percentile, progress_line
from cti.logging import configure_logging
from cti.store import Store, normalize_phone
from recorder.index import RecordingIndex, SearchFilter, search_sql

DAY = 86400.0
YEAR_START = 1_735_689_600.0  # 2025-01-01T00:00:00Z
QUEUES = ("fault", "complaint", "inquiry", "general")


def _callers(n: int, rng: random.Random) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        if rng.random() < 0.7:
            out.add(f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}")
        else:
            area = rng.choice(("10", "21", "20", "755"))
            out.add(f"0{area}{rng.randrange(2, 10)}{rng.randrange(10**7):07d}")
    return sorted(out)


def build(
    path: Path, rows: int, agents: int, callers: Sequence[str], seed: int
) -> tuple[float, float]:
    """Write ``rows`` recordings; the seconds it took (wall clock, and CPU)."""
    rng = random.Random(seed)
    weights = [1.0 / (k + 1) ** 0.8 for k in range(len(callers))]  # some call often
    digits = {c: normalize_phone(c) for c in callers}
    days = [time.strftime("%Y/%m/%d/", time.gmtime(YEAR_START + d * DAY)) for d in range(365)]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        indexes = [
            (name, sql)
            for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                " AND tbl_name = 'recordings' AND sql IS NOT NULL"
            )
        ]
        began, cpu = time.perf_counter(), time.process_time()
        # A bulk load into a fresh file: one transaction, a big page cache so that the
        # index builds sort in memory, no WAL for it (the store turns WAL on again).
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("BEGIN")
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        # Recordings are indexed as they end, so ids, paths and rowids follow time: the
        # unique indexes on id and path grow at their end, as in production.
        starts = sorted(
            (d, YEAR_START + d * DAY + rng.uniform(7 * 3600, 23 * 3600))
            for d in (rng.randrange(365) for _ in range(rows))
        )
        chunk = 50_000
        done = 0
        while done < rows:
            n = min(chunk, rows - done)
            who = rng.choices(callers, weights, k=n)
            batch = []
            for i in range(n):
                k = done + i
                day, start = starts[k]
                duration = rng.expovariate(1 / 180.0) + 5
                size = int(duration * 16000) + 44
                rid = f"{1_735_000_000 + k}.{k % 97}-r1"
                batch.append(
                    (
                        rid,
                        rid[:-3],
                        f"8{rng.randrange(agents):04d}",
                        who[i],
                        digits[who[i]],
                        QUEUES[k % 4],
                        start,
                        start + duration,
                        round(duration, 3),
                        0.0,
                        0,
                        days[day] + rid + ".wav",
                        size,
                        f"{rng.getrandbits(256):064x}",
                        "complete",
                        start + duration,
                    )
                )
            conn.executemany(
                "INSERT INTO recordings (id, call_id, agent_id, caller_number, caller_digits,"
                " queue, started_at, ended_at, duration_s, paused_s, on_demand, path, size,"
                " sha256, state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?)",
                batch,
            )
            done += n
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        return time.perf_counter() - began, time.process_time() - cpu
    finally:
        conn.close()


def _bytes(directory: str) -> int:
    return sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))


async def _timed(
    run: Callable[[SearchFilter], Any], filters: Sequence[SearchFilter]
) -> tuple[list[float], int]:
    times: list[float] = []
    found = 0
    for f in filters:
        t0 = time.perf_counter_ns()
        rows = await run(f)
        times.append((time.perf_counter_ns() - t0) / 1e6)
        found += len(rows)
    return times, found


def _summary(times: list[float], found: int) -> dict[str, Any]:
    return {
        "queries": len(times),
        "p50_ms": round(percentile(times, 0.5), 3),
        "p99_ms": round(percentile(times, 0.99), 3),
        "max_ms": round(max(times), 3),
        "rows_per_query": round(found / len(times), 1),
    }


async def run(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="hotline-bench-rec-", dir=args.dir) as tmp:
        path = Path(tmp) / "hotline.db"
        store = await Store.open(path, synchronous="NORMAL")
        await store.close()
        callers = _callers(min(200_000, max(10, args.rows // 5)), rng)
        progress(f"writing {args.rows:,} recordings")
        build_s, build_cpu_s = build(path, args.rows, args.agents, callers, args.seed)
        size = _bytes(tmp)
        store = await Store.open(path, synchronous="NORMAL")
        index = RecordingIndex(store)
        try:
            by_agent = []
            for _ in range(args.queries):
                day = rng.randrange(358)
                begin = YEAR_START + day * DAY
                by_agent.append(
                    SearchFilter(
                        agent_id=f"8{rng.randrange(args.agents):04d}",
                        start=begin,
                        end=begin + 7 * DAY,
                    )
                )
            by_caller = [
                SearchFilter(caller=_spell(rng.choice(callers), rng)) for _ in range(args.queries)
            ]
            by_call = [
                SearchFilter(call_id=f"{1_735_000_000 + k}.{k % 97}")
                for k in (rng.randrange(args.rows) for _ in range(args.queries))
            ]

            async def indexed(f: SearchFilter) -> Any:
                return await index.search(f, limit=100)

            async def scan(f: SearchFilter) -> Any:
                sql, params = search_sql(f, 100, 0, indexed=False)
                return await store.read(sql, params)

            progress("warming up")
            for f in by_agent[:50] + by_caller[:50]:
                await indexed(f)
            gc.collect()
            gc.disable()
            try:
                progress("agent + date range")
                agent_t = await _timed(indexed, by_agent)
                progress("caller number")
                caller_t = await _timed(indexed, by_caller)
                progress("call id")
                call_t = await _timed(indexed, by_call)
                n = max(1, args.baseline_queries)
                progress("baseline: table scans")
                base_agent = await _timed(scan, by_agent[:n])
                base_caller = await _timed(scan, by_caller[:n])
            finally:
                gc.enable()
            plan = await store.read(
                "EXPLAIN QUERY PLAN " + search_sql(by_agent[0], 100, 0)[0],
                search_sql(by_agent[0], 100, 0)[1],
            )
        finally:
            await store.close()
    agent_s, caller_s = _summary(*agent_t), _summary(*caller_t)
    return {
        "rows": args.rows,
        "agents": args.agents,
        "callers": len(callers),
        "build_s": round(build_s, 2),
        "build_rows_per_s": round(args.rows / build_s),
        "build_cpu_s": round(build_cpu_s, 2),
        "db_bytes": size,
        "by_agent_date": agent_s,
        "by_caller": caller_s,
        "by_call_id": _summary(*call_t),
        "p99_ms": max(agent_s["p99_ms"], caller_s["p99_ms"]),
        "target_p99_ms": 50,
        "baseline": {
            "what": "same SQL with NOT INDEXED (a table scan), same connection",
            "by_agent_date": _summary(*base_agent),
            "by_caller": _summary(*base_caller),
        },
        "plan_by_agent_date": " | ".join(str(r[3]) for r in plan),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _spell(number: str, rng: random.Random) -> str:
    """As a person or a trunk might write it."""
    if number.startswith("1") and rng.random() < 0.5:
        return f"+86 {number[:3]} {number[3:7]} {number[7:]}"
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hotline bench recordings", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--queries", type=int, default=2000, help="of each kind")
    parser.add_argument("--baseline-queries", type=int, default=20, help="table scans of each kind")
    parser.add_argument("--dir", default=None, help="where the temporary files go")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object, quietly")
    args = parser.parse_args(argv)
    for name in ("rows", "agents", "queries"):
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
    b = result["baseline"]
    lines = [
        f"index        {result['rows']:,} recordings written in {result['build_s']} s "
        f"({result['build_rows_per_s']:,} rows/s), {result['db_bytes'] / 1e6:.0f} MB",
    ]
    for key, label in (("by_agent_date", "agent + 7 days"), ("by_caller", "caller number"),
                       ("by_call_id", "call id")):  # fmt: skip
        s = result[key]
        lines.append(
            f"{label:<14} p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms "
            f"({s['queries']:,} queries, {s['rows_per_query']} rows each)"
        )
    for key, label in (("by_agent_date", "agent + 7 days"), ("by_caller", "caller number")):
        s = b[key]
        lines.append(f"  table scan   {label}: p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
