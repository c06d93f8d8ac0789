"""What only the PostgreSQL backend promises: its types, its pool, its errors and its recovery.

Everything else it promises, it shares with SQLite: test_store.py runs against both.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from collector.errors import ConfigError, NotFound, SchemaMismatch, Unavailable
from collector.model import Project, RunPayload
from collector.store import open_store
from collector.store.migrations import load_migrations
from collector.store.postgres import PostgresStore
from collector.store.sqlite import SQLiteStore
from postgres_harness import admin_url, terminate_backends

RECEIVED_AT = "2026-01-12T10:05:00.000000Z"


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def db_name(db_url: str) -> str:
    return urlsplit(db_url).path.lstrip("/")


@pytest.fixture
def raw(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A plain connection to the test's database, as another client would have."""
    conn = psycopg.connect(db_url, autocommit=True)
    yield conn
    conn.close()


def column_types(raw: psycopg.Connection[Any]) -> dict[str, str]:
    rows = raw.execute(
        "SELECT table_name, column_name, data_type, is_identity FROM information_schema.columns "
        "WHERE table_schema = current_schema()"
    ).fetchall()
    return {f"{t}.{c}": f"{d} identity" if identity == "YES" else d for t, c, d, identity in rows}


def backend_pids(raw: psycopg.Connection[Any], db_name: str, **where: str) -> list[int]:
    """The store's server processes on this database (not ``raw``'s own)."""
    query = sql.SQL("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid(){}").format(
        sql.SQL("").join(sql.SQL(" AND {} = %s").format(sql.Identifier(column)) for column in where)
    )
    raw.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction, activity is otherwise read once
    rows = raw.execute(query, (db_name, *where.values())).fetchall()
    return [row[0] for row in rows]


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run CALL in a thread; the list gets its result or the exception it raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # handed to the test, which asserts on it
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not true within {timeout} s")


# --- schema -------------------------------------------------------------------------
def test_the_schema_uses_postgresql_types(store: PostgresStore, raw: psycopg.Connection[Any]) -> None:
    types = column_types(raw)

    for column in (
        "runs.started_at",
        "runs.received_at",
        "tokens.created_at",
        "tokens.expires_at",
        "tokens.revoked_at",
        "tokens.last_used_at",
        "orgs.created_at",
        "schema_migrations.applied_at",
    ):
        assert types[column] == "timestamp with time zone", column
    for column in ("runs.ci", "runs.vcs", "runs.reporter"):
        assert types[column] == "jsonb", column
    for column in ("orgs.id", "projects.id", "runs.id"):
        assert types[column] == "bigint identity", column
    assert types["test_results.run_pk"] == "bigint"
    assert types["test_results.flaky"] == "boolean"
    assert types["test_results.duration_ms"] == "double precision"
    assert types["tokens.secret_hash"] == "bytea"


def test_the_schema_has_the_tables_columns_and_indexes_of_the_sqlite_schema(
    store: PostgresStore, raw: psycopg.Connection[Any], tmp_path: Any
) -> None:
    lite_store = SQLiteStore(str(tmp_path / "same.sqlite3"))
    lite_store.migrate()
    lite_store.close()
    lite = sqlite3.connect(tmp_path / "same.sqlite3")
    tables = [row[0] for row in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    lite_columns = {t: [row[1] for row in lite.execute(f"PRAGMA table_info({t})")] for t in tables}
    lite_indexes = {
        row[0] for row in lite.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    }
    lite.close()

    pg_columns: dict[str, list[str]] = {}
    for table, column in raw.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "ORDER BY table_name, ordinal_position"
    ):
        pg_columns.setdefault(table, []).append(column)
    pg_indexes = {row[0] for row in raw.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}

    assert pg_columns == lite_columns
    # a run's failing results are indexed on SQLite only (migrations/postgresql/0004_verdicts.sql says why)
    assert lite_indexes - {"test_results_failures"} <= pg_indexes


def test_both_backends_have_the_same_numbered_migrations() -> None:
    postgres = load_migrations("postgresql")

    assert [(m.version, m.name) for m in postgres] == [(m.version, m.name) for m in load_migrations("sqlite")]
    assert [m.version for m in postgres] == list(range(1, PostgresStore.LATEST_VERSION + 1))


def test_a_database_newer_than_the_code_is_refused(store: PostgresStore, raw: psycopg.Connection[Any]) -> None:
    newer = PostgresStore.LATEST_VERSION + 1
    raw.execute(f"INSERT INTO schema_migrations (version, applied_at) VALUES ({newer}, now())")

    with pytest.raises(SchemaMismatch, match=f"version {newer}, newer than this collector knows"):
        store.migrate()
    with pytest.raises(SchemaMismatch, match=f"version {newer}, this collector needs {newer - 1}"):
        store.check_schema()


