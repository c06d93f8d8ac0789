"""``junit-upload run [--junit GLOB]... [--quarantine] -- CMD``: a real junit-upload process running a real command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from collector_harness import CollectorProcess, ProjectAccess, new_project
from test_cli import GITHUB_ENV, closed_port_url
from test_quarantine_gate import junit_xml, list_fetches, project_quarantining

#: the test command: writes its first argument (if any) as a Surefire report, then exits with its second
WRITES_REPORT = (
    "import pathlib, sys\n"
    "if sys.argv[1]:\n"
    "    report = pathlib.Path('target/surefire-reports/TEST-com.acme.CartTest.xml')\n"
    "    report.parent.mkdir(parents=True, exist_ok=True)\n"
    "    report.write_text(sys.argv[1])\n"
    "sys.exit(int(sys.argv[2]))\n"
)
#: the test command: says it is ready, then waits for a signal; it exits 42 when it gets SIGINT or SIGTERM
WAITS_FOR_A_SIGNAL = (
    "import signal, sys, time\n"
    "def stop(signum, frame):\n"
    "    print('child got', signal.Signals(signum).name, flush=True)\n"
    "    sys.exit(42)\n"
    "signal.signal(signal.SIGINT, stop)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
    "sys.exit(3)\n"
)
#: ``junit-upload`` with SIGINT's default action: a test run started in the background ignores SIGINT, and so
#: would its children (Popen's preexec_fn could reset it, but is not safe with the collector harness's threads)
JUNIT_UPLOAD_WITH_SIGINT = [
    sys.executable, "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.executable, sys.argv[1:])",
    sys.executable, "-m", "junit_uploader.cli",
]
NO_REPORT = "testrun: warning: the command wrote no JUnit report matching **/TEST-*.xml, **/*junit*.xml"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any CI or testrun variables, plus GitHub's and ``extra``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("TESTRUN_", "GITHUB_", "CI"))}
    return {**kept, **GITHUB_ENV, **extra}


def env_for(project: ProjectAccess, tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(TESTRUN_URL=project.url, TESTRUN_TOKEN=project.ingest_token,
                     TESTRUN_SPOOL_DIR=str(tmp_path / "spool"), **extra)


def down_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(TESTRUN_URL=closed_port_url(), TESTRUN_TOKEN="tr_not_a_real_token", TESTRUN_RETRIES="0",
                     TESTRUN_SPOOL_DIR=str(tmp_path / "spool"), **extra)


def junit_upload_run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "junit_uploader.cli", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def run_for(project: ProjectAccess, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``junit-upload run ARGS`` in ``tmp_path``, uploading to ``project``."""
    return junit_upload_run(*args, cwd=tmp_path, env=env_for(project, tmp_path))


def command_writing(report: str, status: int) -> list[str]:
    """``-- python -c ...``: the command writes ``report`` (none when empty) and exits ``status``."""
    return ["--", sys.executable, "-c", WRITES_REPORT, report, str(status)]


def test_the_commands_output_passes_through_and_its_status_is_returned(tmp_path: Path) -> None:
    script = "import sys; print('out line'); print('err line', file=sys.stderr); sys.exit(3)"

    result = junit_upload_run("--", sys.executable, "-c", script, cwd=tmp_path, env=down_env(tmp_path))

    assert result.returncode == 3
    assert result.stdout == "out line\n"
    assert result.stderr == f"err line\n{NO_REPORT}: nothing uploaded; exit 3, the command's status\n"


def test_a_crash_without_reports_keeps_its_status_with_quarantine(tmp_path: Path) -> None:
    result = junit_upload_run("--quarantine", *command_writing("", 4), cwd=tmp_path, env=down_env(tmp_path))

    assert result.returncode == 4
    assert result.stderr == f"{NO_REPORT}: nothing uploaded; exit 4, the command's status\n"


