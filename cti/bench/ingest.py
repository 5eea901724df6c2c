"""``hotline bench ingest``: AMI events parsed *and applied to the call model*, per second.

Every server stream of every transcript (../shared/ami-transcripts, or
$HOTLINE_TRANSCRIPTS) is concatenated, banners removed, after one banner; the whole is
repeated ``--repeat`` times (each pass ends with every call hung up, so the model sees
the same calls again, fresh) and cut into ``--chunk-size`` pieces (4 KiB: a typical TCP
read). Three runs over the same chunks, in this process, one after the other:

- ``ours``: what the AMI link does with a read - :class:`cti.ami.AMIDecoder` decodes
  the chunk, and every event goes to :meth:`cti.calls.CallModel.handle`;
- ``ours_decode_only``: the same decoder, reading each message's event name only;
- ``baseline_panoramisk``: panoramisk 1.4's own parsing (``AMIProtocol.data_received``,
  as in :mod:`cti.ami.bench`), which only parses: it has no call model at all.

Reported per run: events/s (and messages/s), MB/s and the per-chunk time p50/p99 in
microseconds; for ``ours`` also what the model saw (calls started and ended, changes,
anomalies). The target for ``ours`` is 20,000 events/s on one core. ``--json`` prints
one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from cti.ami.bench import BANNER, chunked, load_messages, percentile, run_ours, run_panoramisk
from cti.ami.codec import AMIDecoder
from cti.ami.transcript import transcripts_dir
from cti.calls import CallEnded, CallModel, CallStarted

TARGET_EVENTS_PER_S = 20_000


def count_events(chunks: Sequence[bytes]) -> tuple[int, int]:
    dec = AMIDecoder("client")
    messages = events = 0
    for chunk in chunks:
        dec.feed(chunk)
        for msg in dec.messages():
            messages += 1
            if msg.kind == "event":
                events += 1
    return messages, events


def run_model(
    chunks: Sequence[bytes], trunks: Sequence[str]
) -> tuple[int, list[int], dict[str, Any]]:
    """Decode and apply every event to a fresh call model; per-chunk times in ns."""
    clock = time.perf_counter_ns
    dec = AMIDecoder("client")
    model = CallModel(trunk_devices=trunks)
    events = changes = started = ended = 0
    now = 0.0
    times = []
    for chunk in chunks:
        t0 = clock()
        dec.feed(chunk)
        for msg in dec.messages():
            if msg.kind == "event":
                events += 1
                now += 0.001
                out = model.handle(msg, now)
                if out:
                    changes += len(out)
                    for change in out:
                        if type(change) is CallStarted:
                            started += 1
                        elif type(change) is CallEnded:
                            ended += 1
        times.append(clock() - t0)
    seen = {
        "calls_started": started,
        "calls_ended": ended,
        "changes": changes,
        "live_calls_at_end": len(model.calls),
        "anomalies": sum(model.anomalies.values()),
        "events_ignored": sum(model.ignored.values()),
    }
    return events, times, seen


def summary(count: int, times: list[int], nbytes: int, events: int) -> dict[str, Any]:
    total_s = sum(times) / 1e9
    ordered = sorted(times)
    return {
        "seconds": round(total_s, 4),
        "events_per_s": round(events / total_s) if total_s else 0,
        "messages_per_s": round(count / total_s) if total_s else 0,
        "mb_per_s": round(nbytes / total_s / 1e6, 2) if total_s else 0,
        "p50_chunk_us": round(percentile(ordered, 50), 1),
        "p99_chunk_us": round(percentile(ordered, 99), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hotline bench ingest",
        description="AMI events parsed and applied to the call model per second, on the "
        "real Asterisk 22 transcripts, against panoramisk's parser.",
    )
    parser.add_argument("--repeat", type=int, default=20, help="copies of all transcripts (20)")
    parser.add_argument(
        "--chunk-size", type=int, default=4096, help="bytes per simulated TCP read (4096)"
    )
    parser.add_argument(
        "--trunk", action="append", default=None, help="trunk device (PJSIP/e1trunk)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.chunk_size < 1:
        parser.error("--repeat and --chunk-size must be at least 1")
    trunks = args.trunk or ["PJSIP/e1trunk"]
    progress = sys.stderr.isatty() and not args.json

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    messages = load_messages()
    if not messages:
        print(f"no transcripts found in {transcripts_dir()}", file=sys.stderr)
        return 2
    stream = BANNER + b"".join(messages) * args.repeat
    chunks = chunked(stream, args.chunk_size)
    n_messages, n_events = count_events(chunks)
    say(f"{n_events} events in {n_messages} messages, {len(stream)} bytes, {len(chunks)} chunks")

    warm = chunks[: max(1, len(chunks) // 20)]
    say("decoding + call model ...")
    run_model(warm, trunks)
    events, times, seen = run_model(chunks, trunks)
    ours = summary(n_messages, times, len(stream), events)
    ours["model"] = seen
    say("decoding only ...")
    run_ours(warm)
    _, times = run_ours(chunks)
    decode_only = summary(n_messages, times, len(stream), n_events)
    say("panoramisk parsing ...")
    run_panoramisk(warm)
    parsed, times = run_panoramisk(chunks)
    baseline = summary(parsed, times, len(stream), n_events)

    result = {
        "events": n_events,
        "messages": n_messages,
        "bytes": len(stream),
        "chunk_size": args.chunk_size,
        "repeat": args.repeat,
        "events_per_s": ours["events_per_s"],
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "ours": ours,
        "ours_decode_only": decode_only,
        "baseline_panoramisk": baseline,
        "speedup_vs_panoramisk_parse": round(ours["events_per_s"] / baseline["events_per_s"], 2)
        if baseline["events_per_s"]
        else None,
    }
    ok = events == n_events and parsed == n_messages
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{n_events:,} events ({n_messages:,} messages, {len(stream) / 1e6:.1f} MB) "
            f"in {args.chunk_size}-byte chunks"
        )
        rows = (
            ("decode + call model", ours),
            ("decode only", decode_only),
            ("panoramisk parse", baseline),
        )
        for name, r in rows:
            print(
                f"  {name:<20} {r['events_per_s']:>9,} events/s  {r['mb_per_s']:6.1f} MB/s  "
                f"per chunk p50 {r['p50_chunk_us']:.1f} us  p99 {r['p99_chunk_us']:.1f} us"
            )
        print(
            f"  model: {seen['calls_started']:,} calls started, {seen['calls_ended']:,} ended, "
            f"{seen['changes']:,} changes, {seen['anomalies']:,} anomalies; target "
            f"{TARGET_EVENTS_PER_S:,} events/s: "
            + ("met" if ours["events_per_s"] >= TARGET_EVENTS_PER_S else "NOT met")
        )
    if not ok:
        print(
            f"error: applied {events} events of {n_events}, panoramisk saw {parsed} messages "
            f"of {n_messages}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
