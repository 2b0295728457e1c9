"""Explain every query the hot pages run, and flag sequential scans (issue 5).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/nb_speed_bench .venv/bin/python bench/explain.py

Point it at a database holding an imported archive (`bench/run.py --keep` leaves one). Each
page is requested twice with an empty cache: the first request runs everything (counts, facets,
anchors), the second what a warm request runs. Each distinct SELECT is explained with
EXPLAIN ANALYZE on PostgreSQL (EXPLAIN QUERY PLAN on SQLite); the plan's first lines are
printed with the time, and any sequential scan of a table is marked.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")


# A large table read in full: "Seq Scan on" (PostgreSQL) or "SCAN <table>" without an index
# (SQLite). Tags, categories and the data version are a few dozen rows: scanning them is right.
LARGE_TABLES = (
    r"(notices_notice|notices_taggednotice|notices_notice_categories|notices_searchdocument)"
)
BIG_TABLE_SCAN = re.compile(rf"(Seq Scan on {LARGE_TABLES}\b|\bSCAN {LARGE_TABLES}( AS \w+)?$)")


def main() -> None:
    import django

    django.setup()
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from run import pages_to_measure

    from notices.models import Notice

    count = Notice.objects.count()
    postgres = connection.vendor == "postgresql"
    print(f"{connection.vendor}, {count:,} notices")
    pages = pages_to_measure(count, 1)
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    seen: set[str] = set()
    warm_scans = cold_scans = 0
    for label, urls in pages.items():
        if not urls or label.startswith("search"):
            continue  # search plans belong to notices/search.py (issue 4)
        runs: list[list[tuple[str, tuple]]] = [[], []]
        cache.clear()
        for captured in runs:

            def capture(execute, sql, params, many, context, captured=captured):
                captured.append((sql, params))
                return execute(sql, params, many, context)

            with connection.execute_wrapper(capture):
                client.get(urls[0])
        warm = {sql for sql, _ in runs[1]}
        print(f"\n== {label}: {urls[0]}")
        for sql, params in runs[0] + runs[1]:
            if not sql.lstrip().upper().startswith("SELECT") or sql in seen:
                continue
            seen.add(sql)
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
            with connection.cursor() as cursor:
                cursor.execute(prefix + sql, params)
                plan = [" ".join(str(part) for part in row) for row in cursor.fetchall()]
            scans = [line for line in plan if BIG_TABLE_SCAN.search(line)]
            when = "every request" if sql in warm else "once per data version (cached)"
            if scans:
                if sql in warm:
                    warm_scans += 1
                else:
                    cold_scans += 1
            print(f"-- [{when}] {sql[:150]}{'…' if len(sql) > 150 else ''}")
            for line in plan[:5] + [line for line in plan if "Execution Time" in line]:
                print(f"   {line.strip()[:150]}")
            for line in scans:
                print(f"   !! full scan: {line.strip()[:140]}")
    print(
        f"\n{len(seen)} distinct queries; full scans of a large table: {warm_scans} in queries"
        f" run on every request, {cold_scans} in cached ones (counts and facet aggregations)"
    )


if __name__ == "__main__":
    main()
