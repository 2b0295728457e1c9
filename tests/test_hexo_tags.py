"""Hexo's tag plugins and the common Jekyll/Liquid tags in the reading view (issue 9).

The fixtures are our own writing (a fictional university); no archive text is copied.
"""

from __future__ import annotations

import time

import pytest
from django.test import SimpleTestCase, override_settings
from django.urls import reverse

from notices.hexo_tags import (
    EMBED_SANDBOX,
    code_spans,
    parse_arguments,
    post_url,
    readable_address,
)
from notices.rendering import render_body, render_markdown, render_notice_body
from tests import helpers


def visible_text(html: str) -> str:
    """Text outside <code>/<pre>, as a reader sees it outside code."""
    return helpers.visible_text(helpers.parse_fragment(html), helpers.INVISIBLE | {"code", "pre"})


def render(markdown: str, **options) -> str:
    return render_body(markdown, embed_hosts=options.pop("embed_hosts", ()), **options).html


class TagSyntaxTests(SimpleTestCase):
    def test_arguments_are_split_on_spaces_keeping_quoted_strings(self) -> None:
        self.assertEqual(
            parse_arguments('slug "春季 开放日" \'a b\' "say \\"hi\\"" plain'),
            ["slug", "春季 开放日", "a b", 'say "hi"', "plain"],
        )

    def test_whitespace_control_dashes_are_accepted(self) -> None:
        html = render("前 {%- post_link open-day -%} 后")
        self.assertIn(f'href="{post_url("open-day")}"', html)

    def test_a_stray_percent_brace_that_is_not_a_tag_is_left_alone(self) -> None:
        for text in ["成绩提高了 10{%} 左右", "{% 这不是标签 %}", "只有开头 {% post_link"]:
            with self.subTest(text):
                self.assertIn(text, visible_text(render(text)))

    def test_an_unknown_tag_shows_nothing_and_an_unknown_block_its_content(self) -> None:
        html = render(
            "甲 {% weather sunny %} 乙\n\n{% note info %}\n**提醒**：带学生证\n{% endnote %}"
        )
        self.assertNotIn("{%", html)
        self.assertNotIn("weather", html)
        self.assertIn("<strong>提醒</strong>：带学生证", html)

    def test_a_stray_end_tag_shows_nothing(self) -> None:
        self.assertEqual(visible_text(render("文字 {% endnote %}")).strip(), "文字")

    def test_liquid_comments_and_captures_are_dropped_with_their_content(self) -> None:
        html = render(
            "前\n{% comment %}草稿：不要发布{% endcomment %}\n{% capture x %}变量{% endcapture %}后"
        )
        self.assertNotIn("草稿", html)
        self.assertNotIn("变量", html)


class CodeStaysLiteralTests(SimpleTestCase):
    def test_tags_in_fenced_code_blocks_are_shown_as_written(self) -> None:
        for fence in ["```", "~~~", "````"]:
            with self.subTest(fence):
                html = render(
                    f"用法：\n\n{fence}markdown\n{{% post_link slug [title] %}}\n{fence}\n"
                )
                self.assertIn("<code>{% post_link slug [title] %}\n</code>", html)

    def test_tags_in_a_fence_inside_a_list_item_are_shown_as_written(self) -> None:
        html = render("- 步骤一\n\n  ```\n  {% raw %}{{ name }}{% endraw %}\n  ```\n")
        self.assertIn("{% raw %}{{ name }}{% endraw %}", html)

    def test_tags_in_inline_code_are_shown_as_written(self) -> None:
        html = render("写 `{% post_path slug %}` 或 ``{% raw %}`x`{% endraw %}`` 即可")
        self.assertIn("<code>{% post_path slug %}</code>", html)
        self.assertIn("<code>{% raw %}`x`{% endraw %}</code>", html)

    def test_an_unpaired_backtick_does_not_protect_what_follows(self) -> None:
        html = render("单个 ` 反引号，然后 {% post_link open-day %}")
        self.assertIn(f'href="{post_url("open-day")}"', html)

    def test_a_code_span_does_not_reach_over_a_blank_line(self) -> None:
        html = render("一个 ` 在这里\n\n{% post_link open-day %} 和 ` 在那里")
        self.assertIn(f'href="{post_url("open-day")}"', html)

    def test_an_unclosed_fence_protects_the_rest_as_cmark_renders_it_as_code(self) -> None:
        html = render("```\n{% post_link a %}\n")
        self.assertIn("<code>{% post_link a %}\n</code>", html)

    def test_code_spans_are_found_in_one_pass(self) -> None:
        text = "a `x` b\n```\nc\n```\nd ``y`` e"
        self.assertEqual(
            [text[start:end] for start, end in code_spans(text)],
            ["`x`", "```\nc\n```", "``y``"],
        )


