"""Builders and readers for tests: documents on disk, notices in the database, and pages
parsed the way a browser parses them.

HTML: `parse_html(text)` (a whole page) or `parse_fragment(text)` (rendered Markdown) give an
ElementTree element built by html5lib, the WHATWG parsing algorithm browsers use, with plain
tag names (no namespace) and valueless attributes as "". `elements(root, tag, **attrs)`,
`hrefs(root)` and `visible_text(root)` read it; each also takes the HTML text itself.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import html5lib

from notices.models import Notice
from notices.search import index_notices

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")

DEFAULT_BODY = "各学院、各部门：\n\n现将寒假安排通知如下。\n"


def document_text(
    *,
    title: str = "青岚大学->关于寒假安排的通知 | qinglan.edu.cn",
    date: str | None = "2021-01-15 09:30:00",
    urlname: str | None = "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    tags: list[str] | None = None,
    categories: list[str] | None = None,
    body: str = DEFAULT_BODY,
    source_url: str | None = "https://news.qinglan.edu.cn/2021/0115/notice.html",
    extra_front_matter: str = "",
) -> str:
    """A document in the seed's layout; pass None to leave a key out."""
    lines = ["---", f"title: {title}"]
    if date is not None:
        lines.append(f"date: {date}")
    if urlname is not None:
        lines.append(f"urlname: {urlname}")
    lines.append("tags:")
    lines += [f"- {tag}" for tag in (tags if tags is not None else ["青岚大学"])]
    lines.append("categories:")
    lines += [
        f"- {c}" for c in (categories if categories is not None else ["qinglan.edu.cn", "青岚大学"])
    ]
    if extra_front_matter:
        lines.append(extra_front_matter.rstrip("\n"))
    lines.append("---")
    text = "\n".join(lines) + "\n" + body
    if source_url is not None:
        text += f"[转入文章首发地址]({source_url})\n"
    return text


def write_files(root: Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write an archive: each relative name (folders made as needed) gets its bytes, or its
    text as UTF-8; returns the paths in order."""
    paths = []
    for name, content in files.items():
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        paths.append(path)
    return paths


def write_document(directory: Path, name: str = "notice.md", **fields: Any) -> Path:
    """One document_text(**fields) written as `name` under `directory`."""
    [path] = write_files(directory, {name: document_text(**fields)})
    return path


def make_notice(**overrides: Any) -> Notice:
    """A saved notice with rendered body, indexed for search as the importer and admin do;
    tags/categories can be added after."""
    values: dict[str, Any] = {
        "urlname": "n-" + str(Notice.objects.count() + 1),
        "title": "关于寒假安排的通知",
        "raw_title": "青岚大学->关于寒假安排的通知 | qinglan.edu.cn",
        "site": "青岚大学",
        "domain": "qinglan.edu.cn",
        "date": dt.datetime(2021, 1, 15, 9, 30, tzinfo=SHANGHAI),
        "body": DEFAULT_BODY,
        "source_url": "https://news.qinglan.edu.cn/2021/0115/notice.html",
    }
    values.update(overrides)
    notice = Notice(**values)
    notice.render()
    notice.save()
    index_notices([notice])
    return notice


# --- HTML, as a browser parses it ----------------------------------------------------------

INVISIBLE = frozenset({"head", "script", "style", "template", "noscript"})


def parse_html(text: str) -> Element:
    """The page's <html> element, parsed as a browser parses a document."""
    return html5lib.parse(text, treebuilder="etree", namespaceHTMLElements=False)


def parse_fragment(text: str) -> Element:
    """A body fragment (e.g. rendered Markdown) under a root whose tag is "DOCUMENT_FRAGMENT"."""
    return html5lib.parseFragment(text, treebuilder="etree", namespaceHTMLElements=False)


def _root(html: Element | str) -> Element:
    return parse_html(html) if isinstance(html, str) else html


def tag_name(element: Element) -> str:
    """The element's lower-case tag; "" for comments."""
    return element.tag.rpartition("}")[2].lower() if isinstance(element.tag, str) else ""


def elements(html: Element | str, tag: str | None = None, **attrs: str) -> list[Element]:
    """Elements (the root included, a fragment's root not) in document order with this tag (any
    tag when None) whose attributes have exactly these values; a trailing "_" is dropped
    (class_="x", for_="y")."""
    wanted = {name.rstrip("_"): value for name, value in attrs.items()}
    return [
        element
        for element in _root(html).iter()
        if tag_name(element)
        and element.tag != "DOCUMENT_FRAGMENT"
        and (tag is None or tag_name(element) == tag)
        and all(element.get(name) == value for name, value in wanted.items())
    ]


def attributes(html: Element | str, tag: str | None = None, **attrs: str) -> list[dict[str, str]]:
    """The attributes of elements(html, tag, **attrs), as dicts (a valueless attribute is "")."""
    return [dict(element.attrib) for element in elements(html, tag, **attrs)]


def hrefs(html: Element | str) -> set[str]:
    """Every link target (<a href>) in the page."""
    return {a.get("href") for a in elements(html, "a") if a.get("href") is not None}


def visible_text(html: Element | str, skip: Iterable[str] = INVISIBLE) -> str:
    """The text a reader sees: all text except inside the `skip` elements (by default <head>,
    <script>, <style>, <template>, <noscript>; pass e.g. INVISIBLE | {"code", "pre"})."""
    skipped = frozenset(skip)
    parts: list[str] = []

    def walk(element: Element) -> None:  # the element's text and its children's, not its tail
        if tag_name(element) and tag_name(element) not in skipped:
            parts.append(element.text or "")
            for child in element:
                walk(child)
                parts.append(child.tail or "")

    walk(_root(html))
    return "".join(parts)
