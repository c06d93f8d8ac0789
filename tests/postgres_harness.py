"""Fresh PostgreSQL databases for tests: one per test, created and dropped on the shared server.

``TESTRUN_TEST_POSTGRES_URL`` names a database on a server where the tests may
create and drop databases (``.ci/run`` sets it); without it, the local server
of the README's setup: ``postgresql://postgres@127.0.0.1:5432/postgres``.
Tests that need PostgreSQL fail, never skip, when it does not answer.
"""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("TESTRUN_TEST_POSTGRES_URL") or DEFAULT_ADMIN_URL


def database_url(name: str, *, password: str | None = None) -> str:
    """The admin URL pointed at database NAME (optionally with a password, which trust auth ignores)."""
    parts = urlsplit(admin_url())
    netloc = parts.netloc
    if password is not None:
        user_host = netloc.rsplit("@", 1)
        user = user_host[0].split(":", 1)[0] if len(user_host) == 2 else "postgres"
        netloc = f"{user}:{password}@{user_host[-1]}"
    return urlunsplit((parts.scheme, netloc, "/" + name, parts.query, ""))


def connect_admin() -> psycopg.Connection[TupleRow]:
    return psycopg.connect(admin_url(), autocommit=True, connect_timeout=10)


def _create() -> str:
    name = f"testrun_test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    with connect_admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def _drop(name: str) -> None:
    with connect_admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# CREATE DATABASE copies a template and syncs it: a few hundred ms. One worker thread
# creates the next test's database while a test runs, and drops finished ones.
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="testrun-pg")
_spare: Future[str] | None = None
_drops: list[Future[None]] = []
_lock = threading.Lock()


def create_database() -> str:
    """A new empty database with a unique name; returns its name."""
    global _spare
    with _lock:
        ready = _spare if _spare is not None else _worker.submit(_create)
        _spare = _worker.submit(_create)
    return ready.result()


def drop_database(name: str) -> None:
    """Drop it in the background; ``finish()`` waits for every drop and raises if one failed."""
    with _lock:
        _drops.append(_worker.submit(_drop, name))


def finish() -> None:
    """Drop the spare database and wait for every drop (at the end of the test session)."""
    global _spare
    with _lock:
        spare, _spare = _spare, None
        if spare is not None:
            created: Future[str] = spare  # the worker made it before it gets to this drop
            _drops.append(_worker.submit(lambda: _drop(created.result())))
        drops = list(_drops)
    _worker.shutdown(wait=True)
    for drop in drops:
        drop.result()


def terminate_backends(name: str) -> int:
    """pg_terminate_backend every connection to database NAME but our own; how many were ended."""
    with connect_admin() as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    return int(row[0]) if row else 0
