"""How many queries each reading page runs (issue 14): pinned for a page served warm (its
per-data-version caches filled by one request, as nearly every request is served), and the
same with many more rows (linkding's check for N+1 queries), for lists, the detail page,
search and feeds. A change in a pin is a change to explain, not to paper over."""

from __future__ import annotations

from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notices.caching import bump_data_version
from notices.models import Notice
from tests.test_views_reading import add_notice, when


def add_rows(start: int, count: int) -> None:
    for i in range(start, start + count):
        add_notice(
            f"q-{i}", f"第{i}号通知", when(2020 + i % 4, 1 + i % 12, 1 + i % 28),
            categories=("blgc.edu.cn", "北岭工程大学", f"学院{i % 5}"),
            site=f"站点{i % 3}", tags=("通知", f"标签{i % 7}", f"主题{i}"),
        )  # fmt: skip


def page_urls() -> dict[str, str]:
    return {
        "home": reverse("notices:list"),
        "home page 2": reverse("notices:list") + "?page=2",
        "filtered": reverse("notices:list") + "?tag=通知&tag=标签1&site=站点1&year=2021",
        "list JSON": reverse("notices:list") + "?category=blgc-edu-cn&format=json",
        "category": reverse("notices:category", args=["blgc-edu-cn/北岭工程大学"]),
        "tag": reverse("notices:tag", args=["通知"]),
        "site": reverse("notices:site", args=["站点1"]),
        "year": reverse("notices:archive-year", args=[2021]),
        "month": reverse("notices:archive-month", args=[2021, 2]),
        "category index": reverse("notices:categories"),
        "tag index": reverse("notices:tags"),
        "site index": reverse("notices:sites"),
        "archive index": reverse("notices:archive"),
        "detail": reverse("notices:detail", args=["q-1"]),
        "detail JSON": reverse("notices:detail", args=["q-1"]) + "?format=json",
        "search": reverse("notices:search") + "?q=通知",
        "search page 2": reverse("notices:search") + "?q=通知&page=2",
        "search filtered": reverse("notices:search") + "?q=通知&site=站点1",
        "search JSON": reverse("notices:search") + "?q=通知&format=json",
        "search no match": reverse("notices:search") + "?q=无此字样",
        "atom": reverse("notices:feed-atom"),
        "rss": reverse("notices:feed-rss"),
        "category atom": reverse("notices:category-atom", args=["blgc-edu-cn"]),
        "category rss": reverse("notices:category-rss", args=["blgc-edu-cn"]),
        "tag atom": reverse("notices:tag-atom", args=["通知"]),
        "tag rss": reverse("notices:tag-rss", args=["通知"]),
        "search atom": reverse("notices:search-atom") + "?q=通知",
        "search rss": reverse("notices:search-rss") + "?q=通知",
    }


# Warm: the data version, and what the page's per-data-version caches do not hold. The HTML
# lists and feeds are one query (their rows and facets are cached); JSON is built each time;
# the detail page reads the notice and takes the rest of its page from the cache (its cold
# count, four, is issue 13's bound: test_detail_queries_are_bounded). Search runs its count,
# scores, title matches, rows (with their snippets' bodies) and their categories each time
# (notices/search.py); its facets, and whether any notice is unlisted (which decides whether
# the index alone answers), come from the cache; a key gives its notice's id. The detail
# JSON's sixth is its source link's check (issue 15). The search page's HTML shows no tags
# of its results, so it reads none (its JSON does: one more). PostgreSQL runs as many: its
# planner switches go with the query they are for, in one round trip.
WARM_QUERIES = {
    "home": 1, "home page 2": 1, "filtered": 3, "list JSON": 5, "category": 2, "tag": 2,
    "site": 2, "year": 4, "month": 4, "category index": 3, "tag index": 1, "site index": 1,
    "archive index": 1, "detail": 2, "detail JSON": 6, "search": 6, "search page 2": 6,
    "search filtered": 8, "search JSON": 7, "search no match": 2, "atom": 1, "rss": 1,
    "category atom": 1, "category rss": 1, "tag atom": 1, "tag rss": 1, "search atom": 1,
    "search rss": 1,
}  # fmt: skip


class QueryCountTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        # Enough rows for two pages of results, and for the detail page's related notices to
        # come from shared tags alone.
        add_rows(0, 30)

    def count_queries(self, url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = self.client.get(url)
        self.assertEqual(response.status_code, 200, url)
        return len(captured)

    def test_warm_pages_run_their_pinned_queries(self) -> None:
        pinned = WARM_QUERIES
        urls = page_urls()
        self.assertEqual(set(pinned), set(urls))
        for name, url in urls.items():
            self.count_queries(url)  # fills the caches
            with self.subTest(page=name, url=url):
                self.assertEqual(self.count_queries(url), pinned[name])

    def test_no_page_queries_grow_with_rows(self) -> None:
        # Cold (each write changes the data version): what a page costs to make.
        urls = page_urls()
        few = {name: self.count_queries(url) for name, url in urls.items()}
        add_rows(30, 40)
        for name, url in urls.items():
            with self.subTest(page=name, url=url):
                self.assertEqual(self.count_queries(url), few[name])

    def test_detail_queries_are_bounded(self) -> None:
        # Made (not taken from the cache, as with a search's highlighting): the data version,
        # the notice, its tags and categories, its neighbours and related notices.
        url = reverse("notices:detail", args=["q-1"])
        other = reverse("notices:detail", args=["q-2"])
        self.count_queries(other)  # the category trails, once per data version
        self.assertEqual(self.count_queries(url + "?highlight=通知"), 4)
        # Ten more tags change nothing.
        Notice.objects.get(urlname="q-1").tags.add(*[f"标签{i}" for i in range(10, 20)])
        bump_data_version()
        self.count_queries(other)
        self.assertEqual(self.count_queries(url), 4)

    def test_cold_search_queries(self) -> None:
        # A search not made before (its facets not cached), the per-data-version reads
        # filled by another one: the data version, the search's five (count, scores, title
        # matches, rows with their snippets' bodies, their categories), then the facets:
        # sites, periods and attachments in one query (the years are the archive's, kept per
        # data version), categories (links; their paths and labels are kept per data
        # version), tags (counts, names). It was 19: the years came from the matches, sites
        # and attachments had a query each, the categories three, and whether a source is
        # gone was asked each time; then 12 (17 on PostgreSQL, whose planner switches were
        # queries of their own), with a query for the ids of the keys and one for snippets.
        # A search without matches groups nothing.
        pinned = {"search": 10, "search no match": 2}
        urls = page_urls()
        for name, expected in pinned.items():
            bump_data_version()
            self.count_queries(reverse("notices:search") + "?q=号通知")
            with self.subTest(page=name):
                self.assertEqual(self.count_queries(urls[name]), expected)
