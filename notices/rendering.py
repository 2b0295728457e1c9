"""Markdown to safe HTML: the only place the site makes HTML from archive text.

cmarkgfm (GitHub's cmark, the renderer PyPI uses for READMEs) renders GFM tables,
lists and autolinks in about 0.1 ms per notice; raw HTML in the Markdown is let
through the renderer and then everything goes through nh3's allow-list, so no
script, style, iframe, event handler or javascript:/data: URL survives.

A body goes (issue 9): Hexo's `{% … %}` tags to placeholders (notices/hexo_tags.py) ->
cmark -> scripts and styles removed, embeds turned into link blocks -> the tags' HTML put
back -> links with schemes the sanitiser drops turned into text -> nh3. Nothing reaches the
page without passing nh3 last.
"""

from __future__ import annotations

import bisect
import ctypes
import functools
import itertools
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from html import escape, unescape
from typing import Any

import nh3
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options

from notices import hexo_tags
from notices.documents import SOURCE_LINE_PATTERN
from notices.hexo_tags import PostResolver, TagOptions

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col",
        "colgroup", "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure",
        "font", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
        "li", "mark", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub",
        "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start"},
    "li": {"value"},
    "code": {"class"},  # only language-* (_class_filter)
    "abbr": {"title"},
}
# Embeds shown as a link block, and Hexo's pullquote.
ALLOWED_CLASSES = {"p": {"embed"}, "span": {"embed"}, "blockquote": {"pullquote"}}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Remote images in notices are fetched without telling their host which page showed them.
IMG_REFERRER = {"img": {"referrerpolicy": "no-referrer", "loading": "lazy"}}

# Raw HTML passes the renderer; remove_unsafe_elements() and sanitize_html() decide what of it
# survives. GITHUB_PRE_LANG is what cmarkgfm.github_flavored_markdown_to_html() adds. No
# "tagfilter" extension: it showed <script>, <style> and <iframe> as escaped text (issue 9);
# remove_unsafe_elements() removes them instead and escapes the rest of what tagfilter did.
RENDER_OPTIONS = Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_GITHUB_PRE_LANG
GFM_EXTENSIONS = ("table", "autolink", "strikethrough", "tasklist")


