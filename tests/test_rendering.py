from __future__ import annotations

from html.parser import HTMLParser
from unittest import TestCase

from notices.rendering import excerpt, render_markdown, render_notice_body, strip_source_line


class ElementCollector(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.elements.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = ElementCollector()
    collector.feed(html)
    return collector.elements


class SanitisingTests(TestCase):
    payloads = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">点我</a>',
        "[点我](javascript:alert(1))",
        "![x](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)",
        '<iframe src="https://evil.example/"></iframe>',
        "<style>body{display:none}</style>",
        '<div style="background:url(javascript:alert(1))">x</div>',
        "<svg><script>alert(1)</script></svg>",
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<form action="https://evil.example"><input name=a></form>',
        '<object data="x.swf"></object><embed src="x.swf">',
        '<p onclick="alert(1)">段落</p>',
    ]

    def test_no_script_survives(self) -> None:
        for payload in self.payloads:
            with self.subTest(payload=payload):
                html = render_markdown(payload)
                for tag, attrs in elements(html):
                    self.assertNotIn(
                        tag,
                        {"script", "style", "iframe", "svg", "form", "input", "object", "embed"},
                    )
                    for name, value in attrs.items():
                        self.assertFalse(name.startswith("on"), html)
                        self.assertNotEqual(name, "style", html)
                        if name in {"href", "src"}:
                            self.assertRegex(value or "", r"^(https?:|mailto:|[^:]*$)", html)

    def test_tables_lists_images_and_links_survive(self) -> None:
        markdown = (
            "| 日期 | 事项 |\n|---|---|\n| 1月 | 考试 |\n\n- 一\n- 二\n\n1. 甲\n2. 乙\n\n"
            "![校门](https://example.edu.cn/a.jpg)\n\n[通知](https://example.edu.cn/n)\n"
        )
        tags = [tag for tag, _ in elements(render_markdown(markdown))]
        for expected in ["table", "th", "td", "ul", "ol", "li", "img", "a"]:
            self.assertIn(expected, tags)

    def test_links_get_safe_rel_and_images_no_referrer(self) -> None:
        html = render_markdown("[a](https://example.org) ![b](https://example.org/b.png)")
        found = dict(elements(html))
        self.assertEqual(found["a"]["rel"], "noopener noreferrer nofollow")
        self.assertEqual(found["img"]["referrerpolicy"], "no-referrer")


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
