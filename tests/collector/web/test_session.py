"""Signing in to the web pages with a read token, the session cookie, and signing out."""

from __future__ import annotations

import hashlib
import html
import io
import sqlite3
import time
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
from collector.web.routes import CROSS_SITE, NO_ORIGIN
from collector.web.session import ADMIN_TOKEN, INGEST_TOKEN, UNKNOWN_TOKEN
from collector_harness import CollectorProcess, ProjectAccess, admin, new_project

SignIn = Callable[[str, str], requests.Session]
PAGES = ["/ui/", "/ui/runs", "/ui/runs/some-run", "/ui/flaky", "/ui/slowest", "/ui/failing", "/ui/tests?test_id=a::b"]


def post_sign_in(url: str, token: str, headers: dict[str, str] | None = None, **fields: str) -> requests.Response:
    """The sign-in form sent as a browser sends it from the collector's own page (with its Origin)."""
    return requests.post(
        f"{url}/ui/signin",
        data={"token": token, **fields},
        headers={"Origin": url, **(headers or {})},
        allow_redirects=False,
        timeout=30,
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
    name, _, value = response.headers["Set-Cookie"].split(";")[0].partition("=")
    assert name == "testrun_session" and len(value) == 43  # secrets.token_urlsafe(32), not the token
    assert project.read_token.split("_", 2)[2] not in response.headers["Set-Cookie"]
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

    response = session.post(
        f"{project.url}/ui/signout", headers={"Origin": project.url}, allow_redirects=False, timeout=30
    )

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
        "HTTP_ORIGIN": f"{scheme}://127.0.0.1",
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

    https_origin = collector.url.replace("http://", "https://")
    response = post_sign_in(
        collector.url, project.read_token, headers={"X-Forwarded-Proto": "https", "Origin": https_origin}
    )

    assert response.status_code == 303
    assert "secure" in cookie_attributes(response)


def test_a_forwarded_proto_from_an_untrusted_address_is_ignored(project: ProjectAccess) -> None:
    response = post_sign_in(project.url, project.read_token, headers={"X-Forwarded-Proto": "https"})

    assert response.status_code == 303
    assert "secure" not in cookie_attributes(response)


# --- refusing forms from other sites (login CSRF) ----------------------------------------


def web_sessions(db: Path | str) -> list[sqlite3.Row]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM web_sessions").fetchall()


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Referer": "https://evil.example/login-csrf.html"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://evil.example"},
    ],
    ids=["origin", "referer", "null-origin", "other-port", "same-site"],
)
def test_a_sign_in_form_from_another_site_without_fetch_metadata_is_refused_and_changes_nothing(
    start_collector: Callable[..., CollectorProcess], headers: dict[str, str]
) -> None:
    collector = start_collector(token_rate_per_s="0")
    project = new_project(collector)

    response = requests.post(
        f"{collector.url}/ui/signin", data={"token": project.read_token}, headers=headers, allow_redirects=False, timeout=30
    )

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert CROSS_SITE in html.unescape(response.text)
    assert "Set-Cookie" not in response.headers
    assert web_sessions(collector.db) == []


