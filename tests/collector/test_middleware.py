"""Request metrics: what a client sends can add requests to a series, never new series."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import requests

from collector_harness import CollectorProcess

SERIES = re.compile(r"^testrun_http_requests_total\{([^}]*)\} ", re.M)
LABEL = re.compile(r'(\w+)="([^"]*)"')


def request_line(url: str, line: str) -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"{line}\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        while sock.recv(65536):
            pass


def request_series(url: str) -> list[tuple[str, str, str]]:
    """(route, method, status) of every series of the request counter."""
    labels = [dict(LABEL.findall(match)) for match in SERIES.findall(requests.get(url + "/metrics", timeout=10).text)]
    return [(label["route"], label["method"], label["status"]) for label in labels]


def test_made_up_methods_and_paths_are_counted_without_new_series(collector: CollectorProcess) -> None:
    for index in range(200):
        request_line(collector.url, f"M{index}X /api/v1/runs HTTP/1.1")
        request_line(collector.url, f"GET /no/such/path/{index} HTTP/1.1")
        request_line(collector.url, f"GET /ui/path/{index} HTTP/1.1")
    series = request_series(collector.url)

    methods = {method for _, method, _ in series}
    routes = {route for route, _, _ in series}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"}
    assert "other" in methods
    assert not any("/no/such/path" in route or "/ui/path/" in route for route in routes)
    assert "unmatched" in routes and "/ui/<rest:path>" in routes
    other = sum(
        float(line.rsplit(" ", 1)[1])
        for line in requests.get(collector.url + "/metrics", timeout=10).text.splitlines()
        if line.startswith("testrun_http_requests_total{") and 'method="other"' in line
    )
    assert other >= 200


def test_series_stay_as_many_however_many_distinct_requests_come(collector: CollectorProcess) -> None:
    def burst(start: int) -> None:
        for index in range(start, start + 100):
            request_line(collector.url, f"X{index} /api/v1/runs/{index} HTTP/1.1")
            request_line(collector.url, f"GET /api/v1/runs/r{index} HTTP/1.1")

    burst(0)
    before = len(request_series(collector.url))
    burst(1000)

    assert len(request_series(collector.url)) == before
