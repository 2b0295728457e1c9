"""The reading pages (issue 3): lists with filters and facets, category/tag/site/date pages,
indexes, the detail page, JSON, languages and error pages."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from django.test import TestCase
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from notices.importing import import_archive
from notices.links import url_maker
from notices.models import Category, Notice
from sample import write_archive
from tests.helpers import SHANGHAI, attributes, make_notice, parse_html
from tests.helpers import hrefs as links_in


def category_path(*names: str) -> Category:
    """The category path root > … > leaf, created as needed; returns the leaf."""
    parent = None
    for name in names:
        parent = Category.objects.get_or_create(name=name, parent=parent)[0]
    assert parent is not None
    return parent


def when(year: int, month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=SHANGHAI)


def add_notice(
    urlname: str,
    title: str,
    date: dt.datetime,
    *,
    categories: tuple[str, ...] = ("qinglan.edu.cn", "青岚大学"),
    tags: tuple[str, ...] = (),
    site: str = "青岚大学",
    **fields: Any,
) -> Notice:
    notice = make_notice(urlname=urlname, title=title, date=date, site=site, **fields)
    notice.categories.add(category_path(*categories))
    if tags:
        notice.tags.add(*tags)
    return notice


def build_reading_archive() -> dict[str, Notice]:
    """A small archive covering every browsing path: a three-level category branch, two
    sites, tags shared in different combinations, and dates over two years."""
    grad = ("blgc.edu.cn", "北岭工程大学", "研究生院")
    heu = ("blgc.edu.cn", "北岭工程大学")
    notices = {
        "winter": add_notice(
            "winter-2022", "关于2022年寒假安排的通知", when(2022, 1, 10),
            tags=("寒假", "通知"),
        ),
        "exam": add_notice(
            "exam-2022", "关于期末考试安排的通知", when(2022, 6, 20),
            tags=("考试", "通知"),
        ),
        "admission": add_notice(
            "admission-2023", "2023年硕士研究生招生简章", when(2023, 3, 5),
            categories=grad, site="北岭工程大学", domain="blgc.edu.cn",
            source_url="https://yzb.blgc.edu.cn/2023/0305/c1234a5678/page.htm",
            tags=("研究生", "招生", "通知"),
        ),
        "defence": add_notice(
            "defence-2023", "关于2023年春季学位论文答辩的通知", when(2023, 3, 28),
            categories=grad, site="北岭工程大学", domain="blgc.edu.cn",
            tags=("研究生", "答辩"),
        ),
        "holiday": add_notice(
            "holiday-2023", "2023年清明节放假通知", when(2023, 3, 30),
            categories=heu, site="北岭工程大学", domain="blgc.edu.cn",
            tags=("放假", "通知"),
        ),
        "winter23": add_notice(
            "winter-2023", "关于2023年寒假安排的通知", when(2023, 12, 25),
            tags=("寒假", "通知"),
        ),
    }  # fmt: skip
    return notices


def listed(response) -> list[str]:
    return [notice.urlname for notice in response.context["page"].object_list]


class ReadingTestCase(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.notices = build_reading_archive()

    def get_json(self, url: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(url, {**params, "format": "json"})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/json")
        return json.loads(response.content)


class ListFilterTests(ReadingTestCase):
    url = reverse("notices:list")

    def test_it_lists_newest_first(self) -> None:
        response = self.client.get(self.url)
        self.assertEqual(
            listed(response),
            ["winter-2023", "holiday-2023", "defence-2023", "admission-2023", "exam-2022",
             "winter-2022"],
        )  # fmt: skip

    def test_a_category_filter_includes_its_sub_categories(self) -> None:
        response = self.client.get(self.url, {"category": "blgc-edu-cn/北岭工程大学"})
        self.assertEqual(listed(response), ["holiday-2023", "defence-2023", "admission-2023"])
        deepest = self.client.get(self.url, {"category": "blgc-edu-cn/北岭工程大学/研究生院"})
        self.assertEqual(listed(deepest), ["defence-2023", "admission-2023"])

    def test_several_tags_are_anded(self) -> None:
        one = self.client.get(self.url, {"tag": ["通知"]})
        self.assertEqual(len(listed(one)), 5)
        both = self.client.get(self.url, {"tag": ["通知", "研究生"]})
        self.assertEqual(listed(both), ["admission-2023"])
        none = self.client.get(self.url, {"tag": ["考试", "研究生"]})
        self.assertEqual(listed(none), [])

    def test_site_year_and_month_filters_combine(self) -> None:
        response = self.client.get(
            self.url, {"site": "北岭工程大学", "year": "2023", "month": "3", "tag": "通知"}
        )
        self.assertEqual(listed(response), ["holiday-2023", "admission-2023"])
        self.assertEqual(
            listed(self.client.get(self.url, {"year": "2022"})), ["exam-2022", "winter-2022"]
        )

    def test_it_says_so_when_nothing_matches(self) -> None:
        response = self.client.get(self.url, {"year": "2021"})
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "没有符合这些条件的通知")
        self.assertContains(response, "2021年")  # the removable year filter

    def test_each_active_filter_can_be_removed(self) -> None:
        response = self.client.get(self.url, {"tag": ["通知", "研究生"], "site": "北岭工程大学"})
        chips = response.context["active_filters"]
        self.assertEqual(
            [chip.label for chip in chips], ["标签：通知", "标签：研究生", "来源：北岭工程大学"]
        )
        hrefs = links_in(response.content.decode())
        for chip in chips:
            self.assertIn(f"?{chip.query}", hrefs)
        without_first_tag = self.client.get(f"{self.url}?{chips[0].query}")
        self.assertEqual(
            [c.label for c in without_first_tag.context["active_filters"]],
            ["标签：研究生", "来源：北岭工程大学"],
        )

    def test_pages_keep_the_filters(self) -> None:
        for day in range(1, 26):
            add_notice(f"extra-{day}", f"第{day}号通知", when(2021, 5, day), tags=("批量",))
        response = self.client.get(self.url, {"tag": "批量", "year": "2021"})
        self.assertEqual(len(listed(response)), 20)
        next_links = attributes(response.content.decode(), "a", rel="next")
        self.assertEqual(len(next_links), 1)
        second = self.client.get(self.url + next_links[0]["href"])
        self.assertEqual(len(listed(second)), 5)
        self.assertTrue(all(u.startswith("extra-") for u in listed(second)))

    def test_invalid_parameters_are_404_not_500(self) -> None:
        for params in [
            {"category": "no/such/category"},
            {"tag": "不存在的标签"},
            {"tag": ["通知", "不存在的标签"]},
            {"site": "不存在的大学"},
            {"year": "abc"},
            {"year": "20231"},
            {"year": "2023", "month": "13"},
            {"year": "2023", "month": "0"},
            {"month": "3"},
            {"tag": ["a", "b", "c", "d", "e", "f"]},
            {"tag": "通知\x00"},
            {"site": "青岚大学\x00"},
            {"category": "\x00"},
        ]:
            with self.subTest(params=params):
                self.assertEqual(self.client.get(self.url, params).status_code, 404)

    def test_nul_in_a_url_is_404_on_every_database(self) -> None:
        for url in [
            "/tags/a%00/",
            "/tags/a%00/atom.xml",
            "/categories/a%00/",
            "/categories/qinglan-edu-cn/%00/rss.xml",
            "/sites/a%00/",
            "/notices/a%00/",
            "/atom.xml?site=%00",
        ]:
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 404)

    def test_bad_page_numbers_still_show_a_page(self) -> None:
        for page in ["abc", "-1", "999", "0", "1.5"]:
            with self.subTest(page=page):
                response = self.client.get(self.url, {"page": page})
                self.assertEqual(response.status_code, 200)
                self.assertTrue(listed(response))

    def test_facets_count_categories_tags_sites_and_years(self) -> None:
        facets = self.client.get(self.url).context["facets"]
        # Each domain category holds exactly one source's notices: offered once, as a source
        # (tests/test_facets.py).
        self.assertEqual(facets["categories"], [])
        tags = {value["label"]: value["count"] for value in facets["tags"]}
        self.assertEqual(tags["通知"], 5)
        self.assertEqual(tags["研究生"], 2)
        sites = {value["label"]: value["count"] for value in facets["sites"]}
        self.assertEqual(sites, {"青岚大学": 3, "北岭工程大学": 3})
        years = [(value["value"], value["count"]) for value in facets["years"]]
        self.assertEqual(years, [(2023, 4), (2022, 2)])

    def test_facets_follow_the_filters_and_link_to_narrower_lists(self) -> None:
        response = self.client.get(self.url, {"category": "blgc-edu-cn/北岭工程大学"})
        facets = response.context["facets"]
        self.assertEqual(
            [(v["label"], v["count"]) for v in facets["categories"]], [("研究生院", 2)]
        )
        tag_link = next(v for v in facets["tags"] if v["label"] == "研究生")
        self.assertIn(f"?{tag_link['query']}", links_in(response.content.decode()))
        narrowed = self.client.get(f"{self.url}?{tag_link['query']}")
        self.assertEqual(listed(narrowed), ["defence-2023", "admission-2023"])
        with_year = self.client.get(self.url, {"year": "2023"}).context["facets"]
        self.assertEqual([(v["value"], v["count"]) for v in with_year["months"]], [(12, 1), (3, 3)])

    def test_json_has_notices_facets_filters_and_page_links(self) -> None:
        data = self.get_json(self.url, tag="通知", year="2023")
        self.assertEqual(data["count"], 3)
        self.assertEqual(data["filters"]["tags"], ["通知"])
        self.assertEqual(data["filters"]["year"], 2023)
        first = data["results"][0]
        self.assertEqual(first["urlname"], "winter-2023")
        self.assertEqual(first["title"], "关于2023年寒假安排的通知")
        self.assertTrue(first["url"].endswith("/notices/winter-2023/"))
        self.assertEqual(first["date"], "2023-12-25T09:00:00+08:00")
        self.assertEqual([t["name"] for t in first["tags"]], ["寒假", "通知"])
        self.assertEqual(first["categories"][0]["path"], "qinglan-edu-cn/青岚大学")
        self.assertIn("tags", data["facets"])
        self.assertIsNone(data["next"])
        raw = self.client.get(self.url, {"format": "json"}).content.decode()
        self.assertIn("寒假", raw)  # readable UTF-8, not \\u escapes

    def test_json_next_link_keeps_filters_and_format(self) -> None:
        for day in range(1, 26):
            add_notice(f"extra-{day}", f"第{day}号通知", when(2021, 5, day), tags=("批量",))
        data = self.get_json(self.url, tag="批量")
        self.assertEqual(len(data["results"]), 20)
        self.assertIsNone(data["previous"])
        second = json.loads(self.client.get(data["next"]).content)
        self.assertEqual(second["page"], 2)
        self.assertEqual(len(second["results"]), 5)
        self.assertIsNotNone(second["previous"])


class CategoryPageTests(ReadingTestCase):
    def test_it_shows_breadcrumbs_sub_categories_and_notices_below(self) -> None:
        url = reverse("notices:category", args=["blgc-edu-cn/北岭工程大学"])
        response = self.client.get(url)
        self.assertEqual(listed(response), ["holiday-2023", "defence-2023", "admission-2023"])
        page = parse_html(response.content.decode())
        hrefs = links_in(page)
        self.assertIn(reverse("notices:categories"), hrefs)
        # The domain above it stands for the same university: one crumb, not two alike.
        self.assertNotIn(reverse("notices:category", args=["blgc-edu-cn"]), hrefs)
        grad_url = reverse("notices:category", args=["blgc-edu-cn/北岭工程大学/研究生院"])
        self.assertIn(grad_url, hrefs)
        self.assertEqual(
            [(v["label"], v["count"]) for v in response.context["facets"]["categories"]],
            [("研究生院", 2)],
        )
        self.assertContains(response, '<li aria-current="page">北岭工程大学</li>', html=True)

    def test_more_filters_narrow_a_category_page(self) -> None:
        url = reverse("notices:category", args=["blgc-edu-cn"])
        response = self.client.get(url, {"tag": "放假"})
        self.assertEqual(listed(response), ["holiday-2023"])
        self.assertEqual([c.label for c in response.context["active_filters"]], ["标签：放假"])

    def test_an_empty_result_on_a_category_page_is_not_an_error(self) -> None:
        url = reverse("notices:category", args=["blgc-edu-cn"])
        response = self.client.get(url, {"year": "2022"})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(listed(response), [])

    def test_unknown_categories_are_404(self) -> None:
        for path in ["nope", "blgc-edu-cn/nope", "blgc-edu-cn/北岭工程大学/研究生院/x"]:
            with self.subTest(path=path):
                response = self.client.get(reverse("notices:category", args=[path]))
                self.assertEqual(response.status_code, 404)

    def test_the_index_shows_the_whole_tree_with_counts(self) -> None:
        response = self.client.get(reverse("notices:categories"))
        self.assertContains(response, "研究生院")
        data = self.get_json(reverse("notices:categories"))
        tree = {node["name"]: node for node in data["categories"]}
        heu = tree["blgc.edu.cn"]
        self.assertEqual(heu["count"], 3)
        self.assertEqual(heu["children"][0]["count"], 3)
        self.assertEqual(heu["children"][0]["children"][0]["name"], "研究生院")
        self.assertEqual(heu["children"][0]["children"][0]["count"], 2)
        hrefs = links_in(response.content.decode())
        self.assertIn(
            reverse("notices:category", args=["blgc-edu-cn/北岭工程大学/研究生院"]), hrefs
        )

    def test_json_works_on_category_pages(self) -> None:
        url = reverse("notices:category", args=["blgc-edu-cn/北岭工程大学/研究生院"])
        data = self.get_json(url)
        self.assertEqual(
            [n["urlname"] for n in data["results"]], ["defence-2023", "admission-2023"]
        )
        self.assertEqual(data["filters"]["category"], "blgc-edu-cn/北岭工程大学/研究生院")


class TagPageTests(ReadingTestCase):
    def test_chinese_and_percent_encoded_tag_urls_work(self) -> None:
        for url in [reverse("notices:tag", args=["研究生"]), "/tags/%E7%A0%94%E7%A9%B6%E7%94%9F/"]:
            with self.subTest(url=url):
                response = self.client.get(url)
                self.assertEqual(listed(response), ["defence-2023", "admission-2023"])

    def test_old_links_by_name_or_double_encoding_redirect_to_the_tag(self) -> None:
        from taggit.models import Tag

        Tag.objects.filter(name="研究生").update(slug="graduate")
        for url in ["/tags/研究生/", "/tags/%25E7%25A0%2594%25E7%25A9%25B6%25E7%2594%259F/"]:
            with self.subTest(url=url):
                response = self.client.get(url)
                self.assertRedirects(response, "/tags/graduate/", status_code=301)

    def test_unknown_tags_are_404(self) -> None:
        self.assertEqual(self.client.get(reverse("notices:tag", args=["没有"])).status_code, 404)

    def test_another_tag_narrows_a_tag_page(self) -> None:
        response = self.client.get(reverse("notices:tag", args=["通知"]), {"tag": "研究生"})
        self.assertEqual(listed(response), ["admission-2023"])
        self.assertEqual([c.label for c in response.context["active_filters"]], ["标签：研究生"])
        tag_facets = [v["label"] for v in response.context["facets"]["tags"]]
        self.assertNotIn("通知", tag_facets)

    def test_the_index_lists_tags_by_use_or_name(self) -> None:
        data = self.get_json(reverse("notices:tags"))
        self.assertEqual(data["tags"][0]["name"], "通知")
        self.assertEqual(data["tags"][0]["count"], 5)
        by_name = self.get_json(reverse("notices:tags"), sort="name")
        names = [tag["name"] for tag in by_name["tags"]]
        # By pinyin: dá fàng hán kǎo tōng yán zhāo.
        self.assertEqual(names, ["答辩", "放假", "寒假", "考试", "通知", "研究生", "招生"])
        response = self.client.get(reverse("notices:tags"))
        self.assertIn(reverse("notices:tag", args=["答辩"]), links_in(response.content.decode()))


class SitePageTests(ReadingTestCase):
    def test_a_site_page_lists_its_notices(self) -> None:
        response = self.client.get(reverse("notices:site", args=["北岭工程大学"]))
        self.assertEqual(listed(response), ["holiday-2023", "defence-2023", "admission-2023"])
        self.assertContains(response, '<h1 class="page-title">北岭工程大学</h1>', html=True)

    def test_sites_with_a_slash_in_the_name_work(self) -> None:
        add_notice("slash", "通知", when(2023, 1, 1), site="教务处/研究生院")
        response = self.client.get(reverse("notices:site", args=["教务处/研究生院"]))
        self.assertEqual(listed(response), ["slash"])

    def test_unknown_sites_are_404(self) -> None:
        self.assertEqual(self.client.get(reverse("notices:site", args=["无"])).status_code, 404)

    def test_the_index_lists_sites_with_counts_and_links(self) -> None:
        data = self.get_json(reverse("notices:sites"))
        self.assertEqual(
            [(s["name"], s["count"]) for s in data["sites"]],
            [("北岭工程大学", 3), ("青岚大学", 3)],
        )
        response = self.client.get(reverse("notices:sites"))
        self.assertIn(
            reverse("notices:site", args=["青岚大学"]), links_in(response.content.decode())
        )


class ArchiveTests(ReadingTestCase):
    def test_a_year_page_has_month_counts_and_neighbouring_years(self) -> None:
        response = self.client.get(reverse("notices:archive-year", args=[2023]))
        self.assertEqual(len(listed(response)), 4)
        months = [(v["value"], v["count"]) for v in response.context["facets"]["months"]]
        self.assertEqual(months, [(12, 1), (3, 3)])
        hrefs = links_in(response.content.decode())
        self.assertIn(reverse("notices:archive-month", args=[2023, 3]), hrefs)
        self.assertIn(reverse("notices:archive-year", args=[2022]), hrefs)
        self.assertEqual(response.context["newer_period"], None)
        self.assertContains(response, '<h1 class="page-title">2023年</h1>', html=True)

    def test_a_month_page_links_the_previous_and_next_months_with_notices(self) -> None:
        response = self.client.get(reverse("notices:archive-month", args=[2023, 3]))
        self.assertEqual(listed(response), ["holiday-2023", "defence-2023", "admission-2023"])
        page = parse_html(response.content.decode())
        [older] = attributes(page, "a", rel="prev")
        [newer] = attributes(page, "a", rel="next")
        self.assertEqual(older["href"], reverse("notices:archive-month", args=[2022, 6]))
        self.assertEqual(newer["href"], reverse("notices:archive-month", args=[2023, 12]))
        self.assertContains(response, "2023年3月")

    def test_month_boundaries_are_in_china_time(self) -> None:
        # 2022-07-01 00:30 in Shanghai is still June in UTC.
        add_notice("midnight", "午夜通知", dt.datetime(2022, 7, 1, 0, 30, tzinfo=SHANGHAI))
        response = self.client.get(reverse("notices:archive-month", args=[2022, 7]))
        self.assertEqual(listed(response), ["midnight"])

    def test_empty_or_impossible_periods_are_404(self) -> None:
        for url in [
            reverse("notices:archive-year", args=[2020]),
            reverse("notices:archive-month", args=[2023, 5]),
            reverse("notices:archive-month", args=[2023, 13]),
            reverse("notices:archive-month", args=[2023, 0]),
            "/archive/0/",
            "/archive/99999/",
        ]:
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 404)

    def test_the_index_lists_years_and_months_with_counts(self) -> None:
        data = self.get_json(reverse("notices:archive"))
        self.assertEqual([(y["year"], y["count"]) for y in data["years"]], [(2023, 4), (2022, 2)])
        self.assertEqual(
            [(m["month"], m["count"]) for m in data["years"][0]["months"]], [(12, 1), (3, 3)]
        )
        response = self.client.get(reverse("notices:archive"))
        self.assertContains(response, '<a href="/archive/2022/6/">6月</a>', html=True)
        self.assertIn(
            reverse("notices:archive-month", args=[2022, 6]),
            links_in(response.content.decode()),
        )

    def test_json_works_on_archive_pages(self) -> None:
        data = self.get_json(reverse("notices:archive-month", args=[2022, 6]))
        self.assertEqual([n["urlname"] for n in data["results"]], ["exam-2022"])


class NoticeDetailTests(ReadingTestCase):
    def get_detail(self, key: str):
        return self.client.get(self.notices[key].get_absolute_url())

    def test_breadcrumbs_follow_the_category_path(self) -> None:
        response = self.get_detail("admission")
        crumbs = parse_html(response.content.decode())
        hrefs = links_in(crumbs)
        for path in [
            "blgc-edu-cn/北岭工程大学",
            "blgc-edu-cn/北岭工程大学/研究生院",
        ]:
            self.assertIn(reverse("notices:category", args=[path]), hrefs)

    def test_older_and_newer_notices_are_linked_by_date(self) -> None:
        page = parse_html(self.get_detail("defence").content.decode())
        [older] = attributes(page, "a", rel="prev")
        [newer] = attributes(page, "a", rel="next")
        self.assertEqual(older["href"], self.notices["admission"].get_absolute_url())
        self.assertEqual(newer["href"], self.notices["holiday"].get_absolute_url())
        first = parse_html(self.get_detail("winter").content.decode())
        self.assertEqual(attributes(first, "a", rel="prev"), [])

    def test_notices_on_the_same_date_still_have_neighbours(self) -> None:
        same = [add_notice(f"same-{i}", f"同日通知{i}", when(2024, 1, 1)) for i in range(3)]
        middle = parse_html(self.client.get(same[1].get_absolute_url()).content.decode())
        self.assertEqual(attributes(middle, "a", rel="prev")[0]["href"], same[0].get_absolute_url())
        self.assertEqual(attributes(middle, "a", rel="next")[0]["href"], same[2].get_absolute_url())

    def test_related_notices_share_tags_first(self) -> None:
        related = [n.urlname for n in self.get_detail("admission").context["related"]]
        self.assertEqual(related[0], "defence-2023")  # shares 研究生 and the category
        self.assertNotIn("admission-2023", related)
        self.assertLessEqual(len(related), 5)
        lonely = add_notice("lonely", "孤立通知", when(2021, 1, 1), site="无名站点",
                            categories=("x.example.com", "无名站点"))  # fmt: skip
        self.assertEqual(list(self.client.get(lonely.get_absolute_url()).context["related"]), [])

    def test_the_source_block_shows_the_link_and_its_domain(self) -> None:
        response = self.get_detail("admission")
        self.assertContains(response, "查看原文")
        self.assertContains(response, '<span class="source-host">yzb.blgc.edu.cn</span>', html=True)
        page = parse_html(response.content.decode())
        [link] = [
            a
            for a in attributes(page, "a")
            if a.get("href") == self.notices["admission"].source_url
        ]
        self.assertEqual(link["rel"], "noopener noreferrer")

    def test_it_has_canonical_description_and_open_graph_meta(self) -> None:
        notice = self.notices["admission"]
        page = parse_html(self.get_detail("admission").content.decode())
        canonical = f"http://testserver{notice.get_absolute_url()}"
        self.assertEqual(attributes(page, "link", rel="canonical")[0]["href"], canonical)
        self.assertEqual(attributes(page, "meta", property="og:url")[0]["content"], canonical)
        self.assertEqual(attributes(page, "meta", property="og:title")[0]["content"], notice.title)
        self.assertEqual(attributes(page, "meta", property="og:type")[0]["content"], "article")
        self.assertEqual(attributes(page, "meta", name="description")[0]["content"], notice.summary)
        self.assertTrue(notice.summary)

    def test_the_site_links_to_its_page(self) -> None:
        hrefs = links_in(self.get_detail("admission").content.decode())
        self.assertIn(reverse("notices:site", args=["北岭工程大学"]), hrefs)

    def test_links_are_the_urls_reverse_makes(self) -> None:
        values = ["2023-招生", "a b", "100%", "q?x=1#y", "a+b&c;d", "~it's(1)", "é@:!", "a/b", "/a"]
        routes = ["notices:detail", "notices:tag", "notices:category", "notices:site"]
        for language in ("zh-hans", "en"):
            with translation.override(language):
                for name, value in itertools.product(routes, values):
                    with self.subTest(name=name, value=value, language=language):
                        try:
                            expected = reverse(name, args=[value])
                        except NoReverseMatch:
                            with self.assertRaises(NoReverseMatch):
                                url_maker(name)(value)
                        else:
                            self.assertEqual(url_maker(name)(value), expected)
                with self.assertRaises(NoReverseMatch):
                    url_maker("notices:detail")("a/b")
        with mock.patch("django.urls.base.get_script_prefix", return_value="/board/"):
            url = url_maker("notices:detail")
            self.assertEqual(url("a b"), reverse("notices:detail", args=["a b"]))
            self.assertTrue(url("a b").startswith("/board/"))


class NavigationTests(ReadingTestCase):
    def test_every_page_links_the_browse_indexes_and_a_skip_link(self) -> None:
        for url in [
            reverse("notices:list"),
            reverse("notices:categories"),
            reverse("notices:tags"),
            reverse("notices:sites"),
            reverse("notices:archive"),
            self.notices["exam"].get_absolute_url(),
        ]:
            with self.subTest(url=url):
                response = self.client.get(url)
                page = parse_html(response.content.decode())
                hrefs = links_in(page)
                for name in ["categories", "tags", "archive", "sites"]:
                    self.assertIn(reverse(f"notices:{name}"), hrefs)
                self.assertIn("#main", hrefs)
                self.assertTrue(attributes(page, "main", id="main"))
                self.assertTrue(attributes(page, "nav"))
                self.assertTrue(attributes(page, "label", for_="language-select"))

    def test_any_notice_is_three_clicks_from_home(self) -> None:
        assert_three_clicks_from_home(self)


def assert_three_clicks_from_home(test: TestCase) -> None:
    """Home → an index (categories, tags, archive or sources) → one of its pages → every
    notice: checked for each way of browsing on its own, following only links on the pages."""
    home = links_in(test.client.get(reverse("notices:list")).content.decode())
    targets = {notice.get_absolute_url() for notice in Notice.objects.all()}
    for index, prefix in [
        ("categories", "/categories/"),
        ("tags", "/tags/"),
        ("archive", "/archive/"),
        ("sites", "/sites/"),
    ]:
        index_url = reverse(f"notices:{index}")
        test.assertIn(index_url, home)
        reached: set[str] = set()
        for link in links_in(test.client.get(index_url).content.decode()):
            if link.startswith(prefix) and link != index_url:
                response = test.client.get(link)
                test.assertEqual(response.status_code, 200, link)
                reached |= links_in(response.content.decode()) & targets
        test.assertEqual(targets - reached, set(), f"not reachable through {index}")


class SampleArchiveTests(TestCase):
    """The archive `make run` imports (sample/generator.py, 60 documents)."""

    @classmethod
    def setUpTestData(cls) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            write_archive(Path(tmp), 60)
            report = import_archive([Path(tmp)])
        assert report.created == 60, report.errors

    def test_any_sample_notice_is_three_clicks_from_home(self) -> None:
        assert_three_clicks_from_home(self)

    def test_every_list_and_index_page_of_the_sample_renders(self) -> None:
        urls = [
            reverse(f"notices:{name}")
            for name in ["list", "categories", "tags", "sites", "archive"]
        ]
        for name in ["categories", "tags", "sites", "archive"]:
            index = parse_html(self.client.get(reverse(f"notices:{name}")).content.decode())
            urls += [link for link in links_in(index) if link.startswith(f"/{name}/")]
        urls += [notice.get_absolute_url() for notice in Notice.objects.all()]
        for url in urls:
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 200)
                json_response = self.client.get(url, {"format": "json"})
                if "/notices/" not in url:
                    self.assertEqual(json_response["Content-Type"], "application/json")


class LanguageTests(ReadingTestCase):
    def test_chinese_is_the_default_with_chinese_dates(self) -> None:
        response = self.client.get(reverse("notices:list"))
        self.assertContains(response, '<html lang="zh-Hans">')
        self.assertContains(response, "最新通知")
        self.assertContains(response, "2023年12月25日")

    def test_the_language_switch_turns_the_site_english(self) -> None:
        response = self.client.post(
            reverse("set_language"), {"language": "en", "next": reverse("notices:tags")}
        )
        self.assertRedirects(response, reverse("notices:tags"))
        english = self.client.get(reverse("notices:list"))
        self.assertContains(english, '<html lang="en">')
        self.assertContains(english, "Latest notices")
        self.assertContains(english, "Dec. 25, 2023")
        self.assertNotContains(english, "最新通知")

    def test_every_filter_label_is_translated(self) -> None:
        with translation.override("en"):
            response = self.client.get(
                reverse("notices:list"), {"tag": "通知", "year": "2023", "month": "3"},
                headers={"accept-language": "en"},
            )  # fmt: skip
        labels = [chip.label for chip in response.context["active_filters"]]
        self.assertEqual(labels, ["Tag: 通知", "2023", "March 2023"])


class ErrorPageTests(ReadingTestCase):
    def test_not_found_is_in_the_site_design(self) -> None:
        response = self.client.get("/no/such/page/")
        self.assertEqual(response.status_code, 404)
        self.assertContains(response, "找不到这个页面", status_code=404)
        self.assertContains(response, "site.css", status_code=404)
        self.assertIn(reverse("notices:categories"), links_in(response.content.decode()))

    def test_server_errors_are_in_the_site_design(self) -> None:
        self.client.raise_request_exception = False
        with mock.patch("notices.views.render_notice_list", side_effect=RuntimeError("boom")):
            response = self.client.get(reverse("notices:list"))
        self.assertEqual(response.status_code, 500)
        self.assertContains(response, "出错了", status_code=500)
        self.assertContains(response, "site.css", status_code=500)


class RobotsTests(TestCase):
    def test_robots_points_at_the_sitemap_and_keeps_out_of_admin(self) -> None:
        response = self.client.get(reverse("notices:robots"))
        self.assertEqual(response["Content-Type"], "text/plain; charset=utf-8")
        text = response.content.decode()
        self.assertIn("Sitemap: http://testserver/sitemap.xml", text)
        self.assertIn("Disallow: /admin/", text)
