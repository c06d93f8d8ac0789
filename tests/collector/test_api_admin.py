"""The admin routes: orgs, projects and tokens behind an admin token."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from collector_harness import new_project



def admin_post(collector: Any, path: str, body: Any, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or collector.admin_token}"}
    return requests.post(collector.url + path, json=body, headers=headers, timeout=30)


@pytest.mark.parametrize("path", ["/orgs", "/projects", "/tokens"])
def test_admin_routes_without_the_admin_credential_are_a_401(collector: Any, path: str) -> None:
    response = requests.post(collector.url + path, json={"name": "x"}, timeout=30)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_project_token_cannot_use_admin_routes(collector: Any) -> None:
    project = new_project(collector)

    response = admin_post(collector, "/orgs", {"name": "sneaky"}, token=project.ingest_token)

    assert response.status_code == 403


def test_an_org_and_a_project_are_created_once(collector: Any) -> None:
    org = admin_post(collector, "/orgs", {"name": "acme-admin"})
    again = admin_post(collector, "/orgs", {"name": "acme-admin"})
    project = admin_post(collector, "/projects", {"org": "acme-admin", "name": "web"})
    project_again = admin_post(collector, "/projects", {"org": "acme-admin", "name": "web"})

    assert (org.status_code, again.status_code) == (201, 409)
    assert org.json()["name"] == "acme-admin"
    assert again.json()["error"] == "already_exists"
    assert (project.status_code, project_again.status_code) == (201, 409)
    assert project.json()["slug"] == "acme-admin/web"


def test_a_project_in_an_unknown_org_is_a_404(collector: Any) -> None:
    response = admin_post(collector, "/projects", {"org": "nobody-here", "name": "web"})

    assert response.status_code == 404
    assert "nobody-here" in response.json()["message"]


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "has space"}, {"name": 7}, {}, ["acme"]])
def test_a_bad_org_name_is_a_400_that_says_what_is_allowed(collector: Any, body: Any) -> None:
    response = admin_post(collector, "/orgs", body)

    assert response.status_code == 400
    assert response.json()["message"]


def test_a_minted_token_is_shown_once_and_listed_without_its_secret(collector: Any) -> None:
    project = new_project(collector)
    created = admin_post(collector, "/tokens", {"project": project.slug, "scopes": ["ingest", "read"]})

    listed = requests.get(
        collector.url + "/tokens",
        params={"project": project.slug},
        headers={"Authorization": f"Bearer {collector.admin_token}"},
        timeout=30,
    )

    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("testrun_")
    assert created.json()["scopes"] == ["ingest", "read"]
    assert listed.status_code == 200
    assert created.json()["token_id"] in {t["token_id"] for t in listed.json()["tokens"]}
    assert token.split("_", 2)[2][:43] not in listed.text
    assert "secret" not in listed.text and "hash" not in listed.text


@pytest.mark.parametrize(
    "body",
    [
        {"project": "missing/project"},
        {"project": "no-slash"},
    ],
)
def test_a_token_for_a_project_that_does_not_exist_is_refused(collector: Any, body: Any) -> None:
    response = admin_post(collector, "/tokens", body)

    assert response.status_code in (400, 404)
    assert response.json()["message"]


@pytest.mark.parametrize("scopes", [["admin"], ["write"], [], "ingest", ["read", "read"]])
def test_a_token_with_bad_scopes_is_a_400(collector: Any, scopes: Any) -> None:
    project = new_project(collector)

    response = admin_post(collector, "/tokens", {"project": project.slug, "scopes": scopes})

    assert response.status_code == 400


def test_revoking_an_unknown_token_is_a_404(collector: Any) -> None:
    response = requests.delete(
        collector.url + "/tokens/doesnotexist", headers={"Authorization": f"Bearer {collector.admin_token}"}, timeout=30
    )

    assert response.status_code == 404
