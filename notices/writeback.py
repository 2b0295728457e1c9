"""Edits back into the archive: `write_back()` and its `WriteBackReport` (issue 10).

The archive is the source of truth, so a notice edited in the admin goes back into its own file
(`Path(archive_root) / source_path`) as `export_file()` gives it: only the edited keys and the
body change, the rest of the file keeps its bytes. A notice made in the admin (no file) gets a
new file named as the archive names them, `<domain or site>/<year>/<urlname>.md` under
NOTICES_ARCHIVE_DIR. After a write the notice records the file's bytes (content_hash,
front_matter, source_format) and imported_at = now, so the next import says "unchanged".

Every write is atomic: a hidden temporary file in the same folder (an import running at the
same moment skips hidden files), fsync, then os.replace(); a crash or a full disk at any point
leaves the old file whole. A file that changed on disk since its import is never overwritten
(a conflict: someone else's work); neither is an existing file taken for a new notice. Paths
that would leave the archive folder (`..`, absolute, symlinks out) are refused.

`file_state()` says how a notice differs from its file (`notice_status` lists them), from
notices/sync.py's state.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import zoneinfo
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from notices.documents import DocumentError, content_hash, parse_bytes
from notices.exporting import export_file
from notices.models import Notice
from notices.sync import EDITED_HERE as EDITED_OR_WITHOUT_FILE
from notices.sync import SyncState, file_path, read_file, sync_state

# What happened to one notice (WrittenFile.kind).
CREATED = "created"  # a new file for a notice without one
UPDATED = "updated"  # the edit was written into the notice's file
UNCHANGED = "unchanged"  # the file already holds the notice as it is: only marked in sync
CONFLICT = "conflict"  # the file changed (or went) since import, or a new file's name is taken
REFUSED = "refused"  # a path out of the archive folder, or no usable urlname for a new file
SKIPPED = "skipped"  # not edited since the import: nothing to write
ERROR = "error"  # the file system refused (permissions, a full disk): the old file is kept
KINDS = (CREATED, UPDATED, UNCHANGED, CONFLICT, REFUSED, SKIPPED, ERROR)

# Sync states (file_state()).
IN_SYNC = "in sync"
EDITED_HERE = "edited here"
FILE_CHANGED = "file changed since"
BOTH_CHANGED = "conflict"
FILE_MISSING = "file missing"
NO_FILE = "no file"

_UNSAFE_FOLDER_CHARACTERS = re.compile(r"[\x00-\x1f/\\:*?\"<>|]+")


@dataclass
class WrittenFile:
    kind: str
    path: str  # relative to the archive folder, as the notice's source_path
    urlname: str
    reason: str = ""

    def line(self, *, dry_run: bool = False) -> str:
        kind = f"would be {self.kind}" if dry_run and self.kind in (CREATED, UPDATED) else self.kind
        text = f"{kind}: {self.path or '(no path)'} ({self.urlname})"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass
class WriteBackReport:
    files: list[WrittenFile] = field(default_factory=list)
    dry_run: bool = False

    @property
    def counts(self) -> Counter:
        return Counter(written.kind for written in self.files)

    def add(self, kind: str, path: str, notice: Notice, reason: str = "") -> WrittenFile:
        written = WrittenFile(kind, path, notice.urlname, reason)
        self.files.append(written)
        return written

    def summary(self) -> str:
        counts = self.counts
        prefix = "Dry run: would have " if self.dry_run else ""
        return prefix + ", ".join(f"{kind} {counts[kind]}" for kind in KINDS)


class _Refused(Exception):
    """A notice whose file cannot be written: (kind, reason)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def archive_root_of(notice: Notice) -> Path:
    """The folder the notice's file is in; notices imported before folders were kept and notices
    without a file belong to NOTICES_ARCHIVE_DIR."""
    return Path(notice.archive_root or settings.NOTICES_ARCHIVE_DIR).resolve()


def safe_target(root: Path, source_path: str) -> Path:
    """`root / source_path`, resolved (a symlink inside the archive is written through); raises
    _Refused for a path that leaves the archive folder."""
    relative = PurePosixPath(source_path)
    if (
        not source_path
        or relative.is_absolute()
        or ".." in relative.parts
        or "\\" in source_path
        or "\x00" in source_path
    ):
        raise _Refused(REFUSED, "the path leaves the archive folder")
    target = (root / relative).resolve()
    if not target.is_relative_to(root) or target == root:
        raise _Refused(REFUSED, "the path leaves the archive folder (a symlink)")
    return target


