"""Real-browser tests: Debian's Chromium driven by Playwright against a live server.

They follow what a reader does (list → category → tag → notice → source link → English)
at desktop and phone widths, and save full-page screenshots under test-artifacts/ to look at.
Skipped, with the reason, only when /usr/bin/chromium is missing (`apt-get install chromium`).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from unittest import skipUnless

import pytest
from django.conf import settings
from django.contrib.staticfiles.testing import StaticLiveServerTestCase

from notices.importing import import_archive
from notices.models import Notice
from tests.helpers import write_files
from tests.test_views_reading import build_reading_archive

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SOURCE_URL = "https://yzb.blgc.edu.cn/2023/0305/c1234a5678/page.htm"

pytestmark = pytest.mark.browser


class ChromiumTestCase(StaticLiveServerTestCase):
    """A live server and one Chromium for the class (the readers' and the editors' tests)."""

    @classmethod
    def setUpClass(cls) -> None:
        # Playwright's sync API runs an event loop in this thread; the ORM calls made here
        # (test data) are plain synchronous calls, so Django's async guard is lifted for them.
        cls._async_unsafe = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        super().setUpClass()
        from playwright.sync_api import sync_playwright

        cls.playwright = sync_playwright().start()
        cls.browser = cls.playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        ARTIFACTS.mkdir(exist_ok=True)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.browser.close()
        cls.playwright.stop()
        super().tearDownClass()
        if cls._async_unsafe is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = cls._async_unsafe

    def open_page(self, width: int, **options):
        context = self.browser.new_context(
            viewport={"width": width, "height": 900}, locale="zh-CN", **options
        )
        self.addCleanup(context.close)
        # Nothing may leave the test server; the original notice's site is answered here.
        context.route(
            re.compile(r"^https?://(?!localhost|127\.0\.0\.1)"),
            lambda route: route.fulfill(status=200, content_type="text/html", body="原文页面"),
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        return context, page

    def screenshot(self, page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def assert_fits_width(self, page) -> None:
        # Measure the settled layout: images and fonts may still be arriving just after a click.
        page.wait_for_load_state("load")
        overflow = 0
        for _ in range(20):
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if overflow <= 0:
                break
            page.wait_for_timeout(100)
        if overflow > 0:
            wide = page.evaluate(
                "[...document.querySelectorAll('body *')]"
                ".filter(el => el.getBoundingClientRect().right > window.innerWidth)"
                ".slice(0, 5).map(el => el.outerHTML.slice(0, 120))"
            )
            self.fail(f"{page.url} scrolls sideways by {overflow}px: {wide}")


@skipUnless(
    CHROMIUM.exists(),
    "browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)",
)
class BrowserTests(ChromiumTestCase):
    port = 0  # chosen by the OS when the live server binds: never taken by another run

    def setUp(self) -> None:
        build_reading_archive()

    def follow_the_reading_path(self, width: int, *, javascript: bool = True) -> None:
        suffix = str(width)
        context, page = self.open_page(width, java_script_enabled=javascript)
        page.goto(self.live_server_url + "/")
        self.assertEqual(page.locator("html").get_attribute("lang"), "zh-Hans")
        self.assertEqual(page.locator("h1").inner_text(), "最新通知")
        self.assertEqual(page.locator(".notice-item").count(), 6)
        self.assert_fits_width(page)
        self.screenshot(page, f"home-{suffix}")

        # A category, from the header's category index down the tree.
        page.get_by_role("navigation", name="浏览").get_by_role("link", name="分类").click()
        self.assertEqual(page.locator("h1").inner_text(), "分类")
        self.screenshot(page, f"categories-{suffix}")
        page.locator(".category-tree").get_by_role("link", name="研究生院").click()
        self.assertEqual(page.locator("h1").inner_text(), "研究生院")
        self.assertEqual(page.locator(".notice-item").count(), 2)
        self.assert_fits_width(page)
        self.screenshot(page, f"category-{suffix}")

        # A tag from a notice in the list.
        page.locator(".notice-item .tags").get_by_role("link", name="研究生").first.click()
        self.assertEqual(page.locator("h1").inner_text(), "标签：研究生")
        self.screenshot(page, f"tag-{suffix}")

        # The notice, and its source link opening the original in a new tab.
        page.get_by_role("link", name="2023年硕士研究生招生简章").click()
        self.assertEqual(page.locator("h1").inner_text(), "2023年硕士研究生招生简章")
        self.assertIn("2023年3月5日", page.locator(".notice .meta").inner_text())
        source = page.get_by_role("link", name=re.compile("查看原文"))
        self.assertEqual(source.get_attribute("href"), SOURCE_URL)
        self.assertEqual(page.locator(".source-host").inner_text(), "yzb.blgc.edu.cn")
        self.assert_fits_width(page)
        self.screenshot(page, f"notice-{suffix}")
        with context.expect_page() as opened:
            source.click()
        original = opened.value
        original.wait_for_load_state()
        self.assertEqual(original.url, SOURCE_URL)
        self.assertIsNone(original.evaluate("window.opener"))
        original.close()

        # The archive: year and month pages.
        page.get_by_role("navigation", name="浏览").get_by_role("link", name="归档").click()
        # Months under their year's heading are named without the year (issue 12).
        year_2023 = page.locator("section.archive-year", has=page.locator("#year-2023"))
        year_2023.get_by_role("link", name="3月", exact=True).click()
        self.assertEqual(page.locator("h1").inner_text(), "2023年3月")
        self.assert_fits_width(page)
        self.screenshot(page, f"archive-month-{suffix}")

        # English through the language switch in the footer.
        page.get_by_role("link", name="2023年硕士研究生招生简章").click()
        page.get_by_label("语言").select_option("en")
        page.get_by_role("button", name="切换").click()
        self.assertEqual(page.locator("html").get_attribute("lang"), "en")
        self.assertEqual(page.locator("h1").inner_text(), "2023年硕士研究生招生简章")
        self.assertIn("March 5, 2023", page.locator(".notice .meta").inner_text())
        self.assertTrue(page.locator(".source-link a").inner_text().startswith("View original"))
        self.screenshot(page, f"notice-en-{suffix}")
        page.get_by_role("navigation", name="Browse").get_by_role("link", name="Latest").click()
        self.assertEqual(page.locator("h1").inner_text(), "Latest notices")
        self.screenshot(page, f"home-en-{suffix}")

    def test_a_reader_browses_on_a_desktop(self) -> None:
        self.follow_the_reading_path(1280)

    def test_a_reader_browses_on_a_phone_without_javascript(self) -> None:
        self.follow_the_reading_path(375, javascript=False)

    def test_filters_are_shown_and_removed_on_a_phone(self) -> None:
        _context, page = self.open_page(360)
        page.goto(self.live_server_url + "/?tag=通知&year=2023")
        chips = page.locator(".active-filters .chip")
        self.assertEqual(chips.count(), 2)
        self.assert_fits_width(page)
        self.screenshot(page, "filters-360")
        chips.first.click()  # removes the tag filter
        self.assertEqual(page.locator(".active-filters .chip").count(), 1)
        self.assertEqual(page.locator(".notice-item").count(), 4)

    def test_the_skip_link_and_focus_are_visible(self) -> None:
        _context, page = self.open_page(1280)
        page.goto(self.live_server_url + "/")
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const el = document.activeElement; const box = el.getBoundingClientRect();"
            " return {text: el.textContent.trim(), href: el.getAttribute('href'),"
            " outline: getComputedStyle(el).outlineStyle, left: box.left}; })()"
        )
        self.assertEqual(focused["text"], "跳到正文")
        self.assertEqual(focused["href"], "#main")
        self.assertNotEqual(focused["outline"], "none")
        self.assertGreaterEqual(focused["left"], 0)  # on screen while focused
        page.keyboard.press("Enter")
        self.assertEqual(page.evaluate("document.activeElement.id"), "main")

    def test_dark_mode_follows_the_system(self) -> None:
        _context, page = self.open_page(375, color_scheme="dark")
        page.goto(self.live_server_url + "/notices/admission-2023/")
        background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        self.assertEqual(background, "rgb(13, 17, 23)")
        self.screenshot(page, "notice-dark-375")

    def test_pages_load_nothing_from_other_hosts(self) -> None:
        _context, page = self.open_page(1280)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        for path in ["/", "/categories/", "/tags/", "/archive/", "/sites/", "/notices/exam-2022/"]:
            page.goto(self.live_server_url + path)
        self.assertTrue(any(url.endswith("site.css") for url in requested))
        outside = [url for url in requested if not url.startswith(self.live_server_url)]
        self.assertEqual(outside, [])

    def test_printing_a_notice_keeps_the_text_and_the_source_address(self) -> None:
        _context, page = self.open_page(1280)
        page.goto(self.live_server_url + "/notices/admission-2023/")
        page.emulate_media(media="print")
        self.assertFalse(page.locator(".site-nav").is_visible())
        self.assertFalse(page.locator(".related").is_visible())
        self.assertTrue(page.locator(".notice-body").is_visible())
        self.assertEqual(page.locator(".source-url").inner_text(), SOURCE_URL)

    def test_the_not_found_page_is_in_the_site_design(self) -> None:
        _context, page = self.open_page(375)
        response = page.goto(self.live_server_url + "/categories/no-such-thing/")
        self.assertEqual(response.status, 404)
        self.assertEqual(page.locator("h1").inner_text(), "找不到这个页面")
        self.assertTrue(page.get_by_role("navigation", name="浏览").is_visible())
        self.screenshot(page, "not-found-375")

    def read_a_hexo_post(self, width: int) -> None:
        """A post moved from a Hexo site: tags rendered, embeds named, the guessed date said."""
        body = (
            "青岚大学开放日的安排如下。\n\n<!-- more -->\n\n"
            "{% youtube AbCdEfGhIjK %}\n\n"
            '<iframe src="https://maps.qinglan.example/embed/v1/place?q=%E9%9D%92%E5%B2%9A'
            '%E5%A4%A7%E5%AD%A6%E5%9B%BE%E4%B9%A6%E9%A6%86&zoom=17&language=zh-CN"></iframe>\n\n'
            "<script>document.title = 'x'</script>\n\n"
            "{% details 日程（点击展开） %}\n上午：参观实验室\n\n下午：讲座\n{% enddetails %}\n\n"
            "{% blockquote 王老师, 青岚日报 %}\n欢迎各位同学。\n{% endblockquote %}\n\n"
            "```\n{% post_link some-post %}\n```\n\n"
            "详见 {% post_link 2023-10-01-library-hours %}。\n"
        )
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            write_files(
                root,
                {
                    "2023-10-08-open-day.md": "---\ntitle: 青岚大学开放日\ntags: [开放日]\n---\n"
                    + body,
                    "2023-10-01-library-hours.md": (
                        "---\ntitle: 图书馆国庆开放时间\ndate: 2023-10-01\n---\n正文。\n"
                    ),
                },
            )
            import_archive([root])
        urlname = Notice.objects.get(title="青岚大学开放日").urlname
        context, page = self.open_page(width)
        page.goto(f"{self.live_server_url}/notices/{urlname}/")
        article = page.locator(".notice-body")
        text = page.evaluate(
            "[...document.querySelectorAll('.notice-body')].map(b => { const c = b.cloneNode(true);"
            " c.querySelectorAll('pre, code').forEach(e => e.remove()); return c.innerText; })[0]"
        )
        for raw in ("{%", "<script", "<iframe", "document.title"):
            self.assertNotIn(raw, text)
        self.assertEqual(page.locator(".notice-body pre").inner_text().strip(),
                         "{% post_link some-post %}")  # fmt: skip
        self.assertEqual(page.locator(".notice-body .embed").count(), 2)
        self.assertIn("www.youtube.com", page.locator(".notice-body .embed").first.inner_text())
        # The map's address is shown readable (q=青岚大学图书馆), linked as written.
        self.assertIn("q=青岚大学图书馆", page.locator(".notice-body .embed").nth(1).inner_text())
        self.assertIn("日期推定", page.locator(".notice .meta .date-guessed").inner_text())
        self.assertIn("2023年10月8日", page.locator(".notice .meta").inner_text())
        link = article.get_by_role("link", name="图书馆国庆开放时间")
        self.assertEqual(link.get_attribute("href"), "/posts/2023-10-01-library-hours/")
        page.get_by_text("日程（点击展开）").click()
        self.assertTrue(page.get_by_text("上午：参观实验室").is_visible())
        self.assert_fits_width(page)
        self.screenshot(page, f"notice-hexo-{width}")
        link.click()
        self.assertEqual(page.locator("h1").inner_text(), "图书馆国庆开放时间")

    def test_a_hexo_post_reads_well_on_a_desktop(self) -> None:
        self.read_a_hexo_post(1280)

    def test_a_hexo_post_reads_well_on_a_phone(self) -> None:
        self.read_a_hexo_post(375)
