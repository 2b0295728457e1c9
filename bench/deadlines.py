"""Deadline extraction, measured (issue 15, part 3): precision and recall of
notices/deadlines.py on the generator's labelled set (sample/deadlines.py) and on the
hand-written cases in tests/data/deadline_cases.toml, and with `--corpus DIR ...` how many
notices of real archives get a deadline (with a sample to check by hand).

    .venv/bin/python bench/deadlines.py [--count 5000] [--corpus ../shared/corpus/...]

Precision is over the dates shown (a notice given a wrong date counts against it, a notice
given none does not); recall is over the notices that set a deadline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CASES = ROOT / "tests" / "data" / "deadline_cases.toml"


def score(rows: list[tuple[dt.date | None, dt.date | None]]) -> tuple[float, float, int, int]:
    """(precision, recall, shown, with a deadline) of (expected, found) pairs."""
    shown = [(expected, found) for expected, found in rows if found is not None]
    right = sum(1 for expected, found in shown if expected == found)
    wanted = sum(1 for expected, _ in rows if expected is not None)
    found_right = sum(1 for expected, found in rows if expected is not None and expected == found)
    precision = right / len(shown) if shown else 1.0
    recall = found_right / wanted if wanted else 1.0
    return precision, recall, len(shown), wanted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000, help="labelled notices to make")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", nargs="*", type=Path, default=[])
    parser.add_argument("--sample", type=int, default=20, help="corpus deadlines to print")
    args = parser.parse_args()
    for root in args.corpus:
        if not root.is_dir():
            parser.error(f"{root}: no such folder")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from notices.deadlines import find_deadline, html_text, notice_deadline
    from notices.documents import parse_bytes
    from notices.rendering import render_notice
    from sample.deadlines import labelled_notice

    rows, by_form, started = [], {}, time.perf_counter()
    for index in range(args.count):
        notice = labelled_notice(index, seed=args.seed)
        text = html_text(render_notice(notice.body, "").html)
        found = find_deadline(text, notice.published.date())
        pair = (notice.deadline, found.date if found else None)
        rows.append(pair)
        by_form.setdefault(notice.form, []).append(pair)
    elapsed = time.perf_counter() - started
    precision, recall, shown, wanted = score(rows)
    print(f"labelled set ({args.count} notices, seed {args.seed}, {elapsed:.1f} s with rendering):")
    print(f"  precision {precision:.3f} on {shown} dates shown; recall {recall:.3f} "
          f"of {wanted} notices with a deadline")  # fmt: skip
    for form, pairs in sorted(by_form.items()):
        p, r, s, w = score(pairs)
        print(f"    {form:8} {len(pairs):5} notices  precision {p:.3f} ({s} shown)  recall {r:.3f}")

    # The main generator's notices (the shipped archive's kind): their phrases say "{deadline}"
    # and "报名时间为{date1}至{date2}", both the generator's date2; read it back from its rng.
    from sample import generator

    shown = right = 0
    for index in range(args.count):
        key = f"{args.seed}:{index}"
        rng = random.Random(key)
        site = generator._pick(rng, generator.SITES)
        topic = generator.TOPICS[generator._pick(rng, site.topics)]
        published = generator._publication_time(rng, topic)
        expected = generator._context(rng, site, topic, published)["deadline"]
        _, text = generator.generate_document(index, seed=args.seed)
        body = text.split("\n---\n", 1)[1]
        found = find_deadline(html_text(render_notice(body, "").html), published.date())
        if found:
            shown += 1
            right += f"{found.date.month}月{found.date.day}日" == expected
    print(f"generator's notices ({args.count}, sample/generator.py, answer = its date2):")
    print(
        f"  {shown} get a deadline; {right} of them are the generator's date2"
        f" (precision {right / shown if shown else 1:.3f})"
    )

    cases = tomllib.loads(CASES.read_text(encoding="utf-8"))["case"]
    pairs = []
    for case in cases:
        found = find_deadline(case["text"], case["date"])
        pairs.append((case["expect"] or None, found.date if found else None))
    p, r, s, w = score(pairs)
    print(f"hand-written cases ({len(cases)}, {CASES.relative_to(ROOT)}):")
    print(f"  precision {p:.3f} on {s} dates shown; recall {r:.3f} of {w} with a deadline")

    if args.corpus:
        import zoneinfo

        zone = zoneinfo.ZoneInfo("Asia/Shanghai")
        total, dated, found_rows, forms = 0, 0, [], Counter()
        for root in args.corpus:
            for path in sorted(root.rglob("*.md")):
                total += 1
                try:
                    document = parse_bytes(path.read_bytes(), source_path=str(path), zone=zone)
                except Exception as exc:  # noqa: BLE001 - a figure, not an import
                    print(f"  {path}: {exc}", file=sys.stderr)
                    continue
                html = render_notice(document.body, document.source_url).html
                day, phrase = notice_deadline(html, document.date)
                if day:
                    dated += 1
                    found_rows.append((path, document.date.date(), day, phrase))
                    forms[phrase[:2]] += 1
        print(f"corpus: {dated} of {total} notices get a deadline")
        for path, published, day, phrase in random.Random(0).sample(
            found_rows, min(args.sample, len(found_rows))
        ):
            print(f"  {path.relative_to(path.parents[2])}  {published} -> {day}  「{phrase}」")


if __name__ == "__main__":
    main()
