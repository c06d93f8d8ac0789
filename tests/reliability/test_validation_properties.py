"""Property tests of run validation: what it accepts is stored and read back identically; what it rejects is a 400 naming fields.

Bodies are drawn field by field from values that are mostly valid and
sometimes not (wrong types, out of range, control characters, lone
surrogates, duplicate test ids, arbitrary JSON), so both sides of the
property are exercised in one stream of examples.
"""

from __future__ import annotations

import io
import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import accounts
from collector.api.runs import run_detail
from collector.app import create_app
from collector.errors import Invalid
from collector.model import RUN_STATUSES, TEST_STATUSES
from collector.settings import Settings
from collector.store.sqlite import SQLiteStore
from collector.tokens import create_token
from collector.validation import validate_run

MAX_TESTS = 40
TOP_FIELDS = {"$", "run_id", "started_at", "duration_ms", "status", "ci", "vcs", "reporter", "tests"}
EXAMPLES = 300


def mostly(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any], one_in: int = 10) -> st.SearchStrategy[Any]:
    """``valid``, but ``invalid`` one time in ``one_in``."""
    return st.integers(1, one_in).flatmap(lambda k: invalid if k == 1 else valid)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
identifiers = st.text(st.characters(codec="utf-8", exclude_categories=("Cc",)), min_size=1, max_size=40).filter(
    lambda text: not text.isspace()
)
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=60)
bad_texts = st.sampled_from(["a\x00b", "\udc80", "x" * 8193]) | st.integers() | st.lists(st.text(), max_size=1)
timestamps = st.builds(
    lambda moment, offset: moment.isoformat() + offset,
    st.datetimes(min_value=__import__("datetime").datetime(1970, 1, 2), max_value=__import__("datetime").datetime(9998, 1, 1)),
    st.sampled_from(["Z", "+00:00", "+05:30", "-08:00", "z"]),
)
durations = st.floats(min_value=0, max_value=1e12, allow_nan=False) | st.integers(0, 10**12)
bad_numbers = st.sampled_from([-1, -0.5, 1e13, "1", True, [], 1.0e300])
metadata_values = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
)
metadata = st.dictionaries(identifiers.filter(lambda k: len(k) <= 64), metadata_values, max_size=4)
bad_metadata = st.dictionaries(st.text(max_size=3), json_values, min_size=1, max_size=2) | json_scalars


def result_dicts() -> st.SearchStrategy[dict[str, Any]]:
    fields = {
        "name": mostly(texts, bad_texts, one_in=60),
        "suite": mostly(st.none() | texts, bad_texts, one_in=60),
        "file": mostly(st.none() | texts, bad_texts, one_in=60),
        "line": mostly(st.none() | st.integers(0, 2**31 - 1), bad_numbers | st.just(1.0), one_in=60),
        "duration_ms": mostly(durations, bad_numbers, one_in=60),
        "attempts": mostly(st.integers(1, 1000), st.sampled_from([0, 1001, 2.0, None, "2"]), one_in=60),
        "flaky": mostly(st.booleans(), st.sampled_from([0, 1, "yes"]), one_in=60),
        "message": mostly(st.none() | texts, bad_texts, one_in=60),
        "details": mostly(st.none() | texts, bad_texts, one_in=60),
        "unknown_extra": json_values,
    }
    return st.fixed_dictionaries(
        {"id": mostly(identifiers, st.sampled_from(["", " ", "a\nb", "\x7f"]) | json_scalars, one_in=60),
         "status": mostly(st.sampled_from(TEST_STATUSES), st.sampled_from(["PASSED", "ok", ""]) | json_scalars, one_in=60)},
        optional=fields,
    )


statuses = st.sampled_from(RUN_STATUSES)
bad_statuses = st.sampled_from(["xfailed", "ok", "PASSED"]) | json_scalars


