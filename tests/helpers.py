"""Builders for tests: documents on disk and notices in the database."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

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


def write_document(directory: Path, name: str = "notice.md", **fields: Any) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document_text(**fields), encoding="utf-8")
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
