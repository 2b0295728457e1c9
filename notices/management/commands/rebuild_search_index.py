from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from notices.caching import bump_data_version
from notices.search import rebuild_index


class Command(BaseCommand):
    help = "Rebuild the search index of every notice from its title and body."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size: int, **options) -> str:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1", returncode=2)
        verbosity = options["verbosity"]
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            if verbosity >= 1:
                self.stdout.write(f"{done}/{total} notices")

        count = rebuild_index(batch_size=batch_size, progress=progress)
        bump_data_version()  # cached search pages may predate the rebuilt index
        elapsed = time.perf_counter() - started
        rate = count / elapsed if elapsed > 0 else 0.0
        return f"Indexed {count} notices in {elapsed:.1f} s ({rate:,.0f} docs/s)"
