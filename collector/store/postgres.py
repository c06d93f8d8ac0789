"""PostgreSQL storage: several collector processes, on several machines, sharing one database.

Connections come from a psycopg_pool pool per process (``pool_min_size`` to
``pool_max_size``). Every store call borrows one connection for the length of
one call, so a request thread never holds two and the pool cannot deadlock.
A connection is checked with an empty query when it leaves the pool, so
connections the server dropped while they sat idle (a restart, a failover,
``pg_terminate_backend``) are replaced instead of failing a request; one
broken during a call fails that call and is discarded by the pool when it
comes back.

Nothing waits without a bound: a request waits up to ``busy_timeout_s`` for a
connection, a statement runs at most ``statement_timeout_s`` (server side),
connecting gives up after ``connect_timeout``, and TCP keepalives and
``tcp_user_timeout`` end connections to a host that vanished. Each of those
ends, like every other connection failure (``OperationalError``), in
Unavailable: a 503 with ``Retry-After`` that clients retry. The pool keeps
reconnecting in the background, so the collector recovers on its own when
the database is back.

Times are ``timestamptz`` in the database and the same fixed-width RFC 3339
UTC text as in SQLite above the store (``timeutil.format_utc``): the
connection's loaders convert them, and jsonb columns come back as their text
for ``records`` to decode, so both backends answer with equal records.

Idempotent insert: ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` waits
for a concurrent transaction inserting the same ``(project_id, run_id)`` and
then inserts nothing; a second statement, with a snapshot taken after that
wait, reads the stored run to compare digests. (A single CTE that inserts or
selects sees the snapshot from before the wait and finds no row.) The tests
of a new run go in by COPY in the same transaction.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row, tuple_row
from psycopg.types.datetime import TimestamptzLoader
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from ..errors import ConfigError, Invalid, SchemaMismatch, Unavailable
from ..model import InsertOutcome, Project, RunPayload, TestResult
from ..timeutil import format_utc, utc_now
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

Connection = psycopg.Connection[DictRow]

#: pg_advisory_xact_lock key that serialises migrations across processes ("testrun" in ASCII)
MIGRATION_LOCK_KEY = 0x74657374_72756E
#: how long the pool keeps retrying one lost connection before it lets the next request start a
#: fresh attempt; it bounds the back-off, and so how long after the database is back a node recovers
RECONNECT_TIMEOUT_S = 10.0
#: libpq connection parameters the store sets unless the database URL gives its own
CONNECTION_DEFAULTS = {
    "application_name": "testrun",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
}

_INSERT_RUN = rollups.POSTGRESQL.sql(INSERT_RUN) + " RETURNING id"
_SELECT_RUN = rollups.POSTGRESQL.sql(SELECT_RUN)
_COPY_RESULTS = f"COPY test_results (run_pk, {', '.join(RESULT_COLUMNS)}) FROM STDIN"


class UtcTextLoader(TimestamptzLoader):
    """timestamptz → ``2026-01-12T10:00:00.000000Z``, the text the SQLite backend stores."""

    def load(self, data: Any) -> str:  # type: ignore[override]
        return format_utc(super().load(data))


def _closed() -> Unavailable:
    return Unavailable("the database connection is closed (shutting down)", retry_after=1)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _schema_version(conn: Connection) -> int:
    # A query on the catalog, not to_regclass(): that reads a catalog cache which taking an
    # advisory lock does not refresh, so it misses a table another migration just committed.
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_tables "
        "WHERE schemaname = current_schema() AND tablename = 'schema_migrations') AS present"
    ).fetchone()
    if row is None or not row["present"]:
        return 0
    row = conn.execute("SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations").fetchone()
    assert row is not None
    return int(row["version"])


class PostgresStore(SQLStore):
    LATEST_VERSION = 6
    DIALECT = rollups.POSTGRESQL
    CLEAN_TREE = "coalesce(r.vcs->>'dirty', '') <> 'true'"

    def __init__(
        self,
        dsn: str,
        *,
        busy_timeout_s: float = 5.0,
        pool_min_size: int = 1,
        pool_max_size: int = 10,
        statement_timeout_s: float = 10.0,
    ) -> None:
        try:
            given = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            # libpq's message may quote the URL, password included: name the problem, not the text
            raise ConfigError(
                "the postgresql:// database URL cannot be parsed; check its syntax "
                "(percent-encode spaces and special characters in the password)"
            ) from None
        if not 0 <= pool_min_size <= pool_max_size or pool_max_size < 1:
            raise ConfigError(f"pool sizes must satisfy 0 <= min ({pool_min_size}) <= max ({pool_max_size}), max >= 1")
        #: how long a request waits for a pooled connection before 503
        self.wait_s = max(busy_timeout_s, 0.1)
        self.statement_timeout_s = statement_timeout_s
        kwargs: dict[str, Any] = {
            key: value
            for key, value in {
                **CONNECTION_DEFAULTS,
                "connect_timeout": str(max(2, math.ceil(busy_timeout_s))),  # libpq treats 1 as 2
            }.items()
            if key not in given
        }
        kwargs.update(autocommit=True, row_factory=dict_row)
        self._probe(dsn, kwargs)
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            dsn,
            kwargs=kwargs,
            min_size=pool_min_size,
            max_size=pool_max_size,
            open=True,
            configure=self._configure,
            timeout=self.wait_s,
            reconnect_timeout=RECONNECT_TIMEOUT_S,
            name="testrun",
            num_workers=2,
        )

    # --- connections and transactions ---------------------------------------
    def _probe(self, dsn: str, kwargs: dict[str, Any]) -> None:
        """Connect once, so a wrong host, database or role fails at start-up with libpq's reason."""
        try:
            psycopg.connect(dsn, **kwargs).close()
        except psycopg.OperationalError as exc:
            raise Unavailable(f"cannot connect to PostgreSQL: {_one_line(exc)}", retry_after=1) from exc
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"the postgresql:// database URL is not valid: {_one_line(exc)}") from exc

    def _configure(self, conn: Connection) -> None:
        """Run once per new pooled connection."""
        conn.adapters.register_loader("timestamptz", UtcTextLoader)
        conn.adapters.register_loader("jsonb", TextLoader)  # records.py decodes the text
        conn.execute(
            "SELECT set_config('TimeZone', 'UTC', false), set_config('statement_timeout', %s, false)",
            (str(round(self.statement_timeout_s * 1000)),),
        )

    def _checked_connection(self) -> Connection:
        """A pooled connection that has just answered, within ``wait_s``.

        The check is ours, not the pool's ``check`` callback: that sleeps 1, 2, 4 ... s
        between connections that fail it, so after a database restart, with every
        pooled connection dead, a request would time out before it reached a good
        one. A dead connection fails its check at once; the pool replaces it.
        """
        deadline = time.monotonic() + self.wait_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PoolTimeout()
            conn = self._pool.getconn(timeout=left)
            try:
                conn.execute("")  # an empty query: one round trip, nothing run
            except psycopg.OperationalError:
                self._pool.putconn(conn)  # broken: the pool discards it and opens another
                continue
            except BaseException:
                self._pool.putconn(conn)
                raise
            return conn

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A pooled connection for one store call; database trouble becomes Unavailable."""
        try:
            conn = self._checked_connection()
            try:
                with conn:  # rolls back on an error; a pooled connection is not closed
                    yield conn
            finally:
                self._pool.putconn(conn)  # a broken one is discarded and replaced
        except PoolClosed:
            raise _closed() from None
        except PoolTimeout as exc:
            raise Unavailable(f"no database connection was free within {self.wait_s:g} s, retry") from exc
        except pg_errors.QueryCanceled as exc:
            raise Unavailable(
                f"the database did not finish within the statement timeout ({self.statement_timeout_s:g} s), retry"
            ) from exc
        except psycopg.OperationalError as exc:
            raise Unavailable(f"the database is unavailable ({type(exc).__name__}), retry") from exc

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._connection() as conn, conn.transaction():
            yield conn

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[DictRow]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    def _reading(self) -> AbstractContextManager[Connection]:
        # One connection, no transaction needed: a run and its tests become visible together and only
        # change when pruning deletes both.
        return self._connection()

    def _tuples(self, conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return conn.cursor(row_factory=tuple_row).execute(sql, params).fetchall()

    def _insert_id(self, conn: Connection, sql: str, params: Sequence[Any]) -> int | None:
        row = conn.execute(sql + " RETURNING id", params).fetchone()
        return None if row is None else int(row["id"])

    def _cursor(self, conn: Connection) -> rollups.Cursor:
        return conn.cursor()

    def _violation(self, error: BaseException) -> str | None:
        if isinstance(error, pg_errors.UniqueViolation):
            return "unique"
        if isinstance(error, pg_errors.ForeignKeyViolation):
            return "foreign_key"
        return None

    def close(self) -> None:
        self._pool.close(timeout=5.0)

    def ping(self) -> None:
        with self._connection() as conn:
            conn.execute("SELECT 1")

    # --- schema -------------------------------------------------------------
    def schema_version(self) -> int:
        with self._connection() as conn:
            return _schema_version(conn)

    def migrate(self) -> list[int]:
        current = self.schema_version()
        if current > self.LATEST_VERSION:
            raise SchemaMismatch(
                f"database schema is at version {current}, newer than this collector knows "
                f"({self.LATEST_VERSION}): upgrade testrun before using this database"
            )
        applied: list[int] = []
        for migration in load_migrations("postgresql"):
            if migration.version <= current:
                continue
            with self._transaction() as conn:
                # a migration may build an index on a big table, or wait for another process's migration
                conn.execute("SET LOCAL statement_timeout = 0")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
                if _schema_version(conn) >= migration.version:
                    continue  # another process applied it while we waited for the lock
                conn.execute(migration.sql.encode())  # several statements, no parameters: one simple query
                if migration.version == rollups.FIRST_VERSION:
                    self._roll_up_stored_runs(conn)
                if migration.version == VERDICTS_VERSION:
                    self._rebuild_every_default_branch(conn)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (%s, %s)",
                    (migration.version, utc_now()),
                )
            applied.append(migration.version)
        return applied

    # --- runs ---------------------------------------------------------------
    def insert_run(self, project: Project, run: RunPayload, received_at: str) -> InsertOutcome:
        started_at = run.started_at or received_at
        with self._transaction() as conn:
            inserted = conn.execute(_INSERT_RUN, run_values(run_params(project.id, run, started_at, received_at))).fetchone()
            if inserted is not None:
                self._insert_results(conn, inserted["id"], run.tests)
                verdict = self.judge_new_run(conn, project, inserted["id"], run, started_at, received_at)
                return InsertOutcome("created", stored_run_from_payload(run, started_at, received_at, verdict))
            # A new statement, so a new snapshot: it sees the run whose insert we waited for.
            row = conn.execute(_SELECT_RUN, (project.id, run.run_id)).fetchone()
        if row is None:  # the run we waited for was rolled back (or pruned) between our statements
            raise Unavailable("the run was being stored concurrently and was rolled back; retry")
        stored = stored_run_from_row(row)
        return InsertOutcome("duplicate" if stored.digest == run.digest else "conflict", stored)

    def _insert_results(self, conn: Connection, run_pk: int, tests: list[TestResult], first_seq: int = 0) -> None:
        if not tests:
            return
        try:
            with conn.cursor().copy(_COPY_RESULTS) as copy:
                for values in result_values(run_pk, tests, first_seq):
                    copy.write_row(values)  # flaky as 0/1 is valid boolean input
        except pg_errors.UniqueViolation as exc:
            repeated = repeated_test_id(tests)
            if repeated is None:
                raise
            raise Invalid([repeated]) from exc
