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
- **A share of them per client.** One address may hold ``connections_per_client``
  connections; the next is closed as soon as it is accepted. Otherwise a few
  hundred slow sockets from one address take every connection and everyone
  else waits in the listen queue until the request deadline frees them.
  Closing is all a refusal costs: an answer would be a write to a peer that is
  likely not reading, and, as the peer keeps sending, the kernel would reset
  the connection and drop the answer unless we first read what it sent.
  Behind a trusted proxy every connection comes from the proxy, so the proxy's
  own address is not capped; instead one forwarded address (the X-Forwarded-For
  hop waitress believes) may have that many request bodies arriving at once,
  and a request beyond them is answered 429 once its headers are in. A body
  is what a client behind a proxy can trickle: a proxy sends headers on only
  when it has them all. Every count is kept in the I/O thread, one step per
  connection, and given back when a body is in or its connection closes, for
  whatever reason.
- **A clear no to TLS.** A connection whose first bytes are a TLS handshake
  (a client given an ``https://`` URL of this plain-HTTP server) is answered
  at once with a plain-text 400 and closed. The client's TLS library reads
  that as a failed handshake ("wrong version number") straight away, where
  waitress would have waited for the end of headers that never come and
  the client for a handshake answer, until one of them timed out.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import resource
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
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
    TooManyRequests,
)

log = logging.getLogger("testrun")

#: after the header deadline, a body must keep arriving at this rate (Apache mod_reqtimeout's default)
MIN_BODY_BYTES_PER_S = 500
#: descriptors the process needs besides its connections: listening socket, database files, logs
SPARE_FILES = 64
#: seconds between two log lines about refusals to one address: a flood must not flood the log too
REFUSAL_LOG_EVERY_S = 60.0

#: how a TLS connection begins: a handshake record (0x16) of SSL 3 or TLS 1.x (0x03); no HTTP request starts so
TLS_HANDSHAKE = b"\x16\x03"
TLS_REFUSAL_BODY = b"This testrun collector serves plain HTTP: use its http:// URL, not https://.\n"
TLS_REFUSAL = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(TLS_REFUSAL_BODY), TLS_REFUSAL_BODY)
)

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


class ClientShares:
    """How many connections (or requests in progress) each client address holds, against one cap.

    Taken in the I/O thread; given back there too, except when a worker's write finds the connection
    gone and closes it, hence the lock (never contended for long: one dict step).
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.held: dict[str, int] = {}
        self.lock = threading.Lock()

    def full(self, client: str) -> bool:
        return self.held.get(client, 0) >= self.cap

    def take(self, client: str) -> None:
        with self.lock:
            self.held[client] = self.held.get(client, 0) + 1

    def give_back(self, client: str) -> None:
        with self.lock:
            left = self.held.get(client, 0) - 1
            if left > 0:
                self.held[client] = left
            else:
                self.held.pop(client, None)


class LateRequest(Error):
    code = 408
    reason = "Request Timeout"


class TooManyInProgress(Error):
    code = 429
    reason = "Too Many Requests"


class JsonErrorTask(ErrorTask):
    """waitress's error answer in the collector's shape: ``{"error": code, "message": ..., "request_id": ...}``."""

    def execute(self) -> None:
        error = self.request.error
        server: WireServer = self.channel.server
        answer = server.answer_for(error)
        request_id = uuid.uuid4().hex
        body = json.dumps({**answer.body(), "request_id": request_id}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"), ("X-Request-Id", request_id),
                                      *answer.headers.items()])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)
        began = self.channel.request_began or self.start_time
        # a request cut short before its request line was read has neither a method nor a path
        method, path = getattr(self.request, "command", None) or "", getattr(self.request, "path", None) or ""
        server.report(request_id, method, path, error.code, max(0.0, time.time() - began), answer.code)


class DeadlineChannel(HTTPChannel):
    """A connection that knows when its current request began and how many bytes it has brought, and
    holds its client's share of connections (or, behind a trusted proxy, of requests in progress)."""

    error_task_class = JsonErrorTask
    server: WireServer
    #: when the current (or last) request's first byte came; 0.0 until the client sends anything
    request_began = 0.0
    request_bytes = 0
    #: the address whose connection share this channel holds; None if it holds none
    client: str | None = None
    #: the forwarded address whose share of requests in progress ``share_request`` holds
    forwarded_client: str | None = None
    share_request: HTTPRequestParser | None = None
    #: a request was refused: what else the client sends is dropped until the connection closes
    dropping_input = False

    def __init__(self, server: WireServer, sock: Any, addr: Any, adj: Adjustments, map: Any = None) -> None:
        super().__init__(server, sock, addr, adj, map)
        self.client = server.capped_address(addr)
        if self.client is not None:
            server.connections.take(self.client)

    def del_channel(self, map: Any = None) -> None:
        super().del_channel(map)
        if self.client is not None:
            self.server.connections.give_back(self.client)
            self.client = None
        self._give_back_request_share()

    def received(self, data: bytes) -> bool:
        if self.dropping_input:
            return True
        if not self.request_began and data and TLS_HANDSHAKE.startswith(data[: len(TLS_HANDSHAKE)]):
            self._refuse_tls()
            return True
        if data and self.request is None:
            self._begin_request()
        before = self.request
        accepted = bool(super().received(data))
        if self.request is not self.share_request:
            self._give_back_request_share()
        if self.request is not None:
            if self.request is not before:  # another request began after one completed in this chunk
                self._begin_request()
            self.request_bytes += len(data)
            if self.request.headers_finished and self.share_request is None and self.server.forwarding(self.addr):
                self._take_request_share()
        return accepted

    def _take_request_share(self) -> None:
        """Count the request whose body is now arriving against its forwarded address, or refuse it."""
        request = self.request
        client = self.server.forwarded_address(request, self.addr)
        if self.server.forwarded.full(client):
            self.dropping_input = True
            self._answer_now(request, TooManyInProgress(self.server.refuse_request(client)))
            return
        self.server.forwarded.take(client)
        self.forwarded_client, self.share_request = client, request

    def _give_back_request_share(self) -> None:
        if self.forwarded_client is not None:
            self.server.forwarded.give_back(self.forwarded_client)
        self.forwarded_client = self.share_request = None

    def _answer_now(self, request: HTTPRequestParser, error: Error) -> None:
        """End the request in progress here and answer it with ``error``, as waitress answers a bad request."""
        request.error = error
        request.completed = True
        with self.requests_lock:
            self.request = None
            self.requests.append(request)
            first = len(self.requests) == 1
        self._give_back_request_share()
        if first:  # otherwise the request before it, when served, starts its task
            self.server.add_task(self)

    def _refuse_tls(self) -> None:
        """Answer a TLS handshake in plain text and close (see the module docstring); the rest is dropped."""
        self.dropping_input = True
        self.request_began = time.time()
        with self.outbuf_lock:
            self.outbufs[-1].append(TLS_REFUSAL)
            self.current_outbuf_count += len(TLS_REFUSAL)
            self.total_outbufs_len += len(TLS_REFUSAL)
        self.close_when_flushed = True
        self.server.refuse_tls(str(self.addr[0]))

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
        self._answer_now(self.request, LateRequest(
            f"the request did not arrive in time: headers are due within {timeout_s:g} s of the first byte "
            f"and the body at {MIN_BODY_BYTES_PER_S} bytes/s or faster after that"
        ))


