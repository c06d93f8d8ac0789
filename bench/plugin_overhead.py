"""Plugin overhead: what ``pytest --testrun-report`` costs a CI job, against plain pytest and other reporters.

A generated suite of 20,000 fast parametrized tests (1% failing, 2%
skipped) runs, interleaved, as:

- ``plain``: ``pytest``;
- ``testrun``: ``pytest --testrun-report`` uploading the run to a live local
  collector (SQLite, a fresh run id per repetition, waiting for the 201);
- ``junitxml``: ``pytest --junitxml=FILE``;
- ``buildkite``: ``pytest --json FILE`` with buildkite-test-collector from
  PyPI (installed by this script into bench/.work/buildkite, never into the
  project's dependencies; left out, and the target missed, when it cannot be
  had; under --smoke it is used only when already installed).

Every variant runs ``python -m pytest -q -p no:cacheprovider`` in a fresh
environment without CI variables, with plugin autoloading off and its own
plugin named with ``-p``, so that whatever else is installed in the
virtualenv costs no variant anything. Wall time per run, peak RSS of the
pytest process; the ratio of each repetition (runs next to each other), then
the median. junitxml and buildkite, far slower and each a minute a run, run in the first two
repetitions only, so the whole set stays under ten minutes. Targets: testrun <= 1.03x plain, and faster than junitxml and
buildkite.

    python bench/plugin_overhead.py [--tests 20000] [--reps 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from benchlib import (
    WORK_ROOT,
    Check,
    Collector,
    child_env,
    common_arguments,
    interleaved,
    median,
    print_header,
    run_measured,
    table,
    verdict,
    work_dir,
)

TARGET = 1.03
BUILDKITE = "buildkite-test-collector==1.9.1"
BUILDKITE_DIR = WORK_ROOT / "buildkite"
TESTS_PER_FILE = 1000
PYTEST = ["-m", "pytest", "-q", "-p", "no:cacheprovider"]
SUMMARY = re.compile(r"(\d+) failed, (\d+) passed, (\d+) skipped")

TEST_FILE = '''\
import pytest


@pytest.mark.parametrize("case", range({start}, {stop}))
def test_behaviour(case):
    if case % 50 == 7:
        pytest.skip("needs the GPU runner")
    assert case % 100 != 13, "generated failure"
'''


def write_suite(root: Path, tests: int) -> None:
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    for start in range(0, tests, TESTS_PER_FILE):
        stop = min(start + TESTS_PER_FILE, tests)
        (root / f"test_generated_{start // TESTS_PER_FILE:03d}.py").write_text(TEST_FILE.format(start=start, stop=stop))


def buildkite_path(*, install: bool) -> Path | None:
    """Where buildkite-test-collector can be imported from (an empty path: the virtualenv), or None."""
    if importlib.util.find_spec("buildkite_test_collector") is not None:
        return Path()
    if (BUILDKITE_DIR / "buildkite_test_collector").is_dir() and (BUILDKITE_DIR / "filelock").is_dir():
        return BUILDKITE_DIR
    if not install:
        return None
    print(f"   (installing {BUILDKITE} into {BUILDKITE_DIR})", flush=True)
    # Its other requirements (pytest, requests, urllib3, certifi) are already here for the plugin's own use.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(BUILDKITE_DIR),
         BUILDKITE, "filelock"],
        check=False, capture_output=True, text=True, timeout=600,
    )
    if result.returncode != 0:
        print(f"   buildkite-test-collector could not be installed: {result.stderr.strip()[-500:]}")
        return None
    return BUILDKITE_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--tests", type=int, help="tests in the generated suite (default 20000; smoke 200)")
    parser.add_argument("--comparator-reps", type=int,
                        help="repetitions of junitxml and buildkite (default 2: they are slow, and far from testrun)")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.smoke else 3)
    comparator_reps = min(reps, args.comparator_reps or 2)
    tests = args.tests or (200 if args.smoke else 20_000)
    buildkite = buildkite_path(install=not args.smoke)

    variants = ["plain", "testrun", "junitxml"] + (["buildkite"] if buildkite is not None else [])
    print_header(
        f"plugin overhead: a generated suite of {tests:,} tests (1% failing, 2% skipped)",
        f"""variants: {' '.join(variants)}; {reps} repetitions interleaved (junitxml and buildkite: the first
        {comparator_reps}); wall time and peak RSS of each pytest process; ratios within each repetition, then
        their median. testrun uploads to a live collector on this machine and waits for its answer. Plugin
        autoloading off, each variant names its plugin.""",
    )
    with work_dir("plugin-overhead", keep=args.keep) as workdir:
        suite = workdir / "suite"
        write_suite(suite, tests)
        with Collector(workdir).start() as collector:
            envs = environments(workdir, collector, buildkite)
            warm_up(suite, workdir, envs)
            order = [(rep, name) for rep, name in interleaved(variants, reps)
                     if name in ("plain", "testrun") or rep < comparator_reps]
            runs = measure(suite, workdir, envs, variants, order)

    seconds = {name: [run["seconds"] for run in runs[name]] for name in variants}
    rss = {name: [run["max_rss_kb"] for run in runs[name]] for name in variants}
    per_rep = {name: [s / p for s, p in zip(seconds[name], seconds["plain"])] for name in variants}
    testrun_vs = {name: [t / o for t, o in zip(seconds["testrun"], seconds[name])] for name in variants}
    rows = []
    for name in variants:
        extra = median([r - p for r, p in zip(rss[name], rss["plain"])]) / 1024
        rows.append([name, f"{median(seconds[name]):.2f}", f"{median(per_rep[name]):.3f}",
                     f"{median(rss[name]) / 1024:.0f}", f"{extra:+.1f}",
                     " ".join(f"{s:.2f}" for s in seconds[name])])
    print(table(["variant", "seconds", "x plain", "peak RSS MB", "extra MB", "each repetition"], rows))
    checks = [
        Check("testrun/plain", median(per_rep["testrun"]), "<=", TARGET),
        Check("testrun/junitxml", median(testrun_vs["junitxml"]), "<", 1.0),
    ]
    if buildkite is not None:
        checks.append(Check("testrun/buildkite", median(testrun_vs["buildkite"]), "<", 1.0))
    elif not args.smoke:
        checks.append(Check("testrun/buildkite", None, "<", 1.0))
    figures: dict[str, Any] = {"tests": tests, "seconds": seconds, "max_rss_kb": rss,
                               "ratio_to_plain": {name: median(per_rep[name]) for name in variants}}
    return verdict("plugin_overhead", checks, smoke=args.smoke, results=figures, json_out=args.json_out)


def environments(workdir: Path, collector: Collector, buildkite: Path | None) -> dict[str, dict[str, str]]:
    base = child_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    envs = {
        "plain": base,
        "junitxml": base,
        "testrun": {**base, "TESTRUN_URL": collector.url, "TESTRUN_TOKEN": collector.token,
                    "TESTRUN_SPOOL_DIR": str(workdir / "spool")},
    }
    if buildkite is not None:
        envs["buildkite"] = {**base, "PYTHONPATH": str(buildkite)} if str(buildkite) != "." else base
    return envs


def command(variant: str, workdir: Path, rep: int) -> list[str]:
    args = [sys.executable, *PYTEST]
    if variant == "testrun":
        args += ["-p", "pytest_testrun_reporter.plugin", "--testrun-report"]
    elif variant == "junitxml":
        args += [f"--junitxml={workdir / f'junit-{rep}.xml'}"]
    elif variant == "buildkite":
        args += ["-p", "buildkite_test_collector.pytest_plugin", "--json", str(workdir / f"buildkite-{rep}.json")]
    return args


def warm_up(suite: Path, workdir: Path, envs: dict[str, dict[str, str]]) -> None:
    """Bytecode for the tests (assertion rewriting) and for every plugin's modules, written before timing."""
    imports = {
        "testrun": "import pytest_testrun_reporter.reporter, junit_uploader.delivery",
        "buildkite": "import buildkite_test_collector.pytest_plugin",
    }
    for name, env in envs.items():
        if name in imports:
            subprocess.run([sys.executable, "-c", imports[name]], env=env, check=True)
    result = run_measured([sys.executable, *PYTEST, "--collect-only"], env=envs["plain"], cwd=suite,
                          output=workdir / "warm-up.txt")
    if result.returncode != 0:
        raise SystemExit(f"collecting the generated suite failed:\n{(workdir / 'warm-up.txt').read_text()[-2000:]}")


