"""Client settings, shared by junit-upload and the pytest plugin.

Resolved once: flag > ``TESTRUN_*`` environment > ini (the plugin's) > default.
Nothing else reads the environment; code takes a ClientSettings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError

DEFAULT_SPOOL_DIR = Path(".testrun-spool")


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false (1/0, yes/no, on/off)")


def parse_positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number < float("inf"):
        raise ValueError("must be a number of seconds above 0")
    return number


def parse_retries(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= 100:
        raise ValueError("must be a whole number from 0 to 100")
    return number


def parse_url(value: str) -> str:
    url = value.strip().rstrip("/")
    if "://" not in url and url:
        raise ValueError(f"must start with http:// or https://, e.g. http://{url}")
    if not url.startswith(("http://", "https://")) or len(url) < 9:
        raise ValueError("must be the collector's http:// or https:// URL, e.g. http://127.0.0.1:8080")
    return url


#: the most tests a collector takes in one batch
BATCH_TESTS_MAX = 10_000


def parse_batch_tests(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= BATCH_TESTS_MAX:
        raise ValueError("must be a whole number of tests from 0 (send the run whole, at the end) to 10,000")
    return number


def _is_true(value: str) -> bool:
    """GitHub sets GITHUB_ACTIONS=true; anything else is not GitHub Actions."""
    return value.strip().lower() == "true"


def _text(value: str) -> str | None:
    return value.strip() or None


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    url: str | None = None
    token: str | None = field(default=None, repr=False)
    label: str | None = None
    run_id: str | None = None
    timeout_s: float = 10.0
    retries: int = 5
    max_total_s: float = 120.0
    spool_dir: Path = DEFAULT_SPOOL_DIR
    strict: bool = False
    output: Path | None = None
    #: where to write the Markdown job summary (overwritten), besides GitHub's step summary
    summary: Path | None = None
    #: GitHub Actions' step summary file (GITHUB_STEP_SUMMARY): the job summary is appended to it
    step_summary: Path | None = None
    #: print GitHub Actions annotations for the author's failures (GITHUB_ACTIONS=true)
    annotate: bool = False
    #: quarantined tests' failures do not fail the job (the project's list is fetched from the collector)
    quarantine: bool = False
    #: the pytest plugin sends results in batches of this many while the session runs (0: all at the end)
    batch_tests: int = 2000

    @classmethod
    def resolve(
        cls,
        *,
        flags: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        ini: Mapping[str, Any] | None = None,
        flag_prefix: str = "--",
        problems: dict[str, ConfigError] | None = None,
    ) -> ClientSettings:
        """Each source maps setting names to raw values; None (or absent) means not given there.

        ``flag_prefix`` is how the caller's flags are spelled in messages
        (``--`` for junit-upload, ``--testrun-`` for the pytest plugin).
        A value that cannot be used raises ConfigError, unless ``problems`` is
        given: then the error is kept there under the setting's name, and the
        setting keeps its default (the pytest plugin, whose settings must never
        stop the tests, warns instead).
        """
        values: dict[str, Any] = {}
        for name in (f.name for f in dataclasses.fields(cls)):
            variable = ENV_NAMES[name]
            sources = (
                ((flags or {}).get(name), f"{flag_prefix}{FLAG_NAMES[name]}"),
                ((env or {}).get(variable), f"environment variable {variable}"),
                ((ini or {}).get(name), f"ini option testrun_{name}"),
            )
            for raw, where in sources:
                if raw is None or (isinstance(raw, str) and raw == "" and name != "strict"):
                    continue
                try:
                    values[name] = _convert(name, raw, where)
                except ConfigError as error:
                    if problems is None:
                        raise
                    problems[name] = error
                break
        return cls(**values)


FLAG_NAMES = {
    "url": "url",
    "token": "token",
    "label": "label",
    "run_id": "run-id",
    "timeout_s": "timeout",
    "retries": "retries",
    "max_total_s": "max-total-time",
    "spool_dir": "spool-dir",
    "strict": "strict",
    "output": "output",
    "summary": "summary",
    "step_summary": "step-summary",
    "annotate": "annotate",
    "quarantine": "quarantine",
    "batch_tests": "batch-tests",
}

ENV_NAMES = {
    "url": "TESTRUN_URL",
    "token": "TESTRUN_TOKEN",
    "label": "TESTRUN_LABEL",
    "run_id": "TESTRUN_RUN_ID",
    "timeout_s": "TESTRUN_TIMEOUT",
    "retries": "TESTRUN_RETRIES",
    "max_total_s": "TESTRUN_MAX_TOTAL_TIME",
    "spool_dir": "TESTRUN_SPOOL_DIR",
    "strict": "TESTRUN_STRICT",
    "output": "TESTRUN_OUTPUT",
    "summary": "TESTRUN_SUMMARY",
    "step_summary": "GITHUB_STEP_SUMMARY",
    "annotate": "GITHUB_ACTIONS",
    "quarantine": "TESTRUN_QUARANTINE",
    "batch_tests": "TESTRUN_BATCH_TESTS",
}

_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "url": parse_url,
    "token": _text,
    "label": _text,
    "run_id": _text,
    "timeout_s": parse_positive_float,
    "retries": parse_retries,
    "max_total_s": parse_positive_float,
    "spool_dir": Path,
    "strict": parse_bool,
    "output": Path,
    "summary": Path,
    "step_summary": Path,
    "annotate": _is_true,
    "quarantine": parse_bool,
    "batch_tests": parse_batch_tests,
}


def _convert(name: str, raw: Any, where: str) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return _CONVERTERS[name](raw)
    except ValueError as exc:
        reason = str(exc) if "must" in str(exc) else "is not a valid value"
        shown = "<hidden>" if name == "token" else repr(raw)
        raise ConfigError(f"{where}={shown} {reason}") from None
