"""The verdict told to a CI job: terminal lines, the Markdown job summary and GitHub annotations.

The Markdown is rendered by markdown-it-py with GitHub's table and autolink
rules, and every table row of the result is checked cell by cell, so hostile
test names and messages are seen as a reader of the job summary sees them.
"""

from __future__ import annotations

from typing import Any

from markdown_tables import rendered

from junit_uploader.summary import (
    MAX_ANNOTATIONS,
    MAX_SUMMARY_BYTES,
    SUMMARY_FAILURES,
    escape_data,
    escape_property,
    github_annotations,
    markdown,
    unclassified_lines,
    verdict_lines,
)

HOSTILE = [
    "tests/test_evil.py::test_pipe[a|b]",
    "tests/test_evil.py::test_tick[`rm -rf`]",
    "tests/test_evil.py::test_xss[<script>alert(1)</script>]",
    "tests/test_evil.py::test_newline[line1\nline2]",
    "tests/test_evil.py::test_md[**bold** _it_ [link](http://evil.example) www.evil.example $x$ ~~s~~]",
]
SINCE = {"run_id": "github:acme/app:9120:1:test:pytest", "started_at": "2026-12-01T10:00:00.000000Z", "commit": "c0"}


def local(test_id: str, status: str = "failed", message: str | None = "AssertionError: 1 != 2", **extra: Any) -> dict[str, Any]:
    return {"id": test_id, "name": test_id, "status": status, "message": message, "duration_ms": 10.0, **extra}


def verdict_of(items: list[dict[str, Any]], *, failures: int | None = None, quarantined: int = 0) -> dict[str, Any]:
    classes = {"regression": 0, "new_test": 0, "failing_on_default": 0, "flaky": 0, "quarantined": 0}
    for item in items:
        classes[item["class"]] += 1
    classes["quarantined"] = max(classes["quarantined"], quarantined)
    total = failures if failures is not None else len(items)
    return {
        "failures": total,
        "blocking": total - classes["quarantined"],
        "quarantined": classes["quarantined"],
        "classes": classes,
        "tests": items,
        "truncated": len(items) < total,
        "default_branch": "main",
    }


def test_the_terminal_says_the_counts_by_class_then_each_failure_with_since() -> None:
    verdict = verdict_of([
        {"test_id": "tests/test_a.py::test_new_bug", "status": "failed", "class": "regression", "message": "boom"},
        {"test_id": "tests/test_b.py::test_old", "status": "failed", "class": "failing_on_default", "since": SINCE},
        {"test_id": "tests/test_c.py::test_wobbly", "status": "error", "class": "flaky"},
    ])

    lines = verdict_lines(verdict)

    assert lines[0] == "3 failures — 1 regression, 1 failing on main, 1 flaky"
    assert lines[1].split() == ["regression", "tests/test_a.py::test_new_bug", "—", "boom"]
    assert "since 2026-12-01 (run github:acme/app:9120:1:test:pytest)" in lines[2]
    assert lines[3].split()[:2] == ["flaky", "tests/test_c.py::test_wobbly"]


def test_the_terminal_lists_ten_failures_and_counts_the_rest() -> None:
    items = [{"test_id": f"t{i}", "status": "failed", "class": "new_test"} for i in range(14)]

    lines = verdict_lines(verdict_of(items))

    assert lines[0] == "14 failures — 14 new tests"
    assert len(lines) == 12 and lines[-1].strip() == "… and 4 more (see the run's page)"


def test_quarantined_failures_are_counted_apart_from_the_blocking_ones() -> None:
    verdict = verdict_of([
        {"test_id": "t2", "status": "failed", "class": "regression"},
        {"test_id": "t1", "status": "failed", "class": "quarantined", "reason": "tracked in #12"},
    ])

    lines = verdict_lines(verdict)

    assert lines[0] == "2 failures (1 blocking) — 1 regression, 1 quarantined"
    assert "(tracked in #12)" in lines[2]


def test_without_a_verdict_the_terminal_says_the_failures_were_not_classified() -> None:
    tests = [local("a"), local("b", "passed"), local("c", "error")]

    assert unclassified_lines(tests, "the collector could not be reached") == [
        "2 failures, not classified: the collector could not be reached"
    ]
    assert unclassified_lines([local("b", "passed")], "whatever") == []


