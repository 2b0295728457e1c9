"""Archive folders into the database: `import_archive()` and its `ImportReport`.

The hops: a file -> its bytes and a `NoticeDocument` (notices/documents.py) -> a `Notice`
row with its links and versions -> the search index (notices/search.py). An import runs in
three steps that pass values:

1. load (`load_batches`): read, hash and parse each file: `Same` (its bytes are the ones
   imported before; not parsed), `Parsed` or `Failed`. Serially, or by forked worker
   processes that also render and tokenise ahead (`Made`) while this process writes.
2. decide (`_ImportRun.decide`): what a loaded file means, as a `Decision`: create, update,
   unchanged, conflict (edited in the admin since), fail or duplicate (another file's urlname).
3. apply (`_ImportRun.apply`): the one place decisions are counted and logged, and the files
   to create or update are written in a batch, one transaction each. If the database refuses a
   batch, its files are retried one by one so only the bad one is lost.
"""

from __future__ import annotations

import array
import bisect
import datetime as dt
import enum
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from taggit.models import Tag

from notices import attachments, counts, grouping
from notices.caching import bump_data_version
from notices.deadlines import notice_deadline
from notices.documents import (
    DOCUMENT_SUFFIXES,
    DocumentError,
    NoticeDocument,
    archive_zone,
    content_hash,
    parse_bytes,
    read_document,
)
from notices.exporting import iter_exported
from notices.history import import_versions
from notices.models import Category, Notice, OldAddress, TaggedNotice
from notices.old_urls import PostLinks
from notices.permalinks import old_addresses
from notices.rendering import render_limit, render_notice, summarize
from notices.rows import copy_rows, insert_arrays, insert_returning_ids
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
    "attachments", "has_attachments",
    "deadline", "deadline_phrase", "signature",
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
    # CPU seconds spent grouping (notices/grouping.py): placing, in this process, and making
    # the written notices' signatures, timed where they were made (the worker processes,
    # with the HTML): what `make bench` shows of its cost.
    grouping_seconds: float = 0.0
    signature_seconds: float = 0.0

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
    location: str  # where the file is on disk
    source_path: str  # relative to the archive root, with forward slashes
    root: str = ""  # the resolved archive root: the same relative path elsewhere is another file
    number: int = -1  # its place in the run's files (_FileList)

    @property
    def path(self) -> Path:
        return Path(self.location)


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
        yield ArchiveFile(str(root), root.name, str(root.parent))
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
            elif _suffix(entry.name) in DOCUMENT_SUFFIXES and entry.is_file():
                # Strings, not Path objects and Path.relative_to(): those were a third of the
                # time of re-importing an unchanged archive (issues 5 and 13).
                relative = entry.path[prefix_length:]
                if os.sep != "/":
                    relative = relative.replace(os.sep, "/")
                yield ArchiveFile(entry.path, relative, root_text)

    prefix_length = len(os.path.join(str(root), ""))
    yield from walk(root)


class _FileList:
    """The files of a run, in order, kept small: each root once and each file's relative path
    (an ArchiveFile is made per batch). A list of ArchiveFiles was 290 bytes a file, most of
    an import's memory at 300,000 files with the rows it kept (issue 13)."""

    def __init__(self, roots: Sequence[Path]):
        self.paths: list[str] = []
        self.starts: list[int] = []  # where each run of one root begins in `paths`
        self.roots: list[str] = []
        for root in roots:
            for archive_file in find_documents(root):
                if not self.roots or self.roots[-1] != archive_file.root:
                    self.starts.append(len(self.paths))
                    self.roots.append(archive_file.root)
                self.paths.append(archive_file.source_path)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, number: int) -> ArchiveFile:
        root = self.roots[bisect.bisect_right(self.starts, number) - 1]
        path = self.paths[number]
        return ArchiveFile(os.path.join(root, path), path, root, number)

    def batches(self, size: int) -> Iterator[list[ArchiveFile]]:
        for start in range(0, len(self), size):
            yield [self[number] for number in range(start, min(start + size, len(self)))]


