"""The ingest and read routes, against a real collector on a loopback port."""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any
from urllib.parse import quote

import pytest
import requests

from collector.tokens import format_token, mint_token
from collector_harness import ProjectAccess, a_run, new_project, new_project_offline


def test_a_new_run_is_stored_and_answered_with_201_counts_and_url(project: ProjectAccess) -> None:
    response = project.post_run(a_run())

    assert response.status_code == 201
    body = response.json()
    assert body["run_id"] == "github:octo/app:9127:1:test:pytest"
    assert body["status"] == "failed"
    assert body["duplicate"] is False
    assert body["counts"] == {
        "total": 3, "passed": 1, "failed": 1, "error": 0, "skipped": 1, "xfailed": 0, "xpassed": 0, "flaky": 0,
    }
    assert body["url"] == "/api/v1/runs/" + quote("github:octo/app:9127:1:test:pytest", safe="")
    assert response.headers["X-Request-Id"]


def test_a_retry_with_the_same_content_is_a_200_duplicate_and_stores_nothing_new(project: ProjectAccess) -> None:
    first = project.post_run(a_run())
    again = project.post_run(json.loads(json.dumps(a_run())))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True
    assert again.json()["received_at"] == first.json()["received_at"]
    assert len(project.get("/api/v1/runs").json()["runs"]) == 1


def test_the_same_run_id_with_other_content_is_a_409_and_the_stored_run_is_unchanged(
    project: ProjectAccess,
) -> None:
    project.post_run(a_run())
    changed = a_run()
    changed["tests"][1]["status"] = "passed"

    response = project.post_run(changed)

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "run_id_conflict"
    assert "label" in body["hint"]
    stored = project.get(project_run_path(a_run()["run_id"])).json()
    assert [t["status"] for t in stored["tests"]] == ["failed", "skipped", "passed"]


def project_run_path(run_id: str) -> str:
    return "/api/v1/runs/" + quote(run_id, safe="")


def test_an_invalid_body_is_a_400_naming_every_failing_field(project: ProjectAccess) -> None:
    payload = a_run(started_at="yesterday", duration_ms=-1)
    payload["tests"][2]["status"] = "exploded"

    response = project.post_run(payload)

    assert response.status_code == 400
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"started_at", "duration_ms", "tests[2].status"}


def test_a_body_that_is_not_json_is_a_400(project: ProjectAccess) -> None:
    response = project.post_run(None, data=b"{not json", headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Basic dXNlcjpwdw==", "Bearer testrun_garbage", "Bearer testrun_AAAAAAAAAAAA_" + "A" * 49],
)
def test_missing_malformed_or_unknown_tokens_get_the_same_401(project: ProjectAccess, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.post(f"{project.url}/api/v1/runs", json=a_run(), headers=headers, timeout=30)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"
    assert response.json()["message"] == "missing, malformed, unknown, revoked or expired token"


def test_repeated_wrong_secrets_for_one_token_id_are_throttled_with_429(project: ProjectAccess) -> None:
    token_id = project.ingest_token.split("_")[1]
    wrong = format_token(token_id, mint_token().secret)

    answers = [project.post_run(a_run(), token=wrong) for _ in range(7)]

    assert [r.status_code for r in answers[:5]] == [401] * 5
    assert answers[-1].status_code == 429
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_a_read_token_cannot_ingest_and_an_ingest_token_cannot_read(project: ProjectAccess) -> None:
    write = project.post_run(a_run(), token=project.read_token)
    read = project.get("/api/v1/runs", token=project.ingest_token)

    assert (write.status_code, read.status_code) == (403, 403)
    assert "ingest" in write.json()["message"] and "read" in read.json()["message"]


def test_a_revoked_token_is_refused_on_the_very_next_request(project: ProjectAccess, collector: Any) -> None:
    assert project.post_run(a_run("r1")).status_code == 201
    token_id = project.ingest_token.split("_")[1]

    revoked = requests.delete(
        f"{project.url}/tokens/{token_id}", headers={"Authorization": f"Bearer {collector.admin_token}"}, timeout=30
    )

    assert revoked.status_code == 200
    assert project.post_run(a_run("r2")).status_code == 401


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"])
def test_a_wrong_content_type_is_a_415(project: ProjectAccess, content_type: str) -> None:
    response = project.post_run(None, data=json.dumps(a_run()), headers={"Content-Type": content_type})

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_an_unknown_content_encoding_is_a_415(project: ProjectAccess) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "br"}
    response = project.post_run(None, data=json.dumps(a_run()), headers=headers)

    assert response.status_code == 415
    assert "br" in response.json()["message"]


