"""Duration histograms: buckets within 5%, and nearest-rank percentiles read from them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from collector.histogram import (
    bucket_value,
    duration_bucket,
    exact_percentile,
    histogram_percentile,
)

durations = st.floats(min_value=0.011, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(durations)
def test_a_durations_bucket_stands_for_it_within_five_percent(duration: float) -> None:
    assert abs(bucket_value(duration_bucket(duration)) - duration) <= 0.05 * duration


@given(durations, durations)
def test_longer_durations_never_fall_in_an_earlier_bucket(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert duration_bucket(low) <= duration_bucket(high)


def test_zero_and_tiny_durations_share_the_first_bucket() -> None:
    assert duration_bucket(0.0) == duration_bucket(0.01) == 0
    assert duration_bucket(0.0101) == 1


@given(st.lists(durations, min_size=1, max_size=200), st.sampled_from([50, 95, 99]))
def test_a_histogram_percentile_is_within_five_percent_of_the_exact_one(values: list[float], percent: int) -> None:
    counts: dict[int, int] = {}
    for value in values:
        counts[duration_bucket(value)] = counts.get(duration_bucket(value), 0) + 1

    exact = exact_percentile(values, percent)
    approximate = histogram_percentile(counts, percent, min(values), max(values))

    assert exact is not None and approximate is not None
    assert abs(approximate - exact) <= 0.05 * exact


def test_a_test_that_always_takes_the_same_time_gets_that_time_exactly() -> None:
    counts = {duration_bucket(123.4): 7}

    assert histogram_percentile(counts, 50, 123.4, 123.4) == 123.4
    assert histogram_percentile(counts, 95, 123.4, 123.4) == 123.4


def test_percentiles_are_nearest_rank() -> None:
    assert exact_percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert exact_percentile([1.0, 2.0], 50) == 1.0
    assert exact_percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 95) == 10.0
    assert exact_percentile([], 50) is None
    assert histogram_percentile({}, 50, None, None) is None
