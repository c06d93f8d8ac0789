"""What the reliability tests share: payloads, a client process, the collector's memory, raw HTTP.

Kept in a module of its own (not a conftest) so that client processes started
with multiprocessing's ``spawn`` can import ``ingest_worker`` by name.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
#: run sizes the crash test draws from: one test up to 5,000
RUN_SIZES = (1, 7, 120, 900, 2500, 5000)


def run_payload(run_id: str, tests: int, *, variant: str = "") -> bytes:
    """A deterministic run: the same ``run_id`` (and variant) always gives the very same bytes."""
    seed = int(hashlib.sha256(f"{run_id}|{variant}".encode()).hexdigest()[:8], 16)
    results = []
    for i in range(tests):
        status = STATUSES[(seed + i) % 6] if (seed + i) % 5 == 0 else "passed"
        test: dict[str, Any] = {
            "id": f"tests/test_m{i // 50}.py::test_{i}[{variant or 'x'}]",
            "status": status,
            "duration_ms": round(((seed + i * 7) % 1000) / 8, 3),
            "line": i % 400 + 1,
        }
        if status != "passed":
            test["message"] = f"AssertionError: {seed % 97} != {i}"
            test["details"] = "Traceback (most recent call last):\n" + "  frame\n" * (i % 5)
        results.append(test)
    payload = {
        "run_id": run_id,
        "started_at": "2026-01-12T10:00:00Z",
        "duration_ms": 1000.0 + tests,
        "ci": {"provider": "github", "pipeline_id": str(seed % 10_000), "job": "test", "attempt": 1},
        "vcs": {"repository": "octo/app", "commit": f"{seed:08x}", "branch": "main"},
        "reporter": {"name": "reliability", "version": "0"},
        "tests": results,
    }
    if not results:
        payload["status"] = "passed"
    return json.dumps(payload, separators=(",", ":")).encode()


def expected_digest(payload: bytes) -> str:
    from collector.validation import validate_run

    return validate_run(json.loads(payload), max_tests=100_000).digest


@dataclass(frozen=True)
class Job:
    run_id: str
    tests: int


def ingest_worker(url: str, token: str, jobs: list[tuple[str, int]], results: str, deadline_s: float) -> None:
    """A client process: send each run with the shared client's retries; one JSON line per outcome.

    A run whose answer was lost (the collector died after the commit) is sent
    again by the retry, and must then be a 200 duplicate, never a second copy.
    """
    import logging

    from junit_uploader.client import CollectorClient, RetryPolicy
    from junit_uploader.errors import UploadError

    reasons: list[str] = []
    recorder = logging.Handler()
    recorder.emit = lambda record: reasons.append(str(record.args[2]))  # type: ignore[method-assign]
    client_log = logging.getLogger("testrun.client")
    client_log.addHandler(recorder)
    client_log.propagate = False
    policy = RetryPolicy(attempts=100, timeout_s=15.0, max_total_s=deadline_s, backoff_base_s=0.05, backoff_max_s=0.4)
    with CollectorClient(url, token, policy=policy) as client, open(results, "a", encoding="utf-8") as out:
        for run_id, tests in jobs:
            payload = run_payload(run_id, tests)
            reasons.clear()
            started = time.monotonic()
            try:
                accepted = client.post_run(payload)
            except UploadError as error:
                line = {"run_id": run_id, "tests": tests, "acknowledged": False, "error": str(error)}
            else:
                line = {
                    "run_id": run_id,
                    "tests": tests,
                    "acknowledged": True,
                    "status": accepted.status,
                    "duplicate": accepted.duplicate,
                    "attempts": accepted.attempts,
                    "total": accepted.counts["total"],
                }
            line["seconds"] = round(time.monotonic() - started, 3)
            line["retried_because"] = list(reasons)
            out.write(json.dumps(line) + "\n")
            out.flush()


# --- the collector process ------------------------------------------------------------------


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size (VmHWM) so far, in MiB."""
    return _status_kib(pid, "VmHWM") / 1024


def rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmRSS") / 1024


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise LookupError(f"{key} not in /proc/{pid}/status")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metric(url: str, name: str) -> float:
    """The sum of a Prometheus counter's samples on the collector's /metrics."""
    import requests

    text = requests.get(url + "/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


# --- raw HTTP over a socket -------------------------------------------------------------------


def raw_exchange(port: int, request: bytes, *, read_timeout: float = 10.0, half_close: bool = False) -> bytes:
    """Send bytes as they are and read until the server closes or ``read_timeout`` passes without data."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return data


def status_of(response: bytes) -> int | None:
    if not response.startswith(b"HTTP/1."):
        return None
    return int(response.split(b" ", 2)[1])


# --- the SQLite file --------------------------------------------------------------------------


def partial_runs(db: Path) -> list[tuple[str, int, int]]:
    """Runs whose stored test rows are fewer (or more) than their tests_total: must always be none."""
    with sqlite3.connect(db) as conn:
        return conn.execute(
            """
            SELECT r.run_id, r.tests_total, COUNT(t.seq)
            FROM runs r LEFT JOIN test_results t ON t.run_pk = r.id
            GROUP BY r.id HAVING COUNT(t.seq) != r.tests_total
            """
        ).fetchall()


def integrity_check(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