def test_a_gzip_body_is_inflated_and_stored(project: ProjectAccess) -> None:
    body = gzip.compress(json.dumps(a_run()).encode())
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}

    response = project.post_run(None, data=body, headers=headers)

    assert response.status_code == 201
    assert response.json()["counts"]["total"] == 3


def test_a_body_over_the_limit_is_a_413_whether_sent_plain_or_inflated_from_gzip(start_collector: Any) -> None:
    collector = start_collector(max_body_bytes=str(64 * 1024))
    project = new_project(collector)
    big = a_run(tests=[{"id": f"t{i}", "status": "passed", "message": "x" * 100} for i in range(1000)])
    raw = json.dumps(big).encode()
    assert len(gzip.compress(raw)) < 64 * 1024 < len(raw)

    plain = project.post_run(None, data=raw, headers={"Content-Type": "application/json"})
    inflated = project.post_run(
        None, data=gzip.compress(raw), headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )

    assert (plain.status_code, inflated.status_code) == (413, 413)
    assert inflated.json()["error"] == "payload_too_large"
    assert project.post_run(a_run()).status_code == 201


def test_too_many_requests_for_a_token_is_a_429_with_retry_after(start_collector: Any) -> None:
    collector = start_collector(token_rate_per_s="0.01", token_burst="3")
    project = new_project_offline(collector)

    answers = [project.post_run(a_run(f"run-{i}")).status_code for i in range(6)]

    assert answers[:3] == [201, 201, 201]
    assert answers[3:] == [429, 429, 429]
    limited = project.post_run(a_run("one-more"))
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1


