from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from collector.errors import Invalid
from collector.model import Counts, RunPayload
from collector.model import TestResult as Result
from collector.validation import MAX_ERRORS, canonical_digest, validate_minimal, validate_run

MAX_TESTS = 1000


def full_body() -> dict[str, Any]:
    return {
        "run_id": "github:octo/app:9127:2:test:pytest-py3.12-linux",
        "started_at": "2026-01-12T12:00:00.5+02:00",
        "duration_ms": 5000,
        "status": "failed",
        "ci": {"provider": "github", "pipeline_id": "9127", "job": "test", "attempt": 2, "url": "https://ci/1"},
        "vcs": {"repository": "octo/app", "commit": "3f2a9c", "branch": "main", "pull_request": "42"},
        "reporter": {"name": "pytest-testrun-reporter", "version": "0.1.0"},
        "tests": [
            {
                "id": "tests/test_x.py::test_a[1]",
                "name": "test_a[1]",
                "suite": "tests/test_x.py",
                "file": "tests/test_x.py",
                "line": 12,
                "status": "failed",
                "duration_ms": 1.5,
                "attempts": 2,
                "flaky": False,
                "message": "AssertionError: é",
                "details": "traceback...",
            },
            {"id": "tests/test_x.py::test_b", "status": "passed"},
        ],
    }


def minimal_test(test_id: str = "t", status: str = "passed", **fields: Any) -> dict[str, Any]:
    return {"id": test_id, "status": status, **fields}


def run_with(*tests: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"run_id": "r1", "tests": list(tests), **fields}


def invalid(data: Any, *, max_tests: int = MAX_TESTS) -> Invalid:
    with pytest.raises(Invalid) as raised:
        validate_run(data, max_tests=max_tests)
    assert raised.value.status == 400
    return raised.value


def failing_fields(data: Any, **kwargs: Any) -> list[str]:
    return [error["field"] for error in invalid(data, **kwargs).errors]


def only_error(data: Any, **kwargs: Any) -> tuple[str, str]:
    errors = invalid(data, **kwargs).errors
    assert len(errors) == 1, errors
    return errors[0]["field"], errors[0]["message"]


# --- a valid run ----------------------------------------------------------------


def test_valid_run_becomes_a_normalised_payload_with_every_field():
    run = validate_run(full_body(), max_tests=MAX_TESTS)

    assert isinstance(run, RunPayload)
    assert run.run_id == "github:octo/app:9127:2:test:pytest-py3.12-linux"
    assert run.started_at == "2026-01-12T10:00:00.500000Z"
    assert run.duration_ms == 5000.0 and isinstance(run.duration_ms, float)
    assert run.status == "failed"
    assert run.ci == {"provider": "github", "pipeline_id": "9127", "job": "test", "attempt": 2, "url": "https://ci/1"}
    assert run.vcs == {"repository": "octo/app", "commit": "3f2a9c", "branch": "main", "pull_request": "42"}
    assert run.reporter == {"name": "pytest-testrun-reporter", "version": "0.1.0"}
    assert run.tests == [
        Result(
            id="tests/test_x.py::test_a[1]",
            name="test_a[1]",
            suite="tests/test_x.py",
            file="tests/test_x.py",
            line=12,
            status="failed",
            duration_ms=1.5,
            attempts=2,
            flaky=False,
            message="AssertionError: é",
            details="traceback...",
        ),
        Result(
            id="tests/test_x.py::test_b",
            name="tests/test_x.py::test_b",
            suite=None,
            file=None,
            line=None,
            status="passed",
            duration_ms=0.0,
            attempts=1,
            flaky=False,
            message=None,
            details=None,
        ),
    ]
    assert run.counts == Counts(total=2, passed=1, failed=1)
    assert len(run.digest) == 64


def test_optional_run_fields_default_when_absent_or_null():
    run = validate_run({"run_id": "r1", "status": "passed", "ci": None, "tests": None}, max_tests=MAX_TESTS)
    assert (run.started_at, run.duration_ms, run.ci, run.vcs, run.reporter, run.tests) == (None, None, {}, {}, {}, [])
    assert run.counts == Counts()


