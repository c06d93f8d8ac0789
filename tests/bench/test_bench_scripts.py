"""Every benchmark still runs: each script at its smoke size, targets unchecked (no timing is asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from benchlib import RATIO_LINE

pytestmark = pytest.mark.slow


def run_bench(*args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(BENCH / args[0]), *args[1:]],
        check=False,
        capture_output=True,
        text=True,
        cwd=BENCH.parent,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout.strip().splitlines()


@pytest.mark.parametrize(
    ("script", "benchmark", "first_ratio"),
    [
        ("plugin_overhead.py", "plugin_overhead", "testrun/plain"),
        ("plugin_overhead_real.py", "plugin_overhead_real", "testrun/plain"),
        ("junit_parse.py", "junit_parse", "dry-run/iterparse"),
        ("auth.py", "auth", "later/first"),
        ("bcrypt_flood.py", "bcrypt_flood", "flood_p50_ms"),
        ("run_page_rss.py", "run_page_rss", "peak/before"),
        ("verdict_cost.py", "verdict_cost", "failures/none@feature"),
    ],
)
def test_a_benchmark_at_smoke_size_ends_with_its_ratio_line(script: str, benchmark: str, first_ratio: str) -> None:
    last = run_bench(script, "--smoke")[-1]

    match = RATIO_LINE.match(last)
    assert match, last
    assert match["benchmark"] == benchmark
    assert match["pairs"].startswith(f" {first_ratio}=")
    assert match["verdict"] == "UNCHECKED"


@pytest.mark.parametrize("generator", ["python", "auto"])
def test_small_ingest_runs_with_the_python_load_generator_and_with_wrk_when_installed(generator: str) -> None:
    lines = run_bench("small_ingest.py", "--smoke", "--load-generator", generator)

    match = RATIO_LINE.match(lines[-1])
    assert match, lines[-1]
    assert match["pairs"].startswith(" testrun/bare=")
    assert " testrun/bcrypt=" in match["pairs"]
    assert any("load: python" in line for line in lines) or generator == "auto"


def test_bulk_ingest_says_when_postgresql_is_not_available_and_carries_on() -> None:
    lines = run_bench("bulk_ingest.py", "--smoke", "--db", "postgresql://bench@127.0.0.1:1/nowhere")

    assert any("PostgreSQL is not available" in line for line in lines), lines
    match = RATIO_LINE.match(lines[-1])
    assert match, lines[-1]
    assert match["pairs"].startswith(" testrun/raw=")
    assert match["verdict"] == "UNCHECKED"


def test_run_all_runs_the_chosen_benchmarks_and_writes_the_markdown_table(tmp_path: Path) -> None:
    markdown = tmp_path / "figures.md"

    lines = run_bench("run_all.py", "--smoke", "--only", "auth", "--markdown", str(markdown))

    assert RATIO_LINE.match(lines[-2]), lines[-3:]
    assert "| auth |" in markdown.read_text()


def test_the_ingest_stage_breakdown_runs() -> None:
    lines = run_bench("ingest_stages.py", "--smoke")

    assert any(line.strip().startswith("the whole app through WSGI") for line in lines), lines


def test_the_collector_profile_runs_with_or_without_py_spy() -> None:
    lines = run_bench("profile_collector.py", "--smoke")

    assert any("requests/s" in line for line in lines), lines


def test_analytics_queries_times_the_api_at_two_scales_and_says_when_postgresql_is_not_available() -> None:
    lines = run_bench("analytics_queries.py", "--smoke", "--db", "postgresql://bench@127.0.0.1:1/nowhere")

    assert any("PostgreSQL is not available" in line for line in lines), lines
    assert any(line.strip().startswith("api history ") for line in lines), lines
    assert any(line.strip().startswith("api slowest 365d main ") for line in lines), lines
    match = RATIO_LINE.match(lines[-1])
    assert match, lines[-1]
    assert match["pairs"].startswith(" worst_ms=")
    assert " growth=" in match["pairs"]
    assert match["verdict"] == "UNCHECKED"
