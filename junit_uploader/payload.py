"""The run payload both producers send: one JSON object per CI job attempt."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .ci import CIContext, ci_metadata, vcs_metadata

#: The collector's caps on a test's texts, in characters (see its OpenAPI document).
MESSAGE_MAX = 8192
DETAILS_MAX = 65536
TEXT_MAX = 1024


def capped(text: str, limit: int, dropped: int = 0) -> str:
    """``text`` within ``limit`` characters, NULs replaced; a cut (here or earlier, ``dropped``) is marked."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if len(text) + dropped <= limit:
        return text
    total = len(text) + dropped
    marker = f"\n… [truncated {total} chars]"
    keep = limit - len(marker)
    return text[:keep] + f"\n… [truncated {total - keep} chars]"


def build_payload(
    *,
    run_id: str,
    ci: CIContext,
    label: str,
    tests: Sequence[dict[str, Any]],
    reporter: dict[str, str],
    started_at: str | None = None,
    duration_ms: float | None = None,
) -> dict[str, Any]:
    """The body of ``POST /api/v1/runs``. The collector derives the run's status from the tests."""
    payload: dict[str, Any] = {
        "run_id": run_id,
        "ci": ci_metadata(ci, label),
        "vcs": vcs_metadata(ci),
        "reporter": reporter,
        "tests": list(tests),
    }
    if started_at is not None:
        payload["started_at"] = started_at
    if duration_ms is not None:
        payload["duration_ms"] = duration_ms
    if not tests:
        payload["status"] = "skipped"
    return payload


def encode_payload(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON: computed once, so every retry sends the very same bytes."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def summarize(payload: dict[str, Any]) -> str:
    """``1,234 results (12 failed, 3 skipped)``."""
    tests = payload.get("tests", [])
    by_status: dict[str, int] = {}
    for test in tests:
        by_status[test["status"]] = by_status.get(test["status"], 0) + 1
    notable = [f"{by_status[s]:,} {s}" for s in ("failed", "error", "skipped") if by_status.get(s)]
    noun = "result" if len(tests) == 1 else "results"
    return f"{len(tests):,} {noun}" + (f" ({', '.join(notable)})" if notable else "")
