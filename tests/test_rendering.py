from __future__ import annotations

import importlib
from types import SimpleNamespace
from unittest import TestCase

from django.test import TestCase as DjangoTestCase

from notices.models import Notice
from notices.rendering import (
    SUMMARY_LENGTH,
    excerpt,
    plain_text,
    render_body,
    render_markdown,
    render_notice_body,
    strip_source_line,
    summarize,
)
from tests.helpers import elements, parse_fragment, tag_name


def tags(html: str) -> list[str]:
    return [tag_name(element) for element in elements(parse_fragment(html))]


class AllowedMarkupTests(TestCase):
    """What the sanitiser keeps; what it removes is tests/test_never_executed.py's subject."""

    def test_tables_lists_images_and_links_survive(self) -> None:
        markdown = (
            "| 日期 | 事项 |\n|---|---|\n| 1月 | 考试 |\n\n- 一\n- 二\n\n1. 甲\n2. 乙\n\n"
            "![校门](https://example.edu.cn/a.jpg)\n\n[通知](https://example.edu.cn/n)\n"
        )
        found = tags(render_markdown(markdown))
        for expected in ["table", "th", "td", "ul", "ol", "li", "img", "a"]:
            self.assertIn(expected, found)

    def test_links_get_safe_rel_and_images_no_referrer(self) -> None:
        html = render_markdown("[a](https://example.org) ![b](https://example.org/b.png)")
        [link], [image] = elements(parse_fragment(html), "a"), elements(parse_fragment(html), "img")
        self.assertEqual(link.get("rel"), "noopener noreferrer nofollow")
        self.assertEqual(image.get("referrerpolicy"), "no-referrer")


class SourceLineTests(TestCase):
    body = "正文。\n\n[转入文章首发地址](https://example.edu.cn/n/1)\n"

    def test_the_source_line_is_not_shown_twice(self) -> None:
        self.assertEqual(strip_source_line(self.body), "正文。\n")
        self.assertNotIn(
            "转入文章首发地址", render_notice_body(self.body, "https://example.edu.cn/n/1")
        )

    def test_a_body_without_a_source_url_keeps_its_last_line(self) -> None:
        body = "正文。\n\n[转入文章首发地址](javascript:alert(1))\n"
        html = render_notice_body(body, "")
        self.assertIn("转入文章首发地址", html)
        self.assertNotIn("javascript", html)

    def test_excerpt_is_plain_text(self) -> None:
        html = render_markdown("# 标题\n\n第一段 **加粗** &amp; <b>x</b>\n\n第二段")
        self.assertEqual(excerpt(html, 100), "标题 第一段 加粗 & x 第二段")
        self.assertTrue(excerpt(html, 5).endswith("…"))


