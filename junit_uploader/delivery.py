"""Getting one payload to the collector, or into the spool: the step both producers end with.

The caller decides what a failure means for its exit status; this module
only reports what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .client import Accepted, CollectorClient, RetryPolicy
from .errors import ConfigError, Rejected, Unexpected, Unreachable, UploadError
from .settings import ClientSettings
from .spool import RUN_REJECTIONS, spool_run


@dataclass(frozen=True)
class Delivery:
    accepted: Accepted | None = None
    error: UploadError | None = None
    spooled: Path | None = None

    @property
    def ok(self) -> bool:
        return self.accepted is not None

    def describe(self, summary: str, run_id: str, spool_dir: Path) -> str:
        """The one line both producers print: what was stored, or why not and how to re-send."""
        if self.accepted:
            outcome = "200 duplicate: already stored" if self.accepted.duplicate else f"{self.accepted.status} created"
            return f"{summary} → run {run_id} ({outcome})"
        message = f"not uploaded: {self.error}"
        if self.spooled:
            message += f"; saved to {self.spooled}; re-send it with: {resend_command(spool_dir)}"
        return message


def client_for(settings: ClientSettings, user_agent: str) -> CollectorClient:
    if not settings.url:
        raise ConfigError("no collector URL: set TESTRUN_URL (or --url)")
    if not settings.token:
        raise ConfigError("no token: set TESTRUN_TOKEN to an ingest token of your project")
    policy = RetryPolicy(attempts=settings.retries + 1, timeout_s=settings.timeout_s, max_total_s=settings.max_total_s)
    return CollectorClient(settings.url, settings.token, policy=policy, user_agent=user_agent)


def deliver(settings: ClientSettings, payload: bytes, run_id: str, *, user_agent: str) -> Delivery:
    """Send the payload; spool it unless the collector refused what it holds (a re-send would meet that again).

    So a collector that cannot be reached, a token or URL that needs fixing
    (401, 403, 404, a redirect, an answer that is not a collector's) and
    anything unforeseen on the way all leave the run in the spool. Never raises
    but for a configuration error: the caller decides what a failure means.
    """
    try:
        accepted = client_for(settings, user_agent).post_run(payload)
    except Rejected as error:
        if error.status in RUN_REJECTIONS:
            return Delivery(error=error)
        return save_for_later(settings, payload, run_id, error)
    except ConfigError as error:
        return Delivery(error=error)
    except UploadError as error:
        return save_for_later(settings, payload, run_id, error)
    except Exception as error:  # noqa: BLE001 - a hostile server or a bug must never end the test job
        return save_for_later(settings, payload, run_id, Unexpected.of(error, "sending the run"))
    return Delivery(accepted=accepted)


def save_for_later(settings: ClientSettings, payload: bytes, run_id: str, error: UploadError) -> Delivery:
    """Save the run for a later re-send; a spool that cannot be written is said, never raised."""
    try:
        return Delivery(error=error, spooled=spool_run(settings.spool_dir, payload, run_id))
    except OSError as spool_error:
        reason = spool_error.strerror or type(spool_error).__name__
        return Delivery(error=UploadError(f"{error}; and it could not be saved in {settings.spool_dir}: {reason}"))


def resend_command(spool_dir: Path) -> str:
    return f"junit-upload --resend {spool_dir}"
