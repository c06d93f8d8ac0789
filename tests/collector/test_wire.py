"""The HTTP wire before the app: request deadlines, JSON errors, many connections (collector/wire.py)."""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from collector_harness import (
    CollectorProcess,
    a_run,
    admin,
    new_project,
    read_until_closed,
    status_and_json,
    wait_until,
)

REQUEST_TIMEOUT_S = 2


def port_of(process: CollectorProcess) -> int:
    return int(process.url.rsplit(":", 1)[1])


def metric(process: CollectorProcess, name: str) -> float:
    text = requests.get(process.url + "/metrics", timeout=10).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_a_client_trickling_its_headers_gets_a_json_408_once_they_are_overdue(start_collector: Any) -> None:
    process = start_collector(request_timeout_s=str(REQUEST_TIMEOUT_S))
    with socket.create_connection(("127.0.0.1", port_of(process)), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        # active until just before the deadline (the idle timeout is 30 s): activity does not move it. Bytes
        # still arriving when the server closes would make the kernel reset the connection and drop the answer.
        while time.monotonic() - started < REQUEST_TIMEOUT_S - 0.3:
            time.sleep(0.3)
            sock.sendall(b"x")
        answer = read_until_closed(sock, REQUEST_TIMEOUT_S + 5)
    took = time.monotonic() - started

    status, error = status_and_json(answer)
    assert status == 408
    assert error["error"] == "request_timeout" and "headers are due within 2 s" in error["message"]
    assert REQUEST_TIMEOUT_S - 0.1 < took < REQUEST_TIMEOUT_S + 2.5
    assert wait_until(lambda: any(line.get("status") == 408 and line.get("request_id") == error["request_id"]
                                  for line in process.access_log()))
    assert metric(process, 'testrun_http_requests_total{method="other",route="unmatched",status="408"}') == 1


def test_a_slow_but_steady_body_is_not_cut_off(start_collector: Any) -> None:
    """Past the header deadline a body may keep coming as long as it arrives at 500 bytes/s or faster."""
    process = start_collector(request_timeout_s="1")
    project = new_project(process)
    body = json.dumps(a_run("steady-upload", padding="p" * 2500)).encode()
    head = (
        b"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + project.ingest_token.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(("127.0.0.1", port_of(process)), timeout=10) as sock:
        sock.sendall(head)
        started = time.monotonic()
        for offset in range(0, len(body), 250):  # 1,000 bytes/s: the body takes about 3 s
            sock.sendall(body[offset:offset + 250])
            time.sleep(0.25)
        answer = read_until_closed(sock, 10)

    assert time.monotonic() - started > 2.5
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
    assert project.get("/api/v1/runs/steady-upload").status_code == 200


def test_a_malformed_content_length_is_a_json_400_that_is_logged_and_counted(start_collector: Any) -> None:
    process = start_collector()
    with socket.create_connection(("127.0.0.1", port_of(process)), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}")
        status, error = status_and_json(read_until_closed(sock, 5))

    assert status == 400
    assert error["error"] == "bad_request" and "Content-Length" in error["message"]
    assert wait_until(lambda: any(line.get("request_id") == error["request_id"] and line["status"] == 400
                                  and line["error"] == "bad_request" for line in process.access_log()))
    assert metric(process, 'testrun_http_requests_total{method="POST",route="unmatched",status="400"}') == 1


def test_a_body_far_over_the_limit_is_refused_with_the_collectors_limit_in_the_message(
    start_collector: Any,
) -> None:
    process = start_collector(max_body_bytes="1000")
    size = 1000 + 2 * 1024 * 1024  # past the slack waitress keeps over our limit
    with socket.create_connection(("127.0.0.1", port_of(process)), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % size)
        status, error = status_and_json(read_until_closed(sock, 5))

    assert status == 413
    assert error == {"error": "payload_too_large", "message": "request body exceeds 1000 bytes",
                     "request_id": error["request_id"]}


def test_hundreds_of_idle_connections_starve_no_one_and_are_closed_after_the_request_timeout(
    start_collector: Any,
) -> None:
    """waitress alone serves 100 connections at once: 100 that never send a byte kept everyone else
    waiting until the idle timeout (30 s) closed them. Five addresses hold their 100 each (the default
    TESTRUN_CONNECTIONS_PER_CLIENT): the 127.0.0.0/8 loopback addresses are other clients to the collector."""
    process = start_collector(request_timeout_s=str(REQUEST_TIMEOUT_S))
    idle = [socket.create_connection(("127.0.0.1", port_of(process)), timeout=10, source_address=(f"127.0.0.{n}", 0))
            for n in range(2, 7) for _ in range(100)]
    try:
        opened = time.monotonic()
        assert requests.get(process.url + "/healthz", timeout=10).status_code == 200
        assert time.monotonic() - opened < 2.0
        assert all(read_until_closed(sock, REQUEST_TIMEOUT_S + 5) == b"" for sock in idle)
        assert time.monotonic() - opened < REQUEST_TIMEOUT_S + 3
    finally:
        for sock in idle:
            sock.close()


def test_a_connection_limit_the_process_cannot_open_files_for_is_one_line_naming_it(tmp_path: Any) -> None:
    db = tmp_path / "db.sqlite3"
    assert admin(db, "migrate").returncode == 0
    result = subprocess.run(
        [sys.executable, "-m", "collector.cli", "serve", "--db", str(db)],
        env={"TESTRUN_CONNECTION_LIMIT": str(10**9), "TESTRUN_PORT": "0", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=30,
    )

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "connection_limit needs" in result.stderr and "TESTRUN_CONNECTION_LIMIT" in result.stderr


def test_a_tls_handshake_is_answered_at_once_in_plain_text_and_logged_once_with_the_fix(start_collector: Any) -> None:
    """A client given an https:// URL learns in its first handshake, instead of waiting for its timeout."""
    process = start_collector()
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port_of(process)), timeout=30) as sock, \
            pytest.raises(ssl.SSLError) as raised:
        context.wrap_socket(sock, server_hostname="127.0.0.1")
    with socket.create_connection(("127.0.0.1", port_of(process)), timeout=30) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # the start of a ClientHello
        answer = read_until_closed(sock, 30)

    assert raised.value.reason == "WRONG_VERSION_NUMBER"
    assert answer == (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
        b"Content-Length: 77\r\n\r\nThis testrun collector serves plain HTTP: use its http:// URL, not https://.\n"
    )
    assert wait_until(lambda: [line["error"] for line in process.access_log() if line["status"] == 400]
                      == ["tls_on_plain_http", "tls_on_plain_http"])
    warnings = [line for line in process.lines if "TLS handshake" in line]
    assert len(warnings) == 1
    assert json.loads(warnings[0])["message"] == (
        "127.0.0.1 began a TLS handshake, but this collector serves plain HTTP: its URL should start with http:// "
        "(or put a TLS-terminating proxy in front); further ones from it are not logged for 60 s"
    )
    assert metric(process, 'testrun_http_requests_total{method="other",route="unmatched",status="400"}') == 2
