"""The per-test rollups behind the analytics API, kept in step with the runs.

A run adds, in its own transaction, one row per test to ``test_days``
(keyed by day, branch, test and duration bucket), one per test that failed
to ``test_commits`` (keyed by commit; later passes on that commit count
into it), and one per flaky-within-its-run result to ``flaky_results``.
A closed month's day rows are summed into ``test_months`` the first time a
window needs them (``build_month``); a run landing in a built month adds to
those rows too. Pruning subtracts the same rows before it deletes the runs,
so the rollups always describe exactly the runs that are stored.

The database makes a new run's rows from the results just inserted
(``INSERT ... SELECT``), which costs a fraction of binding every row from
Python. A result's duration bucket is computed by the database too, by the
same expression when it is added and when it is subtracted: on SQLite a
function the store registers (``collector.histogram.duration_bucket``), on
PostgreSQL the same arithmetic in SQL. Rows are written in key order, and
runs on one commit take turns (PostgreSQL: an advisory lock), so two
transactions touching the same rollups wait for each other instead of
deadlocking or missing each other's results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..histogram import BUCKET_FLOOR_MS, BUCKET_GROWTH
from ..model import RunPayload
from ..timeutil import utc_now

#: the schema version that added the rollups: migrating to it rolls up the runs already stored
FIRST_VERSION = 2
#: the bucket of a skipped result, which has no duration that counts
NO_BUCKET = -1


class Cursor(Protocol):
    def execute(self, sql: str, params: Any, /) -> Any: ...

    def executemany(self, sql: str, params: Iterable[Any], /) -> Any: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the backends in this module's SQL."""

    param: str
    #: the UTC date (YYYY-MM-DD) of ``r.started_at``
    day_of_run: str
    #: ``t.duration_ms``'s bucket, as collector.histogram.duration_bucket computes it
    bucket_of_result: str
    #: the placeholder of a stored time, in ``{time}``
    time_param: str
    #: a statement that makes transactions naming the same text key ``?`` take turns until they end, or ""
    #: where the backend has one writer at a time anyway
    lock: str = ""
    #: how to make the planner use index ``{}`` (SQLite's, without statistics, may prefer the primary key), or ""
    index_hint: str = ""

    def sql(self, text: str) -> str:
        text = (
            text.replace("{flaky_by_test}", self.use_index("flaky_results_by_test"))
            .replace("{day_of_run}", self.day_of_run)
            .replace("{bucket}", self.bucket_of_result)
            .replace("{time}", self.time_param)
        )
        return text if self.param == "?" else text.replace("?", self.param)

    def use_index(self, index: str) -> str:
        return self.index_hint.format(index) if self.index_hint else ""


