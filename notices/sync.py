"""Whether a notice differs from its archive file, and how (issue 10).

A notice is *in sync*, *edited here* (edited in the admin since its import, or it has no
file at all), *file changed since* (its file's bytes are no longer those imported, or the
file is gone) or in *conflict* (both: the next import holds the file back). The change list
filters by what the database knows (`SyncStateFilter`: edits, and the newer files an import
held back, `Notice.held_back_hash`), without reading 100,000 files; the state column and the
change page read the notice's own file (`sync_state`, `file_diff_html`).
"""

from __future__ import annotations

import difflib
from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.db.models import F, Q, QuerySet
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from notices.documents import content_hash
from notices.exporting import export_file
from notices.models import Notice

# The diff on a change page stops after this many lines; files past this size are not
# compared at all (difflib's time grows with the product of the two lengths).
MAX_DIFF_LINES = 400
MAX_DIFF_BYTES = 1024 * 1024


class SyncState:
    IN_SYNC = "in_sync"
    EDITED = "edited"
    FILE_CHANGED = "file_changed"
    CONFLICT = "conflict"


SYNC_STATE_LABEL = {
    SyncState.IN_SYNC: _("in sync"),
    SyncState.EDITED: _("edited here"),
    SyncState.FILE_CHANGED: _("file changed since"),
    SyncState.CONFLICT: _("conflict"),
}

# What the database knows, as conditions on Notice rows.
EDITED_HERE = Q(source_path="") | (
    Q(edited_at__isnull=False) & (Q(imported_at__isnull=True) | Q(edited_at__gt=F("imported_at")))
)
HELD_BACK = Q(held_back_hash__isnull=False)
RECORDED_STATE = {
    SyncState.IN_SYNC: ~EDITED_HERE & ~HELD_BACK,
    SyncState.EDITED: EDITED_HERE & ~HELD_BACK,
    SyncState.FILE_CHANGED: ~EDITED_HERE & HELD_BACK,
    SyncState.CONFLICT: EDITED_HERE & HELD_BACK,
}


def file_path(notice: Notice) -> Path | None:
    """The notice's file in the archive folder it was imported from; None without one.

    Notices imported before folders were kept are looked for in NOTICES_ARCHIVE_DIR. A
    source path that leaves its folder (`..`) names no file."""
    if not notice.source_path:
        return None
    root = Path(notice.archive_root or settings.NOTICES_ARCHIVE_DIR)
    path = root / notice.source_path
    try:
        if not path.resolve().is_relative_to(root.resolve()):
            return None
    except (OSError, RuntimeError):
        return None
    return path


def read_file(notice: Notice) -> bytes | None:
    """The bytes of the notice's file, or None when it has none or it is gone."""
    path = file_path(notice)
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def is_edited_here(notice: Notice) -> bool:
    return not notice.source_path or notice.was_edited_since_import


def sync_state(notice: Notice, data: bytes | None = None) -> str:
    """The notice's state, reading its file unless its bytes are given (`data`)."""
    edited = is_edited_here(notice)
    changed = False
    if notice.source_path:
        if data is None:
            data = read_file(notice)
        changed = data is None or content_hash(data) != notice.content_hash
    if edited and changed:
        return SyncState.CONFLICT
    if edited:
        return SyncState.EDITED
    return SyncState.FILE_CHANGED if changed else SyncState.IN_SYNC


def sync_state_column(notice: Notice) -> str:
    """The change list's state column (one small file read per row shown)."""
    return str(SYNC_STATE_LABEL[sync_state(notice)])


def with_recorded_state(queryset: QuerySet[Notice], state: str) -> QuerySet[Notice]:
    return queryset.filter(RECORDED_STATE[state])


class SyncStateFilter(admin.SimpleListFilter):
    """By what the database knows: an edit here, a newer file an import held back. A file
    changed on disk since the last import is seen by the next import (or `notice_status`)."""

    title = _("state")
    parameter_name = "sync"

    def lookups(self, request, model_admin):
        return list(SYNC_STATE_LABEL.items())

    def queryset(self, request, queryset):
        if self.value() in RECORDED_STATE:
            return with_recorded_state(queryset, self.value())
        return queryset


def _decoded_lines(data: bytes, encoding: str) -> list[str]:
    # A carriage return is shown, so a change of line endings alone is visible.
    text = data.decode(encoding or "utf-8", errors="replace")
    return [line.rstrip("\n").replace("\r", "\u240d") for line in text.splitlines(keepends=True)]


def _line_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "diff-file"
    if line.startswith("@@"):
        return "diff-hunk"
    if line.startswith("+"):
        return "diff-add"
    if line.startswith("-"):
        return "diff-del"
    return "diff-context"


def file_diff_html(notice: Notice | None) -> SafeString:
    """A unified diff of the notice's file (-) against its export (+), escaped, bounded."""
    if notice is None or notice.pk is None or not notice.source_path:
        return format_html("<p>{}</p>", _("No file: this notice exists only here."))
    data = read_file(notice)
    if data is None:
        return format_html(
            "<p>{}</p>",
            _("No file: %(path)s is not in the archive folder.") % {"path": notice.source_path},
        )
    exported = export_file(notice)
    if exported == data:
        return format_html("<p>{}</p>", _("Same as the file."))
    if max(len(data), len(exported)) > MAX_DIFF_BYTES:
        return format_html(
            "<p>{}</p>", _("The file differs; it is too large to show the difference.")
        )
    encoding = (notice.source_format or {}).get("encoding", "utf-8")
    lines = list(
        difflib.unified_diff(
            _decoded_lines(data, encoding),
            _decoded_lines(exported, encoding),
            fromfile=f"{notice.source_path} ({_('file')})",
            tofile=str(_("this notice")),
            lineterm="",
        )
    )
    shown = lines[:MAX_DIFF_LINES]
    html = "".join(f'<span class="{_line_class(line)}">{escape(line)}</span>\n' for line in shown)
    if len(lines) > len(shown):
        more = _("… %(count)d more lines") % {"count": len(lines) - len(shown)}
        html += f'<span class="diff-more">{escape(more)}</span>\n'
    return mark_safe(f'<pre class="file-diff">{html}</pre>')
