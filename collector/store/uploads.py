"""Runs sent in batches while their tests still run (``/api/v1/uploads``), for an SQL store.

An upload is a run row that is still open: ``is_open`` set, and a ``run_id``
no client can send (``OPEN_PREFIX`` and the upload's id). Every read of runs
and results leaves open runs out, and they hold no rollups, so nothing of an
upload shows until it is completed. Each batch adds its tests (numbered from
``seq * BATCH_MAX_TESTS``, so they read back in the order sent) in a short
transaction of its own; that is the work the end of a session no longer waits
for. Completing reads the tests back, counts and digests them exactly as one
``POST /api/v1/runs`` of the same run would, and then either gives the row its
real run id, counts, rollups and verdict, in one transaction (``created``), or,
when the run id is stored already, deletes the upload and answers
``duplicate`` or ``conflict`` by digest, as a single POST would. The upload id
stays on the completed run, so a completion sent again (its answer was lost)
is answered ``duplicate``. Uploads never completed are deleted a day later,
when the project opens another.
"""

from __future__ import annotations

import hashlib
import secrets
from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from ..errors import FieldError, Invalid, NotFound, Unavailable, UploadConflict
from ..model import InsertOutcome, Project, RunPayload, StoredRun, TestResult
from ..timeutil import format_utc, parse_rfc3339
from ..validation import BATCH_MAX_TESTS, with_tests
from . import rollups
from .records import dump_json, result_from_values, run_params, stored_run_from_payload, stored_run_from_row

#: the start of an open upload's run_id: a control character, which no client's run_id may hold
OPEN_PREFIX = "\x1f"
#: how long an upload may stay open before it is deleted
UPLOAD_TTL = timedelta(days=1)

OPEN = """
    INSERT INTO runs (project_id, run_id, status, started_at, received_at, digest, ci, vcs, reporter,
                      tests_total, passed, failed, error, skipped, xfailed, xpassed, flaky, is_open, upload_id)
    VALUES (?, ?, 'passed', {time}, {time}, '', '{}', '{}', '{}', 0, 0, 0, 0, 0, 0, 0, 0, ?, ?)
"""
EXPIRED = "SELECT id FROM runs WHERE project_id = ? AND is_open AND received_at < {time}"
FIND = "SELECT id, is_open FROM runs WHERE project_id = ? AND upload_id = ?"
BATCH = "SELECT digest FROM upload_batches WHERE run_pk = ? AND seq = ?"
ADD_BATCH = "INSERT INTO upload_batches (run_pk, seq, digest, tests) VALUES (?, ?, ?, ?)"
BATCHES = "SELECT seq FROM upload_batches WHERE run_pk = ? ORDER BY seq"
RESULTS = (
    "SELECT test_id, name, suite, file, line, status, duration_ms, attempts, flaky, message, details "
    "FROM test_results WHERE run_pk = ? ORDER BY seq"
)
STORED = "SELECT id FROM runs WHERE project_id = ? AND run_id = ? AND NOT is_open"
RUN_BY_PK = (
    "SELECT id, run_id, status, started_at, duration_ms, received_at, digest, ci, vcs, reporter, tests_total, "
    "passed, failed, error, skipped, xfailed, xpassed, flaky, verdict FROM runs WHERE id = ?"
)
CLOSE = """
    UPDATE runs SET run_id = ?, status = ?, started_at = {time}, duration_ms = ?, received_at = {time}, digest = ?,
        ci = ?, vcs = ?, reporter = ?, branch = ?, commit_sha = ?, tests_total = ?, passed = ?, failed = ?,
        error = ?, skipped = ?, xfailed = ?, xpassed = ?, flaky = ?, is_open = ?
    WHERE id = ? AND is_open
"""
FORGET_BATCHES = "DELETE FROM upload_batches WHERE run_pk = ?"
DROP = "DELETE FROM runs WHERE id = ?"


