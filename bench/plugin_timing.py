"""A pytest plugin for benchmarks: where ``--testrun-report``'s own time goes, measured inside the session.

Loaded with ``-p plugin_timing`` next to ``-p pytest_testrun_reporter.plugin``
(bench/ on ``PYTHONPATH``), it wraps the reporter's hooks and the steps of its
session end with a clock (``upload`` holds gzip and the HTTP round trip that
waits for the collector), and at exit appends one JSON line of seconds to the
file named by ``BENCH_TIMING_OUT``. Only time spent inside the plugin counts,
so a busy machine blurs these figures far less than it blurs whole runs. The
wrapping itself costs about 0.1 µs per report.
"""

from __future__ import annotations

import atexit
import functools
import gzip
import json
import os
import time
from collections.abc import Callable
from typing import Any

_started = time.perf_counter()
# timed: the reporter and the HTTP client it imports, which the plugin imports when it is switched on
from pytest_testrun_reporter import reporter

SPENT: dict[str, float] = {"import": time.perf_counter() - _started}

#: (owner, attribute, what the figure is called); the reporter's own names, so that the client's insides may change
TIMED: tuple[tuple[Any, str, str], ...] = (
    (reporter.TestrunReporter, "pytest_runtest_logreport", "per-report hook"),
    (reporter.TestrunReporter, "pytest_collectreport", "collect-report hook"),
    (reporter.TestrunReporter, "pytest_sessionfinish", "session end"),
    (reporter.Recorder, "results", "results"),
    (reporter, "encode_payload", "JSON encode"),
    (reporter, "deliver", "upload"),
    (reporter.TestrunReporter, "pytest_runtest_logfinish", "batching hook"),
    (reporter.Batches, "finish", "last batch and completion"),
    (reporter.Batches, "_flush", "batch encode"),
    (gzip, "compress", "gzip"),
)


def _timed(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    clock = time.perf_counter

    @functools.wraps(function)  # keeps pluggy's hookimpl marks (trylast)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[name] = SPENT.get(name, 0.0) + clock() - started

    return timed


for owner, attribute, name in TIMED:
    if hasattr(owner, attribute):  # a step the reporter no longer has is left out, not a failed benchmark
        setattr(owner, attribute, _timed(getattr(owner, attribute), name))


@atexit.register
def _write() -> None:
    target = os.environ.get("BENCH_TIMING_OUT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps(SPENT) + "\n")