def test_optional_test_fields_default_when_null():
    nulls = dict.fromkeys(["name", "suite", "file", "line", "duration_ms", "attempts", "flaky", "message", "details"])
    (test,) = validate_run(run_with(minimal_test("t1", **nulls)), max_tests=MAX_TESTS).tests
    assert test == Result("t1", "t1", None, None, None, "passed", 0.0, 1, False, None, None)


def test_counts_tally_every_status_and_flaky_tests():
    statuses = ["passed", "passed", "failed", "error", "skipped", "xfailed", "xpassed"]
    tests = [minimal_test(f"t{i}", status, flaky=(i == 1)) for i, status in enumerate(statuses)]
    run = validate_run(run_with(*tests), max_tests=MAX_TESTS)
    assert run.counts == Counts(total=7, passed=2, failed=1, error=1, skipped=1, xfailed=1, xpassed=1, flaky=1)


def test_unknown_fields_are_ignored_and_not_stored():
    body = full_body()
    body["future_field"] = {"anything": [1, 2]}
    body["tests"][0]["future_field"] = "x"
    run = validate_run(body, max_tests=MAX_TESTS)
    assert not hasattr(run, "future_field")
    assert "future_field" not in run.tests[0].as_dict()


def test_metadata_keeps_unknown_keys_with_flat_values():
    ci = {"job": "test", "retry": 0, "manual": True, "node": None, "big": -(2**63)}
    assert validate_run({"run_id": "r1", "status": "passed", "ci": ci}, max_tests=MAX_TESTS).ci == ci


# --- the run's status -------------------------------------------------------------


@pytest.mark.parametrize(
    "statuses, derived",
    [
        (["passed", "failed", "skipped"], "failed"),
        (["passed", "error"], "failed"),
        (["skipped", "skipped"], "skipped"),
        (["skipped", "passed"], "passed"),
        (["xfailed", "skipped"], "passed"),
        (["xpassed"], "passed"),
    ],
)
def test_run_status_is_derived_from_its_tests(statuses, derived):
    tests = [minimal_test(f"t{i}", status) for i, status in enumerate(statuses)]
    assert validate_run(run_with(*tests), max_tests=MAX_TESTS).status == derived
    assert validate_run(run_with(*tests, status=derived), max_tests=MAX_TESTS).status == derived


def test_given_status_that_contradicts_the_tests_is_invalid_naming_the_derived_one():
    field, message = only_error(run_with(minimal_test(status="failed"), status="passed"))
    assert field == "status"
    assert message == "must be 'failed', as derived from the tests, or be omitted (got 'passed')"


def test_status_is_required_when_the_run_has_no_tests():
    assert only_error({"run_id": "r1", "tests": []}) == ("status", "is required when the run has no tests")
    assert only_error({"run_id": "r1"}) == ("status", "is required when the run has no tests")


@pytest.mark.parametrize("status", ["passed", "failed", "error", "skipped"])
def test_run_without_tests_keeps_its_given_status(status):
    assert validate_run({"run_id": "r1", "status": status}, max_tests=MAX_TESTS).status == status


def test_unknown_run_status_is_invalid_listing_the_choices():
    field, message = only_error({"run_id": "r1", "status": "xfailed"})
    assert field == "status"
    assert message == "must be one of passed, failed, error, skipped (got 'xfailed')"


# --- every failing field at once ----------------------------------------------------


def test_non_object_body_is_one_error_on_the_root():
    for data in ([], "run", 3, None):
        assert only_error(data) == ("$", "must be a JSON object")


def test_every_failing_field_is_listed_at_once():
    body = full_body()
    body["run_id"] = ""
    body["ci"]["attempt"] = -1
    body["tests"][1]["status"] = "exploded"
    assert failing_fields(body) == ["run_id", "ci.attempt", "tests[1].status"]


def test_errors_stop_at_the_cap_and_say_they_were_truncated():
    tests = [{"id": f"t{i}", "status": "nope"} for i in range(MAX_ERRORS + 50)]
    error = invalid(run_with(*tests))
    assert len(error.errors) == MAX_ERRORS
    assert error.truncated is True
    assert error.body()["errors_truncated"] is True
    assert error.message.startswith(f"{MAX_ERRORS}+ invalid field(s)")


