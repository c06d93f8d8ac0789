"""The commit and branch of a run that no CI describes, read from real git checkouts; and the overrides."""

from __future__ import annotations

import io
import json
import os
import re
import stat
from pathlib import Path

import pytest
from git_checkout import Checkout

from junit_uploader.ci import GitState, detect_ci, make_run_id, read_git, vcs_metadata
from junit_uploader.cli import main

LABEL = "pytest-py3.11-linux"
TEAMCITY_ENV = {"TEAMCITY_VERSION": "2024.12", "BUILD_NUMBER": "311", "TEAMCITY_PROJECT_NAME": "Shop"}
GITHUB_ENV = {
    "CI": "true",
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_RUN_ID": "9127",
    "GITHUB_JOB": "test",
    "GITHUB_SHA": "3f2a9c1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
    "GITHUB_REF": "refs/heads/main",
}
REPORT = '<testsuite name="cart"><testcase classname="cart" name="adds" time="0.5"/></testsuite>'


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A developer's environment: git on the PATH, and no repository above ``tmp_path`` found by accident."""
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(tmp_path), "GIT_CEILING_DIRECTORIES": str(tmp_path)}


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    return Checkout(tmp_path / "shop", branch="feature/login")


def test_a_checkout_on_a_branch_gives_its_commit_and_branch(checkout: Checkout, env: dict[str, str]) -> None:
    commit = checkout.commit({"cart.py": "ITEMS = []\n", "tests/test_cart.py": "def test_a(): pass\n"})

    assert read_git(checkout.path, env) == GitState(commit=commit, branch="feature/login", dirty=False)
    assert read_git(checkout.path / "tests", env) == GitState(commit=commit, branch="feature/login", dirty=False)


def test_a_changed_tracked_file_makes_it_dirty_staged_or_not(checkout: Checkout, env: dict[str, str]) -> None:
    checkout.commit({"cart.py": "ITEMS = []\n"})

    (checkout.path / "cart.py").write_text("ITEMS = [1]\n", encoding="utf-8")
    unstaged = read_git(checkout.path, env)
    checkout.git("add", "cart.py")
    staged = read_git(checkout.path, env)

    assert unstaged is not None and unstaged.dirty
    assert staged is not None and staged.dirty


def test_untracked_files_such_as_fresh_reports_leave_it_clean(checkout: Checkout, env: dict[str, str]) -> None:
    checkout.commit({"cart.py": "ITEMS = []\n"})
    (checkout.path / "junit.xml").write_text(REPORT, encoding="utf-8")

    state = read_git(checkout.path, env)

    assert state is not None and not state.dirty


def test_a_detached_head_gives_the_commit_without_a_branch(checkout: Checkout, env: dict[str, str]) -> None:
    first = checkout.commit({"cart.py": "ITEMS = []\n"})
    checkout.commit({"cart.py": "ITEMS = [1]\n"})
    checkout.git("checkout", "-q", "--detach", first)

    assert read_git(checkout.path, env) == GitState(commit=first, branch=None, dirty=False)


def test_a_directory_outside_any_repository_gives_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "plain").mkdir()

    assert read_git(tmp_path / "plain", env) is None


def test_a_repository_without_a_commit_gives_nothing(checkout: Checkout, env: dict[str, str]) -> None:
    (checkout.path / "cart.py").write_text("ITEMS = []\n", encoding="utf-8")
    checkout.git("add", "cart.py")

    assert read_git(checkout.path, env) is None


def test_without_git_on_the_path_there_is_nothing(checkout: Checkout, env: dict[str, str], tmp_path: Path) -> None:
    checkout.commit({"cart.py": "ITEMS = []\n"})
    (tmp_path / "empty-bin").mkdir()

    assert read_git(checkout.path, {**env, "PATH": str(tmp_path / "empty-bin")}) is None


def test_a_git_that_does_not_answer_in_time_gives_nothing(
    checkout: Checkout, env: dict[str, str], tmp_path: Path
) -> None:
    checkout.commit({"cart.py": "ITEMS = []\n"})
    slow = tmp_path / "slow-bin" / "git"
    slow.parent.mkdir()
    slow.write_text("#!/bin/sh\nexec sleep 60\n", encoding="utf-8")
    slow.chmod(slow.stat().st_mode | stat.S_IXUSR)

    assert read_git(checkout.path, {**env, "PATH": str(slow.parent)}, timeout_s=0.2) is None


def test_variables_that_point_git_at_another_repository_are_ignored(
    checkout: Checkout, env: dict[str, str], tmp_path: Path
) -> None:
    """A git hook (pre-commit, pre-push) that runs the tests has them set, for its own repository."""
    commit = checkout.commit({"cart.py": "ITEMS = []\n"})
    other = Checkout(tmp_path / "other", branch="hook")
    other.commit({"README": "other\n"})
    hook_env = {
        **env,
        "GIT_DIR": str(other.path / ".git"),
        "GIT_WORK_TREE": str(other.path),
        "GIT_INDEX_FILE": str(tmp_path / "no-such-index"),
    }

    assert read_git(checkout.path, hook_env) == GitState(commit=commit, branch="feature/login", dirty=False)


# --- what the payload gets ----------------------------------------------------------


