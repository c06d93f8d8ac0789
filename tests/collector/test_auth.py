from __future__ import annotations

import dataclasses
import threading
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import collector.auth
import collector.settings
from collector.auth import Authenticator, Principal
from collector.errors import CollectorError, ConfigError, Forbidden, TooManyRequests, Unauthorized
from collector.metrics import Metrics
from collector.model import Project, TokenRecord
from collector.settings import Settings
from collector.timeutil import format_utc
from collector.tokens import BASE62, create_token, hash_secret, mint_token
from collector.tokens import secret_matches as real_secret_matches

PROJECT = Project(id=1, org="octo", name="app", created_at="2026-01-01T00:00:00.000000Z")
EPOCH = datetime(2026, 1, 12, 10, 0, tzinfo=timezone.utc)


class FakeTokenStore:
    """The token part of the Store, in a dict: auth must be testable without a database."""

    def __init__(self) -> None:
        self.tokens: dict[str, TokenRecord] = {}
        self.lookups = 0
        self.touches: list[tuple[str, str]] = []

    def insert_token(self, token: TokenRecord) -> None:
        self.tokens[token.token_id] = token

    def get_token(self, token_id: str) -> TokenRecord | None:
        self.lookups += 1
        return self.tokens.get(token_id)

    def touch_token(self, token_id: str, when: str) -> None:
        self.touches.append((token_id, when))

    def revoke_token(self, token_id: str, when: str) -> bool:
        record = self.tokens.get(token_id)
        if record is None:
            return False
        if record.revoked_at is None:
            self.tokens[token_id] = dataclasses.replace(record, revoked_at=when)
        return True


