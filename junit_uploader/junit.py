"""JUnit/xUnit XML reports from any test tool, turned into the tests of one run payload.

Read with Expat in one streaming pass: only the open suites and the open
testcase are held, never a tree, so a 100,000-testcase report costs about
what the resulting test dicts cost (see "Speed and memory" below).

Test ids (stable run after run, unique within a run)
----------------------------------------------------
1. pytest's own XML gets pytest's node id, ``tests/test_x.py::TestA::test_b[1]``
   -- the same id the pytest plugin sends, so one test has one id whichever
   producer sent it. A report is pytest's when its ``<testsuites>`` is named
   ``pytest tests`` (pytest 8.4 and later) or the testcase's suite is named
   ``pytest`` (the default ``junit_suite_name``); the ``file`` rule below
   also holds in any report.

   - ``junit_family=xunit1``: a testcase ``file`` ending in ``.py`` whose
     dotted module path starts the ``classname`` splits it without looking
     at the disk (class names hold no dots).
   - Otherwise (``xunit2``, the default, writes no ``file``; or a ``file``
     that does not start the classname, such as a test inherited from
     another module): the classname is resolved against the working tree,
     the ``base`` directory that ``parse_reports`` is given (``junit-upload``
     gives the directory it runs in, so run it where pytest ran, in the
     checkout). The longest dotted prefix that names a file under it is the
     module -- ``tests.pkg.test_x.TestA.TestB`` is ``tests/pkg/test_x.py::
     TestA::TestB`` when ``tests/pkg/test_x.py`` exists -- and the rest are
     the classes; directories with dots in their names (``tests/v1.2``) are
     found too. See ``pytest_ids`` for the lookup and its cost (one directory
     listing per directory on the way, one lookup per classname).
   - The name is kept verbatim: parameters with dots or ``::``
     (``test_get[a.b::c]``) never take part in the split.
   - An empty classname is pytest's collection error or module-level skip;
     its name is the module's dotted path and its id the module's path
     (``tests/test_broken.py``), as the plugin reports it.
   - Nothing under the base matches (a ``junit_prefix``, which is kept so
     that prefixed runs stay apart; pytest run in another directory; a module
     since deleted): rule 2, the classname as written. The result depends
     only on the report and the tree, so the same checkout gives the same ids.

   When no ``file`` attribute says where a test is, the module's path is sent
   as ``file``. pytest's 0-based ``line`` is made 1-based, as the plugin
   sends it.
2. A ``classname`` that says something: ``classname::name``, the classname
   as given. Surefire and Gradle ``com.acme.FooTest::testBar``; gotestsum and
   go-junit-report ``github.com/acme/pkg::TestFoo/sub_case``; cargo-nextest
   ``my-crate::tests::adds``; PHPUnit ``Tests.Unit.CalcTest::testAdd with data
   set #0``; a pytest classname that rule 1 could not resolve,
   ``acme.tests.test_x.TestA::test_b[1]``.
3. No classname, or one that only repeats the name (jest-junit's default
   templates, CTest): the testcase's ``file`` attribute, else the innermost
   suite's name, then ``::name``. jest-junit ``src/calc.test.js::Calculator
   adds`` (with ``addFileAttribute``) or ``Calculator::Calculator adds``
   (suite = describe block or file, by its ``suiteNameTemplate``); CTest
   ``Linux-c++::unit_math``.
4. Nothing to put before the name: the name alone.

Control characters in an id become their Unicode control pictures (a newline
becomes U+240A), an id over 1,024 characters keeps its first 1,007 and ends
in "…" and 16 hex digits of its SHA-256, and a blank id becomes
``(unnamed)``. ``name`` is the testcase's name and ``suite`` the innermost
testsuite's name, cut to 1,024 characters.

Results and attempts
--------------------
``<failure>`` is failed, ``<error>`` error, ``<skipped>`` skipped (pytest's
``<skipped type="pytest.xfail">`` is xfailed), none is passed; with several,
error beats failure beats skipped.

A testcase without any of those elements can still say that it did not run,
in attributes of its tool; it is then skipped, with the reason as message:

- CTest (``ctest --output-junit``, ``cmCTestTestHandler::WriteJUnitXML``):
  ``status`` is ``run``, ``fail``, ``notrun`` or ``disabled``. A test with
  the ``DISABLED`` property is ``status="disabled"`` with no child element:
  "disabled (CTest)". ``notrun`` comes with a ``<skipped>`` (its reason:
  "Required Files Missing", "SKIP_RETURN_CODE=77"), which wins as any
  element does; alone it is "not run".
- GoogleTest (``--gtest_output=xml``, ``XmlUnitTestResultPrinter`` in
  ``gtest.cc``): ``status`` is ``run`` or ``notrun`` and ``result`` is
  ``completed``, ``skipped`` or ``suppressed``. A ``DISABLED_`` test (or a
  test of a ``DISABLED_`` suite) is ``status="notrun" result="suppressed"``:
  "suppressed: DISABLED_ test (GoogleTest)". ``GTEST_SKIP`` is
  ``result="skipped"``; GoogleTest 1.11 and later add a ``<skipped>`` with
  the reason, 1.10 did not: "skipped with GTEST_SKIP (GoogleTest)".
- ``status="run"``, ``result="completed"`` and any other value change
  nothing, and a ``<failure>`` or ``<error>`` beats them all.

``flakyFailure``/``flakyError``/``rerunFailure``/``rerunError`` (Surefire
``rerunFailingTestsCount``, nextest retries, Gradle ``mergeReruns``) each
count one more attempt; a test that ends passed after any of them is flaky. A
test id seen again later in the run (a tool writing one testcase per attempt,
Gradle's test-retry plugin) is merged into its first position: attempts and
durations added up, status, message and details from the last one, flaky when
the last passed and an earlier one failed, errored or was flaky.

``message`` is the deciding element's ``message`` attribute, else the first
non-blank line of its text. ``details`` is that element's text exactly as
written (CDATA and Unicode included), then the other result elements and the
earlier attempts under ``--- tag: message ---`` headers, then the testcase's
``system-out``/``system-err`` under ``--- system-out ---`` headers. Passed
tests that are not flaky get no details: their output would only make the
upload large. Texts over the caps (8,192 and 65,536 characters) are cut with
"… [truncated N chars]", and a long ``system-out`` is not even kept in memory
past the cap.

Times (seconds) become ``duration_ms``; a missing, empty, negative, infinite
or unreadable one ("1,234.5", "n/a") is 0.0 for a test and ignored for a
suite. A suite timestamp before 1971 is a clock at zero, not a start
(GoogleTest dates a suite none of whose tests ran at the epoch, in local
time), and is ignored. ``file``/``line`` come from testcase attributes or from
testcase properties named ``file``/``line``; every other property, suite
attribute, ``hostname``, ``assertions``, ``type`` and the like is read past:
the payload has no place for them. Keys whose value is the payload's default
(null, ``attempts`` 1, ``flaky`` false) are left out of each test dict; the
collector fills in the very same defaults, and on 100,000 tests that saves a
third of the memory and megabytes of JSON.

Safety
------
A ``<!DOCTYPE`` is refused the moment Expat reports its start, before any
internal subset is read, so no entity is ever declared, let alone expanded
or fetched (billion laughs, XXE). Without a DTD an entity reference other than
the five predefined ones is "undefined entity", and XML 1.0 keeps NUL and lone
surrogates out of every parsed string (Expat rejects them as invalid
characters). The stdlib's Expat binding is used directly rather than
ElementTree (whose C parser keeps expanding the rest of a buffer after a
handler raised) or junitparser (which builds the whole tree: about six times
the file size in memory before any test is produced).

Speed and memory
----------------
One Python callback per element start and end and per text run; the common
self-closing passing testcase costs its test dict and id string, nothing
more. Measured on generated 100,000-testcase reports against a bare
``xml.etree.ElementTree.iterparse`` pass over the same file: 1.2-1.4 times
its time on a 12.6 MB report with failures, skips and output, 1.7-2.0 times on
a 7.5 MB all-passing one; peak memory (tracemalloc) 3.9 and 5.7 times the file
size, where the iterparse pass alone peaks at 6.3 and 6.8 times.

pytest's own reports resolved against the tree (rule 1) cost one dict lookup
per testcase and one search of the tree per distinct classname (a few
microseconds; each directory on the way is listed once). On a generated
9.3 MB ``xunit2`` report of 100,000 passing testcases in 5,000 classes of 200
modules: 1.2-1.3 times the time of the same parse without a base, and 1.2
times its peak memory, as each test then also carries its ``file``. Reports
of other tools never look at the tree, and the not-run attributes are read
only on testcases that have them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from xml.parsers import expat

from .errors import MalformedReport, ReportError
from .payload import DETAILS_MAX, MESSAGE_MAX, TEXT_MAX, capped
from .pytest_ids import PytestPaths
from .reports import display_path, find_reports

__all__ = ["ParsedRun", "find_reports", "parse_reports"]

ID_MAX = 1024
ATTEMPTS_MAX = 1000
DURATION_MAX_MS = 1e12
LINE_MAX = 2**31 - 1
READ_SIZE = 1 << 16

_ROOTS = ("testsuites", "testsuite")
_RANK = {"skipped": 1, "failure": 2, "error": 3}
_STATUS = {"skipped": "skipped", "failure": "failed", "error": "error"}
_RERUNS = frozenset({"flakyFailure", "flakyError", "rerunFailure", "rerunError"})
_OUTPUTS = ("system-out", "system-err")
_RERUN_PARTS = ("stackTrace", "system-out", "system-err")
_CONTROL_PICTURES = {**{code: 0x2400 + code for code in range(0x20)}, 0x7F: 0x2421}
_ID_HASH_DIGITS = 16
#: pytest's default ``junit_suite_name``, and the name its ``<testsuites>`` root has had since pytest 8.4
PYTEST_SUITE_NAME = "pytest"
PYTEST_ROOT_NAME = "pytest tests"
#: tool attributes that say a testcase did not run, when it has no result element (see "Results and attempts")
_NOT_RUN_RESULTS = {
    "suppressed": "suppressed: DISABLED_ test (GoogleTest)",
    "skipped": "skipped with GTEST_SKIP (GoogleTest)",
}
_NOT_RUN_STATUSES = {"disabled": "disabled (CTest)", "notrun": "not run"}
_ENDED_EARLY = frozenset(
    expat.errors.codes[message]
    for message in (expat.errors.XML_ERROR_NO_ELEMENTS, expat.errors.XML_ERROR_UNCLOSED_TOKEN,
                    expat.errors.XML_ERROR_PARTIAL_CHAR)
)
#: before this, a timestamp is a clock at zero (GoogleTest dates a suite that did not run at the epoch)
_CLOCK_AT_ZERO = datetime(1971, 1, 1, tzinfo=timezone.utc)
_TIMESTAMP = re.compile(
    r"\s*(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s*([Zz]|[+-]\d\d:?\d\d)?\s*", re.ASCII
)


@dataclass
class ParsedRun:
    tests: list[dict[str, Any]]
    """Payload-shaped test dicts in file order, then document order; defaults left out."""
    started_at: str | None
    """Earliest testsuite (or testsuites) ``timestamp``, RFC 3339; "Z" when the file gives no offset."""
    duration_ms: float | None
    """Per file the top-level suites' times (else the root's), summed; None when no file gives one."""
    files: list[Path]


def parse_reports(paths: Sequence[Path], *, base: Path | None = None, max_tests: int = 100_000) -> ParsedRun:
    """Parse every report into one run; raise MalformedReport naming the first bad file.

    ``base`` is the directory pytest ran in (the checkout): pytest's dotted
    classnames are resolved to node ids against the files under it. Without
    it they are kept as written (see "Test ids").
    """
    run = _Run(max_tests, None if base is None else PytestPaths(base))
    for path in paths:
        _read_report(path, run)
    return ParsedRun(run.tests, run.started_at, run.duration_ms, list(paths))


# --- the run being built -----------------------------------------------------


class _Run:
    __slots__ = (
        "duration_ms", "earliest", "max_tests", "node_prefixes", "positions", "pytest_paths", "started_at", "tests"
    )

    def __init__(self, max_tests: int, pytest_paths: PytestPaths | None) -> None:
        self.tests: list[dict[str, Any]] = []
        self.positions: dict[str, int] = {}
        self.max_tests = max_tests
        self.earliest: datetime | None = None
        self.started_at: str | None = None
        self.duration_ms: float | None = None
        self.node_prefixes: dict[tuple[str, str], str | None] = {}
        self.pytest_paths = pytest_paths

    def add(self, test: dict[str, Any], shown: str) -> None:
        count = len(self.tests)
        position = self.positions.setdefault(test["id"], count)
        if position != count:
            self.tests[position] = _merged_attempts(self.tests[position], test)
        elif count < self.max_tests:
            self.tests.append(test)
        else:
            raise MalformedReport(
                f"{shown}: the reports hold more than {self.max_tests:,} tests, the most one run may carry; "
                "upload them in smaller sets"
            )

    def see_timestamp(self, text: str) -> None:
        parsed = _timestamp(text)
        if parsed is None or parsed[0] < _CLOCK_AT_ZERO:
            return
        if self.earliest is None or parsed[0] < self.earliest:
            self.earliest, self.started_at = parsed

    def add_duration(self, seconds: float) -> None:
        self.duration_ms = round((self.duration_ms or 0.0) + seconds * 1000.0, 3)


def _merged_attempts(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """One result for a test reported once per attempt: the last one, with the attempts counted."""
    later["attempts"] = min(earlier.get("attempts", 1) + later.get("attempts", 1), ATTEMPTS_MAX)
    later["duration_ms"] = min(round(earlier["duration_ms"] + later["duration_ms"], 3), DURATION_MAX_MS)
    failed_before = earlier["status"] in ("failed", "error") or earlier.get("flaky", False)
    if later["status"] == "passed" and failed_before:
        later["flaky"] = True
    for key in ("file", "line"):
        if key not in later and key in earlier:
            later[key] = earlier[key]
    return later


# --- reading one file ----------------------------------------------------------


def _read_report(path: Path, run: _Run) -> None:
    shown = display_path(path)
    parser = expat.ParserCreate()
    reader = _ReportReader(shown, run, parser)
    parser.buffer_text = True
    parser.buffer_size = READ_SIZE
    parser.StartDoctypeDeclHandler = reader.refuse_dtd
    parser.EntityDeclHandler = reader.refuse_dtd
    parser.StartElementHandler = reader.start_root
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.data
    try:
        with path.open("rb") as stream:
            chunk = stream.read(READ_SIZE)
            if not chunk:
                raise MalformedReport(f"{shown}: empty file, not a JUnit XML report")
            while chunk:
                parser.Parse(chunk, False)
                chunk = stream.read(READ_SIZE)
            parser.Parse(b"", True)
    except expat.ExpatError as error:
        raise MalformedReport(_xml_error_message(shown, error, reader.depth > 0)) from None
    except OSError as error:
        raise ReportError(f"{shown}: cannot be read ({error.strerror or error})") from None
    finally:
        reader.parser = None
    seconds = reader.seconds if reader.seconds is not None else reader.root_seconds
    if seconds is not None:
        run.add_duration(seconds)


def _xml_error_message(shown: str, error: expat.ExpatError, inside_root: bool) -> str:
    where = f"line {error.lineno}, column {error.offset + 1}"
    if inside_root and error.code in _ENDED_EARLY:
        return f"{shown}: truncated XML: the file ends at {where} before the root element is closed"
    return f"{shown}: not well-formed XML ({where}): {expat.ErrorString(error.code)}"


class _Text:
    """Character data of one element, kept up to DETAILS_MAX characters and counted beyond."""

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def kept(self) -> tuple[str, int]:
        """The text kept and how many characters were dropped."""
        text = "".join(self.parts)
        return text, self.size - len(text)


class _Section:
    """A result or rerun element of a testcase: failure, error, skipped, flakyFailure, ..."""

    __slots__ = ("message", "parts", "tag", "text", "type")

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.message = attrs.get("message")
        self.type = attrs.get("type")
        self.text = _Text()
        self.parts: dict[str, _Text] = {}


class _Children:
    """What a testcase holds besides its attributes; made only for the testcases that have children."""

    __slots__ = ("outputs", "properties", "reruns", "results")

    def __init__(self) -> None:
        self.results: list[_Section] = []
        self.reruns: list[_Section] = []
        self.outputs: dict[str, _Text] = {}
        self.properties: dict[str, str] = {}


class _ReportReader:
    """Expat callbacks for one report; depth counts open elements, the root being 1."""

    def __init__(self, shown: str, run: _Run, parser: Any) -> None:
        self.shown = shown
        self.run = run
        self.parser = parser
        self.depth = 0
        self.suites: list[str | None] = []
        self.pytest_root = False
        self.seconds: float | None = None
        self.root_seconds: float | None = None
        self.case_attrs: dict[str, str] = {}
        self.case_depth = -1
        self.children: _Children | None = None
        self.rerun: _Section | None = None
        self.sink = _Text()
        self.sink_depth = -1

    def refuse_dtd(self, *_: Any) -> None:
        raise MalformedReport(f"{self.shown}: contains a DTD or entity declaration, which is refused")

    def start_root(self, tag: str, attrs: dict[str, str]) -> None:
        if tag not in _ROOTS:
            raise MalformedReport(
                f"{self.shown}: the root element is <{tag}>, not <testsuites> or <testsuite>; "
                "is this a JUnit XML report?"
            )
        self.parser.StartElementHandler = self.start
        if tag == "testsuites":
            self.depth = 1
            self.pytest_root = attrs.get("name") == PYTEST_ROOT_NAME
            self.root_seconds = _seconds(attrs.get("time"))
            self._see_timestamp(attrs)
        else:
            self.start(tag, attrs)

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if self.case_depth > 0:
            self._start_in_case(tag, attrs, depth - self.case_depth)
        elif tag == "testcase":
            self.case_attrs = attrs
            self.case_depth = depth
            self.children = None
        elif tag == "testsuite":
            self._open_suite(attrs)

    def end(self, tag: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == self.case_depth:
            self.case_depth = -1
            suite = self.suites[-1] if self.suites else None
            from_pytest = self.pytest_root or suite == PYTEST_SUITE_NAME
            self.run.add(_finished_test(self.case_attrs, suite, self.children, self.run, from_pytest), self.shown)
        elif self.case_depth < 0:
            if tag == "testsuite":
                self.suites.pop()
        elif depth == self.sink_depth:
            self._end_capture(depth - self.case_depth)

    def data(self, text: str) -> None:
        if self.depth == self.sink_depth:
            sink = self.sink
            if sink.size < DETAILS_MAX:
                sink.parts.append(text)
            sink.size += len(text)

    def _open_suite(self, attrs: dict[str, str]) -> None:
        if not self.suites:
            seconds = _seconds(attrs.get("time"))
            if seconds is not None:
                self.seconds = (self.seconds or 0.0) + seconds
        name = attrs.get("name")
        self.suites.append(_clip(name, TEXT_MAX) if name else None)
        self._see_timestamp(attrs)

    def _see_timestamp(self, attrs: dict[str, str]) -> None:
        stamp = attrs.get("timestamp")
        if stamp:
            self.run.see_timestamp(stamp)

    def _start_in_case(self, tag: str, attrs: dict[str, str], level: int) -> None:
        if self.children is None:
            self.children = _Children()
        children = self.children
        if level == 1:
            if tag in _RANK:
                section = _Section(tag, attrs)
                children.results.append(section)
                self._capture(section.text)
            elif tag in _RERUNS:
                self.rerun = section = _Section(tag, attrs)
                children.reruns.append(section)
                self._capture(section.text)
            elif tag in _OUTPUTS:
                self._capture(children.outputs.setdefault(tag, _Text()))
        elif level == 2:
            if tag == "property":
                name, value = attrs.get("name"), attrs.get("value")
                if name in ("file", "line") and value:
                    children.properties[name] = value
            elif self.rerun is not None and tag in _RERUN_PARTS:
                self._capture(self.rerun.parts.setdefault(tag, _Text()))

    def _capture(self, sink: _Text) -> None:
        self.sink = sink
        self.sink_depth = self.depth

    def _end_capture(self, level: int) -> None:
        if level == 2 and self.rerun is not None:
            self.sink, self.sink_depth = self.rerun.text, self.case_depth + 1
        else:
            self.sink_depth, self.rerun = -1, None


# --- one testcase → one test dict ----------------------------------------------


def _finished_test(
    attrs: dict[str, str], suite: str | None, children: _Children | None, run: _Run, from_pytest: bool
) -> dict[str, Any]:
    name = attrs.get("name") or ""
    classname = attrs.get("classname")
    file = attrs.get("file")
    line = attrs.get("line")
    if children is not None and children.properties:
        file = file or children.properties.get("file")
        line = line or children.properties.get("line")
    line_number = _line(line) if line else None
    node_id = None
    if classname is not None and (from_pytest or file):
        node_id = _pytest_node_id(name, classname, file, run, from_pytest)
    if node_id is not None:
        test_id, module = node_id
        file = file or module
    elif classname and classname != name:
        test_id = f"{classname}::{name}"
    else:
        prefix = file or suite
        test_id = f"{prefix}::{name}" if prefix else name
    if (from_pytest or node_id is not None) and line_number is not None and line_number < LINE_MAX:
        line_number += 1
    if not test_id or len(test_id) > ID_MAX or not test_id.isprintable() or test_id.isspace():
        test_id = _clean_id(test_id)
    test: dict[str, Any] = {
        "id": test_id,
        "name": name if len(name) <= TEXT_MAX else _clip(name, TEXT_MAX),
        "status": "passed",
        "duration_ms": _duration_ms(attrs.get("time")),
    }
    if suite is not None:
        test["suite"] = suite
    if file:
        test["file"] = file if len(file) <= TEXT_MAX else _clip(file, TEXT_MAX)
    if line_number is not None:
        test["line"] = line_number
    if children is not None:
        _add_outcome(test, children, attrs)
    elif "status" in attrs or "result" in attrs:
        not_run = _not_run(attrs)
        if not_run is not None:
            test["status"] = "skipped"
            test["message"] = not_run
    return test


def _not_run(attrs: dict[str, str]) -> str | None:
    """Why a testcase without a result element did not run, from the tool's own attributes, or None."""
    result = attrs.get("result")
    if result is not None and result in _NOT_RUN_RESULTS:
        return _NOT_RUN_RESULTS[result]
    status = attrs.get("status")
    return _NOT_RUN_STATUSES.get(status) if status is not None else None


