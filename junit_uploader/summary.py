"""What a CI job is told after an upload: the verdict in a few lines, a Markdown job summary, annotations.

Both producers hand this module the tests they sent (payload test dicts) and
the verdict the collector answered with, or None when no verdict came back
(the collector could not be reached, or is older than verdicts): the
summary is then made from the local results alone and says that the
failures could not be classified.

Everything here is text built from hostile input: test ids and messages come
from the tests themselves. In Markdown every cell is written as text (HTML
and Markdown characters as numeric character references, line breaks as
spaces), so a ``|``, a backtick, ``<script>`` or a newline renders as itself
and every table keeps its columns. GitHub workflow commands escape ``%``,
CR and LF in the message, and also ``:`` and ``,`` in properties, as the
runner's own toolkit does. The summary stays under ``MAX_SUMMARY_BYTES``
(GitHub drops a step summary over 1 MiB whole).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: the most failures listed in the terminal
TERMINAL_FAILURES = 10
#: the most rows of the failures table (then "and N more")
SUMMARY_FAILURES = 50
SUMMARY_QUARANTINED = 50
SLOWEST = 10
#: the most GitHub annotations (the author's own failures only)
MAX_ANNOTATIONS = 10
MAX_SUMMARY_BYTES = 64 * 1024
#: characters of a test id or message shown in one table cell
CELL_CHARS = 200

CLASS_WORDS = {
    "regression": ("regression", "regressions"),
    "new_test": ("new test", "new tests"),
    "failing_on_default": ("failing on {branch}", "failing on {branch}"),
    "flaky": ("flaky", "flaky"),
    "quarantined": ("quarantined", "quarantined"),
}
#: the classes whose failures are the change's own: annotated on GitHub
AUTHORS_CLASSES = ("regression", "new_test")
_FAILURES = ("failed", "error")
#: what could make a cell's text into markup: HTML, table pipes, code, emphasis, links, strike-through,
#: math and scheme autolinks (``http:``); a ``www.`` autolink is broken up separately
_MARKDOWN_SPECIAL = {ord(ch): f"&#{ord(ch)};" for ch in "&<>|`\\*_[]~:$"}
_WWW = re.compile(r"(?i)\b(www)\.")


# --- what the collector answered -------------------------------------------------------------
_VERDICT_COUNTS = ("failures", "blocking", "quarantined")
_LISTED_TEXT = ("test_id", "status", "class", "message", "reason")


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _listed_ok(item: Any) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("test_id"), str):
        return False
    if any(item.get(key) is not None and not isinstance(item[key], str) for key in _LISTED_TEXT):
        return False
    since = item.get("since")
    return since is None or (isinstance(since, dict) and all(
        since.get(key) is None or isinstance(since[key], str) for key in ("run_id", "started_at", "commit")))


def well_formed_verdict(value: Any) -> dict[str, Any] | None:
    """The verdict of an ingest answer when it has the shape this module reads, else None.

    The answer comes from the network: a collector older than verdicts sends
    none, and a broken or hostile server may send anything, which must never
    break the job's report.
    """
    if not isinstance(value, dict) or not all(_count(value.get(key)) for key in _VERDICT_COUNTS):
        return None
    classes, tests = value.get("classes"), value.get("tests")
    if not isinstance(classes, dict) or not all(isinstance(k, str) and _count(v) for k, v in classes.items()):
        return None
    if not isinstance(tests, list) or len(tests) > 1000 or not all(_listed_ok(item) for item in tests):
        return None
    branch = value.get("default_branch")
    if branch is not None and not isinstance(branch, str):
        return None
    return value


# --- the terminal ------------------------------------------------------------------------
def class_name(klass: str, branch: str, count: int = 1) -> str:
    singular, plural = CLASS_WORDS.get(klass, (klass, klass))
    return (singular if count == 1 else plural).format(branch=branch)


def _day(moment: str | None) -> str:
    return (moment or "")[:10]


def counts_phrase(verdict: Mapping[str, Any]) -> str:
    branch = verdict.get("default_branch") or "the default branch"
    parts = [
        f"{count:,} {class_name(klass, branch, count)}"
        for klass, count in verdict.get("classes", {}).items()
        if count
    ]
    return ", ".join(parts)


def failure_phrase(item: Mapping[str, Any], branch: str) -> str:
    """``regression  tests/x.py::test_a — AssertionError...`` with ``since`` or the quarantine reason."""
    words = [f"{class_name(item.get('class', ''), branch):<16}", str(item.get("test_id", ""))]
    since = item.get("since")
    if isinstance(since, Mapping):
        words.append(f"since {_day(since.get('started_at'))} (run {since.get('run_id')})")
    if item.get("reason"):
        words.append(f"({item['reason']})")
    if item.get("message"):
        words.append(f"— {item['message']}")
    return "  " + " ".join(words)


def verdict_lines(verdict: Mapping[str, Any]) -> list[str]:
    """The few lines printed after the upload line: counts by class, then up to 10 failures."""
    failures = int(verdict.get("failures", 0))
    if failures == 0:
        return ["no failures"]
    blocking = int(verdict.get("blocking", failures))
    head = f"{failures:,} {'failure' if failures == 1 else 'failures'}"
    if blocking != failures:
        head += f" ({blocking:,} blocking)"
    lines = [f"{head} — {counts_phrase(verdict)}"]
    branch = verdict.get("default_branch") or "the default branch"
    listed = list(verdict.get("tests", []))
    lines += [failure_phrase(item, branch) for item in listed[:TERMINAL_FAILURES]]
    if failures > TERMINAL_FAILURES:
        lines.append(f"  … and {failures - min(len(listed), TERMINAL_FAILURES):,} more (see the run's page)")
    return lines


def unclassified_lines(tests: Sequence[Mapping[str, Any]], why: str) -> list[str]:
    failures = sum(1 for test in tests if test.get("status") in _FAILURES)
    if failures == 0:
        return []
    return [f"{failures:,} {'failure' if failures == 1 else 'failures'}, not classified: {why}"]


# --- Markdown ------------------------------------------------------------------------------
def cell(text: Any, limit: int = CELL_CHARS) -> str:
    """One table cell of ``text``, shown as text whatever it holds."""
    value = " ".join(str(text if text is not None else "").split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    if not value.isprintable():
        value = "".join(ch if ch.isprintable() else "\ufffd" for ch in value)
    return _WWW.sub(r"\1&#46;", value.translate(_MARKDOWN_SPECIAL))


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


class _Document:
    """Markdown lines kept within a byte budget: a table stops, with 'and N more', where the budget ends."""

    def __init__(self, budget: int) -> None:
        self.lines: list[str] = []
        self.size = 0
        self.budget = budget

    def add(self, line: str) -> bool:
        cost = len(line.encode("utf-8")) + 1
        if self.size + cost > self.budget:
            return False
        self.lines.append(line)
        self.size += cost
        return True

    def table(self, header: Sequence[str], rows: Iterable[Sequence[str]], total: int, cap: int) -> None:
        self.add(_row(*header))
        self.add(_row(*("---" for _ in header)))
        shown = 0
        for row in rows:
            if shown >= cap or not self.add(_row(*row)):
                break
            shown += 1
        if total > shown:
            self.add("")
            self.add(f"_and {total - shown:,} more_")
        self.add("")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _by_id(tests: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(test.get("id")): test for test in tests}


def _counts_line(tests: Sequence[Mapping[str, Any]]) -> str:
    statuses: dict[str, int] = {}
    for test in tests:
        status = str(test.get("status", "passed"))
        statuses[status] = statuses.get(status, 0) + 1
    order = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
    parts = [f"{statuses[status]:,} {status}" for status in order if statuses.get(status)]
    return f"{len(tests):,} tests: " + (", ".join(parts) if parts else "none")


def markdown(
    tests: Sequence[Mapping[str, Any]],
    verdict: Mapping[str, Any] | None,
    *,
    run_id: str,
    run_page: str | None,
    unavailable: str | None = None,
) -> str:
    """The job summary: counts, the run's page, failures by class, the quarantined apart, the slowest tests."""
    doc = _Document(MAX_SUMMARY_BYTES - 256)
    local = _by_id(tests)
    failures = [test for test in tests if test.get("status") in _FAILURES]
    if verdict is None:
        doc.add(f"## testrun: {len(failures):,} {'failure' if len(failures) == 1 else 'failures'}, not classified")
    else:
        doc.add(f"## testrun: {_headline(verdict)}")
    doc.add("")
    doc.add(_counts_line(tests) + ".")
    doc.add("")
    if run_page:
        doc.add(f"Run [{cell(run_id, 300)}]({_link(run_page)}) on the collector.")
    else:
        doc.add(f"Run {cell(run_id, 300)}.")
    doc.add("")
    if verdict is None:
        doc.add(f"Classification unavailable: {cell(unavailable or 'no verdict came back', 500)}. "
                "Every failure below fails the job as usual.")
        doc.add("")
        if failures:
            doc.add("### Failures")
            doc.add("")
            rows = ((f"<code>{cell(t.get('id'))}</code>", cell(t.get("status")), cell(_first_line(t.get("message"))))
                    for t in failures)
            doc.table(("Test", "Status", "Message"), rows, len(failures), SUMMARY_FAILURES)
    else:
        _verdict_tables(doc, verdict, local)
    _slowest_table(doc, tests)
    return doc.text()


