"""Verdict cost: ingest of a 30,000-test run with 20 failures against the same run with none, on a year of history.

Every stored run gets its verdict at ingest, in its own transaction; the
contract says the verdict reads per failure, never per test (DESIGN.md,
"The verdict of a run"). This measures what those reads, and the failing
streaks a default-branch run moves on, add to the ingest of a large run.

The history is the analytics benchmark's year (bench/analytics_queries.py,
its ``seed``: 10,000 runs of 100 tests from a pool of 150, 1,000,000
results), stored through the store's own write path into a fresh SQLite
file; then a real collector process serves that file.

The run: every test id of the seeded history plus new ones (shaped like
``benchlib.big_run``) up to 30,000 tests, all passing or skipped. Its
failing variant fails 20 of the tests with history, picked from what the
seeded database holds: some in a failing streak on ``main``, some flaky on a
commit in the last 14 days, the rest passing on ``main``. Four variants,
each a new run id on a new commit (every POST a 201):

- ``feature none`` / ``feature failing``: on a feature branch, which reads
  the streaks and leaves them;
- ``main none`` / ``main failing``: on the default branch, which also moves
  the streaks on (the run without failures ends those of the tests that
  failed).

Timed: ``POST /api/v1/runs`` of the gzip body (compressed beforehand) on a
kept-alive connection, from sending it to reading the whole answer; the
server's CPU time of the request apart (less moved by a busy machine). One
untimed round first, then the repetitions, in turn and back (A B C D, D C B
A, ...); median milliseconds and the spread per variant. Each answer's
verdict is printed with its time (that it classified the failures, and how).
The classes shift after the first round, as the default-branch runs start
and end streaks: the feature branch's failures then find the streaks the
last ``main failing`` left.

Targets: per branch, median with 20 failures / median with none <= 1.05.

    python bench/verdict_cost.py [--runs 10000] [--tests 30000] [--failures 20] [--reps 10]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import json
import math
import os
import sqlite3
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from analytics_queries import (
    SERVER_ENV,
    Shape,
    print_seeding,
    scale_label,
    seed,
    test_ids,
)
from benchlib import (
    Check,
    ServerProcess,
    address_of,
    admin,
    big_run,
    child_env,
    common_arguments,
    median,
    post,
    print_header,
    ratio,
    table,
    verdict,
    work_dir,
)

TARGET = 1.05
PATH = "/api/v1/runs"
DEFAULT_BRANCH = "main"
FEATURE_BRANCH = "feature/verdict-cost"
#: (name, branch, failing?) in the order each repetition posts them
VARIANTS = (
    ("feature none", FEATURE_BRANCH, False),
    ("feature failing", FEATURE_BRANCH, True),
    ("main none", DEFAULT_BRANCH, False),
    ("main failing", DEFAULT_BRANCH, True),
)


# --- which seeded tests fail -------------------------------------------------------------------------
@dataclass(frozen=True)
class Picks:
    """The seeded tests the failing run fails, by what the history says of them."""

    failing_on_main: list[str]
    flaky: list[str]
    passing_on_main: list[str]

    @property
    def all(self) -> list[str]:
        return [*self.failing_on_main, *self.flaky, *self.passing_on_main]


def pick_failures(db: str, candidates: Sequence[str], count: int) -> Picks:
    """Up to a quarter each failing on main and flaky in the last 14 days, the rest passing on main.

    Read from the seeded database itself (the streaks, the flaky commits and
    results, the day rows), so each group is what the verdict will find.
    """
    from collector.store.verdicts import window_start
    from collector.timeutil import utc_now

    start = window_start(utc_now())
    with sqlite3.connect(db) as conn:
        (project_id,) = conn.execute("SELECT id FROM projects WHERE name = 'app'").fetchone()
        failing = {row[0] for row in conn.execute("SELECT test_id FROM default_failures WHERE project_id = ?",
                                                  (project_id,))}
        flaky = {row[0] for row in conn.execute(
            "SELECT test_id FROM test_commits WHERE project_id = ? AND passed > 0 AND failures > 0 AND last_at >= ? "
            "UNION SELECT f.test_id FROM flaky_results f JOIN runs r ON r.id = f.run_pk "
            "WHERE r.project_id = ? AND r.started_at >= ? AND r.commit_sha IS NOT NULL",
            (project_id, start, project_id, start))}
        on_main = {row[0] for row in conn.execute(
            "SELECT DISTINCT test_id FROM test_days WHERE project_id = ? AND branch = ?", (project_id, DEFAULT_BRANCH))}
    quarter = max(1, count // 4)
    ordered = list(candidates)
    flaky_picks = [t for t in ordered if t in flaky][:quarter]
    failing_picks = [t for t in ordered if t in failing and t not in flaky][:quarter]
    rest = count - len(flaky_picks) - len(failing_picks)
    passing_picks = [t for t in ordered if t in on_main and t not in failing and t not in flaky][:rest]
    return Picks(failing_picks, flaky_picks, passing_picks)


# --- the run -----------------------------------------------------------------------------------------
def run_tests(seeded_ids: Sequence[str], total: int) -> list[dict[str, Any]]:
    """Every seeded test id, passing, then new tests shaped like big_run's up to ``total``, none failing."""
    tests: list[dict[str, Any]] = []
    for index, test_id in enumerate(seeded_ids):
        module, name = test_id.split("::")
        tests.append({"id": test_id, "name": name, "suite": module, "file": module, "line": 10 + index % 10,
                      "status": "passed", "duration_ms": round(0.5 + (index % 89) * 1.3, 3)})
    for test in big_run("template", max(0, total - len(tests)))["tests"]:
        if test["status"] == "failed":
            test["status"] = "passed"
            del test["message"], test["details"]
        tests.append(test)
    return tests


