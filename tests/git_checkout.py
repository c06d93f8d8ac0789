"""Real git checkouts for tests, made with the git command, away from the user's and the system's git settings."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

#: The environment of the git commands that build a checkout (never of the code under test).
BUILD_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}


class Checkout:
    def __init__(self, path: Path, *, branch: str = "main") -> None:
        """An empty repository at ``path`` (made if missing), on ``branch``."""
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", branch)

    def git(self, *args: str) -> str:
        env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(self.path), **BUILD_ENV}
        done = subprocess.run(("git", *args), cwd=self.path, env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def commit(self, files: Mapping[str, str], message: str = "change") -> str:
        """Write ``files`` (relative path -> text), commit them, and return the commit's id."""
        for name, text in files.items():
            (self.path / name).parent.mkdir(parents=True, exist_ok=True)
            (self.path / name).write_text(text, encoding="utf-8")
        self.git("add", *files)
        self.git("commit", "-q", "--no-gpg-sign", "-m", message)
        return self.git("rev-parse", "HEAD")
