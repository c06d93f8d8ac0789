"""The small-ingest baselines: a bare Bottle route on the collector's own waitress settings.

``python bench/bare_app.py json`` serves ``POST /api/v1/runs`` that only
parses the body with ``json.loads`` and answers a small JSON: the floor any
Python JSON API on this server pays. ``python bench/bare_app.py bcrypt`` first
runs ``bcrypt.checkpw`` (cost 12, as in production) on the bearer token, as
the original design did on every request, then parses. Both log
``listening on URL`` on stderr, like the collector, and stop on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

import bcrypt
import bottle
from waitress.server import create_server

from collector.server import WAITRESS_BODY_SLACK
from collector.settings import Settings

#: the secret the bcrypt baseline checks; the load generator sends it as the bearer token
BCRYPT_SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"


def bare_app(mode: str, rounds: int = 12) -> bottle.Bottle:
    app = bottle.Bottle()
    secret_hash = bcrypt.hashpw(BCRYPT_SECRET.encode(), bcrypt.gensalt(rounds)) if mode == "bcrypt" else b""

    @app.post("/api/v1/runs")
    def post_run() -> Any:
        if mode == "bcrypt":
            token = (bottle.request.get_header("Authorization") or "").removeprefix("Bearer ")
            if not bcrypt.checkpw(token.encode(), secret_hash):
                return bottle.HTTPResponse('{"error":"unauthorized"}', status=401)
        data = json.loads(bottle.request.body.read())
        bottle.response.status = 201
        bottle.response.content_type = "application/json"
        return json.dumps({"run_id": data["run_id"], "duplicate": False})

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("json", "bcrypt"))
    args = parser.parse_args(argv)
    settings = Settings(port=0)
    # The keyword arguments of collector.server.Server, so only the application differs.
    server = create_server(
        bare_app(args.mode, settings.bcrypt_rounds),
        host=settings.host,
        port=settings.port,
        threads=settings.threads,
        channel_timeout=settings.channel_timeout_s,
        max_request_body_size=settings.max_body_bytes + WAITRESS_BODY_SLACK,
        expose_tracebacks=False,
        ident="testrun",
        clear_untrusted_proxy_headers=True,
    )

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"bare {args.mode} app listening on http://{server.effective_host}:{server.effective_port}",
          file=sys.stderr, flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
