"""The one percentile every benchmark reports (nearest rank on the sorted values)."""

from __future__ import annotations

from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The value at fraction ``q`` (0..1) of the sorted values; NaN when there are none."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return float(ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))])
