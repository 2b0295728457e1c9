"""Notices back to archive documents: `export_document()`, `export_notices()`, `export_zip()`.

A notice imported from a file goes back to that file (issue 9). Unedited since import, it is
the file byte for byte: its front matter as written, its body, its encoding, BOM and line
endings. Edited, only the front-matter keys whose values changed are rewritten, in place
(see "Files as they were written" below); everything else in the file stays as it was, and
nothing is added that the file did not have unless the edit gave it a value.

A notice that did not come from a file (made in the admin, or imported before front matter
was kept) is written in the archive's own dialect (the seed's layout): `title` as written,
`date` as `YYYY-MM-DD HH:MM:SS` in NOTICES_ARCHIVE_TZ, `urlname`, `tags` and `categories` as
block lists, then every key kept in `extra` unchanged, then `---` and the raw body.

Scalars are written plain only when `TextPreservingLoader` reads them back as the
same text; anything else (null-like words, `# `, `: `, leading blanks, line breaks)
is double-quoted. Numbers and booleans in `extra` (from JSON/TOML front matter or
explicit YAML tags) carry `!!int`/`!!float`/`!!bool`, since a plain `5` reads back
as the text "5". Values edited into a user's file are stricter: also quoted when a standard
YAML 1.1 or 1.2 reader would type them (`19:00`, `1579`, `yes`).
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import io
import json
import logging
import math
import re
import tomllib
import unicodedata
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
from taggit.models import Tag

from notices.documents import (
    MODEL_KEYS,
    SOURCE_URL_KEYS,
    DocumentError,
    NoticeDocument,
    TextPreservingLoader,
    as_text_list,
    content_hash,
    encode_file,
    find_source_link,
    parse_text,
    safe_http_url,
    split_front_matter,
    split_title,
)
from notices.filters import NoticeFilters
from notices.hygiene import has_invisible
from notices.models import Category, DateSource, Notice, TaggedNotice

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
    return document_text(next(iter_exported([notice])), zone=zone)


def export_file(notice: Notice, *, zone: dt.tzinfo | None = None) -> bytes:
    """The file for one saved notice, byte for byte its source file when unedited."""
    return document_bytes(next(iter_exported([notice])), zone=zone)


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


# --- Files as they were written -------------------------------------------
#
# An imported notice keeps its file's front matter as written (`Notice.front_matter`) and how
# the file was encoded (`Notice.source_format`). Unedited, it is exported as exactly those
# bytes. Edited, only the keys whose values changed are rewritten, each in place: the lines
# of every other key, comments, blank lines, quoting and flow/block style stay as they were.
#
# The splice works on lines, not on a re-emitted document: a round-trip YAML library
# (ruamel.yaml) also keeps comments, but it re-emits the whole mapping (indentation of
# sequences, trailing blanks such as `tags: `, line folding, YAML 1.2 typing), so "a title
# edit changes one line" would still need a diff against the original. PyYAML's composer
# gives where each top-level key and value start and end; those spans are replaced.
# TOML (`+++`) keys are found line by line, JSON members by the json module's own scanner.
# Every result is parsed again and must read back as the notice; if it does not (an anchor
# used elsewhere, a key defined in a TOML table), the notice is written by render_document().

log = logging.getLogger(__name__)


class _CannotEdit(Exception):
    """The front matter cannot be edited in place; the document is written anew."""


def _same(a: Any, b: Any) -> bool:
    # Type-strict (1 != True != 1.0) and blind to key order (PostgreSQL's jsonb reorders).
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def _kept_order(original: list, new: list) -> list:
    """`new`, with the items it shares with `original` in the file's order: a minimal change."""
    return [item for item in original if item in new] + [
        item for item in new if item not in original
    ]


def _split_lines(text: str) -> list[str]:
    """Lines with their `\n` (only `\n` ends a line here, as in the stored text)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _ending(line: str) -> str:
    return "\r\n" if line.endswith("\r\n") else "\n"


def _spliced(
    lines: list[str],
    replacements: dict[int, tuple[int, list[str]]],
    added: list[str],
    *,
    at: int,
) -> str:
    """`lines` with each replaced run (first line -> (end, new lines)) swapped for its new
    lines, and `added` inserted before line `at` (or at the end when `at` is past them)."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        if index == at:
            out += added
        if index in replacements:
            end, new_lines = replacements[index]
            out += new_lines
            index = end
        else:
            out.append(lines[index])
            index += 1
    if at >= len(lines):
        out += added
    return "".join(out)


