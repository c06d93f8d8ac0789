"""A pull request's pytest job on GitHub Actions: the verdict printed, the job summary, the annotations.

Real pytest sessions (pytester) with the plugin, against a real collector that
holds the project's history on main, in an environment shaped like a GitHub
Actions pull-request job (its variables, a step summary file).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests

from collector_harness import ProjectAccess, a_run
from markdown_tables import rendered
from test_end_to_end import closed_port_url

SUITE = '''
import pytest

def test_stays_green():
    pass

def test_broke_here():
    assert 41 == 42

def test_broken_on_main():
    raise RuntimeError("database is gone")

def test_brand_new():
    assert "new" == "old"

@pytest.mark.parametrize("name", ["a|b", "`rm -rf /`", "<script>alert(1)</script>", "www.evil.example"])
def test_hostile(name):
    raise AssertionError(f"{name} | `tick` <b>bold</b>\\nsecond line")
'''
IDS = {
    "green": "test_pr.py::test_stays_green",
    "broke": "test_pr.py::test_broke_here",
    "main": "test_pr.py::test_broken_on_main",
    "new": "test_pr.py::test_brand_new",
}
HOSTILE = [f"test_pr.py::test_hostile[{name}]" for name in ("a|b", "`rm -rf /`", "<script>alert(1)</script>",
                                                              "www.evil.example")]
PULL_REQUEST = {
    "CI": "true",
    "GITHUB_ACTIONS": "true",
    "GITHUB_EVENT_NAME": "pull_request",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_RUN_ID": "7001",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_JOB": "pytest",
    "GITHUB_SHA": "feedfacefeedfacefeedfacefeedfacefeedface",
    "GITHUB_REF": "refs/pull/42/merge",
    "GITHUB_REF_NAME": "42/merge",
    "GITHUB_HEAD_REF": "feature/cart",
    "GITHUB_BASE_REF": "main",
    "GITHUB_SERVER_URL": "https://github.com",
}


def main_history(project: ProjectAccess) -> None:
    """main: everything passed once; then test_broken_on_main started failing there, twice."""
    old = [IDS["green"], IDS["broke"], IDS["main"], *HOSTILE]
    runs = [("main-1", "c1", []), ("main-2", "c2", [IDS["main"]]), ("main-3", "c3", [IDS["main"]])]
    for run_id, commit, failing in runs:
        tests = [{"id": t, "status": "failed" if t in failing else "passed"} for t in old]
        answer = project.post_run(a_run(run_id, vcs={"commit": commit, "branch": "main"}, tests=tests))
        assert answer.status_code == 201, answer.text


def pull_request_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **extra: str) -> Path:
    summary = tmp_path / "step_summary.md"
    summary.write_text("## an earlier step's summary\n", encoding="utf-8")
    for name, value in {**PULL_REQUEST, "GITHUB_STEP_SUMMARY": str(summary), **extra}.items():
        monkeypatch.setenv(name, value)
    return summary


def printed_lines(result: Any) -> list[str]:
    return [line for line in result.outlines if line.startswith("testrun:")]


def test_a_pull_request_job_says_which_failures_are_its_own(
    pytester: pytest.Pytester, project: ProjectAccess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    main_history(project)
    summary = pull_request_job(monkeypatch, tmp_path, TESTRUN_URL=project.url, TESTRUN_TOKEN=project.ingest_token)
    pytester.makepyfile(test_pr=SUITE)

    result = pytester.runpytest("--testrun-report")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lines = printed_lines(result)
    assert lines[0].startswith("testrun: 8 results (7 failed) → run github:acme/shop:7001:1:pytest:")
    assert lines[1] == "testrun: 7 failures — 5 regressions, 1 new test, 1 failing on main"
    assert lines[2].split()[1:3] == ["regression", IDS["broke"]]
    assert any("failing on main" in line and IDS["main"] in line and "since" in line and "(run main-2)" in line
               for line in lines[2:])
    assert any(line.split()[1:4] == ["new", "test", IDS["new"]] for line in lines[2:])

    commands = [line for line in result.outlines if line.startswith("::error ")]
    assert len(commands) == 6  # the five regressions and the new test; never the one failing on main
    assert re.match(r"::error file=test_pr\.py,line=\d+,title=regression%3A test_pr\.py%3A%3Atest_broke_here::", commands[0])
    assert "assert 41 == 42" in commands[0]
    assert not any("test_broken_on_main" in command for command in commands)
    assert all("\n" not in command for command in commands)

    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## an earlier step's summary\n## testrun: 7 failures — 5 regressions")  # appended
    html = rendered(text)
    failures = html.tables[0]
    assert failures[0] == ["Test", "Class", "Since", "Message"]
    assert all(len(row) == 4 for row in failures) and len(failures) == 1 + 7
    assert {row[0] for row in failures[1:]} == {*IDS.values(), *HOSTILE} - {IDS["green"]}
    assert "script" not in html.tags and "b" not in html.tags
    web = [link for link in html.links if "/ui/runs/" in link]
    assert web and requests.get(web[0], timeout=30, allow_redirects=False).status_code in (200, 303)


def test_with_the_collector_down_the_summary_comes_from_the_local_results_and_nothing_is_annotated(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = pull_request_job(
        monkeypatch, tmp_path, TESTRUN_URL=closed_port_url(), TESTRUN_TOKEN="testrun_x",
        TESTRUN_RETRIES="0", TESTRUN_SPOOL_DIR=str(tmp_path / "spool"),
    )
    pytester.makepyfile(test_pr=SUITE)

    result = pytester.runpytest("--testrun-report", f"--testrun-summary={tmp_path / 'own.md'}")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lines = printed_lines(result)
    assert len(lines) == 1 and "not uploaded" in lines[0] and "saved to" in lines[0]
    assert not [line for line in result.outlines if line.startswith("::")]
    for text in (summary.read_text(encoding="utf-8"), (tmp_path / "own.md").read_text(encoding="utf-8")):
        assert "## testrun: 7 failures, not classified" in text
        assert "Classification unavailable: the run was not stored" in text
        failures = rendered(text).tables[0]
        assert failures[0] == ["Test", "Status", "Message"] and all(len(row) == 3 for row in failures)
        assert len(failures) == 1 + 7


def test_every_test_passing_makes_a_short_summary_and_no_annotation(
    pytester: pytest.Pytester, project: ProjectAccess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = pull_request_job(monkeypatch, tmp_path, TESTRUN_URL=project.url, TESTRUN_TOKEN=project.ingest_token)
    pytester.makepyfile(test_pr="def test_a():\n    pass\n")

    result = pytester.runpytest("--testrun-report")

    assert result.ret == pytest.ExitCode.OK
    assert printed_lines(result)[1:] == ["testrun: no failures"]
    assert "## testrun: no failures" in summary.read_text(encoding="utf-8")
    assert not [line for line in result.outlines if line.startswith("::")]
