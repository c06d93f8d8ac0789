"""Storage backends behind one interface, chosen by database URL."""

from __future__ import annotations

from .base import Store
from .url import DatabaseURL, parse_database_url


def open_store(url: str, *, busy_timeout_s: float = 5.0) -> Store:
    """Open the backend the URL names. The schema is not touched (see Store.migrate)."""
    parsed = parse_database_url(url)
    if parsed.backend == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore(parsed.path, busy_timeout_s=busy_timeout_s)
    from ..errors import ConfigError

    raise ConfigError(f"the {parsed.backend} backend is not available in this version; use a SQLite path")


__all__ = ["DatabaseURL", "Store", "open_store", "parse_database_url"]
