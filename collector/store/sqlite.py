"""SQLite storage: one database file shared by the collector's threads and processes.

Durability: every connection runs with ``journal_mode=WAL`` and
``synchronous=FULL``. A run is acknowledged only after the commit of its one
transaction has been fsynced to the write-ahead log, so an acknowledged run
survives a crash of the collector *and* a power loss or OS crash (on a local
disk that honours fsync). ``synchronous=NORMAL`` survives only the former: it
may lose the last commits on power loss. FULL measured ~5.6k single-row
commits/s against NORMAL's ~43k; a run is one commit however many tests it
holds, so that is still thousands of runs a second.

Concurrency: one connection per thread, in autocommit mode with explicit
transactions. Every write transaction starts with ``BEGIN IMMEDIATE``, which
takes the write lock up front and waits up to the busy timeout for it; a
deferred transaction that reads first fails at once when it upgrades to a
write. A database still busy after the timeout raises Unavailable, which
clients retry.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..histogram import duration_bucket
from ..errors import AlreadyExists, ConfigError, Invalid, NotFound, SchemaMismatch, Unavailable
from ..model import InsertOutcome, Org, Project, RunPage, RunPayload, StoredRun, TestPage, TestResult, TokenRecord, WebSession
from ..timeutil import utc_now
from .base import PRUNE_SCAN_RUNS, Store, oldest_batch
from . import rollups
from .migrations import load_migrations
from .records import (
    RESULT_COLUMNS,
    project_from_row,
    repeated_test_id,
    result_from_values,
    result_values,
    run_params,
    run_tests_page,
    run_tests_page_sql,
    run_tests_params,
    tests_position,
    runs_before_filter,
    runs_page,
    runs_page_filter,
    select_web_session,
    stored_run_from_payload,
    stored_run_from_row,
    token_from_row,
    web_session_from_row,
)

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6

_INSERT_RUN = """
    INSERT INTO runs (
        project_id, run_id, status, started_at, duration_ms, received_at, digest, ci, vcs, reporter,
        branch, commit_sha, tests_total, passed, failed, error, skipped, xfailed, xpassed, flaky
    ) VALUES (
        :project_id, :run_id, :status, :started_at, :duration_ms, :received_at, :digest, :ci, :vcs, :reporter,
        :branch, :commit_sha, :tests_total, :passed, :failed, :error, :skipped, :xfailed, :xpassed, :flaky
    )
    ON CONFLICT (project_id, run_id) DO NOTHING
"""
_SELECT_RUNS = """
    SELECT id, run_id, status, started_at, duration_ms, received_at, digest, ci, vcs, reporter,
           tests_total, passed, failed, error, skipped, xfailed, xpassed, flaky
    FROM runs
"""
_SELECT_RUN = f"{_SELECT_RUNS} WHERE project_id = ? AND run_id = ?"
_INSERT_RESULTS = (
    f"INSERT INTO test_results (run_pk, {', '.join(RESULT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * (1 + len(RESULT_COLUMNS)))})"
)
_SELECT_RESULTS = f"SELECT {', '.join(RESULT_COLUMNS[1:])} FROM test_results WHERE run_pk = ? ORDER BY seq"
_SELECT_RUN_PK = "SELECT id FROM runs WHERE project_id = ? AND run_id = ?"
_SELECT_TESTS_PAGE = run_tests_page_sql("?")
_SELECT_PROJECTS = "SELECT p.id, o.name AS org, p.name, p.created_at FROM projects p JOIN orgs o ON o.id = p.org_id"
_SELECT_TOKENS = """
    SELECT t.token_id, t.secret_hash, t.scopes, t.created_at, t.expires_at, t.revoked_at, t.last_used_at,
           p.id AS project_id, o.name AS project_org, p.name AS project_name, p.created_at AS project_created_at
    FROM tokens t
    LEFT JOIN projects p ON p.id = t.project_id
    LEFT JOIN orgs o ON o.id = p.org_id
"""


_SELECT_WEB_SESSION = select_web_session("?")


class _Connection(sqlite3.Connection):
    """sqlite3.Connection cannot be weakly referenced; a subclass can.

    The store finds every thread's connection for close() through a WeakSet,
    so the connection of a thread that has ended is still freed, and closed,
    with that thread's locals.
    """


def _create_private(path: str) -> None:
    """Create a missing database file readable by its owner only (0600); other users share the machine.

    SQLite creates the ``-wal`` and ``-shm`` files with the database file's own mode, so they are
    private too. An existing file keeps the mode its owner gave it.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return  # it exists already, or cannot be made: sqlite3.connect then says why
    os.close(descriptor)


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # Python 3.10 has no error codes
        return "locked" in str(exc) or "busy" in str(exc)
    return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


