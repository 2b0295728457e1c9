"""Issue 11, findings 4, 6 and the query-parameter part of 10: what one request may cost does
not grow with a notice's size or with the parameters a client makes up.

Behaviour only (no timings): highlight marks a bounded number of matches in a bounded window,
snippets and feed entries are bounded, the feed cache key ignores unknown parameters and links
never copy them. The figures are printed by a throwaway script (see the issue's report)."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlsplit

from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory, TestCase, override_settings
from django.test.utils import CaptureQueriesContext

from notices.caching import response_key_parts
from notices.filters import known_params
from notices.search import highlight_html, parse_query, snippet
from tests.helpers import SHANGHAI
from tests.test_views_reading import add_notice

ATOM = "{http://www.w3.org/2005/Atom}"
JUNK = "&".join(f"junk{i}=x" for i in range(50))


def when(day: int) -> dt.datetime:
    return dt.datetime(2024, 3, day, 9, 0, tzinfo=SHANGHAI)


def bold_body(count: int) -> str:
    """The probe's hostile body: `<b>a</b>` repeated, one tiny text node per tag."""
    return "<b>a</b>" * count


class HighlightTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.big = add_notice("big-body", "长文通知", when(1), body=bold_body(3000))
        cls.normal = add_notice(
            "scholarship",
            "奖学金评定通知",
            when(2),
            body="本年度奖学金评定开始。\n\n申请奖学金的同学请按时提交材料。\n\n奖学金名单另行公布。",
        )

    def body_marks(self, response) -> int:
        return response.content.decode().count("<mark>")

    def test_highlight_still_marks_every_match_of_a_normal_notice(self) -> None:
        response = self.client.get("/notices/scholarship/?highlight=奖学金")
        self.assertEqual(response.status_code, 200)
        # Three in the body, one in the title.
        self.assertEqual(self.body_marks(response), 4)
        self.assertContains(response, "<mark>奖学金</mark>评定通知")

    @override_settings(NOTICES_HIGHLIGHT_MAX_MARKS=50)
    def test_marks_are_limited(self) -> None:
        plain = self.client.get("/notices/big-body/")
        marked = self.client.get("/notices/big-body/?highlight=a")
        self.assertEqual(self.body_marks(marked), 50)
        # The answer grows by the bounded marks only, not by one mark per match (11.8 MB).
        growth = len(marked.content) - len(plain.content)
        self.assertLess(growth, 50 * len("<mark></mark>") + 2000)

    @override_settings(NOTICES_HIGHLIGHT_MAX_CHARS=1000)
    def test_matches_beyond_the_window_are_not_looked_at(self) -> None:
        late = "<p>" + "x" * 3000 + " zzzz</p>"
        self.assertNotIn("<mark>", highlight_html(late, parse_query("zzzz")))
        early = "<p>zzzz " + "x" * 3000 + "</p><p>zzzz</p>"
        self.assertEqual(highlight_html(early, parse_query("zzzz")).count("<mark>"), 1)

    def test_the_rest_of_the_html_is_kept_as_it_is(self) -> None:
        body = "<p>one &amp; two zzzz</p>" + "<p>tail &lt;kept&gt;</p>" * 20
        marked = highlight_html(body, parse_query("zzzz"), max_marks=1, max_chars=10_000)
        self.assertEqual(marked, body.replace("zzzz", "<mark>zzzz</mark>"))
        cut = highlight_html(body, parse_query("tail"), max_marks=3, max_chars=10_000)
        self.assertEqual(cut.count("<mark>"), 3)
        self.assertEqual(cut.replace("<mark>", "").replace("</mark>", ""), body)
        self.assertEqual(highlight_html(body, parse_query("nothing")), body)

    def test_a_window_cut_inside_a_text_node_stays_escaped(self) -> None:
        body = "<p>" + "&lt;b&gt; zzzz " * 100 + "</p>"
        marked = highlight_html(body, parse_query("zzzz"), max_marks=1000, max_chars=100)
        self.assertNotIn("<b>", marked)
        self.assertLess(marked.count("<mark>"), 100)
        self.assertGreater(marked.count("<mark>"), 0)


class SnippetTests(TestCase):
    def test_a_snippet_marks_only_its_own_window(self) -> None:
        text = "a " * 50_000
        shown = snippet(text, parse_query("a"))
        self.assertLess(len(shown), 160 * len("<mark>a</mark>"))
        self.assertGreater(shown.count("<mark>"), 10)

    def test_search_results_of_a_huge_body_are_bounded(self) -> None:
        add_notice("big-body", "长文通知 aaaa", when(1), body=bold_body(20_000))
        add_notice("small", "短通知", when(2), body="这里有 aaaa 的说明。")
        response = self.client.get("/search/", {"q": "aaaa", "format": "json"})
        results = {hit["urlname"]: hit for hit in json.loads(response.content)["results"]}
        self.assertEqual(set(results), {"big-body", "small"})
        self.assertIn("<mark>aaaa</mark>", results["small"]["snippet_html"])
        self.assertLess(len(results["big-body"]["snippet_html"]), 1000)


class FeedTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.big = add_notice("big-body", "长文通知", when(3), body=bold_body(2000))
        cls.small = add_notice("small", "短通知", when(2), body="短短的正文。")
        cls.other = add_notice("other", "另一则通知", when(1), body="另一段正文。" * 100)

    def entries(self, url: str) -> dict[str, str]:
        response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        root = ET.fromstring(response.content)
        return {
            entry.findtext(f"{ATOM}title"): entry.findtext(f"{ATOM}summary") or ""
            for entry in root.findall(f"{ATOM}entry")
        }

    @override_settings(NOTICES_FEED_ENTRY_CHARS=5000)
    def test_a_long_body_gives_its_summary(self) -> None:
        entries = self.entries("/atom.xml")
        self.assertIn("短短的正文", entries["短通知"])
        self.assertNotIn("<b>a</b>", entries["长文通知"])
        self.assertIn(self.big.summary[:20], entries["长文通知"])
        self.assertIn("too long for the feed", entries["长文通知"])

    @override_settings(NOTICES_FEED_ENTRY_CHARS=5000, NOTICES_FEED_TOTAL_CHARS=200)
    def test_the_bodies_of_a_feed_have_a_total(self) -> None:
        entries = self.entries("/atom.xml")
        self.assertIn("短短的正文", entries["短通知"])  # newest short body: within the total
        # The next body would pass the total: that entry carries its summary.
        self.assertIn("too long for the feed", entries["另一则通知"])
        self.assertNotIn("too long for the feed", entries["短通知"])

    @override_settings(NOTICES_FEED_ENTRY_CHARS=5000)
    def test_search_feeds_are_bounded_too(self) -> None:
        entries = self.entries("/search/atom.xml?q=通知")
        self.assertNotIn("<b>a</b>", entries["长文通知"])
        self.assertIn("短短的正文", entries["短通知"])


class FeedCacheKeyTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        add_notice("first", "第一则通知", when(1), body="正文。")

    def test_the_key_keeps_only_the_parameters_read(self) -> None:
        factory = RequestFactory()
        reads = ("year", "tag", "q")

        def key(query: str) -> list[str]:
            return response_key_parts(factory.get("/atom.xml?" + query), reads)

        self.assertEqual(key(""), key("m=123"))
        self.assertEqual(key("year=2024"), key("m=1&year=2024&n=2"))
        self.assertNotEqual(key("year=2024"), key("year=2023"))
        self.assertNotEqual(key("tag=a&tag=b"), key("tag=a"))

    def queries_for(self, url: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(self.client.get(url).status_code, 200)
        return len(queries)

    def test_list_fragments_ignore_made_up_parameters(self) -> None:
        cache.clear()
        self.client.get("/")
        entries = len(cache._cache)  # the local-memory cache of the tests
        for number in range(5):
            self.assertEqual(self.client.get(f"/?m={number}").status_code, 200)
            self.assertEqual(self.client.get(f"/?page=x{number}").status_code, 200)  # page 1
        self.assertEqual(len(cache._cache), entries)
        self.client.get("/?year=2024")
        self.assertGreater(len(cache._cache), entries)

    def test_made_up_parameters_are_answered_from_the_same_entry(self) -> None:
        cache.clear()
        first = self.client.get("/atom.xml").content
        for number in range(5):
            with CaptureQueriesContext(connection) as queries:
                response = self.client.get(f"/atom.xml?m={number}")
            self.assertEqual(response.content, first)
            self.assertLessEqual(len(queries), 1)  # the data version only
        # A parameter the feed reads is its own entry.
        self.assertGreater(self.queries_for("/atom.xml?year=2024"), 1)


class LinkTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        for day in range(1, 26):  # more than a page, so there are page links
            add_notice(f"n-{day}", f"第{day}则通知", when(day), body="正文。", tags=("通知",))

    def test_the_language_form_returns_to_the_same_page(self) -> None:
        response = self.client.get(f"/?{JUNK}&year=2024")
        self.assertContains(response, 'name="next" type="hidden" value="/?year=2024"')
        response = self.client.get("/notices/n-3/?highlight=%E9%80%9A%E7%9F%A5&junk=1")
        self.assertContains(response, 'value="/notices/n-3/?highlight=%E9%80%9A%E7%9F%A5"')

    def test_known_params_keeps_order_and_repeats(self) -> None:
        request = RequestFactory().get("/?tag=a&junk=1&q=x&tag=b&page=2")
        self.assertEqual(
            list(known_params(request.GET).lists()),
            [("tag", ["a", "b"]), ("q", ["x"]), ("page", ["2"])],
        )

    def test_list_links_drop_unknown_parameters(self) -> None:
        response = self.client.get(f"/?{JUNK}&year=2024")
        self.assertEqual(response.status_code, 200)
        html = response.content.decode()
        self.assertEqual(html.count("junk"), 0)  # not even in the language form's `next`
        self.assertIn("year=2024", html)
        self.assertIn("page=2", html)

    def test_json_links_drop_unknown_parameters(self) -> None:
        data = json.loads(self.client.get(f"/?{JUNK}&format=json&year=2024").content)
        next_query = dict(parse_qsl(urlsplit(data["next"]).query))
        self.assertEqual(next_query, {"year": "2024", "page": "2", "format": "json"})

    def test_search_links_keep_the_query_and_drop_the_rest(self) -> None:
        response = self.client.get(f"/search/?q=通知&sort=newest&{JUNK}")
        html = response.content.decode()
        self.assertEqual(html.count("junk"), 0)
        self.assertIn("sort=oldest", html)
        self.assertIn("page=2", html)
        self.assertIn("highlight=", html)

    def test_feed_links_drop_unknown_parameters(self) -> None:
        response = self.client.get(f"/atom.xml?{JUNK}&year=2024")
        self.assertEqual(response.content.count(b"junk"), 0)
        self.assertIn(b"year=2024", response.content)
