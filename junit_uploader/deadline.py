"""A wall-clock bound over one whole HTTP exchange: connect, send the run, the answer's headers and its body.

requests' timeouts bound each socket operation, never the exchange: a server
(or a broken proxy) that trickles a byte every second keeps each read under
any read timeout, and the exchange open for as long as it likes (requests
says so itself: it has no "total timeout"); urllib3's ``Timeout(total=...)``
does not cover reading the body either. So a timer thread ends the exchange
at its deadline by shutting the connection's socket down, which wakes a send
or a receive blocked in the thread doing the upload (closing the socket from
another thread would not). The connections are found through the connection
class of the client's adapter: each registers itself with the deadline of the
thread that sends a request on it.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
from typing import Any

from requests.adapters import HTTPAdapter

SENDING = "sending the run"
WAITING = "waiting for the answer"
READING = "reading the answer"

_current = threading.local()


class Deadline:
    """``with Deadline(seconds) as deadline:`` around one exchange; ``expired`` says whether it cut it short.

    ``phase`` is what the exchange was doing, for the one line that explains a
    failed attempt; the connection class and the reader of the answer move it on.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.phase = SENDING
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._expired = False
        self._over = False
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True

    @property
    def expired(self) -> bool:
        return self._expired

    def __enter__(self) -> Deadline:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._over = True
            self._connections.clear()
        self._timer.cancel()
        _current.deadline = None

    def watch(self, connection: Any) -> None:
        with self._lock:
            if self._over:
                return
            self._connections.append(connection)
            if self._expired:
                _shut_down(connection)

    def _expire(self) -> None:
        with self._lock:
            if self._over:
                return
            self._expired = True
            for connection in self._connections:
                _shut_down(connection)


def current() -> Deadline | None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    return deadline


def _shut_down(connection: Any) -> None:
    """Shut the connection's TCP socket down (under TLS too); a socket already closed is left alone."""
    sock = getattr(connection, "sock", None)
    while sock is not None and not isinstance(sock, socket.socket):
        sock = getattr(sock, "socket", None)  # urllib3's TLS-in-TLS transport wraps the real socket
    if sock is not None:
        with contextlib.suppress(OSError):
            # the plain socket's shutdown, also for an SSLSocket: ending the TLS session is not ours to do here
            super(socket.socket, sock).shutdown(socket.SHUT_RDWR)


class _Watched:
    """Mixed into urllib3's connection classes: every request on the connection is under the thread's deadline."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        deadline = current()
        if deadline is not None:
            deadline.watch(self)
        result = super().request(*args, **kwargs)  # type: ignore[misc]
        # urllib3 swallows a broken pipe while sending, to read an early answer: a cut send is still "sending"
        if deadline is not None and not deadline.expired:
            deadline.phase = WAITING
        return result

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        deadline = current()
        if deadline is not None and deadline.expired:
            _shut_down(self)


@functools.lru_cache(maxsize=None)
def _watched_connection(cls: type) -> type:
    if issubclass(cls, _Watched) or cls.__name__ == "DummyConnection":
        return cls
    return type(cls.__name__, (_Watched, cls), {})


@functools.lru_cache(maxsize=None)
def _watched_pool(cls: type) -> type:
    if getattr(cls, "_deadline_watched", False):
        return cls
    connection_cls: type = getattr(cls, "ConnectionCls")  # urllib3's pool classes name their connection class
    return type(cls.__name__, (cls,), {"ConnectionCls": _watched_connection(connection_cls), "_deadline_watched": True})


def _watch(manager: Any) -> Any:
    manager.pool_classes_by_scheme = {
        scheme: _watched_pool(pool) for scheme, pool in manager.pool_classes_by_scheme.items()
    }
    return manager


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections (direct or through a proxy) honour the thread's :class:`Deadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return _watch(super().proxy_manager_for(proxy, **proxy_kwargs))
