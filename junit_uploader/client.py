"""The HTTP client that sends one run to the collector, retrying until it lands or the time bound runs out,
and fetches the project's quarantine list the same way.

Every retry decision lives in :meth:`_Exchange.run` (one tenacity ``Retrying``):
connection errors, timeouts, answers over :data:`MAX_ANSWER_BYTES` and
408/429/500/502/503/504 are retried with full jitter and ``Retry-After``; any
other answer is final, and so is a TLS handshake that a plain-HTTP server
answered (an https:// URL of a collector that serves http://). Each attempt ends at the time bound by the wall clock,
whatever the server does (:mod:`.deadline`), and reads at most
:data:`MAX_ANSWER_BYTES` of the answer: the collector's answers are a few KiB (a quarantine list of
thousands of tests is more, so that answer may be up to :data:`MAX_LIST_BYTES`). The caller gets an
:class:`Accepted`, or a :class:`Rejected` / :class:`Unreachable` whose one-line
message says what to do, and decides itself whether that fails the build.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http.client import RemoteDisconnected
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from .deadline import READING, Deadline, DeadlineAdapter
from .errors import ConfigError, PlainHTTPCollector, Rejected, Unreachable, UploadIncomplete
from .summary import well_formed_verdict

log = logging.getLogger("testrun.client")

RUNS_PATH = "/api/v1/runs"
QUARANTINE_PATH = "/api/v1/quarantine"
UPLOADS_PATH = "/api/v1/uploads"
GZIP_ABOVE_BYTES = 8 * 1024
#: zlib's own default: packaging's 26,948-test run (10 MB) compresses in ~60 ms instead of level 9's ~120 ms,
#: to 284 KB instead of 269 KB; the session waits for this, a network hardly notices the difference
GZIP_LEVEL = 6
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: an attempt left less time than this could not finish, so the time bound stops the retries instead
MIN_ATTEMPT_S = 1.0
EXCERPT_CHARS = 200
#: the most of an answer (error bodies too) the client reads; more is not a collector talking
MAX_ANSWER_BYTES = 1 << 20
#: the most of a quarantine list read: 10,000 entries with long ids and reasons stay well under it
MAX_LIST_BYTES = 16 << 20
READ_CHUNK = 64 * 1024

UNAUTHORIZED = (
    "the collector refused the token (HTTP 401): "
    "check TESTRUN_TOKEN is a valid, unrevoked ingest token for this project"
)
FORBIDDEN = (
    "the token lacks the ingest scope (HTTP 403): "
    "use a token created with testrun-admin token create ORG/PROJECT --scope ingest"
)
NOT_FOUND = "no collector API at {base_url}: check TESTRUN_URL"
CONFLICT = (
    "run {run_id} already holds different results (HTTP 409): if several jobs or matrix legs upload "
    "from one CI job, give each its own label with TESTRUN_LABEL or --label"
)
INVALID = "the collector refused the payload: {said}"
TOO_LARGE = "the run is too large for the collector (HTTP 413): {said}"
UNSUPPORTED = "the collector refused the content type (HTTP 415): {said}"
REDIRECTED = (
    "the collector URL {base_url} redirects (HTTP {status}) to {location}: set TESTRUN_URL to the final address"
)
UNEXPECTED = "unexpected answer from {base_url} (HTTP {status}): {said}"
NOT_A_COLLECTOR = (
    "{base_url} answered HTTP {status} but not like a testrun collector "
    "(expected JSON with run_id, duplicate, counts and url): check TESTRUN_URL"
)
HTML_PAGE = (
    "the server at {base_url} answered an HTML page (HTTP {status}), not the collector's API: "
    "set TESTRUN_URL to the collector's base URL, without /ui"
)
#: refusals that an HTML page does not make a wrong URL (a proxy in front of the collector may answer them)
NOT_ABOUT_THE_URL = frozenset({401, 403, 409, 413})
#: what an HTML page said, in their explanations: never the page itself
HTML_SAID = "an HTML page, likely from a proxy in front of the collector"
TOO_LONG = "the answer exceeded {limit} bytes: is TESTRUN_URL a testrun collector?"
DEADLINE_PASSED = "a timeout while {phase}"
GAVE_UP = "could not {doing} {base_url}: {attempts} over {elapsed:.1f} s failed, the last with {reason}"
TIME_RAN_OUT = "; the time limit of {max_total} s ran out"
RETRYING = "attempt %d/%d failed (%s), retrying in %.1f s"
NO_QUARANTINE = (
    "no quarantine list at {base_url} (HTTP 404): is the collector older than quarantine lists? check TESTRUN_URL"
)
NOT_A_LIST = "{base_url} answered HTTP {status} but not with JSON: is TESTRUN_URL a testrun collector?"
#: what a request does while it is being sent, for "a timeout while ..." (the run's has its own words)
SENDING_REQUEST = "sending the request"
PLAIN_HTTP = "TLS handshake with {base_url} failed: is the collector serving plain HTTP? use {http_url}"
#: OpenSSL's reasons when the server's first bytes are not a TLS record (1.1 and 3.0; 3.2 and later)
PLAIN_HTTP_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    timeout_s: float = 10.0
    max_total_s: float = 120.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 15.0
    retry_after_cap_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError(f"retry policy: attempts must be at least 1, not {self.attempts}")
        for name in ("timeout_s", "max_total_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"retry policy: {name} must be more than 0, not {getattr(self, name)}")
        for name in ("backoff_base_s", "backoff_max_s", "retry_after_cap_s"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"retry policy: {name} must be 0 or more, not {getattr(self, name)}")


@dataclass(frozen=True)
class Accepted:
    status: int
    run_id: str
    duplicate: bool
    counts: dict[str, int]
    url: str
    attempts: int
    #: the collector's verdict on the run's failures, when it sent a well-formed one (collector.verdict)
    verdict: dict[str, Any] | None = None
    #: the absolute address of the run's web page, when the collector sent one
    web_url: str | None = None


class CollectorClient:
    """Sends runs to one collector with one token; reusable for several runs (the spool's re-send)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        policy: RetryPolicy = RetryPolicy(),
        user_agent: str = "testrun-client",
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = _checked_base_url(base_url)
        self.policy = policy
        self.user_agent = user_agent
        self._auth = _BearerAuth(_checked_token(token))
        self._session = session if session is not None else _deadline_session()
        self._owns_session = session is None
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()

    def post_run(self, payload: bytes) -> Accepted:
        """POST the run's JSON bytes; the very same (possibly gzipped) bytes are sent on every attempt."""
        result: Accepted = _Upload(self, payload).run()
        return result

    def open_upload(self) -> str:
        """Open an upload (a run sent in batches while the tests run); its path on the collector.

        Rejected with status 404 (and no retry) when the collector is older than uploads.
        """
        result: str = _UploadOpen(self).run()
        return result

    def put_batch(self, upload: str, seq: int, batch: bytes) -> None:
        """PUT batch ``seq`` (``{"tests": [...]}`` JSON bytes) of the upload; a retry of a stored batch is fine."""
        _BatchPut(self, upload, seq, batch).run()

    def complete_upload(self, upload: str, header: bytes) -> Accepted:
        """Complete the upload with the run's own fields and its number of batches; answered as ``post_run``."""
        result: Accepted = _UploadComplete(self, upload, header).run()
        return result

    def get_quarantine(self) -> Any:
        """GET the project's quarantine list: its JSON as decoded, whatever its shape (the caller checks that).

        Read up to :data:`MAX_LIST_BYTES`; the same retries, time bound and
        refusals as a run's POST, and no redirect is followed.
        """
        return _ListFetch(self).run()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> CollectorClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _scrub(self, text: str) -> str:
        """Last line of defence: a misdirected server may echo our headers back into a body excerpt."""
        return text.replace(self._auth.token, "[token]")


class _BearerAuth(AuthBase):
    """Set as ``auth=`` so that requests never swaps in credentials from a ``~/.netrc`` entry for the host."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth([token])"


class _AttemptFailed(Exception):
    """A failure another attempt may fix; ``reason`` is short and safe to log."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class _Exchange:
    """One call of the client: the request to make, and the state tenacity's wait, stop and give-up share.

    Subclasses say what is sent and what a final answer means (:meth:`_answer`).
    """

    method = "GET"
    path = ""
    #: the most of the answer read
    limit = MAX_ANSWER_BYTES
    #: for "could not ... {base_url}" when every attempt failed
    doing = "reach"
    #: for "a timeout while ...", until the request is sent; None keeps the deadline's own words
    sending: str | None = None

    def __init__(self, client: CollectorClient, body: bytes | None, headers: dict[str, str]) -> None:
        self.client = client
        self.policy = client.policy
        self.body = body
        self.headers = headers
        self.started_at = client._clock()
        self.attempts = 0
        self._waits: dict[int, float] = {}

    def run(self) -> Any:
        retrying = Retrying(
            retry=retry_if_exception_type(_AttemptFailed),
            stop=self._stop,
            wait=self._wait,
            sleep=self.client._sleep,
            before_sleep=self._log_retry,
            retry_error_callback=self._give_up,
        )
        return retrying(self._attempt)

    def _attempt(self) -> Any:
        """One exchange, bounded as a whole by the time left: connect, send, and the answer read in full."""
        self.attempts += 1
        remaining = self._remaining()
        timeout = min(self.policy.timeout_s, remaining)
        with Deadline(remaining) as deadline:
            if self.sending is not None:
                deadline.phase = self.sending
            try:
                response = self.client._session.request(
                    self.method,
                    self.client.base_url + self.path,
                    data=self.body,
                    headers=self.headers,
                    auth=self.client._auth,
                    timeout=(timeout, timeout),
                    allow_redirects=False,
                    stream=True,
                )
                with response:
                    # headers cut short by the deadline end like complete ones: http.client takes EOF as their end
                    _check(deadline)
                    deadline.phase = READING
                    body = _read_capped(response, deadline, self.limit)
                _check(deadline)
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as error:
                if deadline.expired:
                    raise _AttemptFailed(DEADLINE_PASSED.format(phase=deadline.phase)) from error
                if _answered_in_plain_http(error):
                    raise PlainHTTPCollector(_plain_http_message(self.client.base_url)) from None
                raise _AttemptFailed(_failure_reason(error, timeout, self.client.base_url)) from error
            except requests.RequestException as error:
                if deadline.expired:
                    raise _AttemptFailed(DEADLINE_PASSED.format(phase=deadline.phase)) from error
                raise ConfigError(self.client._scrub(f"cannot send to {self.client.base_url}: {error}")) from None
        status = response.status_code
        if status in RETRY_STATUSES:
            raise _AttemptFailed(f"HTTP {status}", _retry_after_s(response.headers.get("Retry-After")))
        return self._answer(response, body)

    def _answer(self, response: requests.Response, body: bytes) -> Any:
        """What a final answer (not one to retry) means: a result, or a raised :class:`Rejected`."""
        raise NotImplementedError

    def _refused(self, response: requests.Response, body: bytes, payload: bytes = b"") -> NoReturn:
        status = response.status_code
        location = response.headers.get("Location")
        html = _is_html(response, body)
        if html and status not in NOT_ABOUT_THE_URL and not (300 <= status < 400 and location):
            raise Rejected(status, HTML_PAGE.format(base_url=self.client.base_url, status=status))
        text = HTML_SAID if html else self.client._scrub(_text(body, response.encoding))
        message = _explain_rejection(status, text, location, self.client.base_url, payload)
        raise Rejected(status, self.client._scrub(message))

    def _wait(self, state: RetryCallState) -> float:
        """Full jitter, or ``Retry-After`` (capped) when longer; computed once per failed attempt."""
        if state.attempt_number not in self._waits:
            ceiling = min(
                self.policy.backoff_max_s, self.policy.backoff_base_s * 2 ** min(state.attempt_number - 1, 64)
            )
            wait = self.client._rng.uniform(0, ceiling)
            retry_after = _failure(state).retry_after_s
            if retry_after is not None:
                wait = max(wait, min(retry_after, self.policy.retry_after_cap_s))
            self._waits[state.attempt_number] = wait
        return self._waits[state.attempt_number]

    def _stop(self, state: RetryCallState) -> bool:
        return state.attempt_number >= self.policy.attempts or self._out_of_time(state)

    def _out_of_time(self, state: RetryCallState) -> bool:
        """True when the next attempt, after its wait, would not have time to finish within the bound."""
        needed = self._wait(state) + min(self.policy.timeout_s, MIN_ATTEMPT_S)
        return self._elapsed() + needed > self.policy.max_total_s

    def _log_retry(self, state: RetryCallState) -> None:
        reason = self.client._scrub(_failure(state).reason)
        log.warning(RETRYING, state.attempt_number, self.policy.attempts, reason, self._wait(state))

    def _give_up(self, state: RetryCallState) -> NoReturn:
        message = GAVE_UP.format(
            doing=self.doing,
            base_url=self.client.base_url,
            attempts=f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}",
            elapsed=self._elapsed(),
            reason=_failure(state).reason,
        )
        if self.attempts < self.policy.attempts:
            message += TIME_RAN_OUT.format(max_total=_seconds(self.policy.max_total_s))
        raise Unreachable(self.client._scrub(message))

    def _elapsed(self) -> float:
        return self.client._clock() - self.started_at

    def _remaining(self) -> float:
        return max(self.policy.max_total_s - self._elapsed(), 0.0)


