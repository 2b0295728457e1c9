"""Issue 15, part 3, in Chromium at 1280 and 375 px: the deadline banner under a notice's title
and the items of 即将截止 stay inside the screen, keep a readable size and break as whole
phrases. Screenshots: test-artifacts/deadline-{notice,list}-{1280,375}.png."""

from __future__ import annotations

import datetime as dt
from unittest import skipUnless

import pytest

from tests.helpers import make_notice
from tests.test_browser import CHROMIUM, ChromiumTestCase
from tests.test_deadlines import today_is

LONG_TITLE = "关于做好2021年度研究生国家奖学金、学业奖学金及各类专项奖助学金评审推荐工作的通知"

MEASURE = """selector => [...document.querySelectorAll(selector)].map(el => {
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
  const inner = el.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
  return {left: box.left, right: box.right, width: box.width, height: box.height,
          fontSize: parseFloat(style.fontSize), lines: Math.round(inner / line),
          text: el.textContent.trim()};
})"""


def check_boxes(
    case: ChromiumTestCase,
    page,
    selector: str,
    width: int,
    *,
    min_font: float = 14,
    max_lines: int | None = None,
) -> list[dict]:
    """The boxes of `selector` on a page that fits `width`: each inside the screen, at a
    readable size (on a phone), on at most `max_lines` lines (not a word per line)."""
    case.assert_fits_width(page)
    boxes = page.evaluate(MEASURE, selector)
    case.assertTrue(boxes, selector)
    for box in boxes:
        case.assertGreaterEqual(box["left"], 0, box)
        case.assertLessEqual(box["right"], width, box)
        case.assertGreaterEqual(box["fontSize"], min_font, box)
        if max_lines is not None:
            case.assertLessEqual(box["lines"], max_lines, box)
    return boxes


@pytest.mark.browser
@skipUnless(CHROMIUM.exists(), "browser tests need Debian's Chromium at /usr/bin/chromium")
class DeadlineBrowserTests(ChromiumTestCase):
    port = 0

    def setUp(self) -> None:
        self.notice = make_notice(
            urlname="scholarship",
            title=LONG_TITLE,
            body="各学院：\n\n## 一、时间安排\n\n报名时间：1月18日至1月29日，逾期不予受理。\n\n"
            "请各学院于1月29日前将推荐名单报送研究生院。\n",
        )
        for index, body in enumerate(["报名截止：1月20日。", "请于2月3日前提交申请表。",
                                      "征稿时间：即日起至3月31日。"]):  # fmt: skip
            make_notice(urlname=f"other-{index}", title=f"{LONG_TITLE[:20]}（第{index + 2}批）",
                        body=body)  # fmt: skip

    def check(self, page, selector: str, width: int) -> list[dict]:
        return check_boxes(self, page, selector, width, max_lines=2)

    def test_the_banner_and_list_fit_both_widths(self) -> None:
        with today_is(dt.date(2021, 1, 19)):
            for width in (1280, 375):
                with self.subTest(width=width):
                    _context, page = self.open_page(width)
                    page.goto(self.live_server_url + self.notice.get_absolute_url())
                    (banner,) = self.check(page, ".deadline-banner", width)
                    self.assertEqual(banner["text"], "报名截止：2021年1月29日，还剩 10 天")
                    # Under the title, above the body: seen on the first screen.
                    title = page.locator("h1.notice-title").bounding_box()
                    box = page.locator(".deadline-banner").bounding_box()
                    self.assertGreater(box["y"], title["y"])
                    self.assertLess(box["y"] + box["height"], 900)
                    self.screenshot(page, f"deadline-notice-{width}")

                    page.goto(self.live_server_url + "/deadlines/")
                    items = self.check(page, ".notice-item .deadline", width)
                    expected = [
                        "报名截止：2021年1月20日，还剩 1 天",
                        "报名截止：2021年1月29日，还剩 10 天",
                        "提交截止：2021年2月3日，还剩 15 天",
                        "提交截止：2021年3月31日，还剩 71 天",
                    ]
                    self.assertEqual([item["text"] for item in items], expected)
                    self.screenshot(page, f"deadline-list-{width}")

    def test_english_fits_too(self) -> None:
        with today_is(dt.date(2021, 1, 19)):
            for width in (1280, 375):
                with self.subTest(width=width):
                    context, page = self.open_page(width)
                    context.add_cookies([{"name": "django_language", "value": "en",
                                          "url": self.live_server_url}])  # fmt: skip
                    page.goto(self.live_server_url + self.notice.get_absolute_url())
                    (banner,) = self.check(page, ".deadline-banner", width)
                    self.assertEqual(
                        banner["text"], "Registration closes: Jan. 29, 2021, 10 days left"
                    )
                    page.goto(self.live_server_url + "/deadlines/")
                    self.check(page, ".notice-item .deadline", width)
                    # Every section of the header menu on the screen, none scrolled out of it.
                    hidden = page.evaluate(
                        "[...document.querySelectorAll('.site-nav a')]"
                        ".filter(a => a.getBoundingClientRect().right > innerWidth)"
                        ".map(a => a.textContent)"
                    )
                    self.assertEqual(hidden, [])
                    self.screenshot(page, f"deadline-list-{width}-en")
