"""The first view of each list page after a write (issue 13): counts and facets must be kept
current as notices are written, not recounted over every row on the next request.

    .venv/bin/python bench/first_view.py --database /tmp/fv.sqlite3 --count 30000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/nb_first_view \\
        .venv/bin/python bench/first_view.py --count 30000

Generates and imports --count notices once (kept: a second run with the same database reuses
them; --fresh starts again), then, for each list page, `--rounds` times: saves one notice
through the ORM (as the admin does, which changes the data version) and times the first GET
of the page (Django test client, in process). Prints the median and the worst per page.
A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def setup(database: str) -> None:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()


def fill(count: int) -> None:
    from django.core.management import call_command

    from notices.importing import import_archive
    from notices.models import Notice
    from sample import write_archive

    call_command("migrate", verbosity=0)
    if Notice.objects.count() >= count:
        return
    with tempfile.TemporaryDirectory() as folder:
        write_archive(Path(folder), count)
        started = time.perf_counter()
        report = import_archive([Path(folder)])
        print(f"imported {report.created:,} in {time.perf_counter() - started:.1f} s")


def pages() -> dict[str, str]:
    from django.db.models import Count
    from django.urls import reverse
    from taggit.models import Tag

    from notices.models import Category, Notice

    newest = Notice.objects.published().order_by("-date").first()
    local = newest.date.astimezone()
    roots = Category.objects.filter(parent=None).annotate(n=Count("children")).order_by("-n")
    root = roots.first()
    leaf = Category.objects.exclude(parent=None).annotate(n=Count("notices")).order_by("-n")
    tag = Tag.objects.annotate(n=Count("notices_taggednotice_items")).order_by("-n").first()
    site = Notice.objects.values_list("site").annotate(n=Count("id")).order_by("-n")[0][0]
    from django.utils import timezone

    local = timezone.localtime(newest.date)
    return {
        "home": reverse("notices:list"),
        "page 2": reverse("notices:list") + "?page=2",
        "category (root)": root.get_absolute_url(),
        "category (leaf)": leaf.first().get_absolute_url(),
        "tag (most used)": reverse("notices:tag", args=[tag.slug]),
        "site (largest)": reverse("notices:site", args=[site]),
        "year": reverse("notices:archive-year", args=[local.year]),
        "month": reverse("notices:archive-month", args=[local.year, local.month]),
        "category index": reverse("notices:categories"),
        "tag index": reverse("notices:tags"),
        "site index": reverse("notices:sites"),
        "archive index": reverse("notices:archive"),
        "facet: tags": reverse("notices:facet", args=["tags"]),
        "facet: categories": reverse("notices:facet", args=["categories"]),
        "facet: tags of a site": reverse("notices:facet", args=["tags"]) + f"?site={site}",
        "facet: months of a year": reverse("notices:facet", args=["months"])
        + f"?year={local.year}",
    }


def measure(urls: dict[str, str], rounds: int) -> None:
    from django.test import Client

    from notices.models import Notice

    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    notice = Notice.objects.published().order_by("-date").first()
    # CPU time of this process too: on a busy machine it is what the wall time would be on an
    # idle one, for SQLite (in process); PostgreSQL's own work is only in the wall time.
    print(f"{'page':<26}{'median ms':>10}{'worst ms':>10}{'cpu ms':>8}  status")
    for label, url in urls.items():
        timings, cpu, statuses = [], [], set()
        for round_number in range(rounds):
            notice.title = f"{notice.raw_title} ({round_number})"
            notice.save()  # a write: the data version changes, as after an admin edit
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            statuses.add(response.status_code)
        print(
            f"{label:<26}{statistics.median(timings):>10.1f}{max(timings):>10.1f}"
            f"{statistics.median(cpu):>8.1f}  {statuses}"
        )
    notice.title = notice.raw_title
    notice.save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--database", default=str(Path(tempfile.gettempdir()) / "fv.sqlite3"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    if args.fresh and Path(args.database).exists():
        Path(args.database).unlink()
    setup(args.database)
    fill(args.count)
    from django.db import connection

    print(f"{connection.vendor}, {args.count:,} notices, {args.rounds} rounds")
    measure(pages(), args.rounds)


if __name__ == "__main__":
    main()
