from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collector_harness import CollectorProcess, ProjectAccess, admin, admin_json, new_project

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """One real collector for the session; tests isolate themselves with a project each."""
    db = tmp_path_factory.mktemp("collector") / "testrun.sqlite3"
    assert admin(db, "migrate").returncode == 0
    process = CollectorProcess(db=db, env={"TESTRUN_TOKEN_RATE_PER_S": "0"}).start()
    process.admin_token = admin_json(db, "token", "create", "--admin")["token"]
    yield process
    process.stop()


@pytest.fixture
def start_collector(tmp_path: Path) -> Iterator[Callable[..., CollectorProcess]]:
    """Start a collector of this test's own, on a fresh database, with extra TESTRUN_* settings."""
    started: list[CollectorProcess] = []

    def start(migrate: bool = True, **env: str) -> CollectorProcess:
        db = tmp_path / f"collector-{len(started)}.sqlite3"
        if migrate:
            assert admin(db, "migrate").returncode == 0
        process = CollectorProcess(db=db, env={f"TESTRUN_{k.upper()}": v for k, v in env.items()})
        if migrate:
            process.admin_token = admin_json(db, "token", "create", "--admin")["token"]
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def project(collector: CollectorProcess) -> ProjectAccess:
    return new_project(collector, collector.admin_token)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--allow-skips",
        action="store_true",
        help="do not fail the run when tests were skipped (by default every test must run)",
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and not session.config.getoption("--allow-skips") and exitstatus == 0:
        if reporter:
            reporter.write_sep("=", f"{skipped} test(s) were skipped: every test must run (see -rs above)", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
