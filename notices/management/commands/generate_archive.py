from __future__ import annotations

import os
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sample import write_archive


def _remove_markdown(root: Path) -> int:
    """Delete every *.md under root, then the folders that leaves empty; return files removed."""
    removed = 0
    for path in root.rglob("*.md"):
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed += 1
    # Bottom-up, so a year folder is emptied before its domain folder is looked at.
    for folder, _subfolders, _files in os.walk(root, topdown=False):
        if Path(folder) != root and not os.listdir(folder):
            os.rmdir(folder)
    return removed


class Command(BaseCommand):
    help = (
        "Write COUNT generated Hexo-style notices under OUT_DIR as <domain>/<year>/<urlname>.md; "
        "the same --seed always gives the same files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
        parser.add_argument("--count", type=int, default=60, help="documents to write (default 60)")
        parser.add_argument("--seed", type=int, default=0, help="archive variant (default 0)")
        parser.add_argument(
            "--clean", action="store_true", help="delete existing *.md under OUT_DIR first"
        )

    def handle(self, *args, out_dir: Path, count: int, seed: int, clean: bool, **options) -> None:
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandError(f"{out_dir}: exists and is not a folder", returncode=2)
        if count < 0:
            raise CommandError("--count must be zero or more", returncode=2)
        if clean and out_dir.is_dir():
            removed = _remove_markdown(out_dir)
            if options["verbosity"] >= 2:
                self.stdout.write(f"Removed {removed} existing documents from {out_dir}")
        started = time.perf_counter()
        written = write_archive(out_dir, count, seed=seed)
        elapsed = time.perf_counter() - started
        if options["verbosity"] >= 1:
            self.stdout.write(f"Wrote {written} documents to {out_dir} in {elapsed:.2f} s")
