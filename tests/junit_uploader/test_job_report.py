"""junit-upload in a pull request's job on GitHub Actions: the verdict printed, the job summary, annotations."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from collector_harness import CollectorProcess, ProjectAccess, a_run, new_project
from markdown_tables import rendered

from junit_uploader.cli import main

REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="CartTest" tests="5" failures="4">
    <testcase classname="com.acme.CartTest" name="addsItem" file="src/test/java/com/acme/CartTest.java" line="12"/>
    <testcase classname="com.acme.CartTest" name="total" file="src/test/java/com/acme/CartTest.java" line="30">
      <failure message="expected:&lt;42&gt; but was:&lt;41&gt;">at CartTest.total(CartTest.java:31)</failure>
    </testcase>
    <testcase classname="com.acme.CartTest" name="pipe|and`tick`" file="src/test/java/com/acme/CartTest.java" line="40">
      <failure message="a | b `c` &lt;script&gt;alert(1)&lt;/script&gt;&#10;second line"/>
    </testcase>
    <testcase classname="com.acme.CartTest" name="new&#10;line" file="src/test/java/com/acme/CartTest.java" line="50">
      <failure message="50% done, 1:2"/>
    </testcase>
    <testcase classname="com.acme.CartTest" name="legacy">
      <error message="NullPointerException"/>
    </testcase>
  </testsuite>
</testsuites>
"""
TOTAL, PIPE, NEWLINE, LEGACY = (
    "com.acme.CartTest::total", "com.acme.CartTest::pipe|and`tick`", "com.acme.CartTest::new␊line",
    "com.acme.CartTest::legacy",
)
PULL_REQUEST = {
    "CI": "true",
    "GITHUB_ACTIONS": "true",
    "GITHUB_EVENT_NAME": "pull_request",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_RUN_ID": "8001",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_JOB": "java",
    "GITHUB_SHA": "beefbeefbeefbeefbeefbeefbeefbeefbeefbeef",
    "GITHUB_REF": "refs/pull/7/merge",
    "GITHUB_HEAD_REF": "feature/total",
    "GITHUB_BASE_REF": "main",
    "GITHUB_SERVER_URL": "https://github.com",
}


def upload(report: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(report), *args], env=env, stdout=out, stderr=err, cwd=report.parent)
    return code, out.getvalue(), err.getvalue()


def job(tmp_path: Path, **extra: str) -> dict[str, str]:
    summary = tmp_path / "step_summary.md"
    return {**PULL_REQUEST, "GITHUB_STEP_SUMMARY": str(summary), "TESTRUN_SPOOL_DIR": str(tmp_path / "spool"), **extra}


def main_history(project: ProjectAccess) -> None:
    """On main: total, pipe|and`tick` and addsItem passed; legacy has been failing since main-2."""
    known = ["com.acme.CartTest::addsItem", TOTAL, PIPE]
    for run_id, commit, legacy in (("main-1", "c1", "passed"), ("main-2", "c2", "error")):
        tests = [{"id": t, "status": "passed"} for t in known] + [{"id": LEGACY, "status": legacy}]
        assert project.post_run(a_run(run_id, vcs={"commit": commit, "branch": "main"}, tests=tests)).status_code == 201


def test_junit_upload_tells_a_pull_request_job_which_failures_are_its_own(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    project = new_project(collector)
    main_history(project)
    report = tmp_path / "TEST-CartTest.xml"
    report.write_text(REPORT, encoding="utf-8")
    env = job(tmp_path, TESTRUN_URL=project.url, TESTRUN_TOKEN=project.ingest_token)

    code, out, err = upload(report, env, "--summary", str(tmp_path / "summary.md"))

    assert code == 0
    lines = err.splitlines()
    assert "(201 created)" in lines[0]
    assert lines[1] == "testrun: 4 failures — 2 regressions, 1 new test, 1 failing on main"
    assert re.search(r"failing on main +com\.acme\.CartTest::legacy since \d{4}-\d\d-\d\d \(run main-2\)", err)
    assert out.splitlines() == [
        "::error file=src/test/java/com/acme/CartTest.java,line=30,title=regression%3A com.acme.CartTest%3A%3Atotal"
        "::expected:<42> but was:<41>",
        "::error file=src/test/java/com/acme/CartTest.java,line=40,title=regression%3A "
        "com.acme.CartTest%3A%3Apipe|and`tick`::a | b `c` <script>alert(1)</script>%0Asecond line",
        "::error file=src/test/java/com/acme/CartTest.java,line=50,title=new test%3A com.acme.CartTest%3A%3Anew␊line"
        "::50%25 done, 1:2",
    ]
    for name in ("step_summary.md", "summary.md"):
        html = rendered((tmp_path / name).read_text(encoding="utf-8"))
        failures = html.tables[0]
        assert all(len(row) == 4 for row in failures) and len(failures) == 1 + 4
        assert [row[:2] for row in failures[1:]] == [
            [TOTAL, "regression"], [PIPE, "regression"], [NEWLINE, "new test"], [LEGACY, "failing on main"],
        ]
        assert failures[2][3] == "a | b `c` <script>alert(1)</script>"
        assert "script" not in html.tags


def test_with_the_collector_down_junit_upload_writes_the_summary_from_the_report_alone(tmp_path: Path) -> None:
    from test_cli import closed_port_url

    report = tmp_path / "TEST-CartTest.xml"
    report.write_text(REPORT, encoding="utf-8")
    env = job(tmp_path, TESTRUN_URL=closed_port_url(), TESTRUN_TOKEN="testrun_x", TESTRUN_RETRIES="0")

    code, out, err = upload(report, env)

    assert code == 0 and out == ""
    assert len(err.splitlines()) == 1 and "not uploaded" in err
    text = (tmp_path / "step_summary.md").read_text(encoding="utf-8")
    assert text.startswith("## testrun: 4 failures, not classified\n")
    assert "Classification unavailable: the run was not stored" in text
    failures = rendered(text).tables[0]
    assert failures[0] == ["Test", "Status", "Message"] and all(len(row) == 3 for row in failures)
    assert [row[0] for row in failures[1:]] == [TOTAL, PIPE, NEWLINE, LEGACY]


def test_outside_github_actions_nothing_is_annotated_and_only_the_named_summary_is_written(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    project = new_project(collector)
    report = tmp_path / "TEST-CartTest.xml"
    report.write_text(REPORT, encoding="utf-8")
    env: dict[str, Any] = {"TESTRUN_URL": project.url, "TESTRUN_TOKEN": project.ingest_token,
                           "TESTRUN_SUMMARY": str(tmp_path / "out" / "summary.md")}

    code, out, err = upload(report, env)

    assert code == 0 and out == ""
    assert "4 failures — 4 new tests" in err
    assert (tmp_path / "out" / "summary.md").read_text(encoding="utf-8").startswith("## testrun: 4 failures — 4 new tests")
    assert not (tmp_path / "step_summary.md").exists()
