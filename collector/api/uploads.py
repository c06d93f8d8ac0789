"""Runs sent in batches while the tests still run: ``/api/v1/uploads`` (scope ``ingest``).

``POST /api/v1/uploads`` opens one; ``PUT /api/v1/uploads/{upload_id}/batches/{seq}``
adds batch ``seq`` (0, 1, 2 ...) of its tests, validated by the rules of a
run's tests; ``POST /api/v1/uploads/{upload_id}/complete`` sends the run's own
fields and how many batches there were, and answers exactly as ``POST
/api/v1/runs`` of the whole run would (201, 200 duplicate, 409 conflict), with
its verdict. Nothing of an upload is visible before it is complete. A batch
or a completion sent again is recognised (200), so the client retries them
as it retries a run. collector.store.uploads says how.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import bottle

from ..body import read_json_body
from ..errors import BadRequest
from ..middleware import request_context
from ..timeutil import utc_now
from ..validation import BATCH_MAX_TESTS, validate_batch, validate_upload_header
from .runs import VALUES_PER_TEST, stored_answer

#: the completion holds the run's fields only; its limit is the admin routes' small one
HEADER_BODY_LIMIT = 256 * 1024
_UPLOAD_ID_MAX = 64


def upload_url(upload_id: str) -> str:
    return "/api/v1/uploads/" + quote(upload_id, safe="")


def _checked_upload_id(upload_id: str) -> str:
    if not upload_id or len(upload_id) > _UPLOAD_ID_MAX or not upload_id.isprintable():
        raise BadRequest("upload_id is not one this collector made: open an upload with POST /api/v1/uploads")
    return upload_id


def register(app: bottle.Bottle, state: Any) -> None:
    settings = state.settings
    store = state.store

    @app.post("/api/v1/uploads")
    def open_upload() -> dict[str, Any]:
        principal = state.authenticate("ingest")
        upload_id = store.open_upload(principal.project, utc_now())
        bottle.response.status = 201
        bottle.response.set_header("Location", upload_url(upload_id))
        return {"upload_id": upload_id, "url": upload_url(upload_id), "batch_max_tests": BATCH_MAX_TESTS}

    @app.put("/api/v1/uploads/<upload_id>/batches/<seq:int>")
    def add_batch(upload_id: str, seq: int) -> dict[str, Any]:
        principal = state.authenticate("ingest")
        upload_id = _checked_upload_id(upload_id)
        if not 0 <= seq < settings.max_tests_per_run:
            raise BadRequest(f"batch number {seq} is out of range: batches are numbered 0, 1, 2 ...")
        request_context(bottle.request.environ).update(project=principal.project.slug)
        data = read_json_body(bottle.request.environ, max_bytes=settings.max_body_bytes,
                              max_values=VALUES_PER_TEST * BATCH_MAX_TESTS + 100)
        outcome = store.add_batch(principal.project, upload_id, seq, validate_batch(data))
        if outcome == "created":
            bottle.response.status = 201
        return {"upload_id": upload_id, "seq": seq, "duplicate": outcome == "duplicate"}

    @app.post("/api/v1/uploads/<upload_id>/complete")
    def complete_upload(upload_id: str) -> dict[str, Any]:
        principal = state.authenticate("ingest")
        upload_id = _checked_upload_id(upload_id)
        request_context(bottle.request.environ).update(project=principal.project.slug)
        data = read_json_body(bottle.request.environ, max_bytes=HEADER_BODY_LIMIT)
        header, batches = validate_upload_header(data)
        outcome = store.complete_upload(principal.project, upload_id, header, batches, now=utc_now(),
                                        max_tests=settings.max_tests_per_run)
        return stored_answer(state, outcome)
