"""The quarantine routes against a real collector: scopes, ETag and 304, bad input, another project."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from collector_harness import CollectorProcess, ProjectAccess, a_run, new_project

FLAKE = "tests/test_net.py::test_retry[dns]"


def triage_token(collector: CollectorProcess, project: ProjectAccess, name: str | None = "ci-triage") -> str:
    body: dict[str, Any] = {"project": project.slug, "scopes": ["triage"], "name": name}
    answer = requests.post(f"{collector.url}/tokens", json=body,
                           headers={"Authorization": f"Bearer {collector.admin_token}"}, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def call(method: str, project: ProjectAccess, token: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{project.url}/api/v1/quarantine", headers=headers, timeout=30, **kwargs)


@pytest.fixture
def triage(collector: CollectorProcess, project: ProjectAccess) -> str:
    return triage_token(collector, project)


def test_a_triage_token_quarantines_and_releases_a_test_under_its_name(project: ProjectAccess, triage: str) -> None:
    added = call("POST", project, triage, json={"test_id": FLAKE, "reason": "flaky DNS, #812", "expires_at": "2099-12-31"})
    listed = call("GET", project, project.ingest_token)
    released = call("DELETE", project, triage, params={"test_id": FLAKE})
    after = call("GET", project, project.read_token)

    assert added.status_code == 201
    assert {k: added.json()[k] for k in ("test_id", "reason", "added_by", "expires_at", "source")} == {
        "test_id": FLAKE, "reason": "flaky DNS, #812", "added_by": "ci-triage",
        "expires_at": "2100-01-01T00:00:00.000000Z", "source": "manual",
    }
    assert listed.status_code == 200 and listed.json() == {"project": project.slug, "entries": [added.json()]}
    assert released.status_code == 200 and released.json()["test_id"] == FLAKE
    assert after.json()["entries"] == []


def test_the_list_answers_304_to_its_own_etag_until_it_changes(project: ProjectAccess, triage: str) -> None:
    first = call("GET", project, project.ingest_token)
    again = call("GET", project, project.ingest_token, headers={"If-None-Match": first.headers["ETag"]})
    call("POST", project, triage, json={"test_id": FLAKE, "reason": "r"})
    changed = call("GET", project, project.ingest_token, headers={"If-None-Match": first.headers["ETag"]})

    assert first.status_code == 200 and first.headers["ETag"].startswith('"')
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == first.headers["ETag"]
    assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]
    assert [e["test_id"] for e in changed.json()["entries"]] == [FLAKE]


@pytest.mark.parametrize("scope", ["ingest_token", "read_token"])
def test_ingest_and_read_tokens_cannot_change_the_list(project: ProjectAccess, scope: str) -> None:
    token = getattr(project, scope)

    assert call("POST", project, token, json={"test_id": FLAKE, "reason": "r"}).status_code == 403
    assert call("DELETE", project, token, params={"test_id": FLAKE}).status_code == 403
    assert call("GET", project, project.read_token).json()["entries"] == []


def test_no_token_or_an_admin_token_gets_nothing(collector: CollectorProcess, project: ProjectAccess) -> None:
    assert requests.get(f"{project.url}/api/v1/quarantine", timeout=30).status_code == 401
    assert call("GET", project, collector.admin_token).status_code == 403


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"test_id": FLAKE}, ["reason"]),
        ({"test_id": FLAKE, "reason": "   "}, ["reason"]),
        ({"reason": "why"}, ["test_id"]),
        ({"test_id": FLAKE, "reason": "r", "expires_at": "31/12/2099"}, ["expires_at"]),
        ({"test_id": FLAKE, "reason": "r", "expires_at": "2020-01-01"}, ["expires_at"]),
        ({"test_id": "", "reason": 5, "expires_at": 3}, ["test_id", "reason", "expires_at"]),
    ],
)
def test_a_bad_request_is_a_400_naming_every_field_and_changes_nothing(
    project: ProjectAccess, triage: str, body: dict[str, Any], fields: list[str]
) -> None:
    answer = call("POST", project, triage, json=body)

    assert answer.status_code == 400
    assert [error["field"] for error in answer.json()["errors"]] == fields
    assert call("GET", project, project.read_token).json()["entries"] == []


def test_releasing_a_test_not_on_the_list_is_a_404_and_no_test_id_a_400(project: ProjectAccess, triage: str) -> None:
    assert call("DELETE", project, triage, params={"test_id": FLAKE}).status_code == 404
    assert call("DELETE", project, triage).status_code == 400


def test_another_projects_token_sees_and_changes_nothing_of_this_projects_list(
    collector: CollectorProcess, project: ProjectAccess, triage: str
) -> None:
    other = new_project(collector)
    other_triage = triage_token(collector, other)
    call("POST", project, triage, json={"test_id": FLAKE, "reason": "ours"})

    assert call("GET", other, other.ingest_token).json() == {"project": other.slug, "entries": []}
    assert call("DELETE", other, other_triage, params={"test_id": FLAKE}).status_code == 404
    assert call("POST", other, other_triage, json={"test_id": FLAKE, "reason": "theirs"}).status_code == 201
    [ours] = call("GET", project, project.read_token).json()["entries"]
    assert ours["reason"] == "ours"


def test_a_quarantined_failure_is_classed_quarantined_in_the_next_runs_verdict(
    project: ProjectAccess, triage: str
) -> None:
    call("POST", project, triage, json={"test_id": FLAKE, "reason": "flaky DNS, #812"})

    answer = project.post_run(a_run("pr-1", vcs={"branch": "feature", "commit": "c9"},
                                    tests=[{"id": FLAKE, "status": "failed"}, {"id": "t::ok", "status": "passed"}]))

    verdict = answer.json()["verdict"]
    assert verdict["blocking"] == 0 and verdict["quarantined"] == 1
    assert verdict["tests"] == [{"test_id": FLAKE, "status": "failed", "class": "quarantined",
                                 "reason": "flaky DNS, #812", "message": None}]
