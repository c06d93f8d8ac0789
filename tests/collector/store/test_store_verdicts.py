"""The verdict of a run, worked out at ingest from the project's history, on both backends."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from collector.model import Counts, Project, RunPayload, TestResult
from collector.store.base import Store

A, B, C = "tests/test_app.py::test_a", "tests/test_app.py::test_b", "tests/test_app.py::test_c"


def at(day: int) -> str:
    return f"2026-12-{day:02d}T10:00:00.000000Z"



class History:
    """Runs sent to one project in order, one per call, each on a commit of its own unless told."""

    def __init__(self, store: Store, project: Project) -> None:
        self.store = store
        self.project = project
        self.sent = 0

    def run(
        self,
        results: dict[str, str],
        *,
        branch: str = "main",
        commit: str | None = None,
        day: int = 5,
        dirty: bool = False,
        run_id: str | None = None,
        messages: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send a run of ``{test_id: status}``; return its verdict as the store answers it."""
        self.sent += 1
        tests = [
            TestResult(test_id, test_id.split("::")[-1], None, "tests/test_app.py", 1, status, 1.0, 1, False,
                       (messages or {}).get(test_id, f"{status}: {test_id}"), None)
            for test_id, status in results.items()
        ]
        by_status = Counter(test.status for test in tests)
        vcs: dict[str, Any] = {"commit": commit or f"c{self.sent}", "branch": branch}
        if dirty:
            vcs["dirty"] = True
        payload = RunPayload(
            run_id=run_id or f"run-{self.sent}",
            status="failed" if by_status["failed"] or by_status["error"] else "passed",
            started_at=at(day),
            duration_ms=10.0,
            ci={"provider": "github"},
            vcs=vcs,
            reporter={"name": "test"},
            tests=tests,
            counts=Counts(total=len(tests), **{s: by_status[s] for s in ("passed", "failed", "error", "skipped")}),
            digest=f"{self.sent:064x}",
        )
        outcome = self.store.insert_run(self.project, payload, at(day))
        assert outcome.outcome == "created"
        assert outcome.run.verdict is not None
        return outcome.run.verdict


@pytest.fixture
def history(store: Store, project: Project) -> History:
    return History(store, project)


def classes(verdict: dict[str, Any]) -> dict[str, str]:
    return {item["test_id"]: item["class"] for item in verdict["tests"]}


def test_a_test_that_passed_on_main_and_fails_on_a_branch_is_a_regression(history: History) -> None:
    history.run({A: "passed", B: "passed"})

    verdict = history.run({A: "failed", B: "passed"}, branch="feature")

    assert classes(verdict) == {A: "regression"}
    assert verdict["failures"] == 1 and verdict["blocking"] == 1 and verdict["truncated"] is False
    assert verdict["classes"] == {"regression": 1, "new_test": 0, "failing_on_default": 0, "flaky": 0, "quarantined": 0}
    assert verdict["default_branch"] == "main"
    assert verdict["tests"][0]["message"] == f"failed: {A}"


def test_a_test_failing_on_main_for_three_runs_is_failing_on_default_since_the_first_of_them(history: History) -> None:
    history.run({A: "passed"}, run_id="green", day=1)
    for day, run_id in ((2, "red-1"), (3, "red-2"), (4, "red-3")):
        history.run({A: "failed"}, run_id=run_id, day=day)

    verdict = history.run({A: "failed"}, branch="feature", day=5)

    assert classes(verdict) == {A: "failing_on_default"}
    assert verdict["tests"][0]["since"] == {"run_id": "red-1", "started_at": at(2), "commit": "c2"}


def test_a_test_a_branch_broke_but_main_did_not_stays_a_regression_on_the_next_branch_run(history: History) -> None:
    history.run({A: "passed"})
    history.run({A: "failed"}, branch="feature")

    verdict = history.run({A: "failed"}, branch="feature")

    assert classes(verdict) == {A: "regression"}


def test_a_test_that_passed_and_failed_on_one_commit_in_the_last_14_days_is_flaky(history: History) -> None:
    history.run({A: "passed", B: "passed"})
    history.run({A: "failed", B: "passed"}, branch="pr-1", commit="wobbly", day=2)
    history.run({A: "passed", B: "passed"}, branch="pr-1", commit="wobbly", day=2)

    verdict = history.run({A: "failed", B: "failed"}, branch="pr-2", day=5)

    assert classes(verdict) == {B: "regression", A: "flaky"}


@pytest.mark.parametrize(("day", "expected"), [(14, "flaky"), (15, "regression")])
def test_a_flake_counts_for_14_days_the_day_of_the_run_included(history: History, day: int, expected: str) -> None:
    history.run({A: "passed"}, day=1)
    history.run({A: "failed"}, branch="pr-1", commit="wobbly", day=1)
    history.run({A: "passed"}, branch="pr-1", commit="wobbly", day=1)

    verdict = history.run({A: "failed"}, branch="pr-2", day=day)

    assert classes(verdict) == {A: expected}


