"""Script payloads in every field of a document never become script in any page (issue 6).

Pages are parsed the way a browser parses them (html5lib, the WHATWG algorithm) and the
resulting DOM is checked: no script element but the admin's own static files, no event
handler or style attribute, no URL with a scheme but http(s)/mailto (so no javascript:/data:),
no iframe/object/embed/svg/style/base, and no form control inside a notice's body. Feeds and
sitemaps are parsed as XML, and the HTML they carry is checked the same way.
"""

from __future__ import annotations

import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.templatetags.static import static
from django.test import TestCase
from django.urls import reverse
from taggit.models import Tag

from notices.importing import import_archive
from notices.models import Category, Notice
from tests.helpers import elements, parse_html, tag_name, visible_text, write_files

PAYLOAD_DOCUMENT = """---
title: <script>alert("site")</script>-><img src=x onerror=alert("title")> | evil.example.com
date: 2021-03-04 05:06:07
urlname: payload
tags:
- <script>alert("tag")</script>
- '"><svg onload=alert("tag2")>'
categories:
- <script>alert("category")</script>
- <iframe src=javascript:alert("subcategory")>
"<script>alert('key')</script>": "<img src=x onerror=alert('value')>"
source_url: javascript:alert("source")
link: "https://example.org/ok?a=1&b=<script>"
---
![图](https://images.example.org/a.png) ![x](javascript:alert("image"))
![y](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)
<div style="background:url(javascript:alert(1))">样式</div>

正文 <script>alert("body")</script> <img src=x onerror=alert("img")> <b onclick=alert(1)>粗</b>

[点我](javascript:alert("md-link")) <a href="javascript:alert('a')">a</a>
<a href=" JaVaScRiPt:alert('spaced')">b</a> <a href="data:text/html,<script>alert(1)</script>">c</a>
<iframe src="https://evil.example.com/"></iframe> <object data="x.swf"></object> <embed src="x.swf">
<svg><script>alert("svg")</script></svg>
<math><mtext><table><mglyph><style><img src=x onerror=alert("mxss")>
<form action="https://evil.example.com"><button formaction="javascript:alert(1)">go</button>
<input name="password"></form>
<style>body{background:url(javascript:alert(1))}</style>
<meta http-equiv="refresh" content="0;url=javascript:alert(1)">
<base href="https://evil.example.com/">

[转入文章首发地址](https://example.org/source.html)
"""

SECOND_DOCUMENT = """---
title: 正常站点->关于 onerror 与 alert 的说明 | ok.example.org
date: 2021-03-05 08:00:00
urlname: benign
tags:
- 正常
categories:
- ok.example.org
---
这里提到 <script> 和 alert 两个词，用来搜索。
"""

FORBIDDEN_ELEMENTS = {
    "iframe", "frame", "frameset", "object", "embed", "applet", "base", "svg", "math", "style",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "srcset", "xlink:href"}
SAFE_SCHEMES = {"http", "https", "mailto"}  # a URL without a scheme is relative: also safe
BAD_SCHEMES = ("javascript:", "data:", "vbscript:")  # what the feeds' XML is checked for
SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):")
FORM_CONTROLS = {"form", "input", "button", "textarea", "select"}


def script_problems(html: str, *, admin: bool = False) -> list[str]:
    """Everything in the parsed page that could run script; [] when nothing can.

    With `admin`, Django admin's own chrome is allowed: script files from this site (no
    inline code) and its inline SVG icons (still checked for handlers and script inside).
    """
    problems = []
    for element in parse_html(html).iter():
        tag = tag_name(element)
        if tag == "script":
            src, code = element.get("src", ""), (element.text or "").strip()
            own_file = src.startswith(("/static/", "/admin/")) and not code
            # Public pages load one file of the site's own (static/js/site.js, issue 12).
            site_script = src == static("js/site.js") and not code
            if not (admin and own_file) and not site_script:
                problems.append(f"<script src={src!r}>{code[:40]}")
        if tag in FORBIDDEN_ELEMENTS and not (admin and tag == "svg"):
            problems.append(f"<{tag}>")
        if tag == "meta" and element.get("http-equiv", "").lower() == "refresh":
            problems.append("<meta http-equiv=refresh>")
        for name, value in element.attrib.items():
            name = name.rpartition("}")[2].lower()
            if name.startswith("on"):
                problems.append(f"<{tag} {name}=...>")
            if name == "style":
                problems.append(f"<{tag} style=...>")
            # As a browser reads a URL: spaces, tabs and newlines anywhere do not count.
            scheme = SCHEME.match("".join(value.split()).lower())
            if name in URL_ATTRIBUTES and scheme and scheme[1] not in SAFE_SCHEMES:
                problems.append(f"<{tag} {name}={value[:40]!r}>")
    return problems


