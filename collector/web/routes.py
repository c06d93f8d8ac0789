"""The web pages under ``/ui/``: sign-in, overview, runs, one run, flaky, slowest, failing, one test.

Each route reads the store through the same calls as the read API, for the
project of the signed-in token only, and renders one template.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import bottle

from ..analytics import Analytics, parse_days, parse_limit
from ..api.runs import run_url
from .. import quarantine
from ..auth import Principal
from ..errors import BadRequest, Forbidden, Invalid, NotFound
from ..middleware import request_context
from ..model import ATTENTION_RANKS, RUN_STATUSES, Project, Window, grants
from ..params import status_filter
from ..timeutil import utc_now
from . import charts
from . import format as fmt
from .render import PROJECT_KEY, STATIC, WebPlugin, error_page, render, safe_next
from .session import (
    SignInRefused,
    WebSessions,
    check_pasted_token,
    forget,
    remember,
    session_cookie,
)

if TYPE_CHECKING:
    import threading

    from ..auth import Authenticator
    from ..settings import Settings
    from ..store import Store

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

#: runs per page of the runs list, and history entries per page of a test
RUNS_PER_PAGE = 50
HISTORY_PER_PAGE = 50
#: tests per page of a run page, what needs attention first (model.attention_rank)
RUN_TESTS_PER_PAGE = 200
#: the most bytes a run page can take: each row is bounded (fields capped at ingest, long texts cut
#: to fmt.MESSAGE_SHOWN / fmt.DETAILS_SHOWN characters, all at worst 6 bytes a character once escaped)
RUN_PAGE_MAX_BYTES = RUN_TESTS_PER_PAGE * fmt.RUN_ROW_MAX_BYTES + fmt.RUN_HEAD_MAX_BYTES
#: rows of each table on the overview
OVERVIEW_ROWS = 5
#: the order tests are listed in on a run page: what needs attention first (the store sorts by it)
STATUS_ORDER = ATTENTION_RANKS


def _query(name: str) -> str | None:
    value = bottle.request.query.getunicode(name)
    return value if value else None


CROSS_SITE = "this form can only be sent from the collector's own pages"
NO_ORIGIN = (
    "this form can only be sent from the collector's own pages, and the request did not say where it came from "
    "(a browser sends Origin; another client must send Origin: the collector's own address)"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """Scheme, host and port of a URL, default port filled in; None when it has no host or a bad port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS.get(scheme)


