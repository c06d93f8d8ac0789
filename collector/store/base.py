"""The storage interface the routes and the admin CLI talk to.

A backend (SQLite, PostgreSQL) implements every method with the
same behaviour; nothing above this layer holds SQL.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

from ..model import (
    InsertOutcome,
    Org,
    Project,
    PruneReport,
    QuarantineEntry,
    QuarantineEvent,
    RunPage,
    RunPayload,
    StoredRun,
    TestPage,
    TestResult,
    TokenRecord,
    WebSession,
)
from .analytics import AnalyticsReads

#: results deleted per write transaction when pruning: short enough that ingest keeps flowing
PRUNE_BATCH_TESTS = 20_000
#: runs looked at per pruning batch
PRUNE_SCAN_RUNS = 1_000


class Store(AnalyticsReads, ABC):
    #: the newest schema version this code knows
    LATEST_VERSION: int

    # --- schema -----------------------------------------------------------
    @abstractmethod
    def schema_version(self) -> int:
        """The version the database is at; 0 for an empty database."""

    @abstractmethod
    def migrate(self) -> list[int]:
        """Apply every pending numbered migration, each in its own transaction; return those applied."""

    def check_schema(self) -> None:
        """Raise SchemaMismatch unless the database is at LATEST_VERSION."""
        from ..errors import SchemaMismatch

        version = self.schema_version()
        if version != self.LATEST_VERSION:
            raise SchemaMismatch(
                f"database schema is at version {version}, this collector needs {self.LATEST_VERSION}: "
                "run 'testrun-admin migrate' with the same --db"
            )

    @abstractmethod
    def ping(self) -> None:
        """Raise Unavailable when the database cannot answer a trivial query."""

    @abstractmethod
    def close(self) -> None: ...

    # --- orgs and projects ------------------------------------------------
    @abstractmethod
    def create_org(self, name: str) -> Org:
        """Raise AlreadyExists when an org of that name exists."""

    @abstractmethod
    def list_orgs(self) -> list[Org]: ...

    @abstractmethod
    def create_project(self, org: str, name: str, *, default_branch: str = "main") -> Project:
        """Raise NotFound for an unknown org, AlreadyExists for a taken name."""

    @abstractmethod
    def set_default_branch(self, project: Project, branch: str) -> Project:
        """Name the project's default branch, and rebuild its failing streaks there from the stored runs."""

    @abstractmethod
    def get_project(self, org: str, name: str) -> Project:
        """Raise NotFound when there is no such project."""

    @abstractmethod
    def list_projects(self, org: str | None = None) -> list[Project]: ...

    @abstractmethod
    def set_auto_quarantine(self, project: Project, on: bool) -> Project:
        """Turn the project's automatic quarantine on or off; the project as stored now."""

    # --- the quarantine list ----------------------------------------------------
    @abstractmethod
    def quarantine_list(self, project: Project, now: str) -> list[QuarantineEntry]:
        """The entries that count at ``now`` (not released, not expired), by test id."""

    @abstractmethod
    def quarantine_add(
        self, project: Project, test_id: str, *, reason: str, actor: str, expires_at: str | None, now: str,
        source: str = "manual",
    ) -> QuarantineEntry:
        """Put a test on the list, or change its entry; written to the trail either way."""

    @abstractmethod
    def quarantine_release(self, project: Project, test_id: str, *, actor: str, now: str) -> QuarantineEntry:
        """Take a test off the list; NotFound when it is not on it."""

    @abstractmethod
    def quarantine_trail(self, project: Project, test_id: str, now: str) -> list[QuarantineEvent]:
        """Every add, release and expiry of the test's entries, oldest first."""

    # --- tokens -----------------------------------------------------------
    @abstractmethod
    def insert_token(self, token: TokenRecord) -> None: ...

    @abstractmethod
    def get_token(self, token_id: str) -> TokenRecord | None:
        """One indexed lookup by token id; None when unknown."""

    @abstractmethod
    def list_tokens(self, project: Project | None = None) -> list[TokenRecord]:
        """All tokens (admin tokens included) or those of one project, oldest first."""

    @abstractmethod
    def revoke_token(self, token_id: str, when: str) -> bool:
        """Mark revoked and delete the token's web sessions, in one transaction; False when no such token.

        Revoking twice keeps the first time.
        """

    @abstractmethod
    def touch_token(self, token_id: str, when: str) -> None:
        """Record last use."""

    # --- web sessions -------------------------------------------------------
    @abstractmethod
    def create_web_session(self, id_hash: bytes, token_id: str, when: str) -> None:
        """Store a session by the SHA-256 of its id, created and last seen ``when``; NotFound for an unknown token."""

    @abstractmethod
    def get_web_session(self, id_hash: bytes) -> WebSession | None:
        """One indexed lookup, with the token's row as stored now; None when unknown (or its token is gone)."""

    @abstractmethod
    def touch_web_session(self, id_hash: bytes, when: str) -> None:
        """Record that the session was used ``when``."""

    @abstractmethod
    def delete_web_session(self, id_hash: bytes) -> bool:
        """End a session; False when there was none."""

    @abstractmethod
    def purge_web_sessions(self, *, idle_before: str, created_before: str, limit: int) -> int:
        """Delete at most ``limit`` sessions last seen before ``idle_before`` or created before ``created_before``.

        Return how many went: fewer than ``limit`` means none of them is left.
        """

    # --- runs ---------------------------------------------------------------
    @abstractmethod
    def insert_run(self, project: Project, run: RunPayload, received_at: str) -> InsertOutcome:
        """Store the run, all its tests and their rollups in one transaction, or find it stored.

        ``(project, run_id)`` is unique in the database: when the run exists the
        outcome is ``duplicate`` if its digest equals ``run.digest``, else
        ``conflict``; nothing already stored is changed. Raise Unavailable when
        the database stays busy past its timeout.
        """

    @abstractmethod
    def open_upload(self, project: Project, now: str) -> str:
        """Open an upload (a run sent in batches); its id."""

    @abstractmethod
    def add_batch(self, project: Project, upload_id: str, seq: int, tests: list[TestResult]) -> str:
        """Store batch ``seq`` of an open upload: ``created``, or ``duplicate`` for the very same batch again.

        NotFound for an unknown upload, UploadConflict for other tests under a taken number or a completed
        upload, Invalid for a test id sent in an earlier batch.
        """

    @abstractmethod
    def complete_upload(
        self, project: Project, upload_id: str, header: RunPayload, batches: int, *, now: str, max_tests: int
    ) -> InsertOutcome:
        """Make an upload the run it holds, or answer as ``insert_run`` would for a run_id already stored."""

    @abstractmethod
    def get_run(self, project: Project, run_id: str, *, with_tests: bool = True) -> StoredRun:
        """Raise NotFound when this project has no such run (another project's run included)."""

    @abstractmethod
    def list_run_tests(self, project: Project, run_id: str, *, limit: int, cursor: str | None = None) -> TestPage:
        """One page of at most ``limit`` of the run's tests: failures first, then flaky passes, then the rest.

        Ordered by attention rank (model.attention_rank), then the order the
        tests were sent in; the query reads one page, never the whole run.
        Raise NotFound as get_run does, BadRequest for a cursor this store did
        not make.
        """

    @abstractmethod
    def list_runs(
        self,
        project: Project,
        *,
        limit: int,
        cursor: str | None = None,
        branch: str | None = None,
        status: str | None = None,
    ) -> RunPage:
        """Newest first by (started_at, insertion order); ``next_cursor`` is opaque.

        Raise BadRequest for a cursor this store did not make.
        """

    def prune_runs(
        self,
        cutoff: str,
        *,
        project: Project | None = None,
        dry_run: bool = False,
        batch_tests: int = PRUNE_BATCH_TESTS,
    ) -> PruneReport:
        """Delete runs that started before ``cutoff`` (and their results), oldest first, in short batches.

        Each batch is its own write transaction of whole runs holding about
        ``batch_tests`` results (at least one run), so ingest waits for one
        batch at most, never for the whole prune. ``dry_run`` only counts.
        """
        if dry_run:
            runs, tests = self._count_runs_before(cutoff, project)
            return PruneReport(runs=runs, tests=tests, batches=0, longest_batch_s=0.0)
        runs = tests = batches = 0
        longest = 0.0
        while True:
            started = time.perf_counter()
            removed_runs, removed_tests = self._delete_oldest_runs_before(cutoff, project, batch_tests)
            if not removed_runs:
                break
            longest = max(longest, time.perf_counter() - started)
            runs, tests, batches = runs + removed_runs, tests + removed_tests, batches + 1
        return PruneReport(runs=runs, tests=tests, batches=batches, longest_batch_s=longest)

    @abstractmethod
    def _count_runs_before(self, cutoff: str, project: Project | None) -> tuple[int, int]:
        """Runs that started before ``cutoff``, and their results."""

    @abstractmethod
    def _delete_oldest_runs_before(self, cutoff: str, project: Project | None, batch_tests: int) -> tuple[int, int]:
        """In one write transaction, delete the oldest such runs up to ``batch_tests`` results; what it removed."""


def oldest_batch(candidates: list[tuple[int, int]], batch_tests: int) -> tuple[list[int], int]:
    """Run ids (oldest first) whose results add up to about ``batch_tests``; at least one run."""
    ids: list[int] = []
    tests = 0
    for run_pk, count in candidates:
        if ids and tests + count > batch_tests:
            break
        ids.append(run_pk)
        tests += count
    return ids, tests
