"""Grouping's own cost, A/B in one process (issue 15, part 1): the signatures and placing of
one commit's notices/grouping.py (BASE, a path) against this tree's, on the labelled set
(sample/republish.py), interleaved so that a loaded machine weighs on both alike.

    .venv/bin/python bench/grouping_ab.py BASE/notices/grouping.py [COUNT ...]

Signatures: both made for every body, chunk by chunk in turn (process CPU). Placing: the
notices written with this tree's signatures into a fresh SQLite database, then placed in
batches of 500 (as the importer does), by each version in turn, twice, from no groups.
Prints CPU ms a notice, candidate pairs a notice and precision/recall of each version's
groups. A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def quality(groups: dict[int, int | None], labels: dict[int, int]) -> tuple[float, float]:
    found, truth = defaultdict(list), defaultdict(list)
    for notice_id, label in labels.items():
        found[groups[notice_id] or notice_id].append(notice_id)
        truth[label].append(notice_id)

    def pairs(by: dict) -> set:
        return {p for members in by.values() for p in combinations(sorted(members), 2)}

    grouped, wanted = pairs(found), pairs(truth)
    right = len(grouped & wanted)
    return right / max(len(grouped), 1), right / max(len(wanted), 1)


def run(base: Path, count: int, folder: Path) -> None:
    import zoneinfo

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    from notices import grouping
    from notices.models import Notice, NoticeBand
    from sample.republish import _split, labelled_set

    spec = importlib.util.spec_from_file_location("base_grouping", base)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)

    call_command("migrate", verbosity=0)
    zone = zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
    items = sorted(labelled_set(count), key=lambda item: item.path)
    bodies = [_split(item.text)[1] for item in items]
    cpu = {"base": 0.0, "this": 0.0}
    signatures: list[bytes | None] = []
    for start in range(0, len(bodies), 500):
        chunk = bodies[start : start + 500]
        for name, module in (("base", old), ("this", grouping)):
            started = time.process_time()
            made = [module.signature(body) for body in chunk]
            cpu[name] += time.process_time() - started
        signatures += made
    n = len(bodies)
    print(f"--- {count} generated notices, {n} with copies and issues")
    print(
        f"signature CPU ms a notice: base {cpu['base'] / n * 1000:.3f}, "
        f"this {cpu['this'] / n * 1000:.3f}"
    )
    Notice.objects.bulk_create(
        [
            Notice(
                urlname=f"n{i}",
                title="t",
                date=item.published.replace(tzinfo=zone),
                body="",
                signature=signature,
            )
            for i, (item, signature) in enumerate(zip(items, signatures, strict=True))
        ],
        batch_size=2000,
    )
    ids = list(Notice.objects.order_by("id").values_list("id", flat=True))
    # What the importer hands this tree's place(): the notices it has just written.
    members = [
        grouping.Member(*row)
        for row in Notice.objects.order_by("id").values_list("id", "date", "group", "signature")
    ]
    labels = {notice_id: item.label for notice_id, item in zip(ids, items, strict=True)}
    for _round in range(2):
        for name, module in (("base", old), ("this", grouping)):
            NoticeBand.objects.all().delete()
            Notice.objects.update(group=None, group_size=1)
            groups = module.Groups(Notice, NoticeBand)
            started = time.process_time()
            for start in range(0, len(ids), 500):
                batch = ids[start : start + 500]
                with transaction.atomic():
                    groups.place(batch, members[start : start + 500])
            spent = time.process_time() - started
            candidates = groups.candidate_pairs
            stored = dict(Notice.objects.values_list("id", "group"))
            precision, recall = quality(stored, labels)
            print(
                f"placing {name}: {spent / n * 1000:.3f} ms CPU a notice, "
                f"{candidates / n:.2f} candidate pairs a notice, "
                f"precision {precision:.4f}, recall {recall:.4f}"
            )
    connection.close()


def main() -> None:
    base = Path(sys.argv[1])
    counts = [int(arg) for arg in sys.argv[2:]] or [3000]
    for count in counts:
        with tempfile.TemporaryDirectory() as work:
            os.environ["DATABASE_URL"] = f"sqlite:///{work}/ab.sqlite3"
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
            import django
            from django.conf import settings

            if not settings.configured or not hasattr(main, "ready"):
                django.setup()
                main.ready = True
            from django.db import connections

            connections["default"].settings_dict["NAME"] = f"{work}/ab.sqlite3"
            run(base, count, Path(work))


if __name__ == "__main__":
    main()
