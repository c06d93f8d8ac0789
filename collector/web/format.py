"""How numbers, times and links read on the web pages.

Every function returns plain text; the templates escape it. Links are built
here so that ids from CI (which hold ``/``, ``::``, ``[``, spaces, anything)
are percent-encoded in exactly one place.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from ..analytics import DEFAULT_DAYS
from ..model import Window
from ..timeutil import parse_rfc3339
from ..validation import METADATA_VALUE_MAX, RUN_ID_MAX, TEST_ID_MAX, TEST_TEXT_MAX

UI = "/ui"
#: characters of the one-line summary of a message
FIRST_LINE_WIDTH = 160

#: how a test or run status is drawn (a CSS class); anything else is drawn as "other"
STATUS_KINDS = {
    "passed": "passed",
    "xfailed": "passed",
    "xpassed": "passed",
    "failed": "failed",
    "error": "failed",
    "skipped": "skipped",
}

#: the navigation: section key, label, path under /ui
SECTIONS = (
    ("overview", "Overview", "/"),
    ("runs", "Runs", "/runs"),
    ("flaky", "Flaky", "/flaky"),
    ("slowest", "Slowest", "/slowest"),
    ("failing", "Failing", "/failing"),
    ("quarantine", "Quarantine", "/quarantine"),
)


def status_kind(status: str, flaky: bool = False) -> str:
    """The CSS class of a status: one of a fixed few, whatever the data says."""
    if flaky and status == "passed":
        return "flaky"
    return STATUS_KINDS.get(status, "other")


#: a verdict class's words, singular and plural (failing_on_default names the branch), and its CSS class
VERDICT_CLASSES = {
    "regression": ("regression", "regressions", "regression"),
    "new_test": ("new test", "new tests", "new-test"),
    "failing_on_default": ("failing on {branch}", "failing on {branch}", "failing-on-default"),
    "flaky": ("flaky", "flaky", "flaky"),
    "quarantined": ("quarantined", "quarantined", "quarantined"),
}
_UNKNOWN_CLASS = ("unclassified", "unclassified", "other")


QUARANTINE_ACTIONS = {"add": "quarantined", "release": "released", "expire": "expired"}


def quarantine_action(action: str) -> str:
    return QUARANTINE_ACTIONS.get(action, "changed")


def verdict_label(klass: str, branch: str, count: int = 1) -> str:
    singular, plural, _ = VERDICT_CLASSES.get(klass, _UNKNOWN_CLASS)
    return (singular if count == 1 else plural).format(branch=branch)


def verdict_kind(klass: str) -> str:
    """The CSS class of a verdict class: one of a fixed few, whatever the data says."""
    return VERDICT_CLASSES.get(klass, _UNKNOWN_CLASS)[2]


def verdict_counts(verdict: dict[str, Any]) -> str:
    """``1 regression · 2 new tests · 1 failing on main``: the classes that have failures."""
    branch = str(verdict.get("default_branch") or "the default branch")
    classes = verdict.get("classes") or {}
    return " · ".join(
        f"{count:,} {verdict_label(klass, branch, count)}" for klass, count in classes.items() if count
    )


def duration(ms: float | None) -> str:
    """``850 ms``, ``1.25 s``, ``3 min 05 s``, ``2 h 04 min``; an em dash when unknown."""
    if ms is None:
        return "—"
    if ms == 0:
        return "0 ms"
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def percent(ratio: float | None) -> str:
    """``12.5%``; whole numbers without a fraction (``100%``)."""
    if ratio is None:
        return "—"
    value = ratio * 100
    if value == round(value):
        return f"{value:.0f}%"
    return f"{value:.1f}%"


def count(number: int) -> str:
    return f"{number:,}"


def moment(stamp: str | None) -> str:
    """A stored RFC 3339 UTC time as ``2026-01-12 10:00 UTC``."""
    if not stamp:
        return "—"
    try:
        parsed = parse_rfc3339(stamp)
    except ValueError:
        return stamp
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def short_commit(commit: object) -> str:
    text = "" if commit is None else str(commit)
    return text[:10]


def first_line(text: str | None, width: int = FIRST_LINE_WIDTH) -> str:
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def external_url(url: object) -> str | None:
    """A CI job URL worth linking to: only plain http(s), never ``javascript:`` or the like."""
    if not isinstance(url, str):
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


# --- bounds of a run page ------------------------------------------------------------
#: characters of a test's message and of its details shown on a run page; the API has the full text
MESSAGE_SHOWN = 500
DETAILS_SHOWN = 1000
#: the template escapes one character of text into at most 6 bytes (``&quot;``, ``&#039;``), a link's query
#: into at most 3 (``%22``); every text a run page shows is ASCII, bar the "…" that ends a cut text
_ESCAPED, _QUOTED = 6, 3
#: the most bytes one row of a run page's tests takes: its link, name, suite or id, the texts as cut, markup
RUN_ROW_MAX_BYTES = (
    _QUOTED * TEST_ID_MAX
    + _ESCAPED * (TEST_TEXT_MAX + max(TEST_ID_MAX, TEST_TEXT_MAX) + FIRST_LINE_WIDTH + MESSAGE_SHOWN + DETAILS_SHOWN)
    + 2048
)
#: the most bytes of a run page besides its rows: the run id (title, heading, links), the CI and VCS facts, the layout
RUN_HEAD_MAX_BYTES = _ESCAPED * (4 * RUN_ID_MAX + 8 * METADATA_VALUE_MAX) + 16 * 1024


def clip(text: str | None, limit: int) -> str:
    """At most ``limit`` characters of ``text``, and "…" when there was more."""
    if not text:
        return ""
    return text if len(text) <= limit else text[:limit] + "…"


# --- links ---------------------------------------------------------------------------
def page(path: str, **query: object) -> str:
    """A UI path with the query parameters that have a value."""
    params = {key: str(value) for key, value in query.items() if value not in (None, "")}
    return UI + path + ("?" + urlencode(params) if params else "")


def run_href(run_id: str, **query: object) -> str:
    # safe="" so "/" is encoded too: the whole id stays one path segment a browser cannot reinterpret
    return page(f"/runs/{quote(run_id, safe='')}", **query)


def test_href(test_id: str, **query: object) -> str:
    return page("/tests", test_id=test_id, **query)


def nav(window: Window | None) -> list[tuple[str, str, str]]:
    """The navigation links; analytics pages keep the window being looked at."""
    links = []
    for key, label, path in SECTIONS:
        keep = window is not None and key not in ("runs", "quarantine") and (window.days != DEFAULT_DAYS or window.branch)
        links.append(
            (key, label, page(path, days=window.days, branch=window.branch) if keep and window else page(path))
        )
    return links
