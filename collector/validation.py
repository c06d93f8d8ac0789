"""Validation of ingest bodies: every failing field is named, values are normalised and digested.

Messages are phrased to follow the field name (``tests[3].status``: "must be
one of ..."). The per-test checks are written inline with plain type tests
because a run may hold 100,000 tests; the slow, explanatory helpers only run
for values that fail the fast check.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from json.encoder import encode_basestring as _encode_string
from typing import Any

from .errors import FieldError, Invalid
from .model import RUN_STATUSES, TEST_STATUSES, Counts, RunPayload, TestResult
from .timeutil import format_utc, parse_rfc3339

MAX_ERRORS = 100
RUN_ID_MAX = 256
TEST_ID_MAX = 1024
TEST_TEXT_MAX = 1024
MESSAGE_MAX = 8192
DETAILS_MAX = 65536
METADATA_MAX_KEYS = 32
METADATA_KEY_MAX = 64
METADATA_VALUE_MAX = 2048
DURATION_MAX_MS = 1e12
ATTEMPTS_MAX = 1000
#: line numbers and ci.attempt are stored in 32-bit integer columns
SMALL_INT_MAX = 2**31 - 1
#: other metadata integers must fit a signed 64-bit integer
METADATA_INT_MIN, METADATA_INT_MAX = -(2**63), 2**63 - 1

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TEST_STATUS_SET = frozenset(TEST_STATUSES)
_RUN_STATUS_SET = frozenset(RUN_STATUSES)
_TEST_STATUS_CHOICES = ", ".join(TEST_STATUSES)
_RUN_STATUS_CHOICES = ", ".join(RUN_STATUSES)
_TEST_TEXTS = (("suite", TEST_TEXT_MAX), ("file", TEST_TEXT_MAX), ("message", MESSAGE_MAX), ("details", DETAILS_MAX))
_STRING, _COUNT = "string", "count"
_TYPED_METADATA = {
    "ci": {"attempt": _COUNT, "provider": _STRING},
    "vcs": {"branch": _STRING, "commit": _STRING},
    "reporter": {"name": _STRING, "version": _STRING},
}
_TIMESTAMP_HINT = "must be an RFC 3339 timestamp with a time zone, e.g. 2026-01-12T10:00:00Z"


class _TooManyErrors(Exception):
    pass


class _Errors:
    """Collects field errors; stops validation once more than MAX_ERRORS are found."""

    __slots__ = ("items", "truncated")

    def __init__(self) -> None:
        self.items: list[FieldError] = []
        self.truncated = False

    def add(self, field: str, message: str) -> None:
        if len(self.items) >= MAX_ERRORS:
            self.truncated = True
            raise _TooManyErrors
        self.items.append(FieldError(field, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise Invalid(self.items, truncated=self.truncated)


def validate_run(data: Any, *, max_tests: int) -> RunPayload:
    """Validate a ``POST /api/v1/runs`` body; raise Invalid naming every failing field."""
    body = _require_object(data)
    errors = _Errors()
    tests: list[TestResult] = []
    counts = Counts()
    header: RunPayload | None = None
    try:
        header = _header(body, errors)
        status = header.status
        valid_tests = _tests(body.get("tests"), max_tests, errors)
        if valid_tests is not None:
            tests, counts = valid_tests, count_tests(valid_tests)
            status = _reconcile_status(body.get("status"), status, counts, errors)
    except _TooManyErrors:
        pass
    errors.raise_if_any()
    assert header is not None
    return _payload(header.run_id, status, header.started_at, header.duration_ms, header.ci, header.vcs,
                    header.reporter, tests, counts)


def _header(body: dict[str, Any], errors: _Errors) -> RunPayload:
    """The run's own fields (everything but its tests), checked; the status as given (None when not)."""
    run_id = _run_id(body.get("run_id"), errors)
    started_at = _timestamp(body.get("started_at"), "started_at", errors)
    duration_ms = _duration(body.get("duration_ms"), "duration_ms", errors)
    status = _run_status(body.get("status"), errors)
    ci = _metadata(body.get("ci"), "ci", errors)
    vcs = _metadata(body.get("vcs"), "vcs", errors)
    reporter = _metadata(body.get("reporter"), "reporter", errors)
    return RunPayload(run_id, status, started_at, duration_ms, ci, vcs, reporter, [], Counts(), digest="")


#: the most tests one batch of an upload may hold (a batch's tests are numbered from seq * BATCH_MAX_TESTS)
BATCH_MAX_TESTS = 10_000


def validate_batch(data: Any) -> list[TestResult]:
    """Validate one batch of an upload, ``{"tests": [...]}``, by the rules of a run's tests."""
    body = _require_object(data)
    errors = _Errors()
    tests: list[TestResult] | None = None
    try:
        if body.get("tests") is None:
            errors.add("tests", "is required: the batch's tests")
        else:
            tests = _tests(body.get("tests"), BATCH_MAX_TESTS, errors)
    except _TooManyErrors:
        pass
    errors.raise_if_any()
    assert tests is not None
    return tests


