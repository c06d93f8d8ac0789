"""The active half of the plugin: records the session, then sends it as one run."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from junit_uploader.ci import CIContext, make_run_id
from junit_uploader.delivery import Delivery, deliver, save_for_later
from junit_uploader.errors import ConfigError, Unexpected, UploadError
from junit_uploader.job_report import JobReport, report_to_job
from junit_uploader.payload import build_payload, encode_payload, summarize
from junit_uploader.settings import ClientSettings

from . import __version__
from .batches import Batches
from .recorder import Recorder

REPORTER = {"name": "pytest-testrun-reporter", "version": __version__}
USER_AGENT = f"pytest-testrun-reporter/{__version__}"


class TestrunReporter:
    __test__ = False

    def __init__(
        self,
        settings: ClientSettings,
        *,
        ci: CIContext,
        label: str,
        problems: Mapping[str, ConfigError] | None = None,
    ) -> None:
        """``problems``: settings that could not be used (they kept their defaults), each said once at the end."""
        self.settings = settings
        self.problems = dict(problems or {})
        self.ci = ci
        self.label = settings.label or label
        self.recorder = Recorder()
        self.started_at = datetime.now(timezone.utc)
        self.started = time.monotonic()
        self.summary: list[tuple[str, str]] = []
        #: GitHub workflow commands, printed at the end of the terminal summary (stdout)
        self.annotations: list[str] = []
        self.failed_strictly = False
        #: results sent while the session runs; None sends the whole run at the end
        self.batches = (
            Batches(settings, user_agent=USER_AGENT, batch_tests=settings.batch_tests)
            if settings.url and settings.token and settings.batch_tests and "url" not in self.problems
            else None
        )
        #: node ids of tests pytest finished with whose results are not handed to the batches yet
        self.finished: list[str] = []
        for name, problem in self.problems.items():
            if name != "url":
                self._say("warning", f"{problem}; using the default, {_shown(getattr(settings, name))}")

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Last, because pytest's subtests plugin marks a parent failed while the terminal reports it."""
        self.recorder.add_test_report(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.recorder.add_collect_report(report)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        """pytest is done with the test (reruns included): its results may go out in the next batch."""
        if self.batches is not None:
            self.finished.append(nodeid)
            if self.recorder.not_taken_count() >= self.batches.batch_tests:
                self._hand_over_finished()

    def _hand_over_finished(self) -> None:
        """The finished tests' results to the batches, taken from the recorder all at once (cheaper per test)."""
        assert self.batches is not None
        if self.recorder.changed_after_taken:
            self.batches.give_up("a test was reported again after its result was sent")
        self.batches.add(self.recorder.take_finished(self.finished))
        self.finished = []

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Report the session; nothing that goes wrong here changes pytest's exit status unless strict."""
        try:
            self._send(session)
        except Exception as error:  # noqa: BLE001 - a reporting failure must not end pytest with a traceback
            self._fail(session, f"not uploaded: {Unexpected.of(error, 'building or sending the run')}")

    def _send(self, session: pytest.Session) -> None:
        run_id = make_run_id(self.ci, self.label, override=self.settings.run_id)
        payload = build_payload(
            run_id=run_id,
            ci=self.ci,
            label=self.label,
            tests=self.recorder.results(),
            reporter=REPORTER,
            started_at=self.started_at.isoformat().replace("+00:00", "Z"),
            duration_ms=round((time.monotonic() - self.started) * 1000, 3),
        )
        summary = summarize(payload)
        data = encode_payload(payload) if self._whole_run_needed() else b""
        if self.settings.output and not self._write_output(data):
            self._fail(session, f"could not write the payload to {self.settings.output}")
        delivery: Delivery | None
        if "url" in self.problems:
            # kept for a re-send once the URL is fixed: the tests ran, their results should not be lost
            delivery = save_for_later(self.settings, data, run_id, self.problems["url"])
            self._report(delivery, summary, run_id, session)
        elif not self.settings.url:
            delivery = None
            if not self.settings.output:
                self._say("warning", "not uploaded: no collector URL (set TESTRUN_URL or --testrun-url)")
        else:
            try:
                delivery = self._deliver(payload, data, run_id)
            except KeyboardInterrupt:
                data = data or encode_payload(payload)
                delivery = save_for_later(self.settings, data, run_id, UploadError("interrupted while uploading"))
            self._report(delivery, summary, run_id, session)
        self._tell_the_job(report_to_job(self.settings, payload["tests"], delivery, run_id))

    def _whole_run_needed(self) -> bool:
        """Whether the run must be encoded whole now: for --testrun-output, or no batches went out."""
        return bool(self.settings.output) or self.batches is None or self.batches.sent == 0 or "url" in self.problems

    def _deliver(self, payload: dict[str, Any], data: bytes, run_id: str) -> Delivery:
        """Complete the upload the batches went to; else (or when that fails) send the run whole."""
        if self.batches is not None:
            if self.recorder.changed_after_taken:
                self.batches.give_up("a test was reported again after its result was sent")
            header = {key: value for key, value in payload.items() if key != "tests"}
            accepted = self.batches.finish(self.recorder.not_taken(), header)
            if accepted is not None:
                return Delivery(accepted=accepted)
        return deliver(self.settings, data or encode_payload(payload), run_id, user_agent=USER_AGENT)

    def _tell_the_job(self, report: JobReport) -> None:
        for line in report.lines:
            self._say("info", line)
        for warning in report.warnings:
            self._say("warning", warning)
        self.annotations = report.annotations

    def _write_output(self, data: bytes) -> bool:
        path = Path(self.settings.output or "")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError:
            return False
        self._say("info", f"wrote the payload to {path}")
        return True

    def _report(self, delivery: Delivery, summary: str, run_id: str, session: pytest.Session) -> None:
        line = delivery.describe(summary, run_id, self.settings.spool_dir)
        if delivery.ok:
            self._say("info", line)
        else:
            self._fail(session, line)

    def _fail(self, session: pytest.Session, message: str) -> None:
        """A warning, unless strict mode asked that a reporting failure fail the session."""
        if not self.settings.strict:
            self._say("warning", message)
            return
        self._say("error", message)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _say(self, level: str, message: str) -> None:
        self.summary.append((level, message))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for level, message in self.summary:
            prefix = "testrun: " if level == "info" else f"testrun: {level}: "
            terminalreporter.write_line(prefix + message, red=level == "error", yellow=level == "warning")
        for command in self.annotations:
            terminalreporter.write_line(command)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
