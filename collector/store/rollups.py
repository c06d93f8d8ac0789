"""The per-test rollups behind the analytics API, kept in step with the runs.

A run adds one row per test to ``test_days`` and ``test_day_durations``
(keyed by day and branch), one per test that passed or failed to
``test_commits`` (keyed by commit), and one per flaky-within-its-run result
to ``flaky_results``, all in the run's own transaction. Pruning subtracts the
same rows before it deletes the runs, so the rollups always describe exactly
the runs that are stored. Rows are written in key order, so two PostgreSQL
transactions touching the same rollups wait for each other instead of
deadlocking.

The SQL is the same on both backends but for the placeholder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ..analytics import duration_bucket
from ..model import RunPayload, TestResult

#: the result statuses that count as failures
FAILURES = frozenset({"failed", "error"})
#: the schema version that added the rollups: migrating to it rolls up the runs already stored
FIRST_VERSION = 2
#: runs read per slice when rolling up stored runs (SQLite allows 32,766 parameters)
ROLL_UP_RUNS = 500


class Cursor(Protocol):
    def executemany(self, sql: str, params: Iterable[Any], /) -> Any: ...


@dataclass(frozen=True, slots=True)
class RunKey:
    """What a rollup needs to know of the run a result belongs to."""

    project_id: int
    run_pk: int
    started_at: str
    branch: str | None
    commit: str | None


def is_flaky_within_run(status: str, attempts: int, flaky: bool) -> bool:
    """Passed after failing in the same run: reported flaky, or retried to a final pass."""
    return bool(flaky) or (attempts > 1 and status == "passed")


@dataclass(slots=True)
class Rollup:
    """Rollup rows, one per result, in key order: the parameters of ADD_DAYS, ADD_DURATIONS, ADD_COMMITS, ADD_FLAKY."""

    days: list[tuple[Any, ...]]
    durations: list[tuple[Any, ...]]
    commits: list[tuple[Any, ...]]
    flaky: list[tuple[int, str]]


def rollup_of(results: Iterable[tuple[RunKey, TestResult]], *, in_key_order: bool = False) -> Rollup:
    """The rollup rows of results; ``in_key_order`` when they come from one run sorted by test id."""
    days: list[tuple[Any, ...]] = []
    durations: list[tuple[Any, ...]] = []
    commits: list[tuple[Any, ...]] = []
    flaky: list[tuple[int, str]] = []
    for run, test in results:
        status = test.status
        ran = status != "skipped"
        passed = status == "passed"
        failed = status in FAILURES
        retried = bool(test.flaky) or (test.attempts > 1 and passed)
        duration = test.duration_ms if ran else None
        failure_at = run.started_at if failed else None
        failure_pk = run.run_pk if failed else None
        branch = run.branch or ""
        day = run.started_at[:10]
        days.append((
            run.project_id, day, branch, test.id, test.name, test.suite, 1, int(ran), int(passed), int(failed),
            int(retried), duration or 0.0, duration, duration, run.started_at, failure_at, failure_pk,
        ))  # fmt: skip
        if ran:
            durations.append((run.project_id, day, branch, test.id, duration_bucket(test.duration_ms), 1))
        if run.commit is not None and (passed or failed):
            commits.append(
                (run.project_id, branch, run.commit, test.id, int(passed), int(failed), run.started_at, failure_at, failure_pk)
            )
        if retried:
            flaky.append((run.run_pk, test.id))
    if not in_key_order:
        days.sort(key=_day_key)
        durations.sort(key=_duration_key)
        commits.sort(key=_day_key)
        flaky.sort()
    return Rollup(days, durations, commits, flaky)


def _day_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row[:4]


def _duration_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row[:5]


def rollup_of_run(project_id: int, run_pk: int, started_at: str, run: RunPayload) -> Rollup:
    """The rollup of a new run's tests."""
    key = RunKey(project_id, run_pk, started_at, run.vcs.get("branch"), run.vcs.get("commit"))
    return rollup_of(((key, test) for test in sorted(run.tests, key=_test_id)), in_key_order=True)


def _test_id(test: TestResult) -> str:
    return test.id


_NEWER = "CASE WHEN excluded.{col} > {table}.{col} THEN excluded.{col} ELSE {table}.{col} END"
_LATEST_FAILURE = (
    "CASE WHEN excluded.last_failure_at IS NOT NULL AND ({table}.last_failure_at IS NULL "
    "OR excluded.last_failure_at >= {table}.last_failure_at) THEN excluded.{col} ELSE {table}.{col} END"
)

