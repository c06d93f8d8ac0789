"""Charts as geometry: bars, lines and ticks the ``chart.tpl`` template draws as inline SVG.

Nothing here writes markup. Every label and tooltip is plain text that the
template escapes, so a test named ``<img src=x onerror=...>`` stays text even
inside an SVG ``<title>``. Coordinates are in the SVG's own viewBox units; CSS
scales the drawing to the page width.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..analytics import DaySummary
from ..model import HistoryEntry
from . import format as fmt

#: viewBox sizes: about the width a chart is shown at, so its 11-unit labels read as 11 px
WIDTH = 360
HEIGHT = 170
WIDE = 480
LEFT = 46  # room for the y-axis labels
RIGHT = 8
TOP = 10
BOTTOM = 22  # room for the x-axis labels


@dataclass(frozen=True, slots=True)
class Mark:
    """A rectangle: a bar, or one cell of a status strip; ``href`` makes it a link."""

    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    summary: str
    width: int = WIDTH
    height: int = HEIGHT
    marks: list[Mark] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    dots: list[Dot] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def baseline(self) -> int:
        return self.height - BOTTOM


def nice_ceiling(value: float, steps: Sequence[float] = (1, 2, 2.5, 5, 10)) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k (or other ``steps``) at least ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in steps:
        if step * power >= value * (1 - 1e-9):
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


DURATION_UNITS = (("h", 3_600_000.0), ("min", 60_000.0), ("s", 1000.0), ("ms", 1.0))


def duration_axis(longest_ms: float) -> tuple[float, float, Callable[[float], str]]:
    """The top of a duration axis (ms), round in the unit its labels use; that unit; the labeller."""
    unit, size = next(((u, s) for u, s in DURATION_UNITS if longest_ms >= 2 * s), ("ms", 1.0))
    if unit == "ms" and longest_ms >= 1000:
        unit, size = "s", 1000.0
    top = nice_ceiling(longest_ms / size) * size

    def label(ms: float) -> str:
        return f"{ms / size:g} {unit}" if ms else "0"

    return top, size, label


def _r(value: float) -> float:
    return round(value, 1)


class _Frame:
    """Maps slot indexes and values to viewBox coordinates."""

    def __init__(self, slots: int, top_value: float, *, width: int = WIDTH, height: int = HEIGHT) -> None:
        self.slots = max(1, slots)
        self.top_value = top_value
        self.width = width
        self.height = height
        self.slot_width = (width - LEFT - RIGHT) / self.slots

    def x(self, slot: int) -> float:
        return LEFT + slot * self.slot_width

    def centre(self, slot: int) -> float:
        return self.x(slot) + self.slot_width / 2

    def y(self, value: float) -> float:
        usable = self.height - TOP - BOTTOM
        return self.height - BOTTOM - usable * min(value, self.top_value) / self.top_value

    def y_ticks(self, label: Callable[[float], str], unit: float = 1.0, *, whole: bool = False) -> list[Tick]:
        """Ticks at round steps of an axis whose top (in ``unit``) is 1, 2, 2.5 or 5 × 10^k."""
        top = self.top_value / unit
        leading = round(top / 10 ** math.floor(math.log10(top)), 3)
        steps = 4 if leading == 2 else 5
        if whole and top <= 5:
            steps = max(1, round(top))
        return [
            Tick(_r(self.y(self.top_value * i / steps)), label(self.top_value * i / steps)) for i in range(steps + 1)
        ]


def _day_ticks(frame: _Frame, days: Sequence[str]) -> list[Tick]:
    """The first, middle and last day (MM-DD), centred under their slots."""
    if not days:
        return []
    wanted = sorted({0, len(days) // 2, len(days) - 1})
    return [Tick(_r(frame.centre(i)), days[i][5:]) for i in wanted]


def _whole(value: float) -> str:
    return fmt.count(int(value)) if value == int(value) else f"{value:g}"


def runs_per_day(days: Sequence[DaySummary]) -> Chart:
    """Stacked bars per day: passed runs, failed runs, and the rest (skipped, or no tests)."""
    top = nice_ceiling(max((day.runs for day in days), default=0), steps=(1, 2, 5, 10))
    frame = _Frame(len(days), top)
    bar = frame.slot_width * 0.7
    marks: list[Mark] = []
    for i, day in enumerate(days):
        other = day.runs - day.passed_runs - day.failed_runs
        title = f"{day.day}: {fmt.count(day.runs)} runs, {fmt.count(day.passed_runs)} passed"
        title += f", {fmt.count(day.failed_runs)} failed"
        if other:
            title += f", {fmt.count(other)} other"
        below = 0
        for kind, amount in (("passed", day.passed_runs), ("failed", day.failed_runs), ("other", other)):
            if amount <= 0:
                continue
            y_top, y_bottom = frame.y(below + amount), frame.y(below)
            marks.append(Mark(_r(frame.centre(i) - bar / 2), _r(y_top), _r(bar), _r(y_bottom - y_top), kind, title))
            below += amount
    total = sum(day.runs for day in days)
    return Chart(
        title="Runs per day",
        summary=f"{fmt.count(total)} runs in {len(days)} days",
        marks=marks,
        y_ticks=frame.y_ticks(_whole, whole=True),
        x_ticks=_day_ticks(frame, [day.day for day in days]),
        legend=[("passed", "passed"), ("failed", "failed"), ("other", "other")],
    )


def _line(frame: _Frame, values: Sequence[float | None], titles: Sequence[str]) -> tuple[list[str], list[Dot]]:
    """A polyline per stretch of slots that have a value (a day without runs breaks the line)."""
    lines: list[str] = []
    dots: list[Dot] = []
    stretch: list[str] = []
    for i, value in enumerate(values):
        if value is None:
            if len(stretch) > 1:
                lines.append(" ".join(stretch))
            stretch = []
            continue
        x, y = _r(frame.centre(i)), _r(frame.y(value))
        stretch.append(f"{x},{y}")
        dots.append(Dot(x, y, titles[i]))
    if len(stretch) > 1:
        lines.append(" ".join(stretch))
    return lines, dots


def pass_rate(days: Sequence[DaySummary]) -> Chart:
    """Share of each day's runs that passed; days without runs leave a gap."""
    frame = _Frame(len(days), 1.0)
    rates = [day.passed_runs / day.runs if day.runs else None for day in days]
    titles = [
        f"{day.day}: {fmt.percent(rate)} of {fmt.count(day.runs)} runs passed" if rate is not None else ""
        for day, rate in zip(days, rates)
    ]
    lines, dots = _line(frame, rates, titles)
    known = [rate for rate in rates if rate is not None]
    summary = f"between {fmt.percent(min(known))} and {fmt.percent(max(known))}" if known else "no runs"
    return Chart(
        title="Pass rate per day",
        summary=summary,
        lines=lines,
        dots=dots,
        y_ticks=frame.y_ticks(fmt.percent),
        x_ticks=_day_ticks(frame, [day.day for day in days]),
    )


