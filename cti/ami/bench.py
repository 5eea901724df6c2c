"""AMI ingest benchmark: our decoder against panoramisk's parser, on real Asterisk traffic.

Every server message of every transcript (../shared/ami-transcripts, or
$HOTLINE_TRANSCRIPTS) is concatenated after one banner, the whole repeated ``--repeat``
times, and cut into ``--chunk-size`` pieces (4096 bytes: a typical TCP read). Each parser
is fed the same chunks; the time of every feed (with the hand-out of the messages it
completed and a read of their event name, the least a dispatcher does) is recorded.

Reported per parser: messages/s and bytes/s over the whole run, and the median and 99th
percentile of the per-chunk time in microseconds. ``--json`` prints one JSON object as the
last line. Wired as ``hotline bench ami``; usable alone: ``python -m cti.ami.bench``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from panoramisk.ami_protocol import AMIProtocol

from .codec import AMIDecoder
from .transcript import read_transcript, transcript_paths, transcripts_dir

BANNER = b"Asterisk Call Manager/11.0.0\r\n"

# One parser under test: given the chunks, returns (messages seen, per-chunk ns).
Runner = Callable[[Sequence[bytes]], tuple[int, list[int]]]


def load_messages() -> list[bytes]:
    """The raw bytes of every server message (banners left out) of every transcript."""
    out = []
    for path in transcript_paths():
        for block in read_transcript(path):
            if block.kind == "server" and not block.data.startswith(b"Asterisk Call Manager"):
                out.append(block.data)
    return out


def chunked(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def run_ours(chunks: Sequence[bytes]) -> tuple[int, list[int]]:
    clock = time.perf_counter_ns
    dec = AMIDecoder("client")
    count = 0
    times = []
    for chunk in chunks:
        t0 = clock()
        dec.feed(chunk)
        for msg in dec.messages():
            msg.event  # noqa: B018 - what a dispatcher reads first
            count += 1
        times.append(clock() - t0)
    return count, times


def run_ours_all_headers(chunks: Sequence[bytes]) -> tuple[int, list[int]]:
    """Like run_ours, but every message is split into all its headers (what a consumer
    that reads more than the event name pays; see Message: headers are split lazily)."""
    clock = time.perf_counter_ns
    dec = AMIDecoder("client")
    count = 0
    times = []
    for chunk in chunks:
        t0 = clock()
        dec.feed(chunk)
        for msg in dec.messages():
            msg.event  # noqa: B018
            msg.pairs  # noqa: B018
            count += 1
        times.append(clock() - t0)
    return count, times


def run_panoramisk(chunks: Sequence[bytes]) -> tuple[int, list[int]]:
    """panoramisk 1.4's own parsing path, without a socket or an event loop.

    ``AMIProtocol.data_received`` (ami_protocol.py) is where panoramisk parses: it decodes
    each chunk to str on its own (``encoding``, errors ignored), glues it to the leftover
    of the previous chunk, splits on CRLFCRLF, and builds a ``Message`` per piece with
    ``Message.from_line`` (message.py: a case-insensitive dict, repeated headers folded
    into lists). We call ``data_received`` directly with each chunk, on a protocol that
    ``connection_made`` set up with a dummy transport, ``encoding = "utf8"`` as
    ``Manager.connection_made`` sets it, and no factory. Only ``handle_message`` is
    replaced: the original routes each message to pending action futures or
    ``Manager.dispatch`` (and treats ``Shutdown`` as a lost connection); ours counts it and
    reads its event name, like ``run_ours`` does.
    """
    count = 0

    class CountingProtocol(AMIProtocol):  # type: ignore[misc]
        def handle_message(self, message: Any) -> None:
            nonlocal count
            message.get("event")
            count += 1

    proto = CountingProtocol()
    proto.connection_made(object())
    proto.encoding = "utf8"
    clock = time.perf_counter_ns
    times = []
    for chunk in chunks:
        t0 = clock()
        proto.data_received(chunk)
        times.append(clock() - t0)
    return count, times


def percentile(sorted_ns: Sequence[int], q: float) -> float:
    """Nearest-rank percentile, in microseconds."""
    if not sorted_ns:
        return 0.0
    rank = min(len(sorted_ns) - 1, max(0, round(q / 100 * len(sorted_ns)) - 1))
    return sorted_ns[rank] / 1000


def ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    return round(a["messages_per_s"] / b["messages_per_s"], 2) if b["messages_per_s"] else None


def measure(run: Runner, chunks: Sequence[bytes], nbytes: int) -> dict[str, Any]:
    run(chunks[: max(1, len(chunks) // 20)])  # warm-up
    count, times = run(chunks)
    total_s = sum(times) / 1e9
    ordered = sorted(times)
    return {
        "messages": count,
        "seconds": round(total_s, 4),
        "messages_per_s": round(count / total_s) if total_s else 0,
        "bytes_per_s": round(nbytes / total_s) if total_s else 0,
        "p50_us": round(percentile(ordered, 50), 1),
        "p99_us": round(percentile(ordered, 99), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hotline bench ami",
        description="AMI ingest benchmark: our decoder vs panoramisk's parser, on the "
        "real Asterisk 22 transcripts.",
    )
    parser.add_argument(
        "--repeat", type=int, default=20, help="copies of all transcript messages (20)"
    )
    parser.add_argument(
        "--chunk-size", type=int, default=4096, help="bytes per simulated TCP read (4096)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.chunk_size < 1:
        parser.error("--repeat and --chunk-size must be at least 1")

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
    expected = len(messages) * args.repeat
    say(f"{expected} messages, {len(stream)} bytes, {len(chunks)} chunks")

    say("decoding with cti.ami ...")
    ours = measure(run_ours, chunks, len(stream))
    say("decoding with cti.ami, splitting every header ...")
    ours_all = measure(run_ours_all_headers, chunks, len(stream))
    say("decoding with panoramisk ...")
    baseline = measure(run_panoramisk, chunks, len(stream))

    result = {
        "messages": expected,
        "bytes": len(stream),
        "chunk_size": args.chunk_size,
        "repeat": args.repeat,
        "ours": ours,
        "ours_all_headers": ours_all,
        "baseline_panoramisk": baseline,
        "speedup": ratio(ours, baseline),
        "speedup_all_headers": ratio(ours_all, baseline),
    }
    ok = ours["messages"] == ours_all["messages"] == expected
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{expected} messages ({len(stream) / 1e6:.1f} MB) in {args.chunk_size}-byte chunks")
        rows = (("cti.ami", ours), ("cti.ami all", ours_all), ("panoramisk", baseline))
        for name, r in rows:
            print(
                f"  {name:<11} {r['messages_per_s']:>9,} msg/s  "
                f"{r['bytes_per_s'] / 1e6:7.1f} MB/s  "
                f"per chunk p50 {r['p50_us']:.1f} us  p99 {r['p99_us']:.1f} us  "
                f"({r['messages']} messages)"
            )
        print(
            f"  speedup {result['speedup']}x (event name only), "
            f"{result['speedup_all_headers']}x (all headers split)"
        )
    if not ok:
        print(f"error: decoded {ours['messages']} messages, expected {expected}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