def test_a_database_busy_past_its_timeout_is_a_503_with_retry_after(start_collector: Any) -> None:
    import sqlite3

    collector = start_collector(busy_timeout_s="0.2")
    project = new_project(collector)
    blocker = sqlite3.connect(collector.db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        response = project.post_run(a_run())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert project.post_run(a_run()).status_code == 201


def test_two_concurrent_posts_of_one_run_store_it_once_and_both_succeed(project: ProjectAccess) -> None:
    for round_ in range(5):
        payload = a_run(f"concurrent-{round_}")
        barrier = threading.Barrier(2)
        answers: list[int] = []

        def post() -> None:
            barrier.wait()
            answers.append(project.post_run(payload).status_code)

        threads = [threading.Thread(target=post) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(answers) == [200, 201]
    runs = project.get("/api/v1/runs").json()["runs"]
    assert sorted(run["run_id"] for run in runs) == [f"concurrent-{i}" for i in range(5)]


def test_a_concurrent_conflicting_post_gets_409_and_the_winner_stays(project: ProjectAccess) -> None:
    first, second = a_run("race"), a_run("race")
    second["tests"][0]["status"] = "error"
    barrier = threading.Barrier(2)
    answers: dict[str, int] = {}

    def post(name: str, payload: dict[str, Any]) -> None:
        barrier.wait()
        answers[name] = project.post_run(payload).status_code

    threads = [threading.Thread(target=post, args=item) for item in (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers.values()) == [201, 409]
    winner = first if answers["first"] == 201 else second
    stored = project.get(project_run_path("race")).json()
    assert {t["id"]: t["status"] for t in stored["tests"]} == {t["id"]: t["status"] for t in winner["tests"]}


def test_the_original_minimal_ingest_route_stores_a_run_with_its_status(project: ProjectAccess) -> None:
    body = {"run_id": "legacy-1", "status": "passed", "duration_ms": 1200, "timestamp": "2026-01-12T10:00:00+01:00"}
    headers = {"Authorization": f"Bearer {project.ingest_token}"}

    created = requests.post(f"{project.url}/ingest", json=body, headers=headers, timeout=30)
    again = requests.post(f"{project.url}/ingest", json=body, headers=headers, timeout=30)

    assert (created.status_code, again.status_code) == (201, 200)
    stored = project.get("/api/v1/runs/legacy-1").json()
    assert stored["status"] == "passed"
    assert stored["started_at"].startswith("2026-01-12T09:00:00")
    assert stored["tests"] == []


def test_a_run_reads_back_with_its_failures_first_then_skips_then_passes(project: ProjectAccess) -> None:
    payload = a_run()
    project.post_run(payload)

    stored = project.get(project_run_path(payload["run_id"])).json()

    assert stored["run_id"] == payload["run_id"]
    assert stored["vcs"] == payload["vcs"]
    assert stored["ci"] == payload["ci"]
    assert [t["id"] for t in stored["tests"]] == [payload["tests"][i]["id"] for i in (1, 2, 0)]
    assert stored["tests"][0]["message"] == "AssertionError: 1 != 2"
    assert stored["tests"][2]["attempts"] == 1 and stored["tests"][2]["flaky"] is False
    assert stored["next_tests_cursor"] is None


def test_runs_list_newest_first_in_pages_without_gaps_or_repeats(project: ProjectAccess) -> None:
    for day in range(1, 8):
        project.post_run(a_run(f"run-{day}", started_at=f"2026-01-{day:02d}T10:00:00Z"))

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = project.get("/api/v1/runs", params=params).json()
        seen += [run["run_id"] for run in page["runs"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == [f"run-{day}" for day in range(7, 0, -1)]


def test_runs_can_be_filtered_by_branch_and_status(project: ProjectAccess) -> None:
    project.post_run(a_run("main-failed"))
    project.post_run(a_run("feature-passed", vcs={"branch": "feature/x"}, tests=[{"id": "t", "status": "passed"}]))

    by_branch = project.get("/api/v1/runs", params={"branch": "feature/x"}).json()["runs"]
    by_status = project.get("/api/v1/runs", params={"status": "failed"}).json()["runs"]

    assert [run["run_id"] for run in by_branch] == ["feature-passed"]
    assert [run["run_id"] for run in by_status] == ["main-failed"]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "many"}, {"cursor": "not-a-cursor"}, {"status": "odd"}])
def test_bad_list_parameters_are_a_400(project: ProjectAccess, params: dict[str, str]) -> None:
    response = project.get("/api/v1/runs", params=params)

    assert response.status_code == 400
    assert response.json()["message"]


def test_another_projects_run_is_a_404_and_never_listed(collector: Any) -> None:
    ours, theirs = new_project(collector), new_project(collector)
    theirs.post_run(a_run("shared-id"))

    assert ours.get(project_run_path("shared-id")).status_code == 404
    assert ours.get("/api/v1/runs").json()["runs"] == []
    assert theirs.get(project_run_path("shared-id")).status_code == 200


def test_a_token_cannot_write_into_another_project(collector: Any) -> None:
    ours, theirs = new_project(collector), new_project(collector)

    ours.post_run(a_run("written-by-ours"))

    assert theirs.get(project_run_path("written-by-ours")).status_code == 404
    assert ours.get(project_run_path("written-by-ours")).status_code == 200


# --- one run's tests, a page at a time -------------------------------------------------------
from collector.api.runs import MAX_TEST_JSON_BYTES, TESTS_PAGE_BYTES  # noqa: E402
from collector.validation import DETAILS_MAX, MESSAGE_MAX, TEST_ID_MAX, TEST_TEXT_MAX  # noqa: E402

#: characters that cost the most once escaped, in JSON (\\", \\u0001) and in HTML (&quot; &#039; &amp; &lt;)
HEAVY = "\"'&<\x01"


def heavy(prefix: str, size: int) -> str:
    return (prefix + HEAVY * size)[:size]


def worst_case_run(run_id: str, tests: int) -> dict[str, Any]:
    """Tests at every cap of validation, made of the costliest characters; every fifth one passed."""
    return a_run(
        run_id,
        tests=[
            {
                "id": heavy(f"t{i:05d}", TEST_ID_MAX).replace("\x01", "x"),
                "name": heavy(f"n{i:05d}", TEST_TEXT_MAX).replace("\x01", "x"),
                "suite": heavy("s", TEST_TEXT_MAX),
                "status": "passed" if i % 5 == 0 else "failed",
                "message": heavy("m", MESSAGE_MAX),
                "details": heavy("d", DETAILS_MAX),
            }
            for i in range(tests)
        ],
    )


def worst_case_order(payload: dict[str, Any]) -> list[str]:
    tests = payload["tests"]
    return [t["id"] for t in tests if t["status"] == "failed"] + [t["id"] for t in tests if t["status"] == "passed"]


#: what an answer holds besides its tests: the run's summary, metadata capped at ingest
SUMMARY_BYTES = 256 * 1024


def test_a_run_is_answered_a_bounded_page_of_tests_at_a_time_failures_first(project: ProjectAccess) -> None:
    payload = worst_case_run("worst", 120)
    assert project.post_run(payload).status_code == 201

    seen: list[str] = []
    sizes: list[int] = []
    cursor = None
    while True:
        answer = project.get(project_run_path("worst"), params={"tests_cursor": cursor} if cursor else {})
        assert answer.status_code == 200, answer.text
        sizes.append(len(answer.content))
        body = answer.json()
        assert body["counts"]["total"] == 120 and body["counts"]["failed"] == 96
        seen.extend(test["id"] for test in body["tests"])
        cursor = body["next_tests_cursor"]
        if cursor is None:
            break

    assert seen == worst_case_order(payload)
    assert len(sizes) > 1
    assert max(sizes) < TESTS_PAGE_BYTES + MAX_TEST_JSON_BYTES + SUMMARY_BYTES
    first = project.get(project_run_path("worst"), params={"tests_limit": 1}).json()["tests"]
    assert first[0]["details"] == payload["tests"][1]["details"]  # the API holds the full text


def test_tests_limit_sets_the_page_size_and_next_tests_cursor_walks_every_test_once(project: ProjectAccess) -> None:
    tests = [{"id": f"t{i:03d}", "status": ("passed", "failed", "skipped")[i % 3]} for i in range(25)]
    project.post_run(a_run("paged", tests=tests))

    pages: list[list[str]] = []
    params: dict[str, Any] = {"tests_limit": 10}
    while True:
        body = project.get(project_run_path("paged"), params=params).json()
        pages.append([test["id"] for test in body["tests"]])
        if body["next_tests_cursor"] is None:
            break
        params = {"tests_limit": 10, "tests_cursor": body["next_tests_cursor"]}

    assert [len(page) for page in pages] == [10, 10, 5]
    by = {status: [t["id"] for t in tests if t["status"] == status] for status in ("failed", "skipped", "passed")}
    assert sum(pages, []) == by["failed"] + by["skipped"] + by["passed"]


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("tests_limit=0", "tests_limit must be between 1 and 1000, not 0"),
        ("tests_limit=1001", "tests_limit must be between 1 and 1000, not 1001"),
        ("tests_limit=many", "tests_limit='many' is not a whole number"),
        ("tests_cursor=bm90IGEgY3Vyc29y", "the tests cursor is not valid"),
    ],
)
def test_a_bad_tests_limit_or_cursor_is_a_400_naming_it(project: ProjectAccess, query: str, problem: str) -> None:
    project.post_run(a_run("bad-paging"))

    answer = project.get(project_run_path("bad-paging") + "?" + query)

    assert answer.status_code == 400
    assert problem in answer.json()["message"]