def _add_outcome(test: dict[str, Any], children: _Children, attrs: dict[str, str]) -> None:
    results, reruns = children.results, children.reruns
    winner = max(results, key=lambda section: _RANK[section.tag]) if results else None
    status = "passed" if winner is None else _STATUS[winner.tag]
    not_run = _not_run(attrs) if winner is None else None
    if not_run is not None:
        status = "skipped"
        test["message"] = not_run
    elif status == "skipped" and winner is not None and winner.type == "pytest.xfail":
        status = "xfailed"
    test["status"] = status
    if reruns:
        test["attempts"] = min(1 + len(reruns), ATTEMPTS_MAX)
        if status == "passed":
            test["flaky"] = True
    elif status == "passed":
        return
    if winner is not None:
        message = _message(winner)
        if message:
            test["message"] = message
    details = _details(winner, results + reruns, children.outputs)
    if details:
        test["details"] = details


def _message(section: _Section) -> str | None:
    message = section.message
    if not message or message.isspace():
        message = _first_line("".join(section.text.parts))
    return capped(message, MESSAGE_MAX) if message else None


def _details(winner: _Section | None, sections: list[_Section], outputs: dict[str, _Text]) -> str | None:
    """The deciding element's text, then other results, earlier attempts and output, under headers."""
    pieces: list[tuple[str, int]] = []
    if winner is not None:
        pieces.append(winner.text.kept())
    for section in sections:
        if section is not winner:
            pieces.append((_section_header(section), 0))
            pieces.append(section.text.kept())
            pieces.extend(_headed(tag, part) for tag, part in section.parts.items())
    pieces.extend(_headed(tag, outputs[tag]) for tag in _OUTPUTS if tag in outputs)
    pieces = [piece for piece in pieces if piece[0] and not piece[0].isspace()]
    if not pieces:
        return None
    text = "\n".join(kept for kept, _ in pieces)
    dropped = sum(dropped for _, dropped in pieces)
    return capped(text, DETAILS_MAX, dropped)


