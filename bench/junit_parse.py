"""JUnit parse: ``junit-upload --dry-run`` of a 100,000-testcase report against a bare iterparse pass.

Two generated reports: ``plain`` (one ``<testsuites>`` of pytest-like suites:
1% failures with a traceback, 2% skips, some captured output) and
``surefire`` (one Surefire ``TEST-*.xml`` with properties, reruns:
``flakyFailure``, ``rerunFailure`` with stack traces and output).

- ``dry-run``: ``junit_uploader.cli.main(["--dry-run", FILE])`` in this
  process, stdout and stderr to /dev/null: find, parse, merge, build the
  payload, encode it as JSON and write it out;
- ``iterparse``: ``xml.etree.ElementTree.iterparse`` over the same file,
  counting testcase elements and nothing else.

Time: median of the repetitions, interleaved. Peak memory: tracemalloc's
peak in a separate pass of each (tracemalloc slows Python down, so it never
runs during the timed passes). tracemalloc, not the process RSS, because it
counts only what the parse allocates: the RSS also holds the interpreter and
its imports (tens of MB, more than the file), and freed memory the allocator
keeps. Targets: dry-run <= 3x iterparse's time; peak <= 8x the file size.

    python bench/junit_parse.py [--testcases 100000] [--reps 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from benchlib import (
    Check,
    common_arguments,
    interleaved,
    median,
    print_header,
    ratio,
    table,
    verdict,
    work_dir,
)

TIME_TARGET = 3.0
MEMORY_TARGET = 8.0
SUITE_SIZE = 1000


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def write_plain(path: Path, testcases: int) -> None:
    """pytest-like: ``<testsuites>`` of suites with file and line; failures, skips and some output."""
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="pytest tests">\n')
        for start in range(0, testcases, SUITE_SIZE):
            count = min(SUITE_SIZE, testcases - start)
            module = f"tests/unit/test_module_{start // SUITE_SIZE:03d}"
            out.write(f'  <testsuite name="pytest" errors="0" failures="{count // 100}" skipped="{count // 50}" '
                      f'tests="{count}" time="{count * 0.002:.3f}" timestamp="2026-01-12T10:00:00.000000+00:00" '
                      f'hostname="ci-runner-7">\n')
            for i in range(start, start + count):
                attrs = (f'classname="{module.replace("/", ".")}" name="test_behaviour[case-{i}]" '
                         f'file="{module}.py" line="{10 + i % 400}" time="{0.0005 + (i % 97) * 0.0001:.4f}"')
                if i % 100 == 13:
                    message = f"AssertionError: assert {i} == {i + 1}"
                    out.write(f'    <testcase {attrs}>\n      <failure message="{escape(message)}">'
                              f"{escape(_traceback(module, i))}</failure>\n"
                              f"      <system-out>{escape(_output(i))}</system-out>\n    </testcase>\n")
                elif i % 50 == 7:
                    out.write(f'    <testcase {attrs}>\n      <skipped type="pytest.skip" '
                              f'message="needs the GPU runner">{module}.py:{10 + i % 400}: needs the GPU runner'
                              f"</skipped>\n    </testcase>\n")
                elif i % 20 == 3:
                    out.write(f"    <testcase {attrs}>\n      <system-out>{escape(_output(i))}</system-out>\n"
                              f"    </testcase>\n")
                else:
                    out.write(f"    <testcase {attrs}/>\n")
            out.write("  </testsuite>\n")
        out.write("</testsuites>\n")


def write_surefire(path: Path, testcases: int) -> None:
    """One Surefire TEST-*.xml: properties, then testcases with flaky and rerun failures."""
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuite xmlns:xsi="http://www.w3.org/2001/'
                  'XMLSchema-instance" version="3.0.2" name="com.acme.BigSuiteTest" '
                  f'time="{testcases * 0.003:.3f}" tests="{testcases}" errors="0" skipped="{testcases // 100}" '
                  f'failures="{testcases // 200}">\n  <properties>\n')
        for name in ("java.version", "os.name", "surefire.rerunFailingTestsCount", "user.dir", "file.encoding"):
            out.write(f'    <property name="{name}" value="value of {name}"/>\n')
        out.write("  </properties>\n")
        for i in range(testcases):
            classname = f"com.acme.module{i // 5000}.Feature{(i // 100) % 50}Test"
            attrs = f'name="handlesCase{i}" classname="{classname}" time="{0.001 + (i % 89) * 0.0002:.4f}"'
            trace = (f"java.lang.AssertionError: expected {i} but was {i + 1}\n"
                     f"\tat {classname}.handlesCase{i}({classname.rsplit('.', 1)[1]}.java:{40 + i % 300})\n"
                     "\tat java.base/java.lang.reflect.Method.invoke(Method.java:580)\n")
            if i % 200 == 11:  # failed, with two reruns that failed too
                rerun = (f'      <rerunFailure message="expected {i} but was {i + 1}" type="java.lang.AssertionError">\n'
                         f"        <stackTrace><![CDATA[{trace}]]></stackTrace>\n      </rerunFailure>\n")
                out.write(f'  <testcase {attrs}>\n    <failure message="expected {i} but was {i + 1}" '
                          f'type="java.lang.AssertionError"><![CDATA[{trace}]]></failure>\n{rerun}{rerun}'
                          "  </testcase>\n")
            elif i % 50 == 17:  # flaky: failed once, passed on the rerun
                out.write(f'  <testcase {attrs}>\n    <flakyFailure message="expected {i} but was {i + 1}" '
                          f'type="java.lang.AssertionError">\n      <stackTrace><![CDATA[{trace}]]></stackTrace>\n'
                          f"      <system-out><![CDATA[{_output(i)}]]></system-out>\n    </flakyFailure>\n"
                          "  </testcase>\n")
            elif i % 100 == 29:
                out.write(f'  <testcase {attrs}>\n    <skipped message="disabled until ACME-{i} is fixed"/>\n'
                          "  </testcase>\n")
            else:
                out.write(f"  <testcase {attrs}/>\n")
        out.write("</testsuite>\n")


def _traceback(module: str, i: int) -> str:
    return (f"def test_behaviour(case):\n>       assert compute(case) == expected(case)\n"
            f"E       AssertionError: assert {i} == {i + 1}\n\n{module}.py:{10 + i % 400}: AssertionError")


def _output(i: int) -> str:
    return f"connecting to db-{i % 7}\nrequest {i} took {i % 13} ms\n"


# --- the two passes ----------------------------------------------------------------------------------
def dry_run(path: Path) -> None:
    from junit_uploader.cli import main

    with open(os.devnull, "w") as null:
        status = main(["--dry-run", str(path)], env={}, stdout=null, stderr=null, cwd=path.parent)
    if status != 0:
        raise SystemExit(f"junit-upload --dry-run {path} exited {status}")


def bare_iterparse(path: Path) -> None:
    count = 0
    for _, element in ElementTree.iterparse(str(path)):
        if element.tag == "testcase":
            count += 1
    if count == 0:
        raise SystemExit(f"no testcase in {path}")


PASSES: dict[str, Callable[[Path], None]] = {"dry-run": dry_run, "iterparse": bare_iterparse}


def timed(run: Callable[[Path], None], path: Path) -> float:
    gc.collect()
    started = time.perf_counter()
    run(path)
    return time.perf_counter() - started


def peak_bytes(run: Callable[[Path], None], path: Path) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        run(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--testcases", type=int, help="testcases per report (default 100000; smoke 500)")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.smoke else 3)
    testcases = args.testcases or (500 if args.smoke else 100_000)

    print_header(
        f"JUnit parse: junit-upload --dry-run vs a bare ElementTree.iterparse pass, {testcases:,} testcases",
        f"""in-process; {reps} repetitions interleaved (dry-run iterparse ...), median seconds; peak memory by
        tracemalloc in a separate pass of each (not timed).""",
    )
    results: dict[str, dict[str, Any]] = {}
    with work_dir("junit-parse", keep=args.keep) as workdir:
        for shape, write in (("plain", write_plain), ("surefire", write_surefire)):
            path = workdir / ("report.xml" if shape == "plain" else "TEST-com.acme.BigSuiteTest.xml")
            write(path, testcases)
            size = path.stat().st_size
            dry_run(path)  # warm-up: imports and first-use costs stay out of the timing
            seconds: dict[str, list[float]] = {name: [] for name in PASSES}
            for _, name in interleaved(list(PASSES), reps):
                seconds[name].append(timed(PASSES[name], path))
            peaks = {name: peak_bytes(run, path) for name, run in PASSES.items()}
            results[shape] = {"bytes": size, "seconds": seconds, "peak_bytes": peaks}
            print(f"   {shape}: {size:,} bytes; dry-run {median(seconds['dry-run']):.3f} s, "
                  f"iterparse {median(seconds['iterparse']):.3f} s", flush=True)

    rows = []
    time_ratios, memory_ratios = [], []
    for shape, result in results.items():
        seconds, peaks, size = result["seconds"], result["peak_bytes"], result["bytes"]
        time_ratio = ratio(median(seconds["dry-run"]), median(seconds["iterparse"]))
        time_ratios.append(time_ratio)
        memory_ratios.append(peaks["dry-run"] / size)
        rows.append([shape, f"{size / 1e6:.1f}", f"{median(seconds['dry-run']):.3f}",
                     f"{median(seconds['iterparse']):.3f}", f"{time_ratio:.2f}",
                     f"{peaks['dry-run'] / 1e6:.1f} ({peaks['dry-run'] / size:.1f}x)",
                     f"{peaks['iterparse'] / 1e6:.1f} ({peaks['iterparse'] / size:.1f}x)"])
    print(table(["report", "MB", "dry-run s", "iterparse s", "time ratio", "dry-run peak MB", "iterparse peak MB"],
                rows))
    checks = [
        Check("dry-run/iterparse", max((r for r in time_ratios if r is not None), default=None), "<=", TIME_TARGET),
        Check("peak/file", max(memory_ratios), "<=", MEMORY_TARGET),
    ]
    return verdict("junit_parse", checks, smoke=args.smoke, results=results, json_out=args.json_out)


if __name__ == "__main__":
    sys.exit(main())
