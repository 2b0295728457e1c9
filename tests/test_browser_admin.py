"""The editor's path in a real browser (issue 10): log in, open a notice, edit its title, body
and tags typed with Chinese commas, preview, save, see the tags split.

It measures what made the admin hard to work in: the change list's title column and row
height at 1280 px, the title box's and body box's size, and nothing wider than a 375 px phone.
Screenshots go to test-artifacts/admin-*.png.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from unittest import skipUnless

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles.testing import StaticLiveServerTestCase

from notices.models import Notice
from tests import test_browser
from tests.helpers import SHANGHAI, make_notice

pytestmark = pytest.mark.browser

PASSWORD = "pw-for-browser-tests"
LONG_TITLE = (
    "青岚大学研究生院关于2024年接收推荐免试攻读硕士学位研究生（含直博生）预报名工作安排的通知"
)
BODY = "各学院：\n\n现将有关事项通知如下。\n\n1. 报名时间：9月20日至9月25日。\n"
# The list at 1280 px: the title column gets most of the room left by the filters.
MIN_TITLE_COLUMN_PX = 400


@skipUnless(
    test_browser.CHROMIUM.exists(),
    "browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)",
)
class AdminBrowserTests(StaticLiveServerTestCase):
    # Any free port (the readers' browser test keeps its own); 127.0.0.1 only.

    @classmethod
    def setUpClass(cls) -> None:
        # As in tests/test_browser.py: Playwright's sync API runs an event loop in this thread.
        cls._async_unsafe = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        super().setUpClass()
        from playwright.sync_api import sync_playwright

        cls.playwright = sync_playwright().start()
        cls.browser = cls.playwright.chromium.launch(
            executable_path=str(test_browser.CHROMIUM), args=test_browser.CHROMIUM_ARGS
        )
        test_browser.ARTIFACTS.mkdir(exist_ok=True)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.browser.close()
        cls.playwright.stop()
        super().tearDownClass()
        if cls._async_unsafe is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = cls._async_unsafe

    def open_page(self, width: int):
        context = self.browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
        self.addCleanup(context.close)
        # Nothing may leave the test server.
        context.route(
            re.compile(r"^https?://(?!localhost|127\.0\.0\.1)"),
            lambda route: route.fulfill(status=200, content_type="text/html", body="原文页面"),
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        return context, page

    screenshot = test_browser.BrowserTests.screenshot
    assert_fits_width = test_browser.BrowserTests.assert_fits_width

    def setUp(self) -> None:
        User.objects.create_superuser("editor", "editor@example.org", PASSWORD)
        for day in range(1, 21):
            notice = make_notice(
                urlname=f"notice-{day}",
                title=LONG_TITLE if day == 20 else f"关于第{day}批次学生宿舍调整的通知",
                site="青岚大学研究生院",
                date=dt.datetime(2024, 9, day, 9, 30, 15, tzinfo=SHANGHAI),
                body=BODY,
            )
            notice.tags.add("研究生", "通知公告", "学生宿舍")
        self.notice = Notice.objects.get(urlname="notice-20")

    def log_in(self, width: int):
        context, page = self.open_page(width)
        page.goto(self.live_server_url + "/admin/notices/notice/")
        page.fill("#id_username", "editor")
        page.fill("#id_password", PASSWORD)
        page.locator("input[type=submit]").click()
        page.wait_for_selector("#result_list")
        return page

    def measure_change_list(self, page) -> dict[str, float]:
        return page.evaluate(
            """() => {
              const title = document.querySelector('#result_list th.field-title');
              const rows = [...document.querySelectorAll('#result_list tbody tr')];
              const line = parseFloat(getComputedStyle(title).lineHeight) || 20;
              return {
                title: title.getBoundingClientRect().width,
                tallest: Math.max(...rows.map(row => row.getBoundingClientRect().height)),
                line: line,
                rows: rows.length,
              };
            }"""
        )

    def measure_change_form(self, page) -> dict[str, float]:
        return page.evaluate(
            """() => {
              const box = el => el.getBoundingClientRect();
              const title = document.querySelector('#id_title');
              const body = document.querySelector('#id_body');
              return {
                title: box(title).width,
                titleRow: box(title.closest('.form-row')).width,
                body: box(body).width,
                bodyRow: box(body.closest('.form-row')).width,
                bodyHeight: box(body).height,
                bodyFont: getComputedStyle(body).fontFamily,
              };
            }"""
        )

    def test_an_editor_fixes_a_notice_on_a_desktop(self) -> None:
        page = self.log_in(1280)
        self.assertEqual(page.locator("#site-name").inner_text(), "公告栏 管理")
        sizes = self.measure_change_list(page)
        self.screenshot(page, "admin-changelist-1280")
        self.assertEqual(sizes["rows"], 20)
        self.assertGreaterEqual(sizes["title"], MIN_TITLE_COLUMN_PX, sizes)
        # One line of text, or two for the longest title, plus the cell's padding.
        self.assertLessEqual(sizes["tallest"], 2 * sizes["line"] + 20, sizes)

        page.get_by_role("link", name=LONG_TITLE).click()
        page.wait_for_selector("#id_body")
        sizes = self.measure_change_form(page)
        self.screenshot(page, "admin-changeform-1280")
        self.assertGreaterEqual(sizes["title"], 0.9 * sizes["titleRow"], sizes)
        self.assertGreaterEqual(sizes["body"], 0.9 * sizes["bodyRow"], sizes)
        self.assertGreaterEqual(sizes["bodyHeight"], 500, sizes)
        self.assertIn("monospace", sizes["bodyFont"])
        help_text = page.locator(".field-categories").inner_text()
        self.assertIn("选中要选择的分类", help_text)
        self.assertNotIn("Choose", help_text)

        # Suggestions from existing tags for the name being typed after a Chinese comma.
        page.fill("#id_tags", "")
        page.locator("#id_tags").press_sequentially("招生，通知")
        page.locator("#id_tags-suggestions option").first.wait_for(state="attached")
        options = page.locator("#id_tags-suggestions option").evaluate_all(
            "options => options.map(option => option.value)"
        )
        self.assertEqual(options, ["招生，通知公告"])

        page.fill("#id_title", "关于2024年推免预报名工作的通知（更正）")
        page.fill(
            "#id_body", "各学院：\n\n报名时间改为**9月22日**至9月27日。<script>alert(1)</script>\n"
        )
        page.fill("#id_tags", "研究生，招生、推免")
        page.locator("input[name=_preview]").click()
        preview = page.locator(".notice-preview")
        self.assertIn("9月22日", preview.locator("strong").inner_text())
        self.assertEqual(preview.locator("script").count(), 0)
        self.assertIn("这只是预览", page.locator(".messagelist").inner_text())
        self.assertIn(
            "将保存以下 3 个标签：“招生”、“推免”、“研究生”",
            page.locator(".field-tags .errorlist").inner_text(),
        )
        self.notice.refresh_from_db()
        self.assertEqual(self.notice.title, LONG_TITLE)  # a preview saves nothing
        self.screenshot(page, "admin-preview-1280")

        # The tags were shown: saving again saves them, split.
        page.locator("input[name=_continue]").click()
        page.wait_for_selector(".messagelist .success")
        self.notice.refresh_from_db()
        self.assertEqual(self.notice.title, "关于2024年推免预报名工作的通知（更正）")
        self.assertEqual(sorted(self.notice.tags.names()), sorted(["研究生", "招生", "推免"]))
        self.assertIn("<strong>9月22日</strong>", self.notice.body_html)
        self.assertEqual(self.notice.date.astimezone(SHANGHAI).second, 15)  # seconds kept
        self.assertEqual(page.locator("#id_tags").input_value(), "招生, 推免, 研究生")
        self.assertIn("9月22日", page.locator(".notice-preview").inner_text())

    def test_the_admin_fits_a_phone(self) -> None:
        page = self.log_in(375)
        self.assert_fits_width(page)
        self.screenshot(page, "admin-changelist-375")
        page.goto(self.live_server_url + f"/admin/notices/notice/{self.notice.id}/change/")
        page.wait_for_selector("#id_body")
        self.assert_fits_width(page)
        sizes = self.measure_change_form(page)
        self.assertGreaterEqual(sizes["title"], 0.9 * sizes["titleRow"], sizes)
        self.assertGreaterEqual(sizes["bodyHeight"], 400, sizes)
        self.screenshot(page, "admin-changeform-375")
