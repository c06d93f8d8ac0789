"""Sending a large session's results in batches while its tests still run (``/api/v1/uploads``).

The end of a large session used to wait while the collector stored every
result (about a second for 27,000 tests). Once ``batch_tests`` finished
results have gathered, the plugin opens an upload and a thread beside the
session sends them, batch by batch, as tests finish; the end of the session
sends what is left and completes the upload, which the collector answers as
it would have answered the whole run in one POST (same run id, same digest:
a retried session is still a duplicate).

Nothing may be lost or counted twice, so any doubt means the whole run is
sent the old way, in one POST with its retries and its spool: the collector
is older than uploads, a batch could not be sent, a test reported again after
its result went out, the completion did not get through. A small session
never opens an upload at all.
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

from junit_uploader.client import Accepted
from junit_uploader.delivery import client_for
from junit_uploader.errors import UploadError
from junit_uploader.settings import ClientSettings

#: results per batch; a session with fewer sends them all at the end, in one POST
BATCH_TESTS = 2000


class Batches:
    """Finished results out to an upload, a batch at a time, from a thread of its own."""

    def __init__(self, settings: ClientSettings, *, user_agent: str, batch_tests: int = BATCH_TESTS) -> None:
        self.settings = settings
        self.user_agent = user_agent
        self.batch_tests = batch_tests
        self.pending: list[dict[str, Any]] = []
        self.sent = 0
        self.problem: str | None = None
        self.upload: str | None = None
        self._queue: queue.Queue[tuple[int, bytes] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def add(self, tests: list[dict[str, Any]]) -> None:
        """Results the session is done with; a batch goes out once there are enough."""
        if self.problem is not None or not tests:
            return
        self.pending.extend(tests)
        while len(self.pending) >= self.batch_tests:
            self._flush(self.batch_tests)

    def give_up(self, why: str) -> None:
        """Stop sending: the run will go whole, at the end."""
        if self.problem is None:
            self.problem = why

    def finish(self, rest: list[dict[str, Any]], header: dict[str, Any]) -> Accepted | None:
        """Send the last results and complete the upload: the collector's answer, or None when the whole run
        must be sent the old way (nothing went out, or something went wrong: ``problem`` says what)."""
        if self._thread is None or self.problem is not None:
            return None
        self.add(rest)
        if self.pending:
            self._flush(len(self.pending))
        self._queue.put(None)
        self._thread.join(self.settings.max_total_s)
        if self._thread.is_alive():
            self.give_up("the batches did not go out in time")
        if self.problem is not None or self.upload is None:
            return None
        body = json.dumps({**header, "batches": self.sent}, ensure_ascii=False, separators=(",", ":"))
        try:
            with client_for(self.settings, self.user_agent) as client:
                return client.complete_upload(self.upload, body.encode("utf-8"))
        except UploadError as error:  # sent whole, the run meets its retries, its spool and its own answer
            self.give_up(str(error))
        return None

    def _flush(self, count: int) -> None:
        """Queue the first ``count`` pending results as the next batch (a test's many subtests may fill several)."""
        tests, self.pending = self.pending[:count], self.pending[count:]
        batch = json.dumps({"tests": tests}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._queue.put((self.sent, batch))
        self.sent += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._send_all, name="testrun-batches", daemon=True)
            self._thread.start()

    def _send_all(self) -> None:
        try:
            with client_for(self.settings, self.user_agent) as client:
                self.upload = client.open_upload()
                while (item := self._queue.get()) is not None:
                    if self.problem is None:
                        client.put_batch(self.upload, *item)
        except Exception as error:  # noqa: BLE001 - any trouble sends the run whole at the end instead
            self.give_up(f"{type(error).__name__}: {error}")
            while self._queue.get() is not None:  # let finish() see the thread end
                pass
