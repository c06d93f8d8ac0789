"""Signing in to the web pages with a read token, the session cookie, and signing out."""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest
import requests

from collector.app import create_app
from collector.settings import Settings
from collector.store.sqlite import SQLiteStore
from collector.tokens import create_token
from collector.web.session import ADMIN_TOKEN, INGEST_TOKEN, UNKNOWN_TOKEN
from collector_harness import CollectorProcess, ProjectAccess, new_project

SignIn = Callable[[str, str], requests.Session]
PAGES = ["/ui/", "/ui/runs", "/ui/runs/some-run", "/ui/flaky", "/ui/slowest", "/ui/failing", "/ui/tests?test_id=a::b"]


def post_sign_in(url: str, token: str, headers: dict[str, str] | None = None, **fields: str) -> requests.Response:
    return requests.post(
        f"{url}/ui/signin", data={"token": token, **fields}, headers=headers, allow_redirects=False, timeout=30
    )


def cookie_attributes(response: requests.Response) -> list[str]:
    return [part.strip().lower() for part in response.headers["Set-Cookie"].split(";")]


def test_a_read_token_signs_in_with_an_httponly_samesite_strict_cookie_for_ui_pages_only(
    project: ProjectAccess,
) -> None:
    response = post_sign_in(project.url, project.read_token)

    assert response.status_code == 303
    assert response.headers["Location"] == "/ui/"
    attributes = cookie_attributes(response)
    assert attributes[0] == f"testrun_session={project.read_token}".lower()
    assert {"httponly", "samesite=strict", "path=/ui"} <= set(attributes)
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back


def test_after_signing_in_the_pages_show_the_project(project: ProjectAccess, sign_in: SignIn) -> None:
    session = sign_in(project.url, project.read_token)

    response = session.get(f"{project.url}/ui/", timeout=30)

    assert response.status_code == 200
    assert project.slug in response.text
    assert "<h1>Overview</h1>" in response.text


@pytest.mark.parametrize(
    ("which", "status", "message"),
    [("wrong", 401, UNKNOWN_TOKEN), ("ingest", 403, INGEST_TOKEN), ("admin", 403, ADMIN_TOKEN)],
)
def test_a_token_that_cannot_read_a_project_is_refused_with_a_message_and_no_cookie(
    collector: CollectorProcess, project: ProjectAccess, which: str, status: int, message: str
) -> None:
    token = {
        "wrong": project.read_token[:-12] + "AAAAAAAAAAAA",
        "ingest": project.ingest_token,
        "admin": collector.admin_token,
    }[which]

    response = post_sign_in(project.url, token)

    assert response.status_code == status
    assert "Set-Cookie" not in response.headers
    assert html.escape(message) in response.text
    assert token not in response.text
    assert '<input id="token" name="token" type="password"' in response.text


def test_an_empty_token_asks_for_one(project: ProjectAccess) -> None:
    response = post_sign_in(project.url, "   ")

    assert response.status_code == 400
    assert "Paste a read token of your project." in response.text
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("path", PAGES)
def test_a_page_without_a_session_redirects_to_sign_in_and_back(project: ProjectAccess, path: str) -> None:
    response = requests.get(project.url + path, allow_redirects=False, timeout=30)

    assert response.status_code == 303
    location = response.headers["Location"]
    assert location == "/ui/signin" if path == "/ui/" else location == "/ui/signin?" + urlencode({"next": path})


def test_a_page_with_a_made_up_cookie_redirects_to_sign_in_and_clears_it(project: ProjectAccess) -> None:
    response = requests.get(
        f"{project.url}/ui/runs", cookies={"testrun_session": "nonsense"}, allow_redirects=False, timeout=30
    )

    assert response.status_code == 303
    assert response.headers["Location"].startswith("/ui/signin?")
    assert "ended=1" in response.headers["Location"]
    assert (
        'testrun_session=""' in response.headers["Set-Cookie"] or "testrun_session=;" in response.headers["Set-Cookie"]
    )


def test_signing_in_returns_to_the_page_asked_for(project: ProjectAccess) -> None:
    response = post_sign_in(project.url, project.read_token, next="/ui/runs?status=failed")

    assert response.headers["Location"] == "/ui/runs?status=failed"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/ui/", "/api/v1/runs", "/ui//evil.example"])