class _Upload(_Exchange):
    """One ``post_run`` call: the very same (possibly gzipped) bytes on every attempt."""

    method = "POST"
    path = RUNS_PATH
    doing = "deliver the run to"

    def __init__(self, client: CollectorClient, payload: bytes) -> None:
        super().__init__(client, *_encode(payload, client.user_agent))
        self.payload = payload

    def _answer(self, response: requests.Response, body: bytes) -> Accepted:
        if response.status_code in (200, 201):
            return self._accepted(response, body)
        self._refused(response, body, self.payload)

    def _accepted(self, response: requests.Response, answer: bytes) -> Accepted:
        body = _json_or_none(answer)
        if not _is_run_accepted(body):
            page = HTML_PAGE if _is_html(response, answer) else NOT_A_COLLECTOR
            raise Rejected(response.status_code, page.format(base_url=self.client.base_url, status=response.status_code))
        return Accepted(
            status=response.status_code,
            run_id=body["run_id"],
            duplicate=body["duplicate"],
            counts=dict(body["counts"]),
            url=_absolute(self.client.base_url, body["url"]),
            attempts=self.attempts,
            verdict=well_formed_verdict(body.get("verdict")),
            web_url=_web_url(body.get("web_url")),
        )


class _UploadOpen(_Exchange):
    """One ``open_upload`` call."""

    method = "POST"
    path = UPLOADS_PATH
    doing = "open an upload on"
    sending = SENDING_REQUEST

    def __init__(self, client: CollectorClient) -> None:
        super().__init__(client, None, _request_headers(client.user_agent))

    def _answer(self, response: requests.Response, body: bytes) -> str:
        answer = _json_or_none(body)
        if response.status_code == 201 and isinstance(answer, dict) and _is_upload_path(answer.get("url")):
            return str(answer["url"])
        if response.status_code == 201:
            raise Rejected(201, NOT_A_COLLECTOR.format(base_url=self.client.base_url, status=201))
        self._refused(response, body)