def _cleaner(embed_hosts: frozenset[str] = frozenset()) -> nh3.Cleaner:
    tags, attributes = set(ALLOWED_TAGS), {tag: set(a) for tag, a in ALLOWED_ATTRIBUTES.items()}
    options: dict[str, Any] = {}
    if embed_hosts:
        # Frames only from the allowed hosts, always sandboxed (hexo_tags.embed_html makes them;
        # the filter is the sanitiser's own check of every frame's address).
        tags.add("iframe")
        attributes["iframe"] = {"src", "width", "height", "title", "allowfullscreen", "loading"}
        options["tag_attribute_values"] = {
            "iframe": {"referrerpolicy": {hexo_tags.EMBED_REFERRER_POLICY}}
        }
    return nh3.Cleaner(
        attribute_filter=functools.partial(_attribute_filter, embed_hosts),
        tags=tags,
        attributes=attributes,
        allowed_classes={tag: set(names) for tag, names in ALLOWED_CLASSES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={**IMG_REFERRER, "iframe": {"sandbox": hexo_tags.EMBED_SANDBOX}},
        clean_content_tags={"script", "style"},
        strip_comments=True,
        **options,
    )


# A body's classes are only those rendering makes (issue 11): any other value could borrow the
# site's own CSS (a notice styled as a warning banner, or hidden). `language-*` marks code.
_CODE_CLASS = re.compile(r"language-[\w+#.-]{1,40}")


def _attribute_filter(hosts: frozenset[str], tag: str, name: str, value: str) -> str | None:
    if tag == "code" and name == "class":
        kept = [word for word in value.split() if _CODE_CLASS.fullmatch(word)]
        return kept[0] if kept else None
    if tag == "iframe" and name == "src" and not hexo_tags.embeddable(value, hosts):
        return None
    return value


_SANITIZER = _cleaner()


@functools.lru_cache(maxsize=4)
def _embedding_sanitizer(embed_hosts: frozenset[str]) -> nh3.Cleaner:
    return _cleaner(embed_hosts)


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


def sanitize_html(html: str, embed_hosts: frozenset[str] = frozenset()) -> str:
    cleaner = _embedding_sanitizer(embed_hosts) if embed_hosts else _SANITIZER
    return _IMG_TAG.sub(_img_in_fixed_order, cleaner.clean(html))


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


# A tag with no `>` before the next `<` is read by the HTML parser to the body's end, or to
# some later `>`; with many attributes the sanitiser's parser takes time with the square of
# their number (40,000 took 2 s, issue 9). Such tags are shown as text; real ones are short.
MAX_TAG_ATTRIBUTES = 256
_LONG_TAG = 2048
_TAG_START = re.compile(r"<(?=/?[A-Za-z])[^<>]*(>?)")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_BLANKS = re.compile(r"\s+")


def escape_runaway_tags(html: str) -> str:
    """`html` with tags the sanitiser's parser cannot read in linear time escaped as text."""
    parts: list[str] = []
    position = 0
    for match in _TAG_START.finditer(html):
        tag = match[0]
        if match[1] and (len(tag) < _LONG_TAG or _attribute_count(tag) <= MAX_TAG_ATTRIBUTES):
            continue
        parts += [html[position : match.start()], "&lt;"]
        position = match.start() + 1
    if not parts:
        return html
    parts.append(html[position:])
    return "".join(parts)


def _attribute_count(tag: str) -> int:
    return len(_BLANKS.findall(_QUOTED.sub('""', tag)))


# The sanitiser's HTML parser slows down with the square of element nesting (100,000 nested
# <div>s took over a minute), so deeper bodies are shown as escaped text instead (issue 6).
# Browsers cap DOM depth too (Chromium at 512); real notices stay far below this.
MAX_HTML_DEPTH = 256
# [^<>]: a tag never runs into the next `<` (escape_runaway_tags() made sure), and the search
# stays linear ([^>]* took 4 s for 0.24 MB of `<div "`).
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)\b[^<>]*>")
# nesting_depth() follows the HTML parser's tree construction (WHATWG "in body") closely
# enough never to count less than it builds: `<div/>` opens a div (only void elements and
# foreign SVG/MathML elements close themselves), an end tag closes only what the parser
# would close, and the ends the parser implies (p, li, td ...) are implied (issue 11).
_VOID_ELEMENTS = frozenset(
    {
        "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img",
        "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
        "html", "head", "body", "frameset",  # merged into the existing ones, never nested
    }
)  # fmt: skip
_SPECIAL = frozenset(
    {
        "address", "applet", "area", "article", "aside", "base", "basefont", "bgsound",
        "blockquote", "body", "br", "button", "caption", "center", "col", "colgroup", "dd",
        "details", "dir", "div", "dl", "dt", "embed", "fieldset", "figcaption", "figure",
        "footer", "form", "frame", "frameset", "h1", "h2", "h3", "h4", "h5", "h6", "head",
        "header", "hgroup", "hr", "html", "iframe", "img", "input", "keygen", "li", "link",
        "listing", "main", "marquee", "menu", "meta", "nav", "noembed", "noframes", "noscript",
        "object", "ol", "p", "param", "plaintext", "pre", "script", "search", "section",
        "select", "source", "style", "summary", "table", "tbody", "td", "template", "textarea",
        "tfoot", "th", "thead", "title", "tr", "track", "ul", "wbr", "xmp",
        "mi", "mo", "mn", "ms", "mtext", "annotation-xml", "foreignobject", "desc",
    }
)  # fmt: skip
# An li's implied end is not stopped by these special elements (the spec's exception).
_LI_TRANSPARENT = frozenset({"address", "div", "p"})
_SCOPE = ("applet", "caption", "html", "table", "td", "th", "marquee", "object", "template")
_SCOPE_BY_END = {"p": (*_SCOPE, "button"), "li": (*_SCOPE, "ol", "ul")}
_TABLE_SCOPE = ("html", "table", "template")
# The scopes each boundary element belongs to, so a scope's latest boundary is one lookup.
_SCOPE_KINDS: dict[str, tuple[str, ...]] = {}
for _kind, _names in {
    "default": _SCOPE,
    "p": _SCOPE_BY_END["p"],
    "li": _SCOPE_BY_END["li"],
    "table": _TABLE_SCOPE,
}.items():
    for _name in _names:
        _SCOPE_KINDS[_name] = (*_SCOPE_KINDS.get(_name, ()), _kind)
_TABLE_PARTS = frozenset({"tr", "td", "th", "tbody", "thead", "tfoot", "caption", "table"})
_CLOSES_P = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir",
        "div", "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "main",
        "menu", "nav", "ol", "p", "search", "section", "summary", "ul", "h1", "h2", "h3", "h4",
        "h5", "h6", "pre", "listing", "form", "table", "hr", "li", "dd", "dt", "plaintext",
        "xmp",
    }
)  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Start tags that end the cell, row or section open in the same table (with what is in it).
_SECTIONS = ("tbody", "thead", "tfoot")
_TABLE_IMPLIED = {
    "td": ("td", "th"),
    "th": ("td", "th"),
    "tr": ("tr",),
    "tbody": _SECTIONS,
    "thead": _SECTIONS,
    "tfoot": _SECTIONS,
}
_LIST_ITEMS = {"li": ("li",), "dd": ("dd", "dt"), "dt": ("dd", "dt")}
_SAME_LEVEL = {
    "option": ("option",),
    "optgroup": ("option", "optgroup"),
    "rt": ("rt", "rp"),
    "rp": ("rt", "rp"),
}
_FOREIGN_ROOTS = frozenset({"svg", "math"})
_INTEGRATION_POINTS = frozenset(
    {"foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext", "annotation-xml"}
)
# HTML start tags that end SVG/MathML content (the spec's "breakout" list).
_BREAKOUT = frozenset(
    {
        "b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt",
        "em", "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li",
        "listing", "menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span",
        "strong", "strike", "sub", "sup", "table", "tt", "u", "ul", "var", "font",
    }
)  # fmt: skip


