"""Each project's quarantine list and its audit trail, for an SQL store (collector.store.sql).

An entry counts from when it is added until it is released or its
``expires_at`` passes. Every change is an event of the trail: ``add`` (also a
change of reason or expiry), ``release``, ``expire``. An expired entry is
dropped, and its expiry written to the trail at the moment it expired, the
next time the store writes to the project's list (an ingest, an add, a
release); until then reads leave it out, and the trail shows its expiry.

Automatic quarantine (a project setting, collector.quarantine says the
rules) is kept at ingest, in the run's own transaction, for the run's failing
and retried tests only: a test flaky on ``AUTO_COMMITS`` or more commits in
the verdict's window, counting only commits whose latest result came after
the test's last release, is added with ``source: auto``; an automatic entry
whose test passed ``AUTO_RELEASE_PASSES`` times in a row on the default
branch (clean trees only; a failure there starts the count again) is
released. A manual entry is never released automatically.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..errors import NotFound
from ..model import Project, QuarantineEntry, QuarantineEvent, RunPayload
from . import rollups

#: distinct flaky commits in the window that quarantine a test automatically
AUTO_COMMITS = 2
#: consecutive passing results on the default branch that release an automatic entry
AUTO_RELEASE_PASSES = 20
AUTO_ACTOR = "auto"
EXPIRY_ACTOR = "expiry"
_FAILED = "t.status IN ('failed', 'error')"

ENTRY_COLUMNS = "test_id, reason, added_by, added_at, expires_at, source"
ACTIVE = "project_id = ? AND (expires_at IS NULL OR expires_at > {time})"
LIST = f"SELECT {ENTRY_COLUMNS} FROM quarantine WHERE {ACTIVE} ORDER BY test_id"
ONE = f"SELECT {ENTRY_COLUMNS} FROM quarantine WHERE {ACTIVE} AND test_id = ?"
REASONS_OF = f"SELECT test_id, reason FROM quarantine WHERE {ACTIVE} AND test_id IN (@ids)"
EXPIRED = "SELECT test_id, reason, expires_at, source FROM quarantine WHERE project_id = ? AND expires_at <= {time}"
DROP = "DELETE FROM quarantine WHERE project_id = ? AND test_id = ?"
UPSERT = """
    INSERT INTO quarantine (project_id, test_id, reason, added_by, added_at, expires_at, source, clean_passes)
    VALUES (?, ?, ?, ?, {time}, {time}, ?, 0)
    ON CONFLICT (project_id, test_id) DO UPDATE SET reason = excluded.reason, added_by = excluded.added_by,
        added_at = excluded.added_at, expires_at = excluded.expires_at, source = excluded.source, clean_passes = 0
"""
EVENT = """
    INSERT INTO quarantine_events (project_id, test_id, action, source, actor, at, reason, expires_at)
    VALUES (?, ?, ?, ?, ?, {time}, ?, {time})
"""
TRAIL = """
    SELECT test_id, action, source, actor, at, reason, expires_at FROM quarantine_events
    WHERE project_id = ? AND test_id = ? ORDER BY id
"""
LAST_RELEASES = """
    SELECT test_id, MAX(at) FROM quarantine_events
    WHERE project_id = ? AND action = 'release' AND test_id IN (@ids) GROUP BY test_id
"""
FLAKY_COMMITS = """
    SELECT test_id, commit_sha, last_at FROM test_commits
    WHERE project_id = ? AND test_id IN (@ids) AND passed > 0 AND failures > 0 AND last_at >= {time}
"""
FLAKY_RUN_COMMITS = """
    SELECT f.test_id, r.commit_sha, r.started_at FROM flaky_results f {flaky_by_test} JOIN runs r ON r.id = f.run_pk
    WHERE f.test_id IN (@ids) AND r.project_id = ? AND r.started_at >= {time} AND r.commit_sha IS NOT NULL
"""
#: the tests that both passed and failed on the run's commit: a pass there can make a test flaky too
MIXED_ON_COMMIT = """
    SELECT test_id FROM test_commits
    WHERE project_id = ? AND branch = ? AND commit_sha = ? AND passed > 0 AND failures > 0
"""
RESET_PASSES = f"""
    UPDATE quarantine SET clean_passes = 0 WHERE project_id = ? AND source = 'auto' AND EXISTS (
        SELECT 1 FROM test_results t WHERE t.run_pk = ? AND t.test_id = quarantine.test_id AND {_FAILED})