class PostLinkTests(SimpleTestCase):
    def test_post_urls_point_at_the_post_resolver(self) -> None:
        self.assertEqual(post_url("open-day"), reverse("notices:post", args=["open-day"]))
        self.assertEqual(post_url("2019/open-day"), "/posts/2019/open-day/")
        self.assertEqual(post_url("开放 日"), "/posts/%E5%BC%80%E6%94%BE%20%E6%97%A5/")

    def test_post_link_shows_the_name_without_a_resolver(self) -> None:
        html = render("详见 {% post_link 2019-04-01-open-day %}。")
        self.assertIn('<a href="/posts/2019-04-01-open-day/"', html)
        self.assertIn(">2019-04-01-open-day</a>。", html)

    def test_post_link_shows_the_given_title(self) -> None:
        html = render('{% post_link open-day "青岚大学 春季开放日" %}')
        self.assertIn(">青岚大学 春季开放日</a>", html)
        html = render("{% post_link open-day 青岚大学 春季开放日 false %}")
        self.assertIn(">青岚大学 春季开放日</a>", html)

    def test_post_link_shows_the_resolved_title(self) -> None:
        titles = {"open-day": "春季开放日通知"}
        html = render(
            "见 {% post_link open-day %} 与 {% post_link gone %}", resolve_post=titles.get
        )
        self.assertIn('<a href="/posts/open-day/" title="春季开放日通知"', html)
        self.assertIn(">春季开放日通知</a>", html)
        self.assertIn(">gone</a>", html)

    def test_post_link_escapes_titles(self) -> None:
        html = render(
            '{% post_link a "<b>粗</b>" %}', resolve_post=lambda name: '"><script>x</script>'
        )
        self.assertIn("&lt;b&gt;粗&lt;/b&gt;", html)
        self.assertNotIn("<script", html)

    def test_post_path_inside_a_markdown_link_is_its_address(self) -> None:
        html = render("在[这篇通知]({% post_path 2019-04-01-open-day %})中")
        self.assertIn('<a href="/posts/2019-04-01-open-day/"', html)
        self.assertIn(">这篇通知</a>中", html)

    def test_post_link_inside_a_markdown_link_is_its_address(self) -> None:
        html = render("按照[《开放日安排》]({% post_link open-day %})执行")
        self.assertIn(
            '<a href="/posts/open-day/" rel="noopener noreferrer nofollow">《开放日安排》</a>', html
        )

    def test_post_path_alone_shows_the_address_as_text(self) -> None:
        self.assertEqual(
            visible_text(render("{% post_path open-day %}")).strip(), "/posts/open-day/"
        )

    def test_a_post_link_at_the_start_of_a_paragraph_stays_in_it(self) -> None:
        html = render("上文\n\n{% post_link open-day %} 里有说明。")
        self.assertIn('<p><a href="/posts/open-day/"', html)
        self.assertIn("</a> 里有说明。</p>", html)

    def test_jekyll_post_url_and_link_point_at_the_post(self) -> None:
        self.assertIn('href="/posts/2019-04-01-open-day/"',
                      render("[开放日]({% post_url 2019-04-01-open-day %})"))  # fmt: skip
        self.assertIn('href="/posts/2019-04-01-open-day/"',
                      render("[开放日]({% link _posts/2019-04-01-open-day.md %})"))  # fmt: skip


class RawTests(SimpleTestCase):
    def test_raw_content_is_rendered_as_markdown_with_its_tags_literal(self) -> None:
        html = render("{% raw %}\n**模板** 写作 {{ name }} 与 {% if x %}\n{% endraw %}")
        self.assertIn("<strong>模板</strong> 写作 {{ name }} 与 {% if x %}", html)

    def test_a_script_inside_raw_still_vanishes(self) -> None:
        html = render("{% raw %}\n<script>\nalert(1)\n</script>\n{% endraw %}\n\n报名已截止")
        self.assertNotIn("alert", html)
        self.assertIn("<p>报名已截止</p>", html)


