"""`make bench`: import speed, page latency and throughput at N notices (issues 5 and 13).

    .venv/bin/python bench/run.py [N ...]        # N defaults to $N or 100,000
    .venv/bin/python bench/run.py 10000 100000 300000   # one table, a column per N
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/run.py 20000

Writes N generated notices (sample/generator.py) into a temporary archive and imports them
into a fresh database: SQLite in the temporary folder by default; with DATABASE_URL pointing
at PostgreSQL, a database named $BENCH_DATABASE (default nb_speed_bench) on that server is
created and dropped again. Prints one table per N (and, for several N, one table with a
column per N) and writes the same figures as JSON to bench-results/<UTC time>-<N>-<db>.json
so runs can be compared.

Figures: the bare parse rate (every file read and parsed, nothing written: the reference
limit); the import, timing everything `import_notices` does (rows, tags, categories, HTML,
versions, old addresses, the search index, caches) with wall time and peak RSS of the
importing process; the search index rebuilt on its own; the re-import of the unchanged
archive; database bytes per notice; in-process latency (Django test client, the first
request and then p50/p95 over --requests requests) and queries per request for each page,
and for searches of 1 to 4 characters and mixed queries (each kind cycles through many
words drawn from the notices); the first view of each list page after a write (an edit of
one notice before each page, and once after an import that changed one file); and
requests/s with wrk against gunicorn (2 workers) for the home and detail pages.
A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zoneinfo
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))  # run as a script from anywhere: the project is importable
from serving import gunicorn  # noqa: E402  (bench/, next to this script)

PYTHON = sys.executable
LANGUAGE_HEADER = "Accept-Language: zh-hans"
SEARCH_KINDS = ("1 char", "2 chars", "3 chars", "4 chars", "mixed")
# The list pages whose first view after a write is measured (counts and facets, issue 13).
LIST_PAGES = (
    "home", "page 2", "category (largest)", "tag (most used)", "site (largest)", "year archive",
    "month archive", "category index", "tag index", "site index", "archive index",
)  # fmt: skip
# Issue 13's goals.
TARGETS = {
    "import_vs_parse": 1 / 3,
    "import_vs_parse_postgresql": 1 / 5,
    "reimport_docs_per_s": 30_000,
    "import_peak_rss_mb": 300,
    "search_p95_ms_sqlite": 20,
    "search_p95_ms_postgresql": 30,
    "first_view_after_write_ms": 30,
    "detail_p95_ms": 5,
    "detail_queries": 4,
    "wrk_home_rps": 1_000,
    "wrk_detail_rps": 800,
}


# --- Environment and database ----------------------------------------------------------------


def bench_environment(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",  # production settings: no query log, cached templates, manifest static
        SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-only-not-a-secret",
        ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
        CACHE_KEY_PREFIX=f"nb-bench-{os.getpid()}",
        PYTHONPATH=str(BASE_DIR),
    )
    return env


class Database:
    """The bench's own database: a SQLite file in `folder`, or a PostgreSQL database."""

    def __init__(self, folder: Path):
        import dj_database_url

        given = os.environ.get("DATABASE_URL", "")
        self.postgres = given.startswith(("postgres://", "postgresql://"))
        if self.postgres:
            config = dj_database_url.parse(given)
            self.name = os.environ.get("BENCH_DATABASE", "nb_speed_bench")
            self.server = {
                key: config[key.upper()]
                for key in ("host", "port", "user", "password")
                if config.get(key.upper())
            }
            base, _, _ = given.rpartition("/")
            self.url = f"{base}/{self.name}"
        else:
            self.name = str(folder / "bench.sqlite3")
            self.url = f"sqlite:///{self.name}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(dbname="postgres", autocommit=True, **self.server) as connection:
            connection.execute(statement)

    def create(self) -> None:
        if self.postgres:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._admin(f"CREATE DATABASE \"{self.name}\" TEMPLATE template0 ENCODING 'UTF8'")

    def drop(self) -> None:
        if self.postgres:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def run_child(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float, float]:
    """Run this script in a child process; return (its JSON, wall seconds, peak RSS in MB)."""
    started = time.perf_counter()
    process = subprocess.Popen([PYTHON, __file__, *args], env=env, stdout=subprocess.PIPE)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"bench step {args[:2]} failed with status {process.returncode}")
    return json.loads(output.decode().strip().splitlines()[-1]), elapsed, usage.ru_maxrss / 1024


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, str(BASE_DIR / "manage.py"), *args], env=env, check=True)