# --- run fields ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "run_id, message",
    [
        (None, "is required"),
        ("", "must not be empty"),
        ("   ", "must not be blank"),
        ("r" * 257, "must be at most 256 characters (got 257)"),
        ("run\n1", "must not contain control characters (U+0000 to U+001F, U+007F)"),
        ("run\x7f", "must not contain control characters (U+0000 to U+001F, U+007F)"),
        ("run\x00", "contains a NUL character"),
        ("run\ud800", "is not valid Unicode (it contains a lone surrogate)"),
        (42, "must be a string (got a number)"),
        (["r"], "must be a string (got an array)"),
    ],
)
def test_invalid_run_id_is_named(run_id, message):
    body = {"status": "passed"}
    if run_id is not None:
        body["run_id"] = run_id
    assert only_error(body) == ("run_id", message)


def test_run_id_of_the_maximum_length_with_unicode_is_valid():
    run_id = "é" * 256
    assert validate_run({"run_id": run_id, "status": "passed"}, max_tests=MAX_TESTS).run_id == run_id


@pytest.mark.parametrize(
    "started_at, normalised",
    [
        ("2026-01-12T10:00:00Z", "2026-01-12T10:00:00.000000Z"),
        ("2026-01-12T10:00:00.123456789-05:30", "2026-01-12T15:30:00.123456Z"),
        ("2026-01-12t10:00:00z", "2026-01-12T10:00:00.000000Z"),
    ],
)
def test_started_at_is_normalised_to_utc(started_at, normalised):
    run = validate_run({"run_id": "r1", "status": "passed", "started_at": started_at}, max_tests=MAX_TESTS)
    assert run.started_at == normalised


@pytest.mark.parametrize(
    "started_at, message",
    [
        ("2026-01-12T10:00:00", "must be an RFC 3339 timestamp with a time zone, e.g. 2026-01-12T10:00:00Z"),
        ("2026-01-12T10:00:00Z\n", "must be an RFC 3339 timestamp with a time zone, e.g. 2026-01-12T10:00:00Z"),
        ("yesterday", "must be an RFC 3339 timestamp with a time zone, e.g. 2026-01-12T10:00:00Z"),
        (1736676000, "must be an RFC 3339 timestamp with a time zone, e.g. 2026-01-12T10:00:00Z"),
        ("2026-02-30T10:00:00Z", "is not a real date and time"),
        ("0001-01-01T00:00:00+01:00", "is not a real date and time"),
        ("2026-01-12T10:00:61Z", "has seconds over 60"),
        ("2026-01-12T10:00:00Z\n", "must be an RFC 3339 timestamp with a time zone, e.g. 2026-01-12T10:00:00Z"),
    ],
)
def test_invalid_started_at_is_named(started_at, message):
    assert only_error({"run_id": "r1", "status": "passed", "started_at": started_at}) == ("started_at", message)


@pytest.mark.parametrize(
    "duration, message",
    [
        (True, "must be a number of milliseconds (got a boolean)"),
        ("5", "must be a number of milliseconds (got a string)"),
        (-1, "must be at least 0"),
        (float("nan"), "must be a finite number"),
        (float("inf"), "must be a finite number"),
        (1e12 + 1, "must be at most 1e12 milliseconds (about 31 years)"),
        (10**400, "must be at most 1e12 milliseconds (about 31 years)"),
    ],
)
def test_invalid_run_duration_is_named(duration, message):
    assert only_error({"run_id": "r1", "status": "passed", "duration_ms": duration}) == ("duration_ms", message)


def test_run_duration_is_normalised_to_float():
    run = validate_run({"run_id": "r1", "status": "passed", "duration_ms": 0}, max_tests=MAX_TESTS)
    assert run.duration_ms == 0.0 and isinstance(run.duration_ms, float)