# --- values ---------------------------------------------------------------------------
def test_times_are_instants_that_read_back_as_utc_text_whatever_the_time_zone(
    store: PostgresStore,
    new_store: Callable[..., PostgresStore],
    project: Project,
    make_run: Callable[..., RunPayload],
    raw: psycopg.Connection[Any],
    db_name: str,
) -> None:
    store.insert_run(project, make_run("r1", started_at="2026-01-12T10:00:00.000001Z"), RECEIVED_AT)
    raw.execute(sql.SQL("ALTER DATABASE {} SET TimeZone = 'Pacific/Chatham'").format(sql.Identifier(db_name)))
    raw.execute("INSERT INTO orgs (name, created_at) VALUES ('late', '2026-01-12 23:45:00.5+13:45')")

    stored = raw.execute("SELECT started_at = '2026-01-12T10:00:00.000001Z'::timestamptz FROM runs").fetchone()
    assert stored == (True,)
    other = new_store()  # new connections, in a database whose default time zone is +13:45
    run = other.get_run(project, "r1")
    assert (run.started_at, run.received_at) == ("2026-01-12T10:00:00.000001Z", RECEIVED_AT)
    assert [org.created_at for org in other.list_orgs() if org.name == "late"] == ["2026-01-12T10:00:00.500000Z"]


def test_metadata_is_stored_as_jsonb_objects(
    store: PostgresStore, project: Project, make_run: Callable[..., RunPayload], raw: psycopg.Connection[Any]
) -> None:
    store.insert_run(project, make_run("r1"), RECEIVED_AT)

    row = raw.execute("SELECT ci ->> 'provider', (ci -> 'attempt')::int, jsonb_typeof(vcs), branch FROM runs")
    assert row.fetchone() == ("github", 1, "object", "main")


