"""Where the collector's time goes under small-ingest load: py-spy samples of the server, summarised.

    pip install py-spy        # not a project dependency
    python bench/profile_collector.py [--seconds 8] [--gil] [--raw FILE]

Starts a collector as small_ingest.py does, loads it with seed-size POSTs
(wrk, else the Python client), and samples every thread of the server with
``py-spy record`` meanwhile. Prints the functions with the most samples of
their own and the most samples inside them, as a share of all samples.
Without ``--gil`` a thread blocked in C (SQLite's busy handler, fsync) counts
as busy, which shows what requests wait for; with ``--gil`` only the thread
holding the GIL is sampled, which shows where the CPU goes. Without py-spy
it says so and only runs the load.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from benchlib import (
    Collector,
    address_of,
    common_arguments,
    load_runner,
    post,
    seed_template,
    work_dir,
)

_SITE = re.compile(r"\S*/(site-packages|lib/python3\.\d+)/|\S*/(?=(collector|bench)/)")


def summarise(raw: Path, top: int) -> str:
    """Self and inclusive sample shares from py-spy's raw (collapsed stack) output."""
    own: collections.Counter[str] = collections.Counter()
    inside: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [_SITE.sub("", frame) for frame in stack.split(";")[1:]]
        if not frames:
            continue
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inside[frame] += samples
    if not total:
        return "   no samples"
    lines = [f"   {total} samples", "   -- most samples of their own"]
    lines += [f"   {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["   -- most samples inside (inclusive)"]
    lines += [f"   {100 * n / total:5.1f}%  {frame}" for frame, n in inside.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--seconds", type=float, help="load and sampling time (default 8; smoke 1)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL (CPU)")
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw collapsed stacks in this file")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    seconds = args.seconds or (1.0 if args.smoke else 8.0)
    generator, run_load = load_runner("auto", install=False)
    py_spy = shutil.which("py-spy") or (str(Path(sys.executable).parent / "py-spy")
                                        if (Path(sys.executable).parent / "py-spy").exists() else None)

    with work_dir("profile", keep=args.keep) as workdir, Collector(workdir).start() as collector:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {collector.token}"}
        post(address_of(collector.url), "/api/v1/runs", seed_template().replace("@RUN_ID@", "warm-up").encode(), headers)
        raw = args.raw or workdir / "profile.txt"
        sampler = None
        if py_spy is None:
            print("py-spy is not installed (pip install py-spy): running the load without sampling")
        else:
            assert collector.server is not None and collector.server.process is not None
            command = [py_spy, "record", "--pid", str(collector.server.process.pid), "--duration",
                       str(max(1, round(seconds))), "--rate", "200", "--format", "raw", "--output", str(raw),
                       "--nonblocking", *(["--gil"] if args.gil else [])]
            sampler = threading.Thread(target=subprocess.run, args=(command,),
                                       kwargs={"capture_output": True, "timeout": seconds + 60})
            sampler.start()
        load = run_load(collector.url, "/api/v1/runs", template=seed_template(), token=collector.token,
                        seconds=seconds, connections=args.connections, prefix=f"profile-{uuid.uuid4().hex[:8]}")
        if sampler is not None:
            sampler.join()
        print(f"   load: {generator}, {load.rps:,.0f} requests/s, p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms")
        if sampler is not None:
            print(summarise(raw, args.top) if raw.exists() else "   py-spy wrote no samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
