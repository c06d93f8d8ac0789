"""The collector client against a scripted server on a loopback port (and a real collector at the end)."""

from __future__ import annotations

import gzip
import json
import logging
import random
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import requests
from collector_harness import ProjectAccess, a_run
from flaky_server import (
    FlakyServer,
    a_payload,
    dropped,
    echo_headers,
    error,
    raw,
    slow,
)

from junit_uploader.client import Accepted, CollectorClient, RetryPolicy
from junit_uploader.errors import ConfigError, PlainHTTPCollector, Rejected, Unreachable

TOKEN = "trk_3f9a1c_Zq8Lw2Vn7Xr4Tb6Ym1Kp5Hd9Gs3Jf0_c0ffee"
SECRET = TOKEN.split("_")[2]
RUN_ID = "github:octo/app:9127:1:test:pytest"
RUN_URL_PATH = "/api/v1/runs/github%3Aocto%2Fapp%3A9127%3A1%3Atest%3Apytest"


class FakeTime:
    """A monotonic clock that moves only when the client sleeps; the sleeps are recorded, never slept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


class AlwaysCeiling(random.Random):
    """Jitter that always picks the top of its range, so the backoff's growth shows plainly."""

    def uniform(self, a: float, b: float) -> float:
        return b


class TimeoutRecordingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[Any] = []

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.timeouts.append(kwargs.get("timeout"))
        return super().request(*args, **kwargs)


@pytest.fixture
def server() -> Iterator[FlakyServer]:
    with FlakyServer() as running:
        yield running


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client_for(fake_time: FakeTime) -> Callable[..., CollectorClient]:
    def make(url: str, *, seed: int = 7, rng: random.Random | None = None, **policy: Any) -> CollectorClient:
        return CollectorClient(
            url,
            TOKEN,
            policy=RetryPolicy(**policy),
            user_agent="junit-upload/9.9",
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            rng=rng or random.Random(seed),
        )

    return make


def jitter(seed: int, ceilings: list[float]) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(0, ceiling) for ceiling in ceilings]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "testrun.client" and r.levelno == logging.WARNING]


# --- a run accepted ---------------------------------------------------------------------------------------------


def test_a_run_is_posted_with_the_bearer_token_json_type_and_user_agent(
    server: FlakyServer, client_for: Callable[..., CollectorClient]
) -> None:
    client_for(server.url).post_run(a_payload())

    [request] = server.requests
    assert request.path == "/api/v1/runs"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "junit-upload/9.9"


def test_accepted_fields_come_from_the_collectors_answer(
    server: FlakyServer, client_for: Callable[..., CollectorClient]
) -> None:
    accepted = client_for(server.url).post_run(a_payload(tests=3))

    assert accepted == Accepted(
        status=201,
        run_id=RUN_ID,
        duplicate=False,
        counts={"total": 3, "passed": 1, "failed": 1, "error": 0, "skipped": 1, "xfailed": 0, "xpassed": 0, "flaky": 0},
        url=server.url + RUN_URL_PATH,
        attempts=1,
    )


def test_sending_a_stored_run_again_is_accepted_as_a_200_duplicate(
    server: FlakyServer, client_for: Callable[..., CollectorClient]
) -> None:
    client = client_for(server.url)
    client.post_run(a_payload())

    again = client.post_run(a_payload())

    assert (again.status, again.duplicate) == (200, True)
    assert list(server.stored) == [RUN_ID]


def test_a_small_payload_is_sent_uncompressed_exactly_as_given(
    server: FlakyServer, client_for: Callable[..., CollectorClient]
) -> None:
    payload = a_payload(tests=3)

    client_for(server.url).post_run(payload)

    [request] = server.requests
    assert "Content-Encoding" not in request.headers
    assert request.body == payload


def test_a_payload_over_8_kib_is_gzipped_once_and_every_attempt_sends_identical_bytes(
    server: FlakyServer, client_for: Callable[..., CollectorClient]
) -> None:
    payload = a_payload(tests=400)
    assert len(payload) > 8 * 1024
    server.fail_first(error(503), dropped(), error(500))

    accepted = client_for(server.url).post_run(payload)

    assert accepted.attempts == 4
    bodies = {request.body for request in server.requests}
    assert len(bodies) == 1
    [body] = bodies
    assert gzip.decompress(body) == payload
    assert len(body) < len(payload)
    assert all(request.headers["Content-Encoding"] == "gzip" for request in server.requests)


