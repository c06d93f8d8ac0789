"""Runs sent in batches (uploads), on both backends: the same run as one POST, unseen until complete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from collector.analytics import Analytics
from collector.errors import Invalid, NotFound, UploadConflict
from collector.model import Project, RunPayload, TestResult
from collector.store.base import Store
from collector.validation import BATCH_MAX_TESTS, canonical_digest

NOW = "2026-01-12T10:05:00.000000Z"
LATER = "2026-01-12T11:00:00.000000Z"


def header_of(run: RunPayload) -> RunPayload:
    return replace(run, tests=[], status=None)  # type: ignore[arg-type]


def upload(store: Store, project: Project, run: RunPayload, sizes: list[int], now: str = NOW) -> str:
    """Open an upload and send the run's first tests in batches of ``sizes``; its id (not completed)."""
    upload_id = store.open_upload(project, now)
    start = 0
    for seq, size in enumerate(sizes):
        assert store.add_batch(project, upload_id, seq, run.tests[start : start + size]) == "created"
        start += size
    return upload_id


@pytest.fixture
def run(make_run: Callable[..., RunPayload], make_test: Callable[..., TestResult]) -> RunPayload:
    tests = [make_test(i, ("passed", "failed", "skipped", "passed")[i % 4], message="boom" if i % 4 == 1 else None)
             for i in range(25)]
    whole = make_run("github:acme/app:7:1:test:pytest", tests=tests)
    whole.digest = canonical_digest(whole)  # as validation makes it, so the two ways of sending compare
    return whole


def test_a_run_sent_in_batches_is_stored_as_the_same_run_sent_whole(
    store: Store, project: Project, run: RunPayload
) -> None:
    upload_id = upload(store, project, run, [10, 10, 5])

    outcome = store.complete_upload(project, upload_id, header_of(run), 3, now=NOW, max_tests=100)
    stored = store.get_run(project, run.run_id)
    again = store.insert_run(project, run, LATER)  # the same run, sent whole: a retry

    assert outcome.outcome == "created"
    assert stored.tests == run.tests and stored.counts == run.counts and stored.status == run.status == "failed"
    assert stored.digest == run.digest
    assert outcome.run.verdict is not None and outcome.run.verdict["failures"] == run.counts.failed
    assert again.outcome == "duplicate"


def test_an_upload_is_seen_nowhere_until_it_is_complete(store: Store, project: Project, run: RunPayload) -> None:
    upload_id = upload(store, project, run, [25])
    analytics = Analytics(store)

    assert store.list_runs(project, limit=10).runs == []
    with pytest.raises(NotFound):
        store.get_run(project, run.run_id)
    assert analytics.history(project, run.tests[0].id, limit=10).entries == []

    store.complete_upload(project, upload_id, header_of(run), 1, now=NOW, max_tests=100)
    assert [r.run_id for r in store.list_runs(project, limit=10).runs] == [run.run_id]
    assert len(analytics.history(project, run.tests[0].id, limit=10).entries) == 1


def test_a_batch_sent_again_is_a_duplicate_and_other_tests_under_its_number_a_conflict(
    store: Store, project: Project, run: RunPayload
) -> None:
    upload_id = upload(store, project, run, [10, 15])

    assert store.add_batch(project, upload_id, 0, run.tests[:10]) == "duplicate"
    with pytest.raises(UploadConflict, match="batch 1 of upload .* holds other tests"):
        store.add_batch(project, upload_id, 1, run.tests[:3])


def test_a_test_id_sent_in_an_earlier_batch_is_refused_naming_the_problem(
    store: Store, project: Project, run: RunPayload
) -> None:
    upload_id = upload(store, project, run, [10, 15])

    with pytest.raises(Invalid) as refused:
        store.add_batch(project, upload_id, 2, run.tests[:1])
    assert refused.value.errors[0]["message"] == "repeats a test id sent in an earlier batch of this upload"
    store.complete_upload(project, upload_id, header_of(run), 2, now=NOW, max_tests=100)
    assert store.get_run(project, run.run_id).counts.total == 25


