"""CPU time per page request, in process, on a kept database (issue 13's reading side).

    DATABASE_URL=sqlite:////tmp/nb.sqlite3 .venv/bin/python bench/page_cpu.py [--requests 200]
        [--only search] [--profile "search 3 chars"]

Uses bench/run.py's page and query choice (each search request a different word, so no
per-query cache is measured) against whatever DATABASE_URL holds (build it once with
`make bench N=10000` and --keep, or import an archive). Prints, per page, the CPU time
(time.process_time, so another process on a shared machine does not count) of the first
request and p50/p95 over the rest, and the queries per request. --profile prints a cProfile
of one page kind's requests. A/B: run it on two branches against the same database.
It asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import run  # noqa: E402  (bench/run.py: the same pages and words as make bench)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--only", default="", help="pages whose label contains this")
    parser.add_argument("--profile", default="", help="cProfile this page label")
    args = parser.parse_args()
    os.environ.update(run.bench_environment(os.environ["DATABASE_URL"]))
    import django

    django.setup()
    from django.db.models import Count  # noqa: F401  (settles app registry imports)

    from notices.models import Notice

    pages = run.pages_to_measure(Notice.objects.count(), args.requests)
    print(f"load average {os.getloadavg()[0]:.1f}; CPU ms per request (process_time)")
    print(f"{'page':<24}{'first':>8}{'p50':>8}{'p95':>8}{'queries':>10}")
    for label, urls in pages.items():
        if not urls or args.only not in label:
            continue
        if args.profile and args.profile == label:
            profile = cProfile.Profile()
            profile.enable()
            result = run.measure_latency(urls, args.requests, time.process_time)
            profile.disable()
            stats = pstats.Stats(profile).sort_stats(os.environ.get("SORT", "cumulative"))
            stats.print_stats(int(os.environ.get("LINES", "45")))
        else:
            result = run.measure_latency(urls, args.requests, time.process_time)
        print(
            f"{label:<24}{result['first_ms']:>8.1f}{result['p50_ms']:>8.1f}{result['p95_ms']:>8.1f}"
            f"{result['queries_first']:>5}/{result['queries']:<4} {result['statuses']}"
        )


if __name__ == "__main__":
    main()
