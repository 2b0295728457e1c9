from __future__ import annotations

from collections import Counter

from django.core.management.base import BaseCommand, CommandParser

from notices.models import Notice
from notices.writeback import (
    BOTH_CHANGED,
    EDITED_HERE,
    FILE_CHANGED,
    FILE_MISSING,
    IN_SYNC,
    NO_FILE,
    file_state,
)

STATES = (EDITED_HERE, FILE_CHANGED, BOTH_CHANGED, FILE_MISSING, NO_FILE, IN_SYNC)


class Command(BaseCommand):
    help = (
        "List notices that differ from their archive files and why: edited here, file changed "
        "since, conflict (both), file missing, no file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all", action="store_true", help="list notices in sync with their files too"
        )

    def handle(self, *args, **options) -> None:
        states: Counter = Counter()
        fields = (
            "urlname", "source_path", "archive_root", "content_hash", "imported_at", "edited_at",
        )  # fmt: skip
        notices = Notice.objects.only(*fields).order_by("source_path", "id")
        for notice in notices.iterator(chunk_size=2000):
            state, why = file_state(notice)
            states[state] += 1
            if state != IN_SYNC or options["all"]:
                where = notice.source_path or "(no file)"
                self.stdout.write(
                    f"{state}: {where} ({notice.urlname})" + (f": {why}" if why else "")
                )
        total = sum(states.values())
        differing = total - states[IN_SYNC]
        parts = ", ".join(f"{state} {states[state]}" for state in STATES)
        self.stdout.write(f"{differing} of {total} notices differ from their files: {parts}")
