"""Issue 12: a notice's table of contents, heading ids and scrolling tables (notices/toc.py)."""

from __future__ import annotations

import time

from django.test import SimpleTestCase, TestCase

from notices.rendering import render_markdown
from notices.toc import LONG_BODY_CHARS, outline
from tests.helpers import attributes, parse_html
from tests.test_views_reading import add_notice, when

THREE_SECTIONS = (
    "## 一、报名时间\n\n正文。\n\n## 二、报名方式\n\n正文。\n\n### （一）线上\n\n正文。\n"
)


class OutlineTests(SimpleTestCase):
    def test_it_lists_h2_to_h4_with_prefixed_ids_and_levels(self) -> None:
        body = outline(render_markdown(THREE_SECTIONS + "\n#### 附件\n\n##### 不列出\n"))
        self.assertEqual(
            [(e.anchor, e.text, e.level) for e in body.entries],
            [
                ("toc-一报名时间", "一、报名时间", 0),
                ("toc-二报名方式", "二、报名方式", 0),
                ("toc-一线上", "（一）线上", 1),
                ("toc-附件", "附件", 2),
            ],
        )
        for entry in body.entries:
            self.assertIn(f'id="{entry.anchor}"', body.html)
        self.assertNotIn("<h5 id=", body.html)

    def test_fewer_than_three_headings_give_no_contents_and_the_body_unchanged(self) -> None:
        html = render_markdown("## 一、时间\n\n正文。\n\n## 二、地点\n\n正文。\n")
        body = outline(html)
        self.assertEqual(body.entries, [])
        self.assertEqual(body.html, html)

    def test_repeated_headings_get_distinct_ids_that_stay_the_same(self) -> None:
        html = render_markdown("## 说明\n\n一\n\n## 说明\n\n二\n\n## 说明\n\n三\n")
        anchors = [entry.anchor for entry in outline(html).entries]
        self.assertEqual(anchors, ["toc-说明", "toc-说明-2", "toc-说明-3"])
        self.assertEqual([e.anchor for e in outline(html).entries], anchors)

    def test_heading_text_is_plain_text_and_markup_in_it_stays_in_the_body(self) -> None:
        html = "<h2>A &amp; B <mark>通知</mark></h2><h2>&lt;script&gt;</h2>"
        html += '<h2><a href="#x">三</a></h2>'
        body = outline(html)
        self.assertEqual([e.text for e in body.entries], ["A & B 通知", "<script>", "三"])
        self.assertIn('<h2 id="toc-a-b-通知">A &amp; B <mark>通知</mark></h2>', body.html)
        self.assertNotIn("<script>", body.html)

    def test_ids_in_the_html_are_replaced_and_ids_never_leave_the_prefix(self) -> None:
        html = '<h2 id="main">一</h2><h2 class="x" id=\'search-q\'>二</h2><h3>"三"</h3>'
        body = outline(html)
        self.assertNotIn('id="main"', body.html)
        self.assertNotIn("search-q", body.html)
        self.assertTrue(all(e.anchor.startswith("toc-") for e in body.entries))
        self.assertEqual(attributes(body.html, "h2", class_="x")[0]["id"], "toc-二")
        self.assertEqual(body.entries[2].anchor, "toc-三")

    def test_headings_without_text_are_not_entries(self) -> None:
        body = outline("<h2> </h2><h2>一</h2><h3><img src=x></h3><h2>二</h2><h2>三</h2>")
        self.assertEqual([e.text for e in body.entries], ["一", "二", "三"])
        self.assertEqual(outline("<h2> </h2><h2>一</h2><h2>二</h2>").entries, [])

    def test_tables_are_wrapped_in_a_scrolling_box(self) -> None:
        html = render_markdown("| 序号 | 姓名 |\n|---|---|\n| 1 | 韩怡 |\n")
        wrapped = outline(html).html
        self.assertEqual(wrapped.count('<div class="table-scroll"><table>'), 1)
        self.assertTrue(wrapped.rstrip().endswith("</table></div>"))
        # An unbalanced table (not what the sanitiser writes) is left as it is.
        self.assertEqual(outline("<table><tr><td>1</td></tr>").html, "<table><tr><td>1</td></tr>")

    def test_a_long_body_is_long(self) -> None:
        self.assertFalse(outline("<p>短</p>").long)
        self.assertTrue(outline("<p>" + "长" * LONG_BODY_CHARS + "</p>").long)

    def test_a_megabyte_body_is_outlined_quickly(self) -> None:
        section = "<h2>第{}节</h2><p>" + "内容" * 800 + "</p>"
        html = "".join(section.format(n) for n in range(500)) + "<h2>" + "未闭合" * 100_000
        self.assertGreater(len(html), 1_000_000)
        started = time.perf_counter()
        body = outline(html)
        self.assertLess(time.perf_counter() - started, 0.5)
        self.assertEqual(len(body.entries), 100)  # MAX_ENTRIES
        self.assertEqual(body.html.count(' id="toc-'), 100)


class NoticeContentsTests(TestCase):
    def test_the_notice_page_links_each_entry_to_its_heading(self) -> None:
        notice = add_notice("toc-notice", "关于报名的通知", when(2023, 3, 1), body=THREE_SECTIONS)
        response = self.client.get(notice.get_absolute_url())
        page = parse_html(response.content.decode())
        links = [a["href"] for a in attributes(page, "a") if a.get("href", "").startswith("#toc-")]
        self.assertEqual(links, ["#toc-一报名时间", "#toc-二报名方式", "#toc-一线上"])
        ids = {attrs.get("id") for attrs in attributes(page)}
        self.assertTrue({link[1:] for link in links} <= ids)
        self.assertContains(
            response, '<h2 id="contents-title" class="toc-title">目录</h2>', html=True
        )
        self.assertNotContains(response, 'class="back-to-top"')

    def test_a_highlighted_notice_keeps_its_contents(self) -> None:
        notice = add_notice("toc-marked", "关于报名的通知", when(2023, 3, 1), body=THREE_SECTIONS)
        response = self.client.get(notice.get_absolute_url(), {"highlight": "报名"})
        self.assertContains(
            response, '<h2 id="toc-一报名时间">一、<mark>报名</mark>时间</h2>', html=True
        )

    def test_a_long_notice_has_a_back_to_top_link(self) -> None:
        notice = add_notice("long", "长通知", when(2023, 3, 1), body="内容很长。" * 1000)
        response = self.client.get(notice.get_absolute_url())
        self.assertContains(response, '<a href="#top">回到顶部</a>', html=True)
        self.assertNotContains(response, 'class="toc"')
