"""``junit-upload``: send JUnit XML reports from any test tool to a testrun collector.

Exit codes: 0 uploaded, or not uploaded but saved for later (analytics never
break a build); 1 not uploaded with --strict; 2 bad input or usage (no report
matched, malformed XML, a bad option), and nothing was sent.
"""

from __future__ import annotations

import argparse
import codecs
import hashlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from . import __version__
from .ci import detect_ci, make_run_id
from .delivery import Delivery, client_for, deliver
from .errors import ConfigError, ReportError, Unexpected, UploadError
from .job_report import JobReport, report_to_job
from .junit import find_reports, parse_reports
from .payload import build_payload, encode_payload, summarize
from .settings import DEFAULT_SPOOL_DIR, ClientSettings
from .spool import resend_spooled, spooled_runs

PROG = "junit-upload"
USER_AGENT = f"junit-upload/{__version__}"
REPORTER = {"name": "junit-upload", "version": __version__}

EXIT_OK, EXIT_STRICT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
#: bytes of the payload decoded and written at a time by --dry-run
WRITE_CHUNK = 1 << 20


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Send JUnit XML reports (Surefire, Gradle, Jest, gotestsum, nextest, PHPUnit, CTest, pytest, ...) "
        "to a testrun collector as one run of this CI job.",
        epilog="The token comes from TESTRUN_TOKEN (keep it in your CI's secret store) and the collector URL from "
        "TESTRUN_URL. Every option also has a TESTRUN_* variable; an option wins over the environment. "
        "By default an upload failure only warns, saves the run in the spool directory and exits 0.",
    )
    parser.add_argument("patterns", nargs="*", metavar="PATH_OR_GLOB", help="report files, directories or globs (** allowed)")
    parser.add_argument("--url", help="collector base URL (TESTRUN_URL)")
    parser.add_argument("--token", help="ingest token; prefer the TESTRUN_TOKEN variable, flags can show in process lists")
    parser.add_argument("--label", help="tells apart uploads from one CI job, e.g. matrix legs (TESTRUN_LABEL)")
    parser.add_argument("--run-id", help="use this run id instead of deriving it from the CI variables (TESTRUN_RUN_ID)")
    parser.add_argument("--dry-run", action="store_true", help="print the JSON payload on stdout and send nothing")
    parser.add_argument("--output", metavar="FILE", help="also write the JSON payload to FILE (TESTRUN_OUTPUT)")
    parser.add_argument(
        "--summary",
        metavar="FILE",
        help="write the verdict as a Markdown job summary to FILE (TESTRUN_SUMMARY); on GitHub Actions it is also "
        "appended to the step summary",
    )
    parser.add_argument(
        "--strict", action="store_true", default=None, help="exit 1 when the upload fails (TESTRUN_STRICT)"
    )
    parser.add_argument(
        "--resend",
        nargs="?",
        const="",
        metavar="SPOOL_DIR",
        help=f"re-send runs saved by earlier failed uploads (default directory: {DEFAULT_SPOOL_DIR})",
    )
    parser.add_argument("--spool-dir", help=f"where failed uploads are saved (default {DEFAULT_SPOOL_DIR}; TESTRUN_SPOOL_DIR)")
    parser.add_argument("--timeout", help="seconds per request (default 10; TESTRUN_TIMEOUT)")
    parser.add_argument("--retries", help="retries after the first attempt (default 5; TESTRUN_RETRIES)")
    parser.add_argument(
        "--max-total-time", help="seconds the whole upload may take, waits included (default 120)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each attempt")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    cwd: Path | None = None,
) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resend is None and not args.patterns:
        parser.error("give at least one report PATH_OR_GLOB (or --resend)")
    if args.resend is not None and args.patterns:
        parser.error("--resend takes no report paths")
    env = os.environ if env is None else env
    _configure_logging(stderr, quiet=args.quiet, verbose=args.verbose)
    say = _Printer(stderr, quiet=args.quiet)
    try:
        settings = ClientSettings.resolve(flags=_flag_values(args), env=env)
    except ConfigError as error:
        say.error(str(error))
        return EXIT_BAD_INPUT
    if args.resend is not None:
        if args.resend:
            return resend(settings, Path(args.resend), say, named=True)
        return resend(settings, settings.spool_dir, say)
    try:
        return upload(settings, args.patterns, env=env, cwd=cwd or Path.cwd(), dry_run=args.dry_run, out=stdout, say=say)
    except ReportError as error:
        say.error(f"{error} (nothing was uploaded)")
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # --dry-run piped into a reader that stopped early (``| head``): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def upload(
    settings: ClientSettings,
    patterns: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    dry_run: bool,
    out: TextIO,
    say: _Printer,
) -> int:
    parsed = parse_reports(find_reports(patterns, cwd=cwd), base=cwd)
    ci = detect_ci(env, checkout=cwd)
    label = settings.label or default_label(patterns)
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


def tell_the_job(report: JobReport, out: TextIO, say: _Printer) -> None:
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


def report_delivery(delivery: Delivery, summary: str, run_id: str, settings: ClientSettings, say: _Printer) -> int:
    line = delivery.describe(summary, run_id, settings.spool_dir)
    if delivery.ok:
        say.info(line)
        return EXIT_OK
    if settings.strict:
        say.error(line)
        return EXIT_STRICT_FAILURE
    say.warning(line)
    return EXIT_OK


def resend(settings: ClientSettings, spool_dir: Path, say: _Printer, *, named: bool = False) -> int:
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


def default_label(patterns: Sequence[str]) -> str:
    """The report file set's name: the same command line gives the same label on a retried job."""
    joined = ",".join(patterns)
    if len(joined) <= 64:
        return f"junit:{joined}"
    return "junit:" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


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
    }


class _Printer:
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


def _configure_logging(stream: TextIO, *, quiet: bool, verbose: bool) -> None:
    logger = logging.getLogger("testrun.client")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("testrun: %(message)s"))
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