def batch_digest(tests: list[TestResult]) -> str:
    """What a batch holds, to tell the same batch sent again from another one under its number."""
    text = dump_json([test.as_dict() for test in tests])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class UploadWrites:
    """Open, fill and complete uploads; needs the SQL store's connections, dialect and verdict."""

    DIALECT: rollups.Dialect

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]: ...

    @abstractmethod
    def _tuples(self, conn: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _cursor(self, conn: Any) -> rollups.Cursor: ...

    @abstractmethod
    def _insert_id(self, conn: Any, sql: str, params: Sequence[Any]) -> int | None: ...

    @abstractmethod
    def _insert_results(self, conn: Any, run_pk: int, tests: list[TestResult], first_seq: int = 0) -> None: ...

    @abstractmethod
    def _violation(self, error: BaseException) -> str | None: ...

    @abstractmethod
    def judge_new_run(
        self, conn: Any, project: Project, run_pk: int, run: RunPayload, started_at: str, received_at: str
    ) -> dict[str, Any]: ...

    def _sql_of(self, text: str) -> str:
        return self.DIALECT.sql(text)

    def _run_by_pk(self, conn: Any, run_pk: int) -> StoredRun:
        return stored_run_from_row(conn.execute(self._sql_of(RUN_BY_PK), (run_pk,)).fetchone())

    def open_upload(self, project: Project, now: str) -> str:
        """A new upload of the project; its id. Uploads left open a day are deleted first."""
        upload_id = secrets.token_urlsafe(18)
        with self._transaction() as conn:
            stale = format_utc(parse_rfc3339(now) - UPLOAD_TTL)
            dropped = self._tuples(conn, self._sql_of(EXPIRED), (project.id, stale))
            self._cursor(conn).executemany(self._sql_of(DROP), [(row[0],) for row in dropped])
            self._insert_id(conn, self._sql_of(OPEN), (project.id, OPEN_PREFIX + upload_id, now, now, True, upload_id))
        return upload_id

    def _open_pk(self, conn: Any, project: Project, upload_id: str) -> tuple[int, bool]:
        rows = self._tuples(conn, self._sql_of(FIND), (project.id, upload_id))
        if not rows:
            raise NotFound(f"upload {upload_id!r} not found: it was never opened here, or expired a day after")
        return int(rows[0][0]), bool(rows[0][1])

    def add_batch(self, project: Project, upload_id: str, seq: int, tests: list[TestResult]) -> str:
        """Store batch ``seq``: ``created``, or ``duplicate`` when that very batch is stored already."""
        digest = batch_digest(tests)
        with self._transaction() as conn:
            run_pk, is_open = self._open_pk(conn, project, upload_id)
            if not is_open:
                raise UploadConflict(f"upload {upload_id!r} is complete: it takes no more batches")
            stored = self._tuples(conn, self._sql_of(BATCH), (run_pk, seq))
            if stored:
                if stored[0][0] == digest:
                    return "duplicate"
                raise UploadConflict(f"batch {seq} of upload {upload_id!r} holds other tests; nothing was overwritten")
            try:
                self._insert_results(conn, run_pk, tests, seq * BATCH_MAX_TESTS)
            except Exception as error:
                if self._violation(error) != "unique":
                    raise
                raise Invalid([FieldError("tests", "repeats a test id sent in an earlier batch of this upload")]) from None
            self._cursor(conn).execute(self._sql_of(ADD_BATCH), (run_pk, seq, digest, len(tests)))
        return "created"

    def complete_upload(
        self, project: Project, upload_id: str, header: RunPayload, batches: int, *, now: str, max_tests: int
    ) -> InsertOutcome:
        """Make the upload the run it holds, in one transaction; what a single POST of that run would have done."""
        with self._transaction() as conn:
            run_pk, is_open = self._open_pk(conn, project, upload_id)
            if not is_open:  # completed before: this is a retry whose first answer was lost
                return InsertOutcome("duplicate", self._run_by_pk(conn, run_pk))
            sent = [row[0] for row in self._tuples(conn, self._sql_of(BATCHES), (run_pk,))]
            if sent != list(range(batches)):
                missing = sorted(set(range(batches)) - set(sent))
                extra = sorted(set(sent) - set(range(batches)))
                said = f"missing batches {missing}" if missing else f"batches {extra} beyond the {batches} announced"
                raise UploadConflict(f"upload {upload_id!r} is not complete: {said}; send them, then complete again")
            tests = [result_from_values(values) for values in self._tuples(conn, self._sql_of(RESULTS), (run_pk,))]
            run = with_tests(header, tests, max_tests=max_tests)
            started_at = run.started_at or now
            cursor = self._cursor(conn)
            taken = self._tuples(conn, self._sql_of(STORED), (project.id, run.run_id))
            if taken:
                cursor.execute(self._sql_of(DROP), (run_pk,))
                stored = self._run_by_pk(conn, int(taken[0][0]))
                return InsertOutcome("duplicate" if stored.digest == run.digest else "conflict", stored)
            params = run_params(project.id, run, started_at, now)
            try:
                closed = cursor.execute(self._sql_of(CLOSE), (
                    run.run_id, run.status, started_at, run.duration_ms, now, run.digest,
                    params["ci"], params["vcs"], params["reporter"], params["branch"], params["commit_sha"],
                    *(params[name] for name in ("tests_total", "passed", "failed", "error", "skipped", "xfailed",
                                                "xpassed", "flaky")),
                    False, run_pk,
                ))
            except Exception as error:
                if self._violation(error) != "unique":
                    raise
                # the same run id stored by another node a moment ago: the client retries and is told which
                raise Unavailable("the run was being stored concurrently; retry") from None
            if not closed.rowcount:  # completed meanwhile by the same upload's other request (another node)
                return InsertOutcome("duplicate", self._run_by_pk(conn, run_pk))
            cursor.execute(self._sql_of(FORGET_BATCHES), (run_pk,))
            verdict = self.judge_new_run(conn, project, run_pk, run, started_at, now)
        return InsertOutcome("created", stored_run_from_payload(run, started_at, now, verdict))
