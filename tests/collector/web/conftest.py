"""Fixtures for the web pages: a project with a week of runs on the session's collector."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from collector_harness import CollectorProcess, new_project
from web_demo import Seeded, demo_runs, hostile_run, send


@pytest.fixture(scope="session")
def seeded(collector: CollectorProcess) -> Seeded:
    """One project with demo runs over the last week plus a run named with markup; tests only read it."""
    project = new_project(collector, collector.admin_token)
    runs = demo_runs(days=7, runs_per_day=2)
    hostile = hostile_run()
    send(project, [run.payload for run in runs] + [hostile])
    return Seeded(project, runs, hostile)


@pytest.fixture
def sign_in() -> Callable[[str, str], requests.Session]:
    """Sign in through the form as a browser would; the session then carries the cookie."""

    def sign_in(url: str, token: str) -> requests.Session:
        session = requests.Session()
        response = session.post(
            f"{url}/ui/signin", data={"token": token}, headers={"Origin": url}, allow_redirects=False, timeout=30
        )
        assert response.status_code == 303, response.text
        return session

    return sign_in


@pytest.fixture
def ui(seeded: Seeded, sign_in: Callable[[str, str], requests.Session]) -> requests.Session:
    """A session signed in to the seeded project."""
    return sign_in(seeded.project.url, seeded.project.read_token)
