"""The spool on disk, and re-sending it to a scripted server (and to a real collector at the end)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from collector_harness import ProjectAccess, a_run
from flaky_server import FlakyServer, a_payload, dropped, error, lost_answer

from junit_uploader.client import CollectorClient, RetryPolicy
from junit_uploader.errors import Rejected, Unreachable
from junit_uploader.spool import ResendReport, resend_spooled, spool_run, spooled_runs

TOKEN = "trk_3f9a1c_Zq8Lw2Vn7Xr4Tb6Ym1Kp5Hd9Gs3Jf0_c0ffee"


@pytest.fixture
def server() -> Iterator[FlakyServer]:
    with FlakyServer() as running:
        yield running


def client(url: str, attempts: int = 2) -> CollectorClient:
    """A client that never really sleeps, so an unreachable collector costs no time."""
    return CollectorClient(
        url, TOKEN, policy=RetryPolicy(attempts=attempts), sleep=lambda _: None, rng=random.Random(1)
    )


def names(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


# --- writing and listing ------------------------------------------------------------------------------------------


def test_a_run_is_spooled_as_exactly_its_payload_in_a_file_named_after_a_hash_of_its_run_id(tmp_path: Path) -> None:
    payload = a_payload("github:octo/app:1:1:test:secret-label")

    path = spool_run(tmp_path, payload, "github:octo/app:1:1:test:secret-label")

    digest = hashlib.sha256(b"github:octo/app:1:1:test:secret-label").hexdigest()
    assert path == tmp_path / f"run-{digest[:24]}.json"
    assert path.read_bytes() == payload
    assert "secret" not in path.name


def test_a_spooled_run_is_readable_and_writable_by_its_owner_only(tmp_path: Path) -> None:
    path = spool_run(tmp_path, a_payload(), "r1")

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_spooling_creates_the_directory_with_its_parents(tmp_path: Path) -> None:
    spool_dir = tmp_path / "a" / "b" / "spool"

    path = spool_run(spool_dir, a_payload(), "r1")

    assert path.parent == spool_dir
    assert spooled_runs(spool_dir) == [path]


def test_spooling_the_same_run_again_replaces_its_file(tmp_path: Path) -> None:
    first = spool_run(tmp_path, b'{"v": 1}', "r1")
    second = spool_run(tmp_path, b'{"v": 2}', "r1")

    assert first == second
    assert spooled_runs(tmp_path) == [second]
    assert second.read_bytes() == b'{"v": 2}'


def test_a_write_that_fails_halfway_leaves_the_previous_file_whole_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = spool_run(tmp_path, b'{"v": 1}', "r1")

    def broken_replace(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        spool_run(tmp_path, b'{"v": 2}', "r1")

    assert path.read_bytes() == b'{"v": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_spooled_runs_are_listed_oldest_first_without_temporary_or_set_aside_files(tmp_path: Path) -> None:
    new = spool_run(tmp_path, b"{}", "new")
    old = spool_run(tmp_path, b"{}", "old")
    os.utime(old, ns=(1_000_000_000, 1_000_000_000))
    (tmp_path / ".run-abc.tmp").write_bytes(b"{")
    (tmp_path / "rejected").mkdir()
    (tmp_path / "rejected" / "run-0.json").write_bytes(b"{}")
    (tmp_path / "notes.txt").write_text("x")

    assert spooled_runs(tmp_path) == [old, new]


def test_a_missing_spool_directory_holds_no_runs(tmp_path: Path) -> None:
    assert spooled_runs(tmp_path / "nowhere") == []


# --- re-sending ---------------------------------------------------------------------------------------------------


def test_resend_removes_runs_the_collector_stored_now_or_had_stored_before(server: FlakyServer, tmp_path: Path) -> None:
    stored_before, new = a_payload("run-a"), a_payload("run-b")
    client(server.url).post_run(stored_before)
    spool_run(tmp_path, stored_before, "run-a")
    spool_run(tmp_path, new, "run-b")

    report = resend_spooled(client(server.url), tmp_path)

    assert sorted((a.run_id, a.status, a.duplicate) for _, a in report.sent) == [
        ("run-a", 200, True),
        ("run-b", 201, False),
    ]
    assert (report.rejected, report.failed) == ([], [])
    assert spooled_runs(tmp_path) == []
    assert sorted(request.body for request in server.requests[1:]) == sorted([stored_before, new])


def test_resend_sends_each_files_exact_bytes(server: FlakyServer, tmp_path: Path) -> None:
    payload = a_payload("run-a", tests=300)
    spool_run(tmp_path, payload, "run-a")

    resend_spooled(client(server.url), tmp_path)

    assert server.requests[0].payload == payload


def test_resend_moves_a_run_the_collector_refused_to_the_rejected_directory_and_never_retries_it(
    server: FlakyServer, tmp_path: Path
) -> None:
    refused = spool_run(tmp_path, a_payload("run-a"), "run-a")
    spool_run(tmp_path, a_payload("run-b"), "run-b")
    os.utime(refused, ns=(1_000_000_000, 1_000_000_000))
    server.fail_first(error(400, message="1 invalid field(s): tests[0].status"))

    report = resend_spooled(client(server.url), tmp_path)
    again = resend_spooled(client(server.url), tmp_path)

    [(moved, rejected)] = report.rejected
    assert moved == tmp_path / "rejected" / refused.name
    assert moved.read_bytes() == a_payload("run-a")
    assert rejected.status == 400
    assert [a.run_id for _, a in report.sent] == ["run-b"]
    assert again == ResendReport()
    assert len(server.requests) == 2


def test_resend_keeps_a_run_the_collector_could_not_be_reached_for_and_the_rest_untried(
    server: FlakyServer, tmp_path: Path
) -> None:
    first = spool_run(tmp_path, a_payload("run-a"), "run-a")
    second = spool_run(tmp_path, a_payload("run-b"), "run-b")
    os.utime(first, ns=(1_000_000_000, 1_000_000_000))
    server.always(error(503))

    report = resend_spooled(client(server.url, attempts=2), tmp_path)

    assert [(path, type(err)) for path, err in report.failed] == [(first, Unreachable), (second, Unreachable)]
    assert str(report.failed[1][1]).startswith(f"not tried after {first.name} failed: could not deliver the run")
    assert len(server.requests) == 2
    assert spooled_runs(tmp_path) == [first, second]


@pytest.mark.parametrize("status", [401, 403, 404])
def test_resend_keeps_every_run_when_the_token_or_url_is_refused(
    server: FlakyServer, tmp_path: Path, status: int
) -> None:
    spool_run(tmp_path, a_payload("run-a"), "run-a")
    spool_run(tmp_path, a_payload("run-b"), "run-b")
    server.always(error(status))

    report = resend_spooled(client(server.url), tmp_path)

    assert [err.status for _, err in report.failed if isinstance(err, Rejected)] == [status, status]
    assert report.rejected == []
    assert len(spooled_runs(tmp_path)) == 2
    assert not (tmp_path / "rejected").exists()
    assert len(server.requests) == 1


def test_a_resend_after_the_collector_recovers_stores_the_run_exactly_once(server: FlakyServer, tmp_path: Path) -> None:
    payload = a_payload("run-a")
    server.fail_first(lost_answer()).always(dropped())
    with pytest.raises(Unreachable):
        client(server.url, attempts=3).post_run(payload)
    spool_run(tmp_path, payload, "run-a")

    server.recover()
    report = resend_spooled(client(server.url), tmp_path)

    [(_, accepted)] = report.sent
    assert (accepted.status, accepted.duplicate) == (200, True)
    assert server.stored == {"run-a": payload}
    assert spooled_runs(tmp_path) == []


def test_a_resend_to_a_collector_that_was_down_stores_the_run_once(server: FlakyServer, tmp_path: Path) -> None:
    payload = a_payload("run-a")
    server.always(error(503))
    with pytest.raises(Unreachable):
        client(server.url).post_run(payload)
    spool_run(tmp_path, payload, "run-a")

    server.recover()
    first, second = resend_spooled(client(server.url), tmp_path), resend_spooled(client(server.url), tmp_path)

    assert [a.status for _, a in first.sent] == [201]
    assert second == ResendReport()
    assert server.stored == {"run-a": payload}


def test_a_real_collector_stores_a_spooled_run_once_though_its_first_answer_was_lost(
    project: ProjectAccess, tmp_path: Path
) -> None:
    payload = json.dumps(a_run()).encode()
    assert project.post_run(json.loads(payload)).status_code == 201
    spool_run(tmp_path, payload, a_run()["run_id"])

    report = resend_spooled(CollectorClient(project.url, project.ingest_token), tmp_path)

    [(_, accepted)] = report.sent
    assert (accepted.status, accepted.duplicate) == (200, True)
    assert len(project.get("/api/v1/runs").json()["runs"]) == 1
    assert spooled_runs(tmp_path) == []