class UnsafeRawHtmlTests(TestCase):
    """Raw HTML that cannot be allowed vanishes instead of showing as escaped text (issue 9)."""

    def test_scripts_and_styles_vanish_with_their_content(self) -> None:
        html = render_markdown(
            '报名须知\n\n<script type="text/javascript">\n$(function () { go(); });\n</script>\n\n'
            "<style>\n.notice { color: red; }\n\n.notice:after { content: '通知'; }\n</STYLE>\n\n"
            "请准时到场。<script>inline()</script>"
        )
        self.assertEqual(plain_text(html), "报名须知 请准时到场。")
        self.assertNotIn("<script", html)
        self.assertNotIn("<style", html)

    def test_their_content_is_not_in_the_excerpt(self) -> None:
        html = render_markdown("<style>\n.spoiler { filter: blur(4px); }\n</style>\n\n正文第一段")
        self.assertEqual(excerpt(html), "正文第一段")

    def test_a_tag_name_written_in_prose_stays_text(self) -> None:
        html = render_markdown("在页面里加一个 <style> 标签即可。")
        self.assertIn("在页面里加一个 &lt;style&gt; 标签即可。", html)

    def test_script_in_code_is_shown_as_code(self) -> None:
        html = render_markdown('```html\n<script src="app.js"></script>\n```\n\n`<style>`')
        self.assertIn('&lt;script src="app.js"&gt;&lt;/script&gt;', html)
        self.assertIn("<code>&lt;style&gt;</code>", html)

    def test_embedded_elements_become_link_blocks(self) -> None:
        cases = {
            '<iframe width="600" src="https://maps.qinglan.edu.cn/embed?b=3&amp;z=17"></iframe>':
                ("maps.qinglan.edu.cn", "https://maps.qinglan.edu.cn/embed?b=3&amp;z=17"),
            '<video controls src="https://media.qinglan.edu.cn/open-day.mp4">看不了</video>':
                ("media.qinglan.edu.cn", "https://media.qinglan.edu.cn/open-day.mp4"),
            '<audio controls>\n<source src="http://media.qinglan.edu.cn/anthem.mp3"></audio>':
                ("media.qinglan.edu.cn", "http://media.qinglan.edu.cn/anthem.mp3"),
            '<embed src="https://media.qinglan.edu.cn/tour.swf">':
                ("media.qinglan.edu.cn", "https://media.qinglan.edu.cn/tour.swf"),
            '<object data="https://media.qinglan.edu.cn/plan.pdf"><param name="a"></object>':
                ("media.qinglan.edu.cn", "https://media.qinglan.edu.cn/plan.pdf"),
        }  # fmt: skip
        for raw, (host, address) in cases.items():
            with self.subTest(raw):
                html = render_markdown(f"校园导览\n\n{raw}\n\n结束")
                self.assertIn('<p class="embed">', html)
                self.assertIn(f'<a href="{address}"', html)
                self.assertIn(host, plain_text(html))
                self.assertNotIn("看不了", html)
                for tag in tags(html):
                    self.assertNotIn(tag, {"iframe", "video", "audio", "embed", "object"})

    def test_an_embed_spread_over_lines_inside_a_paragraph(self) -> None:
        html = render_markdown(
            '【录像】开幕式 <iframe\n    width="800"\n    src="https://video.qinglan.edu.cn/p?vid=7"\n'
            "    allowfullscreen>\n</iframe>\n"
        )
        self.assertIn("<p>【录像】开幕式 <span", html)
        self.assertIn('<span class="embed">', html)
        self.assertIn('<a href="https://video.qinglan.edu.cn/p?vid=7"', html)

    def test_an_embed_with_a_script_address_names_only_its_kind(self) -> None:
        html = render_markdown('<iframe src="javascript:alert(1)"></iframe>')
        self.assertNotIn("javascript", html)
        self.assertIn("iframe", plain_text(html))

    def test_an_allowed_host_gets_a_sandboxed_frame(self) -> None:
        html = render_body(
            '<iframe src="https://maps.qinglan.edu.cn/embed?b=3" onload="x()" sandbox="allow-top'
            '-navigation" width="600" height="400"></iframe>'
            '<iframe src="https://elsewhere.example/"></iframe>',
            embed_hosts={"maps.qinglan.edu.cn"},
        ).html
        frames = [frame.attrib for frame in elements(parse_fragment(html), "iframe")]
        self.assertEqual(len(frames), 1)
        self.assertEqual(frames[0]["src"], "https://maps.qinglan.edu.cn/embed?b=3")
        self.assertEqual(frames[0]["sandbox"], "allow-scripts allow-same-origin allow-popups")
        self.assertEqual((frames[0]["width"], frames[0]["height"]), ("600", "400"))
        self.assertNotIn("onload", frames[0])
        self.assertIn("elsewhere.example", plain_text(html))

    def test_by_default_no_host_gets_a_frame(self) -> None:
        # The pages' policy says the same: frame-src 'none' (tests/test_never_executed.py).
        html = render_notice_body('<iframe src="https://maps.qinglan.edu.cn/embed"></iframe>', "")
        self.assertEqual(elements(parse_fragment(html), "iframe"), [])
        self.assertIn('<a href="https://maps.qinglan.edu.cn/embed"', html)

    def test_what_gfm_tagfilter_escaped_is_still_escaped(self) -> None:
        for tag in ["title", "textarea", "xmp", "noembed", "noframes", "plaintext"]:
            with self.subTest(tag):
                html = render_markdown(f"前 <{tag}>内容</{tag}> 后\n\n下一段")
                self.assertIn(f"&lt;{tag}&gt;内容", html)
                self.assertIn("<p>下一段</p>", html)

    def test_a_tag_that_never_closes_is_text_and_costs_little(self) -> None:
        html = render_markdown('<div title="a' + ' <div "x' * 5000)
        self.assertIn("&lt;div", html)
        self.assertNotIn("<div", html)


