"""Hostile request bodies and connections against a real collector process, with its default 32 MiB limit.

Each bad input gets its 4xx quickly, the collector's peak memory (VmHWM)
stays within a bound relative to the body limit, and a canary client sending
small runs all the while is served throughout.
"""

from __future__ import annotations

import gzip
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from collector_harness import CollectorProcess, ProjectAccess, new_project, read_until_closed, status_and_json
from reliability_support import peak_rss_mib, raw_exchange, rss_mib, run_payload, status_of

MIB = 1 << 20
LIMIT = 32 * MIB  # the default TESTRUN_MAX_BODY_BYTES
#: peak RSS may grow by this many times the body limit at most over all the hostile bodies
MEMORY_BOUND = 8
#: a hostile body must be answered within this many seconds
ANSWER_WITHIN_S = 10.0
CHANNEL_TIMEOUT_S = 2
#: a request's headers are due this many seconds after its first byte (TESTRUN_REQUEST_TIMEOUT_S)
REQUEST_TIMEOUT_S = 3


def gzip_of_zeros(size: int) -> bytes:
    """``size`` zero bytes as one valid gzip member, built from one compressed MiB repeated (see test_body)."""
    mib = bytes(MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    piece = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush()[:-8]
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(mib, crc)
    return head + piece * (size // MIB - 1) + tail + struct.pack("<II", crc, size & 0xFFFFFFFF)


def items(item: bytes, count: int, *, where: bytes = b'"junk"') -> bytes:
    """A run body whose field ``where`` is an array of ``count`` copies of ``item``."""
    return b'{"run_id":"hostile","status":"passed",' + where + b":[" + b",".join([item] * count) + b"]}"


def fill(item: bytes) -> int:
    """How many copies of ``item`` (and a comma each) fit in the body limit."""
    return (LIMIT - 100) // (len(item) + 1)


#: (name, body, extra headers, expected status): every kind of bad body, each as large as the limit allows
HOSTILE_BODIES: list[tuple[str, Callable[[], bytes], dict[str, str], int]] = [
    ("gzip bomb: 1 GiB of zeros in 1 MiB", lambda: gzip_of_zeros(1 << 30), {"Content-Encoding": "gzip"}, 413),
    ("gzip bomb: JSON padded with 64 MiB of spaces",
     lambda: gzip.compress(b'{"run_id":"b","status":"passed"' + b" " * (64 * MIB) + b"}", 9),
     {"Content-Encoding": "gzip"}, 413),
    ("nesting 1,000,000 deep", lambda: b"[" * 1_000_000 + b"]" * 1_000_000, {}, 400),
    ("nesting 100,000 deep inside a test",
     lambda: b'{"run_id":"d","tests":[{"id":"a","status":"passed","x":' + b"{\"a\":" * 100_000 + b"1"
     + b"}" * 100_000 + b"}]}", {}, 400),
    ("10^6 tests, each {}", lambda: items(b"{}", 10**6, where=b'"tests"'), {}, 413),
    ("900,000 tests, each a minimal valid one",
     lambda: b'{"run_id":"m","tests":[' + b",".join(b'{"id":"%x","status":"passed"}' % i for i in range(900_000))
     + b"]}", {}, 413),
    ("an ignored field of 10^6 empty arrays", lambda: items(b"[]", 10**6), {}, 413),
    ("an ignored field of 10^6 zeros (within the cap, so stored)", lambda: items(b"0", 10**6), {}, 201),
    ("an ignored field filled with {} up to the limit", lambda: items(b"{}", fill(b"{}")), {}, 413),
    ("an ignored field filled with 1.5 up to the limit", lambda: items(b"1.5", fill(b"1.5")), {}, 413),
    ("an ignored field filled with short strings", lambda: items(b'"ab"', fill(b'"ab"')), {}, 413),
    ("a 30 MiB message", lambda: b'{"run_id":"s","tests":[{"id":"a","status":"failed","message":"'
     + b"m" * (30 * MIB) + b'"}]}', {}, 400),
    ("a 30 MiB run_id", lambda: b'{"run_id":"' + b"r" * (30 * MIB) + b'","status":"passed"}', {}, 400),
    ("a 30 MiB string of escapes", lambda: b'{"run_id":"e","status":"passed","junk":"' + b"\\u00e9" * (5 * MIB)
     + b'"}', {}, 201),
    ("one byte over the limit", lambda: b'{"run_id":"o","status":"passed","junk":"' + b"x" * (LIMIT - 40) + b'"}',
     {}, 413),
    ("invalid UTF-8", lambda: b'{"run_id":"\xff\xfe","status":"passed"}', {}, 400),
    ("overlong UTF-8 for '/'", lambda: b'{"run_id":"a\xc0\xafb","status":"passed"}', {}, 400),
    ("a UTF-16 body", lambda: '{"run_id":"u","status":"passed"}'.encode("utf-16"), {}, 400),
    ("raw NUL bytes", lambda: b'{"run_id":"n\x00","status":"passed"}', {}, 400),
    ("escaped NUL in run_id", lambda: b'{"run_id":"n\\u0000","status":"passed"}', {}, 400),
    ("escaped NUL in a test message",
     lambda: b'{"run_id":"n","tests":[{"id":"a","status":"failed","message":"a\\u0000b"}]}', {}, 400),
    ("a lone surrogate", lambda: b'{"run_id":"\\ud800","status":"passed"}', {}, 400),
    ("NaN", lambda: b'{"run_id":"nan","status":"passed","duration_ms":NaN}', {}, 400),
    ("a 100,000-digit number", lambda: b'{"run_id":"big","status":"passed","duration_ms":' + b"9" * 100_000 + b"}",
     {}, 400),
    ("truncated gzip", lambda: gzip.compress(b'{"run_id":"t","status":"passed"}')[:-12], {"Content-Encoding": "gzip"},
     400),
    ("gzip claimed, plain sent", lambda: b'{"run_id":"p","status":"passed"}', {"Content-Encoding": "gzip"}, 400),
    ("an encoding nobody asked for", lambda: b'{"run_id":"br","status":"passed"}', {"Content-Encoding": "br"}, 415),
    ("a charset other than UTF-8", lambda: b'{"run_id":"c","status":"passed"}',
     {"Content-Type": "application/json; charset=latin-1"}, 415),
    ("not JSON at all", lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 100, {}, 400),
]


@dataclass
class Canary:
    """Sends a small new run every 50 ms and records whether and how fast each was stored."""

    project: ProjectAccess
    name: str
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with requests.Session() as session:
            for n in range(100_000):
                if self.stop.wait(0.05):
                    return
                started = time.perf_counter()
                try:
                    response = session.post(
                        f"{self.project.url}/api/v1/runs",
                        data=run_payload(f"{self.name}-{n}", 3),
                        headers={"Authorization": f"Bearer {self.project.ingest_token}",
                                 "Content-Type": "application/json"},
                        timeout=30,
                    )
                except requests.RequestException as error:
                    self.failures.append(f"{self.name}-{n}: {type(error).__name__}")
                    continue
                self.latencies.append(time.perf_counter() - started)
                if response.status_code != 201:
                    self.failures.append(f"{self.name}-{n}: {response.status_code}")


@pytest.fixture(scope="module")
def hostile_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CollectorProcess, ProjectAccess]]:
    from collector_harness import admin, admin_json

    db = tmp_path_factory.mktemp("hostile") / "hostile.sqlite3"
    assert admin(db, "migrate").returncode == 0
    process = CollectorProcess(
        db=db,
        env={"TESTRUN_TOKEN_RATE_PER_S": "0", "TESTRUN_CHANNEL_TIMEOUT_S": str(CHANNEL_TIMEOUT_S),
             "TESTRUN_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
             # the hostile sockets and the canary all come from 127.0.0.1: this suite is about deadlines and
             # memory, the share of connections per address is test_connection_flood's
             "TESTRUN_CONNECTIONS_PER_CLIENT": "1000"},
    )
    process.admin_token = admin_json(db, "token", "create", "--admin")["token"]
    process.start()
    try:
        yield process, new_project(process)
    finally:
        process.stop()


