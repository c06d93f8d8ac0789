"""What every benchmark shares: the machine record, repetitions, the verdict line, processes and payloads.

Each benchmark runs its variants interleaved (A B C A B C ...) so that the
drift of a shared, noisy machine hits every variant alike, takes the median
of the repetitions, and compares variants only within one run: absolute
times are not comparable between runs here, ratios are.

The last line a benchmark prints is its verdict, in one fixed format::

    RATIO <benchmark> <name>=<value> (target <op> <limit>) [<name>=<value> (target <op> <limit>) ...] <OK|MISS|UNCHECKED>

The first pair is the headline ratio; the others are the benchmark's further
targets. ``MISS`` (exit status 1) when any target is missed, ``UNCHECKED``
(exit status 0) under ``--smoke``, which runs at a tiny size only to prove the
script still works.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
#: kept between runs: the other reporter's install, bytecode caches; per-run directories live under it too
WORK_ROOT = BENCH_DIR / ".work"
RATIO_LINE = re.compile(
    r"^RATIO (?P<benchmark>[a-z_]+)(?P<pairs>( [^ =]+=\S+ \(target (<=|>=|<|>) [0-9.]+\))+) (?P<verdict>OK|MISS|UNCHECKED)$"
)
LISTENING = re.compile(r"listening on (http://[^\s\"]+)")


# --- the machine and the verdict ------------------------------------------------------------------
def machine() -> dict[str, str]:
    """What the README's table records next to the figures."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "system": f"{platform.system()} {platform.release()}",
    }


def print_header(title: str, method: str) -> None:
    info = machine()
    print(f"== {title}")
    print(
        f"   {info['date']}; {info['cores']} cores, {info['cpu']}; Python {info['python']}, "
        f"SQLite {info['sqlite']}; {info['system']}"
    )
    for line in method.strip().splitlines():
        print(f"   {line.strip()}")
    sys.stdout.flush()


@dataclass(frozen=True)
class Check:
    """One target: ``value op limit``, e.g. testrun/plain 1.018 <= 1.03."""

    name: str
    value: float | None
    op: str
    limit: float

    @property
    def met(self) -> bool:
        if self.value is None or math.isnan(self.value):
            return False
        return {
            "<=": self.value <= self.limit,
            ">=": self.value >= self.limit,
            "<": self.value < self.limit,
            ">": self.value > self.limit,
        }[self.op]

    def render(self) -> str:
        shown = "n/a" if self.value is None else f"{self.value:.4g}" if self.value < 10 else f"{self.value:.1f}"
        return f"{self.name}={shown} (target {self.op} {self.limit:g})"


def verdict(benchmark: str, checks: Sequence[Check], *, smoke: bool, results: Mapping[str, Any] | None = None,
            json_out: Path | None = None) -> int:
    """Print the verdict line last and return the exit status (see the module docstring)."""
    missed = [check for check in checks if not check.met]
    word = "UNCHECKED" if smoke else "MISS" if missed else "OK"
    if json_out is not None:
        record = {
            "benchmark": benchmark,
            "machine": machine(),
            "smoke": smoke,
            "checks": [{**check.__dict__, "met": check.met} for check in checks],
            "results": results or {},
            "verdict": word,
        }
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(record, indent=2) + "\n")
    for check in missed:
        if not smoke:
            print(f"missed: {check.render()}")
    print(f"RATIO {benchmark} " + " ".join(check.render() for check in checks) + f" {word}", flush=True)
    return 1 if word == "MISS" else 0


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition, no target check")
    parser.add_argument("--reps", type=int, help="repetitions of every variant (default: the benchmark's own)")
    parser.add_argument("--json-out", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (its path is printed)")


# --- numbers --------------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator; None (shown as n/a, a missed target) when there is nothing to divide by."""
    if not denominator or math.isnan(denominator) or math.isnan(numerator):
        return None
    return numerator / denominator


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join("   " + line for line in lines)


def interleaved(variants: Sequence[str], reps: int) -> Iterator[tuple[int, str]]:
    """(repetition, variant) in the order A B C A B C ..."""
    for rep in range(reps):
        for variant in variants:
            yield rep, variant


# --- work directories and subprocesses -------------------------------------------------------------
@contextmanager
def work_dir(name: str, *, keep: bool) -> Iterator[Path]:
    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=WORK_ROOT))
    try:
        yield path
    finally:
        if keep:
            print(f"(work directory kept: {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


#: variables that make a client believe it runs in CI, or configure it
_CLIENT_PREFIXES = (
    "TESTRUN_", "GITHUB_", "GITLAB_", "CI_", "CIRCLE", "BUILDKITE", "TRAVIS", "JENKINS", "APPVEYOR", "DRONE",
    "CODEBUILD_", "SEMAPHORE", "BITBUCKET_", "TF_BUILD", "SYSTEM_", "BUILD_", "TEAMCITY", "WOODPECKER",
    "PYTEST_", "PYTHON", "BUILDKITE_ANALYTICS",
)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for measured children: no CI identity, no client settings, bytecode cached.

    Bytecode goes to a cache of the bench's own (PYTHONPYCACHEPREFIX), so it is
    written once and no run pays for compiling what another run compiled.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name != "CI" and not name.startswith(_CLIENT_PREFIXES)
    }
    env["PYTHONPYCACHEPREFIX"] = str(WORK_ROOT / "pycache")
    env.update(extra)
    return env


