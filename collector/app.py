"""The WSGI application: ``create_app(settings)`` builds a fresh Bottle app.

Routes raise ``CollectorError`` subclasses and return dicts; ``ApiPlugin``
renders both as JSON with the request id, so every answer has one shape.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bottle

from .auth import Authenticator, Principal
from .errors import CollectorError, Unavailable
from .metrics import Metrics
from .middleware import REQUEST_ID_KEY, RequestLogMiddleware
from .settings import Settings
from .store import Store, open_store

log = logging.getLogger("testrun")

JSON_TYPE = "application/json"


@dataclass
class AppState:
    """What the routes share: settings, the store, auth, metrics, and the draining flag."""

    settings: Settings
    store: Store
    metrics: Metrics
    auth: Authenticator
    draining: threading.Event = field(default_factory=threading.Event)

    def authenticate(self, scope: str | tuple[str, ...]) -> Principal:
        return self.auth.authenticate(
            bottle.request.get_header("Authorization"), scope=scope, client=bottle.request.remote_addr or ""
        )


class CollectorApp(bottle.Bottle):
    """A Bottle app that also carries its state and its outer WSGI middleware."""

    state: AppState
    wsgi_app: RequestLogMiddleware


def json_body(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def error_response(error: CollectorError) -> bottle.HTTPResponse:
    body = {**error.body(), "request_id": bottle.request.environ.get(REQUEST_ID_KEY, "")}
    headers = {"Content-Type": JSON_TYPE, **error.headers}
    return bottle.HTTPResponse(json_body(body), status=error.status, headers=headers)


class ApiPlugin:
    """Renders dict results and CollectorErrors as JSON; refuses work while draining."""

    name = "testrun-api"
    api = 2

    def __init__(self, state: AppState) -> None:
        self.state = state

    def apply(self, callback: Callable[..., Any], route: bottle.Route) -> Callable[..., Any]:
        always_open = route.config.get("always_open", False)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                if self.state.draining.is_set() and not always_open:
                    raise Unavailable("the collector is shutting down; retry on another node or shortly")
                result = callback(*args, **kwargs)
            except CollectorError as error:
                if error.status >= 500:
                    log.warning("request %s: %s", bottle.request.environ.get(REQUEST_ID_KEY), error.message)
                return error_response(error)
            except bottle.HTTPResponse:
                raise
            except Exception:
                log.exception("request %s failed", bottle.request.environ.get(REQUEST_ID_KEY))
                return error_response(CollectorError("unexpected error; quote the request id when reporting it"))
            if isinstance(result, dict):
                bottle.response.content_type = JSON_TYPE
                return json_body(result)
            return result

        return wrapper


def _render_router_error(error: bottle.HTTPError) -> str:
    """Bottle's own 404/405 answers, in the same JSON shape as ours."""
    codes = {404: "not_found", 405: "method_not_allowed"}
    bottle.response.content_type = JSON_TYPE
    message = {404: "no such route", 405: "method not allowed on this route"}.get(error.status_code, "error")
    return json_body(
        {
            "error": codes.get(error.status_code, "internal_error"),
            "message": message,
            "request_id": bottle.request.environ.get(REQUEST_ID_KEY, ""),
        }
    )


def create_app(settings: Settings, *, store: Store | None = None, metrics: Metrics | None = None) -> CollectorApp:
    from . import web
    from .api import admin, analytics, ops, quarantine, runs, uploads

    store = store if store is not None else open_store(settings.db, **settings.store_options())
    metrics = metrics if metrics is not None else Metrics()
    state = AppState(settings=settings, store=store, metrics=metrics, auth=Authenticator(store, settings, metrics))
    app = CollectorApp(catchall=True)
    app.config["json.enable"] = False
    app.state = state
    app.install(ApiPlugin(state))
    for code in (404, 405, 500):
        app.error_handler[code] = _render_router_error
    runs.register(app, state)
    uploads.register(app, state)
    analytics.register(app, state)
    quarantine.register(app, state)
    web.register(app, store=store, auth=state.auth, settings=settings, draining=state.draining)
    admin.register(app, state)
    ops.register(app, state)
    app.wsgi_app = RequestLogMiddleware(app, metrics, log_format=settings.log_format)
    return app
