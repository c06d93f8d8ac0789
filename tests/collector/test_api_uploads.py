"""Runs sent in batches over HTTP against a real collector: the same answers as one POST of the run."""

from __future__ import annotations

import gzip
import json
from typing import Any

import requests

from collector_harness import CollectorProcess, ProjectAccess, a_run, new_project

TESTS = [{"id": f"tests/test_big.py::test_{i}", "status": "failed" if i % 7 == 0 else "passed",
          "duration_ms": float(i)} for i in range(30)]


def call(method: str, project: ProjectAccess, path: str, body: Any = None, *, token: str | None = None,
         gzipped: bool = False) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or project.ingest_token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
        if gzipped:
            data, headers["Content-Encoding"] = gzip.compress(data), "gzip"
    return requests.request(method, project.url + path, data=data, headers=headers, timeout=30)


def header(run_id: str, batches: int) -> dict[str, Any]:
    whole = a_run(run_id)
    del whole["tests"]
    return {**whole, "batches": batches}


def send_in_batches(project: ProjectAccess, run_id: str, sizes: list[int]) -> tuple[str, requests.Response]:
    opened = call("POST", project, "/api/v1/uploads")
    assert opened.status_code == 201, opened.text
    upload = opened.json()["url"]
    start = 0
    for seq, size in enumerate(sizes):
        stored = call("PUT", project, f"{upload}/batches/{seq}", {"tests": TESTS[start:start + size]}, gzipped=seq == 0)
        assert stored.status_code == 201, stored.text
        start += size
    return upload, call("POST", project, f"{upload}/complete", header(run_id, len(sizes)))


def test_a_run_sent_in_batches_is_answered_as_the_whole_run_and_reads_back_whole(project: ProjectAccess) -> None:
    upload, completed = send_in_batches(project, "batched-1", [10, 10, 10])

    whole = project.post_run(a_run("batched-1", tests=TESTS))
    again = call("POST", project, f"{upload}/complete", header("batched-1", 3))
    read = project.get("/api/v1/runs/batched-1").json()

    assert completed.status_code == 201
    body = completed.json()
    assert body["duplicate"] is False and body["counts"]["total"] == 30 and body["counts"]["failed"] == 5
    assert body["verdict"]["failures"] == 5 and body["web_url"].endswith("/ui/runs/batched-1")
    assert (whole.status_code, whole.json()["duplicate"]) == (200, True)  # the same run, sent whole: a retry
    assert (again.status_code, again.json()["verdict"]) == (200, body["verdict"])
    assert sorted(t["id"] for t in read["tests"]) == sorted(t["id"] for t in TESTS)


def test_a_batch_sent_again_is_a_200_and_other_tests_under_its_number_a_409(project: ProjectAccess) -> None:
    upload = call("POST", project, "/api/v1/uploads").json()["url"]
    first = call("PUT", project, f"{upload}/batches/0", {"tests": TESTS[:5]})

    again = call("PUT", project, f"{upload}/batches/0", {"tests": TESTS[:5]})
    other = call("PUT", project, f"{upload}/batches/0", {"tests": TESTS[5:9]})

    assert first.status_code == 201 and (again.status_code, again.json()["duplicate"]) == (200, True)
    assert other.status_code == 409 and other.json()["error"] == "upload_conflict"


def test_completing_before_every_batch_is_stored_is_a_409_naming_the_missing_ones(project: ProjectAccess) -> None:
    upload = call("POST", project, "/api/v1/uploads").json()["url"]
    call("PUT", project, f"{upload}/batches/1", {"tests": TESTS[:5]})

    early = call("POST", project, f"{upload}/complete", header("early", 2))

    assert early.status_code == 409 and "missing batches [0]" in early.json()["message"]
    assert project.get("/api/v1/runs").json()["runs"] == []


def test_an_upload_of_a_run_id_that_holds_other_content_is_a_run_id_conflict(project: ProjectAccess) -> None:
    project.post_run(a_run("taken"))

    _, completed = send_in_batches(project, "taken", [30])

    assert completed.status_code == 409 and completed.json()["error"] == "run_id_conflict"


def test_bad_batches_and_completions_are_400s_naming_the_field(project: ProjectAccess) -> None:
    upload = call("POST", project, "/api/v1/uploads").json()["url"]

    bad_test = call("PUT", project, f"{upload}/batches/0", {"tests": [{"id": "t", "status": "exploded"}]})
    no_tests = call("PUT", project, f"{upload}/batches/0", {})
    with_tests = call("POST", project, f"{upload}/complete", {**header("x", 0), "tests": []})
    no_batches = call("POST", project, f"{upload}/complete", {"run_id": "x"})

    assert [error["field"] for error in bad_test.json()["errors"]] == ["tests[0].status"]
    assert [error["field"] for error in no_tests.json()["errors"]] == ["tests"]
    assert [error["field"] for error in with_tests.json()["errors"]] == ["tests"]
    assert [error["field"] for error in no_batches.json()["errors"]] == ["batches"]


def test_an_upload_is_its_projects_and_needs_the_ingest_scope(
    collector: CollectorProcess, project: ProjectAccess
) -> None:
    upload = call("POST", project, "/api/v1/uploads").json()["url"]
    other = new_project(collector)

    assert call("PUT", other, f"{upload}/batches/0", {"tests": TESTS[:1]}).status_code == 404
    assert call("POST", other, f"{upload}/complete", header("x", 0)).status_code == 404
    assert call("POST", project, "/api/v1/uploads", token=project.read_token).status_code == 403
    assert requests.post(f"{project.url}/api/v1/uploads", timeout=30).status_code == 401