@dataclass(frozen=True)
class Measured:
    seconds: float
    max_rss_kb: int
    returncode: int
    #: user + system CPU time of the process: what it did itself, less sensitive than wall time to a busy machine
    cpu_seconds: float = 0.0


def run_measured(command: Sequence[str], *, env: Mapping[str, str], cwd: Path, output: Path) -> Measured:
    """Run a command to completion: wall time, its peak resident memory (Linux: KiB), exit status, CPU time."""
    with output.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(list(command), env=dict(env), cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(seconds, int(usage.ru_maxrss), process.returncode, usage.ru_utime + usage.ru_stime)


@dataclass
class ServerProcess:
    """A server started as a child process that logs ``listening on URL`` on stderr (to a file)."""

    command: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path = REPO
    url: str = ""
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self._sink = self.log.open("wb")
        self.process = subprocess.Popen(
            self.command, env=self.env, cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=self._sink
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log.read_text(errors="replace"))
            if match:
                self.url = match.group(1)
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{' '.join(self.command)} did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if getattr(self, "_sink", None) is not None:
            self._sink.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- a real collector ------------------------------------------------------------------------------
def admin(db: str, *args: str, env: Mapping[str, str] | None = None) -> Any:
    """``testrun-admin --db DB ARGS... --json``, as an operator would run it; its JSON answer."""
    result = subprocess.run(
        [sys.executable, "-m", "collector.admin", "--db", db, *args, "--json"],
        check=False,
        capture_output=True,
        text=True,
        env=dict(env or child_env()),
        cwd=REPO,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"testrun-admin {' '.join(args)} failed: {result.stderr.strip()}")
    return json.loads(result.stdout) if result.stdout.strip() else None


@dataclass
class Collector:
    """A collector on a fresh database: migrated, one org/project, an ingest token (bcrypt cost 12)."""

    workdir: Path
    db: str = ""
    env: dict[str, str] = field(default_factory=dict)
    token: str = ""
    server: ServerProcess | None = None

    def start(self, *, scopes: Sequence[str] = ("ingest",)) -> Collector:
        self.db = self.db or str(self.workdir / "collector.sqlite3")
        env = child_env(TESTRUN_BCRYPT_ROUNDS="12", TESTRUN_TOKEN_RATE_PER_S="0", TESTRUN_PORT="0", **self.env)
        admin(self.db, "migrate", env=env)
        admin(self.db, "org", "create", "bench", env=env)
        admin(self.db, "project", "create", "bench", "app", env=env)
        self.token = self.new_token(scopes)
        self.server = ServerProcess(
            [sys.executable, "-m", "collector.cli", "serve", "--db", self.db],
            env=env,
            log=self.workdir / "collector.log",
        ).start()
        return self

    def new_token(self, scopes: Sequence[str] = ("ingest",)) -> str:
        env = child_env(TESTRUN_BCRYPT_ROUNDS="12")
        args = [arg for scope in scopes for arg in ("--scope", scope)]
        return str(admin(self.db, "token", "create", "bench/app", *args, env=env)["token"])

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count_runs(self) -> int:
        with sqlite3.connect(self.db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


def address_of(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def post(address: tuple[str, int], path: str, body: bytes, headers: Mapping[str, str],
         conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes, float]:
    """One POST on a (kept-alive) connection: status, body, seconds from send to the full answer."""
    own = conn is None
    conn = conn or http.client.HTTPConnection(*address, timeout=300)
    try:
        started = time.perf_counter()
        conn.request("POST", path, body=body, headers=dict(headers))
        response = conn.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - started
    finally:
        if own:
            conn.close()


# --- payloads --------------------------------------------------------------------------------------
RUN_ID_PLACEHOLDER = "@RUN_ID@"


def seed_run(run_id: str) -> dict[str, Any]:
    """A seed-size run, as the README's curl walk-through sends: run metadata and three tests."""
    return {
        "run_id": run_id,
        "started_at": "2026-01-12T10:00:00Z",
        "duration_ms": 5000,
        "ci": {"provider": "github", "pipeline_id": "9127", "job": "test", "attempt": 1},
        "vcs": {"repository": "acme/web", "commit": "3f2a9c1", "branch": "main"},
        "reporter": {"name": "pytest-testrun-reporter", "version": "0.1.0"},
        "tests": [
            {"id": "tests/test_x.py::test_a", "status": "passed", "duration_ms": 1.5},
            {"id": "tests/test_x.py::test_b", "status": "failed", "message": "AssertionError: 1 != 2"},
            {"id": "tests/test_x.py::test_c", "status": "skipped", "message": "needs linux"},
        ],
    }


def seed_template() -> str:
    """The seed run as compact JSON with a placeholder where each request puts its own run_id."""
    return json.dumps(seed_run(RUN_ID_PLACEHOLDER), separators=(",", ":"))


def big_run(run_id: str, tests: int) -> dict[str, Any]:
    """A run shaped like a large pytest suite: 1% failed with a traceback, 2% skipped, the rest passed."""
    results = []
    for i in range(tests):
        module = f"tests/unit/test_module_{i // 500:03d}.py"
        name = f"test_behaviour_{(i // 50) % 10}[case-{i % 50}-{i}]"
        test: dict[str, Any] = {
            "id": f"{module}::{name}",
            "name": name,
            "suite": module,
            "file": module,
            "line": 10 + (i % 500),
            "status": "passed",
            "duration_ms": round(0.1 + (i % 97) * 0.37, 3),
        }
        if i % 100 == 13:
            test["status"] = "failed"
            test["message"] = f"AssertionError: assert {i} == {i + 1}"
            test["details"] = (
                f"def {name.split('[')[0]}(case):\n>       assert compute(case) == expected(case)\n"
                f"E       AssertionError: assert {i} == {i + 1}\n\n{module}:{10 + i % 500}: AssertionError"
            )
        elif i % 50 == 7:
            test["status"] = "skipped"
            test["message"] = "needs the GPU runner"
        results.append(test)
    return {
        "run_id": run_id,
        "started_at": "2026-01-12T10:00:00Z",
        "duration_ms": 600000,
        "ci": {"provider": "github", "pipeline_id": "9127", "job": "test", "attempt": 1},
        "vcs": {"repository": "acme/web", "commit": "3f2a9c1", "branch": "main"},
        "reporter": {"name": "pytest-testrun-reporter", "version": "0.1.0"},
        "tests": results,
    }


# --- load generators -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Load:
    """What one load run measured."""

    generator: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else math.nan


def wrk_path(*, install: bool) -> str | None:
    """wrk, installed from Debian's packages when missing and allowed; None when it cannot be had."""
    found = shutil.which("wrk")
    if found or not install or not shutil.which("apt-get") or os.geteuid() != 0:
        return found
    print("   (installing wrk from Debian's packages)", flush=True)
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        if subprocess.run(command, check=False, capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                          timeout=600).returncode != 0:
            return None
    return shutil.which("wrk")


def run_wrk(wrk: str, url: str, path: str, *, template: str, token: str, seconds: float, connections: int,
            threads: int, prefix: str) -> Load:
    """wrk with bench/wrk_post.lua: every request POSTs the template with a run_id of its own."""
    env = {**os.environ, "BENCH_BODY": template, "BENCH_TOKEN": token, "BENCH_PATH": path}
    command = [
        wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "60s",
        "-s", str(BENCH_DIR / "wrk_post.lua"), url, "--", prefix,
    ]
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=seconds + 120)
    match = re.search(r"^WRK_RESULT (\{.*\})$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    data = json.loads(match.group(1))
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Load("wrk", data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1000, data["p99_us"] / 1000, errors)


def _python_client(job: tuple[str, int, str, str, str, str, float]) -> tuple[int, int, float, list[float]]:
    host, port, path, template, token, prefix, seconds = job
    before, after = template.split(RUN_ID_PLACEHOLDER)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection(host, port, timeout=120)
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + seconds
    count = 0
    while time.perf_counter() < deadline:
        count += 1
        status, _, took = post((host, port), path, f"{before}{prefix}{count}{after}".encode(), headers, conn)
        latencies.append(took)
        if status >= 300:
            errors += 1
    elapsed = time.perf_counter() - started
    conn.close()
    return count, errors, elapsed, latencies


def run_python_load(address: tuple[str, int], path: str, *, template: str, token: str, seconds: float,
                    connections: int, prefix: str) -> Load:
    """The fallback: one process per keep-alive connection (http.client), so the GIL is not the limit."""
    jobs = [(*address, path, template, token, f"{prefix}-p{i}-", seconds) for i in range(connections)]
    with multiprocessing.get_context("fork").Pool(connections) as pool:
        parts = pool.map(_python_client, jobs)
    latencies = [took for part in parts for took in part[3]]
    return Load(
        "python",
        sum(part[0] for part in parts),
        max(part[2] for part in parts),
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
        sum(part[1] for part in parts),
    )


def load_runner(choice: str, *, install: bool) -> tuple[str, Callable[..., Load]]:
    """The load generator to use: wrk when it is (or can be) there, else the multi-process Python client."""
    wrk = wrk_path(install=install) if choice in ("auto", "wrk") else None
    if choice == "wrk" and wrk is None:
        raise SystemExit("wrk is not installed and could not be installed (use --load-generator python)")
    if wrk is not None:

        def with_wrk(url: str, path: str, *, template: str, token: str, seconds: float, connections: int,
                     prefix: str) -> Load:
            return run_wrk(wrk, url, path, template=template, token=token, seconds=seconds,
                           connections=connections, threads=min(2, connections), prefix=prefix)

        return "wrk", with_wrk

    def with_python(url: str, path: str, *, template: str, token: str, seconds: float, connections: int,
                    prefix: str) -> Load:
        return run_python_load(address_of(url), path, template=template,
                               token=token, seconds=seconds, connections=connections, prefix=prefix)

    return "python", with_python


# --- the collector's schema, without the collector ---------------------------------------------------
def fresh_database(path: Path) -> int:
    """A new SQLite file with the collector's schema (its own migrations) and one project; that project's id."""
    from collector.store.sqlite import SQLiteStore

    store = SQLiteStore(str(path))
    try:
        store.migrate()
        store.create_org("bench")
        return store.create_project("bench", "app").id
    finally:
        store.close()


def raw_connection(path: Path, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """A plain sqlite3 connection with the collector's pragmas (WAL, foreign keys), autocommit mode."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def raw_statements(project_id: int, run: Any, run_pk: int | None = None) -> tuple[str, dict[str, Any], str]:
    """The runs row and the test_results INSERT, written with the store's own column helpers."""
    from collector.store.records import RESULT_COLUMNS, run_params

    params = run_params(project_id, run, run.started_at or "2026-01-12T10:00:00Z", "2026-01-12T10:00:01Z")
    if run_pk is not None:
        params["id"] = run_pk
    insert_run = f"INSERT INTO runs ({', '.join(params)}) VALUES ({', '.join(':' + name for name in params)})"
    columns = ("run_pk", *RESULT_COLUMNS)
    insert_results = f"INSERT INTO test_results ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    return insert_run, params, insert_results
