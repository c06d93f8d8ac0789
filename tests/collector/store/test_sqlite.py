"""What only the SQLite backend promises: its pragmas, its file, its locking and its errors."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.errors import ConfigError, Invalid, NotFound, SchemaMismatch, Unavailable
from collector.model import Project, RunPayload
from collector.store import open_store
from collector.store.migrations import load_migrations
from collector.store.sqlite import SQLiteStore, _Connection
from collector_harness import CollectorProcess, a_run, admin, new_project

RECEIVED_AT = "2026-01-12T10:05:00.000000Z"


@pytest.fixture
def backend() -> str:
    return "sqlite"


def pragmas(store: SQLiteStore) -> dict[str, Any]:
    conn = store._connection()  # pragmas are per connection: ask the store's own
    names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    return {name: conn.execute(f"PRAGMA {name}").fetchone()[0] for name in names}


@pytest.fixture
def raw(db_path: str) -> Iterator[sqlite3.Connection]:
    """A second, plain connection to the same file, as another process would have."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    yield conn
    conn.close()


def test_every_connection_runs_wal_with_full_sync_and_foreign_keys(new_store: Callable[..., SQLiteStore]) -> None:
    store = new_store(busy_timeout_s=2.5)
    seen: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: seen.append(pragmas(store)))
    thread.start()
    thread.join()

    expected = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 2500}
    assert pragmas(store) == expected
    assert seen == [expected]


def test_the_file_is_a_wal_database(store: SQLiteStore, db_path: str) -> None:
    header = Path(db_path).read_bytes()[:100]

    assert header.startswith(b"SQLite format 3\x00")
    assert (header[18], header[19]) == (2, 2)  # file format write/read versions: 2 means WAL


def test_a_database_held_by_another_writer_is_busy_after_the_timeout(
    store: SQLiteStore,
    new_store: Callable[..., SQLiteStore],
    project: Project,
    make_run: Callable[..., RunPayload],
    raw: sqlite3.Connection,
) -> None:
    impatient = new_store(busy_timeout_s=0.1)
    store.insert_run(project, make_run("before"), RECEIVED_AT)
    raw.execute("BEGIN IMMEDIATE")

    for write in (
        lambda: impatient.insert_run(project, make_run("during"), RECEIVED_AT),
        lambda: impatient.create_org("umbrella"),
        lambda: impatient.touch_token("tok1", RECEIVED_AT),
    ):
        with pytest.raises(Unavailable) as raised:
            write()
        assert raised.value.message == "database is busy, retry"
        assert raised.value.headers == {"Retry-After": "1"}
    assert impatient.get_run(project, "before").tests is not None  # WAL: readers do not wait for the writer

    raw.execute("ROLLBACK")
    assert impatient.insert_run(project, make_run("during"), RECEIVED_AT).outcome == "created"


def test_a_path_in_a_missing_directory_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = str(tmp_path / "no-such-dir" / "testrun.sqlite3")

    with pytest.raises(
        ConfigError, match=re.escape(f"cannot open the SQLite database '{path}': unable to open database file")
    ):
        SQLiteStore(path)


def test_a_file_that_is_not_a_database_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 100)

    with pytest.raises(
        ConfigError, match=re.escape(f"cannot open the SQLite database '{path}': file is not a database")
    ):
        SQLiteStore(str(path))


def test_an_in_memory_database_is_refused() -> None:
    with pytest.raises(ConfigError, match="':memory:' is not a file"):
        SQLiteStore(":memory:")


def test_a_database_url_opens_a_sqlite_store(db_path: str) -> None:
    store = open_store(f"sqlite:///{db_path}", busy_timeout_s=1.0)
    try:
        assert isinstance(store, SQLiteStore)
        assert store.migrate() == list(range(1, SQLiteStore.LATEST_VERSION + 1))
    finally:
        store.close()


