"""One reader per CI provider, mapping the variables its documentation gives onto CIContext.

:data:`PROVIDERS` lists them in detection order, each with the fields that
make a job attempt unique on that provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from .context import CIContext
from .environment import (
    _PULL_REF,
    _PULL_URL,
    _after,
    _branch_of_ref,
    _ci_is_set,
    _Env,
    _joined,
    _match,
    _number,
    _plain_branch,
    _repo_path,
    _url,
)


def _github(env: _Env) -> CIContext:
    """docs.github.com: Actions "Variables reference", default environment variables.

    Matrix legs of one job share every variable (run id, attempt and job id),
    so the label is what tells them apart. PR numbers come from ``GITHUB_REF``
    (``refs/pull/42/merge``), which only ``pull_request`` events carry.
    """
    repository, run = env.text("GITHUB_REPOSITORY"), env.text("GITHUB_RUN_ID")
    ref = env.text("GITHUB_REF")
    return CIContext(
        provider="github",
        repository=repository,
        pipeline_id=run,
        job=env.text("GITHUB_JOB"),
        attempt=env.count("GITHUB_RUN_ATTEMPT"),
        commit=env.text("GITHUB_SHA"),
        branch=env.text("GITHUB_HEAD_REF") or _branch_of_ref(ref),
        pull_request=_match(_PULL_REF, ref),
        url=_url(env.text("GITHUB_SERVER_URL"), repository, "actions/runs", run),
    )


def _gitlab(env: _Env) -> CIContext:
    """docs.gitlab.com: "Predefined CI/CD variables reference". A retried job gets a new ``CI_JOB_ID``."""
    return CIContext(
        provider="gitlab",
        repository=env.text("CI_PROJECT_PATH"),
        pipeline_id=env.text("CI_PIPELINE_ID"),
        job=env.text("CI_JOB_NAME"),
        job_id=env.text("CI_JOB_ID"),
        node=env.index("CI_NODE_INDEX"),
        commit=env.text("CI_COMMIT_SHA"),
        branch=env.text(
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_BRANCH"
        ),
        pull_request=_number(env.text("CI_MERGE_REQUEST_IID", "CI_EXTERNAL_PULL_REQUEST_IID")),
        url=env.text("CI_JOB_URL", "CI_PIPELINE_URL"),
    )


def _jenkins(env: _Env) -> CIContext:
    """Jenkins ``env-vars.html`` (core, multibranch ``CHANGE_*``) and the Git plugin's ``GIT_*``.

    A rebuild is a new ``BUILD_NUMBER``. Jenkins has no parallel index: parallel
    stages of one build need their own labels.
    """
    change = _number(env.text("CHANGE_ID"))
    branch = env.text("CHANGE_BRANCH") if change else env.text("BRANCH_NAME", "GIT_LOCAL_BRANCH", "GIT_BRANCH")
    if branch and branch.startswith("origin/"):
        branch = branch.removeprefix("origin/")
    return CIContext(
        provider="jenkins",
        repository=_repo_path(env.text("GIT_URL")),
        pipeline_id=env.text("BUILD_NUMBER"),
        job=env.text("JOB_NAME"),
        commit=env.text("GIT_COMMIT"),
        branch=None if env.text("TAG_NAME") else _plain_branch(branch),
        pull_request=change,
        url=env.text("BUILD_URL"),
    )


def _circleci(env: _Env) -> CIContext:
    """circleci.com/docs: "Project values and variables". A rerun job gets a new ``CIRCLE_BUILD_NUM``."""
    return CIContext(
        provider="circleci",
        repository=_joined(env.text("CIRCLE_PROJECT_USERNAME"), env.text("CIRCLE_PROJECT_REPONAME")),
        pipeline_id=env.text("CIRCLE_WORKFLOW_ID"),
        job=env.text("CIRCLE_JOB"),
        job_id=env.text("CIRCLE_BUILD_NUM"),
        node=env.index("CIRCLE_NODE_INDEX"),
        commit=env.text("CIRCLE_SHA1"),
        branch=env.text("CIRCLE_BRANCH"),
        pull_request=_number(env.text("CIRCLE_PR_NUMBER")) or _match(_PULL_URL, env.text("CIRCLE_PULL_REQUEST")),
        url=env.text("CIRCLE_BUILD_URL"),
    )


def _buildkite(env: _Env) -> CIContext:
    """buildkite.com/docs: "Environment variables". ``BUILDKITE_BRANCH`` holds the tag name on tag builds."""
    job_id, build_url = env.text("BUILDKITE_JOB_ID"), env.text("BUILDKITE_BUILD_URL")
    commit = env.text("BUILDKITE_COMMIT")
    return CIContext(
        provider="buildkite",
        repository=_repo_path(env.text("BUILDKITE_REPO")),
        pipeline_id=env.text("BUILDKITE_BUILD_NUMBER"),
        job=env.text("BUILDKITE_LABEL", "BUILDKITE_STEP_KEY"),
        job_id=job_id,
        attempt=env.count("BUILDKITE_RETRY_COUNT"),
        node=env.index("BUILDKITE_PARALLEL_JOB"),
        commit=None if commit == "HEAD" else commit,
        branch=None if env.text("BUILDKITE_TAG") else env.text("BUILDKITE_BRANCH"),
        pull_request=_number(env.text("BUILDKITE_PULL_REQUEST")),
        url=f"{build_url}#{job_id}" if build_url and job_id else build_url,
    )


def _azure(env: _Env) -> CIContext:
    """learn.microsoft.com: Azure Pipelines "Use predefined variables" (``Build.BuildId`` -> ``BUILD_BUILDID``).

    ``System.JobAttempt`` counts retries, ``System.JobId`` is new for every
    attempt and ``System.JobPositionInPhase`` tells matrix and parallel legs apart.
    """
    build, job_id = env.text("BUILD_BUILDID"), env.text("SYSTEM_JOBID")
    collection = env.text("SYSTEM_COLLECTIONURI", "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI")
    project = env.text("SYSTEM_TEAMPROJECT")
    url = None
    if collection and project and build:
        url = f"{collection.rstrip('/')}/{quote(project)}/_build/results?buildId={build}"
        url += f"&view=logs&j={job_id}" if job_id else ""
    pull_request = _number(env.text("SYSTEM_PULLREQUEST_PULLREQUESTNUMBER", "SYSTEM_PULLREQUEST_PULLREQUESTID"))
    source = env.text("SYSTEM_PULLREQUEST_SOURCEBRANCH")
    return CIContext(
        provider="azure",
        repository=env.text("BUILD_REPOSITORY_NAME"),
        pipeline_id=build,
        job=env.text("SYSTEM_JOBDISPLAYNAME", "SYSTEM_JOBNAME"),
        job_id=job_id,
        attempt=env.count("SYSTEM_JOBATTEMPT"),
        node=env.index("SYSTEM_JOBPOSITIONINPHASE"),
        commit=env.text("BUILD_SOURCEVERSION"),
        branch=_plain_branch(source) if source else _branch_of_ref(env.text("BUILD_SOURCEBRANCH")),
        pull_request=pull_request,
        url=url,
    )


def _bitbucket(env: _Env) -> CIContext:
    """support.atlassian.com: Bitbucket Pipelines "Variables and secrets". A rerun gets a new build number."""
    repository, build = env.text("BITBUCKET_REPO_FULL_NAME"), env.text("BITBUCKET_BUILD_NUMBER")
    step = env.text("BITBUCKET_STEP_UUID")
    url = _url("https://bitbucket.org", repository, "pipelines/results", build)
    return CIContext(
        provider="bitbucket",
        repository=repository,
        pipeline_id=build,
        job_id=step,
        node=env.index("BITBUCKET_PARALLEL_STEP"),
        commit=env.text("BITBUCKET_COMMIT"),
        branch=env.text("BITBUCKET_BRANCH"),
        pull_request=_number(env.text("BITBUCKET_PR_ID")),
        url=f"{url}/steps/{quote(step, safe='')}" if url and step else url,
    )


def _travis(env: _Env) -> CIContext:
    """docs.travis-ci.com: "Environment Variables", default environment variables.

    Travis has no attempt number and a restarted job keeps its ``TRAVIS_JOB_ID``,
    so a restart reuses the run_id of the attempt before it.
    """
    return CIContext(
        provider="travis",
        repository=env.text("TRAVIS_REPO_SLUG"),
        pipeline_id=env.text("TRAVIS_BUILD_ID"),
        job=env.text("TRAVIS_JOB_NAME", "TRAVIS_JOB_NUMBER"),
        job_id=env.text("TRAVIS_JOB_ID"),
        commit=env.text("TRAVIS_COMMIT"),
        branch=None if env.text("TRAVIS_TAG") else env.text("TRAVIS_PULL_REQUEST_BRANCH", "TRAVIS_BRANCH"),
        pull_request=_number(env.text("TRAVIS_PULL_REQUEST")),
        url=env.text("TRAVIS_JOB_WEB_URL", "TRAVIS_BUILD_WEB_URL"),
    )


def _teamcity(env: _Env) -> CIContext:
    """jetbrains.com/help/teamcity: "List of predefined build parameters" (the ``env.*`` ones).

    The build id, branch and build URL are configuration parameters that
    TeamCity does not pass as environment variables, so ``BUILD_NUMBER`` is
    the build (unique per configuration with the default ``%build.counter%`` format).
    """
    return CIContext(
        provider="teamcity",
        pipeline_id=env.text("BUILD_NUMBER"),
        job=_joined(env.text("TEAMCITY_PROJECT_NAME"), env.text("TEAMCITY_BUILDCONF_NAME"), separator=" / "),
        commit=env.text("BUILD_VCS_NUMBER"),
    )


def _appveyor(env: _Env) -> CIContext:
    """appveyor.com/docs: "Environment variables". A re-build gets new build and job ids."""
    build, job_id = env.text("APPVEYOR_BUILD_ID"), env.text("APPVEYOR_JOB_ID")
    account, slug = env.text("APPVEYOR_ACCOUNT_NAME"), env.text("APPVEYOR_PROJECT_SLUG")
    on_tag = env.flag("APPVEYOR_REPO_TAG")
    return CIContext(
        provider="appveyor",
        repository=env.text("APPVEYOR_REPO_NAME"),
        pipeline_id=build,
        job=env.text("APPVEYOR_JOB_NAME"),
        job_id=job_id,
        commit=env.text("APPVEYOR_REPO_COMMIT"),
        branch=None if on_tag else env.text("APPVEYOR_PULL_REQUEST_HEAD_REPO_BRANCH", "APPVEYOR_REPO_BRANCH"),
        pull_request=_number(env.text("APPVEYOR_PULL_REQUEST_NUMBER")),
        url=_url(env.text("APPVEYOR_URL"), "project", account, slug, "builds", build, "job", job_id),
    )


def _drone(env: _Env) -> CIContext:
    """docs.drone.io: pipeline "Environment reference". A restart is a new build number."""
    link = env.text("DRONE_BUILD_LINK")
    stage, step = env.index("DRONE_STAGE_NUMBER"), env.index("DRONE_STEP_NUMBER")
    return CIContext(
        provider="drone",
        repository=env.text("DRONE_REPO"),
        pipeline_id=env.text("DRONE_BUILD_NUMBER"),
        job=_joined(env.text("DRONE_STAGE_NAME"), env.text("DRONE_STEP_NAME")),
        commit=env.text("DRONE_COMMIT_SHA", "DRONE_COMMIT"),
        branch=None if env.text("DRONE_TAG") else env.text("DRONE_SOURCE_BRANCH", "DRONE_BRANCH"),
        pull_request=_number(env.text("DRONE_PULL_REQUEST")),
        url=_url(link, stage, step) or link,
    )


def _woodpecker(env: _Env) -> CIContext:
    """woodpecker-ci.org/docs: "Environment variables". Its ``CI_*`` names overlap GitLab's; ``CI=woodpecker``."""
    return CIContext(
        provider="woodpecker",
        repository=env.text("CI_REPO"),
        pipeline_id=env.text("CI_PIPELINE_NUMBER"),
        job=_joined(env.text("CI_WORKFLOW_NAME"), env.text("CI_STEP_NAME")),
        commit=env.text("CI_COMMIT_SHA"),
        branch=None if env.text("CI_COMMIT_TAG") else env.text("CI_COMMIT_SOURCE_BRANCH", "CI_COMMIT_BRANCH"),
        pull_request=_number(env.text("CI_COMMIT_PULL_REQUEST")),
        url=env.text("CI_STEP_URL", "CI_PIPELINE_URL"),
    )


