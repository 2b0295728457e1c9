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
import multiprocessing
import os
import time
import zoneinfo
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Q
from django.utils import timezone
from django.utils.text import slugify
from taggit.models import Tag

from notices import counts
from notices.caching import bump_data_version
from notices.documents import (
    DOCUMENT_SUFFIXES,
    DocumentError,
    NoticeDocument,
    content_hash,
    file_too_large_message,
    parse_bytes,
)
from notices.exporting import iter_exported
from notices.history import import_versions
from notices.models import Category, Notice, OldAddress, TaggedNotice
from notices.old_urls import PostLinks
from notices.permalinks import old_addresses
from notices.rendering import render_limit
from notices.search import IndexText, analyze_tables, index_notices, index_text

# Cached values are keyed by the data version (notices/caching.py); a long import renews
# it at most this often, and always after its last batch.
CACHE_BUMP_SECONDS = 10.0
# An import that writes this many notices refreshes PostgreSQL's planner statistics.
ANALYZE_AFTER_ROWS = 1000

# Errors of the connection or the server, as opposed to a row the database refuses.
DATABASE_GONE = (OperationalError, InterfaceError)

Log = Callable[[str, str], None]
"""log(kind, message): kind is error, warning, conflict, created, updated, pruned."""

NOTICE_FIELDS = (
    "title", "raw_title", "site", "domain", "date", "body", "body_html", "summary",
    "source_url", "extra", "source_path", "content_hash", "imported_at", "date_source",
    "updated", "slug", "front_matter", "source_format", "archive_root", "held_back_hash",
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
    # Archive folder -> notices --prune deletes (or would) whose file was there.
    pruned_roots: Counter = field(default_factory=Counter)

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
    root: str = ""  # the resolved archive root: the same relative path elsewhere is another file


class Planned(NamedTuple):
    """A file's document to write: a new notice, or an update of `existing_id`."""

    document: NoticeDocument
    root: str
    existing_id: int | None = None


class Existing(NamedTuple):
    id: int
    urlname: str
    source_path: str
    content_hash: str
    edited: bool
    root: str = ""

    def where(self, root: str) -> str:
        """The file, as an error about a file in `root` names it."""
        if self.root and self.root != root:
            return f"{self.source_path} (in {self.root})"
        return self.source_path


def find_documents(root: Path) -> Iterator[ArchiveFile]:
    """Document files under `root`, sorted by path; hidden files and other types are skipped.

    Symlinks are followed only when they stay inside the archive root.
    """
    root = root.resolve()
    if root.is_file():
        yield ArchiveFile(root, root.name, str(root.parent))
        return
    root_text = str(root)

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
            if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(root):
                continue
            if entry.is_dir():
                yield from walk(Path(entry.path))
            elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in DOCUMENT_SUFFIXES:
                # Slicing the string, not Path.relative_to(): that was a third of the time
                # of re-importing an unchanged archive (issue 5).
                relative = entry.path[prefix_length:].replace(os.sep, "/")
                yield ArchiveFile(Path(entry.path), relative, root_text)

    prefix_length = len(os.path.join(str(root), ""))
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
    run.all_paths = {(f.root, f.source_path) for f in files}
    batches = [files[start : start + batch_size] for start in range(0, len(files), batch_size)]
    done = 0
    # closing(): an import stopped by an exception (a lost database, Ctrl-C) ends its worker
    # pool now; a pool left to the garbage collector kept its threads, and a later fork
    # could then hang on a lock one of them held (issue 6).
    with closing(_read_ahead(run, batches)) as read_ahead:
        for batch in read_ahead:
            run.import_batch(batch)
            run.preloaded.clear()
            run.rendered.clear()
            done += len(batch)
            if progress:
                progress(done, len(files))
    run.link_posts()
    if run.unbumped_writes:
        run.bump_cache_version(force=True)
    if run.report.created + run.report.updated >= ANALYZE_AFTER_ROWS:
        analyze_tables()
    if prune:
        run.prune()
    if not dry_run and (run.report.updated or run.report.pruned):
        remove_orphans()
    run.report.files = len(files)
    run.report.elapsed = time.perf_counter() - started
    return run.report


class Rendered(NamedTuple):
    """What a worker process makes of a document besides parsing it, so that the importing
    process only writes (issue 13): everything here needs the document alone."""

    body_html: str
    summary: str
    index_text: IndexText
    addresses: list[str]


class LoadedFile(NamedTuple):
    """One file as read: the hash of its bytes and, unless it was unchanged, the parsed
    document (with what a worker made of it), or the error that rejects it."""

    hash: str = ""
    document: NoticeDocument | None = None
    rendered: Rendered | None = None
    error: str = ""


def load_file(
    archive_file: ArchiveFile,
    zone: dt.tzinfo,
    max_bytes: int,
    known_hash: str | None,
    *,
    render: bool = False,
) -> LoadedFile:
    """Read, hash and parse one file; a file whose hash is `known_hash` is not parsed."""
    source_path = archive_file.source_path
    try:
        with open(archive_file.path, "rb") as file:
            stat = os.fstat(file.fileno())
            # Checked before reading, so a huge file is never loaded into memory.
            if stat.st_size > max_bytes:
                message = file_too_large_message(stat.st_size, max_bytes)
                return LoadedFile(error=str(DocumentError(source_path, message)))
            data = file.read()
    except OSError as exc:
        return LoadedFile(error=f"{source_path}: cannot read file: {exc.strerror}")
    data_hash = content_hash(data)
    if data_hash == known_hash:
        return LoadedFile(hash=data_hash)
    try:
        document = parse_bytes(data, source_path=source_path, zone=zone, mtime=stat.st_mtime)
    except DocumentError as exc:
        return LoadedFile(hash=data_hash, error=str(exc))
    rendered = None
    if render:
        notice = Notice(title=document.title, body=document.body, source_url=document.source_url)
        notice.render()
        addresses = addresses_of(document, document.category_paths, zone)
        rendered = Rendered(notice.body_html, notice.summary, index_text(notice), addresses)
    return LoadedFile(hash=data_hash, document=document, rendered=rendered)


def load_batch(
    batch: list[ArchiveFile], zone: dt.tzinfo, max_bytes: int, known_hashes: dict[str, str]
) -> list[tuple[str, LoadedFile]]:
    """A worker process's share: read, parse, render and tokenise a batch (no database)."""
    return [
        (f.source_path, load_file(f, zone, max_bytes, known_hashes.get(f.source_path), render=True))
        for f in batch
    ]


def import_workers(batch_count: int) -> int:
    """Worker processes for reading ahead: none for a single batch or where fork is missing."""
    wanted = settings.NOTICES_IMPORT_WORKERS
    if batch_count < 2 or wanted < 1 or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    return wanted


def _read_ahead(run: _ImportRun, batches: list[list[ArchiveFile]]) -> Iterator[list[ArchiveFile]]:
    """Yield the batches in order while worker processes parse and render the next ones.

    Parsing, rendering, the search index's text and tokens and the old addresses need no
    database: about half of an import's CPU time. On 2 cores one worker does them beside
    the writing process (issues 5 and 13). At most workers + 1 batches are in flight, so
    memory stays bounded.
    """
    workers = import_workers(len(batches))
    if not workers:
        yield from batches
        return
    pool = None  # started when a batch holds new files: a re-import may need none
    pending: deque = deque()
    upcoming = iter(batches)

    def submit() -> None:
        nonlocal pool
        batch = next(upcoming, None)
        if batch is None:
            return
        known = {}
        if not run.overwrite:
            for archive_file in batch:
                existing = run.known_file(archive_file)
                if existing:
                    known[archive_file.source_path] = existing.content_hash
        if len(known) == len(batch):
            # Files imported before are mostly unchanged: hashing them here is faster
            # than handing them to a worker and back.
            pending.append((batch, None))
            return
        if pool is None:
            # fork: workers start with Django loaded and never use the database connection.
            pool = multiprocessing.get_context("fork").Pool(workers)
        work = pool.apply_async(load_batch, (batch, run.zone, run.max_bytes, known))
        pending.append((batch, work))

    try:
        for _ in range(workers + 1):
            submit()
        while pending:
            batch, work = pending.popleft()
            run.preloaded = dict(work.get()) if work else {}
            submit()
            yield batch
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


class _ImportRun:
    def __init__(self, *, dry_run: bool, overwrite: bool, log: Log):
        self.dry_run = dry_run
        self.overwrite = overwrite
        self.log = log
        self.report = ImportReport(dry_run=dry_run)
        self.zone = zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
        self.max_bytes = settings.NOTICES_MAX_FILE_BYTES
        self.all_paths: set[tuple[str, str]] = set()
        # (archive root, source path) -> notice; root "" for notices imported before roots
        # were kept, which any root may claim.
        self.by_path: dict[tuple[str, str], Existing] = {}
        self.by_urlname: dict[str, Existing] = {}
        # Edited since import, decided by the database: parsing two datetimes per row was
        # a third of the time of re-importing an unchanged archive (issue 5).
        newer_edit = Q(imported_at__isnull=True) | Q(edited_at__gt=F("imported_at"))
        edited_since_import = ExpressionWrapper(
            Q(edited_at__isnull=False) & newer_edit, output_field=BooleanField()
        )
        # Imported before the front matter was kept as written (issue 9): read such a file
        # again even though its bytes are unchanged, so its export can be byte for byte.
        without_front_matter = ExpressionWrapper(
            Q(front_matter="") & ~Q(source_path=""), output_field=BooleanField()
        )
        rows = Notice.objects.annotate(
            edited_since_import=edited_since_import, without_front_matter=without_front_matter
        ).values_list(
            "id", "urlname", "source_path", "content_hash", "edited_since_import", "archive_root",
            "without_front_matter",
        )  # fmt: skip
        for row in rows.iterator(chunk_size=5000):
            edited, stale = bool(row[4]), bool(row[6]) and not row[4]
            existing = Existing(row[0], row[1], row[2], "" if stale else row[3], edited, row[5])
            self.by_urlname[existing.urlname] = existing
            if existing.source_path:
                self.by_path[(existing.root, existing.source_path)] = existing
        # urlname -> the file that claimed it in this run (duplicates name both files).
        self.claimed: dict[str, tuple[str, str]] = {}
        # Notices written in this run whose body may link to other posts ({% post_link %}, an
        # old address): rendered again once every file of the run is in (link_posts()).
        self.post_links = PostLinks()
        self.linking_ids: list[int] = []
        # Notices a file of this run still accounts for; --prune deletes the rest.
        self.kept_ids: set[int] = set()
        self.categories = _CategoryCache()
        self.tags = _TagCache()
        # Files a worker process has already read, parsed and rendered (see load_batch).
        self.preloaded: dict[str, LoadedFile] = {}
        self.rendered: dict[str, Rendered] = {}
        self.last_bump = -CACHE_BUMP_SECONDS
        self.unbumped_writes = False

    def bump_cache_version(self, *, force: bool = False) -> None:
        """At most every CACHE_BUMP_SECONDS during a run, and once more at its end: each
        bump makes the next page views recompute counts and facets (seconds at 100,000)."""
        now = time.monotonic()
        if force or now - self.last_bump >= CACHE_BUMP_SECONDS:
            bump_data_version()
            self.last_bump = now
            self.unbumped_writes = False
        else:
            self.unbumped_writes = True

    def fail(self, error: DocumentError | str) -> None:
        self.report.failed += 1
        # One line per rejected file (database messages can span several).
        message = " ".join(str(error).splitlines())
        self.report.errors.append(message)
        self.log("error", message)

    def import_batch(self, batch: Iterable[ArchiveFile]) -> None:
        planned = [p for p in map(self.plan, batch) if p is not None]
        if self.dry_run or not planned:
            self.count(planned)
            for one in planned:  # a dry run names each file too (`-v 2`, issue 10)
                kind = "created" if one.existing_id is None else "updated"
                self.log(kind, one.document.source_path)
            return
        if self.try_write(planned) is None:
            return
        # Find the file the database refuses; keep every other one.
        for one in planned:
            refused = self.try_write([one])
            if refused is not None:
                self.fail(
                    f"{one.document.source_path}: the database refused this notice: {refused}"
                )

    def count(self, planned: list[Planned]) -> None:
        for one in planned:
            if one.existing_id is None:
                self.report.created += 1
            else:
                self.report.updated += 1

    def try_write(self, planned: list[Planned]) -> Exception | None:
        """Write in one transaction and count it; return the error if the database refused."""
        try:
            with transaction.atomic():
                self.write(planned)
        except DATABASE_GONE:
            # The server went away (restart, lost connection), not a file's fault: retrying each
            # file would report every one as refused. Stop; this batch was rolled back and a
            # re-run carries on from the batches already written (issue 6).
            raise
        except (DatabaseError, ValueError) as exc:
            self.categories.forget_unsaved()
            self.tags.forget_unsaved()
            return exc
        self.count(planned)
        for one in planned:
            self.log("created" if one.existing_id is None else "updated", one.document.source_path)
        return None

    def known_file(self, archive_file: ArchiveFile) -> Existing | None:
        """The notice imported from this file before, if any."""
        return self.by_path.get((archive_file.root, archive_file.source_path)) or self.by_path.get(
            ("", archive_file.source_path)
        )

    def file_is_gone(self, existing: Existing, root: str) -> bool:
        """Whether the file `existing` came from has left `root` (a move or a rename)."""
        if existing.root not in ("", root) or not existing.source_path:
            return False
        if (root, existing.source_path) in self.all_paths:
            return False
        return not (Path(root) / existing.source_path).exists()

    def plan(self, archive_file: ArchiveFile) -> Planned | None:
        """Decide what one file means: None (skip), or the document to create or update."""
        source_path = archive_file.source_path
        this_file = (archive_file.root, source_path)
        known = self.known_file(archive_file)
        if known:
            # Even a file that now fails keeps its notice: nothing is lost to a bad edit.
            self.kept_ids.add(known.id)
        known_hash = known.content_hash if known and not self.overwrite else None
        loaded = self.preloaded.pop(source_path, None)
        stale = loaded and not (loaded.document or loaded.error or loaded.hash == known_hash)
        if loaded is None or stale:
            # Not read ahead by a worker, or read against an older state of this run.
            loaded = load_file(archive_file, self.zone, self.max_bytes, known_hash)
        if loaded.error:
            self.fail(loaded.error)
            return None
        if known_hash and loaded.hash == known_hash:
            self.report.unchanged += 1
            self.claimed.setdefault(known.urlname, this_file)
            return None
        document = loaded.document
        if loaded.rendered:
            self.rendered[source_path] = loaded.rendered
        for warning in document.warnings:
            self.log("warning", warning)

        other_file = self.claimed.get(document.urlname)
        if other_file and other_file != this_file:
            return self.reject_duplicate(document, other_file[1])
        target = self.by_urlname.get(document.urlname)
        if target and target is not known and not self.file_is_gone(target, archive_file.root):
            # Another file's notice, in this folder or another, in this run or an earlier
            # one: taking it over would silently replace that notice (issue 9).
            return self.reject_duplicate(document, target.where(archive_file.root))
        self.claimed[document.urlname] = this_file
        if target is None and known and known.urlname not in self.claimed:
            target = known  # the file's urlname changed: the same notice, renamed
        planned = Planned(document, archive_file.root, target.id if target else None)
        if target is None:
            return planned
        self.kept_ids.add(target.id)
        if target.edited and not self.overwrite:
            self.report.conflicts += 1
            if not self.dry_run:  # the change list's "conflict" (notices/sync.py)
                held_back = Notice.objects.filter(id=target.id)
                held_back.update(held_back_hash=document.content_hash)
            self.log(
                "conflict",
                f"{source_path}: notice {document.urlname!r} was edited in the admin since "
                "its last import; kept the edited version (use --overwrite to replace it)",
            )
            return None
        same_file = (
            target.source_path == source_path and target.content_hash == document.content_hash
        )
        if same_file and not target.edited:
            self.report.unchanged += 1  # --overwrite of an unedited, unchanged notice
            return None
        return planned

    def reject_duplicate(self, document: NoticeDocument, other_file: str) -> None:
        self.fail(
            f"{document.source_path}: duplicate urlname {document.urlname!r}, "
            f"already used by {other_file}"
        )

    def write(self, planned: list[Planned]) -> None:
        now = timezone.now()
        # Made by a worker process for the files it read (None for the others).
        made = [self.rendered.get(one.document.source_path) for one in planned]
        notices = [self.build(one, now) for one in planned]
        new_notices = [
            n for n, one in zip(notices, planned, strict=True) if one.existing_id is None
        ]
        changed_notices = [n for n in notices if n.id is not None]
        Notice.objects.bulk_create(new_notices)
        if changed_notices:
            counts.subtract(notice.id for notice in changed_notices)  # as they were counted
            Notice.objects.bulk_update(changed_notices, [*NOTICE_FIELDS, "urlname"])
            changed_ids = [notice.id for notice in changed_notices]
            TaggedNotice.objects.filter(content_object_id__in=changed_ids).delete()
            Notice.categories.through.objects.filter(notice_id__in=changed_ids).delete()
            OldAddress.objects.filter(notice_id__in=changed_ids).delete()

        written = [(one.document, notice) for one, notice in zip(planned, notices, strict=True)]
        category_rows, tag_rows, addresses = (
            [],
            [],
            [],
        )  # (notice, category), (notice, tag), (path, notice)
        for (document, notice), rendered in zip(written, made, strict=True):
            # In the document's order (an export writes the paths back in row order).
            category_ids = dict.fromkeys(
                self.categories.leaf_id(path) for path in document.category_paths
            )
            category_rows += [(notice.id, category_id) for category_id in category_ids]
            tag_rows += [(notice.id, tag_id) for tag_id in self.tags.ids(document.tags)]
            if rendered:
                paths = rendered.addresses
            else:
                paths = addresses_of(document, document.category_paths, self.zone)
            addresses += [(path, notice.id) for path in paths]
            if self.post_links.may_link(document.body):
                self.linking_ids.append(notice.id)
        insert_links(Notice.categories.through, ("notice", "category"), category_rows)
        insert_links(TaggedNotice, ("content_object", "tag"), tag_rows)
        # Two notices claiming one old address: the first keeps it.
        insert_links(OldAddress, ("path", "notice"), addresses, ignore_conflicts=True)
        # A version of each notice written, in this batch's transaction (notices/history.py).
        import_versions(
            (
                (notice, one.existing_id is None, one.document.tags, one.document.category_paths)
                for one, notice in zip(planned, notices, strict=True)
            ),
            now,
        )
        # Notices written in this batch are final here: the place to index them for search.
        made_texts = {
            notice.id: rendered.index_text
            for notice, rendered in zip(notices, made, strict=True)
            if rendered
        }
        index_notices((notice for _, notice in written), made_texts)
        # The stored list counts, in the same transaction (notices/counts.py).
        counts.add_written(notices, category_rows, tag_rows)
        # Bulk writes send no signals: cached pages and counts expire with this transaction.
        self.bump_cache_version()
        self.categories.mark_saved()
        self.tags.mark_saved()
        for one, notice in zip(planned, notices, strict=True):
            document = one.document
            existing = Existing(
                notice.id, notice.urlname, document.source_path, document.content_hash, False,
                one.root,
            )  # fmt: skip
            self.by_urlname[notice.urlname] = existing
            self.by_path[(one.root, document.source_path)] = existing
            self.kept_ids.add(notice.id)

    def build(self, planned: Planned, now: dt.datetime) -> Notice:
        document = planned.document
        notice = Notice(
            id=planned.existing_id,
            urlname=document.urlname,
            title=document.title,
            raw_title=document.raw_title,
            site=document.site,
            domain=document.domain,
            date=document.date,
            date_source=document.date_source,
            updated=document.updated,
            slug=document.slug,
            body=document.body,
            source_url=document.source_url,
            extra=document.extra,
            source_path=document.source_path,
            archive_root=planned.root,
            front_matter=document.front_matter,
            source_format=document.source_format,
            content_hash=document.content_hash,
            imported_at=now,
        )
        rendered = self.rendered.pop(document.source_path, None)
        if rendered:
            notice.body_html, notice.summary = rendered.body_html, rendered.summary  # a worker's
        else:
            notice.render()
        limit = render_limit(notice.body_html)  # also for bodies rendered in a worker
        if limit:
            self.log("warning", f"{document.source_path}: body shown as text: {limit}")
        return notice

    def link_posts(self) -> None:
        """Render again, now that every file of the run is in, the notices whose bodies link
        to other posts: a `{% post_link %}` gets its target's title, and a link to another
        post's old address points at its page here, whichever file was imported first.
        (Worker processes render without the database, and a batch sees only earlier ones.)"""
        if self.dry_run or not self.linking_ids:
            return
        if render_again(list(dict.fromkeys(self.linking_ids))):
            self.unbumped_writes = True

    def prune(self) -> None:
        gone = [
            existing for existing in self.by_urlname.values() if existing.id not in self.kept_ids
        ]
        for existing in gone:
            self.log("pruned", f"{existing.source_path or '(no file)'}: {existing.urlname}")
        self.report.pruned = len(gone)
        self.report.pruned_roots = Counter(existing.root for existing in gone)
        if not self.dry_run:
            ids = [existing.id for existing in gone]
            for start in range(0, len(ids), 500):
                counts.delete_notices(ids[start : start + 500])


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


def insert_links(
    model: type,
    field_names: tuple[str, str],
    rows: list[tuple[int, int]] | list[tuple[str, int]],
    *,
    ignore_conflicts: bool = False,
) -> None:
    """INSERT two-column rows in order: a model instance per tag or category link cost more
    than its insert, a tenth of an import's time (issue 5). `ignore_conflicts` skips rows a
    unique constraint refuses (SQLite and PostgreSQL both say it as ON CONFLICT DO NOTHING)."""
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in field_names)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES (%s, %s)"
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


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


