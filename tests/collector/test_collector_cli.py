"""``testrun-collector``: what it logs about its database."""

from __future__ import annotations

import pytest

from collector.cli import _safe_db


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        ("testrun.sqlite3", "testrun.sqlite3"),
        ("postgresql://testrun:pw@db.internal:5432/testrun", "postgresql://***@db.internal:5432/testrun"),
        (
            "postgresql://db.internal/testrun?password=pw&sslmode=require",
            "postgresql://db.internal/testrun?password=***&sslmode=require",
        ),
        ("postgres://u@h/d?sslmode=require&PASSWORD=pw", "postgres://***@h/d?sslmode=require&PASSWORD=***"),
    ],
)
def test_the_database_url_is_logged_without_its_password(url: str, logged: str) -> None:
    assert _safe_db(url) == logged