def validate_upload_header(data: Any) -> tuple[RunPayload, int]:
    """Validate the completion of an upload: the run's fields, without tests, and how many batches it sent."""
    body = _require_object(data)
    errors = _Errors()
    batches = body.get("batches")
    header: RunPayload | None = None
    try:
        header = _header(body, errors)
        if body.get("tests") is not None:
            errors.add("tests", "must be sent in batches, not with the completion")
        problem = _integer_problem(batches, 0, SMALL_INT_MAX) if batches is not None else "is required"
        if problem:
            errors.add("batches", problem)
    except _TooManyErrors:
        pass
    errors.raise_if_any()
    assert header is not None
    return header, int(batches or 0)


def with_tests(header: RunPayload, tests: list[TestResult], *, max_tests: int) -> RunPayload:
    """The whole run of an upload: its header's fields and the tests of all its batches, counted and digested
    exactly as the same run sent in one body would be (so either way, a retry is a duplicate)."""
    errors = _Errors()
    if len(tests) > max_tests:
        errors.add("tests", f"has {len(tests)} items, over the limit of {max_tests} tests per run")
        errors.raise_if_any()
    counts = count_tests(tests)
    status = header.status
    try:
        status = _reconcile_status(header.status, header.status, counts, errors)
    except _TooManyErrors:
        pass
    errors.raise_if_any()
    return _payload(header.run_id, status, header.started_at, header.duration_ms, header.ci, header.vcs,
                    header.reporter, tests, counts)


def validate_minimal(data: Any) -> RunPayload:
    """Validate the original ``POST /ingest`` body ``{run_id, status, duration_ms, timestamp}``."""
    body = _require_object(data)
    errors = _Errors()
    run_id = _run_id(body.get("run_id"), errors)
    status = _run_status(body.get("status"), errors)
    if body.get("status") is None:
        errors.add("status", "is required")
    duration_ms = _duration(body.get("duration_ms"), "duration_ms", errors)
    started_at = _timestamp(body.get("timestamp"), "timestamp", errors)
    errors.raise_if_any()
    return _payload(run_id, status, started_at, duration_ms, {}, {}, {}, [], Counts())


def canonical_digest(run: RunPayload) -> str:
    """SHA-256 of what the run says about its tests; ``run.digest`` and ``run.counts`` play no part.

    "Same content" means the same results, not the same stopwatch: timing
    (``started_at``, the run's and each test's ``duration_ms``) and the order of
    the tests are left out, so the same suite run again in the same CI job
    attempt, or its results sent again, is the same run. The values are already
    normalised (defaults filled, timestamps in UTC), so key order, omitted
    defaults and unknown fields do not change the digest either.
    """
    return hashlib.sha256(canonical_json(run).encode()).hexdigest()


def canonical_json(run: RunPayload) -> str:
    """The run as ``json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.

    ``canonical`` holds run_id, status, ci, vcs, reporter and ``tests`` sorted by
    id, each ``test.as_dict()`` without ``duration_ms``. The tests are written by
    ``_tests_json``, byte for byte what json.dumps writes but twice as fast on
    50,000 tests; the rest by json.dumps itself. Sorted, "tests" falls between
    "status" and "vcs".
    """
    head = _dumps({"ci": run.ci, "reporter": run.reporter, "run_id": run.run_id, "status": run.status})
    tail = _dumps({"vcs": run.vcs})
    tests = sorted(run.tests, key=_test_id)
    return f'{head[:-1]},"tests":[{_tests_json(tests)}],{tail[1:]}'


def _test_id(test: TestResult) -> str:
    return test.id


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _tests_json(tests: list[TestResult]) -> str:
    q = _encode_string
    return ",".join(
        [
            f'{{"attempts":{t.attempts!r},"details":{"null" if t.details is None else q(t.details)},'
            f'"file":{"null" if t.file is None else q(t.file)},'
            f'"flaky":{"true" if t.flaky else "false"},"id":{q(t.id)},'
            f'"line":{"null" if t.line is None else repr(t.line)},'
            f'"message":{"null" if t.message is None else q(t.message)},"name":{q(t.name)},'
            f'"status":{q(t.status)},"suite":{"null" if t.suite is None else q(t.suite)}}}'
            for t in tests
        ]
    )


def derive_status(counts: Counts) -> str:
    if counts.failed or counts.error:
        return "failed"
    if counts.total and counts.skipped == counts.total:
        return "skipped"
    return "passed"