# --- Child steps (run in their own process so their memory is theirs) -------------------------


def child_import(archive: str) -> dict[str, Any]:
    """Everything `import_notices` does, search index included."""
    from notices import importing

    # The import's CPU: this process and its workers (reaped by the end of import_archive).
    main_cpu, workers = time.process_time(), _children_cpu()
    report = importing.import_archive([Path(archive)])
    main_cpu, workers = time.process_time() - main_cpu, _children_cpu() - workers
    return {
        "grouping_s": report.grouping_seconds,
        # Signatures' CPU as the workers timed it, notice by notice, while importing.
        "signature_ms": report.signature_seconds / max(report.created + report.updated, 1) * 1000,
        # Grouping's CPU, main (placing) and workers (signatures): of the import's CPU.
        "grouping_cpu_s": report.grouping_seconds + report.signature_seconds,
        "import_cpu_s": main_cpu + workers,
        "files": report.files,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "failed": report.failed,
        "elapsed": report.elapsed,
        "errors": report.errors[:5],
        # CPU seconds: this process, its worker processes, and (PostgreSQL on this machine)
        # the server process of its connection: where the time goes, whatever the load.
        "cpu_main_s": main_cpu,
        "cpu_workers_s": workers,
        "cpu_server_s": server_cpu_seconds(),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def server_cpu_seconds() -> float | None:
    """CPU seconds of this connection's PostgreSQL server process, if it runs on this machine."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        # Fields 14 and 15 of /proc/PID/stat, after the command name in parentheses.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # a server elsewhere (or another process namespace)
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_index() -> dict[str, Any]:
    from notices.search import rebuild_index

    started = time.perf_counter()
    done = rebuild_index()
    return {"docs": done, "elapsed": time.perf_counter() - started}


# --- Parent steps ------------------------------------------------------------------------------


def bare_parse(archive: Path) -> dict[str, Any]:
    from django.conf import settings

    from notices.documents import DocumentError, parse_file
    from notices.importing import find_documents

    zone = zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
    started = time.perf_counter()
    parsed = failed = 0
    for archive_file in find_documents(archive):
        try:
            parse_file(
                archive_file.path,
                root=archive,
                zone=zone,
                max_bytes=settings.NOTICES_MAX_FILE_BYTES,
            )
            parsed += 1
        except DocumentError:
            failed += 1
    elapsed = time.perf_counter() - started
    return {"docs": parsed, "failed": failed, "elapsed": elapsed, "docs_per_s": parsed / elapsed}


def reverse_or_none(name: str, *args: Any) -> str | None:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def pages_to_measure(count: int, requests: int) -> dict[str, list[str] | None]:
    """Each page's URLs (detail pages cycle through many notices); None: not built yet."""
    from django.conf import settings
    from django.db.models import Count
    from django.db.models.functions import ExtractMonth, ExtractYear
    from taggit.models import Tag

    from notices.models import Notice

    home = reverse_or_none("notices:list")
    last_page = max(1, count // settings.NOTICES_PAGE_SIZE)
    deep = min(4000, last_page)
    links = Notice.categories.through.objects.values_list("category__path")
    top_leaf = links.annotate(n=Count("notice_id")).order_by("-n").first()
    category = reverse_or_none("notices:category", top_leaf[0].split("/")[0]) if top_leaf else None
    tag = Tag.objects.annotate(n=Count("notices_taggednotice_items")).order_by("-n").first()
    years = Notice.objects.annotate(year=ExtractYear("date")).values_list("year", flat=True)
    year = years.order_by("-year").first()
    month = None
    if year:
        months = Notice.objects.filter(date__year=year).annotate(month=ExtractMonth("date"))
        month = months.values_list("month", flat=True).order_by("-month").first()
    sites = Notice.objects.exclude(site="").values("site").annotate(n=Count("id"))
    site = sites.order_by("-n").values_list("site", flat=True).first()
    rng = random.Random(5)
    ids = list(Notice.objects.values_list("id", flat=True))
    urlnames = Notice.objects.filter(id__in=rng.sample(ids, min(len(ids), requests)))
    details = [
        reverse_or_none("notices:detail", u) for u in urlnames.values_list("urlname", flat=True)
    ]
    search = reverse_or_none("notices:search")
    pages: dict[str, list[str] | None] = {
        "home": [home] if home else None,
        "page 2": [f"{home}?page=2"] if home else None,
        f"deep page ({deep:,})": [f"{home}?page={deep}"] if home else None,
        "category (largest)": [category] if category else None,
        "tag (most used)": [reverse_or_none("notices:tag", tag.slug)] if tag else None,
        "site (largest)": [reverse_or_none("notices:site", site)] if site else None,
        "year archive": [reverse_or_none("notices:archive-year", year)] if year else None,
        "month archive": (
            [reverse_or_none("notices:archive-month", year, month)] if year and month else None
        ),
        "category index": [u for u in [reverse_or_none("notices:categories")] if u] or None,
        "tag index": [u for u in [reverse_or_none("notices:tags")] if u] or None,
        "site index": [u for u in [reverse_or_none("notices:sites")] if u] or None,
        "archive index": [u for u in [reverse_or_none("notices:archive")] if u] or None,
        "detail": details if details and details[0] else None,
        "feed (Atom)": [u for u in [reverse_or_none("notices:feed-atom")] if u] or None,
    }
    for kind, words in search_words(requests).items():
        pages[f"search {kind}"] = [f"{search}?{urlencode({'q': w})}" for w in words] or None
    return {label: (urls if urls and all(urls) else None) for label, urls in pages.items()}


def search_words(requests: int) -> dict[str, list[str]]:
    """Queries of each kind, drawn from the titles and bodies of notices: 1-4 characters of
    Chinese, and mixed (two words, or a word and a year)."""
    from notices.models import Notice
    from notices.search import word_runs

    rng = random.Random(13)
    ids = list(Notice.objects.values_list("id", flat=True))
    sample = Notice.objects.filter(id__in=rng.sample(ids, min(len(ids), 400)))
    runs = [
        run
        for title, body in sample.values_list("title", "summary")
        for run in word_runs(f"{title} {body}")
        if run[0] >= "\u4e00"
    ]
    words: dict[str, list[str]] = {kind: [] for kind in SEARCH_KINDS}
    if not runs:
        return words
    # A different query for every request: a repeated one would measure a cache.
    for length, kind in enumerate(SEARCH_KINDS[:4], start=1):
        windows = {run[i : i + length] for run in runs for i in range(len(run) - length + 1)}
        words[kind] = rng.sample(sorted(windows), min(len(windows), requests))
    for index in range(requests):
        first = words["2 chars"][index % len(words["2 chars"])] if words["2 chars"] else "通知"
        other = words["4 chars"][(index * 7) % len(words["4 chars"])] if words["4 chars"] else ""
        words["mixed"].append(f"{first} {other}" if index % 2 else f"{first} {2016 + index % 10}")
    return words


def measure_latency(
    urls: list[str], requests: int, clock: Callable[[], float] = time.perf_counter
) -> dict[str, Any]:
    """First request, then p50/p95 over `requests` in ms of `clock` (wall time; bench/page_cpu.py
    passes time.process_time), with the queries each ran."""
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    executed: list[str] = []

    def count(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    def get(url: str) -> tuple[float, int, int]:
        executed.clear()
        with connection.execute_wrapper(count):
            started = clock()
            response = client.get(url)
            elapsed = (clock() - started) * 1000
        return elapsed, response.status_code, len(executed)

    # The first request after an import computes what later ones find cached.
    first_ms, status, first_queries = get(urls[0])
    statuses = {status}
    timings, query_counts = [], set()
    for index in range(requests):
        elapsed, status, queries = get(urls[index % len(urls)])
        timings.append(elapsed)
        statuses.add(status)
        query_counts.add(queries)
    timings.sort()
    return {
        "requests": requests,
        "first_ms": first_ms,
        "p50_ms": statistics.median(timings),
        "p95_ms": timings[int(len(timings) * 0.95) - 1],
        "queries_first": first_queries,
        "queries": max(query_counts),
        "statuses": sorted(statuses),
    }


def edit_one_notice(rng: random.Random) -> None:
    """What an editor's save in the admin does to one notice (NoticeAdmin.save_model)."""
    from django.db import transaction

    from notices.models import Notice
    from notices.search import index_notices

    ids = Notice.objects.values_list("id", flat=True)
    notice = Notice.objects.get(id=rng.choice(list(ids[:1000])))
    with transaction.atomic():
        notice.title = notice.title.rstrip("*") + "*"
        notice.render()
        notice.mark_edited()
        notice.save()
        index_notices([notice])


def touch_one_file(archive: Path, rng: random.Random) -> None:
    """Change one archive file's body, as an upstream correction would."""
    files = sorted(archive.rglob("*.md"))
    target = rng.choice(files[:1000])
    target.write_text(target.read_text(encoding="utf-8") + "\n补充说明。\n", encoding="utf-8")


def measure_first_after_write(pages: dict[str, list[str] | None], archive: Path) -> dict[str, Any]:
    """The first request of each list page right after a write (an edit of one notice before
    each page), and of the home page after an import that changed one file."""
    from django.test import Client

    from notices.importing import import_archive

    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    rng = random.Random(17)
    results: dict[str, Any] = {}

    def first_get(url: str) -> float:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code} after a write")
        return elapsed

    for label in LIST_PAGES:
        urls = pages.get(label)
        if not urls:
            results[label] = None
            continue
        client.get(urls[0])  # warm: what follows is the cost of the write alone
        edit_one_notice(rng)
        results[label] = first_get(urls[0])
    if pages.get("home"):
        touch_one_file(archive, rng)
        report = import_archive([archive])
        results["home after an import"] = first_get(pages["home"][0])
        results["import of one changed file (s)"] = report.elapsed
    return results


def database_bytes() -> int:
    """The database's size on disk: the SQLite file with its WAL, or pg_database_size."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return cursor.fetchone()[0]
    name = connection.settings_dict["NAME"]
    return sum(os.path.getsize(f"{name}{s}") for s in ("", "-wal") if os.path.exists(f"{name}{s}"))


def run_wrk(env: dict[str, str], urls: dict[str, str], seconds: int) -> dict[str, Any]:
    if not shutil.which("wrk"):
        return {"available": False, "why": "wrk is not installed (apt-get install wrk)"}
    results: dict[str, Any] = {"available": True, "workers": 2, "max_requests": 0}
    # No recycling: with max_requests (10,000 by default) a worker restarts within the run,
    # wrk's keep-alive connections all move to the other one, and the figure measures one
    # worker (680-2,030 req/s for the same page, by when the jitter fell; issue 14).
    with gunicorn({**env, "GUNICORN_MAX_REQUESTS": "0"}, workers=2) as served:
        base = served.url
        for _ in range(100):
            try:
                urllib.request.urlopen(base + urls["home"], timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        for label, url in urls.items():
            # Concurrent requests reach both workers: each has its own local-memory cache.
            with ThreadPoolExecutor(4) as warm:
                list(warm.map(fetch, [base + url] * 16))
            output = subprocess.run(
                ["wrk", "-t2", "-c8", f"-d{seconds}s", "-H", LANGUAGE_HEADER, base + url],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            results[label] = parse_wrk(output)
    return results


def fetch(url: str) -> bytes:
    return urllib.request.urlopen(url, timeout=60).read()


def parse_wrk(output: str) -> dict[str, Any]:
    figures: dict[str, Any] = {"requests_per_s": 0.0, "errors": 0, "non_2xx": 0}
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("Requests/sec:"):
            figures["requests_per_s"] = float(line.split()[1])
        elif line.startswith("Non-2xx or 3xx responses:"):
            figures["non_2xx"] = int(line.split(":")[1])
        elif line.startswith("Socket errors:"):
            figures["errors"] = sum(
                int(part.split()[-1]) for part in line.split(":", 1)[1].split(",")
            )
        elif line.startswith("Latency"):
            figures["latency_avg"] = line.split()[1]
    figures["errors"] += figures["non_2xx"]
    return figures


def database_description(db: Database) -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        return f"PostgreSQL {version} (scratch database {db.name})"
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version} (temporary file {db.name})"


# --- Report ------------------------------------------------------------------------------------


def print_table(results: dict[str, Any]) -> None:
    count = results["n"]
    parse = results["parse"]
    imported = results["import"]
    postgres = "PostgreSQL" in results["database"]
    import_target = TARGETS["import_vs_parse_postgresql" if postgres else "import_vs_parse"]
    lines = [
        f"Noticeboard benchmark: {count:,} notices on {results['database']}",
        f"machine: {results['machine']}; cache: {results['cache']}",
        "",
        f"{'step':<34}{'docs/s':>10}{'wall s':>10}{'peak RSS MB':>13}  note",
        f"{'generate archive':<34}{count / results['generate_s']:>10,.0f}"
        f"{results['generate_s']:>10.1f}{'':>13}  sample/generator.py",
        f"{'bare parse (nothing written)':<34}{parse['docs_per_s']:>10,.0f}"
        f"{parse['elapsed']:>10.1f}{'':>13}  the reference limit",
        f"{'import (everything it does)':<34}{imported['docs_per_s']:>10,.0f}"
        f"{imported['wall_s']:>10.1f}{imported['peak_rss_mb']:>13.0f}"
        f"  {imported['docs_per_s'] / parse['docs_per_s']:.2f} x parse rate"
        f" (target >= {import_target:.2f})",
    ]
    if "cpu_main_s" in imported:
        per_notice = 1000 / max(imported["created"], 1)
        server = imported.get("cpu_server_s")
        lines.append(
            f"{'  CPU ms a notice':<34}  main {imported['cpu_main_s'] * per_notice:.2f}, "
            f"workers {imported['cpu_workers_s'] * per_notice:.2f}"
            + (f", server {server * per_notice:.2f}" if server is not None else "")
        )
    if "grouping_cpu_s" in imported:
        lines.append(
            f"{'  of which grouping (CPU s)':<34}{'':>10}"
            f"{imported['grouping_cpu_s']:>10.1f}{'':>13}"
            f"  {_grouping_share(imported)} % of import CPU (main + workers; target <= 15 %): "
            f"placing {imported['grouping_s']:.1f} s main, signatures "
            f"{imported['signature_ms']:.2f} ms a notice in the workers"
        )
    index = results["search_index"]
    lines.append(
        f"{'search index rebuilt alone':<34}{index['docs_per_s']:>10,.0f}{index['wall_s']:>10.1f}"
        f"{index['peak_rss_mb']:>13.0f}  manage.py rebuild_search_index"
    )
    again = results["reimport"]
    lines.append(
        f"{'re-import, unchanged archive':<34}{again['docs_per_s']:>10,.0f}{again['wall_s']:>10.1f}"
        f"{again['peak_rss_mb']:>13.0f}  target >= {TARGETS['reimport_docs_per_s']:,} docs/s"
    )
    lines.append(
        f"{'database size':<34}{results['database_bytes'] / count:>10,.0f} bytes a notice "
        f"({results['database_bytes'] / 2**20:,.0f} MB)"
    )
    heading = f"page (in-process, {results['requests']} requests)"
    columns = f"{'first ms':>10}{'p50 ms':>9}{'p95 ms':>9}{'queries':>9}{'(first)':>9}  status"
    lines += ["", f"{heading:<34}{columns}"]
    for label, figures in results["latency"].items():
        if figures is None:
            lines.append(f"{label:<34}{'n/a':>10}  (URL not built yet)")
            continue
        lines.append(
            f"{label:<34}{figures['first_ms']:>10.1f}{figures['p50_ms']:>9.1f}{figures['p95_ms']:>9.1f}"
            f"{figures['queries']:>9}{figures['queries_first']:>9}  {figures['statuses']}"
        )
    lines += ["", f"{'first view after a write':<34}{'ms':>10}  (target <= 30 ms)"]
    for label, value in results["after_write"].items():
        shown = "n/a" if value is None else f"{value:.1f}"
        lines.append(f"{label:<34}{shown:>10}")
    wrk = results["wrk"]
    lines.append("")
    if not wrk.get("available"):
        lines.append(f"wrk: n/a ({wrk.get('why')})")
    else:
        for label in ("home", "detail"):
            figures = wrk.get(label)
            if figures:
                lines.append(
                    f"wrk {label:<30}{figures['requests_per_s']:>10,.0f} req/s  errors "
                    f"{figures['errors']}  (gunicorn 2 workers, wrk -t2 -c8, avg latency "
                    f"{figures.get('latency_avg', '?')})"
                )
    print("\n".join(lines))


def _grouping_share(imported: dict[str, Any]) -> str:
    """Grouping's CPU (placing in the main process, signatures in the workers) as a share of
    the import's CPU, main process and workers: what issue 15 bounds at 15 %."""
    return f"{imported['grouping_cpu_s'] / imported['import_cpu_s'] * 100:.1f}"


def summary_rows(results: dict[str, Any]) -> dict[str, str]:
    """One run's figures that a multi-N table compares: the ones that may grow with N."""
    parse, imported = results["parse"], results["import"]
    rows = {
        "import docs/s": f"{imported['docs_per_s']:,.0f}",
        "import / parse": f"{imported['docs_per_s'] / parse['docs_per_s']:.2f}",
        "import peak RSS MB": f"{imported['peak_rss_mb']:.0f}",
        "grouping % of import CPU": (
            _grouping_share(imported) if "grouping_cpu_s" in imported else "n/a"
        ),
        "re-import docs/s": f"{results['reimport']['docs_per_s']:,.0f}",
        "database bytes / notice": f"{results['database_bytes'] / results['n']:,.0f}",
    }
    for label, figures in results["latency"].items():
        if figures is not None:
            label = label.split(" (")[0] if label.startswith("deep page") else label
            rows[f"p95 ms {label}"] = f"{figures['p95_ms']:.1f}"
    pages_after = [*LIST_PAGES, "home after an import"]
    after = [results["after_write"].get(label) for label in pages_after]
    if any(value is not None for value in after):
        slowest = max(value for value in after if value is not None)
        rows["first view after a write, slowest ms"] = f"{slowest:.1f}"
    for label in ("home", "detail"):
        figures = results["wrk"].get(label)
        if figures:
            rows[f"wrk {label} req/s"] = f"{figures['requests_per_s']:,.0f}"
    return rows


def print_comparison(runs: list[dict[str, Any]]) -> None:
    """Several N side by side: a figure that grows with N is a finding (issue 13)."""
    table = [summary_rows(results) for results in runs]
    labels = list(dict.fromkeys(label for rows in table for label in rows))
    header = f"{'figure':<36}" + "".join(f"{results['n']:>12,}" for results in runs)
    lines = [f"Noticeboard benchmark on {runs[0]['database'].split(' (')[0]}", header]
    for label in labels:
        lines.append(f"{label:<36}" + "".join(f"{rows.get(label, '-'):>12}" for rows in table))
    print("\n".join(lines))


def bench_one(count: int, args: argparse.Namespace) -> dict[str, Any]:
    """Generate, import and measure `count` notices in a fresh database; return the figures."""
    folder = Path(tempfile.mkdtemp(prefix="nb-bench-"))
    db = Database(folder)
    db.create()
    env = bench_environment(db.url)
    os.environ.update(env)
    results: dict[str, Any] = {
        "n": count,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
            f" load average {os.getloadavg()[0]:.1f} at start"
        ),
        "requests": args.requests,
        "targets": TARGETS,
    }
    try:
        archive = args.archive
        started = time.perf_counter()
        if archive is None:
            from sample import write_archive

            archive = folder / "archive"
            write_archive(archive, count)
        results["generate_s"] = max(time.perf_counter() - started, 1e-9)
        print(f"archive ready ({results['generate_s']:.1f} s); migrating", file=sys.stderr)
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "collectstatic", "--noinput", "-v0")

        import django

        django.setup()
        from django.conf import settings

        results["database"] = database_description(db)
        results["cache"] = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
        print("bare parse", file=sys.stderr)
        results["parse"] = bare_parse(archive)

        print("import", file=sys.stderr)
        report, wall, rss = run_child(["--child", "import", "--archive", str(archive)], env)
        results["import"] = {**report, "wall_s": wall, "peak_rss_mb": rss,
                             "docs_per_s": report["created"] / report["elapsed"]}  # fmt: skip
        results["database_bytes"] = database_bytes()
        print("search index", file=sys.stderr)
        index, wall, rss = run_child(["--child", "index"], env)
        index.update(wall_s=wall, peak_rss_mb=rss, docs_per_s=index["docs"] / index["elapsed"])
        results["search_index"] = index
        print("re-import", file=sys.stderr)
        again, wall, rss = run_child(["--child", "import", "--archive", str(archive)], env)
        results["reimport"] = {**again, "wall_s": wall, "peak_rss_mb": rss,
                               "docs_per_s": again["unchanged"] / again["elapsed"]}  # fmt: skip

        print("latency", file=sys.stderr)
        pages = pages_to_measure(results["import"]["created"], args.requests)
        results["latency"] = {
            label: measure_latency(urls, args.requests) if urls else None
            for label, urls in pages.items()
        }
        print("first view after a write", file=sys.stderr)
        results["after_write"] = measure_first_after_write(pages, archive)
        if args.no_wrk:
            results["wrk"] = {"available": False, "why": "--no-wrk"}
        else:
            print("wrk", file=sys.stderr)
            wrk_urls = {"home": pages["home"][0], "detail": pages["detail"][0]}
            results["wrk"] = run_wrk(env, wrk_urls, args.wrk_seconds)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"kept {folder} and the database {db.name}", file=sys.stderr)
        else:
            db.drop()
            shutil.rmtree(folder, ignore_errors=True)

    print_table(results)
    out = BASE_DIR / "bench-results"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"{stamp}-{count}-{'postgresql' if db.postgres else 'sqlite'}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    print(f"\nJSON: {path.relative_to(BASE_DIR)}\n", flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, ensure_ascii=False, default=str))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "n", nargs="*", type=int, help="notices to generate (several: one run each)"
    )
    parser.add_argument("--archive", type=Path, help="bench an existing archive instead")
    parser.add_argument("--requests", type=int, default=200, help="requests per page (>= 200)")
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--no-wrk", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the archive and the database")
    parser.add_argument("--child", choices=["import", "index"], help=argparse.SUPPRESS)
    parser.add_argument("--json-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        import django

        django.setup()
        if args.child == "import":
            print(json.dumps(child_import(str(args.archive))))
        else:
            print(json.dumps(child_index()))
        return

    counts = args.n or [int(n) for n in (os.environ.get("N") or "100000").split()]
    if len(counts) == 1:
        bench_one(counts[0], args)
        return
    # One process per N: Django is set up for one database per process.
    runs = []
    options = ["--requests", str(args.requests), "--wrk-seconds", str(args.wrk_seconds)]
    options += ["--no-wrk"] * args.no_wrk + ["--keep"] * args.keep
    with tempfile.TemporaryDirectory() as folder:
        for count in counts:
            out = Path(folder) / f"{count}.json"
            command = [PYTHON, __file__, str(count), *options, "--json-out", str(out)]
            subprocess.run(command, check=True)
            runs.append(json.loads(out.read_text()))
    print_comparison(runs)


if __name__ == "__main__":
    main()