def _refuse_cross_site_post() -> None:
    """Refuse a form POST that did not come from our own pages, before it changes anything.

    Sec-Fetch-Site, when sent, must be same-origin (or none: the user's own
    navigation). Browsers without Fetch Metadata (and every browser over plain
    HTTP to a host other than localhost) are judged by Origin, or without it by
    Referer: scheme, host and port must be this request's own, as
    ``request.urlparts`` has them (behind TESTRUN_TRUSTED_PROXY, the proxy's).
    ``Origin: null`` can come from any site (a sandboxed frame), so only
    Sec-Fetch-Site can vouch for it. A request with none of the three is
    refused: every browser of the last years sends Origin on a form POST, and
    one that does not would sign in for whichever site made it.
    """
    request = bottle.request
    site = request.get_header("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise BadRequest(CROSS_SITE)
    own = _origin(f"{request.urlparts.scheme}://{request.urlparts.netloc}")
    origin = request.get_header("Origin")
    if origin is not None and origin.strip() != "null":
        if _origin(origin.strip()) != own:
            raise BadRequest(CROSS_SITE)
        return
    if origin is None and request.get_header("Referer"):
        if _origin(request.get_header("Referer").strip()) != own:
            raise BadRequest(CROSS_SITE)
        return
    if site is None:
        raise BadRequest(CROSS_SITE if origin is not None else NO_ORIGIN)


def register(
    app: bottle.Bottle, *, store: Store, auth: Authenticator, settings: Settings, draining: threading.Event
) -> None:
    """The web pages' routes on ``app``, reading ``store``; ``draining`` set means answer 503."""
    analytics = Analytics(store)
    plugin = WebPlugin(draining)
    sessions = WebSessions(store, settings)

    def page(path: str, method: str = "GET", **config: Any) -> Decorator:
        """A UI route: rendered by WebPlugin (HTML, headers) instead of the API's JSON plugin.

        Every POST page refuses a form sent from another site before its own code runs.
        """
        route = cast(Decorator, app.route(path, method, skip=["testrun-api"], apply=[plugin], **config))
        if method != "POST":
            return route

        def same_site_only(callback: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(callback)
            def checked(*args: Any, **kwargs: Any) -> Any:
                _refuse_cross_site_post()
                return callback(*args, **kwargs)

            route(checked)
            return callback

        return same_site_only

    def signed_in_as() -> Principal:
        """Who the signed-in session is (or a redirect to sign in)."""
        principal = sessions.principal(session_cookie())
        project = principal.project
        assert project is not None  # sessions of admin tokens are never usable
        request_context(bottle.request.environ).update(project=project.slug)
        bottle.request.environ[PROJECT_KEY] = project
        return principal

    def signed_in() -> Project:
        """The project of the signed-in session (or a redirect to sign in)."""
        project = signed_in_as().project
        assert project is not None
        return project

    def triage_session() -> Principal:
        """A signed-in session whose token may change the quarantine list, or a 403 page saying so."""
        principal = signed_in_as()
        if not grants(principal.scopes, "triage"):
            raise Forbidden(TRIAGE_NEEDED)
        return principal

    def window() -> Window:
        return analytics.window(parse_days(_query("days")), _query("branch"))

    # --- sign-in ---------------------------------------------------------------------
    @page("/")
    @page("/ui")
    def to_overview() -> bottle.HTTPResponse:
        return bottle.HTTPResponse(status=303, headers={"Location": "/ui/"})

    @page("/ui/static/<filename:path>", cacheable=True)
    def static(filename: str) -> bottle.HTTPResponse:
        answer = bottle.static_file(filename, root=str(STATIC))
        if answer.status_code == 200:
            answer.set_header("Cache-Control", "public, max-age=3600")
        return answer

    @page("/ui/signin")
    def signin_form() -> str:
        query = bottle.request.query
        return render(
            "signin",
            title="Sign in",
            error=None,
            notice=_sign_in_notice(query.get("ended"), query.get("signed_out")),
            next=safe_next(_query("next")),
        )

    @page("/ui/signin", "POST")
    def signin() -> str | bottle.HTTPResponse:
        form = bottle.request.forms
        target = safe_next(form.getunicode("next"))
        try:
            principal = check_pasted_token(
                auth, store, form.getunicode("token") or "", client=bottle.request.remote_addr or ""
            )
        except SignInRefused as refused:
            bottle.response.status = refused.status
            for name, value in refused.headers.items():
                bottle.response.set_header(name, value)
            return render("signin", title="Sign in", error=refused.message, notice=None, next=target)
        answer = bottle.HTTPResponse(status=303, headers={"Location": target})
        remember(answer, sessions.start(principal.token_id))
        return answer

    @page("/ui/signout", "POST")
    def signout() -> bottle.HTTPResponse:
        sessions.end(session_cookie())
        answer = bottle.HTTPResponse(status=303, headers={"Location": "/ui/signin?signed_out=1"})
        forget(answer)
        return answer

    # --- pages -------------------------------------------------------------------------
    @page("/ui/")
    def overview() -> str:
        project, span = signed_in(), window()
        summary = analytics.summary(project, span)
        totals = analytics.totals(project, span)  # one read of the window's rollups for both tables
        return render(
            "overview",
            title="Overview",
            section="overview",
            project=project,
            window=span,
            summary=summary,
            charts=[
                charts.runs_per_day(summary.days),
                charts.pass_rate(summary.days),
                charts.duration_trend(summary.days),
            ],
            failing=analytics.failing(project, span, OVERVIEW_ROWS, totals=totals),
            flaky=analytics.flaky(project, span, OVERVIEW_ROWS, totals=totals),
        )

    @page("/ui/runs")
    def runs() -> str:
        project = signed_in()
        branch, status, cursor = _query("branch"), status_filter(_query("status")), _query("cursor")
        listing = store.list_runs(project, limit=RUNS_PER_PAGE, cursor=cursor, branch=branch, status=status)
        return render(
            "runs",
            title="Runs",
            section="runs",
            project=project,
            runs=listing.runs,
            branch=branch,
            status=status,
            statuses=RUN_STATUSES,
            older=fmt.page("/runs", branch=branch, status=status, cursor=listing.next_cursor)
            if listing.next_cursor
            else None,
            newest=fmt.page("/runs", branch=branch, status=status) if cursor else None,
        )

    @page("/ui/runs/<run_id:path>")
    def run(run_id: str) -> str | bottle.HTTPResponse:
        project = signed_in()
        request_context(bottle.request.environ)["run_id"] = run_id
        if _query("all") is not None:  # the old "show all tests" link: every test on one page is no longer offered
            return bottle.HTTPResponse(status=303, headers={"Location": fmt.run_href(run_id)})
        cursor = _query("cursor")
        stored = store.get_run(project, run_id, with_tests=False)
        listing = store.list_run_tests(project, run_id, limit=RUN_TESTS_PER_PAGE, cursor=cursor)
        return render(
            "run",
            title=f"Run {stored.run_id}",
            section="runs",
            project=project,
            run=stored,
            tests=listing.tests,
            verdict=stored.verdict,
            judged={item["test_id"]: item for item in (stored.verdict or {}).get("tests", [])},
            api_url=run_url(stored.run_id),
            next_page=fmt.run_href(stored.run_id, cursor=listing.next_cursor) if listing.next_cursor else None,
            first_page=fmt.run_href(stored.run_id) if cursor else None,
            job_url=fmt.external_url(stored.ci.get("url")),
        )

    def analytics_page(name: str, title: str, rows: Callable[..., list[Any]]) -> Callable[[], str]:
        def handler() -> str:
            project = signed_in()
            span, limit = window(), parse_limit(_query("limit"))
            return render(
                name, title=title, section=name, project=project, window=span, rows=rows(project, span, limit)
            )

        handler.__name__ = f"web_{name}"
        return handler

    page("/ui/flaky")(analytics_page("flaky", "Flaky tests", analytics.flaky))
    page("/ui/slowest")(analytics_page("slowest", "Slowest tests", analytics.slowest))
    page("/ui/failing")(analytics_page("failing", "Failing tests", analytics.failing))

    @page("/ui/tests")
    def test() -> str:
        principal = signed_in_as()
        project = principal.project
        assert project is not None
        test_id = _query("test_id")
        if test_id is None:
            raise BadRequest("test_id is required: open a test from the failing, flaky or slowest tests")
        cursor = _query("cursor")
        history = analytics.history(project, test_id, limit=HISTORY_PER_PAGE, cursor=cursor)
        now = utc_now()
        trail = store.quarantine_trail(project, test_id, now)
        if not history.entries and cursor is None and not trail:
            raise NotFound("no results of this test are stored in this project")
        entries = history.entries
        listed = {entry.test_id: entry for entry in store.quarantine_list(project, now) if entry.test_id == test_id}
        return render(
            "test",
            title=f"Test {test_id}",
            section="tests",
            project=project,
            test_id=test_id,
            entries=entries,
            strip=charts.status_strip(entries, fmt.run_href),
            durations=charts.duration_history(entries, fmt.run_href),
            older=fmt.test_href(test_id, cursor=history.next_cursor) if history.next_cursor else None,
            newest=fmt.test_href(test_id) if cursor else None,
            quarantined=listed.get(test_id),
            trail=trail,
            can_triage=grants(principal.scopes, "triage"),
            here=fmt.test_href(test_id),
        )

    # --- the quarantine list ------------------------------------------------------------
    @page("/ui/quarantine")
    def quarantine_page() -> str:
        principal = signed_in_as()
        project = principal.project
        assert project is not None
        return render(
            "quarantine",
            title="Quarantine",
            section="quarantine",
            project=project,
            entries=store.quarantine_list(project, utc_now()),
            can_triage=grants(principal.scopes, "triage"),
        )

    @page("/ui/quarantine/add", "POST")
    def quarantine_add() -> bottle.HTTPResponse:
        principal = triage_session()
        assert principal.project is not None
        form = bottle.request.forms
        test_id = form.getunicode("test_id") or ""
        body = {"test_id": test_id, "reason": form.getunicode("reason"), "expires_at": form.getunicode("expires") or None}
        try:
            quarantine.add(store, principal.project, body, actor=principal.actor, now=utc_now())
        except Invalid as invalid:
            raise BadRequest("Not quarantined: " + "; ".join(
                f"{FORM_FIELDS.get(e['field'], e['field'])} {e['message']}" for e in invalid.errors)) from None
        return bottle.HTTPResponse(status=303, headers={"Location": fmt.test_href(test_id)})

    @page("/ui/quarantine/release", "POST")
    def quarantine_release() -> bottle.HTTPResponse:
        principal = triage_session()
        assert principal.project is not None
        form = bottle.request.forms
        quarantine.release(store, principal.project, form.getunicode("test_id"), actor=principal.actor, now=utc_now())
        return bottle.HTTPResponse(status=303, headers={"Location": safe_next(form.getunicode("next"))})

    @page("/ui/<rest:path>")
    def not_found(rest: str) -> None:
        raise NotFound("there is no such page")

    api_method_not_allowed = app.error_handler.get(405, app.default_error_handler)

    def method_not_allowed(error: bottle.HTTPError) -> Any:
        """A page asked for with the wrong method answers a page too; the API keeps its JSON."""
        if not bottle.request.path.startswith("/ui"):
            return api_method_not_allowed(error)
        allow = {"Allow": str(error.headers["Allow"])} if "Allow" in error.headers else {}
        return error_page(405, "this page does not take that kind of request: open it with a link", headers=allow)

    app.error_handler[405] = method_not_allowed


TRIAGE_NEEDED = (
    "Your token cannot change the quarantine list: sign in with a token that has the triage scope "
    "(testrun-admin token create ORG/PROJECT --scope triage)."
)
#: how the quarantine form names its fields, for the error page
FORM_FIELDS = {"test_id": "the test", "reason": "the reason", "expires_at": "the expiry"}


def _sign_in_notice(ended: str | None, signed_out: str | None) -> str | None:
    if signed_out:
        return "You are signed out."
    if ended:
        return "Your session ended (the token was revoked, expired or is no longer accepted): sign in again."
    return None
