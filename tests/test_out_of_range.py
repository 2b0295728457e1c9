"""Out-of-range and hostile input is a 4xx, never a 500, on every page (issue 11, finding 7).

The regressions of the probe are listed one by one; then a property test sends hostile values
for every path argument of every URL in notices/urls.py and for every list parameter.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlencode

import pytest
from django.core.cache import cache
from django.test import Client, TestCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from notices import urls as notice_urls
from notices.models import Category
from tests.helpers import SHANGHAI, make_notice

# One URL template per pattern of notices/urls.py, `{}` where a path argument goes.
URL_TEMPLATES = {
    "list": "/",
    "detail": "/notices/{}/",
    "post": "/posts/{}/",
    "categories": "/categories/",
    "category-atom": "/categories/{}/atom.xml",
    "category-rss": "/categories/{}/rss.xml",
    "category": "/categories/{}/",
    "tags": "/tags/",
    "tag-atom": "/tags/{}/atom.xml",
    "tag-rss": "/tags/{}/rss.xml",
    "tag": "/tags/{}/",
    "sites": "/sites/",
    "site-atom": "/sites/{}/atom.xml",
    "site-rss": "/sites/{}/rss.xml",
    "site": "/sites/{}/",
    "archive": "/archive/",
    "archive-year": "/archive/{}/",
    "archive-month": "/archive/{}/{}/",
    "feed-atom": "/atom.xml",
    "feed-rss": "/rss.xml",
    "sitemap": "/sitemap.xml",
    "sitemap-section": "/sitemap-{}.xml",
    "robots": "/robots.txt",
    "search": "/search/",
    "search-atom": "/search/atom.xml",
    "search-rss": "/search/rss.xml",
    "opensearch": "/opensearch.xml",
    "favicon": "/favicon.ico",
    "facet": "/facets/{}/",
    "openapi": "/api/openapi.yaml",
    "deadlines": "/deadlines/",
    "deadlines-atom": "/deadlines/atom.xml",
}
LIST_PARAMS = (
    "year", "month", "since", "until", "page", "tag", "category", "site", "q", "sort",
    "format", "highlight",
)  # fmt: skip

HOSTILE_TEXT = [
    "0", "1", "-1", "00", "0000", "0001", "9999", "10000", "99999999999999999999999999",
    "-99999999999999999999", "1e308", "nan", "inf", "0x10", " 1", "1 ", "٣", "１２",
    "0001-01-01", "0001-01-02", "9999-12-31", "9999-12-30", "0000-01-01", "2023-02-30",
    "2023-13-01", "-2023-01-01", "+2023-01-01", "2023-01-01T00:00", "20230101", "2023-W01",
    "\x00", "a\x00b", "x" * 5000, "é" * 300, "\u202e", "\ufeff", "\ud7ff", "😀" * 50, "%00",
    "../..", "/", "json", "name", "newest", "oldest", "relevance", "", " ",
]  # fmt: skip
hostile_values = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=40),
)
# Path arguments cannot hold "/" (or NUL: the converters refuse it, a 404 from the resolver).
path_values = st.one_of(
    st.sampled_from([v for v in HOSTILE_TEXT if v and "/" not in v and "\x00" not in v]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
        min_size=1,
        max_size=40,
    ),
)


def _archive() -> None:
    """A few notices over several years, tagged and filed, so filters have something to find."""
    for index, year in enumerate((1999, 2021, 2023)):
        notice = make_notice(
            urlname=f"oor-{index}",
            date=dt.datetime(year, 5, 1, 8, 0, tzinfo=SHANGHAI),
            source_path=f"{year}/oor-{index}.md",
        )
        notice.tags.add("青岚大学")
        notice.categories.add(Category.objects.get_or_create(path="qinglan", name="qinglan")[0])


class KnownOverflowTests(TestCase):
    """The probe's 500s (OverflowError at the database layer), one by one."""

    @classmethod
    def setUpTestData(cls) -> None:
        _archive()

    def test_each_known_url_is_not_a_server_error(self) -> None:
        client = Client(raise_request_exception=False)
        for url in (
            "/?since=0001-01-01",
            "/?until=0001-01-01",
            "/?since=9999-12-31",
            "/?until=9999-12-31",
            "/?year=0001",
            "/?year=9999&month=12",
            "/archive/1/",
            "/archive/1/1/",
            "/archive/9999/12/",
            "/archive/0/",
            "/archive/99999999999999999999999/",
            "/rss.xml?year=0001",
            "/atom.xml?since=0001-01-01",
            "/tags/青岚大学/?since=0001-01-01",
            "/tags/青岚大学/?until=0001-01-01",
            "/categories/qinglan/?since=0001-01-01",
            "/search/?q=通知&since=0001-01-01",
            "/search/?q=通知&until=0001-01-01&format=json",
            # `%00` that a view unquotes is NUL (PostgreSQL cannot compare it): the property
            # test found the first on PostgreSQL.
            "/posts/%2500/",
            "/tags/%2500/",
            "/categories/%2500/",
            "/sites/%2500/",
            "/2021/01/15/%2500/",
            "/a%2500.html",
        ):
            with self.subTest(url=url):
                cache.clear()
                self.assertLess(client.get(url).status_code, 500)

    def test_since_the_first_day_finds_every_notice(self) -> None:
        # The first day is a valid date: it means "from the beginning", not an error.
        response = Client().get("/?since=0001-01-01&format=json")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(response.json()["results"]), 3)

    def test_an_archive_year_with_no_notices_is_a_404(self) -> None:
        for url in ("/archive/1/", "/archive/1/1/", "/archive/9999/", "/archive/0/"):
            with self.subTest(url=url):
                self.assertEqual(Client().get(url).status_code, 404)


class EveryUrlAndParameterTests(HypothesisTestCase):
    """Hostile values in every path argument and every list parameter: never a 5xx."""

    @classmethod
    def setUpTestData(cls) -> None:
        _archive()

    def test_the_templates_cover_every_url_pattern(self) -> None:
        names = {pattern.name for pattern in notice_urls.urlpatterns}
        self.assertEqual(names, set(URL_TEMPLATES))

    @pytest.mark.slow
    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        name=st.sampled_from(sorted(URL_TEMPLATES)),
        arguments=st.lists(path_values, min_size=2, max_size=2),
        params=st.lists(st.tuples(st.sampled_from(LIST_PARAMS), hostile_values), max_size=4),
    )
    def test_no_server_error(
        self, name: str, arguments: list[str], params: list[tuple[str, str]]
    ) -> None:
        template = URL_TEMPLATES[name]
        path = template.format(*(quote(argument, safe="") for argument in arguments))
        url = path + ("?" + urlencode(params) if params else "")
        cache.clear()
        response = Client(raise_request_exception=False).get(url)
        self.assertLess(response.status_code, 500, url)
