"""What the verdict of a run reads, and the failing streaks of the default branch it keeps.

In the run's own transaction, after its results are inserted
(``judge_new_run``):

1. for the failing tests only, what was known before the run: the failing
   streak each is in on the default branch (``default_failures``), and
   whether it has any result on the default branch (the analytics' day rows,
   by test);
2. the run's rollups are added (collector.store.rollups);
3. for the failing tests only, whether each is flaky on a commit in the
   last 14 days, this run included (the analytics' commit rows and
   flaky-within-a-run rows, by test);
4. the verdict (collector.verdict) is stored with the run;
5. a run on the default branch, from a clean working tree, moves the
   streaks on: its failures start or extend one, its other results end one.
   The statements touch the run's failures and the tests that were failing,
   never a row per test of the run.

"Latest" is by arrival (the runs' ids): a run sent again from a spool days
later counts as the newest. Rebuilding the streaks from the stored runs
(``rebuild_default_failures``: the migration that added them, and a project's
default branch changing) follows the same order, so both agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from ..model import Project, RunPayload
from ..verdict import FLAKY_DAYS, Facts, Since, encode, failures_of, judge
from . import rollups
from .quarantine import QuarantineWrites

#: the schema version that added the verdicts: migrating to it builds the streaks of the runs already stored
VERDICTS_VERSION = 4
#: test ids per IN list
CHUNK = 500
_FAILED = "t.status IN ('failed', 'error')"

FAILING_SINCE = """
    SELECT test_id, since_run_id, since_started_at, since_commit FROM default_failures
    WHERE project_id = ? AND test_id IN (@ids)
"""
#: per failing test, whether any day row is on the branch: EXISTS stops at the first (a test run for a year
#: has thousands of day rows, and reading them all cost more than the rest of the verdict together)
SEEN_ON_BRANCH = """
    SELECT f.test_id FROM test_results f WHERE f.run_pk = ? AND f.test_id IN (@ids) AND EXISTS (
        SELECT 1 FROM test_days d WHERE d.project_id = ? AND d.test_id = f.test_id AND d.branch = ?)
"""
FLAKY_ON_COMMITS = """
    SELECT DISTINCT test_id FROM test_commits
    WHERE project_id = ? AND test_id IN (@ids) AND passed > 0 AND failures > 0 AND last_at >= {time}
"""
FLAKY_IN_RUNS = """
    SELECT DISTINCT f.test_id FROM flaky_results f {flaky_by_test} JOIN runs r ON r.id = f.run_pk
    WHERE f.test_id IN (@ids) AND r.project_id = ? AND r.started_at >= {time} AND r.commit_sha IS NOT NULL
"""
STORE_VERDICT = "UPDATE runs SET verdict = ? WHERE id = ?"
START_STREAKS = f"""
    INSERT INTO default_failures (project_id, test_id, since_run_id, since_started_at, since_commit, last_at)
    SELECT ?, t.test_id, ?, {{time}}, ?, {{time}} FROM test_results t WHERE t.run_pk = ? AND {_FAILED}
    ORDER BY t.test_id
    ON CONFLICT (project_id, test_id) DO UPDATE SET last_at = excluded.last_at
"""
END_STREAKS = f"""
    DELETE FROM default_failures WHERE project_id = ? AND EXISTS (
        SELECT 1 FROM test_results t WHERE t.run_pk = ? AND t.test_id = default_failures.test_id AND NOT {_FAILED})
"""
FORGET_STREAKS = "DELETE FROM default_failures WHERE project_id = ?"
#: every test's failing streak on a branch, from the stored runs in arrival order (dirty trees left out)
REBUILD_STREAKS = f"""
    WITH runs_on AS (
        SELECT r.id, r.run_id, r.started_at, r.commit_sha FROM runs r
        WHERE r.project_id = ? AND r.branch = ? AND {{clean_tree}} {{closed}}
    ),
    latest AS (
        SELECT t.test_id,
               COALESCE(MAX(CASE WHEN NOT {_FAILED} THEN t.run_pk END), 0) AS last_ok,
               MAX(CASE WHEN {_FAILED} THEN t.run_pk END) AS last_failure
        FROM test_results t JOIN runs_on r ON r.id = t.run_pk
        GROUP BY t.test_id
    ),
    streaks AS (
        SELECT l.test_id, MIN(t.run_pk) AS since_pk, l.last_failure
        FROM latest l JOIN test_results t ON t.test_id = l.test_id AND t.run_pk > l.last_ok AND {_FAILED}
        JOIN runs_on r ON r.id = t.run_pk
        WHERE l.last_failure > l.last_ok
        GROUP BY l.test_id, l.last_failure
    )
    INSERT INTO default_failures (project_id, test_id, since_run_id, since_started_at, since_commit, last_at)
    SELECT ?, s.test_id, f.run_id, f.started_at, f.commit_sha, lf.started_at
    FROM streaks s JOIN runs f ON f.id = s.since_pk JOIN runs lf ON lf.id = s.last_failure