"""
COUNT_PASSES = """
    UPDATE quarantine SET clean_passes = clean_passes + 1 WHERE project_id = ? AND source = 'auto' AND EXISTS (
        SELECT 1 FROM test_results t WHERE t.run_pk = ? AND t.test_id = quarantine.test_id AND t.status = 'passed')
"""
PASSED_ENOUGH = f"""
    SELECT test_id, reason FROM quarantine
    WHERE project_id = ? AND source = 'auto' AND clean_passes >= {AUTO_RELEASE_PASSES} ORDER BY test_id
"""


def entry_of(row: Sequence[Any]) -> QuarantineEntry:
    test_id, reason, added_by, added_at, expires_at, source = row
    return QuarantineEntry(test_id, reason, added_by, added_at, expires_at, source)


class QuarantineWrites:
    """The quarantine list's reads and writes; needs the SQL store's connections and dialect."""

    DIALECT: rollups.Dialect

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]: ...

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Any]: ...

    @abstractmethod
    def _tuples(self, conn: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _cursor(self, conn: Any) -> rollups.Cursor: ...

    @abstractmethod
    def _in_chunks(self, conn: Any, text: str, ids: list[str], before: Sequence[Any],
                   after: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def get_project(self, org: str, name: str) -> Project: ...

    # --- the list ------------------------------------------------------------------------
    def quarantine_list(self, project: Project, now: str) -> list[QuarantineEntry]:
        """The entries that count at ``now``, by test id."""
        with self._reading() as conn:
            return [entry_of(row) for row in self._tuples(conn, self.DIALECT.sql(LIST), (project.id, now))]

    def quarantine_add(
        self, project: Project, test_id: str, *, reason: str, actor: str, expires_at: str | None, now: str,
        source: str = "manual",
    ) -> QuarantineEntry:
        """Put a test on the list, or change its entry's reason and expiry (the entry becomes ``source``'s)."""
        with self._transaction() as conn:
            cursor = self._cursor(conn)
            self._drop_expired(cursor, conn, project.id, now)
            self._add(cursor, project.id, test_id, reason, actor, expires_at, now, source)
        return QuarantineEntry(test_id, reason, actor, now, expires_at, source)

    def quarantine_release(self, project: Project, test_id: str, *, actor: str, now: str) -> QuarantineEntry:
        """Take a test off the list; NotFound when it is not on it (an expired entry is not)."""
        with self._transaction() as conn:
            cursor = self._cursor(conn)
            self._drop_expired(cursor, conn, project.id, now)
            rows = self._tuples(conn, self.DIALECT.sql(ONE), (project.id, now, test_id))
            if not rows:
                raise NotFound(f"test {test_id!r} is not quarantined in {project.slug}")
            entry = entry_of(rows[0])
            self._release(cursor, project.id, entry, actor, now, "manual")
        return entry

    def quarantine_trail(self, project: Project, test_id: str, now: str) -> list[QuarantineEvent]:
        """Every change to the test's entry, oldest first, with an expiry not yet written down at its time."""
        with self._reading() as conn:
            events = [QuarantineEvent(*row) for row in self._tuples(conn, self.DIALECT.sql(TRAIL), (project.id, test_id))]
            pending = self._tuples(conn, self.DIALECT.sql(EXPIRED) + self.DIALECT.sql(" AND test_id = ?"),
                                   (project.id, now, test_id))
        for _, reason, expires_at, source in pending:
            events.append(QuarantineEvent(test_id, "expire", source, EXPIRY_ACTOR, expires_at, reason, expires_at))
        return events

    def set_auto_quarantine(self, project: Project, on: bool) -> Project:
        with self._transaction() as conn:
            conn.execute(self.DIALECT.sql("UPDATE projects SET auto_quarantine = ? WHERE id = ?"), (on, project.id))
        return self.get_project(project.org, project.name)

    # --- at ingest -----------------------------------------------------------------------
    def quarantine_reasons(self, conn: Any, project: Project, ids: list[str], now: str) -> dict[str, str]:
        """Why each of ``ids`` is quarantined at ``now``: only those on the list."""
        rows = self._in_chunks(conn, REASONS_OF, ids, (project.id, now))
        return {test_id: reason for test_id, reason in rows}

    def keep_quarantine(
        self, conn: Any, project: Project, run_pk: int, run: RunPayload, *, on_default: bool, window_start: str,
        now: str, quarantined: set[str],
    ) -> None:
        """After the run's verdict: expire, count passes on the default branch, release and add automatically."""
        cursor = self._cursor(conn)
        if project.auto_quarantine:  # two runs adding the same test wait for each other instead of adding it twice
            rollups.take_turns(cursor, self.DIALECT, f"quarantine\n{project.id}")
        self._drop_expired(cursor, conn, project.id, now)
        if on_default:
            cursor.execute(self.DIALECT.sql(RESET_PASSES), (project.id, run_pk))
            cursor.execute(self.DIALECT.sql(COUNT_PASSES), (project.id, run_pk))
            for test_id, reason in self._tuples(conn, self.DIALECT.sql(PASSED_ENOUGH), (project.id,)):
                entry = QuarantineEntry(test_id, reason, AUTO_ACTOR, now, None, "auto")
                self._release(cursor, project.id, entry, AUTO_ACTOR, now, "auto",
                              why=f"passed {AUTO_RELEASE_PASSES} times in a row on {project.default_branch}")
        if project.auto_quarantine:
            candidates = {t.id for t in run.tests if t.status in ("failed", "error") or t.flaky
                          or (t.attempts > 1 and t.status == "passed")}
            if run.vcs.get("commit") is not None:
                key = (project.id, run.vcs.get("branch") or "", run.vcs["commit"])
                candidates |= {row[0] for row in self._tuples(conn, self.DIALECT.sql(MIXED_ON_COMMIT), key)}
            if candidates - quarantined:
                self._quarantine_flaky(cursor, conn, project, sorted(candidates - quarantined), window_start, now)

    def _quarantine_flaky(
        self, cursor: rollups.Cursor, conn: Any, project: Project, ids: list[str], window_start: str, now: str
    ) -> None:
        released = {test_id: at for test_id, at in self._in_chunks(conn, LAST_RELEASES, ids, (project.id,))}
        commits: dict[str, set[str]] = {}
        rows = self._in_chunks(conn, FLAKY_COMMITS, ids, (project.id,), (window_start,))
        rows += self._in_chunks(conn, FLAKY_RUN_COMMITS, ids, (), (project.id, window_start))
        for test_id, commit, at in rows:
            if test_id not in released or at > released[test_id]:
                commits.setdefault(test_id, set()).add(commit)
        on_list = {row[0] for row in self._in_chunks(conn, REASONS_OF, ids, (project.id, now))}
        for test_id in sorted(commits):
            flaky_on = sorted(commits[test_id])
            if len(flaky_on) < AUTO_COMMITS or test_id in on_list:
                continue
            shown = ", ".join(commit[:12] for commit in flaky_on[:5]) + (", ..." if len(flaky_on) > 5 else "")
            reason = f"flaky on {len(flaky_on)} commits in the last 14 days ({shown})"
            self._add(cursor, project.id, test_id, reason, AUTO_ACTOR, None, now, "auto")

    # --- the rows ------------------------------------------------------------------------
    def _add(self, cursor: rollups.Cursor, project_id: int, test_id: str, reason: str, actor: str,
             expires_at: str | None, now: str, source: str) -> None:
        cursor.execute(self.DIALECT.sql(UPSERT), (project_id, test_id, reason, actor, now, expires_at, source))
        cursor.execute(self.DIALECT.sql(EVENT), (project_id, test_id, "add", source, actor, now, reason, expires_at))

    def _release(self, cursor: rollups.Cursor, project_id: int, entry: QuarantineEntry, actor: str, now: str,
                 source: str, *, why: str | None = None) -> None:
        if cursor.execute(self.DIALECT.sql(DROP), (project_id, entry.test_id)).rowcount:
            cursor.execute(self.DIALECT.sql(EVENT),
                           (project_id, entry.test_id, "release", source, actor, now, why or entry.reason, None))

    def _drop_expired(self, cursor: rollups.Cursor, conn: Any, project_id: int, now: str) -> None:
        """Write down the expiry of every entry past its time, at that time, and drop it.

        Only the transaction whose delete took the row writes the event, so two at once write it once.
        """
        for test_id, reason, expires_at, source in self._tuples(conn, self.DIALECT.sql(EXPIRED), (project_id, now)):
            if cursor.execute(self.DIALECT.sql(DROP), (project_id, test_id)).rowcount:
                cursor.execute(self.DIALECT.sql(EVENT),
                               (project_id, test_id, "expire", source, EXPIRY_ACTOR, expires_at, reason, expires_at))