def test_a_database_newer_than_the_code_is_refused(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    newer = SQLiteStore.LATEST_VERSION + 1
    raw.execute(f"INSERT INTO schema_migrations (version, applied_at) VALUES ({newer}, '2027-01-01T00:00:00.000000Z')")

    with pytest.raises(SchemaMismatch, match=f"version {newer}, newer than this collector knows"):
        store.migrate()
    with pytest.raises(SchemaMismatch, match=f"version {newer}, this collector needs {newer - 1}"):
        store.check_schema()


def test_the_sqlite_migrations_run_from_0001_to_the_latest_version() -> None:
    migrations = load_migrations("sqlite")

    assert [m.version for m in migrations] == list(range(1, SQLiteStore.LATEST_VERSION + 1))
    assert migrations[0].name == "0001_initial.sql"
    with pytest.raises(LookupError, match="no migrations folder for the 'oracle' backend"):
        load_migrations("oracle")


def test_a_failure_halfway_through_the_tests_rolls_the_whole_run_back(
    store: SQLiteStore,
    project: Project,
    make_run: Callable[..., RunPayload],
    make_test: Callable[..., Any],
    raw: sqlite3.Connection,
) -> None:
    tests = [make_test(i) for i in range(10_000)]
    tests[5_000].status = "exploded"  # violates the CHECK constraint on the 5,001st row
    run = make_run(tests=tests)

    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        store.insert_run(project, run, RECEIVED_AT)

    with pytest.raises(NotFound):
        store.get_run(project, run.run_id)
    assert raw.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    assert raw.execute("SELECT count(*) FROM test_results").fetchone()[0] == 0


def test_closing_closes_the_connections_of_every_thread(store: SQLiteStore, db_path: str) -> None:
    opened, release = threading.Event(), threading.Event()

    def use_from_another_thread() -> None:
        store.ping()
        opened.set()
        release.wait(10)

    thread = threading.Thread(target=use_from_another_thread)
    thread.start()
    opened.wait(10)
    assert os.path.exists(db_path + "-wal")

    store.close()
    release.set()
    thread.join()

    assert not os.path.exists(db_path + "-wal")  # SQLite removes the WAL when its last connection closes
    with pytest.raises(Unavailable, match="closed"):
        store.ping()


# --- group commit -----------------------------------------------------------
def queued_together(store: SQLiteStore, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` (insert_run calls) in threads that all queue for one group commit, in order.

    The write lock is held until every call waits in the queue, so the first
    call's thread leads one group holding them all. Returns each call's
    outcome, or the exception it raised.
    """
    answers: list[Any] = [None] * len(calls)

    def call(index: int) -> None:
        try:
            answers[index] = calls[index]()
        except Exception as exc:
            answers[index] = exc

    threads = [threading.Thread(target=call, args=(index,)) for index in range(len(calls))]
    with store._write_lock:
        for index, thread in enumerate(threads):
            thread.start()
            deadline = time.monotonic() + 10
            while len(store._pending) < index + 1:  # queued in this order
                assert time.monotonic() < deadline, "the call never queued"
                time.sleep(0.001)
    for thread in threads:
        thread.join(10)
    return answers


def three_runs_queued_together(
    store: SQLiteStore, project: Project, make_run: Callable[..., RunPayload]
) -> list[Any]:
    """run-0, run-1 and run-2 inserted in one group commit: each one's outcome or exception."""
    return queued_together(
        store, [lambda i=i: store.insert_run(project, make_run(f"run-{i}"), RECEIVED_AT) for i in range(3)]
    )


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the store's connections execute, in order."""
    seen: list[str] = []
    execute = sqlite3.Connection.execute

    def recording(conn: sqlite3.Connection, sql: str, *args: Any) -> sqlite3.Cursor:
        seen.append(sql.strip())
        return execute(conn, sql, *args)

    monkeypatch.setattr(_Connection, "execute", recording)
    return seen


def test_runs_that_arrive_together_share_one_commit_and_keep_their_own_outcomes(
    store: SQLiteStore,
    project: Project,
    make_run: Callable[..., RunPayload],
    make_test: Callable[..., Any],
    statements: list[str],
) -> None:
    runs = [
        make_run("first"),
        make_run("first"),  # the same run again: a duplicate of the one just before it in the group
        make_run("first", digest="c" * 64),  # the same run_id, other content: a conflict
        make_run("repeated", tests=[make_test(0), make_test(0)]),  # fails alone, as it would alone
        make_run("second"),
        make_run("repeated", tests=[make_test(0)]),  # stored: the failed one before it left nothing behind
    ]
    answers = queued_together(store, [lambda run=run: store.insert_run(project, run, RECEIVED_AT) for run in runs])

    assert [getattr(answer, "outcome", None) for answer in answers] == [
        "created", "duplicate", "conflict", None, "created", "created"
    ]
    assert isinstance(answers[3], Invalid)
    assert answers[3].errors == [{"field": "tests[1].id", "message": "duplicates tests[0].id"}]
    assert statements.count("COMMIT") == 1
    assert store.get_run(project, "first").digest == "a" * 64
    assert store.get_run(project, "repeated").counts.total == 1
    assert store.get_run(project, "second").counts.total == 3


def test_a_failing_commit_fails_every_run_of_its_group_with_the_same_error(
    store: SQLiteStore, project: Project, make_run: Callable[..., RunPayload], monkeypatch: pytest.MonkeyPatch
) -> None:
    execute = sqlite3.Connection.execute

    def full_disk(conn: sqlite3.Connection, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return execute(conn, sql, *args)

    monkeypatch.setattr(_Connection, "execute", full_disk)
    answers = three_runs_queued_together(store, project, make_run)
    monkeypatch.undo()

    assert [type(answer) for answer in answers] == [sqlite3.OperationalError] * 3
    assert {str(answer) for answer in answers} == {"database or disk is full"}
    assert store.list_runs(project, limit=10).runs == []
    assert store.insert_run(project, make_run("run-0"), RECEIVED_AT).outcome == "created"  # no leader left behind


def test_a_group_that_cannot_begin_is_busy_for_every_run(
    new_store: Callable[..., SQLiteStore],
    store: SQLiteStore,
    project: Project,
    make_run: Callable[..., RunPayload],
    raw: sqlite3.Connection,
) -> None:
    impatient = new_store(busy_timeout_s=0.2)
    raw.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
    answers = three_runs_queued_together(impatient, project, make_run)
    raw.execute("ROLLBACK")

    assert [type(answer) for answer in answers] == [Unavailable] * 3
    assert {answer.message for answer in answers} == {"database is busy, retry"}
    assert impatient.insert_run(project, make_run("run-0"), RECEIVED_AT).outcome == "created"


def test_a_closed_store_answers_every_waiting_run_unavailable(
    store: SQLiteStore, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    store.close()
    answers = three_runs_queued_together(store, project, make_run)

    assert [type(answer) for answer in answers] == [Unavailable] * 3
    assert all("closed" in answer.message for answer in answers)


def test_a_run_whose_error_ends_the_transaction_fails_its_whole_group(
    store: SQLiteStore, project: Project, make_run: Callable[..., RunPayload], monkeypatch: pytest.MonkeyPatch
) -> None:
    execute = sqlite3.Connection.execute
    inserts = 0

    def io_error_on_the_second_run(conn: sqlite3.Connection, sql: str, *args: Any) -> sqlite3.Cursor:
        nonlocal inserts
        if sql.lstrip().startswith("INSERT INTO runs"):
            inserts += 1
            if inserts == 2:  # as SQLITE_IOERR or SQLITE_FULL do, SQLite rolls the transaction back
                execute(conn, "ROLLBACK")
                raise sqlite3.OperationalError("disk I/O error")
        return execute(conn, sql, *args)

    monkeypatch.setattr(_Connection, "execute", io_error_on_the_second_run)
    answers = three_runs_queued_together(store, project, make_run)
    monkeypatch.undo()

    assert [str(answer) for answer in answers] == ["disk I/O error"] * 3  # run-0 was inserted, then lost
    assert store.list_runs(project, limit=10).runs == []


def test_the_database_and_its_wal_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "private.sqlite3"
    previous = os.umask(0o022)  # the usual umask, under which files are created world-readable
    try:
        assert admin(db, "migrate").returncode == 0
        collector = CollectorProcess(db=db).start()
        try:
            collector.admin_token = admin(db, "token", "create", "--admin").stdout.strip()
            assert new_project(collector).post_run(a_run()).status_code == 201
            modes = {path.name: path.stat().st_mode & 0o777 for path in tmp_path.iterdir()}
        finally:
            collector.stop()
    finally:
        os.umask(previous)

    assert modes == {"private.sqlite3": 0o600, "private.sqlite3-wal": 0o600, "private.sqlite3-shm": 0o600}


def test_an_existing_database_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite3"
    SQLiteStore(str(db)).close()
    db.chmod(0o640)

    SQLiteStore(str(db)).close()

    assert db.stat().st_mode & 0o777 == 0o640
