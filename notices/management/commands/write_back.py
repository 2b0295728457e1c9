from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from notices.models import Notice
from notices.writeback import CONFLICT, ERROR, REFUSED, notices_to_write_back, write_back


class Command(BaseCommand):
    help = (
        "Write notices edited in the admin (and notices without a file) back into their archive "
        "files, atomically; files changed since their import are not overwritten."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "urlnames", nargs="*", metavar="URLNAME", help="default: every notice to write back"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be written, write nothing"
        )

    def handle(self, *args, urlnames: list[str], dry_run: bool, **options) -> None:
        if urlnames:
            notices = Notice.objects.filter(urlname__in=urlnames).order_by("source_path", "id")
            unknown = sorted(set(urlnames) - set(notices.values_list("urlname", flat=True)))
            if unknown:
                raise CommandError(f"no notice with urlname {', '.join(unknown)}", returncode=2)
        else:
            notices = notices_to_write_back()
        report = write_back(notices.iterator(chunk_size=500), dry_run=dry_run)
        verbosity = options["verbosity"]
        for written in report.files:
            line = written.line(dry_run=dry_run)
            if written.kind in (CONFLICT, REFUSED, ERROR):
                self.stderr.write(line)
            elif verbosity >= 1:
                self.stdout.write(line)
        if verbosity >= 1:
            self.stdout.write(report.summary())
        held = sum(report.counts[kind] for kind in (CONFLICT, REFUSED, ERROR))
        if held:
            raise CommandError(f"{held} notice(s) not written back", returncode=1)
