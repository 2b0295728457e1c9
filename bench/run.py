"""`make bench`: import speed, page latency and throughput at N notices (issue 5).

    .venv/bin/python bench/run.py [N]            # N defaults to $N or 100,000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/run.py 20000

Writes N generated notices (notices/generator.py) into a temporary archive and imports them
into a fresh database: SQLite in the temporary folder by default; with DATABASE_URL pointing
at PostgreSQL, a database named $BENCH_DATABASE (default nb_speed_bench) on that server is
created and dropped again. Prints one table and writes the same figures as JSON to
bench-results/<UTC time>.json so runs can be compared.

Figures: the bare parse rate (every file read and parsed, nothing written: the reference
limit); the import (rows, tags, categories, rendered HTML; the search index switched off)
with wall time and peak RSS of the importing process; the search index built on its own;
the re-import of the unchanged archive; in-process latency (Django test client, the first
request and then p50/p95 over --requests requests) and queries per request for each page;
and requests/s with wrk against gunicorn (2 workers) for the home and a detail page.
A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))  # run as a script from anywhere: the project is importable
PYTHON = sys.executable
PORTS = range(8250, 8300)
LANGUAGE_HEADER = "Accept-Language: zh-hans"
SEARCH_WORDS = {"search 2 chars": "招生", "search 3 chars": "奖学金", "search 4 chars": "疫情防控"}
TARGETS = {
    "import_vs_parse": 1 / 3,
    "reimport_docs_per_s": 20_000,
    "import_peak_rss_mb": 400,
    "search_index_docs_per_s": 1_000,
    "page_p95_ms": 15,
    "deep_page_p95_ms": 25,
    "search_p95_ms": 30,
    "wrk_home_rps": 500,
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


def child_import(archive: str, search_index: bool) -> dict[str, Any]:
    from notices import importing

    if not search_index:
        # The import alone: the search index is built and timed as its own step.
        importing.index_notices = lambda notices: 0
    report = importing.import_archive([Path(archive)])
    return {
        "files": report.files,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "failed": report.failed,
        "elapsed": report.elapsed,
        "errors": report.errors[:5],
    }


def child_index() -> dict[str, Any]:
    try:
        from notices.search import rebuild_index
    except ImportError:
        return {"available": False}
    started = time.perf_counter()
    done = rebuild_index()
    return {"available": True, "docs": done, "elapsed": time.perf_counter() - started}


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
    from django.db.models.functions import ExtractYear
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
        "year archive": [reverse_or_none("notices:archive-year", year)] if year else None,
        "detail": details if details and details[0] else None,
        "feed (Atom)": [u for u in [reverse_or_none("notices:feed-atom")] if u] or None,
    }
    for label, word in SEARCH_WORDS.items():
        pages[f"{label} ({word})"] = [f"{search}?q={word}"] if search else None
    return {label: (urls if urls and all(urls) else None) for label, urls in pages.items()}


def measure_latency(urls: list[str], requests: int) -> dict[str, Any]:
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
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
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


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise SystemExit("no free port in 8250-8299 for gunicorn")


def run_wrk(env: dict[str, str], urls: dict[str, str], seconds: int) -> dict[str, Any]:
    if not shutil.which("wrk"):
        return {"available": False, "why": "wrk is not installed (apt-get install wrk)"}
    port = free_port()
    server = subprocess.Popen(
        [str(Path(PYTHON).parent / "gunicorn"), "-c", str(BASE_DIR / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "config.wsgi"],
        env=env, cwd=BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    results: dict[str, Any] = {"available": True, "port": port, "workers": 2}
    try:
        base = f"http://127.0.0.1:{port}"
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
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
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
    lines = [
        f"Noticeboard benchmark: {count:,} notices on {results['database']}",
        f"machine: {results['machine']}; cache: {results['cache']}",
        "",
        f"{'step':<34}{'docs/s':>10}{'wall s':>10}{'peak RSS MB':>13}  note",
        f"{'generate archive':<34}{count / results['generate_s']:>10,.0f}"
        f"{results['generate_s']:>10.1f}{'':>13}  notices/generator.py",
        f"{'bare parse (nothing written)':<34}{parse['docs_per_s']:>10,.0f}"
        f"{parse['elapsed']:>10.1f}{'':>13}  the reference limit",
        f"{'import (rows, tags, HTML)':<34}{imported['docs_per_s']:>10,.0f}"
        f"{imported['wall_s']:>10.1f}{imported['peak_rss_mb']:>13.0f}"
        f"  {imported['docs_per_s'] / parse['docs_per_s']:.2f} x parse rate (target >= 0.33)",
    ]
    index = results["search_index"]
    if index.get("available"):
        lines.append(
            f"{'search index build':<34}{index['docs_per_s']:>10,.0f}{index['wall_s']:>10.1f}"
            f"{index['peak_rss_mb']:>13.0f}  target >= 1,000 docs/s"
        )
    else:
        lines.append(
            f"{'search index build':<34}{'n/a':>10}  notices/search.py has no rebuild_index"
        )
    again = results["reimport"]
    lines.append(
        f"{'re-import, unchanged archive':<34}{again['docs_per_s']:>10,.0f}{again['wall_s']:>10.1f}"
        f"{again['peak_rss_mb']:>13.0f}  target >= 20,000 docs/s"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=int(os.environ.get("N") or 100_000))
    parser.add_argument("--archive", type=Path, help="bench an existing archive instead")
    parser.add_argument("--requests", type=int, default=200, help="requests per page (>= 200)")
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--no-wrk", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the archive and the database")
    parser.add_argument("--child", choices=["import", "index"], help=argparse.SUPPRESS)
    parser.add_argument("--with-search-index", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        import django

        django.setup()
        if args.child == "import":
            print(json.dumps(child_import(str(args.archive), args.with_search_index)))
        else:
            print(json.dumps(child_index()))
        return

    folder = Path(tempfile.mkdtemp(prefix="nb-bench-"))
    db = Database(folder)
    db.create()
    env = bench_environment(db.url)
    os.environ.update(env)
    results: dict[str, Any] = {
        "n": args.n,
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
            from notices.generator import write_archive

            archive = folder / "archive"
            write_archive(archive, args.n)
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
        print("search index", file=sys.stderr)
        index, wall, rss = run_child(["--child", "index"], env)
        if index.get("available"):
            index.update(wall_s=wall, peak_rss_mb=rss, docs_per_s=index["docs"] / index["elapsed"])
        results["search_index"] = index
        print("re-import", file=sys.stderr)
        again, wall, rss = run_child(
            ["--child", "import", "--with-search-index", "--archive", str(archive)], env
        )
        results["reimport"] = {**again, "wall_s": wall, "peak_rss_mb": rss,
                               "docs_per_s": again["unchanged"] / again["elapsed"]}  # fmt: skip

        print("latency", file=sys.stderr)
        pages = pages_to_measure(results["import"]["created"], args.requests)
        results["latency"] = {
            label: measure_latency(urls, args.requests) if urls else None
            for label, urls in pages.items()
        }
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
    path = out / f"{stamp}-{args.n}-{'postgresql' if db.postgres else 'sqlite'}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    print(f"\nJSON: {path.relative_to(BASE_DIR)}")


if __name__ == "__main__":
    main()
