"""plain_text() strips tags from sanitised HTML with a pattern instead of a second nh3 pass
(issue 13): it must give the text nh3 itself gives for whole bodies, and for the prefixes
excerpt() cuts at any character the same text up to near the cut (what excerpt() keeps)."""

from __future__ import annotations

from html import unescape

import nh3
from django.test import SimpleTestCase
from hypothesis import given, settings
from hypothesis import strategies as st

from notices.rendering import _BLOCK_END, _EXCERPT_MARGIN, _WHITESPACE, plain_text, render_body

_TEXT_ONLY = nh3.Cleaner(tags=set(), clean_content_tags={"script", "style"})


def nh3_text(html: str) -> str:
    """What plain_text() returned before: nh3 with no tags allowed."""
    return _WHITESPACE.sub(" ", unescape(_TEXT_ONLY.clean(_BLOCK_END.sub(" ", html)))).strip()


PIECES = [
    "通知", "各学院、各部门：", "a > b", "x < y", "&amp;", "&nbsp;", "&notin;", "&copy", "R&D",
    "**粗体**", "*斜*", "`<code>`", "\n\n", "\n", "- 列表\n", "| a | b |\n|---|---|\n| 1 | 2 |\n",
    '<a href="https://example.cn/?a=1&b=2" title="x>y">链接</a>', '<img src="x.png" alt="图>片">',
    "<script>alert(1)</script>", "<style>p{}</style>", "<b>加粗<i>斜</b>体</i>", "<br>",
    "<!-- c -->", "<div title='单引号 > 号'>块</div>", "[文字](http://a.cn/\"q\")", "<p>段</p>",
    "<table><td>格",
    '<abbr title="&quot;引号&quot;">缩</abbr>', "<u>下划线", "<ruby>漢<rt>hàn</rt></ruby>",
]  # fmt: skip


class PlainTextTests(SimpleTestCase):
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.sampled_from(PIECES), max_size=25), st.data())
    def test_it_gives_nh3s_text_for_bodies_and_their_prefixes(self, pieces, data):
        html = render_body("".join(pieces)).html
        self.assertEqual(plain_text(html), nh3_text(html))
        cut = data.draw(st.integers(0, len(html)))
        kept = plain_text(html[:cut])[:-_EXCERPT_MARGIN]
        self.assertTrue(plain_text(html).startswith(kept), html[:cut])

    def test_attribute_values_holding_angle_brackets_stay_out_of_the_text(self):
        html = render_body('<a href="https://a.cn/" title="a>b">链接</a> 后文').html
        self.assertEqual(plain_text(html), "链接 后文")
