"""The HTTP wire before the app: waitress, with deadlines, JSON errors and room for many connections.

waitress reads each request in full in its I/O loop before a worker thread
sees it, so a slow client holds a socket, never a thread. What it does not do
on its own, and this module adds:

- **Request deadlines.** A request's headers must arrive within
  ``request_timeout_s`` of its first byte, and its body at
  ``MIN_BODY_BYTES_PER_S`` beyond that. A client that trickles bytes
  (slowloris) would otherwise keep its socket for as long as it never falls
  silent past the channel timeout; now it gets a 408 and the connection is
  closed. A connection that sends nothing at all is closed after the same time.
- **JSON errors.** What waitress rejects itself (a malformed or duplicate
  Content-Length, headers too large, a body far over the limit) is answered
  with the collector's JSON error body, and logged and counted like any
  request, instead of waitress's plain text.
- **Many connections.** ``poll()`` instead of ``select()``, which cannot watch
  a descriptor numbered 1024 or more, and ``connection_limit`` connections
  (waitress's default is 100: that many idle sockets kept everyone else
  waiting), with the open-files limit raised to fit.
"""

from __future__ import annotations

import json
import resource
import time
import uuid
from collections.abc import Callable
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import Error

from .errors import (
    BadRequest,
    CollectorError,
    ConfigError,
    HeadersTooLarge,
    NotImplementedByServer,
    PayloadTooLarge,
    RequestTimeout,
)

#: after the header deadline, a body must keep arriving at this rate (Apache mod_reqtimeout's default)
MIN_BODY_BYTES_PER_S = 500
#: descriptors the process needs besides its connections: listening socket, database files, logs
SPARE_FILES = 64

#: the collector's error for each status waitress answers on its own
_ERRORS: dict[int, type[CollectorError]] = {
    400: BadRequest,
    408: RequestTimeout,
    413: PayloadTooLarge,
    431: HeadersTooLarge,
    501: NotImplementedByServer,
}

#: called once per request waitress answers itself: (request id, method, path, status, seconds, code)
Reporter = Callable[[str, str, str, int, float, str], None]


class LateRequest(Error):
    code = 408
    reason = "Request Timeout"


class JsonErrorTask(ErrorTask):
    """waitress's error answer in the collector's shape: ``{"error": code, "message": ..., "request_id": ...}``."""

    def execute(self) -> None:
        error = self.request.error
        server: WireServer = self.channel.server
        answer = _ERRORS.get(error.code, CollectorError)(server.message_of(error))
        request_id = uuid.uuid4().hex
        body = json.dumps({**answer.body(), "request_id": request_id}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"), ("X-Request-Id", request_id)])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)
        began = self.channel.request_began or self.start_time
        # a request cut short before its request line was read has neither a method nor a path
        method, path = getattr(self.request, "command", None) or "", getattr(self.request, "path", None) or ""
        server.report(request_id, method, path, error.code, max(0.0, time.time() - began), answer.code)


class DeadlineChannel(HTTPChannel):
    """A connection that knows when its current request began and how many bytes it has brought."""

    error_task_class = JsonErrorTask
    #: when the current (or last) request's first byte came; 0.0 until the client sends anything
    request_began = 0.0
    request_bytes = 0

    def received(self, data: bytes) -> bool:
        if data and self.request is None:
            self._begin_request()
        before = self.request
        accepted = bool(super().received(data))
        if self.request is not None:
            if self.request is not before:  # another request began after one completed in this chunk
                self._begin_request()
            self.request_bytes += len(data)
        return accepted

    def _begin_request(self) -> None:
        self.request_began = time.time()
        self.request_bytes = 0

    def overdue(self, now: float, timeout_s: float) -> bool:
        """Whether the request in progress is late: headers due ``timeout_s`` after its first byte, the body
        at MIN_BODY_BYTES_PER_S after that; a connection that never sent a byte is late after ``timeout_s``."""
        if not self.request_began:
            return now > self.creation_time + timeout_s
        if self.request is None:
            return False
        allowed = timeout_s
        if self.request.headers_finished:
            allowed += self.request_bytes / MIN_BODY_BYTES_PER_S
        return now > self.request_began + allowed

    def time_out_request(self, timeout_s: float) -> None:
        """Answer the request in progress with a 408, as waitress answers a request it found malformed."""
        request = self.request
        request.error = LateRequest(
            f"the request did not arrive in time: headers are due within {timeout_s:g} s of the first byte "
            f"and the body at {MIN_BODY_BYTES_PER_S} bytes/s or faster after that"
        )
        request.completed = True
        with self.requests_lock:
            self.request = None
            self.requests.append(request)
        self.server.add_task(self)


class WireServer(TcpWSGIServer):
    """waitress's TCP server with request deadlines and JSON errors (see the module docstring)."""

    channel_class = DeadlineChannel

    def __init__(self, application: Any, *, request_timeout_s: float, body_limit: int, report: Reporter,
                 **kw: Any) -> None:
        self.request_timeout_s = request_timeout_s
        self.body_limit = body_limit
        self.report = report
        super().__init__(application, **kw)

    def maintenance(self, now: float) -> None:
        """Close idle connections (waitress's channel timeout) and time out requests that are overdue."""
        idle_cutoff = now - self.adj.channel_timeout
        for channel in list(self.active_channels.values()):
            if channel.requests or channel.will_close or channel.close_when_flushed:
                continue
            late = channel.overdue(now, self.request_timeout_s)
            if channel.request is not None and (late or channel.last_activity < idle_cutoff):
                channel.time_out_request(self.request_timeout_s)
            elif late or channel.last_activity < idle_cutoff:
                channel.will_close = True

    def message_of(self, error: Error) -> str:
        if error.code == 413:
            return f"request body exceeds {self.body_limit} bytes"
        return str(error.body)


def serve_on_the_wire(application: Any, *, request_timeout_s: float, connection_limit: int, body_limit: int,
                      report: Reporter, **options: Any) -> WireServer:
    """A listening WireServer for ``application``; ``options`` are waitress's adjustments."""
    adj = Adjustments(connection_limit=connection_limit, asyncore_use_poll=True, **options)
    if len(adj.listen) != 1:
        raise ConfigError(
            f"host {adj.host!r} resolves to {len(adj.listen)} addresses; give one address (e.g. 127.0.0.1 or ::1)"
        )
    ensure_open_files(connection_limit + SPARE_FILES)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    return WireServer(application, request_timeout_s=request_timeout_s, body_limit=body_limit, report=report,
                      map={}, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0])


def ensure_open_files(needed: int) -> None:
    """Raise the soft open-files limit to ``needed`` if it is lower; fail naming both limits if it cannot be."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        reason = f"the hard limit is {hard} (ulimit -Hn)"
    else:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
            return
        except (ValueError, OSError) as exc:
            reason = str(exc)
    raise ConfigError(
        f"connection_limit needs {needed} open files but this process may not open that many ({reason}): "
        "lower TESTRUN_CONNECTION_LIMIT or raise the limit"
    )
