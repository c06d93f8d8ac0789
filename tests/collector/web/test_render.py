"""The web pages' own answers to failures: unexpected errors and draining, called in-process.

An unexpected failure cannot be provoked through a healthy collector, so these
call the WSGI app directly, like tests/collector/test_app.py.
"""

from __future__ import annotations

import io
import logging
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from collector.settings import Settings
from collector.tokens import parse_token
from collector.web.render import CONTENT_SECURITY_POLICY
from collector.web.session import WebSessions


def signed_in(app: Any, token: str) -> str:
    """A web session of the token, started as signing in starts one; its id is the cookie's value."""
    token_id, _ = parse_token(token)
    return WebSessions(app.state.store, Settings()).start(token_id)


def call(app: Any, path: str, cookie: str | None = None) -> tuple[str, dict[str, str], str]:
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO(b"")}
    setup_testing_defaults(environ)
    if cookie:
        environ["HTTP_COOKIE"] = f"testrun_session={cookie}"
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen.update(status=status, headers=dict(headers))

    body = b"".join(app.wsgi_app(environ, start_response)).decode()
    return seen["status"], seen["headers"], body


def test_an_unexpected_error_is_an_html_500_with_a_request_id_and_no_internals(
    app_and_token: tuple[Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    app, token = app_and_token

    with caplog.at_level(logging.ERROR, logger="testrun"):
        status, headers, body = call(app, "/ui/runs", cookie=signed_in(app, token))

    assert status.startswith("500")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert f"request id {headers['X-Request-Id']}" in body
    assert "disk on fire" not in body and "Traceback" not in body
    assert "disk on fire" in caplog.text  # the operator gets the traceback


def test_while_draining_the_pages_answer_an_html_503_with_retry_after(app_and_token: tuple[Any, str]) -> None:
    app, token = app_and_token
    app.state.draining.set()

    status, headers, body = call(app, "/ui/", cookie=signed_in(app, token))

    assert status.startswith("503")
    assert headers["Retry-After"] == "1"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "shutting down" in body
