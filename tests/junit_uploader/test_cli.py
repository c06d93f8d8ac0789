"""junit-upload through its entry point, against a real collector where it sends."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from collector_harness import CollectorProcess, ProjectAccess, new_project
from junit_uploader.cli import main

REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="com.acme.CartTest" tests="4" failures="1" errors="0" skipped="1" time="1.5"
             timestamp="2026-01-12T10:00:00">
    <testcase classname="com.acme.CartTest" name="addsItem" time="0.5"/>
    <testcase classname="com.acme.CartTest" name="removesItem" time="0.25">
      <failure message="expected 1 but was 2" type="AssertionError">java.lang.AssertionError: expected 1 but was 2
    at com.acme.CartTest.removesItem(CartTest.java:42)</failure>
    </testcase>
    <testcase classname="com.acme.CartTest" name="emptiesCart" time="0.75"/>
    <testcase classname="com.acme.CartTest" name="checksOut" time="0">
      <skipped message="payment sandbox down"/>
    </testcase>
  </testsuite>
</testsuites>
"""

GITHUB_ENV = {
    "CI": "true",
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_RUN_ID": "9127",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_JOB": "test",
    "GITHUB_SHA": "3f2a9c1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
    "GITHUB_REF_NAME": "main",
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_WORKFLOW": "CI",
}


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "build" / "test-results" / "TEST-com.acme.CartTest.xml"
    path.parent.mkdir(parents=True)
    path.write_text(REPORT, encoding="utf-8")
    return path


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), env=env or {}, stdout=out, stderr=err, cwd=cwd)
    return code, out.getvalue(), err.getvalue()


def upload_env(project: ProjectAccess, spool: Path, **extra: str) -> dict[str, str]:
    return {
        **GITHUB_ENV,
        "TESTRUN_URL": project.url,
        "TESTRUN_TOKEN": project.ingest_token,
        "TESTRUN_SPOOL_DIR": str(spool),
        **extra,
    }


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_dry_run_prints_the_exact_payload_and_needs_no_token(report: Path) -> None:
    code, out, err = run("--dry-run", str(report), env=GITHUB_ENV)

    assert code == 0
    payload = json.loads(out)
    assert [t["status"] for t in payload["tests"]] == ["passed", "failed", "passed", "skipped"]
    assert payload["tests"][1]["message"] == "expected 1 but was 2"
    assert payload["vcs"]["commit"] == GITHUB_ENV["GITHUB_SHA"]
    assert payload["ci"]["provider"] == "github"
    assert payload["run_id"].startswith("github:")
    assert payload["reporter"]["name"] == "junit-upload"
    assert err.startswith("testrun: 4 results (1 failed, 1 skipped) in run github:")


def test_the_same_job_gives_the_same_run_id_and_another_label_another(report: Path) -> None:
    first = json.loads(run("--dry-run", str(report), env=GITHUB_ENV)[1])["run_id"]
    again = json.loads(run("--dry-run", str(report), env=GITHUB_ENV)[1])["run_id"]
    leg = json.loads(run("--dry-run", "--label", "jdk21", str(report), env=GITHUB_ENV)[1])["run_id"]

    assert first == again
    assert leg != first and leg.endswith(":jdk21")


def test_a_pattern_that_matches_nothing_is_exit_2_and_nothing_is_sent(tmp_path: Path) -> None:
    code, out, err = run("--url", closed_port_url(), "no/such/*.xml", env={"TESTRUN_TOKEN": "x"}, cwd=tmp_path)

    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "no/such/*.xml" in err and "nothing was uploaded" in err


def test_malformed_xml_is_exit_2_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text("<testsuite><testcase name='a'></testsuite>")

    code, _, err = run("--dry-run", str(broken))

    assert code == 2
    assert "broken.xml" in err and err.count("\n") == 1


def test_a_url_without_a_scheme_is_exit_2_with_one_line_saying_what_it_should_look_like(report: Path) -> None:
    code, out, err = run(str(report), env={**GITHUB_ENV, "TESTRUN_URL": "127.0.0.1:8080", "TESTRUN_TOKEN": "x"})

    assert (code, out) == (2, "")
    assert err == (
        "testrun: error: environment variable TESTRUN_URL='127.0.0.1:8080' must start with http:// or https://, "
        "e.g. http://127.0.0.1:8080\n"
    )


