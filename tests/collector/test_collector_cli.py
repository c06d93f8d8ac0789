"""``testrun-collector``: its command line, and what it logs about its database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


@pytest.mark.parametrize("where", ["before", "after"])
def test_db_is_taken_before_or_after_the_serve_command(tmp_path: Path, where: str) -> None:
    missing = tmp_path / "missing.sqlite3"
    db = ["--db", str(missing)]
    args = [*db, "serve", "--port", "0"] if where == "before" else ["serve", "--port", "0", *db]

    result = subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], check=False, capture_output=True, text=True, timeout=60
    )

    assert (result.returncode, result.stderr) == (
        1, f"testrun-collector: error: no database at {missing}: create it with 'testrun-admin migrate --db {missing}'\n"
    )
