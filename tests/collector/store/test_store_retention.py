"""Store.prune_runs on every backend: exactly the old runs go, in short batches."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from collector.errors import NotFound
from collector.model import Project, RunPayload
from collector.store.base import Store

RECEIVED_AT = "2026-03-01T00:00:00.000000Z"
CUTOFF = "2026-02-01T00:00:00.000000Z"


def day(n: int) -> str:
    return f"2026-01-{n:02d}T10:00:00.000000Z"


def seed(store: Store, project: Project, make_run: Callable[..., RunPayload], days: list[int], tests: int = 3) -> None:
    for n in days:
        store.insert_run(project, make_run(f"run-{n}", started_at=day(n), tests=tests), RECEIVED_AT)
    for n in (28, 29):
        store.insert_run(project, make_run(f"new-{n}", started_at=f"2026-02-{n - 20:02d}T10:00:00.000000Z"), RECEIVED_AT)


def run_ids(store: Store, project: Project) -> list[str]:
    return sorted(run.run_id for run in store.list_runs(project, limit=200).runs)


def test_prune_deletes_exactly_the_runs_that_started_before_the_cutoff_with_their_results(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    seed(store, project, make_run, [1, 2, 3])

    report = store.prune_runs(CUTOFF)

    assert (report.runs, report.tests, report.batches) == (3, 9, 1)
    assert run_ids(store, project) == ["new-28", "new-29"]
    with pytest.raises(NotFound):
        store.get_run(project, "run-1")
    assert len(store.get_run(project, "new-28").tests or []) == 3


def test_a_dry_run_counts_and_deletes_nothing(store: Store, project: Project, make_run: Callable[..., RunPayload]) -> None:
    seed(store, project, make_run, [1, 2])

    report = store.prune_runs(CUTOFF, dry_run=True)

    assert (report.runs, report.tests, report.batches) == (2, 6, 0)
    assert len(run_ids(store, project)) == 4


def test_prune_works_in_batches_of_about_the_given_number_of_results(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    seed(store, project, make_run, [1, 2, 3, 4, 5], tests=10)

    report = store.prune_runs(CUTOFF, batch_tests=25)

    assert (report.runs, report.tests, report.batches) == (5, 50, 3)
    assert report.longest_batch_s > 0
    assert run_ids(store, project) == ["new-28", "new-29"]


def test_prune_can_be_limited_to_one_project(store: Store, project: Project, make_run: Callable[..., Any]) -> None:
    other = store.create_project("acme", "other")
    store.insert_run(project, make_run("old-ours", started_at=day(1)), RECEIVED_AT)
    store.insert_run(other, make_run("old-theirs", started_at=day(1)), RECEIVED_AT)

    report = store.prune_runs(CUTOFF, project=other)

    assert report.runs == 1
    assert run_ids(store, project) == ["old-ours"]
    assert run_ids(store, other) == []


def test_a_run_id_freed_by_pruning_can_be_stored_again(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    store.insert_run(project, make_run("reused", started_at=day(1)), RECEIVED_AT)
    store.prune_runs(CUTOFF)

    outcome = store.insert_run(project, make_run("reused", started_at=day(2)), RECEIVED_AT)

    assert outcome.outcome == "created"