@st.composite
def run_bodies(draw: st.DrawFn) -> Any:
    """A run body: its status is left out (so derived) when it has tests, and given when not, mostly."""
    if draw(st.integers(0, 19)) == 0:
        return draw(json_values)  # not even an object, sometimes
    body = draw(
        st.fixed_dictionaries(
            {"run_id": mostly(identifiers, st.sampled_from(["", "\t", "a\x00"]) | json_scalars)},
            optional={
                "started_at": mostly(
                    timestamps, st.sampled_from(["2026-01-12T10:00:00", "2026-02-30T00:00:00Z", "yesterday"])
                ),
                "duration_ms": mostly(st.none() | durations, bad_numbers),
                "ci": mostly(metadata, bad_metadata),
                "vcs": mostly(metadata, bad_metadata),
                "reporter": mostly(metadata, bad_metadata),
                "unknown_top": json_values,
            },
        )
    )
    tests = draw(
        mostly(
            st.lists(result_dicts(), max_size=8, unique_by=lambda test: json.dumps(test.get("id"))),
            st.lists(result_dicts(), min_size=2, max_size=3).map(lambda tests: tests + tests[:1]) | json_scalars,
        )
    )
    if tests != [] or draw(st.booleans()):
        body["tests"] = tests
    if isinstance(tests, list) and tests:
        if draw(st.integers(0, 9)) == 0:
            body["status"] = draw(statuses | bad_statuses)
    else:
        body["status"] = draw(mostly(statuses, bad_statuses))
    return body


class Rig:
    """A store, a project per example, and the app for HTTP answers, all on one SQLite file."""

    def __init__(self, db: Path) -> None:
        self.store = SQLiteStore(str(db))
        self.store.migrate()
        self.org = accounts.create_org(self.store, "props").name
        project = accounts.create_project(self.store, self.org, "http")
        minted, _ = create_token(self.store, project=project, scopes=["ingest"], expires_in_days=None, bcrypt_rounds=4)
        self.token = minted.token
        self.app = create_app(Settings(db=str(db), bcrypt_rounds=4, token_rate_per_s=0, max_tests_per_run=MAX_TESTS))
        self.names = itertools.count()
        self.accepted = 0
        self.rejected = 0

    def new_project(self):  # type: ignore[no-untyped-def]
        return accounts.create_project(self.store, self.org, f"p{next(self.names)}")

    def post(self, body: bytes) -> tuple[int, dict[str, Any]]:
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/runs", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(), "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
            "HTTP_AUTHORIZATION": f"Bearer {self.token}",
        }
        seen: dict[str, str] = {}
        chunks = self.app.wsgi_app(environ, lambda status, headers, exc_info=None: seen.update(status=status))
        return int(seen["status"].split()[0]), json.loads(b"".join(chunks))


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    rig = Rig(tmp_path_factory.mktemp("props") / "props.sqlite3")
    yield rig
    print(f"\nvalidation properties: {rig.accepted} bodies accepted and read back, {rig.rejected} rejected with named fields")
    rig.app.state.store.close()
    rig.store.close()


@pytest.mark.slow
@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(body=run_bodies())
def test_what_validation_accepts_reads_back_identically_and_what_it_rejects_is_a_400_naming_fields(
    rig: Rig, body: Any
) -> None:
    try:
        run = validate_run(body, max_tests=MAX_TESTS)
    except Invalid as invalid:
        rig.rejected += 1
        fields = [error["field"] for error in invalid.errors]
        assert fields and all(error["message"] for error in invalid.errors)
        assert all(_top(field) in TOP_FIELDS for field in fields), fields
        status, answer = rig.post(json.dumps(body).encode())
        assert status == 400 and answer["error"] == "invalid_payload"
        assert [error["field"] for error in answer["errors"]] == fields
        return

    rig.accepted += 1
    project = rig.new_project()
    received_at = "2026-01-12T10:00:05.000000Z"
    assert rig.store.insert_run(project, run, received_at).outcome == "created"
    stored = rig.store.get_run(project, run.run_id)
    assert stored.tests == run.tests
    assert (stored.run_id, stored.status, stored.counts, stored.digest) == (run.run_id, run.status, run.counts, run.digest)
    assert (stored.ci, stored.vcs, stored.reporter) == (run.ci, run.vcs, run.reporter)
    assert stored.started_at == (run.started_at or received_at)
    assert _same_number(stored.duration_ms, run.duration_ms)
    # What the API answers for it, sent again, is the very same content.
    page = rig.store.list_run_tests(project, run.run_id, limit=MAX_TESTS)
    assert page.next_cursor is None
    answered = json.loads(json.dumps(run_detail(stored, page)))
    assert validate_run(answered, max_tests=MAX_TESTS).digest == run.digest
    assert rig.store.insert_run(project, validate_run(answered, max_tests=MAX_TESTS), received_at).outcome == "duplicate"


def _top(field: str) -> str:
    return field.split(".", 1)[0].split("[", 1)[0]


def _same_number(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=0))
