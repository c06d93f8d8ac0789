"""Sending one run of JUnit reports: the upload both ``junit-upload`` forms end with, and the quarantine gate.

``upload(settings, patterns, ...)`` parses the reports, sends them as one run
(or prints them with ``--dry-run``), tells the job the verdict, and, asked
for the gate, judges the run's failures by the project's quarantine list,
fetched beside the upload. It returns what happened; the callers
(:mod:`.cli`, :mod:`.command`) decide what it means for the exit status.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from . import __version__
from .ci import detect_ci, make_run_id
from .delivery import Delivery, deliver
from .errors import ReportError
from .job_report import JobReport, report_to_job
from .junit import ParsedRun, find_reports, parse_reports
from .payload import build_payload, encode_payload, summarize
from .quarantine import (
    NOT_FETCHED,
    Fetched,
    Gate,
    PendingList,
    QuarantineList,
    blocking_lines,
    has_failures,
    judge,
    quarantined_lines,
)
from .settings import ClientSettings

USER_AGENT = f"junit-upload/{__version__}"
REPORTER = {"name": "junit-upload", "version": __version__}

EXIT_OK, EXIT_STRICT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
#: --quarantine: a failure that is not quarantined
EXIT_BLOCKED = 1
#: bytes of the payload decoded and written at a time by --dry-run
WRITE_CHUNK = 1 << 20


@dataclass(frozen=True)
class Sent:
    code: int
    """Of the upload alone: 0, or 1 when it failed with --strict."""
    gate: Gate | None
    """What the quarantine list makes of the failures, when asked for."""


def upload(
    settings: ClientSettings,
    patterns: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    dry_run: bool,
    out: TextIO,
    say: Printer,
    gate: bool = False,
    label: str | None = None,
) -> Sent:
    """Send the reports as one run; with ``gate``, judge its failures by the quarantine list.

    The list is fetched only when the reports hold a failure, in a thread
    beside the upload, so a collector that is down costs the time bound once.
    """
    parsed = parse_reports(find_reports(patterns, cwd=cwd), base=cwd)
    pending = PendingList(settings, user_agent=USER_AGENT) if gate and has_failures(parsed.tests) else None
    code = send(settings, parsed, label=label or settings.label or default_label(patterns), env=env, cwd=cwd,
                dry_run=dry_run, out=out, say=say)
    if not gate:
        return Sent(code, None)
    fetched = pending.result() if pending is not None else Fetched(QuarantineList("", {}))
    return Sent(code, judge(parsed.tests, fetched))


def send(
    settings: ClientSettings,
    parsed: ParsedRun,
    *,
    label: str,
    env: Mapping[str, str],
    cwd: Path,
    dry_run: bool,
    out: TextIO,
    say: Printer,
) -> int:
    ci = detect_ci(env, checkout=cwd)
    run_id = make_run_id(ci, label, override=settings.run_id)
    payload = build_payload(
        run_id=run_id,
        ci=ci,
        label=label,
        tests=parsed.tests,
        reporter=REPORTER,
        started_at=parsed.started_at,
        duration_ms=parsed.duration_ms,
    )
    data = encode_payload(payload)
    if dry_run:
        write_text(out, data)
        say.info(f"{summarize(payload)} in run {run_id} (dry run: nothing sent)")
        return EXIT_OK
    if settings.output:
        try:
            settings.output.parent.mkdir(parents=True, exist_ok=True)
            settings.output.write_bytes(data)
        except OSError as error:
            raise ReportError(f"cannot write --output {settings.output}: {error.strerror or error}") from None
        say.info(f"wrote the payload to {settings.output}")
        if not settings.url:
            tell_the_job(report_to_job(settings, payload["tests"], None, run_id), out, say)
            return EXIT_OK
    delivery = deliver(settings, data, run_id, user_agent=USER_AGENT)
    code = report_delivery(delivery, summarize(payload), run_id, settings, say)
    tell_the_job(report_to_job(settings, payload["tests"], delivery, run_id), out, say)
    return code


def show_gate(gate: Gate, say: Printer) -> None:
    """The quarantined failures with their reasons, then the failures that block, each named (errors)."""
    if gate.problem is not None and gate.failures:
        say.warning(NOT_FETCHED.format(problem=gate.problem))
    for line in quarantined_lines(gate):
        say.info(line)
    lines = blocking_lines(gate)
    if lines:
        say.error(lines[0])
        for line in lines[1:]:
            say.always(line)


def tell_the_job(report: JobReport, out: TextIO, say: Printer) -> None:
    """The verdict's lines after the upload line, annotations on stdout (where GitHub reads workflow commands)."""
    for line in report.lines:
        say.info(line)
    for warning in report.warnings:
        say.warning(warning)
    for command in report.annotations:
        print(command, file=out)


def write_text(out: TextIO, data: bytes) -> None:
    """Write UTF-8 ``data`` and a newline to a text stream, decoding a slice at a time.

    Decoding all of it at once would hold the payload three times over (the
    bytes, the text, and the text stream's own encoded copy) at the moment
    memory peaks: for a 100,000-test report that was more than the parsed
    tests themselves (bench/junit_parse.py).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    out.writelines(decoder.decode(view[start : start + WRITE_CHUNK]) for start in range(0, len(view), WRITE_CHUNK))
    out.write(decoder.decode(b"", final=True) + "\n")


def report_delivery(delivery: Delivery, summary: str, run_id: str, settings: ClientSettings, say: Printer) -> int:
    line = delivery.describe(summary, run_id, settings.spool_dir)
    if delivery.ok:
        say.info(line)
        return EXIT_OK
    if settings.strict:
        say.error(line)
        return EXIT_STRICT_FAILURE
    say.warning(line)
    return EXIT_OK


def default_label(patterns: Sequence[str]) -> str:
    """The report file set's name: the same command line gives the same label on a retried job."""
    joined = ",".join(patterns)
    if len(joined) <= 64:
        return f"junit:{joined}"
    return "junit:" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


class Printer:
    """Messages for the person reading the CI log, on stderr, prefixed ``testrun:``."""

    def __init__(self, stream: TextIO, *, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            print(f"testrun: {message}", file=self.stream)

    def warning(self, message: str) -> None:
        if not self.quiet:
            print(f"testrun: warning: {message}", file=self.stream)

    def error(self, message: str) -> None:
        print(f"testrun: error: {message}", file=self.stream)

    def always(self, message: str) -> None:
        """The rest of an error that takes several lines (even with --quiet)."""
        print(f"testrun: {message}", file=self.stream)
