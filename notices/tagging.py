"""Tags as Chinese editors type them (issue 10).

A Chinese input method gives `，` `、` `；` where taggit expects `,`: taggit alone makes
`研究生，招生，推免` one tag. This parser (TAGGIT_TAGS_FROM_STRING) splits on all of them and on
`;` and `,`; double quotes (ASCII or the IME's “ ”) still group, so a name containing a separator
can be written, and the edit string (TAGGIT_STRING_FROM_TAGS) quotes such names back. With no
separator at all, spaces separate, as in taggit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from taggit.utils import _parse_tags as taggit_parse_tags

from notices.hygiene import strip_invisible

SEPARATORS = "，、；;,"
_SEPARATOR_RE = re.compile(f"[{SEPARATORS}]")
_OPENING_QUOTES = {'"': '"', "“": "”"}
# A name with any of these would be split again if shown bare.
_NEEDS_QUOTES_RE = re.compile(f"[{SEPARATORS}\\s“”]")


def _chunks(text: str) -> tuple[list[str], list[str]]:
    """Quoted names, and the unquoted stretches between them (still to be split)."""
    quoted: list[str] = []
    loose: list[str] = []
    buffer: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        closing = _OPENING_QUOTES.get(char)
        end = text.find(closing, position + 1) if closing else -1
        if end == -1:
            # Not a quote, or one never closed: an unclosed quote is plain text, as in taggit.
            buffer.append(char)
            position += 1
            continue
        loose.append("".join(buffer))
        buffer = []
        name = text[position + 1 : end].strip()
        if name:
            quoted.append(name)
        position = end + 1
    loose.append("".join(buffer))
    return quoted, loose


def parse_tags(text: str | None) -> list[str]:
    """Sorted unique tag names, as taggit's own parser returns them (its form compares them
    sorted with the current tags to decide whether they changed)."""
    if not text:
        return []
    # No bidi controls or zero-width characters in a name, as at import (issue 11).
    text = strip_invisible(text)
    quoted, loose = _chunks(text)
    separated = any(_SEPARATOR_RE.search(chunk) for chunk in loose)
    names = list(quoted)
    for chunk in loose:
        parts = _SEPARATOR_RE.split(chunk) if separated else chunk.split()
        names.extend(part.strip() for part in parts)
    return sorted({name for name in names if name})


def edit_string_for_tags(tags: Iterable[Any]) -> str:
    """The tags as an editor sees them in the form: parse_tags() of it gives them back."""
    names = [getattr(tag, "name", tag) for tag in tags]
    shown = [f'"{name}"' if _NEEDS_QUOTES_RE.search(name) else name for name in names]
    return ", ".join(sorted(shown))


def splits_unlike_taggit(text: str | None) -> bool:
    """Whether this input gives other tags than taggit's own parser would (a Chinese
    separator, `;`, or IME quotes): the editor is shown the tags before they are saved."""
    return parse_tags(text) != taggit_parse_tags(text or "")