def test_a_base_url_with_a_path_prefix_and_trailing_slashes_is_used_as_the_root(
    server: FlakyServer, client_for: Callable[..., CollectorClient]
) -> None:
    accepted = client_for(server.url + "/testrun//").post_run(a_payload())

    assert [request.path for request in server.requests] == ["/testrun/api/v1/runs"]
    assert accepted.url == server.url + "/testrun" + RUN_URL_PATH


def test_a_netrc_entry_for_the_collector_host_does_not_replace_the_bearer_token(
    server: FlakyServer, client_for: Callable[..., CollectorClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password other-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))

    client_for(server.url).post_run(a_payload())

    assert server.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


# --- what is retried, and how long it waits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        error(503, retry_after="1"),
        error(500),
        error(502),
        error(504),
        error(429, retry_after="1"),
        error(408),
        dropped(),
    ],
    ids=["503", "500", "502", "504", "429", "408", "dropped connection"],
)
def test_a_transient_failure_is_retried_until_the_run_is_accepted(
    server: FlakyServer, client_for: Callable[..., CollectorClient], failure: Any
) -> None:
    server.fail_first(failure, failure)

    accepted = client_for(server.url).post_run(a_payload())

    assert (accepted.status, accepted.attempts) == (201, 3)
    assert len(server.requests) == 3


def test_a_slow_answer_that_trips_the_timeout_is_retried(
    server: FlakyServer, client_for: Callable[..., CollectorClient], caplog: pytest.LogCaptureFixture
) -> None:
    server.fail_first(slow(30))

    accepted = client_for(server.url, timeout_s=0.2).post_run(a_payload())

    assert accepted.attempts == 2
    assert retry_lines(caplog)[0].startswith("attempt 1/6 failed (timed out after 0.2 s), retrying in ")


def test_waits_grow_exponentially_up_to_backoff_max(
    server: FlakyServer, client_for: Callable[..., CollectorClient], fake_time: FakeTime
) -> None:
    server.fail_first(*[error(500)] * 5)

    client_for(server.url, rng=AlwaysCeiling(), backoff_base_s=1.0, backoff_max_s=5.0).post_run(a_payload())

    assert fake_time.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_waits_are_full_jitter_drawn_from_the_injected_rng(
    server: FlakyServer, client_for: Callable[..., CollectorClient], fake_time: FakeTime
) -> None:
    server.fail_first(*[error(500)] * 5)

    client_for(server.url, seed=42, backoff_base_s=1.0, backoff_max_s=5.0).post_run(a_payload())

    ceilings = [1.0, 2.0, 4.0, 5.0, 5.0]
    assert fake_time.sleeps == jitter(42, ceilings)
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(fake_time.sleeps, ceilings))


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_in_seconds_is_honoured(
    server: FlakyServer, client_for: Callable[..., CollectorClient], fake_time: FakeTime, status: int
) -> None:
    server.fail_first(error(status, retry_after="7"))

    client_for(server.url).post_run(a_payload())

    assert fake_time.sleeps == [7.0]


def test_retry_after_is_capped_at_retry_after_cap_s(
    server: FlakyServer, client_for: Callable[..., CollectorClient], fake_time: FakeTime
) -> None:
    server.fail_first(error(429, retry_after="3600"))

    client_for(server.url, retry_after_cap_s=30.0).post_run(a_payload())

    assert fake_time.sleeps == [30.0]


def test_retry_after_as_an_http_date_is_honoured(
    server: FlakyServer, client_for: Callable[..., CollectorClient], fake_time: FakeTime
) -> None:
    server.fail_first(error(503, retry_after=formatdate(time.time() + 20, usegmt=True)))

    client_for(server.url).post_run(a_payload())

    [wait] = fake_time.sleeps
    assert 15 < wait <= 20


def test_retry_after_as_a_far_http_date_is_capped_too(
    server: FlakyServer, client_for: Callable[..., CollectorClient], fake_time: FakeTime
) -> None:
    server.fail_first(error(503, retry_after="Wed, 21 Oct 2099 07:28:00 GMT"))

    client_for(server.url, retry_after_cap_s=12.0).post_run(a_payload())

    assert fake_time.sleeps == [12.0]


