"""Operating the collector: start-up, health, metrics, logs and graceful shutdown."""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from collector_harness import a_run, admin, new_project
from collector.store.sqlite import SQLiteStore



def test_health_and_readiness_answer_when_the_database_is_current(collector: Any) -> None:
    health = requests.get(collector.url + "/healthz", timeout=10)
    ready = requests.get(collector.url + "/readyz", timeout=10)

    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    """``testrun-collector serve ARGS`` for a start-up that is expected to fail."""
    command = [sys.executable, "-m", "collector.cli", "serve", "--port", "0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_the_server_refuses_to_start_on_an_unmigrated_database(tmp_path: Path) -> None:
    (tmp_path / "new.sqlite3").touch()

    result = serve("--db", str(tmp_path / "new.sqlite3"))

    assert result.returncode == 1
    assert result.stderr == (
        f"testrun-collector: error: database schema is at version 0, this collector needs {SQLiteStore.LATEST_VERSION}: "
        "run 'testrun-admin migrate' with the same --db\n"
    )


def test_the_server_refuses_a_database_file_that_does_not_exist_and_leaves_none_behind(tmp_path: Path) -> None:
    typo = tmp_path / "tesrun.sqlite3"

    result = serve("--db", f"sqlite:///{typo}")

    assert result.returncode == 1
    assert result.stderr == (
        f"testrun-collector: error: no database at {typo}: create it with 'testrun-admin migrate --db {typo}'\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        (
            "127.0.0.1",
            "the port is in use (by another collector still running?): choose another with --port or TESTRUN_PORT",
        ),
        ("no-such-host.invalid", "the host is not an address or a name that resolves: check --host or TESTRUN_HOST"),
    ],
    ids=["port in use", "unknown host"],
)
def test_an_address_it_cannot_listen_on_is_one_line_naming_it_and_the_setting(
    tmp_path: Path, host: str, reason: str
) -> None:
    db = tmp_path / "testrun.sqlite3"
    assert admin(db, "migrate").returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = serve("--db", str(db), "--host", host, "--port", str(port))

    assert result.returncode == 1
    assert result.stderr == f"testrun-collector: error: cannot listen on {host}:{port}: {reason}\n"


def test_a_bad_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    result = serve("--db", str(tmp_path / "x"), "--threads", "zero")

    assert result.returncode == 1
    assert result.stderr == "testrun-collector: error: --threads='zero' is not a valid value\n"


def test_a_bad_connections_per_client_is_one_line_naming_it(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "collector.cli", "serve", "--port", "0", "--db", str(tmp_path / "x")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                            env={"TESTRUN_CONNECTIONS_PER_CLIENT": "-1", "PATH": "/usr/bin:/bin"})

    assert result.returncode == 1
    assert result.stderr == (
        "testrun-collector: error: environment variable TESTRUN_CONNECTIONS_PER_CLIENT='-1' must be zero or more\n"
    )


def test_an_unknown_route_is_a_json_404_with_a_request_id(collector: Any) -> None:
    response = requests.get(collector.url + "/nope", timeout=10)

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


def test_a_callers_request_id_is_echoed(collector: Any) -> None:
    response = requests.get(collector.url + "/healthz", headers={"X-Request-Id": "ci-job-42"}, timeout=10)

    assert response.headers["X-Request-Id"] == "ci-job-42"


def test_metrics_count_runs_tests_requests_and_auth_failures(collector: Any) -> None:
    project = new_project(collector)
    project.post_run(a_run("metrics-1"))
    project.post_run(a_run("metrics-1"))
    requests.post(collector.url + "/api/v1/runs", json={}, headers={"Authorization": "Bearer nope"}, timeout=10)

    text = requests.get(collector.url + "/metrics", timeout=10).text

    def value(name: str) -> float:
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        assert match, f"{name} missing from /metrics"
        return float(match.group(1))

    assert value('testrun_runs_total{outcome="created"}') >= 1
    assert value('testrun_runs_total{outcome="duplicate"}') >= 1
    assert value("testrun_tests_ingested_total") >= 3
    assert value('testrun_http_requests_total{method="POST",route="/api/v1/runs",status="201"}') >= 1
    assert value('testrun_auth_failures_total{reason="malformed"}') >= 1
    assert value("testrun_bcrypt_verifications_total") >= 1
    assert 'testrun_http_request_duration_seconds_bucket{le="0.1",route="/api/v1/runs"}' in text


def test_the_openapi_document_is_served(collector: Any) -> None:
    response = requests.get(collector.url + "/openapi.json", timeout=10)

    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")


def test_every_request_is_one_json_log_line_and_no_token_is_ever_logged(start_collector: Any) -> None:
    collector = start_collector()
    project = new_project(collector)
    project.post_run(a_run("logged-run"))
    project.get("/api/v1/runs")
    project.post_run(a_run("logged-run"), token=project.ingest_token[:-1] + "x")
    collector.stop()

    log = "".join(collector.lines)
    for secret in (collector.admin_token, project.ingest_token, project.read_token):
        assert secret not in log
        assert secret.split("_", 2)[2][:43] not in log
    created = [line for line in collector.access_log() if line.get("outcome") == "created"]
    assert len(created) == 1
    assert created[0]["run_id"] == "logged-run"
    assert created[0]["project"] == project.slug
    assert created[0]["status"] == 201
    assert created[0]["route"] == "/api/v1/runs"
    assert created[0]["request_id"]


def test_no_raw_token_secret_is_in_the_database_file(start_collector: Any) -> None:
    collector = start_collector()
    project = new_project(collector)
    project.post_run(a_run("stored"))
    collector.stop()

    wal = Path(f"{collector.db}-wal")
    data = collector.db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    for token in (collector.admin_token, project.ingest_token, project.read_token):
        secret = token.split("_", 2)[2][:43]
        assert secret.encode() not in data
        assert token.encode() not in data
    assert project.slug.split("/")[0].encode() in data


def test_sigterm_lets_an_in_flight_request_finish_and_then_exits_cleanly(start_collector: Any) -> None:
    collector = start_collector(busy_timeout_s="30")
    project = new_project(collector)
    project.post_run(a_run("warm-up"))
    blocker = sqlite3.connect(collector.db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    answers: list[int] = []
    sender = threading.Thread(target=lambda: answers.append(project.post_run(a_run("in-flight")).status_code))
    sender.start()
    time.sleep(1.0)

    collector.signal(signal.SIGTERM)
    time.sleep(0.5)
    still_running = collector.process.poll() is None
    blocker.execute("COMMIT")
    blocker.close()
    sender.join(30)

    assert still_running
    assert collector.wait(30) == 0
    assert answers == [201]
    stored = sqlite3.connect(collector.db).execute("SELECT run_id FROM runs ORDER BY id").fetchall()
    assert stored == [("warm-up",), ("in-flight",)]
