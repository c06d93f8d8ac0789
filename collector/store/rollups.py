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

from collections import defaultdict
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

    @property
    def day(self) -> str:
        return self.started_at[:10]


def is_flaky_within_run(status: str, attempts: int, flaky: bool) -> bool:
    """Passed after failing in the same run: reported flaky, or retried to a final pass."""
    return bool(flaky) or (attempts > 1 and status == "passed")


@dataclass(slots=True)
class Rollup:
    """The rollup rows of some results, summed by key."""

    days: dict[tuple[Any, ...], list[Any]]
    durations: dict[tuple[Any, ...], int]
    commits: dict[tuple[Any, ...], list[Any]]
    flaky: list[tuple[int, str]]


def rollup_of(results: Iterable[tuple[RunKey, TestResult]]) -> Rollup:
    days: dict[tuple[Any, ...], list[Any]] = {}
    durations: dict[tuple[Any, ...], int] = defaultdict(int)
    commits: dict[tuple[Any, ...], list[Any]] = {}
    flaky: list[tuple[int, str]] = []
    for run, test in results:
        branch = run.branch or ""
        ran = test.status != "skipped"
        failed = test.status in FAILURES
        failure_at = run.started_at if failed else None
        failure_pk = run.run_pk if failed else None
        duration = test.duration_ms if ran else None
        day_key = (run.project_id, run.day, branch, test.id)
        row = days.get(day_key)
        if row is None:
            days[day_key] = [
                test.name, test.suite, 1, int(ran), int(test.status == "passed"), int(failed),
                int(is_flaky_within_run(test.status, test.attempts, test.flaky)),
                duration or 0.0, duration, duration, run.started_at, failure_at, failure_pk,
            ]  # fmt: skip
        else:
            _add_day(row, test, ran, failed, duration, run.started_at, failure_at, failure_pk)
        if ran:
            durations[(*day_key, duration_bucket(test.duration_ms))] += 1
        if run.commit is not None and (failed or test.status == "passed"):
            commit_key = (run.project_id, branch, run.commit, test.id)
            found = commits.get(commit_key)
            if found is None:
                commits[commit_key] = [int(not failed), int(failed), run.started_at, failure_at, failure_pk]
            else:
                found[0] += int(not failed)
                found[1] += int(failed)
                found[2] = max(found[2], run.started_at)
                if failure_at is not None and (found[3] is None or failure_at >= found[3]):
                    found[3], found[4] = failure_at, failure_pk
        if is_flaky_within_run(test.status, test.attempts, test.flaky):
            flaky.append((run.run_pk, test.id))
    return Rollup(days, durations, commits, flaky)


def rollup_of_run(project_id: int, run_pk: int, started_at: str, run: RunPayload) -> Rollup:
    """The rollup of a new run's tests."""
    key = RunKey(project_id, run_pk, started_at, run.vcs.get("branch"), run.vcs.get("commit"))
    return rollup_of((key, test) for test in run.tests)


def _add_day(row: list[Any], test: TestResult, ran: bool, failed: bool, duration: float | None, at: str,
             failure_at: str | None, failure_pk: int | None) -> None:  # fmt: skip
    row[2] += 1
    row[3] += int(ran)
    row[4] += int(test.status == "passed")
    row[5] += int(failed)
    row[6] += int(is_flaky_within_run(test.status, test.attempts, test.flaky))
    if duration is not None:
        row[7] += duration
        row[8] = duration if row[8] is None else min(row[8], duration)
        row[9] = duration if row[9] is None else max(row[9], duration)
    if at >= row[10]:
        row[0], row[1], row[10] = test.name, test.suite, at
    if failure_at is not None and (row[11] is None or failure_at >= row[11]):
        row[11], row[12] = failure_at, failure_pk


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
    cursor.executemany(sql(ADD_DAYS), [(*key, *row) for key, row in sorted(rollup.days.items())])
    cursor.executemany(sql(ADD_DURATIONS), [(*key, count) for key, count in sorted(rollup.durations.items())])
    if rollup.commits:
        cursor.executemany(sql(ADD_COMMITS), [(*key, *row) for key, row in sorted(rollup.commits.items())])
    if rollup.flaky:
        cursor.executemany(sql(ADD_FLAKY), sorted(rollup.flaky))


def subtract(cursor: Cursor, rollup: Rollup, param: str = "?") -> None:
    """Take a rollup (of runs about to be deleted) out of the tables, dropping rows that reach zero.

    Ranges (shortest, longest, latest failure) are not narrowed: they may
    still name a deleted run on a day that keeps other runs.
    """
    sql = _dialect(param)
    days = sorted(rollup.days.items())
    cursor.executemany(sql(SUBTRACT_DAYS), [(*row[2:8], *key) for key, row in days])
    cursor.executemany(sql(DROP_EMPTY_DAYS), [key for key, _ in days])
    durations = sorted(rollup.durations.items())
    cursor.executemany(sql(SUBTRACT_DURATIONS), [(count, *key) for key, count in durations])
    cursor.executemany(sql(DROP_EMPTY_DURATIONS), [key for key, _ in durations])
    commits = sorted(rollup.commits.items())
    if commits:
        cursor.executemany(sql(SUBTRACT_COMMITS), [(row[0], row[1], *key) for key, row in commits])
        cursor.executemany(sql(DROP_EMPTY_COMMITS), [key for key, _ in commits])


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