def test_resend_of_a_directory_that_does_not_exist_is_exit_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-spool"

    code, out, err = run("--resend", str(missing), env={"TESTRUN_URL": closed_port_url(), "TESTRUN_TOKEN": "x"})

    assert (code, out) == (2, "")
    assert err == (
        f"testrun: error: cannot re-send: the spool directory {missing} does not exist "
        "(check the path given to --resend)\n"
    )
    assert not missing.exists()


def test_resend_of_an_empty_spool_directory_has_nothing_to_send_and_exits_0(tmp_path: Path) -> None:
    code, out, err = run("--resend", str(tmp_path), env={"TESTRUN_URL": closed_port_url(), "TESTRUN_TOKEN": "x"})

    assert (code, out, err) == (0, "", f"testrun: nothing to re-send in {tmp_path}\n")


def test_resend_without_a_directory_has_nothing_to_send_when_no_run_was_ever_spooled(tmp_path: Path) -> None:
    env = {"TESTRUN_URL": closed_port_url(), "TESTRUN_TOKEN": "x", "TESTRUN_SPOOL_DIR": str(tmp_path / "spool")}

    code, out, err = run("--resend", env=env)

    assert (code, out, err) == (0, "", f"testrun: nothing to re-send in {tmp_path / 'spool'}\n")


def test_upload_stores_the_run_and_it_reads_back(collector: CollectorProcess, report: Path, tmp_path: Path) -> None:
    project = new_project(collector)

    code, _, err = run(str(report), env=upload_env(project, tmp_path / "spool"))

    assert code == 0, err
    assert "4 results (1 failed, 1 skipped) → run github:" in err and "(201 created)" in err
    runs = project.get("/api/v1/runs").json()["runs"]
    assert len(runs) == 1
    assert runs[0]["counts"]["total"] == 4 and runs[0]["counts"]["failed"] == 1
    assert runs[0]["vcs"]["branch"] == "main"
    stored = project.get(runs[0]["url"]).json()
    failure = stored["tests"][0]  # a run's tests read back failures first
    assert (failure["id"], failure["status"]) == ("com.acme.CartTest::removesItem", "failed")
    assert failure["message"] == "expected 1 but was 2"
    assert sorted(test["id"] for test in stored["tests"]) == [
        "com.acme.CartTest::addsItem",
        "com.acme.CartTest::checksOut",
        "com.acme.CartTest::emptiesCart",
        "com.acme.CartTest::removesItem",
    ]


def test_uploading_the_same_job_twice_is_a_duplicate_not_a_second_run(
    collector: CollectorProcess, report: Path, tmp_path: Path
) -> None:
    project = new_project(collector)
    env = upload_env(project, tmp_path / "spool")

    run(str(report), env=env)
    code, _, err = run(str(report), env=env)

    assert code == 0
    assert "(200 duplicate: already stored)" in err
    assert len(project.get("/api/v1/runs").json()["runs"]) == 1


def test_a_conflicting_upload_explains_labels(collector: CollectorProcess, report: Path, tmp_path: Path) -> None:
    project = new_project(collector)
    env = upload_env(project, tmp_path / "spool", TESTRUN_RUN_ID="fixed-run")
    run(str(report), env=env)
    report.write_text(REPORT.replace('name="emptiesCart" time="0.75"/>', 'name="emptiesCart"><error message="boom"/></testcase>'))

    code, _, err = run(str(report), env=env)
    strict_code, _, _ = run("--strict", str(report), env=env)

    assert code == 0 and strict_code == 1
    assert "409" in err and "TESTRUN_LABEL" in err


def test_with_the_collector_down_it_spools_exits_0_and_resend_stores_it_once(
    collector: CollectorProcess, report: Path, tmp_path: Path
) -> None:
    project = new_project(collector)
    spool = tmp_path / "spool"
    down = {**upload_env(project, spool), "TESTRUN_URL": closed_port_url(), "TESTRUN_RETRIES": "1",
            "TESTRUN_TIMEOUT": "1", "TESTRUN_MAX_TOTAL_TIME": "5"}

    code, _, err = run(str(report), env=down)
    strict_code, _, _ = run("--strict", str(report), env=down)

    assert (code, strict_code) == (0, 1)
    assert "not uploaded" in err and f"junit-upload --resend {spool}" in err
    assert len(list(spool.glob("*.json"))) == 1
    up = upload_env(project, spool)
    assert run("--resend", str(spool), env=up)[0] == 0
    assert run("--resend", str(spool), env=up)[0] == 0
    assert list(spool.glob("*.json")) == []
    assert len(project.get("/api/v1/runs").json()["runs"]) == 1


