"""The collector's one error hierarchy.

Every error carries the HTTP status and the machine-readable code it is
answered with, so routes raise and a single handler renders; the admin CLI
turns the same errors into one line and an exit code.
"""

from __future__ import annotations

from typing import Any


class CollectorError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message}


class BadRequest(CollectorError):
    status = 400
    code = "bad_request"


class FieldError(dict):  # type: ignore[type-arg]
    """One failing field: ``{"field": "tests[3].status", "message": "..."}``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field=field, message=message)


class Invalid(BadRequest):
    """The body was JSON but failed validation; names every failing field."""

    code = "invalid_payload"

    def __init__(self, errors: list[FieldError], *, truncated: bool = False) -> None:
        names = ", ".join(e["field"] for e in errors[:5])
        more = "" if len(errors) <= 5 and not truncated else ", ..."
        super().__init__(f"{len(errors)}{'+' if truncated else ''} invalid field(s): {names}{more}")
        self.errors = errors
        self.truncated = truncated

    def body(self) -> dict[str, Any]:
        return {**super().body(), "errors": self.errors, "errors_truncated": self.truncated}


class Unauthorized(CollectorError):
    """Every authentication failure gets this same answer, so none leaks which check failed."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str = "missing, malformed, unknown, revoked or expired token") -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="testrun"'})


class Forbidden(CollectorError):
    status = 403
    code = "forbidden"


class NotFound(CollectorError):
    status = 404
    code = "not_found"


class AlreadyExists(CollectorError):
    status = 409
    code = "already_exists"


class RunConflict(CollectorError):
    status = 409
    code = "run_id_conflict"

    HINT = (
        "this run_id already holds different results. If several jobs or matrix legs "
        "report from the same CI job, give each its own label (TESTRUN_LABEL or --label) "
        "so each gets its own run_id."
    )

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} already exists with different content; nothing was overwritten")
        self.run_id = run_id

    def body(self) -> dict[str, Any]:
        return {**super().body(), "run_id": self.run_id, "hint": self.HINT}


class UploadConflict(CollectorError):
    """An upload's batch or completion that does not fit what the upload holds; nothing was changed."""

    status = 409
    code = "upload_conflict"


class PayloadTooLarge(CollectorError):
    status = 413
    code = "payload_too_large"


class RequestTimeout(CollectorError):
    """The request did not arrive in full in time (answered by the server, see wire.py)."""

    status = 408
    code = "request_timeout"


class HeadersTooLarge(CollectorError):
    status = 431
    code = "headers_too_large"


class NotImplementedByServer(CollectorError):
    """A request the server cannot take at all, e.g. a Transfer-Encoding it does not know."""

    status = 501
    code = "not_implemented"


class UnsupportedMediaType(CollectorError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(CollectorError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = max(1, int(retry_after))


class Unavailable(CollectorError):
    """The database is busy past its timeout, unreachable, or the collector is shutting down."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = max(1, int(retry_after))


class SchemaMismatch(CollectorError):
    """The database schema is not the version this collector was built for."""

    status = 503
    code = "schema_mismatch"


class ConfigError(CollectorError):
    """A setting (flag, environment variable, database URL) has a value we cannot use."""

    status = 500
    code = "config_error"
