"""A notice's reading aids: ids on its h2–h4 headings, the table of contents linking to them,
tables in a box that scrolls sideways, and whether the page needs a back-to-top link.

Applied at view time to HTML that is already sanitised (nh3 drops every `id`), so the ids
are ours alone; each starts with "toc-" so it cannot collide with the page's own ids.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from itertools import islice

from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

MIN_HEADINGS = 3
MAX_ENTRIES = 100
# A heading longer than this (in HTML) is not a heading a reader navigates by; the bound also
# keeps the lazy match linear on a 1 MB body with an unclosed tag.
MAX_HEADING_HTML = 2000
SLUG_CHARS = 40
# Two desktop screens of Chinese text (some 40 characters a line, 20 lines a screen), four
# on a phone: shorter pages need no back-to-top link.
LONG_BODY_CHARS = 1600

_HEADING = re.compile(
    rf"<h([2-4])((?:\s[^<>]*)?)>(.{{0,{MAX_HEADING_HTML}}}?)</h\1\s*>", re.DOTALL | re.IGNORECASE
)
_TABLE_OPEN = re.compile(r"<table\b", re.IGNORECASE)
_TABLE_CLOSE = re.compile(r"</table\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]*>")
_ID_ATTRIBUTE = re.compile(r"""\sid\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class TocEntry:
    anchor: str
    text: str
    level: int  # 0 for the highest heading level present, 1 and 2 below it


@dataclass(frozen=True)
class Outline:
    html: SafeString
    entries: list[TocEntry]
    long: bool


def outline(body_html: str) -> Outline:
    """Return the body with ids on its headings and the entries of its table of contents
    (empty, and the body unchanged, when it has fewer than MIN_HEADINGS headings)."""
    long = len(body_html) >= LONG_BODY_CHARS
    body_html = _scrolling_tables(body_html)
    headings = [
        (match, text)
        for match in islice(_HEADING.finditer(body_html), MAX_ENTRIES)
        if (text := _heading_text(match[3]))
    ]
    if len(headings) < MIN_HEADINGS:
        return Outline(mark_safe(body_html), [], long)
    top = min(int(match[1]) for match, _ in headings)
    used: set[str] = set()
    entries: list[TocEntry] = []
    parts: list[str] = []
    position = 0
    for number, (match, text) in enumerate(headings, start=1):
        anchor = _unique(f"toc-{slugify(text, allow_unicode=True)[:SLUG_CHARS] or number}", used)
        entries.append(TocEntry(anchor, text, int(match[1]) - top))
        attributes = _ID_ATTRIBUTE.sub("", match[2])
        parts.append(body_html[position : match.start()])
        # The anchor is made of slug characters only, so it needs no quoting beyond this.
        parts.append(f'<h{match[1]} id="{anchor}"{attributes}>{match[3]}</h{match[1]}>')
        position = match.end()
    parts.append(body_html[position:])
    return Outline(mark_safe("".join(parts)), entries, long)


def _scrolling_tables(body_html: str) -> str:
    """Each table in a box of its own that scrolls sideways: a table at its natural width
    inside it keeps short cells (names) on one line on a phone (issue 12)."""
    opened = len(_TABLE_OPEN.findall(body_html))
    if not opened or opened != len(_TABLE_CLOSE.findall(body_html)):
        return body_html
    body_html = _TABLE_OPEN.sub('<div class="table-scroll"><table', body_html)
    return _TABLE_CLOSE.sub("</table></div>", body_html)


def _heading_text(inner_html: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", inner_html)).split())


def _unique(anchor: str, used: set[str]) -> str:
    candidate, suffix = anchor, 2
    while candidate in used:
        candidate, suffix = f"{anchor}-{suffix}", suffix + 1
    used.add(candidate)
    return candidate
