from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import random
import re
import sqlite3
import tempfile
from pathlib import Path
from unittest import mock, skipUnless
from xml.etree import ElementTree

from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notices import search
from notices.importing import import_archive
from notices.models import Notice, SearchDocument
from notices.rendering import plain_text
from notices.search import highlight, highlight_html, parse_query, search_notices, snippet
from sample import write_archive
from tests.helpers import SHANGHAI, make_notice, write_document


def hit_ids(query: str, **kwargs) -> set[int]:
    results = search_notices(query, **kwargs)
    return {notice.id for notice in results[0 : results.count()]}


def normalised_texts() -> dict[int, list[str]]:
    return {
        notice.id: [search.normalise(text) for text in search.notice_texts(notice)]
        for notice in Notice.objects.all()
    }


def pg_vectors() -> dict[int, str]:
    """Each notice's tsvector on PostgreSQL (not a model field), as text."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT notice_id, vector::text FROM {search.DOCUMENT_TABLE}")
        return dict(cursor.fetchall())


def brute_force(query: str, texts: dict[int, list[str]] | None = None) -> set[int]:
    """Notices whose normalised title or plain body holds every included term of `query` and
    none of the excluded ones: a scan of every notice's text, without the index."""
    parsed = parse_query(query)
    patterns = [(re.compile(term.pattern()), term.excluded) for term in parsed.terms]
    found = set()
    for notice_id, pair in (texts if texts is not None else normalised_texts()).items():
        if parsed and all(
            any(pattern.search(text) for text in pair) != excluded for pattern, excluded in patterns
        ):
            found.add(notice_id)
    return found