class _BatchPut(_Exchange):
    """One ``put_batch`` call: the very same bytes on every attempt."""

    method = "PUT"
    doing = "send a batch to"

    def __init__(self, client: CollectorClient, upload: str, seq: int, batch: bytes) -> None:
        super().__init__(client, *_encode(batch, client.user_agent))
        self.path = f"{upload}/batches/{seq}"
        self.batch = batch

    def _answer(self, response: requests.Response, body: bytes) -> None:
        if response.status_code not in (200, 201):
            self._refused(response, body, self.batch)


class _UploadComplete(_Upload):
    """One ``complete_upload`` call: answered as a run's POST."""

    doing = "complete the upload on"

    def __init__(self, client: CollectorClient, upload: str, header: bytes) -> None:
        super().__init__(client, header)
        self.path = f"{upload}/complete"

    def _answer(self, response: requests.Response, body: bytes) -> Accepted:
        answer = _json_or_none(body)
        if response.status_code in (404, 409) and isinstance(answer, dict) and answer.get("error") in (
            "not_found", "upload_conflict"
        ):
            raise UploadIncomplete(self.client._scrub(_one_line(str(answer.get("message") or "upload not complete"))))
        return super()._answer(response, body)


class _ListFetch(_Exchange):
    """One ``get_quarantine`` call."""

    path = QUARANTINE_PATH
    limit = MAX_LIST_BYTES
    doing = "fetch the quarantine list from"
    sending = SENDING_REQUEST

    def __init__(self, client: CollectorClient) -> None:
        super().__init__(client, None, _request_headers(client.user_agent))

    def _answer(self, response: requests.Response, body: bytes) -> Any:
        status = response.status_code
        base_url = self.client.base_url
        if status == 404 and not _is_html(response, body):
            raise Rejected(status, NO_QUARANTINE.format(base_url=base_url))
        if status != 200:
            self._refused(response, body)
        answer = _json_or_none(body)
        if answer is None:
            page = HTML_PAGE if _is_html(response, body) else NOT_A_LIST
            raise Rejected(status, page.format(base_url=base_url, status=status))
        return answer