@pytest.fixture
def canary(hostile_target: tuple[CollectorProcess, ProjectAccess], request: pytest.FixtureRequest) -> Iterator[Canary]:
    _, project = hostile_target
    canary = Canary(project, f"canary-{request.node.name[:40]}")
    thread = threading.Thread(target=canary.run, daemon=True)
    thread.start()
    yield canary
    canary.stop.set()
    thread.join(30)
    assert canary.failures == []
    assert len(canary.latencies) > 0


@pytest.mark.slow
def test_every_hostile_body_gets_its_answer_quickly_in_bounded_memory_while_others_are_served(
    hostile_target: tuple[CollectorProcess, ProjectAccess], canary: Canary
) -> None:
    process, project = hostile_target
    assert process.process is not None
    pid = process.process.pid
    before = peak_rss_mib(pid)
    results = []
    for name, make, headers, expected in HOSTILE_BODIES:
        body = make()
        started = time.monotonic()
        response = requests.post(
            f"{project.url}/api/v1/runs",
            data=body,
            headers={"Authorization": f"Bearer {project.ingest_token}", "Content-Type": "application/json", **headers},
            timeout=60,
        )
        seconds = time.monotonic() - started
        results.append((name, len(body), response.status_code, seconds, peak_rss_mib(pid), rss_mib(pid)))
        assert (response.status_code, name) == (expected, name), response.text[:300]
        assert seconds < ANSWER_WITHIN_S, name
        if expected >= 400:
            assert response.headers["Content-Type"] == "application/json" and response.json()["message"], name
    growth = peak_rss_mib(pid) - before
    report = "\n".join(f"  {n:50s} {size / MIB:8.2f} MiB -> {status} in {s:5.2f} s, VmHWM {hwm:6.0f} MiB"
                       + f", RSS {rss:4.0f}" for n, size, status, s, hwm, rss in results)
    print(f"\nhostile bodies: {len(results)} kinds, peak RSS +{growth:.0f} MiB over {before:.0f} MiB "
          f"(limit {LIMIT // MIB} MiB); canary p100 {max(canary.latencies) * 1000:.0f} ms\n{report}")
    assert growth < MEMORY_BOUND * LIMIT / MIB


