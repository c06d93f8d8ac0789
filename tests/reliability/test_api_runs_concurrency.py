"""Concurrency of ``POST /api/v1/runs`` on a real collector: bursts of 64, and 15 s of mixed load on two processes."""

from __future__ import annotations

import collections
import gzip
import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
import requests

from collector_harness import CollectorProcess, ProjectAccess, new_project
from reliability_support import partial_runs, peak_rss_mib, run_payload

BURST = 64


def burst(send: Callable[[int], requests.Response], count: int = BURST) -> list[requests.Response]:
    """``count`` requests released at the same instant, each on its own connection and thread."""
    gate = threading.Barrier(count)
    answers: list[Any] = [None] * count

    def one(i: int) -> None:
        gate.wait(30)
        try:
            answers[i] = send(i)
        except requests.RequestException as error:
            answers[i] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return answers


def post(project: ProjectAccess, body: bytes) -> requests.Response:
    headers = {"Authorization": f"Bearer {project.ingest_token}", "Content-Type": "application/json"}
    with requests.Session() as session:
        return session.post(f"{project.url}/api/v1/runs", data=body, headers=headers, timeout=60)


@pytest.fixture
def collector_8_threads(start_collector: Callable[..., CollectorProcess]) -> CollectorProcess:
    return start_collector(token_rate_per_s="0")


def verified_project(process: CollectorProcess) -> ProjectAccess:
    """A new project whose ingest token the collector has verified already: these bursts test storage.

    (64 first requests of one token at once share one bcrypt check up to half the server's threads and
    get 429 past that: tests/collector/test_auth.py.)
    """
    project = new_project(process)
    assert post(project, b"{}").status_code == 400  # authenticated, then refused as invalid
    return project


def test_64_concurrent_identical_posts_store_one_run_and_all_succeed(collector_8_threads: CollectorProcess) -> None:
    project = verified_project(collector_8_threads)
    body = run_payload("burst-identical", 300)

    answers = burst(lambda i: post(project, body))

    statuses = collections.Counter(answer.status_code for answer in answers)
    assert statuses == {201: 1, 200: BURST - 1}
    assert all(answer.json()["duplicate"] is (answer.status_code == 200) for answer in answers)
    runs = project.get("/api/v1/runs").json()["runs"]
    assert [(run["run_id"], run["counts"]["total"]) for run in runs] == [("burst-identical", 300)]
    assert partial_runs(collector_8_threads.db) == []


def test_64_concurrent_different_payloads_under_one_run_id_give_one_201_and_63_conflicts(
    collector_8_threads: CollectorProcess,
) -> None:
    project = verified_project(collector_8_threads)
    bodies = [run_payload("burst-conflict", 10 + i, variant=f"leg{i}") for i in range(BURST)]

    answers = burst(lambda i: post(project, bodies[i]))

    statuses = collections.Counter(answer.status_code for answer in answers)
    assert statuses == {201: 1, 409: BURST - 1}
    assert {answer.json()["error"] for answer in answers if answer.status_code == 409} == {"run_id_conflict"}
    winner = next(i for i, answer in enumerate(answers) if answer.status_code == 201)
    stored = project.get("/api/v1/runs/burst-conflict").json()
    sent = json.loads(bodies[winner])["tests"]
    assert sorted((test["id"], test["status"]) for test in stored["tests"]) == sorted(
        (test["id"], test["status"]) for test in sent
    )
    assert stored["counts"] == answers[winner].json()["counts"]
    assert partial_runs(collector_8_threads.db) == []


# --- mixed load ---------------------------------------------------------------------------------

#: long enough for hundreds of requests of every kind, group commits under contention and 503s across
#: processes (a minute proved nothing more and was a quarter of the whole suite's time)
LOAD_SECONDS = 15.0
LOAD_THREADS = 6
#: a bound on the loop whatever the machine's speed
MAX_REQUESTS_PER_THREAD = 20_000