"""


def window_start(received_at: str) -> str:
    """The first instant of the flaky rule's window: FLAKY_DAYS UTC days up to the day the run arrived."""
    first = date.fromisoformat(received_at[:10]) - timedelta(days=FLAKY_DAYS - 1)
    return f"{first.isoformat()}T00:00:00.000000Z"


def on_default_branch(project: Project, run: RunPayload) -> bool:
    """Whether the run moves the default branch's streaks: on it, and not from a dirty working tree."""
    return run.vcs.get("branch") == project.default_branch and run.vcs.get("dirty") is not True


class VerdictWrites(QuarantineWrites):
    """The verdict's reads and the streaks' writes, for an SQL store (collector.store.sql); the verdict reads the
    quarantine list and keeps it after judging."""

    #: SQL that is true for a run ``r`` whose working tree was clean (or not said)
    CLEAN_TREE: str

    def _in_chunks(self, conn: Any, text: str, ids: list[str], before: Sequence[Any], after: Sequence[Any] = ()
                   ) -> list[tuple[Any, ...]]:
        """Rows of ``text`` whose ``@ids`` holds each chunk of ``ids`` in turn."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            sql = self.DIALECT.sql(text).replace("@ids", ", ".join([self.DIALECT.param] * len(chunk)))
            rows += self._tuples(conn, sql, [*before, *chunk, *after])
        return rows

    def judge_new_run(
        self, conn: Any, project: Project, run_pk: int, run: RunPayload, started_at: str, received_at: str
    ) -> dict[str, Any]:
        """Roll the new run up and store its verdict; see the module's docstring for the order."""
        failing = failures_of(run.tests)
        ids = sorted({test.id for test in failing})
        since: dict[str, Since] = {}
        seen: set[str] = set()
        reasons: dict[str, str] = {}
        if ids:
            reasons = self.quarantine_reasons(conn, project, ids, received_at)
            for test_id, run_id, at, commit in self._in_chunks(conn, FAILING_SINCE, ids, (project.id,)):
                since[test_id] = Since(run_id, at, commit)
            seen = {row[0] for row in self._in_chunks(conn, SEEN_ON_BRANCH, ids, (run_pk,),
                                                      (project.id, project.default_branch))}
        rollups.add_run(self._cursor(conn), rollups.RunKey.of_new_run(run_pk, project.id, started_at, run), self.DIALECT)
        flaky: set[str] = set()
        start = window_start(received_at)
        if ids:
            flaky = {row[0] for row in self._in_chunks(conn, FLAKY_ON_COMMITS, ids, (project.id,), (start,))}
            flaky |= {row[0] for row in self._in_chunks(conn, FLAKY_IN_RUNS, ids, (), (project.id, start))}
        facts = {
            test_id: Facts(
                quarantine_reason=reasons.get(test_id),
                flaky=test_id in flaky,
                failing_since=since.get(test_id),
                seen_on_default=test_id in seen,
            )
            for test_id in ids
        }
        verdict = judge(failing, facts, default_branch=project.default_branch)
        cursor = self._cursor(conn)
        cursor.execute(self.DIALECT.sql(STORE_VERDICT), (encode(verdict), run_pk))
        on_default = on_default_branch(project, run)
        if on_default:
            self._move_streaks(cursor, project, run_pk, run, started_at)
        self.keep_quarantine(conn, project, run_pk, run, on_default=on_default, window_start=start, now=received_at,
                             quarantined=set(reasons))
        return verdict

    def _move_streaks(self, cursor: rollups.Cursor, project: Project, run_pk: int, run: RunPayload, started_at: str) -> None:
        rollups.take_turns(cursor, self.DIALECT, f"default_failures\n{project.id}")
        if run.counts.failed or run.counts.error:
            cursor.execute(
                self.DIALECT.sql(START_STREAKS),
                (project.id, run.run_id, started_at, run.vcs.get("commit"), started_at, run_pk),
            )
        cursor.execute(self.DIALECT.sql(END_STREAKS), (project.id, run_pk))

    def rebuild_default_failures(self, conn: Any, project_id: int, branch: str, *, uploads_exist: bool = True) -> None:
        """Every test's failing streak on ``branch``, from the stored runs (a branch changed, or a migration:
        before schema 6, ``uploads_exist`` False, runs have no open state to leave out)."""
        cursor = self._cursor(conn)
        rollups.take_turns(cursor, self.DIALECT, f"default_failures\n{project_id}")
        cursor.execute(self.DIALECT.sql(FORGET_STREAKS), (project_id,))
        rebuild = (
            self.DIALECT.sql(REBUILD_STREAKS)
            .replace("{clean_tree}", self.CLEAN_TREE)
            .replace("{closed}", "AND NOT r.is_open" if uploads_exist else "")
        )
        cursor.execute(rebuild, (project_id, branch, project_id))