class UnsupportedSchemeTests(TestCase):
    def test_links_with_dropped_schemes_keep_their_address_as_text(self) -> None:
        html = render_markdown(
            "[校内镜像](ftp://mirror.qinglan.edu.cn/pub/) 或 <apt:python3> 或"
            ' <a href="magnet:?xt=urn:btih:abc">种子</a>'
        )
        text = plain_text(html)
        self.assertIn("校内镜像 (ftp://mirror.qinglan.edu.cn/pub/)", text)
        self.assertIn("或 apt:python3 或", text)
        self.assertIn("种子 (magnet:?xt=urn:btih:abc)", text)
        self.assertNotIn("href", html)

    def test_script_addresses_are_never_shown(self) -> None:
        html = render_markdown("[点我](javascript:alert(1)) [数据](data:text/html,x)")
        self.assertNotIn("javascript", html)
        self.assertNotIn("data:", html)
        self.assertEqual(plain_text(html), "点我 数据")

    def test_http_links_are_unchanged(self) -> None:
        html = render_markdown(
            "[主页](https://www.qinglan.edu.cn/) [信箱](mailto:office@qinglan.edu.cn)"
        )
        self.assertIn('<a href="https://www.qinglan.edu.cn/"', html)
        self.assertIn('<a href="mailto:office@qinglan.edu.cn"', html)


class SummaryTests(TestCase):
    def test_the_more_marker_ends_the_list_excerpt(self) -> None:
        for marker in ["<!-- more -->", "<!--more-->", "<!-- More -->"]:
            with self.subTest(marker):
                rendered = render_body(f"本学期开放日安排如下。\n\n{marker}\n\n详细日程见附件。")
                self.assertEqual(summarize(rendered, {}), "本学期开放日安排如下。")
                self.assertIn("详细日程见附件", rendered.html)
                self.assertNotIn("more", rendered.html)

    def test_the_excerpt_before_the_marker_is_still_capped(self) -> None:
        rendered = render_body("长" * 300 + "\n\n<!-- more -->\n\n后")
        summary = summarize(rendered, {})
        self.assertEqual(len(summary), SUMMARY_LENGTH)
        self.assertTrue(summary.endswith("…"))

    def test_a_more_marker_in_code_is_not_a_marker(self) -> None:
        rendered = render_body("开头\n\n```\n<!-- more -->\n```\n\n结尾")
        self.assertIsNone(rendered.lead_html)
        self.assertIn("&lt;!-- more --&gt;", rendered.html)

    def test_front_matter_excerpt_or_description_wins(self) -> None:
        rendered = render_body("正文开头。\n\n<!-- more -->\n\n正文后半。")
        self.assertEqual(summarize(rendered, {"excerpt": " 摘要\n 一句 "}), "摘要 一句")
        self.assertEqual(summarize(rendered, {"description": "说明"}), "说明")
        self.assertEqual(summarize(rendered, {"excerpt": "摘要", "description": "说明"}), "摘要")
        self.assertEqual(summarize(rendered, {"description": 2021}), "2021")
        self.assertEqual(summarize(rendered, {"description": ["列表"]}), "正文开头。")
        self.assertEqual(summarize(rendered, {"description": ""}), "正文开头。")
        self.assertEqual(len(summarize(rendered, {"description": "说" * 500})), SUMMARY_LENGTH)

    def test_notice_render_uses_front_matter_and_the_marker(self) -> None:
        notice = Notice(body="导语。\n\n<!-- more -->\n\n正文。", source_url="", extra={})
        notice.render()
        self.assertEqual(notice.summary, "导语。")
        self.assertIn("正文。", notice.body_html)
        notice.extra = {"description": "青岚大学开放日的安排"}
        notice.render()
        self.assertEqual(notice.summary, "青岚大学开放日的安排")

    def test_notice_render_passes_the_post_resolver(self) -> None:
        notice = Notice(body="见 {% post_link open-day %}", source_url="", extra={})
        notice.render(resolve_post={"open-day": "开放日通知"}.get)
        self.assertIn(">开放日通知</a>", notice.body_html)


