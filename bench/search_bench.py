"""Search benchmark (issue 4): not a test, a script that prints figures.

    .venv/bin/python bench/search_bench.py [--count 100000] [--queries 200]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/nb_search_bench \
        .venv/bin/python bench/search_bench.py

It generates COUNT notices with notices/generator.py into a FRESH database (a temporary SQLite
file, or the PostgreSQL database named in DATABASE_URL, which is dropped and created again),
imports them (the importer indexes as it goes), rebuilds the index alone to time it, and prints:
index build rate, index size on disk, p50/p95 latency of a search as the results page runs it
(count + first page, relevance order) for 1-, 2-, 3-, 4-character and mixed queries drawn from
the documents, and recall against a LIKE scan of the same notices.

    DATABASE_URL=... .venv/bin/python bench/search_bench.py --reuse --index-writes 2000

times what indexing costs a notice apart from parsing and rendering (issue 13): index_text()
in Python and index_notices() writing into an index of the database's size, rolled back after.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="notices to generate")
    parser.add_argument("--queries", type=int, default=200, help="queries per kind")
    parser.add_argument("--recall-queries", type=int, default=60, help="queries checked by LIKE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="keep the archive and SQLite file here")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="query the database a previous run left (in --workdir, or DATABASE_URL) again",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="with --reuse: time an index rebuild first"
    )
    parser.add_argument(
        "--index-writes",
        type=int,
        default=0,
        metavar="N",
        help="with --reuse: time the index writes of N notices alone (taken out of the index "
        "and indexed again in a transaction that is rolled back), then stop",
    )
    return parser.parse_args()


def fresh_database(workdir: Path, *, reuse: bool) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        database = workdir / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            if not reuse:
                Path(f"{database}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{database}"
        return "sqlite"
    if reuse:
        return "postgresql"
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    name = config["NAME"]
    admin = psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or "postgres",
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return "postgresql"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    args = parse_args()
    temporary = None
    if args.workdir:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        temporary = tempfile.TemporaryDirectory(prefix="search-bench-")
        workdir = Path(temporary.name)
    vendor = fresh_database(workdir, reuse=args.reuse)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["CONN_MAX_AGE"] = "0"

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from notices import search
    from notices.models import Notice
    from sample import write_archive

    call_command("migrate", verbosity=0)
    print(f"database: {vendor} ({connection.settings_dict['NAME']}), notices: {args.count:,}")

    if not args.reuse:
        from notices.importing import import_archive

        archive = workdir / "archive"
        started = time.perf_counter()
        write_archive(archive, args.count, seed=args.seed)
        print(f"generated {args.count:,} documents in {time.perf_counter() - started:.1f} s")

        report = import_archive([archive], batch_size=500)
        print(f"import (parse, render, write, index): {report.summary()}")
        for error in report.errors[:5]:
            print(f"  import error: {error}")

    if args.index_writes:
        time_index_writes(args.index_writes)
        return
    if not args.reuse or args.rebuild:
        started, cpu_started = time.perf_counter(), time.process_time()
        indexed = search.rebuild_index(batch_size=1000)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        # CPU time of this process too: other work on the machine stretches the wall clock.
        load = os.getloadavg()[0]
        print(f"index rebuild alone: {indexed:,} notices in {elapsed:.1f} s "
              f"({indexed / elapsed:,.0f} docs/s; {cpu:.1f} s CPU in this process, "
              f"{indexed / cpu:,.0f} docs/CPU-s); load average {load:.1f}")  # fmt: skip
    index_bytes, text_bytes = index_size(connection)
    print(f"index size on disk: {index_bytes / 1e6:,.1f} MB, plus {text_bytes / 1e6:,.1f} MB "
          "of normalised text (kept for deletes and PostgreSQL's order check)")  # fmt: skip

    rng = random.Random(args.seed)
    # The same sample on both databases: ids follow the import's sorted file order.
    all_ids = sorted(Notice.objects.values_list("id", flat=True))
    sample = rng.sample(all_ids, min(2000, len(all_ids)))
    texts = list(
        search.SearchDocument.objects.filter(notice_id__in=sample)
        .order_by("notice_id")
        .values_list("title", "body")
    )
    runs = [run for title, body in texts for run in f"{title} {body}".split() if len(run) >= 4]
    queries: dict[str, list[str]] = {"1 char": [], "2 chars": [], "3 chars": [], "4 chars": []}
    for kind, length in (("1 char", 1), ("2 chars", 2), ("3 chars", 3), ("4 chars", 4)):
        while len(queries[kind]) < args.queries:
            run = rng.choice(runs)
            start = rng.randrange(len(run) - length + 1)
            queries[kind].append(run[start : start + length])
    queries["mixed"] = [
        f"{rng.choice(queries['3 chars'])} {rng.choice(queries['2 chars'])}"
        for _ in range(args.queries)
    ]
    for query in list(queries["mixed"][: args.queries // 4]):
        queries["mixed"].append(f"{query.split()[0]} {rng.randint(2016, 2025)}")
    # Typed in Traditional script: these also check which matches hold the text as typed.
    import opencc

    to_traditional = opencc.OpenCC("s2t")
    queries["trad."] = [
        converted
        for query in queries["2 chars"] + queries["3 chars"]
        if (converted := to_traditional.convert(query)) != query
    ][: args.queries]

    print()
    print(f"search = count + first page of 20, relevance order; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'queries':<9} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
          f"{'CPU p50':>8} {'CPU p95':>8} {'median hits':>12}")  # fmt: skip
    for kind, batch in queries.items():
        times, cpu_times, hits = [], [], []
        for query in batch:
            started, cpu_started = time.perf_counter(), time.process_time()
            results = search.search_notices(query)
            total = results.count()
            list(results[0:20])
            times.append((time.perf_counter() - started) * 1000)
            cpu_times.append((time.process_time() - cpu_started) * 1000)
            hits.append(total)
        print(f"{kind:<9} {len(batch):>5} {percentile(times, 0.5):>8.1f} "
              f"{percentile(times, 0.95):>8.1f} {max(times):>8.1f} "
              f"{percentile(cpu_times, 0.5):>8.1f} {percentile(cpu_times, 0.95):>8.1f} "
              f"{statistics.median(hits):>12,.0f}")  # fmt: skip

    print()
    like = "ILIKE" if vendor == "postgresql" else "LIKE"
    checked = expected_total = found_total = markup_only = 0
    text_expected = text_found = extra_total = 0
    started = time.perf_counter()
    recall_queries = [
        q
        for kind in ("2 chars", "3 chars", "4 chars")
        for q in queries[kind][: args.recall_queries // 3]
    ]
    for query in recall_queries:
        parsed = search.parse_query(query)
        pattern = f"%{query}%"
        with connection.cursor() as cursor:
            # 1. The notices' own columns (title, rendered body), not the index's copy of them.
            cursor.execute(
                f"SELECT id FROM notices_notice WHERE title {like} %s OR body_html {like} %s",
                [pattern, pattern],
            )
            expected = {row[0] for row in cursor.fetchall()}
            # 2. The normalised plain text the index was built from.
            normalised = f"%{parsed.included[0].text}%"
            cursor.execute(
                f"SELECT notice_id FROM {search.DOCUMENT_TABLE} "
                "WHERE title LIKE %s OR body LIKE %s",
                [normalised, normalised],
            )
            in_text = {row[0] for row in cursor.fetchall()}
        found = set(
            search.filter_notices(Notice.objects.all(), parsed).values_list("id", flat=True)
        )
        # A body_html hit the index lacks is allowed only where the words are in markup
        # (an image's alt or URL), not in the text a reader sees.
        for notice in Notice.objects.filter(id__in=expected - found):
            visible = [search.normalise(text) for text in search.notice_texts(notice)]
            if not any(search.normalise(query) in text for text in visible):
                markup_only += 1
        checked += 1
        expected_total += len(expected)
        found_total += len(expected & found)
        text_expected += len(in_text)
        text_found += len(in_text & found)
        extra_total += len(found - in_text)
    visible_total = expected_total - markup_only
    recall = min(found_total, visible_total) / visible_total if visible_total else 1.0
    print(
        f"recall vs {like} scan of the indexed text: "
        f"{text_found / text_expected if text_expected else 1.0:.4f} "
        f"({text_found:,} of {text_expected:,} hits; {extra_total} found that it lacks)"
    )
    print(f"recall vs {like} scan of title/body_html: {recall:.4f} "
          f"({found_total:,} of {visible_total:,} hits in visible text; {markup_only} more "
          f"only inside markup such as image alt/src; {checked} queries, "
          f"{time.perf_counter() - started:.0f} s)")  # fmt: skip
    if temporary:
        temporary.cleanup()


def time_index_writes(count: int) -> None:
    """What indexing costs a notice, apart from parsing and rendering: index_text() (the
    tokens or vectors, in Python) and index_notices() writing them into an index of the
    database's size, in batches of 500 as an import writes them."""
    from django.db import transaction

    from notices import search
    from notices.models import Notice

    ids = list(Notice.objects.order_by("id").values_list("id", flat=True)[:count])
    notices = list(Notice.objects.filter(id__in=ids).only("id", "date", "title", "body_html"))
    cpu_started = time.process_time()
    made = {notice.id: search.index_text(notice) for notice in notices}
    build = time.process_time() - cpu_started
    with transaction.atomic():
        search.unindex(ids)
        started = time.perf_counter()
        for start in range(0, len(notices), 500):
            search.index_notices(notices[start : start + 500], made)
        write = time.perf_counter() - started
        transaction.set_rollback(True)
    # The rolled-back rows leave GIN pending entries and dead rows behind, which the next
    # searches would read: VACUUM them away (PostgreSQL; nothing to do on SQLite).
    search.analyze_tables()
    n = len(notices)
    print(f"index writes of {n:,} notices: index_text() {build / n * 1000:.2f} ms CPU a notice; "
          f"index_notices() {write / n * 1000:.2f} ms a notice ({n / write:,.0f} notices/s); "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip


def index_size(connection) -> tuple[int, int]:
    """Bytes of (the index proper, the normalised text beside it)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The GIN index plus the tsvector column; the text columns are counted apart.
            cursor.execute(
                "SELECT pg_relation_size('notices_searchdocument_vector'), "
                "coalesce(sum(pg_column_size(vector)), 0), "
                "coalesce(sum(pg_column_size(title) + pg_column_size(body)), 0) "
                "FROM notices_searchdocument"
            )
            gin, vectors, texts = cursor.fetchone()
            return gin + vectors, texts
        cursor.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        sizes = dict(cursor.fetchall())
        fts = sum(
            size
            for name, size in sizes.items()
            if name.startswith(("notices_search_fts", "notices_search_title_fts"))
        )
        texts = sum(
            size
            for name, size in sizes.items()
            if name.startswith(("notices_searchdocument", "sqlite_autoindex_notices_search"))
        )
        return fts, texts


if __name__ == "__main__":
    main()
