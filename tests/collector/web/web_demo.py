"""Realistic run payloads for the web pages: two weeks of CI on a small shop's test suite.

Used by the web tests and by ``docs/screenshots.py``. Deterministic for a
given ``now`` and seed: a few tests are flaky (pass on retry, or pass and fail
on one commit), a few are slow, one has been failing for the last days, one
fails only on a feature branch.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from collector_harness import ProjectAccess

#: a test name and a run id written to break pages that do not escape what CI sends
HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_RUN_ID = "github:evil/<script>alert('run')</script>:1:test"

FLAKY_RETRY = "tests/integration/test_payments.py::test_refund_webhook_is_delivered"
FLAKY_MIXED = "tests/ui/test_checkout.py::test_coupon_applied[chrome]"
SLOWEST = "tests/integration/test_search.py::test_reindex_full_catalog"
FAILING = "tests/api/test_inventory.py::test_reserve_stock_concurrently"
BRANCH_FAILURE = "tests/unit/test_tax.py::test_vat_rounding[de]"
FEATURE_BRANCH = "feature/vat-rounding"

#: (test id, typical duration in ms)
SUITE: list[tuple[str, float]] = [
    ("tests/unit/test_money.py::test_add_same_currency", 0.8),
    ("tests/unit/test_money.py::test_add_other_currency_raises", 0.6),
    ("tests/unit/test_money.py::test_format[en_US]", 1.1),
    ("tests/unit/test_money.py::test_format[de_DE]", 1.2),
    ("tests/unit/test_tax.py::test_vat_rounding[fr]", 2.0),
    (BRANCH_FAILURE, 2.1),
    ("tests/unit/test_tax.py::test_reverse_charge", 1.7),
    ("tests/unit/test_cart.py::test_empty_cart_total_is_zero", 0.9),
    ("tests/unit/test_cart.py::test_quantity_limits", 1.4),
    ("tests/unit/test_cart.py::test_merge_guest_cart", 3.2),
    ("tests/api/test_orders.py::test_create_order", 85.0),
    ("tests/api/test_orders.py::test_cancel_order_refunds", 120.0),
    ("tests/api/test_orders.py::test_list_orders_paginates", 64.0),
    (FAILING, 240.0),
    ("tests/api/test_inventory.py::test_restock_notifies_waitlist", 150.0),
    ("tests/api/test_auth.py::test_login_rate_limited", 410.0),
    ("tests/api/test_auth.py::test_password_reset_token_expires", 95.0),
    (FLAKY_RETRY, 1300.0),
    ("tests/integration/test_payments.py::test_charge_card", 900.0),
    ("tests/integration/test_payments.py::test_3ds_challenge", 1600.0),
    (SLOWEST, 9500.0),
    ("tests/integration/test_search.py::test_typo_tolerance", 2100.0),
    ("tests/integration/test_export.py::test_export_orders_csv_large", 4300.0),
    (FLAKY_MIXED, 3800.0),
    ("tests/ui/test_checkout.py::test_coupon_applied[firefox]", 4100.0),
    ("tests/ui/test_checkout.py::test_guest_checkout", 5200.0),
    ("tests/ui/test_account.py::test_change_address", 2900.0),
    ("tests/unit/test_paths.py::test_windows_paths", 0.0),
]


@dataclass(frozen=True)
class DemoRun:
    payload: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.payload["run_id"])


@dataclass
class Seeded:
    """A project on a running collector and the runs it was sent."""

    project: ProjectAccess
    runs: list[DemoRun]
    hostile_run: dict[str, Any]


def send(project: ProjectAccess, payloads: list[dict[str, Any]]) -> None:
    for payload in payloads:
        response = project.post_run(payload)
        assert response.status_code == 201, response.text


def results_of(runs: list[DemoRun], test_id: str) -> list[dict[str, Any]]:
    """One test's results in these runs, oldest first."""
    return [test for run in runs for test in run.payload["tests"] if test["id"] == test_id]