def test_a_failure_that_passed_in_another_run_on_its_commit_is_flaky_at_once(history: History) -> None:
    history.run({A: "passed"})
    history.run({A: "passed"}, branch="pr-1", commit="same")

    verdict = history.run({A: "failed"}, branch="pr-1", commit="same")

    assert classes(verdict) == {A: "flaky"}


def test_a_test_never_seen_on_main_is_a_new_test(history: History) -> None:
    history.run({A: "passed"})
    history.run({B: "passed"}, branch="feature")

    verdict = history.run({A: "passed", B: "failed", C: "error"}, branch="feature")

    assert classes(verdict) == {B: "new_test", C: "new_test"}
    assert verdict["tests"][1]["status"] == "error"


def test_a_run_on_main_is_judged_against_mains_previous_runs(history: History) -> None:
    history.run({A: "passed", B: "failed"}, run_id="before")

    verdict = history.run({A: "failed", B: "failed", C: "failed"}, run_id="on-main")

    assert classes(verdict) == {A: "regression", C: "new_test", B: "failing_on_default"}
    assert verdict["tests"][2]["since"]["run_id"] == "before"


def test_a_pass_on_main_ends_the_failing_streak_and_a_later_failure_starts_a_new_one(history: History) -> None:
    history.run({A: "failed"}, run_id="old-red")
    history.run({A: "passed"})
    history.run({A: "failed"}, run_id="new-red")

    verdict = history.run({A: "failed"}, branch="feature")

    assert verdict["tests"][0]["since"]["run_id"] == "new-red"


def test_runs_of_a_dirty_working_tree_do_not_change_what_main_is_known_for(history: History) -> None:
    history.run({A: "passed"})
    history.run({A: "failed"}, dirty=True)

    verdict = history.run({A: "failed"}, branch="feature")

    assert classes(verdict) == {A: "regression"}


def test_the_default_branch_is_the_projects_own(store: Store, history: History) -> None:
    trunk = store.create_project("acme", "trunk-based", default_branch="trunk")
    on_trunk = History(store, trunk)
    on_trunk.run({A: "failed"}, branch="main")
    on_trunk.run({A: "passed"}, branch="trunk")

    verdict = on_trunk.run({A: "failed"}, branch="feature")

    assert classes(verdict) == {A: "regression"} and verdict["default_branch"] == "trunk"
    assert store.get_project("acme", "trunk-based").default_branch == "trunk"


def test_changing_the_default_branch_rebuilds_its_streaks_from_the_stored_runs(
    store: Store, project: Project, history: History
) -> None:
    history.run({A: "failed", B: "passed"}, branch="develop", run_id="dev-1")
    history.run({A: "failed", B: "failed"}, branch="develop", run_id="dev-2")
    history.run({A: "passed", B: "passed"}, branch="main")

    changed = store.set_default_branch(project, "develop")
    history.project = changed
    verdict = history.run({A: "failed", B: "failed", C: "failed"}, branch="feature")

    assert changed.default_branch == "develop"
    assert classes(verdict) == {C: "new_test", A: "failing_on_default", B: "failing_on_default"}
    assert {item["test_id"]: item["since"]["run_id"] for item in verdict["tests"] if "since" in item} == {
        A: "dev-1", B: "dev-2"
    }


def test_the_rebuilt_streaks_equal_those_kept_run_by_run(store: Store, project: Project, history: History) -> None:
    history.run({A: "failed", B: "passed", C: "failed"}, day=1)
    history.run({A: "failed", B: "failed", C: "passed"}, day=2)
    history.run({A: "failed", B: "failed"}, day=3, dirty=True)
    history.run({B: "error", C: "failed"}, day=4)
    kept = history.run({A: "failed", B: "failed", C: "failed"}, branch="x")

    history.project = store.set_default_branch(project, "main")
    rebuilt = history.run({A: "failed", B: "failed", C: "failed"}, branch="y")

    assert kept["tests"] == rebuilt["tests"]


def test_a_duplicate_answers_the_verdict_stored_at_first_ingest_even_after_history_changed(
    store: Store, project: Project, history: History
) -> None:
    history.run({A: "passed"})
    first = history.run({A: "failed"}, branch="feature", run_id="the-run")
    history.run({A: "failed"})  # main breaks too: a verdict worked out now would say failing_on_default
    again = store.get_run(project, "the-run")

    assert again.verdict == first and classes(first) == {A: "regression"}


def test_1500_failures_list_1000_and_count_every_one(history: History) -> None:
    many = {f"tests/test_big.py::test_{i}": "failed" for i in range(1500)}
    history.run({test_id: "passed" for test_id in list(many)[:600]})

    verdict = history.run(many, branch="feature")

    assert verdict["failures"] == 1500 and verdict["blocking"] == 1500
    assert verdict["classes"]["regression"] == 600 and verdict["classes"]["new_test"] == 900
    assert len(verdict["tests"]) == 1000 and verdict["truncated"] is True
    assert Counter(item["class"] for item in verdict["tests"]) == {"regression": 600, "new_test": 400}


def test_a_run_without_failures_has_a_verdict_of_none(history: History) -> None:
    verdict = history.run({A: "passed", B: "skipped"})

    assert verdict["failures"] == 0 and verdict["tests"] == [] and verdict["truncated"] is False
