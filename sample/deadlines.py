"""A labelled set for deadline extraction (issue 15, part 3): notices made with the generator's
sites, recipients and filler sentences, carrying a deadline in one of the forms Chinese
notices write it, or none, beside dates that are NOT deadlines (会议时间, 发布日期, 活动于…举行,
2019年度, a date of birth with 前) — and the generator knows the right answer.

`labelled_notice(index, seed=...)` is a pure function of its arguments, like
generate_document; it does not change the shipped archive (sample/generator.py's output is
pinned by tests/test_generator.py). bench/deadlines.py measures notices/deadlines.py on it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sample import generator

# How often a notice sets a deadline; the rest carry only other dates.
DEADLINE_SHARE = 0.65
_WEEKDAYS = "一二三四五六日"
_CN_DIGITS = "〇一二三四五六七八九"
_WIDE = str.maketrans("0123456789", "０１２３４５６７８９")
_ITEMS = ("推荐材料", "申请表", "报名表", "汇总表", "作品及说明", "总结材料", "申报书")


@dataclass(frozen=True)
class LabelledNotice:
    title: str
    published: datetime  # local (Asia/Shanghai), as the archive writes dates
    body: str  # Markdown
    deadline: date | None  # the right answer
    form: str  # which wording the deadline has ("none" without one)


def _cn_number(number: int) -> str:
    return generator._cn_number(number) if number else "〇"


def _cn_date(day: date, *, year: bool) -> str:
    text = f"{_cn_number(day.month)}月{_cn_number(day.day)}日"
    if year:
        text = "".join(_CN_DIGITS[int(c)] for c in str(day.year)) + "年" + text
    return text


def _md(day: date) -> str:
    return f"{day.month}月{day.day}日"


def _ymd(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _maybe_year(rng: random.Random, day: date, published: datetime) -> str:
    # Chinese notices mostly leave the year out when it is the notice's own.
    if day.year != published.year or rng.random() < 0.35:
        return _ymd(day)
    return _md(day)


def _deadline_sentence(
    rng: random.Random, form: str, day: date, published: datetime, dept: str
) -> str:
    item = generator._pick(rng, _ITEMS)
    start = max(published.date() + timedelta(days=1), day - timedelta(days=rng.randint(3, 20)))
    when = _maybe_year(rng, day, published)
    match form:
        case "label":
            label = generator._pick(
                rng, ("报名截止", "截止日期", "截止时间", "申报截止日期", "报名截止时间")
            )
            colon = generator._pick(rng, ("：", "为", "："))
            return f"{label}{colon}{when}。"
        case "range":
            what = generator._pick(
                rng, ("报名时间", "申报时间", "网上报名时间", "申请时间", "受理时间")
            )
            joiner = generator._pick(rng, ("至", "至", "—", "-", "到"))
            first = _maybe_year(rng, start, published)
            last = f"{day.day}日" if start.month == day.month and rng.random() < 0.3 else _md(day)
            if day.year != start.year:
                last = _ymd(day)
            return (
                f"{what}{generator._pick(rng, ('：', '为'))}{first}{joiner}{last}，逾期不予受理。"
            )
        case "before":
            who = generator._pick(rng, ("请各单位", "请", "各学院须", "请申请人", "各单位务必"))
            verb = generator._pick(rng, ("提交", "报送", "上报", "发送至"))
            before = generator._pick(rng, ("前", "之前", "前"))
            return f"{who}于{when}{before}将{item}{verb}{dept}。"
        case "weekday":
            weekday = _WEEKDAYS[day.weekday()]
            hour = generator._pick(rng, ("17:00", "12:00", "18:00", "下午5:30"))
            return f"请于{_ymd(day)}（星期{weekday}）{hour}前将{item}报送{dept}，逾期不予受理。"
        case "numeric":
            if rng.random() < 0.5:
                return f"截止日期：{day.year}-{day.month:02d}-{day.day:02d}。"
            return f"请于{day.year}.{day.month}.{day.day}前提交{item}。"
        case "until":
            what = generator._pick(rng, ("报名时间", "征稿时间", "活动报名", "征集时间"))
            return f"{what}：即日起至{when}。"
        case "closing":
            return f"报名于{when}{generator._pick(rng, ('17:00', '24:00', ''))}截止，名额有限。"
        case "wide":
            return f"请于{_md(day).translate(_WIDE)}前将{item}报送{dept}。"
        case "cn":
            return f"请于{_cn_date(day, year=rng.random() < 0.5)}前报送{item}。"
    raise ValueError(form)


FORMS = ("label", "range", "before", "weekday", "numeric", "until", "closing", "wide", "cn")
_FORM_WEIGHTS = (14, 16, 22, 8, 6, 8, 8, 3, 3)


def _distractors(rng: random.Random, published: datetime, place: str) -> list[str]:
    """Dates a notice mentions that are not deadlines."""
    day = published.date() + timedelta(days=rng.randint(1, 40))
    past = published.date() - timedelta(days=rng.randint(30, 400))
    options = [
        f"会议时间：{_md(day)}上午9:00；地点：{place}。",
        f"活动定于{_md(day)}在{place}举行。",
        f"[讲座|报告会]将于{_maybe_year(rng, day, published)}下午14:30在{place}举行，欢迎参加。",
        f"根据《{published.year - 1}年度工作要点》，结合实际开展本项工作。",
        f"{published.year - rng.randint(1, 3)}年度考核结果为合格及以上者方可申请。",
        f"申请人须为{published.year - rng.randint(20, 35)}年1月1日以后出生。",
        f"（{published.year - rng.randint(18, 30)}年9月1日前出生）",
        f"本办法自{_ymd(past)}起施行。",
        f"上一轮工作已于{_md(past)}完成。",
        f"考试时间：{_md(day)}9:00—11:30。",
        f"发布日期：{_ymd(published.date())}。",
        f"截至{_md(published.date() - timedelta(days=rng.randint(0, 5)))}，"
        f"已有{rng.randint(20, 300)}人报名。",
        "请于会前10分钟到场，[离校前|放假前]关好门窗。",
    ]
    chosen = rng.sample(options, rng.randint(0, 3))
    return [generator.Phrase(text).render(rng, {}) for text in chosen]


def labelled_notice(index: int, *, seed: int = 0) -> LabelledNotice:
    """Notice `index` of the labelled set, with the deadline it sets (None for none)."""
    rng = random.Random(f"deadline:{seed}:{index}")
    site = generator._pick(rng, generator.SITES)
    topic = generator.TOPICS[generator._pick(rng, site.topics)]
    year = rng.randint(generator.FIRST_YEAR, generator.LAST_YEAR)
    month = rng.randint(1, 12)
    published = datetime(year, month, rng.randint(1, 28), rng.randint(8, 18), rng.randint(0, 59))
    context = generator._context(rng, site, topic, published)
    blocks = [generator._pick(rng, site.recipients).render(rng, context)]
    sentences = [generator._pick(rng, generator._FILLER).render(rng, context)
                 for _ in range(rng.randint(2, 5))]  # fmt: skip
    sentences += _distractors(rng, published, context["place"])
    deadline: date | None = None
    form = "none"
    if rng.random() < DEADLINE_SHARE:
        form = rng.choices(FORMS, _FORM_WEIGHTS)[0]
        deadline = published.date() + timedelta(days=rng.randint(2, 75))
        sentences.insert(
            rng.randint(0, len(sentences)),
            _deadline_sentence(rng, form, deadline, published, context["dept"]),
        )
        if rng.random() < 0.15:  # the same deadline said twice, as notices do
            sentences.append(f"逾期未报送的，视为自动放弃。请务必于{_md(deadline)}前完成。")
        elif rng.random() < 0.08:
            # A second, later deadline (材料 after 报名): the notice sets two, so the right
            # answer is "unsure" (None), and showing either date counts as wrong.
            later = deadline + timedelta(days=rng.randint(3, 20))
            sentences.append(f"纸质材料请于{_md(later)}前交至{context['dept']}。")
            deadline, form = None, "two"
    if rng.random() < 0.2:
        rng.shuffle(sentences)
    blocks += ["".join(sentences[i : i + 2]) for i in range(0, len(sentences), 2)]
    blocks += [context["dept"], _ymd(published.date())]
    title = generator._pick(rng, topic.titles).render(rng, context)
    return LabelledNotice(title, published, "\n\n".join(blocks) + "\n", deadline, form)
