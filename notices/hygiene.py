"""Invisible characters that spoof what a reader sees (issue 11).

Bidi controls (an RLO turns `gpj.exe` round) and zero-width characters (two "equal" tags or
site names that are different strings) are removed from the short fields a reader compares by
eye: titles, site names, tags, category names and urlnames. The importer (notices/documents.py)
and the admin (notices/admin.py, notices/tagging.py) use the same set; bodies are left to the
renderer, and a file's front matter as written is kept as it is (byte-exact export).
"""

from __future__ import annotations

import re

# U+202A–202E embeddings and overrides, U+2066–2069 isolates, U+200E/200F marks, U+061C the
# Arabic letter mark; U+200B–200D zero-width space/non-joiner/joiner, U+2060 word joiner,
# U+FEFF (a BOM inside text is a zero-width no-break space).
INVISIBLE_CHARACTERS = (
    "\u202a\u202b\u202c\u202d\u202e"
    "\u2066\u2067\u2068\u2069"
    "\u200e\u200f\u061c"
    "\u200b\u200c\u200d\u2060\ufeff"
)
_INVISIBLE_RE = re.compile(f"[{INVISIBLE_CHARACTERS}]")


def has_invisible(text: str) -> bool:
    return _INVISIBLE_RE.search(text) is not None


def strip_invisible(text: str) -> str:
    """`text` without bidi controls and zero-width characters."""
    return _INVISIBLE_RE.sub("", text)


def clean_field(text: str) -> tuple[str, int]:
    """(text without invisible characters, how many were removed)."""
    cleaned, removed = _INVISIBLE_RE.subn("", text)
    return cleaned, removed


def removed_message(field_name: str, count: int) -> str:
    """The importer's warning (after `path:line: `) and the admin's note."""
    noun = "character" if count == 1 else "characters"
    return f"{field_name}: removed {count} invisible {noun} (bidi controls or zero-width)"