def test_an_https_url_of_the_plain_http_collector_is_one_line_saying_to_use_http_and_the_run_is_spooled(
    collector: CollectorProcess, report: Path, tmp_path: Path
) -> None:
    project = new_project(collector)
    spool = tmp_path / "spool"
    https_url = project.url.replace("http://", "https://", 1)

    code, _, err = run(str(report), env=upload_env(project, spool, TESTRUN_URL=https_url))

    assert code == 0
    [spooled] = spool.glob("run-*.json")
    assert err == (
        f"testrun: warning: not uploaded: TLS handshake with {https_url} failed: is the collector serving plain "
        f"HTTP? use {project.url}; saved to {spooled}; re-send it with: junit-upload --resend {spool}\n"
    )


def test_a_url_of_the_web_page_is_one_line_saying_so_without_the_html(
    collector: CollectorProcess, report: Path, tmp_path: Path
) -> None:
    project = new_project(collector)
    spool = tmp_path / "spool"

    code, _, err = run(str(report), env=upload_env(project, spool, TESTRUN_URL=f"{project.url}/ui"))

    assert code == 0
    [spooled] = spool.glob("run-*.json")
    assert err == (
        f"testrun: warning: not uploaded: the server at {project.url}/ui answered an HTML page (HTTP 405), not the "
        "collector's API: set TESTRUN_URL to the collector's base URL, without /ui; "
        f"saved to {spooled}; re-send it with: junit-upload --resend {spool}\n"
    )


def test_a_bad_token_is_explained_and_spooled_and_strict_fails(
    collector: CollectorProcess, report: Path, tmp_path: Path
) -> None:
    project = new_project(collector)
    env = upload_env(project, tmp_path / "spool", TESTRUN_TOKEN=project.ingest_token[:-3] + "abc")

    code, _, err = run(str(report), env=env)

    assert code == 0
    assert "401" in err and "TESTRUN_TOKEN" in err
    assert list((tmp_path / "spool").glob("*.json"))


def test_the_token_never_appears_in_any_output(collector: CollectorProcess, report: Path, tmp_path: Path) -> None:
    project = new_project(collector)
    spool = tmp_path / "spool"
    outputs: list[str] = []
    for env in (
        upload_env(project, spool),
        upload_env(project, spool),
        {**upload_env(project, spool), "TESTRUN_URL": closed_port_url(), "TESTRUN_RETRIES": "0"},
        upload_env(project, spool, TESTRUN_RUN_ID="other", TESTRUN_TOKEN=project.read_token),
    ):
        for args in (["-v", str(report)], ["--resend", str(spool)]):
            code, out, err = run(*args, env=env)
            outputs += [out, err]
    outputs += [p.name for p in spool.rglob("*")] + [p.read_text() for p in spool.rglob("*.json")]

    for token in (project.ingest_token, project.read_token):
        assert all(token not in text for text in outputs)


def test_output_writes_the_payload_and_without_a_url_only_writes(report: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "payload.json"

    code, out, err = run("--output", str(target), str(report), env=GITHUB_ENV)

    assert code == 0 and out == ""
    assert json.loads(target.read_text())["tests"][0]["id"] == "com.acme.CartTest::addsItem"


def test_help_lists_every_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "junit_uploader.cli", "--help"], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0
    for option in ("--url", "--label", "--run-id", "--dry-run", "--output", "--strict", "--resend", "--timeout",
                   "--retries", "-q", "-v", "TESTRUN_TOKEN", "TESTRUN_URL"):
        assert option in result.stdout


def test_an_unwritable_output_file_is_exit_2(report: Path, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file")

    code, _, err = run("--output", str(tmp_path / "blocker" / "out.json"), str(report), env=GITHUB_ENV)

    assert code == 2
    assert "cannot write --output" in err and err.count("\n") == 1


def test_a_dry_run_piped_into_a_reader_that_stops_early_exits_quietly(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    cases = "".join(f'<testcase classname="c" name="t{i}" time="0.1"/>' for i in range(5000))
    big.write_text(f'<testsuite name="s">{cases}</testsuite>')
    reader = subprocess.Popen(
        [sys.executable, "-m", "junit_uploader.cli", "--dry-run", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None
    reader.stdout.read(10)
    reader.stdout.close()
    _, err = reader.communicate(timeout=60)

    assert reader.returncode == 0
    assert b"Traceback" not in err
