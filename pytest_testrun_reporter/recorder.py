"""Turns pytest's reports into one result per test, as the run payload wants them.

One result per node id. The status follows pytest's own reading of the
phases: a failing call is ``failed``; a failing setup or teardown is ``error``
(also when the call passed; when the call already failed, the test stays
``failed`` and the teardown error is appended to its details); xfail and
xpass come from ``wasxfail``; durations are summed over all phases and
attempts. pytest-rerunfailures' ``rerun`` reports count attempts: a test that
passes after a rerun is ``passed`` and ``flaky``.

Subtests (pytest's ``subtests`` fixture and unittest's ``self.subTest``):
every subtest is a result of its own, with the id ``<node id> [msg] (k=v)``,
beside the parent test's own result. The id is the same on every run, in
every process and under xdist: a parameter shows its value when that is a
plain literal (``(i=1)``, ``(name='a b')``, ``(pair=(1, 'x'))``) and its type
otherwise (``(it=<range_iterator>)``, ``(f=<function>)``), never a memory
address; see :mod:`.subtest_ids`. A description seen again within one test
gets `` #2``, `` #3``... in the order the subtests ran. pytest counts them
the same way ("2 failed, 1 passed, 2 subtests passed"), so no subtest is lost
and passed + failed add up to what pytest printed.

Kept per test: a few short strings and numbers; the long failure text is
formatted only for tests that failed.
"""

from __future__ import annotations

import re
from typing import Any

from pytest import TestReport

from junit_uploader.payload import DETAILS_MAX, MESSAGE_MAX, capped

from .subtest_ids import describe_subtest, worker_params


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")


def first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def without_addresses(text: str) -> str:
    """``text`` with ``<Foo object at 0x7f...>`` written ``<Foo object>``.

    A failure that shows an object's default repr would otherwise differ on
    every run, and the same session sent again would be a conflict instead of
    a duplicate.
    """
    return _ADDRESS.sub(">", text) if " at 0x" in text else text


class _Result:
    __slots__ = ("details", "duration", "file", "line", "message", "name", "nodeid", "reruns", "status")

    def __init__(self, nodeid: str, location: tuple[str, int | None, str] | None) -> None:
        self.nodeid = nodeid
        self.file = location[0] if location else nodeid.split("::", 1)[0]
        self.line = location[1] + 1 if location and location[1] is not None else None
        self.name = nodeid.split("::", 1)[1] if "::" in nodeid else nodeid
        self.status: str | None = None
        self.duration = 0.0
        self.reruns = 0
        self.message: str | None = None
        self.details: str | None = None

    def as_payload(self) -> dict[str, Any]:
        status = self.status
        return {
            "id": self.nodeid,
            "name": self.name,
            "suite": self.file,
            "file": self.file,
            "line": self.line,
            "status": status,
            "duration_ms": round(self.duration * 1000, 3),
            "attempts": self.reruns + 1,
            "flaky": self.reruns > 0 and status == "passed",
            "message": None if self.message is None else capped(without_addresses(self.message), MESSAGE_MAX),
            "details": None if self.details is None else capped(without_addresses(self.details), DETAILS_MAX),
        }


def _failure_message(report: Any) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return first_line(crash.message)
    return first_line(str(report.longrepr or "")) or "failed"


def _raised_line(text: str) -> str:
    """The exception pytest marks with ``E`` in a traceback, else its first line."""
    raised = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return raised[-1] if raised else first_line(text) or "error"


def _skip_reason(report: Any) -> str | None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return first_line(str(longrepr)) if longrepr else None


