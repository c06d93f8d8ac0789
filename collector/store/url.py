"""Database URLs: a file path, ``sqlite:///path``, or ``postgresql://...``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ConfigError


@dataclass(frozen=True)
class DatabaseURL:
    backend: str
    path: str = ""
    dsn: str = ""


def parse_database_url(url: str) -> DatabaseURL:
    """Accept a plain file path, ``sqlite:///relative``, ``sqlite:////absolute`` or a PostgreSQL URL."""
    if not url or not url.strip():
        raise ConfigError("the database URL is empty: give a SQLite file path or a postgresql:// URL")
    if "://" not in url:
        return DatabaseURL(backend="sqlite", path=url)
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        path = url.split("://", 1)[1]
        path = path.removeprefix("/")
        if not path:
            raise ConfigError(f"database URL {url!r} names no file: use sqlite:///path/to/file.db")
        return DatabaseURL(backend="sqlite", path=path)
    if scheme in ("postgres", "postgresql"):
        return DatabaseURL(backend="postgresql", dsn=url)
    raise ConfigError(f"database URL scheme {scheme!r} is not supported: use a SQLite path or postgresql://")
