"""What the CI environment says about this job."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CIContext:
    """What the CI environment says about this job; ``None`` where the provider does not say.

    ``job`` is the job's name (stable across retries, what analytics group by);
    ``job_id`` is the provider's id of this one execution of it where there is
    one (GitLab ``CI_JOB_ID``, CircleCI ``CIRCLE_BUILD_NUM``, ...). ``attempt``
    is the provider's own retry number, as it counts it (GitHub and Azure
    start at 1, Buildkite at 0). ``dirty`` is known only where the commit was
    read from the checkout itself: whether tracked files differed from it.
    """

    provider: str
    repository: str | None = None
    pipeline_id: str | None = None
    job: str | None = None
    attempt: int | None = None
    node: str | None = None
    commit: str | None = None
    branch: str | None = None
    pull_request: str | None = None
    url: str | None = None
    job_id: str | None = None
    dirty: bool | None = None

    def in_ci(self) -> bool:
        return self.provider != "local"