def test_completing_with_a_batch_missing_is_a_conflict_that_changes_nothing(
    store: Store, project: Project, run: RunPayload
) -> None:
    upload_id = upload(store, project, run, [10])

    with pytest.raises(UploadConflict, match=r"missing batches \[1, 2\]"):
        store.complete_upload(project, upload_id, header_of(run), 3, now=NOW, max_tests=100)
    assert store.add_batch(project, upload_id, 1, run.tests[10:20]) == "created"
    assert store.add_batch(project, upload_id, 2, run.tests[20:]) == "created"
    assert store.complete_upload(project, upload_id, header_of(run), 3, now=NOW, max_tests=100).outcome == "created"


def test_a_completion_sent_again_is_a_duplicate_and_the_upload_takes_no_more_batches(
    store: Store, project: Project, run: RunPayload
) -> None:
    upload_id = upload(store, project, run, [25])
    first = store.complete_upload(project, upload_id, header_of(run), 1, now=NOW, max_tests=100)

    again = store.complete_upload(project, upload_id, header_of(run), 1, now=LATER, max_tests=100)

    assert again.outcome == "duplicate" and again.run.digest == first.run.digest
    assert again.run.verdict == first.run.verdict
    with pytest.raises(UploadConflict, match="is complete"):
        store.add_batch(project, upload_id, 1, [])


def test_an_upload_of_a_run_id_already_stored_is_a_duplicate_or_a_conflict_and_leaves_no_trace(
    store: Store, project: Project, run: RunPayload, make_test: Callable[..., TestResult]
) -> None:
    store.insert_run(project, run, NOW)
    same = upload(store, project, run, [25])
    other = replace(run, tests=[*run.tests[:-1], make_test(99)])
    other.digest = canonical_digest(other)
    different = upload(store, project, other, [25])

    assert store.complete_upload(project, same, header_of(run), 1, now=LATER, max_tests=100).outcome == "duplicate"
    assert store.complete_upload(project, different, header_of(other), 1, now=LATER, max_tests=100).outcome == "conflict"
    assert [r.run_id for r in store.list_runs(project, limit=10).runs] == [run.run_id]
    assert store.get_run(project, run.run_id).tests == run.tests
    with pytest.raises(NotFound):
        store.add_batch(project, same, 1, [])


def test_another_projects_upload_is_not_found(store: Store, project: Project, run: RunPayload) -> None:
    upload_id = upload(store, project, run, [25])
    other = store.create_project("acme", "other")

    with pytest.raises(NotFound):
        store.add_batch(other, upload_id, 1, [])
    with pytest.raises(NotFound):
        store.complete_upload(other, upload_id, header_of(run), 1, now=NOW, max_tests=100)


def test_too_many_tests_in_all_batches_is_refused_at_completion(store: Store, project: Project, run: RunPayload) -> None:
    upload_id = upload(store, project, run, [25])

    with pytest.raises(Invalid, match="tests"):
        store.complete_upload(project, upload_id, header_of(run), 1, now=NOW, max_tests=20)


def test_an_upload_left_open_a_day_is_deleted_when_the_project_opens_another(
    store: Store, project: Project, run: RunPayload
) -> None:
    stale = upload(store, project, run, [25], now="2026-01-10T10:00:00.000000Z")

    store.open_upload(project, NOW)

    with pytest.raises(NotFound):
        store.add_batch(project, stale, 1, [])


def test_batches_read_back_in_the_order_sent(store: Store, project: Project, run: RunPayload) -> None:
    upload_id = upload(store, project, run, [1, 24])

    store.complete_upload(project, upload_id, header_of(run), 2, now=NOW, max_tests=100)

    assert [t.id for t in store.get_run(project, run.run_id).tests or []] == [t.id for t in run.tests]
    assert BATCH_MAX_TESTS == 10_000


def test_pruning_an_old_open_upload_keeps_the_rollups_of_the_stored_runs_exact(
    store: Store, project: Project, run: RunPayload, make_run: Callable[..., RunPayload]
) -> None:
    analytics = Analytics(store)
    store.insert_run(project, make_run("kept", tests=run.tests, started_at="2026-01-12T10:00:00.000000Z"), NOW)
    before = analytics.failing(project, analytics.window(days=3650))
    stale = upload(store, project, run, [25], now="2026-01-12T08:00:00.000000Z")  # the same tests, never completed

    report = store.prune_runs("2026-01-12T09:00:00.000000Z")

    assert report.runs == 1
    assert analytics.failing(project, analytics.window(days=3650)) == before
    with pytest.raises(NotFound):
        store.add_batch(project, stale, 1, [])
