"""The one error hierarchy of the client side (junit-upload and the pytest plugin).

Messages are one line a user can act on, and never contain the token.
"""

from __future__ import annotations

import traceback
from pathlib import Path


class UploadError(Exception):
    """Base of every error the client raises on purpose."""


class ConfigError(UploadError):
    """A flag, environment variable or ini value we cannot use (names it and where it came from)."""


class ReportError(UploadError):
    """The input reports cannot be turned into a run; nothing is uploaded."""


class NoReportFound(ReportError):
    """A path or glob matched no file."""


class MalformedReport(ReportError):
    """A report is not well-formed JUnit XML, or is refused as unsafe (DTDs, entities)."""


class Rejected(UploadError):
    """The collector answered a 4xx that a retry cannot fix (400, 401, 403, 404, 409, 413, 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Unreachable(UploadError):
    """Every attempt failed (connection errors, timeouts, 5xx, 429) or the time bound ran out."""


class PlainHTTPCollector(Unreachable):
    """An https:// URL met a server that answers in plain HTTP: a retry cannot fix the URL, so none is made."""


class UploadIncomplete(UploadError):
    """The collector holds the upload's batches but not all of them: the run is sent whole instead."""


class MalformedList(UploadError):
    """The collector's quarantine list is not in the shape of one: it counts as not fetched."""


class CannotRun(UploadError):
    """``junit-upload run`` could not start the test command; ``status`` is what a shell exits with for it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Unexpected(UploadError):
    """Something no error of ours foresaw (a bug, MemoryError): named by its type and place, never its text."""

    @classmethod
    def of(cls, error: BaseException, doing: str) -> Unexpected:
        """The text is left out because an exception raised on the way may quote the request, token and all."""
        frames = traceback.extract_tb(error.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        return cls(f"an unexpected {type(error).__name__} while {doing}{where}")