def test_only_quarantined_failures_turn_the_commands_failure_into_0(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    project = project_quarantining(collector, {"com.acme.CartTest::removesItem": "flaky since the sandbox moved"})
    report = junit_xml(addsItem="passed", removesItem="failed")

    result = run_for(project, tmp_path, "--quarantine", *command_writing(report, 1))

    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith(
        "testrun: quarantined: com.acme.CartTest::removesItem (flaky since the sandbox moved)\n"
        "testrun: the failure is quarantined: exit 0 instead of the command's 1\n"
    )
    [stored] = project.get("/api/v1/runs").json()["runs"]
    assert (stored["counts"]["total"], stored["counts"]["failed"]) == (2, 1)


def test_a_failure_not_quarantined_keeps_the_commands_status_and_is_named(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    project = project_quarantining(collector, {"com.acme.CartTest::removesItem": "flaky"})
    report = junit_xml(removesItem="failed", emptiesCart="error")

    result = run_for(project, tmp_path, "--quarantine", *command_writing(report, 1))

    assert result.returncode == 1
    assert result.stderr.endswith(
        "testrun: quarantined: com.acme.CartTest::removesItem (flaky)\n"
        "testrun: error: 1 of 2 failures is not quarantined:\n"
        "testrun:   com.acme.CartTest::emptiesCart\n"
    )


def test_with_the_collector_down_failures_fail_and_one_line_says_the_list_was_not_fetched(tmp_path: Path) -> None:
    report = junit_xml(removesItem="failed")

    result = junit_upload_run("--quarantine", *command_writing(report, 1), cwd=tmp_path, env=down_env(tmp_path))

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert next(line for line in lines if "quarantine list" in line).startswith(
        "testrun: warning: the quarantine list could not be fetched, so no failure is quarantined: could not fetch"
    )
    assert lines[-2:] == ["testrun: error: 1 failure is not quarantined:", "testrun:   com.acme.CartTest::removesItem"]


def test_reports_older_than_the_command_are_ignored(collector: CollectorProcess, tmp_path: Path) -> None:
    project = project_quarantining(collector, {"com.acme.CartTest::removesItem": "flaky"})
    stale = tmp_path / "target" / "surefire-reports" / "TEST-com.acme.OldTest.xml"
    stale.parent.mkdir(parents=True)
    stale.write_text(junit_xml(emptiesCart="failed").replace("CartTest", "OldTest"))
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))

    result = run_for(project, tmp_path, "--quarantine", *command_writing(junit_xml(removesItem="failed"), 1))

    assert result.returncode == 0, result.stderr
    [stored] = project.get("/api/v1/runs").json()["runs"]
    assert [test["id"] for test in project.get(stored["url"]).json()["tests"]] == ["com.acme.CartTest::removesItem"]


def test_only_stale_reports_are_said_so_and_the_commands_status_stands(tmp_path: Path) -> None:
    stale = tmp_path / "build" / "TEST-com.acme.OldTest.xml"
    stale.parent.mkdir(parents=True)
    stale.write_text(junit_xml(emptiesCart="failed"))
    os.utime(stale, (time.time() - 3600, time.time() - 3600))

    result = junit_upload_run("--quarantine", *command_writing("", 1), cwd=tmp_path, env=down_env(tmp_path))

    assert result.returncode == 1
    assert result.stderr == f"{NO_REPORT} (1 older file ignored): nothing uploaded; exit 1, the command's status\n"


def test_junit_names_where_the_reports_are(collector: CollectorProcess, tmp_path: Path) -> None:
    project = new_project(collector)
    elsewhere = ("import pathlib, sys; pathlib.Path('out').mkdir(); "
                 f"pathlib.Path('out/results.xml').write_text({junit_xml(addsItem='passed')!r})")

    result = run_for(project, tmp_path, "--junit", "out/*.xml", "--junit", "other/**/*.xml", "--", sys.executable, "-c",
                              elsewhere)

    assert result.returncode == 0, result.stderr
    assert "testrun: 1 result → run github:" in result.stderr
    [stored] = project.get("/api/v1/runs").json()["runs"]
    assert stored["counts"]["total"] == 1


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (1, ("testrun: the command failed (exit 1) without a failed or errored testcase in its reports: "
             "its status stands\n")),
        (0, "(201 created)\ntestrun: no failures\n"),
    ],
    ids=["failed without a failing testcase", "passed"],
)
def test_with_no_failing_testcase_the_status_stands_and_no_list_is_fetched(
    collector: CollectorProcess, tmp_path: Path, status: int, said: str
) -> None:
    project = new_project(collector)
    before = list_fetches(collector)

    result = run_for(project, tmp_path, "--quarantine", *command_writing(junit_xml(addsItem="passed"), status))

    assert result.returncode == status
    assert result.stderr.endswith(said)
    assert list_fetches(collector) == before
    assert len(project.get("/api/v1/runs").json()["runs"]) == 1


def test_without_quarantine_a_failure_keeps_the_commands_status(collector: CollectorProcess, tmp_path: Path) -> None:
    project = project_quarantining(collector, {"com.acme.CartTest::removesItem": "flaky"})

    result = run_for(project, tmp_path, *command_writing(junit_xml(removesItem="failed"), 1))

    assert result.returncode == 1
    assert "(201 created)" in result.stderr


