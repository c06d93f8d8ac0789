"""Collector processes on a shared PostgreSQL database: the admin CLI, the API, races and lost connections."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from collector_harness import CollectorProcess, ProjectAccess, a_run, admin, admin_json, new_project
from postgres_harness import database_url, terminate_backends

from collector.store.postgres import PostgresStore

PASSWORD = "s3cret-pw-never-logged"  # trust auth ignores it; the logs must not show it


@pytest.fixture
def shared_db(postgres_database: Callable[[], str]) -> Iterator[tuple[str, str]]:
    """A migrated PostgreSQL database for collector nodes: (its name, its URL with a password)."""
    name = postgres_database()
    url = database_url(name, password=PASSWORD)
    result = admin(url, "migrate")
    assert result.returncode == 0, result.stderr
    yield name, url


@pytest.fixture
def start_node() -> Iterator[Callable[..., CollectorProcess]]:
    started: list[CollectorProcess] = []

    def start(db: str | Path, **env: str) -> CollectorProcess:
        process = CollectorProcess(db=db, env={"TESTRUN_TOKEN_RATE_PER_S": "0", **env})
        started.append(process)
        process.start()
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def two_nodes(shared_db: tuple[str, str], start_node: Callable[..., CollectorProcess]) -> list[CollectorProcess]:
    _, url = shared_db
    nodes = [start_node(url), start_node(url)]
    admin_token = admin_json(url, "token", "create", "--admin")["token"]
    for node in nodes:
        node.admin_token = admin_token
    return nodes


def on_node(project: ProjectAccess, node: CollectorProcess) -> ProjectAccess:
    """The same project and tokens, spoken to through another node."""
    return ProjectAccess(node.url, project.slug, project.ingest_token, project.read_token)


def run_detail(access: ProjectAccess, run_id: str) -> requests.Response:
    return access.get("/api/v1/runs/" + quote(run_id, safe=""))


def assert_no_secret_or_traceback_in_logs(*nodes: CollectorProcess) -> None:
    for node in nodes:
        text = "".join(node.lines)
        assert PASSWORD not in text
        assert "Traceback" not in text and '"status":500' not in text


# --- one database, any entry point ---------------------------------------------------------
def test_every_admin_command_works_on_a_postgresql_database(postgres_database: Callable[[], str]) -> None:
    url = database_url(postgres_database(), password=PASSWORD)

    def run(*args: str) -> str:
        result = admin(url, *args)
        assert result.returncode == 0, result.stderr
        assert PASSWORD not in result.stdout + result.stderr
        return result.stdout

    versions = ", ".join(str(version) for version in range(1, PostgresStore.LATEST_VERSION + 1))
    assert run("migrate") == f"applied migration(s) {versions}; schema is at version {PostgresStore.LATEST_VERSION}\n"
    assert run("migrate") == f"schema is up to date (version {PostgresStore.LATEST_VERSION})\n"
    assert run("org", "create", "acme") == "created org acme\n"
    assert run("project", "create", "acme", "web") == "created project acme/web (default branch main)\n"
    assert run("project", "set", "acme/web", "--default-branch", "trunk") == "project acme/web: default branch trunk\n"
    assert [org["name"] for org in admin_json(url, "org", "list")] == ["acme"]
    assert [p["slug"] for p in admin_json(url, "project", "list", "acme")] == ["acme/web"]
    token = admin_json(url, "token", "create", "acme/web", "--scope", "read")
    listed = admin_json(url, "token", "list", "acme/web")
    assert [(t["token_id"], t["scopes"], t["revoked_at"]) for t in listed] == [(token["token_id"], ["read"], None)]
    assert run("token", "revoke", token["token_id"]) == f"revoked token {token['token_id']}\n"
    assert admin_json(url, "token", "list")[0]["revoked_at"].endswith("Z")

    missing = admin(url.rsplit("/", 1)[0] + "/testrun_no_such_database", "org", "list")
    assert missing.returncode == 1
    assert 'database "testrun_no_such_database" does not exist' in missing.stderr
    assert PASSWORD not in missing.stderr


def test_the_api_answers_alike_on_sqlite_and_postgresql(
    tmp_path: Path, shared_db: tuple[str, str], start_node: Callable[..., CollectorProcess]
) -> None:
    lite_db = tmp_path / "testrun.sqlite3"
    assert admin(lite_db, "migrate").returncode == 0
    answers: dict[str, list[tuple[int, Any]]] = {}
    for backend, db in (("sqlite", str(lite_db)), ("postgresql", shared_db[1])):
        node = start_node(db, TESTRUN_POOL_MAX_SIZE="4")  # fewer connections than threads: allowed, and said
        node.admin_token = admin_json(db, "token", "create", "--admin")["token"]
        project = new_project(node)
        responses = [
            project.post_run(a_run("run-1")),
            project.post_run(a_run("run-1")),
            project.post_run(a_run("run-1", tests=[{"id": "tests/test_x.py::test_a", "status": "failed"}])),
            project.post_run(a_run("run-2", started_at="2026-01-12T09:00:00+02:00")),
            project.post_run(a_run("run-3", tests=[], status="passed")),
            run_detail(project, "run-1"),
            project.get("/api/v1/runs?limit=2"),
            project.get("/api/v1/runs?branch=main&status=failed"),
        ]
        responses.append(project.get("/api/v1/runs", params={"limit": 2, "cursor": responses[6].json()["next_cursor"]}))
        answers[backend] = [(r.status_code, without_volatile(r.json())) for r in responses]
        assert_no_secret_or_traceback_in_logs(node)

    assert [status for status, _ in answers["postgresql"]] == [201, 200, 409, 201, 201, 200, 200, 200, 200]
    warnings = [line for line in node.lines if "pool_max_size" in line]
    assert len(warnings) == 1
    assert "pool_max_size 4 is less than threads 8: requests will wait for a database connection" in warnings[0]
    assert answers["postgresql"] == answers["sqlite"]


def without_volatile(value: Any) -> Any:
    """The answer without what differs between two servers: times of receipt, request ids, cursors, and the
    address of the run's page (each server has its own port)."""
    if isinstance(value, dict):
        return {
            k: without_volatile(v)
            for k, v in value.items()
            if k not in ("received_at", "request_id", "next_cursor", "web_url") or v is None
        }
    if isinstance(value, list):
        return [without_volatile(v) for v in value]
    return value


