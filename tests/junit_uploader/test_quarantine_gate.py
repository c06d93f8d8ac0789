"""``junit-upload --quarantine FILES...`` through its entry point, against a real collector's quarantine list."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from collector_harness import CollectorProcess, ProjectAccess, new_project
from test_cli import GITHUB_ENV, closed_port_url

from junit_uploader.cli import main
from junit_uploader.client import MAX_ANSWER_BYTES, MAX_LIST_BYTES
from junit_uploader.quarantine import MAX_NAMED

CASE = {
    "passed": "",
    "failed": '<failure message="expected 1 but was 2">AssertionError</failure>',
    "error": '<error message="boom">NullPointerException</error>',
    "skipped": "<skipped/>",
}


def junit_xml(**cases: str) -> str:
    """A Surefire-style report of class com.acme.CartTest: test name → status."""
    body = "".join(
        f'<testcase classname="com.acme.CartTest" name="{name}" time="0.1">{CASE[status]}</testcase>'
        for name, status in cases.items()
    )
    return f'<?xml version="1.0"?><testsuite name="com.acme.CartTest">{body}</testsuite>'


def write_report(tmp_path: Path, **cases: str) -> Path:
    path = tmp_path / "TEST-com.acme.CartTest.xml"
    path.write_text(junit_xml(**cases), encoding="utf-8")
    return path


def run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), env=env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def env_for(project: ProjectAccess, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**GITHUB_ENV, "TESTRUN_URL": project.url, "TESTRUN_TOKEN": project.ingest_token,
            "TESTRUN_SPOOL_DIR": str(tmp_path / "spool"), **extra}


def quarantine(collector: CollectorProcess, project: ProjectAccess, reasons: dict[str, str]) -> None:
    """Quarantine each test id for its reason, as a triage token does."""
    admin = {"Authorization": f"Bearer {collector.admin_token}"}
    answer = requests.post(f"{collector.url}/tokens", json={"project": project.slug, "scopes": ["triage"]},
                           headers=admin, timeout=30)
    assert answer.status_code == 201, answer.text
    triage = {"Authorization": f"Bearer {answer.json()['token']}"}
    for test_id, reason in reasons.items():
        added = requests.post(f"{collector.url}/api/v1/quarantine", json={"test_id": test_id, "reason": reason},
                              headers=triage, timeout=30)
        assert added.status_code == 201, added.text


def project_quarantining(collector: CollectorProcess, reasons: dict[str, str]) -> ProjectAccess:
    """A new project whose list quarantines each test id for its reason."""
    project = new_project(collector)
    quarantine(collector, project, reasons)
    return project


def list_fetches(collector: CollectorProcess) -> int:
    return sum(1 for entry in collector.access_log() if entry.get("route") == "/api/v1/quarantine")


def down(tmp_path: Path) -> dict[str, str]:
    """Settings of a collector that cannot be reached (a closed port), failing fast."""
    return {**GITHUB_ENV, "TESTRUN_URL": closed_port_url(), "TESTRUN_TOKEN": "tr_not_a_real_token",
            "TESTRUN_SPOOL_DIR": str(tmp_path / "spool"), "TESTRUN_RETRIES": "0", "TESTRUN_TIMEOUT": "2"}


def test_only_quarantined_failures_exit_0_and_each_is_listed_with_its_reason(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    project = project_quarantining(collector, {"com.acme.CartTest::removesItem": "flaky since the sandbox moved (#412)",
                                               "com.acme.CartTest::checksOut": "payment sandbox down"})
    report = write_report(tmp_path, addsItem="passed", removesItem="failed", checksOut="error")

    code, _, err = run("--quarantine", str(report), env=env_for(project, tmp_path))

    assert code == 0, err
    assert err.endswith(
        "testrun: quarantined: com.acme.CartTest::removesItem (flaky since the sandbox moved (#412))\n"
        "testrun: quarantined: com.acme.CartTest::checksOut (payment sandbox down)\n"
        "testrun: all 2 failures are quarantined: they do not fail the job\n"
    )
    [stored] = project.get("/api/v1/runs").json()["runs"]
    assert stored["counts"]["failed"] == 1 and stored["counts"]["error"] == 1  # reported as they happened


def test_one_failure_not_quarantined_is_exit_1_naming_only_it(collector: CollectorProcess, tmp_path: Path) -> None:
    project = project_quarantining(collector, {"com.acme.CartTest::removesItem": "flaky"})
    report = write_report(tmp_path, removesItem="failed", emptiesCart="failed", addsItem="passed")

    code, _, err = run("--quarantine", str(report), env=env_for(project, tmp_path))

    assert code == 1
    assert err.endswith(
        "testrun: quarantined: com.acme.CartTest::removesItem (flaky)\n"
        "testrun: error: 1 of 2 failures is not quarantined:\n"
        "testrun:   com.acme.CartTest::emptiesCart\n"
    )


def test_without_quarantine_the_exit_status_speaks_only_of_the_upload(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    project = new_project(collector)
    report = write_report(tmp_path, removesItem="failed")
    before = list_fetches(collector)

    code, _, err = run(str(report), env=env_for(project, tmp_path))

    assert code == 0
    assert "quarantine" not in err
    assert list_fetches(collector) == before


def test_with_the_collector_down_failures_fail_and_one_line_says_the_list_was_not_fetched(tmp_path: Path) -> None:
    report = write_report(tmp_path, removesItem="failed", addsItem="passed")
    env = down(tmp_path)

    code, _, err = run("--quarantine", str(report), env=env)

    assert code == 1
    lines = err.splitlines()
    [warning] = [line for line in lines if "quarantine list" in line]
    assert warning.startswith(
        "testrun: warning: the quarantine list could not be fetched, so no failure is quarantined: "
        f"could not fetch the quarantine list from {env['TESTRUN_URL']}: 1 attempt over "
    )
    assert lines[-2:] == ["testrun: error: 1 failure is not quarantined:", "testrun:   com.acme.CartTest::removesItem"]


def test_no_failures_exit_0_without_asking_for_the_list(collector: CollectorProcess, tmp_path: Path) -> None:
    project = new_project(collector)
    report = write_report(tmp_path, addsItem="passed", checksOut="skipped")
    before = list_fetches(collector)

    code, _, err = run("--quarantine", str(report), env=env_for(project, tmp_path))

    assert code == 0, err
    assert "quarantine" not in err
    assert list_fetches(collector) == before


def test_testrun_quarantine_in_the_environment_turns_the_gate_on(tmp_path: Path) -> None:
    report = write_report(tmp_path, removesItem="failed")

    code, _, err = run(str(report), env={**down(tmp_path), "TESTRUN_QUARANTINE": "1"})

    assert code == 1
    assert err.endswith("testrun:   com.acme.CartTest::removesItem\n")


def test_a_bad_testrun_quarantine_value_is_exit_2_naming_it(tmp_path: Path) -> None:
    report = write_report(tmp_path, removesItem="failed")

    code, _, err = run(str(report), env={**GITHUB_ENV, "TESTRUN_QUARANTINE": "maybe"})

    assert code == 2
    assert err == ("testrun: error: environment variable TESTRUN_QUARANTINE='maybe' must be true or false "
                   "(1/0, yes/no, on/off)\n")


def test_malformed_xml_is_still_exit_2_with_quarantine(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text("<testsuite><testcase name='a'></testsuite>")

    code, _, err = run("--quarantine", str(broken), env=down(tmp_path))

    assert code == 2
    assert "broken.xml" in err and err.count("\n") == 1


def test_quiet_still_names_the_failures_that_block(collector: CollectorProcess, tmp_path: Path) -> None:
    project = project_quarantining(collector, {"com.acme.CartTest::removesItem": "flaky"})
    report = write_report(tmp_path, removesItem="failed", emptiesCart="error")

    code, _, err = run("-q", "--quarantine", str(report), env=env_for(project, tmp_path))

    assert code == 1
    assert err == ("testrun: error: 1 of 2 failures is not quarantined:\n"
                   "testrun:   com.acme.CartTest::emptiesCart\n")


def test_many_failures_are_named_up_to_a_limit_then_counted(tmp_path: Path) -> None:
    names = {f"case{i:03d}": "failed" for i in range(MAX_NAMED + 5)}
    report = write_report(tmp_path, **names)

    code, _, err = run("-q", "--quarantine", str(report), env=down(tmp_path))

    assert code == 1
    assert err.splitlines() == [
        f"testrun: error: {MAX_NAMED + 5} failures are not quarantined:",
        *[f"testrun:   com.acme.CartTest::case{i:03d}" for i in range(MAX_NAMED)],
        "testrun:   … and 5 more",
    ]


def test_a_blocking_failure_and_a_strict_upload_failure_are_both_exit_1_and_strict_alone_is_too(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    project = project_quarantining(collector, {"com.acme.CartTest::removesItem": "flaky"})
    env = env_for(project, tmp_path, TESTRUN_RUN_ID="fixed")
    assert run(str(write_report(tmp_path, addsItem="passed")), env=env)[0] == 0
    report = write_report(tmp_path, removesItem="failed")  # other content under the same run id: a 409

    strict_code, _, strict_err = run("--strict", "--quarantine", str(report), env=env)
    lenient_code, _, _ = run("--quarantine", str(report), env=env)

    assert (strict_code, lenient_code) == (1, 0)
    assert "409" in strict_err
    assert strict_err.endswith("testrun: the failure is quarantined: it does not fail the job\n")


def test_the_token_never_appears_in_the_gate_output(collector: CollectorProcess, tmp_path: Path) -> None:
    project = new_project(collector)
    report = write_report(tmp_path, removesItem="failed")

    outputs = [*run("-v", "--quarantine", str(report), env=env_for(project, tmp_path))[1:],
               *run("-v", "--quarantine", str(report),
                    env=env_for(project, tmp_path, TESTRUN_URL=project.url + "/nowhere"))[1:]]

    assert all(project.ingest_token not in text for text in outputs)


# --- a stand-in collector, for answers a real one never gives -----------------------------------------
class Stub:
    """Answers GET /api/v1/quarantine with ``status``, ``headers`` and ``body``; remembers what it was sent."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}
        self.seen: list[dict[str, str]] = []