@pytest.mark.parametrize("retry_after", ["0", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", "-5"])
def test_a_retry_after_shorter_than_the_jittered_wait_or_unusable_leaves_the_jittered_wait(
    server: FlakyServer, client_for: Callable[..., CollectorClient], fake_time: FakeTime, retry_after: str
) -> None:
    server.fail_first(error(503, retry_after=retry_after))

    client_for(server.url, seed=3, backoff_base_s=4.0).post_run(a_payload())

    assert fake_time.sleeps == jitter(3, [4.0])


def test_one_warning_is_logged_per_retry_with_the_attempt_reason_and_wait(
    server: FlakyServer, client_for: Callable[..., CollectorClient], caplog: pytest.LogCaptureFixture
) -> None:
    server.fail_first(error(503, retry_after="7"), error(429, retry_after="2"), dropped())

    client_for(server.url, rng=AlwaysCeiling(), backoff_base_s=0.5).post_run(a_payload())

    assert retry_lines(caplog) == [
        "attempt 1/6 failed (HTTP 503), retrying in 7.0 s",
        "attempt 2/6 failed (HTTP 429), retrying in 2.0 s",
        "attempt 3/6 failed (the connection was closed without an answer), retrying in 2.0 s",
    ]


# --- giving up ----------------------------------------------------------------------------------------------------


def test_after_the_last_attempt_unreachable_says_how_many_attempts_over_how_long_and_the_last_reason(
    server: FlakyServer, client_for: Callable[..., CollectorClient], fake_time: FakeTime
) -> None:
    server.always(error(500))

    with pytest.raises(Unreachable) as raised:
        client_for(server.url, attempts=3).post_run(a_payload())

    assert len(server.requests) == 3
    assert str(raised.value) == (
        f"could not deliver the run to {server.url}: 3 attempts over {sum(fake_time.sleeps):.1f} s failed, "
        "the last with HTTP 500"
    )


def test_the_total_time_bound_stops_retries_before_an_attempt_that_could_not_finish(
    server: FlakyServer, client_for: Callable[..., CollectorClient], fake_time: FakeTime
) -> None:
    server.always(error(503, retry_after="4"))

    with pytest.raises(Unreachable) as raised:
        client_for(server.url, attempts=6, max_total_s=10.0).post_run(a_payload())

    assert fake_time.sleeps == [4.0, 4.0]
    assert len(server.requests) == 3
    assert str(raised.value) == (
        f"could not deliver the run to {server.url}: 3 attempts over 8.0 s failed, the last with HTTP 503; "
        "the time limit of 10 s ran out"
    )


def test_each_attempt_gets_at_most_the_time_that_is_left(server: FlakyServer, fake_time: FakeTime) -> None:
    server.always(error(503, retry_after="8"))
    session = TimeoutRecordingSession()
    policy = RetryPolicy(timeout_s=10.0, max_total_s=24.5, backoff_base_s=0.1)
    client = CollectorClient(
        server.url,
        TOKEN,
        policy=policy,
        session=session,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        rng=random.Random(1),
    )

    with pytest.raises(Unreachable):
        client.post_run(a_payload())

    assert session.timeouts == [(10.0, 10.0), (10.0, 10.0), (8.5, 8.5)]


def test_a_refused_connection_is_retried_then_reported_as_connection_refused(
    client_for: Callable[..., CollectorClient],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(Unreachable) as raised:
        client_for(url, attempts=2).post_run(a_payload())

    assert str(raised.value).startswith(f"could not deliver the run to {url}: 2 attempts over ")
    assert str(raised.value).endswith("failed, the last with connection refused")


def test_timeouts_on_every_attempt_are_reported_with_the_timeout(
    server: FlakyServer, client_for: Callable[..., CollectorClient]
) -> None:
    server.always(slow(30))

    with pytest.raises(Unreachable) as raised:
        client_for(server.url, attempts=2, timeout_s=0.2).post_run(a_payload())

    assert str(raised.value).endswith("failed, the last with timed out after 0.2 s")


# --- answers a retry cannot fix -----------------------------------------------------------------------------------

INVALID_BODY = error(
    400,
    error="invalid_payload",
    message="2 invalid field(s): tests[3].status, ci.attempt",
    errors=[
        {"field": "tests[3].status", "message": "must be one of passed, failed"},
        {"field": "ci.attempt", "message": "must be an integer of 0 or more"},
    ],
    errors_truncated=False,
)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            INVALID_BODY,
            (
                "the collector refused the payload: 2 invalid field(s): tests[3].status, ci.attempt "
                "(tests[3].status: must be one of passed, failed; ci.attempt: must be an integer of 0 or more)"
            ),
        ),
        (
            error(401, error="unauthorized", message="missing, malformed, unknown, revoked or expired token"),
            (
                "the collector refused the token (HTTP 401): "
                "check TESTRUN_TOKEN is a valid, unrevoked ingest token for this project"
            ),
        ),
        (
            error(403, error="forbidden"),
            (
                "the token lacks the ingest scope (HTTP 403): "
                "use a token created with testrun-admin token create ORG/PROJECT --scope ingest"
            ),
        ),
        (
            error(409, error="run_id_conflict", run_id="github:octo/app:1:1:test:other", hint="label"),
            (
                "run github:octo/app:1:1:test:other already holds different results (HTTP 409): if several jobs "
                "or matrix legs upload from one CI job, give each its own label with TESTRUN_LABEL or --label"
            ),
        ),
        (
            error(413, message="request body is 40000000 bytes, over the limit of 33554432 bytes"),
            (
                "the run is too large for the collector (HTTP 413): "
                "request body is 40000000 bytes, over the limit of 33554432 bytes"
            ),
        ),
        (
            error(415, message="Content-Type 'text/plain' is not supported: send application/json"),
            (
                "the collector refused the content type (HTTP 415): "
                "Content-Type 'text/plain' is not supported: send application/json"
            ),
        ),
    ],
    ids=["400", "401", "403", "409", "413", "415"],
)
def test_a_refusal_is_rejected_after_one_request_with_a_one_line_explanation(
    server: FlakyServer, client_for: Callable[..., CollectorClient], fake_time: FakeTime, answer: Any, expected: str
) -> None:
    server.fail_first(answer)

    with pytest.raises(Rejected) as raised:
        client_for(server.url).post_run(a_payload())

    assert (raised.value.status, str(raised.value)) == (answer.status, expected)
    assert len(server.requests) == 1
    assert fake_time.sleeps == []


