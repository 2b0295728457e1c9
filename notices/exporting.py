"""Notices back to archive documents: `export_document()`, `export_notices()`, `export_zip()`.

A notice is written in the archive's own dialect (the seed's layout): `title` as
written, `date` as `YYYY-MM-DD HH:MM:SS` in NOTICES_ARCHIVE_TZ, `urlname`, `tags`
and `categories` as block lists, then every key kept in `extra` unchanged, then
`---` and the raw body. Importing the export gives the same notices; a document
already in that layout comes back byte for byte.

Scalars are written plain only when `TextPreservingLoader` reads them back as the
same text; anything else (null-like words, `# `, `: `, leading blanks, line breaks)
is double-quoted. Numbers and booleans in `extra` (from JSON/TOML front matter or
explicit YAML tags) carry `!!int`/`!!float`/`!!bool`, since a plain `5` reads back
as the text "5".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import zipfile
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from django.conf import settings
from django.db.models import Q, QuerySet

from notices.documents import MODEL_KEYS, TextPreservingLoader, split_title
from notices.models import Category, Notice, TaggedNotice

# Characters YAML cannot hold raw inside a double-quoted scalar without changing them.
_YAML_LINE_BREAKS = frozenset("\n\r\x85\u2028\u2029")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": "\\0"}


def _printable(char: str) -> bool:
    """YAML 1.1's printable set, minus the characters that act as line breaks."""
    code = ord(char)
    return code not in (0x2028, 0x2029) and (
        0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        and code != 0xFEFF
        or 0x10000 <= code <= 0x10FFFF
    )


def double_quoted(text: str) -> str:
    """A YAML double-quoted scalar that reads back as exactly `text`."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif _printable(char):
            out.append(char)
        elif ord(char) <= 0xFF:
            out.append(f"\\x{ord(char):02X}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(f"\\U{ord(char):08X}")
    return '"' + "".join(out) + '"'


def _reads_back(snippet: str, expected: Any) -> bool:
    try:
        return yaml.load(snippet, Loader=TextPreservingLoader) == expected  # noqa: S506
    except (yaml.YAMLError, ValueError, RecursionError):
        return False


def _plain_candidate(text: str) -> bool:
    return bool(text) and text == text.strip() and all(_printable(char) for char in text)


def scalar(text: str, *, in_list: bool = False) -> str:
    """`text` as a YAML value: plain when it reads back unchanged, double-quoted otherwise."""
    if _plain_candidate(text):
        if in_list and _reads_back(f"k:\n- {text}\n", {"k": [text]}):
            return text
        if not in_list and _reads_back(f"k: {text}\n", {"k": text}):
            return text
    return double_quoted(text)


def mapping_key(key: str) -> str:
    if _plain_candidate(key) and _reads_back(f"{key}: x\n", {key: "x"}):
        return key
    return double_quoted(key)


def _typed_scalar(value: Any) -> str | None:
    """Non-text scalars, tagged so the text-preserving loader restores their type."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "!!bool true" if value else "!!bool false"
    if isinstance(value, int):
        return f"!!int {value}"
    if isinstance(value, float):
        if math.isnan(value):
            return "!!float .nan"
        if math.isinf(value):
            return "!!float .inf" if value > 0 else "!!float -.inf"
        return f"!!float {value!r}"
    return None


def flow_value(value: Any) -> str:
    """Any JSON value in YAML flow style (text always double-quoted: flow context is strict)."""
    if isinstance(value, dict):
        items = ", ".join(f"{double_quoted(str(k))}: {flow_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow_value(item) for item in value) + "]"
    typed = _typed_scalar(value)
    if typed is not None:
        return typed or "null"
    return double_quoted(str(value))


def _block_item(value: Any) -> str:
    if isinstance(value, str):
        return scalar(value, in_list=True)
    if value is None:
        return "null"
    return flow_value(value)


