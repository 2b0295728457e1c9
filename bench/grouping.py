"""Grouping near-duplicates, measured (issue 15, part 1): precision and recall of the groups
the importer forms on the generator's labelled set (sample/republish.py), and what grouping
costs: CPU per notice for signatures and for placing, and band candidates per notice.

    .venv/bin/python bench/grouping.py [COUNT ...]     # default 3000; e.g. 10000 30000

Each COUNT writes the labelled set into a temporary archive and imports it with
import_notices into a fresh SQLite database there (DATABASE_URL is ignored: one database per
COUNT). Precision and recall are over pairs of notices: a pair is right when both are copies
of one notice and the importer grouped them. CPU figures are process time (the signatures
are made in the worker processes, whose CPU is counted here by making them again).
A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pairs(groups: dict[object, list[int]]) -> set[tuple[int, int]]:
    return {pair for members in groups.values() for pair in combinations(sorted(members), 2)}


def run(count: int, work: Path) -> None:
    from sample.republish import labelled_set

    archive = work / "archive"
    labels: dict[str, int] = {}
    items = list(labelled_set(count))
    for item in items:
        path = archive / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(item.text, encoding="utf-8")
        labels[item.path] = item.label
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}"}
    script = f"""
import resource, sys, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from notices import grouping
from notices.grouping import Groups
from notices.importing import import_archive
from notices.models import Notice

calls = {{"place": 0.0, "remove": 0.0}}
for name in calls:
    original = getattr(Groups, name)
    def timed(self, *args, _original=original, _name=name):
        started = time.process_time()
        try:
            return _original(self, *args)
        finally:
            calls[_name] += time.process_time() - started
    setattr(Groups, name, timed)
hits = [0]
band_hits = Groups._band_hits
def counted(self, ids):
    found = band_hits(self, ids)
    hits[0] += len(found)
    return found
Groups._band_hits = counted
started, cpu = time.perf_counter(), time.process_time()
from pathlib import Path
report = import_archive([Path({str(archive)!r})], log=lambda kind, message: None)
wall, cpu = time.perf_counter() - started, time.process_time() - cpu
children = resource.getrusage(resource.RUSAGE_CHILDREN)
bodies = list(Notice.objects.values_list("body", flat=True))
sign = time.process_time()
for body in bodies:
    grouping.signature(body)
sign = time.process_time() - sign
n = report.created
print("import", n, "notices", round(wall, 2), "s wall,", round(cpu, 2), "s CPU main,",
      round(children.ru_utime + children.ru_stime, 2), "s CPU workers", file=sys.stderr)
print("grouping CPU per notice: signature", round(sign / n * 1000, 3), "ms (workers),",
      "placing", round(calls["place"] / n * 1000, 3), "ms (main); candidate pairs per notice",
      round(hits[0] / n, 2), file=sys.stderr)
print("grouping share of import CPU (main + workers):",
      round(100 * (sign + calls["place"]) / (cpu + children.ru_utime + children.ru_stime), 1),
      "%", file=sys.stderr)
for path, group, id_ in Notice.objects.values_list("source_path", "group", "id"):
    print(path, group or id_)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode:
        sys.exit(done.stderr)
    print(f"--- {count} generated notices, {len(items)} with copies and issues")
    print(done.stderr.strip())
    found: dict[object, list[int]] = defaultdict(list)
    truth: dict[object, list[int]] = defaultdict(list)
    numbers = {path: n for n, path in enumerate(labels)}
    for line in done.stdout.splitlines():
        path, group = line.rsplit(" ", 1)
        found[group].append(numbers[path])
        truth[labels[path]].append(numbers[path])
    grouped, wanted = pairs(found), pairs(truth)
    right = len(grouped & wanted)
    precision = right / len(grouped) if grouped else 1.0
    recall = right / len(wanted) if wanted else 1.0
    print(
        f"pairs: {len(wanted)} labelled, {len(grouped)} grouped, {right} right: "
        f"precision {precision:.4f}, recall {recall:.4f}"
    )
    missed = sorted(wanted - grouped)[:5]
    wrong = sorted(grouped - wanted)[:5]
    paths = list(labels)
    for name, sample in (("missed", missed), ("wrongly grouped", wrong)):
        for a, b in sample:
            print(f"  {name}: {paths[a]} ~ {paths[b]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("counts", nargs="*", type=int, default=[3000])
    args = parser.parse_args()
    for count in args.counts:
        with tempfile.TemporaryDirectory() as work:
            started = time.perf_counter()
            run(count, Path(work))
            print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