def _headline(verdict: Mapping[str, Any]) -> str:
    failures = int(verdict.get("failures", 0))
    if failures == 0:
        return "no failures"
    text = f"{failures:,} {'failure' if failures == 1 else 'failures'}"
    blocking = int(verdict.get("blocking", failures))
    if blocking != failures:
        text += f", {blocking:,} blocking"
    return f"{text} — {cell(counts_phrase(verdict), 400)}"


def _verdict_tables(doc: _Document, verdict: Mapping[str, Any], local: Mapping[str, Mapping[str, Any]]) -> None:
    branch = str(verdict.get("default_branch") or "the default branch")
    listed = [item for item in verdict.get("tests", []) if isinstance(item, Mapping)]
    blocking = [item for item in listed if item.get("class") != "quarantined"]
    quarantined = [item for item in listed if item.get("class") == "quarantined"]
    classes = verdict.get("classes", {})
    if blocking or int(verdict.get("blocking", 0)):
        doc.add("### Failures")
        doc.add("")
        rows = (
            (
                f"<code>{cell(item.get('test_id'))}</code>",
                cell(class_name(str(item.get("class")), branch)),
                _since_cell(item.get("since")),
                cell(item.get("message") or _first_line(local.get(str(item.get("test_id")), {}).get("message"))),
            )
            for item in blocking
        )
        doc.table(("Test", "Class", "Since", "Message"), rows, int(verdict.get("blocking", len(blocking))),
                  SUMMARY_FAILURES)
    if quarantined or int(classes.get("quarantined", 0)):
        doc.add("### Quarantined (these do not block)")
        doc.add("")
        muted = (
            (f"<code>{cell(item.get('test_id'))}</code>", cell(item.get("reason")), cell(item.get("message")))
            for item in quarantined
        )
        doc.table(("Test", "Reason", "Message"), muted, int(classes.get("quarantined", len(quarantined))),
                  SUMMARY_QUARANTINED)