def key_lines(key: str, value: Any) -> list[str]:
    """One front-matter entry: block lists for lists, flow style below the first level."""
    head = mapping_key(key) + ":"
    if isinstance(value, str):
        return [f"{head} {scalar(value)}"]
    if isinstance(value, list | tuple) and value:
        return [head, *(f"- {_block_item(item)}" for item in value)]
    if isinstance(value, dict | list | tuple):
        return [f"{head} {flow_value(value)}"]
    typed = _typed_scalar(value)
    if typed is None:
        return [f"{head} {double_quoted(str(value))}"]
    return [f"{head} {typed}" if typed else head]


def format_date(value: dt.datetime, zone: dt.tzinfo) -> str:
    local = value.astimezone(zone)
    text = (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d} "
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    )
    return f"{text}.{local.microsecond:06d}" if local.microsecond else text


def exported_title(notice: Notice) -> str:
    """The title as written, unless the admin changed site/title/domain since: then rebuilt."""
    if split_title(notice.raw_title) == (notice.site, notice.title, notice.domain):
        return notice.raw_title
    if notice.site and notice.domain:
        return f"{notice.site}->{notice.title} | {notice.domain}"
    if notice.site:
        return f"{notice.site}->{notice.title}"
    return notice.title


@dataclass
class ExportedNotice:
    """What one document needs besides the Notice row."""

    notice: Notice
    tags: list[str] = field(default_factory=list)
    category_paths: list[list[str]] = field(default_factory=list)


def render_document(item: ExportedNotice, *, zone: dt.tzinfo | None = None) -> str:
    """The document text for one notice (front matter, `---`, raw body)."""
    zone = zone or zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
    notice = item.notice
    lines = [
        "---",
        f"title: {scalar(exported_title(notice))}",
        f"date: {format_date(notice.date, zone)}",
        f"urlname: {scalar(notice.urlname)}",
        "tags:",
        *(f"- {scalar(tag, in_list=True)}" for tag in item.tags),
        "categories:",
    ]
    if len(item.category_paths) == 1:
        lines += [f"- {scalar(name, in_list=True)}" for name in item.category_paths[0]]
    else:
        lines += [f"- {flow_value(path)}" for path in item.category_paths]
    for key, value in (notice.extra or {}).items():
        if key not in MODEL_KEYS:
            lines += key_lines(key, value)
    lines.append("---")
    return "\n".join(lines) + "\n" + notice.body


def export_document(notice: Notice, *, zone: dt.tzinfo | None = None) -> str:
    """The document text for one saved notice (two queries; use iter_exported for many)."""
    return render_document(next(iter_exported([notice])), zone=zone)


def iter_exported(notices: Iterable[Notice], *, chunk_size: int = 1000) -> Iterator[ExportedNotice]:
    """Notices with their tags (in document order) and category paths, a chunk at a time."""
    categories = {c.id: (c.name, c.parent_id) for c in Category.objects.only("name", "parent")}

    def names_to_root(category_id: int) -> list[str]:
        names = []
        current: int | None = category_id
        while current is not None and current in categories:
            name, current = categories[current]
            names.append(name)
        return names[::-1]

    chunk: list[Notice] = []
    for notice in notices:
        chunk.append(notice)
        if len(chunk) >= chunk_size:
            yield from _with_relations(chunk, names_to_root)
            chunk = []
    if chunk:
        yield from _with_relations(chunk, names_to_root)


def _with_relations(chunk: list[Notice], names_to_root) -> Iterator[ExportedNotice]:
    ids = [notice.id for notice in chunk]
    tags: dict[int, list[str]] = defaultdict(list)
    # Rows are written in the document's order, so their ids keep the tags' order.
    for notice_id, name in (
        TaggedNotice.objects.filter(content_object_id__in=ids)
        .order_by("id")
        .values_list("content_object_id", "tag__name")
    ):
        tags[notice_id].append(name)
    paths: dict[int, list[list[str]]] = defaultdict(list)
    through = Notice.categories.through
    rows = through.objects.filter(notice_id__in=ids).order_by("id")
    for notice_id, category_id in rows.values_list("notice_id", "category_id"):
        paths[notice_id].append(names_to_root(category_id))
    for notice in chunk:
        yield ExportedNotice(notice, tags[notice.id], paths[notice.id])


