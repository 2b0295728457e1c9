"""Facets a reader can use and names in the order a reader looks for them (issue 12):
categories labelled by what they stand for, no facet that cannot narrow the list, tags that
repeat a site folded into the sources, "更多" for every value, pinyin name sorts, archive
months newest first without the repeated year."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock, skipUnless
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.http import QueryDict
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notices.models import Category
from notices.sorting import sorted_by_name
from tests.helpers import hrefs as links_in
from tests.test_browser import CHROMIUM, ChromiumTestCase
from tests.test_views_reading import add_notice, build_reading_archive, when


def labels(values: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(value["label"], value["count"]) for value in values]


class FacetTestCase(TestCase):
    def get_json(self, url: str, **params: Any) -> dict[str, Any]:
        # Appended: the test client's `data` would replace a query string already in `url`.
        separator = "&" if "?" in url else "?"
        response = self.client.get(url + separator + urlencode({**params, "format": "json"}))
        self.assertEqual(response.status_code, 200, url)
        return json.loads(response.content)


class PinyinOrderTests(FacetTestCase):
    def test_chinese_names_sort_by_pinyin_and_latin_ones_among_them(self) -> None:
        names = ["北京", "白山", "长春", "安徽", "Beijing", "amoy"]
        self.assertEqual(
            sorted_by_name(names, str), ["amoy", "安徽", "白山", "北京", "Beijing", "长春"]
        )  # code point order would be 北京 安徽 白山 长春 after the Latin names

    def test_the_indexes_sort_by_pinyin(self) -> None:
        for i, site in enumerate(["北京", "白山", "长春", "安徽"]):
            add_notice(f"n{i}", f"通知{i}", when(2023, 1, 1 + i), site=site,
                       categories=(site, "通知公告"), tags=(f"{site}标签",))  # fmt: skip
        expected = ["安徽", "白山", "北京", "长春"]
        tags = self.get_json(reverse("notices:tags"), sort="name")["tags"]
        self.assertEqual([t["name"] for t in tags], [f"{name}标签" for name in expected])
        sites = self.get_json(reverse("notices:sites"), sort="name")["sites"]
        self.assertEqual([s["name"] for s in sites], expected)
        tree = self.get_json(reverse("notices:categories"))["categories"]
        self.assertEqual([node["name"] for node in tree], expected)
        html = self.client.get(reverse("notices:sites"), {"sort": "name"}).content.decode()
        self.assertLess(html.index(">安徽<"), html.index(">长春<"))
        self.assertIn('<strong aria-current="true">按名称</strong>', html)

    def test_equal_counts_fall_back_to_pinyin_order(self) -> None:
        for i, tag in enumerate(["云", "义", "临", "东"]):
            add_notice(f"n{i}", f"通知{i}", when(2023, 1, 1 + i), tags=(tag,))
        tags = self.get_json(reverse("notices:tags"))["tags"]
        self.assertEqual([t["name"] for t in tags], ["东", "临", "义", "云"])
        facet = self.client.get(reverse("notices:list")).context["facets"]["tags"]
        self.assertEqual([value["label"] for value in facet], ["东", "临", "义", "云"])


class CategoryLabelTests(FacetTestCase):
    """The seed files each notice under <domain> > <site name>: readers know the name."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.notices = build_reading_archive()

    def test_a_domain_category_is_labelled_by_its_only_sub_category(self) -> None:
        domain = Category.objects.get(path="blgc-edu-cn")
        self.assertEqual(domain.label, "北岭工程大学")
        self.assertEqual(domain.name, "blgc.edu.cn")  # the data keeps the name
        leaf = Category.objects.get(path="blgc-edu-cn/北岭工程大学/研究生院")
        self.assertEqual(leaf.full_label, "北岭工程大学 > 研究生院")

    def test_a_domain_with_several_sub_categories_is_labelled_by_its_main_site(self) -> None:
        add_notice("other", "另一个", when(2023, 5, 1), categories=("blgc.edu.cn", "图书馆"),
                   site="北岭工程大学")  # fmt: skip
        add_notice("stray", "外站", when(2023, 5, 2), categories=("blgc.edu.cn", "外站"),
                   site="别的大学")  # fmt: skip
        self.assertEqual(Category.objects.get(path="blgc-edu-cn").label, "北岭工程大学")
        empty = Category.objects.create(name="empty.example.org")
        self.assertEqual(empty.label, "empty.example.org")  # nothing better to say

    def test_names_that_only_look_like_domains_stay_names(self) -> None:
        for name in ["node.js", "setup.py", "Vue 3.0", "2023.12"]:
            with self.subTest(name=name):
                category = Category.objects.create(name=name)
                Category.objects.create(name="子分类", parent=category)
                self.assertEqual(Category.objects.get(pk=category.pk).label, name)

    def test_no_page_shows_the_domain_where_it_names_a_category(self) -> None:
        urls = [
            reverse("notices:categories"),
            reverse("notices:category", args=["blgc-edu-cn"]),
            reverse("notices:category", args=["blgc-edu-cn/北岭工程大学/研究生院"]),
            reverse("notices:list") + "?category=blgc-edu-cn",
            self.notices["admission"].get_absolute_url(),
        ]
        for url in urls:
            with self.subTest(url=url):
                response = self.client.get(url)
                html = response.content.decode()
                # The domain may appear as the notice's address, never as a category.
                self.assertNotIn(">blgc.edu.cn</a>", html)
                self.assertNotIn("blgc.edu.cn &gt;", html)
                self.assertNotIn("blgc.edu.cn >", html)
        chips = self.client.get(reverse("notices:list"), {"category": "blgc-edu-cn"})
        self.assertEqual(
            [chip.label for chip in chips.context["active_filters"]], ["分类：北岭工程大学"]
        )

    def test_the_category_index_shows_a_lone_sub_category_once(self) -> None:
        response = self.client.get(reverse("notices:categories"))
        html = response.content.decode()
        self.assertEqual(html.count(">北岭工程大学</a>"), 1)
        # It links the category readers know; the path stays in the URL.
        hrefs = links_in(html)
        self.assertIn(reverse("notices:category", args=["blgc-edu-cn/北岭工程大学"]), hrefs)
        self.assertNotIn(reverse("notices:category", args=["blgc-edu-cn"]), hrefs)
        tree = self.get_json(reverse("notices:categories"))["categories"]
        heu = next(node for node in tree if node["name"] == "blgc.edu.cn")
        self.assertEqual(heu["label"], "北岭工程大学")  # JSON keeps the whole tree

    def test_breadcrumbs_name_the_university_once(self) -> None:
        response = self.client.get(self.notices["defence"].get_absolute_url())
        trail = [category.label for category in response.context["category_trail"]]
        self.assertEqual(trail, ["北岭工程大学", "研究生院"])


