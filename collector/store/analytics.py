"""The analytics reads, the same SQL on both backends but for placeholders.

Each query reads one project's rollups (collector.store.rollups) for a
window of days, never the raw results, except for the few rows an answer
names: a test's history and the message of a test's latest failure.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ..analytics import (
    FailureDetail,
    HistoryEntry,
    HistoryPage,
    MixedCommit,
    RetryFlake,
    RunPoint,
    TestLabel,
    TestTotals,
    Window,
)
from ..errors import BadRequest
from ..model import Project
from .records import decode_cursor, encode_cursor


class AnalyticsReads:
    #: the backend's placeholder, and its placeholder for a stored time
    PARAM = "?"
    TIME_PARAM = "?"

    @abstractmethod
    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows whose columns can be read by name."""

    def _sql(self, sql: str) -> str:
        sql = sql.replace("{time}", self.TIME_PARAM)
        return sql if self.PARAM == "?" else sql.replace("?", self.PARAM)

    def _days_filter(self, project: Project, window: Window, alias: str = "") -> tuple[str, list[Any]]:
        where = f"{alias}project_id = ? AND {alias}day >= ?"
        params: list[Any] = [project.id, window.first_day]
        if window.branch is not None:
            where += f" AND {alias}branch = ?"
            params.append(window.branch)
        return where, params

    def _runs_filter(self, project: Project, window: Window) -> tuple[str, list[Any]]:
        where = "r.project_id = ? AND r.started_at >= {time}"
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
        where, params = self._days_filter(project, window)
        if test_ids is not None:
            if not test_ids:
                return []
            where += f" AND test_id IN ({', '.join('?' * len(test_ids))})"
            params.extend(test_ids)
        rows = self._fetch(
            self._sql(
                "SELECT test_id, SUM(results) AS results, SUM(ran) AS ran, SUM(passed) AS passed, "
                "SUM(failures) AS failures, SUM(flaky) AS flaky, SUM(duration_sum) AS duration_sum, "
                "MIN(duration_min) AS duration_min, MAX(duration_max) AS duration_max "
                f"FROM test_days WHERE {where} GROUP BY test_id"
            ),
            params,
        )
        return [
            TestTotals(
                row["test_id"], int(row["results"]), int(row["ran"]), int(row["passed"]), int(row["failures"]),
                int(row["flaky"]), float(row["duration_sum"]), row["duration_min"], row["duration_max"],
            )
            for row in rows
        ]  # fmt: skip

    def duration_histograms(self, project: Project, window: Window) -> dict[str, dict[int, int]]:
        """Per test, how many results that ran in the window fell in each duration bucket."""
        where, params = self._days_filter(project, window)
        rows = self._fetch(
            self._sql(
                f"SELECT test_id, bucket, SUM(count) AS count FROM test_day_durations WHERE {where} "
                "GROUP BY test_id, bucket"
            ),
            params,
        )
        histograms: dict[str, dict[int, int]] = defaultdict(dict)
        for row in rows:
            histograms[row["test_id"]][int(row["bucket"])] = int(row["count"])
        return histograms

    def test_labels(self, project: Project, window: Window, test_ids: Sequence[str]) -> dict[str, TestLabel]:
        """For each of ``test_ids``, its latest name and suite in the window and its latest failure there."""
        if not test_ids:
            return {}
        where, params = self._days_filter(project, window)
        rows = self._fetch(
            self._sql(
                "SELECT test_id, name, suite, last_at, last_failure_at, last_failure_run_pk FROM test_days "
                f"WHERE {where} AND test_id IN ({', '.join('?' * len(test_ids))})"
            ),
            [*params, *test_ids],
        )
        latest: dict[str, Any] = {}
        failure: dict[str, Any] = {}
        for row in rows:
            test_id = row["test_id"]
            if test_id not in latest or row["last_at"] > latest[test_id]["last_at"]:
                latest[test_id] = row
            if row["last_failure_at"] is not None and (
                test_id not in failure or row["last_failure_at"] > failure[test_id]["last_failure_at"]
            ):
                failure[test_id] = row
        return {
            test_id: TestLabel(
                row["name"],
                row["suite"],
                failure[test_id]["last_failure_at"] if test_id in failure else None,
                failure[test_id]["last_failure_run_pk"] if test_id in failure else None,
            )
            for test_id, row in latest.items()
        }

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
        where = "t.test_id = ? AND r.project_id = ?"
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
