"""Issue 12: the readers' layout on every page type, at 1280 and 375 px, in Chinese and English.

Measured in Chromium's DOM, not by eye: controls keep a usable width, no label or link breaks
after every character or two (the search page's button read 搜/索), nothing scrolls sideways;
phones reach the facets from the top of every list; tables scroll inside their box; a list
shows five notices on a 900 px screen. Screenshots: test-artifacts/<page>-<width>[-en].png.
"""

from __future__ import annotations

from unittest import skipUnless

import pytest
from django.test import TestCase
from django.urls import reverse

from notices.models import Category, Notice
from tests.test_browser import ARTIFACTS, CHROMIUM, ChromiumTestCase
from tests.test_views_reading import add_notice, build_reading_archive, when

GRADUATE = ("blgc.edu.cn", "北岭工程大学", "研究生院")
MISSING_IMAGE = "https://img.blgc.example/campus-map.png"
# Scraped pages often leave an image's file name as its alt text: one long unbreakable word.
MISSING_PHOTO = "https://img.blgc.example/photo.jpeg"
PHOTO_ALT = "46393220_2312772722070595_5941123252901380096_n_campus_photo.jpeg"
NAMES = ["韩怡", "李明远", "王芳", "欧阳明月", "张伟", "陈静"]
REMARK = "复试时请携带本人身份证原件、学生证及相关证明材料，按时到达指定考场。"


def long_notice_body() -> str:
    rows = "\n".join(
        f"| {number} | {name} | 计算机科学与技术 | 学术学位 | 420 | {REMARK} |"
        for number, name in enumerate(NAMES, start=1)
    )
    section = "复试采取差额形式，差额比例一般不低于120%。考生应认真阅读本通知的各项要求。" * 6
    return (
        "各学院、各位考生：\n\n"
        "根据教育部有关文件精神，结合我校实际，现将2023年硕士研究生复试工作安排通知如下。\n\n"
        f"![校园地图]({MISSING_IMAGE})\n\n"
        f"![{PHOTO_ALT}]({MISSING_PHOTO})\n\n"
        f"## 一、复试时间\n\n{section}\n\n"
        "## 二、复试名单\n\n"
        f"| 序号 | 姓名 | 专业 | 类别 | 初试成绩 | 备注 |\n|---|---|---|---|---|---|\n{rows}\n\n"
        f"### （一）学术学位\n\n{section}\n\n"
        f"### （二）专业学位\n\n{section}\n\n"
        f"## 三、注意事项\n\n{section}\n\n{section}\n"
    )


def build_layout_archive() -> Notice:
    """The reading archive, a long notice (headings, a table of names, a broken image) and
    five lectures whose excerpts run to four lines; returns the long notice."""
    build_reading_archive()
    for day in range(1, 6):
        add_notice(
            f"lecture-{day}", f"关于举办第{day}期研究生学术讲座的通知", when(2023, 2, day),
            categories=GRADUATE, site="北岭工程大学", domain="blgc.edu.cn", tags=("讲座",),
            body=f"本次为第{day}期讲座。" + "为活跃校园学术氛围，拓宽研究生学术视野，研究生院"
            "将举办系列学术讲座，欢迎全校师生踊跃参加。" * 5 + "\n",  # 第N期: not copies
        )  # fmt: skip
    return add_notice(
        "retest-2023", "关于2023年硕士研究生复试工作安排的通知", when(2023, 3, 20),
        categories=GRADUATE, site="北岭工程大学", domain="blgc.edu.cn",
        tags=("研究生", "复试", "通知"), body=long_notice_body(),
    )  # fmt: skip


def page_types(notice: Notice) -> dict[str, str]:
    category = Category.objects.get(name="研究生院")
    return {
        "home": "/",
        "category-index": reverse("notices:categories"),
        "category-page": category.get_absolute_url(),
        "tag-index": reverse("notices:tags"),
        "tag-page": reverse("notices:tag", args=["通知"]),
        "site-index": reverse("notices:sites"),
        "site-page": reverse("notices:site", args=["北岭工程大学"]),
        "archive-index": reverse("notices:archive"),
        "archive-year": reverse("notices:archive-year", args=[2023]),
        "archive-month-page": reverse("notices:archive-month", args=[2023, 3]),
        "notice-page": notice.get_absolute_url(),
        "search-results": reverse("notices:search") + "?q=通知",
        "search-no-results": reverse("notices:search") + "?q=没有这个词语",
        "search-empty": reverse("notices:search"),
        "facet-values": reverse("notices:facet", args=["tags"]) + "?year=2023",
        "not-found": "/categories/no-such-thing/",
    }


