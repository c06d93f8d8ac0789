"""Admin routes: orgs, projects and tokens, behind an admin token."""

from __future__ import annotations

from typing import Any

import bottle

from .. import accounts
from ..body import read_json_body
from ..errors import BadRequest, NotFound
from ..tokens import create_token
from ..timeutil import utc_now

ADMIN_BODY_LIMIT = 64 * 1024


def _object_body() -> dict[str, Any]:
    data = read_json_body(bottle.request.environ, max_bytes=ADMIN_BODY_LIMIT)
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _scopes(data: dict[str, Any]) -> list[str]:
    scopes = data.get("scopes", ["ingest"])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise BadRequest("scopes must be a list such as [\"ingest\", \"read\"]")
    if len(set(scopes)) != len(scopes):
        raise BadRequest("scopes must not repeat a scope")
    return scopes


def _expiry(data: dict[str, Any]) -> float | None:
    days = data.get("expires_in_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float))):
        raise BadRequest("expires_in_days must be a number of days or null")
    return days


def register(app: bottle.Bottle, state: Any) -> None:
    store = state.store

    @app.post("/orgs")
    def create_org() -> dict[str, Any]:
        state.authenticate("admin")
        org = accounts.create_org(store, _object_body().get("name"))
        bottle.response.status = 201
        return accounts.org_info(org)

    @app.post("/projects")
    def create_project() -> dict[str, Any]:
        state.authenticate("admin")
        data = _object_body()
        project = accounts.create_project(store, data.get("org"), data.get("name"), data.get("default_branch", "main"))
        bottle.response.status = 201
        return accounts.project_info(project)

    @app.post("/tokens")
    def create_project_token() -> dict[str, Any]:
        state.authenticate("admin")
        data = _object_body()
        project = accounts.find_project(store, data.get("project"))
        minted, record = create_token(
            store,
            project=project,
            scopes=_scopes(data),
            expires_in_days=_expiry(data),
            bcrypt_rounds=state.settings.bcrypt_rounds,
            name=data.get("name"),
        )
        bottle.response.status = 201
        return {"token": minted.token, **accounts.token_info(record)}

    @app.get("/tokens")
    def list_tokens() -> dict[str, Any]:
        state.authenticate("admin")
        slug = bottle.request.query.getunicode("project")
        project = accounts.find_project(store, slug) if slug else None
        return {"tokens": [accounts.token_info(t) for t in store.list_tokens(project)]}

    @app.delete("/tokens/<token_id>")
    def revoke_token(token_id: str) -> dict[str, Any]:
        state.authenticate("admin")
        if not store.revoke_token(token_id, utc_now()):
            raise NotFound(f"token {token_id!r} not found")
        token = store.get_token(token_id)
        return {"token_id": token_id, "revoked_at": token.revoked_at if token else None}
