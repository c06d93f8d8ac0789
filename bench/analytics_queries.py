"""Analytics queries: every analytics endpoint and page over HTTP, a busy project's year at 100,000 vs 1,000,000 results.

Seeded, per scale, into a fresh SQLite file through the store's own write
path (``Store.insert_run`` of payloads built by ``validate_run``, so the
rollups are kept exactly as at ingest): a year of one project, runs spread
evenly over the last 365 UTC days up to now, 100 tests each from a pool of
150 (60 run every time, the other 40 rotate); about 70% of runs on ``main``,
the rest on feature branches that change every few days; a new commit every
few runs per branch, so most commits run more than once; 2% of the tests
flaky (a retried pass, ``attempts: 2, flaky: true``, or a plain failure on a
commit where they also pass), two that fail whenever they run (they
rotate, so not every run fails), two always skipped, rare failures
elsewhere, lognormal durations per test, one test slowing down over the
year. The large scale is 10,000 runs (1,000,000 results), the small one
1,000 runs (100,000 results), same shape.

Timed, against a real collector process per scale (``testrun serve`` on the
seeded file; both scales' collectors run side by side), from sending a GET on
a kept-alive connection to reading the whole answer:

- the read API with a ``read`` token: ``/api/v1/analytics/{summary,flaky,
  slowest,failing}`` for the default window (14 days) and a year (365 days),
  each without and with ``branch=main``, ``limit=50``; and
  ``/api/v1/tests/history`` of a test that runs in every run (``limit=50``);
- the web pages, signed in through the sign-in form (its cookie kept):
  the overview, flaky, slowest and failing pages for 14 and 365 days, the
  runs list, the newest run, the test page of the same busy test. Pages are
  skipped with a note when the collector does not serve ``/ui/`` (or a page
  does not answer 200), so the API figures stand on their own.

One untimed pass over everything first (it checks each answer); then every
request in turn, both scales interleaved (A@small A@large B@small ...), each
repetition; median milliseconds per request and scale.

Targets (SQLite): the slowest request at 1,000,000 results answers in
<= 300 ms (median), and no request takes more than 12x as long at 1,000,000
results as at 100,000. Also printed: how fast the store took the seeded runs
(results/s of ``insert_run``). ``--db postgresql://...`` also seeds both
scales into that database (two projects of a new org: use a scratch
database), runs ``ANALYZE`` as autovacuum would have by then, and reports
the same table for PostgreSQL, unchecked.

    python bench/analytics_queries.py [--runs 10000] [--reps 5] [--db postgresql://...]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import math
import random
import re
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchlib import (
    Check,
    ServerProcess,
    address_of,
    admin,
    child_env,
    common_arguments,
    median,
    print_header,
    ratio,
    table,
    verdict,
    work_dir,
)

TARGET_MS = 300.0
TARGET_GROWTH = 12.0
#: the small scale has this many times fewer runs than the large one
SCALE_FACTOR = 10
LIMIT = 50
SERVER_ENV = {"TESTRUN_BCRYPT_ROUNDS": "12", "TESTRUN_TOKEN_RATE_PER_S": "0", "TESTRUN_PORT": "0"}
COOKIE = re.compile(r"(testrun_session=[^;]*)")


# --- the seeded year ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    """How much a scale holds: ``runs`` over ``days``, ``tests_per_run`` each from a pool of ``pool``."""

    runs: int
    tests_per_run: int
    pool: int
    days: int = 365

    @property
    def results(self) -> int:
        return self.runs * self.tests_per_run


@dataclass(frozen=True)
class Trait:
    """How one test behaves over the year."""

    test_id: str
    kind: str  # normal, flaky, failing, skipped, slower
    mu: float  # log of the median duration in ms
    sigma: float


def test_ids(pool: int) -> list[str]:
    return [f"tests/test_mod_{i // 10:02d}.py::test_case[param-{i % 10}]" for i in range(pool)]


def traits(shape: Shape, rng: random.Random) -> tuple[list[Trait], list[Trait]]:
    """The tests that run every time (the first) and the ones that rotate (the second).

    The busy test, the first of the first list, is a normal test: its history is what is timed.
    """
    ids = test_ids(shape.pool)
    core_size = max(7, round(shape.tests_per_run * 0.6)) if shape.pool > shape.tests_per_run else shape.pool
    kinds = ["normal"] * shape.pool
    flaky = max(1, round(shape.pool * 0.02))
    steady = rng.sample(range(1, core_size), flaky + 3)
    for index, kind in zip(steady, ["flaky"] * flaky + ["skipped", "skipped", "slower"]):
        kinds[index] = kind
    # the always-failing tests rotate side by side (unless nothing rotates), so most runs without them pass
    others = list(range(core_size, shape.pool))
    if not others:
        others = [i for i in range(1, core_size) if i not in steady]
    first = rng.randrange(len(others))
    for index in {others[first], others[(first + 1) % len(others)]}:
        kinds[index] = "failing"
    every = [
        Trait(test_id, kind, rng.uniform(math.log(0.5), math.log(2000.0)), rng.uniform(0.15, 0.6))
        for test_id, kind in zip(ids, kinds)
    ]
    return every[:core_size], every[core_size:]


def _result(trait: Trait, rng: random.Random, progress: float) -> dict[str, Any]:
    """One test's result in a run ``progress`` (0 to 1) of the way through the year."""
    module, name = trait.test_id.split("::")
    duration = rng.lognormvariate(trait.mu, trait.sigma)
    result: dict[str, Any] = {"id": trait.test_id, "name": name, "suite": module, "file": module, "status": "passed"}
    kind = trait.kind
    if kind == "slower":
        duration *= 1 + 4 * progress
    if kind == "skipped":
        result.update(status="skipped", message="needs the GPU runner")
        duration = 0.0
    elif kind == "failing":
        details = f"def {name.split('[')[0]}():\n>       assert response.status == 200\nE       assert 500 == 200"
        result.update(status="failed", message="AssertionError: expected 200, got 500", details=details)
    elif kind == "flaky":
        draw = rng.random()
        if draw < 0.05:
            result.update(attempts=2, flaky=True)
        elif draw < 0.10:
            result.update(status="failed", message="TimeoutError: the worker did not answer in 5 s")
    elif rng.random() < 0.001:
        result.update(status="failed", message="AssertionError: assert 41 == 42")
    result["duration_ms"] = round(duration, 3)
    return result