def _body_for_file(notice: Notice) -> str:
    """The body to write: the admin's textarea sends CRLF, which is not the file's style
    unless the file used it (then encode_file() restores it on every line)."""
    body = notice.body
    source_format = notice.source_format or {}
    if source_format.get("newline") == "\r\n":
        return body.replace("\r\n", "\n")
    unchanged = content_hash(encode_file(notice.front_matter + body, source_format))
    if unchanged == notice.content_hash or "\r\n" in notice.front_matter:
        return body  # as imported (mixed endings stay), or a file that used CRLF somewhere
    return body.replace("\r\n", "\n")


# --- YAML values, written in the style of the value they replace ----------


def _single_quoted(text: str) -> str | None:
    if not all(_printable(char) for char in text):
        return None
    quoted = "'" + text.replace("'", "''") + "'"
    return quoted if _reads_back(f"k: {quoted}\n", {"k": text}) else None


# Plain scalars YAML 1.2's core schema (js-yaml, which Hexo uses) reads as null, a boolean or
# a number; YAML 1.1's (PyYAML) are checked by loading.
_YAML_12_TYPED = re.compile(
    r"~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN)"
)


def _typed_elsewhere(text: str) -> bool:
    """Whether a standard YAML loader (1.1 or 1.2) reads plain `text` as anything but it:
    `19:00` is 1140 in YAML 1.1, `1579` a number, `yes` a boolean, `2020-01-01` a date."""
    if _YAML_12_TYPED.fullmatch(text):
        return True
    try:
        return yaml.safe_load(f"k: {text}\n") != {"k": text}
    except yaml.YAMLError:
        return True


def _edit_scalar(text: str, *, in_list: bool = False) -> str:
    """A value written into a user's file: plain only when every YAML reader agrees it is
    this text (the project's own layout, scalar(), trusts TextPreservingLoader)."""
    written = scalar(text, in_list=in_list)
    return double_quoted(text) if written == text and _typed_elsewhere(text) else written


def _styled_scalar(text: str, style: str | None) -> str:
    """`text` quoted as the value it replaces was (plain when safe, else double-quoted)."""
    if style == '"':
        return double_quoted(text)
    if style == "'":
        return _single_quoted(text) or double_quoted(text)
    return _edit_scalar(text)


def _flow_item(value: Any) -> str:
    if isinstance(value, str):
        plain = _plain_candidate(value) and not _typed_elsewhere(value)
        if plain and _reads_back(f"k: [{value}]\n", {"k": [value]}):
            return value
        return double_quoted(value)
    if isinstance(value, list):
        return _flow_list(value)
    return flow_value(value)


def _flow_list(items: list) -> str:
    return "[" + ", ".join(_flow_item(item) for item in items) + "]"


def _categories_value(paths: list[list[str]], written: Any) -> list:
    """Categories in the shape the file used: category_paths() reads the plain names of the
    list as one path (a > b) and each list inside it as another path."""
    items = written if isinstance(written, list) else [] if written is None else [written]
    main = as_text_list([item for item in items if not isinstance(item, list)])
    if main and main in paths:  # its names stay plain items, the other paths are added lists
        return [*main, *(list(path) for path in paths if path != main)]
    if len(paths) == 1 and not any(isinstance(item, list) for item in items):
        return list(paths[0])
    return [list(path) for path in paths]


class _DateText(str):
    """A date as written into YAML front matter (`2021-01-15 09:30:00`)."""


def _yaml_value(
    key: str, value: Any, node: yaml.Node | None, *, list_field: bool
) -> tuple[str, list[str]]:
    """(text after `key:`, continuation lines) for a new value, in the old value's style."""
    style = node.style if isinstance(node, yaml.ScalarNode) else None
    one_line = isinstance(node, yaml.ScalarNode) or bool(
        isinstance(node, yaml.CollectionNode) and node.flow_style
    )
    if isinstance(value, _DateText) and style not in ("'", '"'):
        return " " + value, []  # plain: Hexo reads a timestamp, parse_date() the text
    if isinstance(value, str):
        return " " + _styled_scalar(value, style), []
    if isinstance(value, list) and all(isinstance(item, str | list) for item in value):
        if not value:
            # An empty block list reads as null, which tags and categories take as "none".
            return ("" if list_field and not one_line else " []"), []
        if one_line:
            if isinstance(node, yaml.ScalarNode) and len(value) == 1 and isinstance(value[0], str):
                return " " + _styled_scalar(value[0], style), []
            return " " + _flow_list(value), []
        items = [
            _edit_scalar(item, in_list=True) if isinstance(item, str) else _flow_list(item)
            for item in value
        ]
        return "", [f"- {item}" for item in items]
    head, *rest = key_lines(key, value)
    return head[len(mapping_key(key)) + 1 :], rest


