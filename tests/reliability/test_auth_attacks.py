"""Attacks on authentication: other projects' data, dead tokens, secret floods, timing, admin routes."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import multiprocessing
import queue
import secrets
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from collector import accounts
from collector.auth import Authenticator
from collector.errors import Unauthorized
from collector.settings import Settings
from collector.store.sqlite import SQLiteStore
from collector.tokens import BASE62, create_token, format_token, mint_token
from collector_harness import CollectorProcess, ProjectAccess, a_run, new_project
from reliability_support import metric


def forged(token_id: str | None = None) -> str:
    """A well-formed token (valid checksum) with a random secret: it reaches the database and bcrypt."""
    return format_token(token_id or "".join(secrets.choice(BASE62) for _ in range(12)), mint_token().secret)


def token_id_of(token: str) -> str:
    return token.split("_")[1]


def run_path(run_id: str) -> str:
    return "/api/v1/runs/" + quote(run_id, safe="")


# --- one project's token against another project's runs -------------------------------------------


def test_a_token_of_project_a_never_reads_or_changes_project_bs_runs(collector: CollectorProcess) -> None:
    a, b = new_project(collector), new_project(collector)
    secret_ids = ["b-private", "github:octo/b:1:1:test:x", "b/../a", "b%2F..%2Fa", "b\u00e9\u2603"]
    for run_id in secret_ids:
        assert b.post_run(a_run(run_id, vcs={"branch": "secret-branch"})).status_code == 201
    b_listing = b.get("/api/v1/runs?limit=200").json()

    for run_id in secret_ids:
        for token in (a.read_token, a.ingest_token):
            response = a.get(run_path(run_id), token=token)
            assert response.status_code in (403, 404), response.text
            assert "secret-branch" not in response.text and "test_x.py" not in response.text
        # The same run_id sent with A's token is A's own run; B's stays as it was.
        assert a.post_run(a_run(run_id, tests=[])| {"status": "error"}).status_code == 201
    assert a.get("/api/v1/runs?branch=secret-branch").json()["runs"] == []
    # B's own cursor, replayed with A's token, pages through A's runs only.
    b_cursor_page = b.get("/api/v1/runs?limit=1").json()
    replayed = a.get(f"/api/v1/runs?limit=200&cursor={b_cursor_page['next_cursor']}").json()
    assert all(run["status"] == "error" for run in replayed["runs"])
    assert b.get("/api/v1/runs?limit=200").json() == b_listing
    for run_id in secret_ids:
        stored = b.get(run_path(run_id)).json()
        assert stored["status"] == "failed" and stored["counts"]["total"] == 3


@pytest.mark.parametrize("path", ["/api/v1/runs", "/api/v1/runs/any-run", "/tokens", "/metrics-not"])
def test_every_read_without_a_valid_token_is_a_401_that_shows_nothing(
    collector: CollectorProcess, project: ProjectAccess, path: str
) -> None:
    project.post_run(a_run("only-with-a-token"))
    for header in (None, "Bearer", "Basic dXNlcjpwYXNz", f"Bearer {forged()}", f"Bearer {project.read_token}x"):
        headers = {"Authorization": header} if header else {}
        response = requests.get(collector.url + path, headers=headers, timeout=30)
        assert response.status_code in (401, 404)
        assert "only-with-a-token" not in response.text


# --- dead tokens ------------------------------------------------------------------------------------


def test_revoked_and_expired_tokens_are_refused_for_reading_and_writing(collector: CollectorProcess) -> None:
    project = new_project(collector)
    admin = {"Authorization": f"Bearer {collector.admin_token}"}
    minted = requests.post(
        collector.url + "/tokens",
        json={"project": project.slug, "scopes": ["ingest", "read"], "expires_in_days": 2 / 86400},
        headers=admin,
        timeout=30,
    ).json()
    short_lived = minted["token"]
    revoked = requests.post(
        collector.url + "/tokens", json={"project": project.slug, "scopes": ["ingest", "read"]}, headers=admin,
        timeout=30,
    ).json()["token"]
    for token in (short_lived, revoked):
        assert project.post_run(a_run(f"before-{token_id_of(token)}"), token=token).status_code == 201
        assert project.get("/api/v1/runs", token=token).status_code == 200
    deleted = requests.delete(f"{collector.url}/tokens/{token_id_of(revoked)}", headers=admin, timeout=30)
    assert deleted.status_code == 200
    time.sleep(max(0.0, 2.2 - 0.0))  # the short-lived token's two seconds run out

    for token in (short_lived, revoked):
        write = project.post_run(a_run(f"after-{token_id_of(token)}"), token=token)
        read = project.get("/api/v1/runs", token=token)
        assert (write.status_code, read.status_code) == (401, 401)
        assert write.json()["message"] == read.json()["message"] == Unauthorized().message
    listed = [run["run_id"] for run in project.get("/api/v1/runs").json()["runs"]]
    assert not [run_id for run_id in listed if run_id.startswith("after-")]


# --- floods of wrong secrets ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_flood_of_wrong_secrets_runs_bcrypt_a_bounded_number_of_times_per_second(
    start_collector: Callable[..., CollectorProcess],
) -> None:
    """1,200 bad tokens from 12 threads: wrong secrets for one valid id, and random unknown ids.

    At most TESTRUN_AUTH_FAILURES_PER_TOKEN checks per id per window, and at
    most TESTRUN_AUTH_FAILURES_PER_SECOND failed checks per second in the
    process; beyond that 429 with Retry-After, and the valid token, verified
    before the flood, keeps working throughout.
    """
    per_second = 20
    collector = start_collector(auth_failures_per_second=str(per_second), token_rate_per_s="0")
    project = new_project(collector)
    assert project.post_run(a_run("before-the-flood")).status_code == 201
    valid_id = token_id_of(project.ingest_token)
    before = metric(collector.url, "testrun_bcrypt_verifications_total")
    tokens = [forged(valid_id) if i % 2 else forged() for i in range(1200)]

    def attempt(token: str) -> tuple[int, str | None]:
        # Only the status and header are kept: a kept Response keeps its connection open, and
        # 100 open connections are waitress's connection_limit, past which it accepts no more.
        with requests.post(f"{collector.url}/api/v1/runs", json=a_run("flood"),
                           headers={"Authorization": f"Bearer {token}"}, timeout=30) as response:
            return response.status_code, response.headers.get("Retry-After")

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(attempt, tokens))
        still_works = project.post_run(a_run("during-the-flood"))
    elapsed = time.monotonic() - started
    checks = metric(collector.url, "testrun_bcrypt_verifications_total") - before

    statuses = {status for status, _ in answers}
    assert statuses <= {401, 429}
    throttled = [retry_after for status, retry_after in answers if status == 429]
    assert throttled and all(retry_after and int(retry_after) >= 1 for retry_after in throttled)
    assert still_works.status_code == 201
    # The process-wide budget is per one-second window: a flood spanning `elapsed` seconds touches at
    # most ceil(elapsed) + 1 windows; the one valid id adds at most its own per-id allowance.
    assert checks <= per_second * (int(elapsed) + 2) + 5, (checks, elapsed)
    print(f"\nbcrypt flood: {len(tokens)} bad tokens in {elapsed:.1f} s -> {len(throttled)} x 429, "
          f"{len(answers) - len(throttled)} x 401, {checks:.0f} bcrypt checks ({checks / elapsed:.1f}/s)")


def _flood_forged_tokens(url: str, seconds: float, answers: Any) -> None:
    """One attacking connection, in a process of its own: forged tokens with random ids, back to back."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    body = json.dumps(a_run("flood"))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.request("POST", "/api/v1/runs", body=body, headers={
            "Authorization": f"Bearer {forged()}", "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        answers.put((response.status, response.getheader("Retry-After")))
    conn.close()


