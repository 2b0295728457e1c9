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


# The import without grouping, for the A/B: no signatures, nothing placed.
OFF = """
grouping.signature = lambda body: None
Groups.place = lambda self, ids, members=None: None
Groups.remove = lambda self, ids: list(ids)
"""


def pairs(groups: dict[object, list[int]]) -> set[tuple[int, int]]:
    return {pair for members in groups.values() for pair in combinations(sorted(members), 2)}


def import_once(archive: Path, database: Path, *, grouping: bool) -> subprocess.CompletedProcess:
    """Import `archive` into a fresh SQLite `database` in a child process; without `grouping`
    the signatures and placing are switched off (the workers are forked: they inherit it)."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    switch_off = "" if grouping else OFF
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
{switch_off}
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
placed = Groups.place
def counted(self, *args):
    before = self.candidate_pairs
    try:
        return placed(self, *args)
    finally:
        hits[0] += self.candidate_pairs - before
Groups.place = counted
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
children = children.ru_utime + children.ru_stime
print("import", n, "notices", round(wall, 2), "s wall,", round(cpu, 2), "s CPU main,",
      round(children, 2), "s CPU workers", file=sys.stderr)
print("FIGURES", wall, cpu + children, file=sys.stderr)
print("grouping CPU per notice: signature", round(sign / n * 1000, 3), "ms (workers),",
      "placing", round(calls["place"] / n * 1000, 3), "ms (main); candidate pairs per notice",
      round(hits[0] / n, 2), file=sys.stderr)
print("grouping share of import CPU (main + workers):",
      round(100 * (sign + calls["place"]) / (cpu + children), 1),
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
    return done


def figures(done: subprocess.CompletedProcess) -> tuple[float, float]:
    """(wall s, CPU s of the importing process and its workers) of an import_once()."""
    line = next(line for line in done.stderr.splitlines() if line.startswith("FIGURES"))
    wall, cpu = map(float, line.split()[1:])
    return wall, cpu


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
    # Off, then on, back to back on the same files: what grouping adds to an import.
    off = figures(import_once(archive, work / "off.sqlite3", grouping=False))
    done = import_once(archive, work / "on.sqlite3", grouping=True)
    on = figures(done)
    print(f"--- {count} generated notices, {len(items)} with copies and issues")
    print("\n".join(line for line in done.stderr.splitlines() if not line.startswith("FIGURES")))
    print(
        f"import without grouping {off[0]:.2f} s wall, {off[1]:.2f} s CPU; with it "
        f"{on[0]:.2f} s wall, {on[1]:.2f} s CPU: grouping adds {100 * (on[0] / off[0] - 1):.1f} % "
        f"wall, {100 * (on[1] / off[1] - 1):.1f} % CPU"
    )
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
