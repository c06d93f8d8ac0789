"""Fixtures shared by the collector's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import postgres_harness
from collector.app import create_app
from collector.model import Project
from collector.settings import Settings
from collector.store.sqlite import SQLiteStore
from collector.tokens import create_token
from postgres_harness import create_database, drop_database


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_databases_at_the_end() -> Iterator[None]:
    yield
    postgres_harness.finish()


@pytest.fixture
def postgres_database() -> Iterator[Callable[[], str]]:
    """Make fresh, empty PostgreSQL databases (their names); all are dropped after the test."""
    created: list[str] = []

    def make() -> str:
        created.append(create_database())
        return created[-1]

    yield make
    for name in created:
        drop_database(name)


class ExplodingStore(SQLiteStore):
    """A store whose run listing fails as a bug would, with internals in the message."""

    def list_runs(self, project: Project, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire at /var/secret/path")


@pytest.fixture
def app_and_token(tmp_path: Path) -> tuple[Any, str]:
    """An in-process app on an ExplodingStore, and a read token of its project."""
    store = ExplodingStore(str(tmp_path / "app.sqlite3"))
    store.migrate()
    store.create_org("acme")
    project = store.create_project("acme", "web")
    minted, _ = create_token(store, project=project, scopes=["read"], expires_in_days=None, bcrypt_rounds=4)
    return create_app(Settings(db=str(tmp_path / "app.sqlite3"), bcrypt_rounds=4), store=store), minted.token
