"""``--testrun-quarantine``: quarantined tests' failures do not fail the session.

The project's quarantine list is fetched when the session starts, in a thread
beside it (junit_uploader.quarantine), so the first test never waits for it;
the first failure waits for it, bounded by the client's time. Then:

- a quarantined test's failure does not count toward ``-x``/``--maxfail``:
  once the session has counted it, the gate takes it back out (under
  pytest-xdist, before the controller counts it, and on each worker, which
  stops on its own count);
- at the end, when the session failed only because of test failures and every
  one of them is quarantined (no collection error; an internal error, an
  interruption or a usage error has an exit status of its own that is never
  touched), the exit status becomes 0, and the terminal lists each
  quarantined failure with its reason;
- results are reported as they happened: a quarantined test that failed is
  recorded and uploaded as failed.

A subtest's failure is quarantined with its test: the list names the test's
node id. Fail open: when the list cannot be had, nothing is quarantined and one
line says why; when no test fails, nothing waits for the network.
"""

from __future__ import annotations

from typing import Any

import pytest

from junit_uploader.quarantine import (
    Fetched,
    PendingList,
    all_quarantined,
    blocking_lines,
    judge,
    quarantined_lines,
)
from junit_uploader.settings import ClientSettings

from . import __version__

USER_AGENT = f"pytest-testrun-reporter/{__version__}"


def parent_id(report: Any) -> str:
    """The node id the list names: a subtest's is its test's."""
    return str(report.nodeid)


class QuarantineGate:
    """One per process that counts failures: the controller (or a plain session), and each xdist worker."""

    __test__ = False

    def __init__(self, settings: ClientSettings, *, controller: bool) -> None:
        self.controller = controller
        self.pending = PendingList(settings, user_agent=USER_AGENT)
        self.session: pytest.Session | None = None
        self.failed: list[dict[str, str]] = []
        self.collection_failed = False
        self.fetched: Fetched | None = None
        self.lines: list[tuple[str, str]] = []

    def _reason(self, test_id: str) -> str | None:
        if self.fetched is None:
            self.fetched = self.pending.result()
        return self.fetched.quarantine.reason(test_id) if self.fetched.quarantine is not None else None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_failed = True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Any:
        """Around pytest's own count of failures (and xdist's): a quarantined failure is taken out beforehand,
        since once ``--maxfail`` has told the session to stop, nothing may take it back."""
        failed = report.failed and not hasattr(report, "wasxfail")
        test_id = parent_id(report)
        if failed and self._reason(test_id) is not None and self.session is not None:
            self.session.testsfailed -= 1  # counted again by pytest in the hook: net, not counted
            dsession = self.session.config.pluginmanager.get_plugin("dsession")
            if dsession is not None:
                dsession.countfailures -= 1  # counted again by xdist right after the hook
        if failed:
            self.failed.append({"id": test_id, "status": "failed"})
        return (yield)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Before the reporter's strict mode may fail the session for an upload problem."""
        if not self.controller or not self.failed:
            return
        if self.fetched is None:
            self.fetched = self.pending.result()
        gate = judge(self.failed, self.fetched)
        if gate.problem:
            said = f"the quarantine list could not be fetched, so no failure is quarantined: {gate.problem}"
            self.lines.append(("warning", said))
            return
        gate = _unique(gate)
        self.lines += [("info", line) for line in quarantined_lines(gate)]
        if gate.blocking:
            self.lines += [("error", line) for line in blocking_lines(gate)]
        elif session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not self.collection_failed:
            # pytest already counts no failure (each was taken back out of its count); the status says so too
            session.exitstatus = pytest.ExitCode.OK
            self.lines.append(("info", f"{all_quarantined(gate)}: the session passes"))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for level, message in self.lines:
            prefix = "testrun: " if level == "info" else f"testrun: {level}: "
            terminalreporter.write_line(prefix + message, red=level == "error", yellow=level == "warning")


def _unique(gate: Any) -> Any:
    """The gate with each test named once (a test can fail in its call and again in its teardown)."""
    gate.blocking = list(dict.fromkeys(gate.blocking))
    gate.quarantined = list(dict.fromkeys(gate.quarantined))
    return gate
