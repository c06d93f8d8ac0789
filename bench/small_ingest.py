"""Small ingest: requests/s of authenticated seed-size ``POST /api/v1/runs``, each one a new durable run.

Compared in one run, interleaved, on the same waitress settings:

- ``testrun``: the real collector (token auth, body checks, validation,
  digest, the run stored with ``synchronous=FULL`` in a group commit (the
  runs that arrive together share one transaction, a savepoint each), the
  access log line and metrics); the per-token rate limit is off
  (TESTRUN_TOKEN_RATE_PER_S=0), the token was verified once before timing;
- ``bare``: a Bottle route that only ``json.loads`` the same body;
- ``bcrypt``: the original design, ``bcrypt.checkpw`` (cost 12) on every
  request, then the same parse.

Targets: testrun >= 0.6x bare; testrun >= 50x bcrypt. Also measured, with a
raw sqlite3 commit-rate micro-benchmark on the collector's schema (the
collector has no setting to switch it): what ``synchronous=FULL`` costs
against ``NORMAL`` per stored run.

    python bench/small_ingest.py [--seconds 4] [--reps 3] [--load-generator auto|wrk|python]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchlib import (
    REPO,
    Check,
    Collector,
    Load,
    ServerProcess,
    address_of,
    child_env,
    common_arguments,
    fresh_database,
    interleaved,
    load_runner,
    median,
    post,
    print_header,
    ratio,
    raw_connection,
    raw_statements,
    seed_run,
    seed_template,
    table,
    verdict,
    work_dir,
)

TARGET_VS_BARE = 0.6
TARGET_VS_BCRYPT = 50.0
PATH = "/api/v1/runs"
BCRYPT_MIN_SECONDS = 4.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--seconds", type=float, help="load duration per repetition (default 4; smoke 1)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto",
                        help="auto: wrk if installed (installed from Debian's packages unless --smoke), else Python")
    parser.add_argument("--commits", type=int, help="commits per synchronous level and repetition (default 2000)")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.smoke else 3)
    seconds = args.seconds or (1.0 if args.smoke else 4.0)
    commits = args.commits or (50 if args.smoke else 2000)
    connections = min(args.connections, 4) if args.smoke else args.connections
    generator, run_load = load_runner(args.load_generator, install=not args.smoke)

    print_header(
        "small ingest: seed-size POST /api/v1/runs, one new durable run per request",
        f"""load: {generator} on this machine (server and load share the cores), {connections} keep-alive
        connections, {seconds:g} s per variant and repetition, {reps} repetitions interleaved
        (testrun bare bcrypt ...); median requests/s; latency p50/p99 of the median repetition.""",
    )
    with work_dir("small-ingest", keep=args.keep) as workdir:
        results = measure(workdir, run_load, reps=reps, seconds=seconds, connections=connections,
                          bcrypt_seconds=seconds if args.smoke else BCRYPT_MIN_SECONDS)
        sync = synchronous_cost(workdir, reps=reps, commits=commits)

    rps = {name: median([load.rps for load in loads]) for name, loads in results.items()}
    rows = []
    for name, loads in results.items():
        middle = sorted(loads, key=lambda load: load.rps)[len(loads) // 2]
        rows.append([name, f"{rps[name]:,.0f}", f"{middle.p50_ms:.1f}", f"{middle.p99_ms:.1f}",
                     " ".join(f"{load.rps:,.0f}" for load in loads)])
    print(table(["variant", "requests/s", "p50 ms", "p99 ms", "each repetition"], rows))
    full, normal = sync["FULL"], sync["NORMAL"]
    extra_us = (1 / full - 1 / normal) * 1e6
    share = extra_us / (1e6 / rps["testrun"]) if rps["testrun"] else float("nan")
    print("   SQLite synchronous level (raw sqlite3, one seed-size run per commit, collector schema):")
    print(table(["synchronous", "commits/s"], [["FULL (the collector's)", f"{full:,.0f}"], ["NORMAL", f"{normal:,.0f}"]]))
    print(f"   FULL costs {extra_us:,.0f} us more per run than NORMAL: {share:.1%} of a small-ingest request's "
          f"{1e6 / rps['testrun']:,.0f} us at the measured rate")
    checks = [
        Check("testrun/bare", ratio(rps["testrun"], rps["bare"]), ">=", TARGET_VS_BARE),
        Check("testrun/bcrypt", ratio(rps["testrun"], rps["bcrypt"]), ">=", TARGET_VS_BCRYPT),
    ]
    figures: dict[str, Any] = {
        "generator": generator,
        "connections": connections,
        "requests_per_s": rps,
        "latency_ms": {name: {"p50": sorted(l, key=lambda x: x.rps)[len(l) // 2].p50_ms,
                              "p99": sorted(l, key=lambda x: x.rps)[len(l) // 2].p99_ms} for name, l in results.items()},
        "sqlite_commits_per_s": sync,
    }
    return verdict("small_ingest", checks, smoke=args.smoke, results=figures, json_out=args.json_out)


def measure(workdir: Path, run_load: Any, *, reps: int, seconds: float, connections: int,
            bcrypt_seconds: float) -> dict[str, list[Load]]:
    template = seed_template()
    servers: dict[str, Any] = {}
    with Collector(workdir).start() as collector:
        servers["testrun"] = (collector.url, collector.token)
        bare = ServerProcess([sys.executable, str(REPO / "bench" / "bare_app.py"), "json"], env=child_env(),
                             log=workdir / "bare.log").start()
        slow = ServerProcess([sys.executable, str(REPO / "bench" / "bare_app.py"), "bcrypt"], env=child_env(),
                             log=workdir / "bcrypt.log").start()
        with bare, slow:
            from bare_app import BCRYPT_SECRET

            servers["bare"] = (bare.url, "")
            servers["bcrypt"] = (slow.url, BCRYPT_SECRET)
            warm_up(collector, servers)
            before = collector.count_runs()
            results: dict[str, list[Load]] = {name: [] for name in servers}
            for rep, name in interleaved(list(servers), reps):
                url, token = servers[name]
                # a bcrypt request takes a quarter of a second: give it time to finish a few dozen
                load = run_load(url, PATH, template=template, token=token,
                                seconds=max(seconds, bcrypt_seconds) if name == "bcrypt" else seconds,
                                # the bcrypt baseline cannot use more connections than it has threads
                                connections=min(connections, 8) if name == "bcrypt" else connections,
                                prefix=f"{name}-{rep}-{uuid.uuid4().hex[:8]}")
                print(f"   rep {rep + 1} {name:8} {load.rps:10,.1f} req/s  p50 {load.p50_ms:7.1f} ms  "
                      f"p99 {load.p99_ms:8.1f} ms  ({load.requests} requests, {load.errors} errors)", flush=True)
                if load.errors:
                    raise SystemExit(f"{name}: {load.errors} requests failed; see {workdir}")
                results[name].append(load)
            stored = collector.count_runs() - before
        answered = sum(load.requests for load in results["testrun"])
        if stored < answered:
            raise SystemExit(f"the collector answered {answered} requests but stored {stored} runs")
    return results


def warm_up(collector: Collector, servers: dict[str, tuple[str, str]]) -> None:
    """One request to each server first: the collector verifies its token (bcrypt) once, as in steady state."""
    for name, (url, token) in servers.items():
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = seed_template().replace("@RUN_ID@", f"warm-up-{name}-{uuid.uuid4().hex}").encode()
        status, data, _ = post(address_of(url), PATH, body, headers)
        if status != 201:
            raise SystemExit(f"warm-up request to {name} answered {status}: {data[:300]!r}")


def synchronous_cost(workdir: Path, *, reps: int, commits: int) -> dict[str, float]:
    """Commits/s of one seed-size run per transaction under FULL and NORMAL, interleaved; median per level."""
    from collector.store.records import result_values
    from collector.validation import validate_run

    rates: dict[str, list[float]] = {"FULL": [], "NORMAL": []}
    for rep, level in interleaved(list(rates), reps):
        path = workdir / f"sync-{level}-{rep}.sqlite3"
        project_id = fresh_database(path)
        conn = raw_connection(path, synchronous=level)
        runs = [validate_run(seed_run(f"sync-{rep}-{i}"), max_tests=10) for i in range(commits)]
        started = time.perf_counter()
        for run in runs:
            insert_run, params, insert_results = raw_statements(project_id, run)
            conn.execute("BEGIN IMMEDIATE")
            run_pk = conn.execute(insert_run, params).lastrowid
            conn.executemany(insert_results, result_values(run_pk, run.tests))
            conn.execute("COMMIT")
        rates[level].append(commits / (time.perf_counter() - started))
        conn.close()
    return {level: median(values) for level, values in rates.items()}


if __name__ == "__main__":
    sys.exit(main())
