"""Archive folders into the database: `import_archive()` and its `ImportReport`.

Files are read in sorted order and written in batches, one transaction each,
with tags and categories cached, so an archive of 100,000 documents imports in
bulk. A file whose bytes have not changed since the last import is skipped
before parsing. A bad file is reported (`path[:line]: reason`) and skipped; if a
batch still fails in the database, its files are retried one by one so only
the bad one is lost.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.text import slugify
from taggit.models import Tag

from notices.documents import (
    DOCUMENT_SUFFIXES,
    DocumentError,
    NoticeDocument,
    content_hash,
    parse_bytes,
)
from notices.models import Category, Notice, TaggedNotice

Log = Callable[[str, str], None]
"""log(kind, message): kind is error, warning, conflict, created, updated, pruned."""

NOTICE_FIELDS = (
    "title", "raw_title", "site", "domain", "date", "body", "body_html", "summary",
    "source_url", "extra", "source_path", "content_hash", "imported_at",
)  # fmt: skip


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    pruned: int = 0
    failed: int = 0
    files: int = 0
    elapsed: float = 0.0
    dry_run: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def docs_per_second(self) -> float:
        return self.files / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> str:
        prefix = "Dry run: would have " if self.dry_run else ""
        return (
            f"{prefix}created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
            f"conflicts {self.conflicts}, pruned {self.pruned}, failed {self.failed} "
            f"in {self.elapsed:.2f} s ({self.docs_per_second:,.0f} docs/s)"
        )


class ArchiveFile(NamedTuple):
    path: Path
    source_path: str  # relative to the archive root, with forward slashes


class Existing(NamedTuple):
    id: int
    urlname: str
    source_path: str
    content_hash: str
    edited: bool


def find_documents(root: Path) -> Iterator[ArchiveFile]:
    """Document files under `root`, sorted by path; hidden files and other types are skipped.

    Symlinks are followed only when they stay inside the archive root.
    """
    root = root.resolve()
    if root.is_file():
        yield ArchiveFile(root, root.name)
        return

    visited: set[Path] = set()

    def walk(folder: Path) -> Iterator[ArchiveFile]:
        real = folder.resolve()
        if real in visited:  # a symlink loop inside the archive
            return
        visited.add(real)
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if entry.is_symlink() and not path.resolve().is_relative_to(root):
                continue
            if entry.is_dir():
                yield from walk(path)
            elif entry.is_file() and path.suffix.lower() in DOCUMENT_SUFFIXES:
                yield ArchiveFile(path, path.relative_to(root).as_posix())

    yield from walk(root)


def import_archive(
    roots: Sequence[Path],
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    overwrite: bool = False,
    prune: bool = False,
    log: Log | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import every document under `roots`; return counts. Never raises for a bad file."""
    started = time.perf_counter()
    run = _ImportRun(dry_run=dry_run, overwrite=overwrite, log=log or (lambda kind, msg: None))
    files = [archive_file for root in roots for archive_file in find_documents(root)]
    run.all_paths = {f.source_path for f in files}
    for start in range(0, len(files), batch_size):
        batch = files[start : start + batch_size]
        run.import_batch(batch)
        if progress:
            progress(start + len(batch), len(files))
    if prune:
        run.prune()
    if not dry_run and (run.report.updated or run.report.pruned):
        remove_orphans()
    run.report.files = len(files)
    run.report.elapsed = time.perf_counter() - started
    return run.report