def test_signing_in_never_redirects_off_the_web_pages(project: ProjectAccess, target: str) -> None:
    response = post_sign_in(project.url, project.read_token, next=target)

    assert response.headers["Location"] == "/ui/"


def test_signing_out_clears_the_cookie_and_the_pages_ask_to_sign_in_again(
    project: ProjectAccess, sign_in: SignIn
) -> None:
    session = sign_in(project.url, project.read_token)

    response = session.post(f"{project.url}/ui/signout", allow_redirects=False, timeout=30)

    assert response.status_code == 303
    assert response.headers["Location"] == "/ui/signin?signed_out=1"
    assert "expires=thu, 01 jan 1970 00:00:00 gmt" in cookie_attributes(response)
    assert not session.cookies
    assert "You are signed out." in session.get(f"{project.url}/ui/signin?signed_out=1", timeout=30).text
    after = session.get(f"{project.url}/ui/runs", allow_redirects=False, timeout=30)
    assert (after.status_code, after.headers["Location"]) == (303, "/ui/signin?next=%2Fui%2Fruns")


def test_a_revoked_token_ends_the_session_on_the_next_page(
    collector: CollectorProcess, project: ProjectAccess, sign_in: SignIn
) -> None:
    session = sign_in(project.url, project.read_token)
    assert session.get(f"{project.url}/ui/runs", timeout=30).status_code == 200
    token_id = project.read_token.split("_")[1]
    revoked = requests.delete(
        f"{collector.url}/tokens/{token_id}", headers={"Authorization": f"Bearer {collector.admin_token}"}, timeout=30
    )
    assert revoked.ok, revoked.text

    response = session.get(f"{project.url}/ui/runs", timeout=30)

    assert response.url.startswith(f"{project.url}/ui/signin?")
    assert "Your session ended" in response.text
    assert not session.cookies


def test_a_sign_in_form_sent_from_another_site_is_refused(project: ProjectAccess) -> None:
    response = requests.post(
        f"{project.url}/ui/signin",
        data={"token": project.read_token},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        allow_redirects=False,
        timeout=30,
    )

    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers
    assert "only be sent from the collector" in response.text


# --- over HTTPS (in-process: the test collector serves plain HTTP) ---------------------------


def _post_form(app: Any, path: str, fields: dict[str, str], scheme: str) -> tuple[str, dict[str, str]]:
    body = urlencode(fields).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": scheme,
    }
    setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen.update(status=status, headers=dict(headers))

    b"".join(app.wsgi_app(environ, start_response))
    return seen["status"], seen["headers"]


def test_over_https_the_session_cookie_is_also_secure(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "web.sqlite3"))
    store.migrate()
    store.create_org("acme")
    project = store.create_project("acme", "web")
    minted, _ = create_token(store, project=project, scopes=["read"], expires_in_days=None, bcrypt_rounds=4)
    app = create_app(Settings(db=str(tmp_path / "web.sqlite3"), bcrypt_rounds=4), store=store)

    status, headers = _post_form(app, "/ui/signin", {"token": minted.token}, scheme="https")

    assert status.startswith("303")
    attributes = [part.strip().lower() for part in headers["Set-Cookie"].split(";")]
    assert {"httponly", "samesite=strict", "secure"} <= set(attributes)


def test_behind_a_trusted_tls_proxy_the_session_cookie_is_secure(start_collector: Callable[..., CollectorProcess]) -> None:
    collector = start_collector(trusted_proxy="127.0.0.1", token_rate_per_s="0")
    project = new_project(collector)

    response = post_sign_in(collector.url, project.read_token, headers={"X-Forwarded-Proto": "https"})

    assert response.status_code == 303
    assert "secure" in cookie_attributes(response)


def test_a_forwarded_proto_from_an_untrusted_address_is_ignored(project: ProjectAccess) -> None:
    response = post_sign_in(project.url, project.read_token, headers={"X-Forwarded-Proto": "https"})

    assert response.status_code == 303
    assert "secure" not in cookie_attributes(response)