@pytest.mark.slow
def test_a_verified_token_stays_fast_while_forged_tokens_flood_bcrypt_at_cost_12(
    start_collector: Callable[..., CollectorProcess],
) -> None:
    """16 connections of forged tokens with random ids (free to make, each a bcrypt check) at the default cost.

    The checks beyond TESTRUN_BCRYPT_CONCURRENCY are answered 429 at once, so the
    server's threads stay free: a token verified before the flood keeps its
    answers fast (p50 within 250 ms; it is a few ms without the flood).
    """
    collector = start_collector(bcrypt_rounds="12", token_rate_per_s="0")
    project = new_project(collector)
    url = f"{collector.url}/api/v1/runs"
    verified = {"Authorization": f"Bearer {project.ingest_token}"}
    assert requests.post(url, json=a_run("verified"), headers=verified, timeout=30).status_code == 201
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    attackers = [context.Process(target=_flood_forged_tokens, args=(collector.url, 9.0, answers))
                 for _ in range(16)]
    for attacker in attackers:
        attacker.start()
    latencies = []
    try:
        time.sleep(1.5)
        with requests.Session() as session:
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline and len(latencies) < 30:
                started = time.perf_counter()
                response = session.post(url, json=a_run(f"during-{len(latencies)}"), headers=verified, timeout=60)
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 201, response.text
    finally:
        answered = []
        for attacker in attackers:
            while attacker.is_alive() or not answers.empty():
                try:
                    answered.append(answers.get(timeout=0.1))
                except queue.Empty:
                    pass
            attacker.join(timeout=60)

    p50 = statistics.median(latencies)
    statuses = {status for status, _ in answered}
    assert statuses <= {401, 429}, statuses
    assert all(retry_after and int(retry_after) >= 1 for status, retry_after in answered if status == 429)
    assert p50 <= 0.25, (p50, sorted(latencies))
    refused = sum(1 for status, _ in answered if status == 429)
    print(f"\nbcrypt flood at cost 12: {len(answered)} forged requests ({refused} x 429); verified token "
          f"p50 {p50 * 1000:.0f} ms over {len(latencies)} requests")


