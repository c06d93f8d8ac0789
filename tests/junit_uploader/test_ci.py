"""CI detection and run identity, checked against each provider's documented environment.

Each ``ci_envs/<provider>.json`` holds the variables a job on that provider
sees (names as the provider documents them, plus the noise around them), the
CIContext expected from them, the expected run_id, and the variables that
change on a retry, in another job, on another parallel node, and in a PR build.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from junit_uploader.ci import (
    PROVIDERS,
    RUN_ID_MAX,
    CIContext,
    ci_metadata,
    detect_ci,
    make_run_id,
    vcs_metadata,
)

ENVS = Path(__file__).parent / "ci_envs"
FIXTURES: list[dict[str, Any]] = [json.loads(path.read_text()) for path in sorted(ENVS.glob("*.json"))]
BY_PROVIDER = {fixture["provider"]: fixture for fixture in FIXTURES}
LABEL = "pytest-py3.11-linux"
LOCAL_ENV = {"HOME": "/home/ada", "PATH": "/usr/local/bin:/usr/bin:/bin", "SHELL": "/bin/zsh", "LANG": "en_GB.UTF-8"}
CONTROL = re.compile("[\x00-\x1f\x7f]")


def fixtures_with(key: str | None = None) -> list[Any]:
    return [pytest.param(f, id=f["provider"]) for f in FIXTURES if key is None or f[key] is not None]


def changed(env: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """``env`` with ``changes`` applied; ``None`` unsets a variable."""
    new = dict(env)
    for name, value in changes.items():
        if value is None:
            new.pop(name, None)
        else:
            new[name] = value
    return new


def run_id_of(env: dict[str, str], label: str = LABEL) -> str:
    return make_run_id(detect_ci(env), label)


def github_env(**changes: str | None) -> dict[str, str]:
    return changed(BY_PROVIDER["github"]["env"], changes)


# --- every provider, from its fixture ---------------------------------------------


def test_every_provider_has_a_fixture_named_after_it() -> None:
    assert sorted(BY_PROVIDER) == sorted(provider.name for provider in PROVIDERS if provider.name != "ci")
    assert sorted(path.stem for path in ENVS.glob("*.json")) == sorted(BY_PROVIDER)


@pytest.mark.parametrize("fixture", fixtures_with())
def test_detects_the_provider_and_reads_every_field(fixture: dict[str, Any]) -> None:
    assert detect_ci(fixture["env"]) == CIContext(**fixture["expected"])


@pytest.mark.parametrize("fixture", fixtures_with())
def test_the_same_job_attempt_always_gets_the_same_run_id(fixture: dict[str, Any]) -> None:
    assert run_id_of(fixture["env"]) == run_id_of(dict(fixture["env"])) == fixture["run_id"]


@pytest.mark.parametrize("fixture", fixtures_with("retry"))
def test_a_retry_gets_another_run_id(fixture: dict[str, Any]) -> None:
    assert run_id_of(changed(fixture["env"], fixture["retry"])) != run_id_of(fixture["env"])


@pytest.mark.parametrize("fixture", fixtures_with("other_job"))
def test_another_job_gets_another_run_id(fixture: dict[str, Any]) -> None:
    assert run_id_of(changed(fixture["env"], fixture["other_job"])) != run_id_of(fixture["env"])


@pytest.mark.parametrize("fixture", fixtures_with("other_node"))
def test_another_parallel_node_gets_another_run_id(fixture: dict[str, Any]) -> None:
    assert run_id_of(changed(fixture["env"], fixture["other_node"])) != run_id_of(fixture["env"])


@pytest.mark.parametrize("fixture", fixtures_with())
def test_another_label_gets_another_run_id(fixture: dict[str, Any]) -> None:
    assert run_id_of(fixture["env"], "pytest-py3.12-linux") != run_id_of(fixture["env"])


@pytest.mark.parametrize("fixture", fixtures_with("pull_request"))
def test_a_pull_request_build_fills_the_number_and_the_head_branch(fixture: dict[str, Any]) -> None:
    pull_request = fixture["pull_request"]
    ci = detect_ci(changed(fixture["env"], pull_request["env"]))
    assert ci.provider == fixture["provider"]
    assert {field: getattr(ci, field) for field in pull_request["expected"]} == pull_request["expected"]


def test_github_matrix_legs_share_every_variable_so_only_the_label_tells_them_apart() -> None:
    ci = detect_ci(github_env())
    assert make_run_id(ci, "pytest-py3.11-linux") == "github:octo/app:9127354410:2:test:pytest-py3.11-linux"
    assert make_run_id(ci, "pytest-py3.12-linux") == "github:octo/app:9127354410:2:test:pytest-py3.12-linux"


# --- detection order ---------------------------------------------------------------


def test_woodpecker_is_not_mistaken_for_gitlab_despite_its_gitlab_like_names() -> None:
    env = BY_PROVIDER["woodpecker"]["env"]
    assert {"CI_COMMIT_SHA", "CI_COMMIT_BRANCH", "CI_PIPELINE_URL"} <= env.keys()
    assert detect_ci(env).provider == "woodpecker"


def test_gitlab_names_without_gitlab_ci_are_not_gitlab() -> None:
    env = changed(BY_PROVIDER["gitlab"]["env"], {"GITLAB_CI": None})
    assert detect_ci(env).provider == "ci"


def test_github_actions_on_a_codebuild_hosted_runner_is_github() -> None:
    env = {**BY_PROVIDER["codebuild"]["env"], **github_env()}
    assert detect_ci(env).provider == "github"


# --- outside CI and generic CI --------------------------------------------------------


def test_a_local_run_takes_its_id_from_fresh() -> None:
    ci = detect_ci(LOCAL_ENV)
    assert ci == CIContext(provider="local")
    assert not ci.in_ci()
    assert make_run_id(ci, LABEL, fresh=lambda: "0f3c9a") == f"local:0f3c9a:{LABEL}"


def test_two_local_runs_get_different_ids() -> None:
    ci = detect_ci(LOCAL_ENV)
    first, second = make_run_id(ci, LABEL), make_run_id(ci, LABEL)
    assert first != second
    assert re.fullmatch(rf"local:[0-9a-f]{{32}}:{LABEL}", first)


@pytest.mark.parametrize("value", ["true", "True", "1", "yes", "YES", "codeship"])
def test_a_ci_variable_that_is_on_without_a_known_provider_is_generic_ci(value: str) -> None:
    ci = detect_ci({**LOCAL_ENV, "CI": value})
    assert ci.provider == "ci"
    assert ci.in_ci()


@pytest.mark.parametrize("value", ["", "  ", "false", "FALSE", "0", "no"])
def test_a_ci_variable_that_is_off_or_empty_is_a_local_run(value: str) -> None:
    assert detect_ci({**LOCAL_ENV, "CI": value}).provider == "local"


def test_generic_ci_with_a_build_id_gets_a_deterministic_id() -> None:
    env = {
        **LOCAL_ENV,
        "CI": "true",
        "CI_NAME": "codeship",
        "CI_BUILD_ID": "9a7e5c3b-1d2f-4e6a-8b0c-2d4f6a8c0e1b",
        "CI_BUILD_NUMBER": "212",
        "CI_BUILD_URL": "https://app.codeship.com/projects/1234/builds/212",
        "CI_BRANCH": "main",
        "CI_COMMIT_ID": "3f2a9c1e8b7d6054f3e2a1b0c9d8e7f6a5b4c3d2",
    }
    ci = detect_ci(env)
    assert (ci.provider, ci.branch, ci.commit, ci.url) == (
        "ci",
        "main",
        "3f2a9c1e8b7d6054f3e2a1b0c9d8e7f6a5b4c3d2",
        "https://app.codeship.com/projects/1234/builds/212",
    )
    assert run_id_of(env) == run_id_of(env) == f"ci:9a7e5c3b-1d2f-4e6a-8b0c-2d4f6a8c0e1b:-:{LABEL}"


def test_generic_ci_without_a_build_id_gets_a_fresh_id() -> None:
    ci = detect_ci({**LOCAL_ENV, "CI": "true"})
    assert make_run_id(ci, LABEL, fresh=lambda: "0f3c9a") == f"ci:0f3c9a:{LABEL}"
    assert make_run_id(ci, LABEL) != make_run_id(ci, LABEL)


def test_a_provider_marker_without_any_build_variable_gets_a_fresh_id() -> None:
    ci = detect_ci({**LOCAL_ENV, "GITHUB_ACTIONS": "true"})
    assert ci.provider == "github"
    assert make_run_id(ci, LABEL, fresh=lambda: "0f3c9a") == f"github:0f3c9a:{LABEL}"


# --- override, length, characters, bad values -----------------------------------------


def test_an_override_wins_verbatim_after_trimming_whitespace() -> None:
    ci = detect_ci(github_env())
    assert make_run_id(ci, LABEL, override="  nightly 2025-01-12 #4\n") == "nightly 2025-01-12 #4"


@pytest.mark.parametrize("override", [None, "", " \t\n"])
def test_an_empty_override_counts_as_not_given(override: str | None) -> None:
    ci = detect_ci(github_env())
    assert make_run_id(ci, LABEL, override=override) == BY_PROVIDER["github"]["run_id"]


def test_a_long_run_id_is_cut_to_256_characters_ending_in_a_hash_of_the_whole() -> None:
    label = "pytest-" + "k" * 400
    full = f"github:octo/app:9127354410:2:test:{label}"
    run_id = run_id_of(github_env(), label)
    assert len(run_id) == RUN_ID_MAX
    assert run_id == full[: RUN_ID_MAX - 17] + "~" + hashlib.sha256(full.encode()).hexdigest()[:16]


def test_long_run_ids_that_differ_only_past_the_cut_stay_different() -> None:
    first, second = run_id_of(github_env(), "k" * 400 + "a"), run_id_of(github_env(), "k" * 400 + "b")
    assert first != second
    assert len(first) == len(second) == RUN_ID_MAX


def test_a_run_id_of_exactly_256_characters_is_kept_whole() -> None:
    prefix = "github:octo/app:9127354410:2:test:"
    label = "k" * (RUN_ID_MAX - len(prefix))
    assert run_id_of(github_env(), label) == prefix + label


def test_control_characters_become_underscores() -> None:
    run_id = run_id_of(github_env(GITHUB_JOB="test\x1b[0m\x7f"), "py\t3.11\nlinux")
    assert run_id == "github:octo/app:9127354410:2:test_[0m_:py_3.11_linux"
    assert not CONTROL.search(run_id)


def test_undecodable_bytes_from_the_environment_do_not_break_the_run_id() -> None:
    """``os.environ`` carries bytes that are not UTF-8 as lone surrogates, which JSON cannot encode."""
    ci = detect_ci(github_env(GITHUB_JOB="t\udcffst"))
    assert ci.job == "t\ufffdst"
    make_run_id(ci, "py\udcfe").encode("utf-8")


@pytest.mark.parametrize("attempt", ["two", "-1", "1.5", "", "2147483648", "\u0663"])
def test_an_attempt_that_is_not_a_count_is_ignored(attempt: str) -> None:
    ci = detect_ci(github_env(GITHUB_RUN_ATTEMPT=attempt))
    assert ci.attempt is None
    assert make_run_id(ci, LABEL) == f"github:octo/app:9127354410:-:test:{LABEL}"


def test_a_parallel_index_that_is_not_a_count_is_ignored() -> None:
    ci = detect_ci(changed(BY_PROVIDER["circleci"]["env"], {"CIRCLE_NODE_INDEX": "first"}))
    assert ci.node is None


def test_missing_identity_parts_become_dashes() -> None:
    env = changed(BY_PROVIDER["gitlab"]["env"], {"CI_NODE_INDEX": None, "CI_NODE_TOTAL": "1", "CI_JOB_NAME": None})
    assert run_id_of(env) == f"gitlab:acme/platform/api:1602349871:-:8823410567:-:{LABEL}"


def test_a_value_longer_than_the_collector_accepts_is_treated_as_absent() -> None:
    ci = detect_ci(github_env(GITHUB_HEAD_REF="b" * 2049, GITHUB_REF="refs/pull/42/merge"))
    assert (ci.branch, ci.pull_request) == (None, "42")


# --- payload objects ------------------------------------------------------------------


def test_ci_metadata_is_the_job_and_its_attempt_without_absent_values() -> None:
    assert ci_metadata(detect_ci(github_env()), LABEL) == {
        "provider": "github",
        "pipeline_id": "9127354410",
        "job": "test",
        "attempt": 2,
        "url": "https://github.com/octo/app/actions/runs/9127354410",
        "label": LABEL,
    }


def test_ci_metadata_carries_the_job_execution_id_and_node_where_the_provider_has_them() -> None:
    metadata = ci_metadata(detect_ci(BY_PROVIDER["gitlab"]["env"]), LABEL)
    assert (metadata["job_id"], metadata["node"]) == ("8823410567", "2")


def test_vcs_metadata_is_repository_commit_branch_and_pull_request() -> None:
    pull_request = BY_PROVIDER["github"]["pull_request"]["env"]
    assert vcs_metadata(detect_ci(github_env(**pull_request))) == {
        "repository": "octo/app",
        "commit": "9b8a7c6d5e4f30211f0e9d8c7b6a59483726150f",
        "branch": "feature/login",
        "pull_request": "42",
    }


def test_a_local_run_has_only_its_provider_and_label_as_metadata() -> None:
    ci = detect_ci(LOCAL_ENV)
    assert ci_metadata(ci, LABEL) == {"provider": "local", "label": LABEL}
    assert vcs_metadata(ci) == {}