def _section_header(section: _Section) -> str:
    summary = _first_line(section.message or "") or _first_line("".join(section.text.parts))
    return f"--- {section.tag}: {_clip(summary, 200)} ---" if summary else f"--- {section.tag} ---"


def _headed(tag: str, text: _Text) -> tuple[str, int]:
    kept, dropped = text.kept()
    if not kept or kept.isspace():
        return "", 0
    if tag == "stackTrace":
        return kept, dropped
    return f"--- {tag} ---\n{kept}", dropped


# --- ids -------------------------------------------------------------------------


def _pytest_node_id(
    name: str, classname: str, file: str | None, run: _Run, from_pytest: bool
) -> tuple[str, str | None] | None:
    """pytest's node id of a testcase and its module's path when looked up, or None when not pytest's or not found.

    A ``file`` attribute (xunit1) that starts the classname decides without
    looking at the disk; otherwise, in a report pytest wrote, the classname is
    looked up in the working tree. An empty classname is pytest's collection
    error or module-level skip: the name is then the module's dotted path and
    the node id is the module's path alone.
    """
    cache = run.node_prefixes
    if classname:
        prefix = _pytest_node_prefix(file, classname, cache) if file else None
        if prefix is not None:
            return f"{prefix}::{name}", None
        resolved = run.pytest_paths.node_prefix(classname) if from_pytest and run.pytest_paths else None
        return None if resolved is None else (f"{resolved[0]}::{name}", resolved[1])
    module = _pytest_node_prefix(file, name, cache) if file else None
    if module is None and from_pytest and run.pytest_paths is not None:
        module = run.pytest_paths.module_path(name)
    return None if module is None or "::" in module else (module, module)


