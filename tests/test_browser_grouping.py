"""Issue 15, part 1, in Chromium at 1280 and 375 px: a notice's 也发布于 block and a list's
"N 个来源" stay inside the screen at a readable size, each source's row on a line or two.
A list shows the group once and says so, with the switch to every copy (?all=1).
Screenshots: test-artifacts/groups-{notice,list,list-all}-{1280,375}.png."""

from __future__ import annotations

import datetime as dt
from unittest import skipUnless

import pytest

from tests.helpers import make_notice
from tests.test_browser import CHROMIUM, ChromiumTestCase
from tests.test_browser_deadlines import check_boxes
from tests.test_grouping import ORIGINAL, REPUBLISHED

# Long site names and addresses: what would push a row past a phone's screen.
SITES = ("青岚大学", "青岚市教育局高等教育与职业教育处信息公开网", "滨江日报客户端")


@pytest.mark.browser
@skipUnless(CHROMIUM.exists(), "browser tests need Debian's Chromium at /usr/bin/chromium")
class GroupBrowserTests(ChromiumTestCase):
    port = 0

    def setUp(self) -> None:
        self.notices = [
            make_notice(
                urlname=f"fire-{n}",
                title="关于开展2024年冬季校园消防安全检查工作的通知",
                site=site,
                body=ORIGINAL if n == 0 else REPUBLISHED,
                date=dt.datetime(2024, 12, 2 + n, 9, tzinfo=dt.UTC),
                source_url=f"https://www.example{n}.cn/" + "xinwen/2024/1202/" * 4 + "a.html",
            )
            for n, site in enumerate(SITES)
        ]

    def check(self, page, selector: str, width: int) -> list[dict]:
        return check_boxes(self, page, selector, width, min_font=13)

    def test_also_published_and_source_counts_fit_both_widths(self) -> None:
        for width in (1280, 375):
            with self.subTest(width=width):
                _context, page = self.open_page(width)
                page.goto(self.live_server_url + self.notices[0].get_absolute_url())
                (title,) = self.check(page, ".other-copies-title", width)
                self.assertEqual(title["text"].split(), ["也发布于", "2"])
                rows = self.check(page, ".other-copy", width)
                self.assertEqual(len(rows), 2)
                for row in rows:
                    # The long site name may take two lines on a phone, the date and 查看原文 one
                    # more: never a word per line.
                    self.assertLessEqual(row["height"], 4 * 30, row)
                    self.assertIn("查看原文", row["text"])
                self.check(page, ".other-copy-site", width)
                page.locator(".other-copies").scroll_into_view_if_needed()
                self.screenshot(page, f"groups-notice-{width}")

                # The list: the group is one entry, and the page says it folded two copies.
                page.goto(self.live_server_url + "/")
                (count,) = self.check(page, ".meta .group-size", width)
                self.assertEqual((count["text"], count["lines"]), ("3 个来源", 1))
                (folded,) = self.check(page, ".folded-copies", width)
                self.assertIn("另有 2 条其他来源的副本", folded["text"])
                self.assertLessEqual(folded["lines"], 2 if width < 500 else 1, folded)
                (switch,) = self.check(page, ".folded-copies a", width)
                self.assertGreaterEqual(switch["height"], 24, switch)  # a tap target on a phone
                self.screenshot(page, f"groups-list-{width}")

                page.click(".folded-copies a")  # every copy, each saying 3 个来源
                page.wait_for_url("**/?all=1")
                counts = self.check(page, ".meta .group-size", width)
                self.assertEqual([c["text"] for c in counts], ["3 个来源"] * 3)
                for count in counts:
                    self.assertEqual(count["lines"], 1, count)  # "3 个来源" never breaks
                self.screenshot(page, f"groups-list-all-{width}")
