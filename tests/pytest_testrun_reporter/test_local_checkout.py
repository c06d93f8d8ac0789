"""A local pytest run in a git checkout reports that checkout's commit and branch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from collector_harness import CollectorProcess, new_project
from git_checkout import Checkout


def test_a_local_run_in_a_checkout_reports_its_commit_and_branch(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    checkout = Checkout(pytester.path, branch="feature/login")
    commit = checkout.commit({"test_cart.py": "def test_adds():\n    pass\n"})

    result, payload = payload_of()

    result.assert_outcomes(passed=1)
    assert payload["vcs"] == {"commit": commit, "branch": "feature/login", "dirty": False}
    assert payload["run_id"].startswith("local:")


def test_a_local_run_with_changed_tracked_files_is_marked_dirty(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    checkout = Checkout(pytester.path)
    commit = checkout.commit({"test_cart.py": "def test_adds():\n    pass\n"})
    (pytester.path / "test_cart.py").write_text("def test_adds():\n    assert 1\n", encoding="utf-8")

    _, payload = payload_of()

    assert payload["vcs"] == {"commit": commit, "branch": "main", "dirty": True}


def test_a_run_outside_any_checkout_has_no_vcs(
    pytester: pytest.Pytester, payload_of: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(pytester.path.parent))
    pytester.makepyfile(test_cart="def test_adds(): pass")

    result, payload = payload_of()

    result.assert_outcomes(passed=1)
    assert payload["vcs"] == {}


def test_overrides_name_the_commit_and_branch_of_a_ci_that_is_not_known(
    pytester: pytest.Pytester, payload_of: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    Checkout(pytester.path).commit({"test_cart.py": "def test_adds():\n    pass\n"})
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("TESTRUN_COMMIT", "0123abcd")
    monkeypatch.setenv("TESTRUN_BRANCH", "release/2.0")

    _, payload = payload_of()

    assert payload["vcs"] == {"commit": "0123abcd", "branch": "release/2.0"}
    assert payload["ci"]["provider"] == "ci"


def test_the_collector_lists_a_local_run_under_its_branch(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, collector: CollectorProcess
) -> None:
    project = new_project(collector)
    monkeypatch.setenv("TESTRUN_URL", project.url)
    monkeypatch.setenv("TESTRUN_TOKEN", project.ingest_token)
    checkout = Checkout(pytester.path, branch="feature/login")
    commit = checkout.commit({"test_cart.py": "def test_adds():\n    pass\n"})

    result = pytester.runpytest("--testrun-report")

    result.stdout.fnmatch_lines(["testrun: 1 result → run local:*(201 created)"])
    runs = project.get("/api/v1/runs", params={"branch": "feature/login"}).json()["runs"]
    assert [run["vcs"] for run in runs] == [{"commit": commit, "branch": "feature/login", "dirty": False}]