def _codebuild(env: _Env) -> CIContext:
    """docs.aws.amazon.com: CodeBuild "Environment variables in build environments".

    ``CODEBUILD_BUILD_ID`` (``project:uuid``) is new for every build, retries
    included; batch builds name their members in ``CODEBUILD_BATCH_BUILD_IDENTIFIER``.
    """
    build = env.text("CODEBUILD_BUILD_ID")
    project = build.split(":", 1)[0] if build and ":" in build else None
    trigger = env.text("CODEBUILD_WEBHOOK_TRIGGER")
    return CIContext(
        provider="codebuild",
        repository=_repo_path(env.text("CODEBUILD_SOURCE_REPO_URL")),
        pipeline_id=build,
        job=env.text("CODEBUILD_BATCH_BUILD_IDENTIFIER") or project,
        commit=env.text("CODEBUILD_RESOLVED_SOURCE_VERSION"),
        branch=_branch_of_ref(env.text("CODEBUILD_WEBHOOK_HEAD_REF")) or _after(trigger, "branch/"),
        pull_request=_number(_after(trigger, "pr/") or _after(env.text("CODEBUILD_SOURCE_VERSION"), "pr/")),
        url=env.text("CODEBUILD_PUBLIC_BUILD_URL") or _codebuild_console(env, build, project),
    )


