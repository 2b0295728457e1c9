"""Markdown to safe HTML: the only place the site makes HTML from archive text.

cmarkgfm (GitHub's cmark, the renderer PyPI uses for READMEs) renders GFM tables,
lists and autolinks in about 0.1 ms per notice; raw HTML in the Markdown is let
through the renderer and then everything goes through nh3's allow-list, so no
script, style, iframe, event handler or javascript:/data: URL survives.
"""

from __future__ import annotations

import ctypes
import itertools
import re
from html import escape, unescape

import nh3
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options

from notices.documents import SOURCE_LINE_PATTERN

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup",
        "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "font",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol",
        "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "summary", "sup",
        "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start"},
    "li": {"value"},
    "code": {"class"},
    "abbr": {"title"},
}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Remote images in notices are fetched without telling their host which page showed them.
IMG_REFERRER = {"img": {"referrerpolicy": "no-referrer", "loading": "lazy"}}

# Raw HTML passes the renderer; sanitize_html() decides what of it survives.
# GITHUB_PRE_LANG is what cmarkgfm.github_flavored_markdown_to_html() adds.
RENDER_OPTIONS = Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_GITHUB_PRE_LANG
GFM_EXTENSIONS = ("table", "autolink", "tagfilter", "strikethrough", "tasklist")

_SANITIZER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(ALLOWED_URL_SCHEMES),
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values=IMG_REFERRER,
    strip_comments=True,
)


# nh3 adds the attributes of set_tag_attribute_values in a per-process hash order, so the
# same notice rendered by two processes differed (`loading` first or `referrerpolicy` first):
# a re-import or an export round trip saw a changed body_html. Sort them back (issue 6).
_IMG_TAG = re.compile(r"<img\b[^>]*>")
_IMG_ADDED = [f'{name}="{value}"' for name, value in IMG_REFERRER["img"].items()]
_IMG_ADDED_ANY_ORDER = re.compile(
    "|".join(" ".join(order) for order in itertools.permutations(_IMG_ADDED))
)


def _img_in_fixed_order(match: re.Match[str]) -> str:
    return _IMG_ADDED_ANY_ORDER.sub(" ".join(_IMG_ADDED), match[0])


def sanitize_html(html: str) -> str:
    return _IMG_TAG.sub(_img_in_fixed_order, _SANITIZER.clean(html))


# cmarkgfm's own wrapper never frees the syntax tree nor the HTML buffer (about 30 KB
# leaked per 6 KB notice: 3 GB over a 100,000-notice import, issue 5), so we drive the
# same C calls and free both through the library's exported cmark_node_free and libc.
_lib, _ffi = _cmark.lib, _cmark.ffi
_native = ctypes.CDLL(_cmark.__file__)
_native.cmark_node_free.argtypes = [ctypes.c_void_p]
_native.cmark_node_free.restype = None
_libc_free = ctypes.CDLL(None).free
_libc_free.argtypes = [ctypes.c_void_p]
_libc_free.restype = None
_lib.cmark_gfm_core_extensions_ensure_registered()
_EXTENSIONS = [_lib.cmark_find_syntax_extension(name.encode()) for name in GFM_EXTENSIONS]


def _address(pointer) -> int:
    return int(_ffi.cast("uintptr_t", pointer))


def markdown_to_html(text: str) -> str:
    """GitHub-flavoured Markdown to (unsanitised) HTML, as cmarkgfm renders it, without leaks."""
    encoded = text.encode("utf-8")
    parser = _lib.cmark_parser_new(RENDER_OPTIONS)
    try:
        for extension in _EXTENSIONS:
            _lib.cmark_parser_attach_syntax_extension(parser, extension)
        _lib.cmark_parser_feed(parser, encoded, len(encoded))
        root = _lib.cmark_parser_finish(parser)
        try:
            extensions = _lib.cmark_parser_get_syntax_extensions(parser)
            buffer = _lib.cmark_render_html(root, RENDER_OPTIONS, extensions)
            try:
                return _ffi.string(buffer).decode("utf-8")
            finally:
                _libc_free(_address(buffer))
        finally:
            _native.cmark_node_free(_address(root))
    finally:
        _lib.cmark_parser_free(parser)


# The sanitiser's HTML parser slows down with the square of element nesting (100,000 nested
# <div>s took over a minute), so deeper bodies are shown as escaped text instead (issue 6).
# Browsers cap DOM depth too (Chromium at 512); real notices stay far below this.
MAX_HTML_DEPTH = 256
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\b[^>]*>")
# Void elements and elements whose end tag is implied never pile up on the parser's stack.
_FLAT_ELEMENTS = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot",
        "option", "optgroup", "rt", "rp", "colgroup",
    }
)  # fmt: skip


def nesting_depth(html: str) -> int:
    """Deepest element nesting in `html`, counted in one linear pass over its tags."""
    depth = deepest = 0
    for match in _TAG.finditer(html):
        if match[2].lower() in _FLAT_ELEMENTS or match[0].endswith("/>"):
            continue
        depth = max(depth - 1, 0) if match[1] else depth + 1
        deepest = max(deepest, depth)
    return deepest


def render_markdown(text: str) -> str:
    """Return sanitised HTML for Markdown `text` (safe to mark as safe)."""
    html = markdown_to_html(text)
    if nesting_depth(html) > MAX_HTML_DEPTH:
        html = f"<pre>{escape(text)}</pre>"
    return sanitize_html(html)


def strip_source_line(body: str) -> str:
    """The body without its trailing 转入文章首发地址 line: the page shows that link on its own."""
    stripped = body.rstrip()
    head, _, last_line = stripped.rpartition("\n")
    if SOURCE_LINE_PATTERN.match(last_line):
        return head
    return body


def render_notice_body(body: str, source_url: str) -> str:
    """The detail page's body HTML: the source line is dropped only when it is shown as a link."""
    return render_markdown(strip_source_line(body) if source_url else body)


_WHITESPACE = re.compile(r"\s+")
_BLOCK_END = re.compile(r"</(?:p|li|h[1-6]|td|th|tr|div|blockquote|pre|dd|dt)>|<br\s*/?>", re.I)


_TEXT_ONLY = nh3.Cleaner(tags=set(), clean_content_tags={"script", "style"})


def plain_text(html: str) -> str:
    """Visible text of sanitised HTML, whitespace collapsed (for excerpts and search)."""
    # Block ends become spaces so paragraphs do not run into each other.
    html = _BLOCK_END.sub(" ", html)
    text = _TEXT_ONLY.clean(html)
    # Text, not HTML: templates escape it again where it is shown.
    return _WHITESPACE.sub(" ", unescape(text)).strip()


# An excerpt needs the first few hundred characters: stripping tags from a prefix of
# the HTML gives the same text up to near the cut, at a tenth of the cost (issue 5).
_EXCERPT_HTML_FACTOR = 8
_EXCERPT_MARGIN = 40


def excerpt(html: str, length: int = 140) -> str:
    prefix = html[: (length + _EXCERPT_MARGIN) * _EXCERPT_HTML_FACTOR]
    text = plain_text(prefix)
    if len(prefix) == len(html) or len(text) < length + _EXCERPT_MARGIN:
        text = plain_text(html)
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"