def test_a_404_says_there_is_no_collector_api_at_the_url(
    server: FlakyServer, client_for: Callable[..., CollectorClient]
) -> None:
    server.fail_first(error(404))

    with pytest.raises(Rejected) as raised:
        client_for(server.url + "/wrong/").post_run(a_payload())

    assert str(raised.value) == f"no collector API at {server.url}/wrong: check TESTRUN_URL"
    assert len(server.requests) == 1


def test_a_different_run_under_a_stored_run_id_is_a_409_naming_the_run_and_the_label_fix(
    server: FlakyServer, client_for: Callable[..., CollectorClient]
) -> None:
    client = client_for(server.url)
    client.post_run(a_payload(tests=3))

    with pytest.raises(Rejected) as raised:
        client.post_run(a_payload(tests=4))

    assert raised.value.status == 409
    assert str(raised.value) == (
        f"run {RUN_ID} already holds different results (HTTP 409): if several jobs or matrix legs upload "
        "from one CI job, give each its own label with TESTRUN_LABEL or --label"
    )
    assert len(server.requests) == 2


def test_an_unexpected_status_is_rejected_with_a_short_excerpt_of_the_body(
    server: FlakyServer, client_for: Callable[..., CollectorClient]
) -> None:
    server.fail_first(raw(418, b"I'm a teapot,\n  short and stout " + b"x" * 500))

    with pytest.raises(Rejected) as raised:
        client_for(server.url).post_run(a_payload())

    message = str(raised.value)
    assert raised.value.status == 418
    assert message.startswith(f"unexpected answer from {server.url} (HTTP 418): I'm a teapot, short and stout xxx")
    assert "\n" not in message and len(message) < 300
    assert len(server.requests) == 1


