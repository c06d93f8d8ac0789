"""Fixtures for the store tests: a fresh database per test and valid records to put in it.

The tests in test_store.py use only the Store interface, through ``new_store``
and ``store``, and run against every backend: ``backend`` is parametrized
over SQLite and PostgreSQL (a database of the test's own on the server
``postgres_harness`` names). A backend's own test module overrides
``backend`` with its name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from collector.model import Counts, Project, RunPayload, TestResult
from collector.store.base import Store
from collector.store.sqlite import SQLiteStore
from postgres_harness import database_url

BACKENDS = ("sqlite", "postgresql")

DIGEST_A = "a" * 64
DIGEST_B = "b" * 64
STARTED_AT = "2026-01-12T10:00:00.000000Z"
RECEIVED_AT = "2026-01-12T10:05:00.000000Z"


@pytest.fixture
def db_path(tmp_path: Any) -> str:
    return str(tmp_path / "testrun.sqlite3")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest) -> str:
    """This test's own empty database: a SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        return str(request.getfixturevalue("db_path"))
    return database_url(request.getfixturevalue("postgres_database")())


@pytest.fixture
def new_store(backend: str, db_url: str) -> Iterator[Callable[..., Store]]:
    """Open another store on this test's database (not migrated); all are closed after the test."""
    opened: list[Store] = []

    def open_store(**options: Any) -> Store:
        store: Store
        if backend == "sqlite":
            store = SQLiteStore(db_url, **options)
        else:
            from collector.store.postgres import PostgresStore

            store = PostgresStore(db_url, **options)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def store(new_store: Callable[..., Store]) -> Store:
    store = new_store()
    store.migrate()
    return store


@pytest.fixture
def project(store: Store) -> Project:
    store.create_org("acme")
    return store.create_project("acme", "app")


def make_test(index: int, status: str = "passed", **fields: Any) -> TestResult:
    values: dict[str, Any] = {
        "id": f"tests/test_mod.py::test_{index}",
        "name": f"test_{index}",
        "suite": "tests/test_mod.py",
        "file": "tests/test_mod.py",
        "line": index + 1,
        "status": status,
        "duration_ms": index * 0.25,
        "attempts": 1,
        "flaky": False,
        "message": None,
        "details": None,
    }
    values.update(fields)
    return TestResult(**values)


def make_run(
    run_id: str = "github:acme/app:1:1:test:pytest",
    *,
    tests: int | Sequence[TestResult] = 3,
    digest: str = DIGEST_A,
    started_at: str | None = STARTED_AT,
    branch: str = "main",
    status: str | None = None,
) -> RunPayload:
    """A valid run; its counts and (unless given) its status follow from its tests."""
    results = [make_test(i) for i in range(tests)] if isinstance(tests, int) else list(tests)
    by_status = Counter(t.status for t in results)
    counts = Counts(
        total=len(results),
        flaky=sum(t.flaky for t in results),
        **{s: by_status[s] for s in ("passed", "failed", "error", "skipped", "xfailed", "xpassed")},
    )
    if status is None:
        if by_status["failed"] or by_status["error"]:
            status = "failed"
        elif results and by_status["skipped"] == len(results):
            status = "skipped"
        else:
            status = "passed"
    return RunPayload(
        run_id=run_id,
        status=status,
        started_at=started_at,
        duration_ms=1234.5,
        ci={"provider": "github", "pipeline_id": "9127", "job": "test", "attempt": 1, "url": "https://ci/9127"},
        vcs={"repository": "acme/app", "commit": "3f2a9c", "branch": branch, "pull_request": "42"},
        reporter={"name": "pytest-testrun-reporter", "version": "0.1.0"},
        tests=results,
        counts=counts,
        digest=digest,
    )


@pytest.fixture(name="make_run")
def make_run_fixture() -> Callable[..., RunPayload]:
    return make_run


@pytest.fixture(name="make_test")
def make_test_fixture() -> Callable[..., TestResult]:
    return make_test