def run_bodies(shape: Shape, *, seed: int, now: datetime | None = None) -> Iterator[dict[str, Any]]:
    """The year's runs, oldest first, as a reporter would send them (``POST /api/v1/runs`` bodies)."""
    rng = random.Random(seed)
    core, rotating = traits(shape, rng)
    rotating_count = shape.tests_per_run - len(core)
    now = now or datetime.now(timezone.utc)
    first = datetime.combine(now.date() - timedelta(days=shape.days - 1), datetime.min.time(), timezone.utc)
    span = (now - timedelta(minutes=5) - first).total_seconds()
    commits: dict[str, str] = {}
    made = 0
    tag = uuid.uuid4().hex[:6]
    branch = "main"
    for i in range(shape.runs):
        progress = (i + rng.random() * 0.9) / shape.runs
        started = first + timedelta(seconds=span * progress)
        day = (started - first).days
        attempt = 2 if i and rng.random() < 0.05 else 1  # a retry of the run before: same branch and commit
        if attempt == 1:
            branch = "main" if rng.random() < 0.7 else f"feature/topic-{(day // 4) * 3 + rng.randrange(3)}"
        if branch not in commits or (attempt == 1 and rng.random() < 0.35):
            made += 1
            commits[branch] = hashlib.sha1(f"{seed}-{branch}-{made}".encode()).hexdigest()
        offset = (i * 7) % len(rotating) if rotating else 0
        chosen = core + [rotating[(offset + k) % len(rotating)] for k in range(max(0, rotating_count))]
        tests = [_result(trait, rng, progress) for trait in chosen]
        yield {
            "run_id": f"run-{i:06d}-{tag}",
            "started_at": started.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "duration_ms": round(sum(test["duration_ms"] for test in tests) * 0.6 + 4000, 3),
            "ci": {"provider": "github", "pipeline_id": str(10_000 + i - attempt + 1),
                   "job": rng.choice(["test-py312", "test-py313"]), "attempt": attempt},
            "vcs": {"repository": "acme/web", "commit": commits[branch], "branch": branch},
            "reporter": {"name": "pytest-testrun-reporter", "version": "0.1.0"},
            "tests": tests,
        }


@dataclass
class Seeded:
    """A scale seeded into a database: where, for which project, what to ask for."""

    label: str
    shape: Shape
    db: str
    slug: str
    busy_test: str
    newest_run: str
    insert_s: float
    build_s: float
    token: str = ""

    @property
    def results_per_s(self) -> float:
        return self.shape.results / self.insert_s if self.insert_s else math.nan


