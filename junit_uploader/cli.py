"""``junit-upload``: send JUnit XML reports from any test tool to a testrun collector.

``junit-upload [OPTIONS] PATH_OR_GLOB...`` uploads reports; ``junit-upload
--resend [SPOOL_DIR]`` re-sends runs saved by failed uploads; ``junit-upload
run [OPTIONS] [--junit GLOB]... -- CMD [ARGS...]`` runs the test command,
then uploads the reports it wrote (:mod:`.command`).

Exit codes of an upload: 0 uploaded, or not uploaded but saved for later
(analytics never break a build); 1 not uploaded with --strict, or, with
--quarantine, a failed or errored testcase that is not on the project's
quarantine list (either one is 1; the quarantine list that cannot be fetched
quarantines nothing); 2 bad input or usage (no report matched, malformed XML,
a bad option), and nothing was sent.

Exit codes of ``run``: the command's own status (128 + N when signal N ended
it; 127 or 126 when it could not be started; 2 for a bad option, and the
command does not run), except 0 with --quarantine when the command failed,
its reports hold at least one failure and every failure is quarantined (a
command that a signal ended keeps its status), and 1 with --strict when the
command succeeded but its reports could not be read or uploaded.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from . import __version__
from .command import (
    DEFAULT_JUNIT_GLOBS,
    MTIME_MARGIN_S,
    run_command,
    upload_what_it_wrote,
)
from .delivery import client_for
from .errors import CannotRun, ConfigError, ReportError, Unexpected, UploadError
from .quarantine import Gate, all_quarantined
from .sending import (
    EXIT_BAD_INPUT,
    EXIT_BLOCKED,
    EXIT_OK,
    EXIT_STRICT_FAILURE,
    USER_AGENT,
    Printer,
    show_gate,
    upload,
)
from .settings import DEFAULT_SPOOL_DIR, ClientSettings
from .spool import resend_spooled, spooled_runs

PROG = "junit-upload"
RUN_USAGE = "%(prog)s [OPTIONS] [--junit GLOB]... [--quarantine] -- CMD [ARGS...]"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Send JUnit XML reports (Surefire, Gradle, Jest, gotestsum, nextest, PHPUnit, CTest, pytest, ...) "
        "to a testrun collector as one run of this CI job.",
        epilog="The token comes from TESTRUN_TOKEN (keep it in your CI's secret store) and the collector URL from "
        "TESTRUN_URL. Every option also has a TESTRUN_* variable; an option wins over the environment. "
        "By default an upload failure only warns, saves the run in the spool directory and exits 0. "
        "To run the tests and upload the reports they write in one step: "
        "junit-upload run [OPTIONS] [--junit GLOB]... [--quarantine] -- CMD [ARGS...] (see junit-upload run --help).",
    )
    parser.add_argument("patterns", nargs="*", metavar="PATH_OR_GLOB", help="report files, directories or globs (** allowed)")
    _add_upload_options(
        parser,
        quarantine_help="exit 1 only when a failed or errored testcase is not on the project's quarantine list, "
        "naming it, and 0 when every failure is on it (TESTRUN_QUARANTINE); when the list cannot be fetched, "
        "nothing is quarantined",
        strict_help="exit 1 when the upload fails (TESTRUN_STRICT)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the JSON payload on stdout and send nothing (with --quarantine the list is still fetched)",
    )
    parser.add_argument(
        "--resend",
        nargs="?",
        const="",
        metavar="SPOOL_DIR",
        help=f"re-send runs saved by earlier failed uploads (default directory: {DEFAULT_SPOOL_DIR})",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def build_run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} run",
        usage=RUN_USAGE,
        description="Run the test command CMD (its output passes through; SIGINT and SIGTERM are passed on to it), "
        "then upload the JUnit reports it wrote, and exit with its status: its exit code, or 128 + N when signal "
        "N ended it. Only reports modified since the command started count; when it wrote none, that is said "
        "in one line and its status stands. An upload problem never changes the status unless --strict.",
        epilog="The token comes from TESTRUN_TOKEN and the collector URL from TESTRUN_URL; every option also has a "
        "TESTRUN_* variable. Put the command after --, e.g.: junit-upload run --quarantine -- mvn -B test",
    )
    parser.add_argument(
        "--junit",
        action="append",
        metavar="GLOB",
        help="where the command writes its JUnit XML: a glob (** allowed), file or directory; repeat for more. "
        f"Default: {' and '.join(DEFAULT_JUNIT_GLOBS)} under the current directory. Only files modified since "
        f"the command started ({MTIME_MARGIN_S:g} s of leeway for coarse file-system clocks) are uploaded",
    )
    _add_upload_options(
        parser,
        quarantine_help="exit 0 when the command failed, its reports hold at least one failed or errored "
        "testcase and every one is on the project's quarantine list; otherwise its status stands and the "
        "failures that are not quarantined are named (TESTRUN_QUARANTINE). A command that failed without a "
        "failing testcase (a crash, a compile error) or that a signal ended keeps its status; when the list "
        "cannot be fetched, nothing is quarantined",
        strict_help="exit 1, not 0, when the command succeeded but its reports could not be read or uploaded "
        "(TESTRUN_STRICT)",
    )
    return parser


def _add_upload_options(parser: argparse.ArgumentParser, *, quarantine_help: str, strict_help: str) -> None:
    parser.add_argument("--url", help="collector base URL (TESTRUN_URL)")
    parser.add_argument("--token", help="ingest token; prefer the TESTRUN_TOKEN variable, flags can show in process lists")
    parser.add_argument("--label", help="tells apart uploads from one CI job, e.g. matrix legs (TESTRUN_LABEL)")
    parser.add_argument("--run-id", help="use this run id instead of deriving it from the CI variables (TESTRUN_RUN_ID)")
    parser.add_argument("--quarantine", action="store_true", default=None, help=quarantine_help)
    parser.add_argument("--output", metavar="FILE", help="also write the JSON payload to FILE (TESTRUN_OUTPUT)")
    parser.add_argument(
        "--summary",
        metavar="FILE",
        help="write the verdict as a Markdown job summary to FILE (TESTRUN_SUMMARY); on GitHub Actions it is also "
        "appended to the step summary",
    )
    parser.add_argument("--strict", action="store_true", default=None, help=strict_help)
    parser.add_argument("--spool-dir", help=f"where failed uploads are saved (default {DEFAULT_SPOOL_DIR}; TESTRUN_SPOOL_DIR)")
    parser.add_argument("--timeout", help="seconds per request (default 10; TESTRUN_TIMEOUT)")
    parser.add_argument("--retries", help="retries after the first attempt (default 5; TESTRUN_RETRIES)")
    parser.add_argument(
        "--max-total-time",
        help="seconds the whole upload may take, waits included (default 120; the quarantine list's fetch, "
        "which runs beside it, has as long)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each attempt")


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    cwd: Path | None = None,
) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    if argv[:1] == ["run"]:
        return run_main(argv[1:], env=env, stdout=stdout, stderr=stderr, cwd=cwd)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resend is None and not args.patterns:
        parser.error("give at least one report PATH_OR_GLOB (or --resend)")
    if args.resend is not None and args.patterns:
        parser.error("--resend takes no report paths")
    say, settings = _set_up(args, env, stderr)
    if settings is None:
        return EXIT_BAD_INPUT
    if args.resend is not None:
        if args.resend:
            return resend(settings, Path(args.resend), say, named=True)
        return resend(settings, settings.spool_dir, say)
    try:
        sent = upload(settings, args.patterns, env=env, cwd=cwd, dry_run=args.dry_run, out=stdout, say=say,
                      gate=settings.quarantine)
    except ReportError as error:
        say.error(f"{error} (nothing was uploaded)")
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # --dry-run piped into a reader that stopped early (``| head``): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    if sent.gate is None:
        return sent.code
    return _gate_the_upload(sent.gate, sent.code, say)


def _gate_the_upload(gate: Gate, code: int, say: Printer) -> int:
    """--quarantine: 1 for a failure not quarantined, whatever the upload did; else the upload's own code."""
    show_gate(gate, say)
    if gate.blocking:
        return EXIT_BLOCKED
    if gate.passes:
        say.info(f"{all_quarantined(gate)}: {'it does' if gate.failures == 1 else 'they do'} not fail the job")
    return code


