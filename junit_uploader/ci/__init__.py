"""Which CI runs this job, and the one deterministic ``run_id`` of this job attempt.

Every function takes the environment as a ``Mapping`` (nothing here reads
``os.environ``). Each provider is one reader that maps the variable names its
own documentation gives onto :class:`CIContext`, plus the fields that make a
job attempt unique there; :data:`PROVIDERS` lists them in detection order.

A ``run_id`` is ``provider:<identity parts>:label``. The parts come from the
provider's variables, so a retried upload of the same job attempt gets the
same id (the collector answers ``200 duplicate``), while another attempt, job,
parallel node or label gets another one. What no CI variable tells apart,
such as two matrix legs of one GitHub Actions job, the label must.

The commit and branch come from ``TESTRUN_COMMIT`` / ``TESTRUN_BRANCH`` when
they are set (for a CI that no reader knows), else from the provider, else
from the git checkout the run happens in (:mod:`.git`), so that local runs
show under their branch too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from .context import CIContext
from .environment import _Env
from .git import GitState, read_git
from .providers import PROVIDERS, identity_parts

#: The collector's limit for ``run_id``, in characters.
RUN_ID_MAX = 256
_HASH_CHARS = 16
#: What the collector refuses in a run_id (control characters), and lone surrogates that cannot be encoded.
_UNSAFE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def detect_ci(env: Mapping[str, str], *, checkout: Path | None = None) -> CIContext:
    """The first provider (in :data:`PROVIDERS` order) whose marker is set; ``local`` when none is.

    ``TESTRUN_COMMIT`` and ``TESTRUN_BRANCH`` win over what the provider says.
    With a ``checkout`` directory, git is asked for what neither said (see
    :func:`with_git`); in a CI that names both, git is never run.
    """
    view = _Env(env)
    ci = next((provider.read(view) for provider in PROVIDERS if provider.detect(view)), CIContext(provider="local"))
    commit, branch = view.text("TESTRUN_COMMIT"), view.text("TESTRUN_BRANCH")
    if commit or branch:
        ci = dataclasses.replace(ci, commit=commit or ci.commit, branch=branch or ci.branch)
    if checkout is None or (ci.commit and ci.branch):
        return ci
    return with_git(ci, read_git(checkout, env))


def with_git(ci: CIContext, git: GitState | None) -> CIContext:
    """``ci`` with the commit, branch and ``dirty`` git read, where ``ci`` does not already say.

    The checkout's commit is what the tests ran, so it fills a missing
    commit. Its branch and state only speak of the commit known when that is
    the checkout's own (the known one is the start of git's): a checkout at
    another commit adds nothing, so a commit is never paired with a branch
    it is not on.
    """
    if git is None or (ci.commit is not None and not git.commit.startswith(ci.commit.lower())):
        return ci
    return dataclasses.replace(ci, commit=ci.commit or git.commit, branch=ci.branch or git.branch, dirty=git.dirty)


def make_run_id(
    ci: CIContext,
    label: str,
    *,
    override: str | None = None,
    fresh: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> str:
    """``override`` verbatim when given, else ``provider:<identity parts>:label``.

    The parts are the provider's own variables, chosen so that a retry, another
    job or another parallel node changes them; see ``Provider.identity``. Legs
    of a matrix are not always among them: on GitHub Actions every leg of a
    job shares ``GITHUB_RUN_ID``, ``GITHUB_RUN_ATTEMPT`` and ``GITHUB_JOB``, so
    the label (which by default names the Python version and platform) is
    what tells them apart, and legs that differ in something else need one.

    Outside CI, or in a CI that names neither a build nor a job run, the id is
    ``provider:<fresh()>:label``: such a run is not a retry of anything. The id
    is cut to the collector's 256 characters, ending in ``~`` and 16 hex
    characters of the full id's SHA-256 so that long ids stay distinct, and
    control characters become ``_``.
    """
    given = (override or "").strip()
    if given:
        return given
    if ci.pipeline_id is None and ci.job_id is None:
        return _fit(":".join([ci.provider, fresh(), label]))
    return _fit(":".join([ci.provider, *identity_parts(ci), label]))


def _fit(run_id: str) -> str:
    clean = _UNSAFE.sub("_", run_id)
    if len(clean) <= RUN_ID_MAX:
        return clean
    digest = hashlib.sha256(run_id.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    return f"{clean[: RUN_ID_MAX - _HASH_CHARS - 1]}~{digest}"


def ci_metadata(ci: CIContext, label: str) -> dict[str, str | int | None]:
    """The payload's ``ci`` object (``job_id`` is one of the extra keys the collector stores as given)."""
    values: dict[str, str | int | None] = {
        "provider": ci.provider,
        "pipeline_id": ci.pipeline_id,
        "job": ci.job,
        "job_id": ci.job_id,
        "attempt": ci.attempt,
        "node": ci.node,
        "url": ci.url,
        "label": label,
    }
    return {key: value for key, value in values.items() if value is not None}


def vcs_metadata(ci: CIContext) -> dict[str, str | bool | None]:
    """The payload's ``vcs`` object (``dirty`` is one of the extra keys the collector stores as given)."""
    values: dict[str, str | bool | None] = {
        "repository": ci.repository,
        "commit": ci.commit,
        "branch": ci.branch,
        "pull_request": ci.pull_request,
        "dirty": ci.dirty,
    }
    return {key: value for key, value in values.items() if value is not None}


__all__ = [
    "PROVIDERS",
    "RUN_ID_MAX",
    "CIContext",
    "GitState",
    "ci_metadata",
    "detect_ci",
    "make_run_id",
    "read_git",
    "vcs_metadata",
    "with_git",
]