@pytest.mark.parametrize(
    "section, value, field, message",
    [
        ("ci", "github", "ci", "must be an object (got a string)"),
        (
            "ci",
            {"nested": {"a": 1}},
            "ci.nested",
            "must be a string, integer, boolean or null (nested objects and arrays are not allowed) (got an object)",
        ),
        (
            "vcs",
            {"tags": ["a"]},
            "vcs.tags",
            "must be a string, integer, boolean or null (nested objects and arrays are not allowed) (got an array)",
        ),
        (
            "ci",
            {"ratio": 0.5},
            "ci.ratio",
            "must be a string, integer, boolean or null (nested objects and arrays are not allowed) (got a number)",
        ),
        ("ci", {"attempt": -1}, "ci.attempt", "must be at least 0"),
        ("ci", {"attempt": True}, "ci.attempt", "must be an integer (got a boolean)"),
        ("ci", {"attempt": "2"}, "ci.attempt", "must be an integer (got a string)"),
        ("ci", {"provider": 1}, "ci.provider", "must be a string (got a number)"),
        ("vcs", {"branch": False}, "vcs.branch", "must be a string (got a boolean)"),
        ("vcs", {"commit": 3}, "vcs.commit", "must be a string (got a number)"),
        ("reporter", {"name": []}, "reporter.name", "must be a string (got an array)"),
        ("reporter", {"version": 1}, "reporter.version", "must be a string (got a number)"),
        ("vcs", {"branch": "x" * 2049}, "vcs.branch", "must be at most 2048 characters (got 2049)"),
        ("vcs", {"branch": "a\x00b"}, "vcs.branch", "contains a NUL character"),
        ("reporter", {"name": "\udc80"}, "reporter.name", "is not valid Unicode (it contains a lone surrogate)"),
        ("ci", {"big": 2**63}, "ci.big", f"must be at most {2**63 - 1}"),
        ("ci", {"": 1}, "ci", "key '' must not be empty"),
        ("ci", {"k" * 65: 1}, "ci", f"key {'k' * 40!r}... must be at most 64 characters (got 65)"),
        ("ci", {"a\x00": 1}, "ci", "key 'a\\x00' contains a NUL character"),
        ("vcs", {"\ud800": 1}, "vcs", "key '\\ud800' is not valid Unicode (it contains a lone surrogate)"),
        ("ci", {f"k{i}": i for i in range(33)}, "ci", "must have at most 32 keys (got 33)"),
    ],
)
def test_invalid_metadata_is_named(section, value, field, message):
    assert only_error({"run_id": "r1", "status": "passed", section: value}) == (field, message)


def test_typed_metadata_keys_may_be_null():
    body = {"run_id": "r1", "status": "passed", "ci": {"attempt": None}, "vcs": {"branch": None}}
    assert validate_run(body, max_tests=MAX_TESTS).vcs == {"branch": None}


# --- tests ------------------------------------------------------------------------------


def test_tests_must_be_an_array():
    assert only_error({"run_id": "r1", "status": "passed", "tests": {"id": "t"}}) == (
        "tests",
        "must be an array (got an object)",
    )


def test_more_tests_than_the_cap_is_one_error_naming_the_cap():
    garbage = [None] * 11
    assert only_error(run_with(*garbage), max_tests=10) == ("tests", "has 11 items, over the limit of 10 tests per run")


def test_exactly_the_cap_of_tests_is_valid():
    tests = [minimal_test(f"t{i}") for i in range(10)]
    assert validate_run(run_with(*tests), max_tests=10).counts.total == 10


