"""What both producers tell the CI job after an upload: the verdict, the job summary, annotations.

The terminal gets the verdict in a few lines; the Markdown job summary is
written to ``--summary``/``TESTRUN_SUMMARY`` (replaced) and appended to
GitHub Actions' step summary when GitHub sets ``GITHUB_STEP_SUMMARY``; on
GitHub Actions the author's failures (regressions, new tests) also become
``::error`` annotations. When no verdict came back, the lines and the summary
are made from the local results and say why the failures are not classified.
Nothing here raises: a summary file that cannot be written is a warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .delivery import Delivery
from .settings import ClientSettings
from .summary import github_annotations, markdown, unclassified_lines, verdict_lines

NO_VERDICT = "the collector answered without a verdict (it is older than verdicts)"


@dataclass
class JobReport:
    lines: list[str] = field(default_factory=list)
    """For the terminal, after the upload line."""
    annotations: list[str] = field(default_factory=list)
    """GitHub workflow commands, for standard output."""
    warnings: list[str] = field(default_factory=list)


def report_to_job(
    settings: ClientSettings, tests: Sequence[Mapping[str, Any]], delivery: Delivery | None, run_id: str
) -> JobReport:
    """``delivery`` is None when nothing was sent (no collector URL)."""
    report = JobReport()
    accepted = delivery.accepted if delivery is not None else None
    verdict = accepted.verdict if accepted is not None else None
    if verdict is not None:
        report.lines = verdict_lines(verdict)
        if settings.annotate:
            report.annotations = github_annotations(tests, verdict)
        why = None
    else:
        why = _why_unclassified(delivery)
        if accepted is not None:  # stored, but not judged; a run not stored was just said so
            report.lines = unclassified_lines(tests, why)
    targets = [(path, "w") for path in (settings.summary,) if path is not None]
    targets += [(path, "a") for path in (settings.step_summary,) if path is not None]
    if targets:
        text = markdown(tests, verdict, run_id=run_id, run_page=accepted.web_url if accepted else None,
                        unavailable=why)
        for path, mode in targets:
            problem = _write(path, text, mode)
            if problem:
                report.warnings.append(problem)
    return report


def _why_unclassified(delivery: Delivery | None) -> str:
    if delivery is None:
        return "the run was not sent (no collector URL)"
    if delivery.accepted is not None:
        return NO_VERDICT
    return f"the run was not stored ({delivery.error})"


def _write(path: Path, text: str, mode: str) -> str | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open(mode, encoding="utf-8") as file:
            file.write(text)
    except OSError as error:
        return f"could not write the job summary to {path}: {error.strerror or type(error).__name__}"
    return None
