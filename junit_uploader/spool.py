"""The spool: runs that could not be delivered, kept on disk until a later re-send gets them there.

One file per run, named after a hash of its run_id, holding exactly the JSON
bytes that were (or would have been) sent. Re-sending is idempotent: the
collector answers a run it already holds with ``200 duplicate``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .client import Accepted, CollectorClient
from .errors import Rejected, Unreachable, UploadError

REJECTED_DIR = "rejected"
#: refusals of what is sent: the same bytes will always meet them, so the file is set aside
RUN_REJECTIONS = frozenset({400, 409, 413, 415})
NOT_TRIED = "not tried after {name} failed: {error}"


def spool_name(run_id: str) -> str:
    """A name that is stable for one run and reveals nothing of its run_id."""
    return "run-" + hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:24] + ".json"


def spool_run(spool_dir: Path, payload: bytes, run_id: str) -> Path:
    """Write the payload atomically (mode 0600); spooling the same run again replaces its file."""
    spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = spool_dir / spool_name(run_id)
    _write_atomically(target, payload)
    return target


def spooled_runs(spool_dir: Path) -> list[Path]:
    """Spooled runs, oldest first; half-written temporary files and set-aside runs are not listed."""
    if not spool_dir.is_dir():
        return []
    aged: list[tuple[int, str, Path]] = []
    for path in spool_dir.glob("run-*.json"):
        with contextlib.suppress(FileNotFoundError):
            if path.is_file():
                aged.append((path.stat().st_mtime_ns, path.name, path))
    return [path for _, _, path in sorted(aged)]


@dataclass
class ResendReport:
    #: delivered (201 new, or 200 duplicate: stored earlier); their files are removed
    sent: list[tuple[Path, Accepted]] = field(default_factory=list)
    #: refused for what the run holds; each path is its new place under spool_dir/rejected/
    rejected: list[tuple[Path, Rejected]] = field(default_factory=list)
    #: still in the spool for next time: the collector was unreachable, or refused the token or URL
    failed: list[tuple[Path, UploadError]] = field(default_factory=list)


def resend_spooled(client: CollectorClient, spool_dir: Path) -> ResendReport:
    """Send every spooled run's exact bytes, oldest first.

    The first failure that is not about what the run holds (unreachable, or a
    401, 403, 404 or unexpected answer) ends the re-send: every later run would meet
    it too, each after the client's whole retry budget. Those runs stay.
    """
    report = ResendReport()
    pending = spooled_runs(spool_dir)
    while pending:
        path = pending.pop(0)
        try:
            payload = path.read_bytes()
        except FileNotFoundError:
            continue
        try:
            accepted = client.post_run(payload)
        except Rejected as error:
            if error.status in RUN_REJECTIONS:
                report.rejected.append((_set_aside(path, spool_dir), error))
                continue
            _keep_all(report, path, error, pending)
            break
        except Unreachable as error:
            _keep_all(report, path, error, pending)
            break
        path.unlink(missing_ok=True)
        report.sent.append((path, accepted))
    return report


def _keep_all(report: ResendReport, path: Path, error: UploadError, rest: list[Path]) -> None:
    report.failed.append((path, error))
    report.failed.extend((other, _not_tried(path, error)) for other in rest)


def _not_tried(failed: Path, error: UploadError) -> UploadError:
    message = NOT_TRIED.format(name=failed.name, error=error)
    return Rejected(error.status, message) if isinstance(error, Rejected) else Unreachable(message)


def _set_aside(path: Path, spool_dir: Path) -> Path:
    rejected_dir = spool_dir / REJECTED_DIR
    rejected_dir.mkdir(mode=0o700, exist_ok=True)
    target = rejected_dir / path.name
    os.replace(path, target)
    return target


def _write_atomically(target: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never a part; the temp file is 0600 from birth (mkstemp)."""
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".run-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; best effort, as some platforms and file systems cannot fsync a directory."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
