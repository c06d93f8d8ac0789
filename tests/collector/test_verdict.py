"""The verdict's rules and shape, from what the store knew of each failing test (collector.verdict)."""

from __future__ import annotations

import json

from collector.model import TestResult
from collector.verdict import MAX_LISTED, MAX_LISTED_BYTES, Facts, Since, classify, encode, failures_of, judge

SINCE = Since("github:acme/app:7:1:test:pytest", "2026-12-01T10:00:00.000000Z", "c0ffee")


def result(test_id: str, status: str = "failed", message: str | None = "AssertionError: 1 != 2") -> TestResult:
    return TestResult(test_id, test_id, None, None, None, status, 1.0, 1, False, message, None)


def test_each_rule_holds_in_its_order_and_the_first_that_holds_wins() -> None:
    assert classify(Facts(quarantine_reason="known flake", flaky=True, failing_since=SINCE)) == "quarantined"
    assert classify(Facts(flaky=True, failing_since=SINCE, seen_on_default=True)) == "flaky"
    assert classify(Facts(failing_since=SINCE, seen_on_default=True)) == "failing_on_default"
    assert classify(Facts(seen_on_default=True)) == "regression"
    assert classify(Facts()) == "new_test"


def test_only_failed_and_errored_tests_are_judged() -> None:
    tests = [result("a", "passed"), result("b"), result("c", "error"), result("d", "skipped"), result("e", "xfailed")]

    assert [test.id for test in failures_of(tests)] == ["b", "c"]


def test_the_verdict_counts_every_class_and_lists_the_authors_failures_first() -> None:
    failures = [result("flaky"), result("old"), result("new"), result("broke"), result("muted")]
    facts = {
        "flaky": Facts(flaky=True, seen_on_default=True),
        "old": Facts(failing_since=SINCE, seen_on_default=True),
        "broke": Facts(seen_on_default=True),
        "muted": Facts(quarantine_reason="tracked in #12"),
    }

    verdict = judge(failures, facts, default_branch="main")

    assert verdict["failures"] == 5 and verdict["blocking"] == 4 and verdict["quarantined"] == 1
    assert verdict["classes"] == {"regression": 1, "new_test": 1, "failing_on_default": 1, "flaky": 1, "quarantined": 1}
    assert [(t["test_id"], t["class"]) for t in verdict["tests"]] == [
        ("broke", "regression"),
        ("new", "new_test"),
        ("old", "failing_on_default"),
        ("flaky", "flaky"),
        ("muted", "quarantined"),
    ]
    assert verdict["tests"][2]["since"] == {"run_id": SINCE.run_id, "started_at": SINCE.started_at, "commit": "c0ffee"}
    assert verdict["tests"][4]["reason"] == "tracked in #12"
    assert "since" not in verdict["tests"][0] and verdict["truncated"] is False


def test_a_failure_keeps_the_first_line_of_its_message_cut_short() -> None:
    long_line = "E" * 1000
    verdict = judge([result("a", message=f"{long_line}\nsecond line"), result("b", message=None)], {}, default_branch="main")

    first, second = verdict["tests"]
    assert first["message"].startswith("EEE") and first["message"].endswith("…") and len(first["message"]) == 300
    assert second["message"] is None


def test_1500_failures_list_1000_with_exact_counts_and_truncated() -> None:
    failures = [result(f"tests/test_many.py::test_{i}") for i in range(1500)]
    facts = {f"tests/test_many.py::test_{i}": Facts(seen_on_default=True) for i in range(0, 1500, 2)}

    verdict = judge(failures, facts, default_branch="main")

    assert verdict["failures"] == 1500 and verdict["blocking"] == 1500
    assert verdict["classes"]["regression"] == 750 and verdict["classes"]["new_test"] == 750
    assert len(verdict["tests"]) == MAX_LISTED and verdict["truncated"] is True
    assert [t["class"] for t in verdict["tests"]] == ["regression"] * 750 + ["new_test"] * 250


def test_the_listed_failures_stop_at_half_a_mebibyte_of_json_however_long_their_ids() -> None:
    failures = [result("x" * 1000 + str(i), message="m" * 2000) for i in range(900)]

    verdict = judge(failures, {}, default_branch="main")

    listed = len(verdict["tests"])
    assert 0 < listed < 900 and verdict["truncated"] is True and verdict["failures"] == 900
    assert len(encode({"tests": verdict["tests"]})) <= MAX_LISTED_BYTES + 100


def test_a_run_without_failures_has_an_empty_verdict() -> None:
    assert judge([], {}, default_branch="trunk") == {
        "failures": 0,
        "blocking": 0,
        "quarantined": 0,
        "classes": {"regression": 0, "new_test": 0, "failing_on_default": 0, "flaky": 0, "quarantined": 0},
        "tests": [],
        "truncated": False,
        "default_branch": "trunk",
    }


def test_the_encoded_verdict_decodes_and_encodes_to_the_same_bytes() -> None:
    verdict = judge([result("tests/ü.py::test_ß", message="ünïcode | `ticks` <b>")], {"tests/ü.py::test_ß": Facts()}, default_branch="main")

    text = encode(verdict)

    assert encode(json.loads(text)) == text