def document_path(notice: Notice) -> str:
    """Where a notice's document goes: its source file, or `<urlname>.md` if that is unsafe."""
    source = PurePosixPath(notice.source_path) if notice.source_path else None
    if (
        source
        and not source.is_absolute()
        and ".." not in source.parts
        and "\\" not in notice.source_path
        and all(len(part.encode()) <= 255 for part in source.parts)
    ):
        return source.as_posix()
    name = f"{notice.urlname}.md"
    if len(name.encode()) > 255:
        name = hashlib.sha1(notice.urlname.encode()).hexdigest() + ".md"
    return name


def _unique_paths(items: Iterable[ExportedNotice]) -> Iterator[tuple[str, ExportedNotice]]:
    used: set[str] = set()
    for item in items:
        path = document_path(item.notice)
        if path in used:  # two notices from one file (edited in the admin): keep both
            path = f"{hashlib.sha1(item.notice.urlname.encode()).hexdigest()[:12]}-{path}"
        used.add(path)
        yield path, item


def select_notices(
    *,
    category: str | None = None,
    tag: str | None = None,
    site: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> QuerySet[Notice]:
    """Notices to export: a category path (with its subtree), a tag name or slug, a site,
    and a date range of days in NOTICES_ARCHIVE_TZ (both ends included)."""
    notices = Notice.objects.all()
    if category:
        path = category.strip("/")
        category_ids = Category.objects.filter(
            Q(path=path) | Q(path__startswith=f"{path}/") | Q(full_name=category)
        ).values("id")
        notices = notices.filter(categories__in=category_ids)
    if tag:
        notices = notices.filter(Q(tags__name=tag) | Q(tags__slug=tag))
    if site:
        notices = notices.filter(site=site)
    zone = zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
    if since:
        notices = notices.filter(date__gte=dt.datetime.combine(since, dt.time(), zone))
    if until:
        next_day = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), zone)
        notices = notices.filter(date__lt=next_day)
    return notices.distinct().order_by("source_path", "id")


def export_notices(notices: Iterable[Notice], out_dir: Path) -> int:
    """Write each notice's document under `out_dir`; return how many were written."""
    zone = zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
    out_dir = Path(out_dir)
    count = 0
    for relative, item in _unique_paths(iter_exported(notices)):
        target = out_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_document(item, zone=zone), encoding="utf-8", newline="\n")
        count += 1
    return count


def export_zip(notices: Iterable[Notice]) -> bytes:
    """The same documents as `export_notices`, as a zip archive in memory."""
    zone = zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative, item in _unique_paths(iter_exported(notices)):
            archive.writestr(relative, render_document(item, zone=zone).encode("utf-8"))
    return buffer.getvalue()


def notice_records(*, with_hash: bool = True) -> dict[str, dict[str, Any]]:
    """Every notice as comparable values (fields, tags in order, category paths), by urlname:
    what a round trip must keep. Row ids and import times are left out; so is the content
    hash unless `with_hash` (it is the hash of the file's bytes)."""
    skipped = {"id", "imported_at", "edited_at", *(() if with_hash else ("content_hash",))}
    names = [f.attname for f in Notice._meta.concrete_fields if f.attname not in skipped]
    notices = Notice.objects.order_by("id")
    records: dict[str, dict[str, Any]] = {}
    for item in iter_exported(notices.iterator(chunk_size=1000)):
        record = {name: getattr(item.notice, name) for name in names}
        record["tags"] = item.tags
        record["category_paths"] = sorted(item.category_paths)
        records[item.notice.urlname] = record
    return records