# --- the wire: Content-Length and slow clients -----------------------------------------------------

BODY = b'{"run_id":"wire","status":"passed"}'


def json_error_of(response: bytes) -> dict[str, Any]:
    """The collector's JSON error body of a raw HTTP response."""
    error = status_and_json(response)[1]
    assert set(error) >= {"error", "message", "request_id"}, error
    return error


def wire_request(token: str, headers: bytes, body: bytes = BODY) -> bytes:
    return (
        b"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nAuthorization: Bearer " + token.encode() + b"\r\n" + headers + b"\r\n" + body
    )


@pytest.mark.parametrize(
    "headers, expected",
    [
        (b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(BODY), len(BODY)), 400),
        (b"Content-Length: %d\r\nContent-Length: 5\r\n" % len(BODY), 400),
        (b"Content-Length: %d, %d\r\n" % (len(BODY), len(BODY)), 400),
        (b"Content-Length: -1\r\n", 400),
        (b"Content-Length: 1e3\r\n", 400),
        (b"Content-Length: 0x20\r\n", 400),
        (b"Content-Length: 99999999999999999999999999\r\n", 413),
        (b"Content-Length: %d\r\n" % (LIMIT + 2 * MIB), 413),
        (b"Content-Length: 5\r\n", 400),  # shorter than the body: the JSON is cut short
        (b"Content-Length: 0\r\n", 400),
    ],
    ids=["duplicate", "duplicate-different", "list", "negative", "exponent", "hex", "absurd", "over-limit",
         "too-short", "zero"],
)
def test_a_wrong_or_duplicate_content_length_is_a_4xx_at_once(
    hostile_target: tuple[CollectorProcess, ProjectAccess], headers: bytes, expected: int
) -> None:
    process, project = hostile_target
    port = int(process.url.rsplit(":", 1)[1])
    started = time.monotonic()
    answer = raw_exchange(port, wire_request(project.ingest_token, headers))
    assert status_of(answer) == expected, answer[:300]
    assert time.monotonic() - started < 2.0
    assert json_error_of(answer)["error"] == {400: "bad_request", 413: "payload_too_large"}[expected]


