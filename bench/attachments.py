"""What finding attachments costs (notices/attachments.py, issue 15): a script that prints
figures, not a test.

    .venv/bin/python bench/attachments.py [--count 20000] [--share 0.3]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/nb_attach .venv/bin/python bench/attachments.py

1. find() on bodies of 10, 100, 1,000 and 10,000 links (none, or all of them attachments):
   the per-body cost, bounded by MAX_LINKS and MAX_ATTACHMENTS.
2. Migration 0014's fill over --count notices (a --share of them linking files) in a scratch
   database (SQLite in memory; with DATABASE_URL, Django's test database test_<name> on
   that server, made and dropped), and the time it implies for 300,000 notices.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def time_find() -> None:
    from notices.attachments import find

    print("find() per body, best of 5 (ms):")
    print(f"  {'links':>6}  {'plain links':>11}  {'all attachments':>15}")
    for links in (10, 100, 1_000, 10_000):
        plain = " ".join(
            f'<a href="https://x.cn/info/{i}.htm" rel="noopener noreferrer nofollow">第{i}条</a>'
            for i in range(links)
        )
        files = " ".join(
            f'<a href="https://x.cn/up/{i}.pdf" rel="noopener noreferrer nofollow">附件{i}</a>'
            for i in range(links)
        )
        cells = []
        for html in (plain, files):
            runs = []
            for _ in range(5):
                started = time.perf_counter()
                find(html, "https://x.cn/info/1.htm")
                runs.append(time.perf_counter() - started)
            cells.append(min(runs) * 1000)
        print(f"  {links:>6}  {cells[0]:>11.3f}  {cells[1]:>15.3f}")


def body_html(rng: random.Random, with_files: bool) -> str:
    paragraphs = [f"<p>各学院：现将第{rng.randint(1, 99)}批工作安排通知如下。</p>"] * 6
    paragraphs.append('<p><a href="https://x.cn/info/1.htm" rel="nofollow">相关链接</a></p>')
    if with_files:
        for n in range(1, rng.randint(1, 3) + 1):
            paragraphs.append(
                f'<p><a href="/_upload/files/{rng.getrandbits(32):x}.docx" rel="nofollow">'
                f"附件{n}：报名表</a></p>"
            )
    return "\n".join(paragraphs)


def time_migration(count: int, share: float) -> None:
    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    old = setup_databases(verbosity=0, interactive=False)
    try:
        call_command("migrate", verbosity=0)
        from notices import counts
        from notices.models import Notice

        rng = random.Random(15)
        start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        notices = [
            Notice(
                urlname=f"{i:032x}", title=f"通知{i}", raw_title=f"通知{i}", site="青岚大学",
                date=start + dt.timedelta(hours=i), body="正文",
                body_html=body_html(rng, rng.random() < share),
                source_url="https://jwc.qinglan.edu.cn/info/1021/5678.htm",
            )
            for i in range(count)
        ]  # fmt: skip
        Notice.objects.bulk_create(notices, batch_size=2000)
        counts.rebuild()
        del notices
        migration = importlib.import_module("notices.migrations.0014_attachments")
        started = time.perf_counter()
        migration.fill_attachments(apps, connection.schema_editor())
        elapsed = time.perf_counter() - started
        found = Notice.objects.filter(has_attachments=True).count()
        per_1000 = elapsed / count * 1000
        print(
            f"\nmigration 0014 fill on {connection.vendor}: {count:,} notices "
            f"({found:,} with attachments) in {elapsed:.2f} s = {per_1000 * 1000:.0f} ms per "
            f"1,000; at 300,000 about {per_1000 * 300:.0f} s"
        )
        print(f"  stored counts equal a recount: {counts.stored() == counts.recount()}")
    finally:
        teardown_databases(old, verbosity=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--share", type=float, default=0.3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    with tempfile.TemporaryDirectory(prefix="nb-attach-bench-") as scratch:
        if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
            os.environ["DATABASE_URL"] = f"sqlite:///{Path(scratch) / 'bench.sqlite3'}"
        import django

        django.setup()
        time_find()
        time_migration(args.count, args.share)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
