"""Small statistics over raw samples: medians and percentiles, no numpy needed."""

from __future__ import annotations

import math
from collections.abc import Sequence

MiB = 1024 * 1024


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) with linear interpolation between ranks (numpy's default)."""
    if not samples:
        return math.nan
    if not 0 <= p <= 100:
        raise ValueError("p must be within 0..100")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(rank), math.ceil(rank)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 50)


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Count, min, median, p50, p99, max of a latency-like sample."""
    return {
        "count": len(samples),
        "min": min(samples) if samples else math.nan,
        "median": median(samples),
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "max": max(samples) if samples else math.nan,
    }


def rate_mib_s(nbytes: int, seconds: float) -> float:
    """Throughput in MiB/s (``nan`` for a zero duration)."""
    return nbytes / MiB / seconds if seconds > 0 else math.nan


def ratio(value: float, baseline: float) -> float:
    if not baseline or math.isnan(baseline) or math.isnan(value):
        return math.nan
    return value / baseline


def runs_note(seconds: Sequence[float]) -> str:
    """'median of 3: 1.91, 2.06, 1.89 s': the runs behind a median, for a row's note."""
    return f"median of {len(seconds)}: " + ", ".join(f"{x:.2f}" for x in seconds) + " s"
