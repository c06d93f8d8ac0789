"""Bulk ingest: one run of 50,000 tests, gzip body, end to end, against a raw executemany of the same rows.

Compared in one run, interleaved:

- ``testrun``: ``POST /api/v1/runs`` of the gzip-compressed run to a real
  collector (SQLite, ``synchronous=FULL``), timed from sending the request to
  reading the 201 (the body is compressed before the clock starts, as the
  client does before sending); each repetition is a new run;
- ``raw``: ``executemany`` of the same 50,000 rows (already built as tuples)
  into a fresh SQLite file with the collector's schema (its own migrations),
  with the collector's pragmas, in one ``BEGIN IMMEDIATE`` transaction with
  the run's own row.

Target: testrun tests/s >= 0.3x raw tests/s. ``--db postgresql://...`` also
reports the PostgreSQL backend end to end, when this version has it.

    python bench/bulk_ingest.py [--tests 50000] [--reps 3] [--db postgresql://...]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchlib import (
    Check,
    Collector,
    ServerProcess,
    address_of,
    admin,
    big_run,
    child_env,
    common_arguments,
    fresh_database,
    interleaved,
    median,
    post,
    print_header,
    ratio,
    raw_connection,
    raw_statements,
    table,
    verdict,
    work_dir,
)

TARGET = 0.3
PATH = "/api/v1/runs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--tests", type=int, help="tests in the run (default 50000; smoke 500)")
    parser.add_argument("--db", help="also measure this PostgreSQL database (postgresql://...), end to end")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.smoke else 3)
    tests = args.tests or (500 if args.smoke else 50_000)

    print_header(
        f"bulk ingest: one run of {tests:,} tests, gzip body, end to end vs raw executemany",
        f"""server and client on this machine; {reps} repetitions interleaved (testrun raw ...); median seconds.
        testrun: send to 201, body gzip-compressed beforehand; raw: executemany of the prepared rows + the run
        row in one transaction, fresh file with the collector's schema and pragmas (synchronous=FULL).""",
    )
    with work_dir("bulk-ingest", keep=args.keep) as workdir:
        seconds, sizes = measure(workdir, tests=tests, reps=reps)
        postgres = measure_postgres(workdir, args.db, tests=tests, reps=reps) if args.db else None

    rate = {name: tests / median(values) for name, values in seconds.items()}
    rows = [
        [name, f"{median(values):.3f}", f"{rate[name]:,.0f}", " ".join(f"{v:.3f}" for v in values)]
        for name, values in seconds.items()
    ]
    if postgres is not None:
        rows.append(["testrun (PostgreSQL)", f"{median(postgres):.3f}", f"{tests / median(postgres):,.0f}",
                     " ".join(f"{v:.3f}" for v in postgres)])
    print(f"   body: {sizes['json']:,} bytes of JSON, {sizes['gzip']:,} gzip-compressed")
    print(table(["variant", "seconds", "tests/s", "each repetition"], rows))
    checks = [Check("testrun/raw", ratio(rate["testrun"], rate["raw"]), ">=", TARGET)]
    figures: dict[str, Any] = {"tests": tests, "sizes": sizes, "seconds": seconds, "tests_per_s": rate}
    if postgres is not None:
        figures["postgres_seconds"] = postgres
    return verdict("bulk_ingest", checks, smoke=args.smoke, results=figures, json_out=args.json_out)


def _gzip_body(run_id: str, tests: int) -> tuple[bytes, int]:
    data = json.dumps(big_run(run_id, tests), separators=(",", ":")).encode()
    return gzip.compress(data, compresslevel=6), len(data)


def _post_timed(url: str, token: str, body: bytes) -> float:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "Authorization": f"Bearer {token}"}
    status, answer, seconds = post(address_of(url), PATH, body, headers)
    if status != 201:
        raise SystemExit(f"the collector answered {status}: {answer[:300]!r}")
    return seconds


def measure(workdir: Path, *, tests: int, reps: int) -> tuple[dict[str, list[float]], dict[str, int]]:
    from collector.store.records import result_values
    from collector.validation import validate_run

    seconds: dict[str, list[float]] = {"testrun": [], "raw": []}
    sizes: dict[str, int] = {}
    with Collector(workdir).start() as collector:
        _post_timed(collector.url, collector.token, _gzip_body(f"warm-up-{uuid.uuid4().hex}", 10)[0])
        for rep, name in interleaved(list(seconds), reps):
            run_id = f"bulk-{rep}-{uuid.uuid4().hex[:8]}"
            if name == "testrun":
                body, size = _gzip_body(run_id, tests)
                sizes = {"json": size, "gzip": len(body)}
                took = _post_timed(collector.url, collector.token, body)
            else:
                path = workdir / f"raw-{rep}.sqlite3"
                project_id = fresh_database(path)
                run = validate_run(big_run(run_id, tests), max_tests=max(tests, 1))
                insert_run, params, insert_results = raw_statements(project_id, run, run_pk=1)
                rows = result_values(1, run.tests)
                conn = raw_connection(path)
                started = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(insert_run, params)
                conn.executemany(insert_results, rows)
                conn.execute("COMMIT")
                took = time.perf_counter() - started
                conn.close()
                path.unlink()
            seconds[name].append(took)
            print(f"   rep {rep + 1} {name:8} {took:7.3f} s  {tests / took:10,.0f} tests/s", flush=True)
    return seconds, sizes


def measure_postgres(workdir: Path, url: str, *, tests: int, reps: int) -> list[float] | None:
    """End to end on PostgreSQL, when this version of the collector can open the URL."""
    try:
        from collector.store import open_store

        store = open_store(url)
        store.close()
    except Exception as error:  # noqa: BLE001 - whatever the reason, it is not measurable here: say why, go on
        print(f"   PostgreSQL is not available ({type(error).__name__}: {error}); not measured")
        return None
    env = child_env(TESTRUN_BCRYPT_ROUNDS="12", TESTRUN_TOKEN_RATE_PER_S="0", TESTRUN_PORT="0")
    admin(url, "migrate", env=env)
    org = f"bench{uuid.uuid4().hex[:8]}"
    admin(url, "org", "create", org, env=env)
    admin(url, "project", "create", org, "app", env=env)
    token = str(admin(url, "token", "create", f"{org}/app", env=env)["token"])
    server = ServerProcess([sys.executable, "-m", "collector.cli", "serve", "--db", url], env=env,
                           log=workdir / "collector-postgres.log").start()
    results = []
    with server:
        _post_timed(server.url, token, _gzip_body(f"warm-up-{uuid.uuid4().hex}", 10)[0])
        for rep in range(reps):
            body, _ = _gzip_body(f"bulk-pg-{rep}-{uuid.uuid4().hex[:8]}", tests)
            took = _post_timed(server.url, token, body)
            results.append(took)
            print(f"   rep {rep + 1} postgres {took:7.3f} s  {tests / took:10,.0f} tests/s", flush=True)
    return results


if __name__ == "__main__":
    sys.exit(main())
