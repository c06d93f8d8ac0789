"""The plugin through real pytest sessions (pytester)."""

from __future__ import annotations

import io
import json
from typing import Any, Callable

import pytest


def by_id(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {test["id"]: test for test in payload["tests"]}


def statuses(payload: dict[str, Any]) -> dict[str, str]:
    return {test["id"]: test["status"] for test in payload["tests"]}


def counts(payload: dict[str, Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for test in payload["tests"]:
        found[test["status"]] = found.get(test["status"], 0) + 1
    return found


OUTCOMES = '''
import pytest

@pytest.fixture
def broken_setup():
    raise RuntimeError("database not reachable")

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("cleanup failed")

def test_passes():
    pass

def test_fails():
    assert 1 + 1 == 3, "arithmetic is broken\\nsecond line"

def test_setup_error(broken_setup):
    pass

def test_teardown_error_after_a_passing_call(broken_teardown):
    pass

@pytest.mark.skip(reason="not on this platform")
def test_skip_marker():
    pass

def test_skip_call():
    pytest.skip("skipped inside")

def test_importorskip():
    pytest.importorskip("module_that_does_not_exist_anywhere")

@pytest.mark.xfail(reason="known bug #12")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed already?")
def test_xpass():
    pass

@pytest.mark.xfail(reason="must fail", strict=True)
def test_strict_xpass():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n
'''


def test_every_outcome_gets_the_right_status(pytester: pytest.Pytester, payload_of: Callable[..., Any]) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES)

    result, payload = payload_of()

    result.assert_outcomes(passed=4, failed=2, errors=2, skipped=3, xfailed=1, xpassed=1)
    assert statuses(payload) == {
        "test_outcomes.py::test_passes": "passed",
        "test_outcomes.py::test_fails": "failed",
        "test_outcomes.py::test_setup_error": "error",
        "test_outcomes.py::test_teardown_error_after_a_passing_call": "error",
        "test_outcomes.py::test_skip_marker": "skipped",
        "test_outcomes.py::test_skip_call": "skipped",
        "test_outcomes.py::test_importorskip": "skipped",
        "test_outcomes.py::test_xfail": "xfailed",
        "test_outcomes.py::test_xpass": "xpassed",
        "test_outcomes.py::test_strict_xpass": "failed",
        "test_outcomes.py::test_param[1]": "passed",
        "test_outcomes.py::test_param[2]": "passed",
    }


def test_messages_reasons_locations_and_details_are_recorded(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES)

    _, payload = payload_of()
    tests = by_id(payload)

    failed = tests["test_outcomes.py::test_fails"]
    assert failed["message"] == "AssertionError: arithmetic is broken"
    assert "assert 1 + 1 == 3" in failed["details"] and "second line" in failed["details"]
    source = (pytester.path / "test_outcomes.py").read_text().splitlines()
    assert failed["file"] == "test_outcomes.py"
    assert source[failed["line"] - 1] == "def test_fails():"
    assert failed["name"] == "test_fails" and failed["attempts"] == 1 and failed["flaky"] is False
    assert tests["test_outcomes.py::test_setup_error"]["message"] == (
        "error in setup: RuntimeError: database not reachable"
    )
    assert "cleanup failed" in tests["test_outcomes.py::test_teardown_error_after_a_passing_call"]["message"]
    assert tests["test_outcomes.py::test_skip_marker"]["message"] == "not on this platform"
    assert tests["test_outcomes.py::test_skip_call"]["message"] == "skipped inside"
    assert "module_that_does_not_exist_anywhere" in tests["test_outcomes.py::test_importorskip"]["message"]
    assert tests["test_outcomes.py::test_xfail"]["message"] == "known bug #12"
    assert tests["test_outcomes.py::test_passes"]["details"] is None


def test_a_failure_that_shows_an_objects_default_repr_reads_the_same_on_every_run(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    pytester.makepyfile(
        test_widget="""
        class Widget:
            pass

        def test_widget():
            assert Widget() is None, "not a widget: %r" % (lambda: 1)
        """
    )

    _, first = payload_of()
    _, again = payload_of()

    [failed] = first["tests"]
    assert "<test_widget.Widget object>" in failed["details"] and " at 0x" not in failed["details"]
    assert failed["message"].startswith("AssertionError: not a widget: <function test_widget.<locals>.<lambda>>")
    assert (failed["message"], failed["details"]) == (again["tests"][0]["message"], again["tests"][0]["details"])


def test_durations_are_summed_over_setup_call_and_teardown(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    pytester.makepyfile(
        """
        import time, pytest

        @pytest.fixture
        def slow_fixture():
            time.sleep(0.05)
            yield
            time.sleep(0.05)

        def test_slow(slow_fixture):
            time.sleep(0.05)
        """
    )

    _, payload = payload_of()

    assert payload["tests"][0]["duration_ms"] >= 150


def test_a_collection_error_is_reported_as_an_error(pytester: pytest.Pytester, payload_of: Callable[..., Any]) -> None:
    pytester.makepyfile(test_fine="def test_ok(): pass", test_broken="import no_such_module_here\n")

    result, payload = payload_of()

    assert result.ret == pytest.ExitCode.INTERRUPTED
    broken = by_id(payload)["test_broken.py"]
    assert broken["status"] == "error"
    assert broken["message"] == "collection failed: ModuleNotFoundError: No module named 'no_such_module_here'"
    assert "no_such_module_here" in broken["details"]


def test_a_collection_error_with_continue_on_collection_errors_keeps_every_result(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    pytester.makepyfile(test_fine="def test_ok(): pass", test_broken="import no_such_module_here\n")

    result, payload = payload_of("--continue-on-collection-errors")

    result.assert_outcomes(passed=1, errors=1)
    assert counts(payload) == {"passed": 1, "error": 1}


def test_exitfirst_still_reports_what_ran(pytester: pytest.Pytester, payload_of: Callable[..., Any]) -> None:
    pytester.makepyfile("def test_a(): pass\ndef test_b(): assert 0\ndef test_c(): pass\n")

    result, payload = payload_of("-x")

    result.assert_outcomes(passed=1, failed=1)
    assert statuses(payload) == {"test_exitfirst_still_reports_what_ran.py::test_a": "passed",
                                 "test_exitfirst_still_reports_what_ran.py::test_b": "failed"}


def test_an_interrupted_session_still_reports_what_ran(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass\ndef test_b(): raise KeyboardInterrupt\ndef test_c(): pass\n")
    output = pytester.path / "interrupted.json"

    result = pytester.runpytest_subprocess("--testrun-report", f"--testrun-output={output}")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    payload = json.loads(output.read_text())
    assert statuses(payload) == {"test_an_interrupted_session_still_reports_what_ran.py::test_a": "passed"}


def test_each_subtest_is_its_own_result_beside_its_parent(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    pytester.makepyfile(
        test_sub="""
        def test_cases(subtests):
            for i in range(3):
                with subtests.test(msg="case", i=i):
                    assert i != 1

        def test_repeated(subtests):
            for _ in range(2):
                with subtests.test(msg="same"):
                    pass
        """
    )

    result, payload = payload_of("-q")

    result.stdout.re_match_lines([r"2 failed, 1 passed, (\d+ warnings, )?4 subtests passed in .*"])
    assert statuses(payload) == {
        "test_sub.py::test_cases [case] (i=0)": "passed",
        "test_sub.py::test_cases [case] (i=1)": "failed",
        "test_sub.py::test_cases [case] (i=2)": "passed",
        "test_sub.py::test_cases": "failed",
        "test_sub.py::test_repeated [same]": "passed",
        "test_sub.py::test_repeated [same] #2": "passed",
        "test_sub.py::test_repeated": "passed",
    }


def test_under_xdist_the_controller_reports_every_workers_results_once(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES)

    result, payload = payload_of("-n", "2")

    result.assert_outcomes(passed=4, failed=2, errors=2, skipped=3, xfailed=1, xpassed=1)
    assert len(payload["tests"]) == 12
    # pytest counts the passing call with a failing teardown twice (passed and error); it is one result here
    assert counts(payload) == {"passed": 3, "failed": 2, "error": 2, "skipped": 3, "xfailed": 1, "xpassed": 1}


def test_a_test_that_passes_on_a_rerun_is_passed_and_flaky_with_its_attempts(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    pytester.makepyfile(
        """
        import pathlib

        def test_flaky():
            marker = pathlib.Path("tried-once")
            if not marker.exists():
                marker.write_text("x")
                assert False, "first attempt fails"

        def test_always_fails():
            assert False
        """
    )

    result, payload = payload_of("--reruns", "2")

    result.stdout.re_match_lines([r".*1 failed, 1 passed, (\d+ warnings, )?3 rerun in .*"])
    tests = list(payload["tests"])
    assert [(t["status"], t["attempts"], t["flaky"]) for t in tests] == [("passed", 2, True), ("failed", 3, False)]


def test_with_no_url_and_no_output_it_warns_and_leaves_the_exit_code(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass")

    result = pytester.runpytest("--testrun-report")

    assert result.ret == 0
    result.stdout.fnmatch_lines(["testrun: warning: not uploaded: no collector URL*"])


def test_without_the_flag_the_plugin_does_nothing(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTRUN_OUTPUT", str(pytester.path / "should-not-exist.json"))
    pytester.makeconftest(
        """
        def pytest_sessionfinish(session):
            assert session.config.pluginmanager.get_plugin("testrun-reporter") is None
            import sys
            assert "junit_uploader.client" not in sys.modules
        """
    )
    pytester.makepyfile("def test_a(): pass")

    result = pytester.runpytest_subprocess()

    assert result.ret == 0
    assert "testrun:" not in result.stdout.str()
    assert not (pytester.path / "should-not-exist.json").exists()


@pytest.mark.parametrize(
    ("ini", "env", "flag", "expected_label"),
    [
        ("from-ini", None, None, "from-ini"),
        ("from-ini", "from-env", None, "from-env"),
        ("from-ini", "from-env", "from-flag", "from-flag"),
    ],
)
def test_settings_take_flag_over_env_over_ini(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    ini: str,
    env: str | None,
    flag: str | None,
    expected_label: str,
) -> None:
    pytester.makeini(f"[pytest]\ntestrun_report = true\ntestrun_label = {ini}\n")
    if env:
        monkeypatch.setenv("TESTRUN_LABEL", env)
    pytester.makepyfile("def test_a(): pass")
    output = pytester.path / "out.json"

    pytester.runpytest(f"--testrun-output={output}", *([f"--testrun-label={flag}"] if flag else []))

    assert json.loads(output.read_text())["ci"]["label"] == expected_label


def test_the_environment_alone_turns_it_on(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTRUN_REPORT", "1")
    monkeypatch.setenv("TESTRUN_OUTPUT", str(pytester.path / "env.json"))
    pytester.makepyfile("def test_a(): pass")

    pytester.runpytest()

    assert json.loads((pytester.path / "env.json").read_text())["tests"][0]["status"] == "passed"


@pytest.mark.parametrize(
    ("setting", "warning"),
    [
        (
            "--testrun-timeout=soon",
            "testrun: warning: --testrun-timeout='soon' must be a number of seconds above 0; using the default, 10",
        ),
        (
            "TESTRUN_RETRIES=many",
            (
                "testrun: warning: environment variable TESTRUN_RETRIES='many' must be a whole number from 0 to 100; "
                "using the default, 5"
            ),
        ),
        (
            "TESTRUN_BATCH_TESTS=50000",
            (
                "testrun: warning: environment variable TESTRUN_BATCH_TESTS='50000' must be a whole number of tests "
                "from 0 (send the run whole, at the end) to 10,000; using the default, 2000"
            ),
        ),
        (
            "TESTRUN_STRICT=maybe",
            (
                "testrun: warning: environment variable TESTRUN_STRICT='maybe' must be true or false "
                "(1/0, yes/no, on/off); using the default, off"
            ),
        ),
    ],
)
def test_a_bad_setting_warns_in_one_line_keeps_its_default_and_the_tests_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, setting: str, warning: str
) -> None:
    pytester.makepyfile("def test_a(): pass")
    args = ["--testrun-report", f"--testrun-output={pytester.path / 'out.json'}"]
    if setting.startswith("--"):
        args.append(setting)
    else:
        monkeypatch.setenv(*setting.split("=", 1))

    result = pytester.runpytest(*args)

    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1)
    assert [line for line in result.outlines if line.startswith("testrun: warning")] == [warning]
    assert json.loads((pytester.path / "out.json").read_text())["tests"][0]["status"] == "passed"


def test_a_bad_ini_switch_warns_in_one_line_and_the_tests_run(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntestrun_report = maybe\n")
    pytester.makepyfile("def test_a(): pass")

    result = pytester.runpytest()

    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1)
    assert [line for line in result.outlines if line.startswith("testrun:")] == [
        "testrun: warning: ini option testrun_report: invalid truth value 'maybe' (use true or false): "
        "not reporting this session"
    ]


def test_a_url_without_a_scheme_warns_runs_the_tests_and_keeps_the_run_for_a_resend(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, project: Any
) -> None:
    from junit_uploader.cli import main as junit_upload
    from junit_uploader.spool import spool_name

    monkeypatch.setenv("TESTRUN_URL", "127.0.0.1:8080")
    monkeypatch.setenv("TESTRUN_TOKEN", project.ingest_token)
    monkeypatch.setenv("TESTRUN_RUN_ID", "local:no-scheme")
    pytester.makepyfile("def test_a(): pass\ndef test_b(): assert False")

    result = pytester.runpytest("--testrun-report")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=1)
    spooled = spool_name("local:no-scheme")
    assert [line for line in result.outlines if line.startswith("testrun:")] == [(
        "testrun: warning: not uploaded: environment variable TESTRUN_URL='127.0.0.1:8080' must start with http:// "
        f"or https://, e.g. http://127.0.0.1:8080; saved to .testrun-spool/{spooled}; "
        "re-send it with: junit-upload --resend .testrun-spool"
    )]
    resent = io.StringIO()
    code = junit_upload(["--resend", str(pytester.path / ".testrun-spool")],
                        env={"TESTRUN_URL": project.url, "TESTRUN_TOKEN": project.ingest_token}, stderr=resent)
    assert (code, resent.getvalue()) == (0, f"testrun: re-sent {spooled} → run local:no-scheme (created)\n")


def test_in_strict_mode_a_bad_setting_stops_the_session_before_any_test_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTRUN_URL", "127.0.0.1:8080")
    pytester.makepyfile("def test_a(): pass")

    result = pytester.runpytest("--testrun-report", "--testrun-strict")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "test_a" not in result.stdout.str()
    result.stderr.fnmatch_lines([(
        "*testrun: environment variable TESTRUN_URL='127.0.0.1:8080' must start with http:// or https://, "
        "e.g. http://127.0.0.1:8080 (strict mode stops here; without it this is a warning and the tests run)"
    )])


def test_a_report_switch_that_is_not_yes_or_no_warns_and_the_session_is_not_reported(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTRUN_REPORT", "maybe")
    monkeypatch.setenv("TESTRUN_OUTPUT", str(pytester.path / "out.json"))
    pytester.makepyfile("def test_a(): pass")

    result = pytester.runpytest()

    assert result.ret == pytest.ExitCode.OK
    assert [line for line in result.outlines if line.startswith("testrun:")] == [(
        "testrun: warning: environment variable TESTRUN_REPORT='maybe' must be true or false (1/0, yes/no, on/off): "
        "not reporting this session"
    )]
    assert not (pytester.path / "out.json").exists()


def test_the_default_label_names_python_and_platform(pytester: pytest.Pytester, payload_of: Callable[..., Any]) -> None:
    import sys

    pytester.makepyfile("def test_a(): pass")

    _, payload = payload_of()

    assert payload["ci"]["label"] == f"pytest-py{sys.version_info.major}.{sys.version_info.minor}-{sys.platform}"
    assert payload["reporter"]["name"] == "pytest-testrun-reporter"


def test_an_unwritable_output_file_warns_and_leaves_the_exit_code(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass")
    (pytester.path / "blocker").write_text("a file, not a directory")

    relaxed = pytester.runpytest("--testrun-report", "--testrun-output=blocker/out.json")
    strict = pytester.runpytest("--testrun-report", "--testrun-output=blocker/out.json", "--testrun-strict")

    assert relaxed.ret == pytest.ExitCode.OK
    relaxed.stdout.fnmatch_lines(["testrun: warning: could not write the payload to blocker/out.json"])
    assert strict.ret == pytest.ExitCode.TESTS_FAILED


def test_a_collector_down_and_an_unwritable_spool_still_leave_the_exit_code(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (pytester.path / "blocker").write_text("a file, not a directory")
    for name, value in {"TESTRUN_URL": f"http://127.0.0.1:{port}", "TESTRUN_TOKEN": "testrun_x", "TESTRUN_RETRIES": "0",
                        "TESTRUN_SPOOL_DIR": "blocker/spool"}.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile("def test_a(): pass")

    result = pytester.runpytest("--testrun-report")

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["testrun: warning: not uploaded: *could not be saved in blocker/spool*"])