def new_file_path(notice: Notice) -> str:
    """`<domain or site>/<year>/<urlname>.md`, as the archive names its files."""
    zone = zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
    folder = _UNSAFE_FOLDER_CHARACTERS.sub("-", notice.domain or notice.site).strip(" .-")
    name = f"{notice.urlname}.md"
    if len(name.encode()) > 255:
        name = hashlib.sha1(notice.urlname.encode()).hexdigest() + ".md"
    parts = [folder[:100]] if folder else []
    return "/".join([*parts, str(notice.date.astimezone(zone).year), name])


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def file_state(notice: Notice) -> tuple[str, str]:
    """(state, why): how the notice differs from its archive file, by reading and hashing it
    (notices/sync.py's state, with a gone file and a notice without one told apart)."""
    if not notice.source_path:
        return NO_FILE, "made here, no archive file yet (write_back creates one)"
    data = read_file(notice)
    if data is None:
        edited = notice.was_edited_since_import
        why = "edited here, and its file is gone" if edited else "its file is gone"
        return FILE_MISSING, f"{why} ({file_path(notice) or notice.source_path})"
    state = sync_state(notice, data)
    if state == SyncState.CONFLICT:
        return BOTH_CHANGED, "edited here, and its file changed since the import"
    if state == SyncState.EDITED:
        return EDITED_HERE, "edited here since the import (write_back writes it to the file)"
    if state == SyncState.FILE_CHANGED:
        return FILE_CHANGED, "its file changed since the import (import_notices reads it)"
    return IN_SYNC, ""


def write_back(notices: Iterable[Notice], *, dry_run: bool = False) -> WriteBackReport:
    """Write each notice edited since import (or without a file) into its archive file."""
    report = WriteBackReport(dry_run=dry_run)
    for notice in notices:
        path = notice.source_path or ""
        try:
            if not notice.source_path:
                path = new_file_path(notice)
                _write_new(notice, path, report, dry_run=dry_run)
            elif not notice.was_edited_since_import:
                report.add(SKIPPED, path, notice, "not edited since the import")
            else:
                _write_edit(notice, report, dry_run=dry_run)
        except _Refused as refused:
            report.add(refused.kind, path, notice, refused.reason)
        except OSError as exc:
            report.add(ERROR, path, notice, f"not written, the old file is kept: {exc}")
    return report


def _write_edit(notice: Notice, report: WriteBackReport, *, dry_run: bool) -> None:
    target = safe_target(archive_root_of(notice), notice.source_path)
    current = _read(target) if target.is_file() else None
    if current is None:
        raise _Refused(CONFLICT, f"its file is gone since the import ({target}): not recreated")
    if not notice.front_matter and content_hash(current) == notice.content_hash:
        # Imported before the front matter was kept (issue 9): the file is the one imported,
        # so its front matter is what the edit applies to (not a rewrite in the seed's layout).
        document = _parse(current, notice.source_path)
        notice.front_matter, notice.source_format = document.front_matter, document.source_format
    data = export_file(notice)
    if current == data:
        # Written before (and the database update was lost), or the edit changed nothing the
        # file holds: nothing to write, only the notice to mark in sync.
        if not dry_run:
            _mark_written(notice, data)
        report.add(UNCHANGED, notice.source_path, notice, "the file already holds this version")
        return
    if content_hash(current) != notice.content_hash:
        raise _Refused(
            CONFLICT,
            "its file changed since the import: not overwritten (import it with "
            "import_notices --overwrite, or edit the file)",
        )
    if not dry_run:
        _atomic_write(target, data, expected_hash=notice.content_hash)
        _mark_written(notice, data)
    report.add(UPDATED, notice.source_path, notice)


def _write_new(notice: Notice, path: str, report: WriteBackReport, *, dry_run: bool) -> None:
    if not notice.urlname:
        raise _Refused(REFUSED, "no urlname: a file needs one to be imported as this notice")
    if notice.urlname.startswith("."):
        raise _Refused(REFUSED, "the urlname starts with a dot: the import skips hidden files")
    root = Path(settings.NOTICES_ARCHIVE_DIR).resolve()
    target = safe_target(root, path)
    if os.path.lexists(target):
        raise _Refused(CONFLICT, "a file of that name exists already: not overwritten")
    data = export_file(notice)
    if not dry_run:
        _atomic_write(target, data, exclusive=True)
        _mark_written(notice, data, source_path=path, archive_root=str(root))
    report.add(CREATED, path, notice)


