"""Markdown to safe HTML: the only place the site makes HTML from archive text.

cmarkgfm (GitHub's cmark, the renderer PyPI uses for READMEs) renders GFM tables,
lists and autolinks in about 0.1 ms per notice; raw HTML in the Markdown is let
through the renderer and then everything goes through nh3's allow-list, so no
script, style, iframe, event handler or javascript:/data: URL survives.
"""

from __future__ import annotations

import re
from html import unescape

import cmarkgfm
import nh3
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
RENDER_OPTIONS = Options.CMARK_OPT_UNSAFE


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values=IMG_REFERRER,
        strip_comments=True,
    )


def render_markdown(text: str) -> str:
    """Return sanitised HTML for Markdown `text` (safe to mark as safe)."""
    html = cmarkgfm.github_flavored_markdown_to_html(text, options=RENDER_OPTIONS)
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


def plain_text(html: str) -> str:
    """Visible text of sanitised HTML, whitespace collapsed (for excerpts and search)."""
    # Block ends become spaces so paragraphs do not run into each other.
    html = _BLOCK_END.sub(" ", html)
    text = nh3.clean(html, tags=set(), clean_content_tags={"script", "style"})
    # Text, not HTML: templates escape it again where it is shown.
    return _WHITESPACE.sub(" ", unescape(text)).strip()


def excerpt(html: str, length: int = 140) -> str:
    text = plain_text(html)
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"
