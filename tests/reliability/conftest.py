from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# flaky_server (a scripted stand-in for the collector) lives beside the client's tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "junit_uploader"))

#: variables that tell the client it runs in CI, or configure it; cleared so each test sets its own
CLIENT_VARIABLE_PREFIXES = (
    "TESTRUN_", "GITHUB_", "GITLAB_", "CI_", "CIRCLE", "BUILDKITE", "TRAVIS", "JENKINS", "APPVEYOR", "DRONE",
    "CODEBUILD_", "SEMAPHORE", "BITBUCKET_", "TF_BUILD", "SYSTEM_", "BUILD_", "TEAMCITY", "WOODPECKER",
)


@pytest.fixture
def clean_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name == "CI" or name.startswith(CLIENT_VARIABLE_PREFIXES):
            monkeypatch.delenv(name)