def count_tests(tests: list[TestResult]) -> Counts:
    tally = dict.fromkeys(TEST_STATUSES, 0)
    flaky = 0
    for test in tests:
        tally[test.status] += 1
        if test.flaky:
            flaky += 1
    return Counts(total=len(tests), flaky=flaky, **tally)


def _payload(
    run_id: str,
    status: str,
    started_at: str | None,
    duration_ms: float | None,
    ci: dict[str, Any],
    vcs: dict[str, Any],
    reporter: dict[str, Any],
    tests: list[TestResult],
    counts: Counts,
) -> RunPayload:
    run = RunPayload(run_id, status, started_at, duration_ms, ci, vcs, reporter, tests, counts, digest="")
    run.digest = canonical_digest(run)
    return run


def _require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Invalid([FieldError("$", "must be a JSON object")])
    return data


# --- run fields -------------------------------------------------------------


def _run_id(value: Any, errors: _Errors) -> Any:
    problem = "is required" if value is None else _identifier_problem(value, RUN_ID_MAX)
    if problem:
        errors.add("run_id", problem)
    return value


def _run_status(value: Any, errors: _Errors) -> Any:
    if value is None or (type(value) is str and value in _RUN_STATUS_SET):
        return value
    errors.add("status", f"must be one of {_RUN_STATUS_CHOICES}{_got(value)}")
    return None


def _reconcile_status(given: Any, checked: Any, counts: Counts, errors: _Errors) -> Any:
    """The run's status comes from its tests when it has any; a given status must agree."""
    if not counts.total:
        if given is None:
            errors.add("status", "is required when the run has no tests")
        return checked
    derived = derive_status(counts)
    if checked is not None and checked != derived:
        errors.add("status", f"must be {derived!r}, as derived from the tests, or be omitted (got {checked!r})")
    return derived


def _timestamp(value: Any, field: str, errors: _Errors) -> str | None:
    if value is None:
        return None
    if type(value) is not str or len(value) > 64:
        errors.add(field, _TIMESTAMP_HINT)
        return None
    try:
        return format_utc(parse_rfc3339(value))
    except ValueError as exc:
        errors.add(field, str(exc))
    return None


def _duration(value: Any, field: str, errors: _Errors) -> float | None:
    if value is None:
        return None
    problem = _duration_problem(value)
    if problem:
        errors.add(field, problem)
        return None
    return float(value) + 0.0


def _metadata(value: Any, section: str, errors: _Errors) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        errors.add(section, _must_be("an object", value))
        return {}
    if len(value) > METADATA_MAX_KEYS:
        errors.add(section, f"must have at most {METADATA_MAX_KEYS} keys (got {len(value)})")
        return {}
    typed = _TYPED_METADATA.get(section, {})
    clean: dict[str, Any] = {}
    for key, item in value.items():
        problem = _identifier_problem(key, METADATA_KEY_MAX)
        if problem:
            errors.add(section, f"key {_preview(key)} {problem}")
            continue
        problem = _metadata_value_problem(item, typed.get(key))
        if problem:
            errors.add(f"{section}.{key}", problem)
            continue
        clean[key] = item
    return clean


def _metadata_value_problem(value: Any, kind: str | None) -> str | None:
    if value is None:
        return None
    if kind == _COUNT:
        return _integer_problem(value, 0, SMALL_INT_MAX)
    if kind == _STRING and type(value) is not str:
        return _must_be("a string", value)
    if type(value) is str:
        return _text_problem(value, METADATA_VALUE_MAX)
    if type(value) is bool:
        return None
    if type(value) is int:
        return _integer_problem(value, METADATA_INT_MIN, METADATA_INT_MAX)
    return _must_be("a string, integer, boolean or null (nested objects and arrays are not allowed)", value)


# --- tests ------------------------------------------------------------------


def _tests(value: Any, max_tests: int, errors: _Errors) -> list[TestResult] | None:
    """The valid tests, or None when the array or any test in it failed validation."""
    if value is None:
        return []
    if type(value) is not list:
        errors.add("tests", _must_be("an array", value))
        return None
    if len(value) > max_tests:
        errors.add("tests", f"has {len(value)} items, over the limit of {max_tests} tests per run")
        return None
    before = len(errors.items)
    seen: dict[str, int] = {}
    results = []
    for index, item in enumerate(value):
        result = _test(item, index, seen, errors)
        if result is not None:
            results.append(result)
    return results if len(errors.items) == before else None


