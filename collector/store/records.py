"""Conversions between model records and database rows, shared by the backends.

Rows are read by column name (``row["status"]``), so any mapping-like row
works; test results travel as plain tuples in ``RESULT_COLUMNS`` order, because
a run may hold 100,000 of them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, Protocol

from ..errors import BadRequest, FieldError
from ..model import (
    ATTENTION_RANKS,
    FLAKY_PASS_RANK,
    OTHER_RANK,
    Counts,
    Project,
    RunPage,
    RunPayload,
    StoredRun,
    TestPage,
    TestResult,
    TokenRecord,
    WebSession,
)
from ..timeutil import format_utc, parse_rfc3339


class Row(Protocol):
    """A row whose columns can be read by name: sqlite3.Row, a psycopg dict row."""

    def __getitem__(self, column: str, /) -> Any: ...

    def keys(self) -> Any: ...


#: test_results columns after run_pk, in the order of result_values() and result_from_values()
RESULT_COLUMNS = (
    "seq",
    "test_id",
    "name",
    "suite",
    "file",
    "line",
    "status",
    "duration_ms",
    "attempts",
    "flaky",
    "message",
    "details",
)


def dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- list cursors -------------------------------------------------------------
def encode_cursor(started_at: str, pk: int) -> str:
    """The position after a listed run: url-safe base64, unpadded, of ``[started_at, id]``."""
    raw = dump_json([started_at, pk]).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadRequest("cursor is not valid: use the next_cursor of a previous page, unchanged") from None
    if not (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and _is_stored_time(value[0])
        and type(value[1]) is int
        and -(2**63) <= value[1] < 2**63
    ):
        raise BadRequest("cursor is not valid: it does not mark a position in a list of runs")
    return value[0], value[1]


def runs_page_filter(
    project: Project,
    *,
    limit: int,
    cursor: str | None,
    branch: str | None,
    status: str | None,
    param: str,
    time_param: str,
) -> tuple[str, list[Any]]:
    """The WHERE clause and parameters of one page of runs, newest first, for a backend's placeholders.

    ``param`` is the backend's placeholder (``?``, ``%s``); ``time_param`` the
    one for a stored time (PostgreSQL casts it to timestamptz). One more row
    than ``limit`` is asked for, to know whether a next page exists.
    """
    if limit < 1:
        raise BadRequest("limit must be at least 1")
    where = [f"project_id = {param}", "NOT is_open"]
    params: list[Any] = [project.id]
    for column, value in (("branch", branch), ("status", status)):
        if value is not None:
            where.append(f"{column} = {param}")
            params.append(value)
    if cursor is not None:
        where.append(f"(started_at, id) < ({time_param}, {param})")
        params.extend(decode_cursor(cursor))
    return " AND ".join(where), [*params, limit + 1]


def runs_page(rows: Sequence[Row], limit: int) -> RunPage:
    """The page of at most ``limit`` runs, and the cursor of the next one when a further row came back."""
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1]["started_at"], page[-1]["id"]) if len(rows) > limit else None
    return RunPage([stored_run_from_row(row) for row in page], next_cursor)


def runs_before_filter(
    cutoff: str, project: Project | None, *, param: str, time_param: str
) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause of runs that started before ``cutoff``, in one project or all."""
    if project is None:
        return f"started_at < {time_param}", (cutoff,)
    return f"started_at < {time_param} AND project_id = {param}", (cutoff, project.id)


def _is_stored_time(text: str) -> bool:
    """A time as the stores write it; any other text would compare differently in each backend."""
    try:
        return format_utc(parse_rfc3339(text)) == text
    except ValueError:
        return False


# --- runs -----------------------------------------------------------------------
def run_params(project_id: int, run: RunPayload, started_at: str, received_at: str) -> dict[str, Any]:
    """Named parameters for inserting a run, one per runs column."""
    counts = run.counts
    return {
        "project_id": project_id,
        "run_id": run.run_id,
        "status": run.status,
        "started_at": started_at,
        "duration_ms": run.duration_ms,
        "received_at": received_at,
        "digest": run.digest,
        "ci": dump_json(run.ci),
        "vcs": dump_json(run.vcs),
        "reporter": dump_json(run.reporter),
        "branch": run.vcs.get("branch"),
        "commit_sha": run.vcs.get("commit"),
        "tests_total": counts.total,
        "passed": counts.passed,
        "failed": counts.failed,
        "error": counts.error,
        "skipped": counts.skipped,
        "xfailed": counts.xfailed,
        "xpassed": counts.xpassed,
        "flaky": counts.flaky,
    }