class Recorder:
    def __init__(self) -> None:
        self._results: dict[str, _Result] = {}
        self._subtest_counts: dict[str, int] = {}
        #: each test's subtest results, by the test's node id
        self._subtests: dict[str, list[str]] = {}
        #: results already handed out as final (take_finished): a later report of one means it was not final
        self._taken: set[str] = set()
        self.changed_after_taken = False

    def __len__(self) -> int:
        return len(self._results)

    def add_test_report(self, report: Any) -> None:
        """Called for every report of every test, three per test: the common case is kept short.

        Only pytest's plain ``TestReport`` is known to carry no subtest, so any
        other report type is asked; ``nodeid`` (a property in pytest 9) is read
        once; a passing setup or teardown only adds its duration.
        """
        if report.__class__ is not TestReport and hasattr(report, "context"):
            self._add_subtest(report)
            return
        nodeid = report.nodeid
        result = self._results.get(nodeid)
        if result is None:
            result = self._results[nodeid] = _Result(nodeid, report.location)
        elif self._taken and nodeid in self._taken:
            self.changed_after_taken = True
        result.duration += report.duration or 0.0
        outcome = report.outcome
        when = report.when
        if outcome == "passed" and when != "call":
            return
        if outcome == "rerun":
            result.reruns += 1
            result.status = result.message = result.details = None
            return
        if when == "call":
            self._read_call(result, report)
        elif outcome == "failed":
            self._read_fixture_error(result, report)
        elif outcome == "skipped" and when == "setup":
            self._read_skip(result, report)

    def add_collect_report(self, report: Any) -> None:
        """A module that failed to import is an error; one skipped at import is skipped."""
        if not (report.failed or report.skipped) or not report.nodeid:
            return
        result = self._results.setdefault(report.nodeid, _Result(report.nodeid, None))
        if report.failed:
            result.status = "error"
            result.details = report.longreprtext
            result.message = "collection failed: " + _raised_line(result.details)
        else:
            result.status, result.message = "skipped", _skip_reason(report)

    def results(self) -> list[dict[str, Any]]:
        """Finished tests only: one interrupted mid-way (Ctrl-C, ``-x``) has no outcome to report."""
        return [result.as_payload() for result in self._results.values() if result.status is not None]

    def take_finished(self, nodeids: list[str]) -> list[dict[str, Any]]:
        """The results of tests pytest has finished with (``pytest_runtest_logfinish``), their subtests' too,
        each handed out once; they are also still in :meth:`results`."""
        results, subtests, taken = self._results, self._subtests, self._taken
        finished = []
        for nodeid in nodeids:
            for key in (nodeid, *subtests.get(nodeid, ())):
                result = results.get(key)
                if result is not None and result.status is not None and key not in taken:
                    taken.add(key)
                    finished.append(result.as_payload())
        return finished

    def not_taken_count(self) -> int:
        """How many results (subtests included) :meth:`take_finished` has not handed out."""
        return len(self._results) - len(self._taken)

    def not_taken(self) -> list[dict[str, Any]]:
        """The results not handed out by :meth:`take_finished` (collection errors, an interrupted session)."""
        return [result.as_payload() for key, result in self._results.items()
                if result.status is not None and key not in self._taken]

    @staticmethod
    def _read_call(result: _Result, report: Any) -> None:
        xfail_reason = getattr(report, "wasxfail", None)
        outcome = report.outcome
        if outcome == "passed":
            result.status = "xpassed" if xfail_reason is not None else "passed"
            result.message = xfail_reason or None
        elif outcome == "skipped":
            result.status = "xfailed" if xfail_reason is not None else "skipped"
            result.message = xfail_reason if xfail_reason is not None else _skip_reason(report)
        else:
            result.status = "failed"
            result.message = _failure_message(report)
            result.details = report.longreprtext

    @staticmethod
    def _read_fixture_error(result: _Result, report: Any) -> None:
        text = report.longreprtext
        if result.status == "failed":
            result.details = f"{result.details or ''}\n\n--- error in {report.when} ---\n{text}"
            return
        result.status = "error"
        result.message = f"error in {report.when}: {_failure_message(report)}"
        result.details = text

    @staticmethod
    def _read_skip(result: _Result, report: Any) -> None:
        xfail_reason = getattr(report, "wasxfail", None)
        result.status = "xfailed" if xfail_reason is not None else "skipped"
        result.message = xfail_reason if xfail_reason is not None else _skip_reason(report)

    def _add_subtest(self, report: Any) -> None:
        context = report.context
        # xdist's controller marks the reports it loads from a worker with that worker's node
        params = worker_params(context) if hasattr(report, "node") else context.kwargs
        base = f"{report.nodeid} {describe_subtest(context.msg, params)}"
        seen = self._subtest_counts.get(base, 0) + 1
        self._subtest_counts[base] = seen
        nodeid = base if seen == 1 else f"{base} #{seen}"
        self._subtests.setdefault(report.nodeid, []).append(nodeid)
        result = self._results[nodeid] = _Result(nodeid, report.location)
        result.duration = report.duration or 0.0
        self._read_call(result, report)
