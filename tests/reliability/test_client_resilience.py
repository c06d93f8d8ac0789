"""The pytest plugin and junit-upload against a collector that is down, slow, or answering 503.

"Slow" is a collector that answers only after 30 s, and "503" one that
answers 503 with Retry-After for as long as the client tries. The client's
documented bounds are scaled down so each case proves "finishes within its
bound" in seconds rather than minutes: TESTRUN_TIMEOUT=1 (per request),
TESTRUN_RETRIES=20 and TESTRUN_MAX_TOTAL_TIME=4 (the whole upload, waits
included). With the defaults (10 s, 5 retries, 120 s) the same code gives up
after at most 120 s. Each producer runs as its own process, its exit code
must be what it would have been without the upload, and the run it saved in
the spool is re-sent later to a real collector and stored exactly once.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector_harness import CollectorProcess, new_project
from flaky_server import FlakyServer, error, slow
from reliability_support import free_port

MAX_TOTAL_S = 4.0
#: process start-up, collection and the tests themselves, on top of the upload's bound (generous: a busy machine)
OVERHEAD_S = 5.0
CLIENT_ENV = {"TESTRUN_TIMEOUT": "1", "TESTRUN_RETRIES": "20", "TESTRUN_MAX_TOTAL_TIME": str(MAX_TOTAL_S)}
REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="calc" tests="2" failures="1">
  <testcase classname="calc.AddTest" name="adds" time="0.1"/>
  <testcase classname="calc.AddTest" name="carries" time="0.2"><failure message="1 != 2"/></testcase>
</testsuite>
"""
#: this suite's own dev plugins take seconds to import (hypothesis, schemathesis): users' sessions do not have them
QUIET_PLUGINS = ["-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio"]
GAVE_UP_AFTER = re.compile(r"attempts? over ([0-9.]+) s failed")
SUITE = "def test_passes():\n    pass\n\ndef test_fails():\n    assert 1 == 2\n"


@pytest.fixture(params=["down", "slow", "503"])
def broken_url(request: pytest.FixtureRequest) -> Iterator[tuple[str, FlakyServer | None]]:
    if request.param == "down":
        yield f"http://127.0.0.1:{free_port()}", None
        return
    answer = slow(30.0) if request.param == "slow" else error(503, retry_after="1")
    with FlakyServer().always(answer) as server:
        yield server.url, server


def run_producer(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, float, str]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, time.monotonic() - started, done.stdout + done.stderr


def producer_env(url: str, token: str, spool: Path, run_id: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTRUN_") and k != "CI"}
    return {**env, **CLIENT_ENV, "TESTRUN_URL": url, "TESTRUN_TOKEN": token, "TESTRUN_SPOOL_DIR": str(spool),
            "TESTRUN_RUN_ID": run_id}


def resend_exactly_once(collector: CollectorProcess, token: str, spool: Path, cwd: Path, run_id: str,
                        read: dict[str, str]) -> None:
    """Re-send the spool to a working collector: stored once; a second re-send has nothing left to send."""
    import requests

    env = {**producer_env(collector.url, token, spool, run_id)}
    code, _, output = run_producer(["-m", "junit_uploader.cli", "--resend", str(spool)], cwd, env)
    assert code == 0 and "created" in output, output
    assert list(spool.glob("run-*.json")) == []
    code, _, output = run_producer(["-m", "junit_uploader.cli", "--resend", str(spool)], cwd, env)
    assert code == 0 and "nothing to re-send" in output, output
    runs = requests.get(f"{collector.url}/api/v1/runs", headers=read, timeout=30).json()["runs"]
    assert [(run["run_id"], run["counts"]["total"], run["counts"]["failed"]) for run in runs] == [(run_id, 2, 1)]


@pytest.mark.slow
def test_junit_upload_finishes_within_its_bound_exits_0_and_the_spool_resends_once(
    broken_url: tuple[str, FlakyServer | None], collector: CollectorProcess, tmp_path: Path
) -> None:
    url, server = broken_url
    project = new_project(collector)
    (tmp_path / "report.xml").write_text(REPORT, encoding="utf-8")
    spool = tmp_path / "spool"
    run_id = f"junit-{tmp_path.name}"

    code, seconds, output = run_producer(["-m", "junit_uploader.cli", "report.xml"], tmp_path,
                                         producer_env(url, project.ingest_token, spool, run_id))

    assert code == 0, output
    assert float(GAVE_UP_AFTER.search(output).group(1)) <= MAX_TOTAL_S, output  # type: ignore[union-attr]
    assert seconds < MAX_TOTAL_S + OVERHEAD_S, output
    assert "re-send it with: junit-upload --resend" in output and project.ingest_token not in output
    assert len(list(spool.glob("run-*.json"))) == 1
    if server is not None:
        assert len(server.requests) >= 2 and not server.stored
    resend_exactly_once(collector, project.ingest_token, spool, tmp_path, run_id,
                        {"Authorization": f"Bearer {project.read_token}"})


@pytest.mark.slow
def test_the_pytest_plugin_finishes_within_its_bound_keeps_the_exit_code_and_the_spool_resends_once(
    broken_url: tuple[str, FlakyServer | None], collector: CollectorProcess, tmp_path: Path
) -> None:
    url, server = broken_url
    project = new_project(collector)
    (tmp_path / "test_suite.py").write_text(SUITE, encoding="utf-8")
    spool = tmp_path / "spool"
    run_id = f"pytest-{tmp_path.name}"

    code, seconds, output = run_producer(
        ["-m", "pytest", *QUIET_PLUGINS, "--testrun-report", "test_suite.py"],
        tmp_path, producer_env(url, project.ingest_token, spool, run_id),
    )

    assert code == 1, output  # one test failed: exactly what pytest says without the plugin
    assert float(GAVE_UP_AFTER.search(output).group(1)) <= MAX_TOTAL_S, output  # type: ignore[union-attr]
    assert seconds < MAX_TOTAL_S + OVERHEAD_S, output
    assert "testrun: warning: not uploaded" in output and project.ingest_token not in output
    assert len(list(spool.glob("run-*.json"))) == 1
    if server is not None:
        assert len(server.requests) >= 2 and not server.stored
    resend_exactly_once(collector, project.ingest_token, spool, tmp_path, run_id,
                        {"Authorization": f"Bearer {project.read_token}"})


def test_an_upload_failure_leaves_a_green_session_green(collector: CollectorProcess, tmp_path: Path) -> None:
    project = new_project(collector)
    (tmp_path / "test_green.py").write_text("def test_ok():\n    pass\n", encoding="utf-8")
    env = producer_env(f"http://127.0.0.1:{free_port()}", project.ingest_token, tmp_path / "spool", "green")

    code, _, output = run_producer(["-m", "pytest", *QUIET_PLUGINS, "--testrun-report", "test_green.py"], tmp_path, env)

    assert code == 0, output
    assert "testrun: warning: not uploaded" in output