class NarrowingFacetTests(FacetTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.notices = build_reading_archive()

    def test_a_site_page_offers_no_source_and_no_category_holding_everything(self) -> None:
        facets = self.client.get(reverse("notices:site", args=["北岭工程大学"])).context["facets"]
        self.assertEqual(facets["sites"], [])
        self.assertEqual(facets["categories"], [])  # 北岭工程大学 3 of 3
        self.assertEqual(labels(facets["years"]), [])  # all in 2023
        # Equal counts by pinyin: tōng before yán, dá fàng zhāo.
        self.assertEqual(labels(facets["tags"]), [("通知", 2), ("研究生", 2), ("答辩", 1),
                                                  ("放假", 1), ("招生", 1)])  # fmt: skip

    def test_a_facet_with_one_value_short_of_everything_still_narrows(self) -> None:
        # 研究生院 holds 2 of the 3 notices of 北岭工程大学: a choice worth offering.
        url = reverse("notices:category", args=["blgc-edu-cn/北岭工程大学"])
        facets = self.client.get(url).context["facets"]
        self.assertEqual(labels(facets["categories"]), [("研究生院", 2)])

    def test_the_home_page_offers_each_dimension_once(self) -> None:
        response = self.client.get(reverse("notices:list"))
        facets = response.context["facets"]
        # Each domain category holds one source's notices: the sources say it already.
        self.assertEqual(facets["categories"], [])
        self.assertEqual(labels(facets["sites"]), [("北岭工程大学", 3), ("青岚大学", 3)])
        self.assertEqual(labels(facets["years"]), [("2023年", 4), ("2022年", 2)])
        self.assertContains(response, "来源")
        self.assertNotContains(response, "<h3>分类</h3>", html=True)

    def test_real_categories_stay_beside_the_sources(self) -> None:
        add_notice("lib", "图书馆通知", when(2023, 6, 1), categories=("图书馆",), site="图书馆站")
        facets = self.client.get(reverse("notices:list")).context["facets"]
        self.assertEqual(labels(facets["categories"]), [("图书馆", 1)])

    def test_tags_that_repeat_a_site_are_left_to_the_source_facet(self) -> None:
        add_notice("self-tagged", "带站名标签", when(2023, 6, 2), tags=("青岚大学", "通知"))
        add_notice("other-site-tag", "别的站名", when(2023, 6, 3), tags=("北岭工程大学",))
        facets = self.client.get(reverse("notices:list")).context["facets"]
        tag_labels = [value["label"] for value in facets["tags"]]
        self.assertNotIn("青岚大学", tag_labels)
        self.assertNotIn("北岭工程大学", tag_labels)
        self.assertIn("通知", tag_labels)
        self.assertIn(("青岚大学", 5), labels(facets["sites"]))
        # The tag's own page still works: folding is about the facet only.
        page = self.client.get(reverse("notices:tag", args=["青岚大学"]))
        self.assertEqual(page.status_code, 200)


class MoreValuesTests(FacetTestCase):
    """Every facet with more values than it shows links to a page with all of them."""

    @classmethod
    def setUpTestData(cls) -> None:
        # 15 tags, 北京 the most used; two sites.
        names = ["北京", "白山", "长春", "安徽", "东", "临", "义", "云", "重庆", "西安", "南京",
                 "上海", "广州", "杭州", "Alpha"]  # fmt: skip
        for i, name in enumerate(names):
            add_notice(f"n{i}", f"通知{i}", when(2023, 1 + i % 12, 1), tags=(name, "通知"),
                       site="甲站" if i % 2 else "乙站")  # fmt: skip
        add_notice("extra", "北京又一条", when(2022, 5, 1), tags=("北京",), site="乙站")

    def test_a_cut_facet_links_its_page_and_the_page_lists_every_value(self) -> None:
        response = self.client.get(reverse("notices:list"))
        facets = response.context["facets"]
        self.assertEqual(len(facets["tags"]), 12)
        more = facets.more["tags"]
        self.assertEqual(more, reverse("notices:facet", args=["tags"]))
        self.assertIn(more, links_in(response.content.decode()))
        self.assertContains(response, f'<a href="{more}" aria-label="全部标签">更多</a>', html=True)
        self.assertNotIn("sites", facets.more)  # two sources: all shown
        data = self.get_json(more)
        self.assertEqual(data["facet"], "tags")
        self.assertEqual(data["count"], 16)
        self.assertEqual(data["values"][0], {
            "label": "通知", "value": "通知", "count": 15,
            "url": "http://testserver/tags/%E9%80%9A%E7%9F%A5/",
            "list_url": "http://testserver/?tag=%E9%80%9A%E7%9F%A5",
        })  # fmt: skip
        self.assertEqual((data["values"][1]["label"], data["values"][1]["count"]), ("北京", 2))
        self.assertFalse(data["truncated"])

    def test_the_page_sorts_by_name_in_pinyin(self) -> None:
        data = self.get_json(reverse("notices:facet", args=["tags"]), sort="name")
        self.assertEqual(
            [value["label"] for value in data["values"]],
            ["Alpha", "安徽", "白山", "北京", "长春", "重庆", "东", "广州", "杭州", "临", "南京",
             "上海", "通知", "西安", "义", "云"],
        )  # fmt: skip
        html = self.client.get(reverse("notices:facet", args=["tags"]), {"sort": "name"})
        self.assertContains(html, '<strong aria-current="true">按名称</strong>', html=True)
        self.assertContains(html, '<a href="?sort=count">按使用次数</a>', html=True)

    def test_the_page_counts_within_the_filters_of_the_list_it_came_from(self) -> None:
        # On a tag page the tag is the page's own: the facet page gets it as a parameter.
        response = self.client.get(reverse("notices:tag", args=["北京"]))
        self.assertEqual(response.context["facets"].more, {})  # 1 other tag: nothing cut
        with mock.patch("notices.filters.FACET_LIMIT", 1):
            response = self.client.get(reverse("notices:site", args=["乙站"]), {"year": "2023"})
        more = response.context["facets"].more["tags"]
        self.assertEqual(more, "/facets/tags/?site=%E4%B9%99%E7%AB%99&year=2023")
        data = self.get_json(more)
        self.assertEqual(data["filters"]["site"], "乙站")
        self.assertEqual(data["values"][0]["count"], 8)  # 通知 on 乙站's 2023 notices
        self.assertEqual(sum(v["count"] for v in data["values"]), 16)
        page = self.client.get(more)
        self.assertContains(page, "统计范围：")
        self.assertIn(
            "/?tag=%E9%80%9A%E7%9F%A5&site=%E4%B9%99%E7%AB%99&year=2023",
            links_in(page.content.decode()),
        )

    def test_a_long_facet_is_cut_with_a_note(self) -> None:
        with mock.patch("notices.filters.FACET_PAGE_LIMIT", 3):
            response = self.client.get(reverse("notices:facet", args=["tags"]))
        self.assertEqual(len(response.context["values"]), 3)
        self.assertTrue(response.context["truncated"])
        self.assertContains(response, "加一个筛选条件可以看到其余的")

    def test_every_facet_has_its_page(self) -> None:
        for facet, params, first in [
            ("sites", {}, ("乙站", 9)),
            ("years", {}, ("2023年", 15)),
            ("months", {"year": "2023"}, ("12月", 1)),
            ("categories", {}, ("青岚大学", 16)),
        ]:
            with self.subTest(facet=facet):
                data = self.get_json(reverse("notices:facet", args=[facet]), **params)
                self.assertEqual((data["values"][0]["label"], data["values"][0]["count"]), first)
        self.assertEqual(self.client.get("/facets/nope/").status_code, 404)
        self.assertEqual(self.client.get("/facets/tags/", {"site": "无"}).status_code, 404)

    def test_a_search_keeps_its_query_on_the_facet_page(self) -> None:
        with mock.patch("notices.filters.FACET_LIMIT", 1):
            response = self.client.get(reverse("notices:search"), {"q": "通知", "sort": "newest"})
        more = response.context["facets"].more["tags"]
        self.assertEqual(more, "/facets/tags/?q=%E9%80%9A%E7%9F%A5")  # the search's sort stays
        data = self.get_json(more)
        self.assertEqual(data["query"], "通知")
        # Every notice says 通知 in its body; the tag facet counts all 16.
        self.assertEqual(labels(data["values"])[:2], [("通知", 15), ("北京", 2)])
        self.assertEqual(data["count"], 16)
        page = self.client.get(more)
        self.assertIn("/search/?q=%E9%80%9A%E7%9F%A5&tag=%E5%8C%97%E4%BA%AC",
                      links_in(page.content.decode()))  # fmt: skip

    def test_a_search_too_broad_for_counts_says_so(self) -> None:
        with mock.patch("notices.views.SEARCH_FACET_LIMIT", 3):
            response = self.client.get(reverse("notices:facet", args=["tags"]), {"q": "通知"})
            data = self.get_json(reverse("notices:facet", args=["tags"]), q="通知")
        self.assertContains(response, "请增加词语或筛选")
        self.assertEqual(response.context["values"], [])
        self.assertTrue(response.context["too_broad"])
        self.assertTrue(data["facets_skipped"])
        self.assertEqual(data["values"], [])

    def test_list_json_keeps_its_facet_shape(self) -> None:
        data = self.get_json(reverse("notices:list"))
        self.assertEqual(
            list(data["facets"]), ["categories", "tags", "sites", "years", "attachments"]
        )
        self.assertEqual(len(data["facets"]["tags"]), 12)
        self.assertEqual(
            set(data["facets"]["tags"][0]), {"label", "value", "count", "url", "query"}
        )

    def test_the_facet_page_has_a_bounded_number_of_queries(self) -> None:
        url = reverse("notices:facet", args=["tags"]) + "?site=%E7%94%B2%E7%AB%99"
        with CaptureQueriesContext(connection) as few:
            self.client.get(url)
        for i in range(30):
            add_notice(f"more-{i}", f"更多{i}", when(2021, 1 + i % 12, 2), site="甲站",
                       tags=(f"新标签{i}", "通知"))  # fmt: skip
        with self.assertNumQueries(len(few)):
            self.client.get(url)


class SearchFacetTests(FacetTestCase):
    """A search's facets come from hand-written queries over its matched ids (issue 13):
    the same values, counts and order as the grouped ORM queries over its matches."""

    def setUp(self) -> None:
        # Years and months split at local midnight (UTC is 8 hours behind), some
        # attachments, tags shared unevenly, two sites and a category branch.
        edges = [when(2022, 12, 31, 23), when(2023, 1, 1, 0), when(2023, 5, 31, 23),
                 when(2023, 6, 1, 1), when(2024, 2, 29, 12), when(2021, 7, 1, 7)]  # fmt: skip
        for i, date in enumerate(edges * 2):
            add_notice(
                f"s{i}", f"招生通知{i}", date, site="北岭工程大学" if i % 3 else "青岚大学",
                categories=("blgc.edu.cn", "北岭工程大学", "研究生院" if i % 2 else "本科生院"),
                tags=("招生", f"第{i % 4}批")[: 1 + i % 2], has_attachments=i % 4 == 0,
            )  # fmt: skip
        add_notice("other", "放假安排", when(2023, 3, 1), tags=("招生",))

    def test_search_facets_match_the_grouped_queries(self) -> None:
        from notices.filters import NoticeFilters, facet_counts
        from notices.models import Notice
        from notices.search import parse_query, search_notices
        from notices.views import _search_facets

        branch = Category.objects.get(name="北岭工程大学").path
        for params in ({}, {"year": "2023"}, {"tag": "招生"}, {"site": "青岚大学"},
                       {"category": branch}):  # fmt: skip
            with self.subTest(params=params):
                filters = NoticeFilters.from_params(QueryDict(urlencode(params)))
                results = search_notices(
                    parse_query("招生"), filters.apply(Notice.objects.published())
                )
                by_orm = facet_counts(results.notices, filters)
                by_hand = _search_facets(results, filters, None)
                self.assertEqual(by_hand, by_orm)
                self.assertEqual(by_hand.more, by_orm.more)
                self.assertTrue(by_hand["years"] or by_hand["months"])
        filters = NoticeFilters.from_params(QueryDict("year=2023"))
        results = search_notices(parse_query("招生"), filters.apply(Notice.objects.published()))
        months = _search_facets(results, filters, None)["months"]
        self.assertEqual([(m["value"], m["count"]) for m in months], [(6, 2), (5, 2), (1, 2)])

    def test_sites_tied_at_the_cut_are_cut_in_the_same_order(self) -> None:
        from notices.filters import _Grouped, _Listed
        from notices.search import matched_ids_sql, parse_query, search_notices

        for i, site in enumerate(["乙站", "甲站", "b站", "A站", "丙站", "a站"]):
            add_notice(f"t{i}", f"招生简章{i}", when(2023, 2, 1 + i), site=site)
        results = search_notices(parse_query("招生"))
        listed = _Listed(results.notices, matched_ids_sql(results), None)
        grouped = _Grouped(results.notices)
        for limit in range(1, 10):
            with self.subTest(limit=limit):
                self.assertEqual(listed.sites(limit), grouped.sites(limit))
        self.assertEqual(len(listed.sites(10)), 8)

    def test_the_page_shows_them(self) -> None:
        page = self.get_json(reverse("notices:search"), q="招生")
        years = [(v["value"], v["count"]) for v in page["facets"]["years"]]
        self.assertEqual(years, [(2024, 2), (2023, 6), (2022, 2), (2021, 2)])


class ArchiveMonthTests(FacetTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.notices = build_reading_archive()

    def test_month_chips_under_a_year_are_newest_first_without_the_year(self) -> None:
        response = self.client.get(reverse("notices:archive-year", args=[2023]))
        html = response.content.decode()
        self.assertLess(html.index(">12月</a>"), html.index(">3月</a>"))
        self.assertNotIn(">2023年3月</a>", html)
        index = self.client.get(reverse("notices:archive")).content.decode()
        self.assertLess(index.index('href="/archive/2023/12/">12月'),
                        index.index('href="/archive/2023/3/">3月'))  # fmt: skip
        self.assertLess(index.index('href="/archive/2023/"'), index.index('href="/archive/2022/"'))

    def test_english_months_are_named(self) -> None:
        response = self.client.get(
            reverse("notices:archive-year", args=[2023]), headers={"accept-language": "en"}
        )
        self.assertContains(response, ">December</a>")
        self.assertNotContains(response, ">December 2023</a>")


@pytest.mark.browser
@skipUnless(CHROMIUM.exists(), "browser tests need Debian's Chromium at /usr/bin/chromium")
class MoreValuesBrowserTests(ChromiumTestCase):
    port = 0

    def setUp(self) -> None:
        MoreValuesTests.setUpTestData()

    def test_a_phone_reader_sees_every_tag_and_narrows_by_one(self) -> None:
        _context, page = self.open_page(375, java_script_enabled=False)
        page.goto(self.live_server_url + "/")
        page.locator(".filter-panel summary").click()
        tags = page.locator(".facet", has=page.get_by_role("heading", name="标签"))
        self.assertEqual(tags.locator("li").count(), 12)
        tags.get_by_role("link", name="全部标签").click()
        self.assertEqual(page.locator("h1").inner_text(), "标签")
        page.get_by_role("link", name="按名称").click()
        names = page.locator(".facet-values li a").all_inner_texts()
        self.assertEqual(names[:4], ["Alpha", "安徽", "白山", "北京"])
        self.assertEqual(len(names), 16)
        self.assert_fits_width(page)
        self.screenshot(page, "facet-values-by-name-375")
        page.get_by_role("link", name="白山", exact=True).click()
        self.assertEqual(page.locator(".notice-item").count(), 1)
        self.assertIn("标签：白山", page.locator(".active-filters").inner_text())
