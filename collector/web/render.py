"""Turning page data into HTML answers, errors included, with the headers every UI answer carries.

Templates are Bottle SimpleTemplate files in ``templates/``; ``{{ value }}``
escapes, and the only unescaped output is ``{{!base}}`` in ``base.tpl``: the
page body, already rendered (and escaped) by its own template.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import bottle

from ..errors import CollectorError, Unavailable
from ..middleware import REQUEST_ID_KEY
from . import format as fmt
from .session import SignInRequired, forget

log = logging.getLogger("testrun")

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: our own form POSTs then carry Origin, which refuses login CSRF in browsers
    # without Fetch Metadata (no-referrer makes them send "Origin: null"); other sites still learn no URL
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
HTML_TYPE = "text/html; charset=utf-8"
#: where a page keeps the signed-in project, so its error page can still show the navigation
PROJECT_KEY = "testrun.web.project"

_templates: dict[str, bottle.SimpleTemplate] = {}
_templates_lock = threading.Lock()


def _template(name: str) -> bottle.SimpleTemplate:
    with _templates_lock:
        template = _templates.get(name)
        if template is None:
            template = _templates[name] = bottle.SimpleTemplate(name=name, lookup=[str(TEMPLATES)])
        return template


def render(name: str, **values: Any) -> str:
    """Render ``templates/<name>.tpl`` with the formatting helpers at hand as ``fmt``."""
    values.setdefault("project", None)
    values.setdefault("section", "")
    return str(_template(name).render(fmt=fmt, **values))


def secure(response: bottle.BaseResponse, *, cacheable: bool = False) -> None:
    """Add the security headers; pages hold a project's data, so browsers must not keep them."""
    for name, value in SECURITY_HEADERS.items():
        response.set_header(name, value)
    if not cacheable:
        response.set_header("Cache-Control", "no-store")


def request_id() -> str:
    return str(bottle.request.environ.get(REQUEST_ID_KEY, ""))


ERROR_TITLES = {
    400: "That request cannot be answered",
    401: "Sign in again",
    403: "Not allowed",
    404: "Not found",
    405: "Wrong kind of request",
    429: "Too many requests",
    500: "Something went wrong",
    503: "The collector is busy",
}


def error_page(status: int, message: str, *, headers: dict[str, str] | None = None) -> bottle.HTTPResponse:
    title = ERROR_TITLES.get(status, "Error")
    project = bottle.request.environ.get(PROJECT_KEY)
    body = render("error", title=title, status=status, message=message, request_id=request_id(), project=project)
    response = bottle.HTTPResponse(body, status=status, headers={"Content-Type": HTML_TYPE, **(headers or {})})
    secure(response)
    return response


def sign_in_redirect(ended: bool) -> bottle.HTTPResponse:
    """Send a page request without a usable session to the sign-in page, and back here after it."""
    request = bottle.request
    query: dict[str, str] = {}
    if request.method == "GET":
        # PATH_INFO arrives as Latin-1 text of the raw bytes (PEP 3333); links want the real characters
        path = request.environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        here = path + (f"?{request.query_string}" if request.query_string else "")
        if here not in ("/ui", "/ui/"):
            query["next"] = here
    if ended:
        query["ended"] = "1"
    location = fmt.page("/signin", **query)
    response = bottle.HTTPResponse(status=303, headers={"Location": location})
    if ended:
        forget(response)
    secure(response)
    return response


def safe_next(raw: str | None) -> str:
    """Where to go after signing in: only ever a UI path of this collector."""
    if not raw or not raw.startswith("/ui/") or any(ch in raw for ch in "\\\r\n\t") or raw.startswith("/ui//"):
        return "/ui/"
    return quote(raw, safe="/?&=%:;,+@!$'()*[]~.-_")


class WebPlugin:
    """Renders UI answers: HTML pages and HTML errors, security headers, 503 while draining.

    The app's ApiPlugin renders errors as JSON; UI routes skip it and use this.
    """

    name = "testrun-web"
    api = 2

    def __init__(self, draining: threading.Event) -> None:
        self.draining = draining

    def apply(self, callback: Callable[..., Any], route: bottle.Route) -> Callable[..., Any]:
        cacheable = route.config.get("cacheable", False)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                if self.draining.is_set():
                    raise Unavailable("the collector is shutting down; reload in a moment")
                result = callback(*args, **kwargs)
            except SignInRequired as required:
                return sign_in_redirect(required.ended)
            except bottle.HTTPResponse as answer:
                secure(answer, cacheable=cacheable)
                raise
            except CollectorError as error:
                if error.status >= 500:
                    log.warning("request %s: %s", request_id(), error.message)
                return error_page(error.status, error.message, headers=error.headers)
            except Exception:
                log.exception("request %s failed", request_id())
                return error_page(500, "An unexpected error happened; quote the request id when reporting it.")
            if isinstance(result, bottle.HTTPResponse):
                secure(result, cacheable=cacheable)
                return result
            secure(bottle.response, cacheable=cacheable)
            bottle.response.content_type = HTML_TYPE
            return result

        return wrapper