class BlockTagTests(SimpleTestCase):
    def test_codeblock_becomes_a_code_block_with_its_language_and_caption(self) -> None:
        html = render(
            "{% codeblock 选课脚本 lang:python https://code.qinglan.edu.cn/a.py 源文件 %}\n"
            "if a < b:\n    print('{% not a tag %}')\n{% endcodeblock %}"
        )
        self.assertIn('<code class="language-python">if a &lt; b:\n    print(', html)
        self.assertIn("{% not a tag %}", html)
        self.assertIn("<figcaption><span>选课脚本</span> <a href=", html)
        self.assertIn(">源文件</a></figcaption>", html)

    def test_codeblock_inside_a_list_item_keeps_the_list(self) -> None:
        html = render(
            "1. 安装\n\n   {% codeblock %}\n   pip install x\n   {% endcodeblock %}\n2. 运行"
        )
        self.assertIn("<pre><code>pip install x\n</code></pre>", html)
        self.assertEqual(html.count("<ol>"), 1)
        self.assertIn("<p>运行</p>", html)

    def test_jekyll_highlight_becomes_a_code_block(self) -> None:
        html = render("{% highlight ruby linenos %}\nputs 'hi'\n{% endhighlight %}")
        self.assertIn("<pre><code class=\"language-ruby\">puts 'hi'\n</code></pre>", html)

    def test_blockquote_renders_markdown_and_its_citation(self) -> None:
        html = render(
            "{% blockquote 林校长, 校史 https://history.qinglan.edu.cn/1920/ 建校记 %}\n"
            "百年**树人**。\n{% endblockquote %}"
        )
        self.assertIn("<blockquote><p>百年<strong>树人</strong>。</p>", html)
        self.assertIn("<footer><strong>林校长, 校史</strong> <cite><a href=", html)
        self.assertIn(">建校记</a></cite></footer></blockquote>", html)

    def test_blockquote_with_author_and_title_only(self) -> None:
        html = render("{% blockquote 林校长, 开学致辞 %}\n欢迎新同学\n{% endblockquote %}")
        self.assertIn("<footer><strong>林校长</strong> <cite>开学致辞</cite></footer>", html)

    def test_pullquote(self) -> None:
        html = render("{% pullquote left %}\n重点内容\n{% endpullquote %}")
        self.assertIn('<blockquote class="pullquote"><p>重点内容</p>', html)

    def test_details_becomes_a_disclosure_with_markdown_inside(self) -> None:
        html = render(
            "导语\n{% details 讲座大纲（点击展开） %}\n* 第一讲\n    * 概述\n{% enddetails %}\n后记"
        )
        self.assertIn("<details><summary>讲座大纲（点击展开）</summary><ul>", html)
        self.assertIn("<li>概述</li>", html)
        self.assertIn("<p>后记</p>", html)
        self.assertIn("<p>导语</p>", html)

    def test_block_tags_nest(self) -> None:
        html = render(
            "{% details 外层 %}\n{% blockquote %}\n见 {% post_link open-day %}\n"
            "{% endblockquote %}\n{% enddetails %}"
        )
        self.assertIn("<details><summary>外层</summary><blockquote><p>见 <a href=", html)

    def test_a_block_tag_inside_a_quote_keeps_the_quote(self) -> None:
        html = render("> 通知：\n> {% details 详情 %}\n> 第一条\n> {% enddetails %}\n> 完")
        self.assertEqual(html.count("<blockquote>"), 1)
        self.assertIn("<details><summary>详情</summary><p>第一条</p>", html)

    def test_a_block_tag_without_its_end_shows_nothing_of_itself(self) -> None:
        html = render("{% blockquote 某人 %}\n没有结尾")
        self.assertNotIn("{%", html)
        self.assertIn("没有结尾", html)


class InlineTagTests(SimpleTestCase):
    def test_link(self) -> None:
        html = render("{% link 青岚大学 主页 https://www.qinglan.edu.cn true 学校主页 %}")
        self.assertIn('<a href="https://www.qinglan.edu.cn" title="学校主页"', html)
        self.assertIn(">青岚大学 主页</a>", html)

    def test_img_with_class_size_and_title(self) -> None:
        html = render("{% img right /images/gate.jpg 320 200 青岚大学校门 %}")
        self.assertIn('src="/images/gate.jpg" alt="青岚大学校门" title="青岚大学校门"', html)
        self.assertIn('width="320" height="200"', html)

    def test_asset_tags_name_the_file(self) -> None:
        html = render(
            "{% asset_img gate.jpg 校门 %} {% asset_link 日程.pdf 下载日程 %} "
            "![图]({% asset_path map.png %})"
        )
        self.assertIn('src="gate.jpg" alt="校门"', html)
        self.assertIn('<a href="日程.pdf"', html)
        self.assertIn(">下载日程</a>", html)
        self.assertIn('src="map.png" alt="图"', html)

    def test_font_awesome_icons_are_dropped_before_their_label(self) -> None:
        html = render(
            "- {% fa_svg fas.fa-calendar %} 时间：周六\n- {% fa_svg fas.fa-map %} 地点：礼堂"
        )
        self.assertIn("<li>时间：周六</li>", html)
        self.assertIn("<li>地点：礼堂</li>", html)

    def test_include_code_links_the_file(self) -> None:
        html = render("{% include_code 排课示例 lang:python timetable.py %}")
        self.assertIn('<a href="/downloads/code/timetable.py"', html)
        self.assertIn(">排课示例</a>", html)