class CheckerTests(TestCase):
    def test_the_checker_finds_what_a_browser_would_run(self) -> None:
        for html in ['<img src=x onerror="alert(1)">', "<script>alert(1)</script>",
                     '<a href=" java\tscript:alert(1)">x</a>', "<svg><a xlink:href='data:x'>",
                     '<iframe src="https://x"></iframe>', '<p style="x">', "<base href=//x>",
                     "<img src='data:image/png;base64,AAAA'>", "<a href='vbscript:x'>x</a>",
                     "<a href='ftp://x/'>x</a>", "<embed src=x.swf>",
                     '<meta http-equiv="Refresh" content="0;url=x">']:  # fmt: skip
            with self.subTest(html):
                self.assertNotEqual(script_problems(f"<p>{html}</p>"), [])
        self.assertEqual(script_problems('<p><a href="https://x">x</a><img src="/a.png"></p>'), [])
        self.assertEqual(
            script_problems('<a href="mailto:a@x">a</a><a href="?q=javascript:x">'), []
        )


class NeverExecutedTestCase(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        with tempfile.TemporaryDirectory() as folder:
            write_files(folder, {"payload.md": PAYLOAD_DOCUMENT, "benign.md": SECOND_DOCUMENT})
            report = import_archive([Path(folder)])
        assert report.failed == 0, report.errors
        cls.notice = Notice.objects.get(urlname="payload")

    def get_html(self, url: str) -> str:
        response = self.client.get(url)
        self.assertEqual(response.status_code, 200, url)
        self.assertTrue(response["Content-Type"].startswith("text/html"), url)
        self.assertEqual(response["X-Content-Type-Options"], "nosniff")
        return response.content.decode()

    def assert_safe_page(self, url: str, **options) -> str:
        html = self.get_html(url)
        self.assertEqual(script_problems(html, **options), [], url)
        return html


class PublicPagesTests(NeverExecutedTestCase):
    def test_the_document_was_stored_with_its_payloads(self) -> None:
        self.assertEqual(self.notice.site, '<script>alert("site")</script>')
        self.assertEqual(self.notice.source_url, "https://example.org/source.html")
        self.assertIn("<script>alert('key')</script>", self.notice.extra)

    def test_detail_page_shows_payloads_as_text(self) -> None:
        html = self.assert_safe_page(self.notice.get_absolute_url())
        text = visible_text(html)
        self.assertIn('<img src=x onerror=alert("title")>', text)
        self.assertIn('<script>alert("tag")</script>', text)
        self.assertIn('<script>alert("category")</script>', text)
        # The image from an http(s) host still displays; the javascript: one is gone.
        sources = [img.get("src") for img in elements(html, "img")]
        self.assertIn("https://images.example.org/a.png", sources)

    def test_the_body_keeps_no_form_control(self) -> None:
        [body] = elements(self.get_html(self.notice.get_absolute_url()), class_="notice-body")
        self.assertEqual({tag_name(e) for e in body.iter()} & FORM_CONTROLS, set())
        self.assertIn("样式", visible_text(body))  # the styled element's text stays

    def test_list_pages_are_safe(self) -> None:
        self.assert_safe_page(reverse("notices:list"))
        self.assert_safe_page(reverse("notices:categories"))
        self.assert_safe_page(reverse("notices:tags"))
        self.assert_safe_page(reverse("notices:sites"))
        self.assert_safe_page(reverse("notices:archive"))
        self.assert_safe_page(reverse("notices:archive-year", args=[2021]))

    def test_category_tag_and_site_pages_are_safe(self) -> None:
        for category in Category.objects.all():
            self.assert_safe_page(category.get_absolute_url())
        for tag in Tag.objects.all():
            self.assert_safe_page(reverse("notices:tag", args=[tag.slug]))
        self.assert_safe_page(reverse("notices:site", args=[self.notice.site]))

    def test_search_results_and_snippets_are_safe(self) -> None:
        for query in [
            "alert",
            "script",
            "onerror",
            "正文",
            '<script>alert("q")</script>',
            '"><img src=x onerror=alert(1)>',
            "javascript:alert(1)",
        ]:
            with self.subTest(query):
                html = self.assert_safe_page(f"{reverse('notices:search')}?q={quote(query)}")
                if query in {"alert", "正文"}:
                    self.assertIn(self.notice.get_absolute_url(), html)
                if query == "script":  # the body's scripts are gone, from the index too (issue 9)
                    self.assertNotIn(self.notice.get_absolute_url(), html)

    def test_pages_forbid_inline_script(self) -> None:
        response = self.client.get(self.notice.get_absolute_url())
        policy = response["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        self.assertEqual(directives["script-src"], "'self'")
        self.assertEqual(directives["object-src"], "'none'")
        self.assertEqual(directives["base-uri"], "'none'")
        self.assertEqual(directives["frame-src"], "'none'")  # no host's frames, by default
        self.assertNotIn("unsafe-inline", policy)
        self.assertEqual(directives["img-src"], "'self' https: http:")  # remote images display
        self.assertEqual(response["Referrer-Policy"], "same-origin")


class FeedAndSitemapTests(NeverExecutedTestCase):
    def get_xml(self, url: str) -> ET.Element:
        response = self.client.get(url)
        self.assertEqual(response.status_code, 200, url)
        self.assertIn("xml", response["Content-Type"], url)
        return ET.fromstring(response.content)  # well-formed: every payload escaped

    def test_feeds_carry_payloads_only_as_text_and_safe_html(self) -> None:
        category = Category.objects.get(name='<script>alert("category")</script>')
        tag = Tag.objects.get(name='<script>alert("tag")</script>')
        urls = [reverse("notices:feed-rss"), reverse("notices:feed-atom"),
                reverse("notices:category-rss", args=[category.path]),
                reverse("notices:tag-atom", args=[tag.slug]),
                f"{reverse('notices:search-rss')}?q=alert",
                f"{reverse('notices:search-atom')}?q=alert"]  # fmt: skip
        for url in urls:
            with self.subTest(url):
                root = self.get_xml(url)
                titles = [e.text or "" for e in root.iter() if e.tag.rpartition("}")[2] == "title"]
                self.assertTrue(any("onerror" in title for title in titles), titles)
                for element in root.iter():
                    name = element.tag.rpartition("}")[2]
                    if name in {"description", "summary", "content"} and element.text:
                        self.assertEqual(script_problems(element.text), [], url)
                    for attribute in ("href", "src"):
                        value = "".join(element.get(attribute, "").split()).lower()
                        self.assertFalse(value.startswith(BAD_SCHEMES), url)

    def test_the_sitemap_lists_only_http_addresses(self) -> None:
        index = self.get_xml(reverse("notices:sitemap"))
        sections = [e.text for e in index.iter() if e.tag.endswith("loc")]
        self.assertTrue(sections)
        for section in sections:
            path = section.split("testserver", 1)[1]
            for loc in (e.text for e in self.get_xml(path).iter() if e.tag.endswith("loc")):
                self.assertTrue(loc.startswith("http://testserver/"), loc)
                self.assertNotIn("<", loc)


class AdminPagesTests(NeverExecutedTestCase):
    def setUp(self) -> None:
        admin = get_user_model().objects.create_superuser("editor", "e@example.org", "pass-1234x")
        self.client.force_login(admin)

    @pytest.mark.slow
    def test_admin_lists_and_forms_show_payloads_as_text(self) -> None:
        category = Category.objects.get(name='<script>alert("category")</script>')
        tag = Tag.objects.get(name='<script>alert("tag")</script>')
        urls = [
            reverse("admin:notices_notice_changelist"),
            f"{reverse('admin:notices_notice_changelist')}?q=alert",
            reverse("admin:notices_notice_change", args=[self.notice.pk]),
            reverse("admin:notices_category_changelist"),
            reverse("admin:notices_category_change", args=[category.pk]),
            reverse("admin:taggit_tag_changelist"),
            reverse("admin:taggit_tag_change", args=[tag.pk]),
        ]
        for url in urls:
            with self.subTest(url):
                html = self.assert_safe_page(url, admin=True)
                self.assertIn("alert(", visible_text(html))  # shown, as text

    def test_the_change_form_keeps_the_raw_body_in_a_textarea(self) -> None:
        html = self.assert_safe_page(
            reverse("admin:notices_notice_change", args=[self.notice.pk]), admin=True
        )
        [textarea] = elements(html, "textarea", name="body")
        self.assertIn('<script>alert("body")</script>', textarea.text)