def _pytest_node_prefix(file: str, classname: str, cache: dict[tuple[str, str], str | None]) -> str | None:
    """``tests/test_x.py::TestA`` from file ``tests/test_x.py`` and classname ``tests.test_x.TestA``."""
    key = (file, classname)
    if key in cache:
        return cache[key]
    prefix = None
    if file.endswith(".py"):
        path = file.replace("\\", "/")
        module = path[:-3].replace("/", ".")
        if classname == module:
            prefix = path
        elif classname.startswith(module + "."):
            prefix = path + "::" + classname[len(module) + 1 :].replace(".", "::")
    cache[key] = prefix
    return prefix


def _clean_id(raw: str) -> str:
    if not raw.isprintable():
        raw = raw.translate(_CONTROL_PICTURES)
    if len(raw) > ID_MAX:
        digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:_ID_HASH_DIGITS]
        raw = raw[: ID_MAX - _ID_HASH_DIGITS - 1] + "…" + digest
    if not raw or raw.isspace():
        return "(unnamed)"
    return raw


# --- values ------------------------------------------------------------------------


def _seconds(text: str | None) -> float | None:
    """A time attribute in seconds, or None when it is missing or not a sane number."""
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds + 0.0 if 0.0 <= seconds <= DURATION_MAX_MS / 1000.0 else None


