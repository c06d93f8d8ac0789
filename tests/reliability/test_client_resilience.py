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

import base64
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector_harness import CollectorProcess, new_project
from flaky_server import FlakyServer, error, slow
from hostile_server import Behaviour, HostileServer, huge_body, redirect, slow_reader, trickled_body, trickled_headers
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


# --- a hostile collector: trickled answers, huge answers, redirects, a reader that never finishes -----------------

HOSTILE_MAX_TOTAL_S = 3.0
#: what the user sees: the whole child process, start-up included, well under a minute of hanging
HOSTILE_BOUND_S = HOSTILE_MAX_TOTAL_S + OVERHEAD_S
HOSTILE_ENV = {"TESTRUN_TIMEOUT": "1", "TESTRUN_RETRIES": "20", "TESTRUN_MAX_TOTAL_TIME": str(HOSTILE_MAX_TOTAL_S)}
#: the client runs with this much address space: a client that read a huge answer whole would die of MemoryError
ADDRESS_SPACE = 1 << 30
TOO_LONG = "the answer exceeded 1048576 bytes: is TESTRUN_URL a testrun collector?"
#: each server, and what the one line of the client must name as the cause
HOSTILE: dict[str, tuple[Callable[[], Behaviour], str]] = {
    "trickled headers": (trickled_headers, "a timeout while waiting for the answer"),
    "trickled body": (trickled_body, "a timeout while reading the answer"),
    "huge answer": (huge_body, TOO_LONG),
    "huge chunked error answer": (lambda: huge_body("500 Internal Server Error", chunked=True), TOO_LONG),
    "redirect": (redirect, "redirects (HTTP 302) to https://elsewhere.example/api/v1/runs: set TESTRUN_URL"),
}
TOKEN = "trk_3f9a1c_Zq8Lw2Vn7Xr4Tb6Ym1Kp5Hd9Gs3Jf0_c0ffee"


@dataclass(frozen=True)
class Finished:
    code: int
    seconds: float
    output: str
    max_rss_mib: float


def run_limited(args: list[str], cwd: Path, env: dict[str, str], *, kill_after_s: float = 60.0) -> Finished:
    """Run a client process with at most ADDRESS_SPACE of memory; its own peak RSS comes from wait4."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    with tempfile.TemporaryFile() as captured:
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=captured,
                                   stderr=subprocess.STDOUT, preexec_fn=limit_memory)
        killer = threading.Timer(kill_after_s, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        captured.seek(0)
        output = captured.read().decode("utf-8", "replace")
    return Finished(process.returncode, seconds, output, usage.ru_maxrss / 1024)


def hostile_env(url: str, spool: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTRUN_") and k != "CI"}
    return {**env, **HOSTILE_ENV, "TESTRUN_URL": url, "TESTRUN_TOKEN": TOKEN, "TESTRUN_SPOOL_DIR": str(spool),
            "TESTRUN_RUN_ID": f"hostile-{spool.parent.name}", **extra}


def assert_gave_up_cleanly(done: Finished, cause: str, spool: Path) -> None:
    assert done.seconds < HOSTILE_BOUND_S, done
    assert cause in done.output, done.output
    assert "Traceback" not in done.output and "INTERNALERROR" not in done.output, done.output
    assert TOKEN.split("_")[2][:8] not in done.output
    assert len(list(spool.glob("run-*.json"))) == 1, done.output
    assert f"re-send it with: junit-upload --resend {spool}" in done.output, done.output
    assert done.max_rss_mib < 300, done


@pytest.mark.slow
@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_junit_upload_gives_up_on_a_hostile_collector_within_its_bound_spools_the_run_and_names_the_cause(
    hostile: tuple[Callable[[], Behaviour], str], tmp_path: Path
) -> None:
    behaviour, cause = hostile
    (tmp_path / "report.xml").write_text(REPORT, encoding="utf-8")
    spool = tmp_path / "spool"

    with HostileServer(behaviour()) as server:
        done = run_limited(["-m", "junit_uploader.cli", "report.xml"], tmp_path, hostile_env(server.url, spool))

    assert done.code == 0, done.output
    assert "testrun: warning: not uploaded: " in done.output
    assert_gave_up_cleanly(done, cause, spool)


@pytest.mark.slow
def test_junit_upload_strict_exits_1_when_a_trickling_collector_runs_out_its_time(tmp_path: Path) -> None:
    (tmp_path / "report.xml").write_text(REPORT, encoding="utf-8")
    spool = tmp_path / "spool"

    with HostileServer(trickled_body()) as server:
        done = run_limited(["-m", "junit_uploader.cli", "--strict", "report.xml"], tmp_path,
                           hostile_env(server.url, spool))

    assert done.code == 1, done.output
    assert "testrun: error: not uploaded: " in done.output
    assert_gave_up_cleanly(done, "a timeout while reading the answer", spool)


def a_large_report(tests: int = 160, details_bytes: int = 48 * 1024) -> str:
    """A report whose payload stays megabytes after gzip (random text): more than the socket buffers hold."""
    cases = "".join(
        f'<testcase classname="big.Case" name="t{i}"><failure message="boom">'
        f"{base64.b64encode(os.urandom(details_bytes * 3 // 4)).decode()}</failure></testcase>"
        for i in range(tests)
    )
    return f'<?xml version="1.0"?><testsuite name="big" tests="{tests}">{cases}</testsuite>'


@pytest.mark.slow
def test_junit_upload_gives_up_on_a_collector_that_reads_the_run_too_slowly(tmp_path: Path) -> None:
    (tmp_path / "report.xml").write_text(a_large_report(), encoding="utf-8")
    spool = tmp_path / "spool"

    with HostileServer(slow_reader(), receive_buffer=4096) as server:
        done = run_limited(["-m", "junit_uploader.cli", "report.xml"], tmp_path,
                           hostile_env(server.url, spool, TESTRUN_TIMEOUT="10"))

    assert done.code == 0, done.output
    assert_gave_up_cleanly(done, "a timeout while sending the run", spool)
