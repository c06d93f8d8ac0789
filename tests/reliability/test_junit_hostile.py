"""XML bombs and external entities given to junit-upload, as a real process with its memory capped.

Each report is refused with exit 2 and one line, quickly, within 512 MiB of
address space (an expanded bomb would need gigabytes), no file or URL it
names is read, and nothing reaches the collector.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flaky_server import FlakyServer

MEMORY_CAP = 512 * 1024 * 1024
SECRET = "this-file-must-never-be-read"

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
""" + "".join(
    f'  <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n' for i in range(1, 10)
) + """]>
<testsuite name="bomb"><testcase classname="c" name="&lol9;"/></testsuite>
"""
QUADRATIC = (
    '<?xml version="1.0"?>\n<!DOCTYPE q [<!ENTITY a "' + "x" * 100_000 + '">]>\n'
    '<testsuite name="q"><testcase classname="c" name="n">' + "&a;" * 50_000 + "</testcase></testsuite>\n"
)


def reports(tmp_path: Path, port: int) -> dict[str, str]:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    return {
        "billion laughs": BILLION_LAUGHS,
        "quadratic blowup": QUADRATIC,
        "external entity (file)": f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY s SYSTEM "file://{secret}">]>\n'
        '<testsuite name="x"><testcase classname="c" name="&s;"/></testsuite>\n',
        "external entity (http)": f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY s SYSTEM "http://127.0.0.1:{port}/e">]>\n'
        '<testsuite name="x"><testcase classname="c" name="&s;"/></testsuite>\n',
        "external DTD": f'<?xml version="1.0"?>\n<!DOCTYPE testsuite SYSTEM "http://127.0.0.1:{port}/x.dtd">\n'
        '<testsuite name="x"><testcase classname="c" name="n"/></testsuite>\n',
        "parameter entity": f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>\n'
        '<testsuite name="x"/>\n',
        "undefined entity": '<?xml version="1.0"?>\n<testsuite name="x"><testcase classname="c" name="&boom;"/>'
        "</testsuite>\n",
    }


def cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


class Listener:
    """A loopback port that records whether anything ever connected to it (an entity being fetched)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def test_xml_bombs_and_external_entities_are_refused_fast_in_bounded_memory_and_nothing_is_sent(
    tmp_path: Path,
) -> None:
    listener = Listener()
    tried = []
    try:
        with FlakyServer() as server:
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("TESTRUN_")},
                   "TESTRUN_URL": server.url, "TESTRUN_TOKEN": "testrun_AAAAAAAAAAAA_" + "B" * 49,
                   "TESTRUN_RUN_ID": "bomb", "TESTRUN_SPOOL_DIR": str(tmp_path / "spool")}
            for name, xml in reports(tmp_path, listener.port).items():
                path = tmp_path / f"{name.replace(' ', '-').replace('(', '').replace(')', '')}.xml"
                path.write_text(xml, encoding="utf-8")
                started = time.monotonic()
                done = subprocess.run([sys.executable, "-m", "junit_uploader.cli", str(path)], env=env,
                                      capture_output=True, text=True, timeout=60, preexec_fn=cap_memory)
                seconds = time.monotonic() - started
                tried.append((name, done.returncode, seconds))
                assert done.returncode == 2, (name, done.stderr)
                assert "nothing was uploaded" in done.stderr and "Traceback" not in done.stderr, (name, done.stderr)
                assert SECRET not in done.stdout + done.stderr, name
                assert seconds < 10, name
            assert server.requests == []
            # XInclude is not an attack on a parser that does not do XInclude: sent, but as the element it is.
            path = tmp_path / "xinclude.xml"
            path.write_text('<?xml version="1.0"?>\n<testsuite name="x" xmlns:xi="http://www.w3.org/2001/XInclude">'
                            f'<testcase classname="c" name="n"><failure message="m"/><system-out>'
                            f'<xi:include href="file://{tmp_path / "secret.txt"}" parse="text"/></system-out>'
                            "</testcase></testsuite>\n", encoding="utf-8")
            done = subprocess.run([sys.executable, "-m", "junit_uploader.cli", str(path)], env=env,
                                  capture_output=True, text=True, timeout=60, preexec_fn=cap_memory)
            assert done.returncode == 0, done.stderr
            assert len(server.requests) == 1 and SECRET.encode() not in server.requests[0].payload
        assert listener.connections == 0
        assert not (tmp_path / "spool").exists()
    finally:
        listener.close()
    print("\njunit-upload: " + ", ".join(f"{name} -> exit {code} in {s:.2f} s" for name, code, s in tried))


@pytest.mark.parametrize("depth", [100_000])
def test_a_report_nested_absurdly_deep_is_refused_or_read_without_a_crash(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.xml"
    path.write_text('<?xml version="1.0"?>\n<testsuites>' + "<testsuite name='s'>" * depth
                    + "<testcase classname='c' name='n'/>" + "</testsuite>" * depth + "</testsuites>\n",
                    encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "junit_uploader.cli", "--dry-run", str(path)],
                          env={k: v for k, v in os.environ.items() if not k.startswith("TESTRUN_")},
                          capture_output=True, text=True, timeout=60, preexec_fn=cap_memory)
    assert done.returncode in (0, 2), done.stderr
    assert "Traceback" not in done.stderr
