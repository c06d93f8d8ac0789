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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row, tuple_row
from psycopg.types.datetime import TimestamptzLoader
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from ..errors import AlreadyExists, ConfigError, Invalid, NotFound, SchemaMismatch, Unavailable
from ..model import InsertOutcome, Org, Project, RunPage, RunPayload, StoredRun, TestPage, TestResult, TokenRecord, WebSession
from ..timeutil import format_utc, utc_now
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

_RUN_COLUMNS = (
    "project_id, run_id, status, started_at, duration_ms, received_at, digest, ci, vcs, reporter, "
    "branch, commit_sha, tests_total, passed, failed, error, skipped, xfailed, xpassed, flaky"
)
_INSERT_RUN = f"""
    INSERT INTO runs ({_RUN_COLUMNS})
    VALUES ({", ".join(f"%({name.strip()})s" for name in _RUN_COLUMNS.split(","))})
    ON CONFLICT (project_id, run_id) DO NOTHING
    RETURNING id
"""
_SELECT_RUNS = """
    SELECT id, run_id, status, started_at, duration_ms, received_at, digest, ci, vcs, reporter,
           tests_total, passed, failed, error, skipped, xfailed, xpassed, flaky
    FROM runs
"""
_SELECT_RUN = f"{_SELECT_RUNS} WHERE project_id = %s AND run_id = %s"
_COPY_RESULTS = f"COPY test_results (run_pk, {', '.join(RESULT_COLUMNS)}) FROM STDIN"
_SELECT_RESULTS = f"SELECT {', '.join(RESULT_COLUMNS[1:])} FROM test_results WHERE run_pk = %s ORDER BY seq"
_SELECT_RUN_PK = "SELECT id FROM runs WHERE project_id = %s AND run_id = %s"
_SELECT_TESTS_PAGE = run_tests_page_sql("%s")
_SELECT_PROJECTS = "SELECT p.id, o.name AS org, p.name, p.created_at FROM projects p JOIN orgs o ON o.id = p.org_id"
_SELECT_TOKENS = """
    SELECT t.token_id, t.secret_hash, t.scopes, t.created_at, t.expires_at, t.revoked_at, t.last_used_at,
           p.id AS project_id, o.name AS project_org, p.name AS project_name, p.created_at AS project_created_at
    FROM tokens t
    LEFT JOIN projects p ON p.id = t.project_id
    LEFT JOIN orgs o ON o.id = p.org_id
"""


_SELECT_WEB_SESSION = select_web_session("%s")


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


