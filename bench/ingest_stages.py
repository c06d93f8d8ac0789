"""What one small-ingest request costs, stage by stage, in one thread without HTTP (no target).

    python bench/ingest_stages.py [--requests 3000]

Times each stage the collector runs for a seed-size ``POST /api/v1/runs``
on its own, in a loop, on a SQLite store (``synchronous=FULL``): the
authentication of a verified token, reading the body, validation with the
digest, the store's insert (its own transaction and fsync), and the access
log line with the metrics. Then the whole app through WSGI without a server.
It explains small_ingest.py's figure: one collector process runs these under
one GIL, so their sum bounds what it can serve.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from benchlib import common_arguments, print_header, seed_template, table, work_dir


def per_call(count: int, call: Callable[[int], Any]) -> float:
    started = time.perf_counter()
    for index in range(count):
        call(index)
    return (time.perf_counter() - started) / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--requests", type=int, help="calls per stage (default 3000; smoke 50)")
    args = parser.parse_args(argv)
    count = args.requests or (50 if args.smoke else 3000)

    from collector.app import create_app
    from collector.auth import Authenticator
    from collector.body import read_json_body
    from collector.logs import configure_logging
    from collector.metrics import Metrics
    from collector.middleware import RequestLogMiddleware
    from collector.settings import Settings
    from collector.store.sqlite import SQLiteStore
    from collector.timeutil import utc_now
    from collector.tokens import create_token
    from collector.validation import validate_run

    print_header("ingest stages: one seed-size request, stage by stage, one thread, no HTTP",
                 f"{count} calls per stage; microseconds per call.")
    with work_dir("ingest-stages", keep=args.keep) as workdir, open(os.devnull, "w") as null:
        db = str(workdir / "stages.sqlite3")
        store = SQLiteStore(db)
        store.migrate()
        store.create_org("bench")
        project = store.create_project("bench", "app")
        minted, _ = create_token(store, project=project, scopes=["ingest"], expires_in_days=None, bcrypt_rounds=4)
        settings = Settings(db=db, token_rate_per_s=0)
        header = f"Bearer {minted.token}"
        authenticator = Authenticator(store, settings, Metrics())
        authenticator.authenticate(header, scope="ingest")  # bcrypt once, as in steady state
        template = seed_template()
        bodies = [template.replace("@RUN_ID@", f"stage-{i}").encode() for i in range(count)]
        data = [json.loads(body) for body in bodies]
        runs = [validate_run(item, max_tests=100) for item in data]
        configure_logging("json", null)
        middleware = RequestLogMiddleware(lambda environ, start: (start("201 Created", []), [b""])[1], Metrics())

        class Route:
            rule = "/api/v1/runs"

        def environ(body: bytes) -> dict[str, Any]:
            return {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/runs", "CONTENT_TYPE": "application/json",
                    "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "HTTP_AUTHORIZATION": header,
                    "SERVER_NAME": "bench", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
                    "wsgi.url_scheme": "http"}

        stages = [
            ("authenticate (verified token)", lambda i: authenticator.authenticate(header, scope="ingest")),
            ("read_json_body", lambda i: read_json_body(environ(bodies[i]), max_bytes=settings.max_body_bytes)),
            ("validate_run (with digest)", lambda i: validate_run(data[i], max_tests=100)),
            ("store.insert_run (FULL)", lambda i: store.insert_run(project, runs[i], utc_now())),
            ("access log + metrics", lambda i: middleware({"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/runs",
                                                           "bottle.route": Route}, lambda *a: None)),
        ]
        rows = [[name, f"{per_call(count, call) * 1e6:,.0f}"] for name, call in stages]
        store.close()
        app = create_app(Settings(db=db, token_rate_per_s=0))
        whole_bodies = [template.replace("@RUN_ID@", f"whole-{i}").encode() for i in range(count)]

        def whole(i: int) -> None:
            statuses: list[str] = []
            b"".join(app.wsgi_app(environ(whole_bodies[i]), lambda status, headers, exc=None: statuses.append(status)))
            if not statuses[0].startswith("201"):
                raise SystemExit(f"the app answered {statuses[0]}")

        rows.append(["the whole app through WSGI", f"{per_call(count, whole) * 1e6:,.0f}"])
        app.state.store.close()
    print(table(["stage", "us per call"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
