"""The verdict of a run: which of its failures are the author's to fix.

Each failed or errored test of a run gets exactly one class, the first that
holds (DESIGN.md, "The verdict of a run"):

1. ``quarantined``: on the project's quarantine list when the run arrived;
2. ``flaky``: flaky, as the analytics define it, on at least one commit in
   the last 14 days (UTC days, today included), on any branch. This run's own
   results count: a failure on a commit where the same test passed in
   another run, attempt or producer makes that commit flaky;
3. ``failing_on_default``: its latest result on the project's default branch
   before this run was a failure; ``since`` is the first run of that failing
   streak;
4. ``regression``: its latest result on the default branch before this run
   was a pass (or a skip);
5. ``new_test``: it has no result on the default branch before this run.

"Latest" on the default branch is by arrival: the store keeps, per test, the
failing streak the default branch's runs left, updated as each arrives (a
pass older than the streak's last failure does not end it).

The verdict is worked out once, at ingest, in the run's own transaction, from
what the store keeps for exactly that (its reads are per failure, never per
test), and stored with the run: a duplicate's answer and ``GET
/api/v1/runs/{run_id}`` return the stored verdict byte for byte, whatever
came after. ``tests`` lists at most ``MAX_LISTED`` failures, and stops early
once the list passes ``MAX_LISTED_BYTES`` of JSON; the counts are always exact
and ``truncated`` says when the list was cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .model import TestResult

#: the classes, in the order the rules try them
CLASSES = ("quarantined", "flaky", "failing_on_default", "regression", "new_test")
#: the order failures are listed in: the author's own first
LISTED_ORDER = ("regression", "new_test", "failing_on_default", "flaky", "quarantined")
FAILURE_STATUSES = frozenset({"failed", "error"})
#: the flaky rule's window, in UTC days (today included), as the analytics count days
FLAKY_DAYS = 14
MAX_LISTED = 1000
#: the listed failures' JSON stops growing past this (the clients read at most 1 MiB of an answer)
MAX_LISTED_BYTES = 512 * 1024
#: characters of a failure's first message line kept in the verdict
MESSAGE_CHARS = 300


@dataclass(frozen=True, slots=True)
class Since:
    """The first run of a failing streak on the default branch."""

    run_id: str
    started_at: str
    commit: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "started_at": self.started_at, "commit": self.commit}


@dataclass(frozen=True, slots=True)
class Facts:
    """What the store knew of one failing test when the run arrived."""

    quarantine_reason: str | None = None
    flaky: bool = False
    failing_since: Since | None = None
    seen_on_default: bool = False


def is_failure(status: str) -> bool:
    return status in FAILURE_STATUSES


def failures_of(tests: Iterable[TestResult]) -> list[TestResult]:
    """The run's failed and errored tests, in the order they were sent."""
    return [test for test in tests if test.status in FAILURE_STATUSES]


def classify(facts: Facts) -> str:
    """The first class whose rule holds."""
    if facts.quarantine_reason is not None:
        return "quarantined"
    if facts.flaky:
        return "flaky"
    if facts.failing_since is not None:
        return "failing_on_default"
    if facts.seen_on_default:
        return "regression"
    return "new_test"


def first_line(message: str | None) -> str | None:
    if not message:
        return None
    line = message.strip().split("\n", 1)[0].rstrip("\r")
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"


def _listed(test: TestResult, klass: str, facts: Facts) -> dict[str, Any]:
    item: dict[str, Any] = {"test_id": test.id, "status": test.status, "class": klass}
    if klass == "failing_on_default" and facts.failing_since is not None:
        item["since"] = facts.failing_since.as_dict()
    if klass == "quarantined":
        item["reason"] = facts.quarantine_reason
    item["message"] = first_line(test.message or test.details)
    return item


def _within_bounds(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first items, up to MAX_LISTED of them and about MAX_LISTED_BYTES of JSON (at least one)."""
    listed: list[dict[str, Any]] = []
    size = 0
    for item in items:
        size += len(json.dumps(item, ensure_ascii=False, separators=(",", ":")))
        if len(listed) >= MAX_LISTED or (listed and size > MAX_LISTED_BYTES):
            break
        listed.append(item)
    return listed


def judge(failures: list[TestResult], facts: Mapping[str, Facts], *, default_branch: str) -> dict[str, Any]:
    """The verdict of a run whose failed and errored tests are ``failures`` (in the order sent)."""
    classes = {klass: 0 for klass in CLASSES}
    by_class: dict[str, list[dict[str, Any]]] = {klass: [] for klass in CLASSES}
    for test in failures:
        known = facts.get(test.id, Facts())
        klass = classify(known)
        classes[klass] += 1
        if len(by_class[klass]) < MAX_LISTED:
            by_class[klass].append(_listed(test, klass, known))
    listed = _within_bounds(item for klass in LISTED_ORDER for item in by_class[klass])
    return {
        "failures": len(failures),
        "blocking": len(failures) - classes["quarantined"],
        "quarantined": classes["quarantined"],
        "classes": {klass: classes[klass] for klass in LISTED_ORDER},
        "tests": listed,
        "truncated": len(listed) < len(failures),
        "default_branch": default_branch,
    }


def encode(verdict: Mapping[str, Any]) -> str:
    """The verdict as the store keeps it, and as every answer carries it."""
    return json.dumps(verdict, ensure_ascii=False, separators=(",", ":"))
