"""The analytics reads, the same SQL on both backends but for placeholders.

Each query reads one project's rollups (collector.store.rollups) for a
window of days — day rows, and month rows for the whole closed months in it —
never the raw results, except for the few rows an answer names: a test's
history and the message of a test's latest failure.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from ..errors import BadRequest
from ..model import (
    FailureDetail,
    HistoryEntry,
    HistoryPage,
    MixedCommit,
    Project,
    RetryFlake,
    RunPoint,
    TestDurations,
    TestLabel,
    TestTotals,
    Window,
)
from . import rollups
from .records import decode_cursor, encode_cursor


class AnalyticsReads:
    #: the backend's SQL differences
    DIALECT = rollups.SQLITE
    #: the indexes a test's newest rows are found by
    BY_TEST = "test_days_by_test"
    FAILURES_BY_TEST = "test_days_failures_by_test"

    @abstractmethod
    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows whose columns can be read by name."""

    def _sql(self, sql: str) -> str:
        return self.DIALECT.sql(sql)

    @abstractmethod
    def _transaction(self) -> Any:
        """A write transaction: a context manager giving a connection with ``execute``."""

    def _window_rows(self, project: Project, window: Window, condition: str = "", extra: Sequence[Any] = ()) -> tuple[str, list[Any]]:
        """A subquery of the window's rollup rows (``test_id, bucket`` and the counts), and its parameters.

        Whole closed months in the window are read from their month rows (built here the first time a
        window needs them), the days before and after them from the day rows. ``condition`` (with
        ``extra`` parameters) narrows every part, e.g. to some test ids.
        """
        months = self._months_in(window)
        built = self._built_months(project, months)
        columns = "test_id, bucket, results, ran, passed, failures, flaky, duration_sum, duration_min, duration_max"
        more = f" AND {condition}" if condition else ""
        branch, branch_params = (" AND branch = ?", [window.branch]) if window.branch is not None else ("", [])
        if not built:
            return (
                f"SELECT {columns} FROM test_days WHERE project_id = ? AND day >= ?{branch}{more}",
                [project.id, window.first_day, *branch_params, *extra],
            )
        head_end, tail_start = f"{built[0]}-01", f"{rollups.next_month(built[-1])}-01"
        every_branch, month_branch = (0, window.branch) if window.branch is not None else (1, "")
        sql = (
            f"SELECT {columns} FROM test_days WHERE project_id = ? AND day >= ? AND day < ?{branch}{more} "
            f"UNION ALL SELECT {columns} FROM test_months WHERE project_id = ? AND every_branch = ? AND branch = ? "
            f"AND month >= ? AND month <= ?{more} "
            f"UNION ALL SELECT {columns} FROM test_days WHERE project_id = ? AND day >= ?{branch}{more}"
        )
        params = [
            project.id, window.first_day, head_end, *branch_params, *extra,
            project.id, every_branch, month_branch, built[0], built[-1], *extra,
            project.id, tail_start, *branch_params, *extra,
        ]  # fmt: skip
        return sql, params

    @staticmethod
    def _months_in(window: Window) -> list[str]:
        """The months wholly inside the window that have ended (the current month is still being written)."""
        current = window.today.isoformat()[:7]
        month = window.first_day[:7] if window.first_day.endswith("-01") else rollups.next_month(window.first_day[:7])
        months = []
        while month < current:
            months.append(month)
            month = rollups.next_month(month)
        return months

    def _built_months(self, project: Project, months: list[str]) -> list[str]:
        """The longest run of ``months`` that ends with the newest and is built, building the missing ones.

        Only a window over two months or more uses month rows: for one, the days are as quick to read.
        """
        if len(months) < 2:
            return []
        dialect = self.DIALECT
        rows = self._fetch(self._sql(rollups.BUILT_MONTHS), [project.id, months[0], months[-1]])
        missing = [month for month in months if month not in {row["month"] for row in rows}]
        for month in missing:
            with self._transaction() as conn:
                rollups.build_month(conn, dialect, project.id, month)
        return months

    def _runs_filter(self, project: Project, window: Window) -> tuple[str, list[Any]]:
        where = "r.project_id = ? AND r.started_at >= {time} AND NOT r.is_open"
        params: list[Any] = [project.id, window.since]
        if window.branch is not None:
            where += " AND r.branch = ?"
            params.append(window.branch)
        return where, params

    def window_runs(self, project: Project, window: Window) -> list[RunPoint]:
        """The runs that started in the window: when, how they ended, how long, how many tests ran."""
        where, params = self._runs_filter(project, window)
        rows = self._fetch(
            self._sql(f"SELECT r.started_at, r.status, r.duration_ms, r.tests_total - r.skipped AS ran FROM runs r WHERE {where}"),
            params,
        )
        return [RunPoint(row["started_at"], row["status"], row["duration_ms"], row["ran"]) for row in rows]

    def test_totals(self, project: Project, window: Window, test_ids: Sequence[str] | None = None) -> list[TestTotals]:
        """Per test, its results in the window summed; only ``test_ids`` when given."""
        condition: str = ""
        extra: list[Any] = []
        if test_ids is not None:
            if not test_ids:
                return []
            condition, extra = f"test_id IN ({', '.join('?' * len(test_ids))})", list(test_ids)
        source, params = self._window_rows(project, window, condition, extra)
        rows = self._fetch(
            self._sql(
                f"SELECT test_id, SUM(ran) AS ran, SUM(failures) AS failures FROM ({source}) AS w GROUP BY test_id"
            ),
            params,
        )
        return [TestTotals(row["test_id"], int(row["ran"]), int(row["failures"])) for row in rows]

    def test_durations(self, project: Project, window: Window) -> dict[str, TestDurations]:
        """Per test that ran in the window: how many times, for how long in all, the range, and the histogram."""
        source, params = self._window_rows(project, window, "bucket >= 0")
        rows = self._fetch(
            self._sql(
                "SELECT test_id, bucket, SUM(ran) AS ran, SUM(duration_sum) AS duration_sum, "
                "MIN(duration_min) AS duration_min, MAX(duration_max) AS duration_max "
                f"FROM ({source}) AS w GROUP BY test_id, bucket"
            ),
            params,
        )
        durations: dict[str, TestDurations] = {}
        for row in rows:
            ran = int(row["ran"])
            if not ran:
                continue
            found = durations.get(row["test_id"])
            if found is None:
                found = durations[row["test_id"]] = TestDurations(0, 0.0, row["duration_min"], row["duration_max"], {})
            found.ran += ran
            found.duration_sum += float(row["duration_sum"])
            found.duration_min = min(found.duration_min, row["duration_min"])
            found.duration_max = max(found.duration_max, row["duration_max"])
            found.histogram[int(row["bucket"])] = ran
        return durations

    def test_labels(
        self, project: Project, window: Window, test_ids: Sequence[str], *, failures: bool = False
    ) -> dict[str, TestLabel]:
        """For each of ``test_ids``: its latest name and suite, and (``failures``) its latest failure (on the branch).

        Index seeks per test, never a scan of the window. A test listed for failing in the window has its
        latest failure there, since the window runs up to today.
        """
        labels: dict[str, TestLabel] = {}
        for test_id in test_ids:
            named = self._newest_rows(project, test_id, None, "name, suite, last_at", self.BY_TEST)
            if not named:
                continue
            latest = max(named, key=lambda row: row["last_at"])
            failure: Any = None
            if failures:
                failed = self._newest_rows(
                    project, test_id, window.branch, "last_failure_at, last_failure_run_pk", self.FAILURES_BY_TEST
                )
                failure = max(failed, key=lambda row: row["last_failure_at"]) if failed else None
            labels[test_id] = TestLabel(
                latest["name"],
                latest["suite"],
                failure["last_failure_at"] if failure else None,
                failure["last_failure_run_pk"] if failure else None,
            )
        return labels

    def _newest_rows(self, project: Project, test_id: str, branch: str | None, columns: str, index: str) -> list[Any]:
        """The test's rows in ``index`` (optionally on one branch) on the newest day that has any."""
        where = "project_id = ? AND test_id = ?"
        params: list[Any] = [project.id, test_id]
        if index == self.FAILURES_BY_TEST:
            where += " AND last_failure_at IS NOT NULL"
        if branch is not None:
            where += " AND branch = ?"
            params.append(branch)
        source = f"test_days {self.DIALECT.use_index(index)}"
        newest = self._fetch(self._sql(f"SELECT MAX(day) AS day FROM {source} WHERE {where}"), params)
        if not newest or newest[0]["day"] is None:
            return []
        return self._fetch(self._sql(f"SELECT {columns} FROM {source} WHERE {where} AND day = ?"), [*params, newest[0]["day"]])

    def retry_flakes(self, project: Project, window: Window) -> list[RetryFlake]:
        """Results in the window that passed after failing within their run."""
        where, params = self._runs_filter(project, window)
        rows = self._fetch(
            self._sql(
                "SELECT f.test_id, r.run_id, r.commit_sha, r.started_at FROM runs r "
                f"JOIN flaky_results f ON f.run_pk = r.id WHERE {where}"
            ),
            params,
        )
        return [RetryFlake(row["test_id"], row["run_id"], row["commit_sha"], row["started_at"]) for row in rows]

    def mixed_commits(self, project: Project, window: Window) -> list[MixedCommit]:
        """(test, commit) pairs with both passes and failures, whose latest result is in the window."""
        where = "c.project_id = ? AND c.last_at >= {time} AND c.passed > 0 AND c.failures > 0"
        params: list[Any] = [project.id, window.since]
        if window.branch is not None:
            where += " AND c.branch = ?"
            params.append(window.branch)
        rows = self._fetch(
            self._sql(
                "SELECT c.test_id, c.commit_sha, c.failures, c.last_at, r.run_id FROM test_commits c "
                f"LEFT JOIN runs r ON r.id = c.last_failure_run_pk WHERE {where}"
            ),
            params,
        )
        return [
            MixedCommit(row["test_id"], row["commit_sha"], int(row["failures"]), row["last_at"], row["run_id"])
            for row in rows
        ]

    def failure_details(self, project: Project, results: Sequence[tuple[int, str]]) -> dict[tuple[int, str], FailureDetail]:
        """The run id, start and message of each ``(run_pk, test_id)`` result that is still stored."""
        if not results:
            return {}
        pairs = ", ".join(["(?, ?)"] * len(results))
        rows = self._fetch(
            self._sql(
                f"SELECT t.run_pk, t.test_id, r.run_id, r.started_at, t.message FROM (VALUES {pairs}) AS v "
                "JOIN test_results t ON t.run_pk = v.column1 AND t.test_id = v.column2 "
                "JOIN runs r ON r.id = t.run_pk WHERE r.project_id = ?"
            ),
            [*(value for pair in results for value in pair), project.id],
        )
        return {
            (row["run_pk"], row["test_id"]): FailureDetail(row["run_id"], row["started_at"], row["message"]) for row in rows
        }

    def test_history(self, project: Project, test_id: str, *, limit: int, cursor: str | None = None) -> HistoryPage:
        """The test's results, newest first by (run start, insertion order), a page at a time."""
        if limit < 1:
            raise BadRequest("limit must be at least 1")
        where = "t.test_id = ? AND r.project_id = ? AND NOT r.is_open"  # an upload still in progress is no result yet
        params: list[Any] = [test_id, project.id]
        if cursor is not None:
            where += " AND (r.started_at, r.id) < ({time}, ?)"
            params.extend(decode_cursor(cursor))
        rows = self._fetch(
            self._sql(
                "SELECT r.id, r.run_id, t.name, t.suite, r.started_at, r.commit_sha, r.branch, t.status, t.duration_ms, t.attempts, "
                f"t.flaky, t.message FROM test_results t JOIN runs r ON r.id = t.run_pk WHERE {where} "
                "ORDER BY r.started_at DESC, r.id DESC LIMIT ?"
            ),
            [*params, limit + 1],
        )
        page = rows[:limit]
        entries = [
            HistoryEntry(
                row["run_id"], row["name"], row["suite"], row["started_at"], row["commit_sha"], row["branch"], row["status"],
                row["duration_ms"], row["attempts"], bool(row["flaky"]), row["message"],
            )
            for row in page
        ]  # fmt: skip
        next_cursor = encode_cursor(page[-1]["started_at"], page[-1]["id"]) if len(rows) > limit else None
        return HistoryPage(entries, next_cursor)