def test_a_redirect_is_not_followed_but_rejected_naming_where_it_points(
    server: FlakyServer, client_for: Callable[..., CollectorClient]
) -> None:
    server.fail_first(raw(301, b"", Location="https://collector.example/api/v1/runs"))

    with pytest.raises(Rejected) as raised:
        client_for(server.url).post_run(a_payload())

    assert str(raised.value) == (
        f"the collector URL {server.url} redirects (HTTP 301) to https://collector.example/api/v1/runs: "
        "set TESTRUN_URL to the final address"
    )
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "body",
    [b'{"ok": true}', b'{"run_id": "x", "duplicate": "no", "counts": {}, "url": ""}'],
    ids=["other json", "wrong types"],
)
def test_a_2xx_that_is_not_a_collector_answer_is_rejected(
    server: FlakyServer, client_for: Callable[..., CollectorClient], body: bytes
) -> None:
    server.fail_first(raw(200, body))

    with pytest.raises(Rejected) as raised:
        client_for(server.url).post_run(a_payload())

    assert str(raised.value) == (
        f"{server.url} answered HTTP 200 but not like a testrun collector "
        "(expected JSON with run_id, duplicate, counts and url): check TESTRUN_URL"
    )
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [200, 404, 405, 418])
def test_an_html_page_is_said_in_one_line_without_its_body(
    server: FlakyServer, client_for: Callable[..., CollectorClient], status: int
) -> None:
    server.fail_first(raw(status, b"\n  <!DOCTYPE html>\n<html><title>Runs</title><body>" + b"x" * 500))

    with pytest.raises(Rejected) as raised:
        client_for(server.url + "/ui").post_run(a_payload())

    assert str(raised.value) == (
        f"the server at {server.url}/ui answered an HTML page (HTTP {status}), not the collector's API: "
        "set TESTRUN_URL to the collector's base URL, without /ui"
    )
    assert len(server.requests) == 1


def test_a_proxys_html_413_says_the_run_is_too_large_without_the_page(
    server: FlakyServer, client_for: Callable[..., CollectorClient]
) -> None:
    server.fail_first(raw(413, b"<html><head><title>413 Request Entity Too Large</title></head></html>"))

    with pytest.raises(Rejected) as raised:
        client_for(server.url).post_run(a_payload())

    assert str(raised.value) == (
        "the run is too large for the collector (HTTP 413): an HTML page, likely from a proxy in front of the collector"
    )


# --- the token stays secret ---------------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[FlakyServer], Any]] = {
    "401": lambda s: s.fail_first(error(401)),
    "409": lambda s: s.fail_first(error(409, run_id="r", hint="h")),
    "503 every time": lambda s: s.always(error(503, retry_after="1")),
    "dropped every time": lambda s: s.always(dropped()),
    "timeouts": lambda s: s.always(slow(30)),
    "418 echoing the headers": lambda s: s.fail_first(echo_headers(418)),
    "400 echoing the headers": lambda s: s.fail_first(echo_headers(400)),
    "200 echoing the headers": lambda s: s.fail_first(echo_headers(200)),
    "retried then accepted": lambda s: s.fail_first(error(503), dropped(), slow(30)),
    "excerpt cut through an echoed token": lambda s: s.fail_first(raw(418, b"x" * 170 + TOKEN.encode())),
}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_the_token_never_appears_in_an_exception_or_a_log_record(
    server: FlakyServer,
    client_for: Callable[..., CollectorClient],
    caplog: pytest.LogCaptureFixture,
    scenario: Callable[[FlakyServer], Any],
) -> None:
    caplog.set_level(logging.DEBUG)
    scenario(server)

    raised: BaseException | None = None
    try:
        client_for(server.url, attempts=3, timeout_s=0.2).post_run(a_payload())
    except (Rejected, Unreachable) as error_:
        raised = error_

    assert server.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert_token_absent(raised, caplog)


def test_the_token_never_appears_when_the_connection_is_refused(
    client_for: Callable[..., CollectorClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    with pytest.raises(Unreachable) as raised:
        client_for(f"http://127.0.0.1:{free_port()}", attempts=2).post_run(a_payload())

    assert_token_absent(raised.value, caplog)


def assert_token_absent(raised: BaseException | None, caplog: pytest.LogCaptureFixture) -> None:
    """Not even a part of the secret: any 8 characters of it in a row count as a leak."""
    fragments = {SECRET[i : i + 8] for i in range(len(SECRET) - 7)}
    texts = [caplog.text, *(record.getMessage() for record in caplog.records)]
    if raised is not None:
        texts += [str(raised), repr(raised), "".join(traceback.format_exception(raised))]
    assert not [text for text in texts if any(fragment in text for fragment in fragments)]


# --- configuration refused before anything is sent ----------------------------------------------------------------


@pytest.mark.parametrize("url", ["collector.example", "ftp://collector.example", "http://", ""])
def test_a_url_that_is_not_http_or_https_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="is not an http:// or https:// URL"):
        CollectorClient(url, TOKEN)


@pytest.mark.parametrize("token", [TOKEN + "\n", " " + TOKEN, TOKEN + "é"])
def test_a_token_with_whitespace_or_non_ascii_is_a_config_error_that_does_not_quote_it(token: str) -> None:
    with pytest.raises(ConfigError) as raised:
        CollectorClient("http://collector.example", token)

    assert str(raised.value) == ("the token contains spaces, line breaks or non-ASCII characters: check TESTRUN_TOKEN")


def test_an_empty_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="the token is empty"):
        CollectorClient("http://collector.example", "")


