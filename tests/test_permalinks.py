"""Old URLs keep working (issue 9): old addresses, their 301s, /posts/<name>/ and the
archive's asset files."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from django.db import connection
from django.test import SimpleTestCase, TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.http import http_date

from notices.models import Notice, OldAddress
from notices.permalinks import (
    DEFAULT_PERMALINK,
    hexo_slugize,
    jekyll_slugify,
    normalize_address,
    old_addresses,
)
from tests.helpers import SHANGHAI, make_notice, write_files

HEXO = ":year/:month/:day/:title/"


def addresses(pattern: str = HEXO, **overrides: Any) -> list[str]:
    """old_addresses() of a Hexo post `source/_posts/2019-03-07-spring-lecture.md`."""
    values: dict[str, Any] = {
        "slug": "spring-lecture",
        "date": dt.datetime(2019, 3, 7, 14, 5, 9, tzinfo=SHANGHAI),
        "date_source": "front_matter",
        "extra": {},
        "source_path": "2019-03-07-spring-lecture.md",
        "pattern": pattern,
        "zone": SHANGHAI,
    }
    values.update(overrides)
    return old_addresses(**values)


class NormalizeAddressTests(SimpleTestCase):
    def test_the_forms_a_static_host_serves_one_page_under_meet(self) -> None:
        forms = [
            "/2019/03/07/spring-lecture.html",
            "/2019/03/07/spring-lecture/",
            "/2019/03/07/spring-lecture",
            "2019/03/07/spring-lecture/index.html",
            "/2019/03/07/spring-lecture/index.htm",
            "//old.example.edu/2019/03/07/spring-lecture.html",
            "https://old.example.edu/2019/03/07/Spring-Lecture/?from=feed#comments",
            "/2019//03/./07/spring-lecture/",
        ]
        for form in forms:
            with self.subTest(form=form):
                self.assertEqual(normalize_address(form), "2019/03/07/spring-lecture")

    def test_percent_encoded_and_raw_unicode_meet(self) -> None:
        raw = normalize_address("/2020/05/01/春季讲座/")
        self.assertEqual(raw, "2020/05/01/春季讲座")
        self.assertEqual(
            normalize_address("/2020/05/01/%E6%98%A5%E5%AD%A3%E8%AE%B2%E5%BA%A7/"), raw
        )
        self.assertEqual(
            normalize_address("/2020/05/01/%e6%98%a5%e5%ad%a3%e8%ae%b2%e5%ba%a7.html"), raw
        )
        # The same letter composed or decomposed (NFC).
        self.assertEqual(normalize_address("/cafe\u0301/"), normalize_address("/caf%C3%A9/"))

    def test_an_encoded_question_mark_stays_in_the_path(self) -> None:
        self.assertEqual(normalize_address("/faq%3F/"), "faq?")
        self.assertEqual(normalize_address("/faq?page=2"), "faq")

    def test_dot_dot_cannot_climb_above_the_root(self) -> None:
        self.assertEqual(normalize_address("/a/../b/c.html"), "b/c")
        self.assertEqual(normalize_address("/../../b/"), "b")

    def test_the_root_is_no_address(self) -> None:
        for form in ["", "/", "/index.html", "https://old.example.edu/", "/.html"]:
            with self.subTest(form=form):
                self.assertEqual(normalize_address(form), "")


class PatternTests(SimpleTestCase):
    def test_hexos_default_pattern(self) -> None:
        self.assertEqual(addresses(), ["2019/03/07/spring-lecture"])

    def test_an_html_ending_is_the_same_address(self) -> None:
        self.assertEqual(addresses(":year/:month/:day/:title.html"), addresses())

    def test_each_date_placeholder(self) -> None:
        rule = ":year-:month-:day/:i_month-:i_day/:hour-:minute-:second/:title/"
        self.assertEqual(addresses(rule), ["2019-03-07/3-7/14-05-09/spring-lecture"])

    def test_jekyll_date_placeholders(self) -> None:
        rule = "/:short_year/:y_day/:short_month/:long_month/:week/:short_day/:long_day/:title"
        self.assertEqual(addresses(rule), ["19/066/mar/march/10/thu/thursday/spring-lecture"])

    def test_dates_are_read_in_the_archive_zone(self) -> None:
        # 17:30 UTC on the 6th is the 7th in Shanghai, where the old site was built.
        late = dt.datetime(2019, 3, 6, 17, 30, tzinfo=dt.UTC)
        self.assertEqual(addresses(date=late), ["2019/03/07/spring-lecture"])
        naive = dt.datetime(2019, 3, 7, 0, 10)
        self.assertEqual(addresses(date=naive), ["2019/03/07/spring-lecture"])

    def test_title_is_the_slug_and_the_file_name_without_its_date(self) -> None:
        # Hexo names the post by its file, Jekyll and Octopress by `slug:`: both are kept.
        self.assertEqual(
            addresses(slug="lecture-notice"),
            ["2019/03/07/lecture-notice", "2019/03/07/spring-lecture"],
        )

    def test_name_and_post_title(self) -> None:
        # Hexo's :name is the slug's last part; Jekyll's the whole file name, slugified.
        self.assertEqual(
            addresses("/talks/:name/"),
            ["talks/spring-lecture", "talks/2019-03-07-spring-lecture"],
        )
        self.assertEqual(
            addresses("/:post_title/", title="Spring Lecture: Rivers & Hills"),
            ["spring-lecture-rivers-hills"],
        )
        self.assertEqual(addresses("/:post_title/"), [])  # no title given: nothing to guess

    def test_id_and_other_front_matter_placeholders(self) -> None:
        extra = {"id": 417, "lang": "en"}
        self.assertEqual(addresses("/p/:id/", extra=extra), ["p/417"])
        self.assertEqual(addresses("/:lang/:title/", extra=extra), ["en/spring-lecture"])
        # A post without the value has no address under that pattern.
        self.assertEqual(addresses("/p/:id/"), [])

    def test_hexos_category_is_the_last_category_path(self) -> None:
        categories = [["Faculty News", "Lectures"]]
        self.assertEqual(
            addresses("/:category/:title/", categories=categories),
            ["faculty-news/lectures/spring-lecture"],
        )
        self.assertEqual(addresses("/:category/:title/"), ["uncategorized/spring-lecture"])

    def test_jekylls_categories_are_all_of_them_in_lower_case(self) -> None:
        self.assertEqual(
            addresses("/:categories/:year/:title/", categories=["Events", "Talks"]),
            ["events/talks/2019/spring-lecture"],
        )
        # None: the empty part is dropped, as Jekyll does.
        self.assertEqual(addresses("/:categories/:year/:title/"), ["2019/spring-lecture"])

    def test_jekylls_title_is_slugified_pretty(self) -> None:
        found = addresses(
            "/:categories/:title:output_ext",
            slug="spring  lecture (draft)",
            source_path="2019-03-07-spring  lecture (draft).md",
        )
        self.assertEqual(found, ["spring  lecture (draft)", "spring-lecture-(draft)"])

    def test_jekyll_style_names(self) -> None:
        categories = ["News"]
        self.assertEqual(
            addresses("date", categories=categories), ["news/2019/03/07/spring-lecture"]
        )
        self.assertEqual(
            addresses("pretty", categories=categories), ["news/2019/03/07/spring-lecture"]
        )
        self.assertEqual(addresses("none"), ["spring-lecture"])
        self.assertEqual(addresses("ordinal"), ["2019/066/spring-lecture"])

    def test_several_patterns_comma_separated(self) -> None:
        found = addresses(" :year/:month/:day/:title/ , /archive/:title.html ,")
        self.assertEqual(found, ["2019/03/07/spring-lecture", "archive/spring-lecture"])

    def test_the_default_covers_hexo_jekyll_and_year_title_links(self) -> None:
        found = addresses(DEFAULT_PERMALINK, categories=["event"])
        self.assertEqual(
            found,
            [
                "2019/03/07/spring-lecture",
                "event/2019/03/07/spring-lecture",
                "event/2019/spring-lecture",
            ],
        )

    def test_a_modification_time_date_gives_no_dated_address(self) -> None:
        # The old site dated the post by a file time we cannot know.
        self.assertEqual(addresses(date_source="file_mtime"), [])
        self.assertEqual(
            addresses("/talks/:title/", date_source="file_mtime"), ["talks/spring-lecture"]
        )
        # A file-name date is the one Hexo and Jekyll used.
        self.assertEqual(addresses(date_source="file_name"), ["2019/03/07/spring-lecture"])

    def test_addresses_too_long_to_store_are_left_out(self) -> None:
        self.assertEqual(addresses(slug="x" * 1200, source_path="x" * 1200 + ".md"), [])


class FrontMatterPermalinkTests(SimpleTestCase):
    def test_a_permalink_is_the_posts_address_in_every_form(self) -> None:
        for permalink in [
            "/lectures/2019/spring/",
            "lectures/2019/spring/",
            "/lectures/2019/spring.html",
            "lectures/2019/spring",
            "/lectures/2019/spring/index.html",
        ]:
            with self.subTest(permalink=permalink):
                found = addresses(DEFAULT_PERMALINK, extra={"permalink": permalink})
                self.assertEqual(found, ["lectures/2019/spring"])

    def test_a_jekyll_permalink_may_use_placeholders(self) -> None:
        found = addresses(extra={"permalink": "/lectures/:year/:title/"})
        self.assertEqual(found, ["lectures/2019/spring-lecture"])
        self.assertEqual(addresses(extra={"permalink": "pretty"}), ["2019/03/07/spring-lecture"])

    def test_a_colon_that_names_nothing_stays_as_written(self) -> None:
        self.assertEqual(addresses(extra={"permalink": "/notes/a:b/"}), ["notes/a:b"])

    def test_a_dated_permalink_of_an_undated_post_gives_nothing_dated(self) -> None:
        found = addresses(
            "/talks/:title/", date_source="file_mtime", extra={"permalink": "/:year/:title/"}
        )
        self.assertEqual(found, ["talks/spring-lecture"])

    def test_a_permalink_that_names_no_page_falls_back_to_the_pattern(self) -> None:
        for value in ["/", "", None, ["/a/"], True]:
            with self.subTest(value=value):
                self.assertEqual(
                    addresses(extra={"permalink": value}), ["2019/03/07/spring-lecture"]
                )

    def test_redirect_from_and_aliases_add_addresses(self) -> None:
        extra = {
            "permalink": "/lectures/spring/",
            "redirect_from": ["/old/spring-lecture/", "/2019/spring.html"],
            "aliases": "/talks/spring/",
        }
        self.assertEqual(
            addresses(extra=extra),
            ["lectures/spring", "old/spring-lecture", "2019/spring", "talks/spring"],
        )
        # Without a permalink the pattern's address comes first.
        self.assertEqual(addresses(extra={"alias": "/s/"}), ["2019/03/07/spring-lecture", "s"])


class SlugifyTests(SimpleTestCase):
    def test_jekyll_modes(self) -> None:
        self.assertEqual(jekyll_slugify("Rivers & Hills: 2019!"), "rivers-hills-2019")
        self.assertEqual(
            jekyll_slugify("Rivers & Hills", pretty=True, cased=True), "Rivers-&-Hills"
        )
        self.assertEqual(jekyll_slugify("春季 讲座"), "春季-讲座")

    def test_hexo_slugize(self) -> None:
        self.assertEqual(hexo_slugize("Café au lait -- notes"), "Cafe-au-lait-notes")
        self.assertEqual(hexo_slugize("Spring Lecture", lower=True), "spring-lecture")


class RedirectFallbackTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.notice = make_notice(urlname="spring-lecture-2019", slug="spring-lecture")
        OldAddress.objects.create(path="2019/03/07/spring-lecture", notice=cls.notice)
        OldAddress.objects.create(path="2020/05/01/春季讲座", notice=cls.notice)

    def test_an_old_address_answers_301_to_the_notice(self) -> None:
        for url in [
            "/2019/03/07/spring-lecture.html",
            "/2019/03/07/spring-lecture/",
            "/2019/03/07/spring-lecture",
            "/2019/03/07/spring-lecture/index.html",
            "/2019/03/07/Spring-Lecture/?utm_source=feed",
            "/2020/05/01/%E6%98%A5%E5%AD%A3%E8%AE%B2%E5%BA%A7/",
            "/2020/05/01/春季讲座.html",
        ]:
            with self.subTest(url=url):
                response = self.client.get(url)
                self.assertEqual(response.status_code, 301)
                self.assertEqual(response["Location"], self.notice.get_absolute_url())

    def test_head_is_redirected_too(self) -> None:
        response = self.client.head("/2019/03/07/spring-lecture.html")
        self.assertEqual(response.status_code, 301)

    def test_other_404s_stay_404s_in_the_site_design(self) -> None:
        for url in ["/2019/03/07/autumn-lecture/", "/no/such/page/", "/notices/nope/", "/"
                    "posts/nope/", "/2019/03/07/spring-lecture/extra/"]:  # fmt: skip
            with self.subTest(url=url):
                response = self.client.get(url)
                self.assertContains(response, "找不到这个页面", status_code=404)

    def test_a_post_to_an_old_address_is_not_redirected(self) -> None:
        self.assertEqual(self.client.post("/2019/03/07/spring-lecture/").status_code, 404)

    def test_a_404_costs_one_query_and_a_page_none(self) -> None:
        with CaptureQueriesContext(connection) as queries:
            self.client.get("/2019/03/07/autumn-lecture/")
        self.assertEqual(len(queries), 1)
        self.assertIn("old", queries[0]["sql"].lower())
        with mock.patch("notices.old_urls.old_address_redirect") as lookup:
            self.assertEqual(self.client.get(self.notice.get_absolute_url()).status_code, 200)
            self.assertEqual(self.client.get(reverse("notices:list")).status_code, 200)
        lookup.assert_not_called()

    def test_append_slash_still_works(self) -> None:
        response = self.client.get(self.notice.get_absolute_url().rstrip("/"))
        self.assertEqual(response.status_code, 301)
        self.assertEqual(response["Location"], self.notice.get_absolute_url())

    def test_a_real_page_wins_over_an_old_address(self) -> None:
        other = make_notice(urlname="other")
        OldAddress.objects.create(path="notices/other", notice=self.notice)
        response = self.client.get(other.get_absolute_url())
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.context["notice"], other)

    def test_nul_and_overlong_addresses_are_plain_404s(self) -> None:
        for url in ["/2019/%00/", "/" + "a" * 1100 + "/"]:
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 404)


class PostByNameTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.by_slug = make_notice(
            urlname="n-slug", slug="river-survey", source_path="2019-04-02-river-survey.md"
        )
        cls.renamed = make_notice(
            urlname="n-renamed",
            title="春季讲座安排",
            raw_title="青岚大学->春季讲座安排 | qinglan.edu.cn",
            slug="spring-talks",
            source_path="events/2019-03-07-lecture-plan.md",
        )

    def assert_goes_to(self, name: str, notice: Notice) -> None:
        response = self.client.get(reverse("notices:post", args=[name]))
        self.assertEqual(response.status_code, 301, name)
        self.assertEqual(response["Location"], notice.get_absolute_url())

    def test_it_names_a_post_by_slug(self) -> None:
        self.assertEqual(reverse("notices:post", args=["river-survey"]), "/posts/river-survey/")
        self.assert_goes_to("river-survey", self.by_slug)
        self.assert_goes_to("spring-talks", self.renamed)

    def test_it_names_a_post_by_its_file_name(self) -> None:
        self.assert_goes_to("2019-03-07-lecture-plan", self.renamed)
        self.assert_goes_to("2019-04-02-river-survey", self.by_slug)
        # With its folder, as Hexo's post_link names posts in sub-folders.
        self.assert_goes_to("events/2019-03-07-lecture-plan", self.renamed)

    def test_it_names_a_post_by_its_title(self) -> None:
        self.assert_goes_to("春季讲座安排", self.renamed)
        self.assert_goes_to("青岚大学->春季讲座安排 | qinglan.edu.cn", self.renamed)

    def test_a_slug_wins_over_another_posts_file_name_and_the_first_wins_a_tie(self) -> None:
        clash = make_notice(urlname="n-clash", slug="2019-03-07-lecture-plan", source_path="x.md")
        make_notice(urlname="n-later", slug="2019-03-07-lecture-plan", source_path="y.md")
        self.assert_goes_to("2019-03-07-lecture-plan", clash)

    def test_an_unknown_name_is_404(self) -> None:
        for name in ["nothing-here", "lecture", "river", "events", "2019-03-07-lecture-plan.md"]:
            with self.subTest(name=name):
                response = self.client.get(reverse("notices:post", args=[name]))
                self.assertEqual(response.status_code, 404)

    def test_a_nul_in_the_name_is_404(self) -> None:
        self.assertEqual(self.client.get("/posts/a%00b/").status_code, 404)


class ArchiveAssetTests(TestCase):
    """NOTICES_ASSET_DIR is Hexo's source/ folder: its files answer at their paths."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls._tmp = tempfile.TemporaryDirectory()
        base = Path(cls._tmp.name)
        cls.root = base / "source"
        files = {
            "images/campus.png": b"\x89PNG\r\n\x1a\nfake",
            "uploads/2019/timetable.pdf": b"%PDF-1.4 fake",
            "img/map.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>',
            "assets/page.html": b"<script>x()</script>",
            "assets/app.js": b"x()",
            "assets/site.css": b"body{}",
            "assets/notes.txt": "春季讲座".encode(),
            "assets/data.tar.gz": b"\x1f\x8b",
            "images/春季 讲座.png": b"png",
            "robots.txt": b"User-agent: *\nDisallow: /\n",
            "_posts/2019-03-07-spring-lecture.md": b"---\ntitle: x\n---\n",
            ".git/config": b"[core]",
            "about/index.md": b"# about",
        }
        write_files(cls.root, files)
        (base / "secret.txt").write_text("outside")
        os.symlink(base / "secret.txt", cls.root / "images" / "out.png")
        os.symlink(base, cls.root / "images" / "up")
        os.symlink(cls.root / "images" / "campus.png", cls.root / "img" / "same.png")
        cls.enterClassContext(override_settings(NOTICES_ASSET_DIR=cls.root))

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        cls._tmp.cleanup()

    def get(self, url: str, **headers: str):
        response = self.client.get(url, headers=headers)
        if response.streaming:
            response.body = b"".join(response.streaming_content)
        return response

    def test_a_file_answers_at_its_path_with_its_type_and_cache_headers(self) -> None:
        response = self.get("/images/campus.png")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.body, b"\x89PNG\r\n\x1a\nfake")
        self.assertEqual(response["Content-Type"], "image/png")
        self.assertEqual(response["Cache-Control"], "public, max-age=86400")
        mtime = (self.root / "images/campus.png").stat().st_mtime
        self.assertEqual(response["Last-Modified"], http_date(mtime))
        self.assertEqual(response["X-Content-Type-Options"], "nosniff")
        self.assertIn("sandbox", response["Content-Security-Policy"])
        again = self.get("/images/campus.png", if_modified_since=response["Last-Modified"])
        self.assertEqual(again.status_code, 304)

    def test_unicode_and_percent_encoded_names(self) -> None:
        for url in ["/images/春季 讲座.png", "/images/%E6%98%A5%E5%AD%A3%20%E8%AE%B2%E5%BA%A7.png"]:
            with self.subTest(url=url):
                self.assertEqual(self.get(url).body, b"png")

    def test_nothing_that_could_run_runs(self) -> None:
        svg = self.get("/img/map.svg")
        self.assertEqual(svg["Content-Type"], "image/svg+xml")
        self.assertTrue(svg["Content-Security-Policy"].startswith("sandbox;"))
        self.assertIn("default-src 'none'", svg["Content-Security-Policy"])
        for url in ["/assets/page.html", "/assets/app.js", "/assets/site.css"]:
            with self.subTest(url=url):
                response = self.get(url)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response["Content-Type"], "text/plain; charset=utf-8")
                self.assertIn("sandbox", response["Content-Security-Policy"])

    def test_other_types(self) -> None:
        self.assertEqual(self.get("/assets/notes.txt")["Content-Type"], "text/plain; charset=utf-8")
        self.assertEqual(
            self.get("/assets/data.tar.gz")["Content-Type"], "application/octet-stream"
        )
        pdf = self.get("/uploads/2019/timetable.pdf")
        self.assertEqual(pdf["Content-Type"], "application/pdf")
        # The browser's own PDF viewer is sandboxed already; a `sandbox` policy would block it.
        self.assertNotIn("sandbox", pdf.get("Content-Security-Policy", ""))

    def test_nothing_outside_the_folder_or_unpublished_is_served(self) -> None:
        for url in [
            "/images/../../secret.txt",
            "/images/%2e%2e/%2e%2e/secret.txt",
            "/images/..%2f..%2fsecret.txt",
            "/images/%5c..%5c..%5csecret.txt",
            "/images/out.png",  # a symlink leading out
            "/images/up/secret.txt",  # through a symlinked folder
            "/images/",
            "/images",
            "/_posts/2019-03-07-spring-lecture.md",
            "/.git/config",
            "/about/index.md",
            "/images/campus.png/",
            "/images/campus.png%00.txt",
            "/etc/passwd",
            "//etc/passwd",
        ]:
            with self.subTest(url=url):
                self.assertEqual(self.get(url).status_code, 404)

    def test_a_symlink_inside_the_folder_is_followed(self) -> None:
        self.assertEqual(self.get("/img/same.png").status_code, 200)

    def test_the_sites_own_pages_win(self) -> None:
        response = self.get(reverse("notices:robots"))
        self.assertIn("Sitemap:", response.content.decode())

    def test_old_addresses_still_redirect(self) -> None:
        notice = make_notice(urlname="spring")
        OldAddress.objects.create(path="2019/03/07/spring-lecture", notice=notice)
        response = self.get("/2019/03/07/spring-lecture.html")
        self.assertEqual(response.status_code, 301)

    def test_without_the_setting_links_stay_404(self) -> None:
        with override_settings(NOTICES_ASSET_DIR=None):
            self.assertEqual(self.get("/images/campus.png").status_code, 404)
        with override_settings(NOTICES_ASSET_DIR=self.root / "missing"):
            self.assertEqual(self.get("/images/campus.png").status_code, 404)