class FakeTime:
    """One fake time for both clocks the Authenticator takes: monotonic seconds and UTC strings."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def monotonic(self) -> float:
        return self.seconds

    def utc(self) -> str:
        return format_utc(EPOCH + timedelta(seconds=self.seconds))

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@pytest.fixture
def store() -> FakeTokenStore:
    return FakeTokenStore()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def make_auth(store: FakeTokenStore, fake_time: FakeTime, metrics: Metrics) -> Callable[..., Authenticator]:
    def make(**settings: Any) -> Authenticator:
        return Authenticator(
            store,
            Settings(bcrypt_rounds=4, **settings),
            metrics,
            clock=fake_time.monotonic,
            now=fake_time.utc,
        )

    return make


@pytest.fixture
def auth(make_auth: Callable[..., Authenticator]) -> Authenticator:
    return make_auth()


@pytest.fixture
def issue(store: FakeTokenStore, fake_time: FakeTime) -> Callable[..., str]:
    def issue_token(
        scopes: tuple[str, ...] = ("ingest",),
        *,
        project: Project | None = PROJECT,
        expires_in_days: float | None = None,
    ) -> str:
        minted, _ = create_token(
            store,
            project=project,
            scopes=scopes,
            expires_in_days=expires_in_days,
            bcrypt_rounds=4,
            now=fake_time.utc(),
        )
        return minted.token

    return issue_token


def bearer(token: str) -> str:
    return f"Bearer {token}"


def known_id_with_wrong_secret(store: FakeTokenStore) -> str:
    """A well-formed token whose id is stored with the hash of another secret."""
    minted = mint_token()
    store.insert_token(
        TokenRecord(
            token_id=minted.token_id,
            secret_hash=hash_secret(mint_token().secret, 4),
            project=PROJECT,
            scopes=("ingest",),
            created_at="2026-01-01T00:00:00.000000Z",
        )
    )
    return minted.token


def bcrypt_checks(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("testrun_bcrypt_verifications_total") or 0.0


def failures(metrics: Metrics, reason: str) -> float:
    return metrics.registry.get_sample_value("testrun_auth_failures_total", {"reason": reason}) or 0.0


def refusal(auth: Authenticator, authorization: str | None, scope: str = "ingest", client: str = "") -> CollectorError:
    with pytest.raises(CollectorError) as caught:
        auth.authenticate(authorization, scope=scope, client=client)
    return caught.value


def answer(error: CollectorError) -> tuple[Any, ...]:
    return type(error), error.status, error.message, error.headers, error.body()


def token_id_of(token: str) -> str:
    return token[8:20]


# --- success -------------------------------------------------------------------


def test_a_valid_token_with_the_needed_scope_authenticates_as_its_project(
    auth: Authenticator, issue: Callable[..., str]
) -> None:
    token = issue(("ingest", "read"))

    principal = auth.authenticate(bearer(token), scope="read")

    assert principal == Principal(
        token_id=token_id_of(token), project=PROJECT, scopes=("ingest", "read"), actor=token_id_of(token)
    )


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_the_bearer_scheme_is_case_insensitive(auth: Authenticator, issue: Callable[..., str], scheme: str) -> None:
    token = issue()

    assert auth.authenticate(f"{scheme} {token}", scope="ingest").project == PROJECT


def test_an_admin_token_authenticates_with_no_project_for_the_admin_scope(
    auth: Authenticator, issue: Callable[..., str]
) -> None:
    token = issue(("admin",), project=None)

    principal = auth.authenticate(bearer(token), scope="admin")

    assert principal.project is None
    assert principal.scopes == ("admin",)


# --- scopes --------------------------------------------------------------------


def test_a_valid_token_without_the_needed_scope_is_forbidden_naming_the_scope(
    auth: Authenticator, issue: Callable[..., str], metrics: Metrics
) -> None:
    error = refusal(auth, bearer(issue(("ingest",))), scope="read")

    assert isinstance(error, Forbidden)
    assert error.message == "this token lacks the 'read' scope"
    assert failures(metrics, "forbidden") == 1


def test_admin_and_project_tokens_cannot_stand_in_for_each_other(
    auth: Authenticator, issue: Callable[..., str]
) -> None:
    admin = issue(("admin",), project=None)
    project = issue(("ingest", "read"))

    assert isinstance(refusal(auth, bearer(admin), scope="ingest"), Forbidden)
    assert isinstance(refusal(auth, bearer(project), scope="admin"), Forbidden)


def test_a_wrong_secret_is_unauthorized_even_when_the_scope_is_also_wrong(
    auth: Authenticator, store: FakeTokenStore
) -> None:
    assert isinstance(refusal(auth, bearer(known_id_with_wrong_secret(store)), scope="read"), Unauthorized)


def test_asking_for_a_scope_that_does_not_exist_is_a_programming_error(
    auth: Authenticator, issue: Callable[..., str]
) -> None:
    with pytest.raises(ValueError):
        auth.authenticate(bearer(issue()), scope="write")


# --- refusals: all the same 401 --------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "   ", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b", "Token testrun_x", "testrun_abc"],
)
def test_a_missing_or_malformed_header_is_unauthorized_without_a_lookup(
    auth: Authenticator, store: FakeTokenStore, authorization: str | None
) -> None:
    assert isinstance(refusal(auth, authorization), Unauthorized)
    assert store.lookups == 0


def test_a_mistyped_token_is_refused_by_its_checksum_without_a_lookup_or_bcrypt(
    auth: Authenticator, issue: Callable[..., str], store: FakeTokenStore, metrics: Metrics
) -> None:
    token = issue()
    typo = token[:30] + ("a" if token[30] != "a" else "b") + token[31:]

    assert isinstance(refusal(auth, bearer(typo)), Unauthorized)
    assert store.lookups == 0
    assert bcrypt_checks(metrics) == 0
    assert failures(metrics, "malformed") == 1


def test_an_unknown_id_and_a_wrong_secret_get_identical_answers_after_one_bcrypt_each(
    auth: Authenticator, store: FakeTokenStore, metrics: Metrics
) -> None:
    unknown = refusal(auth, bearer(mint_token().token))
    assert bcrypt_checks(metrics) == 1
    wrong_secret = refusal(auth, bearer(known_id_with_wrong_secret(store)))
    assert bcrypt_checks(metrics) == 2

    assert isinstance(unknown, Unauthorized)
    assert answer(unknown) == answer(wrong_secret)
    assert failures(metrics, "unknown") == 1
    assert failures(metrics, "bad_secret") == 1


def test_every_kind_of_authentication_failure_gets_the_same_401(
    auth: Authenticator, store: FakeTokenStore, issue: Callable[..., str], fake_time: FakeTime
) -> None:
    revoked = issue()
    store.revoke_token(token_id_of(revoked), fake_time.utc())
    expired = issue(expires_in_days=1)
    fake_time.advance(86400)

    answers = [
        answer(refusal(auth, authorization))
        for authorization in (
            None,
            "Basic abc",
            bearer("testrun_garbage"),
            bearer(mint_token().token),
            bearer(known_id_with_wrong_secret(store)),
            bearer(revoked),
            bearer(expired),
        )
    ]

    assert all(a == answers[0] for a in answers)
    kind, status, _, headers, _ = answers[0]
    assert (kind, status) == (Unauthorized, 401)
    assert headers["WWW-Authenticate"].startswith("Bearer")


def test_no_refusal_carries_the_token_or_its_secret(
    make_auth: Callable[..., Authenticator], store: FakeTokenStore, issue: Callable[..., str]
) -> None:
    auth = make_auth(auth_failures_per_token=1, token_rate_per_s=1, token_burst=1)
    good = issue()
    wrong = known_id_with_wrong_secret(store)
    errors = [
        refusal(auth, bearer(wrong)),
        refusal(auth, bearer(wrong)),
        refusal(auth, bearer(good), scope="read"),
        refusal(auth, bearer(good)),
    ]

    assert [type(e) for e in errors] == [Unauthorized, TooManyRequests, Forbidden, TooManyRequests]
    for error in errors:
        for token in (good, wrong):
            shown = f"{error} {error!r} {error.body()} {error.headers}"
            assert token not in shown
            assert token[21:64] not in shown


# --- verification is cached, lifecycle is not --------------------------------------


def test_bcrypt_runs_once_per_token_while_every_request_looks_the_row_up_once(
    auth: Authenticator, issue: Callable[..., str], store: FakeTokenStore, metrics: Metrics
) -> None:
    token = issue()

    for _ in range(50):
        auth.authenticate(bearer(token), scope="ingest")

    assert bcrypt_checks(metrics) == 1
    assert store.lookups == 50


def test_bcrypt_is_skipped_for_a_verified_token_via_the_module_function(
    auth: Authenticator, issue: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = issue()
    calls: list[str] = []

    def counting(secret: str, secret_hash: bytes) -> bool:
        calls.append(secret)
        return real_secret_matches(secret, secret_hash)

    monkeypatch.setattr(collector.auth, "secret_matches", counting)

    for _ in range(10):
        auth.authenticate(bearer(token), scope="ingest")

    assert len(calls) == 1


def test_a_revoked_token_is_refused_on_the_very_next_request_even_when_cached(
    auth: Authenticator, issue: Callable[..., str], store: FakeTokenStore, fake_time: FakeTime, metrics: Metrics
) -> None:
    token = issue()
    auth.authenticate(bearer(token), scope="ingest")

    store.revoke_token(token_id_of(token), fake_time.utc())

    assert isinstance(refusal(auth, bearer(token)), Unauthorized)
    assert failures(metrics, "revoked") == 1


def test_a_revoked_token_is_refused_by_a_process_that_never_saw_it(
    auth: Authenticator, issue: Callable[..., str], store: FakeTokenStore, fake_time: FakeTime
) -> None:
    token = issue()
    store.revoke_token(token_id_of(token), fake_time.utc())

    assert isinstance(refusal(auth, bearer(token)), Unauthorized)


def test_a_token_is_refused_once_its_expiry_is_reached_even_when_cached(
    auth: Authenticator, issue: Callable[..., str], fake_time: FakeTime, metrics: Metrics
) -> None:
    token = issue(expires_in_days=1)
    fake_time.advance(86400 - 1)
    auth.authenticate(bearer(token), scope="ingest")

    fake_time.advance(1)

    assert isinstance(refusal(auth, bearer(token)), Unauthorized)
    assert failures(metrics, "expired") == 1


def test_an_expired_token_is_refused_by_a_process_that_never_saw_it(
    auth: Authenticator, issue: Callable[..., str], fake_time: FakeTime
) -> None:
    token = issue(expires_in_days=0.5)
    fake_time.advance(86400)

    assert isinstance(refusal(auth, bearer(token)), Unauthorized)


def test_a_deleted_token_is_refused_and_needs_bcrypt_again_if_it_comes_back(
    auth: Authenticator, issue: Callable[..., str], store: FakeTokenStore, metrics: Metrics
) -> None:
    token = issue()
    auth.authenticate(bearer(token), scope="ingest")
    record = store.tokens.pop(token_id_of(token))

    assert isinstance(refusal(auth, bearer(token)), Unauthorized)
    store.insert_token(record)
    auth.authenticate(bearer(token), scope="ingest")

    assert bcrypt_checks(metrics) == 2


def test_the_verified_cache_is_bounded_and_forgets_the_least_recently_used(
    auth: Authenticator, issue: Callable[..., str], metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector.auth, "VERIFIED_CACHE_SIZE", 2)
    first, second, third = issue(), issue(), issue()
    for token in (first, second, first, third):
        auth.authenticate(bearer(token), scope="ingest")
    assert bcrypt_checks(metrics) == 3

    auth.authenticate(bearer(first), scope="ingest")
    assert bcrypt_checks(metrics) == 3
    auth.authenticate(bearer(second), scope="ingest")
    assert bcrypt_checks(metrics) == 4


# --- throttling failed attempts ------------------------------------------------------


def test_after_n_failures_an_id_gets_429_with_retry_after_and_no_more_bcrypt_until_the_window_frees(
    make_auth: Callable[..., Authenticator], store: FakeTokenStore, fake_time: FakeTime, metrics: Metrics
) -> None:
    auth = make_auth(auth_failures_per_token=3, auth_failure_window_s=60)
    wrong = known_id_with_wrong_secret(store)
    for _ in range(3):
        assert isinstance(refusal(auth, bearer(wrong)), Unauthorized)
    lookups = store.lookups

    fake_time.advance(10)
    throttled = refusal(auth, bearer(wrong))

    assert isinstance(throttled, TooManyRequests)
    assert throttled.headers["Retry-After"] == "50"
    assert bcrypt_checks(metrics) == 3
    assert store.lookups == lookups
    assert failures(metrics, "throttled") == 1

    fake_time.advance(50)
    assert isinstance(refusal(auth, bearer(wrong)), Unauthorized)
    assert bcrypt_checks(metrics) == 4


def test_wrong_secrets_for_a_tokens_id_from_one_address_do_not_throttle_the_token_elsewhere(
    make_auth: Callable[..., Authenticator], issue: Callable[..., str], metrics: Metrics
) -> None:
    auth = make_auth(auth_failures_per_token=2, auth_failure_window_s=60)
    token = issue()
    wrong = _with_checksum(token[:21] + mint_token().secret)
    for _ in range(2):
        assert isinstance(refusal(auth, bearer(wrong), client="203.0.113.7"), Unauthorized)
    assert isinstance(refusal(auth, bearer(wrong), client="203.0.113.7"), TooManyRequests)

    principal = auth.authenticate(bearer(token), scope="ingest", client="198.51.100.2")

    assert principal.project == PROJECT
    assert failures(metrics, "throttled") == 1


def test_from_the_address_that_sent_the_wrong_secrets_a_correct_unverified_token_waits_out_the_window(
    make_auth: Callable[..., Authenticator], issue: Callable[..., str], fake_time: FakeTime
) -> None:
    auth = make_auth(auth_failures_per_token=2, auth_failure_window_s=60)
    token = issue()
    wrong = _with_checksum(token[:21] + mint_token().secret)
    for _ in range(2):
        refusal(auth, bearer(wrong), client="203.0.113.7")

    assert isinstance(refusal(auth, bearer(token), client="203.0.113.7"), TooManyRequests)
    fake_time.advance(60)
    assert auth.authenticate(bearer(token), scope="ingest", client="203.0.113.7").project == PROJECT


def test_callers_that_name_no_client_share_one_allowance_per_id(
    make_auth: Callable[..., Authenticator], store: FakeTokenStore
) -> None:
    auth = make_auth(auth_failures_per_token=1)
    wrong = known_id_with_wrong_secret(store)
    refusal(auth, bearer(wrong))

    assert isinstance(refusal(auth, bearer(wrong)), TooManyRequests)
    assert isinstance(refusal(auth, bearer(wrong), client="198.51.100.2"), Unauthorized)


def test_a_token_verified_before_keeps_working_while_its_id_is_throttled(
    make_auth: Callable[..., Authenticator], issue: Callable[..., str]
) -> None:
    auth = make_auth(auth_failures_per_token=2)
    token = issue()
    auth.authenticate(bearer(token), scope="ingest")
    wrong = _with_checksum(token[:21] + mint_token().secret)
    for _ in range(2):
        refusal(auth, bearer(wrong))
    assert isinstance(refusal(auth, bearer(wrong)), TooManyRequests)

    assert auth.authenticate(bearer(token), scope="ingest").project == PROJECT


def test_unknown_ids_are_throttled_like_known_ones(make_auth: Callable[..., Authenticator], metrics: Metrics) -> None:
    auth = make_auth(auth_failures_per_token=2)
    unknown = mint_token().token
    for _ in range(2):
        assert isinstance(refusal(auth, bearer(unknown)), Unauthorized)

    assert isinstance(refusal(auth, bearer(unknown)), TooManyRequests)
    assert bcrypt_checks(metrics) == 2


def test_throttling_one_id_leaves_other_ids_alone(
    make_auth: Callable[..., Authenticator], store: FakeTokenStore, issue: Callable[..., str]
) -> None:
    auth = make_auth(auth_failures_per_token=1)
    wrong = known_id_with_wrong_secret(store)
    refusal(auth, bearer(wrong))
    assert isinstance(refusal(auth, bearer(wrong)), TooManyRequests)

    assert auth.authenticate(bearer(issue()), scope="ingest").project == PROJECT


def test_the_failure_table_is_bounded_and_forgets_the_oldest_ids(
    make_auth: Callable[..., Authenticator], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector.auth, "FAILURE_TABLE_SIZE", 2)
    auth = make_auth(auth_failures_per_token=1)
    first, second, third = (mint_token().token for _ in range(3))
    for token in (first, second, third):
        refusal(auth, bearer(token))

    assert isinstance(refusal(auth, bearer(third)), TooManyRequests)
    assert isinstance(refusal(auth, bearer(first)), Unauthorized)


def test_past_the_process_wide_failure_budget_every_bcrypt_check_waits_a_second(
    make_auth: Callable[..., Authenticator], issue: Callable[..., str], fake_time: FakeTime, metrics: Metrics
) -> None:
    auth = make_auth(auth_failures_per_second=3, auth_failures_per_token=100)
    verified = issue()
    auth.authenticate(bearer(verified), scope="ingest")
    for _ in range(3):
        assert isinstance(refusal(auth, bearer(mint_token().token)), Unauthorized)
    checks = bcrypt_checks(metrics)

    over_budget = refusal(auth, bearer(mint_token().token))
    new_but_correct = refusal(auth, bearer(issue()))

    assert isinstance(over_budget, TooManyRequests)
    assert over_budget.headers["Retry-After"] == "1"
    assert isinstance(new_but_correct, TooManyRequests)
    assert bcrypt_checks(metrics) == checks
    assert failures(metrics, "throttled_global") == 2
    assert auth.authenticate(bearer(verified), scope="ingest").project == PROJECT

    fake_time.advance(1)
    assert auth.authenticate(bearer(issue()), scope="ingest").project == PROJECT


def test_bcrypt_checks_still_running_count_against_the_process_wide_budget(
    make_auth: Callable[..., Authenticator], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = make_auth(auth_failures_per_second=2, auth_failures_per_token=100, bcrypt_concurrency=10)
    started = threading.Semaphore(0)
    release = threading.Event()

    def slow_mismatch(secret: str, secret_hash: bytes) -> bool:
        if threading.current_thread() is threading.main_thread():
            return False
        started.release()
        release.wait(timeout=30)
        return False

    monkeypatch.setattr(collector.auth, "secret_matches", slow_mismatch)
    outcomes: list[CollectorError] = []

    def attempt() -> None:
        try:
            auth.authenticate(bearer(mint_token().token), scope="ingest")
        except CollectorError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert started.acquire(timeout=30)
    try:
        assert isinstance(refusal(auth, bearer(mint_token().token)), TooManyRequests)
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=30)
    assert [type(o) for o in outcomes] == [Unauthorized, Unauthorized]


def test_past_the_bcrypt_concurrency_a_check_is_refused_at_once_while_verified_tokens_carry_on(
    make_auth: Callable[..., Authenticator],
    issue: Callable[..., str],
    metrics: Metrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = make_auth(bcrypt_concurrency=1, auth_failures_per_second=100, auth_failures_per_token=100)
    verified, new_but_correct = issue(), issue()
    auth.authenticate(bearer(verified), scope="ingest")
    in_bcrypt, release = threading.Event(), threading.Event()

    def stuck_mismatch(secret: str, secret_hash: bytes) -> bool:
        in_bcrypt.set()
        release.wait(timeout=30)
        return False

    monkeypatch.setattr(collector.auth, "secret_matches", stuck_mismatch)
    stuck = threading.Thread(target=refusal, args=(auth, bearer(mint_token().token)))
    stuck.start()
    try:
        assert in_bcrypt.wait(timeout=30)
        answers: list[Any] = []
        second = threading.Thread(target=lambda: answers.extend([
            refusal(auth, bearer(mint_token().token)),
            refusal(auth, bearer(new_but_correct)),
            auth.authenticate(bearer(verified), scope="ingest"),
        ]))
        second.start()
        second.join(timeout=10)
        alive = second.is_alive()
    finally:
        release.set()
        stuck.join(timeout=30)

    assert not alive, "a request waited for the bcrypt check in flight"
    busy, busy_correct, principal = answers
    assert isinstance(busy, TooManyRequests) and busy.headers["Retry-After"] == "1"
    assert isinstance(busy_correct, TooManyRequests)
    assert principal.project == PROJECT
    assert failures(metrics, "bcrypt_busy") == 2
    monkeypatch.setattr(collector.auth, "secret_matches", real_secret_matches)
    assert auth.authenticate(bearer(new_but_correct), scope="ingest").project == PROJECT


def test_bcrypt_concurrency_defaults_to_half_the_cores_and_is_checked_when_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collector.settings.os, "cpu_count", lambda: 8)
    assert Settings().bcrypt_concurrency == 4
    monkeypatch.setattr(collector.settings.os, "cpu_count", lambda: 1)
    assert Settings().bcrypt_concurrency == 1
    assert Settings.resolve(env={"TESTRUN_BCRYPT_CONCURRENCY": "3"}).bcrypt_concurrency == 3

    with pytest.raises(ConfigError) as caught:
        Settings.resolve(env={"TESTRUN_BCRYPT_CONCURRENCY": "0"})
    assert str(caught.value) == "environment variable TESTRUN_BCRYPT_CONCURRENCY='0' must be at least 1"


# --- rate limit per token ------------------------------------------------------------


def test_a_token_past_its_burst_gets_429_with_the_wait_for_the_next_request(
    make_auth: Callable[..., Authenticator], issue: Callable[..., str], fake_time: FakeTime, metrics: Metrics
) -> None:
    auth = make_auth(token_rate_per_s=0.25, token_burst=2)
    token = issue()
    for _ in range(2):
        auth.authenticate(bearer(token), scope="ingest")

    limited = refusal(auth, bearer(token))
    assert isinstance(limited, TooManyRequests)
    assert limited.headers["Retry-After"] == "4"
    assert failures(metrics, "rate_limited") == 1

    fake_time.advance(4)
    auth.authenticate(bearer(token), scope="ingest")
    fake_time.advance(1)
    assert refusal(auth, bearer(token)).headers["Retry-After"] == "3"


def test_the_rate_limit_is_per_token(make_auth: Callable[..., Authenticator], issue: Callable[..., str]) -> None:
    auth = make_auth(token_rate_per_s=1, token_burst=1)
    first, second = issue(), issue()
    auth.authenticate(bearer(first), scope="ingest")

    assert isinstance(refusal(auth, bearer(first)), TooManyRequests)
    assert auth.authenticate(bearer(second), scope="ingest").project == PROJECT


def test_a_rate_of_zero_turns_the_limit_off(make_auth: Callable[..., Authenticator], issue: Callable[..., str]) -> None:
    auth = make_auth(token_rate_per_s=0, token_burst=1)
    token = issue()

    for _ in range(300):
        auth.authenticate(bearer(token), scope="ingest")


# --- last use --------------------------------------------------------------------------


def test_last_use_is_written_at_most_once_a_minute_per_token(
    auth: Authenticator, issue: Callable[..., str], store: FakeTokenStore, fake_time: FakeTime
) -> None:
    token = issue()
    first_use = fake_time.utc()
    for _ in range(10):
        auth.authenticate(bearer(token), scope="ingest")
    fake_time.advance(59)
    auth.authenticate(bearer(token), scope="ingest")
    assert store.touches == [(token_id_of(token), first_use)]

    fake_time.advance(1)
    auth.authenticate(bearer(token), scope="ingest")

    assert store.touches == [(token_id_of(token), first_use), (token_id_of(token), fake_time.utc())]


def test_a_refused_request_does_not_write_last_use(
    auth: Authenticator, store: FakeTokenStore, issue: Callable[..., str], fake_time: FakeTime
) -> None:
    refusal(auth, bearer(known_id_with_wrong_secret(store)))
    revoked = issue()
    store.revoke_token(token_id_of(revoked), fake_time.utc())
    refusal(auth, bearer(revoked))

    assert store.touches == []


# --- concurrency -------------------------------------------------------------------------


def test_many_threads_authenticating_one_token_all_succeed(
    make_auth: Callable[..., Authenticator], issue: Callable[..., str], metrics: Metrics
) -> None:
    auth = make_auth(token_rate_per_s=0)
    token = issue()
    auth.authenticate(bearer(token), scope="ingest")
    principals: list[Principal] = []

    def work() -> None:
        for _ in range(50):
            principals.append(auth.authenticate(bearer(token), scope="ingest"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(principals) == 400
    assert bcrypt_checks(metrics) == 1


def slow_bcrypt(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Make bcrypt stop until released: (entered, release)."""
    entered, release = threading.Event(), threading.Event()

    def held(secret: str, secret_hash: bytes) -> bool:
        entered.set()
        release.wait(timeout=30)
        return real_secret_matches(secret, secret_hash)

    monkeypatch.setattr(collector.auth, "secret_matches", held)
    return entered, release


