"""Analytics: flaky, slowest and failing tests, a daily summary, one test's history (scope ``read``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import bottle

from ..analytics import Analytics, parse_days, parse_limit
from ..model import Window
from .runs import run_url


def window_of(analytics: Analytics, query: bottle.FormsDict) -> Window:
    return analytics.window(parse_days(query.getunicode("days")), query.getunicode("branch") or None)


def register(app: bottle.Bottle, state: Any) -> None:
    analytics = Analytics(state.store)

    def read_request() -> tuple[Any, bottle.FormsDict]:
        principal = state.authenticate("read")
        return principal.project, bottle.request.query

    @app.get("/api/v1/analytics/summary")
    def summary() -> dict[str, Any]:
        project, query = read_request()
        return analytics.summary(project, window_of(analytics, query)).as_dict()

    def ranked(answer: Callable[[Any, Window, int], list[Any]]) -> Callable[[], dict[str, Any]]:
        def route() -> dict[str, Any]:
            project, query = read_request()
            window = window_of(analytics, query)
            tests = answer(project, window, parse_limit(query.getunicode("limit")))
            return {"window": window.as_dict(), "tests": [asdict(test) for test in tests]}

        return route

    app.get("/api/v1/analytics/flaky", callback=ranked(analytics.flaky))
    app.get("/api/v1/analytics/slowest", callback=ranked(analytics.slowest))
    app.get("/api/v1/analytics/failing", callback=ranked(analytics.failing))

    @app.get("/api/v1/tests/history")
    def history() -> dict[str, Any]:
        project, query = read_request()
        test_id = query.getunicode("test_id") or ""
        page = analytics.history(
            project, test_id, limit=parse_limit(query.getunicode("limit")), cursor=query.getunicode("cursor") or None
        )
        return {
            "test_id": test_id,
            "results": [{**asdict(entry), "url": run_url(entry.run_id)} for entry in page.entries],
            "next_cursor": page.next_cursor,
        }