def seed(db: str, org: str, project_name: str, label: str, shape: Shape, *, seed_value: int) -> Seeded:
    """Create the project and store the year through ``Store.insert_run``; time the inserts alone."""
    from collector.errors import AlreadyExists
    from collector.store import open_store
    from collector.validation import validate_run

    store = open_store(db)
    try:
        store.migrate()
        try:
            store.create_org(org)
        except AlreadyExists:  # the other scale's project is in it
            pass
        project = store.create_project(org, project_name)
        insert_s = build_s = 0.0
        busy = newest = ""
        for body in run_bodies(shape, seed=seed_value):
            started = time.perf_counter()
            run = validate_run(body, max_tests=shape.tests_per_run)
            middle = time.perf_counter()
            outcome = store.insert_run(project, run, run.started_at or "")
            insert_s += time.perf_counter() - middle
            build_s += middle - started
            if outcome.outcome != "created":
                raise SystemExit(f"seeding {label}: run {run.run_id} was {outcome.outcome}")
            busy, newest = busy or run.tests[0].id, run.run_id
    finally:
        store.close()
    return Seeded(label, shape, db, f"{org}/{project_name}", busy, newest, insert_s, build_s)


def scale_label(results: int) -> str:
    if results >= 1_000_000 and results % 1_000_000 == 0:
        return f"{results // 1_000_000}M"
    if results >= 1_000 and results % 1_000 == 0:
        return f"{results // 1_000}k"
    return str(results)


# --- what is asked -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One request: the read API (bearer token) or a page (session cookie)."""

    name: str
    kind: str  # api or page
    path: str  # may hold {test} and {run}

    def url(self, seeded: Seeded) -> str:
        return self.path.format(test=urllib.parse.quote(seeded.busy_test, safe=""),
                                run=urllib.parse.quote(seeded.newest_run, safe=""))


def requests_to_time() -> list[Request]:
    wanted = []
    for days in (14, 365):
        for branch in (None, "main"):
            for name in ("summary", "flaky", "slowest", "failing"):
                query = f"days={days}" + (f"&branch={branch}" if branch else "")
                query += "" if name == "summary" else f"&limit={LIMIT}"
                label = f"api {name} {days}d" + (f" {branch}" if branch else "")
                wanted.append(Request(label, "api", f"/api/v1/analytics/{name}?{query}"))
    wanted.append(Request("api history", "api", f"/api/v1/tests/history?test_id={{test}}&limit={LIMIT}"))
    for days in (14, 365):
        wanted.append(Request(f"page overview {days}d", "page", f"/ui/?days={days}"))
        for name in ("flaky", "slowest", "failing"):
            wanted.append(Request(f"page {name} {days}d", "page", f"/ui/{name}?days={days}"))
    wanted.append(Request("page runs", "page", "/ui/runs"))
    wanted.append(Request("page run", "page", "/ui/runs/{run}"))
    wanted.append(Request("page test", "page", "/ui/tests?test_id={test}"))
    return wanted