def _codebuild_console(env: _Env, build: str | None, project: str | None) -> str | None:
    """The console page of the build; region and account come from ``CODEBUILD_BUILD_ARN``."""
    arn = (env.text("CODEBUILD_BUILD_ARN") or "").split(":")
    region = arn[3] if len(arn) > 4 and arn[3] else env.text("AWS_REGION")
    account = arn[4] if len(arn) > 4 and arn[4] else None
    if not (build and project and region and account):
        return None
    return (
        f"https://{region}.console.aws.amazon.com/codesuite/codebuild/{account}/projects/{quote(project, safe='')}"
        f"/build/{quote(build, safe='')}/?region={region}"
    )


def _semaphore(env: _Env) -> CIContext:
    """docs.semaphoreci.com: "Environment variables". Every job, reruns included, gets a new ``SEMAPHORE_JOB_ID``."""
    job_id = env.text("SEMAPHORE_JOB_ID")
    on_tag = env.text("SEMAPHORE_GIT_REF_TYPE") == "tag"
    return CIContext(
        provider="semaphore",
        repository=env.text("SEMAPHORE_GIT_REPO_SLUG"),
        pipeline_id=env.text("SEMAPHORE_PIPELINE_ID"),
        job=env.text("SEMAPHORE_JOB_NAME"),
        job_id=job_id,
        node=env.index("SEMAPHORE_JOB_INDEX"),
        commit=env.text("SEMAPHORE_GIT_SHA"),
        branch=None
        if on_tag
        else env.text("SEMAPHORE_GIT_PR_BRANCH", "SEMAPHORE_GIT_WORKING_BRANCH", "SEMAPHORE_GIT_BRANCH"),
        pull_request=_number(env.text("SEMAPHORE_GIT_PR_NUMBER")),
        url=_url(env.text("SEMAPHORE_ORGANIZATION_URL"), "jobs", job_id),
    )