# Formatting elements closed by another element's end are reopened by the parser before the
# next text (its list of active formatting elements), so they still count.
_FORMATTING = frozenset(
    {
        "a",
        "b",
        "big",
        "code",
        "em",
        "font",
        "i",
        "nobr",
        "s",
        "small",
        "strike",
        "strong",
        "tt",
        "u",
    }
)
_TEXT_ONLY_PASSES = 3
_TEXT_ONLY_ELEMENT = re.compile(
    r"<([A-Za-z][A-Za-z0-9]*)\b[^<>]*>[^<]*(?:<(?:br|img|hr|wbr)\b[^<>]*>[^<]*)*</\1\s*>",
    re.IGNORECASE,
)
# A paragraph, item or cell whose end the next one implies, holding only text.
_IMPLIED_END_ELEMENT = re.compile(
    r"<(p|li|dd|dt|td|th|option)\b[^<>]*>[^<]*(?:<(?:br|img|hr|wbr)\b[^<>]*>[^<]*)*"
    r"(?=<\1[\s/>])",
    re.IGNORECASE,
)
# In SVG or MathML an HTML tag (`<b>`) ends the foreign content: nothing may be skipped there.
_FOREIGN = re.compile(r"<(?:svg|math)\b", re.IGNORECASE)


class _OpenElements:
    """The parser's stack of open elements, with the position of the latest element of each
    name and of each special one, so every question is answered without walking the stack."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.foreign: list[bool] = []
        self.foreign_open = 0
        self.reopened = 0
        self.at: dict[str, list[int]] = {}
        self.special_at: list[int] = []
        self.li_stop_at: list[int] = []  # special elements an li's implied end stops at
        self.boundary_at: dict[str, list[int]] = {"default": [], "p": [], "li": [], "table": []}

    def latest(self, *names: str) -> int:
        best = -1
        for name in names:
            indexes = self.at.get(name)
            if indexes and indexes[-1] > best:
                best = indexes[-1]
        return best

    def push(self, name: str, foreign: bool) -> None:
        index = len(self.names)
        self.names.append(name)
        self.foreign.append(foreign)
        self.foreign_open += foreign
        self.at.setdefault(name, []).append(index)
        if name in _SPECIAL:
            self.special_at.append(index)
            if name not in _LI_TRANSPARENT:
                self.li_stop_at.append(index)
        for kind in _SCOPE_KINDS.get(name, ()):
            self.boundary_at[kind].append(index)

    def pop_to(self, length: int) -> None:
        while len(self.names) > length:
            index = len(self.names) - 1
            name = self.names.pop()
            if name in _FORMATTING and index > length:
                # Closed by another element's end: the parser reopens it at the next text.
                self.reopened += 1
            self.foreign_open -= self.foreign.pop()
            self.at[name].pop()
            if self.special_at and self.special_at[-1] == index:
                self.special_at.pop()
            if self.li_stop_at and self.li_stop_at[-1] == index:
                self.li_stop_at.pop()
            for kind in _SCOPE_KINDS.get(name, ()):
                self.boundary_at[kind].pop()

    def boundary(self, scope: str) -> int:
        """Where the latest boundary element of `scope` is (-1: none)."""
        positions = self.boundary_at[scope]
        return positions[-1] if positions else -1

    def close_in_scope(self, names: tuple[str, ...], scope: str) -> None:
        """Pop to the latest of `names` if no `scope` boundary was opened after it."""
        index = self.latest(*names)
        if index >= 0 and index >= self.boundary(scope):
            self.pop_to(index)

    def in_foreign(self) -> bool:
        return (
            self.foreign_open > 0 and self.foreign[-1] and self.names[-1] not in _INTEGRATION_POINTS
        )


def nesting_depth(html: str, stop_above: int | None = None) -> int:
    """Deepest element nesting the HTML parser builds for `html`, or more, in one linear pass;
    the first depth over `stop_above` is returned as soon as it is reached."""
    stack = _OpenElements()
    names = stack.names
    # An element holding only text adds one level where it is: counted once (the + 1), its
    # tags need not be walked (a 2 MB body of `<b>a</b>` took 2.5 s in this loop).
    removed = 0
    for _ in range(_TEXT_ONLY_PASSES if not _FOREIGN.search(html) else 0):
        html, found = _TEXT_ONLY_ELEMENT.subn("x", html)
        html, implied = _IMPLIED_END_ELEMENT.subn("x", html)
        if not found and not implied:
            break
        removed += 1
    deepest = 0
    for match in _TAG.finditer(html):
        name = match[2].lower()
        if match[1]:
            if stack.at.get(name):
                _end_tag(stack, name)
            elif stack.reopened and name in _FORMATTING:
                stack.reopened -= 1
            continue
        if stack.foreign_open and stack.in_foreign():
            if name in _BREAKOUT:
                while stack.in_foreign():
                    stack.pop_to(len(stack.names) - 1)
            elif match[0].endswith("/>"):
                continue
            else:
                stack.push(name, True)
                deepest = max(deepest, len(names))
                continue
        if name in _VOID_ELEMENTS:
            continue
        _start_tag(stack, name)
        if len(names) + stack.reopened > deepest:
            deepest = len(names) + stack.reopened
            if stop_above is not None and deepest > stop_above:
                break
    return deepest + removed


def _start_tag(stack: _OpenElements, name: str) -> None:
    if name in _LIST_ITEMS and stack.latest(*_LIST_ITEMS[name]) >= 0:
        # The latest li (dd, dt) ends unless a special element other than address, div or p
        # was opened after it: the li is then the latest such element itself.
        index = stack.latest(*_LIST_ITEMS[name])
        if index >= 0 and stack.li_stop_at and stack.li_stop_at[-1] == index:
            stack.pop_to(index)
    elif name in _SAME_LEVEL:
        if stack.names and stack.names[-1] in _SAME_LEVEL[name]:
            stack.pop_to(len(stack.names) - 1)
    elif name in _TABLE_IMPLIED:
        stack.close_in_scope(_TABLE_IMPLIED[name], "table")
        table = stack.latest("table")
        # The parser inserts the tbody and tr a bare cell needs.
        if table >= 0 and name in ("td", "th", "tr") and stack.latest(*_SECTIONS) < table:
            stack.push("tbody", False)
        if table >= 0 and name in ("td", "th") and stack.latest("tr") < table:
            stack.push("tr", False)
    if name in _CLOSES_P and stack.at.get("p"):
        stack.close_in_scope(("p",), "p")
    if name in _HEADINGS and stack.names and stack.names[-1] in _HEADINGS:
        stack.pop_to(len(stack.names) - 1)
    stack.push(name, name in _FOREIGN_ROOTS)


def _end_tag(stack: _OpenElements, name: str) -> None:
    index = stack.latest(name)
    if index < 0:
        return  # a stray end tag closes nothing
    if name in _TABLE_PARTS:
        if index >= stack.boundary("table"):
            stack.pop_to(index)
    elif name in _SPECIAL:
        if index >= stack.boundary(name if name in ("p", "li") else "default"):
            stack.pop_to(index)
    elif index > (stack.special_at[-1] if stack.special_at else -1):
        # Any other element (and a formatting one with no block after it) closes only when
        # no special element was opened after it.
        stack.pop_to(index)


# --- Raw HTML that cannot be allowed ------------------------------------------------------

# In cmark's output, code is escaped: every `<` that starts one of these is the author's raw
# HTML. Scripts and styles go with their content (their text would only be noise, in the page,
# its excerpt and the search index); players, maps and other embeds become a link block naming
# what was embedded; the rest is escaped as GFM's tagfilter does. `p` is tracked to choose a
# block or an inline link block. [^<>]* keeps each search step within one tag: linear.
_RAW_ELEMENT = re.compile(
    r"<(/?)(p|script|style|iframe|video|audio|object|embed|title|textarea|xmp|noembed"
    r"|noframes|plaintext)(?=[\s/>])([^<>]*)>",
    re.IGNORECASE,
)
_UNSAFE_ELEMENT = re.compile(
    r"<(/?)(script|style|iframe|video|audio|object|embed|title|textarea|xmp|noembed"
    r"|noframes|plaintext)(?=[\s/>])([^<>]*)>",
    re.IGNORECASE,
)
_RAW_ELEMENT_END = re.compile(
    r"</(script|style|iframe|video|audio|object)(?=[\s/>])[^<>]*>", re.IGNORECASE
)
_REMOVED_WITH_CONTENT = frozenset({"script", "style"})
_EMBEDS = frozenset({"iframe", "video", "audio", "object", "embed"})
_MEDIA_SOURCE = re.compile(r"<source\b([^<>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(
    r"""(?:^|\s)([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.IGNORECASE
)


def html_attributes(tag_text: str) -> dict[str, str]:
    """Attribute values (unescaped) of a start tag's text after its name; the first wins."""
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(tag_text):
        value = next(group for group in match.groups()[1:] if group is not None)
        found.setdefault(match[1].lower(), unescape(value))
    return found


def remove_unsafe_elements(html: str, embed_hosts: Collection[str] = ()) -> str:
    """cmark's output with scripts and styles removed and embeds shown as link blocks."""
    if "<" not in html or not _UNSAFE_ELEMENT.search(html):
        return html  # paragraphs alone are kept as they are: most notices
    ends: dict[str, list[tuple[int, int]]] = {}
    for match in _RAW_ELEMENT_END.finditer(html):
        ends.setdefault(match[1].lower(), []).append((match.start(), match.end()))
    parts: list[str] = []
    position = 0
    in_paragraph = embedded = False
    while match := _RAW_ELEMENT.search(html, position):
        closing, name = match[1], match[2].lower()
        parts.append(html[position : match.start()])
        position = match.end()
        if name == "p":
            in_paragraph = not closing
            parts.append(match[0])
            continue
        if closing:
            if name not in _REMOVED_WITH_CONTENT and name not in _EMBEDS:
                parts.append("&lt;" + match[0][1:])
            continue  # a stray end tag: the sanitiser would drop it anyway
        end = _element_end(ends.get(name, []), match.end()) if name != "embed" else None
        if name in _REMOVED_WITH_CONTENT:
            if end is None:  # never closed: it is text about the tag, not the tag
                parts.append("&lt;" + match[0][1:])
            else:
                position = end[1]
            continue
        if name not in _EMBEDS:
            parts.append("&lt;" + match[0][1:])  # as GFM's tagfilter
            continue
        inner = html[match.end() : end[0]] if end else ""
        parts.append(_embed_block(name, match[3], inner, embed_hosts, block=not in_paragraph))
        embedded = True
        if end:
            position = end[1]
    parts.append(html[position:])
    html = "".join(parts)
    return _EMBED_PARAGRAPH.sub(r'<p class="embed">\1</p>', html) if embedded else html


# A paragraph holding nothing but one embed (`<video …>…</video>` on a line of its own is not an
# HTML block for CommonMark) is the link block itself.
_EMBED_PARAGRAPH = re.compile(
    r'<p>\s*<span class="embed">([^<]*(?:<(?!/?span\b)[^<]*)*)</span>\s*</p>'
)


def _element_end(ends: list[tuple[int, int]], after: int) -> tuple[int, int] | None:
    at = bisect.bisect_left(ends, (after, after))
    return ends[at] if at < len(ends) else None


def _embed_block(
    name: str, tag_text: str, inner: str, embed_hosts: Collection[str], *, block: bool
) -> str:
    attributes = html_attributes(tag_text)
    source = attributes.get("src") or attributes.get("data") or ""
    if not source and name in {"video", "audio"}:
        first = _MEDIA_SOURCE.search(inner)
        source = html_attributes(first[1]).get("src", "") if first else ""
    frame = source if name == "iframe" else None
    size = attributes.get("width", ""), attributes.get("height", "")
    return hexo_tags.embed_html(name, source, frame, embed_hosts, block=block, size=size)


# Links the sanitiser would make dead (ftp:, apt:, magnet: ...) keep their address as text.
_LINK_START = re.compile(r"<a\s([^<>]*)>", re.IGNORECASE)
_LINK_END = re.compile(r"</a\s*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^<>]*>")


def show_unsupported_link_addresses(html: str) -> str:
    """Links whose scheme the sanitiser drops become their text followed by the address."""
    if "<a" not in html and "<A" not in html:
        return html
    ends = [match.span() for match in _LINK_END.finditer(html)]
    parts: list[str] = []
    position = 0
    for match in _LINK_START.finditer(html):
        if match.start() < position:
            continue
        address = html_attributes(match[1]).get("href", "")
        scheme = hexo_tags.url_scheme(address)
        if not scheme or scheme in ALLOWED_URL_SCHEMES or scheme in hexo_tags.HIDDEN_SCHEMES:
            continue
        end = _element_end(ends, match.end())
        inner = html[match.end() : end[0]] if end else ""
        shown = escape(address.strip())
        text = unescape(_ANY_TAG.sub("", inner)).strip()
        parts += [html[position : match.start()], inner]
        if text != address.strip():
            parts.append(f" ({shown})" if text else shown)
        position = end[1] if end else match.end()
    parts.append(html[position:])
    return "".join(parts)


# --- From a notice's body to its page ---------------------------------------------------

# Hexo's excerpt marker (its own pattern is /<!-- ?more ?-->/i), found in cmark's output,
# where it can only be a real comment: in code it is escaped.
_MORE = re.compile(r"<!--\s*more\s*-->", re.IGNORECASE)
SUMMARY_LENGTH = 140


@dataclass(frozen=True)
class RenderedBody:
    html: str
    # The sanitised HTML before `<!-- more -->` (the list excerpt), None without the marker.
    lead_html: str | None = None


def configured_embed_hosts() -> frozenset[str]:
    from django.conf import settings

    return frozenset(host.lower() for host in getattr(settings, "NOTICES_EMBED_HOSTS", ()))


class _OverLimit(Exception):
    """cmark's HTML of a body is already over a limit (its message)."""


def _unsanitised_html(text: str, options: TagOptions) -> str:
    """Markdown with Hexo's tags expanded to HTML, embeds as link blocks, not yet sanitised."""

    def fragment_html(markdown: str) -> str:
        html = markdown_to_html(markdown)
        if len(html) > MAX_RENDERED_HTML:
            raise _OverLimit(f"HTML over {_size(MAX_RENDERED_HTML)}")  # spare the passes below
        return remove_unsafe_elements(html, options.embed_hosts)

    expansion = hexo_tags.expand_tags(text, options, fragment_html)
    return expansion.restore(fragment_html(expansion.markdown))


def render_body(
    text: str,
    *,
    resolve_post: PostResolver | None = None,
    embed_hosts: Collection[str] | None = None,
) -> RenderedBody:
    """Sanitised HTML for Markdown `text` with Hexo's tags, and its lead before the marker;
    a body over a rendering limit is shown as (escaped, perhaps cut) text with a note."""
    hosts = configured_embed_hosts() if embed_hosts is None else frozenset(embed_hosts)
    limit = markdown_over_limit(text)
    if limit:
        return shown_as_text(text, limit)
    try:
        html = _unsanitised_html(text, TagOptions(resolve_post=resolve_post, embed_hosts=hosts))
    except _OverLimit as over:
        return shown_as_text(text, str(over))
    html = escape_runaway_tags(html)
    limit = html_over_limit(html, len(text))
    if limit:
        return shown_as_text(text, limit)
    html = show_unsupported_link_addresses(html)
    more = _MORE.search(html)
    lead_html = sanitize_html(html[: more.start()], hosts) if more else None
    body_html = sanitize_html(html, hosts)
    if len(body_html) > MAX_RENDERED_HTML:  # the sanitiser's rel="…" on many links
        return shown_as_text(text, f"HTML over {_size(MAX_RENDERED_HTML)}")
    return RenderedBody(body_html, lead_html)


# --- Bounded rendering (issue 11) ---------------------------------------------------------

# A 96 KB file of 16 tables × 1,000 columns × 1,000 one-cell rows rendered to 84 MB (cmark pads
# every row to the header's width): 32 s and 3.5 GB to import, then every page showing it was as
# slow. These limits keep each body's HTML, and so every page, feed and index built from it,
# small; real notices are far below them (the largest sample notice is about 60 KB of HTML).
# 1 MB: a page, feed entry or export of the largest body stays under 2 MB with the site's own.
MAX_RENDERED_HTML = 1024 * 1024
# Markdown renders to about 1–3 times its length; Hexo tags and link blocks to more.
MAX_HTML_PER_INPUT_CHARACTER = 20
MIN_HTML_LIMIT = 100_000  # a short body with a few embeds is not a blow-up
MAX_TABLE_COLUMNS = 100
MAX_TABLE_CELLS = 20_000
# What of a body over a limit is shown: escaped, at most 6 times longer (`&quot;`), under 1 MB.
SHOWN_AS_TEXT_CHARACTERS = 128 * 1024
RENDER_LIMIT_CLASS = "render-limit"

# A GFM table's delimiter row (`| --- | :-: |`); its dashes give the column count, and the
# table runs to the next blank line. Each pattern step stays within one line: linear.
_DELIMITER_ROW = re.compile(
    r"^[ \t]*\|?(?:[ \t]*:?-+:?[ \t]*\|)+[ \t]*(?::?-+:?[ \t]*)?$", re.MULTILINE
)
_DASHES = re.compile(r"-+")
# `> > > …` or `- - - …` on one line: a blockquote or list per marker (1 MB of `>` made 13 MB
# of HTML nested a million deep). Nesting by indentation needs lines as long as it is deep.
_DEEP_MARKERS = re.compile(
    rf"^[ \t]*(?:(?:>[ \t]*)|(?:[-+*]|\d{{1,9}}[.)])[ \t]+){{{MAX_HTML_DEPTH + 1}}}", re.MULTILINE
)
_BLANK_LINE = re.compile(r"\n[ \t]*(?:\n|$)")
_TABLE_CELL = re.compile(r"<t[dh][\s>/]", re.IGNORECASE)


def markdown_over_limit(text: str) -> str | None:
    """Which limit the Markdown passes, seen before cmark renders it, or None."""
    if len(text) > MAX_RENDERED_HTML:
        # Its HTML would be longer still: not worth the second of rendering it.
        return f"a body over {_size(MAX_RENDERED_HTML)}"
    if _DEEP_MARKERS.search(text):
        return f"blocks nested deeper than {MAX_HTML_DEPTH}"
    if "-" not in text or "|" not in text:
        return None
    cells = 0
    table_end = 0
    for row in _DELIMITER_ROW.finditer(text):
        if row.start() < table_end:
            continue  # a body row of the table already counted
        columns = len(_DASHES.findall(row[0]))
        if columns > MAX_TABLE_COLUMNS:
            return f"a table of {columns:,} columns (limit {MAX_TABLE_COLUMNS})"
        blank = _BLANK_LINE.search(text, row.end())
        table_end = blank.start() if blank else len(text)
        rows = 1 + text.count("\n", row.end(), table_end)  # the header and the body rows
        cells += columns * rows
        if cells > MAX_TABLE_CELLS:
            return f"tables of over {MAX_TABLE_CELLS:,} cells"
    return None


def html_over_limit(html: str, input_length: int) -> str | None:
    """Which limit the (unsanitised) HTML of a body passes, or None."""
    size_limit = min(
        MAX_RENDERED_HTML, max(MIN_HTML_LIMIT, MAX_HTML_PER_INPUT_CHARACTER * input_length)
    )
    if len(html) > size_limit:
        if size_limit == MAX_RENDERED_HTML:
            return f"HTML over {_size(MAX_RENDERED_HTML)}"
        return f"HTML over {MAX_HTML_PER_INPUT_CHARACTER} times the body's length"
    cells = len(_TABLE_CELL.findall(html))
    if cells > MAX_TABLE_CELLS:
        return f"tables of over {MAX_TABLE_CELLS:,} cells"
    if nesting_depth(html, stop_above=MAX_HTML_DEPTH) > MAX_HTML_DEPTH:
        return f"elements nested deeper than {MAX_HTML_DEPTH}"
    return None


def _size(length: int) -> str:
    return f"{length / (1024 * 1024):g} MB" if length >= 1024 * 1024 else f"{length // 1024} KB"


def shown_as_text(text: str, limit: str) -> RenderedBody:
    """A body over `limit` as escaped text after a short note saying so (in both languages: the
    HTML is stored once). The note's class cannot come from a body: the sanitiser drops it."""
    cut = len(text) > SHOWN_AS_TEXT_CHARACTERS
    shown = f"<pre>{escape(text[:SHOWN_AS_TEXT_CHARACTERS])}</pre>"
    note = (
        f'<p class="{RENDER_LIMIT_CLASS}">'
        f"正文超出显示限制，以纯文本显示{'（已截断）' if cut else ''}。"
        f" Body shown as text{' (cut)' if cut else ''}: {escape(limit)}.</p>"
    )
    return RenderedBody(note + shown, lead_html=shown)


_LIMIT_NOTE = re.compile(
    rf'<p class="{RENDER_LIMIT_CLASS}">[^<]*? Body shown as text(?: \(cut\))?: ([^<]*)\.</p>'
)


def render_limit(body_html: str) -> str | None:
    """The limit a body's stored HTML says it passed (shown_as_text()), or None."""
    note = _LIMIT_NOTE.match(body_html)
    return unescape(note[1]) if note else None


def render_markdown(text: str) -> str:
    """Return sanitised HTML for Markdown `text` (safe to mark as safe)."""
    return render_body(text).html


def strip_source_line(body: str) -> str:
    """The body without its trailing 转入文章首发地址 line: the page shows that link on its own."""
    stripped = body.rstrip()
    head, _, last_line = stripped.rpartition("\n")
    if SOURCE_LINE_PATTERN.match(last_line):
        return head
    return body


def render_notice(
    body: str,
    source_url: str,
    *,
    resolve_post: PostResolver | None = None,
    resolve_link: LinkResolver | None = None,
    embed_hosts: Collection[str] | None = None,
) -> RenderedBody:
    """A notice's body HTML and lead: the source line is dropped only when it is shown as a
    link. `resolve_post(name)` gives the title of the notice a `{% post_link name %}` names;
    `resolve_link(href)` the address here of a link to another post's old address."""
    text = strip_source_line(body) if source_url else body
    rendered = render_body(text, resolve_post=resolve_post, embed_hosts=embed_hosts)
    if resolve_link is None:
        return rendered
    lead = rendered.lead_html
    return RenderedBody(
        rewrite_links(rendered.html, resolve_link),
        rewrite_links(lead, resolve_link) if lead is not None else None,
    )


LinkResolver = Callable[[str], str | None]
# nh3 writes every attribute double-quoted, with `"` and `&` escaped inside.
_LINK_HREF = re.compile(r'(<a\s[^>]*?\bhref=")([^"]*)(")')


def rewrite_links(html: str, resolve_link: LinkResolver) -> str:
    """Sanitised HTML with each link `resolve_link` knows pointed at its new address."""

    def replace(match: re.Match[str]) -> str:
        target = resolve_link(unescape(match[2]))
        return f"{match[1]}{escape(target)}{match[3]}" if target else match[0]

    return _LINK_HREF.sub(replace, html)


def render_notice_body(
    body: str,
    source_url: str,
    *,
    resolve_post: PostResolver | None = None,
    embed_hosts: Collection[str] | None = None,
) -> str:
    """The detail page's body HTML (render_notice() without the lead)."""
    return render_notice(body, source_url, resolve_post=resolve_post, embed_hosts=embed_hosts).html


_WHITESPACE = re.compile(r"\s+")
_BLOCK_END = re.compile(r"</(?:p|li|h[1-6]|td|th|tr|div|blockquote|pre|dd|dt)>|<br\s*/?>", re.I)


# A tag of sanitised HTML, as nh3 writes it out: attribute values always in double quotes
# (holding no `"`; `>` too is written &gt;), every `<` of text escaped, no comments, no
# script or style left. Removing
# such tags leaves the text, as a second nh3 pass with no tags allowed did at 5-10 times the
# cost (issue 13). The second form is a tag cut off by the end of a prefix (excerpt()).
_SANITISED_TAG = re.compile(r'</?[A-Za-z](?:[^>"]|"[^"]*")*(?:>|"[^"]*$|$)')


# Rendering a notice asks for the text of its whole body up to three times (the summary's
# opening and excerpt, then the search index): half of the calls were repeats (issue 13).
@functools.lru_cache(maxsize=4)
def plain_text(html: str) -> str:
    """Visible text of sanitised HTML (or of a prefix of it), whitespace collapsed (for
    excerpts and search)."""
    # Block ends become spaces so paragraphs do not run into each other.
    text = _SANITISED_TAG.sub("", _BLOCK_END.sub(" ", html))
    # Text, not HTML: templates escape it again where it is shown.
    return _WHITESPACE.sub(" ", unescape(text)).strip()


# An excerpt needs the first few hundred characters: stripping tags from a prefix of
# the HTML gives the same text up to near the cut, at a tenth of the cost (issue 5).
_EXCERPT_HTML_FACTOR = 8
_EXCERPT_MARGIN = 40


# Lines a notice opens with that say nothing about it (issue 12): an address ("各学院、各部门：",
# "尊敬的用户：", "Dear all,"), a greeting ("大家好！"), or a bare word such as "通知". A list
# shows two lines of excerpt; these took the first of them on almost every notice.
_LINE_END = re.compile(
    r"\n|<br\s*/?>|</(?:p|li|h[1-6]|div|blockquote|dd|dt|td|th|tr)>", re.IGNORECASE
)
_OPENING_LINES = 4  # an opening is at most a word, an address and a greeting (and one spare)
_OPENING_HTML = 2000  # ... within the HTML's first characters: the cost stays bounded
_SALUTATION_CHARS = 40
# An address ends with a colon, holds no sentence, and opens like one ("各学院、各部门：",
# "尊敬的用户：") or names people ("全校师生：", "老师们、同学们："). Lead-ins end with a
# colon too ("现将有关事项通知如下：", "基本参数：", "需要四步：") and are kept.
_ADDRESS = re.compile(
    r"(?:(?:各|全体|全校|全院|尊敬的|亲爱的|致)[^。！？!?；;]*"
    r"|[^。！？!?；;]*(?:师生|同学|老师|教师|用户|会员|家长|朋友|单位|部门|学院|学校|院系|"
    r"教职工|职工|员工|考生|读者|校友|居民|市民|同志|网友|同仁|大家|各位)们?)[：:]"
)
_LEAD_IN = re.compile(
    r"如下|以下|下列|如次|请|根据|按照|为了|关于|现将|特此|注意|as follows|following|please|note",
    re.IGNORECASE,
)
# Ends with a comma: an address only when it opens like one ("亲爱的同学们，", "Dear all,").
_COMMA_ADDRESS = re.compile(
    r"(?:尊敬的|亲爱的|各位|致|(?:dear|hi|hello|greetings|to)\b)[^。！？!?；;：:]*[，,]",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"(?:大家|您|你|你们|各位|老师们|同学们|朋友们)好[！!。，,]?"
    r"|(?:hello|hi) (?:all|everyone)[!.,]?",
    re.IGNORECASE,
)
_BARE_WORDS = frozenset(
    ["通知", "公告", "通告", "公示", "启事", "紧急通知", "重要通知", "通知公告", "notice",
     "announcement"]
)  # fmt: skip


def _says_nothing(line: str) -> bool:
    """Whether an opening line is an address, a greeting or a bare "通知"."""
    if len(line) > _SALUTATION_CHARS:
        return False
    if line.casefold().strip(" :：") in _BARE_WORDS:
        return True
    if _ADDRESS.fullmatch(line) and not _LEAD_IN.search(line):
        return True
    return bool(_COMMA_ADDRESS.fullmatch(line) or _GREETING.fullmatch(line))


def skip_opening(html: str) -> str:
    """`html` from its first real line: without the address, greeting or bare "通知" it opens
    with (cut at a line end, so the rest may begin inside an element: fine for plain text)."""
    start = position = 0
    lines = 0
    for end in _LINE_END.finditer(html, 0, _OPENING_HTML):
        line = plain_text(html[position : end.start()])
        position = end.end()
        if not line:
            continue  # an image, an empty paragraph, the tags between blocks
        lines += 1
        if lines > _OPENING_LINES or not _says_nothing(line):
            # This line has text and follows the opening: no need to look for any (issue 13).
            return html[start:] if start else html
        start = position
    if not start:
        return html
    # A body that is nothing but an address keeps it: better than an empty summary. Text in
    # the next stretch answers at once; only a body without any there is stripped whole.
    rest = html[start:]
    return rest if plain_text(rest[:_OPENING_HTML]) or plain_text(rest) else html


def excerpt(html: str, length: int = 140) -> str:
    prefix = html[: (length + _EXCERPT_MARGIN) * _EXCERPT_HTML_FACTOR]
    text = plain_text(prefix)
    if len(prefix) == len(html) or len(text) < length + _EXCERPT_MARGIN:
        text = plain_text(html)
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def summarize(
    rendered: RenderedBody, extra: Mapping[str, Any], length: int = SUMMARY_LENGTH
) -> str:
    """A notice's summary as Hexo themes choose it: front-matter `excerpt:` or `description:`
    (plain text, as the author wrote it), else the text before `<!-- more -->`, else the start
    of the body; either of the last two from its first real line (skip_opening())."""
    for key in ("excerpt", "description"):
        value = extra.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = _WHITESPACE.sub(" ", str(value)).strip()
            if text:
                return text if len(text) <= length else text[: length - 1].rstrip() + "…"
    if rendered.lead_html is not None:
        lead = excerpt(skip_opening(rendered.lead_html), length)
        if lead:
            return lead
    return excerpt(skip_opening(rendered.html), length)
