"""Run every benchmark, one after the other, each in its own process; exit 1 when any missed its target.

    python bench/run_all.py [--smoke] [--only NAME ...] [--markdown FILE] [--db postgresql://...]

Each benchmark prints its own table and its verdict line (see
bench/benchlib.py); this prints them all again at the end, with the total
time, and can write them as the Markdown table the README shows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import BENCH_DIR, RATIO_LINE, machine

BENCHMARKS = {
    "plugin_overhead": "plain pytest vs --testrun-report vs --junitxml vs buildkite-test-collector",
    "small_ingest": "seed-size POST /api/v1/runs vs a bare Bottle JSON route vs bcrypt per request",
    "bulk_ingest": "one 50,000-test run, gzip, end to end vs raw executemany",
    "junit_parse": "junit-upload --dry-run vs bare iterparse, 100,000 testcases",
    "auth": "first request of a token (bcrypt) vs later ones",
    "analytics_queries": "analytics endpoints and pages over HTTP, 1,000,000 vs 100,000 stored results",
    "verdict_cost": "ingest of a 30,000-test run with 20 failures vs none, on 1,000,000 stored results",
}
#: the benchmarks that also measure the PostgreSQL database given with --db
WITH_DB = ("bulk_ingest", "analytics_queries")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="every benchmark at its smoke size, targets unchecked")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--markdown", type=Path, help="write the summary as a Markdown table to this file")
    parser.add_argument("--db", help=f"{' and '.join(WITH_DB)}: also measure this PostgreSQL database")
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)

    started = time.monotonic()
    lines: dict[str, str] = {}
    records: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="testrun-bench-") as results:
        for name in names:
            json_out = Path(results) / f"{name}.json"
            command = [sys.executable, str(BENCH_DIR / f"{name}.py"), "--json-out", str(json_out)]
            if args.smoke:
                command.append("--smoke")
            if name in WITH_DB and args.db:
                command += ["--db", args.db]
            print(f"\n$ {' '.join(command[1:])}", flush=True)
            process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=BENCH_DIR.parent)
            assert process.stdout is not None
            last = ""
            for line in process.stdout:
                print(line, end="", flush=True)
                if line.strip():
                    last = line.strip()
            process.wait()
            lines[name] = last if RATIO_LINE.match(last) else f"RATIO {name} failed to run (exit {process.returncode})"
            if json_out.exists():
                records[name] = json.loads(json_out.read_text())
    elapsed = time.monotonic() - started

    print(f"\n== all benchmarks, {elapsed / 60:.1f} min")
    for name in names:
        print(lines[name])
    if args.markdown:
        args.markdown.write_text(markdown(records, elapsed))
        print(f"(Markdown table written to {args.markdown})")
    failed = [name for name in names if not lines[name].endswith((" OK", " UNCHECKED"))]
    return 1 if failed else 0


def markdown(records: dict[str, dict[str, Any]], elapsed: float) -> str:
    info = machine()
    out = [
        (
            f"Measured {info['date']} on {info['cores']} cores ({info['cpu']}), Python {info['python']}, "
            f"SQLite {info['sqlite']}, {info['system']}; all benchmarks took {elapsed / 60:.1f} min."
        ),
        "",
        "| benchmark | compares | ratio | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, record in records.items():
        for check in record["checks"]:
            value = "n/a" if check["value"] is None else f"{check['value']:.4g}"
            met = "yes" if check["met"] else "**no**"
            out.append(
                f"| {name} | {BENCHMARKS[name]} | {check['name']} = {value} | {check['op']} {check['limit']:g} | {met} |"
            )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