def _generic(env: _Env) -> CIContext:
    """Any other CI that sets ``CI``: only the names several smaller services share are read.

    (Codeship's ``CI_BUILD_ID``/``CI_COMMIT_ID``/``CI_BRANCH``, the
    Jenkins-compatible ``BUILD_ID``/``GIT_COMMIT``.) Without a build id the run
    gets a fresh id, since nothing would tell two of its runs apart.
    """
    return CIContext(
        provider="ci",
        pipeline_id=env.text("CI_BUILD_ID", "BUILD_ID"),
        job=env.text("CI_JOB_ID", "CI_JOB_NAME", "JOB_NAME"),
        commit=env.text("CI_COMMIT_SHA", "CI_COMMIT_ID", "GIT_COMMIT"),
        branch=env.text("CI_BRANCH", "GIT_BRANCH"),
        url=env.text("CI_BUILD_URL", "BUILD_URL"),
    )


@dataclass(frozen=True)
class Provider:
    """How to recognise one CI provider, read its variables, and which fields identify a job attempt there.

    ``identity`` names CIContext fields, always in the order repository,
    pipeline_id, attempt, job, job_id, node; a provider lists those it has.
    """

    name: str
    detect: Callable[[_Env], bool]
    read: Callable[[_Env], CIContext]
    identity: tuple[str, ...]


