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


def create_project(store: Store, org: Any, name: Any) -> Project:
    return store.create_project(checked_name("org", org), checked_name("project", name))


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
        "created_at": project.created_at,
    }


def token_info(token: TokenRecord) -> dict[str, Any]:
    """What may be shown of a token: never its secret or hash."""
    return {
        "token_id": token.token_id,
        "project": token.project.slug if token.project else None,
        "scopes": list(token.scopes),
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
    }
