"""junit_uploader.junit and .reports: each dialect's report, ids, attempts, texts, limits and refusals."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from collector.validation import validate_run
from junit_uploader.errors import MalformedReport, NoReportFound, ReportError
from junit_uploader.junit import (
    DETAILS_MAX,
    ID_MAX,
    MESSAGE_MAX,
    TEXT_MAX,
    ParsedRun,
    find_reports,
    parse_reports,
)

REPORTS = Path(__file__).parent / "reports"
FIXTURES = sorted(path.relative_to(REPORTS).as_posix() for path in REPORTS.rglob("*.xml"))


def parse(*names: str, **kwargs: Any) -> ParsedRun:
    return parse_reports([REPORTS / name for name in names], **kwargs)


def by_id(run: ParsedRun) -> dict[str, dict[str, Any]]:
    return {test["id"]: test for test in run.tests}


def statuses(run: ParsedRun) -> dict[str, int]:
    return dict(Counter(test["status"] for test in run.tests))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def suite_of(*testcases: str, name: str = "s") -> str:
    return f'<testsuite name="{name}">{"".join(testcases)}</testsuite>'


def malformed_message(path: Path) -> str:
    with pytest.raises(MalformedReport) as raised:
        parse_reports([path])
    message = str(raised.value)
    assert path.name in message
    assert "\n" not in message
    return message


# --- every dialect ---------------------------------------------------------------


def test_surefire_counts_reruns_as_attempts_and_a_pass_after_flaky_failures_as_flaky() -> None:
    run = parse("surefire/TEST-com.acme.billing.InvoiceTest.xml")
    tests = by_id(run)

    assert statuses(run) == {"passed": 3, "failed": 2, "error": 1, "skipped": 1}
    assert list(tests)[:2] == [
        "com.acme.billing.InvoiceTest::computesTotal", "com.acme.billing.InvoiceTest::appliesDiscount"
    ]
    discount = tests["com.acme.billing.InvoiceTest::appliesDiscount"]
    assert (discount["status"], discount["attempts"], discount.get("flaky", False)) == ("failed", 3, False)
    assert discount["message"] == "expected: <90.00> but was: <89.99>"
    assert discount["details"].startswith(
        "org.opentest4j.AssertionFailedError: expected: <90.00> but was: <89.99>\n\tat "
    )
    assert discount["details"].count("--- rerunFailure: expected: <90.00> but was: <89.99> ---") == 2
    reminder = tests["com.acme.billing.InvoiceTest::sendsReminder"]
    assert (reminder["status"], reminder["attempts"], reminder["flaky"]) == ("passed", 3, True)
    assert "message" not in reminder
    assert "--- flakyFailure: Expected 1 reminder but found 0 ---\njava.lang.AssertionError" in reminder["details"]
    assert "--- flakyError: Connection reset ---\njava.net.SocketException: Connection reset" in reminder["details"]
    assert reminder["details"].endswith("--- system-out ---\nmail queue: [reminder#1]\n")
    assert run.duration_ms == 1482.0
    assert run.started_at is None


def test_surefire_error_keeps_stack_trace_then_output_under_headers_and_multi_line_messages() -> None:
    tests = by_id(parse("surefire/TEST-com.acme.billing.InvoiceTest.xml"))

    pdf = tests["com.acme.billing.InvoiceTest::rendersPdf"]
    assert pdf["status"] == "error"
    assert pdf["message"] == "Could not initialize class com.acme.billing.pdf.FontCache"
    assert pdf["details"] == (
        "java.lang.NoClassDefFoundError: Could not initialize class com.acme.billing.pdf.FontCache\n"
        "\tat com.acme.billing.pdf.Renderer.render(Renderer.java:31)\n"
        "\tat com.acme.billing.InvoiceTest.rendersPdf(InvoiceTest.java:90)\n"
        "\n--- system-out ---\nloading fonts from /usr/share/fonts\n"
        "\n--- system-err ---\nWARN: fontconfig not found\n"
    )
    vat = tests["com.acme.billing.InvoiceTest::roundsVat"]
    assert vat["message"] == "VAT for 19.99 at 19%\nexpected: 3.80\n but was: 3.79"
    skipped = tests["com.acme.billing.InvoiceTest::exportsToSap"]
    assert skipped["status"] == "skipped"
    assert skipped["message"] == "SAP sandbox is only reachable from the office network"
    assert tests["com.acme.billing.InvoiceTest::parsesIban"] == {
        "id": "com.acme.billing.InvoiceTest::parsesIban",
        "name": "parsesIban",
        "suite": "com.acme.billing.InvoiceTest",
        "status": "passed",
        "duration_ms": 2.0,
    }


def test_gradle_test_retry_testcases_become_one_flaky_result_with_both_attempts() -> None:
    run = parse("gradle/TEST-com.acme.orders.OrderServiceTest.xml")

    assert statuses(run) == {"passed": 2, "failed": 1, "skipped": 1}
    assert [test["name"] for test in run.tests] == [
        "placesOrder()", "rejectsEmptyCart()", "refundsOrder()", "talksToPaymentGateway()"
    ]
    gateway = by_id(run)["com.acme.orders.OrderServiceTest::talksToPaymentGateway()"]
    assert (gateway["status"], gateway["attempts"], gateway["flaky"]) == ("passed", 2, True)
    assert gateway["duration_ms"] == 1318.0
    assert "message" not in gateway
    refund = by_id(run)["com.acme.orders.OrderServiceTest::refundsOrder()"]
    assert refund["status"] == "skipped" and "message" not in refund
    assert run.started_at == "2026-01-12T10:04:31Z"


def test_gradle_directory_of_reports_is_one_run_in_file_order_with_summed_suite_times() -> None:
    run = parse_reports(find_reports(["gradle"], cwd=REPORTS))

    assert [path.name for path in run.files] == [
        "TEST-com.acme.orders.CartTest.xml", "TEST-com.acme.orders.OrderServiceTest.xml"
    ]
    assert [test["id"] for test in run.tests][:3] == [
        "com.acme.orders.CartTest::addsItem()",
        "com.acme.orders.CartTest::removesItem()",
        "com.acme.orders.OrderServiceTest::placesOrder()",
    ]
    assert len(run.tests) == 6
    assert run.duration_ms == 250.0 + 1821.0
    assert run.started_at == "2026-01-12T10:04:29Z"


def test_jest_ids_put_the_suite_before_the_full_title_when_classname_only_repeats_it() -> None:
    run = parse("jest/junit.xml")
    tests = by_id(run)

    assert statuses(run) == {"passed": 3, "failed": 1, "skipped": 1}
    assert list(tests) == [
        "Calculator::Calculator adds two numbers",
        "Calculator::Calculator divides by zero",
        "Calculator::Calculator rounds money",
        "formatPrice::formatPrice renders euros",
        "formatPrice::formatPrice renders yen without decimals",
    ]
    failed = tests["Calculator::Calculator divides by zero"]
    assert failed["name"] == "Calculator divides by zero"
    assert failed["suite"] == "Calculator"
    assert failed["message"] == "Error: expect(received).toBe(expected) // Object.is equality"
    assert failed["details"].startswith(
        "Error: expect(received).toBe(expected) // Object.is equality\n\nExpected: Infinity\n"
    )
    assert run.duration_ms == 2018.0
    assert run.started_at == "2026-01-12T10:00:01Z"


def test_jest_file_attribute_keeps_equal_titles_in_two_test_files_apart() -> None:
    tests = by_id(parse("jest/junit-with-file-attribute.xml"))

    assert list(tests) == ["src/checkout/cart.test.ts::Cart totals", "src/admin/cart.test.ts::Cart totals"]
    assert tests["src/admin/cart.test.ts::Cart totals"]["file"] == "src/admin/cart.test.ts"


def test_gotestsum_ids_are_package_and_subtest_path_and_skips_keep_their_output_as_message() -> None:
    run = parse("go/gotestsum.xml")
    tests = by_id(run)

    assert statuses(run) == {"passed": 4, "failed": 2, "skipped": 1}
    assert "github.com/acme/shop/cart::TestParse/empty_input" in tests
    unicode_case = tests["github.com/acme/shop/cart::TestParse/unicode_näme"]
    assert unicode_case["message"] == "Failed"
    assert unicode_case["details"] == (
        "=== RUN   TestParse/unicode_näme\n"
        '    parse_test.go:41: got "n", want "näme"\n'
        "--- FAIL: TestParse/unicode_näme (0.01s)\n"
    )
    refund = tests["github.com/acme/shop/payments::TestRefund"]
    assert refund["status"] == "skipped"
    assert refund["message"] == (
        "=== RUN   TestRefund\n    refund_test.go:9: needs STRIPE_KEY\n--- SKIP: TestRefund (0.00s)\n"
    )
    assert tests["github.com/acme/shop/payments::TestCharge"]["duration_ms"] == 500.0
    assert run.duration_ms == 1322.0
    assert run.started_at == "2026-01-12T10:00:00Z"


def test_nextest_retries_flaky_passes_and_rerun_failures_with_times_from_the_root() -> None:
    run = parse("nextest/junit.xml")
    tests = by_id(run)

    assert statuses(run) == {"passed": 4, "failed": 1}
    assert list(tests) == [
        "shop::cart::tests::adds_item",
        "shop::cart::tests::flaky_clock",
        "shop::cart::tests::rejects_negative",
        "shop::checkout::happy_path",
        "shop::checkout::with_coupon",
    ]
    flaky = tests["shop::cart::tests::flaky_clock"]
    assert (flaky["status"], flaky["attempts"], flaky["flaky"]) == ("passed", 2, True)
    assert flaky["details"].startswith(
        "--- flakyFailure: thread 'cart::tests::flaky_clock' panicked at src/cart.rs:88:9 ---\n"
        "thread 'cart::tests::flaky_clock' panicked at src/cart.rs:88:9:\nassertion `left == right` failed\n"
    )
    failing = tests["shop::cart::tests::rejects_negative"]
    assert (failing["status"], failing["attempts"], failing.get("flaky", False)) == ("failed", 2, False)
    assert failing["message"] == "thread 'cart::tests::rejects_negative' panicked at src/cart.rs:101:5:"
    assert "\n--- rerunFailure ---\nthread 'cart::tests::rejects_negative'" in failing["details"]
    assert failing["suite"] == "shop"
    assert tests["shop::checkout::happy_path"]["suite"] == "shop::checkout"
    assert run.duration_ms == 842.0
    assert run.started_at == "2026-01-12T10:00:00.123000+01:00"


def test_phpunit_nested_suites_give_the_innermost_suite_and_file_and_line_as_numbers() -> None:
    run = parse("phpunit/junit.xml")
    tests = by_id(run)

    assert statuses(run) == {"passed": 3, "failed": 1, "error": 1, "skipped": 1}
    divide = tests['Tests.Unit.CalculatorTest::testDivide with data set "by zero"']
    assert divide["suite"] == "Tests\\Unit\\CalculatorTest::testDivide"
    assert (divide["file"], divide["line"]) == ("/app/tests/Unit/CalculatorTest.php", 27)
    assert divide["message"] == 'Tests\\Unit\\CalculatorTest::testDivide with data set "by zero" (1, 0, INF)'
    assert "Failed asserting that NAN is identical to INF." in divide["details"]
    sqrt = tests["Tests.Unit.CalculatorTest::testSqrt"]
    assert (sqrt["status"], sqrt["suite"], sqrt["line"]) == ("error", "Tests\\Unit\\CalculatorTest", 40)
    pow_ = tests["Tests.Unit.CalculatorTest::testPow"]
    assert pow_["status"] == "skipped" and "message" not in pow_
    assert tests["Tests.Unit.MoneyTest::testFormat"]["duration_ms"] == 2.244
    assert run.duration_ms == 31.245


def test_ctest_ids_use_the_build_name_and_a_failure_without_message_keeps_its_output() -> None:
    run = parse("ctest/results.xml")
    tests = by_id(run)

    assert statuses(run) == {"passed": 1, "failed": 1, "skipped": 2}
    assert list(tests) == [
        "Linux-c++::unit_math", "Linux-c++::unit_io", "Linux-c++::gpu_kernels", "Linux-c++::slow_fuzz"
    ]
    failed = tests["Linux-c++::unit_io"]
    assert "message" not in failed
    assert failed["details"].startswith("--- system-out ---\n[ RUN      ] FileTest.ReadsConfig\n")
    assert tests["Linux-c++::gpu_kernels"]["message"] == "Required files missing"
    assert tests["Linux-c++::slow_fuzz"]["message"] == "Disabled"
    assert "details" not in tests["Linux-c++::unit_math"]
    assert run.duration_ms == 3000.0
    assert run.started_at == "2026-01-12T10:00:00Z"


def test_ctest_disabled_tests_are_skipped_though_ctest_writes_no_skipped_element_for_them() -> None:
    run = parse("ctest/junit-disabled.xml")
    tests = by_id(run)

    assert statuses(run) == {"passed": 1, "failed": 1, "skipped": 3}
    disabled = tests["Linux-clang++::slow_fuzz"]
    assert (disabled["status"], disabled["message"]) == ("skipped", "disabled (CTest)")
    assert disabled["details"] == "--- system-out ---\nDisabled"
    assert tests["Linux-clang++::gpu_kernels"]["message"] == "Required Files Missing"
    assert tests["Linux-clang++::needs_network"]["message"] == "SKIP_RETURN_CODE=77"
    assert tests["Linux-clang++::unit_math"]["status"] == "passed"
    assert tests["Linux-clang++::unit_io"]["status"] == "failed"


@pytest.mark.parametrize(
    ("name", "suites", "gtest_skip", "started_at"),
    [
        # 1.11 and later write GTEST_SKIP's reason in a <skipped> element; 1.10 only result="skipped"
        ("googletest/test_detail.xml", ("MathTest", "DISABLED_NetworkTest::Downloads"),
         "math_test.cc:11\nno GPU on this runner\n", "2026-01-12T10:00:00.656000Z"),
        ("googletest/test_detail-1.10.xml", ("CalcTest", "DISABLED_UploadTest::Uploads"),
         "skipped with GTEST_SKIP (GoogleTest)", "2026-01-12T05:00:00Z"),
    ],
)
def test_googletest_disabled_tests_and_gtest_skip_are_skipped_and_epoch_dates_do_not_start_the_run(
    name: str, suites: tuple[str, str], gtest_skip: str, started_at: str
) -> None:
    run = parse(name)
    tests = by_id(run)
    suite, disabled_suite_test = suites

    assert statuses(run) == {"passed": 1, "failed": 1, "skipped": 3}
    for test_id in (f"{suite}::DISABLED_Overflows", disabled_suite_test):
        assert (tests[test_id]["status"], tests[test_id]["message"]) == (
            "skipped", "suppressed: DISABLED_ test (GoogleTest)"
        )
    assert tests[f"{suite}::SkipsWithoutGpu"]["message"] == gtest_skip
    assert tests[f"{suite}::Divides"]["status"] == "failed"
    assert tests[f"{suite}::Adds"]["status"] == "passed"
    assert run.started_at == started_at


@pytest.mark.parametrize(
    ("attributes", "status", "message"),
    [
        ('status="disabled"', "skipped", "disabled (CTest)"),
        ('status="notrun"', "skipped", "not run"),
        ('status="notrun" result="suppressed"', "skipped", "suppressed: DISABLED_ test (GoogleTest)"),
        ('status="run" result="skipped"', "skipped", "skipped with GTEST_SKIP (GoogleTest)"),
        ('status="run" result="completed"', "passed", None),
        ('status="run"', "passed", None),
        ('status="fail"', "passed", None),
        ('status="passed" result="ok"', "passed", None),
    ],
)
def test_tool_attributes_that_say_a_test_did_not_run_make_it_skipped_with_the_reason(
    tmp_path: Path, attributes: str, status: str, message: str | None
) -> None:
    path = write(tmp_path, "r.xml", suite_of(f'<testcase classname="c" name="t" {attributes}/>'))

    test = parse_reports([path]).tests[0]
    assert (test["status"], test.get("message")) == (status, message)


@pytest.mark.parametrize(
    ("children", "status", "message"),
    [
        ('<skipped message="Required Files Missing"/>', "skipped", "Required Files Missing"),
        ('<failure message="boom"/>', "failed", "boom"),
        ('<error message="crashed"/>', "error", "crashed"),
        ("<system-out>Disabled</system-out>", "skipped", "disabled (CTest)"),
    ],
)
def test_a_result_element_wins_over_a_disabled_status(
    tmp_path: Path, children: str, status: str, message: str
) -> None:
    path = write(tmp_path, "r.xml", suite_of(
        f'<testcase classname="c" name="t" status="disabled">{children}</testcase>'
    ))

    test = parse_reports([path]).tests[0]
    assert (test["status"], test["message"]) == (status, message)


def test_pytest_xunit2_keeps_dotted_classnames_and_reads_xfail_setup_and_teardown_errors() -> None:
    run = parse("pytest/xunit2.xml")
    tests = by_id(run)

    assert statuses(run) == {"passed": 2, "failed": 1, "error": 2, "skipped": 1, "xfailed": 1}
    failed = tests["tests.test_calc::test_add[2-2-5]"]
    assert failed["message"] == "assert 4 == 5\n +  where 4 = add(2, 2)"
    assert failed["details"].endswith("E        +  where 4 = add(2, 2)\n\ntests/test_calc.py:8: AssertionError")
    assert tests["tests.test_calc.TestDivide::test_by_zero"]["status"] == "error"
    assert tests["tests.test_calc::test_known_bug"] == {
        "id": "tests.test_calc::test_known_bug",
        "name": "test_known_bug",
        "suite": "pytest",
        "status": "xfailed",
        "duration_ms": 3.0,
        "message": "bug #12: rounding",
    }
    skipped = tests["tests.test_calc.TestDivide::test_skip_windows"]
    assert (skipped["message"], skipped["details"]) == (
        "only on windows", "/home/ci/app/tests/test_calc.py:20: only on windows"
    )
    teardown = tests["tests.test_calc::test_leaks_file"]
    assert teardown["status"] == "error"
    assert teardown["message"] == 'failed on teardown with "ResourceWarning: unclosed file"'
    assert "\n--- failure: AssertionError: assert False ---\ndef test_leaks_file(tmp_file):" in teardown["details"]
    assert "ticket" not in str(teardown)
    assert "details" not in tests["tests.test_calc::test_logs"]
    assert run.started_at == "2026-01-12T11:00:00.123456+01:00"


def test_pytest_xunit1_file_turns_the_classname_into_the_node_id_and_line_into_one_based() -> None:
    tests = by_id(parse("pytest/xunit1.xml"))

    assert list(tests) == [
        "tests/test_calc.py::test_add[1-2-3]",
        "tests/test_calc.py::TestDivide::test_by_zero",
        "tests/test_calc.py::TestDivide::TestNested::test_deep",
        "test_root.py::test_top",
        "tests/v1.2/test_api.py::test_get[a.b]",
        "acme.tests.test_calc::test_with_prefix",
    ]
    by_zero = tests["tests/test_calc.py::TestDivide::test_by_zero"]
    assert (by_zero["file"], by_zero["line"], by_zero["status"]) == ("tests/test_calc.py", 15, "failed")
    assert tests["test_root.py::test_top"]["line"] == 1
    assert tests["tests/v1.2/test_api.py::test_get[a.b]"]["message"] == "needs network"
    assert tests["acme.tests.test_calc::test_with_prefix"]["line"] == 31


@pytest.mark.parametrize("name", FIXTURES)
def test_every_fixture_gives_tests_the_collector_accepts(name: str) -> None:
    run = parse(name)

    stored = validate_run({"run_id": "junit-test", "tests": run.tests}, max_tests=100_000)
    assert stored.counts.total == len(run.tests) > 0


def test_all_fixtures_together_make_one_valid_run_without_colliding_ids() -> None:
    run = parse(*FIXTURES)

    separately = sum(len(parse(name).tests) for name in FIXTURES)
    assert len(run.tests) == separately
    validate_run({"run_id": "junit-test", "tests": run.tests}, max_tests=100_000)
    assert parse(*FIXTURES).tests == run.tests


# --- odd reports ------------------------------------------------------------------


def test_a_bare_testsuite_without_classnames_uses_the_name_alone() -> None:
    run = parse("odd/minimal.xml")

    assert [test["id"] for test in run.tests] == ["lonely", "unnamed class", "only.a.classname::", "(unnamed)"]
    assert all("suite" not in test for test in run.tests)
    assert (run.started_at, run.duration_ms) == (None, None)


def test_testcases_outside_any_suite_and_nested_testsuites_roots_are_read() -> None:
    run = parse("odd/testcases-under-root.xml")

    assert [(test["id"], test.get("suite")) for test in run.tests] == [
        ("smoke::homepage loads", None), ("smoke::login works", "inner")
    ]
    assert run.duration_ms == 4500.0
    assert run.started_at == "2026-01-12T09:00:00-05:00"


def test_garbage_times_count_as_zero_for_tests_and_are_ignored_for_suites() -> None:
    run = parse("odd/garbage-times.xml")
    durations = {test["name"]: test["duration_ms"] for test in run.tests}

    assert durations == {
        "comma": 0.0, "empty": 0.0, "negative": 0.0, "text": 0.0, "infinite": 0.0, "nan": 0.0, "huge": 0.0,
        "missing": 0.0, "exponent": 2.5, "padded": 250.0, "fine": 7.0, "line": 500.0,
    }
    assert "line" not in by_id(run)["t::line"]
    assert (run.duration_ms, run.started_at) == (None, None)


def test_file_and_line_come_from_testcase_properties_and_other_properties_are_not_sent() -> None:
    tests = parse("odd/properties.xml").tests

    assert [(test["file"], test["line"]) for test in tests] == [
        ("spec/models/user_spec.rb", 12), ("spec/models/user_spec.rb", 20)
    ]
    assert all(set(test) == {"id", "name", "suite", "status", "duration_ms", "file", "line"} for test in tests)


def test_unicode_and_cdata_round_trip_exactly_and_control_characters_leave_the_id() -> None:
    tests = parse("odd/unicode-cdata.xml").tests

    assert tests[0]["id"] == "i18n.Grüße::ผ่าน 🎉 [עברית]"
    assert tests[0]["suite"] == "国際化 — i18n ✓"
    assert (tests[1]["id"], tests[1]["name"]) == ("i18n.Grüße::tab\u2409and\u240anewline", "tab\tand\nnewline")
    assert tests[2]["message"] == "Ожидалось «ё», получено «е»"
    assert tests[2]["details"] == (
        'Traceback <with> & "markup" that stays as written:\n'
        "  ✗ 期待値: ё\n"
        "  ✗ 実際値: е\n"
        "]]> is how a CDATA end marker is written\n"
        "\ttab-indented line 🚀\n"
        "--- system-out ---\nстандартный вывод\n"
    )


def test_a_utf16_report_with_its_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "utf16.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-16"?>'
        + suite_of('<testcase classname="ü" name="ß"><failure message="ничего"/></testcase>'),
        encoding="utf-16",
    )

    assert parse_reports([path]).tests[0] | {"duration_ms": 0.0} == {
        "id": "ü::ß", "name": "ß", "suite": "s", "status": "failed", "duration_ms": 0.0, "message": "ничего"
    }


# --- attempts and statuses --------------------------------------------------------


def test_a_test_written_once_per_attempt_is_one_result_counting_its_attempts() -> None:
    run = parse("odd/repeated-attempts.xml")
    tests = by_id(run)

    assert list(tests) == [
        "r::fails then passes", "r::errors then passes", "r::passes then fails", "r::fails every time",
        "r::skipped and failed",
    ]
    assert tests["r::fails then passes"] == {
        "id": "r::fails then passes", "name": "fails then passes", "suite": "retries",
        "status": "passed", "duration_ms": 600.0, "attempts": 3, "flaky": True,
    }
    assert (tests["r::errors then passes"]["attempts"], tests["r::errors then passes"]["flaky"]) == (2, True)
    regressed = tests["r::passes then fails"]
    assert (regressed["status"], regressed["attempts"], regressed.get("flaky", False)) == ("failed", 2, False)
    assert regressed["message"] == "regressed on the retry"
    always = tests["r::fails every time"]
    assert (always["status"], always["attempts"], always["message"]) == ("failed", 2, "try 2")
    assert "flaky" not in always


def test_the_same_test_in_two_files_is_merged_and_the_later_file_decides(tmp_path: Path) -> None:
    errored = '<testcase classname="c" name="t" time="1"><error message="e"/></testcase>'
    first = write(tmp_path, "a.xml", suite_of(errored))
    second = write(tmp_path, "b.xml", suite_of('<testcase classname="c" name="t" time="2"/>'))

    assert parse_reports([first, second]).tests == [
        {
            "id": "c::t", "name": "t", "suite": "s", "status": "passed", "duration_ms": 3000.0,
            "attempts": 2, "flaky": True,
        }
    ]
    assert parse_reports([second, first]).tests[0]["status"] == "error"


def test_error_beats_failure_beats_skipped_in_one_testcase(tmp_path: Path) -> None:
    path = write(tmp_path, "r.xml", suite_of(
        '<testcase classname="c" name="all">'
        '<skipped message="s"/><failure message="f"/><error message="e"/></testcase>',
        '<testcase classname="c" name="two"><failure message="f"/><skipped message="s"/></testcase>',
    ))

    tests = parse_reports([path]).tests
    assert [(test["status"], test["message"]) for test in tests] == [("error", "e"), ("failed", "f")]
    assert tests[0]["details"] == "--- skipped: s ---\n--- failure: f ---"


def test_a_result_element_without_message_takes_the_first_non_blank_line_of_its_text(tmp_path: Path) -> None:
    path = write(tmp_path, "m.xml", suite_of(
        '<testcase classname="c" name="t">'
        '<failure message="  ">\n\n   AssertionError: boom  \nmore</failure></testcase>'
    ))

    assert parse_reports([path]).tests[0]["message"] == "AssertionError: boom"


# --- run timing -------------------------------------------------------------------------


def test_started_at_is_the_earliest_instant_over_all_files_keeping_its_offset(tmp_path: Path) -> None:
    naive = write(tmp_path, "a.xml", '<testsuite name="a" timestamp="2026-01-12T09:30:00" time="1"/>')
    offset = write(tmp_path, "b.xml", '<testsuite name="b" timestamp="2026-01-12T10:00:00+01:00" time="2"/>')
    nanos = write(tmp_path, "c.xml", '<testsuite name="c" timestamp="2026-01-12T08:50:00.123456789Z"/>')

    assert parse_reports([naive, offset]).started_at == "2026-01-12T10:00:00+01:00"
    assert parse_reports([naive]).started_at == "2026-01-12T09:30:00Z"
    assert parse_reports([naive, offset, nanos]).started_at == "2026-01-12T08:50:00.123456Z"
    assert parse_reports([naive, offset, nanos]).duration_ms == 3000.0


# --- limits -------------------------------------------------------------------------------


def test_messages_and_details_are_capped_with_a_marker_counting_what_was_cut(tmp_path: Path) -> None:
    output = "o" * 1_000_000
    path = write(tmp_path, "big.xml", suite_of(
        f'<testcase classname="c" name="t"><failure message="{"m" * 10_000}">{"t" * 100}</failure>'
        f"<system-out>{output}</system-out></testcase>"
    ))

    test = parse_reports([path]).tests[0]
    assert_cut(test["message"], "m" * 10_000, MESSAGE_MAX)
    assert_cut(test["details"], "t" * 100 + "\n--- system-out ---\n" + output, DETAILS_MAX)


def assert_cut(text: str, full: str, limit: int) -> None:
    """``text`` is the start of ``full`` plus a marker saying how many characters follow, within the limit."""
    match = re.fullmatch(r"(.*)\n… \[truncated (\d+) chars\]", text, re.DOTALL)
    assert match is not None
    kept, cut = match.group(1), int(match.group(2))
    assert full.startswith(kept)
    assert len(kept) + cut == len(full)
    assert limit - 1 <= len(text) <= limit


def test_long_ids_are_cut_with_a_hash_so_two_long_names_stay_distinct(tmp_path: Path) -> None:
    common = "x" * 2000
    path = write(tmp_path, "long.xml", suite_of(
        f'<testcase classname="{"c" * 2000}" name="{common}a"/>',
        f'<testcase classname="{"c" * 2000}" name="{common}b"/>',
    ))

    first, second = parse_reports([path]).tests
    assert len(first["id"]) == len(second["id"]) == ID_MAX
    assert first["id"] != second["id"]
    assert first["id"][: ID_MAX - 17] == second["id"][: ID_MAX - 17] == "c" * (ID_MAX - 17)
    assert len(first["name"]) == TEXT_MAX and first["name"].endswith("…")
    assert parse_reports([path]).tests[0]["id"] == first["id"]


def test_more_tests_than_max_tests_is_refused_but_repeated_attempts_do_not_count(tmp_path: Path) -> None:
    three = write(tmp_path, "three.xml", suite_of(*(f'<testcase classname="c" name="t{i}"/>' for i in range(3))))
    repeated = write(tmp_path, "repeated.xml", suite_of(*('<testcase classname="c" name="t"/>' for _ in range(5))))

    with pytest.raises(MalformedReport, match=r"three\.xml: the reports hold more than 2 tests, the most one run"):
        parse_reports([three], max_tests=2)
    assert len(parse_reports([three], max_tests=3).tests) == 3
    assert parse_reports([repeated], max_tests=1).tests[0]["attempts"] == 5


# --- refused input ---------------------------------------------------------------------------


def test_an_empty_file_is_malformed(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.xml", "")

    assert malformed_message(path).endswith("empty.xml: empty file, not a JUnit XML report")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("   \n\n", "not well-formed XML (line 3, column 1): no element found"),
        ("PASS all 3 tests\n", "not well-formed XML (line 1, column 1): syntax error"),
        ('{"tests": []}', "not well-formed XML (line 1, column 1): not well-formed (invalid token)"),
        ("<testsuite>\n  <testcase>\n</testsuite>", "not well-formed XML (line 3, column 3): mismatched tag"),
        ("<testsuite><testcase name='a'/>&nbsp;</testsuite>",
         "not well-formed XML (line 1, column 32): undefined entity"),
        ("<testsuite>\x1b[31m</testsuite>", "not well-formed XML (line 1, column 12): not well-formed (invalid token)"),
    ],
)
def test_text_that_is_not_well_formed_xml_is_malformed_with_line_and_column(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, "bad.xml", text)

    assert malformed_message(path).endswith(f"bad.xml: {problem}")


def test_a_truncated_report_is_malformed(tmp_path: Path) -> None:
    whole = (REPORTS / "surefire/TEST-com.acme.billing.InvoiceTest.xml").read_bytes()
    path = tmp_path / "cut.xml"
    path.write_bytes(whole[: len(whole) // 2])

    message = malformed_message(path)
    assert "cut.xml: truncated XML: the file ends at line " in message
    assert message.endswith("before the root element is closed")


@pytest.mark.parametrize("root", ["html", "testcase", "testrun", "TestSuites"])
def test_a_root_other_than_testsuites_or_testsuite_is_malformed(tmp_path: Path, root: str) -> None:
    path = write(tmp_path, "other.xml", f"<{root}><testcase name='a'/></{root}>")

    assert malformed_message(path).endswith(
        f"other.xml: the root element is <{root}>, not <testsuites> or <testsuite>; is this a JUnit XML report?"
    )


def test_billion_laughs_is_refused_before_any_entity_is_expanded(tmp_path: Path) -> None:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    dtd = "\n".join(entities)
    cases = "<testcase name='&lol9;'/>" * 1000
    path = write(tmp_path, "laughs.xml", (
        f'<?xml version="1.0"?>\n<!DOCTYPE testsuite [\n{dtd}\n]>\n<testsuite name="&lol9;">{cases}</testsuite>'
    ))

    assert malformed_message(path).endswith("laughs.xml: contains a DTD or entity declaration, which is refused")


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file://{secret}">]>',
        '<!DOCTYPE testsuite [<!ENTITY % xxe SYSTEM "file://{secret}"> %xxe;]>',
        '<!DOCTYPE testsuite SYSTEM "file://{secret}">',
    ],
)
def test_external_entities_are_refused_and_the_file_they_name_is_never_read(tmp_path: Path, doctype: str) -> None:
    marker = "MARKER-7f3e1c-never-to-be-read"
    secret = write(tmp_path, "secret.txt", marker)
    path = write(tmp_path, "xxe.xml", (
        f'<?xml version="1.0"?>\n{doctype.format(secret=secret)}\n'
        '<testsuite name="&xxe;"><testcase classname="&xxe;" name="&xxe;">'
        '<failure message="&xxe;">&xxe;</failure></testcase></testsuite>'
    ))

    with pytest.raises(MalformedReport) as raised:
        parse_reports([path])
    assert str(raised.value).endswith("xxe.xml: contains a DTD or entity declaration, which is refused")
    assert marker not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__context__ is None


def test_an_unreadable_path_is_a_report_error_naming_it(tmp_path: Path) -> None:
    directory = tmp_path / "not-a-file.xml"
    directory.mkdir()

    with pytest.raises(ReportError, match=r"not-a-file\.xml: cannot be read \(Is a directory\)"):
        parse_reports([directory])


# --- finding reports -------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("a.xml", "b/c.xml", "b/d/e.XML", "b/notes.txt", "f/g.json", "results[1].xml", "empty/.keep"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("<testsuite/>")
    return tmp_path


def relative(paths: list[Path], root: Path) -> list[str]:
    return [path.relative_to(root).as_posix() for path in paths]


def test_a_file_path_is_taken_as_given_whatever_its_extension(tree: Path) -> None:
    assert relative(find_reports(["b/notes.txt"], cwd=tree), tree) == ["b/notes.txt"]
    assert find_reports([str(tree / "a.xml")], cwd=Path("/")) == [tree / "a.xml"]


def test_a_directory_stands_for_every_xml_file_under_it_at_any_depth(tree: Path) -> None:
    assert relative(find_reports(["b"], cwd=tree), tree) == ["b/c.xml", "b/d/e.XML"]


def test_globs_cross_directories_and_results_are_sorted_and_de_duplicated(tree: Path) -> None:
    found = find_reports(["b/**/*.xml", "*.xml", "./a.xml", "b/../a.xml", "b"], cwd=tree)

    assert relative(found, tree) == ["a.xml", "b/c.xml", "b/d/e.XML", "results[1].xml"]


def test_a_glob_matching_directories_takes_their_xml_files(tree: Path) -> None:
    assert relative(find_reports(["b*"], cwd=tree), tree) == ["b/c.xml", "b/d/e.XML"]


def test_a_path_with_glob_characters_that_exists_is_taken_literally(tree: Path) -> None:
    assert relative(find_reports(["results[1].xml"], cwd=tree), tree) == ["results[1].xml"]


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        (["missing.xml"], "missing.xml: no such file or directory"),
        (["a.xml", "build/**/TEST-*.xml"], "build/**/TEST-*.xml: matched no file"),
        (["empty"], "empty: directory has no .xml files"),
        (["f"], "f: directory has no .xml files"),
        (["emp*"], "emp*: matched only directories without .xml files"),
        ([], "no report path or glob given"),
    ],
)
def test_a_pattern_that_finds_no_report_is_refused_by_name(tree: Path, patterns: list[str], message: str) -> None:
    with pytest.raises(NoReportFound) as raised:
        find_reports(patterns, cwd=tree)
    assert str(raised.value) == message


def junitparser_statuses(path: Path) -> dict[str, int]:
    """What the junitparser library reads from a report: an independent count to check ours against."""
    from junitparser import Error, Failure, JUnitXml, Skipped, TestSuite

    root = JUnitXml.fromfile(str(path))
    found: Counter[str] = Counter()
    for suite in [root] if isinstance(root, TestSuite) else list(root):
        for case in suite:
            kinds = {type(result) for result in case.result}
            status = next(
                (name for kind, name in ((Error, "error"), (Failure, "failed"), (Skipped, "skipped")) if kind in kinds),
                "passed",
            )
            found[status] += 1
    return dict(found)


@pytest.mark.parametrize(
    "name",
    ["ctest/results.xml", "go/gotestsum.xml", "gradle/TEST-com.acme.orders.CartTest.xml", "jest/junit.xml"],
)
def test_status_counts_agree_with_the_junitparser_library(name: str) -> None:
    assert statuses(parse(name)) == junitparser_statuses(REPORTS / name)