def test_the_tests_of_a_run_go_in_by_one_copy_and_read_back_exactly(
    store: PostgresStore,
    project: Project,
    make_run: Callable[..., RunPayload],
    make_test: Callable[..., Any],
    raw: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    copies: list[str] = []
    real_copy = psycopg.Cursor.copy

    def copy(self: psycopg.Cursor[Any], statement: Any, *args: Any, **kwargs: Any) -> Any:
        copies.append(str(statement))
        return real_copy(self, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "copy", copy)
    tests = [
        make_test(i, ("passed", "failed", "skipped")[i % 3], flaky=i % 7 == 0, details="x" * (i % 50) or None)
        for i in range(50_000)
    ]
    run = make_run(tests=tests)

    store.insert_run(project, run, RECEIVED_AT)

    assert copies == [
        "COPY test_results (run_pk, seq, test_id, name, suite, file, line, status, duration_ms, "
        "attempts, flaky, message, details) FROM STDIN"
    ]
    counts = raw.execute("SELECT count(*), count(*) FILTER (WHERE flaky), max(seq) FROM test_results").fetchone()
    assert counts == (50_000, len(range(0, 50_000, 7)), 49_999)
    assert store.get_run(project, run.run_id).tests == tests


def test_a_failure_halfway_through_the_copy_rolls_the_whole_run_back(
    store: PostgresStore,
    project: Project,
    make_run: Callable[..., RunPayload],
    make_test: Callable[..., Any],
    raw: psycopg.Connection[Any],
) -> None:
    tests = [make_test(i) for i in range(10_000)]
    tests[5_000].status = "exploded"  # violates the CHECK constraint on the 5,001st row
    run = make_run(tests=tests)

    with pytest.raises(psycopg.errors.CheckViolation):
        store.insert_run(project, run, RECEIVED_AT)

    with pytest.raises(NotFound):
        store.get_run(project, run.run_id)
    assert raw.execute("SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM test_results)").fetchone() == (0, 0)
    assert store.insert_run(project, make_run(tests=10), RECEIVED_AT).outcome == "created"


def test_separate_pools_storing_the_same_run_id_at_once_store_one(
    store: PostgresStore,
    new_store: Callable[..., PostgresStore],
    project: Project,
    make_run: Callable[..., RunPayload],
) -> None:
    stores = [store, new_store(), new_store()]  # three pools: as three collector processes would
    barrier = threading.Barrier(3)
    for round_number in range(10):
        run_id = f"run-{round_number}"
        payloads = [
            make_run(run_id, tests=200),
            make_run(run_id, tests=200),
            make_run(run_id, tests=5, digest="b" * 64),
        ]
        outcomes: dict[int, str] = {}

        def insert(i: int, payloads: list[RunPayload] = payloads, outcomes: dict[int, str] = outcomes) -> None:
            barrier.wait()
            outcomes[i] = stores[i].insert_run(project, payloads[i], RECEIVED_AT).outcome

        threads = [threading.Thread(target=insert, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        stored = store.get_run(project, run_id)
        if stored.digest == "b" * 64:
            assert outcomes == {0: "conflict", 1: "conflict", 2: "created"}, f"round {round_number}"
            assert len(stored.tests or []) == 5
        else:
            assert sorted(outcomes.values()) == ["conflict", "created", "duplicate"], f"round {round_number}"
            assert outcomes[2] == "conflict"
            assert stored.tests == payloads[0].tests


# --- opening ------------------------------------------------------------------------------
def test_a_postgresql_url_opens_a_store_whose_pool_stays_within_its_sizes(
    db_url: str, raw: psycopg.Connection[Any], db_name: str, make_run: Callable[..., RunPayload]
) -> None:
    store = open_store(db_url, pool_min_size=2, pool_max_size=3, statement_timeout_s=7.5)
    try:
        assert isinstance(store, PostgresStore)
        assert store.migrate() == list(range(1, PostgresStore.LATEST_VERSION + 1))
        store.create_org("acme")
        project = store.create_project("acme", "app")
        assert 2 <= len(wait_for(lambda: backend_pids(raw, db_name, application_name="testrun"))) <= 3
        with store._connection() as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == {"statement_timeout": "7500ms"}
            assert conn.execute("SHOW TimeZone").fetchone() == {"TimeZone": "UTC"}

        with raw.transaction():
            raw.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
            calls = [in_thread(partial(store.insert_run, project, make_run(f"r{i}"), RECEIVED_AT)) for i in range(6)]
            wait_for(lambda: len(backend_pids(raw, db_name, wait_event_type="Lock")) == 3)
            time.sleep(0.2)
            assert len(backend_pids(raw, db_name)) == 3  # six callers, three connections
        for thread, outcome in calls:
            thread.join(10)
            assert outcome[0].outcome == "created"
    finally:
        store.close()
    wait_for(lambda: backend_pids(raw, db_name) == [])


def test_an_unreachable_server_fails_at_once_with_the_reason() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens there once this socket is closed
    started = time.monotonic()

    with pytest.raises(Unavailable, match=r"^cannot connect to PostgreSQL: .*Connection refused"):
        PostgresStore(f"postgresql://postgres@127.0.0.1:{port}/testrun")
    assert time.monotonic() - started < 5


def test_a_missing_database_is_named(db_url: str) -> None:
    missing = db_url.rsplit("/", 1)[0] + "/testrun_no_such_database"

    with pytest.raises(Unavailable, match='database "testrun_no_such_database" does not exist'):
        open_store(missing)


def test_a_url_that_cannot_be_parsed_is_a_config_error_that_does_not_quote_the_password() -> None:
    with pytest.raises(ConfigError) as raised:
        open_store("postgresql://postgres:my secret@127.0.0.1/testrun")

    assert "secret" not in raised.value.message
    assert raised.value.message.startswith("the postgresql:// database URL cannot be parsed")


def test_closing_closes_every_pooled_connection(
    new_store: Callable[..., PostgresStore], raw: psycopg.Connection[Any], db_name: str
) -> None:
    store = new_store(pool_min_size=3)
    wait_for(lambda: len(backend_pids(raw, db_name)) == 3)

    store.close()

    wait_for(lambda: backend_pids(raw, db_name) == [])
    with pytest.raises(Unavailable, match="closed"):
        store.ping()


# --- busy, lost and back ----------------------------------------------------------------------
def test_a_statement_past_the_timeout_is_unavailable_and_the_next_call_works(
    new_store: Callable[..., PostgresStore],
    project: Project,
    make_run: Callable[..., RunPayload],
    raw: psycopg.Connection[Any],
) -> None:
    impatient = new_store(statement_timeout_s=0.3)
    with raw.transaction():
        raw.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(Unavailable) as raised:
            impatient.insert_run(project, make_run("during"), RECEIVED_AT)
        assert time.monotonic() - started < 3

    assert raised.value.message == "the database did not finish within the statement timeout (0.3 s), retry"
    assert raised.value.headers == {"Retry-After": "1"}
    assert impatient.insert_run(project, make_run("during"), RECEIVED_AT).outcome == "created"


def test_a_pool_with_no_free_connection_is_unavailable_after_the_busy_timeout(
    new_store: Callable[..., PostgresStore],
    project: Project,
    make_run: Callable[..., RunPayload],
    raw: psycopg.Connection[Any],
    db_name: str,
) -> None:
    small = new_store(pool_max_size=1, busy_timeout_s=0.3)
    with raw.transaction():
        raw.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        thread, outcome = in_thread(lambda: small.insert_run(project, make_run("waits"), RECEIVED_AT))
        wait_for(lambda: backend_pids(raw, db_name, wait_event_type="Lock"))
        started = time.monotonic()
        with pytest.raises(Unavailable, match=r"^no database connection was free within 0.3 s, retry$"):
            small.ping()
        assert 0.25 < time.monotonic() - started < 3
    thread.join(10)

    assert outcome[0].outcome == "created"
    small.ping()


def test_a_connection_terminated_during_a_call_is_unavailable_and_then_replaced(
    new_store: Callable[..., PostgresStore],
    project: Project,
    make_run: Callable[..., RunPayload],
    raw: psycopg.Connection[Any],
    db_name: str,
) -> None:
    store = new_store(pool_max_size=1)
    with raw.transaction():
        raw.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        thread, outcome = in_thread(lambda: store.insert_run(project, make_run("cut"), RECEIVED_AT))
        waiting = wait_for(lambda: backend_pids(raw, db_name, wait_event_type="Lock"))
        raw.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))
        thread.join(10)
    [error] = outcome

    assert isinstance(error, Unavailable)
    assert error.message == "the database is unavailable (AdminShutdown), retry"
    assert error.headers == {"Retry-After": "1"}
    assert store.insert_run(project, make_run("cut"), RECEIVED_AT).outcome == "created"  # the one connection is new


def test_idle_connections_the_server_dropped_are_replaced_without_an_error(
    new_store: Callable[..., PostgresStore],
    project: Project,
    make_run: Callable[..., RunPayload],
    db_name: str,
) -> None:
    store = new_store(pool_min_size=4, pool_max_size=4)
    store.ping()

    for round_number in range(5):
        assert terminate_backends(db_name) >= 1
        for i in range(6):  # more calls than connections: every pooled one was dropped
            store.insert_run(project, make_run(f"run-{round_number}-{i}"), RECEIVED_AT)

    assert len(store.list_runs(project, limit=100).runs) == 30


class CuttableProxy:
    """A TCP proxy to the PostgreSQL server that can drop every connection and refuse new ones.

    From the store's side this is a database server that went away and came back.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self.up = False
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy() -> Iterator[CuttableProxy]:
    server = urlsplit(admin_url())
    proxy = CuttableProxy(server.hostname or "127.0.0.1", server.port or 5432)
    yield proxy
    proxy.close()


def test_a_lost_database_is_unavailable_without_a_hang_and_the_store_recovers_when_it_is_back(
    store: PostgresStore,
    project: Project,
    make_run: Callable[..., RunPayload],
    db_url: str,
    proxy: CuttableProxy,
) -> None:
    parts = urlsplit(db_url)
    via_proxy = PostgresStore(
        f"{parts.scheme}://{parts.username}@127.0.0.1:{proxy.port}{parts.path}", busy_timeout_s=0.5, pool_min_size=2
    )
    try:
        assert via_proxy.insert_run(project, make_run("before"), RECEIVED_AT).outcome == "created"

        proxy.cut()
        for call in (
            lambda: via_proxy.insert_run(project, make_run("during"), RECEIVED_AT),
            lambda: via_proxy.get_run(project, "before"),
            via_proxy.ping,
        ):
            started = time.monotonic()
            with pytest.raises(Unavailable) as raised:
                call()
            assert time.monotonic() - started < 3
            assert raised.value.headers == {"Retry-After": "1"}
        time.sleep(1.5)  # down a while: the pool is backing off between reconnection attempts

        proxy.restore()
        back = time.monotonic()

        def answers() -> bool:
            try:
                via_proxy.ping()
            except Unavailable:
                return False
            return True

        wait_for(answers, timeout=20)
        assert time.monotonic() - back < 10
        assert via_proxy.insert_run(project, make_run("during"), RECEIVED_AT).outcome == "created"
        assert [run.run_id for run in store.list_runs(project, limit=10).runs] == ["during", "before"]
    finally:
        via_proxy.close()


def test_the_pool_sizes_must_be_ordered(db_url: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("0 <= min (5) <= max (2)")):
        PostgresStore(db_url, pool_min_size=5, pool_max_size=2)
