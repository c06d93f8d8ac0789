from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from collections.abc import Callable
from typing import Any

import pytest

# hostile_server (stand-ins for a broken collector) lives beside the client's tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "junit_uploader"))

#: variables that tell the client it runs in CI, or configure it; cleared so each test sets its own
CLIENT_VARIABLE_PREFIXES = (
    "TESTRUN_", "GITHUB_", "GITLAB_", "CI_", "CIRCLE", "BUILDKITE", "TRAVIS", "JENKINS", "APPVEYOR", "DRONE",
    "CODEBUILD_", "SEMAPHORE", "BITBUCKET_", "TF_BUILD", "SYSTEM_", "BUILD_", "TEAMCITY", "WOODPECKER",
)


@pytest.fixture(autouse=True)
def clean_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name == "CI" or name.startswith(CLIENT_VARIABLE_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture
def payload_of(pytester: pytest.Pytester) -> Callable[..., tuple[Any, dict[str, Any]]]:
    """Run pytest with the plugin writing its payload to a file; return (result, payload)."""

    def run(*args: str) -> tuple[Any, dict[str, Any]]:
        output = pytester.path / "testrun-payload.json"
        result = pytester.runpytest("--testrun-report", f"--testrun-output={output}", *args)
        return result, json.loads(output.read_text(encoding="utf-8"))

    return run