class WireServer(TcpWSGIServer):
    """waitress's TCP server with request deadlines, JSON errors and a share of connections per client
    (see the module docstring)."""

    channel_class = DeadlineChannel

    def __init__(self, application: Any, *, request_timeout_s: float, body_limit: int, report: Reporter,
                 connections_per_client: int = 0, refused: Callable[[], None] = lambda: None, **kw: Any) -> None:
        """``connections_per_client`` 0 turns the share off; ``refused`` is called per connection refused."""
        self.request_timeout_s = request_timeout_s
        self.body_limit = body_limit
        self.report = report
        self.connections = ClientShares(connections_per_client)
        self.forwarded = ClientShares(connections_per_client)
        self.refused = refused
        #: when each address's last refusal was logged (pruned by maintenance)
        self.refusals_logged: dict[tuple[str, str], float] = {}
        super().__init__(application, **kw)

    def accept(self) -> tuple[Any, Any] | None:
        """waitress's accept, closing at once a connection whose address holds its share already."""
        accepted = super().accept()
        if accepted is None:
            return None
        client = self.capped_address(accepted[1])
        if client is None or not self.connections.full(client):
            return accepted
        accepted[0].close()
        self.refused()
        self._log_refusal("connections", client, "refusing connections from %s: it has %d open, the most one address "
                          "may have (TESTRUN_CONNECTIONS_PER_CLIENT=%d)")
        return None

    def capped_address(self, addr: Any) -> str | None:
        """The address whose connection share a connection from ``addr`` takes; None when uncapped."""
        if not self.connections.cap or self.forwarding(addr):
            return None
        return str(addr[0])

    def forwarding(self, addr: Any) -> bool:
        """Whether a connection from ``addr`` is the trusted proxy's, whose requests count per forwarded address."""
        proxy = self.adj.trusted_proxy
        return bool(self.forwarded.cap and proxy and (proxy == "*" or addr[0] == proxy))

    @staticmethod
    def forwarded_address(request: HTTPRequestParser, addr: Any) -> str:
        """The client a trusted proxy forwards ``request`` for: the last X-Forwarded-For hop, as waitress
        reads it with trusted_proxy_count=1; the proxy itself when there is none."""
        hop = request.headers.get("X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip().strip('"')
        return hop or str(addr[0])

    def refuse_request(self, client: str) -> str:
        """Log (now and then) a request refused for ``client``'s share; the message its 429 answers."""
        self._log_refusal("requests", client, "answering 429 to requests forwarded for %s: it has %d in progress, "
                          "the most one address may have (TESTRUN_CONNECTIONS_PER_CLIENT=%d)")
        return (
            f"{client} has {self.forwarded.cap} requests in progress, the most one address may have "
            "(TESTRUN_CONNECTIONS_PER_CLIENT): retry once one of them is done"
        )

    def refuse_tls(self, client: str) -> None:
        """Log (now and then) and count a TLS handshake answered in plain text (see DeadlineChannel)."""
        self.report(uuid.uuid4().hex, "", "", 400, 0.0, "tls_on_plain_http")
        if self._may_log("tls", client):
            log.warning("%s began a TLS handshake, but this collector serves plain HTTP: its URL should start with "
                        "http:// (or put a TLS-terminating proxy in front); further ones from it are not logged "
                        "for %g s", client, REFUSAL_LOG_EVERY_S)

    def _log_refusal(self, kind: str, client: str, message: str) -> None:
        if not self._may_log(kind, client):
            return
        cap = self.connections.cap
        log.warning(message + "; further refusals of it are not logged for %g s", client, cap, cap,
                    REFUSAL_LOG_EVERY_S)

    def _may_log(self, kind: str, client: str) -> bool:
        """Whether a line of ``kind`` about ``client`` is due: at most one every REFUSAL_LOG_EVERY_S."""
        now = time.monotonic()
        last = self.refusals_logged.get((kind, client))
        if last is not None and now - last < REFUSAL_LOG_EVERY_S:
            return False
        self.refusals_logged[(kind, client)] = now
        return True

    @property
    def retry_after_s(self) -> int:
        """By then a request holding a share has arrived in full or been timed out."""
        return max(1, math.ceil(self.request_timeout_s))

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
        if self.refusals_logged:
            cutoff = time.monotonic() - REFUSAL_LOG_EVERY_S
            self.refusals_logged = {key: at for key, at in self.refusals_logged.items() if at > cutoff}

    def answer_for(self, error: Error) -> CollectorError:
        """The collector's error for one waitress (or this module) answers on its own."""
        if error.code == 429:
            return TooManyRequests(str(error.body), retry_after=self.retry_after_s)
        return _ERRORS.get(error.code, CollectorError)(self.message_of(error))

    def message_of(self, error: Error) -> str:
        if error.code == 413:
            return f"request body exceeds {self.body_limit} bytes"
        return str(error.body)


def serve_on_the_wire(application: Any, *, request_timeout_s: float, connection_limit: int, body_limit: int,
                      report: Reporter, connections_per_client: int = 0, refused: Callable[[], None] = lambda: None,
                      **options: Any) -> WireServer:
    """A listening WireServer for ``application``; ``options`` are waitress's adjustments.

    An address it cannot listen on is a ConfigError naming the address and the setting to change.
    """
    where = _host_port(str(options.get("host", "")), options.get("port", ""))
    try:
        adj = Adjustments(connection_limit=connection_limit, asyncore_use_poll=True, **options)
    except ValueError as exc:
        if str(exc) != "Invalid host/port specified.":  # waitress's words when getaddrinfo fails
            raise
        raise ConfigError(f"cannot listen on {where}: the host is not an address or a name that resolves: "
                          "check --host or TESTRUN_HOST") from None
    if len(adj.listen) != 1:
        raise ConfigError(
            f"host {adj.host!r} resolves to {len(adj.listen)} addresses; give one address (e.g. 127.0.0.1 or ::1)"
        )
    ensure_open_files(connection_limit + SPARE_FILES)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    try:
        return WireServer(application, request_timeout_s=request_timeout_s, body_limit=body_limit, report=report,
                          connections_per_client=connections_per_client, refused=refused,
                          map={}, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0])
    except OSError as exc:
        dispatcher.shutdown()
        raise ConfigError(f"cannot listen on {where}: {_listen_failure(exc)}") from None


def _host_port(host: str, port: object) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listen_failure(error: OSError) -> str:
    """Why the listening socket could not be bound, and the setting that fixes it."""
    if error.errno == errno.EADDRINUSE:
        return "the port is in use (by another collector still running?): choose another with --port or TESTRUN_PORT"
    if error.errno == errno.EADDRNOTAVAIL:
        return "the host is not an address of this machine: check --host or TESTRUN_HOST"
    if error.errno == errno.EACCES:
        return ("permission denied (ports below 1024 need privileges): choose a port of 1024 or more with --port or "
                "TESTRUN_PORT")
    reason = (error.strerror or type(error).__name__).lower()
    return f"{reason}: check --host and --port (TESTRUN_HOST, TESTRUN_PORT)"


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