def addresses_of(
    post: NoticeDocument | Notice, category_paths: list[list[str]], zone: dt.tzinfo
) -> list[str]:
    """Where a post was on its old site (notices/permalinks.py), from a document or a notice."""
    return old_addresses(
        slug=post.slug,
        date=post.date,
        date_source=post.date_source,
        extra=post.extra,
        source_path=post.source_path,
        pattern=settings.NOTICES_PERMALINK,
        zone=zone,
        categories=category_paths,
        title=post.raw_title,
    )


def rebuild_old_addresses(*, chunk_size: int = 1000) -> int:
    """Recompute every notice's old addresses from what is stored, after NOTICES_PERMALINK
    changed: an import skips unchanged files, so it never revisits them. Returns the count."""
    zone = zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
    fields = ("slug", "date", "date_source", "extra", "source_path", "raw_title")
    notices = Notice.objects.only(*fields).order_by("id").iterator(chunk_size=chunk_size)
    rows: list[tuple[str, int]] = []
    with transaction.atomic():
        OldAddress.objects.all().delete()
        for item in iter_exported(notices, chunk_size=chunk_size):
            paths = addresses_of(item.notice, item.category_paths, zone)
            rows += [(path, item.notice.id) for path in paths]
            if len(rows) >= chunk_size:
                insert_links(OldAddress, ("path", "notice"), rows, ignore_conflicts=True)
                rows = []
        insert_links(OldAddress, ("path", "notice"), rows, ignore_conflicts=True)
    return OldAddress.objects.count()


