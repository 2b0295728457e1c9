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
    "code": {"class"},
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
        options["attribute_filter"] = functools.partial(_frame_source_filter, embed_hosts)
    return nh3.Cleaner(
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


def _frame_source_filter(hosts: frozenset[str], tag: str, name: str, value: str) -> str | None:
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


# The sanitiser's HTML parser slows down with the square of element nesting (100,000 nested
# <div>s took over a minute), so deeper bodies are shown as escaped text instead (issue 6).
# Browsers cap DOM depth too (Chromium at 512); real notices stay far below this.
MAX_HTML_DEPTH = 256
# [^<>]: a tag never runs into the next `<` (escape_runaway_tags() made sure), and the search
# stays linear ([^>]* took 4 s for 0.24 MB of `<div "`).
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\b[^<>]*>")
# Void elements and elements whose end tag is implied never pile up on the parser's stack.
_FLAT_ELEMENTS = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot",
        "option", "optgroup", "rt", "rp", "colgroup",
    }
)  # fmt: skip


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


def nesting_depth(html: str) -> int:
    """Deepest element nesting in `html`, counted in one linear pass over its tags."""
    depth = deepest = 0
    for match in _TAG.finditer(html):
        if match[2].lower() in _FLAT_ELEMENTS or match[0].endswith("/>"):
            continue
        depth = max(depth - 1, 0) if match[1] else depth + 1
        deepest = max(deepest, depth)
    return deepest


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
    if "<" not in html:
        return html
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


def _unsanitised_html(text: str, options: TagOptions) -> str:
    """Markdown with Hexo's tags expanded to HTML, embeds as link blocks, not yet sanitised."""

    def fragment_html(markdown: str) -> str:
        return remove_unsafe_elements(markdown_to_html(markdown), options.embed_hosts)

    expansion = hexo_tags.expand_tags(text, options, fragment_html)
    return expansion.restore(fragment_html(expansion.markdown))


def render_body(
    text: str,
    *,
    resolve_post: PostResolver | None = None,
    embed_hosts: Collection[str] | None = None,
) -> RenderedBody:
    """Sanitised HTML for Markdown `text` with Hexo's tags, and its lead before the marker."""
    hosts = configured_embed_hosts() if embed_hosts is None else frozenset(embed_hosts)
    html = _unsanitised_html(text, TagOptions(resolve_post=resolve_post, embed_hosts=hosts))
    html = escape_runaway_tags(html)
    if nesting_depth(html) > MAX_HTML_DEPTH:
        return RenderedBody(sanitize_html(f"<pre>{escape(text)}</pre>"))
    html = show_unsupported_link_addresses(html)
    more = _MORE.search(html)
    lead_html = sanitize_html(html[: more.start()], hosts) if more else None
    return RenderedBody(sanitize_html(html, hosts), lead_html)


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


def summarize(
    rendered: RenderedBody, extra: Mapping[str, Any], length: int = SUMMARY_LENGTH
) -> str:
    """A notice's summary as Hexo themes choose it: front-matter `excerpt:` or `description:`
    (plain text), else the text before `<!-- more -->`, else the start of the body."""
    for key in ("excerpt", "description"):
        value = extra.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = _WHITESPACE.sub(" ", str(value)).strip()
            if text:
                return text if len(text) <= length else text[: length - 1].rstrip() + "…"
    if rendered.lead_html is not None:
        lead = excerpt(rendered.lead_html, length)
        if lead:
            return lead
    return excerpt(rendered.html, length)
