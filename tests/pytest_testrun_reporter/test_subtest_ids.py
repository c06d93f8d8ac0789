"""Subtest ids through real pytest sessions: the same on every run, in every process and under xdist."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from pytest_testrun_reporter.subtest_ids import (
    _PLAIN_LITERAL,
    DESCRIPTION_MAX,
    VALUE_MAX,
    _parsed_literal,
    _stable_literal,
)

#: unittest ``subTest`` and pytest ``subtests`` with parameters whose default text holds a memory address
SUITE = '''
import unittest


class Account:
    pass


class AccountTests(unittest.TestCase):
    def test_params(self):
        for value in (iter(range(3)), Account(), lambda: 0, "a b", 7, 2.5, (1, "x"), None):
            with self.subTest(value=value):
                pass

    def test_message_object(self):
        with self.subTest(Account()):
            pass


def test_params(subtests):
    values = (iter([1]), Account(), lambda: 0, "a b", -3, 0.1, (1, ("x", None)), frozenset({"p", "q", "r"}), {"s", "t", 1})
    for value in values:
        with subtests.test(value=value):
            pass


def test_iterators(subtests):
    for it in (iter([1]), iter([2]), iter([3])):
        with subtests.test("next", it=it):
            assert next(it) != 2
'''

SUITE_IDS = {
    "test_suite.py::AccountTests::test_params",
    "test_suite.py::AccountTests::test_params (value=<range_iterator>)",
    "test_suite.py::AccountTests::test_params (value=<test_suite.Account>)",
    "test_suite.py::AccountTests::test_params (value=<function>)",
    "test_suite.py::AccountTests::test_params (value='a b')",
    "test_suite.py::AccountTests::test_params (value=7)",
    "test_suite.py::AccountTests::test_params (value=2.5)",
    "test_suite.py::AccountTests::test_params (value=(1, 'x'))",
    "test_suite.py::AccountTests::test_params (value=None)",
    "test_suite.py::AccountTests::test_message_object",
    "test_suite.py::AccountTests::test_message_object [<test_suite.Account>]",
    "test_suite.py::test_params",
    "test_suite.py::test_params (value=<list_iterator>)",
    "test_suite.py::test_params (value=<test_suite.Account>)",
    "test_suite.py::test_params (value=<function>)",
    "test_suite.py::test_params (value='a b')",
    "test_suite.py::test_params (value=-3)",
    "test_suite.py::test_params (value=0.1)",
    "test_suite.py::test_params (value=(1, ('x', None)))",
    "test_suite.py::test_params (value=frozenset({'p', 'q', 'r'}))",
    "test_suite.py::test_params (value={'s', 't', 1})",
    "test_suite.py::test_iterators",
    "test_suite.py::test_iterators [next] (it=<list_iterator>)",
    "test_suite.py::test_iterators [next] (it=<list_iterator>) #2",
    "test_suite.py::test_iterators [next] (it=<list_iterator>) #3",
}


def ids(payload: dict[str, Any]) -> set[str]:
    return {test["id"] for test in payload["tests"]}


def statuses(payload: dict[str, Any]) -> dict[str, str]:
    return {test["id"]: test["status"] for test in payload["tests"]}


def payload_in_a_process_of_its_own(pytester: pytest.Pytester, name: str, *args: str) -> dict[str, Any]:
    output = pytester.path / f"{name}.json"
    result = pytester.runpytest_subprocess("--testrun-report", f"--testrun-output={output}", "-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    return json.loads(output.read_text(encoding="utf-8"))


def test_two_runs_in_separate_processes_give_the_same_subtest_ids(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_suite=SUITE)

    # other hash seeds, as two CI jobs have: a set of strings prints in another order in each
    monkeypatch.setenv("PYTHONHASHSEED", "1")
    first = payload_in_a_process_of_its_own(pytester, "first")
    monkeypatch.setenv("PYTHONHASHSEED", "2")
    second = payload_in_a_process_of_its_own(pytester, "second")

    assert ids(first) == ids(second) == SUITE_IDS
    assert not any("0x" in test_id for test_id in ids(first))


def test_under_xdist_subtests_get_the_ids_of_a_plain_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)

    plain = payload_in_a_process_of_its_own(pytester, "plain")
    distributed = payload_in_a_process_of_its_own(pytester, "distributed", "-n", "2")

    assert statuses(distributed) == statuses(plain)
    assert ids(distributed) == SUITE_IDS


def test_subtests_with_the_same_description_are_numbered_in_the_order_they_ran(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    pytester.makepyfile(
        test_twice="""
        import unittest

        def test_iterators(subtests):
            for it in (iter([1]), iter([2]), iter([3])):
                with subtests.test(it=it):
                    assert next(it) != 2

        class Cases(unittest.TestCase):
            def test_objects(self):
                for number in (1, 2):
                    with self.subTest(item=object()):
                        self.assertEqual(number, 1)
        """
    )

    _, payload = payload_of()

    assert statuses(payload) == {
        "test_twice.py::test_iterators (it=<list_iterator>)": "passed",
        "test_twice.py::test_iterators (it=<list_iterator>) #2": "failed",
        "test_twice.py::test_iterators (it=<list_iterator>) #3": "passed",
        "test_twice.py::test_iterators": "failed",
        "test_twice.py::Cases::test_objects (item=<object>)": "passed",
        "test_twice.py::Cases::test_objects (item=<object>) #2": "failed",
        # as pytest has it: a unittest test whose subtest failed has passed itself
        "test_twice.py::Cases::test_objects": "passed",
    }


def test_parameters_show_literal_values_and_the_types_of_everything_else(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    pytester.makepyfile(
        test_values="""
        import datetime
        import enum

        class Color(enum.Enum):
            RED = 1

        class Broken:
            def __repr__(self):
                raise ValueError("no repr")

        VALUES = [
            True, b"raw", -0.5, float("inf"), 1 + 2j, [1, [2, "three"]], {"k": (1, 2)}, set(), frozenset(),
            print, Broken(), Color.RED, datetime.date(2026, 1, 12), (i for i in ()), object, list(range(10)),
        ]

        def test_values(subtests):
            for value in VALUES:
                with subtests.test(value=value):
                    pass
        """
    )

    _, payload = payload_of()

    described = [test["id"].removeprefix("test_values.py::test_values ") for test in payload["tests"]]
    assert described == [
        "test_values.py::test_values",
        "(value=True)",
        "(value=b'raw')",
        "(value=-0.5)",
        "(value=inf)",
        "(value=(1+2j))",
        "(value=[1, [2, 'three']])",
        "(value={'k': (1, 2)})",
        "(value=set())",
        "(value=frozenset())",
        "(value=<builtin_function_or_method>)",
        "(value=<Broken>)",
        "(value=<Color.RED>)",
        "(value=<datetime.date>)",
        "(value=<generator>)",
        "(value=<type>)",
        # pytest shows six items of a long list, the same six every time
        "(value=[0, 1, 2, 3, 4, 5, ...])",
    ]


def test_messages_keep_their_text_without_addresses_and_control_characters(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    pytester.makepyfile(
        test_messages="""
        import unittest

        class Cases(unittest.TestCase):
            def test_messages(self):
                with self.subTest(f"checking {object()} twice\\nthen\\tonce"):
                    pass
                with self.subTest(42):
                    pass

        def test_messages(subtests):
            # (not under xdist, which cannot send a message that is not a string to the controller)
            with subtests.test(msg=Cases()):
                pass
            with subtests.test(msg=(1, "x")):
                pass
            with subtests.test(msg=lambda: 0):
                pass
        """
    )

    _, payload = payload_of()

    assert ids(payload) == {
        "test_messages.py::Cases::test_messages [checking <object> twice\\nthen\\tonce]",
        "test_messages.py::Cases::test_messages [42]",
        "test_messages.py::Cases::test_messages",
        "test_messages.py::test_messages [<test_messages.Cases>]",
        "test_messages.py::test_messages [(1, 'x')]",
        "test_messages.py::test_messages [<function>]",
        "test_messages.py::test_messages",
    }


def test_long_values_are_cut_and_values_that_differ_past_the_cut_stay_apart(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    pytester.makepyfile(
        test_long="""
        def test_long(subtests):
            for end in ("a", "b"):
                with subtests.test(text="x" * 100 + end):
                    pass
            with subtests.test(**{f"name{i}": "y" * 200 for i in range(10)}):
                pass
        """
    )

    _, payload = payload_of()

    prefix = "test_long.py::test_long "
    first, second, many = (test["id"] for test in payload["tests"] if test["id"] != prefix.strip())
    whole = "'" + "x" * 100 + "a'"
    kept = whole[: VALUE_MAX - 9] + "…"
    assert first == f"{prefix}(text={kept}{hashlib.sha256((kept + whole[-20:]).encode()).hexdigest()[:8]})"
    assert second.startswith(f"{prefix}(text={kept}") and second != first
    assert len(many) == len(prefix) + DESCRIPTION_MAX


def test_a_subtest_without_message_or_parameters_is_named_subtest(
    pytester: pytest.Pytester, payload_of: Callable[..., Any]
) -> None:
    pytester.makepyfile(
        test_bare="""
        def test_bare(subtests):
            with subtests.test():
                pass
        """
    )

    _, payload = payload_of()

    assert ids(payload) == {"test_bare.py::test_bare (<subtest>)", "test_bare.py::test_bare"}


#: texts of parameters: plain literals the quick check takes, and near misses that only the parser can judge
LITERAL_TEXTS = [
    "0", "-7", "62081", "2.5", "-0.5", "1e-07", "1.5e+20", "True", "False", "None", "'mississippi'", '"it\'s"',
    "'é ✓'", "()", "[]", "(1,)", "(2, 4, 3, 0, 5)", "(-3, 8, -4)", "[None, 1, 2]", "['a', \"b\", 1.5, True]",
    "007", "1_000", "٣", "0x1f", "1.", ".5", "inf", "-nan", "(1+2j)", "'a\\nb'", "'a\tb'", "'a\x00b'", "'\ud800'",
    "'unclosed", "'a' 'b'", "b'raw'", "f'{x}'", "(1, 2", "[1,]", "(1 ,2)", "{1, 2}", "{'k': (1, 2)}", " 1", "",
    "(1, (2, 3))", "[[]]", "-(1)", "1 + 2", "--1", "print", "<function f at 0x7f>",
]


@pytest.mark.parametrize("text", LITERAL_TEXTS)
def test_the_quick_check_for_plain_literals_agrees_with_the_parser(text: str) -> None:
    assert _stable_literal(text) == _parsed_literal(text)


def test_the_values_of_a_real_suite_mostly_take_the_quick_check() -> None:
    # more-itertools' subtests: numbers, and tuples and lists of them
    for text in ("62081", "(2, 4, 3, 0, 5)", "(-3, 8, -4)", "[None, 1, 2]", "'mississippi'", "True", "[]"):
        assert _PLAIN_LITERAL.fullmatch(text), text