ADD_DAYS = f"""
    INSERT INTO test_days (project_id, day, branch, test_id, name, suite, results, ran, passed, failures, flaky,
                           duration_sum, duration_min, duration_max, last_at, last_failure_at, last_failure_run_pk)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (project_id, day, branch, test_id) DO UPDATE SET
        name = CASE WHEN excluded.last_at >= test_days.last_at THEN excluded.name ELSE test_days.name END,
        suite = CASE WHEN excluded.last_at >= test_days.last_at THEN excluded.suite ELSE test_days.suite END,
        results = test_days.results + excluded.results,
        ran = test_days.ran + excluded.ran,
        passed = test_days.passed + excluded.passed,
        failures = test_days.failures + excluded.failures,
        flaky = test_days.flaky + excluded.flaky,
        duration_sum = test_days.duration_sum + excluded.duration_sum,
        duration_min = CASE WHEN test_days.duration_min IS NULL OR excluded.duration_min < test_days.duration_min
                       THEN excluded.duration_min ELSE test_days.duration_min END,
        duration_max = CASE WHEN test_days.duration_max IS NULL OR excluded.duration_max > test_days.duration_max
                       THEN excluded.duration_max ELSE test_days.duration_max END,
        last_at = {_NEWER.format(col="last_at", table="test_days")},
        last_failure_run_pk = {_LATEST_FAILURE.format(col="last_failure_run_pk", table="test_days")},
        last_failure_at = {_LATEST_FAILURE.format(col="last_failure_at", table="test_days")}
"""
ADD_DURATIONS = """
    INSERT INTO test_day_durations (project_id, day, branch, test_id, bucket, count) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (project_id, day, branch, test_id, bucket) DO UPDATE SET count = test_day_durations.count + excluded.count
"""
ADD_COMMITS = f"""
    INSERT INTO test_commits (project_id, branch, commit_sha, test_id, passed, failures, last_at,
                              last_failure_at, last_failure_run_pk)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (project_id, branch, commit_sha, test_id) DO UPDATE SET
        passed = test_commits.passed + excluded.passed,
        failures = test_commits.failures + excluded.failures,
        last_at = {_NEWER.format(col="last_at", table="test_commits")},
        last_failure_run_pk = {_LATEST_FAILURE.format(col="last_failure_run_pk", table="test_commits")},
        last_failure_at = {_LATEST_FAILURE.format(col="last_failure_at", table="test_commits")}
"""
ADD_FLAKY = "INSERT INTO flaky_results (run_pk, test_id) VALUES (?, ?)"

SUBTRACT_DAYS = """
    UPDATE test_days SET results = results - ?, ran = ran - ?, passed = passed - ?, failures = failures - ?,
                         flaky = flaky - ?, duration_sum = duration_sum - ?
    WHERE project_id = ? AND day = ? AND branch = ? AND test_id = ?
"""
DROP_EMPTY_DAYS = (
    "DELETE FROM test_days WHERE project_id = ? AND day = ? AND branch = ? AND test_id = ? AND results <= 0"
)
SUBTRACT_DURATIONS = """
    UPDATE test_day_durations SET count = count - ?
    WHERE project_id = ? AND day = ? AND branch = ? AND test_id = ? AND bucket = ?
"""
DROP_EMPTY_DURATIONS = """
    DELETE FROM test_day_durations
    WHERE project_id = ? AND day = ? AND branch = ? AND test_id = ? AND bucket = ? AND count <= 0
"""
SUBTRACT_COMMITS = """
    UPDATE test_commits SET passed = passed - ?, failures = failures - ?
    WHERE project_id = ? AND branch = ? AND commit_sha = ? AND test_id = ?
"""
DROP_EMPTY_COMMITS = """
    DELETE FROM test_commits
    WHERE project_id = ? AND branch = ? AND commit_sha = ? AND test_id = ? AND passed <= 0 AND failures <= 0
"""

#: what pruning reads of the runs it is about to delete, to subtract their rollups
RESULTS_OF_RUNS = """
    SELECT r.project_id, r.id, r.started_at, r.branch, r.commit_sha,
           t.test_id, t.name, t.suite, t.status, t.duration_ms, t.attempts, t.flaky
    FROM runs r JOIN test_results t ON t.run_pk = r.id
    WHERE r.id IN ({ids})
"""


def add(cursor: Cursor, rollup: Rollup, param: str = "?") -> None:
    """Add a rollup (a new run's) to the tables, in key order."""
    sql = _dialect(param)
    cursor.executemany(sql(ADD_DAYS), rollup.days)
    if rollup.durations:
        cursor.executemany(sql(ADD_DURATIONS), rollup.durations)
    if rollup.commits:
        cursor.executemany(sql(ADD_COMMITS), rollup.commits)
    if rollup.flaky:
        cursor.executemany(sql(ADD_FLAKY), rollup.flaky)


def subtract(cursor: Cursor, rollup: Rollup, param: str = "?") -> None:
    """Take a rollup (of runs about to be deleted) out of the tables, dropping rows that reach zero.

    Ranges (shortest, longest, latest failure) are not narrowed: they may
    still name a deleted run on a day that keeps other runs.
    """
    sql = _dialect(param)
    cursor.executemany(sql(SUBTRACT_DAYS), [(*row[6:12], *row[:4]) for row in rollup.days])
    cursor.executemany(sql(DROP_EMPTY_DAYS), [row[:4] for row in rollup.days])
    if rollup.durations:
        cursor.executemany(sql(SUBTRACT_DURATIONS), [(row[5], *row[:5]) for row in rollup.durations])
        cursor.executemany(sql(DROP_EMPTY_DURATIONS), [row[:5] for row in rollup.durations])
    if rollup.commits:
        cursor.executemany(sql(SUBTRACT_COMMITS), [(row[4], row[5], *row[:4]) for row in rollup.commits])
        cursor.executemany(sql(DROP_EMPTY_COMMITS), [row[:4] for row in rollup.commits])


def results_of_runs_sql(count: int, param: str = "?") -> str:
    return RESULTS_OF_RUNS.format(ids=", ".join([param] * count))


def rollup_of_rows(rows: Iterable[Any]) -> Rollup:
    """The rollup of rows of RESULTS_OF_RUNS (read as tuples)."""

    def pairs() -> Iterable[tuple[RunKey, TestResult]]:
        for project_id, run_pk, started_at, branch, commit, test_id, name, suite, status, duration, attempts, flaky in rows:
            run = RunKey(project_id, run_pk, started_at, branch, commit)
            yield run, TestResult(test_id, name, suite, None, None, status, duration, attempts, bool(flaky), None, None)

    return rollup_of(pairs())


def _dialect(param: str) -> Any:
    if param == "?":
        return lambda sql: sql
    return lambda sql: sql.replace("?", param)