class OpeningLineTests(TestCase):
    """Summaries start at the first real line: a list shows two lines of them (issue 12)."""

    def summary(self, body: str, extra: dict | None = None) -> str:
        return summarize(render_body(body), extra or {})

    def test_addresses_greetings_and_bare_words_are_skipped(self) -> None:
        cases = {
            "各学院、各部门：\n为做好寒假工作，现将有关事项通知如下：\n一、放假时间": (
                "为做好寒假工作，现将有关事项通知如下： 一、放假时间"
            ),
            "全校师生：\n\n根据上级要求，图书馆闭馆一天。": "根据上级要求，图书馆闭馆一天。",
            "各区县教育局，市直各学校：\n考试报名即将开始。": "考试报名即将开始。",
            "尊敬的用户：<br>系统将于今晚维护。": "系统将于今晚维护。",
            "通知\n\n各位老师、同学们：\n\n大家好！\n\n明天停电。": "明天停电。",
            "亲爱的同学们，\n\n开学典礼改在礼堂。": "开学典礼改在礼堂。",
            "Dear all,\n\nThe lab is closed on Friday.": "The lab is closed on Friday.",
            "**各学院、各部门：**\n\n请按时报送材料。": "请按时报送材料。",
        }
        for body, expected in cases.items():
            with self.subTest(body):
                self.assertEqual(self.summary(body), expected)

    def test_sentences_and_fields_ending_in_a_colon_are_kept(self) -> None:
        cases = {
            "现将有关事项通知如下：\n一、时间": "现将有关事项通知如下： 一、时间",
            "时间：2023年1月5日\n地点：礼堂": "时间：2023年1月5日 地点：礼堂",
            "根据学校安排，请各学院注意：\n按时报送。": "根据学校安排，请各学院注意： 按时报送。",
            "通知栏目更新了十条消息。": "通知栏目更新了十条消息。",
            "Hi, this is the lab calendar.": "Hi, this is the lab calendar.",
        }
        for body, expected in cases.items():
            with self.subTest(body):
                self.assertEqual(self.summary(body), expected)

    def test_a_body_that_is_only_an_address_keeps_it(self) -> None:
        self.assertEqual(self.summary("各位老师："), "各位老师：")

    def test_the_lead_before_the_marker_skips_its_address_too(self) -> None:
        body = "各学院：\n\n开放日定于周六。\n\n<!-- more -->\n\n详细日程。"
        self.assertEqual(self.summary(body), "开放日定于周六。")

    def test_front_matter_excerpt_is_kept_as_written(self) -> None:
        self.assertEqual(self.summary("正文。", {"excerpt": "各学院：请注意"}), "各学院：请注意")

    def test_only_the_start_of_a_long_body_is_read(self) -> None:
        body = "各学院：\n\n" + "长句子。" * 50_000
        summary = self.summary(body)
        self.assertTrue(summary.startswith("长句子。"))
        self.assertEqual(len(summary), SUMMARY_LENGTH)


class SummaryMigrationTests(DjangoTestCase):
    """Notices imported before issue 12 get the new summary without a re-import."""

    def test_the_migration_rewrites_old_summaries_and_renews_the_cache(self) -> None:
        from django.apps import apps
        from django.db import connection

        from notices.caching import bump_data_version
        from notices.models import DataVersion
        from tests.helpers import make_notice

        migration = importlib.import_module("notices.migrations.0009_summaries_skip_salutations")
        plain = make_notice(body="各学院、各部门：\n\n图书馆周六闭馆。", source_url="")
        lead = make_notice(
            body="各位老师：\n\n开放日定于周六。\n\n<!-- more -->\n\n日程。", source_url=""
        )
        written = make_notice(body="各位：\n\n正文。", extra={"description": "各位：摘要"})
        Notice.objects.filter(pk__in=[plain.pk, lead.pk]).update(summary="各学院、各部门： 旧")
        bump_data_version()
        token = DataVersion.objects.get().token

        migration.summarize_again(apps, SimpleNamespace(connection=connection))

        summaries = dict(Notice.objects.values_list("pk", "summary"))
        self.assertEqual(summaries[plain.pk], "图书馆周六闭馆。")
        self.assertEqual(summaries[lead.pk], "开放日定于周六。")
        self.assertEqual(summaries[written.pk], "各位：摘要")
        self.assertNotEqual(DataVersion.objects.get().token, token)
