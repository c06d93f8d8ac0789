"""Orgs, projects and token listings: the operations both testrun-admin and the admin routes offer."""

from __future__ import annotations

import re
from typing import Any

from .errors import BadRequest
from .model import Org, Project, TokenRecord
from .store import Store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def checked_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadRequest(
            f"{kind} name {name!r} is not valid: use 1 to 64 letters, digits, '.', '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def split_project_slug(slug: Any) -> tuple[str, str]:
    """``"acme/web"`` → ``("acme", "web")``."""
    if not isinstance(slug, str) or slug.count("/") != 1:
        raise BadRequest(f"project {slug!r} is not valid: write it as ORG/PROJECT, e.g. acme/web")
    org, name = slug.split("/")
    return checked_name("org", org), checked_name("project", name)


def create_org(store: Store, name: Any) -> Org:
    return store.create_org(checked_name("org", name))


#: the longest branch name a project's default branch may have
BRANCH_MAX = 255


def checked_branch(branch: Any) -> str:
    """A branch name as CI reports it (``vcs.branch``): not blank, no control characters, at most 255 characters."""
    if not isinstance(branch, str) or not branch.strip() or branch != branch.strip():
        raise BadRequest(f"default branch {branch!r} is not valid: give the branch's name, e.g. main")
    if len(branch) > BRANCH_MAX or not branch.isprintable():
        raise BadRequest(
            f"default branch {branch[:40]!r}... is not valid: at most {BRANCH_MAX} printable characters"
            if len(branch) > BRANCH_MAX
            else f"default branch {branch!r} is not valid: it holds a control character"
        )
    return branch


def create_project(store: Store, org: Any, name: Any, default_branch: Any = "main") -> Project:
    return store.create_project(
        checked_name("org", org), checked_name("project", name), default_branch=checked_branch(default_branch)
    )


def set_default_branch(store: Store, slug: Any, branch: Any) -> Project:
    """Name a project's default branch; its failing streaks there are rebuilt from the stored runs."""
    return store.set_default_branch(find_project(store, slug), checked_branch(branch))


def find_project(store: Store, slug: Any) -> Project:
    return store.get_project(*split_project_slug(slug))


def org_info(org: Org) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "created_at": org.created_at}


def project_info(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "org": project.org,
        "name": project.name,
        "slug": project.slug,
        "default_branch": project.default_branch,
        "auto_quarantine": project.auto_quarantine,
        "created_at": project.created_at,
    }


def token_info(token: TokenRecord) -> dict[str, Any]:
    """What may be shown of a token: never its secret or hash."""
    return {
        "token_id": token.token_id,
        "name": token.name,
        "project": token.project.slug if token.project else None,
        "scopes": list(token.scopes),
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
    }
