"""A labelled set for grouping near-duplicates (issue 15, part 1): generated notices, some
republished by other sites with the edits aggregators make (another header and footer, 来源：
and 责任编辑： lines, other punctuation, full-width or half-width digits, a paragraph left out,
a few characters changed), and *different* notices that share most of their text: the
generator's notices share template sentences (各学院、各部门 …), and a "series" notice is the
same form again with other dates, term numbers (第3期 -> 第4期) and names.

`labelled_set(count, seed=...)` is a pure function of its arguments; every item carries the
label of the notice it is a copy of. bench/grouping.py and tests/test_grouping.py measure
notices/grouping.py on it. It does not change the shipped archive (sample/generator.py).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sample import generator

COPY_SHARE = 0.35  # notices republished by 1-3 other sites
SERIES_SHARE = 0.15  # notices followed by another issue of the same form
_WIDE = str.maketrans("0123456789,;:()", "０１２３４５６７８９，；：（）")
_NARROW = str.maketrans("０１２３４５６７８９，；：（）", "0123456789,;:()")
_PUNCTUATION = str.maketrans({"，": ",", "。": ".", "：": ":", "；": ";", "、": ","})
_HEADERS = (
    "来源：{site}",
    "发布时间：{day}  浏览次数：{views}",
    "【{site}讯】",
    "转自：{site}官网",
    "信息来源：{site}  发布日期：{day}",
)
_FOOTERS = (
    "责任编辑：{person}",
    "（来源：{site}，编辑：{person}）",
    "【打印本页】【关闭窗口】",
    "审核：{person}  供稿：{site}",
    "点击量：{views}",
)
_MONTH_DAY = re.compile(r"(\d{1,2})月(\d{1,2})日")
_YEAR = re.compile(r"(20\d\d)年")
_TERM = re.compile(r"第(\d+)(期|届|批)")


@dataclass(frozen=True)
class LabelledNotice:
    label: int  # the index of the notice this one is (a copy of)
    path: str  # where bench/grouping.py writes it
    published: datetime
    text: str  # the whole document, front matter included


def _split(document: str) -> tuple[str, str]:
    front, body = document.split("\n---\n", 1)
    return front + "\n---\n", body


def _front(front: str, site: generator.Site, day: datetime, urlname: str) -> str:
    """The front matter of a copy: another site, date and urlname."""
    front = re.sub(
        r"(?m)^title: [^>\n]*->(.*)\| \S+$", rf"title: {site.name}->\1| {site.domain}", front
    )
    front = re.sub(r"(?m)^date: .*$", f"date: {day:%Y-%m-%d %H:%M:%S}", front)
    return re.sub(r"(?m)^urlname: .*$", f"urlname: {urlname}", front)


def republished(body: str, rng: random.Random, site: str, day: datetime) -> str:
    """`body` as another site republishes it."""
    fill = {
        "site": site,
        "day": day.strftime("%Y-%m-%d"),
        "views": rng.randint(10, 9000),
        "person": rng.choice("张王李赵陈刘") + rng.choice(("老师", "明", "华", "婷")),
    }
    lines = body.rstrip("\n").split("\n")
    source = lines.pop() if lines and lines[-1].startswith("[") else ""
    paragraphs = [n for n, line in enumerate(lines) if len(line) > 30]
    edits = rng.sample(["drop", "change", "merge"], rng.randint(0, 2))
    if "drop" in edits and len(paragraphs) > 6:
        del lines[rng.choice(paragraphs)]
    paragraphs = [n for n, line in enumerate(lines) if len(line) > 30]
    if "change" in edits and paragraphs:
        line = lines[number := rng.choice(paragraphs)]
        cut = rng.randrange(len(line) // 2, len(line) - 2)
        lines[number] = line[:cut] + rng.choice(("，特此说明", "", "等")) + line[cut + 2 :]
    if "merge" in edits and len(lines) > 4:
        at = rng.randrange(1, len(lines) - 1)
        lines[at : at + 2] = [lines[at] + lines[at + 1]]
    text = "\n".join(lines)
    style = rng.random()
    if style < 0.3:
        text = text.translate(_PUNCTUATION)
    elif style < 0.5:
        text = text.translate(_WIDE)
    elif style < 0.7:
        text = text.translate(_NARROW).replace("\n\n", "\n")
    header = [rng.choice(_HEADERS).format(**fill) for _ in range(rng.randint(0, 2))]
    footer = [rng.choice(_FOOTERS).format(**fill) for _ in range(rng.randint(0, 2))]
    link = f"[{generator.SOURCE_LINK_TEXT}](https://www.{rng.randrange(10**6)}.example.cn/a.html)"
    return "\n\n".join([*header, text, *footer, link if source else ""]).rstrip() + "\n"


def next_issue(body: str, rng: random.Random) -> str:
    """The same form issued again: other dates, a later term number, next year."""
    shift = rng.randint(7, 120)

    def later(match: re.Match[str]) -> str:
        day = datetime(2021, int(match[1]) % 12 or 12, min(int(match[2]), 28)) + timedelta(shift)
        return f"{day.month}月{day.day}日"

    text = _MONTH_DAY.sub(later, body)
    text = _TERM.sub(lambda m: f"第{int(m[1]) + 1}{m[2]}", text)
    text = _YEAR.sub(lambda m: f"{int(m[1]) + 1}年", text)  # next year's edition
    if text == body:  # no date or number to change: the next issue says which it is
        text = f"（第{rng.randint(2, 30)}期）\n\n" + body
    return text


def labelled_set(count: int, *, seed: int = 0) -> Iterator[LabelledNotice]:
    """`count` generated notices, each followed by its republished copies or its next
    issue when the draw says so; copies carry their original's label, issues their own."""
    rng = random.Random(seed)
    sites = generator.SITES
    for index in range(count):
        path, document = generator.generate_document(index, seed=seed)
        front, body = _split(document)
        published = datetime.strptime(re.search(r"(?m)^date: (.*)$", front)[1], "%Y-%m-%d %H:%M:%S")
        yield LabelledNotice(index, path, published, document)
        draw = rng.random()
        if draw < COPY_SHARE:
            for copy in range(rng.randint(1, 3)):
                site = rng.choice(sites)
                day = published + timedelta(days=copy + rng.randint(0, 5), hours=1)
                copy_front = _front(front, site, day, f"copy-{index}-{copy}")
                text = copy_front + republished(body, rng, site.name, day)
                yield LabelledNotice(index, f"copy/{index}-{copy}.md", day, text)
        elif draw < COPY_SHARE + SERIES_SHARE:
            day = published + timedelta(days=rng.randint(7, 120))
            issue_front = _front(front, rng.choice(sites), day, f"issue-{index}")
            text = issue_front + next_issue(body, rng)
            yield LabelledNotice(count + index, f"issue/{index}.md", day, text)
