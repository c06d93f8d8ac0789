"""pytest plugin: ``pytest --testrun-report`` sends every result of the session as one run.

Inactive unless asked for (flag, ``TESTRUN_REPORT=1`` or ``testrun_report =
true`` in ini): then it registers nothing but its options. Only then is the
reporter (and the HTTP client behind it) imported. Active, it records
results in memory while the session runs (no per-test network or disk I/O),
and at the end builds one payload and hands it to the shared client. Under
pytest-xdist only the controller records and uploads; the workers' reports
reach it through the same hooks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from junit_uploader.errors import ConfigError
from junit_uploader.settings import ClientSettings, parse_bool

if TYPE_CHECKING:
    from .gate import QuarantineGate
    from .reporter import TestrunReporter

reporter_key = pytest.StashKey["TestrunReporter"]()
notice_key = pytest.StashKey["Notice"]()
gate_key = pytest.StashKey["QuarantineGate"]()

#: (flag, dest, ini name, help); each also has the TESTRUN_<NAME> variable of junit_uploader.settings
OPTIONS = (
    ("--testrun-url", "url", "testrun_url", "collector base URL (TESTRUN_URL)"),
    ("--testrun-label", "label", "testrun_label", "tells matrix legs of one CI job apart (TESTRUN_LABEL)"),
    ("--testrun-run-id", "run_id", "testrun_run_id", "use this run id instead of the CI-derived one (TESTRUN_RUN_ID)"),
    ("--testrun-output", "output", "testrun_output", "write the JSON payload to this file (TESTRUN_OUTPUT)"),
    ("--testrun-summary", "summary", "testrun_summary",
     "write the verdict as a Markdown job summary to this file (TESTRUN_SUMMARY); on GitHub Actions it is also "
     "appended to the step summary"),
    ("--testrun-spool-dir", "spool_dir", "testrun_spool_dir", "where failed uploads are saved (TESTRUN_SPOOL_DIR)"),
    ("--testrun-timeout", "timeout_s", "testrun_timeout", "seconds per upload request (TESTRUN_TIMEOUT)"),
    ("--testrun-retries", "retries", "testrun_retries", "upload retries after the first attempt (TESTRUN_RETRIES)"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("testrun", "report results to a testrun collector")
    group.addoption(
        "--testrun-report",
        action="store_true",
        default=None,
        help="send this session's results to the testrun collector (TESTRUN_REPORT=1, ini testrun_report)",
    )
    group.addoption(
        "--testrun-strict",
        action="store_true",
        default=None,
        help="fail the session when the upload fails (TESTRUN_STRICT, ini testrun_strict)",
    )
    group.addoption(
        "--testrun-quarantine",
        action="store_true",
        default=None,
        help="failures of tests on the project's quarantine list do not fail the session (TESTRUN_QUARANTINE, "
        "ini testrun_quarantine)",
    )
    parser.addini("testrun_report", "send results to the testrun collector", type="bool", default=False)
    parser.addini("testrun_strict", "fail the session when the upload fails", type="bool", default=False)
    parser.addini("testrun_quarantine", "quarantined tests' failures do not fail the session", type="bool",
                  default=False)
    for flag, dest, ini, text in OPTIONS:
        group.addoption(flag, dest=f"testrun_{dest}", default=None, help=text)
        parser.addini(ini, text, default=None)


def is_enabled(config: pytest.Config, env: Mapping[str, str], problems: dict[str, ConfigError], name: str = "report"
               ) -> bool:
    """``--testrun-<name>`` > TESTRUN_<NAME> > ini ``testrun_<name>``; a variable that is not a yes or no is kept in
    ``problems`` and means no."""
    if config.getoption(f"testrun_{name}"):
        return True
    variable = f"TESTRUN_{name.upper()}"
    raw = env.get(variable, "")
    if raw != "":
        try:
            return parse_bool(raw)
        except ValueError as error:
            problems[name] = ConfigError(f"environment variable {variable}={raw!r} {error}")
            return False
    return bool(_ini_bool(config, f"testrun_{name}", name, problems))


def _ini_bool(config: pytest.Config, ini: str, name: str, problems: dict[str, ConfigError]) -> bool | None:
    """A bool ini option; None, and the reason in ``problems``, when pytest cannot read it as one."""
    try:
        return bool(config.getini(ini))
    except (pytest.UsageError, ValueError) as error:  # pytest's own words: "invalid truth value 'maybe'"
        problems[name] = ConfigError(f"ini option {ini}: {error} (use true or false)")
        return None


def settings_from(config: pytest.Config, env: Mapping[str, str], problems: dict[str, ConfigError]) -> ClientSettings:
    """The settings; a value that cannot be used keeps its default and is kept in ``problems`` (never raised)."""
    flags: dict[str, Any] = {dest: config.getoption(f"testrun_{dest}") for _, dest, _, _ in OPTIONS}
    ini: dict[str, Any] = {dest: config.getini(ini) for _, dest, ini, _ in OPTIONS}
    for switch in ("strict", "quarantine"):
        flags[switch] = config.getoption(f"testrun_{switch}")
        value = _ini_bool(config, f"testrun_{switch}", switch, problems)
        ini[switch] = None if value is None else str(value)
    return ClientSettings.resolve(flags=flags, env=env, ini=ini, flag_prefix="--testrun-", problems=problems)


def default_label() -> str:
    return f"pytest-py{sys.version_info.major}.{sys.version_info.minor}-{sys.platform}"


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """A setting that cannot be used never stops the tests: it is a warning, unless strict mode asks otherwise."""
    env = os.environ
    problems: dict[str, ConfigError] = {}
    worker = hasattr(config, "workerinput")
    enabled = not worker and is_enabled(config, env, problems)
    gated = is_enabled(config, env, problems, "quarantine")
    if worker:
        # an xdist worker stops at --maxfail on its own count, so it takes quarantined failures out of it too
        if gated and config.getvalue("maxfail"):
            _register_gate(config, settings_from(config, env, {}), controller=False)
        return
    if not enabled and not gated and not problems:
        return
    settings = settings_from(config, env, problems)
    if problems and settings.strict:
        said = "; ".join(str(problem) for problem in problems.values())
        raise pytest.UsageError(f"testrun: {said} (strict mode stops here; without it this is a warning and the tests run)")
    if gated:
        _register_gate(config, settings, controller=True)
    if not enabled:
        if "report" in problems:
            notice = Notice([f"{problems['report']}: not reporting this session"])
            config.stash[notice_key] = notice
            config.pluginmanager.register(notice, "testrun-notice")
        return
    from junit_uploader.ci import detect_ci

    from .reporter import TestrunReporter

    # the checkout's git tells a local run's commit and branch; read at the start, as the tests saw the tree
    ci = detect_ci(env, checkout=config.rootpath)
    reporter = TestrunReporter(settings, ci=ci, label=default_label(), problems=problems)
    config.stash[reporter_key] = reporter
    config.pluginmanager.register(reporter, "testrun-reporter")


def _register_gate(config: pytest.Config, settings: ClientSettings, *, controller: bool) -> None:
    from .gate import QuarantineGate

    gate = QuarantineGate(settings, controller=controller)
    config.stash[gate_key] = gate
    config.pluginmanager.register(gate, "testrun-quarantine")


class Notice:
    """Warnings of a session that is not reported, shown where the reporter's lines would be."""

    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for warning in self.warnings:
            terminalreporter.write_line(f"testrun: warning: {warning}", yellow=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    reporter = config.stash.get(reporter_key, None)
    if reporter is not None:
        del config.stash[reporter_key]
        config.pluginmanager.unregister(reporter)
    notice = config.stash.get(notice_key, None)
    if notice is not None:
        del config.stash[notice_key]
        config.pluginmanager.unregister(notice)
    gate = config.stash.get(gate_key, None)
    if gate is not None:
        del config.stash[gate_key]
        config.pluginmanager.unregister(gate)
