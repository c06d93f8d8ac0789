"""Collector settings: flags > ``TESTRUN_*`` environment > defaults, resolved once.

Nothing else in the collector reads the environment; code takes a Settings.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

from .errors import ConfigError
from .logs import LOG_FORMATS

DEFAULT_DB = "testrun.sqlite3"


#: the largest value a count setting (threads, pool connections) may have: far past any sane value,
#: low enough that a typo fails at start-up rather than trying to start that many threads
MAX_COUNT = 10_000
#: the longest a seconds setting may be; PostgreSQL's statement_timeout tops out at 24.8 days in ms
MAX_SECONDS = 86_400.0


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _count(value: str) -> int:
    number = _positive_int(value)
    if number > MAX_COUNT:
        raise ValueError(f"must be at most {MAX_COUNT:,}")
    return number


def _non_negative_count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be zero or more")
    if number > MAX_COUNT:
        raise ValueError(f"must be at most {MAX_COUNT:,}")
    return number


def _non_negative_float(value: str) -> float:
    number = float(value)
    if not 0 <= number < float("inf"):
        raise ValueError("must be a finite number, zero or more")
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if not 0 <= number <= MAX_SECONDS:
        raise ValueError(f"must be a number of seconds from 0 to {MAX_SECONDS:g}")
    return number


def _whole_seconds(value: str) -> int:
    number = _positive_int(value)
    if number > MAX_SECONDS:
        raise ValueError(f"must be a whole number of seconds from 1 to {MAX_SECONDS:g}")
    return number


def _positive_seconds(value: str) -> float:
    number = float(value)
    if not 0 < number <= MAX_SECONDS:
        raise ValueError(f"must be a number of seconds above 0 and at most {MAX_SECONDS:g}")
    return number


#: the longest a web session may last: a year
MAX_SESSION_S = 366 * 86_400.0


def _session_seconds(value: str) -> float:
    number = float(value)
    if not 0 < number <= MAX_SESSION_S:
        raise ValueError(f"must be a number of seconds above 0 and at most {MAX_SESSION_S:g} (a year)")
    return number


def _public_url(value: str) -> str:
    """An http(s) base URL without query or fragment, kept without its trailing slash."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("must be an http:// or https:// base URL, e.g. https://testrun.example.com")
    return value.strip().rstrip("/")


def _log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise ValueError("must be 'auto' (text on a terminal, else json), 'json' or 'text'")
    return value


def _bcrypt_rounds(value: str) -> int:
    number = int(value)
    if not 4 <= number <= 31:
        raise ValueError("must be between 4 and 31")
    return number