def test_a_body_shorter_than_its_content_length_is_never_stored_and_a_waiting_client_gets_a_408(
    hostile_target: tuple[CollectorProcess, ProjectAccess],
) -> None:
    """The server cannot know the rest will never come: a client that gives up (half-close) is dropped,
    one that waits is answered 408 after TESTRUN_CHANNEL_TIMEOUT_S of silence."""
    process, project = hostile_target
    port = int(process.url.rsplit(":", 1)[1])
    body = b'{"run_id":"short-body","status":"passed"}'
    headers = b"Content-Length: %d\r\n" % (len(body) + 100)
    assert raw_exchange(port, wire_request(project.ingest_token, headers, body), half_close=True) == b""
    started = time.monotonic()
    answer = raw_exchange(port, wire_request(project.ingest_token, headers, body), read_timeout=30)
    assert status_of(answer) == 408, answer[:300]
    assert json_error_of(answer)["error"] == "request_timeout"
    assert time.monotonic() - started < CHANNEL_TIMEOUT_S + 3
    assert project.get("/api/v1/runs/short-body").status_code == 404


@pytest.mark.slow
def test_slow_clients_hold_only_a_socket_get_a_408_once_overdue_and_others_are_served(
    hostile_target: tuple[CollectorProcess, ProjectAccess], canary: Canary
) -> None:
    """60 slowloris connections (headers begun, never finished), 20 that send a body far slower than
    the minimum rate, and 20 that trickle a header byte every half second, so they are never silent:
    the canary is served all along, memory does not move, and every one of them is answered 408 and
    closed once its request is overdue (headers due TESTRUN_REQUEST_TIMEOUT_S after the first byte)."""
    process, project = hostile_target
    assert process.process is not None
    port = int(process.url.rsplit(":", 1)[1])
    rss_before = rss_mib(process.process.pid)
    slow: list[socket.socket] = []
    tricklers: list[socket.socket] = []
    try:
        started = time.monotonic()
        for i in range(60):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(b"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-%d: " % i)
            slow.append(sock)
        for i in range(20):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(wire_request(project.ingest_token, b"Content-Length: 1000000\r\n", b'{"run_id":"slow-%d",' % i))
            slow.append(sock)
        for i in range(20):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(b"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle-%d: " % i)
            tricklers.append(sock)
        served = requests.get(f"{project.url}/healthz", timeout=10)
        assert served.status_code == 200 and time.monotonic() - started < 2.0
        stop_trickling = threading.Event()

        def trickle() -> None:
            # until just before the deadline: bytes still arriving when the server closes would make the
            # kernel reset the connection and drop the answer
            while not stop_trickling.wait(0.5) and time.monotonic() < started + REQUEST_TIMEOUT_S - 0.3:
                for sock in tricklers:
                    try:
                        sock.sendall(b"x")
                    except OSError:
                        pass

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        deadline = started + max(CHANNEL_TIMEOUT_S, REQUEST_TIMEOUT_S) + 5
        answers = [(read_until_closed(sock, deadline - time.monotonic()), time.monotonic() - started) for sock in slow + tricklers]
        stop_trickling.set()
        trickler.join(5)
        assert [status_of(answer) for answer, _ in answers] == [408] * len(answers)
        assert {json_error_of(answer)["error"] for answer, _ in answers} == {"request_timeout"}
        assert max(after for _, after in answers) < REQUEST_TIMEOUT_S + 3
    finally:
        for sock in slow + tricklers:
            sock.close()
    assert rss_mib(process.process.pid) - rss_before < 50


# --- the value cap, in-process ---------------------------------------------------------------------


def test_the_value_cap_counts_arrays_objects_and_items_outside_strings_only() -> None:
    import io

    from collector.api.runs import max_run_values
    from collector.body import read_json_body
    from collector.errors import PayloadTooLarge

    def read(body: bytes, max_values: int) -> object:
        environ = {"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
        return read_json_body(environ, max_bytes=LIMIT, max_values=max_values)

    five = b'{"a":[1,2],"b":"x,[y],{z}"}'  # the object, a, its two items, b: five values
    assert read(five, 5) == {"a": [1, 2], "b": "x,[y],{z}"}
    with pytest.raises(PayloadTooLarge):
        read(five, 4)
    assert read(b'["\\\\",",\\"[", 1]', 4) == ["\\", ',"[', 1]
    assert max_run_values(100_000) == 1_610_000
    # a run with every field of every test, at the default cap of tests, fits
    full = b'{"run_id":"r","tests":[' + b",".join(
        b'{"id":"t%d","name":"n","suite":"s","file":"f","line":1,"status":"failed","duration_ms":1.5,'
        b'"attempts":2,"flaky":true,"message":"m","details":"d"}' % i for i in range(100_000)) + b"]}"
    assert len(read(full, max_run_values(100_000))["tests"]) == 100_000  # type: ignore[index]