def failed(test: dict[str, Any]) -> dict[str, Any]:
    name = test["name"].split("[")[0]
    return {
        **test,
        "status": "failed",
        "message": "AssertionError: assert 500 == 200",
        "details": f"def {name}():\n>       assert response.status == 200\nE       assert 500 == 200\n\n"
                   f"{test['file']}:{test['line']}: AssertionError",
    }


def body(tests: list[dict[str, Any]], failing: frozenset[str], *, run_id: str, branch: str) -> bytes:
    """The gzip-compressed POST body of one run: its own run id and commit, started now."""
    results = [failed(test) if test["id"] in failing else test for test in tests]
    payload = {
        "run_id": run_id,
        "started_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "duration_ms": 600000,
        "ci": {"provider": "github", "pipeline_id": run_id, "job": "test-py312", "attempt": 1},
        "vcs": {"repository": "acme/web", "commit": hashlib.sha1(run_id.encode()).hexdigest(), "branch": branch},
        "reporter": {"name": "pytest-testrun-reporter", "version": "0.1.0"},
        "tests": results,
    }
    return gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), compresslevel=6)


def describe(answer: dict[str, Any]) -> str:
    """The verdict of an answer in one line: its counts, then the classes it found."""
    found = answer.get("verdict") or {}
    classes = ", ".join(f"{name} {count}" for name, count in (found.get("classes") or {}).items() if count)
    return f"verdict: {found.get('failures')} failures, {found.get('blocking')} blocking" + (
        f"; {classes}" if classes else "")


# --- timing ------------------------------------------------------------------------------------------
def there_and_back(names: Sequence[str], reps: int) -> Iterator[tuple[int, str]]:
    """(repetition, variant): A B C D, then D C B A, and so on.

    Reversing every other repetition gives each variant both neighbours and
    both ends of a repetition, so a drift of the machine, or something the
    server does every few requests (a garbage collection, a WAL checkpoint),
    cannot land on one variant more than another.
    """
    for rep in range(reps):
        for name in names if rep % 2 == 0 else reversed(names):
            yield rep, name


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Timed:
    """Per variant, every repetition: milliseconds from send to the whole answer, and the server's CPU ms."""

    wall_ms: dict[str, list[float]]
    cpu_ms: dict[str, list[float]]


def measure(server: ServerProcess, token: str, tests: list[dict[str, Any]], failing: frozenset[str], *,
            reps: int) -> Timed:
    """Each variant in every repetition, after one untimed round."""
    assert server.process is not None
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "Authorization": f"Bearer {token}"}
    address = address_of(server.url)
    conn = http.client.HTTPConnection(*address, timeout=600)
    tag = uuid.uuid4().hex[:8]
    names = [name for name, _, _ in VARIANTS]
    timed = Timed({name: [] for name in names}, {name: [] for name in names})
    rounds = [(-1, name) for name in names] + list(there_and_back(names, reps))
    try:
        for rep, name in rounds:
            _, branch, fails = next(variant for variant in VARIANTS if variant[0] == name)
            run_id = f"verdict-cost-{tag}-{rep + 1}-{name.replace(' ', '-')}"
            data = body(tests, failing if fails else frozenset(), run_id=run_id, branch=branch)
            cpu_before = cpu_seconds(server.process.pid)
            status, answer, seconds = post(address, PATH, data, headers, conn)
            cpu = cpu_seconds(server.process.pid) - cpu_before
            if status != 201:
                raise SystemExit(f"{name}: the collector answered {status}: {answer[:300]!r}")
            found = json.loads(answer)
            expected = len(failing) if fails else 0
            if (found.get("verdict") or {}).get("failures") != expected:
                raise SystemExit(f"{name}: expected a verdict of {expected} failures, got {found.get('verdict')!r}")
            if rep >= 0:
                timed.wall_ms[name].append(seconds * 1000)
                timed.cpu_ms[name].append(cpu * 1000)
            label = "warm-up" if rep < 0 else f"rep {rep + 1}"
            print(f"   {label:7} {name:15} {seconds * 1000:7.0f} ms (server CPU {cpu * 1000:5.0f} ms)  {describe(found)}",
                  flush=True)
    finally:
        conn.close()
    return timed


