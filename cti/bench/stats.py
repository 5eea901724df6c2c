"""What every benchmark shares: the one percentile they report (nearest rank on the sorted
values), the progress line they show on a terminal, and a process's CPU time."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path


def percentile(values: Iterable[float], q: float) -> float:
    """The value at fraction ``q`` (0..1) of the sorted values; NaN when there are none."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return float(ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))])


def progress_line(json_output: bool) -> Callable[[str], None]:
    """A writer of one self-erasing status line on stderr: silent with ``--json`` or when
    stderr is not a terminal, so a benchmark's JSON line stays the last thing printed."""
    show = sys.stderr.isatty() and not json_output

    def progress(text: str) -> None:
        if show:
            print(f"\r\x1b[K{text}", end="", file=sys.stderr, flush=True)

    return progress


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