def duration_trend(days: Sequence[DaySummary]) -> Chart:
    """The median run duration per day."""
    values = [day.p50_duration_ms for day in days]
    top, unit, label = duration_axis(max((v for v in values if v is not None), default=0.0))
    frame = _Frame(len(days), top)
    titles = [f"{day.day}: median run {fmt.duration(day.p50_duration_ms)}" for day in days]
    lines, dots = _line(frame, values, titles)
    known = [v for v in values if v is not None]
    summary = f"from {fmt.duration(min(known))} to {fmt.duration(max(known))}" if known else "no durations"
    return Chart(
        title="Median run duration per day",
        summary=summary,
        lines=lines,
        dots=dots,
        y_ticks=frame.y_ticks(label, unit),
        x_ticks=_day_ticks(frame, [day.day for day in days]),
    )


def _entry_title(entry: HistoryEntry) -> str:
    parts = [
        fmt.moment(entry.started_at),
        entry.status + (" (flaky)" if entry.flaky else ""),
        fmt.duration(entry.duration_ms),
    ]
    if entry.branch:
        parts.append(str(entry.branch))
    parts.append(f"run {entry.run_id}")
    return " · ".join(parts)


def status_strip(entries: Sequence[HistoryEntry], run_href: Callable[[str], str]) -> Chart:
    """One cell per result, oldest on the left, each a link to its run."""
    ordered = list(reversed(entries))
    height = 44
    frame = _Frame(len(ordered), 1.0, width=WIDE, height=height)
    gap = min(2.0, frame.slot_width * 0.2)
    marks = [
        Mark(
            _r(frame.x(i) + gap / 2),
            TOP,
            _r(frame.slot_width - gap),
            height - TOP - BOTTOM + 12,
            fmt.status_kind(entry.status, entry.flaky),
            _entry_title(entry),
            run_href(entry.run_id),
        )
        for i, entry in enumerate(ordered)
    ]
    failures = sum(1 for entry in entries if fmt.status_kind(entry.status) == "failed")
    return Chart(
        title="Results, oldest first",
        summary=f"{len(entries)} results, {failures} failed",
        width=WIDE,
        height=height,
        marks=marks,
        legend=[
            ("passed", "passed"),
            ("flaky", "passed after retry"),
            ("failed", "failed or error"),
            ("skipped", "skipped"),
        ],
    )


def duration_history(entries: Sequence[HistoryEntry], run_href: Callable[[str], str]) -> Chart:
    """The duration of each result that ran, oldest on the left, coloured by its status."""
    ordered = [entry for entry in reversed(entries) if entry.status != "skipped"]
    top, unit, label = duration_axis(max((entry.duration_ms for entry in ordered), default=0.0))
    frame = _Frame(len(ordered), top, width=WIDE)
    bar = frame.slot_width * 0.7
    marks = []
    for i, entry in enumerate(ordered):
        y = frame.y(entry.duration_ms)
        height = max(frame.y(0) - y, 1.0)
        kind = fmt.status_kind(entry.status, entry.flaky)
        marks.append(
            Mark(
                _r(frame.centre(i) - bar / 2),
                _r(frame.y(0) - height),
                _r(bar),
                _r(height),
                kind,
                _entry_title(entry),
                run_href(entry.run_id),
            )
        )
    return Chart(
        title="Duration per result, oldest first",
        summary=f"{len(ordered)} results that ran",
        width=WIDE,
        marks=marks,
        y_ticks=frame.y_ticks(label, unit),
    )
