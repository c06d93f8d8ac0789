"""One run's tests, a page at a time (Store.list_run_tests), on every backend."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from collector.errors import BadRequest, NotFound
from collector.model import Project, RunPayload, TestResult
from collector.store.base import Store

RECEIVED_AT = "2026-01-12T10:05:00.000000Z"


def walk(store: Store, project: Project, run_id: str, limit: int) -> tuple[list[TestResult], list[int]]:
    """Every page from the first, following next_cursor; the tests in order and each page's size."""
    tests: list[TestResult] = []
    sizes: list[int] = []
    cursor = None
    while True:
        page = store.list_run_tests(project, run_id, limit=limit, cursor=cursor)
        tests.extend(page.tests)
        sizes.append(len(page.tests))
        if page.next_cursor is None:
            return tests, sizes
        cursor = page.next_cursor


@pytest.fixture
def mixed(make_test: Callable[..., TestResult]) -> list[TestResult]:
    """Tests of every kind, sent in an order unlike the order they are listed in."""
    return [
        make_test(0, "passed"),
        make_test(1, "skipped"),
        make_test(2, "failed", message="AssertionError"),
        make_test(3, "passed", attempts=2, flaky=True),
        make_test(4, "xfailed"),
        make_test(5, "xpassed"),
        make_test(6, "error", message="fixture broke"),
        make_test(7, "passed"),
        make_test(8, "failed", message="boom"),
    ]


def test_a_runs_tests_are_paged_failures_first_then_flaky_then_the_rest_in_the_order_sent(
    store: Store, project: Project, make_run: Callable[..., RunPayload], mixed: list[TestResult]
) -> None:
    store.insert_run(project, make_run(tests=mixed), RECEIVED_AT)

    tests, sizes = walk(store, project, make_run().run_id, limit=2)

    assert [test.name for test in tests] == [
        "test_2", "test_6", "test_8",  # failed and error, as sent
        "test_3",  # passed on a retry
        "test_5",  # xpassed
        "test_1", "test_4",  # skipped and xfailed
        "test_0", "test_7",  # passed
    ]
    assert sizes == [2, 2, 2, 2, 1]
    assert sorted(tests, key=lambda t: t.name) == sorted(mixed, key=lambda t: t.name)  # every field read back


def test_paging_a_large_run_visits_every_test_exactly_once(
    store: Store, project: Project, make_run: Callable[..., RunPayload], make_test: Callable[..., TestResult]
) -> None:
    statuses = ("passed", "failed", "skipped", "passed", "error", "xfailed", "passed")
    sent = [make_test(i, statuses[i % len(statuses)], flaky=i % 11 == 0 and i % 7 in (0, 3, 6)) for i in range(5000)]
    store.insert_run(project, make_run(tests=sent), RECEIVED_AT)

    tests, sizes = walk(store, project, make_run().run_id, limit=333)

    assert len(tests) == len(sent) and {t.id for t in tests} == {t.id for t in sent}
    rank = {"failed": 0, "error": 0, "xpassed": 2, "skipped": 3, "xfailed": 3, "passed": 4}
    expected = sorted(sent, key=lambda t: 1 if t.flaky and t.status == "passed" else rank[t.status])
    assert [t.id for t in tests] == [t.id for t in expected]
    assert sizes == [333] * 15 + [5]


def test_a_last_page_that_is_exactly_full_has_no_next_cursor(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    store.insert_run(project, make_run(tests=6), RECEIVED_AT)

    first = store.list_run_tests(project, make_run().run_id, limit=3)
    second = store.list_run_tests(project, make_run().run_id, limit=3, cursor=first.next_cursor)

    assert [len(first.tests), len(second.tests)] == [3, 3]
    assert first.next_cursor is not None and second.next_cursor is None
    assert first.after[-1] == first.next_cursor and len(set(first.after + second.after)) == 6


def test_a_cursor_taken_from_inside_a_page_goes_on_after_that_test(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    store.insert_run(project, make_run(tests=6), RECEIVED_AT)
    whole = store.list_run_tests(project, make_run().run_id, limit=6)

    rest = store.list_run_tests(project, make_run().run_id, limit=6, cursor=whole.after[1])

    assert rest.tests == whole.tests[2:]


def test_a_run_without_tests_has_one_empty_last_page(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    store.insert_run(project, make_run(tests=0, status="passed"), RECEIVED_AT)

    page = store.list_run_tests(project, make_run().run_id, limit=10)

    assert (page.tests, page.next_cursor) == ([], None)


def test_the_tests_of_an_unknown_run_or_another_projects_run_are_not_found(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    other = store.create_project("acme", "other")
    store.insert_run(project, make_run(), RECEIVED_AT)

    with pytest.raises(NotFound, match="no-such-run"):
        store.list_run_tests(project, "no-such-run", limit=10)
    with pytest.raises(NotFound):
        store.list_run_tests(other, make_run().run_id, limit=10)


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        b64("not json"),
        b64('["t", 0]'),
        b64('["t", 0, "3"]'),
        b64('["t", true, 3]'),
        b64('["t", 0, -1]'),
        b64('["t", 0, 2147483648]'),
        b64('["2026-01-12T10:00:00.000000Z", 7]'),  # a cursor of the runs list
        b64('{"rank": 0, "seq": 3}'),
    ],
)
def test_a_tests_cursor_the_store_did_not_make_is_a_bad_request(
    store: Store, project: Project, make_run: Callable[..., RunPayload], cursor: str
) -> None:
    store.insert_run(project, make_run(), RECEIVED_AT)

    with pytest.raises(BadRequest, match="^the tests cursor is not valid: "):
        store.list_run_tests(project, make_run().run_id, limit=3, cursor=cursor)


def test_a_page_of_no_tests_is_a_bad_request(store: Store, project: Project, make_run: Any) -> None:
    with pytest.raises(BadRequest, match="at least 1 test"):
        store.list_run_tests(project, make_run().run_id, limit=0)