class EmbedTagTests(SimpleTestCase):
    def test_embeds_become_link_blocks_naming_host_and_address(self) -> None:
        cases = {
            "{% youtube AbCdEfGhIjK %}": "https://www.youtube.com/watch?v=AbCdEfGhIjK",
            "{% vimeo 76979871 %}": "https://vimeo.com/76979871",
            "{% gist 0a1b2c3d4e %}": "https://gist.github.com/0a1b2c3d4e",
            "{% iframe https://maps.qinglan.edu.cn/embed?b=3 600 400 %}": (
                "https://maps.qinglan.edu.cn/embed?b=3"
            ),
        }
        for tag, address in cases.items():
            with self.subTest(tag):
                html = render(f"校园导览\n\n{tag}\n\n结束")
                host = address.split("/")[2]
                self.assertIn('<p class="embed">', html)
                self.assertIn(host, visible_text(html))
                self.assertIn(f'<a href="{address.replace("&", "&amp;")}"', html)
                self.assertNotIn("<iframe", html)
                self.assertNotIn("<script", html)

    def test_an_embed_inside_a_line_is_an_inline_link_block(self) -> None:
        html = render("录像 {% vimeo 76979871 %} 已上传")
        self.assertIn('<p>录像 <span class="embed">', html)

    def test_an_allowed_host_is_embedded_in_a_sandboxed_frame(self) -> None:
        html = render("{% youtube AbCdEfGhIjK %}", embed_hosts={"www.youtube.com"})
        self.assertIn('<iframe src="https://www.youtube.com/embed/AbCdEfGhIjK"', html)
        self.assertIn(f'sandbox="{EMBED_SANDBOX}"', html)
        self.assertIn('referrerpolicy="strict-origin-when-cross-origin"', html)
        # Other hosts stay link blocks.
        self.assertNotIn("<iframe", render("{% vimeo 1 %}", embed_hosts={"www.youtube.com"}))

    def test_only_https_frames_are_embedded(self) -> None:
        html = render(
            "{% iframe http://maps.qinglan.edu.cn/x %}", embed_hosts={"maps.qinglan.edu.cn"}
        )
        self.assertNotIn("<iframe", html)
        self.assertIn('class="embed"', html)

    @override_settings(NOTICES_EMBED_HOSTS=["player.vimeo.com"])
    def test_the_setting_chooses_the_hosts(self) -> None:
        self.assertIn(
            '<iframe src="https://player.vimeo.com/video/76979871"',
            render_notice_body("{% vimeo 76979871 %}", ""),
        )


class CostTests(SimpleTestCase):
    """Linear time on hostile bodies (each of these took seconds to minutes with the first
    regexes tried). A guard against backtracking, not a speed test: the bounds are many times
    the time taken, and counted in this process's CPU seconds, which other work on a busy
    machine does not add to."""

    def assert_fast(self, body: str, seconds: float) -> str:
        start = time.process_time()
        html = render(body)
        self.assertLess(time.process_time() - start, seconds, body[:40])
        return html

    @pytest.mark.slow
    def test_tag_noise(self) -> None:
        for unit in ["{%", "{% x ", "%}", "{% post_link a ", "` `` ", "{% raw %}"]:
            with self.subTest(unit):
                self.assert_fast(unit * 100_000, 5)

    def test_deeply_nested_block_tags(self) -> None:
        depth = 20_000
        html = self.assert_fast(
            "{% details a %}\n" * depth + "x\n" + "{% enddetails %}\n" * depth, 5
        )
        self.assertNotIn("{%", html)

    def test_a_tag_reading_to_the_end_of_the_body(self) -> None:
        self.assert_fast('<iframe "' * 50_000, 5)
        self.assert_fast('<div "' * 50_000, 5)


class ReadableAddressTests(SimpleTestCase):
    def test_utf8_escapes_are_shown_as_text_and_linked_as_written(self) -> None:
        html = render_markdown(
            '<iframe src="https://maps.example.org/?q=%E9%9D%92%E5%B2%9A"></iframe>'
        )
        self.assertIn('href="https://maps.example.org/?q=%E9%9D%92%E5%B2%9A"', html)
        self.assertIn(">https://maps.example.org/?q=青岚</a>", html)

    def test_escapes_that_would_hide_or_fake_characters_stay_escaped(self) -> None:
        for url in (
            "https://a.example/%E2%80%AEfdp.exe",
            "https://a.example/%20x",
            "https://a.example/%FF",
        ):
            self.assertEqual(readable_address(url), url)
