"""The editor's path in a real browser (issue 10): log in, open a notice, edit its title, body
and tags typed with Chinese commas, preview, save, see the tags split; then, for a notice
imported from a real (temporary) archive folder: see its state (已在此编辑) in the change list and
filter by it, see the difference from its file, write it back with the list's action, re-import
("unchanged"), and restore its imported version from its history page.

It measures what made the admin hard to work in: the change list's title column and row
height at 1280 px, the title box's and body box's size, and nothing wider than a 375 px phone;
the diff's lines wrap inside its box (no sideways scrolling, no empty lines between them) and
removed and added lines are coloured, dark in dark mode.
Screenshots go to test-artifacts/admin-*.png.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path
from unittest import skipUnless

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from notices.importing import import_archive
from notices.models import Notice
from tests import test_browser
from tests.helpers import SHANGHAI, make_notice, write_document

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
class AdminBrowserTestCase(test_browser.ChromiumTestCase):
    """Chromium, a logged-in editor and the measurements; the tests are below."""

    # Any free port (the readers' browser test keeps its own); 127.0.0.1 only.

    def setUp(self) -> None:
        User.objects.create_superuser("editor", "editor@example.org", PASSWORD)

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


@skipUnless(
    test_browser.CHROMIUM.exists(),
    "browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)",
)
class AdminBrowserTests(AdminBrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
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


# The archive notice of the write-back path: a title long enough that the diff's title lines are
# wider than a phone, and a long unbroken URL in the body.
ARCHIVED_TITLE = (
    "关于2025年春季学期本科生转专业（含大类分流后二次选择）报名与资格审核工作安排的通知"
)
EDITED_TITLE = "关于2025年春季学期本科生转专业报名与资格审核工作安排的通知（更正）"
ARCHIVED_BODY = (
    "各学院、各有关单位：\n\n"
    "申请材料请从教务处网站下载："
    "https://jwc.beiling.edu.cn/download/2025/spring/transfer/application-form-and-checklist-v3.docx"
    "，填写后交学院教学办公室。\n\n"
    "北岭师范大学教务处\n"
)


@skipUnless(
    test_browser.CHROMIUM.exists(),
    "browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)",
)
class AdminArchiveBrowserTests(AdminBrowserTestCase):
    """A notice with a real file: state, filter, diff, write-back, re-import, restore."""

    def setUp(self) -> None:
        super().setUp()
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.root = Path(self._tmp.name).resolve() / "archive"
        self.root.mkdir()
        settings_override = override_settings(NOTICES_ARCHIVE_DIR=self.root)
        settings_override.enable()
        self.addCleanup(settings_override.disable)
        self.path = write_document(
            self.root,
            "beiling.edu.cn/2025/transfer.md",
            title=f"北岭师范大学->{ARCHIVED_TITLE} | beiling.edu.cn",
            date="2025-02-20 10:00:00",
            urlname="b7e1c0d2a3f4e5d6c7b8a9f0e1d2c3b4",
            tags=["北岭师范大学", "转专业"],
            categories=["beiling.edu.cn", "北岭师范大学"],
            body=ARCHIVED_BODY,
            source_url="https://jwc.beiling.edu.cn/info/1011/2025.htm",
        )
        write_document(
            self.root,
            "beiling.edu.cn/2025/library.md",
            title="北岭师范大学->关于图书馆寒假开放时间的通知 | beiling.edu.cn",
            date="2025-01-10 08:00:00",
            urlname="c8f2d1e3b4a5f6e7d8c9b0a1f2e3d4c5",
            tags=["北岭师范大学"],
            categories=["beiling.edu.cn", "北岭师范大学"],
            source_url="https://lib.beiling.edu.cn/info/1002/2025.htm",
        )
        report = import_archive([self.root])
        self.assertEqual((report.created, report.failed), (2, 0), report.errors)
        self.notice = Notice.objects.get(source_path="beiling.edu.cn/2025/transfer.md")
        self.other = Notice.objects.get(source_path="beiling.edu.cn/2025/library.md")

    def state_of(self, page, title: str) -> str:
        row = page.locator("#result_list tbody tr", has=page.get_by_role("link", name=title))
        return row.locator("td.field-sync_state").inner_text().strip()

    def listed_titles(self, page) -> list[str]:
        return page.locator("#result_list tbody th.field-title").all_inner_texts()

    def assert_diff_fits(self, page) -> None:
        sizes = page.evaluate(
            """() => {
              const diff = document.querySelector('.file-diff');
              const box = diff.getBoundingClientRect();
              return {left: box.left, right: box.right, width: window.innerWidth,
                      scroll: diff.scrollWidth, client: diff.clientWidth,
                      wrap: getComputedStyle(diff).whiteSpace,
                      // The lines' own heights against the box's: no empty lines between.
                      lines: [...diff.children].reduce(
                        (sum, line) => sum + line.getBoundingClientRect().height, 0),
                      inner: diff.scrollHeight - parseFloat(getComputedStyle(diff).paddingTop)
                        - parseFloat(getComputedStyle(diff).paddingBottom),
                      line: parseFloat(getComputedStyle(diff).lineHeight)};
            }"""
        )
        self.assertGreaterEqual(sizes["left"], 0, sizes)
        self.assertLessEqual(sizes["right"], sizes["width"], sizes)
        # Long lines wrap inside the box instead of scrolling it sideways.
        self.assertLessEqual(sizes["scroll"], sizes["client"] + 1, sizes)
        self.assertLess(sizes["inner"] - sizes["lines"], sizes["line"], sizes)

    def assert_title_diff(self, page, old: str, new: str) -> None:
        diff = page.locator(".file-diff")
        removed = [t for t in diff.locator(".diff-del").all_inner_texts() if t.startswith("-")]
        added = [t for t in diff.locator(".diff-add").all_inner_texts() if t.startswith("+")]
        self.assertEqual(removed, [f"-title: 北岭师范大学->{old} | beiling.edu.cn"])
        self.assertEqual(added, [f"+title: 北岭师范大学->{new} | beiling.edu.cn"])
        # Removed and added lines are told apart by colour, not only by their - and +.
        colours = page.evaluate(
            """() => ['.diff-del', '.diff-add', '.diff-context'].map(selector =>
                 getComputedStyle(document.querySelector('.file-diff ' + selector))
                   .backgroundColor)"""
        )
        self.assertEqual(len(set(colours)), 3, colours)
        return colours

    def test_an_edit_goes_back_to_its_file_and_an_old_version_comes_back(self) -> None:
        before = self.path.read_text(encoding="utf-8")
        page = self.log_in(1280)
        changelist = self.live_server_url + "/admin/notices/notice/"
        self.assertEqual(self.state_of(page, ARCHIVED_TITLE), "与文件一致")
        page.goto(changelist + f"{self.notice.id}/change/")
        page.wait_for_selector("#id_title")
        self.assertIn("与文件相同", page.locator(".field-file_diff").inner_text())

        page.fill("#id_title", EDITED_TITLE)
        page.locator("input[name=_continue]").click()
        page.wait_for_selector(".messagelist .success")
        self.notice.refresh_from_db()
        self.assertEqual(self.notice.title, EDITED_TITLE)

        # The change page shows the difference from the file: the title line, and only it.
        block = page.locator("fieldset", has=page.locator(".file-diff"))
        self.assertIn("与文件的差异", block.inner_text())
        self.assert_title_diff(page, ARCHIVED_TITLE, EDITED_TITLE)
        self.assert_diff_fits(page)
        self.screenshot(page, "admin-diff-1280")
        page.locator("fieldset", has=page.locator(".file-diff")).screenshot(
            path=str(test_browser.ARTIFACTS / "admin-diff-1280-block.png")
        )

        # The change list shows the state, and filters by it.
        page.goto(changelist)
        self.assertEqual(self.state_of(page, EDITED_TITLE), "已在此编辑")
        self.assertEqual(self.state_of(page, self.other.title), "与文件一致")
        self.screenshot(page, "admin-state-1280")
        page.locator("#changelist-filter").get_by_role("link", name="已在此编辑").click()
        page.wait_for_url(re.compile(r"[?&]sync=edited"))
        self.assertEqual(self.listed_titles(page), [EDITED_TITLE])
        page.goto(changelist + "?sync=in_sync")
        self.assertEqual(self.listed_titles(page), [self.other.title])

        # Written back with the list's action: the file has the new title, nothing else changed.
        page.goto(changelist)
        page.locator(f"input.action-select[value='{self.notice.id}']").check()
        page.select_option("select[name=action]", "write_back_action")
        page.locator("button[name=index]").click()
        success = page.locator(".messagelist .success")
        self.assertIn("已写回归档：新建 0 个文件，更新 1 个", success.inner_text())
        after = self.path.read_text(encoding="utf-8")
        changed = [
            (old, new)
            for old, new in zip(before.splitlines(), after.splitlines(), strict=True)
            if old != new
        ]
        self.assertEqual(
            changed,
            [
                (
                    f"title: 北岭师范大学->{ARCHIVED_TITLE} | beiling.edu.cn",
                    f"title: 北岭师范大学->{EDITED_TITLE} | beiling.edu.cn",
                )
            ],
        )
        self.assertEqual(self.state_of(page, EDITED_TITLE), "与文件一致")

        # The next import finds nothing new, and the notice is still in sync.
        report = import_archive([self.root])
        self.assertEqual((report.unchanged, report.updated, report.conflicts), (2, 0, 0))
        page.reload()
        self.assertEqual(self.state_of(page, EDITED_TITLE), "与文件一致")
        page.goto(changelist + "?sync=edited")
        self.assertEqual(self.listed_titles(page), [])

        # History: the imported version restored.
        page.goto(changelist + f"{self.notice.id}/change/")
        self.assertIn("与文件相同", page.locator(".field-file_diff").inner_text())
        page.locator("a.historylink").click()
        page.wait_for_selector("#change-history")
        self.screenshot(page, "admin-history-1280")
        imported = page.locator("#change-history tbody tr", has_text="import beiling.edu.cn")
        self.assertEqual(imported.count(), 1, page.locator("#change-history").inner_text())
        imported.locator("td").first.locator("a").click()
        page.wait_for_selector("#id_title")
        self.assertEqual(page.locator("#id_title").input_value(), ARCHIVED_TITLE)
        page.locator("input[name=_save]").click()
        page.wait_for_selector(".messagelist .success")
        self.notice.refresh_from_db()
        self.assertEqual(self.notice.title, ARCHIVED_TITLE)
        self.assertTrue(self.notice.was_edited_since_import)
        page.goto(changelist)
        self.assertEqual(self.state_of(page, ARCHIVED_TITLE), "已在此编辑")
        page.goto(changelist + f"{self.notice.id}/change/")
        self.assert_title_diff(page, EDITED_TITLE, ARCHIVED_TITLE)

    def test_the_state_diff_and_history_fit_a_phone(self) -> None:
        self.notice.title = EDITED_TITLE
        self.notice.render()
        self.notice.mark_edited()
        self.notice.save()
        page = self.log_in(375)
        self.assert_fits_width(page)
        self.assertEqual(self.state_of(page, EDITED_TITLE), "已在此编辑")
        self.screenshot(page, "admin-state-375")
        page.goto(self.live_server_url + f"/admin/notices/notice/{self.notice.id}/change/")
        page.wait_for_selector(".file-diff")
        self.assert_fits_width(page)
        self.assert_diff_fits(page)
        self.assert_title_diff(page, ARCHIVED_TITLE, EDITED_TITLE)
        self.screenshot(page, "admin-diff-375")
        page.locator("fieldset", has=page.locator(".file-diff")).screenshot(
            path=str(test_browser.ARTIFACTS / "admin-diff-375-block.png")
        )
        # In dark mode the coloured lines are dark too (light text on a pale green is unreadable).
        page.emulate_media(color_scheme="dark")
        colours = self.assert_title_diff(page, ARCHIVED_TITLE, EDITED_TITLE)
        for colour in colours[:2]:
            red, green, blue = (int(n) for n in re.findall(r"\d+", colour)[:3])
            self.assertLess(0.299 * red + 0.587 * green + 0.114 * blue, 100, colours)
        self.screenshot(page, "admin-diff-375-dark")
        page.locator("fieldset", has=page.locator(".file-diff")).screenshot(
            path=str(test_browser.ARTIFACTS / "admin-diff-375-dark-block.png")
        )
        page.emulate_media(color_scheme="light")
        page.locator("a.historylink").click()
        page.wait_for_selector("#change-history")
        self.assert_fits_width(page)
        self.screenshot(page, "admin-history-375")
