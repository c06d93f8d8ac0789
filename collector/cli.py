"""``testrun-collector serve``: run the collector on a production WSGI server."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence

from . import __version__
from .errors import CollectorError
from .logs import LOG_FORMATS, configure_logging
from .settings import Settings
from .store import open_store, parse_database_url

log = logging.getLogger("testrun")

_PASSWORD_PARAMETER = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)
DB_HELP = "SQLite file path, sqlite:/// or postgresql:// URL (default testrun.sqlite3; TESTRUN_DB)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="testrun-collector",
        description="The testrun collector: stores test runs sent by CI jobs.",
        epilog="Every setting can also come from a TESTRUN_<NAME> environment variable "
        "(e.g. TESTRUN_DB, TESTRUN_PORT); a flag wins over the environment.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--db", help=DB_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1; TESTRUN_HOST)")
    serve.add_argument("--port", help="TCP port, 0 for any free one (default 8080; TESTRUN_PORT)")
    # also after the command; SUPPRESS leaves a --db given before it in place
    serve.add_argument("--db", default=argparse.SUPPRESS, help=DB_HELP)
    serve.add_argument("--threads", help="worker threads (default 8; TESTRUN_THREADS)")
    serve.add_argument(
        "--trusted-proxy",
        help="address of the reverse proxy whose X-Forwarded-* headers to believe, e.g. for HTTPS (TESTRUN_TRUSTED_PROXY)",
    )
    serve.add_argument(
        "--public-url",
        help="the collector's address as users reach it, e.g. https://testrun.example.com behind a proxy: the base of "
        "the links to run pages that CI jobs print (TESTRUN_PUBLIC_URL; default: the address each request came to)",
    )
    serve.add_argument("--pool-min-size", help="PostgreSQL connections kept open (default 1)")
    serve.add_argument("--pool-max-size", help="PostgreSQL connections at most, per process (default 10)")
    serve.add_argument("--statement-timeout-s", help="PostgreSQL statement timeout before 503 (default 10)")
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="log lines as json, text, or auto: text on a terminal, else json (default auto; TESTRUN_LOG_FORMAT)",
    )
    serve.add_argument("--max-body-bytes", help="largest request body, also after gzip (default 32 MiB)")
    serve.add_argument("--shutdown-timeout-s", help="seconds in-flight requests get after SIGTERM (default 20)")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = os.environ if env is None else env
    try:
        settings = Settings.resolve(flags=vars(args), env=env)
        return serve(settings)
    except CollectorError as error:
        print(f"testrun-collector: error: {error.message}", file=sys.stderr)
        return 1


def serve(settings: Settings) -> int:
    from .app import create_app
    from .server import Server

    asked = settings.log_format
    chosen = configure_logging(asked)
    settings = dataclasses.replace(settings, log_format=chosen)  # the access lines follow the same choice
    store = open_store(settings.db, **settings.store_options(), create=False)
    try:
        app = create_app(settings, store=store)
        store.check_schema()
        server = Server(app, settings)
    except BaseException:
        store.close()
        raise
    log.info(STARTED, __version__, server.url, _safe_db(settings.db), chosen, _why(asked, chosen))
    if parse_database_url(settings.db).backend == "postgresql" and settings.pool_max_size < settings.threads:
        log.warning(
            "pool_max_size %d is less than threads %d: requests will wait for a database connection",
            settings.pool_max_size,
            settings.threads,
        )
    server.serve_forever()
    log.info("stopped")
    return 0


#: the first line the collector logs: where it listens, on which database, and how to switch the log format
STARTED = (
    "testrun collector %s listening on %s (database %s); log lines in %s%s: "
    "--log-format or TESTRUN_LOG_FORMAT=json|text|auto to change"
)


def _why(asked: str, chosen: str) -> str:
    if asked != "auto":
        return ""
    return " (auto: stderr is a terminal)" if chosen == "text" else " (auto: stderr is not a terminal)"


def _safe_db(url: str) -> str:
    """The database URL without a password (neither ``user:password@`` nor ``?password=``)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return _PASSWORD_PARAMETER.sub(r"\1***", url)


if __name__ == "__main__":
    sys.exit(main())