@dataclass
class _Entry:
    key: str | None  # None: a key that is not a plain string (never edited)
    first: int  # line index of `key:`
    end: int  # one past its last line (trailing blank lines left out)
    head: str  # the line up to and including the `:` after the key, as written
    gap: str  # the blanks between that `:` and a value on the same line (aligned values)
    comment: str  # a `# comment` after a one-line value, kept when the value changes
    node: yaml.Node


_STR_TAG = "tag:yaml.org,2002:str"


class _YamlFrontMatter:
    """`---` front matter whose top-level entries can be replaced, removed or added."""

    def __init__(self, front_matter: str) -> None:
        self.lines = _split_lines(front_matter)
        closing = len(self.lines) - 1
        if closing < 1:
            raise _CannotEdit("front matter is never closed")
        inner = self.lines[1:closing]
        # Line 0 (the opening `---`) as an empty line, so node positions are file lines.
        self.stream = "\n" + "".join(inner)
        self.starts = [0, 1]
        for line in inner[:-1]:
            self.starts.append(self.starts[-1] + len(line))
        try:
            # The importer's own parser: what it accepted composes (positions count characters).
            root = yaml.compose(self.stream, Loader=TextPreservingLoader)  # noqa: S506
        except (yaml.YAMLError, RecursionError) as exc:
            raise _CannotEdit(f"YAML not composable: {exc}") from None
        self.entries: list[_Entry] = []
        self.indent = ""
        if root is None:
            return
        if not isinstance(root, yaml.MappingNode) or root.flow_style:
            raise _CannotEdit("the front matter is not a block mapping")
        column = self._column(root.value[0][0]) if root.value else 0
        self.indent = " " * column
        for index, (key_node, value_node) in enumerate(root.value):
            first = self._line(key_node.start_mark.index)
            if self._column(key_node) != column:
                raise _CannotEdit("keys at different indentations")
            if index + 1 < len(root.value):
                limit = self._line(root.value[index + 1][0].start_mark.index)
            else:
                limit = closing
            end = min(max(self._line(_node_end(value_node) - 1) + 1, first + 1), limit)
            while end > first + 1 and not self.lines[end - 1].strip():
                end -= 1
            colon = self.stream.find(":", key_node.end_mark.index)
            line_end = self.starts[first] + len(self.lines[first].rstrip("\r\n"))
            if (
                colon < 0
                or colon >= line_end
                or self.stream[key_node.end_mark.index : colon].strip()
            ):
                raise _CannotEdit("a key written over several lines")
            head = self.stream[self.starts[first] : colon + 1]
            gap = self.stream[colon + 1 : value_node.start_mark.index]
            if not gap or gap.strip(" \t"):
                gap = " "
            comment = ""
            if end == first + 1:
                tail = self.stream[max(value_node.end_mark.index, colon + 1) : line_end]
                if tail.strip().startswith("#") and tail[:1] in " \t":
                    comment = tail
            is_text = isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR_TAG
            plain_key = key_node.value if is_text else None
            self.entries.append(_Entry(plain_key, first, end, head, gap, comment, value_node))

    def _column(self, node: yaml.Node) -> int:
        index = node.start_mark.index
        return index - self.starts[self._line(index)]

    def _line(self, index: int) -> int:
        return bisect.bisect_right(self.starts, index) - 1

    def entry(self, key: str) -> _Entry | None:
        # The last of duplicate keys is the one YAML reads.
        found = [entry for entry in self.entries if entry.key == key]
        return found[-1] if found else None

    def apply(
        self, changes: dict[str, Any], removed: list[str], list_fields: frozenset[str]
    ) -> str:
        replacements: dict[int, tuple[int, list[str]]] = {}
        added: list[str] = []
        for key, value in changes.items():
            entry = self.entry(key)
            node = entry.node if entry else None
            inline, rest = _yaml_value(key, value, node, list_field=key in list_fields)
            if entry is None:
                newline = _ending(self.lines[-2]) if len(self.lines) > 1 else "\n"
                head = self.indent + mapping_key(key) + ":"
                added += [
                    line + newline for line in [head + inline, *(self.indent + r for r in rest)]
                ]
                continue
            newline = _ending(self.lines[entry.first])
            dash = self._dash_indent(entry.node)
            if rest and self._block_sequence(entry.node):
                # Still a block list: the key line and every item kept stay as written.
                kept = self._item_lines(entry, stripped=key in list_fields)
                lines = [self.lines[entry.first]]
                for item, line in zip(value, rest, strict=True):
                    reused = kept.get(_item_key(item, stripped=key in list_fields))
                    lines += reused.pop(0) if reused else [dash + line + newline]
            else:
                comment = entry.comment if not rest else ""
                if inline.startswith(" "):
                    inline = entry.gap + inline[1:]
                lines = [entry.head + inline + comment, *(dash + line for line in rest)]
                lines = [line + newline for line in lines]
            replacements[entry.first] = (entry.end, lines)
        for key in removed:
            for entry in self.entries:
                if entry.key == key:  # every occurrence, or an earlier duplicate comes back
                    replacements[entry.first] = (entry.end, [])
        # New keys go just before the closing delimiter.
        return _spliced(self.lines, replacements, added, at=len(self.lines) - 1)

    @staticmethod
    def _block_sequence(node: yaml.Node) -> bool:
        return isinstance(node, yaml.SequenceNode) and not node.flow_style and bool(node.value)

    def _item_lines(self, entry: _Entry, *, stripped: bool) -> dict[Any, list[list[str]]]:
        """The lines of each item of a block list, by the value they hold."""
        items: dict[Any, list[list[str]]] = defaultdict(list)
        children = entry.node.value
        firsts = [self._line(child.start_mark.index) for child in children]
        if len(set(firsts)) != len(firsts) or firsts[0] <= entry.first:
            return items
        for number, child in enumerate(children):
            end = firsts[number + 1] if number + 1 < len(children) else entry.end
            key = _node_item_key(child, stripped=stripped)
            if key is not None:
                items[key].append(self.lines[firsts[number] : end])
        return items

    def _dash_indent(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
            line = self.lines[self._line(node.value[0].start_mark.index)]
            prefix = line[: len(line) - len(line.lstrip(" "))]
            if line.lstrip(" ").startswith("-"):
                return prefix
        return self.indent


def _item_key(value: Any, *, stripped: bool) -> Any:
    if isinstance(value, str):
        return ("text", value.strip() if stripped else value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ("path", tuple(item.strip() if stripped else item for item in value))
    return None


def _node_item_key(node: yaml.Node, *, stripped: bool) -> Any:
    """_item_key() of the value a list item's node reads as (None: never reused)."""
    if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG:
        return _item_key(node.value, stripped=stripped)
    if isinstance(node, yaml.SequenceNode) and all(
        isinstance(child, yaml.ScalarNode) and child.tag == _STR_TAG for child in node.value
    ):
        return _item_key([child.value for child in node.value], stripped=stripped)
    return None


def _node_end(node: yaml.Node) -> int:
    """Where a value really ends: a block collection's own end mark is the next key."""
    if isinstance(node, yaml.CollectionNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _node_end(last[1] if isinstance(last, tuple) else last)
    return node.end_mark.index


# --- TOML (`+++`) ----------------------------------------------------------

_TOML_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TOML_ENTRY = re.compile(
    r"^(?P<head>[ \t]*(?P<key>[A-Za-z0-9_-]+|\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*')[ \t]*=[ \t]*)"
)


def toml_value(value: Any) -> str:
    """A minimal TOML writer: strings, numbers, booleans, dates, arrays and inline tables."""
    if isinstance(value, str):
        # JSON's escapes are TOML's (\\uXXXX included); DEL is a control character in TOML.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007F")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{" + (f" {items} " if items else "") + "}"
    raise _CannotEdit(f"TOML has no way to write {type(value).__name__}")


def toml_key(key: str) -> str:
    return key if _TOML_BARE_KEY.match(key) else toml_value(key)


class _TomlFrontMatter:
    """`+++` front matter: top-level `key = value` lines (before the first table)."""

    def __init__(self, front_matter: str) -> None:
        self.lines = _split_lines(front_matter)
        closing = len(self.lines) - 1
        self.region_end = closing
        starts: list[tuple[int, str, str]] = []
        in_string = ""
        for index in range(1, closing):
            line = self.lines[index]
            if not in_string:
                if line.lstrip().startswith("["):
                    self.region_end = index
                    break
                match = _TOML_ENTRY.match(line)
                if match:
                    starts.append((index, self._key(match["key"]), match["head"]))
            for quotes in ('"""', "'''"):
                if line.count(quotes) % 2 and in_string in ("", quotes):
                    in_string = "" if in_string else quotes
        self.entries: list[tuple[str, int, int, str]] = []
        for number, (first, key, head) in enumerate(starts):
            limit = starts[number + 1][0] if number + 1 < len(starts) else self.region_end
            end = limit
            while end > first + 1 and (
                not self.lines[end - 1].strip() or self.lines[end - 1].lstrip().startswith("#")
            ):
                end -= 1
            self.entries.append((key, first, end, head))

    @staticmethod
    def _key(text: str) -> str:
        if text[0] in "\"'":
            return next(iter(tomllib.loads(f"{text} = 0")))
        return text

    @staticmethod
    def _comment(line: str) -> str:
        """The `  # comment` after a one-line value: the first `#` before which the line
        still reads as the same key and value."""
        line = line.rstrip("\r\n")
        try:
            whole = tomllib.loads(line)
        except tomllib.TOMLDecodeError:
            return ""
        for match in re.finditer(r"[ \t]*#", line):
            try:
                if tomllib.loads(line[: match.start()]) == whole:
                    return line[match.start() :]
            except tomllib.TOMLDecodeError:
                continue
        return ""

    def apply(self, changes: dict[str, Any], removed: list[str], keys: Iterable[str]) -> str:
        defined = set(keys)
        replacements: dict[int, tuple[int, list[str]]] = {}
        added: list[str] = []
        for key, value in [*changes.items(), *((key, None) for key in removed)]:
            found = [entry for entry in self.entries if entry[0] == key]
            if not found and key in defined:
                raise _CannotEdit(f"TOML key {key!r} is not a top-level line")
            if value is None:  # removed, or a null TOML cannot write
                for _key, first, end, _head in found:
                    replacements[first] = (end, [])
                continue
            if not found:
                newline = _ending(self.lines[0])
                added.append(f"{toml_key(key)} = {toml_value(value)}{newline}")
                continue
            _key, first, end, head = found[-1]
            comment = self._comment(self.lines[first]) if end == first + 1 else ""
            line = head + toml_value(value) + comment + _ending(self.lines[first])
            replacements[first] = (end, [line])
        last = max((entry[2] for entry in self.entries), default=self.region_end)
        return _spliced(self.lines, replacements, added, at=last)


# --- JSON ------------------------------------------------------------------


class _JsonFrontMatter:
    """`{ … }` front matter: each top-level member's value replaced where it is written."""

    def __init__(self, front_matter: str) -> None:
        self.text = front_matter
        decoder = json.JSONDecoder()
        start = front_matter.index("{")
        position = self._skip(start + 1)
        # (key, member start, value start, value end)
        self.members: list[tuple[str, int, int, int]] = []
        try:
            while front_matter[position] != "}":
                if front_matter[position] != '"':
                    raise _CannotEdit("unexpected text in JSON front matter")
                key, after_key = json.decoder.scanstring(front_matter, position + 1)
                colon = self._skip(after_key)
                value_start = self._skip(colon + 1)
                _value, value_end = decoder.raw_decode(front_matter, value_start)
                self.members.append((key, position, value_start, value_end))
                position = self._skip(value_end)
                if front_matter[position] == ",":
                    position = self._skip(position + 1)
        except (ValueError, IndexError) as exc:
            raise _CannotEdit(f"JSON front matter not scanned: {exc}") from None
        self.closing = position
        self.ensure_ascii = bool(re.search(r"\\u[0-9a-fA-F]{4}", front_matter)) and all(
            ord(char) < 128 for char in front_matter
        )
        self.indent = "  "
        if self.members:
            line_start = front_matter.rfind("\n", 0, self.members[0][1]) + 1
            self.indent = front_matter[line_start : self.members[0][1]] or "  "

    def _skip(self, position: int) -> int:
        while position < len(self.text) and self.text[position] in " \t\r\n":
            position += 1
        return position

    def has(self, key: str) -> bool:
        return any(member[0] == key for member in self.members)

    def _dump(self, value: Any, original: str | None) -> str:
        if original is not None and "\n" in original:
            text = json.dumps(value, ensure_ascii=self.ensure_ascii, indent=self.indent)
            return text.replace("\n", "\n" + self.indent)
        return json.dumps(value, ensure_ascii=self.ensure_ascii)

    def apply(self, changes: dict[str, Any], removed: list[str]) -> str:
        text = self.text
        edits: list[tuple[int, int, str]] = []  # (start, end, replacement), applied from the end
        for key, value in changes.items():
            found = [member for member in self.members if member[0] == key]
            if found:
                _key, _start, value_start, value_end = found[-1]
                original = text[value_start:value_end]
                edits.append((value_start, value_end, self._dump(value, original)))
        gone = {number for number, member in enumerate(self.members) if member[0] in removed}
        kept = [number for number in range(len(self.members)) if number not in gone]
        for number in sorted(gone):
            if kept and number > kept[0]:
                # From the end of the previous value: its comma goes, the next one stays.
                edits.append((self.members[number - 1][3], self.members[number][3], ""))
        leading = [number for number in gone if not kept or number < kept[0]]
        if leading:
            until = self.members[kept[0]][1] if kept else self.members[-1][3]
            edits.append((self.members[0][1], until, ""))
        additions = [
            f"{json.dumps(key, ensure_ascii=self.ensure_ascii)}: {self._dump(value, None)}"
            for key, value in changes.items()
            if not self.has(key)
        ]
        if additions:
            newline = "\r\n" if "\r\n" in text else "\n"
            joined = ("," + newline + self.indent).join(additions)
            if kept:
                end = self.members[-1][3]
                edits.append((end, end, "," + newline + self.indent + joined))
            else:
                line_start = text.rfind("\n", 0, self.closing) + 1
                edits.append((line_start, line_start, self.indent + joined + newline))
        for start, end, replacement in sorted(edits, key=lambda edit: edit[:2], reverse=True):
            text = text[:start] + replacement + text[end:]
        return text


# --- Which keys an edit changed ------------------------------------------


@dataclass
class _Plan:
    """Top-level keys to write (new values), keys to remove, and what must read back."""

    changes: dict[str, Any] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    source_key: str = ""


def _front_matter_source(metadata: dict[str, Any]) -> tuple[str, str]:
    """(key, url) of the front-matter key parse_text takes the source address from."""
    for key in SOURCE_URL_KEYS:
        if key in metadata and not isinstance(metadata[key], dict | list):
            url = safe_http_url(metadata[key])
            if url:
                return key, url
    return "", ""


def _plan(
    item: ExportedNotice, original: NoticeDocument, metadata: dict[str, Any], body: str
) -> _Plan:
    notice = item.notice
    plan = _Plan(extra=dict(original.extra))
    title = exported_title(notice)
    if title != original.raw_title:
        plan.changes["title"] = title
    # A guessed date (file name, mtime) is never written; an editor's date is FRONT_MATTER.
    if notice.date_source == DateSource.FRONT_MATTER and (
        original.date_source != DateSource.FRONT_MATTER or notice.date != original.date
    ):
        plan.changes["date"] = notice.date
    if notice.urlname != original.urlname:  # a derived urlname is the same derived again
        plan.changes["urlname"] = notice.urlname
    if sorted(item.tags) != sorted(original.tags):
        plan.changes["tags"] = _kept_order(original.tags, item.tags)
    if sorted(item.category_paths) != sorted(original.category_paths):
        paths = _kept_order(original.category_paths, item.category_paths)
        plan.changes["categories"] = _categories_value(paths, metadata.get("categories"))
    extra = notice.extra or {}
    for key, value in original.extra.items():
        if key not in extra:
            plan.removed.append(key)
            del plan.extra[key]
        elif not _same(value, extra[key]):
            plan.changes[key] = plan.extra[key] = extra[key]
    for key, value in extra.items():
        if key not in original.extra and key not in MODEL_KEYS and not _is_empty(value):
            plan.changes[key] = plan.extra[key] = value
    if not find_source_link(body)[0]:
        # The address came from a front-matter key (or nowhere): that key carries the edit.
        key, url = _front_matter_source(metadata)
        if notice.source_url != url and (key or notice.source_url):
            plan.source_key = key or "source_url"
            plan.changes[plan.source_key] = plan.extra[plan.source_key] = notice.source_url
            if plan.source_key in plan.removed:
                plan.removed.remove(plan.source_key)
    # Nothing is added to a file that did not have it unless it now has a value.
    for key in [key for key, value in plan.changes.items() if _is_empty(value)]:
        if key not in metadata:
            del plan.changes[key]
    return plan


def _reads_back_as_notice(
    front_matter: str, body: str, item: ExportedNotice, plan: _Plan, zone: dt.tzinfo
) -> bool:
    notice = item.notice
    try:
        document = parse_text(
            front_matter + body,
            source_path=notice.source_path,
            zone=zone,
            fallback_date=notice.date,
        )
    except DocumentError:
        return False
    if notice.date_source == DateSource.FRONT_MATTER:
        date_ok = document.date_source == DateSource.FRONT_MATTER and document.date == notice.date
    else:
        date_ok = document.date_source != DateSource.FRONT_MATTER
    return (
        date_ok
        and document.raw_title == exported_title(notice)
        and document.urlname == notice.urlname
        and sorted(document.tags) == sorted(item.tags)
        and sorted(document.category_paths) == sorted(item.category_paths)
        and _same(document.extra, plan.extra)
        and document.body == body
        and (not plan.source_key or document.source_url == notice.source_url)
    )


def _edited_front_matter(item: ExportedNotice, body: str, zone: dt.tzinfo) -> str:
    """The notice's own front matter with only the keys its edit changed rewritten."""
    notice = item.notice
    front_matter = notice.front_matter
    try:
        metadata, _body, _handler = split_front_matter(front_matter, notice.source_path)
        original = parse_text(
            front_matter, source_path=notice.source_path, zone=zone, fallback_date=notice.date
        )
    except DocumentError as exc:
        raise _CannotEdit(str(exc)) from None
    metadata = {str(key): value for key, value in metadata.items()}
    plan = _plan(item, original, metadata, body)
    if not plan.changes and not plan.removed:
        return front_matter
    changes = dict(plan.changes)
    local = notice.date.astimezone(zone)
    written_date = str(metadata.get("date") or "").strip()
    day_only = (
        bool(re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", written_date)) and local.time() == dt.time()
    )
    if front_matter.startswith("+++"):
        if "date" in changes:
            changes["date"] = local.date() if day_only else local
        edited = _TomlFrontMatter(front_matter).apply(changes, plan.removed, metadata)
    elif front_matter.startswith("{"):
        if "date" in changes:
            changes["date"] = local.date().isoformat() if day_only else local.isoformat()
        edited = _JsonFrontMatter(front_matter).apply(changes, plan.removed)
    else:
        if "date" in changes:
            text = local.date().isoformat() if day_only else format_date(local, zone)
            changes["date"] = _DateText(text)
        list_fields = frozenset({"tags", "categories"})
        edited = _YamlFrontMatter(front_matter).apply(changes, plan.removed, list_fields)
    if not _reads_back_as_notice(edited, body, item, plan, zone):
        raise _CannotEdit("the edited front matter does not read back as the notice")
    return edited


def document_text(item: ExportedNotice, *, zone: dt.tzinfo | None = None) -> str:
    """A notice's document as text (newlines as stored: LF for a CRLF file).

    Unedited since import: the file's own text. Edited: its front matter with only the
    changed keys rewritten, and the body. Not from a file (or front matter that cannot be
    edited in place): render_document()."""
    zone = zone or zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
    notice = item.notice
    if not notice.front_matter:
        return render_document(item, zone=zone)
    if not notice.was_edited_since_import:
        return notice.front_matter + notice.body
    body = _body_for_file(notice)
    try:
        return _edited_front_matter(item, body, zone) + body
    except _CannotEdit as exc:
        log.warning(
            "%s: front matter rewritten in the project's layout: %s", notice.source_path, exc
        )
        return render_document(item, zone=zone)


def document_bytes(item: ExportedNotice, *, zone: dt.tzinfo | None = None) -> bytes:
    """The file for one notice: its own encoding, BOM and line endings when it came from one."""
    notice = item.notice
    text = document_text(item, zone=zone)
    if not notice.front_matter:
        return text.encode("utf-8")
    return encode_file(text, notice.source_format or {})


# Names Windows refuses or maps to a device whatever the extension (`CON`, `nul.md`,
# `COM1.tar.gz`), characters it refuses in a name, and what a name may not end with there.
_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{device}{n}" for device in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³"]]
)
_NOT_IN_NAMES = re.compile(r'[<>:"|?*\\/\x00-\x1f\x7f]')


def portable_name(name: str) -> bool:
    """Whether one path component can be written as it is on Linux, Windows and macOS: no
    drive letter or NTFS stream (`C:`, `javascript:alert(1).md`), no reserved device name, no
    trailing dot or space, no character Windows refuses, no invisible (bidi, zero-width)
    character, at most 255 bytes."""
    return (
        name not in ("", ".", "..")
        and not _NOT_IN_NAMES.search(name)
        and not name.endswith((".", " "))
        and name.split(".")[0].rstrip(" ").upper() not in _RESERVED_NAMES
        and not has_invisible(name)
        and len(name.encode()) <= 255
    )


def document_path(notice: Notice) -> str:
    """Where a notice's document goes: its source file, or `<urlname>.md` (else a hash of the
    urlname) when that path could not be written as it is on every system (issue 11). Only
    the name changes: the bytes are the same."""
    source = PurePosixPath(notice.source_path) if notice.source_path else None
    if (
        source
        and not source.is_absolute()
        and "\\" not in notice.source_path
        and all(portable_name(part) for part in notice.source_path.split("/"))
    ):
        return source.as_posix()
    name = f"{notice.urlname}.md"
    if not portable_name(name):
        name = hashlib.sha1(notice.urlname.encode()).hexdigest() + ".md"
    return name


def _unique_paths(items: Iterable[ExportedNotice]) -> Iterator[tuple[str, ExportedNotice]]:
    # Windows and macOS compare names without case (and macOS without normalisation): two
    # paths equal there would overwrite each other.
    used: set[str] = set()
    for item in items:
        path = document_path(item.notice)
        if _path_key(path) in used:  # two notices from one file (edited in the admin)
            path = f"{hashlib.sha1(item.notice.urlname.encode()).hexdigest()[:12]}-{path}"
        used.add(_path_key(path))
        yield path, item


def _path_key(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


def select_notices(
    *,
    category: str | None = None,
    tag: str | None = None,
    site: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> QuerySet[Notice]:
    """Notices to export: a category path or full name (with its subtree), a tag slug or name,
    a site, and a date range (both ends included). The names are looked up as a command line
    gives them; the selection is the lists' own (filters.NoticeFilters), so an export of a
    category, tag, site or range holds the notices its page lists, days counted in the
    site's time zone (TIME_ZONE) as the pages and feeds count them. Drafts are exported too."""
    chosen: dict[str, Any] = {"site": site or "", "since": since, "until": until}
    if category:
        path = category.strip("/")
        found = Category.objects.filter(Q(path=path) | Q(full_name=category))
        chosen["category"] = min(found, key=lambda c: c.path != path, default=None)
        if chosen["category"] is None:
            return Notice.objects.none()
    if tag:
        tags = Tag.objects.filter(Q(slug=tag) | Q(name=tag))
        found_tag = min(tags, key=lambda t: t.slug != tag, default=None)
        if found_tag is None:
            return Notice.objects.none()
        chosen["tags"] = (found_tag,)
    return NoticeFilters(**chosen).apply(Notice.objects.all()).order_by("source_path", "id")


def export_notices(notices: Iterable[Notice], out_dir: Path) -> int:
    """Write each notice's document under `out_dir`; return how many were written."""
    zone = zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
    out_dir = Path(out_dir)
    count = 0
    for relative, item in _unique_paths(iter_exported(notices)):
        target = out_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(document_bytes(item, zone=zone))
        count += 1
    return count


def export_zip(notices: Iterable[Notice]) -> bytes:
    """The same documents as `export_notices`, as a zip archive in memory."""
    zone = zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative, item in _unique_paths(iter_exported(notices)):
            archive.writestr(relative, document_bytes(item, zone=zone))
    return buffer.getvalue()


def notice_records(*, with_hash: bool = True) -> dict[str, dict[str, Any]]:
    """Every notice as comparable values (fields, tags in order, category paths), by urlname:
    what a round trip must keep. Row ids, import times and the import folder are left out; so
    is the content hash unless `with_hash` (it is the hash of the file's bytes)."""
    skipped = {
        "id",
        "imported_at",
        "edited_at",
        "archive_root",
        *(() if with_hash else ("content_hash",)),
    }
    names = [f.attname for f in Notice._meta.concrete_fields if f.attname not in skipped]
    notices = Notice.objects.order_by("id")
    records: dict[str, dict[str, Any]] = {}
    for item in iter_exported(notices.iterator(chunk_size=1000)):
        record = {name: getattr(item.notice, name) for name in names}
        record["tags"] = item.tags
        record["category_paths"] = sorted(item.category_paths)
        records[item.notice.urlname] = record
    return records
