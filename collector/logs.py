"""Log output for the collector process: one line per event, JSON or text."""

from __future__ import annotations

import json
import logging
import sys


class JsonFormatter(logging.Formatter):
    """Access lines are already JSON objects; other records become one."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == "testrun.access":
            return message
        fields = {"level": record.levelname.lower(), "logger": record.name, "message": message}
        if record.exc_info:
            fields["traceback"] = self.formatException(record.exc_info)
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def configure_logging(log_format: str, stream=None) -> None:  # type: ignore[no-untyped-def]
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("waitress").setLevel(logging.WARNING)
    logging.getLogger("psycopg").setLevel(logging.WARNING)  # the pool logs every checkout at INFO
