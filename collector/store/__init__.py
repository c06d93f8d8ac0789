"""Storage backends behind one interface, chosen by database URL."""

from __future__ import annotations

from .base import Store
from .url import DatabaseURL, parse_database_url


def open_store(
    url: str,
    *,
    busy_timeout_s: float = 5.0,
    pool_min_size: int = 1,
    pool_max_size: int = 10,
    statement_timeout_s: float = 10.0,
    create: bool = True,
) -> Store:
    """Open the backend the URL names. The schema is not touched (see Store.migrate).

    ``busy_timeout_s`` is how long a call waits for the database (SQLite's
    write lock, a PostgreSQL pool connection) before Unavailable; the pool
    sizes and the statement timeout apply to PostgreSQL only. ``create=False``
    refuses a SQLite file that does not exist instead of making an empty one
    (a mistyped path); a PostgreSQL database is never created here.
    """
    parsed = parse_database_url(url)
    if parsed.backend == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore(parsed.path, busy_timeout_s=busy_timeout_s, create=create)
    try:
        from .postgres import PostgresStore
    except ImportError as exc:
        from ..errors import ConfigError

        raise ConfigError(
            f"a postgresql:// database needs the postgres extra ({exc.name} is not installed): "
            "pip install 'testrun-analytics[collector,postgres]'"
        ) from None
    return PostgresStore(
        parsed.dsn,
        busy_timeout_s=busy_timeout_s,
        pool_min_size=pool_min_size,
        pool_max_size=pool_max_size,
        statement_timeout_s=statement_timeout_s,
    )


__all__ = ["DatabaseURL", "Store", "open_store", "parse_database_url"]