def test_a_form_that_says_nowhere_where_it_came_from_is_refused(project: ProjectAccess) -> None:
    response = requests.post(
        f"{project.url}/ui/signin", data={"token": project.read_token}, allow_redirects=False, timeout=30
    )

    assert response.status_code == 400
    assert NO_ORIGIN in html.unescape(response.text)
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    "headers",
    [{"Referer": "{url}/ui/signin"}, {"Origin": "null", "Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "same-origin"}],
    ids=["referer", "null-origin-vouched", "fetch-metadata-only"],
)
def test_a_form_from_the_collectors_own_page_signs_in(project: ProjectAccess, headers: dict[str, str]) -> None:
    sent = {name: value.format(url=project.url) for name, value in headers.items()}

    response = requests.post(
        f"{project.url}/ui/signin", data={"token": project.read_token}, headers=sent, allow_redirects=False, timeout=30
    )

    assert response.status_code == 303
    assert "testrun_session=" in response.headers["Set-Cookie"]


def test_a_sign_out_form_from_another_site_is_refused_and_the_session_goes_on(
    project: ProjectAccess, sign_in: SignIn
) -> None:
    session = sign_in(project.url, project.read_token)

    response = session.post(
        f"{project.url}/ui/signout", headers={"Origin": "https://evil.example"}, allow_redirects=False, timeout=30
    )

    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers
    assert session.get(f"{project.url}/ui/runs", allow_redirects=False, timeout=30).status_code == 200


# --- server-side sessions ---------------------------------------------------------------


def cookie_of(session: requests.Session) -> str:
    value = session.cookies.get("testrun_session")
    assert value
    return str(value)


def page_status(url: str, cookie: str, path: str = "/ui/runs") -> tuple[int, str]:
    response = requests.get(url + path, cookies={"testrun_session": cookie}, allow_redirects=False, timeout=30)
    return response.status_code, response.headers.get("Location", "")


def test_a_copied_cookie_stops_working_once_the_browser_signs_out(project: ProjectAccess, sign_in: SignIn) -> None:
    session = sign_in(project.url, project.read_token)
    copied = cookie_of(session)
    assert page_status(project.url, copied) == (200, "")

    session.post(f"{project.url}/ui/signout", headers={"Origin": project.url}, allow_redirects=False, timeout=30)

    status, location = page_status(project.url, copied)
    assert status == 303 and "ended=1" in location


def test_the_cookie_is_not_a_token_of_the_api(project: ProjectAccess, sign_in: SignIn) -> None:
    cookie = cookie_of(sign_in(project.url, project.read_token))

    response = project.get("/api/v1/runs", token=cookie)

    assert response.status_code == 401
    assert project.get("/api/v1/runs").status_code == 200


def test_revoking_the_token_with_testrun_admin_ends_its_sessions_on_the_next_page(
    collector: CollectorProcess, project: ProjectAccess, sign_in: SignIn
) -> None:
    session = sign_in(project.url, project.read_token)
    assert page_status(project.url, cookie_of(session))[0] == 200
    token_id = project.read_token.split("_")[1]

    revoked = admin(collector.db, "token", "revoke", token_id)

    assert revoked.returncode == 0, revoked.stderr
    response = session.get(f"{project.url}/ui/runs", timeout=30)
    assert "Your session ended" in response.text
    assert not session.cookies
    assert all(row["token_id"] != token_id for row in web_sessions(collector.db))


def test_a_session_left_idle_past_its_idle_lifetime_ends(
    start_collector: Callable[..., CollectorProcess], sign_in: SignIn
) -> None:
    collector = start_collector(token_rate_per_s="0", session_idle_s="1")
    project = new_project(collector)
    cookie = cookie_of(sign_in(collector.url, project.read_token))
    assert page_status(collector.url, cookie)[0] == 200

    time.sleep(1.5)

    status, location = page_status(collector.url, cookie)
    assert status == 303 and "ended=1" in location
    assert web_sessions(collector.db) == []  # ended sessions are deleted


def test_a_busy_session_ends_at_its_absolute_lifetime(
    start_collector: Callable[..., CollectorProcess], sign_in: SignIn
) -> None:
    collector = start_collector(token_rate_per_s="0", session_idle_s="1", session_absolute_s="2")
    project = new_project(collector)
    cookie = cookie_of(sign_in(collector.url, project.read_token))
    started = time.monotonic()

    seen: list[int] = []
    while time.monotonic() - started < 3:
        seen.append(page_status(collector.url, cookie)[0])
        time.sleep(0.25)

    assert seen[0] == 200 and seen[-1] == 303
    assert seen == sorted(seen)  # views every 0.25 s kept the 1 s idle lifetime from ending it before
    assert seen.count(200) >= 4


def test_the_database_holds_only_the_sha256_of_the_session_id(
    start_collector: Callable[..., CollectorProcess], sign_in: SignIn
) -> None:
    collector = start_collector(token_rate_per_s="0")
    project = new_project(collector)
    cookie = cookie_of(sign_in(collector.url, project.read_token))

    rows = web_sessions(collector.db)
    files = [Path(str(collector.db) + suffix) for suffix in ("", "-wal")]
    stored = b"".join(path.read_bytes() for path in files if path.exists())

    assert [bytes(row["id_hash"]) for row in rows] == [hashlib.sha256(cookie.encode()).digest()]
    assert rows[0]["token_id"] == project.read_token.split("_")[1]
    assert cookie.encode() not in stored


def test_signing_in_purges_expired_sessions(start_collector: Callable[..., CollectorProcess], sign_in: SignIn) -> None:
    collector = start_collector(token_rate_per_s="0", session_idle_s="1")
    project = new_project(collector)
    for _ in range(3):
        sign_in(collector.url, project.read_token)
    time.sleep(1.5)

    sign_in(collector.url, project.read_token)

    assert len(web_sessions(collector.db)) == 1