def stored_run_from_payload(
    run: RunPayload, started_at: str, received_at: str, verdict: dict[str, Any] | None = None
) -> StoredRun:
    return StoredRun(
        run_id=run.run_id,
        status=run.status,
        started_at=started_at,
        duration_ms=run.duration_ms,
        received_at=received_at,
        ci=run.ci,
        vcs=run.vcs,
        reporter=run.reporter,
        counts=run.counts,
        digest=run.digest,
        verdict=verdict,
    )


def stored_run_from_row(row: Row, tests: list[TestResult] | None = None) -> StoredRun:
    return StoredRun(
        run_id=row["run_id"],
        status=row["status"],
        started_at=row["started_at"],
        duration_ms=row["duration_ms"],
        received_at=row["received_at"],
        ci=json.loads(row["ci"]),
        vcs=json.loads(row["vcs"]),
        reporter=json.loads(row["reporter"]),
        counts=Counts(
            total=row["tests_total"],
            passed=row["passed"],
            failed=row["failed"],
            error=row["error"],
            skipped=row["skipped"],
            xfailed=row["xfailed"],
            xpassed=row["xpassed"],
            flaky=row["flaky"],
        ),
        digest=row["digest"],
        tests=tests,
        verdict=_verdict_of(row),
    )


def _verdict_of(row: Row) -> dict[str, Any] | None:
    """The stored verdict, when the row was read with it (a single run's read; lists leave it out)."""
    if "verdict" not in row.keys() or row["verdict"] is None:
        return None
    verdict: dict[str, Any] = json.loads(row["verdict"])
    return verdict


# --- test results ---------------------------------------------------------------
def result_values(run_pk: int, tests: list[TestResult], first_seq: int = 0) -> list[tuple[Any, ...]]:
    """``(run_pk, *RESULT_COLUMNS)`` per test; seq is the test's position in the payload (from ``first_seq``)."""
    return [
        (
            run_pk,
            seq,
            t.id,
            t.name,
            t.suite,
            t.file,
            t.line,
            t.status,
            t.duration_ms,
            t.attempts,
            1 if t.flaky else 0,  # an exact int binds without the adapter lookup a bool costs
            t.message,
            t.details,
        )
        for seq, t in enumerate(tests, first_seq)
    ]


def result_from_values(values: Sequence[Any]) -> TestResult:
    """A test from its ``RESULT_COLUMNS[1:]`` values (everything but seq)."""
    test_id, name, suite, file, line, status, duration_ms, attempts, flaky, message, details = values
    return TestResult(test_id, name, suite, file, line, status, duration_ms, attempts, bool(flaky), message, details)


# --- one run's tests, a page at a time ----------------------------------------------
#: attention_rank() in SQL, over the test_results columns status and flaky (0/1 in SQLite, boolean in PostgreSQL)
ATTENTION_SQL = (
    f"CASE WHEN status = 'passed' AND flaky THEN {FLAKY_PASS_RANK} "
    + " ".join(f"WHEN status = '{status}' THEN {rank}" for status, rank in ATTENTION_RANKS.items())
    + f" ELSE {OTHER_RANK} END"
)
#: where a first page starts: before every (rank, seq)
_TESTS_START = (-1, -1)


def run_tests_page_sql(param: str) -> str:
    """One page of a run's tests by (attention rank, seq), after a position; parameters run_pk, rank, seq, limit, run_pk.

    The rank is computed over the run's rows only (the primary key's run_pk
    range, reading status and flaky), sorted and cut to the page; only the
    page's rows are then read in full, so the long message and details of the
    other tests are never loaded. Ties keep the order the tests were sent in.
    """
    columns = ", ".join(f"t.{column}" for column in RESULT_COLUMNS[1:])
    return f"""
        SELECT {columns}, page.rank, page.seq
        FROM (
            SELECT seq, rank FROM (
                SELECT seq, {ATTENTION_SQL} AS rank FROM test_results WHERE run_pk = {param}
            ) ranked
            WHERE (rank, seq) > ({param}, {param})
            ORDER BY rank, seq
            LIMIT {param}
        ) page
        JOIN test_results t ON t.run_pk = {param} AND t.seq = page.seq
        ORDER BY page.rank, page.seq
    """