def default_bcrypt_concurrency() -> int:
    """Half the cores (at least one): bcrypt releases the GIL, so each check in flight takes a core."""
    return max(1, (os.cpu_count() or 1) // 2)


@dataclass(frozen=True, kw_only=True)
class Settings:
    db: str = DEFAULT_DB
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 8
    #: the most bytes a request body may have, before and after gzip inflation
    max_body_bytes: int = 32 * 1024 * 1024
    max_tests_per_run: int = 100_000
    #: how long a call waits for the database (SQLite's write lock, a PostgreSQL pool connection) before 503
    busy_timeout_s: float = 5.0
    #: PostgreSQL: connections each collector process keeps open at least, and opens at most
    pool_min_size: int = 1
    pool_max_size: int = 10
    #: PostgreSQL: longest a statement may run before 503; 0 turns the limit off
    statement_timeout_s: float = 10.0
    #: seconds an in-flight request may take to finish after SIGTERM
    shutdown_timeout_s: float = 20.0
    #: idle seconds before a client connection is closed
    channel_timeout_s: int = 30
    #: seconds a request's headers may take from its first byte (the body then gets 1 s per 500 bytes);
    #: a later request is answered 408, a connection that sends nothing is closed
    request_timeout_s: float = 10.0
    #: connections served at once; more wait in the listen queue
    connection_limit: int = 1000
    #: connections one client address may hold at once (behind trusted_proxy: request bodies arriving per
    #: forwarded address); room for a CI fleet behind one NAT, a tenth of connection_limit; 0 turns it off
    connections_per_client: int = 100
    #: auto: text lines when stderr is a terminal, JSON lines otherwise (see logs.resolve_log_format)
    log_format: str = "auto"
    bcrypt_rounds: int = 12
    #: failed verifications allowed per token id per window before 429
    auth_failures_per_token: int = 5
    auth_failure_window_s: float = 60.0
    #: failed bcrypt checks per second across the whole process before 429
    auth_failures_per_second: int = 20
    #: bcrypt checks running at once in the process (each takes a core); more are answered 429 at once
    bcrypt_concurrency: int = field(default_factory=default_bcrypt_concurrency)
    #: sustained requests per second per token; 0 turns the limit off
    token_rate_per_s: float = 100.0
    token_burst: int = 200
    #: address of a reverse proxy whose X-Forwarded-Proto/-For/-Host/-Port headers are believed
    #: (e.g. the TLS terminator, so web page cookies are Secure); "" believes no proxy
    trusted_proxy: str = ""
    #: the collector's base URL as users reach it (behind a proxy: the proxy's), for the absolute links to run
    #: pages in ingest answers; "" builds them from the address each request came to
    public_url: str = ""
    #: a web page session ends after this many seconds without a page view (12 h: a working day,
    #: not the night), and this many seconds after signing in however busy it is (7 days: a copied
    #: cookie works a week at most, and a user pastes a token once a week)
    session_idle_s: float = 12 * 3600.0
    session_absolute_s: float = 7 * 86_400.0

    def proxy_options(self) -> dict[str, Any]:
        """waitress's options for believing ``trusted_proxy``'s forwarded headers, and no one else's."""
        if not self.trusted_proxy:
            return {}
        return {
            "trusted_proxy": self.trusted_proxy,
            "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-proto", "x-forwarded-for", "x-forwarded-host", "x-forwarded-port"},
        }

    def __post_init__(self) -> None:
        if self.pool_min_size > self.pool_max_size:
            raise ConfigError(
                f"pool_min_size={self.pool_min_size} is more than pool_max_size={self.pool_max_size} "
                "(TESTRUN_POOL_MIN_SIZE, TESTRUN_POOL_MAX_SIZE)"
            )

    def store_options(self) -> dict[str, Any]:
        """The keyword arguments of ``store.open_store`` these settings give."""
        return {
            "busy_timeout_s": self.busy_timeout_s,
            "pool_min_size": self.pool_min_size,
            "pool_max_size": self.pool_max_size,
            "statement_timeout_s": self.statement_timeout_s,
        }

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def resolve(cls, *, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from parsed flags (None means not given) over ``TESTRUN_<NAME>`` variables."""
        values: dict[str, Any] = {}
        env = env or {}
        for name in cls.field_names():
            variable = f"TESTRUN_{name.upper()}"
            if variable in env and env[variable] != "":
                values[name] = _convert(name, env[variable], f"environment variable {variable}")
        for name, value in (flags or {}).items():
            if value is not None and name in cls.field_names():
                values[name] = _convert(name, str(value), f"--{name.replace('_', '-')}")
        return cls(**values)


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "db": str,
    "host": str,
    "port": int,
    "threads": _count,
    "max_body_bytes": _positive_int,
    "max_tests_per_run": _positive_int,
    "busy_timeout_s": _seconds,
    "pool_min_size": _non_negative_count,
    "pool_max_size": _count,
    "statement_timeout_s": _seconds,
    "shutdown_timeout_s": _seconds,
    "channel_timeout_s": _whole_seconds,
    "request_timeout_s": _positive_seconds,
    "connection_limit": _positive_int,
    "connections_per_client": _non_negative_count,
    "log_format": _log_format,
    "bcrypt_rounds": _bcrypt_rounds,
    "auth_failures_per_token": _positive_int,
    "auth_failure_window_s": _seconds,
    "auth_failures_per_second": _positive_int,
    "bcrypt_concurrency": _count,
    "token_rate_per_s": _non_negative_float,
    "token_burst": _positive_int,
    "trusted_proxy": str,
    "public_url": _public_url,
    "session_idle_s": _session_seconds,
    "session_absolute_s": _session_seconds,
}


def _convert(name: str, raw: str, source: str) -> Any:
    try:
        value = _CONVERTERS[name](raw)
    except ValueError as exc:
        reason = str(exc) if "must" in str(exc) else "is not a valid value"
        raise ConfigError(f"{source}={raw!r} {reason}") from None
    if name == "port" and not 0 <= value <= 65535:
        raise ConfigError(f"{source}={raw!r} must be a TCP port between 0 and 65535")
    return value
