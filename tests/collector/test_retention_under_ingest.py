"""testrun-admin prune on a live collector: ingest keeps getting 201s while old runs go."""

from __future__ import annotations

import threading
from typing import Any

from collector_harness import a_run, admin_json, new_project, wait_until


def test_pruning_removes_exactly_the_old_runs_while_concurrent_ingest_keeps_getting_201(start_collector: Any) -> None:
    collector = start_collector()
    project = new_project(collector)
    big = [{"id": f"t{i}", "status": "passed"} for i in range(2000)]
    for index in range(30):
        answer = project.post_run(a_run(f"old-{index}", started_at="2020-01-01T00:00:00Z", tests=big))
        assert answer.status_code == 201
    answers: list[int] = []
    stop = threading.Event()

    def ingest() -> None:
        index = 0
        while not stop.is_set() and index < 150:
            answers.append(project.post_run(a_run(f"new-{index}", started_at=None)).status_code)
            index += 1

    sender = threading.Thread(target=ingest)
    sender.start()
    assert wait_until(lambda: len(answers) > 0)
    try:
        report = admin_json(collector.db, "prune", "--older-than", "365")
    finally:
        stop.set()
        sender.join(60)

    assert (report["runs"], report["tests"]) == (30, 60_000)
    assert report["batches"] == 3
    assert answers and set(answers) == {201}
    remaining = project.get("/api/v1/runs", params={"limit": 200}).json()["runs"]
    assert {run["run_id"] for run in remaining} == {f"new-{i}" for i in range(len(answers))}
