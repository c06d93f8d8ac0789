"""The analytics answers on every backend, from crafted histories with known numbers.

Today is pinned to 2026-01-20, so the default 14-day window starts on 2026-01-07.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from collector.analytics import Analytics, FailureDetail
from collector.model import Project, RunPayload, TestResult
from collector.store.base import Store

TODAY = date(2026, 1, 20)
RECEIVED_AT = "2026-01-20T12:00:00.000000Z"

A = "tests/test_a.py::test_retried"
B = "tests/test_b.py::test_cross_producer[x/y]"
C = "tests/test_c.py::test_always_fails"
D = "tests/test_d.py::test_got_slower"
E = "tests/test_e.py::test_fails_on_feature"


def result(test_id: str, status: str = "passed", duration_ms: float = 1.0, **fields: Any) -> TestResult:
    values: dict[str, Any] = {
        "id": test_id,
        "name": test_id.split("::")[1],
        "suite": test_id.split("::")[0],
        "file": None,
        "line": None,
        "status": status,
        "duration_ms": duration_ms,
        "attempts": 1,
        "flaky": False,
        "message": f"{status} in {test_id}" if status in ("failed", "error") else None,
        "details": None,
    }
    values.update(fields)
    return TestResult(**values)


# run id, started_at, branch, commit, tests
HISTORY: list[tuple[str, str, str, str, list[TestResult]]] = [
    ("old-fail", "2025-12-20T09:00:00.000000Z", "main", "c0", [result(B, "failed"), result(D, duration_ms=90)]),
    ("old-pass", "2025-12-20T10:00:00.000000Z", "main", "c0", [result(B), result(D, duration_ms=90)]),
    (
        "r1",
        "2026-01-10T09:00:00.000000Z",
        "main",
        "c1",
        [
            result(A, attempts=2, flaky=True),
            result(B),
            result(C, "failed", message="boom 1"),
            result(D, duration_ms=100),
        ],
    ),
    ("r2-pytest", "2026-01-11T09:00:00.000000Z", "main", "c2", [result(B, "failed"), result(C, "failed"), result(D, duration_ms=100)]),
    ("r3-junit", "2026-01-11T10:00:00.000000Z", "main", "c2", [result(B), result(C, "error"), result(D, duration_ms=200)]),
    ("r4", "2026-01-12T09:00:00.000000Z", "feature", "f1", [result(E, "failed"), result(C, "failed"), result(D, duration_ms=300)]),
    (
        "r5",
        "2026-01-13T09:00:00.000000Z",
        "main",
        "c3",
        [result(A), result(B), result(C, "failed", message="boom 5"), result(D, duration_ms=400), result(E), result("t.py::skip", "skipped")],
    ),
]


def seed(store: Store, project: Project, make_run: Callable[..., RunPayload], history: list[Any] = HISTORY) -> None:
    for run_id, started_at, branch, commit, tests in history:
        run = make_run(run_id, tests=tests, started_at=started_at, branch=branch)
        run.vcs = {**run.vcs, "commit": commit}
        run.duration_ms = 1000.0 * len(tests)
        assert store.insert_run(project, run, RECEIVED_AT).outcome == "created"


@pytest.fixture
def analytics(store: Store) -> Analytics:
    return Analytics(store, today=lambda: TODAY)


@pytest.fixture
def seeded(store: Store, project: Project, make_run: Callable[..., RunPayload]) -> Project:
    seed(store, project, make_run)
    return project


def as_rows(items: list[Any], *fields: str) -> list[tuple[Any, ...]]:
    return [tuple(getattr(item, name) for name in fields) for item in items]


FLAKY_FIELDS = ("test_id", "flaky_commits", "flaky_runs", "runs", "flake_rate", "last_flaky_at", "example_run_ids")


def test_flaky_counts_retries_and_a_commit_that_both_passed_and_failed(analytics: Analytics, seeded: Project) -> None:
    flaky = analytics.flaky(seeded, analytics.window())

    assert as_rows(flaky, *FLAKY_FIELDS) == [
        (A, 1, 1, 2, 0.5, "2026-01-10T09:00:00.000000Z", ["r1"]),
        (B, 1, 1, 4, 0.25, "2026-01-11T10:00:00.000000Z", ["r2-pytest"]),
    ]
    assert (flaky[0].name, flaky[0].suite) == ("test_retried", "tests/test_a.py")


def test_a_test_that_always_fails_or_fails_only_elsewhere_is_not_flaky(analytics: Analytics, seeded: Project) -> None:
    flaky_ids = {t.test_id for t in analytics.flaky(seeded, analytics.window())}

    assert C not in flaky_ids and E not in flaky_ids


def test_a_wider_window_takes_in_the_older_flaky_commit(analytics: Analytics, seeded: Project) -> None:
    flaky = analytics.flaky(seeded, analytics.window(days=60))

    assert as_rows(flaky, *FLAKY_FIELDS) == [
        (B, 2, 2, 6, 2 / 6, "2026-01-11T10:00:00.000000Z", ["r2-pytest", "old-fail"]),
        (A, 1, 1, 2, 0.5, "2026-01-10T09:00:00.000000Z", ["r1"]),
    ]


def test_a_branch_filter_sees_only_that_branch(analytics: Analytics, seeded: Project) -> None:
    window = analytics.window(branch="feature")

    assert analytics.flaky(seeded, window) == []
    assert as_rows(analytics.failing(seeded, window), "test_id", "failures", "runs", "failure_rate") == [
        (C, 1, 1, 1.0),
        (E, 1, 1, 1.0),
    ]


def test_failing_counts_failures_and_errors_over_results_that_ran(analytics: Analytics, seeded: Project) -> None:
    failing = analytics.failing(seeded, analytics.window())

    assert as_rows(failing, "test_id", "failures", "runs", "failure_rate") == [
        (C, 5, 5, 1.0),
        (E, 1, 2, 0.5),
        (B, 1, 4, 0.25),
    ]
    assert failing[0].last_failure == FailureDetail("r5", "2026-01-13T09:00:00.000000Z", "boom 5")
    assert failing[1].last_failure == FailureDetail("r4", "2026-01-12T09:00:00.000000Z", f"failed in {E}")


def test_slowest_reports_percentiles_within_five_percent_and_exact_means(analytics: Analytics, seeded: Project) -> None:
    slowest = analytics.slowest(seeded, analytics.window())
    total_time = 100 + 100 + 200 + 300 + 400 + 1.0 * 13  # D, then every other result that ran

    top = slowest[0]
    assert (top.test_id, top.runs, top.mean_ms) == (D, 5, 220.0)
    assert top.p50_ms == pytest.approx(200, rel=0.05)
    assert top.p95_ms == pytest.approx(400, rel=0.05)
    assert top.share == pytest.approx(1100 / total_time)
    assert sum(t.share for t in slowest) == pytest.approx(1.0)
    assert "t.py::skip" not in {t.test_id for t in slowest}


def test_a_test_that_got_slower_shows_it_in_its_history(analytics: Analytics, seeded: Project) -> None:
    page = analytics.history(seeded, D, limit=3)

    assert as_rows(page.entries, "run_id", "duration_ms", "commit", "branch", "status") == [
        ("r5", 400, "c3", "main", "passed"),
        ("r4", 300, "f1", "feature", "passed"),
        ("r3-junit", 200, "c2", "main", "passed"),
    ]
    rest = analytics.history(seeded, D, limit=3, cursor=page.next_cursor)
    assert [e.run_id for e in rest.entries] == ["r2-pytest", "r1", "old-pass"]
    last = analytics.history(seeded, D, limit=3, cursor=rest.next_cursor)
    assert ([e.run_id for e in last.entries], last.next_cursor) == (["old-fail"], None)


def test_history_shows_attempts_flakiness_and_messages(analytics: Analytics, seeded: Project) -> None:
    (newest, oldest) = analytics.history(seeded, A).entries

    assert (oldest.run_id, oldest.attempts, oldest.flaky) == ("r1", 2, True)
    assert (newest.run_id, newest.attempts, newest.flaky) == ("r5", 1, False)
    assert analytics.history(seeded, C, limit=1).entries[0].message == "boom 5"


def test_summary_counts_runs_per_day_and_in_total(analytics: Analytics, seeded: Project) -> None:
    summary = analytics.summary(seeded, analytics.window())

    assert len(summary.days) == 14 and summary.days[0].day == "2026-01-07" and summary.days[-1].day == "2026-01-20"
    by_day = {d.day: (d.runs, d.passed_runs, d.failed_runs, d.tests_run, d.p50_duration_ms) for d in summary.days}
    assert by_day["2026-01-10"] == (1, 0, 1, 4, 4000.0)
    assert by_day["2026-01-11"] == (2, 0, 2, 6, 3000.0)
    assert by_day["2026-01-13"] == (1, 0, 1, 5, 6000.0)
    assert by_day["2026-01-14"] == (0, 0, 0, 0, None)
    totals = summary.totals
    assert (totals.runs, totals.passed_runs, totals.failed_runs, totals.tests_run) == (5, 0, 5, 18)
    assert totals.p50_duration_ms == 3000.0


def test_another_project_sees_none_of_it(
    analytics: Analytics, seeded: Project, store: Store, make_run: Callable[..., RunPayload]
) -> None:
    other = store.create_project("acme", "other")
    window = analytics.window(days=90)

    assert analytics.summary(other, window).totals.runs == 0
    assert analytics.flaky(other, window) == []
    assert analytics.failing(other, window) == []
    assert analytics.slowest(other, window) == []
    assert analytics.history(other, D).entries == []


def test_limit_keeps_the_first_answers(analytics: Analytics, seeded: Project) -> None:
    assert [t.test_id for t in analytics.failing(seeded, analytics.window(), limit=1)] == [C]
    assert [t.test_id for t in analytics.flaky(seeded, analytics.window(), limit=1)] == [A]


def answers(analytics: Analytics, project: Project) -> list[Any]:
    window = analytics.window(days=90)
    return [
        analytics.summary(project, window).totals,
        analytics.flaky(project, window),
        analytics.failing(project, window),
        [(t.test_id, t.runs, t.mean_ms, t.share) for t in analytics.slowest(project, window)],
    ]


def test_after_pruning_the_answers_are_those_of_the_runs_that_remain(
    analytics: Analytics,
    seeded: Project,
    store: Store,
    make_run: Callable[..., RunPayload],
) -> None:
    store.prune_runs("2026-01-11T09:30:00.000000Z", project=seeded, batch_tests=3)

    fresh = store.create_project("acme", "fresh")
    seed(store, fresh, make_run, [run for run in HISTORY if run[1] > "2026-01-11T09:30"])
    assert answers(analytics, seeded) == answers(analytics, fresh)
    assert answers(analytics, seeded)[2] != []


LATER = date(2026, 6, 20)


def test_a_year_long_window_reads_closed_months_and_gives_the_same_answers(
    analytics: Analytics, seeded: Project, store: Store, make_run: Callable[..., RunPayload]
) -> None:
    by_days = answers(analytics, seeded)
    later = Analytics(store, today=lambda: LATER)
    year = later.window(days=365)

    assert [t for t in later.failing(seeded, year)] == analytics.failing(seeded, analytics.window(days=90))
    assert later.flaky(seeded, year) == analytics.flaky(seeded, analytics.window(days=90))
    assert [(t.test_id, t.runs, t.mean_ms, t.share) for t in later.slowest(seeded, year)] == by_days[3]
    main = later.window(days=365, branch="main")
    assert [(t.test_id, t.failures, t.runs) for t in later.failing(seeded, main)] == [(C, 4, 4), (B, 2, 6)]


def test_a_late_run_in_a_closed_month_and_pruning_keep_the_month_rows_exact(
    analytics: Analytics, seeded: Project, store: Store, make_run: Callable[..., RunPayload]
) -> None:
    later = Analytics(store, today=lambda: LATER)
    year = later.window(days=365)
    later.failing(seeded, year)  # builds the months

    seed(store, seeded, make_run, [("late", "2025-12-21T09:00:00.000000Z", "main", "c0", [result(E, "failed")])])
    assert [(t.test_id, t.failures, t.runs) for t in later.failing(seeded, year)] == [(C, 5, 5), (E, 2, 3), (B, 2, 6)]

    store.prune_runs("2025-12-31T00:00:00.000000Z", project=seeded)
    assert [(t.test_id, t.failures, t.runs) for t in later.failing(seeded, year)] == [(C, 5, 5), (E, 1, 2), (B, 1, 4)]


#: what the migrations after 0001 add, undone newest first
UNDO_AFTER_VERSION_1 = (
    "DROP TABLE upload_batches",
    "DROP INDEX runs_upload_id",
    "ALTER TABLE runs DROP COLUMN upload_id",
    "ALTER TABLE runs DROP COLUMN is_open",
    "DROP TABLE quarantine_events",
    "DROP TABLE quarantine",
    "ALTER TABLE tokens DROP COLUMN name",
    "ALTER TABLE projects DROP COLUMN auto_quarantine",
    "DROP TABLE default_failures",
    "DROP INDEX IF EXISTS test_results_failures",  # SQLite only
    "ALTER TABLE runs DROP COLUMN verdict",
    "ALTER TABLE projects DROP COLUMN default_branch",
    "DROP TABLE web_sessions",
    *(f"DROP TABLE {table}" for table in ("flaky_results", "test_commits", "rollup_months", "test_months", "test_days")),
    "DROP INDEX test_results_test_id",
    "DROP INDEX runs_commit",
)


def test_migrating_an_older_database_rolls_up_the_runs_it_already_holds(
    analytics: Analytics, seeded: Project, store: Store
) -> None:
    before = answers(analytics, seeded)
    with store._transaction() as conn:  # back to schema 1: the runs without their rollups
        for statement in UNDO_AFTER_VERSION_1:
            conn.execute(statement)
        conn.execute("DELETE FROM schema_migrations WHERE version >= 2")

    assert store.migrate() == list(range(2, store.LATEST_VERSION + 1))
    assert answers(analytics, seeded) == before


def test_failing_and_flaky_give_the_same_answers_from_totals_read_once(analytics: Analytics, seeded: Project) -> None:
    assert analytics.failing(seeded, analytics.window()) and analytics.flaky(seeded, analytics.window())
    for window in (analytics.window(), analytics.window(days=60), analytics.window(branch="feature")):
        totals = analytics.totals(seeded, window)

        assert analytics.failing(seeded, window, totals=totals) == analytics.failing(seeded, window)
        assert analytics.flaky(seeded, window, totals=totals) == analytics.flaky(seeded, window)