def test_hostile_names_and_messages_render_as_text_and_keep_every_tables_columns() -> None:
    tests = [local(test_id, message=f"msg of {test_id}") for test_id in HOSTILE]
    verdict = verdict_of([
        {"test_id": test_id, "status": "failed", "class": cls, "message": f"msg of {test_id}",
         **({"since": SINCE} if cls == "failing_on_default" else {}),
         **({"reason": "<b>muted</b> | `x`"} if cls == "quarantined" else {})}
        for test_id, cls in zip(HOSTILE, ["regression", "new_test", "failing_on_default", "flaky", "quarantined"])
    ])

    text = markdown(tests, verdict, run_id="github:acme/app:1:1:test:pytest", run_page="http://c.example/ui/runs/x")
    html = rendered(text)

    assert "script" not in html.tags and "b" not in html.tags and "em" not in html.tags and "strong" not in html.tags
    assert html.links == ["http://c.example/ui/runs/x"]  # no link made from a test name or message
    failures, muted, slowest = html.tables
    assert all(len(row) == 4 for row in failures) and len(failures) == 1 + 4
    assert all(len(row) == 3 for row in muted) and len(muted) == 1 + 1
    assert all(len(row) == 2 for row in slowest)
    shown = [row[0] for row in failures[1:]] + [muted[1][0]]
    assert shown == [" ".join(test_id.split()) for test_id in HOSTILE]
    assert muted[1][1] == "<b>muted</b> | `x`"
    assert failures[1][3] == "msg of " + HOSTILE[0]


def test_the_summary_links_the_run_counts_the_tests_and_lists_the_slowest() -> None:
    tests = [local("fast", "passed", None, duration_ms=1.0), local("slow", "passed", None, duration_ms=2500.0),
             local("skipped", "skipped", "no db", duration_ms=0.0)]

    text = markdown(tests, verdict_of([]), run_id="r1", run_page="https://collector.example/ui/runs/r1")
    html = rendered(text)

    assert text.startswith("## testrun: no failures\n")
    assert "3 tests: 2 passed, 1 skipped." in text
    assert html.links == ["https://collector.example/ui/runs/r1"]
    assert html.tables == [[["Test", "Duration"], ["slow", "2.50 s"], ["fast", "0.00 s"]]]


def test_more_than_50_failures_show_50_rows_then_and_n_more_within_64_kib() -> None:
    long = "x" * 5000
    items = [{"test_id": f"tests/t.py::test_{i}[{long}]", "status": "failed", "class": "regression",
              "message": long} for i in range(1000)]
    tests = [local(item["test_id"], message=long) for item in items]

    text = markdown(tests, verdict_of(items, failures=1500), run_id="r", run_page=None)

    assert len(text.encode()) <= MAX_SUMMARY_BYTES
    failures = rendered(text).tables[0]
    assert len(failures) == 1 + SUMMARY_FAILURES
    assert "_and 1,450 more_" in text


def test_when_the_collector_was_not_reached_the_summary_comes_from_the_local_results() -> None:
    tests = [local("tests/a.py::test_x"), local("tests/a.py::test_y", "passed", None)]

    text = markdown(tests, None, run_id="r", run_page=None, unavailable="the collector could not be reached")

    assert text.startswith("## testrun: 1 failure, not classified\n")
    assert "Classification unavailable: the collector could not be reached." in text
    assert rendered(text).tables[0] == [["Test", "Status", "Message"], ["tests/a.py::test_x", "failed", "AssertionError: 1 != 2"]]


def test_annotations_mark_only_the_authors_failures_at_their_file_and_line() -> None:
    tests = [local("tests/test_a.py::test_x", file="tests/test_a.py", line=12, message="assert 1 == 2\nmore"),
             local("tests/test_b.py::test_y", file="tests/test_b.py", line=3),
             local("tests/test_c.py::test_z", file="tests/test_c.py", line=7)]
    verdict = verdict_of([
        {"test_id": "tests/test_a.py::test_x", "status": "failed", "class": "regression"},
        {"test_id": "tests/test_b.py::test_y", "status": "failed", "class": "flaky"},
        {"test_id": "tests/test_c.py::test_z", "status": "failed", "class": "failing_on_default", "since": SINCE},
    ])

    assert github_annotations(tests, verdict) == [
        "::error file=tests/test_a.py,line=12,title=regression%3A tests/test_a.py%3A%3Atest_x::assert 1 == 2%0Amore"
    ]


def test_annotations_escape_workflow_commands_and_stop_at_ten() -> None:
    test_id = "tests/t.py::test_[a,b:100%]"
    tests = [local(f"{test_id}{i}", file="tests/t,1.py", line=1, message="50% done\r\nnext") for i in range(15)]
    verdict = verdict_of([{"test_id": f"{test_id}{i}", "status": "failed", "class": "new_test"} for i in range(15)])

    commands = github_annotations(tests, verdict)

    assert len(commands) == MAX_ANNOTATIONS
    assert commands[0] == (
        "::error file=tests/t%2C1.py,line=1,title=new test%3A tests/t.py%3A%3Atest_[a%2Cb%3A100%25]0::50%25 done%0D%0Anext"
    )
    assert escape_data("a%b\r\n") == "a%25b%0D%0A" and escape_property("a:b,c") == "a%3Ab%2Cc"
