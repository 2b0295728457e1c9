"""Issue 15, part 3: the deadline a notice sets — found (notices/deadlines.py), stored by both
write paths, shown at the top of the notice, listed on /deadlines/ with a feed and JSON, and
never stale across midnight in any cache."""

from __future__ import annotations

import datetime as dt
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from unittest import mock
from xml.etree import ElementTree

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import connection
from django.test import TestCase, override_settings
from django.urls import reverse

from notices import deadlines
from notices.deadlines import SCAN_CHARS, find_deadline, notice_deadline
from notices.importing import import_archive
from notices.models import DataVersion, Notice
from sample.deadlines import labelled_notice
from tests.helpers import SHANGHAI, make_notice, parse_html, write_document
from tests.test_api import assert_matches, response_schema

CASES = tomllib.loads(
    (Path(__file__).parent / "data" / "deadline_cases.toml").read_text(encoding="utf-8")
)["case"]
ATOM = "{http://www.w3.org/2005/Atom}"


@contextmanager
def today_is(day: dt.date) -> Iterator[None]:
    """The site's date is `day` (the clock itself is left alone)."""
    with mock.patch.object(deadlines, "today", return_value=day):
        yield


def text_of(element) -> str:
    return "".join(element.itertext()).strip()


# --- Finding the deadline -------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:16] for c in CASES])
def test_each_hand_written_case(case: dict) -> None:
    found = find_deadline(case["text"], case["date"])
    if not case["expect"]:
        assert found is None, case.get("note", "")
        return
    assert found is not None, case.get("note", "")
    assert found.date == case["expect"]
    assert found.phrase and found.phrase in case["text"]
    if "label" in case:
        assert found.label == case["label"]


def test_a_year_left_out_is_the_notices_year() -> None:
    assert find_deadline("请于3月15日前提交。", dt.date(2019, 3, 1)).date == dt.date(2019, 3, 15)


def test_a_january_date_in_a_december_notice_is_next_january() -> None:
    found = find_deadline("请于1月10日前报送。", dt.date(2024, 12, 20))
    assert found.date == dt.date(2025, 1, 10)


def test_a_range_over_new_year_ends_next_year() -> None:
    found = find_deadline("报名时间：12月28日至1月3日。", dt.date(2020, 12, 20))
    assert found.date == dt.date(2021, 1, 3)


def test_a_written_year_is_kept() -> None:
    found = find_deadline("请于2026年1月10日前报送。", dt.date(2025, 12, 1))
    assert found.date == dt.date(2026, 1, 10)


@pytest.mark.parametrize(
    "text",
    [
        "会议时间：3月20日上午9:00。",  # a date, not in a deadline phrase
        "报名截止3月20日；作品请于3月28日前提交。",  # two deadlines that disagree
        "请于2月29日前提交。",  # 2025 has no 29 February
        "请于13月1日前提交。",
        "请于2026年6月1日前提交。",  # more than a year after the notice
        "截止到3月1日，共有四十人报名。",  # before the notice
        "截至3月12日，已有120人报名。",  # the notice's own day, but a count's cut-off
    ],
)
def test_it_answers_none_when_unsure(text: str) -> None:
    assert find_deadline(text, dt.date(2025, 3, 12)) is None


def test_it_reads_only_the_first_part_of_a_long_text() -> None:
    phrase = "请于3月15日前提交。"
    assert find_deadline("。" * (SCAN_CHARS - 20) + phrase, dt.date(2025, 3, 1)) is not None
    assert find_deadline("。" * SCAN_CHARS + phrase, dt.date(2025, 3, 1)) is None