def _duration_ms(text: str | None) -> float:
    """Seconds as milliseconds; ``float(text + "e3")`` scales the decimal exactly, without float noise."""
    if not text:
        return 0.0
    try:
        milliseconds = float(text + "e3")
    except ValueError:
        seconds = _seconds(text)
        return 0.0 if seconds is None else round(seconds * 1000.0, 3)
    return milliseconds + 0.0 if 0.0 <= milliseconds <= DURATION_MAX_MS else 0.0


def _line(text: str | None) -> int | None:
    if not text:
        return None
    try:
        line = int(text)
    except ValueError:
        return None
    return line if 0 <= line <= LINE_MAX else None


def _timestamp(text: str) -> tuple[datetime, str] | None:
    """The instant (for comparing) and its RFC 3339 form; a time without an offset is read as UTC."""
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if offset and offset not in ("Z", "z"):
        digits = offset.replace(":", "")
        sign = 1 if digits[0] == "+" else -1
        hours, minutes = int(digits[1:3]), int(digits[3:5])
        if hours > 23 or minutes > 59:
            return None
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz)
        instant = moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    written = moment.isoformat()
    if tz is timezone.utc:
        written = written.removesuffix("+00:00") + "Z"
    return instant, written


# --- text --------------------------------------------------------------------------


def _first_line(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