def _test(item: Any, index: int, seen: dict[str, int], errors: _Errors) -> TestResult | None:
    if type(item) is not dict:
        errors.add(f"tests[{index}]", _must_be("an object", item))
        return None
    get = item.get
    before = len(errors.items)

    test_id: Any = get("id")
    if not (
        type(test_id) is str
        and 0 < len(test_id) <= TEST_ID_MAX
        and test_id.isascii()
        and test_id.isprintable()
        and not test_id.isspace()
    ):
        problem = "is required" if test_id is None else _identifier_problem(test_id, TEST_ID_MAX)
        if problem:
            errors.add(f"tests[{index}].id", problem)
    if len(errors.items) == before:
        first = seen.setdefault(test_id, index)
        if first != index:
            errors.add(f"tests[{index}].id", f"duplicates tests[{first}].id")

    status: Any = get("status")
    if not (type(status) is str and status in _TEST_STATUS_SET):
        problem = "is required" if status is None else f"must be one of {_TEST_STATUS_CHOICES}{_got(status)}"
        errors.add(f"tests[{index}].status", problem)

    name: Any = get("name")
    if name is None:
        name = test_id
    elif type(name) is not str or len(name) > TEST_TEXT_MAX or "\x00" in name or not name.isascii():
        problem = _text_problem(name, TEST_TEXT_MAX)
        if problem:
            errors.add(f"tests[{index}].name", problem)

    texts = []
    for key, limit in _TEST_TEXTS:
        text = get(key)
        if text is not None and (type(text) is not str or len(text) > limit or "\x00" in text or not text.isascii()):
            problem = _text_problem(text, limit)
            if problem:
                errors.add(f"tests[{index}].{key}", problem)
        texts.append(text)

    line = get("line")
    if line is not None and not (type(line) is int and 0 <= line <= SMALL_INT_MAX):
        errors.add(f"tests[{index}].line", _integer_problem(line, 0, SMALL_INT_MAX) or "")

    duration = get("duration_ms")
    if duration is None:
        duration = 0.0
    elif type(duration) is float and 0.0 <= duration <= DURATION_MAX_MS:
        duration += 0.0  # -0.0 becomes 0.0, so both digest alike
    elif type(duration) is int and 0 <= duration <= DURATION_MAX_MS:
        duration = float(duration)
    else:
        errors.add(f"tests[{index}].duration_ms", _duration_problem(duration) or "")

    attempts = get("attempts")
    if attempts is None:
        attempts = 1
    elif not (type(attempts) is int and 1 <= attempts <= ATTEMPTS_MAX):
        errors.add(f"tests[{index}].attempts", _integer_problem(attempts, 1, ATTEMPTS_MAX) or "")

    flaky = get("flaky")
    if flaky is None:
        flaky = False
    elif type(flaky) is not bool:
        errors.add(f"tests[{index}].flaky", _must_be("a boolean", flaky))

    if len(errors.items) != before:
        return None
    suite, file, message, details = texts
    return TestResult(test_id, name, suite, file, line, status, duration, attempts, flaky, message, details)


# --- explanations for values that failed a fast check -----------------------


def _identifier_problem(value: Any, max_len: int) -> str | None:
    if type(value) is not str:
        return _must_be("a string", value)
    if not value:
        return "must not be empty"
    if len(value) > max_len:
        return f"must be at most {max_len} characters (got {len(value)})"
    if "\x00" in value:
        return "contains a NUL character"
    if _CONTROL.search(value):
        return "must not contain control characters (U+0000 to U+001F, U+007F)"
    if value.isspace():
        return "must not be blank"
    return _unicode_problem(value)


def _text_problem(value: Any, max_len: int) -> str | None:
    if type(value) is not str:
        return _must_be("a string or null", value)
    if len(value) > max_len:
        return f"must be at most {max_len} characters (got {len(value)})"
    if "\x00" in value:
        return "contains a NUL character"
    return _unicode_problem(value)


def _unicode_problem(value: str) -> str | None:
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (it contains a lone surrogate)"
    return None


def _integer_problem(value: Any, low: int, high: int) -> str | None:
    if type(value) is not int:
        return _must_be("an integer", value)
    if value < low:
        return f"must be at least {low}"
    if value > high:
        return f"must be at most {high}"
    return None


def _duration_problem(value: Any) -> str | None:
    if type(value) is not int and type(value) is not float:
        return _must_be("a number of milliseconds", value)
    if type(value) is float and not math.isfinite(value):
        return "must be a finite number"
    if value < 0:
        return "must be at least 0"
    if value > DURATION_MAX_MS:
        return "must be at most 1e12 milliseconds (about 31 years)"
    return None


def _must_be(expected: str, value: Any) -> str:
    return f"must be {expected} (got {_json_type(value)})"


def _got(value: Any) -> str:
    return f" (got {_preview(value) if type(value) is str else _json_type(value)})"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "a boolean"
    if type(value) is int or type(value) is float:
        return "a number"
    if type(value) is str:
        return "a string"
    if type(value) is list:
        return "an array"
    if type(value) is dict:
        return "an object"
    return type(value).__name__


def _preview(text: str, limit: int = 40) -> str:
    return repr(text[:limit]) + ("..." if len(text) > limit else "")