class Load:
    """One client thread's mix: new runs (some gzipped, some large), retries, conflicts, reads and bad input."""

    def __init__(self, index: int, projects: list[ProjectAccess], deadline: float) -> None:
        self.index = index
        self.projects = projects
        self.deadline = deadline
        self.rng = random.Random(index)
        self.session = requests.Session()
        self.statuses: collections.Counter[int] = collections.Counter()
        self.bad: list[str] = []
        self.acknowledged: dict[tuple[str, str], int] = {}
        self.latencies: list[float] = []
        self.sequence = 0

    def run(self) -> None:
        actions = [self.new_run] * 5 + [self.retry] * 2 + [self.conflict, self.list_runs, self.get_run, self.bad_input]
        for _ in range(MAX_REQUESTS_PER_THREAD):
            if time.monotonic() > self.deadline:
                break
            self.rng.choice(actions)()
        self.session.close()

    def send(self, method: str, url: str, token: str, body: bytes | None = None, gzipped: bool = False) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
            if gzipped:
                body = gzip.compress(body, 1)
                headers["Content-Encoding"] = "gzip"
        started = time.perf_counter()
        try:
            response = self.session.request(method, url, data=body, headers=headers, timeout=30)
        except requests.RequestException as error:
            self.bad.append(f"{method} {url}: {type(error).__name__}")
            return None
        self.latencies.append(time.perf_counter() - started)
        self.statuses[response.status_code] += 1
        if response.status_code >= 500 and not (response.status_code == 503 and response.headers.get("Retry-After")):
            self.bad.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
        return response

    def project(self) -> ProjectAccess:
        return self.rng.choice(self.projects)

    def new_run(self) -> None:
        project = self.project()
        self.sequence += 1
        run_id = f"load{self.index}-{self.sequence}"
        tests = self.rng.choice((0, 1, 20, 200, 2000))
        body = run_payload(run_id, tests)
        for _ in range(5):  # like the client: 503 means "not stored, send it again"
            response = self.send("POST", f"{project.url}/api/v1/runs", project.ingest_token, body, gzipped=tests >= 200)
            if response is None or response.status_code != 503:
                break
            time.sleep(float(response.headers["Retry-After"]))
        if response is not None and response.status_code in (200, 201):
            self.acknowledged[(project.slug, run_id)] = tests

    def retry(self) -> None:
        if not self.acknowledged:
            return self.new_run()
        slug, run_id = self.rng.choice(list(self.acknowledged))
        project = next(p for p in self.projects if p.slug == slug)
        response = self.send("POST", f"{project.url}/api/v1/runs", project.ingest_token,
                             run_payload(run_id, self.acknowledged[(slug, run_id)]))
        if response is not None and response.status_code not in (200, 503):
            self.bad.append(f"retry of {run_id}: {response.status_code}")

    def conflict(self) -> None:
        if not self.acknowledged:
            return self.new_run()
        slug, run_id = self.rng.choice(list(self.acknowledged))
        project = next(p for p in self.projects if p.slug == slug)
        body = run_payload(run_id, self.acknowledged[(slug, run_id)] + 1, variant="other")
        response = self.send("POST", f"{project.url}/api/v1/runs", project.ingest_token, body)
        if response is not None and response.status_code not in (409, 503):
            self.bad.append(f"conflict on {run_id}: {response.status_code}")

    def list_runs(self) -> None:
        project = self.project()
        self.send("GET", f"{project.url}/api/v1/runs?limit={self.rng.randint(1, 200)}", project.read_token)

    def get_run(self) -> None:
        if not self.acknowledged:
            return self.list_runs()
        slug, run_id = self.rng.choice(list(self.acknowledged))
        project = next(p for p in self.projects if p.slug == slug)
        response = self.send("GET", f"{project.url}/api/v1/runs/{quote(run_id, safe='')}", project.read_token)
        if response is not None and response.status_code == 200:
            if response.json()["counts"]["total"] != self.acknowledged[(slug, run_id)]:
                self.bad.append(f"{run_id} read back with other counts")

    def bad_input(self) -> None:
        project = self.project()
        url = f"{project.url}/api/v1/runs"
        kind = self.rng.randrange(4)
        if kind == 0:
            self.send("POST", url, project.ingest_token, b'{"run_id": "x", "tests": [{"id": 1}]}')
        elif kind == 1:
            self.send("POST", url, project.ingest_token, b"{not json")
        elif kind == 2:
            self.send("POST", url, "testrun_" + "A" * 12 + "_" + "B" * 49, b"{}")
        else:
            self.send("GET", f"{url}/no-such-run", project.read_token)


@pytest.mark.slow
def test_mixed_load_on_two_processes_answers_no_5xx_but_503_with_retry_after_and_loses_no_run(
    start_collector: Callable[..., CollectorProcess],
) -> None:
    """Six client threads for 15 s against two collector processes sharing one SQLite file.

    Two processes, as two nodes would, so writers also contend for the file's
    lock across processes (where 503 with Retry-After is the answer to a lock
    held past the busy timeout).
    """
    first = start_collector(token_rate_per_s="0")
    second = CollectorProcess(db=first.db, env={"TESTRUN_TOKEN_RATE_PER_S": "0"}).start()
    try:
        first_projects = [new_project(first) for _ in range(3)]
        projects = first_projects + [
            ProjectAccess(second.url, p.slug, p.ingest_token, p.read_token) for p in first_projects
        ]
        deadline = time.monotonic() + LOAD_SECONDS
        loads = [Load(i, projects, deadline) for i in range(LOAD_THREADS)]
        threads = [threading.Thread(target=load.run) for load in loads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(LOAD_SECONDS + 120)
        peaks = [peak_rss_mib(p.process.pid) for p in (first, second) if p.process]
    finally:
        second.stop()

    statuses = sum((load.statuses for load in loads), collections.Counter())
    problems = [problem for load in loads for problem in load.bad]
    assert problems == []
    assert not [status for status in statuses if status >= 500 and status != 503]
    # every kind of request in the mix happened, and many times over
    assert {200, 201, 400, 401, 404, 409} <= set(statuses), statuses
    assert sum(statuses.values()) >= 300, statuses
    acknowledged = {key: tests for load in loads for key, tests in load.acknowledged.items()}
    for project in first_projects:
        stored = {}
        cursor = ""
        for _ in range(1000):
            page = project.get(f"/api/v1/runs?limit=200{cursor}").json()
            stored.update({run["run_id"]: run["counts"]["total"] for run in page["runs"]})
            if not page["next_cursor"]:
                break
            cursor = f"&cursor={page['next_cursor']}"
        expected = {run_id: tests for (slug, run_id), tests in acknowledged.items() if slug == project.slug}
        assert stored == expected
    assert partial_runs(first.db) == []
    latencies = sorted(latency for load in loads for latency in load.latencies)
    print(
        f"\nload: {sum(statuses.values())} requests in {LOAD_SECONDS:.0f} s by {LOAD_THREADS} threads on 2 collector "
        f"processes, statuses {dict(sorted(statuses.items()))}, {len(acknowledged)} runs acknowledged and all stored, "
        f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms, "
        f"peak RSS {', '.join(f'{p:.0f}' for p in peaks)} MiB"
    )
