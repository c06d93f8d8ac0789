"""The analytics' windows and their parameters."""

from __future__ import annotations

from datetime import date

import pytest

from collector.analytics import parse_days, parse_limit
from collector.errors import BadRequest
from collector.model import Window


def test_a_window_is_the_last_days_up_to_today_included() -> None:
    window = Window(days=3, branch=None, today=date(2026, 3, 1))

    assert window.day_list() == ["2026-02-27", "2026-02-28", "2026-03-01"]
    assert window.since == "2026-02-27T00:00:00.000000Z"
    assert window.as_dict() == {"days": 3, "branch": None, "from": "2026-02-27", "to": "2026-03-01"}


def test_days_and_limit_default_and_stay_in_range() -> None:
    assert (parse_days(None), parse_days(""), parse_days("90")) == (14, 14, 90)
    assert (parse_limit(None), parse_limit("500")) == (50, 500)
    with pytest.raises(BadRequest, match="days must be between 1 and 3660, not 0"):
        parse_days("0")
    with pytest.raises(BadRequest, match=r"limit='ten' is not a whole number"):
        parse_limit("ten")