def run_main(
    argv: Sequence[str], *, env: Mapping[str, str], stdout: TextIO, stderr: TextIO, cwd: Path
) -> int:
    """``junit-upload run [OPTIONS] -- CMD [ARGS...]``: everything after the first ``--`` is the command."""
    parser = build_run_parser()
    options, command = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    args = parser.parse_args(options)
    if not command:
        parser.error("give the test command after --, e.g. junit-upload run --quarantine -- mvn -B test")
    say, settings = _set_up(args, env, stderr)
    if settings is None:
        return EXIT_BAD_INPUT
    patterns = args.junit or list(DEFAULT_JUNIT_GLOBS)
    try:
        finished = run_command(command, cwd=cwd)
    except CannotRun as error:
        say.error(str(error))
        return error.status
    return upload_what_it_wrote(settings, patterns, finished, env=env, cwd=cwd, out=stdout, say=say)


def resend(settings: ClientSettings, spool_dir: Path, say: Printer, *, named: bool = False) -> int:
    """``named``: the directory was given to --resend itself, so a missing one is a mistyped path, not an empty
    spool (the spool directory is made only when a run is first saved, so the default may well not exist)."""
    if named and not spool_dir.is_dir():
        reason = "is not a directory" if spool_dir.exists() else "does not exist"
        say.error(f"cannot re-send: the spool directory {spool_dir} {reason} (check the path given to --resend)")
        return EXIT_BAD_INPUT
    if not spooled_runs(spool_dir):
        say.info(f"nothing to re-send in {spool_dir}")
        return EXIT_OK
    try:
        client = client_for(settings, USER_AGENT)
    except UploadError as error:
        say.error(f"cannot re-send: {error}")
        return EXIT_STRICT_FAILURE if settings.strict else EXIT_OK
    try:
        report = resend_spooled(client, spool_dir)
    except Exception as error:  # noqa: BLE001 - what is still spooled stays for the next re-send
        say.error(f"cannot re-send: {Unexpected.of(error, 're-sending the spool')}")
        return EXIT_STRICT_FAILURE if settings.strict else EXIT_OK
    for path, accepted in report.sent:
        say.info(f"re-sent {path.name} → run {accepted.run_id} ({'duplicate' if accepted.duplicate else 'created'})")
    for path, rejected in report.rejected:
        say.error(f"{path.name} was refused and moved to {spool_dir / 'rejected'}: {rejected}")
    for path, unreachable in report.failed:
        say.warning(f"{path.name} not re-sent, kept for later: {unreachable}")
    if (report.rejected or report.failed) and settings.strict:
        return EXIT_STRICT_FAILURE
    return EXIT_OK


def _flag_values(args: argparse.Namespace) -> dict[str, object]:
    return {
        "url": args.url,
        "token": args.token,
        "label": args.label,
        "run_id": args.run_id,
        "timeout_s": args.timeout,
        "retries": args.retries,
        "max_total_s": args.max_total_time,
        "spool_dir": args.spool_dir,
        "strict": args.strict,
        "output": args.output,
        "summary": args.summary,
        "quarantine": args.quarantine,
    }


def _set_up(args: argparse.Namespace, env: Mapping[str, str], stderr: TextIO) -> tuple[Printer, ClientSettings | None]:
    """The printer and the settings; None settings when they cannot be used (said in one line)."""
    _configure_logging(stderr, quiet=args.quiet, verbose=args.verbose)
    say = Printer(stderr, quiet=args.quiet)
    try:
        return say, ClientSettings.resolve(flags=_flag_values(args), env=env)
    except ConfigError as error:
        say.error(str(error))
        return say, None


def _configure_logging(stream: TextIO, *, quiet: bool, verbose: bool) -> None:
    logger = logging.getLogger("testrun.client")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("testrun: %(message)s"))
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
