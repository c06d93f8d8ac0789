"""A real collector process on a loopback port, for tests that speak HTTP to it."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

LISTENING = re.compile(r"listening on (http://[^\s\"]+)")
_names = itertools.count()


def admin(db: Path | str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``testrun-admin --db DB ARGS...`` as a user would (DB: a SQLite path or a database URL)."""
    return subprocess.run(
        [sys.executable, "-m", "collector.admin", "--db", str(db), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TESTRUN_BCRYPT_ROUNDS": "4", **(env or {})},
        timeout=60,
    )


def admin_json(db: Path | str, *args: str) -> Any:
    result = admin(db, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@dataclass
class CollectorProcess:
    db: Path | str  # a SQLite path or a database URL, given as --db
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    admin_token: str = ""
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)

    def start(self, timeout: float = 20.0) -> CollectorProcess:
        env = {**os.environ, "TESTRUN_BCRYPT_ROUNDS": "4", "TESTRUN_PORT": "0", **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--db", str(self.db)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        found = threading.Event()
        threading.Thread(target=self._read_logs, args=(found,), daemon=True).start()
        if not found.wait(timeout) or not self.url:
            self.stop()
            raise RuntimeError("collector did not start:\n" + "".join(self.lines))
        return self

    def _read_logs(self, found: threading.Event) -> None:
        assert self.process and self.process.stderr
        for line in self.process.stderr:
            self.lines.append(line)
            match = LISTENING.search(line)
            if match and not self.url:
                self.url = match.group(1)
                found.set()
        found.set()

    def access_log(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines if line.startswith("{") and '"request_id"' in line]

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.process
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process
        return self.process.wait(timeout)

    def stop(self) -> int | None:
        if not self.process or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@dataclass
class ProjectAccess:
    """A project on a running collector, with one token per scope."""

    url: str
    slug: str
    ingest_token: str
    read_token: str

    def post_run(self, payload: Any, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.ingest_token}", **kwargs.pop("headers", {})}
        return requests.post(f"{self.url}/api/v1/runs", json=payload, headers=headers, timeout=30, **kwargs)

    def get(self, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.read_token}"}
        return requests.get(f"{self.url}{path}", headers=headers, timeout=30, **kwargs)


def new_project(process: CollectorProcess, admin_token: str | None = None) -> ProjectAccess:
    """Create an org, a project and an ingest and a read token through the admin routes."""
    headers = {"Authorization": f"Bearer {admin_token or process.admin_token}"}
    org = f"org{next(_names)}"
    for path, body in (("/orgs", {"name": org}), ("/projects", {"org": org, "name": "app"})):
        response = requests.post(process.url + path, json=body, headers=headers, timeout=30)
        assert response.status_code == 201, response.text
    tokens = {}
    for scope in ("ingest", "read"):
        response = requests.post(
            process.url + "/tokens", json={"project": f"{org}/app", "scopes": [scope]}, headers=headers, timeout=30
        )
        assert response.status_code == 201, response.text
        tokens[scope] = response.json()["token"]
    return ProjectAccess(process.url, f"{org}/app", tokens["ingest"], tokens["read"])


def a_run(run_id: str = "github:octo/app:9127:1:test:pytest", **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "run_id": run_id,
        "started_at": "2026-01-12T10:00:00Z",
        "duration_ms": 5000,
        "ci": {"provider": "github", "pipeline_id": "9127", "job": "test", "attempt": 1},
        "vcs": {"repository": "octo/app", "commit": "3f2a9c", "branch": "main"},
        "reporter": {"name": "pytest-testrun-reporter", "version": "0.1.0"},
        "tests": [
            {"id": "tests/test_x.py::test_a", "status": "passed", "duration_ms": 1.5},
            {"id": "tests/test_x.py::test_b", "status": "failed", "message": "AssertionError: 1 != 2"},
            {"id": "tests/test_x.py::test_c", "status": "skipped", "message": "needs linux"},
        ],
    }
    payload.update(overrides)
    return payload


def new_project_offline(process: CollectorProcess) -> ProjectAccess:
    """Like new_project, but made with testrun-admin on the database, sending no request."""
    org = f"org{next(_names)}"
    assert admin(process.db, "org", "create", org).returncode == 0
    assert admin(process.db, "project", "create", org, "app").returncode == 0
    tokens = {
        scope: admin_json(process.db, "token", "create", f"{org}/app", "--scope", scope)["token"]
        for scope in ("ingest", "read")
    }
    return ProjectAccess(process.url, f"{org}/app", tokens["ingest"], tokens["read"])


def status_and_json(answer: bytes) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of a raw HTTP response, after checking it says it is JSON."""
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), answer[:300]
    return int(head.split(b" ", 2)[1]), json.loads(body)


def read_until_closed(sock: socket.socket, within_s: float) -> bytes:
    """What the server sends on ``sock`` until it closes the connection or ``within_s`` passes."""
    deadline = time.monotonic() + within_s
    data = b""
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data
