"""A scripted stand-in for the collector on a loopback port: the first requests fail as told, then it accepts.

Accepting works like the collector's ingest route: a new run_id is stored
(201), the same bytes again are a 200 duplicate, other bytes under a stored
run_id are a 409. Every request is recorded with its headers and raw body.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

STATUSES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


@dataclass(frozen=True)
class Answer:
    """What to do with one request. The default stores the run like the collector does."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    drop: bool = False
    delay_s: float = 0.0
    store_first: bool = False
    echo_headers: bool = False


def error(status: int, retry_after: str | None = None, **fields: Any) -> Answer:
    """An error answer with the collector's JSON error body."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = {"error": "some_error", "message": f"failure {status}", "request_id": "req-1", **fields}
    return Answer(status=status, headers=headers, body=json.dumps(body).encode())


def raw(status: int, body: bytes, **headers: str) -> Answer:
    return Answer(status=status, headers=headers, body=body)


def dropped() -> Answer:
    """Close the connection without answering."""
    return Answer(drop=True)


def slow(delay_s: float) -> Answer:
    """Answer 503 only after ``delay_s``: longer than the client's timeout, so it gives up first."""
    return Answer(status=503, delay_s=delay_s)


def lost_answer() -> Answer:
    """Store the run, then drop the connection: the answer is lost on the way back."""
    return Answer(drop=True, store_first=True)


def echo_headers(status: int) -> Answer:
    """A misdirected server that echoes the request headers back (as httpbin does), Authorization first."""
    return Answer(status=status, echo_headers=True)


ACCEPT = Answer()


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> bytes:
        return gzip.decompress(self.body) if self.headers.get("Content-Encoding") == "gzip" else self.body


class FlakyServer:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.stored: dict[str, bytes] = {}
        self._script: deque[Answer] = deque()
        self._otherwise = ACCEPT
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        port = self._httpd.server_address[1]
        return f"http://127.0.0.1:{port}"

    def fail_first(self, *answers: Answer) -> FlakyServer:
        """Answer the next requests with these, one each, then go back to accepting (or to ``always``)."""
        with self._lock:
            self._script.extend(answers)
        return self

    def always(self, answer: Answer) -> FlakyServer:
        """Answer every request after the script with this, until ``recover``."""
        self._otherwise = answer
        return self

    def recover(self) -> FlakyServer:
        self._otherwise = ACCEPT
        return self

    def __enter__(self) -> FlakyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def _next_answer(self, received: Received) -> Answer:
        with self._lock:
            self.requests.append(received)
            return self._script.popleft() if self._script else self._otherwise

    def _store(self, payload: bytes) -> tuple[int, dict[str, Any]]:
        run = json.loads(payload)
        run_id = run["run_id"]
        with self._lock:
            if run_id not in self.stored:
                self.stored[run_id] = payload
                return 201, _run_accepted(run, duplicate=False)
            if self.stored[run_id] == payload:
                return 200, _run_accepted(run, duplicate=True)
        return 409, {
            "error": "run_id_conflict",
            "message": "different content",
            "request_id": "r",
            "run_id": run_id,
            "hint": "give each its own label",
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FlakyServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        owner = self.server.owner
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        received = Received(self.path, dict(self.headers.items()), body)
        answer = owner._next_answer(received)
        if answer.delay_s:
            owner._stopping.wait(answer.delay_s)
        if answer.store_first:
            owner._store(received.payload)
        if answer.drop:
            self.close_connection = True
        elif answer.echo_headers:
            echoed = {"Authorization": received.headers.get("Authorization"), **received.headers}
            self._send(answer.status or 200, json.dumps({"headers": echoed}).encode(), answer.headers)
        elif answer.status is None:
            status, document = owner._store(received.payload)
            self._send(status, json.dumps(document).encode(), answer.headers)
        else:
            self._send(answer.status, answer.body, answer.headers)

    def _send(self, status: int, body: bytes | None, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body or b"")))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body or b"")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _run_accepted(run: dict[str, Any], *, duplicate: bool) -> dict[str, Any]:
    tests = run.get("tests", [])
    counts = {"total": len(tests), **{s: sum(t["status"] == s for t in tests) for s in STATUSES}}
    counts["flaky"] = sum(bool(t.get("flaky")) for t in tests)
    return {
        "run_id": run["run_id"],
        "status": run.get("status", "passed"),
        "duplicate": duplicate,
        "counts": counts,
        "url": "/api/v1/runs/" + quote(run["run_id"], safe=""),
        "received_at": "2026-01-12T10:00:05.123456Z",
    }


def a_payload(run_id: str = "github:octo/app:9127:1:test:pytest", tests: int = 3) -> bytes:
    """The JSON bytes of a run with ``tests`` tests (about 100 bytes each): 100 and more is over 8 KiB."""
    statuses = ["passed", "failed", "skipped"]
    run = {
        "run_id": run_id,
        "started_at": "2026-01-12T10:00:00Z",
        "duration_ms": 5000,
        "tests": [
            {"id": f"tests/test_x.py::test_{i}", "status": statuses[i % 3], "duration_ms": 1.5, "message": "m" * 20}
            for i in range(tests)
        ],
    }
    return json.dumps(run).encode()
