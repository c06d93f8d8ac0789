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
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Mapping

from .context import CIContext
from .environment import _Env
from .providers import PROVIDERS, identity_parts

#: The collector's limit for ``run_id``, in characters.
RUN_ID_MAX = 256
_HASH_CHARS = 16
#: What the collector refuses in a run_id (control characters), and lone surrogates that cannot be encoded.
_UNSAFE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def detect_ci(env: Mapping[str, str]) -> CIContext:
    """The first provider (in :data:`PROVIDERS` order) whose marker is set; ``local`` when none is."""
    view = _Env(env)
    for provider in PROVIDERS:
        if provider.detect(view):
            return provider.read(view)
    return CIContext(provider="local")


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


def vcs_metadata(ci: CIContext) -> dict[str, str | None]:
    """The payload's ``vcs`` object."""
    values = {
        "repository": ci.repository,
        "commit": ci.commit,
        "branch": ci.branch,
        "pull_request": ci.pull_request,
    }
    return {key: value for key, value in values.items() if value is not None}


__all__ = ["PROVIDERS", "RUN_ID_MAX", "CIContext", "ci_metadata", "detect_ci", "make_run_id", "vcs_metadata"]
