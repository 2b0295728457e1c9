from __future__ import annotations

import tempfile
from pathlib import Path

from django.test import TestCase
from django.urls import reverse

from notices.importing import import_archive
from notices.models import Notice
from tests.helpers import attributes, make_notice, parse_html, write_document


class SeedRoundTripTests(TestCase):
    """A seed-shaped document goes through the importer to the detail page."""

    @classmethod
    def setUpTestData(cls) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            write_document(
                Path(tmp),
                "2021/notice.md",
                tags=["青岚大学", "寒假"],
                body="各学院：\n\n| 日期 | 事项 |\n|---|---|\n| 1月15日 | 放假 |\n\n- 注意安全\n",
            )
            report = import_archive([Path(tmp)])
        assert report.created == 1, report.errors
        cls.notice = Notice.objects.get()

    def test_the_detail_page_shows_the_notice(self) -> None:
        response = self.client.get(self.notice.get_absolute_url())
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, '<h1 class="notice-title">关于寒假安排的通知</h1>', html=True)
        self.assertContains(response, "青岚大学")
        self.assertContains(response, "qinglan.edu.cn")
        self.assertContains(response, "2021年1月15日")
        self.assertContains(response, "<td>放假</td>", html=True)

    def test_the_source_link_is_shown_once_and_prominently(self) -> None:
        response = self.client.get(self.notice.get_absolute_url())
        dom = parse_html(response.content.decode())
        links = [a for a in attributes(dom, "a") if a.get("href") == self.notice.source_url]
        self.assertEqual(len(links), 1)
        self.assertEqual(links[0]["rel"], "noopener noreferrer")
        self.assertContains(response, "查看原文")
        self.assertNotContains(response, "转入文章首发地址")

    def test_categories_and_tags_link_to_their_pages(self) -> None:
        response = self.client.get(self.notice.get_absolute_url())
        hrefs = {a.get("href") for a in attributes(response.content.decode(), "a")}
        # The domain category stands for its one university: its crumb would repeat the
        # name (tests/test_facets.py), so the trail links the university's category.
        self.assertIn(reverse("notices:category", args=["qinglan-edu-cn/青岚大学"]), hrefs)
        self.assertIn(reverse("notices:tag", args=["寒假"]), hrefs)

    def test_chinese_category_and_tag_urls_work(self) -> None:
        for url in [
            reverse("notices:category", args=["qinglan-edu-cn/青岚大学"]),
            reverse("notices:category", args=["qinglan-edu-cn"]),
            reverse("notices:tag", args=["寒假"]),
            "/tags/%E5%AF%92%E5%81%87/",
        ]:
            with self.subTest(url=url):
                response = self.client.get(url)
                self.assertContains(response, "关于寒假安排的通知")

    def test_the_list_shows_title_date_site_and_excerpt(self) -> None:
        response = self.client.get(reverse("notices:list"))
        self.assertContains(response, "关于寒假安排的通知")
        self.assertContains(response, "2021年1月15日")
        self.assertContains(response, "1月15日 放假")  # the excerpt, after the address
        self.assertContains(response, '<html lang="zh-Hans">')

    def test_unknown_pages_are_404(self) -> None:
        for url in ["/notices/nope/", "/tags/不存在/", "/categories/no/such/"]:
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 404)


class PaginationTests(TestCase):
    def test_the_list_pages_20_a_page_newest_first(self) -> None:
        import datetime as dt

        for day in range(1, 26):
            make_notice(
                urlname=f"n{day}",
                title=f"第{day}号通知",
                date=dt.datetime(2021, 1, day, tzinfo=dt.UTC),
            )
        first = self.client.get(reverse("notices:list"))
        titles = [n.title for n in first.context["page"].object_list]
        self.assertEqual(len(titles), 20)
        self.assertEqual(titles[0], "第25号通知")
        second = self.client.get(reverse("notices:list") + "?page=2")
        self.assertEqual(len(second.context["page"].object_list), 5)
        self.assertEqual(self.client.get(reverse("notices:list") + "?page=abc").status_code, 200)


class HeadRequestTests(TestCase):
    def test_pages_answer_head_as_well_as_get(self) -> None:
        notice = make_notice(urlname="head")
        for url in [reverse("notices:list"), notice.get_absolute_url()]:
            with self.subTest(url=url):
                response = self.client.head(url)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response.content, b"")
