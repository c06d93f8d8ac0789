"""Log output for the collector process: one line per event, JSON or text (``auto``: text on a terminal).

Request paths, methods and ids come from clients, so a value must never be able
to start a line of its own or pass for another field. JSON escapes control
characters by itself; the text format quotes and escapes any value that holds
a space, a quote, ``=``, a control character or a line or paragraph separator
(``logfmt``-style), and every other record's message is escaped the same way.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import unicodedata
from collections.abc import Mapping
from typing import Any, TextIO

#: a text value that needs no quotes: what route rules, ids, numbers and plain words are made of
_BARE = re.compile(r"[A-Za-z0-9_.:/@%+,<>*~-]+")
#: characters a log reader may take for a line break or that hide text: C0/C1 controls, separators, format
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def escape_controls(text: str) -> str:
    """``text`` with every control, format or line/paragraph separator character as a ``\\uXXXX`` escape."""
    if text.isprintable():
        return text
    return "".join(
        f"\\u{ord(ch):04x}" if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in text
    )


def text_value(value: Any) -> str:
    """One value of a ``key=value`` line: bare when it is a plain word, else a quoted, escaped string."""
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    return escape_controls(json.dumps(text, ensure_ascii=False))


def text_line(fields: Mapping[str, Any]) -> str:
    """``key=value key="quoted value"``: one line whatever the values hold."""
    return " ".join(f"{text_value(key)}={text_value(value)}" for key, value in fields.items())


def json_line(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


class JsonFormatter(logging.Formatter):
    """Access lines are already JSON objects; other records become one."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == "testrun.access":
            return message
        fields = {"level": record.levelname.lower(), "logger": record.name, "message": message}
        if record.exc_info:
            fields["traceback"] = self.formatException(record.exc_info)
        return json_line(fields)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message``, the message escaped; a traceback follows on lines indented by two spaces."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return "\n".join("  " + escape_controls(line) for line in super().formatException(ei).splitlines())

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 (logging's name)
        return "\n".join("  " + escape_controls(line) for line in stack_info.splitlines())


LOG_FORMATS = ("auto", "json", "text")


def resolve_log_format(log_format: str, stream: TextIO) -> str:
    """``auto``: text lines for a person at a terminal, JSON lines for anything else (a file, a pipe, a collector)."""
    if log_format != "auto":
        return log_format
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return "json"


def configure_logging(log_format: str, stream: TextIO | None = None) -> str:
    """Send every log record to ``stream`` (stderr) as ``log_format`` lines; returns the format, ``auto`` resolved."""
    stream = stream or sys.stderr
    log_format = resolve_log_format(log_format, stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("waitress").setLevel(logging.WARNING)
    logging.getLogger("psycopg").setLevel(logging.WARNING)  # the pool logs every checkout at INFO
    return log_format
