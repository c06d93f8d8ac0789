"""A real pytest session (its own process) reporting to a hostile collector: it ends on time, green stays green."""

from __future__ import annotations

import time

import pytest
from hostile_server import HostileServer, huge_body, trickled_body, trickled_headers

TOKEN = "trk_3f9a1c_Zq8Lw2Vn7Xr4Tb6Ym1Kp5Hd9Gs3Jf0_c0ffee"
MAX_TOTAL_S = 3.0
BOUND_S = MAX_TOTAL_S + 5.0
QUIET_PLUGINS = ["-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio"]
#: the session limits its own memory to 1 GiB: reading a 2 GiB answer whole would end it with MemoryError
LIMIT_MEMORY = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
HOSTILE = {
    "trickled headers": (trickled_headers, "a timeout while waiting for the answer"),
    "trickled body": (trickled_body, "a timeout while reading the answer"),
    "huge answer": (huge_body, "the answer exceeded 1048576 bytes: is TESTRUN_URL a testrun collector?"),
}


def session_against(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> tuple:
    monkeypatch.setenv("TESTRUN_URL", url)
    monkeypatch.setenv("TESTRUN_TOKEN", TOKEN)
    monkeypatch.setenv("TESTRUN_TIMEOUT", "1")
    monkeypatch.setenv("TESTRUN_RETRIES", "20")
    monkeypatch.setenv("TESTRUN_MAX_TOTAL_TIME", str(MAX_TOTAL_S))
    monkeypatch.setenv("TESTRUN_SPOOL_DIR", str(pytester.path / "spool"))
    pytester.makeconftest(LIMIT_MEMORY)
    started = time.monotonic()
    result = pytester.runpytest_subprocess(*QUIET_PLUGINS, "--testrun-report", *args, timeout=60)
    return result, time.monotonic() - started, result.stdout.str() + result.stderr.str()


@pytest.mark.slow
@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_green_session_stays_green_gives_up_on_time_and_spools_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, hostile: tuple
) -> None:
    behaviour, cause = hostile
    pytester.makepyfile("def test_ok():\n    pass\n")

    with HostileServer(behaviour()) as server:
        result, seconds, output = session_against(pytester, monkeypatch, server.url)

    assert result.ret == 0, output
    assert seconds < BOUND_S, output
    assert "testrun: warning: not uploaded: " in output and cause in output, output
    assert "Traceback" not in output and "INTERNALERROR" not in output and TOKEN not in output
    assert len(list((pytester.path / "spool").glob("run-*.json"))) == 1


@pytest.mark.slow
def test_with_testrun_strict_a_trickling_collector_fails_the_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")

    with HostileServer(trickled_headers()) as server:
        result, seconds, output = session_against(pytester, monkeypatch, server.url, "--testrun-strict")

    assert result.ret == 1, output
    assert seconds < BOUND_S, output
    assert "testrun: error: not uploaded: " in output and "a timeout while waiting for the answer" in output


def test_an_unexpected_error_while_building_the_run_is_a_warning_naming_its_type(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a skip reason holding a lone surrogate, as os.fsdecode gives for a file name that is not UTF-8
    pytester.makepyfile('import pytest\n\ndef test_ok():\n    pass\n\ndef test_skip():\n    pytest.skip("caf\\udce9")\n')

    result, _, output = session_against(pytester, monkeypatch, "http://127.0.0.1:9")

    assert result.ret == 0, output
    assert "testrun: warning: not uploaded: an unexpected UnicodeEncodeError while building or sending the run" in output
    assert "INTERNALERROR" not in output