def test_test_that_is_not_an_object_is_named_by_index():
    assert only_error(run_with(minimal_test("a"), "b")) == ("tests[1]", "must be an object (got a string)")


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"id": None}, "id", "is required"),
        ({"id": ""}, "id", "must not be empty"),
        ({"id": "x" * 1025}, "id", "must be at most 1024 characters (got 1025)"),
        ({"id": "a\tb"}, "id", "must not contain control characters (U+0000 to U+001F, U+007F)"),
        ({"id": "a\x00b"}, "id", "contains a NUL character"),
        ({"id": "\ud83d"}, "id", "is not valid Unicode (it contains a lone surrogate)"),
        ({"id": 7}, "id", "must be a string (got a number)"),
        ({"status": None}, "status", "is required"),
        (
            {"status": "PASSED"},
            "status",
            "must be one of passed, failed, error, skipped, xfailed, xpassed (got 'PASSED')",
        ),
        (
            {"status": ["passed"]},
            "status",
            "must be one of passed, failed, error, skipped, xfailed, xpassed (got an array)",
        ),
        ({"name": 1}, "name", "must be a string or null (got a number)"),
        ({"name": "n" * 1025}, "name", "must be at most 1024 characters (got 1025)"),
        ({"name": "a\x00"}, "name", "contains a NUL character"),
        ({"suite": "s" * 1025}, "suite", "must be at most 1024 characters (got 1025)"),
        ({"file": {"path": "x"}}, "file", "must be a string or null (got an object)"),
        ({"file": "\udfff.py"}, "file", "is not valid Unicode (it contains a lone surrogate)"),
        ({"line": True}, "line", "must be an integer (got a boolean)"),
        ({"line": 1.0}, "line", "must be an integer (got a number)"),
        ({"line": -1}, "line", "must be at least 0"),
        ({"line": 2**31}, "line", f"must be at most {2**31 - 1}"),
        ({"duration_ms": -0.5}, "duration_ms", "must be at least 0"),
        ({"duration_ms": float("nan")}, "duration_ms", "must be a finite number"),
        ({"duration_ms": float("inf")}, "duration_ms", "must be a finite number"),
        ({"duration_ms": False}, "duration_ms", "must be a number of milliseconds (got a boolean)"),
        ({"duration_ms": "1"}, "duration_ms", "must be a number of milliseconds (got a string)"),
        ({"attempts": 0}, "attempts", "must be at least 1"),
        ({"attempts": 1001}, "attempts", "must be at most 1000"),
        ({"attempts": True}, "attempts", "must be an integer (got a boolean)"),
        ({"flaky": "yes"}, "flaky", "must be a boolean (got a string)"),
        ({"flaky": 1}, "flaky", "must be a boolean (got a number)"),
        ({"message": "m" * 8193}, "message", "must be at most 8192 characters (got 8193)"),
        ({"message": "boom\x00"}, "message", "contains a NUL character"),
        ({"details": "d" * 65537}, "details", "must be at most 65536 characters (got 65537)"),
        ({"details": "tb \ud800"}, "details", "is not valid Unicode (it contains a lone surrogate)"),
    ],
)
def test_invalid_test_field_is_named_by_path(fields, field, message):
    test = {**minimal_test("t"), **fields}
    if test.get("id") is None:
        del test["id"]
    if test.get("status") is None:
        del test["status"]
    body = run_with(minimal_test("ok"), test, status="passed")
    assert only_error(body) == (f"tests[1].{field}", message)


def test_test_values_at_their_limits_are_valid():
    test = minimal_test(
        "i" * 1024,
        name="n" * 1024,
        suite="s" * 1024,
        file="f" * 1024,
        line=0,
        duration_ms=1e12,
        attempts=1000,
        message="m" * 8192,
        details="d" * 65536,
    )
    (result,) = validate_run(run_with(test), max_tests=MAX_TESTS).tests
    assert result.duration_ms == 1e12 and result.attempts == 1000 and result.line == 0


def test_test_names_and_messages_may_hold_newlines_and_unicode():
    test = minimal_test("t", name="名前 ✓", message="line 1\nline 2\ttab", details="🐍\r\n")
    (result,) = validate_run(run_with(test), max_tests=MAX_TESTS).tests
    assert (result.name, result.message, result.details) == ("名前 ✓", "line 1\nline 2\ttab", "🐍\r\n")


def test_every_bad_field_of_one_test_is_listed():
    test = {"id": "", "status": "nope", "line": -1, "flaky": "no"}
    assert failing_fields(run_with(test)) == ["tests[0].id", "tests[0].status", "tests[0].line", "tests[0].flaky"]


def test_duplicate_test_id_is_invalid_naming_the_first_occurrence():
    body = run_with(minimal_test("a"), minimal_test("b"), minimal_test("a", "failed"), minimal_test("b"))
    error = invalid(body)
    assert error.errors == [
        {"field": "tests[2].id", "message": "duplicates tests[0].id"},
        {"field": "tests[3].id", "message": "duplicates tests[1].id"},
    ]


