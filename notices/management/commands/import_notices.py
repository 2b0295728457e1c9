from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from notices.importing import DATABASE_GONE, ImportReport, import_archive
from notices.models import Notice

DRY_RUN_WORDS = {
    "created": "would create",
    "updated": "would update",
    "pruned": "would prune",
    "conflict": "would hold back",
}


def prune_refusal(report: ImportReport, roots: list[Path]) -> str:
    """Why --prune must not delete what `report` counted, or "" when it is within the share."""
    total = Notice.objects.count()
    share = settings.NOTICES_PRUNE_MAX_SHARE
    if not report.pruned or report.pruned <= share * total:
        return ""
    folders = ", ".join(str(root) for root in roots)
    came_from = ", ".join(
        f"{count} from {root or 'an unrecorded folder'}"
        for root, count in report.pruned_roots.most_common(3)
    )
    return (
        f"--prune would delete {report.pruned} of {total} notices "
        f"({report.pruned / total:.0%}), more than NOTICES_PRUNE_MAX_SHARE {share:.0%}: "
        f"their files are not under {folders} ({came_from}); "
        "run again with --yes to delete them"
    )


class Command(BaseCommand):
    help = (
        "Import Hexo-style Markdown notices from archive folders (default: the project's archive/)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="*", type=Path, metavar="PATH")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--dry-run", action="store_true", help="parse and report, write nothing"
        )
        parser.add_argument(
            "--overwrite", action="store_true", help="replace notices edited in the admin"
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="delete notices whose file is gone (the PATHs are taken as the whole archive)",
        )
        parser.add_argument(
            "--yes",
            action="store_true",
            help="let --prune delete more than NOTICES_PRUNE_MAX_SHARE of the notices",
        )
        parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    def handle(self, *args, paths: list[Path], **options) -> None:
        roots = paths or [Path(settings.NOTICES_ARCHIVE_DIR)]
        for root in roots:
            if not root.exists():
                raise CommandError(f"{root}: no such file or folder", returncode=2)
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1", returncode=2)
        verbosity = options["verbosity"]
        if options["prune"] and not options["yes"] and not options["dry_run"]:
            # Checked before anything is written: a refused run changes nothing.
            self.check_prune_share(roots, options)
        # A dry run says what it would do to each file.
        words = DRY_RUN_WORDS if options["dry_run"] else {}

        def log(kind: str, message: str) -> None:
            if kind in {"error", "warning", "conflict"}:
                if kind != "warning" or verbosity >= 1:
                    self.stderr.write(
                        message if kind == "error" else f"{words.get(kind, kind)}: {message}"
                    )
            elif kind == "pruned" and verbosity >= 1 or verbosity >= 2:
                self.stdout.write(f"{words.get(kind, kind)}: {message}")

        bar = None
        if verbosity >= 1 and not options["no_progress"] and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(unit="file", desc="Importing", leave=False)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            report = import_archive(
                roots,
                batch_size=options["batch_size"],
                dry_run=options["dry_run"],
                overwrite=options["overwrite"],
                prune=options["prune"],
                log=log,
                progress=progress if bar else None,
            )
        except DATABASE_GONE as exc:
            reason = " ".join(str(exc).split())
            raise CommandError(
                f"the database became unavailable ({reason}); the batches written before it are "
                "kept: run the same import again to finish it",
                returncode=1,
            ) from None
        if bar:
            bar.close()
        if verbosity >= 1 or report.failed:
            self.stdout.write(report.summary())
        if options["dry_run"] and options["prune"] and not options["yes"]:
            refusal = prune_refusal(report, roots)
            if refusal:
                self.stderr.write(f"warning: {refusal}")
        if report.failed:
            raise CommandError(f"{report.failed} file(s) rejected", returncode=1)

    def check_prune_share(self, roots: list[Path], options: dict) -> None:
        """A dry run of the same import first: exit 2, deleting nothing, when --prune would
        delete more than NOTICES_PRUNE_MAX_SHARE of the notices."""
        trial = import_archive(
            roots, batch_size=options["batch_size"], dry_run=True, overwrite=options["overwrite"],
            prune=True,
        )  # fmt: skip
        refusal = prune_refusal(trial, roots)
        if refusal:
            raise CommandError(refusal, returncode=2)
