"""The commit, branch and state of the git checkout a run happens in, for runs that no CI describes.

One ``git status`` (porcelain v2, which names the commit and the branch in
its header) within a time bound. Nothing here ever fails a run: no git, a
directory outside any repository, a repository without a commit, a git that
does not answer in time, or anything else it says, all give ``None``; a
detached HEAD gives the commit without a branch.

``dirty`` means tracked files differ from the commit, staged or not, as
``git describe --dirty`` has it: untracked files (the JUnit reports a run has
just written, a coverage file) do not count.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Seconds git may take, in all.
GIT_TIMEOUT_S = 2.0
#: Longer values are left out: the collector refuses metadata values over 2,048 characters.
_VALUE_MAX = 2048

#: What tells git where the repository is rather than finding it from the directory (``git rev-parse
#: --local-env-vars``, less the ``-c`` settings): set by a git hook that runs the tests, they would
#: describe the repository of the hook, or nothing, instead of the checkout being tested.
_REDIRECTING = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_COMMON_DIR",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_GRAFT_FILE",
        "GIT_SHALLOW_FILE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_REPLACE_REF_BASE",
        "GIT_PREFIX",
        "GIT_INTERNAL_SUPER_PREFIX",
        "GIT_CONFIG",
        "GIT_NAMESPACE",
    }
)
_STATUS = ("git", "status", "--porcelain=v2", "--branch", "--untracked-files=no")


@dataclass(frozen=True)
class GitState:
    commit: str
    branch: str | None
    dirty: bool


def read_git(directory: Path, env: Mapping[str, str], *, timeout_s: float = GIT_TIMEOUT_S) -> GitState | None:
    """What git says of the checkout that holds ``directory``; ``None`` when it says nothing usable.

    ``env`` is the environment git runs in (its ``PATH`` finds git), less the
    variables that would point git at another repository; git is also told
    not to take optional locks, so a run never competes with the user's own
    git commands for the index.
    """
    git_env = {name: value for name, value in env.items() if name not in _REDIRECTING}
    git_env["GIT_OPTIONAL_LOCKS"] = "0"
    try:
        done = subprocess.run(
            _STATUS,
            cwd=directory,
            env=git_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if done.returncode != 0:
        return None
    return _parse_status(done.stdout.decode("utf-8", "replace"))


def _parse_status(output: str) -> GitState | None:
    headers: dict[str, str] = {}
    dirty = False
    for line in output.splitlines():
        if line.startswith("# "):
            name, _, value = line[2:].partition(" ")
            headers[name] = value
        elif line:
            dirty = True
    commit, head = headers.get("branch.oid"), headers.get("branch.head")
    if not commit or commit == "(initial)" or len(commit) > _VALUE_MAX:
        return None
    branch = None if not head or head == "(detached)" or len(head) > _VALUE_MAX else head
    return GitState(commit=commit, branch=branch, dirty=dirty)
