"""Plugin overhead on real suites: ``pytest --testrun-report`` against plain pytest, on what users run.

Two projects' own test suites, from their sdists on PyPI:

- packaging 25.0: 26,948 tests, most of them parametrized and fast (its tests
  need ``pretend``, installed beside it);
- more-itertools 11.2.1: 765 tests that run 21,194 unittest subtests, each a
  result of its own in the run.

Each runs, interleaved, as:

- ``plain``: ``pytest``;
- ``testrun``: ``pytest --testrun-report`` uploading the run to a live local
  collector (SQLite, a fresh run id per repetition, waiting for the 201);
- ``junitxml``: ``pytest --junitxml=FILE``, for reference (the first
  repetitions only: a run of each suite takes about half a minute).

The order of plain and testrun alternates from one repetition to the next, so
the drift of a shared machine does not always favour the same one. Every run
is ``python -m pytest -q -p no:cacheprovider`` in a fresh environment without
CI variables and with plugin autoloading off; the suite's own directory comes
first on ``PYTHONPATH`` (packaging is tested as itself, not as the copy pytest
depends on). The ratio of each repetition (testrun / plain of the same
repetition), then their median and spread (the lowest and highest
repetition), of wall time and of the pytest process's own CPU time (user +
system: what the plugin adds itself, less disturbed by a busy machine); the
collector's own time per upload comes from its request log: the part of the
overhead that waits for it. One more testrun run per suite, not among the
measured ones, loads bench/plugin_timing.py, which clocks the plugin's own
steps inside the session (importing the HTTP client, the per-report hook,
building, encoding, gzip, the HTTP round trip): figures a busy machine blurs
far less than whole runs. Target: testrun <= 1.03x plain in wall time on
every suite.

The sdists are downloaded once, with ``pip download --no-binary :all:``, into
bench/.work/suites (git-ignored) and kept. ``--smoke`` needs no network: it
runs a small generated suite (tests, a failure, skips, subtests) instead.

    python bench/plugin_overhead_real.py [--reps 3] [--junitxml-reps 1] [--suite packaging --suite more_itertools]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import (
    BENCH_DIR,
    WORK_ROOT,
    Check,
    Collector,
    address_of,
    child_env,
    common_arguments,
    median,
    post,
    print_header,
    run_measured,
    seed_run,
    table,
    verdict,
    work_dir,
)

TARGET = 1.03
SUITES_DIR = WORK_ROOT / "suites"
PYTEST = ["-m", "pytest", "-q", "-p", "no:cacheprovider"]
VARIANTS = ("plain", "testrun", "junitxml")
#: pytest's last line, less its time: "26948 passed, 6 warnings", "765 passed, 21194 subtests passed"
OUTCOME = re.compile(r"^=*\s*(\d+ [a-z]+.*?) in [0-9.]+s", re.MULTILINE)
#: so that pytest stops at the suite and never takes up the configuration of the checkout it sits in
PYTEST_INI = "[pytest]\n"


@dataclass(frozen=True)
class Suite:
    name: str
    #: what ``pip download`` fetches; empty for the generated smoke suite
    requirement: str = ""
    #: its directory under SUITES_DIR once unpacked
    unpacked: str = ""
    tests: str = "tests"
    #: put first on PYTHONPATH, relative to the unpacked directory
    paths: tuple[str, ...] = (".",)
    #: what its tests import besides itself and pytest, installed into SUITES_DIR/deps
    needs: tuple[str, ...] = ()


REAL_SUITES = {
    "packaging": Suite("packaging", "packaging==25.0", "packaging-25.0", paths=("src",), needs=("pretend==1.0.9",)),
    "more_itertools": Suite("more_itertools", "more-itertools==11.2.1", "more_itertools-11.2.1"),
}
GENERATED = Suite("generated")

GENERATED_TESTS = '''\
import unittest

import pytest


@pytest.mark.parametrize("case", range({count}))
def test_parametrized(case):
    if case % 50 == 7:
        pytest.skip("needs the GPU runner")
    assert case != 13, "generated failure"


class TestWithSubtests(unittest.TestCase):
    def test_each_value(self):
        for value in range({count}):
            with self.subTest(value=value, text=str(value)):
                self.assertGreaterEqual(value, 0)
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--suite", action="append", choices=sorted(REAL_SUITES),
                        help="a real suite to run (repeatable; default: all of them)")
    parser.add_argument("--junitxml-reps", type=int,
                        help="repetitions that also run --junitxml (default 1: it is only a reference)")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.smoke else 3)
    junitxml_reps = min(reps, args.junitxml_reps if args.junitxml_reps is not None else 1)
    suites = [GENERATED] if args.smoke else [REAL_SUITES[name] for name in args.suite or REAL_SUITES]

    print_header(
        "plugin overhead on real suites: " + ", ".join(suite.requirement or "a small generated suite" for suite in suites),
        f"""variants: {' '.join(VARIANTS)}; {reps} repetitions interleaved (junitxml: the first {junitxml_reps}), plain
        and testrun in alternating order; wall time, CPU time and peak RSS of each pytest process; per suite the
        ratio of each repetition, then their median and spread. testrun uploads to a live collector on this
        machine and waits for its answer; the collector's time per upload from its request log. Plugin
        autoloading off.""",
    )
    with work_dir("plugin-overhead-real", keep=args.keep) as workdir:
        roots = {suite.name: generate_suite(workdir / "generated") if suite is GENERATED else fetch_suite(suite)
                 for suite in suites}
        with Collector(workdir).start() as collector:
            envs = {suite.name: environments(suite, roots[suite.name], workdir, collector) for suite in suites}
            warm_collector(collector)
            for suite in suites:
                warm_up(suite, roots[suite.name], workdir, envs[suite.name])
            runs = measure(suites, roots, workdir, envs, reps, junitxml_reps)
            inside = {suite.name: time_inside(suite, roots[suite.name], workdir, envs[suite.name]) for suite in suites}
        handled = collector_seconds(workdir / "collector.log")

    figures: dict[str, Any] = {}
    checks = []
    for suite in suites:
        figures[suite.name] = report_suite(suite, runs[suite.name], handled.get(suite.name, []), inside[suite.name])
        checks.append(Check(f"{suite.name}/plain", figures[suite.name]["ratio_median"], "<=", TARGET))
    worst = max((check.value for check in checks if check.value is not None), default=None)
    junitxml = [figures[suite.name]["testrun_vs_junitxml"] for suite in suites]
    checks = [
        Check("testrun/plain", worst, "<=", TARGET),
        *checks,
        Check("testrun/junitxml", max(junitxml) if junitxml else None, "<", 1.0),
    ]
    return verdict("plugin_overhead_real", checks, smoke=args.smoke, results=figures, json_out=args.json_out)


# --- the suites ------------------------------------------------------------------------------------
def generate_suite(root: Path, count: int = 100) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text(PYTEST_INI)
    (root / "tests" / "test_generated.py").write_text(GENERATED_TESTS.format(count=count))
    return root


def fetch_suite(suite: Suite) -> Path:
    """The suite's unpacked sdist (downloaded on first use) with what its tests need installed beside it."""
    root = SUITES_DIR / suite.unpacked
    if not (root / suite.tests).is_dir():
        sdists = SUITES_DIR / "sdists"
        print(f"   (downloading the sdist of {suite.requirement} into {sdists})", flush=True)
        pip("download", "--no-binary", ":all:", "--no-deps", "--dest", str(sdists), suite.requirement)
        archive = sdists / f"{suite.unpacked}.tar.gz"
        with tarfile.open(archive) as sdist:
            sdist.extractall(SUITES_DIR, filter="data")
    deps = SUITES_DIR / "deps"
    missing = [need for need in suite.needs if not (deps / f"{need.replace('==', '-')}.dist-info").is_dir()]
    if missing:
        print(f"   (installing {' '.join(missing)} into {deps})", flush=True)
        pip("install", "--quiet", "--no-deps", "--target", str(deps), *missing)
    (root / "pytest.ini").write_text(PYTEST_INI)
    return root


def pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args], check=False, capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"pip {' '.join(args)} failed (network? PyPI?):\n{result.stderr.strip()[-2000:]}")


def environments(suite: Suite, root: Path, workdir: Path, collector: Collector) -> dict[str, dict[str, str]]:
    paths = [str(root / path) for path in suite.paths] + ([str(SUITES_DIR / "deps")] if suite.needs else [])
    base = child_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONPATH=os.pathsep.join(paths))
    return {
        "plain": base,
        "junitxml": base,
        "testrun": {**base, "TESTRUN_URL": collector.url, "TESTRUN_TOKEN": collector.token,
                    "TESTRUN_SPOOL_DIR": str(workdir / "spool")},
    }


def command(suite: Suite, variant: str, workdir: Path, rep: int) -> list[str]:
    args = [sys.executable, *PYTEST]
    if variant == "testrun":
        args += ["-p", "pytest_testrun_reporter.plugin", "--testrun-report"]
    elif variant == "junitxml":
        args += [f"--junitxml={workdir / f'{suite.name}-junit-{rep}.xml'}"]
    return [*args, suite.tests]


def warm_up(suite: Suite, root: Path, workdir: Path, envs: dict[str, dict[str, str]]) -> None:
    """Bytecode for the suite (assertion rewriting) and for the plugin's modules, written before timing."""
    subprocess.run([sys.executable, "-c", "import pytest_testrun_reporter.reporter, junit_uploader.delivery"],
                   env=envs["testrun"], check=True)
    output = workdir / f"{suite.name}-warm-up.txt"
    result = run_measured([sys.executable, *PYTEST, "--collect-only", suite.tests], env=envs["plain"], cwd=root,
                          output=output)
    if result.returncode != 0:
        raise SystemExit(f"collecting {suite.name} failed:\n{output.read_text(errors='replace')[-2000:]}")