# --- the verdict --------------------------------------------------------------------------------


def _run_on(branch: str, run_id: str, commit: str, failing: list[str], passing: list[str]) -> dict[str, Any]:
    tests = [{"id": t, "status": "failed", "message": f"{t} broke\nline 2"} for t in failing]
    tests += [{"id": t, "status": "passed"} for t in passing]
    return a_run(run_id, vcs={"commit": commit, "branch": branch}, tests=tests)


def test_an_ingest_answer_carries_the_verdict_and_the_absolute_address_of_the_runs_page(project: ProjectAccess) -> None:
    assert project.post_run(_run_on("main", "main-1", "c1", [], ["t::a", "t::b"])).status_code == 201

    response = project.post_run(_run_on("feature", "pr-1", "c2", ["t::a", "t::new"], ["t::b"]))

    body = response.json()
    assert response.status_code == 201
    assert body["web_url"] == f"{project.url}/ui/runs/pr-1"
    assert body["verdict"] == {
        "failures": 2,
        "blocking": 2,
        "quarantined": 0,
        "classes": {"regression": 1, "new_test": 1, "failing_on_default": 0, "flaky": 0, "quarantined": 0},
        "tests": [
            {"test_id": "t::a", "status": "failed", "class": "regression", "message": "t::a broke"},
            {"test_id": "t::new", "status": "failed", "class": "new_test", "message": "t::new broke"},
        ],
        "truncated": False,
        "default_branch": "main",
    }