def measure(suite: Path, workdir: Path, envs: dict[str, dict[str, str]], variants: list[str],
            order: list[tuple[int, str]]) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    expected: tuple[str, ...] | None = None
    for rep, name in order:
        env = dict(envs[name])
        if name == "testrun":
            env["TESTRUN_RUN_ID"] = f"bench-plugin-{rep}-{uuid.uuid4().hex[:8]}"
        output = workdir / f"{name}-{rep}.txt"
        result = run_measured(command(name, workdir, rep), env=env, cwd=suite, output=output)
        text = output.read_text(errors="replace")
        counts = SUMMARY.search(text)
        if result.returncode != 1 or counts is None or (expected is not None and counts.groups() != expected):
            raise SystemExit(f"{name}: unexpected pytest outcome (exit {result.returncode}):\n{text[-2000:]}")
        expected = counts.groups()
        if name == "testrun" and "(201 created)" not in text:
            raise SystemExit(f"testrun: the run was not uploaded:\n{text[-2000:]}")
        runs[name].append({"seconds": result.seconds, "max_rss_kb": result.max_rss_kb})
        print(f"   rep {rep + 1} {name:9} {result.seconds:7.2f} s  {result.max_rss_kb / 1024:6.0f} MB", flush=True)
    return runs


if __name__ == "__main__":
    sys.exit(main())