def _parse(data: bytes, source_path: str):
    try:
        return parse_bytes(data, source_path=source_path)
    except DocumentError as exc:
        raise _Refused(ERROR, f"the file does not read back: {exc}") from None


def _atomic_write(
    target: Path, data: bytes, *, expected_hash: str = "", exclusive: bool = False
) -> None:
    """Replace (or, `exclusive`, create) `target` with `data` in one rename.

    `expected_hash`: the file must still have these bytes right before the rename (an editor's
    or a crawler's change in between is not overwritten)."""
    folder = target.parent
    if exclusive:
        folder.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)  # mkstemp makes 0600; the archive's files keep their mode
        if exclusive:
            # link() never replaces an existing file: a file that appeared meanwhile wins.
            try:
                os.link(temporary, target)
            except FileExistsError:
                raise _Refused(
                    CONFLICT, "a file of that name exists already: not overwritten"
                ) from None
            os.unlink(temporary)
        else:
            current = _read(target)
            if current is None or content_hash(current) != expected_hash:
                raise _Refused(CONFLICT, "its file changed while it was written: not overwritten")
            os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a power cut after it would otherwise lose it)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename is still atomic
    finally:
        os.close(descriptor)


def _mark_written(
    notice: Notice,
    data: bytes,
    *,
    source_path: str | None = None,
    archive_root: str | None = None,
) -> None:
    """Record the written file on the notice, so the next import finds it unchanged."""
    document = _parse(data, source_path or notice.source_path)
    fields = {
        "content_hash": content_hash(data),
        "front_matter": document.front_matter,
        "source_format": document.source_format,
        # The title as the file now writes it (the admin edits title, site and domain).
        "raw_title": document.raw_title,
        # A newer file an import held back (notices/sync.py) is now this one.
        "held_back_hash": None,
    }
    if source_path is not None:
        fields.update(source_path=source_path, archive_root=archive_root, slug=document.slug)
    with transaction.atomic():
        saved = Notice.objects.select_for_update().get(pk=notice.pk)
        # An admin save since this notice was read is not in the file: it stays an edit (the
        # file holds the version of the edit written).
        edited_again = saved.edited_at != notice.edited_at
        fields["imported_at"] = notice.edited_at if edited_again else timezone.now()
        for name, value in fields.items():
            setattr(saved, name, value)
            setattr(notice, name, value)
        saved._change_reason = "written back to the archive"  # read by django-simple-history
        saved.save(update_fields=list(fields))


def notices_to_write_back() -> QuerySet[Notice]:
    """Notices the archive does not have as they are: edited since import, or without a file."""
    return Notice.objects.filter(EDITED_OR_WITHOUT_FILE).order_by("source_path", "id")


@admin.action(description=gettext_lazy("Write back to the archive files"), permissions=["change"])
def write_back_action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> None:
    """NoticeAdmin's action: the selected notices' edits into their files, with counts."""
    notices = Notice.objects.filter(pk__in=queryset.values("pk")).order_by("source_path", "id")
    report = write_back(notices.iterator(chunk_size=500))
    counts = report.counts
    modeladmin.message_user(
        request,
        gettext(
            "Written back to the archive: %(created)d new files, %(updated)d updated, "
            "%(unchanged)d already up to date, %(skipped)d not edited."
        )
        % {kind: counts[kind] for kind in (CREATED, UPDATED, UNCHANGED, SKIPPED)},
        messages.SUCCESS,
    )
    conflicts = [written.path for written in report.files if written.kind == CONFLICT]
    if conflicts:
        modeladmin.message_user(
            request,
            gettext(
                "Not written back, the file changed since its import or the name is taken "
                "(nothing was overwritten): %(files)s"
            )
            % {"files": _listed(conflicts)},
            messages.WARNING,
        )
    failed = [
        f"{written.path}: {written.reason}"
        for written in report.files
        if written.kind in (REFUSED, ERROR)
    ]
    if failed:
        modeladmin.message_user(
            request,
            gettext("Not written back (the old files are kept): %(files)s")
            % {"files": _listed(failed)},
            messages.ERROR,
        )


def _listed(items: list[str], limit: int = 10) -> str:
    shown = "; ".join(items[:limit])
    if len(items) > limit:
        shown += " " + gettext("and %(count)d more") % {"count": len(items) - limit}
    return shown