@pytest.fixture
def stub() -> Iterator[tuple[Stub, str]]:
    state = Stub(200, {"project": "acme/shop", "entries": []})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            data = state.body if isinstance(state.body, bytes) else json.dumps(state.body).encode()
            self.send_response(state.status)
            for name, value in {"Content-Type": "application/json", **state.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(ConnectionError):  # the client stops reading an answer too large
                self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def stub_env(url: str, tmp_path: Path) -> dict[str, str]:
    return {**GITHUB_ENV, "TESTRUN_URL": url, "TESTRUN_TOKEN": "tr_stub_token_123", "TESTRUN_RETRIES": "0",
            "TESTRUN_SPOOL_DIR": str(tmp_path / "spool")}


def entry(test_id: str, reason: str, expires_at: str | None = None) -> dict[str, Any]:
    return {"test_id": test_id, "reason": reason, "added_by": "admin", "added_at": "2026-01-01T00:00:00.000000Z",
            "expires_at": expires_at, "source": "manual"}


def test_dry_run_fetches_the_list_but_sends_no_run(stub: tuple[Stub, str], tmp_path: Path) -> None:
    state, url = stub
    state.body = {"project": "acme/shop", "entries": [entry("com.acme.CartTest::removesItem", "flaky")]}
    report = write_report(tmp_path, removesItem="failed")

    code, out, err = run("--dry-run", "--quarantine", str(report), env=stub_env(url, tmp_path))

    assert code == 0, err
    assert json.loads(out)["tests"][0]["status"] == "failed"
    assert [seen["path"] for seen in state.seen] == ["/api/v1/quarantine"]
    assert state.seen[0]["authorization"] == "Bearer tr_stub_token_123"
    assert err.endswith("testrun: the failure is quarantined: it does not fail the job\n")


def test_an_entry_past_its_expiry_does_not_count_even_when_the_answer_lists_it(
    stub: tuple[Stub, str], tmp_path: Path
) -> None:
    state, url = stub
    state.body = {"project": "acme/shop", "entries": [
        entry("com.acme.CartTest::removesItem", "flaky", expires_at="2020-01-01T00:00:00Z"),
        entry("com.acme.CartTest::emptiesCart", "flaky too", expires_at="2999-01-01T00:00:00.000000Z"),
    ]}
    report = write_report(tmp_path, removesItem="failed", emptiesCart="failed")

    code, _, err = run("-q", "--dry-run", "--quarantine", str(report), env=stub_env(url, tmp_path))

    assert code == 1
    assert err == ("testrun: error: 1 of 2 failures is not quarantined:\n"
                   "testrun:   com.acme.CartTest::removesItem\n")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"entries": [{"test_id": "com.acme.CartTest::removesItem"}]}, "entries[0].reason or .source is not text"),
        ({"entries": [entry("com.acme.CartTest::removesItem", "x", expires_at="next week")]},
         "entries[0].expires_at is not an RFC 3339 time"),
        ({"entries": {"com.acme.CartTest::removesItem": "flaky"}}, "expected a JSON object with a list of entries"),
        (["com.acme.CartTest::removesItem"], "expected a JSON object with a list of entries"),
    ],
)
def test_a_malformed_list_quarantines_nothing_and_says_why(
    stub: tuple[Stub, str], tmp_path: Path, body: Any, why: str
) -> None:
    state, url = stub
    state.body = body
    report = write_report(tmp_path, removesItem="failed")

    code, _, err = run("--dry-run", "--quarantine", str(report), env=stub_env(url, tmp_path))

    assert code == 1
    assert ("testrun: warning: the quarantine list could not be fetched, so no failure is quarantined: "
            f"the collector's answer is not a quarantine list: {why}\n") in err


