"""Query parameters shared by the API routes and the web pages."""

from __future__ import annotations

from .errors import BadRequest


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