def warm_collector(collector: Collector) -> None:
    """One small run first, so that no measured upload pays the token's first bcrypt check (a live collector has it cached)."""
    body = json.dumps(seed_run("warm-up")).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {collector.token}"}
    status, answer, _ = post(address_of(collector.url), "/api/v1/runs", body, headers)
    if status != 201:
        raise SystemExit(f"the collector refused the warm-up run (HTTP {status}): {answer[:500]!r}")


# --- measuring -------------------------------------------------------------------------------------
def schedule(suites: list[Suite], reps: int, junitxml_reps: int) -> list[tuple[int, Suite, str]]:
    """Repetition by repetition, suite by suite; plain and testrun swap places every other repetition."""
    order = []
    for rep in range(reps):
        pair = ["plain", "testrun"] if rep % 2 == 0 else ["testrun", "plain"]
        variants = pair + (["junitxml"] if rep < junitxml_reps else [])
        order += [(rep, suite, variant) for suite in suites for variant in variants]
    return order


def measure(suites: list[Suite], roots: dict[str, Path], workdir: Path, envs: dict[str, dict[str, dict[str, str]]],
            reps: int, junitxml_reps: int) -> dict[str, dict[str, list[dict[str, Any]]]]:
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {suite.name: {v: [] for v in VARIANTS} for suite in suites}
    outcomes: dict[str, tuple[int, str]] = {}
    for rep, suite, variant in schedule(suites, reps, junitxml_reps):
        env = dict(envs[suite.name][variant])
        if variant == "testrun":
            env["TESTRUN_RUN_ID"] = f"bench-{suite.name}-{rep}-{uuid.uuid4().hex[:8]}"
        output = workdir / f"{suite.name}-{variant}-{rep}.txt"
        result = run_measured(command(suite, variant, workdir, rep), env=env, cwd=roots[suite.name], output=output)
        text = output.read_text(errors="replace")
        found = OUTCOME.findall(text)
        outcome = (result.returncode, found[-1] if found else "")
        expected = outcomes.setdefault(suite.name, outcome)
        if not found or result.returncode not in (0, 1) or outcome != expected:
            raise SystemExit(f"{suite.name} {variant}: unexpected pytest outcome (exit {result.returncode}, "
                             f"expected {expected}):\n{text[-2000:]}")
        if variant == "testrun" and "(201 created)" not in text:
            raise SystemExit(f"{suite.name} testrun: the run was not uploaded:\n{text[-2000:]}")
        runs[suite.name][variant].append({"rep": rep, "seconds": result.seconds, "cpu_seconds": result.cpu_seconds,
                                          "max_rss_kb": result.max_rss_kb})
        print(f"   rep {rep + 1} {suite.name:15} {variant:9} {result.seconds:7.2f} s  {result.cpu_seconds:7.2f} s CPU  "
              f"{result.max_rss_kb / 1024:6.0f} MB  {outcome[1]}", flush=True)
    return runs


def time_inside(suite: Suite, root: Path, workdir: Path, envs: dict[str, dict[str, str]]) -> dict[str, float]:
    """One more testrun run, not among the measured ones, with bench/plugin_timing.py clocking the plugin inside."""
    timings = workdir / f"{suite.name}-inside.jsonl"
    env = {**envs["testrun"], "PYTHONPATH": os.pathsep.join([envs["testrun"]["PYTHONPATH"], str(BENCH_DIR)]),
           "BENCH_TIMING_OUT": str(timings), "TESTRUN_RUN_ID": f"bench-{suite.name}-inside-{uuid.uuid4().hex[:8]}"}
    output = workdir / f"{suite.name}-inside.txt"
    run_measured([*command(suite, "testrun", workdir, 0), "-p", "plugin_timing"], env=env, cwd=root, output=output)
    if "(201 created)" not in output.read_text(errors="replace") or not timings.exists():
        raise SystemExit(f"{suite.name}: the timed testrun run failed:\n{output.read_text(errors='replace')[-2000:]}")
    return dict(json.loads(timings.read_text().splitlines()[-1]))


