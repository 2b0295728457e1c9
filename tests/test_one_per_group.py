"""One entry per group of near-duplicates (issue 15, part 1): lists, search, feeds, the
deadline list and the JSON show a notice published by several sources once, as the earliest
copy among the list's own notices; `?all=1` shows every copy."""

from __future__ import annotations

import datetime as dt

from django.test import TestCase

from notices import deadlines
from notices.models import Notice
from tests.helpers import make_notice
from tests.test_grouping import LECTURE, ORIGINAL, REPUBLISHED

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def day(number: int) -> dt.datetime:
    return dt.datetime(2024, 12, number, 9, tzinfo=SHANGHAI)


def listed(response) -> list[str]:
    """The urlnames of a JSON list's entries, in order."""
    return [entry["urlname"] for entry in response.json()["results"]]


class OnePerGroupTests(TestCase):
    """The notice from its own site, two copies from other sites (the second carries a tag
    the first lacks), and a notice that is no copy of anything."""

    def setUp(self) -> None:
        self.first = make_notice(body=ORIGINAL, urlname="first", date=day(2))
        self.second = make_notice(
            body=REPUBLISHED, urlname="second", date=day(3), site="青岚新闻网"
        )
        self.second.tags.add("转载")
        self.third = make_notice(
            body=REPUBLISHED + "\n转载请注明出处\n", urlname="third", date=day(4), site="滨江日报"
        )
        self.third.tags.add("转载")
        self.other = make_notice(
            body=LECTURE.format(n=3, day="12月5日", who="王"), urlname="other", date=day(1)
        )
        self.assertEqual(Notice.objects.get(urlname="third").group, self.first.id)

    def test_the_home_list_shows_the_group_once_and_counts_what_it_shows(self) -> None:
        response = self.client.get("/", {"format": "json"})
        self.assertEqual(listed(response), ["first", "other"])
        self.assertEqual((response.json()["count"], response.json()["hidden_copies"]), (2, 2))
        every = self.client.get("/", {"format": "json", "all": "1"})
        self.assertEqual(listed(every), ["third", "second", "first", "other"])
        self.assertEqual((every.json()["count"], every.json()["hidden_copies"]), (4, 0))
        self.assertIs(every.json()["filters"]["all"], True)

    def test_the_page_says_how_many_copies_it_folds_and_links_to_every_copy(self) -> None:
        page = self.client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans")
        self.assertContains(page, "共 2 条通知")
        self.assertContains(page, "另有 2 条其他来源的副本，已与原通知合为一条。")
        self.assertContains(page, '<a href="?all=1">列出全部副本</a>', html=True)
        self.assertContains(page, "3 个来源", count=1)
        every = self.client.get("/", {"all": "1"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
        self.assertContains(every, "共 4 条通知")
        self.assertContains(every, "3 个来源", count=3)
        self.assertContains(every, "全部副本")  # the chip that goes back to one entry each
        self.assertNotContains(every, "列出全部副本")
        # Every copy widens the list: the home page keeps its heading, not 筛选结果.
        self.assertContains(every, '<h1 class="page-title">最新通知</h1>', html=True)
        self.assertNotContains(every, "筛选结果")
        tagged = self.client.get("/", {"all": "1", "tag": "转载"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
        self.assertContains(tagged, '<h1 class="page-title">筛选结果</h1>', html=True)

    def test_a_tag_list_shows_the_earliest_copy_that_carries_the_tag(self) -> None:
        response = self.client.get("/tags/转载/", {"format": "json"})
        self.assertEqual(listed(response), ["second"])
        self.assertEqual(response.json()["count"], 1)

    def test_a_site_page_keeps_its_own_copy(self) -> None:
        response = self.client.get("/sites/滨江日报/", {"format": "json"})
        self.assertEqual(listed(response), ["third"])

    def test_a_list_counted_by_a_query_counts_the_same(self) -> None:
        # A date range has no stored counts: the query over the shown rows counts them.
        response = self.client.get("/", {"format": "json", "since": "2024-12-01"})
        self.assertEqual((listed(response), response.json()["count"]), (["first", "other"], 2))

    def test_search_shows_the_earliest_matching_copy_once(self) -> None:
        response = self.client.get("/search/", {"q": "消防", "format": "json"})
        self.assertEqual(listed(response), ["first"])
        self.assertEqual((response.json()["count"], response.json()["hidden_copies"]), (1, 2))
        # Facets count every match, copies included, as a list's do.
        sites = response.json()["facets"]["sites"]
        self.assertEqual(sorted(v["count"] for v in sites), [1, 1, 1])
        every = self.client.get("/search/", {"q": "消防", "format": "json", "all": "1"})
        self.assertEqual(sorted(listed(every)), ["first", "second", "third"])
        # Words only the copies have: the earliest of them stands for the group.
        copies = self.client.get("/search/", {"q": "李明", "format": "json", "sort": "newest"})
        self.assertEqual((listed(copies), copies.json()["count"]), (["second"], 1))

    def test_the_search_page_says_what_it_folds(self) -> None:
        page = self.client.get("/search/", {"q": "消防"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
        self.assertContains(page, "另有 2 条其他来源的副本")
        self.assertContains(page, "q=%E6%B6%88%E9%98%B2&amp;all=1")

    def test_feeds_carry_one_entry_per_group(self) -> None:
        feed = self.client.get("/atom.xml").content.decode()
        self.assertEqual(feed.count("<entry>"), 2)
        self.assertIn("/notices/first/", feed)
        self.assertNotIn("/notices/second/", feed)
        search = self.client.get("/search/atom.xml", {"q": "消防"}).content.decode()
        self.assertEqual(search.count("<entry>"), 1)

    def test_the_deadline_list_shows_the_notice_once(self) -> None:
        ahead = deadlines.today() + dt.timedelta(days=10)
        Notice.objects.filter(urlname__in=["first", "second", "third"]).update(deadline=ahead)
        response = self.client.get("/deadlines/", {"format": "json"})
        self.assertEqual(listed(response), ["first"])

    def test_all_takes_one_value(self) -> None:
        self.assertEqual(self.client.get("/", {"all": "yes"}).status_code, 404)


class WithoutGroupsTests(TestCase):
    def test_an_archive_without_copies_folds_nothing(self) -> None:
        make_notice(urlname="a")
        make_notice(urlname="b", date=day(5))
        response = self.client.get("/", {"format": "json"})
        self.assertEqual((listed(response), response.json()["hidden_copies"]), (["b", "a"], 0))
        self.assertNotContains(self.client.get("/"), "folded-copies")


class SearchPagingTests(TestCase):
    """Every order and path a search pages by (ranked, title matches first, by date; the
    index alone or joined to filtered rows) leaves out the same folded copies."""

    def setUp(self) -> None:
        self.expected: set[str] = set()
        for group in range(3):  # three lectures, each from three sites
            body = LECTURE.format(n=group + 1, day=f"3月{group + 2}日", who="王")
            for copy in range(3):
                urlname = f"g{group}-{copy}"
                make_notice(
                    urlname=urlname,
                    title="青岚讲坛预告" if copy == 1 else "讲座通知",
                    body=body if copy == 0 else f"来源：滨江日报\n\n{body}\n责任编辑：李明\n",
                    date=day(1 + group * 3 + (2 - copy)),  # the last copy is the earliest
                    site=("青岚大学", "青岚新闻网", "滨江日报")[copy],
                )
            self.expected.add(f"g{group}-2")
        for single in range(4):
            body = LECTURE.format(n=10 + single, day=f"5月{single + 2}日", who="李")
            make_notice(urlname=f"s{single}", body=body, date=day(20 + single))
            self.expected.add(f"s{single}")

    def pages(self, results, size: int = 2) -> list[str]:
        found: list[str] = []
        for start in range(0, results.count() + size, size):
            found += [notice.urlname for notice in results[start : start + size]]
        return found

    def test_every_order_pages_through_one_result_per_group(self) -> None:
        from unittest import mock

        from notices import search

        filtered = Notice.objects.published().exclude(site="北岭")  # joins the rows
        for rank_limit in (1000, 1):  # scored whole, or title matches first
            for sort in ("relevance", "newest", "oldest"):
                for base in (None, filtered):
                    with (
                        self.subTest(sort=sort, rank_limit=rank_limit, filtered=base is not None),
                        mock.patch.object(search, "RANK_LIMIT", rank_limit),
                    ):
                        results = search.search_notices("讲坛", base, sort=sort, one_per_group=True)
                        found = self.pages(results)
                        self.assertEqual(len(found), len(set(found)))
                        self.assertEqual(set(found), self.expected)
                        self.assertEqual((results.count(), results.hidden_copies), (7, 6))
                        every = search.search_notices("讲坛", base, sort=sort)
                        self.assertEqual(len(self.pages(every)), 13)