def test_test_duration_is_normalised_to_float():
    (test,) = validate_run(run_with(minimal_test(duration_ms=3)), max_tests=MAX_TESTS).tests
    assert test.duration_ms == 3.0 and isinstance(test.duration_ms, float)


# --- the digest -------------------------------------------------------------------------


def digest_of(body: dict[str, Any]) -> str:
    return validate_run(body, max_tests=MAX_TESTS).digest


def formula_digest(run: RunPayload) -> str:
    tests = [test.as_dict() for test in sorted(run.tests, key=lambda test: test.id)]
    canonical = {
        "run_id": run.run_id,
        "status": run.status,
        "ci": run.ci,
        "vcs": run.vcs,
        "reporter": run.reporter,
        "tests": [{k: v for k, v in test.items() if k != "duration_ms"} for test in tests],
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def test_digest_is_the_sha256_of_the_canonical_json():
    run = validate_run(full_body(), max_tests=MAX_TESTS)
    assert run.digest == canonical_digest(run) == formula_digest(run)


AWKWARD_TEXTS = [
    'quote " and \\ backslash',
    "tab\t newline\n cr\r bell\x07 del\x7f",
    "é 名前 🐍 \u2028 \ufeff",
    "",
    "/",
]
AWKWARD_NUMBERS = [0.0, 0.1, 1e-07, 5e-324, 99999999999.5, 123456789.123456, 0.30000000000000004, 1e12]


@pytest.mark.parametrize("index", range(len(AWKWARD_NUMBERS)))
def test_digest_agrees_with_the_formula_for_awkward_values(index):
    text = AWKWARD_TEXTS[index % len(AWKWARD_TEXTS)]
    number = AWKWARD_NUMBERS[index]
    body = {
        "run_id": f"run é {index}",
        "duration_ms": number,
        "ci": {"clé": text, "n": -(2**63), "b": False, "z": None},
        "vcs": {"branch": text},
        "tests": [
            minimal_test(
                f"t 🐍 {index}",
                "failed",
                name=text,
                suite=text,
                file=text,
                line=2**31 - 1,
                duration_ms=number,
                attempts=1000,
                flaky=True,
                message=text,
                details=text,
            ),
            minimal_test("plain"),
        ],
    }
    run = validate_run(body, max_tests=MAX_TESTS)
    assert run.digest == formula_digest(run)


def test_digest_agrees_with_the_formula_without_tests_or_optional_fields():
    run = validate_run({"run_id": "r", "status": "error"}, max_tests=MAX_TESTS)
    assert run.digest == formula_digest(run)
    legacy = validate_minimal({"run_id": "r", "status": "passed", "duration_ms": 1})
    assert legacy.digest == formula_digest(legacy)


def reordered(body: dict[str, Any]) -> dict[str, Any]:
    def flip(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: flip(value[key]) for key in reversed(list(value))}
        if isinstance(value, list):
            return [flip(item) for item in value]
        return value

    return flip(body)


def with_float_numbers(body: dict[str, Any]) -> dict[str, Any]:
    body["duration_ms"] = 5000.0
    body["tests"][1]["duration_ms"] = 0.0
    return body


def with_explicit_defaults(body: dict[str, Any]) -> dict[str, Any]:
    body["tests"][1].update(
        name=body["tests"][1]["id"], attempts=1, flaky=False, duration_ms=0, suite=None, line=None, message=None
    )
    return body


def with_unknown_fields(body: dict[str, Any]) -> dict[str, Any]:
    body["x_extra"] = [1, 2, 3]
    body["tests"][0]["x_extra"] = {"a": 1}
    return body


def with_status_omitted(body: dict[str, Any]) -> dict[str, Any]:
    del body["status"]
    return body


def with_started_at_in_utc(body: dict[str, Any]) -> dict[str, Any]:
    body["started_at"] = "2026-01-12T10:00:00.500Z"
    return body


def with_negative_zero(body: dict[str, Any]) -> dict[str, Any]:
    body["tests"][1]["duration_ms"] = -0.0
    return body


def retimed(body: dict[str, Any]) -> dict[str, Any]:
    body["started_at"] = "2026-01-12T12:00:00.6+02:00"
    body["duration_ms"] = 5000.001
    body["tests"][0]["duration_ms"] = 1.6
    return body


def with_tests_reversed(body: dict[str, Any]) -> dict[str, Any]:
    body["tests"].reverse()
    return body


def without_started_at(body: dict[str, Any]) -> dict[str, Any]:
    del body["started_at"]
    return body


@pytest.mark.parametrize(
    "variant",
    [
        reordered,
        with_float_numbers,
        with_explicit_defaults,
        with_unknown_fields,
        with_status_omitted,
        with_started_at_in_utc,
        with_negative_zero,
        retimed,
        with_tests_reversed,
        without_started_at,
    ],
)
def test_digest_ignores_timing_order_and_spelling_so_a_rerun_of_the_same_job_is_a_duplicate(variant):
    assert digest_of(variant(full_body())) == digest_of(full_body())


def change(path: str, value: Any) -> Any:
    def mutate(body: dict[str, Any]) -> dict[str, Any]:
        target = body
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
        return body

    mutate.__name__ = f"{path}={value!r}"
    return mutate


@pytest.mark.parametrize(
    "mutation",
    [
        change("run_id", "other"),
        change("ci.attempt", 3),
        change("ci.extra", None),
        change("vcs.branch", "dev"),
        change("reporter.version", "0.1.1"),
        change("tests.0.id", "tests/test_x.py::test_c"),
        change("tests.0.name", "renamed"),
        change("tests.0.suite", None),
        change("tests.0.file", "other.py"),
        change("tests.0.line", 13),
        change("tests.0.status", "error"),
        change("tests.0.attempts", 3),
        change("tests.0.flaky", True),
        change("tests.0.message", "AssertionError: e"),
        change("tests.0.details", None),
        change("tests.1.status", "skipped"),
    ],
    ids=lambda mutation: mutation.__name__,
)
def test_digest_changes_with_any_stored_value(mutation):
    assert digest_of(mutation(full_body())) != digest_of(full_body())


# --- the minimal /ingest body --------------------------------------------------------------


def test_minimal_body_becomes_a_run_without_tests():
    run = validate_minimal(
        {"run_id": "legacy-1", "status": "failed", "duration_ms": 12, "timestamp": "2026-01-12T10:00:00+01:00"}
    )
    assert (run.run_id, run.status, run.duration_ms, run.started_at) == (
        "legacy-1",
        "failed",
        12.0,
        "2026-01-12T09:00:00.000000Z",
    )
    assert (run.ci, run.vcs, run.reporter, run.tests, run.counts) == ({}, {}, {}, [], Counts())
    assert len(run.digest) == 64


def test_minimal_body_needs_only_run_id_and_status():
    run = validate_minimal({"run_id": "legacy-1", "status": "passed"})
    assert (run.started_at, run.duration_ms) == (None, None)


def test_minimal_body_ignores_tests_and_unknown_fields():
    run = validate_minimal({"run_id": "r", "status": "passed", "tests": "not even a list", "x": 1})
    assert run.tests == []
    assert run.digest == validate_minimal({"run_id": "r", "status": "passed"}).digest


def test_minimal_body_lists_every_failing_field():
    with pytest.raises(Invalid) as raised:
        validate_minimal({"run_id": "a\x00", "duration_ms": -3, "timestamp": "noon"})
    assert raised.value.errors == [
        {"field": "run_id", "message": "contains a NUL character"},
        {"field": "status", "message": "is required"},
        {"field": "duration_ms", "message": "must be at least 0"},
        {"field": "timestamp", "message": "must be an RFC 3339 timestamp with a time zone, e.g. 2026-01-12T10:00:00Z"},
    ]


def test_minimal_body_must_be_an_object():
    with pytest.raises(Invalid) as raised:
        validate_minimal(["run_id"])
    assert raised.value.errors == [{"field": "$", "message": "must be a JSON object"}]


def test_minimal_body_with_an_unknown_status_is_invalid():
    with pytest.raises(Invalid) as raised:
        validate_minimal({"run_id": "r", "status": "ok"})
    assert raised.value.errors == [
        {"field": "status", "message": "must be one of passed, failed, error, skipped (got 'ok')"}
    ]
