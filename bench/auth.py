"""Auth: the first request of a token (bcrypt, cost 12) against the later ones (the verified-token cache).

Two measurements of the same thing:

- ``in-process`` (the target): ``collector.auth.Authenticator.authenticate``
  on a SQLite store, for several fresh tokens: the first call of each
  (token lookup + bcrypt + last-use write) against the median of the later
  calls (token lookup, revocation and expiry check, cache hit);
- ``HTTP``: the same through a real collector, ``GET
  /api/v1/runs?limit=1`` with a fresh read token over a kept-alive
  connection: the first request against the median of the later ones. Here
  the later requests also carry the HTTP round trip, routing, logging and
  a query, which bcrypt's cost does not depend on.

Target: later / first <= 1%, both ways.

    python bench/auth.py [--tokens 5] [--later 200]
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import (
    Check,
    Collector,
    address_of,
    common_arguments,
    median,
    print_header,
    ratio,
    table,
    verdict,
    work_dir,
)

TARGET = 0.01
ROUNDS = 12


def in_process(workdir: Path, *, tokens: int, later: int) -> tuple[list[float], list[float]]:
    from collector.auth import Authenticator
    from collector.settings import Settings
    from collector.store.sqlite import SQLiteStore
    from collector.tokens import create_token

    store = SQLiteStore(str(workdir / "auth.sqlite3"))
    try:
        store.migrate()
        store.create_org("bench")
        project = store.create_project("bench", "app")
        settings = Settings(bcrypt_rounds=ROUNDS, token_rate_per_s=0)
        authenticator = Authenticator(store, settings)
        firsts, laters = [], []
        for _ in range(tokens):
            minted, _ = create_token(store, project=project, scopes=["ingest"], expires_in_days=None,
                                     bcrypt_rounds=ROUNDS)
            header = f"Bearer {minted.token}"
            timings = []
            for _ in range(1 + later):
                started = time.perf_counter()
                authenticator.authenticate(header, scope="ingest")
                timings.append(time.perf_counter() - started)
            firsts.append(timings[0])
            laters.append(median(timings[1:]))
        return firsts, laters
    finally:
        store.close()


def over_http(workdir: Path, *, tokens: int, later: int) -> tuple[list[float], list[float]]:
    firsts, laters = [], []
    with Collector(workdir).start(scopes=("read",)) as collector:
        for index in range(tokens):
            token = collector.token if index == 0 else collector.new_token(("read",))
            host, port = address_of(collector.url)
            conn = http.client.HTTPConnection(host, port, timeout=60)
            timings = []
            for _ in range(1 + later):
                started = time.perf_counter()
                conn.request("GET", "/api/v1/runs?limit=1", headers={"Authorization": f"Bearer {token}"})
                response = conn.getresponse()
                response.read()
                timings.append(time.perf_counter() - started)
                if response.status != 200:
                    raise SystemExit(f"GET /api/v1/runs answered {response.status}")
            conn.close()
            firsts.append(timings[0])
            laters.append(median(timings[1:]))
    return firsts, laters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--tokens", type=int, help="fresh tokens measured (default 5; smoke 1)")
    parser.add_argument("--later", type=int, help="later requests per token (default 200; smoke 20)")
    args = parser.parse_args(argv)
    tokens = args.tokens or args.reps or (1 if args.smoke else 5)
    later = args.later or (20 if args.smoke else 200)

    print_header(
        f"auth: first request of a token (bcrypt cost {ROUNDS}) vs later ones (cache)",
        f"""{tokens} fresh tokens, {later} later requests each; medians. in-process: Authenticator.authenticate
        on a SQLite store; HTTP: GET /api/v1/runs?limit=1 to a real collector on this machine, kept-alive.""",
    )
    with work_dir("auth", keep=args.keep) as workdir:
        measured = {
            "in-process": in_process(workdir, tokens=tokens, later=later),
            "HTTP": over_http(workdir, tokens=tokens, later=later),
        }
    rows = []
    ratios: dict[str, float | None] = {}
    figures: dict[str, Any] = {}
    for name, (firsts, laters) in measured.items():
        first, then = median(firsts), median(laters)
        ratios[name] = ratio(then, first)
        figures[name] = {"first_ms": first * 1000, "later_ms": then * 1000, "ratio": ratios[name]}
        rows.append([name, f"{first * 1000:.1f}", f"{then * 1000:.3f}", f"{(ratios[name] or 0):.2%}"])
    print(table(["path", "first ms", "later ms", "later/first"], rows))
    checks = [Check("later/first", ratios["in-process"], "<=", TARGET),
              Check("http_later/first", ratios["HTTP"], "<=", TARGET)]
    return verdict("auth", checks, smoke=args.smoke, results=figures, json_out=args.json_out)


if __name__ == "__main__":
    sys.exit(main())
