"""bcrypt flood: a verified token's ingest while 16 connections send forged tokens with random ids.

Forged tokens carry a valid checksum (it is public) and a random id, so each
one costs the collector a bcrypt check at cost 12 and the attacker nothing.
The collector answers the checks beyond ``TESTRUN_BCRYPT_CONCURRENCY`` with
429 at once. Measured, in one run, interleaved (quiet, flood, quiet, flood
...): the latency of ``POST /api/v1/runs`` with a token verified before, sent
one after another over a kept-alive connection, without the flood and under
it (the attackers run in processes of their own, each one kept-alive
connection, back to back).

Target: the verified token's p50 under the flood <= 250 ms.

    python bench/bcrypt_flood.py [--reps 3] [--requests 40] [--attackers 16]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import (
    Check,
    Collector,
    address_of,
    common_arguments,
    interleaved,
    median,
    percentile,
    post,
    print_header,
    seed_run,
    table,
    verdict,
    work_dir,
)

TARGET_MS = 250.0


def _attack(job: tuple[str, int, float]) -> tuple[int, int]:
    """One attacking connection until the deadline: (requests sent, answered 429)."""
    import http.client
    import secrets

    from collector.tokens import BASE62, format_token, mint_token

    host, port, seconds = job
    conn = http.client.HTTPConnection(host, port, timeout=120)
    body = json.dumps(seed_run("flood")).encode()
    sent = refused = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        token_id = "".join(secrets.choice(BASE62) for _ in range(12))
        headers = {"Authorization": f"Bearer {format_token(token_id, mint_token().secret)}",
                   "Content-Type": "application/json"}
        status, _, _ = post((host, port), "/api/v1/runs", body, headers, conn)
        sent += 1
        refused += status == 429
    conn.close()
    return sent, refused


def verified_latencies(collector: Collector, *, requests: int, tag: str) -> list[float]:
    import http.client

    address = address_of(collector.url)
    conn = http.client.HTTPConnection(*address, timeout=120)
    headers = {"Authorization": f"Bearer {collector.token}", "Content-Type": "application/json"}
    latencies = []
    for index in range(requests):
        status, data, took = post(address, "/api/v1/runs", json.dumps(seed_run(f"{tag}-{index}")).encode(),
                                  headers, conn)
        if status != 201:
            raise SystemExit(f"the verified token's POST answered {status}: {data[:200]!r}")
        latencies.append(took)
    conn.close()
    return latencies


def measure(collector: Collector, variant: str, *, rep: int, requests: int, attackers: int) -> dict[str, Any]:
    tag = f"{variant}-{rep}"
    if variant == "quiet":
        return {"latencies": verified_latencies(collector, requests=requests, tag=tag), "sent": 0, "refused": 0}
    host, port = address_of(collector.url)
    seconds = 1.0 + requests * 0.2
    with multiprocessing.get_context("fork").Pool(attackers) as pool:
        pending = pool.map_async(_attack, [(host, port, seconds)] * attackers)
        time.sleep(1.0)
        latencies = verified_latencies(collector, requests=requests, tag=tag)
        parts = pending.get(timeout=seconds + 300)
    return {"latencies": latencies, "sent": sum(p[0] for p in parts), "refused": sum(p[1] for p in parts)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--requests", type=int, help="verified requests per repetition (default 40; smoke 5)")
    parser.add_argument("--attackers", type=int, default=16, help="attacking connections (default 16)")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.smoke else 3)
    requests = args.requests or (5 if args.smoke else 40)

    print_header(
        "bcrypt flood: a verified token's ingest latency, quiet vs under a flood of forged tokens (cost 12)",
        f"""{reps} repetitions, interleaved; {requests} sequential POST /api/v1/runs of a verified token each;
        flood: {args.attackers} kept-alive connections of forged tokens with random ids, one process each.""",
    )
    results: dict[str, list[dict[str, Any]]] = {"quiet": [], "flood": []}
    with work_dir("bcrypt_flood", keep=args.keep) as workdir:
        with Collector(workdir).start() as collector:
            verified_latencies(collector, requests=1, tag="warm")
            for rep, variant in interleaved(list(results), reps):
                results[variant].append(measure(collector, variant, rep=rep, requests=requests,
                                                attackers=args.attackers))
    rows, figures = [], {}
    for variant, runs in results.items():
        per_rep = {pct: [percentile(run["latencies"], pct) * 1000 for run in runs] for pct in (50, 90, 99)}
        figures[variant] = {f"p{pct}_ms": median(values) for pct, values in per_rep.items()}
        figures[variant]["p50_spread_ms"] = [min(per_rep[50]), max(per_rep[50])]
        sent = sum(run["sent"] for run in runs)
        refused = sum(run["refused"] for run in runs)
        rows.append([variant, *(f"{median(per_rep[pct]):.1f}" for pct in (50, 90, 99)),
                     f"{min(per_rep[50]):.1f}-{max(per_rep[50]):.1f}", f"{sent:,}", f"{refused:,}"])
    print(table(["verified token", "p50 ms", "p90 ms", "p99 ms", "p50 spread", "forged sent", "forged 429"], rows))
    flood_p50 = figures["flood"]["p50_ms"]
    return verdict("bcrypt_flood", [Check("flood_p50_ms", flood_p50, "<=", TARGET_MS)], smoke=args.smoke,
                   results=figures, json_out=args.json_out)


if __name__ == "__main__":
    sys.exit(main())
