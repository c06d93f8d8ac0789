"""``pytest --testrun-quarantine``: real sessions (pytester) against a real collector's quarantine list."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from collector_harness import CollectorProcess, ProjectAccess
from test_end_to_end import closed_port_url

SUITE = """
import pytest

def test_flaky_dns():
    assert False, "dns timed out"

def test_fine():
    pass

def test_also_flaky():
    raise RuntimeError("port in use")

def test_runs_last():
    pass
"""
FLAKY = ("test_gate_suite.py::test_flaky_dns", "test_gate_suite.py::test_also_flaky")


def quarantine(collector: CollectorProcess, project: ProjectAccess, *test_ids: str) -> None:
    minted = requests.post(f"{collector.url}/tokens", json={"project": project.slug, "scopes": ["triage"]},
                           headers={"Authorization": f"Bearer {collector.admin_token}"}, timeout=30)
    token = minted.json()["token"]
    for test_id in test_ids:
        answer = requests.post(f"{project.url}/api/v1/quarantine", json={"test_id": test_id, "reason": f"#12 {test_id}"},
                               headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert answer.status_code == 201, answer.text


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch, project: ProjectAccess) -> ProjectAccess:
    monkeypatch.setenv("TESTRUN_URL", project.url)
    monkeypatch.setenv("TESTRUN_TOKEN", project.ingest_token)
    return project


def lines(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("testrun:")]


def test_when_every_failure_is_quarantined_the_session_passes_and_says_why(
    pytester: pytest.Pytester, collector: CollectorProcess, gated: ProjectAccess
) -> None:
    quarantine(collector, gated, *FLAKY)
    pytester.makepyfile(test_gate_suite=SUITE)

    result = pytester.runpytest("--testrun-quarantine", "--testrun-report", "-p", "no:cacheprovider")

    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=2, failed=2)  # reported as they happened
    said = lines(result)
    assert f"testrun: quarantined: {FLAKY[0]} (#12 {FLAKY[0]})" in said
    assert f"testrun: quarantined: {FLAKY[1]} (#12 {FLAKY[1]})" in said
    assert "testrun: all 2 failures are quarantined: the session passes" in said
    [run] = gated.get("/api/v1/runs").json()["runs"]
    assert run["counts"]["failed"] == 2 and run["status"] == "failed"


def test_one_failure_more_than_the_quarantined_ones_fails_the_session_naming_it(
    pytester: pytest.Pytester, collector: CollectorProcess, gated: ProjectAccess
) -> None:
    quarantine(collector, gated, FLAKY[0])
    pytester.makepyfile(test_gate_suite=SUITE)

    result = pytester.runpytest("--testrun-quarantine")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    said = lines(result)
    assert "testrun: error: 1 of 2 failures is not quarantined:" in said
    assert f"testrun: error:   {FLAKY[1]}" in said


def test_a_quarantined_failure_does_not_count_toward_x_so_the_session_goes_on(
    pytester: pytest.Pytester, collector: CollectorProcess, gated: ProjectAccess
) -> None:
    quarantine(collector, gated, *FLAKY)
    pytester.makepyfile(test_gate_suite=SUITE)

    result = pytester.runpytest("--testrun-quarantine", "-x", "-v")

    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=2, failed=2)
    assert any("test_runs_last PASSED" in line for line in result.outlines)


def test_x_still_stops_at_the_first_failure_that_is_not_quarantined(
    pytester: pytest.Pytester, collector: CollectorProcess, gated: ProjectAccess
) -> None:
    quarantine(collector, gated, FLAKY[0])
    pytester.makepyfile(test_gate_suite=SUITE)

    result = pytester.runpytest("--testrun-quarantine", "-x")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=2)  # test_runs_last never ran


def test_under_xdist_the_gate_works_on_the_controller_and_maxfail_on_the_workers(
    pytester: pytest.Pytester, collector: CollectorProcess, gated: ProjectAccess
) -> None:
    quarantine(collector, gated, *FLAKY)
    pytester.makepyfile(test_gate_suite=SUITE)

    result = pytester.runpytest_subprocess("--testrun-quarantine", "-n", "2", "--maxfail=1", "-p", "no:cacheprovider")

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=2, failed=2)
    assert "testrun: all 2 failures are quarantined: the session passes" in lines(result)


def test_a_collection_error_is_never_masked(
    pytester: pytest.Pytester, collector: CollectorProcess, gated: ProjectAccess
) -> None:
    quarantine(collector, gated, *FLAKY)
    pytester.makepyfile(test_gate_suite=SUITE, test_broken="import no_such_module_anywhere\n")

    result = pytester.runpytest("--testrun-quarantine")
    kept_going = pytester.runpytest("--testrun-quarantine", "--continue-on-collection-errors")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert kept_going.ret == pytest.ExitCode.TESTS_FAILED


def test_with_the_collector_down_the_failures_fail_the_session_with_one_line_saying_why(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTRUN_URL", closed_port_url())
    monkeypatch.setenv("TESTRUN_TOKEN", "testrun_x")
    monkeypatch.setenv("TESTRUN_RETRIES", "0")
    pytester.makepyfile(test_gate_suite=SUITE)

    result = pytester.runpytest("--testrun-quarantine")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [line] = lines(result)
    assert line.startswith("testrun: warning: the quarantine list could not be fetched, so no failure is quarantined")


def test_when_every_test_passes_nothing_waits_for_an_unreachable_collector(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts connections and never answers: a fetch would wait its whole timeout
    monkeypatch.setenv("TESTRUN_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
    monkeypatch.setenv("TESTRUN_TOKEN", "testrun_x")
    monkeypatch.setenv("TESTRUN_TIMEOUT", "30")
    pytester.makepyfile(test_green="def test_a():\n    pass\n")
    try:
        started = time.monotonic()
        result = pytester.runpytest("--testrun-quarantine")
        elapsed = time.monotonic() - started
    finally:
        silent.close()

    assert result.ret == pytest.ExitCode.OK and lines(result) == []
    assert elapsed < 30, "the session waited for the quarantine list although no test failed"


def test_the_switch_also_comes_from_the_environment_and_the_ini_file(
    pytester: pytest.Pytester, collector: CollectorProcess, gated: ProjectAccess, monkeypatch: pytest.MonkeyPatch
) -> None:
    quarantine(collector, gated, *FLAKY)
    pytester.makepyfile(test_gate_suite=SUITE)
    monkeypatch.setenv("TESTRUN_QUARANTINE", "1")
    by_env = pytester.runpytest()
    monkeypatch.delenv("TESTRUN_QUARANTINE")
    pytester.makeini("[pytest]\ntestrun_quarantine = true\n")
    by_ini = pytester.runpytest()
    monkeypatch.setenv("TESTRUN_QUARANTINE", "0")
    pytester.makeini("[pytest]\n")
    off = pytester.runpytest()

    assert (by_env.ret, by_ini.ret, off.ret) == (0, 0, 1)
    assert json.dumps(lines(off)) == "[]"
