"""pytest --testrun-report against a real collector on a loopback port."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from collector_harness import CollectorProcess, ProjectAccess, new_project
from junit_uploader.cli import main as junit_upload

SUITE = """
import pytest

@pytest.mark.parametrize("n", range(40))
def test_numbers(n):
    assert n % 13 != 5

@pytest.mark.parametrize("n", range(5))
def test_skipped(n):
    pytest.skip("not today")

@pytest.mark.xfail(reason="known")
def test_known_bug():
    assert False

@pytest.fixture
def broken():
    raise RuntimeError("no database")

def test_needs_db(broken):
    pass
"""

CI_ENV = {
    "CI": "true",
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_RUN_ID": "5551",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_JOB": "pytest",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_REF_NAME": "main",
    "GITHUB_SERVER_URL": "https://github.com",
}


def in_ci(monkeypatch: pytest.MonkeyPatch, project: ProjectAccess, tmp_path: Path, **extra: str) -> Path:
    spool = tmp_path / "spool"
    for name, value in {**CI_ENV, "TESTRUN_URL": project.url, "TESTRUN_TOKEN": project.ingest_token,
                        "TESTRUN_SPOOL_DIR": str(spool), **extra}.items():
        monkeypatch.setenv(name, value)
    return spool


def printed_counts(output: str) -> dict[str, int]:
    final = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)][-1]
    words = {"passed": "passed", "failed": "failed", "errors": "error", "error": "error", "skipped": "skipped",
             "xfailed": "xfailed", "xpassed": "xpassed"}
    return {words[word]: int(n) for n, word in re.findall(r"(\d+) (\w+)", final) if word in words}


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_the_stored_run_has_exactly_the_counts_pytest_printed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, collector: CollectorProcess, tmp_path: Path
) -> None:
    project = new_project(collector)
    in_ci(monkeypatch, project, tmp_path)
    pytester.makepyfile(test_suite=SUITE)

    result = pytester.runpytest("--testrun-report")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["testrun: 47 results (3 failed, 1 error, 5 skipped) → run github:*(201 created)"])
    runs = project.get("/api/v1/runs").json()["runs"]
    assert len(runs) == 1
    stored = {k: v for k, v in runs[0]["counts"].items() if v and k not in ("total", "flaky")}
    assert stored == printed_counts(result.stdout.str())
    assert runs[0]["vcs"]["commit"] == CI_ENV["GITHUB_SHA"]
    assert runs[0]["status"] == "failed"


def test_the_same_ci_job_run_twice_is_one_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, collector: CollectorProcess, tmp_path: Path
) -> None:
    project = new_project(collector)
    in_ci(monkeypatch, project, tmp_path)
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass\n")

    pytester.runpytest("--testrun-report")
    again = pytester.runpytest("--testrun-report")

    again.stdout.fnmatch_lines(["testrun: 2 results → run github:*(200 duplicate: already stored)"])
    assert len(project.get("/api/v1/runs").json()["runs"]) == 1


def test_with_the_collector_down_the_exit_code_is_unchanged_and_the_spool_resends_later(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, collector: CollectorProcess, tmp_path: Path
) -> None:
    project = new_project(collector)
    spool = in_ci(monkeypatch, project, tmp_path, TESTRUN_URL=closed_port_url(), TESTRUN_RETRIES="1",
                  TESTRUN_TIMEOUT="1", TESTRUN_MAX_TOTAL_TIME="5")
    pytester.makepyfile("def test_a(): pass\ndef test_b(): assert 0\n")

    result = pytester.runpytest("--testrun-report")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"testrun: warning: not uploaded:*re-send it with: junit-upload --resend {spool}"])
    env = {"TESTRUN_URL": project.url, "TESTRUN_TOKEN": project.ingest_token}
    assert junit_upload(["--resend", str(spool)], env=env) == 0
    runs = project.get("/api/v1/runs").json()["runs"]
    assert [run["counts"]["total"] for run in runs] == [2]
    assert list(spool.glob("*.json")) == []


def test_passing_tests_stay_green_when_the_upload_fails_unless_strict(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, collector: CollectorProcess, tmp_path: Path
) -> None:
    project = new_project(collector)
    in_ci(monkeypatch, project, tmp_path, TESTRUN_TOKEN=project.read_token)
    pytester.makepyfile("def test_a(): pass\n")

    relaxed = pytester.runpytest("--testrun-report")
    strict = pytester.runpytest("--testrun-report", "--testrun-strict")

    assert relaxed.ret == pytest.ExitCode.OK
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines(["testrun: error: not uploaded:*403*"])
    assert project.read_token not in relaxed.stdout.str() + strict.stdout.str()
