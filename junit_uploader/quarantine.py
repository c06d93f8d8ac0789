"""The project's quarantine list, fetched from the collector, and the gate that lets quarantined failures pass.

A quarantined test still runs and its result is still sent as it happened;
only its failure stops failing the job. Both producers fetch the list once
per invocation (``GET /api/v1/quarantine``, with the client's retries and
time bound) and decide from their own results:

- a failed or errored test whose id is on the list is *quarantined*, with the
  entry's reason; any other failure is *blocking*;
- the gate passes when there is at least one failure and none blocks.

Fail open: when the list cannot be fetched (no collector URL or token, the
collector down or refusing the token, an answer that is not a quarantine
list), nothing is quarantined, every failure blocks, and the caller prints
:attr:`Fetched.problem` in one warning line. An entry past its
``expires_at`` by this machine's clock does not count, whatever the answer
says. Nothing here raises: :func:`fetch_list` turns every failure into a
reason.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

from .delivery import client_for
from .errors import MalformedList, Unexpected, UploadError
from .settings import ClientSettings

FAILURES = ("failed", "error")
#: the most failures named in each group of the gate's lines (then "… and N more")
MAX_NAMED = 20
#: characters of a reason (it comes from the network) shown on a line
REASON_CHARS = 200
NOT_FETCHED = "the quarantine list could not be fetched, so no failure is quarantined: {problem}"
NOT_A_LIST = "the collector's answer is not a quarantine list: {what}"


@dataclass(frozen=True)
class Entry:
    test_id: str
    reason: str
    expires_at: datetime | None = None
    source: str = "manual"


@dataclass(frozen=True)
class QuarantineList:
    """The entries that count now: expired ones are already left out."""

    project: str
    entries: Mapping[str, Entry]

    def reason(self, test_id: str) -> str | None:
        """The entry's reason when ``test_id`` is quarantined, else None."""
        entry = self.entries.get(test_id)
        return entry.reason if entry is not None else None


class Fetched(NamedTuple):
    """The list, or None and the one-line ``problem`` that says why it could not be had."""

    quarantine: QuarantineList | None
    problem: str | None = None


def fetch_list(
    settings: ClientSettings, *, user_agent: str = "testrun-client", now: datetime | None = None
) -> Fetched:
    """Fetch the project's list from the collector (its URL, token and time bounds); never raises (fail open)."""
    try:
        with client_for(settings, user_agent) as client:
            answer = client.get_quarantine()
        return Fetched(parse_list(answer, now or datetime.now(timezone.utc)))
    except UploadError as error:
        return Fetched(None, str(error))
    except Exception as error:  # noqa: BLE001 - a hostile server or a bug must never end the test job
        return Fetched(None, str(Unexpected.of(error, "fetching the quarantine list")))


class PendingList:
    """A :func:`fetch_list` in a daemon thread, so that it overlaps other work (the upload, the tests).

    Being a daemon, a fetch that is never waited for does not hold the process at exit.
    """

    def __init__(self, settings: ClientSettings, *, user_agent: str = "testrun-client") -> None:
        self._fetched = Fetched(None, "the quarantine list was not fetched")
        self._thread = threading.Thread(
            target=self._fetch, args=(settings, user_agent), name="testrun-quarantine", daemon=True
        )
        self._thread.start()

    def _fetch(self, settings: ClientSettings, user_agent: str) -> None:
        self._fetched = fetch_list(settings, user_agent=user_agent)

    def result(self) -> Fetched:
        """Wait for the fetch (itself bounded by the client's total time) and return what it found."""
        self._thread.join()
        return self._fetched


def parse_list(answer: Any, now: datetime) -> QuarantineList:
    """The list in a ``GET /api/v1/quarantine`` answer, without the entries expired at ``now``.

    Raise MalformedList for anything not in the collector's shape: a list
    read wrongly could quarantine what nobody quarantined.
    """
    if not isinstance(answer, dict) or not isinstance(answer.get("entries"), list):
        raise MalformedList(NOT_A_LIST.format(what="expected a JSON object with a list of entries"))
    project = answer.get("project")
    if project is not None and not isinstance(project, str):
        raise MalformedList(NOT_A_LIST.format(what="project is not text"))
    entries: dict[str, Entry] = {}
    for index, item in enumerate(answer["entries"]):
        entry = _entry(item, f"entries[{index}]")
        if entry.expires_at is None or entry.expires_at > now:
            entries[entry.test_id] = entry
    return QuarantineList(project or "", entries)