#: the requests whose answer a session's end waits for: a run sent whole, or the completion of one sent in batches
STORING_ROUTES = ("/api/v1/runs", "/api/v1/uploads/<upload_id>/complete")


def collector_seconds(log: Path) -> dict[str, list[float]]:
    """Per suite, the collector's own time for each upload that it stored, from its request log."""
    handled: dict[str, list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        run_id = str(record.get("run_id") or "")
        if record.get("route") in STORING_ROUTES and record.get("status") == 201 and run_id.startswith("bench-"):
            suite = run_id.split("-")[1]
            handled.setdefault(suite, []).append(float(record["duration_ms"]) / 1000)
    return handled


def report_suite(suite: Suite, runs: dict[str, list[dict[str, Any]]], handled: list[float],
                 inside: dict[str, float]) -> dict[str, Any]:
    """Print the suite's table, spread and breakdown; its figures for the JSON record."""
    seconds = {variant: [run["seconds"] for run in runs[variant]] for variant in VARIANTS}
    ratios = per_repetition(runs, "seconds")
    cpu_ratios = per_repetition(runs, "cpu_seconds")
    rss = {variant: [run["max_rss_kb"] / 1024 for run in runs[variant]] for variant in VARIANTS}
    rows = []
    for variant in VARIANTS:
        if not seconds[variant]:
            continue
        rows.append([variant, f"{median(seconds[variant]):.2f}", f"{median(ratios[variant]):.3f}",
                     spread(ratios[variant]), f"{median(cpu_ratios[variant]):.3f}", spread(cpu_ratios[variant]),
                     f"{median(rss[variant]):.0f}", " ".join(f"{s:.2f}" for s in seconds[variant])])
    print(f"   {suite.requirement or 'generated suite'}")
    print(table(["variant", "seconds", "x plain", "spread", "CPU x plain", "spread", "peak RSS MB",
                 "each repetition"], rows))
    extra = differences(runs, "seconds")
    extra_cpu = differences(runs, "cpu_seconds")
    print(f"   testrun over plain (medians): {median(extra):+.2f} s wall, {median(extra_cpu):+.2f} s of pytest's own CPU; "
          f"the collector took {median(handled):.2f} s per upload ({len(handled)} uploads), pytest waiting for it")
    print("   inside one more testrun run (s): " + ", ".join(f"{name} {seconds:.3f}" for name, seconds in inside.items()))
    testrun_by_rep = {run["rep"]: run["seconds"] for run in runs["testrun"]}
    vs_junitxml = [testrun_by_rep[run["rep"]] / run["seconds"] for run in runs["junitxml"]]
    return {
        "requirement": suite.requirement,
        "seconds": seconds,
        "cpu_seconds": {variant: [run["cpu_seconds"] for run in runs[variant]] for variant in VARIANTS},
        "max_rss_mb": rss,
        "ratios": ratios,
        "ratio_median": median(ratios["testrun"]),
        "ratio_spread": [min(ratios["testrun"]), max(ratios["testrun"])],
        "cpu_ratio_median": median(cpu_ratios["testrun"]),
        "extra_seconds": extra,
        "extra_cpu_seconds": extra_cpu,
        "collector_seconds": handled,
        "inside_seconds": inside,
        "testrun_vs_junitxml": median(vs_junitxml),
    }


def per_repetition(runs: dict[str, list[dict[str, Any]]], key: str) -> dict[str, list[float]]:
    """Each variant's ``key`` over plain's in the same repetition."""
    plain = {run["rep"]: run[key] for run in runs["plain"]}
    return {variant: [run[key] / plain[run["rep"]] for run in runs[variant]] for variant in VARIANTS}


def differences(runs: dict[str, list[dict[str, Any]]], key: str) -> list[float]:
    """testrun's ``key`` less plain's, repetition by repetition."""
    plain = {run["rep"]: run[key] for run in runs["plain"]}
    return [run[key] - plain[run["rep"]] for run in runs["testrun"]]


def spread(values: list[float]) -> str:
    return f"{min(values):.3f}-{max(values):.3f}" if values else "-"

if __name__ == "__main__":
    sys.exit(main())
