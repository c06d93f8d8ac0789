"""Plain records passed between validation, the store and the routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

TEST_STATUSES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
RUN_STATUSES = ("passed", "failed", "error", "skipped")
SCOPES = ("ingest", "read", "triage", "admin")
#: scopes that hold others: a triage token (which changes the quarantine list) also reads
IMPLIED_SCOPES = {"triage": ("read",)}


def grants(scopes: tuple[str, ...] | list[str], needed: str) -> bool:
    """Whether a token with ``scopes`` may do what ``needed`` allows."""
    return needed in scopes or any(needed in IMPLIED_SCOPES.get(scope, ()) for scope in scopes)
#: how soon a test of a run is listed: what needs attention first (failures, then flaky passes)
ATTENTION_RANKS = {"failed": 0, "error": 0, "xpassed": 2, "skipped": 3, "xfailed": 3, "passed": 4}
FLAKY_PASS_RANK = 1
#: the rank of a status this code does not know
OTHER_RANK = 2


def attention_rank(status: str, flaky: bool) -> int:
    """Where a test is listed among its run's tests: lower ranks first."""
    if flaky and status == "passed":
        return FLAKY_PASS_RANK
    return ATTENTION_RANKS.get(status, OTHER_RANK)


@dataclass(frozen=True, slots=True)
class Org:
    id: int
    name: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    org: str
    name: str
    created_at: str
    #: "on the default branch" means runs whose vcs.branch is this name
    default_branch: str = "main"
    #: quarantine tests flaky on 2 or more commits in 14 days automatically, at ingest
    auto_quarantine: bool = False

    @property
    def slug(self) -> str:
        return f"{self.org}/{self.name}"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token as stored: never the secret, only its bcrypt hash.

    ``project`` is None for admin tokens, which belong to no project.
    """

    token_id: str
    secret_hash: bytes
    project: Project | None
    scopes: tuple[str, ...]
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None
    last_used_at: str | None = None
    #: what people call it (who quarantined a test); None shows the token id
    name: str | None = None

    @property
    def shown_name(self) -> str:
        return self.name or self.token_id


@dataclass(frozen=True, slots=True)
class WebSession:
    """A browser signed in to the web pages, with the row of the token that signed it in as stored now.

    The session id lives only in the browser's cookie; the store keeps its SHA-256, ``id_hash``.
    """

    id_hash: bytes
    token: TokenRecord
    created_at: str
    last_seen_at: str


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A test on a project's quarantine list: its failures do not block."""

    test_id: str
    reason: str
    added_by: str
    added_at: str
    expires_at: str | None
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "reason": self.reason,
            "added_by": self.added_by,
            "added_at": self.added_at,
            "expires_at": self.expires_at,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class QuarantineEvent:
    """One change to the list: ``add`` (or a change of reason or expiry), ``release`` or ``expire``."""

    test_id: str
    action: str
    source: str
    actor: str
    at: str
    reason: str | None
    expires_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "action": self.action,
            "source": self.source,
            "actor": self.actor,
            "at": self.at,
            "reason": self.reason,
            "expires_at": self.expires_at,
        }


@dataclass(slots=True)
class TestResult:
    __test__ = False  # a record, not a pytest test class
    id: str
    name: str
    suite: str | None
    file: str | None
    line: int | None
    status: str
    duration_ms: float
    attempts: int
    flaky: bool
    message: str | None
    details: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "suite": self.suite,
            "file": self.file,
            "line": self.line,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "attempts": self.attempts,
            "flaky": self.flaky,
            "message": self.message,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class Counts:
    total: int = 0
    passed: int = 0
    failed: int = 0
    error: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    flaky: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "passed": self.passed,
            "failed": self.failed,
            "error": self.error,
            "skipped": self.skipped,
            "xfailed": self.xfailed,
            "xpassed": self.xpassed,
            "flaky": self.flaky,
        }