def _suffix(name: str) -> str:
    """os.path.splitext(name)[1].lower() for a name that does not start with a dot."""
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


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
    files = _FileList(roots)
    run = _ImportRun(
        dry_run=dry_run, overwrite=overwrite, log=log or (lambda kind, msg: None), files=files
    )
    batches = files.batches(batch_size)
    batch_count = -(-len(files) // batch_size)
    done = 0
    # closing(): an import stopped by an exception (a lost database, Ctrl-C) ends its worker
    # pool now; a pool left to the garbage collector kept its threads, and a later fork
    # could then hang on a lock one of them held (issue 6).
    loading = load_batches(batches, batch_count, run.known_hashes, make=not dry_run)
    with closing(loading) as loaded_batches:
        for loaded_batch in loaded_batches:
            run.apply(run.decide_batch(loaded_batch))
            done += len(loaded_batch)
            if progress:
                progress(done, len(files))
    run.link_posts()
    run.bump.flush()
    if run.report.created + run.report.updated >= ANALYZE_AFTER_ROWS:
        analyze_tables()
    if prune:
        run.prune()
    if not dry_run and (run.report.updated or run.report.pruned):
        remove_orphans()
    run.report.files = len(files)
    run.report.elapsed = time.perf_counter() - started
    return run.report


# --- 1. Load -------------------------------------------------------------------------------


class Made(NamedTuple):
    """What a worker process makes of a document besides parsing it, so that the importing
    process only writes (issue 13): everything here needs the document alone."""

    body_html: str
    summary: str
    index_text: IndexText | None
    addresses: list[str]
    attachments: list[dict[str, str]]
    deadline: dt.date | None = None  # notices/deadlines.py, as Notice.render() finds it
    deadline_phrase: str = ""
    signature: bytes | None = None  # notices/grouping.py
    signature_seconds: float = 0.0  # CPU it took to make


class Same(NamedTuple):
    """A file whose bytes hash to what was imported from it before: not parsed."""

    hash: str


class Parsed(NamedTuple):
    document: NoticeDocument
    made: Made | None = None  # by a worker process; made when written otherwise

    @property
    def hash(self) -> str:
        return self.document.content_hash


class Failed(NamedTuple):
    error: str  # `path[:line]: reason`
    hash: str = ""  # "" when the file could not be read


# A file as loaded: three named states (NamedTuples: a re-import makes one per file).
LoadedFile = Same | Parsed | Failed
# The hash each file's bytes had when imported (None: not imported, or to be read anyway).
KnownHashes = Callable[[list[ArchiveFile]], list[str | None]]


def load_file(
    archive_file: ArchiveFile,
    zone: dt.tzinfo,
    max_bytes: int,
    known_hash: str | None,
    *,
    make: bool = False,
) -> LoadedFile:
    """Read, hash and parse one file; a file whose hash is `known_hash` is not parsed.
    `make`: render it and tokenise it for search too (what a worker process does)."""
    try:
        data, mtime = read_document(archive_file.location, archive_file.source_path, max_bytes)
    except DocumentError as exc:
        return Failed(str(exc))
    data_hash = content_hash(data)
    if data_hash == known_hash:
        return Same(data_hash)
    try:
        document = parse_bytes(
            data, source_path=archive_file.source_path, zone=zone, mtime=mtime, data_hash=data_hash
        )
    except DocumentError as exc:
        return Failed(str(exc), data_hash)
    return Parsed(document, make_notice_parts(document, zone, tokens=True) if make else None)


def make_notice_parts(document: NoticeDocument, zone: dt.tzinfo, *, tokens: bool) -> Made:
    """A document's HTML, summary, attachments, old addresses and (`tokens`) search index
    text: what `Notice.render()` and the indexer would make of it, without the database."""
    rendered = render_notice(document.body, document.source_url)
    summary = summarize(rendered, document.extra or {})
    found = attachments.derive(rendered.html, document.source_url)
    text = None
    if tokens:  # index_text() reads the title, the HTML and the attachments only
        # What index_text() reads of a notice, without a model instance (a tenth of the
        # cost of tokenising).
        text = index_text(_Indexable(document.title, rendered.html, found))
    addresses = addresses_of(document, document.category_paths, zone)
    deadline, phrase = notice_deadline(rendered.html, document.date)
    started = time.process_time()
    body_signature = grouping.signature(document.body)
    spent = time.process_time() - started
    return Made(
        rendered.html, summary, text, addresses, found, deadline, phrase, body_signature, spent
    )


class _Indexable(NamedTuple):
    title: str
    body_html: str
    attachments: list[dict[str, str]]


def load_batch(
    batch: list[ArchiveFile], zone: dt.tzinfo, max_bytes: int, known_hashes: dict[str, str]
) -> list[LoadedFile]:
    """A worker process's share: read, parse, render and tokenise a batch (no database)."""
    return [
        load_file(f, zone, max_bytes, known_hashes.get(f.source_path), make=True) for f in batch
    ]


def import_workers(batch_count: int) -> int:
    """Worker processes for reading ahead: none for a single batch or where fork is missing."""
    wanted = settings.NOTICES_IMPORT_WORKERS
    if batch_count < 2 or wanted < 1 or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    return wanted


def load_batches(
    batches: Iterable[list[ArchiveFile]], batch_count: int, known_hashes: KnownHashes, *, make: bool
) -> Iterator[list[tuple[ArchiveFile, LoadedFile]]]:
    """Each batch's files, loaded, in order. A batch is loaded when it is asked for, so
    `known_hashes` then answers with every earlier batch written.

    With worker processes (`make`, and NOTICES_IMPORT_WORKERS), they parse, render and
    tokenise the next batches ahead while this process writes: parsing, rendering, the search
    index's text and tokens and the old addresses need no database, about half of an import's
    CPU time (issues 5 and 13). At most workers + 1 batches are in flight, so memory stays
    bounded.
    """
    zone, max_bytes = archive_zone(), settings.NOTICES_MAX_FILE_BYTES

    def load_here(batch: list[ArchiveFile], ahead: list[LoadedFile] | None):
        loaded_batch = []
        for index, (archive_file, known) in enumerate(zip(batch, known_hashes(batch), strict=True)):
            loaded = ahead[index] if ahead else None
            if loaded is None or isinstance(loaded, Same) and loaded.hash != known:
                # Not read ahead, or read ahead against an older state of this run.
                loaded = load_file(archive_file, zone, max_bytes, known)
            loaded_batch.append((archive_file, loaded))
        return loaded_batch

    workers = import_workers(batch_count) if make else 0
    if not workers:
        for batch in batches:
            yield load_here(batch, None)
        return
    pool = None  # started when a batch holds new files: a re-import may need none
    pending: deque = deque()
    upcoming = iter(batches)

    def submit() -> None:
        nonlocal pool
        batch = next(upcoming, None)
        if batch is None:
            return
        known = {f.source_path: h for f, h in zip(batch, known_hashes(batch), strict=True) if h}
        if len(known) == len(batch):
            # Files imported before are mostly unchanged: hashing them here is faster
            # than handing them to a worker and back.
            pending.append((batch, None))
            return
        if pool is None:
            # fork: workers start with Django loaded and never use the database connection.
            pool = multiprocessing.get_context("fork").Pool(workers)
        pending.append((batch, pool.apply_async(load_batch, (batch, zone, max_bytes, known))))

    try:
        for _ in range(workers + 1):
            submit()
        while pending:
            batch, work = pending.popleft()
            ahead = work.get() if work else None
            submit()
            yield load_here(batch, ahead)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


# --- 2. Decide -----------------------------------------------------------------------------


class Action(enum.Enum):
    CREATE = "created"
    UPDATE = "updated"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"  # edited in the admin since its last import: kept as edited
    FAIL = "failed"
    DUPLICATE = "duplicate"  # its urlname is another file's: rejected like a bad file


class Decision(NamedTuple):
    action: Action
    file: ArchiveFile
    loaded: LoadedFile
    notice_id: int | None = None  # the notice updated or held back
    message: str = ""  # why a file fails
    warnings: Sequence[str] = ()  # the document's, logged once it is past the hash check

    @property
    def document(self) -> NoticeDocument:
        assert isinstance(self.loaded, Parsed)
        return self.loaded.document


class _ImportRun:
    """What an import knows across its batches: the urlnames and notices this run's files
    claimed (decide), and the caches and counts of writing them (apply). The notices in the
    database are looked up per batch, by the batch's paths and urlnames, on the index that
    holds what deciding needs (notice_import_state): holding every row in memory was most of
    an import's memory at 300,000 notices, and reading them all from the table (each row
    after its body's overflow pages on SQLite) made a re-import slow down with N (issue 13)."""

    def __init__(self, *, dry_run: bool, overwrite: bool, log: Log, files: _FileList):
        self.dry_run, self.overwrite, self.log = dry_run, overwrite, log
        self.report = ImportReport(dry_run=dry_run)
        self.zone = archive_zone()
        self.files = files
        # Imported before the front matter was kept as written (issue 9): read such a file
        # again even though its bytes are unchanged, so its export can be byte for byte.
        self.without_front_matter = set(
            Notice.objects.filter(WITHOUT_FRONT_MATTER).order_by().values_list("id", flat=True)
        )
        # urlname -> the file that claimed it in this run and is not written yet (duplicates
        # name both files); a claim written, or of an unchanged file, is kept by notice id.
        self.claimed: dict[str, ArchiveFile] = {}
        self.claimed_by = _IdNumbers()  # notice id -> the claiming file's number + 1
        self.last_rows: tuple[tuple[int, int] | None, dict[tuple[str, str], Existing]] = (None, {})
        # Notices a file of this run still accounts for; --prune deletes the rest.
        self.kept_ids = _IdBits()
        # Notices written in this run whose body may link to other posts ({% post_link %}, an
        # old address): rendered again once every file of the run is in (link_posts()).
        self.post_links = PostLinks()
        self.linking_ids: list[int] = []
        self.categories = _CategoryCache()
        self.tags = _TagCache()
        self.bump = _Bump()
        self.groups = grouping.Groups()

    def rows_at(self, batch: list[ArchiveFile]) -> dict[tuple[str, str], Existing]:
        """The notices imported before from this batch's paths, by (root, path). The last
        batch's answer is kept for decide_batch(), which asks right after load_batches."""
        key = (batch[0].number, len(batch)) if batch else None
        if self.last_rows[0] != key or key is None:
            paths = list(dict.fromkeys(archive_file.source_path for archive_file in batch))
            rows = existing_notices("source_path", paths, self.without_front_matter)
            self.last_rows = (key, {(row.root, row.source_path): row for row in rows})
        return self.last_rows[1]

    @staticmethod
    def known_file(
        archive_file: ArchiveFile, rows: dict[tuple[str, str], Existing]
    ) -> Existing | None:
        """The notice imported from this file before, if any. Root "" is for notices imported
        before roots were kept, which any root may claim."""
        return rows.get((archive_file.root, archive_file.source_path)) or rows.get(
            ("", archive_file.source_path)
        )

    def known_hashes(self, batch: list[ArchiveFile]) -> list[str | None]:
        """The hash each file's bytes had when imported, unless --overwrite reads every file."""
        if self.overwrite:
            return [None] * len(batch)
        rows = self.rows_at(batch)
        return [known.content_hash if (known := self.known_file(f, rows)) else None for f in batch]

    def claimant(self, urlname: str, row: Existing | None) -> ArchiveFile | None:
        """The file of this run that claimed `urlname` (whose notice is `row`), if any."""
        if urlname in self.claimed:
            return self.claimed[urlname]
        number = self.claimed_by.get(row.id) if row else 0
        return self.files[number - 1] if number else None

    @staticmethod
    def file_is_gone(existing: Existing, root: str) -> bool:
        """Whether the file `existing` came from has left `root` (a move or a rename)."""
        if existing.root not in ("", root) or not existing.source_path:
            return False
        return not (Path(root) / existing.source_path).exists()

    def decide_batch(self, loaded_batch: list[tuple[ArchiveFile, LoadedFile]]) -> list[Decision]:
        """What each loaded file of a batch means, against the database as this batch finds
        it (earlier batches written) and the claims of this run."""
        by_path = self.rows_at([archive_file for archive_file, _ in loaded_batch])
        self.last_rows = (None, {})  # this batch's writes change them
        urlnames = {
            loaded.document.urlname for _, loaded in loaded_batch if isinstance(loaded, Parsed)
        }
        rows = existing_notices("urlname", sorted(urlnames), self.without_front_matter)
        by_urlname = {row.urlname: row for row in rows}
        return [
            self.decide(archive_file, loaded, self.known_file(archive_file, by_path), by_urlname)
            for archive_file, loaded in loaded_batch
        ]

    def decide(
        self,
        archive_file: ArchiveFile,
        loaded: LoadedFile,
        known: Existing | None,
        by_urlname: dict[str, Existing],
    ) -> Decision:
        """What one loaded file means; records the notice and urlname it claims. `known`: the
        notice imported from this file before; `by_urlname`: the notices of the batch's
        urlnames."""
        this_file = (archive_file.root, archive_file.source_path)
        if known:
            # Even a file that now fails keeps its notice: nothing is lost to a bad edit.
            self.kept_ids.add(known.id)
        if isinstance(loaded, Failed):
            return Decision(Action.FAIL, archive_file, loaded, message=loaded.error)
        if (
            known
            and known.content_hash
            and not self.overwrite
            and loaded.hash == known.content_hash
        ):
            if known.urlname not in self.claimed and not self.claimed_by.get(known.id):
                self.claimed_by.set(known.id, archive_file.number + 1)
            return Decision(Action.UNCHANGED, archive_file, loaded)
        assert isinstance(loaded, Parsed)
        document = loaded.document

        def decision(action: Action, **details) -> Decision:
            return Decision(action, archive_file, loaded, warnings=document.warnings, **details)

        target = by_urlname.get(document.urlname)
        other_file = self.claimant(document.urlname, target)
        if other_file and (other_file.root, other_file.source_path) != this_file:
            return decision(
                Action.DUPLICATE, message=self.duplicate(document, other_file.source_path)
            )
        if (
            target
            and (known is None or target.id != known.id)
            and not self.file_is_gone(target, archive_file.root)
        ):
            # Another file's notice, in this folder or another, in this run or an earlier
            # one: taking it over would silently replace that notice (issue 9).
            where = target.where(archive_file.root)
            return decision(Action.DUPLICATE, message=self.duplicate(document, where))
        self.claimed[document.urlname] = archive_file
        if target is None and known and not self.claimant(known.urlname, known):
            target = known  # the file's urlname changed: the same notice, renamed
        if target is None:
            return decision(Action.CREATE)
        self.kept_ids.add(target.id)
        if target.edited and not self.overwrite:
            return decision(Action.CONFLICT, notice_id=target.id)
        same_file = (
            target.source_path == document.source_path
            and target.content_hash == document.content_hash
        )
        if same_file and not target.edited:
            return decision(Action.UNCHANGED)  # --overwrite of an unedited, unchanged notice
        return decision(Action.UPDATE, notice_id=target.id)

    @staticmethod
    def duplicate(document: NoticeDocument, other_file: str) -> str:
        return (
            f"{document.source_path}: duplicate urlname {document.urlname!r}, "
            f"already used by {other_file}"
        )

    # --- 3. Apply --------------------------------------------------------------------------

    def apply(self, decisions: list[Decision]) -> None:
        """Count and log a batch's decisions, hold back conflicts, and write the rest."""
        writes = []
        for decision in decisions:
            for warning in decision.warnings:
                self.log("warning", warning)
            match decision.action:
                case Action.FAIL | Action.DUPLICATE:
                    self.fail(decision.message)
                case Action.UNCHANGED:
                    self.report.unchanged += 1
                case Action.CONFLICT:
                    self.hold_back(decision)
                case Action.CREATE | Action.UPDATE:
                    writes.append(decision)
        if self.dry_run or not writes:
            self.written(writes)  # a dry run names each file too (`-v 2`, issue 10)
            return
        if self.try_write(writes) is None:
            return
        # Find the file the database refuses; keep every other one.
        for decision in writes:
            refused = self.try_write([decision])
            if refused is not None:
                self.fail(
                    f"{decision.file.source_path}: the database refused this notice: {refused}"
                )

    def fail(self, error: str) -> None:
        self.report.failed += 1
        # One line per rejected file (database messages can span several).
        message = " ".join(error.splitlines())
        self.report.errors.append(message)
        self.log("error", message)

    def hold_back(self, decision: Decision) -> None:
        self.report.conflicts += 1
        document = decision.document
        if not self.dry_run:  # the change list's "conflict" (notices/sync.py)
            held_back = Notice.objects.filter(id=decision.notice_id)
            held_back.update(held_back_hash=document.content_hash)
        self.log(
            "conflict",
            f"{document.source_path}: notice {document.urlname!r} was edited in the admin since "
            "its last import; kept the edited version (use --overwrite to replace it)",
        )

    def written(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            if decision.action is Action.CREATE:
                self.report.created += 1
            else:
                self.report.updated += 1
            self.log(decision.action.value, decision.file.source_path)

    def try_write(self, decisions: list[Decision]) -> Exception | None:
        """Write in one transaction and count it; return the error if the database refused."""
        own_transaction = not connection.in_atomic_block
        try:
            with transaction.atomic():
                if own_transaction and connection.vendor == "postgresql":
                    # Not waiting for the WAL flush of each batch. Safe to lose: a crash
                    # forgets at most the last few batches committed (never a part of one),
                    # which the next run imports again, their files' hashes not being stored.
                    # (Only for the batch's own transaction, never a caller's.)
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL synchronous_commit = off")
                self.write(decisions)
        except DATABASE_GONE:
            # The server went away (restart, lost connection), not a file's fault: retrying each
            # file would report every one as refused. Stop; this batch was rolled back and a
            # re-run carries on from the batches already written (issue 6).
            raise
        except (DatabaseError, ValueError) as exc:
            self.categories.forget_unsaved()
            self.tags.forget_unsaved()
            return exc
        self.written(decisions)
        return None

    def write(self, decisions: list[Decision]) -> None:
        now = timezone.now()
        made = [
            decision.loaded.made or make_notice_parts(decision.document, self.zone, tokens=False)
            for decision in decisions
        ]
        notices = [self.build(d, parts, now) for d, parts in zip(decisions, made, strict=True)]
        insert_returning_ids(Notice, [n for n in notices if n.id is None])
        changed_notices = [n for n, d in zip(notices, decisions, strict=True) if d.notice_id]
        if changed_notices:
            counts.subtract(notice.id for notice in changed_notices)  # as they were counted
            # Out of their groups (the rest regrouped), to be placed again below.
            started = time.process_time()
            self.groups.remove(notice.id for notice in changed_notices)
            self.report.grouping_seconds += time.process_time() - started
            Notice.objects.bulk_update(changed_notices, [*NOTICE_FIELDS, "urlname"])
            changed_ids = [notice.id for notice in changed_notices]
            TaggedNotice.objects.filter(content_object_id__in=changed_ids).delete()
            Notice.categories.through.objects.filter(notice_id__in=changed_ids).delete()
            OldAddress.objects.filter(notice_id__in=changed_ids).delete()

        # (notice, category), (notice, tag), (path, notice)
        category_rows: list[tuple[int, int]] = []
        tag_rows: list[tuple[int, int]] = []
        addresses: list[tuple[str, int]] = []
        for decision, notice, parts in zip(decisions, notices, made, strict=True):
            document = decision.document
            # In the document's order (an export writes the paths back in row order).
            category_ids = dict.fromkeys(
                self.categories.leaf_id(path) for path in document.category_paths
            )
            category_rows += [(notice.id, category_id) for category_id in category_ids]
            tag_rows += [(notice.id, tag_id) for tag_id in self.tags.ids(document.tags)]
            addresses += [(path, notice.id) for path in parts.addresses]
            if self.post_links.may_link(document.body):
                self.linking_ids.append(notice.id)
        insert_links(Notice.categories.through, ("notice", "category"), category_rows)
        insert_links(TaggedNotice, ("content_object", "tag"), tag_rows)
        # Two notices claiming one old address: the first keeps it.
        insert_links(OldAddress, ("path", "notice"), addresses, ignore_conflicts=True)
        # A version of each notice written, in this batch's transaction (notices/history.py).
        import_versions(
            (
                (notice, d.notice_id is None, d.document.tags, d.document.category_paths)
                for d, notice in zip(decisions, notices, strict=True)
            ),
            now,
        )
        # Notices written in this batch are final here: the place to index them for search.
        made_texts = {
            notice.id: parts.index_text
            for notice, parts in zip(notices, made, strict=True)
            if parts.index_text
        }
        index_notices(notices, made_texts)
        # Each new or changed notice joins its group, against everything written before it.
        started = time.process_time()
        self.groups.place(
            [notice.id for notice in notices],
            # As written: new ones, and changed ones just taken out of their groups.
            [grouping.Member(n.id, n.date, None, n.signature) for n in notices],
        )
        self.report.grouping_seconds += time.process_time() - started
        self.report.signature_seconds += sum(parts.signature_seconds for parts in made)
        # The stored list counts, in the same transaction (notices/counts.py).
        counts.add_written(notices, category_rows, tag_rows)
        # Bulk writes send no signals: cached pages and counts expire with this transaction.
        self.bump()
        self.categories.mark_saved()
        self.tags.mark_saved()
        for decision, notice in zip(decisions, notices, strict=True):
            # The claim is the written row's now (claimant() finds it by the notice's id).
            if self.claimed.get(notice.urlname) is decision.file:
                del self.claimed[notice.urlname]
            self.claimed_by.set(notice.id, decision.file.number + 1)
            self.kept_ids.add(notice.id)
            self.without_front_matter.discard(notice.id)

    def build(self, decision: Decision, parts: Made, now: dt.datetime) -> Notice:
        document = decision.document
        notice = Notice(
            id=decision.notice_id,
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
            body_html=parts.body_html,
            summary=parts.summary,
            attachments=parts.attachments,
            has_attachments=bool(parts.attachments),
            deadline=parts.deadline,
            deadline_phrase=parts.deadline_phrase,
            signature=parts.signature,
            source_url=document.source_url,
            extra=document.extra,
            source_path=document.source_path,
            archive_root=decision.file.root,
            front_matter=document.front_matter,
            source_format=document.source_format,
            content_hash=document.content_hash,
            imported_at=now,
        )
        limit = render_limit(notice.body_html)
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
            self.bump.unbumped_writes = True

    def prune(self) -> None:
        # Every notice no file of this run accounts for, ids and names only, in list order.
        gone = [
            Existing(id_, urlname, source_path, "", False, root)
            for id_, urlname, source_path, root in _fetch_all(
                Notice.objects.values_list("id", "urlname", "source_path", "archive_root")
            )
            if id_ not in self.kept_ids
        ]
        for existing in gone:
            self.log("pruned", f"{existing.source_path or '(no file)'}: {existing.urlname}")
        self.report.pruned = len(gone)
        self.report.pruned_roots = Counter(existing.root for existing in gone)
        if not self.dry_run:
            ids = [existing.id for existing in gone]
            for start in range(0, len(ids), 500):
                counts.delete_notices(ids[start : start + 500])


# Imported before the front matter was kept as written (issue 9); the partial index
# notice_without_front_matter holds these (usually none).
WITHOUT_FRONT_MATTER = Q(front_matter="") & ~Q(source_path="")


def _fetch_all(rows) -> Iterator[tuple]:
    """The rows of a values_list() query, run without the ORM's per-row converters: those
    cost as much as the rest of re-importing an unchanged archive (issue 13)."""
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:  # `IN ()`: nothing to look up
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(5000):
            yield from chunk


def existing_notices(
    column: str, values: list[str], without_front_matter: set[int]
) -> list[Existing]:
    """The notices whose `column` (source_path or urlname) is one of `values`, as deciding
    needs them. By source_path every column read is in the index notice_import_state, so
    neither the table nor its bodies are read. SQL written here: the ORM's `IN` prepares
    each value on its own, 60 % of re-importing an unchanged archive (issue 13).
    `without_front_matter`: ids whose hash is not to be trusted (issue 9: their files are
    read and parsed again)."""
    found: list[Existing] = []
    if not values:
        return found
    quote = connection.ops.quote_name
    table = quote(Notice._meta.db_table)
    edited, imported = quote("edited_at"), quote("imported_at")
    sql = (
        f"SELECT {quote('id')}, {quote('urlname')}, {quote('source_path')}, "
        f"{quote('content_hash')}, ({edited} IS NOT NULL AND ({imported} IS NULL OR "
        f"{edited} > {imported})), {quote('archive_root')} FROM {table} "
        f"WHERE {quote(column)} IN ({', '.join(['%s'] * len(values))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        for id_, urlname, source_path, hash_, edited_since, root in cursor.fetchall():
            if not edited_since and id_ in without_front_matter:
                hash_ = ""  # never the file's hash: it is read and parsed again
            # Booleans come as 0/1 from SQLite.
            found.append(Existing(id_, urlname, source_path, hash_, bool(edited_since), root))
    return found


class _IdBits:
    """A set of notice ids as a bitmap (an import adds one per file: a set of ints was
    60 bytes each)."""

    def __init__(self) -> None:
        self.bits = bytearray()

    def add(self, id_: int) -> None:
        byte = id_ >> 3
        if byte >= len(self.bits):
            self.bits.extend(bytes(byte + 1 - len(self.bits) + len(self.bits) // 2))
        self.bits[byte] |= 1 << (id_ & 7)

    def __contains__(self, id_: int) -> bool:
        byte = id_ >> 3
        return byte < len(self.bits) and bool(self.bits[byte] >> (id_ & 7) & 1)


class _IdNumbers:
    """notice id -> a positive number, 0 for none: 4 bytes per id up to the largest."""

    def __init__(self) -> None:
        self.numbers = array.array("I")

    def get(self, id_: int) -> int:
        return self.numbers[id_] if id_ < len(self.numbers) else 0

    def set(self, id_: int, number: int) -> None:
        if id_ >= len(self.numbers):
            grow = id_ + 1 - len(self.numbers) + len(self.numbers) // 2
            self.numbers.frombytes(bytes(self.numbers.itemsize * grow))
        self.numbers[id_] = number


class _Bump:
    """bump_data_version() at most every CACHE_BUMP_SECONDS during a run, and once more at its
    end (flush()): each bump makes the next page views recompute counts and facets."""

    def __init__(self) -> None:
        self.last = -CACHE_BUMP_SECONDS
        self.unbumped_writes = False

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last >= CACHE_BUMP_SECONDS:
            self.now()
        else:
            self.unbumped_writes = True

    def now(self) -> None:
        bump_data_version()
        self.last = time.monotonic()
        self.unbumped_writes = False

    def flush(self) -> None:
        if self.unbumped_writes:
            self.now()


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
    fields = [model._meta.get_field(name) for name in field_names]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    if connection.vendor == "postgresql":
        if not ignore_conflicts:
            copy_rows(model._meta.db_table, [field.column for field in fields], rows)
            return
        # One statement of two arrays, in the rows' order, so the first of two rows for one
        # key is the one kept.
        kinds = [field.db_type(connection) for field in fields]
        insert_arrays(
            model._meta.db_table, [f.column for f in fields], kinds, rows, "ON CONFLICT DO NOTHING"
        )
        return
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
    zone = archive_zone()
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
    index the ones whose HTML, summary or attachments changed, and return how many did."""
    links = PostLinks()
    derived = (
        "body_html", "summary", "attachments", "has_attachments", "deadline", "deadline_phrase",
    )  # fmt: skip
    fields = ("id", "date", "title", "body", "source_url", "extra", *derived)
    changed_count = 0
    for start in range(0, len(ids), chunk_size):
        changed, moved = [], []
        for notice in Notice.objects.filter(id__in=ids[start : start + chunk_size]).only(*fields):
            before = [getattr(notice, name) for name in derived]
            notice.render(resolve_post=links.title, resolve_link=links.link)
            if [getattr(notice, name) for name in derived] != before:
                changed.append(notice)
                if notice.has_attachments != before[-1]:
                    moved.append(notice.id)  # counted under 有附件 now, or no longer
        if changed:
            with transaction.atomic(), counts.changing(moved) if moved else nullcontext():
                Notice.objects.bulk_update(changed, list(derived))
                index_notices(changed)
            changed_count += len(changed)
    return changed_count
