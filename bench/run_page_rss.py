"""The collector's memory while many viewers read one large run's page and API answer.

Starts a real collector, ingests one run of ``--tests`` tests (a large pytest
suite's shape, bench.benchlib.big_run), then ``--viewers`` threads fetch the
run page and ``GET /api/v1/runs/{run_id}`` (first pages) ``--rounds`` times
each. Reports the collector's resident set (VmRSS) before the views and its
peak (VmHWM) after them, read from /proc/<pid>/status.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from urllib.parse import quote

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402


def proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.common_arguments(parser)
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--viewers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    tests, viewers, rounds = (500, 2, 1) if args.smoke else (args.tests, args.viewers, args.rounds)
    benchlib.print_header("run page RSS", f"{tests:,} tests, {viewers} viewers x {rounds} rounds of page + API")
    with benchlib.work_dir("run_page_rss", keep=args.keep) as workdir, benchlib.Collector(workdir) as collector:
        collector.start()
        assert collector.server is not None
        pid = collector.server.process.pid
        headers = {"Authorization": f"Bearer {collector.token}"}
        answer = requests.post(collector.url + "/api/v1/runs", json=benchlib.big_run("rss", tests), headers=headers, timeout=600)
        answer.raise_for_status()
        session = requests.Session()
        reader = collector.new_token(("read",))
        headers = {"Authorization": f"Bearer {reader}"}
        signed = session.post(collector.url + "/ui/signin", data={"token": reader}, headers={"Origin": collector.url}, timeout=60)
        if signed.status_code != 200:
            print(signed.text[:500])
            return 1
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM: the peak of the views, not of the ingest
        before = proc_kib(pid, "VmRSS")
        sizes: dict[str, int] = {}
        failures: list[str] = []

        def view() -> None:
            viewer = requests.Session()
            viewer.cookies.update(session.cookies)
            for _ in range(rounds):
                for name, path, extra in (("page", "/ui/runs/rss", {}), ("api", "/api/v1/runs/" + quote("rss"), headers)):
                    response = viewer.get(collector.url + path, headers=extra, timeout=600)
                    if response.status_code != 200:
                        failures.append(f"{name} {response.status_code}")
                    sizes[name] = max(sizes.get(name, 0), len(response.content))

        threads = [threading.Thread(target=view) for _ in range(viewers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after, peak = proc_kib(pid, "VmRSS"), proc_kib(pid, "VmHWM")
    print(benchlib.table(
        ["RSS before views", "peak RSS (VmHWM)", "RSS after views", "largest page", "largest API answer"],
        [[f"{before / 1024:.0f} MiB", f"{peak / 1024:.0f} MiB", f"{after / 1024:.0f} MiB",
          f"{sizes.get('page', 0) / 1e6:.2f} MB", f"{sizes.get('api', 0) / 1e6:.2f} MB"]],
    ))
    if failures:
        print("failed views: " + ", ".join(sorted(set(failures))))
        return 1
    checks = [benchlib.Check("peak/before", peak / before, "<=", 2.0)]
    results = {"rss_before_kib": before, "peak_kib": peak, "rss_after_kib": after, **sizes}
    return benchlib.verdict("run_page_rss", checks, smoke=args.smoke, results=results, json_out=args.json_out)


if __name__ == "__main__":
    sys.exit(main())