def test_a_command_killed_by_a_signal_keeps_128_plus_the_signal_even_if_its_failures_are_quarantined(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    project = project_quarantining(collector, {"com.acme.CartTest::removesItem": "flaky"})
    writes_then_dies = WRITES_REPORT.replace("sys.exit(int(sys.argv[2]))", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")

    result = run_for(project, tmp_path, "--quarantine", "--", sys.executable, "-c", writes_then_dies,
                              junit_xml(removesItem="failed"), "0")

    assert result.returncode == 128 + signal.SIGKILL
    assert result.stderr.endswith(
        "testrun: quarantined: com.acme.CartTest::removesItem (flaky)\n"
        "testrun: warning: every failure is quarantined, but SIGKILL ended the command: its status 137 stands\n"
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_are_passed_on_and_the_commands_status_is_returned(
    tmp_path: Path, sig: signal.Signals
) -> None:
    process = subprocess.Popen(
        [*JUNIT_UPLOAD_WITH_SIGINT, "run", "--", sys.executable, "-c", WAITS_FOR_A_SIGNAL],
        cwd=tmp_path,
        env=down_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"  # passed through while the command runs

    process.send_signal(sig)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 42
    assert out == f"child got {sig.name}\n"
    assert err == (f"testrun: warning: interrupted by {sig.name} (the command got it too and exited 42): "
                   "its reports were not uploaded\n")


def test_a_command_that_does_not_handle_sigterm_gives_143(tmp_path: Path) -> None:
    waits = "import time; print('ready', flush=True); time.sleep(60)"
    process = subprocess.Popen(
        [sys.executable, "-m", "junit_uploader.cli", "run", "--", sys.executable, "-c", waits],
        cwd=tmp_path, env=down_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"

    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 128 + signal.SIGTERM
    assert "interrupted by SIGTERM (the command got it too and exited 143)" in err


def test_a_command_that_cannot_be_found_is_127_in_one_line(tmp_path: Path) -> None:
    result = junit_upload_run("--", "no-such-test-command-here", "test", cwd=tmp_path, env=down_env(tmp_path))

    assert result.returncode == 127
    assert result.stderr == "testrun: error: cannot run no-such-test-command-here: command not found (check PATH)\n"


def test_without_a_command_after_the_separator_it_is_a_usage_error(tmp_path: Path) -> None:
    for args in ([], ["--quarantine", "mvn", "test"], ["--quarantine", "--"]):
        result = junit_upload_run(*args, cwd=tmp_path, env=down_env(tmp_path))

        assert result.returncode == 2
        assert result.stderr.splitlines()[-1].startswith("junit-upload run: error: ")


def test_a_bad_setting_is_exit_2_and_the_command_does_not_run(tmp_path: Path) -> None:
    touches = "import pathlib; pathlib.Path('ran').touch()"

    result = junit_upload_run("--", sys.executable, "-c", touches, cwd=tmp_path,
                              env=down_env(tmp_path, TESTRUN_TIMEOUT="soon"))

    assert result.returncode == 2
    assert result.stderr == ("testrun: error: environment variable TESTRUN_TIMEOUT='soon' must be a number of seconds "
                             "above 0\n")
    assert not (tmp_path / "ran").exists()


def test_an_upload_failure_changes_a_passing_commands_status_only_with_strict(tmp_path: Path) -> None:
    runs: dict[str, Any] = {}
    for strict in ([], ["--strict"]):
        result = junit_upload_run(*strict, *command_writing(junit_xml(addsItem="passed"), 0), cwd=tmp_path,
                                  env=down_env(tmp_path))
        runs[" ".join(strict)] = result.returncode
        assert "not uploaded" in result.stderr

    assert runs == {"": 0, "--strict": 1}


def test_a_malformed_report_keeps_the_commands_status_and_says_which(tmp_path: Path) -> None:
    result = junit_upload_run("--quarantine", *command_writing("<testsuite><testcase name='a'>", 1), cwd=tmp_path,
                              env=down_env(tmp_path))

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "TEST-com.acme.CartTest.xml" in result.stderr and "(nothing was uploaded)" in result.stderr


def test_the_help_of_both_forms_tells_of_run_and_quarantine(tmp_path: Path) -> None:
    top = subprocess.run([sys.executable, "-m", "junit_uploader.cli", "--help"], capture_output=True, text=True,
                         timeout=60, check=False)
    run = junit_upload_run("--help", cwd=tmp_path, env=clean_env())

    top_text, run_text = " ".join(top.stdout.split()), " ".join(run.stdout.split())  # as read, not as wrapped
    assert top.returncode == run.returncode == 0
    assert "junit-upload run [OPTIONS] [--junit GLOB]... [--quarantine] -- CMD [ARGS...]" in top_text
    assert "--quarantine" in top_text and "TESTRUN_QUARANTINE" in top_text
    assert run_text.startswith("usage: junit-upload run [OPTIONS] [--junit GLOB]... [--quarantine] -- CMD [ARGS...]")
    for option in ("--junit", "--quarantine", "--strict", "--url", "--label", "--summary", "**/TEST-*.xml",
                   "**/*junit*.xml", "128 + N", "TESTRUN_TOKEN", "junit-upload run --quarantine -- mvn -B test"):
        assert option in run_text, option