class RecallTests(TestCase):
    """Every substring of a generated archive finds exactly the notices that contain it."""

    @classmethod
    def setUpTestData(cls) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            write_archive(Path(tmp), 120, seed=4)
            report = import_archive([Path(tmp)])
        assert report.created == 120, report.errors
        # Variants the generator does not write: Traditional, full-width, mixed scripts.
        make_notice(title="國立臺灣大學招生簡章", body="研究所考試，ＣＯＶＩＤ－１９防疫期間。")
        make_notice(title="Ｗｉ-Ｆｉ 网络维护", body="校园網路於2020年12月停機維護。")
        cls.texts = {
            notice.id: list(search.notice_texts(notice)) for notice in Notice.objects.all()
        }
        cls.normalised = normalised_texts()

    def brute_force(self, query: str) -> set[int]:
        return brute_force(query, self.normalised)

    def test_every_notice_is_indexed_by_the_import(self) -> None:
        self.assertEqual(SearchDocument.objects.count(), Notice.objects.count())

    def test_random_substrings_find_every_notice_that_contains_them(self) -> None:
        rng = random.Random(20240601)
        texts = [text for pair in self.texts.values() for text in pair if text]
        checked = 0
        while checked < 300:
            text = rng.choice(texts)
            length = rng.randint(1, 6)
            start = rng.randrange(max(1, len(text) - length + 1))
            substring = text[start : start + length]
            if '"' in substring or not re.search(r"[^\W_]", substring):
                continue  # a query of punctuation only finds nothing, by design
            query = f'"{substring}"'
            with self.subTest(query=query):
                results = search_notices(query)
                found = set(
                    search.filter_notices(Notice.objects.all(), query).values_list("id", flat=True)
                )
                self.assertEqual(results.count(), len(found))
                needle = search.normalise(substring)
                containing = {
                    notice_id
                    for notice_id, pair in self.normalised.items()
                    if any(needle in text for text in pair)
                }
                # Recall: every notice containing the exact substring is found.
                self.assertLessEqual(containing, found)
                # And nothing else: punctuation between words is the only slack.
                self.assertEqual(found, self.brute_force(query))
            checked += 1

    def test_words_inside_longer_words_are_found(self) -> None:
        for query in ["学院", "通知", "大学", "研究", "2020"]:
            with self.subTest(query=query):
                expected = self.brute_force(query)
                self.assertTrue(expected)
                self.assertEqual(hit_ids(query), expected)

    def test_mixed_queries_and_exclusions_match_the_brute_force_scan(self) -> None:
        for query in ["大学 2020", "学院 通知", "通知 -学院", '"特此 通知"', "学生 -研究生 -2019"]:
            with self.subTest(query=query):
                self.assertEqual(hit_ids(query), self.brute_force(query))

    def test_every_sort_returns_the_same_hits(self) -> None:
        for sort in search.SORTS:
            with self.subTest(sort=sort):
                self.assertEqual(hit_ids("工作", sort=sort), self.brute_force("工作"))

    def test_pages_do_not_overlap_and_cover_all_hits(self) -> None:
        for sort in search.SORTS:
            results = search_notices("各", sort=sort)
            total = results.count()
            self.assertGreater(total, 40)
            seen: list[int] = []
            for start in range(0, total, 20):
                seen += [notice.id for notice in results[start : start + 20]]
            with self.subTest(sort=sort):
                self.assertEqual(len(seen), total)
                self.assertEqual(set(seen), self.brute_force("各"))

    def test_many_matches_still_put_title_matches_first_and_newer_first(self) -> None:
        query = "通知"
        results = search_notices(query)
        self.assertGreater(results.count(), search.RANK_LIMIT // 10)
        original, search.RANK_LIMIT = search.RANK_LIMIT, 5  # force the large-result order
        try:
            results = search_notices(query)
            notices = results[0 : results.count()]
        finally:
            search.RANK_LIMIT = original
        in_title = ["通知" in notice.title for notice in notices]
        self.assertEqual(in_title, sorted(in_title, reverse=True))
        title_dates = [notice.date for notice in notices if "通知" in notice.title]
        self.assertEqual(title_dates, sorted(title_dates, reverse=True))

    def test_filters_narrow_the_hits(self) -> None:
        site = Notice.objects.exclude(site="").values_list("site", flat=True).first()
        narrowed = search_notices("通知", Notice.objects.filter(site=site))
        expected = self.brute_force("通知") & set(
            Notice.objects.filter(site=site).values_list("id", flat=True)
        )
        self.assertEqual({n.id for n in narrowed[0 : narrowed.count()]}, expected)
        self.assertEqual(narrowed.count(), len(expected))


class NormalisationTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.taiwan = make_notice(title="臺灣高校交流", body="關於臺灣學生的通知。")
        cls.covid = make_notice(title="防疫通知", body="COVID-19 期间的 Wi-Fi 使用。")
        cls.fullwidth = make_notice(title="考试安排", body="ＣＯＶＩＤ－１９ 期间，考场Ａ１０１。")

    def test_traditional_and_simplified_find_each_other(self) -> None:
        self.assertEqual(hit_ids("台湾"), {self.taiwan.id})
        self.assertEqual(hit_ids("臺灣"), {self.taiwan.id})
        self.assertEqual(hit_ids("关于台湾学生"), {self.taiwan.id})

    def test_full_width_and_case_are_folded(self) -> None:
        both = {self.covid.id, self.fullwidth.id}
        self.assertEqual(hit_ids("covid-19"), both)
        self.assertEqual(hit_ids("ＣＯＶＩＤ"), both)
        self.assertEqual(hit_ids("Covid"), both)
        self.assertEqual(hit_ids("a101"), {self.fullwidth.id})

    def test_normalise_keeps_length_for_chinese_text(self) -> None:
        text = "臺灣ＡＢＣ，學校"
        self.assertEqual(search.normalise(text), "台湾abc,学校")
        self.assertEqual(search.search_text(text), "台湾abc 学校")

    def test_tokens_are_pairs_and_last_characters(self) -> None:
        self.assertEqual(
            search.index_tokens("疫情防控 通知 a"),
            ["疫情", "情防", "防控", "控", "通知", "知", "a"],
        )

    def test_fts_tokens_are_the_tokens_as_fts5_splits_them(self) -> None:
        for text in ["", "a", "a b c", "ab c de", "疫情防控 通知 a", "𠀀𠀁 x 2024年"]:
            with self.subTest(text=text):
                expected = [run[i : i + 2] for run in text.split() for i in range(len(run) - 1)]
                self.assertEqual(
                    sorted(search.fts_tokens(text).split()),
                    sorted(expected + [run[-1] for run in text.split()]),
                )
                self.assertEqual(search.fts_tokens(text).split(), search.index_tokens(text))

    def test_a_long_body_is_found_at_its_end(self) -> None:
        # Past PostgreSQL's 16,383 tsvector positions: the order check still finds it.
        body = "各单位认真学习。" * 3000 + "最后一句话藏在这里"
        notice = make_notice(title="长文", body=body)
        self.assertEqual(hit_ids("藏在这里"), {notice.id})
        self.assertEqual(hit_ids('"一句话 藏在"'), set())
        self.assertEqual(hit_ids("最后一句话藏在这里"), {notice.id})


@skipUnless(connection.vendor == "sqlite", "SQLite's FTS5 tables")
class FtsTableTests(TestCase):
    def test_fts5_tables_merge_eight_segments_at_a_time(self) -> None:
        # Fewer rewrites of each notice's tokens while an import writes (migration 0012).
        with connection.cursor() as cursor:
            for table in (search.FTS_TABLE, search.TITLE_FTS_TABLE):
                cursor.execute(f"SELECT v FROM {table}_config WHERE k = 'automerge'")
                self.assertEqual(cursor.fetchone(), (8,), table)

    def test_fts5_tables_hold_a_batch_of_terms_in_memory(self) -> None:
        # A batch's terms written as one segment at its commit (migration 0023).
        with connection.cursor() as cursor:
            for table in (search.FTS_TABLE, search.TITLE_FTS_TABLE):
                cursor.execute(f"SELECT v FROM {table}_config WHERE k = 'hashsize'")
                self.assertEqual(cursor.fetchone(), (16 * 1024 * 1024,), table)

    def test_a_batch_is_written_as_one_segment_whatever_the_order_of_its_dates(self) -> None:
        # FTS5 starts a new segment at each rowid lower than the last: a batch in file order
        # (dates unordered) was some 240 segments of 500 notices for the merges to rewrite.
        start = dt.datetime(2021, 1, 1, tzinfo=SHANGHAI)
        notices = [
            make_notice(title=f"讲座{i}", body=f"第{i}场讲座", date=start - dt.timedelta(days=i))
            for i in range(30)
        ]
        search.clear_index()
        search.index_notices(notices)  # newest first: each sort key lower than the last
        with connection.cursor() as cursor:
            for table in (search.FTS_TABLE, search.TITLE_FTS_TABLE):
                cursor.execute(f"SELECT count(DISTINCT segid) FROM {table}_idx")
                self.assertEqual(cursor.fetchone(), (1,), table)
        self.assertEqual(hit_ids("讲座"), {notice.id for notice in notices})


class RankingTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        day = dt.timedelta(days=1)
        start = dt.datetime(2022, 3, 1, 9, tzinfo=SHANGHAI)
        cls.body_old = make_notice(title="寒假安排", body="奖学金评审将于下周开始。", date=start)
        cls.title_old = make_notice(
            title="奖学金评审通知", body="请各学院做好准备。", date=start + day
        )
        cls.body_new = make_notice(
            title="开学安排", body="奖学金发放时间另行通知。", date=start + 2 * day
        )
        cls.title_new = make_notice(
            title="国家奖学金公示", body="公示期五天。", date=start + 3 * day
        )

    def test_title_matches_come_before_body_matches(self) -> None:
        found = search_notices("奖学金")[0:10]
        self.assertEqual({n.id for n in found[:2]}, {self.title_old.id, self.title_new.id})
        self.assertEqual({n.id for n in found[2:]}, {self.body_old.id, self.body_new.id})

    def test_newest_and_oldest_sorts(self) -> None:
        newest = [n.id for n in search_notices("奖学金", sort="newest")[0:10]]
        oldest = [n.id for n in search_notices("奖学金", sort="oldest")[0:10]]
        expected = [self.title_new.id, self.body_new.id, self.title_old.id, self.body_old.id]
        self.assertEqual(newest, expected)
        self.assertEqual(oldest, expected[::-1])

    def test_unknown_sort_falls_back_to_relevance(self) -> None:
        self.assertEqual(search_notices("奖学金", sort="drop table").sort, "relevance")

    def test_equal_titles_rank_newer_first(self) -> None:
        first = make_notice(
            title="同名通知", body="内容", date=dt.datetime(2020, 1, 1, tzinfo=SHANGHAI)
        )
        second = make_notice(
            title="同名通知", body="内容", date=dt.datetime(2021, 1, 1, tzinfo=SHANGHAI)
        )
        self.assertEqual([n.id for n in search_notices("同名通知")[0:2]], [second.id, first.id])


class SyntaxTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.notice = make_notice(title="研究生招生简章", body="NEAR 北岭 2020 年研究生招生。")

    def test_odd_queries_never_fail(self) -> None:
        queries = [
            "",
            "   ",
            '"',
            '"研究生',
            '研究生"',
            '"*:^()-NEAR',
            "，。！？",
            "-",
            "--",
            "-研究生",
            "研究生 AND OR NOT",
            "NEAR(研究 招生)",
            "研究*",
            "title:研究",
            "{title}:研究",
            "'; DROP TABLE notices_notice; --",
            "\\",
            "%_%",
            "\x00研究",
            "研究" * 500,
            "生" * 1000,
        ]
        for query in queries:
            with self.subTest(query=query[:30]):
                results = search_notices(query)
                self.assertGreaterEqual(results.count(), 0)
                list(results[0:20])
                response = self.client.get(reverse("notices:search"), {"q": query})
                # 200, or the list filters' 404 for a NUL in a parameter: never a 500.
                self.assertEqual(response.status_code, 404 if "\x00" in query else 200)

    def test_operator_words_are_plain_words(self) -> None:
        self.assertEqual(hit_ids("NEAR"), {self.notice.id})
        self.assertEqual(hit_ids('"*:^()-NEAR'), {self.notice.id})
        self.assertEqual(hit_ids("研究*"), {self.notice.id})

    def test_a_query_of_punctuation_or_exclusions_only_finds_nothing(self) -> None:
        for query in ["，。！？", "-研究生", '""', "%"]:
            with self.subTest(query=query):
                self.assertFalse(parse_query(query))
                self.assertEqual(search_notices(query).count(), 0)

    def test_unbalanced_quote_takes_the_rest_as_a_phrase(self) -> None:
        self.assertEqual(hit_ids('"北岭 2020'), {self.notice.id})
        self.assertEqual(hit_ids('"北岭 2021'), set())

    def test_long_queries_are_cut(self) -> None:
        parsed = parse_query(" ".join(f"词{i}" for i in range(100)))
        self.assertLessEqual(len(parsed.terms), search.MAX_TERMS)


class HighlightTests(TestCase):
    def test_highlight_escapes_text_and_marks_matches(self) -> None:
        html = highlight("<script>alert(1)</script>疫情防控", parse_query("疫情"))
        self.assertEqual(html, "&lt;script&gt;alert(1)&lt;/script&gt;<mark>疫情</mark>防控")

    def test_a_query_with_markup_cannot_inject_it(self) -> None:
        query = parse_query('<img src=x onerror=alert(1)> "疫情')
        html = highlight("疫情 <img src=x onerror=alert(1)>", query)
        self.assertNotIn("<img", html)
        self.assertIn("<mark>疫情</mark>", html)
        self.assertIn("&lt;<mark>img</mark>", html)

    def test_highlight_maps_back_to_the_original_characters(self) -> None:
        self.assertEqual(
            highlight("國立臺灣大學", parse_query("台湾")), "國立<mark>臺灣</mark>大學"
        )
        self.assertEqual(
            highlight("ＣＯＶＩＤ期间", parse_query("covid")), "<mark>ＣＯＶＩＤ</mark>期间"
        )
        # ㈱ becomes three characters when normalised: offsets are mapped one by one.
        self.assertEqual(highlight("㈱疫情", parse_query("疫情")), "㈱<mark>疫情</mark>")

    def test_snippet_is_cut_around_the_first_match(self) -> None:
        text = "前言。" * 100 + "这里说到奖学金的评定。" + "后记。" * 100
        html = snippet(text, parse_query("奖学金"), length=60)
        self.assertIn("<mark>奖学金</mark>", html)
        self.assertTrue(html.startswith("…") and html.endswith("…"))
        self.assertLess(len(re.sub("<[^>]+>", "", html)), 70)

    def test_snippet_from_a_prefix_is_the_snippet_of_the_whole_text(self) -> None:
        # snippet() looks in the first 500 and 2,000 characters before the whole text: each
        # match placed across and around those ends, and full-width or folded text before it.
        rng = random.Random(25)
        fillers = ["前言。", "ＡＢＣ，", "國立臺灣", "㈱", "ﬁ", "e\u0301", "  "]
        queries = ["奖学金", "臺灣 奖学", "ab", "奖", "学金 2016", '"奖学 金"']
        queries.append("奖学金评定通知 定通")  # overlapping terms: the window guard decides
        for _ in range(300):
            at = rng.choice([rng.randrange(0, 3000), *range(480, 505), *range(1985, 2005)])
            filler = rng.choice(fillers)
            text = (filler * (at // len(filler) + 1))[:at] + "奖学金评定通知。2016" + "后记" * 800
            query = parse_query(rng.choice(queries))
            with self.subTest(at=at, filler=filler, query=query.text):
                whole = search._match_spans(text, query, limit=1)
                self.assertEqual(search._first_match(text, query), whole)
                windowed = snippet(text, query)
                with mock.patch.object(search, "_SNIPPET_WINDOWS", ()):
                    self.assertEqual(windowed, snippet(text, query))

    def test_snippet_of_a_body_with_markup_is_escaped(self) -> None:
        notice = make_notice(title="测试", body="<b>疫情</b> & <i>通知</i>\n\n<script>x()</script>")
        html = snippet(plain_text(notice.body_html), parse_query("疫情"))
        self.assertNotIn("<b>", html)
        self.assertNotIn("<script", html)
        self.assertIn("<mark>疫情</mark>", html)

    def test_body_html_keeps_its_tags_and_marks_text_only(self) -> None:
        body = '<p title="疫情">关于<strong>疫情</strong>的 &lt;通知&gt;</p>'
        html = highlight_html(body, parse_query("疫情 通知"))
        self.assertEqual(
            html,
            '<p title="疫情">关于<strong><mark>疫情</mark></strong>'
            "的 &lt;<mark>通知</mark>&gt;</p>",
        )


class SearchPageTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.first = make_notice(
            title="关于2023年国家奖学金评审的通知",
            body="各学院：\n\n现将**奖学金**评审工作安排如下。<script>alert(1)</script>",
            date=dt.datetime(2023, 9, 1, 9, tzinfo=SHANGHAI),
        )
        cls.first.tags.add("奖学金")
        cls.second = make_notice(
            title="寒假安排",
            site="青岚理工学院",
            body="寒假期间奖学金发放暂停。",
            date=dt.datetime(2022, 1, 10, 9, tzinfo=SHANGHAI),
        )
        cls.other = make_notice(title="图书馆开放时间", body="周末照常开放。")

    def test_results_page_shows_count_highlights_and_links_that_highlight(self) -> None:
        response = self.client.get(reverse("notices:search"), {"q": "奖学金"})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.context["page"].paginator.count, 2)
        self.assertContains(response, "<mark>奖学金</mark>", html=False)
        self.assertNotContains(response, "<script>alert(1)")
        self.assertContains(response, self.first.get_absolute_url() + "?highlight=")
        self.assertNotContains(response, "图书馆开放时间")

    def test_facets_count_the_hits_and_filters_narrow_them(self) -> None:
        response = self.client.get(reverse("notices:search"), {"q": "奖学金"})
        facets = response.context["facets"]
        self.assertEqual({v["value"]: v["count"] for v in facets["years"]}, {2023: 1, 2022: 1})
        sites = {v["label"]: v["count"] for v in facets["sites"]}
        self.assertEqual(sites, {"青岚大学": 1, "青岚理工学院": 1})
        site_link = next(v for v in facets["sites"] if v["label"] == "青岚理工学院")
        self.assertIn("q=", site_link["query"])
        narrowed = self.client.get(reverse("notices:search") + "?" + site_link["query"])
        self.assertEqual(narrowed.context["page"].paginator.count, 1)
        self.assertEqual(narrowed.context["hits"][0]["notice"], self.second)
        by_year = self.client.get(reverse("notices:search"), {"q": "奖学金", "year": "2023"})
        self.assertEqual([hit["notice"] for hit in by_year.context["hits"]], [self.first])
        by_tag = self.client.get(reverse("notices:search"), {"q": "奖学金", "tag": "奖学金"})
        self.assertEqual([hit["notice"] for hit in by_tag.context["hits"]], [self.first])

    def test_broad_searches_skip_facets_but_say_why(self) -> None:
        with mock.patch("notices.views.SEARCH_FACET_LIMIT", 1):
            response = self.client.get(reverse("notices:search"), {"q": "奖学金"})
            data = self.client.get(
                reverse("notices:search"), {"q": "奖学金", "format": "json"}
            ).json()
        self.assertEqual(response.context["page"].paginator.count, 2)
        self.assertEqual(response.context["facets"], {})
        self.assertContains(response, 'class="facets-skipped"')
        self.assertTrue(data["facets_skipped"])

    def test_pagination_keeps_the_query(self) -> None:
        for i in range(25):
            make_notice(title=f"讲座预告{i}", body="学术讲座。")
        response = self.client.get(reverse("notices:search"), {"q": "讲座", "sort": "newest"})
        self.assertEqual(response.context["page"].paginator.num_pages, 2)
        self.assertContains(response, "q=%E8%AE%B2%E5%BA%A7")
        page_two = self.client.get(reverse("notices:search"), {"q": "讲座", "page": "2"})
        self.assertEqual(len(page_two.context["hits"]), 5)

    def test_empty_query_shows_the_form(self) -> None:
        response = self.client.get(reverse("notices:search"))
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, 'name="q"')
        self.assertEqual(response.context["hits"], [])

    def test_detail_page_highlights_and_escapes(self) -> None:
        url = self.first.get_absolute_url()
        response = self.client.get(url, {"highlight": "奖学金"})
        self.assertContains(response, "<strong><mark>奖学金</mark></strong>", html=False)
        self.assertContains(response, "国家<mark>奖学金</mark>评审", html=False)
        hostile = self.client.get(url, {"highlight": '<script>alert("x")</script>奖学金'})
        self.assertNotContains(hostile, '<script>alert("x")')
        plain = self.client.get(url)
        self.assertNotContains(plain, "<mark>")

    def test_json_results(self) -> None:
        response = self.client.get(reverse("notices:search"), {"q": "奖学金", "format": "json"})
        self.assertEqual(response["Content-Type"], "application/json")
        data = json.loads(response.content)
        self.assertEqual(data["count"], 2)
        self.assertEqual(data["query"], "奖学金")
        first = data["results"][0]
        self.assertEqual(first["urlname"], self.first.urlname)
        self.assertIn("<mark>奖学金</mark>", first["title_html"])
        self.assertNotIn("<script", first["snippet_html"])
        self.assertIn("highlight=", first["highlight_url"])
        self.assertIn("years", data["facets"])

    def test_atom_feed_of_a_search(self) -> None:
        response = self.client.get(reverse("notices:search-atom"), {"q": "奖学金"})
        self.assertEqual(response.status_code, 200)
        self.assertIn("application/atom+xml", response["Content-Type"])
        root = ElementTree.fromstring(response.content)
        ns = {"a": "http://www.w3.org/2005/Atom"}
        titles = [entry.findtext("a:title", namespaces=ns) for entry in root.findall("a:entry", ns)]
        self.assertEqual(titles, [self.first.title, self.second.title])

    def test_opensearch_description_is_linked_and_points_at_search(self) -> None:
        response = self.client.get(reverse("notices:opensearch"))
        self.assertEqual(response.status_code, 200)
        self.assertIn("application/opensearchdescription+xml", response["Content-Type"])
        root = ElementTree.fromstring(response.content)
        ns = {"o": "http://a9.com/-/spec/opensearch/1.1/"}
        templates = [url.get("template") for url in root.findall("o:Url", ns)]
        self.assertIn(
            "http://testserver" + reverse("notices:search") + "?q={searchTerms}&page={startPage?}",
            templates,
        )
        home = self.client.get(reverse("notices:list"))
        self.assertContains(home, 'rel="search" type="application/opensearchdescription+xml"')
        self.assertContains(home, f'action="{reverse("notices:search")}"')


class IndexMaintenanceTests(TestCase):
    def fts_keys(self) -> set[int]:
        """Keys in the index proper (on SQLite: both FTS5 tables, which must agree)."""
        if connection.vendor != "sqlite":
            return set(SearchDocument.objects.values_list("sort_key", flat=True))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT rowid FROM {search.TITLE_FTS_TABLE}")
            in_titles = {row[0] for row in cursor.fetchall()}
            cursor.execute(f"SELECT rowid FROM {search.FTS_TABLE}")
            in_bodies = {row[0] for row in cursor.fetchall()}
        self.assertEqual(in_titles, in_bodies)
        return in_bodies

    def test_admin_edit_reindexes_and_admin_search_uses_it(self) -> None:
        editor = User.objects.create_superuser("editor", "e@example.org", "pw-for-tests")
        self.client.force_login(editor)
        notice = make_notice(title="旧的标题", body="正文没有关键词。")
        change = reverse("admin:notices_notice_change", args=[notice.id])
        form = self.client.get(change).context["adminform"].form
        data = {key: value for key, value in form.initial.items() if value is not None}
        data.update(
            title="新的奖学金标题",
            body="正文提到疫情防控。",
            date_0="2021-01-15",
            date_1="09:30:00",
            categories=[],
            tags="",
        )
        response = self.client.post(change, data)
        self.assertEqual(
            response.status_code,
            302,
            getattr(response, "context", None) and response.context["adminform"].form.errors,
        )
        self.assertEqual(hit_ids("奖学金"), {notice.id})
        self.assertEqual(hit_ids("防控"), {notice.id})
        self.assertEqual(hit_ids("旧的"), set())
        changelist = self.client.get(reverse("admin:notices_notice_changelist"), {"q": "防控"})
        self.assertContains(changelist, "新的奖学金标题")
        nothing = self.client.get(reverse("admin:notices_notice_changelist"), {"q": "旧的"})
        self.assertNotContains(nothing, "新的奖学金标题")

    def test_deleting_a_notice_removes_its_index_rows(self) -> None:
        kept = make_notice(title="保留", body="奖学金")
        gone = make_notice(title="删除", body="奖学金")
        gone_key = SearchDocument.objects.get(notice=gone).sort_key
        gone.delete()
        self.assertEqual(hit_ids("奖学金"), {kept.id})
        self.assertNotIn(gone_key, self.fts_keys())
        self.assertFalse(SearchDocument.objects.filter(sort_key=gone_key).exists())

    def test_reimport_and_prune_keep_the_index_in_step(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_document(root, "a.md", urlname="a1", body="第一版提到奖学金。\n")
            write_document(root, "b.md", urlname="b1", title="学院->讲座 | x.cn", body="讲座\n")
            import_archive([root])
            self.assertEqual(len(hit_ids("奖学金")), 1)
            write_document(root, "a.md", urlname="a1", body="第二版改成助学金。\n")
            (root / "b.md").unlink()
            report = import_archive([root], prune=True)
        self.assertEqual(report.pruned, 1)
        self.assertEqual(hit_ids("奖学金"), set())
        self.assertEqual(len(hit_ids("助学金")), 1)
        self.assertEqual(hit_ids("讲座"), set())
        self.assertEqual(len(self.fts_keys()), 1)

    def test_rebuild_command_reindexes_everything_with_progress(self) -> None:
        notices = [make_notice(title=f"通知{i}", body="内容") for i in range(3)]
        Notice.objects.filter(id=notices[0].id).update(title="改过的标题")  # not reindexed
        self.assertEqual(hit_ids("改过"), set())
        out = io.StringIO()
        call_command("rebuild_search_index", "--batch-size", "2", stdout=out)
        self.assertIn("2/3 notices", out.getvalue())
        self.assertIn("3/3 notices", out.getvalue())
        self.assertIn("Indexed 3 notices", out.getvalue())
        self.assertEqual(hit_ids("改过"), {notices[0].id})
        self.assertEqual(len(self.fts_keys()), 3)

    def test_a_changed_date_moves_the_notice_in_newest_order(self) -> None:
        older = make_notice(title="讲座", date=dt.datetime(2020, 1, 1, tzinfo=SHANGHAI))
        newer = make_notice(title="讲座", date=dt.datetime(2021, 1, 1, tzinfo=SHANGHAI))
        older.date = dt.datetime(2022, 1, 1, tzinfo=SHANGHAI)
        older.save()
        search.index_notices([older])
        self.assertEqual(
            [n.id for n in search_notices("讲座", sort="newest")[0:2]], [older.id, newer.id]
        )


@skipUnless(connection.vendor == "postgresql", "compares PostgreSQL with SQLite FTS5")
class BackendEqualityTests(TestCase):
    """The same queries give the same hits on PostgreSQL and on SQLite's FTS5."""

    @classmethod
    def setUpTestData(cls) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            write_archive(Path(tmp), 80, seed=9)
            import_archive([Path(tmp)])
        make_notice(title="國立臺灣大學", body="ＣＯＶＩＤ－１９期间，研究生 招生。")

    def test_postgres_and_fts5_agree(self) -> None:
        migration = importlib.import_module("notices.migrations.0003_search_index")
        fts5 = sqlite3.connect(":memory:")
        for statement in migration.SQLITE_CREATE:
            fts5.execute(statement)
        rows = [
            search._fts_row(*row)
            for row in SearchDocument.objects.values_list("sort_key", "title", "body")
        ]
        fts5.executemany(
            f"INSERT INTO {search.FTS_TABLE}(rowid, title, body) VALUES (?, ?, ?)", rows
        )
        fts5.executemany(
            f"INSERT INTO {search.TITLE_FTS_TABLE}(rowid, title) VALUES (?, ?)",
            [row[:2] for row in rows],
        )
        texts = [t for pair in SearchDocument.objects.values_list("title", "body") for t in pair]
        rng = random.Random(7)
        queries = ["台湾", "covid 19", '"研究生 招生"', "通知 -学院", "学", "大学 2020", "各"]
        for _ in range(150):
            text = rng.choice(texts)
            length = rng.randint(1, 6)
            start = rng.randrange(max(1, len(text) - length + 1))
            queries.append(f'"{text[start : start + length]}"')
        sqlite_backend, checked = search._SQLite(), 0
        for query in queries:
            parsed = parse_query(query)
            if not parsed:
                continue
            for part in ("all", "title", "body"):
                with self.subTest(query=query, part=part):
                    keys, params = sqlite_backend.keys_sql(parsed, part)
                    on_sqlite = {row[0] for row in fts5.execute(keys.replace("%s", "?"), params)}
                    with connection.cursor() as cursor:
                        cursor.execute(*search._PostgreSQL().keys_sql(parsed, part))
                        on_postgres = {row[0] for row in cursor.fetchall()}
                    self.assertEqual(on_postgres, on_sqlite)
                    checked += 1
        self.assertGreater(checked, 300)


class ExactScriptRankingTests(TestCase):
    """A query typed in Traditional script finds what its Simplified form finds, and puts the
    notices that hold it as typed first: title, then body (issue 12)."""

    @classmethod
    def setUpTestData(cls) -> None:
        day = dt.timedelta(days=1)
        start = dt.datetime(2023, 5, 1, 9, tzinfo=SHANGHAI)
        # Newest first would put the folded matches first: they are the newer ones.
        cls.exact_body = make_notice(
            title="社团活动安排", body="本周举行一場兩個小時的交流會。", date=start
        )
        cls.exact_title = make_notice(
            title="成立三個小組的決定", body="各組名單見附件。", date=start + day
        )
        cls.folded = [
            make_notice(
                title=f"第{i}期讲座" if i % 2 else f"一个小时讲座第{i}期",
                body="讲座时长一个小时，请提前入场。",
                date=start + (i + 2) * day,
            )
            for i in range(8)
        ]
        cls.folded_titles = {n.id for n in cls.folded if "个小" in n.title}

    def ranked(self, query: str) -> list[int]:
        results = search_notices(query)
        return [notice.id for notice in results[0 : results.count()]]

    def assert_exact_first(self, ranked: list[int]) -> None:
        self.assertEqual(ranked[:2], [self.exact_title.id, self.exact_body.id])
        # Then the folded matches, title matches before body matches.
        self.assertEqual(set(ranked[2:6]), self.folded_titles)

    def test_the_notices_written_as_typed_come_first(self) -> None:
        ranked = self.ranked("個小")
        self.assert_exact_first(ranked)
        self.assertEqual(set(ranked), set(self.ranked("个小")))  # recall is the same

    def test_the_order_holds_past_the_rank_limit(self) -> None:
        with mock.patch.object(search, "RANK_LIMIT", 3):
            ranked = self.ranked("個小")
            filtered = search_notices("個小", Notice.objects.filter(site="青岚大学"))
            filtered_ranked = [n.id for n in filtered[0:20]]
        self.assert_exact_first(ranked)
        self.assertEqual(filtered_ranked, ranked)
        self.assertEqual(len(ranked), 10)

    def test_past_the_body_limit_only_titles_are_compared(self) -> None:
        with (
            mock.patch.object(search, "RANK_LIMIT", 3),
            mock.patch.object(search, "EXACT_BODY_LIMIT", 5),
        ):
            ranked = self.ranked("個小")
        self.assertEqual(ranked[0], self.exact_title.id)
        self.assertEqual(set(ranked[1:5]), self.folded_titles)
        self.assertEqual(len(ranked), 10)

    def test_a_query_no_notice_holds_as_typed_ranks_as_its_folded_form(self) -> None:
        with mock.patch.object(search, "RANK_LIMIT", 3):
            self.assertEqual(self.ranked("講座"), self.ranked("讲座"))
            self.assertEqual(len(self.ranked("講座")), 8)

    def test_simplified_queries_keep_their_order(self) -> None:
        ranked = self.ranked("个小")
        # Title matches first, as before: the exact title match is one of them.
        self.assertEqual(set(ranked[:5]), self.folded_titles | {self.exact_title.id}, ranked)

    def test_every_term_must_be_as_typed(self) -> None:
        when = dt.datetime(2024, 1, 1, tzinfo=SHANGHAI)
        both = make_notice(title="讲座通知", body="两場兩個小時的讲座。", date=when)
        partly = make_notice(  # 個小 as typed, 讲座 only once folded (講座)
            title="講座通知", body="两場兩個小時的講座。", date=when + dt.timedelta(days=1)
        )
        ranked = self.ranked("個小 讲座")
        self.assertEqual(ranked[0], both.id)
        self.assertIn(partly.id, ranked[1:])

    def test_the_typed_form_is_kept_only_when_it_differs(self) -> None:
        self.assertEqual(parse_query("個小").included[0].typed, ("個小",))
        self.assertEqual(parse_query("个小").included[0].typed, ())
        self.assertEqual(parse_query("ＰＤＦ").included[0].typed, ())
        self.assertFalse(parse_query("个小 通知").folds)
        self.assertTrue(parse_query("個小 通知").folds)
        self.assertEqual(parse_query("個小").terms, parse_query("个小").terms)  # same matches


class PublishedNoticesTests(TestCase):
    def test_the_index_alone_answers_for_published_notices_unless_one_lacks_a_urlname(self):
        make_notice(title="奖学金评审", body="内容")
        make_notice(title="助学金", body="奖学金另见附件。")
        self.assertTrue(search_notices("奖学金").unfiltered)
        self.assertEqual(search_notices("奖学金").count(), 2)
        hidden = make_notice(urlname="", title="奖学金名单", body="内容")
        results = search_notices("奖学金")
        self.assertFalse(results.unfiltered)
        self.assertEqual(results.count(), 2)
        self.assertNotIn(hidden.id, {notice.id for notice in results[0:10]})

    def test_every_match_id_comes_from_the_index_alone_when_it_holds_every_notice(self):
        shown = {make_notice(title=f"奖学金{i}", body="内容").id for i in range(4)}
        shown.add(make_notice(title="通知", body="奖学金评审").id)
        make_notice(title="奖学金 已撤回", body="内容")
        # Past RANK_LIMIT the page is not ranked, so the ids are asked for on their own.
        with mock.patch.object(search, "RANK_LIMIT", 2):
            for text in ("奖学金", "奖学金 -撤回"):
                results = search_notices(text)
                self.assertTrue(results.unfiltered)
                with CaptureQueriesContext(connection) as captured:
                    ids = results.match_ids()
                self.assertNotIn(Notice._meta.db_table, captured[-1]["sql"])
                self.assertEqual(set(ids), set(results.notices.values_list("id", flat=True)))
                self.assertEqual(len(ids), len(set(ids)))
            self.assertEqual(set(search_notices("奖学金 -撤回").match_ids()), shown)
            hidden = make_notice(urlname="", title="奖学金名单", body="内容")
            results = search_notices("奖学金")
            self.assertFalse(results.unfiltered)
            self.assertNotIn(hidden.id, results.match_ids())
        self.assertEqual(search_notices("").match_ids(), [])

    def test_match_ids_past_the_ids_a_sort_key_holds(self) -> None:
        # A sort_key keeps the low 27 bits of the id: past them, ids come from SearchDocument.
        low = make_notice(title="奖学金评审", body="内容")
        self.assertEqual(search_notices("奖学金").match_ids(), [low.id])
        later = dt.datetime(2022, 3, 1, tzinfo=SHANGHAI)
        high = make_notice(id=2**27 + low.id, title="奖学金名单", body="内容", date=later)
        self.assertEqual(set(search_notices("奖学金").match_ids()), {low.id, high.id})


@skipUnless(connection.vendor == "postgresql", "PostgreSQL's tsvector of grams")
class PostgreSQLGramTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            write_archive(Path(tmp), 40, seed=13)
            # Most of these notices do not fit this budget: they are indexed as too long.
            with mock.patch.object(search, "_PG_MAX_LEXEME_BYTES", 3000):
                import_archive([Path(tmp)])
                cls.short = make_notice(title="短通知", body="奖学金名单。")
        cls.normalised = normalised_texts()

    def test_terms_of_up_to_four_characters_need_no_like_without_long_notices(self) -> None:
        backend = search._PostgreSQL()
        backend._partial = []
        for query in ["学", "大学", "研究生", "国家奖学", "大学 -2020", "国家 2020"]:
            with self.subTest(query=query):
                where, _ = backend.where(parse_query(query))
                self.assertNotIn("LIKE", where)
        where, _ = backend.where(parse_query("奖学金评审"))
        self.assertIn("LIKE", where)

    def test_notices_too_long_for_a_tsvector_are_still_found(self) -> None:
        partial = set(search._PostgreSQL().partial_keys())
        keys = set(SearchDocument.objects.values_list("sort_key", flat=True))
        self.assertTrue(partial)
        self.assertLess(len(partial), len(keys))
        self.assertNotIn(SearchDocument.objects.get(notice=self.short).sort_key, partial)
        texts = [text for pair in self.normalised.values() for text in pair if text]
        rng = random.Random(13)
        queries = ["奖学金", "名单", "学 -奖学金", "大学 2020", "通知 -学院", '"特此 通知"']
        while len(queries) < 120:
            text = rng.choice(texts)
            length = rng.randint(1, 6)
            start = rng.randrange(max(1, len(text) - length + 1))
            if re.search(r"[^\W_]", text[start : start + length]):
                queries.append(f'"{text[start : start + length]}"')
        for query in queries:
            with self.subTest(query=query):
                expected = brute_force(query, self.normalised)
                self.assertEqual(hit_ids(query), expected)
                self.assertEqual(search_notices(query).count(), len(expected))

    def test_a_long_notice_keeps_its_characters_and_the_marker(self) -> None:
        with mock.patch.object(search, "_PG_MAX_LEXEME_BYTES", 10):
            vector, title_vector = search._pg_vectors("通知", "奖学金 名单")
        self.assertEqual(
            set(vector.replace("'", "").split()),
            {"通", "知", "奖", "学", "金", "名", "单", "~partial"},
        )
        self.assertEqual(set(title_vector.replace("'", "").split()), {"通", "知", "通知"})
        self.assertEqual(search._pg_vectors("", ""), ("", ""))

    def test_a_notice_has_one_gram_per_position_and_its_characters(self) -> None:
        self.assertEqual(
            search._pg_grams("疫情防控 ab"),
            {"疫", "情", "防", "控", "疫情防控", "情防控", "防控", "a", "b", "ab"},
        )
        # Two or three characters: the prefix of the gram that starts where they start.
        self.assertEqual(parse_query("防控").included[0].tsquery(), "'防控':*")
        self.assertEqual(parse_query("情防控").included[0].tsquery(), "'情防控':*")
        self.assertEqual(parse_query("疫情防控").included[0].tsquery(), "'疫情防控'")
        longer = parse_query("疫情防控措施").included[0]
        self.assertEqual(longer.tsquery(), "'疫情防控' & '防控措施'")

    def test_traditional_characters_as_typed_are_lexemes_of_their_own(self) -> None:
        notice = make_notice(title="國立大學", body="學生 個人")
        lexemes = set(re.findall(r"'([^']*)'", pg_vectors()[notice.id]))
        self.assertTrue({"國", "學", "個"} <= lexemes)
        self.assertIn("国立大学", lexemes)
        self.assertFalse(set(search.search_text("國立大學 學生 個人")) & {"國", "學", "個"})

    def test_migration_0013_writes_what_the_index_writes_and_back(self) -> None:
        migration = importlib.import_module(
            "notices.migrations.0013_search_position_grams_postgresql"
        )
        operation = migration.Migration.operations[0]
        written = pg_vectors()
        # The budget these notices were indexed with (setUpTestData).
        with (
            mock.patch.object(search, "_PG_MAX_LEXEME_BYTES", 3000),
            connection.schema_editor() as editor,
        ):
            editor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no trigger events pending
            operation.reverse_code(None, editor)
            before = pg_vectors()
            self.assertEqual(hit_ids("奖学金"), brute_force("奖学金", self.normalised))
            operation.code(None, editor)
        self.assertNotEqual(before, written)
        self.assertEqual(pg_vectors(), written)