def _since_cell(since: Any) -> str:
    if not isinstance(since, Mapping):
        return ""
    return cell(f"{_day(since.get('started_at'))} (run {since.get('run_id')})", 300)


def _slowest_table(doc: _Document, tests: Sequence[Mapping[str, Any]]) -> None:
    ran = [test for test in tests if test.get("status") not in ("skipped", None)]
    slowest = sorted(ran, key=lambda test: -float(test.get("duration_ms") or 0.0))[:SLOWEST]
    if not slowest:
        return
    doc.add("### Slowest tests")
    doc.add("")
    rows = ((f"<code>{cell(test.get('id'))}</code>", _seconds(test.get("duration_ms"))) for test in slowest)
    doc.table(("Test", "Duration"), rows, len(slowest), SLOWEST)


def _seconds(duration_ms: Any) -> str:
    return f"{float(duration_ms or 0.0) / 1000:,.2f} s"


def _first_line(message: Any) -> str | None:
    if not message:
        return None
    return str(message).strip().split("\n", 1)[0]


def _link(url: str) -> str:
    """A URL fit for a Markdown link target: no spaces, parentheses or angle brackets left raw."""
    return "".join(ch if ch.isascii() and ch.isprintable() and ch not in " ()<>" else f"%{ord(ch):02X}"
                   for ch in url if ord(ch) < 0x80)


# --- GitHub workflow commands -------------------------------------------------------------------
def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(tests: Sequence[Mapping[str, Any]], verdict: Mapping[str, Any]) -> list[str]:
    """``::error`` commands for the regressions' and new tests' failures, at most MAX_ANNOTATIONS."""
    local = _by_id(tests)
    branch = str(verdict.get("default_branch") or "the default branch")
    commands: list[str] = []
    for item in verdict.get("tests", []):
        if not isinstance(item, Mapping) or item.get("class") not in AUTHORS_CLASSES:
            continue
        test = local.get(str(item.get("test_id")), {})
        properties = []
        if test.get("file"):
            properties.append(f"file={escape_property(str(test['file']))}")
            if test.get("line"):
                properties.append(f"line={int(test['line'])}")
        title = f"{class_name(str(item['class']), branch)}: {item.get('test_id')}"
        properties.append(f"title={escape_property(title)}")
        message = str(test.get("message") or item.get("message") or f"{item.get('status', 'failed')}")
        commands.append(f"::error {','.join(properties)}::{escape_data(message)}")
        if len(commands) >= MAX_ANNOTATIONS:
            break
    return commands
