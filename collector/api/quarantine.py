"""The quarantine list: ``GET /api/v1/quarantine`` for CI jobs, ``POST`` and ``DELETE`` for triage tokens.

CI jobs hold ingest tokens and fetch the list before their tests fail, so the
list answers ``ingest``, ``read`` and ``triage`` tokens, with an ``ETag`` (a
hash of exactly what it lists) and ``304 Not Modified`` to ``If-None-Match``.
Changing it takes the ``triage`` scope; the change is written to the test's
trail under the token's name.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import bottle

from .. import quarantine
from ..body import read_json_body
from ..errors import BadRequest, FieldError, Invalid
from ..middleware import request_context
from ..timeutil import utc_now

#: a quarantine request's body: a test id, a reason and an expiry fit in far less
BODY_LIMIT = 64 * 1024
LIST_SCOPES = ("ingest", "read", "triage")


def entity_tag(entries: list[dict[str, Any]]) -> str:
    """A strong ETag of the listed entries: equal exactly when the answer's entries are equal."""
    text = json.dumps(entries, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return '"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    offered = [part.strip().removeprefix("W/") for part in if_none_match.split(",")]
    return "*" in offered or tag in offered


def register(app: bottle.Bottle, state: Any) -> None:
    store = state.store

    @app.get("/api/v1/quarantine")
    def list_quarantine() -> dict[str, Any] | bottle.HTTPResponse:
        principal = state.authenticate(LIST_SCOPES)
        project = principal.project
        entries = [entry.as_dict() for entry in store.quarantine_list(project, utc_now())]
        tag = entity_tag(entries)
        headers = {"ETag": tag, "Cache-Control": "no-cache"}
        # read raw (latin-1, as WSGI gives it): bottle's decoding raises on bytes that are not UTF-8
        if _matches(bottle.request.environ.get("HTTP_IF_NONE_MATCH"), tag):
            return bottle.HTTPResponse(status=304, headers=headers)
        for name, value in headers.items():
            bottle.response.set_header(name, value)
        return {"project": project.slug, "entries": entries}

    @app.post("/api/v1/quarantine")
    def add_to_quarantine() -> dict[str, Any]:
        principal = state.authenticate("triage")
        data = read_json_body(bottle.request.environ, max_bytes=BODY_LIMIT)
        if not isinstance(data, dict):
            raise Invalid([FieldError("body", "must be a JSON object: {\"test_id\": ..., \"reason\": ...}")])
        entry = quarantine.add(store, principal.project, data, actor=principal.actor, now=utc_now())
        request_context(bottle.request.environ).update(project=principal.project.slug)
        bottle.response.status = 201
        return entry.as_dict()

    @app.delete("/api/v1/quarantine")
    def release_from_quarantine() -> dict[str, Any]:
        principal = state.authenticate("triage")
        test_id = bottle.request.query.getunicode("test_id")
        if not test_id:
            raise BadRequest("give the test to release: ?test_id=... (URL-encoded)")
        entry = quarantine.release(store, principal.project, test_id, actor=principal.actor, now=utc_now())
        return entry.as_dict()
