"""Query parameters shared by the API routes and the web pages."""

from __future__ import annotations

from .errors import BadRequest
from .model import RUN_STATUSES


def bounded_int(name: str, raw: str | None, default: int, highest: int) -> int:
    """``raw`` as a whole number from 1 to ``highest``; ``default`` when absent or empty."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw!r} is not a whole number") from None
    if not 1 <= value <= highest:
        raise BadRequest(f"{name} must be between 1 and {highest}, not {value}")
    return value


def status_filter(raw: str | None) -> str | None:
    """A run status to filter by; None when absent or empty."""
    if raw is None or raw == "":
        return None
    if raw not in RUN_STATUSES:
        raise BadRequest(f"status={raw!r} is not one of {', '.join(RUN_STATUSES)}")
    return raw