LIST_PAGES = [
    "home", "category-page", "tag-page", "site-page", "archive-year", "archive-month-page",
    "search-results",
]  # fmt: skip

# Every visible control narrower than it can be used, and every short label, chip or link whose
# text breaks after one or two characters a line (lines found from each character's box).
MEASURE_CONTROLS = """() => {
  const problems = [];
  const shown = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 1 && box.height > 1 && !el.closest('.visually-hidden')
      && getComputedStyle(el).visibility !== 'hidden';
  };
  const name = (el) => el.outerHTML.slice(0, 140);
  const texty = 'textarea, input:not([type]), input[type=text], input[type=search], '
    + 'input[type=date], input[type=email], input[type=url], input[type=number]';
  for (const el of document.querySelectorAll(
      'input:not([type=hidden]), select, button, textarea')) {
    if (!shown(el)) continue;
    const width = el.getBoundingClientRect().width, least = el.matches(texty) ? 120 : 44;
    if (width < least) problems.push(`${Math.round(width)}px wide, under ${least}: ${name(el)}`);
  }
  const lines = (el) => {
    const boxes = [], walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.length; i++) {
        if (!node.data[i].trim()) continue;
        range.setStart(node, i); range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        if (rect && rect.width > 0) boxes.push(rect);
      }
    }
    boxes.sort((a, b) => a.top - b.top);
    let count = 0, bottom = -Infinity;
    for (const rect of boxes) {
      if (rect.top >= bottom - 2) { count += 1; bottom = rect.bottom; }
      else bottom = Math.max(bottom, rect.bottom);
    }
    return [count, boxes.length];
  };
  for (const el of document.querySelectorAll(
      'button, label, summary, legend, a, .chip, .count, .notice-body th, .notice-body td')) {
    const text = el.textContent.replace(/\\s+/g, '');
    if (text.length < 2 || text.length > 60 || !shown(el)) continue;
    const [count, chars] = lines(el);
    if (count > 1 && (chars / count < 3 || chars <= 4)) {
      problems.push(`${chars} characters on ${count} lines: ${name(el)}`);
    }
  }
  return problems;
}"""


