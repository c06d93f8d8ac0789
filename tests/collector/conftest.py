"""Fixtures shared by the collector's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import postgres_harness
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