def test_wrong_secrets_for_a_tokens_public_id_from_elsewhere_do_not_lock_the_token_out(
    start_collector: Callable[..., CollectorProcess],
) -> None:
    """The id is public; five bad secrets with it must not stop the real token on a fresh process.

    The collector believes X-Forwarded-For from its trusted proxy (here the test
    itself), so the attacker and the CI job have addresses of their own.
    """
    collector = start_collector(trusted_proxy="127.0.0.1", token_rate_per_s="0")
    project = new_project(collector)  # minted over HTTP: this process has never verified its tokens
    attacker, ci = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.2"}
    stolen_id = token_id_of(project.ingest_token)

    refused = [project.post_run(a_run(f"attack-{i}"), token=forged(stolen_id), headers=attacker).status_code
               for i in range(7)]
    accepted = project.post_run(a_run("the-real-job"), headers=ci)

    assert refused == [401] * 5 + [429] * 2
    assert accepted.status_code == 201, accepted.text
    assert project.post_run(a_run("another-attack"), token=forged(stolen_id), headers=attacker).status_code == 429


# --- timing -------------------------------------------------------------------------------------------


def test_an_unknown_token_id_and_a_wrong_secret_take_the_same_time(tmp_path: Path) -> None:
    """Medians of interleaved samples, in-process, with a fixed bcrypt cost; throttles off."""
    rounds = 8
    store = SQLiteStore(str(tmp_path / "timing.sqlite3"))
    store.migrate()
    accounts.create_org(store, "acme")
    project = accounts.create_project(store, "acme", "web")
    real, _ = create_token(store, project=project, scopes=["ingest"], expires_in_days=None, bcrypt_rounds=rounds)
    settings = Settings(db="unused", bcrypt_rounds=rounds, auth_failure_window_s=0, auth_failures_per_second=10**6)
    authenticator = Authenticator(store, settings)
    samples: dict[str, list[float]] = {"unknown id": [], "wrong secret": []}
    forge = {"unknown id": lambda: forged(), "wrong secret": lambda: forged(real.token_id)}

    def timed(kind: str) -> float:
        header = f"Bearer {forge[kind]()}"
        started = time.perf_counter()
        with pytest.raises(Unauthorized):
            authenticator.authenticate(header, scope="ingest")
        return time.perf_counter() - started

    timed("unknown id")  # the dummy hash is made on first need: not part of what is compared
    for _ in range(40):
        for kind in samples:
            samples[kind].append(timed(kind))
    store.close()
    unknown, wrong = (statistics.median(samples[kind]) for kind in samples)
    assert 0.5 < unknown / wrong < 2.0, (unknown, wrong)
    print(f"\ntiming: median unknown id {unknown * 1000:.2f} ms, wrong secret {wrong * 1000:.2f} ms, "
          f"ratio {unknown / wrong:.2f}")


# --- admin routes -------------------------------------------------------------------------------------

ADMIN_ROUTES = [
    ("POST", "/orgs", {"name": "intruders"}),
    ("POST", "/projects", {"org": "intruders", "name": "x"}),
    ("POST", "/tokens", {"project": "intruders/x", "scopes": ["ingest"]}),
    ("GET", "/tokens", None),
    ("DELETE", "/tokens/AAAAAAAAAAAA", None),
]


@pytest.mark.parametrize("method, path, body", ADMIN_ROUTES, ids=[f"{m} {p}" for m, p, _ in ADMIN_ROUTES])
def test_admin_routes_refuse_everything_but_the_admin_credential(
    collector: CollectorProcess, project: ProjectAccess, method: str, path: str, body: Any
) -> None:
    refusals: list[tuple[str, int]] = []
    for name, header in {
        "no header": None,
        "empty bearer": "Bearer ",
        "basic auth": "Basic YWRtaW46YWRtaW4=",
        "forged admin-looking token": f"Bearer {forged()}",
        "the admin token with a typo": f"Bearer {collector.admin_token[:-1]}{'A' if collector.admin_token[-1] != 'A' else 'B'}",
        "the admin token twice": f"Bearer {collector.admin_token} {collector.admin_token}",
    }.items():
        headers = {"Authorization": header} if header is not None else {}
        response = requests.request(method, collector.url + path, json=body, headers=headers, timeout=30)
        refusals.append((name, response.status_code))
        assert response.status_code == 401, name
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for token in (project.ingest_token, project.read_token):
        response = requests.request(method, collector.url + path, json=body,
                                    headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert response.status_code == 403
    assert requests.post(collector.url + "/orgs", json={"name": "intruders"},
                         headers={"Authorization": f"Bearer {collector.admin_token}"}, timeout=30).status_code in (201, 409)