def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else(stub: tuple[Stub, str], tmp_path: Path) -> None:
    state, url = stub
    state.status, state.headers, state.body = 302, {"Location": "http://elsewhere.invalid/api/v1/quarantine"}, b""
    report = write_report(tmp_path, removesItem="failed")

    code, _, err = run("--dry-run", "--quarantine", str(report), env=stub_env(url, tmp_path))

    assert code == 1
    assert len(state.seen) == 1
    assert (f"could not be fetched, so no failure is quarantined: the collector URL {url} redirects (HTTP 302) to "
            "http://elsewhere.invalid/api/v1/quarantine: set TESTRUN_URL to the final address\n") in err


def test_a_collector_without_quarantine_lists_is_said_so(stub: tuple[Stub, str], tmp_path: Path) -> None:
    state, url = stub
    state.status, state.body = 404, {"error": "not_found", "message": "no such route"}
    report = write_report(tmp_path, removesItem="failed")

    code, _, err = run("--dry-run", "--quarantine", str(report), env=stub_env(url, tmp_path))

    assert code == 1
    assert (f"no failure is quarantined: no quarantine list at {url} (HTTP 404): is the collector older than "
            "quarantine lists? check TESTRUN_URL\n") in err


def test_a_reason_cannot_move_the_terminal(stub: tuple[Stub, str], tmp_path: Path) -> None:
    state, url = stub
    state.body = {"entries": [entry("com.acme.CartTest::removesItem", "flaky\n\x1b[2Jcleared")]}
    report = write_report(tmp_path, removesItem="failed")

    code, _, err = run("--dry-run", "--quarantine", str(report), env=stub_env(url, tmp_path))

    assert code == 0
    assert "testrun: quarantined: com.acme.CartTest::removesItem (flaky [2Jcleared)\n" in err


