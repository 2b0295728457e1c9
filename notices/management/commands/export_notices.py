from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from notices.exporting import export_notices, select_notices


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD)", returncode=2) from None


class Command(BaseCommand):
    help = (
        "Write notices back out as front-matter documents under OUT_DIR, each at its source "
        "file's path (or <urlname>.md). A notice not edited since import is its file byte for "
        "byte; an edited one changes only the front-matter keys the edit changed. Importing "
        "them again gives the same notices."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
        parser.add_argument("--category", help="a category path or full name (its subtree too)")
        parser.add_argument("--tag", help="a tag name or slug")
        parser.add_argument("--site", help="a site name, e.g. 哈尔滨工程大学")
        parser.add_argument(
            "--since",
            help="first day, YYYY-MM-DD (in the site's TIME_ZONE, as its lists count days)",
        )
        parser.add_argument("--until", help="last day, YYYY-MM-DD (included)")

    def handle(self, *args, out_dir: Path, **options) -> None:
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandError(f"{out_dir}: exists and is not a folder", returncode=2)
        notices = select_notices(
            category=options["category"],
            tag=options["tag"],
            site=options["site"],
            since=_day(options["since"]) if options["since"] else None,
            until=_day(options["until"]) if options["until"] else None,
        )
        count = export_notices(notices.iterator(chunk_size=1000), out_dir)
        if options["verbosity"] >= 1:
            self.stdout.write(f"Exported {count} notice(s) to {out_dir}")