def _entry(item: Any, where: str) -> Entry:
    if not isinstance(item, dict):
        raise MalformedList(NOT_A_LIST.format(what=f"{where} is not an object"))
    test_id, reason, source = item.get("test_id"), item.get("reason"), item.get("source", "manual")
    if not isinstance(test_id, str) or not test_id:
        raise MalformedList(NOT_A_LIST.format(what=f"{where}.test_id is not a test id"))
    if not isinstance(reason, str) or not isinstance(source, str):
        raise MalformedList(NOT_A_LIST.format(what=f"{where}.reason or .source is not text"))
    expires = item.get("expires_at")
    if expires is None:
        return Entry(test_id, reason, None, source)
    moment = _moment(expires)
    if moment is None:
        raise MalformedList(NOT_A_LIST.format(what=f"{where}.expires_at is not an RFC 3339 time"))
    return Entry(test_id, reason, moment, source)


def _moment(value: Any) -> datetime | None:
    """An RFC 3339 time with its offset (``Z`` too, which Python 3.10's fromisoformat does not read)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


# --- the gate --------------------------------------------------------------------------------
@dataclass
class Gate:
    """What the list makes of a run's failures."""

    blocking: list[str] = field(default_factory=list)
    """Failed or errored tests that are not quarantined, in the run's order."""
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    """Quarantined failures and their reasons."""
    problem: str | None = None
    """Why the list could not be had (then every failure blocks)."""

    @property
    def failures(self) -> int:
        return len(self.blocking) + len(self.quarantined)

    @property
    def passes(self) -> bool:
        """At least one failure, and every failure quarantined."""
        return self.failures > 0 and not self.blocking


def has_failures(tests: Iterable[Mapping[str, Any]]) -> bool:
    return any(test.get("status") in FAILURES for test in tests)


def judge(tests: Iterable[Mapping[str, Any]], fetched: Fetched) -> Gate:
    """Split the tests' failures (payload test dicts) into blocking and quarantined."""
    gate = Gate(problem=fetched.problem)
    for test in tests:
        if test.get("status") not in FAILURES:
            continue
        test_id = str(test.get("id"))
        reason = fetched.quarantine.reason(test_id) if fetched.quarantine is not None else None
        if reason is None:
            gate.blocking.append(test_id)
        else:
            gate.quarantined.append((test_id, reason))
    return gate


def blocking_lines(gate: Gate) -> list[str]:
    """``2 of 3 failures are not quarantined:`` and each one's id (at most MAX_NAMED), for an error message."""
    count = len(gate.blocking)
    if not count:
        return []
    if gate.quarantined:
        head = f"{count:,} of {gate.failures:,} failures {'is' if count == 1 else 'are'} not quarantined:"
    else:
        head = f"{count:,} {'failure is' if count == 1 else 'failures are'} not quarantined:"
    lines = [head] + [f"  {test_id}" for test_id in gate.blocking[:MAX_NAMED]]
    if count > MAX_NAMED:
        lines.append(f"  … and {count - MAX_NAMED:,} more")
    return lines


def all_quarantined(gate: Gate) -> str:
    """``the failure is quarantined`` or ``all 3 failures are quarantined``, for a gate that passes."""
    return "the failure is quarantined" if gate.failures == 1 else f"all {gate.failures:,} failures are quarantined"


def quarantined_lines(gate: Gate) -> list[str]:
    """``quarantined: ID (reason)`` for each quarantined failure (at most MAX_NAMED)."""
    lines = [f"quarantined: {test_id} ({_one_line(reason)})" for test_id, reason in gate.quarantined[:MAX_NAMED]]
    if len(gate.quarantined) > MAX_NAMED:
        lines.append(f"… and {len(gate.quarantined) - MAX_NAMED:,} more quarantined")
    return lines


def _one_line(text: str) -> str:
    """A reason from the network as one line of plain text: no control characters to move the terminal."""
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"
