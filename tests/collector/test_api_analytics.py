"""The analytics routes over real HTTP, on a collector of each backend: answers, scopes, isolation, bad parameters.

Runs are seeded a few days back from now, so they fall in the default window.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest

from collector_harness import CollectorProcess, ProjectAccess, a_run, admin, admin_json, new_project
from postgres_harness import create_database, database_url, drop_database
from test_openapi import component

FLAKY_ID = "tests/test_net.py::test_fetch[a/b]"
FAILING_ID = "tests/test_db.py::TestDb::test_migrate"


def days_ago(days: int, hour: int = 9) -> str:
    moment = datetime.now(timezone.utc).replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(project: ProjectAccess) -> None:
    runs = [
        ("pytest-1", days_ago(3), "c1", [("passed", 10), ("failed", 5)], 1),
        ("junit-1", days_ago(3, hour=10), "c1", [("failed", 30), ("failed", 5)], 1),
        ("pytest-2", days_ago(2), "c2", [("passed", 20), ("error", 5)], 2),
        ("feature", days_ago(1), "f1", [("passed", 40), ("failed", 5)], 1),
    ]
    for run_id, started_at, commit, (flaky_status, failing_status), attempts in runs:
        branch = "feature" if run_id == "feature" else "main"
        flaky_test = {"id": FLAKY_ID, "status": flaky_status[0], "duration_ms": flaky_status[1], "attempts": attempts}
        tests = [flaky_test, {"id": FAILING_ID, "status": failing_status[0], "duration_ms": failing_status[1], "message": f"broke in {run_id}"}]
        body = a_run(run_id, started_at=started_at, tests=tests, vcs={"commit": commit, "branch": branch})
        response = project.post_run(body)
        assert response.status_code == 201, response.text


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def analytics_collector(request: pytest.FixtureRequest, collector: CollectorProcess) -> Iterator[CollectorProcess]:
    """The session's SQLite collector, or a collector of this module's own on a new PostgreSQL database."""
    if request.param == "sqlite":
        yield collector
        return
    name = create_database()
    url = database_url(name)
    assert admin(url, "migrate").returncode == 0
    process = CollectorProcess(db=url, env={"TESTRUN_TOKEN_RATE_PER_S": "0"}).start()
    process.admin_token = admin_json(url, "token", "create", "--admin")["token"]
    yield process
    process.stop()
    drop_database(name)


@pytest.fixture(scope="module")
def seeded(analytics_collector: CollectorProcess) -> ProjectAccess:
    project = new_project(analytics_collector)
    seed(project)
    return project


def get_json(project: ProjectAccess, path: str, schema: str, **params: Any) -> dict[str, Any]:
    response = project.get(f"{path}?{urlencode(params)}" if params else path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert component(schema).is_valid(body), list(component(schema).iter_errors(body))
    return body


def test_flaky_lists_the_test_that_flipped_on_one_commit_and_the_one_retried_to_a_pass(seeded: ProjectAccess) -> None:
    body = get_json(seeded, "/api/v1/analytics/flaky", "FlakyTests")

    assert body["window"]["days"] == 14
    [test] = body["tests"]
    assert (test["test_id"], test["flaky_commits"], test["flaky_runs"], test["runs"]) == (FLAKY_ID, 2, 2, 4)
    assert (test["flake_rate"], test["name"]) == (0.5, FLAKY_ID)
    assert test["example_run_ids"] == ["pytest-2", "junit-1"]


def test_a_test_retried_to_a_pass_in_a_run_without_a_commit_is_flaky_on_no_commit(
    analytics_collector: CollectorProcess,
) -> None:
    project = new_project(analytics_collector)
    retried = {"id": "tests/test_retry.py::test_once", "status": "passed", "attempts": 2}
    assert project.post_run(a_run("no-commit", started_at=days_ago(1), tests=[retried], vcs={})).status_code == 201

    [test] = get_json(project, "/api/v1/analytics/flaky", "FlakyTests")["tests"]

    assert (test["test_id"], test["flaky_commits"], test["flaky_runs"], test["runs"]) == (retried["id"], 0, 1, 1)


def test_failing_counts_failures_and_errors_with_the_latest_message(seeded: ProjectAccess) -> None:
    body = get_json(seeded, "/api/v1/analytics/failing", "FailingTests")

    assert [(t["test_id"], t["failures"], t["runs"], t["failure_rate"]) for t in body["tests"]] == [
        (FAILING_ID, 4, 4, 1.0),
        (FLAKY_ID, 1, 4, 0.25),
    ]
    assert body["tests"][0]["last_failure"]["run_id"] == "feature"
    assert body["tests"][0]["last_failure"]["message"] == "broke in feature"


def test_a_branch_narrows_every_answer(seeded: ProjectAccess) -> None:
    failing = get_json(seeded, "/api/v1/analytics/failing", "FailingTests", branch="feature")
    summary = get_json(seeded, "/api/v1/analytics/summary", "AnalyticsSummary", branch="feature")

    assert [(t["test_id"], t["failures"]) for t in failing["tests"]] == [(FAILING_ID, 1)]
    assert get_json(seeded, "/api/v1/analytics/flaky", "FlakyTests", branch="feature")["tests"] == []
    assert summary["totals"]["runs"] == 1


def test_slowest_puts_the_slowest_p95_first_with_its_share_of_the_time(seeded: ProjectAccess) -> None:
    body = get_json(seeded, "/api/v1/analytics/slowest", "SlowTests", limit=1)

    [test] = body["tests"]
    assert (test["test_id"], test["runs"], test["mean_ms"]) == (FLAKY_ID, 4, 25.0)
    assert test["p95_ms"] == pytest.approx(40, rel=0.05)
    assert test["share"] == pytest.approx(100 / 120)


def test_summary_has_every_day_of_the_window_and_totals(seeded: ProjectAccess) -> None:
    body = get_json(seeded, "/api/v1/analytics/summary", "AnalyticsSummary", days=7)

    assert len(body["days"]) == 7
    three_days_ago = next(day for day in body["days"] if day["day"] == days_ago(3)[:10])
    assert (three_days_ago["runs"], three_days_ago["failed_runs"], three_days_ago["tests_run"]) == (2, 2, 4)
    assert body["totals"]["runs"] == 4 and body["totals"]["p50_duration_ms"] == 5000


def test_history_takes_an_id_with_slashes_colons_and_brackets_and_pages(seeded: ProjectAccess) -> None:
    first = get_json(seeded, "/api/v1/tests/history", "TestHistory", test_id=FLAKY_ID, limit=3)
    rest = get_json(seeded, "/api/v1/tests/history", "TestHistory", test_id=FLAKY_ID, limit=3, cursor=first["next_cursor"])

    assert [r["run_id"] for r in first["results"]] == ["feature", "pytest-2", "junit-1"]
    assert first["results"][1]["attempts"] == 2 and first["results"][0]["branch"] == "feature"
    assert first["results"][0]["url"] == "/api/v1/runs/feature"
    assert ([r["run_id"] for r in rest["results"]], rest["next_cursor"]) == (["pytest-1"], None)


def test_another_projects_token_sees_none_of_it(analytics_collector: CollectorProcess, seeded: ProjectAccess) -> None:
    other = new_project(analytics_collector)

    for path, schema in (("flaky", "FlakyTests"), ("slowest", "SlowTests"), ("failing", "FailingTests")):
        assert get_json(other, f"/api/v1/analytics/{path}", schema)["tests"] == []
    assert get_json(other, "/api/v1/analytics/summary", "AnalyticsSummary")["totals"]["runs"] == 0
    assert get_json(other, "/api/v1/tests/history", "TestHistory", test_id=FLAKY_ID)["results"] == []


def test_an_ingest_token_cannot_read_analytics(seeded: ProjectAccess) -> None:
    response = seeded.get("/api/v1/analytics/flaky", token=seeded.ingest_token)

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/v1/analytics/flaky?days=abc", "days='abc' is not a whole number"),
        ("/api/v1/analytics/summary?days=0", "days must be between 1 and 3660, not 0"),
        ("/api/v1/analytics/slowest?limit=501", "limit must be between 1 and 500, not 501"),
        ("/api/v1/tests/history", "test_id is required"),
        ("/api/v1/tests/history?test_id=x&cursor=nope", "cursor is not valid"),
    ],
)
def test_bad_parameters_are_a_400_that_names_them(seeded: ProjectAccess, path: str, message: str) -> None:
    response = seeded.get(path)

    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert message in response.json()["message"]