@pytest.mark.parametrize(
    "unit", ["1", "年月日", "3月1日至", "2025年3月1日前", "截止", "1.1.", "3月1日（星期一）17:00"]
)
def test_hostile_text_is_read_in_bounded_steps(unit: str) -> None:
    # A megabyte of digits, 年月日 and half-phrases: the scan stops at SCAN_CHARS characters
    # and every pattern is a fixed sequence of bounded pieces, so this returns (None: nothing
    # certain) however the text repeats. Bounded by the size read, not timed.
    text = unit * (1_000_000 // len(unit))
    assert find_deadline(text, dt.date(2025, 2, 1)) is None or unit == "2025年3月1日前"
    assert len(text[:SCAN_CHARS]) == SCAN_CHARS


def test_the_labelled_set_knows_its_answers_and_is_deterministic() -> None:
    first = [labelled_notice(index) for index in range(200)]
    assert first == [labelled_notice(index) for index in range(200)]
    with_deadline = [n for n in first if n.deadline]
    assert 80 < len(with_deadline) < 160
    assert all(n.deadline >= n.published.date() for n in with_deadline)
    hits = sum(
        1
        for n in first
        if (found := find_deadline(n.body, n.published.date())) and found.date == n.deadline
    )
    shown = sum(1 for n in first if find_deadline(n.body, n.published.date()))
    assert hits / shown >= 0.95  # bench/deadlines.py gives the full figures


# --- Stored by both write paths -------------------------------------------------------------


class StoredDeadlineTests(TestCase):
    def test_render_fills_the_deadline_and_phrase(self) -> None:
        notice = make_notice(body="各学院：\n\n请于1月25日前报送推荐材料。\n")
        self.assertEqual(notice.deadline, dt.date(2021, 1, 25))
        self.assertEqual(notice.deadline_phrase, "请于1月25日前报送推荐材料")
        self.assertEqual(notice.deadline_label, "提交截止")

    def test_the_notices_local_date_decides_the_year(self) -> None:
        # 31 December 20:00 UTC is 1 January in Shanghai: "1月10日" is ten days ahead.
        notice = make_notice(
            body="请于1月10日前报送。", date=dt.datetime(2020, 12, 31, 20, tzinfo=dt.UTC)
        )
        self.assertEqual(notice.deadline, dt.date(2021, 1, 10))

    def test_the_importer_stores_what_render_finds(self) -> None:
        body = "各单位：\n\n报名时间：1月18日至1月29日，逾期不予受理。\n"
        with self.settings(NOTICES_IMPORT_WORKERS=0):
            root = Path(self.enterContext(tempfile.TemporaryDirectory()))
            write_document(root, "a.md", body=body)
            report = import_archive([root])
        self.assertEqual(report.created, 1, report.errors)
        imported = Notice.objects.get()
        self.assertEqual(imported.deadline, dt.date(2021, 1, 29))
        self.assertEqual(imported.deadline_label, "报名截止")
        rendered = Notice(body=imported.body, date=imported.date, source_url=imported.source_url)
        rendered.render()
        self.assertEqual(
            (rendered.deadline, rendered.deadline_phrase),
            (imported.deadline, imported.deadline_phrase),
        )

    def test_an_admin_edit_updates_the_deadline(self) -> None:
        editor = User.objects.create_superuser("editor", "editor@example.org", "pw-for-tests")
        notice = make_notice(urlname="abc", body="请于1月20日前提交。")
        self.client.force_login(editor)
        url = reverse("admin:notices_notice_change", args=[notice.id])
        form = self.client.get(url).context["adminform"].form
        data = {name: form[name].value() or "" for name in form.fields}
        data.update(
            body="请于1月28日前提交申请表。\n",
            date_0="2021-01-15",
            date_1="09:30:00",
            categories=[],
        )
        response = self.client.post(url, data)
        errors = response.context and response.context["adminform"].form.errors
        self.assertEqual(response.status_code, 302, errors)
        notice.refresh_from_db()
        self.assertEqual(notice.deadline, dt.date(2021, 1, 28))
        page = self.client.get(url)  # shown to the editor, read-only
        self.assertContains(page, '<div class="readonly">请于1月28日前提交申请表</div>', html=True)
        data.update(body="会议时间：1月28日。\n")
        self.client.post(url, data)
        notice.refresh_from_db()
        self.assertIsNone(notice.deadline)
        self.assertEqual(notice.deadline_phrase, "")

    def test_the_migration_fills_existing_rows(self) -> None:
        from importlib import import_module

        migration = import_module("notices.migrations.0015_deadlines")
        with_deadline = make_notice(body="请于1月20日前提交。")
        without = make_notice(body="会议时间：1月20日。")
        Notice.objects.update(deadline=None, deadline_phrase="")
        migration.fill_deadlines(apps, SimpleNamespace(connection=connection))
        with_deadline.refresh_from_db()
        without.refresh_from_db()
        self.assertEqual(with_deadline.deadline, dt.date(2021, 1, 20))
        self.assertIsNone(without.deadline)

    def test_notice_deadline_takes_a_prefix_of_huge_html(self) -> None:
        html = "<p>请于1月20日前提交。</p>" + "<p>" + "字" * 3_000_000 + "</p>"
        day, phrase = notice_deadline(html, dt.datetime(2021, 1, 15, tzinfo=SHANGHAI))
        self.assertEqual(day, dt.date(2021, 1, 20))


# --- The notice page ------------------------------------------------------------------------


class BannerTests(TestCase):
    def setUp(self) -> None:
        self.notice = make_notice(urlname="reg", body="各学院：\n\n报名截止：2021年1月20日。\n")
        self.url = self.notice.get_absolute_url()

    def banner(self, response) -> str:
        page = parse_html(response.content.decode())
        found = page.findall(".//p[@class]")
        banners = [p for p in found if "deadline-banner" in p.get("class")]
        self.assertEqual(len(banners), 1)
        return text_of(banners[0])

    def test_ahead_today_and_past(self) -> None:
        for day, text in [
            (dt.date(2021, 1, 17), "报名截止：2021年1月20日，还剩 3 天"),
            (dt.date(2021, 1, 20), "报名截止：2021年1月20日，今天截止"),
            (dt.date(2021, 1, 21), "报名截止：2021年1月20日，已截止"),
        ]:
            with self.subTest(day=day), today_is(day):
                self.assertEqual(self.banner(self.client.get(self.url)), text)

    def test_english(self) -> None:
        with today_is(dt.date(2021, 1, 19)):
            response = self.client.get(self.url, headers={"accept-language": "en"})
        self.assertIn("1 day left", self.banner(response))

    def test_no_banner_without_a_deadline(self) -> None:
        other = make_notice(urlname="plain", body="会议时间：1月20日。")
        response = self.client.get(other.get_absolute_url())
        self.assertNotContains(response, "deadline-banner")

    def test_the_json_carries_the_deadline(self) -> None:
        data = self.client.get(self.url, {"format": "json"}).json()
        self.assertEqual(
            data["deadline"],
            {"date": "2021-01-20", "label": "报名截止", "phrase": "报名截止：2021年1月20日"},
        )
        assert_matches(data, response_schema("/notices/{urlname}/"))
        other = make_notice(urlname="plain", body="会议时间：1月20日。")
        self.assertIsNone(self.client.get(other.get_absolute_url(), {"format": "json"}).json()
                          ["deadline"])  # fmt: skip


@override_settings(NOTICES_PAGE_CACHE=True)
class MidnightTests(TestCase):
    """Cached pages, cached parts and conditional requests never show yesterday's count."""

    def setUp(self) -> None:
        self.notice = make_notice(urlname="reg", body="报名截止：2021年1月20日。")
        self.url = self.notice.get_absolute_url()

    def test_a_cached_detail_page_changes_at_midnight(self) -> None:
        with today_is(dt.date(2021, 1, 17)):
            self.assertContains(self.client.get(self.url), "还剩 3 天")
            self.assertContains(self.client.get(self.url), "还剩 3 天")  # from the cache
        with today_is(dt.date(2021, 1, 18)):
            response = self.client.get(self.url)
            self.assertContains(response, "还剩 2 天")
            self.assertNotContains(response, "还剩 3 天")

    def test_yesterdays_etag_and_date_get_the_new_page_not_a_304(self) -> None:
        # The data last changed the day before (only today() is frozen, not the clock).
        DataVersion.objects.update(changed_at=dt.datetime(2021, 1, 16, 10, tzinfo=SHANGHAI))
        with today_is(dt.date(2021, 1, 17)):
            first = self.client.get(self.url)
            same_day = self.client.get(self.url, headers={"if-none-match": first["ETag"]})
            self.assertEqual(same_day.status_code, 304)
        with today_is(dt.date(2021, 1, 18)):
            by_etag = self.client.get(self.url, headers={"if-none-match": first["ETag"]})
            by_date = self.client.get(
                self.url, headers={"if-modified-since": first["Last-Modified"]}
            )
        self.assertEqual(by_etag.status_code, 200)
        self.assertContains(by_etag, "还剩 2 天")
        self.assertEqual(by_date.status_code, 200)

    def test_the_list_and_feed_drop_a_deadline_once_it_passes(self) -> None:
        with today_is(dt.date(2021, 1, 20)):
            self.assertContains(self.client.get("/deadlines/"), "今天截止")
            self.assertContains(self.client.get("/deadlines/atom.xml"), "报名截止")
        with today_is(dt.date(2021, 1, 21)):
            self.assertNotContains(self.client.get("/deadlines/"), self.notice.title)
            self.assertNotContains(self.client.get("/deadlines/atom.xml"), "报名截止")


# --- /deadlines/ ----------------------------------------------------------------------------


class DeadlineListTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.titles = {}
        for urlname, body in [
            ("past", "请于1月16日前提交。"),
            ("later", "请于2月10日前提交。"),
            ("today", "报名截止：1月18日。"),
            ("soon", "报名时间：1月16日至1月25日。"),
            ("none", "会议时间：1月20日。"),
        ]:
            make_notice(urlname=urlname, title=f"通知{urlname}", body=body)

    def test_it_lists_today_and_ahead_soonest_first(self) -> None:
        with today_is(dt.date(2021, 1, 18)):
            response = self.client.get(reverse("notices:deadlines"))
        page = parse_html(response.content.decode())
        titles = [text_of(h) for h in page.iter("h2") if "notice-item-title" in h.get("class", "")]
        self.assertEqual(titles, ["通知today", "通知soon", "通知later"])
        self.assertContains(response, "今天截止")
        self.assertContains(response, "还剩 7 天")
        self.assertContains(response, '<h1 class="page-title">即将截止</h1>', html=True)

    def test_the_header_links_it(self) -> None:
        response = self.client.get(reverse("notices:list"))
        links = [a for a in parse_html(response.content.decode()).iter("a")
                 if a.get("href") == reverse("notices:deadlines")]  # fmt: skip
        self.assertEqual([text_of(a) for a in links], ["即将截止"])

    def test_json_in_the_same_order_with_each_deadline(self) -> None:
        with today_is(dt.date(2021, 1, 18)):
            data = self.client.get(reverse("notices:deadlines"), {"format": "json"}).json()
        self.assertEqual(data["count"], 3)
        self.assertEqual([r["urlname"] for r in data["results"]], ["today", "soon", "later"])
        self.assertEqual(data["results"][1]["deadline"]["date"], "2021-01-25")
        self.assertEqual(data["results"][1]["deadline"]["label"], "报名截止")
        assert_matches(data, response_schema("/deadlines/"))

    def test_the_atom_feed_in_the_same_order(self) -> None:
        with today_is(dt.date(2021, 1, 18)):
            response = self.client.get(reverse("notices:deadlines-atom"))
        feed = ElementTree.fromstring(response.content)
        titles = [entry.find(f"{ATOM}title").text for entry in feed.iter(f"{ATOM}entry")]
        self.assertEqual(titles, ["通知today", "通知soon", "通知later"])
        self.assertIn("即将截止", feed.find(f"{ATOM}title").text)

    def test_it_pages_with_the_shared_pagination(self) -> None:
        for index in range(25):
            make_notice(urlname=f"p{index}", body=f"请于2月{index + 1}日前提交。")
        with today_is(dt.date(2021, 1, 18)):
            first = self.client.get(reverse("notices:deadlines"))
            second = self.client.get(reverse("notices:deadlines"), {"page": 2})
        self.assertContains(first, 'class="pagination"')
        self.assertEqual(first.context["page"].paginator.count, 28)
        self.assertEqual(  # the 8 latest deadlines, 2月18日 to 2月25日
            [n.urlname for n in second.context["page"].object_list],
            [f"p{index}" for index in range(17, 25)],
        )

    def test_odd_pages_and_csv(self) -> None:
        with today_is(dt.date(2021, 1, 18)):
            for page in ("abc", "999", "-1", "0"):
                with self.subTest(page=page):
                    response = self.client.get(reverse("notices:deadlines"), {"page": page})
                    self.assertEqual(response.status_code, 200)
                    self.assertContains(response, "通知today" if page != "999" else "通知later")
            csv = self.client.get(reverse("notices:deadlines"), {"format": "csv", "all": "1"})
            rows = b"".join(csv.streaming_content).decode().splitlines()
        self.assertEqual([row.split(",")[0] for row in rows[1:]], ["today", "soon", "later"])

    def test_the_query_reads_the_deadline_index(self) -> None:
        from notices.views import upcoming_deadlines

        if connection.vendor == "postgresql":
            # Five rows: the planner would rightly scan them; asked not to, it must find the
            # index (no sort step: the index gives the order).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute("SET LOCAL enable_bitmapscan = off")
        with today_is(dt.date(2021, 1, 18)):
            plan = upcoming_deadlines()[:20].explain()
        self.assertIn("notice_deadline_id", plan)
        self.assertNotIn("TEMP B-TREE", plan)  # SQLite's sort
        self.assertNotIn("Sort", plan)  # PostgreSQL's
