"""What both SQL backends do alike: one text of every statement, and the store methods built on it.

The statements are written once, with ``?`` placeholders and ``{time}`` for a
parameter compared with a stored time; the backend's ``DIALECT`` turns them
into its own (``%s``, ``%s::timestamptz`` on PostgreSQL). A backend keeps
apart only what its driver needs: how it opens connections and transactions,
how it reads many rows as plain tuples, how it bulk-inserts results (SQLite's
``executemany``, PostgreSQL's ``COPY``), how it gets an inserted row's id, and
how it tells a unique or foreign-key violation from other errors.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ..errors import AlreadyExists, NotFound
from ..model import (
    Org,
    Project,
    RunPage,
    StoredRun,
    TestPage,
    TestResult,
    TokenRecord,
    WebSession,
)
from ..timeutil import utc_now
from . import rollups
from .base import PRUNE_SCAN_RUNS, Store, oldest_batch
from .records import (
    RESULT_COLUMNS,
    project_from_row,
    result_from_values,
    run_tests_page,
    run_tests_page_sql,
    run_tests_params,
    runs_before_filter,
    runs_page,
    runs_page_filter,
    select_web_session,
    stored_run_from_row,
    tests_position,
    token_from_row,
    web_session_from_row,
)
from .uploads import UploadWrites
from .verdicts import VerdictWrites

RUN_COLUMNS = (
    "project_id", "run_id", "status", "started_at", "duration_ms", "received_at", "digest", "ci", "vcs", "reporter",
    "branch", "commit_sha", "tests_total", "passed", "failed", "error", "skipped", "xfailed", "xpassed", "flaky",
)  # fmt: skip
#: a new run's row, or nothing when ``(project_id, run_id)`` is taken: the caller then reads the stored one
INSERT_RUN = (
    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))}) "
    "ON CONFLICT (project_id, run_id) DO NOTHING"
)
SELECT_RUNS = """
    SELECT id, run_id, status, started_at, duration_ms, received_at, digest, ci, vcs, reporter,
           tests_total, passed, failed, error, skipped, xfailed, xpassed, flaky
    FROM runs
"""
#: one run, with its verdict (lists of runs leave the verdict out: it may be half a megabyte)
SELECT_RUN = f"{SELECT_RUNS.replace('FROM runs', ', verdict FROM runs')} WHERE project_id = ? AND run_id = ? AND NOT is_open"
SELECT_RESULTS = f"SELECT {', '.join(RESULT_COLUMNS[1:])} FROM test_results WHERE run_pk = ? ORDER BY seq"
SELECT_RUN_PK = "SELECT id FROM runs WHERE project_id = ? AND run_id = ? AND NOT is_open"
SELECT_PROJECTS = (
    "SELECT p.id, o.name AS org, p.name, p.created_at, p.default_branch, p.auto_quarantine "
    "FROM projects p JOIN orgs o ON o.id = p.org_id"
)
SELECT_TOKENS = """
    SELECT t.token_id, t.secret_hash, t.scopes, t.created_at, t.expires_at, t.revoked_at, t.last_used_at, t.name,
           p.id AS project_id, o.name AS project_org, p.name AS project_name, p.created_at AS project_created_at,
           p.default_branch AS project_default_branch, p.auto_quarantine AS project_auto_quarantine
    FROM tokens t
    LEFT JOIN projects p ON p.id = t.project_id
    LEFT JOIN orgs o ON o.id = p.org_id
