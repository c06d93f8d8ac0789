"""Crash consistency of the SQLite store: concurrent ingest while the collector is SIGKILLed and restarted.

Client processes send runs of 1 to 5,000 tests (distinct run_ids, run_ids
several clients share, and runs a client sends twice) through the shared
client with its retries, while the collector is killed with SIGKILL and
restarted on the same database and port several times. Afterwards every run
that was answered 201/200 must be stored once with exactly its tests, no run
may be partial, and the file must pass ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from pathlib import Path

import pytest

from collector.model import RunPayload
from collector.store.sqlite import SQLiteStore
from collector.validation import canonical_digest
from collector_harness import CollectorProcess, admin, admin_json, new_project
from reliability_support import (
    RUN_SIZES,
    expected_digest,
    free_port,
    ingest_worker,
    integrity_check,
    partial_runs,
    run_payload,
)

CLIENTS = 4
RUNS_PER_CLIENT = 20
SHARED_RUNS = 6
KILLS = 5
#: the collector runs this long (a random part of it) before each SIGKILL
UP_BETWEEN_KILLS_S = (0.4, 1.2)
CLIENT_DEADLINE_S = 120.0


def client_jobs(rng: random.Random) -> list[list[tuple[str, int]]]:
    """Each client's runs: its own, runs every client sends, and a few of its own sent a second time."""
    shared = [(f"shared-{k}", rng.choice(RUN_SIZES)) for k in range(SHARED_RUNS)]
    plans = []
    for c in range(CLIENTS):
        own = [(f"client{c}-run{k}", rng.choice(RUN_SIZES)) for k in range(RUNS_PER_CLIENT)]
        again = rng.sample(own, 3)
        jobs = own + shared + again
        rng.shuffle(jobs)
        plans.append(jobs)
    return plans


def start(db: Path, port: int) -> CollectorProcess:
    return CollectorProcess(db=db, env={"TESTRUN_PORT": str(port), "TESTRUN_TOKEN_RATE_PER_S": "0"}).start()


@pytest.mark.slow
def test_every_acknowledged_run_survives_sigkill_whole_and_once(tmp_path: Path) -> None:
    rng = random.Random(20260112)
    db = tmp_path / "crash.sqlite3"
    assert admin(db, "migrate").returncode == 0
    admin_token = admin_json(db, "token", "create", "--admin")["token"]
    port = free_port()
    collector = start(db, port)
    collector.admin_token = admin_token
    project = new_project(collector)
    plans = client_jobs(rng)
    results = [tmp_path / f"client{c}.jsonl" for c in range(CLIENTS)]
    context = multiprocessing.get_context("spawn")
    clients = [
        context.Process(
            target=ingest_worker,
            args=(collector.url, project.ingest_token, plans[c], str(results[c]), CLIENT_DEADLINE_S),
            daemon=True,
        )
        for c in range(CLIENTS)
    ]
    kills = 0
    processes = [collector]
    try:
        for client in clients:
            client.start()
        while kills < KILLS and any(client.is_alive() for client in clients):
            time.sleep(rng.uniform(*UP_BETWEEN_KILLS_S))
            assert collector.process is not None
            collector.process.kill()  # SIGKILL: no drain, no close, mid-transaction
            collector.process.wait(10)
            kills += 1
            collector = start(db, port)
            processes.append(collector)
        for client in clients:
            client.join(CLIENT_DEADLINE_S + 30)
        assert all(client.exitcode == 0 for client in clients), [client.exitcode for client in clients]
    finally:
        for client in clients:
            if client.is_alive():
                client.kill()
        for process in processes:
            process.stop()

    outcomes = [json.loads(line) for path in results for line in path.read_text().splitlines()]
    sent = {run_id: tests for plan in plans for run_id, tests in plan}
    assert kills == KILLS, "the clients finished before every kill: give them more work"
    assert len(outcomes) == sum(len(plan) for plan in plans)
    unacknowledged = [o for o in outcomes if not o["acknowledged"]]
    assert unacknowledged == []

    assert integrity_check(db) == ["ok"]
    assert partial_runs(db) == []
    store = SQLiteStore(str(db))
    try:
        org, name = project.slug.split("/")
        stored_project = store.get_project(org, name)
        listed = store.list_runs(stored_project, limit=200).runs
        assert sorted(run.run_id for run in listed) == sorted(sent)
        for run_id, tests in sent.items():
            payload = run_payload(run_id, tests)
            stored = store.get_run(stored_project, run_id)
            assert stored.counts.total == tests == len(stored.tests or [])
            assert stored.digest == expected_digest(payload)
            assert recomputed_digest(stored) == stored.digest, f"{run_id}: the stored tests are not the ones sent"
    finally:
        store.close()

    created = [o["run_id"] for o in outcomes if o["status"] == 201]
    duplicates = [o for o in outcomes if o["duplicate"]]
    assert len(created) == len(set(created)), "no run_id is ever answered 201 twice"
    assert all(o["total"] == o["tests"] for o in outcomes)
    # A run stored with no 201 seen by anyone: the collector committed it and died before the answer
    # got out; the client's retry was answered 200 duplicate -- one copy, not two.
    lost_answers = set(sent) - set(created)
    reasons = [reason for o in outcomes for reason in o["retried_because"]]
    cut_off = [r for r in reasons if r != "connection refused"]
    print(
        f"\ncrash: {len(outcomes)} uploads acknowledged ({len(created)} created, {len(duplicates)} duplicate), "
        f"{sum(sent.values())} tests, {kills} SIGKILLs survived, "
        f"{len(reasons)} retries ({len(cut_off)} after a request was cut off: {sorted(set(cut_off))}), "
        f"{len(lost_answers)} answers lost after the commit and re-sent, 0 runs lost"
    )


def recomputed_digest(stored) -> str:  # type: ignore[no-untyped-def]
    """The digest of what the rows hold, computed the way validation computes it for a payload."""
    run = RunPayload(
        stored.run_id, stored.status, stored.started_at, stored.duration_ms, stored.ci, stored.vcs,
        stored.reporter, stored.tests or [], stored.counts, digest="",
    )
    return canonical_digest(run)