@dataclass
class Client:
    """GETs on one kept-alive connection, with the bearer token (API) or the session cookie (pages)."""

    url: str
    token: str
    cookie: str | None = None
    conn: http.client.HTTPConnection | None = field(default=None, repr=False)

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(*address_of(self.url), timeout=120)
        return self.conn

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes, float, http.client.HTTPResponse]:
        conn = self._connection()
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            self.conn = None
            raise
        took = time.perf_counter() - started
        if response.will_close:
            conn.close()
            self.conn = None
        return response.status, data, took, response

    def get(self, request: Request, path: str) -> tuple[int, bytes, float]:
        headers = {"Authorization": f"Bearer {self.token}"} if request.kind == "api" else {"Cookie": self.cookie or ""}
        status, data, took, _ = self.request("GET", path, headers=headers)
        return status, data, took

    def sign_in(self) -> int:
        """POST the token to the sign-in form; keep the session cookie. The status of the answer."""
        form = urllib.parse.urlencode({"token": self.token, "next": "/ui/"}).encode()
        status, _, _, response = self.request(
            "POST", "/ui/signin", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        found = COOKIE.search(response.getheader("Set-Cookie") or "")
        if status in (302, 303) and found:
            self.cookie = found.group(1)
        return status

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def check_everything(clients: dict[str, Client], scales: Sequence[Seeded], wanted: list[Request],
                     note: list[str]) -> list[Request]:
    """The untimed pass: sign in, ask everything once; the requests that answered 200 at every scale."""
    pages = True
    for seeded in scales:
        status = clients[seeded.label].sign_in()
        if clients[seeded.label].cookie is None:
            pages = False
            note.append(f"pages skipped: POST /ui/signin answered {status} without a session cookie"
                        + (" (this collector serves no /ui/)" if status == 404 else ""))
            break
    kept = []
    for request in wanted:
        if request.kind == "page" and not pages:
            continue
        answers = {seeded.label: clients[seeded.label].get(request, request.url(seeded)) for seeded in scales}
        bad = {label: (status, body) for label, (status, body, _) in answers.items() if status != 200}
        if not bad:
            kept.append(request)
            continue
        label, (status, body) = next(iter(bad.items()))
        if request.kind == "api":
            raise SystemExit(f"{request.name} at {label}: the collector answered {status}: {body[:300]!r}")
        note.append(f"{request.name} skipped: answered {status} at {label}")
    return kept


def time_requests(clients: dict[str, Client], scales: Sequence[Seeded], wanted: list[Request],
                  reps: int) -> dict[str, dict[str, list[float]]]:
    """Milliseconds per request name and scale, every repetition; scales interleaved within each request."""
    times: dict[str, dict[str, list[float]]] = {request.name: {s.label: [] for s in scales} for request in wanted}
    for rep in range(reps):
        for request in wanted:
            for seeded in scales:
                status, body, took = clients[seeded.label].get(request, request.url(seeded))
                if status != 200:
                    raise SystemExit(f"{request.name} at {seeded.label}: the collector answered {status}: "
                                     f"{body[:300]!r}")
                times[request.name][seeded.label].append(took * 1000)
        print(f"   rep {rep + 1}: {len(wanted) * len(scales)} requests", flush=True)
    return times


# --- one backend: seed, serve, time ------------------------------------------------------------------
@dataclass
class Measured:
    backend: str
    scales: list[Seeded]
    times: dict[str, dict[str, list[float]]]
    notes: list[str]

    def p50(self, name: str, label: str) -> float:
        return median(self.times[name][label])


def serve_and_time(backend: str, scales: list[Seeded], servers: dict[str, str], workdir: Path,
                   reps: int) -> Measured:
    """Mint a read token per scale, start the collectors, check and time everything."""
    env = child_env(**SERVER_ENV)
    for seeded in scales:
        seeded.token = str(admin(seeded.db, "token", "create", seeded.slug, "--scope", "read", env=env)["token"])
    started: dict[str, ServerProcess] = {}
    try:
        for db, name in servers.items():
            started[db] = ServerProcess([sys.executable, "-m", "collector.cli", "serve", "--db", db], env=env,
                                        log=workdir / f"collector-{name}.log").start()
        clients = {s.label: Client(started[s.db].url, s.token) for s in scales}
        notes: list[str] = []
        wanted = check_everything(clients, scales, requests_to_time(), notes)
        for line in notes:
            print(f"   ({backend}) {line}", flush=True)
        times = time_requests(clients, scales, wanted, reps)
        for client in clients.values():
            client.close()
    finally:
        for server in started.values():
            server.stop()
    return Measured(backend, scales, times, notes)


def report(measured: Measured) -> tuple[float, str, float, str]:
    """Print the table of one backend; (worst ms at the large scale, which, worst growth, which)."""
    small, large = measured.scales
    rows = []
    worst, worst_name, growth, growth_name = -math.inf, "", -math.inf, ""
    for name in measured.times:
        low, high = measured.p50(name, small.label), measured.p50(name, large.label)
        grew = ratio(high, low)
        if high > worst:
            worst, worst_name = high, name
        if grew is not None and grew > growth:
            growth, growth_name = grew, name
        rows.append([name, f"{low:.1f}", f"{high:.1f}", "n/a" if grew is None else f"{grew:.2f}",
                     " ".join(f"{v:.0f}" for v in measured.times[name][large.label])])
    print(f"   {measured.backend}: median ms per request, {small.label} vs {large.label} results")
    headers = ["request", f"{small.label} ms", f"{large.label} ms", "growth", f"each repetition at {large.label}"]
    print(table(headers, rows))
    print(f"   {measured.backend}: slowest at {large.label}: {worst_name} {worst:.1f} ms; "
          f"largest growth: {growth_name} {growth:.2f}x")
    return worst, worst_name, growth, growth_name


def print_seeding(backend: str, scales: Sequence[Seeded]) -> None:
    rows = [
        [s.label, f"{s.shape.runs:,}", f"{s.shape.results:,}", f"{s.insert_s:.1f}", f"{s.results_per_s:,.0f}",
         f"{s.shape.runs / s.insert_s:,.0f}", f"{s.build_s:.1f}"]
        for s in scales
    ]
    print(f"   {backend}: seeding through Store.insert_run (one transaction per run; validate_run timed apart)")
    print(table(["scale", "runs", "results", "insert s", "results/s", "runs/s", "validate s"], rows))
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--runs", type=int, help="runs at the large scale (default 10000; smoke 50); the small: 1/10")
    parser.add_argument("--tests", type=int, help="tests per run (default 100; smoke 20)")
    parser.add_argument("--pool", type=int, help="distinct tests (default 150; smoke 30)")
    parser.add_argument("--db", help="also seed and measure this PostgreSQL database (postgresql://...), unchecked")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.smoke else 5)
    runs = args.runs or (50 if args.smoke else 10_000)
    tests = args.tests or (20 if args.smoke else 100)
    pool = args.pool or (30 if args.smoke else 150)
    if runs < SCALE_FACTOR or pool < tests:
        parser.error(f"--runs must be at least {SCALE_FACTOR} and --pool at least --tests")
    shapes = [Shape(runs // SCALE_FACTOR, tests, pool), Shape(runs, tests, pool)]
    labels = [scale_label(shape.results) for shape in shapes]

    print_header(
        f"analytics queries: every analytics endpoint and page over HTTP, {labels[0]} vs {labels[1]} results",
        f"""a year of one project per scale: {shapes[0].runs:,} and {shapes[1].runs:,} runs of {tests} tests from a pool
        of {pool}, seeded through Store.insert_run; one collector per scale, side by side; a kept-alive GET per request,
        send to last byte; one untimed pass, then {reps} repetitions, scales interleaved; median ms per request.""",
    )
    with work_dir("analytics-queries", keep=args.keep) as workdir:
        scales = []
        for index, (shape, label) in enumerate(zip(shapes, labels)):
            db = str(workdir / f"{label}.sqlite3")
            scales.append(seed(db, "bench", "app", label, shape, seed_value=index + 1))
        print_seeding("SQLite", scales)
        sqlite = serve_and_time("SQLite", scales, {s.db: s.label for s in scales}, workdir, reps)
        postgres = measure_postgres(args.db, shapes, labels, workdir, reps) if args.db else None

    worst, worst_name, growth, growth_name = report(sqlite)
    figures: dict[str, Any] = {
        "scales": {s.label: {"runs": s.shape.runs, "results": s.shape.results, "insert_s": s.insert_s,
                             "results_per_s": s.results_per_s} for s in scales},
        "p50_ms": {name: {label: median(values) for label, values in by.items()} for name, by in sqlite.times.items()},
        "worst": worst_name,
        "largest_growth": growth_name,
        "notes": sqlite.notes,
    }
    if postgres is not None:
        report(postgres)
        figures["postgres"] = {
            "scales": {s.label: {"insert_s": s.insert_s, "results_per_s": s.results_per_s} for s in postgres.scales},
            "p50_ms": {name: {label: median(v) for label, v in by.items()} for name, by in postgres.times.items()},
        }
    checks = [
        Check("worst_ms", worst if sqlite.times else None, "<=", TARGET_MS),
        Check("growth", growth if sqlite.times else None, "<=", TARGET_GROWTH),
    ]
    return verdict("analytics_queries", checks, smoke=args.smoke, results=figures, json_out=args.json_out)


def analyze(url: str) -> None:
    """Refresh the planner's statistics after the bulk load, as autovacuum would have (a server may run without it)."""
    import psycopg

    from collector.store import parse_database_url

    with psycopg.connect(parse_database_url(url).dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")


def measure_postgres(url: str, shapes: Sequence[Shape], labels: Sequence[str], workdir: Path,
                     reps: int) -> Measured | None:
    """Both scales as two projects of a new org in the PostgreSQL database, when this version can open it."""
    try:
        from collector.store import open_store

        open_store(url).close()
    except Exception as error:  # noqa: BLE001 - whatever the reason, it is not measurable here: say why, go on
        print(f"   PostgreSQL is not available ({type(error).__name__}: {error}); not measured", flush=True)
        return None
    org = f"bench{uuid.uuid4().hex[:8]}"
    scales = [seed(url, org, f"app{label.lower()}", label, shape, seed_value=index + 1)
              for index, (shape, label) in enumerate(zip(shapes, labels))]
    print_seeding("PostgreSQL", scales)
    analyze(url)
    return serve_and_time("PostgreSQL", scales, {url: "postgres"}, workdir, reps)


if __name__ == "__main__":
    sys.exit(main())
