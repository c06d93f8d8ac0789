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

from ..errors import ConfigError, Invalid, SchemaMismatch, Unavailable
from ..histogram import duration_bucket
from ..model import InsertOutcome, Project, RunPayload, TestResult
from ..timeutil import utc_now
from . import rollups
from .migrations import load_migrations
from .records import (
    RESULT_COLUMNS,
    repeated_test_id,
    result_values,
    run_params,
    stored_run_from_payload,
    stored_run_from_row,
)
from .sql import INSERT_RUN, SELECT_RUN, SQLStore, run_values
from .verdicts import VERDICTS_VERSION

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6

_INSERT_RESULTS = (
    f"INSERT INTO test_results (run_pk, {', '.join(RESULT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * (1 + len(RESULT_COLUMNS)))})"
)


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


class SQLiteStore(SQLStore):
    LATEST_VERSION = 6
    CLEAN_TREE = "coalesce(json_extract(r.vcs, '$.dirty'), 0) IS NOT 1"

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

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._transaction("BEGIN") as conn:
            yield conn

    def _tuples(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cursor = conn.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, params).fetchall()

    def _insert_id(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int | None:
        cursor = conn.execute(sql, params)
        return cursor.lastrowid if cursor.rowcount == 1 else None

    def _cursor(self, conn: sqlite3.Connection) -> rollups.Cursor:
        return conn

    def _violation(self, error: BaseException) -> str | None:
        if not isinstance(error, sqlite3.IntegrityError):
            return None
        text = str(error)
        if "UNIQUE constraint failed" in text:
            return "unique"
        if "FOREIGN KEY constraint failed" in text:
            return "foreign_key"
        return None

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
                    self._roll_up_stored_runs(conn)
                if migration.version == VERDICTS_VERSION:
                    self._rebuild_every_default_branch(conn)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (migration.version, utc_now()),
                )
            applied.append(migration.version)
        return applied

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
        run_pk = self._insert_id(conn, INSERT_RUN, run_values(run_params(project.id, run, started_at, received_at)))
        if run_pk is not None:
            self._insert_results(conn, run_pk, run.tests)
            verdict = self.judge_new_run(conn, project, run_pk, run, started_at, received_at)
            return InsertOutcome("created", stored_run_from_payload(run, started_at, received_at, verdict))
        stored = stored_run_from_row(conn.execute(SELECT_RUN, (project.id, run.run_id)).fetchone())
        return InsertOutcome("duplicate" if stored.digest == run.digest else "conflict", stored)

    def _insert_results(self, conn: sqlite3.Connection, run_pk: int, tests: list[TestResult], first_seq: int = 0) -> None:
        try:
            conn.executemany(_INSERT_RESULTS, result_values(run_pk, tests, first_seq))
        except sqlite3.IntegrityError as exc:
            repeated = repeated_test_id(tests)
            if repeated is None:
                raise
            raise Invalid([repeated]) from exc
