"""Quarantine: what testrun-admin, the API and the web pages check before they change a project's list.

A quarantined test still runs and its result is still stored as it happened;
only its failure stops blocking: the verdict classes it ``quarantined`` and the
producers' gates (``--testrun-quarantine``, ``junit-upload --quarantine``) do
not fail the job for it. Entries are manual (someone added it, with a reason)
or automatic (the project's ``auto_quarantine``; collector.store.quarantine
keeps those at ingest). Expiry is optional; an expired entry stops counting at
its expiry.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from .errors import BadRequest, FieldError, Invalid
from .model import Project, QuarantineEntry
from .store import Store
from .timeutil import format_utc, parse_rfc3339
from .validation import TEST_ID_MAX

REASON_MAX = 1000
_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def checked_test_id(test_id: Any, field: str = "test_id") -> str:
    if not isinstance(test_id, str) or not test_id or len(test_id) > TEST_ID_MAX or not test_id.isprintable():
        raise Invalid([FieldError(field, f"must be a test id: 1 to {TEST_ID_MAX} printable characters")])
    return test_id


def checked_reason(reason: Any, field: str = "reason") -> str:
    if reason is None or (isinstance(reason, str) and not reason.strip()):
        raise Invalid([FieldError(field, "is required: say why the test is quarantined (an issue, a flake...)")])
    if not isinstance(reason, str) or len(reason) > REASON_MAX:
        raise Invalid([FieldError(field, f"must be text of at most {REASON_MAX:,} characters")])
    return " ".join(reason.split())


def expiry(text: Any, now: str, field: str = "expires_at") -> str | None:
    """An expiry as the store keeps it: ``YYYY-MM-DD`` (the end of that UTC day) or an RFC 3339 time.

    None stays None (no expiry); a time that is not after ``now`` is refused.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise Invalid([FieldError(field, "must be a date (YYYY-MM-DD) or an RFC 3339 time")])
    try:
        if _DATE.fullmatch(text):
            moment = datetime.combine(date.fromisoformat(text) + timedelta(days=1), time(), timezone.utc)
        else:
            moment = parse_rfc3339(text)
        stamp = format_utc(moment)
    except (ValueError, OverflowError):
        raise Invalid([FieldError(field, f"{text!r} is not a date (YYYY-MM-DD) or an RFC 3339 time, "
                                         "e.g. 2026-12-31 or 2026-12-31T18:00:00Z")]) from None
    if stamp <= now:
        raise Invalid([FieldError(field, f"{text!r} is not in the future")])
    return stamp


def add(store: Store, project: Project, body: dict[str, Any], *, actor: str, now: str) -> QuarantineEntry:
    """Quarantine ``body["test_id"]`` for ``body["reason"]``, until ``body.get("expires_at")`` if given."""
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for name, check in (("test_id", checked_test_id), ("reason", checked_reason)):
        try:
            values[name] = check(body.get(name))
        except Invalid as invalid:
            errors += invalid.errors
    try:
        values["expires_at"] = expiry(body.get("expires_at"), now)
    except Invalid as invalid:
        errors += invalid.errors
    if errors:
        raise Invalid(errors)
    return store.quarantine_add(project, values["test_id"], reason=values["reason"], actor=actor,
                                expires_at=values["expires_at"], now=now)


def release(store: Store, project: Project, test_id: Any, *, actor: str, now: str) -> QuarantineEntry:
    """Take ``test_id`` off the list; BadRequest for a text that is no test id, NotFound when it is not listed."""
    try:
        checked = checked_test_id(test_id)
    except Invalid as invalid:
        raise BadRequest(f"test_id {invalid.errors[0]['message']}") from None
    return store.quarantine_release(project, checked, actor=actor, now=now)


def on_or_off(text: str) -> bool:
    """``on``/``off`` (also true/false, yes/no, 1/0) for ``--auto-quarantine``."""
    lowered = text.strip().lower()
    if lowered in ("on", "true", "yes", "1"):
        return True
    if lowered in ("off", "false", "no", "0"):
        return False
    raise BadRequest(f"--auto-quarantine {text!r}: say on or off")