def test_a_list_of_thousands_of_entries_over_a_mib_is_read_whole(stub: tuple[Stub, str], tmp_path: Path) -> None:
    state, url = stub
    reason = "flaky on the shared runners since the network change, see the tracking issue " * 4
    state.body = {"entries": [entry(f"com.acme.Suite{i}::test", reason) for i in range(5000)]
                  + [entry("com.acme.CartTest::removesItem", "the one that failed")]}
    assert len(json.dumps(state.body)) > 2 * MAX_ANSWER_BYTES
    report = write_report(tmp_path, removesItem="failed")

    code, _, err = run("--dry-run", "--quarantine", str(report), env=stub_env(url, tmp_path))

    assert code == 0, err
    assert "testrun: quarantined: com.acme.CartTest::removesItem (the one that failed)\n" in err


def test_an_answer_over_the_list_limit_is_not_read_and_quarantines_nothing(
    stub: tuple[Stub, str], tmp_path: Path
) -> None:
    state, url = stub
    state.body = b"[" + b" " * MAX_LIST_BYTES + b"]"
    report = write_report(tmp_path, removesItem="failed")

    code, _, err = run("--dry-run", "--quarantine", str(report), env=stub_env(url, tmp_path))

    assert code == 1
    assert (f"the last with the answer exceeded {MAX_LIST_BYTES} bytes: is TESTRUN_URL a testrun collector?\n"
            in err)