# --- two nodes, one run_id -----------------------------------------------------------------------
def test_concurrent_posts_of_one_run_id_to_two_nodes_store_it_once(two_nodes: list[CollectorProcess]) -> None:
    project = new_project(two_nodes[0])
    clients = [on_node(project, two_nodes[i % 2]) for i in range(8)]
    barrier = threading.Barrier(len(clients))

    for round_number in range(6):
        run_id = f"github:octo/app:{round_number}:1:test:pytest"
        kinds = 1 if round_number % 2 == 0 else 3  # rounds of identical posts, and of three contents
        payloads = [
            a_run(run_id, tests=[{"id": f"t{i}::{k}", "status": "passed", "duration_ms": 1.0 + i} for i in range(300)])
            for k in range(kinds)
        ]
        answers: list[requests.Response | None] = [None] * len(clients)

        def post(i: int, payloads: list[dict[str, Any]] = payloads, answers: list[Any] = answers) -> None:
            barrier.wait()
            answers[i] = clients[i].post_run(payloads[i % len(payloads)])

        threads = [threading.Thread(target=post, args=(i,)) for i in range(len(clients))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        statuses = [answer.status_code if answer is not None else None for answer in answers]
        assert statuses.count(201) == 1, f"round {round_number}: {statuses}"
        winner = statuses.index(201) % kinds
        for i, answer in enumerate(answers):
            assert answer is not None
            if i % kinds == winner:
                assert answer.status_code in (200, 201), f"round {round_number}: {statuses}"
                assert answer.json()["duplicate"] is (answer.status_code == 200)
            else:
                assert answer.status_code == 409, f"round {round_number}: {statuses}"
                assert answer.json()["error"] == "run_id_conflict"
        for node in two_nodes:
            stored = run_detail(on_node(project, node), run_id).json()
            assert [t["id"] for t in stored["tests"]] == [t["id"] for t in payloads[winner]["tests"]]
            assert [t["duration_ms"] for t in stored["tests"]] == [t["duration_ms"] for t in payloads[winner]["tests"]]
    listed = project.get("/api/v1/runs?limit=50").json()["runs"]
    assert len(listed) == 6
    assert_no_secret_or_traceback_in_logs(*two_nodes)


# --- connections terminated under load ---------------------------------------------------------------
def test_terminated_database_connections_under_load_give_503s_that_clients_retry_and_lose_no_run(
    shared_db: tuple[str, str], two_nodes: list[CollectorProcess]
) -> None:
    name, _ = shared_db
    project = new_project(two_nodes[0])
    load_seconds, tests_per_run = 6.0, 200
    statuses: list[int] = []
    missing_retry_after: list[int] = []
    acknowledged: list[str] = []
    abandoned: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    numbers = itertools.count()

    def client(index: int) -> None:
        access = on_node(project, two_nodes[index % 2])
        while not stop.is_set():
            run_id = f"chaos-{index}-{next(numbers)}"
            payload = a_run(run_id, tests=[{"id": f"t{i}", "status": "passed"} for i in range(tests_per_run)])
            for _attempt in range(100):
                try:
                    response = access.post_run(payload)
                except requests.ConnectionError:
                    raise AssertionError("a node dropped a connection") from None
                with lock:
                    statuses.append(response.status_code)
                if response.status_code in (200, 201):
                    with lock:
                        acknowledged.append(run_id)
                    break
                if response.status_code != 503:
                    return  # counted; the assertions below name it
                if "Retry-After" not in response.headers:
                    missing_retry_after.append(response.status_code)
                # a real client waits Retry-After (1 s) with jitter; a short wait keeps the test short
                time.sleep(min(float(response.headers.get("Retry-After", 1)), 0.05))
            else:
                abandoned.append(run_id)

    def terminator() -> int:
        ended = 0
        deadline = time.monotonic() + load_seconds
        while time.monotonic() < deadline:
            ended += terminate_backends(name)
            time.sleep(0.1)
        stop.set()
        return ended

    clients = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for thread in clients:
        thread.start()
    terminated = terminator()
    for thread in clients:
        thread.join(60)

    assert terminated > 10
    assert set(statuses) <= {200, 201, 503}, sorted(set(statuses))
    assert statuses.count(503) >= 1, f"{terminated} connections ended, no request met one: the test proved nothing"
    assert missing_retry_after == []
    assert abandoned == []
    assert len(acknowledged) >= 20
    for i, run_id in enumerate(acknowledged):
        detail = run_detail(on_node(project, two_nodes[i % 2]), run_id)
        assert detail.status_code == 200, run_id
        assert detail.json()["counts"]["total"] == tests_per_run
        assert len(detail.json()["tests"]) == tests_per_run
    for node in two_nodes:
        assert requests.get(node.url + "/readyz", timeout=10).status_code == 200
    assert_no_secret_or_traceback_in_logs(*two_nodes)