class _ImportRun:
    def __init__(self, *, dry_run: bool, overwrite: bool, log: Log):
        self.dry_run = dry_run
        self.overwrite = overwrite
        self.log = log
        self.report = ImportReport(dry_run=dry_run)
        self.zone = zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
        self.all_paths: set[str] = set()
        self.by_path: dict[str, Existing] = {}
        self.by_urlname: dict[str, Existing] = {}
        for row in Notice.objects.values_list(
            "id", "urlname", "source_path", "content_hash", "edited_at", "imported_at"
        ).iterator(chunk_size=5000):
            edited = bool(row[4] and (row[5] is None or row[4] > row[5]))
            existing = Existing(row[0], row[1], row[2], row[3], edited)
            self.by_urlname[existing.urlname] = existing
            if existing.source_path:
                self.by_path[existing.source_path] = existing
        # urlname -> the file that claimed it in this run (duplicates name both files).
        self.claimed: dict[str, str] = {}
        # Notices a file of this run still accounts for; --prune deletes the rest.
        self.kept_ids: set[int] = set()
        self.categories = _CategoryCache()
        self.tags = _TagCache()

    def fail(self, error: DocumentError | str) -> None:
        self.report.failed += 1
        message = str(error)
        self.report.errors.append(message)
        self.log("error", message)

    def import_batch(self, batch: Iterable[ArchiveFile]) -> None:
        creates: list[NoticeDocument] = []
        updates: list[tuple[int, NoticeDocument]] = []
        for archive_file in batch:
            planned = self.plan(archive_file)
            if planned is None:
                continue
            existing_id, document = planned
            if existing_id is None:
                creates.append(document)
            else:
                updates.append((existing_id, document))
        if self.dry_run or not (creates or updates):
            self.report.created += len(creates)
            self.report.updated += len(updates)
            return
        try:
            with transaction.atomic():
                self.write(creates, updates)
        except (DatabaseError, ValueError):
            self.categories.forget_unsaved()
            self.tags.forget_unsaved()
            # Find the file the database refuses; keep every other one.
            for document in creates:
                self.write_alone([document], [])
            for existing_id, document in updates:
                self.write_alone([], [(existing_id, document)])
            return
        self.report.created += len(creates)
        self.report.updated += len(updates)
        for document in creates:
            self.log("created", document.source_path)
        for _, document in updates:
            self.log("updated", document.source_path)

    def write_alone(self, creates: list[NoticeDocument], updates: list[tuple[int, NoticeDocument]]):
        document = creates[0] if creates else updates[0][1]
        try:
            with transaction.atomic():
                self.write(creates, updates)
        except (DatabaseError, ValueError) as exc:
            self.categories.forget_unsaved()
            self.tags.forget_unsaved()
            self.fail(f"{document.source_path}: the database refused this notice: {exc}")
            return
        if creates:
            self.report.created += 1
            self.log("created", document.source_path)
        else:
            self.report.updated += 1
            self.log("updated", document.source_path)

    def plan(self, archive_file: ArchiveFile) -> tuple[int | None, NoticeDocument] | None:
        """Decide what one file means: None (skip) or (existing id or None, document)."""
        source_path = archive_file.source_path
        known = self.by_path.get(source_path)
        if known:
            # Even a file that now fails keeps its notice: nothing is lost to a bad edit.
            self.kept_ids.add(known.id)
        try:
            data = archive_file.path.read_bytes()
            mtime = archive_file.path.stat().st_mtime
        except OSError as exc:
            self.fail(f"{source_path}: cannot read file: {exc.strerror}")
            return None
        if known and known.content_hash == content_hash(data) and not self.overwrite:
            self.report.unchanged += 1
            self.claimed.setdefault(known.urlname, source_path)
            return None
        try:
            document = parse_bytes(data, source_path=source_path, zone=self.zone, mtime=mtime)
        except DocumentError as exc:
            self.fail(exc)
            return None
        for warning in document.warnings:
            self.log("warning", f"{source_path}: {warning}")

        other_file = self.claimed.get(document.urlname)
        if other_file and other_file != source_path:
            self.fail(
                f"{source_path}: duplicate urlname {document.urlname!r}, already used by {other_file}"
            )
            return None
        target = self.by_urlname.get(document.urlname)
        if target and target.source_path != source_path and target.source_path in self.all_paths:
            self.fail(
                f"{source_path}: duplicate urlname {document.urlname!r}, "
                f"already used by {target.source_path}"
            )
            return None
        self.claimed[document.urlname] = source_path
        if target is None and known and known.urlname not in self.claimed:
            target = known  # the file's urlname changed: the same notice, renamed
        if target is None:
            return None, document
        self.kept_ids.add(target.id)
        if target.edited and not self.overwrite:
            self.report.conflicts += 1
            self.log(
                "conflict",
                f"{source_path}: notice {document.urlname!r} was edited in the admin since its "
                "last import; kept the edited version (use --overwrite to replace it)",
            )
            return None
        same_file = target.source_path == source_path and target.content_hash == document.content_hash
        if same_file and not target.edited:
            self.report.unchanged += 1  # --overwrite of an unedited, unchanged notice
            return None
        return target.id, document

    def write(self, creates: list[NoticeDocument], updates: list[tuple[int, NoticeDocument]]):
        now = timezone.now()
        new_notices = [self.build(document, now) for document in creates]
        changed_notices = []
        for existing_id, document in updates:
            notice = self.build(document, now)
            notice.id = existing_id
            changed_notices.append(notice)
        Notice.objects.bulk_create(new_notices)
        if changed_notices:
            Notice.objects.bulk_update(changed_notices, [*NOTICE_FIELDS, "urlname"])
            changed_ids = [notice.id for notice in changed_notices]
            TaggedNotice.objects.filter(content_object_id__in=changed_ids).delete()
            Notice.categories.through.objects.filter(notice_id__in=changed_ids).delete()

        written = list(zip([*creates, *(d for _, d in updates)], [*new_notices, *changed_notices]))
        category_rows, tag_rows = [], []
        for document, notice in written:
            category_ids = {self.categories.leaf_id(path) for path in document.category_paths}
            category_rows += [
                Notice.categories.through(notice_id=notice.id, category_id=category_id)
                for category_id in category_ids
            ]
            tag_rows += [
                TaggedNotice(content_object_id=notice.id, tag_id=tag_id)
                for tag_id in self.tags.ids(document.tags)
            ]
        Notice.categories.through.objects.bulk_create(category_rows)
        TaggedNotice.objects.bulk_create(tag_rows)
        # Notices written in this batch are final here: the place to index them for search.
        self.categories.mark_saved()
        self.tags.mark_saved()
        for document, notice in written:
            existing = Existing(notice.id, notice.urlname, document.source_path, document.content_hash, False)
            self.by_urlname[notice.urlname] = existing
            self.by_path[document.source_path] = existing
            self.kept_ids.add(notice.id)

    def build(self, document: NoticeDocument, now: dt.datetime) -> Notice:
        notice = Notice(
            urlname=document.urlname,
            title=document.title,
            raw_title=document.raw_title,
            site=document.site,
            domain=document.domain,
            date=document.date,
            body=document.body,
            source_url=document.source_url,
            extra=document.extra,
            source_path=document.source_path,
            content_hash=document.content_hash,
            imported_at=now,
        )
        notice.render()
        return notice

    def prune(self) -> None:
        gone = [
            existing
            for existing in self.by_urlname.values()
            if existing.id not in self.kept_ids
        ]
        for existing in gone:
            self.log("pruned", f"{existing.source_path or '(no file)'}: {existing.urlname}")
        self.report.pruned = len(gone)
        if not self.dry_run:
            ids = [existing.id for existing in gone]
            for start in range(0, len(ids), 500):
                Notice.objects.filter(id__in=ids[start : start + 500]).delete()


