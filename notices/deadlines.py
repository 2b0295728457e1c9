"""The deadline a notice sets, from its text and its own date (issue 15, part 3).

`find_deadline(text, notice_date)` is pure (no Django, no database): the importer's worker
processes (`make_notice_parts`) and `Notice.render()` both call it through
`notice_deadline(body_html, date)`, so the two paths agree.

A date counts only inside a deadline phrase: "报名截止：2025年3月1日", "截止日期为3月1日",
"报名时间：3月1日至3月15日" (the end), "请于3月15日前提交", "于2025年3月15日（星期五）17:00前",
"3月15日截止", "即日起至4月30日". Dates elsewhere (会议时间, 发布日期, 活动于3月1日举行) are
not candidates. Precision over recall: when unsure it answers None, namely when

- the phrases give different dates,
- a date in a deadline phrase cannot exist (2月30日),
- the deadline falls before the notice's own date or more than MAX_DAYS_AHEAD after it.

Not candidates either: a "X前" in a clause that asks for nothing ("捐款发生在5月12日之前",
"如果疫情不能在2月3日之前好转": every such find on the real corpus was a story's date), a bare
"截至X，" opening a count ("截至3月1日，已有50人报名"), and a date with its year written out
that is before the notice ("1995年9月1日前出生").

A year left out is the notice's year; if that date is before the notice and the next year's
is within NEXT_YEAR_DAYS (a December notice saying 1月10日前), the next year.

Bounded time on hostile text: only the first SCAN_CHARS characters are read, every pattern
is a fixed sequence of bounded pieces (no nested repetition), and at most MAX_MENTIONS dates
are looked at.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import NamedTuple

SCAN_CHARS = 20_000
MAX_MENTIONS = 200
MAX_DAYS_AHEAD = 366
NEXT_YEAR_DAYS = 183
PHRASE_CHARS = 60

# Full-width digits read as ASCII; one character for one, so offsets stay.
_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_WIDE = re.compile("[０-９]")
_CN_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "○": 0, "Ｏ": 0}

_SP = r"[ \t\u3000]{0,2}"
_CN_YEAR = "[〇零○一二三四五六七八九]{4}"
_CN_NUM = "[一二三四五六七八九十]{1,3}"
# One date mention. Arabic: 2025年3月15日 / 3月15日 / 2025-03-15 / 2025.3.15 / 2025/3/15;
# Chinese numerals: 二〇二五年三月十五日 / 三月十五日.
_DATE = re.compile(
    rf"(?<!\d)(?:(?P<y>\d{{4}}){_SP}年{_SP})?(?P<m>\d{{1,2}}){_SP}月{_SP}(?P<d>\d{{1,2}}){_SP}[日号]"
    rf"|(?<![\d.\-/])(?P<iy>\d{{4}})(?P<sep>[-./])(?P<im>\d{{1,2}})(?P=sep)(?P<id>\d{{1,2}})(?![\d])"
    rf"|(?:(?P<cy>{_CN_YEAR})年)?(?P<cm>{_CN_NUM})月(?P<cd>{_CN_NUM})[日号]"
)
# What may follow a date before its cue: a weekday, a time of day.
_TAIL = re.compile(
    rf"{_SP}(?:[（(](?:星期|周|礼拜)[一二三四五六日天][)）])?{_SP}"
    rf"(?:(?:上午|中午|下午|晚上|晚)?{_SP}(?:\d{{1,2}}[:：]\d{{2}}(?:[:：]\d{{2}})?|\d{{1,2}}[时点](?:\d{{1,2}}分|整|半)?))?{_SP}"
)
# After a date (and its tail): the date is the last day.
_BEFORE_CUE = re.compile(r"(?:之前|以前|前(?!后|夕|往|来|进|述|面)|截止|为止)")
# "X前" sets a deadline only in a clause that asks for something ("请于3月15日前提交"), not
# in one that tells ("捐款发生在5月12日之前", "如果疫情不能在2月3日之前好转"): measured
# on the corpus, where every "前" without such a word was a story's date.
_ASKING = re.compile(
    r"请|须|需|应|务必|必须|要求|报名|提交|报送|上报|递交|申报|申请|登记|交至|交到|寄送|缴|投稿|截止"
)
# A range: "至" and its end (a full date, or a day of the same month).
_RANGE_JOIN = re.compile(rf"{_SP}(?:至|到|—{{1,2}}|–|－|-|~|～){_SP}")
_DAY_ONLY = re.compile(rf"(?P<d>\d{{1,2}}){_SP}[日号]")
# Before a date: the text it ends (matched against the preceding few characters).
_LABEL_CUE = re.compile(
    r"(?P<what>报名|申报|申请|提交|投稿|征稿|报送|受理)?(?:截止|截至)(?P<kind>日期|时间|期限)?"
    r"(?:为|是|定为|到|至|:|：)?" + _SP + "$"
)
# "截至3月1日，已有50人报名": a bare 截至 opening a clause that goes on is a count's cut-off.
_TALLY_AFTER = re.compile(r"[，,]")
_UNTIL_CUE = re.compile(
    r"(?:(?:报名|申报|申请|征稿|征集|投稿|受理|活动报名)(?:时间|日期)?(?:为|:|：)?" + _SP + ")?"
    r"(?:自|从)?(?:即日起|即日开始|即日)(?:至|到|—|－|-|~|～)" + _SP + "$"
)
_RANGE_CUE = re.compile(
    r"(?:报名|申报|申请|提交|征集|征稿|投稿|受理|报送|预约|登记|推荐|选课|缴费)"
    r"(?:工作)?(?:时间|日期|期限|时段)(?:为|是|定为|:|：|自|从|于)?"
    + _SP
    + "(?:自|从)?"
    + _SP
    + "$"
)
_CLAUSE_END = "。；;！!？?\n，,"
_RIGHT_END = re.compile(f"[{_CLAUSE_END}]")
# A colon ends what comes before ("各学院："), not the phrase after it ("17:00").
_LEFT_END = re.compile(f"[{_CLAUSE_END}：:]")
_LABEL_CHARS = 16


class Deadline(NamedTuple):
    date: dt.date
    label: str  # 报名截止, 提交截止 or 截止
    phrase: str  # the words it came from


class _Mention(NamedTuple):
    start: int
    end: int
    year: int | None
    month: int
    day: int


def _cn_number(text: str) -> int:
    """一 .. 三十一 as a number (0 for a malformed one: it makes an impossible date)."""
    if "十" not in text:
        return _CN_DIGITS.get(text, 0) if len(text) == 1 else 0
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return 0
    return (_CN_DIGITS.get(tens, 0) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0)


def _mention(match: re.Match[str]) -> _Mention:
    if match["m"]:
        year = int(match["y"]) if match["y"] else None
        return _Mention(match.start(), match.end(), year, int(match["m"]), int(match["d"]))
    if match["im"]:
        return _Mention(
            match.start(), match.end(), int(match["iy"]), int(match["im"]), int(match["id"])
        )
    year = int("".join(str(_CN_DIGITS[c]) for c in match["cy"])) if match["cy"] else None
    return _Mention(
        match.start(), match.end(), year, _cn_number(match["cm"]), _cn_number(match["cd"])
    )


# Every date has a 月 or a separator: found by a plain search, then the date around it is
# matched in a short window. Trying the date pattern at each character took as long as
# rendering the notice (1.2 ms for 3 KB of text); this is a tenth of it.
_ANCHOR = re.compile(r"月|[-./]")
_BACK = 12  # 2025 年 12 月: the farthest a date starts before its 月
_AHEAD = 16


def _dates(scan: str) -> Iterator[re.Match[str]]:
    """_DATE's matches in `scan`, left to right, without overlaps (as finditer gives them)."""
    done = 0
    for anchor in _ANCHOR.finditer(scan):
        at = anchor.start()
        if at < done:
            continue
        match = _DATE.search(scan, max(done, at - _BACK), at + _AHEAD)
        while match is not None and match.end() <= at:  # an earlier date ends before 月
            match = _DATE.search(scan, match.end(), at + _AHEAD)
        if match is not None and match.start() <= at:
            done = match.end()
            yield match