def failures_of(runs: list[DemoRun], test_id: str) -> int:
    return sum(1 for test in results_of(runs, test_id) if test["status"] in ("failed", "error"))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _commit(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def _test(test_id: str, status: str, duration_ms: float, **extra: Any) -> dict[str, Any]:
    suite, _, name = test_id.partition("::")
    return {
        "id": test_id,
        "name": name,
        "suite": suite,
        "file": suite,
        "status": status,
        "duration_ms": duration_ms,
        **extra,
    }


def demo_runs(now: datetime | None = None, *, days: int = 14, runs_per_day: int = 3, seed: int = 7) -> list[DemoRun]:
    """Runs over the last ``days`` days, oldest first, every one started before ``now``."""
    now = now or datetime.now(timezone.utc)
    rng = random.Random(seed)
    runs: list[DemoRun] = []
    pipeline = 4100
    for back in range(days - 1, -1, -1):
        day_start = (now - timedelta(days=back)).replace(hour=0, minute=0, second=0, microsecond=0)
        slots = sorted(rng.uniform(0.0, 1.0) for _ in range(runs_per_day))
        for index, slot in enumerate(slots):
            latest = min(now - timedelta(minutes=5), day_start + timedelta(hours=23))
            started = day_start + (latest - day_start) * slot if latest > day_start else day_start
            pipeline += 1
            branch = FEATURE_BRANCH if index == runs_per_day - 1 and back % 3 == 0 else "main"
            commit = _commit(branch, back, index // 2)  # two runs in a row share a commit
            runs.append(DemoRun(_run(rng, pipeline, started, branch, commit, days_ago=back)))
    return runs


def _run(
    rng: random.Random, pipeline: int, started: datetime, branch: str, commit: str, *, days_ago: int
) -> dict[str, Any]:
    tests = []
    for test_id, typical in SUITE:
        duration = round(typical * rng.uniform(0.8, 1.35), 3)
        status, extra = "passed", dict[str, Any]()
        if test_id.endswith("test_windows_paths"):
            status, extra = "skipped", {"message": "needs windows"}
        elif test_id == FLAKY_RETRY and rng.random() < 0.3:
            extra = {"attempts": 2, "flaky": True}
            duration *= 2
        elif test_id == FLAKY_MIXED and rng.random() < 0.12:
            status = "failed"
            extra = {
                "message": "TimeoutError: coupon banner did not appear within 3 s",
                "details": "tests/ui/test_checkout.py:88: in test_coupon_applied\n"
                "    page.wait_for(banner, timeout=3)\n"
                "E   TimeoutError: coupon banner did not appear within 3 s",
            }
        elif test_id == FAILING and days_ago <= 2:
            status = "failed"
            extra = {
                "message": "AssertionError: reserved 11 units, stock was 10",
                "details": "tests/api/test_inventory.py:141: in test_reserve_stock_concurrently\n"
                "    assert reserved <= stock\n"
                "E   AssertionError: reserved 11 units, stock was 10",
            }
        elif test_id == BRANCH_FAILURE and branch == FEATURE_BRANCH:
            status = "failed"
            extra = {"message": "AssertionError: 19.99 != 20.00", "details": "E   AssertionError: 19.99 != 20.00"}
        elif test_id == SLOWEST and days_ago <= 5:
            duration *= 1.6  # the reindex got slower this week
        tests.append(_test(test_id, status, round(duration, 3), **extra))
    label = "pytest-py3.12-linux"
    return {
        "run_id": f"github:acme/shop:{pipeline}:1:test:{label}",
        "started_at": _stamp(started),
        "duration_ms": round(sum(t["duration_ms"] for t in tests) + rng.uniform(20_000, 45_000)),
        "ci": {
            "provider": "github",
            "pipeline_id": str(pipeline),
            "job": "test",
            "attempt": 1,
            "url": f"https://github.com/acme/shop/actions/runs/{pipeline}",
        },
        "vcs": {"repository": "acme/shop", "commit": commit, "branch": branch},
        "reporter": {"name": "pytest-testrun-reporter", "version": "0.1.0"},
        "tests": tests,
    }


def hostile_run(now: datetime | None = None) -> dict[str, Any]:
    """A run whose ids, names, messages and metadata are all markup that must show as text."""
    now = now or datetime.now(timezone.utc)
    return {
        "run_id": HOSTILE_RUN_ID,
        "started_at": _stamp(now - timedelta(minutes=1)),
        "duration_ms": 1200,
        "ci": {"provider": "github", "job": HOSTILE, "url": "javascript:alert(1)"},
        "vcs": {"commit": "<b>deadbeef</b>", "branch": HOSTILE},
        "reporter": {"name": "pytest-testrun-reporter", "version": "0.1.0"},
        "tests": [
            {
                "id": f"tests/test_evil.py::{HOSTILE}",
                "name": HOSTILE,
                "suite": "<script>alert(2)</script>",
                "status": "failed",
                "duration_ms": 12.5,
                "message": HOSTILE,
                "details": "</pre><script>alert(3)</script>",
            },
            {"id": "tests/test_evil.py::test_fine", "name": "test_fine", "status": "passed", "duration_ms": 1.0},
        ],
    }