def test_a_local_run_carries_the_commit_branch_and_state_of_its_checkout(checkout: Checkout, env: dict[str, str]) -> None:
    commit = checkout.commit({"cart.py": "ITEMS = []\n"})

    ci = detect_ci(env, checkout=checkout.path)

    assert vcs_metadata(ci) == {"commit": commit, "branch": "feature/login", "dirty": False}
    assert ci.provider == "local"


def test_a_local_run_in_a_checkout_still_gets_a_fresh_run_id_each_time(checkout: Checkout, env: dict[str, str]) -> None:
    checkout.commit({"cart.py": "ITEMS = []\n"})
    ci = detect_ci(env, checkout=checkout.path)

    first, second = make_run_id(ci, LABEL), make_run_id(ci, LABEL)

    assert first != second
    assert re.fullmatch(rf"local:[0-9a-f]{{32}}:{LABEL}", first)


def test_a_provider_that_names_commit_and_branch_is_taken_as_it_is(checkout: Checkout, env: dict[str, str]) -> None:
    checkout.commit({"cart.py": "ITEMS = []\n"})

    ci = detect_ci({**env, **GITHUB_ENV}, checkout=checkout.path)

    assert ci == detect_ci(GITHUB_ENV)
    assert (ci.commit, ci.branch, ci.dirty) == (GITHUB_ENV["GITHUB_SHA"], "main", None)


def test_git_names_the_branch_a_provider_leaves_out_when_it_is_at_the_providers_commit(
    checkout: Checkout, env: dict[str, str]
) -> None:
    commit = checkout.commit({"cart.py": "ITEMS = []\n"})

    ci = detect_ci({**env, **TEAMCITY_ENV, "BUILD_VCS_NUMBER": commit}, checkout=checkout.path)

    assert (ci.provider, ci.commit, ci.branch, ci.dirty) == ("teamcity", commit, "feature/login", False)


def test_a_checkout_at_another_commit_than_the_providers_adds_nothing(checkout: Checkout, env: dict[str, str]) -> None:
    checkout.commit({"cart.py": "ITEMS = []\n"})
    provider_commit = "9b8a7c6d5e4f30211f0e9d8c7b6a59483726150f"

    ci = detect_ci({**env, **TEAMCITY_ENV, "BUILD_VCS_NUMBER": provider_commit}, checkout=checkout.path)

    assert (ci.commit, ci.branch, ci.dirty) == (provider_commit, None, None)


def test_commit_and_branch_overrides_win_over_the_provider(env: dict[str, str]) -> None:
    overrides = {"TESTRUN_COMMIT": " 0123abcd\n", "TESTRUN_BRANCH": "release/2.0"}

    ci = detect_ci({**GITHUB_ENV, **overrides})

    assert (ci.provider, ci.commit, ci.branch) == ("github", "0123abcd", "release/2.0")


def test_commit_and_branch_overrides_win_over_git(checkout: Checkout, env: dict[str, str]) -> None:
    checkout.commit({"cart.py": "ITEMS = []\n"})

    ci = detect_ci({**env, "TESTRUN_COMMIT": "0123abcd", "TESTRUN_BRANCH": "release/2.0"}, checkout=checkout.path)

    assert (ci.commit, ci.branch, ci.dirty) == ("0123abcd", "release/2.0", None)


def test_a_commit_override_in_an_unknown_ci_takes_the_branch_from_a_checkout_at_that_commit(
    checkout: Checkout, env: dict[str, str]
) -> None:
    commit = checkout.commit({"cart.py": "ITEMS = []\n"})

    ci = detect_ci({**env, "CI": "true", "TESTRUN_COMMIT": commit[:12]}, checkout=checkout.path)

    assert (ci.provider, ci.commit, ci.branch, ci.dirty) == ("ci", commit[:12], "feature/login", False)


def test_a_branch_override_takes_the_commit_from_the_checkout(checkout: Checkout, env: dict[str, str]) -> None:
    commit = checkout.commit({"cart.py": "ITEMS = []\n"})

    ci = detect_ci({**env, "TESTRUN_BRANCH": "main"}, checkout=checkout.path)

    assert (ci.commit, ci.branch) == (commit, "main")


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_override_counts_as_not_given(blank: str) -> None:
    ci = detect_ci({**GITHUB_ENV, "TESTRUN_COMMIT": blank, "TESTRUN_BRANCH": blank})

    assert (ci.commit, ci.branch) == (GITHUB_ENV["GITHUB_SHA"], "main")


def test_junit_upload_dry_run_in_a_checkout_carries_its_commit_and_branch(
    checkout: Checkout, env: dict[str, str]
) -> None:
    commit = checkout.commit({"cart.py": "ITEMS = []\n"})
    (checkout.path / "build").mkdir()
    (checkout.path / "build" / "junit.xml").write_text(REPORT, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    code = main(["--dry-run", "build/junit.xml"], env=env, stdout=out, stderr=err, cwd=checkout.path)

    assert code == 0, err.getvalue()
    payload = json.loads(out.getvalue())
    assert payload["vcs"] == {"commit": commit, "branch": "feature/login", "dirty": False}
    assert payload["run_id"].startswith("local:")
