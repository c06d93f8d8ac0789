"""Results sent in batches while the session runs: the same run as one POST, and the old way when in doubt."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from collector_harness import CollectorProcess, ProjectAccess

SUITE = """
import pytest

@pytest.mark.parametrize("n", range(23))
def test_numbers(n, subtests):
    with subtests.test(msg="half", n=n):
        assert n % 2 == 0 or n % 5 != 0
    assert n % 11 != 7

def test_broken_fixture(request):
    request.addfinalizer(lambda: 1 / 0)
"""


@pytest.fixture
def uploading(monkeypatch: pytest.MonkeyPatch, project: ProjectAccess) -> ProjectAccess:
    monkeypatch.setenv("TESTRUN_URL", project.url)
    monkeypatch.setenv("TESTRUN_TOKEN", project.ingest_token)
    monkeypatch.setenv("TESTRUN_RUN_ID", "local:batched")
    monkeypatch.setenv("TESTRUN_BATCH_TESTS", "5")
    return project


def requests_of(collector: CollectorProcess, project: ProjectAccess) -> list[tuple[str, str, int]]:
    seen = []
    for line in collector.lines:
        if f'"project":"{project.slug}"' in line:
            entry = json.loads(line)
            seen.append((entry["method"], entry["route"], entry["status"]))
    return seen


def printed_lines(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("testrun:")]


def test_a_large_session_sends_its_results_in_batches_and_the_run_is_stored_whole(
    pytester: pytest.Pytester, collector: CollectorProcess, uploading: ProjectAccess
) -> None:
    pytester.makepyfile(test_many=SUITE)

    result = pytester.runpytest("--testrun-report", "-p", "no:cacheprovider")

    routes = [route for method, route, status in requests_of(collector, uploading)]
    assert routes.count("/api/v1/uploads/<upload_id>/batches/<seq:int>") >= 4
    assert routes[-1] == "/api/v1/uploads/<upload_id>/complete" and "/api/v1/runs" not in routes
    [run] = uploading.get("/api/v1/runs").json()["runs"]
    stored = uploading.get("/api/v1/runs/local%3Abatched", params={"tests_limit": 1000}).json()
    assert run["counts"]["total"] == 23 + 23 + 1 == len(stored["tests"])
    assert run["counts"]["failed"] == 6 and run["counts"]["error"] == 1  # what pytest counts too
    assert "(201 created)" in printed_lines(result)[0]


def test_one_test_with_more_subtests_than_a_batch_holds_fills_several_batches(
    pytester: pytest.Pytester, collector: CollectorProcess, uploading: ProjectAccess
) -> None:
    pytester.makepyfile(
        test_wide="""
        def test_table(subtests):
            for row in range(17):
                with subtests.test(row=row):
                    assert row != 13

        def test_after():
            pass
        """
    )

    result = pytester.runpytest("--testrun-report", "-p", "no:cacheprovider")

    puts = [status for _, route, status in requests_of(collector, uploading) if route.endswith("/batches/<seq:int>")]
    assert puts == [201, 201, 201, 201]  # 19 results, 5 to a batch
    stored = uploading.get("/api/v1/runs/local%3Abatched", params={"tests_limit": 100}).json()
    assert stored["counts"]["total"] == 19 and stored["counts"]["failed"] == 2  # the subtest and its parent
    assert "(201 created)" in printed_lines(result)[0]


def test_the_same_session_again_is_a_duplicate_whether_sent_in_batches_or_whole(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, uploading: ProjectAccess
) -> None:
    pytester.makepyfile(test_many=SUITE)
    first = pytester.runpytest("--testrun-report", "-p", "no:cacheprovider")
    again = pytester.runpytest("--testrun-report", "-p", "no:cacheprovider")
    monkeypatch.setenv("TESTRUN_BATCH_TESTS", "0")
    whole = pytester.runpytest("--testrun-report", "-p", "no:cacheprovider")

    assert "(201 created)" in printed_lines(first)[0]
    assert "(200 duplicate: already stored)" in printed_lines(again)[0]
    assert "(200 duplicate: already stored)" in printed_lines(whole)[0]
    assert len(uploading.get("/api/v1/runs").json()["runs"]) == 1


def test_under_xdist_the_controller_sends_every_workers_results_in_batches(
    pytester: pytest.Pytester, collector: CollectorProcess, uploading: ProjectAccess
) -> None:
    pytester.makepyfile(test_many=SUITE)

    pytester.runpytest_subprocess("--testrun-report", "-n", "2", "-p", "no:cacheprovider")

    routes = [route for _, route, _ in requests_of(collector, uploading)]
    assert "/api/v1/uploads/<upload_id>/complete" in routes
    [run] = uploading.get("/api/v1/runs").json()["runs"]
    assert run["counts"]["total"] == 47


class OldCollector(BaseHTTPRequestHandler):
    """A collector from before uploads: 404 to them, and runs stored whole."""

    runs: list[dict[str, Any]] = []
    paths: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.paths.append(self.path)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/api/v1/runs":
            return self._answer(404, {"error": "not_found", "message": "no such route", "request_id": "r"})
        run = json.loads(gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body)
        self.runs.append(run)
        counts = {"total": len(run["tests"])}
        self._answer(201, {"run_id": run["run_id"], "duplicate": False, "counts": counts,
                           "url": "/api/v1/runs/x", "status": "failed", "received_at": "2026-01-12T10:00:00Z"})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def old_collector() -> Iterator[str]:
    OldCollector.runs, OldCollector.paths = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), OldCollector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_collector_older_than_uploads_gets_the_whole_run_in_one_post(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, old_collector: str
) -> None:
    monkeypatch.setenv("TESTRUN_URL", old_collector)
    monkeypatch.setenv("TESTRUN_TOKEN", "testrun_" + "A" * 12 + "_" + "B" * 49)
    monkeypatch.setenv("TESTRUN_BATCH_TESTS", "5")
    pytester.makepyfile(test_many=SUITE)

    result = pytester.runpytest("--testrun-report", "-p", "no:cacheprovider")

    assert OldCollector.paths[0] == "/api/v1/uploads" and OldCollector.paths[-1] == "/api/v1/runs"
    [run] = OldCollector.runs
    assert len(run["tests"]) == 47
    assert "(201 created)" in printed_lines(result)[0]


def test_a_small_session_sends_its_run_in_one_post(
    pytester: pytest.Pytester, collector: CollectorProcess, uploading: ProjectAccess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTRUN_BATCH_TESTS", "2000")
    pytester.makepyfile(test_many=SUITE)

    pytester.runpytest("--testrun-report", "-p", "no:cacheprovider")

    assert [route for _, route, _ in requests_of(collector, uploading)] == ["/api/v1/runs"]