def _fetch_one(conn: Connection, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> DictRow:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row


class PostgresStore(Store):
    LATEST_VERSION = 3
    DIALECT = rollups.POSTGRESQL

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
                    _roll_up_stored_runs(conn)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (%s, %s)",
                    (migration.version, utc_now()),
                )
            applied.append(migration.version)
        return applied

    # --- orgs and projects --------------------------------------------------
    def create_org(self, name: str) -> Org:
        created_at = utc_now()
        try:
            with self._transaction() as conn:
                row = _fetch_one(
                    conn, "INSERT INTO orgs (name, created_at) VALUES (%s, %s) RETURNING id", (name, created_at)
                )
        except pg_errors.UniqueViolation as exc:
            raise AlreadyExists(f"org {name!r} already exists") from exc
        return Org(row["id"], name, created_at)

    def list_orgs(self) -> list[Org]:
        rows = self._fetch("SELECT id, name, created_at FROM orgs ORDER BY name")
        return [Org(row["id"], row["name"], row["created_at"]) for row in rows]

    def create_project(self, org: str, name: str) -> Project:
        created_at = utc_now()
        try:
            with self._transaction() as conn:
                found = conn.execute("SELECT id FROM orgs WHERE name = %s", (org,)).fetchone()
                if found is None:
                    raise NotFound(f"org {org!r} not found")
                row = _fetch_one(
                    conn,
                    "INSERT INTO projects (org_id, name, created_at) VALUES (%s, %s, %s) RETURNING id",
                    (found["id"], name, created_at),
                )
        except pg_errors.UniqueViolation as exc:
            raise AlreadyExists(f"project '{org}/{name}' already exists") from exc
        return Project(row["id"], org, name, created_at)

    def get_project(self, org: str, name: str) -> Project:
        rows = self._fetch(f"{_SELECT_PROJECTS} WHERE o.name = %s AND p.name = %s", (org, name))
        if not rows:
            raise NotFound(f"project '{org}/{name}' not found")
        return project_from_row(rows[0])

    def list_projects(self, org: str | None = None) -> list[Project]:
        where, params = ("WHERE o.name = %s", (org,)) if org is not None else ("", ())
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
                    "revoked_at, last_used_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    values,
                )
        except pg_errors.UniqueViolation as exc:
            raise AlreadyExists(f"token {token.token_id!r} already exists") from exc
        except pg_errors.ForeignKeyViolation as exc:
            assert token.project is not None  # the only foreign key
            raise NotFound(f"project {token.project.slug!r} not found") from exc

    def get_token(self, token_id: str) -> TokenRecord | None:
        rows = self._fetch(f"{_SELECT_TOKENS} WHERE t.token_id = %s", (token_id,))
        return token_from_row(rows[0]) if rows else None

    def list_tokens(self, project: Project | None = None) -> list[TokenRecord]:
        where, params = ("WHERE t.project_id = %s", (project.id,)) if project is not None else ("", ())
        rows = self._fetch(f"{_SELECT_TOKENS} {where} ORDER BY t.created_at, t.token_id", params)
        return [token_from_row(row) for row in rows]

    def revoke_token(self, token_id: str, when: str) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, %s) WHERE token_id = %s", (when, token_id)
            )
            conn.execute("DELETE FROM web_sessions WHERE token_id = %s", (token_id,))
        return cursor.rowcount == 1

    def touch_token(self, token_id: str, when: str) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE tokens SET last_used_at = %s WHERE token_id = %s", (when, token_id))

    # --- web sessions -------------------------------------------------------
    def create_web_session(self, id_hash: bytes, token_id: str, when: str) -> None:
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT INTO web_sessions (id_hash, token_id, created_at, last_seen_at) VALUES (%s, %s, %s, %s)",
                    (id_hash, token_id, when, when),
                )
        except pg_errors.UniqueViolation as exc:
            raise AlreadyExists("that web session already exists") from exc
        except pg_errors.ForeignKeyViolation as exc:
            raise NotFound(f"token {token_id!r} not found") from exc

    def get_web_session(self, id_hash: bytes) -> WebSession | None:
        rows = self._fetch(_SELECT_WEB_SESSION, (id_hash,))
        return web_session_from_row(rows[0]) if rows else None

    def touch_web_session(self, id_hash: bytes, when: str) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE web_sessions SET last_seen_at = %s WHERE id_hash = %s", (when, id_hash))

    def delete_web_session(self, id_hash: bytes) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute("DELETE FROM web_sessions WHERE id_hash = %s", (id_hash,))
        return cursor.rowcount == 1

    def purge_web_sessions(self, *, idle_before: str, created_before: str, limit: int) -> int:
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions "
                "WHERE last_seen_at < %s::timestamptz OR created_at < %s::timestamptz LIMIT %s)",
                (idle_before, created_before, limit),
            )
        return cursor.rowcount

    # --- runs ---------------------------------------------------------------
    def insert_run(self, project: Project, run: RunPayload, received_at: str) -> InsertOutcome:
        started_at = run.started_at or received_at
        with self._transaction() as conn:
            inserted = conn.execute(_INSERT_RUN, run_params(project.id, run, started_at, received_at)).fetchone()
            if inserted is not None:
                self._copy_tests(conn, inserted["id"], run.tests)
                key = rollups.RunKey.of_new_run(inserted["id"], project.id, started_at, run)
                rollups.add_run(conn.cursor(), key, rollups.POSTGRESQL)
                return InsertOutcome("created", stored_run_from_payload(run, started_at, received_at))
            # A new statement, so a new snapshot: it sees the run whose insert we waited for.
            row = conn.execute(_SELECT_RUN, (project.id, run.run_id)).fetchone()
        if row is None:  # the run we waited for was rolled back (or pruned) between our statements
            raise Unavailable("the run was being stored concurrently and was rolled back; retry")
        stored = stored_run_from_row(row)
        return InsertOutcome("duplicate" if stored.digest == run.digest else "conflict", stored)

    @staticmethod
    def _copy_tests(conn: Connection, run_pk: int, tests: list[TestResult]) -> None:
        if not tests:
            return
        try:
            with conn.cursor().copy(_COPY_RESULTS) as copy:
                for values in result_values(run_pk, tests):
                    copy.write_row(values)  # flaky as 0/1 is valid boolean input
        except pg_errors.UniqueViolation as exc:
            repeated = repeated_test_id(tests)
            if repeated is None:
                raise
            raise Invalid([repeated]) from exc

    def get_run(self, project: Project, run_id: str, *, with_tests: bool = True) -> StoredRun:
        # One connection, no transaction needed: a run and its tests become visible together and only
        # change when pruning deletes both.
        with self._connection() as conn:
            row = conn.execute(_SELECT_RUN, (project.id, run_id)).fetchone()
            if row is None:
                raise NotFound(f"run {run_id!r} not found")
            tests = None
            if with_tests:
                cursor = conn.cursor(row_factory=tuple_row)  # plain tuples: a run may hold 100,000 tests
                tests = [result_from_values(values) for values in cursor.execute(_SELECT_RESULTS, (row["id"],))]
        return stored_run_from_row(row, tests)

    def list_run_tests(self, project: Project, run_id: str, *, limit: int, cursor: str | None = None) -> TestPage:
        position = tests_position(limit, cursor)
        with self._connection() as conn:
            row = conn.execute(_SELECT_RUN_PK, (project.id, run_id)).fetchone()
            if row is None:
                raise NotFound(f"run {run_id!r} not found")
            reader = conn.cursor(row_factory=tuple_row)
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
            project, limit=limit, cursor=cursor, branch=branch, status=status, param="%s", time_param="%s::timestamptz"
        )
        rows = self._fetch(f"{_SELECT_RUNS} WHERE {where} ORDER BY started_at DESC, id DESC LIMIT %s", params)
        return runs_page(rows, limit)

    # --- retention ----------------------------------------------------------
    def _count_runs_before(self, cutoff: str, project: Project | None) -> tuple[int, int]:
        where, params = _before(cutoff, project)
        row = self._fetch(f"SELECT count(*) AS runs, coalesce(sum(tests_total), 0) AS tests FROM runs WHERE {where}", params)[0]
        return int(row["runs"]), int(row["tests"])

    def _delete_oldest_runs_before(self, cutoff: str, project: Project | None, batch_tests: int) -> tuple[int, int]:
        where, params = _before(cutoff, project)
        with self._transaction() as conn:
            candidates = conn.execute(
                f"SELECT id, tests_total FROM runs WHERE {where} ORDER BY started_at, id LIMIT %s",
                (*params, PRUNE_SCAN_RUNS),
            ).fetchall()
            ids, tests = oldest_batch([(row["id"], row["tests_total"]) for row in candidates], batch_tests)
            if ids:
                rollups.subtract(conn.cursor(), _rollup_of_stored(conn, ids), rollups.POSTGRESQL)
                conn.execute("DELETE FROM runs WHERE id = ANY(%s)", (ids,))
        return len(ids), tests


def _before(cutoff: str, project: Project | None) -> tuple[str, tuple[Any, ...]]:
    return runs_before_filter(cutoff, project, param="%s", time_param="%s::timestamptz")


def _rollup_of_stored(conn: Connection, run_pks: list[int]) -> rollups.Rollup:
    cursor = conn.cursor(row_factory=tuple_row)
    return rollups.rollup_of_rows(cursor.execute(rollups.results_of_runs_sql(len(run_pks), rollups.POSTGRESQL), run_pks).fetchall())


def _roll_up_stored_runs(conn: Connection) -> None:
    """Build the rollups of the runs stored before they existed."""
    runs = conn.cursor(row_factory=tuple_row).execute(rollups.STORED_RUNS).fetchall()
    rollups.roll_up_stored_runs(conn.cursor(), runs, rollups.POSTGRESQL)