class _CategoryCache:
    """Category ids by path of names, created on first use (there are few categories)."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[int | None, str], Category] = {
            (category.parent_id, category.name): category for category in Category.objects.all()
        }
        self.unsaved: list[tuple[int | None, str]] = []

    def leaf_id(self, names: list[str]) -> int:
        parent: Category | None = None
        for name in names:
            key = (parent.id if parent else None, name)
            category = self.by_key.get(key)
            if category is None:
                category = Category(name=name, parent=parent)
                category.save()
                self.by_key[key] = category
                self.unsaved.append(key)
            parent = category
        assert parent is not None
        return parent.id

    def mark_saved(self) -> None:
        self.unsaved.clear()

    def forget_unsaved(self) -> None:
        """After a rollback, categories created in it no longer exist."""
        for key in self.unsaved:
            self.by_key.pop(key, None)
        self.unsaved.clear()


class _TagCache:
    """Tag ids by name; missing tags are bulk-created once per batch."""

    def __init__(self) -> None:
        self.by_name: dict[str, int] = dict(Tag.objects.values_list("name", "id"))
        self.slugs: set[str] = set(Tag.objects.values_list("slug", flat=True))
        self.unsaved: list[str] = []

    def ids(self, names: list[str]) -> list[int]:
        missing = [name for name in names if name not in self.by_name]
        if missing:
            new_tags = [Tag(name=name, slug=self.unique_slug(name)) for name in missing]
            Tag.objects.bulk_create(new_tags)
            for tag in new_tags:
                self.by_name[tag.name] = tag.id
                self.unsaved.append(tag.name)
        return [self.by_name[name] for name in names]

    def unique_slug(self, name: str) -> str:
        base = slugify(name, allow_unicode=True)[:90] or "tag"
        slug, suffix = base, 1
        while slug in self.slugs:
            suffix += 1
            slug = f"{base}-{suffix}"
        self.slugs.add(slug)
        return slug

    def mark_saved(self) -> None:
        self.unsaved.clear()

    def forget_unsaved(self) -> None:
        for name in self.unsaved:
            self.by_name.pop(name, None)
        self.unsaved.clear()


def remove_orphans() -> None:
    """Delete tags no notice uses and categories with neither notices nor children."""
    Tag.objects.filter(
        notices_taggednotice_items__isnull=True, taggit_taggeditem_items__isnull=True
    ).delete()
    while True:
        orphans = Category.objects.filter(notices__isnull=True, children__isnull=True)
        deleted, _ = orphans.delete()
        if not deleted:
            break

