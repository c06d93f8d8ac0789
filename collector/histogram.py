"""Duration histograms: the buckets the rollups count durations in, and percentiles read from them.

Buckets are 10% wide, so a percentile read from a histogram is within 5% of
the exact figure; both the store (which counts results into buckets, in SQL
on PostgreSQL and with ``duration_bucket`` registered as a function on
SQLite) and the analytics (which read percentiles back) use this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: durations at or below this (ms) share bucket 0; above it each bucket is 10% wider than the last
BUCKET_FLOOR_MS = 0.01
BUCKET_GROWTH = 1.1


def duration_bucket(duration_ms: float) -> int:
    """The histogram bucket of a duration: bucket b holds (FLOOR·1.1^(b-1), FLOOR·1.1^b]."""
    if duration_ms <= BUCKET_FLOOR_MS:
        return 0
    return max(1, math.ceil(math.log(duration_ms / BUCKET_FLOOR_MS) / math.log(BUCKET_GROWTH) - 1e-9))


def bucket_value(bucket: int) -> float:
    """The geometric middle of a bucket: within 5% of every duration in it (bucket 0: its half)."""
    if bucket <= 0:
        return BUCKET_FLOOR_MS / 2
    return BUCKET_FLOOR_MS * BUCKET_GROWTH ** (bucket - 0.5)


def histogram_percentile(counts: Mapping[int, int], percent: float, low: float | None, high: float | None) -> float | None:
    """The nearest-rank percentile of a histogram, kept within the range [low, high] actually seen."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(percent / 100 * total))
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            value = bucket_value(bucket)
            if low is not None:
                value = max(value, low)
            if high is not None:
                value = min(value, high)
            return value
    return None  # unreachable: the loop reaches total >= rank


def exact_percentile(values: list[float], percent: float) -> float | None:
    """Nearest-rank percentile of a list (run durations are few enough to sort)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]
