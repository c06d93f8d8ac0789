"""Timestamps: stored and answered as RFC 3339 UTC strings that sort as text."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)


def utc_now() -> str:
    return format_utc(datetime.now(timezone.utc))


def format_utc(moment: datetime) -> str:
    """``2026-01-12T10:00:00.123456Z``: fixed width, so text order is time order."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset; raise ValueError otherwise."""
    match = _RFC3339.fullmatch(text)
    if not match:
        raise ValueError("must be an RFC 3339 timestamp with a time zone, e.g. 2026-01-12T10:00:00Z")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if int(second) > 60:
        raise ValueError("has seconds over 60")
    micro = int((fraction or ".0")[1:7].ljust(6, "0"))
    if offset in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError("has an invalid UTC offset")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59), micro, tz)
        moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValueError("is not a real date and time") from None
    return moment


def days_from_now(days: float) -> str:
    return format_utc(datetime.now(timezone.utc) + timedelta(days=days))
