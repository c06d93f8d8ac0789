"""Each project's quarantine list, its audit trail and automatic quarantine, on both backends."""

from __future__ import annotations

import pytest

from collector.errors import NotFound
from collector.model import Project
from collector.store.base import Store
from collector.store.quarantine import AUTO_RELEASE_PASSES
from test_store_verdicts import A, B, History, at, classes

NOW = at(5)


@pytest.fixture
def history(store: Store, project: Project) -> History:
    return History(store, project)


def trail(store: Store, project: Project, test_id: str, now: str = NOW) -> list[tuple[str, str, str]]:
    return [(event.action, event.source, event.actor) for event in store.quarantine_trail(project, test_id, now)]


def test_an_added_test_is_listed_with_its_reason_who_when_and_source_until_released(
    store: Store, project: Project
) -> None:
    store.quarantine_add(project, A, reason="tracked in #12", actor="admin", expires_at=None, now=at(1))

    [entry] = store.quarantine_list(project, NOW)
    released = store.quarantine_release(project, A, actor="ci-triage", now=at(2))

    assert (entry.test_id, entry.reason, entry.added_by, entry.added_at, entry.expires_at, entry.source) == (
        A, "tracked in #12", "admin", at(1), None, "manual"
    )
    assert released == entry
    assert store.quarantine_list(project, NOW) == []
    assert trail(store, project, A) == [("add", "manual", "admin"), ("release", "manual", "ci-triage")]


def test_releasing_a_test_that_is_not_on_the_list_is_not_found(store: Store, project: Project) -> None:
    with pytest.raises(NotFound, match=f"test '{A}' is not quarantined in acme/app"):
        store.quarantine_release(project, A, actor="admin", now=NOW)


def test_another_projects_list_is_its_own(store: Store, project: Project) -> None:
    other = store.create_project("acme", "other")
    store.quarantine_add(project, A, reason="r", actor="admin", expires_at=None, now=NOW)

    assert store.quarantine_list(other, NOW) == []
    with pytest.raises(NotFound):
        store.quarantine_release(other, A, actor="admin", now=NOW)
    assert [e.test_id for e in store.quarantine_list(project, NOW)] == [A]


def test_an_entry_stops_counting_at_its_expiry_and_the_trail_says_when(store: Store, project: Project) -> None:
    store.quarantine_add(project, A, reason="until the fix lands", actor="admin", expires_at=at(3), now=at(1))

    assert [e.test_id for e in store.quarantine_list(project, at(2))] == [A]
    assert store.quarantine_list(project, at(3)) == []
    assert trail(store, project, A, now=at(4)) == [("add", "manual", "admin"), ("expire", "manual", "expiry")]
    assert store.quarantine_trail(project, A, at(4))[-1].at == at(3)

    store.quarantine_add(project, A, reason="again", actor="admin", expires_at=None, now=at(6))
    assert trail(store, project, A, now=at(7)) == [
        ("add", "manual", "admin"), ("expire", "manual", "expiry"), ("add", "manual", "admin")
    ]


def test_a_quarantined_failure_is_classed_quarantined_with_its_reason_and_does_not_block(
    store: Store, project: Project, history: History
) -> None:
    history.run({A: "passed", B: "passed"}, day=1)
    store.quarantine_add(project, A, reason="known flake, #12", actor="admin", expires_at=None, now=at(2))

    verdict = history.run({A: "failed", B: "failed"}, branch="feature", day=3)

    assert classes(verdict) == {A: "quarantined", B: "regression"}
    assert verdict["failures"] == 2 and verdict["blocking"] == 1 and verdict["quarantined"] == 1
    assert verdict["tests"][-1]["reason"] == "known flake, #12"


def test_an_expired_entry_no_longer_quarantines_a_failure(store: Store, project: Project, history: History) -> None:
    history.run({A: "passed"}, day=1)
    store.quarantine_add(project, A, reason="short", actor="admin", expires_at=at(2), now=at(1))

    verdict = history.run({A: "failed"}, branch="feature", day=3)

    assert classes(verdict) == {A: "regression"}
    assert ("expire", "manual", "expiry") in trail(store, project, A)  # written down by that ingest