def _busy() -> Unavailable:
    return Unavailable("database is busy, retry", retry_after=1)


def _closed() -> Unavailable:
    return Unavailable("the database connection is closed (shutting down)", retry_after=1)


@contextmanager
def _busy_is_unavailable() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise _busy() from exc
        raise


def _is_unique_violation(exc: sqlite3.IntegrityError) -> bool:
    return "UNIQUE constraint failed" in str(exc)


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements: executescript() would first commit the open transaction."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    leftover = [line for line in pending.splitlines() if line.strip() and not line.strip().startswith("--")]
    if leftover:
        raise ValueError(f"migration ends with an incomplete statement: {leftover[0]!r}")


def _schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    if exists.fetchone() is None:
        return 0
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0])


def _inserted_id(cursor: sqlite3.Cursor) -> int:
    assert cursor.lastrowid is not None
    return cursor.lastrowid


@dataclass(slots=True, eq=False)
class _PendingRun:
    """An insert_run call waiting for a group commit, then its outcome or its error."""

    project: Project
    run: RunPayload
    received_at: str
    done: bool = False
    outcome: InsertOutcome | None = None
    error: BaseException | None = None


class SQLiteStore(Store):
    LATEST_VERSION = 3

    def __init__(self, path: str, *, busy_timeout_s: float = 5.0, create: bool = True) -> None:
        """``create=False``: a missing file is an error, not a new empty database (only migrate makes one)."""
        if path in ("", ":memory:"):
            raise ConfigError(
                f"SQLite database path {path!r} is not a file: every collector thread opens its own "
                "connection, so the database must be a file they share"
            )
        if not create and not os.path.exists(path):
            raise ConfigError(f"no database at {path}: create it with 'testrun-admin migrate --db {shlex.quote(path)}'")
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._closed = False
        self._pending: list[_PendingRun] = []  # insert_run calls not yet taken by a group commit
        self._pending_changed = threading.Condition(threading.Lock())
        self._leading = False  # a thread is running a group commit
        _create_private(path)
        self._connection()  # a path that cannot be opened fails here, at start-up

    # --- connections and transactions ---------------------------------------
    def _open(self) -> _Connection:
        conn: _Connection | None = None
        try:
            # timeout= is sqlite3_busy_timeout, i.e. PRAGMA busy_timeout, in effect from the first statement
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
                factory=_Connection,
            )
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.create_function("duration_bucket", 1, duration_bucket, deterministic=True)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            if _is_busy(exc):
                raise _busy() from exc
            raise ConfigError(f"cannot open the SQLite database {self.path!r}: {exc}") from exc
        if mode != "wal":
            conn.close()
            raise ConfigError(
                f"the SQLite database {self.path!r} cannot use WAL (journal mode {mode!r}): "
                "put it on a local file system"
            )
        conn.row_factory = sqlite3.Row
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise _closed()
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            with self._lock:
                if self._closed:
                    conn.close()
                    raise _closed()
                self._connections.add(conn)
            self._local.conn = conn
        return conn

    @contextmanager
    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """A write transaction by default; ``begin="BEGIN"`` for a read snapshot.

        This process's writers queue on a lock before ``BEGIN IMMEDIATE``: SQLite's
        busy handler makes a writer that finds the lock taken sleep and poll (1, 2,
        5 ... 100 ms), so threads contending for it inside SQLite idle while the lock
        is free (bench/profile_collector.py: 2/3 of the collector's samples waited there).
        The lock hands the turn over at once; the busy timeout still bounds the wait
        and still guards against writers in other processes.
        """
        writing = begin != "BEGIN"
        if writing and not self._write_lock.acquire(timeout=self.busy_timeout_s):
            raise _busy()
        try:
            with _busy_is_unavailable():
                conn = self._connection()
                conn.execute(begin)
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        finally:
            if writing:
                self._write_lock.release()

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with _busy_is_unavailable():
            return self._connection().execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            conn.close()

    def ping(self) -> None:
        try:
            self._connection().execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            if _is_busy(exc):
                raise _busy() from exc
            raise Unavailable(f"the SQLite database does not answer: {exc}") from exc
        except ConfigError as exc:
            raise Unavailable(exc.message) from exc

    # --- schema -------------------------------------------------------------
    def schema_version(self) -> int:
        with _busy_is_unavailable():
            return _schema_version(self._connection())

    def migrate(self) -> list[int]:
        current = self.schema_version()
        if current > self.LATEST_VERSION:
            raise SchemaMismatch(
                f"database schema is at version {current}, newer than this collector knows "
                f"({self.LATEST_VERSION}): upgrade testrun before using this database"
            )
        applied: list[int] = []
        for migration in load_migrations("sqlite"):
            if migration.version <= current:
                continue
            with self._transaction() as conn:
                if _schema_version(conn) >= migration.version:
                    continue  # another process applied it while we waited for the write lock
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                if migration.version == rollups.FIRST_VERSION:
                    _roll_up_stored_runs(conn)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (migration.version, utc_now()),
                )
            applied.append(migration.version)
        return applied

    # --- orgs and projects --------------------------------------------------
    def create_org(self, name: str) -> Org:
        created_at = utc_now()
        try:
            with self._transaction() as conn:
                cursor = conn.execute("INSERT INTO orgs (name, created_at) VALUES (?, ?)", (name, created_at))
        except sqlite3.IntegrityError as exc:
            if _is_unique_violation(exc):
                raise AlreadyExists(f"org {name!r} already exists") from exc
            raise
        return Org(_inserted_id(cursor), name, created_at)

    def list_orgs(self) -> list[Org]:
        rows = self._fetch("SELECT id, name, created_at FROM orgs ORDER BY name")
        return [Org(row["id"], row["name"], row["created_at"]) for row in rows]

    def create_project(self, org: str, name: str) -> Project:
        created_at = utc_now()
        try:
            with self._transaction() as conn:
                found = conn.execute("SELECT id FROM orgs WHERE name = ?", (org,)).fetchone()
                if found is None:
                    raise NotFound(f"org {org!r} not found")
                cursor = conn.execute(
                    "INSERT INTO projects (org_id, name, created_at) VALUES (?, ?, ?)", (found["id"], name, created_at)
                )
        except sqlite3.IntegrityError as exc:
            if _is_unique_violation(exc):
                raise AlreadyExists(f"project '{org}/{name}' already exists") from exc
            raise
        return Project(_inserted_id(cursor), org, name, created_at)

    def get_project(self, org: str, name: str) -> Project:
        rows = self._fetch(f"{_SELECT_PROJECTS} WHERE o.name = ? AND p.name = ?", (org, name))
        if not rows:
            raise NotFound(f"project '{org}/{name}' not found")
        return project_from_row(rows[0])

    def list_projects(self, org: str | None = None) -> list[Project]:
        where, params = ("WHERE o.name = ?", (org,)) if org is not None else ("", ())
        rows = self._fetch(f"{_SELECT_PROJECTS} {where} ORDER BY o.name, p.name", params)
        return [project_from_row(row) for row in rows]

    # --- tokens -------------------------------------------------------------
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
        )
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT INTO tokens (token_id, project_id, secret_hash, scopes, created_at, expires_at, "
                    "revoked_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
        except sqlite3.IntegrityError as exc:
            if _is_unique_violation(exc):
                raise AlreadyExists(f"token {token.token_id!r} already exists") from exc
            if token.project is not None:  # the project's foreign key
                raise NotFound(f"project {token.project.slug!r} not found") from exc
            raise

    def get_token(self, token_id: str) -> TokenRecord | None:
        rows = self._fetch(f"{_SELECT_TOKENS} WHERE t.token_id = ?", (token_id,))
        return token_from_row(rows[0]) if rows else None

    def list_tokens(self, project: Project | None = None) -> list[TokenRecord]:
        where, params = ("WHERE t.project_id = ?", (project.id,)) if project is not None else ("", ())
        rows = self._fetch(f"{_SELECT_TOKENS} {where} ORDER BY t.created_at, t.token_id", params)
        return [token_from_row(row) for row in rows]

    def revoke_token(self, token_id: str, when: str) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE token_id = ?", (when, token_id)
            )
            conn.execute("DELETE FROM web_sessions WHERE token_id = ?", (token_id,))
        return cursor.rowcount == 1

    def touch_token(self, token_id: str, when: str) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE tokens SET last_used_at = ? WHERE token_id = ?", (when, token_id))

    # --- web sessions -------------------------------------------------------
    def create_web_session(self, id_hash: bytes, token_id: str, when: str) -> None:
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT INTO web_sessions (id_hash, token_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)",
                    (id_hash, token_id, when, when),
                )
        except sqlite3.IntegrityError as exc:
            if _is_unique_violation(exc):
                raise AlreadyExists("that web session already exists") from exc
            raise NotFound(f"token {token_id!r} not found") from exc  # the token's foreign key

    def get_web_session(self, id_hash: bytes) -> WebSession | None:
        rows = self._fetch(_SELECT_WEB_SESSION, (id_hash,))
        return web_session_from_row(rows[0]) if rows else None

    def touch_web_session(self, id_hash: bytes, when: str) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE web_sessions SET last_seen_at = ? WHERE id_hash = ?", (when, id_hash))

    def delete_web_session(self, id_hash: bytes) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute("DELETE FROM web_sessions WHERE id_hash = ?", (id_hash,))
        return cursor.rowcount == 1

    def purge_web_sessions(self, *, idle_before: str, created_before: str, limit: int) -> int:
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions "
                "WHERE last_seen_at < ? OR created_at < ? LIMIT ?)",
                (idle_before, created_before, limit),
            )
        return cursor.rowcount

    # --- runs ---------------------------------------------------------------
    def insert_run(self, project: Project, run: RunPayload, received_at: str) -> InsertOutcome:
        """Store a run in a group commit: one transaction, so one fsync, for the runs that arrive together.

        With ``synchronous=FULL`` a run's own transaction spent 40% of the write
        lock's time in the fsync of its COMMIT while the other request threads
        queued. Now the first caller to find no group commit running leads one:
        it takes every pending run, inserts each in its own SAVEPOINT (a run that
        fails, say a repeated test_id, is rolled back alone and gets its own
        error), commits once and hands each caller its outcome. Callers that
        arrive meanwhile wait, then the next of them leads. Runs are inserted in
        arrival order, so two runs with one run_id behave as if serial. A caller
        returns only after the COMMIT that holds its run: the durability promise
        is unchanged. An error of the transaction itself (the write lock's
        timeout, SQLITE_BUSY, a failing COMMIT) reaches every run of the group.
        """
        pending = _PendingRun(project, run, received_at)
        with self._pending_changed:
            self._pending.append(pending)
            while self._leading and not pending.done:
                self._pending_changed.wait()
            if not pending.done:
                self._leading = True
        if not pending.done:
            self._group_commit()
        if pending.error is not None:
            raise pending.error
        assert pending.outcome is not None
        return pending.outcome

    def _group_commit(self) -> None:
        group: list[_PendingRun] | None = None
        try:
            with self._transaction() as conn:
                with self._pending_changed:  # taken only now: runs that arrived while this waited join in
                    group, self._pending = self._pending, []
                for pending in group:
                    self._insert_in_savepoint(conn, pending)
        except BaseException as exc:
            with self._pending_changed:
                if group is None:
                    group, self._pending = self._pending, []
            for pending in group:
                if pending.error is None:  # a run that failed alone keeps its own error
                    pending.error, pending.outcome = exc, None
        finally:
            with self._pending_changed:
                for pending in group or ():
                    pending.done = True
                self._leading = False
                self._pending_changed.notify_all()

    def _insert_in_savepoint(self, conn: sqlite3.Connection, pending: _PendingRun) -> None:
        conn.execute("SAVEPOINT insert_run")
        try:
            with _busy_is_unavailable():
                pending.outcome = self._insert_run(conn, pending.project, pending.run, pending.received_at)
        except Exception as exc:
            if not conn.in_transaction:
                raise  # SQLite rolled the whole transaction back (disk full, I/O error): the group fails
            conn.execute("ROLLBACK TO insert_run")
            pending.error = exc
        conn.execute("RELEASE insert_run")

    def _insert_run(
        self, conn: sqlite3.Connection, project: Project, run: RunPayload, received_at: str
    ) -> InsertOutcome:
        started_at = run.started_at or received_at
        cursor = conn.execute(_INSERT_RUN, run_params(project.id, run, started_at, received_at))
        if cursor.rowcount == 1:
            run_pk = _inserted_id(cursor)
            self._insert_tests(conn, run_pk, run.tests)
            rollups.add_run(conn, rollups.RunKey.of_new_run(run_pk, project.id, started_at, run), rollups.SQLITE)
            return InsertOutcome("created", stored_run_from_payload(run, started_at, received_at))
        stored = stored_run_from_row(conn.execute(_SELECT_RUN, (project.id, run.run_id)).fetchone())
        return InsertOutcome("duplicate" if stored.digest == run.digest else "conflict", stored)

    @staticmethod
    def _insert_tests(conn: sqlite3.Connection, run_pk: int, tests: list[TestResult]) -> None:
        try:
            conn.executemany(_INSERT_RESULTS, result_values(run_pk, tests))
        except sqlite3.IntegrityError as exc:
            repeated = repeated_test_id(tests)
            if repeated is None:
                raise
            raise Invalid([repeated]) from exc

    def get_run(self, project: Project, run_id: str, *, with_tests: bool = True) -> StoredRun:
        with self._transaction("BEGIN") as conn:
            row = conn.execute(_SELECT_RUN, (project.id, run_id)).fetchone()
            if row is None:
                raise NotFound(f"run {run_id!r} not found")
            tests = None
            if with_tests:
                cursor = conn.cursor()
                cursor.row_factory = None  # plain tuples: a run may hold 100,000 tests
                tests = [result_from_values(values) for values in cursor.execute(_SELECT_RESULTS, (row["id"],))]
        return stored_run_from_row(row, tests)

    def list_run_tests(self, project: Project, run_id: str, *, limit: int, cursor: str | None = None) -> TestPage:
        position = tests_position(limit, cursor)
        with self._transaction("BEGIN") as conn:
            row = conn.execute(_SELECT_RUN_PK, (project.id, run_id)).fetchone()
            if row is None:
                raise NotFound(f"run {run_id!r} not found")
            reader = conn.cursor()
            reader.row_factory = None
            rows = reader.execute(_SELECT_TESTS_PAGE, run_tests_params(row["id"], limit, position)).fetchall()
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
            project, limit=limit, cursor=cursor, branch=branch, status=status, param="?", time_param="?"
        )
        rows = self._fetch(f"{_SELECT_RUNS} WHERE {where} ORDER BY started_at DESC, id DESC LIMIT ?", params)
        return runs_page(rows, limit)

    # --- retention ----------------------------------------------------------
    def _count_runs_before(self, cutoff: str, project: Project | None) -> tuple[int, int]:
        where, params = _before(cutoff, project)
        row = self._fetch(f"SELECT count(*), coalesce(sum(tests_total), 0) FROM runs WHERE {where}", params)[0]
        return int(row[0]), int(row[1])

    def _delete_oldest_runs_before(self, cutoff: str, project: Project | None, batch_tests: int) -> tuple[int, int]:
        where, params = _before(cutoff, project)
        with self._transaction() as conn:
            candidates = conn.execute(
                f"SELECT id, tests_total FROM runs WHERE {where} ORDER BY started_at, id LIMIT ?",
                (*params, PRUNE_SCAN_RUNS),
            ).fetchall()
            ids, tests = oldest_batch([(row[0], row[1]) for row in candidates], batch_tests)
            if ids:
                rollups.subtract(conn, _rollup_of_stored(conn, ids), rollups.SQLITE)
            conn.executemany("DELETE FROM runs WHERE id = ?", [(run_pk,) for run_pk in ids])
        return len(ids), tests


def _before(cutoff: str, project: Project | None) -> tuple[str, tuple[Any, ...]]:
    return runs_before_filter(cutoff, project, param="?", time_param="?")


def _rollup_of_stored(conn: sqlite3.Connection, run_pks: list[int]) -> rollups.Rollup:
    cursor = conn.cursor()
    cursor.row_factory = None
    return rollups.rollup_of_rows(cursor.execute(rollups.results_of_runs_sql(len(run_pks), rollups.SQLITE), run_pks).fetchall())


def _roll_up_stored_runs(conn: sqlite3.Connection) -> None:
    """Build the rollups of the runs stored before they existed."""
    rollups.roll_up_stored_runs(conn, conn.execute(rollups.STORED_RUNS).fetchall(), rollups.SQLITE)
