"""Request authentication: ``Authorization: Bearer <token>`` to a Principal.

Per request, in this order:

1. the header must be ``Bearer <token>`` and the token's checksum must hold;
   nothing else touches the database;
2. a token this process has not verified yet must pass three bounds that
   guard bcrypt, each answered 429 with Retry-After at once, without running
   bcrypt and without queueing:

   - failures per (token id, client address) per window;
   - failed bcrypt checks per second, process-wide;
   - bcrypt checks in flight, process-wide (``bcrypt_concurrency``, about
     half the cores by default). The checksum is public, so well-formed tokens
     with random ids cost an attacker nothing, and each costs the collector a
     bcrypt check; a rate alone let 16 connections keep every server thread in
     bcrypt, and a verified token's request waited behind them for seconds.
     Bounded by concurrency, at most that many threads and cores are ever in
     bcrypt, and the rest of the threads serve verified tokens, whose path
     takes no lock that a bcrypt check holds (bcrypt runs outside ``_lock``
     and releases the GIL);
   A request whose exact token is being checked by another thread right now
   waits for that check instead of running its own (a CI matrix's jobs often
   share one token and start together); at most ``max_waiting`` requests wait
   so (half the server's threads), the rest are answered 429 as above, so
   waiting threads never take every thread from verified tokens;
3. one ``store.get_token`` by id, on every request, so revocation and expiry
   take effect on the next request on every node;
4. bcrypt, only for a token this process has not verified (a bounded cache
   keyed by the token's SHA-256); an unknown id is checked against a dummy hash
   of the same cost so it takes as long as a wrong secret;
5. the per-token request rate (token bucket), the last-use write (at most
   once a minute per token), then the scope (403).

Every authentication failure is the same Unauthorized, so no answer tells which
check failed; the metrics' ``reason`` label tells the operator.

Why failures are counted per (token id, client address). A token's id is
public (``testrun-admin token list`` prints it, and it is part of the token),
so a throttle per id alone let anyone lock a token out: five bad secrets with
its id, and the real token got 429 on every process that had not verified it
yet, after every restart. Counted per id and address, wrong secrets from one
address throttle that address only; the CI job's own address keeps its
allowance. The client address is the WSGI ``REMOTE_ADDR``, which waitress sets
from X-Forwarded-For when ``trusted_proxy`` is configured (behind a proxy
without it, every client has the proxy's address and the throttle is per id
again: configure the proxy). The table is bounded (``FAILURE_TABLE_SIZE``,
least recently failed forgotten first), so an attacker spread over many
addresses cannot grow memory, and forgetting only ever gives an address its
allowance back.

An attacker spread over many addresses is then held by the process-wide
bounds only, and those keep no per-token state: they refuse a correct secret
only while the checks in flight or the failed checks of the current second
are at their limit, with Retry-After: 1, never for a window, and never for
good. The client retries 429 (with backoff), one of its retries gets a
check, and from then on the token is verified in this process and no bound
on bcrypt applies to it. The global bounds protect the CPU; only the per
(id, address) throttle holds a refusal for a whole window, and only for the
address that sent the wrong secrets.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, Protocol

from .errors import Forbidden, TooManyRequests, Unauthorized, Unavailable
from .model import SCOPES, Project, TokenRecord, grants
from .timeutil import utc_now
from .tokens import hash_secret, mint_token, parse_token, secret_matches

if TYPE_CHECKING:
    from .metrics import Metrics
    from .settings import Settings

#: verified tokens remembered per process (and tokens with rate-limit state)
VERIFIED_CACHE_SIZE = 10_000
#: (token id, client address) pairs whose recent failures are remembered
FAILURE_TABLE_SIZE = 100_000
#: the ``reason`` label values of ``testrun_auth_failures_total``
FAILURE_REASONS = (
    "missing", "malformed", "unknown", "bad_secret", "revoked", "expired", "forbidden",
    "throttled", "throttled_global", "bcrypt_busy", "rate_limited",
)
#: seconds between two last-used writes for one token in one process
TOUCH_INTERVAL_S = 60.0
_GLOBAL_WINDOW_S = 1.0
#: the longest a request waits for another thread's check of its token (a bcrypt takes a fraction of this)
CHECK_WAIT_S = 10.0


class TokenSource(Protocol):
    """The part of the Store that authentication needs."""

    def get_token(self, token_id: str) -> TokenRecord | None: ...

    def touch_token(self, token_id: str, when: str) -> None: ...


@dataclass(frozen=True)
class Principal:
    token_id: str
    project: Project | None
    scopes: tuple[str, ...]
    #: the token's name, or its id: who changes made with it are by
    actor: str = ""


class _Window:
    """Failures counted in a fixed window that starts at the first failure after the last one ended."""

    __slots__ = ("failures", "started")

    def __init__(self, now: float) -> None:
        self.started = now
        self.failures = 0

    def roll(self, now: float, length: float) -> None:
        if now >= self.started + length:
            self.started, self.failures = now, 0

    def remaining(self, now: float, length: float) -> float:
        return self.started + length - now


class _Check:
    """A bcrypt check in flight for one exact token, which other requests with that token may wait for.

    ``outcome`` is ``"verified"``, a failure reason, or None when the check broke (the database, say).
    """

    __slots__ = ("done", "outcome")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.outcome: str | None = None


class _TokenState:
    """Per verified token: its request bucket and when its last use was written."""

    __slots__ = ("refilled_at", "tokens", "touched_at")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.refilled_at = now
        self.touched_at: float | None = None


class Authenticator:
    """Authenticates requests; one per app, shared by the server's threads.

    A correct token that this process has not verified yet is refused with 429
    while its (id, client address) pair is throttled (wrong secrets for it came
    from that address), while the process-wide failure budget is spent, or
    while the bcrypt checks in flight are at their bound: telling it apart
    from a wrong secret would take the bcrypt check the bounds exist to avoid.
    A token already verified by this process is never throttled that way. The
    client retries 429 after Retry-After.
    """

    def __init__(
        self,
        store: TokenSource,
        settings: Settings,
        metrics: Metrics | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], str] = utc_now,
    ) -> None:
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._verified: OrderedDict[bytes, bytes] = OrderedDict()
        self._token_state: OrderedDict[str, _TokenState] = OrderedDict()
        self._failures: OrderedDict[tuple[str, str], _Window] = OrderedDict()
        self._global_failures = _Window(clock())
        self._bcrypt_in_flight = 0
        self._checks: dict[bytes, _Check] = {}
        self._waiting = 0
        self._max_waiting = max(1, settings.threads // 2)
        self._dummy_lock = threading.Lock()
        self._dummy: bytes | None = None

    def authenticate(
        self, authorization: str | None, *, scope: str | tuple[str, ...], client: str = ""
    ) -> Principal:
        """Return who is calling, or raise Unauthorized (401), Forbidden (403) or TooManyRequests (429).

        ``scope`` is the scope the call needs, or a tuple of scopes any one of which will do.

        ``client`` is the caller's address (WSGI ``REMOTE_ADDR``); failed secrets are counted per token
        id and client, so nobody elsewhere can throttle a token's own clients.
        """
        needed = (scope,) if isinstance(scope, str) else scope
        if not needed or any(name not in SCOPES for name in needed):
            raise ValueError(f"unknown scope {scope!r}")
        token = self._bearer_token(authorization)
        try:
            token_id, secret = parse_token(token)
        except Unauthorized:
            self._fail("malformed")
        key = hashlib.sha256(token.encode("ascii")).digest()
        verified_hash = self._cached(key)
        if verified_hash is None:
            record = self._verify(key, (token_id, client), secret)
        else:
            record = self._recheck(key, token_id, verified_hash)
        principal = Principal(
            token_id=token_id, project=record.project, scopes=tuple(record.scopes), actor=record.shown_name
        )
        self._spend(token_id)
        self._touch(token_id)
        if not any(grants(principal.scopes, name) for name in needed):
            self._count("forbidden")
            wanted = " or ".join(repr(name) for name in needed)
            raise Forbidden(f"this token lacks the {wanted} scope")
        return principal

    # --- the checks ---------------------------------------------------------
    def _bearer_token(self, authorization: str | None) -> str:
        if authorization is None or not authorization.strip():
            self._fail("missing")
        parts = authorization.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            self._fail("malformed")
        return parts[1]

    def _verify(self, key: bytes, pair: tuple[str, str], secret: str) -> TokenRecord:
        """First use of this exact token in this process: throttles, lookup, bcrypt; or the outcome of the
        check of the same token that another request has in flight."""
        check, leading = self._reserve_bcrypt(key, pair)
        if not leading:
            return self._await_check(key, pair, check)
        try:
            record, failure = self._check_secret(pair[0], secret)
            if record is not None and failure is None:
                self._remember(key, record.secret_hash)
            check.outcome = failure or "verified"
        finally:
            self._release_bcrypt(key, pair, check)
        if failure is not None:
            self._fail(failure)
        assert record is not None
        return record

    def _check_secret(self, token_id: str, secret: str) -> tuple[TokenRecord | None, str | None]:
        """The token's row, and why it is refused (None when it is not); bcrypt runs either way."""
        record = self._store.get_token(token_id)
        if record is None:
            self._bcrypt(secret, self._dummy_hash())
            return None, "unknown"
        if not self._bcrypt(secret, record.secret_hash):
            return record, "bad_secret"
        return record, self._lifecycle_failure(record)

    def _await_check(self, key: bytes, pair: tuple[str, str], check: _Check) -> TokenRecord:
        """Wait for another request's check of this very token, then share its outcome, without a bcrypt."""
        try:
            finished = check.done.wait(CHECK_WAIT_S)
        finally:
            with self._lock:
                self._waiting -= 1
        if not finished:
            self._count("bcrypt_busy")
            raise TooManyRequests("too many authentication checks at once; try again shortly", retry_after=1)
        if check.outcome is None:  # the check broke, as the database did under it: the client retries
            raise Unavailable("the token could not be checked right now; retry shortly", retry_after=1)
        if check.outcome != "verified":
            self._count_failure(pair, bcrypt_ran=False)
            self._fail(check.outcome)
        verified_hash = self._cached(key)
        if verified_hash is None:  # forgotten since: the token was revoked or deleted in between
            self._fail("unknown")
        return self._recheck(key, pair[0], verified_hash)

    def _recheck(self, key: bytes, token_id: str, verified_hash: bytes) -> TokenRecord:
        """A token verified before: only revocation, expiry or deletion can refuse it now."""
        record = self._store.get_token(token_id)
        if record is None or record.secret_hash != verified_hash:
            failure: str | None = "unknown"
        else:
            failure = self._lifecycle_failure(record)
        if failure is not None:
            self._forget(key, token_id)
            self._fail(failure)
        assert record is not None
        return record

    def _lifecycle_failure(self, record: TokenRecord) -> str | None:
        if record.revoked_at is not None:
            return "revoked"
        # Both are fixed-width RFC 3339 UTC strings (timeutil.format_utc): text order is time order.
        if record.expires_at is not None and record.expires_at <= self._now():
            return "expired"
        return None

    def _bcrypt(self, secret: str, secret_hash: bytes) -> bool:
        if self._metrics is not None:
            self._metrics.bcrypt_verifications.inc()
        return secret_matches(secret, secret_hash)

    def _dummy_hash(self) -> bytes:
        """A hash of the configured cost, made on first need so start-up pays no bcrypt."""
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = hash_secret(mint_token().secret, self._settings.bcrypt_rounds)
            return self._dummy

    def _fail(self, reason: str) -> NoReturn:
        self._count(reason)
        raise Unauthorized()

    def _count(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.auth_failures.labels(reason=reason).inc()

    # --- throttling failures ------------------------------------------------
    def _reserve_bcrypt(self, key: bytes, pair: tuple[str, str]) -> tuple[_Check, bool]:
        """A new check to run now (leading: True), the check of this token already in flight to wait for
        (False), or 429 at once, without a bcrypt and without waiting."""
        now = self._clock()
        with self._lock:
            running = self._checks.get(key)
            if running is not None and self._waiting < self._max_waiting:
                self._waiting += 1
                return running, False
            reason, wait = "bcrypt_busy", 1.0
            if running is None:
                reason, wait = "throttled", self._per_id_wait(pair, now)
                if wait == 0:
                    reason, wait = "throttled_global", self._global_wait(now)
                if wait == 0 and self._bcrypt_in_flight >= self._settings.bcrypt_concurrency:
                    # The check in flight ends within a bcrypt's time; a second is the smallest Retry-After.
                    reason, wait = "bcrypt_busy", 1.0
                if wait == 0:
                    self._bcrypt_in_flight += 1
                    check = self._checks[key] = _Check()
                    return check, True
        self._count(reason)
        raise TooManyRequests("too many failed authentication attempts; try again later", retry_after=math.ceil(wait))

    def _per_id_wait(self, pair: tuple[str, str], now: float) -> float:
        """Seconds until this (id, client) pair may be checked again; the caller holds the lock."""
        window = self._failures.get(pair)
        if window is None:
            return 0.0
        length = self._settings.auth_failure_window_s
        window.roll(now, length)
        if window.failures < self._settings.auth_failures_per_token:
            return 0.0
        return window.remaining(now, length)

    def _global_wait(self, now: float) -> float:
        """Seconds until the process-wide budget frees; the caller holds the lock.

        Checks still running count as possible failures, so concurrent requests
        cannot all slip under the budget at once.
        """
        overall = self._global_failures
        overall.roll(now, _GLOBAL_WINDOW_S)
        if overall.failures + self._bcrypt_in_flight < self._settings.auth_failures_per_second:
            return 0.0
        return overall.remaining(now, _GLOBAL_WINDOW_S)

    def _release_bcrypt(self, key: bytes, pair: tuple[str, str], check: _Check) -> None:
        with self._lock:
            self._bcrypt_in_flight -= 1
            del self._checks[key]
        check.done.set()
        if check.outcome not in (None, "verified"):
            self._count_failure(pair, bcrypt_ran=True)

    def _count_failure(self, pair: tuple[str, str], *, bcrypt_ran: bool) -> None:
        """Count a wrong token against its (id, client) pair, and a bcrypt check that failed process-wide."""
        now = self._clock()
        with self._lock:
            if bcrypt_ran:
                self._global_failures.roll(now, _GLOBAL_WINDOW_S)
                self._global_failures.failures += 1
            window = self._failures.get(pair)
            if window is None:
                window = self._failures[pair] = _Window(now)
            window.roll(now, self._settings.auth_failure_window_s)
            window.failures += 1
            self._failures.move_to_end(pair)
            while len(self._failures) > FAILURE_TABLE_SIZE:
                self._failures.popitem(last=False)

    # --- verified tokens: cache, rate limit, last use -------------------------
    def _cached(self, key: bytes) -> bytes | None:
        with self._lock:
            verified_hash = self._verified.get(key)
            if verified_hash is not None:
                self._verified.move_to_end(key)
            return verified_hash

    def _remember(self, key: bytes, secret_hash: bytes) -> None:
        with self._lock:
            self._verified[key] = secret_hash
            self._verified.move_to_end(key)
            while len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)

    def _forget(self, key: bytes, token_id: str) -> None:
        with self._lock:
            self._verified.pop(key, None)
            self._token_state.pop(token_id, None)

    def _state(self, token_id: str, now: float) -> _TokenState:
        """This token's state; the caller holds the lock."""
        state = self._token_state.get(token_id)
        if state is None:
            state = self._token_state[token_id] = _TokenState(float(self._settings.token_burst), now)
        self._token_state.move_to_end(token_id)
        while len(self._token_state) > VERIFIED_CACHE_SIZE:
            self._token_state.popitem(last=False)
        return state

    def _spend(self, token_id: str) -> None:
        """Take one request from the token's bucket, or raise 429 with the wait for the next."""
        rate = self._settings.token_rate_per_s
        if rate <= 0:
            return
        now = self._clock()
        with self._lock:
            state = self._state(token_id, now)
            elapsed = max(0.0, now - state.refilled_at)
            state.tokens = min(float(self._settings.token_burst), state.tokens + elapsed * rate)
            state.refilled_at = now
            if state.tokens >= 1:
                state.tokens -= 1
                return
            wait = (1 - state.tokens) / rate
        self._count("rate_limited")
        raise TooManyRequests("too many requests for this token; slow down", retry_after=math.ceil(wait))

    def _touch(self, token_id: str) -> None:
        """Record last use at most once per TOUCH_INTERVAL_S, so requests stay read-only."""
        now = self._clock()
        with self._lock:
            state = self._state(token_id, now)
            if state.touched_at is not None and now - state.touched_at < TOUCH_INTERVAL_S:
                return
            state.touched_at = now
        self._store.touch_token(token_id, self._now())
