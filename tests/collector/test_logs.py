"""Log lines: whatever a client puts in a path or method, each event stays one line that says what happened."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

from collector import __version__
from collector.logs import TextFormatter, configure_logging, text_line
from collector_harness import CollectorProcess, admin, wait_until

#: how every line of the text format begins: logging's asctime, a level, a logger
TEXT_LINE_START = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} [A-Z]+ \S+ ")
#: paths as the server decodes them; sent percent-encoded
HOSTILE_PATHS = [
    "/nope\n2026-12-04 10:00:00,000 INFO testrun.admin revoked token abc route=/tokens",
    "/nope\r\nFORGED LINE",
    "/nope status=200 outcome=created",
    "/nope\u2028FORGED\x85LINE",
    '/nope"quoted"=x',
]


FIELD = re.compile(r' ([^\s=]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?= |$)')


def parse_fields(line: str) -> dict[str, str]:
    """The key=value fields of a text access line, quoted values decoded; the whole line must parse."""
    start = TEXT_LINE_START.match(line)
    assert start, line
    rest = " " + line[start.end():]
    fields, position = {}, 0
    for match in FIELD.finditer(rest):
        assert match.start() == position, f"unparsed text in {line!r}"
        key, value = match.groups()
        assert key not in fields, f"{key} twice in {line!r}"
        fields[key] = json.loads(value) if value.startswith('"') else value
        position = match.end()
    assert position == len(rest), line
    return fields


def raw_get(url: str, path: str, method: str = "GET") -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"{method} {quote(path)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        while sock.recv(65536):
            pass


def test_a_hostile_path_cannot_forge_a_line_of_the_text_log(start_collector: Callable[..., CollectorProcess]) -> None:
    collector = start_collector(log_format="text")
    for path in HOSTILE_PATHS:
        raw_get(collector.url, path)
    assert wait_until(lambda: sum("status=404" in line for line in collector.lines) >= len(HOSTILE_PATHS))
    collector.stop()

    lines = "".join(collector.lines).split("\n")
    assert all(TEXT_LINE_START.match(line) for line in lines if line), lines
    access = [parse_fields(line) for line in lines if " testrun.access " in line and "status=404" in line]
    assert sorted(entry["path"] for entry in access) == sorted(HOSTILE_PATHS)
    for entry in access:
        assert set(entry) == {"request_id", "method", "route", "path", "status", "duration_ms"}
        assert (entry["status"], entry["route"]) == ("404", "unmatched")
    assert not any(line.startswith("FORGED") for line in lines)


def test_text_values_are_bare_when_plain_and_quoted_when_not() -> None:
    line = text_line({"route": "/api/v1/runs/<run_id:path>", "status": 201, "path": "/a b", "run_id": 'x"\ny'})

    assert line == 'route=/api/v1/runs/<run_id:path> status=201 path="/a b" run_id="x\\"\\ny"'


def test_other_records_and_their_tracebacks_cannot_start_a_line_of_their_own() -> None:
    stream = io.StringIO()
    configure_logging("text", stream)
    try:
        log = logging.getLogger("testrun.test")
        log.warning("client said %s", "hi\nFORGED LINE\u2029x")
        try:
            raise ValueError("bad\nFORGED TRACEBACK LINE")
        except ValueError:
            log.exception("failed")
    finally:
        configure_logging("json", io.StringIO())

    lines = stream.getvalue().splitlines()
    assert all(TEXT_LINE_START.match(line) or line.startswith("  ") for line in lines), lines
    assert "client said hi\\u000aFORGED LINE\\u2029x" in lines[0]
    assert any(line.startswith("  ") and "FORGED TRACEBACK LINE" in line for line in lines)


def test_the_json_format_keeps_its_one_object_per_line(start_collector: Callable[..., CollectorProcess]) -> None:
    collector = start_collector()
    raw_get(collector.url, HOSTILE_PATHS[0])
    assert wait_until(lambda: any('"status":404' in line for line in collector.lines))

    entry = next(entry for entry in collector.access_log() if entry["status"] == 404)
    assert entry["path"].startswith("/nope\n2026-12-04")


def test_a_plain_message_is_left_as_it_is() -> None:
    formatter = TextFormatter()
    record = logging.LogRecord("testrun", logging.INFO, __file__, 1, "listening on %s", ("http://[::1]:80",), None)

    assert formatter.format(record).endswith(" INFO testrun listening on http://[::1]:80")


def first_line_on_a_terminal(command: list[str], env: dict[str, str], within_s: float = 30.0) -> str:
    """The first line ``command`` writes to its stderr when that is a terminal (a pseudo-terminal here)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal, env=env)
    os.close(terminal)
    seen = b""
    try:
        deadline = time.monotonic() + within_s
        while b"\n" not in seen and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.1)[0]:
                seen += os.read(controller, 4096)
    finally:
        process.terminate()
        process.wait(30)
        os.close(controller)
    return seen.decode().split("\n", 1)[0].rstrip("\r")


def test_on_a_terminal_the_collector_logs_text_and_its_first_line_says_where_which_database_and_how_to_switch(
    tmp_path: Path,
) -> None:
    db = tmp_path / "tty.sqlite3"
    assert admin(db, "migrate").returncode == 0
    env = {name: value for name, value in os.environ.items() if name != "TESTRUN_LOG_FORMAT"}

    line = first_line_on_a_terminal([sys.executable, "-m", "collector.cli", "serve", "--db", str(db), "--port", "0"], env)

    start = TEXT_LINE_START.match(line)
    assert start, line
    assert re.fullmatch(
        rf"INFO testrun testrun collector {re.escape(__version__)} listening on http://127\.0\.0\.1:\d+ "
        rf"\(database {re.escape(str(db))}\); log lines in text \(auto: stderr is a terminal\): "
        r"--log-format or TESTRUN_LOG_FORMAT=json\|text\|auto to change",
        line[start.end() - len("INFO testrun "):],
    ), line


def test_elsewhere_the_collector_logs_json_and_its_first_line_says_how_to_switch(
    start_collector: Callable[..., CollectorProcess],
) -> None:
    collector = start_collector()

    first = json.loads(collector.lines[0])

    assert first == {
        "level": "info",
        "logger": "testrun",
        "message": f"testrun collector {__version__} listening on {collector.url} (database {collector.db}); "
        "log lines in json (auto: stderr is not a terminal): --log-format or TESTRUN_LOG_FORMAT=json|text|auto "
        "to change",
    }
