"""Signing in to the web pages with a project's ``read`` token, kept in a cookie.

The cookie holds the token itself, so every page authenticates exactly as the
read API does (revocation and expiry take effect on the next page; the
Authenticator's cache keeps that cheap). The cookie is HttpOnly (no script can
read it), SameSite=Strict (no other site can make the browser send it), limited
to ``/ui`` (the API never sees it, so the API cannot be driven by a cookie),
and Secure whenever the request came over HTTPS.
"""

from __future__ import annotations

from typing import Protocol

import bottle

from ..auth import Authenticator, Principal
from ..errors import CollectorError, Forbidden, TooManyRequests, Unauthorized, Unavailable
from ..model import TokenRecord
from ..tokens import parse_token

COOKIE = "testrun_session"
COOKIE_PATH = "/ui"


class SignInRequired(Exception):
    """No usable session: the page answers with a redirect to the sign-in page."""

    def __init__(self, *, ended: bool = False) -> None:
        super().__init__("sign in required")
        self.ended = ended


class SignInRefused(Exception):
    """The pasted token cannot sign in; ``message`` says why and what to do, without the token."""

    def __init__(self, message: str, *, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = dict(headers or {})


def is_https() -> bool:
    """Whether this request reached us over HTTPS, as the WSGI server reports it."""
    return str(bottle.request.urlparts.scheme) == "https"


def _cookie_options() -> dict[str, object]:
    return {"path": COOKIE_PATH, "httponly": True, "samesite": "strict", "secure": is_https()}


def remember(response: bottle.BaseResponse, token: str) -> None:
    response.set_cookie(COOKIE, token, **_cookie_options())


def forget(response: bottle.BaseResponse) -> None:
    response.delete_cookie(COOKIE, **_cookie_options())


def session_token() -> str | None:
    token = bottle.request.get_cookie(COOKIE)
    return token or None


def current_principal(auth: Authenticator) -> Principal:
    """Who the session cookie signs in, or SignInRequired; 429 and 503 pass through as errors."""
    token = session_token()
    if token is None:
        raise SignInRequired()
    try:
        principal = auth.authenticate("Bearer " + token, scope="read")
    except (Unauthorized, Forbidden):
        raise SignInRequired(ended=True) from None
    if principal.project is None:
        raise SignInRequired(ended=True)
    return principal


def sign_in(auth: Authenticator, tokens: TokenLookup, pasted: str) -> tuple[str, Principal]:
    """Check a pasted token; return it (trimmed) with its principal, or raise SignInRefused."""
    token = pasted.strip()
    if not token:
        raise SignInRefused("Paste a read token of your project.", status=400)
    if any(ch.isspace() for ch in token):
        raise SignInRefused(UNKNOWN_TOKEN, status=401)
    try:
        principal = auth.authenticate("Bearer " + token, scope="read")
    except Unauthorized:
        raise SignInRefused(UNKNOWN_TOKEN, status=401) from None
    except Forbidden:
        raise SignInRefused(_why_forbidden(tokens, token), status=403) from None
    except TooManyRequests as error:
        raise SignInRefused(
            f"Too many attempts with this token: try again in {error.retry_after} s.", status=429, headers=error.headers
        ) from None
    except Unavailable as error:
        raise SignInRefused(
            "The collector cannot check tokens right now: try again shortly.", status=503, headers=error.headers
        ) from None
    except CollectorError:
        raise SignInRefused("The token could not be checked: try again shortly.", status=500) from None
    if principal.project is None:
        raise SignInRefused(ADMIN_TOKEN, status=403)
    return token, principal


UNKNOWN_TOKEN = "That token was not accepted: it is mistyped, unknown, revoked or expired."
INGEST_TOKEN = (
    "That token can only send results (ingest scope). Sign in with a token that has the read scope: "
    "testrun-admin token create ORG/PROJECT --scope read"
)
ADMIN_TOKEN = (
    "Admin tokens belong to no project, so they cannot sign in here. "
    "Sign in with a read token of the project you want to see."
)


class TokenLookup(Protocol):
    """The part of the Store that tells an admin token from an ingest one (both lack ``read``)."""

    def get_token(self, token_id: str) -> TokenRecord | None: ...


def _why_forbidden(tokens: TokenLookup, token: str) -> str:
    # Only reached once the Authenticator has verified the token, so this lookup leaks nothing.
    token_id, _ = parse_token(token)
    record = tokens.get_token(token_id)
    if record is not None and record.project is None:
        return ADMIN_TOKEN
    return INGEST_TOKEN