def _failure(state: RetryCallState) -> _AttemptFailed:
    assert state.outcome is not None
    error = state.outcome.exception()
    assert isinstance(error, _AttemptFailed)
    return error


def _deadline_session() -> requests.Session:
    session = requests.Session()
    adapter = DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _read_capped(response: requests.Response, deadline: Deadline, limit: int) -> bytes:
    """The answer's body, or a failed attempt once it passes ``limit`` bytes (declared or counted)."""
    too_long = _AttemptFailed(TOO_LONG.format(limit=limit))
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise too_long
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_long
        _check(deadline)
        chunks.append(chunk)
    return b"".join(chunks)


def _check(deadline: Deadline) -> None:
    if deadline.expired:
        raise _AttemptFailed(DEADLINE_PASSED.format(phase=deadline.phase))


def _text(body: bytes, encoding: str | None) -> str:
    try:
        return body.decode(encoding or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _request_headers(user_agent: str) -> dict[str, str]:
    return {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": user_agent}


def _encode(payload: bytes, user_agent: str) -> tuple[bytes, dict[str, str]]:
    headers = {"Content-Type": "application/json", **_request_headers(user_agent)}
    if len(payload) <= GZIP_ABOVE_BYTES:
        return payload, headers
    return gzip.compress(payload, compresslevel=GZIP_LEVEL, mtime=0), {**headers, "Content-Encoding": "gzip"}


def _checked_base_url(base_url: str) -> str:
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"the collector URL {base_url!r} is not an http:// or https:// URL")
    return url


def _checked_token(token: str) -> str:
    """Refused here, because requests would quote the bad header value, token and all, in its exception."""
    if not token:
        raise ConfigError("the token is empty: set TESTRUN_TOKEN to an ingest token of your project")
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise ConfigError("the token contains spaces, line breaks or non-ASCII characters: check TESTRUN_TOKEN")
    return token


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` of delta-seconds or an HTTP-date; None when absent or unusable."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


def _failure_reason(error: requests.RequestException, timeout: float, base_url: str) -> str:
    """A few words for what went wrong on the wire, never the exception text (which may quote the request)."""
    seconds = _seconds(timeout)
    if isinstance(error, requests.ConnectTimeout):
        return f"could not connect within {seconds} s"
    if isinstance(error, requests.Timeout):
        return f"timed out after {seconds} s"
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut short"
    if isinstance(error, requests.exceptions.ContentDecodingError):
        return "the answer could not be decoded"
    if isinstance(error, requests.exceptions.SSLError):
        return "TLS handshake failed (certificate not trusted, or not a TLS server)"
    causes = list(_causes(error))
    if any(isinstance(cause, socket.gaierror) for cause in causes) or _named(causes, "NameResolutionError"):
        return f"cannot resolve the host name {urlsplit(base_url).hostname}"
    if any(isinstance(cause, TimeoutError) for cause in causes):
        return f"timed out after {seconds} s"
    if any(isinstance(cause, RemoteDisconnected) for cause in causes):
        return "the connection was closed without an answer"
    for cause in causes:
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno).lower()
    return f"connection failed ({type(causes[-1]).__name__})"


def _answered_in_plain_http(error: requests.RequestException) -> bool:
    """Whether a TLS handshake failed because the server's first bytes were not TLS (plain HTTP, as the
    collector answers a handshake): OpenSSL's reason for that depends on its version."""
    if not isinstance(error, requests.exceptions.SSLError):
        return False
    return any(
        isinstance(cause, ssl.SSLError)
        and (cause.reason in PLAIN_HTTP_TLS_REASONS or "wrong version number" in str(cause))
        for cause in _causes(error)
    )


def _plain_http_message(base_url: str) -> str:
    return PLAIN_HTTP.format(base_url=base_url, http_url="http://" + base_url.split("://", 1)[-1])


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps: urllib3 nests causes in ``args`` and ``reason`` too."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        pending.extend(item for item in linked if isinstance(item, BaseException))


def _named(causes: list[BaseException], name: str) -> bool:
    return any(type(cause).__name__ == name for cause in causes)


def _explain_rejection(status: int, text: str, location: str | None, base_url: str, payload: bytes) -> str:
    try:
        error = json.loads(text)
    except (ValueError, RecursionError):
        error = None
    error = error if isinstance(error, dict) else {}
    said = _said(error, text)
    if status == 400:
        return INVALID.format(said=said + _field_errors(error))
    if status == 401:
        return UNAUTHORIZED
    if status == 403:
        return FORBIDDEN
    if status == 404:
        return NOT_FOUND.format(base_url=base_url)
    if status == 409:
        run_id = error.get("run_id") if isinstance(error.get("run_id"), str) else _run_id_of(payload)
        return CONFLICT.format(run_id=run_id)
    if status == 413:
        return TOO_LARGE.format(said=said)
    if status == 415:
        return UNSUPPORTED.format(said=said)
    if 300 <= status < 400 and location:
        return REDIRECTED.format(base_url=base_url, status=status, location=_one_line(location))
    return UNEXPECTED.format(base_url=base_url, status=status, said=said)


def _said(error: dict[str, Any], text: str) -> str:
    message = error.get("message")
    if isinstance(message, str) and message.strip():
        return _one_line(message)
    return _one_line(text) or "(empty body)"


def _field_errors(error: dict[str, Any], shown: int = 3) -> str:
    """The first failing fields of a 400 ``invalid_payload``: `` (tests[3].status: must be one of ...; …)``."""
    items = error.get("errors")
    if not isinstance(items, list):
        return ""
    fields = [f"{item.get('field')}: {item.get('message')}" for item in items if isinstance(item, dict)]
    if not fields:
        return ""
    more = len(fields) > shown or error.get("errors_truncated") is True
    return " (" + _one_line("; ".join(fields[:shown]) + ("; …" if more else "")) + ")"


def _run_id_of(payload: bytes) -> str:
    try:
        run_id = json.loads(payload).get("run_id")
    except (ValueError, AttributeError):
        return "?"
    return run_id if isinstance(run_id, str) else "?"


def _is_html(response: requests.Response, body: bytes) -> bool:
    """An HTML page (a web page, or a proxy's error page), by its type or, whatever the type says, by its start."""
    if "html" in response.headers.get("Content-Type", "").lower():
        return True
    return body[:256].lstrip().lower().startswith((b"<!doctype html", b"<html"))


def _json_or_none(body: bytes) -> Any:
    """The answer's JSON; None for anything else, including nesting too deep for the parser."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _is_run_accepted(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("run_id"), str)
        and isinstance(body.get("duplicate"), bool)
        and isinstance(body.get("url"), str)
        and isinstance(body.get("counts"), dict)
        and all(isinstance(k, str) and type(v) is int for k, v in body["counts"].items())
    )


def _web_url(value: Any) -> str | None:
    """An http(s) address the job may print as a link, else None (an older or a hostile server)."""
    if isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= 4096 and value.isprintable():
        return value
    return None


def _is_upload_path(value: Any) -> bool:
    """A path under the collector's uploads, and nothing that could lead the token elsewhere."""
    return (isinstance(value, str) and value.startswith(UPLOADS_PATH + "/") and len(value) <= 200
            and all(ch.isalnum() or ch in "/-_%." for ch in value) and ".." not in value)


def _absolute(base_url: str, url: str) -> str:
    if urlsplit(url).scheme:
        return url
    return base_url + (url if url.startswith("/") else "/" + url)


def _one_line(text: str) -> str:
    line = re.sub(r"\s+", " ", text).strip()
    return line if len(line) <= EXCERPT_CHARS else line[: EXCERPT_CHARS - 1] + "…"


def _seconds(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