def flaky_on(history: History, test_id: str, commits: list[str], day: int) -> None:
    for commit in commits:
        history.run({test_id: "failed"}, branch="pr", commit=commit, day=day)
        history.run({test_id: "passed"}, branch="pr", commit=commit, day=day)


def test_automatic_quarantine_is_off_by_default(store: Store, project: Project, history: History) -> None:
    flaky_on(history, A, ["f1", "f2", "f3"], day=2)

    assert store.quarantine_list(project, NOW) == []


def test_a_test_flaky_on_two_commits_is_quarantined_automatically_saying_why(
    store: Store, project: Project, history: History
) -> None:
    history.project = store.set_auto_quarantine(project, True)
    flaky_on(history, A, ["f1"], day=2)
    assert store.quarantine_list(project, NOW) == []

    flaky_on(history, A, ["f2"], day=3)

    [entry] = store.quarantine_list(project, NOW)
    assert (entry.test_id, entry.source, entry.added_by) == (A, "auto", "auto")
    assert entry.reason == "flaky on 2 commits in the last 14 days (f1, f2)"
    assert trail(store, project, A) == [("add", "auto", "auto")]


def test_an_automatic_entry_is_released_after_20_passes_in_a_row_on_main_and_a_failure_restarts_the_count(
    store: Store, project: Project, history: History
) -> None:
    history.project = store.set_auto_quarantine(project, True)
    flaky_on(history, A, ["f1", "f2"], day=2)
    for _ in range(AUTO_RELEASE_PASSES - 1):
        history.run({A: "passed"}, day=3)
    history.run({A: "failed"}, day=3)
    for _ in range(AUTO_RELEASE_PASSES - 1):
        history.run({A: "passed"}, day=4)
    history.run({A: "passed"}, branch="feature", day=4)  # not the default branch: does not count
    history.run({A: "passed"}, day=4, dirty=True)  # not the branch's code: does not count
    assert [e.test_id for e in store.quarantine_list(project, NOW)] == [A]

    history.run({A: "passed"}, day=4)

    assert store.quarantine_list(project, NOW) == []
    events = store.quarantine_trail(project, A, NOW)
    assert [(e.action, e.source) for e in events] == [("add", "auto"), ("release", "auto")]
    assert events[-1].reason == "passed 20 times in a row on main"


def test_after_an_automatic_release_only_new_flakes_quarantine_the_test_again(
    store: Store, project: Project, history: History
) -> None:
    history.project = store.set_auto_quarantine(project, True)
    flaky_on(history, A, ["f1", "f2"], day=2)
    for _ in range(AUTO_RELEASE_PASSES):
        history.run({A: "passed"}, day=3)
    assert store.quarantine_list(project, NOW) == []

    history.run({A: "failed"}, branch="pr-9", day=4)  # a failure: the old flaky commits are still in the window
    assert store.quarantine_list(project, at(4)) == []
    flaky_on(history, A, ["f3", "f4"], day=5)

    [entry] = store.quarantine_list(project, at(5))
    assert entry.reason == "flaky on 2 commits in the last 14 days (f3, f4)"


def test_a_manual_entry_is_never_released_automatically(store: Store, project: Project, history: History) -> None:
    history.project = store.set_auto_quarantine(project, True)
    store.quarantine_add(project, A, reason="quarantined by hand", actor="admin", expires_at=None, now=at(1))

    for _ in range(AUTO_RELEASE_PASSES + 5):
        history.run({A: "passed"}, day=2)

    assert [(e.test_id, e.source) for e in store.quarantine_list(project, NOW)] == [(A, "manual")]


def test_the_project_setting_is_stored_and_read_back(store: Store, project: Project) -> None:
    assert project.auto_quarantine is False

    on = store.set_auto_quarantine(project, True)
    off = store.set_auto_quarantine(on, False)

    assert on.auto_quarantine is True and off.auto_quarantine is False
    assert store.get_project("acme", "app").auto_quarantine is False