SQLITE = Dialect(
    "?", "substr(r.started_at, 1, 10)", "duration_bucket(t.duration_ms)", "?", index_hint="INDEXED BY {}"
)
POSTGRESQL = Dialect(
    "%s",
    "to_char(r.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    f"CASE WHEN t.duration_ms <= {BUCKET_FLOOR_MS!r} THEN 0 ELSE GREATEST(1, "
    f"CEIL(LN(t.duration_ms / {BUCKET_FLOOR_MS!r}) / LN({BUCKET_GROWTH!r}) - 1e-9))::integer END",
    "%s::timestamptz",
    lock="SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
)

_FAILED = "t.status IN ('failed', 'error')"
_RETRIED = "(t.flaky OR (t.attempts > 1 AND t.status = 'passed'))"
_OF_RUN = "FROM test_results t JOIN runs r ON r.id = t.run_pk WHERE t.run_pk = ?"
_NEWER = "CASE WHEN excluded.{col} > {table}.{col} THEN excluded.{col} ELSE {table}.{col} END"
_LATEST_FAILURE = (
    "CASE WHEN excluded.last_failure_at IS NOT NULL AND ({table}.last_failure_at IS NULL "
    "OR excluded.last_failure_at >= {table}.last_failure_at) THEN excluded.{col} ELSE {table}.{col} END"
)

_BUCKET_OF_RESULT = f"CASE WHEN t.status = 'skipped' THEN {NO_BUCKET} ELSE {{bucket}} END"
#: what one result adds: results, ran, passed, failures, flaky, duration_sum, duration_min, duration_max
_COUNTS_OF_RESULT = f"""
    1, CASE WHEN t.status = 'skipped' THEN 0 ELSE 1 END,
    CASE WHEN t.status = 'passed' THEN 1 ELSE 0 END, CASE WHEN {_FAILED} THEN 1 ELSE 0 END,
    CASE WHEN {_RETRIED} THEN 1 ELSE 0 END,
    CASE WHEN t.status = 'skipped' THEN 0 ELSE t.duration_ms END,
    CASE WHEN t.status = 'skipped' THEN NULL ELSE t.duration_ms END,
    CASE WHEN t.status = 'skipped' THEN NULL ELSE t.duration_ms END
"""


def _added_counts(table: str) -> str:
    """The SET clause that adds an upserted row's counts to ``table``'s and widens its duration range."""
    sums = ", ".join(f"{column} = {table}.{column} + excluded.{column}" for column in
                     ("results", "ran", "passed", "failures", "flaky", "duration_sum"))  # fmt: skip
    return (
        f"{sums}, "
        f"duration_min = CASE WHEN {table}.duration_min IS NULL OR excluded.duration_min < {table}.duration_min "
        f"THEN excluded.duration_min ELSE {table}.duration_min END, "
        f"duration_max = CASE WHEN {table}.duration_max IS NULL OR excluded.duration_max > {table}.duration_max "
        f"THEN excluded.duration_max ELSE {table}.duration_max END"
    )


#: a new run's day rows, from its stored results
ADD_DAYS_OF_RUN = f"""
    INSERT INTO test_days (project_id, day, branch, test_id, bucket, name, suite, results, ran, passed, failures,
                           flaky, duration_sum, duration_min, duration_max, last_at, last_failure_at, last_failure_run_pk)
    SELECT r.project_id, {{day_of_run}}, COALESCE(r.branch, ''), t.test_id,
           {_BUCKET_OF_RESULT}, t.name, t.suite, {_COUNTS_OF_RESULT},
           r.started_at, CASE WHEN {_FAILED} THEN r.started_at END, CASE WHEN {_FAILED} THEN r.id END
    {_OF_RUN} ORDER BY t.test_id
    ON CONFLICT (project_id, day, branch, test_id, bucket) DO UPDATE SET
        name = CASE WHEN excluded.last_at >= test_days.last_at THEN excluded.name ELSE test_days.name END,
        suite = CASE WHEN excluded.last_at >= test_days.last_at THEN excluded.suite ELSE test_days.suite END,
        {_added_counts("test_days")},
        last_at = {_NEWER.format(col="last_at", table="test_days")},
        last_failure_run_pk = {_LATEST_FAILURE.format(col="last_failure_run_pk", table="test_days")},
        last_failure_at = {_LATEST_FAILURE.format(col="last_failure_at", table="test_days")}
"""
#: a new run's failures counted into the rows of tests that already failed on its commit
ADD_REPEATED_FAILURES_OF_RUN = f"""
    UPDATE test_commits SET failures = failures + 1,
        last_at = CASE WHEN ? > last_at THEN ? ELSE last_at END,
        last_failure_at = CASE WHEN last_failure_at IS NULL OR ? >= last_failure_at THEN ? ELSE last_failure_at END,
        last_failure_run_pk = CASE WHEN last_failure_at IS NULL OR ? >= last_failure_at THEN ? ELSE last_failure_run_pk END
    WHERE project_id = ? AND branch = ? AND commit_sha = ?
      AND EXISTS (SELECT 1 FROM test_results t WHERE t.run_pk = ? AND t.test_id = test_commits.test_id AND {_FAILED})
"""
#: a new run's first failures on its commit, each with the passes of that test on the commit's other runs
ADD_FIRST_FAILURES_OF_RUN = f"""
    INSERT INTO test_commits (project_id, branch, commit_sha, test_id, passed, failures, last_at,
                              last_failure_at, last_failure_run_pk)
    SELECT r.project_id, COALESCE(r.branch, ''), r.commit_sha, t.test_id,
           (SELECT COUNT(*) FROM runs s JOIN test_results p ON p.run_pk = s.id AND p.test_id = t.test_id
            WHERE s.project_id = r.project_id AND s.commit_sha = r.commit_sha
              AND COALESCE(s.branch, '') = COALESCE(r.branch, '') AND s.id <> r.id AND p.status = 'passed'
              {{closed}}),
           1, r.started_at, r.started_at, r.id
    {_OF_RUN} AND r.commit_sha IS NOT NULL AND {_FAILED}
      AND NOT EXISTS (SELECT 1 FROM test_commits c WHERE c.project_id = r.project_id
                      AND c.branch = COALESCE(r.branch, '') AND c.commit_sha = r.commit_sha AND c.test_id = t.test_id)
    ORDER BY t.test_id
"""
#: a new run's passes, counted into the tests that already failed on its commit
ADD_PASSES_OF_RUN = """
    UPDATE test_commits SET passed = passed + 1, last_at = CASE WHEN ? > last_at THEN ? ELSE last_at END
    WHERE project_id = ? AND branch = ? AND commit_sha = ?
      AND EXISTS (SELECT 1 FROM test_results t WHERE t.run_pk = ? AND t.test_id = test_commits.test_id
                  AND t.status = 'passed')
"""
ADD_FLAKY_OF_RUN = f"INSERT INTO flaky_results (run_pk, test_id) SELECT t.run_pk, t.test_id {_OF_RUN} AND {_RETRIED}"

SUBTRACT_DAYS = """
    UPDATE test_days SET results = results - ?, ran = ran - ?, passed = passed - ?, failures = failures - ?,
                         flaky = flaky - ?, duration_sum = duration_sum - ?
    WHERE project_id = ? AND day = ? AND branch = ? AND test_id = ? AND bucket = ?
"""
DROP_EMPTY_DAYS = """
    DELETE FROM test_days
    WHERE project_id = ? AND day = ? AND branch = ? AND test_id = ? AND bucket = ? AND results <= 0
"""
SUBTRACT_COMMITS = """
    UPDATE test_commits SET passed = passed - ?, failures = failures - ?
    WHERE project_id = ? AND branch = ? AND commit_sha = ? AND test_id = ?
"""
DROP_EMPTY_COMMITS = """
    DELETE FROM test_commits
    WHERE project_id = ? AND branch = ? AND commit_sha = ? AND test_id = ? AND failures <= 0
"""

#: the runs a database held before it had rollups, to roll them up
STORED_RUNS = "SELECT id, project_id, started_at, branch, commit_sha FROM runs ORDER BY id"

_MONTH_COLUMNS = """
    test_months (project_id, every_branch, branch, month, test_id, bucket, results, ran, passed, failures, flaky,
                 duration_sum, duration_min, duration_max)
"""
_MONTH_SUMS = (
    "SUM(results), SUM(ran), SUM(passed), SUM(failures), SUM(flaky), SUM(duration_sum), "
    "MIN(duration_min), MAX(duration_max)"
)
#: a closed month's rows, per branch and over all branches, from its day rows
BUILD_MONTH_PER_BRANCH = f"""
    INSERT INTO {_MONTH_COLUMNS}
    SELECT project_id, 0, branch, ?, test_id, bucket, {_MONTH_SUMS} FROM test_days
    WHERE project_id = ? AND day >= ? AND day < ? GROUP BY project_id, branch, test_id, bucket
"""
BUILD_MONTH_EVERY_BRANCH = f"""
    INSERT INTO {_MONTH_COLUMNS}
    SELECT project_id, 1, '', ?, test_id, bucket, {_MONTH_SUMS} FROM test_days
    WHERE project_id = ? AND day >= ? AND day < ? GROUP BY project_id, test_id, bucket
"""
MARK_BUILT = "INSERT INTO rollup_months (project_id, month) VALUES (?, ?)"
IS_BUILT = "SELECT 1 FROM rollup_months WHERE project_id = ? AND month = ?"
BUILT_MONTHS = "SELECT month FROM rollup_months WHERE project_id = ? AND month >= ? AND month <= ?"

SUBTRACT_MONTHS = """
    UPDATE test_months SET results = results - ?, ran = ran - ?, passed = passed - ?, failures = failures - ?,
                           flaky = flaky - ?, duration_sum = duration_sum - ?
    WHERE project_id = ? AND every_branch = ? AND branch = ? AND month = ? AND test_id = ? AND bucket = ?
"""
DROP_EMPTY_MONTHS = """
    DELETE FROM test_months
    WHERE project_id = ? AND every_branch = ? AND branch = ? AND month = ? AND test_id = ? AND bucket = ? AND results <= 0
"""


def _add_months_of_run(every_branch: int) -> str:
    """A run's results added to the rows of its (built) month, per branch (0) or over all branches (1)."""
    branch = "''" if every_branch else "COALESCE(r.branch, '')"
    return f"""
    INSERT INTO {_MONTH_COLUMNS}
    SELECT r.project_id, {every_branch}, {branch}, substr({{day_of_run}}, 1, 7), t.test_id,
           {_BUCKET_OF_RESULT}, {_COUNTS_OF_RESULT}
    {_OF_RUN} ORDER BY t.test_id
    ON CONFLICT (project_id, every_branch, branch, month, test_id, bucket) DO UPDATE SET {_added_counts("test_months")}
"""


def month_key(project_id: int, month: str) -> str:
    return f"month\n{project_id}\n{month}"


def take_turns(cursor: Cursor, dialect: Dialect, key: str) -> None:
    """Wait for, then hold until the transaction ends, the turn of ``key`` (PostgreSQL; SQLite has one writer)."""
    if dialect.lock:
        cursor.execute(dialect.sql(dialect.lock), (key,))


def build_month(cursor: Cursor, dialect: Dialect, project_id: int, month: str) -> None:
    """Sum a closed month's day rows into its month rows, unless another transaction just did."""
    take_turns(cursor, dialect, month_key(project_id, month))
    if cursor.execute(dialect.sql(IS_BUILT), (project_id, month)).fetchone() is not None:
        return
    bounds = (month, project_id, f"{month}-01", f"{next_month(month)}-01")
    cursor.execute(dialect.sql(BUILD_MONTH_PER_BRANCH), bounds)
    cursor.execute(dialect.sql(BUILD_MONTH_EVERY_BRANCH), bounds)
    cursor.execute(dialect.sql(MARK_BUILT), (project_id, month))


def next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


#: after rolling up stored runs: each commit row's latest result, passes that came after its failures included
LAST_AT_OF_COMMITS = """
    UPDATE test_commits SET last_at = (
        SELECT MAX(s.started_at) FROM runs s JOIN test_results p ON p.run_pk = s.id AND p.test_id = test_commits.test_id
        WHERE s.project_id = test_commits.project_id AND s.commit_sha = test_commits.commit_sha
          AND COALESCE(s.branch, '') = test_commits.branch AND p.status IN ('passed', 'failed', 'error')
    )
"""

#: what pruning reads of the runs it is about to delete, to subtract their rollups
RESULTS_OF_RUNS = f"""
    SELECT r.project_id, {{day_of_run}} AS day, COALESCE(r.branch, '') AS branch, r.commit_sha, t.test_id,
           {_BUCKET_OF_RESULT} AS bucket, t.status, t.duration_ms,
           t.attempts, t.flaky
    FROM runs r JOIN test_results t ON t.run_pk = r.id
    WHERE r.id IN (@ids) AND NOT r.is_open
"""


@dataclass(frozen=True, slots=True)
class RunKey:
    """What the rollups need to know of a stored run besides its results."""

    pk: int
    project_id: int
    started_at: str
    branch: str | None
    commit: str | None
    #: whether any result passed after failing within the run (unknown: True)
    retried: bool = True

    @classmethod
    def of_new_run(cls, pk: int, project_id: int, started_at: str, run: RunPayload) -> RunKey:
        retried = any(t.flaky or (t.attempts > 1 and t.status == "passed") for t in run.tests)
        return cls(pk, project_id, started_at, run.vcs.get("branch"), run.vcs.get("commit"), retried)


def add_run(
    cursor: Cursor, run: RunKey, dialect: Dialect, *, count_passes: bool = True, uploads_exist: bool = True
) -> None:
    """Roll up a run whose results were just inserted, in the same transaction.

    ``count_passes=False`` when rolling up every stored run at once: each
    failure's row then counts the passes of all the commit's runs, stored
    before or after it, so counting them again run by run would add them twice.
    """
    if run.commit is not None:
        take_turns(cursor, dialect, f"commit\n{run.project_id}\n{run.branch or ''}\n{run.commit}")
    cursor.execute(dialect.sql(ADD_DAYS_OF_RUN), (run.pk,))
    month = run.started_at[:7]
    if month < utc_now()[:7]:
        take_turns(cursor, dialect, month_key(run.project_id, month))
        if cursor.execute(dialect.sql(IS_BUILT), (run.project_id, month)).fetchone() is not None:
            for every_branch in (0, 1):
                cursor.execute(dialect.sql(_add_months_of_run(every_branch)), (run.pk,))
    if run.commit is not None:
        if count_passes:
            cursor.execute(
                dialect.sql(ADD_PASSES_OF_RUN), (run.started_at, run.started_at, *_commit_key(run), run.pk)
            )
        at = run.started_at
        cursor.execute(
            dialect.sql(ADD_REPEATED_FAILURES_OF_RUN), (at, at, at, at, at, run.pk, *_commit_key(run), run.pk)
        )
        # runs still open (uploads in progress, schema 6 on) hold no results yet; before uploads, no run is open
        closed = "AND NOT s.is_open" if uploads_exist else ""
        cursor.execute(dialect.sql(ADD_FIRST_FAILURES_OF_RUN).replace("{closed}", closed), (run.pk,))
    if run.retried:
        cursor.execute(dialect.sql(ADD_FLAKY_OF_RUN), (run.pk,))


def _commit_key(run: RunKey) -> tuple[Any, ...]:
    return run.project_id, run.branch or "", run.commit


@dataclass(slots=True)
class Rollup:
    """What some stored results add to the rollups, summed by key: the parameters of the SUBTRACT statements."""

    days: dict[tuple[Any, ...], list[Any]]
    commits: dict[tuple[Any, ...], list[int]]


def rollup_of_rows(rows: Iterable[Sequence[Any]]) -> Rollup:
    """The rollup of rows of RESULTS_OF_RUNS (read as tuples)."""
    days: dict[tuple[Any, ...], list[Any]] = {}
    commits: dict[tuple[Any, ...], list[int]] = {}
    for project_id, day, branch, commit, test_id, bucket, status, duration, attempts, flaky in rows:
        ran = status != "skipped"
        passed = status == "passed"
        failed = status in ("failed", "error")
        counts = days.setdefault((project_id, day, branch, test_id, bucket), [0, 0, 0, 0, 0, 0.0])
        counts[0] += 1
        counts[1] += int(ran)
        counts[2] += int(passed)
        counts[3] += int(failed)
        counts[4] += int(bool(flaky) or (attempts > 1 and passed))
        counts[5] += duration if ran else 0.0
        if commit is not None and (passed or failed):
            tally = commits.setdefault((project_id, branch, commit, test_id), [0, 0])
            tally[0] += int(passed)
            tally[1] += int(failed)
    return Rollup(days, commits)


def subtract(cursor: Cursor, rollup: Rollup, dialect: Dialect) -> None:
    """Take a rollup (of runs about to be deleted) out of the tables, in key order, dropping rows that reach zero.

    Ranges (shortest, longest, latest failure) are not narrowed: they may
    still name a deleted run on a day that keeps other runs.
    """
    days = sorted(rollup.days.items())
    cursor.executemany(dialect.sql(SUBTRACT_DAYS), [(*counts, *key) for key, counts in days])
    cursor.executemany(dialect.sql(DROP_EMPTY_DAYS), [key for key, _ in days])
    months: dict[tuple[Any, ...], list[Any]] = {}
    for (project_id, day, branch, test_id, bucket), counts in days:
        for key in ((project_id, 0, branch, day[:7], test_id, bucket), (project_id, 1, "", day[:7], test_id, bucket)):
            total = months.setdefault(key, [0, 0, 0, 0, 0, 0.0])
            for index, count in enumerate(counts):
                total[index] += count
    for project_id, month in sorted({(key[0], key[3]) for key in months}):
        take_turns(cursor, dialect, month_key(project_id, month))
    ordered = sorted(months.items())
    cursor.executemany(dialect.sql(SUBTRACT_MONTHS), [(*counts, *key) for key, counts in ordered])
    cursor.executemany(dialect.sql(DROP_EMPTY_MONTHS), [key for key, _ in ordered])
    commits = sorted(rollup.commits.items())
    if commits:
        cursor.executemany(dialect.sql(SUBTRACT_COMMITS), [(*tally, *key) for key, tally in commits])
        cursor.executemany(dialect.sql(DROP_EMPTY_COMMITS), [key for key, _ in commits])


def results_of_runs_sql(count: int, dialect: Dialect) -> str:
    return dialect.sql(RESULTS_OF_RUNS).replace("@ids", ", ".join([dialect.param] * count))


def roll_up_stored_runs(cursor: Cursor, runs: Iterable[Sequence[Any]], dialect: Dialect) -> None:
    """Roll up runs stored before the rollups existed: rows of STORED_RUNS."""
    for pk, project_id, started_at, branch, commit in runs:
        add_run(cursor, RunKey(pk, project_id, started_at, branch, commit), dialect, count_passes=False,
                uploads_exist=False)
    cursor.execute(LAST_AT_OF_COMMITS, ())
