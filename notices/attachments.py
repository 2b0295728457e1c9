"""A notice's attachments (附件): the documents its body links to (issue 15, part 2).

`find(html, base_url)` reads the SANITISED body HTML (what readers get, so a link the
sanitiser dropped, `javascript:` or `data:`, is never listed) and returns, in body order and
once per address, each link that is

- to a document by its address's suffix (`.pdf`, `.docx`, `.xlsx`, `.zip`, `.wps`, … below,
  case-blind, query string and fragment ignored), or
- named like one (`报名表.docx`: CMS download links such as `download.jsp?id=…` carry the
  file name in the text only), or
- titled 附件 (`附件1：报名表`, `附件：xxx`).

Only http(s) and relative links count; a relative one is resolved against the notice's
source address when it has one, as a reader's browser on the original page would. The name is
the link text, else the address's file name (percent-decoded: UTF-8, else GB18030, which older
Chinese sites use). Pure: no database; Notice.render() and the importer's workers both call it.

Bounded (archive bodies are hostile): at most MAX_LINKS links are looked at and
MAX_ATTACHMENTS kept, names and addresses are cut to a length, so a body with 10,000 links
costs what one with MAX_LINKS costs.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any, NamedTuple
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

from django.utils.translation import pgettext_lazy

from notices.hygiene import strip_invisible

MAX_ATTACHMENTS = 50
MAX_LINKS = 1000
MAX_NAME = 300
MAX_URL = 2000  # as for source addresses (notices/documents.py)

# Suffix -> kind. The kinds are what the JSON gives and the badge shows (KIND_LABELS).
KINDS = {
    "pdf": "PDF",
    **dict.fromkeys(("doc", "docx", "docm", "dot", "dotx", "rtf", "odt"), "Word"),
    **dict.fromkeys(("xls", "xlsx", "xlsm", "xlt", "xltx", "csv", "ods"), "Excel"),
    **dict.fromkeys(("ppt", "pptx", "pps", "ppsx", "pot", "potx", "odp"), "PPT"),
    # WPS Office's own formats (文字, 表格, 演示), common in Chinese government notices.
    **dict.fromkeys(("wps", "wpt", "et", "ett", "dps", "dpt"), "WPS"),
    **dict.fromkeys(("zip", "rar", "7z", "tar", "gz", "tgz", "bz2", "xz"), "压缩包"),
    # China's e-document standard (GB/T 33190) and CNKI's format.
    "ofd": "OFD",
    "caj": "CAJ",
    "txt": "文本",
}
# A link titled 附件 whose address and text name no known type.
OTHER = "文件"
KIND_LABELS = {
    "压缩包": pgettext_lazy("attachment kind", "Archive"),
    "文本": pgettext_lazy("attachment kind", "Text"),
    OTHER: pgettext_lazy("attachment kind", "File"),
}

# nh3 writes every attribute double-quoted, `"` escaped inside, `>` as &gt;: an element's
# tag ends at the first `>`, and a link never holds another link.
_ANCHOR = re.compile(r"<a\s([^>]*)>(.*?)</a>", re.S)
_HREF = re.compile(r'\bhref="([^"]*)"')
_TAG = re.compile(r"<[^>]*>")
_WHITESPACE = re.compile(r"\s+")
_ATTACHMENT_WORD = "附件"


class Attachment(NamedTuple):
    url: str
    name: str
    kind: str
    host: str

    def as_dict(self) -> dict[str, str]:
        return self._asdict()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attachment:
        return cls(*(str(data.get(key, "")) for key in cls._fields))

    @property
    def label(self) -> str:
        """The kind as the page shows it (translated where it is a word)."""
        return str(KIND_LABELS.get(self.kind, self.kind))


def find(html: str, base_url: str = "") -> list[Attachment]:
    """The attachments sanitised body HTML links to, in body order, once per address."""
    found: list[Attachment] = []
    seen: set[str] = set()
    if "<a" not in html:
        return found
    for count, match in enumerate(_ANCHOR.finditer(html)):
        if count >= MAX_LINKS or len(found) >= MAX_ATTACHMENTS:
            break
        href = _HREF.search(match[1])
        if href is None:
            continue  # the sanitiser dropped the address (javascript:, data:, …)
        attachment = _attachment(unescape(href[1]).strip(), match[2], base_url)
        if attachment is None:
            continue
        key = attachment.url.partition("#")[0]
        if key not in seen:
            seen.add(key)
            found.append(attachment)
    return found


def derive(html: str, base_url: str = "") -> list[dict[str, str]]:
    """What a notice stores (Notice.attachments): find() as JSON. The one function
    Notice.render() and the importer's make_notice_parts() call."""
    return [attachment.as_dict() for attachment in find(html, base_url)]


def from_json(data: Any) -> list[Attachment]:
    if not isinstance(data, list):
        return []
    return [Attachment.from_dict(item) for item in data if isinstance(item, dict)]


def _may_be_attachment(href: str, inner_html: str) -> bool:
    """Cheap string tests before any address is parsed: most links of a body are not
    attachments, and a body may have thousands of them."""
    path = href.partition("#")[0].partition("?")[0]
    if KINDS.get(_suffix(path)) or _ATTACHMENT_WORD in inner_html:
        return True
    return "." in inner_html and _suffix(_text(inner_html)) in KINDS


def _attachment(href: str, inner_html: str, base_url: str) -> Attachment | None:
    if not href or href.startswith("#") or len(href) > MAX_URL:
        return None
    if not _may_be_attachment(href, inner_html):
        return None
    try:
        parts = urlsplit(href)
        if parts.scheme and parts.scheme.lower() not in ("http", "https"):
            return None  # mailto:, and anything a later sanitiser might let through
        url = urljoin(base_url, href) if base_url and not parts.scheme else href
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:  # a malformed address ("http://[::1"): not a link a reader can follow
        return None
    if parts.scheme and parts.scheme.lower() not in ("http", "https"):
        return None
    text = _text(inner_html)
    file_name = _decoded(parts.path.rpartition("/")[2])
    kind = KINDS.get(_suffix(file_name)) or KINDS.get(_suffix(text))
    if kind is None and _ATTACHMENT_WORD not in text:
        return None
    # An autolink's text is its address: the file name says more.
    name = text if text and text not in (href, url) else file_name or text or host
    return Attachment(url[:MAX_URL], name[:MAX_NAME], kind or OTHER, host[:255])


def _text(inner_html: str) -> str:
    text = _TAG.sub("", inner_html) if "<" in inner_html else inner_html
    if "&" in text:
        text = unescape(text)
    return strip_invisible(_WHITESPACE.sub(" ", text[: 4 * MAX_NAME]).strip())


def _suffix(name: str) -> str:
    head, dot, suffix = name.rpartition(".")
    return suffix.strip().lower() if dot and head and len(suffix) <= 5 else ""


def _decoded(segment: str) -> str:
    """A path segment percent-decoded: UTF-8, else GB18030 (older Chinese sites), a byte
    neither decodes shown as U+FFFD; invisible characters removed."""
    if "%" not in segment:
        return strip_invisible(segment)
    raw = unquote_to_bytes(segment[: 4 * MAX_NAME])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="replace")
    return strip_invisible(text)
