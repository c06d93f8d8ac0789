"""Chart geometry: scales, gaps for days without runs, one cell per result."""

from __future__ import annotations

import pytest

from collector.analytics import DaySummary
from collector.model import HistoryEntry
from collector.web import charts


def day(name: str, runs: int, passed: int, failed: int, p50: float | None = None) -> DaySummary:
    return DaySummary(name, runs, passed, failed, tests_run=runs * 10, p50_duration_ms=p50)


def entry(status: str, duration: float, *, flaky: bool = False, run_id: str = "r") -> HistoryEntry:
    return HistoryEntry(run_id, "test_x", "tests/test_x.py", "2026-01-12T10:00:00.000000Z", "abc", "main", status, duration, 1, flaky, None)


@pytest.mark.parametrize(("value", "ceiling"), [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (240, 250), (0.3, 0.5)])
def test_axes_end_on_a_round_number_at_or_above_the_largest_value(value: float, ceiling: float) -> None:
    assert charts.nice_ceiling(value) == ceiling


def test_runs_per_day_stacks_passed_failed_and_other_up_to_the_days_total() -> None:
    chart = charts.runs_per_day([day("2026-01-11", 0, 0, 0), day("2026-01-12", 5, 3, 1)])

    kinds = [mark.kind for mark in chart.marks]
    assert kinds == ["passed", "failed", "other"]
    top = min(mark.y for mark in chart.marks)
    bottom = max(mark.y + mark.height for mark in chart.marks)
    assert (top, bottom) == (charts.TOP, chart.baseline)  # 5 runs reach the top of an axis ending at 5
    assert [tick.label for tick in chart.y_ticks] == ["0", "1", "2", "3", "4", "5"]
    assert chart.marks[0].title == "2026-01-12: 5 runs, 3 passed, 1 failed, 1 other"


@pytest.mark.parametrize(
    ("most", "labels"),
    [(7, "0 2 4 6 8 10"), (13, "0 5 10 15 20"), (40, "0 10 20 30 40 50"), (150, "0 50 100 150 200")],
)
def test_the_runs_axis_has_whole_number_ticks(most: int, labels: str) -> None:
    chart = charts.runs_per_day([day("2026-01-12", most, most, 0)])

    assert [tick.label for tick in chart.y_ticks] == labels.split()


def test_the_pass_rate_line_breaks_on_days_without_runs() -> None:
    days = [day("d1", 2, 2, 0), day("d2", 2, 1, 1), day("d3", 0, 0, 0), day("d4", 1, 0, 1), day("d5", 1, 1, 0)]

    chart = charts.pass_rate(days)

    assert [len(line.split()) for line in chart.lines] == [2, 2]
    assert [dot.title for dot in chart.dots][:2] == ["d1: 100% of 2 runs passed", "d2: 50% of 2 runs passed"]


def test_the_status_strip_has_one_linked_cell_per_result_oldest_first() -> None:
    entries = [
        entry("failed", 5, run_id="newest"),
        entry("passed", 4, flaky=True),
        entry("skipped", 0, run_id="oldest"),
    ]

    chart = charts.status_strip(entries, lambda run_id: f"/ui/runs/{run_id}")

    assert [mark.kind for mark in chart.marks] == ["skipped", "flaky", "failed"]
    assert [mark.href for mark in chart.marks][::2] == ["/ui/runs/oldest", "/ui/runs/newest"]


def test_the_duration_history_leaves_out_skipped_results() -> None:
    chart = charts.duration_history([entry("passed", 20), entry("skipped", 0)], lambda run_id: run_id)

    assert len(chart.marks) == 1
    assert chart.y_ticks[-1].label == "20 ms"