@dataclass(slots=True)
class RunPayload:
    """A validated, normalised run, ready to store.

    ``digest`` is the SHA-256 of the canonical form; two payloads with the same
    digest are the same content (a client retry). ``started_at`` is None when
    the client sent none; the store then uses the time it was received, which
    stays out of the digest so a retry is still the same content.
    """

    run_id: str
    status: str
    started_at: str | None
    duration_ms: float | None
    ci: dict[str, Any]
    vcs: dict[str, Any]
    reporter: dict[str, Any]
    tests: list[TestResult]
    counts: Counts
    digest: str


@dataclass(slots=True)
class StoredRun:
    run_id: str
    status: str
    started_at: str
    duration_ms: float | None
    received_at: str
    ci: dict[str, Any]
    vcs: dict[str, Any]
    reporter: dict[str, Any]
    counts: Counts
    digest: str
    tests: list[TestResult] | None = field(default=None)
    #: the verdict worked out when the run arrived (collector.verdict); None for runs stored before verdicts
    verdict: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class InsertOutcome:
    """What storing a run did: ``created``, ``duplicate`` (same digest) or ``conflict``."""

    outcome: str
    run: StoredRun


@dataclass(frozen=True, slots=True)
class RunPage:
    runs: list[StoredRun]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class TestPage:
    """One page of a run's tests, what needs attention first; the cursors are opaque.

    ``after[i]`` is the cursor of the page that starts after ``tests[i]``, so a
    caller that sends only part of the page can still say where to go on.
    """

    __test__ = False  # a record, not a pytest test class
    tests: list[TestResult]
    next_cursor: str | None
    after: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What pruning removed (or, in a dry run, would remove), and how long its longest write took."""

    runs: int
    tests: int
    batches: int
    longest_batch_s: float


# --- what the store answers the analytics -------------------------------------------
@dataclass(frozen=True, slots=True)
class Window:
    """The last ``days`` UTC days up to ``today`` (included), optionally on one branch."""

    days: int
    branch: str | None
    today: date

    @property
    def first_day(self) -> str:
        return (self.today - timedelta(days=self.days - 1)).isoformat()

    @property
    def since(self) -> str:
        """The first instant of the window, as the stores write times."""
        return self.first_day + "T00:00:00.000000Z"

    def day_list(self) -> list[str]:
        return [(self.today - timedelta(days=back)).isoformat() for back in range(self.days - 1, -1, -1)]

    def as_dict(self) -> dict[str, Any]:
        return {"days": self.days, "branch": self.branch, "from": self.first_day, "to": self.today.isoformat()}


@dataclass(frozen=True, slots=True)
class RunPoint:
    started_at: str
    status: str
    duration_ms: float | None
    tests_ran: int


@dataclass(frozen=True, slots=True)
class TestTotals:
    """One test's results over a window: how many ran, how many of those failed."""

    __test__ = False
    test_id: str
    ran: int
    failures: int


@dataclass(slots=True)
class TestDurations:
    """One test's durations over a window: results that ran, their sum and range, and their histogram."""

    __test__ = False
    ran: int
    duration_sum: float
    duration_min: float
    duration_max: float
    histogram: dict[int, int]


@dataclass(frozen=True, slots=True)
class TestLabel:
    """A test's name and suite as last reported in the window, and its latest failure there."""

    __test__ = False
    name: str
    suite: str | None
    last_failure_at: str | None
    last_failure_run_pk: int | None


@dataclass(frozen=True, slots=True)
class RetryFlake:
    test_id: str
    run_id: str
    commit: str | None
    at: str


@dataclass(frozen=True, slots=True)
class MixedCommit:
    test_id: str
    commit: str
    failures: int
    last_at: str
    last_failure_run_id: str | None


@dataclass(frozen=True, slots=True)
class FailureDetail:
    run_id: str
    at: str
    message: str | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    run_id: str
    name: str
    suite: str | None
    started_at: str
    commit: str | None
    branch: str | None
    status: str
    duration_ms: float
    attempts: int
    flaky: bool
    message: str | None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[HistoryEntry]
    next_cursor: str | None
