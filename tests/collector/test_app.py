"""The app's own answers: unexpected errors, draining, unknown routes.

These call the WSGI app in-process, because an unexpected failure cannot be
provoked through a healthy collector; everything else is tested over HTTP.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest



def call(app: Any, method: str, path: str, token: str | None = None) -> tuple[str, dict[str, str], dict[str, Any]]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(b"")}
    setup_testing_defaults(environ)
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen.update(status=status, headers=dict(headers))

    body = b"".join(app.wsgi_app(environ, start_response))
    return seen["status"], seen["headers"], json.loads(body)


def test_an_unexpected_error_is_a_500_with_a_request_id_and_no_internals(
    app_and_token: tuple[Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    app, token = app_and_token

    with caplog.at_level(logging.ERROR, logger="testrun"):
        status, headers, body = call(app, "GET", "/api/v1/runs", token)

    assert status.startswith("500")
    assert body["error"] == "internal_error"
    assert body["request_id"] == headers["X-Request-Id"]
    assert "disk on fire" not in json.dumps(body)
    assert any(body["request_id"] in record.getMessage() for record in caplog.records)
    assert token not in caplog.text


def test_while_draining_new_requests_get_503_with_retry_after_but_health_answers(
    app_and_token: tuple[Any, str],
) -> None:
    app, token = app_and_token
    app.state.draining.set()

    status, headers, body = call(app, "GET", "/api/v1/runs", token)
    ready_status, _, _ = call(app, "GET", "/readyz")
    health_status, _, _ = call(app, "GET", "/healthz")

    assert status.startswith("503")
    assert int(headers["Retry-After"]) >= 1
    assert "shutting down" in body["message"]
    assert ready_status.startswith("503")
    assert health_status.startswith("200")


def test_a_wrong_method_is_a_json_405(app_and_token: tuple[Any, str]) -> None:
    app, _ = app_and_token

    status, _, body = call(app, "DELETE", "/api/v1/runs")

    assert status.startswith("405")
    assert body["error"] == "method_not_allowed"
