"""Test analytics: which tests are flaky, slow or failing, per day and per test.

The definitions (also in the README and the OpenAPI document):

- A test is its ``id`` within a project. A window is the last ``days`` UTC
  calendar days, today included, optionally on one ``branch``.
- A result *ran* unless it was skipped. A *failure* is a result that failed
  or errored. *Failure rate* = failures / results that ran.
- A result is *flaky within its run* when it passed after failing there:
  ``flaky: true``, or ``attempts > 1`` with a final pass.
- A commit is *flaky* for a test when the test was flaky within a run on it,
  or when, on that commit and branch, the test both passed and failed across
  runs, attempts or producers. A test that always fails is failing, not flaky.
- ``flaky_runs``: results flaky within their run, plus failures on a commit
  where the same test also passed. ``flake_rate`` = flaky_runs / runs that ran.
- Durations are of results that ran. p50 and p95 come from per-test duration
  histograms whose buckets are 10% wide, so they are within 5% of the exact
  figure (and never outside the smallest and largest duration seen); the
  mean and ``share`` (of all test time in the window) are exact.

The store keeps per-day rollups at ingest; this module turns them into answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from .errors import BadRequest
from .histogram import exact_percentile, histogram_percentile
from .model import (
    FailureDetail,
    HistoryPage,
    RunPoint,
    TestLabel,
    TestTotals,
    Window,
)
from .params import bounded_int

if TYPE_CHECKING:
    from .model import Project
    from .store import Store

DEFAULT_DAYS = 14
MAX_DAYS = 3660
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
#: example run ids listed per flaky test
EXAMPLES = 5


# --- what the API and the web pages show ----------------------------------------------
@dataclass(frozen=True, slots=True)
class DaySummary:
    day: str
    runs: int
    passed_runs: int
    failed_runs: int
    tests_run: int
    p50_duration_ms: float | None


@dataclass(frozen=True, slots=True)
class Summary:
    window: Window
    days: list[DaySummary]
    totals: DaySummary

    def as_dict(self) -> dict[str, Any]:
        totals = asdict(self.totals)
        del totals["day"]
        return {"window": self.window.as_dict(), "days": [asdict(day) for day in self.days], "totals": totals}


@dataclass(frozen=True, slots=True)
class FlakyTest:
    test_id: str
    name: str
    suite: str | None
    flaky_commits: int
    flaky_runs: int
    runs: int
    flake_rate: float
    last_flaky_at: str
    example_run_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SlowTest:
    test_id: str
    name: str
    suite: str | None
    runs: int
    p50_ms: float | None
    p95_ms: float | None
    mean_ms: float | None
    share: float


@dataclass(frozen=True, slots=True)
class FailingTest:
    test_id: str
    name: str
    suite: str | None
    failures: int
    runs: int
    failure_rate: float
    last_failure: FailureDetail | None


# --- query parameters ------------------------------------------------------------------
def parse_days(raw: str | None) -> int:
    return bounded_int("days", raw, DEFAULT_DAYS, MAX_DAYS)


def parse_limit(raw: str | None) -> int:
    return bounded_int("limit", raw, DEFAULT_LIMIT, MAX_LIMIT)


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


# --- the answers ------------------------------------------------------------------------
class Analytics:
    """Answers over a project's rollups; ``today`` is injectable so windows can be tested."""

    def __init__(self, store: Store, today: Callable[[], date] = utc_today) -> None:
        self.store = store
        self._today = today

    def window(self, days: int = DEFAULT_DAYS, branch: str | None = None) -> Window:
        return Window(days=days, branch=branch or None, today=self._today())

    def summary(self, project: Project, window: Window) -> Summary:
        by_day: dict[str, list[RunPoint]] = defaultdict(list)
        for point in self.store.window_runs(project, window):
            by_day[point.started_at[:10]].append(point)
        days = [_day_summary(day, by_day.get(day, [])) for day in window.day_list()]
        everything = [point for points in by_day.values() for point in points]
        return Summary(window, days, _day_summary(window.first_day, everything))

    def slowest(self, project: Project, window: Window, limit: int = DEFAULT_LIMIT) -> list[SlowTest]:
        durations = self.store.test_durations(project, window)
        all_time = sum(d.duration_sum for d in durations.values())
        rows = [
            (
                test_id,
                d.ran,
                histogram_percentile(d.histogram, 50, d.duration_min, d.duration_max),
                histogram_percentile(d.histogram, 95, d.duration_min, d.duration_max),
                d.duration_sum / d.ran,
                d.duration_sum / all_time if all_time > 0 else 0.0,
            )
            for test_id, d in durations.items()
        ]
        rows.sort(key=lambda row: (-(row[3] or 0.0), -row[4], row[0]))
        rows = rows[:limit]
        labels = self.store.test_labels(project, window, [row[0] for row in rows])
        return [SlowTest(test_id, *_name(labels, test_id), runs, p50, p95, mean, share) for test_id, runs, p50, p95, mean, share in rows]

    def failing(
        self, project: Project, window: Window, limit: int = DEFAULT_LIMIT, *, totals: list[TestTotals] | None = None
    ) -> list[FailingTest]:
        """``totals``: the window's test totals when the caller already has them (the overview needs them twice)."""
        totals = self.store.test_totals(project, window) if totals is None else totals
        failing = [t for t in totals if t.failures]
        failing.sort(key=lambda t: (-t.failures, -t.failures / t.ran, t.test_id))
        failing = failing[:limit]
        labels = self.store.test_labels(project, window, [t.test_id for t in failing], failures=True)
        last = self.store.failure_details(
            project,
            [(label.last_failure_run_pk, test_id) for test_id, label in labels.items() if label.last_failure_run_pk],
        )
        answer = []
        for t in failing:
            label = labels.get(t.test_id)
            detail = last.get((label.last_failure_run_pk, t.test_id)) if label and label.last_failure_run_pk else None
            answer.append(FailingTest(t.test_id, *_name(labels, t.test_id), t.failures, t.ran, t.failures / t.ran, detail))
        return answer

    def flaky(
        self, project: Project, window: Window, limit: int = DEFAULT_LIMIT, *, totals: list[TestTotals] | None = None
    ) -> list[FlakyTest]:
        commits: dict[str, set[str]] = defaultdict(set)
        flaky_runs: dict[str, int] = defaultdict(int)
        last: dict[str, str] = {}
        examples: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for flake in self.store.retry_flakes(project, window):
            flaky_runs[flake.test_id] += 1
            if flake.commit is not None:
                commits[flake.test_id].add(flake.commit)
            last[flake.test_id] = max(last.get(flake.test_id, ""), flake.at)
            examples[flake.test_id].append((flake.at, flake.run_id))
        for mixed in self.store.mixed_commits(project, window):
            flaky_runs[mixed.test_id] += mixed.failures
            commits[mixed.test_id].add(mixed.commit)
            last[mixed.test_id] = max(last.get(mixed.test_id, ""), mixed.last_at)
            if mixed.last_failure_run_id is not None:
                examples[mixed.test_id].append((mixed.last_at, mixed.last_failure_run_id))
        if not flaky_runs:
            return []
        if totals is None:
            totals = self.store.test_totals(project, window, list(flaky_runs))
        ran = {t.test_id: t.ran for t in totals if t.test_id in flaky_runs}
        rows = []
        for test_id, count in flaky_runs.items():
            runs = max(ran.get(test_id, 0), count)
            rows.append((test_id, len(commits[test_id]), count, runs, count / runs))
        rows.sort(key=lambda row: (-row[2], -row[4], row[0]))
        rows = rows[:limit]
        labels = self.store.test_labels(project, window, [row[0] for row in rows])
        return [
            FlakyTest(
                test_id,
                *_name(labels, test_id),
                flaky_commits=flaky_commits,
                flaky_runs=count,
                runs=runs,
                flake_rate=rate,
                last_flaky_at=last[test_id],
                example_run_ids=_newest_unique(examples[test_id]),
            )
            for test_id, flaky_commits, count, runs, rate in rows
        ]

    def totals(self, project: Project, window: Window) -> list[TestTotals]:
        """Every test's totals over the window, to hand to failing() and flaky() together."""
        return self.store.test_totals(project, window)

    def history(self, project: Project, test_id: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> HistoryPage:
        if not test_id:
            raise BadRequest("test_id is required: the id of a test as its results report it, URL-encoded")
        return self.store.test_history(project, test_id, limit=limit, cursor=cursor)


def _day_summary(day: str, points: list[RunPoint]) -> DaySummary:
    return DaySummary(
        day=day,
        runs=len(points),
        passed_runs=sum(1 for p in points if p.status == "passed"),
        failed_runs=sum(1 for p in points if p.status in ("failed", "error")),
        tests_run=sum(p.tests_ran for p in points),
        p50_duration_ms=exact_percentile([p.duration_ms for p in points if p.duration_ms is not None], 50),
    )


def _name(labels: Mapping[str, TestLabel], test_id: str) -> tuple[str, str | None]:
    label = labels.get(test_id)
    return (label.name, label.suite) if label else (test_id, None)


def _newest_unique(examples: Iterable[tuple[str, str]]) -> list[str]:
    run_ids: list[str] = []
    for _, run_id in sorted(examples, reverse=True):
        if run_id not in run_ids:
            run_ids.append(run_id)
        if len(run_ids) == EXAMPLES:
            break
    return run_ids