def render_all() -> int:
    """Render every notice's body again (after an upgrade of the renderer, or a change of
    NOTICES_EMBED_HOSTS / NOTICES_OLD_HOSTS): an import never re-renders a file whose bytes
    are unchanged. Returns how many notices changed."""
    changed = render_again(list(Notice.objects.order_by("id").values_list("id", flat=True)))
    if changed:
        bump_data_version()
    return changed


def render_again(ids: list[int], *, chunk_size: int = 500) -> int:
    """Render these notices with the database at hand (post titles, old addresses); write and
    index the ones whose HTML or summary changed, and return how many did."""
    links = PostLinks()
    fields = ("id", "date", "title", "body", "source_url", "extra", "body_html", "summary")
    changed_count = 0
    for start in range(0, len(ids), chunk_size):
        changed = []
        for notice in Notice.objects.filter(id__in=ids[start : start + chunk_size]).only(*fields):
            before = (notice.body_html, notice.summary)
            notice.render(resolve_post=links.title, resolve_link=links.link)
            if (notice.body_html, notice.summary) != before:
                changed.append(notice)
        if changed:
            with transaction.atomic():
                Notice.objects.bulk_update(changed, ["body_html", "summary"])
                index_notices(changed)
            changed_count += len(changed)
    return changed_count