_SCOPE = ("repository", "pipeline_id")
_BUILD = (*_SCOPE, "job")
_ATTEMPT = (*_SCOPE, "attempt", "job")
_EVERY = (*_ATTEMPT, "job_id", "node")

#: In detection order: providers whose variables look like another's come first, the generic ``CI`` last.
PROVIDERS: tuple[Provider, ...] = (
    Provider("github", lambda e: e.flag("GITHUB_ACTIONS"), _github, _ATTEMPT),
    Provider("woodpecker", lambda e: (e.text("CI") or "").lower() == "woodpecker", _woodpecker, _BUILD),
    Provider("drone", lambda e: e.flag("DRONE"), _drone, _BUILD),
    Provider("gitlab", lambda e: e.flag("GITLAB_CI"), _gitlab, (*_BUILD, "job_id", "node")),
    Provider("circleci", lambda e: e.flag("CIRCLECI"), _circleci, (*_BUILD, "job_id", "node")),
    Provider("buildkite", lambda e: e.flag("BUILDKITE"), _buildkite, _EVERY),
    Provider("azure", lambda e: e.flag("TF_BUILD"), _azure, _EVERY),
    Provider("bitbucket", lambda e: e.has("BITBUCKET_BUILD_NUMBER"), _bitbucket, (*_SCOPE, "job_id", "node")),
    Provider("travis", lambda e: e.flag("TRAVIS"), _travis, (*_BUILD, "job_id")),
    Provider("appveyor", lambda e: e.flag("APPVEYOR"), _appveyor, (*_BUILD, "job_id")),
    Provider("semaphore", lambda e: e.flag("SEMAPHORE"), _semaphore, (*_BUILD, "job_id", "node")),
    Provider("teamcity", lambda e: e.has("TEAMCITY_VERSION"), _teamcity, ("pipeline_id", "job")),
    Provider("jenkins", lambda e: e.has("JENKINS_URL", "JENKINS_HOME") and e.has("BUILD_NUMBER"), _jenkins, _BUILD),
    Provider("codebuild", lambda e: e.has("CODEBUILD_BUILD_ID"), _codebuild, _BUILD),
    Provider("ci", _ci_is_set, _generic, ("pipeline_id", "job")),
)
_BY_NAME = {provider.name: provider for provider in PROVIDERS}


def identity_parts(ci: CIContext) -> tuple[str, ...]:
    """The fields that make a job attempt unique on this provider, in a fixed order; ``-`` when absent."""
    provider = _BY_NAME.get(ci.provider)
    names = provider.identity if provider else ()
    return tuple(_part(getattr(ci, name)) for name in names)


def _part(value: str | int | None) -> str:
    return "-" if value is None else str(value)