def test_a_duplicate_and_the_run_read_back_carry_the_verdict_stored_at_first_ingest_byte_for_byte(
    project: ProjectAccess,
) -> None:
    project.post_run(_run_on("main", "main-1", "c1", [], ["t::a"]))
    first = project.post_run(_run_on("feature", "pr-1", "c2", ["t::a"], []))
    project.post_run(_run_on("main", "main-2", "c3", ["t::a"], []))  # history changes: main breaks too

    again = project.post_run(_run_on("feature", "pr-1", "c2", ["t::a"], []))
    read = project.get("/api/v1/runs/pr-1")

    def verdict_text(raw: bytes) -> bytes:
        return raw[raw.index(b'"verdict":'):].split(b',"web_url"')[0].rstrip(b"}")

    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["verdict"] == first.json()["verdict"] == read.json()["verdict"]
    assert first.json()["verdict"]["tests"][0]["class"] == "regression"
    assert verdict_text(again.content) == verdict_text(first.content)


def test_behind_a_proxy_the_runs_page_address_is_on_the_public_url(start_collector: Any) -> None:
    collector = start_collector(public_url="https://testrun.example.com/", token_rate_per_s="0")
    project = new_project(collector)

    posted = project.post_run(a_run("github:octo/app:1:1:test:pytest"))
    read = project.get(posted.json()["url"])

    expected = "https://testrun.example.com/ui/runs/github%3Aocto%2Fapp%3A1%3A1%3Atest%3Apytest"
    assert posted.json()["web_url"] == read.json()["web_url"] == expected


def test_a_project_made_over_the_admin_route_may_name_its_default_branch(collector: Any) -> None:
    headers = {"Authorization": f"Bearer {collector.admin_token}"}
    requests.post(f"{collector.url}/orgs", json={"name": "branchy"}, headers=headers, timeout=30)

    made = requests.post(f"{collector.url}/projects", json={"org": "branchy", "name": "app", "default_branch": "trunk"},
                         headers=headers, timeout=30)
    bad = requests.post(f"{collector.url}/projects", json={"org": "branchy", "name": "api", "default_branch": "a\nb"},
                        headers=headers, timeout=30)

    assert made.status_code == 201 and made.json()["default_branch"] == "trunk"
    assert bad.status_code == 400 and "default branch" in bad.json()["message"]
