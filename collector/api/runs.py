"""Runs: ingest (``POST /api/v1/runs``, the original ``POST /ingest``) and read."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import bottle

from ..body import read_json_body
from ..errors import RunConflict
from ..middleware import request_context
from ..model import InsertOutcome, Project, RunPayload, StoredRun, TestPage
from ..params import bounded_int, status_filter
from ..timeutil import utc_now
from ..validation import validate_minimal, validate_run

MAX_PAGE = 200
DEFAULT_PAGE = 50
#: tests in one answer of GET /api/v1/runs/{run_id}, by default and at most
DEFAULT_TESTS_PAGE = 500
MAX_TESTS_PAGE = 1000
#: JSON bytes of tests after which an answer stops early (next_tests_cursor goes on from there); a test at
#: every cap of collector.validation, written as escape-heavy as JSON allows, is under 500 KB, so no answer
#: passes TESTS_PAGE_BYTES + MAX_TEST_JSON_BYTES + the summary (metadata capped at 32 keys of 2 KB each)
TESTS_PAGE_BYTES = 4 * 1024 * 1024
MAX_TEST_JSON_BYTES = 512 * 1024
#: JSON values a run body may hold per allowed test (a test with every field is 12), plus some for the rest
VALUES_PER_TEST = 16
VALUES_BESIDES_TESTS = 10_000


def max_run_values(max_tests: int) -> int:
    """The most JSON values a run body may hold: what a run of ``max_tests`` tests needs, with room to spare."""
    return VALUES_PER_TEST * max_tests + VALUES_BESIDES_TESTS


def run_url(run_id: str) -> str:
    return "/api/v1/runs/" + quote(run_id, safe="")


def web_url(public_url: str, run_id: str) -> str:
    """The absolute address of the run's web page: on ``public_url``, else on the address the request came to.

    Behind a proxy set TESTRUN_PUBLIC_URL (or TESTRUN_TRUSTED_PROXY, so the forwarded host is believed).
    """
    base = public_url or "{}://{}".format(*bottle.request.urlparts[:2])
    return f"{base}/ui/runs/{quote(run_id, safe='')}"


def run_summary(run: StoredRun) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "status": run.status,
        "started_at": run.started_at,
        "duration_ms": run.duration_ms,
        "received_at": run.received_at,
        "counts": run.counts.as_dict(),
        "ci": run.ci,
        "vcs": run.vcs,
        "reporter": run.reporter,
        "url": run_url(run.run_id),
    }


def run_detail(run: StoredRun, page: TestPage, max_bytes: int = TESTS_PAGE_BYTES) -> dict[str, Any]:
    """The run's summary, its verdict and the page's tests, cut where their JSON passes ``max_bytes`` (at least
    one test)."""
    tests: list[dict[str, Any]] = []
    size = 0
    next_cursor = page.next_cursor
    for index, test in enumerate(page.tests):
        if tests and size >= max_bytes:
            next_cursor = page.after[index - 1]
            break
        item = test.as_dict()
        size += len(json.dumps(item, ensure_ascii=False, separators=(",", ":")))
        tests.append(item)
    return {**run_summary(run), "verdict": run.verdict, "tests": tests, "next_tests_cursor": next_cursor}


def page_limit(raw: str | None) -> int:
    return bounded_int("limit", raw, DEFAULT_PAGE, MAX_PAGE)


def stored_answer(state: Any, result: InsertOutcome) -> dict[str, Any]:
    """The answer to a run stored (201), found stored already (200 duplicate), or refused as a conflict (409),
    however it was sent: whole, or in batches."""
    context = request_context(bottle.request.environ)
    context.update(run_id=result.run.run_id, outcome=result.outcome)
    state.metrics.runs.labels(outcome=result.outcome).inc()
    stored = result.run
    if result.outcome == "conflict":
        raise RunConflict(stored.run_id)
    if result.outcome == "created":
        state.metrics.tests_ingested.inc(stored.counts.total)
        bottle.response.status = 201
        bottle.response.set_header("Location", run_url(stored.run_id))
    return {
        "run_id": stored.run_id,
        "status": stored.status,
        "duplicate": result.outcome == "duplicate",
        "counts": stored.counts.as_dict(),
        "url": run_url(stored.run_id),
        "web_url": web_url(state.settings.public_url, stored.run_id),
        "received_at": stored.received_at,
        "verdict": stored.verdict,
    }


def register(app: bottle.Bottle, state: Any) -> None:
    settings = state.settings
    max_values = max_run_values(settings.max_tests_per_run)

    def accept(project: Project, run: RunPayload) -> dict[str, Any]:
        request_context(bottle.request.environ).update(project=project.slug, run_id=run.run_id)
        return stored_answer(state, state.store.insert_run(project, run, utc_now()))

    @app.post("/api/v1/runs")
    def post_run() -> dict[str, Any]:
        principal = state.authenticate("ingest")
        data = read_json_body(bottle.request.environ, max_bytes=settings.max_body_bytes, max_values=max_values)
        return accept(principal.project, validate_run(data, max_tests=settings.max_tests_per_run))

    @app.post("/ingest")
    def post_minimal_run() -> dict[str, Any]:
        principal = state.authenticate("ingest")
        data = read_json_body(bottle.request.environ, max_bytes=settings.max_body_bytes, max_values=max_values)
        return accept(principal.project, validate_minimal(data))

    @app.get("/api/v1/runs")
    def list_runs() -> dict[str, Any]:
        principal = state.authenticate("read")
        query = bottle.request.query
        page = state.store.list_runs(
            principal.project,
            limit=page_limit(query.getunicode("limit")),
            cursor=query.getunicode("cursor") or None,
            branch=query.getunicode("branch") or None,
            status=status_filter(query.getunicode("status")),
        )
        return {"runs": [run_summary(run) for run in page.runs], "next_cursor": page.next_cursor}

    @app.get("/api/v1/runs/<run_id:path>")
    def get_run(run_id: str) -> dict[str, Any]:
        principal = state.authenticate("read")
        request_context(bottle.request.environ).update(project=principal.project.slug, run_id=run_id)
        query = bottle.request.query
        limit = bounded_int("tests_limit", query.getunicode("tests_limit"), DEFAULT_TESTS_PAGE, MAX_TESTS_PAGE)
        cursor = query.getunicode("tests_cursor") or None
        stored = state.store.get_run(principal.project, run_id, with_tests=False)
        page = state.store.list_run_tests(principal.project, run_id, limit=limit, cursor=cursor)
        return {**run_detail(stored, page), "web_url": web_url(settings.public_url, run_id)}
