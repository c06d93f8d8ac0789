"""``junit-upload run``: run the test command as the job would, then upload the reports it wrote.

The command inherits standard input, output and error, so its output reaches
the CI log as it is written, through nothing of ours. SIGINT and SIGTERM
sent to junit-upload are passed on to it, and junit-upload waits for it to
end; its status comes back as a shell gives it: the exit code, or 128 plus
the signal's number when a signal ended it. A SIGINT from a terminal
(Ctrl-C) already reached the command, which runs in the terminal's
foreground process group with us, so that one is not sent a second time.

Reports count when they were modified since the command started, less
:data:`MTIME_MARGIN_S` for file systems whose timestamps are coarse (FAT
keeps 2 s, ext3 and HFS+ whole seconds, and Linux stamps files from a clock
that may lag ``time.time()`` by a tick): a report left over from an earlier
build is not this run's.

The exit status is the command's, and only :func:`upload_what_it_wrote`
changes it: to 0 with ``--quarantine`` when the command failed, its reports
hold a failure and every failure is quarantined (never for a command that a
signal ended: a test tool reports failing tests with an exit code, so a
signal is a crash whatever the reports say); to 1 with ``--strict`` when the
command passed but its reports could not be read or uploaded. A command
stopped by a SIGINT or SIGTERM that junit-upload received is not uploaded:
the CI job is being cancelled, and half a run's reports are not its results.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from .errors import CannotRun, NoReportFound, ReportError
from .quarantine import Gate, all_quarantined
from .reports import find_reports
from .sending import (
    EXIT_OK,
    EXIT_STRICT_FAILURE,
    Printer,
    default_label,
    show_gate,
    upload,
)
from .settings import ClientSettings

#: where test tools write JUnit XML unless told otherwise: Surefire, Gradle and Ant ``TEST-*.xml``; jest-junit,
#: PHPUnit, cargo-nextest and most docs' ``junit.xml``, ``*.junit.xml`` and ``junit-*.xml`` (``**`` skips dot-dirs)
DEFAULT_JUNIT_GLOBS = ("**/TEST-*.xml", "**/*junit*.xml")
MTIME_MARGIN_S = 2.0
FORWARDED = (signal.SIGINT, signal.SIGTERM)
#: what a shell exits with when it cannot run a command: not found, found but not executable
NOT_FOUND, NOT_EXECUTABLE = 127, 126


@dataclass(frozen=True)
class Finished:
    status: int
    """The exit code, or 128 + the signal's number when a signal ended the command."""
    started: float
    """``time.time()`` just before the command started."""
    killed_by: int | None = None
    """The signal that ended the command, if one did."""
    interrupted: int | None = None
    """The first SIGINT or SIGTERM junit-upload received (and passed on) while the command ran."""


def run_command(command: Sequence[str], *, cwd: Path) -> Finished:
    """Run ``command`` to its end, passing SIGINT and SIGTERM on; raise CannotRun when it cannot start."""
    received: list[int] = []
    early: list[int] = []  # received before the command existed: passed on once it does
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if child is None:
            early.append(signum)
        elif not _terminal_sent(signum):
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    previous = {signum: signal.getsignal(signum) for signum in FORWARDED}
    for signum, handler in previous.items():
        # a signal the job ignores (nohup, a background job) stays ignored, by the command too
        if handler is not signal.SIG_IGN:
            signal.signal(signum, forward)
    try:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        started = time.time()
        child = _start(command, cwd)
        for pending in early:
            child.send_signal(pending)
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            if handler is not signal.SIG_IGN:
                signal.signal(signum, handler)
    killed_by = -code if code < 0 else None
    status = 128 + killed_by if killed_by is not None else code
    return Finished(status, started, killed_by, received[0] if received else None)


def fresh_reports(patterns: Sequence[str], *, cwd: Path, since: float) -> tuple[list[Path], int]:
    """The report files the patterns match that were modified since ``since`` (less the margin), and how many
    older ones were left out. A pattern that matches nothing is no error here: the command may write nothing."""
    fresh: list[Path] = []
    stale = 0
    for path in _matches(patterns, cwd):
        try:
            modified = path.stat().st_mtime
        except OSError:
            continue  # removed since it was listed
        if modified >= since - MTIME_MARGIN_S:
            fresh.append(path)
        else:
            stale += 1
    return fresh, stale


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _matches(patterns: Sequence[str], cwd: Path) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        with contextlib.suppress(NoReportFound):
            found.update(find_reports([pattern], cwd=cwd))
    return sorted(found)


def _start(command: Sequence[str], cwd: Path) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(list(command), cwd=cwd)
    except FileNotFoundError:
        raise CannotRun(NOT_FOUND, f"cannot run {command[0]}: command not found (check PATH)") from None
    except PermissionError:
        raise CannotRun(NOT_EXECUTABLE, f"cannot run {command[0]}: permission denied") from None
    except OSError as error:
        reason = (error.strerror or type(error).__name__).lower()
        raise CannotRun(NOT_EXECUTABLE, f"cannot run {command[0]}: {reason}") from None


def _terminal_sent(signum: int) -> bool:
    """Whether a SIGINT came from the terminal (Ctrl-C), which sends it to its whole foreground group: when
    that group is ours, the command (in our group) got it too."""
    if signum != signal.SIGINT or not hasattr(os, "tcgetpgrp"):
        return False
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def upload_what_it_wrote(
    settings: ClientSettings,
    patterns: Sequence[str],
    finished: Finished,
    *,
    env: Mapping[str, str],
    cwd: Path,
    out: TextIO,
    say: Printer,
) -> int:
    """After ``run``'s command: upload its fresh reports and work out the exit status (see the module's doc)."""
    status = finished.status
    if finished.interrupted is not None:
        say.warning(f"interrupted by {signal_name(finished.interrupted)} (the command got it too and exited "
                    f"{status}): its reports were not uploaded")
        return status
    fresh, stale = fresh_reports(patterns, cwd=cwd, since=finished.started)
    if not fresh:
        older = f" ({stale:,} older {'file' if stale == 1 else 'files'} ignored)" if stale else ""
        say.warning(f"the command wrote no JUnit report matching {', '.join(patterns)}{older}: nothing uploaded; "
                    f"exit {status}, the command's status")
        return status
    label = settings.label or default_label(patterns)
    try:
        sent = upload(settings, [str(path) for path in fresh], env=env, cwd=cwd, dry_run=False, out=out, say=say,
                      gate=settings.quarantine and status != EXIT_OK, label=label)
    except ReportError as error:
        say.error(f"{error} (nothing was uploaded)")
        return EXIT_STRICT_FAILURE if settings.strict and status == EXIT_OK else status
    if sent.gate is not None:
        status = _gate_the_command(sent.gate, finished, say)
    return sent.code if status == EXIT_OK else status


def _gate_the_command(gate: Gate, finished: Finished, say: Printer) -> int:
    status = finished.status
    show_gate(gate, say)
    if gate.failures == 0:
        say.info(f"the command failed (exit {status}) without a failed or errored testcase in its reports: "
                 "its status stands")
    elif gate.passes and finished.killed_by is not None:
        say.warning(f"every failure is quarantined, but {signal_name(finished.killed_by)} ended the command: "
                    f"its status {status} stands")
    elif gate.passes:
        say.info(f"{all_quarantined(gate)}: exit 0 instead of the command's {status}")
        return EXIT_OK
    return status
