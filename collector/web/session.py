"""Signing in to the web pages with a project's ``read`` token, and the server-side session that follows.

Signing in checks the pasted token through the Authenticator, as the read API
would (bcrypt once, throttles, scope). The browser then gets a random session
id (``secrets.token_urlsafe(32)``) in its cookie, never the token: the cookie
is not a token, so it is worthless on the API, and the store keeps only the
id's SHA-256, tied to the token id that signed in, so a copy of the database
signs nobody in.

Every page looks the session up by that hash, joined to the token's row as
stored now, without bcrypt. The session has ended, and its row is deleted,
when the token is revoked, expired or deleted, when nobody used it for
``session_idle_s`` or when ``session_absolute_s`` have passed since signing in.
Signing out deletes the row, so a copied cookie stops working at once, on every
collector sharing the database; revoking a token deletes its sessions as well.
"Last seen" is written at most once a minute per session (more often only for
an idle lifetime under four minutes), so page views stay reads. Each sign-in
also deletes up to ``PURGE_ON_SIGN_IN`` expired sessions: sessions are only
made by signing in, so the table cannot grow past the live ones.

The cookie is HttpOnly (no script can read it), SameSite=Strict (no other site
can make the browser send it), limited to ``/ui`` (the API never sees it), and
Secure whenever the request came over HTTPS.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Protocol

import bottle

from ..auth import Authenticator, Principal
from ..errors import CollectorError, Forbidden, TooManyRequests, Unauthorized, Unavailable
from ..model import TokenRecord, WebSession, grants
from ..timeutil import format_utc, parse_rfc3339
from ..tokens import parse_token

if TYPE_CHECKING:
    from ..settings import Settings

COOKIE = "testrun_session"
COOKIE_PATH = "/ui"
#: expired sessions deleted by each sign-in
PURGE_ON_SIGN_IN = 100
#: the longest "last seen" may lag behind a session's last page view
TOUCH_INTERVAL_S = 60.0
#: what secrets.token_urlsafe(32) makes; any other cookie value is not looked up
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")


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


def remember(response: bottle.BaseResponse, session_id: str) -> None:
    response.set_cookie(COOKIE, session_id, **_cookie_options())


def forget(response: bottle.BaseResponse) -> None:
    response.delete_cookie(COOKIE, **_cookie_options())


def session_cookie() -> str | None:
    value = bottle.request.get_cookie(COOKIE)
    return value or None


def session_hash(session_id: str) -> bytes:
    """What the store keeps of a session id: its SHA-256, never the id."""
    return hashlib.sha256(session_id.encode("ascii")).digest()


class SessionStore(Protocol):
    """The part of the Store that web sessions need."""

    def create_web_session(self, id_hash: bytes, token_id: str, when: str) -> None: ...

    def get_web_session(self, id_hash: bytes) -> WebSession | None: ...

    def touch_web_session(self, id_hash: bytes, when: str) -> None: ...

    def delete_web_session(self, id_hash: bytes) -> bool: ...

    def purge_web_sessions(self, *, idle_before: str, created_before: str, limit: int) -> int: ...


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class WebSessions:
    """Starts, checks and ends the web pages' sessions; one per app, shared by the server's threads."""

    def __init__(self, store: SessionStore, settings: Settings, *, now: Callable[[], datetime] = _utc_now) -> None:
        self._store = store
        self._idle = timedelta(seconds=settings.session_idle_s)
        self._absolute = timedelta(seconds=settings.session_absolute_s)
        self._touch_every = timedelta(seconds=min(TOUCH_INTERVAL_S, settings.session_idle_s / 4))
        self._now = now

    def start(self, token_id: str) -> str:
        """A new session for the token that just signed in; the id goes in the cookie and nowhere else."""
        now = self._now()
        self.purge(limit=PURGE_ON_SIGN_IN, now=now)
        session_id = secrets.token_urlsafe(32)
        self._store.create_web_session(session_hash(session_id), token_id, format_utc(now))
        return session_id

    def purge(self, *, limit: int, now: datetime | None = None) -> int:
        """Delete up to ``limit`` expired sessions; how many went."""
        now = now or self._now()
        return self._store.purge_web_sessions(
            idle_before=format_utc(now - self._idle), created_before=format_utc(now - self._absolute), limit=limit
        )

    def principal(self, session_id: str | None) -> Principal:
        """Who the session signs in, or SignInRequired (ending the session when it has run out)."""
        if session_id is None:
            raise SignInRequired()
        if not _SESSION_ID.fullmatch(session_id):
            raise SignInRequired(ended=True)
        id_hash = session_hash(session_id)
        found = self._store.get_web_session(id_hash)
        if found is None:
            raise SignInRequired(ended=True)
        now = self._now()
        if not self._usable(found, now):
            self._store.delete_web_session(id_hash)
            raise SignInRequired(ended=True)
        if now - parse_rfc3339(found.last_seen_at) >= self._touch_every:
            self._store.touch_web_session(id_hash, format_utc(now))
        token = found.token
        return Principal(token_id=token.token_id, project=token.project, scopes=token.scopes, actor=token.shown_name)

    def _usable(self, found: WebSession, now: datetime) -> bool:
        token = found.token
        if token.revoked_at is not None or token.project is None or not grants(token.scopes, "read"):
            return False
        # fixed-width RFC 3339 UTC text (timeutil.format_utc): text order is time order
        if token.expires_at is not None and token.expires_at <= format_utc(now):
            return False
        if now - parse_rfc3339(found.last_seen_at) > self._idle:
            return False
        return now - parse_rfc3339(found.created_at) <= self._absolute

    def end(self, session_id: str | None) -> None:
        """Sign out: delete the session's row, so a copy of the cookie stops working at once."""
        if session_id is not None and _SESSION_ID.fullmatch(session_id):
            self._store.delete_web_session(session_hash(session_id))


def check_pasted_token(auth: Authenticator, tokens: TokenLookup, pasted: str, *, client: str) -> Principal:
    """Check a pasted token as the read API would; return its principal, or raise SignInRefused."""
    token = pasted.strip()
    if not token:
        raise SignInRefused("Paste a read token of your project.", status=400)
    if any(ch.isspace() for ch in token):
        raise SignInRefused(UNKNOWN_TOKEN, status=401)
    try:
        principal = auth.authenticate("Bearer " + token, scope="read", client=client)
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
    return principal


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
