"""Per-request bookkeeping around the whole WSGI app: request id, one log line, metrics.

It wraps the app rather than living in a Bottle plugin so that router-level
answers (404 for an unknown path, 405) are logged and counted too.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from .logs import json_line, text_line
from .metrics import Metrics

access_log = logging.getLogger("testrun.access")

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: methods counted under their own name in the metrics; any other is counted as "other", so a client
#: inventing methods cannot grow the series without bound
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
CONTEXT_KEY = "testrun.context"
REQUEST_ID_KEY = "testrun.request_id"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def request_id_for(environ: dict[str, Any]) -> str:
    """The caller's X-Request-Id when it is a sane token, else a fresh one."""
    offered = environ.get("HTTP_X_REQUEST_ID", "")
    return offered if _CLIENT_REQUEST_ID.match(offered) else uuid.uuid4().hex


def request_context(environ: dict[str, Any]) -> dict[str, Any]:
    """The dict a route fills with what the log line should say (project, run_id, outcome)."""
    return environ.setdefault(CONTEXT_KEY, {})


class RequestLogMiddleware:
    def __init__(self, app: WSGIApp, metrics: Metrics, *, log_format: str = "json") -> None:
        """``log_format``: ``text`` for key=value lines; anything else (an unresolved ``auto`` too) is JSON."""
        self.app = app
        self.metrics = metrics
        self.log_format = log_format

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = request_id_for(environ)
        environ[REQUEST_ID_KEY] = request_id
        seen: dict[str, str] = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = status.split(" ", 1)[0]
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append(("X-Request-Id", request_id))
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, start)
        finally:
            self._record(environ, seen.get("status", "500"), time.perf_counter() - started)
        return body

    def record_rejected(self, request_id: str, method: str, path: str, status: int, seconds: float, code: str) -> None:
        """Log and count a request the server answered itself, before the app saw it (see wire.py)."""
        environ = {REQUEST_ID_KEY: request_id, "REQUEST_METHOD": method, "PATH_INFO": path, CONTEXT_KEY: {"error": code}}
        self._record(environ, str(status), seconds)

    def _record(self, environ: dict[str, Any], status: str, seconds: float) -> None:
        route = environ.get("bottle.route")
        rule = route.rule if route is not None else "unmatched"
        method = environ.get("REQUEST_METHOD", "")
        counted_method = method if method in KNOWN_METHODS else "other"
        self.metrics.requests.labels(route=rule, method=counted_method, status=status).inc()
        self.metrics.latency.labels(route=rule).observe(seconds)
        fields = {
            "request_id": environ[REQUEST_ID_KEY],
            "method": method,
            "route": rule,
            "path": environ.get("PATH_INFO", ""),
            "status": int(status),
            "duration_ms": round(seconds * 1000, 3),
            **environ.get(CONTEXT_KEY, {}),
        }
        access_log.info(self._format(fields))

    def _format(self, fields: dict[str, Any]) -> str:
        return text_line(fields) if self.log_format == "text" else json_line(fields)