@pytest.mark.parametrize(
    ("field", "value"), [("attempts", 0), ("timeout_s", 0.0), ("max_total_s", -1.0), ("backoff_base_s", -0.1)]
)
def test_a_retry_policy_that_cannot_work_is_a_config_error(field: str, value: float) -> None:
    settings: dict[str, Any] = {field: value}

    with pytest.raises(ConfigError, match=f"retry policy: {field} must be"):
        RetryPolicy(**settings)


# --- against a real collector -------------------------------------------------------------------------------------


def real_client(project: ProjectAccess, token: str | None = None) -> CollectorClient:
    return CollectorClient(project.url, token or project.ingest_token, policy=RetryPolicy(attempts=2, timeout_s=30))


def test_a_real_collector_stores_a_run_once_and_answers_a_resend_as_duplicate(project: ProjectAccess) -> None:
    payload = json.dumps(a_run()).encode()
    client = real_client(project)

    first, again = client.post_run(payload), client.post_run(payload)

    assert (first.status, first.duplicate, again.status, again.duplicate) == (201, False, 200, True)
    assert first.counts["total"] == 3
    assert requests.get(first.url, headers={"Authorization": f"Bearer {project.read_token}"}, timeout=30).ok


def test_a_real_collector_accepts_a_gzipped_large_run(project: ProjectAccess) -> None:
    tests = [{"id": f"tests/test_big.py::test_{i}", "status": "passed", "duration_ms": 1.0} for i in range(500)]
    payload = json.dumps(a_run("github:octo/app:1:1:test:big", tests=tests)).encode()
    assert len(payload) > 8 * 1024

    accepted = real_client(project).post_run(payload)

    assert (accepted.status, accepted.counts["total"]) == (201, 500)


def test_a_real_collector_refuses_a_wrong_token_with_the_401_explanation(project: ProjectAccess) -> None:
    wrong = project.ingest_token[:-1] + ("A" if project.ingest_token[-1] != "A" else "B")

    with pytest.raises(Rejected) as raised:
        real_client(project, wrong).post_run(json.dumps(a_run()).encode())

    assert raised.value.status == 401
    assert str(raised.value).startswith("the collector refused the token (HTTP 401)")
    assert wrong not in str(raised.value)


def test_a_real_collector_refuses_other_content_under_a_stored_run_id_with_the_409_explanation(
    project: ProjectAccess,
) -> None:
    client = real_client(project)
    client.post_run(json.dumps(a_run()).encode())

    changed = a_run()
    changed["tests"][0]["status"] = "error"
    with pytest.raises(Rejected) as raised:
        client.post_run(json.dumps(changed).encode())

    assert raised.value.status == 409
    assert str(raised.value).startswith(f"run {a_run()['run_id']} already holds different results (HTTP 409)")


def test_an_https_url_of_the_plain_http_collector_fails_at_the_first_attempt_saying_to_use_http(
    project: ProjectAccess, caplog: pytest.LogCaptureFixture
) -> None:
    https_url = project.url.replace("http://", "https://", 1)
    sleeps: list[float] = []
    client = CollectorClient(https_url, project.ingest_token, policy=RetryPolicy(attempts=6), sleep=sleeps.append)

    with pytest.raises(PlainHTTPCollector) as raised:
        client.post_run(json.dumps(a_run()).encode())

    assert str(raised.value) == (
        f"TLS handshake with {https_url} failed: is the collector serving plain HTTP? use {project.url}"
    )
    assert sleeps == [] and retry_lines(caplog) == []