class _Unsure(Exception):
    pass


def _resolve(mention: _Mention, notice_date: dt.date, year: int | None = None) -> dt.date:
    """The day a mention names, with the year inferred; _Unsure for an impossible one."""
    given = mention.year or year
    try:
        if given:
            return dt.date(given, mention.month, mention.day)
        day = dt.date(notice_date.year, mention.month, mention.day)
    except ValueError as exc:
        raise _Unsure from exc
    if day < notice_date:
        try:
            following = dt.date(notice_date.year + 1, mention.month, mention.day)
        except ValueError as exc:  # 2月29日 of a year that has none
            raise _Unsure from exc
        if (following - notice_date).days <= NEXT_YEAR_DAYS:
            return following
    return day


def _clause(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence piece around text[start:end], reaching at most PHRASE_CHARS / 2 out."""
    low = max(0, start - PHRASE_CHARS // 2)
    left = low
    for stop in _LEFT_END.finditer(text, low, start):
        left = stop.end()
    limit = min(len(text), end + PHRASE_CHARS // 2)
    stop = _RIGHT_END.search(text, end, limit)
    return left, stop.start() if stop else limit


def deadline_label(clause: str) -> str:
    """What the banner calls the deadline a phrase sets."""
    if "报名" in clause:
        return "报名截止"
    if re.search("提交|报送|上报|递交|交至|交到|报至|申报|上交|寄送|送至|投稿|征稿", clause):
        return "提交截止"
    return "截止"


def find_deadline(text: str, notice_date: dt.date) -> Deadline | None:
    """The deadline `text` sets, or None when it sets none or the answer is unsure."""
    text = text[:SCAN_CHARS]
    # str.translate walks every character in Python: only for a text that needs it.
    scan = text.translate(_WIDTH) if _WIDE.search(text) else text
    found: list[tuple[dt.date, int, int]] = []  # (day, phrase start, phrase end)
    try:
        for count, match in enumerate(_dates(scan)):
            if count >= MAX_MENTIONS:
                break
            mention = _mention(match)
            before = scan[max(0, mention.start - _LABEL_CHARS) : mention.start]
            tail = _TAIL.match(scan, mention.end)
            after = tail.end() if tail else mention.end
            # A range "A至B": the end is the deadline when the range is a registration's.
            join = _RANGE_JOIN.match(scan, after)
            if join:
                end_match = _DATE.match(scan, join.end()) or _DAY_ONLY.match(scan, join.end())
                range_cue = _RANGE_CUE.search(before) if end_match is not None else None
                if range_cue:
                    start_day = _resolve(mention, notice_date)
                    if end_match.re is _DATE:
                        end_mention = _mention(end_match)
                    else:
                        end_mention = _Mention(
                            end_match.start(), end_match.end(), None, mention.month,
                            int(end_match["d"]),
                        )  # fmt: skip
                    end_day = _resolve(end_mention, notice_date, start_day.year)
                    if end_day < start_day and end_mention.year is None:
                        end_day = _resolve(end_mention, notice_date, start_day.year + 1)
                    if end_day < start_day:
                        raise _Unsure
                    cue_start = mention.start - len(before) + range_cue.start()
                    found.append((end_day, cue_start, end_match.end()))
                    continue
            cue_before = _LABEL_CUE.search(before) or _UNTIL_CUE.search(before)
            cue_after = _BEFORE_CUE.match(scan, after)
            if (
                cue_before
                and not cue_after
                and cue_before.re is _LABEL_CUE
                and not (cue_before["what"] or cue_before["kind"])
                and _TALLY_AFTER.match(scan, after)
            ):
                continue
            if cue_after and not cue_before and cue_after.group().endswith("前"):
                left, right = _clause(scan, mention.start, cue_after.end())
                if not _ASKING.search(scan, left, right):
                    continue
            if cue_before or cue_after:
                phrase_start = mention.start
                if cue_before:
                    phrase_start += cue_before.start() - len(before)
                phrase_end = cue_after.end() if cue_after else mention.end
                day = _resolve(mention, notice_date)
                if mention.year and day < notice_date:
                    continue  # a bygone date with its year: no deadline of this notice
                found.append((day, phrase_start, phrase_end))
    except _Unsure:
        return None
    days = {day for day, _, _ in found}
    if len(days) != 1:
        return None
    day = days.pop()
    if day < notice_date or (day - notice_date).days > MAX_DAYS_AHEAD:
        return None
    _, start, end = found[0]
    left, right = _clause(text, start, end)
    phrase = " ".join(text[left:right].split()).strip("，,、：: ")
    return Deadline(day, deadline_label(phrase), phrase)


# A body's text is read from at most this much of its HTML.
HTML_CHARS = 200_000
# The text of sanitised HTML with each block on its own line: a heading ("三、时间安排") or an
# address ("各学院：") is not part of the phrase under it, and no phrase runs across blocks.
_BLOCK_END = re.compile(r"</(?:p|li|h[1-6]|div|blockquote|dd|dt|td|th|tr|pre)>|<br\s*/?>", re.I)
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def html_text(html: str) -> str:
    """The visible text of sanitised HTML, a line per block."""
    from html import unescape

    return _SPACES.sub(" ", unescape(_TAG.sub("", _BLOCK_END.sub("\n", html))))


def notice_deadline(body_html: str, date: dt.datetime | None) -> tuple[dt.date | None, str]:
    """(deadline, phrase) of a notice: what Notice.render() and the importer store."""
    from django.utils import timezone  # this module stays importable without settings

    if date is None or not body_html:
        return None, ""
    local = timezone.localtime(date).date() if timezone.is_aware(date) else date.date()
    found = find_deadline(html_text(body_html[:HTML_CHARS]), local)
    if found is None:
        return None, ""
    return found.date, found.phrase[:200]


def today() -> dt.date:
    """The site's date now (TIME_ZONE): what "已截止" and "还剩 N 天" count from, and a part of
    every cache key of a page that shows them (tests replace it to move midnight)."""
    from django.utils import timezone

    return timezone.localdate()


def start_of_today() -> dt.datetime:
    """Midnight of today() in the site's time zone, aware."""
    from django.utils import timezone

    return timezone.make_aware(dt.datetime.combine(today(), dt.time()))


class Status(NamedTuple):
    state: str  # "past", "today" or "ahead"
    days: int  # days left (0 today, negative once past)


def status(deadline: dt.date) -> Status:
    days = (deadline - today()).days
    return Status("past" if days < 0 else "today" if days == 0 else "ahead", days)