"""
INSERT_TOKEN = (
    "INSERT INTO tokens (token_id, project_id, secret_hash, scopes, created_at, expires_at, revoked_at, "
    "last_used_at, name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def run_values(params: dict[str, Any]) -> tuple[Any, ...]:
    """``records.run_params`` in ``RUN_COLUMNS`` order, for ``INSERT_RUN``."""
    return tuple(params[column] for column in RUN_COLUMNS)


class SQLStore(VerdictWrites, UploadWrites, Store):
    """The Store on an SQL database; a backend supplies connections and its driver's few differences."""

    DIALECT: rollups.Dialect

    # --- what a backend supplies ---------------------------------------------------------
    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """A write transaction: a connection whose ``execute`` runs in it, committed when the block ends."""

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Any]:
        """A connection whose reads see one consistent state, for a call that reads several times."""

    @abstractmethod
    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows (readable by column name) of one statement, already in this backend's dialect."""

    @abstractmethod
    def _tuples(self, conn: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows as plain tuples: a run may hold 100,000 results."""

    @abstractmethod
    def _insert_id(self, conn: Any, sql: str, params: Sequence[Any]) -> int | None:
        """Run an INSERT (in this dialect) and return the new row's id; None when ON CONFLICT inserted nothing."""

    @abstractmethod
    def _cursor(self, conn: Any) -> rollups.Cursor:
        """Something with ``execute`` and ``executemany`` on ``conn``, for the rollups."""

    @abstractmethod
    def _insert_results(self, conn: Any, run_pk: int, tests: list[TestResult], first_seq: int = 0) -> None:
        """Bulk-insert a run's results, numbered from ``first_seq``; Invalid for a test id repeated in them."""

    @abstractmethod
    def _violation(self, error: BaseException) -> str | None:
        """``"unique"`` or ``"foreign_key"`` for a constraint violation of the driver, else None."""

    # --- helpers -------------------------------------------------------------------------
    def _sql(self, text: str) -> str:
        return self.DIALECT.sql(text)

    def _rows(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._fetch(self._sql(text), params)

    @contextmanager
    def _violations(self, unique: str, foreign_key: str | None = None) -> Iterator[None]:
        """Turn a unique violation into AlreadyExists(unique), a foreign-key one into NotFound(foreign_key)."""
        try:
            yield
        except Exception as error:
            kind = self._violation(error)
            if kind == "unique":
                raise AlreadyExists(unique) from error
            if kind == "foreign_key" and foreign_key is not None:
                raise NotFound(foreign_key) from error
            raise

    # --- orgs and projects ---------------------------------------------------------------
    def create_org(self, name: str) -> Org:
        created_at = utc_now()
        with self._violations(f"org {name!r} already exists"), self._transaction() as conn:
            org_id = self._insert_id(conn, self._sql("INSERT INTO orgs (name, created_at) VALUES (?, ?)"),
                                     (name, created_at))
        assert org_id is not None
        return Org(org_id, name, created_at)

    def list_orgs(self) -> list[Org]:
        rows = self._rows("SELECT id, name, created_at FROM orgs ORDER BY name")
        return [Org(row["id"], row["name"], row["created_at"]) for row in rows]

    def create_project(self, org: str, name: str, *, default_branch: str = "main") -> Project:
        created_at = utc_now()
        with self._violations(f"project '{org}/{name}' already exists"), self._transaction() as conn:
            found = conn.execute(self._sql("SELECT id FROM orgs WHERE name = ?"), (org,)).fetchone()
            if found is None:
                raise NotFound(f"org {org!r} not found")
            project_id = self._insert_id(
                conn, self._sql("INSERT INTO projects (org_id, name, created_at, default_branch) VALUES (?, ?, ?, ?)"),
                (found["id"], name, created_at, default_branch),
            )
        assert project_id is not None
        return Project(project_id, org, name, created_at, default_branch)

    def set_default_branch(self, project: Project, branch: str) -> Project:
        with self._transaction() as conn:
            conn.execute(self._sql("UPDATE projects SET default_branch = ? WHERE id = ?"), (branch, project.id))
            self.rebuild_default_failures(conn, project.id, branch)
        return self.get_project(project.org, project.name)

    def get_project(self, org: str, name: str) -> Project:
        rows = self._rows(f"{SELECT_PROJECTS} WHERE o.name = ? AND p.name = ?", (org, name))
        if not rows:
            raise NotFound(f"project '{org}/{name}' not found")
        return project_from_row(rows[0])

    def list_projects(self, org: str | None = None) -> list[Project]:
        where, params = ("WHERE o.name = ?", (org,)) if org is not None else ("", ())
        rows = self._rows(f"{SELECT_PROJECTS} {where} ORDER BY o.name, p.name", params)
        return [project_from_row(row) for row in rows]

    # --- tokens ----------------------------------------------------------------------------
    def insert_token(self, token: TokenRecord) -> None:
        values = (
            token.token_id,
            token.project.id if token.project is not None else None,
            token.secret_hash,
            " ".join(token.scopes),
            token.created_at,
            token.expires_at,
            token.revoked_at,
            token.last_used_at,
            token.name,
        )
        missing = f"project {token.project.slug!r} not found" if token.project is not None else None
        with self._violations(f"token {token.token_id!r} already exists", missing), self._transaction() as conn:
            conn.execute(self._sql(INSERT_TOKEN), values)

    def get_token(self, token_id: str) -> TokenRecord | None:
        rows = self._rows(f"{SELECT_TOKENS} WHERE t.token_id = ?", (token_id,))
        return token_from_row(rows[0]) if rows else None

    def list_tokens(self, project: Project | None = None) -> list[TokenRecord]:
        where, params = ("WHERE t.project_id = ?", (project.id,)) if project is not None else ("", ())
        rows = self._rows(f"{SELECT_TOKENS} {where} ORDER BY t.created_at, t.token_id", params)
        return [token_from_row(row) for row in rows]

    def revoke_token(self, token_id: str, when: str) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                self._sql("UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE token_id = ?"), (when, token_id)
            )
            conn.execute(self._sql("DELETE FROM web_sessions WHERE token_id = ?"), (token_id,))
        return bool(cursor.rowcount == 1)

    def touch_token(self, token_id: str, when: str) -> None:
        with self._transaction() as conn:
            conn.execute(self._sql("UPDATE tokens SET last_used_at = ? WHERE token_id = ?"), (when, token_id))

    # --- web sessions ----------------------------------------------------------------------
    def create_web_session(self, id_hash: bytes, token_id: str, when: str) -> None:
        with self._violations("that web session already exists", f"token {token_id!r} not found"):
            with self._transaction() as conn:
                conn.execute(
                    self._sql("INSERT INTO web_sessions (id_hash, token_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)"),
                    (id_hash, token_id, when, when),
                )

    def get_web_session(self, id_hash: bytes) -> WebSession | None:
        rows = self._rows(select_web_session("?"), (id_hash,))
        return web_session_from_row(rows[0]) if rows else None

    def touch_web_session(self, id_hash: bytes, when: str) -> None:
        with self._transaction() as conn:
            conn.execute(self._sql("UPDATE web_sessions SET last_seen_at = ? WHERE id_hash = ?"), (when, id_hash))

    def delete_web_session(self, id_hash: bytes) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(self._sql("DELETE FROM web_sessions WHERE id_hash = ?"), (id_hash,))
        return bool(cursor.rowcount == 1)

    def purge_web_sessions(self, *, idle_before: str, created_before: str, limit: int) -> int:
        with self._transaction() as conn:
            cursor = conn.execute(
                self._sql(
                    "DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions "
                    "WHERE last_seen_at < {time} OR created_at < {time} LIMIT ?)"
                ),
                (idle_before, created_before, limit),
            )
        return int(cursor.rowcount)

    # --- runs ------------------------------------------------------------------------------
    def _rebuild_every_default_branch(self, conn: Any) -> None:
        """The failing streaks of every project's default branch (the migration that added them)."""
        for project_id, branch in self._tuples(conn, "SELECT id, default_branch FROM projects ORDER BY id", ()):
            self.rebuild_default_failures(conn, project_id, branch, uploads_exist=False)

    def get_run(self, project: Project, run_id: str, *, with_tests: bool = True) -> StoredRun:
        with self._reading() as conn:
            row = conn.execute(self._sql(SELECT_RUN), (project.id, run_id)).fetchone()
            if row is None:
                raise NotFound(f"run {run_id!r} not found")
            tests: list[TestResult] | None = None
            if with_tests:
                tests = [result_from_values(values) for values in self._tuples(conn, self._sql(SELECT_RESULTS), (row["id"],))]
        return stored_run_from_row(row, tests)

    def list_run_tests(self, project: Project, run_id: str, *, limit: int, cursor: str | None = None) -> TestPage:
        position = tests_position(limit, cursor)
        with self._reading() as conn:
            row = conn.execute(self._sql(SELECT_RUN_PK), (project.id, run_id)).fetchone()
            if row is None:
                raise NotFound(f"run {run_id!r} not found")
            rows = self._tuples(conn, self._sql(run_tests_page_sql("?")), run_tests_params(row["id"], limit, position))
        return run_tests_page(rows, limit)

    def list_runs(
        self,
        project: Project,
        *,
        limit: int,
        cursor: str | None = None,
        branch: str | None = None,
        status: str | None = None,
    ) -> RunPage:
        where, params = runs_page_filter(
            project, limit=limit, cursor=cursor, branch=branch, status=status, param="?", time_param="{time}"
        )
        rows = self._rows(f"{SELECT_RUNS} WHERE {where} ORDER BY started_at DESC, id DESC LIMIT ?", params)
        return runs_page(rows, limit)

    # --- retention -------------------------------------------------------------------------
    def _count_runs_before(self, cutoff: str, project: Project | None) -> tuple[int, int]:
        where, params = runs_before_filter(cutoff, project, param="?", time_param="{time}")
        row = self._rows(f"SELECT count(*) AS runs, coalesce(sum(tests_total), 0) AS tests FROM runs WHERE {where}", params)[0]
        return int(row["runs"]), int(row["tests"])

    def _delete_oldest_runs_before(self, cutoff: str, project: Project | None, batch_tests: int) -> tuple[int, int]:
        where, params = runs_before_filter(cutoff, project, param="?", time_param="{time}")
        with self._transaction() as conn:
            candidates = conn.execute(
                self._sql(f"SELECT id, tests_total FROM runs WHERE {where} ORDER BY started_at, id LIMIT ?"),
                (*params, PRUNE_SCAN_RUNS),
            ).fetchall()
            ids, tests = oldest_batch([(row["id"], row["tests_total"]) for row in candidates], batch_tests)
            if ids:
                rows = self._tuples(conn, rollups.results_of_runs_sql(len(ids), self.DIALECT), ids)
                rollups.subtract(self._cursor(conn), rollups.rollup_of_rows(rows), self.DIALECT)
                self._cursor(conn).executemany(self._sql("DELETE FROM runs WHERE id = ?"), [(pk,) for pk in ids])
        return len(ids), tests

    def _roll_up_stored_runs(self, conn: Any) -> None:
        """Build the rollups of the runs stored before they existed (the migration that added them)."""
        rollups.roll_up_stored_runs(self._cursor(conn), self._tuples(conn, rollups.STORED_RUNS, ()), self.DIALECT)