def concurrently(count: int, call: Callable[[], Any]) -> tuple[list[Any], list[threading.Thread]]:
    """Start ``count`` calls on threads of their own; each one's result (or the CollectorError it raised)
    lands in the list once its thread has ended."""
    results: list[Any] = [None] * count

    def one(i: int) -> None:
        try:
            results[i] = call()
        except CollectorError as error:
            results[i] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    return results, threads


def until_waiting(auth: Authenticator, count: int) -> None:
    """Return once ``count`` requests wait for a check in flight."""
    for _ in range(3000):
        if auth._waiting >= count:  # noqa: SLF001
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{count} requests never came to wait for the check in flight")


def test_concurrent_first_requests_of_one_token_share_one_bcrypt_check_and_all_succeed(
    make_auth: Callable[..., Authenticator],
    issue: Callable[..., str],
    metrics: Metrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = make_auth(bcrypt_concurrency=1, threads=8, token_rate_per_s=0)
    token = issue()
    entered, release = slow_bcrypt(monkeypatch)

    results, threads = concurrently(1, lambda: auth.authenticate(bearer(token), scope="ingest"))
    assert entered.wait(timeout=30)
    waiting, waiting_threads = concurrently(3, lambda: auth.authenticate(bearer(token), scope="ingest"))
    until_waiting(auth, 3)
    release.set()
    for thread in threads + waiting_threads:
        thread.join(timeout=30)

    assert [principal.project for principal in results + waiting] == [PROJECT] * 4
    assert bcrypt_checks(metrics) == 1
    assert failures(metrics, "bcrypt_busy") == 0


def test_requests_waiting_on_a_wrong_secrets_check_share_its_401_and_count_against_their_address(
    make_auth: Callable[..., Authenticator],
    store: FakeTokenStore,
    metrics: Metrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = make_auth(bcrypt_concurrency=1, threads=8, auth_failures_per_token=2)
    forged = known_id_with_wrong_secret(store)
    entered, release = slow_bcrypt(monkeypatch)

    first, threads = concurrently(1, lambda: auth.authenticate(bearer(forged), scope="ingest", client="10.0.0.9"))
    assert entered.wait(timeout=30)
    waiting, waiting_threads = concurrently(
        1, lambda: auth.authenticate(bearer(forged), scope="ingest", client="10.0.0.9")
    )
    until_waiting(auth, 1)
    release.set()
    for thread in threads + waiting_threads:
        thread.join(timeout=30)

    assert [type(result) for result in first + waiting] == [Unauthorized, Unauthorized]
    assert bcrypt_checks(metrics) == 1
    throttled = refusal(auth, bearer(forged), client="10.0.0.9")
    assert isinstance(throttled, TooManyRequests)  # two failures from that address: its allowance is spent
    assert bcrypt_checks(metrics) == 1


def test_past_half_the_threads_waiting_on_one_check_more_requests_get_429_at_once(
    make_auth: Callable[..., Authenticator],
    issue: Callable[..., str],
    metrics: Metrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = make_auth(bcrypt_concurrency=1, threads=4, token_rate_per_s=0)
    token = issue()
    entered, release = slow_bcrypt(monkeypatch)

    first, threads = concurrently(1, lambda: auth.authenticate(bearer(token), scope="ingest"))
    assert entered.wait(timeout=30)
    waiting, waiting_threads = concurrently(2, lambda: auth.authenticate(bearer(token), scope="ingest"))
    until_waiting(auth, 2)
    try:
        one_too_many = refusal(auth, bearer(token))
    finally:
        release.set()
        for thread in threads + waiting_threads:
            thread.join(timeout=30)

    assert isinstance(one_too_many, TooManyRequests) and one_too_many.headers["Retry-After"] == "1"
    assert [principal.project for principal in first + waiting] == [PROJECT] * 3
    assert bcrypt_checks(metrics) == 1


def _with_checksum(body: str) -> str:
    """A well-formed token from ``testrun_<id>_<secret>``: a wrong secret for a real id."""
    number, digits = zlib.crc32(body.encode()), ""
    for _ in range(6):
        number, digit = divmod(number, 62)
        digits = BASE62[digit] + digits
    return body + digits
