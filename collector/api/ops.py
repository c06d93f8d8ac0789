"""Operations routes: health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import bottle

from ..errors import CollectorError, Unavailable

OPENAPI = files("collector").joinpath("openapi.json")


def register(app: bottle.Bottle, state: Any) -> None:
    openapi_bytes = OPENAPI.read_bytes() if OPENAPI.is_file() else b"{}"

    @app.get("/healthz", always_open=True)
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict[str, Any]:
        try:
            state.store.ping()
            state.store.check_schema()
        except CollectorError as error:
            raise Unavailable(f"not ready: {error.message}") from None
        return {"status": "ready", "schema_version": state.store.LATEST_VERSION}

    @app.get("/metrics", always_open=True)
    def metrics() -> bytes:
        bottle.response.content_type = state.metrics.content_type
        return state.metrics.exposition()

    @app.get("/openapi.json", always_open=True)
    def openapi() -> bytes:
        bottle.response.content_type = "application/json"
        return openapi_bytes
