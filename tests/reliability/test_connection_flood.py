"""One address flooding the collector with slow connections, directly and behind a trusted proxy.

A few thousand sockets from one address, each trickling a byte now and then,
used to take every connection the collector serves at once, so everyone else
waited in the listen queue until the request deadline cut the flood off (a
client's request took over 10 s: the client's own timeout). Now one address
holds at most ``TESTRUN_CONNECTIONS_PER_CLIENT`` connections; behind a trusted
proxy, one forwarded address has at most that many requests in progress.

The whole of 127.0.0.0/8 is loopback on Linux, so a client bound to 127.0.0.2
is another address to the collector.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from collector_harness import CollectorProcess, read_until_closed, status_and_json, wait_until

CAP = 20
FLOOD = 60
#: fewer than the flood, so that without a per-client cap the flood takes every connection
CONNECTION_LIMIT = 50
REQUEST_TIMEOUT_S = 10
#: a canary must be answered this fast; the flood would hold it for about REQUEST_TIMEOUT_S
PROMPTLY_S = 3.0


def port_of(process: CollectorProcess) -> int:
    return int(process.url.rsplit(":", 1)[1])


def connect(process: CollectorProcess, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port_of(process)), timeout=10, source_address=(source, 0))


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """Whether the collector closes ``sock`` (without answering) within ``within_s``."""
    sock.settimeout(within_s)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def get_from(process: CollectorProcess, source: str, path: str) -> tuple[int, str, float]:
    """GET ``path`` from a client bound to ``source``: the status, the body and the seconds it took."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port_of(process), timeout=30, source_address=(source, 0))
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        status, body = response.status, response.read().decode()
    finally:
        connection.close()
    return status, body, time.monotonic() - started


@contextmanager
def trickling(sockets: list[socket.socket]) -> Iterator[None]:
    """Each socket sends one more byte of a never-ending header every second until the block ends."""
    for sock in sockets:
        try:
            sock.sendall(b"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        except OSError:
            pass  # refused already
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1.0):
            for sock in sockets:
                try:
                    sock.send(b"x")
                except OSError:
                    pass

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def refused_total(process: CollectorProcess) -> float:
    """The refusals counted in /metrics, asked from 127.0.0.2 (127.0.0.1 is the flooding address)."""
    _, text, _ = get_from(process, "127.0.0.2", "/metrics")
    match = re.search(r'^testrun_connections_refused_total\{reason="connections_per_client"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.mark.slow
def test_one_address_holds_at_most_its_share_of_connections_and_others_are_served_promptly(
    start_collector: Any,
) -> None:
    process = start_collector(
        connections_per_client=str(CAP), connection_limit=str(CONNECTION_LIMIT),
        request_timeout_s=str(REQUEST_TIMEOUT_S),
    )
    flood = [connect(process) for _ in range(FLOOD)]
    try:
        with trickling(flood):
            status, _, took = get_from(process, "127.0.0.2", "/healthz")
            assert status == 200 and took < PROMPTLY_S, f"the canary took {took:.1f} s"

            held, refused = flood[:CAP], flood[CAP:]
            assert all(closed_by_server(sock, 3) for sock in refused)
            assert not any(closed_by_server(sock, 0.05) for sock in held)
            assert refused_total(process) == FLOOD - CAP
            warnings = [line for line in process.lines if "refusing connections from 127.0.0.1" in line]
            assert len(warnings) == 1, warnings
            assert f"TESTRUN_CONNECTIONS_PER_CLIENT={CAP}" in warnings[0]
    finally:
        for sock in flood:
            sock.close()

    time.sleep(0.5)  # for the collector to see the flood's sockets close
    again = [connect(process) for _ in range(CAP + 1)]
    try:
        assert not any(closed_by_server(sock, 0.05) for sock in again[:CAP])
        assert closed_by_server(again[CAP], 3)
    finally:
        for sock in again:
            sock.close()


def forwarded_upload(sock: socket.socket, forwarded_for: str, body_size: int) -> None:
    """The head of a POST with a body of ``body_size`` bytes, as a proxy forwards it for ``forwarded_for``."""
    sock.sendall(
        b"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nX-Forwarded-For: %s\r\nContent-Length: %d\r\n\r\n" % (forwarded_for.encode(), body_size)
    )


@pytest.mark.slow
def test_behind_a_trusted_proxy_one_forwarded_address_has_at_most_its_share_of_requests_in_progress(
    start_collector: Any,
) -> None:
    """Every connection comes from the proxy, so the proxy's own address is not capped; one client behind it
    sending slow bodies gets 429 beyond the cap, and clients beside it are served."""
    process = start_collector(
        connections_per_client=str(CAP), trusted_proxy="127.0.0.1", request_timeout_s=str(REQUEST_TIMEOUT_S),
    )
    slow = [connect(process) for _ in range(CAP)]
    extra = [connect(process) for _ in range(CAP)]
    try:
        for sock in slow:
            forwarded_upload(sock, "203.0.113.7", 1000)
        status, _, _ = get_from(process, "127.0.0.1", "/healthz")  # the proxy's own connections beyond the cap are served
        assert status == 200

        for sock in extra:
            forwarded_upload(sock, "203.0.113.7", 1000)
        answers = [read_until_closed(sock, 5) for sock in extra]
        for answer in answers:
            status, error = status_and_json(answer)
            assert status == 429, answer[:300]
            assert error["error"] == "too_many_requests"
            assert "203.0.113.7" in error["message"] and "TESTRUN_CONNECTIONS_PER_CLIENT" in error["message"]
            assert re.search(rb"(?im)^retry-after: %d\r$" % REQUEST_TIMEOUT_S, answer), answer[:300]
        assert wait_until(lambda: sum(line.get("status") == 429 for line in process.access_log()) == CAP)

        beside = requests.post(process.url + "/api/v1/runs", json={}, headers={"X-Forwarded-For": "198.51.100.1"},
                               timeout=10)
        assert beside.status_code == 401  # past the cap check: the app answered (no token)

        for sock in slow:  # finish the slow bodies: their requests end, and so does their share
            sock.sendall(b" " * 1000)
        assert all(read_until_closed(sock, 5).startswith(b"HTTP/1.1 401") for sock in slow)
    finally:
        for sock in slow + extra:
            sock.close()

    after = requests.post(process.url + "/api/v1/runs", json={}, headers={"X-Forwarded-For": "203.0.113.7"},
                          timeout=10)
    assert after.status_code == 401