@pytest.mark.browser
@skipUnless(CHROMIUM.exists(), "browser tests need Debian's Chromium at /usr/bin/chromium")
class LayoutBrowserTests(ChromiumTestCase):
    port = 0
    maxDiff = None

    def setUp(self) -> None:
        self.notice = build_layout_archive()

    def open(self, width: int, *, english: bool = False, **options):
        context, page = self.open_page(width, **options)
        if english:
            context.add_cookies(
                [{"name": "django_language", "value": "en", "url": self.live_server_url}]
            )
        return context, page

    def test_every_page_type_keeps_its_controls_usable_at_both_widths_and_languages(self) -> None:
        for english in (False, True):
            for width in (1280, 375):
                _context, page = self.open(width, english=english)
                for name, path in page_types(self.notice).items():
                    with self.subTest(page=name, width=width, english=english):
                        response = page.goto(self.live_server_url + path)
                        self.assertEqual(response.status, 404 if name == "not-found" else 200)
                        self.assertEqual(
                            page.locator("html").get_attribute("lang"),
                            "en" if english else "zh-Hans",
                        )
                        self.assert_fits_width(page)
                        self.assertEqual(page.evaluate(MEASURE_CONTROLS), [])
                        self.screenshot(page, f"{name}-{width}{'-en' if english else ''}")

    def test_the_search_box_and_button_keep_their_size(self) -> None:
        for width in (1280, 375):
            _context, page = self.open(width)
            page.goto(self.live_server_url + "/search/?q=通知")
            box = page.locator("#search-page-q").bounding_box()
            button = page.locator(".search-page-form button")
            since = page.locator("#search-since").bounding_box()
            with self.subTest(width=width):
                self.assertGreaterEqual(box["width"], 192 if width > 500 else 0.5 * width)
                self.assertEqual(button.inner_text(), "搜索")
                self.assertLess(button.bounding_box()["height"], 2 * box["height"])
                self.assertGreater(since["y"], box["y"] + box["height"] - 1)  # own row

    def test_a_phone_reaches_the_facets_from_the_top_of_every_list(self) -> None:
        for javascript in (True, False):
            _context, page = self.open(375, java_script_enabled=javascript)
            for name in LIST_PAGES:
                with self.subTest(page=name, javascript=javascript):
                    page.goto(self.live_server_url + page_types(self.notice)[name])
                    summary = page.locator("details.filter-panel > summary")
                    self.assertTrue(summary.is_visible())
                    self.assertTrue(summary.inner_text().startswith("筛选"))
                    first = page.locator(".notice-item").first.bounding_box()
                    self.assertLess(summary.bounding_box()["y"], first["y"])
                    self.assertLess(summary.bounding_box()["y"], 900)  # on the first screen
                    facet_link = page.locator(".facets .facet a").first
                    self.assertFalse(facet_link.is_visible())
                    summary.click()  # one tap
                    self.assertTrue(facet_link.is_visible())
                    if name == "home":
                        page.screenshot(
                            path=str(
                                ARTIFACTS / f"filters-open-375{'' if javascript else '-nojs'}.png"
                            )
                        )

    def test_the_filter_count_is_in_the_panel_toggle(self) -> None:
        _context, page = self.open(375)
        page.goto(self.live_server_url + "/?tag=通知&year=2023")
        self.assertEqual(
            page.locator(".filter-panel > summary").inner_text().split(), ["筛选", "2"]
        )

    def test_facets_are_a_sidebar_on_a_wide_screen_with_and_without_javascript(self) -> None:
        for javascript in (True, False):
            _context, page = self.open(1280, java_script_enabled=javascript)
            page.goto(self.live_server_url + "/")
            with self.subTest(javascript=javascript):
                facet_link = page.locator(".facets .facet a").first
                self.assertTrue(facet_link.is_visible())
                items = page.locator(".notice-items").bounding_box()
                facets = page.locator(".facets").bounding_box()
                self.assertGreater(facets["x"], items["x"] + items["width"])
                self.assertLess(facets["y"], items["y"] + 100)  # beside the list, not under it
                self.assertFalse(page.locator(".filter-panel > summary").is_visible())

    def test_five_notices_fit_a_desktop_screen_with_two_line_excerpts(self) -> None:
        _context, page = self.open(1280)
        # The tag page of the lectures: five notices, each with an excerpt of several lines.
        page.goto(self.live_server_url + reverse("notices:tag", args=["讲座"]))
        items = page.locator(".notice-item")
        self.assertEqual(items.count(), 5)
        fully_shown = [
            box for box in (items.nth(i).bounding_box() for i in range(items.count()))
            if box["y"] + box["height"] <= 900
        ]  # fmt: skip
        self.assertGreaterEqual(len(fully_shown), 5)
        for i in range(items.count()):
            summary = items.nth(i).locator(".summary")
            meta = items.nth(i).locator(".meta")
            line = page.evaluate(
                "el => parseFloat(getComputedStyle(el).lineHeight)", summary.element_handle()
            )
            self.assertLessEqual(summary.bounding_box()["height"], 2 * line + 1)
            meta_line = page.evaluate(
                "el => parseFloat(getComputedStyle(el).lineHeight)", meta.element_handle()
            )
            self.assertLess(meta.bounding_box()["height"], 1.5 * meta_line)  # site and date
        # The lecture excerpts are longer than two lines: clamped, with the text still there.
        lecture = items.first.locator(".summary")
        self.assertGreater(
            lecture.evaluate("el => el.scrollHeight"), lecture.bounding_box()["height"] + 5
        )

    def test_a_table_of_names_scrolls_in_its_box_on_a_phone(self) -> None:
        _context, page = self.open(375)
        page.goto(self.live_server_url + self.notice.get_absolute_url())
        self.assert_fits_width(page)
        box = page.locator(".notice-body .table-scroll")
        self.assertGreater(box.evaluate("el => el.scrollWidth - el.clientWidth"), 0)
        table = box.locator("table")
        for name in ["序号", "姓名", *NAMES]:
            cell = table.locator("th, td", has_text=name).first
            height = cell.evaluate(
                "el => { const r = document.createRange(); r.selectNodeContents(el);"
                " return r.getBoundingClientRect().height"
                " / parseFloat(getComputedStyle(el).lineHeight); }"
            )
            self.assertLess(height, 1.5, name)  # one line
        box.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "notice-table-375.png"))  # the screen, not the page
        box.evaluate("el => el.scrollLeft = el.scrollWidth")
        self.assertGreater(box.evaluate("el => el.scrollLeft"), 0)

    def test_a_long_notice_has_contents_and_a_way_back_up(self) -> None:
        _context, page = self.open(1280)
        page.goto(self.live_server_url + self.notice.get_absolute_url())
        entries = page.locator(".toc li a")
        self.assertEqual(
            entries.all_inner_texts(),
            ["一、复试时间", "二、复试名单", "（一）学术学位", "（二）专业学位", "三、注意事项"],
        )
        entries.nth(4).click()
        heading = page.get_by_role("heading", name="三、注意事项")
        self.assertEqual(
            page.evaluate("decodeURIComponent(location.hash)"), entries.nth(4).get_attribute("href")
        )
        top = heading.bounding_box()["y"]
        self.assertTrue(0 <= top < 100, top)
        page.get_by_role("link", name="回到顶部").click()
        self.assertEqual(page.evaluate("window.scrollY"), 0)
        page.keyboard.press("Tab")  # and the keyboard carries on from the top
        self.assertEqual(page.evaluate("document.activeElement.className"), "site-name")
        # A short notice has neither.
        page.goto(self.live_server_url + "/notices/exam-2022/")
        self.assertEqual(page.locator(".toc").count(), 0)
        self.assertEqual(page.locator(".back-to-top").count(), 0)

    def test_a_broken_remote_image_shows_a_box_with_its_alt_text(self) -> None:
        context, page = self.open(375)
        for address in (MISSING_IMAGE, MISSING_PHOTO):
            context.route(address, lambda route: route.fulfill(status=404, body="gone"))
        page.goto(self.live_server_url + self.notice.get_absolute_url())
        page.locator(".notice-body").scroll_into_view_if_needed()  # the image loads lazily
        box = page.locator(".notice-body .image-missing").first
        box.wait_for()
        self.assertEqual(box.inner_text().strip(), "校园地图")
        size = box.bounding_box()
        self.assertGreaterEqual(size["width"], 100)
        self.assertGreaterEqual(size["height"], 40)
        self.assertNotEqual(box.evaluate("el => getComputedStyle(el).borderTopStyle"), "none")
        # A file name as alt text wraps inside its box instead of widening the page.
        page.locator(".notice-body .image-missing").nth(1).wait_for()
        self.assertIn(PHOTO_ALT, page.locator(".notice-body .image-missing").nth(1).inner_text())
        self.assert_fits_width(page)
        page.screenshot(path=str(ARTIFACTS / "notice-missing-image-375.png"))  # the first screen

    def test_a_neighbour_with_a_long_latin_title_stays_inside_a_phone_screen(self) -> None:
        add_notice(
            "stack-notes", "archlinux+nginx+php-fpm+mysql+pptpd+freeradius+redis+memcached",
            when(2023, 3, 21), site="北岭工程大学", domain="blgc.edu.cn",
        )  # fmt: skip
        _context, page = self.open(375)
        page.goto(self.live_server_url + self.notice.get_absolute_url())
        self.assertIn("freeradius", page.locator(".notice-nav .newer").inner_text())
        self.assert_fits_width(page)

    def test_the_favicon_is_linked_and_served(self) -> None:
        _context, page = self.open(1280)
        page.goto(self.live_server_url + "/")
        icon = page.locator("link[rel=icon]").get_attribute("href")
        self.assertTrue(icon.endswith("favicon.svg"))
        response = page.request.get(self.live_server_url + "/favicon.ico")  # follows the 302
        self.assertEqual(response.status, 200)
        self.assertIn(b"<svg", response.body())
        self.assertEqual(response.headers["content-type"], "image/svg+xml")


class LanguageMenuTests(TestCase):
    def test_each_language_is_named_in_itself_in_both_languages(self) -> None:
        for language in ("zh-hans", "en"):
            self.client.cookies["django_language"] = language
            response = self.client.get("/")
            with self.subTest(language=language):
                self.assertContains(response, ">English</option>")
                self.assertContains(response, ">简体中文</option>")
                self.assertNotContains(response, "英语")


class FaviconTests(TestCase):
    def test_favicon_ico_redirects_to_the_svg_icon(self) -> None:
        response = self.client.get("/favicon.ico")
        self.assertRedirects(response, "/static/favicon.svg", fetch_redirect_response=False)
