"""API tokens: minting, parsing, hashing, and creating them in the store.

A token reads ``testrun_<token_id>_<secret><checksum>``:

- ``testrun_`` makes a leaked token recognisable to secret scanners;
- ``token_id``: 12 base62 characters, public, the row's key in the store;
- ``secret``: 43 base62 characters from ``secrets`` (43 * log2(62) > 256 bits);
- ``checksum``: CRC32 of everything before it as 6 base62 characters, so a
  mistyped or truncated token is refused without touching the database.

Only a bcrypt hash of the secret is stored. The secret (43 bytes) stays under
bcrypt's 72-byte limit, past which bcrypt 5 raises ValueError.
"""

from __future__ import annotations

import hmac
import math
import re
import secrets
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import bcrypt

from .errors import BadRequest, Unauthorized
from .model import Project, TokenRecord
from .timeutil import format_utc, parse_rfc3339, utc_now

PREFIX = "testrun_"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TOKEN_ID_LENGTH = 12
SECRET_LENGTH = 43
CHECKSUM_LENGTH = 6
TOKEN_LENGTH = len(PREFIX) + TOKEN_ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH

PROJECT_SCOPES = ("ingest", "read", "triage")
#: the longest name a token may be given
NAME_MAX = 64
ADMIN_SCOPES = ("admin",)

_TOKEN = re.compile(
    re.escape(PREFIX)
    + f"([0-9A-Za-z]{{{TOKEN_ID_LENGTH}}})_([0-9A-Za-z]{{{SECRET_LENGTH}}})([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})"
)


class TokenSink(Protocol):
    """The part of the Store that create_token needs."""

    def insert_token(self, token: TokenRecord) -> None: ...


@dataclass(frozen=True)
class MintedToken:
    """A freshly minted token: the only moment the secret exists in clear."""

    token_id: str
    secret: str
    token: str

    def __repr__(self) -> str:
        return f"MintedToken(token_id={self.token_id!r}, secret=<hidden>)"

    __str__ = __repr__


def mint_token() -> MintedToken:
    token_id = _random_base62(TOKEN_ID_LENGTH)
    secret = _random_base62(SECRET_LENGTH)
    return MintedToken(token_id=token_id, secret=secret, token=format_token(token_id, secret))


def format_token(token_id: str, secret: str) -> str:
    """The full token text, checksum included."""
    body = f"{PREFIX}{token_id}_{secret}"
    return body + _checksum(body)


def parse_token(text: str) -> tuple[str, str]:
    """Split a token into ``(token_id, secret)``; raise Unauthorized for anything else.

    The exception never carries the text, which may be a real token with a typo.
    """
    if not isinstance(text, str) or len(text) != TOKEN_LENGTH:
        raise Unauthorized()
    match = _TOKEN.fullmatch(text)
    if match is None:
        raise Unauthorized()
    token_id, secret, checksum = match.groups()
    if not hmac.compare_digest(checksum, _checksum(text[:-CHECKSUM_LENGTH])):
        raise Unauthorized()
    return token_id, secret


def hash_secret(secret: str, rounds: int) -> bytes:
    return bcrypt.hashpw(secret.encode("utf-8"), bcrypt.gensalt(rounds))


def secret_matches(secret: str, secret_hash: bytes) -> bool:
    """bcrypt check; False also when the stored hash is not a bcrypt hash at all."""
    try:
        return bcrypt.checkpw(secret.encode("utf-8"), secret_hash)
    except ValueError:
        return False


def create_token(
    store: TokenSink,
    *,
    project: Project | None,
    scopes: Sequence[str],
    expires_in_days: float | None,
    bcrypt_rounds: int,
    now: str | None = None,
    name: str | None = None,
) -> tuple[MintedToken, TokenRecord]:
    """Mint a token, store its record, and return both; the caller shows ``token`` once.

    A project token takes ``ingest``, ``read`` and/or ``triage``; a token without a
    project is an admin token and takes exactly ``admin``. ``name`` is what people
    see of it (who changed the quarantine list). Raise BadRequest otherwise.
    """
    checked_scopes = _checked_scopes(project, scopes)
    checked_name = _checked_name(name)
    created_at = now or utc_now()
    expires_at = _expiry(created_at, expires_in_days)
    minted = mint_token()
    record = TokenRecord(
        token_id=minted.token_id,
        secret_hash=hash_secret(minted.secret, bcrypt_rounds),
        project=project,
        scopes=checked_scopes,
        created_at=created_at,
        expires_at=expires_at,
        name=checked_name,
    )
    store.insert_token(record)
    return minted, record


def _checked_scopes(project: Project | None, scopes: Sequence[str]) -> tuple[str, ...]:
    """The scopes a token of this kind may hold, deduplicated, in canonical order."""
    if isinstance(scopes, str):
        raise TypeError("scopes must be a sequence of scope names, not one string")
    given = list(dict.fromkeys(scopes))
    if not given:
        choices = "'admin'" if project is None else "'ingest', 'read' and/or 'triage'"
        raise BadRequest(f"a token needs at least one scope: {choices}")
    if project is None:
        for scope in given:
            if scope != "admin":
                raise BadRequest(
                    f"scope {scope!r} is not allowed: a token without a project is an admin token "
                    "and takes exactly the 'admin' scope"
                )
        return ADMIN_SCOPES
    for scope in given:
        if scope == "admin":
            raise BadRequest("scope 'admin' is only for admin tokens, which have no project")
        if scope not in PROJECT_SCOPES:
            raise BadRequest(f"unknown scope {scope!r}: a project token takes 'ingest', 'read' and/or 'triage'")
    return tuple(scope for scope in PROJECT_SCOPES if scope in given)


def _checked_name(name: object) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX or not name.isprintable():
        raise BadRequest(f"token name {name!r} is not valid: 1 to {NAME_MAX} printable characters, e.g. ci-triage")
    return name.strip()


def _expiry(created_at: str, expires_in_days: float | None) -> str | None:
    if expires_in_days is None:
        return None
    if (
        isinstance(expires_in_days, bool)
        or not isinstance(expires_in_days, (int, float))
        or not math.isfinite(expires_in_days)
        or expires_in_days <= 0
    ):
        raise BadRequest(f"expires_in_days must be a positive number of days, not {expires_in_days!r}")
    try:
        return format_utc(parse_rfc3339(created_at) + timedelta(days=expires_in_days))
    except OverflowError:
        raise BadRequest(f"expires_in_days={expires_in_days!r} is too far in the future") from None


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def _checksum(body: str) -> str:
    number = zlib.crc32(body.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))
