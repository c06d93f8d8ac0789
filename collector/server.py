"""Serving the app on waitress, with a graceful shutdown.

waitress reads each request fully in its I/O loop before a worker thread sees
it (wire.py adds deadlines and JSON errors there). On SIGTERM or SIGINT the collector stops
accepting connections, answers 503 to new requests on open ones, lets
in-flight requests finish (up to ``shutdown_timeout_s``), then exits.
"""

from __future__ import annotations

import _thread
import ctypes
import ctypes.util
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from .app import CollectorApp
from .settings import Settings
from .wire import serve_on_the_wire

log = logging.getLogger("testrun")

#: waitress buffers a body up to this much over our own limit, so that our
#: JSON 413 (not waitress's plain-text one) answers a body just over the limit
WAITRESS_BODY_SLACK = 1024 * 1024
#: seconds between waitress's sweeps for connections silent past the channel
#: timeout; its default (30) let a stalled client stay up to 30 s longer
CLEANUP_INTERVAL_S = 1
#: glibc's M_MMAP_THRESHOLD: blocks this large or larger are mmapped, so freeing them returns them to the OS
MMAP_THRESHOLD_BYTES = 1024 * 1024
_M_MMAP_THRESHOLD = -3


def return_large_blocks_to_the_os() -> bool:
    """Fix glibc's mmap threshold, so a large body's memory goes back to the OS once it is freed.

    By default glibc raises the threshold to the size of each large block freed
    (up to 32 MiB), after which such blocks come from per-thread heaps that keep
    them: every worker thread that once read a 32 MiB body then holds about
    twice that for good (measured: 8 threads, 30 MiB bodies, RSS 31 -> 573 MiB;
    with the threshold fixed, 81 MiB). No-op (False) on other C libraries.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False


class InFlight:
    """Counts requests being handled, so shutdown can wait for them."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self.lock:
            self.count += 1
        try:
            return list(self.app(environ, start_response))
        finally:
            with self.lock:
                self.count -= 1


class Server:
    def __init__(self, app: CollectorApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.inflight = InFlight(app.wsgi_app)
        return_large_blocks_to_the_os()
        self.waitress = serve_on_the_wire(
            self.inflight,
            request_timeout_s=settings.request_timeout_s,
            connection_limit=settings.connection_limit,
            body_limit=settings.max_body_bytes,
            report=app.wsgi_app.record_rejected,
            connections_per_client=settings.connections_per_client,
            refused=app.state.metrics.connections_refused.labels(reason="connections_per_client").inc,
            host=settings.host,
            port=settings.port,
            threads=settings.threads,
            channel_timeout=settings.channel_timeout_s,
            cleanup_interval=CLEANUP_INTERVAL_S,
            max_request_body_size=settings.max_body_bytes + WAITRESS_BODY_SLACK,
            expose_tracebacks=False,
            ident="testrun",
            clear_untrusted_proxy_headers=True,
            **settings.proxy_options(),
        )
        self._stopping = threading.Event()
        self._drained_event = threading.Event()

    @property
    def port(self) -> int:
        return int(self.waitress.effective_port)

    @property
    def url(self) -> str:
        return f"http://{self.waitress.effective_host}:{self.port}"

    def serve_forever(self) -> None:
        """Run until a signal asks to stop, then drain (see the module docstring)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        try:
            self.waitress.run()
        finally:
            self.waitress.close()
            self.app.state.store.close()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._drained_event.is_set():
            raise KeyboardInterrupt  # ends waitress's loop, in the main thread
        if self._stopping.is_set():
            return
        self._stopping.set()
        log.info("received %s: draining", signal.Signals(signum).name)
        self.app.state.draining.set()
        self.waitress.accepting = False
        threading.Thread(target=self._drain_then_stop, name="testrun-drain", daemon=True).start()

    def _drain_then_stop(self) -> None:
        deadline = time.monotonic() + self.settings.shutdown_timeout_s
        while time.monotonic() < deadline and not self._drained():
            time.sleep(0.05)
        if not self._drained():
            log.warning("shutdown timeout: %d request(s) still running", self.inflight.count)
        self._drained_event.set()
        _thread.interrupt_main(signal.SIGINT)

    def _drained(self) -> bool:
        if self.inflight.count:
            return False
        channels = list(self.waitress.active_channels.values())
        return all(
            not channel.requests and channel.request is None and not channel.total_outbufs_len
            for channel in channels
        )