def tests_position(limit: int, cursor: str | None) -> tuple[int, int]:
    """Check a page request before any query: the (rank, seq) a page starts after."""
    if limit < 1:
        raise BadRequest("the page of tests must hold at least 1 test")
    return _TESTS_START if cursor is None else decode_tests_cursor(cursor)


def run_tests_params(run_pk: int, limit: int, position: tuple[int, int]) -> tuple[Any, ...]:
    """The parameters of run_tests_page_sql(); one more row than ``limit`` says whether a next page exists."""
    return (run_pk, *position, limit + 1, run_pk)


def run_tests_page(rows: Sequence[Sequence[Any]], limit: int) -> TestPage:
    """From rows of ``RESULT_COLUMNS[1:]`` values, rank and seq: the page, and the next cursor if a row was left."""
    page = rows[:limit]
    after = [encode_tests_cursor(row[-2], row[-1]) for row in page]
    next_cursor = after[-1] if len(rows) > limit else None
    return TestPage([result_from_values(row[:-2]) for row in page], next_cursor, after)


def encode_tests_cursor(rank: int, seq: int) -> str:
    """The position after a listed test: url-safe base64, unpadded, of ``["t", rank, seq]``."""
    raw = dump_json(["t", rank, seq]).encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_tests_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadRequest("the tests cursor is not valid: use the next cursor of a previous page, unchanged") from None
    if not (
        isinstance(value, list)
        and len(value) == 3
        and value[0] == "t"
        and type(value[1]) is int
        and type(value[2]) is int
        and 0 <= value[1] < 100
        and 0 <= value[2] < 2**31
    ):
        raise BadRequest("the tests cursor is not valid: it does not mark a position in a run's tests")
    return value[1], value[2]


def repeated_test_id(tests: list[TestResult]) -> FieldError | None:
    """The first test whose id an earlier test of the run already has, if any."""
    seen: dict[str, int] = {}
    for index, test in enumerate(tests):
        first = seen.setdefault(test.id, index)
        if first != index:
            return FieldError(f"tests[{index}].id", f"duplicates tests[{first}].id")
    return None


# --- projects and tokens --------------------------------------------------------
def project_from_row(row: Row) -> Project:
    """From ``id, org, name, created_at, default_branch, auto_quarantine``."""
    return Project(
        id=row["id"], org=row["org"], name=row["name"], created_at=row["created_at"],
        default_branch=row["default_branch"], auto_quarantine=bool(row["auto_quarantine"]),
    )


def token_from_row(row: Row) -> TokenRecord:
    """From the tokens columns and ``project_id, project_org, project_name, project_created_at,
    project_default_branch, project_auto_quarantine``.

    The project columns are NULL for an admin token.
    """
    project = None
    if row["project_id"] is not None:
        project = Project(
            id=row["project_id"],
            org=row["project_org"],
            name=row["project_name"],
            created_at=row["project_created_at"],
            default_branch=row["project_default_branch"],
            auto_quarantine=bool(row["project_auto_quarantine"]),
        )
    return TokenRecord(
        token_id=row["token_id"],
        secret_hash=bytes(row["secret_hash"]),
        project=project,
        scopes=tuple(row["scopes"].split()),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
        name=row["name"],
    )


# --- web sessions ---------------------------------------------------------------
def select_web_session(param: str) -> str:
    """One session by ``id_hash`` joined to its token's row (and project), in the backend's ``param`` style."""
    return f"""
    SELECT s.id_hash, s.created_at AS session_created_at, s.last_seen_at AS session_last_seen_at,
           t.token_id, t.secret_hash, t.scopes, t.created_at, t.expires_at, t.revoked_at, t.last_used_at, t.name,
           p.id AS project_id, o.name AS project_org, p.name AS project_name, p.created_at AS project_created_at,
           p.default_branch AS project_default_branch, p.auto_quarantine AS project_auto_quarantine
    FROM web_sessions s
    JOIN tokens t ON t.token_id = s.token_id
    LEFT JOIN projects p ON p.id = t.project_id
    LEFT JOIN orgs o ON o.id = p.org_id
    WHERE s.id_hash = {param}
"""


def web_session_from_row(row: Row) -> WebSession:
    """From the columns of ``select_web_session``."""
    return WebSession(
        id_hash=bytes(row["id_hash"]),
        token=token_from_row(row),
        created_at=row["session_created_at"],
        last_seen_at=row["session_last_seen_at"],
    )