def serve(db: str, workdir: Path) -> tuple[ServerProcess, str]:
    """A collector on the seeded file, and an ingest token for its project."""
    env = child_env(**SERVER_ENV)
    token = str(admin(db, "token", "create", "bench/app", "--scope", "ingest", env=env)["token"])
    server = ServerProcess([sys.executable, "-m", "collector.cli", "serve", "--db", db], env=env,
                           log=workdir / "collector.log").start()
    return server, token


def report(timed: Timed, failures: int) -> dict[str, float | None]:
    """Print the table and, per branch, what the failures add; the checked ratios (of the medians)."""
    rows = []
    for name, values in timed.wall_ms.items():
        rows.append([name, f"{median(values):.0f}", f"{min(values):.0f}-{max(values):.0f}",
                     f"{median(timed.cpu_ms[name]):.0f}", " ".join(f"{value:.0f}" for value in values)])
    print(table(["variant", "median ms", "min-max ms", "server CPU ms", "each repetition"], rows))
    ratios: dict[str, float | None] = {}
    for branch in ("feature", "main"):
        failing, clean = timed.wall_ms[f"{branch} failing"], timed.wall_ms[f"{branch} none"]
        ratios[branch] = ratio(median(failing), median(clean))
        paired = median([f / c for f, c in zip(failing, clean)])
        cpu = ratio(median(timed.cpu_ms[f"{branch} failing"]), median(timed.cpu_ms[f"{branch} none"]))
        print(f"   {branch}: {failures} failures add {median(failing) - median(clean):+.0f} ms to "
              f"{median(clean):.0f} ms: {ratios[branch] or math.nan:.3f}x (median of each repetition's ratio "
              f"{paired:.3f}x; server CPU {cpu or math.nan:.3f}x)")
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--runs", type=int, help="runs of seeded history (default 10000; smoke 50)")
    parser.add_argument("--tests", type=int, help="tests in the timed run (default 30000; smoke 300)")
    parser.add_argument("--failures", type=int, help="failures of the failing run (default 20; smoke 5)")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.smoke else 10)
    history = Shape(args.runs or (50 if args.smoke else 10_000), 20 if args.smoke else 100, 30 if args.smoke else 150)
    total = args.tests or (300 if args.smoke else 30_000)
    failures = args.failures or (5 if args.smoke else 20)
    label = scale_label(history.results)

    print_header(
        f"verdict cost: ingest of a {total:,}-test run with {failures} failures vs none, "
        f"on {label} stored results",
        f"""a year of one project ({history.runs:,} runs of {history.tests_per_run} tests from a pool of {history.pool},
        as bench/analytics_queries.py seeds it) in a fresh SQLite file; one collector; the run holds every seeded
        test id plus new ones; each variant a new run id and commit; gzip body prepared beforehand; a kept-alive
        POST, send to the whole answer; one untimed round, then {reps} repetitions, each in turn
        ({' / '.join(name for name, _, _ in VARIANTS)}) and back; median ms; the server's CPU time apart.""",
    )
    with work_dir("verdict-cost", keep=args.keep) as workdir:
        db = str(workdir / f"{label}.sqlite3")
        seeded = seed(db, "bench", "app", label, history, seed_value=1)
        print_seeding("SQLite", [seeded])
        candidates = test_ids(history.pool)
        picks = pick_failures(db, candidates, failures)
        if len(picks.all) < failures:
            raise SystemExit(f"the seeded history has only {len(picks.all)} tests to fail; lower --failures")
        print(f"   failing: {len(picks.failing_on_main)} failing on {DEFAULT_BRANCH}, {len(picks.flaky)} flaky in "
              f"the last 14 days, {len(picks.passing_on_main)} passing on {DEFAULT_BRANCH} (seeded history)",
              flush=True)
        tests = run_tests(candidates, total)
        server, token = serve(db, workdir)
        with server:
            timed = measure(server, token, tests, frozenset(picks.all), reps=reps)

    ratios = report(timed, failures)
    figures: dict[str, Any] = {
        "history": {"runs": history.runs, "results": history.results, "insert_s": seeded.insert_s},
        "tests": total,
        "failing": {"failing_on_main": picks.failing_on_main, "flaky": picks.flaky,
                    "passing_on_main": picks.passing_on_main},
        "wall_ms": timed.wall_ms,
        "server_cpu_ms": timed.cpu_ms,
        "median_ms": {name: median(values) for name, values in timed.wall_ms.items()},
        "ratios": ratios,
    }
    checks = [Check(f"failures/none@{branch}", ratios[branch], "<=", TARGET) for branch in ("feature", "main")]
    return verdict("verdict_cost", checks, smoke=args.smoke, results=figures, json_out=args.json_out)


if __name__ == "__main__":
    sys.exit(main())
